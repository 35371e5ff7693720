//! The complaint lifecycle over gRPC, against intake running in-process with a real
//! nats-server and a fresh store (SQLite, or PostgreSQL when OMBUDS_TEST_DATABASE_URL
//! is set): a complaint walked through every status, its history, thread and versions,
//! the events each transition puts on the COMPLAINTS stream (with no personal data in
//! plaintext), refused transitions, version conflicts between two agents, and an
//! inquiry resolved on first contact.

mod support;

use support::{Intake, WAIT};

use async_nats::jetstream::{self, message::StreamMessage};
use ombuds_platform::events::{self, Event};
use ombuds_proto::v1::{self, get_complaint_request::Key};
use ombuds_testkit::wait_until;
use tonic::Code;

const PHONE: &str = "13912345678";
const EMAIL: &str = "li.si@example.org";
const NAME: &str = "李四";

impl Intake {
    /// A call from the test's one customer.
    async fn submit_call(&self, kind: &str, body: &str) -> v1::SubmitResponse {
        self.submit(
            "hotline",
            v1::ContactSubmitted {
                external_id: format!("call-{}", uuid::Uuid::now_v7()),
                customer: Some(v1::CustomerDetails {
                    name: NAME.into(),
                    phone: PHONE.into(),
                    email: EMAIL.into(),
                    account_id: String::new(),
                    ..Default::default()
                }),
                subject: String::new(),
                body: body.into(),
                kind: kind.into(),
                category: "billing".into(),
                ..Default::default()
            },
        )
        .await
    }

    /// Every event on COMPLAINTS about `complaint_id`, once there are at least `n`.
    async fn events_of(&self, complaint_id: &str, n: usize) -> Vec<Ev> {
        let stream = self.js.get_stream("COMPLAINTS").await.expect("COMPLAINTS");
        wait_until(&format!("{n} events about {complaint_id}"), WAIT, || {
            let stream = stream.clone();
            async move {
                let got = read_events(&stream, complaint_id).await?;
                if got.len() >= n {
                    Ok(got)
                } else {
                    Err(format!("{} so far: {:?}", got.len(), kinds(&got)))
                }
            }
        })
        .await
    }
}

/// An event on COMPLAINTS, decoded by subject, with its raw bytes.
#[derive(Debug)]
enum Ev {
    Received(v1::ComplaintReceived),
    Status(v1::ComplaintStatusChanged),
    Message(v1::ComplaintMessageAdded),
    Resolved(v1::ComplaintResolved),
    Satisfaction(v1::SatisfactionRecorded),
}

impl Ev {
    fn meta(&self) -> Option<&v1::EventMeta> {
        match self {
            Ev::Received(e) => e.meta.as_ref(),
            Ev::Status(e) => e.meta.as_ref(),
            Ev::Message(e) => e.meta.as_ref(),
            Ev::Resolved(e) => e.meta.as_ref(),
            Ev::Satisfaction(e) => e.meta.as_ref(),
        }
    }

    fn version(&self) -> u64 {
        self.meta().map(|m| m.complaint_version).unwrap_or(0)
    }
}

fn kinds(evs: &[Ev]) -> Vec<String> {
    evs.iter()
        .map(|e| {
            let k = match e {
                Ev::Received(_) => "received",
                Ev::Status(_) => "status_changed",
                Ev::Message(_) => "message_added",
                Ev::Resolved(_) => "resolved",
                Ev::Satisfaction(_) => "satisfaction_recorded",
            };
            format!("{k}@v{}", e.version())
        })
        .collect()
}

fn decode<E: Event>(m: &StreamMessage) -> Result<E, String> {
    let ty = m
        .headers
        .get(events::HDR_TYPE)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    if ty != E::TYPE {
        return Err(format!("{} carries type {ty:?}", m.subject));
    }
    E::decode(m.payload.clone()).map_err(|e| format!("{}: {e}", m.subject))
}

