//! Working hours: an [`Interval`] of local wall-clock time within one day
//! (`09:00-12:00`, up to `24:00`), and the checks that turn a list of them into a
//! valid day (sorted, non-empty, non-overlapping). The calendar keeps one list per
//! weekday and one for make-up working days.

use std::fmt;

/// Seconds in a day; an interval may end at `24:00`, which is this value.
pub const DAY_SECS: u32 = 86_400;

/// Working time within one local day, from `start` (inclusive) to `end` (exclusive),
/// both in seconds after local midnight, `0 <= start < end <= 86400`. Local wall-clock
/// time: on a day with a DST change the real length may differ from `end - start`
/// (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    start: u32,
    end: u32,
}

impl Interval {
    /// `start..end` in seconds after midnight; `None` unless `start < end <= 86400`.
    pub fn new(start: u32, end: u32) -> Option<Self> {
        (start < end && end <= DAY_SECS).then_some(Self { start, end })
    }

    /// The whole day, `00:00-24:00`.
    pub const fn all_day() -> Self {
        Self {
            start: 0,
            end: DAY_SECS,
        }
    }

    /// Seconds after local midnight at which the interval starts.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Seconds after local midnight at which the interval ends (86400 = `24:00`).
    pub fn end(&self) -> u32 {
        self.end
    }

    /// Wall-clock length in seconds.
    pub fn len_secs(&self) -> u32 {
        self.end - self.start
    }

    /// Parses `HH:MM-HH:MM` (or `HH:MM:SS-HH:MM:SS`); `24:00` is allowed as the end.
    /// An interval that crosses midnight (`22:00-06:00`) must be split in two days.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("working hours {s:?}: expected HH:MM-HH:MM"))?;
        let start = parse_clock(a.trim()).map_err(|e| format!("working hours {s:?}: {e}"))?;
        let end = parse_clock(b.trim()).map_err(|e| format!("working hours {s:?}: {e}"))?;
        if start >= DAY_SECS {
            return Err(format!("working hours {s:?}: cannot start at 24:00"));
        }
        Self::new(start, end).ok_or_else(|| {
            format!(
                "working hours {s:?}: the end must be after the start \
                 (split a shift that crosses midnight at 24:00)"
            )
        })
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_clock(f, self.start)?;
        f.write_str("-")?;
        write_clock(f, self.end)
    }
}

fn write_clock(f: &mut fmt::Formatter<'_>, secs: u32) -> fmt::Result {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if s == 0 {
        write!(f, "{h:02}:{m:02}")
    } else {
        write!(f, "{h:02}:{m:02}:{s:02}")
    }
}

/// `HH:MM` or `HH:MM:SS` to seconds after midnight; `24:00` is 86400.
fn parse_clock(s: &str) -> Result<u32, String> {
    let mut parts = s.split(':');
    let mut next = |what: &str, max: u32, required: bool| -> Result<u32, String> {
        match parts.next() {
            None if !required => Ok(0),
            None => Err(format!("{s:?} is not a time of day (HH:MM)")),
            Some(p) => {
                if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("{s:?} is not a time of day (HH:MM)"));
                }
                let v: u32 = p
                    .parse()
                    .map_err(|_| format!("{s:?} is not a time of day (HH:MM)"))?;
                if v > max {
                    return Err(format!("{s:?}: {what} out of range"));
                }
                Ok(v)
            }
        }
    };
    let h = next("hour", 24, true)?;
    let m = next("minute", 59, true)?;
    let sec = next("second", 59, false)?;
    if parts.next().is_some() {
        return Err(format!("{s:?} is not a time of day (HH:MM)"));
    }
    let total = h * 3600 + m * 60 + sec;
    if total > DAY_SECS {
        return Err(format!("{s:?} is after 24:00"));
    }
    Ok(total)
}

/// Sorts a day's intervals and rejects overlaps (touching is fine: `09:00-12:00`,
/// `12:00-13:00` are merged into one).
pub(crate) fn normalize(mut v: Vec<Interval>) -> Result<Vec<Interval>, String> {
    v.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(v.len());
    for iv in v {
        match out.last_mut() {
            Some(last) if iv.start < last.end => {
                return Err(format!("working hours {last} and {iv} overlap"));
            }
            Some(last) if iv.start == last.end => last.end = iv.end,
            _ => out.push(iv),
        }
    }
    Ok(out)
}

/// Parses a list of `HH:MM-HH:MM` strings into a normalized day.
pub(crate) fn parse_day<S: AsRef<str>>(items: &[S]) -> Result<Vec<Interval>, String> {
    let v = items
        .iter()
        .map(|s| Interval::parse(s.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    normalize(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let iv = Interval::parse("09:00-12:30").expect("valid");
        assert_eq!((iv.start(), iv.end()), (9 * 3600, 12 * 3600 + 1800));
        assert_eq!(iv.to_string(), "09:00-12:30");
        assert_eq!(
            Interval::parse(" 00:00 - 24:00 ").expect("valid"),
            Interval::all_day()
        );
        assert_eq!(
            Interval::parse("08:00:30-09:00")
                .expect("valid")
                .to_string(),
            "08:00:30-09:00"
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "9-17",
            "09:00",
            "09:00-",
            "18:00-09:00",
            "09:00-09:00",
            "24:00-24:00",
            "25:00-26:00",
            "09:60-10:00",
            "09:00-24:01",
            "a:b-c:d",
            "09:00-12:00-13:00",
            "+9:00-10:00",
        ] {
            assert!(Interval::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn normalize_sorts_merges_and_rejects_overlap() {
        let day = parse_day(&["13:00-18:00", "09:00-12:00", "12:00-12:30"]).expect("valid");
        let shown: Vec<String> = day.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["09:00-12:30", "13:00-18:00"]);
        assert!(parse_day(&["09:00-12:00", "11:00-13:00"]).is_err());
    }
}
