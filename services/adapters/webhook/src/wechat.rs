//! The WeChat Official Account message push (plaintext mode).
//!
//! WeChat proves a request is its own with query parameters: `signature` is the SHA-1
//! (lower-case hex) of `token`, `timestamp` and `nonce` sorted and joined. The server
//! verification is a `GET` that also carries `echostr`, which is answered as is. A user's
//! message is a `POST` of an XML document:
//!
//! ```xml
//! <xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[openid]]></FromUserName>
//! <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>
//! <Content><![CDATA[hello]]></Content><MsgId>1234567890123456</MsgId></xml>
//! ```
//!
//! A text message becomes a contact (external id = `MsgId`, the customer's social handle
//! `wechat` = `FromUserName`, the sender's OpenID). Other message types (image, voice, event …) are acknowledged
//! and ignored; encrypted (safe mode) messages are refused, as their decryption is not
//! supported.

use ombuds_proto::v1;
use serde::Deserialize;
use sha1::{Digest, Sha1};

use crate::{error::FieldError, sig};

/// Whether `signature` is the one WeChat computes for this token, timestamp and nonce.
pub fn signature_ok(token: &str, timestamp: &str, nonce: &str, signature: &str) -> bool {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    let digest = Sha1::digest(parts.concat().as_bytes());
    sig::constant_time_eq(
        sig::hex(&digest).as_bytes(),
        signature.trim().to_ascii_lowercase().as_bytes(),
    )
}

/// A parsed push message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text {
        to_user: String,
        from_user: String,
        /// Unix seconds.
        create_time: i64,
        content: String,
        msg_id: String,
    },
    /// Anything that is not text (image, voice, video, location, link, event …).
    Other { msg_type: String },
    /// A safe-mode message (`<Encrypt>`): not supported.
    Encrypted,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename = "xml", default)]
struct Raw {
    #[serde(rename = "ToUserName")]
    to_user: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Content")]
    content: Option<String>,
    #[serde(rename = "MsgId")]
    msg_id: Option<String>,
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
}

/// Parses a push message. Errors name the element at fault.
pub fn parse(xml: &str) -> Result<Message, FieldError> {
    if !xml.trim_start().starts_with("<xml") && !xml.trim_start().starts_with("<?xml") {
        return Err(FieldError::new(
            "xml",
            "the body is not a WeChat XML message (expected <xml>…</xml>)",
        ));
    }
    let raw: Raw = quick_xml::de::from_str(xml)
        .map_err(|e| FieldError::new("xml", format!("malformed XML: {e}")))?;
    if raw.encrypt.is_some() {
        return Ok(Message::Encrypted);
    }
    let need = |field: &str, v: Option<String>| -> Result<String, FieldError> {
        match v.map(|s| s.trim().to_owned()) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(FieldError::new(field, "is missing or empty")),
        }
    };
    let msg_type = need("MsgType", raw.msg_type)?;
    if msg_type != "text" {
        return Ok(Message::Other { msg_type });
    }
    let create_time = need("CreateTime", raw.create_time)?;
    let create_time: i64 = create_time
        .parse()
        .ok()
        .filter(|t| (0..253_402_300_800).contains(t))
        .ok_or_else(|| {
            FieldError::new(
                "CreateTime",
                format!("{create_time:?} is not a Unix time in seconds"),
            )
        })?;
    Ok(Message::Text {
        to_user: raw.to_user.unwrap_or_default().trim().to_owned(),
        from_user: need("FromUserName", raw.from_user)?,
        create_time,
        // The text is kept as sent (no trimming), but must not be empty.
        content: match raw.content {
            Some(c) if !c.trim().is_empty() => c,
            _ => return Err(FieldError::new("Content", "is missing or empty")),
        },
        msg_id: need("MsgId", raw.msg_id)?,
    })
}

/// The contact a text message becomes.
pub fn to_contact(
    from_user: &str,
    create_time: i64,
    content: &str,
    msg_id: &str,
) -> v1::ContactSubmitted {
    v1::ContactSubmitted {
        external_id: msg_id.to_owned(),
        received_at: Some(ombuds_platform::time::to_timestamp(
            create_time.saturating_mul(1000),
        )),
        customer: Some(v1::CustomerDetails {
            social: [("wechat".to_owned(), from_user.to_owned())].into(),
            ..Default::default()
        }),
        body: content.to_owned(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub const TEXT: &str = "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>\
        <FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1700000000</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[网络<差> & slow]]></Content>\
        <MsgId>6789012345678901234</MsgId></xml>";

    #[test]
    fn text_messages_parse() {
        assert_eq!(
            parse(TEXT),
            Ok(Message::Text {
                to_user: "gh_123".into(),
                from_user: "oUser1".into(),
                create_time: 1_700_000_000,
                content: "网络<差> & slow".into(),
                msg_id: "6789012345678901234".into(),
            })
        );
    }

    #[test]
    fn other_types_encrypted_and_broken_messages() {
        let image = TEXT.replace("[text]", "[image]");
        assert_eq!(
            parse(&image),
            Ok(Message::Other {
                msg_type: "image".into()
            })
        );
        assert_eq!(
            parse("<xml><ToUserName>a</ToUserName><Encrypt><![CDATA[abc]]></Encrypt></xml>"),
            Ok(Message::Encrypted)
        );
        assert_eq!(
            parse("<xml><MsgType>text</MsgType").map_err(|e| e.field),
            Err("xml".into())
        );
        assert_eq!(
            parse("{\"json\": 1}").map_err(|e| e.field),
            Err("xml".into())
        );
        let no_id = TEXT.replace("<MsgId>6789012345678901234</MsgId>", "");
        assert_eq!(parse(&no_id).map_err(|e| e.field), Err("MsgId".into()));
        let bad_time = TEXT.replace("1700000000", "soon");
        assert_eq!(
            parse(&bad_time).map_err(|e| e.field),
            Err("CreateTime".into())
        );
    }

    #[test]
    fn signatures() {
        // sorted: "1409659813", "1372623149", "token" → "13726231491409659813token"
        let mut parts = ["token", "1409659813", "1372623149"];
        parts.sort_unstable();
        let expected = sig::hex(&Sha1::digest(parts.concat().as_bytes()));
        assert!(signature_ok("token", "1409659813", "1372623149", &expected));
        assert!(signature_ok(
            "token",
            "1409659813",
            "1372623149",
            &expected.to_uppercase()
        ));
        assert!(!signature_ok(
            "token",
            "1409659814",
            "1372623149",
            &expected
        ));
        assert!(!signature_ok("token", "1409659813", "1372623149", ""));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,300}") {
            let _ = parse(&s);
            let _ = parse(&format!("<xml>{s}</xml>"));
            let _ = signature_ok("t", &s, &s, &s);
        }

        #[test]
        fn mutated_messages_never_panic(cut in 0usize..400, insert in "[<>/!\\[\\]A-Za-z&;]{0,8}") {
            let mut s: Vec<char> = TEXT.chars().collect();
            let at = cut.min(s.len());
            s.splice(at..at, insert.chars());
            let s: String = s.into_iter().collect();
            let _ = parse(&s);
        }

        #[test]
        fn deep_nesting_never_panics(depth in 0usize..2000) {
            let s = format!("<xml>{}{}</xml>", "<a>".repeat(depth), "</a>".repeat(depth));
            let _ = parse(&s);
        }
    }
}
