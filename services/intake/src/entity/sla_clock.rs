//! `sla_clocks`: intake's copy of each SLA clock (target, deadline, state), learnt from
//! `sla.started`, `sla.breached` and `sla.met`, so `Get` can show deadlines.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_clocks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub clock_id: String,
    pub complaint_id: String,
    pub target: String,
    pub deadline: i64,
    /// running | breached | met
    pub state: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
