//! Calendar files: the crate's own TOML/JSON format ([`spec`]), the holiday-cn JSON
//! format ([`holiday_cn`], one file per year or a directory of them) and iCalendar
//! ([`ics`]). [`load_path`] picks the reader from the path (a directory, or the
//! extension; a `.json` file is holiday-cn if it has `year` and `days`, else the own
//! format). Every reader reports bad input as [`CalendarError::Parse`] naming the file
//! and line, never a panic.

pub mod holiday_cn;
pub mod ics;
pub mod spec;

use std::path::Path;

use crate::{Calendar, CalendarError};

/// Reads a calendar file or a directory of holiday-cn files. `base` supplies the time
/// zone and working week for formats that carry only dates (holiday-cn, .ics).
pub fn load_path(path: &Path, base: &Calendar) -> Result<Calendar, CalendarError> {
    let shown = path.display().to_string();
    let io = |source| CalendarError::Io {
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("calendar")
        .to_owned();
    if meta.is_dir() {
        let dir_name = path
            .file_name()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .unwrap_or("holiday-cn");
        return holiday_cn::load_dir(path, dir_name, base);
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "toml" => spec::parse_toml(&shown, &stem, &text),
        "json" if holiday_cn::looks_like(&text) => {
            holiday_cn::parse_files(&stem, &[(shown.as_str(), text.as_str())], base)
        }
        "json" => spec::parse_json(&shown, &stem, &text),
        "ics" | "ical" | "ifb" | "icalendar" => ics::parse(&shown, &stem, &text, base),
        _ => Err(CalendarError::parse(
            &shown,
            0,
            "unknown calendar file type: expected .toml, .json or .ics (or a directory of holiday-cn .json files)",
        )),
    }
}

/// The 1-based line of the first occurrence of `needle` in `text` (0 if absent).
pub(crate) fn line_of(text: &str, needle: &str) -> usize {
    if needle.is_empty() {
        return 0;
    }
    text.find(needle).map(|at| line_at(text, at)).unwrap_or(0)
}

/// The 1-based line of a byte offset.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    let t = s.trim();
    let ok_shape = t.len() == 10
        && t.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !ok_shape {
        return Err(format!("{s:?} is not a date (YYYY-MM-DD)"));
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a valid date"))
}
