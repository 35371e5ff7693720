//! Threading and duplicates: before [`crate::store::record`] opens a complaint for a
//! contact, it asks [`target`] whether the contact belongs to one that exists. In order:
//!
//! 1. **cited ticket** — the contact's `reference`, or a ticket number
//!    (`<prefix>-YYYYMMDD-NNNNNN`, see [`ticket_numbers`]) in its subject or body,
//!    names a complaint that exists;
//! 2. **e-mail reply** — an e-mail contact's `In-Reply-To` or `References` holds the
//!    Message-ID (the `external_id`) of an earlier e-mail contact, whether that opened
//!    a complaint or was itself threaded (`contact_keys`);
//! 3. **duplicate** — the same customer (the record linked through the blind indexes)
//!    has an open complaint (not resolved or closed) of the same, non-empty, category
//!    received within the duplicate window (`OMBUDS_DUPLICATE_WINDOW`, default 7 days;
//!    0 turns linking off). Such a repeat is *linked* by appending it to the open
//!    complaint as a customer message — not by opening a second complaint pointing at
//!    the first — so agents see one thread and one SLA clock per problem.
//!
//! Only a complaint that may take a customer response is a target
//! ([`lifecycle::next`] with `customer_responded`): a contact citing a resolved or
//! closed complaint opens a new complaint (its `reference` still names the old one),
//! because the customer is raising the matter again rather than answering.
//!
//! [`append`] then, in the caller's transaction: appends the contact to the thread as a
//! visible `customer` message, moves a complaint awaiting the customer back to
//! in_progress, bumps the version with a conditional update, writes a history row
//! (action `customer_responded`), records the contact's (channel, external_id) in
//! `contact_keys` so a repeat is not appended twice, and enqueues
//! `complaint.message_added` (and `complaint.status_changed` on a status change).

use ombuds_platform::{events, outbox, pii};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::{
    contact::NewContact,
    crypto::Vault,
    entity::{complaint, contact_key, history, message},
    lifecycle::{self, Action, Status},
    store::{self, Recorded, SOURCE},
};

/// How duplicates are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `OMBUDS_DUPLICATE_WINDOW` in ms: a repeat within this time of the open
    /// complaint's receipt is linked; 0 turns duplicate linking off.
    pub duplicate_window_ms: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            duplicate_window_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

/// Why a contact was appended to an existing complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    CitedTicket,
    EmailReply,
    Duplicate,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CitedTicket => "cited_ticket",
            Reason::EmailReply => "email_reply",
            Reason::Duplicate => "duplicate",
        }
    }
}

