//! SLA policies and policy packs: which clocks a complaint gets (acknowledgement,
//! first response, initial result, transfer, resolution, feedback, re-contact, callback
//! survey), how long each may run, on which business calendar, when to warn, and which
//! events start and stop it.
//!
//! A **pack** is one organisation's rules (DESIGN.md, "What the policies demand"): a
//! list of **policies**, each matching complaints by kind, category, priority, channel
//! and customer tier, and each setting **targets**. For a complaint, [`Pack::select`]
//! picks the matching policy of the highest rank; the clocks code starts one clock per
//! target of that policy and records [`Pack::version_tag`] (`<pack>@<version>`) on it,
//! so a running clock keeps the policy it started with when the pack changes.
//! [`PolicyStore`] holds the active pack and reloads it; a pack that fails validation is
//! refused whole and the old one stays.
//!
//! Five packs are built in ([`builtin_pack_names`]), embedded from
//! `services/sla-watchdog/policies/*.yaml`: `default`, `mobile-operator`,
//! `service-hotline`, `internet-feedback` and `inquiry-complaint`. A deployment picks
//! one by name or writes its own file in the same format.
//!
//! # The YAML format
//!
//! ```yaml
//! pack: mobile-operator            # letters, digits, '-', '_', '.'
//! version: 1                       # a whole number >= 1; raise it on every change
//! description: Mobile operator complaint rules (DESIGN.md)   # optional
//! defaults:                        # optional
//!   business_calendar: cn          # calendar of targets counted in business time or working days
//!   warn_at: [50, 80]              # thresholds of targets that name none
//! policies:                        # at least one
//!   - name: complex-complaint      # unique in the pack
//!     rank: 10                     # optional, default 0; the highest matching rank wins
//!     match: { kinds: [complaint], categories: [network, billing] }   # optional; empty = any
//!     targets:                     # at least one, each target at most once per policy
//!       - { target: initial_result, within: 72h }
//!       - { target: resolution, within: 15 working days, calendar: cn, warn_at: [50, 80] }
//!       - { target: feedback, within: 24h, starts_on: resolved, stops_on: closed }
//!       - { target: recontact, within: 48h, starts_on: unsatisfied, stops_on: closed }
//! ```
//!
//! **`match`** has five lists, each optional; an empty or missing list matches
//! anything, and a policy matches when every list does:
//! - `kinds`: `complaint`, `inquiry`, `suggestion`, `praise` (a complaint with no kind is
//!   a `complaint`);
//! - `categories`: free text, compared case-insensitively by `/`-separated path:
//!   `network` matches `network`, `network/coverage` and `network/coverage/4g`;
//! - `priorities`: 1 (highest) to 4;
//! - `channels`: the intake channels (`hotline`, `online_chat`, `app`, `email`,
//!   `social`, `store`, `web_form`, `sms`, `api`);
//! - `tiers`: the customer's tier, free text compared case-insensitively (`vip`, ...).
//!
//! **`within`** ([`Within`]): `24h`, `90m`, `3d`, `45s`, `1h30m`, `24 hours` (calendar
//! time), `8 business hours`, `30 business minutes` (business time) or `15 working days`.
//!
//! **`calendar`**: a calendar name known to the registry ([`Calendars`]; `cn` and `24x7`
//! are built in). When a target names none, calendar time uses `24x7` and business time
//! and working days use `defaults.business_calendar`; a business target with neither is
//! an error, so a working day is never silently counted on a calendar nobody chose.
//!
//! **`warn_at`**: percentages of the allowed time at which `sla.warning` fires, each
//! from 1 to 99 (100% is the breach itself), strictly increasing. Default:
//! `defaults.warn_at`, else none. `warn_at: []` turns warnings off for one target.
//!
//! **`starts_on` / `stops_on`** ([`Trigger`]): `received`, `assigned`, `transferred`,
//! `first_reply`, `resolved`, `closed`, `reopened`, `satisfaction_recorded`,
//! `unsatisfied`. The defaults by target:
//!
//! | target            | starts_on     | stops_on                | what it measures |
//! | ----------------- | ------------- | ----------------------- | ---------------- |
//! | `acknowledgement` | `received`    | `assigned`              | the complaint is taken into a department's queue (the first sign the organisation has it; `first_reply` would mix it up with `first_response`) |
//! | `first_response`  | `received`    | `first_reply`           | an agent first answers the customer |
//! | `initial_result`  | `received`    | `first_reply`           | the customer hears a first result (72h for complex complaints) |
//! | `transfer`        | `received`    | `transferred`           | an inquiry is passed to the department that answers it (24h). A transfer *form*'s own deadline is a `transfer` target with `starts_on: transferred` and `stops_on: resolved`, whose `within` is the default when the form names none |
//! | `resolution`      | `received`    | `resolved`              | the complaint is resolved |
//! | `feedback`        | `resolved`    | `closed`                | the customer is told the result after resolution |
//! | `recontact`       | `unsatisfied` | `closed`                | the customer said they are unsatisfied: contact them again |
//! | `callback_survey` | `resolved`    | `satisfaction_recorded` | the callback survey N working days after resolution |
//!
//! A target may not start and stop on the same trigger.
//!
//! # Validation
//!
//! [`Pack::parse`] refuses the whole pack, with a [`PolicyError`] naming the file and
//! the line, on: YAML syntax errors and wrong types; unknown fields, targets, triggers,
//! kinds and channels; zero, negative or over-long durations; a threshold of 0, 100 or
//! more, or thresholds out of order or repeated; an unknown calendar, or a business
//! target with no calendar; two policies with the same name; a target twice in one
//! policy; and two policies of equal rank whose matches overlap (every list shares a
//! value, an empty list sharing everything), because then which one applies would
//! depend on file order.
//!
//! Lines are exact: value errors come from serde_yaml's positions, and a check that
//! needs the whole pack (calendars, duplicates, overlaps) names a node that is then
//! located by parsing the text again with that node set to fail (see `yaml.rs`).

