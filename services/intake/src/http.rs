//! Intake's public HTTP contract (DESIGN.md, "The public HTTP contract of intake"):
//! `POST /v1/contacts/{channel}` and `GET /v1/complaints/{ticket_no}` (the complaint
//! with its thread, history, resolution and satisfaction). Errors answer
//! `{"error": {"field": "…", "message": "…"}}`.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State as AxState},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use ombuds_platform::time;
use serde_json::{json, Value};

use crate::{
    contact::{self, ContactJson, FieldError},
    grpc::to_proto,
    store::{self, Key},
    State,
};

/// The largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/contacts/{channel}", post(submit))
        .route("/v1/complaints/{ticket_no}", get(get_complaint))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn error(code: StatusCode, field: &str, message: &str) -> Response {
    (
        code,
        Json(json!({"error": {"field": field, "message": message}})),
    )
        .into_response()
}

fn bad_request(e: FieldError) -> Response {
    error(StatusCode::BAD_REQUEST, &e.field, &e.message)
}

async fn submit(
    AxState(state): AxState<Arc<State>>,
    Path(channel): Path<String>,
    body: Bytes,
) -> Response {
    let parsed = contact::parse_channel(&channel)
        .and_then(|ch| ContactJson::from_slice(&body).and_then(|j| j.into_contact(&ch)));
    let c = match parsed {
        Ok(c) => c,
        Err(e) => return bad_request(e),
    };
    match state.record(&c).await {
        Ok(r) => {
            let code = if r.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (
                code,
                Json(json!({"ticket_no": r.ticket_no, "complaint_id": r.complaint_id, "status": r.status})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "recording a contact failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "",
                "the complaint store is unavailable; retry with the same external_id",
            )
        }
    }
}

async fn get_complaint(
    AxState(state): AxState<Arc<State>>,
    Path(ticket_no): Path<String>,
) -> Response {
    match store::get(&state.db, &state.vault, Key::Ticket(&ticket_no)).await {
        Ok(Some(f)) => Json(complaint_json(&to_proto(&f))).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "ticket_no",
            &format!("no complaint with ticket {ticket_no}"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "reading a complaint failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "",
                "the complaint store is unavailable",
            )
        }
    }
}

fn ts(t: &Option<prost_types::Timestamp>) -> Value {
    match t {
        Some(t) => Value::String(time::rfc3339(time::from_timestamp(t))),
        None => Value::Null,
    }
}

/// The JSON form of a complaint. Fields may be added, never renamed.
pub fn complaint_json(c: &ombuds_proto::v1::Complaint) -> Value {
    let customer = c.customer.as_ref().map(|p| {
        json!({
            "customer_id": p.customer_id,
            "name": p.name_masked,
            "phone": p.phone_masked,
            "email": p.email_masked,
        })
    });
    json!({
        "complaint_id": c.complaint_id,
        "ticket_no": c.ticket_no,
        "status": c.status,
        "channel": c.channel,
        "kind": c.kind,
        "category": c.category,
        "priority": c.priority,
        "department": c.department,
        "assignee": c.assignee,
        "sla": c.sla.iter().map(|k| json!({
            "target": k.target,
            "deadline": ts(&k.deadline),
            "state": k.state,
        })).collect::<Vec<_>>(),
        "external_id": c.external_id,
        "subject": c.subject,
        "body": c.body,
        "customer": customer,
        "received_at": ts(&c.received_at),
        "recorded_at": ts(&c.recorded_at),
        "entry_lag_ms": c.entry_lag_ms,
        "version": c.version,
        "first_reply_at": ts(&c.first_reply_at),
        "messages": c.messages.iter().map(|m| json!({
            "message_id": m.message_id,
            "kind": m.kind,
            "author": m.author,
            "visible": m.visible,
            "text": m.text,
            "created_at": ts(&m.created_at),
        })).collect::<Vec<_>>(),
        "history": c.history.iter().map(|h| json!({
            "version": h.version,
            "from": h.from_status,
            "to": h.to_status,
            "action": h.action,
            "actor": h.actor,
            "reason": h.reason,
            "at": ts(&h.at),
        })).collect::<Vec<_>>(),
        "resolution": c.resolution.as_ref().map(|r| json!({
            "result": r.result,
            "cause": r.cause,
            "measures": r.measures,
            "first_contact": r.first_contact,
            "resolved_at": ts(&r.resolved_at),
            "resolved_by": r.resolved_by,
        })),
        "satisfaction": c.satisfaction.as_ref().map(|x| json!({
            "score": x.score,
            "comment": x.comment,
            "recorded_at": ts(&x.recorded_at),
            "unsatisfied": x.unsatisfied,
        })),
    })
}
