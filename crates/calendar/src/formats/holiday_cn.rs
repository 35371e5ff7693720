//! The holiday-cn JSON format (github.com/NateScarlet/holiday-cn, MIT): one file per
//! year, `{"year": 2025, "papers": [...], "days": [{"name": "国庆节", "date":
//! "2025-10-01", "isOffDay": true}, ...]}`. `isOffDay: true` is a holiday, `false` a
//! make-up working day (调休上班); ordinary weekends are not listed. A file may list
//! days of the previous December (the file follows the year of the State Council
//! notice).
//!
//! A file whose `days` list is empty (as 2027.json is until the notice is published)
//! does not cover its year: dates in it are [`CalendarError::NoData`]. The years
//! covered must be consecutive.

use std::{collections::BTreeMap, path::Path};

use serde::Deserialize;

use super::{line_of, parse_date};
use crate::{Calendar, CalendarError};

#[derive(Debug, Deserialize)]
struct YearFile {
    year: i32,
    #[serde(default)]
    #[allow(dead_code)]
    papers: Vec<String>,
    days: Vec<Day>,
}

#[derive(Debug, Deserialize)]
struct Day {
    #[allow(dead_code)]
    name: String,
    date: String,
    #[serde(rename = "isOffDay")]
    is_off_day: bool,
}

/// Whether a JSON text is in the holiday-cn format (has `year` and `days`).
pub fn looks_like(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        year: Option<serde_json::Value>,
        days: Option<serde_json::Value>,
    }
    serde_json::from_str::<Probe>(text).is_ok_and(|p| p.year.is_some() && p.days.is_some())
}

/// Builds a calendar named `name` from holiday-cn files `(source name, text)`, with the
/// time zone, working week and rule of `base`.
pub fn parse_files(
    name: &str,
    files: &[(&str, &str)],
    base: &Calendar,
) -> Result<Calendar, CalendarError> {
    // date -> (is off, source, line), to report a conflict where it is.
    let mut days: BTreeMap<chrono::NaiveDate, (bool, usize)> = BTreeMap::new();
    let mut years: Vec<(i32, usize)> = Vec::new();
    for (i, (source, text)) in files.iter().enumerate() {
        let file: YearFile = serde_json::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            CalendarError::parse(source, e.line(), msg)
        })?;
        if !(1678..=2261).contains(&file.year) {
            return Err(CalendarError::parse(
                source,
                line_of(text, "\"year\""),
                format!("year {} is out of range", file.year),
            ));
        }
        if file.days.is_empty() {
            continue; // not published yet: the year stays uncovered
        }
        if let Some(&(_, j)) = years.iter().find(|(y, _)| *y == file.year) {
            return Err(CalendarError::parse(
                source,
                line_of(text, "\"year\""),
                format!("year {} is also in {}", file.year, files[j].0),
            ));
        }
        years.push((file.year, i));
        for day in &file.days {
            let at = || line_of(text, &format!("\"{}\"", day.date));
            let date = parse_date(&day.date).map_err(|e| CalendarError::parse(source, at(), e))?;
            if !(file.year - 1..=file.year).contains(&chrono::Datelike::year(&date)) {
                return Err(CalendarError::parse(
                    source,
                    at(),
                    format!("{date} is not in {} (or the December before)", file.year),
                ));
            }
            match days.get(&date) {
                Some(&(off, _)) if off != day.is_off_day => {
                    return Err(CalendarError::parse(
                        source,
                        at(),
                        format!("{date} is both a holiday and a make-up working day"),
                    ));
                }
                _ => {
                    days.insert(date, (day.is_off_day, i));
                }
            }
        }
    }
    years.sort();
    let (Some(&(first, _)), Some(&(last, _))) = (years.first(), years.last()) else {
        let source = files.first().map_or(name, |f| f.0);
        return Err(CalendarError::parse(
            source,
            0,
            "no holiday data: every file has an empty list of days",
        ));
    };
    if let Some(w) = years.windows(2).find(|w| w[1].0 != w[0].0 + 1) {
        return Err(CalendarError::parse(
            files[w[1].1].0,
            0,
            format!(
                "holiday data for {} is missing (the years covered must be consecutive)",
                w[0].0 + 1
            ),
        ));
    }
    base.rebuild(name)
        .holidays(days.iter().filter(|(_, v)| v.0).map(|(d, _)| *d))
        .working_days(days.iter().filter(|(_, v)| !v.0).map(|(d, _)| *d))
        .years(first, last)
        .build()
}

/// Loads every `<year>.json` of a directory (other files are ignored).
pub fn load_dir(dir: &Path, name: &str, base: &Calendar) -> Result<Calendar, CalendarError> {
    let shown = dir.display().to_string();
    let io = |source| CalendarError::Io {
        path: shown.clone(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_year_file = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .is_some_and(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()));
        if is_year_file {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(CalendarError::parse(
            &shown,
            0,
            "no <year>.json files in the directory",
        ));
    }
    let mut texts = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).map_err(|source| CalendarError::Io {
            path: p.display().to_string(),
            source,
        })?;
        texts.push((p.display().to_string(), text));
    }
    let files: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    parse_files(name, &files, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Calendar {
        crate::cn::base().expect("base")
    }

    #[test]
    fn reads_a_year_and_skips_an_unpublished_one() {
        let y = r#"{"year": 2030, "papers": [], "days": [
            {"name": "x", "date": "2030-01-01", "isOffDay": true},
            {"name": "x", "date": "2030-01-05", "isOffDay": false}]}"#;
        let empty = r#"{"year": 2031, "papers": [], "days": []}"#;
        let cal =
            parse_files("t", &[("2030.json", y), ("2031.json", empty)], &base()).expect("valid");
        assert_eq!(cal.years(), Some((2030, 2030)));
        assert_eq!(cal.holidays().count(), 1);
        assert_eq!(cal.extra_working_days().count(), 1);
        let e = cal
            .is_working_day(chrono::NaiveDate::from_ymd_opt(2031, 3, 3).expect("date"))
            .expect_err("2031 unpublished");
        assert_eq!(e.to_string(), "calendar t has no holiday data for 2031");
        assert!(looks_like(y));
        assert!(!looks_like(r#"{"timezone": "UTC"}"#));
    }

    #[test]
    fn bad_files_name_the_line() {
        let bad = "{\"year\": 2030, \"papers\": [], \"days\": [\n {\"name\": \"x\", \"date\": \"2030-02-30\", \"isOffDay\": true}]}";
        let e = parse_files("t", &[("2030.json", bad)], &base()).expect_err("bad date");
        assert_eq!(
            e.to_string(),
            "2030.json:2: \"2030-02-30\" is not a valid date"
        );
        let e = parse_files(
            "t",
            &[("x.json", "{\"year\": 2030,\n \"days\": [1]}")],
            &base(),
        )
        .expect_err("bad day");
        assert!(e.to_string().starts_with("x.json:2: invalid type"), "{e}");
        let a =
            r#"{"year": 2030, "days": [{"name": "x", "date": "2030-01-01", "isOffDay": true}]}"#;
        let c =
            r#"{"year": 2032, "days": [{"name": "x", "date": "2032-01-01", "isOffDay": true}]}"#;
        let e = parse_files("t", &[("2030.json", a), ("2032.json", c)], &base()).expect_err("gap");
        assert!(
            e.to_string().contains("holiday data for 2031 is missing"),
            "{e}"
        );
        let empty = r#"{"year": 2031, "papers": [], "days": []}"#;
        assert!(parse_files("t", &[("2031.json", empty)], &base()).is_err());
    }
}
