//! The "Mirroring repositories" section: GitLab's push-mirror form ("Git repository URL",
//! "Mirror direction", "Authentication method", "Username", "Password", "Keep divergent refs",
//! "Mirror branches", "Update on push", "Also update every … seconds", "Mirror repository"),
//! "Detect host keys" for `ssh://` URLs (a form post
//! that shows the remote's SHA256 fingerprints and asks to confirm pinning them; the keys travel
//! back in a hidden field), the table of mirrors in the live-update contract of the dashboard's
//! script (`data-live-mirrors`, rows by `data-mirror-id`, cells by `data-field`), each SSH
//! mirror's public key with a copy button and "Rotate key", and the edit page.
//!
//! A password is never written into a page: the "Password" field is always empty, and on the
//! edit page an empty field keeps the stored one (`MirrorRequest::blank_credentials_keep_stored`).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::{after_change, breadcrumb, page_path, project_path, refusal, settings_project};
use crate::http::web::error::WebError;
use crate::http::web::layout::{csrf_field, page, status_badge, time_ago};
use crate::http::web::session::{redirect_with, CsrfOnly, Flash, Posted, Viewer};
use crate::http::web::ProjectPath;
use crate::http::AppState;
use crate::model::entities::{AuthMethod, LfsSync, MirrorSummary, Project, RemoteMirror};
use crate::model::host_keys::fingerprints;
use crate::model::mirror_settings::{MirrorRequest, NotInList};
use crate::model::url::{Credentials, MirrorTarget};
use crate::service::mirrors;
use crate::service::ssh_host_keys::{detect, Detection};
use crate::store::PageRequest;

/// More mirrors than a project ever has enabled (10) plus room for disabled ones: the table
/// shows them all on one page.
const TABLE_ROWS: i64 = 100;

/// GitLab's notice after a mirror was saved.
const SAVED: &str = "Mirroring settings were successfully updated.";

/// Which branches a mirror pushes: GitLab's "Mirror branches" choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Branches {
    #[default]
    All,
    Protected,
    Regex,
}

impl Branches {
    fn parse(raw: Option<&str>) -> Branches {
        match raw {
            Some("protected") => Branches::Protected,
            Some("regex") => Branches::Regex,
            _ => Branches::All,
        }
    }

    fn of(m: &RemoteMirror) -> Branches {
        if m.mirror_branch_regex.is_some() {
            Branches::Regex
        } else if m.only_protected_branches {
            Branches::Protected
        } else {
            Branches::All
        }
    }
}

/// The form's `lfs_sync` choices and what each says to a person.
const LFS_SYNC_CHOICES: [(LfsSync, &str); 3] = [
    (
        LfsSync::Required,
        "Required: refs are pushed only when all objects arrived",
    ),
    (
        LfsSync::BestEffort,
        "Best effort: refs are pushed anyway; the update fails",
    ),
    (LfsSync::Off, "Off: no LFS objects are sent"),
];

/// The mirror form as posted. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub(super) struct MirrorForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    auth_method: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    keep_divergent_refs: Option<String>,
    /// `required`, `best_effort` or `off`; absent keeps the stored value.
    lfs_sync: Option<String>,
    mirror_branches: Option<String>,
    #[serde(default)]
    mirror_branch_regex: String,
    /// Detected keys as `known_hosts` text, pinned only when `host_keys_confirmed` is checked.
    #[serde(default)]
    host_keys: String,
    host_keys_confirmed: Option<String>,
    /// The edit form's "Enabled" (a new mirror is enabled, as GitLab's form makes it).
    enabled: Option<String>,
    /// "Also update every … seconds": blank keeps the stored interval (0, only on push, for a
    /// new mirror).
    #[serde(default)]
    sync_interval: String,
    /// "Update on push", read only when the form showed the box (`sync_on_commit_shown`): a
    /// post from a form without it leaves the setting alone.
    sync_on_commit: Option<String>,
    sync_on_commit_shown: Option<String>,
}

