//! Threading and duplicates, against intake running in-process with a real nats-server
//! and a fresh store: a follow-up citing the ticket in its subject is appended to the
//! complaint (same ticket, a customer message, `complaint.message_added`, awaiting →
//! in_progress), a repeat of that follow-up is not appended twice, an e-mail answering
//! an earlier one by In-Reply-To is appended, and a repeat from the same customer about
//! the same open category is linked (over HTTP, answering `threaded_into`). And
//! classification: what the channel supplies is kept, `Classify` sets the priority by
//! the severity × urgency matrix and emits `complaint.classified`, bad values are
//! refused naming the field.

mod support;

use support::{decode as decode_event, Intake, WAIT};

use ombuds_platform::events::Event;
use ombuds_proto::v1;
use ombuds_testkit::wait_until;
use tonic::Code;

impl Intake {
    /// The `complaint.message_added` events about `complaint_id`, once there are `n`.
    async fn messages_added(&self, complaint_id: &str, n: usize) -> Vec<v1::ComplaintMessageAdded> {
        self.events_of::<v1::ComplaintMessageAdded>(complaint_id, n, |e| e.meta.as_ref())
            .await
    }

    async fn events_of<E: Event>(
        &self,
        complaint_id: &str,
        n: usize,
        meta: fn(&E) -> Option<&v1::EventMeta>,
    ) -> Vec<E> {
        let stream = self.js.get_stream("COMPLAINTS").await.expect("COMPLAINTS");
        wait_until(
            &format!("{n} {} about {complaint_id}", E::TYPE),
            WAIT,
            || {
                let stream = stream.clone();
                async move {
                    let info = stream.get_info().await.map_err(|e| e.to_string())?;
                    let mut out = Vec::new();
                    if info.state.messages > 0 {
                        for seq in info.state.first_sequence..=info.state.last_sequence {
                            let m = stream
                                .get_raw_message(seq)
                                .await
                                .map_err(|e| e.to_string())?;
                            if let Some(e) = decode_event::<E>(&m) {
                                if meta(&e).is_some_and(|m| m.complaint_id == complaint_id) {
                                    out.push(e);
                                }
                            }
                        }
                    }
                    if out.len() >= n {
                        Ok(out)
                    } else {
                        Err(format!("{} so far", out.len()))
                    }
                }
            },
        )
        .await
    }
}

