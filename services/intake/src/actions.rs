//! Agents' actions on a complaint — the lifecycle RPCs of `ComplaintService`
//! (acknowledge, note, reply, awaiting customer, customer responded, resolve, close,
//! reopen, satisfaction).
//!
//! [`Request::parse`]-style constructors turn a gRPC request into a [`Request`] or a
//! [`FieldError`]; [`apply`] then, in ONE transaction: reads the complaint, checks the
//! caller's `expected_version`, asks [`lifecycle::next`] whether the action is allowed,
//! updates the complaint with a conditional `UPDATE … WHERE version = <old>`, writes the
//! `history` row (and the `messages` row, if the action carries text), and enqueues the
//! events it owes: `complaint.status_changed` for a status change,
//! `complaint.message_added`, `complaint.resolved`, `complaint.satisfaction_recorded`.
//! Texts in events are redacted ([`pii::redact_text`]).
//!
//! Two agents acting on the same version: the second conditional update matches no
//! row (PostgreSQL re-checks the `WHERE` after the first commits; SQLite runs the two
//! transactions one after the other and the second sees the new version), so exactly
//! one wins and the other gets [`ActionError::Conflict`]. A caller that sent no
//! expected version is retried against the fresh state instead.

use ombuds_platform::{events, outbox, pii, time};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::{Expr, SimpleExpr},
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

use crate::{
    contact::{FieldError, MAX_BODY_CHARS},
    crypto::Vault,
    entity::{complaint, history, message},
    lifecycle::{self, Action, Refused, Status},
    store::{self, SOURCE},
};

/// The longest actor (agent id) accepted, in characters.
pub const MAX_ACTOR_CHARS: usize = 200;
/// The longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 2_000;
/// A satisfaction score at or below this means "unsatisfied".
pub const UNSATISFIED_AT_OR_BELOW: u8 = 2;
/// Attempts when the caller sent no expected version and another change raced ours.
const ATTEMPTS: usize = 3;

/// Which complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Ticket(String),
    Id(String),
}

impl Target {
    /// Exactly one of the two.
    pub fn parse(ticket_no: &str, complaint_id: &str) -> Result<Self, FieldError> {
        match (ticket_no.trim(), complaint_id.trim()) {
            ("", "") => Err(FieldError::new(
                "ticket_no",
                "ticket_no or complaint_id: required",
            )),
            (t, "") => Ok(Self::Ticket(t.to_owned())),
            ("", id) => Ok(Self::Id(id.to_owned())),
            _ => Err(FieldError::new(
                "complaint_id",
                "give ticket_no or complaint_id, not both",
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Ticket(t) => format!("ticket {t}"),
            Self::Id(id) => format!("id {id}"),
        }
    }
}

/// What the agent does, with what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Acknowledge,
    AddNote {
        text: String,
    },
    Reply {
        text: String,
    },
    SetAwaitingCustomer {
        reason: String,
    },
    /// `text` may be empty: the customer answered outside the platform.
    CustomerResponded {
        text: String,
    },
    Resolve {
        result: String,
        cause: String,
        measures: String,
        first_contact: bool,
    },
    Close {
        reason: String,
    },
    Reopen {
        reason: String,
    },
    RecordSatisfaction {
        /// 1 to 5.
        score: u8,
        comment: String,
    },
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::Acknowledge => Action::Acknowledge,
            Command::AddNote { .. } => Action::AddNote,
            Command::Reply { .. } => Action::Reply,
            Command::SetAwaitingCustomer { .. } => Action::SetAwaitingCustomer,
            Command::CustomerResponded { .. } => Action::CustomerResponded,
            Command::Resolve {
                first_contact: true,
                ..
            } => Action::ResolveOnFirstContact,
            Command::Resolve { .. } => Action::Resolve,
            Command::Close { .. } => Action::Close,
            Command::Reopen { .. } => Action::Reopen,
            Command::RecordSatisfaction { .. } => Action::RecordSatisfaction,
        }
    }

    /// The message it adds to the thread: (kind, author is the customer, visible, text).
    fn message(&self) -> Option<(&'static str, bool, bool, &str)> {
        match self {
            Command::AddNote { text } => Some(("note", false, false, text)),
            Command::Reply { text } => Some(("reply", false, true, text)),
            Command::CustomerResponded { text } if !text.is_empty() => {
                Some(("customer", true, true, text))
            }
            _ => None,
        }
    }

    /// The reason kept in the history (and, redacted, in `complaint.status_changed`).
    fn reason(&self) -> String {
        match self {
            Command::SetAwaitingCustomer { reason }
            | Command::Close { reason }
            | Command::Reopen { reason } => reason.clone(),
            Command::Resolve {
                first_contact: true,
                ..
            } => "resolved on first contact".into(),
            Command::RecordSatisfaction { score, .. } if *score <= UNSATISFIED_AT_OR_BELOW => {
                format!("score {score} (unsatisfied)")
            }
            Command::RecordSatisfaction { score, .. } => format!("score {score}"),
            _ => String::new(),
        }
    }
}

