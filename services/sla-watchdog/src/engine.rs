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
//!
//! Events are applied in memory ([`Engine::apply`] on a [`Complaint`]: the plan and all
//! clocks of one complaint), so a batch of events is read and written with a few
//! statements whatever its size (`crate::batch`). Timers fire through the store
//! ([`Engine::fire`]), one conditional update per clock.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, TimeZone, Utc};
use ombuds_calendar::{Calendar, Calendars};
use ombuds_platform::{events, outbox, time};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// An event the clocks owe, written to the outbox with the batch that caused it.
#[derive(Debug, Clone, PartialEq)]
pub enum Owed {
    Started(v1::SlaClockStarted),
    Met(v1::SlaClockMet),
}

impl Owed {
    pub fn push_to(&self, pending: &mut outbox::Pending) {
        match self {
            Owed::Started(e) => pending.push(e),
            Owed::Met(e) => pending.push(e),
        }
    }
}

/// What applying events produced besides the changed rows: the events owed, in the
/// order they happened, and the timers to schedule once the transaction commits.
#[derive(Debug, Default)]
pub struct Effects {
    pub owed: Vec<Owed>,
    pub scheduled: Vec<Scheduled>,
}

/// How a clock held in memory differs from its stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    /// Not stored yet: inserted.
    New,
    /// Stored, then changed: written back.
    Changed,
}

/// A clock held in memory and what became of it.
#[derive(Debug, Clone)]
pub struct ClockRow {
    pub model: clock::Model,
    pub change: Change,
}

impl ClockRow {
    fn touch(&mut self) {
        if self.change == Change::Unchanged {
            self.change = Change::Changed;
        }
    }
}

/// One complaint as the engine sees it: its plan (the policy's targets snapshotted on
/// `complaint.received`, the triggers already seen, the department) and every clock it
/// has. A batch loads the complaints its events are about, [`Engine::apply`] changes
/// them in memory, and the batch writes back what changed (`crate::batch`).
#[derive(Debug, Clone)]
pub struct Complaint {
    pub complaint_id: String,
    pub ticket_no: String,
    /// `<pack>@<version>/<policy>`; empty until `complaint.received` arrives.
    pub policy: String,
    pub targets: Vec<TargetPlan>,
    /// Trigger name → the first time it was seen (ms).
    pub seen: BTreeMap<String, i64>,
    pub department: String,
    /// Whether the plan differs from its stored row (or has none).
    pub plan_changed: bool,
    /// In target order.
    pub clocks: Vec<ClockRow>,
}

impl Complaint {
    /// A complaint the store knows nothing of yet.
    pub fn new(complaint_id: &str, ticket_no: &str) -> Self {
        Self {
            complaint_id: complaint_id.to_owned(),
            ticket_no: ticket_no.to_owned(),
            policy: String::new(),
            targets: Vec::new(),
            seen: BTreeMap::new(),
            department: String::new(),
            plan_changed: true,
            clocks: Vec::new(),
        }
    }

    /// A complaint from its stored plan (its clocks are added with [`Complaint::add_stored`]).
    pub fn from_plan(p: plan::Model) -> Self {
        Self {
            targets: serde_json::from_str(&p.targets).unwrap_or_default(),
            seen: serde_json::from_str(&p.seen).unwrap_or_default(),
            complaint_id: p.complaint_id,
            ticket_no: p.ticket_no,
            policy: p.policy,
            department: p.department,
            plan_changed: false,
            clocks: Vec::new(),
        }
    }

    /// Adds a stored clock.
    pub fn add_stored(&mut self, c: clock::Model) {
        self.insert(ClockRow {
            model: c,
            change: Change::Unchanged,
        });
    }

    /// Clocks are kept in target order: the order a trigger meets them in, so the
    /// events owed come out in the same order however the complaint was loaded.
    fn insert(&mut self, k: ClockRow) {
        let at = self
            .clocks
            .partition_point(|c| c.model.target < k.model.target);
        self.clocks.insert(at, k);
    }

    /// The plan row to store.
    pub fn plan(&self) -> plan::Model {
        plan::Model {
            complaint_id: self.complaint_id.clone(),
            ticket_no: self.ticket_no.clone(),
            policy: self.policy.clone(),
            targets: serde_json::to_string(&self.targets).unwrap_or_else(|_| "[]".into()),
            seen: serde_json::to_string(&self.seen).unwrap_or_else(|_| "{}".into()),
            department: self.department.clone(),
            updated_at: time::now_ms(),
        }
    }

    fn clock(&self, target: &str) -> Option<&ClockRow> {
        self.clocks.iter().find(|k| k.model.target == target)
    }

    fn clock_mut(&mut self, target: &str) -> Option<&mut ClockRow> {
        self.clocks.iter_mut().find(|k| k.model.target == target)
    }

    fn set_department(&mut self, department: &str) {
        if self.department != department {
            self.department = department.to_owned();
            self.plan_changed = true;
        }
    }
}

/// Open clocks can still be met.
fn is_open(state: &str) -> bool {
    matches!(state, "running" | "paused" | "breached")
}

