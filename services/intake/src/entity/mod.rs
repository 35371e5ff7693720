//! Intake's tables: customers, complaints, the per-day ticket counters, and the view of
//! SLA clocks that intake learns from `sla.*` events.

pub mod complaint;
pub mod customer;
pub mod sla_clock;
pub mod ticket_counter;