impl MirrorForm {
    /// The use case's request: every switch as the form shows it. `None` for `enabled` means a
    /// new mirror (enabled).
    fn request(&self, editing: bool) -> Result<MirrorRequest, String> {
        let branches = Branches::parse(self.mirror_branches.as_deref());
        let regex = self.mirror_branch_regex.trim();
        if branches == Branches::Regex && regex.is_empty() {
            return Err("Mirror branch regex can't be blank".into());
        }
        let host_keys = (self.host_keys_confirmed.is_some() && !self.host_keys.trim().is_empty())
            .then(|| {
                self.host_keys
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            });
        let auth_method = match self.auth_method.as_deref() {
            None => Ok(AuthMethod::Password),
            Some(s) => AuthMethod::parse(s).ok_or(NotInList),
        };
        Ok(MirrorRequest {
            target: Some(self.target()),
            blank_credentials_keep_stored: editing,
            enabled: Some(Some(!editing || self.enabled.is_some())),
            auth_method: Some(auth_method),
            keep_divergent_refs: Some(Some(self.keep_divergent_refs.is_some())),
            lfs_sync: self
                .lfs_sync
                .as_deref()
                .map(|s| LfsSync::parse(s).ok_or(NotInList)),
            only_protected_branches: Some(Some(branches == Branches::Protected)),
            mirror_branch_regex: Some((branches == Branches::Regex).then(|| regex.to_owned())),
            host_keys,
            ssh_key_type: None,
            sync_interval_secs: match self.sync_interval.trim() {
                "" => None,
                secs => {
                    Some(secs.parse().map_err(|_| {
                        "Sync interval must be a whole number of seconds".to_owned()
                    })?)
                }
            },
            sync_on_commit: self
                .sync_on_commit_shown
                .as_ref()
                .map(|_| Some(self.sync_on_commit.is_some())),
        })
    }

    /// The "Git repository URL" with the "Username" and "Password" fields over the credentials
    /// written into it, if any (each typed field replaces its part).
    fn target(&self) -> MirrorTarget {
        let typed = Credentials::typed(Some(self.username.trim()), Some(&self.password));
        MirrorTarget::from_url(&self.url).with_typed(typed)
    }

    /// What the form shows again after a host-key detection (never the password).
    fn view(&self, detection: Result<Detection, String>) -> MirrorFormView {
        MirrorFormView {
            url: self.url.clone(),
            username: self.username.clone(),
            auth_method: self
                .auth_method
                .as_deref()
                .and_then(AuthMethod::parse)
                .unwrap_or_default(),
            keep_divergent_refs: self.keep_divergent_refs.is_some(),
            lfs_sync: self
                .lfs_sync
                .as_deref()
                .and_then(LfsSync::parse)
                .unwrap_or_default(),
            branches: Branches::parse(self.mirror_branches.as_deref()),
            regex: self.mirror_branch_regex.clone(),
            enabled: self.enabled.is_some(),
            sync_interval: self.sync_interval.clone(),
            sync_on_commit: self.sync_on_commit_shown.is_none() || self.sync_on_commit.is_some(),
            detection: Some(detection),
        }
    }
}

/// What the mirror form shows.
pub(super) struct MirrorFormView {
    url: String,
    /// Echoed only into the answer of the post that sent it (a detection), never from storage.
    username: String,
    auth_method: AuthMethod,
    keep_divergent_refs: bool,
    lfs_sync: LfsSync,
    branches: Branches,
    regex: String,
    enabled: bool,
    /// Seconds between periodic updates as typed or stored (`0`: only on push).
    sync_interval: String,
    sync_on_commit: bool,
    /// A host-key detection's outcome: the keys found, or GitLab's error.
    detection: Option<Result<Detection, String>>,
}

impl Default for MirrorFormView {
    /// A new mirror's form: updated on push, no periodic update.
    fn default() -> Self {
        MirrorFormView {
            url: String::new(),
            username: String::new(),
            auth_method: AuthMethod::default(),
            keep_divergent_refs: false,
            lfs_sync: LfsSync::default(),
            branches: Branches::default(),
            regex: String::new(),
            enabled: false,
            sync_interval: "0".into(),
            sync_on_commit: true,
            detection: None,
        }
    }
}

impl MirrorFormView {
    fn of(m: &RemoteMirror) -> MirrorFormView {
        MirrorFormView {
            url: m.url.clone(),
            username: String::new(),
            auth_method: m.auth_method,
            keep_divergent_refs: m.keep_divergent_refs,
            lfs_sync: m.lfs_sync,
            branches: Branches::of(m),
            regex: m.mirror_branch_regex.clone().unwrap_or_default(),
            enabled: m.enabled,
            sync_interval: m.sync_interval_secs.to_string(),
            sync_on_commit: m.sync_on_commit,
            detection: None,
        }
    }
}

