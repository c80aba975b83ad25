//! Memberships as GitLab grants them: an optional expiry date after which a membership grants
//! nothing, the view of a project's or group's members that counts every ancestor group (the
//! highest access wins), and the rule that a group always keeps an Owner. Pure: the caller hands
//! in today's date.

use crate::model::access::AccessLevel;
use crate::model::entities::Member;

/// GitLab's `expires_at` error for a date before today.
pub const PAST_MESSAGE: &str = "cannot be a date in the past";

/// Whether a membership expiring on `expires_at` (`YYYY-MM-DD`) still grants access on `today`:
/// through its expiry day, nothing from the day after.
pub fn active_on(expires_at: Option<&str>, today: &str) -> bool {
    expires_at.is_none_or(|e| e >= today)
}

/// An `expires_at` as clients send it (Grape's `DateTime`: `YYYY-MM-DD` or a full timestamp,
/// whose UTC date counts) as the stored `YYYY-MM-DD`; `None` when it is no date.
pub fn parse_expiry(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return (raw.len() == 10).then(|| d.format("%Y-%m-%d").to_string());
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.naive_utc().date().format("%Y-%m-%d").to_string())
}

/// Whether `expires_at` may be set on `today` (GitLab refuses dates in the past).
pub fn expiry_allowed(expires_at: &str, today: &str) -> bool {
    expires_at >= today
}

/// The members of a project or group counting every ancestor group: one entry per user, the
/// membership with the highest access (on a tie, the one listed first: give the direct
/// memberships first, then the nearest ancestor's), by user id.
pub fn highest_per_user(memberships: Vec<Member>) -> Vec<Member> {
    let mut best: std::collections::BTreeMap<i64, Member> = std::collections::BTreeMap::new();
    for m in memberships {
        match best.get(&m.user.id) {
            Some(kept) if kept.access_level >= m.access_level => {}
            _ => {
                best.insert(m.user.id, m);
            }
        }
    }
    best.into_values().collect()
}

/// Whether changing or removing `member` of a group would leave the group without an Owner,
/// given how many active Owners it has: GitLab refuses both for its last Owner.
pub fn is_last_owner(member: &Member, active_owners: i64) -> bool {
    member.access_level == AccessLevel::Owner && active_owners <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entities::User;

    fn member(user: i64, level: AccessLevel, created_at: i64) -> Member {
        Member {
            user: User {
                id: user,
                username: format!("u{user}"),
                name: format!("u{user}"),
                email: None,
                is_admin: false,
                state: crate::model::accounts::UserState::Active,
                created_at: 0,
            },
            access_level: level,
            created_at,
            expires_at: None,
        }
    }

    #[test]
    fn a_membership_works_through_its_expiry_day() {
        assert!(active_on(Some("2026-12-01"), "2026-12-01"));
        assert!(!active_on(Some("2026-11-30"), "2026-12-01"));
        assert!(active_on(None, "2026-12-01"));
        assert!(expiry_allowed("2026-12-01", "2026-12-01"));
        assert!(!expiry_allowed("2026-11-30", "2026-12-01"));
    }

    #[test]
    fn expiry_dates_parse_as_grape_does() {
        assert_eq!(parse_expiry("2026-02-28").as_deref(), Some("2026-02-28"));
        assert_eq!(
            parse_expiry("2026-02-28T23:30:00-02:00").as_deref(),
            Some("2026-03-01"),
            "a timestamp counts by its UTC date"
        );
        for bad in ["2026-02-30", "26-1-1", "tomorrow", "2026-1-01", ""] {
            assert_eq!(parse_expiry(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_highest_access_wins_and_the_first_listed_on_a_tie() {
        use AccessLevel::*;
        let merged = highest_per_user(vec![
            member(2, Developer, 1),
            member(1, Guest, 1),
            member(2, Maintainer, 2),
            member(1, Guest, 2),
            member(3, Owner, 3),
        ]);
        let got: Vec<_> = merged
            .iter()
            .map(|m| (m.user.id, m.access_level, m.created_at))
            .collect();
        assert_eq!(got, [(1, Guest, 1), (2, Maintainer, 2), (3, Owner, 3)]);
    }

    #[test]
    fn a_group_keeps_its_last_owner() {
        use AccessLevel::*;
        assert!(is_last_owner(&member(1, Owner, 0), 1));
        assert!(!is_last_owner(&member(1, Owner, 0), 2));
        assert!(!is_last_owner(&member(1, Maintainer, 0), 1));
    }
}
