//! The analytics service: turns the event streams into counts and publishes them live.
//!
//! It reads all four event streams with its own durable consumers
//! (`analytics-complaints`, `analytics-routing`, `analytics-sla`,
//! `analytics-notifications`), dispatches each message on its subject (or its
//! `Ombuds-Type` header) and applies it to the store ([`projection`]): the per-complaint
//! `complaint_facts`, the per-clock `sla_clock_facts` (on-time rates) and the
//! `counters` (escalations per level and transfers among them). Each consumer has its
//! own inbox, so a
//! redelivered event never counts twice. The counts ([`counts::CountsView`]) are served
//! over gRPC `AnalyticsService.GetCounts`, `GET /v1/counts` and a dashboard at `GET /`
//! ([`http`]), and published live on `analytics.live.counts` and in the KV bucket
//! `ANALYTICS` ([`live`]).
//!
//! A message on a subject analytics does not know is acked and ignored (counted in
//! `ombuds_analytics_ignored_events_total`); a payload that does not decode is
//! dead-lettered to `dlq.analytics.decode`.
//!
//! Settings (environment variables, besides the common ones in
//! `ombuds_platform::config::CommonSettings`):
//! - `OMBUDS_ANALYTICS_LIVE_INTERVAL`: the least time between two live snapshots
//!   (default `500ms`).

pub mod counts;
pub mod entity;
pub mod grpc;
pub mod http;
pub mod live;
pub mod migration;
pub mod projection;

use std::{sync::Arc, time::Duration};

use ombuds_platform::{
    config::{CommonSettings, Config, ConfigError},
    consumer::{ConsumerSpec, Delivery, Outcome},
    events::{Event, HDR_TYPE},
    inbox,
    metrics::Metrics,
    Kit,
};
use ombuds_proto::v1::{self, analytics_service_server::AnalyticsServiceServer};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use tokio_util::sync::CancellationToken;

/// The analytics service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `OMBUDS_ANALYTICS_LIVE_INTERVAL`: least time between two live snapshots.
    pub live_interval: Duration,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            common: CommonSettings::from_config(cfg, 8085, 50055)?,
            live_interval: cfg
                .duration("OMBUDS_ANALYTICS_LIVE_INTERVAL", Duration::from_millis(500))?,
        })
    }
}

/// The consumers: (stream, durable name, filter subject).
pub const CONSUMERS: [(&str, &str, &str); 4] = [
    ("COMPLAINTS", "analytics-complaints", "complaint.>"),
    ("ROUTING", "analytics-routing", "routing.>"),
    ("SLA", "analytics-sla", "sla.>"),
    ("NOTIFICATIONS", "analytics-notifications", "notification.>"),
];

/// The events analytics understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Received,
    StatusChanged,
    Assigned,
    Escalated,
    Transferred,
    SlaStarted,
    SlaBreached,
    SlaMet,
    NotificationSent,
    NotificationFailed,
}

const KINDS: [(&str, &str, Kind); 10] = [
    (
        v1::ComplaintReceived::SUBJECT,
        v1::ComplaintReceived::TYPE,
        Kind::Received,
    ),
    (
        v1::ComplaintStatusChanged::SUBJECT,
        v1::ComplaintStatusChanged::TYPE,
        Kind::StatusChanged,
    ),
    (
        v1::ComplaintAssigned::SUBJECT,
        v1::ComplaintAssigned::TYPE,
        Kind::Assigned,
    ),
    (
        v1::ComplaintEscalated::SUBJECT,
        v1::ComplaintEscalated::TYPE,
        Kind::Escalated,
    ),
    (
        v1::ComplaintTransferred::SUBJECT,
        v1::ComplaintTransferred::TYPE,
        Kind::Transferred,
    ),
    (
        v1::SlaClockStarted::SUBJECT,
        v1::SlaClockStarted::TYPE,
        Kind::SlaStarted,
    ),
    (
        v1::SlaClockBreached::SUBJECT,
        v1::SlaClockBreached::TYPE,
        Kind::SlaBreached,
    ),
    (
        v1::SlaClockMet::SUBJECT,
        v1::SlaClockMet::TYPE,
        Kind::SlaMet,
    ),
    (
        v1::NotificationSent::SUBJECT,
        v1::NotificationSent::TYPE,
        Kind::NotificationSent,
    ),
    (
        v1::NotificationFailed::SUBJECT,
        v1::NotificationFailed::TYPE,
        Kind::NotificationFailed,
    ),
];

