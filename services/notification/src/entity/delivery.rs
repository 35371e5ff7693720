//! The `deliveries` table: one row per message the platform owes a customer.
//!
//! A row is created by a [`crate::consumer`] (status `pending`) and driven by the
//! [`crate::dispatcher`]: `pending` → `sending` (claimed by one replica until
//! `claimed_until`) → `sent` or `failed`, or back to `pending` with a later
//! `next_attempt_at` after a transient failure. `dedup_key` is unique and names what the
//! message is owed for (`acknowledgement:<complaint>`, `delay:<complaint>:<clock>`, …, see
//! [`crate::consumer`]), so a message is created once however often its event arrives.
//!
//! No plaintext personal data is stored here: the address is fetched from intake at
//! send time and only its masked form (`recipient_masked`) is kept.

use sea_orm::entity::prelude::*;

/// Waiting for its (next) attempt.
pub const PENDING: &str = "pending";
/// Claimed by a dispatcher, which is talking to intake or the provider right now.
pub const SENDING: &str = "sending";
/// Accepted by the provider.
pub const SENT: &str = "sent";
/// Given up: a permanent failure, or transient failures up to the attempt limit.
pub const FAILED: &str = "failed";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    /// UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    pub complaint_id: String,
    pub ticket_no: String,
    /// The complaint's version in the event that created the row (for event metadata).
    pub complaint_version: i64,
    /// e.g. `acknowledgement`; see [`crate::templates`].
    pub template: String,
    /// What the message is owed for; unique (see [`crate::consumer`]).
    #[sea_orm(unique)]
    pub dedup_key: String,
    /// The template's facts as JSON ([`crate::templates::Content`]); none for the
    /// acknowledgements written before parameters existed.
    pub params: Option<String>,
    /// pending | sending | sent | failed
    pub status: String,
    /// Attempts made so far (a contact lookup or a send that ended in an outcome).
    pub attempts: i32,
    /// When the next attempt is due (ms since the epoch).
    pub next_attempt_at: i64,
    /// While `status = sending`: the claim expires at this instant, after which any
    /// replica may take the row again.
    pub claimed_until: Option<i64>,
    /// A fresh token per claim; only the holder of the current claim may settle the row.
    pub claim_token: Option<String>,
    /// email | sms, once known.
    pub medium: Option<String>,
    /// The provider used (file | smtp), once known.
    pub provider: Option<String>,
    /// The masked recipient (`z***@example.com`, `138****5678`), once known.
    pub recipient_masked: Option<String>,
    /// The last failure, with personal data redacted.
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
