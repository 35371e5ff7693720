//! Naive reference implementations of the calendar arithmetic, for the tests and the
//! benchmark (`#[path]`-included by both): minute by minute and day by day, with no
//! week jumps and no cleverness, using only the calendar's public view of each local
//! date (`hours_on`). The fast implementation must give the same answers.
#![allow(dead_code)]

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use ombuds_calendar::{Calendar, CalendarError};

/// Whether the instant `t` is working time: its local date has an interval holding
/// its local wall-clock time.
pub fn is_working_instant(cal: &Calendar, t: DateTime<Utc>) -> Result<bool, CalendarError> {
    let local = t.with_timezone(&cal.timezone());
    let secs = local.time().num_seconds_from_midnight();
    Ok(cal
        .hours_on(local.date_naive())?
        .iter()
        .any(|iv| iv.start() <= secs && secs < iv.end()))
}

/// `minutes` of business time after `from` (a whole minute), one minute at a time.
pub fn add_business_minutes(
    cal: &Calendar,
    from: DateTime<Utc>,
    minutes: u64,
) -> Result<DateTime<Utc>, CalendarError> {
    let mut t = from;
    let mut left = minutes;
    if left == 0 {
        return Ok(from);
    }
    loop {
        if is_working_instant(cal, t)? {
            left -= 1;
            if left == 0 {
                return Ok(t + Duration::minutes(1));
            }
        }
        t += Duration::minutes(1);
    }
}

/// Working minutes in `[from, to)` (both whole minutes), one minute at a time.
pub fn business_minutes_between(
    cal: &Calendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, CalendarError> {
    let mut t = from;
    let mut n = 0;
    while t < to {
        if is_working_instant(cal, t)? {
            n += 1;
        }
        t += Duration::minutes(1);
    }
    Ok(n)
}

/// The first instant the local clock shows `secs` after midnight of `date` (or later,
/// in a gap): the crate's documented reading of wall-clock times.
pub fn wall_to_utc(cal: &Calendar, date: NaiveDate, secs: u32) -> DateTime<Utc> {
    let tz = cal.timezone();
    let mut local: NaiveDateTime =
        date.and_hms_opt(0, 0, 0).expect("midnight") + Duration::seconds(i64::from(secs));
    loop {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
            // In a gap: the first minute after it (gaps start and end on whole minutes).
            LocalResult::None => {
                local = (local + Duration::minutes(1))
                    .with_second(0)
                    .expect("second 0");
            }
        }
    }
}

/// "Within n working days", close of business, day by day.
pub fn add_working_days_daily(
    cal: &Calendar,
    from: DateTime<Utc>,
    n: u32,
) -> Result<DateTime<Utc>, CalendarError> {
    let receipt = from.with_timezone(&cal.timezone()).date_naive();
    let (mut day, mut left) = if n == 0 {
        (receipt, 1)
    } else {
        (receipt.succ_opt().expect("date"), n)
    };
    loop {
        let hours = cal.hours_on(day)?;
        if let Some(last) = hours.last() {
            left -= 1;
            if left == 0 {
                return Ok(wall_to_utc(cal, day, last.end()));
            }
        }
        day = day.succ_opt().expect("date");
    }
}

/// `d` of business time after `from`, day by day and interval by interval.
pub fn add_business_time_daily(
    cal: &Calendar,
    from: DateTime<Utc>,
    d: std::time::Duration,
) -> Result<DateTime<Utc>, CalendarError> {
    let mut left = Duration::from_std(d).expect("duration");
    if left.is_zero() {
        return Ok(from);
    }
    let mut day = from.with_timezone(&cal.timezone()).date_naive();
    loop {
        for iv in cal.hours_on(day)? {
            let a = wall_to_utc(cal, day, iv.start()).max(from);
            let b = wall_to_utc(cal, day, iv.end());
            if a < b {
                if left <= b - a {
                    return Ok(a + left);
                }
                left -= b - a;
            }
        }
        day = day.succ_opt().expect("date");
    }
}

/// Business time in `[from, to)`, day by day.
pub fn business_time_between_daily(
    cal: &Calendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<std::time::Duration, CalendarError> {
    let mut total = Duration::zero();
    let mut day = from.with_timezone(&cal.timezone()).date_naive();
    while from < to && wall_to_utc(cal, day, 0) < to {
        for iv in cal.hours_on(day)? {
            let a = wall_to_utc(cal, day, iv.start()).max(from);
            let b = wall_to_utc(cal, day, iv.end()).min(to);
            if a < b {
                total += b - a;
            }
        }
        day = day.succ_opt().expect("date");
    }
    Ok(total.to_std().expect("non-negative"))
}
