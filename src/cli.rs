//! The command line: `pushmirror serve`, `token create`, `user create`, `user set-password`,
//! `hook post-receive`, `ssh host-key`, and OpenSSH's `AuthorizedKeysCommand` mode
//! (`ssh authorized-keys`, which prints the line that makes sshd run `ssh serve`). Flags win over
//! `PUSHMIRROR_*` environment variables, which win over the `--config` TOML file, which wins over
//! defaults. Every failure ends with a message a person can act on and a distinct exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::app::{App, StartError};
use crate::config::{
    parse_allowlist, parse_external_ssh_url, parse_external_url, parse_listen, parse_smtp,
    parse_ssh_listen, parse_ssh_user, parse_storage, ConfigError, FileConfig, ServeConfig,
    SshConfig, StoreConfig, Tuning, DEFAULT_SHUTDOWN_GRACE_SECS,
};
use crate::server;

use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// The log file of `ssh serve` processes, in `<data-dir>/log/`.
pub const SESSION_LOG: &str = "ssh-sessions.log";

/// Exit code for bad flags or configuration (clap itself uses 2 for bad flags).
const EXIT_CONFIG: u8 = 2;
/// Exit code when the server or a command cannot start (port taken, database too new…).
const EXIT_START: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "pushmirror",
    version,
    about = "Push-mirror server speaking GitLab's v4 remote-mirrors API"
)]
struct Cli {
    /// Log lines as `text` (for people) or `json` (one object per line, for log collectors).
    #[arg(long, global = true, env = "PUSHMIRROR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage personal access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage user accounts and their web sign-in passwords.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Git hooks an operator may install in hosted repositories.
    Hook {
        #[command(subcommand)]
        command: HookCommand,
    },
    /// The built-in SSH server.
    Ssh {
        #[command(subcommand)]
        command: SshCommand,
    },
}

#[derive(Subcommand, Debug)]
enum SshCommand {
    /// Print the SSH host key's public line and its SHA256 fingerprint (the key is made in the
    /// data directory if there is none yet, as `serve` would).
    HostKey(HostKeyArgs),
    /// For OpenSSH's `AuthorizedKeysCommand … ssh authorized-keys %u %k`: print the
    /// `authorized_keys` line that lets a known key in through `ssh serve`, or nothing.
    AuthorizedKeys(AuthorizedKeysArgs),
    /// Run one SSH session's command (`SSH_ORIGINAL_COMMAND`) for a key OpenSSH authenticated,
    /// over this process's stdin, stdout and stderr (what `authorized-keys` lines make sshd run).
    Serve(SshServeArgs),
}

#[derive(Args, Debug)]
struct AuthorizedKeysArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The SSH login user keys are for (git@host); other logins get nothing. Default git
    #[arg(long, env = "PUSHMIRROR_SSH_USER")]
    ssh_user: Option<String>,
    /// The login user sshd asks about (`%u`).
    user: String,
    /// The key the client offers, base64 (`%k`).
    key: String,
}

#[derive(Args, Debug)]
struct SshServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The authenticated key, `key-<id>`.
    key: String,
}

#[derive(Args, Debug)]
struct HostKeyArgs {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand, Debug)]
enum HookCommand {
    /// Record a push that reached a repository without pushmirror's smart HTTP (reads git's
    /// `<old> <new> <ref>` lines from stdin; the repository is $GIT_DIR, else the current directory).
    PostReceive(HookArgs),
}

#[derive(Args, Debug)]
struct HookArgs {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a user if missing and print a new personal access token for it (only the token).
    Create(TokenArgs),
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user with a password for the web interface (read from stdin, never from argv).
    Create(UserCreateArgs),
    /// Set a user's password (read from stdin); the user's web sessions end.
    SetPassword(SetPasswordArgs),
}

#[derive(Args, Debug)]
struct UserCreateArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The new user's username.
    #[arg(long)]
    username: String,
    /// The new user's e-mail address.
    #[arg(long)]
    email: String,
    /// The new user's name. Default: the username
    #[arg(long)]
    name: Option<String>,
    /// Read the password from standard input (its first line).
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Make the user an instance administrator.
    #[arg(long)]
    admin: bool,
}

#[derive(Args, Debug)]
struct SetPasswordArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The user whose password to set.
    #[arg(long)]
    username: String,
    /// Read the password from standard input (its first line).
    #[arg(long, required = true)]
    password_stdin: bool,
}

#[derive(Args, Debug, Clone, Default)]
struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "PUSHMIRROR_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, repositories, secret key). Default ./data
    #[arg(long, env = "PUSHMIRROR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…). Default: SQLite file in the data dir.
    #[arg(long, env = "PUSHMIRROR_DATABASE_URL")]
    database_url: Option<String>,
    /// File holding the 32-byte credential key. Default: <data-dir>/secret.key
    #[arg(long, env = "PUSHMIRROR_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// A named repository storage, NAME=PATH (repeatable). `default` is always served, in
    /// <data-dir>/repositories unless given here.
    #[arg(long = "storage", value_name = "NAME=PATH")]
    storages: Vec<String>,
}

