//! The notification service's own tables (sea-orm entities), one file per table.
//! `outbox` and `inbox` come from the platform kit.

pub mod delivery;
