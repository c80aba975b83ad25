//! Resolving a remote's host (a mirror's, a webhook's) and checking every address it resolves to
//! against the operator's network policy. The API runs it when a URL is saved; `remote`'s
//! `PinnedEndpoint` runs it again before each push, fetch or delivery and pins the connection to
//! the address it checked, so DNS cannot be rebound in between.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::model::url::{check_address, BlockReason, Host, NetworkPolicy, ParsedMirrorUrl};

/// How long a lookup may take. GitLab allows 15 s; a mirror save should not hang that long, and a
/// resolver that slow is broken anyway.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a host could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("{0}")]
    Blocked(BlockReason),
    #[error("Host cannot be resolved or invalid")]
    Unresolvable,
}

/// Resolves the URL's host and checks each address. Returns the checked addresses, IPv4 first.
pub async fn resolve_checked(
    url: &ParsedMirrorUrl,
    policy: NetworkPolicy,
) -> Result<Vec<IpAddr>, ResolveError> {
    let addrs: Vec<IpAddr> = match &url.host {
        Host::Ip(ip) => vec![*ip],
        Host::Domain(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), url.port));
            match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(it)) => it.map(|sa: SocketAddr| sa.ip()).collect(),
                _ => return Err(ResolveError::Unresolvable),
            }
        }
    };
    if addrs.is_empty() {
        return Err(ResolveError::Unresolvable);
    }
    for ip in &addrs {
        check_address(*ip, policy).map_err(ResolveError::Blocked)?;
    }
    let mut sorted = addrs;
    sorted.sort_by_key(|ip| ip.is_ipv6());
    sorted.dedup();
    Ok(sorted)
}
