//! Serves a service's gRPC routes together with `grpc.health.v1` and server
//! reflection (v1 and v1alpha), so grpcurl, grpcui and any language's client work.

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::ServingStatus;

/// Serves `routes` until `shutdown`; `names` are the fully-qualified service names
/// reported as SERVING by the health service.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    names: &[&str],
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ombuds_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ombuds_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let routes = routes
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let stop = shutdown.clone();
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async move {
            stop.cancelled().await
        })
        .await?;
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    Ok(())
}

/// Maps a store error to a gRPC status without leaking internals to the caller.
pub fn internal(e: impl std::fmt::Display) -> tonic::Status {
    tracing::error!(error = %e, "internal error");
    tonic::Status::internal("internal error; see the service log")
}
