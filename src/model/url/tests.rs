//! Table-driven tests for mirror URL parsing, address checks, masking and scrubbing: one `check`
//! helper per function, then proptests for the properties tables cannot cover. Tables are
//! `#[rustfmt::skip]` so that each case stays on one line and reads as a row.

use std::net::IpAddr;

use proptest::prelude::*;
use secrecy::ExposeSecret;

use super::*;
use BlockReason as B;

const STRICT: NetworkPolicy = NetworkPolicy {
    allow_local_network: false,
};
const LOCAL: NetworkPolicy = NetworkPolicy {
    allow_local_network: true,
};

/// What a successful parse should yield: stored url, host_str, port, user, password ("" = None).
type Parsed = (&'static str, &'static str, u16, &'static str, &'static str);

fn check_parse(rows: &[(&str, NetworkPolicy, Result<Parsed, B>)]) {
    for (input, policy, expected) in rows {
        let got = parse_mirror_url(input, *policy).map(|p| {
            let password = p.password.as_ref().map(|s| s.expose_secret().to_owned());
            (
                p.url.clone(),
                p.host_str(),
                p.port,
                p.user.clone(),
                password,
            )
        });
        let expected = expected
            .map(|(url, host, port, user, password)| {
                let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                (
                    url.to_owned(),
                    host.to_owned(),
                    port,
                    some(user),
                    some(password),
                )
            })
            .map_err(UrlError::Blocked);
        assert_eq!(got, expected, "input {input:?}, {policy:?}");
    }
}

#[test]
#[rustfmt::skip]
fn parse_accepts_and_splits_credentials() {
    check_parse(&[
        ("https://gitlab.example.com/root/mirror.git", STRICT, Ok(("https://gitlab.example.com/root/mirror.git", "gitlab.example.com", 443, "", ""))),
        ("  https://host.example/x.git \t", STRICT, Ok(("https://host.example/x.git", "host.example", 443, "", ""))),
        ("https://alice:s3cret@host.example/x.git", STRICT, Ok(("https://host.example/x.git", "host.example", 443, "alice", "s3cret"))),
        ("https://alice:p%40ss%3Aw%25rd@host.example/x", STRICT, Ok(("https://host.example/x", "host.example", 443, "alice", "p@ss:w%rd"))),
        ("https://alice:p@ss@host.example/x", STRICT, Ok(("https://host.example/x", "host.example", 443, "alice", "p@ss"))),
        ("https://a:b:c@host.example/x", STRICT, Ok(("https://host.example/x", "host.example", 443, "a", "b:c"))),
        ("https://oauth2@host.example/x", STRICT, Ok(("https://host.example/x", "host.example", 443, "oauth2", ""))),
        ("https://:tok@host.example/", STRICT, Ok(("https://host.example/", "host.example", 443, "", "tok"))),
        ("https://alice:@host.example/", STRICT, Ok(("https://host.example/", "host.example", 443, "alice", ""))),
        ("https://J%C3%BCrgen:a%20b@host.example/", STRICT, Ok(("https://host.example/", "host.example", 443, "Jürgen", "a b"))),
        ("ssh://git@host.example:2222/group/x.git", STRICT, Ok(("ssh://host.example:2222/group/x.git", "host.example", 2222, "git", ""))),
        ("ssh://git@host.example/x.git", STRICT, Ok(("ssh://host.example/x.git", "host.example", 22, "git", ""))),
        ("git://host.example/x.git", STRICT, Ok(("git://host.example/x.git", "host.example", 9418, "", ""))),
        ("http://host.example", STRICT, Ok(("http://host.example", "host.example", 80, "", ""))),
        ("https://host.example:/x", STRICT, Ok(("https://host.example:/x", "host.example", 443, "", ""))),
        ("https://host.example/x?private_token=1#frag", STRICT, Ok(("https://host.example/x?private_token=1#frag", "host.example", 443, "", ""))),
        ("HTTPS://GitLab.Example.COM/X.git", STRICT, Ok(("https://GitLab.Example.COM/X.git", "gitlab.example.com", 443, "", ""))),
        ("https://evil.example\\@good.example/x", STRICT, Ok(("https://good.example/x", "good.example", 443, "evil.example\\", ""))),
        ("https://1.2.3.4.example/x", STRICT, Ok(("https://1.2.3.4.example/x", "1.2.3.4.example", 443, "", ""))),
        ("https://host.example./x", STRICT, Ok(("https://host.example./x", "host.example.", 443, "", ""))),
        // Public addresses in documentation ranges, in several spellings.
        ("https://203.0.113.7/x.git", STRICT, Ok(("https://203.0.113.7/x.git", "203.0.113.7", 443, "", ""))),
        ("https://3405803783/x.git", STRICT, Ok(("https://203.0.113.7/x.git", "203.0.113.7", 443, "", ""))),
        ("ssh://git@0xcb.0.0x71.7:22/x", STRICT, Ok(("ssh://203.0.113.7:22/x", "203.0.113.7", 22, "git", ""))),
        ("https://[2001:DB8::1]:8443/x.git", STRICT, Ok(("https://[2001:db8::1]:8443/x.git", "[2001:db8::1]", 8443, "", ""))),
        ("https://172.32.0.1/", STRICT, Ok(("https://172.32.0.1/", "172.32.0.1", 443, "", ""))),
        ("https://100.128.0.1/", STRICT, Ok(("https://100.128.0.1/", "100.128.0.1", 443, "", ""))),
        ("https://[::ffff:203.0.113.7]/", STRICT, Ok(("https://[::ffff:203.0.113.7]/", "[::ffff:203.0.113.7]", 443, "", ""))),
    ]);
    let longest = "a".repeat(MAX_HOST_LEN);
    let parsed = parse_mirror_url(&format!("https://{longest}/"), STRICT).unwrap();
    assert_eq!(parsed.host, Host::Domain(longest));
}

