//! Store connection. The embedded default is one SQLite file per service under
//! `OMBUDS_DATA_DIR`; a `postgres://` `DATABASE_URL` selects PostgreSQL. Migrations
//! (sea-orm-migration) run at start.
//!
//! SQLite allows one writer at a time, so the pool holds a single connection: writes
//! queue in the pool instead of failing with "database is locked", and the file runs in
//! WAL mode with `synchronous=NORMAL` (durable across process crashes). Temporary
//! journals (savepoints, multi-row statements) stay in memory and the page cache is
//! 32 MiB. The WAL is copied into the database file in the background
//! ([`checkpoint_wal`], started by the kit) rather than inside whichever commit
//! crosses the autocheckpoint size, which stalled that commit, and every write queued
//! behind it, for tens of milliseconds; the writer's own autocheckpoint (10,000 pages)
//! remains as a bound.

use std::{path::Path, time::Duration};

use sea_orm::{
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, SqlErr, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tokio_util::sync::CancellationToken;

/// `sqlite://<data_dir>/<service>.db?mode=rwc`
pub fn default_sqlite_url(data_dir: &Path, service: &str) -> String {
    format!(
        "sqlite://{}/{service}.db?mode=rwc",
        data_dir.display().to_string().trim_end_matches('/')
    )
}

/// Whether the URL names a SQLite database.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Connects, creating the SQLite file's folder when needed.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if is_sqlite(url) {
        if let Some(dir) = sqlite_path(url).and_then(|p| p.parent().map(Path::to_path_buf)) {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        opts.max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("temp_store", "memory")
                    .pragma("cache_size", "-32768")
                    .pragma("wal_autocheckpoint", "10000")
                    .create_if_missing(true)
            });
    } else {
        opts.max_connections(16).min_connections(1);
    }
    Database::connect(opts).await
}

/// How often [`checkpoint_wal`] checkpoints.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// SQLite only: checkpoints the WAL every `every` on a connection of its own until
/// `stop` (see the module comment). The checkpoints are PASSIVE: they never wait for
/// or block the writer or readers; what a checkpoint leaves, the next one takes.
pub async fn checkpoint_wal(url: String, every: Duration, stop: CancellationToken) {
    let db = match connect(&url).await {
        Ok(db) => db,
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpointer: cannot connect; commits checkpoint instead");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => break,
        }
        if let Err(e) = db
            .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
            .await
        {
            tracing::debug!(error = %e, "WAL checkpoint failed; trying again");
        }
    }
    let _ = db.close().await;
}

/// Connects and applies every pending migration of `M`, in one transaction that first
/// takes a lock (an advisory lock on PostgreSQL, the write lock on SQLite), so replicas
/// starting together migrate one after the other instead of colliding.
pub async fn connect_and_migrate<M: MigratorTrait>(url: &str) -> Result<DatabaseConnection, DbErr> {
    if !is_sqlite(url) {
        let db = connect(url).await?;
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        M::up(&txn, None).await?;
        txn.commit().await?;
        return Ok(db);
    }
    // Another process may be opening or migrating the same file: SQLite then answers
    // "database is locked" at once for some steps (switching to WAL, upgrading a read
    // to a write), so those are retried for a while.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match migrate_sqlite::<M>(url).await {
            Ok(db) => return Ok(db),
            Err(e) if attempt < 100 && is_locked(&e) => {
                tokio::time::sleep(Duration::from_millis(20 + 10 * attempt.min(20))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn migrate_sqlite<M: MigratorTrait>(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    // Take the write lock first, then migrate inside that transaction.
    let txn = db.begin().await?;
    txn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS ombuds_migration_lock (id INTEGER PRIMARY KEY)",
    )
    .await?;
    txn.execute_unprepared("DELETE FROM ombuds_migration_lock")
        .await?;
    M::up(&txn, None).await?;
    txn.commit().await?;
    Ok(db)
}

fn is_locked(e: &DbErr) -> bool {
    let text = e.to_string();
    text.contains("database is locked") || text.contains("database table is locked")
}

/// The advisory lock key held while migrating ("OMBUDS" in ASCII).
const MIGRATION_LOCK: i64 = 0x4F4D_4255_4453;

fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Column definitions every service's migrations use. All are NOT NULL with an empty
/// default, which reads the same on SQLite and PostgreSQL and lets a later migration
/// add a column to a table that already has rows.
pub mod schema {
    use sea_orm_migration::prelude::{ColumnDef, IntoIden};

    /// A short string (`VARCHAR`), default `''`.
    pub fn string(c: impl IntoIden) -> ColumnDef {
        ColumnDef::new(c).string().not_null().default("").to_owned()
    }

    /// Free text (`TEXT`), default `''`.
    pub fn text(c: impl IntoIden) -> ColumnDef {
        ColumnDef::new(c).text().not_null().default("").to_owned()
    }

    /// A 64-bit integer, default 0 (instants are milliseconds since the epoch).
    pub fn bigint(c: impl IntoIden) -> ColumnDef {
        ColumnDef::new(c)
            .big_integer()
            .not_null()
            .default(0)
            .to_owned()
    }
}

/// Whether the error is a unique-constraint violation ("already recorded").
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://var/intake.db?mode=rwc"),
            Some(Path::new("var/intake.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(
            default_sqlite_url(Path::new("var/"), "routing"),
            "sqlite://var/routing.db?mode=rwc"
        );
    }
}
