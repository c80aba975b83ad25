//! A real SMTP server on loopback (aiosmtpd, run by `smtp_receiver.py`) that keeps every message
//! it accepts, for the e-mail tests. Missing aiosmtpd skips with a printed reason, except under
//! `CI=true`, where it fails.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// One accepted message: its envelope recipients and raw text.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub text: String,
}

pub struct SmtpReceiver {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl SmtpReceiver {
    pub fn start_or_skip() -> Option<SmtpReceiver> {
        let have = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !have {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "aiosmtpd is required under CI (pip install aiosmtpd)"
            );
            eprintln!("SKIPPED: aiosmtpd is not installed (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/common/smtp_receiver.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SMTP receiver");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver's port");
        let port = line.trim().parse().expect("a port");
        Some(SmtpReceiver { child, dir, port })
    }

    /// Every message accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        let mut out = Vec::new();
        for n in 1.. {
            let base: PathBuf = self.dir.path().join(n.to_string());
            let (Ok(rcpt), Ok(text)) = (
                std::fs::read_to_string(base.with_extension("rcpt")),
                std::fs::read(base.with_extension("eml")),
            ) else {
                break;
            };
            // Bodies come quoted-printable: undo its soft line breaks and `=3D` so tests can
            // look for whole lines (other escapes stay as they are).
            let text = String::from_utf8_lossy(&text)
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
            out.push(Mail {
                to: rcpt.lines().map(str::to_owned).collect(),
                text,
            });
        }
        out
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
