//! Where a hook delivery goes: the URL template with its userinfo and url_variables put back,
//! validated by the mirror URL rules with only `http` and `https` allowed, and resolved with
//! every address checked against the network policy. Run when a hook's URL is saved and again
//! before each delivery, which then connects to exactly the address checked here.

use std::collections::BTreeMap;

use crate::app::App;
use crate::model::hooks::UrlTemplate;
use crate::model::url::{parse_mirror_url, ParsedMirrorUrl, Scheme};
use crate::remote::PinnedEndpoint;

/// Interpolates, parses and resolves the template: the parsed URL (credentials split off)
/// pinned to the checked address to connect to. The error is a reason for the log, never the
/// URL.
pub(super) async fn resolve(
    app: &App,
    template: &UrlTemplate,
    variables: &BTreeMap<String, String>,
) -> Result<PinnedEndpoint, String> {
    let full = template
        .interpolate(variables)
        .map_err(|missing| format!("Invalid URL template. Missing keys: {missing:?}"))?;
    let parsed = parse_mirror_url(&full, app.network_policy).map_err(|e| e.to_string())?;
    if !matches!(parsed.scheme, Scheme::Http | Scheme::Https) {
        return Err("is blocked: Only allowed schemes are http, https".into());
    }
    PinnedEndpoint::resolve(parsed, app.network_policy)
        .await
        .map_err(|e| format!("is blocked: {e}"))
}

/// [`resolve`] for saving: the parsed URL only.
pub(super) async fn check(
    app: &App,
    template: &UrlTemplate,
    variables: &BTreeMap<String, String>,
) -> Result<ParsedMirrorUrl, String> {
    resolve(app, template, variables).await.map(|e| e.url)
}
