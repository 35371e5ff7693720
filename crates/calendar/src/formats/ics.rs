//! iCalendar (.ics, RFC 5545) holiday calendars: each `VEVENT` marks whole days.
//!
//! - `DTSTART`/`DTEND` are dates (`VALUE=DATE`, `20251001`); `DTEND` is exclusive, a
//!   missing `DTEND` means one day (or `DURATION:PnD`/`PnW`), and a multi-day event
//!   marks every day it spans (at most 366). A date-time at `000000` is read as its
//!   date; other timed events and recurring ones (`RRULE`, `RDATE`) are rejected with
//!   the line, since guessing would give wrong deadlines. `STATUS:CANCELLED` events
//!   are skipped. Folded lines (a line starting with a space or tab continues the
//!   previous one) and CRLF or LF line ends are accepted.
//! - An event marks days **off**, unless it says it is a **working day** (a make-up
//!   working day, 调休上班), in this order of precedence:
//!   1. `X-OMBUDS-DAY:WORKING` (or `WORK`, `WORKDAY`) / `X-OMBUDS-DAY:OFF` (or `HOLIDAY`);
//!   2. `CATEGORIES` holding `WORKDAY`, `WORKING DAY`, `WORKING-DAY` or `WORK DAY`
//!      (`HOLIDAY` or `DAY OFF` say off);
//!   3. a `SUMMARY` containing `班` (`补班`, `上班`, `调休上班`) or `工作日`, or in English
//!      `working day`, `workday`, `work day` or `business day` (but not `non-working`).
//! - The time zone is `X-WR-TIMEZONE` when present, else the base calendar's; the
//!   working week is always the base calendar's (for [`crate::Calendars::resolve`]:
//!   Monday-Friday 09:00-18:00, Asia/Shanghai, as `cn`).
//! - The years covered are `X-OMBUDS-YEARS:2025-2026` (or `:2025`) when present, else
//!   the years from the first to the last marked date. A file with no event and no
//!   `X-OMBUDS-YEARS` is rejected (it would silently mean "no holidays, ever").

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use crate::{Calendar, CalendarError};

