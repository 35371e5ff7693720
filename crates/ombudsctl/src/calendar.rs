//! `ombudsctl calendar`: the SLA deadline arithmetic on a business calendar, for an
//! operator to check by hand. It runs locally on `ombuds-calendar` (the same code as
//! the SLA watchdog) and talks to no service.
//!
//! `calendar due --calendar <name or file> --from <RFC 3339> (--working-days N |
//! --business-hours H | --hours H)` prints the deadline as one RFC 3339 line in the
//! calendar's UTC offset (`2025-10-10T18:00:00+08:00`) and nothing else;
//! `calendar elapsed --from … --to …` prints the business seconds between two instants.
//! Every mistake (a bad instant, an unknown calendar, a year without holiday data) is
//! one line on standard error and a non-zero exit, through [`CtlError`].

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use ombuds_calendar::{Calendar, Calendars, WorkingDayRule};
use serde_json::json;

use crate::client::CtlError;

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Print the deadline: --from plus working days, business hours or calendar hours.
    Due(DueArgs),
    /// Print the business time between --from and --to, in seconds.
    Elapsed(ElapsedArgs),
}

#[derive(Debug, Args)]
pub struct DueArgs {
    /// A calendar name (cn, 24x7) or a calendar file (.toml, .json, .ics, or a
    /// directory of holiday-cn <year>.json files).
    #[arg(long, default_value = "cn", value_name = "NAME|FILE")]
    pub calendar: String,
    /// When the clock starts, RFC 3339 (2025-09-30T10:00:00+08:00).
    #[arg(long, value_name = "RFC3339", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// "Within N working days" (close of business of the N-th working day after the day of receipt).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub working_days: Option<String>,
    /// N hours of business time (working hours on working days); decimals allowed.
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub business_hours: Option<String>,
    /// N calendar hours, no calendar involved; decimals allowed.
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub hours: Option<String>,
    /// The meaning of --working-days: close-of-business (default) or business-time
    /// (N × a standard working day of business time).
    #[arg(long, value_name = "RULE")]
    pub rule: Option<String>,
}

#[derive(Debug, Args)]
pub struct ElapsedArgs {
    /// A calendar name (cn, 24x7) or a calendar file.
    #[arg(long, default_value = "cn", value_name = "NAME|FILE")]
    pub calendar: String,
    /// Start, RFC 3339.
    #[arg(long, value_name = "RFC3339", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// End, RFC 3339.
    #[arg(long, value_name = "RFC3339", allow_hyphen_values = true)]
    pub to: Option<String>,
}

/// What `due` adds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Amount {
    WorkingDays(u32),
    BusinessTime(Duration),
    CalendarTime(Duration),
}

/// Runs a calendar command and returns what to print.
pub fn run(cmd: CalendarCommand, json: bool) -> Result<String, CtlError> {
    match cmd {
        CalendarCommand::Due(a) => {
            let from = instant("--from", a.from.as_deref())?;
            let amount = amount(&a)?;
            let mut cal = calendar(&a.calendar)?;
            if let Some(r) = &a.rule {
                let rule = WorkingDayRule::parse(r).ok_or_else(|| {
                    other(format!(
                        "--rule {r:?}: expected close-of-business or business-time"
                    ))
                })?;
                cal = cal.with_working_day_rule(rule);
            }
            let due = match amount {
                Amount::WorkingDays(n) => cal.add_working_days(from, n),
                Amount::BusinessTime(d) => cal.add_business_time(from, d),
                Amount::CalendarTime(d) => Ok(cal.add_hours(from, d)),
            }
            .map_err(|e| other(e.to_string()))?;
            let shown = in_calendar_offset(&cal, due);
            if json {
                to_json(&json!({
                    "calendar": cal.name(),
                    "timezone": cal.timezone().name(),
                    "from": in_calendar_offset(&cal, from),
                    "deadline": shown,
                }))
            } else {
                Ok(format!("{shown}\n"))
            }
        }
        CalendarCommand::Elapsed(a) => {
            let from = instant("--from", a.from.as_deref())?;
            let to = instant("--to", a.to.as_deref())?;
            let cal = calendar(&a.calendar)?;
            let d = cal
                .business_time_between(from, to)
                .map_err(|e| other(e.to_string()))?;
            let secs = seconds(d);
            if json {
                to_json(&json!({
                    "calendar": cal.name(),
                    "from": in_calendar_offset(&cal, from),
                    "to": in_calendar_offset(&cal, to),
                    "business_seconds": d.as_secs_f64(),
                }))
            } else {
                Ok(format!("{secs}\n"))
            }
        }
    }
}

