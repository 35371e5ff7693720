//! `customers`: one row per person, linked across channels by phone, e-mail or account id.
//! The contact details stay in intake's store; every other service sees masks only.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: String,
    pub name: String,
    /// Digits only, with a leading `+` when the channel gave an international number.
    pub phone: String,
    /// Lower-cased.
    pub email: String,
    pub account_id: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
