//! `clocks`: one row per complaint per target. The row is the durable timer: the
//! deadline is written in the same transaction as the clock, so a restart loses nothing.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clocks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub clock_id: String,
    pub complaint_id: String,
    pub ticket_no: String,
    /// e.g. `resolution`
    pub target: String,
    /// Policy name and version the clock started with, e.g. `default@1`.
    pub policy: String,
    /// running | breached | met
    pub state: String,
    pub started_at: i64,
    pub deadline: i64,
    /// When it was met or breached (0 while running).
    pub ended_at: i64,
    pub department: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
