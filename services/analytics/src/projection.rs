//! Applies events to the store: the `complaint_facts` and `sla_clock_facts`
//! projections and the `counters`.
//!
//! Events about one complaint travel on different streams (COMPLAINTS, ROUTING, ...),
//! so they arrive in any order. Every write is therefore a single upsert that creates
//! the row if it is missing and otherwise changes only what the event knows about:
//! `complaint.received` fills in the channel, kind and category, `routing.assigned` and
//! `routing.transferred` the department, and status events the status, each guarded by
//! the complaint version so
//! that older state never overwrites newer (`>=` wins, as in DESIGN.md, "Delivery
//! guarantees" 5). Every function takes the caller's transaction, which also holds the
//! inbox row, so a redelivered event never counts twice.

use ombuds_platform::time::{from_timestamp, now_ms};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::{Alias, Expr, OnConflict, SimpleExpr},
    ActiveValue::Set,
    ConnectionTrait, DbErr, EntityTrait,
};

use crate::entity::{clock_fact as clock, complaint_fact as fact, counter};

/// `sla.started` events seen.
pub const SLA_STARTED: &str = "sla_started";
/// `sla.breached` events seen.
pub const SLA_BREACHED: &str = "sla_breached";
/// `sla.met` events seen.
pub const SLA_MET: &str = "sla_met";
/// `notification.sent` events seen.
pub const NOTIFICATIONS_SENT: &str = "notifications_sent";
/// `notification.failed` events seen.
pub const NOTIFICATIONS_FAILED: &str = "notifications_failed";
/// `routing.transferred` events seen.
pub const TRANSFERS: &str = "transfers";
/// The prefix of the counters of `routing.escalated` per level (`escalations_level_2`).
pub const ESCALATIONS_LEVEL: &str = "escalations_level_";

/// A clock's outcome in `sla_clock_facts.outcome`.
pub const RUNNING: &str = "running";
pub const BREACHED: &str = "breached";
pub const MET_IN_TIME: &str = "met_in_time";
pub const MET_LATE: &str = "met_late";

/// Status set by `complaint.received` when the event does not name one.
pub const RECEIVED: &str = "received";

fn version(meta: &v1::EventMeta) -> i64 {
    i64::try_from(meta.complaint_version).unwrap_or(i64::MAX)
}

/// The value the insert would have written (`excluded.<col>`).
fn excluded(c: fact::Column) -> SimpleExpr {
    Expr::col((Alias::new("excluded"), c)).into()
}

/// The value already stored (`complaint_facts.<col>`).
fn stored(c: fact::Column) -> SimpleExpr {
    Expr::col((fact::Entity, c)).into()
}

/// `CASE WHEN excluded.<version> >= stored.<version> THEN excluded.<col> ELSE stored.<col> END`
fn if_newer(version: fact::Column, c: fact::Column) -> SimpleExpr {
    Expr::case(
        Expr::expr(excluded(version)).gte(stored(version)),
        excluded(c),
    )
    .finally(stored(c))
    .into()
}

/// A row holding only the complaint id; events fill in what they know.
fn blank(meta: &v1::EventMeta) -> fact::ActiveModel {
    fact::ActiveModel {
        complaint_id: Set(meta.complaint_id.clone()),
        ticket_no: Set(meta.ticket_no.clone()),
        channel: Set(String::new()),
        kind: Set(String::new()),
        category: Set(String::new()),
        priority: Set(0),
        department: Set(String::new()),
        department_version: Set(-1),
        status: Set(String::new()),
        status_version: Set(-1),
        received: Set(false),
        received_at: Set(None),
        updated_at: Set(now_ms()),
    }
}