/// Where a form posts: a new mirror, or an existing one's edit.
struct FormTarget<'a> {
    action: String,
    detect: String,
    button: &'a str,
    /// The settings page (where "Cancel" goes).
    settings: String,
    /// The mirror being edited.
    editing: Option<&'a RemoteMirror>,
}

/// The mirror form.
fn mirror_form(viewer: &Viewer, target: &FormTarget<'_>, v: &MirrorFormView) -> Markup {
    let radio = |value: &str, id: &str, label: &str, on: bool| {
        html! {
            div class="check" {
                input type="radio" id=(id) name="mirror_branches" value=(value) checked[on];
                label for=(id) { (label) }
            }
        }
    };
    let password_hint = if target.editing.is_some_and(|m| m.has_password) {
        "A password is saved. Leave blank to keep it while the URL stays the same."
    } else {
        "For HTTP(S) URLs: a password or an access token. Not used over ssh://."
    };
    html! {
        form class="stack mirror-form" method="post" action=(target.action) {
            (csrf_field(viewer))
            div class="field" {
                label for="mirror_url" { "Git repository URL" }
                input type="text" id="mirror_url" name="url" value=(v.url) required
                    autocomplete="off" spellcheck="false"
                    placeholder="https://gitlab.example.com/group/project.git"
                    aria-describedby="mirror_url_hint";
                span class="hint" id="mirror_url_hint" {
                    "The repository must be accessible over http://, https://, ssh:// or git://. "
                    "Put the username and password in their own fields rather than the URL."
                }
            }
            div class="field" {
                span class="label" { "Mirror direction" }
                span id="mirror_direction" { "Push" }
            }
            div class="field" {
                label for="mirror_auth_method" { "Authentication method" }
                select id="mirror_auth_method" name="auth_method" {
                    option value="password" selected[v.auth_method == AuthMethod::Password] {
                        "Username and Password"
                    }
                    option value="ssh_public_key"
                        selected[v.auth_method == AuthMethod::SshPublicKey] { "SSH public key" }
                }
                span class="hint" {
                    "SSH public key: for ssh:// URLs. A key pair is generated for the mirror; "
                    "add its public key to the remote."
                }
            }
            div class="field" {
                label for="mirror_username" { "Username" }
                input type="text" id="mirror_username" name="username" value=(v.username)
                    autocomplete="off" spellcheck="false";
                @if target.editing.is_some_and(|m| m.has_user) {
                    span class="hint" { "A username is saved. Leave blank to keep it while the URL stays the same." }
                }
            }
            div class="field" {
                label for="mirror_password" { "Password" }
                input type="password" id="mirror_password" name="password" value=""
                    autocomplete="new-password" aria-describedby="mirror_password_hint";
                span class="hint" id="mirror_password_hint" { (password_hint) }
            }
            (host_keys_part(target, v))
            div class="check" {
                input type="checkbox" id="mirror_keep_divergent_refs" name="keep_divergent_refs"
                    value="1" checked[v.keep_divergent_refs];
                label for="mirror_keep_divergent_refs" { "Keep divergent refs" }
            }
            div class="field" {
                label for="mirror_lfs_sync" { "Git LFS objects" }
                select id="mirror_lfs_sync" name="lfs_sync" {
                    @for (value, text) in LFS_SYNC_CHOICES {
                        option value=(value.as_str()) selected[v.lfs_sync == value] { (text) }
                    }
                }
                span class="hint" {
                    "Objects are uploaded to the remote's LFS endpoint before its refs are pushed."
                }
            }
            fieldset class="choices" {
                legend { "Mirror branches" }
                (radio("all", "mirror_branches_all", "All branches", v.branches == Branches::All))
                (radio("protected", "mirror_branches_protected", "All protected branches",
                    v.branches == Branches::Protected))
                (radio("regex", "mirror_branches_regex", "Specific branches matching a regular expression",
                    v.branches == Branches::Regex))
                div class="field" {
                    label for="mirror_branch_regex" { "Mirror branches matching a regular expression" }
                    input type="text" id="mirror_branch_regex" name="mirror_branch_regex"
                        value=(v.regex) spellcheck="false" placeholder="^(main|release/.*)$";
                    span class="hint" { "RE2 syntax. Tags are always mirrored." }
                }
            }
            div class="check" {
                input type="hidden" name="sync_on_commit_shown" value="1";
                input type="checkbox" id="mirror_sync_on_commit" name="sync_on_commit"
                    value="1" checked[v.sync_on_commit];
                label for="mirror_sync_on_commit" { "Update on push" }
            }
            div class="field" {
                label for="mirror_sync_interval" { "Also update every (seconds)" }
                input type="number" id="mirror_sync_interval" name="sync_interval" min="0"
                    value=(v.sync_interval) aria-describedby="mirror_sync_interval_hint";
                span class="hint" id="mirror_sync_interval_hint" {
                    "0: only on push (and when synced by hand); otherwise at least 600."
                }
            }
            @if target.editing.is_some() {
                div class="check" {
                    input type="checkbox" id="mirror_enabled" name="enabled" value="1"
                        checked[v.enabled];
                    label for="mirror_enabled" { "Enabled" }
                }
            }
            div class="actions" {
                button type="submit" { (target.button) }
                " "
                button type="submit" class="secondary" formaction=(target.detect) formnovalidate {
                    "Detect host keys"
                }
                @if target.editing.is_some() {
                    " "
                    a class="button secondary" href=(target.settings) { "Cancel" }
                }
            }
        }
    }
}

