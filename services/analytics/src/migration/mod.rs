//! The analytics store's migrations, applied in order at start-up by `Kit::start`:
//! the platform's outbox and inbox, then analytics' own tables.

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_complaint_facts;
mod m20261122_000002_create_counters;
mod m20261122_000003_create_sla_clock_facts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ombuds_platform::outbox::migration::CreateOutbox),
            Box::new(ombuds_platform::inbox::migration::CreateInbox),
            Box::new(m20261122_000001_create_complaint_facts::Migration),
            Box::new(m20261122_000002_create_counters::Migration),
            Box::new(m20261122_000003_create_sla_clock_facts::Migration),
        ]
    }
}
