//! One business calendar and its arithmetic: a time zone, the working hours of each
//! weekday, holidays, make-up working days and the years the holiday data covers.
//!
//! Internally instants are nanoseconds since 1970 (`i64`) and dates are day numbers
//! (days from the Common Era, as chrono counts them). The arithmetic walks forward one
//! local day at a time and jumps a whole week when the next seven days are ordinary
//! (no holiday, no make-up day, no change of UTC offset, inside the data): such a week
//! holds exactly the weekly total of business time and of working days, so long
//! deadlines cost a handful of steps. A walk keeps two forward-only cursors (a
//! [`Walk`]): into the sorted holidays and make-up days, and into the zone's table of
//! UTC offsets (`zone.rs`), so no step searches. `add_business_time` and
//! `business_time_between` walk the very same spans, which is what makes them exact
//! inverses.

use std::{sync::Arc, time::Duration};

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, Offset, TimeDelta, TimeZone, Utc, Weekday,
};
use chrono_tz::{GapInfo, Tz};

use crate::{
    hours::{self, Interval},
    zone::{self, offset_at, Cursor, ZoneTable, TABLE_END, TABLE_START},
    CalendarError,
};

const NANOS: i64 = 1_000_000_000;
const DAY_SECS: i64 = 86_400;
const DAY_NANOS: i64 = DAY_SECS * NANOS;
/// `NaiveDate::from_ymd(1970, 1, 1).num_days_from_ce()`.
const EPOCH_DAY: i32 = 719_163;
/// The last local day whose instants all fit in `i64` nanoseconds (early April 2262).
const MAX_DAY: i32 = EPOCH_DAY + (i64::MAX / DAY_NANOS) as i32 - 2;

/// What "within N working days" means for [`Calendar::add_working_days`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WorkingDayRule {
    /// The close of business (end of the last working interval) of the N-th working
    /// day strictly after the local date of receipt. The day of receipt never counts;
    /// N = 0 is the close of business of the day of receipt if it is a working day,
    /// else of the next working day. The default.
    #[default]
    CloseOfBusiness,
    /// N × the length of a standard working day (see [`Calendar::standard_day`]), added
    /// as business time from the instant of receipt.
    BusinessTime,
}

impl WorkingDayRule {
    /// `close-of-business` or `business-time` (also the names accepted by `parse`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::CloseOfBusiness => "close-of-business",
            Self::BusinessTime => "business-time",
        }
    }

    /// Parses `close-of-business` / `business-time` (underscores and case ignored).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "close-of-business" | "closeofbusiness" | "cob" => Some(Self::CloseOfBusiness),
            "business-time" | "businesstime" => Some(Self::BusinessTime),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayKind {
    /// A holiday: no working hours.
    Off,
    /// A make-up working day: the hours of an ordinary working day.
    Work,
}

/// A business calendar. Cheap to share (`Arc<Calendar>` in [`crate::Calendars`]);
/// every method takes `&self` and allocates nothing.
#[derive(Debug, Clone)]
pub struct Calendar {
    name: String,
    tz: Tz,
    /// Working hours per weekday, Monday first.
    week: [Vec<Interval>; 7],
    /// Working hours of a make-up working day.
    workday: Vec<Interval>,
    /// Holidays and make-up working days, sorted by day number, one entry per day.
    exceptions: Vec<(i32, DayKind)>,
    years: Option<(i32, i32)>,
    /// The day numbers of 1 January of the first year and 31 December of the last.
    data_days: Option<(i32, i32)>,
    rule: WorkingDayRule,
    /// Wall-clock business time of an ordinary week, in nanoseconds.
    week_total: i64,
    /// Working days in an ordinary week.
    week_days: u32,
    /// The length of a standard working day (the make-up day hours), in nanoseconds.
    standard_day: i64,
    /// The zone's UTC offsets, shared by all calendars in the zone.
    zone: Arc<ZoneTable>,
}

