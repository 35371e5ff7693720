//! Creates `deliveries` (see [`crate::entity::delivery`]) with the unique
//! `(complaint_id, template)` pair that made acknowledgements exactly-once (replaced by
//! the unique `dedup_key` in `m20261122_000002_delivery_keys`), and the index the
//! dispatcher uses to find due rows.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    DeliveryId,
    ComplaintId,
    TicketNo,
    ComplaintVersion,
    Template,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    ClaimToken,
    Medium,
    Provider,
    RecipientMasked,
    LastError,
    CreatedAt,
    UpdatedAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Deliveries::DeliveryId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Deliveries::ComplaintId).string().not_null())
                .col(ColumnDef::new(Deliveries::TicketNo).string().not_null())
                .col(
                    ColumnDef::new(Deliveries::ComplaintVersion)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Deliveries::Template).string().not_null())
                .col(ColumnDef::new(Deliveries::Status).string().not_null())
                .col(ColumnDef::new(Deliveries::Attempts).integer().not_null())
                .col(
                    ColumnDef::new(Deliveries::NextAttemptAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Deliveries::ClaimedUntil)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(Deliveries::ClaimToken).string().null())
                .col(ColumnDef::new(Deliveries::Medium).string().null())
                .col(ColumnDef::new(Deliveries::Provider).string().null())
                .col(ColumnDef::new(Deliveries::RecipientMasked).string().null())
                .col(ColumnDef::new(Deliveries::LastError).text().null())
                .col(
                    ColumnDef::new(Deliveries::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Deliveries::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Deliveries::SentAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("deliveries_complaint_template")
                .table(Deliveries::Table)
                .col(Deliveries::ComplaintId)
                .col(Deliveries::Template)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("deliveries_due")
                .table(Deliveries::Table)
                .col(Deliveries::Status)
                .col(Deliveries::NextAttemptAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Deliveries::Table).to_owned())
            .await
    }
}
