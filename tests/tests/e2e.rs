//! End to end: the five service binaries as processes, a real nats-server, a real
//! store (SQLite, or PostgreSQL when `OMBUDS_TEST_DATABASE_URL` is set), and
//! complaints submitted the three ways a contact arrives.

mod support;

use std::time::Duration;

use ombuds_proto::v1;
use ombuds_testkit::wait_until;
use prost::Message;
use serde_json::{json, Value};
use support::{all_stream_text, Platform};

const WAIT: Duration = Duration::from_secs(60);

/// What one complaint should end up as.
struct Expect {
    ticket_no: String,
    department: &'static str,
}

fn today_ticket_shape(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 3
        && parts[0] == "TS"
        && parts[1].len() == 8
        && parts[1].chars().all(|c| c.is_ascii_digit())
        && parts[2].len() == 6
        && parts[2].chars().all(|c| c.is_ascii_digit())
}

async fn get_json(url: &str) -> Result<Value, String> {
    let r = reqwest::get(url).await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("GET {url}: {}", r.status()));
    }
    r.json().await.map_err(|e| e.to_string())
}

async fn post_contact(p: &Platform, channel: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/contacts/{channel}", p.http["intake"]))
        .json(&body)
        .send()
        .await
        .expect("POST contact");
    let code = r.status().as_u16();
    (code, r.json().await.expect("JSON answer"))
}

async fn publish_contact(p: &Platform, channel: &str, c: &v1::ContactSubmitted) {
    let js = p.jetstream().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("test-{}", c.external_id).as_str());
    js.publish_with_headers(
        format!("intake.{channel}"),
        headers,
        c.encode_to_vec().into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stream ack");
}

/// Finds the ticket of a contact that arrived over JetStream.
async fn ticket_for(p: &Platform, channel: &str, external_id: &str) -> String {
    p.recorded(channel, external_id).await.ticket_no
}

