//! Recording contacts in batches keeps every guarantee of recording them one at a time
//! (SQLite, or PostgreSQL when OMBUDS_TEST_DATABASE_URL is set):
//!
//! - store level, one `record_batch` per transaction: a contact repeated inside the
//!   batch is one complaint; two contacts of one new customer make one customer record
//!   (and details the second adds are merged); contacts follow up (e-mail reply, reply
//!   to the reply, duplicate, cited ticket) on complaints opened earlier in the SAME
//!   batch; ticket numbers are consecutive within and across batches; the outbox holds
//!   the events in contact order; a later batch answers repeats as before;
//! - an agent changing a complaint while a batch appends to it: the batch is recorded
//!   again on top of the agent's change (versions 1, 2, 3, none lost);
//! - two recorders (replicas) on their own connections, recording overlapping batches
//!   at the same time: one complaint per contact, one customer per person, ticket
//!   numbers 1..n without gap or repeat;
//! - through JetStream: a backlog with undecodable and invalid contacts among valid
//!   ones and repeats: the valid ones are recorded once each, the bad ones are
//!   dead-lettered with the reason naming the problem.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{FixedOffset, Utc};
use ombuds_intake::{
    contact::{self, NewContact},
    crypto::Vault,
    migration::Migrator,
    recording,
    store::{Recorded, TicketFormat},
    threading::Policy,
};
use ombuds_platform::{db, events::Event};
use ombuds_proto::v1;
use ombuds_testkit::{wait_until, TestDatabase};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use support::{Intake, PII_INDEX_KEY, PII_KEYS, WAIT};

const DAY_MS: i64 = 24 * 3600 * 1000;

struct Store {
    db: TestDatabase,
    conn: DatabaseConnection,
    vault: Vault,
    tickets: TicketFormat,
    policy: Policy,
}

impl Store {
    async fn open(name: &str, duplicate_window_ms: i64) -> Self {
        let db = TestDatabase::new(name).await;
        let conn = db::connect_and_migrate::<Migrator>(&db.url)
            .await
            .expect("store");
        Self {
            db,
            conn,
            vault: Vault::parse(PII_KEYS, PII_INDEX_KEY).expect("vault"),
            tickets: TicketFormat {
                prefix: "TS".into(),
                offset: FixedOffset::east_opt(0).expect("UTC"),
            },
            policy: Policy {
                duplicate_window_ms,
            },
        }
    }

    /// One batch in one transaction, on `conn`.
    async fn batch_on(&self, conn: &DatabaseConnection, contacts: &[NewContact]) -> Vec<Recorded> {
        let txn = conn.begin().await.expect("begin");
        let out = recording::record_batch(&txn, &self.vault, &self.tickets, &self.policy, contacts)
            .await
            .expect("record_batch");
        txn.commit().await.expect("commit");
        assert_eq!(out.len(), contacts.len());
        out
    }

    async fn batch(&self, contacts: &[NewContact]) -> Vec<Recorded> {
        self.batch_on(&self.conn, contacts).await
    }

