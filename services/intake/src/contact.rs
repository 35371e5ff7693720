//! Parse, don't validate: a contact from any entry point (HTTP JSON, gRPC, a JetStream
//! message on `intake.<channel>`) becomes a [`NewContact`] or a [`FieldError`] that
//! names the field and the problem. Nothing invalid reaches the store.

use std::collections::BTreeMap;

use ombuds_platform::{events::CHANNELS, time};
use ombuds_proto::v1;
use serde::Deserialize;

/// The longest body accepted, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
const MAX_SHORT: usize = 500;

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
}

pub const KINDS: &[&str] = &["complaint", "inquiry", "suggestion", "praise"];

/// A validated contact, ready to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub channel: String,
    pub external_id: String,
    /// ms since the epoch; `None` means "now".
    pub received_at: Option<i64>,
    pub customer: Customer,
    pub subject: String,
    pub body: String,
    pub kind: String,
    pub category: String,
    pub reference: String,
    /// E-mail threading: the Message-IDs this contact answers (`In-Reply-To` first,
    /// then `References`), trimmed and without angle brackets; see
    /// [`crate::store::record`].
    pub thread_ids: Vec<String>,
    /// Classification ([`crate::taxonomy`]): lower-cased; checked against the
    /// taxonomy by [`crate::State::check`].
    pub sub_category: String,
    /// 1 (highest) to 4 (lowest); default 3.
    pub severity: u8,
    /// 1 (highest) to 4 (lowest); default 3.
    pub urgency: u8,
    pub tags: Vec<String>,
}

impl NewContact {
    /// Sets the classification the channel supplied, naming the field at fault.
    fn classify(
        mut self,
        sub_category: &str,
        severity: i64,
        urgency: i64,
        tags: &[String],
    ) -> Result<Self, FieldError> {
        let sub = sub_category.trim().to_ascii_lowercase();
        short("sub_category", &sub)?;
        self.sub_category = sub;
        self.severity =
            crate::taxonomy::level("severity", severity)?.unwrap_or(crate::taxonomy::DEFAULT_LEVEL);
        self.urgency =
            crate::taxonomy::level("urgency", urgency)?.unwrap_or(crate::taxonomy::DEFAULT_LEVEL);
        self.tags = crate::taxonomy::tags(tags)?;
        Ok(self)
    }
}

/// The most thread ids kept from `In-Reply-To` + `References`.
pub const MAX_THREAD_IDS: usize = 50;

/// The Message-IDs a contact answers, normalised (`<a@b>` and `a@b` are the same id),
/// de-duplicated and capped at [`MAX_THREAD_IDS`].
pub fn thread_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        for part in id.split_whitespace() {
            let v = part.trim().trim_start_matches('<').trim_end_matches('>');
            if v.is_empty() || v.chars().count() > MAX_SHORT || out.iter().any(|o| o == v) {
                continue;
            }
            if out.len() < MAX_THREAD_IDS {
                out.push(v.to_owned());
            }
        }
    }
    out
}

/// A customer's details, normalised: phone digits only (with `+` when international),
/// e-mail lower-cased, social handles by platform ([`normalise_social`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub account_id: String,
    /// Platform → handle, e.g. `wechat` → an OpenID.
    pub social: BTreeMap<String, String>,
    pub address: String,
}

impl Customer {
    /// The personal values that no pattern recognises in free text (name, address,
    /// account id, social handles), for [`ombuds_platform::pii::redact_known`].
    pub fn known_values(&self) -> Vec<&str> {
        let mut out = vec![
            self.name.as_str(),
            self.address.as_str(),
            self.account_id.as_str(),
        ];
        out.extend(self.social.values().map(String::as_str));
        out
    }
}

/// The JSON body of `POST /v1/contacts/{channel}` (DESIGN.md, "The public HTTP contract
/// of intake"), also accepted as a JSON message on `intake.<channel>`.
#[derive(Debug, Default, Deserialize)]
pub struct ContactJson {
    pub external_id: Option<String>,
    pub received_at: Option<String>,
    pub customer: Option<CustomerJson>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub kind: Option<String>,
    pub category: Option<String>,
    pub reference: Option<String>,
    /// E-mail threading: the Message-ID this answers.
    pub in_reply_to: Option<String>,
    /// E-mail threading: the References chain.
    pub references: Option<Vec<String>>,
    /// Classification: 1 (highest) to 4 (lowest).
    pub severity: Option<i64>,
    pub urgency: Option<i64>,
    pub sub_category: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CustomerJson {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub account_id: Option<String>,
    /// `{"wechat": "oAbC…", "weibo": "1234567"}`
    pub social: Option<BTreeMap<String, String>>,
    pub address: Option<String>,
}

/// Checks a channel name.
pub fn parse_channel(channel: &str) -> Result<String, FieldError> {
    let c = channel.trim().to_ascii_lowercase();
    if CHANNELS.contains(&c.as_str()) {
        Ok(c)
    } else {
        Err(FieldError::new(
            "channel",
            format!(
                "unknown channel {channel:?}; expected one of {}",
                CHANNELS.join(", ")
            ),
        ))
    }
}

impl ContactJson {
    /// Parses a JSON body, naming the problem when it is not the expected object.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, FieldError> {
        if std::str::from_utf8(bytes).is_err() {
            return Err(FieldError::new("body", "request body is not valid UTF-8"));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| FieldError::new("body", format!("malformed JSON: {e}")))
    }

