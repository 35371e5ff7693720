//! Loading calendars by name or from files through `Calendars::resolve`: the own
//! TOML/JSON format, holiday-cn files and directories, .ics; what a bad or missing
//! file reports; and that no input, however mangled, makes a reader panic.

use std::{io::Write, path::Path};

use chrono::NaiveDate;
use ombuds_calendar::{formats, CalendarError, Calendars};
use proptest::prelude::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("create file");
    f.write_all(text.as_bytes()).expect("write file");
    path.display().to_string()
}

const ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-WR-TIMEZONE:Asia/Shanghai\r\n\
BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20251001\r\nDTEND;VALUE=DATE:20251009\r\nSUMMARY:国庆节\r\n  、中秋节\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20250928\r\nSUMMARY:国庆节 补班\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20251011\r\nSUMMARY:国庆节 补班\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

#[test]
fn builtin_names_and_unknown_names() {
    let mut cals = Calendars::builtin();
    assert_eq!(cals.names(), ["24x7", "cn"]);
    assert_eq!(cals.resolve("cn").expect("built in").name(), "cn");
    assert!(cals.get("nope").is_none());
    let e = cals.resolve("nope").expect_err("unknown");
    assert!(
        matches!(&e, CalendarError::Unknown(n) if n == "nope"),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with("unknown calendar \"nope\""),
        "{e}"
    );
    let e = cals
        .resolve("/no/such/dir/cal.toml")
        .expect_err("missing file");
    assert!(matches!(e, CalendarError::Io { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("cannot read calendar file /no/such/dir/cal.toml: "),
        "{e}"
    );
}

#[test]
fn own_format_in_toml_and_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = write(
        dir.path(),
        "acme.toml",
        "name = \"acme\"\ntimezone = \"Europe/Berlin\"\nholidays = [\"2025-12-25\"]\n[week]\nweekdays = [\"09:00-17:00\"]\n",
    );
    let mut cals = Calendars::builtin();
    let acme = cals.resolve(&toml).expect("valid file");
    assert_eq!(acme.name(), "acme");
    assert_eq!(acme.years(), Some((2025, 2025)));
    assert!(!acme.is_working_day(date(2025, 12, 25)).expect("covered"));
    // Inserted under its name, and resolvable by it.
    assert!(cals.names().contains(&"acme".to_owned()));
    assert_eq!(
        cals.resolve("acme").expect("by name").timezone(),
        chrono_tz::Europe::Berlin
    );

    let json = write(
        dir.path(),
        "night-desk.json",
        r#"{"timezone": "UTC", "week": {"sat": ["00:00-24:00"], "sun": ["00:00-24:00"]}}"#,
    );
    let desk = cals.resolve(&json).expect("valid file");
    assert_eq!(desk.name(), "night-desk");
    assert!(desk.is_working_day(date(2030, 6, 1)).expect("no limit"));
    assert!(!desk.is_working_day(date(2030, 6, 3)).expect("no limit"));
}

#[test]
fn holiday_cn_files_and_directories() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/holiday-cn");
    let mut cals = Calendars::new();
    let all = cals
        .resolve(&data.display().to_string())
        .expect("directory");
    assert_eq!(all.name(), "holiday-cn");
    assert_eq!(all.years(), Some((2019, 2026)));
    assert_eq!(all.timezone(), chrono_tz::Asia::Shanghai);
    assert!(all.is_working_day(date(2025, 9, 28)).expect("covered"));
    let one = cals
        .resolve(&data.join("2025.json").display().to_string())
        .expect("one year");
    assert_eq!(one.name(), "2025");
    assert_eq!(one.years(), Some((2025, 2025)));
    assert!(!one.is_working_day(date(2025, 10, 1)).expect("covered"));
    let e = one
        .is_working_day(date(2026, 1, 5))
        .expect_err("not in the file");
    assert_eq!(e.to_string(), "calendar 2025 has no holiday data for 2026");
    // The unpublished 2027.json alone holds no data at all.
    let e = cals
        .resolve(&data.join("2027.json").display().to_string())
        .expect_err("empty");
    assert!(e.to_string().contains("no holiday data"), "{e}");
}

