//! Durable timers.
//!
//! The store is the source of truth: every clock row carries `next_fire_at` (its next
//! warning threshold or its deadline), written in the same transaction as the clock.
//! In memory the watchdog holds only the timers due within the next
//! `OMBUDS_SLA_HORIZON` (default 1 h) in a binary heap of `(fire_at, clock id)` — 32
//! bytes each — and loads the next slice of the horizon as time moves on. A clock
//! started or resumed by this replica is pushed straight into the heap. At start the
//! heap is reloaded, so a timer that fell due while the service was down fires right
//! after it comes back.
//!
//! Firing is a conditional update (`state = 'running' AND next_fire_at = <what was
//! read>`) in the same transaction as the outbox rows: only one replica's update can
//! apply, so each warning and each breach is emitted at most once, with any number of
//! replicas. A sweep every few seconds picks up overdue timers this replica did not
//! hold (clocks another replica started before it stopped).

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use ombuds_platform::{shutdown::CancellationToken, time};
use sea_orm::{
    ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use tokio::sync::Notify;

use crate::{engine::Scheduled, entity::clock, State};

/// The in-memory slice of the timers.
#[derive(Default)]
pub struct TimerQueue {
    heap: Mutex<BinaryHeap<Reverse<(i64, u128)>>>,
    /// Every timer due at or before this instant is in the heap (or fired).
    loaded_until: AtomicI64,
    wake: Notify,
}

impl TimerQueue {
    /// Takes a timer that this replica just wrote; timers beyond the loaded horizon are
    /// picked up when the horizon reaches them.
    pub fn schedule(&self, s: Scheduled) {
        if s.fire_at <= 0 || s.fire_at > self.loaded_until.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut h) = self.heap.lock() {
            h.push(Reverse((s.fire_at, s.clock_id)));
        }
        self.wake.notify_one();
    }

    pub fn len(&self) -> usize {
        self.heap.lock().map(|h| h.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the heap holds.
    pub fn memory_bytes(&self) -> usize {
        self.heap
            .lock()
            .map(|h| h.capacity() * std::mem::size_of::<Reverse<(i64, u128)>>())
            .unwrap_or(0)
    }

    fn next_at(&self) -> Option<i64> {
        self.heap.lock().ok()?.peek().map(|Reverse((at, _))| *at)
    }

    fn pop_due(&self, now: i64, max: usize) -> Vec<(i64, u128)> {
        let mut out = Vec::new();
        if let Ok(mut h) = self.heap.lock() {
            while out.len() < max {
                match h.peek() {
                    Some(Reverse((at, _))) if *at <= now => {
                        if let Some(Reverse(e)) = h.pop() {
                            out.push(e);
                        }
                    }
                    _ => break,
                }
            }
        }
        out
    }
}

/// Loads the timers due in `(from, to]` into the heap; returns how many.
pub async fn load_slice(st: &State, from: i64, to: i64) -> Result<usize, DbErr> {
    const PAGE: u64 = 20_000;
    let mut last: Option<(i64, String)> = None;
    let mut n = 0;
    loop {
        let mut q = clock::Entity::find()
            .select_only()
            .columns([clock::Column::NextFireAt, clock::Column::ClockId])
            .filter(clock::Column::State.eq("running"))
            .filter(clock::Column::NextFireAt.lte(to));
        q = match &last {
            None => q.filter(clock::Column::NextFireAt.gt(from.max(0))),
            Some((at, id)) => q.filter(
                Condition::any().add(clock::Column::NextFireAt.gt(*at)).add(
                    Condition::all()
                        .add(clock::Column::NextFireAt.eq(*at))
                        .add(clock::Column::ClockId.gt(id.as_str())),
                ),
            ),
        };
        let rows: Vec<(i64, String)> = q
            .order_by_asc(clock::Column::NextFireAt)
            .order_by_asc(clock::Column::ClockId)
            .limit(PAGE)
            .into_tuple()
            .all(&st.db)
            .await?;
        let full = rows.len() as u64 == PAGE;
        if let Ok(mut h) = st.timers.heap.lock() {
            h.reserve(rows.len());
            for (at, id) in &rows {
                if let Ok(u) = uuid::Uuid::parse_str(id) {
                    h.push(Reverse((*at, u.as_u128())));
                }
            }
        }
        n += rows.len();
        last = rows.last().cloned();
        if !full {
            break;
        }
    }
    Ok(n)
}

/// Loads the first horizon (start-up reload).
pub async fn reload(st: &State) -> Result<usize, DbErr> {
    let until = time::now_ms() + st.horizon.as_millis() as i64;
    let n = load_slice(st, 0, until).await?;
    st.timers.loaded_until.store(until, Ordering::Release);
    Ok(n)
}

/// Fires a batch of timers in one transaction (one commit for many clocks is what
/// keeps timers on time when thousands fall due together). Returns how many clocks
/// changed. On error nothing is committed and the caller retries the batch.
pub async fn fire_batch(st: &State, clock_ids: &[u128], now: i64) -> Result<usize, DbErr> {
    if clock_ids.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = clock_ids
        .iter()
        .map(|id| uuid::Uuid::from_u128(*id).to_string())
        .collect();
    let txn = st.db.begin().await?;
    // In the order a batch of events locks clocks in (crate::batch: by complaint, then
    // target), so the two never wait on each other in a cycle on PostgreSQL.
    let rows = clock::Entity::find()
        .filter(clock::Column::ClockId.is_in(ids))
        .order_by_asc(clock::Column::ComplaintId)
        .order_by_asc(clock::Column::Target)
        .all(&txn)
        .await?;
    let mut fired = 0;
    let mut next = Vec::new();
    for c in rows {
        let due = c.state == "running" && c.next_fire_at > 0 && c.next_fire_at <= now;
        if !due {
            continue;
        }
        let (changed, again) = st.engine.fire(&txn, c, now).await?;
        if changed {
            fired += 1;
        }
        next.extend(again);
    }
    txn.commit().await?;
    for s in next {
        st.timers.schedule(s);
    }
    Ok(fired)
}

/// Reloads the timers from the store, then runs them until `shutdown`.
pub async fn run(st: Arc<State>, sweep_every: Duration, shutdown: CancellationToken) {
    let started = std::time::Instant::now();
    match reload(&st).await {
        Ok(n) => tracing::info!(
            timers = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "SLA timers loaded"
        ),
        Err(e) => {
            tracing::error!(error = %e, "loading SLA timers failed; the sweep will pick them up")
        }
    }
    run_loaded(st, sweep_every, shutdown).await
}

/// Runs timers already loaded with [`reload`] until `shutdown`.
pub async fn run_loaded(st: Arc<State>, sweep_every: Duration, shutdown: CancellationToken) {
    let horizon = st.horizon.as_millis() as i64;
    let mut next_sweep = time::now_ms();
    loop {
        let now = time::now_ms();
        // 1. Due timers from the heap, fired in one transaction per batch.
        let due = st.timers.pop_due(now, 512);
        let ids: Vec<u128> = due.iter().map(|(_, id)| *id).collect();
        match fire_batch(&st, &ids, now).await {
            Ok(fired) if fired > 0 => st.outbox.wake(),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, timers = ids.len(), "firing timers failed; retrying shortly");
                for id in ids {
                    st.timers.schedule(Scheduled {
                        clock_id: id,
                        fire_at: now + 1000,
                    });
                }
            }
        }
        // 2. Move the horizon on.
        let loaded = st.timers.loaded_until.load(Ordering::Acquire);
        if loaded - now < horizon / 2 {
            let until = now + horizon;
            match load_slice(&st, loaded, until).await {
                Ok(_) => st.timers.loaded_until.store(until, Ordering::Release),
                Err(e) => tracing::warn!(error = %e, "loading SLA timers failed"),
            }
        }
        // 3. The sweep: overdue timers nobody here held.
        if now >= next_sweep {
            next_sweep = now + sweep_every.as_millis() as i64;
            match sweep(&st, now).await {
                Ok(n) if n > 0 => {
                    tracing::info!(fired = n, "sweep fired overdue SLA timers");
                    st.outbox.wake();
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "SLA timer sweep failed"),
            }
        }
        if due.len() == 512 {
            continue;
        }
        let now = time::now_ms();
        let mut wake_at = next_sweep.min(now + horizon / 4);
        if let Some(at) = st.timers.next_at() {
            wake_at = wake_at.min(at);
        }
        let wait = Duration::from_millis((wake_at - now).clamp(0, 60_000) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = st.timers.wake.notified() => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

/// Fires every running clock whose timer is more than a moment overdue.
pub async fn sweep(st: &State, now: i64) -> Result<usize, DbErr> {
    let overdue: Vec<String> = clock::Entity::find()
        .select_only()
        .column(clock::Column::ClockId)
        .filter(clock::Column::State.eq("running"))
        .filter(clock::Column::NextFireAt.gt(0))
        .filter(clock::Column::NextFireAt.lte(now - 1000))
        .order_by_asc(clock::Column::NextFireAt)
        .limit(1000)
        .into_tuple()
        .all(&st.db)
        .await?;
    let ids: Vec<u128> = overdue
        .iter()
        .filter_map(|id| uuid::Uuid::parse_str(id).ok())
        .map(|u| u.as_u128())
        .collect();
    fire_batch(st, &ids, now).await
}
