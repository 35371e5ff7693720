//! Full-text search and the validated filters of `List`.
//!
//! Search is an inverted index in an ordinary table, `search_terms (term,
//! complaint_id)`, so it works the same on SQLite and PostgreSQL. [`index`] fills it
//! inside the transaction that records a complaint (subject and body) or adds a message
//! to its thread. The text goes through [`pii::redact_text`] first, and a masked phone
//! number or e-mail address is dropped whole, so the index holds no personal data.
//!
//! [`tokenize`] makes the terms: for a run of CJK characters (Chinese, Japanese kana,
//! Korean), its overlapping character bigrams (`手机信号很差` → 手机 机信 信号 号很 很差)
//! and the character itself for a one-character run; for other scripts, lower-cased
//! words of letters and digits, two characters or more. A query is tokenised the same
//! way and a complaint matches when it holds ALL of the query's terms, so `信号` finds
//! `手机信号很差` (a whole word inside a sentence, not only a prefix). Since every result
//! holds every term, the ranking "most terms matched, then newest" is newest first,
//! which lets search share `List`'s cursor (the last complaint id; UUIDv7 ids sort by
//! time).
//!
//! Each indexed complaint also gets the empty term, the marker that [`backfill`] uses
//! at start to find complaints recorded before the index existed.

use std::collections::BTreeSet;

use ombuds_platform::pii;
use sea_orm::{
    sea_query::{Alias, Expr, OnConflict, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use crate::{
    contact::{self, FieldError},
    crypto::Vault,
    entity::{complaint, message, search_term},
    lifecycle::Status,
    store::{self, Full, ListFilter},
};

/// The largest page of `List` and `Search`.
pub const MAX_PAGE: u64 = 500;
/// The page size when none is given.
pub const DEFAULT_PAGE: u64 = 50;
/// The most terms a query may have.
pub const MAX_QUERY_TERMS: usize = 32;
/// Longer words are cut to this many characters (in the index and in queries alike).
const MAX_TERM_CHARS: usize = 64;
/// Rows per INSERT (2 values a row: far below the bound-variable limits of SQLite,
/// 32,766, and PostgreSQL, 65,535).
const INSERT_CHUNK: usize = 1000;
/// Complaints per transaction in [`backfill`].
const BACKFILL_BATCH: u64 = 200;

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2EBEF) // Extensions B–F
}

/// Full-width ASCII (`ＡＢＣ１２３`, common in Chinese input) as ASCII.
fn fold_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Characters that hold a masked phone number or e-mail address together with its
/// unmasked digits (`138****5678`, `z***@example.com`).
fn is_glue(c: char) -> bool {
    "*@.+-_%'".contains(c)
}

fn push_term(out: &mut Vec<String>, seen: &mut BTreeSet<String>, term: String) {
    let term: String = term.chars().take(MAX_TERM_CHARS).collect();
    if seen.insert(term.clone()) {
        out.push(term);
    }
}

