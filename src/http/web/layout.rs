//! The page shell every screen shares (head with the hashed stylesheet and script, the top bar
//! with the signed-in user's navigation and a sign-out form, the one-time flash message, a
//! skip link to the content), and the small pieces pages repeat: the CSRF field, a status
//! badge (a word and a colour, never colour alone), a relative time with the exact one on hover.

use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::assets::{css_path, js_path};
use super::session::{clear_flash, AnonymousCsrf, Flash, Viewer, CSRF_FIELD};
use crate::http::AppState;
use crate::model::entities::Millis;
use crate::model::status::UpdateStatus;
use crate::model::time::iso8601_millis;

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · pushmirror" }
            link rel="stylesheet" href=(css_path());
            script src=(js_path()) defer {}
        }
    }
}

fn flash_box(flash: Option<&Flash>) -> Markup {
    html! {
        @match flash {
            Some(Flash::Notice(text)) => div class="flash notice" role="status" { (text) },
            Some(Flash::Alert(text)) => div class="flash alert" role="alert" { (text) },
            None => {},
        }
    }
}

/// The hidden CSRF field of a signed-in viewer's form.
pub(in crate::http) fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf_token()); }
}

/// A signed-in page: `body` inside the shell, the flash shown (and then deleted).
pub(in crate::http) fn page(
    state: &AppState,
    viewer: &Viewer,
    title: &str,
    body: Markup,
) -> Response {
    let user = &viewer.user;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#content" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "pushmirror" }
                    nav aria-label="Main" {
                        ul {
                            li { a href="/dashboard/projects" { "Projects" } }
                            li { a href="/dashboard/groups" { "Groups" } }
                            li { a href="/projects/new" { "New project" } }
                            li { a href="/" { "Mirrors" } }
                            li { a href="/-/profile/personal_access_tokens" { "Access tokens" } }
                            li { a href="/-/user_settings/ssh_keys" { "SSH Keys" } }
                            @if user.is_admin { li { a href="/admin" { "Admin" } } }
                            li { span { "Signed in as " strong { (user.username) } } }
                            li {
                                form class="inline" method="post" action="/users/sign_out" {
                                    (csrf_field(viewer))
                                    button class="link" type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                }
                main id="content" tabindex="-1" {
                    (flash_box(viewer.flash()))
                    (body)
                }
            }
        }
    };
    let mut response = markup.into_response();
    if viewer.flash().is_some() {
        response
            .headers_mut()
            .append(SET_COOKIE, clear_flash(state));
    }
    response
}

/// A signed-out page (the sign-in form): sets the browser's CSRF cookie when it has none.
pub(in crate::http) fn anonymous_page(
    state: &AppState,
    csrf: &AnonymousCsrf,
    title: &str,
    body: Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header class="top" { a class="brand" href="/" { "pushmirror" } }
                main id="content" {
                    (flash_box(csrf.flash.as_ref()))
                    (body)
                }
            }
        }
    };
    let mut response = markup.into_response();
    if let Some(cookie) = &csrf.new_cookie {
        response.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    if csrf.flash.is_some() {
        response
            .headers_mut()
            .append(SET_COOKIE, clear_flash(state));
    }
    response
}

/// How a mirror's `update_status` reads to a person.
pub(in crate::http) fn status_word(status: UpdateStatus, enabled: bool) -> &'static str {
    if !enabled {
        return "Disabled";
    }
    match status {
        UpdateStatus::None => "Never updated",
        UpdateStatus::Started => "Updating",
        UpdateStatus::Finished => "Up to date",
        UpdateStatus::ToRetry => "Retrying",
        UpdateStatus::Failed => "Failed",
    }
}

/// A status badge: the word and a colour, with the wire status as a data attribute.
pub(in crate::http) fn status_badge(status: UpdateStatus, enabled: bool) -> Markup {
    let class = if enabled { status.as_str() } else { "disabled" };
    html! {
        span class={ "status status-" (class) } data-status=(status.as_str()) {
            (status_word(status, enabled))
        }
    }
}

/// "3 minutes ago" as of `now`, the exact UTC time on hover; "never" without a time.
pub(in crate::http) fn time_ago(at: Option<Millis>, now: Millis) -> Markup {
    match at.and_then(|ms| iso8601_millis(ms).map(|iso| (ms, iso))) {
        Some((ms, iso)) => html! {
            time datetime=(iso) title=(exact_time(ms)) data-relative { (relative(now - ms)) }
        },
        None => html! { span class="muted" { "never" } },
    }
}

/// A time as people read it, in UTC: `2026-12-02 15:04:05 UTC`.
pub(in crate::http) fn exact_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A duration in the past as words, as the page's script also writes it.
pub(in crate::http) fn relative(ago_ms: Millis) -> String {
    let s = (ago_ms.max(0) + 500) / 1000;
    if s < 45 {
        return "just now".into();
    }
    for (unit, len) in [
        ("year", 31_536_000),
        ("month", 2_592_000),
        ("day", 86_400),
        ("hour", 3_600),
        ("minute", 60),
    ] {
        let n = s / len;
        if n >= 1 {
            return format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
        }
    }
    "1 minute ago".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_as_people_say_them() {
        assert_eq!(relative(10_000), "just now");
        assert_eq!(relative(50_000), "1 minute ago");
        assert_eq!(relative(3 * 60_000 + 10_000), "3 minutes ago");
        assert_eq!(relative(2 * 3_600_000), "2 hours ago");
        assert_eq!(relative(86_400_000), "1 day ago");
    }

    #[test]
    fn a_status_is_a_word_not_only_a_colour() {
        let s = status_badge(UpdateStatus::Failed, true).into_string();
        assert!(s.contains("status-failed") && s.contains(">Failed<"), "{s}");
        let s = status_badge(UpdateStatus::Finished, false).into_string();
        assert!(s.contains("Disabled"), "{s}");
    }
}