async fn read_events(
    stream: &jetstream::stream::Stream,
    complaint_id: &str,
) -> Result<Vec<Ev>, String> {
    let info = stream.get_info().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in info.state.first_sequence..=info.state.last_sequence {
        let m = stream
            .get_raw_message(seq)
            .await
            .map_err(|e| e.to_string())?;
        // No event about any complaint may carry the customer's details in plaintext.
        for secret in [PHONE, EMAIL, NAME] {
            assert!(
                !m.payload
                    .windows(secret.len())
                    .any(|w| w == secret.as_bytes()),
                "{} (seq {seq}) carries {secret} in plaintext",
                m.subject
            );
        }
        let ev = match m.subject.as_str() {
            "complaint.received" => Ev::Received(decode(&m)?),
            "complaint.status_changed" => Ev::Status(decode(&m)?),
            "complaint.message_added" => Ev::Message(decode(&m)?),
            "complaint.resolved" => Ev::Resolved(decode(&m)?),
            "complaint.satisfaction_recorded" => Ev::Satisfaction(decode(&m)?),
            other => return Err(format!("unexpected subject {other}")),
        };
        if ev.meta().is_some_and(|m| m.complaint_id == complaint_id) {
            out.push(ev);
        }
    }
    Ok(out)
}

/// The fields every lifecycle request shares.
#[derive(Clone)]
struct On {
    ticket: String,
    version: u64,
    actor: &'static str,
}

fn on(ticket: &str, version: u64) -> On {
    On {
        ticket: ticket.into(),
        version,
        actor: "agent-7",
    }
}

macro_rules! req {
    ($ty:ident, $on:expr $(, $field:ident : $value:expr)* $(,)?) => {{
        let on: On = $on;
        v1::$ty {
            ticket_no: on.ticket,
            complaint_id: String::new(),
            expected_version: on.version,
            actor: on.actor.into(),
            $($field: $value,)*
        }
    }};
}

fn resolve_req(o: On, first_contact: bool) -> v1::ResolveRequest {
    req!(ResolveRequest, o,
        result: "The double charge was refunded".into(),
        cause: "A billing batch ran twice".into(),
        measures: "The batch now refuses a second run".into(),
        first_contact: first_contact)
}

fn code_and_message<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> (Code, String) {
    let s = r.expect_err("the call should be refused");
    (s.code(), s.message().to_owned())
}

/// Checks status and version of an answer.
fn at(c: &v1::Complaint, status: &str, version: u64) {
    assert_eq!(
        (c.status.as_str(), c.version),
        (status, version),
        "{}",
        c.ticket_no
    );
}