mod within;
mod yaml;

#[cfg(test)]
mod tests;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use ombuds_calendar::Calendars;

pub use within::{Within, MAX_DAYS, MAX_WORKING_DAYS};

/// The targets a policy can set, in the order a complaint usually meets them.
pub const TARGETS: &[&str] = &[
    "acknowledgement",
    "first_response",
    "initial_result",
    "transfer",
    "resolution",
    "feedback",
    "recontact",
    "callback_survey",
];

/// The kinds of contact intake records.
pub const KINDS: &[&str] = &["complaint", "inquiry", "suggestion", "praise"];

/// Priorities run from 1 (highest) to 4 (lowest), as in `complaint.received`.
pub const PRIORITIES: std::ops::RangeInclusive<i32> = 1..=4;

/// The calendar of calendar-time targets that name none.
pub const DEFAULT_CALENDAR: &str = "24x7";

/// One organisation's rules, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    pub name: String,
    pub version: u32,
    pub description: String,
    pub policies: Vec<Policy>,
}

/// Which complaints get which targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// Of all the matching policies, the one with the highest rank applies.
    pub rank: i32,
    pub matcher: Matcher,
    pub targets: Vec<TargetSpec>,
}

/// What a policy matches. Every list holds normalised (trimmed, lower-case) values;
/// an empty list matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub kinds: Vec<String>,
    /// `/`-separated paths; each also matches its sub-categories.
    pub categories: Vec<String>,
    pub priorities: Vec<i32>,
    pub channels: Vec<String>,
    pub tiers: Vec<String>,
}

/// One clock a policy asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// One of [`TARGETS`].
    pub target: String,
    pub within: Within,
    /// A calendar name known to the registry the pack was validated against.
    pub calendar: String,
    /// Warning thresholds in percent of the allowed time, each 1..=99, increasing.
    pub warn_at: Vec<u32>,
    pub starts_on: Trigger,
    pub stops_on: Trigger,
}

