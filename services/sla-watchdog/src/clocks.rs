//! The watchdog's consumers. They take whole batches of events
//! (`ombuds_platform::consumer::run_batches`, one transaction per batch) and handle
//! them batch-wise ([`Consumer::handle`]):
//!
//! 1. every message is decoded and turned into an [`Action`] (an undecodable or
//!    invalid one is `Poison` and writes nothing);
//! 2. the plans of the complaints the batch is about are created if missing and locked,
//!    in complaint id order ([`crate::batch`]);
//! 3. the event ids go to the inbox in one statement; an id handled before is a
//!    `Duplicate` and writes nothing;
//! 4. the clocks of those complaints are read (and locked) with one IN-list query;
//! 5. the engine applies the events in memory, in delivery order, so several events
//!    about one complaint compose exactly as if handled one at a time;
//! 6. plans, new clocks, changed clocks and the events owed are written with multi-row
//!    statements.
//!
//! The timers the batch changed wait in the consumer until the batch commits, then go
//! to the timer queue ([`Consumer::after_commit`]). A store error fails the batch: the
//! platform rolls it back and handles each message again on its own.
//!
//! Durables: `sla-complaints` (`complaint.>`), `sla-routing` (`routing.assigned`) and
//! `sla-transfers` (`routing.transferred`).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use ombuds_platform::{
    consumer::{Delivery, Outcome},
    inbox, time,
};
use ombuds_proto::v1;
use sea_orm::{DatabaseTransaction, DbErr};

use crate::{
    batch,
    engine::{Action, Effects, Facts, Scheduled},
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

/// One of the watchdog's durable consumers.
pub struct Consumer {
    st: Arc<State>,
    /// The durable's name; the inbox records event ids under it.
    name: String,
    /// Timers changed by this consumer's batches, scheduled once they commit.
    pending: Mutex<Vec<Scheduled>>,
}

/// One event of a batch that asks something of the clocks.
struct Work {
    /// Its place in the batch.
    index: usize,
    meta: v1::EventMeta,
    at: i64,
    action: Action,
}

impl Consumer {
    pub fn new(st: Arc<State>, name: impl Into<String>) -> Self {
        Self {
            st,
            name: name.into(),
            pending: Mutex::default(),
        }
    }

    /// Handles a batch in `txn` (see the module docs): one outcome per delivery, in
    /// order. `Poison` and `Duplicate` deliveries have written nothing; an error means
    /// nothing of the batch may be committed.
    pub async fn handle(
        &self,
        txn: &DatabaseTransaction,
        deliveries: &[Delivery],
    ) -> Result<Vec<Outcome>, DbErr> {
        let mut outcomes = Vec::with_capacity(deliveries.len());
        let mut work = Vec::new();
        for (index, d) in deliveries.iter().enumerate() {
            match action_of(d) {
                Ok(Some((meta, at, action))) => {
                    work.push(Work {
                        index,
                        meta,
                        at,
                        action,
                    });
                    outcomes.push(Outcome::Done);
                }
                Ok(None) => outcomes.push(Outcome::Done),
                Err(o) => outcomes.push(o),
            }
        }
        if work.is_empty() {
            return Ok(outcomes);
        }
        // Each complaint with the ticket number of its first event here.
        let mut ids = BTreeMap::new();
        for w in &work {
            ids.entry(w.meta.complaint_id.clone())
                .or_insert_with(|| w.meta.ticket_no.clone());
        }
        let mut complaints = batch::lock_plans(txn, &ids).await?;
        // The inbox only now: a replica handling the same events waited for the locks
        // above and finds them here as duplicates.
        let event_ids: Vec<&str> = work.iter().map(|w| w.meta.event_id.as_str()).collect();
        let fresh = inbox::record_many(txn, &self.name, &event_ids).await?;
        let mut todo = Vec::with_capacity(work.len());
        for (w, new) in work.into_iter().zip(fresh) {
            if new {
                todo.push(w);
            } else {
                outcomes[w.index] = Outcome::Duplicate;
            }
        }
        if todo.is_empty() {
            return Ok(outcomes);
        }
        let about: BTreeSet<&str> = todo.iter().map(|w| w.meta.complaint_id.as_str()).collect();
        batch::load_clocks(txn, &mut complaints, &about).await?;
        let mut fx = Effects::default();
        for w in todo {
            if let Some(c) = complaints.get_mut(&w.meta.complaint_id) {
                self.st.engine.apply(c, &w.meta, w.at, w.action, &mut fx);
            }
        }
        batch::write(txn, &complaints, &fx.owed).await?;
        if let Ok(mut p) = self.pending.lock() {
            p.extend(fx.scheduled);
        }
        Ok(outcomes)
    }

    /// After a batch commits: its timers go to the queue and the outbox relay wakes.
    /// (Timers of a batch that failed at commit may be among them: a timer whose clock
    /// does not say it is due does nothing.)
    pub fn after_commit(&self) {
        let pending = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        for s in pending {
            self.st.timers.schedule(s);
        }
        self.st.outbox.wake();
    }
}