#[tokio::test]
async fn a_complaint_walks_the_whole_lifecycle() {
    let it = Intake::start("lifecycle_walk", &[("OMBUDS_DUPLICATE_WINDOW", "0s")]).await;
    let mut cl = it.client.clone();
    let sub = it
        .submit_call(
            "complaint",
            &format!("I was charged twice; call me on {PHONE}"),
        )
        .await;
    let t = sub.ticket_no.clone();
    let id = sub.complaint_id.clone();

    // Routing assigns it: received → assigned, version 2.
    let assigned = v1::ComplaintAssigned {
        meta: Some(events::meta("routing", &id, &t, 1)),
        department: "billing".into(),
        queue: "billing".into(),
        assignee: String::new(),
        rule: "category".into(),
        category: "billing".into(),
    };
    events::publish(&it.js, &assigned)
        .await
        .expect("publish routing.assigned");
    wait_until("the assignment", WAIT, || {
        let mut cl = cl.clone();
        let t = t.clone();
        async move {
            let c = cl
                .get(v1::GetComplaintRequest {
                    key: Some(Key::TicketNo(t)),
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            if c.status == "assigned" && c.version == 2 {
                Ok(())
            } else {
                Err(format!("{} v{}", c.status, c.version))
            }
        }
    })
    .await;

    let c = cl
        .add_note(req!(AddNoteRequest, on(&t, 2),
            text: format!("Customer also wrote from {EMAIL}")))
        .await
        .expect("note")
        .into_inner();
    at(&c, "assigned", 3);
    let c = cl
        .acknowledge(req!(AcknowledgeRequest, on(&t, 3)))
        .await
        .expect("acknowledge")
        .into_inner();
    at(&c, "in_progress", 4);
    assert!(c.first_reply_at.is_none());
    let c = cl
        .reply(req!(ReplyRequest, on(&t, 4), text: "We are looking into it".into()))
        .await
        .expect("reply")
        .into_inner();
    at(&c, "in_progress", 5);
    let first_reply = c.first_reply_at.expect("first reply recorded");
    let c = cl
        .set_awaiting_customer(req!(SetAwaitingCustomerRequest, on(&t, 5),
            reason: format!("need the invoice number; we will call {PHONE}")))
        .await
        .expect("awaiting customer")
        .into_inner();
    at(&c, "awaiting_customer", 6);
    let c = cl
        .customer_responded(req!(CustomerRespondedRequest, on(&t, 6),
            text: format!("Invoice 4711, or mail me at {EMAIL}")))
        .await
        .expect("customer responded")
        .into_inner();
    at(&c, "in_progress", 7);
    let c = cl
        .resolve(resolve_req(on(&t, 7), false))
        .await
        .expect("resolve")
        .into_inner();
    at(&c, "resolved", 8);
    let c = cl
        .record_satisfaction(req!(RecordSatisfactionRequest, on(&t, 8),
            score: 2, comment: format!("Still unhappy, call {PHONE}")))
        .await
        .expect("satisfaction")
        .into_inner();
    at(&c, "resolved", 9);
    let sat = c.satisfaction.clone().expect("satisfaction");
    assert_eq!((sat.score, sat.unsatisfied), (2, true));
    let c = cl
        .reopen(req!(ReopenRequest, on(&t, 9), reason: "the customer is not satisfied".into()))
        .await
        .expect("reopen")
        .into_inner();
    at(&c, "reopened", 10);
    let c = cl
        .reply(req!(ReplyRequest, on(&t, 10), text: "Let us look again".into()))
        .await
        .expect("second reply")
        .into_inner();
    at(&c, "in_progress", 11);
    assert_eq!(
        c.first_reply_at,
        Some(first_reply),
        "the first reply stays the first"
    );
    let c = cl
        .resolve(resolve_req(on(&t, 11), false))
        .await
        .expect("resolve again")
        .into_inner();
    at(&c, "resolved", 12);
    let c = cl
        .close(req!(CloseRequest, on(&t, 12), reason: String::new()))
        .await
        .expect("close")
        .into_inner();
    at(&c, "closed", 13);

    // Closed: no more notes.
    let (code, msg) = code_and_message(
        cl.add_note(req!(AddNoteRequest, on(&t, 0), text: "too late".into()))
            .await,
    );
    assert_eq!(code, Code::FailedPrecondition);
    assert!(
        msg.starts_with("cannot add a note to a complaint that is closed"),
        "{msg}"
    );

    // Get: the history, the thread, the resolution and the satisfaction.
    let c = it.get(&t).await;
    at(&c, "closed", 13);
    let history: Vec<(u64, &str, &str, &str, &str)> = c
        .history
        .iter()
        .map(|h| {
            (
                h.version,
                h.from_status.as_str(),
                h.to_status.as_str(),
                h.action.as_str(),
                h.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            (1, "", "received", "receive", "channel:hotline"),
            (2, "received", "assigned", "assign", "routing"),
            (3, "assigned", "assigned", "add_note", "agent-7"),
            (4, "assigned", "in_progress", "acknowledge", "agent-7"),
            (5, "in_progress", "in_progress", "reply", "agent-7"),
            (
                6,
                "in_progress",
                "awaiting_customer",
                "set_awaiting_customer",
                "agent-7"
            ),
            (
                7,
                "awaiting_customer",
                "in_progress",
                "customer_responded",
                "agent-7"
            ),
            (8, "in_progress", "resolved", "resolve", "agent-7"),
            (9, "resolved", "resolved", "record_satisfaction", "agent-7"),
            (10, "resolved", "reopened", "reopen", "agent-7"),
            (11, "reopened", "in_progress", "reply", "agent-7"),
            (12, "in_progress", "resolved", "resolve", "agent-7"),
            (13, "resolved", "closed", "close", "agent-7"),
        ]
    );
    assert_eq!(c.history[9].reason, "the customer is not satisfied");
    let thread: Vec<(&str, &str, bool)> = c
        .messages
        .iter()
        .map(|m| (m.kind.as_str(), m.author.as_str(), m.visible))
        .collect();
    assert_eq!(
        thread,
        vec![
            ("note", "agent-7", false),
            ("reply", "agent-7", true),
            ("customer", "customer", true),
            ("reply", "agent-7", true),
        ]
    );
    assert_eq!(
        c.messages[0].text,
        format!("Customer also wrote from {EMAIL}")
    );
    let res = c.resolution.clone().expect("resolution");
    assert_eq!(res.result, "The double charge was refunded");
    assert_eq!(res.measures, "The batch now refuses a second run");
    assert!(!res.first_contact);
    assert_eq!(res.resolved_by, "agent-7");
    assert_eq!(c.satisfaction.as_ref().map(|s| s.score), Some(2));

    // The same over HTTP, with the fields the public contract already had.
    let url = format!("http://{}/v1/complaints/{t}", it.http);
    let j: serde_json::Value = reqwest::get(&url)
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(j["ticket_no"], t.as_str());
    assert_eq!(j["status"], "closed");
    assert_eq!(j["version"], 13);
    assert_eq!(j["department"], "billing");
    assert!(j["sla"].is_array());
    assert_eq!(j["messages"].as_array().map(Vec::len), Some(4));
    assert_eq!(j["messages"][0]["kind"], "note");
    assert_eq!(j["history"].as_array().map(Vec::len), Some(13));
    assert_eq!(j["history"][12]["to"], "closed");
    assert_eq!(j["resolution"]["result"], "The double charge was refunded");
    assert_eq!(j["satisfaction"]["score"], 2);
    assert!(j["first_reply_at"].is_string());

    // The events: one per transition, with the version that made it, and no
    // personal data in plaintext (read_events checks every payload).
    let evs = it.events_of(&id, 17).await;
    let statuses: Vec<(u64, &str, &str, &str)> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Status(s) => Some((
                e.version(),
                s.from_status.as_str(),
                s.to_status.as_str(),
                s.action.as_str(),
            )),
            _ => None,
        })
        .collect();
    let transitions: Vec<(u64, &str, &str, &str)> = c
        .history
        .iter()
        .filter(|h| h.version > 1 && h.from_status != h.to_status)
        .map(|h| {
            (
                h.version,
                h.from_status.as_str(),
                h.to_status.as_str(),
                h.action.as_str(),
            )
        })
        .collect();
    assert_eq!(statuses, transitions);
    for e in &evs {
        if let Ev::Status(s) = e {
            assert!(!s.reason.is_empty(), "v{}: a reason", e.version());
        }
    }
    let messages: Vec<(u64, &str, bool)> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Message(m) => Some((e.version(), m.kind.as_str(), m.visible)),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages,
        vec![
            (3, "note", false),
            (5, "reply", true),
            (7, "customer", true),
            (11, "reply", true)
        ]
    );
    let note = evs
        .iter()
        .find_map(|e| match e {
            Ev::Message(m) if m.kind == "note" => Some(m),
            _ => None,
        })
        .expect("note event");
    assert!(note.text.contains("l***@example.org"), "{}", note.text);
    let resolved: Vec<u64> = evs
        .iter()
        .filter(|e| matches!(e, Ev::Resolved(_)))
        .map(Ev::version)
        .collect();
    assert_eq!(resolved, vec![8, 12]);
    let sat: Vec<(u64, u32, bool)> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Satisfaction(s) => Some((e.version(), s.score, s.unsatisfied)),
            _ => None,
        })
        .collect();
    assert_eq!(sat, vec![(9, 2, true)]);
    assert_eq!(
        evs.iter().filter(|e| matches!(e, Ev::Received(_))).count(),
        1
    );
    assert_eq!(evs.len(), 17, "{:?}", kinds(&evs));

    it.stop().await;
}

