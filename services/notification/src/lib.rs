//! The notification service: it owns every message that leaves the platform.
//!
//! For now that is the acknowledgement that tells a customer their complaint has been
//! recorded and under which ticket number. Following the data:
//!
//! `complaint.received` → [`consumer`] (inbox + one `pending` row in `deliveries`, in one
//! transaction) → [`dispatcher`] (claim the row, ask intake for the address over gRPC,
//! render a [`templates`] message, hand it to the configured [`provider`]) → `sent` or
//! `failed` in `deliveries`, with `notification.sent` / `notification.failed` through the
//! outbox. [`grpc`] serves `NotificationService.ListDeliveries`.
//!
//! Personal data: the store and the events only ever hold the masked recipient. The
//! plaintext address is fetched from intake at send time and handed to the provider.

use std::sync::Arc;

use ombuds_platform::{
    config::{CommonSettings, Config, ConfigError},
    consumer::ConsumerSpec,
    Kit,
};
use ombuds_proto::v1::notification_service_server::NotificationServiceServer;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub mod consumer;
pub mod contacts;
pub mod dispatcher;
pub mod entity;
pub mod grpc;
pub mod message;
pub mod migration;
pub mod provider;
pub mod templates;

use provider::ProviderConfig;

/// The notification service's settings (environment variables, see the report/README).
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `OMBUDS_INTAKE_GRPC_URL` (default `http://127.0.0.1:50051`): intake's gRPC
    /// address, for the customer's contact details.
    pub intake_grpc_url: String,
    /// `OMBUDS_NOTIFY_PROVIDER` (`file` or `smtp`) and the provider's own settings.
    pub provider: ProviderConfig,
    /// `OMBUDS_NOTIFY_MAX_ATTEMPTS` (default 8): attempts before a delivery that keeps
    /// failing transiently is given up as `failed`.
    pub max_attempts: u32,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_config(cfg, 8084, 50054)?;
        let intake_grpc_url = cfg.string("OMBUDS_INTAKE_GRPC_URL", "http://127.0.0.1:50051");
        if let Err(message) = contacts::IntakeContacts::new(&intake_grpc_url) {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_INTAKE_GRPC_URL".into(),
                value: intake_grpc_url,
                message,
            });
        }
        let provider = ProviderConfig::from_config(cfg, &common.data_dir)?;
        let max_attempts: u32 = cfg.parse("OMBUDS_NOTIFY_MAX_ATTEMPTS", 8)?;
        if max_attempts == 0 {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_NOTIFY_MAX_ATTEMPTS".into(),
                value: "0".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(Self {
            common,
            intake_grpc_url,
            provider,
            max_attempts,
        })
    }
}

/// Runs the service until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let contacts = contacts::IntakeContacts::new(&settings.intake_grpc_url)
        .map_err(|e| anyhow::anyhow!("OMBUDS_INTAKE_GRPC_URL={}: {e}", settings.intake_grpc_url))?;
    let provider = settings.provider.build()?;
    let kit = Kit::start::<migration::Migrator>(settings.common, shutdown).await?;

    let counter = dispatcher::DeliveryCounter::default();
    kit.metrics.register(
        "notifications",
        "Notification attempts by template, medium and outcome (sent, retry, failed)",
        counter.clone(),
    );
    let wake = Arc::new(Notify::new());
    let received = Arc::new(consumer::Received {
        db: kit.db.clone(),
        wake: wake.clone(),
    });
    kit.consume(
        ConsumerSpec::new("COMPLAINTS", consumer::DURABLE, "complaint.received"),
        move |d| {
            let received = received.clone();
            async move { received.handle(d).await }
        },
    );

    let dispatcher = Arc::new(dispatcher::Dispatcher {
        db: kit.db.clone(),
        outbox: kit.outbox.clone(),
        wake,
        contacts,
        provider,
        max_attempts: settings.max_attempts,
        counter,
    });
    kit.spawn(dispatcher.run(kit.shutdown.clone()));

    let routes = tonic::service::Routes::new(NotificationServiceServer::new(grpc::GrpcApi {
        db: kit.db.clone(),
    }));
    kit.run(
        axum::Router::new(),
        routes,
        &["ombuds.v1.NotificationService"],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let cfg = Config::from_pairs("notification", Vec::<(String, String)>::new());
        let s = Settings::from_config(&cfg).expect("defaults");
        assert_eq!(s.common.http_addr.port(), 8084);
        assert_eq!(s.common.grpc_addr.port(), 50054);
        assert_eq!(s.intake_grpc_url, "http://127.0.0.1:50051");
        assert_eq!(s.max_attempts, 8);
        assert!(matches!(s.provider, ProviderConfig::File(_)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (key, value) in [
            ("OMBUDS_NOTIFY_MAX_ATTEMPTS", "0"),
            ("OMBUDS_NOTIFY_MAX_ATTEMPTS", "many"),
            ("OMBUDS_INTAKE_GRPC_URL", "not a url"),
            ("OMBUDS_NOTIFY_PROVIDER", "fax"),
        ] {
            let cfg = Config::from_pairs("notification", [(key, value)]);
            let err = Settings::from_config(&cfg).expect_err("must fail");
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
