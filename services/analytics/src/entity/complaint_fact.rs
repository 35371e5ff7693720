//! `complaint_facts`: one row per complaint, projected from the events of several
//! streams. Those arrive in any order, so a row may be created by whichever event comes
//! first; `received` says whether `complaint.received` has been seen (only such rows
//! are counted). Status and department carry the complaint version that set them, and
//! an older version never overwrites a newer one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaint_facts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub complaint_id: String,
    pub ticket_no: String,
    pub channel: String,
    pub kind: String,
    pub category: String,
    pub priority: i32,
    /// Empty until `routing.assigned` is seen.
    pub department: String,
    /// The complaint version of the assignment (-1: none yet).
    pub department_version: i64,
    /// Empty until a status event is seen.
    pub status: String,
    /// The complaint version of `status` (-1: none yet).
    pub status_version: i64,
    /// Whether `complaint.received` has been seen.
    pub received: bool,
    /// When the complaint was received (ms since the epoch), once known.
    pub received_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
