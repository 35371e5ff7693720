//! Analytics against a real nats-server and a real store: a mix of events on the four
//! streams (one complaint's status change arriving before its receipt) is counted
//! right over gRPC, HTTP, core NATS and the KV bucket; a redelivered duplicate (same
//! event id, new `Nats-Msg-Id`) is not counted twice; a garbage payload is
//! dead-lettered and counting goes on. A crafted mix of SLA, escalation and transfer
//! events gives the on-time rates overall, per target and per department, and the
//! escalations per level.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream;
use futures::StreamExt;
use ombuds_analytics::{run, Settings};
use ombuds_platform::{
    config::Config,
    events::{self, Event},
    shutdown::CancellationToken,
};
use ombuds_proto::v1::{self, analytics_service_client::AnalyticsServiceClient};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use prost::Message;

const WAIT: Duration = Duration::from_secs(20);

struct Complaint {
    id: String,
    ticket: String,
}

impl Complaint {
    fn new() -> Self {
        let id = uuid::Uuid::now_v7().to_string();
        let ticket = format!("T-{}", &id[24..]);
        Self { id, ticket }
    }

    fn meta(&self, version: u64) -> Option<v1::EventMeta> {
        Some(events::meta("test", &self.id, &self.ticket, version))
    }

    fn received(&self, channel: &str, category: &str, version: u64) -> v1::ComplaintReceived {
        v1::ComplaintReceived {
            meta: self.meta(version),
            channel: channel.into(),
            kind: "complaint".into(),
            category: category.into(),
            priority: 3,
            customer: Some(v1::CustomerRef {
                customer_id: "cust-1".into(),
                name_masked: "张*".into(),
                phone_masked: "138****5678".into(),
                email_masked: String::new(),
            }),
            body: "信号很差".into(),
            received_at: Some(ombuds_platform::time::to_timestamp(1_700_000_000_000)),
            status: "received".into(),
            ..Default::default()
        }
    }

    fn status(&self, from: &str, to: &str, version: u64) -> v1::ComplaintStatusChanged {
        v1::ComplaintStatusChanged {
            meta: self.meta(version),
            from_status: from.into(),
            to_status: to.into(),
            ..Default::default()
        }
    }

    fn assigned(&self, department: &str, version: u64) -> v1::ComplaintAssigned {
        v1::ComplaintAssigned {
            meta: self.meta(version),
            department: department.into(),
            queue: department.into(),
            rule: "test".into(),
            ..Default::default()
        }
    }

    fn sla_started(&self) -> v1::SlaClockStarted {
        v1::SlaClockStarted {
            meta: self.meta(1),
            clock_id: uuid::Uuid::now_v7().to_string(),
            target: "resolution".into(),
            ..Default::default()
        }
    }

    fn clock_started(&self, clock_id: &str, target: &str) -> v1::SlaClockStarted {
        v1::SlaClockStarted {
            meta: self.meta(0),
            clock_id: clock_id.into(),
            target: target.into(),
            ..Default::default()
        }
    }

    fn clock_breached(&self, clock_id: &str, target: &str) -> v1::SlaClockBreached {
        v1::SlaClockBreached {
            meta: self.meta(0),
            clock_id: clock_id.into(),
            target: target.into(),
            ..Default::default()
        }
    }

    fn clock_met(&self, clock_id: &str, target: &str, margin_seconds: i64) -> v1::SlaClockMet {
        v1::SlaClockMet {
            meta: self.meta(0),
            clock_id: clock_id.into(),
            target: target.into(),
            margin_seconds,
            ..Default::default()
        }
    }

    fn escalated(&self, level: u32) -> v1::ComplaintEscalated {
        v1::ComplaintEscalated {
            meta: self.meta(1),
            level,
            escalated_to: format!("level-{level}"),
            reason: "test".into(),
            ..Default::default()
        }
    }

