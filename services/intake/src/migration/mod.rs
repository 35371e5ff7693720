//! Intake's migrations, applied at start.

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_intake_tables;
mod m20261122_000002_lifecycle;
mod m20261123_000003_customer_records;
mod m20261123_000010_threading;
mod m20261123_000011_classification;
mod m20261123_000020_search_terms;
mod m20261201_000030_customer_social;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ombuds_platform::outbox::migration::CreateOutbox),
            Box::new(ombuds_platform::inbox::migration::CreateInbox),
            Box::new(m20261122_000001_create_intake_tables::Migration),
            Box::new(m20261122_000002_lifecycle::Migration),
            Box::new(m20261123_000003_customer_records::Migration),
            Box::new(m20261123_000010_threading::Migration),
            Box::new(m20261123_000011_classification::Migration),
            Box::new(m20261123_000020_search_terms::Migration),
            Box::new(m20261201_000030_customer_social::Migration),
        ]
    }
}
