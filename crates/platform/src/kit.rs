//! [`Kit`]: what every service starts with, and the orderly way it stops.
//!
//! `Kit::start` binds the HTTP and gRPC ports (so a taken port fails at once), opens
//! the store and runs the service's migrations, connects to NATS, provisions the
//! streams and starts the outbox relay (and, on SQLite, the WAL checkpointer). The
//! service then adds its consumers and background loops and calls [`Kit::run`] with
//! its routes. On shutdown, consumers
//! finish the message in hand, servers finish in-flight requests, the relay publishes
//! what is left, and the NATS connection is drained.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use async_nats::jetstream;
use axum::Router;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::service::Routes;

use crate::{
    config::CommonSettings,
    consumer::{self, ConsumerContext, ConsumerSpec, Delivery, Outcome},
    http::{self, Probe},
    metrics::Metrics,
    outbox::{OutboxSignal, Relay},
};

pub struct Kit {
    pub settings: CommonSettings,
    pub db: DatabaseConnection,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub metrics: Arc<Metrics>,
    pub outbox: OutboxSignal,
    pub shutdown: CancellationToken,
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    seal: Option<Arc<dyn consumer::PayloadSeal>>,
    http_listener: TcpListener,
    grpc_listener: TcpListener,
    workers: TaskTracker,
    relay: TaskTracker,
    relay_stop: CancellationToken,
}

