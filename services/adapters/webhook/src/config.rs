//! Settings of the webhook adapter: where it listens, where NATS is, and the sources it
//! accepts, read from the TOML file named by `OMBUDS_WEBHOOK_SOURCES`.
//!
//! A sources file is a list of `[[source]]` tables. Every source has a `name` (the last
//! segment of `/v1/webhooks/{name}`), a `kind` (`json` or `wechat`), the `channel` its
//! contacts go to (`intake.<channel>`) and a `secret` (the HMAC key or bearer token of a
//! JSON source, the token of a WeChat account). A JSON source also says how it is
//! authenticated (`auth = "hmac" | "token"`) and where each contact field is in its
//! payload (JSON pointers, see [`crate::mapping`]); the contact kind's pointer is
//! `contact_kind`, since `kind` already names the source kind. A file that does not parse, or a source
//! that does not make sense, stops start-up with an error naming the file and the line.

use std::{collections::HashMap, net::SocketAddr, path::Path};

use ombuds_platform::config::{Config, LogFormat};
use serde::Deserialize;

use crate::mapping::{JsonMapping, Pointer};

/// The adapter's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `OMBUDS_HTTP_ADDR` (default `127.0.0.1:8090`).
    pub http_addr: SocketAddr,
    /// `NATS_URL` (default `nats://127.0.0.1:4222`).
    pub nats_url: String,
    /// `OMBUDS_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// The sources read from `OMBUDS_WEBHOOK_SOURCES` (required), by name.
    pub sources: HashMap<String, Source>,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> anyhow::Result<Self> {
        let Some(path) = cfg.get("OMBUDS_WEBHOOK_SOURCES") else {
            anyhow::bail!(
                "OMBUDS_WEBHOOK_SOURCES is not set: it must name the TOML file listing the webhook sources"
            );
        };
        Ok(Self {
            http_addr: cfg.parse("OMBUDS_HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8090)))?,
            nats_url: cfg.string("NATS_URL", "nats://127.0.0.1:4222"),
            log_format: cfg.parse("OMBUDS_LOG_FORMAT", LogFormat::Text)?,
            sources: load_sources(Path::new(path))?,
        })
    }
}

/// One configured source.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub channel: String,
    pub secret: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Json {
        auth: Auth,
        mapping: Box<JsonMapping>,
    },
    Wechat,
}

/// How a JSON source proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `X-Ombuds-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
    Hmac,
    /// `Authorization: Bearer <secret>`.
    Token,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    source: Vec<toml::Spanned<RawSource>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    kind: String,
    channel: String,
    secret: String,
    auth: Option<String>,
    external_id: Option<String>,
    body: Option<String>,
    subject: Option<String>,
    received_at: Option<String>,
    customer_name: Option<String>,
    customer_phone: Option<String>,
    customer_email: Option<String>,
    customer_account: Option<String>,
    customer_handle: Option<String>,
    /// The social platform of `customer_handle` (default: the source's name).
    platform: Option<String>,
    /// The pointer to the contact kind (`kind` itself names the source kind).
    contact_kind: Option<String>,
    category: Option<String>,
}

/// Reads and checks a sources file. Errors name the file and the line.
pub fn load_sources(path: &Path) -> anyhow::Result<HashMap<String, Source>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read webhook sources {}: {e}", path.display()))?;
    parse_sources(&text).map_err(|e| anyhow::anyhow!("webhook sources {}: {e}", path.display()))
}

/// Parses the text of a sources file (see the module header).
pub fn parse_sources(text: &str) -> Result<HashMap<String, Source>, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!("line {}: ", line_of(text, s.start)))
            .unwrap_or_default();
        format!("{line}{}", e.message().trim())
    })?;
    let mut out = HashMap::new();
    for spanned in raw.source {
        let line = line_of(text, spanned.span().start);
        let raw = spanned.into_inner();
        let name = raw.name.clone();
        let source = check_source(raw).map_err(|e| format!("line {line}: source {name:?}: {e}"))?;
        if out.insert(name.clone(), source).is_some() {
            return Err(format!("line {line}: source {name:?} is defined twice"));
        }
    }
    if out.is_empty() {
        return Err("no [[source]] is defined".into());
    }
    Ok(out)
}