/// The SSH host keys: those pinned, those a detection found (with the confirmation), or its
/// error.
fn host_keys_part(target: &FormTarget<'_>, v: &MirrorFormView) -> Markup {
    let pinned = target
        .editing
        .and_then(|m| m.ssh_known_hosts.as_deref())
        .map(fingerprints)
        .unwrap_or_default();
    html! {
        div class="field host-keys" {
            span class="label" { "SSH host keys" }
            @if !pinned.is_empty() {
                p { "Pinned host keys:" }
                ul class="fingerprints" id="mirror_pinned_host_keys" {
                    @for f in &pinned { li { code { (f.sha256) } " (" (f.key_type) ")" } }
                }
            }
            @match &v.detection {
                None => {
                    span class="hint" {
                        "For ssh:// URLs: \"Detect host keys\" asks the remote for its keys and "
                        "shows their fingerprints to check before they are pinned."
                    }
                }
                Some(Err(message)) => {
                    div class="flash alert" role="alert" id="mirror_host_keys_error" { (message) }
                }
                Some(Ok(found)) => {
                    div class="panel detected" role="status" {
                        p { "Fingerprints of the host keys the remote presented (SHA256):" }
                        ul class="fingerprints" id="mirror_detected_host_keys" {
                            @for f in &found.fingerprints {
                                li { code { (f.sha256) } " (" (f.key_type) ", " (f.bits) " bits)" }
                            }
                        }
                        @if found.host_keys_changed {
                            p class="error-text" { "These keys differ from the pinned ones." }
                        }
                        input type="hidden" name="host_keys" value=(found.known_hosts);
                        div class="check" {
                            input type="checkbox" id="mirror_host_keys_confirmed"
                                name="host_keys_confirmed" value="1";
                            label for="mirror_host_keys_confirmed" {
                                "The host keys are correct: pin them to this mirror"
                            }
                        }
                        p class="hint" {
                            "Compare them with the fingerprints the remote's administrator "
                            "publishes before you confirm."
                        }
                    }
                }
            }
        }
    }
}

/// The section of the settings page: the form for a new mirror, the table, the public keys.
pub(super) async fn section(
    state: &AppState,
    viewer: &Viewer,
    path: &ProjectPath,
    project: &Project,
    form: &MirrorFormView,
) -> Result<Markup, WebError> {
    let list = state
        .store
        .mirrors(
            project.id,
            PageRequest {
                page: 1,
                per_page: TABLE_ROWS,
            },
        )
        .await?
        .items;
    let mut keys = Vec::new();
    for m in list
        .iter()
        .filter(|m| m.auth_method == AuthMethod::SshPublicKey)
    {
        let full = mirrors::find_mirror(state, project.id, m.id).await?;
        if let Some(key) = mirrors::public_key(&full) {
            keys.push((m.id, m.safe_url(), key.to_owned()));
        }
    }
    let target = FormTarget {
        action: project_path(path, "/-/mirrors"),
        detect: project_path(path, "/-/mirrors/detect_host_keys"),
        button: "Mirror repository",
        settings: page_path(path),
        editing: None,
    };
    Ok(html! {
        section id="mirrors" aria-labelledby="mirrors_heading" {
            h2 id="mirrors_heading" { "Mirroring repositories" }
            p class="muted" {
                "Push every change of this repository to other repositories automatically."
            }
            (mirror_form(viewer, &target, form))
            h3 { "Mirrored repositories" " (" (list.len()) ")" }
            (table(state, viewer, path, &list))
            @for (id, url, key) in &keys {
                (public_key_panel(viewer, path, *id, url, key))
            }
        }
    })
}

