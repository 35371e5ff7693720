//! `counters`: event counts that are not about a complaint's current state
//! (`sla_started`, `sla_breached`, `sla_met`, `notifications_sent`,
//! `notifications_failed`, `transfers`, `escalations_level_<n>`), bumped once per
//! event id.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub value: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