#[derive(Args, Debug, Default)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on. Default 127.0.0.1:8080
    #[arg(long, env = "PUSHMIRROR_LISTEN")]
    listen: Option<String>,
    /// Base URL for links in responses. Default http://<listen>
    #[arg(long, env = "PUSHMIRROR_EXTERNAL_URL")]
    external_url: Option<String>,
    /// Accept mirror URLs on loopback, private and link-local networks.
    #[arg(long, env = "PUSHMIRROR_ALLOW_LOCAL_NETWORK", num_args = 0..=1, default_missing_value = "true")]
    allow_local_network: Option<bool>,
    /// Retry delay for protected-only mirrors, seconds. Default 60
    #[arg(long, env = "PUSHMIRROR_RETRY_DELAY_PROTECTED_SECS")]
    retry_delay_protected_secs: Option<u64>,
    /// Retry delay for other mirrors, seconds. Default 300
    #[arg(long, env = "PUSHMIRROR_RETRY_DELAY_SECS")]
    retry_delay_secs: Option<u64>,
    /// Mirror updates running at once. Default 2 per core
    #[arg(long, env = "PUSHMIRROR_MAX_CONCURRENT_UPDATES")]
    max_concurrent_updates: Option<usize>,
    /// Webhook deliveries running at once. Default 8
    #[arg(long, env = "PUSHMIRROR_MAX_CONCURRENT_HOOK_DELIVERIES")]
    max_concurrent_hook_deliveries: Option<usize>,
    /// Notification e-mails being sent at once. Default 2
    #[arg(long, env = "PUSHMIRROR_MAX_CONCURRENT_EMAILS")]
    max_concurrent_emails: Option<usize>,
    /// Mirror updates running at once against one remote host. Default 4
    #[arg(long, env = "PUSHMIRROR_MAX_UPDATES_PER_HOST")]
    max_updates_per_host: Option<usize>,
    /// Deadline of one git process, seconds. Default 3600
    #[arg(long, env = "PUSHMIRROR_GIT_TIMEOUT_SECS")]
    git_timeout_secs: Option<u64>,
    /// Lease on a running update before another worker may take it over, seconds. Default 30
    #[arg(long, env = "PUSHMIRROR_LEASE_SECS")]
    lease_secs: Option<u64>,
    /// Run no mirror updates or webhook deliveries on this node (another node of the same
    /// database runs them).
    #[arg(long, env = "PUSHMIRROR_API_ONLY", num_args = 0..=1, default_missing_value = "true")]
    api_only: Option<bool>,
    /// Seconds in-flight requests may finish after SIGTERM before they are cancelled. Default 30
    #[arg(long, env = "PUSHMIRROR_SHUTDOWN_GRACE_SECS")]
    shutdown_grace_secs: Option<u64>,
    /// Deadline of one webhook delivery, seconds. Default 10
    #[arg(long, env = "PUSHMIRROR_WEBHOOK_TIMEOUT_SECS")]
    webhook_timeout_secs: Option<u64>,
    /// How often each push mirror checks that its remote still has every LFS object (and
    /// re-uploads what it lost), seconds. Default 86400
    #[arg(
        long = "lfs-full-check-interval",
        env = "PUSHMIRROR_LFS_FULL_CHECK_INTERVAL"
    )]
    lfs_full_check_interval_secs: Option<u64>,
    /// Imports and pull-mirror syncs running at once on this node. Default 4
    #[arg(long, env = "PUSHMIRROR_MAX_CONCURRENT_PULLS")]
    max_concurrent_pulls: Option<usize>,
    /// The shortest interval a pull mirror may be scheduled at, seconds. Default 60
    #[arg(
        long = "pull-mirror-min-interval",
        env = "PUSHMIRROR_PULL_MIRROR_MIN_INTERVAL"
    )]
    pull_mirror_min_interval_secs: Option<u64>,
    /// Consecutive failed syncs after which a pull mirror is paused. Default 14
    #[arg(long, env = "PUSHMIRROR_PULL_MIRROR_MAX_FAILURES")]
    pull_mirror_max_failures: Option<u64>,
    /// Clients allowed to read /-/health, /-/readiness, /-/liveness and /-/metrics, comma-separated
    /// addresses or ranges. Default 127.0.0.0/8,::1/128
    #[arg(long, env = "PUSHMIRROR_MONITORING_ALLOWLIST")]
    monitoring_allowlist: Option<String>,
    /// SMTP server for notification e-mail: smtp://[user:pass@]host[:port] (STARTTLS when
    /// offered) or smtps://… Default: no e-mail
    #[arg(long, env = "PUSHMIRROR_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// From address of notification e-mail. Default pushmirror@<external URL's host>
    #[arg(long, env = "PUSHMIRROR_SMTP_FROM")]
    smtp_from: Option<String>,
    /// Largest git LFS object accepted, bytes. Default 5 GiB
    #[arg(long, env = "PUSHMIRROR_LFS_MAX_OBJECT_SIZE")]
    lfs_max_object_size: Option<u64>,
    /// Most bytes of LFS objects one project may hold, 0 for no limit. Default 0
    #[arg(long, env = "PUSHMIRROR_LFS_MAX_PROJECT_SIZE")]
    lfs_max_project_size: Option<u64>,
    /// S3-compatible endpoint for LFS objects (https, or http on loopback). Default: each
    /// storage's lfs-objects/ directory
    #[arg(long, env = "PUSHMIRROR_LFS_S3_ENDPOINT")]
    lfs_s3_endpoint: Option<String>,
    /// The S3 bucket for LFS objects (required with --lfs-s3-endpoint).
    #[arg(long, env = "PUSHMIRROR_LFS_S3_BUCKET")]
    lfs_s3_bucket: Option<String>,
    /// The S3 region. Default us-east-1
    #[arg(long, env = "PUSHMIRROR_LFS_S3_REGION")]
    lfs_s3_region: Option<String>,
    /// Answer LFS downloads with presigned S3 URLs instead of streaming them.
    #[arg(long, env = "PUSHMIRROR_LFS_S3_PRESIGNED_DOWNLOADS", num_args = 0..=1, default_missing_value = "true")]
    lfs_s3_presigned_downloads: Option<bool>,
    /// Address the built-in SSH server listens on, or `off`. Default 127.0.0.1:2222
    #[arg(long, env = "PUSHMIRROR_SSH_LISTEN")]
    ssh_listen: Option<String>,
    /// The SSH login user (git@host). Default git
    #[arg(long, env = "PUSHMIRROR_SSH_USER")]
    ssh_user: Option<String>,
    /// ssh://user@host[:port] clients reach the SSH server at, for SSH clone URLs. Default:
    /// from --ssh-listen
    #[arg(long, env = "PUSHMIRROR_EXTERNAL_SSH_URL")]
    external_ssh_url: Option<String>,
    /// SSH connections one address may have open before they authenticated. Default 128
    #[arg(long, env = "PUSHMIRROR_SSH_MAX_UNAUTHENTICATED_PER_IP")]
    ssh_max_unauthenticated_per_ip: Option<usize>,
    /// Seconds an SSH connection may take to authenticate. Default 60
    #[arg(long, env = "PUSHMIRROR_SSH_HANDSHAKE_TIMEOUT_SECS")]
    ssh_handshake_timeout_secs: Option<u64>,
    /// Seconds an SSH connection may stay silent before it is closed. Default 300
    #[arg(long, env = "PUSHMIRROR_SSH_IDLE_TIMEOUT_SECS")]
    ssh_idle_timeout_secs: Option<u64>,
    /// Git commands one user or deploy key may run at once over SSH. Default 200
    #[arg(long, env = "PUSHMIRROR_SSH_MAX_SESSIONS_PER_USER")]
    ssh_max_sessions_per_user: Option<usize>,
}

