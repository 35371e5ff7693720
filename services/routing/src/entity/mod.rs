//! The routing store's tables (sea-orm entities), one file per table. Besides these,
//! the store holds the platform's `outbox` and `inbox`.

pub mod assignment;
pub mod escalation;
pub mod transfer;
