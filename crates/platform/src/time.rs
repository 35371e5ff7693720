//! Time helpers. Stores keep instants as milliseconds since the Unix epoch (UTC) in a
//! BIGINT, which reads the same on SQLite and PostgreSQL; APIs speak RFC 3339 and
//! `google.protobuf.Timestamp`.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use prost_types::Timestamp;

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn from_timestamp(ts: &Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos) / 1_000_000)
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T10:00:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => String::new(),
    }
}

pub fn parse_rfc3339(text: &str) -> Result<i64, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(from_timestamp(&to_timestamp(ms)), ms);
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_rfc3339("1970-01-01T08:00:00+08:00"), Ok(0));
    }
}
