//! Starting and stopping clocks from events.
//!
//! - `complaint.received` starts the `resolution` clock (deadline = received + the
//!   policy's duration) and emits `sla.started`.
//! - `complaint.status_changed` to `resolved` or `closed` meets it and emits `sla.met`
//!   with the margin (positive: early; negative: late).
//! - `routing.assigned` records the department on the complaint's clocks.
//!
//! Events arrive at least once and in any order: the inbox drops repeats, a clock is
//! unique per (complaint, target), and only a running clock can be met or breached.

use ombuds_platform::{
    consumer::{Delivery, Outcome},
    events, inbox, outbox, time,
};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
};

use crate::{entity::clock, State, POLICY};

pub const SOURCE: &str = "sla-watchdog";
pub const RESOLUTION: &str = "resolution";

pub async fn on_complaint_event(st: &State, d: Delivery) -> Outcome {
    match d.subject.as_str() {
        "complaint.received" => {
            let ev: v1::ComplaintReceived = match d.decode() {
                Ok(e) => e,
                Err(o) => return o,
            };
            let Some(meta) = ev.meta.clone() else {
                return Outcome::poison("invalid", "complaint.received without meta");
            };
            let txn = match inbox::begin_once(&st.db, "sla-complaints", &meta.event_id).await {
                Ok(Some(t)) => t,
                Ok(None) => return Outcome::Duplicate,
                Err(e) => return e.into(),
            };
            let received = ev
                .received_at
                .as_ref()
                .map(time::from_timestamp)
                .unwrap_or_else(time::now_ms);
            let deadline = received + st.resolution.as_millis() as i64;
            if let Err(e) = start_clock(&txn, &meta, RESOLUTION, received, deadline).await {
                return e.into();
            }
            if let Err(e) = txn.commit().await {
                return e.into();
            }
            st.outbox.wake();
            st.timer.notify_one();
            Outcome::Done
        }
        "complaint.status_changed" => {
            let ev: v1::ComplaintStatusChanged = match d.decode() {
                Ok(e) => e,
                Err(o) => return o,
            };
            if !matches!(ev.to_status.as_str(), "resolved" | "closed") {
                return Outcome::Done;
            }
            let Some(meta) = ev.meta.clone() else {
                return Outcome::poison("invalid", "complaint.status_changed without meta");
            };
            let txn = match inbox::begin_once(&st.db, "sla-complaints", &meta.event_id).await {
                Ok(Some(t)) => t,
                Ok(None) => return Outcome::Duplicate,
                Err(e) => return e.into(),
            };
            let at = meta
                .occurred_at
                .as_ref()
                .map(time::from_timestamp)
                .unwrap_or_else(time::now_ms);
            if let Err(e) = meet_clocks(&txn, &meta.complaint_id, RESOLUTION, at).await {
                return e.into();
            }
            if let Err(e) = txn.commit().await {
                return e.into();
            }
            st.outbox.wake();
            Outcome::Done
        }
        // Other complaint events start or stop nothing yet.
        _ => Outcome::Done,
    }
}

pub async fn on_assigned(st: &State, d: Delivery) -> Outcome {
    let ev: v1::ComplaintAssigned = match d.decode() {
        Ok(e) => e,
        Err(o) => return o,
    };
    let Some(meta) = ev.meta else {
        return Outcome::poison("invalid", "routing.assigned without meta");
    };
    let txn = match inbox::begin_once(&st.db, "sla-routing", &meta.event_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::Duplicate,
        Err(e) => return e.into(),
    };
    let updated = clock::Entity::update_many()
        .col_expr(clock::Column::Department, Expr::value(ev.department))
        .col_expr(clock::Column::UpdatedAt, Expr::value(time::now_ms()))
        .filter(clock::Column::ComplaintId.eq(meta.complaint_id.as_str()))
        .exec(&txn)
        .await;
    if let Err(e) = updated {
        return e.into();
    }
    match txn.commit().await {
        Ok(()) => Outcome::Done,
        Err(e) => e.into(),
    }
}

/// Inserts the clock (once per complaint and target) and owes `sla.started`.
pub async fn start_clock(
    txn: &DatabaseTransaction,
    meta: &v1::EventMeta,
    target: &str,
    started_at: i64,
    deadline: i64,
) -> Result<(), DbErr> {
    let clock_id = uuid::Uuid::now_v7().to_string();
    let inserted = clock::Entity::insert(clock::ActiveModel {
        clock_id: Set(clock_id.clone()),
        complaint_id: Set(meta.complaint_id.clone()),
        ticket_no: Set(meta.ticket_no.clone()),
        target: Set(target.to_owned()),
        policy: Set(POLICY.to_owned()),
        state: Set("running".into()),
        started_at: Set(started_at),
        deadline: Set(deadline),
        ended_at: Set(0),
        department: Set(String::new()),
        updated_at: Set(time::now_ms()),
    })
    .on_conflict(
        OnConflict::columns([clock::Column::ComplaintId, clock::Column::Target])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok(());
    }
    outbox::enqueue(
        txn,
        &v1::SlaClockStarted {
            meta: Some(events::meta(
                SOURCE,
                &meta.complaint_id,
                &meta.ticket_no,
                meta.complaint_version,
            )),
            clock_id,
            target: target.to_owned(),
            started_at: Some(time::to_timestamp(started_at)),
            deadline: Some(time::to_timestamp(deadline)),
            policy: POLICY.to_owned(),
        },
    )
    .await
}

/// Meets the running clock of `target` for a complaint, owing `sla.met`.
pub async fn meet_clocks(
    txn: &DatabaseTransaction,
    complaint_id: &str,
    target: &str,
    at: i64,
) -> Result<(), DbErr> {
    let running = clock::Entity::find()
        .filter(clock::Column::ComplaintId.eq(complaint_id))
        .filter(clock::Column::Target.eq(target))
        .filter(clock::Column::State.is_in(["running", "breached"]))
        .all(txn)
        .await?;
    for c in running {
        let done = clock::Entity::update_many()
            .col_expr(clock::Column::State, Expr::value("met"))
            .col_expr(clock::Column::EndedAt, Expr::value(at))
            .col_expr(clock::Column::UpdatedAt, Expr::value(time::now_ms()))
            .filter(clock::Column::ClockId.eq(c.clock_id.as_str()))
            .filter(clock::Column::State.eq(c.state.as_str()))
            .exec(txn)
            .await?;
        if done.rows_affected == 1 {
            outbox::enqueue(
                txn,
                &v1::SlaClockMet {
                    meta: Some(events::meta(SOURCE, &c.complaint_id, &c.ticket_no, 0)),
                    clock_id: c.clock_id,
                    target: c.target,
                    deadline: Some(time::to_timestamp(c.deadline)),
                    met_at: Some(time::to_timestamp(at)),
                    margin_seconds: (c.deadline - at) / 1000,
                },
            )
            .await?;
        }
    }
    Ok(())
}