    fn transferred(&self, from: &str, to: &str, version: u64) -> v1::ComplaintTransferred {
        v1::ComplaintTransferred {
            meta: self.meta(version),
            transfer_id: uuid::Uuid::now_v7().to_string(),
            from_department: from.into(),
            to_department: to.into(),
            requirement: "check it".into(),
            actor: "agent-7".into(),
            ..Default::default()
        }
    }

    fn notification_sent(&self) -> v1::NotificationSent {
        v1::NotificationSent {
            meta: self.meta(1),
            delivery_id: uuid::Uuid::now_v7().to_string(),
            template: "acknowledgement".into(),
            medium: "sms".into(),
            recipient_masked: "138****5678".into(),
            attempts: 1,
            ..Default::default()
        }
    }
}

fn map(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn on_time(met_in_time: u64, met_late: u64, breached_open: u64, breached: u64) -> v1::OnTime {
    let decided = met_in_time + met_late + breached_open;
    v1::OnTime {
        met_in_time,
        met_late,
        breached_open,
        breached,
        rate: (decided > 0).then(|| met_in_time as f64 / decided as f64),
    }
}

fn on_time_map(pairs: &[(&str, v1::OnTime)]) -> HashMap<String, v1::OnTime> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn on_time_json(o: &v1::OnTime) -> serde_json::Value {
    serde_json::json!({
        "met_in_time": o.met_in_time,
        "met_late": o.met_late,
        "breached_open": o.breached_open,
        "breached": o.breached,
        "rate": o.rate,
    })
}

/// The counts as JSON, the shape of `/v1/counts` and the live snapshots.
fn json(c: &v1::Counts) -> serde_json::Value {
    let by = |m: &HashMap<String, v1::OnTime>| -> serde_json::Value {
        m.iter()
            .map(|(k, v)| (k.clone(), on_time_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    serde_json::json!({
        "on_time": on_time_json(&c.on_time.unwrap_or_default()),
        "on_time_by_target": by(&c.on_time_by_target),
        "on_time_by_department": by(&c.on_time_by_department),
        "escalations": c.escalations,
        "escalations_by_level": c.escalations_by_level,
        "transfers": c.transfers,
        "complaints": c.complaints,
        "by_channel": c.by_channel,
        "by_category": c.by_category,
        "by_department": c.by_department,
        "by_status": c.by_status,
        "sla_started": c.sla_started,
        "sla_breached": c.sla_breached,
        "sla_met": c.sla_met,
        "notifications_sent": c.notifications_sent,
        "notifications_failed": c.notifications_failed,
    })
}

/// Publishes `event` again with its own meta.event_id but a new `Nats-Msg-Id`, so
/// JetStream stores the copy and only the inbox can tell it was seen.
async fn redeliver<E: Event>(js: &jetstream::Context, event: &E) {
    let meta = event.meta().cloned().expect("meta");
    let headers = events::headers(
        &format!("{}-copy", meta.event_id),
        E::TYPE,
        &meta.complaint_id,
    );
    js.publish_with_headers(E::SUBJECT, headers, event.encode_to_vec().into())
        .await
        .expect("publish copy")
        .await
        .expect("stream ack");
}

#[tokio::test]
async fn events_from_every_stream_are_counted_once() {
    if std::env::var("TEST_LOG").is_ok() {
        ombuds_platform::telemetry::init(ombuds_platform::config::LogFormat::Text);
    }
    let nats = NatsServer::start();
    let db = TestDatabase::new("analytics").await;
    let (http_addr, grpc_addr) = (free_addr(), free_addr());
    let cfg = Config::from_pairs(
        "analytics",
        [
            ("NATS_URL", nats.url()),
            ("DATABASE_URL", db.url.clone()),
            ("OMBUDS_HTTP_ADDR", http_addr.to_string()),
            ("OMBUDS_GRPC_ADDR", grpc_addr.to_string()),
        ],
    );
    let settings = Settings::from_config(&cfg).expect("settings");
    assert_eq!(settings.live_interval, Duration::from_millis(500));
    let token = CancellationToken::new();
    let token_for_run = token.clone();
    let task = tokio::spawn(async move {
        let result = run(settings, token_for_run).await;
        if let Err(e) = &result {
            eprintln!("analytics failed: {e:#}");
        }
        result
    });

    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let js = jetstream::new(client.clone());
    // The live subject is core NATS: keep the latest snapshot seen.
    let live: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
    let mut sub = client
        .subscribe("analytics.live.counts")
        .await
        .expect("subscribe");
    {
        let live = live.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Ok(v) = serde_json::from_slice(&msg.payload) {
                    *live.lock().expect("lock") = Some(v);
                }
            }
        });
    }
    wait_until("the streams", WAIT, || async {
        for s in ["COMPLAINTS", "ROUTING", "SLA", "NOTIFICATIONS", "DLQ"] {
            js.get_stream(s).await.map_err(|e| format!("{s}: {e}"))?;
        }
        Ok(())
    })
    .await;
    let mut grpc = wait_until("the gRPC server", WAIT, || async {
        assert!(!task.is_finished(), "analytics stopped early");
        AnalyticsServiceClient::connect(format!("http://{grpc_addr}"))
            .await
            .map_err(|e| e.to_string())
    })
    .await;

    let (a, b, c, d) = (
        Complaint::new(),
        Complaint::new(),
        Complaint::new(),
        Complaint::new(),
    );
    // a: billing, assigned (before it is received), then resolved.
    events::publish(&js, &a.assigned("billing", 1))
        .await
        .expect("publish");
    let a_received = a.received("hotline", "billing", 1);
    events::publish(&js, &a_received).await.expect("publish");
    events::publish(&js, &a.status("received", "resolved", 2))
        .await
        .expect("publish");
    // b: no category, assigned.
    events::publish(&js, &b.received("email", "", 1))
        .await
        .expect("publish");
    events::publish(&js, &b.assigned("technical", 1))
        .await
        .expect("publish");
    // c: out of order: its status change (version 2) before its receipt (version 1).
    events::publish(&js, &c.status("received", "in_progress", 2))
        .await
        .expect("publish");
    events::publish(&js, &c.received("web_form", "network/coverage", 1))
        .await
        .expect("publish");
    events::publish(&js, &c.assigned("technical", 1))
        .await
        .expect("publish");
    // d: received only.
    events::publish(&js, &d.received("app", "  ", 1))
        .await
        .expect("publish");
    // SLA and notifications.
    for x in [&a, &b, &c] {
        events::publish(&js, &x.sla_started())
            .await
            .expect("publish");
    }
    let breached = v1::SlaClockBreached {
        meta: b.meta(1),
        clock_id: "clock-b".into(),
        target: "resolution".into(),
        ..Default::default()
    };
    events::publish(&js, &breached).await.expect("publish");
    let met = v1::SlaClockMet {
        meta: a.meta(2),
        clock_id: "clock-a".into(),
        target: "resolution".into(),
        margin_seconds: 3600,
        ..Default::default()
    };
    events::publish(&js, &met).await.expect("publish");
    let a_sent = a.notification_sent();
    events::publish(&js, &a_sent).await.expect("publish");
    events::publish(&js, &b.notification_sent())
        .await
        .expect("publish");
    // A subject analytics does not know: acked and ignored.
    js.publish("complaint.archived", bytes_of("whatever"))
        .await
        .expect("publish")
        .await
        .expect("ack");

    let mut expected = v1::Counts {
        complaints: 4,
        by_channel: map(&[("hotline", 1), ("email", 1), ("web_form", 1), ("app", 1)]),
        by_category: map(&[
            ("billing", 1),
            ("uncategorised", 2),
            ("network/coverage", 1),
        ]),
        by_department: map(&[("billing", 1), ("technical", 2), ("unassigned", 1)]),
        by_status: map(&[("resolved", 1), ("received", 2), ("in_progress", 1)]),
        sla_started: 3,
        sla_breached: 1,
        sla_met: 1,
        notifications_sent: 2,
        notifications_failed: 0,
        // clock-a met an hour early (billing), clock-b breached (technical); the three
        // started clocks are still running and do not count.
        on_time: Some(on_time(1, 0, 1, 1)),
        on_time_by_target: on_time_map(&[("resolution", on_time(1, 0, 1, 1))]),
        on_time_by_department: on_time_map(&[
            ("billing", on_time(1, 0, 0, 0)),
            ("technical", on_time(0, 0, 1, 1)),
        ]),
        escalations: 0,
        escalations_by_level: HashMap::new(),
        transfers: 0,
    };
    wait_counts(&mut grpc, &expected).await;

    // The same counts over HTTP, on core NATS and in the KV bucket.
    let http = reqwest::Client::new();
    let body: serde_json::Value = http
        .get(format!("http://{http_addr}/v1/counts"))
        .send()
        .await
        .expect("GET /v1/counts")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body, json(&expected));
    let page = http
        .get(format!("http://{http_addr}/"))
        .send()
        .await
        .expect("GET /");
    assert!(page
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html")));
    let page = page.text().await.expect("page");
    assert!(
        page.contains("v1/counts") && page.contains("setInterval"),
        "{page}"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external assets"
    );
    let bucket = ombuds_platform::nats::analytics_bucket(&js)
        .await
        .expect("bucket");
    wait_kv(&bucket, &expected).await;
    wait_until(
        "the live snapshot on analytics.live.counts",
        WAIT,
        || async {
            match live.lock().expect("lock").clone() {
                Some(v) if v == json(&expected) => Ok(()),
                other => Err(format!("latest: {other:?}")),
            }
        },
    )
    .await;

    // Redelivered duplicates (new Nats-Msg-Id, same event id) are not counted again.
    redeliver(&js, &a_sent).await;
    redeliver(&js, &a_received).await;
    // Sentinels after the copies on the same streams: when they count, the copies were handled.
    let failed = v1::NotificationFailed {
        meta: c.meta(1),
        delivery_id: "delivery-c".into(),
        template: "acknowledgement".into(),
        medium: "email".into(),
        reason: "mailbox full".into(),
        ..Default::default()
    };
    events::publish(&js, &failed).await.expect("publish");
    let e = Complaint::new();
    events::publish(&js, &e.received("sms", "billing", 1))
        .await
        .expect("publish");
    expected.complaints = 5;
    *expected.by_channel.entry("sms".into()).or_default() += 1;
    *expected.by_category.entry("billing".into()).or_default() += 1;
    *expected
        .by_department
        .entry("unassigned".into())
        .or_default() += 1;
    *expected.by_status.entry("received".into()).or_default() += 1;
    expected.notifications_failed = 1;
    wait_counts(&mut grpc, &expected).await;
    let mut notifications = js.get_stream("NOTIFICATIONS").await.expect("stream");
    assert_eq!(
        notifications.info().await.expect("info").state.messages,
        4,
        "the copy is in the stream"
    );

    // Garbage on complaint.received is dead-lettered; counting goes on.
    js.publish("complaint.received", bytes_of("not protobuf at all"))
        .await
        .expect("publish garbage")
        .await
        .expect("ack");
    let letter = wait_until("the dead letter", WAIT, || async {
        let dlq = js.get_stream("DLQ").await.map_err(|e| e.to_string())?;
        let msg = dlq
            .get_last_raw_message_by_subject("dlq.analytics.decode")
            .await
            .map_err(|e| e.to_string())?;
        v1::DeadLetter::decode(msg.payload).map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(letter.subject, "complaint.received");
    assert_eq!(letter.service, "analytics");
    assert_eq!(letter.payload, b"not protobuf at all");
    let f = Complaint::new();
    events::publish(&js, &f.received("store", "product", 1))
        .await
        .expect("publish");
    events::publish(&js, &f.assigned("product", 1))
        .await
        .expect("publish");
    expected.complaints = 6;
    expected.by_channel.insert("store".into(), 1);
    expected.by_category.insert("product".into(), 1);
    expected.by_department.insert("product".into(), 1);
    *expected.by_status.entry("received".into()).or_default() += 1;
    wait_counts(&mut grpc, &expected).await;
    wait_kv(&bucket, &expected).await;

    // The unknown subject was acked and counted as ignored.
    let metrics = http
        .get(format!("http://{http_addr}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics");
    let ignored = metrics
        .lines()
        .find(|l| l.contains("ignored_events_total") && l.contains("analytics-complaints"))
        .unwrap_or_default();
    assert!(ignored.ends_with(" 1"), "{ignored:?} in\n{metrics}");

    token.cancel();
    task.await
        .expect("join")
        .expect("analytics stopped cleanly");
    db.drop_pg().await;
}

fn bytes_of(s: &str) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(s.as_bytes())
}

async fn wait_counts(
    grpc: &mut AnalyticsServiceClient<tonic::transport::Channel>,
    expected: &v1::Counts,
) {
    wait_until("GetCounts to match", WAIT, || {
        let mut grpc = grpc.clone();
        async move {
            let got = grpc
                .get_counts(v1::GetCountsRequest {})
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            (got == *expected)
                .then_some(())
                .ok_or_else(|| format!("got {got:?}\nwant {expected:?}"))
        }
    })
    .await;
}

async fn wait_kv(bucket: &jetstream::kv::Store, expected: &v1::Counts) {
    wait_until("the KV key counts to match", WAIT, || async {
        let value = bucket
            .get("counts")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no value yet")?;
        let got: serde_json::Value = serde_json::from_slice(&value).map_err(|e| e.to_string())?;
        (got == json(expected))
            .then_some(())
            .ok_or_else(|| format!("got {got}"))
    })
    .await;
}

#[tokio::test]
async fn on_time_rates_escalations_and_transfers_from_a_crafted_mix() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("analytics_on_time").await;
    let (http_addr, grpc_addr) = (free_addr(), free_addr());
    let cfg = Config::from_pairs(
        "analytics",
        [
            ("NATS_URL", nats.url()),
            ("DATABASE_URL", db.url.clone()),
            ("OMBUDS_HTTP_ADDR", http_addr.to_string()),
            ("OMBUDS_GRPC_ADDR", grpc_addr.to_string()),
        ],
    );
    let settings = Settings::from_config(&cfg).expect("settings");
    let token = CancellationToken::new();
    let task = tokio::spawn(run(settings, token.clone()));
    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let js = jetstream::new(client);
    wait_until("the streams", WAIT, || async {
        for s in ["COMPLAINTS", "ROUTING", "SLA"] {
            js.get_stream(s).await.map_err(|e| format!("{s}: {e}"))?;
        }
        Ok(())
    })
    .await;
    let mut grpc = wait_until("the gRPC server", WAIT, || async {
        AnalyticsServiceClient::connect(format!("http://{grpc_addr}"))
            .await
            .map_err(|e| e.to_string())
    })
    .await;

    // p in billing, q and r in technical (r is transferred to quality at the end), s
    // never seen by analytics (its clock counts as unassigned).
    let (p, q, r, s) = (
        Complaint::new(),
        Complaint::new(),
        Complaint::new(),
        Complaint::new(),
    );
    for (c, category, department) in [
        (&p, "billing", "billing"),
        (&q, "network", "technical"),
        (&r, "network", "technical"),
    ] {
        events::publish(&js, &c.received("hotline", category, 1))
            .await
            .expect("publish");
        events::publish(&js, &c.assigned(department, 1))
            .await
            .expect("publish");
    }

    macro_rules! publish {
        ($($ev:expr),* $(,)?) => {
            $(events::publish(&js, &$ev).await.expect("publish");)*
        };
    }
    publish!(
        // p: resolution met 10 minutes early, acknowledgement met exactly on time.
        p.clock_started("p1", "resolution"),
        p.clock_met("p1", "resolution", 600),
        p.clock_started("p2", "acknowledgement"),
        p.clock_met("p2", "acknowledgement", 0),
        // q: resolution met an hour late, its breach arriving after the met; first
        // response still running.
        q.clock_started("q1", "resolution"),
        q.clock_met("q1", "resolution", -3600),
        q.clock_breached("q1", "resolution"),
        q.clock_started("q2", "first_response"),
        // r: resolution breached and open; acknowledgement met late without a breach.
        r.clock_breached("r1", "resolution"),
        r.clock_met("r2", "acknowledgement", -5),
        // s: initial result met early.
        s.clock_met("s1", "initial_result", 10),
    );
    let escalated = p.escalated(1);
    for ev in [&escalated, &p.escalated(2), &q.escalated(2)] {
        events::publish(&js, ev).await.expect("publish");
    }
    // A redelivered escalation is not counted twice. The transfer after it on the same
    // stream (and consumer) shows when the copy was handled.
    redeliver(&js, &escalated).await;
    events::publish(&js, &r.transferred("technical", "quality", 1))
        .await
        .expect("publish");

    let expected = v1::Counts {
        complaints: 3,
        by_channel: map(&[("hotline", 3)]),
        by_category: map(&[("billing", 1), ("network", 2)]),
        by_department: map(&[("billing", 1), ("technical", 1), ("quality", 1)]),
        by_status: map(&[("received", 3)]),
        sla_started: 4,
        sla_breached: 2,
        sla_met: 5,
        notifications_sent: 0,
        notifications_failed: 0,
        // In time: p1, p2, s1. Late: q1 (also breached), r2. Breached and open: r1.
        on_time: Some(on_time(3, 2, 1, 2)),
        on_time_by_target: on_time_map(&[
            ("resolution", on_time(1, 1, 1, 2)),
            ("acknowledgement", on_time(1, 1, 0, 0)),
            ("initial_result", on_time(1, 0, 0, 0)),
        ]),
        on_time_by_department: on_time_map(&[
            ("billing", on_time(2, 0, 0, 0)),
            ("technical", on_time(0, 1, 0, 1)),
            ("quality", on_time(0, 1, 1, 1)),
            ("unassigned", on_time(1, 0, 0, 0)),
        ]),
        escalations: 3,
        escalations_by_level: [(1, 1), (2, 2)].into_iter().collect(),
        transfers: 1,
    };
    wait_counts(&mut grpc, &expected).await;
    let overall = expected.on_time.expect("on_time");
    assert_eq!(overall.rate, Some(0.5));
    assert_eq!(
        expected.on_time_by_target["resolution"].rate,
        Some(1.0 / 3.0)
    );
    assert_eq!(expected.on_time_by_department["technical"].rate, Some(0.0));

    let http = reqwest::Client::new();
    let body: serde_json::Value = http
        .get(format!("http://{http_addr}/v1/counts"))
        .send()
        .await
        .expect("GET /v1/counts")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body, json(&expected));
    assert_eq!(body["on_time"]["rate"], serde_json::json!(0.5));
    assert_eq!(body["escalations_by_level"]["2"], serde_json::json!(2));
    let bucket = ombuds_platform::nats::analytics_bucket(&js)
        .await
        .expect("bucket");
    wait_kv(&bucket, &expected).await;
    let page = http
        .get(format!("http://{http_addr}/"))
        .send()
        .await
        .expect("GET /")
        .text()
        .await
        .expect("page");
    for needle in [
        "on_time_by_target",
        "on_time_by_department",
        "escalations_by_level",
        "transfers",
    ] {
        assert!(page.contains(needle), "the dashboard shows {needle}");
    }

    token.cancel();
    task.await
        .expect("join")
        .expect("analytics stopped cleanly");
    db.drop_pg().await;
}
