//! `escalations`: one row per rung a complaint went up the escalation ladder, written
//! with the `routing.escalated` event it owes. Unique on (`complaint_id`, `level`):
//! levels only go up, so a level is reached once.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalations")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub escalation_id: String,
    pub complaint_id: String,
    /// 1 = the first rung of the ladder.
    pub level: i32,
    /// e.g. `technical:lead`, `duty_manager`.
    pub escalated_to: String,
    /// Human-readable: which clock event, and how far it went.
    pub reason: String,
    /// `warning` or `breach`: the kind of clock event that caused it.
    pub trigger: String,
    pub clock_id: String,
    /// The SLA target of the clock.
    pub target: String,
    /// Milliseconds since the epoch.
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
