//! A time zone's UTC offsets from 1970 to 2100 as a table of spans, built once per
//! zone per process from chrono-tz, so that the calendar walk converts local wall-clock
//! times to UTC with a forward-only cursor (no search per conversion) and knows at a
//! glance whether a week holds a change of offset. Instants outside the table fall
//! back to chrono-tz itself.
//!
//! Conversion rule (the crate's reading of wall-clock times): a local time maps to the
//! first instant at which the clock shows it, or to the end of the gap if it does not
//! exist. Walking the spans in order and taking the first one in which the local time
//! falls gives exactly that.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, OnceLock},
};

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// 1970-01-01T00:00:00Z.
pub(crate) const TABLE_START: i64 = 0;
/// 2100-01-01T00:00:00Z.
pub(crate) const TABLE_END: i64 = 4_102_444_800;
const DAY: i64 = 86_400;
/// More than any UTC offset in use since 1970 (+14 h).
const MAX_OFFSET: i64 = 15 * 3600;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Span {
    /// UTC seconds at which this offset starts.
    start: i64,
    /// Local minus UTC, seconds.
    off: i64,
}

/// The offsets of one zone, `TABLE_START..TABLE_END`.
pub(crate) struct ZoneTable {
    spans: Vec<Span>,
}

impl fmt::Debug for ZoneTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZoneTable({} offsets 1970-2100)", self.spans.len())
    }
}

/// UTC offset of `tz` at a UTC instant (seconds).
pub(crate) fn offset_at(tz: Tz, utc: i64) -> i64 {
    DateTime::from_timestamp(utc, 0)
        .map(|t| {
            i64::from(
                tz.offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc(),
            )
        })
        .unwrap_or(0)
}

/// The table of `tz`, shared by every calendar in that zone.
pub(crate) fn table(tz: Tz) -> Arc<ZoneTable> {
    static TABLES: OnceLock<Mutex<HashMap<Tz, Arc<ZoneTable>>>> = OnceLock::new();
    let tables = TABLES.get_or_init(Default::default);
    if let Ok(map) = tables.lock() {
        if let Some(t) = map.get(&tz) {
            return t.clone();
        }
    }
    // Built outside the lock; two threads may both build one, which is harmless.
    let built = Arc::new(ZoneTable::build(tz));
    match tables.lock() {
        Ok(mut map) => map.entry(tz).or_insert(built).clone(),
        Err(_) => built,
    }
}

impl ZoneTable {
    /// Samples the offset daily and pins each change to the second. Two changes within
    /// one day (a change undone the same day) would be missed; no zone has one.
    fn build(tz: Tz) -> Self {
        let off = |t: i64| offset_at(tz, t);
        let mut spans = vec![Span {
            start: TABLE_START,
            off: off(TABLE_START),
        }];
        let mut t = TABLE_START;
        let mut cur = spans[0].off;
        while t < TABLE_END {
            let next = (t + DAY).min(TABLE_END);
            if off(next) == cur {
                t = next;
                continue;
            }
            // off(lo) == cur, off(hi) != cur: find the first second of the new offset.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if off(mid) == cur {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            cur = off(hi);
            spans.push(Span {
                start: hi,
                off: cur,
            });
            t = hi;
        }
        Self { spans }
    }

    fn end_of(&self, i: usize) -> i64 {
        self.spans.get(i + 1).map_or(TABLE_END, |s| s.start)
    }

    /// The span holding a UTC instant, if the table covers it.
    fn index(&self, utc: i64) -> Option<usize> {
        if !(TABLE_START..TABLE_END).contains(&utc) {
            return None;
        }
        Some(
            self.spans
                .partition_point(|s| s.start <= utc)
                .saturating_sub(1),
        )
    }

    /// The offset at a UTC instant, if the table covers it.
    pub(crate) fn offset(&self, utc: i64) -> Option<i64> {
        self.index(utc).map(|i| self.spans[i].off)
    }

