//! The hotline adapter against a real nats-server, run in-process: call events over
//! HTTP and over the `hotline.events` subject become `v1::CallEvent`s on TELEPHONY with
//! the caller masked; bad events are refused by field (HTTP) or dead-lettered (NATS)
//! while good ones beside them still go through; a complaint recorded on a call reaches
//! `intake.hotline` linked to the call and stamped with its answer time.

use std::time::Duration;

use async_nats::jetstream::{self, message::StreamMessage};
use ombuds_adapter_hotline::{run, Settings};
use ombuds_platform::{config::Config, time};
use ombuds_proto::v1;
use ombuds_testkit::{free_addr, wait_until, NatsServer};
use prost::Message;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const CALLER: &str = "13812345678";
const WAIT: Duration = Duration::from_secs(15);

struct Adapter {
    _nats: NatsServer,
    base: String,
    client: async_nats::Client,
    js: jetstream::Context,
    http: reqwest::Client,
    token: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Adapter {
    async fn start() -> Self {
        let nats = NatsServer::start();
        let addr = free_addr();
        let cfg = Config::from_pairs(
            "hotline-adapter",
            [
                ("NATS_URL", nats.url()),
                ("OMBUDS_HTTP_ADDR", addr.to_string()),
            ],
        );
        let settings = Settings::from_config(&cfg).expect("settings");
        let token = CancellationToken::new();
        let task = tokio::spawn(run(settings, token.clone()));
        let client = async_nats::connect(nats.url()).await.expect("connect");
        let js = jetstream::new(client.clone());
        let http = reqwest::Client::new();
        let base = format!("http://{addr}");
        wait_until("the adapter to be ready", WAIT, || {
            let (http, js, base) = (http.clone(), js.clone(), base.clone());
            async move {
                js.get_stream("TELEPHONY")
                    .await
                    .map_err(|e| e.to_string())?;
                let r = http
                    .get(format!("{base}/healthz"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                r.status()
                    .is_success()
                    .then_some(())
                    .ok_or("not healthy".into())
            }
        })
        .await;
        Self {
            _nats: nats,
            base,
            client,
            js,
            http,
            token,
            task,
        }
    }

    async fn post(&self, path: &str, body: String) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// Every message in `stream` (in order), once there are `n` of them.
    async fn messages(&self, stream: &str, n: usize) -> Vec<StreamMessage> {
        wait_until(&format!("{n} messages on {stream}"), WAIT, || {
            let js = self.js.clone();
            let stream = stream.to_owned();
            async move {
                let mut s = js.get_stream(&stream).await.map_err(|e| e.to_string())?;
                let info = s.info().await.map_err(|e| e.to_string())?.clone();
                let mut out = Vec::new();
                if info.state.messages > 0 {
                    for seq in info.state.first_sequence..=info.state.last_sequence {
                        if let Ok(m) = s.get_raw_message(seq).await {
                            out.push(m);
                        }
                    }
                }
                if out.len() >= n {
                    Ok(out)
                } else {
                    Err(format!("{} messages so far", out.len()))
                }
            }
        })
        .await
    }

    async fn stop(self) {
        self.token.cancel();
        self.task
            .await
            .expect("adapter task")
            .expect("adapter ran cleanly");
    }
}

fn ev(call_id: &str, event: &str, at: &str) -> Value {
    json!({"call_id": call_id, "event": event, "at": at, "queue": "billing", "agent": "a-17",
           "rings": 3, "wait_seconds": 21, "talk_seconds": 95, "caller": CALLER})
}

fn header(m: &StreamMessage, name: &str) -> String {
    m.headers
        .get(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

fn call_event(m: &StreamMessage) -> v1::CallEvent {
    assert!(
        !String::from_utf8_lossy(&m.payload).contains(CALLER),
        "plaintext caller on {}",
        m.subject
    );
    assert_eq!(header(m, "Ombuds-Type"), "ombuds.v1.CallEvent");
    v1::CallEvent::decode(m.payload.clone()).expect("a CallEvent")
}

#[tokio::test]
async fn a_call_over_http_becomes_call_events_with_the_caller_masked() {
    let a = Adapter::start().await;
    for (event, at) in [
        ("offered", "2026-11-22T09:00:00Z"),
        ("answered", "2026-11-22T09:00:21Z"),
        ("ended", "2026-11-22T09:01:56Z"),
    ] {
        let (status, body) = a
            .post("/v1/calls/events", ev("call-1", event, at).to_string())
            .await;
        assert_eq!(status, 202, "{body}");
    }
    // A resend of the same event is dropped by its Nats-Msg-Id.
    let (status, _) = a
        .post(
            "/v1/calls/events",
            ev("call-1", "ended", "2026-11-22T09:01:56Z").to_string(),
        )
        .await;
    assert_eq!(status, 202);
    // An abandoned call, sent as a one-element array.
    let (status, body) = a
        .post(
            "/v1/calls/events",
            json!([ev("call-2", "abandoned", "2026-11-22T09:05:00+08:00")]).to_string(),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["published"], 1);

    let msgs = a.messages("TELEPHONY", 4).await;
    assert_eq!(msgs.len(), 4, "the resent event is a duplicate");
    let subjects: Vec<String> = msgs.iter().map(|m| m.subject.to_string()).collect();
    assert_eq!(
        subjects,
        [
            "telephony.call.offered",
            "telephony.call.answered",
            "telephony.call.ended",
            "telephony.call.abandoned"
        ]
    );
    assert_eq!(header(&msgs[1], "Nats-Msg-Id"), "call-1:answered");
    let answered = call_event(&msgs[1]);
    assert_eq!(answered.call_id, "call-1");
    assert_eq!(answered.event, "answered");
    assert_eq!(answered.rings, 3);
    assert_eq!(answered.wait_seconds, 21);
    assert_eq!(
        answered.caller_masked,
        ombuds_platform::pii::mask_phone(CALLER)
    );
    assert!(uuid_v7(&answered.event_id), "{}", answered.event_id);
    assert_eq!(
        answered.at.as_ref().map(time::from_timestamp),
        time::parse_rfc3339("2026-11-22T09:00:21Z").ok()
    );
    let abandoned = call_event(&msgs[3]);
    assert_eq!(abandoned.call_id, "call-2");
    assert_eq!(
        abandoned.at.as_ref().map(time::from_timestamp),
        time::parse_rfc3339("2026-11-22T01:05:00Z").ok()
    );
    for m in &msgs {
        call_event(m);
    }
    a.stop().await;
}

fn uuid_v7(id: &str) -> bool {
    id.len() == 36 && id.as_bytes().get(14) == Some(&b'7')
}

#[tokio::test]
async fn bad_events_are_refused_by_field_and_good_ones_beside_them_still_published() {
    let a = Adapter::start().await;
    let mut missing_id = ev("x", "offered", "2026-11-22T09:00:00Z");
    missing_id
        .as_object_mut()
        .expect("object")
        .remove("call_id");
    let (status, body) = a.post("/v1/calls/events", missing_id.to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "call_id", "{body}");

    let batch = json!([
        ev("call-3", "offered", "2026-11-22T09:00:00Z"),
        ev("call-3", "ringing", "2026-11-22T09:00:01Z"),
        missing_id,
        ev("call-3", "abandoned", "2026-11-22T09:00:40Z"),
    ]);
    let (status, body) = a.post("/v1/calls/events", batch.to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "event", "{body}");
    assert_eq!(body["error"]["index"], 1, "{body}");
    assert_eq!(body["published"], 2, "{body}");
    assert_eq!(body["results"][0]["status"], "published");
    assert_eq!(body["results"][2]["error"]["field"], "call_id");
    assert_eq!(body["results"][3]["status"], "published");

    let (status, body) = a.post("/v1/calls/events", "{not json".into()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "body");

    let msgs = a.messages("TELEPHONY", 2).await;
    let subjects: Vec<String> = msgs.iter().map(|m| m.subject.to_string()).collect();
    assert_eq!(
        subjects,
        ["telephony.call.offered", "telephony.call.abandoned"]
    );
    a.stop().await;
}

#[tokio::test]
async fn call_events_over_the_nats_subject_and_bad_ones_dead_lettered() {
    let a = Adapter::start().await;
    // Core NATS drops messages sent before the adapter subscribes: resend until one
    // lands (the resends are duplicates JetStream drops).
    let offered = ev("call-4", "offered", "2026-11-22T10:00:00Z").to_string();
    wait_until(
        "the adapter to take events from hotline.events",
        WAIT,
        || {
            let (client, js, offered) = (a.client.clone(), a.js.clone(), offered.clone());
            async move {
                client
                    .publish("hotline.events", offered.into())
                    .await
                    .map_err(|e| e.to_string())?;
                client.flush().await.map_err(|e| e.to_string())?;
                let mut s = js
                    .get_stream("TELEPHONY")
                    .await
                    .map_err(|e| e.to_string())?;
                let n = s.info().await.map_err(|e| e.to_string())?.state.messages;
                (n > 0).then_some(()).ok_or("nothing yet".to_owned())
            }
        },
    )
    .await;
    let rest = json!([
        ev("call-4", "answered", "2026-11-22T10:00:12Z"),
        {"call_id": "call-4", "event": "hung up", "at": "2026-11-22T10:00:13Z", "caller": CALLER},
        ev("call-4", "ended", "2026-11-22T10:03:00Z"),
    ]);
    a.client
        .publish("hotline.events", rest.to_string().into())
        .await
        .expect("publish");
    a.client
        .publish(
            "hotline.events",
            ev("call-5", "abandoned", "2026-11-22T10:04:00Z")
                .to_string()
                .into(),
        )
        .await
        .expect("publish");
    a.client
        .publish("hotline.events", "garbage".into())
        .await
        .expect("publish");
    a.client.flush().await.expect("flush");

    let msgs = a.messages("TELEPHONY", 4).await;
    let subjects: Vec<String> = msgs.iter().map(|m| m.subject.to_string()).collect();
    assert_eq!(
        subjects,
        [
            "telephony.call.offered",
            "telephony.call.answered",
            "telephony.call.ended",
            "telephony.call.abandoned"
        ]
    );
    for m in &msgs {
        call_event(m);
    }

    let dead = a.messages("DLQ", 2).await;
    assert_eq!(dead.len(), 2);
    for m in &dead {
        assert_eq!(m.subject.as_str(), "dlq.hotline-adapter.invalid");
        assert_eq!(header(m, "Ombuds-Type"), "ombuds.v1.DeadLetter");
        assert!(!String::from_utf8_lossy(&m.payload).contains(CALLER));
    }
    let first = v1::DeadLetter::decode(dead[0].payload.clone()).expect("DeadLetter");
    assert_eq!(first.reason, "invalid");
    assert_eq!(first.service, "hotline-adapter");
    assert_eq!(first.subject, "hotline.events");
    assert!(first.error.starts_with("event:"), "{}", first.error);
    let second = v1::DeadLetter::decode(dead[1].payload.clone()).expect("DeadLetter");
    assert!(second.error.starts_with("body:"), "{}", second.error);
    a.stop().await;
}

#[tokio::test]
async fn a_complaint_on_a_call_is_linked_to_it_and_stamped_with_the_answer_time() {
    let a = Adapter::start().await;
    let answered_at = "2026-11-22T11:00:30Z";
    let (status, _) = a
        .post(
            "/v1/calls/events",
            json!([
                ev("call-6", "offered", "2026-11-22T11:00:00Z"),
                ev("call-6", "answered", answered_at)
            ])
            .to_string(),
        )
        .await;
    assert_eq!(status, 202);
    let complaint = json!({
        "customer": {"name": "Zhang San"},
        "subject": "Dropped calls",
        "body": "My calls drop every evening since Monday.",
        "kind": "complaint",
        "category": "network",
    });
    let (status, body) = a
        .post("/v1/calls/call-6/complaint", complaint.to_string())
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({"external_id": "call-6"}));
    // The same complaint again is one complaint (JetStream drops the repeat).
    let (status, _) = a
        .post("/v1/calls/call-6/complaint", complaint.to_string())
        .await;
    assert_eq!(status, 202);
    // A call the adapter never saw answered: stamped with the time it arrives.
    let before = time::now_ms();
    let (status, _) = a
        .post(
            "/v1/calls/call-7/complaint",
            json!({"customer": {"account_id": "acc-9"}, "body": "Wrong fee."}).to_string(),
        )
        .await;
    assert_eq!(status, 202);
    let (status, body) = a
        .post(
            "/v1/calls/call-8/complaint",
            json!({"subject": "x"}).to_string(),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "body");

    let msgs = a.messages("INTAKE", 2).await;
    assert_eq!(msgs.len(), 2, "a repeat is one complaint");
    assert_eq!(msgs[0].subject.as_str(), "intake.hotline");
    assert_eq!(header(&msgs[0], "Nats-Msg-Id"), "hotline:call-6");
    assert_eq!(
        header(&msgs[0], "Ombuds-Type"),
        "ombuds.v1.ContactSubmitted"
    );
    let c = v1::ContactSubmitted::decode(msgs[0].payload.clone()).expect("ContactSubmitted");
    assert_eq!(c.external_id, "call-6");
    assert_eq!(
        c.received_at.as_ref().map(time::from_timestamp),
        time::parse_rfc3339(answered_at).ok()
    );
    let customer = c.customer.expect("customer");
    assert_eq!(customer.name, "Zhang San");
    assert_eq!(
        customer.phone, CALLER,
        "the caller's number fills in the phone"
    );
    assert_eq!(c.category, "network");
    let other = v1::ContactSubmitted::decode(msgs[1].payload.clone()).expect("ContactSubmitted");
    assert_eq!(other.external_id, "call-7");
    let at = other
        .received_at
        .as_ref()
        .map(time::from_timestamp)
        .unwrap_or_default();
    assert!(at >= before && at <= time::now_ms(), "{at} vs {before}");
    a.stop().await;
}
