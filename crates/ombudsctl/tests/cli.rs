//! Runs the real `ombudsctl` binary against stand-in gRPC servers (intake's
//! ComplaintService, routing's RoutingService, the SLA watchdog's SlaService and
//! analytics' AnalyticsService)
//! on free ports: what reaches the server, what the operator sees on standard output
//! and standard error, and the exit code.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use ombuds_proto::v1::{
    self,
    analytics_service_server::{AnalyticsService, AnalyticsServiceServer},
    complaint_service_server::{ComplaintService, ComplaintServiceServer},
    get_complaint_request::Key,
    routing_service_server::{RoutingService, RoutingServiceServer},
    sla_service_server::{SlaService, SlaServiceServer},
};
use prost_types::Timestamp;
use tonic::{transport::server::TcpIncoming, Request, Response, Status};

/// 2026-11-22T08:00:00Z
const T0: i64 = 1_795_334_400;

#[derive(Default, Clone)]
struct Fake {
    submitted: Arc<Mutex<Vec<v1::SubmitRequest>>>,
    listed: Arc<Mutex<Vec<v1::ListComplaintsRequest>>>,
    acted: Arc<Mutex<Vec<String>>>,
    transfers: Arc<Mutex<Vec<v1::TransferRequest>>>,
}

fn complaint() -> v1::Complaint {
    v1::Complaint {
        complaint_id: "0193a3c2-7b1e-7c3d-9f00-123456789abc".into(),
        ticket_no: "TS-20261122-0001".into(),
        status: "received".into(),
        channel: "web_form".into(),
        kind: "complaint".into(),
        priority: 3,
        sla: vec![v1::SlaClockView {
            target: "acknowledgement".into(),
            deadline: Some(Timestamp {
                seconds: T0,
                nanos: 0,
            }),
            state: "met".into(),
        }],
        customer: Some(v1::CustomerRef {
            customer_id: "c-1".into(),
            name_masked: "D***".into(),
            ..Default::default()
        }),
        received_at: Some(Timestamp {
            seconds: T0 - 60,
            nanos: 0,
        }),
        entry_lag_ms: 40,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl ComplaintService for Fake {
    async fn submit(
        &self,
        request: Request<v1::SubmitRequest>,
    ) -> Result<Response<v1::SubmitResponse>, Status> {
        let req = request.into_inner();
        let created = req
            .contact
            .as_ref()
            .is_none_or(|c| c.external_id != "seen-before");
        self.submitted.lock().expect("lock").push(req);
        Ok(Response::new(v1::SubmitResponse {
            ticket_no: "TS-20261122-0001".into(),
            complaint_id: "0193a3c2-7b1e-7c3d-9f00-123456789abc".into(),
            status: "received".into(),
            created,
            ..Default::default()
        }))
    }

    async fn get(
        &self,
        request: Request<v1::GetComplaintRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        match request.into_inner().key {
            Some(Key::TicketNo(t)) if t == "TS-20261122-0001" => Ok(Response::new(complaint())),
            Some(Key::ComplaintId(id)) if id == "0193a3c2-7b1e-7c3d-9f00-123456789abc" => {
                Ok(Response::new(complaint()))
            }
            Some(Key::TicketNo(t)) => {
                Err(Status::not_found(format!("no complaint with ticket {t}")))
            }
            Some(Key::ComplaintId(id)) => {
                Err(Status::not_found(format!("no complaint with id {id}")))
            }
            None => Err(Status::invalid_argument(
                "ticket_no or complaint_id is required",
            )),
        }
    }

    async fn list(
        &self,
        request: Request<v1::ListComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        self.listed.lock().expect("lock").push(request.into_inner());
        Ok(Response::new(v1::ListComplaintsResponse {
            complaints: vec![complaint()],
            next_page_token: "next-1".into(),
        }))
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
        _request: Request<v1::GetCustomerContactRequest>,
    ) -> Result<Response<v1::CustomerContact>, Status> {
        Err(Status::permission_denied("not for the CLI"))
    }

    async fn acknowledge(
        &self,
        request: Request<v1::AcknowledgeRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            "ack",
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "in_progress",
        )
    }

    async fn add_note(
        &self,
        request: Request<v1::AddNoteRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            "note",
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "in_progress",
        )
    }

    async fn reply(
        &self,
        request: Request<v1::ReplyRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            "reply",
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "in_progress",
        )
    }

    async fn set_awaiting_customer(
        &self,
        request: Request<v1::SetAwaitingCustomerRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            "await",
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "awaiting_customer",
        )
    }

    async fn customer_responded(
        &self,
        request: Request<v1::CustomerRespondedRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            "responded",
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "in_progress",
        )
    }

    async fn resolve(
        &self,
        request: Request<v1::ResolveRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            &format!(
                "resolve {}|{}|{}|{}",
                r.result, r.cause, r.measures, r.first_contact
            ),
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "resolved",
        )
    }

    async fn close(
        &self,
        request: Request<v1::CloseRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            "close",
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "closed",
        )
    }

    async fn reopen(
        &self,
        request: Request<v1::ReopenRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            "reopen",
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "reopened",
        )
    }

    async fn record_satisfaction(
        &self,
        request: Request<v1::RecordSatisfactionRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(
            &format!("satisfaction {} {}", r.score, r.comment),
            &r.ticket_no,
            r.expected_version,
            &r.actor,
            "resolved",
        )
    }
}

