//! The watchdog's consumers: each event is decoded, turned into an [`Action`] and
//! applied by the [`crate::engine::Engine`] in one transaction with the inbox row and
//! the events it owes; the timers it changed are scheduled after the commit.
//!
//! Durables: `sla-complaints` (`complaint.>`), `sla-routing` (`routing.assigned`) and
//! `sla-transfers` (`routing.transferred`).

use ombuds_platform::{
    consumer::{Delivery, Outcome},
    inbox, time,
};
use ombuds_proto::v1;
use sea_orm::DatabaseTransaction;

use crate::{
    engine::{Action, Facts},
    State,
};

fn at(meta: &v1::EventMeta) -> i64 {
    meta.occurred_at
        .as_ref()
        .map(time::from_timestamp)
        .unwrap_or_else(time::now_ms)
}

/// Maps a message to the clock action it asks for (`None`: nothing for the clocks).
pub fn action_of(d: &Delivery) -> Result<Option<(v1::EventMeta, i64, Action)>, Outcome> {
    let (meta, when, action) = match d.subject.as_str() {
        "complaint.received" => {
            let e: v1::ComplaintReceived = d.decode()?;
            let when = e.received_at.as_ref().map(time::from_timestamp);
            let facts = Facts {
                kind: e.kind,
                category: e.category,
                priority: e.priority,
                channel: e.channel,
                tier: String::new(),
            };
            (e.meta, when, Action::Received(facts))
        }
        "complaint.status_changed" => {
            let e: v1::ComplaintStatusChanged = d.decode()?;
            let action = match (e.from_status.as_str(), e.to_status.as_str()) {
                (_, "awaiting_customer") => Action::Pause,
                // A resolution answers the customer too: it meets a first-response clock still open.
                (_, "resolved") => Action::Trigger(&["resolved", "first_reply"]),
                (_, "closed") => Action::Trigger(&["closed"]),
                (_, "reopened") => Action::Trigger(&["reopened", "unsatisfied"]),
                ("awaiting_customer", _) => Action::Resume,
                _ => return Ok(None),
            };
            (e.meta, None, action)
        }
        "complaint.message_added" => {
            let e: v1::ComplaintMessageAdded = d.decode()?;
            if e.kind != "reply" || !e.visible {
                return Ok(None);
            }
            (e.meta, None, Action::Trigger(&["first_reply"]))
        }
        "complaint.satisfaction_recorded" => {
            let e: v1::SatisfactionRecorded = d.decode()?;
            let names: &'static [&'static str] = if e.score <= 2 {
                &["satisfaction_recorded", "unsatisfied"]
            } else {
                &["satisfaction_recorded"]
            };
            (e.meta, None, Action::Trigger(names))
        }
        "routing.transferred" => {
            let e: v1::ComplaintTransferred = d.decode()?;
            let Some(deadline) = e.deadline.as_ref().map(time::from_timestamp) else {
                return Err(Outcome::poison(
                    "invalid",
                    "routing.transferred without a deadline",
                ));
            };
            (
                e.meta,
                None,
                Action::Transferred {
                    to: e.to_department,
                    deadline,
                },
            )
        }
        "routing.assigned" => {
            let e: v1::ComplaintAssigned = d.decode()?;
            (e.meta, None, Action::Assigned(e.department))
        }
        _ => return Ok(None),
    };
    let Some(meta) = meta else {
        return Err(Outcome::poison(
            "invalid",
            format!("{} without meta", d.subject),
        ));
    };
    if meta.complaint_id.is_empty() || meta.event_id.is_empty() {
        return Err(Outcome::poison(
            "invalid",
            format!("{} without complaint or event id", d.subject),
        ));
    }
    let when = when.unwrap_or_else(|| at(&meta));
    Ok(Some((meta, when, action)))
}

/// Handles one message for the consumer named `consumer`, inside `txn` (a savepoint of
/// the batch's transaction, see `ombuds_platform::consumer::run_batched`). The timers it
/// changes wait in `State::pending` until the batch commits.
pub async fn handle(st: &State, txn: &DatabaseTransaction, consumer: &str, d: Delivery) -> Outcome {
    let (meta, when, action) = match action_of(&d) {
        Ok(Some(x)) => x,
        Ok(None) => return Outcome::Done,
        Err(o) => return o,
    };
    match inbox::record(txn, consumer, &meta.event_id).await {
        Ok(true) => {}
        Ok(false) => return Outcome::Duplicate,
        Err(e) => return e.into(),
    }
    match st.engine.apply(txn, &meta, when, action).await {
        Ok(scheduled) => {
            if let Ok(mut p) = st.pending.lock() {
                p.extend(scheduled);
            }
            Outcome::Done
        }
        Err(e) => e.into(),
    }
}

/// After a batch commits: its timers go to the queue and the outbox relay wakes.
pub fn after_commit(st: &State) {
    let pending = st
        .pending
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default();
    for s in pending {
        st.timers.schedule(s);
    }
    st.outbox.wake();
}
