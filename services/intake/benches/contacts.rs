//! Benchmark of intake's entry path (not a test; prints figures for BENCHMARKS.md).
//!
//! `cargo bench -p ombuds-intake --bench contacts` (SQLite in a temporary folder), or
//! with `OMBUDS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` for
//! PostgreSQL. `CONTACTS` sets how many contacts the throughput run publishes
//! (default 20,000); `LAG_RATE` fixes the rate of the entry-lag run (default: half the
//! measured throughput).
//!
//! Starts a real nats-server and runs intake in-process, as the integration tests do,
//! then:
//! 1. throughput: publishes `CONTACTS` protobuf `v1::ContactSubmitted` messages on
//!    `intake.app` as fast as JetStream acknowledges them (acks awaited in chunks of
//!    1,000), each from a distinct customer with a distinct external id, and counts the
//!    rows in `complaints` every 50 ms until all are recorded, then the unpublished
//!    outbox rows until the relay has published every `complaint.received`; it reports
//!    the CPU time intake (with this process's publisher) and nats-server spent per
//!    contact, and how busy the machine was;
//! 2. entry lag: publishes at a fixed rate for 10 s with `received_at` = publish time,
//!    then reads `recorded_at - received_at` of those complaints: p50, p99, max. Since
//!    `recorded_at` is taken when the recording transaction starts, the run also
//!    reports the "event lag": from `received_at` until the complaint's
//!    `complaint.received` reaches a NATS subscriber, which adds the rest of the batch,
//!    the commit and the outbox relay.

use std::time::{Duration, Instant};

use ombuds_intake::{run, Settings};
use ombuds_platform::{config::Config, shutdown::CancellationToken, time};
use ombuds_proto::v1;
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use prost::Message;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

const CHUNK: usize = 1000;
// Fixed test keys (bytes 0..32 and 32..64, base64): never used outside this benchmark.
const PII_KEY: &str = "bench:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const INDEX_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn contact(prefix: &str, i: usize, received_at: Option<i64>) -> Vec<u8> {
    v1::ContactSubmitted {
        external_id: format!("{prefix}-{i}"),
        received_at: received_at.map(time::to_timestamp),
        customer: Some(v1::CustomerDetails {
            name: format!("Customer {prefix} {i}"),
            phone: format!(
                "+86138{:08}",
                i + if prefix == "lag" { 50_000_000 } else { 0 }
            ),
            email: format!("{prefix}.{i}@example.net"),
            account_id: format!("{prefix}-acct-{i}"),
            ..Default::default()
        }),
        subject: "Slow network".into(),
        body: "The signal drops every evening.".into(),
        kind: "complaint".into(),
        category: "network".into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// How many complaints there are: a plain COUNT(*), which SQLite and PostgreSQL answer
/// from the smallest index (a filter such as `external_id LIKE 'tp-%'` would scan the
/// table every poll and take CPU from intake).
async fn count(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM complaints".to_owned(),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("COUNT returned no row"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// CPU time (user + system, in clock ticks of 10 ms) of a process, from /proc.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// The pid of the nats-server listening on `port` (this benchmark's).
fn nats_pid(port: u16) -> Option<String> {
    let wanted = port.to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_string_lossy().into_owned();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_ours = args.first().is_some_and(|a| a.ends_with(b"nats-server"))
            && args
                .windows(2)
                .any(|w| w[0] == b"-p" && w[1] == wanted.as_bytes());
        is_ours.then_some(pid)
    })
}

/// All CPUs' busy and total time (ticks), from /proc/stat.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    // idle and iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn await_acks(pending: &mut Vec<async_nats::jetstream::context::PublishAckFuture>) {
    for ack in pending.drain(..) {
        if let Err(e) = ack.await {
            eprintln!("publish not acknowledged: {e}");
        }
    }
}

