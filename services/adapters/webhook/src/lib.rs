//! The webhook channel adapter: social media and in-app feedback posted over HTTP become
//! contacts on `intake.<channel>` (stream INTAKE), which intake records.
//!
//! - [`config`]: settings and the sources file (`OMBUDS_WEBHOOK_SOURCES`).
//! - [`server`]: the HTTP routes; [`sig`] and [`wechat`] authenticate requests;
//!   [`mapping`] and [`wechat`] turn payloads into contacts; [`publish`] hands them to
//!   JetStream; [`error`] maps refusals to HTTP answers that name the field.
//!
//! Personal data (names, phones, e-mails, message text) is never logged: log lines carry
//! the source, the channel and the contact's external id only.

pub mod config;
pub mod error;
pub mod mapping;
pub mod publish;
pub mod server;
pub mod sig;
pub mod wechat;

use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// Connects to NATS (retrying), provisions the streams, then serves HTTP until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let client =
        ombuds_platform::nats::connect(&settings.nats_url, "ombuds-adapter-webhook", &shutdown)
            .await?;
    let publisher = publish::Publisher::new(client.clone());
    ombuds_platform::nats::provision(&publisher.js).await?;
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen on OMBUDS_HTTP_ADDR={}", settings.http_addr))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        sources = settings.sources.len(),
        "webhook adapter listening"
    );
    let state = Arc::new(server::AppState {
        sources: settings.sources,
        publisher,
    });
    let served = axum::serve(listener, server::router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = client.drain().await {
        tracing::warn!(error = %e, "draining the NATS connection failed");
    }
    served.context("HTTP server failed")
}
