//! Intake's JetStream consumers:
//!
//! - `intake-contacts` on `intake.>`: contacts from channel adapters, up to
//!   [`MAX_BATCH`] recorded in one transaction. The channel is the subject's last
//!   token; the payload is a `v1::ContactSubmitted` (protobuf) or the HTTP contract's
//!   JSON body. Undecodable or invalid contacts go to `dlq.intake.decode` /
//!   `dlq.intake.invalid` with the reason, and their valid neighbours are recorded.
//! - `intake-routing` on `routing.assigned`: the department and assignee; a received or
//!   triaged complaint moves to `assigned` ([`crate::lifecycle`]).
//! - `intake-transfers` on `routing.transferred`: a transfer form moves the complaint to
//!   another department ([`store::apply_transfer`]).
//! - `intake-sla` on `sla.>`: the clocks' deadlines and states.

use std::sync::Arc;

use ombuds_platform::{
    consumer::{ConsumerSpec, Delivery, Outcome},
    inbox, time, Kit,
};
use ombuds_proto::v1;

use crate::{
    contact::{self, ContactJson},
    store, State,
};

/// The most contacts recorded in one transaction.
pub const MAX_BATCH: usize = 500;

pub fn start(kit: &Kit, state: Arc<State>) {
    let st = state.clone();
    let outbox = state.outbox.clone();
    kit.consume_batches(
        ConsumerSpec::new("INTAKE", "intake-contacts", "intake.>"),
        MAX_BATCH,
        move |txn, ds| {
            let st = st.clone();
            async move { on_contacts(&st, &txn, ds).await }
        },
        move || outbox.wake(),
    );
    let st = state.clone();
    kit.consume(
        ConsumerSpec::new("ROUTING", "intake-routing", "routing.assigned"),
        move |d| {
            let st = st.clone();
            async move { on_assigned(&st, d).await }
        },
    );
    let st = state.clone();
    kit.consume(
        ConsumerSpec::new("ROUTING", "intake-transfers", "routing.transferred"),
        move |d| {
            let st = st.clone();
            async move { on_transferred(&st, d).await }
        },
    );
    let st = state;
    kit.consume(ConsumerSpec::new("SLA", "intake-sla", "sla.>"), move |d| {
        let st = st.clone();
        async move { on_sla(&st, d).await }
    });
}

/// Parses a message on `intake.<channel>`.
pub fn parse_contact(d: &Delivery) -> Result<contact::NewContact, Outcome> {
    let channel = d.subject.strip_prefix("intake.").unwrap_or_default();
    if channel.is_empty() || channel.contains('.') {
        return Err(Outcome::poison(
            "invalid",
            format!("subject {} is not intake.<channel>", d.subject),
        ));
    }
    let looks_json = d
        .payload
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let parsed = if looks_json {
        ContactJson::from_slice(&d.payload)
            .map_err(|e| Outcome::poison("decode", format!("payload on {}: {e}", d.subject)))?
            .into_contact(channel)
    } else {
        let proto: v1::ContactSubmitted = d.decode()?;
        contact::from_proto(channel, proto)
    };
    parsed.map_err(|e| Outcome::poison("invalid", format!("contact on {}: {e}", d.subject)))
}

/// A valid contact, or the dead letter it is.
fn valid_contact(st: &State, d: &Delivery) -> Result<contact::NewContact, Outcome> {
    let contact = parse_contact(d)?;
    st.check(&contact)
        .map_err(|e| Outcome::poison("invalid", format!("contact on {}: {e}", d.subject)))?;
    Ok(contact)
}

/// A batch of contacts: the invalid ones are dead-lettered (having written nothing),
/// the valid ones recorded together ([`crate::recording::record_batch`]). A new
/// complaint or an append is `Done`; a contact recorded before is `Duplicate`.
async fn on_contacts(
    st: &State,
    txn: &sea_orm::DatabaseTransaction,
    ds: Vec<Delivery>,
) -> Result<Vec<Outcome>, sea_orm::DbErr> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(ds.len());
    let mut valid = Vec::with_capacity(ds.len());
    for d in &ds {
        match valid_contact(st, d) {
            Ok(c) => {
                valid.push(c);
                outcomes.push(None);
            }
            Err(o) => outcomes.push(Some(o)),
        }
    }
    let mut recorded = st.record_batch(txn, &valid).await?.into_iter();
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| match recorded.next() {
                Some(r) if r.created || r.appended => Outcome::Done,
                Some(_) => Outcome::Duplicate,
                None => Outcome::retry("the contact was not recorded"),
            })
        })
        .collect())
}

