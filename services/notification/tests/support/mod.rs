//! Shared harness of the notification service's black-box tests: a fake intake
//! `ComplaintService` over gRPC (the source of customers' addresses), the service
//! running in-process on a real nats-server and a real store, and helpers to publish
//! events and read what came out (the file mailbox, `ListDeliveries`, the NOTIFICATIONS
//! stream). Each test binary uses part of it.
#![allow(dead_code)]

use std::{collections::HashMap, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use async_nats::jetstream;
use ombuds_notification::{run, Settings};
use ombuds_platform::{
    config::Config,
    events::{self, Event},
    pii,
};
use ombuds_proto::v1::{
    self,
    complaint_service_server::{ComplaintService, ComplaintServiceServer},
    notification_service_client::NotificationServiceClient,
    ListDeliveriesRequest,
};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{transport::server::TcpIncoming, Request, Response, Status};

pub const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Customers the fake intake knows.

pub struct Customer {
    pub complaint_id: String,
    pub ticket_no: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
}

pub fn customer(ticket_no: &'static str, email: &'static str, phone: &'static str) -> Customer {
    Customer {
        complaint_id: uuid::Uuid::now_v7().to_string(),
        ticket_no,
        email,
        phone,
    }
}

// ---------------------------------------------------------------------------
// A fake intake: GetCustomerContact for known complaints, NOT_FOUND otherwise.

#[derive(Clone, Default)]
pub struct FakeIntake {
    contacts: Arc<HashMap<String, v1::CustomerContact>>,
}

#[tonic::async_trait]
impl ComplaintService for FakeIntake {
    async fn submit(
        &self,
        _: Request<v1::SubmitRequest>,
    ) -> Result<Response<v1::SubmitResponse>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn get(
        &self,
        _: Request<v1::GetComplaintRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn list(
        &self,
        _: Request<v1::ListComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn search(
        &self,
        _: Request<v1::SearchComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn classify(
        &self,
        _: Request<v1::ClassifyRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn get_customer_contact(
        &self,
        request: Request<v1::GetCustomerContactRequest>,
    ) -> Result<Response<v1::CustomerContact>, Status> {
        let id = request.into_inner().complaint_id;
        match self.contacts.get(&id) {
            Some(c) => Ok(Response::new(c.clone())),
            None => Err(Status::not_found(format!("no complaint {id}"))),
        }
    }

    async fn acknowledge(
        &self,
        _: Request<v1::AcknowledgeRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn add_note(
        &self,
        _: Request<v1::AddNoteRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn reply(&self, _: Request<v1::ReplyRequest>) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn set_awaiting_customer(
        &self,
        _: Request<v1::SetAwaitingCustomerRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn customer_responded(
        &self,
        _: Request<v1::CustomerRespondedRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn resolve(
        &self,
        _: Request<v1::ResolveRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn close(&self, _: Request<v1::CloseRequest>) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn reopen(
        &self,
        _: Request<v1::ReopenRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }

    async fn record_satisfaction(
        &self,
        _: Request<v1::RecordSatisfactionRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        Err(Status::unimplemented("fake intake"))
    }
}

/// Serves the fake intake on `addr` until the returned token is cancelled.
pub async fn start_fake_intake(
    addr: SocketAddr,
    customers: &[&Customer],
) -> (CancellationToken, JoinHandle<()>) {
    let contacts = customers
        .iter()
        .map(|c| {
            (
                c.complaint_id.clone(),
                v1::CustomerContact {
                    customer_id: format!("cust-{}", c.ticket_no),
                    name: "张三".into(),
                    phone: c.phone.into(),
                    email: c.email.into(),
                    channel: "web_form".into(),
                    ticket_no: c.ticket_no.into(),
                },
            )
        })
        .collect();
    let service = ComplaintServiceServer::new(FakeIntake {
        contacts: Arc::new(contacts),
    });
    let listener = TcpListener::bind(addr).await.expect("bind the fake intake");
    let stop = CancellationToken::new();
    let s = stop.clone();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), s.cancelled_owned())
            .await
            .expect("fake intake serves");
    });
    (stop, task)
}

// ---------------------------------------------------------------------------
// The service under test.

pub struct Running {
    pub token: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub grpc: SocketAddr,
}

pub fn start_service(nats: &NatsServer, db: &TestDatabase, extra: &[(&str, String)]) -> Running {
    if std::env::var("TEST_LOG").is_ok() {
        ombuds_platform::telemetry::init(ombuds_platform::config::LogFormat::Text);
    }
    let grpc = free_addr();
    let mut pairs = vec![
        ("NATS_URL".to_owned(), nats.url()),
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("OMBUDS_HTTP_ADDR".to_owned(), free_addr().to_string()),
        ("OMBUDS_GRPC_ADDR".to_owned(), grpc.to_string()),
        ("OMBUDS_SHUTDOWN_GRACE".to_owned(), "5s".to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let cfg = Config::from_pairs("notification", pairs);
    let settings = Settings::from_config(&cfg).expect("settings");
    let token = CancellationToken::new();
    let task = tokio::spawn(run(settings, token.clone()));
    Running { token, task, grpc }
}

impl Running {
    pub async fn stop(self) {
        self.token.cancel();
        self.task
            .await
            .expect("service task")
            .expect("service stops cleanly");
    }

    /// A client, once the service answers (the port is bound before the store is
    /// migrated, so a connection alone does not mean it is serving).
    pub async fn client(&self) -> NotificationServiceClient<tonic::transport::Channel> {
        let url = format!("http://{}", self.grpc);
        wait_until("the notification gRPC service", WAIT, || {
            let url = url.clone();
            async move {
                let mut client = NotificationServiceClient::connect(url)
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .list_deliveries(ListDeliveriesRequest {
                        complaint_id: "probe".into(),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(client)
            }
        })
        .await
    }
}

pub async fn jetstream_ready(nats: &NatsServer) -> jetstream::Context {
    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let js = jetstream::new(client);
    wait_until(
        "the COMPLAINTS, SLA and NOTIFICATIONS streams",
        WAIT,
        || {
            let js = js.clone();
            async move {
                for stream in ["COMPLAINTS", "SLA", "NOTIFICATIONS"] {
                    js.get_stream(stream).await.map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        },
    )
    .await;
    js
}

pub fn received(c: &Customer) -> v1::ComplaintReceived {
    v1::ComplaintReceived {
        meta: Some(events::meta("intake", &c.complaint_id, c.ticket_no, 1)),
        channel: "web_form".into(),
        external_id: format!("ext-{}", c.ticket_no),
        kind: "complaint".into(),
        category: "billing".into(),
        priority: 3,
        customer: Some(v1::CustomerRef {
            customer_id: format!("cust-{}", c.ticket_no),
            name_masked: pii::mask_name("张三"),
            phone_masked: pii::mask_phone(c.phone),
            email_masked: pii::mask_email(c.email),
        }),
        subject: "Billing".into(),
        body: "I was charged twice".into(),
        received_at: None,
        recorded_at: None,
        status: "received".into(),
    }
}

/// Publishes the same event again under another `Nats-Msg-Id`, so JetStream does not
/// drop it and only the consumer's inbox can.
pub async fn publish_copy<E: Event>(js: &jetstream::Context, ev: &E) {
    let meta = ev.meta().cloned().expect("meta");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        events::HDR_MSG_ID,
        format!("{}-copy", meta.event_id).as_str(),
    );
    headers.insert(events::HDR_TYPE, E::TYPE);
    js.publish_with_headers(E::SUBJECT, headers, ev.encode_to_vec().into())
        .await
        .expect("publish copy")
        .await
        .expect("copy stored");
}

/// Waits until the service's consumer has taken and acknowledged `n` messages.
pub async fn consumer_caught_up(js: &jetstream::Context, n: u64) {
    wait_until("the complaint.received consumer to catch up", WAIT, || {
        let js = js.clone();
        async move {
            let stream = js
                .get_stream("COMPLAINTS")
                .await
                .map_err(|e| e.to_string())?;
            let info = stream
                .consumer_info("notification-complaints")
                .await
                .map_err(|e| e.to_string())?;
            if info.ack_floor.stream_sequence >= n
                && info.num_ack_pending == 0
                && info.num_pending == 0
            {
                Ok(())
            } else {
                Err(format!(
                    "ack floor {} of {n}, {} unacked, {} pending",
                    info.ack_floor.stream_sequence, info.num_ack_pending, info.num_pending
                ))
            }
        }
    })
    .await
}

/// Waits until the durable consumer `durable` on `stream` has taken and acknowledged
/// everything published to it so far (call it after the publishes are acknowledged).
pub async fn durable_caught_up(js: &jetstream::Context, stream: &str, durable: &str) {
    wait_until(&format!("{durable} to catch up"), WAIT, || {
        let js = js.clone();
        async move {
            let stream = js.get_stream(stream).await.map_err(|e| e.to_string())?;
            let info = stream
                .consumer_info(durable)
                .await
                .map_err(|e| e.to_string())?;
            if info.delivered.consumer_sequence > 0
                && info.num_ack_pending == 0
                && info.num_pending == 0
            {
                Ok(())
            } else {
                Err(format!(
                    "{} delivered, {} unacked, {} pending",
                    info.delivered.consumer_sequence, info.num_ack_pending, info.num_pending
                ))
            }
        }
    })
    .await
}

pub async fn deliveries(
    client: &mut NotificationServiceClient<tonic::transport::Channel>,
    complaint_id: &str,
) -> Vec<v1::Delivery> {
    client
        .list_deliveries(ListDeliveriesRequest {
            complaint_id: complaint_id.to_owned(),
        })
        .await
        .expect("ListDeliveries")
        .into_inner()
        .deliveries
}

/// Waits until the complaint's only delivery has reached `status`, and returns it.
pub async fn delivery_in(
    client: &NotificationServiceClient<tonic::transport::Channel>,
    complaint_id: &str,
    status: &str,
) -> v1::Delivery {
    wait_until(
        &format!("delivery of {complaint_id} to be {status}"),
        WAIT,
        || {
            let mut client = client.clone();
            let complaint_id = complaint_id.to_owned();
            async move {
                let list = deliveries(&mut client, &complaint_id).await;
                match list.as_slice() {
                    [d] if d.status == status => Ok(d.clone()),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await
}

pub fn mailbox_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Every message on the NOTIFICATIONS stream, once it holds `n`.
pub async fn notifications(
    js: &jetstream::Context,
    n: u64,
) -> Vec<jetstream::message::StreamMessage> {
    let stream = js.get_stream("NOTIFICATIONS").await.expect("NOTIFICATIONS");
    wait_until(&format!("{n} notification events"), WAIT, || {
        let stream = stream.clone();
        async move {
            let info = stream.get_info().await.map_err(|e| e.to_string())?;
            if info.state.messages >= n {
                Ok(())
            } else {
                Err(format!("{} events so far", info.state.messages))
            }
        }
    })
    .await;
    let info = stream.get_info().await.expect("stream info");
    let mut out = Vec::new();
    for seq in info.state.first_sequence..=info.state.last_sequence {
        out.push(stream.get_raw_message(seq).await.expect("stream message"));
    }
    out
}

pub fn assert_no_plaintext(bytes: &[u8], secrets: &[&str], what: &str) {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{what} carries {secret} in plaintext"
        );
    }
}
