//! `SlaService`: the clocks of a complaint (by complaint id or ticket number) with
//! their state, deadline, elapsed business time and history.

use std::sync::Arc;

use ombuds_platform::{grpc::internal, time};
use ombuds_proto::v1::{self, sla_service_server::SlaService};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tonic::{Request, Response, Status};

use crate::{entity::clock, State};

pub struct Api {
    pub state: Arc<State>,
}

fn to_proto(st: &State, c: clock::Model) -> v1::Clock {
    let now = time::now_ms();
    let used = c.consumed_ms
        + if c.state == "running" || c.state == "breached" {
            let to = if c.ended_at > 0 && c.state != "breached" {
                c.ended_at
            } else {
                now
            };
            st.engine.business_time(&c.calendar, c.segment_start, to)
        } else {
            0
        };
    let history = serde_json::from_str::<Vec<serde_json::Value>>(&c.history)
        .unwrap_or_default()
        .into_iter()
        .map(|h| v1::ClockEvent {
            at: h["at"]
                .as_str()
                .and_then(|t| time::parse_rfc3339(t).ok())
                .map(time::to_timestamp),
            event: h["event"].as_str().unwrap_or_default().to_owned(),
            detail: h["detail"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    v1::Clock {
        clock_id: c.clock_id,
        complaint_id: c.complaint_id,
        ticket_no: c.ticket_no,
        target: c.target,
        policy: c.policy,
        state: c.state,
        started_at: Some(time::to_timestamp(c.started_at)),
        deadline: Some(time::to_timestamp(c.deadline)),
        ended_at: (c.ended_at > 0).then(|| time::to_timestamp(c.ended_at)),
        elapsed_seconds: used / 1000,
        allowance_seconds: c.allowance_ms / 1000,
        calendar: c.calendar,
        within: c.within,
        warned_percent: c.warned_pct,
        stops_on: c.stops_on,
        history,
    }
}

#[tonic::async_trait]
impl SlaService for Api {
    async fn list_clocks(
        &self,
        request: Request<v1::ListClocksRequest>,
    ) -> Result<Response<v1::ListClocksResponse>, Status> {
        let r = request.into_inner();
        let q = clock::Entity::find();
        let q = if !r.complaint_id.trim().is_empty() {
            q.filter(clock::Column::ComplaintId.eq(r.complaint_id.trim()))
        } else if !r.ticket_no.trim().is_empty() {
            q.filter(clock::Column::TicketNo.eq(r.ticket_no.trim()))
        } else {
            return Err(Status::invalid_argument(
                "complaint_id or ticket_no: required",
            ));
        };
        let clocks = q
            .order_by_asc(clock::Column::StartedAt)
            .order_by_asc(clock::Column::Target)
            .all(&self.state.db)
            .await
            .map_err(internal)?;
        Ok(Response::new(v1::ListClocksResponse {
            clocks: clocks
                .into_iter()
                .map(|c| to_proto(&self.state, c))
                .collect(),
        }))
    }
}
