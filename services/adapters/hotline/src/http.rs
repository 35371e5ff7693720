//! The adapter's HTTP API (default 127.0.0.1:8091):
//!
//! - `POST /v1/calls/events`: one call event or an array of them. `202` when every
//!   event was published; `400` when any is invalid (the valid ones in the same array
//!   are still published), with `error` naming the first bad field and `results` listing
//!   each event (`published` | `invalid` with its field | `failed`); `503` when JetStream
//!   did not take an event (retrying is safe: repeats are dropped by `<call_id>:<event>`).
//! - `POST /v1/calls/{call_id}/complaint`: the complaint the answering agent recorded,
//!   as intake's contact JSON; `202 {"external_id": call_id}`.
//! - `GET /healthz` (the process is up), `GET /readyz` (NATS is connected).

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::json;

use crate::adapter::{EventResult, Hotline, SubmitError};
use crate::call::parse_batch;

#[derive(Clone)]
struct Api {
    hotline: Arc<Hotline>,
    nats: async_nats::Client,
    max_batch: usize,
}

pub fn router(
    hotline: Arc<Hotline>,
    nats: async_nats::Client,
    max_body_bytes: usize,
    max_batch: usize,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/v1/calls/events", post(call_events))
        .route("/v1/calls/{call_id}/complaint", post(complaint))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(Api {
            hotline,
            nats,
            max_batch,
        })
}

async fn readyz(State(api): State<Api>) -> Response {
    match api.nats.connection_state() {
        async_nats::connection::State::Connected => {
            (StatusCode::OK, Json(json!({"ready": true, "nats": "ok"}))).into_response()
        }
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "nats": format!("{other:?}").to_lowercase()})),
        )
            .into_response(),
    }
}

async fn call_events(State(api): State<Api>, body: Bytes) -> Response {
    let batch = match parse_batch(&body, api.max_batch) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "rejected call events");
            return (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_json()}))).into_response();
        }
    };
    let results = api
        .hotline
        .publish_calls(batch.into_iter().map(|(_, p)| p).collect())
        .await;
    let count = |pred: fn(&EventResult) -> bool| results.iter().filter(|r| pred(r)).count();
    let published = count(|r| matches!(r, EventResult::Published { .. }));
    let invalid = count(|r| matches!(r, EventResult::Invalid(_)));
    let failed = count(|r| matches!(r, EventResult::Failed { .. }));
    let mut body = json!({
        "published": published,
        "invalid": invalid,
        "failed": failed,
        "results": results.iter().enumerate().map(|(i, r)| r.to_json(i)).collect::<Vec<_>>(),
    });
    let first_invalid = results.iter().enumerate().find_map(|(i, r)| match r {
        EventResult::Invalid(e) => Some((i, e)),
        _ => None,
    });
    if let Some((index, e)) = first_invalid {
        tracing::warn!(index, field = %e.field, error = %e.message, "rejected a call event");
        body["error"] = json!({"field": e.field, "message": e.message, "index": index});
    }
    let status = if failed > 0 {
        StatusCode::SERVICE_UNAVAILABLE
    } else if invalid > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    (status, Json(body)).into_response()
}

async fn complaint(State(api): State<Api>, Path(call_id): Path<String>, body: Bytes) -> Response {
    match api.hotline.submit_complaint(&call_id, &body).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"external_id": call_id.trim()})),
        )
            .into_response(),
        Err(SubmitError::Invalid(e)) => {
            tracing::warn!(field = %e.field, error = %e.message, "rejected a complaint");
            (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_json()}))).into_response()
        }
        Err(e @ SubmitError::Unavailable(_)) => {
            tracing::error!(error = %e, "cannot hand the complaint to intake");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": {"message": e.to_string()}})),
            )
                .into_response()
        }
    }
}
