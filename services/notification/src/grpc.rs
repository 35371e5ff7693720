//! `NotificationService` over gRPC: what was sent about a complaint, to whom (masked),
//! by which provider, and how it went.

use ombuds_platform::{grpc::internal, time::to_timestamp};
use ombuds_proto::v1::{
    self, notification_service_server::NotificationService, ListDeliveriesRequest,
    ListDeliveriesResponse,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use tonic::{Request, Response, Status};

use crate::entity::delivery::{self, Column, Entity as Deliveries};

pub struct GrpcApi {
    pub db: DatabaseConnection,
}

/// A stored delivery as the API shows it. A row being sent right now (`sending`) is
/// still `pending` to callers: the contract knows pending | sent | failed.
pub fn to_proto(row: delivery::Model) -> v1::Delivery {
    let status = if row.status == delivery::SENDING {
        delivery::PENDING.to_owned()
    } else {
        row.status
    };
    v1::Delivery {
        delivery_id: row.delivery_id,
        complaint_id: row.complaint_id,
        ticket_no: row.ticket_no,
        template: row.template,
        medium: row.medium.unwrap_or_default(),
        provider: row.provider.unwrap_or_default(),
        recipient_masked: row.recipient_masked.unwrap_or_default(),
        status,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        last_error: row.last_error.unwrap_or_default(),
        created_at: Some(to_timestamp(row.created_at)),
        sent_at: row.sent_at.map(to_timestamp),
    }
}

#[tonic::async_trait]
impl NotificationService for GrpcApi {
    async fn list_deliveries(
        &self,
        request: Request<ListDeliveriesRequest>,
    ) -> Result<Response<ListDeliveriesResponse>, Status> {
        let complaint_id = request.into_inner().complaint_id;
        let complaint_id = complaint_id.trim();
        if complaint_id.is_empty() {
            return Err(Status::invalid_argument("complaint_id: required"));
        }
        let rows = Deliveries::find()
            .filter(Column::ComplaintId.eq(complaint_id))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::DeliveryId)
            .all(&self.db)
            .await
            .map_err(internal)?;
        Ok(Response::new(ListDeliveriesResponse {
            deliveries: rows.into_iter().map(to_proto).collect(),
        }))
    }
}
