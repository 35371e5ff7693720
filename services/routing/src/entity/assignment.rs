//! `assignments`: the department (and, later, queue and agent) chosen for each
//! complaint, written exactly once per complaint together with the `routing.assigned`
//! event it owes (transactional outbox). A transfer changes the department; an
//! escalation raises `escalation_level` (never lowers it).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assignments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub complaint_id: String,
    pub ticket_no: String,
    pub department: String,
    /// The department's queue; for now the queue is the department.
    pub queue: String,
    /// The agent, empty while the complaint waits in the queue.
    pub assignee: String,
    /// The name of the rule that chose the department (`default` when none matched).
    pub rule: String,
    pub category: String,
    /// Milliseconds since the epoch.
    pub assigned_at: i64,
    /// The newest complaint version routing has seen (from intake's events); carried
    /// by the events routing emits later (transfers, escalations).
    pub complaint_version: i64,
    /// The current rung of the escalation ladder (0: not escalated).
    pub escalation_level: i32,
    /// Who it was escalated to last (empty: not escalated).
    pub escalated_to: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
