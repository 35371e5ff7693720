//! The crate's own calendar format, in TOML or JSON (the same fields):
//!
//! ```toml
//! name = "acme-berlin"              # optional; default: the file name without extension
//! timezone = "Europe/Berlin"        # IANA name
//! years = [2025, 2026]              # optional: the years the holiday data covers
//! working_day_rule = "close-of-business"   # optional; or "business-time"
//! workday = ["09:00-17:00"]         # optional: hours of a make-up working day
//! holidays = ["2025-12-25", "2025-12-26", "2025-12-29..2025-12-31"]
//! working_days = []                 # make-up working days (a weekend day worked)
//!
//! [week]                            # mon tue wed thu fri sat sun, or "weekdays" (Mon-Fri)
//! mon = ["09:00-12:00", "13:00-17:00"]
//! weekdays = ["09:00-17:00"]        # a specific day given as well wins over "weekdays"
//! sat = []
//! ```
//!
//! Dates are `YYYY-MM-DD`, or an inclusive range `A..B`. Without `years`, a calendar
//! with holidays or make-up days covers the years from its first to its last listed
//! date, and a calendar without any covers every year. Unknown fields are errors, so
//! a typo (`holiday = …`) does not silently drop the holidays.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Weekday};
use serde::Deserialize;

use super::{line_at, line_of, parse_date};
use crate::{Calendar, CalendarError, WorkingDayRule};

/// The fields of the own format, as read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub timezone: String,
    #[serde(default)]
    pub week: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub workday: Option<Vec<String>>,
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub working_days: Vec<String>,
    #[serde(default)]
    pub years: Option<(i32, i32)>,
    #[serde(default)]
    pub working_day_rule: Option<String>,
}

/// Reads the own format from TOML text.
pub fn parse_toml(
    source_name: &str,
    default_name: &str,
    text: &str,
) -> Result<Calendar, CalendarError> {
    let spec: CalendarSpec = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start)).unwrap_or(0);
        CalendarError::parse(source_name, line, e.message().trim().to_owned())
    })?;
    build(source_name, default_name, text, spec)
}

/// Reads the own format from JSON text.
pub fn parse_json(
    source_name: &str,
    default_name: &str,
    text: &str,
) -> Result<Calendar, CalendarError> {
    let spec: CalendarSpec = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // serde_json appends " at line L column C"; the line is reported separately.
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        CalendarError::parse(source_name, e.line(), msg)
    })?;
    build(source_name, default_name, text, spec)
}

fn weekday_key(key: &str) -> Option<&'static [Weekday]> {
    use Weekday::*;
    Some(match key.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => &[Mon],
        "tue" | "tuesday" => &[Tue],
        "wed" | "wednesday" => &[Wed],
        "thu" | "thursday" => &[Thu],
        "fri" | "friday" => &[Fri],
        "sat" | "saturday" => &[Sat],
        "sun" | "sunday" => &[Sun],
        "weekdays" | "mon-fri" => &[Mon, Tue, Wed, Thu, Fri],
        _ => return None,
    })
}

/// Expands `YYYY-MM-DD` or `A..B` (inclusive, at most 366 days).
fn dates(s: &str) -> Result<Vec<NaiveDate>, String> {
    match s.split_once("..") {
        None => Ok(vec![parse_date(s)?]),
        Some((a, b)) => {
            let (a, b) = (parse_date(a)?, parse_date(b)?);
            if b < a {
                return Err(format!("the range {s:?} ends before it starts"));
            }
            if (b - a).num_days() > 366 {
                return Err(format!("the range {s:?} is longer than a year"));
            }
            Ok(a.iter_days().take_while(|d| *d <= b).collect())
        }
    }
}