/// Waits until there are `n` complaints in all, polling every 50 ms.
async fn wait_recorded(
    db: &DatabaseConnection,
    what: &str,
    n: usize,
    limit: Duration,
) -> anyhow::Result<Instant> {
    let start = Instant::now();
    loop {
        let c = count(db).await?;
        if c as usize >= n {
            return Ok(Instant::now());
        }
        if start.elapsed() > limit {
            anyhow::bail!("only {c} of {n} complaints recorded after {limit:?} ({what})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let nats = NatsServer::start();
    let db = TestDatabase::new("intake_bench").await;
    let store = if db.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let data_dir = tempfile::tempdir()?;
    let cfg = Config::from_pairs(
        "intake",
        [
            ("NATS_URL", nats.url()),
            ("DATABASE_URL", db.url.clone()),
            ("OMBUDS_HTTP_ADDR", free_addr().to_string()),
            ("OMBUDS_GRPC_ADDR", free_addr().to_string()),
            ("OMBUDS_SHUTDOWN_GRACE", "5s".to_owned()),
            ("OMBUDS_DATA_DIR", data_dir.path().display().to_string()),
            ("OMBUDS_PII_KEYS", PII_KEY.to_owned()),
            ("OMBUDS_PII_INDEX_KEY", INDEX_KEY.to_owned()),
            ("OMBUDS_DUPLICATE_WINDOW", "0s".to_owned()),
        ],
    );
    let settings = Settings::from_config(&cfg)?;
    let token = CancellationToken::new();
    let task = tokio::spawn(run(settings, token.clone()));

    let client = async_nats::connect(nats.url()).await?;
    let js = async_nats::jetstream::new(client.clone());
    wait_until("the INTAKE stream", Duration::from_secs(30), || {
        let js = js.clone();
        async move {
            js.get_stream("INTAKE")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    let reader = wait_until("the intake store", Duration::from_secs(30), || {
        let url = db.url.clone();
        async move {
            let c = Database::connect(url).await.map_err(|e| e.to_string())?;
            count(&c).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(c)
        }
    })
    .await;

    // 1. Throughput.
    let nats_pid = nats_pid(nats.port()).unwrap_or_default();
    let cpu_before = (cpu_ticks("self"), cpu_ticks(&nats_pid), machine_ticks());
    let started = Instant::now();
    let mut pending = Vec::with_capacity(CHUNK);
    for i in 0..n {
        pending.push(
            js.publish("intake.app", contact("tp", i, None).into())
                .await?,
        );
        if pending.len() == CHUNK {
            await_acks(&mut pending).await;
        }
    }
    await_acks(&mut pending).await;
    let published = started.elapsed();
    let done = wait_recorded(&reader, "throughput", n, Duration::from_secs(1800)).await?;
    let took = done.duration_since(started).as_secs_f64();
    let rate = n as f64 / took;
    let cpu_after = (cpu_ticks("self"), cpu_ticks(&nats_pid), machine_ticks());
    // The relay: when every complaint.received of the run had been published.
    let drained = loop {
        let row = reader
            .query_one(Statement::from_string(
                reader.get_database_backend(),
                "SELECT COUNT(*) AS n FROM outbox WHERE published_at IS NULL".to_owned(),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("COUNT returned no row"))?;
        if row.try_get::<i64>("", "n")? == 0 {
            break started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // 2. Entry lag at a fixed rate; the event lag seen by a subscriber.
    let lag_rate: f64 = std::env::var("LAG_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or((rate / 2.0).max(1.0));
    let lag_n = (lag_rate * 10.0).round() as usize;
    let mut received = client.subscribe("complaint.received").await?;
    let watcher = tokio::spawn(async move {
        use futures::StreamExt;
        let mut lags = Vec::with_capacity(lag_n);
        // Until every lag contact's event is seen, or none comes for 30 s.
        while lags.len() < lag_n {
            let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(30), received.next()).await
            else {
                break;
            };
            let seen = time::now_ms();
            if let Ok(e) = v1::ComplaintReceived::decode(m.payload) {
                if e.external_id.starts_with("lag-") {
                    let at = e
                        .received_at
                        .as_ref()
                        .map(time::from_timestamp)
                        .unwrap_or(seen);
                    lags.push(seen - at);
                }
            }
        }
        lags
    });
    let lag_start = Instant::now();
    let mut pending = Vec::new();
    for i in 0..lag_n {
        let due = lag_start + Duration::from_secs_f64(i as f64 / lag_rate);
        tokio::time::sleep_until(due.into()).await;
        let now = time::now_ms();
        pending.push(
            js.publish("intake.app", contact("lag", i, Some(now)).into())
                .await?,
        );
        if pending.len() >= 100 {
            await_acks(&mut pending).await;
        }
    }
    await_acks(&mut pending).await;
    wait_recorded(&reader, "lag", n + lag_n, Duration::from_secs(1800)).await?;
    let rows = reader
        .query_all(Statement::from_string(
            reader.get_database_backend(),
            "SELECT recorded_at - received_at AS lag FROM complaints WHERE external_id LIKE 'lag-%'"
                .to_owned(),
        ))
        .await?;
    let mut lags = rows
        .iter()
        .map(|r| r.try_get::<i64>("", "lag"))
        .collect::<Result<Vec<_>, _>>()?;
    lags.sort_unstable();
    let mut event_lags = watcher.await?;
    event_lags.sort_unstable();

    println!("intake contacts benchmark on {store}");
    println!(
        "command: {}CONTACTS={n}{} cargo bench -p ombuds-intake --bench contacts",
        if db.is_postgres() {
            "OMBUDS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test "
        } else {
            ""
        },
        std::env::var("LAG_RATE")
            .map(|r| format!(" LAG_RATE={r}"))
            .unwrap_or_default()
    );
    println!(
        "throughput: {n} contacts published in {:.2} s, all recorded after {took:.2} s = {rate:.0} contacts/s (target >= 5,000/s on SQLite)",
        published.as_secs_f64()
    );
    println!(
        "outbox relay: all {n} complaint.received published after {drained:.2} s = {:.0} events/s",
        n as f64 / drained
    );
    // Clock ticks are 10 ms on Linux.
    let per_contact = |ticks: u64| ticks as f64 * 10_000.0 / n as f64;
    let (busy, total) = (
        cpu_after.2 .0 - cpu_before.2 .0,
        cpu_after.2 .1 - cpu_before.2 .1,
    );
    println!(
        "CPU during the throughput run: intake and this publisher {:.0} µs/contact, nats-server {:.0} µs/contact; the machine's CPUs {:.0}% busy (all processes)",
        per_contact(cpu_after.0 - cpu_before.0),
        per_contact(cpu_after.1 - cpu_before.1),
        100.0 * busy as f64 / total.max(1) as f64
    );
    println!(
        "entry lag at {lag_rate:.0}/s for 10 s ({} contacts): p50 {} ms, p99 {} ms, max {} ms (target p99 < 50 ms)",
        lags.len(),
        pct(&lags, 0.5),
        pct(&lags, 0.99),
        lags.last().copied().unwrap_or(0)
    );
    println!(
        "event lag (received_at to complaint.received at a subscriber; {} of {lag_n} seen): p50 {} ms, p99 {} ms, max {} ms",
        event_lags.len(),
        pct(&event_lags, 0.5),
        pct(&event_lags, 0.99),
        event_lags.last().copied().unwrap_or(0)
    );

    let _ = reader.close().await;
    token.cancel();
    let _ = task.await;
    db.drop_pg().await;
    Ok(())
}
