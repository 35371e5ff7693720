//! Creates `sla_clock_facts`, the per-clock projection behind the on-time rates.

use ombuds_platform::db::schema::string;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000003_create_sla_clock_facts"
    }
}

#[derive(DeriveIden)]
enum SlaClockFacts {
    Table,
    ClockId,
    ComplaintId,
    Target,
    Outcome,
    Breached,
    MarginSeconds,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use SlaClockFacts as F;
        m.create_table(
            Table::create()
                .table(F::Table)
                .if_not_exists()
                .col(ColumnDef::new(F::ClockId).string().not_null().primary_key())
                .col(string(F::ComplaintId))
                .col(string(F::Target))
                .col(string(F::Outcome))
                .col(
                    ColumnDef::new(F::Breached)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(ColumnDef::new(F::MarginSeconds).big_integer().null())
                .col(ColumnDef::new(F::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("sla_clock_facts_complaint")
                .table(F::Table)
                .col(F::ComplaintId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SlaClockFacts::Table).to_owned())
            .await
    }
}
