//! Benchmark of the SLA watchdog with many running clocks (not a test; prints figures).
//!
//! `cargo bench -p ombuds-sla-watchdog --bench clocks` (set `CLOCKS=1000000` for the
//! issue's figure; default 1,000,000). Measures, on SQLite in a temporary folder (or on
//! a fresh database of the PostgreSQL server named by `OMBUDS_BENCH_DATABASE_URL`):
//! inserting the clocks, reloading their timers at start-up (time and memory per
//! clock), how late timers fire while many fall due, and clock operations per second
//! when `COMPLAINTS` (default 10,000) complaints are received and resolved through
//! JetStream and the watchdog's own batch consumer.

use std::{sync::Arc, time::Instant};

use ombuds_calendar::Calendars;
use ombuds_platform::{
    consumer::{self, ConsumerContext, ConsumerSpec},
    events,
    metrics::Metrics,
    outbox::OutboxSignal,
    time,
};
use ombuds_proto::v1;
use ombuds_sla_watchdog::{
    engine::Engine,
    entity::clock,
    migration::Migrator,
    planner::PolicyPlanner,
    policy::PolicyStore,
    timer::{self, TimerQueue},
    State,
};
use ombuds_testkit::TestDatabase;
use prost::Message;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("CLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // SQLite in a temporary folder, or a fresh database on the PostgreSQL server named
    // by OMBUDS_BENCH_DATABASE_URL (dropped at the end).
    let (tdb, backend) = match std::env::var("OMBUDS_BENCH_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(base) => (TestDatabase::postgres(&base, "bench").await, "PostgreSQL"),
        None => (TestDatabase::sqlite("sla"), "SQLite"),
    };
    let db = ombuds_platform::db::connect_and_migrate::<Migrator>(&tdb.url).await?;
    let calendars = Calendars::builtin();
    let store =
        PolicyStore::load("default", calendars.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let calendars = Arc::new(calendars);
    let fallback = calendars
        .get("24x7")
        .ok_or_else(|| anyhow::anyhow!("no 24x7"))?;
    let st = Arc::new(State {
        db: db.clone(),
        outbox: OutboxSignal::default(),
        engine: Engine {
            calendars,
            fallback,
            planner: Arc::new(PolicyPlanner {
                store: Arc::new(store),
            }),
        },
        timers: TimerQueue::default(),
        horizon: std::time::Duration::from_secs(2 * 3600),
    });
    let complaints: usize = std::env::var("COMPLAINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!("# SLA watchdog benchmark: {n} running clocks, {backend}");
    println!(
        "command: CLOCKS={n} COMPLAINTS={complaints} cargo bench -p ombuds-sla-watchdog --bench clocks"
    );

    // 1. Insert n running clocks whose timers fall over the next hour.
    let now = time::now_ms();
    let t0 = Instant::now();
    let batch = 500;
    let mut i = 0;
    while i < n {
        let txn = db.begin().await?;
        let rows: Vec<clock::ActiveModel> = (i..(i + batch).min(n))
            .map(|k| {
                let fire = now + 60_000 + (k as i64 * 3_600_000 / n as i64);
                clock::ActiveModel {
                    clock_id: Set(uuid::Uuid::now_v7().to_string()),
                    complaint_id: Set(uuid::Uuid::now_v7().to_string()),
                    ticket_no: Set(format!("TS-20261122-{k:07}")),
                    target: Set("resolution".into()),
                    policy: Set("bench@1/default".into()),
                    calendar: Set("24x7".into()),
                    within: Set("72h".into()),
                    stops_on: Set("resolved".into()),
                    state: Set("running".into()),
                    started_at: Set(now),
                    deadline: Set(fire),
                    allowance_ms: Set(fire - now),
                    consumed_ms: Set(0),
                    segment_start: Set(now),
                    warn_at: Set(String::new()),
                    warned_pct: Set(0),
                    next_fire_at: Set(fire),
                    ended_at: Set(0),
                    paused_at: Set(0),
                    department: Set(String::new()),
                    history: Set("[]".into()),
                    updated_at: Set(now),
                }
            })
            .collect();
        clock::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        i += batch;
    }
    let insert_s = t0.elapsed().as_secs_f64();
    println!(
        "insert: {n} clocks in {insert_s:.1} s ({:.0} clocks/s)",
        n as f64 / insert_s
    );
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // What autovacuum does to tables this size in production. Without statistics the
        // planner takes the batch's IN-list look-ups for a large share of the table and
        // answers them with sequential scans (measured: 29 ms instead of 0.3 ms per
        // look-up of 56 complaints among 60,000 clocks).
        db.execute_unprepared("ANALYZE").await?;
    }

    // 2. Start-up reload of the timers.
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    let loaded = timer::reload(&st).await?;
    let reload_s = t0.elapsed().as_secs_f64();
    let rss1 = rss_bytes();
    println!("reload: {loaded} timers in {reload_s:.2} s (target < 5 s)");
    println!(
        "memory: heap {} bytes/clock (capacity {} entries); process RSS grew {} bytes/clock during the reload ({})",
        st.timers.memory_bytes() / loaded.max(1),
        st.timers.memory_bytes() / 32,
        (rss1.saturating_sub(rss0)) / loaded.max(1) as u64,
        if backend == "SQLite" {
            "includes SQLite's page cache"
        } else {
            "includes the client's buffers"
        }
    );

    // 3. Lateness under load: 20,000 clocks fall due within the next 10 seconds.
    let due_n = 20_000.min(n);
    let start_due = time::now_ms() + 5_000;
    let ids: Vec<String> = clock::Entity::find()
        .select_only()
        .column(clock::Column::ClockId)
        .limit(due_n as u64)
        .into_tuple()
        .all(&db)
        .await?;
    let txn = db.begin().await?;
    for (k, id) in ids.iter().enumerate() {
        let fire = start_due + (k as i64 * 10_000 / due_n as i64);
        txn.execute_unprepared(&format!(
            "UPDATE clocks SET next_fire_at = {fire}, deadline = {fire} WHERE clock_id = '{id}'"
        ))
        .await?;
        if let Ok(u) = uuid::Uuid::parse_str(id) {
            st.timers.schedule(ombuds_sla_watchdog::engine::Scheduled {
                clock_id: u.as_u128(),
                fire_at: fire,
            });
        }
    }
    txn.commit().await?;
    let shutdown = ombuds_platform::shutdown::CancellationToken::new();
    let runner = tokio::spawn(timer::run_loaded(
        st.clone(),
        std::time::Duration::from_secs(5),
        shutdown.clone(),
    ));
    // wait until all due ones fired
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let fired: Vec<(i64, i64)> = clock::Entity::find()
            .select_only()
            .columns([clock::Column::EndedAt, clock::Column::Deadline])
            .filter(clock::Column::State.eq("breached"))
            .into_tuple()
            .all(&db)
            .await?;
        if fired.len() >= due_n || Instant::now() > deadline {
            let mut late: Vec<i64> = fired.iter().map(|(e, d)| e - d).collect();
            late.sort_unstable();
            println!(
                "timer lateness ({} of {due_n} due within 10 s, {} other clocks running): p50 {} ms, p99 {} ms, max {} ms (target p99 < 1000 ms)",
                late.len(),
                n - due_n,
                pct(&late, 0.5),
                pct(&late, 0.99),
                late.last().copied().unwrap_or(0)
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    shutdown.cancel();
    let _ = runner.await;

    // 4. Clock operations from events, the way the service runs: events on JetStream,
    //    the watchdog's batch consumer (one transaction and a few multi-row statements
    //    per batch).
    let nats = ombuds_testkit::NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    ombuds_platform::nats::provision(&js).await?;
    let mut acks = Vec::with_capacity(2 * complaints);
    for k in 0..complaints {
        let cid = uuid::Uuid::now_v7().to_string();
        let ticket = format!("TS-B-{k:06}");
        let received = v1::ComplaintReceived {
            meta: Some(events::meta("bench", &cid, &ticket, 1)),
            kind: "complaint".into(),
            channel: "email".into(),
            priority: 3,
            received_at: Some(time::to_timestamp(time::now_ms())),
            ..Default::default()
        };
        let resolved = v1::ComplaintStatusChanged {
            meta: Some(events::meta("bench", &cid, &ticket, 2)),
            from_status: "in_progress".into(),
            to_status: "resolved".into(),
            ..Default::default()
        };
        acks.push(
            js.publish("complaint.received", received.encode_to_vec().into())
                .await?,
        );
        acks.push(
            js.publish("complaint.status_changed", resolved.encode_to_vec().into())
                .await?,
        );
        // async-nats bounds the acks in flight: collect them as we go.
        if acks.len() >= 1000 {
            for a in acks.drain(..) {
                a.await?;
            }
        }
    }
    for a in acks {
        a.await?;
    }
    let shutdown = ombuds_platform::shutdown::CancellationToken::new();
    let ctx = ConsumerContext {
        js: js.clone(),
        service: "bench".into(),
        max_deliver: 5,
        metrics: Arc::new(Metrics::new("bench")),
        shutdown: shutdown.clone(),
        seal: None,
    };
    let handler = Arc::new(ombuds_sla_watchdog::clocks::Consumer::new(
        st.clone(),
        "bench",
    ));
    let after = handler.clone();
    // Where the time goes: in the handler (decoding, the batch's reads, the engine,
    // its writes), in the commit (from the handler's return to the after-commit step),
    // and the rest (JetStream fetches and acks).
    let prof = Arc::new(Profile::default());
    let (hp, ap) = (prof.clone(), prof.clone());
    let t0 = Instant::now();
    let consumer = tokio::spawn(consumer::run_batches(
        ctx,
        ConsumerSpec::new("COMPLAINTS", "bench", "complaint.>"),
        db.clone(),
        ombuds_sla_watchdog::BATCH,
        move |txn, deliveries| {
            let (handler, prof) = (handler.clone(), hp.clone());
            async move {
                let t = Instant::now();
                let n = deliveries.len();
                let r = handler.handle(&txn, &deliveries).await;
                prof.handled(n, t);
                r
            }
        },
        move || {
            ap.committed();
            after.after_commit();
        },
    ));
    // Progress is read from the consumer's inbox (indexed), not from the clocks table,
    // so the check does not compete with the consumer for the store.
    loop {
        let handled = count(
            &db,
            "SELECT COUNT(*) AS n FROM inbox WHERE consumer = 'bench'",
        )
        .await?;
        if handled >= 2 * complaints as u64 || t0.elapsed().as_secs() > 300 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let s = t0.elapsed().as_secs_f64();
    shutdown.cancel();
    let _ = consumer.await;
    let started = count(
        &db,
        "SELECT COUNT(*) AS n FROM clocks WHERE ticket_no LIKE 'TS-B-%'",
    )
    .await?;
    let met = count(
        &db,
        "SELECT COUNT(*) AS n FROM clocks WHERE ticket_no LIKE 'TS-B-%' AND target = 'resolution' AND state = 'met'",
    )
    .await?;
    println!(
        "events through JetStream and the batching consumer: {} events in {s:.2} s = {:.0} events/s; {started} clocks started and {met} resolution clocks met = {:.0} clock operations/s (target 10,000/s)",
        2 * complaints,
        2.0 * complaints as f64 / s,
        (started + met) as f64 / s
    );
    let (batches, events, handler_s, commit_s) = prof.totals();
    println!(
        "  {batches} batches of {:.0} events on average (at most {}); handler {handler_s:.2} s ({:.0}%), commit {commit_s:.2} s ({:.0}%), the rest (JetStream fetch and ack) {:.2} s",
        events as f64 / batches.max(1) as f64,
        ombuds_sla_watchdog::BATCH,
        100.0 * handler_s / s,
        100.0 * commit_s / s,
        (s - handler_s - commit_s).max(0.0)
    );
    db.close().await?;
    tdb.drop_pg().await;
    Ok(())
}

/// Time spent in the handler and in the commit, summed over the batches.
#[derive(Default)]
struct Profile {
    inner: std::sync::Mutex<ProfileInner>,
}

#[derive(Default)]
struct ProfileInner {
    batches: u64,
    events: u64,
    handler: std::time::Duration,
    commit: std::time::Duration,
    handler_done: Option<Instant>,
}

impl Profile {
    fn handled(&self, n: usize, started: Instant) {
        if let Ok(mut p) = self.inner.lock() {
            p.batches += 1;
            p.events += n as u64;
            p.handler += started.elapsed();
            p.handler_done = Some(Instant::now());
        }
    }

    fn committed(&self) {
        if let Ok(mut p) = self.inner.lock() {
            if let Some(t) = p.handler_done.take() {
                p.commit += t.elapsed();
            }
        }
    }

    fn totals(&self) -> (u64, u64, f64, f64) {
        self.inner
            .lock()
            .map(|p| {
                (
                    p.batches,
                    p.events,
                    p.handler.as_secs_f64(),
                    p.commit.as_secs_f64(),
                )
            })
            .unwrap_or_default()
    }
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<u64> {
    let r = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?;
    Ok(r.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(0) as u64)
}