/// The table of mirrors, in the live-update contract of the dashboard's script.
fn table(state: &AppState, viewer: &Viewer, path: &ProjectPath, list: &[MirrorSummary]) -> Markup {
    let now = state.now_ms();
    let stream = crate::http::web::stream_url::project_stream_url(&path.0);
    html! {
        @if list.is_empty() {
            p class="muted" id="mirrors_empty" { "No mirrors yet." }
        } @else {
            div class="table-wrap" {
                table class="responsive mirrors" id="mirrors_table" data-live-mirrors=(stream) {
                    thead {
                        tr {
                            th scope="col" { "Git repository URL" }
                            th scope="col" { "Direction" }
                            th scope="col" { "Last update attempt" }
                            th scope="col" { "Last successful update" }
                            th scope="col" { "Status" }
                            th scope="col" { "Last error" }
                            th scope="col" { span class="visually-hidden" { "Actions" } }
                        }
                    }
                    tbody {
                        @for m in list {
                            (row(viewer, path, m, now))
                        }
                    }
                }
            }
        }
    }
}

fn row(viewer: &Viewer, path: &ProjectPath, m: &MirrorSummary, now: i64) -> Markup {
    let base = project_path(path, &format!("/-/mirrors/{}", m.id));
    let url = m.safe_url();
    html! {
        tr data-mirror-id=(m.id) {
            td data-label="URL" { code { (url) } }
            td data-label="Direction" { "Push" }
            td data-label="Last update attempt" data-field="last_update" {
                (time_ago(m.last_update_at, now))
            }
            td data-label="Last successful update" data-field="last_successful" {
                (time_ago(m.last_successful_update_at, now))
            }
            td data-label="Status" data-field="status" { (status_badge(m.update_status, m.enabled)) }
            td data-label="Last error" data-field="last_error" {
                @if let Some(e) = &m.last_error { span class="error-text" { (e) } }
            }
            td data-label="Actions" class="actions" {
                // Sent in the background by base.js (the page stays and the live stream shows
                // the update); without JavaScript, a post and a redirect back.
                form class="inline" method="post" action={ (base) "/update_now" } data-remote {
                    (csrf_field(viewer))
                    button type="submit" class="secondary" aria-label={ "Update now: " (url) } {
                        "Update now"
                    }
                }
                " "
                a class="button secondary" href={ (base) "/edit" } aria-label={ "Edit: " (url) } {
                    "Edit"
                }
                " "
                form class="inline" method="post" action={ (base) "/delete" }
                    data-confirm={ "Remove the mirror " (url) "? Its settings and credentials are deleted." } {
                    (csrf_field(viewer))
                    button type="submit" class="danger" aria-label={ "Remove: " (url) } { "Remove" }
                }
            }
        }
    }
}

/// A mirror's public key, read-only with a copy button, and "Rotate key".
fn public_key_panel(viewer: &Viewer, path: &ProjectPath, id: i64, url: &str, key: &str) -> Markup {
    let field = format!("mirror_public_key_{id}");
    html! {
        div class="panel public-key" {
            label for=(field) { "SSH public key of " code { (url) } }
            div class="copy" {
                input type="text" id=(field) value=(key) readonly spellcheck="false";
                button type="button" class="secondary" data-copy=(field) { "Copy SSH public key" }
            }
            p class="hint" { "Add it to the remote as a deploy key with write access, or to an account that may push." }
            form method="post" action=(project_path(path, &format!("/-/mirrors/{id}/rotate_key")))
                data-confirm="Replace the key pair? The remote must then be given the new public key." {
                (csrf_field(viewer))
                button type="submit" class="secondary" { "Rotate key" }
            }
        }
    }
}

