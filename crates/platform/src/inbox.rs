//! Idempotent consumer. A consumer records each handled event id in `inbox` in the
//! same transaction as the effect and acks only after the commit; a redelivered event
//! finds its id and is acked without a second effect.

use sea_orm::{
    sea_query::OnConflict, ActiveValue::Set, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, TransactionTrait,
};

pub mod entity {
    //! The `inbox` table: (consumer, event id) pairs already handled.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub handled_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod migration {
    //! Creates `inbox`; every service's migrator includes it.
    use sea_orm_migration::prelude::*;

    pub struct CreateInbox;

    impl MigrationName for CreateInbox {
        fn name(&self) -> &str {
            "m20261122_000000_create_inbox"
        }
    }

    #[derive(DeriveIden)]
    enum Inbox {
        Table,
        Consumer,
        EventId,
        HandledAt,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for CreateInbox {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table(Inbox::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Inbox::Consumer).string().not_null())
                    .col(ColumnDef::new(Inbox::EventId).string().not_null())
                    .col(ColumnDef::new(Inbox::HandledAt).big_integer().not_null())
                    .primary_key(Index::create().col(Inbox::Consumer).col(Inbox::EventId))
                    .to_owned(),
            )
            .await
        }

        async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.drop_table(Table::drop().table(Inbox::Table).to_owned())
                .await
        }
    }
}

/// Records that `consumer` handled `event_id`, inside the caller's transaction.
/// `false` means it had been handled before: do nothing more and let it be acked.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    event_id: &str,
) -> Result<bool, DbErr> {
    let inserted = entity::Entity::insert(entity::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(event_id.to_owned()),
        handled_at: Set(crate::time::now_ms()),
    })
    .on_conflict(
        OnConflict::columns([entity::Column::Consumer, entity::Column::EventId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted > 0)
}

/// Begins the transaction that handles `event_id` for `consumer`, with the inbox row
/// already written in it. `None` means the event was handled before: ack it and move on.
/// The caller applies its effect with the returned transaction and commits.
pub async fn begin_once(
    db: &DatabaseConnection,
    consumer: &str,
    event_id: &str,
) -> Result<Option<DatabaseTransaction>, DbErr> {
    let txn = db.begin().await?;
    if !record(&txn, consumer, event_id).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    Ok(Some(txn))
}

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 1000;

/// Records many events for `consumer` in the caller's transaction with a few
/// multi-row statements. Answers, in the order of `event_ids`, whether each is seen for
/// the first time: `false` for an id handled before, or repeated earlier in the slice.
pub async fn record_many<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    event_ids: &[&str],
) -> Result<Vec<bool>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    use std::collections::HashSet;

    let mut seen: HashSet<String> = HashSet::with_capacity(event_ids.len());
    for chunk in event_ids.chunks(CHUNK) {
        let found: Vec<String> = entity::Entity::find()
            .select_only()
            .column(entity::Column::EventId)
            .filter(entity::Column::Consumer.eq(consumer))
            .filter(entity::Column::EventId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        seen.extend(found);
    }
    let now = crate::time::now_ms();
    let mut fresh = Vec::with_capacity(event_ids.len());
    let mut rows = Vec::new();
    for id in event_ids {
        let new = seen.insert((*id).to_owned());
        fresh.push(new);
        if new {
            rows.push(entity::ActiveModel {
                consumer: Set(consumer.to_owned()),
                event_id: Set((*id).to_owned()),
                handled_at: Set(now),
            });
        }
    }
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(CHUNK));
        entity::Entity::insert_many(std::mem::replace(&mut rows, rest))
            .exec_without_returning(conn)
            .await?;
    }
    Ok(fresh)
}
