//! The live view: after the counts change, the current [`CountsView`] is published as
//! JSON on core NATS `analytics.live.counts` and stored in the JetStream KV bucket
//! `ANALYTICS` under `counts`, so a dashboard that connects late reads the current
//! value at once. Changes are coalesced: at most one snapshot per
//! `OMBUDS_ANALYTICS_LIVE_INTERVAL` (default 500 ms), and the last change is always
//! published. One snapshot is published at start-up.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::kv;
use prometheus_client::metrics::counter::Counter;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::counts::CountsView;

/// The core NATS subject of the live counts.
pub const SUBJECT: &str = "analytics.live.counts";
/// The key of the counts in the `ANALYTICS` bucket.
pub const KEY: &str = "counts";

/// Tells the publisher that the counts changed.
#[derive(Clone, Default)]
pub struct Changed(Arc<Notify>);

impl Changed {
    pub fn signal(&self) {
        self.0.notify_one();
    }
}

/// Publishes snapshots until `shutdown`.
pub struct Publisher {
    pub db: DatabaseConnection,
    pub nats: async_nats::Client,
    pub bucket: kv::Store,
    pub changed: Changed,
    pub interval: Duration,
    pub published: Counter,
}

impl Publisher {
    pub async fn run(self, shutdown: CancellationToken) {
        self.publish().await;
        loop {
            tokio::select! {
                _ = self.changed.0.notified() => {}
                _ = shutdown.cancelled() => break,
            }
            self.publish().await;
            // Changes during the pause leave one permit behind: one more snapshot.
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }

    async fn publish(&self) {
        let counts = match CountsView::load(&self.db).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "live counts: cannot read the store; will retry");
                self.changed.signal();
                return;
            }
        };
        let json = match serde_json::to_vec(&counts) {
            Ok(j) => bytes::Bytes::from(j),
            Err(e) => {
                tracing::warn!(error = %e, "live counts: cannot encode");
                return;
            }
        };
        if let Err(e) = self.nats.publish(SUBJECT, json.clone()).await {
            tracing::warn!(error = %e, subject = SUBJECT, "live counts: publish failed");
        }
        match self.bucket.put(KEY, json).await {
            Ok(_) => {
                self.published.inc();
            }
            Err(e) => {
                // Try again after the pause, so the bucket catches up.
                tracing::warn!(error = %e, key = KEY, "live counts: KV put failed; will retry");
                self.changed.signal();
            }
        }
    }
}
