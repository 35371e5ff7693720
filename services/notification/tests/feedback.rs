//! Black-box tests of the messages after the acknowledgement: the delay notice a
//! customer gets when an SLA clock of theirs is breached, the alerts the staff get on
//! warnings and breaches, and the result message after a resolution. Same harness as
//! the acknowledgement tests ([`support`]): a real nats-server, a real store, the service
//! in-process, a fake intake, and the file provider's mailbox to read what went out.

mod support;

use std::path::Path;

use chrono::{FixedOffset, TimeZone, Utc};
use ombuds_platform::{
    events,
    time::{now_ms, to_timestamp},
};
use ombuds_proto::v1::{self, notification_service_client::NotificationServiceClient};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use support::*;
use tonic::transport::Channel;

const HOUR: i64 = 3_600_000;
const STAFF: &str = "duty.officer@ombuds.test";

fn breached(c: &Customer, clock_id: &str, target: &str, breached_at: i64) -> v1::SlaClockBreached {
    v1::SlaClockBreached {
        meta: Some(events::meta(
            "sla-watchdog",
            &c.complaint_id,
            c.ticket_no,
            0,
        )),
        clock_id: clock_id.into(),
        target: target.into(),
        deadline: Some(to_timestamp(breached_at - 1_000)),
        breached_at: Some(to_timestamp(breached_at)),
    }
}

fn warning(c: &Customer, clock_id: &str, percent: u32, deadline: i64) -> v1::SlaClockWarning {
    v1::SlaClockWarning {
        meta: Some(events::meta(
            "sla-watchdog",
            &c.complaint_id,
            c.ticket_no,
            0,
        )),
        clock_id: clock_id.into(),
        target: "resolution".into(),
        deadline: Some(to_timestamp(deadline)),
        threshold_percent: percent,
    }
}

fn resolved(c: &Customer, version: u64, result: &str) -> v1::ComplaintResolved {
    v1::ComplaintResolved {
        meta: Some(events::meta(
            "intake",
            &c.complaint_id,
            c.ticket_no,
            version,
        )),
        result: result.into(),
        cause: "a billing job ran twice".into(),
        measures: "the job now checks for an earlier run".into(),
        first_contact: false,
        resolved_by: "agent-7".into(),
    }
}

/// `2026-11-23 18:05 (UTC+08:00)`: how a message shows an instant in Asia/Shanghai
/// (UTC+8 all year), computed here independently of the service.
fn shanghai(ms: i64) -> String {
    let zone = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("valid instant")
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M (UTC+08:00)")
        .to_string()
}

/// The start of the current minute, minus `minutes`: times the messages show exactly.
fn whole_minute_ago(minutes: i64) -> i64 {
    now_ms().div_euclid(60_000) * 60_000 - minutes * 60_000
}

/// The mailbox lines of `template` (and `ticket_no`, if given).
fn lines_of(path: &Path, template: &str, ticket_no: Option<&str>) -> Vec<serde_json::Value> {
    mailbox_lines(path)
        .into_iter()
        .filter(|l| l["template"] == template)
        .filter(|l| ticket_no.is_none_or(|t| l["ticket_no"] == t))
        .collect()
}

/// Waits until the complaint's deliveries of `template` number `n` and are all sent.
async fn sent_of(
    client: &NotificationServiceClient<Channel>,
    complaint_id: &str,
    template: &str,
    n: usize,
) -> Vec<v1::Delivery> {
    wait_until(
        &format!("{n} sent {template} deliveries of {complaint_id}"),
        WAIT,
        || {
            let mut client = client.clone();
            let complaint_id = complaint_id.to_owned();
            async move {
                let all = deliveries(&mut client, &complaint_id).await;
                let of: Vec<v1::Delivery> =
                    all.into_iter().filter(|d| d.template == template).collect();
                if of.len() == n && of.iter().all(|d| d.status == "sent") {
                    Ok(of)
                } else {
                    Err(format!("{of:?}"))
                }
            }
        },
    )
    .await
}

