//! The e-mail channel adapter: reads a real IMAP mailbox and turns every new message into a
//! `ContactSubmitted` on `intake.email` (stream INTAKE, consumed by intake). `config` holds the
//! settings, `convert` the MIME → contact conversion, `state` the last UID handled, and
//! `poller` the IMAP session loop (IDLE where offered, polling otherwise).

pub mod config;
pub mod convert;
pub mod poller;
pub mod state;

pub use config::Settings;
pub use poller::run;
