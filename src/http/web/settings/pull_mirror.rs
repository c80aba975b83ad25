//! The "Pull from a remote repository" section of the repository settings, beside push
//! mirrors: the project's one pull mirror (direction, masked URL, status, paused, last sync,
//! diverged refs, last error, "Update now", "Remove") and its form (upstream URL, username and
//! password apart from it, enabled, sync interval, overwrite diverged branches, which branches:
//! all, protected only, or a regular expression; for `ssh://` the host keys to pin, and the
//! mirror's generated public key shown to give the upstream), all through
//! [`crate::service::pull_mirrors`]. As for push mirrors, the password is never written into a
//! page, and a blank one keeps the stored credentials while the URL stays the same. "Update
//! now" is for anyone who may push (the project page shows it too); the rest for Maintainers.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::{after_change, page_path, project_path, settings_project};
use crate::http::web::error::WebError;
use crate::http::web::layout::csrf_field;
use crate::http::web::pull_mirrors;
use crate::http::web::session::{back_with, redirect_with, CsrfOnly, Flash, Posted, Viewer};
use crate::http::web::ProjectPath;
use crate::http::AppState;
use crate::model::access::Caller;
use crate::model::entities::Project;
use crate::model::host_keys::fingerprints;
use crate::model::pull::PullMirror;
use crate::model::url::{Credentials, MirrorTarget};
use crate::service::error::ServiceError;
use crate::service::projects::find_project;
use crate::service::pull_mirrors::{
    configure, default_settings, delete, pull_mirror_of, request_sync, PullRequest,
};
use crate::service::upstreams::UpstreamRequest;

/// Where the section starts on the settings page.
const ANCHOR: &str = "#pull_mirror";

/// The pull-mirror form as posted. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub(super) struct PullForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    enabled: Option<String>,
    #[serde(default)]
    interval: String,
    overwrite_diverged: Option<String>,
    /// `all`, `protected` or `regex`.
    branches: Option<String>,
    #[serde(default)]
    mirror_branch_regex: String,
    /// An `ssh://` upstream's host keys to pin (`known_hosts` lines); blank keeps the pinned.
    #[serde(default)]
    host_keys: String,
}

impl PullForm {
    /// The use case's request: every setting as the form shows it, or the person's mistake.
    fn request(&self) -> Result<PullRequest, String> {
        let interval_secs = match self.interval.trim() {
            "" => None,
            n => Some(
                n.parse::<i64>()
                    .map_err(|_| "Interval is not a number".to_owned())?,
            ),
        };
        let regex = self.mirror_branch_regex.trim();
        let (protected, regex) = match self.branches.as_deref() {
            Some("protected") => (true, None),
            Some("regex") if regex.is_empty() => {
                return Err("Mirror branch regex can't be blank".into())
            }
            Some("regex") => (false, Some(regex.to_owned())),
            _ => (false, None),
        };
        let typed = Credentials::typed(Some(self.username.trim()), Some(&self.password));
        let host_keys: Vec<String> = self
            .host_keys
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(PullRequest {
            upstream: Some(UpstreamRequest {
                target: MirrorTarget::from_url(self.url.trim()).with_typed(typed),
                host_keys: (!host_keys.is_empty()).then_some(host_keys),
                ..UpstreamRequest::default()
            }),
            enabled: Some(self.enabled.is_some()),
            only_protected_branches: Some(protected),
            overwrite_diverged: Some(self.overwrite_diverged.is_some()),
            mirror_branch_regex: Some(regex),
            trigger_builds: None,
            interval_secs,
        })
    }
}

