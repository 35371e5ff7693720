//! The adapter's errors and how each becomes an HTTP answer: a status and
//! `{"error":{"field":…,"message":…}}` naming what was wrong.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

/// A problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"field": self.field, "message": self.message})
    }
}

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no webhook source named {0:?}")]
    UnknownSource(String),
    /// Missing or wrong signature or token.
    #[error("{0}")]
    Unauthorized(FieldError),
    /// A bad WeChat verification request.
    #[error("{0}")]
    Forbidden(FieldError),
    #[error("{0}")]
    BadRequest(FieldError),
    #[error("{0}")]
    TooLarge(FieldError),
    #[error("{0}")]
    MethodNotAllowed(FieldError),
    /// NATS is unreachable or did not acknowledge: the sender should retry.
    #[error("cannot hand the contact to intake now: {0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownSource(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::UnknownSource(_) => FieldError::new("source", self.to_string()).to_json(),
            Self::Unavailable(_) => FieldError::new("nats", self.to_string()).to_json(),
            Self::Unauthorized(f)
            | Self::Forbidden(f)
            | Self::BadRequest(f)
            | Self::TooLarge(f)
            | Self::MethodNotAllowed(f) => f.to_json(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status(),
            Json(serde_json::json!({"error": self.to_json()})),
        )
            .into_response()
    }
}
