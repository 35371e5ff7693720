//! The routing service: decides which department works on each complaint, escalates it
//! when its SLA is at risk, and transfers it between departments.
//!
//! - It consumes `complaint.received` (stream `COMPLAINTS`, durable
//!   `routing-complaints`), applies the [`rules`] (category, then keywords, then the
//!   default department), records the assignment in `assignments` exactly once per
//!   complaint (inbox) and, in the same transaction, owes a `routing.assigned` event
//!   (outbox).
//! - It consumes `sla.warning` and `sla.breached` (stream `SLA`, durable `routing-sla`)
//!   and escalates the complaint up a ladder ([`escalation`], where the rule is
//!   written down), owing `routing.escalated`.
//! - gRPC `RoutingService` answers where a complaint went (with its escalation level),
//!   which rules are in force, the escalations of a complaint, and records transfer
//!   forms ([`transfer`]), owing `routing.transferred`.
//!
//! Settings (environment variables, besides the common ones in
//! `ombuds_platform::config::CommonSettings`):
//! - `OMBUDS_ROUTING_RULES`: a TOML rules file replacing the built-in rules (default: unset).
//! - `OMBUDS_ESCALATION_LADDER`: the escalation ladder, level 1 first (default
//!   `lead,manager,duty_manager`).
//! - `OMBUDS_ESCALATE_WARNING_PERCENT`: the least `sla.warning` threshold that escalates
//!   to level 1 (default 80, 1 to 100).

pub mod entity;
pub mod escalation;
pub mod grpc;
pub mod migration;
pub mod rules;
pub mod transfer;

use std::sync::Arc;

use ombuds_platform::{
    config::{CommonSettings, Config, ConfigError},
    consumer::{ConsumerSpec, Delivery, Outcome},
    events::{self, Event},
    inbox,
    metrics::Metrics,
    outbox::{self, OutboxSignal},
    time::now_ms,
    Kit,
};
use ombuds_proto::v1::{self, routing_service_server::RoutingServiceServer};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use tokio_util::sync::CancellationToken;

use crate::{entity::assignment, escalation::EscalationSettings, rules::Rules};

/// The durable consumer of `complaint.received`; also the inbox's consumer name.
pub const CONSUMER: &str = "routing-complaints";
/// `meta.source` of the events routing emits.
pub const SOURCE: &str = "routing";

