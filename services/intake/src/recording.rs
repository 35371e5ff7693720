//! Recording contacts, many in one transaction: the `intake-contacts` consumer hands
//! over whole batches ([`record_batch`]); HTTP and gRPC `Submit` record a batch of one
//! ([`record`]). There is one implementation, and a batch behaves exactly as if its
//! contacts had been recorded one after the other, in order:
//!
//! 1. **Channel idempotency.** A contact whose (channel, external_id) was recorded
//!    before — as a complaint, or appended to one (`contact_keys`) — or earlier in the
//!    same batch answers what recorded it and writes nothing.
//! 2. **Customers** are linked in order through their blind indexes
//!    ([`Customers::link`]): two contacts of a new customer in one batch make one
//!    customer record, and details a contact adds are merged into the record.
//! 3. **Threading** ([`threading::target`]) sees the complaints opened and changed by
//!    the contacts before it in the batch.
//! 4. **Ticket numbers** `<prefix>-<YYYYMMDD>-<NNNNNN>` are consecutive within the
//!    batch: the day's counter is taken at the start (which, on PostgreSQL, locks its
//!    row until the transaction ends, so replicas and the HTTP path allocate one after
//!    another and never leave gaps) and advanced once at the end.
//!
//! The batch reads with a few IN-list queries (the contacts' external ids, their
//! customers' blind indexes, the complaints they may follow up on) and writes with
//! multi-row INSERTs (customers, complaints, history, messages, contact keys, search
//! terms, outbox rows); only a complaint appended to gets an UPDATE of its own, made
//! conditional on the version read. When an agent changed such a complaint meanwhile,
//! or a replica recorded one of the contacts first (a unique key), the attempt is rolled
//! back to its savepoint and made again, reading afresh.

use std::collections::{HashMap, HashSet};

use ombuds_platform::{events, outbox, pii, time};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, IntoActiveModel, QueryFilter, Statement, TransactionTrait,
};

use crate::{
    contact::{self, NewContact},
    crypto::Vault,
    entity::{complaint, customer, customer_handle, history},
    search,
    store::{self, Customer, Recorded, TicketFormat, SOURCE},
    threading::{self, Known},
};

/// Attempts of one batch (see the module comment) before its transaction fails.
const ATTEMPTS: u32 = 5;
/// Values per IN list.
const IN_CHUNK: usize = 500;

/// Records one contact in a transaction of its own (see [`record_batch`]).
pub async fn record(
    db: &DatabaseConnection,
    vault: &Vault,
    tickets: &TicketFormat,
    policy: &threading::Policy,
    c: &NewContact,
) -> Result<Recorded, DbErr> {
    let txn = db.begin().await?;
    let recorded = record_batch(&txn, vault, tickets, policy, std::slice::from_ref(c)).await?;
    txn.commit().await?;
    recorded
        .into_iter()
        .next()
        .ok_or_else(|| DbErr::Custom("recording a contact answered nothing".into()))
}

/// Records `contacts` in the caller's transaction (see the module comment) and answers,
/// for each in order, what became of it. Contacts must be valid (parsed and checked
/// against the taxonomy); events go to the outbox in the same transaction.
pub async fn record_batch(
    txn: &DatabaseTransaction,
    vault: &Vault,
    tickets: &TicketFormat,
    policy: &threading::Policy,
    contacts: &[NewContact],
) -> Result<Vec<Recorded>, DbErr> {
    if contacts.is_empty() {
        return Ok(Vec::new());
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let savepoint = txn.begin().await?;
        match attempt_batch(&savepoint, vault, tickets, policy, contacts).await {
            Ok(Some(recorded)) => {
                savepoint.commit().await?;
                return Ok(recorded);
            }
            // An agent changed a complaint the batch appends to: read again.
            Ok(None) if attempt < ATTEMPTS => savepoint.rollback().await?,
            Ok(None) => {
                savepoint.rollback().await?;
                return Err(DbErr::Custom(format!(
                    "could not append contacts to their complaints after {attempt} attempts"
                )));
            }
            // Another recorder stored one of these contacts first: it is a repeat now.
            Err(e) if attempt < ATTEMPTS && ombuds_platform::db::is_unique_violation(&e) => {
                tracing::debug!(error = %e, attempt, "contact recorded concurrently; recording the batch again");
                savepoint.rollback().await?;
            }
            Err(e) => {
                let _ = savepoint.rollback().await;
                return Err(e);
            }
        }
    }
}