#[derive(Args, Debug)]
struct TokenArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The user to create the token for (created if missing).
    #[arg(long)]
    username: String,
    /// Make the user an instance administrator.
    #[arg(long)]
    admin: bool,
}

fn store_config(args: &StoreArgs, file: &FileConfig) -> Result<StoreConfig, ConfigError> {
    let mut config = StoreConfig::resolve(
        args.data_dir.clone().or_else(|| file.data_dir.clone()),
        args.database_url
            .clone()
            .or_else(|| file.database_url.clone()),
        args.secret_key_file
            .clone()
            .or_else(|| file.secret_key_file.clone()),
    );
    // Flags replace the file's table as a whole, like every other setting.
    config.storages = if args.storages.is_empty() {
        let table = file.storages.clone().unwrap_or_default();
        table
            .iter()
            .map(|(name, path)| parse_storage(&format!("{name}={}", path.display())))
            .collect::<Result<_, _>>()?
    } else {
        args.storages
            .iter()
            .map(|s| parse_storage(s))
            .collect::<Result<_, _>>()?
    };
    Ok(config)
}

fn serve_config(args: &ServeArgs) -> Result<ServeConfig, ConfigError> {
    let file = FileConfig::load(args.store.config.as_deref())?;
    let listen = args
        .listen
        .clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen = parse_listen(&listen)?;
    let external_url = match args
        .external_url
        .clone()
        .or_else(|| file.external_url.clone())
    {
        Some(u) => parse_external_url(&u)?,
        None => format!("http://{listen}"),
    };
    let d = Tuning::default();
    let engine = Tuning {
        api_only: args.api_only.or(file.api_only).unwrap_or(false),
        retry_delay_protected_secs: args
            .retry_delay_protected_secs
            .or(file.retry_delay_protected_secs)
            .unwrap_or(d.retry_delay_protected_secs),
        retry_delay_secs: args
            .retry_delay_secs
            .or(file.retry_delay_secs)
            .unwrap_or(d.retry_delay_secs),
        max_concurrent_updates: args
            .max_concurrent_updates
            .or(file.max_concurrent_updates)
            .unwrap_or(d.max_concurrent_updates)
            .max(1),
        max_concurrent_hook_deliveries: args
            .max_concurrent_hook_deliveries
            .or(file.max_concurrent_hook_deliveries)
            .unwrap_or(d.max_concurrent_hook_deliveries)
            .max(1),
        max_concurrent_emails: args
            .max_concurrent_emails
            .or(file.max_concurrent_emails)
            .unwrap_or(d.max_concurrent_emails)
            .max(1),
        max_updates_per_host: args
            .max_updates_per_host
            .or(file.max_updates_per_host)
            .unwrap_or(d.max_updates_per_host)
            .max(1),
        git_timeout_secs: args
            .git_timeout_secs
            .or(file.git_timeout_secs)
            .unwrap_or(d.git_timeout_secs)
            .max(1),
        lease_secs: args
            .lease_secs
            .or(file.lease_secs)
            .unwrap_or(d.lease_secs)
            .max(2),
        webhook_timeout_secs: args
            .webhook_timeout_secs
            .or(file.webhook_timeout_secs)
            .unwrap_or(d.webhook_timeout_secs)
            .max(1),
        lfs_full_check_interval_secs: args
            .lfs_full_check_interval_secs
            .or(file.lfs_full_check_interval_secs)
            .unwrap_or(d.lfs_full_check_interval_secs)
            .max(60),
        max_concurrent_pulls: args
            .max_concurrent_pulls
            .or(file.max_concurrent_pulls)
            .unwrap_or(d.max_concurrent_pulls),
        pull_mirror_min_interval_secs: args
            .pull_mirror_min_interval_secs
            .or(file.pull_mirror_min_interval_secs)
            .unwrap_or(d.pull_mirror_min_interval_secs)
            .max(1),
        pull_mirror_max_failures: args
            .pull_mirror_max_failures
            .or(file.pull_mirror_max_failures)
            .unwrap_or(d.pull_mirror_max_failures)
            .max(1),
    };
    let grace = args
        .shutdown_grace_secs
        .or(file.shutdown_grace_secs)
        .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS);
    let monitoring_allowlist = match (&args.monitoring_allowlist, &file.monitoring_allowlist) {
        (Some(flag), _) => parse_allowlist(flag)?,
        (None, Some(list)) => parse_allowlist(&list.join(","))?,
        (None, None) => crate::model::cidr::loopback(),
    };
    let smtp = parse_smtp(
        args.smtp_url
            .clone()
            .or_else(|| file.smtp_url.clone())
            .map(secrecy::SecretString::from),
        args.smtp_from.clone().or_else(|| file.smtp_from.clone()),
        &external_url,
    )?;
    Ok(ServeConfig {
        ssh: ssh_config(args, &file)?,
        lfs: lfs_config(args, &file)?,
        store: store_config(&args.store, &file)?,
        monitoring_allowlist,
        smtp,
        listen,
        external_url,
        shutdown_grace: std::time::Duration::from_secs(grace),
        allow_local_network: args
            .allow_local_network
            .or(file.allow_local_network)
            .unwrap_or(false),
        tuning: engine,
    })
}