/// The routing service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// From `OMBUDS_ROUTING_RULES`, or [`Rules::builtin`].
    pub rules: Rules,
    /// From `OMBUDS_ESCALATION_LADDER` and `OMBUDS_ESCALATE_WARNING_PERCENT`.
    pub escalation: EscalationSettings,
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Rules(#[from] rules::RulesError),
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::from_config(cfg, 8082, 50052)?,
            rules: Rules::from_config(cfg)?,
            escalation: EscalationSettings::from_config(cfg)?,
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AssignedLabels {
    department: String,
    rule: String,
}

/// What the consumer and the gRPC service share.
pub struct State {
    pub db: DatabaseConnection,
    pub outbox: OutboxSignal,
    pub rules: Rules,
    pub escalation: EscalationSettings,
    assigned: Family<AssignedLabels, Counter>,
    escalated: Family<escalation::LevelLabels, Counter>,
    transferred: Counter,
}

impl State {
    fn new(
        db: DatabaseConnection,
        outbox: OutboxSignal,
        rules: Rules,
        escalation: EscalationSettings,
        metrics: &Metrics,
    ) -> Self {
        let assigned = Family::<AssignedLabels, Counter>::default();
        metrics.register(
            "routing_assignments",
            "Complaints assigned to a department, by department and rule",
            assigned.clone(),
        );
        let escalated = Family::<escalation::LevelLabels, Counter>::default();
        metrics.register(
            "routing_escalations",
            "Complaints escalated, by the level reached",
            escalated.clone(),
        );
        let transferred = Counter::default();
        metrics.register(
            "routing_transfers",
            "Transfer forms recorded",
            transferred.clone(),
        );
        Self {
            db,
            outbox,
            rules,
            escalation,
            assigned,
            escalated,
            transferred,
        }
    }

    /// Records a transfer form (see [`transfer`]) and wakes the outbox relay.
    pub async fn transfer(
        &self,
        req: v1::TransferRequest,
    ) -> Result<v1::TransferForm, transfer::TransferError> {
        let input = transfer::validate(req, now_ms())?;
        let form = transfer::record(&self.db, input).await?;
        self.outbox.wake();
        self.transferred.inc();
        tracing::info!(
            complaint_id = %form.complaint_id,
            transfer_id = %form.transfer_id,
            from = %form.from_department,
            to = %form.to_department,
            actor = %form.actor,
            "complaint transferred"
        );
        Ok(form)
    }

    /// Handles one `complaint.received`: decide, record once, owe `routing.assigned`.
    pub async fn on_received(&self, d: Delivery) -> Outcome {
        let ev: v1::ComplaintReceived = match d.decode() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let Some(meta) = ev.meta.clone() else {
            return Outcome::poison("invalid", "complaint.received without meta");
        };
        if meta.event_id.is_empty() || meta.complaint_id.is_empty() {
            return Outcome::poison(
                "invalid",
                "complaint.received without event_id or complaint_id",
            );
        }
        let decision = self.rules.decide(&ev.category, &ev.subject, &ev.body);
        let txn = match inbox::begin_once(&self.db, CONSUMER, &meta.event_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return Outcome::Duplicate,
            Err(e) => return e.into(),
        };
        let inserted = assignment::Entity::insert(assignment::ActiveModel {
            complaint_id: Set(meta.complaint_id.clone()),
            ticket_no: Set(meta.ticket_no.clone()),
            department: Set(decision.department.to_owned()),
            queue: Set(decision.department.to_owned()),
            assignee: Set(String::new()),
            rule: Set(decision.rule.to_owned()),
            category: Set(ev.category.clone()),
            assigned_at: Set(now_ms()),
            complaint_version: Set(i64::try_from(meta.complaint_version).unwrap_or(i64::MAX)),
            escalation_level: Set(0),
            escalated_to: Set(String::new()),
        })
        .on_conflict(
            OnConflict::column(assignment::Column::ComplaintId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await;
        let inserted = match inserted {
            Ok(n) => n,
            Err(e) => return e.into(),
        };
        if inserted == 0 {
            // Another event about the same complaint was routed already: keep the
            // first decision, remember this event id and the newer version, owe nothing.
            let version = i64::try_from(meta.complaint_version).unwrap_or(i64::MAX);
            let newer = assignment::Entity::update_many()
                .col_expr(assignment::Column::ComplaintVersion, Expr::value(version))
                .filter(assignment::Column::ComplaintId.eq(meta.complaint_id.as_str()))
                .filter(assignment::Column::ComplaintVersion.lt(version))
                .exec(&txn)
                .await;
            if let Err(e) = newer {
                return e.into();
            }
            tracing::info!(
                complaint_id = %meta.complaint_id,
                event_id = %meta.event_id,
                "complaint already assigned; event ignored"
            );
            if let Err(e) = txn.commit().await {
                return e.into();
            }
            return Outcome::Duplicate;
        }
        let event = v1::ComplaintAssigned {
            meta: Some(events::meta(
                SOURCE,
                &meta.complaint_id,
                &meta.ticket_no,
                meta.complaint_version,
            )),
            department: decision.department.to_owned(),
            queue: decision.department.to_owned(),
            assignee: String::new(),
            rule: decision.rule.to_owned(),
            category: ev.category.clone(),
        };
        if let Err(e) = outbox::enqueue(&txn, &event).await {
            return e.into();
        }
        if let Err(e) = txn.commit().await {
            return e.into();
        }
        self.outbox.wake();
        self.assigned
            .get_or_create(&AssignedLabels {
                department: decision.department.to_owned(),
                rule: decision.rule.to_owned(),
            })
            .inc();
        tracing::info!(
            complaint_id = %meta.complaint_id,
            ticket_no = %meta.ticket_no,
            department = decision.department,
            rule = decision.rule,
            "complaint assigned"
        );
        Outcome::Done
    }
}

/// Runs the routing service until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    tracing::info!(
        rules = settings.rules.rules().len(),
        default_department = settings.rules.default_department(),
        "routing rules loaded"
    );
    tracing::info!(
        ladder = %settings.escalation.ladder.rungs().join(","),
        warning_percent = settings.escalation.warning_percent,
        "escalation ladder loaded"
    );
    let kit = Kit::start::<migration::Migrator>(settings.common, shutdown).await?;
    let state = Arc::new(State::new(
        kit.db.clone(),
        kit.outbox.clone(),
        settings.rules,
        settings.escalation,
        &kit.metrics,
    ));
    let st = state.clone();
    kit.consume(
        ConsumerSpec::new(
            "COMPLAINTS",
            CONSUMER,
            <v1::ComplaintReceived as Event>::SUBJECT,
        ),
        move |d| {
            let st = st.clone();
            async move { st.on_received(d).await }
        },
    );
    let st = state.clone();
    // One filter subject (nats-server 2.9): warnings and breaches are picked out in
    // the handler; other SLA events are acked and ignored.
    kit.consume(
        ConsumerSpec::new("SLA", escalation::CONSUMER, "sla.>"),
        move |d| {
            let st = st.clone();
            async move { st.on_sla(d).await }
        },
    );
    let routes = tonic::service::Routes::new(RoutingServiceServer::new(grpc::GrpcApi { state }));
    kit.run(axum::Router::new(), routes, &["ombuds.v1.RoutingService"])
        .await
}
