//! Reading a pack from YAML, with the line of every error.
//!
//! Value errors (a bad duration, an unknown target, a threshold of 120) are raised in
//! serde visitors, so serde_yaml attaches the position of the offending value. Checks
//! that need the whole pack (calendars, duplicate names, overlapping policies) run on
//! the raw tree after parsing. Its nodes ([`Map`], [`Seq`], [`Text`]) carry a number
//! given in document order; to find a node's line, the text is parsed again with a
//! thread-local "fail at node N", so the node's own visitor fails and serde_yaml reports
//! where it is. Parsing is deterministic, so node N is the same node both times.

use std::{cell::Cell, collections::HashMap, fmt, marker::PhantomData};

use ombuds_calendar::Calendars;
use serde::{de, Deserialize, Deserializer};

use super::{
    normalise_category, Matcher, Pack, Policy, PolicyError, TargetSpec, Trigger, Within,
    DEFAULT_CALENDAR, KINDS, PRIORITIES, TARGETS,
};

// ---------------------------------------------------------------------------------
// Node numbering and locating.

#[derive(Clone, Copy)]
struct Probe {
    next: usize,
    fail_at: Option<usize>,
}

thread_local! {
    static PROBE: Cell<Probe> = const { Cell::new(Probe { next: 0, fail_at: None }) };
}

/// One parse with a fresh node counter; the previous state comes back on drop.
struct Session {
    saved: Probe,
}

impl Session {
    fn start(fail_at: Option<usize>) -> Self {
        let saved = PROBE.replace(Probe { next: 0, fail_at });
        Session { saved }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        PROBE.set(self.saved);
    }
}

/// The next node number, or the error that makes serde_yaml report this node's line.
fn next_node<E: de::Error>() -> Result<usize, E> {
    let p = PROBE.get();
    PROBE.set(Probe {
        next: p.next + 1,
        ..p
    });
    if p.fail_at == Some(p.next) {
        Err(E::custom("(the node being located)"))
    } else {
        Ok(p.next)
    }
}

/// A mapping and its node number.
struct Map<T> {
    id: usize,
    value: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Map<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
            type Value = Map<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Map<T>, A::Error> {
                let id = next_node()?;
                let value = T::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Map { id, value })
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A sequence and its node number.
struct Seq<T> {
    id: usize,
    items: Vec<T>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Seq<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
            type Value = Seq<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Seq<T>, A::Error> {
                let id = next_node()?;
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Seq { id, items })
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// A string scalar and its node number.
struct Text {
    id: usize,
    value: String,
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                let id = next_node()?;
                Ok(Text {
                    id,
                    value: v.trim().to_owned(),
                })
            }
        }
        d.deserialize_str(V)
    }
}

// ---------------------------------------------------------------------------------
// Values checked as they are read, so their errors carry their own position.

trait Check {
    type Out;
    fn check(s: &str) -> Result<Self::Out, String>;
}

/// A scalar that passed `C::check`.
struct Checked<C: Check>(C::Out);

