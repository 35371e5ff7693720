//! The delivery guarantees against a real nats-server and a real store: the outbox
//! publishes each event once even when a row is published twice, the inbox refuses a
//! second effect, and the consumer loop dead-letters poison and exhausted messages.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use async_nats::jetstream;
use ombuds_platform::{
    consumer::{self, ConsumerContext, ConsumerSpec, Outcome, PayloadSeal},
    events, inbox,
    metrics::Metrics,
    outbox::{self, OutboxSignal, Relay},
    shutdown::CancellationToken,
};
use ombuds_proto::v1;
use ombuds_testkit::{wait_until, NatsServer, TestDatabase};
use prost::Message;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, TransactionTrait};
use sea_orm_migration::prelude::*;

struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(outbox::migration::CreateOutbox),
            Box::new(inbox::migration::CreateInbox),
        ]
    }
}

async fn setup() -> (
    NatsServer,
    TestDatabase,
    sea_orm::DatabaseConnection,
    jetstream::Context,
) {
    let nats = NatsServer::start();
    let tdb = TestDatabase::new("platform").await;
    let db = ombuds_platform::db::connect_and_migrate::<Migrator>(&tdb.url)
        .await
        .expect("store");
    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = jetstream::new(client);
    ombuds_platform::nats::provision(&js)
        .await
        .expect("streams");
    (nats, tdb, db, js)
}

fn received(n: u64) -> v1::ComplaintReceived {
    let id = uuid::Uuid::now_v7().to_string();
    v1::ComplaintReceived {
        meta: Some(events::meta("test", &id, &format!("TS-20260101-{n:06}"), 1)),
        channel: "email".into(),
        ..Default::default()
    }
}

