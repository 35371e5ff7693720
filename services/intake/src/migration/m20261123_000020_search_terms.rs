//! `search_terms`: the inverted index behind `ComplaintService.Search` (see
//! [`crate::search`]): one row per (term, complaint). Plain B-tree tables, so the same
//! design works on SQLite and PostgreSQL. Complaints recorded before this migration are
//! left unindexed here; [`crate::search::backfill`] indexes them at start.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000020_search_terms"
    }
}

#[derive(DeriveIden)]
enum SearchTerms {
    Table,
    Term,
    ComplaintId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SearchTerms::Table)
                .if_not_exists()
                .col(ColumnDef::new(SearchTerms::Term).string().not_null())
                .col(ColumnDef::new(SearchTerms::ComplaintId).string().not_null())
                .primary_key(
                    Index::create()
                        .col(SearchTerms::Term)
                        .col(SearchTerms::ComplaintId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("idx_search_terms_complaint")
                .table(SearchTerms::Table)
                .col(SearchTerms::ComplaintId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SearchTerms::Table).to_owned())
            .await
    }
}
