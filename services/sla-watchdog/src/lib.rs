//! sla-watchdog: owns time. For every complaint it selects an SLA policy from the
//! active policy pack ([`policy`]), snapshots the policy's targets, and runs one clock
//! per target on a business calendar (`ombuds-calendar`): started, paused while the
//! complaint awaits the customer, resumed, met by the event that satisfies it
//! ([`engine`]). Warnings at the policy's thresholds and the breach at the deadline
//! are fired by durable timers ([`timer`]); `sla.started`, `sla.warning`,
//! `sla.breached` and `sla.met` leave through the outbox.

pub mod batch;
pub mod clocks;
pub mod engine;
pub mod entity;
pub mod grpc;
pub mod migration;
pub mod planner;
pub mod policy;
pub mod timer;

use std::{sync::Arc, time::Duration};

use ombuds_calendar::Calendars;
use ombuds_platform::{
    config::{CommonSettings, Config, ConfigError},
    consumer::ConsumerSpec,
    outbox::OutboxSignal,
    shutdown::CancellationToken,
    Kit,
};
use sea_orm::DatabaseConnection;

use crate::{engine::Engine, policy::PolicyStore, timer::TimerQueue};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `OMBUDS_SLA_POLICY_PACK`: a built-in pack name (`default`, `mobile-operator`,
    /// `service-hotline`, `internet-feedback`, `inquiry-complaint`) or a YAML file.
    pub policy_pack: String,
    /// `OMBUDS_SLA_CALENDARS`: extra calendar files (.toml, .json, .ics), comma-separated,
    /// added to the built-in `cn` and `24x7`.
    pub calendars: Vec<String>,
    /// `OMBUDS_SLA_POLICY_RELOAD`: how often the pack file is re-read (default 30s);
    /// an invalid new version is refused and the old one stays.
    pub policy_reload: Duration,
    /// `OMBUDS_SLA_HORIZON`: timers due within this window are held in memory (default 1h).
    pub horizon: Duration,
    /// `OMBUDS_SLA_SWEEP`: how often overdue timers held by no replica are looked for (default 5s).
    pub sweep: Duration,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let horizon = cfg.duration("OMBUDS_SLA_HORIZON", Duration::from_secs(3600))?;
        if horizon < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_SLA_HORIZON".into(),
                value: format!("{horizon:?}"),
                message: "must be at least 1s".into(),
            });
        }
        Ok(Self {
            common: CommonSettings::from_config(cfg, 8083, 50053)?,
            policy_pack: cfg.string("OMBUDS_SLA_POLICY_PACK", "default"),
            calendars: cfg
                .string("OMBUDS_SLA_CALENDARS", "")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            policy_reload: cfg.duration("OMBUDS_SLA_POLICY_RELOAD", Duration::from_secs(30))?,
            horizon,
            sweep: cfg.duration("OMBUDS_SLA_SWEEP", Duration::from_secs(5))?,
        })
    }
}

/// Messages a consumer takes in one batch (one transaction).
pub const BATCH: usize = 256;

/// What the consumers, the timer and the gRPC API share.
pub struct State {
    pub db: DatabaseConnection,
    pub outbox: OutboxSignal,
    pub engine: Engine,
    pub timers: TimerQueue,
    pub horizon: Duration,
}

/// Loads the calendars and the policy pack, or says exactly what is wrong with them.
pub fn load_policies(settings: &Settings) -> anyhow::Result<(Arc<Calendars>, Arc<PolicyStore>)> {
    let mut calendars = Calendars::builtin();
    for file in &settings.calendars {
        calendars
            .resolve(file)
            .map_err(|e| anyhow::anyhow!("OMBUDS_SLA_CALENDARS: {e}"))?;
    }
    let store = PolicyStore::load(&settings.policy_pack, calendars.clone())
        .map_err(|e| anyhow::anyhow!("OMBUDS_SLA_POLICY_PACK={}: {e}", settings.policy_pack))?;
    Ok((Arc::new(calendars), Arc::new(store)))
}

/// Runs the watchdog until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (calendars, policies) = load_policies(&settings)?;
    let fallback = calendars
        .get("24x7")
        .ok_or_else(|| anyhow::anyhow!("the built-in 24x7 calendar is missing"))?;
    tracing::info!(pack = %policies.current().version_tag(), "SLA policy pack loaded");
    let kit = Kit::start::<migration::Migrator>(settings.common.clone(), shutdown.clone()).await?;
    let state = Arc::new(State {
        db: kit.db.clone(),
        outbox: kit.outbox.clone(),
        engine: Engine {
            calendars,
            fallback,
            planner: Arc::new(planner::PolicyPlanner {
                store: policies.clone(),
            }),
        },
        timers: TimerQueue::default(),
        horizon: settings.horizon,
    });
    for (stream, durable, filter) in [
        ("COMPLAINTS", "sla-complaints", "complaint.>"),
        ("ROUTING", "sla-routing", "routing.assigned"),
        ("ROUTING", "sla-transfers", "routing.transferred"),
    ] {
        let handler = Arc::new(clocks::Consumer::new(state.clone(), durable));
        let after = handler.clone();
        kit.consume_batches(
            ConsumerSpec::new(stream, durable, filter),
            BATCH,
            move |txn, deliveries| {
                let handler = handler.clone();
                async move { handler.handle(&txn, &deliveries).await }
            },
            move || after.after_commit(),
        );
    }
    kit.spawn(timer::run(state.clone(), settings.sweep, shutdown.clone()));
    kit.spawn(planner::watch(policies, settings.policy_reload, shutdown));
    let routes = tonic::service::Routes::new(
        ombuds_proto::v1::sla_service_server::SlaServiceServer::new(grpc::Api { state }),
    );
    kit.run(axum::Router::new(), routes, &["ombuds.v1.SlaService"])
        .await
}