impl Fake {
    /// A lifecycle call: recorded; version 5 is the only current one.
    fn act(
        &self,
        what: &str,
        ticket: &str,
        expected_version: u64,
        actor: &str,
        status: &str,
    ) -> Result<Response<v1::Complaint>, Status> {
        self.acted
            .lock()
            .expect("lock")
            .push(format!("{what} {ticket} v{expected_version} by {actor}"));
        if expected_version != 0 && expected_version != 5 {
            return Err(Status::aborted(format!(
                "version conflict: the complaint is at version 5, you sent {expected_version}"
            )));
        }
        Ok(Response::new(v1::Complaint {
            status: status.into(),
            version: 6,
            ..complaint()
        }))
    }
}

#[tonic::async_trait]
impl SlaService for Fake {
    async fn list_clocks(
        &self,
        request: Request<v1::ListClocksRequest>,
    ) -> Result<Response<v1::ListClocksResponse>, Status> {
        let req = request.into_inner();
        if req.ticket_no != "TS-20261122-0001" {
            return Ok(Response::new(v1::ListClocksResponse::default()));
        }
        Ok(Response::new(v1::ListClocksResponse {
            clocks: vec![v1::Clock {
                clock_id: "k-1".into(),
                complaint_id: "0193a3c2-7b1e-7c3d-9f00-123456789abc".into(),
                ticket_no: req.ticket_no,
                target: "resolution".into(),
                policy: "mobile-operator".into(),
                state: "met".into(),
                started_at: Some(Timestamp {
                    seconds: T0 - 3600,
                    nanos: 0,
                }),
                deadline: Some(Timestamp {
                    seconds: T0,
                    nanos: 0,
                }),
                ended_at: Some(Timestamp {
                    seconds: T0 - 60,
                    nanos: 0,
                }),
                ..Default::default()
            }],
        }))
    }
}