/// The form, showing `m`'s settings (or a new mirror's defaults).
fn form(viewer: &Viewer, path: &ProjectPath, m: Option<&PullMirror>) -> Markup {
    let s = m.map_or_else(default_settings, |m| m.settings.clone());
    let url = m.map(|m| m.upstream.url.as_str()).unwrap_or("");
    let choice = if s.mirror_branch_regex.is_some() {
        "regex"
    } else if s.only_protected_branches {
        "protected"
    } else {
        "all"
    };
    let radio = |value: &str, label: &str| {
        let id = format!("pull_branches_{value}");
        html! {
            div class="check" {
                input type="radio" id=(id) name="branches" value=(value) checked[choice == value];
                label for=(id) { (label) }
            }
        }
    };
    let saved = m.is_some_and(|m| m.upstream.has_password || m.upstream.has_user);
    let pinned = m
        .and_then(|m| m.upstream.ssh_known_hosts.as_deref())
        .map(fingerprints)
        .unwrap_or_default();
    html! {
        form class="stack" method="post" action=(project_path(path, "/-/pull_mirror")) {
            (csrf_field(viewer))
            div class="field" {
                label for="pull_url" { "Upstream repository URL" }
                input type="text" id="pull_url" name="url" value=(url) required
                    autocomplete="off" spellcheck="false"
                    placeholder="https://github.com/group/project.git";
            }
            div class="field" {
                label for="pull_username" { "Upstream username" }
                input type="text" id="pull_username" name="username" value=""
                    autocomplete="off" spellcheck="false";
            }
            div class="field" {
                label for="pull_password" { "Upstream password" }
                input type="password" id="pull_password" name="password" value=""
                    autocomplete="new-password" aria-describedby="pull_password_hint";
                span class="hint" id="pull_password_hint" {
                    @if saved {
                        "Credentials are saved. Leave both fields blank to keep them while the URL stays the same."
                    } @else {
                        "For HTTP(S) URLs: a password or an access token."
                    }
                }
            }
            div class="field" {
                label for="pull_host_keys" { "Upstream SSH host keys" }
                @if !pinned.is_empty() {
                    ul class="fingerprints" id="pull_pinned_host_keys" {
                        @for f in &pinned { li { code { (f.sha256) } " (" (f.key_type) ")" } }
                    }
                }
                textarea id="pull_host_keys" name="host_keys" rows="2" spellcheck="false"
                    aria-describedby="pull_host_keys_hint" {}
                span class="hint" id="pull_host_keys_hint" {
                    "For ssh:// URLs: the upstream's host keys in known_hosts form (as "
                    code { "ssh-keyscan" } " prints them, checked against what its administrator "
                    "publishes); they are pinned. Blank keeps those pinned. A key pair is made "
                    "for the mirror: give the upstream its public key."
                }
            }
            div class="check" {
                input type="checkbox" id="pull_enabled" name="enabled" value="1" checked[s.enabled];
                label for="pull_enabled" { "Pull mirroring enabled" }
            }
            div class="field" {
                label for="pull_interval" { "Sync interval (seconds)" }
                input type="text" inputmode="numeric" id="pull_interval" name="interval"
                    value=(s.interval_secs) aria-describedby="pull_interval_hint";
                span class="hint" id="pull_interval_hint" {
                    "How long after a sync the next one runs; \"Update now\" and a webhook sync at once."
                }
            }
            div class="check" {
                input type="checkbox" id="pull_overwrite" name="overwrite_diverged" value="1"
                    checked[s.overwrite_diverged] aria-describedby="pull_overwrite_hint";
                label for="pull_overwrite" { "Overwrite diverged branches" }
            }
            span class="hint" id="pull_overwrite_hint" {
                "Otherwise a branch changed here and upstream is left alone and listed as diverged."
            }
            fieldset class="choices" {
                legend { "Pulled branches" }
                (radio("all", "Pull all branches"))
                (radio("protected", "Pull only protected branches"))
                (radio("regex", "Pull branches matching a regular expression"))
                div class="field" {
                    label for="pull_branch_regex" { "Pull branch regex" }
                    input type="text" id="pull_branch_regex" name="mirror_branch_regex"
                        value=(s.mirror_branch_regex.as_deref().unwrap_or(""))
                        spellcheck="false" placeholder="^(main|release/.*)$";
                    span class="hint" { "RE2 syntax. Tags are always pulled." }
                }
            }
            div class="actions" { button type="submit" { "Save pull mirror" } }
        }
    }
}

