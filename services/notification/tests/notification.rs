//! Black-box tests of the notification service: a real nats-server, a real store
//! (SQLite, or PostgreSQL with `OMBUDS_TEST_DATABASE_URL`), the service running
//! in-process, and local stand-ins at the edges: a fake intake `ComplaintService` over
//! gRPC (the source of customers' addresses) and, for the smtp provider, a small SMTP
//! server that records what it receives.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream;
use ombuds_notification::{entity::delivery, run, Settings};
use ombuds_platform::{config::Config, events, pii};
use ombuds_proto::v1::{
    self,
    complaint_service_server::{ComplaintService, ComplaintServiceServer},
    notification_service_client::NotificationServiceClient,
    ListDeliveriesRequest,
};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use prost::Message as _;
use sea_orm::EntityTrait;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;
use tonic::{transport::server::TcpIncoming, Request, Response, Status};

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Customers the fake intake knows.

struct Customer {
    complaint_id: String,
    ticket_no: &'static str,
    email: &'static str,
    phone: &'static str,
}

fn customer(ticket_no: &'static str, email: &'static str, phone: &'static str) -> Customer {
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
struct FakeIntake {
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
async fn start_fake_intake(
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

struct Running {
    token: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    grpc: SocketAddr,
}

fn start_service(nats: &NatsServer, db: &TestDatabase, extra: &[(&str, String)]) -> Running {
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
    async fn stop(self) {
        self.token.cancel();
        self.task
            .await
            .expect("service task")
            .expect("service stops cleanly");
    }

    /// A client, once the service answers (the port is bound before the store is
    /// migrated, so a connection alone does not mean it is serving).
    async fn client(&self) -> NotificationServiceClient<tonic::transport::Channel> {
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

async fn jetstream_ready(nats: &NatsServer) -> jetstream::Context {
    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let js = jetstream::new(client);
    wait_until("the COMPLAINTS and NOTIFICATIONS streams", WAIT, || {
        let js = js.clone();
        async move {
            js.get_stream("COMPLAINTS")
                .await
                .map_err(|e| e.to_string())?;
            js.get_stream("NOTIFICATIONS")
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
    })
    .await;
    js
}

fn received(c: &Customer) -> v1::ComplaintReceived {
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
async fn publish_copy(js: &jetstream::Context, ev: &v1::ComplaintReceived) {
    let meta = ev.meta.clone().expect("meta");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        events::HDR_MSG_ID,
        format!("{}-copy", meta.event_id).as_str(),
    );
    headers.insert(events::HDR_TYPE, "ombuds.v1.ComplaintReceived");
    js.publish_with_headers("complaint.received", headers, ev.encode_to_vec().into())
        .await
        .expect("publish copy")
        .await
        .expect("copy stored");
}

/// Waits until the service's consumer has taken and acknowledged `n` messages.
async fn consumer_caught_up(js: &jetstream::Context, n: u64) {
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

async fn deliveries(
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
async fn delivery_in(
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

fn mailbox_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Every message on the NOTIFICATIONS stream, once it holds `n`.
async fn notifications(js: &jetstream::Context, n: u64) -> Vec<jetstream::message::StreamMessage> {
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

fn assert_no_plaintext(bytes: &[u8], secrets: &[&str], what: &str) {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{what} carries {secret} in plaintext"
        );
    }
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn acknowledges_each_complaint_once_by_the_right_medium() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mailbox = dir.path().join("notifications.jsonl");

    let alice = customer("TS-20261122-000001", "zhang.san@example.com", "13812345678");
    let bob = customer("TS-20261122-000002", "", "13987654321");
    let nobody = customer("TS-20261122-000003", "", "");
    let stranger = customer("TS-20261122-000004", "li.si@example.com", "13700001111");
    let secrets = [
        alice.email,
        alice.phone,
        bob.phone,
        stranger.email,
        stranger.phone,
    ];

    let intake_addr = free_addr();
    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &[&alice, &bob, &nobody]).await;
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
            ("OMBUDS_DATA_DIR", dir.path().display().to_string()),
        ],
    );
    let js = jetstream_ready(&nats).await;

    let alice_ev = received(&alice);
    events::publish(&js, &alice_ev)
        .await
        .expect("publish alice");
    events::publish(&js, &received(&bob))
        .await
        .expect("publish bob");
    // The same event again (another Nats-Msg-Id, so JetStream keeps it: the inbox must
    // catch it), and a second event about the same complaint (the unique row must).
    publish_copy(&js, &alice_ev).await;
    events::publish(&js, &received(&alice))
        .await
        .expect("publish alice again");
    events::publish(&js, &received(&nobody))
        .await
        .expect("publish nobody");
    events::publish(&js, &received(&stranger))
        .await
        .expect("publish stranger");
    consumer_caught_up(&js, 6).await;

    let client = service.client().await;
    let a = delivery_in(&client, &alice.complaint_id, "sent").await;
    assert_eq!(
        (
            a.ticket_no.as_str(),
            a.template.as_str(),
            a.medium.as_str(),
            a.provider.as_str()
        ),
        (alice.ticket_no, "acknowledgement", "email", "file")
    );
    assert_eq!(a.recipient_masked, "z***@example.com");
    assert_eq!(a.attempts, 1);
    assert!(a.sent_at.is_some());

    let b = delivery_in(&client, &bob.complaint_id, "sent").await;
    assert_eq!(b.medium, "sms");
    assert_eq!(b.recipient_masked, "139****4321");

    let n = delivery_in(&client, &nobody.complaint_id, "failed").await;
    assert_eq!(n.last_error, "no contact method");
    assert_eq!(n.attempts, 1);

    let s = delivery_in(&client, &stranger.complaint_id, "failed").await;
    assert!(s.last_error.contains("does not know"), "{}", s.last_error);

    // The stand-in mailbox: exactly one line per acknowledged complaint.
    let lines = mailbox_lines(&mailbox);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let by_ticket: HashMap<&str, &serde_json::Value> = lines
        .iter()
        .map(|l| (l["ticket_no"].as_str().expect("ticket_no"), l))
        .collect();
    let line = by_ticket[alice.ticket_no];
    assert_eq!(line["medium"], "email");
    assert_eq!(line["to"], alice.email);
    assert_eq!(line["complaint_id"], alice.complaint_id.as_str());
    assert_eq!(line["delivery_id"], a.delivery_id.as_str());
    assert_eq!(line["template"], "acknowledgement");
    assert!(line["subject"]
        .as_str()
        .expect("subject")
        .contains(alice.ticket_no));
    let body = line["body"].as_str().expect("body");
    assert!(
        body.contains(alice.ticket_no) && body.contains("工单号"),
        "{body}"
    );
    let line = by_ticket[bob.ticket_no];
    assert_eq!(line["medium"], "sms");
    assert_eq!(line["to"], bob.phone);
    assert!(line["body"].as_str().expect("body").contains(bob.ticket_no));

    // The events: two sent, two failed, none with a plaintext address.
    let msgs = notifications(&js, 4).await;
    assert_eq!(msgs.len(), 4);
    let mut sent = HashMap::new();
    let mut failed = HashMap::new();
    for m in &msgs {
        assert_no_plaintext(&m.payload, &secrets, &format!("event on {}", m.subject));
        match m.subject.as_str() {
            "notification.sent" => {
                let ev = v1::NotificationSent::decode(m.payload.clone()).expect("NotificationSent");
                let meta = ev.meta.clone().expect("meta");
                assert_eq!(meta.source, "notification");
                sent.insert(meta.ticket_no.clone(), ev);
            }
            "notification.failed" => {
                let ev =
                    v1::NotificationFailed::decode(m.payload.clone()).expect("NotificationFailed");
                failed.insert(ev.meta.clone().expect("meta").ticket_no, ev);
            }
            other => panic!("unexpected subject {other}"),
        }
    }
    let ev = &sent[alice.ticket_no];
    assert_eq!(
        (
            ev.medium.as_str(),
            ev.recipient_masked.as_str(),
            ev.provider.as_str(),
            ev.attempts
        ),
        ("email", "z***@example.com", "file", 1)
    );
    assert_eq!(ev.delivery_id, a.delivery_id);
    assert_eq!(sent[bob.ticket_no].recipient_masked, "139****4321");
    assert_eq!(failed[nobody.ticket_no].reason, "no contact method");
    assert!(failed.contains_key(stranger.ticket_no));

    // Nothing more goes out later (the duplicates have all been consumed above).
    assert_eq!(mailbox_lines(&mailbox).len(), 2);

    service.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");

    // The store holds no plaintext address either.
    let conn = ombuds_platform::db::connect(&db.url).await.expect("store");
    let rows = delivery::Entity::find().all(&conn).await.expect("rows");
    assert_eq!(rows.len(), 4);
    assert_no_plaintext(
        format!("{rows:?}").as_bytes(),
        &secrets,
        "the deliveries table",
    );
    conn.close().await.expect("close");
    db.drop_pg().await;
}

#[tokio::test]
async fn retries_while_intake_is_down_and_sends_once_it_is_up() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_retry").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mailbox = dir.path().join("mail").join("out.jsonl");
    let alice = customer("TS-20261122-000011", "wang.wu@example.com", "");

    // Intake is not running yet.
    let intake_addr = free_addr();
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
            ("OMBUDS_NOTIFY_FILE", mailbox.display().to_string()),
        ],
    );
    let js = jetstream_ready(&nats).await;
    events::publish(&js, &received(&alice))
        .await
        .expect("publish");

    let client = service.client().await;
    let pending = wait_until("a failed attempt while intake is down", WAIT, || {
        let mut client = client.clone();
        let id = alice.complaint_id.clone();
        async move {
            match deliveries(&mut client, &id).await.as_slice() {
                [d] if d.status == "pending" && d.attempts >= 1 => Ok(d.clone()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert!(
        pending.last_error.contains("intake unavailable"),
        "{}",
        pending.last_error
    );
    assert!(mailbox_lines(&mailbox).is_empty());

    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &[&alice]).await;
    let sent = delivery_in(&client, &alice.complaint_id, "sent").await;
    assert!(sent.attempts >= 2, "{sent:?}");
    assert_eq!(sent.last_error, "");

    let lines = mailbox_lines(&mailbox);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["ticket_no"], alice.ticket_no);
    assert_eq!(lines[0]["medium"], "email");
    assert_eq!(lines[0]["to"], alice.email);

    let msgs = notifications(&js, 1).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].subject.as_str(), "notification.sent");
    assert_no_plaintext(&msgs[0].payload, &[alice.email], "notification.sent");

    service.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");
    db.drop_pg().await;
}

#[tokio::test]
async fn gives_up_after_the_attempt_limit() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_give_up").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = customer("TS-20261122-000031", "sun.qi@example.com", "");

    // Intake never comes up; two attempts are allowed.
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{}", free_addr())),
            ("OMBUDS_DATA_DIR", dir.path().display().to_string()),
            ("OMBUDS_NOTIFY_MAX_ATTEMPTS", "2".to_owned()),
        ],
    );
    let js = jetstream_ready(&nats).await;
    events::publish(&js, &received(&alice))
        .await
        .expect("publish");

    let client = service.client().await;
    let failed = delivery_in(&client, &alice.complaint_id, "failed").await;
    assert_eq!(failed.attempts, 2);
    assert!(
        failed
            .last_error
            .starts_with("gave up after 2 attempts: intake unavailable"),
        "{}",
        failed.last_error
    );

    let msgs = notifications(&js, 1).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].subject.as_str(), "notification.failed");
    let ev = v1::NotificationFailed::decode(msgs[0].payload.clone()).expect("NotificationFailed");
    assert_eq!(ev.attempts, 2);
    assert_eq!(ev.reason, failed.last_error);
    assert_eq!(ev.delivery_id, failed.delivery_id);
    assert!(mailbox_lines(&dir.path().join("notifications.jsonl")).is_empty());

    service.stop().await;
    db.drop_pg().await;
}

