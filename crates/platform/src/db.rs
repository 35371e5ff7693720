//! Store connection. The embedded default is one SQLite file per service under
//! `OMBUDS_DATA_DIR`; a `postgres://` `DATABASE_URL` selects PostgreSQL. Migrations
//! (sea-orm-migration) run at start.
//!
//! SQLite allows one writer at a time, so the pool holds a single connection: writes
//! queue in the pool instead of failing with "database is locked", and the file runs in
//! WAL mode with `synchronous=NORMAL` (durable across process crashes).

use std::{path::Path, time::Duration};

use sea_orm::{
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

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
                    .create_if_missing(true)
            });
    } else {
        opts.max_connections(16).min_connections(1);
    }
    Database::connect(opts).await
}

/// Connects and applies every pending migration of `M`. On PostgreSQL the migrations
/// run in one transaction holding an advisory lock, so replicas starting together
/// migrate one after the other instead of colliding on the catalog.
pub async fn connect_and_migrate<M: MigratorTrait>(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        M::up(&txn, None).await?;
        txn.commit().await?;
    } else {
        M::up(&db, None).await?;
    }
    Ok(db)
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
