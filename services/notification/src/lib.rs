//! The notification service: it owns every message that leaves the platform.
//!
//! It sends the acknowledgement that tells a customer their complaint has been recorded
//! and under which ticket number, a delay notice when a promised time has passed (why,
//! and the new expected time), the result once the complaint is resolved (result, cause,
//! measures, thanks and a satisfaction question), and SLA alerts to the staff. Following
//! the data:
//!
//! `complaint.received`, `complaint.resolved`, `sla.breached`, `sla.warning` →
//! [`consumer`] (inbox + the `pending` rows the event owes in `deliveries`, in one
//! transaction) → [`dispatcher`] (claim a row, render its [`templates`] message, address
//! it: the customer's address from intake over gRPC, or the staff address; hand it to the
//! configured [`provider`]) → `sent` or `failed` in `deliveries`, with
//! `notification.sent` / `notification.failed` through the outbox. [`grpc`] serves
//! `NotificationService.ListDeliveries`.
//!
//! Personal data: the store and the events only ever hold the masked recipient. The
//! plaintext address is fetched from intake at send time and handed to the provider.

use std::{sync::Arc, time::Duration};

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

/// `OMBUDS_NOTIFY_DELAY_TARGETS` when unset: the targets whose deadline was promised to
/// the customer.
pub const DEFAULT_DELAY_TARGETS: &[&str] = &["resolution", "initial_result", "first_response"];

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
    /// `OMBUDS_NOTIFY_DELAY_TARGETS` (default `resolution,initial_result,first_response`;
    /// `none` for no delay notices): a breach of one of these SLA targets owes the
    /// customer a delay notice.
    pub delay_targets: Vec<String>,
    /// `OMBUDS_NOTIFY_DELAY_EXTENSION` (default 24h): a delay notice's new expected time
    /// is the breach time plus this. An estimate until agents can state one.
    pub delay_extension: Duration,
    /// `OMBUDS_NOTIFY_TIMEZONE` (default `Asia/Shanghai`): the customers' time zone, in
    /// which messages show times.
    pub time_zone: chrono_tz::Tz,
    /// `OMBUDS_NOTIFY_STAFF_EMAIL` (default unset: staff alerts are off): where SLA
    /// alerts for the staff go.
    pub staff_email: Option<String>,
    /// `OMBUDS_NOTIFY_STAFF_WARNING_PERCENT` (default 80): the least `sla.warning`
    /// threshold the staff are alerted of (breaches always are).
    pub staff_warning_percent: u32,
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
        let delay_targets = delay_targets(cfg)?;
        let delay_extension = cfg.duration(
            "OMBUDS_NOTIFY_DELAY_EXTENSION",
            Duration::from_secs(24 * 3600),
        )?;
        if delay_extension.is_zero() {
            return Err(invalid(
                "OMBUDS_NOTIFY_DELAY_EXTENSION",
                cfg,
                "must be longer than zero",
            ));
        }
        let time_zone: chrono_tz::Tz = cfg
            .string("OMBUDS_NOTIFY_TIMEZONE", "Asia/Shanghai")
            .trim()
            .parse()
            .map_err(|e| {
                invalid(
                    "OMBUDS_NOTIFY_TIMEZONE",
                    cfg,
                    &format!("not an IANA time zone such as Asia/Shanghai: {e}"),
                )
            })?;
        let staff_email = match cfg.get("OMBUDS_NOTIFY_STAFF_EMAIL").map(str::trim) {
            None | Some("") => None,
            Some(address) => match address.parse::<lettre::Address>() {
                Ok(_) => Some(address.to_owned()),
                Err(e) => {
                    return Err(invalid(
                        "OMBUDS_NOTIFY_STAFF_EMAIL",
                        cfg,
                        &format!("not an e-mail address: {e}"),
                    ))
                }
            },
        };
        let staff_warning_percent: u32 = cfg.parse("OMBUDS_NOTIFY_STAFF_WARNING_PERCENT", 80)?;
        if !(1..=100).contains(&staff_warning_percent) {
            return Err(invalid(
                "OMBUDS_NOTIFY_STAFF_WARNING_PERCENT",
                cfg,
                "must be from 1 to 100",
            ));
        }
        Ok(Self {
            common,
            intake_grpc_url,
            provider,
            max_attempts,
            delay_targets,
            delay_extension,
            time_zone,
            staff_email,
            staff_warning_percent,
        })
    }
}

fn invalid(key: &str, cfg: &Config, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: cfg.get(key).unwrap_or_default().to_owned(),
        message: message.into(),
    }
}

