//! The analytics HTTP routes, served beside `/healthz`, `/readyz` and `/metrics`:
//!
//! - `GET /v1/counts`: the [`CountsView`] as JSON;
//! - `GET /`: a self-contained dashboard (HTML and a little JS, no external assets)
//!   that polls `/v1/counts` every 2 s.

use std::sync::Arc;

use axum::{
    extract::State as AxumState,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};

use crate::{counts::CountsView, State};

const DASHBOARD: &str = include_str!("dashboard.html");

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(DASHBOARD) }))
        .route("/v1/counts", get(counts))
        .with_state(state)
}

async fn counts(AxumState(state): AxumState<Arc<State>>) -> Response {
    match CountsView::load(&state.db).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "GET /v1/counts: cannot read the store");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"error": {"message": "counts are unavailable; see the service log"}})),
            )
                .into_response()
        }
    }
}