impl<'de, C: Check> Deserialize<'de> for Checked<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<C>(PhantomData<C>);
        impl<C: Check> de::Visitor<'_> for V<C> {
            type Value = Checked<C>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Checked<C>, E> {
                C::check(v).map(Checked).map_err(E::custom)
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

fn one_of(what: &str, value: &str, list: &[&str]) -> String {
    format!(
        "unknown {what} {value:?}; expected one of {}",
        list.join(", ")
    )
}

struct Kind;
impl Check for Kind {
    type Out = String;
    fn check(s: &str) -> Result<String, String> {
        let k = s.trim().to_lowercase();
        if KINDS.contains(&k.as_str()) {
            Ok(k)
        } else {
            Err(one_of("kind", s, KINDS))
        }
    }
}

struct Channel;
impl Check for Channel {
    type Out = String;
    fn check(s: &str) -> Result<String, String> {
        let c = s.trim().to_lowercase();
        if ombuds_platform::events::CHANNELS.contains(&c.as_str()) {
            Ok(c)
        } else {
            Err(one_of("channel", s, ombuds_platform::events::CHANNELS))
        }
    }
}

struct Category;
impl Check for Category {
    type Out = String;
    fn check(s: &str) -> Result<String, String> {
        let c = normalise_category(s);
        if c.is_empty() {
            Err("empty category".into())
        } else {
            Ok(c)
        }
    }
}

struct Tier;
impl Check for Tier {
    type Out = String;
    fn check(s: &str) -> Result<String, String> {
        let t = s.trim().to_lowercase();
        if t.is_empty() {
            Err("empty tier".into())
        } else {
            Ok(t)
        }
    }
}

struct Priority;
impl Check for Priority {
    type Out = i32;
    fn check(s: &str) -> Result<i32, String> {
        s.trim()
            .parse::<i32>()
            .ok()
            .filter(|p| PRIORITIES.contains(p))
            .ok_or_else(|| {
                format!(
                    "priority {s:?}: priorities run from {} (highest) to {}",
                    PRIORITIES.start(),
                    PRIORITIES.end()
                )
            })
    }
}

struct Percent;
impl Check for Percent {
    type Out = u32;
    fn check(s: &str) -> Result<u32, String> {
        let t = s.trim();
        let n = t.strip_suffix('%').unwrap_or(t).trim();
        match n.parse::<u64>() {
            Ok(p @ 1..=99) => Ok(p as u32),
            Ok(0) => Err(format!(
                "threshold {t}: a warning at 0% would fire at once; use 1 to 99"
            )),
            Ok(100) => Err(format!(
                "threshold {t}: 100% is the deadline itself (sla.breached); use 1 to 99"
            )),
            Ok(_) => Err(format!("threshold {t} is over 100%; use 1 to 99")),
            Err(_) if n.starts_with('-') => Err(format!("threshold {t} is negative; use 1 to 99")),
            Err(_) => Err(format!(
                "threshold {t:?} is not a whole percentage; use 1 to 99"
            )),
        }
    }
}

struct Version;
impl Check for Version {
    type Out = u32;
    fn check(s: &str) -> Result<u32, String> {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| format!("version {s:?}: a whole number from 1"))
    }
}

struct WithinText;
impl Check for WithinText {
    type Out = Within;
    fn check(s: &str) -> Result<Within, String> {
        Within::parse(s)
    }
}

struct TargetName;
impl Check for TargetName {
    type Out = String;
    fn check(s: &str) -> Result<String, String> {
        let t = s.trim();
        if TARGETS.contains(&t) {
            Ok(t.to_owned())
        } else {
            Err(one_of("target", s, TARGETS))
        }
    }
}

struct TriggerName;
impl Check for TriggerName {
    type Out = Trigger;
    fn check(s: &str) -> Result<Trigger, String> {
        s.trim().parse()
    }
}

/// `warn_at`: increasing percentages.
struct Thresholds(Vec<u32>);

impl<'de> Deserialize<'de> for Thresholds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Thresholds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of percentages, e.g. [50, 80]")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Thresholds, A::Error> {
                let mut out: Vec<u32> = Vec::new();
                while let Some(Checked(p)) = seq.next_element::<Checked<Percent>>()? {
                    if let Some(last) = out.last() {
                        if p <= *last {
                            return Err(de::Error::custom(format!(
                                "warn_at must increase, each threshold once: {p}% after {last}%"
                            )));
                        }
                    }
                    out.push(p);
                }
                Ok(Thresholds(out))
            }
        }
        d.deserialize_seq(V)
    }
}

