//! Black-box tests of the notification service's acknowledgements: a real nats-server,
//! a real store (SQLite, or PostgreSQL with `OMBUDS_TEST_DATABASE_URL`), the service
//! running in-process, and local stand-ins at the edges: a fake intake
//! `ComplaintService` over gRPC (the source of customers' addresses, in [`support`]) and,
//! for the smtp provider, a small SMTP server that records what it receives.

mod support;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use ombuds_notification::entity::delivery;
use ombuds_platform::events;
use ombuds_proto::v1;
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use prost::Message as _;
use sea_orm::EntityTrait;
use support::*;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    task::JoinHandle,
};
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

/// A store from before delay notices (one acknowledgement per `(complaint_id,
/// template)`) upgrades in place: its rows get the key the consumer writes now, so an
/// acknowledgement owed before the upgrade is not owed a second time after it.
#[tokio::test]
async fn an_existing_store_keeps_its_acknowledgements_across_the_upgrade() {
    use ombuds_notification::migration::Migrator;
    use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter};
    use sea_orm_migration::MigratorTrait;

    let db = TestDatabase::new("notification_upgrade").await;
    let conn = ombuds_platform::db::connect(&db.url).await.expect("store");
    // outbox, inbox and deliveries as the previous version left them.
    Migrator::up(&conn, Some(3)).await.expect("old migrations");
    conn.execute_unprepared(
        "INSERT INTO deliveries (delivery_id, complaint_id, ticket_no, complaint_version, \
         template, status, attempts, next_attempt_at, created_at, updated_at) VALUES \
         ('d-old', 'c-old', 'TS-20261122-000900', 1, 'acknowledgement', 'sent', 1, 0, 0, 0)",
    )
    .await
    .expect("an old row");
    Migrator::up(&conn, None).await.expect("the upgrade");

    let row = delivery::Entity::find_by_id("d-old")
        .one(&conn)
        .await
        .expect("read")
        .expect("the old row");
    assert_eq!(row.dedup_key, "acknowledgement:c-old");
    assert_eq!(row.params, None);
    // The key is unique: the same acknowledgement cannot be owed twice.
    let again = conn
        .execute_unprepared(
            "INSERT INTO deliveries (delivery_id, complaint_id, ticket_no, complaint_version, \
             template, dedup_key, status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ('d-new', 'c-old', 'TS-20261122-000900', 1, 'acknowledgement', \
             'acknowledgement:c-old', 'pending', 0, 0, 0, 0)",
        )
        .await;
    assert!(
        again.is_err(),
        "a second row with the same key was accepted"
    );
    // Several messages of one template for one complaint are fine now.
    for (id, key) in [("d-r1", "result:c-old:5"), ("d-r2", "result:c-old:9")] {
        conn.execute_unprepared(&format!(
            "INSERT INTO deliveries (delivery_id, complaint_id, ticket_no, complaint_version, \
             template, dedup_key, status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ('{id}', 'c-old', 'TS-20261122-000900', 1, 'result', '{key}', 'sent', 1, \
             0, 0, 0)"
        ))
        .await
        .expect("two results for one complaint");
    }
    let n = delivery::Entity::find()
        .filter(delivery::Column::ComplaintId.eq("c-old"))
        .all(&conn)
        .await
        .expect("rows")
        .len();
    assert_eq!(n, 3);
    conn.close().await.expect("close");
    db.drop_pg().await;
}