fn build(
    source_name: &str,
    default_name: &str,
    text: &str,
    spec: CalendarSpec,
) -> Result<Calendar, CalendarError> {
    let err =
        |needle: &str, msg: String| CalendarError::parse(source_name, line_of(text, needle), msg);
    let tz: chrono_tz::Tz = spec.timezone.trim().parse().map_err(|_| {
        err(
            &spec.timezone,
            format!("unknown time zone {:?}", spec.timezone),
        )
    })?;
    let name = spec
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| default_name.to_owned());
    let mut b = Calendar::builder(name.trim(), tz);

    // "weekdays" first, so that a specific day given as well wins.
    let mut keys: Vec<(&String, &Vec<String>)> = spec.week.iter().collect();
    keys.sort_by_key(|(k, _)| weekday_key(k).map_or(0, |d| usize::from(d.len() == 1)));
    if keys.is_empty() {
        return Err(err(
            "timezone",
            "no working week: add [week] with the hours of each day".to_owned(),
        ));
    }
    for (key, hours) in keys {
        let days = weekday_key(key).ok_or_else(|| {
            err(
                key,
                format!("unknown day {key:?} in week (mon tue wed thu fri sat sun, or weekdays)"),
            )
        })?;
        if let Err(e) = crate::hours::parse_day(hours) {
            let needle = hours.first().map_or(key.as_str(), String::as_str);
            return Err(err(needle, format!("week.{key}: {e}")));
        }
        for d in days {
            b = b.hours(*d, hours);
        }
    }
    if let Some(w) = &spec.workday {
        if let Err(e) = crate::hours::parse_day(w) {
            return Err(err("workday", format!("workday: {e}")));
        }
        b = b.workday_hours(w);
    }
    let mut holidays = Vec::new();
    for h in &spec.holidays {
        holidays.extend(dates(h).map_err(|e| err(h, format!("holidays: {e}")))?);
    }
    let mut working = Vec::new();
    for w in &spec.working_days {
        working.extend(dates(w).map_err(|e| err(w, format!("working_days: {e}")))?);
    }
    if let Some(d) = holidays.iter().find(|d| working.contains(d)) {
        let shown = d.to_string();
        return Err(err(
            &shown,
            format!("{shown} is both a holiday and a make-up working day"),
        ));
    }
    b = b.holidays(holidays).working_days(working);
    if let Some((first, last)) = spec.years {
        if first > last || !(1678..=2261).contains(&first) || !(1678..=2261).contains(&last) {
            return Err(err(
                "years",
                format!("years [{first}, {last}]: expected [first, last], 1678..2261"),
            ));
        }
        b = b.years(first, last);
    }
    if let Some(r) = &spec.working_day_rule {
        let rule = WorkingDayRule::parse(r).ok_or_else(|| {
            err(
                r,
                format!("unknown working_day_rule {r:?} (close-of-business or business-time)"),
            )
        })?;
        b = b.working_day_rule(rule);
    }
    b.build().map_err(|e| match e {
        CalendarError::Invalid { message, .. } => err("", message),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: &str = r#"
name = "acme-berlin"
timezone = "Europe/Berlin"
years = [2025, 2026]
holidays = ["2025-12-25", "2025-12-29..2025-12-31"]
working_days = ["2025-12-27"]

[week]
weekdays = ["09:00-17:00"]
fri = ["09:00-13:00"]
"#;

    #[test]
    fn toml_with_weekdays_and_an_override() {
        let cal = parse_toml("berlin.toml", "berlin", BERLIN).expect("valid");
        assert_eq!(cal.name(), "acme-berlin");
        assert_eq!(cal.timezone(), chrono_tz::Europe::Berlin);
        assert_eq!(cal.years(), Some((2025, 2026)));
        assert_eq!(cal.week_hours(Weekday::Mon)[0].to_string(), "09:00-17:00");
        assert_eq!(cal.week_hours(Weekday::Fri)[0].to_string(), "09:00-13:00");
        assert!(cal.week_hours(Weekday::Sat).is_empty());
        assert_eq!(cal.holidays().count(), 4);
        assert_eq!(cal.extra_working_days().count(), 1);
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).expect("date");
        assert_eq!(cal.is_working_day(d(12, 27)).ok(), Some(true)); // Saturday, worked
        assert_eq!(cal.is_working_day(d(12, 30)).ok(), Some(false));
        assert_eq!(cal.is_working_day(d(12, 22)).ok(), Some(true));
    }

    #[test]
    fn json_is_the_same_format() {
        let text = r#"{"timezone": "America/New_York", "week": {"mon": ["09:00-17:00"]},
                       "working_day_rule": "business-time"}"#;
        let cal = parse_json("ny.json", "ny", text).expect("valid");
        assert_eq!(cal.name(), "ny");
        assert_eq!(cal.years(), None);
        assert_eq!(cal.working_day_rule(), WorkingDayRule::BusinessTime);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let bad_date = BERLIN.replace("2025-12-25", "2025-13-25");
        let e = parse_toml("b.toml", "b", &bad_date)
            .expect_err("bad date")
            .to_string();
        assert!(e.starts_with("b.toml:5: holidays: \"2025-13-25\""), "{e}");

        let bad_tz = BERLIN.replace("Europe/Berlin", "Europe/Gotham");
        let e = parse_toml("b.toml", "b", &bad_tz)
            .expect_err("bad tz")
            .to_string();
        assert_eq!(e, "b.toml:3: unknown time zone \"Europe/Gotham\"");

        let bad_hours = BERLIN.replace("09:00-13:00", "13:00-09:00");
        let e = parse_toml("b.toml", "b", &bad_hours)
            .expect_err("bad hours")
            .to_string();
        assert!(e.starts_with("b.toml:10: week.fri:"), "{e}");

        let typo = BERLIN.replace("holidays =", "holiday =");
        let e = parse_toml("b.toml", "b", &typo)
            .expect_err("unknown field")
            .to_string();
        assert!(e.starts_with("b.toml:5: unknown field `holiday`"), "{e}");

        let syntax = "timezone = \"UTC\"\n[week\nmon = []\n";
        let e = parse_toml("s.toml", "s", syntax)
            .expect_err("syntax")
            .to_string();
        assert!(e.starts_with("s.toml:2: "), "{e}");

        let e = parse_json("j.json", "j", "{\n \"timezone\": 5\n}")
            .expect_err("type")
            .to_string();
        assert!(e.starts_with("j.json:2: invalid type"), "{e}");

        let e = parse_toml(
            "d.toml",
            "d",
            "timezone = \"UTC\"\n[week]\nfunday = [\"09:00-10:00\"]\n",
        )
        .expect_err("unknown day")
        .to_string();
        assert!(e.starts_with("d.toml:3: unknown day \"funday\""), "{e}");

        let conflict = BERLIN.replace("\"2025-12-27\"", "\"2025-12-30\"");
        let e = parse_toml("c.toml", "c", &conflict)
            .expect_err("conflict")
            .to_string();
        assert!(e.contains("2025-12-30 is both a holiday"), "{e}");
    }
}