#[tokio::test]
async fn illegal_transitions_and_bad_input_are_refused() {
    let it = Intake::start("lifecycle_refusals", &[("OMBUDS_DUPLICATE_WINDOW", "0s")]).await;
    let mut cl = it.client.clone();
    let t = it
        .submit_call("complaint", "The app crashes")
        .await
        .ticket_no;

    let (code, msg) = code_and_message(
        cl.close(req!(CloseRequest, on(&t, 0), reason: String::new()))
            .await,
    );
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(msg, "cannot close a complaint that is received");
    let (code, msg) = code_and_message(cl.resolve(resolve_req(on(&t, 1), false)).await);
    assert_eq!(code, Code::FailedPrecondition);
    assert!(
        msg.starts_with("cannot resolve a complaint that is received"),
        "{msg}"
    );
    let (code, msg) = code_and_message(
        cl.set_awaiting_customer(req!(SetAwaitingCustomerRequest, on(&t, 0),
            reason: "need more".into()))
            .await,
    );
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(
        msg,
        "cannot set awaiting_customer on a complaint that is received"
    );
    let (code, msg) = code_and_message(
        cl.record_satisfaction(req!(RecordSatisfactionRequest, on(&t, 0),
            score: 4, comment: String::new()))
            .await,
    );
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(
        msg,
        "cannot record satisfaction on a complaint that is received"
    );
    let (code, _) = code_and_message(
        cl.reopen(req!(ReopenRequest, on(&t, 0), reason: "why not".into()))
            .await,
    );
    assert_eq!(code, Code::FailedPrecondition);

    // Bad input names the field.
    let (code, msg) = code_and_message(
        cl.reply(req!(ReplyRequest, on(&t, 0), text: "  ".into()))
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (Code::InvalidArgument, "text: required")
    );
    let mut nobody = on(&t, 0);
    nobody.actor = "";
    let (code, msg) = code_and_message(cl.acknowledge(req!(AcknowledgeRequest, nobody)).await);
    assert_eq!(code, Code::InvalidArgument);
    assert!(msg.starts_with("actor: required"), "{msg}");
    let (code, msg) = code_and_message(
        cl.reopen(req!(ReopenRequest, on(&t, 0), reason: String::new()))
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (Code::InvalidArgument, "reason: required")
    );
    let mut both = req!(AcknowledgeRequest, on(&t, 0));
    both.complaint_id = "0193a3c2-7b1e-7c3d-9f00-123456789abc".into();
    let (code, _) = code_and_message(cl.acknowledge(both).await);
    assert_eq!(code, Code::InvalidArgument);
    let (code, msg) = code_and_message(
        cl.acknowledge(req!(AcknowledgeRequest, on("TS-19990101-000001", 0)))
            .await,
    );
    assert_eq!(code, Code::NotFound);
    assert_eq!(msg, "no complaint with ticket TS-19990101-000001");

    // Nothing refused changed the complaint.
    at(&it.get(&t).await, "received", 1);

    // A stale version is a conflict that names both versions.
    cl.acknowledge(req!(AcknowledgeRequest, on(&t, 1)))
        .await
        .expect("acknowledge");
    let (code, msg) = code_and_message(
        cl.add_note(req!(AddNoteRequest, on(&t, 1), text: "hello".into()))
            .await,
    );
    assert_eq!(code, Code::Aborted);
    assert_eq!(
        msg,
        "version conflict: the complaint is at version 2, you sent 1"
    );

    // Satisfaction outside 1..5 is refused even where satisfaction is allowed.
    cl.resolve(resolve_req(on(&t, 2), false))
        .await
        .expect("resolve");
    for score in [0, 6] {
        let (code, msg) = code_and_message(
            cl.record_satisfaction(req!(RecordSatisfactionRequest, on(&t, 3),
                score: score, comment: String::new()))
                .await,
        );
        assert_eq!(code, Code::InvalidArgument, "score {score}");
        assert_eq!(msg, format!("score: must be 1 to 5, got {score}"));
    }
    let c = cl
        .record_satisfaction(req!(RecordSatisfactionRequest, on(&t, 3),
            score: 5, comment: "quick and kind".into()))
        .await
        .expect("a valid score")
        .into_inner();
    at(&c, "resolved", 4);
    let sat = c.satisfaction.expect("satisfaction");
    assert_eq!((sat.score, sat.unsatisfied), (5, false));

    it.stop().await;
}