/// The built-in SSH server's settings: flags > environment > file > defaults.
fn ssh_config(args: &ServeArgs, file: &FileConfig) -> Result<SshConfig, ConfigError> {
    let d = SshConfig::default();
    let listen = match args.ssh_listen.as_ref().or(file.ssh_listen.as_ref()) {
        Some(s) => parse_ssh_listen(s)?,
        None => d.listen,
    };
    let user = match args.ssh_user.as_ref().or(file.ssh_user.as_ref()) {
        Some(s) => parse_ssh_user(s)?,
        None => d.user,
    };
    let external_ssh_url = args
        .external_ssh_url
        .as_ref()
        .or(file.external_ssh_url.as_ref())
        .map(|s| parse_external_ssh_url(s))
        .transpose()?;
    let secs = std::time::Duration::from_secs;
    Ok(SshConfig {
        listen,
        user,
        external_ssh_url,
        max_unauthenticated_per_ip: args
            .ssh_max_unauthenticated_per_ip
            .or(file.ssh_max_unauthenticated_per_ip)
            .unwrap_or(d.max_unauthenticated_per_ip)
            .max(1),
        handshake_timeout: args
            .ssh_handshake_timeout_secs
            .or(file.ssh_handshake_timeout_secs)
            .map_or(d.handshake_timeout, |s| secs(s.max(1))),
        idle_timeout: args
            .ssh_idle_timeout_secs
            .or(file.ssh_idle_timeout_secs)
            .map_or(d.idle_timeout, |s| secs(s.max(1))),
        max_sessions_per_user: args
            .ssh_max_sessions_per_user
            .or(file.ssh_max_sessions_per_user)
            .unwrap_or(d.max_sessions_per_user)
            .max(1),
    })
}

