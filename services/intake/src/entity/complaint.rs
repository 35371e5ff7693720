//! `complaints`: the system of record. Unique on `ticket_no` and on
//! (`channel`, `external_id`), which makes a repeated contact one complaint. Its
//! status follows [`crate::lifecycle`]; the thread is in `messages`, every change in
//! `history`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaints")]
pub struct Model {
    /// UUIDv7, so ids sort by creation time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub complaint_id: String,
    #[sea_orm(unique)]
    pub ticket_no: String,
    pub channel: String,
    pub external_id: String,
    pub customer_id: String,
    pub kind: String,
    pub category: String,
    pub priority: i32,
    pub subject: String,
    pub body: String,
    pub reference: String,
    pub status: String,
    pub department: String,
    pub assignee: String,
    /// `occurred_at` of the assignment event applied last (ms), so an older one never wins.
    pub assigned_at: i64,
    /// When the channel received the contact (ms).
    pub received_at: i64,
    /// When intake recorded it (ms). `recorded_at - received_at` is the entry lag.
    pub recorded_at: i64,
    pub updated_at: i64,
    /// Optimistic concurrency: bumped by every change.
    pub version: i64,
    /// The first customer-visible reply (ms; 0: none yet).
    pub first_reply_at: i64,
    /// The last resolution (ms; 0: never resolved). Kept after a reopen.
    pub resolved_at: i64,
    pub resolved_by: String,
    pub resolution_result: String,
    pub resolution_cause: String,
    /// The improvement measures.
    pub resolution_measures: String,
    /// Resolved on first contact.
    pub first_contact: bool,
    /// The customer's last satisfaction score, 1 to 5 (0: none).
    pub satisfaction_score: i32,
    pub satisfaction_comment: String,
    pub satisfaction_at: i64,
    /// Classification ([`crate::taxonomy`]); `priority` is severity × urgency.
    pub sub_category: String,
    /// 1 (highest) to 4 (lowest).
    pub severity: i32,
    pub urgency: i32,
    /// A JSON array of strings.
    pub tags: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