/// The ticket numbers (`<prefix>-YYYYMMDD-NNNNNN`, prefix matched without regard to
/// case and returned as configured) in `text`, in order of appearance, each once. A
/// number glued to letters or digits on either side (`xTS-…`, `…1234567`) is not one.
pub fn ticket_numbers(prefix: &str, text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let p = prefix.as_bytes();
    let len = p.len() + 16;
    let mut out: Vec<String> = Vec::new();
    if p.is_empty() || b.len() < len {
        return out;
    }
    let alnum = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphanumeric());
    let digits = |from: usize, n: usize| b[from..from + n].iter().all(u8::is_ascii_digit);
    for i in 0..=b.len() - len {
        if (i > 0 && alnum(i - 1)) || !b[i..i + p.len()].eq_ignore_ascii_case(p) {
            continue;
        }
        let d = i + p.len();
        if b[d] == b'-'
            && digits(d + 1, 8)
            && b[d + 9] == b'-'
            && digits(d + 10, 6)
            && !alnum(i + len)
        {
            // ASCII only, so this slice is on character boundaries.
            let t = format!("{prefix}{}", &text[d..i + len]);
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

fn open_for_response(c: &complaint::Model) -> bool {
    Status::parse(&c.status).is_some_and(|s| lifecycle::next(s, Action::CustomerResponded).is_ok())
}

/// The complaint this contact belongs to, if any (see the module comment).
pub async fn target(
    txn: &DatabaseTransaction,
    prefix: &str,
    policy: &Policy,
    c: &NewContact,
    customer_id: &str,
    now: i64,
) -> Result<Option<(complaint::Model, Reason)>, DbErr> {
    // 1. A cited ticket.
    let mut cited: Vec<String> = Vec::new();
    if !c.reference.is_empty() {
        cited.push(c.reference.clone());
    }
    for t in ticket_numbers(prefix, &c.subject)
        .into_iter()
        .chain(ticket_numbers(prefix, &c.body))
    {
        if !cited.contains(&t) {
            cited.push(t);
        }
    }
    for t in &cited {
        if let Some(found) = complaint::Entity::find()
            .filter(complaint::Column::TicketNo.eq(t.as_str()))
            .one(txn)
            .await?
        {
            if open_for_response(&found) {
                return Ok(Some((found, Reason::CitedTicket)));
            }
        }
    }
    // 2. An e-mail reply.
    if c.channel == "email" && !c.thread_ids.is_empty() {
        // A Message-ID may have been recorded with or without its angle brackets.
        let ids: Vec<String> = c
            .thread_ids
            .iter()
            .flat_map(|id| [id.clone(), format!("<{id}>")])
            .collect();
        let mut found = complaint::Entity::find()
            .filter(complaint::Column::Channel.eq("email"))
            .filter(complaint::Column::ExternalId.is_in(ids.clone()))
            .order_by_desc(complaint::Column::ReceivedAt)
            .all(txn)
            .await?;
        let keyed: Vec<String> = contact_key::Entity::find()
            .filter(contact_key::Column::Channel.eq("email"))
            .filter(contact_key::Column::ExternalId.is_in(ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|k| k.complaint_id)
            .collect();
        if !keyed.is_empty() {
            found.extend(
                complaint::Entity::find()
                    .filter(complaint::Column::ComplaintId.is_in(keyed))
                    .all(txn)
                    .await?,
            );
        }
        if let Some(t) = found.into_iter().find(open_for_response) {
            return Ok(Some((t, Reason::EmailReply)));
        }
    }
    // 3. A repeat about the same category while a complaint is open.
    if policy.duplicate_window_ms > 0 && !c.category.is_empty() {
        let open = complaint::Entity::find()
            .filter(complaint::Column::CustomerId.eq(customer_id))
            .filter(complaint::Column::Category.eq(c.category.as_str()))
            .filter(complaint::Column::Status.is_not_in(["resolved", "closed"]))
            .filter(complaint::Column::ReceivedAt.gte(now - policy.duplicate_window_ms))
            .order_by_desc(complaint::Column::ReceivedAt)
            .all(txn)
            .await?;
        if let Some(t) = open.into_iter().find(open_for_response) {
            return Ok(Some((t, Reason::Duplicate)));
        }
    }
    Ok(None)
}

/// Appends the contact to `target` (see the module comment); `Ok(None)` when another
/// change of the complaint committed first (the caller retries).
pub async fn append(
    txn: &DatabaseTransaction,
    vault: &Vault,
    target: &complaint::Model,
    reason: Reason,
    c: &NewContact,
    now: i64,
) -> Result<Option<Recorded>, DbErr> {
    let Some(from) = Status::parse(&target.status) else {
        return Ok(None);
    };
    let Ok(to) = lifecycle::next(from, Action::CustomerResponded) else {
        return Ok(None);
    };
    let version = target.version + 1;
    let done = complaint::Entity::update_many()
        .col_expr(complaint::Column::Status, Expr::value(to.as_str()))
        .col_expr(complaint::Column::Version, Expr::value(version))
        .col_expr(complaint::Column::UpdatedAt, Expr::value(now))
        .filter(complaint::Column::ComplaintId.eq(target.complaint_id.as_str()))
        .filter(complaint::Column::Version.eq(target.version))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Ok(None);
    }
    contact_key::Entity::insert(contact_key::ActiveModel {
        channel: Set(c.channel.clone()),
        external_id: Set(c.external_id.clone()),
        complaint_id: Set(target.complaint_id.clone()),
        reason: Set(reason.as_str().into()),
        created_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    let text = if c.subject.is_empty() {
        c.body.clone()
    } else {
        format!("{}\n\n{}", c.subject, c.body)
    };
    let message_id = uuid::Uuid::now_v7().to_string();
    message::Entity::insert(message::ActiveModel {
        message_id: Set(message_id.clone()),
        complaint_id: Set(target.complaint_id.clone()),
        kind: Set("customer".into()),
        author: Set("customer".into()),
        body: Set(vault.seal_text(&text)),
        visible: Set(true),
        created_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    let actor = format!("channel:{}", c.channel);
    let why = format!("{} ({} contact)", reason.as_str(), c.channel);
    store::write_history(
        txn,
        vault,
        &history::Model {
            complaint_id: target.complaint_id.clone(),
            version,
            from_status: from.as_str().into(),
            to_status: to.as_str().into(),
            action: Action::CustomerResponded.as_str().into(),
            actor: actor.clone(),
            reason: why.clone(),
            at: now,
        },
    )
    .await?;
    let meta = || {
        Some(events::meta(
            SOURCE,
            &target.complaint_id,
            &target.ticket_no,
            version as u64,
        ))
    };
    if to != from {
        outbox::enqueue(
            txn,
            &v1::ComplaintStatusChanged {
                meta: meta(),
                from_status: from.as_str().into(),
                to_status: to.as_str().into(),
                reason: why,
                action: Action::CustomerResponded.as_str().into(),
                actor,
            },
        )
        .await?;
    }
    outbox::enqueue(
        txn,
        &v1::ComplaintMessageAdded {
            meta: meta(),
            message_id,
            kind: "customer".into(),
            author: "customer".into(),
            visible: true,
            text: pii::redact_text(&text),
        },
    )
    .await?;
    Ok(Some(Recorded {
        complaint_id: target.complaint_id.clone(),
        ticket_no: target.ticket_no.clone(),
        status: to.as_str().into(),
        created: false,
        entry_lag_ms: now - c.received_at.unwrap_or(now).min(now),
        threaded: true,
        linked_reason: reason.as_str().into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_numbers_are_found_in_text() {
        assert_eq!(
            ticket_numbers(
                "TS",
                "Re: [ts-20261122-000042] 还是没有信号 TS-20261122-000007."
            ),
            vec!["TS-20261122-000042", "TS-20261122-000007"]
        );
        assert_eq!(
            ticket_numbers("TS", "工单号TS-20261122-000001，谢谢"),
            vec!["TS-20261122-000001"]
        );
    }

    #[test]
    fn near_misses_are_not_ticket_numbers() {
        for text in [
            "XTS-20261122-000042",
            "TS-20261122-0000421",
            "TS-2026112-000042",
            "TS_20261122_000042",
            "TS-20261122-00004",
            "",
            "TS",
        ] {
            assert!(ticket_numbers("TS", text).is_empty(), "{text:?}");
        }
        assert_eq!(
            ticket_numbers("TS", "TS-20261122-000042 and TS-20261122-000042"),
            vec!["TS-20261122-000042"]
        );
    }
}
