//! `sla_clock_facts`: one row per SLA clock, projected from `sla.started`,
//! `sla.breached` and `sla.met`, for the on-time rates ([`crate::counts::OnTimeView`]).
//! Those events may arrive in any order, so each is an upsert: `outcome` is the
//! clock's latest outcome (`running`, `breached` while not met, then `met_in_time` or
//! `met_late` by the margin of `sla.met`, which always wins), and `breached` stays true
//! once a breach is seen.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_clock_facts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub clock_id: String,
    /// Joined with `complaint_facts` for the department.
    pub complaint_id: String,
    /// acknowledgement | first_response | initial_result | transfer | resolution | ...
    pub target: String,
    /// running | breached | met_in_time | met_late
    pub outcome: String,
    /// Whether `sla.breached` was seen (also when the clock was met late afterwards).
    pub breached: bool,
    /// From `sla.met`: positive early, negative late (seconds).
    pub margin_seconds: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
