//! Providers: the edge where a message leaves the platform. Every provider has the same
//! shape (after vector's sinks): a module with its `Config` (read from settings) and
//! the provider itself, implementing [`Provider`]. A send answers with a
//! [`ProviderReceipt`] or a [`ProviderError`] that says whether trying again can help
//! (`Transient`: a connection refused, a 4xx from an SMTP server) or not (`Permanent`:
//! an address the server rejects, a medium the provider cannot carry).
//!
//! The provider in use is chosen by `OMBUDS_NOTIFY_PROVIDER`: `file` (default; a
//! JSON-lines mailbox for development) or `smtp`.

use std::future::Future;

use ombuds_platform::config::{Config, ConfigError};

use crate::message::OutgoingMessage;

pub mod file;
pub mod smtp;

/// What the provider said when it accepted a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderReceipt {
    /// The provider's own reference for the message, when it gives one.
    pub reference: Option<String>,
}

/// Why a provider did not accept a message. The text must not hold personal data in
/// plaintext (the dispatcher redacts it again before storing or logging it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Trying again later may work.
    #[error("{0}")]
    Transient(String),
    /// Trying again will not help.
    #[error("{0}")]
    Permanent(String),
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }
}

/// Something that can carry an [`OutgoingMessage`] to its recipient.
pub trait Provider: Send + Sync {
    /// The provider's name as recorded on deliveries and events (`file`, `smtp`).
    fn name(&self) -> &'static str;

    /// Sends one message.
    fn send(
        &self,
        msg: &OutgoingMessage,
    ) -> impl Future<Output = Result<ProviderReceipt, ProviderError>> + Send;
}

/// `OMBUDS_NOTIFY_PROVIDER` and the chosen provider's own settings.
#[derive(Debug, Clone)]
pub enum ProviderConfig {
    File(file::Config),
    Smtp(smtp::Config),
}

impl ProviderConfig {
    /// Reads `OMBUDS_NOTIFY_PROVIDER` (default `file`) and that provider's settings.
    pub fn from_config(cfg: &Config, data_dir: &std::path::Path) -> Result<Self, ConfigError> {
        let name = cfg.string("OMBUDS_NOTIFY_PROVIDER", "file");
        match name.trim().to_ascii_lowercase().as_str() {
            "file" => Ok(Self::File(file::Config::from_config(cfg, data_dir))),
            "smtp" => Ok(Self::Smtp(smtp::Config::from_config(cfg)?)),
            _ => Err(ConfigError::Invalid {
                key: "OMBUDS_NOTIFY_PROVIDER".into(),
                value: name,
                message: "expected file or smtp".into(),
            }),
        }
    }

    pub fn build(&self) -> anyhow::Result<AnyProvider> {
        Ok(match self {
            Self::File(c) => AnyProvider::File(file::FileProvider::new(c)),
            Self::Smtp(c) => AnyProvider::Smtp(smtp::SmtpProvider::new(c)?),
        })
    }
}

/// The configured provider.
pub enum AnyProvider {
    File(file::FileProvider),
    Smtp(smtp::SmtpProvider),
}

impl Provider for AnyProvider {
    fn name(&self) -> &'static str {
        match self {
            Self::File(p) => p.name(),
            Self::Smtp(p) => p.name(),
        }
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<ProviderReceipt, ProviderError> {
        match self {
            Self::File(p) => p.send(msg).await,
            Self::Smtp(p) => p.send(msg).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_provider_is_the_default_and_unknown_names_are_refused() {
        let dir = std::path::Path::new("var");
        let cfg = Config::from_pairs("notification", Vec::<(String, String)>::new());
        match ProviderConfig::from_config(&cfg, dir).expect("default") {
            ProviderConfig::File(c) => assert_eq!(c.path, dir.join("notifications.jsonl")),
            other => panic!("expected the file provider, got {other:?}"),
        }
        let cfg = Config::from_pairs("notification", [("OMBUDS_NOTIFY_PROVIDER", "pigeon")]);
        let err = ProviderConfig::from_config(&cfg, dir).expect_err("unknown provider");
        assert!(err.to_string().contains("OMBUDS_NOTIFY_PROVIDER"), "{err}");
    }
}
