//! Lets one complaint owe several messages of one template (a delay notice per SLA clock,
//! a staff alert per threshold, a result per resolution): adds `dedup_key` (unique,
//! naming what a message is owed for) and `params` (the template's facts as JSON), and
//! replaces the unique `(complaint_id, template)` pair with the unique `dedup_key`.
//! Existing rows are acknowledgements and get `acknowledgement:<complaint_id>`, the key
//! the consumer writes for them now.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    ComplaintId,
    Template,
    DedupKey,
    Params,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One change per ALTER TABLE: SQLite allows no more.
        m.alter_table(
            Table::alter()
                .table(Deliveries::Table)
                .add_column(
                    ColumnDef::new(Deliveries::DedupKey)
                        .string()
                        .not_null()
                        .default(""),
                )
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Deliveries::Table)
                .add_column(ColumnDef::new(Deliveries::Params).text().null())
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE deliveries SET dedup_key = template || ':' || complaint_id \
                 WHERE dedup_key = ''",
            )
            .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("deliveries_dedup_key")
                .table(Deliveries::Table)
                .col(Deliveries::DedupKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .if_exists()
                .name("deliveries_complaint_template")
                .to_owned(),
        )
        .await?;
        // Listing a complaint's deliveries still goes by complaint.
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("deliveries_complaint")
                .table(Deliveries::Table)
                .col(Deliveries::ComplaintId)
                .to_owned(),
        )
        .await
    }

    /// Back to one message per `(complaint_id, template)`: fails while a complaint holds
    /// two of one template (delete the extra rows first).
    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
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
        m.drop_index(
            Index::drop()
                .if_exists()
                .name("deliveries_complaint")
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .if_exists()
                .name("deliveries_dedup_key")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Deliveries::Table)
                .drop_column(Deliveries::Params)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Deliveries::Table)
                .drop_column(Deliveries::DedupKey)
                .to_owned(),
        )
        .await
    }
}
