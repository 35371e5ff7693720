//! The HTTP side of the adapter: `/healthz` and `/v1/webhooks/{source}`.
//!
//! A JSON source `POST`s one payload (an object) or a batch (an array of objects). The raw
//! body is authenticated first (HMAC or bearer token, 401 when wrong), then parsed and
//! mapped (400 naming the field), then each contact is published and acknowledged by
//! JetStream before the sender hears 202 (503 when NATS cannot take it, so the sender
//! retries; the retry is de-duplicated by `Nats-Msg-Id`). In a batch every payload stands
//! on its own: a bad one is reported by its index and the good ones are still published.
//!
//! A WeChat source uses the same path: `GET` is WeChat's server verification, `POST` a
//! pushed message (see [`crate::wechat`]). Bodies over 256 KiB are refused with 413.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{
        rejection::{BytesRejection, QueryRejection},
        DefaultBodyLimit, Path, Query, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};

use crate::{
    config::{Auth, Source, SourceKind},
    error::{ApiError, FieldError},
    mapping::JsonMapping,
    publish::Publisher,
    sig, wechat,
};

/// The largest body accepted.
pub const MAX_BODY: usize = 256 * 1024;

pub struct AppState {
    pub sources: HashMap<String, Source>,
    pub publisher: Publisher,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/webhooks/{source}", get(verify).post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn source<'a>(st: &'a AppState, name: &str) -> Result<&'a Source, ApiError> {
    st.sources
        .get(name)
        .ok_or_else(|| ApiError::UnknownSource(name.to_owned()))
}

fn params(q: Params) -> HashMap<String, String> {
    q.map(|Query(q)| q).unwrap_or_default()
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let e = FieldError::new("body", r.body_text());
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(FieldError::new(
                "body",
                format!("the body is larger than {} KiB", MAX_BODY / 1024),
            ))
        } else {
            ApiError::BadRequest(e)
        }
    })
}

fn wechat_query_ok(src: &Source, q: &HashMap<String, String>) -> Result<(), FieldError> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if ["signature", "timestamp", "nonce"]
        .iter()
        .any(|k| get(k).is_empty())
    {
        return Err(FieldError::new(
            "signature",
            "signature, timestamp and nonce query parameters are required",
        ));
    }
    if wechat::signature_ok(
        &src.secret,
        get("timestamp"),
        get("nonce"),
        get("signature"),
    ) {
        Ok(())
    } else {
        Err(FieldError::new(
            "signature",
            "the signature does not match this account's token",
        ))
    }
}

/// `GET`: WeChat's server verification.
async fn verify(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let src = source(&st, &name)?;
    if !matches!(src.kind, SourceKind::Wechat) {
        return Err(ApiError::MethodNotAllowed(FieldError::new(
            "method",
            "this source takes POST only",
        )));
    }
    let q = params(q);
    wechat_query_ok(src, &q).map_err(ApiError::Forbidden)?;
    let echo = q.get("echostr").cloned().unwrap_or_default();
    tracing::info!(source = %name, "WeChat server verification answered");
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], echo).into_response())
}

/// `POST`: a JSON payload or batch, or a WeChat message.
async fn receive(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let src = source(&st, &name)?;
    let body = body_bytes(body)?;
    let result = match &src.kind {
        SourceKind::Json { auth, mapping } => {
            receive_json(&st, src, *auth, mapping, &headers, &body).await
        }
        SourceKind::Wechat => receive_wechat(&st, src, &params(q), &body).await,
    };
    if let Err(e) = &result {
        tracing::warn!(source = %name, status = e.status().as_u16(), error = %e, "webhook refused");
    }
    result
}

