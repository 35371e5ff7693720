//! The watchdog's tables: one clock per complaint per target, and per complaint the
//! plan of targets its policy set when it arrived.

pub mod clock;
pub mod plan;
