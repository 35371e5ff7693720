//! The messaging contract in code: which protobuf message travels on which subject,
//! the headers every event carries, and the stream layout (DESIGN.md, "Messaging contract").

use async_nats::HeaderMap;
use ombuds_proto::v1;
use prost::Message;

/// Header holding the event id; JetStream de-duplicates on it.
pub const HDR_MSG_ID: &str = "Nats-Msg-Id";
/// Header holding the fully-qualified protobuf message name.
pub const HDR_TYPE: &str = "Ombuds-Type";
/// W3C trace context header. The trace id is the complaint id, so one complaint can be
/// followed across all services.
pub const HDR_TRACEPARENT: &str = "traceparent";
/// Set (to `1`) on a replayed dead letter whose payload is sealed: the consuming
/// service opens it with its own key (see `consumer::PayloadSeal`).
pub const HDR_SEALED: &str = "Ombuds-Sealed";

/// The JetStream streams and the subjects they hold.
pub const STREAMS: &[(&str, &str)] = &[
    ("INTAKE", "intake.>"),
    ("COMPLAINTS", "complaint.>"),
    ("ROUTING", "routing.>"),
    ("SLA", "sla.>"),
    ("NOTIFICATIONS", "notification.>"),
    ("TELEPHONY", "telephony.>"),
    ("DLQ", "dlq.>"),
];

/// The channels a contact can arrive on (DESIGN.md, "The public HTTP contract of intake").
pub const CHANNELS: &[&str] = &[
    "hotline",
    "online_chat",
    "app",
    "email",
    "social",
    "store",
    "web_form",
    "sms",
    "api",
];

/// An event: a protobuf message with a fixed subject and a [`v1::EventMeta`].
pub trait Event: Message + Default + Sized {
    /// Fully-qualified protobuf name, sent as `Ombuds-Type`.
    const TYPE: &'static str;
    /// The subject it is published on.
    const SUBJECT: &'static str;
    fn meta(&self) -> Option<&v1::EventMeta>;
}

macro_rules! event {
    ($ty:ident, $subject:literal) => {
        impl Event for v1::$ty {
            const TYPE: &'static str = concat!("ombuds.v1.", stringify!($ty));
            const SUBJECT: &'static str = $subject;
            fn meta(&self) -> Option<&v1::EventMeta> {
                self.meta.as_ref()
            }
        }
    };
}

event!(ComplaintReceived, "complaint.received");
event!(ComplaintStatusChanged, "complaint.status_changed");
event!(ComplaintMessageAdded, "complaint.message_added");
event!(ComplaintResolved, "complaint.resolved");
event!(SatisfactionRecorded, "complaint.satisfaction_recorded");
event!(ComplaintClassified, "complaint.classified");
event!(ComplaintAssigned, "routing.assigned");
event!(ComplaintEscalated, "routing.escalated");
event!(ComplaintTransferred, "routing.transferred");
event!(SlaClockStarted, "sla.started");
event!(SlaClockWarning, "sla.warning");
event!(SlaClockBreached, "sla.breached");
event!(SlaClockMet, "sla.met");
event!(NotificationSent, "notification.sent");
event!(NotificationFailed, "notification.failed");

/// A fresh event header for a complaint.
pub fn meta(
    source: &str,
    complaint_id: &str,
    ticket_no: &str,
    complaint_version: u64,
) -> v1::EventMeta {
    v1::EventMeta {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: Some(crate::time::to_timestamp(crate::time::now_ms())),
        complaint_id: complaint_id.to_owned(),
        ticket_no: ticket_no.to_owned(),
        complaint_version,
        source: source.to_owned(),
    }
}

/// `traceparent` for a complaint: the trace id is the complaint's UUID, the span id is fresh.
pub fn traceparent(complaint_id: &str) -> Option<String> {
    let trace = uuid::Uuid::parse_str(complaint_id)
        .ok()?
        .simple()
        .to_string();
    let span = uuid::Uuid::now_v7().simple().to_string();
    Some(format!("00-{trace}-{}-01", &span[16..]))
}

/// The headers an event is published with.
pub fn headers(event_id: &str, type_name: &str, complaint_id: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HDR_MSG_ID, event_id);
    h.insert(HDR_TYPE, type_name);
    if let Some(tp) = traceparent(complaint_id) {
        h.insert(HDR_TRACEPARENT, tp.as_str());
    }
    h
}

/// Publishes an event straight to JetStream and waits for the stream's ack. Services
/// publish through the [`crate::outbox`]; this is for adapters and tests.
pub async fn publish<E: Event>(
    js: &async_nats::jetstream::Context,
    event: &E,
) -> anyhow::Result<()> {
    let meta = event.meta().cloned().unwrap_or_default();
    let hdrs = headers(&meta.event_id, E::TYPE, &meta.complaint_id);
    js.publish_with_headers(E::SUBJECT, hdrs, event.encode_to_vec().into())
        .await?
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_carries_the_complaint_as_trace_id() {
        let id = uuid::Uuid::now_v7();
        let tp = traceparent(&id.to_string()).expect("valid uuid");
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[1], id.simple().to_string());
        assert_eq!(parts[2].len(), 16);
        assert!(traceparent("not-a-uuid").is_none());
    }

    #[test]
    fn type_names_match_the_proto_package() {
        assert_eq!(
            <v1::ComplaintReceived as Event>::TYPE,
            "ombuds.v1.ComplaintReceived"
        );
        assert_eq!(
            <v1::ComplaintAssigned as Event>::SUBJECT,
            "routing.assigned"
        );
    }
}