/// One unfolded content line.
struct Prop {
    line: usize,
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl Prop {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Event {
    line: usize,
    start: Option<(NaiveDate, usize)>,
    end: Option<(NaiveDate, usize)>,
    duration_days: Option<i64>,
    summary: String,
    categories: Vec<String>,
    x_day: Option<bool>,
    cancelled: bool,
    recurrence: Option<usize>,
}

/// Reads an .ics text into a calendar named `name` with `base`'s week and rule.
pub fn parse(
    source_name: &str,
    name: &str,
    text: &str,
    base: &Calendar,
) -> Result<Calendar, CalendarError> {
    let err = |line: usize, msg: String| CalendarError::parse(source_name, line, msg);
    let mut tz = base.timezone();
    let mut years: Option<(i32, i32)> = None;
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut seen_calendar = false;
    let mut event: Option<Event> = None;
    // date -> (working?, line of the event)
    let mut days: BTreeMap<NaiveDate, (bool, usize)> = BTreeMap::new();

    for prop in unfold(text) {
        let prop = parse_line(&prop.0, prop.1).map_err(|m| err(prop.1, m))?;
        match prop.name.as_str() {
            "BEGIN" => {
                let what = prop.value.trim().to_ascii_uppercase();
                if stack.is_empty() && what != "VCALENDAR" {
                    return Err(err(
                        prop.line,
                        format!("expected BEGIN:VCALENDAR, found BEGIN:{what}"),
                    ));
                }
                if what == "VCALENDAR" {
                    if !stack.is_empty() {
                        return Err(err(
                            prop.line,
                            "BEGIN:VCALENDAR inside another component".into(),
                        ));
                    }
                    seen_calendar = true;
                }
                if what == "VEVENT" {
                    if stack.last().map(|s| s.0.as_str()) != Some("VCALENDAR") {
                        return Err(err(prop.line, "BEGIN:VEVENT outside VCALENDAR".into()));
                    }
                    event = Some(Event {
                        line: prop.line,
                        ..Event::default()
                    });
                }
                stack.push((what, prop.line));
            }
            "END" => {
                let what = prop.value.trim().to_ascii_uppercase();
                match stack.pop() {
                    Some((open, _)) if open == what => {}
                    Some((open, at)) => {
                        return Err(err(
                            prop.line,
                            format!("END:{what} does not close BEGIN:{open} (line {at})"),
                        ))
                    }
                    None => return Err(err(prop.line, format!("END:{what} without BEGIN"))),
                }
                if what == "VEVENT" {
                    if let Some(ev) = event.take() {
                        mark(&ev, &mut days).map_err(|(line, m)| err(line, m))?;
                    }
                }
            }
            _ => {
                let top = stack.last().map(|s| s.0.as_str());
                match (top, event.as_mut()) {
                    (Some("VEVENT"), Some(ev)) => {
                        event_prop(ev, &prop).map_err(|m| err(prop.line, m))?
                    }
                    (Some("VCALENDAR"), _) => match prop.name.as_str() {
                        "X-WR-TIMEZONE" => {
                            let v = prop.value.trim();
                            tz = v.parse().map_err(|_| {
                                err(
                                    prop.line,
                                    format!("unknown time zone {v:?} in X-WR-TIMEZONE"),
                                )
                            })?;
                        }
                        "X-OMBUDS-YEARS" => {
                            years = Some(parse_years(&prop.value).map_err(|m| err(prop.line, m))?);
                        }
                        _ => {}
                    },
                    (None, _) => {
                        return Err(err(
                            prop.line,
                            format!("{} outside BEGIN:VCALENDAR", prop.name),
                        ));
                    }
                    _ => {} // other components (VTIMEZONE, VALARM, ...) are not needed
                }
            }
        }
    }
    if let Some((open, at)) = stack.last() {
        return Err(err(at.to_owned(), format!("BEGIN:{open} is never closed")));
    }
    if !seen_calendar {
        return Err(err(1, "not an iCalendar file (no BEGIN:VCALENDAR)".into()));
    }
    let years = match years {
        Some(y) => y,
        None => match (days.keys().next(), days.keys().next_back()) {
            (Some(a), Some(b)) => (a.year(), b.year()),
            _ => {
                return Err(err(
                    0,
                    "no events: an empty holiday calendar would mean no holidays at all \
                     (add X-OMBUDS-YEARS:<first>-<last> if that is really meant)"
                        .into(),
                ))
            }
        },
    };
    base.rebuild(name)
        .timezone(tz)
        .holidays(days.iter().filter(|(_, v)| !v.0).map(|(d, _)| *d))
        .working_days(days.iter().filter(|(_, v)| v.0).map(|(d, _)| *d))
        .years(years.0, years.1)
        .build()
}

/// Logical lines `(text, 1-based line where it starts)`, unfolded, without line ends.
fn unfold(text: &str) -> Vec<(String, usize)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<(String, usize)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.0.push_str(rest);
                continue;
            }
        }
        if raw.trim().is_empty() {
            continue;
        }
        out.push((raw.to_owned(), i + 1));
    }
    out
}

