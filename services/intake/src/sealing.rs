//! Free text at rest. A complaint's subject and body, every message of its thread
//! (customers' messages, agents' replies and internal notes), the resolution (result,
//! cause, measures), the satisfaction comment and the reasons in its history can name
//! or locate a person, so intake stores them as ciphertext, like customers' details:
//! [`Vault::seal_text`] on every write (`v1:<key id>:<base64>`, a fresh nonce per
//! value, the keys and rotation of `OMBUDS_PII_KEYS`), and [`open_complaint`],
//! [`open_message`] and [`open_history`] on every read ([`crate::store::get`] and
//! [`crate::store::load_full`], which `Get`, `List`, `Search`, the HTTP routes and the
//! agents' actions all go through). The search index holds keyed hashes of the terms
//! instead of the terms ([`crate::search`]).
//!
//! [`migrate`] brings a store written by an earlier version up to that, at start and
//! before intake serves: every complaint without the current search marker (recorded
//! before the index existed, or indexed with plaintext terms under the empty marker,
//! or under another index key) gets, in one transaction per batch of [`BATCH`]
//! complaints, its plaintext values encrypted (a value that is not `v1:` ciphertext,
//! see [`Vault::is_sealed`]) in `complaints`, `messages` and `history`, and its index
//! rows replaced by hashed terms and the marker. It is idempotent (a migrated complaint
//! has the marker, and sealed values are left alone) and costs two counts and one probe
//! at a start with nothing to do.
//!
//! With several replicas on PostgreSQL, a complaint's row is locked first by a
//! conditional `UPDATE … WHERE version = <read>` (which every change of a complaint
//! also does), so a message added meanwhile is either seen and indexed here or added
//! after this transaction with its own hashed terms; a complaint changed since it was
//! read is left for the next start. The version is not bumped: nothing a reader sees
//! changes.

use std::time::{Duration, Instant};

use sea_orm::{
    sea_query::{Alias, Expr, Query},
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::{
    crypto::{CryptoError, Vault},
    entity::{complaint, history, message, search_term},
    search,
};

/// Complaints per transaction in [`migrate`].
pub const BATCH: u64 = 200;

fn crypto_err(what: &str, id: &str, field: &str, e: CryptoError) -> DbErr {
    DbErr::Custom(format!("{what} {id}: {field}: {e}"))
}

/// Decrypts a complaint's free text in place (subject, body, resolution, satisfaction
/// comment).
pub fn open_complaint(vault: &Vault, c: &mut complaint::Model) -> Result<(), DbErr> {
    let id = &c.complaint_id;
    for (field, value) in [
        ("subject", &mut c.subject),
        ("body", &mut c.body),
        ("resolution_result", &mut c.resolution_result),
        ("resolution_cause", &mut c.resolution_cause),
        ("resolution_measures", &mut c.resolution_measures),
        ("satisfaction_comment", &mut c.satisfaction_comment),
    ] {
        if !value.is_empty() {
            *value = vault
                .open_text(value)
                .map_err(|e| crypto_err("complaint", id, field, e))?;
        }
    }
    Ok(())
}

/// Decrypts a message's body in place.
pub fn open_message(vault: &Vault, m: &mut message::Model) -> Result<(), DbErr> {
    if !m.body.is_empty() {
        m.body = vault
            .open_text(&m.body)
            .map_err(|e| crypto_err("message", &m.message_id, "body", e))?;
    }
    Ok(())
}

/// Decrypts a history row's reason in place.
pub fn open_history(vault: &Vault, h: &mut history::Model) -> Result<(), DbErr> {
    if !h.reason.is_empty() {
        h.reason = vault.open_text(&h.reason).map_err(|e| {
            let id = format!("{} version {}", h.complaint_id, h.version);
            crypto_err("history of complaint", &id, "reason", e)
        })?;
    }
    Ok(())
}

/// The ciphertext of a stored value that is still plaintext; `None` when it is empty
/// or already ciphertext.
fn reseal(vault: &Vault, stored: &str) -> Option<String> {
    (!stored.is_empty() && !Vault::is_sealed(stored)).then(|| vault.seal_text(stored))
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Complaints re-indexed with hashed terms (and their plaintext encrypted).
    pub complaints: u64,
    /// Values encrypted (complaint fields, message bodies, history reasons).
    pub values: u64,
    /// Complaints left for the next start: changed while being migrated, or holding a
    /// value that does not decrypt (logged with the reason).
    pub skipped: u64,
}

/// Whether any complaint lacks the current marker or has the empty (plaintext-era) one.
async fn anything_to_do(db: &DatabaseConnection, marker: &str) -> Result<bool, DbErr> {
    let legacy = search_term::Entity::find()
        .filter(search_term::Column::Term.eq(""))
        .limit(1)
        .one(db)
        .await?;
    if legacy.is_some() {
        return Ok(true);
    }
    // Every complaint has at most one marker row and no marker outlives its complaint
    // (complaints are never deleted), so equal counts mean every complaint has one.
    let complaints = complaint::Entity::find().count(db).await?;
    let marked = search_term::Entity::find()
        .filter(search_term::Column::Term.eq(marker))
        .count(db)
        .await?;
    Ok(complaints != marked)
}

/// The next complaints (by id, after `after`) without the current marker or with the
/// empty one.
async fn candidates(
    db: &DatabaseConnection,
    marker: &str,
    after: &str,
) -> Result<Vec<complaint::Model>, DbErr> {
    let st = Alias::new("st");
    let has = |term: &str| {
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from_as(search_term::Entity, st.clone())
                .and_where(Expr::col((st.clone(), search_term::Column::Term)).eq(term))
                .and_where(
                    Expr::col((st.clone(), search_term::Column::ComplaintId))
                        .equals((complaint::Entity, complaint::Column::ComplaintId)),
                )
                .to_owned(),
        )
    };
    complaint::Entity::find()
        .filter(complaint::Column::ComplaintId.gt(after))
        .filter(has(marker).not().or(has("")))
        .order_by_asc(complaint::Column::ComplaintId)
        .limit(BATCH)
        .all(db)
        .await
}

