//! Threading and duplicates: before [`crate::recording`] opens a complaint for a
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
//! A batch of contacts is recorded in one transaction, so [`target`] looks in
//! [`Known`]: the complaints and contact keys the batch's contacts may lead to, loaded
//! with a few IN-list queries ([`Known::load_recorded`], [`Known::load_targets`]) and
//! kept current as the batch opens complaints and appends to them — a contact may
//! follow up on a complaint opened earlier in the same batch.
//!
//! [`append`] then builds what appending the contact means: the contact as a visible
//! `customer` message, a complaint awaiting the customer back to in_progress, the
//! version bumped (written with a conditional update), a history row (action
//! `customer_responded`), the contact's (channel, external_id) in `contact_keys` so a
//! repeat is not appended twice, and `complaint.message_added` (and
//! `complaint.status_changed` on a status change) for the outbox.

use std::collections::{HashMap, HashSet};

use ombuds_platform::{events, outbox, pii};
use ombuds_proto::v1;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
};

use crate::{
    contact::NewContact,
    crypto::Vault,
    entity::{complaint, contact_key, history, message},
    lifecycle::{self, Action, Status},
    store::{Recorded, SOURCE},
};

/// Values per IN list: far below SQLite's and PostgreSQL's parameter limits.
const IN_CHUNK: usize = 500;

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

/// The tickets a contact cites, in order, each once: its `reference`, then the ticket
/// numbers in its subject and body.
pub fn cited_tickets(prefix: &str, c: &NewContact) -> Vec<String> {
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
    cited
}

/// The Message-IDs an e-mail contact answers, each as given and in angle brackets (a
/// Message-ID may have been recorded either way); none for other channels.
pub fn reply_ids(c: &NewContact) -> Vec<String> {
    if c.channel != "email" {
        return Vec::new();
    }
    c.thread_ids
        .iter()
        .flat_map(|id| [id.clone(), format!("<{id}>")])
        .collect()
}

type Key = (String, String);

/// The complaints (as they are now, inside the batch) and contact keys a batch of
/// contacts may lead to: those it loaded and those it made.
#[derive(Default)]
pub struct Known {
    complaints: HashMap<String, complaint::Model>,
    /// The version each complaint had when it was read (absent: opened by this batch).
    stored_version: HashMap<String, i64>,
    by_ticket: HashMap<String, String>,
    /// A complaint's own (channel, external_id).
    by_external: HashMap<Key, String>,
    /// `contact_keys`: (channel, external_id) → (complaint id, reason).
    keys: HashMap<Key, (String, String)>,
    by_customer: HashMap<String, Vec<String>>,
}

impl Known {
    fn add_stored(&mut self, m: complaint::Model) {
        if self.complaints.contains_key(&m.complaint_id) {
            return;
        }
        self.stored_version
            .insert(m.complaint_id.clone(), m.version);
        self.add(m);
    }

    /// A complaint opened by this batch.
    pub fn add(&mut self, m: complaint::Model) {
        self.by_ticket
            .insert(m.ticket_no.clone(), m.complaint_id.clone());
        self.by_external.insert(
            (m.channel.clone(), m.external_id.clone()),
            m.complaint_id.clone(),
        );
        self.by_customer
            .entry(m.customer_id.clone())
            .or_default()
            .push(m.complaint_id.clone());
        self.complaints.insert(m.complaint_id.clone(), m);
    }

    fn add_key(&mut self, k: contact_key::Model) {
        self.keys
            .entry((k.channel, k.external_id))
            .or_insert((k.complaint_id, k.reason));
    }

    pub fn get(&self, complaint_id: &str) -> Option<&complaint::Model> {
        self.complaints.get(complaint_id)
    }