/// What a batch writes besides customers and appended-to complaints, in contact order.
#[derive(Default)]
struct Writes {
    /// Complaints opened, by id (their rows are taken from [`Known`] at the end,
    /// with any appends made later in the batch).
    opened: Vec<String>,
    history: Vec<history::ActiveModel>,
    keys: Vec<crate::entity::contact_key::ActiveModel>,
    messages: Vec<crate::entity::message::ActiveModel>,
    /// (complaint id, text) for the search index.
    texts: Vec<(String, String)>,
    events: outbox::Pending,
}

/// One attempt; `None` when a complaint appended to changed since it was read.
async fn attempt_batch(
    txn: &DatabaseTransaction,
    vault: &Vault,
    tickets: &TicketFormat,
    policy: &threading::Policy,
    contacts: &[NewContact],
) -> Result<Option<Vec<Recorded>>, DbErr> {
    let now = time::now_ms();
    let day = tickets.day(now);
    // First, so that everything below reads what recorders before us committed.
    let last = lock_ticket_counter(txn, &day).await?;

    // 1. Which contacts are seen for the first time.
    let mut known = Known::default();
    known.load_recorded(txn, contacts).await?;
    let mut seen = HashSet::new();
    let mut first = Vec::with_capacity(contacts.len());
    for c in contacts {
        let before = known.recorded(&c.channel, &c.external_id)?.is_some();
        first.push(!before && seen.insert((c.channel.as_str(), c.external_id.as_str())));
    }

    // 2. Their customers, linked in order.
    let indexes: Vec<Option<[String; 3]>> = contacts
        .iter()
        .zip(&first)
        .map(|(c, first)| first.then(|| customer_indexes(vault, &c.customer)))
        .collect();
    let handles: Vec<Vec<String>> = contacts
        .iter()
        .zip(&first)
        .map(|(c, first)| {
            if !first {
                return Vec::new();
            }
            c.customer
                .social
                .iter()
                .map(|(p, h)| store::handle_index(vault, p, h))
                .collect()
        })
        .collect();
    let mut customers =
        Customers::load(txn, indexes.iter().flatten(), handles.iter().flatten()).await?;
    let mut linked: Vec<Option<Customer>> = Vec::with_capacity(contacts.len());
    for ((c, ix), hx) in contacts.iter().zip(indexes).zip(handles) {
        linked.push(match ix {
            Some(ix) => Some(customers.link(vault, &c.customer, ix, hx, now)?),
            None => None,
        });
    }

    // 3. In order: a repeat, an append to the complaint it follows up on, or a new
    //    complaint.
    let targets: Vec<(&NewContact, &str)> = contacts
        .iter()
        .zip(&linked)
        .filter_map(|(c, l)| l.as_ref().map(|l| (c, l.customer_id.as_str())))
        .collect();
    known
        .load_targets(txn, &tickets.prefix, policy, &targets, now)
        .await?;
    let mut w = Writes::default();
    let mut out = Vec::with_capacity(contacts.len());
    let mut seq = last;
    for (c, cust) in contacts.iter().zip(&linked) {
        let Some(cust) = cust else {
            let again = known.recorded(&c.channel, &c.external_id)?;
            out.push(again.ok_or_else(|| {
                DbErr::Custom(format!("contact {}/{} vanished", c.channel, c.external_id))
            })?);
            continue;
        };
        let found = threading::target(&known, &tickets.prefix, policy, c, &cust.customer_id, now);
        if let Some((target, reason)) = found {
            let Some(a) = threading::append(vault, target, reason, c, now, &mut w.events) else {
                // `target` answers only complaints that take a customer response.
                return Err(DbErr::Custom(format!(
                    "complaint {} takes no customer response",
                    target.complaint_id
                )));
            };
            known.appended(c, &a);
            // The follow-up's words are searched like the complaint's own.
            w.texts.push((
                a.recorded.complaint_id.clone(),
                format!("{}\n{}", c.subject, c.body),
            ));
            w.keys.push(a.key);
            w.messages.push(a.message);
            w.history.push(store::history_row(vault, &a.history));
            out.push(a.recorded);
            continue;
        }
        seq += 1;
        let ticket_no = format!("{}-{day}-{seq:06}", tickets.prefix);
        let (opened, recorded) = open_complaint(vault, &mut w, c, cust, ticket_no, now);
        known.add(opened);
        out.push(recorded);
    }

    // 4. Write it all.
    let mut changed: Vec<(&complaint::Model, i64)> = known.changed_stored().collect();
    changed.sort_by(|a, b| a.0.complaint_id.cmp(&b.0.complaint_id));
    for (m, read_version) in changed {
        let done = complaint::Entity::update_many()
            .col_expr(complaint::Column::Status, Expr::value(m.status.as_str()))
            .col_expr(complaint::Column::Version, Expr::value(m.version))
            .col_expr(complaint::Column::UpdatedAt, Expr::value(m.updated_at))
            .filter(complaint::Column::ComplaintId.eq(m.complaint_id.as_str()))
            .filter(complaint::Column::Version.eq(read_version))
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Ok(None);
        }
    }
    customers.write(txn, vault).await?;
    let rows: Vec<complaint::ActiveModel> = w
        .opened
        .iter()
        .filter_map(|id| known.get(id))
        .map(|m| complaint_row(vault, m))
        .collect();
    insert_chunked::<complaint::Entity>(txn, rows, 300).await?;
    insert_chunked::<crate::entity::contact_key::Entity>(txn, w.keys, 1000).await?;
    insert_chunked::<crate::entity::message::Entity>(txn, w.messages, 1000).await?;
    insert_chunked::<history::Entity>(txn, w.history, 1000).await?;
    search::index_many(txn, vault, &w.texts).await?;
    w.events.write(txn).await?;
    if seq > last {
        set_ticket_counter(txn, &day, seq).await?;
    }
    Ok(Some(out))
}

