//! The consumers: each turns one kind of event into the messages it owes, as `pending`
//! rows in `deliveries` that the [`crate::dispatcher`] sends.
//!
//! | subject (stream) | durable | owes |
//! | --- | --- | --- |
//! | `complaint.received` (COMPLAINTS) | `notification-complaints` | an `acknowledgement` to the customer |
//! | `complaint.resolved` (COMPLAINTS) | `notification-resolved` | a `result` to the customer |
//! | `sla.breached` (SLA) | `notification-sla-breached` | a `delay` notice to the customer (targets in `OMBUDS_NOTIFY_DELAY_TARGETS`) and a `staff_alert` |
//! | `sla.warning` (SLA) | `notification-sla-warning` | a `staff_alert` (threshold ≥ `OMBUDS_NOTIFY_STAFF_WARNING_PERCENT`, deadline not yet passed) |
//!
//! Staff alerts are owed only while `OMBUDS_NOTIFY_STAFF_EMAIL` is set.
//!
//! Each handler records the event id in the inbox and inserts the rows in one
//! transaction. Every row carries a unique `dedup_key` naming what it is owed for, so a
//! redelivered event (caught by the inbox) and a second event about the same thing
//! (caught by the key) both leave exactly one message:
//!
//! | template | `dedup_key` |
//! | --- | --- |
//! | acknowledgement | `acknowledgement:<complaint_id>` |
//! | delay | `delay:<complaint_id>:<clock_id>` (one per complaint and clock) |
//! | staff_alert | `staff_alert:<clock_id>:<percent>` for a warning, `staff_alert:<clock_id>:breached` |
//! | result | `result:<complaint_id>:<complaint_version>` (one per resolution: a reopened and again resolved complaint gets another) |
//!
//! **Stale events.** A new durable consumer starts at the beginning of its stream, so
//! the first start of this version reads every breach and resolution still kept. A
//! message that no longer means anything is not sent: a delay notice whose new expected
//! time has already passed, and a staff alert or result whose event is older than
//! [`STALE_AFTER`] (DESIGN.md: feedback "within 24h of resolution"). Each skip is logged.

use std::{sync::Arc, time::Duration};

use ombuds_platform::{
    consumer::{Delivery, Outcome},
    inbox, pii,
    time::{from_timestamp, now_ms},
};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::OnConflict, ActiveValue::Set, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait,
};
use tokio::sync::Notify;

use crate::{
    entity::delivery::{self, Column, Entity as Deliveries},
    templates::{self, Content, Delay, ResultFeedback, StaffAlert},
};

/// Durable of the `complaint.received` consumer, shared by all replicas.
pub const DURABLE: &str = "notification-complaints";
/// Durable of the `complaint.resolved` consumer.
pub const DURABLE_RESOLVED: &str = "notification-resolved";
/// Durable of the `sla.breached` consumer.
pub const DURABLE_BREACHED: &str = "notification-sla-breached";
/// Durable of the `sla.warning` consumer.
pub const DURABLE_WARNING: &str = "notification-sla-warning";

/// Staff alerts and results about events older than this are not sent.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What the SLA events owe, from the settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `OMBUDS_NOTIFY_DELAY_TARGETS`: breaches of these targets owe the customer a delay notice.
    pub delay_targets: Vec<String>,
    /// `OMBUDS_NOTIFY_DELAY_EXTENSION`: the new expected time is the breach plus this.
    pub delay_extension: Duration,
    /// `OMBUDS_NOTIFY_STAFF_EMAIL` is set.
    pub staff_alerts: bool,
    /// `OMBUDS_NOTIFY_STAFF_WARNING_PERCENT`: the least warning threshold staff are told of.
    pub staff_warning_percent: u32,
}

/// One message an event owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    pub dedup_key: String,
    pub content: Content,
}

/// The handlers, sharing the store, the dispatcher's wake-up and the [`Policy`].
pub struct Consumers {
    pub db: DatabaseConnection,
    /// Wakes the dispatcher after new rows are committed.
    pub wake: Arc<Notify>,
    pub policy: Policy,
}

/// The event's meta, if it has the fields every handler needs.
fn valid_meta<'a>(
    subject: &str,
    meta: Option<&'a v1::EventMeta>,
) -> Result<&'a v1::EventMeta, Outcome> {
    let Some(meta) = meta else {
        return Err(Outcome::poison(
            "invalid",
            format!("{subject} without meta"),
        ));
    };
    for (field, value) in [
        ("meta.event_id", &meta.event_id),
        ("meta.complaint_id", &meta.complaint_id),
        ("meta.ticket_no", &meta.ticket_no),
    ] {
        if value.trim().is_empty() {
            return Err(Outcome::poison(
                "invalid",
                format!("{subject} without {field}"),
            ));
        }
    }
    Ok(meta)
}

