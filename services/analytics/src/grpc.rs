//! `ombuds.v1.AnalyticsService` (proto/ombuds/v1/analytics.proto): the counts.

use std::sync::Arc;

use ombuds_proto::v1::{self, analytics_service_server::AnalyticsService};
use tonic::{Request, Response, Status};

use crate::{counts::CountsView, State};

/// The gRPC face of the analytics service.
pub struct GrpcApi {
    pub state: Arc<State>,
}

#[tonic::async_trait]
impl AnalyticsService for GrpcApi {
    async fn get_counts(
        &self,
        _request: Request<v1::GetCountsRequest>,
    ) -> Result<Response<v1::Counts>, Status> {
        let counts = CountsView::load(&self.state.db)
            .await
            .map_err(ombuds_platform::grpc::internal)?;
        Ok(Response::new(counts.into()))
    }
}
