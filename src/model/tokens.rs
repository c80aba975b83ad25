//! Personal access tokens as GitLab has them: scopes that decide what a token may do on the API
//! and over git, an optional expiry date (the token works through that day, UTC), revocation.
//! Pure: the caller hands in today's date.

use super::entities::Millis;

/// A personal access token's record (never the token itself: only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: Millis,
    /// `YYYY-MM-DD`, valid through that day (UTC); `None` never expires.
    pub expires_at: Option<String>,
    pub revoked: bool,
    pub last_used_at: Option<Millis>,
}

impl AccessToken {
    /// Whether the token works on `today` (`YYYY-MM-DD`).
    pub fn active_on(&self, today: &str) -> bool {
        active_on(self.expires_at.as_deref(), self.revoked, today)
    }
}

/// A token scope, GitLab's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Api,
    ReadApi,
    ReadUser,
    ReadRepository,
    WriteRepository,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Api,
        Scope::ReadApi,
        Scope::ReadUser,
        Scope::ReadRepository,
        Scope::WriteRepository,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "api",
            Scope::ReadApi => "read_api",
            Scope::ReadUser => "read_user",
            Scope::ReadRepository => "read_repository",
            Scope::WriteRepository => "write_repository",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// An API request that only reads (GET, HEAD).
    ReadApi,
    /// Any other API request.
    WriteApi,
    /// `GET /user` (the `read_user` scope suffices).
    ReadUser,
    /// Clone or fetch over git.
    Fetch,
    /// Push over git.
    Push,
}

/// The scope GitLab names in an `insufficient_scope` answer for `use_`.
pub fn required_scope(use_: Use) -> Scope {
    match use_ {
        Use::ReadApi | Use::ReadUser => Scope::ReadApi,
        Use::WriteApi => Scope::Api,
        Use::Fetch => Scope::ReadRepository,
        Use::Push => Scope::WriteRepository,
    }
}

/// Whether `scopes` allow `use_`.
pub fn allows(scopes: &[Scope], use_: Use) -> bool {
    let has = |s: Scope| scopes.contains(&s);
    match use_ {
        Use::ReadApi => has(Scope::Api) || has(Scope::ReadApi),
        Use::ReadUser => has(Scope::Api) || has(Scope::ReadApi) || has(Scope::ReadUser),
        Use::WriteApi => has(Scope::Api),
        Use::Fetch => has(Scope::Api) || has(Scope::ReadRepository) || has(Scope::WriteRepository),
        Use::Push => has(Scope::Api) || has(Scope::WriteRepository),
    }
}

/// Whether a token expiring on `expires_at` (`YYYY-MM-DD`) is still valid on `today`
/// (`YYYY-MM-DD`, UTC): it works through its expiry day, as in GitLab.
pub fn active_on(expires_at: Option<&str>, revoked: bool, today: &str) -> bool {
    !revoked && expires_at.is_none_or(|e| e >= today)
}

/// Whether `s` is a calendar date in GitLab's `YYYY-MM-DD` form.
pub fn valid_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
}

/// Scopes stored as text (space-separated names); unknown names are dropped.
pub fn parse_scopes(stored: &str) -> Vec<Scope> {
    let mut v: Vec<Scope> = stored.split_whitespace().filter_map(Scope::parse).collect();
    v.sort();
    v.dedup();
    v
}

/// [`parse_scopes`]'s inverse.
pub fn format_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_decide_what_a_token_may_do() {
        use Scope::*;
        assert!(allows(&[Api], Use::WriteApi) && allows(&[Api], Use::Push));
        assert!(allows(&[ReadApi], Use::ReadApi) && !allows(&[ReadApi], Use::WriteApi));
        assert!(!allows(&[ReadApi], Use::Fetch));
        assert!(allows(&[ReadRepository], Use::Fetch) && !allows(&[ReadRepository], Use::Push));
        assert!(allows(&[WriteRepository], Use::Push) && allows(&[WriteRepository], Use::Fetch));
        assert!(!allows(&[WriteRepository], Use::ReadApi));
        assert!(allows(&[ReadUser], Use::ReadUser) && !allows(&[ReadUser], Use::ReadApi));
        assert_eq!(required_scope(Use::Push), WriteRepository);
    }

    #[test]
    fn a_token_works_through_its_expiry_day() {
        assert!(active_on(Some("2026-12-01"), false, "2026-12-01"));
        assert!(!active_on(Some("2026-11-30"), false, "2026-12-01"));
        assert!(active_on(None, false, "2026-12-01"));
        assert!(!active_on(None, true, "2026-12-01"));
        assert!(valid_date("2026-02-28") && !valid_date("2026-02-30") && !valid_date("26-1-1"));
    }

    #[test]
    fn scopes_round_trip_as_text() {
        let s = parse_scopes("read_api api bogus api");
        assert_eq!(s, [Scope::Api, Scope::ReadApi]);
        assert_eq!(parse_scopes(&format_scopes(&s)), s);
    }
}
