//! `clocks` (unique per complaint and target, indexed for the timer) and `plans`.

use ombuds_platform::db::schema::{bigint, string, text};
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
    Calendar,
    Within,
    StopsOn,
    State,
    StartedAt,
    Deadline,
    AllowanceMs,
    ConsumedMs,
    SegmentStart,
    WarnAt,
    WarnedPct,
    NextFireAt,
    EndedAt,
    PausedAt,
    Department,
    History,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    ComplaintId,
    TicketNo,
    Policy,
    Targets,
    Seen,
    Department,
    UpdatedAt,
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
                .col(string(Clocks::ComplaintId))
                .col(string(Clocks::TicketNo))
                .col(string(Clocks::Target))
                .col(string(Clocks::Policy))
                .col(string(Clocks::Calendar))
                .col(string(Clocks::Within))
                .col(string(Clocks::StopsOn))
                .col(string(Clocks::State))
                .col(bigint(Clocks::StartedAt))
                .col(bigint(Clocks::Deadline))
                .col(bigint(Clocks::AllowanceMs))
                .col(bigint(Clocks::ConsumedMs))
                .col(bigint(Clocks::SegmentStart))
                .col(string(Clocks::WarnAt))
                .col(
                    ColumnDef::new(Clocks::WarnedPct)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(bigint(Clocks::NextFireAt))
                .col(bigint(Clocks::EndedAt))
                .col(bigint(Clocks::PausedAt))
                .col(string(Clocks::Department))
                .col(text(Clocks::History))
                .col(bigint(Clocks::UpdatedAt))
                .to_owned(),
        )
        .await?;
        for (name, cols, unique) in [
            (
                "clocks_complaint_target",
                vec![Clocks::ComplaintId, Clocks::Target],
                true,
            ),
            ("clocks_due", vec![Clocks::State, Clocks::NextFireAt], false),
            ("clocks_ticket", vec![Clocks::TicketNo], false),
        ] {
            let mut idx = Index::create();
            idx.if_not_exists().name(name).table(Clocks::Table);
            for c in cols {
                idx.col(c);
            }
            if unique {
                idx.unique();
            }
            m.create_index(idx.to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(Plans::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Plans::ComplaintId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(string(Plans::TicketNo))
                .col(string(Plans::Policy))
                .col(text(Plans::Targets))
                .col(text(Plans::Seen))
                .col(string(Plans::Department))
                .col(bigint(Plans::UpdatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Plans::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Clocks::Table).to_owned())
            .await
    }
}
