//! Which paths the interface follows after a sign-in or a form (`redirect_to`, a refused form's
//! way back): only this server's own, so a link can never send a person elsewhere.

/// Only paths on this server are followed after a sign-in or a form: anything else goes to `/`.
pub(in crate::http) fn local_path(to: &str) -> &str {
    if to.starts_with('/')
        && !to.starts_with("//")
        && !to.starts_with("/\\")
        && !to.contains(['\r', '\n'])
    {
        to
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/root/app"), "/root/app");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "evil",
            "/a\r\nSet-Cookie: x",
        ] {
            assert_eq!(local_path(bad), "/", "{bad}");
        }
    }
}