#[tokio::test]
async fn two_replicas_send_each_acknowledgement_once() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_replicas").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mailbox = dir.path().join("notifications.jsonl");
    let tickets: Vec<&'static str> = (1..=24)
        .map(|i| &*Box::leak(format!("TS-20261122-{:06}", 100 + i).into_boxed_str()))
        .collect();
    let customers: Vec<Customer> = tickets
        .iter()
        .map(|t| customer(t, "chen.ba@example.com", ""))
        .collect();
    let refs: Vec<&Customer> = customers.iter().collect();
    let intake_addr = free_addr();
    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &refs).await;
    let extra = [
        ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
        ("OMBUDS_DATA_DIR", dir.path().display().to_string()),
    ];
    // The second replica starts once the first has migrated the store.
    let first = start_service(&nats, &db, &extra);
    let client = first.client().await;
    let second = start_service(&nats, &db, &extra);
    second.client().await;

    let js = jetstream_ready(&nats).await;
    for c in &customers {
        events::publish(&js, &received(c)).await.expect("publish");
    }
    consumer_caught_up(&js, customers.len() as u64).await;
    for c in &customers {
        let d = delivery_in(&client, &c.complaint_id, "sent").await;
        assert_eq!(d.attempts, 1, "{d:?}");
    }

    let lines = mailbox_lines(&mailbox);
    assert_eq!(lines.len(), customers.len(), "{lines:#?}");
    let mut seen: Vec<&str> = lines
        .iter()
        .map(|l| l["ticket_no"].as_str().expect("ticket_no"))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, tickets);
    assert_eq!(
        notifications(&js, customers.len() as u64).await.len(),
        customers.len()
    );

    first.stop().await;
    second.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");
    db.drop_pg().await;
}

