//! `SlaService`: the clocks of a complaint, by complaint id or ticket number.

use std::sync::Arc;

use ombuds_platform::{grpc::internal, time};
use ombuds_proto::v1::{self, sla_service_server::SlaService};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tonic::{Request, Response, Status};

use crate::{entity::clock, State};

pub struct Api {
    pub state: Arc<State>,
}

fn to_proto(c: clock::Model) -> v1::Clock {
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
            .order_by_asc(clock::Column::Deadline)
            .all(&self.state.db)
            .await
            .map_err(internal)?;
        Ok(Response::new(v1::ListClocksResponse {
            clocks: clocks.into_iter().map(to_proto).collect(),
        }))
    }
}
