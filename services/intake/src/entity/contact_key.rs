//! `contact_keys`: the (channel, external_id) of each contact appended to an existing
//! complaint (threaded or linked) rather than opening one, and which complaint it went
//! to. Unique on (channel, external_id): a repeated follow-up is appended once.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_id: String,
    pub complaint_id: String,
    /// cited_ticket | email_reply | duplicate
    pub reason: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
