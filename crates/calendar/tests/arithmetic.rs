//! Hand-checked dates and deadlines on the built-in `cn` calendar, a calendar with a
//! lunch break, `24x7`, and the DST zones; every expected value here was worked out
//! on a paper calendar, not computed by the crate.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin, Tz};
use ombuds_calendar::{Calendar, CalendarError, Calendars, WorkingDayRule};

fn cn() -> std::sync::Arc<Calendar> {
    Calendars::builtin().get("cn").expect("cn is built in")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// A local wall-clock time in `tz`, as UTC.
fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("unambiguous local time")
        .with_timezone(&Utc)
}

fn sh(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    at(Shanghai, y, mo, d, h, mi)
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

#[test]
fn cn_2025_national_day_and_mid_autumn() {
    let cn = cn();
    // Sunday 28 September 2025 is a make-up working day; Saturday 27 is not.
    assert_eq!(date(2025, 9, 28).weekday(), Weekday::Sun);
    assert!(cn.is_working_day(date(2025, 9, 28)).expect("data"));
    assert!(!cn.is_working_day(date(2025, 9, 27)).expect("data"));
    // 1-8 October off, Thursday 9 and Friday 10 worked, Saturday 11 a make-up day.
    for d in 1..=8 {
        assert!(
            !cn.is_working_day(date(2025, 10, d)).expect("data"),
            "2025-10-{d:02}"
        );
    }
    assert!(cn.is_working_day(date(2025, 10, 9)).expect("data"));
    assert!(cn.is_working_day(date(2025, 10, 10)).expect("data"));
    assert!(cn.is_working_day(date(2025, 10, 11)).expect("data"));
    assert!(!cn.is_working_day(date(2025, 10, 12)).expect("data"));
    // A make-up day has the hours of an ordinary working day.
    assert_eq!(
        cn.hours_on(date(2025, 9, 28)).expect("data")[0].to_string(),
        "09:00-18:00"
    );
}

#[test]
fn cn_2026_spring_festival() {
    let cn = cn();
    assert_eq!(date(2026, 2, 14).weekday(), Weekday::Sat);
    assert!(
        cn.is_working_day(date(2026, 2, 14)).expect("data"),
        "make-up Saturday"
    );
    for d in 15..=23 {
        assert!(
            !cn.is_working_day(date(2026, 2, d)).expect("data"),
            "2026-02-{d}"
        );
    }
    assert!(cn.is_working_day(date(2026, 2, 24)).expect("data"));
    assert!(
        cn.is_working_day(date(2026, 2, 28)).expect("data"),
        "make-up Saturday"
    );
    assert!(
        !cn.is_working_day(date(2026, 3, 1)).expect("data"),
        "an ordinary Sunday"
    );
    // Received on the eve (Saturday 14, a working day) at 17:00: 1 working day is Tuesday 24.
    assert_eq!(
        cn.add_working_days(sh(2026, 2, 14, 17, 0), 1)
            .expect("data"),
        sh(2026, 2, 24, 18, 0)
    );
    // Received during the holiday: day 1 is Tuesday 24, day 5 is the make-up Saturday 28.
    assert_eq!(
        cn.add_working_days(sh(2026, 2, 18, 10, 0), 1)
            .expect("data"),
        sh(2026, 2, 24, 18, 0)
    );
    assert_eq!(
        cn.add_working_days(sh(2026, 2, 18, 10, 0), 5)
            .expect("data"),
        sh(2026, 2, 28, 18, 0)
    );
    // Business time elapsed over the whole holiday week: only the Saturday 14 (9 h).
    assert_eq!(
        cn.business_time_between(sh(2026, 2, 13, 18, 0), sh(2026, 2, 24, 9, 0))
            .expect("data"),
        hours(9)
    );
}

#[test]
fn friday_half_past_five_with_one_working_day() {
    let cn = cn();
    // Friday 14 November 2025, 17:30: the day of receipt does not count, so the
    // deadline is Monday's close of business.
    let fri = sh(2025, 11, 14, 17, 30);
    assert_eq!(
        cn.add_working_days(fri, 1).expect("data"),
        sh(2025, 11, 17, 18, 0)
    );
    assert_eq!(
        cn.add_working_days(fri, 0).expect("data"),
        sh(2025, 11, 14, 18, 0)
    );
    // One business hour: 30 minutes on Friday, 30 on Monday morning.
    assert_eq!(
        cn.add_business_time(fri, hours(1)).expect("data"),
        sh(2025, 11, 17, 9, 30)
    );
    // Calendar hours ignore the calendar.
    assert_eq!(cn.add_hours(fri, hours(24)), sh(2025, 11, 15, 17, 30));
    // The business-time rule: 1 working day = 9 h of business time.
    let bt = (*cn)
        .clone()
        .with_working_day_rule(WorkingDayRule::BusinessTime);
    assert_eq!(bt.working_day_rule(), WorkingDayRule::BusinessTime);
    assert_eq!(bt.standard_day(), hours(9));
    assert_eq!(
        bt.add_working_days(fri, 1).expect("data"),
        sh(2025, 11, 17, 17, 30)
    );
    assert_eq!(bt.add_working_days(fri, 0).expect("data"), fri);
}

#[test]
fn received_on_a_holiday_or_a_weekend() {
    let cn = cn();
    // National Day 2025, Friday 3 October: the first working day after it is Thursday 9.
    assert_eq!(
        cn.add_working_days(sh(2025, 10, 3, 11, 0), 1)
            .expect("data"),
        sh(2025, 10, 9, 18, 0)
    );
    assert_eq!(
        cn.add_working_days(sh(2025, 10, 3, 11, 0), 0)
            .expect("data"),
        sh(2025, 10, 9, 18, 0)
    );
    assert_eq!(
        cn.add_working_days(sh(2025, 10, 3, 11, 0), 3)
            .expect("data"),
        sh(2025, 10, 11, 18, 0)
    );
    // Saturday 15 November 2025 (an ordinary weekend): day 1 is Monday 17.
    assert_eq!(
        cn.add_working_days(sh(2025, 11, 15, 9, 0), 1)
            .expect("data"),
        sh(2025, 11, 17, 18, 0)
    );
    // Business hours received on a holiday start at the next opening.
    assert_eq!(
        cn.add_business_time(sh(2025, 10, 3, 11, 0), hours(2))
            .expect("data"),
        sh(2025, 10, 9, 11, 0)
    );
    // 15 working days from Tuesday 30 September 2025: 9, 10, 11 (Sat), 13-17, 20-24,
    // 27, 28 October.
    assert_eq!(
        cn.add_working_days(sh(2025, 9, 30, 9, 0), 15)
            .expect("data"),
        sh(2025, 10, 28, 18, 0)
    );
    // Received just after midnight, local time (16:30 UTC the day before).
    assert_eq!(
        cn.add_working_days(sh(2025, 11, 18, 0, 30), 1)
            .expect("data"),
        sh(2025, 11, 19, 18, 0)
    );
}

#[test]
fn a_deadline_that_uses_up_a_day_is_that_day_s_close() {
    let cn = cn();
    let mon = sh(2025, 11, 17, 9, 0);
    assert_eq!(
        cn.add_business_time(mon, hours(9)).expect("data"),
        sh(2025, 11, 17, 18, 0)
    );
    assert_eq!(
        cn.add_business_time(mon, hours(18)).expect("data"),
        sh(2025, 11, 18, 18, 0)
    );
    assert_eq!(
        cn.add_business_time(mon, Duration::ZERO).expect("data"),
        mon
    );
    // 72 business hours = 8 working days: Monday 17 09:00 to Wednesday 26 18:00.
    assert_eq!(
        cn.add_business_time(mon, hours(72)).expect("data"),
        sh(2025, 11, 26, 18, 0)
    );
    assert_eq!(
        cn.business_time_between(mon, sh(2025, 11, 26, 18, 0))
            .expect("data"),
        hours(72)
    );
    assert_eq!(
        cn.business_time_between(sh(2025, 11, 26, 18, 0), mon)
            .expect("data"),
        Duration::ZERO
    );
}

fn lunch() -> Calendar {
    Calendar::builder("cn-lunch", Shanghai)
        .weekdays(&["09:00-12:00", "13:00-18:00"])
        .build()
        .expect("valid calendar")
}

#[test]
fn business_hours_across_a_lunch_break_and_a_weekend() {
    let cal = lunch();
    assert_eq!(cal.standard_day(), hours(8));
    let fri = |h, m| sh(2025, 11, 14, h, m);
    let mon = |h, m| sh(2025, 11, 17, h, m);
    // Friday 11:00 + 3 h: 11-12, then 13-15.
    assert_eq!(
        cal.add_business_time(fri(11, 0), hours(3))
            .expect("no data limit"),
        fri(15, 0)
    );
    // Received during lunch: the clock starts at 13:00.
    assert_eq!(
        cal.add_business_time(fri(12, 20), hours(1))
            .expect("no data limit"),
        fri(14, 0)
    );
    // Friday 16:00 + 4 h: 16-18, then Monday 09-11.
    assert_eq!(
        cal.add_business_time(fri(16, 0), hours(4))
            .expect("no data limit"),
        mon(11, 0)
    );
    // Friday 11:30 + 6 h: 30 min, 5 h, then 30 min on Monday.
    assert_eq!(
        cal.add_business_time(fri(11, 30), hours(6))
            .expect("no data limit"),
        mon(9, 30)
    );
    // Exactly the morning: ends at 12:00, not 13:00.
    assert_eq!(
        cal.add_business_time(fri(9, 0), hours(3))
            .expect("no data limit"),
        fri(12, 0)
    );
    // Elapsed: Friday 11:00 to Monday 10:00 = 1 + 5 + 1 h.
    assert_eq!(
        cal.business_time_between(fri(11, 0), mon(10, 0))
            .expect("no data limit"),
        hours(7)
    );
    assert_eq!(
        cal.business_time_between(fri(12, 0), fri(13, 0))
            .expect("no data limit"),
        Duration::ZERO
    );
    assert_eq!(
        cal.business_time_between(fri(11, 59), fri(13, 1))
            .expect("no data limit"),
        minutes(2)
    );
    // Close of business is the end of the afternoon interval.
    assert_eq!(
        cal.add_working_days(fri(11, 0), 1).expect("no data limit"),
        mon(18, 0)
    );
    assert_eq!(
        cal.close_of_business(date(2025, 11, 15))
            .expect("no data limit"),
        None
    );
}

#[test]
fn no_data_for_2027_and_2028() {
    let cn = cn();
    assert_eq!(cn.years(), Some((2019, 2026)));
    let e = cn
        .is_working_day(date(2027, 3, 1))
        .expect_err("2027 is not published");
    assert!(
        matches!(&e, CalendarError::NoData { calendar, year: 2027 } if calendar == "cn"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "calendar cn has no holiday data for 2027");
    let e = cn
        .add_working_days(sh(2028, 5, 8, 10, 0), 1)
        .expect_err("2028");
    assert_eq!(e.to_string(), "calendar cn has no holiday data for 2028");
    let e = cn
        .add_business_time(sh(2028, 5, 8, 10, 0), hours(1))
        .expect_err("2028");
    assert_eq!(e.to_string(), "calendar cn has no holiday data for 2028");
    let e = cn
        .business_time_between(sh(2028, 5, 8, 10, 0), sh(2028, 5, 9, 10, 0))
        .expect_err("2028");
    assert_eq!(e.to_string(), "calendar cn has no holiday data for 2028");
    let e = cn
        .is_working_day(date(2018, 12, 28))
        .expect_err("before the data");
    assert_eq!(e.to_string(), "calendar cn has no holiday data for 2018");
    // A computation that runs into 2027 fails too, rather than guessing.
    let e = cn
        .add_working_days(sh(2026, 12, 30, 10, 0), 5)
        .expect_err("runs into 2027");
    assert_eq!(e.to_string(), "calendar cn has no holiday data for 2027");
    // ... but one that ends on 31 December 2026 does not need 2027.
    assert_eq!(
        cn.add_working_days(sh(2026, 12, 30, 10, 0), 1)
            .expect("data"),
        sh(2026, 12, 31, 18, 0)
    );
    assert_eq!(
        cn.add_business_time(sh(2026, 12, 31, 9, 0), hours(9))
            .expect("data"),
        sh(2026, 12, 31, 18, 0)
    );
    assert_eq!(
        cn.business_time_between(sh(2026, 12, 31, 9, 0), sh(2027, 1, 1, 0, 0))
            .expect("data"),
        hours(9)
    );
    // 24x7 has no holiday list and so no limit.
    let always = Calendars::builtin().get("24x7").expect("24x7");
    assert_eq!(always.years(), None);
    assert!(always.is_working_day(date(2028, 1, 1)).expect("no limit"));
}

#[test]
fn cn_matches_the_holiday_cn_files_day_by_day() {
    #[derive(serde::Deserialize)]
    struct File {
        days: Vec<Day>,
    }
    #[derive(serde::Deserialize)]
    struct Day {
        date: String,
        #[serde(rename = "isOffDay")]
        off: bool,
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/holiday-cn");
    let mut listed = std::collections::HashMap::new();
    for y in 2019..=2026 {
        let text = std::fs::read_to_string(dir.join(format!("{y}.json"))).expect("data file");
        let f: File = serde_json::from_str(&text).expect("holiday-cn JSON");
        assert!(!f.days.is_empty(), "{y}");
        for d in f.days {
            listed.insert(
                NaiveDate::parse_from_str(&d.date, "%Y-%m-%d").expect("date"),
                d.off,
            );
        }
    }
    let cn = cn();
    let mut day = date(2019, 1, 1);
    let (mut working, mut off) = (0, 0);
    while day <= date(2026, 12, 31) {
        let want = match listed.get(&day) {
            Some(&is_off) => !is_off,
            None => !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
        };
        assert_eq!(cn.is_working_day(day).expect("covered"), want, "{day}");
        if want {
            working += 1;
        } else {
            off += 1;
        }
        day = day.succ_opt().expect("date");
    }
    assert_eq!(working + off, 2922);
    // 2027.json is embedded (empty) so that publishing it is a one-file change.
    assert!(ombuds_calendar::cn::embedded_files().any(|f| f == "2027.json"));
}

#[test]
fn twenty_four_seven_is_calendar_time() {
    let always = Calendars::builtin().get("24x7").expect("24x7");
    let from = Utc
        .with_ymd_and_hms(2025, 10, 1, 3, 4, 5)
        .single()
        .expect("time");
    assert_eq!(
        always.add_business_time(from, hours(72)).expect("no limit"),
        from + chrono::Duration::hours(72)
    );
    assert_eq!(
        always.add_working_days(from, 3).expect("no limit"),
        Utc.with_ymd_and_hms(2025, 10, 5, 0, 0, 0)
            .single()
            .expect("time")
    );
    assert_eq!(
        always
            .business_time_between(from, from + chrono::Duration::days(30))
            .expect("no limit"),
        hours(720)
    );
    assert_eq!(always.standard_day(), hours(24));
}

#[test]
fn dst_days_have_their_real_length() {
    // 09:00-17:00 stays 8 h on both change days.
    for (tz, spring, autumn) in [
        (New_York, date(2025, 3, 9), date(2025, 11, 2)),
        (Berlin, date(2025, 3, 30), date(2025, 10, 26)),
    ] {
        let nine_to_five = Calendar::builder("dst", tz)
            .every_day(&["09:00-17:00"])
            .build()
            .expect("valid");
        let always = Calendar::always("always", tz).expect("valid");
        for (day, len) in [(spring, 23), (autumn, 25)] {
            let start = wall(tz, day);
            let end = wall(tz, day.succ_opt().expect("date"));
            assert_eq!(
                nine_to_five
                    .business_time_between(start, end)
                    .expect("no limit"),
                hours(8),
                "{tz} {day}"
            );
            assert_eq!(
                always.business_time_between(start, end).expect("no limit"),
                hours(len),
                "{tz} {day}"
            );
            assert_eq!(
                always
                    .add_business_time(start, hours(len))
                    .expect("no limit"),
                end,
                "{tz} {day}"
            );
            // A whole week containing the change: 5 × 8 h on a Monday-Friday calendar.
            let weekdays = Calendar::weekdays("w", tz, &["09:00-17:00"]).expect("valid");
            let monday =
                day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()));
            let week = weekdays
                .business_time_between(
                    wall(tz, monday),
                    wall(tz, monday + chrono::Duration::days(7)),
                )
                .expect("no limit");
            assert_eq!(week, hours(40), "{tz} week of {day}");
        }
        // Friday 16:00 before the spring change + 2 business hours = Monday 10:00 local.
        let weekdays = Calendar::weekdays("w", tz, &["09:00-17:00"]).expect("valid");
        let fri = spring - chrono::Duration::days(2);
        let due = weekdays
            .add_business_time(at(tz, fri.year(), fri.month(), fri.day(), 16, 0), hours(2))
            .expect("no limit");
        let mon = spring + chrono::Duration::days(1);
        assert_eq!(
            due,
            at(tz, mon.year(), mon.month(), mon.day(), 10, 0),
            "{tz}"
        );
    }
}

/// The first instant of a local date.
fn wall(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("midnight exists in these zones")
        .with_timezone(&Utc)
}

#[test]
fn nonexistent_and_repeated_local_times_do_not_panic() {
    // Hours inside New York's spring gap (02:00-03:00 on 9 March 2025) and its repeated
    // hour (01:00-02:00 on 2 November 2025).
    let night = Calendar::builder("night", New_York)
        .every_day(&["01:00-02:00", "02:30-03:00"])
        .build()
        .expect("valid");
    let spring = wall(New_York, date(2025, 3, 9));
    let next = wall(New_York, date(2025, 3, 10));
    // 01:00-02:00 exists (1 h); 02:30-03:00 falls in the gap and is empty.
    assert_eq!(
        night.business_time_between(spring, next).expect("no limit"),
        hours(1)
    );
    let autumn = wall(New_York, date(2025, 11, 2));
    let next = wall(New_York, date(2025, 11, 3));
    // 01:00 (first, EDT) to 02:00 (EST, after the repeat) is 2 h real time; 02:30-03:00 is 30 min.
    assert_eq!(
        night.business_time_between(autumn, next).expect("no limit"),
        minutes(150)
    );
    for h in 0..30 {
        let from = spring + chrono::Duration::minutes(h * 7);
        let due = night
            .add_business_time(from, minutes(45))
            .expect("no limit");
        assert_eq!(
            night.business_time_between(from, due).expect("no limit"),
            minutes(45)
        );
        night.add_working_days(from, 1).expect("no limit");
    }
}

#[test]
fn out_of_range_inputs_are_errors_not_panics() {
    let always = Calendars::builtin().get("24x7").expect("24x7");
    let from = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let e = always
        .add_business_time(from, Duration::from_secs(u64::MAX))
        .expect_err("too long");
    assert!(matches!(e, CalendarError::OutOfRange { .. }), "{e}");
    let e = always
        .add_business_time(from, hours(24 * 365 * 250))
        .expect_err("past 2262");
    assert!(e.to_string().contains("2262"), "{e}");
    let e = always
        .add_working_days(from, u32::MAX)
        .expect_err("past 2262");
    assert!(matches!(e, CalendarError::OutOfRange { .. }), "{e}");
    let far = Utc
        .with_ymd_and_hms(3000, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    assert!(always.add_business_time(far, hours(1)).is_err());
    assert!(always.business_time_between(from, far).is_err());
    assert_eq!(
        always.add_hours(DateTime::<Utc>::MAX_UTC, hours(1)),
        DateTime::<Utc>::MAX_UTC
    );
    let cn = cn();
    let e = cn
        .add_working_days(sh(2025, 1, 1, 0, 0), u32::MAX)
        .expect_err("beyond the data");
    assert!(matches!(e, CalendarError::NoData { year: 2027, .. }), "{e}");
}