/// Builds a [`Calendar`]; errors (bad hours, conflicting dates) are reported by `build`.
#[derive(Debug, Clone)]
pub struct CalendarBuilder {
    name: String,
    tz: Tz,
    week: [Vec<Interval>; 7],
    workday: Option<Vec<Interval>>,
    holidays: Vec<NaiveDate>,
    working_days: Vec<NaiveDate>,
    years: Option<(i32, i32)>,
    rule: WorkingDayRule,
    errors: Vec<String>,
}

impl CalendarBuilder {
    /// Sets the time zone.
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.tz = tz;
        self
    }

    /// Sets the working hours of one weekday (`["09:00-12:00", "13:00-18:00"]`; empty: a day off).
    pub fn hours<S: AsRef<str>>(mut self, day: Weekday, hours: &[S]) -> Self {
        match hours::parse_day(hours) {
            Ok(v) => self.week[day.num_days_from_monday() as usize] = v,
            Err(e) => self.errors.push(format!("{day}: {e}")),
        }
        self
    }

    /// Sets the same working hours Monday to Friday.
    pub fn weekdays<S: AsRef<str>>(mut self, hours: &[S]) -> Self {
        for d in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ] {
            self = self.hours(d, hours);
        }
        self
    }

    /// Sets the same working hours on all seven days.
    pub fn every_day<S: AsRef<str>>(mut self, hours: &[S]) -> Self {
        self = self.weekdays(hours);
        self.hours(Weekday::Sat, hours).hours(Weekday::Sun, hours)
    }

    /// Sets one weekday's hours from intervals already parsed.
    pub fn intervals(mut self, day: Weekday, intervals: Vec<Interval>) -> Self {
        match hours::normalize(intervals) {
            Ok(v) => self.week[day.num_days_from_monday() as usize] = v,
            Err(e) => self.errors.push(format!("{day}: {e}")),
        }
        self
    }

    /// The hours of a make-up working day (default: those of the first weekday,
    /// Monday first, that has any).
    pub fn workday_hours<S: AsRef<str>>(mut self, hours: &[S]) -> Self {
        match hours::parse_day(hours) {
            Ok(v) => self.workday = Some(v),
            Err(e) => self.errors.push(format!("make-up working day: {e}")),
        }
        self
    }

    /// Adds days off.
    pub fn holidays(mut self, dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.holidays.extend(dates);
        self
    }

    /// Adds make-up working days (调休: a weekend day worked).
    pub fn working_days(mut self, dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.working_days.extend(dates);
        self
    }

    /// The years the holiday data covers; dates outside them are [`CalendarError::NoData`].
    /// Without it, a calendar with holidays or make-up days covers the years from its
    /// first to its last such date, and one without covers every year.
    pub fn years(mut self, first: i32, last: i32) -> Self {
        self.years = Some((first, last));
        self
    }

    /// The meaning of "within N working days".
    pub fn working_day_rule(mut self, rule: WorkingDayRule) -> Self {
        self.rule = rule;
        self
    }

    /// Checks everything and builds the calendar.
    pub fn build(self) -> Result<Calendar, CalendarError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            return Err(CalendarError::invalid(
                "(unnamed)",
                "a calendar needs a name",
            ));
        }
        if let Some(e) = self.errors.into_iter().next() {
            return Err(CalendarError::invalid(&name, e));
        }
        let week = self.week;
        let Some(first_day_with_hours) = week.iter().find(|d| !d.is_empty()) else {
            return Err(CalendarError::invalid(
                &name,
                "no working hours on any day of the week",
            ));
        };
        let workday = match self.workday {
            Some(w) if w.is_empty() => {
                return Err(CalendarError::invalid(
                    &name,
                    "make-up working days need working hours",
                ))
            }
            Some(w) => w,
            None => first_day_with_hours.clone(),
        };

        let mut exceptions: Vec<(i32, DayKind)> = self
            .holidays
            .iter()
            .map(|d| (d.num_days_from_ce(), DayKind::Off))
            .chain(
                self.working_days
                    .iter()
                    .map(|d| (d.num_days_from_ce(), DayKind::Work)),
            )
            .collect();
        exceptions.sort_by_key(|e| (e.0, e.1 == DayKind::Work));
        exceptions.dedup();
        if let Some(w) = exceptions.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(CalendarError::invalid(
                &name,
                format!(
                    "{} is both a holiday and a make-up working day",
                    day_to_date(w[0].0)
                ),
            ));
        }

        let years = match self.years {
            Some(y) => Some(y),
            None => match (
                self.holidays.iter().chain(&self.working_days).min(),
                self.holidays.iter().chain(&self.working_days).max(),
            ) {
                (Some(a), Some(b)) => Some((a.year(), b.year())),
                _ => None,
            },
        };
        let data_days = match years {
            None => None,
            Some((first, last)) => {
                if first > last {
                    return Err(CalendarError::invalid(
                        &name,
                        format!("the years {first}..{last} are empty (first after last)"),
                    ));
                }
                let (Some(a), Some(b)) = (
                    NaiveDate::from_ymd_opt(first, 1, 1),
                    NaiveDate::from_ymd_opt(last, 12, 31),
                ) else {
                    return Err(CalendarError::invalid(
                        &name,
                        format!("the years {first}..{last} are out of range"),
                    ));
                };
                Some((a.num_days_from_ce(), b.num_days_from_ce()))
            }
        };

        let secs = |v: &[Interval]| v.iter().map(|i| i64::from(i.len_secs())).sum::<i64>();
        let week_total = week.iter().map(|d| secs(d)).sum::<i64>() * NANOS;
        let week_days = week.iter().filter(|d| !d.is_empty()).count() as u32;
        let standard_day = secs(&workday) * NANOS;
        Ok(Calendar {
            name,
            tz: self.tz,
            week,
            workday,
            exceptions,
            years,
            data_days,
            rule: self.rule,
            week_total,
            week_days,
            standard_day,
            zone: zone::table(self.tz),
        })
    }
}

