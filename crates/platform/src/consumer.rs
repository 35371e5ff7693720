//! JetStream consumers with one shape: a durable pull consumer per purpose, messages
//! handled one at a time, each handler answering with an explicit [`Outcome`] that maps
//! to the acknowledgement:
//!
//! | outcome | acknowledgement |
//! | --- | --- |
//! | `Done`, `Duplicate` | ack (after the effect is committed) |
//! | `Retry` | nak with a delay; after `OMBUDS_MAX_DELIVER` deliveries, dead letter |
//! | `Poison` | dead letter at once, then term |
//!
//! [`run_batches`] is the same loop for handlers that write to the store: it takes
//! the messages already waiting (up to a batch) and hands them to the handler together,
//! with ONE transaction, so it can write the whole batch with multi-row statements
//! (`inbox::record_many`, `outbox::Pending`); it commits once and only then acks. One
//! commit and a few statements for many messages is what gives throughput, on SQLite
//! above all. When a batch fails it is rolled back and each of its messages is handled
//! again alone, so one failing message is redelivered or dead-lettered as usual without
//! holding up the others.
//!
//! Dead letters go to `dlq.<service>.<reason>` (stream `DLQ`) as a
//! [`ombuds_proto::v1::DeadLetter`] holding the original message and the error. The loop
//! stops between messages when shutdown is signalled, so in-flight work finishes.
//!
//! A service whose messages carry personal data (intake: contacts as the channels sent
//! them) gives its consumers a [`PayloadSeal`]: its dead letters then hold the payload
//! sealed (`sealed: true`), since they stay on the stream until an operator acts, and
//! a replayed letter (header `Ombuds-Sealed: 1`) is opened again before the handler
//! sees it. A sealed payload that does not open is dead-lettered as `sealed`.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use async_nats::jetstream::{self, consumer::pull, AckKind};
use bytes::Bytes;
use futures::StreamExt;
use ombuds_proto::v1;
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, ReasonLabels};

/// What became of a message.
#[derive(Debug)]
pub enum Outcome {
    /// The effect is committed.
    Done,
    /// The event had been handled before; nothing was done again.
    Duplicate,
    /// A transient failure: deliver again after `delay`.
    Retry { delay: Duration, error: String },
    /// The message can never be processed: dead-letter it with `reason`
    /// (a subject token: lowercase letters, digits and `_`).
    Poison { reason: &'static str, error: String },
}

impl Outcome {
    pub fn poison(reason: &'static str, error: impl ToString) -> Self {
        Self::Poison {
            reason,
            error: error.to_string(),
        }
    }

    pub fn retry(error: impl ToString) -> Self {
        Self::Retry {
            delay: Duration::from_secs(1),
            error: error.to_string(),
        }
    }
}

impl From<sea_orm::DbErr> for Outcome {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::retry(format!("store: {e}"))
    }
}

/// One delivered message, detached from the client.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subject: String,
    pub payload: Bytes,
    pub headers: HashMap<String, String>,
    pub stream: String,
    pub stream_sequence: u64,
    /// 1 on first delivery.
    pub delivered: i64,
}