/// `NAME;P=V;Q="a:b":VALUE`.
fn parse_line(s: &str, line: usize) -> Result<Prop, String> {
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(colon) = colon else {
        return Err(format!("expected NAME:VALUE, found {:?}", truncate(s)));
    };
    let (head, value) = (&s[..colon], &s[colon + 1..]);
    let mut parts = split_unquoted(head, ';').into_iter();
    let name = parts.next().unwrap_or_default().trim().to_ascii_uppercase();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!("bad property name in {:?}", truncate(s)));
    }
    let mut params = Vec::new();
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("bad parameter {p:?} in {name}"))?;
        params.push((
            k.trim().to_ascii_uppercase(),
            v.trim().trim_matches('"').to_owned(),
        ));
    }
    Ok(Prop {
        line,
        name,
        params,
        value: value.to_owned(),
    })
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        } else if c == sep && !in_quotes {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

fn unescape(s: &str) -> String {
    s.replace("\\n", " ")
        .replace("\\N", " ")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
}

fn event_prop(ev: &mut Event, p: &Prop) -> Result<(), String> {
    match p.name.as_str() {
        "DTSTART" => ev.start = Some((date_value(p)?, p.line)),
        "DTEND" => ev.end = Some((date_value(p)?, p.line)),
        "DURATION" => ev.duration_days = Some(duration_days(p.value.trim())?),
        "SUMMARY" => ev.summary = unescape(&p.value),
        "CATEGORIES" => ev.categories.extend(
            split_unquoted(&p.value, ',')
                .into_iter()
                .map(|c| unescape(c).trim().to_owned()),
        ),
        "STATUS" => ev.cancelled = p.value.trim().eq_ignore_ascii_case("CANCELLED"),
        "RRULE" | "RDATE" | "EXRULE" => ev.recurrence = Some(p.line),
        "X-OMBUDS-DAY" => {
            ev.x_day = Some(match p.value.trim().to_ascii_uppercase().as_str() {
                "WORKING" | "WORK" | "WORKDAY" | "WORKING-DAY" => true,
                "OFF" | "HOLIDAY" | "DAY-OFF" => false,
                other => {
                    return Err(format!(
                        "X-OMBUDS-DAY must be WORKING or OFF, not {other:?}"
                    ))
                }
            })
        }
        _ => {}
    }
    Ok(())
}

/// A date from `DTSTART`/`DTEND`: `20251001`, or a date-time at `000000`.
fn date_value(p: &Prop) -> Result<NaiveDate, String> {
    let v = p.value.trim();
    let (date, time) = match v.split_once('T') {
        Some((d, t)) => (d, Some(t.trim_end_matches('Z'))),
        None => (v, None),
    };
    if p.param("VALUE")
        .is_some_and(|k| k.eq_ignore_ascii_case("DATE"))
        && time.is_some()
    {
        return Err(format!("{}: VALUE=DATE but {v:?} has a time", p.name));
    }
    if let Some(t) = time {
        if t != "000000" {
            return Err(format!(
                "{}: timed events are not supported ({v:?}); a holiday is a whole day (VALUE=DATE)",
                p.name
            ));
        }
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{}: {v:?} is not a date (YYYYMMDD)", p.name));
    }
    NaiveDate::parse_from_str(date, "%Y%m%d")
        .map_err(|_| format!("{}: {v:?} is not a valid date", p.name))
}

/// `PnD` or `PnW` (also `PnDT0H0M0S`), in days.
fn duration_days(v: &str) -> Result<i64, String> {
    let bad = || format!("DURATION {v:?}: only whole days (PnD) or weeks (PnW) are supported");
    let body = v.strip_prefix('P').ok_or_else(bad)?;
    let body = body
        .strip_suffix("T0H0M0S")
        .or_else(|| body.strip_suffix("T0S"))
        .unwrap_or(body);
    let (num, mult) = if let Some(n) = body.strip_suffix('D') {
        (n, 1)
    } else if let Some(n) = body.strip_suffix('W') {
        (n, 7)
    } else {
        return Err(bad());
    };
    if num.is_empty() || num.len() > 4 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    num.parse::<i64>().map(|n| n * mult).map_err(|_| bad())
}

fn parse_years(v: &str) -> Result<(i32, i32), String> {
    let v = v.trim();
    let bad = || format!("X-OMBUDS-YEARS {v:?}: expected YYYY or YYYY-YYYY");
    let (a, b) = v
        .split_once("..")
        .or_else(|| v.split_once('-'))
        .unwrap_or((v, v));
    let a: i32 = a.trim().parse().map_err(|_| bad())?;
    let b: i32 = b.trim().parse().map_err(|_| bad())?;
    if a > b || !(1678..=2261).contains(&a) || !(1678..=2261).contains(&b) {
        return Err(bad());
    }
    Ok((a, b))
}

/// Whether an event marks working days (the convention in the module docs).
fn is_working(ev: &Event) -> bool {
    if let Some(k) = ev.x_day {
        return k;
    }
    for c in &ev.categories {
        match c.to_ascii_uppercase().as_str() {
            "WORKDAY" | "WORKING DAY" | "WORKING-DAY" | "WORK DAY" | "WORKINGDAY" => return true,
            "HOLIDAY" | "DAY OFF" | "DAY-OFF" => return false,
            _ => {}
        }
    }
    let s = ev.summary.to_lowercase();
    if s.contains('班') || s.contains("工作日") {
        return true;
    }
    let negated = ["non-working", "non working", "nonworking", "no work"]
        .iter()
        .any(|n| s.contains(n));
    !negated
        && ["working day", "workday", "work day", "business day"]
            .iter()
            .any(|w| s.contains(w))
}

fn mark(ev: &Event, days: &mut BTreeMap<NaiveDate, (bool, usize)>) -> Result<(), (usize, String)> {
    if ev.cancelled {
        return Ok(());
    }
    if let Some(line) = ev.recurrence {
        return Err((
            line,
            "recurring events (RRULE, RDATE) are not supported: list each occurrence".into(),
        ));
    }
    let Some((start, _)) = ev.start else {
        return Err((ev.line, "VEVENT without DTSTART".into()));
    };
    let end = match (ev.end, ev.duration_days) {
        (Some((end, line)), _) if end < start => {
            return Err((line, format!("DTEND {end} is before DTSTART {start}")));
        }
        (Some((end, _)), _) if end == start => start.succ_opt().unwrap_or(start),
        (Some((end, _)), _) => end,
        (None, Some(n)) => start
            .checked_add_days(chrono::Days::new(n.max(1).unsigned_abs()))
            .unwrap_or(start),
        (None, None) => start.succ_opt().unwrap_or(start),
    };
    if (end - start).num_days() > 366 {
        return Err((
            ev.line,
            format!("the event from {start} to {end} is longer than a year"),
        ));
    }
    let working = is_working(ev);
    for d in start.iter_days().take_while(|d| *d < end) {
        match days.get(&d) {
            Some(&(w, line)) if w != working => {
                return Err((
                    ev.line,
                    format!(
                        "{d} is marked a {} here and a {} by the event at line {line}",
                        kind(working),
                        kind(w)
                    ),
                ));
            }
            Some(_) => {}
            None => {
                days.insert(d, (working, ev.line));
            }
        }
    }
    Ok(())
}

fn kind(working: bool) -> &'static str {
    if working {
        "working day"
    } else {
        "day off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Calendar {
        crate::cn::base().expect("base")
    }

    const ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nX-WR-TIMEZONE:Europe/Berlin\r\n\
BEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20251001\r\nDTEND;VALUE=DATE:20251009\r\nSUMMARY:国庆节、中秋节 假\r\n \
期\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:2\r\nDTSTART;VALUE=DATE:20250928\r\nSUMMARY:国庆节 补班\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:3\r\nDTSTART;VALUE=DATE:20251011\r\nSUMMARY:Make-up\r\nCATEGORIES:Public,WORKDAY\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:4\r\nDTSTART;VALUE=DATE:20251225\r\nDURATION:P2D\r\nSUMMARY:Christmas (non-working day)\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:5\r\nDTSTART;VALUE=DATE:20251226\r\nSUMMARY:Boxing day\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

    #[test]
    fn reads_days_off_working_days_and_the_zone() {
        let cal = parse("h.ics", "h", ICS, &base()).expect("valid");
        assert_eq!(cal.name(), "h");
        assert_eq!(cal.timezone(), chrono_tz::Europe::Berlin);
        assert_eq!(cal.years(), Some((2025, 2025)));
        let off: Vec<String> = cal.holidays().map(|d| d.to_string()).collect();
        assert_eq!(
            off,
            [
                "2025-10-01",
                "2025-10-02",
                "2025-10-03",
                "2025-10-04",
                "2025-10-05",
                "2025-10-06",
                "2025-10-07",
                "2025-10-08",
                "2025-12-25",
                "2025-12-26"
            ]
        );
        let work: Vec<String> = cal.extra_working_days().map(|d| d.to_string()).collect();
        assert_eq!(work, ["2025-09-28", "2025-10-11"]);
    }

    #[test]
    fn lf_line_ends_and_defaults() {
        let text = ICS
            .replace("\r\n", "\n")
            .replace("X-WR-TIMEZONE:Europe/Berlin\n", "");
        let cal = parse("h.ics", "h", &text, &base()).expect("valid");
        assert_eq!(cal.timezone(), chrono_tz::Asia::Shanghai);
        assert_eq!(cal.holidays().count(), 10);
    }

    #[test]
    fn bad_files_name_the_line() {
        let cases = [
            (
                ICS.replace("20251009", "20251309"),
                8,
                "DTEND: \"20251309\" is not a valid date",
            ),
            (
                ICS.replace("Europe/Berlin", "Mars/Olympus"),
                4,
                "unknown time zone",
            ),
            (
                ICS.replace("UID:2\r\n", "UID:2\r\nRRULE:FREQ=YEARLY\r\n"),
                14,
                "recurring events",
            ),
            (
                ICS.replace("VALUE=DATE:20250928", "TZID=Asia/Shanghai:20250928T090000"),
                14,
                "timed events",
            ),
            (
                ICS.replace("END:VALARM\r\n", ""),
                25,
                "END:VEVENT does not close BEGIN:VALARM",
            ),
            (
                ICS.replace("SUMMARY:Make-up", "Make-up"),
                20,
                "expected NAME:VALUE",
            ),
            (
                ICS.replace("DURATION:P2D", "DURATION:PT2H"),
                30,
                "only whole days",
            ),
            (
                ICS.replace("DTEND;VALUE=DATE:20251009", "DTEND;VALUE=DATE:20250901"),
                8,
                "before DTSTART",
            ),
            (
                ICS.replace("20250928", "20251002"),
                12,
                "2025-10-02 is marked a working day here and a day off",
            ),
            (
                ICS.replace("END:VCALENDAR\r\n", ""),
                1,
                "BEGIN:VCALENDAR is never closed",
            ),
            ("hello\n".to_owned(), 1, "expected NAME:VALUE"),
            (
                "BEGIN:VEVENT\nEND:VEVENT\n".to_owned(),
                1,
                "expected BEGIN:VCALENDAR",
            ),
            (
                "BEGIN:VCALENDAR\nEND:VCALENDAR\n".to_owned(),
                0,
                "no events",
            ),
        ];
        for (text, line, want) in cases {
            let e = parse("h.ics", "h", &text, &base()).expect_err(want);
            let CalendarError::Parse {
                source_name,
                line: got,
                message,
            } = &e
            else {
                panic!("not a parse error: {e}")
            };
            assert_eq!(source_name, "h.ics");
            assert!(message.contains(want), "{e} (wanted {want:?})");
            assert_eq!(*got, line, "{e}");
        }
    }

    #[test]
    fn years_can_be_declared() {
        let text = "BEGIN:VCALENDAR\nX-OMBUDS-YEARS:2024-2026\nBEGIN:VEVENT\nDTSTART:20250101\nSUMMARY:New Year\nEND:VEVENT\nEND:VCALENDAR\n";
        let cal = parse("y.ics", "y", text, &base()).expect("valid");
        assert_eq!(cal.years(), Some((2024, 2026)));
        let empty = "BEGIN:VCALENDAR\nX-OMBUDS-YEARS:2030\nEND:VCALENDAR\n";
        let cal = parse("e.ics", "e", empty, &base()).expect("valid");
        assert_eq!(cal.years(), Some((2030, 2030)));
        assert_eq!(cal.holidays().count(), 0);
    }
}