    /// What recording this (channel, external_id) again answers, when it was recorded
    /// before or earlier in the batch: the complaint it opened, or the one it was
    /// appended to. `Err` when a contact key names a complaint that does not exist.
    pub fn recorded(&self, channel: &str, external_id: &str) -> Result<Option<Recorded>, DbErr> {
        let key = (channel.to_owned(), external_id.to_owned());
        if let Some(m) = self.by_external.get(&key).and_then(|id| self.get(id)) {
            return Ok(Some(Recorded {
                complaint_id: m.complaint_id.clone(),
                ticket_no: m.ticket_no.clone(),
                status: m.status.clone(),
                created: false,
                appended: false,
                entry_lag_ms: m.recorded_at - m.received_at,
                threaded: false,
                linked_reason: String::new(),
            }));
        }
        let Some((id, reason)) = self.keys.get(&key) else {
            return Ok(None);
        };
        let m = self.get(id).ok_or_else(|| {
            DbErr::Custom(format!(
                "contact {channel}/{external_id} was appended to complaint {id}, which does not exist"
            ))
        })?;
        Ok(Some(Recorded {
            complaint_id: m.complaint_id.clone(),
            ticket_no: m.ticket_no.clone(),
            status: m.status.clone(),
            created: false,
            appended: false,
            entry_lag_ms: 0,
            threaded: true,
            linked_reason: reason.clone(),
        }))
    }

    /// The complaints opened by, then those threaded from, these e-mail Message-IDs:
    /// the first newest first.
    fn email_threads(&self, ids: &[String]) -> Vec<&complaint::Model> {
        let mut seen = HashSet::new();
        let mut opened: Vec<&complaint::Model> = ids
            .iter()
            .filter_map(|id| self.by_external.get(&("email".to_owned(), id.clone())))
            .filter(|id| seen.insert(id.as_str()))
            .filter_map(|id| self.get(id))
            .collect();
        opened.sort_by_key(|m| std::cmp::Reverse(m.received_at));
        opened.extend(
            ids.iter()
                .filter_map(|id| self.keys.get(&("email".to_owned(), id.clone())))
                .filter_map(|(cid, _)| self.get(cid)),
        );
        opened
    }

    /// The customer's complaints of `category` that are not resolved or closed and
    /// were received at `since` or later, newest first.
    fn open_of(&self, customer_id: &str, category: &str, since: i64) -> Vec<&complaint::Model> {
        let mut open: Vec<&complaint::Model> = self
            .by_customer
            .get(customer_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(id))
            .filter(|m| {
                m.category == category
                    && m.received_at >= since
                    && !matches!(m.status.as_str(), "resolved" | "closed")
            })
            .collect();
        open.sort_by_key(|m| std::cmp::Reverse(m.received_at));
        open
    }

    /// Loads what [`Known::recorded`] needs for these contacts: the complaints and
    /// contact keys with their (channel, external_id), and the complaints of the keys.
    pub async fn load_recorded(
        &mut self,
        txn: &DatabaseTransaction,
        contacts: &[NewContact],
    ) -> Result<(), DbErr> {
        let mut by_channel: HashMap<&str, Vec<&str>> = HashMap::new();
        for c in contacts {
            by_channel
                .entry(c.channel.as_str())
                .or_default()
                .push(c.external_id.as_str());
        }
        for (channel, ids) in by_channel {
            self.load_externals(txn, channel, &ids).await?;
        }
        Ok(())
    }

    /// The complaints and contact keys of `channel` with these external ids.
    async fn load_externals(
        &mut self,
        txn: &DatabaseTransaction,
        channel: &str,
        external_ids: &[&str],
    ) -> Result<(), DbErr> {
        for chunk in external_ids.chunks(IN_CHUNK) {
            let found = complaint::Entity::find()
                .filter(complaint::Column::Channel.eq(channel))
                .filter(complaint::Column::ExternalId.is_in(chunk.iter().copied()))
                .all(txn)
                .await?;
            for m in found {
                self.add_stored(m);
            }
            let keys = contact_key::Entity::find()
                .filter(contact_key::Column::Channel.eq(channel))
                .filter(contact_key::Column::ExternalId.is_in(chunk.iter().copied()))
                .all(txn)
                .await?;
            let missing: Vec<String> = keys
                .iter()
                .map(|k| k.complaint_id.clone())
                .filter(|id| !self.complaints.contains_key(id))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            for ids in missing.chunks(IN_CHUNK) {
                for m in complaint::Entity::find()
                    .filter(complaint::Column::ComplaintId.is_in(ids.iter().cloned()))
                    .all(txn)
                    .await?
                {
                    self.add_stored(m);
                }
            }
            for k in keys {
                self.add_key(k);
            }
        }
        Ok(())
    }

