//! `customer_records`: one row per person, linked across channels by phone, e-mail,
//! account id (blind indexes here) or social handle (`customer_handles`). Every personal field is ciphertext
//! (`v1:<key id>:<base64>`, see [`crate::crypto`]); [`crate::store::Customer`] is the
//! decrypted form, which never leaves intake except through `GetCustomerContact`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: String,
    pub name_enc: String,
    pub phone_enc: String,
    pub email_enc: String,
    pub account_enc: String,
    /// hex HMAC-SHA256 of the E.164 phone ("" when none).
    pub phone_bidx: String,
    /// hex HMAC-SHA256 of the lower-cased e-mail ("" when none).
    pub email_bidx: String,
    /// hex HMAC-SHA256 of the account id ("" when none).
    pub account_bidx: String,
    /// The postal address.
    pub address_enc: String,
    /// The social handles, a JSON object platform → handle.
    pub social_enc: String,
    /// The key id of the last write (values carry their own key id too).
    pub key_id: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
