//! Hosts of mirror URLs: reading a host as a DNS name or an address literal (in every spelling a
//! resolver would accept), and deciding which addresses git may connect to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{BlockReason, Host, NetworkPolicy, MAX_HOST_LEN};

/// Reads the host part of an authority (`[v6]`, a number, or a name) into a [`Host`].
pub(super) fn parse_host(text: &str) -> Result<Host, BlockReason> {
    if let Some(inner) = text.strip_prefix('[') {
        // std accepts exactly RFC 4291 text: no zone ids (`%25eth0`), no IPvFuture.
        let inner = inner.strip_suffix(']').ok_or(BlockReason::Hostname)?;
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| Host::Ip(ip.into()))
            .map_err(|_| BlockReason::Hostname);
    }
    let labels_ok = text
        .strip_suffix('.')
        .unwrap_or(text)
        .split('.')
        .all(|label| !label.is_empty());
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        || !labels_ok
    {
        return Err(BlockReason::Hostname);
    }
    if let Some(ip) = parse_ipv4_host(text)? {
        return Ok(Host::Ip(ip.into()));
    }
    if text.len() > MAX_HOST_LEN {
        return Err(BlockReason::HostTooLong);
    }
    Ok(Host::Domain(text.to_ascii_lowercase()))
}

/// Reads a host the way inet_aton, getaddrinfo, curl and the WHATWG URL standard all do: one to
/// four dot-separated numbers, each decimal, `0x` hex or `0`-prefixed octal, the last one filling
/// the remaining bytes (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`). `Ok(None)` means the
/// host is a domain name. A host whose last label is a number but which is not a valid address
/// (`256.0.0.1`, `1.2.3.4.5`, `08.0.0.1`) is refused, as WHATWG does, rather than left to a resolver
/// that might read it differently.
fn parse_ipv4_host(host: &str) -> Result<Option<Ipv4Addr>, BlockReason> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let parts: Vec<&str> = host.split('.').collect();
    if !parts.last().is_some_and(|last| is_ipv4_number_syntax(last)) {
        return Ok(None);
    }
    if parts.len() > 4 {
        return Err(BlockReason::Hostname);
    }
    let numbers = parts
        .iter()
        .map(|part| parse_ipv4_number(part))
        .collect::<Option<Vec<u64>>>()
        .ok_or(BlockReason::Hostname)?;
    let (last, leading) = numbers.split_last().ok_or(BlockReason::Hostname)?;
    let last_limit = 1u64 << (8 * (5 - numbers.len()));
    if leading.iter().any(|&n| n > 255) || *last >= last_limit {
        return Err(BlockReason::Hostname);
    }
    let value = leading
        .iter()
        .enumerate()
        .fold(*last, |acc, (i, &n)| acc | (n << (8 * (3 - i))));
    Ok(u32::try_from(value).ok().map(Ipv4Addr::from))
}

/// WHATWG "ends in a number": all digits, or `0x` followed by hex digits (possibly none).
fn is_ipv4_number_syntax(part: &str) -> bool {
    match part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()),
    }
}

fn parse_ipv4_number(part: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        // `0x` alone is zero for inet_aton and WHATWG; an empty label never gets here.
        return (!part.is_empty()).then_some(0);
    }
    // from_str_radix also takes a leading `+`; insist on digits of the radix only.
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Many leading zeros are fine, but a value past u64 is not an address either way.
    u64::from_str_radix(digits, radix).ok()
}

/// Decides whether git may connect to `ip`. Run on every address a host resolves to.
///
/// IPv6 addresses that embed an IPv4 address are judged by the IPv4 address: IPv4-mapped
/// (`::ffff:0:0/96`), SIIT (`::ffff:0:0:0/96`), IPv4-compatible (`::/96`), NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002::/16`), since a dual-stack host or a translator may deliver them to the
/// embedded address. Local-use NAT64 (`64:ff9b:1::/48`) is a local network by definition.
/// Multicast is refused as the local network: no git transport can use it, and refusing costs
/// nothing (GitLab would accept it and fail at push time).
pub fn check_address(ip: IpAddr, policy: NetworkPolicy) -> Result<(), BlockReason> {
    if policy.allow_local_network {
        return Ok(());
    }
    match ip {
        IpAddr::V4(v4) => check_ipv4(v4),
        IpAddr::V6(v6) if v6.is_unspecified() => Err(BlockReason::Localhost),
        IpAddr::V6(v6) if v6.is_loopback() => Err(BlockReason::Loopback),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => check_ipv4(v4),
            None => check_ipv6(v6),
        },
    }
}

fn check_ipv4(ip: Ipv4Addr) -> Result<(), BlockReason> {
    Err(match ip.octets() {
        [0, ..] => BlockReason::Localhost,
        [127, ..] => BlockReason::Loopback,
        [10, ..] | [192, 168, ..] | [172, 16..=31, ..] | [224..=239, ..] => {
            BlockReason::LocalNetwork
        }
        [169, 254, ..] => BlockReason::LinkLocal,
        [100, 64..=127, ..] => BlockReason::SharedAddressSpace,
        [255, 255, 255, 255] => BlockReason::LimitedBroadcast,
        _ => return Ok(()),
    })
}

fn check_ipv6(ip: Ipv6Addr) -> Result<(), BlockReason> {
    let [first, second, third, ..] = ip.segments();
    Err(match first {
        _ if first & 0xfe00 == 0xfc00 => BlockReason::LocalNetwork, // unique local fc00::/7
        _ if first & 0xffc0 == 0xfec0 => BlockReason::LocalNetwork, // site local fec0::/10
        _ if first & 0xff00 == 0xff00 => BlockReason::LocalNetwork, // multicast ff00::/8
        _ if first & 0xffc0 == 0xfe80 => BlockReason::LinkLocal,    // fe80::/10
        0x64 if second == 0xff9b && third == 1 => BlockReason::LocalNetwork, // 64:ff9b:1::/48
        _ => return Ok(()),
    })
}

fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}
