//! Routing against a real nats-server and a real store: complaints published on
//! `complaint.received` come out as `routing.assigned` with the department the rules
//! pick, GetAssignment answers over gRPC, and a redelivered event (same event id, new
//! `Nats-Msg-Id`, so JetStream keeps both copies) is assigned only once. SLA warnings
//! and breaches escalate a complaint up the ladder (once per clock event, never down),
//! and a transfer over gRPC moves it to another department with a `routing.transferred`.

use std::{collections::HashMap, time::Duration};

use async_nats::jetstream;
use ombuds_platform::{
    config::Config,
    events::{self, Event},
    shutdown::CancellationToken,
};
use ombuds_proto::v1::{self, routing_service_client::RoutingServiceClient};
use ombuds_routing::{run, Settings};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use prost::Message;

const WAIT: Duration = Duration::from_secs(20);

fn received(category: &str, subject: &str, body: &str, version: u64) -> v1::ComplaintReceived {
    let complaint_id = uuid::Uuid::now_v7().to_string();
    let ticket_no = format!("T-{}", &complaint_id[24..]);
    v1::ComplaintReceived {
        meta: Some(events::meta("intake", &complaint_id, &ticket_no, version)),
        channel: "hotline".into(),
        external_id: format!("call-{complaint_id}"),
        kind: "complaint".into(),
        category: category.into(),
        priority: 2,
        customer: Some(v1::CustomerRef {
            customer_id: "c-1".into(),
            name_masked: "张*".into(),
            phone_masked: "138****5678".into(),
            email_masked: String::new(),
        }),
        subject: subject.into(),
        body: body.into(),
        status: "received".into(),
        ..Default::default()
    }
}

fn id(ev: &v1::ComplaintReceived) -> String {
    ev.meta.as_ref().expect("meta").complaint_id.clone()
}