/// The section of the settings page.
pub(super) async fn section(
    state: &AppState,
    viewer: &Viewer,
    path: &ProjectPath,
    project: &Project,
    caller: Caller,
) -> Result<Markup, WebError> {
    let mirror = pull_mirror_of(state, project, caller).await?;
    let now = state.now_ms();
    let actions = |m: &PullMirror| {
        html! {
            (pull_mirrors::update_now(viewer, &path.0, &page_path(path)))
            " "
            form class="inline" method="post" action=(project_path(path, "/-/pull_mirror/delete"))
                data-confirm={ "Stop pulling from " (m.upstream.safe_url()) "? Its settings and credentials are deleted." } {
                (csrf_field(viewer))
                button type="submit" class="danger" { "Remove" }
            }
        }
    };
    Ok(html! {
        section id="pull_mirror" aria-labelledby="pull_mirror_heading" {
            h2 id="pull_mirror_heading" { "Pull from a remote repository" }
            p class="muted" {
                "Keep this project's branches and tags updated from another repository, on a "
                "schedule and on \"Update now\". Pushes to the branches it pulls are refused."
            }
            @match &mirror {
                Some(m) => (pull_mirrors::table(m, now, Some(actions(m)))),
                None => p class="muted" id="pull_mirror_empty" { "No pull mirror." },
            }
            @if let Some(key) = mirror.as_ref().and_then(|m| m.upstream.ssh_public_key.as_deref()) {
                div class="panel public-key" {
                    label for="pull_public_key" { "SSH public key of the pull mirror" }
                    div class="copy" {
                        input type="text" id="pull_public_key" value=(key) readonly spellcheck="false";
                        button type="button" class="secondary" data-copy="pull_public_key" {
                            "Copy SSH public key"
                        }
                    }
                    p class="hint" { "Add it to the upstream as a deploy key; read access is enough." }
                }
            }
            (form(viewer, path, mirror.as_ref()))
        }
    })
}

// POST /<namespace>/<project>/-/pull_mirror
pub(super) async fn save(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<PullForm>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let back = format!("{}{ANCHOR}", page_path(&path));
    let request = match form.request() {
        Ok(r) => r,
        Err(message) => return Ok(redirect_with(&state, &back, Some(Flash::Alert(message)))),
    };
    let result = configure(&state, &project, caller, request)
        .await
        .map(|_| ());
    after_change(&state, &back, result, "Pull mirroring settings were saved.")
}

/// "Update now"'s form: where to come back to.
#[derive(Deserialize)]
pub(super) struct UpdateNowForm {
    #[serde(default)]
    redirect_to: String,
}

// POST /<namespace>/<project>/-/pull_mirror/update_now
pub(super) async fn update_now(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<UpdateNowForm>,
) -> Result<Response, WebError> {
    let (project, caller) = find_project(&state, &path.0, Some(&viewer.user)).await?;
    let back = if form.redirect_to.is_empty() {
        format!("/{}", path.0)
    } else {
        form.redirect_to
    };
    Ok(match request_sync(&state, &project, caller).await {
        Ok(()) => redirect_with(
            &state,
            &back,
            Some(Flash::Notice(
                "The pull mirror is being updated from its upstream.".into(),
            )),
        ),
        // Below Developer the button is not shown: as any page the viewer may not use.
        Err(ServiceError::Forbidden) => return Err(WebError::NotFound),
        Err(e) => back_with(&state, &back, e),
    })
}

// POST /<namespace>/<project>/-/pull_mirror/delete
pub(super) async fn remove(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let result = delete(&state, &project, caller).await.map(|_| ());
    after_change(
        &state,
        &format!("{}{ANCHOR}", page_path(&path)),
        result,
        "Pull mirroring was removed.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(branches: &str, regex: &str, interval: &str) -> PullForm {
        PullForm {
            url: "https://example.com/a.git".into(),
            username: "bot".into(),
            password: "pw".into(),
            enabled: Some("1".into()),
            interval: interval.into(),
            overwrite_diverged: None,
            branches: Some(branches.into()),
            mirror_branch_regex: regex.into(),
            host_keys: String::new(),
        }
    }

    #[test]
    fn the_branch_choice_maps_to_the_apis_switches() {
        let r = form("protected", "ignored", "").request().unwrap();
        assert_eq!(r.only_protected_branches, Some(true));
        assert_eq!(r.mirror_branch_regex, Some(None));
        assert_eq!(r.interval_secs, None);
        let r = form("regex", "^main$", "600").request().unwrap();
        assert_eq!(r.mirror_branch_regex, Some(Some("^main$".into())));
        assert_eq!(r.interval_secs, Some(600));
        assert_eq!(r.overwrite_diverged, Some(false));
        let u = r.upstream.unwrap();
        assert_eq!(u.target.url, "https://example.com/a.git");
        assert!(
            u.target.credentials.is_some(),
            "the credentials travel apart"
        );
        assert!(form("regex", " ", "").request().is_err());
        assert_eq!(
            form("all", "", "soon").request().unwrap_err(),
            "Interval is not a number"
        );
    }
}