/// The distinct terms of `text`, in order of first appearance (see the module comment).
/// The text should already be redacted ([`index`] does it); a run containing `*` is a
/// mask and is skipped whole.
pub fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_cjk(c) {
            let start = i;
            while i < chars.len() && is_cjk(chars[i]) {
                i += 1;
            }
            let run = &chars[start..i];
            if run.len() == 1 {
                push_term(&mut out, &mut seen, run[0].to_string());
            } else {
                for pair in run.windows(2) {
                    push_term(&mut out, &mut seen, pair.iter().collect());
                }
            }
        } else if c.is_alphanumeric() || is_glue(c) {
            let start = i;
            while i < chars.len()
                && !is_cjk(chars[i])
                && (chars[i].is_alphanumeric() || is_glue(chars[i]))
            {
                i += 1;
            }
            let run = &chars[start..i];
            if run.contains(&'*') {
                continue;
            }
            for word in run.split(|c| !c.is_alphanumeric()) {
                if word.len() >= 2 {
                    let w: String = word.iter().collect::<String>().to_lowercase();
                    push_term(&mut out, &mut seen, w);
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Indexes `text` (a subject, a body, a message) for `complaint_id`. Call it with the
/// transaction that writes the text; a term already indexed for the complaint is kept.
pub async fn index(db: &impl ConnectionTrait, complaint_id: &str, text: &str) -> Result<(), DbErr> {
    index_many(db, &[(complaint_id.to_owned(), text.to_owned())]).await
}

/// [`index`] for many (complaint id, text) pairs at once, with multi-row inserts.
pub async fn index_many(
    db: &impl ConnectionTrait,
    texts: &[(String, String)],
) -> Result<(), DbErr> {
    let mut rows: Vec<(String, &str)> = Vec::new();
    for (complaint_id, text) in texts {
        let mut terms = tokenize(&pii::redact_text(text));
        // The marker: this complaint is indexed (see `backfill`).
        terms.push(String::new());
        rows.extend(terms.into_iter().map(|t| (t, complaint_id.as_str())));
    }
    for chunk in rows.chunks(INSERT_CHUNK) {
        search_term::Entity::insert_many(chunk.iter().map(|(t, id)| search_term::ActiveModel {
            term: Set(t.clone()),
            complaint_id: Set((*id).to_owned()),
        }))
        .on_conflict(
            OnConflict::columns([search_term::Column::Term, search_term::Column::ComplaintId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Indexes, in batches of [`BACKFILL_BATCH`] per transaction, the complaints (with their
/// messages) that have no marker in the index: those recorded before it existed.
/// Answers how many it indexed.
pub async fn backfill(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let mut last = String::new();
    let mut done = 0;
    loop {
        let marked = Query::select()
            .column(search_term::Column::ComplaintId)
            .from(search_term::Entity)
            .and_where(search_term::Column::Term.eq(""))
            .to_owned();
        let batch = complaint::Entity::find()
            .filter(complaint::Column::ComplaintId.gt(last.as_str()))
            .filter(complaint::Column::ComplaintId.not_in_subquery(marked))
            .order_by_asc(complaint::Column::ComplaintId)
            .limit(BACKFILL_BATCH)
            .all(db)
            .await?;
        let Some(tail) = batch.last() else {
            return Ok(done);
        };
        last = tail.complaint_id.clone();
        let ids: Vec<String> = batch.iter().map(|c| c.complaint_id.clone()).collect();
        let txn = db.begin().await?;
        let messages = message::Entity::find()
            .filter(message::Column::ComplaintId.is_in(ids))
            .all(&txn)
            .await?;
        for c in &batch {
            index(&txn, &c.complaint_id, &format!("{}\n{}", c.subject, c.body)).await?;
        }
        for m in &messages {
            index(&txn, &m.complaint_id, &m.body).await?;
        }
        txn.commit().await?;
        done += batch.len() as u64;
    }
}

/// [`backfill`] as a start-up task: logs what it did or why it failed (the service
/// runs either way; a failed backfill is retried at the next start).
pub async fn backfill_logged(db: DatabaseConnection) {
    match backfill(&db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(complaints = n, "search index: indexed existing complaints"),
        Err(e) => tracing::error!(error = %e, "search index: backfill failed"),
    }
}

/// A page size: 0 is [`DEFAULT_PAGE`], more than [`MAX_PAGE`] is refused.
pub fn page_size(n: u64) -> Result<u64, FieldError> {
    match n {
        0 => Ok(DEFAULT_PAGE),
        n if n <= MAX_PAGE => Ok(n),
        n => Err(FieldError::new(
            "page_size",
            format!("{n} is more than {MAX_PAGE}"),
        )),
    }
}

/// A status filter: empty (any) or a lifecycle status.
pub fn status_filter(status: &str) -> Result<String, FieldError> {
    let s = status.trim().to_ascii_lowercase();
    if s.is_empty() || Status::parse(&s).is_some() {
        Ok(s)
    } else {
        let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        Err(FieldError::new(
            "status",
            format!(
                "unknown status {status:?}; expected one of {}",
                all.join(", ")
            ),
        ))
    }
}

/// Checks and normalises `List`'s filters (the same for gRPC and HTTP); an error names
/// the field. `page_size` 0 becomes [`DEFAULT_PAGE`].
pub fn validate_list(mut f: ListFilter) -> Result<ListFilter, FieldError> {
    f.status = status_filter(&f.status)?;
    if !f.channel.trim().is_empty() {
        f.channel = contact::parse_channel(&f.channel)?;
    } else {
        f.channel.clear();
    }
    let kind = f.kind.trim().to_ascii_lowercase();
    if !kind.is_empty() && !contact::KINDS.contains(&kind.as_str()) {
        return Err(FieldError::new(
            "kind",
            format!(
                "unknown kind {:?}; expected one of {}",
                f.kind,
                contact::KINDS.join(", ")
            ),
        ));
    }
    f.kind = kind;
    f.category = f.category.trim().to_lowercase();
    f.department = f.department.trim().to_owned();
    if !(0..=5).contains(&f.priority) {
        return Err(FieldError::new(
            "priority",
            format!("{} is not a priority (1 to 5, or 0 for any)", f.priority),
        ));
    }
    if let (Some(from), Some(to)) = (f.received_from, f.received_to) {
        if from >= to {
            return Err(FieldError::new(
                "received_to",
                "must be later than received_from",
            ));
        }
    }
    f.page_size = page_size(f.page_size)?;
    f.after = f.after.trim().to_owned();
    Ok(f)
}

/// A search: the query's terms, an optional status, and the page.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub terms: Vec<String>,
    pub status: String,
    pub page_size: u64,
    /// The last complaint id of the previous page.
    pub after: String,
}

impl SearchQuery {
    /// Checks a search request; an error names the field.
    pub fn parse(
        query: &str,
        status: &str,
        page_size: u64,
        page_token: &str,
    ) -> Result<Self, FieldError> {
        if query.trim().is_empty() {
            return Err(FieldError::new("query", "required"));
        }
        let terms = tokenize(&pii::redact_text(query));
        if terms.is_empty() {
            return Err(FieldError::new(
                "query",
                "no searchable words (a word needs two letters or digits, or one Chinese character)",
            ));
        }
        if terms.len() > MAX_QUERY_TERMS {
            return Err(FieldError::new(
                "query",
                format!(
                    "{} terms; at most {MAX_QUERY_TERMS} (a Chinese word of n characters makes n-1)",
                    terms.len()
                ),
            ));
        }
        Ok(Self {
            terms,
            status: status_filter(status)?,
            page_size: self::page_size(page_size)?,
            after: page_token.trim().to_owned(),
        })
    }
}

/// The complaints holding every term of the query, newest first, and the next page
/// token (empty on the last page).
pub async fn search(
    db: &DatabaseConnection,
    vault: &Vault,
    q: &SearchQuery,
) -> Result<(Vec<Full>, String), DbErr> {
    let st = Alias::new("st");
    let id = || Expr::col((st.clone(), search_term::Column::ComplaintId));
    let mut sel = Query::select();
    sel.expr_as(id(), Alias::new("complaint_id"))
        .from_as(search_term::Entity, st.clone())
        .and_where(
            Expr::col((st.clone(), search_term::Column::Term)).is_in(q.terms.iter().cloned()),
        )
        .group_by_col((st.clone(), search_term::Column::ComplaintId))
        .and_having(
            Expr::col((st.clone(), search_term::Column::Term))
                .count()
                .eq(q.terms.len() as i64),
        )
        .order_by((st.clone(), search_term::Column::ComplaintId), Order::Desc)
        .limit(q.page_size.clamp(1, MAX_PAGE) + 1);
    if !q.after.is_empty() {
        sel.and_where(id().lt(q.after.as_str()));
    }
    if !q.status.is_empty() {
        sel.inner_join(
            complaint::Entity,
            Expr::col((st.clone(), search_term::Column::ComplaintId))
                .equals((complaint::Entity, complaint::Column::ComplaintId)),
        );
        sel.and_where(
            Expr::col((complaint::Entity, complaint::Column::Status)).eq(q.status.as_str()),
        );
    }
    let stmt = db.get_database_backend().build(&sel);
    let rows = db.query_all(stmt).await?;
    let mut ids = Vec::with_capacity(rows.len());
    for r in rows {
        ids.push(r.try_get::<String>("", "complaint_id")?);
    }
    let size = q.page_size.clamp(1, MAX_PAGE) as usize;
    let more = ids.len() > size;
    ids.truncate(size);
    let next = if more {
        ids.last().cloned().unwrap_or_default()
    } else {
        String::new()
    };
    let models = complaint::Entity::find()
        .filter(complaint::Column::ComplaintId.is_in(ids.clone()))
        .all(db)
        .await?;
    // Keep the ranking of the index query.
    let ordered: Vec<complaint::Model> = ids
        .iter()
        .filter_map(|id| models.iter().find(|m| &m.complaint_id == id).cloned())
        .collect();
    Ok((store::load_full(db, vault, ordered).await?, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokenize(&pii::redact_text(text))
    }

    #[test]
    fn chinese_runs_become_overlapping_bigrams() {
        assert_eq!(
            terms("手机信号很差"),
            ["手机", "机信", "信号", "号很", "很差"]
        );
        assert!(terms("家里网络经常断网").contains(&"网络".to_owned()));
        assert!(terms("家里网络经常断网").contains(&"断网".to_owned()));
        // A one-character run is kept as the character.
        assert_eq!(terms("差"), ["差"]);
    }

    #[test]
    fn punctuation_splits_runs_and_terms_are_distinct() {
        assert_eq!(terms("信号，信号！"), ["信号"]);
        assert_eq!(terms("网络。断网"), ["网络", "断网"]);
        assert_eq!(terms("Refund, refund... REFUND!"), ["refund"]);
    }

    #[test]
    fn mixed_chinese_and_english() {
        assert_eq!(
            terms("5G网络speed很慢, please refund 退款"),
            ["5g", "网络", "speed", "很慢", "please", "refund", "退款"]
        );
        // Full-width letters and digits fold to ASCII.
        assert_eq!(terms("ＶＩＰ套餐"), ["vip", "套餐"]);
    }

    #[test]
    fn short_words_are_skipped() {
        assert_eq!(terms("a b c I am ok"), ["am", "ok"]);
    }

    #[test]
    fn phones_and_emails_are_not_indexed() {
        let t =
            terms("请回电13812345678或发邮件到zhang.san@example.com谢谢 call +86 139-0000-1234");
        for bad in [
            "138",
            "5678",
            "13812345678",
            "zhang",
            "san",
            "example",
            "com",
            "139",
            "1234",
            "0000",
        ] {
            assert!(!t.contains(&bad.to_owned()), "{bad} indexed: {t:?}");
        }
        assert!(t.contains(&"回电".to_owned()));
        assert!(t.contains(&"谢谢".to_owned()));
        assert!(t.contains(&"call".to_owned()));
    }

    #[test]
    fn queries_are_checked() {
        assert_eq!(
            SearchQuery::parse("  ", "", 0, "")
                .expect_err("empty")
                .field,
            "query"
        );
        assert_eq!(
            SearchQuery::parse("!!", "", 0, "")
                .expect_err("no words")
                .field,
            "query"
        );
        assert_eq!(
            SearchQuery::parse("信号", "nope", 0, "")
                .expect_err("status")
                .field,
            "status"
        );
        assert_eq!(
            SearchQuery::parse("信号", "", 501, "")
                .expect_err("page")
                .field,
            "page_size"
        );
        let q = SearchQuery::parse("网络 断网", "Received", 0, "").expect("valid");
        assert_eq!(q.terms, ["网络", "断网"]);
        assert_eq!(q.status, "received");
        assert_eq!(q.page_size, DEFAULT_PAGE);
    }

    #[test]
    fn list_filters_are_checked() {
        let bad = |f: ListFilter| validate_list(f).expect_err("invalid").field;
        assert_eq!(
            bad(ListFilter {
                kind: "rant".into(),
                ..Default::default()
            }),
            "kind"
        );
        assert_eq!(
            bad(ListFilter {
                priority: 9,
                ..Default::default()
            }),
            "priority"
        );
        assert_eq!(
            bad(ListFilter {
                channel: "fax".into(),
                ..Default::default()
            }),
            "channel"
        );
        assert_eq!(
            bad(ListFilter {
                status: "open".into(),
                ..Default::default()
            }),
            "status"
        );
        assert_eq!(
            bad(ListFilter {
                received_from: Some(10),
                received_to: Some(5),
                ..Default::default()
            }),
            "received_to"
        );
        let ok = validate_list(ListFilter {
            kind: " Praise ".into(),
            channel: "EMAIL".into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            (ok.kind.as_str(), ok.channel.as_str(), ok.page_size),
            ("praise", "email", 50)
        );
    }
}
