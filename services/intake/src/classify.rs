//! `Classify`: an agent sets a complaint's category, sub-category, severity, urgency
//! and tags ([`crate::taxonomy`]); the priority follows from the severity × urgency
//! matrix. A received complaint becomes triaged; any other status but closed stays as
//! it is (a closed complaint is refused). Like the lifecycle actions ([`crate::actions`])
//! it runs in one transaction with optimistic concurrency (`expected_version`), writes a
//! `history` row (action `classify`) and enqueues `complaint.classified` (and
//! `complaint.status_changed`, action `triage`, when received → triaged).

use ombuds_platform::{events, outbox, time};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::Expr, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

use crate::{
    actions::{text_field, ActionError, Target, MAX_ACTOR_CHARS},
    contact::FieldError,
    crypto::Vault,
    entity::{complaint, history},
    lifecycle::{Action, Refused, Status},
    store::{self, SOURCE},
    taxonomy::{self, Taxonomy},
};

/// A validated `ClassifyRequest`; `None` keeps the current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    pub expected_version: u64,
    pub actor: String,
    pub category: Option<String>,
    pub sub_category: Option<String>,
    pub severity: Option<u8>,
    pub urgency: Option<u8>,
    pub tags: Option<Vec<String>>,
}

impl Request {
    pub fn parse(r: &v1::ClassifyRequest) -> Result<Self, FieldError> {
        let target = Target::parse(&r.ticket_no, &r.complaint_id)?;
        let actor = text_field("actor", &r.actor, MAX_ACTOR_CHARS, true)?;
        if r.expected_version > i64::MAX as u64 {
            return Err(FieldError::new("expected_version", "out of range"));
        }
        let name = |field: &str, v: &str| {
            let v = text_field(field, v, 100, false)?.to_ascii_lowercase();
            Ok::<_, FieldError>((!v.is_empty()).then_some(v))
        };
        Ok(Self {
            target,
            expected_version: r.expected_version,
            actor,
            category: name("category", &r.category)?,
            sub_category: name("sub_category", &r.sub_category)?,
            severity: taxonomy::level("severity", i64::from(r.severity))?,
            urgency: taxonomy::level("urgency", i64::from(r.urgency))?,
            tags: if r.tags.is_empty() {
                None
            } else {
                Some(taxonomy::tags(&r.tags)?)
            },
        })
    }
}

/// Applies a classification and answers the complaint as it is now. The caller wakes
/// the outbox.
pub async fn apply(
    db: &DatabaseConnection,
    vault: &Vault,
    tax: &Taxonomy,
    req: &Request,
) -> Result<store::Full, ActionError> {
    let txn = db.begin().await?;
    let q = complaint::Entity::find();
    let found = match &req.target {
        Target::Ticket(t) => q.filter(complaint::Column::TicketNo.eq(t.as_str())),
        Target::Id(id) => q.filter(complaint::Column::ComplaintId.eq(id.as_str())),
    }
    .one(&txn)
    .await?;
    let Some(c) = found else {
        txn.rollback().await?;
        let what = match &req.target {
            Target::Ticket(t) => format!("ticket {t}"),
            Target::Id(id) => format!("id {id}"),
        };
        return Err(ActionError::NotFound(what));
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
    let to = match from {
        Status::Received => Status::Triaged,
        Status::Closed => {
            txn.rollback().await?;
            return Err(Refused {
                action: Action::Triage,
                from,
            }
            .into());
        }
        s => s,
    };
    let category = req.category.clone().unwrap_or(c.category.clone());
    let sub_category = match (&req.category, &req.sub_category) {
        (_, Some(s)) => s.clone(),
        (Some(_), None) => String::new(),
        (None, None) => c.sub_category.clone(),
    };
    if let Err(e) = tax.check(&category, &sub_category) {
        txn.rollback().await?;
        return Err(e.into());
    }
    let severity = req
        .severity
        .unwrap_or(u8::try_from(c.severity).unwrap_or(taxonomy::DEFAULT_LEVEL));
    let urgency = req
        .urgency
        .unwrap_or(u8::try_from(c.urgency).unwrap_or(taxonomy::DEFAULT_LEVEL));
    let priority = taxonomy::priority(severity, urgency);
    let tags = req.tags.clone().unwrap_or_else(|| store::tags_of(&c));
    let now = time::now_ms();
    let version = c.version + 1;
    let done = complaint::Entity::update_many()
        .col_expr(complaint::Column::Status, Expr::value(to.as_str()))
        .col_expr(complaint::Column::Category, Expr::value(category.clone()))
        .col_expr(
            complaint::Column::SubCategory,
            Expr::value(sub_category.clone()),
        )
        .col_expr(
            complaint::Column::Severity,
            Expr::value(i32::from(severity)),
        )
        .col_expr(complaint::Column::Urgency, Expr::value(i32::from(urgency)))
        .col_expr(
            complaint::Column::Priority,
            Expr::value(i32::from(priority)),
        )
        .col_expr(
            complaint::Column::Tags,
            Expr::value(store::tags_json(&tags)),
        )
        .col_expr(complaint::Column::Version, Expr::value(version))
        .col_expr(complaint::Column::UpdatedAt, Expr::value(now))
        .filter(complaint::Column::ComplaintId.eq(c.complaint_id.as_str()))
        .filter(complaint::Column::Version.eq(c.version))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        txn.rollback().await?;
        return Err(ActionError::Conflict {
            current: current + 1,
            sent: req.expected_version,
        });
    }
    let reason = format!(
        "category {category}/{sub_category}, severity {severity}, urgency {urgency}, priority {priority}"
    );
    store::write_history(
        &txn,
        vault,
        &history::Model {
            complaint_id: c.complaint_id.clone(),
            version,
            from_status: from.as_str().into(),
            to_status: to.as_str().into(),
            action: "classify".into(),
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
    if to != from {
        outbox::enqueue(
            &txn,
            &v1::ComplaintStatusChanged {
                meta: meta(),
                from_status: from.as_str().into(),
                to_status: to.as_str().into(),
                reason,
                action: Action::Triage.as_str().into(),
                actor: req.actor.clone(),
            },
        )
        .await?;
    }
    outbox::enqueue(
        &txn,
        &v1::ComplaintClassified {
            meta: meta(),
            category,
            sub_category,
            severity: i32::from(severity),
            urgency: i32::from(urgency),
            priority: i32::from(priority),
            tags,
            actor: req.actor.clone(),
            status: to.as_str().into(),
        },
    )
    .await?;
    let full = store::get(&txn, vault, store::Key::Id(&c.complaint_id))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("complaint {} vanished", c.complaint_id)))?;
    txn.commit().await?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_severity_is_named() {
        let r = v1::ClassifyRequest {
            ticket_no: "TS-20261123-000001".into(),
            actor: "agent-1".into(),
            severity: 7,
            ..Default::default()
        };
        assert_eq!(Request::parse(&r).expect_err("7").field, "severity");
        let ok = Request::parse(&v1::ClassifyRequest {
            severity: 1,
            urgency: 2,
            category: "Network".into(),
            ..r
        })
        .expect("valid");
        assert_eq!(ok.category.as_deref(), Some("network"));
        assert_eq!((ok.severity, ok.urgency), (Some(1), Some(2)));
    }
}
