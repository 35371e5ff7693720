//! The `smtp` provider: e-mail through an SMTP server with lettre's
//! `AsyncSmtpTransport<Tokio1Executor>`, configured from one URL (`OMBUDS_SMTP_URL`):
//!
//! | URL | meaning |
//! | --- | --- |
//! | `smtp://127.0.0.1:2525` | plain SMTP (a local relay or a development catcher) |
//! | `smtps://user:pass@host:465` | SMTP over TLS, with credentials |
//! | `smtp://host:587?tls=required` | STARTTLS required |
//!
//! The sender is `OMBUDS_SMTP_FROM` (default `Ombuds <noreply@localhost>`). Only the
//! e-mail medium is carried: an SMS delivery under this provider fails permanently.
//! The password in the URL never reaches a log line: the URL is kept in [`SmtpUrl`],
//! whose `Debug` and [`SmtpUrl::redacted`] drop the credentials.
//!
//! Server answers map onto [`ProviderError`]: 5xx is permanent, everything else (4xx,
//! connection and TLS trouble, timeouts) is transient.

use std::{fmt, time::Duration};

use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use ombuds_platform::{
    config::{Config as Settings, ConfigError},
    pii,
};

use super::{Provider, ProviderError, ProviderReceipt};
use crate::message::{Medium, OutgoingMessage};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The SMTP connection URL, which may hold a password: printed only without credentials.
#[derive(Clone)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself, for the transport only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any `user:password@` removed, for logs.
    pub fn redacted(&self) -> String {
        without_credentials(&self.0)
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpUrl({:?})", self.redacted())
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `smtps://user:pass@host:465/x?y` → `smtps://***@host:465/x?y`.
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}{tail}", &authority[at + 1..]),
        None => format!("{scheme}{authority}{tail}"),
    }
}

/// Settings of the SMTP provider.
#[derive(Debug, Clone)]
pub struct Config {
    /// `OMBUDS_SMTP_URL` (default `smtp://127.0.0.1:25`).
    pub url: SmtpUrl,
    /// `OMBUDS_SMTP_FROM` (default `Ombuds <noreply@localhost>`).
    pub from: Mailbox,
}

impl Config {
    /// Reads and checks the settings: a URL lettre cannot use, or a sender that is not a
    /// mailbox, is an error naming the variable (the URL shown without credentials).
    pub fn from_config(cfg: &Settings) -> Result<Self, ConfigError> {
        let url = SmtpUrl::new(cfg.string("OMBUDS_SMTP_URL", "smtp://127.0.0.1:25"));
        if let Err(e) = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose()) {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_SMTP_URL".into(),
                value: url.redacted(),
                message: e.to_string(),
            });
        }
        let from_text = cfg.string("OMBUDS_SMTP_FROM", "Ombuds <noreply@localhost>");
        let from = from_text
            .parse::<Mailbox>()
            .map_err(|e| ConfigError::Invalid {
                key: "OMBUDS_SMTP_FROM".into(),
                value: from_text.clone(),
                message: format!("not a mailbox such as `Ombuds <noreply@example.com>`: {e}"),
            })?;
        Ok(Self { url, from })
    }
}

pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpProvider {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.url.expose())
            .map_err(|e| anyhow::anyhow!("OMBUDS_SMTP_URL={} is invalid: {e}", config.url))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        tracing::info!(url = %config.url, from = %config.from, "notifications go out by SMTP");
        Ok(Self {
            transport,
            from: config.from.clone(),
        })
    }

    fn build(&self, msg: &OutgoingMessage) -> Result<Message, ProviderError> {
        let to = msg.to.parse::<Mailbox>().map_err(|e| {
            ProviderError::Permanent(format!(
                "the e-mail address {} is not valid: {e}",
                pii::mask_email(&msg.to)
            ))
        })?;
        // One Message-ID per delivery: should the message go out twice (see the
        // dispatcher's note on at-least-once), the copies carry the same id.
        let message_id = format!("<{}@{}>", msg.delivery_id, self.from.email.domain());
        Message::builder()
            .message_id(Some(message_id))
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(msg.body.clone())
            .map_err(|e| ProviderError::Permanent(format!("cannot build the e-mail: {e}")))
    }
}

impl Provider for SmtpProvider {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<ProviderReceipt, ProviderError> {
        if msg.medium != Medium::Email {
            return Err(ProviderError::Permanent(format!(
                "sends e-mail only and cannot deliver {} (the customer has no e-mail address)",
                msg.medium
            )));
        }
        let email = self.build(msg)?;
        match self.transport.send(email).await {
            Ok(response) => Ok(ProviderReceipt {
                reference: Some(response.message().collect::<Vec<_>>().join(" "))
                    .filter(|s| !s.is_empty()),
            }),
            Err(e) => {
                let text = pii::redact_text(&e.to_string());
                if e.is_permanent() {
                    Err(ProviderError::Permanent(text))
                } else {
                    Err(ProviderError::Transient(text))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        let url = SmtpUrl::new("smtps://user:s3cret@mail.example.com:465?tls=required");
        assert_eq!(
            url.redacted(),
            "smtps://***@mail.example.com:465?tls=required"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!url.to_string().contains("s3cret"));
        assert_eq!(
            SmtpUrl::new("smtp://127.0.0.1:2525").redacted(),
            "smtp://127.0.0.1:2525"
        );
    }

    #[test]
    fn settings_are_checked() {
        let cfg = Settings::from_pairs(
            "notification",
            [
                (
                    "OMBUDS_SMTP_URL",
                    "smtps://user:s3cret@mail.example.com:465",
                ),
                ("OMBUDS_SMTP_FROM", "Help Desk <help@example.com>"),
            ],
        );
        let c = Config::from_config(&cfg).expect("valid");
        assert_eq!(c.from.email.to_string(), "help@example.com");
        assert!(!format!("{c:?}").contains("s3cret"));

        let cfg = Settings::from_pairs("notification", [("OMBUDS_SMTP_FROM", "not a mailbox")]);
        let err = Config::from_config(&cfg).expect_err("bad sender");
        assert!(err.to_string().contains("OMBUDS_SMTP_FROM"), "{err}");

        let cfg = Settings::from_pairs(
            "notification",
            [("OMBUDS_SMTP_URL", "ftp://user:s3cret@host")],
        );
        let err = Config::from_config(&cfg).expect_err("bad url");
        assert!(err.to_string().contains("OMBUDS_SMTP_URL"), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn sms_is_refused_permanently() {
        let cfg = Settings::from_pairs("notification", [("OMBUDS_SMTP_URL", "smtp://127.0.0.1:9")]);
        let provider =
            SmtpProvider::new(&Config::from_config(&cfg).expect("config")).expect("provider");
        let msg = OutgoingMessage {
            delivery_id: "d".into(),
            complaint_id: "c".into(),
            ticket_no: "TS-1".into(),
            template: "acknowledgement".into(),
            medium: Medium::Sms,
            to: "13812345678".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        match provider.send(&msg).await {
            Err(ProviderError::Permanent(reason)) => {
                assert!(reason.contains("e-mail only"), "{reason}")
            }
            other => panic!("expected a permanent failure, got {other:?}"),
        }
    }
}