#[tokio::test]
async fn two_agents_acting_on_the_same_version_one_wins() {
    let it = Intake::start("lifecycle_race", &[("OMBUDS_DUPLICATE_WINDOW", "0s")]).await;
    for round in 0..3 {
        let sub = it
            .submit_call("complaint", &format!("Slow network, round {round}"))
            .await;
        let t = sub.ticket_no;
        it.client
            .clone()
            .acknowledge(req!(AcknowledgeRequest, on(&t, 1)))
            .await
            .expect("acknowledge");
        let (mut a, mut b) = (it.client.clone(), it.client.clone());
        let mut other = on(&t, 2);
        other.actor = "agent-9";
        let (ra, rb) = tokio::join!(
            a.resolve(resolve_req(on(&t, 2), false)),
            b.resolve(resolve_req(other, false)),
        );
        let (won, lost) = match (ra, rb) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w.into_inner(), l),
            (ra, rb) => panic!("exactly one should win: {ra:?} / {rb:?}"),
        };
        at(&won, "resolved", 3);
        assert_eq!(lost.code(), Code::Aborted, "{lost:?}");
        assert_eq!(
            lost.message(),
            "version conflict: the complaint is at version 3, you sent 2"
        );
        let c = it.get(&t).await;
        at(&c, "resolved", 3);
        let resolves = c.history.iter().filter(|h| h.action == "resolve").count();
        assert_eq!(resolves, 1, "one resolution in the history");
        let evs = it.events_of(&sub.complaint_id, 4).await;
        assert_eq!(
            evs.iter().filter(|e| matches!(e, Ev::Resolved(_))).count(),
            1,
            "{:?}",
            kinds(&evs)
        );
    }

    // Without an expected version, concurrent notes both land, on distinct versions.
    let t = it
        .submit_call("complaint", "Two notes at once")
        .await
        .ticket_no;
    let (mut a, mut b) = (it.client.clone(), it.client.clone());
    let (ra, rb) = tokio::join!(
        a.add_note(req!(AddNoteRequest, on(&t, 0), text: "first".into())),
        b.add_note(req!(AddNoteRequest, on(&t, 0), text: "second".into())),
    );
    let mut versions = vec![
        ra.expect("note a").into_inner().version,
        rb.expect("note b").into_inner().version,
    ];
    versions.sort_unstable();
    assert_eq!(versions, vec![2, 3]);
    assert_eq!(it.get(&t).await.messages.len(), 2);

    it.stop().await;
}