async fn on_assigned(st: &State, d: Delivery) -> Outcome {
    let ev: v1::ComplaintAssigned = match d.decode() {
        Ok(e) => e,
        Err(o) => return o,
    };
    let Some(meta) = ev.meta.clone() else {
        return Outcome::poison("invalid", "routing.assigned without meta");
    };
    let txn = match inbox::begin_once(&st.db, "intake-routing", &meta.event_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::Duplicate,
        Err(e) => return e.into(),
    };
    match store::apply_assignment(&txn, &st.vault, &ev).await {
        Ok(store::Assignment::Applied) => {}
        Ok(store::Assignment::UnknownComplaint) => {
            let _ = txn.rollback().await;
            return Outcome::retry(format!("complaint {} is not known here", meta.complaint_id));
        }
        Ok(store::Assignment::Raced) => {
            let _ = txn.rollback().await;
            return Outcome::retry(format!(
                "complaint {} changed while the assignment was applied",
                meta.complaint_id
            ));
        }
        Err(e) => return e.into(),
    }
    if let Err(e) = txn.commit().await {
        return e.into();
    }
    st.outbox.wake();
    Outcome::Done
}

async fn on_transferred(st: &State, d: Delivery) -> Outcome {
    let ev: v1::ComplaintTransferred = match d.decode() {
        Ok(e) => e,
        Err(o) => return o,
    };
    let Some(meta) = ev.meta.clone() else {
        return Outcome::poison("invalid", "routing.transferred without meta");
    };
    if ev.to_department.trim().is_empty() {
        return Outcome::poison("invalid", "routing.transferred without to_department");
    }
    let txn = match inbox::begin_once(&st.db, "intake-transfers", &meta.event_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::Duplicate,
        Err(e) => return e.into(),
    };
    match store::apply_transfer(&txn, &st.vault, &ev).await {
        Ok(store::Assignment::Applied) => {}
        Ok(store::Assignment::UnknownComplaint) => {
            let _ = txn.rollback().await;
            return Outcome::retry(format!("complaint {} is not known here", meta.complaint_id));
        }
        Ok(store::Assignment::Raced) => {
            let _ = txn.rollback().await;
            return Outcome::retry(format!(
                "complaint {} changed while the transfer was applied",
                meta.complaint_id
            ));
        }
        Err(e) => return e.into(),
    }
    match txn.commit().await {
        Ok(()) => Outcome::Done,
        Err(e) => e.into(),
    }
}

async fn on_sla(st: &State, d: Delivery) -> Outcome {
    let (meta, clock_id, target, deadline, state) = match d.subject.as_str() {
        "sla.started" => match d.decode::<v1::SlaClockStarted>() {
            Ok(e) => (e.meta, e.clock_id, e.target, e.deadline, "running"),
            Err(o) => return o,
        },
        "sla.breached" => match d.decode::<v1::SlaClockBreached>() {
            Ok(e) => (e.meta, e.clock_id, e.target, e.deadline, "breached"),
            Err(o) => return o,
        },
        "sla.met" => match d.decode::<v1::SlaClockMet>() {
            Ok(e) => (e.meta, e.clock_id, e.target, e.deadline, "met"),
            Err(o) => return o,
        },
        // Warnings and future events change nothing intake shows.
        _ => return Outcome::Done,
    };
    let Some(meta) = meta else {
        return Outcome::poison("invalid", format!("{} without meta", d.subject));
    };
    let txn = match inbox::begin_once(&st.db, "intake-sla", &meta.event_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::Duplicate,
        Err(e) => return e.into(),
    };
    let deadline = deadline.as_ref().map(time::from_timestamp).unwrap_or(0);
    if let Err(e) = store::apply_clock(
        &txn,
        &clock_id,
        &meta.complaint_id,
        &target,
        deadline,
        state,
    )
    .await
    {
        return e.into();
    }
    match txn.commit().await {
        Ok(()) => Outcome::Done,
        Err(e) => e.into(),
    }
}
