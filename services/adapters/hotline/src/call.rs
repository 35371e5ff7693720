//! Parse, don't validate: call events from the telephony system (JSON, one object or
//! an array) become [`CallEvent`]s, or a [`FieldError`] naming the field and the
//! problem. Each valid event turns into the protobuf `v1::CallEvent` published on
//! `telephony.call.<event>`, with the caller masked. Nothing here panics on any input.

use ombuds_platform::{pii, time};
use ombuds_proto::v1;
use serde_json::{Map, Value};

/// The longest call id, queue or agent accepted, in characters.
pub const MAX_SHORT: usize = 200;

/// The kinds of call event, as the telephony system names them.
pub const EVENTS: &[&str] = &["offered", "answered", "abandoned", "ended"];

/// A rejected input: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The JSON error body of the HTTP API: `{"field": …, "message": …}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"field": self.field, "message": self.message})
    }
}

/// A validated call event. `caller` is the plaintext number: it stays in memory and is
/// masked before anything leaves the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    pub call_id: String,
    /// One of [`EVENTS`].
    pub event: String,
    /// ms since the epoch.
    pub at: i64,
    pub queue: String,
    pub agent: String,
    pub rings: u32,
    pub wait_seconds: u32,
    pub talk_seconds: u32,
    pub caller: String,
}

impl CallEvent {
    /// `telephony.call.<event>`.
    pub fn subject(&self) -> String {
        format!("telephony.call.{}", self.event)
    }

    /// `<call_id>:<event>`: JetStream drops a repeat of the same event for a call.
    pub fn msg_id(&self) -> String {
        format!("{}:{}", self.call_id, self.event)
    }

    /// The protobuf event, with a fresh UUIDv7 id and the caller masked.
    pub fn to_proto(&self) -> v1::CallEvent {
        v1::CallEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            call_id: self.call_id.clone(),
            event: self.event.clone(),
            at: Some(time::to_timestamp(self.at)),
            queue: self.queue.clone(),
            agent: self.agent.clone(),
            rings: self.rings,
            wait_seconds: self.wait_seconds,
            talk_seconds: self.talk_seconds,
            caller_masked: pii::mask_phone(&self.caller),
            ticket_no: String::new(),
        }
    }
}

/// One event of a batch: its JSON (kept for dead letters) and what it parsed into.
pub type Parsed = (Value, Result<CallEvent, FieldError>);

/// Splits a message into its events: one JSON object, or an array of them. The outer
/// error is for input that is not JSON at all (or too many events); the inner results
/// are per event, in order, with the event's JSON kept for dead letters.
pub fn parse_batch(bytes: &[u8], max_batch: usize) -> Result<Vec<Parsed>, FieldError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| FieldError::new("body", format!("not valid UTF-8: {e}")))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FieldError::new("body", format!("malformed JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(FieldError::new(
                    "body",
                    "an empty array holds no call events",
                ));
            }
            if items.len() > max_batch {
                return Err(FieldError::new(
                    "body",
                    format!(
                        "{} call events in one array; at most {max_batch} are accepted",
                        items.len()
                    ),
                ));
            }
            items
        }
        v @ Value::Object(_) => vec![v],
        _ => {
            return Err(FieldError::new(
                "body",
                "expected a call event object or an array of them",
            ))
        }
    };
    Ok(items
        .into_iter()
        .map(|v| {
            let parsed = parse_event(&v);
            (v, parsed)
        })
        .collect())
}

/// Parses one call event object.
pub fn parse_event(value: &Value) -> Result<CallEvent, FieldError> {
    let Value::Object(obj) = value else {
        return Err(FieldError::new(
            "event",
            "a call event must be a JSON object",
        ));
    };
    let call_id = required_str(obj, "call_id")?;
    if call_id.chars().count() > MAX_SHORT {
        return Err(FieldError::new(
            "call_id",
            format!("longer than {MAX_SHORT} characters"),
        ));
    }
    if call_id.chars().any(|c| c.is_control()) {
        return Err(FieldError::new("call_id", "contains control characters"));
    }
    let event = required_str(obj, "event")?.to_ascii_lowercase();
    if !EVENTS.contains(&event.as_str()) {
        return Err(FieldError::new(
            "event",
            format!(
                "unknown event {event:?}; expected one of {}",
                EVENTS.join(", ")
            ),
        ));
    }
    let at_text = required_str(obj, "at")?;
    let at = time::parse_rfc3339(&at_text)
        .map_err(|e| FieldError::new("at", format!("{at_text:?} is not an RFC 3339 time: {e}")))?;
    let queue = optional_str(obj, "queue")?;
    let agent = optional_str(obj, "agent")?;
    let rings = optional_u32(obj, "rings")?;
    let wait_seconds = optional_u32(obj, "wait_seconds")?;
    let talk_seconds = optional_u32(obj, "talk_seconds")?;
    let caller = parse_caller(&optional_str(obj, "caller")?)?;
    Ok(CallEvent {
        call_id,
        event,
        at,
        queue,
        agent,
        rings,
        wait_seconds,
        talk_seconds,
        caller,
    })
}

fn required_str(obj: &Map<String, Value>, field: &str) -> Result<String, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(FieldError::new(field, "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(FieldError::new(field, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        // Telephony systems often number their calls.
        Some(Value::Number(n)) if field == "call_id" => Ok(n.to_string()),
        Some(_) => Err(FieldError::new(field, "must be a string")),
    }
}

fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<String, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > MAX_SHORT {
                return Err(FieldError::new(
                    field,
                    format!("longer than {MAX_SHORT} characters"),
                ));
            }
            Ok(s.to_owned())
        }
        Some(Value::Number(n)) if field != "caller" => Ok(n.to_string()),
        Some(_) => Err(FieldError::new(field, "must be a string")),
    }
}

