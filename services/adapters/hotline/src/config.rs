//! Settings of the hotline adapter, read from the environment (and the optional
//! `OMBUDS_CONFIG` file, section `[hotline-adapter]`) through
//! [`ombuds_platform::config::Config`]. Every variable is listed in the README.

use std::net::SocketAddr;

use ombuds_platform::config::{Config, ConfigError, LogFormat};

/// The name used for the config-file section, the NATS client and dead letters
/// (`dlq.hotline-adapter.<reason>`).
pub const SERVICE: &str = "hotline-adapter";

/// Default HTTP port (DESIGN.md, "Defaults an operator can rely on").
pub const DEFAULT_HTTP_PORT: u16 = 8091;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `NATS_URL` (default `nats://127.0.0.1:4222`).
    pub nats_url: String,
    /// `OMBUDS_HTTP_ADDR` (default `127.0.0.1:8091`): `/healthz`, `/readyz` and the call API.
    pub http_addr: SocketAddr,
    /// `OMBUDS_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `OMBUDS_HOTLINE_EVENTS_SUBJECT` (default `hotline.events`): the core NATS subject the
    /// telephony system publishes call events on.
    pub events_subject: String,
    /// `OMBUDS_HOTLINE_ANSWERED_CAPACITY` (default 100000): how many answered calls are
    /// remembered (call id → answer time and caller) to link a complaint to its call.
    pub answered_capacity: usize,
    /// `OMBUDS_HOTLINE_MAX_BODY_BYTES` (default 1 MiB): the largest HTTP body or NATS message accepted.
    pub max_body_bytes: usize,
    /// `OMBUDS_HOTLINE_MAX_BATCH` (default 1000): the most call events in one array.
    pub max_batch: usize,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let localhost = SocketAddr::from(([127, 0, 0, 1], DEFAULT_HTTP_PORT));
        let settings = Self {
            nats_url: cfg.string("NATS_URL", "nats://127.0.0.1:4222"),
            http_addr: cfg.parse("OMBUDS_HTTP_ADDR", localhost)?,
            log_format: cfg.parse("OMBUDS_LOG_FORMAT", LogFormat::Text)?,
            events_subject: cfg.string("OMBUDS_HOTLINE_EVENTS_SUBJECT", "hotline.events"),
            answered_capacity: cfg.parse("OMBUDS_HOTLINE_ANSWERED_CAPACITY", 100_000)?,
            max_body_bytes: cfg.parse("OMBUDS_HOTLINE_MAX_BODY_BYTES", 1024 * 1024)?,
            max_batch: cfg.parse("OMBUDS_HOTLINE_MAX_BATCH", 1000)?,
        };
        for (key, value) in [
            (
                "OMBUDS_HOTLINE_ANSWERED_CAPACITY",
                settings.answered_capacity,
            ),
            ("OMBUDS_HOTLINE_MAX_BODY_BYTES", settings.max_body_bytes),
            ("OMBUDS_HOTLINE_MAX_BATCH", settings.max_batch),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    value: "0".into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        if settings.events_subject.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_HOTLINE_EVENTS_SUBJECT".into(),
                value: settings.events_subject.clone(),
                message: "a NATS subject has no spaces".into(),
            });
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let cfg = Config::from_pairs(SERVICE, Vec::<(String, String)>::new());
        let s = Settings::from_config(&cfg).expect("defaults");
        assert_eq!(s.http_addr.port(), 8091);
        assert_eq!(s.events_subject, "hotline.events");
        assert_eq!(s.answered_capacity, 100_000);
    }

    #[test]
    fn zero_capacity_is_refused_by_name() {
        let cfg = Config::from_pairs(SERVICE, [("OMBUDS_HOTLINE_ANSWERED_CAPACITY", "0")]);
        let err = Settings::from_config(&cfg).expect_err("must fail");
        assert!(
            err.to_string().contains("OMBUDS_HOTLINE_ANSWERED_CAPACITY"),
            "{err}"
        );
    }
}