/// The LFS settings: flags > environment > file > defaults; the S3 credentials from
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, else the file.
fn lfs_config(
    args: &ServeArgs,
    file: &FileConfig,
) -> Result<crate::config::LfsConfig, ConfigError> {
    let d = crate::config::LfsConfig::default();
    let endpoint = args
        .lfs_s3_endpoint
        .clone()
        .or_else(|| file.lfs_s3_endpoint.clone());
    let bucket = args
        .lfs_s3_bucket
        .clone()
        .or_else(|| file.lfs_s3_bucket.clone());
    let s3 = match (endpoint, bucket) {
        (None, None) => None,
        (Some(endpoint), Some(bucket)) => Some(crate::config::S3Config {
            endpoint: crate::config::parse_s3_endpoint(&endpoint)?,
            bucket,
            region: args
                .lfs_s3_region
                .clone()
                .or_else(|| file.lfs_s3_region.clone())
                .unwrap_or_else(|| crate::config::DEFAULT_S3_REGION.into()),
            access_key_id: std::env::var("AWS_ACCESS_KEY_ID")
                .ok()
                .or_else(|| file.lfs_s3_access_key_id.clone()),
            secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY")
                .ok()
                .or_else(|| file.lfs_s3_secret_access_key.clone())
                .map(secrecy::SecretString::from),
            presigned_downloads: args
                .lfs_s3_presigned_downloads
                .or(file.lfs_s3_presigned_downloads)
                .unwrap_or(false),
        }),
        (Some(_), None) | (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                name: "lfs-s3-bucket",
                message: "--lfs-s3-endpoint and --lfs-s3-bucket go together".into(),
            })
        }
    };
    Ok(crate::config::LfsConfig {
        max_object_size: args
            .lfs_max_object_size
            .or(file.lfs_max_object_size)
            .unwrap_or(d.max_object_size),
        max_project_size: args
            .lfs_max_project_size
            .or(file.lfs_max_project_size)
            .unwrap_or(d.max_project_size),
        s3,
    })
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // An `ssh serve` process's stderr is the git client's: its log goes to a file instead.
    let (writer, ansi) = match &cli.command {
        Command::Ssh {
            command: SshCommand::Serve(args),
        } => (session_log(&args.store), false),
        _ => (BoxMakeWriter::new(std::io::stderr), true),
    };
    let in_session = !ansi;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PUSHMIRROR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(ansi)
        .with_writer(writer);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pushmirror: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_START);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Token {
                command: TokenCommand::Create(args),
            } => token_create(args).await,
            Command::Hook {
                command: HookCommand::PostReceive(args),
            } => hook_post_receive(args).await,
            Command::User {
                command: UserCommand::Create(args),
            } => user_create(args).await,
            Command::User {
                command: UserCommand::SetPassword(args),
            } => user_set_password(args).await,
            Command::Ssh {
                command: SshCommand::HostKey(args),
            } => ssh_host_key(args),
            Command::Ssh {
                command: SshCommand::AuthorizedKeys(args),
            } => ssh_authorized_keys(args).await,
            Command::Ssh {
                command: SshCommand::Serve(args),
            } => ssh_serve(args).await,
        }
    });
    if in_session {
        // tokio's stdin reads on a blocking thread that a client keeping its end open would
        // hold forever; the session is over, so nothing is waited for.
        runtime.shutdown_background();
    }
    code
}

/// Where an `ssh serve` process logs: `<data-dir>/log/ssh-sessions.log` (appended, 0600), or
/// nowhere when it cannot be opened, never the client's stderr.
fn session_log(store: &StoreArgs) -> BoxMakeWriter {
    use std::os::unix::fs::OpenOptionsExt as _;
    let args = ServeArgs {
        store: store.clone(),
        ..ServeArgs::default()
    };
    let Ok(config) = serve_config(&args) else {
        return BoxMakeWriter::new(std::io::sink);
    };
    let dir = config.store.data_dir.join("log");
    let file = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(dir.join(SESSION_LOG))
    });
    match file {
        Ok(f) => BoxMakeWriter::new(std::sync::Mutex::new(f)),
        Err(_) => BoxMakeWriter::new(std::io::sink),
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = match serve_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pushmirror: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (another process is using it; pick another with --listen)"
            } else {
                ""
            };
            eprintln!("pushmirror: cannot listen on {}: {e}{hint}", config.listen);
            return ExitCode::from(EXIT_START);
        }
    };
    let ssh_listener = match config.ssh.listen {
        None => None,
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                    " (another process is using it; pick another with --ssh-listen, or 'off')"
                } else {
                    ""
                };
                eprintln!("pushmirror: cannot listen for SSH on {addr}: {e}{hint}");
                return ExitCode::from(EXIT_START);
            }
        },
    };
    let app = match App::build(&config).await {
        Ok(a) => a,
        Err(e) => return start_failed(e),
    };
    tracing::info!(listen = %config.listen, ssh_listen = %config.ssh.listen.map_or_else(|| "off".to_owned(), |a| a.to_string()), external_url = %config.external_url, data_dir = %config.store.data_dir.display(), "pushmirror serving");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    match server::run(listener, ssh_listener, app, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => start_failed(e),
    }
}

