//! customers, complaints, ticket_counters, sla_clocks.

use ombuds_platform::db::schema::{bigint, string};
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_create_intake_tables"
    }
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    CustomerId,
    Name,
    Phone,
    Email,
    AccountId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Complaints {
    Table,
    ComplaintId,
    TicketNo,
    Channel,
    ExternalId,
    CustomerId,
    Kind,
    Category,
    Priority,
    Subject,
    Body,
    Reference,
    Status,
    Department,
    Assignee,
    AssignedAt,
    ReceivedAt,
    RecordedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum TicketCounters {
    Table,
    Day,
    Last,
}

#[derive(DeriveIden)]
enum SlaClocks {
    Table,
    ClockId,
    ComplaintId,
    Target,
    Deadline,
    State,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Customers::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Customers::CustomerId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(string(Customers::Name))
                .col(string(Customers::Phone))
                .col(string(Customers::Email))
                .col(string(Customers::AccountId))
                .col(bigint(Customers::CreatedAt))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("customers_phone", Customers::Phone),
            ("customers_email", Customers::Email),
            ("customers_account", Customers::AccountId),
        ] {
            m.create_index(
                Index::create()
                    .if_not_exists()
                    .name(name)
                    .table(Customers::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(Complaints::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Complaints::ComplaintId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Complaints::TicketNo)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(string(Complaints::Channel))
                .col(string(Complaints::ExternalId))
                .col(string(Complaints::CustomerId))
                .col(string(Complaints::Kind))
                .col(string(Complaints::Category))
                .col(
                    ColumnDef::new(Complaints::Priority)
                        .integer()
                        .not_null()
                        .default(3),
                )
                .col(string(Complaints::Subject))
                .col(ColumnDef::new(Complaints::Body).text().not_null())
                .col(string(Complaints::Reference))
                .col(string(Complaints::Status))
                .col(string(Complaints::Department))
                .col(string(Complaints::Assignee))
                .col(bigint(Complaints::AssignedAt))
                .col(bigint(Complaints::ReceivedAt))
                .col(bigint(Complaints::RecordedAt))
                .col(bigint(Complaints::UpdatedAt))
                .col(bigint(Complaints::Version))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("complaints_channel_external_id")
                .table(Complaints::Table)
                .col(Complaints::Channel)
                .col(Complaints::ExternalId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("complaints_status")
                .table(Complaints::Table)
                .col(Complaints::Status)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TicketCounters::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(TicketCounters::Day)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(bigint(TicketCounters::Last))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SlaClocks::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(SlaClocks::ClockId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(string(SlaClocks::ComplaintId))
                .col(string(SlaClocks::Target))
                .col(bigint(SlaClocks::Deadline))
                .col(string(SlaClocks::State))
                .col(bigint(SlaClocks::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("sla_clocks_complaint")
                .table(SlaClocks::Table)
                .col(SlaClocks::ComplaintId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            SlaClocks::Table.into_iden(),
            TicketCounters::Table.into_iden(),
            Complaints::Table.into_iden(),
            Customers::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
