//! Escalation: when the SLA watchdog says a clock is at risk or late, the complaint
//! goes up a ladder of people who must look at it.
//!
//! Routing consumes `sla.warning` and `sla.breached` (stream `SLA`, durable
//! `routing-sla`, filter `sla.>`; other SLA events are acked and ignored). The ladder
//! is `OMBUDS_ESCALATION_LADDER`, a comma-separated list of rungs, level 1 first
//! (default `lead,manager,duty_manager`):
//!
//! - `lead` and `manager` are roles in the complaint's department and become
//!   `<department>:lead` and `<department>:manager`;
//! - a rung holding `{department}` is a template (`{department}:director`);
//! - any other rung is one person or role for the whole organisation (`duty_manager`).
//!
//! **The rule.** A complaint starts at level 0 (not escalated).
//!
//! - A warning whose `threshold_percent` is at or above
//!   `OMBUDS_ESCALATE_WARNING_PERCENT` (default 80) asks for level 1; a lower warning
//!   asks for nothing.
//! - A breach asks for one level above the current one, and at least level 2.
//! - What is asked for is capped at the top of the ladder. The complaint is escalated
//!   only if that is above its current level: levels never go down, and a complaint at
//!   the top stays there.
//! - Each clock event escalates at most once: the inbox drops a redelivered event (same
//!   `meta.event_id`), and a second breach of the same clock (a different event id)
//!   changes nothing. `escalations` is unique on (complaint, level), and the level on
//!   `assignments` is raised with a conditional update, so two replicas handling two
//!   events of one complaint at once never both take it to the same level.
//!
//! An escalation writes a row in `escalations`, raises `assignments.escalation_level`
//! and owes a `routing.escalated` event (outbox), all in the transaction that records
//! the event in the inbox. An SLA event about a complaint routing has not assigned yet
//! is retried (the `complaint.received` it waits for is on another stream).
//!
//! Example with the default ladder, complaint in `technical`: warning 50% → nothing;
//! warning 80% → level 1 `technical:lead`; breach → level 2 `technical:manager`;
//! another clock's breach → level 3 `duty_manager`; any later breach → nothing.

use ombuds_platform::{
    config::{Config, ConfigError},
    consumer::{Delivery, Outcome},
    events::{self, Event},
    inbox, outbox,
    time::now_ms,
};
use ombuds_proto::v1;
use prometheus_client::encoding::EncodeLabelSet;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};

use crate::entity::{assignment, escalation};

/// The durable consumer of `sla.>`; also the inbox's consumer name.
pub const CONSUMER: &str = "routing-sla";
/// The ladder when `OMBUDS_ESCALATION_LADDER` is unset.
pub const DEFAULT_LADDER: &str = "lead,manager,duty_manager";
/// The warning threshold when `OMBUDS_ESCALATE_WARNING_PERCENT` is unset.
pub const DEFAULT_WARNING_PERCENT: u32 = 80;
/// The placeholder a rung may hold for the complaint's department.
pub const DEPARTMENT: &str = "{department}";

/// The escalation ladder: rung templates, level 1 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    rungs: Vec<String>,
}

impl Ladder {
    /// Parses `lead,manager,duty_manager`; the message says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rungs: Vec<String> = Vec::new();
        for (i, raw) in text.split(',').enumerate() {
            let rung = raw.trim();
            let at = format!("rung {}", i + 1);
            if rung.is_empty() {
                return Err(format!("{at} is empty"));
            }
            let plain = rung.replace(DEPARTMENT, "");
            if let Some(c) = plain
                .chars()
                .find(|c| !(c.is_alphanumeric() || "_-:.@".contains(*c)))
            {
                return Err(format!(
                    "{at} {rung:?} holds {c:?}; use letters, digits, '_', '-', ':', '.', '@' \
                     and the placeholder {DEPARTMENT}"
                ));
            }
            let template = match rung {
                "lead" | "manager" => format!("{DEPARTMENT}:{rung}"),
                _ => rung.to_owned(),
            };
            if rungs.contains(&template) {
                return Err(format!("{at} {rung:?} repeats an earlier rung"));
            }
            rungs.push(template);
        }
        Ok(Self { rungs })
    }

    /// The highest level.
    pub fn top(&self) -> u32 {
        u32::try_from(self.rungs.len()).unwrap_or(u32::MAX)
    }

    /// The rung templates, level 1 first.
    pub fn rungs(&self) -> &[String] {
        &self.rungs
    }

    /// Who `level` (1-based) is for a complaint in `department`.
    pub fn recipient(&self, level: u32, department: &str) -> String {
        let i = usize::try_from(level.max(1) - 1).unwrap_or(usize::MAX);
        let template = self
            .rungs
            .get(i)
            .or(self.rungs.last())
            .map(String::as_str)
            .unwrap_or_default();
        template.replace(DEPARTMENT, department)
    }
}