/// The timer of a clock that was just written.
fn scheduled(c: &clock::Model) -> Option<Scheduled> {
    uuid::Uuid::parse_str(&c.clock_id).ok().map(|id| Scheduled {
        clock_id: id.as_u128(),
        fire_at: c.next_fire_at,
    })
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

    /// Applies one event to a complaint held in memory (its plan and every clock it
    /// has, see [`Complaint`]): the events it owes and the timers to schedule after the
    /// commit go to `fx`. Applying a batch's events one after the other to the same
    /// `Complaint` gives exactly the states that handling them one at a time, each in
    /// its own transaction, would store.
    pub fn apply(
        &self,
        c: &mut Complaint,
        meta: &v1::EventMeta,
        at: i64,
        action: Action,
        fx: &mut Effects,
    ) {
        match action {
            Action::Received(facts) => {
                if !c.policy.is_empty() {
                    return;
                }
                let Some((tag, targets)) = self.planner.plan(&facts) else {
                    tracing::warn!(ticket = %meta.ticket_no, "no SLA policy matches; no clocks started");
                    return;
                };
                c.policy = tag;
                c.targets = targets;
                c.seen.entry("received".into()).or_insert(at);
                c.plan_changed = true;
                // Start every target whose start trigger has been seen (received now,
                // others possibly earlier, out of order).
                let starts: Vec<(TargetPlan, i64)> = c
                    .targets
                    .iter()
                    .filter_map(|t| Some((t.clone(), *c.seen.get(&t.starts_on)?)))
                    .collect();
                for (t, start) in starts {
                    let stop = c.seen.get(&t.stops_on).copied();
                    fx.scheduled
                        .extend(self.start(c, meta, &t, start, stop, &mut fx.owed));
                }
            }
            Action::Assigned(department) => {
                c.set_department(&department);
                for k in &mut c.clocks {
                    if k.model.department != department {
                        k.model.department = department.clone();
                        k.touch();
                    }
                }
                self.trigger(c, meta, at, &["assigned"], fx);
            }
            Action::Transferred { to, deadline } => {
                c.set_department(&to);
                self.trigger(c, meta, at, &["transferred"], fx);
                fx.scheduled
                    .extend(self.transfer_form(c, meta, at, &to, deadline, &mut fx.owed));
            }
            Action::Trigger(names) => self.trigger(c, meta, at, names, fx),
            Action::Pause => self.pause(c, at),
            Action::Resume => self.resume(c, at, fx),
        }
    }

    fn trigger(
        &self,
        c: &mut Complaint,
        meta: &v1::EventMeta,
        at: i64,
        names: &[&str],
        fx: &mut Effects,
    ) {
        let mut fresh = Vec::new();
        for n in names {
            if !c.seen.contains_key(*n) {
                c.seen.insert((*n).to_owned(), at);
                fresh.push(*n);
            }
        }
        if !fresh.is_empty() {
            c.plan_changed = true;
        }
        // Meet the open clocks that stop on these triggers (every time they happen).
        for k in &mut c.clocks {
            if names.contains(&k.model.stops_on.as_str()) && is_open(&k.model.state) {
                self.meet(k, at, &mut fx.owed);
            }
        }
        // Start the planned targets these triggers start (first time only).
        let starts: Vec<TargetPlan> = c
            .targets
            .iter()
            .filter(|t| fresh.contains(&t.starts_on.as_str()))
            .cloned()
            .collect();
        for t in starts {
            let stop = c.seen.get(&t.stops_on).copied();
            fx.scheduled
                .extend(self.start(c, meta, &t, at, stop, &mut fx.owed));
        }
    }

    /// Runs the transfer form's clock on the form's own deadline: the planned target
    /// that starts on `transferred` if the policy has one, else `transfer_form` (met
    /// when the complaint is resolved). A later transfer restarts the same clock on the
    /// new form.
    fn transfer_form(
        &self,
        c: &mut Complaint,
        meta: &v1::EventMeta,
        at: i64,
        to: &str,
        deadline: i64,
        owed: &mut Vec<Owed>,
    ) -> Option<Scheduled> {
        let planned = c
            .targets
            .iter()
            .find(|t| t.starts_on == "transferred")
            .cloned();
        let target = planned
            .as_ref()
            .map(|t| t.target.clone())
            .unwrap_or_else(|| TRANSFER_FORM.to_owned());
        let detail = format!("transfer form to {to}, due {}", time::rfc3339(deadline));
        if c.clock(&target).is_none() {
            let t = TargetPlan {
                target: target.clone(),
                within: WithinPlan::Hours {
                    ms: (deadline - at).max(1),
                },
                describe: "the transfer form's deadline".into(),
                calendar: "24x7".into(),
                warn_at: planned
                    .as_ref()
                    .map(|t| t.warn_at.clone())
                    .unwrap_or_default(),
                starts_on: "transferred".into(),
                stops_on: planned
                    .as_ref()
                    .map(|t| t.stops_on.clone())
                    .unwrap_or_else(|| "resolved".into()),
            };
            self.start(c, meta, &t, at, None, owed);
        }
        let k = c.clock_mut(&target)?;
        let cal = self.calendar(&k.model.calendar);
        let m = &mut k.model;
        m.state = "running".into();
        m.started_at = at;
        m.segment_start = at;
        m.consumed_ms = 0;
        m.warned_pct = 0;
        m.ended_at = 0;
        m.paused_at = 0;
        m.deadline = deadline.max(at);
        m.allowance_ms = elapsed(&cal, at, m.deadline).0.max(1);
        m.within = "the transfer form's deadline".into();
        m.department = to.to_owned();
        m.next_fire_at = next_fire(&cal, m);
        m.history = push_history(&m.history, at, "transferred", &detail);
        m.updated_at = time::now_ms();
        let s = scheduled(m);
        k.touch();
        s
    }

    /// Starts a clock for target `t` unless the complaint already has one. `stop`: when
    /// the trigger that meets it was first seen, if it was (the events arrived out of
    /// order): then it is met at once.
    fn start(
        &self,
        c: &mut Complaint,
        meta: &v1::EventMeta,
        t: &TargetPlan,
        at: i64,
        stop: Option<i64>,
        owed: &mut Vec<Owed>,
    ) -> Option<Scheduled> {
        if c.clock(&t.target).is_some() {
            return None;
        }
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
            &format!("{} ({})", t.describe, c.policy),
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
        let mut model = clock::Model {
            clock_id: uuid::Uuid::now_v7().to_string(),
            complaint_id: meta.complaint_id.clone(),
            ticket_no: meta.ticket_no.clone(),
            target: t.target.clone(),
            policy: c.policy.clone(),
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
            department: c.department.clone(),
            history,
            updated_at: time::now_ms(),
        };
        model.next_fire_at = next_fire(&count_cal, &model);
        owed.push(Owed::Started(v1::SlaClockStarted {
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
        }));
        let mut k = ClockRow {
            model,
            change: Change::New,
        };
        let s = match stop {
            // Its stop already happened (the events arrived out of order): met at once.
            Some(stop) => {
                self.meet(&mut k, stop.max(at), owed);
                None
            }
            None => scheduled(&k.model),
        };
        c.insert(k);
        s
    }

    fn meet(&self, k: &mut ClockRow, at: i64, owed: &mut Vec<Owed>) {
        let c = &mut k.model;
        let cal = self.calendar(&c.calendar);
        let used = c.consumed_ms
            + if c.state == "running" || c.state == "breached" {
                elapsed(&cal, c.segment_start, at).0
            } else {
                0
            };
        let margin_ms = c.allowance_ms - used;
        c.history = push_history(
            &c.history,
            at,
            "met",
            &if margin_ms >= 0 {
                format!("in time, {}s to spare", margin_ms / 1000)
            } else {
                format!("late by {}s", -margin_ms / 1000)
            },
        );
        c.state = "met".into();
        c.ended_at = at;
        c.consumed_ms = used;
        c.next_fire_at = 0;
        c.updated_at = time::now_ms();
        owed.push(Owed::Met(v1::SlaClockMet {
            meta: Some(events::meta(SOURCE, &c.complaint_id, &c.ticket_no, 0)),
            clock_id: c.clock_id.clone(),
            target: c.target.clone(),
            deadline: Some(time::to_timestamp(c.deadline)),
            met_at: Some(time::to_timestamp(at)),
            margin_seconds: margin_ms / 1000,
        }));
        k.touch();
    }

    /// Pauses the running clocks; pausing a paused clock changes nothing.
    fn pause(&self, c: &mut Complaint, at: i64) {
        for k in &mut c.clocks {
            if k.model.state != "running" {
                continue;
            }
            let m = &mut k.model;
            let cal = self.calendar(&m.calendar);
            m.consumed_ms += elapsed(&cal, m.segment_start, at.max(m.segment_start)).0;
            m.state = "paused".into();
            m.paused_at = at;
            m.next_fire_at = 0;
            m.history = push_history(&m.history, at, "paused", "awaiting the customer");
            m.updated_at = time::now_ms();
            k.touch();
        }
    }

    /// Resumes the paused clocks; the deadline moves by the paused time. Resuming a
    /// running clock changes nothing.
    fn resume(&self, c: &mut Complaint, at: i64, fx: &mut Effects) {
        for k in &mut c.clocks {
            if k.model.state != "paused" {
                continue;
            }
            let m = &mut k.model;
            let cal = self.calendar(&m.calendar);
            let at = at.max(m.paused_at);
            let remaining = m.allowance_ms - m.consumed_ms;
            let (deadline, _) = advance(&cal, at, remaining);
            m.state = "running".into();
            m.segment_start = at;
            m.deadline = deadline.max(at);
            m.next_fire_at = next_fire(&cal, m);
            let detail = format!("resumed; new deadline {}", time::rfc3339(m.deadline));
            m.history = push_history(&m.history, at, "resumed", &detail);
            m.updated_at = time::now_ms();
            fx.scheduled.extend(scheduled(m));
            k.touch();
        }
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

pub(crate) fn to_active(m: &clock::Model) -> clock::ActiveModel {
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
