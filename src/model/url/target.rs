//! A mirror's target as a request carries it: the URL and, beside it, the credentials to push
//! with. Each face builds one at its edge (the GitLab API splits the userinfo GitLab clients
//! write into `url`; the settings page has "Username" and "Password" fields), and the service
//! checks the two together with [`super::parse_mirror_target`]; nothing splices credentials into
//! a URL string to have them parsed back out.

use secrecy::{ExposeSecret, SecretString};

use super::{parse_mirror_url, NetworkPolicy};

/// A user name and a password (or token) to push with. `Debug` prints neither: both are
/// `SecretString`s (a user name can be a token too).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The login, percent-decoded; `None` when absent or blank.
    pub user: Option<SecretString>,
    /// The password or token, percent-decoded; `None` when absent or blank.
    pub password: Option<SecretString>,
}

impl Credentials {
    /// Credentials from typed text; blank parts count as absent, and `None` when both are.
    pub fn typed(user: Option<&str>, password: Option<&str>) -> Option<Credentials> {
        let part = |s: Option<&str>| {
            s.filter(|s| !s.is_empty())
                .map(|s| SecretString::from(s.to_owned()))
        };
        Credentials {
            user: part(user),
            password: part(password),
        }
        .non_empty()
    }

    /// The user name, exposed for checking and for comparing with the stored one.
    pub fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|s| s.expose_secret())
    }

    /// The password, exposed for checking and for comparing with the stored one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|s| s.expose_secret())
    }

    /// `self`, unless both parts are absent.
    fn non_empty(self) -> Option<Credentials> {
        (self.user.is_some() || self.password.is_some()).then_some(self)
    }
}

/// Where a mirror pushes to, as a create or update request names it.
#[derive(Debug, Clone, Default)]
pub struct MirrorTarget {
    /// The URL without credentials, unless it does not parse (then as typed, so that the
    /// service answers GitLab's error for it).
    pub url: String,
    /// The credentials to push with, if any.
    pub credentials: Option<Credentials>,
}

impl MirrorTarget {
    /// A URL as GitLab clients send it, credentials in its userinfo, split into the two. The
    /// split reads only the syntax (the address rules are the service's, with the operator's
    /// policy); a URL that does not parse stays whole, credentials and all, so that the service
    /// refuses it with GitLab's message.
    pub fn from_url(raw: &str) -> MirrorTarget {
        let syntax_only = NetworkPolicy {
            allow_local_network: true,
        };
        match parse_mirror_url(raw, syntax_only) {
            Ok(parsed) => MirrorTarget {
                url: parsed.url,
                credentials: Credentials {
                    user: parsed.user.map(SecretString::from),
                    password: parsed.password,
                }
                .non_empty(),
            },
            Err(_) => MirrorTarget {
                url: raw.to_owned(),
                credentials: None,
            },
        }
    }

    /// `self` with `typed` over its credentials: each typed part replaces the one from the URL,
    /// which is otherwise kept (the settings page's "Username" and "Password" fields).
    pub fn with_typed(self, typed: Option<Credentials>) -> MirrorTarget {
        let Some(typed) = typed else {
            return self;
        };
        let from_url = self.credentials.unwrap_or_default();
        MirrorTarget {
            url: self.url,
            credentials: Credentials {
                user: typed.user.or(from_url.user),
                password: typed.password.or(from_url.password),
            }
            .non_empty(),
        }
    }

    /// `self` with the parts it lacks taken from `stored` (an edit that leaves "Username" or
    /// "Password" blank keeps the stored one).
    pub fn or_stored(self, stored: &Credentials) -> MirrorTarget {
        let given = self.credentials.unwrap_or_default();
        MirrorTarget {
            url: self.url,
            credentials: Credentials {
                user: given.user.or_else(|| stored.user.clone()),
                password: given.password.or_else(|| stored.password.clone()),
            }
            .non_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_mirror_target, BlockReason, UrlError};
    use super::*;

    fn parts(t: &MirrorTarget) -> (&str, Option<&str>, Option<&str>) {
        let c = t.credentials.as_ref();
        (
            t.url.as_str(),
            c.and_then(Credentials::user),
            c.and_then(Credentials::password),
        )
    }

    #[test]
    fn the_userinfo_is_split_off_decoded_and_a_bad_url_stays_whole() {
        let t = MirrorTarget::from_url(" https://bot:p%40ss@example.com/a.git ");
        assert_eq!(
            parts(&t),
            ("https://example.com/a.git", Some("bot"), Some("p@ss"))
        );
        let t = MirrorTarget::from_url("https://127.0.0.1/a.git");
        assert_eq!(parts(&t), ("https://127.0.0.1/a.git", None, None));
        let t = MirrorTarget::from_url("ftp://u:p@x/y");
        assert_eq!(parts(&t), ("ftp://u:p@x/y", None, None));
    }

    #[test]
    fn typed_parts_replace_the_urls_and_blank_ones_keep_what_is_stored() {
        let t = MirrorTarget::from_url("https://old:secret@example.com/a.git");
        let t = t.with_typed(Credentials::typed(Some(""), Some("new")));
        assert_eq!(
            parts(&t),
            ("https://example.com/a.git", Some("old"), Some("new"))
        );
        let stored = Credentials::typed(Some("bot"), Some("kept")).unwrap();
        let t = MirrorTarget::from_url("https://e.com/a.git")
            .with_typed(Credentials::typed(Some(""), Some("fresh")))
            .or_stored(&stored);
        assert_eq!(
            parts(&t),
            ("https://e.com/a.git", Some("bot"), Some("fresh"))
        );
        assert!(Credentials::typed(Some(""), None).is_none());
    }

    #[test]
    fn given_credentials_meet_the_userinfo_rules_where_the_grammar_checks_them() {
        let strict = NetworkPolicy::default();
        let check = |url: &str, user: &str, password: &str| {
            let target = MirrorTarget {
                url: url.to_owned(),
                credentials: Credentials::typed(Some(user), Some(password)),
            };
            parse_mirror_target(&target, strict).map(|p| (p.url, p.user, p.password.is_some()))
        };
        let blocked = |r| Err(UrlError::Blocked(r));
        assert_eq!(
            check("https://e.com/a.git", "bot", "pw"),
            Ok(("https://e.com/a.git".into(), Some("bot".into()), true))
        );
        assert_eq!(
            check("https://e.com/a", "-oProxyCommand=x", ""),
            blocked(BlockReason::Username)
        );
        assert_eq!(
            check("https://e.com/a", "bot", "a\nb"),
            blocked(BlockReason::InvalidUri)
        );
        // The scheme is judged before the user name, the host after it.
        assert_eq!(
            check("ftp://e.com/a", "-x", ""),
            blocked(BlockReason::Scheme)
        );
        assert_eq!(
            check("https://127.0.0.1/a", "-x", ""),
            blocked(BlockReason::Username)
        );
        assert_eq!(
            check("https://127.0.0.1/a", "bot", ""),
            blocked(BlockReason::Loopback)
        );
        // The URL's own userinfo is still checked, and given credentials replace it.
        assert_eq!(
            check("https://-x@e.com/a", "bot", ""),
            blocked(BlockReason::Username)
        );
        assert_eq!(
            check("https://old:pw@e.com/a", "bot", ""),
            Ok(("https://e.com/a".into(), Some("bot".into()), false))
        );
    }
}
