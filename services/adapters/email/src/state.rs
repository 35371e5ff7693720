//! The adapter's memory across restarts: the mailbox's UIDVALIDITY and the last UID handled,
//! in `<OMBUDS_DATA_DIR>/email-adapter.state` (one line: `<uidvalidity> <last uid>`), written
//! atomically (temporary file + rename) after every message. A restart resumes after that UID;
//! a changed UIDVALIDITY means the server renumbered the mailbox, so everything is read again
//! (JetStream drops the repeats by Message-ID).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// The state file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved position; a missing file is the start. A damaged file is an error naming
    /// the file (rather than silently republishing the whole mailbox).
    pub fn load(&self) -> anyhow::Result<Position> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Position::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let mut parts = text.split_whitespace();
        let mut number = |what: &str| {
            parts
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .with_context(|| {
                    format!(
                        "{} is damaged: expected `<uidvalidity> <last uid>`, no valid {what}",
                        self.path.display()
                    )
                })
        };
        Ok(Position {
            uid_validity: number("uidvalidity")?,
            last_uid: number("last uid")?,
        })
    }

    pub fn save(&self, pos: Position) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = self.path.with_extension("state.tmp");
        std::fs::write(&tmp, format!("{} {}\n", pos.uid_validity, pos.last_uid))
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("replacing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = StateFile::new(dir.path().join("sub/email-adapter.state"));
        assert_eq!(f.load().expect("missing is start"), Position::default());
        let p = Position {
            uid_validity: 17,
            last_uid: 42,
        };
        f.save(p).expect("save");
        assert_eq!(f.load().expect("load"), p);
        std::fs::write(f.path(), "garbage").expect("write");
        let err = f.load().expect_err("damaged");
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
