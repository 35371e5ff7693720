//! The clock engine: what each event does to a complaint's clocks.
//!
//! | event | effect |
//! | --- | --- |
//! | `complaint.received` | select the policy (kind, category, priority, channel, tier), snapshot its targets into the complaint's plan, start the targets that start on `received` |
//! | `routing.assigned` | trigger `assigned` |
//! | `complaint.status_changed` → `awaiting_customer` | pause the running clocks (paused time does not count) |
//! | `complaint.status_changed` from `awaiting_customer` | resume them; the deadline moves by the paused time |
//! | `complaint.status_changed` → `resolved` / `closed` / `reopened` | triggers `resolved` (and `first_reply`: the resolution answers the customer) / `closed` / `reopened` and `unsatisfied` |
//! | `complaint.message_added` (a visible reply) | trigger `first_reply` |
//! | `complaint.satisfaction_recorded` | trigger `satisfaction_recorded`, and `unsatisfied` for a score of 1 or 2 |
//!
//! A trigger meets every open clock that stops on it (`sla.met`, with the margin) and
//! starts every planned target that starts on it (`sla.started`). Each trigger's first
//! time is remembered in the plan, so events that arrive out of order (a stop before
//! its start, `routing.assigned` before `complaint.received`) still give the right
//! clocks; pausing a paused clock or resuming a running one changes nothing.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, TimeZone, Utc};
use ombuds_calendar::{Calendar, Calendars};
use ombuds_platform::{events, outbox, time};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::entity::{clock, plan};

pub const SOURCE: &str = "sla-watchdog";

/// How much time a target allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WithinPlan {
    /// Calendar time.
    Hours { ms: i64 },
    /// Business time on the target's calendar.
    BusinessTime { ms: i64 },
    /// Close of business on the N-th working day.
    WorkingDays { n: u32 },
}

/// One target of a complaint's policy, as snapshotted when the complaint arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetPlan {
    pub target: String,
    pub within: WithinPlan,
    /// The policy's wording (`15 working days`).
    pub describe: String,
    pub calendar: String,
    pub warn_at: Vec<u32>,
    pub starts_on: String,
    pub stops_on: String,
}

/// The facts a policy is selected by.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub kind: String,
    pub category: String,
    pub priority: i32,
    pub channel: String,
    pub tier: String,
}

/// Chooses the plan for a complaint: `(policy tag, targets)`.
pub trait Planner: Send + Sync {
    fn plan(&self, facts: &Facts) -> Option<(String, Vec<TargetPlan>)>;
}

/// What an event asks of the clocks.
#[derive(Debug, Clone)]
pub enum Action {
    Received(Facts),
    Trigger(&'static [&'static str]),
    Pause,
    Resume,
    Assigned(String),
    /// A transfer form: the receiving department and the form's own deadline (ms).
    Transferred {
        to: String,
        deadline: i64,
    },
}

/// The clock a transfer form runs on when the policy plans no target that starts on
/// `transferred`.
pub const TRANSFER_FORM: &str = "transfer_form";

/// A clock whose timer changed, for the in-memory timer queue.
#[derive(Debug, Clone, Copy)]
pub struct Scheduled {
    pub clock_id: u128,
    pub fire_at: i64,
}

