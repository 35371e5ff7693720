//! Creates `assignments` (one row per complaint) and an index by department.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_create_assignments"
    }
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    ComplaintId,
    TicketNo,
    Department,
    Queue,
    Assignee,
    Rule,
    Category,
    AssignedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Assignments::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Assignments::ComplaintId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Assignments::TicketNo).string().not_null())
                .col(ColumnDef::new(Assignments::Department).string().not_null())
                .col(ColumnDef::new(Assignments::Queue).string().not_null())
                .col(ColumnDef::new(Assignments::Assignee).string().not_null())
                .col(ColumnDef::new(Assignments::Rule).string().not_null())
                .col(ColumnDef::new(Assignments::Category).string().not_null())
                .col(
                    ColumnDef::new(Assignments::AssignedAt)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_assignments_department")
                .table(Assignments::Table)
                .col(Assignments::Department)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Assignments::Table).to_owned())
            .await
    }
}