    async fn strings(&self, sql: &str) -> Vec<String> {
        let rows = self
            .conn
            .query_all(Statement::from_string(
                self.conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect(sql);
        rows.iter()
            .map(|r| r.try_get_by_index::<String>(0).expect("a string column"))
            .collect()
    }

    async fn count(&self, sql: &str) -> i64 {
        let row = self
            .conn
            .query_one(Statement::from_string(
                self.conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect(sql)
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("a count")
    }

    async fn close(self) {
        let _ = self.conn.close().await;
        self.db.drop_pg().await;
    }
}

struct C<'a> {
    channel: &'a str,
    external_id: &'a str,
    phone: &'a str,
    email: &'a str,
    account: &'a str,
    category: &'a str,
    subject: &'a str,
    body: &'a str,
}

impl Default for C<'_> {
    fn default() -> Self {
        Self {
            channel: "app",
            external_id: "",
            phone: "",
            email: "",
            account: "",
            category: "",
            subject: "",
            body: "信号很差",
        }
    }
}

fn proto(c: &C) -> v1::ContactSubmitted {
    v1::ContactSubmitted {
        external_id: c.external_id.into(),
        customer: Some(v1::CustomerDetails {
            name: String::new(),
            phone: c.phone.into(),
            email: c.email.into(),
            account_id: c.account.into(),
            ..Default::default()
        }),
        subject: c.subject.into(),
        body: c.body.into(),
        category: c.category.into(),
        ..Default::default()
    }
}

fn contact(c: C) -> NewContact {
    contact::from_proto(c.channel, proto(&c)).expect("a valid contact")
}

fn reply(c: C, in_reply_to: &str, references: &[&str]) -> NewContact {
    let mut p = proto(&c);
    p.in_reply_to = in_reply_to.into();
    p.references = references.iter().map(|r| (*r).to_owned()).collect();
    contact::from_proto(c.channel, p).expect("a valid reply")
}

fn today() -> String {
    Utc::now().format("%Y%m%d").to_string()
}

#[tokio::test]
async fn one_batch_behaves_like_contacts_recorded_one_after_the_other() {
    let st = Store::open("intake_batch", 7 * DAY_MS).await;
    let day = today();
    let ticket = |n: u32| format!("TS-{day}-{n:06}");
    let contacts = vec![
        // 0: a new customer's complaint → ticket 1.
        contact(C {
            external_id: "a-1",
            phone: "13800000001",
            email: "p1@example.net",
            category: "network",
            subject: "Slow network",
            ..Default::default()
        }),
        // 1: the same contact again, inside the batch.
        contact(C {
            external_id: "a-1",
            phone: "13800000001",
            email: "p1@example.net",
            category: "network",
            subject: "Slow network",
            ..Default::default()
        }),
        // 2: the same customer (by phone) on another channel and category → ticket 2.
        contact(C {
            channel: "sms",
            external_id: "s-1",
            phone: "+86 138 0000 0001",
            category: "billing",
            body: "多收了话费",
            ..Default::default()
        }),
        // 3: an e-mail from another new customer → ticket 3.
        contact(C {
            channel: "email",
            external_id: "<m1@mail.example.net>",
            email: "p2@example.net",
            subject: "没有信号",
            ..Default::default()
        }),
        // 4: a reply to it, in the same batch → appended (email_reply).
        reply(
            C {
                channel: "email",
                external_id: "<m2@mail.example.net>",
                email: "p2@example.net",
                subject: "Re: 没有信号",
                body: "还是没有",
                ..Default::default()
            },
            "<m1@mail.example.net>",
            &[],
        ),
        // 5: a reply to the reply (References only), threaded through the contact key
        //    written by 4 → appended to ticket 3.
        reply(
            C {
                channel: "email",
                external_id: "<m3@mail.example.net>",
                email: "p2@example.net",
                subject: "Re: Re: 没有信号",
                body: "?",
                ..Default::default()
            },
            "",
            &["<m2@mail.example.net>"],
        ),
        // 6: the first customer again about the same open category → a duplicate of
        //    ticket 1; the account id is new to the customer record.
        contact(C {
            channel: "hotline",
            external_id: "call-1",
            phone: "13800000001",
            account: "ACC-1",
            category: "network",
            body: "又断网了",
            ..Default::default()
        }),
        // 7: a third customer citing ticket 2, opened earlier in this batch.
        contact(C {
            external_id: "a-2",
            phone: "13900000003",
            body: &format!("关于工单 {} 的补充", ticket(2)),
            ..Default::default()
        }),
        // 8: the account id alone now finds the first customer (merged by 6) → a new
        //    complaint of another category, ticket 4.
        contact(C {
            channel: "web_form",
            external_id: "w-1",
            account: "ACC-1",
            category: "product",
            ..Default::default()
        }),
    ];
    let r = st.batch(&contacts).await;

    let opened: Vec<&str> = r
        .iter()
        .filter(|x| x.created)
        .map(|x| x.ticket_no.as_str())
        .collect();
    assert_eq!(opened, [ticket(1), ticket(2), ticket(3), ticket(4)]);
    assert_eq!((r[0].created, r[0].ticket_no.as_str()), (true, &*ticket(1)));
    assert_eq!(r[1].complaint_id, r[0].complaint_id);
    assert!(!r[1].created && !r[1].appended && !r[1].threaded);
    assert_eq!(r[2].ticket_no, ticket(2));
    assert_eq!(r[3].ticket_no, ticket(3));
    for (i, t, reason) in [
        (4, 3, "email_reply"),
        (5, 3, "email_reply"),
        (6, 1, "duplicate"),
        (7, 2, "cited_ticket"),
    ] {
        assert_eq!(r[i].ticket_no, ticket(t), "contact {i}");
        assert!(
            !r[i].created && r[i].appended && r[i].threaded,
            "contact {i}: {:?}",
            r[i]
        );
        assert_eq!(r[i].linked_reason, reason, "contact {i}");
    }
    assert_eq!(r[8].ticket_no, ticket(4));

    // One customer record per person: 0, 2, 6 and 8 are one; 3, 4, 5 another; 7.
    let customer_of =
        |t: &str| format!("SELECT customer_id FROM complaints WHERE ticket_no = '{t}'");
    let c1 = st.strings(&customer_of(&ticket(1))).await;
    assert_eq!(c1, st.strings(&customer_of(&ticket(2))).await);
    assert_eq!(c1, st.strings(&customer_of(&ticket(4))).await);
    assert_ne!(c1, st.strings(&customer_of(&ticket(3))).await);
    assert_eq!(st.count("SELECT COUNT(*) FROM customer_records").await, 3);
    // The merged record holds the account id (encrypted) and its blind index.
    let acct = st
        .strings(&format!(
            "SELECT account_enc FROM customer_records WHERE customer_id = '{}'",
            c1[0]
        ))
        .await;
    assert!(acct[0].starts_with("v1:t2:"), "{acct:?}");
    assert_eq!(
        st.count(&format!(
            "SELECT COUNT(*) FROM customer_records WHERE customer_id = '{}' AND account_bidx <> '' AND phone_bidx <> '' AND email_bidx <> ''",
            c1[0]
        ))
        .await,
        1
    );

    // Versions, history and the thread.
    let versions: BTreeMap<String, String> = st
        .strings(
            "SELECT ticket_no || ':' || CAST(version AS TEXT) || ':' || status FROM complaints",
        )
        .await
        .into_iter()
        .map(|s| {
            let (t, rest) = s.split_once(':').expect("t:v:s");
            (t.to_owned(), rest.to_owned())
        })
        .collect();
    assert_eq!(versions[&ticket(1)], "2:received");
    assert_eq!(versions[&ticket(2)], "2:received");
    assert_eq!(versions[&ticket(3)], "3:received");
    assert_eq!(versions[&ticket(4)], "1:received");
    assert_eq!(st.count("SELECT COUNT(*) FROM complaints").await, 4);
    assert_eq!(st.count("SELECT COUNT(*) FROM history").await, 8);
    assert_eq!(st.count("SELECT COUNT(*) FROM messages").await, 4);
    assert_eq!(st.count("SELECT COUNT(*) FROM contact_keys").await, 4);
    assert_eq!(
        st.strings("SELECT CAST(last AS TEXT) FROM ticket_counters")
            .await,
        ["4"]
    );
    // Search terms are keyed hashes, and the marker says the complaint is indexed.
    let mut terms =
        ombuds_intake::search::query_terms(&st.vault, &["slow".into(), "network".into()]);
    terms.push(st.vault.search_marker().to_owned());
    let listed: Vec<String> = terms.iter().map(|t| format!("'{t}'")).collect();
    assert_eq!(
        st.count(&format!(
            "SELECT COUNT(*) FROM search_terms t JOIN complaints c ON c.complaint_id = t.complaint_id \
             WHERE c.ticket_no = '{}' AND t.term IN ({})",
            ticket(1),
            listed.join(", ")
        ))
        .await,
        3
    );

    // The outbox, in contact order.
    let events = st.strings("SELECT msg_type FROM outbox ORDER BY id").await;
    let (rec, msg) = (v1::ComplaintReceived::TYPE, v1::ComplaintMessageAdded::TYPE);
    assert_eq!(events, [rec, rec, rec, msg, msg, msg, msg, rec]);
    let payloads = st
        .conn
        .query_all(Statement::from_string(
            st.conn.get_database_backend(),
            format!("SELECT payload FROM outbox WHERE msg_type = '{msg}' ORDER BY id"),
        ))
        .await
        .expect("payloads");
    let added: Vec<(String, u64)> = payloads
        .iter()
        .map(|row| {
            let e = v1::ComplaintMessageAdded::decode(
                row.try_get_by_index::<Vec<u8>>(0)
                    .expect("bytes")
                    .as_slice(),
            )
            .expect("an event");
            let m = e.meta.expect("meta");
            (m.ticket_no, m.complaint_version)
        })
        .collect();
    assert_eq!(
        added,
        [
            (ticket(3), 2),
            (ticket(3), 3),
            (ticket(1), 2),
            (ticket(2), 2)
        ]
    );

    // A later batch: repeats answer as before, a new contact takes the next number.
    let again = st
        .batch(&[
            contacts[0].clone(),
            contacts[4].clone(),
            contact(C {
                external_id: "a-3",
                phone: "13900000004",
                ..Default::default()
            }),
        ])
        .await;
    assert_eq!(again[0].complaint_id, r[0].complaint_id);
    assert!(!again[0].created && !again[0].threaded);
    assert_eq!(again[1].ticket_no, ticket(3));
    assert!(!again[1].created && !again[1].appended && again[1].threaded);
    assert_eq!(again[1].linked_reason, "email_reply");
    assert_eq!(again[2].ticket_no, ticket(5));
    assert!(again[2].created);
    assert_eq!(st.count("SELECT COUNT(*) FROM messages").await, 4);
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_changing_the_complaint_meanwhile_is_not_overwritten() {
    let st = Store::open("intake_batch_agent", 7 * DAY_MS).await;
    let first = st
        .batch(&[contact(C {
            external_id: "a-1",
            phone: "13800000009",
            category: "network",
            ..Default::default()
        })])
        .await;
    let id = first[0].complaint_id.clone();
    // An agent acknowledges the complaint (version 2) in a transaction that is still
    // open while a duplicate of it is recorded: on PostgreSQL the batch reads version 1,
    // its conditional update waits for the agent, finds version 2 and the batch is
    // recorded again; on SQLite the batch waits for the agent's write lock.
    let agent = db::connect(&st.db.url).await.expect("agent's connection");
    let txn = agent.begin().await.expect("begin");
    let backend = txn.get_database_backend();
    txn.execute(Statement::from_string(
        backend,
        format!(
            "UPDATE complaints SET version = 2, status = 'in_progress' WHERE complaint_id = '{id}'"
        ),
    ))
    .await
    .expect("agent's update");
    txn.execute(Statement::from_string(
        backend,
        format!(
            "INSERT INTO history (complaint_id, version, from_status, to_status, action, actor, reason, at) \
             VALUES ('{id}', 2, 'received', 'in_progress', 'acknowledge', 'agent-1', '', 0)"
        ),
    ))
    .await
    .expect("agent's history");
    let duplicate = [contact(C {
        channel: "sms",
        external_id: "s-1",
        phone: "13800000009",
        category: "network",
        body: "还是不行",
        ..Default::default()
    })];
    let (r, ()) = tokio::join!(st.batch(&duplicate), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        txn.commit().await.expect("agent commits");
    });
    assert_eq!(r[0].complaint_id, id);
    assert!(r[0].appended && r[0].linked_reason == "duplicate");
    assert_eq!(r[0].status, "in_progress");
    assert_eq!(
        st.strings(&format!(
            "SELECT CAST(version AS TEXT) || ':' || status FROM complaints WHERE complaint_id = '{id}'"
        ))
        .await,
        ["3:in_progress"]
    );
    assert_eq!(
        st.strings(&format!(
            "SELECT CAST(version AS TEXT) || ':' || action FROM history WHERE complaint_id = '{id}' ORDER BY version"
        ))
        .await,
        ["1:receive", "2:acknowledge", "3:customer_responded"]
    );
    let _ = agent.close().await;
    st.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_recorders_at_once_give_one_complaint_per_contact_and_gap_free_tickets() {
    const N: usize = 300;
    let st = Store::open("intake_batch_race", 0).await;
    let other = db::connect(&st.db.url).await.expect("second connection");
    // Both recorders get every contact, in batches of 30, one front to back and the
    // other back to front; two contacts share each phone number.
    let all: Vec<NewContact> = (0..N)
        .map(|i| {
            contact(C {
                external_id: &format!("x-{i}"),
                phone: &format!("137{:08}", i / 2),
                ..Default::default()
            })
        })
        .collect();
    let reversed: Vec<NewContact> = all.iter().rev().cloned().collect();
    let (a, b) = tokio::join!(
        async {
            let mut created = 0;
            for chunk in all.chunks(30) {
                created += st.batch(chunk).await.iter().filter(|r| r.created).count();
            }
            created
        },
        async {
            let mut created = 0;
            for chunk in reversed.chunks(30) {
                created += st
                    .batch_on(&other, chunk)
                    .await
                    .iter()
                    .filter(|r| r.created)
                    .count();
            }
            created
        }
    );
    assert_eq!(a + b, N, "each contact opened exactly one complaint");
    assert_eq!(
        st.count("SELECT COUNT(DISTINCT external_id) FROM complaints")
            .await,
        N as i64
    );
    assert_eq!(st.count("SELECT COUNT(*) FROM complaints").await, N as i64);
    let day = today();
    let tickets: BTreeSet<String> = st
        .strings("SELECT ticket_no FROM complaints")
        .await
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = (1..=N).map(|n| format!("TS-{day}-{n:06}")).collect();
    assert_eq!(
        tickets, expected,
        "ticket numbers 1..{N}, no gap, no repeat"
    );
    assert_eq!(
        st.count("SELECT COUNT(*) FROM customer_records").await,
        (N / 2) as i64,
        "one customer per phone number"
    );
    let _ = other.close().await;
    st.close().await;
}

#[tokio::test]
async fn a_backlog_with_bad_contacts_records_the_valid_ones_and_dead_letters_the_rest() {
    let good = |i: usize| {
        proto(&C {
            external_id: &format!("g-{i}"),
            phone: &format!("136{:08}", i),
            category: "network",
            ..Default::default()
        })
        .encode_to_vec()
    };
    let mut waiting: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..40 {
        waiting.push(("intake.app".into(), good(i)));
        match i {
            5 => waiting.push(("intake.app".into(), vec![0xff, 0x01, 0x02, 0x88])),
            10 => waiting.push((
                "intake.sms".into(),
                br#"{"external_id": "j-1", "body": "no customer"}"#.to_vec(),
            )),
            15 => waiting.push((
                "intake.app".into(),
                proto(&C {
                    external_id: "bad-category",
                    phone: "13500000000",
                    category: "weather",
                    ..Default::default()
                })
                .encode_to_vec(),
            )),
            // Repeats, within the backlog.
            20 | 30 => waiting.push(("intake.app".into(), good(i - 10))),
            _ => {}
        }
    }
    let it = Intake::start_after("intake_batch_backlog", &[], &waiting).await;
    let conn = sea_orm::Database::connect(it.db.url.clone())
        .await
        .expect("read the store");
    let count = |sql: &'static str| {
        let conn = conn.clone();
        async move {
            conn.query_one(Statement::from_string(
                conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no row")?
            .try_get_by_index::<i64>(0)
            .map_err(|e| e.to_string())
        }
    };
    wait_until("40 complaints", WAIT, || async {
        match count("SELECT COUNT(*) FROM complaints").await? {
            40 => Ok(()),
            n => Err(format!("{n} so far")),
        }
    })
    .await;
    let dlq = it.js.get_stream("DLQ").await.expect("DLQ stream");
    let letters = wait_until("3 dead letters", WAIT, || {
        let dlq = dlq.clone();
        async move {
            let info = dlq.clone().get_info().await.map_err(|e| e.to_string())?;
            if info.state.messages < 3 {
                return Err(format!("{} so far", info.state.messages));
            }
            let mut out = Vec::new();
            for seq in info.state.first_sequence..=info.state.last_sequence {
                let m = dlq.get_raw_message(seq).await.map_err(|e| e.to_string())?;
                let letter = v1::DeadLetter::decode(m.payload).map_err(|e| e.to_string())?;
                out.push((m.subject.to_string(), letter));
            }
            Ok(out)
        }
    })
    .await;
    let mut seen: Vec<(String, String)> = letters
        .iter()
        .map(|(s, l)| (s.clone(), l.error.clone()))
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].0, "dlq.intake.decode");
    assert!(seen[0].1.contains("ContactSubmitted"), "{}", seen[0].1);
    assert_eq!(seen[1].0, "dlq.intake.invalid");
    assert_eq!(seen[2].0, "dlq.intake.invalid");
    let errors = format!("{} | {}", seen[1].1, seen[2].1);
    assert!(errors.contains("customer"), "{errors}");
    assert!(errors.contains("weather"), "{errors}");
    // Nothing of the bad contacts was written; the valid ones once each, numbered 1..40.
    assert_eq!(
        count("SELECT COUNT(*) FROM complaints WHERE external_id IN ('j-1', 'bad-category')")
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT ticket_no) FROM complaints")
            .await
            .expect("count"),
        40
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM customer_records")
            .await
            .expect("count"),
        40
    );
    let last = count("SELECT MAX(last) FROM ticket_counters")
        .await
        .expect("count");
    assert_eq!(last, 40);
    // Every new complaint's complaint.received reaches the COMPLAINTS stream.
    let complaints = it.js.get_stream("COMPLAINTS").await.expect("COMPLAINTS");
    wait_until("40 complaint.received", WAIT, || {
        let complaints = complaints.clone();
        async move {
            let info = complaints
                .clone()
                .get_info()
                .await
                .map_err(|e| e.to_string())?;
            match info.state.messages {
                40 => Ok(()),
                n => Err(format!("{n} so far")),
            }
        }
    })
    .await;
    let _ = conn.close().await;
    it.stop().await;
}