#[test]
#[rustfmt::skip]
fn parse_refuses_with_gitlab_reasons() {
    assert_eq!(parse_mirror_url("", STRICT).unwrap_err(), UrlError::Blank);
    assert_eq!(
        parse_mirror_url(" \t\n ", LOCAL).unwrap_err(),
        UrlError::Blank
    );
    let long_host = format!("https://{}/", "a".repeat(1025));
    check_parse(&[
        ("https://ho\nst.example/x", LOCAL, Err(B::InvalidUri)),
        ("https://host.example/x\r\nHeader: 1", LOCAL, Err(B::InvalidUri)),
        ("https://host.example/x%0a", LOCAL, Err(B::InvalidUri)),
        ("https://host.example/x?a=%0D", LOCAL, Err(B::InvalidUri)),
        ("ssh://host.example/x%00", LOCAL, Err(B::InvalidUri)),
        ("https://user%0a:pw@host.example/", LOCAL, Err(B::InvalidUri)),
        ("https://host.example/\u{7f}", LOCAL, Err(B::InvalidUri)),
        ("https://host.example/%C2%85", LOCAL, Err(B::InvalidUri)),
        ("https://host.example/\tx", LOCAL, Err(B::InvalidUri)),
        ("https://u:%FF@host.example/", LOCAL, Err(B::InvalidUri)),
        ("https:host.example/x", LOCAL, Err(B::InvalidUri)),
        ("https:/host.example/x", LOCAL, Err(B::InvalidUri)),
        ("https://host.example:abc/", LOCAL, Err(B::InvalidUri)),
        ("https://host.example:+22/", LOCAL, Err(B::InvalidUri)),
        ("https://host.example:0/", LOCAL, Err(B::InvalidUri)),
        ("https://host.example:65536/", LOCAL, Err(B::InvalidUri)),
        ("https://[::1/", LOCAL, Err(B::InvalidUri)),
        ("https://[2001:db8::1]x/", LOCAL, Err(B::InvalidUri)),
        ("ftp://host.example/x", LOCAL, Err(B::Scheme)),
        ("file:///srv/x.git", LOCAL, Err(B::Scheme)),
        ("/srv/x.git", LOCAL, Err(B::Scheme)),
        ("./x.git", LOCAL, Err(B::Scheme)),
        ("ext::sh -c touch% /tmp/pwned", LOCAL, Err(B::Scheme)),
        ("github.com:group/x.git", LOCAL, Err(B::Scheme)),
        ("host.example/x:y", LOCAL, Err(B::Scheme)),
        (":x", LOCAL, Err(B::Scheme)),
        ("httpx://host.example/", LOCAL, Err(B::Scheme)),
        ("ssh://-oProxyCommand=touch%20x@host.example/x", LOCAL, Err(B::Username)),
        ("https://_user:pw@host.example/", LOCAL, Err(B::Username)),
        ("https://%41lice@host.example/", LOCAL, Err(B::Username)),
        ("ssh://-oProxyCommand=touch/x", LOCAL, Err(B::Hostname)),
        ("https:///x", LOCAL, Err(B::Hostname)),
        ("https://user@/x", LOCAL, Err(B::Hostname)),
        ("https://-host.example/", LOCAL, Err(B::Hostname)),
        ("https://.host.example/", LOCAL, Err(B::Hostname)),
        ("https://ho_st.example/", LOCAL, Err(B::Hostname)),
        ("https://a..b/", LOCAL, Err(B::Hostname)),
        ("https://ho%73t.example/", LOCAL, Err(B::Hostname)),
        ("https://exa mple.com/", LOCAL, Err(B::Hostname)),
        ("https://bücher.example/", LOCAL, Err(B::Hostname)),
        ("https://::1/", LOCAL, Err(B::Hostname)),
        ("https://[fe80::1%25eth0]/", LOCAL, Err(B::Hostname)),
        ("https://[v1.x]/", LOCAL, Err(B::Hostname)),
        ("https://256.0.0.1/", LOCAL, Err(B::Hostname)),
        ("https://1.2.3.4.5/", LOCAL, Err(B::Hostname)),
        ("https://08.0.0.1/", LOCAL, Err(B::Hostname)),
        ("https://1.2.3.0x100/", LOCAL, Err(B::Hostname)),
        ("https://1.2.65536/", LOCAL, Err(B::Hostname)),
        ("https://4294967296/", LOCAL, Err(B::Hostname)),
        ("https://example.0x10/", LOCAL, Err(B::Hostname)),
        (&long_host, LOCAL, Err(B::HostTooLong)),
    ]);
}

