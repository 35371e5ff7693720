//! The generic JSON source: a per-source mapping of JSON pointers (RFC 6901) turns one
//! payload into a [`v1::ContactSubmitted`].
//!
//! `external_id` and `body` are required: a payload without them is refused with an error
//! naming the field. The other fields are optional: absent (or `null`) leaves the field
//! empty, but a value of the wrong shape is refused. Strings, numbers and booleans are
//! taken as text; objects and arrays are not. `received_at` is RFC 3339 or Unix seconds
//! (a number or a string of digits) and defaults to the moment the adapter received the
//! payload. `customer_account` is prefixed with the source name (`weibo:12345`) so
//! accounts of different platforms never meet. `customer_handle` is the sender's handle
//! on the source's social platform (`platform`, by default the source name): it becomes
//! the customer's social handle `{platform: handle}`, which links every contact from
//! that handle to one customer.

use ombuds_proto::v1;
use serde_json::Value;

use crate::error::FieldError;

/// A checked JSON pointer: empty (the whole document) or starting with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(String);

impl Pointer {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.starts_with('/') {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not a JSON pointer: it must start with '/' (e.g. \"/{text}\")"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where each contact field is in a source's payloads.
#[derive(Debug, Clone)]
pub struct JsonMapping {
    pub external_id: Pointer,
    pub body: Pointer,
    pub subject: Option<Pointer>,
    pub received_at: Option<Pointer>,
    pub customer_name: Option<Pointer>,
    pub customer_phone: Option<Pointer>,
    pub customer_email: Option<Pointer>,
    pub customer_account: Option<Pointer>,
    pub customer_handle: Option<Pointer>,
    /// The social platform `customer_handle` belongs to.
    pub platform: String,
    pub kind: Option<Pointer>,
    pub category: Option<Pointer>,
}

/// Longest text taken from one field (intake enforces its own, smaller limits).
const MAX_FIELD_CHARS: usize = 64 * 1024;

impl JsonMapping {
    /// Maps one payload. `now_ms` is used when the payload carries no time.
    pub fn map(
        &self,
        source: &str,
        payload: &Value,
        now_ms: i64,
    ) -> Result<v1::ContactSubmitted, FieldError> {
        let external_id = required(payload, "external_id", &self.external_id)?;
        let body = required(payload, "body", &self.body)?;
        let text = |field: &str, p: &Option<Pointer>| -> Result<String, FieldError> {
            match p {
                Some(p) => Ok(optional(payload, field, p)?.unwrap_or_default()),
                None => Ok(String::new()),
            }
        };
        let received_ms = match &self.received_at {
            Some(p) => match payload.pointer(p.as_str()) {
                None | Some(Value::Null) => now_ms,
                Some(v) => parse_time(v).map_err(|m| FieldError::new("received_at", m))?,
            },
            None => now_ms,
        };
        let account = text("customer_account", &self.customer_account)?;
        let handle = text("customer_handle", &self.customer_handle)?;
        let social = if handle.trim().is_empty() {
            Default::default()
        } else {
            [(self.platform.clone(), handle)].into()
        };
        Ok(v1::ContactSubmitted {
            // Prefixed with the source, so two sources on one channel never share an id.
            external_id: format!("{source}:{external_id}"),
            received_at: Some(ombuds_platform::time::to_timestamp(received_ms)),
            customer: Some(v1::CustomerDetails {
                name: text("customer_name", &self.customer_name)?,
                phone: text("customer_phone", &self.customer_phone)?,
                email: text("customer_email", &self.customer_email)?,
                account_id: if account.is_empty() {
                    account
                } else {
                    format!("{source}:{account}")
                },
                social,
                ..Default::default()
            }),
            subject: text("subject", &self.subject)?,
            body,
            kind: text("kind", &self.kind)?,
            category: text("category", &self.category)?,
            ..Default::default()
        })
    }
}

fn required(payload: &Value, field: &str, p: &Pointer) -> Result<String, FieldError> {
    match optional(payload, field, p)? {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(FieldError::new(
            field,
            format!("is empty at {:?}", p.as_str()),
        )),
        None => Err(FieldError::new(
            field,
            format!("is missing: nothing at {:?} in the payload", p.as_str()),
        )),
    }
}

fn optional(payload: &Value, field: &str, p: &Pointer) -> Result<Option<String>, FieldError> {
    let text = match payload.pointer(p.as_str()) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(_) => {
            return Err(FieldError::new(
                field,
                format!(
                    "at {:?} must be a string or a number, not an object or array",
                    p.as_str()
                ),
            ))
        }
    };
    if text.chars().count() > MAX_FIELD_CHARS {
        return Err(FieldError::new(
            field,
            format!("is longer than {MAX_FIELD_CHARS} characters"),
        ));
    }
    Ok(Some(text))
}

/// RFC 3339 text, or Unix seconds as a number or a string of digits, to milliseconds.
pub fn parse_time(v: &Value) -> Result<i64, String> {
    let secs_to_ms = |s: f64| -> Result<i64, String> {
        // Years 1970..=9999 only: anything else is a mistake, not a time.
        if s.is_finite() && (0.0..253_402_300_800.0).contains(&s) {
            Ok((s * 1000.0).round() as i64)
        } else {
            Err(format!("{s} is not a plausible Unix time in seconds"))
        }
    };
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(s) => secs_to_ms(s),
            None => Err(format!("{n} is not a Unix time in seconds")),
        },
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            match s.parse::<f64>() {
                Ok(secs) => secs_to_ms(secs),
                Err(e) => Err(format!("{s:?}: {e}")),
            }
        }
        Value::String(s) => ombuds_platform::time::parse_rfc3339(s)
            .map_err(|e| format!("{s:?} is neither RFC 3339 nor Unix seconds: {e}")),
        _ => Err("must be RFC 3339 text or Unix seconds".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn mapping() -> JsonMapping {
        let p = |s: &str| Pointer::parse(s).expect("pointer");
        JsonMapping {
            external_id: p("/id"),
            body: p("/text"),
            subject: Some(p("/title")),
            received_at: Some(p("/ts")),
            customer_name: Some(p("/user/name")),
            customer_phone: Some(p("/user/phone")),
            customer_email: None,
            customer_account: Some(p("/user/id")),
            customer_handle: Some(p("/user/handle")),
            platform: "weibo".into(),
            kind: Some(p("/type")),
            category: Some(p("/cat")),
        }
    }

    #[test]
    fn maps_the_fields() {
        let c = mapping()
            .map(
                "weibo",
                &json!({"id": 42, "text": "信号差", "ts": "2026-11-22T10:00:00+08:00",
                        "user": {"id": 7, "name": "张三", "phone": "13812345678", "handle": "@zhang3"}, "type": "complaint"}),
                0,
            )
            .expect("maps");
        assert_eq!(c.external_id, "weibo:42");
        assert_eq!(c.body, "信号差");
        let utc = ombuds_platform::time::parse_rfc3339("2026-11-22T02:00:00Z").expect("time");
        assert_eq!(c.received_at.map(|t| t.seconds * 1000), Some(utc));
        let cust = c.customer.expect("customer");
        assert_eq!(cust.account_id, "weibo:7");
        assert_eq!(cust.social["weibo"], "@zhang3", "intake normalises handles");
        assert_eq!(cust.name, "张三");
        assert_eq!(c.kind, "complaint");
        assert_eq!(c.category, "");
    }

    #[test]
    fn missing_and_misshapen_fields_are_named() {
        let e = mapping()
            .map("s", &json!({"text": "x"}), 0)
            .expect_err("no id");
        assert_eq!(e.field, "external_id");
        let e = mapping()
            .map("s", &json!({"id": "1"}), 0)
            .expect_err("no body");
        assert_eq!(e.field, "body");
        let e = mapping()
            .map(
                "s",
                &json!({"id": "1", "text": "x", "user": {"id": [1]}}),
                0,
            )
            .expect_err("array account");
        assert_eq!(e.field, "customer_account");
        let e = mapping()
            .map("s", &json!({"id": "1", "text": "x", "ts": "yesterday"}), 0)
            .expect_err("bad time");
        assert_eq!(e.field, "received_at");
    }

    #[test]
    fn times_in_seconds() {
        assert_eq!(parse_time(&json!(1_700_000_000)), Ok(1_700_000_000_000));
        assert_eq!(parse_time(&json!("1700000000")), Ok(1_700_000_000_000));
        assert!(parse_time(&json!(-5)).is_err());
        assert!(parse_time(&json!(1e300)).is_err());
        assert!(parse_time(&json!({})).is_err());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::hash_map(
                    prop_oneof![
                        Just("id".to_owned()),
                        Just("text".to_owned()),
                        Just("ts".to_owned()),
                        Just("user".to_owned()),
                        "[a-z]{1,4}"
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(v in arb_json()) {
            let _ = mapping().map("s", &v, 0);
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,200}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = mapping().map("s", &v, 0);
            }
            let _ = parse_time(&Value::String(s.clone()));
            let _ = Pointer::parse(&s);
        }
    }
}
