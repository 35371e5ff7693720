//! Personal data at rest: the [`Vault`] encrypts customers' details and the complaints'
//! free text (AES-256-GCM, a fresh 96-bit random nonce per value, stored as
//! `v1:<key id>:<base64(nonce||ciphertext)>`: [`Vault::encrypt`], [`Vault::seal_text`])
//! and computes the keyed hashes that stand in for plaintext in look-ups: the customers'
//! blind indexes (hex HMAC-SHA256 under a separate index key), which is how
//! [`crate::store`] links contacts, and the search terms ([`Vault::search_term`], under a
//! key derived from the index key), which is how [`crate::search`] finds complaints.
//!
//! Keys come from `OMBUDS_PII_KEYS` (`<key id>:<base64 32 bytes>`, comma-separated; the
//! first encrypts new values, the others still decrypt — rotation) and
//! `OMBUDS_PII_INDEX_KEY` (base64 32 bytes). When neither is set, a development key pair
//! is generated once into `<OMBUDS_DATA_DIR>/intake.keys` (mode 0600) with one warning.
//! An empty value stays empty (whether a customer gave an e-mail is not secret).

use std::{fmt, path::Path};

use aes_gcm::{
    aead::{rand_core::RngCore, AeadCore, AeadInPlace, KeyInit, OsRng},
    Aes256Gcm, Nonce,
};
use base64::{
    engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL},
    Engine,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A secret setting: its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("value encrypted with unknown key id {0:?}")]
    UnknownKey(String),
    #[error("not an encrypted value (expected v1:<key id>:<base64>)")]
    Format,
    #[error("value under key id {0:?} does not decrypt (wrong key or tampered)")]
    Decrypt(String),
    #[error("{0}")]
    Config(String),
}

/// The encryption keys (the first writes), the blind-index key and the search-term key.
pub struct Vault {
    keys: Vec<(String, Aes256Gcm)>,
    index_key: [u8; 32],
    /// HMAC-SHA256 keyed with the search-term key, ready to be cloned per term (the key
    /// schedule is done once).
    search_mac: Hmac<Sha256>,
    /// The search index's marker for this search-term key (see [`Vault::search_marker`]).
    search_marker: String,
}

/// The bytes of a search term's HMAC that are kept (64 bits: a collision only adds a
/// result to a search, and is about as likely as one in 10^12 per query term).
pub const SEARCH_TERM_BYTES: usize = 8;
/// The characters of a stored search term: [`SEARCH_TERM_BYTES`] in unpadded base64url.
pub const SEARCH_TERM_CHARS: usize = 11;
/// What the search-term key is derived from the index key with (domain separation from
/// the customers' blind indexes, which are `<kind>\0<value>` under the index key itself).
const SEARCH_KEY_LABEL: &[u8] = b"ombuds/intake/search-terms/v1";
const NONCE: usize = 12;
const TAG: usize = 16;

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Vault")
            .field("key_ids", &ids)
            .field("keys", &"***")
            .finish()
    }
}

fn key32(what: &str, b64: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| CryptoError::Config(format!("{what}: not base64")))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        CryptoError::Config(format!(
            "{what}: a key is 32 bytes, this one is {}",
            bytes.len()
        ))
    })
}