    pub fn into_contact(self, channel: &str) -> Result<NewContact, FieldError> {
        let received_at = match self.received_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(time::parse_rfc3339(t).map_err(|e| {
                FieldError::new("received_at", format!("{t:?} is not an RFC 3339 time: {e}"))
            })?),
        };
        let c = self.customer.unwrap_or_default();
        let ids = thread_ids(
            self.in_reply_to
                .iter()
                .chain(self.references.iter().flatten())
                .map(String::as_str),
        );
        let mut contact = build(
            channel,
            self.external_id.unwrap_or_default(),
            received_at,
            RawCustomer {
                name: c.name.unwrap_or_default(),
                phone: c.phone.unwrap_or_default(),
                email: c.email.unwrap_or_default(),
                account_id: c.account_id.unwrap_or_default(),
                social: c.social.unwrap_or_default(),
                address: c.address.unwrap_or_default(),
            },
            self.subject.unwrap_or_default(),
            self.body.unwrap_or_default(),
            self.kind.unwrap_or_default(),
            self.category.unwrap_or_default(),
            self.reference.unwrap_or_default(),
        )?;
        contact.thread_ids = ids;
        contact.classify(
            self.sub_category.as_deref().unwrap_or_default(),
            self.severity.unwrap_or(0),
            self.urgency.unwrap_or(0),
            self.tags.as_deref().unwrap_or_default(),
        )
    }
}

/// Converts the protobuf form (gRPC `Submit`, JetStream `intake.<channel>`).
pub fn from_proto(channel: &str, c: v1::ContactSubmitted) -> Result<NewContact, FieldError> {
    let received_at = c.received_at.as_ref().map(time::from_timestamp);
    let cust = c.customer.unwrap_or_default();
    let ids = thread_ids(
        std::iter::once(c.in_reply_to.as_str()).chain(c.references.iter().map(String::as_str)),
    );
    let (sub, severity, urgency, tags) = (
        c.sub_category.clone(),
        i64::from(c.severity),
        i64::from(c.urgency),
        c.tags.clone(),
    );
    let mut contact = build(
        channel,
        c.external_id,
        received_at,
        RawCustomer {
            name: cust.name,
            phone: cust.phone,
            email: cust.email,
            account_id: cust.account_id,
            social: cust.social.into_iter().collect(),
            address: cust.address,
        },
        c.subject,
        c.body,
        c.kind,
        c.category,
        c.reference,
    )?;
    contact.thread_ids = ids;
    contact.classify(&sub, severity, urgency, &tags)
}

struct RawCustomer {
    name: String,
    phone: String,
    email: String,
    account_id: String,
    social: BTreeMap<String, String>,
    address: String,
}

