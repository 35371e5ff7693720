//! Reaching the services: one gRPC channel per call of the CLI, and the one error
//! type every command returns. The error says which service and URL was at fault
//! and prints as one line (`NOT_FOUND: no complaint with ticket TS-…`), so the
//! CLI never shows a backtrace or a panic to the operator.

use std::{fmt, time::Duration};

use tonic::{
    transport::{Channel, Endpoint},
    Code, Status,
};

/// Why a command failed.
#[derive(Debug)]
pub enum CtlError {
    /// The URL given for a service is not a URL.
    BadUrl {
        service: &'static str,
        url: String,
        cause: String,
    },
    /// Nothing answered at the URL.
    Unreachable {
        service: &'static str,
        url: String,
        cause: String,
    },
    /// The service answered with an error status.
    Status { status: Status },
    /// Anything else (reading standard input, encoding JSON).
    Other(String),
    /// A command that has output to show and failed all the same (`ping`).
    Partial { output: String, message: String },
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl {
                service,
                url,
                cause,
            } => write!(f, "invalid {service} URL {url:?}: {cause}"),
            Self::Unreachable {
                service,
                url,
                cause,
            } => write!(f, "cannot reach {service} at {url}: {cause}"),
            Self::Status { status } => {
                let msg = one_line(status.message());
                if msg.is_empty() {
                    write!(f, "{}", code_name(status.code()))
                } else {
                    write!(f, "{}: {msg}", code_name(status.code()))
                }
            }
            Self::Other(msg) | Self::Partial { message: msg, .. } => f.write_str(msg),
        }
    }
}

impl std::error::Error for CtlError {}

/// A gRPC connection to one service, remembering which one for error messages.
#[derive(Debug, Clone)]
pub struct Target {
    pub service: &'static str,
    pub url: String,
}

impl Target {
    pub fn new(service: &'static str, url: &str) -> Self {
        Self {
            service,
            url: url.trim().to_owned(),
        }
    }

    /// Connects eagerly, so an unreachable service is reported by name and URL.
    pub async fn connect(&self) -> Result<Channel, CtlError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(CtlError::BadUrl {
                service: self.service,
                url: self.url.clone(),
                cause: "expected http://host:port".to_owned(),
            });
        }
        let endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|e| CtlError::BadUrl {
                service: self.service,
                url: self.url.clone(),
                cause: error_chain(&e),
            })?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        endpoint.connect().await.map_err(|e| CtlError::Unreachable {
            service: self.service,
            url: self.url.clone(),
            cause: error_chain(&e),
        })
    }

    /// Maps a status from a call to this service. A transport failure in the middle of
    /// the call (the service went away) is reported as unreachable, with the URL.
    pub fn status(&self, status: Status) -> CtlError {
        let transport_failure =
            status.code() == Code::Unavailable && std::error::Error::source(&status).is_some();
        if transport_failure {
            CtlError::Unreachable {
                service: self.service,
                url: self.url.clone(),
                cause: error_chain(&status),
            }
        } else {
            CtlError::Status { status }
        }
    }
}

/// The canonical name of a gRPC status code, as in the gRPC specification.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// An error and its causes, joined with ": ", without repeating a cause whose text
/// the previous one already contains (hyper and tonic often nest the same message).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = one_line(&e.to_string());
        let repeated = parts.last().is_some_and(|last| last.contains(&text));
        if !text.is_empty() && !repeated {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        "unknown error".to_owned()
    } else {
        parts.join(": ")
    }
}

/// Collapses newlines and runs of white space, so an error is one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_prints_code_and_message_on_one_line() {
        let e = CtlError::Status {
            status: Status::not_found("no complaint with ticket TS-1"),
        };
        assert_eq!(e.to_string(), "NOT_FOUND: no complaint with ticket TS-1");
        let e = CtlError::Status {
            status: Status::invalid_argument("body:\n  must not be empty"),
        };
        assert_eq!(e.to_string(), "INVALID_ARGUMENT: body: must not be empty");
        let e = CtlError::Status {
            status: Status::new(Code::PermissionDenied, ""),
        };
        assert_eq!(e.to_string(), "PERMISSION_DENIED");
    }

    #[test]
    fn every_code_has_its_canonical_name() {
        assert_eq!(code_name(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        for i in 0..=16 {
            let name = code_name(Code::from_i32(i));
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn unreachable_names_the_service_and_url() {
        let e = CtlError::Unreachable {
            service: "intake",
            url: "http://127.0.0.1:50051".into(),
            cause: "connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach intake at http://127.0.0.1:50051: connection refused"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_as_unreachable() {
        // Bind then drop a listener: the port is free and nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let err = Target::new("analytics", &url)
            .connect()
            .await
            .expect_err("nothing listens there");
        let text = err.to_string();
        assert!(matches!(err, CtlError::Unreachable { .. }), "{text}");
        assert!(
            text.starts_with(&format!("cannot reach analytics at {url}: ")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_bad_url_is_reported_as_such() {
        let err = Target::new("sla", "not a url")
            .connect()
            .await
            .expect_err("not a URL");
        assert!(matches!(err, CtlError::BadUrl { .. }), "{err}");
        assert!(
            err.to_string().starts_with("invalid sla URL \"not a url\""),
            "{err}"
        );
    }

    #[test]
    fn error_chain_skips_repeated_causes() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("transport error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&e), "transport error: connection refused");
    }
}
