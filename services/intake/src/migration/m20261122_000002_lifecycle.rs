//! The lifecycle's tables: `messages` (the thread: notes, replies, the customer's
//! answers), `history` (one row per version of a complaint), and the resolution,
//! satisfaction and first-reply columns of `complaints`.

use ombuds_platform::db::schema::{bigint, string, text};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_lifecycle"
    }
}

#[derive(DeriveIden)]
enum Complaints {
    Table,
    FirstReplyAt,
    ResolvedAt,
    ResolvedBy,
    ResolutionResult,
    ResolutionCause,
    ResolutionMeasures,
    FirstContact,
    SatisfactionScore,
    SatisfactionComment,
    SatisfactionAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    MessageId,
    ComplaintId,
    Kind,
    Author,
    Body,
    Visible,
    CreatedAt,
}

#[derive(DeriveIden)]
enum History {
    Table,
    ComplaintId,
    Version,
    FromStatus,
    ToStatus,
    Action,
    Actor,
    Reason,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [
            bigint(Complaints::FirstReplyAt),
            bigint(Complaints::ResolvedAt),
            string(Complaints::ResolvedBy),
            text(Complaints::ResolutionResult),
            text(Complaints::ResolutionCause),
            text(Complaints::ResolutionMeasures),
            ColumnDef::new(Complaints::FirstContact)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Complaints::SatisfactionScore)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            text(Complaints::SatisfactionComment),
            bigint(Complaints::SatisfactionAt),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Complaints::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(Messages::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Messages::MessageId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(string(Messages::ComplaintId))
                .col(string(Messages::Kind))
                .col(string(Messages::Author))
                .col(ColumnDef::new(Messages::Body).text().not_null())
                .col(
                    ColumnDef::new(Messages::Visible)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(bigint(Messages::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("messages_complaint")
                .table(Messages::Table)
                .col(Messages::ComplaintId)
                .col(Messages::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(History::Table)
                .if_not_exists()
                .col(ColumnDef::new(History::ComplaintId).string().not_null())
                .col(ColumnDef::new(History::Version).big_integer().not_null())
                .col(string(History::FromStatus))
                .col(string(History::ToStatus))
                .col(string(History::Action))
                .col(string(History::Actor))
                .col(text(History::Reason))
                .col(bigint(History::At))
                .primary_key(
                    Index::create()
                        .col(History::ComplaintId)
                        .col(History::Version),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [History::Table.into_iden(), Messages::Table.into_iden()] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        for col in [
            Complaints::FirstReplyAt,
            Complaints::ResolvedAt,
            Complaints::ResolvedBy,
            Complaints::ResolutionResult,
            Complaints::ResolutionCause,
            Complaints::ResolutionMeasures,
            Complaints::FirstContact,
            Complaints::SatisfactionScore,
            Complaints::SatisfactionComment,
            Complaints::SatisfactionAt,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Complaints::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