/// By subject first, then by the `Ombuds-Type` header.
fn kind_of(d: &Delivery) -> Option<Kind> {
    KINDS
        .iter()
        .find(|(subject, _, _)| *subject == d.subject)
        .or_else(|| {
            let ty = d.header(HDR_TYPE)?;
            KINDS.iter().find(|(_, t, _)| *t == ty)
        })
        .map(|(_, _, k)| *k)
}

/// A decoded event and what it does to the store.
enum Effect {
    Received(v1::ComplaintReceived),
    StatusChanged(v1::ComplaintStatusChanged),
    Assigned(v1::ComplaintAssigned),
    /// The department, and the `transfers` counter.
    Transferred(v1::ComplaintTransferred),
    /// The counter of the level reached.
    Escalated(u32),
    /// Bumps the named counter, and records the clock's outcome when it has an id.
    Clock(&'static str, Option<projection::ClockEvent>),
    /// Bumps the named counter.
    Count(&'static str),
}

/// The clock an SLA event is about; `None` without a clock id (counted only).
fn clock_of(
    meta: &v1::EventMeta,
    clock_id: &str,
    target: &str,
    kind: projection::ClockKind,
) -> Option<projection::ClockEvent> {
    (!clock_id.trim().is_empty()).then(|| projection::ClockEvent {
        clock_id: clock_id.trim().to_owned(),
        complaint_id: meta.complaint_id.clone(),
        target: target.to_owned(),
        kind,
    })
}

/// Decodes `d` as `E`; answers the event's meta, checked, and the event.
fn decode<E: Event>(d: &Delivery, needs_complaint: bool) -> Result<(v1::EventMeta, E), Outcome> {
    let ev: E = d.decode()?;
    let Some(meta) = ev.meta().cloned() else {
        return Err(Outcome::poison(
            "invalid",
            format!("{} without meta", d.subject),
        ));
    };
    if meta.event_id.is_empty() {
        return Err(Outcome::poison(
            "invalid",
            format!("{} without event_id", d.subject),
        ));
    }
    if needs_complaint && meta.complaint_id.is_empty() {
        return Err(Outcome::poison(
            "invalid",
            format!("{} without complaint_id", d.subject),
        ));
    }
    Ok((meta, ev))
}

fn read(d: &Delivery, kind: Kind) -> Result<(v1::EventMeta, Effect), Outcome> {
    use projection::*;
    Ok(match kind {
        Kind::Received => {
            let (m, e) = decode::<v1::ComplaintReceived>(d, true)?;
            (m, Effect::Received(e))
        }
        Kind::StatusChanged => {
            let (m, e) = decode::<v1::ComplaintStatusChanged>(d, true)?;
            (m, Effect::StatusChanged(e))
        }
        Kind::Assigned => {
            let (m, e) = decode::<v1::ComplaintAssigned>(d, true)?;
            (m, Effect::Assigned(e))
        }
        Kind::Transferred => {
            let (m, e) = decode::<v1::ComplaintTransferred>(d, true)?;
            (m, Effect::Transferred(e))
        }
        Kind::Escalated => {
            let (m, e) = decode::<v1::ComplaintEscalated>(d, false)?;
            if e.level == 0 {
                return Err(Outcome::poison(
                    "invalid",
                    format!("{} with level 0", d.subject),
                ));
            }
            (m, Effect::Escalated(e.level))
        }
        Kind::SlaStarted => {
            let (m, e) = decode::<v1::SlaClockStarted>(d, false)?;
            let clock = clock_of(&m, &e.clock_id, &e.target, ClockKind::Started);
            (m, Effect::Clock(SLA_STARTED, clock))
        }
        Kind::SlaBreached => {
            let (m, e) = decode::<v1::SlaClockBreached>(d, false)?;
            let clock = clock_of(&m, &e.clock_id, &e.target, ClockKind::Breached);
            (m, Effect::Clock(SLA_BREACHED, clock))
        }
        Kind::SlaMet => {
            let (m, e) = decode::<v1::SlaClockMet>(d, false)?;
            let kind = ClockKind::Met(e.margin_seconds);
            let clock = clock_of(&m, &e.clock_id, &e.target, kind);
            (m, Effect::Clock(SLA_MET, clock))
        }
        Kind::NotificationSent => (
            decode::<v1::NotificationSent>(d, false)?.0,
            Effect::Count(NOTIFICATIONS_SENT),
        ),
        Kind::NotificationFailed => (
            decode::<v1::NotificationFailed>(d, false)?.0,
            Effect::Count(NOTIFICATIONS_FAILED),
        ),
    })
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumerLabel {
    consumer: String,
}

/// What the consumers, the live publisher and the servers share.
pub struct State {
    pub db: DatabaseConnection,
    pub changed: live::Changed,
    ignored: Family<ConsumerLabel, Counter>,
}

impl State {
    fn new(db: DatabaseConnection, metrics: &Metrics) -> Self {
        let ignored = Family::<ConsumerLabel, Counter>::default();
        metrics.register(
            "analytics_ignored_events",
            "Messages on subjects analytics does not know, acked and ignored",
            ignored.clone(),
        );
        Self {
            db,
            changed: live::Changed::default(),
            ignored,
        }
    }

    /// Handles one message for the consumer `consumer` (also its inbox name).
    pub async fn handle(&self, consumer: &str, d: Delivery) -> Outcome {
        let Some(kind) = kind_of(&d) else {
            tracing::debug!(consumer, subject = %d.subject, "unknown subject; ignored");
            self.ignored
                .get_or_create(&ConsumerLabel {
                    consumer: consumer.to_owned(),
                })
                .inc();
            return Outcome::Done;
        };
        let (meta, effect) = match read(&d, kind) {
            Ok(r) => r,
            Err(o) => return o,
        };
        let txn = match inbox::begin_once(&self.db, consumer, &meta.event_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return Outcome::Duplicate,
            Err(e) => return e.into(),
        };
        if let Err(e) = apply(&txn, &meta, &effect).await {
            return e.into();
        }
        if let Err(e) = txn.commit().await {
            return e.into();
        }
        self.changed.signal();
        Outcome::Done
    }
}

async fn apply(
    txn: &DatabaseTransaction,
    meta: &v1::EventMeta,
    effect: &Effect,
) -> Result<(), DbErr> {
    match effect {
        Effect::Received(e) => projection::received(txn, meta, e).await,
        Effect::StatusChanged(e) => projection::status_changed(txn, meta, e).await,
        Effect::Assigned(e) => projection::assigned(txn, meta, e).await,
        Effect::Transferred(e) => {
            projection::transferred(txn, meta, e).await?;
            projection::bump(txn, projection::TRANSFERS).await
        }
        Effect::Escalated(level) => {
            let name = format!("{}{level}", projection::ESCALATIONS_LEVEL);
            projection::bump(txn, &name).await
        }
        Effect::Clock(name, clock) => {
            if let Some(clock) = clock {
                projection::clock_event(txn, clock).await?;
            }
            projection::bump(txn, name).await
        }
        Effect::Count(name) => projection::bump(txn, name).await,
    }
}

/// Runs the analytics service until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let kit = Kit::start::<migration::Migrator>(settings.common, shutdown).await?;
    let bucket = ombuds_platform::nats::analytics_bucket(&kit.js).await?;
    let state = Arc::new(State::new(kit.db.clone(), &kit.metrics));
    for (stream, durable, filter) in CONSUMERS {
        let st = state.clone();
        kit.consume(ConsumerSpec::new(stream, durable, filter), move |d| {
            let st = st.clone();
            async move { st.handle(durable, d).await }
        });
    }
    let published = Counter::default();
    kit.metrics.register(
        "analytics_live_snapshots",
        "Live count snapshots published to analytics.live.counts and the ANALYTICS bucket",
        published.clone(),
    );
    let publisher = live::Publisher {
        db: kit.db.clone(),
        nats: kit.nats.clone(),
        bucket,
        changed: state.changed.clone(),
        interval: settings.live_interval,
        published,
    };
    kit.spawn(publisher.run(kit.shutdown.clone()));
    let routes = tonic::service::Routes::new(AnalyticsServiceServer::new(grpc::GrpcApi {
        state: state.clone(),
    }));
    kit.run(http::router(state), routes, &["ombuds.v1.AnalyticsService"])
        .await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost::Message;

    use super::*;

    fn delivery(subject: &str, ty: Option<&str>, payload: Vec<u8>) -> Delivery {
        Delivery {
            subject: subject.into(),
            payload: payload.into(),
            headers: ty
                .map(|t| HashMap::from([(HDR_TYPE.to_owned(), t.to_owned())]))
                .unwrap_or_default(),
            stream: "COMPLAINTS".into(),
            stream_sequence: 1,
            delivered: 1,
        }
    }

    #[test]
    fn dispatch_is_on_the_subject_then_the_type_header() {
        assert_eq!(
            kind_of(&delivery("complaint.received", None, vec![])),
            Some(Kind::Received)
        );
        assert_eq!(
            kind_of(&delivery("sla.met", None, vec![])),
            Some(Kind::SlaMet)
        );
        assert_eq!(
            kind_of(&delivery(
                "routing.assigned",
                Some("ombuds.v1.SlaClockMet"),
                vec![]
            )),
            Some(Kind::Assigned),
            "the subject wins"
        );
        assert_eq!(
            kind_of(&delivery(
                "notification.legacy",
                Some("ombuds.v1.NotificationSent"),
                vec![]
            )),
            Some(Kind::NotificationSent)
        );
        assert_eq!(kind_of(&delivery("complaint.archived", None, vec![])), None);
        assert_eq!(
            kind_of(&delivery(
                "complaint.archived",
                Some("ombuds.v1.Nope"),
                vec![]
            )),
            None
        );
    }

    #[test]
    fn bad_payloads_are_poison_with_a_reason() {
        let garbage = delivery("complaint.received", None, b"not protobuf".to_vec());
        assert!(matches!(
            read(&garbage, Kind::Received),
            Err(Outcome::Poison {
                reason: "decode",
                ..
            })
        ));
        let no_meta = delivery(
            "sla.started",
            None,
            v1::SlaClockStarted::default().encode_to_vec(),
        );
        assert!(matches!(
            read(&no_meta, Kind::SlaStarted),
            Err(Outcome::Poison {
                reason: "invalid",
                ..
            })
        ));
        let mut meta = ombuds_platform::events::meta("test", "", "", 1);
        let counted = v1::SlaClockStarted {
            meta: Some(meta.clone()),
            ..Default::default()
        };
        let d = delivery("sla.started", None, counted.encode_to_vec());
        assert!(
            matches!(
                read(&d, Kind::SlaStarted),
                Ok((_, Effect::Clock(projection::SLA_STARTED, None)))
            ),
            "counters need no complaint id, and no clock id"
        );
        let met = v1::SlaClockMet {
            meta: Some(meta.clone()),
            clock_id: "clock-1".into(),
            target: "resolution".into(),
            margin_seconds: -60,
            ..Default::default()
        };
        let d = delivery("sla.met", None, met.encode_to_vec());
        match read(&d, Kind::SlaMet) {
            Ok((_, Effect::Clock(projection::SLA_MET, Some(clock)))) => {
                assert_eq!(clock.clock_id, "clock-1");
                assert_eq!(clock.kind, projection::ClockKind::Met(-60));
            }
            _ => panic!("sla.met should record its clock"),
        }
        let escalated = v1::ComplaintEscalated {
            meta: Some(meta.clone()),
            level: 0,
            ..Default::default()
        };
        let d = delivery("routing.escalated", None, escalated.encode_to_vec());
        assert!(matches!(
            read(&d, Kind::Escalated),
            Err(Outcome::Poison {
                reason: "invalid",
                ..
            })
        ));
        meta.complaint_id.clear();
        let status = v1::ComplaintStatusChanged {
            meta: Some(meta),
            to_status: "closed".into(),
            ..Default::default()
        };
        let d = delivery("complaint.status_changed", None, status.encode_to_vec());
        assert!(matches!(
            read(&d, Kind::StatusChanged),
            Err(Outcome::Poison {
                reason: "invalid",
                ..
            })
        ));
    }
}
