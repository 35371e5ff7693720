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

/// Records many events for `consumer` in the caller's transaction, with one
/// `INSERT … ON CONFLICT DO NOTHING RETURNING event_id` a chunk (no look-up first: on a
/// busy inbox that read is what costs). Answers, in the order of `event_ids`, whether
/// each is seen for the first time: `false` for an id handled before, or repeated
/// earlier in the slice.
pub async fn record_many<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    event_ids: &[&str],
) -> Result<Vec<bool>, DbErr> {
    use sea_orm::sea_query::Query;
    use std::collections::HashSet;

    // Repeats within the slice are answered here; the store sees each id once.
    let mut unique: Vec<&str> = Vec::with_capacity(event_ids.len());
    let mut first = HashSet::with_capacity(event_ids.len());
    for id in event_ids {
        if first.insert(*id) {
            unique.push(id);
        }
    }
    let now = crate::time::now_ms();
    let backend = conn.get_database_backend();
    let mut inserted: HashSet<String> = HashSet::with_capacity(unique.len());
    for chunk in unique.chunks(CHUNK) {
        let mut q = Query::insert();
        q.into_table(entity::Entity).columns([
            entity::Column::Consumer,
            entity::Column::EventId,
            entity::Column::HandledAt,
        ]);
        for id in chunk {
            q.values_panic([consumer.into(), (*id).into(), now.into()]);
        }
        q.on_conflict(
            OnConflict::columns([entity::Column::Consumer, entity::Column::EventId])
                .do_nothing()
                .to_owned(),
        )
        .returning_col(entity::Column::EventId);
        for row in conn.query_all(backend.build(&q)).await? {
            inserted.insert(row.try_get::<String>("", "event_id")?);
        }
    }
    Ok(event_ids.iter().map(|id| inserted.remove(*id)).collect())
}
