//! Benchmark (a program, not a test): deadline computations per second on `cn` and on
//! a DST calendar (America/New_York, Monday-Friday 09:00-17:00), with the crate's fast
//! implementation and with the naive day-by-day and minute-by-minute loops of
//! `tests/support/naive.rs`, on the same inputs in the same run; checks that they agree
//! and prints the ratio. Run: `cargo bench -p ombuds-calendar` (add `-- --quick` for a
//! short run).

#[path = "../tests/support/naive.rs"]
mod naive;

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use ombuds_calendar::{Calendar, CalendarError, Calendars};

/// A small deterministic generator (no dependency, same inputs every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[derive(Clone, Copy)]
enum Op {
    BusinessHours(u64),
    WorkingDays(u32),
    Elapsed(i64),
}

impl Op {
    fn label(&self) -> String {
        match self {
            Op::BusinessHours(h) => format!("+{h} business hours"),
            Op::WorkingDays(n) => format!("+{n} working days"),
            Op::Elapsed(h) => format!("elapsed over {h} h"),
        }
    }
}

type Answer = Result<(i64, u32), String>;

fn key(r: Result<DateTime<Utc>, CalendarError>) -> Answer {
    r.map(|t| (t.timestamp(), t.timestamp_subsec_nanos()))
        .map_err(|e| e.to_string())
}

fn fast(cal: &Calendar, op: Op, from: DateTime<Utc>) -> Answer {
    match op {
        Op::BusinessHours(h) => key(cal.add_business_time(from, Duration::from_secs(h * 3600))),
        Op::WorkingDays(n) => key(cal.add_working_days(from, n)),
        Op::Elapsed(h) => cal
            .business_time_between(from, from + chrono::Duration::hours(h))
            .map(|d| (d.as_secs() as i64, d.subsec_nanos()))
            .map_err(|e| e.to_string()),
    }
}

fn daily(cal: &Calendar, op: Op, from: DateTime<Utc>) -> Answer {
    match op {
        Op::BusinessHours(h) => key(naive::add_business_time_daily(
            cal,
            from,
            Duration::from_secs(h * 3600),
        )),
        Op::WorkingDays(n) => key(naive::add_working_days_daily(cal, from, n)),
        Op::Elapsed(h) => {
            naive::business_time_between_daily(cal, from, from + chrono::Duration::hours(h))
                .map(|d| (d.as_secs() as i64, d.subsec_nanos()))
                .map_err(|e| e.to_string())
        }
    }
}

fn minutely(cal: &Calendar, op: Op, from: DateTime<Utc>) -> Option<Answer> {
    match op {
        Op::BusinessHours(h) => Some(key(naive::add_business_minutes(cal, from, h * 60))),
        Op::Elapsed(h) => Some(
            naive::business_minutes_between(cal, from, from + chrono::Duration::hours(h))
                .map(|m| (m as i64 * 60, 0))
                .map_err(|e| e.to_string()),
        ),
        Op::WorkingDays(_) => None,
    }
}

/// Runs `f` over the inputs (repeating them) for at least `budget`; ops per second.
fn rate(
    inputs: &[DateTime<Utc>],
    budget: Duration,
    mut f: impl FnMut(DateTime<Utc>) -> Answer,
) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        for &t in inputs {
            black_box(f(black_box(t))).ok();
            n += 1;
        }
        let el = start.elapsed();
        if el >= budget {
            return n as f64 / el.as_secs_f64();
        }
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores available, {model}")
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = Duration::from_millis(if quick { 150 } else { 1000 });
    let builtin = Calendars::builtin();
    let Some(cn) = builtin.get("cn") else {
        eprintln!("the cn calendar is missing");
        std::process::exit(1);
    };
    let ny = match Calendar::weekdays("ny-9to5", chrono_tz::America::New_York, &["09:00-17:00"]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };

    // Instants (whole minutes, so the minute-by-minute loop applies) from 2019-01-01
    // to 2026-06-30, UTC.
    let mut rng = Lcg(20_261_122);
    let (lo, hi): (i64, i64) = (1_546_300_800 / 60, 1_782_777_600 / 60);
    let inputs: Vec<DateTime<Utc>> = (0..4096)
        .filter_map(|_| DateTime::from_timestamp((lo + rng.next() as i64 % (hi - lo)) * 60, 0))
        .collect();
    let few = &inputs[..64];

    let ops = [
        Op::BusinessHours(4),
        Op::BusinessHours(24),
        Op::BusinessHours(72),
        Op::BusinessHours(360),
        Op::WorkingDays(1),
        Op::WorkingDays(3),
        Op::WorkingDays(15),
        Op::Elapsed(72),
        Op::Elapsed(24 * 30),
    ];

    println!("# Calendar arithmetic: fast vs naive, same inputs, same run");
    println!(
        "command: cargo bench -p ombuds-calendar{}",
        if quick { " -- --quick" } else { "" }
    );
    println!("machine: {}", machine());
    println!(
        "inputs: {} random whole-minute instants 2019-01-01..2026-06-30; {} ms per measurement{}",
        inputs.len(),
        budget.as_millis(),
        if quick { " (--quick)" } else { "" }
    );
    println!();
    println!("| calendar | operation | fast ops/s | day-by-day ops/s | fast / day-by-day | minute-by-minute ops/s | fast / minute-by-minute |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut mismatches = 0usize;
    let mut fast_total = (0.0f64, 0usize);
    for cal in [&*cn, &ny] {
        for op in ops {
            // Same answers first (every input, fast vs day-by-day; a few vs minute-by-minute).
            for &t in &inputs {
                let (a, b) = (fast(cal, op, t), daily(cal, op, t));
                if a != b {
                    mismatches += 1;
                    if mismatches <= 5 {
                        eprintln!(
                            "MISMATCH {} {} from {t}: fast {a:?}, day-by-day {b:?}",
                            cal.name(),
                            op.label()
                        );
                    }
                }
            }
            for &t in few {
                if let Some(m) = minutely(cal, op, t) {
                    if m != fast(cal, op, t) {
                        mismatches += 1;
                        eprintln!(
                            "MISMATCH {} {} from {t}: minute-by-minute {m:?}",
                            cal.name(),
                            op.label()
                        );
                    }
                }
            }
            let f = rate(&inputs, budget, |t| fast(cal, op, t));
            let d = rate(&inputs, budget, |t| daily(cal, op, t));
            let m = match op {
                Op::WorkingDays(_) => None,
                _ => Some(rate(few, budget, |t| {
                    minutely(cal, op, t).unwrap_or(Err(String::new()))
                })),
            };
            fast_total = (fast_total.0 + f, fast_total.1 + 1);
            let (m_rate, m_ratio) = match m {
                Some(m) => (format!("{m:.0}"), format!("{:.0}×", f / m)),
                None => ("-".to_owned(), "-".to_owned()),
            };
            println!(
                "| {} | {} | {f:.0} | {d:.0} | {:.1}× | {m_rate} | {m_ratio} |",
                cal.name(),
                op.label(),
                f / d
            );
        }
    }
    println!();
    println!(
        "mean fast rate over all rows: {:.0} ops/s; answers that differ between implementations: {mismatches}",
        fast_total.0 / fast_total.1.max(1) as f64
    );
    if mismatches > 0 {
        std::process::exit(1);
    }
}
