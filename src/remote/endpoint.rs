//! A pinned endpoint: a parsed remote URL whose host was resolved once, with every address
//! checked against the operator's network policy, and the one address every connection of this
//! use goes to. Connecting to the checked address (rather than resolving again) is what keeps a
//! host that re-binds its DNS between the check and the connection from reaching a private
//! network.

use std::net::{IpAddr, SocketAddr};

use crate::model::url::{Host, NetworkPolicy, ParsedMirrorUrl};
use crate::netcheck::{resolve_checked, ResolveError};

/// A remote URL and the checked address its connections are pinned to.
pub struct PinnedEndpoint {
    /// The URL as parsed (credentials split off, host and port known).
    pub url: ParsedMirrorUrl,
    /// The checked address (the first, IPv4 preferred, of those the host resolved to).
    pub address: IpAddr,
}

impl PinnedEndpoint {
    /// Resolves `url`'s host, checks each address against `policy`, and pins the first.
    pub async fn resolve(
        url: ParsedMirrorUrl,
        policy: NetworkPolicy,
    ) -> Result<PinnedEndpoint, ResolveError> {
        let addrs = resolve_checked(&url, policy).await?;
        Ok(PinnedEndpoint {
            url,
            address: addrs[0],
        })
    }

    /// The host name to pin to [`PinnedEndpoint::address`], `None` when the URL names an address.
    pub fn domain(&self) -> Option<&str> {
        match &self.url.host {
            Host::Domain(name) => Some(name),
            Host::Ip(_) => None,
        }
    }

    /// Where to connect: the checked address and the URL's port.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.url.port)
    }

    /// The checked address as a URL writes it (`[::1]` for IPv6).
    pub fn address_literal(&self) -> String {
        match self.address {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        }
    }

    /// The URL with its host replaced by the checked address, for transports that have no
    /// resolve hook (`git://`).
    pub fn url_with_address(&self) -> String {
        if matches!(self.url.host, Host::Ip(_)) {
            return self.url.url.clone();
        }
        match url::Url::parse(&self.url.url) {
            Ok(mut u) => match u.set_host(Some(&self.address_literal())) {
                Ok(()) => u.to_string(),
                Err(_) => self.url.url.clone(),
            },
            Err(_) => self.url.url.clone(),
        }
    }
}
