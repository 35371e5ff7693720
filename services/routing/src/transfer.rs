//! Transfer forms (`RoutingService.Transfer`): a complaint moves to another department,
//! which must do what the form requires by the form's deadline (the service-hotline
//! policy in DESIGN.md: "transfer form with requirement and deadline").
//!
//! A request is checked first ([`validate`]: every field, the deadline in the
//! future), then one transaction records the form in `transfers`, moves the assignment
//! to the new department (its queue, no agent yet; the escalation level is kept) and
//! owes `routing.transferred` (outbox). The requirement is stored and sent through
//! `pii::redact_text`. Intake sets the complaint's department from the event, and the
//! SLA watchdog starts a `transfer` clock on the form's deadline.

use ombuds_platform::{
    events, outbox, pii,
    time::{self, now_ms},
};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, TransactionTrait,
};

use crate::{
    entity::{assignment, transfer},
    rules::check_department,
};

/// The longest requirement accepted, in characters.
pub const MAX_REQUIREMENT: usize = 4000;

/// A checked transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferInput {
    pub complaint_id: String,
    pub to_department: String,
    /// Already redacted.
    pub requirement: String,
    /// ms since the epoch.
    pub deadline: i64,
    pub actor: String,
}

/// Why a transfer was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no assignment for complaint {0}")]
    NotFound(String),
    #[error("complaint {0} was transferred meanwhile; try again")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] DbErr),
}

