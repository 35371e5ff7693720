//! Intake's tables: customers, complaints with their thread (`messages`) and change
//! `history`, the per-day ticket counters, and the view of SLA clocks that intake
//! learns from `sla.*` events.

pub mod complaint;
pub mod contact_key;
pub mod customer;
pub mod customer_handle;
pub mod history;
pub mod message;
pub mod search_term;
pub mod sla_clock;
pub mod ticket_counter;
