//! The counts view: totals per channel, category, department and status, the event
//! counters, the on-time rates of the SLA clocks and the escalations and transfers.
//! The same view is served by gRPC `GetCounts`, by `GET /v1/counts` and published live
//! (`analytics.live.counts`, KV `ANALYTICS`/`counts`). It holds only counts, never
//! personal data.
//!
//! **On-time rate.** Every SLA clock counts once, by its latest outcome
//! (`sla_clock_facts`):
//!
//! - *met in time*: `sla.met` with `margin_seconds >= 0`;
//! - *met late*: `sla.met` with `margin_seconds < 0`, whether or not `sla.breached`
//!   was seen before;
//! - *breached, open*: `sla.breached` seen and no `sla.met` (yet).
//!
//! `rate = met_in_time / (met_in_time + met_late + breached_open)`, a fraction from 0
//! to 1; it is absent (JSON `null`) while that sum is 0. Clocks still running without a
//! breach do not count: they have no outcome yet. `breached` also counts the clocks
//! met late after their breach. The rate is given over all clocks, per SLA target, and
//! per the complaint's current department (from `complaint_facts`, after transfers;
//! `unassigned` when it has none or the complaint is not known yet).

use std::collections::{BTreeMap, HashMap};

use ombuds_proto::v1;
use sea_orm::{
    sea_query::{Alias, Expr, Func, Query},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::{
    entity::{clock_fact as clock, complaint_fact as fact, counter},
    projection::{
        BREACHED, ESCALATIONS_LEVEL, MET_IN_TIME, MET_LATE, NOTIFICATIONS_FAILED,
        NOTIFICATIONS_SENT, SLA_BREACHED, SLA_MET, SLA_STARTED, TRANSFERS,
    },
};

/// The key for a complaint without a category.
pub const UNCATEGORISED: &str = "uncategorised";
/// The key for a complaint not yet assigned to a department.
pub const UNASSIGNED: &str = "unassigned";
/// The key for a missing channel or status.
pub const UNKNOWN: &str = "unknown";

/// The outcomes of a set of SLA clocks and their on-time rate (see the module
/// documentation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OnTimeView {
    pub met_in_time: u64,
    pub met_late: u64,
    /// Breached and not met (yet).
    pub breached_open: u64,
    /// Every clock that saw `sla.breached`, including those met late afterwards.
    pub breached: u64,
    /// `met_in_time / (met_in_time + met_late + breached_open)`; `None` while that is 0.
    pub rate: Option<f64>,
}

impl OnTimeView {
    /// Adds `n` clocks with `outcome` (and `breached`).
    fn add(&mut self, outcome: &str, breached: bool, n: u64) {
        match outcome {
            MET_IN_TIME => self.met_in_time += n,
            MET_LATE => self.met_late += n,
            BREACHED => self.breached_open += n,
            _ => {}
        }
        if breached {
            self.breached += n;
        }
        self.rate = rate(self.met_in_time, self.met_late, self.breached_open);
    }
}

/// The on-time rate: `met_in_time / (met_in_time + met_late + breached_open)`.
pub fn rate(met_in_time: u64, met_late: u64, breached_open: u64) -> Option<f64> {
    let decided = met_in_time + met_late + breached_open;
    (decided > 0).then(|| met_in_time as f64 / decided as f64)
}

/// The counts, as JSON and as the source of the gRPC `Counts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CountsView {
    /// Complaints whose `complaint.received` has been seen.
    pub complaints: u64,
    pub by_channel: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
    pub by_department: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub sla_started: u64,
    pub sla_breached: u64,
    pub sla_met: u64,
    pub notifications_sent: u64,
    pub notifications_failed: u64,
    /// Over every clock with an outcome.
    pub on_time: OnTimeView,
    pub on_time_by_target: BTreeMap<String, OnTimeView>,
    /// By the complaint's current department.
    pub on_time_by_department: BTreeMap<String, OnTimeView>,
    /// `routing.escalated` events, in all and per level.
    pub escalations: u64,
    pub escalations_by_level: BTreeMap<u32, u64>,
    /// `routing.transferred` events.
    pub transfers: u64,
}

impl CountsView {
    /// Reads the counts from the store.
    pub async fn load(conn: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let by_channel = group(conn, fact::Column::Channel, UNKNOWN).await?;
        let by_category = group(conn, fact::Column::Category, UNCATEGORISED).await?;
        let by_department = group(conn, fact::Column::Department, UNASSIGNED).await?;
        let by_status = group(conn, fact::Column::Status, UNKNOWN).await?;
        let counters: HashMap<String, u64> = counter::Entity::find()
            .all(conn)
            .await?
            .into_iter()
            .map(|c| (c.name, u64::try_from(c.value).unwrap_or(0)))
            .collect();
        let get = |name: &str| counters.get(name).copied().unwrap_or(0);
        let escalations_by_level: BTreeMap<u32, u64> = counters
            .iter()
            .filter_map(|(name, n)| {
                let level = name.strip_prefix(ESCALATIONS_LEVEL)?.parse().ok()?;
                Some((level, *n))
            })
            .collect();
        let (on_time, on_time_by_target, on_time_by_department) = on_time(conn).await?;
        Ok(Self {
            complaints: by_channel.values().sum(),
            by_channel,
            by_category,
            by_department,
            by_status,
            sla_started: get(SLA_STARTED),
            sla_breached: get(SLA_BREACHED),
            sla_met: get(SLA_MET),
            notifications_sent: get(NOTIFICATIONS_SENT),
            notifications_failed: get(NOTIFICATIONS_FAILED),
            on_time,
            on_time_by_target,
            on_time_by_department,
            escalations: escalations_by_level.values().sum(),
            escalations_by_level,
            transfers: get(TRANSFERS),
        })
    }
}

