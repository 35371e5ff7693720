//! Settings of the e-mail adapter, read from environment variables (or the `OMBUDS_CONFIG`
//! file) through [`ombuds_platform::config::Config`]. The IMAP password is a secret: it is
//! kept out of `Debug` output and never logged.

use std::{fmt, path::PathBuf, time::Duration};

use ombuds_platform::config::{Config, ConfigError, LogFormat};

/// The service name: configuration section, NATS client name, dead-letter subject.
pub const SERVICE: &str = "email-adapter";

/// Where and how to read the mailbox.
#[derive(Clone)]
pub struct ImapSettings {
    /// `OMBUDS_IMAP_HOST` (default `127.0.0.1`).
    pub host: String,
    /// `OMBUDS_IMAP_PORT` (default 143; plain TCP, TLS is not wired yet).
    pub port: u16,
    /// `OMBUDS_IMAP_USER` (required).
    pub user: String,
    /// `OMBUDS_IMAP_PASSWORD` (required; a secret).
    pub password: String,
    /// `OMBUDS_IMAP_MAILBOX` (default `INBOX`).
    pub mailbox: String,
    /// `OMBUDS_IMAP_POLL`: how often to look for new mail when the server has no IDLE
    /// (default 30s). With IDLE the adapter waits for the server, renewing IDLE every 25 min.
    pub poll: Duration,
}

impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &ombuds_platform::pii::mask_email(&self.user))
            .field("password", &"<secret>")
            .field("mailbox", &self.mailbox)
            .field("poll", &self.poll)
            .finish()
    }
}

impl ImapSettings {
    /// Whether the host is this machine (the only case where plain TCP is acceptable).
    pub fn is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

/// All settings of the adapter.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `NATS_URL` (default `nats://127.0.0.1:4222`).
    pub nats_url: String,
    /// `OMBUDS_DATA_DIR` (default `var`): holds `email-adapter.state`.
    pub data_dir: PathBuf,
    /// `OMBUDS_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    pub imap: ImapSettings,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let required = |key: &str| {
            cfg.get(key)
                .map(str::to_owned)
                .ok_or_else(|| ConfigError::Invalid {
                    key: key.to_owned(),
                    value: String::new(),
                    message: "must be set".into(),
                })
        };
        let poll = cfg.duration("OMBUDS_IMAP_POLL", Duration::from_secs(30))?;
        if poll.is_zero() {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_IMAP_POLL".into(),
                value: cfg.string("OMBUDS_IMAP_POLL", ""),
                message: "must be longer than zero".into(),
            });
        }
        Ok(Self {
            nats_url: cfg.string("NATS_URL", "nats://127.0.0.1:4222"),
            data_dir: cfg.string("OMBUDS_DATA_DIR", "var").into(),
            log_format: cfg.parse("OMBUDS_LOG_FORMAT", LogFormat::Text)?,
            imap: ImapSettings {
                host: cfg.string("OMBUDS_IMAP_HOST", "127.0.0.1"),
                port: cfg.parse("OMBUDS_IMAP_PORT", 143)?,
                user: required("OMBUDS_IMAP_USER")?,
                password: required("OMBUDS_IMAP_PASSWORD")?,
                mailbox: cfg.string("OMBUDS_IMAP_MAILBOX", "INBOX"),
                poll,
            },
        })
    }

    /// The file remembering the last message handled.
    pub fn state_path(&self) -> PathBuf {
        self.data_dir.join("email-adapter.state")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_name_the_variable() {
        let cfg = Config::from_pairs(SERVICE, [("OMBUDS_IMAP_USER", "u")]);
        let err = Settings::from_config(&cfg).expect_err("password missing");
        assert!(err.to_string().contains("OMBUDS_IMAP_PASSWORD"), "{err}");
    }

    #[test]
    fn password_never_shows_in_debug_output() {
        let cfg = Config::from_pairs(
            SERVICE,
            [
                ("OMBUDS_IMAP_USER", "box@example.com"),
                ("OMBUDS_IMAP_PASSWORD", "hunter2"),
                ("OMBUDS_IMAP_HOST", "mail.example.com"),
            ],
        );
        let s = Settings::from_config(&cfg).expect("settings");
        assert_eq!(s.imap.port, 143);
        assert_eq!(s.imap.mailbox, "INBOX");
        assert!(!s.imap.is_loopback());
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("box@example.com"), "{text}");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            let cfg = Config::from_pairs(
                SERVICE,
                [
                    ("OMBUDS_IMAP_USER", "u"),
                    ("OMBUDS_IMAP_PASSWORD", "p"),
                    ("OMBUDS_IMAP_HOST", host),
                ],
            );
            assert!(
                Settings::from_config(&cfg)
                    .expect("settings")
                    .imap
                    .is_loopback(),
                "{host}"
            );
        }
    }
}
