//! An operator adds a newly published year of China's holidays without a new release:
//! a folder named `cn` of holiday-cn files given in `OMBUDS_SLA_CALENDARS` replaces the
//! built-in `cn` for every policy.

use chrono::{DateTime, Utc};
use ombuds_platform::config::Config;
use ombuds_sla_watchdog::{load_policies, Settings};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[test]
fn a_cn_folder_with_a_new_year_replaces_the_built_in_cn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cn = dir.path().join("cn");
    std::fs::create_dir(&cn).expect("cn folder");
    // 2026 as shipped would do; a small file keeps the test self-contained.
    std::fs::write(
        cn.join("2026.json"),
        r#"{"year":2026,"papers":[],"days":[{"name":"元旦","date":"2026-01-01","isOffDay":true}]}"#,
    )
    .expect("2026");
    std::fs::write(
        cn.join("2027.json"),
        r#"{"year":2027,"papers":[],"days":[{"name":"元旦","date":"2027-01-01","isOffDay":true}]}"#,
    )
    .expect("2027");
    let from = at("2026-12-28T10:00:00+08:00");

    let builtin = Settings::from_config(&Config::from_pairs(
        "sla-watchdog",
        Vec::<(String, String)>::new(),
    ))
    .expect("settings");
    let (calendars, _) = load_policies(&builtin).expect("built-in calendars");
    let shipped = calendars.get("cn").expect("cn");
    assert!(
        shipped.add_working_days(from, 5).is_err(),
        "the shipped cn says it has no 2027 data"
    );

    let settings = Settings::from_config(&Config::from_pairs(
        "sla-watchdog",
        [("OMBUDS_SLA_CALENDARS", cn.display().to_string())],
    ))
    .expect("settings");
    let (calendars, policies) = load_policies(&settings).expect("calendars with 2027");
    let cn = calendars.get("cn").expect("cn");
    // Mon 28 Dec + 5 working days: 29, 30, 31 Dec, (1 Jan off), 4 and 5 Jan.
    assert_eq!(
        cn.add_working_days(from, 5).expect("2027 is known now"),
        at("2027-01-05T18:00:00+08:00")
    );
    assert!(!policies.current().version_tag().is_empty());
}