/// Every spelling of a blocked address: refused under STRICT with `reason`, accepted under LOCAL
/// with the host rewritten to `canonical`.
#[test]
#[rustfmt::skip]
fn parse_checks_every_ip_spelling() {
    let rows: &[(&str, &str, B)] = &[
        ("http://127.0.0.1/", "127.0.0.1", B::Loopback),
        ("http://2130706433/", "127.0.0.1", B::Loopback),
        ("http://0x7f000001/", "127.0.0.1", B::Loopback),
        ("http://0X7F000001/", "127.0.0.1", B::Loopback),
        ("http://0x7f.0.0.1/", "127.0.0.1", B::Loopback),
        ("http://0177.0.0.1/", "127.0.0.1", B::Loopback),
        ("http://000000177.0.0.01/", "127.0.0.1", B::Loopback),
        ("http://127.1/", "127.0.0.1", B::Loopback),
        ("http://127.0.1/", "127.0.0.1", B::Loopback),
        ("http://0x7f.1/", "127.0.0.1", B::Loopback),
        ("http://127.0.0.1./", "127.0.0.1", B::Loopback),
        ("ssh://git@0177.0.0.1/x", "127.0.0.1", B::Loopback),
        ("git://2130706433/x", "127.0.0.1", B::Loopback),
        ("ssh://[::1]:22/x", "[::1]", B::Loopback),
        ("http://[::ffff:127.0.0.1]/", "[::ffff:127.0.0.1]", B::Loopback),
        ("http://[::ffff:7f00:1]/", "[::ffff:127.0.0.1]", B::Loopback),
        ("http://[::ffff:0:7f00:1]/", "[::ffff:0:7f00:1]", B::Loopback),
        ("http://[::127.0.0.1]/", "[::7f00:1]", B::Loopback),
        ("http://[64:ff9b::7f00:1]/", "[64:ff9b::7f00:1]", B::Loopback),
        ("http://[2002:7f00:1::]/", "[2002:7f00:1::]", B::Loopback),
        ("http://0/", "0.0.0.0", B::Localhost),
        ("http://0.0.0.0/", "0.0.0.0", B::Localhost),
        ("git://0x/x", "0.0.0.0", B::Localhost),
        ("http://123/", "0.0.0.123", B::Localhost),
        ("http://[::]/", "[::]", B::Localhost),
        ("http://[::ffff:0.0.0.0]/", "[::ffff:0.0.0.0]", B::Localhost),
        ("http://localhost/", "localhost", B::Localhost),
        ("ssh://git@LocalHost.:22/x", "localhost.", B::Localhost),
        ("http://foo.localhost/", "foo.localhost", B::Localhost),
        ("http://10.1.2.3/", "10.1.2.3", B::LocalNetwork),
        ("http://012.1/", "10.0.0.1", B::LocalNetwork),
        ("http://167772161/", "10.0.0.1", B::LocalNetwork),
        ("http://172.16.0.1/", "172.16.0.1", B::LocalNetwork),
        ("http://172.31.255.255/", "172.31.255.255", B::LocalNetwork),
        ("http://192.168.1.1/", "192.168.1.1", B::LocalNetwork),
        ("http://0xc0a80101/", "192.168.1.1", B::LocalNetwork),
        ("http://[::ffff:192.168.1.1]/", "[::ffff:192.168.1.1]", B::LocalNetwork),
        ("http://[64:ff9b::10.0.0.1]/", "[64:ff9b::a00:1]", B::LocalNetwork),
        ("http://[64:ff9b:1::1]/", "[64:ff9b:1::1]", B::LocalNetwork),
        ("http://[fd00::1]/", "[fd00::1]", B::LocalNetwork),
        ("http://[fc00::1]/", "[fc00::1]", B::LocalNetwork),
        ("http://[fec0::1]/", "[fec0::1]", B::LocalNetwork),
        ("http://224.0.0.1/", "224.0.0.1", B::LocalNetwork),
        ("http://[ff02::1]/", "[ff02::1]", B::LocalNetwork),
        ("http://169.254.169.254/", "169.254.169.254", B::LinkLocal),
        ("http://2852039166/", "169.254.169.254", B::LinkLocal),
        ("http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254", B::LinkLocal),
        ("http://[::ffff:169.254.169.254]/", "[::ffff:169.254.169.254]", B::LinkLocal),
        ("http://[fe80::1]/", "[fe80::1]", B::LinkLocal),
        ("http://100.64.0.1/", "100.64.0.1", B::SharedAddressSpace),
        ("http://100.127.255.255/", "100.127.255.255", B::SharedAddressSpace),
        ("http://255.255.255.255/", "255.255.255.255", B::LimitedBroadcast),
        ("http://0xffffffff/", "255.255.255.255", B::LimitedBroadcast),
        ("http://4294967295/", "255.255.255.255", B::LimitedBroadcast),
    ];
    for (input, canonical, reason) in rows {
        assert_eq!(
            parse_mirror_url(input, STRICT).unwrap_err(),
            UrlError::Blocked(*reason),
            "{input}"
        );
        let parsed = parse_mirror_url(input, LOCAL).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.host_str(), *canonical, "{input}");
        if matches!(parsed.host, Host::Ip(_)) {
            assert!(
                parsed.url.contains(canonical),
                "{input} stored as {}",
                parsed.url
            );
        }
    }
}

