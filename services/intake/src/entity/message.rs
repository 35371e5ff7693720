//! `messages`: a complaint's thread — agents' internal notes (`note`, not visible to
//! the customer), agents' replies (`reply`) and the customer's answers (`customer`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// UUIDv7, so a thread sorts by time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub message_id: String,
    pub complaint_id: String,
    /// note | reply | customer
    pub kind: String,
    /// The agent id, or `customer`.
    pub author: String,
    pub body: String,
    /// Whether the customer sees it.
    pub visible: bool,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