/// Every NOTIFICATIONS event so far carries none of `secrets`.
async fn events_carry_no_plaintext(js: &async_nats::jetstream::Context, n: u64, secrets: &[&str]) {
    let msgs = notifications(js, n).await;
    assert_eq!(msgs.len() as u64, n);
    for m in &msgs {
        assert_no_plaintext(&m.payload, secrets, &format!("event on {}", m.subject));
        assert_eq!(m.subject.as_str(), "notification.sent", "{m:?}");
    }
}

#[tokio::test]
async fn a_breach_tells_the_customer_once_why_and_the_new_expected_time() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_delay").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mailbox = dir.path().join("notifications.jsonl");
    let alice = customer("TS-20261122-000201", "zhou.jiu@example.com", "13811110000");
    let bob = customer("TS-20261122-000202", "", "13922220000");
    let secrets = [alice.email, alice.phone, bob.phone];

    let intake_addr = free_addr();
    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &[&alice, &bob]).await;
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
            ("OMBUDS_DATA_DIR", dir.path().display().to_string()),
        ],
    );
    let js = jetstream_ready(&nats).await;

    let at = whole_minute_ago(30);
    let alice_breach = breached(&alice, "clock-a-resolution", "resolution", at);
    events::publish(&js, &alice_breach)
        .await
        .expect("publish the breach");
    // The same event redelivered (the inbox catches it), and another event about the
    // same clock (the unique key catches it).
    publish_copy(&js, &alice_breach).await;
    events::publish(
        &js,
        &breached(&alice, "clock-a-resolution", "resolution", at),
    )
    .await
    .expect("publish the breach again");
    // Not customer-facing: no delay notice (staff alerts are off here).
    events::publish(&js, &breached(&alice, "clock-a-transfer", "transfer", at))
        .await
        .expect("publish a transfer breach");
    // A phone-only customer hears of it by SMS; an old breach, whose new expected time
    // has already passed, tells nobody anything.
    events::publish(&js, &breached(&bob, "clock-b-first", "first_response", at))
        .await
        .expect("publish bob's breach");
    events::publish(
        &js,
        &breached(&bob, "clock-b-old", "resolution", at - 48 * HOUR),
    )
    .await
    .expect("publish an old breach");
    durable_caught_up(&js, "SLA", "notification-sla-breached").await;

    let client = service.client().await;
    let a = sent_of(&client, &alice.complaint_id, "delay", 1).await;
    assert_eq!(
        (a[0].medium.as_str(), a[0].recipient_masked.as_str()),
        ("email", "z***@example.com")
    );
    let b = sent_of(&client, &bob.complaint_id, "delay", 1).await;
    assert_eq!(b[0].medium, "sms");
    // Only those two rows exist: nothing else is owed, so nothing else goes out later.
    let mut all = client.clone();
    assert_eq!(deliveries(&mut all, &alice.complaint_id).await.len(), 1);
    assert_eq!(deliveries(&mut all, &bob.complaint_id).await.len(), 1);

    let expected = shanghai(at + 24 * HOUR);
    let lines = lines_of(&mailbox, "delay", Some(alice.ticket_no));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["to"], alice.email);
    assert_eq!(line["delivery_id"], a[0].delivery_id.as_str());
    let subject = line["subject"].as_str().expect("subject");
    assert!(subject.contains(alice.ticket_no), "{subject}");
    let body = line["body"].as_str().expect("body");
    for part in [
        format!(
            "Your complaint {} is taking longer than we promised.",
            alice.ticket_no
        ),
        "Reason: the investigation needs more time.".to_owned(),
        format!("We now expect to answer by {expected}."),
        "原因：处理需要更多时间。".to_owned(),
        format!("我们预计在 {expected} 前答复您"),
    ] {
        assert!(body.contains(&part), "{part:?} not in {body}");
    }
    let lines = lines_of(&mailbox, "delay", Some(bob.ticket_no));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["to"], bob.phone);
    let short = lines[0]["body"].as_str().expect("body");
    assert!(
        short.contains(bob.ticket_no) && short.contains(&expected),
        "{short}"
    );
    assert!(
        short.contains("we need more time to review your complaint"),
        "{short}"
    );
    assert_eq!(mailbox_lines(&mailbox).len(), 2);
    events_carry_no_plaintext(&js, 2, &secrets).await;

    service.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");
    db.drop_pg().await;
}

