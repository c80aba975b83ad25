//! User accounts as an administrator manages them: the fields of a new or changed user
//! (username, name, e-mail, password) checked with GitLab's rules and messages, and the account
//! state (`active` or `blocked`). Pure: the password arrives as text and leaves as text to hash;
//! hashing and storage are elsewhere.

use crate::model::errors::FieldErrors;
use crate::model::naming::{valid_path, PATH_MESSAGE};

/// GitLab's shortest password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// GitLab's longest password.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// The longest name, username or e-mail address GitLab stores.
const MAX_FIELD_CHARS: usize = 255;

/// Whether an account may sign in and use its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Active,
    /// Blocked by an administrator: every token and session of the user is refused at once.
    Blocked,
}

impl UserState {
    /// GitLab's `state` value, also the stored one.
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
        }
    }

    /// The stored value back; anything unknown reads as blocked (refusing is the safe side).
    pub fn parse(s: &str) -> UserState {
        match s {
            "active" => UserState::Active,
            _ => UserState::Blocked,
        }
    }
}

/// What an administrator sets on a user; `None` leaves a field as it is (on create, the
/// required ones are checked by [`check_new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChanges {
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub admin: Option<bool>,
}

/// Checks a new user: `username`, `name` and `email` are required, as in GitLab's
/// `POST /users`; a password is optional here (a user with only tokens can use the API).
pub fn check_new(c: &AccountChanges) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    for (field, value) in [
        ("username", &c.username),
        ("name", &c.name),
        ("email", &c.email),
    ] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            errors.add(field, "can't be blank");
        }
    }
    check_fields(c, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks the fields a change sets (absent fields are not checked).
pub fn check_changes(c: &AccountChanges) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    for (field, value) in [
        ("username", &c.username),
        ("name", &c.name),
        ("email", &c.email),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            errors.add(field, "can't be blank");
        }
    }
    check_fields(c, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_fields(c: &AccountChanges, errors: &mut FieldErrors) {
    if let Some(u) = c.username.as_deref().filter(|u| !u.trim().is_empty()) {
        if !valid_path(u) {
            errors.add("username", PATH_MESSAGE);
        }
    }
    if let Some(n) = c.name.as_deref() {
        if n.chars().count() > MAX_FIELD_CHARS {
            errors.add("name", "is too long (maximum is 255 characters)");
        }
        if n.chars().any(char::is_control) {
            errors.add("name", "cannot contain control characters");
        }
    }
    if let Some(e) = c.email.as_deref().filter(|e| !e.trim().is_empty()) {
        if !valid_email(e) {
            errors.add("email", "is invalid");
        }
    }
    if let Some(p) = c.password.as_deref() {
        let n = p.chars().count();
        if n < MIN_PASSWORD_CHARS {
            errors.add("password", "is too short (minimum is 8 characters)");
        } else if n > MAX_PASSWORD_CHARS {
            errors.add("password", "is too long (maximum is 128 characters)");
        }
    }
}

/// Whether `email` looks like an address mail can be sent to: one `@` with a local part and a
/// dotted domain, no spaces, no control characters, no angle brackets or commas (which would let
/// one field name several recipients in a mail header).
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.chars().count() <= MAX_FIELD_CHARS
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"' | '\\')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_user(username: &str, name: &str, email: &str, password: Option<&str>) -> AccountChanges {
        AccountChanges {
            username: Some(username.into()),
            name: Some(name.into()),
            email: Some(email.into()),
            password: password.map(Into::into),
            admin: None,
        }
    }

    #[test]
    fn a_complete_user_passes() {
        assert_eq!(
            check_new(&new_user(
                "alice",
                "Alice",
                "alice@example.com",
                Some("s3cret-pass")
            )),
            Ok(())
        );
        assert_eq!(
            check_new(&new_user("bob", "Bob", "bob@example.com", None)),
            Ok(())
        );
    }

    #[test]
    fn required_fields_are_named() {
        let errors = check_new(&AccountChanges::default()).unwrap_err();
        for f in ["username", "name", "email"] {
            assert_eq!(errors.0[f], vec!["can't be blank".to_owned()], "{f}");
        }
    }

    #[test]
    fn bad_fields_get_gitlab_messages() {
        let errors = check_new(&new_user("-x", "X", "not-an-email", Some("short"))).unwrap_err();
        assert_eq!(errors.0["username"], vec![PATH_MESSAGE.to_owned()]);
        assert_eq!(errors.0["email"], vec!["is invalid".to_owned()]);
        assert_eq!(
            errors.0["password"],
            vec!["is too short (minimum is 8 characters)".to_owned()]
        );
        let long = "p".repeat(129);
        let errors = check_changes(&AccountChanges {
            password: Some(long),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            errors.0["password"],
            vec!["is too long (maximum is 128 characters)".to_owned()]
        );
    }

    #[test]
    fn changes_check_only_what_they_set() {
        assert_eq!(
            check_changes(&AccountChanges {
                admin: Some(true),
                ..Default::default()
            }),
            Ok(())
        );
        let errors = check_changes(&AccountChanges {
            name: Some(" ".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(errors.0["name"], vec!["can't be blank".to_owned()]);
    }

    #[test]
    fn emails_that_could_name_several_recipients_are_refused() {
        for bad in [
            "a@b",
            "@b.c",
            "a@",
            "a b@c.d",
            "a@b.c, x@y.z",
            "<a@b.c>",
            "a@b..c",
            "a@.b.c",
            "a@b.c.",
            "a@b@c.d",
            "a\n@b.c",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
        for good in ["a@b.c", "first.last+tag@sub.example.org", "ü@例え.jp"] {
            assert!(valid_email(good), "{good:?}");
        }
    }

    #[test]
    fn unknown_states_read_as_blocked() {
        assert_eq!(UserState::parse("active"), UserState::Active);
        assert_eq!(UserState::parse("blocked"), UserState::Blocked);
        assert_eq!(UserState::parse("deactivated"), UserState::Blocked);
    }
}
