//! Classification columns on `complaints`: sub_category, severity and urgency (1 to 4,
//! default 3) and tags (a JSON array). One column per statement, as SQLite requires.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000011_classification"
    }
}

#[derive(DeriveIden)]
enum Complaints {
    Table,
    SubCategory,
    Severity,
    Urgency,
    Tags,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            ColumnDef::new(Complaints::SubCategory)
                .string()
                .not_null()
                .default("")
                .to_owned(),
            ColumnDef::new(Complaints::Severity)
                .integer()
                .not_null()
                .default(3)
                .to_owned(),
            ColumnDef::new(Complaints::Urgency)
                .integer()
                .not_null()
                .default(3)
                .to_owned(),
            ColumnDef::new(Complaints::Tags)
                .text()
                .not_null()
                .default("[]")
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Complaints::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            Complaints::SubCategory,
            Complaints::Severity,
            Complaints::Urgency,
            Complaints::Tags,
        ] {
            manager
                .alter_table(
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
