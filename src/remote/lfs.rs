//! A remote's Git LFS endpoint, spoken to as the git-lfs client does
//! (<https://github.com/git-lfs/git-lfs/blob/main/docs/api/batch.md>): the batch request of an
//! upload, then each object's `upload` action (a streamed `PUT`, never the whole object in
//! memory) and its `verify` action; or the batch request of a download, then each object's
//! `download` action (a `GET` whose body the caller streams where it wants it). Every
//! connection goes through a [`PinnedClient`]: the endpoint's host was checked and pinned like
//! the git push's, and an action's `href` on another origin is checked against the same network
//! policy before anything is sent there; no redirect is followed. The mirror's credentials go
//! only to the endpoint's own origin and only when the action brings no `Authorization` of its
//! own (the remote's answer wins, as with git-lfs). Messages are scrubbed of the credentials
//! before they leave.
//!
//! Invariant: nothing here knows which mirror or project it works for; the caller decides
//! which objects to ask about and where their bytes come from or go.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::endpoint::PinnedEndpoint;
use super::http::PinnedClient;
use super::lfs_wire::{
    Action, AnswerObject, BatchAnswer, BatchRequest, ErrorBody, LfsOperation, ObjectAnswer,
    WireAction, WireActions, WireObject,
};
use crate::credentials::MirrorCredentials;
use crate::model::lfs::Pointer;
use crate::model::url::{parse_mirror_url, scrub, NetworkPolicy};

/// Bytes read from the object store per chunk of an upload's body: a file read is a trip to
/// tokio's blocking pool, and at the reader's default 4 KiB a 200 MB object took twice as long
/// to send as `git lfs push` of it (BENCHMARKS.md, lfs); 256 KiB matches the staging chunk.
const UPLOAD_CHUNK: usize = 256 * 1024;

