//! The hotline adapter's core, shared by the HTTP API and the NATS subscriber: publishes
//! call events to JetStream (`telephony.call.<event>`, stream TELEPHONY), complaints to
//! `intake.hotline` (stream INTAKE), and dead letters for call events that cannot be read
//! (`dlq.hotline-adapter.invalid`, stream DLQ). Every publish waits for the stream's ack.

use std::sync::Arc;

use async_nats::{jetstream, HeaderMap};
use futures::future::join_all;
use ombuds_platform::{
    events::{HDR_MSG_ID, HDR_TYPE},
    pii, time,
};
use ombuds_proto::v1;
use prost::Message;
use serde_json::{json, Value};

use crate::answered::{Answered, AnsweredCalls};
use crate::call::{CallEvent, FieldError};
use crate::config::SERVICE;

pub const CALL_EVENT_TYPE: &str = "ombuds.v1.CallEvent";
pub const CONTACT_TYPE: &str = "ombuds.v1.ContactSubmitted";
pub const DEAD_LETTER_TYPE: &str = "ombuds.v1.DeadLetter";
/// Where complaints recorded on the hotline go.
pub const INTAKE_SUBJECT: &str = "intake.hotline";

/// What became of one call event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventResult {
    Published {
        call_id: String,
        event: String,
    },
    Invalid(FieldError),
    /// JetStream did not take it (the sender should retry; repeats are dropped by id).
    Failed {
        call_id: String,
        error: String,
    },
}

impl EventResult {
    pub fn to_json(&self, index: usize) -> Value {
        match self {
            Self::Published { call_id, event } => {
                json!({"index": index, "status": "published", "call_id": call_id, "event": event})
            }
            Self::Invalid(e) => json!({"index": index, "status": "invalid", "error": e.to_json()}),
            Self::Failed { call_id, error } => {
                json!({"index": index, "status": "failed", "call_id": call_id, "error": {"message": error}})
            }
        }
    }
}

/// A complaint could not be handed on.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("cannot publish to {INTAKE_SUBJECT}: {0}")]
    Unavailable(String),
}

pub struct Hotline {
    pub js: jetstream::Context,
    pub answered: AnsweredCalls,
}

impl Hotline {
    pub fn new(js: jetstream::Context, answered_capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            js,
            answered: AnsweredCalls::new(answered_capacity),
        })
    }

    /// Publishes the valid events of a batch, in order, with every ack awaited
    /// together at the end, and reports on each event in order.
    pub async fn publish_calls(
        &self,
        parsed: Vec<Result<CallEvent, FieldError>>,
    ) -> Vec<EventResult> {
        // First send every event (in order), then wait for the acks all at once.
        let mut pending = Vec::with_capacity(parsed.len());
        for p in parsed {
            let sent = match &p {
                Ok(ev) => Some(self.send_call(ev).await),
                Err(_) => None,
            };
            pending.push((p, sent));
        }
        let acks = pending.into_iter().map(|(p, sent)| async move {
            let ev = match p {
                Err(e) => return EventResult::Invalid(e),
                Ok(ev) => ev,
            };
            let acked = match sent {
                Some(Ok(ack)) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("not sent".to_owned()),
            };
            match acked {
                Ok(()) => EventResult::Published {
                    call_id: ev.call_id,
                    event: ev.event,
                },
                Err(error) => {
                    tracing::error!(call_id = %ev.call_id, event = %ev.event, %error,
                        "cannot publish the call event");
                    EventResult::Failed {
                        call_id: ev.call_id,
                        error,
                    }
                }
            }
        });
        join_all(acks).await
    }

    async fn send_call(
        &self,
        ev: &CallEvent,
    ) -> Result<jetstream::context::PublishAckFuture, jetstream::context::PublishError> {
        if ev.event == "answered" {
            self.answered.insert(
                &ev.call_id,
                Answered {
                    at: ev.at,
                    caller: ev.caller.clone(),
                },
            );
        }
        let proto = ev.to_proto();
        let mut headers = HeaderMap::new();
        headers.insert(HDR_MSG_ID, ev.msg_id().as_str());
        headers.insert(HDR_TYPE, CALL_EVENT_TYPE);
        tracing::debug!(call_id = %ev.call_id, event = %ev.event, caller = %proto.caller_masked,
            "publishing call event");
        self.js
            .publish_with_headers(ev.subject(), headers, proto.encode_to_vec().into())
            .await
    }

    /// Hands the complaint the answering agent recorded to intake, linked to its call.
    pub async fn submit_complaint(&self, call_id: &str, body: &[u8]) -> Result<(), SubmitError> {
        let answered = self.answered.get(call_id.trim());
        let contact = crate::complaint::parse_complaint(call_id, body, answered.as_ref())?;
        let mut headers = HeaderMap::new();
        headers.insert(
            HDR_MSG_ID,
            format!("hotline:{}", contact.external_id).as_str(),
        );
        headers.insert(HDR_TYPE, CONTACT_TYPE);
        let published = async {
            self.js
                .publish_with_headers(INTAKE_SUBJECT, headers, contact.encode_to_vec().into())
                .await?
                .await?;
            Ok::<_, async_nats::Error>(())
        }
        .await;
        published.map_err(|e| SubmitError::Unavailable(e.to_string()))?;
        let phone = contact
            .customer
            .as_ref()
            .map(|c| pii::mask_phone(&c.phone))
            .unwrap_or_default();
        tracing::info!(call_id = %contact.external_id, customer_phone = %phone,
            linked_to_answer = answered.is_some(), "complaint handed to intake");
        Ok(())
    }

    /// Dead-letters an unreadable call event to `dlq.hotline-adapter.<reason>`. The
    /// payload is the event's JSON with the caller masked (or, when it is not JSON,
    /// the raw bytes with anything shaped like a phone number or e-mail redacted).
    pub async fn dead_letter(
        &self,
        from_subject: &str,
        reason: &str,
        error: &str,
        payload: Vec<u8>,
    ) -> Result<(), async_nats::Error> {
        let subject = format!("dlq.{SERVICE}.{reason}");
        tracing::warn!(from = %from_subject, to = %subject, %error, "dead-lettering a call event");
        let letter = v1::DeadLetter {
            service: SERVICE.to_owned(),
            reason: reason.to_owned(),
            error: error.to_owned(),
            subject: from_subject.to_owned(),
            payload,
            failed_at: Some(time::to_timestamp(time::now_ms())),
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            HDR_MSG_ID,
            format!("dlq:{SERVICE}:{}", uuid::Uuid::now_v7()).as_str(),
        );
        headers.insert(HDR_TYPE, DEAD_LETTER_TYPE);
        self.js
            .publish_with_headers(subject, headers, letter.encode_to_vec().into())
            .await?
            .await?;
        Ok(())
    }
}

/// Raw bytes that are not JSON, made safe to keep in a dead letter.
pub fn redacted_bytes(bytes: &[u8]) -> Vec<u8> {
    pii::redact_text(&String::from_utf8_lossy(bytes)).into_bytes()
}