/// A new complaint: status `received`, version 1.
fn complaint_model(
    c: &NewContact,
    cust: &Customer,
    complaint_id: String,
    ticket_no: String,
    now: i64,
) -> complaint::Model {
    complaint::Model {
        complaint_id,
        ticket_no,
        channel: c.channel.clone(),
        external_id: c.external_id.clone(),
        customer_id: cust.customer_id.clone(),
        kind: c.kind.clone(),
        category: c.category.clone(),
        priority: i32::from(crate::taxonomy::priority(c.severity, c.urgency)),
        subject: c.subject.clone(),
        body: c.body.clone(),
        reference: c.reference.clone(),
        status: "received".into(),
        department: String::new(),
        assignee: String::new(),
        assigned_at: 0,
        received_at: c.received_at.unwrap_or(now).min(now),
        recorded_at: now,
        updated_at: now,
        version: 1,
        first_reply_at: 0,
        resolved_at: 0,
        resolved_by: String::new(),
        resolution_result: String::new(),
        resolution_cause: String::new(),
        resolution_measures: String::new(),
        first_contact: false,
        satisfaction_score: 0,
        satisfaction_comment: String::new(),
        satisfaction_at: 0,
        sub_category: c.sub_category.clone(),
        severity: i32::from(c.severity),
        urgency: i32::from(c.urgency),
        tags: store::tags_json(&c.tags),
    }
}

