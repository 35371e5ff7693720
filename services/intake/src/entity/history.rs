//! `history`: one row per version of a complaint — the status before and after (equal
//! when the change left the status alone), the action, who did it and why. The
//! primary key (`complaint_id`, `version`) also refuses a second writer of a version.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub complaint_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    /// Empty for the first version (the complaint was recorded).
    pub from_status: String,
    pub to_status: String,
    /// A [`crate::lifecycle::Action`] name, or `receive`.
    pub action: String,
    pub actor: String,
    pub reason: String,
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
