//! Queries against intake running in-process (real nats-server, a fresh store: SQLite,
//! or PostgreSQL when OMBUDS_TEST_DATABASE_URL is set): full-text search over Chinese
//! and English complaints (whole words inside Chinese sentences, AND of terms, no
//! personal data in the index), `List` filters by kind, priority and date range,
//! pagination over more than one page, bad filters naming the field, and the HTTP
//! routes `GET /v1/search` and `GET /v1/complaints`.

use std::{collections::BTreeSet, time::Duration};

use ombuds_intake::{run, Settings};
use ombuds_platform::{config::Config, shutdown::CancellationToken, time};
use ombuds_proto::v1::{
    self, complaint_service_client::ComplaintServiceClient, get_complaint_request::Key,
};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use tonic::{transport::Channel, Code};

const WAIT: Duration = Duration::from_secs(30);
const DAY_MS: i64 = 24 * 3600 * 1000;

type Client = ComplaintServiceClient<Channel>;

/// (kind, category, subject, body, days ago)
const CONTACTS: &[(&str, &str, &str, &str, i64)] = &[
    (
        "complaint",
        "network",
        "手机信号",
        "我家手机信号很差，打电话经常断线",
        1,
    ),
    (
        "complaint",
        "network",
        "",
        "家里网络经常断网，请尽快处理",
        2,
    ),
    (
        "inquiry",
        "billing",
        "Refund",
        "When will my refund arrive? Call me on 13812345678",
        3,
    ),
    (
        "complaint",
        "billing",
        "",
        "I was charged twice, I want a refund of the second charge",
        4,
    ),
    ("praise", "service", "", "客服态度很好，谢谢", 5),
    (
        "suggestion",
        "product",
        "",
        "Please add dark mode to the app",
        6,
    ),
    (
        "complaint",
        "network",
        "网络",
        "The network is slow at night, 网速很慢",
        7,
    ),
];

async fn submit(
    client: &Client,
    i: usize,
    kind: &str,
    cat: &str,
    subject: &str,
    body: &str,
    days: i64,
) -> String {
    client
        .clone()
        .submit(v1::SubmitRequest {
            channel: "web_form".into(),
            contact: Some(v1::ContactSubmitted {
                external_id: format!("form-{i}-{}", uuid::Uuid::now_v7()),
                received_at: Some(time::to_timestamp(time::now_ms() - days * DAY_MS)),
                // One customer per contact, so none is linked to another as a repeat.
                customer: Some(v1::CustomerDetails {
                    name: format!("客户{i}"),
                    phone: format!("1391234{i:04}"),
                    email: String::new(),
                    account_id: String::new(),
                    ..Default::default()
                }),
                subject: subject.into(),
                body: body.into(),
                kind: kind.into(),
                category: cat.into(),
                ..Default::default()
            }),
        })
        .await
        .expect("submit")
        .into_inner()
        .ticket_no
}

