//! `ombuds.v1.RoutingService` (proto/ombuds/v1/routing.proto): where a complaint was
//! routed and by which rule (with its escalation level), the rules in force, a
//! complaint's escalations, and transfer forms ([`crate::transfer`]).

use std::sync::Arc;

use ombuds_platform::time::to_timestamp;
use ombuds_proto::v1::{self, routing_service_server::RoutingService};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tonic::{Request, Response, Status};

use crate::{
    entity::{assignment, escalation},
    rules::DEFAULT_RULE,
    State,
};

/// The gRPC face of the routing service.
pub struct GrpcApi {
    pub state: Arc<State>,
}

#[tonic::async_trait]
impl RoutingService for GrpcApi {
    async fn get_assignment(
        &self,
        request: Request<v1::GetAssignmentRequest>,
    ) -> Result<Response<v1::Assignment>, Status> {
        let id = request.into_inner().complaint_id.trim().to_owned();
        if id.is_empty() {
            return Err(Status::invalid_argument("complaint_id is empty"));
        }
        let row = assignment::Entity::find_by_id(id.clone())
            .one(&self.state.db)
            .await
            .map_err(ombuds_platform::grpc::internal)?
            .ok_or_else(|| Status::not_found(format!("no assignment for complaint {id}")))?;
        Ok(Response::new(v1::Assignment {
            complaint_id: row.complaint_id,
            ticket_no: row.ticket_no,
            department: row.department,
            queue: row.queue,
            assignee: row.assignee,
            rule: row.rule,
            assigned_at: Some(to_timestamp(row.assigned_at)),
            escalation_level: u32::try_from(row.escalation_level).unwrap_or(0),
            escalated_to: row.escalated_to,
        }))
    }

    async fn list_escalations(
        &self,
        request: Request<v1::ListEscalationsRequest>,
    ) -> Result<Response<v1::ListEscalationsResponse>, Status> {
        let id = request.into_inner().complaint_id.trim().to_owned();
        if id.is_empty() {
            return Err(Status::invalid_argument("complaint_id: is empty"));
        }
        let db = &self.state.db;
        assignment::Entity::find_by_id(id.clone())
            .one(db)
            .await
            .map_err(ombuds_platform::grpc::internal)?
            .ok_or_else(|| Status::not_found(format!("no assignment for complaint {id}")))?;
        let rows = escalation::Entity::find()
            .filter(escalation::Column::ComplaintId.eq(id.as_str()))
            .order_by_asc(escalation::Column::Level)
            .all(db)
            .await
            .map_err(ombuds_platform::grpc::internal)?;
        let escalations = rows
            .into_iter()
            .map(|e| v1::Escalation {
                complaint_id: e.complaint_id,
                level: u32::try_from(e.level).unwrap_or(0),
                escalated_to: e.escalated_to,
                reason: e.reason,
                clock_id: e.clock_id,
                target: e.target,
                escalated_at: Some(to_timestamp(e.at)),
            })
            .collect();
        Ok(Response::new(v1::ListEscalationsResponse { escalations }))
    }

    async fn transfer(
        &self,
        request: Request<v1::TransferRequest>,
    ) -> Result<Response<v1::TransferForm>, Status> {
        let form = self.state.transfer(request.into_inner()).await?;
        Ok(Response::new(form))
    }

    async fn list_rules(
        &self,
        _request: Request<v1::ListRulesRequest>,
    ) -> Result<Response<v1::ListRulesResponse>, Status> {
        let rules = &self.state.rules;
        let mut out: Vec<v1::Rule> = rules
            .rules()
            .iter()
            .map(|r| v1::Rule {
                name: r.name.clone(),
                kind: r.kind.as_str().to_owned(),
                r#match: r.matches.clone(),
                department: r.department.clone(),
            })
            .collect();
        out.push(v1::Rule {
            name: DEFAULT_RULE.to_owned(),
            kind: "default".to_owned(),
            r#match: Vec::new(),
            department: rules.default_department().to_owned(),
        });
        Ok(Response::new(v1::ListRulesResponse { rules: out }))
    }
}
