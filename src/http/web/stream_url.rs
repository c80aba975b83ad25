//! Where the live mirror stream (`live`) is, for the pages whose tables it updates: the
//! dashboard's, with its filters, and one project's.

/// The stream's path (`live`'s route spells it out, for README's route check to read).
pub(super) const STREAM: &str = "/-/mirrors/stream";

/// The stream of one project's mirrors, for a `data-live-mirrors` table of that project.
pub(super) fn project_stream_url(full_path: &str) -> String {
    format!(
        "{STREAM}?project={}",
        url::form_urlencoded::byte_serialize(full_path.as_bytes()).collect::<String>()
    )
}
