//! The watchdog's tables: one clock per complaint per target.

pub mod clock;
