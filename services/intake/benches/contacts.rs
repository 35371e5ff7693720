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
//!    rows in `complaints` every 200 ms until all are recorded;
//! 2. entry lag: publishes at a fixed rate for 10 s with `received_at` = publish time,
//!    then reads `recorded_at - received_at` of those complaints: p50, p99, max.

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

async fn count(db: &DatabaseConnection, prefix: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM complaints WHERE external_id LIKE '{prefix}-%'"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("COUNT returned no row"))?;
    Ok(row.try_get::<i64>("", "n")?)
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

async fn wait_recorded(
    db: &DatabaseConnection,
    prefix: &str,
    n: usize,
    limit: Duration,
) -> anyhow::Result<Instant> {
    let start = Instant::now();
    loop {
        let c = count(db, prefix).await?;
        if c as usize >= n {
            return Ok(Instant::now());
        }
        if start.elapsed() > limit {
            anyhow::bail!("only {c} of {n} {prefix} contacts recorded after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
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
    let js = async_nats::jetstream::new(client);
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
            count(&c, "tp").await.map_err(|e| e.to_string())?;
            Ok::<_, String>(c)
        }
    })
    .await;

    // 1. Throughput.
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
    let done = wait_recorded(&reader, "tp", n, Duration::from_secs(1800)).await?;
    let took = done.duration_since(started).as_secs_f64();
    let rate = n as f64 / took;

    // 2. Entry lag at a fixed rate.
    let lag_rate: f64 = std::env::var("LAG_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or((rate / 2.0).max(1.0));
    let lag_n = (lag_rate * 10.0).round() as usize;
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
    wait_recorded(&reader, "lag", lag_n, Duration::from_secs(1800)).await?;
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
        "entry lag at {lag_rate:.0}/s for 10 s ({} contacts): p50 {} ms, p99 {} ms, max {} ms (target p99 < 50 ms)",
        lags.len(),
        pct(&lags, 0.5),
        pct(&lags, 0.99),
        lags.last().copied().unwrap_or(0)
    );

    let _ = reader.close().await;
    token.cancel();
    let _ = task.await;
    db.drop_pg().await;
    Ok(())
}
