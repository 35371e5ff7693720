//! The customer's address, asked of intake at send time over gRPC
//! (`ComplaintService.GetCustomerContact`). This service never stores it: intake is
//! the system of record for personal data (encrypted there), and the address lives in
//! memory only until the provider has the message.
//!
//! The connection is made lazily on first use, and dropped after a transport failure
//! so the next lookup connects afresh: intake may start after this service, restart,
//! or move. An unreachable intake is a transient failure (the delivery is retried with
//! back-off); a complaint intake does not know is permanent.

use std::time::Duration;

use ombuds_proto::v1::{
    complaint_service_client::ComplaintServiceClient, CustomerContact, GetCustomerContactRequest,
};
use tokio::sync::Mutex;
use tonic::{transport::Channel, transport::Endpoint, Code};

/// How long to wait for a TCP connection to intake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one lookup may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no contact came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// Intake could not be reached or did not answer in time; try again later.
    #[error("intake unavailable at {url}: {message}")]
    Unavailable { url: String, message: String },
    /// Intake answered that it has no such complaint.
    #[error("intake does not know complaint {0}")]
    NotFound(String),
    /// Intake refused the request as invalid; asking again will not help.
    #[error("intake refused the lookup: {0}")]
    Refused(String),
}

impl ContactError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ContactError::Unavailable { .. })
    }
}

/// A lazily connected client of intake's `ComplaintService`.
pub struct IntakeContacts {
    url: String,
    endpoint: Endpoint,
    client: Mutex<Option<ComplaintServiceClient<Channel>>>,
}

impl IntakeContacts {
    /// Checks the URL (`http://host:port`); no connection is made yet.
    pub fn new(url: &str) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("not a URL such as http://127.0.0.1:50051: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            url: url.to_owned(),
            endpoint,
            client: Mutex::new(None),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn client(&self) -> Result<ComplaintServiceClient<Channel>, ContactError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let channel = self
            .endpoint
            .connect()
            .await
            .map_err(|e| self.unavailable(error_chain(&e)))?;
        tracing::info!(url = %self.url, "connected to intake");
        let client = ComplaintServiceClient::new(channel);
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn forget(&self) {
        *self.client.lock().await = None;
    }

    fn unavailable(&self, message: String) -> ContactError {
        ContactError::Unavailable {
            url: self.url.clone(),
            message,
        }
    }

    /// The contact details of the customer behind `complaint_id`.
    pub async fn get(&self, complaint_id: &str) -> Result<CustomerContact, ContactError> {
        let mut client = self.client().await?;
        let request = GetCustomerContactRequest {
            complaint_id: complaint_id.to_owned(),
        };
        match client.get_customer_contact(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => {
                match status.code() {
                    Code::NotFound => Err(ContactError::NotFound(complaint_id.to_owned())),
                    Code::InvalidArgument | Code::Unimplemented => Err(ContactError::Refused(
                        format!("{:?}: {}", status.code(), status.message()),
                    )),
                    code => {
                        if matches!(
                            code,
                            Code::Unavailable
                                | Code::Unknown
                                | Code::Cancelled
                                | Code::DeadlineExceeded
                        ) {
                            // A broken or stale connection: connect afresh next time.
                            self.forget().await;
                        }
                        Err(self.unavailable(format!("{code:?}: {}", status.message())))
                    }
                }
            }
        }
    }
}

/// The error and its sources on one line ("transport error: tcp connect error: …").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let line = s.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = s.source();
    }
    text
}