/// A required text field of an event, or the poison outcome naming it.
fn required<'a>(subject: &str, field: &str, value: &'a str) -> Result<&'a str, Outcome> {
    let value = value.trim();
    if value.is_empty() {
        Err(Outcome::poison(
            "invalid",
            format!("{subject} without {field}"),
        ))
    } else {
        Ok(value)
    }
}

/// Whether something that happened at `at` (ms) is older than [`STALE_AFTER`] at `now`.
pub fn is_stale(at: Option<i64>, now: i64) -> bool {
    at.is_some_and(|at| now.saturating_sub(at) > STALE_AFTER.as_millis() as i64)
}

impl Policy {
    /// What `sla.breached` owes at `now`: a delay notice for a customer-facing target
    /// (unless its new expected time has passed) and a staff alert (when staff alerts
    /// are on and the breach is recent).
    pub fn on_breached(
        &self,
        meta: &v1::EventMeta,
        clock_id: &str,
        target: &str,
        deadline: Option<i64>,
        breached_at: i64,
        now: i64,
    ) -> Vec<Owed> {
        let mut owed = Vec::new();
        if self.delay_targets.iter().any(|t| t == target) {
            let expected_at = breached_at.saturating_add(self.delay_extension.as_millis() as i64);
            if expected_at > now {
                let (reason_en, reason_zh) = templates::default_delay_reason(target);
                owed.push(Owed {
                    dedup_key: format!("{}:{}:{clock_id}", templates::DELAY, meta.complaint_id),
                    content: Content::Delay(Delay {
                        target: target.to_owned(),
                        reason_en: reason_en.to_owned(),
                        reason_zh: reason_zh.to_owned(),
                        expected_at,
                    }),
                });
            } else {
                tracing::info!(
                    ticket_no = %meta.ticket_no, %target, clock_id,
                    "breach too old for a delay notice: its new expected time has already passed"
                );
            }
        }
        if self.staff_alerts {
            if is_stale(Some(breached_at), now) {
                tracing::info!(ticket_no = %meta.ticket_no, %target, clock_id, "breach too old for a staff alert");
            } else {
                owed.push(Owed {
                    dedup_key: format!("{}:{clock_id}:breached", templates::STAFF_ALERT),
                    content: Content::StaffAlert(StaffAlert {
                        clock_id: clock_id.to_owned(),
                        target: target.to_owned(),
                        deadline,
                        threshold_percent: 100,
                        breached_at: Some(breached_at),
                    }),
                });
            }
        }
        owed
    }

    /// What `sla.warning` owes at `now`: a staff alert when staff alerts are on, the
    /// threshold is at least the configured one, and the warning is recent.
    pub fn on_warning(
        &self,
        meta: &v1::EventMeta,
        clock_id: &str,
        target: &str,
        deadline: Option<i64>,
        threshold_percent: u32,
        now: i64,
    ) -> Vec<Owed> {
        if !self.staff_alerts || threshold_percent < self.staff_warning_percent {
            return Vec::new();
        }
        if is_stale(meta.occurred_at.as_ref().map(from_timestamp), now) {
            tracing::info!(ticket_no = %meta.ticket_no, %target, clock_id, "warning too old for a staff alert");
            return Vec::new();
        }
        // The watchdog sends the warnings not yet given together with the breach; the
        // breach's own alert says more, so a warning about a passed deadline is not sent.
        if deadline.is_some_and(|d| d <= now) {
            tracing::debug!(ticket_no = %meta.ticket_no, %target, clock_id, "warning after its deadline; the breach alert covers it");
            return Vec::new();
        }
        vec![Owed {
            dedup_key: format!("{}:{clock_id}:{threshold_percent}", templates::STAFF_ALERT),
            content: Content::StaffAlert(StaffAlert {
                clock_id: clock_id.to_owned(),
                target: target.to_owned(),
                deadline,
                threshold_percent,
                breached_at: None,
            }),
        }]
    }
}

impl Consumers {
    /// `complaint.received`: the acknowledgement.
    pub async fn on_received(&self, d: Delivery) -> Outcome {
        let ev: v1::ComplaintReceived = match d.decode() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let meta = match valid_meta("complaint.received", ev.meta.as_ref()) {
            Ok(m) => m,
            Err(o) => return o,
        };
        let owed = vec![Owed {
            dedup_key: format!("{}:{}", templates::ACKNOWLEDGEMENT, meta.complaint_id),
            content: Content::Acknowledgement,
        }];
        self.owe(DURABLE, meta, owed).await
    }

