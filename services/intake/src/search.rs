//! Full-text search and the validated filters of `List`.
//!
//! Search is an inverted index in an ordinary table, `search_terms (term,
//! complaint_id)`, so it works the same on SQLite and PostgreSQL. [`index`] fills it
//! inside the transaction that records a complaint (subject and body) or adds a message
//! to its thread. The text goes through [`pii::redact_text`] first, and a masked phone
//! number or e-mail address is dropped whole.
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
//! The index holds no plaintext: a term is stored as its keyed hash
//! ([`crate::crypto::Vault::search_term`]: HMAC-SHA256 under a key derived from
//! `OMBUDS_PII_INDEX_KEY`, 64 bits, 11 base64url characters; [`index_terms`]), and a
//! query's terms are hashed the same way before the look-up ([`query_terms`]). Equal
//! terms still give equal hashes, so how often a hash occurs is visible to whoever
//! reads the table; what the term is, is not (without the key).
//!
//! Each indexed complaint also gets the marker term
//! ([`crate::crypto::Vault::search_marker`]), which the start-up migration
//! ([`crate::sealing`]) uses to find complaints recorded before the index held hashes
//! (their marker was the empty term) or before it existed.

use std::collections::HashSet;

use ombuds_platform::pii;
use sea_orm::{
    sea_query::{Alias, Expr, OnConflict, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Order, QueryFilter,
};

use crate::{
    contact::{self, FieldError},
    crypto::{Vault, SEARCH_TERM_BYTES},
    entity::{complaint, search_term},
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

/// Calls `f` with each term of `text`, in order of appearance, repeats included (see
/// the module comment); the term is built in one reused buffer and cut to
/// [`MAX_TERM_CHARS`]. The text should already be redacted; a run containing `*` is a
/// mask and is skipped whole.
fn each_term(text: &str, mut f: impl FnMut(&str)) {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    let mut term = String::new();
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
                term.clear();
                term.push(run[0]);
                f(&term);
            } else {
                for pair in run.windows(2) {
                    term.clear();
                    term.extend(pair);
                    f(&term);
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
                if word.len() < 2 {
                    continue;
                }
                term.clear();
                if word.iter().all(char::is_ascii) {
                    term.extend(
                        word.iter()
                            .take(MAX_TERM_CHARS)
                            .map(char::to_ascii_lowercase),
                    );
                } else {
                    // Whole-word lower-casing (a final sigma becomes ς), then the cut.
                    let lower = word.iter().collect::<String>().to_lowercase();
                    term.extend(lower.chars().take(MAX_TERM_CHARS));
                }
                f(&term);
            }
        } else {
            i += 1;
        }
    }
}

/// The distinct terms of `text`, in order of first appearance, in plaintext (see the
/// module comment): what a query is checked with, and what [`index_terms`] hashes.
/// The text should already be redacted ([`index_terms`] does it); a run containing `*`
/// is a mask and is skipped whole.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    each_term(text, |t| {
        if !seen.contains(t) {
            seen.insert(t.to_owned());
            out.push(t.to_owned());
        }
    });
    out
}

/// Distinct hashed terms as stored (`hashes` is sorted and de-duplicated here).
fn stored_terms(mut hashes: Vec<[u8; SEARCH_TERM_BYTES]>) -> Vec<String> {
    hashes.sort_unstable();
    hashes.dedup();
    hashes.iter().map(Vault::search_term_text).collect()
}

/// The rows to write to `search_terms` for `text` (a subject and body, a message):
/// the keyed hashes ([`Vault::search_term`]) of its distinct terms, redacted and
/// tokenised as [`tokenize`] does, and last the marker ([`Vault::search_marker`]).
/// Store each as (term, complaint_id), ignoring conflicts (a term already indexed for
/// the complaint is kept); [`index`] does exactly that. No plaintext term is kept.
pub fn index_terms(vault: &Vault, text: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    each_term(&pii::redact_text(text), |t| {
        hashes.push(vault.search_term(t))
    });
    let mut terms = stored_terms(hashes);
    terms.push(vault.search_marker().to_owned());
    terms
}

/// A query's plaintext terms ([`SearchQuery::terms`]) as they are stored: hashed the
/// way [`index_terms`] hashes, distinct, without the marker.
pub fn query_terms(vault: &Vault, terms: &[String]) -> Vec<String> {
    stored_terms(terms.iter().map(|t| vault.search_term(t)).collect())
}