fn start_failed(e: StartError) -> ExitCode {
    eprintln!("pushmirror: {e}");
    ExitCode::from(EXIT_START)
}

/// The configuration of a command that is not `serve`: the store flags, and everything else
/// from the environment, the file and the defaults, as `serve` would read them.
fn command_config(store: &StoreArgs) -> Result<ServeConfig, ExitCode> {
    let args = ServeArgs {
        store: store.clone(),
        ..ServeArgs::default()
    };
    serve_config(&args).map_err(|e| {
        eprintln!("pushmirror: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

async fn token_create(args: TokenArgs) -> ExitCode {
    let config = match command_config(&args.store) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let username = args.username.trim();
    let valid = !username.is_empty()
        && username.len() <= 255
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        eprintln!("pushmirror: invalid username '{username}': use letters, digits, '_', '-' and '.', starting with a letter, digit or '_'");
        return ExitCode::from(EXIT_CONFIG);
    }
    let app = match App::build(&config).await {
        Ok(a) => a,
        Err(e) => return start_failed(e),
    };
    match crate::service::auth::issue_token(&app, username, args.admin, "cli").await {
        Ok(token) => {
            println!("{}", token.expose_secret());
            ExitCode::SUCCESS
        }
        Err(e) => start_failed(e.into()),
    }
}

/// The first line of standard input, without its line ending: a password piped in.
fn password_from_stdin() -> Result<String, ExitCode> {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("pushmirror: cannot read the password from stdin: {e}");
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        eprintln!("pushmirror: no password on stdin");
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    Ok(password)
}

/// Prints why a user command was refused: the field messages GitLab would give, one per line.
fn user_refused(e: crate::service::error::ServiceError) -> ExitCode {
    use crate::service::error::ServiceError;
    match e {
        ServiceError::Invalid(errors) => {
            for m in errors.full_messages() {
                eprintln!("pushmirror: {m}");
            }
            ExitCode::from(EXIT_CONFIG)
        }
        ServiceError::Conflict(taken) => {
            eprintln!("pushmirror: {taken}");
            ExitCode::from(EXIT_CONFIG)
        }
        ServiceError::Refused(why) => {
            eprintln!("pushmirror: {why}");
            ExitCode::from(EXIT_CONFIG)
        }
        ServiceError::NotFound(what) => {
            eprintln!("pushmirror: {what} not found");
            ExitCode::from(EXIT_CONFIG)
        }
        other => {
            eprintln!("pushmirror: {other}");
            ExitCode::from(EXIT_START)
        }
    }
}

/// What both user commands start with: the configuration, the password from stdin (read before
/// the database is opened, so a missing one changes nothing), then the application.
async fn app_and_password(store: &StoreArgs) -> Result<(std::sync::Arc<App>, String), ExitCode> {
    let config = command_config(store)?;
    let password = password_from_stdin()?;
    let app = App::build(&config).await.map_err(start_failed)?;
    Ok((app, password))
}

/// `pushmirror user create`: a user with a password, for signing in to the web interface.
async fn user_create(args: UserCreateArgs) -> ExitCode {
    let (app, password) = match app_and_password(&args.store).await {
        Ok(both) => both,
        Err(code) => return code,
    };
    let changes = crate::model::accounts::AccountChanges {
        name: Some(args.name.unwrap_or_else(|| args.username.clone())),
        username: Some(args.username),
        email: Some(args.email),
        password: Some(password),
        admin: Some(args.admin),
    };
    match crate::service::users::create_account(&app, changes).await {
        Ok(user) => {
            println!("created user {} (id {})", user.username, user.id);
            ExitCode::SUCCESS
        }
        Err(e) => user_refused(e),
    }
}

/// `pushmirror ssh host-key`: the built-in server's public host key line, then its fingerprint.
fn ssh_host_key(args: HostKeyArgs) -> ExitCode {
    let config = match command_config(&args.store) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let path = config
        .store
        .data_dir
        .join(crate::ssh::host_key::HOST_KEY_FILE);
    match crate::ssh::host_key::load_or_create(&path) {
        Ok(key) => {
            println!("{}", crate::ssh::host_key::public_line(&key));
            println!("{}", crate::ssh::host_key::fingerprint(&key));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pushmirror: {e}");
            ExitCode::from(EXIT_START)
        }
    }
}

/// What `ssh serve` says when the key sshd authenticated lets no one in any more (removed,
/// expired, its user blocked since sshd asked `authorized-keys`), or the database cannot be read.
const SSH_KEY_REFUSED: &str = "fatal: Access denied: this SSH key is not allowed to connect.";

/// `pushmirror ssh authorized-keys <user> <key>`: the line sshd adds to the login's
/// `authorized_keys` for this key, when it is a key that lets someone in now and the login is
/// the configured one; otherwise nothing (and exit 0: sshd simply finds no key). The line's
/// command opens the same installation: this binary by its absolute path, with the settings
/// this command was given (a configuration file, data directory, database URL without a
/// password, secret key file, storages).
async fn ssh_authorized_keys(args: AuthorizedKeysArgs) -> ExitCode {
    use base64::Engine as _;
    let serve_args = ServeArgs {
        store: args.store.clone(),
        ssh_user: args.ssh_user.clone(),
        ..ServeArgs::default()
    };
    let config = match serve_config(&serve_args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pushmirror: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.user != config.ssh.user {
        return ExitCode::SUCCESS;
    }
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(args.key.trim()) else {
        return ExitCode::SUCCESS;
    };
    let words = match serve_words(&args.store, &config) {
        Ok(words) => words,
        Err(why) => {
            eprintln!("pushmirror: no authorized_keys line: {why}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let app = match App::build_without_migrating(&config).await {
        Ok(a) => a,
        Err(e) => return start_failed(e),
    };
    use crate::service::ssh_access::KeyRefusal;
    let key = match crate::service::ssh_access::offered_key(&app, &blob).await {
        Ok(key) => key,
        Err(KeyRefusal::Internal(e)) => {
            eprintln!("pushmirror: cannot read the keys: {e}");
            return ExitCode::from(EXIT_START);
        }
        Err(_) => return ExitCode::SUCCESS,
    };
    let mut words = words;
    words.push(format!("key-{}", key.id));
    match crate::model::authorized_keys::key_line(&words, &key.key) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pushmirror: no authorized_keys line: {e:?}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// The words of the `ssh serve` command that opens this installation: this binary, then the
/// store settings that were given (flags or `PUSHMIRROR_*`; the file's own are read again from
/// the file), then `ssh serve`'s own words (the key comes last).
fn serve_words(store: &StoreArgs, config: &ServeConfig) -> Result<Vec<String>, String> {
    let text = |p: &std::path::Path, what: &str| {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        p.to_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the {what} path is not UTF-8"))
    };
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut words = vec![text(&exe, "binary")?, "ssh".into(), "serve".into()];
    if let Some(file) = &store.config {
        words.extend(["--config".into(), text(file, "configuration file")?]);
    }
    words.extend([
        "--data-dir".into(),
        text(&config.store.data_dir, "data directory")?,
    ]);
    if let Some(url) = &store.database_url {
        if crate::model::authorized_keys::url_has_password(url) {
            return Err(
                "the database URL holds a password, which would show in every \
                 session's command line: put database_url in the --config file instead"
                    .into(),
            );
        }
        words.extend(["--database-url".into(), url.clone()]);
    }
    if let Some(file) = &store.secret_key_file {
        words.extend(["--secret-key-file".into(), text(file, "secret key file")?]);
    }
    for storage in &store.storages {
        words.extend(["--storage".into(), storage.clone()]);
    }
    Ok(words)
}

/// `pushmirror ssh serve key-<id>`: one session for a key sshd authenticated (it runs this as
/// the forced command of the line `authorized-keys` printed): the client's command from
/// `SSH_ORIGINAL_COMMAND` (none: the welcome), `GIT_PROTOCOL` when sshd passed it, over this
/// process's stdin, stdout and stderr, through the same code as the built-in server; exits
/// with the session's status once a push is recorded.
async fn ssh_serve(args: SshServeArgs) -> ExitCode {
    let Some(key_id) = args
        .key
        .strip_prefix("key-")
        .and_then(|id| id.parse::<i64>().ok())
    else {
        eprintln!("pushmirror: expected key-<id>, not {:?}", args.key);
        return ExitCode::from(EXIT_CONFIG);
    };
    let config = match command_config(&args.store) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let app = match App::build_without_migrating(&config).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "ssh serve cannot start");
            eprintln!("{SSH_KEY_REFUSED}");
            return ExitCode::from(1);
        }
    };
    let principal = match crate::service::ssh_access::principal_for_key(&app, key_id).await {
        Ok(p) => p,
        Err(refusal) => {
            tracing::info!(
                key_id,
                result = refusal.as_str(),
                "ssh serve refused the key"
            );
            eprintln!("{SSH_KEY_REFUSED}");
            return ExitCode::from(1);
        }
    };
    use std::os::unix::ffi::OsStrExt as _;
    let command = std::env::var_os("SSH_ORIGINAL_COMMAND").unwrap_or_default();
    let protocol = std::env::var("GIT_PROTOCOL").ok();
    let (stdout, stderr) = match (unbuffered(std::io::stdout()), unbuffered(std::io::stderr())) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "ssh serve cannot use its standard streams");
            return ExitCode::from(1);
        }
    };
    let io = crate::ssh::exec::Io {
        stdin: tokio::io::stdin(),
        stdout,
        stderr,
    };
    let status = crate::ssh::exec::run(
        &app,
        &principal,
        command.as_bytes(),
        protocol.as_deref(),
        io,
    )
    .await;
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

/// An async writer on `stream`'s file descriptor that writes every chunk as it comes. Not
/// `tokio::io::stdout`: that goes through std's line-buffered stdout, which keeps git's
/// newline-less flush packets until the end, and the client waits for them forever.
fn unbuffered(stream: impl std::os::fd::AsFd) -> std::io::Result<tokio::fs::File> {
    let fd = stream.as_fd().try_clone_to_owned()?;
    Ok(tokio::fs::File::from_std(std::fs::File::from(fd)))
}

/// `pushmirror user set-password`.
async fn user_set_password(args: SetPasswordArgs) -> ExitCode {
    let (app, password) = match app_and_password(&args.store).await {
        Ok(both) => both,
        Err(code) => return code,
    };
    match crate::service::users::set_password(&app, args.username.trim(), &password).await {
        Ok(user) => {
            println!("password set for {}", user.username);
            ExitCode::SUCCESS
        }
        Err(e) => user_refused(e),
    }
}

/// `pushmirror hook post-receive`: finds the project from the repository git runs the hook in
/// (`<storage>/<id>.git`) and records the push as the smart-HTTP handler does. The storage's
/// marker (`storage::marker`) names the storage and, when no data directory is configured, the
/// installation's data directory.
async fn hook_post_receive(args: HookArgs) -> ExitCode {
    let file = match FileConfig::load(args.store.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pushmirror: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let git_dir = std::env::var_os("GIT_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let Some(repo) = std::fs::canonicalize(&git_dir).ok() else {
        eprintln!("pushmirror: {} does not exist", git_dir.display());
        return ExitCode::from(EXIT_CONFIG);
    };
    let Some(root) = repo.parent() else {
        eprintln!(
            "pushmirror: {} is not a pushmirror repository",
            repo.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let Some(marker) = crate::storage::marker::read(root) else {
        eprintln!(
            "pushmirror: {} is not a pushmirror repository (its directory has no {})",
            repo.display(),
            crate::storage::marker::MARKER_FILE
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let mut store_args = args.store.clone();
    if store_args.data_dir.is_none()
        && file.data_dir.is_none()
        && std::env::var_os("PUSHMIRROR_DATA_DIR").is_none()
    {
        store_args.data_dir = Some(marker.data_dir.clone());
    }
    // The repository's own storage is served by this command, whatever else is configured.
    let named = format!("{}=", marker.storage);
    if !store_args.storages.iter().any(|s| s.starts_with(&named)) {
        store_args
            .storages
            .push(format!("{named}{}", root.display()));
    }
    let config = match command_config(&store_args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut input = String::new();
    if let Err(e) =
        tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut input).await
    {
        eprintln!("pushmirror: cannot read the ref updates from stdin: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let updates: Vec<_> = input
        .lines()
        .filter_map(crate::service::pushes::RefUpdate::parse)
        .collect();
    let app = match App::build(&config).await {
        Ok(a) => a,
        Err(e) => return start_failed(e),
    };
    let Some(repo_ref) = app.storages.identify(&repo) else {
        eprintln!(
            "pushmirror: {} is not a pushmirror repository (<storage>/<id>.git)",
            repo.display()
        );
        return ExitCode::from(EXIT_CONFIG);
    };
    let project_id = repo_ref.project_id;
    match app.store.project_by_id(project_id).await {
        Ok(Some(p)) if p.storage == repo_ref.storage => {}
        Ok(_) => {
            eprintln!(
                "pushmirror: {} is not the repository of a project on storage '{}'",
                repo.display(),
                repo_ref.storage
            );
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("pushmirror: cannot read the project: {e}");
            return ExitCode::from(EXIT_START);
        }
    }
    let change = crate::service::push_session::RefChange {
        origin: crate::service::push_session::Origin::Hook,
        pusher: None,
        updates,
    };
    match crate::service::push_session::record(&app, project_id, &change).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pushmirror: recording the push failed: {e}");
            ExitCode::from(EXIT_START)
        }
    }
}