fn contact(external_id: &str, body: &str, phone: &str, email: &str) -> v1::ContactSubmitted {
    v1::ContactSubmitted {
        external_id: external_id.into(),
        customer: Some(v1::CustomerDetails {
            name: "李四".into(),
            phone: phone.into(),
            email: email.into(),
            account_id: String::new(),
            social: [("wechat".to_owned(), format!("oLiSi{external_id}"))].into(),
            address: "西城区金融街九号".into(),
        }),
        // The customer repeats their name and address in the text, as people do (an
        // empty body stays empty: the bad-input test sends one).
        body: if body.is_empty() {
            String::new()
        } else {
            format!("{body}（李四，西城区金融街九号）")
        },
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_travel_through_every_service() {
    let p = Platform::start("4s").await;
    eprintln!(
        "store: {}",
        if p.is_postgres() {
            "postgresql"
        } else {
            "sqlite"
        }
    );
    let mut expected = Vec::new();

    // 1. HTTP, the public contract.
    let (code, answer) = post_contact(
        &p,
        "web_form",
        json!({
            "external_id": "web-1",
            "received_at": "2026-01-05T09:00:00+08:00",
            "customer": {"name": "王五", "phone": "13912345678", "email": "wang.wu@example.com"},
            "subject": "Wrong charge",
            "body": "I was charged twice this month",
            "kind": "complaint",
            "category": "billing"
        }),
    )
    .await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["status"], "received");
    assert!(answer["complaint_id"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    expected.push(Expect {
        ticket_no: answer["ticket_no"].as_str().expect("ticket_no").to_owned(),
        department: "billing",
    });

    // 2. gRPC Submit.
    let mut intake = p.intake().await;
    let submitted = intake
        .submit(v1::SubmitRequest {
            channel: "hotline".into(),
            contact: Some(contact(
                "call-1",
                "手机信号很差，经常掉线",
                "13712345678",
                "",
            )),
        })
        .await
        .expect("Submit")
        .into_inner();
    assert!(submitted.created);
    expected.push(Expect {
        ticket_no: submitted.ticket_no,
        department: "technical",
    });

    // 3. A raw JetStream publish, as a channel adapter does (protobuf)...
    publish_contact(
        &p,
        "email",
        &contact(
            "<m1@mail.example>",
            "Your shop assistant was very helpful",
            "",
            "li.si@example.com",
        ),
    )
    .await;
    expected.push(Expect {
        ticket_no: ticket_for(&p, "email", "<m1@mail.example>").await,
        department: "customer_service",
    });
    // ... and the HTTP contract's JSON on intake.<channel>.
    let js = p.jetstream().await;
    js.publish(
        "intake.app",
        json!({"external_id": "app-7", "customer": {"account_id": "ACC-7", "phone": "+86 136 1234 5678"}, "body": "App crashes on login", "category": "product"})
            .to_string()
            .into(),
    )
    .await
    .expect("publish")
    .await
    .expect("ack");
    expected.push(Expect {
        ticket_no: ticket_for(&p, "app", "app-7").await,
        department: "product",
    });

    for e in &expected {
        assert!(today_ticket_shape(&e.ticket_no), "ticket {}", e.ticket_no);
        // Assigned to the department the rule picks, with an SLA clock, as intake knows it.
        let url = format!("{}/v1/complaints/{}", p.http["intake"], e.ticket_no);
        let want = e.department;
        let c = wait_until(
            &format!("{} to be assigned with a clock", e.ticket_no),
            WAIT,
            || {
                let url = url.clone();
                async move {
                    let c = get_json(&url).await?;
                    if c["department"] == want
                        && c["status"] == "assigned"
                        && !c["sla"].as_array().map(Vec::is_empty).unwrap_or(true)
                    {
                        Ok(c)
                    } else {
                        Err(format!("not yet: {c}"))
                    }
                }
            },
        )
        .await;
        for field in [
            "ticket_no",
            "status",
            "channel",
            "kind",
            "category",
            "priority",
            "department",
            "assignee",
            "sla",
        ] {
            assert!(c.get(field).is_some(), "GET lacks {field}: {c}");
        }
        assert_eq!(c["sla"][0]["target"], "resolution");
        // The watchdog has the clock, and routing the assignment.
        let clocks = p
            .sla()
            .await
            .list_clocks(v1::ListClocksRequest {
                ticket_no: e.ticket_no.clone(),
                ..Default::default()
            })
            .await
            .expect("ListClocks")
            .into_inner()
            .clocks;
        assert_eq!(clocks.len(), 1, "one resolution clock for {}", e.ticket_no);
        let assignment = p
            .routing()
            .await
            .get_assignment(v1::GetAssignmentRequest {
                complaint_id: c["complaint_id"].as_str().expect("id").into(),
            })
            .await
            .expect("GetAssignment")
            .into_inner();
        assert_eq!(assignment.department, e.department);
        // Exactly one acknowledgement, carrying the ticket number.
        let ticket = e.ticket_no.clone();
        let acks = wait_until(&format!("the acknowledgement of {ticket}"), WAIT, || {
            let acks = p.acknowledgements(&ticket);
            async move {
                if acks.is_empty() {
                    Err("none yet".to_owned())
                } else {
                    Ok(acks)
                }
            }
        })
        .await;
        assert_eq!(acks.len(), 1, "{acks:?}");
        assert!(acks[0]["body"]
            .as_str()
            .unwrap_or_default()
            .contains(&e.ticket_no));
    }

    // Analytics counts what was sent.
    let counts = p
        .counts_until("analytics to count everything", |c| {
            // At least the 4 acknowledgements; the delay notices of the 4 s clocks may follow.
            c.complaints == 4
                && c.notifications_sent >= 4
                && c.sla_started == 4
                && c.by_status.get("assigned") == Some(&4)
        })
        .await;
    for ch in ["web_form", "hotline", "email", "app"] {
        assert_eq!(counts.by_channel.get(ch), Some(&1), "{ch}: {counts:?}");
    }
    for (dept, n) in [
        ("billing", 1),
        ("technical", 1),
        ("customer_service", 1),
        ("product", 1),
    ] {
        assert_eq!(
            counts.by_department.get(dept),
            Some(&n),
            "{dept}: {counts:?}"
        );
    }
    assert_eq!(counts.by_category.get("billing"), Some(&1), "{counts:?}");

    // The deadlines (seconds, in this test) pass: every clock breaches once.
    for e in &expected {
        let url = format!("{}/v1/complaints/{}", p.http["intake"], e.ticket_no);
        wait_until(&format!("{} to breach", e.ticket_no), WAIT, || {
            let url = url.clone();
            async move {
                let c = get_json(&url).await?;
                if c["sla"][0]["state"] == "breached" {
                    Ok(())
                } else {
                    Err(c["sla"].to_string())
                }
            }
        })
        .await;
    }
    p.counts_until("analytics to count the breaches", |c| {
        // Each breach tells the customer of the delay: 4 acknowledgements + 4 notices.
        c.sla_breached == 4 && c.notifications_sent == 8
    })
    .await;
    for e in &expected {
        let notices = p.mailbox(&e.ticket_no, "delay");
        assert_eq!(notices.len(), 1, "{notices:?}");
        let body = notices[0]["body"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        assert!(body.contains("expect to answer by"), "{body}");
    }

    // No personal data in plaintext on any stream or in any log.
    let streams = all_stream_text(&p.jetstream().await).await;
    let logs = p.logs();
    for secret in [
        "13912345678",
        "13712345678",
        "13612345678",
        "wang.wu@example.com",
        "li.si@example.com",
        "王五",
        "李四",
        "西城区金融街九号",
        "oLiSi",
    ] {
        assert!(!streams.contains(secret), "{secret} found in a stream");
        assert!(!logs.contains(secret), "{secret} found in a service log");
    }
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_contact_three_times_is_one_complaint() {
    let p = Platform::start("1h").await;
    let body = json!({"external_id": "dup-1", "customer": {"email": "dup@example.com"}, "body": "Still no refund"});
    let (first, a) = post_contact(&p, "email", body.clone()).await;
    let (second, b) = post_contact(&p, "email", body.clone()).await;
    assert_eq!((first, second), (201, 200));
    assert_eq!(a["ticket_no"], b["ticket_no"]);
    let ticket = a["ticket_no"].as_str().expect("ticket").to_owned();
    // The third time over gRPC, and a fourth over JetStream: still the same complaint.
    let again = p
        .intake()
        .await
        .submit(v1::SubmitRequest {
            channel: "email".into(),
            contact: Some(contact("dup-1", "Still no refund", "", "dup@example.com")),
        })
        .await
        .expect("Submit")
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.ticket_no, ticket);
    publish_contact(
        &p,
        "email",
        &contact("dup-1", "Still no refund", "", "dup@example.com"),
    )
    .await;
    // A different contact after the repeats: once it is acknowledged, everything before it is done.
    let (code, other) = post_contact(&p, "email", json!({"external_id": "dup-2", "customer": {"email": "other@example.com"}, "body": "Another matter"})).await;
    assert_eq!(code, 201);
    let other_ticket = other["ticket_no"].as_str().expect("ticket").to_owned();
    wait_until("the later contact to be acknowledged", WAIT, || {
        let n = p.acknowledgements(&other_ticket).len();
        async move {
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} acknowledgements"))
            }
        }
    })
    .await;
    p.counts_until("analytics to settle", |c| {
        c.complaints == 2 && c.notifications_sent == 2
    })
    .await;
    assert_eq!(
        p.acknowledgements(&ticket).len(),
        1,
        "one acknowledgement for the repeated contact"
    );
    let listed = p
        .intake()
        .await
        .list(v1::ListComplaintsRequest {
            channel: "email".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("List")
        .into_inner()
        .complaints;
    assert_eq!(
        listed.iter().filter(|c| c.external_id == "dup-1").count(),
        1
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_or_dead_lettered_and_work_goes_on() {
    let p = Platform::start("1h").await;
    let client = reqwest::Client::new();
    let post_raw = |channel: &str, body: &'static str| {
        client
            .post(format!("{}/v1/contacts/{channel}", p.http["intake"]))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (channel, body, field) in [
        ("web_form", "{\"external_id\": \"x\", \"body\": ", "body"),
        ("carrier_pigeon", "{\"external_id\": \"x\", \"customer\": {\"phone\": \"13812345678\"}, \"body\": \"hi\"}", "channel"),
        ("web_form", "{\"external_id\": \"x\", \"customer\": {\"phone\": \"13812345678\"}, \"body\": \"   \"}", "body"),
        ("web_form", "{\"external_id\": \"x\", \"customer\": {\"email\": \"not-an-address\"}, \"body\": \"hi\"}", "customer.email"),
    ] {
        let r = post_raw(channel, body).await.expect("POST");
        assert_eq!(r.status().as_u16(), 400, "{channel} {body}");
        let v: Value = r.json().await.expect("error JSON");
        assert_eq!(v["error"]["field"], field, "{v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    let err = p
        .intake()
        .await
        .submit(v1::SubmitRequest {
            channel: "sms".into(),
            contact: Some(contact("sms-1", "", "13812345678", "")),
        })
        .await
        .expect_err("empty body");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("body"), "{}", err.message());

    // Garbage on intake.email is dead-lettered with the reason; intake keeps working.
    let js = p.jetstream().await;
    js.publish("intake.email", vec![0xff, 0x01, 0x02, 0x88].into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    js.publish(
        "intake.email",
        json!({"external_id": "e-9", "body": "no customer"})
            .to_string()
            .into(),
    )
    .await
    .expect("publish")
    .await
    .expect("ack");
    let dlq = js.get_stream("DLQ").await.expect("DLQ stream");
    for (subject, needle) in [
        ("dlq.intake.decode", "ContactSubmitted"),
        ("dlq.intake.invalid", "customer"),
    ] {
        let letter = wait_until(&format!("a dead letter on {subject}"), WAIT, || {
            let dlq = dlq.clone();
            async move {
                dlq.get_last_raw_message_by_subject(subject)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
        .await;
        let letter = v1::DeadLetter::decode(letter.payload).expect("a DeadLetter");
        assert_eq!(letter.subject, "intake.email");
        assert_eq!(letter.service, "intake");
        assert!(letter.error.contains(needle), "{}", letter.error);
        assert!(!letter.payload.is_empty());
    }
    let (code, _) = post_contact(
        &p,
        "sms",
        json!({"external_id": "sms-2", "customer": {"phone": "13812345678"}, "body": "Fine now"}),
    )
    .await;
    assert_eq!(code, 201);
    let ticket = ticket_for(&p, "sms", "sms-2").await;
    wait_until("the valid contact to be acknowledged", WAIT, || {
        let n = p.acknowledgements(&ticket).len();
        async move {
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n}"))
            }
        }
    })
    .await;
    p.stop().await;
}

/// Standard tools work against every service: `grpc.health.v1` answers SERVING for the
/// service's own name, and server reflection lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_serves_health_and_reflection() {
    use tonic_health::pb::{
        health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
    };
    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let p = Platform::start("1h").await;
    for (svc, name) in [
        ("intake", "ombuds.v1.ComplaintService"),
        ("routing", "ombuds.v1.RoutingService"),
        ("sla-watchdog", "ombuds.v1.SlaService"),
        ("notification", "ombuds.v1.NotificationService"),
        ("analytics", "ombuds.v1.AnalyticsService"),
    ] {
        let channel = tonic::transport::Channel::from_shared(p.grpc[svc].clone())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let mut health = HealthClient::new(channel.clone());
        let status = health
            .check(HealthCheckRequest {
                service: name.into(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{svc}");
        let mut reflection = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = reflection
            .server_reflection_info(futures::stream::iter(vec![request]))
            .await
            .expect("reflection")
            .into_inner();
        let answer = answers
            .message()
            .await
            .expect("answer")
            .expect("one answer");
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("{svc}: unexpected reflection answer {answer:?}");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(names.iter().any(|n| n == name), "{svc}: {names:?}");
        assert!(
            names.iter().any(|n| n == "grpc.health.v1.Health"),
            "{svc}: {names:?}"
        );
        // Prometheus metrics are there too.
        let metrics = reqwest::get(format!("{}/metrics", p.http[svc]))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(metrics.contains("ombuds_"), "{svc}: {metrics}");
    }
    p.stop().await;
}

const LIFECYCLE_PACK: &str = "pack: e2e-lifecycle
version: 1
description: clocks for the lifecycle test
policies:
  - name: all
    match: {}
    targets:
      - { target: first_response, within: 4h }
      - { target: resolution, within: 72h, warn_at: [50, 80] }
      - { target: feedback, within: 24h, starts_on: resolved, stops_on: closed }
      - { target: recontact, within: 48h, starts_on: unsatisfied, stops_on: closed }
";

async fn clock_states(p: &Platform, ticket: &str) -> std::collections::BTreeMap<String, String> {
    p.sla()
        .await
        .list_clocks(v1::ListClocksRequest {
            ticket_no: ticket.into(),
            ..Default::default()
        })
        .await
        .map(|r| {
            r.into_inner()
                .clocks
                .into_iter()
                .map(|c| (c.target, c.state))
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_clocks(p: &Platform, ticket: &str, want: &[(&str, &str)]) {
    wait_until(&format!("clocks {want:?}"), WAIT, || async {
        let have = clock_states(p, ticket).await;
        if want
            .iter()
            .all(|(t, s)| have.get(*t).map(String::as_str) == Some(*s))
        {
            Ok(())
        } else {
            Err(format!("{have:?}"))
        }
    })
    .await;
}

/// An agent works a complaint from arrival to closing, across every service: the
/// clocks pause while the customer is asked, resume, are met by the reply and the
/// resolution; an unsatisfied customer reopens it and starts the re-contact clock;
/// closing meets the rest; analytics follows the statuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_lives_through_its_lifecycle_across_services() {
    let p = Platform::start_with_pack(LIFECYCLE_PACK).await;
    let (code, answer) = post_contact(
        &p,
        "hotline",
        json!({"external_id": "call-77", "customer": {"name": "赵六", "phone": "13512345678"}, "body": "网络信号差，经常断网", "category": "network"}),
    )
    .await;
    assert_eq!(code, 201, "{answer}");
    let ticket = answer["ticket_no"].as_str().expect("ticket").to_owned();
    let url = format!("{}/v1/complaints/{ticket}", p.http["intake"]);
    wait_until("assignment", WAIT, || async {
        let c = get_json(&url).await?;
        if c["status"] == "assigned" {
            Ok(())
        } else {
            Err(c["status"].to_string())
        }
    })
    .await;
    wait_clocks(
        &p,
        &ticket,
        &[("first_response", "running"), ("resolution", "running")],
    )
    .await;

    let mut intake = p.intake().await;
    let (t, actor) = (ticket.clone(), "agent-7".to_owned());
    let c = intake
        .acknowledge(v1::AcknowledgeRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            ..Default::default()
        })
        .await
        .expect("acknowledge")
        .into_inner();
    assert_eq!(c.status, "in_progress");
    intake
        .reply(v1::ReplyRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            text: "We are checking the cell near you.".into(),
            ..Default::default()
        })
        .await
        .expect("reply");
    intake
        .set_awaiting_customer(v1::SetAwaitingCustomerRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            reason: "need the exact address".into(),
            ..Default::default()
        })
        .await
        .expect("await");
    wait_clocks(
        &p,
        &ticket,
        &[("first_response", "met"), ("resolution", "paused")],
    )
    .await;
    intake
        .customer_responded(v1::CustomerRespondedRequest {
            ticket_no: t.clone(),
            actor: "customer".into(),
            text: "Building 3".into(),
            ..Default::default()
        })
        .await
        .expect("responded");
    wait_clocks(&p, &ticket, &[("resolution", "running")]).await;
    let c = intake
        .resolve(v1::ResolveRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            result: "Antenna realigned".into(),
            cause: "storm damage".into(),
            measures: "monthly inspection".into(),
            ..Default::default()
        })
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(c.status, "resolved");
    wait_clocks(
        &p,
        &ticket,
        &[("resolution", "met"), ("feedback", "running")],
    )
    .await;
    intake
        .record_satisfaction(v1::RecordSatisfactionRequest {
            ticket_no: t.clone(),
            actor: "customer".into(),
            score: 1,
            comment: "still drops".into(),
            ..Default::default()
        })
        .await
        .expect("satisfaction");
    intake
        .reopen(v1::ReopenRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            reason: "customer unsatisfied".into(),
            ..Default::default()
        })
        .await
        .expect("reopen");
    wait_clocks(&p, &ticket, &[("recontact", "running")]).await;
    intake
        .acknowledge(v1::AcknowledgeRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            ..Default::default()
        })
        .await
        .expect("acknowledge again");
    intake
        .resolve(v1::ResolveRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            result: "New antenna".into(),
            ..Default::default()
        })
        .await
        .expect("resolve again");
    let closed = intake
        .close(v1::CloseRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            ..Default::default()
        })
        .await
        .expect("close")
        .into_inner();
    assert_eq!(closed.status, "closed");
    let err = intake
        .close(v1::CloseRequest {
            ticket_no: t.clone(),
            actor: actor.clone(),
            ..Default::default()
        })
        .await
        .expect_err("closing twice");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    wait_clocks(
        &p,
        &ticket,
        &[
            ("first_response", "met"),
            ("resolution", "met"),
            ("feedback", "met"),
            ("recontact", "met"),
        ],
    )
    .await;

    // Intake shows the clocks as the watchdog reported them; analytics follows the status.
    wait_until("intake's view of the clocks", WAIT, || async {
        let c = get_json(&url).await?;
        let states: Vec<String> = c["sla"]
            .as_array()
            .map(|a| a.iter().map(|k| k["state"].to_string()).collect())
            .unwrap_or_default();
        if states.len() == 4 && states.iter().all(|s| s == "\"met\"") {
            Ok(())
        } else {
            Err(format!("{states:?}"))
        }
    })
    .await;
    p.counts_until("analytics to see it closed", |c| {
        c.by_status.get("closed") == Some(&1) && c.sla_met >= 4
    })
    .await;
    let streams = all_stream_text(&p.jetstream().await).await;
    for secret in ["13512345678", "赵六"] {
        assert!(!streams.contains(secret), "{secret} in a stream");
        assert!(!p.logs().contains(secret), "{secret} in a log");
    }
    p.stop().await;
}