/// `OMBUDS_NOTIFY_DELAY_TARGETS`: comma-separated target names, or `none`.
fn delay_targets(cfg: &Config) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "OMBUDS_NOTIFY_DELAY_TARGETS";
    let Some(text) = cfg.get(KEY) else {
        return Ok(DEFAULT_DELAY_TARGETS
            .iter()
            .map(|t| (*t).to_owned())
            .collect());
    };
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut targets = Vec::new();
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid(
                KEY,
                cfg,
                &format!("{t:?} is not a target name (lowercase letters, digits and _)"),
            ));
        }
        if !targets.iter().any(|have| have == t) {
            targets.push(t.to_owned());
        }
    }
    if targets.is_empty() {
        return Err(invalid(
            KEY,
            cfg,
            "expected target names separated by commas, or none",
        ));
    }
    Ok(targets)
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
    match &settings.staff_email {
        None => tracing::info!("staff alerts are off: OMBUDS_NOTIFY_STAFF_EMAIL is not set"),
        Some(address) => tracing::info!(
            to = %ombuds_platform::pii::mask_email(address),
            from_percent = settings.staff_warning_percent,
            "staff alerts are on"
        ),
    }
    let wake = Arc::new(Notify::new());
    let consumers = Arc::new(consumer::Consumers {
        db: kit.db.clone(),
        wake: wake.clone(),
        policy: consumer::Policy {
            delay_targets: settings.delay_targets.clone(),
            delay_extension: settings.delay_extension,
            staff_alerts: settings.staff_email.is_some(),
            staff_warning_percent: settings.staff_warning_percent,
        },
    });
    let c = consumers.clone();
    kit.consume(
        ConsumerSpec::new("COMPLAINTS", consumer::DURABLE, "complaint.received"),
        move |d| {
            let c = c.clone();
            async move { c.on_received(d).await }
        },
    );
    let c = consumers.clone();
    kit.consume(
        ConsumerSpec::new(
            "COMPLAINTS",
            consumer::DURABLE_RESOLVED,
            "complaint.resolved",
        ),
        move |d| {
            let c = c.clone();
            async move { c.on_resolved(d).await }
        },
    );
    let c = consumers.clone();
    kit.consume(
        ConsumerSpec::new("SLA", consumer::DURABLE_BREACHED, "sla.breached"),
        move |d| {
            let c = c.clone();
            async move { c.on_breached(d).await }
        },
    );
    let c = consumers;
    kit.consume(
        ConsumerSpec::new("SLA", consumer::DURABLE_WARNING, "sla.warning"),
        move |d| {
            let c = c.clone();
            async move { c.on_warning(d).await }
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
        render: templates::RenderContext {
            time_zone: settings.time_zone,
        },
        staff_email: settings.staff_email.clone(),
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
        assert_eq!(
            s.delay_targets,
            ["resolution", "initial_result", "first_response"]
        );
        assert_eq!(s.delay_extension, Duration::from_secs(24 * 3600));
        assert_eq!(s.time_zone, chrono_tz::Asia::Shanghai);
        assert_eq!(s.staff_email, None);
        assert_eq!(s.staff_warning_percent, 80);
    }

    #[test]
    fn delay_and_staff_settings() {
        let cfg = Config::from_pairs(
            "notification",
            [
                (
                    "OMBUDS_NOTIFY_DELAY_TARGETS",
                    " resolution, transfer ,resolution",
                ),
                ("OMBUDS_NOTIFY_DELAY_EXTENSION", "36h"),
                ("OMBUDS_NOTIFY_TIMEZONE", "Europe/Berlin"),
                ("OMBUDS_NOTIFY_STAFF_EMAIL", " duty@ombuds.test "),
                ("OMBUDS_NOTIFY_STAFF_WARNING_PERCENT", "50"),
            ],
        );
        let s = Settings::from_config(&cfg).expect("settings");
        assert_eq!(s.delay_targets, ["resolution", "transfer"]);
        assert_eq!(s.delay_extension, Duration::from_secs(36 * 3600));
        assert_eq!(s.time_zone, chrono_tz::Europe::Berlin);
        assert_eq!(s.staff_email.as_deref(), Some("duty@ombuds.test"));
        assert_eq!(s.staff_warning_percent, 50);
        let cfg = Config::from_pairs("notification", [("OMBUDS_NOTIFY_DELAY_TARGETS", "none")]);
        let s = Settings::from_config(&cfg).expect("settings");
        assert!(s.delay_targets.is_empty());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (key, value) in [
            ("OMBUDS_NOTIFY_MAX_ATTEMPTS", "0"),
            ("OMBUDS_NOTIFY_MAX_ATTEMPTS", "many"),
            ("OMBUDS_INTAKE_GRPC_URL", "not a url"),
            ("OMBUDS_NOTIFY_PROVIDER", "fax"),
            ("OMBUDS_NOTIFY_DELAY_TARGETS", "Resolution!"),
            ("OMBUDS_NOTIFY_DELAY_TARGETS", " , "),
            ("OMBUDS_NOTIFY_DELAY_EXTENSION", "0s"),
            ("OMBUDS_NOTIFY_DELAY_EXTENSION", "a day"),
            ("OMBUDS_NOTIFY_TIMEZONE", "Mars/Olympus"),
            ("OMBUDS_NOTIFY_STAFF_EMAIL", "not an address"),
            ("OMBUDS_NOTIFY_STAFF_WARNING_PERCENT", "0"),
            ("OMBUDS_NOTIFY_STAFF_WARNING_PERCENT", "120"),
        ] {
            let cfg = Config::from_pairs("notification", [(key, value)]);
            let err = Settings::from_config(&cfg).expect_err("must fail");
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