/// Where a remote's JSON went wrong, without serde's quote of the offending value: that value
/// may be a token the remote put in a header, and the message reaches logs and `last_error`.
fn json_fault(e: &serde_json::Error) -> String {
    format!(
        "{:?} at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// The media type of the batch API's requests and answers.
const LFS_JSON: &str = "application/vnd.git-lfs+json";

/// The largest batch answer read: 100 objects with long pre-signed hrefs and headers stay far
/// below this; more is a remote gone wrong, not an answer to wait for.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// The longest remote message kept in a failure: enough for a sentence, not for a page of HTML.
const MAX_REMOTE_MESSAGE: usize = 300;

/// Why a request to the LFS endpoint failed; every message is scrubbed.
#[derive(Debug, thiserror::Error)]
pub enum LfsError {
    /// The endpoint or an href could not be reached, or was refused by the network policy.
    #[error("{0}")]
    Unreachable(String),
    /// The remote answered with an error status (and, usually, its own message).
    #[error("{0}")]
    Status(String),
    /// The remote's answer is not what the batch API says.
    #[error("{0}")]
    BadAnswer(String),
}

/// One remote's LFS endpoint, ready for the requests of one update.
pub struct LfsRemote {
    /// `<endpoint>/objects/batch`.
    batch_url: String,
    /// Headers sent to the endpoint's origin: the mirror's `Authorization`, or those
    /// `git-lfs-authenticate` gave.
    endpoint_header: Vec<(String, SecretString)>,
    policy: NetworkPolicy,
    /// The deadline of a batch or verify request.
    timeout: Duration,
    /// The deadline of one upload (objects can be large; the git push's own deadline).
    transfer_timeout: Duration,
    /// One pinned client per origin met (the endpoint's, and hrefs' others).
    clients: tokio::sync::Mutex<HashMap<String, Arc<PinnedClient>>>,
    /// Every secret that could come back in a message.
    secrets: Vec<SecretString>,
}

impl LfsRemote {
    /// The LFS endpoint `endpoint` (`model::lfs::endpoint_for` of an HTTP(S) mirror URL), with
    /// the mirror's user and password as Basic authentication, or `header` (what
    /// `git-lfs-authenticate` answered) instead.
    pub fn new(
        endpoint: &str,
        creds: &MirrorCredentials,
        header: Vec<(String, SecretString)>,
        policy: NetworkPolicy,
        timeout: Duration,
        transfer_timeout: Duration,
    ) -> LfsRemote {
        let mut secrets = creds.to_scrub();
        let mut endpoint_header = header;
        for (_, v) in &endpoint_header {
            secrets.push(v.clone());
        }
        if let Some(encoded) = creds.basic().filter(|_| endpoint_header.is_empty()) {
            endpoint_header.push((
                "Authorization".to_owned(),
                SecretString::from(format!("Basic {}", encoded.expose_secret())),
            ));
            secrets.push(encoded);
        }
        LfsRemote {
            batch_url: format!("{}/objects/batch", endpoint.trim_end_matches('/')),
            endpoint_header,
            policy,
            timeout,
            transfer_timeout,
            clients: tokio::sync::Mutex::new(HashMap::new()),
            secrets,
        }
    }

    /// The endpoint an ssh remote's `git-lfs-authenticate` answered (`{"href", "header", …}`):
    /// its `href` with its headers (their `Authorization` instead of any of the mirror's).
    pub fn from_authenticate(
        answer: &[u8],
        policy: NetworkPolicy,
        timeout: Duration,
        transfer_timeout: Duration,
    ) -> Result<LfsRemote, LfsError> {
        let wire: WireAction = serde_json::from_slice(answer).map_err(|e| {
            LfsError::BadAnswer(format!(
                "git-lfs-authenticate's answer is not its JSON ({})",
                json_fault(&e)
            ))
        })?;
        let action = wire.into_action(Instant::now());
        Ok(LfsRemote::new(
            &action.href,
            &MirrorCredentials::default(),
            action.header,
            policy,
            timeout,
            transfer_timeout,
        ))
    }

    /// The endpoint's origin (`scheme://host:port`), for host limits and metric labels.
    pub fn origin(&self) -> String {
        origin_text(&self.batch_url).unwrap_or_default()
    }

    /// The origin an answer's transfer goes to (the endpoint's when it transfers nothing).
    pub fn origin_of(&self, answer: &ObjectAnswer) -> String {
        match answer {
            ObjectAnswer::Transfer { action, .. } => {
                origin_text(&action.href).unwrap_or_else(|| self.origin())
            }
            _ => self.origin(),
        }
    }

    /// `text` with every secret of this remote masked.
    pub fn scrub(&self, text: &str) -> String {
        let secrets: Vec<&str> = self.secrets.iter().map(|s| s.expose_secret()).collect();
        scrub(text, &secrets)
    }

    /// Asks the remote to `op` `objects` (at most a batch's worth); an answer per object, in
    /// their order.
    pub async fn batch(
        &self,
        op: LfsOperation,
        objects: &[Pointer],
    ) -> Result<Vec<ObjectAnswer>, LfsError> {
        let body = BatchRequest {
            operation: op.as_str(),
            transfers: ["basic"],
            objects: objects
                .iter()
                .map(|p| WireObject {
                    oid: p.oid.as_str(),
                    size: p.size,
                })
                .collect(),
            hash_algo: "sha256",
        };
        let body = serde_json::to_vec(&body).map_err(|e| LfsError::BadAnswer(e.to_string()))?;
        let (client, same_origin) = self.client_for(&self.batch_url).await?;
        let mut req = client
            .request_to(reqwest::Method::POST, &self.batch_url)
            .ok_or_else(|| LfsError::Unreachable("the batch URL changed origin".into()))?
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, LFS_JSON)
            .header(reqwest::header::CONTENT_TYPE, LFS_JSON)
            .body(body);
        if same_origin {
            for (k, v) in &self.endpoint_header {
                req = req.header(k.as_str(), v.expose_secret());
            }
        }
        let answer = req
            .send()
            .await
            .map_err(|e| LfsError::Unreachable(self.scrub(&client.describe(e))))?;
        let answered = Instant::now();
        let status = answer.status();
        let bytes = read_limited(answer, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| LfsError::Unreachable(self.scrub(&e)))?;
        if !status.is_success() {
            return Err(LfsError::Status(self.status_message(status, &bytes)));
        }
        let parsed: BatchAnswer = serde_json::from_slice(&bytes).map_err(|e| {
            LfsError::BadAnswer(format!(
                "the batch answer is not the batch API's JSON ({})",
                json_fault(&e)
            ))
        })?;
        if parsed.transfer.as_deref().is_some_and(|t| t != "basic") {
            return Err(LfsError::BadAnswer(
                "the remote chose a transfer adapter other than basic".into(),
            ));
        }
        let mut by_oid: HashMap<String, AnswerObject> = parsed
            .objects
            .into_iter()
            .map(|o| (o.oid.clone(), o))
            .collect();
        Ok(objects
            .iter()
            .map(|p| match by_oid.remove(p.oid.as_str()) {
                None => ObjectAnswer::Refused("not in the remote's batch answer".into()),
                Some(o) => self.object_answer(op, o, answered),
            })
            .collect())
    }

    fn object_answer(&self, op: LfsOperation, o: AnswerObject, answered: Instant) -> ObjectAnswer {
        if let Some(e) = o.error {
            let message = e.message.unwrap_or_else(|| "no message".into());
            let text = match e.code {
                Some(code) => format!("{code} {}", bounded(&message)),
                None => bounded(&message),
            };
            return ObjectAnswer::Refused(self.scrub(&text));
        }
        match (op, o.actions) {
            (
                LfsOperation::Upload,
                Some(WireActions {
                    upload: Some(upload),
                    verify,
                    ..
                }),
            ) => ObjectAnswer::Transfer {
                action: upload.into_action(answered),
                verify: verify.map(|v| v.into_action(answered)),
            },
            // No upload action: the remote has the object.
            (LfsOperation::Upload, _) => ObjectAnswer::Present,
            (
                LfsOperation::Download,
                Some(WireActions {
                    download: Some(download),
                    ..
                }),
            ) => ObjectAnswer::Transfer {
                action: download.into_action(answered),
                verify: None,
            },
            // git-lfs too calls an answer without a download action an error.
            (LfsOperation::Download, _) => {
                ObjectAnswer::Refused("the remote's answer has no download action".into())
            }
        }
    }

    /// Uploads one object's `size` bytes read from `body` as `action` says.
    pub async fn upload(
        &self,
        action: &Action,
        size: u64,
        body: Pin<Box<dyn AsyncRead + Send>>,
    ) -> Result<(), LfsError> {
        let stream = tokio_util::io::ReaderStream::with_capacity(body.take(size), UPLOAD_CHUNK);
        let req = self
            .action_request(reqwest::Method::PUT, action, self.transfer_timeout)
            .await?
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        self.expect_success(req).await
    }

    /// Starts the download `action` says of an object of `size` bytes: its body as it arrives
    /// (at most `size` bytes of it are asked for by the caller's reading; a transport failure
    /// mid-body is a read error, scrubbed). A status other than success, a redirect among them,
    /// is the error.
    pub async fn download(
        &self,
        action: &Action,
        size: u64,
    ) -> Result<Pin<Box<dyn AsyncRead + Send>>, LfsError> {
        let answer = self
            .action_request(reqwest::Method::GET, action, self.transfer_timeout)
            .await?
            .header(reqwest::header::ACCEPT, "application/octet-stream")
            .send()
            .await
            .map_err(|e| LfsError::Unreachable(self.scrub(&describe(e))))?;
        let status = answer.status();
        if !status.is_success() {
            let bytes = read_limited(answer, MAX_ANSWER_BYTES)
                .await
                .unwrap_or_default();
            return Err(LfsError::Status(self.status_message(status, &bytes)));
        }
        if let Some(length) = answer.content_length().filter(|l| *l != size) {
            return Err(LfsError::BadAnswer(format!(
                "the download is {length} bytes, the pointer says {size}"
            )));
        }
        let secrets: Vec<SecretString> = self.secrets.clone();
        let body = answer.bytes_stream().map_err(move |e| {
            let exposed: Vec<&str> = secrets.iter().map(|s| s.expose_secret()).collect();
            std::io::Error::other(scrub(&describe(e), &exposed))
        });
        Ok(Box::pin(tokio_util::io::StreamReader::new(body)))
    }

    /// Tells the remote the upload of `object` is complete (`verify` action).
    pub async fn verify(&self, action: &Action, object: &Pointer) -> Result<(), LfsError> {
        let body = serde_json::json!({"oid": object.oid.as_str(), "size": object.size});
        let req = self
            .action_request(reqwest::Method::POST, action, self.timeout)
            .await?
            .header(reqwest::header::ACCEPT, LFS_JSON)
            .header(reqwest::header::CONTENT_TYPE, LFS_JSON)
            .body(body.to_string());
        self.expect_success(req).await
    }

    async fn expect_success(&self, req: reqwest::RequestBuilder) -> Result<(), LfsError> {
        let answer = req
            .send()
            .await
            .map_err(|e| LfsError::Unreachable(self.scrub(&describe(e))))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = read_limited(answer, MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        Err(LfsError::Status(self.status_message(status, &bytes)))
    }

    /// A request for `action`: its headers, and the mirror's `Authorization` only on the
    /// endpoint's own origin and only when the action brings none.
    async fn action_request(
        &self,
        method: reqwest::Method,
        action: &Action,
        timeout: Duration,
    ) -> Result<reqwest::RequestBuilder, LfsError> {
        let (client, same_origin) = self.client_for(&action.href).await?;
        let mut req = client
            .request_to(method, &action.href)
            .ok_or_else(|| LfsError::Unreachable("an action's href changed origin".into()))?
            .timeout(timeout);
        for (k, v) in &action.header {
            req = req.header(k.as_str(), v.expose_secret());
        }
        if same_origin && !action.has_authorization() {
            for (k, v) in &self.endpoint_header {
                req = req.header(k.as_str(), v.expose_secret());
            }
        }
        Ok(req)
    }

    /// The pinned client of `url`'s origin (checked and resolved on first use), and whether
    /// that origin is the endpoint's.
    async fn client_for(&self, url: &str) -> Result<(Arc<PinnedClient>, bool), LfsError> {
        let origin = |u: &str| {
            url::Url::parse(u)
                .ok()
                .map(|u| u.origin().ascii_serialization())
        };
        let key = origin(url).ok_or_else(|| LfsError::BadAnswer("an href is not a URL".into()))?;
        let same_origin = origin(&self.batch_url).as_deref() == Some(key.as_str());
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(&key) {
            return Ok((c.clone(), same_origin));
        }
        let refused = |why: String| {
            LfsError::Unreachable(format!(
                "the LFS URL {} is blocked: {why}",
                self.scrub(&key)
            ))
        };
        let parsed = parse_mirror_url(url, self.policy).map_err(|e| refused(e.to_string()))?;
        if !matches!(
            parsed.scheme,
            crate::model::url::Scheme::Http | crate::model::url::Scheme::Https
        ) {
            return Err(refused("not HTTP(S)".into()));
        }
        let endpoint = PinnedEndpoint::resolve(parsed, self.policy)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let client = PinnedClient::new(&endpoint, self.timeout, true).map_err(refused)?;
        let client = Arc::new(client);
        clients.insert(key, client.clone());
        Ok((client, same_origin))
    }

    /// An error status in words: the remote's `message` when its body has one.
    fn status_message(&self, status: reqwest::StatusCode, body: &[u8]) -> String {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .map(|b| b.message)
            .unwrap_or_default();
        let text = if message.trim().is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            format!("HTTP {}: {}", status.as_u16(), bounded(message.trim()))
        };
        self.scrub(&text)
    }
}

/// The origin of `url` (`scheme://host:port`), `None` when it has none.
fn origin_text(url: &str) -> Option<String> {
    let origin = url::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// `text` cut to [`MAX_REMOTE_MESSAGE`] characters.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_REMOTE_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A transport error in words, without its URL (a pre-signed href is a credential).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".to_owned();
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Reads at most `limit` bytes of an answer's body; more is an error.
async fn read_limited(mut answer: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(describe)? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_answer_is_not_quoted_back() {
        let answer = br#"{"href": "https://e.com/info/lfs", "header": "Bearer s3cr3t-t0ken"}"#;
        let Err(e) = LfsRemote::from_authenticate(
            answer,
            NetworkPolicy {
                allow_local_network: false,
            },
            Duration::from_secs(1),
            Duration::from_secs(1),
        ) else {
            panic!("a header that is no map is refused");
        };
        let text = e.to_string();
        assert!(text.contains("not its JSON (Data at line 1"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn a_download_answer_needs_a_download_action() {
        let remote = LfsRemote::new(
            "https://lfs.example/group/project.git/info/lfs",
            &MirrorCredentials::default(),
            Vec::new(),
            NetworkPolicy {
                allow_local_network: false,
            },
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let answer = |json: &str| {
            let o: AnswerObject = serde_json::from_str(json).unwrap();
            remote.object_answer(LfsOperation::Download, o, Instant::now())
        };
        let with = answer(
            r#"{"oid": "x", "actions": {"download": {"href": "https://cdn.example/x",
                "header": {"Authorization": "Bearer t"}, "expires_in": 3600}}}"#,
        );
        let ObjectAnswer::Transfer { action, verify } = &with else {
            panic!("{with:?}");
        };
        assert!(verify.is_none());
        assert!(action.has_authorization());
        assert_eq!(remote.origin_of(&with), "https://cdn.example");
        // An upload action is no download; no action at all is no "present" for a download.
        for json in [
            r#"{"oid": "x", "actions": {"upload": {"href": "https://cdn.example/x"}}}"#,
            r#"{"oid": "x"}"#,
        ] {
            let ObjectAnswer::Refused(why) = answer(json) else {
                panic!("{json}");
            };
            assert_eq!(why, "the remote's answer has no download action");
        }
        let ObjectAnswer::Refused(why) =
            answer(r#"{"oid": "x", "error": {"code": 404, "message": "Object does not exist"}}"#)
        else {
            panic!("an error is a refusal");
        };
        assert_eq!(why, "404 Object does not exist");
    }

    /// Accepts one connection on `listener` and answers its request with `answer`; the
    /// request's head.
    async fn answer_once(listener: &tokio::net::TcpListener, answer: &str) -> String {
        use tokio::io::AsyncWriteExt;
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client hung up");
            head.extend_from_slice(&buf[..n]);
        }
        conn.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&head).to_ascii_lowercase()
    }

    #[tokio::test]
    async fn a_download_takes_the_credentials_to_the_endpoints_origin_only_and_no_redirect() {
        let endpoint = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (e, o) = (
            endpoint.local_addr().unwrap().port(),
            elsewhere.local_addr().unwrap().port(),
        );
        let creds = MirrorCredentials {
            user: Some("puller".into()),
            password: Some("Pull-Secret-5".into()),
            ssh_private_key: None,
        };
        let remote = LfsRemote::new(
            &format!("http://127.0.0.1:{e}/g/p.git/info/lfs"),
            &creds,
            Vec::new(),
            NetworkPolicy {
                allow_local_network: true,
            },
            Duration::from_secs(10),
            Duration::from_secs(10),
        );
        let action = |port: u16| Action {
            href: format!("http://127.0.0.1:{port}/objects/x"),
            header: Vec::new(),
            expires: None,
        };
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let remote = &remote;
        let fetch = |a: Action| async move {
            let mut body = remote.download(&a, 5).await?;
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).await.unwrap();
            Ok::<_, LfsError>(bytes)
        };
        // Another origin (another port) gets no credential of the endpoint's.
        let (head, got) = tokio::join!(answer_once(&elsewhere, ok), fetch(action(o)));
        assert_eq!(got.unwrap(), b"hello");
        assert!(head.starts_with("get /objects/x "), "{head}");
        assert!(!head.contains("authorization"), "{head}");
        // The endpoint's own origin does, as git-lfs sends it.
        let (head, got) = tokio::join!(answer_once(&endpoint, ok), fetch(action(e)));
        assert_eq!(got.unwrap(), b"hello");
        assert!(head.contains("authorization: basic "), "{head}");
        // A redirect is an error, not followed; so is a body of another size than the pointer's.
        let redirect =
            "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n";
        let (_, got) = tokio::join!(answer_once(&endpoint, redirect), fetch(action(e)));
        assert_eq!(got.unwrap_err().to_string(), "HTTP 302");
        let longer = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello!";
        let (_, got) = tokio::join!(answer_once(&endpoint, longer), fetch(action(e)));
        assert_eq!(
            got.unwrap_err().to_string(),
            "the download is 6 bytes, the pointer says 5"
        );
    }

    #[test]
    fn remote_messages_are_bounded() {
        let long = "x".repeat(1000);
        assert!(bounded(&long).chars().count() <= MAX_REMOTE_MESSAGE + 1);
        assert_eq!(bounded("short"), "short");
    }
}
