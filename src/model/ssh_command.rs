//! The command an SSH client asks the server to run (the `exec` request's bytes, or OpenSSH's
//! `SSH_ORIGINAL_COMMAND`), read as gitlab-shell reads it but stricter: exactly one of
//! `git-upload-pack <path>`, `git-receive-pack <path>`, `git-upload-archive <path>` (also spelt
//! `git upload-pack <path>` …, which git's older clients send), `git-lfs-authenticate <path>
//! upload|download`, or nothing at all (someone testing their key: the welcome). The path is
//! unquoted or in single quotes, as git sends it (`git-upload-pack '/group/project.git'`).
//!
//! A path is a project's full path: an optional leading `/`, an optional `.git`, then two or
//! more `/`-separated segments of the characters namespace and project paths allow (letters,
//! digits, `_`, `-`, `.`; see [`crate::model::naming`]), none empty, none `.` or `..` nor
//! containing `..`, none starting with `-`. Nothing here is ever handed to a shell or to git's
//! argv: the result is only a key to look a project up by; the strictness is so that a path that
//! could mean something else anywhere (`%2e`, quotes, `;`, `$(…)`, control characters) is
//! refused before it reaches anything.
//!
//! Pure: no I/O. Refusals are two kinds the SSH face words as gitlab-shell does.

/// Longest command accepted, in bytes: a full path of GitLab's deepest nesting (20 groups and a
/// project, 255 bytes each) fits five times over in this; anything longer is not a git client.
pub const MAX_COMMAND_LEN: usize = 8 * 1024;

/// Most segments a path may have: GitLab nests groups at most 20 deep, plus the project.
pub const MAX_SEGMENTS: usize = 21;

/// Longest segment: GitLab's limit on a namespace or project path.
pub const MAX_SEGMENT_LEN: usize = 255;

/// What an SSH session was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshCommand {
    /// No command (`ssh -T git@host`): greet the key's owner.
    Welcome,
    /// A git service on the project at `path` (its full path, without `.git`).
    Git { verb: GitVerb, path: String },
    /// `git-lfs-authenticate <path> upload|download`: the project's LFS endpoint and a token.
    LfsAuthenticate {
        path: String,
        operation: LfsOperation,
    },
}

/// The git services a client may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitVerb {
    /// Clone and fetch.
    UploadPack,
    /// Push.
    ReceivePack,
    /// `git archive --remote`.
    UploadArchive,
}

impl GitVerb {
    /// git's name of the service, as clients send it.
    pub fn as_str(self) -> &'static str {
        match self {
            GitVerb::UploadPack => "git-upload-pack",
            GitVerb::ReceivePack => "git-receive-pack",
            GitVerb::UploadArchive => "git-upload-archive",
        }
    }

    /// Whether the service only reads the repository.
    pub fn is_read(self) -> bool {
        !matches!(self, GitVerb::ReceivePack)
    }
}

/// What `git-lfs-authenticate` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfsOperation {
    Upload,
    Download,
}

impl LfsOperation {
    /// The word git-lfs sends.
    pub fn as_str(self) -> &'static str {
        match self {
            LfsOperation::Upload => "upload",
            LfsOperation::Download => "download",
        }
    }
}

/// Why a command is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandRefusal {
    /// Not a command this server runs (gitlab-shell: `Disallowed command`).
    Disallowed,
    /// A known command with a path that cannot name a project: answered exactly as a project
    /// that does not exist, so nothing is learnt from the difference.
    BadPath,
}

impl SshCommand {
    /// The verb logs and metrics name the command by (`welcome` for none).
    pub fn verb(&self) -> &'static str {
        match self {
            SshCommand::Welcome => "welcome",
            SshCommand::Git { verb, .. } => verb.as_str(),
            SshCommand::LfsAuthenticate { .. } => "git-lfs-authenticate",
        }
    }

    /// The project's full path the command names, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            SshCommand::Welcome => None,
            SshCommand::Git { path, .. } | SshCommand::LfsAuthenticate { path, .. } => Some(path),
        }
    }
}