async fn search(client: &Client, query: &str) -> BTreeSet<String> {
    let page = client
        .clone()
        .search(v1::SearchComplaintsRequest {
            query: query.into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    assert!(page.next_page_token.is_empty());
    page.complaints.into_iter().map(|c| c.ticket_no).collect()
}

async fn list(client: &Client, req: v1::ListComplaintsRequest) -> v1::ListComplaintsResponse {
    client.clone().list(req).await.expect("list").into_inner()
}

fn set(tickets: &[&String]) -> BTreeSet<String> {
    tickets.iter().map(|t| (*t).clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_filters() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("intake_search").await;
    let (http, grpc) = (free_addr(), free_addr());
    let cfg = Config::from_pairs(
        "intake",
        [
            ("NATS_URL", nats.url()),
            ("DATABASE_URL", db.url.clone()),
            ("OMBUDS_HTTP_ADDR", http.to_string()),
            ("OMBUDS_GRPC_ADDR", grpc.to_string()),
            ("OMBUDS_SHUTDOWN_GRACE", "5s".to_owned()),
            // Test keys (base64 of 32 bytes), so no development key file is written.
            (
                "OMBUDS_PII_KEYS",
                "t1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=".to_owned(),
            ),
            (
                "OMBUDS_PII_INDEX_KEY",
                "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=".to_owned(),
            ),
        ],
    );
    let settings = Settings::from_config(&cfg).expect("settings");
    let token = CancellationToken::new();
    let task = tokio::spawn(run(settings, token.clone()));
    let url = format!("http://{grpc}");
    let client = wait_until("the intake gRPC service", WAIT, || {
        let url = url.clone();
        async move {
            let mut client = ComplaintServiceClient::connect(url)
                .await
                .map_err(|e| e.to_string())?;
            match client
                .get(v1::GetComplaintRequest {
                    key: Some(Key::TicketNo("probe".into())),
                })
                .await
            {
                Err(s) if s.code() == Code::NotFound => Ok(client),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;

    let mut t = Vec::new();
    for (i, (kind, cat, subject, body, days)) in CONTACTS.iter().enumerate() {
        t.push(submit(&client, i, kind, cat, subject, body, *days).await);
    }

    // Whole words inside Chinese sentences.
    assert_eq!(search(&client, "信号").await, set(&[&t[0]]));
    assert_eq!(search(&client, "网络 断网").await, set(&[&t[1]]));
    assert_eq!(search(&client, "网络").await, set(&[&t[1], &t[6]]));
    assert_eq!(search(&client, "态度").await, set(&[&t[4]]));
    // English, case-insensitive, subject and body.
    assert_eq!(search(&client, "refund").await, set(&[&t[2], &t[3]]));
    assert_eq!(search(&client, "REFUND charged").await, set(&[&t[3]]));
    assert_eq!(search(&client, "network 网速").await, set(&[&t[6]]));
    assert!(search(&client, "退款").await.is_empty());
    // Phone numbers are not indexed, not even their unmasked digits.
    assert!(search(&client, "5678").await.is_empty());

    // A reply added by an agent is searchable too.
    client
        .clone()
        .reply(v1::ReplyRequest {
            ticket_no: t[5].clone(),
            actor: "agent-1".into(),
            text: "深色模式已在计划中".into(),
            ..Default::default()
        })
        .await
        .expect("reply");
    assert_eq!(search(&client, "深色模式").await, set(&[&t[5]]));

    // Newest first, in pages, with the status filter.
    let mut seen = Vec::new();
    let mut token_ = String::new();
    loop {
        let page = client
            .clone()
            .search(v1::SearchComplaintsRequest {
                query: "网络".into(),
                page_size: 1,
                page_token: token_.clone(),
                status: "received".into(),
            })
            .await
            .expect("search page")
            .into_inner();
        seen.extend(page.complaints.into_iter().map(|c| c.ticket_no));
        if page.next_page_token.is_empty() {
            break;
        }
        token_ = page.next_page_token;
    }
    assert_eq!(seen, [t[6].clone(), t[1].clone()]);

    // Bad searches name the field.
    for (q, field) in [("", "query"), ("!", "query")] {
        let e = client
            .clone()
            .search(v1::SearchComplaintsRequest {
                query: q.into(),
                ..Default::default()
            })
            .await
            .expect_err("invalid");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with(field), "{}", e.message());
    }

    // List filters: kind, priority, date range; pagination newest first.
    let page = list(
        &client,
        v1::ListComplaintsRequest {
            kind: "complaint".into(),
            page_size: 100,
            ..Default::default()
        },
    )
    .await;
    let tickets: BTreeSet<String> = page
        .complaints
        .iter()
        .map(|c| c.ticket_no.clone())
        .collect();
    assert_eq!(tickets, set(&[&t[0], &t[1], &t[3], &t[6]]));
    let prio = page.complaints[0].priority;
    let page = list(
        &client,
        v1::ListComplaintsRequest {
            priority: prio,
            page_size: 100,
            ..Default::default()
        },
    )
    .await;
    assert!(!page.complaints.is_empty());
    assert!(page.complaints.iter().all(|c| c.priority == prio));
    let now = time::now_ms();
    let page = list(
        &client,
        v1::ListComplaintsRequest {
            received_from: Some(time::to_timestamp(now - 4 * DAY_MS - DAY_MS / 2)),
            received_to: Some(time::to_timestamp(now - 2 * DAY_MS + DAY_MS / 2)),
            page_size: 100,
            ..Default::default()
        },
    )
    .await;
    let tickets: BTreeSet<String> = page
        .complaints
        .iter()
        .map(|c| c.ticket_no.clone())
        .collect();
    assert_eq!(tickets, set(&[&t[1], &t[2], &t[3]]));
    let page = list(
        &client,
        v1::ListComplaintsRequest {
            category: "Network".into(),
            kind: "complaint".into(),
            page_size: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.complaints.len(), 3);

    let mut all = Vec::new();
    let mut token_ = String::new();
    let mut pages = 0;
    loop {
        let page = list(
            &client,
            v1::ListComplaintsRequest {
                page_size: 3,
                page_token: token_.clone(),
                ..Default::default()
            },
        )
        .await;
        pages += 1;
        all.extend(page.complaints.into_iter().map(|c| c.complaint_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token_ = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(all.len(), CONTACTS.len());
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(all, sorted, "newest first");

    // Bad filters name the field.
    for (req, field) in [
        (
            v1::ListComplaintsRequest {
                kind: "rant".into(),
                ..Default::default()
            },
            "kind",
        ),
        (
            v1::ListComplaintsRequest {
                status: "open".into(),
                ..Default::default()
            },
            "status",
        ),
        (
            v1::ListComplaintsRequest {
                priority: 7,
                ..Default::default()
            },
            "priority",
        ),
        (
            v1::ListComplaintsRequest {
                channel: "fax".into(),
                ..Default::default()
            },
            "channel",
        ),
        (
            v1::ListComplaintsRequest {
                page_size: 501,
                ..Default::default()
            },
            "page_size",
        ),
        (
            v1::ListComplaintsRequest {
                received_from: Some(time::to_timestamp(now)),
                received_to: Some(time::to_timestamp(now - DAY_MS)),
                ..Default::default()
            },
            "received_to",
        ),
    ] {
        let e = client.clone().list(req).await.expect_err("invalid");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with(field), "{}", e.message());
    }

    // HTTP.
    let web = reqwest::Client::new();
    let r = web
        .get(format!("http://{http}/v1/search"))
        .query(&[("q", "信号")])
        .send()
        .await
        .expect("GET /v1/search");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["complaints"][0]["ticket_no"], t[0].as_str());
    let r = web
        .get(format!("http://{http}/v1/search?q="))
        .send()
        .await
        .expect("GET /v1/search");
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["error"]["field"], "q");
    let r = web
        .get(format!("http://{http}/v1/complaints"))
        .query(&[("kind", "praise")])
        .send()
        .await
        .expect("GET /v1/complaints");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["complaints"][0]["ticket_no"], t[4].as_str());
    assert_eq!(v["complaints"].as_array().map(Vec::len), Some(1));
    let r = web
        .get(format!("http://{http}/v1/complaints"))
        .query(&[("received_from", "yesterday")])
        .send()
        .await
        .expect("GET /v1/complaints");
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["error"]["field"], "received_from");

    token.cancel();
    task.await
        .expect("intake task")
        .expect("intake stops cleanly");
    db.drop_pg().await;
}
