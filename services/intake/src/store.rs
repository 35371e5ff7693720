//! Intake's queries and mutations, as plain functions over the store. Every mutation
//! writes the events it owes to the outbox in the same transaction, and every change
//! of a complaint bumps its version and writes a `history` row (contacts are recorded
//! by [`crate::recording`], the agents' lifecycle actions are in [`crate::actions`]).

use std::collections::BTreeMap;

use chrono::{FixedOffset, TimeZone, Utc};
use ombuds_platform::{events, outbox, pii, time};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::{
    crypto::{CryptoError, Vault},
    entity::{complaint, customer, history, message, sla_clock},
    lifecycle::{self, Action, Status},
    sealing,
};

pub const SOURCE: &str = "intake";

/// How ticket numbers look: `<prefix>-<YYYYMMDD>-<6-digit daily sequence>`.
#[derive(Debug, Clone)]
pub struct TicketFormat {
    pub prefix: String,
    /// The day in the ticket is the local date at this offset from UTC.
    pub offset: FixedOffset,
}

impl TicketFormat {
    /// The day of a ticket recorded at `ms`: `YYYYMMDD`.
    pub(crate) fn day(&self, ms: i64) -> String {
        let utc = Utc
            .timestamp_millis_opt(ms)
            .single()
            .unwrap_or_else(Utc::now);
        utc.with_timezone(&self.offset).format("%Y%m%d").to_string()
    }
}

/// What recording a contact did ([`crate::recording`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub complaint_id: String,
    pub ticket_no: String,
    pub status: String,
    /// A new complaint was opened (false when the same (channel, external_id) had been
    /// recorded before, or the contact was appended to a complaint).
    pub created: bool,
    /// The contact was appended to an existing complaint just now (false for a repeat
    /// of a contact appended before).
    pub appended: bool,
    pub entry_lag_ms: i64,
    /// True when the contact went to an existing complaint as a customer message
    /// ([`crate::threading`]); `ticket_no` is then that complaint's.
    pub threaded: bool,
    /// cited_ticket | email_reply | duplicate, when threaded.
    pub linked_reason: String,
}

/// Tags as stored (a JSON array).
pub fn tags_json(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

/// Tags as stored, read back (an unreadable value reads as none).
pub fn tags_of(c: &complaint::Model) -> Vec<String> {
    serde_json::from_str(&c.tags).unwrap_or_default()
}

/// A customer, decrypted: exists only inside intake (other services get a
/// [`v1::CustomerRef`] with masks, and notification the contact through
/// `GetCustomerContact`).
#[derive(Clone, PartialEq, Eq)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    /// E.164 (`+8613812345678`) or, for numbers that cannot be made international,
    /// the digits (see [`crate::contact::normalise_phone`]).
    pub phone: String,
    /// Lower-cased.
    pub email: String,
    pub account_id: String,
    /// Platform → handle ([`crate::contact::normalise_social`]).
    pub social: BTreeMap<String, String>,
    pub address: String,
    pub created_at: i64,
}

impl std::fmt::Debug for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Customer")
            .field("customer_id", &self.customer_id)
            .field("name", &pii::mask_name(&self.name))
            .field("phone", &pii::mask_phone(&self.phone))
            .field("email", &pii::mask_email(&self.email))
            .finish_non_exhaustive()
    }
}

fn crypto_err(customer_id: &str, e: CryptoError) -> DbErr {
    DbErr::Custom(format!("customer {customer_id}: {e}"))
}

/// Decrypts a `customer_records` row (an unknown key id is an error naming it).
pub fn decrypt_customer(vault: &Vault, r: &customer::Model) -> Result<Customer, DbErr> {
    let d = |v: &str| vault.decrypt(v).map_err(|e| crypto_err(&r.customer_id, e));
    Ok(Customer {
        customer_id: r.customer_id.clone(),
        name: d(&r.name_enc)?,
        phone: d(&r.phone_enc)?,
        email: d(&r.email_enc)?,
        account_id: d(&r.account_enc)?,
        social: match d(&r.social_enc)?.as_str() {
            "" => BTreeMap::new(),
            json => serde_json::from_str(json).map_err(|e| {
                DbErr::Custom(format!(
                    "customer {}: social handles do not parse: {e}",
                    r.customer_id
                ))
            })?,
        },
        address: d(&r.address_enc)?,
        created_at: r.created_at,
    })
}