/// The escalation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationSettings {
    /// `OMBUDS_ESCALATION_LADDER`.
    pub ladder: Ladder,
    /// `OMBUDS_ESCALATE_WARNING_PERCENT`: the least warning threshold that escalates.
    pub warning_percent: u32,
}

impl EscalationSettings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let key = "OMBUDS_ESCALATION_LADDER";
        let text = cfg.string(key, DEFAULT_LADDER);
        let ladder = Ladder::parse(&text).map_err(|message| ConfigError::Invalid {
            key: key.to_owned(),
            value: text.clone(),
            message,
        })?;
        let key = "OMBUDS_ESCALATE_WARNING_PERCENT";
        let warning_percent: u32 = cfg.parse(key, DEFAULT_WARNING_PERCENT)?;
        if !(1..=100).contains(&warning_percent) {
            return Err(ConfigError::Invalid {
                key: key.to_owned(),
                value: warning_percent.to_string(),
                message: "expected a percentage from 1 to 100".to_owned(),
            });
        }
        Ok(Self {
            ladder,
            warning_percent,
        })
    }
}

impl Default for EscalationSettings {
    fn default() -> Self {
        Self {
            ladder: Ladder {
                rungs: vec![
                    format!("{DEPARTMENT}:lead"),
                    format!("{DEPARTMENT}:manager"),
                    "duty_manager".to_owned(),
                ],
            },
            warning_percent: DEFAULT_WARNING_PERCENT,
        }
    }
}

/// The clock event that may escalate a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `sla.warning` at this threshold.
    Warning { percent: u32 },
    /// `sla.breached`.
    Breach,
}

impl Trigger {
    /// As stored in `escalations.trigger`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning { .. } => "warning",
            Self::Breach => "breach",
        }
    }

    /// The human-readable reason recorded and sent.
    pub fn reason(self, target: &str) -> String {
        let target = match target.trim() {
            "" => "SLA",
            t => t,
        };
        match self {
            Self::Warning { percent } => {
                format!("sla.warning: {percent}% of the {target} time used")
            }
            Self::Breach => format!("sla.breached: the {target} deadline passed"),
        }
    }
}