// ---------------------------------------------------------------------------
// A local SMTP stand-in: enough of RFC 5321 for lettre, recording each message.

#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    rcpt: Vec<String>,
    data: String,
}

async fn start_smtp_stand_in() -> (SocketAddr, Arc<Mutex<Vec<Mail>>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
    let addr = listener.local_addr().expect("smtp addr");
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let store = inbox.clone();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let mut mail = Mail::default();
                let reply = |text: &'static str| text.as_bytes();
                if write
                    .write_all(reply("220 stand-in ESMTP\r\n"))
                    .await
                    .is_err()
                {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let answer: &str = if upper.starts_with("EHLO") {
                        "250-stand-in\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("HELO")
                        || upper.starts_with("RSET")
                        || upper.starts_with("NOOP")
                    {
                        "250 OK\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        mail = Mail {
                            from: line[10..].trim().to_owned(),
                            ..Mail::default()
                        };
                        "250 OK\r\n"
                    } else if upper.starts_with("RCPT TO:<NOBODY@") {
                        // A mailbox that does not exist: a permanent refusal naming it.
                        let answer = format!("550 5.1.1 {}: no such user\r\n", line[8..].trim());
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        continue;
                    } else if upper.starts_with("RCPT TO:") {
                        mail.rcpt.push(line[8..].trim().to_owned());
                        "250 OK\r\n"
                    } else if upper == "DATA" {
                        if write
                            .write_all(reply("354 end data with <CR><LF>.<CR><LF>\r\n"))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            let l = l
                                .strip_prefix('.')
                                .filter(|_| l.starts_with(".."))
                                .unwrap_or(&l);
                            mail.data.push_str(l);
                            mail.data.push('\n');
                        }
                        store
                            .lock()
                            .expect("mail store")
                            .push(std::mem::take(&mut mail));
                        "250 2.0.0 queued as 1\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(reply("221 bye\r\n")).await;
                        return;
                    } else {
                        "502 command not implemented\r\n"
                    };
                    if write.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, inbox, task)
}

