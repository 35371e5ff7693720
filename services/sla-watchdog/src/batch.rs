//! The store side of a batch of events: the plans and clocks of every complaint the
//! batch is about are read with IN-list queries, locked on PostgreSQL, changed in
//! memory by the engine ([`crate::engine::Complaint`]), and what changed is written back
//! with multi-row statements: a handful of statements per batch, whatever its size.
//!
//! Locking: events about one complaint arrive on three consumers (and on any number of
//! replicas) at once. Each batch first makes sure every complaint it is about has a
//! plan row, then locks those rows (`SELECT … FOR UPDATE`, in complaint id order, so
//! two batches never wait on each other in a cycle) and then the complaints' clocks (by
//! complaint id and target: the order of their unique index, and the order the timer
//! updates clocks in). A second batch about the same complaint waits for the first to
//! commit and then reads what it wrote, so no batch overwrites another's changes; the
//! timer's conditional updates wait for the clocks a batch holds and then find them
//! changed. On SQLite the first statement (the plan rows' insert) takes the database's
//! single write lock, which serialises writers the same way.

use std::collections::{BTreeMap, BTreeSet};

use ombuds_platform::{outbox, time};
use sea_orm::{
    sea_query::OnConflict, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::{
    engine::{to_active, Change, Complaint, Owed},
    entity::{clock, plan},
};

/// The complaints of a batch by id (so iterated in a fixed order).
pub type Complaints = BTreeMap<String, Complaint>;

/// Ids per IN list.
const IDS_PER_QUERY: usize = 500;
/// Rows per multi-row insert: 22 values a clock row, 7 a plan row, far below the
/// parameter limits of SQLite (32,766) and PostgreSQL (65,535).
const CLOCK_ROWS: usize = 500;
const PLAN_ROWS: usize = 1000;

/// Makes sure each complaint (id → the ticket number to create its plan with) has a
/// plan row, then reads and locks the plans.
pub async fn lock_plans<C: ConnectionTrait>(
    conn: &C,
    ids: &BTreeMap<String, String>,
) -> Result<Complaints, DbErr> {
    let now = time::now_ms();
    let rows: Vec<plan::ActiveModel> = ids
        .iter()
        .map(|(id, ticket)| plan::ActiveModel {
            complaint_id: Set(id.clone()),
            ticket_no: Set(ticket.clone()),
            policy: Set(String::new()),
            targets: Set("[]".into()),
            seen: Set("{}".into()),
            department: Set(String::new()),
            updated_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(PLAN_ROWS) {
        plan::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(plan::Column::ComplaintId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    let keys: Vec<&str> = ids.keys().map(String::as_str).collect();
    let mut out = Complaints::new();
    for chunk in keys.chunks(IDS_PER_QUERY) {
        let plans = plan::Entity::find()
            .filter(plan::Column::ComplaintId.is_in(chunk.iter().copied()))
            .order_by_asc(plan::Column::ComplaintId)
            .lock_exclusive()
            .all(conn)
            .await?;
        for p in plans {
            out.insert(p.complaint_id.clone(), Complaint::from_plan(p));
        }
    }
    for (id, ticket) in ids {
        out.entry(id.clone())
            .or_insert_with(|| Complaint::new(id, ticket));
    }
    Ok(out)
}

/// Reads (and on PostgreSQL locks) every clock of the complaints named in `about`
/// into `complaints`.
pub async fn load_clocks<C: ConnectionTrait>(
    conn: &C,
    complaints: &mut Complaints,
    about: &BTreeSet<&str>,
) -> Result<(), DbErr> {
    let ids: Vec<&str> = about.iter().copied().collect();
    let mut rows = Vec::new();
    for chunk in ids.chunks(IDS_PER_QUERY) {
        rows.extend(
            clock::Entity::find()
                .filter(clock::Column::ComplaintId.is_in(chunk.iter().copied()))
                .order_by_asc(clock::Column::ComplaintId)
                .order_by_asc(clock::Column::Target)
                .lock_exclusive()
                .all(conn)
                .await?,
        );
    }
    for c in rows {
        if let Some(k) = complaints.get_mut(&c.complaint_id) {
            k.add_stored(c);
        }
    }
    Ok(())
}

/// The clock columns an event can change (the others are fixed when the clock starts).
const CHANGEABLE: [clock::Column; 14] = [
    clock::Column::Within,
    clock::Column::State,
    clock::Column::StartedAt,
    clock::Column::Deadline,
    clock::Column::AllowanceMs,
    clock::Column::ConsumedMs,
    clock::Column::SegmentStart,
    clock::Column::WarnedPct,
    clock::Column::NextFireAt,
    clock::Column::EndedAt,
    clock::Column::PausedAt,
    clock::Column::Department,
    clock::Column::History,
    clock::Column::UpdatedAt,
];

/// Writes what the engine changed: plans, new clocks, changed clocks, then the events
/// owed, each with multi-row statements. Returns how many rows were written.
pub async fn write<C: ConnectionTrait>(
    conn: &C,
    complaints: &Complaints,
    owed: &[Owed],
) -> Result<usize, DbErr> {
    let plans: Vec<plan::ActiveModel> = complaints
        .values()
        .filter(|c| c.plan_changed)
        .map(|c| plan_active(&c.plan()))
        .collect();
    let mut written = plans.len();
    for chunk in plans.chunks(PLAN_ROWS) {
        plan::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(plan::Column::ComplaintId)
                    .update_columns([
                        plan::Column::Policy,
                        plan::Column::Targets,
                        plan::Column::Seen,
                        plan::Column::Department,
                        plan::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    let rows = |change: Change| -> Vec<clock::ActiveModel> {
        complaints
            .values()
            .flat_map(|c| c.clocks.iter())
            .filter(|k| k.change == change)
            .map(|k| to_active(&k.model))
            .collect()
    };
    let new = rows(Change::New);
    written += new.len();
    for chunk in new.chunks(CLOCK_ROWS) {
        clock::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    // Changed clocks: an upsert on the primary key is a multi-row UPDATE that reads the
    // same on SQLite and PostgreSQL. The rows exist (they were read and locked above).
    let changed = rows(Change::Changed);
    written += changed.len();
    for chunk in changed.chunks(CLOCK_ROWS) {
        clock::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(clock::Column::ClockId)
                    .update_columns(CHANGEABLE)
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    let mut events = outbox::Pending::default();
    for o in owed {
        o.push_to(&mut events);
    }
    written += events.write(conn).await?;
    Ok(written)
}

fn plan_active(p: &plan::Model) -> plan::ActiveModel {
    plan::ActiveModel {
        complaint_id: Set(p.complaint_id.clone()),
        ticket_no: Set(p.ticket_no.clone()),
        policy: Set(p.policy.clone()),
        targets: Set(p.targets.clone()),
        seen: Set(p.seen.clone()),
        department: Set(p.department.clone()),
        updated_at: Set(p.updated_at),
    }
}
