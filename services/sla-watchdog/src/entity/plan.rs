//! `plans`: per complaint, the facts that selected its policy and a snapshot of the
//! policy's targets (so clocks that start later — feedback after resolution,
//! re-contact after reopening — use the policy version the complaint started with),
//! plus the triggers already seen (so a stop that arrives before its start is honoured).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub complaint_id: String,
    pub ticket_no: String,
    /// `<pack>@<version>/<policy>`; empty until `complaint.received` arrives.
    pub policy: String,
    /// JSON array of [`crate::engine::TargetPlan`].
    pub targets: String,
    /// JSON object: trigger name → first time seen (ms).
    pub seen: String,
    pub department: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
