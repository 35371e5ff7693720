//! The routing store's migrations, applied in order at start-up by `Kit::start`:
//! the platform's outbox and inbox, then routing's own tables.

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_assignments;
mod m20261122_000002_escalations_and_transfers;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ombuds_platform::outbox::migration::CreateOutbox),
            Box::new(ombuds_platform::inbox::migration::CreateInbox),
            Box::new(m20261122_000001_create_assignments::Migration),
            Box::new(m20261122_000002_escalations_and_transfers::Migration),
        ]
    }
}