    /// Loads every complaint [`target`] may pick for these contacts (each with the
    /// customer it was linked to): the tickets they cite, the e-mails they answer, and
    /// their customers' open complaints of their categories within the window.
    pub async fn load_targets(
        &mut self,
        txn: &DatabaseTransaction,
        prefix: &str,
        policy: &Policy,
        contacts: &[(&NewContact, &str)],
        now: i64,
    ) -> Result<(), DbErr> {
        let mut tickets = HashSet::new();
        let mut replies = HashSet::new();
        let mut customers = HashSet::new();
        let mut categories = HashSet::new();
        for (c, customer_id) in contacts {
            tickets.extend(cited_tickets(prefix, c));
            replies.extend(reply_ids(c));
            if policy.duplicate_window_ms > 0 && !c.category.is_empty() {
                customers.insert(customer_id.to_string());
                categories.insert(c.category.clone());
            }
        }
        let tickets: Vec<String> = tickets.into_iter().collect();
        for chunk in tickets.chunks(IN_CHUNK) {
            for m in complaint::Entity::find()
                .filter(complaint::Column::TicketNo.is_in(chunk.iter().cloned()))
                .all(txn)
                .await?
            {
                self.add_stored(m);
            }
        }
        let replies: Vec<&str> = replies.iter().map(String::as_str).collect();
        if !replies.is_empty() {
            self.load_externals(txn, "email", &replies).await?;
        }
        let customers: Vec<String> = customers.into_iter().collect();
        for chunk in customers.chunks(IN_CHUNK) {
            for m in complaint::Entity::find()
                .filter(complaint::Column::CustomerId.is_in(chunk.iter().cloned()))
                .filter(complaint::Column::Category.is_in(categories.iter().cloned()))
                .filter(complaint::Column::Status.is_not_in(["resolved", "closed"]))
                .filter(complaint::Column::ReceivedAt.gte(now - policy.duplicate_window_ms))
                .all(txn)
                .await?
            {
                self.add_stored(m);
            }
        }
        Ok(())
    }

    /// Applies an [`Appended`] to the complaint it was made for.
    pub fn appended(&mut self, c: &NewContact, a: &Appended) {
        if let Some(m) = self.complaints.get_mut(&a.history.complaint_id) {
            m.status = a.history.to_status.clone();
            m.version = a.history.version;
            m.updated_at = a.history.at;
        }
        self.keys.insert(
            (c.channel.clone(), c.external_id.clone()),
            (
                a.history.complaint_id.clone(),
                a.recorded.linked_reason.clone(),
            ),
        );
    }

    /// The complaints read from the store that the batch changed: (complaint as it is
    /// now, the version it had when read), for the conditional updates.
    pub fn changed_stored(&self) -> impl Iterator<Item = (&complaint::Model, i64)> + '_ {
        self.stored_version.iter().filter_map(|(id, v)| {
            self.complaints
                .get(id)
                .filter(|m| m.version != *v)
                .map(|m| (m, *v))
        })
    }
}