#[test]
fn ics_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "cn-2025.ics", ICS);
    let mut cals = Calendars::builtin();
    let cal = cals.resolve(&path).expect("valid ics");
    assert_eq!(cal.name(), "cn-2025");
    assert_eq!(cal.years(), Some((2025, 2025)));
    assert!(cal.is_working_day(date(2025, 9, 28)).expect("covered"));
    assert!(cal.is_working_day(date(2025, 10, 11)).expect("covered"));
    assert!(!cal.is_working_day(date(2025, 10, 8)).expect("covered"));
    assert!(cal.is_working_day(date(2025, 10, 9)).expect("covered"));
    // Same answers as the built-in cn for that autumn.
    let cn = cals.get("cn").expect("cn");
    for d in date(2025, 9, 1).iter_days().take(61) {
        assert_eq!(
            cal.is_working_day(d).expect("covered"),
            cn.is_working_day(d).expect("covered"),
            "{d}"
        );
    }

    let bad = write(
        dir.path(),
        "bad.ics",
        &ICS.replace("20251011", "2025-10-11"),
    );
    let e = cals.resolve(&bad).expect_err("bad date");
    let CalendarError::Parse {
        source_name,
        line,
        message,
    } = &e
    else {
        panic!("expected a parse error, got {e:?}")
    };
    assert_eq!(source_name, &bad);
    assert_eq!(*line, 15);
    assert!(message.contains("not a date"), "{e}");
    assert!(
        e.to_string().starts_with(&format!("{bad}:15: DTSTART")),
        "{e}"
    );

    let txt = write(dir.path(), "holidays.txt", "2025-10-01\n");
    let e = cals.resolve(&txt).expect_err("unknown type");
    assert!(e.to_string().contains("unknown calendar file type"), "{e}");
}

/// A valid file with a few bytes deleted, replaced or inserted at random places.
fn mangled(base: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..6).prop_map(
        move |edits| {
            let mut chars: Vec<char> = base.chars().collect();
            for (at, op, c) in edits {
                if chars.is_empty() {
                    break;
                }
                let i = at.index(chars.len());
                match op {
                    0 => {
                        chars.remove(i);
                    }
                    1 => chars[i] = c,
                    _ => chars.insert(i, c),
                }
            }
            chars.into_iter().collect()
        },
    )
}

const TOML: &str = "name = \"x\"\ntimezone = \"Europe/Berlin\"\nyears = [2025, 2026]\nholidays = [\"2025-12-25\", \"2025-12-29..2025-12-31\"]\n[week]\nweekdays = [\"09:00-12:00\", \"13:00-17:00\"]\n";
const HOLIDAY_CN: &str = r#"{"year": 2025, "papers": [], "days": [{"name": "a", "date": "2025-01-01", "isOffDay": true}, {"name": "b", "date": "2025-01-26", "isOffDay": false}]}"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mangled_files_never_panic(ics in mangled(ICS), toml in mangled(TOML), cn in mangled(HOLIDAY_CN), junk in ".{0,200}") {
        let base = ombuds_calendar::cn::base().expect("base");
        for text in [&ics, &toml, &cn, &junk] {
            let _ = formats::ics::parse("f.ics", "f", text, &base);
            let _ = formats::spec::parse_toml("f.toml", "f", text);
            let _ = formats::spec::parse_json("f.json", "f", text);
            let _ = formats::holiday_cn::parse_files("f", &[("f.json", text)], &base);
        }
        // Whatever loads must compute without panicking either.
        if let Ok(cal) = formats::ics::parse("f.ics", "f", &ics, &base) {
            let from = chrono::DateTime::from_timestamp(1_759_000_000, 0).expect("time");
            let _ = cal.add_working_days(from, 3);
            let _ = cal.add_business_time(from, std::time::Duration::from_secs(50 * 3600));
        }
    }
}