#[allow(clippy::too_many_arguments)]
fn build(
    channel: &str,
    external_id: String,
    received_at: Option<i64>,
    customer: RawCustomer,
    subject: String,
    body: String,
    kind: String,
    category: String,
    reference: String,
) -> Result<NewContact, FieldError> {
    let channel = parse_channel(channel)?;
    let external_id = external_id.trim().to_owned();
    if external_id.is_empty() {
        return Err(FieldError::new(
            "external_id",
            "must not be empty: it is the channel's own id for this contact",
        ));
    }
    short("external_id", &external_id)?;
    let body = body.trim().to_owned();
    if body.is_empty() {
        return Err(FieldError::new("body", "the description must not be empty"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(FieldError::new(
            "body",
            format!("longer than {MAX_BODY_CHARS} characters"),
        ));
    }
    let subject = subject.trim().to_owned();
    short("subject", &subject)?;
    let kind = match kind.trim().to_ascii_lowercase().as_str() {
        "" => "complaint".to_owned(),
        k if KINDS.contains(&k) => k.to_owned(),
        k => {
            return Err(FieldError::new(
                "kind",
                format!("unknown kind {k:?}; expected one of {}", KINDS.join(", ")),
            ))
        }
    };
    let category = category.trim().to_ascii_lowercase();
    short("category", &category)?;
    let reference = reference.trim().to_owned();
    short("reference", &reference)?;
    if let Some(at) = received_at {
        if at > time::now_ms() + 5 * 60 * 1000 {
            return Err(FieldError::new("received_at", "is in the future"));
        }
    }
    let customer = parse_customer(customer)?;
    Ok(NewContact {
        channel,
        external_id,
        received_at,
        customer,
        subject,
        body,
        kind,
        category,
        reference,
        thread_ids: Vec::new(),
        sub_category: String::new(),
        severity: crate::taxonomy::DEFAULT_LEVEL,
        urgency: crate::taxonomy::DEFAULT_LEVEL,
        tags: Vec::new(),
    })
}

fn short(field: &str, value: &str) -> Result<(), FieldError> {
    if value.chars().count() > MAX_SHORT {
        return Err(FieldError::new(
            field,
            format!("longer than {MAX_SHORT} characters"),
        ));
    }
    Ok(())
}

fn parse_customer(c: RawCustomer) -> Result<Customer, FieldError> {
    let name = c.name.trim().to_owned();
    short("customer.name", &name)?;
    let account_id = c.account_id.trim().to_owned();
    short("customer.account_id", &account_id)?;
    let phone = match c.phone.trim() {
        "" => String::new(),
        p => normalise_phone(p)?,
    };
    let email = match c.email.trim() {
        "" => String::new(),
        e => normalise_email(e)?,
    };
    let social = normalise_social(c.social)?;
    let address = c.address.trim().to_owned();
    short("customer.address", &address)?;
    if phone.is_empty() && email.is_empty() && account_id.is_empty() && social.is_empty() {
        return Err(FieldError::new(
            "customer",
            "a contact method is required: customer.phone, customer.email, customer.account_id or customer.social",
        ));
    }
    Ok(Customer {
        name,
        phone,
        email,
        account_id,
        social,
        address,
    })
}

/// The most social handles one contact may carry.
pub const MAX_SOCIAL: usize = 10;

/// Platforms whose handles are case-insensitive (`@Name` and `@name` are one account).
const CASE_INSENSITIVE_PLATFORMS: &[&str] = &[
    "facebook",
    "github",
    "instagram",
    "telegram",
    "tiktok",
    "twitter",
    "x",
];

/// Checks and normalises social handles: a platform is 1 to 32 lower-case letters,
/// digits, `_`, `-` or `.` (`WeChat` becomes `wechat`); a handle loses surrounding space
/// and one leading `@`, holds no space or control character, and is at most 200
/// characters; handles on the platforms in `CASE_INSENSITIVE_PLATFORMS` are
/// lower-cased. Errors name the platform, never the handle (it is personal data).
pub fn normalise_social(
    social: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, FieldError> {
    if social.len() > MAX_SOCIAL {
        return Err(FieldError::new(
            "customer.social",
            format!("at most {MAX_SOCIAL} handles"),
        ));
    }
    let mut out = BTreeMap::new();
    for (platform, handle) in social {
        let p = platform.trim().to_lowercase();
        if p.is_empty()
            || p.len() > 32
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c))
        {
            return Err(FieldError::new(
                "customer.social",
                "a platform name is 1 to 32 letters, digits, '_', '-' or '.'",
            ));
        }
        let field = format!("customer.social.{p}");
        let h = handle.trim();
        let h = h.strip_prefix('@').unwrap_or(h);
        if h.is_empty() {
            return Err(FieldError::new(&field, "the handle is empty"));
        }
        if h.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::new(
                &field,
                "a handle holds no spaces or control characters",
            ));
        }
        if h.chars().count() > 200 {
            return Err(FieldError::new(&field, "longer than 200 characters"));
        }
        let h = if CASE_INSENSITIVE_PLATFORMS.contains(&p.as_str()) {
            h.to_lowercase()
        } else {
            h.to_owned()
        };
        if out.insert(p, h).is_some() {
            return Err(FieldError::new(&field, "the platform is given twice"));
        }
    }
    Ok(out)
}