    /// A cursor for converting local times from `local` on (seconds since 1970 on the
    /// local clock): it starts at or before the span of any answer.
    pub(crate) fn cursor(&self, local: i64) -> Cursor {
        let probe = local.saturating_sub(MAX_OFFSET).max(TABLE_START);
        Cursor(self.index(probe).unwrap_or(usize::MAX))
    }

    /// The first UTC instant at which the clock shows `local` or later (seconds), for
    /// non-decreasing `local` along one cursor; `None` outside the table.
    pub(crate) fn to_utc(&self, local: i64, cursor: &mut Cursor) -> Option<i64> {
        loop {
            let span = self.spans.get(cursor.0)?;
            let u = local - span.off;
            if u < span.start {
                // Reached this span by leaving the previous one: `local` is in the gap
                // between them (clocks sprang forward). Before the table: unknown.
                return (cursor.0 > 0).then_some(span.start);
            }
            let end = self.end_of(cursor.0);
            if u < end {
                return Some(u);
            }
            if end >= TABLE_END {
                return None;
            }
            cursor.0 += 1;
        }
    }

    /// Whether the offset at `utc` (just converted along `cursor`) holds until `until`.
    pub(crate) fn steady(&self, cursor: &Cursor, utc: i64, until: i64) -> bool {
        self.spans
            .get(cursor.0)
            .is_some_and(|s| s.start <= utc && until < self.end_of(cursor.0))
    }
}

/// Position in a [`ZoneTable`]; only moves forward.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor(usize);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::LocalResult;

    /// The chrono-tz answer for the first-instant rule.
    fn reference(tz: Tz, local: i64) -> i64 {
        let naive = DateTime::from_timestamp(local, 0)
            .expect("in range")
            .naive_utc();
        match tz.offset_from_local_datetime(&naive) {
            LocalResult::Single(o) => local - i64::from(o.fix().local_minus_utc()),
            LocalResult::Ambiguous(a, b) => (local - i64::from(a.fix().local_minus_utc()))
                .min(local - i64::from(b.fix().local_minus_utc())),
            LocalResult::None => chrono_tz::GapInfo::new(&naive, &tz)
                .and_then(|g| g.end)
                .expect("gap end")
                .timestamp(),
        }
    }

    #[test]
    fn table_conversions_agree_with_chrono_tz() {
        // Zones with DST, half-hour DST, changes at midnight, a skipped day (Apia,
        // 2011-12-30) and Ramadan suspensions (Casablanca).
        for name in [
            "America/New_York",
            "Europe/Berlin",
            "America/Santiago",
            "Australia/Lord_Howe",
            "Pacific/Apia",
            "Africa/Casablanca",
            "Asia/Tehran",
            "America/Havana",
            "Asia/Shanghai",
            "UTC",
            "Europe/London",
            "Pacific/Chatham",
        ] {
            let tz: Tz = name.parse().expect("zone");
            let table = table(tz);
            // Every 20 minutes of local time across several years, one cursor.
            let from = 1_293_840_000; // 2011-01-01
            let mut cursor = table.cursor(from);
            let mut local = from;
            while local < from + 8 * 365 * DAY {
                let got = table.to_utc(local, &mut cursor).expect("covered");
                assert_eq!(got, reference(tz, local), "{name} local {local}");
                assert_eq!(table.offset(got), Some(offset_at(tz, got)), "{name} {got}");
                local += 20 * 60;
            }
        }
    }

    #[test]
    fn outside_the_table_is_none() {
        let table = table(chrono_tz::America::New_York);
        let mut c = table.cursor(TABLE_END + DAY);
        assert_eq!(table.to_utc(TABLE_END + DAY, &mut c), None);
        let mut c = table.cursor(-10 * DAY);
        assert_eq!(table.to_utc(-10 * DAY, &mut c), None);
        assert_eq!(table.offset(-1), None);
        assert!(table.spans.len() > 200, "{table:?}");
        assert_eq!(super::table(chrono_tz::UTC).spans.len(), 1);
    }
}
