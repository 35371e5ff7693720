//! The batch path of the watchdog's consumers against a real store (SQLite, or
//! PostgreSQL with `OMBUDS_TEST_DATABASE_URL`), without NATS: the handler is given
//! batches directly, each in a transaction of its own, the way
//! `ombuds_platform::consumer::run_batches` calls it.
//!
//! - many events about a few complaints (in order and out of order) give the same
//!   plans, clocks and events whether handled one at a time, in small batches or in
//!   one batch;
//! - a poison message among valid ones is answered `Poison`, writes nothing, and does
//!   not hold up the others;
//! - a batch delivered again is answered `Duplicate` throughout and changes nothing;
//! - two transactions about one complaint take turns, neither losing the other's change.

use std::{path::Path, sync::Arc, time::Duration};

use ombuds_calendar::Calendars;
use ombuds_platform::{
    consumer::{Delivery, Outcome},
    events::{self, Event},
    inbox,
    outbox::{self, OutboxSignal},
    time,
};
use ombuds_proto::v1;
use ombuds_sla_watchdog::{
    clocks::Consumer,
    engine::Engine,
    entity::{clock, plan},
    migration::Migrator,
    planner::PolicyPlanner,
    policy::PolicyStore,
    timer::{self, TimerQueue},
    State,
};
use ombuds_testkit::TestDatabase;
use prost::Message;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, QueryOrder, TransactionTrait};

/// Targets of every kind: calendar time, business time and working days on `cn`,
/// clocks that start on later triggers, warnings.
const PACK: &str = r#"
pack: batch-test
version: 1
defaults:
  business_calendar: cn
  warn_at: [50, 80]
policies:
  - name: all
    match: {}
    targets:
      - { target: acknowledgement, within: 10m }
      - { target: first_response, within: 8 business hours }
      - { target: resolution, within: 3 working days }
      - { target: feedback, within: 24h }
      - { target: recontact, within: 48h }
      - { target: callback_survey, within: 2 working days }
"#;

/// 2026-03-02 09:00 in Beijing, a Monday.
const T0: i64 = 1_772_413_200_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

async fn state(db: &TestDatabase, pack: &Path) -> Arc<State> {
    let conn = ombuds_platform::db::connect_and_migrate::<Migrator>(&db.url)
        .await
        .expect("store");
    let calendars = Calendars::builtin();
    let store = PolicyStore::load(&pack.display().to_string(), calendars.clone()).expect("pack");
    let calendars = Arc::new(calendars);
    let fallback = calendars.get("24x7").expect("24x7");
    let st = Arc::new(State {
        db: conn,
        outbox: OutboxSignal::default(),
        engine: Engine {
            calendars,
            fallback,
            planner: Arc::new(PolicyPlanner {
                store: Arc::new(store),
            }),
        },
        timers: TimerQueue::default(),
        horizon: Duration::from_secs(3600),
    });
    // Sets the loaded horizon, so timers written by a batch go to the heap.
    timer::reload(&st).await.expect("reload");
    st
}

fn pack_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("pack.yaml");
    std::fs::write(&p, PACK).expect("pack");
    p
}

fn meta(complaint: &str, at: i64) -> v1::EventMeta {
    let mut m = events::meta("test", complaint, &format!("T-{}", &complaint[24..]), 1);
    m.occurred_at = Some(time::to_timestamp(at));
    m
}

fn delivery<E: Event>(seq: u64, e: &E) -> Delivery {
    raw(seq, E::SUBJECT, e.encode_to_vec())
}

fn raw(seq: u64, subject: &str, payload: Vec<u8>) -> Delivery {
    Delivery {
        subject: subject.to_owned(),
        payload: payload.into(),
        headers: Default::default(),
        stream: "TEST".into(),
        stream_sequence: seq,
        delivered: 1,
    }
}

fn received(c: &str, at: i64) -> v1::ComplaintReceived {
    v1::ComplaintReceived {
        meta: Some(meta(c, at)),
        kind: "complaint".into(),
        channel: "email".into(),
        priority: 3,
        received_at: Some(time::to_timestamp(at)),
        ..Default::default()
    }
}

fn status(c: &str, at: i64, from: &str, to: &str) -> v1::ComplaintStatusChanged {
    v1::ComplaintStatusChanged {
        meta: Some(meta(c, at)),
        from_status: from.into(),
        to_status: to.into(),
        ..Default::default()
    }
}

fn assigned(c: &str, at: i64, department: &str) -> v1::ComplaintAssigned {
    v1::ComplaintAssigned {
        meta: Some(meta(c, at)),
        department: department.into(),
        ..Default::default()
    }
}

