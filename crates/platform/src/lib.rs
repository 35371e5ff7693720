//! The platform kit every Ombuds service stands on.
//!
//! A service is a library plus a thin `main.rs`. It loads its [`config::Config`],
//! starts a [`kit::Kit`] (store + migrations, NATS + streams, outbox relay, metrics),
//! spawns its JetStream consumers with [`consumer`], and serves HTTP ([`http`]) and
//! gRPC ([`grpc`]) until [`shutdown`] says stop. Effects happen exactly once although
//! messages arrive at least once: state and owed events are written in one
//! transaction ([`outbox`]), and each handled event id is recorded beside the effect
//! ([`inbox`]). See DESIGN.md, "Delivery guarantees".

pub mod config;
pub mod consumer;
pub mod db;
pub mod events;
pub mod grpc;
pub mod http;
pub mod inbox;
pub mod kit;
pub mod metrics;
pub mod nats;
pub mod outbox;
pub mod pii;
pub mod shutdown;
pub mod telemetry;
pub mod time;

pub use kit::Kit;
