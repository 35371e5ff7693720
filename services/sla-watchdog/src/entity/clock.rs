//! `clocks`: one row per complaint per target. The row is the durable timer: its
//! `next_fire_at` (the next warning threshold or the deadline) is written in the same
//! transaction as every change to the clock, so a restart loses nothing.
//!
//! Time accounting: the clock allows `allowance_ms` of time on its calendar (for
//! calendar-time targets the `24x7` calendar, where business time is wall time). Time
//! used before the current running segment is `consumed_ms`; the current segment began
//! at `segment_start`. Pausing adds the segment to `consumed_ms`; resuming starts a new
//! segment and moves the deadline by the paused time.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clocks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub clock_id: String,
    pub complaint_id: String,
    pub ticket_no: String,
    /// e.g. `resolution`
    pub target: String,
    /// `<pack>@<version>/<policy>`: the policy version the clock started with.
    pub policy: String,
    /// The calendar the allowance is counted on.
    pub calendar: String,
    /// The policy's wording, e.g. `15 working days`.
    pub within: String,
    /// The trigger that meets the clock, e.g. `resolved`.
    pub stops_on: String,
    /// running | paused | breached | met
    pub state: String,
    pub started_at: i64,
    pub deadline: i64,
    pub allowance_ms: i64,
    pub consumed_ms: i64,
    pub segment_start: i64,
    /// Warning thresholds in percent, comma-separated (`50,80`).
    pub warn_at: String,
    /// The highest threshold already announced (0: none).
    pub warned_pct: i32,
    /// When the timer must look at this clock next; 0 when nothing is due (paused, ended).
    pub next_fire_at: i64,
    /// When it was met or breached (0 otherwise).
    pub ended_at: i64,
    pub paused_at: i64,
    pub department: String,
    /// JSON array of `{at, event, detail}`: what happened to the clock.
    pub history: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