fn message(c: &str, at: i64, kind: &str) -> v1::ComplaintMessageAdded {
    v1::ComplaintMessageAdded {
        meta: Some(meta(c, at)),
        kind: kind.into(),
        visible: true,
        ..Default::default()
    }
}

fn transferred(c: &str, at: i64, to: &str, deadline: i64) -> v1::ComplaintTransferred {
    v1::ComplaintTransferred {
        meta: Some(meta(c, at)),
        to_department: to.into(),
        deadline: Some(time::to_timestamp(deadline)),
        ..Default::default()
    }
}

fn satisfaction(c: &str, at: i64, score: u32) -> v1::SatisfactionRecorded {
    v1::SatisfactionRecorded {
        meta: Some(meta(c, at)),
        score,
        unsatisfied: score <= 2,
        ..Default::default()
    }
}

/// Five complaints' events: X in order through its whole life (assigned, paused twice,
/// resumed, answered, transferred, resolved, unsatisfied, closed); Y out of order
/// (resolved and assigned before received, resumed before paused); Z with events that
/// ask nothing of the clocks; X, Y and Z interleaved; then U and V (more out-of-order
/// and repeated events).
fn lifecycle() -> Vec<Delivery> {
    let x = uuid::Uuid::now_v7().to_string();
    let y = uuid::Uuid::now_v7().to_string();
    let z = uuid::Uuid::now_v7().to_string();
    let u = uuid::Uuid::now_v7().to_string();
    let v = uuid::Uuid::now_v7().to_string();
    let t = T0;
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        seq
    };
    vec![
        delivery(next(), &received(&x, t)),
        delivery(next(), &status(&y, t + 2 * HOUR, "in_progress", "resolved")),
        delivery(next(), &assigned(&x, t + 5 * MIN, "billing")),
        delivery(next(), &message(&z, t + MIN, "note")),
        delivery(next(), &assigned(&y, t + HOUR, "network")),
        delivery(
            next(),
            &status(&x, t + HOUR, "in_progress", "awaiting_customer"),
        ),
        delivery(next(), &received(&y, t)),
        delivery(
            next(),
            &status(&x, t + 90 * MIN, "awaiting_customer", "awaiting_customer"),
        ),
        delivery(next(), &status(&z, t + MIN, "received", "assigned")),
        delivery(next(), &received(&z, t + 2 * MIN)),
        delivery(
            next(),
            &status(&y, t + 4 * HOUR, "awaiting_customer", "in_progress"),
        ),
        delivery(
            next(),
            &status(&x, t + 3 * HOUR, "awaiting_customer", "in_progress"),
        ),
        delivery(
            next(),
            &status(&y, t + 3 * HOUR, "resolved", "awaiting_customer"),
        ),
        delivery(next(), &message(&x, t + 4 * HOUR, "reply")),
        delivery(
            next(),
            &transferred(&x, t + 270 * MIN, "technical", t + 28 * HOUR),
        ),
        delivery(next(), &status(&x, t + 6 * HOUR, "in_progress", "resolved")),
        delivery(next(), &satisfaction(&x, t + 8 * HOUR, 2)),
        delivery(
            next(),
            &transferred(&z, t + 3 * MIN, "stores", t + 2 * HOUR),
        ),
        delivery(next(), &status(&x, t + 9 * HOUR, "resolved", "closed")),
        delivery(
            next(),
            &status(&z, t + 10 * MIN, "in_progress", "awaiting_customer"),
        ),
        // U: resumed, assigned and transferred before received; transferred again
        // while paused; resolved, reopened, unsatisfied, closed.
        delivery(
            next(),
            &status(&u, t + 2 * HOUR, "awaiting_customer", "in_progress"),
        ),
        delivery(next(), &assigned(&u, t + 3 * MIN, "billing")),
        delivery(next(), &transferred(&u, t + 4 * MIN, "x", t + 3 * HOUR)),
        delivery(next(), &received(&u, t)),
        delivery(
            next(),
            &status(&u, t + HOUR, "in_progress", "awaiting_customer"),
        ),
        delivery(next(), &transferred(&u, t + 5 * HOUR, "y", t + 9 * HOUR)),
        delivery(
            next(),
            &status(&u, t + 6 * HOUR, "awaiting_customer", "in_progress"),
        ),
        delivery(next(), &status(&u, t + 7 * HOUR, "in_progress", "resolved")),
        delivery(next(), &status(&u, t + 8 * HOUR, "resolved", "reopened")),
        delivery(next(), &satisfaction(&u, t + 9 * HOUR, 1)),
        delivery(next(), &status(&u, t + 10 * HOUR, "reopened", "closed")),
        // V: received twice, paused over a weekend, answered, satisfied.
        delivery(next(), &received(&v, t)),
        delivery(next(), &received(&v, t + HOUR)),
        delivery(
            next(),
            &status(&v, t + 26 * HOUR, "in_progress", "awaiting_customer"),
        ),
        delivery(
            next(),
            &status(&v, t + 70 * HOUR, "awaiting_customer", "in_progress"),
        ),
        delivery(next(), &message(&v, t + 71 * HOUR, "reply")),
        delivery(next(), &satisfaction(&v, t + 72 * HOUR, 5)),
    ]
}

