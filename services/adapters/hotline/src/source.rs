//! The core NATS source: the telephony system publishes call events (the same JSON as
//! `POST /v1/calls/events`) on `hotline.events`. Replicas share the subject through the
//! queue group `hotline-adapter`. Valid events are published like HTTP ones; each
//! unreadable one is logged as a warning and dead-lettered to
//! `dlq.hotline-adapter.invalid` with its reason. A message that carries a reply subject
//! gets the same per-event results as the HTTP API.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::adapter::{redacted_bytes, EventResult, Hotline};
use crate::call::{masked_json, parse_batch};
use crate::config::SERVICE;

/// Subscribes and handles messages until `shutdown`; then drains the subscription.
pub async fn run(
    hotline: Arc<Hotline>,
    client: async_nats::Client,
    subject: String,
    max_body_bytes: usize,
    max_batch: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut sub = client
        .queue_subscribe(subject.clone(), SERVICE.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("subscribing to {subject}: {e}"))?;
    tracing::info!(%subject, "listening for call events");
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => break },
            _ = shutdown.cancelled() => break,
        };
        handle(&hotline, &client, msg, max_body_bytes, max_batch).await;
    }
    let _ = sub.unsubscribe().await;
    Ok(())
}

async fn handle(
    hotline: &Hotline,
    client: &async_nats::Client,
    msg: async_nats::Message,
    max_body_bytes: usize,
    max_batch: usize,
) {
    let subject = msg.subject.to_string();
    let batch = if msg.payload.len() > max_body_bytes {
        Err(crate::call::FieldError::new(
            "body",
            format!(
                "{} bytes; at most {max_body_bytes} are accepted",
                msg.payload.len()
            ),
        ))
    } else {
        parse_batch(&msg.payload, max_batch)
    };
    let batch = match batch {
        Ok(b) => b,
        Err(e) => {
            let payload = if msg.payload.len() > max_body_bytes {
                Vec::new()
            } else {
                redacted_bytes(&msg.payload)
            };
            dead_letter(hotline, &subject, &e.to_string(), payload).await;
            reply(client, &msg, json!({"error": e.to_json()})).await;
            return;
        }
    };
    let mut originals = Vec::with_capacity(batch.len());
    let mut parsed = Vec::with_capacity(batch.len());
    for (value, p) in batch {
        originals.push(value);
        parsed.push(p);
    }
    let results = hotline.publish_calls(parsed).await;
    for (value, result) in originals.iter().zip(&results) {
        match result {
            EventResult::Invalid(e) => {
                let payload = masked_json(value).to_string().into_bytes();
                dead_letter(hotline, &subject, &e.to_string(), payload).await;
            }
            EventResult::Failed { call_id, error } => {
                // Core NATS cannot redeliver: the sender must resend (repeats are dropped by id).
                tracing::error!(%call_id, %error, "call event from NATS lost: JetStream did not take it");
            }
            EventResult::Published { .. } => {}
        }
    }
    let body = json!({
        "results": results.iter().enumerate().map(|(i, r)| r.to_json(i)).collect::<Vec<_>>(),
    });
    reply(client, &msg, body).await;
}

async fn dead_letter(hotline: &Hotline, subject: &str, error: &str, payload: Vec<u8>) {
    if let Err(e) = hotline
        .dead_letter(subject, "invalid", error, payload)
        .await
    {
        tracing::error!(error = %e, "cannot publish the dead letter for an invalid call event");
    }
}

async fn reply(client: &async_nats::Client, msg: &async_nats::Message, body: serde_json::Value) {
    if let Some(reply) = &msg.reply {
        if let Err(e) = client.publish(reply.clone(), body.to_string().into()).await {
            tracing::warn!(error = %e, "cannot answer the call-event message");
        }
    }
}