async fn receive_json(
    st: &AppState,
    src: &Source,
    auth: Auth,
    mapping: &JsonMapping,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = match auth {
        Auth::Hmac => sig::verify_hmac(&src.secret, body, header(sig::SIGNATURE_HEADER)),
        Auth::Token => sig::verify_token(&src.secret, header(header::AUTHORIZATION.as_str())),
    };
    checked.map_err(|m| ApiError::Unauthorized(FieldError::new("signature", m)))?;
    let payload: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(FieldError::new(
            "body",
            format!("the body is not JSON: {e}"),
        ))
    })?;
    let now = ombuds_platform::time::now_ms();
    match payload {
        Value::Array(items) => receive_batch(st, src, mapping, items, now).await,
        payload => {
            let contact = mapping
                .map(&src.name, &payload, now)
                .map_err(ApiError::BadRequest)?;
            st.publisher.publish(&src.channel, &contact).await?;
            tracing::info!(source = %src.name, channel = %src.channel, external_id = %contact.external_id, "contact published");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"external_id": contact.external_id})),
            )
                .into_response())
        }
    }
}

/// Every payload of a batch on its own: 202 when at least one was published (the
/// refused ones listed by index), 400 when none was valid, 503 when NATS failed.
async fn receive_batch(
    st: &AppState,
    src: &Source,
    mapping: &JsonMapping,
    items: Vec<Value>,
    now: i64,
) -> Result<Response, ApiError> {
    if items.is_empty() {
        return Err(ApiError::BadRequest(FieldError::new(
            "body",
            "the batch is empty",
        )));
    }
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    let mut unavailable = None;
    for (index, item) in items.iter().enumerate() {
        let contact = match mapping.map(&src.name, item, now) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source = %src.name, index, error = %e, "batch item refused");
                rejected.push(json!({"index": index, "error": e.to_json()}));
                continue;
            }
        };
        if unavailable.is_some() {
            rejected.push(json!({"index": index, "external_id": contact.external_id,
                "error": {"field": "nats", "message": "not published: NATS is unavailable"}}));
            continue;
        }
        match st.publisher.publish(&src.channel, &contact).await {
            Ok(()) => {
                tracing::info!(source = %src.name, channel = %src.channel, external_id = %contact.external_id, "contact published");
                accepted.push(contact.external_id);
            }
            Err(e) => {
                rejected.push(json!({"index": index, "external_id": contact.external_id, "error": e.to_json()}));
                unavailable = Some(e);
            }
        }
    }
    let status = if let Some(e) = &unavailable {
        tracing::warn!(source = %src.name, error = %e, "batch partly published");
        StatusCode::SERVICE_UNAVAILABLE
    } else if accepted.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({"accepted": accepted, "rejected": rejected})),
    )
        .into_response())
}

async fn receive_wechat(
    st: &AppState,
    src: &Source,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    wechat_query_ok(src, q).map_err(ApiError::Unauthorized)?;
    let encrypted = || {
        ApiError::BadRequest(FieldError::new(
            "Encrypt",
            "encrypted (safe mode) messages are not supported: set the account's message encryption to plaintext mode",
        ))
    };
    if q.get("encrypt_type").is_some_and(|t| t != "raw") {
        return Err(encrypted());
    }
    let xml = std::str::from_utf8(body).map_err(|e| {
        ApiError::BadRequest(FieldError::new(
            "body",
            format!("the body is not UTF-8: {e}"),
        ))
    })?;
    let success = || {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "success",
        )
            .into_response()
    };
    match wechat::parse(xml).map_err(ApiError::BadRequest)? {
        wechat::Message::Encrypted => Err(encrypted()),
        wechat::Message::Other { msg_type } => {
            tracing::debug!(source = %src.name, %msg_type, "WeChat message that is not text: acknowledged and ignored");
            Ok(success())
        }
        wechat::Message::Text {
            from_user,
            create_time,
            content,
            msg_id,
            ..
        } => {
            let contact = wechat::to_contact(&from_user, create_time, &content, &msg_id);
            st.publisher.publish(&src.channel, &contact).await?;
            tracing::info!(source = %src.name, channel = %src.channel, external_id = %msg_id, "contact published");
            Ok(success())
        }
    }
}
