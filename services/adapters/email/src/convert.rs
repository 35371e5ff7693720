//! One raw RFC 822 message → one [`v1::ContactSubmitted`]: sender, decoded subject, plain-text
//! body (HTML converted when there is no text part), attachment names and sizes, Message-ID,
//! threading ids and date. Charsets (GBK, GB2312, Big5, ISO-8859-1, ...) and RFC 2047 encoded
//! words are decoded by `mail-parser`. Pure and panic-free: anything it cannot use is a
//! [`ConvertError`] naming the problem, which the poller dead-letters.

use mail_parser::{MessageParser, MessagePart, MimeHeaders as _};
use ombuds_proto::v1;
use sha2::{Digest, Sha256};

/// Why a message cannot become a contact. The text never holds personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("not an RFC 822 message: no header block could be parsed")]
    Unparseable,
    #[error("the message has no From address, so there is no one to answer")]
    NoSender,
    #[error("the From address {0:?} is not an e-mail address")]
    BadSender(String),
}

/// Converts a raw message. `external_id` is the Message-ID (without angle brackets) or,
/// when there is none, `sha256:<hex>` of the raw bytes.
pub fn to_contact(raw: &[u8]) -> Result<v1::ContactSubmitted, ConvertError> {
    let msg = MessageParser::new()
        .parse(raw)
        .ok_or(ConvertError::Unparseable)?;
    if msg.headers().is_empty() {
        return Err(ConvertError::Unparseable);
    }

    let sender = msg.from().and_then(|list| list.first());
    let Some(sender) = sender else {
        return Err(ConvertError::NoSender);
    };
    let email = sender.address().unwrap_or_default().trim().to_owned();
    if email.is_empty() {
        return Err(ConvertError::NoSender);
    }
    if !is_address(&email) {
        return Err(ConvertError::BadSender(ombuds_platform::pii::mask_email(
            &email,
        )));
    }
    let name = sender.name().unwrap_or_default().trim().to_owned();

    let body = (0..msg.text_body_count())
        .filter_map(|i| msg.body_text(i))
        .map(|t| t.trim_end().to_owned())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");

    let attachments = msg.attachments().map(attachment).collect();

    let external_id = match msg.message_id().map(clean_id).filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => format!("sha256:{}", hex(&Sha256::digest(raw))),
    };
    let in_reply_to = ids(msg.in_reply_to())
        .into_iter()
        .next()
        .unwrap_or_default();
    let references = ids(msg.references());
    let received_at = msg.date().and_then(|d| {
        d.to_timestamp()
            .checked_mul(1000)
            .map(ombuds_platform::time::to_timestamp)
    });

    Ok(v1::ContactSubmitted {
        external_id,
        received_at,
        customer: Some(v1::CustomerDetails {
            name,
            email,
            ..Default::default()
        }),
        subject: msg.subject().unwrap_or_default().trim().to_owned(),
        body,
        attachments,
        in_reply_to,
        references,
        ..Default::default()
    })
}

/// The ids of a Message-ID list header (In-Reply-To, References), without angle brackets.
fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value.as_text_list() {
        Some(list) => list.iter().map(|s| s.as_ref()).collect(),
        None => value.as_text().into_iter().collect(),
    };
    list.into_iter()
        .flat_map(str::split_whitespace)
        .map(clean_id)
        .filter(|s| !s.is_empty())
        .collect()
}

fn attachment(part: &MessagePart<'_>) -> v1::Attachment {
    let content_type = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    v1::Attachment {
        name: part.attachment_name().unwrap_or_default().to_owned(),
        size: part.contents().len() as u64,
        content_type,
    }
}

/// `<id@host>` → `id@host`.
fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

fn is_address(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_message_becomes_a_contact() {
        let raw = b"From: Li Lei <lilei@example.com>\r\nSubject: =?UTF-8?B?5L2g5aW9?=\r\nMessage-ID: <a1@example.com>\r\nDate: Sat, 22 Nov 2025 10:00:00 +0800\r\n\r\nHello\r\n";
        let c = to_contact(raw).expect("valid");
        let cust = c.customer.expect("customer");
        assert_eq!(cust.email, "lilei@example.com");
        assert_eq!(cust.name, "Li Lei");
        assert_eq!(c.subject, "你好");
        assert_eq!(c.body, "Hello");
        assert_eq!(c.external_id, "a1@example.com");
        assert_eq!(
            c.received_at.expect("date").seconds,
            1_763_776_800,
            "10:00 +08:00 is 02:00 UTC"
        );
    }

    #[test]
    fn missing_message_id_uses_a_hash_of_the_message() {
        let raw = b"From: a@example.com\r\n\r\nbody\r\n";
        let c = to_contact(raw).expect("valid");
        assert!(c.external_id.starts_with("sha256:"), "{}", c.external_id);
        assert_eq!(c.external_id.len(), 7 + 64);
        assert_eq!(to_contact(raw).expect("valid").external_id, c.external_id);
    }

    #[test]
    fn no_sender_or_no_headers_is_an_error() {
        assert_eq!(
            to_contact(b"Subject: hi\r\n\r\nbody"),
            Err(ConvertError::NoSender)
        );
        assert!(to_contact(b"").is_err());
        assert!(to_contact(b"\x00\x01\x02 garbage without any header").is_err());
        assert!(matches!(
            to_contact(b"From: not an address\r\n\r\nx"),
            Err(ConvertError::NoSender | ConvertError::BadSender(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = to_contact(&raw);
        }

        #[test]
        fn arbitrary_header_like_text_never_panics(
            from in "[ -~]{0,40}", subject in "\\PC{0,40}", body in "\\PC{0,200}",
            ct in "(text/plain|text/html|multipart/mixed; boundary=\"b\"|[ -~]{0,20})",
        ) {
            let raw = format!("From: {from}\r\nSubject: {subject}\r\nContent-Type: {ct}\r\n\r\n{body}\r\n--b\r\nContent-Type: application/pdf\r\n\r\nx\r\n--b--\r\n");
            let _ = to_contact(raw.as_bytes());
        }
    }
}