#[tokio::test]
async fn an_inquiry_is_resolved_on_first_contact() {
    let it = Intake::start(
        "lifecycle_first_contact",
        &[("OMBUDS_DUPLICATE_WINDOW", "0s")],
    )
    .await;
    let mut cl = it.client.clone();
    let sub = it
        .submit_call("inquiry", "What are your opening hours?")
        .await;
    let c = cl
        .resolve(req!(ResolveRequest, on(&sub.ticket_no, 1),
            result: "Open 9:00 to 18:00 on working days".into(),
            cause: String::new(),
            measures: String::new(),
            first_contact: true))
        .await
        .expect("first-contact resolution")
        .into_inner();
    at(&c, "resolved", 2);
    let res = c.resolution.expect("resolution");
    assert!(res.first_contact);
    assert_eq!(c.history[1].action, "resolve_first_contact");
    assert_eq!(c.history[1].reason, "resolved on first contact");

    let evs = it.events_of(&sub.complaint_id, 3).await;
    let status = evs
        .iter()
        .find_map(|e| match e {
            Ev::Status(s) => Some(s),
            _ => None,
        })
        .expect("status_changed");
    assert_eq!(
        (status.from_status.as_str(), status.to_status.as_str()),
        ("received", "resolved")
    );
    assert_eq!(status.action, "resolve_first_contact");
    let resolved = evs
        .iter()
        .find_map(|e| match e {
            Ev::Resolved(r) => Some(r),
            _ => None,
        })
        .expect("complaint.resolved");
    assert!(resolved.first_contact);
    assert_eq!(resolved.result, "Open 9:00 to 18:00 on working days");

    // Once work has started, it is no longer a first-contact resolution.
    let t = it
        .submit_call("inquiry", "Do you ship abroad?")
        .await
        .ticket_no;
    cl.acknowledge(req!(AcknowledgeRequest, on(&t, 1)))
        .await
        .expect("acknowledge");
    let (code, msg) = code_and_message(cl.resolve(resolve_req(on(&t, 2), true)).await);
    assert_eq!(code, Code::FailedPrecondition);
    assert!(
        msg.starts_with("cannot resolve on first contact a complaint that is in_progress"),
        "{msg}"
    );

    it.stop().await;
}

