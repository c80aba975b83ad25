//! The SSH clone URL people copy (`ssh_url_to_repo`, the project page): from the address SSH
//! clients reach the server at (`ssh://user@host[:port]`), `ssh://git@host:2222/group/p.git`,
//! or GitLab's scp-like `git@host:group/p.git` when the port is SSH's own (22, or none given),
//! which git reads the same way. Pure.

/// SSH's own port, which scp-like URLs imply.
const SSH_PORT: u16 = 22;

/// Where SSH clients reach the server: the login user, the host (an IPv6 address in brackets)
/// and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshBase {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl SshBase {
    /// Reads `ssh://user@host[:port]` (already checked by the configuration).
    pub fn parse(url: &str) -> Option<SshBase> {
        let rest = url.strip_prefix("ssh://")?.trim_end_matches('/');
        let (user, host_port) = rest.split_once('@')?;
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
                (h, p.parse().ok()?)
            }
            _ => (host_port, SSH_PORT),
        };
        (!user.is_empty() && !host.is_empty()).then(|| SshBase {
            user: user.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// The clone URL of the project at `full_path`.
    pub fn clone_url(&self, full_path: &str) -> String {
        if self.port == SSH_PORT {
            format!("{}@{}:{full_path}.git", self.user, self.host)
        } else {
            format!(
                "ssh://{}@{}:{}/{full_path}.git",
                self.user, self.host, self.port
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_22_is_gitlabs_scp_like_form() {
        let check = |base: &str, want: &str| {
            assert_eq!(
                SshBase::parse(base).unwrap().clone_url("org/team/p"),
                want,
                "{base}"
            );
        };
        check("ssh://git@example.com", "git@example.com:org/team/p.git");
        check(
            "ssh://git@example.com:22/",
            "git@example.com:org/team/p.git",
        );
        check(
            "ssh://git@127.0.0.1:2222",
            "ssh://git@127.0.0.1:2222/org/team/p.git",
        );
        check(
            "ssh://git@[::1]:2222",
            "ssh://git@[::1]:2222/org/team/p.git",
        );
        check("ssh://me@[::1]", "me@[::1]:org/team/p.git");
        assert_eq!(SshBase::parse("https://h"), None);
        assert_eq!(SshBase::parse("ssh://host"), None);
    }
}