    /// `complaint.resolved`: the result, with cause, measures, thanks and the
    /// satisfaction question.
    pub async fn on_resolved(&self, d: Delivery) -> Outcome {
        let ev: v1::ComplaintResolved = match d.decode() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let meta = match valid_meta("complaint.resolved", ev.meta.as_ref()) {
            Ok(m) => m,
            Err(o) => return o,
        };
        if is_stale(meta.occurred_at.as_ref().map(from_timestamp), now_ms()) {
            tracing::info!(ticket_no = %meta.ticket_no, "resolution too old for a result message");
            return Outcome::Done;
        }
        // One result per resolution: the version tells a second resolution (after a
        // reopening) from a redelivery of the first.
        let which = if meta.complaint_version > 0 {
            meta.complaint_version.to_string()
        } else {
            meta.event_id.clone()
        };
        let owed = vec![Owed {
            dedup_key: format!("{}:{}:{which}", templates::RESULT, meta.complaint_id),
            // Intake redacts these already; again here, as they reach a customer's inbox.
            content: Content::Result(ResultFeedback {
                result: pii::redact_text(&ev.result),
                cause: pii::redact_text(&ev.cause),
                measures: pii::redact_text(&ev.measures),
            }),
        }];
        self.owe(DURABLE_RESOLVED, meta, owed).await
    }

    /// `sla.breached`: see [`Policy::on_breached`].
    pub async fn on_breached(&self, d: Delivery) -> Outcome {
        const SUBJECT: &str = "sla.breached";
        let ev: v1::SlaClockBreached = match d.decode() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let parsed = valid_meta(SUBJECT, ev.meta.as_ref()).and_then(|meta| {
            Ok((
                meta,
                required(SUBJECT, "clock_id", &ev.clock_id)?,
                required(SUBJECT, "target", &ev.target)?,
            ))
        });
        let (meta, clock_id, target) = match parsed {
            Ok(p) => p,
            Err(o) => return o,
        };
        let now = now_ms();
        let deadline = ev.deadline.as_ref().map(from_timestamp);
        // The watchdog always says when; if not, the moment we learn of it will do.
        let breached_at = ev.breached_at.as_ref().map_or(now, from_timestamp);
        let owed = self
            .policy
            .on_breached(meta, clock_id, target, deadline, breached_at, now);
        self.owe(DURABLE_BREACHED, meta, owed).await
    }

    /// `sla.warning`: see [`Policy::on_warning`].
    pub async fn on_warning(&self, d: Delivery) -> Outcome {
        const SUBJECT: &str = "sla.warning";
        let ev: v1::SlaClockWarning = match d.decode() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let parsed = valid_meta(SUBJECT, ev.meta.as_ref()).and_then(|meta| {
            Ok((
                meta,
                required(SUBJECT, "clock_id", &ev.clock_id)?,
                required(SUBJECT, "target", &ev.target)?,
            ))
        });
        let (meta, clock_id, target) = match parsed {
            Ok(p) => p,
            Err(o) => return o,
        };
        if ev.threshold_percent > 100 {
            return Outcome::poison(
                "invalid",
                format!(
                    "sla.warning with threshold_percent {} (over 100)",
                    ev.threshold_percent
                ),
            );
        }
        let deadline = ev.deadline.as_ref().map(from_timestamp);
        let owed = self.policy.on_warning(
            meta,
            clock_id,
            target,
            deadline,
            ev.threshold_percent,
            now_ms(),
        );
        self.owe(DURABLE_WARNING, meta, owed).await
    }

    /// Records the event in `durable`'s inbox and inserts the `owed` rows, in one
    /// transaction; wakes the dispatcher when a row is new. Owing nothing is done at once.
    async fn owe(&self, durable: &str, meta: &v1::EventMeta, owed: Vec<Owed>) -> Outcome {
        if owed.is_empty() {
            return Outcome::Done;
        }
        let txn = match inbox::begin_once(&self.db, durable, &meta.event_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return Outcome::Duplicate,
            Err(e) => return e.into(),
        };
        let mut new = 0;
        for o in &owed {
            match insert(&txn, meta, o).await {
                Ok(n) => new += n,
                Err(e) => return e.into(),
            }
        }
        if let Err(e) = txn.commit().await {
            return e.into();
        }
        for o in &owed {
            tracing::debug!(
                complaint_id = %meta.complaint_id,
                ticket_no = %meta.ticket_no,
                template = o.content.template(),
                key = %o.dedup_key,
                "delivery owed"
            );
        }
        if new < owed.len() as u64 {
            tracing::info!(
                complaint_id = %meta.complaint_id,
                ticket_no = %meta.ticket_no,
                owed = owed.len(),
                new,
                "some of these messages were already owed; each is sent once"
            );
        }
        if new > 0 {
            self.wake.notify_one();
        }
        Outcome::Done
    }
}