impl From<TransferError> for tonic::Status {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Invalid { .. } => tonic::Status::invalid_argument(e.to_string()),
            TransferError::NotFound(_) => tonic::Status::not_found(e.to_string()),
            TransferError::Conflict(_) => tonic::Status::aborted(e.to_string()),
            TransferError::Store(e) => ombuds_platform::grpc::internal(e),
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> TransferError {
    TransferError::Invalid {
        field,
        message: message.into(),
    }
}

/// Checks a request against the clock `now` (ms).
pub fn validate(req: v1::TransferRequest, now: i64) -> Result<TransferInput, TransferError> {
    let complaint_id = req.complaint_id.trim().to_owned();
    if complaint_id.is_empty() {
        return Err(invalid("complaint_id", "is empty"));
    }
    let to_department = req.to_department.trim().to_owned();
    check_department(&to_department).map_err(|m| invalid("to_department", m))?;
    let requirement = req.requirement.trim();
    if requirement.is_empty() {
        return Err(invalid(
            "requirement",
            "is empty; say what the receiving department must do",
        ));
    }
    let chars = requirement.chars().count();
    if chars > MAX_REQUIREMENT {
        return Err(invalid(
            "requirement",
            format!("is {chars} characters long; at most {MAX_REQUIREMENT}"),
        ));
    }
    let Some(deadline) = req.deadline else {
        return Err(invalid("deadline", "is required"));
    };
    if !(0..1_000_000_000).contains(&deadline.nanos) {
        return Err(invalid("deadline", "nanos out of range"));
    }
    let deadline = time::from_timestamp(&deadline);
    if deadline <= now {
        return Err(invalid(
            "deadline",
            format!(
                "{} is not in the future (now {})",
                time::rfc3339(deadline),
                time::rfc3339(now)
            ),
        ));
    }
    let actor = req.actor.trim().to_owned();
    if actor.is_empty() {
        return Err(invalid("actor", "is empty; say who transfers it"));
    }
    Ok(TransferInput {
        complaint_id,
        to_department,
        requirement: pii::redact_text(requirement),
        deadline,
        actor,
    })
}

/// Records a checked transfer and owes `routing.transferred`; answers the form.
pub async fn record(
    db: &DatabaseConnection,
    input: TransferInput,
) -> Result<v1::TransferForm, TransferError> {
    let txn = db.begin().await?;
    let Some(a) = assignment::Entity::find_by_id(input.complaint_id.clone())
        .one(&txn)
        .await?
    else {
        txn.rollback().await?;
        return Err(TransferError::NotFound(input.complaint_id));
    };
    if a.department == input.to_department {
        txn.rollback().await?;
        return Err(invalid(
            "to_department",
            format!("the complaint is already in {}", a.department),
        ));
    }
    let now = now_ms();
    let done = assignment::Entity::update_many()
        .col_expr(
            assignment::Column::Department,
            Expr::value(input.to_department.clone()),
        )
        .col_expr(
            assignment::Column::Queue,
            Expr::value(input.to_department.clone()),
        )
        .col_expr(assignment::Column::Assignee, Expr::value(String::new()))
        .filter(assignment::Column::ComplaintId.eq(a.complaint_id.as_str()))
        .filter(assignment::Column::Department.eq(a.department.as_str()))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        txn.rollback().await?;
        return Err(TransferError::Conflict(a.complaint_id));
    }
    let form = transfer::Model {
        transfer_id: uuid::Uuid::now_v7().to_string(),
        complaint_id: a.complaint_id.clone(),
        from_department: a.department.clone(),
        to_department: input.to_department,
        requirement: input.requirement,
        deadline: input.deadline,
        actor: input.actor,
        at: now,
    };
    transfer::Entity::insert(transfer::ActiveModel {
        transfer_id: Set(form.transfer_id.clone()),
        complaint_id: Set(form.complaint_id.clone()),
        from_department: Set(form.from_department.clone()),
        to_department: Set(form.to_department.clone()),
        requirement: Set(form.requirement.clone()),
        deadline: Set(form.deadline),
        actor: Set(form.actor.clone()),
        at: Set(form.at),
    })
    .exec_without_returning(&txn)
    .await?;
    let version = u64::try_from(a.complaint_version).unwrap_or(0);
    outbox::enqueue(
        &txn,
        &v1::ComplaintTransferred {
            meta: Some(events::meta(
                crate::SOURCE,
                &a.complaint_id,
                &a.ticket_no,
                version,
            )),
            transfer_id: form.transfer_id.clone(),
            from_department: form.from_department.clone(),
            to_department: form.to_department.clone(),
            requirement: form.requirement.clone(),
            deadline: Some(time::to_timestamp(form.deadline)),
            actor: form.actor.clone(),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(v1::TransferForm {
        transfer_id: form.transfer_id,
        complaint_id: form.complaint_id,
        ticket_no: a.ticket_no,
        from_department: form.from_department,
        to_department: form.to_department,
        requirement: form.requirement,
        deadline: Some(time::to_timestamp(form.deadline)),
        actor: form.actor,
        transferred_at: Some(time::to_timestamp(form.at)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_334_400_000;

    fn req() -> v1::TransferRequest {
        v1::TransferRequest {
            complaint_id: "c-1".into(),
            to_department: "technical".into(),
            requirement: "Check the base station; call back on 13812345678".into(),
            deadline: Some(time::to_timestamp(NOW + 3_600_000)),
            actor: "agent-7".into(),
        }
    }

    fn field_of(r: v1::TransferRequest) -> &'static str {
        match validate(r, NOW) {
            Err(TransferError::Invalid { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_is_trimmed_and_redacted() {
        let mut r = req();
        r.to_department = " technical ".into();
        let input = validate(r, NOW).expect("valid");
        assert_eq!(input.to_department, "technical");
        assert_eq!(input.deadline, NOW + 3_600_000);
        assert!(
            !input.requirement.contains("13812345678"),
            "{}",
            input.requirement
        );
        assert!(input.requirement.starts_with("Check the base station"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut r = req();
        r.complaint_id = " ".into();
        assert_eq!(field_of(r), "complaint_id");
        let mut r = req();
        r.to_department = "tech support".into();
        assert_eq!(field_of(r), "to_department");
        let mut r = req();
        r.to_department = String::new();
        assert_eq!(field_of(r), "to_department");
        let mut r = req();
        r.requirement = "  ".into();
        assert_eq!(field_of(r), "requirement");
        let mut r = req();
        r.requirement = "x".repeat(MAX_REQUIREMENT + 1);
        assert_eq!(field_of(r), "requirement");
        let mut r = req();
        r.deadline = None;
        assert_eq!(field_of(r), "deadline");
        let mut r = req();
        r.deadline = Some(time::to_timestamp(NOW - 1));
        assert_eq!(field_of(r), "deadline");
        let mut r = req();
        r.deadline = Some(time::to_timestamp(NOW));
        assert_eq!(field_of(r), "deadline", "now is not the future");
        let mut r = req();
        r.deadline = Some(prost_types::Timestamp {
            seconds: NOW / 1000 + 60,
            nanos: -1,
        });
        assert_eq!(field_of(r), "deadline");
        let mut r = req();
        r.actor = String::new();
        assert_eq!(field_of(r), "actor");
    }

    #[test]
    fn errors_map_to_grpc_codes_naming_the_field() {
        let mut r = req();
        r.deadline = Some(time::to_timestamp(NOW - 1));
        let status: tonic::Status = validate(r, NOW).expect_err("past").into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().starts_with("deadline: "), "{status:?}");
        let status: tonic::Status = TransferError::NotFound("c-9".into()).into();
        assert_eq!(status.code(), tonic::Code::NotFound);
    }
}
