//! Message templates, as plain functions: a delivery's [`Content`] (which template, and
//! what it needs beyond the ticket number) gives a subject, a full bilingual (English
//! and Chinese) body for e-mail and a short form for SMS.
//!
//! The consumers decide *what* a message says when they create the delivery and store it
//! as JSON in `deliveries.params` ([`Content::to_params`]); the dispatcher renders it
//! ([`render`]) right before the send, in the time zone of [`RenderContext`]. So wording
//! changed between the event and the send is the wording the recipient sees, while the
//! facts (the reason, the new expected time, the result) are the ones of the event.
//!
//! | template | to | made from |
//! | --- | --- | --- |
//! | `acknowledgement` | customer | `complaint.received` |
//! | `delay` | customer | `sla.breached` of a customer-facing target |
//! | `staff_alert` | staff (`OMBUDS_NOTIFY_STAFF_EMAIL`) | `sla.warning`, `sla.breached` |
//! | `result` | customer | `complaint.resolved` |
//!
//! A staff alert names the ticket, the target, the deadline and the threshold, and never
//! anything about the customer.

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The acknowledgement every complaint gets: it carries the ticket number.
pub const ACKNOWLEDGEMENT: &str = "acknowledgement";
/// A promised time has passed: the customer is told why and the new expected time.
pub const DELAY: &str = "delay";
/// An SLA clock is at risk or breached: the staff are told.
pub const STAFF_ALERT: &str = "staff_alert";
/// The complaint is resolved: result, cause, measures, thanks, and a satisfaction question.
pub const RESULT: &str = "result";

/// Who a message is for, which decides where its address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The customer behind the complaint: the address is asked of intake at send time.
    Customer,
    /// The staff address of the configuration (`OMBUDS_NOTIFY_STAFF_EMAIL`).
    Staff,
}

/// What one delivery says: the template and its facts. Stored as JSON (tagged by
/// `template`) in `deliveries.params`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Content {
    Acknowledgement,
    Delay(Delay),
    StaffAlert(StaffAlert),
    Result(ResultFeedback),
}

/// The facts of a delay notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delay {
    /// The SLA target that was missed (`resolution`, `initial_result`, `first_response`).
    pub target: String,
    /// Why, in English and in Chinese (a default per target until agents can give one).
    pub reason_en: String,
    pub reason_zh: String,
    /// The new expected time (ms since the epoch): for now an estimate, the breach time
    /// plus `OMBUDS_NOTIFY_DELAY_EXTENSION`.
    pub expected_at: i64,
}

/// The facts of a staff alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffAlert {
    pub clock_id: String,
    pub target: String,
    /// The clock's deadline (ms since the epoch), if the event gave one.
    pub deadline: Option<i64>,
    /// The share of the allowed time used: the warning's threshold, or 100 for a breach.
    pub threshold_percent: u32,
    /// Set for a breach: when the watchdog declared it.
    pub breached_at: Option<i64>,
}

/// The facts of a result message, as intake published them (free text already redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultFeedback {
    pub result: String,
    pub cause: String,
    pub measures: String,
}

/// A delivery whose template or stored facts this build cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A template this build does not know (a row written by a newer version, say).
    #[error("unknown template {0:?}")]
    Unknown(String),
    /// The stored facts do not fit the template.
    #[error("template {template:?}: unreadable parameters: {message}")]
    Params { template: String, message: String },
}

