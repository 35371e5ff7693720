//! Business calendars for Ombuds: working hours, public holidays, make-up working days
//! (调休) and time zones, and the deadline arithmetic the SLA watchdog runs on them:
//! calendar hours, business hours, working days, and business time elapsed.
//!
//! A [`Calendar`] is a time zone (IANA, via chrono-tz), the working hours of each
//! weekday (several intervals a day: Monday-Friday `09:00-12:00` and `13:00-18:00`),
//! holidays (days off), make-up working days (a weekend day worked; it has the hours
//! of an ordinary working day unless the calendar says otherwise) and the years its
//! holiday data covers. [`Calendars`] is a registry by name with the built-in
//! calendars and files loaded on demand ([`Calendars::resolve`]).
//!
//! # Built-in calendars
//!
//! - `cn`: Monday-Friday 09:00-18:00, `Asia/Shanghai`, with the official holidays and
//!   make-up working days published by the State Council, from the holiday-cn data
//!   (github.com/NateScarlet/holiday-cn, MIT, `data/holiday-cn/`, embedded at build
//!   time). It covers **2019-2026**. `2027.json` is still empty upstream (the notice
//!   for 2027 had not been published when the data was taken), so any date in 2027 —
//!   or before 2019, or after 2026 — is [`CalendarError::NoData`]: "calendar cn has no
//!   holiday data for 2027". Such dates are never silently treated as plain weekdays.
//!   To add 2027 once it is published, replace `data/holiday-cn/2027.json` with the
//!   upstream file: that is the whole change (`build.rs` embeds every `<year>.json` of
//!   the directory, and a year counts as covered as soon as its file lists days).
//!   Note that a notice may also move days of the previous December; the holiday-cn
//!   file for a year carries those, so late-December dates of the last covered year
//!   can still change when the next year's notice comes out.
//! - `24x7`: every day, all day, UTC. Business time is calendar time.
//!
//! Calendars without a holiday list (`24x7`, a plain weekday calendar built with
//! [`Calendar::weekdays`]) cover every year.
//!
//! # Operations
//!
//! - [`Calendar::add_hours`]: calendar time, `from + d`.
//! - [`Calendar::add_business_time`]: `d` of business time after `from`, counting only
//!   working hours on working days. A deadline that uses up a working interval exactly
//!   is the end of that interval (`18:00`), not the start of the next one.
//! - [`Calendar::business_time_between`]: the business time in `[from, to)`. The two
//!   are exact inverses: `business_time_between(from, add_business_time(from, d)) == d`
//!   to the nanosecond.
//! - [`Calendar::add_working_days`]: "within N working days", by the rule below.
//!
//! # "Within N working days": the two rules
//!
//! [`WorkingDayRule::CloseOfBusiness`] (the default) is what Chinese regulators and
//! the source policies mean. The deadline is the **close of business (the end of the
//! last working interval) of the N-th working day strictly after the local date of
//! receipt**:
//!
//! - the day of receipt never counts, whatever the hour of receipt;
//! - a contact received on a non-working day (weekend, holiday) counts from the next
//!   working day; in both cases the first working day after the date of receipt is
//!   day 1;
//! - make-up working days (a Saturday or Sunday worked) count like any working day,
//!   and holidays falling on weekdays do not count;
//! - N = 0 is the close of business of the day of receipt if it is a working day, else
//!   of the next working day (so a contact received after 18:00 with N = 0 is already
//!   late).
//!
//! [`WorkingDayRule::BusinessTime`] reads N working days as N × a standard working day
//! of business time ([`Calendar::standard_day`], 9 h for `cn`) from the instant of
//! receipt, through [`Calendar::add_business_time`]. Choose it per calendar with
//! [`Calendar::with_working_day_rule`] or `working_day_rule = "business-time"` in a
//! calendar file.
//!
//! Worked examples on `cn` around the 2025 National Day and Mid-Autumn holiday (off
//! Wednesday 1 October to Wednesday 8 October; make-up working days Sunday 28 September
//! and Saturday 11 October):
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use ombuds_calendar::{Calendars, WorkingDayRule};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cn = Calendars::builtin().get("cn").ok_or("no cn")?;
//! let at = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc));
//! let show = |t: DateTime<Utc>| cn.local(t).to_rfc3339();
//!
//! // Friday 26 September, 15:00; 3 working days: Sunday 28 (make-up) is day 1,
//! // Monday 29 day 2, Tuesday 30 day 3.
//! let due = cn.add_working_days(at("2025-09-26T15:00:00+08:00")?, 3)?;
//! assert_eq!(show(due), "2025-09-30T18:00:00+08:00");
//!
//! // Tuesday 30 September, 10:00; 2 working days: the holiday is skipped,
//! // Thursday 9 October is day 1 and Friday 10 October day 2.
//! let due = cn.add_working_days(at("2025-09-30T10:00:00+08:00")?, 2)?;
//! assert_eq!(show(due), "2025-10-10T18:00:00+08:00");
//!
//! // 5 working days from the same instant: 9, 10, 11 (Saturday, make-up), 13, 14 October.
//! let due = cn.add_working_days(at("2025-09-30T10:00:00+08:00")?, 5)?;
//! assert_eq!(show(due), "2025-10-14T18:00:00+08:00");
//!
//! // Received on a holiday (Friday 3 October): day 1 is the next working day, 9 October.
//! let due = cn.add_working_days(at("2025-10-03T11:00:00+08:00")?, 1)?;
//! assert_eq!(show(due), "2025-10-09T18:00:00+08:00");
//!
//! // The business-time rule: 1 working day = 9 business hours from 30 September 10:00,
//! // 8 h that day and 1 h on 9 October.
//! let bt = (*cn).clone().with_working_day_rule(WorkingDayRule::BusinessTime);
//! let due = bt.add_working_days(at("2025-09-30T10:00:00+08:00")?, 1)?;
//! assert_eq!(show(due), "2025-10-09T10:00:00+08:00");
//! # Ok(()) }
//! ```
//!
//! And around Spring Festival 2026 (off Sunday 15 February to Monday 23 February;
//! make-up working days Saturday 14 February and Saturday 28 February):
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use ombuds_calendar::Calendars;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cn = Calendars::builtin().get("cn").ok_or("no cn")?;
//! let at = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc));
//! let show = |t: DateTime<Utc>| cn.local(t).to_rfc3339();
//! let friday = at("2026-02-13T16:00:00+08:00")?;
//!
//! // Day 1 is the make-up Saturday, day 2 the Tuesday after the holiday.
//! assert_eq!(show(cn.add_working_days(friday, 1)?), "2026-02-14T18:00:00+08:00");
//! assert_eq!(show(cn.add_working_days(friday, 2)?), "2026-02-24T18:00:00+08:00");
//! // 15 working days: 14 Feb, 24-28 Feb (28 is a make-up Saturday), 2-6 and 9-12 March.
//! assert_eq!(show(cn.add_working_days(friday, 15)?), "2026-03-12T18:00:00+08:00");
//! // 24 business hours: 2 h on Friday, 9 h on Saturday 14, 9 h on 24 Feb, 4 h on 25 Feb.
//! let due = cn.add_business_time(friday, std::time::Duration::from_secs(24 * 3600))?;
//! assert_eq!(show(due), "2026-02-25T13:00:00+08:00");
//!
//! // 2027 is not published yet: an error, not a guess.
//! let e = cn.add_working_days(at("2026-12-30T10:00:00+08:00")?, 5).unwrap_err();
//! assert_eq!(e.to_string(), "calendar cn has no holiday data for 2027");
//! # Ok(()) }
//! ```
//!
//! # Time zones and daylight saving time
//!
//! Working hours are local wall-clock times. An interval `[start, end)` of a local
//! date covers the real time from the first instant the local clock shows `start` to
//! the first instant it shows `end`. A time that does not exist (skipped when clocks
//! spring forward) stands for the end of the gap; a time that occurs twice (clocks
//! fall back) means its first occurrence. So a `09:00-17:00` day is 8 hours on the
//! days clocks change at 02:00 (America/New_York, Europe/Berlin), and a `24x7` day in
//! such a zone is 23 or 25 hours. Nothing panics on such times.
//!
//! # Speed
//!
//! The arithmetic walks one local day at a time and jumps a whole week when the next
//! seven days hold no holiday, no make-up day and no change of UTC offset; no computation
//! steps minute by minute. See `benches/calendar.rs` (`cargo bench -p ombuds-calendar`)
//! and `BENCHMARKS.md`.
//!
//! # Calendar files
//!
//! [`Calendars::resolve`] loads, by extension: the crate's own format in TOML or JSON
//! ([`formats::spec`]); the holiday-cn JSON format, a file or a directory of
//! `<year>.json` ([`formats::holiday_cn`]); iCalendar `.ics` holiday calendars
//! ([`formats::ics`], which documents how an event says it is a working day). A bad
//! file is a [`CalendarError::Parse`] naming the file and the line.

mod calendar;
pub mod cn;
mod error;
pub mod formats;
mod hours;
mod registry;
mod zone;

pub use calendar::{Calendar, CalendarBuilder, WorkingDayRule};
pub use error::CalendarError;
pub use hours::Interval;
pub use registry::Calendars;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_shareable<T: Clone + std::fmt::Debug + Send + Sync>() {}

    #[test]
    fn calendar_and_registry_can_be_shared_between_threads() {
        assert_shareable::<Calendar>();
        assert_shareable::<Calendars>();
        assert_shareable::<std::sync::Arc<Calendar>>();
    }
}
