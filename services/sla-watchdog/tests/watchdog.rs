//! The watchdog against a real nats-server and a real store: clocks from a policy pack,
//! warnings, breaches, pause and resume, met in time, events out of order, a restart
//! with overdue timers, and two replicas that never fire a timer twice.

use std::{collections::HashMap, path::Path, time::Duration};

use async_nats::jetstream;
use ombuds_platform::{config::Config, events, shutdown::CancellationToken, time};
use ombuds_proto::v1;
use ombuds_sla_watchdog::{run, Settings};
use ombuds_testkit::{free_addr, wait_until, NatsServer, ServiceProcess, TestDatabase};
use prost::Message;

const WAIT: Duration = Duration::from_secs(60);

/// A pack with short, calendar-time targets so a test sees warnings and breaches.
const TEST_PACK: &str = r#"
pack: test
version: 1
description: short targets for tests
policies:
  - name: quick
    rank: 1
    match: {}
    targets:
      - { target: resolution, within: 3s, warn_at: [50, 80] }
      - { target: feedback, within: 1h, starts_on: resolved, stops_on: closed }
"#;

fn settings(nats: &str, db: &str, pack: &Path) -> Settings {
    let cfg = Config::from_pairs(
        "sla-watchdog",
        [
            ("NATS_URL".to_owned(), nats.to_owned()),
            ("DATABASE_URL".to_owned(), db.to_owned()),
            ("OMBUDS_HTTP_ADDR".to_owned(), free_addr().to_string()),
            ("OMBUDS_GRPC_ADDR".to_owned(), free_addr().to_string()),
            (
                "OMBUDS_SLA_POLICY_PACK".to_owned(),
                pack.display().to_string(),
            ),
            ("OMBUDS_SLA_SWEEP".to_owned(), "1s".to_owned()),
        ],
    );
    Settings::from_config(&cfg).expect("settings")
}

async fn js(nats: &NatsServer) -> jetstream::Context {
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = jetstream::new(client);
    ombuds_platform::nats::provision(&js)
        .await
        .expect("streams");
    js
}

fn received(complaint_id: &str, ticket: &str) -> v1::ComplaintReceived {
    v1::ComplaintReceived {
        meta: Some(events::meta("test", complaint_id, ticket, 1)),
        channel: "email".into(),
        kind: "complaint".into(),
        priority: 3,
        received_at: Some(time::to_timestamp(time::now_ms())),
        ..Default::default()
    }
}

fn status(complaint_id: &str, ticket: &str, from: &str, to: &str) -> v1::ComplaintStatusChanged {
    v1::ComplaintStatusChanged {
        meta: Some(events::meta("test", complaint_id, ticket, 2)),
        from_status: from.into(),
        to_status: to.into(),
        ..Default::default()
    }
}

/// Every SLA event so far, as (subject, clock id + threshold for warnings, payload).
async fn sla_events(js: &jetstream::Context) -> Vec<(String, String, Vec<u8>)> {
    let mut stream = js.get_stream("SLA").await.expect("SLA stream");
    let last = stream.info().await.expect("info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            let subject = m.subject.to_string();
            let clock_id = match subject.as_str() {
                "sla.started" => v1::SlaClockStarted::decode(m.payload.clone()).map(|e| e.clock_id),
                "sla.warning" => v1::SlaClockWarning::decode(m.payload.clone())
                    .map(|e| format!("{}@{}", e.clock_id, e.threshold_percent)),
                "sla.breached" => {
                    v1::SlaClockBreached::decode(m.payload.clone()).map(|e| e.clock_id)
                }
                "sla.met" => v1::SlaClockMet::decode(m.payload.clone()).map(|e| e.clock_id),
                _ => Ok(String::new()),
            }
            .unwrap_or_default();
            out.push((subject, clock_id, m.payload.to_vec()));
        }
    }
    out
}

async fn count(js: &jetstream::Context, subject: &str) -> usize {
    sla_events(js)
        .await
        .iter()
        .filter(|(s, _, _)| s == subject)
        .count()
}

