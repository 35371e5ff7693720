//! The counts view: totals per channel, category, department and status, plus the
//! event counters. The same view is served by gRPC `GetCounts`, by `GET /v1/counts`
//! and published live (`analytics.live.counts`, KV `ANALYTICS`/`counts`). It holds
//! only counts, never personal data.

use std::collections::{BTreeMap, HashMap};

use ombuds_proto::v1;
use sea_orm::{
    sea_query::Expr, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::{
    entity::{complaint_fact as fact, counter},
    projection::{NOTIFICATIONS_FAILED, NOTIFICATIONS_SENT, SLA_BREACHED, SLA_MET, SLA_STARTED},
};

/// The key for a complaint without a category.
pub const UNCATEGORISED: &str = "uncategorised";
/// The key for a complaint not yet assigned to a department.
pub const UNASSIGNED: &str = "unassigned";
/// The key for a missing channel or status.
pub const UNKNOWN: &str = "unknown";

/// The counts, as JSON and as the source of the gRPC `Counts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
        })
    }
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
        }
    }
}