impl Vault {
    /// Parses `OMBUDS_PII_KEYS` and `OMBUDS_PII_INDEX_KEY` values.
    pub fn parse(keys: &str, index_key: &str) -> Result<Self, CryptoError> {
        let mut parsed: Vec<(String, Aes256Gcm)> = Vec::new();
        for entry in keys.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, b64) = entry.split_once(':').ok_or_else(|| {
                CryptoError::Config("OMBUDS_PII_KEYS: expected <key id>:<base64 key>".into())
            })?;
            let id = id.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(CryptoError::Config(format!(
                    "OMBUDS_PII_KEYS: key id {id:?} must be letters, digits or '-'"
                )));
            }
            if parsed.iter().any(|(k, _)| k == id) {
                return Err(CryptoError::Config(format!(
                    "OMBUDS_PII_KEYS: key id {id:?} appears twice"
                )));
            }
            let key = key32(&format!("OMBUDS_PII_KEYS key {id}"), b64)?;
            parsed.push((id.to_owned(), Aes256Gcm::new(&key.into())));
        }
        if parsed.is_empty() {
            return Err(CryptoError::Config("OMBUDS_PII_KEYS: no key".into()));
        }
        let index_key = key32("OMBUDS_PII_INDEX_KEY", index_key)?;
        let config = |_| CryptoError::Config("HMAC key".into());
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(&index_key).map_err(config)?;
        derive.update(SEARCH_KEY_LABEL);
        let search_key = derive.finalize().into_bytes();
        let search_mac = <Hmac<Sha256> as Mac>::new_from_slice(&search_key).map_err(config)?;
        // The marker names the search-term key (a fingerprint, not the key): complaints
        // indexed under another key, or with plaintext terms, lack it and are re-indexed.
        let mut fingerprint = search_mac.clone();
        fingerprint.update(b"\0marker");
        let search_marker = format!(
            "#{}",
            fingerprint.finalize().into_bytes()[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        Ok(Self {
            keys: parsed,
            index_key,
            search_mac,
            search_marker,
        })
    }

    /// The configured keys, or the development keys in `<data_dir>/intake.keys`
    /// (created on first use, mode 0600).
    pub fn load(
        keys: Option<&Secret>,
        index_key: Option<&Secret>,
        data_dir: &Path,
    ) -> Result<Self, CryptoError> {
        match (keys, index_key) {
            (Some(k), Some(i)) => Self::parse(&k.0, &i.0),
            (None, None) => Self::dev_keys(data_dir),
            _ => Err(CryptoError::Config(
                "set both OMBUDS_PII_KEYS and OMBUDS_PII_INDEX_KEY, or neither (development keys)"
                    .into(),
            )),
        }
    }

    fn dev_keys(data_dir: &Path) -> Result<Self, CryptoError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join("intake.keys");
        let io = |e: std::io::Error| CryptoError::Config(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let fresh = format!(
            "OMBUDS_PII_KEYS=dev:{}\nOMBUDS_PII_INDEX_KEY={}\n",
            B64.encode(random32()),
            B64.encode(random32())
        );
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => f.write_all(fresh.as_bytes()).map_err(io)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        tracing::warn!(file = %path.display(),
            "OMBUDS_PII_KEYS and OMBUDS_PII_INDEX_KEY are not set: personal data is encrypted with development keys; production must set both");
        // Another process may be writing the file right now: retry briefly.
        let mut text = String::new();
        for _ in 0..50 {
            text = std::fs::read_to_string(&path).map_err(io)?;
            if text.ends_with('\n') && text.lines().count() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
                .ok_or_else(|| CryptoError::Config(format!("{}: no {name}", path.display())))
        };
        Self::parse(&field("OMBUDS_PII_KEYS")?, &field("OMBUDS_PII_INDEX_KEY")?)
    }

    /// The key id new values are encrypted with.
    pub fn write_key_id(&self) -> &str {
        self.keys.first().map(|(id, _)| id.as_str()).unwrap_or("")
    }

    /// `v1:<key id>:<base64(nonce||ciphertext)>`; empty stays empty.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, CryptoError> {
        if plaintext.is_empty() {
            return Ok(String::new());
        }
        let (id, cipher) = self
            .keys
            .first()
            .ok_or_else(|| CryptoError::Config("no encryption key".into()))?;
        // One buffer: nonce || plaintext encrypted in place || tag.
        let mut blob = Vec::with_capacity(NONCE + plaintext.len() + TAG);
        blob.extend_from_slice(&Aes256Gcm::generate_nonce(&mut OsRng));
        blob.extend_from_slice(plaintext.as_bytes());
        let (nonce, body) = blob.split_at_mut(NONCE);
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), b"", body)
            .map_err(|_| CryptoError::Decrypt(id.clone()))?;
        blob.extend_from_slice(&tag);
        let mut out = String::with_capacity(4 + id.len() + blob.len().div_ceil(3) * 4);
        out.push_str("v1:");
        out.push_str(id);
        out.push(':');
        B64.encode_string(&blob, &mut out);
        Ok(out)
    }

    /// The plaintext of [`Vault::encrypt`]'s output, under any configured key.
    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        if stored.is_empty() {
            return Ok(String::new());
        }
        let rest = stored.strip_prefix("v1:").ok_or(CryptoError::Format)?;
        let (id, b64) = rest.split_once(':').ok_or(CryptoError::Format)?;
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let mut blob = B64.decode(b64).map_err(|_| CryptoError::Format)?;
        if blob.len() < NONCE + TAG {
            return Err(CryptoError::Format);
        }
        let end = blob.len() - TAG;
        let (nonce, rest) = blob.split_at_mut(NONCE);
        let (body, tag) = rest.split_at_mut(end - NONCE);
        cipher
            .decrypt_in_place_detached(Nonce::from_slice(nonce), b"", body, (&*tag).into())
            .map_err(|_| CryptoError::Decrypt(id.to_owned()))?;
        // The plaintext to the front of the same buffer: no second allocation.
        blob.copy_within(NONCE..end, 0);
        blob.truncate(end - NONCE);
        String::from_utf8(blob).map_err(|_| CryptoError::Decrypt(id.to_owned()))
    }

    /// Free text (a complaint's subject or body, a message, a resolution, a reason) as
    /// stored: [`Vault::encrypt`] under the current write key, a fresh nonce each time;
    /// empty stays empty. Infallible in practice: AES-GCM refuses only plaintexts over
    /// 64 GiB, and no field comes near (bodies are capped at 20,000 characters); such a
    /// value would be stored empty, with an error logged.
    pub fn seal_text(&self, plaintext: &str) -> String {
        self.encrypt(plaintext).unwrap_or_else(|e| {
            tracing::error!(error = %e, bytes = plaintext.len(), "free text could not be encrypted: stored empty");
            String::new()
        })
    }

    /// The plaintext of a stored free-text value. A value that is not ciphertext (see
    /// [`Vault::is_sealed`]) was stored before free text was encrypted and reads as
    /// itself until the start-up migration ([`crate::sealing`]) has encrypted it; a
    /// ciphertext under an unknown key, or one that does not decrypt, is an error.
    pub fn open_text(&self, stored: &str) -> Result<String, CryptoError> {
        if Self::is_sealed(stored) {
            self.decrypt(stored)
        } else {
            Ok(stored.to_owned())
        }
    }

    /// Whether a stored value has the shape of this vault's ciphertext:
    /// `v1:<key id>:<base64 of at least nonce and tag>` (it need not decrypt). A
    /// plaintext that merely starts with `v1:` is not.
    pub fn is_sealed(stored: &str) -> bool {
        let Some((id, b64)) = stored
            .strip_prefix("v1:")
            .and_then(|rest| rest.split_once(':'))
        else {
            return false;
        };
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && b64.len() >= (NONCE + TAG).div_ceil(3) * 4
            && b64.len() % 4 == 0
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    }

    /// A search term as stored in the index: HMAC-SHA256 of the term under the
    /// search-term key (derived from `OMBUDS_PII_INDEX_KEY`), its first
    /// [`SEARCH_TERM_BYTES`] bytes. The same term always gives the same bytes, so
    /// queries are hashed the same way and matched by equality.
    pub fn search_term(&self, term: &str) -> [u8; SEARCH_TERM_BYTES] {
        let mut mac = self.search_mac.clone();
        mac.update(term.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; SEARCH_TERM_BYTES];
        out.copy_from_slice(&full[..SEARCH_TERM_BYTES]);
        out
    }

    /// [`Vault::search_term`] bytes as the stored text: unpadded base64url,
    /// [`SEARCH_TERM_CHARS`] characters.
    pub fn search_term_text(hash: &[u8; SEARCH_TERM_BYTES]) -> String {
        let mut out = String::with_capacity(SEARCH_TERM_CHARS);
        B64URL.encode_string(hash, &mut out);
        out
    }

    /// The term that marks a complaint as indexed with hashed terms under this
    /// search-term key: `#` and 12 hex digits of a keyed fingerprint. Neither a hashed
    /// term (base64url, no `#`) nor a plaintext term of the earlier index (letters,
    /// digits, CJK) can equal it.
    pub fn search_marker(&self) -> &str {
        &self.search_marker
    }

    /// hex(HMAC-SHA256(index key, value)) of an already normalised value; empty stays empty.
    pub fn blind_index(&self, kind: &str, normalised: &str) -> String {
        if normalised.is_empty() {
            return String::new();
        }
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key) else {
            return String::new();
        };
        // The kind separates the domains: a phone never matches an account id.
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(normalised.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn random32() -> [u8; 32] {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    k
}

/// Intake's dead letters hold contacts as the channels sent them, personal data
/// included, and stay on the `DLQ` stream until an operator acts: the payload is
/// sealed like any personal value (base64 of the bytes, encrypted under the current
/// key), and opened again when `ombudsctl dlq replay` sends it back.
impl ombuds_platform::consumer::PayloadSeal for Vault {
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        self.seal_text(&B64.encode(plain)).into_bytes()
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let text = std::str::from_utf8(sealed).map_err(|_| CryptoError::Format.to_string())?;
        if !Self::is_sealed(text) {
            return Err(CryptoError::Format.to_string());
        }
        let b64 = self.decrypt(text).map_err(|e| e.to_string())?;
        B64.decode(b64)
            .map_err(|e| format!("sealed payload is not base64: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> String {
        B64.encode(random32())
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let v = Vault::parse(&format!("a:{}", k()), &k()).expect("vault");
        let x = v.encrypt("13812345678").expect("encrypt");
        let y = v.encrypt("13812345678").expect("encrypt");
        assert!(x.starts_with("v1:a:"));
        assert_ne!(x, y, "a fresh nonce per value");
        assert!(!x.contains("13812345678"));
        assert_eq!(v.decrypt(&x).expect("decrypt"), "13812345678");
        assert_eq!(
            v.decrypt(&v.encrypt("张三").expect("e")).expect("d"),
            "张三"
        );
        assert_eq!(v.encrypt("").expect("e"), "");
    }

    #[test]
    fn dead_letter_payloads_are_sealed_and_open_only_with_the_key() {
        use ombuds_platform::consumer::PayloadSeal;
        let v = Vault::parse(&format!("a:{}", k()), &k()).expect("vault");
        let plain = r#"{"customer":{"phone":"13812345678"},"body":"信号"}"#.as_bytes();
        let sealed = PayloadSeal::seal(&v, plain);
        assert!(!String::from_utf8_lossy(&sealed).contains("13812345678"));
        assert_eq!(PayloadSeal::open(&v, &sealed).expect("opens"), plain);
        let other = Vault::parse(&format!("a:{}", k()), &k()).expect("vault");
        assert!(PayloadSeal::open(&other, &sealed).is_err(), "another key");
        assert!(
            PayloadSeal::open(&v, plain).is_err(),
            "plaintext is not sealed"
        );
    }

    #[test]
    fn rotation_old_key_decrypts_new_key_writes() {
        let (old, new, idx) = (k(), k(), k());
        let before = Vault::parse(&format!("k1:{old}"), &idx).expect("vault");
        let stored = before.encrypt("a@example.com").expect("e");
        let after = Vault::parse(&format!("k2:{new},k1:{old}"), &idx).expect("vault");
        assert_eq!(after.decrypt(&stored).expect("old id"), "a@example.com");
        assert!(after.encrypt("x").expect("e").starts_with("v1:k2:"));
        assert_eq!(after.write_key_id(), "k2");
        assert_eq!(
            before.blind_index("email", "a@example.com"),
            after.blind_index("email", "a@example.com")
        );
    }

    #[test]
    fn unknown_or_wrong_keys_are_errors() {
        let idx = k();
        let a = Vault::parse(&format!("a:{}", k()), &idx).expect("vault");
        let b = Vault::parse(&format!("b:{}", k()), &idx).expect("vault");
        let wrong = Vault::parse(&format!("a:{}", k()), &idx).expect("vault");
        let stored = a.encrypt("secret").expect("e");
        let err = b.decrypt(&stored).expect_err("unknown id");
        assert_eq!(err, CryptoError::UnknownKey("a".into()));
        assert!(err.to_string().contains("\"a\""));
        assert_eq!(
            wrong.decrypt(&stored).expect_err("wrong key"),
            CryptoError::Decrypt("a".into())
        );
        assert_eq!(a.decrypt("plain").expect_err("format"), CryptoError::Format);
        assert!(Vault::parse("a:short", &idx).is_err());
        assert!(Vault::parse(&format!("a:{}", k()), "").is_err());
    }

    #[test]
    fn blind_index_is_stable_and_keyed() {
        let idx = k();
        let a = Vault::parse(&format!("a:{}", k()), &idx).expect("vault");
        let b = Vault::parse(&format!("b:{}", k()), &idx).expect("vault");
        let other = Vault::parse(&format!("a:{}", k()), &k()).expect("vault");
        let h = a.blind_index("phone", "+8613812345678");
        assert_eq!(h.len(), 64);
        assert_eq!(h, b.blind_index("phone", "+8613812345678"));
        assert_ne!(h, other.blind_index("phone", "+8613812345678"));
        assert_ne!(h, a.blind_index("account", "+8613812345678"));
        assert_eq!(a.blind_index("phone", ""), "");
    }

    #[test]
    fn free_text_is_sealed_with_fresh_nonces_and_opens() {
        let v = Vault::parse(&format!("a:{}", k()), &k()).expect("vault");
        let text = "我家手机信号很差，call 13812345678";
        let x = v.seal_text(text);
        let y = v.seal_text(text);
        assert!(x.starts_with("v1:a:") && Vault::is_sealed(&x), "{x}");
        assert_ne!(x, y, "a fresh nonce per value");
        assert!(!x.contains("13812345678"));
        assert_eq!(v.open_text(&x).expect("open"), text);
        assert_eq!(v.open_text(&y).expect("open"), text);
        assert_eq!(v.seal_text(""), "");
        assert_eq!(v.open_text("").expect("empty"), "");
        // Customer fields and free text are the same format.
        assert_eq!(v.decrypt(&x).expect("decrypt"), text);
        let long = "很".repeat(20_000);
        assert_eq!(v.open_text(&v.seal_text(&long)).expect("long"), long);
    }

    #[test]
    fn plaintext_of_earlier_versions_reads_as_itself() {
        let v = Vault::parse(&format!("a:{}", k()), &k()).expect("vault");
        for plain in [
            "信号很差",
            "v1: 第二次投诉",
            "v1:a:not base64!",
            "v1:a:QUJD",
            "v1::QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn",
        ] {
            assert!(!Vault::is_sealed(plain), "{plain}");
            assert_eq!(v.open_text(plain).expect("plaintext"), plain);
        }
        // A ciphertext that does not decrypt is an error, not text.
        let sealed = v.seal_text("secret");
        let mut tampered = sealed.clone().into_bytes();
        let i = tampered.len() - 6;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert!(Vault::is_sealed(&tampered));
        assert_eq!(
            v.open_text(&tampered).expect_err("tampered"),
            CryptoError::Decrypt("a".into())
        );
        let other = Vault::parse(&format!("b:{}", k()), &k()).expect("vault");
        assert_eq!(
            other.open_text(&sealed).expect_err("unknown key"),
            CryptoError::UnknownKey("a".into())
        );
    }

    #[test]
    fn search_terms_are_keyed_by_the_index_key_only() {
        let idx = k();
        let a = Vault::parse(&format!("a:{}", k()), &idx).expect("vault");
        let b = Vault::parse(&format!("b:{},a:{}", k(), k()), &idx).expect("vault");
        let other = Vault::parse(&format!("a:{}", k()), &k()).expect("vault");
        let h = a.search_term("信号");
        assert_eq!(h, b.search_term("信号"), "encryption keys rotate freely");
        assert_ne!(h, other.search_term("信号"));
        assert_ne!(h, a.search_term("信号差"));
        // Not a prefix of the blind index of the same value.
        assert!(!a
            .blind_index("account", "信号")
            .starts_with(&h.iter().map(|b| format!("{b:02x}")).collect::<String>()));
        let text = Vault::search_term_text(&h);
        assert_eq!(text.len(), SEARCH_TERM_CHARS);
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        let m = a.search_marker();
        assert!(m.starts_with('#') && m.len() == 13, "{m}");
        assert_eq!(m, b.search_marker());
        assert_ne!(m, other.search_marker());
    }

    #[test]
    fn secrets_and_vaults_do_not_print_keys() {
        let key = k();
        let v = Vault::parse(&format!("a:{key}"), &k()).expect("vault");
        assert!(!format!("{v:?}").contains(&key));
        assert_eq!(format!("{:?}", Secret(key)), "***");
    }

    #[test]
    fn dev_keys_are_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Vault::load(None, None, dir.path()).expect("dev keys");
        let b = Vault::load(None, None, dir.path()).expect("dev keys again");
        assert_eq!(b.decrypt(&a.encrypt("x").expect("e")).expect("d"), "x");
        let mode = std::fs::metadata(dir.path().join("intake.keys"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let one = Secret("a:x".into());
        assert!(Vault::load(Some(&one), None, dir.path()).is_err());
    }
}