/// Encrypts the plaintext values of one complaint row, conditionally on its version
/// (which also locks the row on PostgreSQL). False: the complaint changed since it was
/// read.
async fn seal_complaint(
    txn: &DatabaseTransaction,
    vault: &Vault,
    c: &complaint::Model,
    values: &mut u64,
) -> Result<bool, DbErr> {
    use complaint::Column as C;
    let mut update = complaint::Entity::update_many().col_expr(C::Version, Expr::value(c.version));
    let mut n = 0;
    for (col, value) in [
        (C::Subject, &c.subject),
        (C::Body, &c.body),
        (C::ResolutionResult, &c.resolution_result),
        (C::ResolutionCause, &c.resolution_cause),
        (C::ResolutionMeasures, &c.resolution_measures),
        (C::SatisfactionComment, &c.satisfaction_comment),
    ] {
        if let Some(sealed) = reseal(vault, value) {
            update = update.col_expr(col, Expr::value(sealed));
            n += 1;
        }
    }
    let done = update
        .filter(C::ComplaintId.eq(c.complaint_id.as_str()))
        .filter(C::Version.eq(c.version))
        .exec(txn)
        .await?;
    if done.rows_affected == 1 {
        *values += n;
        Ok(true)
    } else {
        Ok(false)
    }
}

/// The plaintext a complaint is indexed by: subject and body, then each message.
fn index_texts(
    vault: &Vault,
    c: &complaint::Model,
    messages: &[&message::Model],
) -> Result<Vec<String>, CryptoError> {
    let mut texts = vec![format!(
        "{}\n{}",
        vault.open_text(&c.subject)?,
        vault.open_text(&c.body)?
    )];
    for m in messages {
        texts.push(vault.open_text(&m.body)?);
    }
    Ok(texts)
}