/// The clocks of a ticket over gRPC; none while the service is not answering yet.
async fn clocks(grpc: &str, ticket: &str) -> Vec<v1::Clock> {
    let Ok(mut c) =
        v1::sla_service_client::SlaServiceClient::connect(format!("http://{grpc}")).await
    else {
        return Vec::new();
    };
    c.list_clocks(v1::ListClocksRequest {
        ticket_no: ticket.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner().clocks)
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_warn_breach_pause_resume_and_meet() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("sla").await;
    let dir = tempfile::tempdir().expect("dir");
    let pack = dir.path().join("test.yaml");
    std::fs::write(&pack, TEST_PACK).expect("pack");
    let s = settings(&nats.url(), &db.url, &pack);
    let grpc = s.common.grpc_addr.to_string();
    let token = CancellationToken::new();
    let task = tokio::spawn(run(s, token.clone()));
    let js = js(&nats).await;

    // A: runs out: warnings at 50% and 80%, then the breach.
    let a = uuid::Uuid::now_v7().to_string();
    events::publish(&js, &received(&a, "T-A"))
        .await
        .expect("publish");
    // B: paused for 2 s while awaiting the customer, so its deadline moves by 2 s.
    let b = uuid::Uuid::now_v7().to_string();
    events::publish(&js, &received(&b, "T-B"))
        .await
        .expect("publish");
    // C: resolved in time, then the feedback clock starts and is met on close.
    let c = uuid::Uuid::now_v7().to_string();
    events::publish(&js, &received(&c, "T-C"))
        .await
        .expect("publish");

    let started_b = wait_until("B's clocks", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-B").await;
            k.into_iter()
                .find(|k| k.target == "resolution")
                .ok_or("none".to_owned())
        }
    })
    .await;
    events::publish(&js, &status(&b, "T-B", "in_progress", "awaiting_customer"))
        .await
        .expect("pause");
    events::publish(&js, &status(&c, "T-C", "in_progress", "resolved"))
        .await
        .expect("resolve");
    // pausing twice changes nothing
    events::publish(
        &js,
        &status(&b, "T-B", "awaiting_customer", "awaiting_customer"),
    )
    .await
    .expect("pause again");
    wait_until("B to pause", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-B").await;
            if k.iter()
                .any(|k| k.target == "resolution" && k.state == "paused")
            {
                Ok(())
            } else {
                Err(format!("{k:?}"))
            }
        }
    })
    .await;
    // The pause must span real time: wait until the clock has been paused for 2 s.
    let paused_at = clocks(&grpc, "T-B")
        .await
        .into_iter()
        .find(|k| k.target == "resolution")
        .and_then(|k| k.history.into_iter().find(|h| h.event == "paused"))
        .and_then(|h| h.at)
        .map(|t| time::from_timestamp(&t))
        .expect("the pause is in the clock's history");
    wait_until("2 s of pause", WAIT, || async move {
        let paused_for = time::now_ms() - paused_at;
        if paused_for >= 2_000 {
            Ok(())
        } else {
            Err(format!("paused for {paused_for} ms"))
        }
    })
    .await;
    events::publish(&js, &status(&b, "T-B", "awaiting_customer", "in_progress"))
        .await
        .expect("resume");

    // A breaches after two warnings, each once.
    let a_clock = wait_until("A to breach", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-A").await;
            k.into_iter()
                .find(|k| k.target == "resolution" && k.state == "breached")
                .ok_or("not yet".to_owned())
        }
    })
    .await;
    assert_eq!(a_clock.warned_percent, 80);
    let evs = sla_events(&js).await;
    let of_a: Vec<&str> = evs
        .iter()
        .filter(|(_, id, _)| id.starts_with(&a_clock.clock_id))
        .map(|(s, _, _)| s.as_str())
        .collect();
    assert_eq!(
        of_a,
        ["sla.started", "sla.warning", "sla.warning", "sla.breached"],
        "{of_a:?}"
    );

    // B's deadline moved by the paused time (about 2 s), and it still breaches.
    let b_clock = wait_until("B to breach", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-B").await;
            k.into_iter()
                .find(|k| k.target == "resolution" && k.state == "breached")
                .ok_or("not yet".to_owned())
        }
    })
    .await;
    let moved = time::from_timestamp(b_clock.deadline.as_ref().expect("deadline"))
        - time::from_timestamp(started_b.deadline.as_ref().expect("deadline"));
    assert!(
        (1_900..6_000).contains(&moved),
        "deadline moved by {moved} ms"
    );
    let events_of_b: Vec<String> = b_clock.history.iter().map(|h| h.event.clone()).collect();
    assert!(
        events_of_b.contains(&"paused".to_owned()) && events_of_b.contains(&"resumed".to_owned()),
        "{events_of_b:?}"
    );

    // C was met in time; its feedback clock started on resolution and is met on close.
    events::publish(&js, &status(&c, "T-C", "resolved", "closed"))
        .await
        .expect("close");
    let c_clocks = wait_until("C's clocks to be met", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-C").await;
            if k.len() == 2 && k.iter().all(|k| k.state == "met") {
                Ok(k)
            } else {
                Err(format!("{k:?}"))
            }
        }
    })
    .await;
    assert!(c_clocks.iter().any(|k| k.target == "feedback"));
    let met: Vec<v1::SlaClockMet> = sla_events(&js)
        .await
        .into_iter()
        .filter(|(s, _, _)| s == "sla.met")
        .filter_map(|(_, _, p)| v1::SlaClockMet::decode(p.as_slice()).ok())
        .collect();
    assert!(
        met.iter()
            .any(|m| m.target == "resolution" && m.margin_seconds >= 0),
        "{met:?}"
    );

    // Out of order: resolved before received → the clock is met at once, never breached.
    let d = uuid::Uuid::now_v7().to_string();
    events::publish(&js, &status(&d, "T-D", "in_progress", "resolved"))
        .await
        .expect("early stop");
    events::publish(&js, &received(&d, "T-D"))
        .await
        .expect("late start");
    wait_until("D to be met", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-D").await;
            if k.iter()
                .any(|k| k.target == "resolution" && k.state == "met")
            {
                Ok(())
            } else {
                Err(format!("{k:?}"))
            }
        }
    })
    .await;
    // A complaint received after D breaches: the timer has gone past D's deadline, and
    // D, met before its start arrived, must not have breached.
    let f = uuid::Uuid::now_v7().to_string();
    events::publish(&js, &received(&f, "T-F"))
        .await
        .expect("publish");
    wait_until("F to breach", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-F").await;
            if k.iter()
                .any(|k| k.target == "resolution" && k.state == "breached")
            {
                Ok(())
            } else {
                Err(format!("{k:?}"))
            }
        }
    })
    .await;
    let d_resolution = clocks(&grpc, "T-D")
        .await
        .into_iter()
        .find(|k| k.target == "resolution")
        .expect("clock");
    assert_eq!(d_resolution.state, "met");

    // A transfer form runs its own clock on the form's deadline.
    let e = uuid::Uuid::now_v7().to_string();
    events::publish(&js, &received(&e, "T-E"))
        .await
        .expect("publish");
    let form_deadline = time::now_ms() + 1_500;
    events::publish(
        &js,
        &v1::ComplaintTransferred {
            meta: Some(events::meta("test", &e, "T-E", 2)),
            transfer_id: "tr-1".into(),
            from_department: "customer_service".into(),
            to_department: "technical".into(),
            requirement: "check the cell".into(),
            deadline: Some(time::to_timestamp(form_deadline)),
            actor: "agent-1".into(),
        },
    )
    .await
    .expect("transfer");
    let form = wait_until("the transfer form's clock to breach", WAIT, || {
        let grpc = grpc.clone();
        async move {
            let k = clocks(&grpc, "T-E").await;
            k.into_iter()
                .find(|k| k.target == "transfer_form" && k.state == "breached")
                .ok_or("not yet".to_owned())
        }
    })
    .await;
    assert_eq!(
        time::from_timestamp(form.deadline.as_ref().expect("deadline")),
        form_deadline
    );
    assert!(
        form.history.iter().any(|h| h.event == "transferred"),
        "{:?}",
        form.history
    );

    token.cancel();
    task.await.expect("join").expect("clean stop");
    db.drop_pg().await;
}