fn label(o: &Outcome) -> String {
    match o {
        Outcome::Done => "done".into(),
        Outcome::Duplicate => "duplicate".into(),
        Outcome::Retry { error, .. } => format!("retry: {error}"),
        Outcome::Poison { reason, .. } => format!("poison: {reason}"),
    }
}

/// Handles `deliveries` as one batch in one transaction, commits, then runs the
/// after-commit step.
async fn batch(st: &State, c: &Consumer, deliveries: &[Delivery]) -> Vec<String> {
    let txn = st.db.begin().await.expect("begin");
    let outcomes = c.handle(&txn, deliveries).await.expect("the batch");
    txn.commit().await.expect("commit");
    c.after_commit();
    assert_eq!(outcomes.len(), deliveries.len());
    outcomes.iter().map(label).collect()
}

/// What the store holds, without what differs from run to run (row ids, clock ids,
/// event ids, write times): plans, clocks, the events owed in outbox order, the inbox.
#[derive(Debug, PartialEq)]
struct Snapshot {
    plans: Vec<plan::Model>,
    clocks: Vec<clock::Model>,
    events: Vec<String>,
    inbox: Vec<String>,
}

async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    let mut plans = plan::Entity::find().all(db).await.expect("plans");
    for p in &mut plans {
        p.updated_at = 0;
    }
    plans.sort_by(|a, b| a.complaint_id.cmp(&b.complaint_id));
    let mut clocks = clock::Entity::find().all(db).await.expect("clocks");
    let target_of: std::collections::HashMap<String, String> = clocks
        .iter()
        .map(|c| (c.clock_id.clone(), format!("{}/{}", c.ticket_no, c.target)))
        .collect();
    for c in &mut clocks {
        c.clock_id = String::new();
        c.updated_at = 0;
    }
    clocks.sort_by(|a, b| (&a.complaint_id, &a.target).cmp(&(&b.complaint_id, &b.target)));
    let rows = outbox::entity::Entity::find()
        .order_by_asc(outbox::entity::Column::Id)
        .all(db)
        .await
        .expect("outbox");
    let events = rows
        .iter()
        .map(|r| {
            let p = r.payload.as_slice();
            let at = |t: &Option<prost_types::Timestamp>| t.as_ref().map(time::from_timestamp);
            let clock = |id: &str| target_of.get(id).cloned().unwrap_or_default();
            match r.subject.as_str() {
                "sla.started" => {
                    let e = v1::SlaClockStarted::decode(p).expect("started");
                    let m = e.meta.unwrap_or_default();
                    format!(
                        "started {} v{} {} at {:?} due {:?} {}",
                        m.complaint_id,
                        m.complaint_version,
                        clock(&e.clock_id),
                        at(&e.started_at),
                        at(&e.deadline),
                        e.policy
                    )
                }
                "sla.met" => {
                    let e = v1::SlaClockMet::decode(p).expect("met");
                    let m = e.meta.unwrap_or_default();
                    format!(
                        "met {} {} at {:?} due {:?} margin {}",
                        m.complaint_id,
                        clock(&e.clock_id),
                        at(&e.met_at),
                        at(&e.deadline),
                        e.margin_seconds
                    )
                }
                other => format!("unexpected {other}"),
            }
        })
        .collect();
    let mut inbox: Vec<String> = inbox::entity::Entity::find()
        .all(db)
        .await
        .expect("inbox")
        .into_iter()
        .map(|r| format!("{}:{}", r.consumer, r.event_id))
        .collect();
    inbox.sort();
    Snapshot {
        plans,
        clocks,
        events,
        inbox,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_gives_the_same_states_as_one_event_at_a_time() {
    let dir = tempfile::tempdir().expect("dir");
    let pack = pack_file(dir.path());
    let deliveries = lifecycle();

    // One at a time, each in its own transaction (what the platform falls back to).
    let one_db = TestDatabase::new("sla_one").await;
    let one = state(&one_db, &pack).await;
    let c = Consumer::new(one.clone(), "sla-test");
    let mut singly = Vec::new();
    for d in &deliveries {
        singly.extend(batch(&one, &c, std::slice::from_ref(d)).await);
    }
    let expected = snapshot(&one.db).await;

    // The whole lifecycle in one batch.
    let all_db = TestDatabase::new("sla_all").await;
    let all = state(&all_db, &pack).await;
    let c = Consumer::new(all.clone(), "sla-test");
    let txn = all.db.begin().await.expect("begin");
    let outcomes = c.handle(&txn, &deliveries).await.expect("the batch");
    assert!(
        all.timers.is_empty(),
        "no timer is scheduled before the batch commits"
    );
    txn.commit().await.expect("commit");
    c.after_commit();
    assert!(
        !all.timers.is_empty(),
        "the batch's timers are scheduled after the commit"
    );
    let together: Vec<String> = outcomes.iter().map(label).collect();
    assert_eq!(together, singly);
    assert!(together.iter().all(|o| o == "done"), "{together:?}");
    let got = snapshot(&all.db).await;

    // In batches of three, so a complaint's events span several batches.
    let some_db = TestDatabase::new("sla_some").await;
    let some = state(&some_db, &pack).await;
    let c = Consumer::new(some.clone(), "sla-test");
    for chunk in deliveries.chunks(3) {
        batch(&some, &c, chunk).await;
    }
    let in_threes = snapshot(&some.db).await;

    // The run did what it should: clocks of every kind, paused, resumed, met.
    assert_eq!(expected.plans.len(), 5, "{:?}", expected.plans);
    let states: Vec<(&str, &str)> = expected
        .clocks
        .iter()
        .map(|c| (c.target.as_str(), c.state.as_str()))
        .collect();
    assert!(
        expected.clocks.iter().filter(|c| c.state == "met").count() >= 5,
        "{states:?}"
    );
    assert!(
        expected
            .clocks
            .iter()
            .any(|c| c.history.contains("\"resumed\"") && c.history.contains("\"paused\"")),
        "{states:?}"
    );
    assert!(
        expected.clocks.iter().any(|c| c.target == "transfer_form"),
        "{states:?}"
    );
    assert!(
        expected.events.iter().any(|e| e.starts_with("met")),
        "{:?}",
        expected.events
    );
    // Pausing twice paused once.
    let x_resolution = expected
        .clocks
        .iter()
        .find(|c| c.target == "resolution" && c.department == "billing")
        .expect("X's resolution clock");
    assert_eq!(x_resolution.history.matches("\"paused\"").count(), 1);

    assert_eq!(got, expected, "one batch == one at a time");
    assert_eq!(in_threes, expected, "batches of three == one at a time");

    for (db, st) in [(&one_db, one), (&all_db, all), (&some_db, some)] {
        st.db.clone().close().await.expect("close");
        db.drop_pg().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_among_valid_ones_writes_nothing_and_holds_up_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let pack = pack_file(dir.path());
    let db = TestDatabase::new("sla_poison").await;
    let st = state(&db, &pack).await;
    let c = Consumer::new(st.clone(), "sla-test");
    let a = uuid::Uuid::now_v7().to_string();
    let b = uuid::Uuid::now_v7().to_string();
    let p = uuid::Uuid::now_v7().to_string();
    let mut no_meta = status(&p, T0, "in_progress", "resolved");
    no_meta.meta = None;
    let mut no_deadline = transferred(&p, T0, "technical", T0);
    no_deadline.deadline = None;
    let deliveries = vec![
        delivery(1, &received(&a, T0)),
        // Field 1 with wire type 7, which does not exist.
        raw(2, "complaint.received", vec![0x0f, 0x01]),
        delivery(3, &received(&b, T0)),
        delivery(4, &no_meta),
        delivery(5, &no_deadline),
        delivery(6, &status(&a, T0 + HOUR, "in_progress", "resolved")),
    ];
    let outcomes = batch(&st, &c, &deliveries).await;
    assert_eq!(
        outcomes,
        [
            "done",
            "poison: decode",
            "done",
            "poison: invalid",
            "poison: invalid",
            "done"
        ]
    );
    let s = snapshot(&st.db).await;
    let complaints: Vec<&str> = s.plans.iter().map(|p| p.complaint_id.as_str()).collect();
    let mut both = vec![a.as_str(), b.as_str()];
    both.sort();
    assert_eq!(
        complaints, both,
        "no plan for the poison messages' complaint"
    );
    assert_eq!(s.inbox.len(), 3, "{:?}", s.inbox);
    assert!(s.clocks.iter().all(|k| k.complaint_id != p));
    let a_resolution = s
        .clocks
        .iter()
        .find(|k| k.complaint_id == a && k.target == "resolution")
        .expect("A's resolution clock");
    assert_eq!(a_resolution.state, "met");
    assert!(s
        .clocks
        .iter()
        .any(|k| k.complaint_id == b && k.target == "resolution" && k.state == "running"));
    st.db.clone().close().await.expect("close");
    db.drop_pg().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_delivered_again_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let pack = pack_file(dir.path());
    let db = TestDatabase::new("sla_again").await;
    let st = state(&db, &pack).await;
    let c = Consumer::new(st.clone(), "sla-test");
    let deliveries = lifecycle();
    let first = batch(&st, &c, &deliveries).await;
    let before = snapshot(&st.db).await;
    assert!(!before.events.is_empty());

    // Redelivered whole: every event that asked something of the clocks is a duplicate.
    let again = batch(&st, &c, &deliveries).await;
    let expected: Vec<&str> = first
        .iter()
        .zip(&deliveries)
        .map(|(_, d)| {
            let asks = ombuds_sla_watchdog::clocks::action_of(d)
                .ok()
                .flatten()
                .is_some();
            if asks {
                "duplicate"
            } else {
                "done"
            }
        })
        .collect();
    assert_eq!(again, expected);
    assert_eq!(snapshot(&st.db).await, before, "nothing changed");

    // Part of it again, mixed with a new event, and one event twice in one batch.
    let z = uuid::Uuid::now_v7().to_string();
    let fresh = delivery(100, &received(&z, T0));
    let mixed = vec![
        deliveries[0].clone(),
        fresh.clone(),
        deliveries[5].clone(),
        fresh,
    ];
    let outcomes = batch(&st, &c, &mixed).await;
    assert_eq!(outcomes, ["duplicate", "done", "duplicate", "duplicate"]);
    let after = snapshot(&st.db).await;
    assert_eq!(after.plans.len(), before.plans.len() + 1);
    let started_z = after
        .events
        .iter()
        .filter(|e| e.starts_with(&format!("started {z}")))
        .count();
    // acknowledgement, first_response and resolution start on `received`
    assert_eq!(started_z, 3, "{:?}", after.events);
    assert_eq!(
        outbox::entity::Entity::find()
            .count(&st.db)
            .await
            .expect("count") as usize,
        before.events.len() + 3
    );
    st.db.clone().close().await.expect("close");
    db.drop_pg().await;
}

/// The guarantee the plan lock gives: two consumers (or replicas) handling events
/// about one complaint at the same time take turns, and the second sees what the first
/// wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_about_one_complaint_take_turns() {
    let dir = tempfile::tempdir().expect("dir");
    let pack = pack_file(dir.path());
    let db = TestDatabase::new("sla_turns").await;
    let st = state(&db, &pack).await;
    let complaints = Arc::new(Consumer::new(st.clone(), "sla-complaints"));
    let routing = Arc::new(Consumer::new(st.clone(), "sla-routing"));
    let x = uuid::Uuid::now_v7().to_string();

    let first = st.db.begin().await.expect("begin");
    let outcomes = complaints
        .handle(&first, &[delivery(1, &received(&x, T0))])
        .await
        .expect("first");
    assert_eq!(label(&outcomes[0]), "done");
    // The second batch starts while the first holds the complaint.
    let second = tokio::spawn({
        let (st, routing, x) = (st.clone(), routing.clone(), x.clone());
        async move {
            let txn = st.db.begin().await.expect("begin");
            let o = routing
                .handle(&txn, &[delivery(2, &assigned(&x, T0 + 5 * MIN, "billing"))])
                .await
                .expect("second");
            txn.commit().await.expect("commit");
            label(&o[0])
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second batch waits for the first"
    );
    first.commit().await.expect("commit");
    assert_eq!(second.await.expect("join"), "done");

    let s = snapshot(&st.db).await;
    assert_eq!(s.plans.len(), 1);
    assert!(
        !s.plans[0].policy.is_empty(),
        "the first batch's plan stays"
    );
    assert_eq!(s.plans[0].department, "billing");
    assert!(s.plans[0].seen.contains("assigned") && s.plans[0].seen.contains("received"));
    let ack = s
        .clocks
        .iter()
        .find(|k| k.target == "acknowledgement")
        .expect("acknowledgement clock");
    assert_eq!(
        ack.state, "met",
        "the second batch met the first one's clock"
    );
    assert!(s.clocks.iter().all(|k| k.department == "billing"));
    st.db.clone().close().await.expect("close");
    db.drop_pg().await;
}
