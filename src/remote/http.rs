//! An HTTP client pinned to a [`PinnedEndpoint`]: it connects only to the checked address
//! (TLS and `Host` still name the URL's host), through no proxy, follows no redirect (a remote
//! could send us to an internal host), and gives up at a deadline. Webhook deliveries use it;
//! LFS transfers will.
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
