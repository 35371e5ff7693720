//! Creates `complaint_facts`, the per-complaint projection.

use ombuds_platform::db::schema::string;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_create_complaint_facts"
    }
}

#[derive(DeriveIden)]
enum ComplaintFacts {
    Table,
    ComplaintId,
    TicketNo,
    Channel,
    Kind,
    Category,
    Priority,
    Department,
    DepartmentVersion,
    Status,
    StatusVersion,
    Received,
    ReceivedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ComplaintFacts as F;
        m.create_table(
            Table::create()
                .table(F::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(F::ComplaintId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(string(F::TicketNo))
                .col(string(F::Channel))
                .col(string(F::Kind))
                .col(string(F::Category))
                .col(ColumnDef::new(F::Priority).integer().not_null().default(0))
                .col(string(F::Department))
                .col(
                    ColumnDef::new(F::DepartmentVersion)
                        .big_integer()
                        .not_null()
                        .default(-1),
                )
                .col(string(F::Status))
                .col(
                    ColumnDef::new(F::StatusVersion)
                        .big_integer()
                        .not_null()
                        .default(-1),
                )
                .col(
                    ColumnDef::new(F::Received)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(ColumnDef::new(F::ReceivedAt).big_integer().null())
                .col(ColumnDef::new(F::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ComplaintFacts::Table).to_owned())
            .await
    }
}
