//! How long a target allows: calendar time (`72h`), business time (`8 business hours`)
//! or working days (`15 working days`), parsed from a pack's `within:` and turned
//! into a deadline on a business calendar.
//!
//! The grammar (case-insensitive, whole numbers only):
//!
//! | text                                   | meaning                                        |
//! | -------------------------------------- | ---------------------------------------------- |
//! | `24h`, `90m`, `3d`, `45s`, `1h30m`     | calendar time (every hour counts)              |
//! | `24 hours`, `10 minutes`, `3 days`     | the same, in words                             |
//! | `8 business hours`, `30 business minutes` | business time: working hours on working days |
//! | `15 working days`, `1 working day`     | close of business on the N-th working day (the calendar's rule) |
//!
//! Zero and negative durations are refused, and so are durations over ten years
//! (`MAX_DAYS`) or [`MAX_WORKING_DAYS`], which are typing mistakes rather than service levels.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use ombuds_calendar::{Calendar, CalendarError};

/// The longest calendar or business time a target may allow, in days of wall time.
pub const MAX_DAYS: u64 = 3650;
/// The most working days a target may allow.
pub const MAX_WORKING_DAYS: u32 = 2000;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// The time a target allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Within {
    /// Calendar time: `from + d`, nights, weekends and holidays included.
    Hours(Duration),
    /// Business time: only the calendar's working hours on working days count.
    BusinessTime(Duration),
    /// "Within N working days", counted by the calendar's working-day rule (by default
    /// the close of business on the N-th working day after the day of receipt).
    WorkingDays(u32),
}

impl Within {
    /// Parses the `within:` text of a target (see the module docs for the grammar).
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_lowercase();
        if lower.is_empty() {
            return Err(format!("within is empty; {FORMS}"));
        }
        if lower.starts_with('-') {
            return Err(format!(
                "negative duration {:?}: a target needs a time longer than zero",
                text.trim()
            ));
        }
        let words: Vec<&str> = lower.split_whitespace().collect();
        let within = match words.as_slice() {
            [n, "working", "day" | "days"] => {
                let n = whole(n, text)?;
                let n = u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= MAX_WORKING_DAYS)
                    .ok_or_else(|| {
                        format!(
                            "{:?} is too long: at most {MAX_WORKING_DAYS} working days",
                            text.trim()
                        )
                    })?;
                Within::WorkingDays(n)
            }
            [_, "business" | "work", "day" | "days"] => {
                return Err(format!(
                    "{:?} is ambiguous: write \"N working days\" (close of business on the N-th \
                     working day) or \"N business hours\"",
                    text.trim()
                ))
            }
            [n, "business", unit] => {
                let unit = unit_seconds(unit)
                    .filter(|u| *u < DAY)
                    .ok_or_else(|| format!("unknown business time unit {unit:?}; {FORMS}"))?;
                Within::BusinessTime(seconds(whole(n, text)?, unit, text)?)
            }
            [n, unit] => {
                let unit = unit_seconds(unit).ok_or_else(|| {
                    format!("unknown unit {unit:?} in {:?}; {FORMS}", text.trim())
                })?;
                Within::Hours(seconds(whole(n, text)?, unit, text)?)
            }
            [compact] => Within::Hours(compact_duration(compact, text)?),
            _ => return Err(format!("cannot read {:?}; {FORMS}", text.trim())),
        };
        if within.is_zero() {
            return Err(format!(
                "zero duration {:?}: a target needs a time longer than zero",
                text.trim()
            ));
        }
        Ok(within)
    }

    fn is_zero(&self) -> bool {
        match self {
            Within::Hours(d) | Within::BusinessTime(d) => d.is_zero(),
            Within::WorkingDays(n) => *n == 0,
        }
    }

    /// The deadline for a clock started at `from`, counted on `cal`.
    pub fn deadline(
        &self,
        cal: &Calendar,
        from: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, CalendarError> {
        match *self {
            Within::Hours(d) => Ok(cal.add_hours(from, d)),
            Within::BusinessTime(d) => cal.add_business_time(from, d),
            Within::WorkingDays(n) => cal.add_working_days(from, n),
        }
    }

    /// A short text that [`Within::parse`] reads back: `72h`, `1h30m`,
    /// `8 business hours`, `15 working days`.
    pub fn describe(&self) -> String {
        match *self {
            Within::Hours(d) => {
                let s = d.as_secs();
                let parts = [(s / HOUR, "h"), (s % HOUR / 60, "m"), (s % 60, "s")];
                let out: String = parts
                    .iter()
                    .filter(|(n, _)| *n != 0)
                    .map(|(n, unit)| format!("{n}{unit}"))
                    .collect();
                if out.is_empty() {
                    "0s".to_owned()
                } else {
                    out
                }
            }
            Within::BusinessTime(d) => {
                let s = d.as_secs();
                let (n, unit) = if s % HOUR == 0 {
                    (s / HOUR, "hour")
                } else if s % 60 == 0 {
                    (s / 60, "minute")
                } else {
                    (s, "second")
                };
                format!("{n} business {unit}{}", if n == 1 { "" } else { "s" })
            }
            Within::WorkingDays(n) => {
                format!("{n} working day{}", if n == 1 { "" } else { "s" })
            }
        }
    }

    /// Whether this counts on a business calendar (business time or working days),
    /// so that its target needs a calendar with working hours.
    pub fn is_business(&self) -> bool {
        !matches!(self, Within::Hours(_))
    }
}