/// Normalises a phone number to E.164 where it can be made one, so that the same
/// number written differently links to the same customer. Spaces, `-`, `.`, `(` and
/// `)` are ignored. Accepted:
/// - `+<country code><number>`: kept as written (digits only), 8 to 15 digits;
/// - `00<country code><number>` (the international prefix, e.g. `0086…`): `+…`;
/// - a mainland China mobile number, 11 digits `1[3-9]…`, alone or after `86`: `+86…`;
/// - a mainland China fixed line with its area code, `0xx-xxxxxxxx` or
///   `0xxx-xxxxxxx` (10 to 12 digits with the leading 0): `+86` and the digits
///   without the trunk 0;
/// - anything else of 5 to 15 digits (service numbers such as `95588`, a local number
///   without its area code) is kept as digits: it cannot be made international.
pub fn normalise_phone(p: &str) -> Result<String, FieldError> {
    let mut out = String::new();
    let mut plus = false;
    for ch in p.trim().chars() {
        match ch {
            '0'..='9' => out.push(ch),
            '+' if out.is_empty() && !plus => plus = true,
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => {
                return Err(FieldError::new(
                    "customer.phone",
                    format!("unexpected character {ch:?} in a phone number"),
                ))
            }
        }
    }
    let international = |digits: &str| {
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(FieldError::new(
                "customer.phone",
                format!(
                    "an international number has a country code and 8 to 15 digits, this one has {}",
                    digits.len()
                ),
            ));
        }
        Ok(format!("+{digits}"))
    };
    let cn_mobile =
        |d: &str| d.len() == 11 && d.starts_with('1') && matches!(d.as_bytes()[1], b'3'..=b'9');
    if plus {
        return international(&out);
    }
    if let Some(rest) = out.strip_prefix("00") {
        return international(rest);
    }
    if cn_mobile(&out) {
        return Ok(format!("+86{out}"));
    }
    if let Some(rest) = out.strip_prefix("86") {
        if cn_mobile(rest) {
            return Ok(format!("+86{rest}"));
        }
    }
    if out.starts_with('0') && (10..=12).contains(&out.len()) {
        return Ok(format!("+86{}", &out[1..]));
    }
    if !(5..=15).contains(&out.len()) {
        return Err(FieldError::new(
            "customer.phone",
            format!(
                "a phone number has 5 to 15 digits, this one has {}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Lower-cases and checks the shape `local@domain.tld`.
pub fn normalise_email(e: &str) -> Result<String, FieldError> {
    let e = e.trim().to_lowercase();
    let bad = || FieldError::new("customer.email", "is not an e-mail address (local@domain)");
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || e.chars().any(|c| c.is_whitespace() || c.is_control())
        || e.len() > 254
    {
        return Err(bad());
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Result<NewContact, FieldError> {
        ContactJson::from_slice(s.as_bytes())?.into_contact("web_form")
    }

    #[test]
    fn phones_become_e164() {
        let n = |p: &str| normalise_phone(p).expect(p);
        for same in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 13812345678",
            "+86 138-1234-5678",
            "0086 138 1234 5678",
            "8613812345678",
            "(+86) 13812345678",
        ] {
            assert_eq!(n(same), "+8613812345678", "{same}");
        }
        assert_eq!(n("010-12345678"), "+861012345678");
        assert_eq!(n("0755-1234567"), "+867551234567");
        assert_eq!(n("0755 12345678"), "+8675512345678");
        assert_eq!(n("+1 (415) 555-0100"), "+14155550100");
        assert_eq!(n("00852 2345 6789"), "+85223456789");
        assert_eq!(n("95588"), "95588");
        assert_eq!(n("12345678"), "12345678");
        for bad in [
            "12ab",
            "+0123456789",
            "+12",
            "1234",
            "1234567890123456",
            "++8613812345678",
        ] {
            let e = normalise_phone(bad).expect_err(bad);
            assert_eq!(e.field, "customer.phone", "{bad}");
        }
    }

    #[test]
    fn a_valid_contact_is_normalised() {
        let c = json(r#"{"external_id":" x1 ","customer":{"name":"张三","phone":"+86 138-1234-5678","email":"Zhang@Example.COM"},"body":" 网络很差 ","kind":"Inquiry","category":"Network"}"#)
            .expect("valid");
        assert_eq!(c.external_id, "x1");
        assert_eq!(c.customer.phone, "+8613812345678");
        assert_eq!(c.customer.email, "zhang@example.com");
        assert_eq!(c.body, "网络很差");
        assert_eq!(c.kind, "inquiry");
        assert_eq!(c.category, "network");
    }

    #[test]
    fn social_handles_and_addresses_are_kept_and_normalised() {
        let c = json(r#"{"external_id":"s1","customer":{"social":{"WeChat":" oAbC123 ","X":"@SomeOne"},"address":" 北京市朝阳区 1号 "},"body":"差评"}"#)
            .expect("a social handle alone is a contact method");
        assert_eq!(
            c.customer.social["wechat"], "oAbC123",
            "OpenIDs keep their case"
        );
        assert_eq!(c.customer.social["x"], "someone", "x handles do not");
        assert_eq!(c.customer.address, "北京市朝阳区 1号");
        let proto = from_proto(
            "social",
            v1::ContactSubmitted {
                external_id: "p1".into(),
                body: "hi".into(),
                customer: Some(v1::CustomerDetails {
                    social: [("weibo".to_owned(), "1234567".to_owned())].into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(proto.customer.social["weibo"], "1234567");
        let many: BTreeMap<String, String> = (0..=MAX_SOCIAL)
            .map(|i| (format!("p{i}"), "h".to_owned()))
            .collect();
        assert_eq!(
            normalise_social(many).expect_err("too many").field,
            "customer.social"
        );
        let err =
            normalise_social([("wechat".to_owned(), "o 1".to_owned())].into()).expect_err("space");
        assert!(!err.message.contains("o 1"), "errors never echo the handle");
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases = [
            ("{not json", "body"),
            (
                r#"{"external_id":"1","customer":{"phone":"13812345678"},"body":"   "}"#,
                "body",
            ),
            (
                r#"{"customer":{"phone":"13812345678"},"body":"x"}"#,
                "external_id",
            ),
            (r#"{"external_id":"1","body":"x"}"#, "customer"),
            (
                r#"{"external_id":"1","customer":{"phone":"12ab"},"body":"x"}"#,
                "customer.phone",
            ),
            (
                r#"{"external_id":"1","customer":{"email":"nope"},"body":"x"}"#,
                "customer.email",
            ),
            (
                r#"{"external_id":"1","customer":{"email":"a@b.c"},"body":"x","kind":"rant"}"#,
                "kind",
            ),
            (
                r#"{"external_id":"1","customer":{"email":"a@b.c"},"body":"x","received_at":"yesterday"}"#,
                "received_at",
            ),
            (r#"[1,2]"#, "body"),
            (
                r#"{"external_id":"1","customer":{"social":{"wechat":"  "}},"body":"x"}"#,
                "customer.social.wechat",
            ),
            (
                r#"{"external_id":"1","customer":{"social":{"we chat":"o1"}},"body":"x"}"#,
                "customer.social",
            ),
            (
                r#"{"external_id":"1","customer":{"social":{"weibo":"a b"}},"body":"x"}"#,
                "customer.social.weibo",
            ),
            (
                r#"{"external_id":"1","customer":{"social":{"WeChat":"o1","wechat":"o2"}},"body":"x"}"#,
                "customer.social.wechat",
            ),
            (
                r#"{"external_id":"1","customer":{"social":{"wechat":1}},"body":"x"}"#,
                "body",
            ),
        ];
        for (input, field) in cases {
            let err = json(input).expect_err(input);
            assert_eq!(err.field, field, "{input}: {err}");
        }
        assert_eq!(parse_channel("fax").expect_err("fax").field, "channel");
        assert_eq!(
            ContactJson::from_slice(&[0xff, 0xfe])
                .expect_err("utf8")
                .field,
            "body"
        );
    }

    #[test]
    fn channels_are_the_designed_ones() {
        for c in CHANNELS {
            assert_eq!(parse_channel(c).as_deref(), Ok(*c));
        }
        assert_eq!(parse_channel("EMAIL").as_deref(), Ok("email"));
    }

    mod fuzz {
        //! Arbitrary input never panics: it is a contact or an error naming a field.
        use super::*;
        use proptest::prelude::*;
        use prost::Message;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_bytes_as_json_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(j) = ContactJson::from_slice(&bytes) {
                    let _ = j.into_contact("email");
                }
            }

            #[test]
            fn any_json_shaped_text_never_panics(
                id in ".{0,40}", body in ".{0,200}", phone in ".{0,30}", email in ".{0,40}",
                kind in ".{0,12}", at in ".{0,30}", channel in ".{0,12}",
            ) {
                let v = serde_json::json!({
                    "external_id": id, "body": body, "kind": kind, "received_at": at,
                    "customer": {"phone": phone, "email": email},
                });
                if let Ok(j) = ContactJson::from_slice(v.to_string().as_bytes()) {
                    if let Ok(c) = j.into_contact(&channel) {
                        prop_assert!(!c.body.trim().is_empty());
                        prop_assert!(!c.external_id.is_empty());
                    }
                }
            }

            #[test]
            fn any_bytes_as_protobuf_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                if let Ok(p) = v1::ContactSubmitted::decode(bytes.as_slice()) {
                    let _ = from_proto("sms", p);
                }
            }
        }
    }
}