/// A `routing.transferred` about `s`, `ago_ms` before now.
fn transferred(
    s: &v1::SubmitResponse,
    from: &str,
    to: &str,
    ago_ms: i64,
) -> v1::ComplaintTransferred {
    let mut meta = events::meta("routing", &s.complaint_id, &s.ticket_no, 1);
    meta.occurred_at = Some(ombuds_platform::time::to_timestamp(
        ombuds_platform::time::now_ms() - ago_ms,
    ));
    v1::ComplaintTransferred {
        meta: Some(meta),
        transfer_id: uuid::Uuid::now_v7().to_string(),
        from_department: from.into(),
        to_department: to.into(),
        requirement: "check the base station".into(),
        deadline: Some(ombuds_platform::time::to_timestamp(
            ombuds_platform::time::now_ms() + 86_400_000,
        )),
        actor: "agent-7".into(),
    }
}

/// A `routing.assigned` about `s`, `ago_ms` before now.
fn assigned(s: &v1::SubmitResponse, department: &str, ago_ms: i64) -> v1::ComplaintAssigned {
    let mut meta = events::meta("routing", &s.complaint_id, &s.ticket_no, 1);
    meta.occurred_at = Some(ombuds_platform::time::to_timestamp(
        ombuds_platform::time::now_ms() - ago_ms,
    ));
    v1::ComplaintAssigned {
        meta: Some(meta),
        department: department.into(),
        queue: department.into(),
        rule: "category".into(),
        ..Default::default()
    }
}

impl Intake {
    /// Waits until the complaint `ticket` satisfies `ok`.
    async fn wait_for(
        &self,
        what: &str,
        ticket: &str,
        ok: impl Fn(&v1::Complaint) -> bool,
    ) -> v1::Complaint {
        wait_until(what, WAIT, || async {
            let c = self
                .client
                .clone()
                .get(v1::GetComplaintRequest {
                    key: Some(Key::TicketNo(ticket.into())),
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            if ok(&c) {
                Ok(c)
            } else {
                Err(format!(
                    "{} {} v{} in {:?}",
                    c.ticket_no, c.status, c.version, c.department
                ))
            }
        })
        .await
    }
}

#[tokio::test]
async fn the_department_follows_a_transfer_and_older_events_never_win() {
    let it = Intake::start("lifecycle_transfer", &[("OMBUDS_DUPLICATE_WINDOW", "0s")]).await;
    let a = it.submit_call("complaint", "no signal at home").await;
    let b = it.submit_call("complaint", "the shop was closed").await;
    let d = it.submit_call("complaint", "the app crashes").await;

    events::publish(&it.js, &assigned(&a, "billing", 0))
        .await
        .expect("publish routing.assigned");
    it.wait_for("a assigned to billing", &a.ticket_no, |c| {
        c.status == "assigned" && c.department == "billing"
    })
    .await;

    // The transfer moves it to technical; the status stays, the version goes up.
    events::publish(&it.js, &transferred(&a, "billing", "technical", 0))
        .await
        .expect("publish routing.transferred");
    let c = it
        .wait_for("a transferred to technical", &a.ticket_no, |c| {
            c.department == "technical"
        })
        .await;
    at(&c, "assigned", 3);
    assert_eq!(c.assignee, "");
    let last = c.history.last().expect("history");
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("transfer", "agent-7")
    );
    assert!(
        last.reason.contains("billing to technical") && last.reason.contains("base station"),
        "{}",
        last.reason
    );

    // Older events arrive late: a transfer and an assignment from an hour ago. Neither
    // overwrites the newer transfer. b's assignment and d's transfer, published after
    // them on the same two consumers, show when they were handled.
    events::publish(&it.js, &transferred(&a, "billing", "product", 3_600_000))
        .await
        .expect("publish an old transfer");
    events::publish(&it.js, &assigned(&a, "quality", 3_600_000))
        .await
        .expect("publish an old assignment");
    events::publish(&it.js, &assigned(&b, "customer_service", 0))
        .await
        .expect("publish b's assignment");
    events::publish(&it.js, &transferred(&d, "customer_service", "quality", 0))
        .await
        .expect("publish d's transfer");
    it.wait_for("b assigned", &b.ticket_no, |c| c.status == "assigned")
        .await;
    let c = it
        .wait_for("d transferred", &d.ticket_no, |c| c.department == "quality")
        .await;
    assert_eq!(
        c.status, "received",
        "a transfer does not change the status"
    );
    let c = it.get(&a.ticket_no).await;
    at(&c, "assigned", 3);
    assert_eq!(c.department, "technical", "older events never win");
    it.stop().await;
}