/// The last dead letter on `subject`, once it is there: its raw payload (the encoded
/// `DeadLetter`, for scans) and the decoded letter.
async fn dead_letter(js: &jetstream::Context, subject: &str) -> (bytes::Bytes, v1::DeadLetter) {
    let dlq = js.get_stream("DLQ").await.expect("DLQ");
    let raw = wait_until(subject, Duration::from_secs(30), || {
        let dlq = dlq.clone();
        async move {
            dlq.get_last_raw_message_by_subject(subject)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
    let letter = v1::DeadLetter::decode(raw.payload.clone()).expect("a DeadLetter");
    (raw.payload, letter)
}

#[tokio::test]
async fn outbox_publishes_each_event_once_even_when_published_twice() {
    let (_nats, tdb, db, js) = setup().await;
    let txn = db.begin().await.expect("begin");
    for n in 0..5 {
        outbox::enqueue(&txn, &received(n)).await.expect("enqueue");
    }
    txn.commit().await.expect("commit");
    let relay = Relay {
        db: db.clone(),
        js: js.clone(),
        signal: OutboxSignal::default(),
        metrics: Arc::new(Metrics::new("test")),
        retention: Duration::from_secs(3600),
        batch: 100,
    };
    assert_eq!(relay.flush_once().await.expect("flush"), 5);
    assert_eq!(relay.flush_once().await.expect("nothing left"), 0);
    // A crash after publishing but before marking: the rows go out again...
    db.execute_unprepared("UPDATE outbox SET published_at = NULL")
        .await
        .expect("reset");
    assert_eq!(relay.flush_once().await.expect("again"), 5);
    // ...and JetStream keeps one copy of each, because the event id repeats.
    let mut stream = js.get_stream("COMPLAINTS").await.expect("stream");
    assert_eq!(stream.info().await.expect("info").state.messages, 5);
    let msg = stream.get_raw_message(1).await.expect("first message");
    assert_eq!(
        msg.headers.get(events::HDR_TYPE).map(|v| v.as_str()),
        Some("ombuds.v1.ComplaintReceived")
    );
    assert!(msg.headers.get(events::HDR_TRACEPARENT).is_some());
    let decoded = v1::ComplaintReceived::decode(msg.payload).expect("decodes");
    assert_eq!(
        msg.headers.get(events::HDR_MSG_ID).map(|v| v.as_str()),
        decoded.meta.as_ref().map(|m| m.event_id.as_str())
    );
    db.close().await.expect("close");
    tdb.drop_pg().await;
}

#[tokio::test]
async fn inbox_refuses_a_second_effect() {
    let (_nats, tdb, db, _js) = setup().await;
    let txn = inbox::begin_once(&db, "c", "e1")
        .await
        .expect("first")
        .expect("new");
    txn.commit().await.expect("commit");
    assert!(inbox::begin_once(&db, "c", "e1")
        .await
        .expect("second")
        .is_none());
    // Another consumer handles the same event independently.
    let other = inbox::begin_once(&db, "d", "e1")
        .await
        .expect("other")
        .expect("new");
    other.rollback().await.expect("rollback");
    // A rolled-back effect leaves no trace: the event is handled later.
    assert!(inbox::begin_once(&db, "d", "e1")
        .await
        .expect("again")
        .is_some());
    db.close().await.expect("close");
    tdb.drop_pg().await;
}

#[tokio::test]
async fn consumer_dead_letters_poison_and_exhausted_messages() {
    let (_nats, tdb, db, js) = setup().await;
    let shutdown = CancellationToken::new();
    let ctx = ConsumerContext {
        js: js.clone(),
        service: "test".into(),
        max_deliver: 3,
        metrics: Arc::new(Metrics::new("test")),
        shutdown: shutdown.clone(),
        seal: None,
    };
    let attempts = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (a, d) = (attempts.clone(), done.clone());
    let task = tokio::spawn(consumer::run(
        ctx,
        ConsumerSpec::new("COMPLAINTS", "test-consumer", "complaint.>"),
        move |m| {
            let (a, d) = (a.clone(), d.clone());
            async move {
                match m.subject.as_str() {
                    "complaint.received" => match m.decode::<v1::ComplaintReceived>() {
                        Ok(_) => {
                            d.fetch_add(1, Ordering::SeqCst);
                            Outcome::Done
                        }
                        Err(o) => o,
                    },
                    _ => {
                        a.fetch_add(1, Ordering::SeqCst);
                        Outcome::Retry {
                            delay: Duration::from_millis(50),
                            error: "downstream unavailable".into(),
                        }
                    }
                }
            }
        },
    ));
    js.publish("complaint.received", vec![0xff, 0xff, 0xff].into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    js.publish("complaint.flaky", "x".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    events::publish(&js, &received(1))
        .await
        .expect("valid event");
    for (subject, needle) in [
        ("dlq.test.decode", "not a valid ComplaintReceived"),
        ("dlq.test.retries_exhausted", "gave up after 3 deliveries"),
    ] {
        let (_, letter) = dead_letter(&js, subject).await;
        assert!(letter.error.contains(needle), "{}", letter.error);
        assert_eq!(letter.service, "test");
    }
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "delivered max_deliver times"
    );
    wait_until("the valid event", Duration::from_secs(10), || {
        let n = done.load(Ordering::SeqCst);
        async move {
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        }
    })
    .await;
    shutdown.cancel();
    task.await.expect("consumer stops on shutdown");
    db.close().await.expect("close");
    tdb.drop_pg().await;
}

#[tokio::test]
async fn replicas_migrating_together_do_not_collide() {
    let tdb = TestDatabase::new("migrate").await;
    let runs = (0..4).map(|_| {
        let url = tdb.url.clone();
        tokio::spawn(async move {
            ombuds_platform::db::connect_and_migrate::<Migrator>(&url)
                .await
                .map(drop)
        })
    });
    for r in futures::future::join_all(runs).await {
        r.expect("task").expect("migration");
    }
    tdb.drop_pg().await;
}

#[tokio::test]
async fn inbox_records_many_at_once_and_names_the_repeats() {
    let (_nats, tdb, db, _js) = setup().await;
    let txn = db.begin().await.expect("begin");
    assert!(inbox::record(&txn, "c", "old").await.expect("one"));
    let fresh = inbox::record_many(&txn, "c", &["a", "old", "b", "a"])
        .await
        .expect("many");
    assert_eq!(fresh, [true, false, true, false]);
    txn.commit().await.expect("commit");
    let again = inbox::record_many(&db, "c", &["a", "b", "c"])
        .await
        .expect("again");
    assert_eq!(again, [false, false, true]);
    db.close().await.expect("close");
    tdb.drop_pg().await;
}

/// A batch handler that writes through the inbox and the outbox with multi-row
/// statements: valid events are handled once each, a poison message is dead-lettered
/// without undoing its neighbours, and a message that fails the batch is handled on
/// its own while the rest commit.
#[tokio::test]
async fn batch_consumer_commits_the_good_and_isolates_the_bad() {
    let (_nats, tdb, db, js) = setup().await;
    let valid: Vec<v1::ComplaintReceived> = (0..40).map(received).collect();
    for (i, e) in valid.iter().enumerate() {
        events::publish(&js, e).await.expect("publish");
        if i == 10 {
            js.publish("complaint.received", vec![0xff, 0xff].into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
        if i == 20 {
            js.publish("complaint.fragile", "x".into())
                .await
                .expect("publish")
                .await
                .expect("ack");
        }
    }
    // The same event again under another message id: only the inbox can catch it.
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert(events::HDR_MSG_ID, "a-redelivery");
    js.publish_with_headers("complaint.received", hdrs, valid[3].encode_to_vec().into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    let shutdown = CancellationToken::new();
    let ctx = ConsumerContext {
        js: js.clone(),
        service: "test".into(),
        max_deliver: 3,
        metrics: Arc::new(Metrics::new("test")),
        shutdown: shutdown.clone(),
        seal: None,
    };
    let batches = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let fragile_alone = Arc::new(AtomicUsize::new(0));
    let (seen, alone) = (batches.clone(), fragile_alone.clone());
    let task = tokio::spawn(consumer::run_batches(
        ctx,
        ConsumerSpec::new("COMPLAINTS", "test-batches", "complaint.>"),
        db.clone(),
        256,
        move |txn, deliveries| {
            let (seen, alone) = (seen.clone(), alone.clone());
            async move {
                if let Ok(mut s) = seen.lock() {
                    s.push(deliveries.len());
                }
                let mut outcomes = Vec::new();
                let mut decoded = Vec::new();
                for d in &deliveries {
                    if d.subject == "complaint.fragile" {
                        if deliveries.len() > 1 {
                            return Err(sea_orm::DbErr::Custom("fragile in a crowd".into()));
                        }
                        alone.fetch_add(1, Ordering::SeqCst);
                        outcomes.push(Outcome::Done);
                        decoded.push(None);
                        continue;
                    }
                    match d.decode::<v1::ComplaintReceived>() {
                        Ok(e) => {
                            outcomes.push(Outcome::Done);
                            decoded.push(Some(e));
                        }
                        Err(o) => {
                            outcomes.push(o);
                            decoded.push(None);
                        }
                    }
                }
                let ids: Vec<String> = decoded
                    .iter()
                    .flatten()
                    .map(|e| e.meta.clone().unwrap_or_default().event_id)
                    .collect();
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                let mut fresh = inbox::record_many(txn.as_ref(), "test-batches", &refs)
                    .await?
                    .into_iter();
                let mut owed = outbox::Pending::default();
                for (e, o) in decoded.iter().zip(outcomes.iter_mut()) {
                    if let Some(e) = e {
                        if fresh.next() == Some(true) {
                            let mut copy = e.clone();
                            if let Some(m) = copy.meta.as_mut() {
                                m.event_id = format!("copy-{}", m.event_id);
                            }
                            owed.push(&copy);
                        } else {
                            *o = Outcome::Duplicate;
                        }
                    }
                }
                owed.write(txn.as_ref()).await?;
                Ok(outcomes)
            }
        },
        || {},
    ));
    let (_, letter) = dead_letter(&js, "dlq.test.decode").await;
    assert!(letter.error.contains("not a valid ComplaintReceived"));
    wait_until(
        "every valid event handled once",
        Duration::from_secs(30),
        || {
            let db = db.clone();
            let alone = fragile_alone.load(Ordering::SeqCst);
            async move {
                let n = outbox::entity::Entity::find()
                    .count(&db)
                    .await
                    .map_err(|e| e.to_string())?;
                if n == 40 && alone == 1 {
                    Ok(())
                } else {
                    Err(format!("{n} effects, fragile handled alone {alone} times"))
                }
            }
        },
    )
    .await;
    shutdown.cancel();
    task.await.expect("consumer stops on shutdown");
    let sizes = batches.lock().map(|b| b.clone()).unwrap_or_default();
    assert!(
        sizes.iter().any(|&n| n > 1),
        "messages were handled in batches: {sizes:?}"
    );
    let n = outbox::entity::Entity::find()
        .count(&db)
        .await
        .expect("count");
    assert_eq!(n, 40, "no effect twice, none lost");
    db.close().await.expect("close");
    tdb.drop_pg().await;
}

/// A toy seal for the test: reversed bytes behind a marker.
struct Reverse;

impl consumer::PayloadSeal for Reverse {
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut out = b"sealed:".to_vec();
        out.extend(plain.iter().rev());
        out
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let rest = sealed
            .strip_prefix(b"sealed:")
            .ok_or_else(|| "not sealed here".to_owned())?;
        Ok(rest.iter().rev().copied().collect())
    }
}

/// A service with a seal keeps no plaintext in its dead letters, and a replayed sealed
/// letter reaches the handler opened; one that does not open is dead-lettered as `sealed`.
#[tokio::test]
async fn sealed_dead_letters_hold_no_plaintext_and_open_when_replayed() {
    let (_nats, tdb, db, js) = setup().await;
    let shutdown = CancellationToken::new();
    let ctx = ConsumerContext {
        js: js.clone(),
        service: "test".into(),
        max_deliver: 3,
        metrics: Arc::new(Metrics::new("test")),
        shutdown: shutdown.clone(),
        seal: Some(Arc::new(Reverse)),
    };
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    let task = tokio::spawn(consumer::run(
        ctx,
        ConsumerSpec::new("COMPLAINTS", "test-sealed", "complaint.>"),
        move |m| {
            let s = s.clone();
            async move {
                let text = String::from_utf8_lossy(&m.payload).into_owned();
                if let Ok(mut s) = s.lock() {
                    s.push(text.clone());
                }
                if text.contains("first try") {
                    Outcome::poison("invalid", "phone number refused")
                } else {
                    Outcome::Done
                }
            }
        },
    ));
    js.publish("complaint.note", "13812345678 first try".into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let (raw, letter) = dead_letter(&js, "dlq.test.invalid").await;
    assert!(
        !String::from_utf8_lossy(&raw).contains("13812345678"),
        "a sealed dead letter holds no plaintext"
    );
    assert!(letter.sealed);
    assert_eq!(
        Reverse.open(&letter.payload).expect("opens"),
        b"13812345678 first try"
    );
    // Replayed as ombudsctl does (after an operator fixed what was wrong): opened again.
    let mut fixed = Reverse.seal(b"13812345678 second try");
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert(events::HDR_SEALED, "1");
    js.publish_with_headers("complaint.note", hdrs.clone(), fixed.clone().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    // A sealed payload that does not open.
    fixed.drain(..7);
    js.publish_with_headers("complaint.note", hdrs, fixed.into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let (_, letter) = dead_letter(&js, "dlq.test.sealed").await;
    assert!(letter.error.contains("does not open"), "{}", letter.error);
    shutdown.cancel();
    task.await.expect("consumer stops");
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        ["13812345678 first try", "13812345678 second try"],
        "the handler saw plaintext, and never the unopenable payload"
    );
    db.close().await.expect("close");
    tdb.drop_pg().await;
}