fn check_address_rows(rows: &[(&str, Result<(), B>)]) {
    for (ip, expected) in rows {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(check_address(ip, STRICT), *expected, "{ip}");
        assert_eq!(
            check_address(ip, LOCAL),
            Ok(()),
            "{ip} with local network allowed"
        );
    }
}

#[test]
#[rustfmt::skip]
fn check_address_ranges() {
    check_address_rows(&[
        ("203.0.113.7", Ok(())),
        ("198.51.100.1", Ok(())),
        ("8.8.8.8", Ok(())),
        ("2001:db8::1", Ok(())),
        ("2606:4700::1111", Ok(())),
        ("64:ff9b::cb00:7107", Ok(())),
        ("2002:cb00:7107::1", Ok(())),
        ("0.1.2.3", Err(B::Localhost)),
        ("::", Err(B::Localhost)),
        ("127.255.255.254", Err(B::Loopback)),
        ("::1", Err(B::Loopback)),
        ("::7f00:1", Err(B::Loopback)),
        ("10.255.255.255", Err(B::LocalNetwork)),
        ("172.15.255.255", Ok(())),
        ("172.16.0.0", Err(B::LocalNetwork)),
        ("192.167.255.255", Ok(())),
        ("192.168.0.0", Err(B::LocalNetwork)),
        ("fdff:ffff::1", Err(B::LocalNetwork)),
        ("feff::1", Err(B::LocalNetwork)),
        ("239.255.255.255", Err(B::LocalNetwork)),
        ("169.254.0.1", Err(B::LinkLocal)),
        ("febf::1", Err(B::LinkLocal)),
        ("100.63.255.255", Ok(())),
        ("100.64.0.0", Err(B::SharedAddressSpace)),
        ("255.255.255.255", Err(B::LimitedBroadcast)),
        ("255.255.255.254", Ok(())),
    ]);
}

