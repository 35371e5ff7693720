//! Turning gRPC answers into what the operator reads: aligned text (labels and
//! tables) or JSON (`--json`). Pure functions of the answer and, where a deadline is
//! shown relative to now, of the current time, so every one is unit-tested.
//!
//! Timestamps arrive as `google.protobuf.Timestamp` and are shown in RFC 3339 (UTC);
//! an absent timestamp is `-` in text and `null` in JSON. Personal data is shown
//! only in the masked forms intake hands out.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use ombuds_proto::v1;
use prost_types::Timestamp;
use serde_json::{json, Value};

/// Shown for an empty field.
const NONE: &str = "-";

/// A timestamp as a UTC date-time, if it is one chrono can represent.
pub fn to_datetime(ts: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    DateTime::from_timestamp(ts.seconds, nanos)
}

/// RFC 3339 in UTC (`2026-11-22T08:30:00Z`, fractions only when present), `-` when absent.
pub fn fmt_ts(ts: Option<&Timestamp>) -> String {
    match ts {
        None => NONE.to_owned(),
        Some(ts) => match to_datetime(ts) {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            None => format!("invalid timestamp ({}s {}ns)", ts.seconds, ts.nanos),
        },
    }
}

/// The JSON form of a timestamp: an RFC 3339 string or `null`.
pub fn ts_json(ts: Option<&Timestamp>) -> Value {
    match ts.and_then(to_datetime) {
        Some(dt) => Value::String(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => Value::Null,
    }
}

/// A duration in milliseconds for people: `850ms`, `12.3s`, `4m 05s`, `2h 03m`, `3d 04h`.
pub fn fmt_duration_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    let body = if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{}.{}s", s, (ms % 1000) / 100)
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600)
    };
    format!("{sign}{body}")
}

/// How far `when` is from `now`: `in 2h 03m`, `5m 00s ago`, `now`.
pub fn fmt_relative(when: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let ms = (when - now).num_milliseconds();
    if ms.abs() < 1000 {
        "now".to_owned()
    } else if ms > 0 {
        format!("in {}", fmt_duration_ms(ms))
    } else {
        format!("{} ago", fmt_duration_ms(-ms))
    }
}

/// A deadline with, while its clock runs, how long is left (or how late it is).
fn fmt_deadline(deadline: Option<&Timestamp>, state: &str, now: DateTime<Utc>) -> String {
    let text = fmt_ts(deadline);
    match deadline.and_then(to_datetime) {
        Some(dt) if state == "running" => format!("{text} ({})", fmt_relative(dt, now)),
        _ => text,
    }
}

fn or_none(s: &str) -> &str {
    if s.trim().is_empty() {
        NONE
    } else {
        s
    }
}

fn priority(p: i32) -> String {
    if p == 0 {
        NONE.to_owned()
    } else {
        p.to_string()
    }
}

/// Left-aligned columns separated by two spaces, headers first; no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            let pad = widths.get(i).copied().unwrap_or(0);
            out.extend(std::iter::repeat_n(
                ' ',
                pad.saturating_sub(cell.chars().count()),
            ));
        }
        out.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// `label  value` lines with the values aligned.
fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(format!("{k:<width$}  {v}").trim_end());
        out.push('\n');
    }
    out
}

/// Counts, largest first, then by name.
pub fn sorted_counts(map: &HashMap<String, u64>) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = map.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v
}

/// The masked customer as one line: `A*** · 138****5678 · a***@example.com (customer c-1)`.
pub fn fmt_customer(c: Option<&v1::CustomerRef>) -> String {
    let Some(c) = c else {
        return NONE.to_owned();
    };
    let parts: Vec<&str> = [&c.name_masked, &c.phone_masked, &c.email_masked]
        .into_iter()
        .map(String::as_str)
        .filter(|s| !s.trim().is_empty())
        .collect();
    let who = if parts.is_empty() {
        NONE.to_owned()
    } else {
        parts.join(" · ")
    };
    if c.customer_id.is_empty() {
        who
    } else {
        format!("{who} (customer {})", c.customer_id)
    }
}

fn customer_json(c: Option<&v1::CustomerRef>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "customer_id": c.customer_id,
            "name_masked": c.name_masked,
            "phone_masked": c.phone_masked,
            "email_masked": c.email_masked,
        }),
    }
}