/// The level `trigger` takes a complaint at `current` to, or `None` when it stays
/// (see the module documentation for the rule).
pub fn next_level(current: u32, trigger: Trigger, top: u32, warning_percent: u32) -> Option<u32> {
    let wanted = match trigger {
        Trigger::Warning { percent } if percent >= warning_percent => 1,
        Trigger::Warning { .. } => return None,
        Trigger::Breach => current.saturating_add(1).max(2),
    };
    let wanted = wanted.min(top);
    (wanted > current).then_some(wanted)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LevelLabels {
    pub level: u32,
}

/// A decoded clock event: (meta, trigger, clock_id, target).
type ClockEvent = (v1::EventMeta, Trigger, String, String);

fn read(d: &Delivery) -> Result<Option<ClockEvent>, Outcome> {
    let (meta, trigger, clock_id, target) = match d.subject.as_str() {
        s if s == v1::SlaClockWarning::SUBJECT => {
            let e: v1::SlaClockWarning = d.decode()?;
            let trigger = Trigger::Warning {
                percent: e.threshold_percent,
            };
            (e.meta, trigger, e.clock_id, e.target)
        }
        s if s == v1::SlaClockBreached::SUBJECT => {
            let e: v1::SlaClockBreached = d.decode()?;
            (e.meta, Trigger::Breach, e.clock_id, e.target)
        }
        // sla.started, sla.met and anything newer: nothing to escalate.
        _ => return Ok(None),
    };
    let Some(meta) = meta else {
        return Err(Outcome::poison(
            "invalid",
            format!("{} without meta", d.subject),
        ));
    };
    if meta.event_id.is_empty() || meta.complaint_id.is_empty() {
        return Err(Outcome::poison(
            "invalid",
            format!("{} without event_id or complaint_id", d.subject),
        ));
    }
    Ok(Some((meta, trigger, clock_id, target)))
}

/// What handling one clock event did.
enum Handled {
    Escalated(escalation::Model),
    Unchanged,
    UnknownComplaint,
    Raced,
}

impl crate::State {
    /// Handles one message on `sla.>`: escalates on warnings and breaches (see the
    /// module documentation).
    pub async fn on_sla(&self, d: Delivery) -> Outcome {
        let (meta, trigger, clock_id, target) = match read(&d) {
            Ok(Some(ev)) => ev,
            Ok(None) => return Outcome::Done,
            Err(o) => return o,
        };
        let settings = &self.escalation;
        if let Trigger::Warning { percent } = trigger {
            if percent < settings.warning_percent {
                // Below the threshold: no effect to record.
                return Outcome::Done;
            }
        }
        let txn = match inbox::begin_once(&self.db, CONSUMER, &meta.event_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return Outcome::Duplicate,
            Err(e) => return e.into(),
        };
        let handled = match self
            .escalate(&txn, &meta, trigger, &clock_id, &target)
            .await
        {
            Ok(h) => h,
            Err(e) => return e.into(),
        };
        match handled {
            Handled::UnknownComplaint => {
                let _ = txn.rollback().await;
                Outcome::retry(format!("complaint {} is not routed yet", meta.complaint_id))
            }
            Handled::Raced => {
                let _ = txn.rollback().await;
                Outcome::retry(format!(
                    "complaint {} was escalated meanwhile",
                    meta.complaint_id
                ))
            }
            Handled::Unchanged => match txn.commit().await {
                Ok(()) => Outcome::Done,
                Err(e) => e.into(),
            },
            Handled::Escalated(row) => {
                if let Err(e) = txn.commit().await {
                    return e.into();
                }
                self.outbox.wake();
                self.escalated
                    .get_or_create(&LevelLabels {
                        level: u32::try_from(row.level).unwrap_or(0),
                    })
                    .inc();
                tracing::info!(
                    complaint_id = %row.complaint_id,
                    level = row.level,
                    escalated_to = %row.escalated_to,
                    clock_id = %row.clock_id,
                    reason = %row.reason,
                    "complaint escalated"
                );
                Outcome::Done
            }
        }
    }

    async fn escalate(
        &self,
        txn: &DatabaseTransaction,
        meta: &v1::EventMeta,
        trigger: Trigger,
        clock_id: &str,
        target: &str,
    ) -> Result<Handled, sea_orm::DbErr> {
        let Some(a) = assignment::Entity::find_by_id(meta.complaint_id.clone())
            .one(txn)
            .await?
        else {
            return Ok(Handled::UnknownComplaint);
        };
        if trigger == Trigger::Breach && !clock_id.is_empty() {
            let seen = escalation::Entity::find()
                .filter(escalation::Column::ComplaintId.eq(a.complaint_id.as_str()))
                .filter(escalation::Column::ClockId.eq(clock_id))
                .filter(escalation::Column::Trigger.eq(Trigger::Breach.as_str()))
                .one(txn)
                .await?;
            if seen.is_some() {
                // The same clock breached twice (a different event id): once is enough.
                return Ok(Handled::Unchanged);
            }
        }
        let settings = &self.escalation;
        let current = u32::try_from(a.escalation_level).unwrap_or(0);
        let Some(level) = next_level(
            current,
            trigger,
            settings.ladder.top(),
            settings.warning_percent,
        ) else {
            return Ok(Handled::Unchanged);
        };
        let to = settings.ladder.recipient(level, &a.department);
        let level_i32 = i32::try_from(level).unwrap_or(i32::MAX);
        let done = assignment::Entity::update_many()
            .col_expr(assignment::Column::EscalationLevel, Expr::value(level_i32))
            .col_expr(assignment::Column::EscalatedTo, Expr::value(to.clone()))
            .filter(assignment::Column::ComplaintId.eq(a.complaint_id.as_str()))
            .filter(assignment::Column::EscalationLevel.eq(a.escalation_level))
            .exec(txn)
            .await?;
        if done.rows_affected != 1 {
            return Ok(Handled::Raced);
        }
        let row = escalation::Model {
            escalation_id: uuid::Uuid::now_v7().to_string(),
            complaint_id: a.complaint_id.clone(),
            level: level_i32,
            escalated_to: to,
            reason: trigger.reason(target),
            trigger: trigger.as_str().to_owned(),
            clock_id: clock_id.to_owned(),
            target: target.to_owned(),
            at: now_ms(),
        };
        escalation::Entity::insert(escalation::ActiveModel {
            escalation_id: Set(row.escalation_id.clone()),
            complaint_id: Set(row.complaint_id.clone()),
            level: Set(row.level),
            escalated_to: Set(row.escalated_to.clone()),
            reason: Set(row.reason.clone()),
            trigger: Set(row.trigger.clone()),
            clock_id: Set(row.clock_id.clone()),
            target: Set(row.target.clone()),
            at: Set(row.at),
        })
        .exec_without_returning(txn)
        .await?;
        let ticket_no = if a.ticket_no.is_empty() {
            meta.ticket_no.clone()
        } else {
            a.ticket_no.clone()
        };
        let version = u64::try_from(a.complaint_version)
            .unwrap_or(0)
            .max(meta.complaint_version);
        outbox::enqueue(
            txn,
            &v1::ComplaintEscalated {
                meta: Some(events::meta(
                    crate::SOURCE,
                    &a.complaint_id,
                    &ticket_no,
                    version,
                )),
                level,
                escalated_to: row.escalated_to.clone(),
                reason: row.reason.clone(),
                target: row.target.clone(),
                clock_id: row.clock_id.clone(),
                department: a.department.clone(),
            },
        )
        .await?;
        Ok(Handled::Escalated(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W80: Trigger = Trigger::Warning { percent: 80 };

    #[test]
    fn warnings_at_the_threshold_go_to_level_one_once() {
        assert_eq!(next_level(0, W80, 3, 80), Some(1));
        assert_eq!(
            next_level(0, Trigger::Warning { percent: 95 }, 3, 80),
            Some(1)
        );
        assert_eq!(next_level(0, Trigger::Warning { percent: 50 }, 3, 80), None);
        assert_eq!(next_level(0, Trigger::Warning { percent: 79 }, 3, 80), None);
        assert_eq!(next_level(1, W80, 3, 80), None, "already there");
        assert_eq!(next_level(2, W80, 3, 80), None, "never downwards");
        assert_eq!(
            next_level(0, Trigger::Warning { percent: 50 }, 3, 50),
            Some(1)
        );
    }

    #[test]
    fn breaches_go_one_up_at_least_to_two_never_past_the_top() {
        assert_eq!(next_level(0, Trigger::Breach, 3, 80), Some(2));
        assert_eq!(next_level(1, Trigger::Breach, 3, 80), Some(2));
        assert_eq!(next_level(2, Trigger::Breach, 3, 80), Some(3));
        assert_eq!(next_level(3, Trigger::Breach, 3, 80), None);
        assert_eq!(next_level(0, Trigger::Breach, 1, 80), Some(1), "capped");
        assert_eq!(next_level(1, Trigger::Breach, 1, 80), None);
        assert_eq!(next_level(5, Trigger::Breach, 3, 80), None);
    }

    #[test]
    fn the_default_ladder_names_department_roles_then_the_duty_manager() {
        let l = Ladder::parse(DEFAULT_LADDER).expect("valid");
        assert_eq!(l, EscalationSettings::default().ladder);
        assert_eq!(l.top(), 3);
        assert_eq!(l.recipient(1, "technical"), "technical:lead");
        assert_eq!(l.recipient(2, "technical"), "technical:manager");
        assert_eq!(l.recipient(3, "technical"), "duty_manager");
        let l = Ladder::parse(" lead , {department}:director,ceo@hq ").expect("valid");
        assert_eq!(l.recipient(2, "billing"), "billing:director");
        assert_eq!(l.recipient(3, "billing"), "ceo@hq");
    }

    #[test]
    fn bad_ladders_say_which_rung() {
        for (text, needle) in [
            ("", "rung 1 is empty"),
            ("lead,,manager", "rung 2 is empty"),
            ("lead,team lead", "rung 2"),
            ("lead,{department}:lead", "repeats"),
        ] {
            let err = Ladder::parse(text).expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn settings_come_from_the_environment_and_are_checked() {
        let cfg = Config::from_pairs(
            "routing",
            [
                ("OMBUDS_ESCALATION_LADDER", "manager,duty_manager"),
                ("OMBUDS_ESCALATE_WARNING_PERCENT", "90"),
            ],
        );
        let s = EscalationSettings::from_config(&cfg).expect("valid");
        assert_eq!(s.warning_percent, 90);
        assert_eq!(s.ladder.recipient(1, "billing"), "billing:manager");
        let unset = Config::from_pairs("routing", Vec::<(String, String)>::new());
        assert_eq!(
            EscalationSettings::from_config(&unset).expect("defaults"),
            EscalationSettings::default()
        );
        for (key, value) in [
            ("OMBUDS_ESCALATE_WARNING_PERCENT", "0"),
            ("OMBUDS_ESCALATE_WARNING_PERCENT", "101"),
            ("OMBUDS_ESCALATE_WARNING_PERCENT", "eighty"),
            ("OMBUDS_ESCALATION_LADDER", "lead,,x"),
        ] {
            let cfg = Config::from_pairs("routing", [(key, value)]);
            let err = EscalationSettings::from_config(&cfg).expect_err(value);
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn reasons_say_what_happened() {
        assert_eq!(
            W80.reason("resolution"),
            "sla.warning: 80% of the resolution time used"
        );
        assert_eq!(
            Trigger::Breach.reason(""),
            "sla.breached: the SLA deadline passed"
        );
    }
}