// ---------------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    pack: Text,
    version: Checked<Version>,
    description: Option<String>,
    defaults: Option<Map<RawDefaults>>,
    policies: Seq<Map<RawPolicy>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    business_calendar: Option<Text>,
    warn_at: Option<Thresholds>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Text,
    #[serde(default)]
    rank: i32,
    #[serde(rename = "match")]
    matcher: Option<RawMatcher>,
    targets: Seq<Map<RawTarget>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMatcher {
    kinds: Vec<Checked<Kind>>,
    categories: Vec<Checked<Category>>,
    priorities: Vec<Checked<Priority>>,
    channels: Vec<Checked<Channel>>,
    tiers: Vec<Checked<Tier>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    target: Checked<TargetName>,
    within: Checked<WithinText>,
    calendar: Option<Text>,
    warn_at: Option<Thresholds>,
    starts_on: Option<Checked<TriggerName>>,
    stops_on: Option<Checked<TriggerName>>,
}

// ---------------------------------------------------------------------------------
// Whole-pack checks.

/// Marks where, in a [`Located`] message, the line of its `see` node goes.
const SEE: &str = "{see}";

/// A whole-pack error: the node it is about, and optionally another node whose line
/// the message cites at [`SEE`].
struct Located {
    node: usize,
    message: String,
    see: Option<usize>,
}

fn at(node: usize, message: impl Into<String>) -> Located {
    Located {
        node,
        message: message.into(),
        see: None,
    }
}

pub(super) fn parse(text: &str, source: &str, calendars: &Calendars) -> Result<Pack, PolicyError> {
    let raw: RawPack = {
        let _session = Session::start(None);
        serde_yaml::from_str(text).map_err(|e| from_yaml(source, &e))?
    };
    build(raw, calendars).map_err(|l| {
        let see = l
            .see
            .and_then(|n| locate(text, n))
            .map(|n| format!(" (line {n})"))
            .unwrap_or_default();
        PolicyError {
            source: source.to_owned(),
            line: locate(text, l.node),
            message: l.message.replace(SEE, &see),
        }
    })
}

/// The line of node `node`: parse again and make that node fail.
fn locate(text: &str, node: usize) -> Option<usize> {
    let _session = Session::start(Some(node));
    serde_yaml::from_str::<RawPack>(text)
        .err()
        .and_then(|e| e.location())
        .map(|l| l.line())
}

fn from_yaml(source: &str, e: &serde_yaml::Error) -> PolicyError {
    let location = e.location();
    let mut message = e.to_string();
    if let Some(l) = &location {
        message = message.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        );
    }
    PolicyError {
        source: source.to_owned(),
        line: location.map(|l| l.line()),
        message,
    }
}

fn known_calendars(calendars: &Calendars) -> String {
    let mut names = calendars.names();
    names.sort();
    names.join(", ")
}

fn check_calendar(cal: &Text, calendars: &Calendars) -> Result<(), Located> {
    if calendars.get(&cal.value).is_some() {
        Ok(())
    } else {
        Err(at(
            cal.id,
            format!(
                "unknown calendar {:?}; known calendars: {}",
                cal.value,
                known_calendars(calendars)
            ),
        ))
    }
}