// ---- submit ----

pub fn submit_text(r: &v1::SubmitResponse) -> String {
    if r.created {
        format!("{}\n", r.ticket_no)
    } else {
        format!("{} (already recorded)\n", r.ticket_no)
    }
}

pub fn submit_json(r: &v1::SubmitResponse) -> Value {
    json!({
        "ticket_no": r.ticket_no,
        "complaint_id": r.complaint_id,
        "status": r.status,
        "created": r.created,
    })
}

// ---- get ----

pub fn complaint_text(c: &v1::Complaint, now: DateTime<Utc>) -> String {
    let mut out = fields(&[
        ("ticket", or_none(&c.ticket_no).to_owned()),
        ("complaint id", or_none(&c.complaint_id).to_owned()),
        ("status", or_none(&c.status).to_owned()),
        ("channel", or_none(&c.channel).to_owned()),
        ("external id", or_none(&c.external_id).to_owned()),
        ("kind", or_none(&c.kind).to_owned()),
        ("category", or_none(&c.category).to_owned()),
        ("priority", priority(c.priority)),
        ("department", or_none(&c.department).to_owned()),
        ("assignee", or_none(&c.assignee).to_owned()),
        ("customer", fmt_customer(c.customer.as_ref())),
        ("received", fmt_ts(c.received_at.as_ref())),
        ("recorded", fmt_ts(c.recorded_at.as_ref())),
        ("entry lag", fmt_duration_ms(c.entry_lag_ms)),
        ("version", c.version.to_string()),
        ("subject", or_none(&c.subject).to_owned()),
    ]);
    out.push_str("\nSLA clocks:\n");
    if c.sla.is_empty() {
        out.push_str("  (none yet)\n");
    } else {
        let rows: Vec<Vec<String>> = c
            .sla
            .iter()
            .map(|s| {
                vec![
                    or_none(&s.target).to_owned(),
                    or_none(&s.state).to_owned(),
                    fmt_deadline(s.deadline.as_ref(), &s.state, now),
                ]
            })
            .collect();
        for line in table(&["TARGET", "STATE", "DEADLINE"], &rows).lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    if !c.body.trim().is_empty() {
        out.push_str("\nBody:\n");
        for line in c.body.lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

pub fn complaint_json(c: &v1::Complaint) -> Value {
    json!({
        "complaint_id": c.complaint_id,
        "ticket_no": c.ticket_no,
        "status": c.status,
        "channel": c.channel,
        "external_id": c.external_id,
        "kind": c.kind,
        "category": c.category,
        "priority": c.priority,
        "department": c.department,
        "assignee": c.assignee,
        "sla": c.sla.iter().map(|s| json!({
            "target": s.target,
            "deadline": ts_json(s.deadline.as_ref()),
            "state": s.state,
        })).collect::<Vec<_>>(),
        "customer": customer_json(c.customer.as_ref()),
        "subject": c.subject,
        "body": c.body,
        "received_at": ts_json(c.received_at.as_ref()),
        "recorded_at": ts_json(c.recorded_at.as_ref()),
        "entry_lag_ms": c.entry_lag_ms,
        "version": c.version,
    })
}

// ---- list ----

pub fn list_text(r: &v1::ListComplaintsResponse) -> String {
    if r.complaints.is_empty() {
        return "no complaints\n".to_owned();
    }
    let rows: Vec<Vec<String>> = r
        .complaints
        .iter()
        .map(|c| {
            vec![
                or_none(&c.ticket_no).to_owned(),
                or_none(&c.status).to_owned(),
                or_none(&c.channel).to_owned(),
                or_none(&c.kind).to_owned(),
                or_none(&c.category).to_owned(),
                priority(c.priority),
                or_none(&c.department).to_owned(),
                or_none(&c.assignee).to_owned(),
                fmt_ts(c.received_at.as_ref()),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "TICKET",
            "STATUS",
            "CHANNEL",
            "KIND",
            "CATEGORY",
            "PRI",
            "DEPARTMENT",
            "ASSIGNEE",
            "RECEIVED",
        ],
        &rows,
    );
    if !r.next_page_token.is_empty() {
        out.push_str(&format!(
            "\nnext page: --page-token {}\n",
            r.next_page_token
        ));
    }
    out
}

pub fn list_json(r: &v1::ListComplaintsResponse) -> Value {
    json!({
        "complaints": r.complaints.iter().map(complaint_json).collect::<Vec<_>>(),
        "next_page_token": r.next_page_token,
    })
}

// ---- stats ----

pub fn counts_text(c: &v1::Counts) -> String {
    let mut out = format!("complaints  {}\n", c.complaints);
    let tables = [
        ("CHANNEL", &c.by_channel),
        ("CATEGORY", &c.by_category),
        ("DEPARTMENT", &c.by_department),
        ("STATUS", &c.by_status),
    ];
    for (name, map) in tables {
        out.push('\n');
        if map.is_empty() {
            out.push_str(&format!("{name}  (none)\n"));
            continue;
        }
        let rows: Vec<Vec<String>> = sorted_counts(map)
            .into_iter()
            .map(|(k, n)| vec![or_none(k).to_owned(), n.to_string()])
            .collect();
        out.push_str(&table(&[name, "COUNT"], &rows));
    }
    out.push('\n');
    out.push_str(&fields(&[
        ("SLA clocks started", c.sla_started.to_string()),
        ("SLA clocks met", c.sla_met.to_string()),
        ("SLA clocks breached", c.sla_breached.to_string()),
        ("notifications sent", c.notifications_sent.to_string()),
        ("notifications failed", c.notifications_failed.to_string()),
    ]));
    out
}

pub fn counts_json(c: &v1::Counts) -> Value {
    let map = |m: &HashMap<String, u64>| -> Value {
        Value::Object(
            sorted_counts(m)
                .into_iter()
                .map(|(k, n)| (k.to_owned(), Value::from(n)))
                .collect(),
        )
    };
    json!({
        "complaints": c.complaints,
        "by_channel": map(&c.by_channel),
        "by_category": map(&c.by_category),
        "by_department": map(&c.by_department),
        "by_status": map(&c.by_status),
        "sla_started": c.sla_started,
        "sla_breached": c.sla_breached,
        "sla_met": c.sla_met,
        "notifications_sent": c.notifications_sent,
        "notifications_failed": c.notifications_failed,
    })
}

// ---- sla show ----

pub fn clocks_text(r: &v1::ListClocksResponse, now: DateTime<Utc>) -> String {
    if r.clocks.is_empty() {
        return "no SLA clocks\n".to_owned();
    }
    let rows: Vec<Vec<String>> = r
        .clocks
        .iter()
        .map(|k| {
            vec![
                or_none(&k.target).to_owned(),
                or_none(&k.state).to_owned(),
                or_none(&k.within).to_owned(),
                fmt_elapsed(k.elapsed_seconds, k.allowance_seconds, &k.calendar),
                fmt_ts(k.started_at.as_ref()),
                fmt_deadline(k.deadline.as_ref(), &k.state, now),
                fmt_ts(k.ended_at.as_ref()),
            ]
        })
        .collect();
    let mut out = String::new();
    if let Some(first) = r.clocks.first() {
        out.push_str(&format!(
            "ticket {}  complaint {}\n\n",
            or_none(&first.ticket_no),
            or_none(&first.complaint_id)
        ));
    }
    out.push_str(&table(
        &[
            "TARGET", "STATE", "WITHIN", "USED", "STARTED", "DEADLINE", "ENDED",
        ],
        &rows,
    ));
    for k in &r.clocks {
        if k.history.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n{} ({}):\n",
            or_none(&k.target),
            or_none(&k.policy)
        ));
        for h in &k.history {
            out.push_str(&format!(
                "  {}  {:<9} {}\n",
                fmt_ts(h.at.as_ref()),
                h.event,
                h.detail
            ));
        }
    }
    out
}

/// `2h05m of 72h00m (3%) on cn`: business time used against the allowance.
fn fmt_elapsed(used: i64, allowance: i64, calendar: &str) -> String {
    let hm = |s: i64| format!("{}h{:02}m", s / 3600, (s % 3600) / 60);
    if allowance <= 0 {
        return "-".to_owned();
    }
    format!(
        "{} of {} ({}%) on {}",
        hm(used.max(0)),
        hm(allowance),
        used.max(0) * 100 / allowance,
        or_none(calendar)
    )
}

pub fn clocks_json(r: &v1::ListClocksResponse) -> Value {
    json!({
        "clocks": r.clocks.iter().map(|k| json!({
            "clock_id": k.clock_id,
            "complaint_id": k.complaint_id,
            "ticket_no": k.ticket_no,
            "target": k.target,
            "policy": k.policy,
            "state": k.state,
            "started_at": ts_json(k.started_at.as_ref()),
            "deadline": ts_json(k.deadline.as_ref()),
            "ended_at": ts_json(k.ended_at.as_ref()),
            "within": k.within,
            "calendar": k.calendar,
            "elapsed_seconds": k.elapsed_seconds,
            "allowance_seconds": k.allowance_seconds,
            "warned_percent": k.warned_percent,
            "stops_on": k.stops_on,
            "history": k.history.iter().map(|h| json!({
                "at": ts_json(h.at.as_ref()),
                "event": h.event,
                "detail": h.detail,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

// ---- ping ----

/// One row per service: name, URL, and `ok` or why it could not be reached.
pub type PingResult = (&'static str, String, Result<(), crate::client::CtlError>);

pub fn ping_text(results: &[PingResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(service, url, r)| {
            let state = match r {
                Ok(()) => "ok".to_owned(),
                Err(crate::client::CtlError::Unreachable { cause, .. }) => {
                    format!("unreachable: {cause}")
                }
                Err(e) => e.to_string(),
            };
            vec![(*service).to_owned(), url.clone(), state]
        })
        .collect();
    table(&["SERVICE", "GRPC", "STATE"], &rows)
}

pub fn ping_json(results: &[PingResult]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|(service, url, r)| {
                json!({
                    "service": service,
                    "url": url,
                    "ok": r.is_ok(),
                    "error": r.as_ref().err().map(ToString::to_string),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    /// 2026-11-22T08:00:00Z
    const T0: i64 = 1_795_334_400;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(T0, 0).expect("valid")
    }

    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        assert_eq!(fmt_ts(Some(&ts(T0, 0))), "2026-11-22T08:00:00Z");
        assert_eq!(
            fmt_ts(Some(&ts(T0, 250_000_000))),
            "2026-11-22T08:00:00.250Z"
        );
        assert_eq!(fmt_ts(None), "-");
        assert_eq!(fmt_ts(Some(&ts(0, -1))), "invalid timestamp (0s -1ns)");
        assert_eq!(ts_json(Some(&ts(T0, 0))), json!("2026-11-22T08:00:00Z"));
        assert_eq!(ts_json(None), Value::Null);
        assert_eq!(ts_json(Some(&ts(i64::MAX, 0))), Value::Null);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(fmt_duration_ms(0), "0ms");
        assert_eq!(fmt_duration_ms(850), "850ms");
        assert_eq!(fmt_duration_ms(12_345), "12.3s");
        assert_eq!(fmt_duration_ms(245_000), "4m 05s");
        assert_eq!(fmt_duration_ms(2 * 3_600_000 + 3 * 60_000), "2h 03m");
        assert_eq!(fmt_duration_ms(3 * 86_400_000 + 4 * 3_600_000), "3d 04h");
        assert_eq!(fmt_duration_ms(-1500), "-1.5s");
        assert_eq!(fmt_duration_ms(i64::MIN), "-106751991167d 07h");
    }

    #[test]
    fn relative_times_say_in_or_ago() {
        let later = DateTime::from_timestamp(T0 + 7380, 0).expect("valid");
        let earlier = DateTime::from_timestamp(T0 - 300, 0).expect("valid");
        assert_eq!(fmt_relative(later, now()), "in 2h 03m");
        assert_eq!(fmt_relative(earlier, now()), "5m 00s ago");
        assert_eq!(fmt_relative(now(), now()), "now");
    }

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let t = table(
            &["A", "LONGER"],
            &[vec!["xxxx".into(), "1".into()], vec!["y".into(), "".into()]],
        );
        assert_eq!(t, "A     LONGER\nxxxx  1\ny\n");
        // Width counts characters, not bytes.
        let t = table(&["N", "X"], &[vec!["张*".into(), "1".into()]]);
        assert_eq!(t, "N   X\n张*  1\n");
    }

    #[test]
    fn counts_sort_largest_first_then_by_name() {
        let m: HashMap<String, u64> = [("b", 2), ("a", 2), ("c", 5)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(sorted_counts(&m), vec![("c", 5), ("a", 2), ("b", 2)]);
    }

    #[test]
    fn customer_shows_only_masked_forms() {
        let c = v1::CustomerRef {
            customer_id: "c-1".into(),
            name_masked: "A**".into(),
            phone_masked: "".into(),
            email_masked: "a***@example.com".into(),
        };
        assert_eq!(
            fmt_customer(Some(&c)),
            "A** · a***@example.com (customer c-1)"
        );
        assert_eq!(fmt_customer(None), "-");
        assert_eq!(fmt_customer(Some(&v1::CustomerRef::default())), "-");
    }

    #[test]
    fn submit_says_when_the_contact_was_already_recorded() {
        let mut r = v1::SubmitResponse {
            ticket_no: "TS-1".into(),
            complaint_id: "id".into(),
            status: "received".into(),
            created: true,
            ..Default::default()
        };
        assert_eq!(submit_text(&r), "TS-1\n");
        r.created = false;
        assert_eq!(submit_text(&r), "TS-1 (already recorded)\n");
        assert_eq!(submit_json(&r)["created"], json!(false));
    }

    fn complaint() -> v1::Complaint {
        v1::Complaint {
            complaint_id: "0193-abc".into(),
            ticket_no: "TS-20261122-0001".into(),
            status: "assigned".into(),
            channel: "web_form".into(),
            kind: "complaint".into(),
            category: "billing".into(),
            priority: 2,
            department: "billing".into(),
            assignee: "".into(),
            sla: vec![
                v1::SlaClockView {
                    target: "initial_result".into(),
                    deadline: Some(ts(T0 + 3 * 3600, 0)),
                    state: "running".into(),
                },
                v1::SlaClockView {
                    target: "acknowledgement".into(),
                    deadline: Some(ts(T0 - 60, 0)),
                    state: "met".into(),
                },
            ],
            external_id: "demo-1".into(),
            subject: "".into(),
            body: "My bill is wrong".into(),
            customer: Some(v1::CustomerRef {
                customer_id: "c-1".into(),
                name_masked: "D***".into(),
                phone_masked: "".into(),
                email_masked: "d***@example.com".into(),
            }),
            received_at: Some(ts(T0 - 120, 0)),
            recorded_at: Some(ts(T0 - 119, 500_000_000)),
            version: 3,
            entry_lag_ms: 1500,
            ..Default::default()
        }
    }

    #[test]
    fn complaint_text_shows_every_field_and_the_clocks() {
        let text = complaint_text(&complaint(), now());
        for want in [
            "ticket        TS-20261122-0001\n",
            "status        assigned\n",
            "priority      2\n",
            "assignee      -\n",
            "customer      D*** · d***@example.com (customer c-1)\n",
            "received      2026-11-22T07:58:00Z\n",
            "recorded      2026-11-22T07:58:01.500Z\n",
            "entry lag     1.5s\n",
            "  initial_result   running  2026-11-22T11:00:00Z (in 3h 00m)\n",
            "  acknowledgement  met      2026-11-22T07:59:00Z\n",
            "Body:\n  My bill is wrong\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(
            !text.lines().any(|l| l.ends_with(' ')),
            "trailing space in\n{text}"
        );
    }

    #[test]
    fn complaint_json_uses_rfc3339_and_nulls() {
        let mut c = complaint();
        c.recorded_at = None;
        let j = complaint_json(&c);
        assert_eq!(j["received_at"], json!("2026-11-22T07:58:00Z"));
        assert_eq!(j["recorded_at"], Value::Null);
        assert_eq!(j["sla"][0]["deadline"], json!("2026-11-22T11:00:00Z"));
        assert_eq!(j["customer"]["email_masked"], json!("d***@example.com"));
        assert_eq!(j["priority"], json!(2));
    }

    #[test]
    fn list_prints_a_table_and_the_next_page_token() {
        let r = v1::ListComplaintsResponse {
            complaints: vec![complaint()],
            next_page_token: "tok".into(),
        };
        let text = list_text(&r);
        let mut lines = text.lines();
        assert!(
            lines.next().is_some_and(|h| h.starts_with("TICKET  ")),
            "{text}"
        );
        assert!(
            lines
                .next()
                .is_some_and(|l| l.starts_with("TS-20261122-0001  assigned")),
            "{text}"
        );
        assert!(text.ends_with("next page: --page-token tok\n"), "{text}");
        assert_eq!(
            list_text(&v1::ListComplaintsResponse::default()),
            "no complaints\n"
        );
        assert_eq!(list_json(&r)["next_page_token"], json!("tok"));
    }

    #[test]
    fn counts_print_tables_and_counters() {
        let c = v1::Counts {
            complaints: 7,
            by_channel: [("email".to_owned(), 2), ("web_form".to_owned(), 5)].into(),
            by_status: [("received".to_owned(), 7)].into(),
            sla_started: 3,
            sla_breached: 1,
            sla_met: 2,
            notifications_sent: 4,
            notifications_failed: 0,
            ..Default::default()
        };
        let text = counts_text(&c);
        assert!(text.starts_with("complaints  7\n"), "{text}");
        assert!(
            text.contains("CHANNEL   COUNT\nweb_form  5\nemail     2\n"),
            "{text}"
        );
        assert!(text.contains("CATEGORY  (none)\n"), "{text}");
        assert!(text.contains("SLA clocks breached   1\n"), "{text}");
        assert!(text.contains("notifications failed  0\n"), "{text}");
        let j = counts_json(&c);
        assert_eq!(j["by_channel"]["web_form"], json!(5));
        assert_eq!(j["sla_met"], json!(2));
    }

    #[test]
    fn ping_shows_each_service_and_why_it_failed() {
        let results: Vec<PingResult> = vec![
            ("intake", "http://127.0.0.1:50051".into(), Ok(())),
            (
                "routing",
                "http://127.0.0.1:50052".into(),
                Err(crate::client::CtlError::Unreachable {
                    service: "routing",
                    url: "http://127.0.0.1:50052".into(),
                    cause: "connection refused".into(),
                }),
            ),
        ];
        assert_eq!(
            ping_text(&results),
            "SERVICE  GRPC                    STATE\n\
             intake   http://127.0.0.1:50051  ok\n\
             routing  http://127.0.0.1:50052  unreachable: connection refused\n"
        );
        let j = ping_json(&results);
        assert_eq!(j[0]["ok"], json!(true));
        assert_eq!(j[0]["error"], Value::Null);
        assert_eq!(j[1]["ok"], json!(false));
    }

    #[test]
    fn clocks_table_shows_state_and_deadlines() {
        let r = v1::ListClocksResponse {
            clocks: vec![v1::Clock {
                clock_id: "k-1".into(),
                complaint_id: "0193-abc".into(),
                ticket_no: "TS-20261122-0001".into(),
                target: "resolution".into(),
                policy: "mobile-operator".into(),
                state: "breached".into(),
                started_at: Some(ts(T0 - 3600, 0)),
                deadline: Some(ts(T0 - 60, 0)),
                ended_at: None,
                within: "1h".into(),
                calendar: "24x7".into(),
                elapsed_seconds: 3540,
                allowance_seconds: 3540,
                history: vec![v1::ClockEvent {
                    at: Some(ts(T0 - 60, 0)),
                    event: "breached".into(),
                    detail: "5ms after the deadline".into(),
                }],
                ..Default::default()
            }],
        };
        let text = clocks_text(&r, now());
        assert!(
            text.starts_with("ticket TS-20261122-0001  complaint 0193-abc\n\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "resolution  breached  1h      0h59m of 0h59m (100%) on 24x7  2026-11-22T07:00:00Z  2026-11-22T07:59:00Z  -\n"
            ),
            "{text}"
        );
        assert_eq!(
            clocks_text(&v1::ListClocksResponse::default(), now()),
            "no SLA clocks\n"
        );
        assert!(
            text.contains("resolution (mobile-operator):\n  2026-11-22T07:59:00Z  breached  5ms after the deadline\n"),
            "{text}"
        );
        assert_eq!(clocks_json(&r)["clocks"][0]["ended_at"], Value::Null);
        assert_eq!(
            clocks_json(&r)["clocks"][0]["history"][0]["event"],
            "breached"
        );
    }
}
