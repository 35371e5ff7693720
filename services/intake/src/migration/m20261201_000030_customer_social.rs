//! Social handles and a postal address on customer records: `address_enc` and
//! `social_enc` (ciphertext, the handles as a JSON object) on `customer_records`, and
//! `customer_handles`, the blind index of each handle (a customer may have several),
//! through which contacts from one handle link to one customer. One column per
//! statement, as SQLite requires.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000030_customer_social"
    }
}

#[derive(DeriveIden)]
enum CustomerRecords {
    Table,
    AddressEnc,
    SocialEnc,
}

#[derive(DeriveIden)]
enum CustomerHandles {
    Table,
    Bidx,
    CustomerId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [CustomerRecords::AddressEnc, CustomerRecords::SocialEnc] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CustomerRecords::Table)
                        .add_column(ColumnDef::new(col).text().not_null().default(""))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CustomerHandles::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CustomerHandles::Bidx)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CustomerHandles::CustomerId)
                            .string()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerHandles::Table).to_owned())
            .await?;
        for col in [CustomerRecords::AddressEnc, CustomerRecords::SocialEnc] {
            manager
                .alter_table(
                    Table::alter()
                        .table(CustomerRecords::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
