//! The routing service: decides which department works on each complaint.
//!
//! It consumes `complaint.received` (stream `COMPLAINTS`, durable `routing-complaints`),
//! applies the [`rules`] (category, then keywords, then the default department),
//! records the assignment in `assignments` exactly once per complaint (inbox) and, in
//! the same transaction, owes a `routing.assigned` event (outbox). gRPC
//! `RoutingService` answers where a complaint went and which rules are in force.
//!
//! Settings (environment variables, besides the common ones in
//! `ombuds_platform::config::CommonSettings`):
//! - `OMBUDS_ROUTING_RULES`: a TOML rules file replacing the built-in rules (default: unset).

pub mod entity;
pub mod grpc;
pub mod migration;
pub mod rules;

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
use sea_orm::{sea_query::OnConflict, ActiveValue::Set, DatabaseConnection, EntityTrait};
use tokio_util::sync::CancellationToken;

use crate::{entity::assignment, rules::Rules};

/// The durable consumer of `complaint.received`; also the inbox's consumer name.
pub const CONSUMER: &str = "routing-complaints";

/// The routing service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// From `OMBUDS_ROUTING_RULES`, or [`Rules::builtin`].
    pub rules: Rules,
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
    assigned: Family<AssignedLabels, Counter>,
}

impl State {
    fn new(db: DatabaseConnection, outbox: OutboxSignal, rules: Rules, metrics: &Metrics) -> Self {
        let assigned = Family::<AssignedLabels, Counter>::default();
        metrics.register(
            "routing_assignments",
            "Complaints assigned to a department, by department and rule",
            assigned.clone(),
        );
        Self {
            db,
            outbox,
            rules,
            assigned,
        }
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
            // first decision, remember this event id, owe nothing.
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
                "routing",
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
    let kit = Kit::start::<migration::Migrator>(settings.common, shutdown).await?;
    let state = Arc::new(State::new(
        kit.db.clone(),
        kit.outbox.clone(),
        settings.rules,
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
    let routes = tonic::service::Routes::new(RoutingServiceServer::new(grpc::GrpcApi { state }));
    kit.run(axum::Router::new(), routes, &["ombuds.v1.RoutingService"])
        .await
}
