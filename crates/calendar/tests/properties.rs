//! Property tests of the calendar arithmetic on random instants and durations:
//! monotonic (a later start or more time never gives an earlier deadline), consistent
//! with elapsed (`business_time_between(from, add_business_time(from, d)) == d`),
//! right across DST changes (every week of a 09:00-17:00 calendar in New York or
//! Berlin holds 40 h, the weeks with a change included), and equal to naive
//! minute-by-minute and day-by-day reference implementations (`support/naive.rs`).

#[path = "support/naive.rs"]
mod naive;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin, Tz};
use ombuds_calendar::{Calendar, CalendarError, Calendars};
use proptest::prelude::*;

/// The calendars under test, with a random pick by index.
fn calendars() -> Vec<Arc<Calendar>> {
    let builtin = Calendars::builtin();
    let cn = builtin.get("cn").expect("cn");
    let lunch = Calendar::builder("cn-lunch", Shanghai)
        .weekdays(&["09:00-12:00", "13:00-18:00"])
        .hours(chrono::Weekday::Sat, &["10:00-12:00"])
        .workday_hours(&["09:00-12:00", "13:00-18:00"])
        .holidays(cn.holidays())
        .working_days(cn.extra_working_days())
        .years(2019, 2026)
        .build()
        .expect("valid");
    let ny = Calendar::weekdays("ny", New_York, &["09:00-17:00"]).expect("valid");
    let berlin = Calendar::builder("berlin", Berlin)
        .weekdays(&["09:00-17:00"])
        .holidays([
            NaiveDate::from_ymd_opt(2025, 12, 25).expect("date"),
            NaiveDate::from_ymd_opt(2025, 12, 26).expect("date"),
        ])
        .years(2019, 2026)
        .build()
        .expect("valid");
    let ny_always = Calendar::always("ny-24x7", New_York).expect("valid");
    vec![
        cn,
        Arc::new(lunch),
        Arc::new(ny),
        Arc::new(berlin),
        Arc::new(ny_always),
        builtin.get("24x7").expect("24x7"),
    ]
}

fn cal(i: usize) -> Arc<Calendar> {
    thread_local! {
        static CALS: Vec<Arc<Calendar>> = calendars();
    }
    CALS.with(|c| c[i % c.len()].clone())
}

const N_CALS: usize = 6;

/// 2019-01-01T00:00Z .. 2026-10-01T00:00Z, in seconds.
const T_MIN: i64 = 1_546_300_800;
const T_MAX: i64 = 1_790_812_800;

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (T_MIN..T_MAX, 0u32..1_000_000_000)
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).expect("in range"))
}

fn minute() -> impl Strategy<Value = DateTime<Utc>> {
    (T_MIN / 60..T_MAX / 60).prop_map(|m| DateTime::from_timestamp(m * 60, 0).expect("in range"))
}

/// Up to 200 hours, to the nanosecond.
fn duration() -> impl Strategy<Value = Duration> {
    (0u64..200 * 3600, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n))
}

