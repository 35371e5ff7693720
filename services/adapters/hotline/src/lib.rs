//! The hotline channel adapter (DESIGN.md: channel adapters → intake; TELEPHONY stream).
//!
//! The telephony system reports each call's life (offered, answered with rings and
//! wait, abandoned, ended with talk time) as JSON, over HTTP ([`http`]) or core NATS
//! ([`source`]). [`call`] parses it, and [`adapter`] publishes each event as a
//! `v1::CallEvent` on `telephony.call.<event>` (caller masked) for the answer-rate KPIs.
//! A complaint the answering agent records is sent to intake on `intake.hotline` with
//! the call id as its `external_id` ([`complaint`]), stamped with the call's answer
//! time, which a bounded in-memory map remembers ([`answered`]). The adapter owns no
//! store: JetStream's duplicate window (on `<call_id>:<event>` and `hotline:<call_id>`)
//! makes a resent event or complaint harmless.

pub mod adapter;
pub mod answered;
pub mod call;
pub mod complaint;
pub mod config;
pub mod http;
pub mod source;

pub use config::Settings;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Connects to NATS, provisions the streams, then serves HTTP and the NATS subject
/// until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = TcpListener::bind(settings.http_addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding {}: {e}", settings.http_addr))?;
    let client =
        ombuds_platform::nats::connect(&settings.nats_url, config::SERVICE, &shutdown).await?;
    let js = async_nats::jetstream::new(client.clone());
    ombuds_platform::nats::provision(&js).await?;
    let hotline = adapter::Hotline::new(js, settings.answered_capacity);

    let nats_task = tokio::spawn(source::run(
        hotline.clone(),
        client.clone(),
        settings.events_subject.clone(),
        settings.max_body_bytes,
        settings.max_batch,
        shutdown.clone(),
    ));
    let router = http::router(
        hotline,
        client.clone(),
        settings.max_body_bytes,
        settings.max_batch,
    );
    tracing::info!(addr = %settings.http_addr, "hotline adapter listening");
    let served = axum::serve(listener, router)
        .with_graceful_shutdown({
            let s = shutdown.clone();
            async move { s.cancelled().await }
        })
        .await;
    // If HTTP stopped by itself (an error), stop the NATS side too.
    shutdown.cancel();
    let from_nats = nats_task.await;
    let _ = client.flush().await;
    served.map_err(|e| anyhow::anyhow!("HTTP server: {e}"))?;
    from_nats.map_err(|e| anyhow::anyhow!("NATS source task: {e}"))??;
    Ok(())
}