/// Every `routing.assigned` on the ROUTING stream, in order.
async fn assigned_events(js: &jetstream::Context) -> Result<Vec<v1::ComplaintAssigned>, String> {
    let mut stream = js.get_stream("ROUTING").await.map_err(|e| e.to_string())?;
    let info = stream.info().await.map_err(|e| e.to_string())?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in first..=last {
        let msg = stream
            .get_raw_message(seq)
            .await
            .map_err(|e| e.to_string())?;
        if msg.subject.as_str() == "routing.assigned" {
            out.push(v1::ComplaintAssigned::decode(msg.payload).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

/// The events per complaint id once every id in `ids` has one.
async fn wait_assigned(
    js: &jetstream::Context,
    ids: &[String],
) -> HashMap<String, Vec<v1::ComplaintAssigned>> {
    wait_until("routing.assigned for every complaint", WAIT, || async {
        let mut by_id: HashMap<String, Vec<v1::ComplaintAssigned>> = HashMap::new();
        for ev in assigned_events(js).await? {
            let cid = ev
                .meta
                .as_ref()
                .map(|m| m.complaint_id.clone())
                .unwrap_or_default();
            by_id.entry(cid).or_default().push(ev);
        }
        match ids.iter().find(|i| !by_id.contains_key(*i)) {
            Some(missing) => Err(format!("no routing.assigned yet for {missing}")),
            None => Ok(by_id),
        }
    })
    .await
}

#[tokio::test]
async fn complaints_are_routed_once_by_the_rules() {
    if std::env::var("TEST_LOG").is_ok() {
        ombuds_platform::telemetry::init(ombuds_platform::config::LogFormat::Text);
    }
    let nats = NatsServer::start();
    let db = TestDatabase::new("routing").await;
    let grpc_addr = free_addr();
    let cfg = Config::from_pairs(
        "routing",
        [
            ("NATS_URL", nats.url()),
            ("DATABASE_URL", db.url.clone()),
            ("OMBUDS_HTTP_ADDR", free_addr().to_string()),
            ("OMBUDS_GRPC_ADDR", grpc_addr.to_string()),
        ],
    );
    let settings = Settings::from_config(&cfg).expect("settings");
    let token = CancellationToken::new();
    let task = tokio::spawn(run(settings, token.clone()));

    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let js = jetstream::new(client);
    wait_until("the COMPLAINTS stream", WAIT, || async {
        js.get_stream("COMPLAINTS")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;

    let billing = received("billing", "", "you charged me twice", 1);
    let signal = received("", "家里", "信号很差，经常掉线", 3);
    let other = received("", "thanks", "the shop closed early today", 1);
    for ev in [&billing, &signal, &other] {
        events::publish(&js, ev).await.expect("publish");
    }

    let ids = [id(&billing), id(&signal), id(&other)];
    let got = wait_assigned(&js, &ids).await;
    let first = |cid: &str| got[cid][0].clone();
    assert_eq!(first(&ids[0]).department, "billing");
    assert_eq!(first(&ids[0]).rule, "billing");
    assert_eq!(first(&ids[0]).category, "billing");
    assert_eq!(first(&ids[1]).department, "technical");
    assert_eq!(first(&ids[1]).rule, "keyword_technical");
    assert_eq!(first(&ids[2]).department, "customer_service");
    assert_eq!(first(&ids[2]).rule, "default");
    let meta = first(&ids[1]).meta.expect("meta");
    assert_eq!(
        meta.complaint_version, 3,
        "carries the received event's version"
    );
    assert_eq!(meta.source, "routing");
    assert_eq!(
        meta.ticket_no,
        signal.meta.as_ref().expect("meta").ticket_no
    );

    // gRPC: GetAssignment and ListRules.
    let mut grpc = wait_until("the gRPC server", WAIT, || async {
        RoutingServiceClient::connect(format!("http://{grpc_addr}"))
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let a = grpc
        .get_assignment(v1::GetAssignmentRequest {
            complaint_id: ids[1].clone(),
        })
        .await
        .expect("assignment")
        .into_inner();
    assert_eq!(a.department, "technical");
    assert_eq!(a.queue, "technical");
    assert_eq!(a.assignee, "");
    assert_eq!(a.rule, "keyword_technical");
    assert_eq!(a.ticket_no, signal.meta.as_ref().expect("meta").ticket_no);
    assert!(a.assigned_at.is_some());
    let unknown = grpc
        .get_assignment(v1::GetAssignmentRequest {
            complaint_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("unknown complaint");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let empty = grpc
        .get_assignment(v1::GetAssignmentRequest {
            complaint_id: " ".into(),
        })
        .await
        .expect_err("empty id");
    assert_eq!(empty.code(), tonic::Code::InvalidArgument);
    let rules = grpc
        .list_rules(v1::ListRulesRequest {})
        .await
        .expect("rules")
        .into_inner()
        .rules;
    assert_eq!(rules.len(), 9, "{rules:?}");
    let last = rules.last().expect("default rule");
    assert_eq!(
        (last.kind.as_str(), last.department.as_str()),
        ("default", "customer_service")
    );

    // Redelivery: the same event (same meta.event_id) under a new Nats-Msg-Id, which
    // JetStream keeps, so only the inbox can stop a second assignment. Then a newer
    // event about the same complaint, which must not re-route it either.
    let event_id = billing.meta.as_ref().expect("meta").event_id.clone();
    let mut headers = events::headers(
        &format!("{event_id}-redelivered"),
        "ombuds.v1.ComplaintReceived",
        &ids[0],
    );
    headers.insert("Ombuds-Test", "redelivery");
    js.publish_with_headers(
        "complaint.received",
        headers,
        billing.encode_to_vec().into(),
    )
    .await
    .expect("publish copy")
    .await
    .expect("stream ack for the copy");
    let mut again = billing.clone();
    again.meta = Some(events::meta("intake", &ids[0], "T-again", 2));
    again.category = "product".into();
    events::publish(&js, &again)
        .await
        .expect("publish second event");
    // A sentinel published after both: once it is routed, both were handled before it.
    let sentinel = received("coverage", "", "", 1);
    events::publish(&js, &sentinel)
        .await
        .expect("publish sentinel");
    let mut complaints = js.get_stream("COMPLAINTS").await.expect("stream");
    let stored = complaints.info().await.expect("info").state.messages;
    assert_eq!(stored, 6, "the copy and the second event are in the stream");

    let got = wait_assigned(&js, &[ids[0].clone(), id(&sentinel)]).await;
    assert_eq!(got[&id(&sentinel)][0].department, "technical");
    assert_eq!(
        got[&ids[0]].len(),
        1,
        "one routing.assigned per complaint: {:?}",
        got[&ids[0]]
    );
    assert_eq!(assigned_events(&js).await.expect("events").len(), 4);
    let a = grpc
        .get_assignment(v1::GetAssignmentRequest {
            complaint_id: ids[0].clone(),
        })
        .await
        .expect("assignment")
        .into_inner();
    assert_eq!(
        (a.department.as_str(), a.rule.as_str()),
        ("billing", "billing"),
        "the first decision stays"
    );

    // An event without meta is dead-lettered, and routing keeps going.
    js.publish(
        "complaint.received",
        v1::ComplaintReceived::default().encode_to_vec().into(),
    )
    .await
    .expect("publish invalid")
    .await
    .expect("ack");
    wait_until("the dead letter", WAIT, || async {
        let dlq = js.get_stream("DLQ").await.map_err(|e| e.to_string())?;
        let msg = dlq
            .get_last_raw_message_by_subject("dlq.routing.invalid")
            .await
            .map_err(|e| e.to_string())?;
        let letter = v1::DeadLetter::decode(msg.payload).map_err(|e| e.to_string())?;
        (letter.subject == "complaint.received")
            .then_some(())
            .ok_or_else(|| format!("unexpected letter {letter:?}"))
    })
    .await;
    let late = received("product", "", "", 1);
    events::publish(&js, &late).await.expect("publish");
    let got = wait_assigned(&js, &[id(&late)]).await;
    assert_eq!(got[&id(&late)][0].department, "product");

    token.cancel();
    task.await.expect("join").expect("routing stopped cleanly");
    db.drop_pg().await;
}

#[tokio::test]
async fn a_bad_rules_file_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"x\"\nkind = \"category\"\nmatch = []\ndepartment = \"d\"\n",
    )
    .expect("write");
    let cfg = Config::from_pairs(
        "routing",
        [("OMBUDS_ROUTING_RULES", path.display().to_string())],
    );
    let err = Settings::from_config(&cfg).expect_err("bad rules");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("match is empty"), "{msg}");
}

/// Every event of type `E` on the ROUTING stream, in order.
async fn routing_events<E: Event>(js: &jetstream::Context) -> Result<Vec<E>, String> {
    let mut stream = js.get_stream("ROUTING").await.map_err(|e| e.to_string())?;
    let info = stream.info().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let msg = stream
            .get_raw_message(seq)
            .await
            .map_err(|e| e.to_string())?;
        if msg.subject.as_str() == E::SUBJECT {
            out.push(E::decode(msg.payload).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

/// The `routing.escalated` events about `complaint_id` once there are `n` of them.
async fn wait_escalated(
    js: &jetstream::Context,
    complaint_id: &str,
    n: usize,
) -> Vec<v1::ComplaintEscalated> {
    wait_until(
        &format!("{n} routing.escalated for {complaint_id}"),
        WAIT,
        || async {
            let got: Vec<v1::ComplaintEscalated> = routing_events::<v1::ComplaintEscalated>(js)
                .await?
                .into_iter()
                .filter(|e| {
                    e.meta
                        .as_ref()
                        .is_some_and(|m| m.complaint_id == complaint_id)
                })
                .collect();
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} so far: {got:?}", got.len()))
            }
        },
    )
    .await
}

fn warning(c: &v1::ComplaintReceived, clock_id: &str, percent: u32) -> v1::SlaClockWarning {
    let m = c.meta.as_ref().expect("meta");
    v1::SlaClockWarning {
        meta: Some(events::meta(
            "sla-watchdog",
            &m.complaint_id,
            &m.ticket_no,
            0,
        )),
        clock_id: clock_id.into(),
        target: "resolution".into(),
        deadline: Some(ombuds_platform::time::to_timestamp(
            ombuds_platform::time::now_ms() + 3_600_000,
        )),
        threshold_percent: percent,
    }
}

fn breach(c: &v1::ComplaintReceived, clock_id: &str) -> v1::SlaClockBreached {
    let m = c.meta.as_ref().expect("meta");
    let now = ombuds_platform::time::now_ms();
    v1::SlaClockBreached {
        meta: Some(events::meta(
            "sla-watchdog",
            &m.complaint_id,
            &m.ticket_no,
            0,
        )),
        clock_id: clock_id.into(),
        target: "resolution".into(),
        deadline: Some(ombuds_platform::time::to_timestamp(now - 1000)),
        breached_at: Some(ombuds_platform::time::to_timestamp(now)),
    }
}

#[tokio::test]
async fn sla_events_escalate_up_the_ladder_and_transfers_move_the_complaint() {
    if std::env::var("TEST_LOG").is_ok() {
        ombuds_platform::telemetry::init(ombuds_platform::config::LogFormat::Text);
    }
    let nats = NatsServer::start();
    let db = TestDatabase::new("routing_escalation").await;
    let grpc_addr = free_addr();
    let cfg = Config::from_pairs(
        "routing",
        [
            ("NATS_URL", nats.url()),
            ("DATABASE_URL", db.url.clone()),
            ("OMBUDS_HTTP_ADDR", free_addr().to_string()),
            ("OMBUDS_GRPC_ADDR", grpc_addr.to_string()),
        ],
    );
    let settings = Settings::from_config(&cfg).expect("settings");
    assert_eq!(settings.escalation.warning_percent, 80);
    let token = CancellationToken::new();
    let task = tokio::spawn(run(settings, token.clone()));
    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let js = jetstream::new(client);
    wait_until("the COMPLAINTS, SLA and ROUTING streams", WAIT, || async {
        for s in ["COMPLAINTS", "SLA", "ROUTING"] {
            js.get_stream(s).await.map_err(|e| format!("{s}: {e}"))?;
        }
        Ok(())
    })
    .await;
    let mut grpc = wait_until("the gRPC server", WAIT, || async {
        RoutingServiceClient::connect(format!("http://{grpc_addr}"))
            .await
            .map_err(|e| e.to_string())
    })
    .await;

    // Three complaints routed: a (billing) is escalated, b (technical) only warned at
    // 50%, c (product) is the sentinel.
    let a = received("billing", "", "charged twice", 2);
    let b = received("coverage", "", "", 1);
    let c = received("product", "", "", 1);
    for ev in [&a, &b, &c] {
        events::publish(&js, ev).await.expect("publish");
    }
    wait_assigned(&js, &[id(&a), id(&b), id(&c)]).await;

    // A warning at 50% does nothing; at 80% → level 1, the department's lead.
    events::publish(&js, &warning(&a, "clock-a", 50))
        .await
        .expect("publish");
    events::publish(&js, &warning(&a, "clock-a", 80))
        .await
        .expect("publish");
    let got = wait_escalated(&js, &id(&a), 1).await;
    assert_eq!(got[0].level, 1);
    assert_eq!(got[0].escalated_to, "billing:lead");
    assert_eq!(got[0].clock_id, "clock-a");
    assert_eq!(got[0].target, "resolution");
    assert_eq!(got[0].department, "billing");
    assert!(got[0].reason.contains("80%"), "{}", got[0].reason);
    let meta = got[0].meta.as_ref().expect("meta");
    assert_eq!(meta.source, "routing");
    assert_eq!(meta.complaint_version, 2, "the version routing knows");
    assert_eq!(meta.ticket_no, a.meta.as_ref().expect("meta").ticket_no);

    // The breach → level 2, the department's manager.
    let breached = breach(&a, "clock-a");
    events::publish(&js, &breached).await.expect("publish");
    let got = wait_escalated(&js, &id(&a), 2).await;
    assert_eq!(
        (got[1].level, got[1].escalated_to.as_str()),
        (2, "billing:manager")
    );
    assert!(
        got[1].reason.starts_with("sla.breached"),
        "{}",
        got[1].reason
    );

    // The same breach redelivered (same meta.event_id, new Nats-Msg-Id, so JetStream
    // keeps both), the same clock breached again under a new event id, and a 50%
    // warning about b: none of them escalates. A breach of the sentinel c after them
    // shows they were handled.
    let event_id = breached.meta.as_ref().expect("meta").event_id.clone();
    let headers = events::headers(
        &format!("{event_id}-redelivered"),
        <v1::SlaClockBreached as Event>::TYPE,
        &id(&a),
    );
    js.publish_with_headers("sla.breached", headers, breached.encode_to_vec().into())
        .await
        .expect("publish copy")
        .await
        .expect("stream ack for the copy");
    events::publish(&js, &breach(&a, "clock-a"))
        .await
        .expect("publish");
    events::publish(&js, &warning(&b, "clock-b", 50))
        .await
        .expect("publish");
    events::publish(&js, &breach(&c, "clock-c"))
        .await
        .expect("publish");
    let sentinel = wait_escalated(&js, &id(&c), 1).await;
    assert_eq!(
        (sentinel[0].level, sentinel[0].escalated_to.as_str()),
        (2, "product:manager"),
        "a breach goes to level 2 at least"
    );
    let mut sla = js.get_stream("SLA").await.expect("SLA");
    assert_eq!(sla.info().await.expect("info").state.messages, 7);
    assert_eq!(
        wait_escalated(&js, &id(&a), 2).await.len(),
        2,
        "no third escalation of a"
    );
    assert!(wait_escalated(&js, &id(&b), 0).await.is_empty());

    let list = grpc
        .list_escalations(v1::ListEscalationsRequest {
            complaint_id: id(&a),
        })
        .await
        .expect("escalations")
        .into_inner()
        .escalations;
    let levels: Vec<(u32, &str, &str)> = list
        .iter()
        .map(|e| (e.level, e.escalated_to.as_str(), e.clock_id.as_str()))
        .collect();
    assert_eq!(
        levels,
        vec![
            (1, "billing:lead", "clock-a"),
            (2, "billing:manager", "clock-a")
        ]
    );
    assert!(list.iter().all(|e| e.escalated_at.is_some()));
    let none = grpc
        .list_escalations(v1::ListEscalationsRequest {
            complaint_id: id(&b),
        })
        .await
        .expect("escalations of b")
        .into_inner();
    assert!(none.escalations.is_empty());
    let unknown = grpc
        .list_escalations(v1::ListEscalationsRequest {
            complaint_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("unknown complaint");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let assignment = grpc
        .get_assignment(v1::GetAssignmentRequest {
            complaint_id: id(&a),
        })
        .await
        .expect("assignment")
        .into_inner();
    assert_eq!(
        (
            assignment.escalation_level,
            assignment.escalated_to.as_str()
        ),
        (2, "billing:manager")
    );

    // Transfer a to technical with a requirement and a deadline.
    let deadline =
        ombuds_platform::time::to_timestamp(ombuds_platform::time::now_ms() + 24 * 3_600_000);
    let form = grpc
        .transfer(v1::TransferRequest {
            complaint_id: id(&a),
            to_department: "technical".into(),
            requirement: "Check the line; the customer is on 13812345678".into(),
            deadline: Some(deadline),
            actor: "agent-7".into(),
        })
        .await
        .expect("transfer")
        .into_inner();
    assert_eq!(
        (
            form.from_department.as_str(),
            form.to_department.as_str(),
            form.actor.as_str()
        ),
        ("billing", "technical", "agent-7")
    );
    assert_eq!(form.deadline, Some(deadline));
    assert!(!form.requirement.contains("13812345678"), "{form:?}");
    let transferred = wait_until("routing.transferred", WAIT, || async {
        let evs: Vec<v1::ComplaintTransferred> = routing_events(&js).await?;
        evs.into_iter()
            .find(|e| e.transfer_id == form.transfer_id)
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert_eq!(transferred.deadline, Some(deadline));
    assert_eq!(transferred.from_department, "billing");
    assert_eq!(transferred.to_department, "technical");
    assert_eq!(transferred.actor, "agent-7");
    assert_eq!(transferred.requirement, form.requirement);
    assert!(!transferred.requirement.contains("13812345678"));
    let meta = transferred.meta.expect("meta");
    assert_eq!(
        (meta.complaint_id.as_str(), meta.complaint_version),
        (id(&a).as_str(), 2)
    );
    let assignment = grpc
        .get_assignment(v1::GetAssignmentRequest {
            complaint_id: id(&a),
        })
        .await
        .expect("assignment")
        .into_inner();
    assert_eq!(
        (
            assignment.department.as_str(),
            assignment.queue.as_str(),
            assignment.escalation_level
        ),
        ("technical", "technical", 2),
        "the department follows the transfer; the level stays"
    );

    // Bad transfers: a deadline in the past, a missing one, the same department, an
    // unknown complaint.
    let bad = |complaint_id: String, to: &str, deadline: Option<prost_types::Timestamp>| {
        v1::TransferRequest {
            complaint_id,
            to_department: to.into(),
            requirement: "look at it".into(),
            deadline,
            actor: "agent-7".into(),
        }
    };
    let past = ombuds_platform::time::to_timestamp(ombuds_platform::time::now_ms() - 60_000);
    for (req, code, field) in [
        (
            bad(id(&b), "billing", Some(past)),
            tonic::Code::InvalidArgument,
            "deadline",
        ),
        (
            bad(id(&b), "billing", None),
            tonic::Code::InvalidArgument,
            "deadline",
        ),
        (
            bad(id(&a), "technical", Some(deadline)),
            tonic::Code::InvalidArgument,
            "to_department",
        ),
        (
            bad(uuid::Uuid::now_v7().to_string(), "billing", Some(deadline)),
            tonic::Code::NotFound,
            "no assignment",
        ),
    ] {
        let err = grpc.transfer(req).await.expect_err(field);
        assert_eq!(err.code(), code, "{err:?}");
        assert!(err.message().starts_with(field), "{err:?}");
    }
    let evs: Vec<v1::ComplaintTransferred> = routing_events(&js).await.expect("events");
    assert_eq!(evs.len(), 1, "refused transfers emit nothing");

    token.cancel();
    task.await.expect("join").expect("routing stopped cleanly");
    db.drop_pg().await;
}
