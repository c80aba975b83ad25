//! Sending e-mail over SMTP: the operator's `--smtp-url` (`smtp://[user:pass@]host[:port]`,
//! STARTTLS when the server offers it; `smtps://…` for TLS from the first byte) and from
//! address. The URL's password is a secret: it lives in a [`SecretString`], is never logged, and
//! [`SmtpSettings`]' `Debug` shows the host only. Without settings nothing is ever sent.

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtp` or `smtps`.
    implicit_tls: bool,
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<SecretString>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpSettings({}:{})", self.host, self.port)
    }
}

impl SmtpSettings {
    /// Parses `--smtp-url` and `--smtp-from`; the error never repeats the URL (it may hold a
    /// password).
    pub fn parse(url: &SecretString, from: &str) -> Result<SmtpSettings, String> {
        let parsed = url::Url::parse(url.expose_secret())
            .map_err(|e| format!("the SMTP URL is not a URL ({e})"))?;
        let implicit_tls = match parsed.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(format!(
                    "the SMTP URL's scheme must be smtp or smtps, not {other}"
                ))
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the SMTP URL has no host")?
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned();
        let port = parsed
            .port()
            .unwrap_or(if implicit_tls { 465 } else { 587 });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = (!parsed.username().is_empty()).then(|| decode(parsed.username()));
        let password = parsed.password().map(|p| SecretString::from(decode(p)));
        let from: Mailbox = from
            .parse()
            .map_err(|_| format!("'{from}' is not an e-mail address to send from"))?;
        Ok(SmtpSettings {
            implicit_tls,
            host,
            port,
            user,
            password,
            from,
        })
    }
}

/// Sends mail with [`SmtpSettings`].
pub struct Mailer {
    settings: SmtpSettings,
}

/// A message could not be sent; the text names no credential.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(String);

impl Mailer {
    pub fn new(settings: SmtpSettings) -> Mailer {
        Mailer { settings }
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        let s = &self.settings;
        let tls_params = TlsParameters::new(s.host.clone())
            .map_err(|e| MailError(format!("cannot set up TLS for {}: {e}", s.host)))?;
        let tls = if s.implicit_tls {
            Tls::Wrapper(tls_params)
        } else {
            Tls::Opportunistic(tls_params)
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&s.user, &s.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(builder.build())
    }

    /// Sends one plain-text message to each of `to` (one message per recipient, so nobody
    /// learns who else was told).
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), MailError> {
        let transport = self.transport()?;
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|_| MailError(format!("'{address}' is not an e-mail address")))?;
            let message = Message::builder()
                .from(self.settings.from.clone())
                .to(mailbox)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body.to_owned())
                .map_err(|e| MailError(format!("cannot build the message: {e}")))?;
            transport.send(message).await.map_err(|e| {
                // lettre's error text names the server's answer, never the credentials.
                MailError(format!(
                    "the SMTP server {}:{} did not take the message: {e}",
                    self.settings.host, self.settings.port
                ))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_never_show_the_password() {
        let s = SmtpSettings::parse(
            &SecretString::from("smtp://mailer:p%40ss-W0rd@127.0.0.1:2525"),
            "pushmirror@example.com",
        )
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.implicit_tls),
            ("127.0.0.1", 2525, false)
        );
        assert_eq!(s.user.as_deref(), Some("mailer"));
        assert_eq!(s.password.as_ref().unwrap().expose_secret(), "p@ss-W0rd");
        assert!(!format!("{s:?}").contains("W0rd"));
        let s =
            SmtpSettings::parse(&SecretString::from("smtps://mail.example.com"), "a@b.c").unwrap();
        assert_eq!(
            (s.port, s.implicit_tls, s.user.is_none()),
            (465, true, true)
        );
        for bad in ["http://x", "smtp://", "not a url"] {
            let e = SmtpSettings::parse(&SecretString::from(bad), "a@b.c").unwrap_err();
            assert!(!e.contains("W0rd"), "{e}");
        }
        assert!(SmtpSettings::parse(&SecretString::from("smtp://h"), "not an address").is_err());
    }
}