#[test]
#[rustfmt::skip]
fn block_reasons_display_gitlab_wording() {
    let rows: &[(UrlError, &str)] = &[
        (UrlError::Blank, "can't be blank"),
        (UrlError::Blocked(B::InvalidUri), "is blocked: URI is invalid"),
        (UrlError::Blocked(B::Scheme), "is blocked: Only allowed schemes are http, https, ssh, git"),
        (UrlError::Blocked(B::Username), "is blocked: Username needs to start with an alphanumeric character"),
        (UrlError::Blocked(B::Hostname), "is blocked: Hostname or IP address invalid"),
        (UrlError::Blocked(B::Localhost), "is blocked: Requests to localhost are not allowed"),
        (UrlError::Blocked(B::Loopback), "is blocked: Requests to loopback addresses are not allowed"),
        (UrlError::Blocked(B::LocalNetwork), "is blocked: Requests to the local network are not allowed"),
        (UrlError::Blocked(B::LinkLocal), "is blocked: Requests to the link local network are not allowed"),
        (UrlError::Blocked(B::SharedAddressSpace), "is blocked: Requests to the shared address space are not allowed"),
        (UrlError::Blocked(B::LimitedBroadcast), "is blocked: Requests to the limited broadcast address are not allowed"),
        (UrlError::Blocked(B::HostTooLong), "is blocked: Host is too long (maximum is 1024 characters)"),
        (UrlError::Blocked(B::Unresolvable), "is blocked: Host cannot be resolved or invalid"),
    ];
    for (error, text) in rows {
        assert_eq!(error.to_string(), *text);
    }
    let schemes = [Scheme::Http, Scheme::Https, Scheme::Ssh, Scheme::Git];
    let names: Vec<_> = schemes
        .iter()
        .map(|s| (s.as_str(), s.default_port()))
        .collect();
    assert_eq!(
        names,
        [("http", 80), ("https", 443), ("ssh", 22), ("git", 9418)]
    );
}

fn check_masked(rows: &[(&str, Option<&str>, bool, &str)]) {
    for (url, user, has_password, expected) in rows {
        assert_eq!(
            masked_url(url, *user, *has_password),
            *expected,
            "{url} {user:?} {has_password}"
        );
    }
}