#[tokio::test]
async fn warnings_and_breaches_alert_the_staff_address() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_staff").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mailbox = dir.path().join("notifications.jsonl");
    let alice = customer("TS-20261122-000211", "wu.shi@example.com", "13833330000");
    let secrets = [alice.email, alice.phone, "张三", STAFF];

    let intake_addr = free_addr();
    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &[&alice]).await;
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
            ("OMBUDS_DATA_DIR", dir.path().display().to_string()),
            ("OMBUDS_NOTIFY_STAFF_EMAIL", STAFF.to_owned()),
            ("OMBUDS_NOTIFY_DELAY_EXTENSION", "36h".to_owned()),
        ],
    );
    let js = jetstream_ready(&nats).await;

    let deadline = whole_minute_ago(-60);
    // 50% is below the staff threshold; 80% is an alert, once however often it comes.
    events::publish(&js, &warning(&alice, "clock-r", 50, deadline))
        .await
        .expect("publish 50%");
    let eighty = warning(&alice, "clock-r", 80, deadline);
    events::publish(&js, &eighty).await.expect("publish 80%");
    publish_copy(&js, &eighty).await;
    durable_caught_up(&js, "SLA", "notification-sla-warning").await;

    let client = service.client().await;
    let w = sent_of(&client, &alice.complaint_id, "staff_alert", 1).await;
    assert_eq!(
        (w[0].medium.as_str(), w[0].recipient_masked.as_str()),
        ("email", "d***@ombuds.test")
    );
    let lines = lines_of(&mailbox, "staff_alert", Some(alice.ticket_no));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["to"], STAFF);
    let subject = lines[0]["subject"].as_str().expect("subject");
    assert_eq!(
        subject,
        format!("[SLA warning 80%] {}: resolution", alice.ticket_no)
    );
    let body = lines[0]["body"].as_str().expect("body");
    for part in [
        format!("Ticket: {}", alice.ticket_no),
        "Target: resolution".to_owned(),
        format!("Deadline: {}", shanghai(deadline)),
        "Threshold: 80%".to_owned(),
    ] {
        assert!(body.contains(&part), "{part:?} not in {body}");
    }
    // Never anything about the customer.
    let line = serde_json::to_string(&lines[0]).expect("json");
    assert_no_plaintext(
        line.replace(STAFF, "").as_bytes(),
        &[alice.email, alice.phone, "张三"],
        "the staff alert",
    );

    // The breach: the customer's delay notice (with the configured extension) and a
    // second staff alert.
    let at = whole_minute_ago(1);
    events::publish(&js, &breached(&alice, "clock-r", "resolution", at))
        .await
        .expect("publish the breach");
    sent_of(&client, &alice.complaint_id, "staff_alert", 2).await;
    sent_of(&client, &alice.complaint_id, "delay", 1).await;
    let alerts = lines_of(&mailbox, "staff_alert", Some(alice.ticket_no));
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let breach = alerts
        .iter()
        .find(|l| l["subject"] == format!("[SLA breached] {}: resolution", alice.ticket_no))
        .expect("the breach alert");
    assert_eq!(breach["to"], STAFF);
    assert!(
        breach["body"]
            .as_str()
            .expect("body")
            .contains("missed its resolution deadline"),
        "{breach}"
    );
    let delay = lines_of(&mailbox, "delay", Some(alice.ticket_no));
    assert_eq!(delay.len(), 1, "{delay:#?}");
    assert_eq!(delay[0]["to"], alice.email);
    let body = delay[0]["body"].as_str().expect("body");
    assert!(
        body.contains(&format!(
            "We now expect to answer by {}.",
            shanghai(at + 36 * HOUR)
        )),
        "{body}"
    );
    events_carry_no_plaintext(&js, 3, &secrets).await;

    service.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");
    db.drop_pg().await;
}