/// Reads a command. Only the forms in the module's documentation are accepted.
pub fn parse(command: &[u8]) -> Result<SshCommand, CommandRefusal> {
    if command.len() > MAX_COMMAND_LEN {
        return Err(CommandRefusal::Disallowed);
    }
    let Ok(command) = std::str::from_utf8(command) else {
        return Err(CommandRefusal::Disallowed);
    };
    // Words are separated by spaces only: a tab, newline or any other control character is
    // never part of a command git sends.
    if command.chars().any(|c| c.is_control()) {
        return Err(match first_word(command) {
            Some(w) if verb(w).is_some() => CommandRefusal::BadPath,
            _ => CommandRefusal::Disallowed,
        });
    }
    let mut words: Vec<&str> = command.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Ok(SshCommand::Welcome);
    }
    // `git upload-pack <path>` is git's older spelling of `git-upload-pack <path>`.
    let joined;
    if words[0] == "git" && words.len() > 1 {
        joined = format!("git-{}", words[1]);
        words.splice(0..2, [joined.as_str()]);
    }
    let Some(kind) = verb(words[0]) else {
        return Err(CommandRefusal::Disallowed);
    };
    match (kind, &words[1..]) {
        (Verb::Git(verb), [path]) => Ok(SshCommand::Git {
            verb,
            path: project_path(path)?,
        }),
        (Verb::Lfs, [path, operation]) => {
            let operation = match unquote(operation).ok_or(CommandRefusal::Disallowed)? {
                "upload" => LfsOperation::Upload,
                "download" => LfsOperation::Download,
                _ => return Err(CommandRefusal::Disallowed),
            };
            Ok(SshCommand::LfsAuthenticate {
                path: project_path(path)?,
                operation,
            })
        }
        // A known verb with the wrong number of words: a path with a space in it, or something
        // appended. Neither names a project.
        _ => Err(CommandRefusal::BadPath),
    }
}

enum Verb {
    Git(GitVerb),
    Lfs,
}

fn first_word(command: &str) -> Option<&str> {
    command
        .split(|c: char| c == ' ' || c.is_control())
        .find(|w| !w.is_empty())
}

fn verb(word: &str) -> Option<Verb> {
    Some(match word {
        "git-upload-pack" => Verb::Git(GitVerb::UploadPack),
        "git-receive-pack" => Verb::Git(GitVerb::ReceivePack),
        "git-upload-archive" => Verb::Git(GitVerb::UploadArchive),
        "git-lfs-authenticate" => Verb::Lfs,
        _ => return None,
    })
}

/// A word without its single quotes, when it is quoted whole (or not at all) and holds no
/// other quote.
fn unquote(word: &str) -> Option<&str> {
    let inner = match word.strip_prefix('\'') {
        Some(rest) => rest.strip_suffix('\'')?,
        None => word,
    };
    (!inner.contains(['\'', '"', '\\'])).then_some(inner)
}

