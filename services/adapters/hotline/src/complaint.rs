//! A complaint recorded by the agent who answered a call: the JSON body of
//! `POST /v1/calls/{call_id}/complaint` (the intake contact JSON of DESIGN.md, "The
//! public HTTP contract of intake", without `external_id`, which is the call id) becomes
//! a `v1::ContactSubmitted` for `intake.hotline`. Intake does the full validation; this
//! checks the shape and names the field at fault.

use ombuds_platform::time;
use ombuds_proto::v1;
use serde::Deserialize;

use crate::answered::Answered;
use crate::call::{parse_caller, FieldError, MAX_SHORT};

/// The longest description accepted, in characters (intake's limit).
pub const MAX_BODY_CHARS: usize = 20_000;

#[derive(Debug, Default, Deserialize)]
struct ComplaintJson {
    external_id: Option<String>,
    received_at: Option<String>,
    customer: Option<CustomerJson>,
    subject: Option<String>,
    body: Option<String>,
    kind: Option<String>,
    category: Option<String>,
    reference: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CustomerJson {
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    account_id: Option<String>,
}

/// Builds the contact for `call_id`. `answered` is what the adapter saw of the call:
/// its answer time becomes `received_at` (else the body's `received_at`, else now) and
/// its caller the customer's phone when the agent gave none.
pub fn parse_complaint(
    call_id: &str,
    bytes: &[u8],
    answered: Option<&Answered>,
) -> Result<v1::ContactSubmitted, FieldError> {
    let call_id = call_id.trim();
    if call_id.is_empty() {
        return Err(FieldError::new("call_id", "must not be empty"));
    }
    if call_id.chars().count() > MAX_SHORT || call_id.chars().any(char::is_control) {
        return Err(FieldError::new(
            "call_id",
            format!("at most {MAX_SHORT} printable characters"),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| FieldError::new("body", format!("not valid UTF-8: {e}")))?;
    let json: ComplaintJson = serde_json::from_str(text).map_err(|e| {
        // serde names the offending key in its message ("unknown variant", "invalid type … at line").
        FieldError::new("body", format!("malformed contact JSON: {e}"))
    })?;
    if let Some(ext) = json.external_id.as_deref().map(str::trim) {
        if !ext.is_empty() && ext != call_id {
            return Err(FieldError::new(
                "external_id",
                "must be left out or equal the call id: a complaint is linked to its call",
            ));
        }
    }
    let body = json.body.unwrap_or_default().trim().to_owned();
    if body.is_empty() {
        return Err(FieldError::new("body", "the description must not be empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(FieldError::new(
            "body",
            format!("longer than {MAX_BODY_CHARS} characters"),
        ));
    }
    let given_at = match json.received_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(time::parse_rfc3339(t).map_err(|e| {
            FieldError::new("received_at", format!("{t:?} is not an RFC 3339 time: {e}"))
        })?),
    };
    let received_at = answered
        .map(|a| a.at)
        .or(given_at)
        .unwrap_or_else(time::now_ms);
    let c = json.customer.unwrap_or_default();
    let mut phone = match c.phone.as_deref().map(str::trim) {
        None | Some("") => String::new(),
        Some(p) => parse_caller(p).map_err(|e| FieldError::new("customer.phone", e.message))?,
    };
    if phone.is_empty() {
        if let Some(a) = answered {
            phone = a.caller.clone();
        }
    }
    let customer = v1::CustomerDetails {
        name: short("customer.name", c.name)?,
        phone,
        email: short("customer.email", c.email)?,
        account_id: short("customer.account_id", c.account_id)?,
        ..Default::default()
    };
    Ok(v1::ContactSubmitted {
        external_id: call_id.to_owned(),
        received_at: Some(time::to_timestamp(received_at)),
        customer: Some(customer),
        subject: short("subject", json.subject)?,
        body,
        kind: short("kind", json.kind)?.to_ascii_lowercase(),
        category: short("category", json.category)?,
        reference: short("reference", json.reference)?,
        ..Default::default()
    })
}

fn short(field: &str, value: Option<String>) -> Result<String, FieldError> {
    let v = value.unwrap_or_default().trim().to_owned();
    if v.chars().count() > MAX_SHORT {
        return Err(FieldError::new(
            field,
            format!("longer than {MAX_SHORT} characters"),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_answer_time_and_caller_fill_in() {
        let a = Answered {
            at: 1_700_000_000_000,
            caller: "13812345678".into(),
        };
        let c = parse_complaint("call-9", br#"{"body": "line dropped twice"}"#, Some(&a))
            .expect("valid");
        assert_eq!(c.external_id, "call-9");
        assert_eq!(
            c.received_at.as_ref().map(time::from_timestamp),
            Some(1_700_000_000_000)
        );
        assert_eq!(c.customer.expect("customer").phone, "13812345678");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&str, &[u8]); 5] = [
            ("body", br#"{"subject": "x"}"#),
            ("body", b"not json"),
            ("external_id", br#"{"external_id": "other", "body": "x"}"#),
            ("received_at", br#"{"received_at": "soon", "body": "x"}"#),
            (
                "customer.phone",
                br#"{"customer": {"phone": "abc"}, "body": "x"}"#,
            ),
        ];
        for (field, body) in cases {
            let err = parse_complaint("c", body, None).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
        assert_eq!(
            parse_complaint(" ", b"{}", None).expect_err("empty").field,
            "call_id"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(id in ".{0,20}", bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_complaint(&id, &bytes, None);
        }
    }
}