#[test]
#[rustfmt::skip]
fn masked_url_follows_safe_url() {
    check_masked(&[
        ("https://gitlab.example.com/root/mirror.git", None, false, "https://gitlab.example.com/root/mirror.git"),
        ("HTTPS://Host.example:8443/X?y#z", None, false, "HTTPS://Host.example:8443/X?y#z"),
        ("https://host.example/x.git", Some("user"), true, "https://*****:*****@host.example/x.git"),
        ("ssh://host.example/x.git", Some("git"), false, "ssh://git@host.example/x.git"),
        ("ssh://host.example/x.git", Some("git"), true, "ssh://git:*****@host.example/x.git"),
        ("ssh://host.example/x.git", Some("Git"), false, "ssh://*****@host.example/x.git"),
        ("https://host.example/x", Some("oauth2"), false, "https://*****@host.example/x"),
        ("https://host.example/", None, true, "https://*****:*****@host.example/"),
        ("https://host.example/", Some(""), false, "https://host.example/"),
        ("https://alice:tok@host.example/x", None, false, "https://*****:*****@host.example/x"),
        ("ssh://git@host.example/x", None, false, "ssh://git@host.example/x"),
        ("https://@host.example/x", None, false, "https://host.example/x"),
        ("not a url", Some("alice"), true, "not a url"),
    ]);
}

fn check_full(rows: &[(&str, Option<&str>, Option<&str>, &str)]) {
    for (url, user, password, expected) in rows {
        let full = url_with_credentials(url, *user, *password);
        assert_eq!(full.expose_secret(), *expected, "{url} {user:?}");
    }
}

#[test]
#[rustfmt::skip]
fn url_with_credentials_percent_encodes() {
    check_full(&[
        ("https://host.example/x.git", Some("alice"), Some("p@ss:w%rd/?#"), "https://alice:p%40ss%3Aw%25rd%2F%3F%23@host.example/x.git"),
        ("https://host.example/x.git", Some("a b"), Some("tok-1._~"), "https://a%20b:tok-1._~@host.example/x.git"),
        ("ssh://host.example/x", Some("git"), None, "ssh://git@host.example/x"),
        ("https://host.example/x", None, None, "https://host.example/x"),
        ("https://host.example/x", Some(""), Some(""), "https://host.example/x"),
        ("https://host.example/", None, Some("tok"), "https://:tok@host.example/"),
        ("https://old:creds@host.example/x", Some("new"), None, "https://new@host.example/x"),
        ("not a url", Some("alice"), Some("tok"), "not a url"),
    ]);
}

fn check_scrub(rows: &[(&str, &[&str], &str)]) {
    for (text, secrets, expected) in rows {
        let once = scrub(text, secrets);
        assert_eq!(once, *expected, "{text:?} {secrets:?}");
        assert_eq!(scrub(&once, secrets), once, "idempotent on {text:?}");
    }
}

#[test]
#[rustfmt::skip]
fn scrub_masks_userinfo_and_secrets() {
    const PW: &str = "p@ss:w%rd";
    check_scrub(&[
        ("fatal: unable to access 'https://alice:tok@host.example/x.git/': 403", &[], "fatal: unable to access 'https://*****:*****@host.example/x.git/': 403"),
        ("To ssh://git@host.example/x.git\n ! [rejected]", &[], "To ssh://*****@host.example/x.git\n ! [rejected]"),
        ("a https://u:p@h/ b git://x:y@h2/ c", &[], "a https://*****:*****@h/ b git://*****:*****@h2/ c"),
        ("https://alice:p@ss:w%rd@host.example/x", &[], "https://*****:*****@host.example/x"),
        ("https://alice:p%40ss%3Aw%25rd@host.example/x", &[], "https://*****:*****@host.example/x"),
        ("push to alice:tok@host.example:x.git failed", &[], "push to *****:*****@host.example:x.git failed"),
        ("remote: token p@ss:w%rd is wrong", &[PW], "remote: token ***** is wrong"),
        ("remote: token p%40ss%3Aw%25rd is wrong", &[PW], "remote: token ***** is wrong"),
        ("remote: token p%40ss%3aw%25rd is wrong", &[PW], "remote: token ***** is wrong"),
        ("glpat-abc and glpat-abc", &["glpat-abc"], "***** and *****"),
        ("nothing secret here", &["", "***"], "nothing secret here"),
        ("git@github.com:group/x.git", &[], "git@github.com:group/x.git"),
        ("https://host.example:8443/x.git", &[], "https://host.example:8443/x.git"),
        ("https://*****:*****@host.example/", &[], "https://*****:*****@host.example/"),
        ("", &["tok"], ""),
    ]);
}

