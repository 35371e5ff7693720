//! The analytics store's tables (sea-orm entities), one file per table. Besides these,
//! the store holds the platform's `outbox` (unused: analytics owes no events) and `inbox`.

pub mod clock_fact;
pub mod complaint_fact;
pub mod counter;
