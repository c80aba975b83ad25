//! An HTTP client pinned to a [`PinnedEndpoint`]: it connects only to the checked address
//! (TLS and `Host` still name the URL's host), through no proxy, follows no redirect (a remote
//! could send us to an internal host), and gives up at a deadline. Webhook deliveries and LFS
//! transfers use it.
//!
//! reqwest runs each connection as a task of its own; a client here keeps no idle connection,
//! so that task ends with the request.

use std::time::Duration;

use super::endpoint::PinnedEndpoint;

/// A client for requests to one pinned endpoint.
pub struct PinnedClient {
    client: reqwest::Client,
    /// The endpoint's URL (credential-free), every request's target.
    url: String,
    /// The deadline of one request, named by a timeout's message.
    timeout: Duration,
}

impl PinnedClient {
    /// A client for `endpoint` with a deadline of `timeout` per request; `verify_tls` false
    /// accepts any certificate (a webhook's `enable_ssl_verification: false`). The error names
    /// no URL.
    pub fn new(
        endpoint: &PinnedEndpoint,
        timeout: Duration,
        verify_tls: bool,
    ) -> Result<PinnedClient, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .pool_max_idle_per_host(0)
            .danger_accept_invalid_certs(!verify_tls);
        if let Some(name) = endpoint.domain() {
            // Connect to the address checked, whatever DNS says by now.
            builder = builder.resolve(name, endpoint.socket_addr());
        }
        let client = builder.build().map_err(|e| e.without_url().to_string())?;
        Ok(PinnedClient {
            client,
            url: endpoint.url.url.clone(),
            timeout,
        })
    }

    /// A request with `method` to the endpoint's URL.
    pub fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        self.client.request(method, self.url.as_str())
    }

    /// A request with `method` to another URL of the same origin (scheme, host and port) as
    /// the endpoint's, so it goes to the same checked address; `None` for another origin.
    pub fn request_to(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Option<reqwest::RequestBuilder> {
        let origin = |u: &str| url::Url::parse(u).ok().map(|u| u.origin());
        let same = origin(url).is_some_and(|o| o.is_tuple() && Some(o) == origin(&self.url));
        same.then(|| self.client.request(method, url))
    }

    /// A transport error in words, without the URL (which may hold a secret such as a webhook's
    /// url_variable): reqwest's own text is generic ("error sending request"); its causes say
    /// what happened.
    pub fn describe(&self, e: reqwest::Error) -> String {
        if e.is_timeout() {
            return format!("no answer within {} s", self.timeout.as_secs());
        }
        let mut causes: Vec<String> = Vec::new();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            let text = c.to_string();
            if !causes.contains(&text) {
                causes.push(text);
            }
            cause = c.source();
        }
        let mut text = e.without_url().to_string();
        for c in causes {
            text.push_str(": ");
            text.push_str(&c);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::url::{parse_mirror_url, NetworkPolicy};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Accepts one connection on `listener`, answers its request with `answer`; the request's
    /// head.
    async fn answer_once(listener: tokio::net::TcpListener, answer: &str) -> String {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client hung up");
            head.extend_from_slice(&buf[..n]);
        }
        conn.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&head).into_owned()
    }

    #[tokio::test]
    async fn connects_to_the_pinned_address_never_resolving_and_follows_no_redirect() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // `.invalid` never resolves (RFC 6761): only the pin can reach the listener.
        let policy = NetworkPolicy {
            allow_local_network: true,
        };
        let url = parse_mirror_url(&format!("http://hooks.invalid:{port}/hook"), policy).unwrap();
        let endpoint = PinnedEndpoint {
            url,
            address: "127.0.0.1".parse().unwrap(),
        };
        let client = PinnedClient::new(&endpoint, Duration::from_secs(10), true).unwrap();
        let redirect =
            "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n";
        let (head, answer) = tokio::join!(
            answer_once(listener, redirect),
            client.request(reqwest::Method::POST).body("{}").send()
        );
        assert_eq!(
            answer.unwrap().status().as_u16(),
            302,
            "the redirect is not followed"
        );
        assert!(head.starts_with("POST /hook HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("host: hooks.invalid:{port}\r\n")),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_loopback_endpoint_is_refused_unless_the_local_network_is_allowed() {
        let strict = NetworkPolicy {
            allow_local_network: false,
        };
        let open = NetworkPolicy {
            allow_local_network: true,
        };
        let url = parse_mirror_url("http://127.0.0.1:9/hook", open).unwrap();
        assert!(PinnedEndpoint::resolve(url, strict).await.is_err());
        let url = parse_mirror_url("http://127.0.0.1:9/hook", open).unwrap();
        let pinned = PinnedEndpoint::resolve(url, open).await.unwrap();
        assert_eq!(pinned.socket_addr(), "127.0.0.1:9".parse().unwrap());
        assert_eq!(pinned.domain(), None);
    }
}
