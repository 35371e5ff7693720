//! Authentication of JSON sources: HMAC-SHA256 signatures of the raw body
//! (`X-Ombuds-Signature: sha256=<hex>`) and bearer tokens, both compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying a body's HMAC-SHA256.
pub const SIGNATURE_HEADER: &str = "x-ombuds-signature";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Equality whose time does not depend on where the inputs differ (only on their lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `sha256=<hex>` for `body` under `secret` (what a sender puts in the header).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// Checks an `X-Ombuds-Signature` value against the body. `Err` says what is wrong.
pub fn verify_hmac(secret: &str, body: &[u8], header: Option<&str>) -> Result<(), &'static str> {
    let Some(value) = header else {
        return Err("the X-Ombuds-Signature header is missing");
    };
    let Some(given) = value.trim().strip_prefix("sha256=") else {
        return Err("the X-Ombuds-Signature header must be sha256=<hex>");
    };
    let expected = sign(secret, body);
    let expected = expected.trim_start_matches("sha256=");
    if constant_time_eq(
        expected.as_bytes(),
        given.trim().to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err("the signature does not match the body")
    }
}

/// Checks an `Authorization: Bearer <secret>` value.
pub fn verify_token(secret: &str, header: Option<&str>) -> Result<(), &'static str> {
    let Some(value) = header else {
        return Err("the Authorization header is missing");
    };
    let Some(token) = value.trim().strip_prefix("Bearer ") else {
        return Err("the Authorization header must be Bearer <token>");
    };
    if constant_time_eq(token.trim().as_bytes(), secret.as_bytes()) {
        Ok(())
    } else {
        Err("the token is not valid for this source")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_round_trip() {
        // RFC 4231 test case 2.
        let s = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac("Jefe", b"what do ya want for nothing?", Some(&s)).is_ok());
        assert!(verify_hmac("Jefe", b"what do ya want for nothing!", Some(&s)).is_err());
        assert!(verify_hmac("Jefe", b"x", None).is_err());
        assert!(verify_hmac("Jefe", b"x", Some("md5=00")).is_err());
    }

    #[test]
    fn tokens() {
        assert!(verify_token("abc", Some("Bearer abc")).is_ok());
        assert!(verify_token("abc", Some("Bearer abd")).is_err());
        assert!(verify_token("abc", Some("abc")).is_err());
        assert!(verify_token("abc", None).is_err());
    }
}