impl Content {
    /// The template's name, as stored in `deliveries.template`.
    pub fn template(&self) -> &'static str {
        match self {
            Content::Acknowledgement => ACKNOWLEDGEMENT,
            Content::Delay(_) => DELAY,
            Content::StaffAlert(_) => STAFF_ALERT,
            Content::Result(_) => RESULT,
        }
    }

    pub fn audience(&self) -> Audience {
        match self {
            Content::StaffAlert(_) => Audience::Staff,
            _ => Audience::Customer,
        }
    }

    /// The JSON stored in `deliveries.params`.
    pub fn to_params(&self) -> String {
        // Serialising plain strings and integers cannot fail; an empty object is the
        // fallback all the same, and reads back as an error naming the template.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Reads a stored delivery's content. Rows from before parameters existed have none:
    /// only the acknowledgement can be one of those.
    pub fn from_row(template: &str, params: Option<&str>) -> Result<Self, TemplateError> {
        if ![ACKNOWLEDGEMENT, DELAY, STAFF_ALERT, RESULT].contains(&template) {
            return Err(TemplateError::Unknown(template.to_owned()));
        }
        let bad = |message: String| TemplateError::Params {
            template: template.to_owned(),
            message,
        };
        let content = match params.map(str::trim).filter(|p| !p.is_empty()) {
            None if template == ACKNOWLEDGEMENT => Content::Acknowledgement,
            None => return Err(bad("none stored".into())),
            Some(p) => serde_json::from_str::<Content>(p).map_err(|e| bad(e.to_string()))?,
        };
        if content.template() != template {
            return Err(bad(format!(
                "they are for template {:?}",
                content.template()
            )));
        }
        Ok(content)
    }
}

/// How messages are rendered: `OMBUDS_NOTIFY_TIMEZONE`, the time zone times are shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderContext {
    pub time_zone: Tz,
}

impl Default for RenderContext {
    fn default() -> Self {
        Self {
            time_zone: chrono_tz::Asia::Shanghai,
        }
    }
}

/// A rendered message, before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    /// The full body (e-mail).
    pub body: String,
    /// The short form for SMS.
    pub short: String,
}

/// Renders `content` for the complaint with `ticket_no`.
pub fn render(content: &Content, ticket_no: &str, ctx: &RenderContext) -> Rendered {
    match content {
        Content::Acknowledgement => acknowledgement(ticket_no),
        Content::Delay(d) => delay(ticket_no, d, ctx),
        Content::StaffAlert(a) => staff_alert(ticket_no, a, ctx),
        Content::Result(r) => result(ticket_no, r),
    }
}

/// The reason a delay notice gives for `target` while events carry none: English, Chinese.
pub fn default_delay_reason(target: &str) -> (&'static str, &'static str) {
    match target {
        "first_response" => (
            "we need more time to review your complaint",
            "我们需要更多时间审阅您的投诉",
        ),
        _ => ("the investigation needs more time", "处理需要更多时间"),
    }
}

/// `2026-11-23 18:05 (UTC+08:00)`: an instant in `tz` to the minute, rounded up so a
/// promised time is never shown earlier than it is.
pub fn local_time(ms: i64, tz: Tz) -> String {
    let up = ms.div_euclid(60_000) + i64::from(ms.rem_euclid(60_000) != 0);
    match Utc.timestamp_millis_opt(up.saturating_mul(60_000)).single() {
        Some(t) => t
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M (UTC%:z)")
            .to_string(),
        None => "(unknown time)".to_owned(),
    }
}

/// "We received your complaint": the subject and body name the ticket number, so the
/// customer can cite it on any channel.
pub fn acknowledgement(ticket_no: &str) -> Rendered {
    Rendered {
        subject: format!("We received your complaint — ticket {ticket_no}"),
        body: format!(
            "Thank you for contacting us. We have received your complaint and recorded it \
             under ticket number {ticket_no}. Please quote this number whenever you contact \
             us about it; we will keep you informed of its progress.\n\
             \n\
             我们已收到您的投诉，工单号 {ticket_no}。再次联系我们时请提供此工单号，我们会及时告知您处理进展。\n"
        ),
        short: format!(
            "We received your complaint, ticket {ticket_no}. 我们已收到您的投诉，工单号 {ticket_no}。"
        ),
    }
}

