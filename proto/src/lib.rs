//! The contracts between Ombuds services: the protobuf event messages carried on
//! JetStream subjects and the five gRPC services. Generated from `proto/ombuds/v1`.
//!
//! Each event type names its subject in [`Event::SUBJECT`]-style constants in
//! `ombuds-platform`; this crate only holds the generated code and the descriptor set
//! used for gRPC server reflection.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("ombuds.v1");
}

/// Encoded `FileDescriptorSet` of every Ombuds proto, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("ombuds_descriptor");

pub use prost;
pub use prost_types;