pub struct Engine {
    pub calendars: Arc<Calendars>,
    /// Used when a clock names a calendar the registry no longer has.
    pub fallback: Arc<Calendar>,
    pub planner: Arc<dyn Planner>,
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(Utc::now)
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Business time between two instants on `cal`; calendar time when the calendar has
/// no data for those dates (the gap is noted in the clock's history by the caller).
fn elapsed(cal: &Calendar, from: i64, to: i64) -> (i64, Option<String>) {
    if to <= from {
        return (0, None);
    }
    match cal.business_time_between(utc(from), utc(to)) {
        Ok(d) => (ms(d), None),
        Err(e) => (to - from, Some(e.to_string())),
    }
}

/// The instant `amount` of business time after `from` on `cal` (calendar time when
/// the calendar lacks data).
fn advance(cal: &Calendar, from: i64, amount: i64) -> (i64, Option<String>) {
    if amount <= 0 {
        return (from, None);
    }
    let d = std::time::Duration::from_millis(amount as u64);
    match cal.add_business_time(utc(from), d) {
        Ok(t) => (t.timestamp_millis(), None),
        Err(e) => (from + amount, Some(e.to_string())),
    }
}

fn push_history(history: &str, at: i64, event: &str, detail: &str) -> String {
    let mut list: Vec<serde_json::Value> = serde_json::from_str(history).unwrap_or_default();
    list.push(serde_json::json!({"at": time::rfc3339(at), "event": event, "detail": detail}));
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

fn warn_list(text: &str) -> Vec<u32> {
    text.split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// When a running clock must be looked at next: the next unannounced warning
/// threshold, or the deadline.
pub fn next_fire(cal: &Calendar, c: &clock::Model) -> i64 {
    let mut next = c.deadline;
    for p in warn_list(&c.warn_at) {
        if p as i32 <= c.warned_pct {
            continue;
        }
        let at_used = c.allowance_ms * i64::from(p) / 100;
        let t = if at_used <= c.consumed_ms {
            c.segment_start
        } else {
            advance(cal, c.segment_start, at_used - c.consumed_ms).0
        };
        next = next.min(t);
        break;
    }
    next
}

impl Engine {
    /// A clock's calendar, or the fallback (24x7) when the name is unknown.
    fn calendar(&self, name: &str) -> Arc<Calendar> {
        self.calendars
            .get(name)
            .unwrap_or_else(|| self.fallback.clone())
    }

    /// Business time between two instants on a named calendar, in ms.
    pub fn business_time(&self, calendar: &str, from: i64, to: i64) -> i64 {
        elapsed(&self.calendar(calendar), from, to).0
    }

    /// Applies one event to a complaint's clocks inside `txn`. Returns the timers to
    /// (re)schedule after the commit.
    pub async fn apply(
        &self,
        txn: &DatabaseTransaction,
        meta: &v1::EventMeta,
        at: i64,
        action: Action,
    ) -> Result<Vec<Scheduled>, DbErr> {
        let mut plan = load_plan(txn, meta).await?;
        let mut out = Vec::new();
        match action {
            Action::Received(facts) => {
                if !plan.policy.is_empty() {
                    return Ok(out);
                }
                let Some((tag, targets)) = self.planner.plan(&facts) else {
                    tracing::warn!(ticket = %meta.ticket_no, "no SLA policy matches; no clocks started");
                    save_plan(txn, &plan).await?;
                    return Ok(out);
                };
                plan.policy = tag;
                plan.targets = serde_json::to_string(&targets).unwrap_or_else(|_| "[]".into());
                let mut seen = seen_map(&plan.seen);
                seen.entry("received".into()).or_insert(at);
                plan.seen = serde_json::to_string(&seen).unwrap_or_else(|_| "{}".into());
                save_plan(txn, &plan).await?;
                // Start every target whose start trigger has been seen (received now,
                // others possibly earlier, out of order).
                for t in &targets {
                    if let Some(start) = seen.get(&t.starts_on).copied() {
                        out.extend(self.start(txn, meta, &plan, t, start, &seen).await?);
                    }
                }
            }
            Action::Assigned(department) => {
                plan.department = department.clone();
                clock::Entity::update_many()
                    .col_expr(clock::Column::Department, Expr::value(department))
                    .filter(clock::Column::ComplaintId.eq(meta.complaint_id.as_str()))
                    .exec(txn)
                    .await?;
                out.extend(
                    self.trigger(txn, meta, &mut plan, at, &["assigned"])
                        .await?,
                );
            }
            Action::Transferred { to, deadline } => {
                plan.department = to.clone();
                out.extend(
                    self.trigger(txn, meta, &mut plan, at, &["transferred"])
                        .await?,
                );
                out.extend(
                    self.transfer_form(txn, meta, &plan, at, &to, deadline)
                        .await?,
                );
            }
            Action::Trigger(names) => {
                out.extend(self.trigger(txn, meta, &mut plan, at, names).await?);
            }
            Action::Pause => out.extend(self.pause(txn, meta, at).await?),
            Action::Resume => out.extend(self.resume(txn, meta, at).await?),
        }
        Ok(out)
    }

    async fn trigger(
        &self,
        txn: &DatabaseTransaction,
        meta: &v1::EventMeta,
        plan: &mut plan::Model,
        at: i64,
        names: &[&str],
    ) -> Result<Vec<Scheduled>, DbErr> {
        let mut seen = seen_map(&plan.seen);
        let mut fresh = Vec::new();
        for n in names {
            if !seen.contains_key(*n) {
                seen.insert((*n).to_owned(), at);
                fresh.push(*n);
            }
        }
        plan.seen = serde_json::to_string(&seen).unwrap_or_else(|_| "{}".into());
        save_plan(txn, plan).await?;
        // Meet the open clocks that stop on these triggers (every time they happen).
        let open = clock::Entity::find()
            .filter(clock::Column::ComplaintId.eq(meta.complaint_id.as_str()))
            .filter(clock::Column::StopsOn.is_in(names.iter().copied()))
            .filter(clock::Column::State.is_in(["running", "paused", "breached"]))
            .all(txn)
            .await?;
        for c in open {
            self.meet(txn, c, at).await?;
        }
        // Start the planned targets these triggers start (first time only).
        let targets: Vec<TargetPlan> = serde_json::from_str(&plan.targets).unwrap_or_default();
        let mut out = Vec::new();
        for t in targets
            .iter()
            .filter(|t| fresh.contains(&t.starts_on.as_str()))
        {
            out.extend(self.start(txn, meta, plan, t, at, &seen).await?);
        }
        Ok(out)
    }

    /// Runs the transfer form's clock on the form's own deadline: the planned target
    /// that starts on `transferred` if the policy has one, else `transfer_form` (met
    /// when the complaint is resolved). A later transfer restarts the same clock on the
    /// new form.
    async fn transfer_form(
        &self,
        txn: &DatabaseTransaction,
        meta: &v1::EventMeta,
        plan: &plan::Model,
        at: i64,
        to: &str,
        deadline: i64,
    ) -> Result<Option<Scheduled>, DbErr> {
        let targets: Vec<TargetPlan> = serde_json::from_str(&plan.targets).unwrap_or_default();
        let planned = targets.iter().find(|t| t.starts_on == "transferred");
        let target = planned
            .map(|t| t.target.clone())
            .unwrap_or_else(|| TRANSFER_FORM.to_owned());
        let detail = format!("transfer form to {to}, due {}", time::rfc3339(deadline));
        let existing = clock::Entity::find()
            .filter(clock::Column::ComplaintId.eq(meta.complaint_id.as_str()))
            .filter(clock::Column::Target.eq(target.as_str()))
            .one(txn)
            .await?;
        let mut c = match existing {
            Some(c) => c,
            None => {
                let t = TargetPlan {
                    target: target.clone(),
                    within: WithinPlan::Hours {
                        ms: (deadline - at).max(1),
                    },
                    describe: "the transfer form's deadline".into(),
                    calendar: "24x7".into(),
                    warn_at: planned.map(|t| t.warn_at.clone()).unwrap_or_default(),
                    starts_on: "transferred".into(),
                    stops_on: planned
                        .map(|t| t.stops_on.clone())
                        .unwrap_or_else(|| "resolved".into()),
                };
                self.start(txn, meta, plan, &t, at, &BTreeMap::new())
                    .await?;
                match clock::Entity::find()
                    .filter(clock::Column::ComplaintId.eq(meta.complaint_id.as_str()))
                    .filter(clock::Column::Target.eq(target.as_str()))
                    .one(txn)
                    .await?
                {
                    Some(c) => c,
                    None => return Ok(None),
                }
            }
        };
        let cal = self.calendar(&c.calendar);
        c.state = "running".into();
        c.started_at = at;
        c.segment_start = at;
        c.consumed_ms = 0;
        c.warned_pct = 0;
        c.ended_at = 0;
        c.paused_at = 0;
        c.deadline = deadline.max(at);
        c.allowance_ms = elapsed(&cal, at, c.deadline).0.max(1);
        c.within = "the transfer form's deadline".into();
        c.department = to.to_owned();
        c.next_fire_at = next_fire(&cal, &c);
        c.history = push_history(&c.history, at, "transferred", &detail);
        c.updated_at = time::now_ms();
        clock::Entity::update(to_active(&c)).exec(txn).await?;
        Ok(uuid::Uuid::parse_str(&c.clock_id).ok().map(|id| Scheduled {
            clock_id: id.as_u128(),
            fire_at: c.next_fire_at,
        }))
    }

    async fn start(
        &self,
        txn: &DatabaseTransaction,
        meta: &v1::EventMeta,
        plan: &plan::Model,
        t: &TargetPlan,
        at: i64,
        seen: &BTreeMap<String, i64>,
    ) -> Result<Option<Scheduled>, DbErr> {
        let cal = self.calendar(&t.calendar);
        let mut notes = Vec::new();
        let deadline = match &t.within {
            WithinPlan::Hours { ms } => at + ms,
            WithinPlan::BusinessTime { ms } => {
                let (d, note) = advance(&cal, at, *ms);
                notes.extend(note);
                d
            }
            WithinPlan::WorkingDays { n } => match cal.add_working_days(utc(at), *n) {
                Ok(d) => d.timestamp_millis(),
                Err(e) => {
                    notes.push(e.to_string());
                    at + i64::from(*n) * 86_400_000
                }
            },
        };
        // Calendar-time targets count wall time: their allowance is on 24x7.
        let calendar = match t.within {
            WithinPlan::Hours { .. } => "24x7".to_owned(),
            _ => t.calendar.clone(),
        };
        let count_cal = self.calendar(&calendar);
        let (allowance, note) = elapsed(&count_cal, at, deadline);
        notes.extend(note);
        let mut history = push_history(
            "[]",
            at,
            "started",
            &format!("{} ({})", t.describe, plan.policy),
        );
        for n in &notes {
            tracing::warn!(ticket = %meta.ticket_no, target = %t.target, "{n}; counted in calendar time");
            history = push_history(
                &history,
                at,
                "calendar",
                &format!("{n}; counted in calendar time"),
            );
        }
        let clock_id = uuid::Uuid::now_v7();
        let mut model = clock::Model {
            clock_id: clock_id.to_string(),
            complaint_id: meta.complaint_id.clone(),
            ticket_no: meta.ticket_no.clone(),
            target: t.target.clone(),
            policy: plan.policy.clone(),
            calendar,
            within: t.describe.clone(),
            stops_on: t.stops_on.clone(),
            state: "running".into(),
            started_at: at,
            deadline,
            allowance_ms: allowance.max(1),
            consumed_ms: 0,
            segment_start: at,
            warn_at: t
                .warn_at
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            warned_pct: 0,
            next_fire_at: 0,
            ended_at: 0,
            paused_at: 0,
            department: plan.department.clone(),
            history,
            updated_at: time::now_ms(),
        };
        model.next_fire_at = next_fire(&count_cal, &model);
        let inserted = clock::Entity::insert(to_active(&model))
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    clock::Column::ComplaintId,
                    clock::Column::Target,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        outbox::enqueue(
            txn,
            &v1::SlaClockStarted {
                meta: Some(events::meta(
                    SOURCE,
                    &meta.complaint_id,
                    &meta.ticket_no,
                    meta.complaint_version,
                )),
                clock_id: model.clock_id.clone(),
                target: model.target.clone(),
                started_at: Some(time::to_timestamp(at)),
                deadline: Some(time::to_timestamp(deadline)),
                policy: model.policy.clone(),
            },
        )
        .await?;
        // Its stop already happened (the events arrived out of order): met at once.
        if let Some(stop) = seen.get(&t.stops_on).copied() {
            self.meet(txn, model, stop.max(at)).await?;
            return Ok(None);
        }
        Ok(Some(Scheduled {
            clock_id: clock_id.as_u128(),
            fire_at: model.next_fire_at,
        }))
    }

    async fn meet(&self, txn: &DatabaseTransaction, c: clock::Model, at: i64) -> Result<(), DbErr> {
        let cal = self.calendar(&c.calendar);
        let used = c.consumed_ms
            + if c.state == "running" || c.state == "breached" {
                elapsed(&cal, c.segment_start, at).0
            } else {
                0
            };
        let margin_ms = c.allowance_ms - used;
        let history = push_history(
            &c.history,
            at,
            "met",
            &if margin_ms >= 0 {
                format!("in time, {}s to spare", margin_ms / 1000)
            } else {
                format!("late by {}s", -margin_ms / 1000)
            },
        );
        let done = clock::Entity::update_many()
            .col_expr(clock::Column::State, Expr::value("met"))
            .col_expr(clock::Column::EndedAt, Expr::value(at))
            .col_expr(clock::Column::ConsumedMs, Expr::value(used))
            .col_expr(clock::Column::NextFireAt, Expr::value(0))
            .col_expr(clock::Column::History, Expr::value(history))
            .col_expr(clock::Column::UpdatedAt, Expr::value(time::now_ms()))
            .filter(clock::Column::ClockId.eq(c.clock_id.as_str()))
            .filter(clock::Column::State.eq(c.state.as_str()))
            .exec(txn)
            .await?;
        if done.rows_affected == 1 {
            outbox::enqueue(
                txn,
                &v1::SlaClockMet {
                    meta: Some(events::meta(SOURCE, &c.complaint_id, &c.ticket_no, 0)),
                    clock_id: c.clock_id,
                    target: c.target,
                    deadline: Some(time::to_timestamp(c.deadline)),
                    met_at: Some(time::to_timestamp(at)),
                    margin_seconds: margin_ms / 1000,
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn pause(
        &self,
        txn: &DatabaseTransaction,
        meta: &v1::EventMeta,
        at: i64,
    ) -> Result<Vec<Scheduled>, DbErr> {
        let running = clock::Entity::find()
            .filter(clock::Column::ComplaintId.eq(meta.complaint_id.as_str()))
            .filter(clock::Column::State.eq("running"))
            .all(txn)
            .await?;
        for c in running {
            let cal = self.calendar(&c.calendar);
            let used = c.consumed_ms + elapsed(&cal, c.segment_start, at.max(c.segment_start)).0;
            clock::Entity::update_many()
                .col_expr(clock::Column::State, Expr::value("paused"))
                .col_expr(clock::Column::ConsumedMs, Expr::value(used))
                .col_expr(clock::Column::PausedAt, Expr::value(at))
                .col_expr(clock::Column::NextFireAt, Expr::value(0))
                .col_expr(
                    clock::Column::History,
                    Expr::value(push_history(
                        &c.history,
                        at,
                        "paused",
                        "awaiting the customer",
                    )),
                )
                .col_expr(clock::Column::UpdatedAt, Expr::value(time::now_ms()))
                .filter(clock::Column::ClockId.eq(c.clock_id.as_str()))
                .filter(clock::Column::State.eq("running"))
                .exec(txn)
                .await?;
        }
        Ok(Vec::new())
    }

    async fn resume(
        &self,
        txn: &DatabaseTransaction,
        meta: &v1::EventMeta,
        at: i64,
    ) -> Result<Vec<Scheduled>, DbErr> {
        let paused = clock::Entity::find()
            .filter(clock::Column::ComplaintId.eq(meta.complaint_id.as_str()))
            .filter(clock::Column::State.eq("paused"))
            .all(txn)
            .await?;
        let mut out = Vec::new();
        for mut c in paused {
            let cal = self.calendar(&c.calendar);
            let at = at.max(c.paused_at);
            let remaining = c.allowance_ms - c.consumed_ms;
            let (deadline, _) = advance(&cal, at, remaining);
            c.state = "running".into();
            c.segment_start = at;
            c.deadline = deadline.max(at);
            c.next_fire_at = next_fire(&cal, &c);
            let detail = format!("resumed; new deadline {}", time::rfc3339(c.deadline));
            let done = clock::Entity::update_many()
                .col_expr(clock::Column::State, Expr::value("running"))
                .col_expr(clock::Column::SegmentStart, Expr::value(at))
                .col_expr(clock::Column::Deadline, Expr::value(c.deadline))
                .col_expr(clock::Column::NextFireAt, Expr::value(c.next_fire_at))
                .col_expr(
                    clock::Column::History,
                    Expr::value(push_history(&c.history, at, "resumed", &detail)),
                )
                .col_expr(clock::Column::UpdatedAt, Expr::value(time::now_ms()))
                .filter(clock::Column::ClockId.eq(c.clock_id.as_str()))
                .filter(clock::Column::State.eq("paused"))
                .exec(txn)
                .await?;
            if done.rows_affected == 1 {
                if let Ok(id) = uuid::Uuid::parse_str(&c.clock_id) {
                    out.push(Scheduled {
                        clock_id: id.as_u128(),
                        fire_at: c.next_fire_at,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Looks at a running clock whose timer is due: announces the warning thresholds
    /// crossed and breaches it at the deadline, each at most once (the update only
    /// applies while the row still holds the `next_fire_at` this replica read).
    /// Returns whether the clock changed, and its next timer, if any.
    pub async fn fire(
        &self,
        txn: &DatabaseTransaction,
        c: clock::Model,
        now: i64,
    ) -> Result<(bool, Option<Scheduled>), DbErr> {
        if c.state != "running" || c.next_fire_at == 0 || c.next_fire_at > now {
            return Ok((false, None));
        }
        let cal = self.calendar(&c.calendar);
        let used = c.consumed_ms + elapsed(&cal, c.segment_start, now).0;
        let pct = (used.saturating_mul(100) / c.allowance_ms.max(1)).clamp(0, 100) as i32;
        let breach = now >= c.deadline;
        let mut warned = c.warned_pct;
        let mut history = c.history.clone();
        let meta = events::meta(SOURCE, &c.complaint_id, &c.ticket_no, 0);
        let mut owed: Vec<v1::SlaClockWarning> = Vec::new();
        for p in warn_list(&c.warn_at) {
            let p = p as i32;
            if p > warned && (p <= pct || breach) {
                warned = p;
                history = push_history(&history, now, "warning", &format!("{p}% of the time used"));
                owed.push(v1::SlaClockWarning {
                    meta: Some(events::meta(SOURCE, &c.complaint_id, &c.ticket_no, 0)),
                    clock_id: c.clock_id.clone(),
                    target: c.target.clone(),
                    deadline: Some(time::to_timestamp(c.deadline)),
                    threshold_percent: p as u32,
                });
            }
        }
        let mut next = c.clone();
        next.warned_pct = warned;
        let (state, ended_at, next_fire_at) = if breach {
            history = push_history(
                &history,
                now,
                "breached",
                &format!("{}ms after the deadline", now - c.deadline),
            );
            ("breached", now, 0)
        } else {
            ("running", 0, next_fire(&cal, &next).max(now + 1))
        };
        let done = clock::Entity::update_many()
            .col_expr(clock::Column::State, Expr::value(state))
            .col_expr(clock::Column::WarnedPct, Expr::value(warned))
            .col_expr(clock::Column::EndedAt, Expr::value(ended_at))
            .col_expr(clock::Column::NextFireAt, Expr::value(next_fire_at))
            .col_expr(clock::Column::History, Expr::value(history))
            .col_expr(clock::Column::UpdatedAt, Expr::value(time::now_ms()))
            .filter(clock::Column::ClockId.eq(c.clock_id.as_str()))
            .filter(clock::Column::State.eq("running"))
            .filter(clock::Column::NextFireAt.eq(c.next_fire_at))
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Ok((false, None));
        }
        for w in owed {
            outbox::enqueue(txn, &w).await?;
        }
        if breach {
            tracing::info!(ticket = %c.ticket_no, target = %c.target, late_ms = now - c.deadline, "SLA breached");
            outbox::enqueue(
                txn,
                &v1::SlaClockBreached {
                    meta: Some(meta),
                    clock_id: c.clock_id.clone(),
                    target: c.target.clone(),
                    deadline: Some(time::to_timestamp(c.deadline)),
                    breached_at: Some(time::to_timestamp(now)),
                },
            )
            .await?;
            return Ok((true, None));
        }
        let next = uuid::Uuid::parse_str(&c.clock_id).ok().map(|id| Scheduled {
            clock_id: id.as_u128(),
            fire_at: next_fire_at,
        });
        Ok((true, next))
    }
}

fn seen_map(text: &str) -> BTreeMap<String, i64> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The complaint's plan, locked for this transaction. Events about one complaint
/// arrive on several consumers at once (complaints, routing, transfers); the row lock
/// (`FOR UPDATE` on PostgreSQL; SQLite has one writer anyway) makes them take turns, so
/// no consumer overwrites what another just wrote. The row is created first if missing,
/// so there is always a row to lock.
async fn load_plan(txn: &DatabaseTransaction, meta: &v1::EventMeta) -> Result<plan::Model, DbErr> {
    plan::Entity::insert(plan::ActiveModel {
        complaint_id: Set(meta.complaint_id.clone()),
        ticket_no: Set(meta.ticket_no.clone()),
        policy: Set(String::new()),
        targets: Set("[]".into()),
        seen: Set("{}".into()),
        department: Set(String::new()),
        updated_at: Set(time::now_ms()),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(plan::Column::ComplaintId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    plan::Entity::find_by_id(meta.complaint_id.clone())
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("plan of {}", meta.complaint_id)))
}

async fn save_plan(txn: &DatabaseTransaction, p: &plan::Model) -> Result<(), DbErr> {
    let am = plan::ActiveModel {
        complaint_id: Set(p.complaint_id.clone()),
        ticket_no: Set(p.ticket_no.clone()),
        policy: Set(p.policy.clone()),
        targets: Set(p.targets.clone()),
        seen: Set(p.seen.clone()),
        department: Set(p.department.clone()),
        updated_at: Set(time::now_ms()),
    };
    plan::Entity::insert(am)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(plan::Column::ComplaintId)
                .update_columns([
                    plan::Column::TicketNo,
                    plan::Column::Policy,
                    plan::Column::Targets,
                    plan::Column::Seen,
                    plan::Column::Department,
                    plan::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

fn to_active(m: &clock::Model) -> clock::ActiveModel {
    clock::ActiveModel {
        clock_id: Set(m.clock_id.clone()),
        complaint_id: Set(m.complaint_id.clone()),
        ticket_no: Set(m.ticket_no.clone()),
        target: Set(m.target.clone()),
        policy: Set(m.policy.clone()),
        calendar: Set(m.calendar.clone()),
        within: Set(m.within.clone()),
        stops_on: Set(m.stops_on.clone()),
        state: Set(m.state.clone()),
        started_at: Set(m.started_at),
        deadline: Set(m.deadline),
        allowance_ms: Set(m.allowance_ms),
        consumed_ms: Set(m.consumed_ms),
        segment_start: Set(m.segment_start),
        warn_at: Set(m.warn_at.clone()),
        warned_pct: Set(m.warned_pct),
        next_fire_at: Set(m.next_fire_at),
        ended_at: Set(m.ended_at),
        paused_at: Set(m.paused_at),
        department: Set(m.department.clone()),
        history: Set(m.history.clone()),
        updated_at: Set(m.updated_at),
    }
}
