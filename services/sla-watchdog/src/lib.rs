//! sla-watchdog: owns time. It starts a clock when a complaint arrives, persists it
//! with its deadline (the row is the durable timer), emits `sla.started`, fires
//! `sla.breached` once when the deadline passes, and `sla.met` when the complaint is
//! resolved in time or late.
//!
//! This is the walking-skeleton policy: one `resolution` target in calendar time
//! (`OMBUDS_SLA_RESOLUTION`, default 72h) for every complaint. Business calendars and
//! policy packs build on the same clocks.

pub mod clocks;
pub mod entity;
pub mod grpc;
pub mod migration;
pub mod policy;
pub mod timer;

use std::{sync::Arc, time::Duration};

use ombuds_platform::{
    config::{CommonSettings, Config, ConfigError},
    consumer::ConsumerSpec,
    outbox::OutboxSignal,
    shutdown::CancellationToken,
    Kit,
};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `OMBUDS_SLA_RESOLUTION`: time allowed to resolve a complaint, counted from when
    /// the channel received it (default `72h`; tests use seconds).
    pub resolution: Duration,
    /// `OMBUDS_SLA_TICK`: the longest the timer sleeps between looks at the store
    /// (default `1s`); it also wakes at the next deadline and on new clocks.
    pub tick: Duration,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let resolution = cfg.duration("OMBUDS_SLA_RESOLUTION", Duration::from_secs(72 * 3600))?;
        if resolution.is_zero() {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_SLA_RESOLUTION".into(),
                value: "0".into(),
                message: "must be longer than zero".into(),
            });
        }
        Ok(Self {
            common: CommonSettings::from_config(cfg, 8083, 50053)?,
            resolution,
            tick: cfg.duration("OMBUDS_SLA_TICK", Duration::from_secs(1))?,
        })
    }
}

/// What the consumers, the timer and the gRPC API share.
pub struct State {
    pub db: DatabaseConnection,
    pub outbox: OutboxSignal,
    /// Wakes the timer when a clock starts.
    pub timer: Arc<Notify>,
    pub resolution: Duration,
}

/// The policy name and version recorded on each clock.
pub const POLICY: &str = "default@1";

/// Runs the watchdog until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let kit = Kit::start::<migration::Migrator>(settings.common, shutdown.clone()).await?;
    let state = Arc::new(State {
        db: kit.db.clone(),
        outbox: kit.outbox.clone(),
        timer: Arc::new(Notify::new()),
        resolution: settings.resolution,
    });
    let st = state.clone();
    kit.consume(
        ConsumerSpec::new("COMPLAINTS", "sla-complaints", "complaint.>"),
        move |d| {
            let st = st.clone();
            async move { clocks::on_complaint_event(&st, d).await }
        },
    );
    let st = state.clone();
    kit.consume(
        ConsumerSpec::new("ROUTING", "sla-routing", "routing.assigned"),
        move |d| {
            let st = st.clone();
            async move { clocks::on_assigned(&st, d).await }
        },
    );
    kit.spawn(timer::run(state.clone(), settings.tick, shutdown));
    let routes = tonic::service::Routes::new(
        ombuds_proto::v1::sla_service_server::SlaServiceServer::new(grpc::Api { state }),
    );
    kit.run(axum::Router::new(), routes, &["ombuds.v1.SlaService"])
        .await
}