#[tokio::test]
async fn without_a_staff_address_warnings_alert_nobody() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_no_staff").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mailbox = dir.path().join("notifications.jsonl");
    let alice = customer("TS-20261122-000221", "qian.er@example.com", "");

    let intake_addr = free_addr();
    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &[&alice]).await;
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
            ("OMBUDS_DATA_DIR", dir.path().display().to_string()),
        ],
    );
    let js = jetstream_ready(&nats).await;
    events::publish(&js, &warning(&alice, "clock-r", 80, whole_minute_ago(-60)))
        .await
        .expect("publish 80%");
    events::publish(&js, &warning(&alice, "clock-r", 100, whole_minute_ago(-1)))
        .await
        .expect("publish 100%");
    // Once the consumer has acknowledged both, nothing was owed: no row, so no message
    // can go out later either.
    durable_caught_up(&js, "SLA", "notification-sla-warning").await;
    let mut client = service.client().await;
    assert_eq!(deliveries(&mut client, &alice.complaint_id).await, vec![]);
    assert!(mailbox_lines(&mailbox).is_empty());

    service.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");
    db.drop_pg().await;
}

#[tokio::test]
async fn a_resolution_sends_the_result_thanks_and_the_satisfaction_question_once() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("notification_result").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mailbox = dir.path().join("notifications.jsonl");
    let alice = customer("TS-20261122-000231", "zheng.yi@example.com", "13844440000");
    let old = customer("TS-20261122-000232", "feng.san@example.com", "");
    let secrets = [alice.email, alice.phone, old.email];

    let intake_addr = free_addr();
    let (intake_stop, intake_task) = start_fake_intake(intake_addr, &[&alice, &old]).await;
    let service = start_service(
        &nats,
        &db,
        &[
            ("OMBUDS_INTAKE_GRPC_URL", format!("http://{intake_addr}")),
            ("OMBUDS_DATA_DIR", dir.path().display().to_string()),
        ],
    );
    let js = jetstream_ready(&nats).await;

    let first = resolved(&alice, 5, "We refunded the second charge of 30 yuan.");
    events::publish(&js, &first)
        .await
        .expect("publish the resolution");
    publish_copy(&js, &first).await;
    // A resolution from days ago (a consumer catching up on an old stream) is too late
    // for feedback.
    let mut stale = resolved(&old, 3, "Old news");
    if let Some(meta) = stale.meta.as_mut() {
        meta.occurred_at = Some(to_timestamp(now_ms() - 72 * HOUR));
    }
    events::publish(&js, &stale)
        .await
        .expect("publish the old resolution");
    durable_caught_up(&js, "COMPLAINTS", "notification-resolved").await;

    let mut client = service.client().await;
    let r = sent_of(&client, &alice.complaint_id, "result", 1).await;
    assert_eq!(r[0].medium, "email");
    assert_eq!(deliveries(&mut client, &old.complaint_id).await, vec![]);

    let lines = lines_of(&mailbox, "result", Some(alice.ticket_no));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["to"], alice.email);
    let subject = lines[0]["subject"].as_str().expect("subject");
    assert!(subject.contains(alice.ticket_no), "{subject}");
    let body = lines[0]["body"].as_str().expect("body");
    for part in [
        "Result: We refunded the second charge of 30 yuan.",
        "Cause: a billing job ran twice",
        "the job now checks for an earlier run",
        "Thank you",
        "1 (very unsatisfied) to 5 (very satisfied)",
        "处理结果：We refunded the second charge of 30 yuan.",
        "请回复 1（非常不满意）至 5（非常满意）",
    ] {
        assert!(body.contains(part), "{part:?} not in {body}");
    }

    // Reopened and resolved again (a later version): the customer hears the new result.
    events::publish(&js, &resolved(&alice, 9, "We replaced the meter."))
        .await
        .expect("publish the second resolution");
    sent_of(&client, &alice.complaint_id, "result", 2).await;
    let lines = lines_of(&mailbox, "result", Some(alice.ticket_no));
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[1]["body"]
        .as_str()
        .expect("body")
        .contains("Result: We replaced the meter."));
    events_carry_no_plaintext(&js, 2, &secrets).await;

    service.stop().await;
    intake_stop.cancel();
    intake_task.await.expect("fake intake task");
    db.drop_pg().await;
}
