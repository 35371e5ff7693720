//! Replays a month of a real call centre (the anonymised 1999-08 bank call log) into a
//! running hotline adapter as call events, and prints the counts computed from the
//! file (offered, answered, abandoned) beside what the adapter accepted, so the
//! answer-rate KPIs downstream can be checked against the source.
//!
//! ```text
//! cargo run -p ombuds-adapter-hotline --example replay_callcenter
//! ```
//!
//! Environment: `HOTLINE_URL` (default `http://127.0.0.1:8091`), `CALLCENTER_CSV`
//! (default `../shared/data/callcenter/anonymous_bank_1999-08_calls.csv`, relative to the
//! working directory, then to the workspace), `REPLAY_LIMIT` (only the first N calls),
//! `REPLAY_DRY_RUN=1` (count only, post nothing). A missing file is skipped cleanly.
//!
//! Mapping: a call that reached the agents' queue (or an agent) was *offered* (at
//! `q_start`, else `vru_exit`); outcome `AGENT` is *answered* at `ser_start` (wait =
//! `q_time`) and *ended* at `ser_exit` (talk = `ser_time`); `HANG` or `PHANTOM` after
//! queueing is *abandoned* at `q_exit`. Calls that hung up in the voice menu without
//! queueing were never offered to an agent and are not sent. Times are taken as
//! local time in Israel in August (+03:00). The log has no phone numbers.

use std::path::PathBuf;

use serde_json::{json, Value};

const DEFAULT_CSV: &str = "../shared/data/callcenter/anonymous_bank_1999-08_calls.csv";
const BATCH: usize = 500;

#[derive(Default, Debug)]
struct Counts {
    rows: usize,
    malformed: usize,
    vru_only: usize,
    offered: usize,
    answered: usize,
    abandoned_hang: usize,
    abandoned_phantom: usize,
}

fn find_csv() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CALLCENTER_CSV") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    [PathBuf::from(DEFAULT_CSV), workspace.join(DEFAULT_CSV)]
        .into_iter()
        .find(|p| p.is_file())
}

/// `1999-08-01` + `10:00:21` → `1999-08-01T10:00:21+03:00`.
fn at(date: &str, clock: &str) -> Option<String> {
    let mut parts = clock.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let (h, m, s): (u32, u32, u32) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    if date.len() != 10 || h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(format!("{date}T{h:02}:{m:02}:{s:02}+03:00"))
}

/// The events for one CSV row, or `None` for a malformed row; an empty list for a call
/// that never left the voice menu.
fn events(line: &str, counts: &mut Counts) -> Option<Vec<Value>> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 17 {
        return None;
    }
    let (call, queue, date) = (f[1], f[4], f[5]);
    let (vru_entry, vru_exit, q_start, q_exit, q_time) = (f[6], f[7], f[9], f[10], f[11]);
    let (outcome, ser_start, ser_exit, ser_time, server) = (f[12], f[13], f[14], f[15], f[16]);
    let q_time: u32 = q_time.parse().ok()?;
    let ser_time: u32 = ser_time.parse().ok()?;
    let queued = q_start != "0:00:00" || q_time > 0;
    let id = format!(
        "{}-{call}-{}",
        date.replace('-', ""),
        vru_entry.replace(':', "")
    );
    let base = |event: &str, when: String| json!({"call_id": id, "event": event, "at": when, "queue": queue});
    let offered_at = at(date, if queued { q_start } else { vru_exit })?;
    let mut out = Vec::new();
    match outcome {
        "AGENT" => {
            let mut answered = base("answered", at(date, ser_start)?);
            answered["wait_seconds"] = q_time.into();
            answered["agent"] = server.into();
            let mut ended = base("ended", at(date, ser_exit)?);
            ended["talk_seconds"] = ser_time.into();
            ended["agent"] = server.into();
            out.extend([base("offered", offered_at), answered, ended]);
            counts.offered += 1;
            counts.answered += 1;
        }
        "HANG" | "PHANTOM" if queued => {
            let mut abandoned = base("abandoned", at(date, q_exit)?);
            abandoned["wait_seconds"] = q_time.into();
            out.extend([base("offered", offered_at), abandoned]);
            counts.offered += 1;
            if outcome == "HANG" {
                counts.abandoned_hang += 1;
            } else {
                counts.abandoned_phantom += 1;
            }
        }
        "HANG" | "PHANTOM" => counts.vru_only += 1,
        _ => return None,
    }
    Some(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(path) = find_csv() else {
        println!("call-centre log not found (set CALLCENTER_CSV or put it at {DEFAULT_CSV}); nothing to replay");
        return Ok(());
    };
    let url = std::env::var("HOTLINE_URL").unwrap_or_else(|_| "http://127.0.0.1:8091".into());
    let limit: usize = match std::env::var("REPLAY_LIMIT") {
        Ok(v) => v.parse()?,
        Err(_) => usize::MAX,
    };
    let dry_run = matches!(
        std::env::var("REPLAY_DRY_RUN").as_deref(),
        Ok("1" | "true" | "yes")
    );
    let text = std::fs::read_to_string(&path)?;
    let mut counts = Counts::default();
    let mut all = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        if counts.rows >= limit {
            break;
        }
        counts.rows += 1;
        match events(line, &mut counts) {
            Some(evs) => all.extend(evs),
            None => counts.malformed += 1,
        }
    }
    let abandoned = counts.abandoned_hang + counts.abandoned_phantom;
    println!("file: {}", path.display());
    println!(
        "calls {} | offered to agents {} | answered {} | abandoned {} (hung up in queue {}, phantom {}) | voice menu only {} | malformed rows {}",
        counts.rows, counts.offered, counts.answered, abandoned,
        counts.abandoned_hang, counts.abandoned_phantom, counts.vru_only, counts.malformed
    );
    if counts.offered > 0 {
        println!(
            "answer rate {:.2}% (answered / offered)",
            100.0 * counts.answered as f64 / counts.offered as f64
        );
    }
    if dry_run {
        println!("dry run: {} call events not posted", all.len());
        return Ok(());
    }

    let http = reqwest::Client::new();
    let endpoint = format!("{}/v1/calls/events", url.trim_end_matches('/'));
    let started = std::time::Instant::now();
    let (mut published, mut invalid, mut failed) = (0u64, 0u64, 0u64);
    for chunk in all.chunks(BATCH) {
        let response = http
            .post(&endpoint)
            .json(&Value::Array(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("posting to {endpoint}: {e} (is the adapter running?)"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if body.get("results").is_none() {
            anyhow::bail!("{endpoint} answered {status}: {body}");
        }
        let n = |k: &str| body[k].as_u64().unwrap_or(0);
        published += n("published");
        invalid += n("invalid");
        failed += n("failed");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "posted {} call events to {endpoint} in {secs:.1}s ({:.0} events/s): published {published}, invalid {invalid}, failed {failed}",
        all.len(),
        all.len() as f64 / secs.max(1e-9)
    );
    Ok(())
}
