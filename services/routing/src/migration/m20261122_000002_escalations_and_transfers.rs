//! Escalation and transfer forms: `escalations` (one row per rung a complaint went up,
//! unique per complaint and level, so a level is never recorded twice), `transfers`
//! (the transfer forms), and on `assignments` the current escalation level and
//! recipient and the complaint version routing knows.

use ombuds_platform::db::schema::{bigint, string};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_escalations_and_transfers"
    }
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    ComplaintVersion,
    EscalationLevel,
    EscalatedTo,
}

#[derive(DeriveIden)]
enum Escalations {
    Table,
    EscalationId,
    ComplaintId,
    Level,
    EscalatedTo,
    Reason,
    Trigger,
    ClockId,
    Target,
    At,
}

#[derive(DeriveIden)]
enum Transfers {
    Table,
    TransferId,
    ComplaintId,
    FromDepartment,
    ToDepartment,
    Requirement,
    Deadline,
    Actor,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for mut col in [
            bigint(Assignments::ComplaintVersion),
            ColumnDef::new(Assignments::EscalationLevel)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            string(Assignments::EscalatedTo),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Assignments::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(Escalations::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Escalations::EscalationId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Escalations::ComplaintId).string().not_null())
                .col(ColumnDef::new(Escalations::Level).integer().not_null())
                .col(string(Escalations::EscalatedTo))
                .col(ColumnDef::new(Escalations::Reason).text().not_null())
                .col(string(Escalations::Trigger))
                .col(string(Escalations::ClockId))
                .col(string(Escalations::Target))
                .col(bigint(Escalations::At))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .unique()
                .name("escalations_complaint_level")
                .table(Escalations::Table)
                .col(Escalations::ComplaintId)
                .col(Escalations::Level)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Transfers::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Transfers::TransferId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Transfers::ComplaintId).string().not_null())
                .col(string(Transfers::FromDepartment))
                .col(string(Transfers::ToDepartment))
                .col(ColumnDef::new(Transfers::Requirement).text().not_null())
                .col(bigint(Transfers::Deadline))
                .col(string(Transfers::Actor))
                .col(bigint(Transfers::At))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("transfers_complaint")
                .table(Transfers::Table)
                .col(Transfers::ComplaintId)
                .col(Transfers::At)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [Transfers::Table.into_iden(), Escalations::Table.into_iden()] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        for col in [
            Assignments::ComplaintVersion,
            Assignments::EscalationLevel,
            Assignments::EscalatedTo,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Assignments::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