fn contact(
    external_id: &str,
    phone: &str,
    category: &str,
    subject: &str,
    body: &str,
) -> v1::ContactSubmitted {
    v1::ContactSubmitted {
        external_id: external_id.into(),
        customer: Some(v1::CustomerDetails {
            name: "王五".into(),
            phone: phone.into(),
            email: String::new(),
            account_id: String::new(),
            ..Default::default()
        }),
        subject: subject.into(),
        body: body.into(),
        category: category.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn follow_ups_and_duplicates_are_threaded() {
    let it = Intake::start("intake_threading", &[("OMBUDS_DUPLICATE_WINDOW", "7d")]).await;
    let mut cl = it.client.clone();

    // A complaint, acknowledged and then awaiting the customer (version 3).
    let first = it
        .submit(
            "hotline",
            contact("call-1", "13700000001", "billing", "", "多收了话费"),
        )
        .await;
    assert!(first.created && !first.threaded);
    let t = first.ticket_no.clone();
    cl.acknowledge(v1::AcknowledgeRequest {
        ticket_no: t.clone(),
        expected_version: 1,
        actor: "agent-1".into(),
        ..Default::default()
    })
    .await
    .expect("acknowledge");
    cl.set_awaiting_customer(v1::SetAwaitingCustomerRequest {
        ticket_no: t.clone(),
        expected_version: 2,
        actor: "agent-1".into(),
        reason: "need the bill".into(),
        ..Default::default()
    })
    .await
    .expect("awaiting");

    // A follow-up citing the ticket in its subject, from another channel and number.
    let follow = contact(
        "sms-9",
        "13700000009",
        "",
        &format!("Re: 工单{t}"),
        "账单截图已发",
    );
    let r = it.submit("sms", follow.clone()).await;
    assert_eq!(r.ticket_no, t);
    assert!(!r.created && r.threaded);
    assert_eq!(r.linked_reason, "cited_ticket");
    let c = it.get(&t).await;
    assert_eq!(c.status, "in_progress");
    assert_eq!(c.version, 4);
    let customer_msgs: Vec<_> = c.messages.iter().filter(|m| m.kind == "customer").collect();
    assert_eq!(customer_msgs.len(), 1, "{:?}", c.messages);
    assert!(customer_msgs[0].text.contains("账单截图已发"));
    let added = it.messages_added(&first.complaint_id, 1).await;
    assert_eq!(added[0].kind, "customer");
    assert!(added[0].visible);
    let changed = it
        .events_of::<v1::ComplaintStatusChanged>(&first.complaint_id, 3, |e| e.meta.as_ref())
        .await;
    let back = changed
        .iter()
        .find(|e| e.to_status == "in_progress" && e.from_status == "awaiting_customer")
        .expect("awaiting → in_progress emitted");
    assert_eq!(back.action, "customer_responded");

    // The same follow-up again is not appended twice.
    let again = it.submit("sms", follow).await;
    assert_eq!(again.ticket_no, t);
    assert!(!again.created && again.threaded);
    let c = it.get(&t).await;
    assert_eq!(c.version, 4);
    assert_eq!(
        c.messages.iter().filter(|m| m.kind == "customer").count(),
        1
    );

    // An e-mail answering an earlier e-mail by In-Reply-To.
    let mail = it
        .submit(
            "email",
            contact(
                "<m1@mail.example.net>",
                "13700000002",
                "network",
                "没有信号",
                "家里没有信号",
            ),
        )
        .await;
    assert!(mail.created);
    let mut reply = contact(
        "<m2@mail.example.net>",
        "13700000003",
        "",
        "Re: 没有信号",
        "还是没有",
    );
    reply.in_reply_to = "<m1@mail.example.net>".into();
    let r = it.submit("email", reply).await;
    assert_eq!(r.ticket_no, mail.ticket_no);
    assert!(r.threaded);
    assert_eq!(r.linked_reason, "email_reply");
    // A reply to the reply (References only) threads too.
    let mut third = contact(
        "<m3@mail.example.net>",
        "13700000003",
        "",
        "Re: Re: 没有信号",
        "?",
    );
    third.references = vec!["<m1@mail.example.net> <m2@mail.example.net>".into()];
    let r = it.submit("email", third).await;
    assert_eq!(r.ticket_no, mail.ticket_no);
    it.messages_added(&mail.complaint_id, 2).await;

    // A repeat from the same customer about the same open category, over HTTP.
    let dup_first = it
        .submit(
            "hotline",
            contact("call-2", "13700000004", "product", "", "APP闪退"),
        )
        .await;
    assert!(dup_first.created);
    let answer = reqwest::Client::new()
        .post(format!("http://{}/v1/contacts/app", it.http))
        .json(&serde_json::json!({
            "external_id": "app-77",
            "customer": {"phone": "+86 137 0000 0004"},
            "body": "APP又闪退了",
            "category": "product",
        }))
        .send()
        .await
        .expect("POST");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.expect("JSON");
    assert_eq!(body["threaded_into"], dup_first.ticket_no.as_str());
    assert_eq!(body["ticket_no"], dup_first.ticket_no.as_str());
    assert_eq!(body["linked_reason"], "duplicate");
    it.messages_added(&dup_first.complaint_id, 1).await;
    // Another category from the same customer opens a new complaint.
    let other = it
        .submit(
            "hotline",
            contact("call-3", "13700000004", "billing", "", "话费"),
        )
        .await;
    assert!(other.created && other.ticket_no != dup_first.ticket_no);

    it.stop().await;
}

#[tokio::test]
async fn classification_sets_priority_by_the_matrix() {
    let it = Intake::start("intake_classify", &[("OMBUDS_DUPLICATE_WINDOW", "7d")]).await;
    let mut cl = it.client.clone();

    // The channel's classification is kept; severity 1 × urgency 2 is priority 1.
    let mut c = contact("call-c1", "13600000001", "network", "", "整个小区断网");
    c.sub_category = "Outage".into();
    c.severity = 1;
    c.urgency = 2;
    c.tags = vec!["vip".into(), " 5G ".into()];
    let r = it.submit("hotline", c).await;
    let got = it.get(&r.ticket_no).await;
    assert_eq!(
        (
            got.sub_category.as_str(),
            got.severity,
            got.urgency,
            got.priority
        ),
        ("outage", 1, 2, 1)
    );
    assert_eq!(got.tags, vec!["vip", "5G"]);

    // Defaults: severity 3, urgency 3, priority 3. Classify moves received → triaged.
    let r = it
        .submit(
            "hotline",
            contact("call-c2", "13600000002", "", "", "不知道算哪类"),
        )
        .await;
    let got = it.get(&r.ticket_no).await;
    assert_eq!((got.severity, got.urgency, got.priority), (3, 3, 3));
    let classified = cl
        .classify(v1::ClassifyRequest {
            ticket_no: r.ticket_no.clone(),
            expected_version: 1,
            actor: "agent-2".into(),
            category: "billing".into(),
            sub_category: "refund".into(),
            severity: 2,
            urgency: 1,
            tags: vec!["repeat".into()],
            ..Default::default()
        })
        .await
        .expect("classify")
        .into_inner();
    assert_eq!(classified.status, "triaged");
    assert_eq!(classified.version, 2);
    assert_eq!(
        (
            classified.category.as_str(),
            classified.sub_category.as_str()
        ),
        ("billing", "refund")
    );
    assert_eq!(classified.priority, 1);
    let evs = it
        .events_of::<v1::ComplaintClassified>(&r.complaint_id, 1, |e| e.meta.as_ref())
        .await;
    assert_eq!(
        (evs[0].priority, evs[0].severity, evs[0].urgency),
        (1, 2, 1)
    );
    assert_eq!(evs[0].status, "triaged");
    assert_eq!(evs[0].tags, vec!["repeat"]);
    assert!(classified.history.iter().any(|h| h.action == "classify"));

    // A bad severity is INVALID_ARGUMENT naming it; an unknown sub-category too.
    for (req, field) in [
        (
            v1::ClassifyRequest {
                ticket_no: r.ticket_no.clone(),
                actor: "agent-2".into(),
                severity: 9,
                ..Default::default()
            },
            "severity",
        ),
        (
            v1::ClassifyRequest {
                ticket_no: r.ticket_no.clone(),
                actor: "agent-2".into(),
                category: "network".into(),
                sub_category: "refund".into(),
                ..Default::default()
            },
            "sub_category",
        ),
    ] {
        let e = cl.classify(req).await.expect_err("invalid");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with(field), "{}", e.message());
    }

    // Over HTTP: an unknown category and a bad urgency are 400 naming the field.
    for (body, field) in [
        (
            serde_json::json!({"external_id": "w-1", "customer": {"phone": "13600000003"}, "body": "x", "category": "weather"}),
            "category",
        ),
        (
            serde_json::json!({"external_id": "w-2", "customer": {"phone": "13600000003"}, "body": "x", "urgency": 0.5}),
            "body",
        ),
        (
            serde_json::json!({"external_id": "w-3", "customer": {"phone": "13600000003"}, "body": "x", "urgency": 5}),
            "urgency",
        ),
    ] {
        let answer = reqwest::Client::new()
            .post(format!("http://{}/v1/contacts/web_form", it.http))
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(answer.status(), 400);
        let v: serde_json::Value = answer.json().await.expect("JSON");
        assert_eq!(v["error"]["field"], field, "{v}");
    }
    // Get over HTTP shows the classification.
    let v: serde_json::Value =
        reqwest::get(format!("http://{}/v1/complaints/{}", it.http, r.ticket_no))
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON");
    assert_eq!(v["sub_category"], "refund");
    assert_eq!(v["severity"], 2);
    assert_eq!(v["tags"][0], "repeat");

    it.stop().await;
}