/// The complaint this contact belongs to, if any, among those `known` (see the module
/// comment); `customer_id` is the customer the contact was linked to.
pub fn target<'k>(
    known: &'k Known,
    prefix: &str,
    policy: &Policy,
    c: &NewContact,
    customer_id: &str,
    now: i64,
) -> Option<(&'k complaint::Model, Reason)> {
    // 1. A cited ticket.
    for t in cited_tickets(prefix, c) {
        if let Some(found) = known.by_ticket.get(&t).and_then(|id| known.get(id)) {
            if open_for_response(found) {
                return Some((found, Reason::CitedTicket));
            }
        }
    }
    // 2. An e-mail reply.
    let ids = reply_ids(c);
    if !ids.is_empty() {
        if let Some(t) = known
            .email_threads(&ids)
            .into_iter()
            .find(|m| open_for_response(m))
        {
            return Some((t, Reason::EmailReply));
        }
    }
    // 3. A repeat about the same category while a complaint is open.
    if policy.duplicate_window_ms > 0 && !c.category.is_empty() {
        if let Some(t) = known
            .open_of(customer_id, &c.category, now - policy.duplicate_window_ms)
            .into_iter()
            .find(|m| open_for_response(m))
        {
            return Some((t, Reason::Duplicate));
        }
    }
    None
}

/// What appending a contact to a complaint writes (see the module comment); its
/// events are pushed to the batch's outbox rows by [`append`].
pub struct Appended {
    /// The complaint's new version, status and time, and why.
    pub history: history::Model,
    pub key: contact_key::ActiveModel,
    pub message: message::ActiveModel,
    pub recorded: Recorded,
}

/// Appends the contact to `target` as it is now (see the module comment): the rows to
/// write (its text sealed with `vault`), with its events pushed to `events`; `None`
/// when the complaint takes no customer response.
pub fn append(
    vault: &Vault,
    target: &complaint::Model,
    reason: Reason,
    c: &NewContact,
    now: i64,
    events: &mut outbox::Pending,
) -> Option<Appended> {
    let from = Status::parse(&target.status)?;
    let to = lifecycle::next(from, Action::CustomerResponded).ok()?;
    let version = target.version + 1;
    let key = contact_key::ActiveModel {
        channel: Set(c.channel.clone()),
        external_id: Set(c.external_id.clone()),
        complaint_id: Set(target.complaint_id.clone()),
        reason: Set(reason.as_str().into()),
        created_at: Set(now),
    };
    let text = if c.subject.is_empty() {
        c.body.clone()
    } else {
        format!("{}\n\n{}", c.subject, c.body)
    };
    let message_id = uuid::Uuid::now_v7().to_string();
    let message = message::ActiveModel {
        message_id: Set(message_id.clone()),
        complaint_id: Set(target.complaint_id.clone()),
        kind: Set("customer".into()),
        author: Set("customer".into()),
        body: Set(vault.seal_text(&text)),
        visible: Set(true),
        created_at: Set(now),
    };
    let actor = format!("channel:{}", c.channel);
    let why = format!("{} ({} contact)", reason.as_str(), c.channel);
    let history = history::Model {
        complaint_id: target.complaint_id.clone(),
        version,
        from_status: from.as_str().into(),
        to_status: to.as_str().into(),
        action: Action::CustomerResponded.as_str().into(),
        actor: actor.clone(),
        reason: why.clone(),
        at: now,
    };
    let meta = || {
        Some(events::meta(
            SOURCE,
            &target.complaint_id,
            &target.ticket_no,
            version as u64,
        ))
    };
    if to != from {
        events.push(&v1::ComplaintStatusChanged {
            meta: meta(),
            from_status: from.as_str().into(),
            to_status: to.as_str().into(),
            reason: why,
            action: Action::CustomerResponded.as_str().into(),
            actor,
        });
    }
    events.push(&v1::ComplaintMessageAdded {
        meta: meta(),
        message_id,
        kind: "customer".into(),
        author: "customer".into(),
        visible: true,
        text: pii::redact_known(&text, &c.customer.known_values()),
    });
    Some(Appended {
        history,
        key,
        message,
        recorded: Recorded {
            complaint_id: target.complaint_id.clone(),
            ticket_no: target.ticket_no.clone(),
            status: to.as_str().into(),
            created: false,
            appended: true,
            entry_lag_ms: now - c.received_at.unwrap_or(now).min(now),
            threaded: true,
            linked_reason: reason.as_str().into(),
        },
    })
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