/// A complaint event that starts or stops a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// The channel received the contact (`complaint.received`).
    Received,
    /// Routing put it in a department's queue or gave it to an agent (`routing.assigned`).
    Assigned,
    /// It was transferred to another department (a transfer form).
    Transferred,
    /// An agent answered the customer for the first time.
    FirstReply,
    /// It was resolved.
    Resolved,
    /// It was closed.
    Closed,
    /// It was reopened.
    Reopened,
    /// The customer's satisfaction was recorded (survey answered).
    SatisfactionRecorded,
    /// The customer said they are not satisfied.
    Unsatisfied,
}

/// What a policy matches on, as the clocks code knows it for one complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// Empty means `complaint`.
    pub kind: &'a str,
    pub category: &'a str,
    pub priority: i32,
    pub channel: &'a str,
    pub tier: &'a str,
}

/// A pack that cannot be used: the file (or built-in pack), the line when known, and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub source: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

// Not thiserror: it would take the `source` field for the error's cause.
impl std::error::Error for PolicyError {}

impl PolicyError {
    fn new(source: &str, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            source: source.to_owned(),
            line,
            message: message.into(),
        }
    }
}

impl Pack {
    /// Parses and validates a pack. `source` names the file in errors.
    pub fn parse(text: &str, source: &str, calendars: &Calendars) -> Result<Pack, PolicyError> {
        yaml::parse(text, source, calendars)
    }

    /// The matching policy with the highest rank (rank ties cannot both match:
    /// validation forbids it).
    pub fn select(&self, facts: &Facts) -> Option<&Policy> {
        let facts = Normalised::new(facts);
        self.policies
            .iter()
            .filter(|p| p.matcher.matches_normalised(&facts))
            .fold(None, |best: Option<&Policy>, p| match best {
                Some(b) if b.rank >= p.rank => Some(b),
                _ => Some(p),
            })
    }

    /// `<pack>@<version>`, recorded on each clock.
    pub fn version_tag(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The policy of that name.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }
}

impl Policy {
    /// The target of that name, if this policy sets it.
    pub fn target(&self, target: &str) -> Option<&TargetSpec> {
        self.targets.iter().find(|t| t.target == target)
    }

    /// The targets whose clocks an event starts.
    pub fn started_by(&self, trigger: Trigger) -> impl Iterator<Item = &TargetSpec> {
        self.targets.iter().filter(move |t| t.starts_on == trigger)
    }

    /// The targets whose clocks an event meets.
    pub fn stopped_by(&self, trigger: Trigger) -> impl Iterator<Item = &TargetSpec> {
        self.targets.iter().filter(move |t| t.stops_on == trigger)
    }
}

/// Facts trimmed and lower-cased once per selection.
struct Normalised {
    kind: String,
    category: String,
    priority: i32,
    channel: String,
    tier: String,
}

impl Normalised {
    fn new(f: &Facts) -> Self {
        let kind = f.kind.trim().to_lowercase();
        Self {
            kind: if kind.is_empty() {
                "complaint".to_owned()
            } else {
                kind
            },
            category: normalise_category(f.category),
            priority: f.priority,
            channel: f.channel.trim().to_lowercase(),
            tier: f.tier.trim().to_lowercase(),
        }
    }
}

