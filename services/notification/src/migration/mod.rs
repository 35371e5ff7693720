//! Migrations of the notification store, applied in order at start-up: the platform's
//! `outbox` and `inbox`, then this service's own tables.

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_deliveries;
mod m20261122_000002_delivery_keys;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ombuds_platform::outbox::migration::CreateOutbox),
            Box::new(ombuds_platform::inbox::migration::CreateInbox),
            Box::new(m20261122_000001_create_deliveries::Migration),
            Box::new(m20261122_000002_delivery_keys::Migration),
        ]
    }
}