/// "Your complaint is taking longer than we promised": why, and by when we now expect
/// to answer (DESIGN.md: "if late, tell the user why and the expected time").
pub fn delay(ticket_no: &str, d: &Delay, ctx: &RenderContext) -> Rendered {
    let when = local_time(d.expected_at, ctx.time_zone);
    let (reason_en, reason_zh) = (d.reason_en.trim_end_matches('.'), d.reason_zh.as_str());
    Rendered {
        subject: format!("Your complaint {ticket_no} is taking longer than we promised"),
        body: format!(
            "Your complaint {ticket_no} is taking longer than we promised.\n\
             Reason: {reason_en}.\n\
             We now expect to answer by {when}.\n\
             We are sorry for the wait. Please quote ticket number {ticket_no} whenever you \
             contact us about it.\n\
             \n\
             您的投诉（工单号 {ticket_no}）处理时间超出了我们的承诺。\n\
             原因：{reason_zh}。\n\
             我们预计在 {when} 前答复您。\n\
             抱歉让您久等。\n"
        ),
        short: format!(
            "Your complaint {ticket_no} is taking longer than we promised ({reason_en}); \
             we now expect to answer by {when}. 您的投诉 {ticket_no} 处理超时（{reason_zh}），\
             预计 {when} 前答复。"
        ),
    }
}

/// An SLA alert for the staff: ticket, target, deadline, threshold. Nothing about the
/// customer: the staff look the complaint up by its ticket number.
pub fn staff_alert(ticket_no: &str, a: &StaffAlert, ctx: &RenderContext) -> Rendered {
    let deadline = a
        .deadline
        .map_or_else(|| "not given".to_owned(), |d| local_time(d, ctx.time_zone));
    let target = &a.target;
    let pct = a.threshold_percent;
    let (subject, headline, headline_zh) = match a.breached_at {
        Some(at) => (
            format!("[SLA breached] {ticket_no}: {target}"),
            format!(
                "SLA breached: ticket {ticket_no} missed its {target} deadline (breached at {}).",
                local_time(at, ctx.time_zone)
            ),
            format!("SLA 已超时：工单 {ticket_no} 的 {target} 时限已过。"),
        ),
        None => (
            format!("[SLA warning {pct}%] {ticket_no}: {target}"),
            format!(
                "SLA warning: {pct}% of the time allowed for {target} on ticket {ticket_no} is used."
            ),
            format!("SLA 预警：工单 {ticket_no} 的 {target} 时限已用 {pct}%。"),
        ),
    };
    let body = format!(
        "{headline}\n\
         \n\
         Ticket: {ticket_no}\n\
         Target: {target}\n\
         Deadline: {deadline}\n\
         Threshold: {pct}%\n\
         Clock: {}\n\
         \n\
         {headline_zh}截止时间：{deadline}。\n",
        a.clock_id
    );
    Rendered {
        short: format!("{subject}, deadline {deadline}"),
        subject,
        body,
    }
}

/// The longest result text in an SMS.
const SHORT_RESULT_CHARS: usize = 60;