/// Lower-case, trimmed, `/`-separated segments each trimmed, empty segments dropped.
pub(crate) fn normalise_category(c: &str) -> String {
    c.split('/')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `category` is `prefix` or one of its sub-categories (both normalised).
fn within_category(prefix: &str, category: &str) -> bool {
    category == prefix
        || (category.len() > prefix.len()
            && category.starts_with(prefix)
            && category.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn any_or<T>(list: &[T], hit: impl Fn(&T) -> bool) -> bool {
    list.is_empty() || list.iter().any(hit)
}

fn lists_meet<T: PartialEq>(a: &[T], b: &[T], same: impl Fn(&T, &T) -> bool) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|x| b.iter().any(|y| same(x, y)))
}

impl Matcher {
    /// Whether a complaint with these facts matches.
    pub fn matches(&self, facts: &Facts) -> bool {
        self.matches_normalised(&Normalised::new(facts))
    }

    fn matches_normalised(&self, f: &Normalised) -> bool {
        any_or(&self.kinds, |k| *k == f.kind)
            && any_or(&self.categories, |c| within_category(c, &f.category))
            && any_or(&self.priorities, |p| *p == f.priority)
            && any_or(&self.channels, |c| *c == f.channel)
            && any_or(&self.tiers, |t| *t == f.tier)
    }

    /// Whether some complaint could match both: every dimension intersects (an empty
    /// list meets anything; a category meets its sub-categories).
    pub fn overlaps(&self, other: &Matcher) -> bool {
        lists_meet(&self.kinds, &other.kinds, |a, b| a == b)
            && lists_meet(&self.categories, &other.categories, |a, b| {
                within_category(a, b) || within_category(b, a)
            })
            && lists_meet(&self.priorities, &other.priorities, |a, b| a == b)
            && lists_meet(&self.channels, &other.channels, |a, b| a == b)
            && lists_meet(&self.tiers, &other.tiers, |a, b| a == b)
    }

    /// A short text for messages: `kinds [complaint], priorities [1, 2]` or `anything`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |name: &str, values: Vec<String>| {
            if !values.is_empty() {
                parts.push(format!("{name} [{}]", values.join(", ")));
            }
        };
        add("kinds", self.kinds.clone());
        add("categories", self.categories.clone());
        add(
            "priorities",
            self.priorities.iter().map(i32::to_string).collect(),
        );
        add("channels", self.channels.clone());
        add("tiers", self.tiers.clone());
        if parts.is_empty() {
            "anything".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

impl Trigger {
    pub const ALL: [Trigger; 9] = [
        Trigger::Received,
        Trigger::Assigned,
        Trigger::Transferred,
        Trigger::FirstReply,
        Trigger::Resolved,
        Trigger::Closed,
        Trigger::Reopened,
        Trigger::SatisfactionRecorded,
        Trigger::Unsatisfied,
    ];

    /// The name used in packs (`first_reply`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Received => "received",
            Trigger::Assigned => "assigned",
            Trigger::Transferred => "transferred",
            Trigger::FirstReply => "first_reply",
            Trigger::Resolved => "resolved",
            Trigger::Closed => "closed",
            Trigger::Reopened => "reopened",
            Trigger::SatisfactionRecorded => "satisfaction_recorded",
            Trigger::Unsatisfied => "unsatisfied",
        }
    }

    /// The trigger of that pack name (exact, lower-case).
    pub fn parse(name: &str) -> Option<Trigger> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// What starts and stops a target's clock when the pack does not say.
    pub fn defaults_for(target: &str) -> (Trigger, Trigger) {
        match target {
            "acknowledgement" => (Trigger::Received, Trigger::Assigned),
            "first_response" | "initial_result" => (Trigger::Received, Trigger::FirstReply),
            "transfer" => (Trigger::Received, Trigger::Transferred),
            "feedback" => (Trigger::Resolved, Trigger::Closed),
            "recontact" => (Trigger::Unsatisfied, Trigger::Closed),
            "callback_survey" => (Trigger::Resolved, Trigger::SatisfactionRecorded),
            _ => (Trigger::Received, Trigger::Resolved),
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Trigger {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| {
            format!(
                "unknown trigger {s:?}; expected one of {}",
                Self::ALL.map(Trigger::as_str).join(", ")
            )
        })
    }
}

const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../policies/default.yaml")),
    (
        "mobile-operator",
        include_str!("../../policies/mobile-operator.yaml"),
    ),
    (
        "service-hotline",
        include_str!("../../policies/service-hotline.yaml"),
    ),
    (
        "internet-feedback",
        include_str!("../../policies/internet-feedback.yaml"),
    ),
    (
        "inquiry-complaint",
        include_str!("../../policies/inquiry-complaint.yaml"),
    ),
];

const BUILTIN_NAMES: &[&str] = &[
    "default",
    "mobile-operator",
    "service-hotline",
    "internet-feedback",
    "inquiry-complaint",
];

/// The names of the built-in packs.
pub fn builtin_pack_names() -> &'static [&'static str] {
    BUILTIN_NAMES
}