fn day_to_date(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).unwrap_or(NaiveDate::MIN)
}

/// Monday = 0. Day 1 of the Common Era (0001-01-01) was a Monday.
fn weekday_index(day: i32) -> usize {
    (day - 1).rem_euclid(7) as usize
}

impl Calendar {
    /// Starts a calendar with no working hours in `tz`; add hours with the builder.
    pub fn builder(name: impl Into<String>, tz: Tz) -> CalendarBuilder {
        CalendarBuilder {
            name: name.into(),
            tz,
            week: Default::default(),
            workday: None,
            holidays: Vec::new(),
            working_days: Vec::new(),
            years: None,
            rule: WorkingDayRule::default(),
            errors: Vec::new(),
        }
    }

    /// A builder with this calendar's time zone, working week, make-up day hours and
    /// rule, under a new name, without its holidays, make-up days and years.
    pub fn rebuild(&self, name: impl Into<String>) -> CalendarBuilder {
        CalendarBuilder {
            name: name.into(),
            tz: self.tz,
            week: self.week.clone(),
            workday: Some(self.workday.clone()),
            holidays: Vec::new(),
            working_days: Vec::new(),
            years: None,
            rule: self.rule,
            errors: Vec::new(),
        }
    }

    /// Every day, all day, in `tz`, no holidays: business time is calendar time.
    pub fn always(name: impl Into<String>, tz: Tz) -> Result<Self, CalendarError> {
        Self::builder(name, tz).every_day(&["00:00-24:00"]).build()
    }

    /// Monday to Friday with the given hours in `tz`, no holidays, every year.
    pub fn weekdays<S: AsRef<str>>(
        name: impl Into<String>,
        tz: Tz,
        hours: &[S],
    ) -> Result<Self, CalendarError> {
        Self::builder(name, tz).weekdays(hours).build()
    }

    /// The calendar's name (`cn`, `24x7`, or from its file).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The IANA time zone the working hours are in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The same calendar under another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same calendar with another meaning of "within N working days".
    pub fn with_working_day_rule(mut self, rule: WorkingDayRule) -> Self {
        self.rule = rule;
        self
    }