/// One agent action, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    /// 0: act on whatever the current version is.
    pub expected_version: u64,
    pub actor: String,
    pub command: Command,
}

impl Request {
    /// Validates the fields every lifecycle request shares.
    pub fn new(
        ticket_no: &str,
        complaint_id: &str,
        expected_version: u64,
        actor: &str,
        command: Command,
    ) -> Result<Self, FieldError> {
        let target = Target::parse(ticket_no, complaint_id)?;
        let actor = actor.trim();
        if actor.is_empty() {
            return Err(FieldError::new(
                "actor",
                "required (the id of the agent acting)",
            ));
        }
        if actor.chars().count() > MAX_ACTOR_CHARS {
            return Err(FieldError::new(
                "actor",
                format!("longer than {MAX_ACTOR_CHARS} characters"),
            ));
        }
        if expected_version > i64::MAX as u64 {
            return Err(FieldError::new("expected_version", "out of range"));
        }
        Ok(Self {
            target,
            expected_version,
            actor: actor.to_owned(),
            command,
        })
    }
}

/// Free text: trimmed, at most `max` characters; `required` refuses an empty one.
pub fn text_field(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, FieldError> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(FieldError::new(field, "required"));
    }
    if v.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if v.contains('\0') {
        return Err(FieldError::new(field, "contains a NUL character"));
    }
    Ok(v.to_owned())
}

/// A satisfaction score: 1 to 5.
pub fn score_field(score: u32) -> Result<u8, FieldError> {
    match u8::try_from(score) {
        Ok(s @ 1..=5) => Ok(s),
        _ => Err(FieldError::new(
            "score",
            format!("must be 1 to 5, got {score}"),
        )),
    }
}

/// Body text fields (notes, replies, results): at most [`MAX_BODY_CHARS`].
pub fn body_field(field: &str, value: &str, required: bool) -> Result<String, FieldError> {
    text_field(field, value, MAX_BODY_CHARS, required)
}

/// Reasons: at most [`MAX_REASON_CHARS`].
pub fn reason_field(field: &str, value: &str, required: bool) -> Result<String, FieldError> {
    text_field(field, value, MAX_REASON_CHARS, required)
}

/// Why an action was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error("no complaint with {0}")]
    NotFound(String),
    #[error("version conflict: the complaint is at version {current}, you sent {sent}")]
    Conflict { current: u64, sent: u64 },
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("store: {0}")]
    Store(#[from] DbErr),
}

/// What [`apply`] did.
pub struct Applied {
    pub complaint_id: String,
    pub ticket_no: String,
    pub from: Status,
    pub to: Status,
    pub version: u64,
    /// The complaint as this action left it (read in the same transaction).
    pub complaint: store::Full,
}

/// Applies an agent's action (see the module comment). The caller wakes the outbox.
pub async fn apply(
    db: &DatabaseConnection,
    vault: &Vault,
    req: &Request,
) -> Result<Applied, ActionError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match apply_once(db, vault, req).await? {
            Some(done) => return Ok(done),
            None if req.expected_version == 0 && attempt < ATTEMPTS => continue,
            None => {
                // Another change committed between our read and our write.
                let current = match store::get(db, vault, key(&req.target)).await? {
                    Some(f) => f.complaint.version.max(0) as u64,
                    None => return Err(ActionError::NotFound(req.target.describe())),
                };
                return Err(ActionError::Conflict {
                    current,
                    sent: req.expected_version,
                });
            }
        }
    }
}

fn key(t: &Target) -> store::Key<'_> {
    match t {
        Target::Ticket(x) => store::Key::Ticket(x),
        Target::Id(x) => store::Key::Id(x),
    }
}

async fn find(
    txn: &DatabaseTransaction,
    target: &Target,
) -> Result<Option<complaint::Model>, DbErr> {
    let q = complaint::Entity::find();
    match target {
        Target::Ticket(t) => q.filter(complaint::Column::TicketNo.eq(t.as_str())),
        Target::Id(id) => q.filter(complaint::Column::ComplaintId.eq(id.as_str())),
    }
    .one(txn)
    .await
}

