//! Signing in and out: `/users/sign_in` ("Username or email", "Password", "Sign in"; every
//! wrong login or password gets one message, repeated failures are slowed down by
//! [`crate::service::sessions::sign_in`]) and `/users/sign_out` (a form, so another site cannot
//! sign people out with a link).

use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use secrecy::SecretString;
use serde::Deserialize;

use super::error::WebError;
use super::layout::{anonymous_page, csrf_field, page};
use super::session::{
    local_path, redirect_with, session_cookie, set_cookie, AnonymousCsrf, AnonymousPosted,
    CsrfOnly, Flash, MaybeViewer, Posted, CSRF_FIELD, SESSION_COOKIE,
};
use crate::http::AppState;

#[derive(Deserialize)]
struct SignInQuery {
    redirect_to: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    csrf: AnonymousCsrf,
    Query(q): Query<SignInQuery>,
) -> Response {
    let back = q.redirect_to.as_deref().map(local_path).unwrap_or("/");
    if viewer.is_some() {
        return redirect_with(&state, back, None);
    }
    let body = html! {
        h1 { "Sign in" }
        form class="stack" method="post" action="/users/sign_in" {
            input type="hidden" name=(CSRF_FIELD) value=(csrf.token());
            input type="hidden" name="redirect_to" value=(back);
            div class="field" {
                label for="user_login" { "Username or email" }
                input type="text" id="user_login" name="user[login]" autocomplete="username"
                    autocapitalize="off" autocorrect="off" required autofocus;
            }
            div class="field" {
                label for="user_password" { "Password" }
                input type="password" id="user_password" name="user[password]"
                    autocomplete="current-password" required;
            }
            div { button type="submit" { "Sign in" } }
        }
    };
    anonymous_page(&state, &csrf, "Sign in", body)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(rename = "user[login]", default)]
    login: String,
    #[serde(rename = "user[password]", default)]
    password: String,
    redirect_to: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    AnonymousPosted { form, client }: AnonymousPosted<SignInForm>,
) -> Response {
    let back = form
        .redirect_to
        .as_deref()
        .map(local_path)
        .unwrap_or("/")
        .to_owned();
    let password = SecretString::from(form.password);
    match crate::service::sessions::sign_in(&state, &form.login, password, client).await {
        Ok(session) => {
            use secrecy::ExposeSecret;
            let mut r = redirect_with(&state, &back, None);
            r.headers_mut().append(
                SET_COOKIE,
                session_cookie(&state, session.token.expose_secret()),
            );
            r
        }
        Err(crate::service::error::ServiceError::Refused(why)) => {
            let to = format!(
                "/users/sign_in?redirect_to={}",
                percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC)
            );
            redirect_with(&state, &to, Some(Flash::Alert(why.to_string())))
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

async fn sign_out(State(state): State<AppState>, posted: Posted<CsrfOnly>) -> Response {
    let token = SecretString::from(posted.viewer.session().to_owned());
    if let Err(e) = crate::service::sessions::sign_out(&state, &token).await {
        return WebError::from(e).into_response();
    }
    let mut r = redirect_with(
        &state,
        "/users/sign_in",
        Some(Flash::Notice("Signed out successfully.".into())),
    );
    r.headers_mut()
        .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    r
}

/// A link to `/users/sign_out` shows a button rather than signing out on a GET.
async fn sign_out_page(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
) -> Response {
    let Some(viewer) = viewer else {
        return redirect_with(&state, "/users/sign_in", None);
    };
    let body = html! {
        h1 { "Sign out" }
        form method="post" action="/users/sign_out" {
            (csrf_field(&viewer))
            button type="submit" { "Sign out" }
        }
    };
    page(&state, &viewer, "Sign out", body)
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/users/sign_in", get(show).post(submit))
        .route("/users/sign_out", get(sign_out_page).post(sign_out))
}