/// The mirror of `project` that the `{id}` segment names, or the 404 page.
async fn find(state: &AppState, project: &Project, id: &str) -> Result<RemoteMirror, WebError> {
    let id = id.parse::<i64>().map_err(|_| WebError::NotFound)?;
    Ok(mirrors::find_mirror(state, project.id, id).await?)
}

// POST /<namespace>/<project>/-/mirrors
pub(super) async fn create(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<MirrorForm>,
) -> Result<Response, WebError> {
    let (project, _) = settings_project(&state, &path, &viewer).await?;
    let back = format!("{}#mirrors", page_path(&path));
    let req = match form.request(false) {
        Ok(req) => req,
        Err(message) => return Ok(redirect_with(&state, &back, Some(Flash::Alert(message)))),
    };
    let result = mirrors::create_mirror(&state, &project, req).await;
    after_change(&state, &back, result.map(|_| ()), SAVED)
}

// POST /<namespace>/<project>/-/mirrors/detect_host_keys
pub(super) async fn detect_new(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Posted { viewer, form }: Posted<MirrorForm>,
) -> Result<Response, WebError> {
    let (project, caller) = settings_project(&state, &path, &viewer).await?;
    let detection = match detect(&state, form.url.trim(), None).await {
        Ok(found) => Ok(found),
        Err(e) => Err(refusal(e)?),
    };
    super::render(
        &state,
        &viewer,
        &path,
        &project,
        caller,
        &form.view(detection),
    )
    .await
}

/// The edit page of `mirror`, its form showing `v`.
fn edit_markup(
    viewer: &Viewer,
    path: &ProjectPath,
    mirror: &RemoteMirror,
    v: &MirrorFormView,
) -> Markup {
    let base = project_path(path, &format!("/-/mirrors/{}", mirror.id));
    let target = FormTarget {
        action: format!("{base}/edit"),
        detect: format!("{base}/detect_host_keys"),
        button: "Save changes",
        settings: page_path(path),
        editing: Some(mirror),
    };
    html! {
        (breadcrumb(path, "Edit mirror"))
        h1 { "Edit mirror " code { (mirror.safe_url()) } }
        (mirror_form(viewer, &target, v))
    }
}

// GET /<namespace>/<project>/-/mirrors/{id}/edit
pub(super) async fn edit_page(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let (project, _) = settings_project(&state, &path, &viewer).await?;
    let mirror = find(&state, &project, &id).await?;
    let body = edit_markup(&viewer, &path, &mirror, &MirrorFormView::of(&mirror));
    Ok(page(&state, &viewer, "Edit mirror", body))
}

// POST /<namespace>/<project>/-/mirrors/{id}/edit
pub(super) async fn update(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<MirrorForm>,
) -> Result<Response, WebError> {
    let (project, _) = settings_project(&state, &path, &viewer).await?;
    let mirror = find(&state, &project, &id).await?;
    let back = project_path(&path, &format!("/-/mirrors/{}/edit", mirror.id));
    let req = match form.request(true) {
        Ok(req) => req,
        Err(message) => return Ok(redirect_with(&state, &back, Some(Flash::Alert(message)))),
    };
    match mirrors::update_mirror(&state, &project, &mirror, req).await {
        Ok(_) => Ok(redirect_with(
            &state,
            &format!("{}#mirrors", page_path(&path)),
            Some(Flash::Notice(SAVED.into())),
        )),
        Err(e) => Ok(redirect_with(
            &state,
            &back,
            Some(Flash::Alert(refusal(e)?)),
        )),
    }
}

// POST /<namespace>/<project>/-/mirrors/{id}/detect_host_keys
pub(super) async fn detect_edit(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<MirrorForm>,
) -> Result<Response, WebError> {
    let (project, _) = settings_project(&state, &path, &viewer).await?;
    let mirror = find(&state, &project, &id).await?;
    let compare = mirror.ssh_known_hosts.as_deref();
    let detection = match detect(&state, form.url.trim(), compare).await {
        Ok(found) => Ok(found),
        Err(e) => Err(refusal(e)?),
    };
    let body = edit_markup(&viewer, &path, &mirror, &form.view(detection));
    Ok(page(&state, &viewer, "Edit mirror", body))
}

