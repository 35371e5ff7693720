//! Transactional outbox. A service writes its state change and the events it owes in
//! one transaction ([`enqueue`]); the [`Relay`] publishes unpublished rows to
//! JetStream, waits for each ack and marks them published. A crash between commit and
//! publish only delays an event; a crash between publish and marking publishes it
//! again, and JetStream drops the copy because `Nats-Msg-Id` (the event id) repeats
//! within the stream's duplicate window. Published rows are pruned after
//! `OMBUDS_OUTBOX_RETENTION`.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{events::Event, metrics::Metrics, time::now_ms};

pub mod entity {
    //! The `outbox` table.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub event_id: String,
        pub subject: String,
        pub msg_type: String,
        pub complaint_id: String,
        pub payload: Vec<u8>,
        pub created_at: i64,
        pub published_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod migration {
    //! Creates `outbox`; every service's migrator includes it.
    use sea_orm_migration::prelude::*;

    pub struct CreateOutbox;

    impl MigrationName for CreateOutbox {
        fn name(&self) -> &str {
            "m20261122_000000_create_outbox"
        }
    }

    #[derive(DeriveIden)]
    enum Outbox {
        Table,
        Id,
        EventId,
        Subject,
        MsgType,
        ComplaintId,
        Payload,
        CreatedAt,
        PublishedAt,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for CreateOutbox {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Outbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Outbox::EventId)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Outbox::Subject).string().not_null())
                    .col(ColumnDef::new(Outbox::MsgType).string().not_null())
                    .col(ColumnDef::new(Outbox::ComplaintId).string().not_null())
                    .col(ColumnDef::new(Outbox::Payload).blob().not_null())
                    .col(ColumnDef::new(Outbox::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Outbox::PublishedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .if_not_exists()
                    .name("outbox_unpublished")
                    .table(Outbox::Table)
                    .col(Outbox::PublishedAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await
        }

        async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.drop_table(Table::drop().table(Outbox::Table).to_owned())
                .await
        }
    }
}

/// Writes an event to the outbox inside the caller's transaction.
pub async fn enqueue<C: ConnectionTrait, E: Event>(conn: &C, event: &E) -> Result<(), DbErr> {
    entity::Entity::insert(row(event))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Events owed by a batch, written with multi-row inserts by [`Pending::write`]: the
/// same rows as [`enqueue`] writes one at a time, for handlers that take many messages
/// in one transaction.
#[derive(Default)]
pub struct Pending(Vec<entity::ActiveModel>);

impl Pending {
    pub fn push<E: Event>(&mut self, event: &E) {
        self.0.push(row(event));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Inserts every pending event in the caller's transaction; returns how many.
    pub async fn write<C: ConnectionTrait>(self, conn: &C) -> Result<usize, DbErr> {
        let n = self.0.len();
        let mut rows = self.0;
        while !rows.is_empty() {
            // 7 values a row: 500 rows stay far below every parameter limit.
            let rest = rows.split_off(rows.len().min(500));
            entity::Entity::insert_many(std::mem::replace(&mut rows, rest))
                .exec_without_returning(conn)
                .await?;
        }
        Ok(n)
    }
}

fn row<E: Event>(event: &E) -> entity::ActiveModel {
    let meta = event.meta().cloned().unwrap_or_default();
    entity::ActiveModel {
        event_id: Set(meta.event_id),
        subject: Set(E::SUBJECT.to_owned()),
        msg_type: Set(E::TYPE.to_owned()),
        complaint_id: Set(meta.complaint_id),
        payload: Set(event.encode_to_vec()),
        created_at: Set(now_ms()),
        ..Default::default()
    }
}

/// Wakes the relay right after a commit, so events leave without waiting for a poll.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Publishes outbox rows to JetStream.
pub struct Relay {
    pub db: DatabaseConnection,
    pub js: jetstream::Context,
    pub signal: OutboxSignal,
    pub metrics: Arc<Metrics>,
    pub retention: Duration,
    pub batch: u64,
}

/// The relay flushes at most this often while it keeps up (one that found a full batch
/// goes on at once). Under load, rows are then published in groups rather than a few
/// after every commit, so the relay's reads and updates interrupt the store less often:
/// on SQLite, one connection shared with the service's own consumers. An event waits
/// at most this much longer; the first after a quiet spell does not wait.
pub const PACE: Duration = Duration::from_millis(20);

impl Relay {
    /// Runs until `stop` is cancelled, then publishes whatever is still pending once more.
    pub async fn run(self, stop: CancellationToken) {
        let mut prune = tokio::time::interval(Duration::from_secs(60));
        loop {
            let started = tokio::time::Instant::now();
            match self.flush_once().await {
                Ok(n) if n as u64 >= self.batch => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay: publish failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.cancelled() => {}
                    }
                }
            }
            tokio::select! {
                _ = self.signal.0.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = prune.tick() => self.prune().await,
                _ = stop.cancelled() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep_until(started + PACE) => {}
                _ = stop.cancelled() => {}
            }
        }
        for _ in 0..100 {
            match self.flush_once().await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay: events left unpublished at shutdown; they go out at next start");
                    break;
                }
            }
        }
    }

    /// Publishes one batch; returns how many rows were published.
    pub async fn flush_once(&self) -> anyhow::Result<usize> {
        let rows = entity::Entity::find()
            .filter(entity::Column::PublishedAt.is_null())
            .order_by_asc(entity::Column::Id)
            .limit(self.batch)
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut pending = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            let headers = crate::events::headers(&row.event_id, &row.msg_type, &row.complaint_id);
            match self
                .js
                .publish_with_headers(row.subject.clone(), headers, row.payload.clone().into())
                .await
            {
                Ok(ack) => pending.push((row.id, ack)),
                Err(e) => {
                    failure = Some(anyhow::anyhow!("publishing {}: {e}", row.subject));
                    break;
                }
            }
        }
        let mut done = Vec::with_capacity(pending.len());
        for (id, ack) in pending {
            match ack.await {
                Ok(_) => done.push(id),
                Err(e) => {
                    failure.get_or_insert_with(|| anyhow::anyhow!("awaiting stream ack: {e}"));
                }
            }
        }
        if !done.is_empty() {
            entity::Entity::update_many()
                .col_expr(entity::Column::PublishedAt, Expr::value(now_ms()))
                .filter(entity::Column::Id.is_in(done.iter().copied()))
                .exec(&self.db)
                .await?;
            self.metrics.outbox_published.inc_by(done.len() as u64);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done.len()),
        }
    }

    async fn prune(&self) {
        let cutoff = now_ms() - self.retention.as_millis() as i64;
        if let Err(e) = entity::Entity::delete_many()
            .filter(entity::Column::PublishedAt.lt(cutoff))
            .exec(&self.db)
            .await
        {
            tracing::warn!(error = %e, "outbox: pruning published rows failed");
        }
    }
}