/// "Your complaint is resolved": the result, the cause and the improvement measures as
/// the agent recorded them, thanks, and the satisfaction question (1 to 5).
pub fn result(ticket_no: &str, r: &ResultFeedback) -> Rendered {
    let (result, cause, measures) = (r.result.trim(), r.cause.trim(), r.measures.trim());
    let mut en = format!("Your complaint {ticket_no} has been resolved.\n\n");
    let mut zh = format!("您的投诉（工单号 {ticket_no}）已处理完毕。\n");
    if !result.is_empty() {
        en.push_str(&format!("Result: {result}\n"));
        zh.push_str(&format!("处理结果：{result}\n"));
    }
    if !cause.is_empty() {
        en.push_str(&format!("Cause: {cause}\n"));
        zh.push_str(&format!("原因：{cause}\n"));
    }
    if !measures.is_empty() {
        en.push_str(&format!(
            "What we are doing so it does not happen again: {measures}\n"
        ));
        zh.push_str(&format!("改进措施：{measures}\n"));
    }
    en.push_str(&format!(
        "\nThank you for telling us about this: it helps us improve.\n\
         How satisfied are you with how we handled it? Please reply with a number from \
         1 (very unsatisfied) to 5 (very satisfied), quoting ticket number {ticket_no}.\n"
    ));
    zh.push_str(&format!(
        "感谢您的反馈，这有助于我们改进服务。\n\
         请回复 1（非常不满意）至 5（非常满意）的数字为本次处理评分，并注明工单号 {ticket_no}。\n"
    ));
    let short_result: String = if result.chars().count() > SHORT_RESULT_CHARS {
        let mut s: String = result.chars().take(SHORT_RESULT_CHARS).collect();
        s.push('…');
        s
    } else {
        result.to_owned()
    };
    let short_result = if short_result.is_empty() {
        String::new()
    } else {
        format!(": {short_result}")
    };
    Rendered {
        subject: format!("Your complaint {ticket_no} has been resolved"),
        body: format!("{en}\n{zh}"),
        short: format!(
            "Your complaint {ticket_no} is resolved{short_result}. Thank you! Rate us 1-5 by reply. \
             您的投诉 {ticket_no} 已处理完毕，感谢您的反馈！请回复 1-5 评分。"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHANGHAI: RenderContext = RenderContext {
        time_zone: chrono_tz::Asia::Shanghai,
    };

    fn ms(rfc3339: &str) -> i64 {
        ombuds_platform::time::parse_rfc3339(rfc3339).expect("RFC 3339")
    }

    #[test]
    fn acknowledgement_carries_the_ticket_number_in_both_languages() {
        let r = render(&Content::Acknowledgement, "TS-20261122-000001", &SHANGHAI);
        assert_eq!(
            r.subject,
            "We received your complaint — ticket TS-20261122-000001"
        );
        assert!(
            r.body.contains("ticket number TS-20261122-000001"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("我们已收到您的投诉，工单号 TS-20261122-000001"),
            "{}",
            r.body
        );
        assert!(r.short.contains("ticket TS-20261122-000001"), "{}", r.short);
        assert!(r.short.contains("工单号 TS-20261122-000001"), "{}", r.short);
    }

    #[test]
    fn delay_gives_the_reason_and_the_new_expected_time_in_the_zone() {
        let (reason_en, reason_zh) = default_delay_reason("resolution");
        let d = Content::Delay(Delay {
            target: "resolution".into(),
            reason_en: reason_en.into(),
            reason_zh: reason_zh.into(),
            expected_at: ms("2026-11-23T10:00:00Z"),
        });
        let r = render(&d, "TS-20261122-000007", &SHANGHAI);
        assert!(r.subject.contains("TS-20261122-000007"), "{}", r.subject);
        assert!(
            r.body.contains(
                "Your complaint TS-20261122-000007 is taking longer than we promised.\n\
                 Reason: the investigation needs more time.\n\
                 We now expect to answer by 2026-11-23 18:00 (UTC+08:00)."
            ),
            "{}",
            r.body
        );
        assert!(r.body.contains("原因：处理需要更多时间。"), "{}", r.body);
        assert!(
            r.body
                .contains("我们预计在 2026-11-23 18:00 (UTC+08:00) 前答复您"),
            "{}",
            r.body
        );
        assert!(r.short.contains("2026-11-23 18:00"), "{}", r.short);
        // Another zone, another wall-clock time (and its DST offset).
        let ny = RenderContext {
            time_zone: chrono_tz::America::New_York,
        };
        let r = render(&d, "TS-20261122-000007", &ny);
        assert!(
            r.body.contains("2026-11-23 05:00 (UTC-05:00)"),
            "{}",
            r.body
        );
    }

    #[test]
    fn local_times_round_up_to_the_minute() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            local_time(ms("2026-11-23T10:00:00Z"), tz),
            "2026-11-23 18:00 (UTC+08:00)"
        );
        assert_eq!(
            local_time(ms("2026-11-23T10:00:00.001Z"), tz),
            "2026-11-23 18:01 (UTC+08:00)"
        );
        assert_eq!(
            local_time(ms("2026-11-23T15:59:30Z"), tz),
            "2026-11-24 00:00 (UTC+08:00)"
        );
    }

    #[test]
    fn staff_alerts_name_ticket_target_deadline_and_threshold() {
        let warning = StaffAlert {
            clock_id: "clock-1".into(),
            target: "resolution".into(),
            deadline: Some(ms("2026-11-25T10:00:00Z")),
            threshold_percent: 80,
            breached_at: None,
        };
        let r = render(
            &Content::StaffAlert(warning.clone()),
            "TS-20261122-000008",
            &SHANGHAI,
        );
        assert_eq!(
            r.subject,
            "[SLA warning 80%] TS-20261122-000008: resolution"
        );
        for part in [
            "80% of the time allowed for resolution on ticket TS-20261122-000008",
            "Deadline: 2026-11-25 18:00 (UTC+08:00)",
            "Threshold: 80%",
        ] {
            assert!(r.body.contains(part), "{part}: {}", r.body);
        }
        let breach = StaffAlert {
            threshold_percent: 100,
            breached_at: Some(ms("2026-11-25T10:00:01Z")),
            ..warning
        };
        let r = render(
            &Content::StaffAlert(breach),
            "TS-20261122-000008",
            &SHANGHAI,
        );
        assert_eq!(r.subject, "[SLA breached] TS-20261122-000008: resolution");
        assert!(
            r.body.contains("missed its resolution deadline"),
            "{}",
            r.body
        );
    }

    #[test]
    fn result_carries_result_cause_measures_thanks_and_the_question() {
        let r = render(
            &Content::Result(ResultFeedback {
                result: "Refunded the double charge".into(),
                cause: "a billing retry".into(),
                measures: "retries are now idempotent".into(),
            }),
            "TS-20261122-000009",
            &SHANGHAI,
        );
        for part in [
            "Result: Refunded the double charge",
            "Cause: a billing retry",
            "retries are now idempotent",
            "Thank you",
            "1 (very unsatisfied) to 5 (very satisfied)",
            "处理结果：Refunded the double charge",
            "改进措施：retries are now idempotent",
        ] {
            assert!(r.body.contains(part), "{part}: {}", r.body);
        }
        // Lines without text are left out.
        let r = render(
            &Content::Result(ResultFeedback {
                result: "Fixed".into(),
                cause: String::new(),
                measures: " ".into(),
            }),
            "TS-1",
            &SHANGHAI,
        );
        assert!(!r.body.contains("Cause:"), "{}", r.body);
        assert!(!r.body.contains("改进措施"), "{}", r.body);
        assert!(r.short.contains("resolved: Fixed"), "{}", r.short);
    }

    #[test]
    fn content_round_trips_through_params_and_checks_the_template() {
        let contents = [
            Content::Acknowledgement,
            Content::Result(ResultFeedback {
                result: "r".into(),
                cause: "c".into(),
                measures: "m".into(),
            }),
            Content::StaffAlert(StaffAlert {
                clock_id: "k".into(),
                target: "resolution".into(),
                deadline: None,
                threshold_percent: 80,
                breached_at: None,
            }),
        ];
        for c in contents {
            let back = Content::from_row(c.template(), Some(&c.to_params())).expect("round trip");
            assert_eq!(back, c);
        }
        // Rows from before parameters existed are acknowledgements.
        assert_eq!(
            Content::from_row(ACKNOWLEDGEMENT, None),
            Ok(Content::Acknowledgement)
        );
        assert!(matches!(
            Content::from_row(DELAY, None),
            Err(TemplateError::Params { .. })
        ));
        assert!(matches!(
            Content::from_row(
                DELAY,
                Some(r#"{"template":"result","result":"","cause":"","measures":""}"#)
            ),
            Err(TemplateError::Params { .. })
        ));
        assert!(matches!(
            Content::from_row(DELAY, Some("not json")),
            Err(TemplateError::Params { .. })
        ));
    }

    #[test]
    fn unknown_templates_are_an_error() {
        assert_eq!(
            Content::from_row("no-such-template", None),
            Err(TemplateError::Unknown("no-such-template".into()))
        );
    }
}
