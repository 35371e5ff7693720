//! `clocks`, unique per (complaint, target), indexed by (state, deadline) for the timer.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_create_clocks"
    }
}

#[derive(DeriveIden)]
enum Clocks {
    Table,
    ClockId,
    ComplaintId,
    TicketNo,
    Target,
    Policy,
    State,
    StartedAt,
    Deadline,
    EndedAt,
    Department,
    UpdatedAt,
}

fn text(c: Clocks) -> ColumnDef {
    ColumnDef::new(c).string().not_null().default("").to_owned()
}

fn bigint(c: Clocks) -> ColumnDef {
    ColumnDef::new(c)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Clocks::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Clocks::ClockId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(text(Clocks::ComplaintId))
                .col(text(Clocks::TicketNo))
                .col(text(Clocks::Target))
                .col(text(Clocks::Policy))
                .col(text(Clocks::State))
                .col(bigint(Clocks::StartedAt))
                .col(bigint(Clocks::Deadline))
                .col(bigint(Clocks::EndedAt))
                .col(text(Clocks::Department))
                .col(bigint(Clocks::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("clocks_complaint_target")
                .table(Clocks::Table)
                .col(Clocks::ComplaintId)
                .col(Clocks::Target)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("clocks_due")
                .table(Clocks::Table)
                .col(Clocks::State)
                .col(Clocks::Deadline)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("clocks_ticket")
                .table(Clocks::Table)
                .col(Clocks::TicketNo)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Clocks::Table).to_owned())
            .await
    }
}