fn build(raw: RawPack, calendars: &Calendars) -> Result<Pack, Located> {
    let name = raw.pack.value;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(at(
            raw.pack.id,
            format!("pack name {name:?}: use letters, digits, '-', '_' and '.'"),
        ));
    }
    let (business_calendar, default_warn_at) = match raw.defaults {
        Some(Map { value: d, .. }) => {
            if let Some(cal) = &d.business_calendar {
                check_calendar(cal, calendars)?;
            }
            (
                d.business_calendar.map(|c| c.value),
                d.warn_at.map(|t| t.0).unwrap_or_default(),
            )
        }
        None => (None, Vec::new()),
    };
    if raw.policies.items.is_empty() {
        return Err(at(raw.policies.id, "a pack needs at least one policy"));
    }

    let mut policies = Vec::with_capacity(raw.policies.items.len());
    let mut nodes = Vec::with_capacity(raw.policies.items.len());
    let mut names: HashMap<String, usize> = HashMap::new();
    for Map { id, value: p } in raw.policies.items {
        if p.name.value.is_empty() {
            return Err(at(p.name.id, "a policy needs a name"));
        }
        if let Some(first) = names.insert(p.name.value.clone(), p.name.id) {
            return Err(Located {
                node: p.name.id,
                message: format!(
                    "another policy is already named {:?}{SEE}; policy names must be unique",
                    p.name.value
                ),
                see: Some(first),
            });
        }
        if p.targets.items.is_empty() {
            return Err(at(
                p.targets.id,
                format!("policy {:?} has no targets", p.name.value),
            ));
        }
        let mut targets: Vec<TargetSpec> = Vec::with_capacity(p.targets.items.len());
        for Map { id: tid, value: t } in p.targets.items {
            let target = t.target.0;
            if targets.iter().any(|other| other.target == target) {
                return Err(at(
                    tid,
                    format!(
                        "policy {:?} sets target {target} twice; one clock per target",
                        p.name.value
                    ),
                ));
            }
            let within = t.within.0;
            let calendar = match (&t.calendar, within.is_business(), &business_calendar) {
                (Some(cal), _, _) => {
                    check_calendar(cal, calendars)?;
                    cal.value.clone()
                }
                (None, true, Some(default)) => default.clone(),
                (None, true, None) => {
                    return Err(at(
                        tid,
                        format!(
                            "target {target} counts {within} but names no calendar: add \
                             `calendar: <name>` or set defaults.business_calendar (known \
                             calendars: {})",
                            known_calendars(calendars)
                        ),
                    ))
                }
                (None, false, _) => {
                    if calendars.get(DEFAULT_CALENDAR).is_none() {
                        return Err(at(
                            tid,
                            format!(
                                "target {target} names no calendar and the default \
                                 {DEFAULT_CALENDAR:?} is not known (known calendars: {})",
                                known_calendars(calendars)
                            ),
                        ));
                    }
                    DEFAULT_CALENDAR.to_owned()
                }
            };
            let (default_start, default_stop) = Trigger::defaults_for(&target);
            let starts_on = t.starts_on.map_or(default_start, |c| c.0);
            let stops_on = t.stops_on.map_or(default_stop, |c| c.0);
            if starts_on == stops_on {
                return Err(at(
                    tid,
                    format!("target {target} starts and stops on {starts_on}"),
                ));
            }
            targets.push(TargetSpec {
                target,
                within,
                calendar,
                warn_at: t
                    .warn_at
                    .map(|w| w.0)
                    .unwrap_or_else(|| default_warn_at.clone()),
                starts_on,
                stops_on,
            });
        }
        let m = p.matcher.unwrap_or_default();
        let matcher = Matcher {
            kinds: dedup(m.kinds.into_iter().map(|c| c.0)),
            categories: dedup(m.categories.into_iter().map(|c| c.0)),
            priorities: dedup(m.priorities.into_iter().map(|c| c.0)),
            channels: dedup(m.channels.into_iter().map(|c| c.0)),
            tiers: dedup(m.tiers.into_iter().map(|c| c.0)),
        };
        policies.push(Policy {
            name: p.name.value,
            rank: p.rank,
            matcher,
            targets,
        });
        nodes.push(id);
    }

    for (j, later) in policies.iter().enumerate() {
        for (i, earlier) in policies[..j].iter().enumerate() {
            if earlier.rank == later.rank && earlier.matcher.overlaps(&later.matcher) {
                return Err(Located {
                    node: nodes[j],
                    message: format!(
                        "policy {:?} ({}) overlaps policy {:?}{SEE} ({}) at the same rank {}: \
                         a complaint could match both; give one a higher rank or narrow a match",
                        later.name,
                        later.matcher.describe(),
                        earlier.name,
                        earlier.matcher.describe(),
                        later.rank
                    ),
                    see: Some(nodes[i]),
                });
            }
        }
    }

    Ok(Pack {
        name,
        version: raw.version.0,
        description: raw.description.unwrap_or_default().trim().to_owned(),
        policies,
    })
}

/// The values in first-seen order, each once.
fn dedup<T: PartialEq>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}