/// The row a complaint is stored as: the one place where intake writes a new
/// complaint's text, sealed ([`Vault::seal_text`]).
fn complaint_row(vault: &Vault, m: &complaint::Model) -> complaint::ActiveModel {
    let mut row = m.clone().into_active_model().reset_all();
    row.subject = Set(vault.seal_text(&m.subject));
    row.body = Set(vault.seal_text(&m.body));
    row
}

/// Opens a complaint for `c`: its history row, search text and `complaint.received`
/// go to `w`; answers the complaint and what was recorded.
fn open_complaint(
    vault: &Vault,
    w: &mut Writes,
    c: &NewContact,
    cust: &Customer,
    ticket_no: String,
    now: i64,
) -> (complaint::Model, Recorded) {
    let m = complaint_model(c, cust, uuid::Uuid::now_v7().to_string(), ticket_no, now);
    let (complaint_id, ticket_no) = (m.complaint_id.clone(), m.ticket_no.clone());
    let (received_at, priority) = (m.received_at, m.priority);
    w.history.push(store::history_row(
        vault,
        &history::Model {
            complaint_id: complaint_id.clone(),
            version: 1,
            from_status: String::new(),
            to_status: "received".into(),
            action: "receive".into(),
            actor: format!("channel:{}", c.channel),
            reason: String::new(),
            at: now,
        },
    ));
    w.texts
        .push((complaint_id.clone(), format!("{}\n{}", c.subject, c.body)));
    // Events carry no personal data: phones and e-mails by pattern, and the customer's
    // own name, address and handles wherever the text repeats them.
    let mut known = c.customer.known_values();
    known.push(cust.name.as_str());
    w.events.push(&v1::ComplaintReceived {
        meta: Some(events::meta(SOURCE, &complaint_id, &ticket_no, 1)),
        channel: c.channel.clone(),
        external_id: c.external_id.clone(),
        kind: c.kind.clone(),
        category: c.category.clone(),
        priority,
        customer: Some(store::customer_ref(cust)),
        subject: pii::redact_known(&c.subject, &known),
        body: pii::redact_known(&c.body, &known),
        received_at: Some(time::to_timestamp(received_at)),
        recorded_at: Some(time::to_timestamp(now)),
        status: "received".into(),
    });
    w.opened.push(complaint_id.clone());
    let recorded = Recorded {
        complaint_id,
        ticket_no,
        status: "received".into(),
        created: true,
        appended: false,
        entry_lag_ms: now - received_at,
        threaded: false,
        linked_reason: String::new(),
    };
    (m, recorded)
}

/// Inserts `rows` with multi-row statements of at most `per` rows.
async fn insert_chunked<E>(
    txn: &DatabaseTransaction,
    mut rows: Vec<E::ActiveModel>,
    per: usize,
) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(per));
        E::insert_many(std::mem::replace(&mut rows, rest))
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Takes the day's ticket counter for the rest of the transaction and answers the last
/// number given out. The upsert is a write: on PostgreSQL it locks the counter's row
/// until commit, on SQLite it takes the database's write lock.
async fn lock_ticket_counter(txn: &DatabaseTransaction, day: &str) -> Result<i64, DbErr> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO ticket_counters (day, last) VALUES ($1, 0) \
             ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last RETURNING last"
        }
        _ => {
            "INSERT INTO ticket_counters (day, last) VALUES (?, 0) \
             ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last RETURNING last"
        }
    };
    let row = txn
        .query_one(Statement::from_sql_and_values(backend, sql, [day.into()]))
        .await?
        .ok_or_else(|| DbErr::Custom("ticket counter upsert returned no row".into()))?;
    row.try_get::<i64>("", "last")
}