impl Kit {
    pub async fn start<M: MigratorTrait>(
        settings: CommonSettings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let http_listener = TcpListener::bind(settings.http_addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on OMBUDS_HTTP_ADDR={}: {e}",
                settings.http_addr
            )
        })?;
        let grpc_listener = TcpListener::bind(settings.grpc_addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on OMBUDS_GRPC_ADDR={}: {e}",
                settings.grpc_addr
            )
        })?;
        let http_addr = http_listener.local_addr()?;
        let grpc_addr = grpc_listener.local_addr()?;

        let db = connect_store::<M>(&settings.database_url, &shutdown).await?;
        let nats = crate::nats::connect(
            &settings.nats_url,
            &format!("ombuds-{}", settings.service),
            &shutdown,
        )
        .await?;
        let js = jetstream::new(nats.clone());
        let mut delay = Duration::from_millis(200);
        loop {
            match crate::nats::provision(&js).await {
                Ok(()) => break,
                Err(e) if !shutdown.is_cancelled() => {
                    tracing::warn!(error = %e, "JetStream not ready; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }

        let metrics = Arc::new(Metrics::new(&settings.service));
        let outbox = OutboxSignal::default();
        let relay = TaskTracker::new();
        let relay_stop = CancellationToken::new();
        relay.spawn(
            Relay {
                db: db.clone(),
                js: js.clone(),
                signal: outbox.clone(),
                metrics: metrics.clone(),
                retention: settings.outbox_retention,
                batch: 512,
            }
            .run(relay_stop.clone()),
        );
        if crate::db::is_sqlite(&settings.database_url) {
            relay.spawn(crate::db::checkpoint_wal(
                settings.database_url.clone(),
                crate::db::CHECKPOINT_EVERY,
                relay_stop.clone(),
            ));
        }
        relay.close();
        Ok(Self {
            settings,
            db,
            nats,
            js,
            metrics,
            outbox,
            shutdown,
            http_addr,
            grpc_addr,
            seal: None,
            http_listener,
            grpc_listener,
            workers: TaskTracker::new(),
            relay,
            relay_stop,
        })
    }

    /// Context for [`consumer::run`].
    pub fn consumer_context(&self) -> ConsumerContext {
        ConsumerContext {
            js: self.js.clone(),
            service: self.settings.service.clone(),
            max_deliver: self.settings.max_deliver,
            metrics: self.metrics.clone(),
            shutdown: self.shutdown.clone(),
            seal: self.seal.clone(),
        }
    }

    /// Seals the dead letters of every consumer started after this call, and opens
    /// them when replayed (see [`consumer::PayloadSeal`]): for a service whose messages
    /// carry personal data.
    pub fn seal_dead_letters(&mut self, seal: Arc<dyn consumer::PayloadSeal>) {
        self.seal = Some(seal);
    }

    /// Starts a durable consumer; see [`consumer`].
    pub fn consume<H, Fut>(&self, spec: ConsumerSpec, handler: H)
    where
        H: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        self.workers
            .spawn(consumer::run(self.consumer_context(), spec, handler));
    }

    /// Starts a consumer whose handler takes whole batches in one transaction; see
    /// [`consumer::run_batches`].
    pub fn consume_batches<H, Fut, A>(
        &self,
        spec: ConsumerSpec,
        max_batch: usize,
        handler: H,
        after_commit: A,
    ) where
        H: Fn(Arc<sea_orm::DatabaseTransaction>, Vec<Delivery>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Outcome>, sea_orm::DbErr>> + Send + 'static,
        A: Fn() + Send + Sync + 'static,
    {
        self.workers.spawn(consumer::run_batches(
            self.consumer_context(),
            spec,
            self.db.clone(),
            max_batch,
            handler,
            after_commit,
        ));
    }

    /// Runs a background loop; it must return when `shutdown` is cancelled.
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.workers.spawn(fut);
    }

    /// Serves HTTP (`ops_router` merged with `http`) and gRPC until shutdown, then stops
    /// in order.
    pub async fn run(self, http: Router, grpc: Routes, grpc_names: &[&str]) -> anyhow::Result<()> {
        let Kit {
            settings,
            db,
            nats,
            metrics,
            shutdown,
            http_addr,
            grpc_addr,
            http_listener,
            grpc_listener,
            workers,
            relay,
            relay_stop,
            ..
        } = self;
        let probe = Probe {
            db: db.clone(),
            nats: nats.clone(),
            metrics,
        };
        let router = http.merge(http::ops_router(probe));
        let fatal = CancellationToken::new();
        {
            let (shutdown, fatal) = (shutdown.clone(), fatal.clone());
            workers.spawn(async move {
                if let Err(e) = http::serve(http_listener, router, shutdown.clone()).await {
                    tracing::error!(error = %e, "HTTP server failed");
                    fatal.cancel();
                    shutdown.cancel();
                }
            });
        }
        {
            let names: Vec<String> = grpc_names.iter().map(|s| s.to_string()).collect();
            let (shutdown, fatal) = (shutdown.clone(), fatal.clone());
            workers.spawn(async move {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                if let Err(e) =
                    crate::grpc::serve(grpc_listener, grpc, &names, shutdown.clone()).await
                {
                    tracing::error!(error = %e, "gRPC server failed");
                    fatal.cancel();
                    shutdown.cancel();
                }
            });
        }
        workers.close();
        tracing::info!(
            service = %settings.service,
            http = %format!("http://{http_addr}"),
            grpc = %format!("http://{grpc_addr}"),
            store = %store_kind(&settings.database_url),
            "{} ready", settings.service
        );
        shutdown.cancelled().await;
        let grace = settings.shutdown_grace;
        if tokio::time::timeout(grace, workers.wait()).await.is_err() {
            tracing::warn!(
                ?grace,
                "in-flight work did not finish within the shutdown grace period"
            );
        }
        relay_stop.cancel();
        let _ = tokio::time::timeout(grace, relay.wait()).await;
        if let Err(e) = nats.drain().await {
            tracing::debug!(error = %e, "draining NATS");
        }
        let _ = db.close().await;
        tracing::info!(service = %settings.service, "stopped");
        if fatal.is_cancelled() {
            anyhow::bail!("{} stopped after a fatal error", settings.service);
        }
        Ok(())
    }
}

fn store_kind(url: &str) -> &'static str {
    if crate::db::is_sqlite(url) {
        "sqlite"
    } else {
        "postgres"
    }
}

async fn connect_store<M: MigratorTrait>(
    url: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<DatabaseConnection> {
    let mut delay = Duration::from_millis(200);
    let mut tries = 0;
    loop {
        tries += 1;
        match crate::db::connect_and_migrate::<M>(url).await {
            Ok(db) => return Ok(db),
            // A database that is still starting (compose, Kubernetes) gets 30 tries.
            Err(e) if tries < 30 && !shutdown.is_cancelled() && is_connection_error(&e) => {
                tracing::warn!(error = %e, "store not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => anyhow::bail!("store {} failed: {e}", store_kind(url)),
        }
    }
}

fn is_connection_error(e: &sea_orm::DbErr) -> bool {
    matches!(
        e,
        sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_)
    )
}
