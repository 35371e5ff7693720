//! Configuration: built-in defaults, then an optional TOML file, then environment
//! variables, read into typed settings.
//!
//! Every setting has an environment variable name (`NATS_URL`, `DATABASE_URL`,
//! `OMBUDS_HTTP_ADDR`, ...). The file named by `OMBUDS_CONFIG` may set the same names:
//! top-level keys apply to every service, keys in a `[<service>]` table (for example
//! `[intake]`) to that service only. The environment wins over the file. A value that
//! does not parse is an error that names the variable and the value.

use std::{
    collections::HashMap,
    fmt::Display,
    net::SocketAddr,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

/// A configuration problem, naming the variable or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}={value:?} is invalid: {message}")]
    Invalid {
        key: String,
        value: String,
        message: String,
    },
}

/// The merged key/value view of defaults, file and environment for one service.
#[derive(Debug, Clone)]
pub struct Config {
    service: String,
    values: HashMap<String, String>,
}

impl Config {
    /// Loads the file named by `OMBUDS_CONFIG` (if any) and the process environment.
    pub fn load(service: &str) -> Result<Self, ConfigError> {
        let mut values = HashMap::new();
        if let Ok(path) = std::env::var("OMBUDS_CONFIG") {
            if !path.is_empty() {
                values.extend(read_file(Path::new(&path), service)?);
            }
        }
        values.extend(std::env::vars());
        Ok(Self {
            service: service.to_owned(),
            values,
        })
    }

    /// A configuration from explicit pairs only (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        service: &str,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            service: service.to_owned(),
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The raw value, if set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_owned()
    }

    /// Parses a value with `FromStr`, or returns `default` when unset.
    pub fn parse<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
                key: key.to_owned(),
                value: v.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    /// Parses a duration such as `250ms`, `5s`, `10m`, `72h`, `3d` (a bare number is seconds).
    pub fn duration(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_duration(v).map_err(|message| ConfigError::Invalid {
                key: key.to_owned(),
                value: v.to_owned(),
                message,
            }),
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    key: key.to_owned(),
                    value: v,
                    message: "expected true or false".into(),
                }),
            },
        }
    }
}

fn read_file(path: &Path, service: &str) -> Result<HashMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let mut out = HashMap::new();
    let mut section = HashMap::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(t) if key == service => {
                for (k, v) in t {
                    if let Some(s) = scalar(&v) {
                        section.insert(k, s);
                    }
                }
            }
            toml::Value::Table(_) => {}
            v => {
                if let Some(s) = scalar(&v) {
                    out.insert(key, s);
                }
            }
        }
    }
    out.extend(section);
    Ok(out)
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses `250ms`, `5s`, `10m`, `72h`, `3d`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a number with a unit (ms, s, m, h, d), got {t:?}"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        u => return Err(format!("unknown unit {u:?}: use ms, s, m, h or d")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err("must be a non-negative duration".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "pretty" | "human" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected text or json".into()),
        }
    }
}

/// Settings every service has. Defaults are in DESIGN.md, "Defaults an operator can rely on".
#[derive(Debug, Clone)]
pub struct CommonSettings {
    /// Service name, used for the SQLite file, the consumer names and the dead-letter subject.
    pub service: String,
    /// `NATS_URL` (default `nats://127.0.0.1:4222`).
    pub nats_url: String,
    /// `DATABASE_URL` (default `sqlite://<OMBUDS_DATA_DIR>/<service>.db?mode=rwc`).
    pub database_url: String,
    /// `OMBUDS_DATA_DIR` (default `var`).
    pub data_dir: PathBuf,
    /// `OMBUDS_HTTP_ADDR`: health, metrics and the service's own HTTP API.
    pub http_addr: SocketAddr,
    /// `OMBUDS_GRPC_ADDR`.
    pub grpc_addr: SocketAddr,
    /// `OMBUDS_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `OMBUDS_SHUTDOWN_GRACE`: how long in-flight work may take after SIGTERM (default 20s).
    pub shutdown_grace: Duration,
    /// `OMBUDS_MAX_DELIVER`: deliveries of one message before it is dead-lettered (default 5).
    pub max_deliver: i64,
    /// `OMBUDS_OUTBOX_RETENTION`: how long published outbox rows are kept (default 24h).
    pub outbox_retention: Duration,
}

impl CommonSettings {
    pub fn from_config(
        cfg: &Config,
        default_http_port: u16,
        default_grpc_port: u16,
    ) -> Result<Self, ConfigError> {
        let service = cfg.service().to_owned();
        let data_dir: PathBuf = cfg.string("OMBUDS_DATA_DIR", "var").into();
        let database_url = cfg
            .get("DATABASE_URL")
            .map(str::to_owned)
            .unwrap_or_else(|| crate::db::default_sqlite_url(&data_dir, &service));
        let localhost = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Ok(Self {
            nats_url: cfg.string("NATS_URL", "nats://127.0.0.1:4222"),
            database_url,
            data_dir,
            http_addr: cfg.parse("OMBUDS_HTTP_ADDR", localhost(default_http_port))?,
            grpc_addr: cfg.parse("OMBUDS_GRPC_ADDR", localhost(default_grpc_port))?,
            log_format: cfg.parse("OMBUDS_LOG_FORMAT", LogFormat::Text)?,
            shutdown_grace: cfg.duration("OMBUDS_SHUTDOWN_GRACE", Duration::from_secs(20))?,
            max_deliver: cfg.parse("OMBUDS_MAX_DELIVER", 5)?,
            outbox_retention: cfg
                .duration("OMBUDS_OUTBOX_RETENTION", Duration::from_secs(24 * 3600))?,
            service,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn file_sections_override_top_level_and_env_overrides_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ombuds.toml");
        std::fs::write(
            &path,
            "NATS_URL = \"nats://a:1\"\nOMBUDS_MAX_DELIVER = 7\n[intake]\nNATS_URL = \"nats://b:2\"\n[routing]\nNATS_URL = \"nats://c:3\"\n",
        )
        .expect("write");
        let values = read_file(&path, "intake").expect("read");
        assert_eq!(values["NATS_URL"], "nats://b:2");
        assert_eq!(values["OMBUDS_MAX_DELIVER"], "7");
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cfg = Config::from_pairs("intake", [("OMBUDS_HTTP_ADDR", "not-an-addr")]);
        let err = CommonSettings::from_config(&cfg, 8081, 50051).expect_err("must fail");
        assert!(err.to_string().contains("OMBUDS_HTTP_ADDR"), "{err}");
    }

    #[test]
    fn defaults_follow_the_design() {
        let cfg = Config::from_pairs("intake", Vec::<(String, String)>::new());
        let s = CommonSettings::from_config(&cfg, 8081, 50051).expect("defaults");
        assert_eq!(s.http_addr.port(), 8081);
        assert_eq!(s.grpc_addr.port(), 50051);
        assert_eq!(s.nats_url, "nats://127.0.0.1:4222");
        assert!(s.database_url.starts_with("sqlite://var/intake.db"));
    }
}