/// Advances the day's counter (locked by [`lock_ticket_counter`]) past a batch's block.
async fn set_ticket_counter(txn: &DatabaseTransaction, day: &str, last: i64) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "UPDATE ticket_counters SET last = $1 WHERE day = $2",
        _ => "UPDATE ticket_counters SET last = ? WHERE day = ?",
    };
    txn.execute(Statement::from_sql_and_values(
        backend,
        sql,
        [last.into(), day.into()],
    ))
    .await?;
    Ok(())
}

/// The blind indexes (phone, e-mail, account) a contact's customer is looked up by.
fn customer_indexes(vault: &Vault, c: &contact::Customer) -> [String; 3] {
    store::blind_indexes(vault, &c.phone, &c.email, &c.account_id)
}

/// The blind-index columns, in the order of [`store::blind_indexes`].
const INDEX_COLUMNS: [customer::Column; 3] = [
    customer::Column::PhoneBidx,
    customer::Column::EmailBidx,
    customer::Column::AccountBidx,
];

/// A customer record as the batch sees it.
struct Linked {
    /// As read from the store; `None` for a record this batch creates.
    stored: Option<customer::Model>,
    /// The details, once a contact was linked to the record (decrypted when stored).
    details: Option<Customer>,
    indexes: [String; 3],
    /// Blind indexes of social handles to point at this record (`customer_handles`).
    new_handles: Vec<String>,
    /// To be written: created by this batch, or given details it lacked.
    changed: bool,
}

impl Linked {
    fn order_key(&self) -> (i64, &str) {
        match (&self.stored, &self.details) {
            (Some(s), _) => (s.created_at, s.customer_id.as_str()),
            (None, Some(d)) => (d.created_at, d.customer_id.as_str()),
            (None, None) => (i64::MAX, ""),
        }
    }
}

/// The customer records a batch links its contacts to: those the store holds with any
/// of the batch's blind indexes, and those the batch creates.
struct Customers {
    rows: Vec<Linked>,
    /// (index column, blind index) → rows; column [`HANDLE`] is a social handle.
    by_index: HashMap<(usize, String), Vec<usize>>,
}

/// The `by_index` column of social handles (after phone, e-mail, account).
const HANDLE: usize = 3;