    /// The meaning of "within N working days" in use.
    pub fn working_day_rule(&self) -> WorkingDayRule {
        self.rule
    }

    /// The first and last year of holiday data; `None` if the calendar has no holiday
    /// list and so covers every year.
    pub fn years(&self) -> Option<(i32, i32)> {
        self.years
    }

    /// The working hours of an ordinary `day` of the week.
    pub fn week_hours(&self, day: Weekday) -> &[Interval] {
        &self.week[day.num_days_from_monday() as usize]
    }

    /// The working hours of a make-up working day (also the standard working day).
    pub fn workday_hours(&self) -> &[Interval] {
        &self.workday
    }

    /// The length of a standard working day: the hours of a make-up working day, by
    /// default those of the first weekday that has hours (9 h for `cn`, 24 h for `24x7`).
    pub fn standard_day(&self) -> Duration {
        Duration::from_nanos(self.standard_day.unsigned_abs())
    }

    /// The holidays (days off), in order.
    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.exceptions
            .iter()
            .filter(|e| e.1 == DayKind::Off)
            .map(|e| day_to_date(e.0))
    }

    /// The make-up working days, in order.
    pub fn extra_working_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.exceptions
            .iter()
            .filter(|e| e.1 == DayKind::Work)
            .map(|e| day_to_date(e.0))
    }

    /// Calendar time: `from + d`, no calendar involved (saturates at chrono's last instant).
    pub fn add_hours(&self, from: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
        TimeDelta::from_std(d)
            .ok()
            .and_then(|d| from.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// `d` of business time (working hours on working days) after `from`. A deadline
    /// that uses up a working interval exactly is its end (`18:00`, not the next
    /// morning); `d = 0` returns `from` itself.
    pub fn add_business_time(
        &self,
        from: DateTime<Utc>,
        d: Duration,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let from_ns = self.instant(from)?;
        let d_ns = self.duration(d)?;
        if d_ns == 0 {
            return Ok(from);
        }
        Ok(DateTime::from_timestamp_nanos(
            self.add_business_ns(from_ns, d_ns)?,
        ))
    }

    /// "Within `n` working days" of `from`, by the calendar's [`WorkingDayRule`].
    pub fn add_working_days(
        &self,
        from: DateTime<Utc>,
        n: u32,
    ) -> Result<DateTime<Utc>, CalendarError> {
        match self.rule {
            WorkingDayRule::CloseOfBusiness => {
                let from_ns = self.instant(from)?;
                Ok(DateTime::from_timestamp_nanos(
                    self.close_of_business_ns(from_ns, n)?,
                ))
            }
            WorkingDayRule::BusinessTime => {
                let d = self.standard_day.checked_mul(i64::from(n)).ok_or_else(|| {
                    CalendarError::out_of_range(&self.name, format!("{n} working days is too long"))
                })?;
                self.add_business_time(from, Duration::from_nanos(d.unsigned_abs()))
            }
        }
    }

    /// Business time between two instants (zero if `to <= from`).
    pub fn business_time_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Duration, CalendarError> {
        let from_ns = self.instant(from)?;
        let to_ns = self.instant(to)?;
        let ns = self.between_ns(from_ns, to_ns)?;
        Ok(Duration::from_nanos(ns.unsigned_abs()))
    }

    /// Whether `date` (a local date) has working hours: a weekday with hours that is
    /// not a holiday, or a make-up working day. [`CalendarError::NoData`] outside the
    /// calendar's years.
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        Ok(!self.hours_on(date)?.is_empty())
    }

    /// The working hours of a local date (empty on a day off).
    pub fn hours_on(&self, date: NaiveDate) -> Result<&[Interval], CalendarError> {
        let day = date.num_days_from_ce();
        self.hours_of(day, &mut self.walk(day))
    }

    /// The close of business (end of the last working interval) of a local date, or
    /// `None` on a day off.
    pub fn close_of_business(
        &self,
        date: NaiveDate,
    ) -> Result<Option<DateTime<Utc>>, CalendarError> {
        let day = date.num_days_from_ce();
        let mut walk = self.walk(day);
        match self.hours_of(day, &mut walk)?.last() {
            None => Ok(None),
            Some(last) => Ok(Some(DateTime::from_timestamp_nanos(self.wall_to_utc(
                day,
                last.end(),
                &mut walk,
            )?))),
        }
    }

    /// `from` as seen on the calendar's wall clock.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<Tz> {
        t.with_timezone(&self.tz)
    }

    // ----- the engine -----

    fn instant(&self, t: DateTime<Utc>) -> Result<i64, CalendarError> {
        t.timestamp_nanos_opt().ok_or_else(|| {
            CalendarError::out_of_range(
                &self.name,
                format!("the instant {t} is outside the years 1678-2262 this calendar computes in"),
            )
        })
    }

    fn duration(&self, d: Duration) -> Result<i64, CalendarError> {
        i64::try_from(d.as_nanos()).map_err(|_| {
            CalendarError::out_of_range(
                &self.name,
                format!("the duration {d:?} is too long (over 292 years)"),
            )
        })
    }

    fn past_the_end(&self) -> CalendarError {
        CalendarError::out_of_range(
            &self.name,
            "the deadline would be after 2262, beyond the range this calendar computes in",
        )
    }

    fn check_day(&self, day: i32) -> Result<(), CalendarError> {
        if day > MAX_DAY {
            return Err(self.past_the_end());
        }
        if let Some((a, b)) = self.data_days {
            if day < a || day > b {
                return Err(CalendarError::NoData {
                    calendar: self.name.clone(),
                    year: day_to_date(day).year(),
                });
            }
        }
        Ok(())
    }

    /// Starts a walk over local days from `day` on.
    fn walk(&self, day: i32) -> Walk {
        let local = (i64::from(day) - i64::from(EPOCH_DAY)) * DAY_SECS;
        Walk {
            exception: self.exceptions.partition_point(|e| e.0 < day),
            zone: self.zone.cursor(local),
        }
    }

    /// The working hours of `day`; days are visited in order along one walk.
    fn hours_of(&self, day: i32, walk: &mut Walk) -> Result<&[Interval], CalendarError> {
        self.check_day(day)?;
        self.skip_exceptions(day, walk);
        match self.exceptions.get(walk.exception) {
            Some(&(d, DayKind::Off)) if d == day => Ok(&[]),
            Some(&(d, DayKind::Work)) if d == day => Ok(&self.workday),
            _ => Ok(&self.week[weekday_index(day)]),
        }
    }

    fn skip_exceptions(&self, day: i32, walk: &mut Walk) {
        while self
            .exceptions
            .get(walk.exception)
            .is_some_and(|e| e.0 < day)
        {
            walk.exception += 1;
        }
    }

    /// Whether the seven days from `day` are inside the data and hold no holiday and
    /// no make-up working day.
    fn ordinary_week(&self, day: i32, walk: &mut Walk) -> bool {
        if day.saturating_add(7) > MAX_DAY {
            return false;
        }
        if let Some((a, b)) = self.data_days {
            if day < a || day + 6 > b {
                return false;
            }
        }
        self.skip_exceptions(day, walk);
        self.exceptions
            .get(walk.exception)
            .is_none_or(|e| e.0 > day + 6)
    }

    /// Whether the week from `day`, whose first local midnight is the instant `m0`
    /// (ns, just converted along `walk`), is ordinary and keeps one UTC offset: then it
    /// holds exactly `week_total` of business time and ends at `m0 + 7 days`.
    fn steady_week(&self, day: i32, m0: i64, walk: &mut Walk) -> bool {
        if !self.ordinary_week(day, walk) {
            return false;
        }
        let secs0 = m0.div_euclid(NANOS);
        let until = secs0 + 7 * DAY_SECS;
        if until < TABLE_END && secs0 >= TABLE_START {
            return self.zone.steady(&walk.zone, secs0, until);
        }
        // Outside the table: ask chrono-tz at each local midnight.
        let off0 = offset_at(self.tz, secs0);
        (1..=7).all(|k| offset_at(self.tz, secs0 + k * DAY_SECS) == off0)
    }

    /// The local day number of an instant (ns).
    fn local_day(&self, ns: i64) -> i32 {
        let secs = ns.div_euclid(NANOS);
        let off = self
            .zone
            .offset(secs)
            .unwrap_or_else(|| offset_at(self.tz, secs));
        // |local / 86400| < 2^31 for any i64 nanosecond instant.
        ((secs + off).div_euclid(DAY_SECS) + i64::from(EPOCH_DAY)) as i32
    }

    /// The first instant (ns) at which the local wall clock shows `secs` after the
    /// midnight starting `day`, or a later time: inside a gap (spring forward) that is
    /// the end of the gap; a repeated time (fall back) is its first occurrence. Along
    /// one walk, calls come in order of local time.
    fn wall_to_utc(&self, day: i32, secs: u32, walk: &mut Walk) -> Result<i64, CalendarError> {
        let local = (i64::from(day) - i64::from(EPOCH_DAY)) * DAY_SECS + i64::from(secs);
        let utc = match self.zone.to_utc(local, &mut walk.zone) {
            Some(utc) => utc,
            None => self.wall_to_utc_slow(local)?,
        };
        utc.checked_mul(NANOS).ok_or_else(|| self.past_the_end())
    }

    /// `wall_to_utc` through chrono-tz, for instants outside the zone table.
    fn wall_to_utc_slow(&self, local: i64) -> Result<i64, CalendarError> {
        let naive = DateTime::from_timestamp(local, 0)
            .ok_or_else(|| self.past_the_end())?
            .naive_utc();
        let off = |o: &chrono_tz::TzOffset| i64::from(o.fix().local_minus_utc());
        Ok(match self.tz.offset_from_local_datetime(&naive) {
            LocalResult::Single(o) => local - off(&o),
            LocalResult::Ambiguous(a, b) => (local - off(&a)).min(local - off(&b)),
            LocalResult::None => match GapInfo::new(&naive, &self.tz).and_then(|g| g.end) {
                Some(end) => end.timestamp(),
                None => {
                    return Err(CalendarError::out_of_range(
                        &self.name,
                        format!("the local time {naive} does not exist in {}", self.tz),
                    ))
                }
            },
        })
    }

    fn add_business_ns(&self, from: i64, d: i64) -> Result<i64, CalendarError> {
        // Business time never runs faster than calendar time.
        if from.checked_add(d).is_none() {
            return Err(self.past_the_end());
        }
        let mut rem = d;
        let mut day = self.local_day(from);
        let mut walk = self.walk(day);
        let mut first = true;
        loop {
            if !first && rem > self.week_total && self.ordinary_week(day, &mut walk) {
                let m0 = self.wall_to_utc(day, 0, &mut walk)?;
                if m0 >= from && self.steady_week(day, m0, &mut walk) {
                    rem -= self.week_total;
                    day += 7;
                    continue;
                }
            }
            first = false;
            for iv in self.hours_of(day, &mut walk)? {
                let a = self.wall_to_utc(day, iv.start(), &mut walk)?.max(from);
                let b = self.wall_to_utc(day, iv.end(), &mut walk)?;
                if a < b {
                    let avail = b - a;
                    if rem <= avail {
                        return Ok(a + rem);
                    }
                    rem -= avail;
                }
            }
            day += 1;
        }
    }

    fn between_ns(&self, from: i64, to: i64) -> Result<i64, CalendarError> {
        if to <= from {
            return Ok(0);
        }
        let first_day = self.local_day(from);
        let mut day = first_day;
        let mut walk = self.walk(day);
        let mut total = 0i64;
        loop {
            if day > first_day {
                if day > MAX_DAY {
                    break;
                }
                let m0 = self.wall_to_utc(day, 0, &mut walk)?;
                if m0 >= to {
                    break;
                }
                if m0 >= from
                    && m0.saturating_add(7 * DAY_NANOS) <= to
                    && self.steady_week(day, m0, &mut walk)
                {
                    total += self.week_total;
                    day += 7;
                    continue;
                }
            }
            for iv in self.hours_of(day, &mut walk)? {
                let a = self.wall_to_utc(day, iv.start(), &mut walk)?.max(from);
                let b = self.wall_to_utc(day, iv.end(), &mut walk)?.min(to);
                if a < b {
                    total += b - a;
                }
            }
            day += 1;
        }
        Ok(total)
    }

    fn close_of_business_ns(&self, from: i64, n: u32) -> Result<i64, CalendarError> {
        let receipt = self.local_day(from);
        let (mut day, mut remaining) = if n == 0 {
            (receipt, 1)
        } else {
            (receipt + 1, n)
        };
        let mut walk = self.walk(day);
        loop {
            if remaining > self.week_days && self.ordinary_week(day, &mut walk) {
                remaining -= self.week_days;
                day += 7;
                continue;
            }
            if let Some(last) = self.hours_of(day, &mut walk)?.last() {
                remaining -= 1;
                if remaining == 0 {
                    return self.wall_to_utc(day, last.end(), &mut walk);
                }
            }
            day += 1;
        }
    }
}

