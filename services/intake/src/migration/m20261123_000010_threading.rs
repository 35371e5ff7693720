//! Threading: `contact_keys` records the (channel, external_id) of every contact that
//! was appended to an existing complaint instead of opening one (a follow-up citing a
//! ticket, an e-mail reply, a linked duplicate), so a repeat of the same follow-up is
//! not appended twice and a later e-mail answering it threads too. An index on
//! complaints (customer_id, category) serves the duplicate look-up.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000010_threading"
    }
}

#[derive(DeriveIden)]
enum ContactKeys {
    Table,
    Channel,
    ExternalId,
    ComplaintId,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Complaints {
    Table,
    CustomerId,
    Category,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ContactKeys::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(ContactKeys::Channel).string().not_null())
                    .col(ColumnDef::new(ContactKeys::ExternalId).string().not_null())
                    .col(ColumnDef::new(ContactKeys::ComplaintId).string().not_null())
                    .col(
                        ColumnDef::new(ContactKeys::Reason)
                            .string()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(ContactKeys::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ContactKeys::Channel)
                            .col(ContactKeys::ExternalId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_keys_complaint")
                    .table(ContactKeys::Table)
                    .col(ContactKeys::ComplaintId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_complaints_customer_category")
                    .table(Complaints::Table)
                    .col(Complaints::CustomerId)
                    .col(Complaints::Category)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_complaints_customer_category")
                    .table(Complaints::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ContactKeys::Table).to_owned())
            .await
    }
}
