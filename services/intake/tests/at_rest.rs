//! Free text at rest, against intake running in-process with a real nats-server and a
//! fresh store (SQLite, or PostgreSQL when OMBUDS_TEST_DATABASE_URL is set):
//!
//! - contacts (gRPC and HTTP, one threaded into another) and every agent action that
//!   carries text, with a known name, phone, e-mail and account id, then every column of
//!   every table read with SQL: none of it in plaintext (the free text in the outbox's
//!   event payloads excepted, which events carry redacted by design), while `Get`, the
//!   HTTP route and `Search` still answer the text;
//! - key rotation: text written under key `a` reads after `b` becomes the writing key
//!   with `a` kept, new text is written under `b`, and without `a` it does not read;
//! - a store of an earlier version (plaintext text, plaintext search terms, a complaint
//!   never indexed) is encrypted and re-indexed at start, and a second run has nothing
//!   to do.

mod support;

use std::collections::BTreeSet;

use ombuds_intake::{
    crypto::{CryptoError, Vault},
    sealing, search,
};
use ombuds_platform::pii;
use ombuds_proto::v1::{self, get_complaint_request::Key};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use support::{Client, Intake, PII_INDEX_KEY, PII_KEYS};

const NAME: &str = "欧阳娜娜";
const PHONE: &str = "13987654321";
const EMAIL: &str = "ouyang.nana@example.org";
const ACCOUNT: &str = "wx-openid-7f3a9c2b";
const HANDLE: &str = "oWeChatOpenId9x7Q";
const ADDRESS: &str = "浦东新区世纪大道一百号";

const SUBJECT: &str = "宽带故障投诉";
const NOTE: &str = "内部备注客户情绪激动需要安抚";
const REPLY: &str = "已安排高级工程师明天上午上门检修";
const AWAITING: &str = "等待客户确认上门时间段";
const RESOLUTION: [&str; 3] = [
    "更换光猫后网络恢复正常",
    "光猫老化导致频繁掉线",
    "每季度巡检小区光猫设备",
];
const SATISFACTION: &str = "师傅服务非常专业态度好";
const REOPEN: &str = "客户反映周末再次掉线需复查";
const ENGLISH: &str = "The fibre router overheated and melted its casing";

fn body() -> String {
    format!("我是{NAME}，住在{ADDRESS}，我家宽带每天晚上断线，请拨打{PHONE}或写信到{EMAIL}联系我")
}

fn responded() -> String {
    format!("明天上午十点可以上门，电话{PHONE}")
}

fn threaded(ticket: &str) -> String {
    format!("关于工单{ticket}：夜间依旧频繁掉线严重")
}