/// The social handles as stored in `social_enc` (before encryption): a JSON object,
/// or empty when there are none.
pub(crate) fn social_json(social: &BTreeMap<String, String>) -> String {
    if social.is_empty() {
        String::new()
    } else {
        serde_json::to_string(social).unwrap_or_default()
    }
}

/// The blind index of one social handle (`customer_handles.bidx`).
pub(crate) fn handle_index(vault: &Vault, platform: &str, handle: &str) -> String {
    vault.blind_index("social", &format!("{platform}:{handle}"))
}

/// The blind indexes of a customer's look-up fields: (phone, email, account).
pub(crate) fn blind_indexes(vault: &Vault, phone: &str, email: &str, account: &str) -> [String; 3] {
    [
        vault.blind_index("phone", phone),
        vault.blind_index("email", email),
        vault.blind_index("account", account),
    ]
}

/// The customer as other services see them: a reference and masks.
pub fn customer_ref(c: &Customer) -> v1::CustomerRef {
    v1::CustomerRef {
        customer_id: c.customer_id.clone(),
        name_masked: pii::mask_name(&c.name),
        phone_masked: pii::mask_phone(&c.phone),
        email_masked: pii::mask_email(&c.email),
    }
}

/// Writes one `history` row (inside the transaction that made the change).
pub async fn write_history(
    txn: &DatabaseTransaction,
    vault: &Vault,
    h: &history::Model,
) -> Result<(), DbErr> {
    history::Entity::insert(history_row(vault, h))
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// A `history` row to insert, its reason (free text) sealed.
pub fn history_row(vault: &Vault, h: &history::Model) -> history::ActiveModel {
    history::ActiveModel {
        complaint_id: Set(h.complaint_id.clone()),
        version: Set(h.version),
        from_status: Set(h.from_status.clone()),
        to_status: Set(h.to_status.clone()),
        action: Set(h.action.clone()),
        actor: Set(h.actor.clone()),
        reason: Set(vault.seal_text(&h.reason)),
        at: Set(h.at),
    }
}

/// A complaint with its customer and SLA clocks; from [`get`] also its thread and
/// history (oldest first), which [`list`] leaves empty. Its free text is decrypted
/// ([`crate::sealing`]): never write these models back as they are.
pub struct Full {
    pub complaint: complaint::Model,
    pub customer: Option<Customer>,
    pub clocks: Vec<sla_clock::Model>,
    pub messages: Vec<message::Model>,
    pub history: Vec<history::Model>,
}

pub enum Key<'a> {
    Ticket(&'a str),
    Id(&'a str),
}

/// A complaint with its customer, clocks, thread and history; `db` may be a transaction.
pub async fn get(
    db: &impl ConnectionTrait,
    vault: &Vault,
    key: Key<'_>,
) -> Result<Option<Full>, DbErr> {
    let q = complaint::Entity::find();
    let found = match key {
        Key::Ticket(t) => q.filter(complaint::Column::TicketNo.eq(t.trim())),
        Key::Id(id) => q.filter(complaint::Column::ComplaintId.eq(id.trim())),
    }
    .one(db)
    .await?;
    let Some(mut c) = found else { return Ok(None) };
    sealing::open_complaint(vault, &mut c)?;
    let customer = match customer::Entity::find_by_id(c.customer_id.clone())
        .one(db)
        .await?
    {
        Some(r) => Some(decrypt_customer(vault, &r)?),
        None => None,
    };
    let clocks = sla_clock::Entity::find()
        .filter(sla_clock::Column::ComplaintId.eq(c.complaint_id.as_str()))
        .order_by_asc(sla_clock::Column::Deadline)
        .all(db)
        .await?;
    let mut messages = message::Entity::find()
        .filter(message::Column::ComplaintId.eq(c.complaint_id.as_str()))
        .order_by_asc(message::Column::CreatedAt)
        .order_by_asc(message::Column::MessageId)
        .all(db)
        .await?;
    for m in &mut messages {
        sealing::open_message(vault, m)?;
    }
    let mut history = history::Entity::find()
        .filter(history::Column::ComplaintId.eq(c.complaint_id.as_str()))
        .order_by_asc(history::Column::Version)
        .all(db)
        .await?;
    for h in &mut history {
        sealing::open_history(vault, h)?;
    }
    Ok(Some(Full {
        complaint: c,
        customer,
        clocks,
        messages,
        history,
    }))
}

/// `List`'s filters (empty or 0: any); checked by [`crate::search::validate_list`].
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub status: String,
    pub channel: String,
    pub department: String,
    pub kind: String,
    pub category: String,
    pub priority: i32,
    /// received_at >= this (ms).
    pub received_from: Option<i64>,
    /// received_at < this (ms).
    pub received_to: Option<i64>,
    pub page_size: u64,
    /// The last complaint id of the previous page.
    pub after: String,
}

/// Newest first; the page token is the last complaint id (UUIDv7 ids sort by time).
pub async fn list(
    db: &DatabaseConnection,
    vault: &Vault,
    f: &ListFilter,
) -> Result<(Vec<Full>, String), DbErr> {
    let mut q = complaint::Entity::find();
    if !f.status.is_empty() {
        q = q.filter(complaint::Column::Status.eq(f.status.as_str()));
    }
    if !f.channel.is_empty() {
        q = q.filter(complaint::Column::Channel.eq(f.channel.as_str()));
    }
    if !f.department.is_empty() {
        q = q.filter(complaint::Column::Department.eq(f.department.as_str()));
    }
    if !f.kind.is_empty() {
        q = q.filter(complaint::Column::Kind.eq(f.kind.as_str()));
    }
    if !f.category.is_empty() {
        q = q.filter(complaint::Column::Category.eq(f.category.as_str()));
    }
    if f.priority != 0 {
        q = q.filter(complaint::Column::Priority.eq(f.priority));
    }
    if let Some(from) = f.received_from {
        q = q.filter(complaint::Column::ReceivedAt.gte(from));
    }
    if let Some(to) = f.received_to {
        q = q.filter(complaint::Column::ReceivedAt.lt(to));
    }
    if !f.after.is_empty() {
        q = q.filter(complaint::Column::ComplaintId.lt(f.after.as_str()));
    }
    let size = f.page_size.clamp(1, 500);
    let rows = q
        .order_by_desc(complaint::Column::ComplaintId)
        .limit(size + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > size;
    let rows: Vec<_> = rows.into_iter().take(size as usize).collect();
    let next = if more {
        rows.last()
            .map(|c| c.complaint_id.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok((load_full(db, vault, rows).await?, next))
}

/// The complaints with their customers and clocks (no thread or history), in order;
/// their free text decrypted.
pub async fn load_full(
    db: &impl ConnectionTrait,
    vault: &Vault,
    mut rows: Vec<complaint::Model>,
) -> Result<Vec<Full>, DbErr> {
    for c in &mut rows {
        sealing::open_complaint(vault, c)?;
    }
    let ids: Vec<String> = rows.iter().map(|c| c.customer_id.clone()).collect();
    let customers = customer::Entity::find()
        .filter(customer::Column::CustomerId.is_in(ids))
        .all(db)
        .await?
        .iter()
        .map(|r| decrypt_customer(vault, r))
        .collect::<Result<Vec<_>, DbErr>>()?;
    let cids: Vec<String> = rows.iter().map(|c| c.complaint_id.clone()).collect();
    let clocks = sla_clock::Entity::find()
        .filter(sla_clock::Column::ComplaintId.is_in(cids))
        .order_by_asc(sla_clock::Column::Deadline)
        .all(db)
        .await?;
    let out = rows
        .into_iter()
        .map(|c| Full {
            customer: customers
                .iter()
                .find(|x| x.customer_id == c.customer_id)
                .cloned(),
            clocks: clocks
                .iter()
                .filter(|k| k.complaint_id == c.complaint_id)
                .cloned()
                .collect(),
            complaint: c,
            messages: Vec::new(),
            history: Vec::new(),
        })
        .collect();
    Ok(out)
}

/// What [`apply_assignment`] or [`apply_transfer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Recorded (or older than the assignment already applied, and ignored).
    Applied,
    /// The complaint is not known here (yet).
    UnknownComplaint,
    /// An agent changed the complaint between our read and our write: try again.
    Raced,
}

/// The complaint a routing event (assignment or transfer) is about, with the event's
/// time, when the event is newer than the routing change already applied; otherwise
/// what the caller answers (an older event is ignored, an unknown complaint retried).
async fn routed_complaint(
    txn: &DatabaseTransaction,
    meta: Option<&v1::EventMeta>,
) -> Result<Result<(complaint::Model, i64), Assignment>, DbErr> {
    let Some(meta) = meta else {
        return Ok(Err(Assignment::Applied));
    };
    let Some(c) = complaint::Entity::find_by_id(meta.complaint_id.clone())
        .one(txn)
        .await?
    else {
        return Ok(Err(Assignment::UnknownComplaint));
    };
    let at = meta
        .occurred_at
        .as_ref()
        .map(time::from_timestamp)
        .unwrap_or(0);
    if at < c.assigned_at {
        return Ok(Err(Assignment::Applied));
    }
    Ok(Ok((c, at)))
}

/// Applies `routing.assigned`: records the department and assignee, and moves a
/// received or triaged complaint to `assigned` (emitting `complaint.status_changed`);
/// in any later status only the department and assignee change. An assignment older
/// than the one already applied is ignored. Every applied assignment bumps the version
/// and writes a history row.
pub async fn apply_assignment(
    txn: &DatabaseTransaction,
    vault: &Vault,
    ev: &v1::ComplaintAssigned,
) -> Result<Assignment, DbErr> {
    let (c, at) = match routed_complaint(txn, ev.meta.as_ref()).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let meta = ev.meta.clone().unwrap_or_default();
    let now = time::now_ms();
    let from = Status::parse(&c.status);
    let to = from.and_then(|s| lifecycle::next(s, Action::Assign).ok());
    let version = c.version + 1;
    let mut update = complaint::Entity::update_many()
        .col_expr(
            complaint::Column::Department,
            Expr::value(ev.department.clone()),
        )
        .col_expr(
            complaint::Column::Assignee,
            Expr::value(ev.assignee.clone()),
        )
        .col_expr(complaint::Column::AssignedAt, Expr::value(at))
        .col_expr(complaint::Column::UpdatedAt, Expr::value(now))
        .col_expr(complaint::Column::Version, Expr::value(version));
    if let Some(to) = to {
        update = update.col_expr(complaint::Column::Status, Expr::value(to.as_str()));
    }
    let done = update
        .filter(complaint::Column::ComplaintId.eq(c.complaint_id.as_str()))
        .filter(complaint::Column::Version.eq(c.version))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Ok(Assignment::Raced);
    }
    let reason = if ev.assignee.is_empty() {
        format!("routed to {} by rule {}", ev.department, ev.rule)
    } else {
        format!(
            "routed to {} ({}) by rule {}",
            ev.department, ev.assignee, ev.rule
        )
    };
    let to_status = to
        .map(|s| s.as_str().to_owned())
        .unwrap_or(c.status.clone());
    let actor = if meta.source.is_empty() {
        "routing".to_owned()
    } else {
        meta.source.clone()
    };
    write_history(
        txn,
        vault,
        &history::Model {
            complaint_id: c.complaint_id.clone(),
            version,
            from_status: c.status.clone(),
            to_status: to_status.clone(),
            action: Action::Assign.as_str().into(),
            actor: actor.clone(),
            reason: reason.clone(),
            at: now,
        },
    )
    .await?;
    if to.is_some() {
        outbox::enqueue(
            txn,
            &v1::ComplaintStatusChanged {
                meta: Some(events::meta(
                    SOURCE,
                    &c.complaint_id,
                    &c.ticket_no,
                    version as u64,
                )),
                from_status: c.status.clone(),
                to_status,
                reason,
                action: Action::Assign.as_str().into(),
                actor,
            },
        )
        .await?;
    }
    Ok(Assignment::Applied)
}

/// Applies `routing.transferred`: the complaint moves to the receiving department and
/// waits in its queue (no assignee); its status does not change. As with assignments,
/// one older (by `occurred_at`) than the assignment or transfer already applied is
/// ignored. An applied transfer bumps the version and writes a history row (action
/// `transfer`, the requirement and deadline in the reason).
pub async fn apply_transfer(
    txn: &DatabaseTransaction,
    vault: &Vault,
    ev: &v1::ComplaintTransferred,
) -> Result<Assignment, DbErr> {
    let (c, at) = match routed_complaint(txn, ev.meta.as_ref()).await? {
        Ok(found) => found,
        Err(answer) => return Ok(answer),
    };
    let meta = ev.meta.clone().unwrap_or_default();
    let now = time::now_ms();
    let version = c.version + 1;
    let done = complaint::Entity::update_many()
        .col_expr(
            complaint::Column::Department,
            Expr::value(ev.to_department.clone()),
        )
        .col_expr(complaint::Column::Assignee, Expr::value(String::new()))
        .col_expr(complaint::Column::AssignedAt, Expr::value(at))
        .col_expr(complaint::Column::UpdatedAt, Expr::value(now))
        .col_expr(complaint::Column::Version, Expr::value(version))
        .filter(complaint::Column::ComplaintId.eq(c.complaint_id.as_str()))
        .filter(complaint::Column::Version.eq(c.version))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Ok(Assignment::Raced);
    }
    let deadline = ev
        .deadline
        .as_ref()
        .map(|d| time::rfc3339(time::from_timestamp(d)))
        .unwrap_or_default();
    let actor = [ev.actor.as_str(), meta.source.as_str(), "routing"]
        .into_iter()
        .find(|a| !a.is_empty())
        .unwrap_or_default()
        .to_owned();
    write_history(
        txn,
        vault,
        &history::Model {
            complaint_id: c.complaint_id.clone(),
            version,
            from_status: c.status.clone(),
            to_status: c.status.clone(),
            action: "transfer".into(),
            actor,
            reason: format!(
                "transferred from {} to {} (form {}, due {deadline}): {}",
                ev.from_department, ev.to_department, ev.transfer_id, ev.requirement
            ),
            at: now,
        },
    )
    .await?;
    Ok(Assignment::Applied)
}

/// Applies `sla.started`, `sla.breached` or `sla.met` to intake's view of the clocks.
/// A clock that is already breached or met never goes back to running.
pub async fn apply_clock(
    txn: &DatabaseTransaction,
    clock_id: &str,
    complaint_id: &str,
    target: &str,
    deadline: i64,
    state: &str,
) -> Result<(), DbErr> {
    let now = time::now_ms();
    let existing = sla_clock::Entity::find_by_id(clock_id.to_owned())
        .one(txn)
        .await?;
    match existing {
        None => {
            sla_clock::Entity::insert(sla_clock::ActiveModel {
                clock_id: Set(clock_id.to_owned()),
                complaint_id: Set(complaint_id.to_owned()),
                target: Set(target.to_owned()),
                deadline: Set(deadline),
                state: Set(state.to_owned()),
                updated_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(sla_clock::Column::ClockId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        }
        Some(row) => {
            let state = if state == "running" && row.state != "running" {
                row.state.clone()
            } else {
                state.to_owned()
            };
            let deadline = if deadline > 0 { deadline } else { row.deadline };
            sla_clock::Entity::update(sla_clock::ActiveModel {
                clock_id: Set(row.clock_id),
                deadline: Set(deadline),
                state: Set(state),
                updated_at: Set(now),
                ..Default::default()
            })
            .exec(txn)
            .await?;
        }
    }
    Ok(())
}
