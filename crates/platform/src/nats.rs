//! NATS connection with retry, and idempotent provisioning of the JetStream streams
//! (DESIGN.md, "Messaging contract") and the `ANALYTICS` key-value bucket.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    stream::{Config as StreamConfig, DiscardPolicy, RetentionPolicy, StorageType},
};
use tokio_util::sync::CancellationToken;

use crate::events::STREAMS;

/// How long JetStream remembers event ids to drop duplicates.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Connects to NATS, retrying with back-off (100 ms doubling to 5 s) until it works or
/// `shutdown` is cancelled. Once connected, the client reconnects by itself.
pub async fn connect(
    url: &str,
    name: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<async_nats::Client> {
    let mut delay = Duration::from_millis(100);
    loop {
        let options = async_nats::ConnectOptions::new()
            .name(name)
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5));
        match async_nats::connect_with_options(url, options).await {
            Ok(client) => {
                tracing::info!(%url, "connected to NATS");
                return Ok(client);
            }
            Err(e) => tracing::warn!(%url, error = %e, "cannot connect to NATS; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => anyhow::bail!("shut down before NATS at {url} was reachable"),
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Creates every stream that does not exist yet. Existing streams are left as they are,
/// so several services (and replicas) may call this at once.
pub async fn provision(js: &jetstream::Context) -> anyhow::Result<()> {
    for (name, subjects) in STREAMS {
        let config = StreamConfig {
            name: (*name).to_owned(),
            subjects: vec![(*subjects).to_owned()],
            storage: StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            // Contacts hold personal data until intake has recorded them (encrypted):
            // intake is their only consumer, and an acked contact leaves the stream.
            retention: if *name == "INTAKE" {
                RetentionPolicy::WorkQueue
            } else {
                RetentionPolicy::Limits
            },
            ..Default::default()
        };
        js.get_or_create_stream(config)
            .await
            .map_err(|e| anyhow::anyhow!("provisioning stream {name} ({subjects}): {e}"))?;
    }
    Ok(())
}

/// The `ANALYTICS` key-value bucket holding the latest snapshot of each live view.
///
/// The bucket's stream is created directly, in the layout async-nats' key-value store
/// uses (`KV_<bucket>`, subjects `$KV.<bucket>.>`), because `create_key_value` first
/// asks for account information in a form nats-server 2.9 does not answer.
pub async fn analytics_bucket(js: &jetstream::Context) -> anyhow::Result<jetstream::kv::Store> {
    js.get_or_create_stream(StreamConfig {
        name: "KV_ANALYTICS".into(),
        subjects: vec!["$KV.ANALYTICS.>".into()],
        max_messages_per_subject: 1,
        storage: StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating KV bucket ANALYTICS: {e}"))?;
    js.get_key_value("ANALYTICS")
        .await
        .map_err(|e| anyhow::anyhow!("opening KV bucket ANALYTICS: {e}"))
}