/// Everything that must never be stored in plaintext.
fn secrets() -> Vec<String> {
    let mut s: Vec<String> = [
        NAME,
        PHONE,
        EMAIL,
        ACCOUNT,
        HANDLE,
        ADDRESS,
        SUBJECT,
        NOTE,
        REPLY,
        AWAITING,
        SATISFACTION,
        REOPEN,
        ENGLISH,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    s.extend(RESOLUTION.iter().map(|s| (*s).to_owned()));
    s.extend([
        "我家宽带每天晚上断线".into(),
        "明天上午十点可以上门".into(),
        "夜间依旧频繁掉线严重".into(),
        // The phone in its international form, as the customer record normalises it.
        "+8613987654321".into(),
        "ouyang.nana".into(),
        "fibre router".into(),
    ]);
    s
}

/// The customer's identifiers: not even the events in the outbox carry them, though
/// the body repeats the name and the address.
fn identifiers() -> [&'static str; 7] {
    [NAME, PHONE, EMAIL, ACCOUNT, HANDLE, ADDRESS, "ouyang.nana"]
}

fn customer() -> v1::CustomerDetails {
    v1::CustomerDetails {
        name: NAME.into(),
        phone: PHONE.into(),
        email: EMAIL.into(),
        account_id: ACCOUNT.into(),
        social: [("wechat".to_owned(), HANDLE.to_owned())].into(),
        address: ADDRESS.into(),
    }
}

async fn submit(client: &Client, external_id: &str, subject: &str, body: &str) -> (String, String) {
    let r = client
        .clone()
        .submit(v1::SubmitRequest {
            channel: "web_form".into(),
            contact: Some(v1::ContactSubmitted {
                external_id: external_id.into(),
                customer: Some(customer()),
                subject: subject.into(),
                body: body.into(),
                kind: "complaint".into(),
                category: "network".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("submit")
        .into_inner();
    (r.ticket_no, r.complaint_id)
}

async fn get(client: &Client, ticket: &str) -> Result<v1::Complaint, tonic::Status> {
    client
        .clone()
        .get(v1::GetComplaintRequest {
            key: Some(Key::TicketNo(ticket.into())),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn search(client: &Client, query: &str) -> BTreeSet<String> {
    client
        .clone()
        .search(v1::SearchComplaintsRequest {
            query: query.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner()
        .complaints
        .into_iter()
        .map(|c| c.ticket_no)
        .collect()
}

macro_rules! req {
    ($ty:ident, $ticket:expr $(, $field:ident : $value:expr)* $(,)?) => {
        v1::$ty {
            ticket_no: $ticket.to_owned(),
            complaint_id: String::new(),
            expected_version: 0,
            actor: "agent-9".into(),
            $($field: $value,)*
        }
    };
}

/// Every value of every column of every table, as (table.column, bytes).
async fn dump(db: &DatabaseConnection) -> Vec<(String, Vec<u8>)> {
    let backend = db.get_database_backend();
    let q = |sql: String| Statement::from_string(backend, sql);
    let mut columns: Vec<(String, String, bool)> = Vec::new();
    if backend == DbBackend::Postgres {
        for r in db
            .query_all(q(
                "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty \
                 FROM information_schema.columns WHERE table_schema = current_schema()"
                    .into(),
            ))
            .await
            .expect("columns")
        {
            let get = |n: &str| r.try_get::<String>("", n).expect(n);
            columns.push((get("t"), get("c"), get("ty") == "bytea"));
        }
    } else {
        let tables = db
            .query_all(q(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                    .into(),
            ))
            .await
            .expect("tables");
        for t in tables {
            let t: String = t.try_get("", "name").expect("name");
            for c in db
                .query_all(q(format!("PRAGMA table_info(\"{t}\")")))
                .await
                .expect("table_info")
            {
                let name: String = c.try_get("", "name").expect("column");
                let ty: String = c.try_get("", "type").expect("type");
                columns.push((t.clone(), name, ty.eq_ignore_ascii_case("blob")));
            }
        }
    }
    let tables: BTreeSet<&str> = columns.iter().map(|(t, _, _)| t.as_str()).collect();
    for t in [
        "complaints",
        "messages",
        "history",
        "search_terms",
        "customer_records",
        "customer_handles",
        "outbox",
    ] {
        assert!(tables.contains(t), "no table {t} in {tables:?}");
    }
    for (t, c) in [
        ("complaints", "subject"),
        ("complaints", "body"),
        ("messages", "body"),
        ("history", "reason"),
        ("search_terms", "term"),
        ("customer_records", "name_enc"),
        ("customer_records", "address_enc"),
        ("customer_records", "social_enc"),
    ] {
        assert!(
            columns
                .iter()
                .any(|(tt, cc, blob)| tt == t && cc == c && !blob),
            "{t}.{c} not read as text"
        );
    }
    assert!(
        columns
            .iter()
            .any(|(t, c, blob)| t == "outbox" && c == "payload" && *blob),
        "outbox.payload not read as bytes"
    );
    let mut out = Vec::new();
    for (t, c, blob) in &columns {
        let at = format!("{t}.{c}");
        if *blob {
            for r in db
                .query_all(q(format!("SELECT \"{c}\" AS v FROM \"{t}\"")))
                .await
                .expect("select blob")
            {
                let v: Option<Vec<u8>> = r.try_get("", "v").expect("blob");
                out.push((at.clone(), v.unwrap_or_default()));
            }
        } else {
            for r in db
                .query_all(q(format!("SELECT CAST(\"{c}\" AS TEXT) AS v FROM \"{t}\"")))
                .await
                .expect("select")
            {
                let v: Option<String> = r.try_get("", "v").expect("text");
                out.push((at.clone(), v.unwrap_or_default().into_bytes()));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn raw(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect(sql)
        .iter()
        .map(|r| r.try_get::<String>("", "v").expect("v"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_in_any_table_yet_get_and_search_answer_the_text() {
    let it = Intake::start("intake_at_rest", &[("OMBUDS_DUPLICATE_WINDOW", "0s")]).await;
    let cl = it.client.clone();
    let (ticket, _) = submit(&cl, "form-1", SUBJECT, &body()).await;
    // The same person over HTTP, in English.
    let http = reqwest::Client::new()
        .post(format!("http://{}/v1/contacts/app", it.http))
        .json(&serde_json::json!({
            "external_id": "mail-1",
            "customer": {"name": NAME, "phone": PHONE, "email": EMAIL},
            "subject": "Broken router",
            "body": format!("{ENGLISH}. Reach me at {EMAIL}"),
            "category": "product",
        }))
        .send()
        .await
        .expect("POST contact");
    assert!(http.status().is_success(), "{}", http.status());
    let english: serde_json::Value = http.json().await.expect("json");
    let english_ticket = english["ticket_no"].as_str().expect("ticket_no").to_owned();

    let mut c = cl.clone();
    c.acknowledge(req!(AcknowledgeRequest, &ticket))
        .await
        .expect("acknowledge");
    c.add_note(req!(AddNoteRequest, &ticket, text: NOTE.into()))
        .await
        .expect("note");
    c.reply(req!(ReplyRequest, &ticket, text: REPLY.into()))
        .await
        .expect("reply");
    // A follow-up citing the ticket is threaded into it as a customer message.
    let (threaded_ticket, _) = submit(&cl, "form-2", "", &threaded(&ticket)).await;
    assert_eq!(threaded_ticket, ticket);
    c.set_awaiting_customer(req!(SetAwaitingCustomerRequest, &ticket, reason: AWAITING.into()))
        .await
        .expect("awaiting customer");
    c.customer_responded(req!(CustomerRespondedRequest, &ticket, text: responded()))
        .await
        .expect("customer responded");
    c.resolve(req!(ResolveRequest, &ticket,
        result: RESOLUTION[0].into(), cause: RESOLUTION[1].into(),
        measures: RESOLUTION[2].into(), first_contact: false))
        .await
        .expect("resolve");
    c.record_satisfaction(req!(RecordSatisfactionRequest, &ticket,
        score: 2, comment: SATISFACTION.into()))
        .await
        .expect("satisfaction");
    c.reopen(req!(ReopenRequest, &ticket, reason: REOPEN.into()))
        .await
        .expect("reopen");

    // The API answers the text.
    let got = get(&cl, &ticket).await.expect("get");
    assert_eq!(
        (got.subject.as_str(), got.body.as_str()),
        (SUBJECT, body().as_str())
    );
    let texts: Vec<&str> = got.messages.iter().map(|m| m.text.as_str()).collect();
    let follow_up = threaded(&ticket);
    let responded = responded();
    assert_eq!(
        texts,
        [NOTE, REPLY, follow_up.as_str(), responded.as_str()],
        "the thread, oldest first"
    );
    let reasons: Vec<&str> = got.history.iter().map(|h| h.reason.as_str()).collect();
    for r in [AWAITING, REOPEN] {
        assert!(reasons.contains(&r), "{r} in {reasons:?}");
    }
    let res = got.resolution.clone().expect("resolution");
    assert_eq!(
        [
            res.result.as_str(),
            res.cause.as_str(),
            res.measures.as_str()
        ],
        RESOLUTION
    );
    assert_eq!(
        got.satisfaction.expect("satisfaction").comment,
        SATISFACTION
    );
    let page: serde_json::Value =
        reqwest::get(format!("http://{}/v1/complaints/{ticket}", it.http))
            .await
            .expect("GET complaint")
            .json()
            .await
            .expect("json");
    assert_eq!(page["body"], body().as_str());
    assert_eq!(page["messages"][1]["text"], REPLY);
    let listed = cl
        .clone()
        .list(v1::ListComplaintsRequest {
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed
        .complaints
        .iter()
        .any(|c| c.subject == SUBJECT && c.body == body()));
    // Search over hashed terms: a word inside a sentence, the reply, the English text.
    let one = |t: &str| BTreeSet::from([t.to_owned()]);
    assert_eq!(search(&cl, "断线").await, one(&ticket));
    assert_eq!(search(&cl, "宽带 故障").await, one(&ticket));
    assert_eq!(search(&cl, "高级工程师").await, one(&ticket));
    assert_eq!(search(&cl, "router overheated").await, one(&english_ticket));
    assert_eq!(search(&cl, "FIBRE").await, one(&english_ticket));
    assert!(search(&cl, "宽带 router").await.is_empty());

    // The raw rows: no plaintext anywhere.
    let conn = Database::connect(it.db.url.as_str())
        .await
        .expect("connect");
    let rows = dump(&conn).await;
    let mut outbox_payloads = 0;
    for (at, value) in &rows {
        if at == "outbox.payload" {
            // Events carry the text redacted (masked phone and e-mail), never the
            // customer's identifiers.
            outbox_payloads += 1;
            for s in identifiers() {
                assert!(!contains(value, s), "{s:?} in plaintext in {at}");
            }
            continue;
        }
        for s in secrets() {
            assert!(!contains(value, &s), "{s:?} in plaintext in {at}");
        }
    }
    assert!(
        outbox_payloads >= 10,
        "{outbox_payloads} events in the outbox"
    );
    // The text columns hold ciphertext under the writing key.
    for sql in [
        "SELECT subject AS v FROM complaints WHERE subject <> ''",
        "SELECT body AS v FROM complaints",
        "SELECT resolution_result AS v FROM complaints WHERE resolution_result <> ''",
        "SELECT satisfaction_comment AS v FROM complaints WHERE satisfaction_comment <> ''",
        "SELECT body AS v FROM messages",
        "SELECT reason AS v FROM history WHERE reason <> ''",
    ] {
        let values = raw(&conn, sql).await;
        assert!(!values.is_empty(), "{sql}");
        for v in values {
            assert!(
                v.starts_with("v1:t2:") && Vault::is_sealed(&v),
                "{sql}: {v}"
            );
        }
    }
    // The index: fixed-width keyed hashes and the marker, nothing else.
    let vault = Vault::parse(PII_KEYS, PII_INDEX_KEY).expect("vault");
    for term in raw(&conn, "SELECT term AS v FROM search_terms").await {
        assert!(
            term == vault.search_marker()
                || (term.len() == 11
                    && term
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')),
            "search term {term:?}"
        );
    }
    let _ = conn.close().await;
    it.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_written_under_an_old_key_reads_after_rotation() {
    const KEY_A: &str = "a:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    const KEY_B: &str = "b:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let it = Intake::start(
        "intake_text_rotation",
        &[
            ("OMBUDS_PII_KEYS", KEY_A),
            ("OMBUDS_DUPLICATE_WINDOW", "0s"),
        ],
    )
    .await;
    let (old, _) = submit(&it.client, "form-a", SUBJECT, &body()).await;
    it.client
        .clone()
        .reply(req!(ReplyRequest, &old, text: REPLY.into()))
        .await
        .expect("reply under a");
    let conn = Database::connect(it.db.url.as_str())
        .await
        .expect("connect");
    let bodies = raw(&conn, "SELECT body AS v FROM complaints").await;
    assert!(bodies.iter().all(|b| b.starts_with("v1:a:")), "{bodies:?}");
    let _ = conn.close().await;

    // b writes, a still decrypts.
    let keys = format!("{KEY_B},{KEY_A}");
    let it = it
        .restart(&[
            ("OMBUDS_PII_KEYS", &keys),
            ("OMBUDS_DUPLICATE_WINDOW", "0s"),
        ])
        .await;
    let got = get(&it.client, &old).await.expect("get after rotation");
    assert_eq!(
        (got.subject.as_str(), got.body.as_str()),
        (SUBJECT, body().as_str())
    );
    assert_eq!(got.messages[0].text, REPLY);
    let (new, _) = submit(&it.client, "form-b", "", ENGLISH).await;
    it.client
        .clone()
        .add_note(req!(AddNoteRequest, &old, text: NOTE.into()))
        .await
        .expect("note under b");
    let got = get(&it.client, &old).await.expect("get");
    let texts: Vec<&str> = got.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, [REPLY, NOTE]);
    // The index key did not change: old and new text are both found.
    assert_eq!(
        search(&it.client, "断线").await,
        BTreeSet::from([old.clone()])
    );
    assert_eq!(
        search(&it.client, "router").await,
        BTreeSet::from([new.clone()])
    );
    let conn = Database::connect(it.db.url.as_str())
        .await
        .expect("connect");
    let mut messages = raw(&conn, "SELECT body AS v FROM messages").await;
    messages.sort();
    assert_eq!(messages.len(), 2);
    assert!(messages[0].starts_with("v1:a:") && messages[1].starts_with("v1:b:"));
    let bodies = raw(&conn, "SELECT body AS v FROM complaints").await;
    assert_eq!(
        bodies.iter().filter(|b| b.starts_with("v1:b:")).count(),
        1,
        "{bodies:?}"
    );
    let _ = conn.close().await;

    // Without a: the old complaint's text does not read (the log names key id a).
    let it = it
        .restart(&[
            ("OMBUDS_PII_KEYS", KEY_B),
            ("OMBUDS_DUPLICATE_WINDOW", "0s"),
        ])
        .await;
    let err = get(&it.client, &old).await.expect_err("a is gone");
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");
    let only_b = Vault::parse(KEY_B, PII_INDEX_KEY).expect("vault");
    let conn = Database::connect(it.db.url.as_str())
        .await
        .expect("connect");
    let under_a: Vec<String> = raw(&conn, "SELECT body AS v FROM complaints")
        .await
        .into_iter()
        .filter(|b| b.starts_with("v1:a:"))
        .collect();
    assert_eq!(
        only_b.open_text(&under_a[0]),
        Err(CryptoError::UnknownKey("a".into()))
    );
    let _ = conn.close().await;
    it.stop().await;
}

/// Earlier versions' index rows: the plaintext terms of `text` and the empty marker.
fn legacy_terms(text: &str) -> Vec<String> {
    let mut t = search::tokenize(&pii::redact_text(text));
    t.push(String::new());
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_versions_plaintext_is_encrypted_and_reindexed_at_start() {
    let it = Intake::start(
        "intake_seal_migration",
        &[("OMBUDS_DUPLICATE_WINDOW", "0s")],
    )
    .await;
    let (t1, id1) = submit(&it.client, "form-1", SUBJECT, &body()).await;
    let (t2, id2) = submit(&it.client, "form-2", "", ENGLISH).await;
    // A plaintext that merely starts like a ciphertext is plaintext all the same.
    let tricky = "v1:not:a ciphertext 投诉信号差";
    let (t3, id3) = submit(&it.client, "form-3", "", tricky).await;
    let mut c = it.client.clone();
    c.reply(req!(ReplyRequest, &t1, text: REPLY.into()))
        .await
        .expect("reply");
    c.set_awaiting_customer(req!(SetAwaitingCustomerRequest, &t1, reason: AWAITING.into()))
        .await
        .expect("awaiting");
    let (nats, db) = it.stop_keeping_store().await;

    // Turn the store into what an earlier version wrote: plaintext text, plaintext
    // terms under the empty marker, and one complaint never indexed at all.
    let conn = Database::connect(db.url.as_str()).await.expect("connect");
    let backend = conn.get_database_backend();
    let p = |i: usize| match backend {
        DbBackend::Postgres => format!("${i}"),
        _ => "?".to_owned(),
    };
    let exec = |sql: String, values: Vec<sea_orm::Value>| {
        let conn = &conn;
        async move {
            conn.execute(Statement::from_sql_and_values(backend, &sql, values))
                .await
                .expect(&sql);
        }
    };
    for (id, subject, text) in [
        (&id1, SUBJECT, body()),
        (&id2, "", ENGLISH.into()),
        (&id3, "", tricky.into()),
    ] {
        exec(
            format!(
                "UPDATE complaints SET subject = {}, body = {} WHERE complaint_id = {}",
                p(1),
                p(2),
                p(3)
            ),
            vec![subject.into(), text.clone().into(), id.clone().into()],
        )
        .await;
    }
    exec(
        format!(
            "UPDATE messages SET body = {} WHERE complaint_id = {}",
            p(1),
            p(2)
        ),
        vec![REPLY.into(), id1.clone().into()],
    )
    .await;
    exec(
        format!(
            "UPDATE history SET reason = {} WHERE action = 'set_awaiting_customer'",
            p(1)
        ),
        vec![AWAITING.into()],
    )
    .await;
    exec("DELETE FROM search_terms".into(), vec![]).await;
    let mut legacy = Vec::new();
    legacy.extend(
        legacy_terms(&format!("{SUBJECT}\n{}", body()))
            .into_iter()
            .map(|t| (t, id1.clone())),
    );
    legacy.extend(legacy_terms(REPLY).into_iter().map(|t| (t, id1.clone())));
    legacy.extend(
        legacy_terms(&format!("\n{ENGLISH}"))
            .into_iter()
            .map(|t| (t, id2.clone())),
    );
    legacy.sort();
    legacy.dedup();
    for (term, id) in &legacy {
        exec(
            format!(
                "INSERT INTO search_terms (term, complaint_id) VALUES ({}, {})",
                p(1),
                p(2)
            ),
            vec![term.clone().into(), id.clone().into()],
        )
        .await;
    }
    assert!(!raw(&conn, "SELECT body AS v FROM complaints")
        .await
        .iter()
        .any(|b| Vault::is_sealed(b)));
    let _ = conn.close().await;

    // The start migrates before serving.
    let it = Intake::start_on(nats, db, &[("OMBUDS_DUPLICATE_WINDOW", "0s")]).await;
    let conn = Database::connect(it.db.url.as_str())
        .await
        .expect("connect");
    let vault = Vault::parse(PII_KEYS, PII_INDEX_KEY).expect("vault");
    let bodies = raw(&conn, "SELECT body AS v FROM complaints").await;
    assert_eq!(bodies.len(), 3);
    let mut opened: Vec<String> = bodies
        .iter()
        .map(|b| {
            assert!(b.starts_with("v1:t2:"), "{b}");
            vault.open_text(b).expect("decrypts")
        })
        .collect();
    opened.sort();
    let mut want = vec![body(), ENGLISH.to_owned(), tricky.to_owned()];
    want.sort();
    assert_eq!(opened, want);
    for sql in [
        "SELECT subject AS v FROM complaints WHERE subject <> ''",
        "SELECT body AS v FROM messages",
        "SELECT reason AS v FROM history WHERE reason <> ''",
    ] {
        for v in raw(&conn, sql).await {
            assert!(v.starts_with("v1:t2:"), "{sql}: {v}");
        }
    }
    let terms = raw(&conn, "SELECT term AS v FROM search_terms").await;
    for (legacy_term, _) in &legacy {
        assert!(
            !terms.contains(legacy_term),
            "plaintext term {legacy_term:?} left"
        );
    }
    let markers = terms.iter().filter(|t| *t == vault.search_marker()).count();
    assert_eq!(
        markers, 3,
        "every complaint re-indexed, the never-indexed one too"
    );
    let rows = dump(&conn).await;
    for (at, value) in &rows {
        if at == "outbox.payload" {
            continue;
        }
        for s in [
            SUBJECT,
            REPLY,
            AWAITING,
            ENGLISH,
            "投诉信号差",
            "我家宽带每天晚上断线",
        ] {
            assert!(!contains(value, s), "{s:?} in plaintext in {at}");
        }
    }
    // Reads and search answer as before.
    let got = get(&it.client, &t1).await.expect("get");
    assert_eq!(
        (got.subject.as_str(), got.body.as_str()),
        (SUBJECT, body().as_str())
    );
    assert_eq!(got.messages[0].text, REPLY);
    assert!(got.history.iter().any(|h| h.reason == AWAITING));
    assert_eq!(get(&it.client, &t3).await.expect("get").body, tricky);
    assert_eq!(
        search(&it.client, "断线").await,
        BTreeSet::from([t1.clone()])
    );
    assert_eq!(
        search(&it.client, "工程师").await,
        BTreeSet::from([t1.clone()])
    );
    assert_eq!(
        search(&it.client, "melted").await,
        BTreeSet::from([t2.clone()])
    );
    assert_eq!(
        search(&it.client, "信号差").await,
        BTreeSet::from([t3.clone()])
    );

    // Idempotent: a second run finds nothing to do and changes nothing.
    let _ = conn.close().await;
    let (_nats, db) = it.stop_keeping_store().await;
    let conn = Database::connect(db.url.as_str()).await.expect("connect");
    let before = dump(&conn).await;
    let again = sealing::migrate(&conn, &vault).await.expect("migrate");
    assert_eq!(again, sealing::Migrated::default());
    assert_eq!(dump(&conn).await, before);
    let _ = conn.close().await;
    db.drop_pg().await;
}