impl Delivery {
    /// Decodes the payload, or answers the `Poison` outcome that names the problem.
    pub fn decode<E: Message + Default>(&self) -> Result<E, Outcome> {
        E::decode(self.payload.clone()).map_err(|e| {
            Outcome::poison(
                "decode",
                format!(
                    "payload on {} is not a valid {}: {e}",
                    self.subject,
                    std::any::type_name::<E>()
                        .rsplit("::")
                        .next()
                        .unwrap_or("message")
                ),
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Which messages a consumer reads.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub stream: &'static str,
    /// Durable name, shared by replicas of the service.
    pub durable: String,
    pub filter_subject: String,
}

impl ConsumerSpec {
    pub fn new(
        stream: &'static str,
        durable: impl Into<String>,
        filter: impl Into<String>,
    ) -> Self {
        Self {
            stream,
            durable: durable.into(),
            filter_subject: filter.into(),
        }
    }
}

/// Seals and opens message payloads with a service's own key (see the module docs).
pub trait PayloadSeal: Send + Sync {
    fn seal(&self, plain: &[u8]) -> Vec<u8>;
    /// The plaintext, or why the sealed payload does not open.
    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String>;
}

/// Everything a consumer loop needs besides its handler.
#[derive(Clone)]
pub struct ConsumerContext {
    pub js: jetstream::Context,
    pub service: String,
    pub max_deliver: i64,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    /// Seals dead letters and opens replayed ones; `None` for services whose messages
    /// carry no personal data.
    pub seal: Option<Arc<dyn PayloadSeal>>,
}

impl ConsumerContext {
    /// Opens the payload of a replayed sealed dead letter (header `Ombuds-Sealed`);
    /// other deliveries pass unchanged.
    fn unseal(&self, d: &mut Delivery) -> Result<(), Outcome> {
        if d.headers.remove(crate::events::HDR_SEALED).is_none() {
            return Ok(());
        }
        let Some(seal) = &self.seal else {
            return Err(Outcome::poison(
                "sealed",
                format!("{} cannot open sealed payloads", self.service),
            ));
        };
        let plain = seal
            .open(&d.payload)
            .map_err(|e| Outcome::poison("sealed", format!("sealed payload does not open: {e}")))?;
        d.payload = plain.into();
        Ok(())
    }
}

/// Runs a consumer until shutdown. Connection trouble is retried with back-off.
pub async fn run<H, Fut>(ctx: ConsumerContext, spec: ConsumerSpec, handler: H)
where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let mut backoff = Duration::from_millis(200);
    while !ctx.shutdown.is_cancelled() {
        match run_once(&ctx, &spec, &handler).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "consumer interrupted; restarting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = ctx.shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::debug!(consumer = %spec.durable, "consumer stopped");
}

async fn run_once<H, Fut>(
    ctx: &ConsumerContext,
    spec: &ConsumerSpec,
    handler: &H,
) -> anyhow::Result<()>
where
    H: Fn(Delivery) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut messages = open(ctx, spec, 1000, None).await?;
    loop {
        let next = tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            m = messages.next() => m,
        };
        let msg = match next {
            None => anyhow::bail!("message stream ended"),
            Some(Err(e)) => {
                tracing::debug!(consumer = %spec.durable, error = %e, "message stream error");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let mut delivery = match detach(&msg) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "message without JetStream metadata; terminating it");
                let _ = msg.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let outcome = match ctx.unseal(&mut delivery) {
            Ok(()) => handler(delivery.clone()).await,
            Err(o) => o,
        };
        settle(ctx, spec, &msg, &delivery, outcome).await;
    }
}

/// The durable pull consumer of `spec` (created on first use, shared by replicas) and
/// its message stream. `pull_batch` is how many messages each pull request asks for
/// (the client's default, 200, when `None`): a batching consumer asks for more than a
/// batch, so that a whole batch is waiting when the previous one is committed.
async fn open(
    ctx: &ConsumerContext,
    spec: &ConsumerSpec,
    max_ack_pending: i64,
    pull_batch: Option<usize>,
) -> anyhow::Result<pull::Stream> {
    let stream = ctx.js.get_stream(spec.stream).await?;
    let consumer: jetstream::consumer::Consumer<pull::Config> = stream
        .get_or_create_consumer(
            &spec.durable,
            pull::Config {
                durable_name: Some(spec.durable.clone()),
                filter_subject: spec.filter_subject.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending,
                ..Default::default()
            },
        )
        .await?;
    Ok(match pull_batch {
        Some(batch) => {
            consumer
                .stream()
                .max_messages_per_batch(batch)
                .heartbeat(Duration::from_secs(15))
                .messages()
                .await?
        }
        None => consumer.messages().await?,
    })
}

/// Messages a batching consumer asks for per pull request: two batches.
fn pull_batch(max_batch: usize) -> Option<usize> {
    Some((2 * max_batch).clamp(200, 10_000))
}

fn detach(msg: &jetstream::Message) -> anyhow::Result<Delivery> {
    let info = msg.info().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut headers = HashMap::new();
    if let Some(h) = &msg.headers {
        for (name, values) in h.iter() {
            if let Some(v) = values.first() {
                headers.insert(name.to_string(), v.to_string());
            }
        }
    }
    Ok(Delivery {
        subject: msg.subject.to_string(),
        payload: msg.payload.clone(),
        headers,
        stream: info.stream.to_owned(),
        stream_sequence: info.stream_sequence,
        delivered: info.delivered,
    })
}

async fn settle(
    ctx: &ConsumerContext,
    spec: &ConsumerSpec,
    msg: &jetstream::Message,
    d: &Delivery,
    outcome: Outcome,
) {
    let consumer = spec.durable.as_str();
    let result = match outcome {
        Outcome::Done => {
            ctx.metrics.handled(consumer, "done");
            msg.ack().await
        }
        Outcome::Duplicate => {
            ctx.metrics.handled(consumer, "duplicate");
            msg.ack().await
        }
        Outcome::Retry { delay, error } if d.delivered < ctx.max_deliver => {
            tracing::warn!(consumer, subject = %d.subject, delivered = d.delivered, %error, "will retry");
            ctx.metrics.handled(consumer, "retry");
            msg.ack_with(AckKind::Nak(Some(delay))).await
        }
        Outcome::Retry { error, .. } => {
            let error = format!("gave up after {} deliveries: {error}", d.delivered);
            dead_letter(ctx, consumer, msg, d, "retries_exhausted", &error).await
        }
        Outcome::Poison { reason, error } => {
            dead_letter(ctx, consumer, msg, d, reason, &error).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(consumer, error = %e, "acknowledgement failed; the message will be redelivered");
    }
}

async fn dead_letter(
    ctx: &ConsumerContext,
    consumer: &str,
    msg: &jetstream::Message,
    d: &Delivery,
    reason: &str,
    error: &str,
) -> Result<(), async_nats::Error> {
    let subject = format!("dlq.{}.{reason}", ctx.service);
    tracing::error!(consumer, from = %d.subject, to = %subject, %error, "dead-lettering message");
    let (payload, sealed) = match &ctx.seal {
        Some(seal) => (seal.seal(&d.payload), true),
        None => (d.payload.to_vec(), false),
    };
    let letter = v1::DeadLetter {
        service: ctx.service.clone(),
        reason: reason.to_owned(),
        error: error.to_owned(),
        subject: d.subject.clone(),
        stream: d.stream.clone(),
        stream_sequence: d.stream_sequence,
        deliveries: d.delivered.max(0) as u64,
        headers: d.headers.clone(),
        payload,
        failed_at: Some(crate::time::to_timestamp(crate::time::now_ms())),
        sealed,
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        crate::events::HDR_MSG_ID,
        format!("dlq:{}:{}:{}", d.stream, consumer, d.stream_sequence).as_str(),
    );
    headers.insert(crate::events::HDR_TYPE, "ombuds.v1.DeadLetter");
    let published = async {
        ctx.js
            .publish_with_headers(subject.clone(), headers, letter.encode_to_vec().into())
            .await?
            .await?;
        Ok::<_, async_nats::Error>(())
    }
    .await;
    match published {
        Ok(()) => {
            ctx.metrics.handled(consumer, "dead_letter");
            ctx.metrics
                .dead_letters
                .get_or_create(&ReasonLabels {
                    reason: reason.to_owned(),
                })
                .inc();
            msg.ack_with(AckKind::Term).await
        }
        Err(e) => {
            tracing::error!(consumer, error = %e, "cannot publish the dead letter; the message will be redelivered");
            msg.ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await
        }
    }
}

/// Waits for the next message, then takes those already waiting behind it, up to
/// `max_batch`. `None` when shutdown is signalled. (Taking them is exempt from tokio's
/// cooperative budget, which would otherwise answer "not ready" after 128 messages in
/// one poll and cap every batch there.)
async fn next_batch(
    ctx: &ConsumerContext,
    spec: &ConsumerSpec,
    messages: &mut pull::Stream,
    max_batch: usize,
) -> anyhow::Result<Option<Vec<jetstream::Message>>> {
    use futures::FutureExt;

    let mut next = tokio::select! {
        _ = ctx.shutdown.cancelled() => return Ok(None),
        m = messages.next() => m,
    };
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        match next {
            None => anyhow::bail!("message stream ended"),
            Some(Err(e)) => {
                tracing::debug!(consumer = %spec.durable, error = %e, "message stream error");
            }
            Some(Ok(m)) => batch.push(m),
        }
        if batch.len() >= max_batch {
            break;
        }
        match tokio::task::unconstrained(messages.next()).now_or_never() {
            Some(m) => next = m,
            None => break,
        }
    }
    Ok(Some(batch))
}

/// Runs a consumer whose handler takes a whole batch at once (see the module docs),
/// so that it can write the batch with multi-row statements.
///
/// The handler gets the batch's transaction and the deliveries, and answers one
/// [`Outcome`] per delivery, in order. Its contract: a delivery answered `Poison` or
/// `Duplicate` has written nothing (validate before writing). The batch is committed
/// when every outcome is `Done`, `Duplicate` or `Poison`. When the handler fails
/// (a store error, a `Retry`, or the wrong number of outcomes) the batch is rolled back
/// and each delivery is handled again on its own, in a transaction of its own, so one
/// failing message neither holds up nor undoes the others. `after_commit` runs after
/// each commit; messages are acked only after it.
pub async fn run_batches<H, Fut, A>(
    ctx: ConsumerContext,
    spec: ConsumerSpec,
    db: sea_orm::DatabaseConnection,
    max_batch: usize,
    handler: H,
    after_commit: A,
) where
    H: Fn(Arc<sea_orm::DatabaseTransaction>, Vec<Delivery>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Outcome>, sea_orm::DbErr>> + Send,
    A: Fn() + Send + Sync + 'static,
{
    let mut backoff = Duration::from_millis(200);
    while !ctx.shutdown.is_cancelled() {
        match run_batches_once(&ctx, &spec, &db, max_batch.max(1), &handler, &after_commit).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(consumer = %spec.durable, error = %e, "consumer interrupted; restarting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = ctx.shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn run_batches_once<H, Fut, A>(
    ctx: &ConsumerContext,
    spec: &ConsumerSpec,
    db: &sea_orm::DatabaseConnection,
    max_batch: usize,
    handler: &H,
    after_commit: &A,
) -> anyhow::Result<()>
where
    H: Fn(Arc<sea_orm::DatabaseTransaction>, Vec<Delivery>) -> Fut,
    Fut: Future<Output = Result<Vec<Outcome>, sea_orm::DbErr>>,
    A: Fn(),
{
    let mut messages = open(ctx, spec, 10_000, pull_batch(max_batch)).await?;
    loop {
        let Some(batch) = next_batch(ctx, spec, &mut messages, max_batch).await? else {
            return Ok(());
        };
        let mut msgs = Vec::with_capacity(batch.len());
        let mut deliveries = Vec::with_capacity(batch.len());
        for msg in batch {
            match detach(&msg) {
                Ok(mut d) => match ctx.unseal(&mut d) {
                    Ok(()) => {
                        msgs.push(msg);
                        deliveries.push(d);
                    }
                    Err(o) => settle(ctx, spec, &msg, &d, o).await,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "message without JetStream metadata; terminating it");
                    let _ = msg.ack_with(AckKind::Term).await;
                }
            }
        }
        if msgs.is_empty() {
            continue;
        }
        let outcomes = match handle_batch(db, handler, deliveries.clone()).await {
            Ok(outcomes) => outcomes,
            // A batch of one has already been handled on its own: running it again
            // at once would only repeat the failure.
            Err(e) if msgs.len() == 1 => vec![e],
            Err(e) => {
                tracing::debug!(consumer = %spec.durable, error = ?e, size = msgs.len(), "batch failed; handling its messages one by one");
                let mut outcomes = Vec::with_capacity(msgs.len());
                for d in &deliveries {
                    let outcome = match handle_batch(db, handler, vec![d.clone()]).await {
                        Ok(mut one) => one.pop().unwrap_or(Outcome::Done),
                        Err(e) => e,
                    };
                    outcomes.push(outcome);
                }
                outcomes
            }
        };
        after_commit();
        for ((msg, d), outcome) in msgs.iter().zip(&deliveries).zip(outcomes) {
            settle(ctx, spec, msg, d, outcome).await;
        }
    }
}

/// One transaction for `deliveries`: committed and their outcomes answered, or rolled
/// back and the failure answered as the `Retry` it becomes for a lone message.
async fn handle_batch<H, Fut>(
    db: &sea_orm::DatabaseConnection,
    handler: &H,
    deliveries: Vec<Delivery>,
) -> Result<Vec<Outcome>, Outcome>
where
    H: Fn(Arc<sea_orm::DatabaseTransaction>, Vec<Delivery>) -> Fut,
    Fut: Future<Output = Result<Vec<Outcome>, sea_orm::DbErr>>,
{
    use sea_orm::TransactionTrait;

    let n = deliveries.len();
    let txn = Arc::new(db.begin().await.map_err(Outcome::from)?);
    let result = handler(txn.clone(), deliveries).await;
    let txn = Arc::try_unwrap(txn)
        .map_err(|_| Outcome::retry("a handler kept its transaction after returning"))?;
    let failure = match result {
        Err(e) => Outcome::from(e),
        Ok(outcomes) if outcomes.len() != n => Outcome::retry(format!(
            "the handler answered {} outcomes for {n} messages",
            outcomes.len()
        )),
        Ok(mut outcomes) => match outcomes
            .iter()
            .position(|o| matches!(o, Outcome::Retry { .. }))
        {
            // A lone message keeps its own reason and delay.
            Some(i) if n == 1 => outcomes.swap_remove(i),
            Some(i) => Outcome::retry(format!("message {i} of the batch asked to be retried")),
            None => {
                txn.commit().await.map_err(Outcome::from)?;
                return Ok(outcomes);
            }
        },
    };
    let _ = txn.rollback().await;
    Err(failure)
}