// POST /<namespace>/<project>/-/mirrors/{id}/update_now
pub(super) async fn update_now(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, _) = settings_project(&state, &path, &viewer).await?;
    let mirror = find(&state, &project, &id).await?;
    let result = mirrors::sync_mirror(&state, &project, &mirror).await;
    after_change(
        &state,
        &format!("{}#mirrors", page_path(&path)),
        result,
        "The remote repository is being updated...",
    )
}

// POST /<namespace>/<project>/-/mirrors/{id}/rotate_key
pub(super) async fn rotate_key(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, _) = settings_project(&state, &path, &viewer).await?;
    let mirror = find(&state, &project, &id).await?;
    let back = format!("{}#mirrors", page_path(&path));
    let flash = match mirrors::rotate_key(&state, &project, &mirror).await {
        Ok(Some(_)) => Flash::Notice(
            "A new SSH key pair was generated: give the remote its new public key.".into(),
        ),
        Ok(None) => Flash::Alert("This mirror does not authenticate with an SSH key.".into()),
        Err(e) => Flash::Alert(refusal(e)?),
    };
    Ok(redirect_with(&state, &back, Some(flash)))
}

// POST /<namespace>/<project>/-/mirrors/{id}/delete
pub(super) async fn remove(
    State(state): State<AppState>,
    Extension(path): Extension<ProjectPath>,
    Path(id): Path<String>,
    Posted { viewer, .. }: Posted<CsrfOnly>,
) -> Result<Response, WebError> {
    let (project, _) = settings_project(&state, &path, &viewer).await?;
    let mirror = find(&state, &project, &id).await?;
    let result = mirrors::delete_mirror(&state, &mirror).await;
    after_change(
        &state,
        &format!("{}#mirrors", page_path(&path)),
        result,
        "The mirror was removed.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(branches: &str, regex: &str) -> MirrorForm {
        MirrorForm {
            url: "https://example.com/a.git".into(),
            auth_method: None,
            username: String::new(),
            password: String::new(),
            keep_divergent_refs: None,
            lfs_sync: None,
            mirror_branches: Some(branches.into()),
            mirror_branch_regex: regex.into(),
            host_keys: "h1 ssh-ed25519 AAAA\n\n h2 ssh-rsa BBBB \n".into(),
            host_keys_confirmed: None,
            enabled: None,
            sync_interval: String::new(),
            sync_on_commit: None,
            sync_on_commit_shown: None,
        }
    }

    #[test]
    fn the_branch_choice_maps_to_the_apis_switches() {
        let all = form("all", "^ignored").request(false).unwrap();
        assert_eq!(all.only_protected_branches, Some(Some(false)));
        assert_eq!(all.mirror_branch_regex, Some(None));
        let protected = form("protected", "").request(false).unwrap();
        assert_eq!(protected.only_protected_branches, Some(Some(true)));
        assert_eq!(protected.mirror_branch_regex, Some(None));
        let regex = form("regex", " ^rel ").request(false).unwrap();
        assert_eq!(regex.only_protected_branches, Some(Some(false)));
        assert_eq!(regex.mirror_branch_regex, Some(Some("^rel".into())));
        assert!(form("regex", " ").request(false).is_err());
    }

    #[test]
    fn the_lfs_choice_is_passed_on_and_absent_keeps_the_stored_one() {
        assert_eq!(form("all", "").request(true).unwrap().lfs_sync, None);
        let mut f = form("all", "");
        f.lfs_sync = Some("best_effort".into());
        assert_eq!(
            f.request(true).unwrap().lfs_sync,
            Some(Ok(LfsSync::BestEffort))
        );
        f.lfs_sync = Some("sometimes".into());
        assert_eq!(f.request(true).unwrap().lfs_sync, Some(Err(NotInList)));
    }

    #[test]
    fn a_new_mirror_is_enabled_and_an_edit_says_so_itself() {
        assert_eq!(
            form("all", "").request(false).unwrap().enabled,
            Some(Some(true))
        );
        assert_eq!(
            form("all", "").request(true).unwrap().enabled,
            Some(Some(false))
        );
    }

    #[test]
    fn host_keys_are_pinned_only_when_confirmed() {
        assert_eq!(form("all", "").request(false).unwrap().host_keys, None);
        let mut f = form("all", "");
        f.host_keys_confirmed = Some("1".into());
        assert_eq!(
            f.request(false).unwrap().host_keys,
            Some(vec!["h1 ssh-ed25519 AAAA".into(), "h2 ssh-rsa BBBB".into()])
        );
    }
}
