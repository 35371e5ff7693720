//! Intake's public HTTP contract (DESIGN.md, "The public HTTP contract of intake"):
//! `POST /v1/contacts/{channel}` and `GET /v1/complaints/{ticket_no}` (the complaint
//! with its thread, history, resolution and satisfaction), `GET /v1/complaints?…` (a
//! filtered page, as gRPC `List`) and `GET /v1/search?q=…` (as gRPC `Search`). Errors answer
//! `{"error": {"field": "…", "message": "…"}}`.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State as AxState},
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
    search,
    store::{self, Full, Key, ListFilter},
    State,
};

/// The largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/contacts/{channel}", post(submit))
        .route("/v1/complaints/{ticket_no}", get(get_complaint))
        .route("/v1/complaints", get(list_complaints))
        .route("/v1/search", get(search_complaints))
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
    let c = match parsed.and_then(|c| state.check(&c).map(|()| c)) {
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
            let mut answer = json!({"ticket_no": r.ticket_no, "complaint_id": r.complaint_id, "status": r.status});
            if r.threaded {
                answer["threaded_into"] = json!(r.ticket_no);
                answer["linked_reason"] = json!(r.linked_reason);
            }
            (code, Json(answer)).into_response()
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

type Params = Query<std::collections::HashMap<String, String>>;

fn param<'a>(p: &'a Params, name: &str) -> &'a str {
    p.0.get(name).map(String::as_str).unwrap_or("").trim()
}

fn number<T: std::str::FromStr + Default>(p: &Params, name: &str) -> Result<T, FieldError> {
    let v = param(p, name);
    if v.is_empty() {
        return Ok(T::default());
    }
    v.parse()
        .map_err(|_| FieldError::new(name, format!("{v:?} is not a number")))
}

fn instant(p: &Params, name: &str) -> Result<Option<i64>, FieldError> {
    let v = param(p, name);
    if v.is_empty() {
        return Ok(None);
    }
    time::parse_rfc3339(v).map(Some).map_err(|e| {
        FieldError::new(
            name,
            format!("{v:?} is not an RFC 3339 time (2026-11-22T10:00:00+08:00): {e}"),
        )
    })
}

fn page_json(rows: &[Full], next: String) -> Response {
    let complaints: Vec<Value> = rows.iter().map(|f| complaint_json(&to_proto(f))).collect();
    Json(json!({"complaints": complaints, "next_page_token": next})).into_response()
}

fn unavailable(e: sea_orm::DbErr, what: &str) -> Response {
    tracing::error!(error = %e, "{what} failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "",
        "the complaint store is unavailable",
    )
}

/// `GET /v1/complaints?status=&channel=&kind=&category=&department=&priority=&received_from=&received_to=&page_size=&page_token=`
async fn list_complaints(AxState(state): AxState<Arc<State>>, p: Params) -> Response {
    let filter = (|| {
        search::validate_list(ListFilter {
            status: param(&p, "status").to_owned(),
            channel: param(&p, "channel").to_owned(),
            department: param(&p, "department").to_owned(),
            kind: param(&p, "kind").to_owned(),
            category: param(&p, "category").to_owned(),
            priority: number(&p, "priority")?,
            received_from: instant(&p, "received_from")?,
            received_to: instant(&p, "received_to")?,
            page_size: number(&p, "page_size")?,
            after: param(&p, "page_token").to_owned(),
        })
    })();
    let filter = match filter {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    match store::list(&state.db, &state.vault, &filter).await {
        Ok((rows, next)) => page_json(&rows, next),
        Err(e) => unavailable(e, "listing complaints"),
    }
}

/// `GET /v1/search?q=…&status=&page_size=&page_token=`
async fn search_complaints(AxState(state): AxState<Arc<State>>, p: Params) -> Response {
    let q = number(&p, "page_size").and_then(|size| {
        search::SearchQuery::parse(
            param(&p, "q"),
            param(&p, "status"),
            size,
            param(&p, "page_token"),
        )
    });
    let q = match q {
        Ok(q) => q,
        // The HTTP parameter is `q`.
        Err(e) if e.field == "query" => return bad_request(FieldError::new("q", e.message)),
        Err(e) => return bad_request(e),
    };
    match search::search(&state.db, &state.vault, &q).await {
        Ok((rows, next)) => page_json(&rows, next),
        Err(e) => unavailable(e, "searching complaints"),
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
        "sub_category": c.sub_category,
        "severity": c.severity,
        "urgency": c.urgency,
        "tags": c.tags,
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
