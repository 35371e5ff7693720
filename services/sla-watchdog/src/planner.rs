//! The bridge from the policy pack to the engine: selects a complaint's policy and
//! snapshots its targets ([`crate::engine::TargetPlan`]); and the loop that re-reads
//! the pack file, keeping the old pack when the new one is invalid.

use std::{sync::Arc, time::Duration};

use ombuds_platform::shutdown::CancellationToken;

use crate::{
    engine::{Facts, Planner, TargetPlan, WithinPlan},
    policy::{self, PolicyStore, Within},
};

pub struct PolicyPlanner {
    pub store: Arc<PolicyStore>,
}

fn trigger_name(t: &policy::Trigger) -> String {
    t.as_str().to_owned()
}

impl Planner for PolicyPlanner {
    fn plan(&self, facts: &Facts) -> Option<(String, Vec<TargetPlan>)> {
        let pack = self.store.current();
        let p = pack.select(&policy::Facts {
            kind: &facts.kind,
            category: &facts.category,
            priority: facts.priority,
            channel: &facts.channel,
            tier: &facts.tier,
        })?;
        let targets = p
            .targets
            .iter()
            .map(|t| TargetPlan {
                target: t.target.clone(),
                within: match &t.within {
                    Within::Hours(d) => WithinPlan::Hours {
                        ms: d.as_millis() as i64,
                    },
                    Within::BusinessTime(d) => WithinPlan::BusinessTime {
                        ms: d.as_millis() as i64,
                    },
                    Within::WorkingDays(n) => WithinPlan::WorkingDays { n: *n },
                },
                describe: t.within.describe(),
                calendar: t.calendar.clone(),
                warn_at: t.warn_at.clone(),
                starts_on: trigger_name(&t.starts_on),
                stops_on: trigger_name(&t.stops_on),
            })
            .collect();
        Some((format!("{}/{}", pack.version_tag(), p.name), targets))
    }
}

/// Re-reads the pack every `every`; a bad new version is logged with its line and refused.
pub async fn watch(store: Arc<PolicyStore>, every: Duration, shutdown: CancellationToken) {
    let mut current = store.current().version_tag();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => break,
        }
        match store.reload() {
            Ok(pack) => {
                let tag = pack.version_tag();
                if tag != current {
                    tracing::info!(from = %current, to = %tag, "SLA policy pack reloaded; new clocks use it");
                    current = tag;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "SLA policy pack change refused; the old pack stays")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_are_snake_case() {
        assert_eq!(trigger_name(&policy::Trigger::FirstReply), "first_reply");
        assert_eq!(trigger_name(&policy::Trigger::Received), "received");
        assert_eq!(
            trigger_name(&policy::Trigger::SatisfactionRecorded),
            "satisfaction_recorded"
        );
    }
}
