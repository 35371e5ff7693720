//! Compiles `proto/ombuds/v1/*.proto` with protox (pure Rust, so no system `protoc`)
//! and writes the file descriptor set that the services hand to gRPC server reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "ombuds/v1/events.proto",
        "ombuds/v1/intake.proto",
        "ombuds/v1/routing.proto",
        "ombuds/v1/sla.proto",
        "ombuds/v1/notification.proto",
        "ombuds/v1/analytics.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out.join("ombuds_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