fn env(nats: &str, db: &str, pack: &Path) -> Vec<(String, String)> {
    vec![
        ("NATS_URL".into(), nats.into()),
        ("DATABASE_URL".into(), db.into()),
        ("OMBUDS_HTTP_ADDR".into(), free_addr().to_string()),
        ("OMBUDS_GRPC_ADDR".into(), free_addr().to_string()),
        ("OMBUDS_SLA_POLICY_PACK".into(), pack.display().to_string()),
        ("OMBUDS_SLA_SWEEP".into(), "1s".into()),
    ]
}

/// Many clocks, the watchdog killed (SIGKILL) before their deadlines, restarted after:
/// every overdue timer fires once and none is lost. Then two replicas share the store
/// and the consumers, and no clock is breached twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_fires_overdue_timers_once_and_replicas_never_double_fire() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("sla_replicas").await;
    let dir = tempfile::tempdir().expect("dir");
    let pack = dir.path().join("test.yaml");
    std::fs::write(&pack, TEST_PACK.replace("within: 3s", "within: 6s")).expect("pack");
    let js = js(&nats).await;

    let mut first = ServiceProcess::start(
        "ombuds-sla-watchdog",
        dir.path(),
        &env(&nats.url(), &db.url, &pack),
    );
    let n = 150;
    for k in 0..n {
        let id = uuid::Uuid::now_v7().to_string();
        events::publish(&js, &received(&id, &format!("T-R{k}")))
            .await
            .expect("publish");
    }
    wait_until("every clock to start", WAIT, || {
        let js = js.clone();
        async move {
            let c = count(&js, "sla.started").await;
            if c == n {
                Ok(())
            } else {
                Err(format!("{c} started"))
            }
        }
    })
    .await;
    first.kill();
    // Every deadline passes while nothing runs.
    let last_deadline = sla_events(&js)
        .await
        .into_iter()
        .filter(|(s, _, _)| s == "sla.started")
        .filter_map(|(_, _, p)| v1::SlaClockStarted::decode(p.as_slice()).ok())
        .filter_map(|e| e.deadline.as_ref().map(time::from_timestamp))
        .max()
        .expect("deadlines");
    wait_until("every deadline to pass", WAIT, || async move {
        let left = last_deadline - time::now_ms();
        if left < 0 {
            Ok(())
        } else {
            Err(format!("{left} ms to the last deadline"))
        }
    })
    .await;
    assert_eq!(count(&js, "sla.breached").await, 0);
    // Two replicas come back at once.
    let mut a = ServiceProcess::start(
        "ombuds-sla-watchdog",
        dir.path(),
        &env(&nats.url(), &db.url, &pack),
    );
    let mut b = ServiceProcess::start(
        "ombuds-sla-watchdog",
        dir.path(),
        &env(&nats.url(), &db.url, &pack),
    );
    wait_until("every overdue clock to breach", WAIT, || {
        let js = js.clone();
        async move {
            let c = count(&js, "sla.breached").await;
            if c >= n {
                Ok(())
            } else {
                Err(format!("{c} breached"))
            }
        }
    })
    .await;
    // More clocks while both replicas run: each breaches once.
    for k in 0..n {
        let id = uuid::Uuid::now_v7().to_string();
        events::publish(&js, &received(&id, &format!("T-S{k}")))
            .await
            .expect("publish");
    }
    wait_until("the second batch to breach", WAIT, || {
        let js = js.clone();
        async move {
            let c = count(&js, "sla.breached").await;
            if c >= 2 * n {
                Ok(())
            } else {
                Err(format!("{c} breached"))
            }
        }
    })
    .await;
    // Stop both replicas cleanly: their outboxes are flushed, so a double firing would
    // now be on the stream.
    assert!(
        a.stop(Duration::from_secs(15)) && b.stop(Duration::from_secs(15)),
        "clean stops"
    );
    let evs = sla_events(&js).await;
    let mut per_clock: HashMap<(String, String), usize> = HashMap::new();
    for (s, id, _) in &evs {
        *per_clock.entry((s.clone(), id.clone())).or_default() += 1;
    }
    let doubles: Vec<_> = per_clock.iter().filter(|(_, c)| **c > 1).collect();
    assert!(doubles.is_empty(), "events emitted twice: {doubles:?}");
    assert_eq!(count(&js, "sla.breached").await, 2 * n);
    assert_eq!(count(&js, "sla.started").await, 2 * n);
    db.drop_pg().await;
}