/// The project's full path a path word names (`group/sub/project`), or [`CommandRefusal::BadPath`].
pub fn project_path(word: &str) -> Result<String, CommandRefusal> {
    let path = unquote(word).ok_or(CommandRefusal::BadPath)?;
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix(".git").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() < 2 || segments.len() > MAX_SEGMENTS {
        return Err(CommandRefusal::BadPath);
    }
    if segments.iter().all(|s| valid_segment(s)) {
        Ok(path.to_owned())
    } else {
        Err(CommandRefusal::BadPath)
    }
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= MAX_SEGMENT_LEN
        && !segment.starts_with('-')
        && !segment.contains("..")
        && segment != "."
        // No namespace or project path ends so (`model::naming`): `p.git.git` names nothing.
        && !segment.ends_with(".git")
        && !segment.ends_with(".atom")
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(verb: GitVerb, path: &str) -> Result<SshCommand, CommandRefusal> {
        Ok(SshCommand::Git {
            verb,
            path: path.to_owned(),
        })
    }

    #[test]
    fn accepts_what_git_and_git_lfs_send() {
        use GitVerb::*;
        let cases: &[(&str, Result<SshCommand, CommandRefusal>)] = &[
            ("", Ok(SshCommand::Welcome)),
            ("   ", Ok(SshCommand::Welcome)),
            (
                "git-upload-pack '/group/project.git'",
                git(UploadPack, "group/project"),
            ),
            (
                "git-upload-pack 'group/project.git'",
                git(UploadPack, "group/project"),
            ),
            (
                "git-upload-pack /group/project",
                git(UploadPack, "group/project"),
            ),
            (
                "git-receive-pack '/a/b/c/d.git'",
                git(ReceivePack, "a/b/c/d"),
            ),
            ("git-upload-archive '/g/p.git'", git(UploadArchive, "g/p")),
            ("git upload-pack '/g/p.git'", git(UploadPack, "g/p")),
            ("git receive-pack 'g/p'", git(ReceivePack, "g/p")),
            (
                "git-upload-pack  '/G_1/my.proj-x.git'",
                git(UploadPack, "G_1/my.proj-x"),
            ),
            (
                "git-lfs-authenticate '/g/p.git' download",
                Ok(SshCommand::LfsAuthenticate {
                    path: "g/p".into(),
                    operation: LfsOperation::Download,
                }),
            ),
            (
                "git-lfs-authenticate g/p upload",
                Ok(SshCommand::LfsAuthenticate {
                    path: "g/p".into(),
                    operation: LfsOperation::Upload,
                }),
            ),
        ];
        for (command, want) in cases {
            assert_eq!(&parse(command.as_bytes()), want, "{command:?}");
        }
    }

    #[test]
    fn refuses_paths_that_could_mean_something_else() {
        for command in [
            "git-upload-pack '/g/../p.git'",
            "git-upload-pack '/g/p.git.git'",
            "git-upload-pack '/g.git/p.git'",
            "git-upload-pack '/g/p.atom'",
            "git-upload-pack '../g/p.git'",
            "git-upload-pack '/g/..'",
            "git-upload-pack '/g/./p'",
            "git-upload-pack '//g/p'",
            "git-upload-pack '/g//p'",
            "git-upload-pack '/g/p/'",
            "git-upload-pack '/p.git'",
            "git-upload-pack 'p'",
            "git-upload-pack '/g/%2e%2e/p'",
            "git-upload-pack '/g/p;id'",
            "git-upload-pack '/g/p';id",
            "git-upload-pack '/g/$(id)'",
            "git-upload-pack '/g/`id`'",
            "git-upload-pack '/g/p\nid'",
            "git-upload-pack '/g/p\0'",
            "git-upload-pack '/g/p\"'",
            "git-upload-pack '/g/p'\\''x'",
            "git-upload-pack \"/g/p\"",
            "git-upload-pack '/g/p",
            "git-upload-pack /g/p'",
            "git-upload-pack '/g/-p'",
            "git-upload-pack '/g/p' extra",
            "git-upload-pack",
            "git-upload-pack '/g/p q'",
            "git-upload-pack\t'/g/p'",
            "git-upload-pack '/g/ü'",
        ] {
            assert_eq!(
                parse(command.as_bytes()),
                Err(CommandRefusal::BadPath),
                "{command:?}"
            );
        }
        let deep = vec!["g"; MAX_SEGMENTS + 1].join("/");
        assert_eq!(
            parse(format!("git-upload-pack '{deep}'").as_bytes()),
            Err(CommandRefusal::BadPath)
        );
        let deepest = vec!["g"; MAX_SEGMENTS].join("/");
        assert!(parse(format!("git-upload-pack '{deepest}'").as_bytes()).is_ok());
    }

    #[test]
    fn refuses_every_other_command() {
        for command in [
            "sh",
            "bash -c id",
            "id",
            "git",
            "git status",
            "git-upload-packx '/g/p'",
            "scp -t /tmp",
            "git-lfs-authenticate '/g/p' delete",
            "git-lfs-authenticate '/g/p' 'upload'x",
            "git-lfs-transfer '/g/p' upload",
            "git-shell -c 'git-upload-pack g/p'",
            "2fa_recovery_codes",
            "personal_access_token",
            "\nid",
        ] {
            assert_eq!(
                parse(command.as_bytes()),
                Err(CommandRefusal::Disallowed),
                "{command:?}"
            );
        }
        assert_eq!(
            parse(b"git-upload-pack '\xff/p'"),
            Err(CommandRefusal::Disallowed)
        );
        let long = format!("git-upload-pack 'g/{}'", "p".repeat(MAX_COMMAND_LEN));
        assert_eq!(parse(long.as_bytes()), Err(CommandRefusal::Disallowed));
    }

    #[test]
    fn names_each_command_for_logs() {
        assert_eq!(SshCommand::Welcome.verb(), "welcome");
        let c = parse(b"git receive-pack 'g/p.git'").unwrap();
        assert_eq!((c.verb(), c.path()), ("git-receive-pack", Some("g/p")));
        assert!(!GitVerb::ReceivePack.is_read() && GitVerb::UploadArchive.is_read());
    }
}
