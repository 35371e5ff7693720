//! The timer: fires `sla.breached` for running clocks whose deadline has passed.
//!
//! The store is the source of truth. The loop sleeps until the earliest running
//! deadline (at most one tick, and it wakes early when a clock starts), then claims
//! due clocks one by one with a conditional update (`state = 'running'` →
//! `breached`) in the same transaction as the outbox row. Only the transaction that
//! changed the row emits the event, so a clock breaches at most once even with several
//! replicas, and a deadline that passed while the service was down fires right after
//! it comes back.

use std::{sync::Arc, time::Duration};

use ombuds_platform::{events, outbox, shutdown::CancellationToken, time};
use ombuds_proto::v1;
use sea_orm::{
    sea_query::Expr, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use crate::{clocks::SOURCE, entity::clock, State};

pub async fn run(st: Arc<State>, tick: Duration, shutdown: CancellationToken) {
    loop {
        let wait = match fire_due(&st).await {
            Ok(more) if more => Duration::ZERO,
            Ok(_) => match next_deadline(&st).await {
                Ok(Some(at)) => {
                    Duration::from_millis((at - time::now_ms()).max(0) as u64).min(tick)
                }
                Ok(None) => tick,
                Err(e) => {
                    tracing::warn!(error = %e, "timer: reading deadlines failed");
                    tick
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "timer: firing due clocks failed; retrying");
                tick
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = st.timer.notified() => {}
            _ = shutdown.cancelled() => break,
        }
    }
}

const BATCH: u64 = 256;

/// Breaches every due running clock; `Ok(true)` when a full batch was due (look again).
pub async fn fire_due(st: &State) -> Result<bool, DbErr> {
    let now = time::now_ms();
    let due = clock::Entity::find()
        .filter(clock::Column::State.eq("running"))
        .filter(clock::Column::Deadline.lte(now))
        .order_by_asc(clock::Column::Deadline)
        .limit(BATCH)
        .all(&st.db)
        .await?;
    let full = due.len() as u64 == BATCH;
    let mut fired = 0;
    for c in due {
        let txn = st.db.begin().await?;
        let claimed = clock::Entity::update_many()
            .col_expr(clock::Column::State, Expr::value("breached"))
            .col_expr(clock::Column::EndedAt, Expr::value(now))
            .col_expr(clock::Column::UpdatedAt, Expr::value(now))
            .filter(clock::Column::ClockId.eq(c.clock_id.as_str()))
            .filter(clock::Column::State.eq("running"))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            txn.rollback().await?;
            continue;
        }
        outbox::enqueue(
            &txn,
            &v1::SlaClockBreached {
                meta: Some(events::meta(SOURCE, &c.complaint_id, &c.ticket_no, 0)),
                clock_id: c.clock_id.clone(),
                target: c.target.clone(),
                deadline: Some(time::to_timestamp(c.deadline)),
                breached_at: Some(time::to_timestamp(now)),
            },
        )
        .await?;
        txn.commit().await?;
        fired += 1;
        tracing::info!(ticket = %c.ticket_no, target = %c.target, late_ms = now - c.deadline, "SLA breached");
    }
    if fired > 0 {
        st.outbox.wake();
    }
    Ok(full)
}

async fn next_deadline(st: &State) -> Result<Option<i64>, DbErr> {
    Ok(clock::Entity::find()
        .filter(clock::Column::State.eq("running"))
        .order_by_asc(clock::Column::Deadline)
        .one(&st.db)
        .await?
        .map(|c| c.deadline))
}