/// One attempt; `Ok(None)` when the conditional update lost a race.
async fn apply_once(
    db: &DatabaseConnection,
    vault: &Vault,
    req: &Request,
) -> Result<Option<Applied>, ActionError> {
    let txn = db.begin().await?;
    let Some(c) = find(&txn, &req.target).await? else {
        txn.rollback().await?;
        return Err(ActionError::NotFound(req.target.describe()));
    };
    let current = c.version.max(0) as u64;
    if req.expected_version != 0 && current != req.expected_version {
        txn.rollback().await?;
        return Err(ActionError::Conflict {
            current,
            sent: req.expected_version,
        });
    }
    let from = Status::parse(&c.status).ok_or_else(|| {
        DbErr::Custom(format!(
            "complaint {} has a status the lifecycle does not know: {:?}",
            c.complaint_id, c.status
        ))
    })?;
    let action = req.command.action();
    let to = match lifecycle::next(from, action) {
        Ok(to) => to,
        Err(refused) => {
            txn.rollback().await?;
            return Err(refused.into());
        }
    };

    let now = time::now_ms();
    let version = c.version + 1;
    let mut sets: Vec<(complaint::Column, SimpleExpr)> = vec![
        (complaint::Column::Status, Expr::value(to.as_str())),
        (complaint::Column::Version, Expr::value(version)),
        (complaint::Column::UpdatedAt, Expr::value(now)),
    ];
    match &req.command {
        Command::Reply { .. } if c.first_reply_at == 0 => {
            sets.push((complaint::Column::FirstReplyAt, Expr::value(now)));
        }
        Command::Resolve {
            result,
            cause,
            measures,
            first_contact,
        } => {
            sets.extend([
                (complaint::Column::ResolvedAt, Expr::value(now)),
                (
                    complaint::Column::ResolvedBy,
                    Expr::value(req.actor.clone()),
                ),
                (
                    complaint::Column::ResolutionResult,
                    Expr::value(vault.seal_text(result)),
                ),
                (
                    complaint::Column::ResolutionCause,
                    Expr::value(vault.seal_text(cause)),
                ),
                (
                    complaint::Column::ResolutionMeasures,
                    Expr::value(vault.seal_text(measures)),
                ),
                (complaint::Column::FirstContact, Expr::value(*first_contact)),
            ]);
        }
        Command::RecordSatisfaction { score, comment } => {
            sets.extend([
                (
                    complaint::Column::SatisfactionScore,
                    Expr::value(i32::from(*score)),
                ),
                (
                    complaint::Column::SatisfactionComment,
                    Expr::value(vault.seal_text(comment)),
                ),
                (complaint::Column::SatisfactionAt, Expr::value(now)),
            ]);
        }
        _ => {}
    }
    let mut update = complaint::Entity::update_many();
    for (col, value) in sets {
        update = update.col_expr(col, value);
    }
    let done = update
        .filter(complaint::Column::ComplaintId.eq(c.complaint_id.as_str()))
        .filter(complaint::Column::Version.eq(c.version))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(None);
    }

    let reason = req.command.reason();
    store::write_history(
        &txn,
        vault,
        &history::Model {
            complaint_id: c.complaint_id.clone(),
            version,
            from_status: from.as_str().into(),
            to_status: to.as_str().into(),
            action: action.as_str().into(),
            actor: req.actor.clone(),
            reason: reason.clone(),
            at: now,
        },
    )
    .await?;
    let meta = || {
        Some(events::meta(
            SOURCE,
            &c.complaint_id,
            &c.ticket_no,
            version as u64,
        ))
    };
    if from != to {
        let reason = if reason.is_empty() {
            format!("{} by {}", action.as_str(), req.actor)
        } else {
            reason.clone()
        };
        outbox::enqueue(
            &txn,
            &v1::ComplaintStatusChanged {
                meta: meta(),
                from_status: from.as_str().into(),
                to_status: to.as_str().into(),
                reason: pii::redact_text(&reason),
                action: action.as_str().into(),
                actor: req.actor.clone(),
            },
        )
        .await?;
    }
    if let Some((kind, by_customer, visible, text)) = req.command.message() {
        let message_id = uuid::Uuid::now_v7().to_string();
        let author = if by_customer {
            "customer".to_owned()
        } else {
            req.actor.clone()
        };
        message::Entity::insert(message::ActiveModel {
            message_id: Set(message_id.clone()),
            complaint_id: Set(c.complaint_id.clone()),
            kind: Set(kind.into()),
            author: Set(author.clone()),
            body: Set(vault.seal_text(text)),
            visible: Set(visible),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        crate::search::index(&txn, vault, &c.complaint_id, text).await?;
        outbox::enqueue(
            &txn,
            &v1::ComplaintMessageAdded {
                meta: meta(),
                message_id,
                kind: kind.into(),
                author,
                visible,
                text: pii::redact_text(text),
            },
        )
        .await?;
    }
    match &req.command {
        Command::Resolve {
            result,
            cause,
            measures,
            first_contact,
        } => {
            outbox::enqueue(
                &txn,
                &v1::ComplaintResolved {
                    meta: meta(),
                    result: pii::redact_text(result),
                    cause: pii::redact_text(cause),
                    measures: pii::redact_text(measures),
                    first_contact: *first_contact,
                    resolved_by: req.actor.clone(),
                },
            )
            .await?;
        }
        Command::RecordSatisfaction { score, comment } => {
            outbox::enqueue(
                &txn,
                &v1::SatisfactionRecorded {
                    meta: meta(),
                    score: u32::from(*score),
                    comment: pii::redact_text(comment),
                    unsatisfied: *score <= UNSATISFIED_AT_OR_BELOW,
                },
            )
            .await?;
        }
        _ => {}
    }
    let full = store::get(&txn, vault, store::Key::Id(&c.complaint_id))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("complaint {} vanished", c.complaint_id)))?;
    txn.commit().await?;
    Ok(Some(Applied {
        complaint_id: c.complaint_id,
        ticket_no: c.ticket_no,
        from,
        to,
        version: version as u64,
        complaint: full,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_need_exactly_one_key() {
        assert_eq!(
            Target::parse(" TS-1 ", ""),
            Ok(Target::Ticket("TS-1".into()))
        );
        assert_eq!(Target::parse("", "abc"), Ok(Target::Id("abc".into())));
        assert_eq!(Target::parse("", " ").expect_err("none").field, "ticket_no");
        assert!(Target::parse("TS-1", "abc")
            .expect_err("both")
            .message
            .contains("not both"));
    }

    #[test]
    fn requests_need_an_actor() {
        let e = Request::new("TS-1", "", 0, "  ", Command::Acknowledge).expect_err("no actor");
        assert_eq!(e.field, "actor");
        let long = "a".repeat(MAX_ACTOR_CHARS + 1);
        assert!(Request::new("TS-1", "", 0, &long, Command::Acknowledge).is_err());
        let r = Request::new("TS-1", "", 7, " agent-7 ", Command::Acknowledge).expect("valid");
        assert_eq!(r.actor, "agent-7");
        assert_eq!(r.expected_version, 7);
        assert!(Request::new("TS-1", "", u64::MAX, "a", Command::Acknowledge).is_err());
    }

    #[test]
    fn scores_are_one_to_five() {
        for s in 1..=5 {
            assert_eq!(score_field(s), Ok(s as u8));
        }
        for s in [0, 6, 256, u32::MAX] {
            let e = score_field(s).expect_err("out of range");
            assert_eq!(e.to_string(), format!("score: must be 1 to 5, got {s}"));
        }
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(body_field("text", "  hi ", true), Ok("hi".into()));
        assert_eq!(
            body_field("text", " ", true)
                .expect_err("empty")
                .to_string(),
            "text: required"
        );
        assert_eq!(reason_field("reason", "", false), Ok(String::new()));
        assert!(reason_field("reason", &"x".repeat(MAX_REASON_CHARS + 1), false).is_err());
        assert!(body_field("text", "a\0b", true).is_err());
    }

    #[test]
    fn first_contact_picks_its_own_action() {
        let resolve = |first_contact| Command::Resolve {
            result: "done".into(),
            cause: String::new(),
            measures: String::new(),
            first_contact,
        };
        assert_eq!(resolve(false).action(), Action::Resolve);
        assert_eq!(resolve(true).action(), Action::ResolveOnFirstContact);
        assert_eq!(resolve(true).reason(), "resolved on first contact");
    }

    #[test]
    fn messages_and_reasons() {
        let note = Command::AddNote { text: "x".into() };
        assert_eq!(note.message(), Some(("note", false, false, "x")));
        let reply = Command::Reply { text: "y".into() };
        assert_eq!(reply.message(), Some(("reply", false, true, "y")));
        let silent = Command::CustomerResponded {
            text: String::new(),
        };
        assert_eq!(silent.message(), None);
        let sat = Command::RecordSatisfaction {
            score: 2,
            comment: String::new(),
        };
        assert_eq!(sat.reason(), "score 2 (unsatisfied)");
        let sat = Command::RecordSatisfaction {
            score: 3,
            comment: String::new(),
        };
        assert_eq!(sat.reason(), "score 3");
    }
}