proptest! {
    #[test]
    fn scrub_never_panics_and_is_idempotent(
        text in "([a-z:/@%* .]|https://|%40|\n){0,40}",
        secrets in proptest::collection::vec("[a-z:@%*/ ]{0,5}", 0..3),
    ) {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let once = scrub(&text, &secrets);
        prop_assert_eq!(scrub(&once, &secrets), once);
    }

    #[test]
    fn scrub_handles_any_text(text in "\\PC{0,200}", secret in "\\PC{0,8}") {
        let once = scrub(&text, &[&secret]);
        prop_assert_eq!(scrub(&once, &[&secret]), once);
    }

    #[test]
    fn scrub_removes_the_secret(
        before in "[ -~]{0,20}", secret in "[a-z0-9@:%/ ]{1,10}", after in "[ -~]{0,20}",
    ) {
        let text = format!("{before}{secret}{after}");
        prop_assert!(!scrub(&text, &[&secret]).contains(&secret));
    }

    #[test]
    fn parse_never_panics(
        input in "\\PC{0,60}|(https?|ssh|git|HTTP)://[ -~]{0,40}|ssh://[a-z@:%\\[\\]0-9x.]{0,30}",
    ) {
        let _ = parse_mirror_url(&input, STRICT);
        let _ = parse_mirror_url(&input, LOCAL);
    }

    #[test]
    fn credentials_round_trip_through_parse(user in "[a-zA-Z0-9][ -~]{0,12}", password in "[ -~]{1,12}") {
        let full = url_with_credentials("https://host.example/x.git", Some(&user), Some(&password));
        let parsed = parse_mirror_url(full.expose_secret(), STRICT).unwrap();
        prop_assert_eq!(parsed.url, "https://host.example/x.git");
        prop_assert_eq!(parsed.user.as_deref(), Some(user.as_str()));
        prop_assert_eq!(parsed.password.as_ref().map(|p| p.expose_secret()), Some(password.as_str()));
    }
}

#[test]
fn scp_syntax_is_refused_with_the_ssh_url_to_use() {
    let cases = [
        (
            "git@github.com:group/x.git",
            "ssh://git@github.com/group/x.git",
        ),
        (
            "git@203.0.113.10:/srv/x.git",
            "ssh://git@203.0.113.10/srv/x.git",
        ),
        ("deploy@host.example:x", "ssh://deploy@host.example/x"),
    ];
    for (input, suggestion) in cases {
        let err = parse_mirror_url(input, LOCAL).unwrap_err();
        assert_eq!(err, UrlError::ScpSyntax(suggestion.into()), "{input}");
        assert!(err
            .to_string()
            .starts_with("is blocked: URI is invalid: SCP-style"));
        assert!(err.to_string().ends_with(&format!("use {suggestion}")));
    }
    for not_scp in [
        "github.com:group/x.git",
        "ssh://git@host.example/x",
        "/a@b:c",
    ] {
        assert_eq!(scp_equivalent(not_scp), None, "{not_scp}");
    }
}

#[test]
fn ssh_login_users_are_plain_names() {
    for ok in [
        "git",
        "deploy-bot",
        "first.last",
        "APKAEIBAERJR2EXAMPLE",
        "u@realm",
    ] {
        assert_eq!(ssh_login_user_error(ok), None, "{ok}");
    }
    for bad in ["a b", "a\"b", "%u", "${HOME}", "a'b", "a\\b"] {
        assert!(ssh_login_user_error(bad).is_some(), "{bad}");
    }
}