/// One batch, in one transaction.
async fn migrate_batch(
    db: &DatabaseConnection,
    vault: &Vault,
    batch: &[complaint::Model],
    done: &mut Migrated,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let mut locked: Vec<&complaint::Model> = Vec::with_capacity(batch.len());
    for c in batch {
        if seal_complaint(&txn, vault, c, &mut done.values).await? {
            locked.push(c);
        } else {
            done.skipped += 1;
        }
    }
    if locked.is_empty() {
        return txn.commit().await;
    }
    let ids: Vec<String> = locked.iter().map(|c| c.complaint_id.clone()).collect();
    let messages = message::Entity::find()
        .filter(message::Column::ComplaintId.is_in(ids.clone()))
        .order_by_asc(message::Column::MessageId)
        .all(&txn)
        .await?;
    for m in &messages {
        if let Some(sealed) = reseal(vault, &m.body) {
            message::Entity::update_many()
                .col_expr(message::Column::Body, Expr::value(sealed))
                .filter(message::Column::MessageId.eq(m.message_id.as_str()))
                .exec(&txn)
                .await?;
            done.values += 1;
        }
    }
    let histories = history::Entity::find()
        .filter(history::Column::ComplaintId.is_in(ids))
        .all(&txn)
        .await?;
    for h in &histories {
        if let Some(sealed) = reseal(vault, &h.reason) {
            history::Entity::update_many()
                .col_expr(history::Column::Reason, Expr::value(sealed))
                .filter(history::Column::ComplaintId.eq(h.complaint_id.as_str()))
                .filter(history::Column::Version.eq(h.version))
                .exec(&txn)
                .await?;
            done.values += 1;
        }
    }
    for c in locked {
        let thread: Vec<&message::Model> = messages
            .iter()
            .filter(|m| m.complaint_id == c.complaint_id)
            .collect();
        let texts = match index_texts(vault, c, &thread) {
            Ok(t) => t,
            Err(e) => {
                // Its plaintext is encrypted all the same; the index waits for the key.
                tracing::warn!(complaint_id = %c.complaint_id, error = %e,
                    "search index: complaint not re-indexed (a value does not decrypt); retried at the next start");
                done.skipped += 1;
                continue;
            }
        };
        let mut terms: Vec<String> = Vec::new();
        for t in &texts {
            terms.extend(search::index_terms(vault, t));
        }
        terms.sort_unstable();
        terms.dedup();
        search_term::Entity::delete_many()
            .filter(search_term::Column::ComplaintId.eq(c.complaint_id.as_str()))
            .exec(&txn)
            .await?;
        search::insert_terms(&txn, &c.complaint_id, &terms).await?;
        done.complaints += 1;
    }
    txn.commit().await
}

/// Encrypts the plaintext free text of an earlier version's store and rebuilds its
/// search index with hashed terms (see the module comment), in batches of [`BATCH`]
/// complaints per transaction, logging progress.
pub async fn migrate(db: &DatabaseConnection, vault: &Vault) -> Result<Migrated, DbErr> {
    let marker = vault.search_marker();
    let mut done = Migrated::default();
    if !anything_to_do(db, marker).await? {
        return Ok(done);
    }
    tracing::info!(
        "free text at rest: encrypting plaintext and re-indexing search terms as keyed hashes"
    );
    let started = Instant::now();
    let mut logged = Instant::now();
    let mut after = String::new();
    loop {
        let batch = candidates(db, marker, &after).await?;
        let Some(tail) = batch.last() else {
            return Ok(done);
        };
        after = tail.complaint_id.clone();
        migrate_batch(db, vault, &batch, &mut done).await?;
        if logged.elapsed() >= Duration::from_secs(5) {
            logged = Instant::now();
            tracing::info!(
                complaints = done.complaints,
                values = done.values,
                skipped = done.skipped,
                elapsed_s = started.elapsed().as_secs(),
                "free text at rest: migrating"
            );
        }
    }
}

/// [`migrate`] at start: logs what it did or why it failed. Intake serves either way
/// (values not yet encrypted read as themselves); a failed run is retried at the next
/// start.
pub async fn migrate_logged(db: &DatabaseConnection, vault: &Vault) {
    let started = Instant::now();
    match migrate(db, vault).await {
        Ok(Migrated {
            complaints: 0,
            values: 0,
            skipped: 0,
        }) => {}
        Ok(m) => {
            tracing::info!(complaints = m.complaints, values = m.values, skipped = m.skipped,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "free text at rest: plaintext encrypted and search terms re-indexed as keyed hashes")
        }
        Err(e) => tracing::error!(error = %e,
            "free text at rest: migration failed; retried at the next start"),
    }
}
