//! Personal data at rest, against intake running in-process with a real nats-server
//! and a fresh store (SQLite, or PostgreSQL when OMBUDS_TEST_DATABASE_URL is set):
//! contacts with a known name, phone and e-mail are submitted over gRPC, then the raw
//! `customer_records` rows are read with SQL — no plaintext, only `v1:<key id>:…`
//! ciphertext and blind indexes — the same person on two channels, the phone written
//! two ways, is one customer, and `GetCustomerContact` answers the plaintext while
//! `Get` shows masks only.

use std::time::Duration;

use ombuds_intake::{run, Settings};
use ombuds_platform::{config::Config, shutdown::CancellationToken};
use ombuds_proto::v1::{
    self, complaint_service_client::ComplaintServiceClient, get_complaint_request::Key,
};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use sea_orm::{ConnectionTrait, Database, Statement};
use tonic::{transport::Channel, Code};

const WAIT: Duration = Duration::from_secs(30);
const NAME: &str = "王小明";
const EMAIL: &str = "wang.xiaoming@example.net";

async fn submit(
    client: &mut ComplaintServiceClient<Channel>,
    channel: &str,
    external_id: &str,
    customer: v1::CustomerDetails,
) -> v1::SubmitResponse {
    client
        .submit(v1::SubmitRequest {
            channel: channel.into(),
            contact: Some(v1::ContactSubmitted {
                external_id: external_id.into(),
                customer: Some(customer),
                body: "信号很差".into(),
                kind: "complaint".into(),
                category: "network".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("submit")
        .into_inner()
}

#[tokio::test]
async fn personal_data_is_encrypted_at_rest_and_linked_by_blind_index() {
    let nats = NatsServer::start();
    let db = TestDatabase::new("intake_pii").await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let grpc = free_addr();
    let cfg = Config::from_pairs(
        "intake",
        [
            ("NATS_URL", nats.url()),
            ("DATABASE_URL", db.url.clone()),
            ("OMBUDS_HTTP_ADDR", free_addr().to_string()),
            ("OMBUDS_GRPC_ADDR", grpc.to_string()),
            ("OMBUDS_SHUTDOWN_GRACE", "5s".to_owned()),
            // No OMBUDS_PII_KEYS: the development keys are generated here.
            ("OMBUDS_DATA_DIR", data_dir.path().display().to_string()),
        ],
    );
    let settings = Settings::from_config(&cfg).expect("settings");
    let token = CancellationToken::new();
    let task = tokio::spawn(run(settings, token.clone()));
    let url = format!("http://{grpc}");
    let mut client = wait_until("the intake gRPC service", WAIT, || {
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

    // An e-mail first (the phone in its signature, international form) ...
    let by_mail = submit(
        &mut client,
        "email",
        "<m1@example.net>",
        v1::CustomerDetails {
            name: NAME.into(),
            phone: "+86 13812345678".into(),
            email: " Wang.XiaoMing@Example.NET ".into(),
            account_id: String::new(),
            ..Default::default()
        },
    )
    .await;
    // ... then a call, the phone as the agent typed it, no e-mail.
    let by_call = submit(
        &mut client,
        "hotline",
        "call-1",
        v1::CustomerDetails {
            name: String::new(),
            phone: "138 1234 5678".into(),
            email: String::new(),
            account_id: "ACC-99".into(),
            ..Default::default()
        },
    )
    .await;
    // ... and a stranger.
    let other = submit(
        &mut client,
        "sms",
        "sms-1",
        v1::CustomerDetails {
            phone: "13900001111".into(),
            ..Default::default()
        },
    )
    .await;

    let contact = |id: String| {
        let mut c = client.clone();
        async move {
            c.get_customer_contact(v1::GetCustomerContactRequest { complaint_id: id })
                .await
                .expect("customer contact")
                .into_inner()
        }
    };
    let a = contact(by_mail.complaint_id.clone()).await;
    let b = contact(by_call.complaint_id.clone()).await;
    let c = contact(other.complaint_id.clone()).await;
    assert_eq!(a.customer_id, b.customer_id, "one person, one customer");
    assert_ne!(a.customer_id, c.customer_id);
    assert_eq!(a.phone, "+8613812345678");
    assert_eq!(a.email, EMAIL);
    assert_eq!(a.name, NAME);
    assert_eq!(b.phone, "+8613812345678");
    assert_eq!(b.email, EMAIL, "the call sees the details the e-mail gave");
    assert_eq!(c.phone, "+8613900001111");

    // The API shows masks only.
    let shown = client
        .get(v1::GetComplaintRequest {
            key: Some(Key::TicketNo(by_call.ticket_no.clone())),
        })
        .await
        .expect("get")
        .into_inner()
        .customer
        .expect("customer ref");
    assert_eq!(shown.customer_id, a.customer_id);
    assert!(!shown.phone_masked.contains("12345678"), "{shown:?}");
    assert!(!shown.email_masked.contains("wang.xiaoming"), "{shown:?}");

    // The raw rows: ciphertext and blind indexes, never plaintext.
    let conn = Database::connect(db.url.as_str()).await.expect("connect");
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all(Statement::from_string(
            backend,
            "SELECT customer_id, name_enc, phone_enc, email_enc, account_enc, \
             phone_bidx, email_bidx, account_bidx, key_id FROM customer_records",
        ))
        .await
        .expect("read customer_records");
    assert_eq!(rows.len(), 2, "two people");
    let mut raw = String::new();
    for row in &rows {
        let col = |n: &str| row.try_get::<String>("", n).expect(n);
        // Values are ciphertext; an absent detail (the stranger's name) stays empty.
        for n in ["name_enc", "phone_enc", "email_enc", "account_enc"] {
            let v = col(n);
            assert!(v.is_empty() || v.starts_with("v1:dev:"), "{n}: {v}");
        }
        if col("customer_id") == a.customer_id {
            for n in [
                "name_enc",
                "phone_enc",
                "email_enc",
                "account_enc",
                "email_bidx",
            ] {
                assert!(!col(n).is_empty(), "{n} of the linked customer");
            }
        }
        assert_eq!(col("key_id"), "dev");
        assert_eq!(col("phone_bidx").len(), 64);
        for n in [
            "name_enc",
            "phone_enc",
            "email_enc",
            "account_enc",
            "phone_bidx",
            "email_bidx",
            "account_bidx",
        ] {
            raw.push_str(&col(n));
            raw.push('\n');
        }
    }
    for plain in [
        "13812345678",
        "13900001111",
        "wang.xiaoming",
        "Wang.XiaoMing",
        "example.net",
        NAME,
        "ACC-99",
    ] {
        assert!(
            !raw.contains(plain),
            "{plain:?} in plaintext in customer_records"
        );
    }
    assert!(
        conn.query_all(Statement::from_string(backend, "SELECT * FROM customers"))
            .await
            .is_err(),
        "the plaintext customers table is gone"
    );
    drop(conn);

    token.cancel();
    task.await
        .expect("intake task")
        .expect("intake stops cleanly");
    db.drop_pg().await;
}