/// `complaint.received`: the complaint's facts, and status `received` at its version.
pub async fn received(
    conn: &impl ConnectionTrait,
    meta: &v1::EventMeta,
    ev: &v1::ComplaintReceived,
) -> Result<(), DbErr> {
    use fact::Column as C;
    let status = match ev.status.trim() {
        "" => RECEIVED.to_owned(),
        s => s.to_owned(),
    };
    let mut row = blank(meta);
    row.channel = Set(ev.channel.clone());
    row.kind = Set(ev.kind.clone());
    row.category = Set(ev.category.trim().to_owned());
    row.priority = Set(ev.priority);
    row.status = Set(status);
    row.status_version = Set(version(meta));
    row.received = Set(true);
    row.received_at = Set(ev
        .received_at
        .as_ref()
        .or(ev.recorded_at.as_ref())
        .map(from_timestamp));
    fact::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::ComplaintId)
                .update_columns([
                    C::TicketNo,
                    C::Channel,
                    C::Kind,
                    C::Category,
                    C::Priority,
                    C::Received,
                    C::ReceivedAt,
                    C::UpdatedAt,
                ])
                .value(C::Status, if_newer(C::StatusVersion, C::Status))
                .value(
                    C::StatusVersion,
                    if_newer(C::StatusVersion, C::StatusVersion),
                )
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// `complaint.status_changed`: `to_status`, unless a newer status is stored.
pub async fn status_changed(
    conn: &impl ConnectionTrait,
    meta: &v1::EventMeta,
    ev: &v1::ComplaintStatusChanged,
) -> Result<(), DbErr> {
    use fact::Column as C;
    let mut row = blank(meta);
    row.status = Set(ev.to_status.trim().to_owned());
    row.status_version = Set(version(meta));
    fact::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::ComplaintId)
                .value(C::Status, if_newer(C::StatusVersion, C::Status))
                .value(
                    C::StatusVersion,
                    if_newer(C::StatusVersion, C::StatusVersion),
                )
                .update_column(C::UpdatedAt)
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// `routing.assigned`: the department, unless a newer assignment is stored.
pub async fn assigned(
    conn: &impl ConnectionTrait,
    meta: &v1::EventMeta,
    ev: &v1::ComplaintAssigned,
) -> Result<(), DbErr> {
    use fact::Column as C;
    let mut row = blank(meta);
    row.department = Set(ev.department.trim().to_owned());
    row.department_version = Set(version(meta));
    fact::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::ComplaintId)
                .value(C::Department, if_newer(C::DepartmentVersion, C::Department))
                .value(
                    C::DepartmentVersion,
                    if_newer(C::DepartmentVersion, C::DepartmentVersion),
                )
                .update_column(C::UpdatedAt)
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// `routing.transferred`: the receiving department, unless a newer assignment or
/// transfer is stored (the same version guard as [`assigned`]; routing stamps both with
/// the complaint version it knows, and at equal versions the later event wins).
pub async fn transferred(
    conn: &impl ConnectionTrait,
    meta: &v1::EventMeta,
    ev: &v1::ComplaintTransferred,
) -> Result<(), DbErr> {
    let as_assignment = v1::ComplaintAssigned {
        meta: Some(meta.clone()),
        department: ev.to_department.clone(),
        ..Default::default()
    };
    assigned(conn, meta, &as_assignment).await
}

/// What an SLA event says about its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockEvent {
    pub clock_id: String,
    pub complaint_id: String,
    pub target: String,
    pub kind: ClockKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    Started,
    Breached,
    /// With the margin: positive early, negative late (seconds).
    Met(i64),
}

/// The value already stored (`sla_clock_facts.<col>`).
fn stored_clock(c: clock::Column) -> SimpleExpr {
    Expr::col((clock::Entity, c)).into()
}

/// The value the insert would have written (`excluded.<col>`).
fn excluded_clock(c: clock::Column) -> SimpleExpr {
    Expr::col((Alias::new("excluded"), c)).into()
}

/// Keeps a stored text unless it is empty.
fn fill(c: clock::Column) -> SimpleExpr {
    Expr::case(Expr::expr(stored_clock(c)).eq(""), excluded_clock(c))
        .finally(stored_clock(c))
        .into()
}

/// `sla.started`, `sla.breached` or `sla.met`: the clock's outcome (see
/// [`crate::entity::clock_fact`]).
pub async fn clock_event(conn: &impl ConnectionTrait, ev: &ClockEvent) -> Result<(), DbErr> {
    use clock::Column as C;
    let (outcome, breached, margin) = match ev.kind {
        ClockKind::Started => (RUNNING, false, None),
        ClockKind::Breached => (BREACHED, true, None),
        ClockKind::Met(m) if m >= 0 => (MET_IN_TIME, false, Some(m)),
        ClockKind::Met(m) => (MET_LATE, false, Some(m)),
    };
    let row = clock::ActiveModel {
        clock_id: Set(ev.clock_id.clone()),
        complaint_id: Set(ev.complaint_id.clone()),
        target: Set(ev.target.trim().to_owned()),
        outcome: Set(outcome.to_owned()),
        breached: Set(breached),
        margin_seconds: Set(margin),
        updated_at: Set(now_ms()),
    };
    let mut on_conflict = OnConflict::column(C::ClockId);
    on_conflict
        .value(C::ComplaintId, fill(C::ComplaintId))
        .value(C::Target, fill(C::Target))
        .update_column(C::UpdatedAt);
    match ev.kind {
        // A start never changes an outcome already known.
        ClockKind::Started => {}
        ClockKind::Breached => {
            let met = Expr::expr(stored_clock(C::Outcome)).is_in([MET_IN_TIME, MET_LATE]);
            on_conflict
                .value(
                    C::Outcome,
                    Expr::case(met, stored_clock(C::Outcome)).finally(Expr::val(BREACHED)),
                )
                .value(C::Breached, Expr::val(true));
        }
        ClockKind::Met(_) => {
            on_conflict.update_columns([C::Outcome, C::MarginSeconds]);
        }
    }
    clock::Entity::insert(row)
        .on_conflict(on_conflict)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Adds one to the counter `name`.
pub async fn bump(conn: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    counter::Entity::insert(counter::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(1),
    })
    .on_conflict(
        OnConflict::column(counter::Column::Name)
            .value(
                counter::Column::Value,
                Expr::col((counter::Entity, counter::Column::Value)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