/// Writes rows of `search_terms` for one complaint (inserts of [`INSERT_CHUNK`] rows,
/// conflicts ignored).
pub(crate) async fn insert_terms(
    db: &impl ConnectionTrait,
    complaint_id: &str,
    terms: &[String],
) -> Result<(), DbErr> {
    let rows: Vec<(String, &str)> = terms.iter().map(|t| (t.clone(), complaint_id)).collect();
    insert_rows(db, &rows).await
}

/// [`index`] for many (complaint id, text) pairs at once, with multi-row inserts.
pub async fn index_many(
    db: &impl ConnectionTrait,
    vault: &Vault,
    texts: &[(String, String)],
) -> Result<(), DbErr> {
    let mut rows: Vec<(String, &str)> = Vec::new();
    for (complaint_id, text) in texts {
        rows.extend(
            index_terms(vault, text)
                .into_iter()
                .map(|t| (t, complaint_id.as_str())),
        );
    }
    insert_rows(db, &rows).await
}

/// Inserts (term, complaint id) rows, [`INSERT_CHUNK`] a statement, conflicts ignored.
async fn insert_rows(db: &impl ConnectionTrait, rows: &[(String, &str)]) -> Result<(), DbErr> {
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

/// Indexes `text` (a subject and body, a message) for `complaint_id`: writes
/// [`index_terms`]. Call it with the transaction that writes the text.
pub async fn index(
    db: &impl ConnectionTrait,
    vault: &Vault,
    complaint_id: &str,
    text: &str,
) -> Result<(), DbErr> {
    insert_terms(db, complaint_id, &index_terms(vault, text)).await
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
    /// The distinct terms in plaintext ([`search`] hashes them with [`query_terms`]).
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
    let terms = query_terms(vault, &q.terms);
    let st = Alias::new("st");
    let id = || Expr::col((st.clone(), search_term::Column::ComplaintId));
    let mut sel = Query::select();
    sel.expr_as(id(), Alias::new("complaint_id"))
        .from_as(search_term::Entity, st.clone())
        .and_where(Expr::col((st.clone(), search_term::Column::Term)).is_in(terms.iter().cloned()))
        .group_by_col((st.clone(), search_term::Column::ComplaintId))
        .and_having(
            Expr::col((st.clone(), search_term::Column::Term))
                .count()
                .eq(terms.len() as i64),
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
    fn lower_casing_is_of_whole_words() {
        // A final sigma lower-cases to ς whether typed upper or lower case.
        assert_eq!(terms("ΟΔΟΣ"), terms("οδος"));
        assert_eq!(terms("Straße STRASSE"), ["straße", "strasse"]);
        let long = "x".repeat(100);
        assert_eq!(terms(&long), ["x".repeat(MAX_TERM_CHARS)]);
    }

    fn vault() -> Vault {
        Vault::parse(
            "t1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
            "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=",
        )
        .expect("vault")
    }

    #[test]
    fn the_index_holds_hashes_a_query_finds() {
        let v = vault();
        let stored = index_terms(&v, "手机信号很差，手机信号很差");
        assert_eq!(stored.len(), 5 + 1, "five distinct bigrams and the marker");
        assert_eq!(stored.last().map(String::as_str), Some(v.search_marker()));
        for t in &stored {
            assert!(!t.chars().any(is_cjk), "{t}");
        }
        for query in ["信号", "手机 很差", "机信号"] {
            let q = SearchQuery::parse(query, "", 0, "").expect("query");
            let hashed = query_terms(&v, &q.terms);
            assert!(!hashed.is_empty());
            assert!(hashed.iter().all(|h| stored.contains(h)), "{query}");
        }
        let q = SearchQuery::parse("信号好", "", 0, "").expect("query");
        assert!(!query_terms(&v, &q.terms).iter().all(|h| stored.contains(h)));
        // Phones and e-mail addresses are not indexed, hashed or not.
        let stored = index_terms(&v, "请回电13812345678或发邮件到zhang.san@example.com");
        for bad in ["13812345678", "zhang", "example", "com", "5678"] {
            let h = Vault::search_term_text(&v.search_term(bad));
            assert!(!stored.contains(&h), "{bad}");
        }
        assert!(stored.contains(&Vault::search_term_text(&v.search_term("回电"))));
        assert_eq!(index_terms(&v, ""), [v.search_marker()]);
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