/// Inserts one pending delivery unless its `dedup_key` exists; 1 if inserted.
async fn insert(txn: &DatabaseTransaction, meta: &v1::EventMeta, o: &Owed) -> Result<u64, DbErr> {
    let now = now_ms();
    Deliveries::insert(delivery::ActiveModel {
        delivery_id: Set(uuid::Uuid::now_v7().to_string()),
        complaint_id: Set(meta.complaint_id.clone()),
        ticket_no: Set(meta.ticket_no.clone()),
        complaint_version: Set(i64::try_from(meta.complaint_version).unwrap_or(i64::MAX)),
        template: Set(o.content.template().to_owned()),
        dedup_key: Set(o.dedup_key.clone()),
        params: Set(Some(o.content.to_params())),
        status: Set(delivery::PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        claim_token: Set(None),
        medium: Set(None),
        provider: Set(None),
        recipient_masked: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        sent_at: Set(None),
    })
    .on_conflict(OnConflict::column(Column::DedupKey).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(staff: bool) -> Policy {
        Policy {
            delay_targets: vec!["resolution".into(), "initial_result".into()],
            delay_extension: Duration::from_secs(24 * 3600),
            staff_alerts: staff,
            staff_warning_percent: 80,
        }
    }

    fn meta(occurred_at: i64) -> v1::EventMeta {
        v1::EventMeta {
            event_id: "e".into(),
            occurred_at: Some(ombuds_platform::time::to_timestamp(occurred_at)),
            complaint_id: "c1".into(),
            ticket_no: "TS-1".into(),
            complaint_version: 0,
            source: "sla-watchdog".into(),
        }
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_breach_of_a_customer_facing_target_owes_a_delay_notice_and_a_staff_alert() {
        let now = 1_800_000_000_000;
        let owed = policy(true).on_breached(
            &meta(now),
            "k1",
            "resolution",
            Some(now - 1000),
            now - HOUR,
            now,
        );
        assert_eq!(owed.len(), 2, "{owed:?}");
        assert_eq!(owed[0].dedup_key, "delay:c1:k1");
        match &owed[0].content {
            Content::Delay(d) => {
                assert_eq!(d.expected_at, now + 23 * HOUR);
                assert_eq!(d.reason_en, "the investigation needs more time");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(owed[1].dedup_key, "staff_alert:k1:breached");
        // Other targets: staff only; staff alerts off: customer only.
        let owed = policy(true).on_breached(&meta(now), "k2", "transfer", None, now, now);
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].content.template(), templates::STAFF_ALERT);
        let owed = policy(false).on_breached(&meta(now), "k1", "resolution", None, now, now);
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].content.template(), templates::DELAY);
    }

    #[test]
    fn stale_breaches_owe_nothing() {
        let now = 1_800_000_000_000;
        let owed =
            policy(true).on_breached(&meta(now), "k1", "resolution", None, now - 25 * HOUR, now);
        assert!(owed.is_empty(), "{owed:?}");
    }

    #[test]
    fn warnings_owe_a_staff_alert_from_the_threshold_on() {
        let now = 1_800_000_000_000;
        let p = policy(true);
        assert!(p
            .on_warning(&meta(now), "k1", "resolution", None, 50, now)
            .is_empty());
        let owed = p.on_warning(&meta(now), "k1", "resolution", None, 80, now);
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].dedup_key, "staff_alert:k1:80");
        assert!(policy(false)
            .on_warning(&meta(now), "k1", "resolution", None, 80, now)
            .is_empty());
        assert!(p
            .on_warning(&meta(now - 25 * HOUR), "k1", "resolution", None, 80, now)
            .is_empty());
        // Past its deadline: the breach alert covers it.
        assert!(p
            .on_warning(&meta(now), "k1", "resolution", Some(now - 1), 80, now)
            .is_empty());
        assert_eq!(
            p.on_warning(&meta(now), "k1", "resolution", Some(now + 1), 80, now)
                .len(),
            1
        );
    }
}
