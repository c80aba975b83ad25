//! A minimal HTTP/1.1 client over one keep-alive TCP connection to 127.0.0.1: enough to drive the
//! API for setup and as a load generator, without a client library in the server's dependencies.
//! It writes a request, reads the status line and headers, and then exactly the body
//! (`Content-Length` or chunked), so the connection can be reused for the next request.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// Largest response body accepted: the bench's pages are small; this bounds a broken reply.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One response.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One keep-alive connection.
pub struct Conn {
    stream: BufReader<TcpStream>,
    token: String,
}

impl Conn {
    /// Connects to `addr`, which must be a loopback address.
    pub async fn connect(addr: SocketAddr, token: &str) -> std::io::Result<Conn> {
        assert!(addr.ip().is_loopback(), "the bench only talks to loopback");
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::new(s),
            token: token.to_owned(),
        })
    }

    /// Sends `method path` with the token and an optional JSON body; reads the whole reply.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> std::io::Result<Reply> {
        let body = json.map(|v| v.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nPRIVATE-TOKEN: {}\r\n",
            self.token
        );
        if json.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        head.push_str(&body);
        self.stream.get_mut().write_all(head.as_bytes()).await?;
        self.read_reply().await
    }

    async fn read_reply(&mut self) -> std::io::Result<Reply> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(bad("connection closed in headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse::<usize>().ok();
                } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16).map_err(|_| bad("chunk size"))?;
                if body.len() + size > MAX_BODY {
                    return Err(bad("body too large"));
                }
                let start = body.len();
                body.resize(start + size + 2, 0);
                self.stream.read_exact(&mut body[start..]).await?;
                body.truncate(start + size);
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            if n > MAX_BODY {
                return Err(bad("body too large"));
            }
            body.resize(n, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok(Reply { status, body })
    }
}