/// Runs only when the calendar has data for every date the computation touches.
fn covered<T>(r: Result<T, CalendarError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(CalendarError::NoData { .. }) => None,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn elapsed_is_the_inverse_of_add(c in 0..N_CALS, from in instant(), d in duration()) {
        let cal = cal(c);
        if let Some(due) = covered(cal.add_business_time(from, d)) {
            prop_assert!(due >= from + chrono::Duration::from_std(d).expect("d"));
            prop_assert_eq!(cal.business_time_between(from, due).expect("same days"), d, "{} from {} to {}", cal.name(), from, due);
            if !d.is_zero() {
                // The deadline closes working time: the nanosecond before it is working.
                let before = due - chrono::Duration::nanoseconds(1);
                prop_assert!(naive::is_working_instant(&cal, before).expect("same days"), "{} {}", cal.name(), due);
            }
        }
    }

    #[test]
    fn elapsed_adds_up(c in 0..N_CALS, a in instant(), b in instant(), e in instant()) {
        let cal = cal(c);
        let mut v = [a, b, e];
        v.sort();
        let [a, b, e] = v;
        if let (Some(ab), Some(be), Some(ae)) = (
            covered(cal.business_time_between(a, b)),
            covered(cal.business_time_between(b, e)),
            covered(cal.business_time_between(a, e)),
        ) {
            prop_assert_eq!(ab + be, ae);
            prop_assert!(ae <= (e - a).to_std().expect("ordered"));
        }
        prop_assert_eq!(cal.business_time_between(e, a).ok(), Some(Duration::ZERO));
    }

    #[test]
    fn a_later_start_never_gives_an_earlier_deadline(
        c in 0..N_CALS, a in instant(), gap in 0i64..10 * 86_400_000_000_000, d in duration(), n in 0u32..25,
    ) {
        let cal = cal(c);
        let b = a + chrono::Duration::nanoseconds(gap);
        if let (Some(da), Some(db)) = (covered(cal.add_business_time(a, d)), covered(cal.add_business_time(b, d))) {
            prop_assert!(da <= db, "{}: {} + {:?} = {} > {} + {:?} = {}", cal.name(), a, d, da, b, d, db);
        }
        if let (Some(da), Some(db)) = (covered(cal.add_working_days(a, n)), covered(cal.add_working_days(b, n))) {
            prop_assert!(da <= db, "{}: {} + {}wd = {} > {} + {}wd = {}", cal.name(), a, n, da, b, n, db);
        }
    }

    #[test]
    fn more_time_never_gives_an_earlier_deadline(
        c in 0..N_CALS, from in instant(), d1 in duration(), d2 in duration(), n1 in 0u32..25, n2 in 0u32..25,
    ) {
        let cal = cal(c);
        let (d1, d2) = (d1.min(d2), d1.max(d2));
        if let (Some(a), Some(b)) = (covered(cal.add_business_time(from, d1)), covered(cal.add_business_time(from, d2))) {
            prop_assert!(a <= b);
            prop_assert!(d1 == d2 || a < b, "more business time must move a deadline");
        }
        let (n1, n2) = (n1.min(n2), n1.max(n2));
        if let (Some(a), Some(b)) = (covered(cal.add_working_days(from, n1)), covered(cal.add_working_days(from, n2))) {
            prop_assert!(a <= b);
            // (N = 0 received on a day off and N = 1 both end on the next working day.)
            prop_assert!(n1 == n2 || n1 == 0 || a < b, "another working day must move a deadline");
        }
    }

    #[test]
    fn a_week_of_nine_to_five_is_forty_hours_dst_or_not(berlin in any::<bool>(), days in 0i64..(366 * 12)) {
        // Any seven consecutive local days, 2019-2030, holding DST changes or not.
        let (tz, name) = if berlin { (Berlin, "berlin") } else { (New_York, "ny") };
        let cal = Calendar::weekdays(name, tz, &["09:00-17:00"]).expect("valid");
        let start = NaiveDate::from_ymd_opt(2019, 1, 1).expect("date") + chrono::Duration::days(days);
        let end = start + chrono::Duration::days(7);
        let week = cal.business_time_between(midnight(tz, start), midnight(tz, end)).expect("no limit");
        prop_assert_eq!(week, Duration::from_secs(40 * 3600), "{} {}", name, start);
        // Three weeks from the day before (whole weeks are jumped over, not walked).
        let before = start - chrono::Duration::days(1);
        let three = cal.business_time_between(midnight(tz, before), midnight(tz, before + chrono::Duration::days(21))).expect("no limit");
        prop_assert_eq!(three, Duration::from_secs(120 * 3600), "{} {}", name, before);
        // And 40 business hours from a local midnight end 7 days later at 17:00 of the
        // last working day before `end`.
        let due = cal.add_business_time(midnight(tz, start), Duration::from_secs(40 * 3600)).expect("no limit");
        prop_assert!(due < midnight(tz, end) && due > midnight(tz, end - chrono::Duration::days(4)));
        prop_assert_eq!(due.with_timezone(&tz).format("%H:%M").to_string(), "17:00");
    }
}

proptest! {
    // The minute-by-minute reference is slow; fewer cases, shorter durations.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn add_business_time_matches_minute_by_minute(c in 0..N_CALS, from in minute(), m in 0u64..2_000) {
        let cal = cal(c);
        let fast = covered(cal.add_business_time(from, Duration::from_secs(m * 60)));
        let slow = covered(naive::add_business_minutes(&cal, from, m));
        if let (Some(fast), Some(slow)) = (fast, slow) {
            prop_assert_eq!(fast, slow, "{} from {} + {} min", cal.name(), from, m);
        }
    }

    #[test]
    fn elapsed_matches_minute_by_minute(c in 0..N_CALS, from in minute(), m in 0i64..16_000) {
        let cal = cal(c);
        let to = from + chrono::Duration::minutes(m);
        let fast = covered(cal.business_time_between(from, to));
        let slow = covered(naive::business_minutes_between(&cal, from, to));
        if let (Some(fast), Some(slow)) = (fast, slow) {
            prop_assert_eq!(fast, Duration::from_secs(slow * 60), "{} {}..{}", cal.name(), from, to);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn working_days_match_day_by_day(c in 0..N_CALS, from in instant(), n in 0u32..40) {
        let cal = cal(c);
        let fast = covered(cal.add_working_days(from, n));
        let slow = covered(naive::add_working_days_daily(&cal, from, n));
        prop_assert_eq!(fast.is_some(), slow.is_some());
        prop_assert_eq!(fast, slow, "{} from {} + {} working days", cal.name(), from, n);
    }

    #[test]
    fn business_time_matches_day_by_day(c in 0..N_CALS, from in instant(), d in 0u64..2_000 * 3600) {
        let cal = cal(c);
        let d = Duration::from_secs(d);
        let fast = covered(cal.add_business_time(from, d));
        let slow = covered(naive::add_business_time_daily(&cal, from, d));
        prop_assert_eq!(fast.is_some(), slow.is_some());
        prop_assert_eq!(fast, slow, "{} from {} + {:?}", cal.name(), from, d);
        if let Some(due) = fast {
            prop_assert_eq!(covered(naive::business_time_between_daily(&cal, from, due)), Some(d));
        }
    }
}

fn midnight(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    tz.with_ymd_and_hms(d.year(), d.month(), d.day(), 0, 0, 0)
        .earliest()
        .expect("midnight exists in New York and Berlin")
        .with_timezone(&Utc)
}