#[tonic::async_trait]
impl AnalyticsService for Fake {
    async fn get_counts(
        &self,
        _request: Request<v1::GetCountsRequest>,
    ) -> Result<Response<v1::Counts>, Status> {
        Ok(Response::new(v1::Counts {
            complaints: 3,
            by_channel: [("web_form".to_owned(), 2), ("email".to_owned(), 1)].into(),
            sla_started: 3,
            sla_met: 1,
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl RoutingService for Fake {
    async fn get_assignment(
        &self,
        _request: Request<v1::GetAssignmentRequest>,
    ) -> Result<Response<v1::Assignment>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn list_rules(
        &self,
        _request: Request<v1::ListRulesRequest>,
    ) -> Result<Response<v1::ListRulesResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn list_escalations(
        &self,
        _request: Request<v1::ListEscalationsRequest>,
    ) -> Result<Response<v1::ListEscalationsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn transfer(
        &self,
        request: Request<v1::TransferRequest>,
    ) -> Result<Response<v1::TransferForm>, Status> {
        let r = request.into_inner();
        self.transfers.lock().expect("lock").push(r.clone());
        if r.deadline.is_none_or(|d| d.seconds < T0) {
            return Err(Status::invalid_argument("deadline: is not in the future"));
        }
        Ok(Response::new(v1::TransferForm {
            transfer_id: "tr-1".into(),
            complaint_id: r.complaint_id,
            ticket_no: "TS-20261122-0001".into(),
            from_department: "billing".into(),
            to_department: r.to_department,
            requirement: r.requirement,
            deadline: r.deadline,
            actor: r.actor,
            transferred_at: Some(Timestamp {
                seconds: T0,
                nanos: 0,
            }),
        }))
    }
}

/// Serves all four stand-ins on one free port.
async fn serve(fake: Fake) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ComplaintServiceServer::new(fake.clone()))
            .add_service(RoutingServiceServer::new(fake.clone()))
            .add_service(SlaServiceServer::new(fake.clone()))
            .add_service(AnalyticsServiceServer::new(fake))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    addr
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn ombudsctl(addr: SocketAddr, args: &[&str]) -> Run {
    let url = format!("http://{addr}");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ombudsctl"))
        .args(["--intake", &url, "--sla", &url, "--analytics", &url])
        .args(["--routing", &url])
        .args(args)
        .env_remove("OMBUDS_NOTIFICATION_GRPC_URL")
        .output()
        .await
        .expect("run ombudsctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn submit_prints_the_ticket_and_sends_the_contact() {
    let fake = Fake::default();
    let addr = serve(fake.clone()).await;
    let r = ombudsctl(
        addr,
        &[
            "submit",
            "--channel",
            "web_form",
            "--body",
            "My bill is wrong",
            "--email",
            "d@example.com",
        ],
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "TS-20261122-0001\n", "")
    );
    let sent = fake.submitted.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].channel, "web_form");
    let contact = sent[0].contact.clone().expect("contact");
    assert!(
        contact.external_id.starts_with("cli-"),
        "{}",
        contact.external_id
    );
    assert_eq!(contact.body, "My bill is wrong");
    assert_eq!(contact.customer.expect("customer").email, "d@example.com");

    let r = ombudsctl(
        addr,
        &[
            "submit",
            "--channel",
            "web_form",
            "--body",
            "again",
            "--external-id",
            "seen-before",
        ],
    )
    .await;
    assert_eq!(r.stdout, "TS-20261122-0001 (already recorded)\n");
}

#[tokio::test]
async fn get_by_ticket_or_id_and_not_found_is_one_line() {
    let addr = serve(Fake::default()).await;
    let r = ombudsctl(addr, &["get", "TS-20261122-0001"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("ticket        TS-20261122-0001\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("  acknowledgement  met    2026-11-22T08:00:00Z\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("entry lag     40ms\n"), "{}", r.stdout);

    let r = ombudsctl(
        addr,
        &["get", "0193a3c2-7b1e-7c3d-9f00-123456789abc", "--json"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON output");
    assert_eq!(j["ticket_no"], "TS-20261122-0001");
    assert_eq!(j["received_at"], "2026-11-22T07:59:00Z");

    let r = ombudsctl(addr, &["get", "TS-404"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "error: NOT_FOUND: no complaint with ticket TS-404\n"
    );
}

#[tokio::test]
async fn list_passes_filters_and_prints_the_next_page_token() {
    let fake = Fake::default();
    let addr = serve(fake.clone()).await;
    let r = ombudsctl(
        addr,
        &[
            "list",
            "--status",
            "received",
            "--limit",
            "10",
            "--page-token",
            "p",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("TICKET "), "{}", r.stdout);
    assert!(
        r.stdout.contains("TS-20261122-0001  received  web_form"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("next page: --page-token next-1\n"),
        "{}",
        r.stdout
    );
    let req = fake.listed.lock().expect("lock")[0].clone();
    assert_eq!(
        (req.status.as_str(), req.page_size, req.page_token.as_str()),
        ("received", 10, "p")
    );
}

#[tokio::test]
async fn stats_and_sla_show() {
    let addr = serve(Fake::default()).await;
    let r = ombudsctl(addr, &["stats"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("complaints  3\n"), "{}", r.stdout);
    assert!(r.stdout.contains("web_form  2\n"), "{}", r.stdout);

    let r = ombudsctl(addr, &["sla", "show", "TS-20261122-0001"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("resolution  met    -       -     2026-11-22T07:00:00Z  2026-11-22T08:00:00Z  2026-11-22T07:59:00Z\n"),
        "{}",
        r.stdout
    );
    let r = ombudsctl(addr, &["sla", "show", "TS-0", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "{\n  \"clocks\": []\n}\n");
}

#[tokio::test]
async fn an_unreachable_service_names_its_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let r = ombudsctl(addr, &["stats"]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with(&format!("error: cannot reach analytics at http://{addr}: ")),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[tokio::test]
async fn lifecycle_commands_print_the_new_status_and_version() {
    let fake = Fake::default();
    let addr = serve(fake.clone()).await;
    let r = ombudsctl(
        addr,
        &[
            "ack",
            "TS-20261122-0001",
            "--actor",
            "agent-7",
            "--expected-version",
            "5",
        ],
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "TS-20261122-0001  in_progress  version 6\n", "")
    );
    let r = ombudsctl(
        addr,
        &[
            "resolve",
            "TS-20261122-0001",
            "--actor",
            "agent-7",
            "--result",
            "refunded",
            "--cause",
            "double charge",
            "--measures",
            "batch guard",
            "--first-contact",
        ],
    )
    .await;
    assert_eq!(
        r.stdout, "TS-20261122-0001  resolved  version 6\n",
        "{}",
        r.stderr
    );
    let r = ombudsctl(
        addr,
        &[
            "satisfaction",
            "TS-20261122-0001",
            "--actor",
            "a",
            "--score",
            "2",
            "--comment",
            "slow",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = ombudsctl(
        addr,
        &["close", "TS-20261122-0001", "--actor", "a", "--json"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON output");
    assert_eq!(
        (j["status"].as_str(), j["version"].as_u64()),
        (Some("closed"), Some(6))
    );

    // A stale version: one line on standard error, exit code 1.
    let r = ombudsctl(
        addr,
        &[
            "reopen",
            "TS-20261122-0001",
            "--actor",
            "a",
            "--reason",
            "unhappy",
            "--expected-version",
            "4",
        ],
    )
    .await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "error: ABORTED: version conflict: the complaint is at version 5, you sent 4\n"
    );
    // Out-of-range scores never reach the service.
    let r = ombudsctl(addr, &["satisfaction", "TS-20261122-0001", "--score", "6"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);

    let acted = fake.acted.lock().expect("lock").clone();
    assert_eq!(
        acted,
        vec![
            "ack TS-20261122-0001 v5 by agent-7",
            "resolve refunded|double charge|batch guard|true TS-20261122-0001 v0 by agent-7",
            "satisfaction 2 slow TS-20261122-0001 v0 by a",
            "close TS-20261122-0001 v0 by a",
            "reopen TS-20261122-0001 v4 by a",
        ]
    );
}

#[tokio::test]
async fn transfer_resolves_the_ticket_and_sends_the_form() {
    let fake = Fake::default();
    let addr = serve(fake.clone()).await;
    let r = ombudsctl(
        addr,
        &[
            "transfer",
            "TS-20261122-0001",
            "--to",
            "technical",
            "--requirement",
            "check the base station",
            "--deadline",
            "2026-11-25T18:00:00+08:00",
            "--actor",
            "agent-7",
        ],
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (
            0,
            "TS-20261122-0001  billing -> technical  due 2026-11-25T10:00:00Z  transfer tr-1\n",
            ""
        )
    );
    let sent = fake.transfers.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].complaint_id, "0193a3c2-7b1e-7c3d-9f00-123456789abc");
    assert_eq!(sent[0].to_department, "technical");
    assert_eq!(sent[0].requirement, "check the base station");
    assert_eq!(sent[0].actor, "agent-7");
    assert_eq!(
        sent[0].deadline,
        Some(Timestamp {
            seconds: T0 + 3 * 86_400 + 7_200,
            nanos: 0
        })
    );

    // --json prints the form; a refused form is one line on standard error.
    let r = ombudsctl(
        addr,
        &[
            "transfer",
            "0193a3c2-7b1e-7c3d-9f00-123456789abc",
            "--to",
            "quality",
            "--requirement",
            "x",
            "--deadline",
            "2026-11-25T10:00:00Z",
            "--json",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(j["to_department"], "quality");
    assert_eq!(j["deadline"], "2026-11-25T10:00:00Z");
    let r = ombudsctl(
        addr,
        &[
            "transfer",
            "TS-20261122-0001",
            "--to",
            "quality",
            "--requirement",
            "x",
            "--deadline",
            "2020-01-01T00:00:00Z",
        ],
    )
    .await;
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (
            1,
            "",
            "error: INVALID_ARGUMENT: deadline: is not in the future\n"
        )
    );
    let r = ombudsctl(
        addr,
        &[
            "transfer",
            "TS-404",
            "--to",
            "quality",
            "--requirement",
            "x",
            "--deadline",
            "2026-11-25T10:00:00Z",
        ],
    )
    .await;
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: NOT_FOUND: no complaint with ticket TS-404\n"
    );
    assert_eq!(fake.transfers.lock().expect("lock").len(), 3);
}
