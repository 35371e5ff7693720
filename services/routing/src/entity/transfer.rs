//! `transfers`: the transfer forms. Each moves a complaint from one department to
//! another with a requirement (redacted) and a deadline, and is written with the
//! `routing.transferred` event it owes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transfers")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub transfer_id: String,
    pub complaint_id: String,
    pub from_department: String,
    pub to_department: String,
    /// What the receiving department must do, phone numbers and e-mail addresses masked.
    pub requirement: String,
    /// By when (ms since the epoch).
    pub deadline: i64,
    /// The agent who transferred it.
    pub actor: String,
    /// When (ms since the epoch).
    pub at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