type OnTimes = (
    OnTimeView,
    BTreeMap<String, OnTimeView>,
    BTreeMap<String, OnTimeView>,
);

/// The clocks' outcomes, overall, per target and per department: one grouped query
/// over `sla_clock_facts` left-joined with `complaint_facts`.
async fn on_time(conn: &impl ConnectionTrait) -> Result<OnTimes, DbErr> {
    let department = Alias::new("department");
    let n = Alias::new("n");
    let query = Query::select()
        .column((clock::Entity, clock::Column::Target))
        .expr_as(
            Func::coalesce([
                Expr::col((fact::Entity, fact::Column::Department)).into(),
                Expr::val("").into(),
            ]),
            department.clone(),
        )
        .column((clock::Entity, clock::Column::Outcome))
        .column((clock::Entity, clock::Column::Breached))
        .expr_as(
            Expr::col((clock::Entity, clock::Column::ClockId)).count(),
            n.clone(),
        )
        .from(clock::Entity)
        .left_join(
            fact::Entity,
            Expr::col((fact::Entity, fact::Column::ComplaintId))
                .equals((clock::Entity, clock::Column::ComplaintId)),
        )
        .group_by_col((clock::Entity, clock::Column::Target))
        .group_by_col((fact::Entity, fact::Column::Department))
        .group_by_col((clock::Entity, clock::Column::Outcome))
        .group_by_col((clock::Entity, clock::Column::Breached))
        .to_owned();
    let rows = conn
        .query_all(conn.get_database_backend().build(&query))
        .await?;
    let mut all = OnTimeView::default();
    let mut by_target: BTreeMap<String, OnTimeView> = BTreeMap::new();
    let mut by_department: BTreeMap<String, OnTimeView> = BTreeMap::new();
    for row in rows {
        let target: String = row.try_get("", "target")?;
        let department: String = row.try_get("", "department")?;
        let outcome: String = row.try_get("", "outcome")?;
        let breached: bool = row.try_get("", "breached")?;
        let n: i64 = row.try_get("", "n")?;
        let n = u64::try_from(n).unwrap_or(0);
        let target = match target.trim() {
            "" => UNKNOWN.to_owned(),
            t => t.to_owned(),
        };
        let department = match department.trim() {
            "" => UNASSIGNED.to_owned(),
            d => d.to_owned(),
        };
        all.add(&outcome, breached, n);
        by_target
            .entry(target)
            .or_default()
            .add(&outcome, breached, n);
        by_department
            .entry(department)
            .or_default()
            .add(&outcome, breached, n);
    }
    // Targets and departments whose clocks are all still running say nothing yet.
    let has_outcome =
        |v: &OnTimeView| v.met_in_time + v.met_late + v.breached_open + v.breached > 0;
    by_target.retain(|_, v| has_outcome(v));
    by_department.retain(|_, v| has_outcome(v));
    Ok((all, by_target, by_department))
}

/// Received complaints grouped by `column`; an empty value counts under `empty`.
async fn group(
    conn: &impl ConnectionTrait,
    column: fact::Column,
    empty: &str,
) -> Result<BTreeMap<String, u64>, DbErr> {
    let rows: Vec<(String, i64)> = fact::Entity::find()
        .select_only()
        .column(column)
        .column_as(Expr::col(fact::Column::ComplaintId).count(), "n")
        .filter(fact::Column::Received.eq(true))
        .group_by(column)
        .into_tuple()
        .all(conn)
        .await?;
    let mut out = BTreeMap::new();
    for (key, n) in rows {
        let key = match key.trim() {
            "" => empty.to_owned(),
            k => k.to_owned(),
        };
        *out.entry(key).or_insert(0) += u64::try_from(n).unwrap_or(0);
    }
    Ok(out)
}

impl From<CountsView> for v1::Counts {
    fn from(c: CountsView) -> Self {
        Self {
            complaints: c.complaints,
            by_channel: c.by_channel.into_iter().collect(),
            by_category: c.by_category.into_iter().collect(),
            by_department: c.by_department.into_iter().collect(),
            by_status: c.by_status.into_iter().collect(),
            sla_started: c.sla_started,
            sla_breached: c.sla_breached,
            sla_met: c.sla_met,
            notifications_sent: c.notifications_sent,
            notifications_failed: c.notifications_failed,
            on_time: Some(c.on_time.into()),
            on_time_by_target: c
                .on_time_by_target
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            on_time_by_department: c
                .on_time_by_department
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            escalations: c.escalations,
            escalations_by_level: c.escalations_by_level.into_iter().collect(),
            transfers: c.transfers,
        }
    }
}

impl From<OnTimeView> for v1::OnTime {
    fn from(v: OnTimeView) -> Self {
        Self {
            met_in_time: v.met_in_time,
            met_late: v.met_late,
            breached_open: v.breached_open,
            breached: v.breached,
            rate: v.rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_in_time_over_every_decided_clock() {
        assert_eq!(rate(0, 0, 0), None);
        assert_eq!(rate(3, 0, 0), Some(1.0));
        assert_eq!(rate(1, 1, 2), Some(0.25));
        let mut v = OnTimeView::default();
        v.add(MET_IN_TIME, false, 2);
        v.add(MET_LATE, true, 1);
        v.add(BREACHED, true, 1);
        v.add("running", false, 5);
        assert_eq!(
            v,
            OnTimeView {
                met_in_time: 2,
                met_late: 1,
                breached_open: 1,
                breached: 2,
                rate: Some(0.5),
            }
        );
    }
}