impl Customers {
    /// Reads the records with any of these blind indexes.
    async fn load<'a>(
        txn: &DatabaseTransaction,
        indexes: impl Iterator<Item = &'a [String; 3]>,
        handles: impl Iterator<Item = &'a String>,
    ) -> Result<Self, DbErr> {
        let mut wanted: [HashSet<&str>; 3] = Default::default();
        for ix in indexes {
            for (k, v) in ix.iter().enumerate() {
                if !v.is_empty() {
                    wanted[k].insert(v.as_str());
                }
            }
        }
        let mut me = Self {
            rows: Vec::new(),
            by_index: HashMap::new(),
        };
        let lists: Vec<Vec<&str>> = wanted.iter().map(|s| s.iter().copied().collect()).collect();
        let chunks = lists
            .iter()
            .map(|l| l.len().div_ceil(IN_CHUNK))
            .max()
            .unwrap_or(0);
        let mut seen = HashSet::new();
        for i in 0..chunks {
            let mut any = Condition::any();
            for (k, list) in lists.iter().enumerate() {
                if let Some(part) = list.chunks(IN_CHUNK).nth(i) {
                    any = any.add(INDEX_COLUMNS[k].is_in(part.iter().copied()));
                }
            }
            for found in customer::Entity::find().filter(any).all(txn).await? {
                if seen.insert(found.customer_id.clone()) {
                    let indexes = [
                        found.phone_bidx.clone(),
                        found.email_bidx.clone(),
                        found.account_bidx.clone(),
                    ];
                    me.push(Linked {
                        stored: Some(found),
                        details: None,
                        indexes,
                        new_handles: Vec::new(),
                        changed: false,
                    });
                }
            }
        }
        me.load_handles(txn, handles).await?;
        Ok(me)
    }

    /// Adds the records that hold any of these social handles, and indexes them.
    async fn load_handles<'a>(
        &mut self,
        txn: &DatabaseTransaction,
        handles: impl Iterator<Item = &'a String>,
    ) -> Result<(), DbErr> {
        let wanted: Vec<&str> = handles
            .map(String::as_str)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut pairs = Vec::new();
        for part in wanted.chunks(IN_CHUNK) {
            pairs.extend(
                customer_handle::Entity::find()
                    .filter(customer_handle::Column::Bidx.is_in(part.iter().copied()))
                    .all(txn)
                    .await?,
            );
        }
        let mut at: HashMap<String, usize> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.stored.as_ref().map(|s| (s.customer_id.clone(), i)))
            .collect();
        let missing: Vec<String> = pairs
            .iter()
            .map(|p| p.customer_id.clone())
            .filter(|id| !at.contains_key(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for part in missing.chunks(IN_CHUNK) {
            for found in customer::Entity::find()
                .filter(customer::Column::CustomerId.is_in(part.iter().cloned()))
                .all(txn)
                .await?
            {
                let indexes = [
                    found.phone_bidx.clone(),
                    found.email_bidx.clone(),
                    found.account_bidx.clone(),
                ];
                let id = found.customer_id.clone();
                let i = self.push(Linked {
                    stored: Some(found),
                    details: None,
                    indexes,
                    new_handles: Vec::new(),
                    changed: false,
                });
                at.insert(id, i);
            }
        }
        for p in pairs {
            if let Some(&i) = at.get(&p.customer_id) {
                self.by_index.entry((HANDLE, p.bidx)).or_default().push(i);
            }
        }
        Ok(())
    }

    fn push(&mut self, row: Linked) -> usize {
        let i = self.rows.len();
        for (k, v) in row.indexes.iter().enumerate() {
            if !v.is_empty() {
                self.by_index.entry((k, v.clone())).or_default().push(i);
            }
        }
        self.rows.push(row);
        i
    }

    /// Links a contact's customer (blind indexes `ix`) to the oldest record sharing a
    /// phone, e-mail or account id with it, filling in details the record lacked;
    /// otherwise creates one. Answers the record's details as they are now.
    fn link(
        &mut self,
        vault: &Vault,
        c: &contact::Customer,
        ix: [String; 3],
        handles: Vec<String>,
        now: i64,
    ) -> Result<Customer, DbErr> {
        let found = ix
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k, v.clone()))
            .chain(handles.iter().map(|h| (HANDLE, h.clone())))
            .filter_map(|key| self.by_index.get(&key))
            .flatten()
            .copied()
            .min_by(|a, b| self.rows[*a].order_key().cmp(&self.rows[*b].order_key()));
        let Some(i) = found else {
            let details = Customer {
                customer_id: uuid::Uuid::now_v7().to_string(),
                name: c.name.clone(),
                phone: c.phone.clone(),
                email: c.email.clone(),
                account_id: c.account_id.clone(),
                social: c.social.clone(),
                address: c.address.clone(),
                created_at: now,
            };
            let i = self.push(Linked {
                stored: None,
                details: Some(details.clone()),
                indexes: ix,
                new_handles: Vec::new(),
                changed: true,
            });
            self.add_handles(i, handles);
            return Ok(details);
        };
        // Every handle of the contact points here from now on (one that already does
        // is not inserted again).
        let fresh: Vec<String> = handles
            .into_iter()
            .filter(|h| {
                self.by_index
                    .get(&(HANDLE, h.clone()))
                    .is_none_or(|rows| !rows.contains(&i))
            })
            .collect();
        self.add_handles(i, fresh);
        let row = &mut self.rows[i];
        let merged = match (&mut row.details, &row.stored) {
            (Some(d), _) => d,
            (details, Some(stored)) => details.insert(store::decrypt_customer(vault, stored)?),
            (None, None) => return Err(DbErr::Custom("customer record without details".into())),
        };
        let mut changed = false;
        for (have, new) in [
            (&mut merged.name, &c.name),
            (&mut merged.phone, &c.phone),
            (&mut merged.email, &c.email),
            (&mut merged.account_id, &c.account_id),
            (&mut merged.address, &c.address),
        ] {
            if have.is_empty() && !new.is_empty() {
                changed = true;
                have.clone_from(new);
            }
        }
        for (platform, handle) in &c.social {
            if !merged.social.contains_key(platform) {
                changed = true;
                merged.social.insert(platform.clone(), handle.clone());
            }
        }
        let answer = merged.clone();
        if changed {
            let fresh =
                store::blind_indexes(vault, &answer.phone, &answer.email, &answer.account_id);
            let old = std::mem::replace(&mut row.indexes, fresh.clone());
            row.changed = true;
            for (k, v) in old.iter().enumerate() {
                if let Some(list) = self.by_index.get_mut(&(k, v.clone())) {
                    list.retain(|r| *r != i);
                }
            }
            for (k, v) in fresh.into_iter().enumerate() {
                if !v.is_empty() {
                    self.by_index.entry((k, v)).or_default().push(i);
                }
            }
        }
        Ok(answer)
    }

    /// Points these handle indexes at row `i`, in the batch and (once written) in
    /// `customer_handles`.
    fn add_handles(&mut self, i: usize, handles: Vec<String>) {
        for h in handles {
            self.by_index
                .entry((HANDLE, h.clone()))
                .or_default()
                .push(i);
            self.rows[i].new_handles.push(h);
        }
    }

    /// Inserts the records the batch created and updates those it completed, every
    /// personal field encrypted under the current key.
    async fn write(self, txn: &DatabaseTransaction, vault: &Vault) -> Result<(), DbErr> {
        let mut inserts = Vec::new();
        let mut handle_rows = Vec::new();
        for row in self.rows {
            let customer_id = match (&row.details, &row.stored) {
                (Some(d), _) => d.customer_id.clone(),
                (None, Some(s)) => s.customer_id.clone(),
                (None, None) => continue,
            };
            handle_rows.extend(row.new_handles.into_iter().map(|bidx| {
                customer_handle::ActiveModel {
                    bidx: Set(bidx),
                    customer_id: Set(customer_id.clone()),
                }
            }));
            let (true, Some(d)) = (row.changed, row.details) else {
                continue;
            };
            let enc = |v: &str| {
                vault
                    .encrypt(v)
                    .map_err(|e| DbErr::Custom(format!("customer {}: {e}", d.customer_id)))
            };
            let [phone_bidx, email_bidx, account_bidx] = row.indexes;
            let mut model = customer::ActiveModel {
                customer_id: Set(d.customer_id.clone()),
                name_enc: Set(enc(&d.name)?),
                phone_enc: Set(enc(&d.phone)?),
                email_enc: Set(enc(&d.email)?),
                account_enc: Set(enc(&d.account_id)?),
                address_enc: Set(enc(&d.address)?),
                social_enc: Set(enc(&store::social_json(&d.social))?),
                phone_bidx: Set(phone_bidx),
                email_bidx: Set(email_bidx),
                account_bidx: Set(account_bidx),
                key_id: Set(vault.write_key_id().to_owned()),
                ..Default::default()
            };
            if row.stored.is_some() {
                customer::Entity::update(model).exec(txn).await?;
            } else {
                model.created_at = Set(d.created_at);
                inserts.push(model);
            }
        }
        insert_chunked::<customer::Entity>(txn, inserts, 500).await?;
        // A handle already pointing at another record stays with it.
        for part in handle_rows.chunks(IN_CHUNK) {
            customer_handle::Entity::insert_many(part.to_vec())
                .on_conflict(
                    OnConflict::column(customer_handle::Column::Bidx)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
        Ok(())
    }
}
