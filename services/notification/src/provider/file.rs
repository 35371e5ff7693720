//! The `file` provider (the default): appends one JSON line per message to
//! `OMBUDS_NOTIFY_FILE` (default `<OMBUDS_DATA_DIR>/notifications.jsonl`):
//!
//! ```json
//! {"delivery_id":"…","ticket_no":"TS-…","complaint_id":"…","template":"acknowledgement",
//!  "medium":"email","to":"zhang@example.com","subject":"…","body":"…","sent_at":"2026-11-22T10:00:00.000Z"}
//! ```
//!
//! It is the stand-in mailbox for development and tests, so `to` is the real address;
//! nothing else the service writes (events, logs, its store) carries it. Each line is
//! written with one `write` call on a file opened for appending, under a lock, so lines
//! never interleave within the process.

use std::path::{Path, PathBuf};

use ombuds_platform::config::Config as Settings;
use tokio::{io::AsyncWriteExt, sync::Mutex};

use super::{Provider, ProviderError, ProviderReceipt};
use crate::message::OutgoingMessage;

/// Settings of the file provider.
#[derive(Debug, Clone)]
pub struct Config {
    /// `OMBUDS_NOTIFY_FILE`.
    pub path: PathBuf,
}

impl Config {
    pub fn from_config(cfg: &Settings, data_dir: &Path) -> Self {
        let path = cfg
            .get("OMBUDS_NOTIFY_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("notifications.jsonl"));
        Self { path }
    }
}

pub struct FileProvider {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileProvider {
    pub fn new(config: &Config) -> Self {
        Self {
            path: config.path.clone(),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Provider for FileProvider {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn send(&self, msg: &OutgoingMessage) -> Result<ProviderReceipt, ProviderError> {
        let line = serde_json::json!({
            "delivery_id": msg.delivery_id,
            "ticket_no": msg.ticket_no,
            "complaint_id": msg.complaint_id,
            "template": msg.template,
            "medium": msg.medium.as_str(),
            "to": msg.to,
            "subject": msg.subject,
            "body": msg.body,
            "sent_at": ombuds_platform::time::rfc3339(ombuds_platform::time::now_ms()),
        });
        let mut bytes = serde_json::to_vec(&line)
            .map_err(|e| ProviderError::Permanent(format!("cannot encode the message: {e}")))?;
        bytes.push(b'\n');
        let io = |e: std::io::Error| {
            ProviderError::Transient(format!("cannot append to {}: {e}", self.path.display()))
        };
        let _guard = self.lock.lock().await;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(io)?;
        file.write_all(&bytes).await.map_err(io)?;
        file.flush().await.map_err(io)?;
        Ok(ProviderReceipt::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Medium;

    #[tokio::test]
    async fn appends_one_json_line_per_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("mail.jsonl");
        let provider = FileProvider::new(&Config { path: path.clone() });
        for (i, to) in ["a@example.com", "13812345678"].into_iter().enumerate() {
            let msg = OutgoingMessage {
                delivery_id: format!("d{i}"),
                complaint_id: format!("c{i}"),
                ticket_no: format!("TS-{i}"),
                template: "acknowledgement".into(),
                medium: if i == 0 { Medium::Email } else { Medium::Sms },
                to: to.into(),
                subject: "subject".into(),
                body: "body".into(),
            };
            provider.send(&msg).await.expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["to"], "a@example.com");
        assert_eq!(lines[0]["medium"], "email");
        assert_eq!(lines[1]["medium"], "sms");
        assert_eq!(lines[1]["ticket_no"], "TS-1");
        assert!(lines[1]["sent_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')));
    }
}