impl fmt::Display for Within {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

const FORMS: &str = "write e.g. 24h, 90m, 3d, 1h30m, \"8 business hours\" or \"15 working days\"";

/// A whole, unsigned number.
fn whole(n: &str, text: &str) -> Result<u64, String> {
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if n.contains(['.', ',']) {
            format!(
                "{:?}: whole numbers only (write 90m rather than 1.5h)",
                text.trim()
            )
        } else {
            format!("{:?} is not a number in {:?}; {FORMS}", n, text.trim())
        });
    }
    n.parse::<u64>()
        .map_err(|_| format!("{:?} is too long: at most {MAX_DAYS} days", text.trim()))
}

fn unit_seconds(unit: &str) -> Option<u64> {
    Some(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
        "d" | "day" | "days" => DAY,
        _ => return None,
    })
}

fn seconds(n: u64, unit: u64, text: &str) -> Result<Duration, String> {
    n.checked_mul(unit)
        .filter(|s| *s <= MAX_DAYS * DAY)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{:?} is too long: at most {MAX_DAYS} days", text.trim()))
}

/// `24h`, `1h30m`, `3d`: numbers each followed by one of `d h m s`.
fn compact_duration(s: &str, text: &str) -> Result<Duration, String> {
    if s.contains(['.', ',']) {
        return Err(format!(
            "{:?}: whole numbers only (write 90m rather than 1.5h)",
            text.trim()
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (n, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        if n.is_empty() {
            return Err(format!("cannot read {:?}; {FORMS}", text.trim()));
        }
        if unit.is_empty() {
            return Err(if tail.is_empty() {
                format!(
                    "{:?} has no unit: write {n}h (hours), {n}m (minutes), {n}d (days), \
                     \"{n} working days\" or \"{n} business hours\"",
                    text.trim()
                )
            } else {
                format!("cannot read {:?}; {FORMS}", text.trim())
            });
        }
        let size = unit_seconds(unit)
            .ok_or_else(|| format!("unknown unit {unit:?} in {:?}; {FORMS}", text.trim()))?;
        total = total
            .checked_add(seconds(whole(n, text)?, size, text)?)
            .filter(|t| t.as_secs() <= MAX_DAYS * DAY)
            .ok_or_else(|| format!("{:?} is too long: at most {MAX_DAYS} days", text.trim()))?;
        rest = tail;
    }
    Ok(total)
}