/// The cursors of one walk over local days: into the sorted exceptions and into the
/// zone's offsets. Both only move forward.
struct Walk {
    exception: usize,
    zone: Cursor,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_and_weekdays_agree_with_chrono() {
        assert_eq!(
            NaiveDate::from_ymd_opt(1970, 1, 1)
                .expect("date")
                .num_days_from_ce(),
            EPOCH_DAY
        );
        for (y, m, d) in [
            (1, 1, 1),
            (1970, 1, 1),
            (2025, 10, 1),
            (2026, 2, 17),
            (2262, 1, 1),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).expect("date");
            assert_eq!(
                weekday_index(date.num_days_from_ce()),
                date.weekday().num_days_from_monday() as usize,
                "{date}"
            );
        }
        assert!(day_to_date(MAX_DAY + 2).year() == 2262);
    }

    #[test]
    fn builder_rejects_bad_definitions() {
        let tz = Tz::UTC;
        let err = Calendar::builder("x", tz).build().expect_err("no hours");
        assert_eq!(
            err.to_string(),
            "invalid calendar x: no working hours on any day of the week"
        );
        let err = Calendar::builder("x", tz)
            .weekdays(&["18:00-09:00"])
            .build()
            .expect_err("backwards hours");
        assert!(err.to_string().contains("18:00-09:00"), "{err}");
        let d = NaiveDate::from_ymd_opt(2025, 5, 1).expect("date");
        let err = Calendar::builder("x", tz)
            .weekdays(&["09:00-17:00"])
            .holidays([d])
            .working_days([d])
            .build()
            .expect_err("conflict");
        assert!(err.to_string().contains("2025-05-01 is both"), "{err}");
        let err = Calendar::builder("x", tz)
            .weekdays(&["09:00-17:00"])
            .years(2026, 2025)
            .build()
            .expect_err("empty years");
        assert!(err.to_string().contains("2026..2025"), "{err}");
        assert!(Calendar::builder(" ", tz)
            .weekdays(&["09:00-17:00"])
            .build()
            .is_err());
    }

    #[test]
    fn years_default_to_the_span_of_the_listed_dates() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).expect("date");
        let cal = Calendar::builder("x", Tz::UTC)
            .weekdays(&["09:00-17:00"])
            .holidays([d(2025, 12, 25), d(2026, 1, 1)])
            .build()
            .expect("valid");
        assert_eq!(cal.years(), Some((2025, 2026)));
        assert!(cal.is_working_day(d(2024, 12, 24)).is_err());
        let plain = Calendar::weekdays("y", Tz::UTC, &["09:00-17:00"]).expect("valid");
        assert_eq!(plain.years(), None);
        assert_eq!(plain.is_working_day(d(1800, 1, 1)).ok(), Some(true)); // a Wednesday
    }
}