/// The YAML text of a built-in pack (to print it, or to start a pack of one's own).
pub fn builtin_pack_text(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// A built-in pack, validated against `calendars`.
pub fn builtin_pack(name: &str, calendars: &Calendars) -> Result<Pack, PolicyError> {
    let text = builtin_pack_text(name).ok_or_else(|| {
        PolicyError::new(
            name,
            None,
            format!(
                "no built-in policy pack of that name; built-in packs: {}",
                BUILTIN_NAMES.join(", ")
            ),
        )
    })?;
    Pack::parse(text, &format!("{name}.yaml (built-in)"), calendars)
}

/// Where the active pack comes from.
#[derive(Debug, Clone)]
enum Origin {
    Builtin(String),
    File(PathBuf),
}

/// The active pack; `reload()` keeps the old pack when the new text is invalid.
#[derive(Debug)]
pub struct PolicyStore {
    origin: Origin,
    calendars: Calendars,
    current: RwLock<Arc<Pack>>,
}

impl PolicyStore {
    /// `spec` is a built-in pack name or a path to a YAML file. A built-in name wins
    /// over a file of the same name in the working directory (write `./default`).
    pub fn load(spec: &str, calendars: Calendars) -> Result<PolicyStore, PolicyError> {
        let spec = spec.trim();
        let (origin, pack) = if BUILTIN_NAMES.contains(&spec) {
            (
                Origin::Builtin(spec.to_owned()),
                builtin_pack(spec, &calendars)?,
            )
        } else {
            let path = PathBuf::from(spec);
            let pack = read_pack(&path, &calendars).map_err(|mut e| {
                if e.line.is_none() && !path.exists() {
                    e.message = format!(
                        "{}; it is neither a file nor a built-in pack ({})",
                        e.message,
                        BUILTIN_NAMES.join(", ")
                    );
                }
                e
            })?;
            (Origin::File(path), pack)
        };
        Ok(PolicyStore {
            origin,
            calendars,
            current: RwLock::new(Arc::new(pack)),
        })
    }

    /// The active pack.
    pub fn current(&self) -> Arc<Pack> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the file (built-ins: no-op). On error the old pack stays and the error
    /// is returned. A file whose content changed but whose `version` did not is refused
    /// too: the version tag recorded on running clocks must name one set of rules. An
    /// unchanged file returns the same `Arc` as before.
    pub fn reload(&self) -> Result<Arc<Pack>, PolicyError> {
        let Origin::File(path) = &self.origin else {
            return Ok(self.current());
        };
        let (new, text) = read_pack_text(path, &self.calendars)?;
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if **guard == new {
            return Ok(guard.clone());
        }
        if guard.name == new.name && guard.version == new.version {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with("version:"))
                .map(|i| i + 1);
            return Err(PolicyError::new(
                &path.display().to_string(),
                line,
                format!(
                    "the pack changed but its version is still {}: raise `version` so that \
                     {} keeps naming the rules running clocks started with",
                    new.version,
                    new.version_tag()
                ),
            ));
        }
        let new = Arc::new(new);
        *guard = new.clone();
        Ok(new)
    }

    /// Where the pack comes from: `builtin:<name>` or the file's path.
    pub fn source(&self) -> String {
        match &self.origin {
            Origin::Builtin(name) => format!("builtin:{name}"),
            Origin::File(path) => path.display().to_string(),
        }
    }

    /// The calendars the pack was validated against; every target's calendar is here.
    pub fn calendars(&self) -> &Calendars {
        &self.calendars
    }
}

fn read_pack(path: &Path, calendars: &Calendars) -> Result<Pack, PolicyError> {
    read_pack_text(path, calendars).map(|(pack, _)| pack)
}

fn read_pack_text(path: &Path, calendars: &Calendars) -> Result<(Pack, String), PolicyError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        PolicyError::new(&source, None, format!("cannot read the policy pack: {e}"))
    })?;
    let pack = Pack::parse(&text, &source, calendars)?;
    Ok((pack, text))
}
