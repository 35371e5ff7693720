//! `customer_handles`: the blind index of each social handle (`platform:handle`, see
//! [`crate::contact::normalise_social`]) and the customer it belongs to. A customer may
//! have several handles, so they are rows here rather than columns of
//! `customer_records`; the handles themselves are stored encrypted there.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_handles")]
pub struct Model {
    /// hex HMAC-SHA256 of `platform:handle`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub bidx: String,
    pub customer_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