fn optional_u32(obj: &Map<String, Value>, field: &str) -> Result<u32, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("{n} is not a whole number between 0 and {}", u32::MAX),
                )
            }),
        Some(_) => Err(FieldError::new(field, "must be a whole number")),
    }
}

/// A caller's number: digits with an optional leading `+`, spaces, dashes, dots and
/// parentheses allowed as separators. Empty means the caller withheld the number.
pub fn parse_caller(text: &str) -> Result<String, FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 => out.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(FieldError::new(
                    "caller",
                    "is not a phone number (digits, an optional leading +, and separators)",
                ))
            }
        }
    }
    let digits = out.chars().filter(char::is_ascii_digit).count();
    if !(3..=20).contains(&digits) {
        return Err(FieldError::new(
            "caller",
            format!("a phone number has 3 to 20 digits, this one has {digits}"),
        ));
    }
    Ok(out)
}

/// The event's JSON with the caller's number masked: what a dead letter may hold.
pub fn masked_json(value: &Value) -> Value {
    let mut v = value.clone();
    if let Value::Object(obj) = &mut v {
        if let Some(caller) = obj.get_mut("caller") {
            let masked = match &*caller {
                Value::String(s) => pii::mask_phone(s),
                Value::Null => return v,
                other => pii::redact_text(&other.to_string()),
            };
            *caller = Value::String(masked);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"call_id": "c-1", "event": "answered", "at": "2026-11-22T10:00:00Z",
               "queue": "billing", "agent": "a7", "rings": 2, "wait_seconds": 14,
               "caller": "+86 138-1234-5678"})
    }

    #[test]
    fn a_good_event_parses_and_masks_the_caller() {
        let ev = parse_event(&good()).expect("valid");
        assert_eq!(ev.subject(), "telephony.call.answered");
        assert_eq!(ev.msg_id(), "c-1:answered");
        assert_eq!(ev.caller, "+8613812345678");
        let p = ev.to_proto();
        assert!(!p.caller_masked.contains("12345678"), "{}", p.caller_masked);
        assert_eq!(p.rings, 2);
        assert_eq!(p.wait_seconds, 14);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "call_id",
                json!({"event": "offered", "at": "2026-11-22T10:00:00Z"}),
            ),
            (
                "event",
                json!({"call_id": "x", "event": "ringing", "at": "2026-11-22T10:00:00Z"}),
            ),
            (
                "at",
                json!({"call_id": "x", "event": "offered", "at": "yesterday"}),
            ),
            (
                "rings",
                json!({"call_id": "x", "event": "offered", "at": "2026-11-22T10:00:00Z", "rings": -1}),
            ),
            (
                "wait_seconds",
                json!({"call_id": "x", "event": "offered", "at": "2026-11-22T10:00:00Z", "wait_seconds": "9"}),
            ),
            (
                "caller",
                json!({"call_id": "x", "event": "offered", "at": "2026-11-22T10:00:00Z", "caller": "call me"}),
            ),
        ];
        for (field, v) in cases {
            let err = parse_event(&v).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn batches_keep_good_events_beside_bad_ones() {
        let body = json!([good(), {"event": "offered"}]).to_string();
        let out = parse_batch(body.as_bytes(), 10).expect("json");
        assert!(out[0].1.is_ok());
        assert_eq!(out[1].1.as_ref().expect_err("bad").field, "call_id");
        assert!(parse_batch(b"[]", 10).is_err());
        assert!(parse_batch(b"42", 10).is_err());
        assert!(parse_batch(&[0xff, 0xfe], 10).is_err());
        let many = Value::Array(vec![good(); 11]).to_string();
        assert!(parse_batch(many.as_bytes(), 10).is_err());
    }

    #[test]
    fn dead_letters_hold_no_plaintext_number() {
        let masked = masked_json(&good()).to_string();
        assert!(!masked.contains("1234-5678"), "{masked}");
        assert!(!masked.contains("12345678"), "{masked}");
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse_batch(&bytes, 100);
            }

            #[test]
            fn arbitrary_strings_never_panic(s in ".{0,300}") {
                let _ = parse_batch(s.as_bytes(), 100);
                let _ = parse_caller(&s);
            }

            #[test]
            fn arbitrary_field_values_never_panic(
                call_id in ".{0,40}", event in ".{0,12}", at in ".{0,40}",
                rings in any::<i64>(), caller in ".{0,30}", wait in any::<f64>(),
            ) {
                let v = serde_json::json!({"call_id": call_id, "event": event, "at": at,
                    "rings": rings, "caller": caller, "wait_seconds": wait});
                if let Ok(ev) = parse_event(&v) {
                    let p = ev.to_proto();
                    prop_assert!(EVENTS.contains(&p.event.as_str()));
                }
                let _ = masked_json(&v);
            }

            #[test]
            fn arbitrary_json_never_panics(v in arb_json()) {
                let _ = parse_event(&v);
                let _ = parse_batch(v.to_string().as_bytes(), 100);
                let _ = masked_json(&v);
            }
        }

        fn arb_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| Value::Number(n.into())),
                ".{0,20}".prop_map(Value::String),
            ];
            leaf.prop_recursive(3, 32, 8, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::hash_map(
                        prop_oneof![
                            Just("call_id".to_owned()),
                            Just("event".to_owned()),
                            Just("at".to_owned()),
                            Just("caller".to_owned()),
                            Just("rings".to_owned()),
                            ".{0,8}"
                        ],
                        inner,
                        0..8,
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }
    }
}