fn check_source(raw: RawSource) -> Result<Source, String> {
    let valid_token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !valid_token(&raw.name) {
        return Err("name must be non-empty letters, digits, '_' or '-'".into());
    }
    if !valid_token(&raw.channel) || raw.channel.contains('-') {
        return Err(format!(
            "channel {:?} must be a channel name such as social or app",
            raw.channel
        ));
    }
    if !ombuds_platform::events::CHANNELS.contains(&raw.channel.as_str()) {
        return Err(format!(
            "channel {:?} is not one of {}",
            raw.channel,
            ombuds_platform::events::CHANNELS.join(", ")
        ));
    }
    if raw.secret.is_empty() {
        return Err("secret must not be empty".into());
    }
    let kind = match raw.kind.as_str() {
        "wechat" => {
            let json_only = [
                ("auth", raw.auth.is_some()),
                ("external_id", raw.external_id.is_some()),
                ("body", raw.body.is_some()),
            ];
            if let Some((field, _)) = json_only.iter().find(|(_, set)| *set) {
                return Err(format!("{field} applies to kind = \"json\" only"));
            }
            SourceKind::Wechat
        }
        "json" => {
            let auth = match raw.auth.as_deref() {
                Some("hmac") => Auth::Hmac,
                Some("token") => Auth::Token,
                Some(other) => return Err(format!("auth {other:?} must be hmac or token")),
                None => return Err("auth is required for kind = \"json\" (hmac or token)".into()),
            };
            let required = |field: &str, p: Option<String>| -> Result<Pointer, String> {
                let p = p.ok_or_else(|| {
                    format!("{field} (a JSON pointer such as \"/id\") is required")
                })?;
                Pointer::parse(&p).map_err(|e| format!("{field}: {e}"))
            };
            let optional = |field: &str, p: Option<String>| -> Result<Option<Pointer>, String> {
                p.map(|p| Pointer::parse(&p).map_err(|e| format!("{field}: {e}")))
                    .transpose()
            };
            SourceKind::Json {
                auth,
                mapping: Box::new(JsonMapping {
                    external_id: required("external_id", raw.external_id)?,
                    body: required("body", raw.body)?,
                    subject: optional("subject", raw.subject)?,
                    received_at: optional("received_at", raw.received_at)?,
                    customer_name: optional("customer_name", raw.customer_name)?,
                    customer_phone: optional("customer_phone", raw.customer_phone)?,
                    customer_email: optional("customer_email", raw.customer_email)?,
                    customer_account: optional("customer_account", raw.customer_account)?,
                    customer_handle: optional("customer_handle", raw.customer_handle)?,
                    platform: raw.platform.clone().unwrap_or_else(|| raw.name.clone()),
                    kind: optional("contact_kind", raw.contact_kind)?,
                    category: optional("category", raw.category)?,
                }),
            }
        }
        other => return Err(format!("kind {other:?} must be json or wechat")),
    };
    Ok(Source {
        name: raw.name,
        channel: raw.channel,
        secret: raw.secret,
        kind,
    })
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset.min(text.len()))
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[source]]
name = "weibo"
kind = "json"
channel = "social"
secret = "s3cret"
auth = "hmac"
external_id = "/id"
body = "/text"
customer_account = "/user/id"

[[source]]
name = "mp"
kind = "wechat"
channel = "social"
secret = "tok"
"#;

    #[test]
    fn a_good_file_loads() {
        let s = parse_sources(GOOD).expect("good file");
        assert_eq!(s.len(), 2);
        assert!(matches!(
            s["weibo"].kind,
            SourceKind::Json {
                auth: Auth::Hmac,
                ..
            }
        ));
        assert!(matches!(s["mp"].kind, SourceKind::Wechat));
    }

    #[test]
    fn errors_name_the_line() {
        let bad = GOOD.replace("auth = \"hmac\"", "auth = \"magic\"");
        let e = parse_sources(&bad).expect_err("bad auth");
        assert!(e.contains("line 2") && e.contains("magic"), "{e}");
        let bad = GOOD.replace("body = \"/text\"", "body = /text");
        let e = parse_sources(&bad).expect_err("bad toml");
        assert!(e.contains("line 9"), "{e}");
        let bad = GOOD.replace("body = \"/text\"", "body = \"text\"");
        let e = parse_sources(&bad).expect_err("bad pointer");
        assert!(e.contains("body") && e.contains("line 2"), "{e}");
        let bad = GOOD.replace("name = \"mp\"", "name = \"weibo\"");
        let e = parse_sources(&bad).expect_err("duplicate");
        assert!(e.contains("twice") && e.contains("line 12"), "{e}");
        let bad = GOOD.replace(
            "channel = \"social\"\nsecret = \"tok\"",
            "channel = \"fax\"\nsecret = \"tok\"",
        );
        let e = parse_sources(&bad).expect_err("bad channel");
        assert!(e.contains("fax"), "{e}");
    }
}