/// The decoded text body of a raw message (7bit/8bit, quoted-printable or base64).
fn decoded_body(raw: &str) -> String {
    let (head, body) = raw.split_once("\n\n").expect("headers and body");
    let encoding = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-transfer-encoding:")
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "7bit".into());
    let bytes = match encoding.as_str() {
        "base64" => base64_decode(&body.split_whitespace().collect::<String>()),
        "quoted-printable" => quoted_printable_decode(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).expect("utf-8 body")
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().take_while(|c| *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c)
            .expect("base64 character") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn quoted_printable_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines() {
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        if !soft {
            out.push(b'\n');
        }
    }
    out
}

#[tokio::test]
async fn smtp_provider_sends_the_acknowledgement_by_email() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_smtp").await;
    let alice = customer("TS-20261122-000021", "zhao.liu@example.com", "13811112222");
    let bob = customer("TS-20261122-000022", "", "13833334444");
    let carol = customer("TS-20261122-000023", "nobody@example.com", "");

    let (smtp_addr, inbox, smtp_task) = start_smtp_stand_in().await;
    let intake_addr = free_addr();
    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &[&alice, &bob, &carol]).await;
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
            ("OMBUDS_NOTIFY_PROVIDER", "smtp".to_owned()),
            ("OMBUDS_SMTP_URL", format!("smtp://{smtp_addr}")),
            (
                "OMBUDS_SMTP_FROM",
                "Ombuds Help Desk <help@ombuds.test>".to_owned(),
            ),
        ],
    );
    let js = jetstream_ready(&nats).await;
    events::publish(&js, &received(&alice))
        .await
        .expect("publish alice");
    events::publish(&js, &received(&bob))
        .await
        .expect("publish bob");
    events::publish(&js, &received(&carol))
        .await
        .expect("publish carol");

    let client = service.client().await;
    let a = delivery_in(&client, &alice.complaint_id, "sent").await;
    assert_eq!((a.provider.as_str(), a.medium.as_str()), ("smtp", "email"));
    // Only e-mail under the smtp provider: the phone-only customer fails at once.
    let b = delivery_in(&client, &bob.complaint_id, "failed").await;
    assert_eq!(b.attempts, 1);
    assert!(b.last_error.contains("e-mail only"), "{}", b.last_error);
    assert_no_plaintext(b.last_error.as_bytes(), &[bob.phone], "last_error");
    // A 5xx answer is permanent, and the server's words are kept without the address.
    let c = delivery_in(&client, &carol.complaint_id, "failed").await;
    assert_eq!(c.attempts, 1);
    assert!(c.last_error.contains("no such user"), "{}", c.last_error);
    assert_no_plaintext(c.last_error.as_bytes(), &[carol.email], "last_error");

    let mails = inbox.lock().expect("mail store").clone();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.from, "<help@ombuds.test>");
    assert_eq!(mail.rcpt, vec![format!("<{}>", alice.email)]);
    assert!(
        mail.data
            .lines()
            .any(|l| l.starts_with("To:") && l.contains(alice.email)),
        "{}",
        mail.data
    );
    // The Message-ID is derived from the delivery, so a repeat after a crash is
    // recognisable as the same message by the receiving side.
    assert!(
        mail.data
            .lines()
            .any(|l| l.starts_with("Message-ID:") && l.contains(&a.delivery_id)),
        "{}",
        mail.data
    );
    let body = decoded_body(&mail.data);
    assert!(body.contains(alice.ticket_no), "{body}");
    assert!(body.contains("我们已收到您的投诉"), "{body}");

    service.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");
    smtp_task.abort();
    db.drop_pg().await;
}
