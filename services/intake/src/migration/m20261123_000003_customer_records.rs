//! Personal data at rest: `customer_records` (encrypted fields plus blind indexes)
//! replaces `customers`, whose plaintext rows it cannot encrypt (a migration has no
//! keys). Nothing was in production with `customers`, so the migration refuses to run
//! when that table holds rows, naming the problem, rather than drop personal data or
//! keep it in plaintext; on an empty table it simply drops it.

use ombuds_platform::db::schema::text;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000003_customer_records"
    }
}

#[derive(DeriveIden)]
enum Customers {
    Table,
}

#[derive(DeriveIden)]
enum CustomerRecords {
    Table,
    CustomerId,
    NameEnc,
    PhoneEnc,
    EmailEnc,
    AccountEnc,
    PhoneBidx,
    EmailBidx,
    AccountBidx,
    KeyId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.has_table("customers").await? {
            let db = m.get_connection();
            let row = db
                .query_one(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM customers",
                ))
                .await?;
            let n = match row {
                Some(r) => r.try_get::<i64>("", "n")?,
                None => 0,
            };
            if n > 0 {
                return Err(DbErr::Migration(format!(
                    "the customers table holds {n} plaintext rows: this version stores personal data \
                     encrypted in customer_records and cannot migrate them; export and delete them first"
                )));
            }
            m.drop_table(Table::drop().table(Customers::Table).to_owned())
                .await?;
        }
        m.create_table(
            Table::create()
                .table(CustomerRecords::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(CustomerRecords::CustomerId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(text(CustomerRecords::NameEnc))
                .col(text(CustomerRecords::PhoneEnc))
                .col(text(CustomerRecords::EmailEnc))
                .col(text(CustomerRecords::AccountEnc))
                .col(
                    ColumnDef::new(CustomerRecords::PhoneBidx)
                        .string()
                        .not_null()
                        .default(""),
                )
                .col(
                    ColumnDef::new(CustomerRecords::EmailBidx)
                        .string()
                        .not_null()
                        .default(""),
                )
                .col(
                    ColumnDef::new(CustomerRecords::AccountBidx)
                        .string()
                        .not_null()
                        .default(""),
                )
                .col(
                    ColumnDef::new(CustomerRecords::KeyId)
                        .string()
                        .not_null()
                        .default(""),
                )
                .col(
                    ColumnDef::new(CustomerRecords::CreatedAt)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("customer_records_phone_bidx", CustomerRecords::PhoneBidx),
            ("customer_records_email_bidx", CustomerRecords::EmailBidx),
            (
                "customer_records_account_bidx",
                CustomerRecords::AccountBidx,
            ),
        ] {
            m.create_index(
                Index::create()
                    .if_not_exists()
                    .name(name)
                    .table(CustomerRecords::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CustomerRecords::Table).to_owned())
            .await
    }
}