fn other(msg: String) -> CtlError {
    CtlError::Other(msg)
}

fn to_json(v: &serde_json::Value) -> Result<String, CtlError> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| other(format!("cannot encode JSON: {e}")))
}

fn calendar(name_or_path: &str) -> Result<Calendar, CtlError> {
    let mut cals = Calendars::builtin();
    cals.resolve(name_or_path)
        .map(|c| (*c).clone())
        .map_err(|e| other(e.to_string()))
}

fn instant(flag: &str, v: Option<&str>) -> Result<DateTime<Utc>, CtlError> {
    let v = v.ok_or_else(|| {
        other(format!(
            "{flag} is required (RFC 3339, e.g. 2025-09-30T10:00:00+08:00)"
        ))
    })?;
    DateTime::parse_from_rfc3339(v.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            other(format!(
                "{flag} {v:?}: not an RFC 3339 instant with an offset, e.g. 2025-09-30T10:00:00+08:00 ({e})"
            ))
        })
}

fn amount(a: &DueArgs) -> Result<Amount, CtlError> {
    let given = [
        a.working_days.is_some(),
        a.business_hours.is_some(),
        a.hours.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(other(
            "give exactly one of --working-days N, --business-hours H, --hours H".to_owned(),
        ));
    }
    if a.rule.is_some() && a.working_days.is_none() {
        return Err(other("--rule applies to --working-days only".to_owned()));
    }
    if let Some(n) = &a.working_days {
        let n: u32 = n.trim().parse().map_err(|_| {
            other(format!(
                "--working-days {n:?}: expected a whole number of days, 0 or more"
            ))
        })?;
        return Ok(Amount::WorkingDays(n));
    }
    if let Some(h) = &a.business_hours {
        return hours("--business-hours", h).map(Amount::BusinessTime);
    }
    match &a.hours {
        Some(h) => hours("--hours", h).map(Amount::CalendarTime),
        None => Err(other("nothing to add".to_owned())),
    }
}

/// Parses a non-negative decimal number of hours exactly (`1.5` = 5400 s), to the
/// nanosecond.
fn hours(flag: &str, s: &str) -> Result<Duration, CtlError> {
    let bad = || {
        other(format!(
            "{flag} {s:?}: expected a number of hours, 0 or more (e.g. 72 or 1.5)"
        ))
    };
    let t = s.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return Err(bad());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let scale = 10u128.pow(frac.len() as u32);
    let frac: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let nanos = (whole * scale + frac)
        .checked_mul(3_600_000_000_000)
        .map(|n| n / scale)
        .ok_or_else(bad)?;
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| bad())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// RFC 3339 in the calendar's UTC offset at that instant; fractions only if any.
fn in_calendar_offset(cal: &Calendar, t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&cal.timezone());
    let fixed = local.with_timezone(&chrono::Offset::fix(local.offset()));
    fixed.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Seconds, with a decimal fraction only when there is one.
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        let frac = format!("{:09}", d.subsec_nanos());
        format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_exact_decimals() {
        assert_eq!(
            hours("--hours", "72").ok(),
            Some(Duration::from_secs(72 * 3600))
        );
        assert_eq!(
            hours("--hours", "1.5").ok(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(hours("--hours", "0.1").ok(), Some(Duration::from_secs(360)));
        assert_eq!(hours("--hours", ".25").ok(), Some(Duration::from_secs(900)));
        assert_eq!(hours("--hours", "0").ok(), Some(Duration::ZERO));
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "NaN",
            "1.2.3",
            "0.0000000001",
            "abc",
            "99999999999999999999999999999999999",
        ] {
            assert!(hours("--hours", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seconds_print_without_needless_fractions() {
        assert_eq!(seconds(Duration::from_secs(32400)), "32400");
        assert_eq!(seconds(Duration::new(1, 500_000_000)), "1.5");
        assert_eq!(seconds(Duration::new(0, 1)), "0.000000001");
    }

    #[test]
    fn exactly_one_amount() {
        let args = |wd: Option<&str>, bh: Option<&str>, h: Option<&str>| DueArgs {
            calendar: "cn".into(),
            from: None,
            working_days: wd.map(Into::into),
            business_hours: bh.map(Into::into),
            hours: h.map(Into::into),
            rule: None,
        };
        assert_eq!(
            amount(&args(Some("3"), None, None)).ok(),
            Some(Amount::WorkingDays(3))
        );
        assert!(amount(&args(None, None, None)).is_err());
        assert!(amount(&args(Some("3"), Some("2"), None)).is_err());
        assert!(amount(&args(Some("-3"), None, None)).is_err());
        assert!(amount(&args(Some("three"), None, None)).is_err());
    }
}
