//! Hands contacts to intake: a [`v1::ContactSubmitted`] on `intake.<channel>` (stream
//! INTAKE), with `Nats-Msg-Id = <channel>:<external_id>` so that JetStream drops a
//! contact a channel sends twice, and the stream's ack awaited before the sender is told
//! it was accepted.

use std::time::Duration;

use async_nats::{jetstream, HeaderMap};
use ombuds_platform::events::{HDR_MSG_ID, HDR_TYPE};
use ombuds_proto::v1;
use prost::Message;

use crate::error::ApiError;

/// The `Ombuds-Type` of a contact.
pub const CONTACT_TYPE: &str = "ombuds.v1.ContactSubmitted";

/// How long to wait for the stream's ack before answering 503.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Publisher {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
}

impl Publisher {
    pub fn new(client: async_nats::Client) -> Self {
        let mut js = jetstream::new(client.clone());
        js.set_timeout(ACK_TIMEOUT);
        Self { client, js }
    }

    /// Publishes one contact and waits for JetStream's ack.
    pub async fn publish(
        &self,
        channel: &str,
        contact: &v1::ContactSubmitted,
    ) -> Result<(), ApiError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(ApiError::Unavailable("not connected to NATS".into()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            HDR_MSG_ID,
            format!("{channel}:{}", contact.external_id).as_str(),
        );
        headers.insert(HDR_TYPE, CONTACT_TYPE);
        let subject = format!("intake.{channel}");
        let ack = self
            .js
            .publish_with_headers(subject, headers, contact.encode_to_vec().into())
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        ack.await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
