//! The webhook adapter end to end: a real nats-server, the adapter running in-process on a
//! free port, requests over HTTP, and the contacts read back from the INTAKE stream.

use std::time::Duration;

use async_nats::jetstream::{self, stream::Stream};
use ombuds_adapter_webhook::{run, sig, Settings};
use ombuds_platform::config::Config;
use ombuds_proto::v1;
use ombuds_testkit::{free_addr, wait_until, NatsServer};
use prost::Message;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use tokio_util::sync::CancellationToken;

const SOURCES: &str = r#"
[[source]]
name = "weibo"
kind = "json"
channel = "social"
secret = "weibo-secret"
auth = "hmac"
external_id = "/id"
body = "/text"
subject = "/title"
received_at = "/created"
customer_name = "/user/name"
customer_phone = "/user/phone"
customer_account = "/user/id"
contact_kind = "/type"
category = "/topic"

[[source]]
name = "app"
kind = "json"
channel = "app"
secret = "app-token"
auth = "token"
external_id = "/feedback_id"
body = "/message"

[[source]]
name = "mp"
kind = "wechat"
channel = "social"
secret = "wechat-token"
"#;

struct Harness {
    nats: NatsServer,
    base: String,
    http: reqwest::Client,
    js: jetstream::Context,
    token: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Self {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let sources = dir.path().join("sources.toml");
        std::fs::write(&sources, SOURCES).expect("write sources");
        let addr = free_addr();
        let cfg = Config::from_pairs(
            "webhook",
            [
                ("NATS_URL", nats.url()),
                ("OMBUDS_HTTP_ADDR", addr.to_string()),
                ("OMBUDS_WEBHOOK_SOURCES", sources.display().to_string()),
            ],
        );
        let settings = Settings::from_config(&cfg).expect("settings");
        let token = CancellationToken::new();
        let task = tokio::spawn(run(settings, token.clone()));
        let base = format!("http://{addr}");
        let http = reqwest::Client::new();
        wait_until("the adapter to listen", Duration::from_secs(20), || {
            let (http, url) = (http.clone(), format!("{base}/healthz"));
            async move {
                match http.get(url).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        let client = async_nats::connect(nats.url()).await.expect("connect");
        let js = jetstream::new(client);
        Self {
            nats,
            base,
            http,
            js,
            token,
            task,
            _dir: dir,
        }
    }

    async fn stream(&self) -> Stream {
        self.js.get_stream("INTAKE").await.expect("INTAKE stream")
    }

    async fn count(&self) -> u64 {
        let mut s = self.stream().await;
        s.info().await.expect("stream info").state.messages
    }

    async fn last(&self, subject: &str) -> (v1::ContactSubmitted, String) {
        let m = self
            .stream()
            .await
            .get_last_raw_message_by_subject(subject)
            .await
            .expect("a message on the subject");
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        assert_eq!(
            m.headers.get("Ombuds-Type").map(|v| v.as_str()),
            Some("ombuds.v1.ContactSubmitted")
        );
        (
            v1::ContactSubmitted::decode(m.payload).expect("a ContactSubmitted"),
            id,
        )
    }

    async fn post_signed(&self, source: &str, secret: &str, body: &[u8]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/webhooks/{source}", self.base))
            .header("X-Ombuds-Signature", sig::sign(secret, body))
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the adapter stops");
        drop(self.nats);
    }
}

fn wechat_query(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    let signature = sig::hex(&Sha1::digest(parts.concat().as_bytes()));
    format!("signature={signature}&timestamp={timestamp}&nonce={nonce}")
}

fn field(v: &Value) -> &str {
    v["error"]["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn json_sources_publish_mapped_contacts_and_refuse_bad_input() {
    let h = Harness::start().await;

    // A signed payload becomes a contact on intake.social.
    let payload = json!({
        "id": "post-1", "text": "信号很差，打不了电话", "title": "no signal",
        "created": "2026-11-22T10:00:00+08:00", "type": "complaint", "topic": "network",
        "user": {"id": 98765, "name": "张三", "phone": "13812345678"}
    })
    .to_string();
    let (status, body) = h
        .post_signed("weibo", "weibo-secret", payload.as_bytes())
        .await;
    assert_eq!(
        (status, &body),
        (202, &json!({"external_id": "weibo:post-1"}))
    );
    let (c, msg_id) = h.last("intake.social").await;
    assert_eq!(msg_id, "social:weibo:post-1");
    assert_eq!(c.external_id, "weibo:post-1");
    assert_eq!(c.body, "信号很差，打不了电话");
    assert_eq!(c.subject, "no signal");
    assert_eq!(c.kind, "complaint");
    assert_eq!(c.category, "network");
    let received = c.received_at.expect("received_at");
    assert_eq!(
        received.seconds * 1000,
        ombuds_platform::time::parse_rfc3339("2026-11-22T02:00:00Z").expect("time")
    );
    let customer = c.customer.expect("customer");
    assert_eq!(customer.account_id, "weibo:98765");
    assert_eq!(customer.name, "张三");
    assert_eq!(customer.phone, "13812345678");
    assert_eq!(h.count().await, 1);

    // The same payload again is one contact (Nats-Msg-Id de-duplication).
    let (status, _) = h
        .post_signed("weibo", "weibo-secret", payload.as_bytes())
        .await;
    assert_eq!(status, 202);
    assert_eq!(h.count().await, 1);

    // A bad or missing signature: 401, nothing published.
    let other = json!({"id": "post-2", "text": "x"}).to_string();
    let (status, body) = h.post_signed("weibo", "wrong", other.as_bytes()).await;
    assert_eq!((status, field(&body)), (401, "signature"), "{body}");
    let r = h
        .http
        .post(format!("{}/v1/webhooks/weibo", h.base))
        .body(other.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(h.count().await, 1);

    // Unknown source, not JSON, a missing field, too large.
    let (status, _) = h.post_signed("nobody", "x", b"{}").await;
    assert_eq!(status, 404);
    let (status, body) = h.post_signed("weibo", "weibo-secret", b"{not json").await;
    assert_eq!((status, field(&body)), (400, "body"), "{body}");
    let (status, body) = h
        .post_signed("weibo", "weibo-secret", br#"{"text": "no id"}"#)
        .await;
    assert_eq!((status, field(&body)), (400, "external_id"), "{body}");
    let big = format!(r#"{{"id": "big", "text": "{}"}}"#, "a".repeat(300 * 1024));
    let (status, _) = h.post_signed("weibo", "weibo-secret", big.as_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(h.count().await, 1);

    // A batch with one bad payload: the good ones are published, the bad one named.
    let batch = json!([
        {"id": "b-1", "text": "first"},
        {"text": "no id"},
        {"id": "b-3", "text": "third", "user": {"id": "u3"}}
    ])
    .to_string();
    let (status, body) = h
        .post_signed("weibo", "weibo-secret", batch.as_bytes())
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], json!(["weibo:b-1", "weibo:b-3"]));
    assert_eq!(body["rejected"][0]["index"], 1);
    assert_eq!(body["rejected"][0]["error"]["field"], "external_id");
    assert_eq!(h.count().await, 3);
    let (c, _) = h.last("intake.social").await;
    assert_eq!(c.external_id, "weibo:b-3");

    // A token source on another channel.
    let fb = json!({"feedback_id": 77, "message": "app crashes on login"}).to_string();
    let post_app = |auth: &'static str| {
        h.http
            .post(format!("{}/v1/webhooks/app", h.base))
            .header("Authorization", auth)
            .body(fb.clone())
            .send()
    };
    assert_eq!(
        post_app("Bearer nope")
            .await
            .expect("post")
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        post_app("Bearer app-token")
            .await
            .expect("post")
            .status()
            .as_u16(),
        202
    );
    let (c, msg_id) = h.last("intake.app").await;
    assert_eq!(
        (c.external_id.as_str(), msg_id.as_str()),
        ("app:77", "app:app:77")
    );
    assert_eq!(c.body, "app crashes on login");

    h.stop().await;
}

#[tokio::test]
async fn wechat_verification_and_text_messages() {
    let h = Harness::start().await;
    let url = format!("{}/v1/webhooks/mp", h.base);

    // Server verification: the echo string comes back; a bad signature is 403.
    let q = wechat_query("wechat-token", "1700000000", "nonce1");
    let r = h
        .http
        .get(format!("{url}?{q}&echostr=hello123"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("text"), "hello123");
    let bad = wechat_query("other-token", "1700000000", "nonce1");
    let r = h
        .http
        .get(format!("{url}?{bad}&echostr=hello123"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 403);

    // A text message becomes a contact.
    let xml = "<xml><ToUserName><![CDATA[gh_abc]]></ToUserName>\
        <FromUserName><![CDATA[oUser42]]></FromUserName><CreateTime>1700000123</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[账单多扣了 50 元]]></Content>\
        <MsgId>23456789012345678</MsgId></xml>";
    let post = |q: String, body: String| h.http.post(format!("{url}?{q}")).body(body).send();
    let r = post(q.clone(), xml.into()).await.expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("text"), "success");
    let (c, msg_id) = h.last("intake.social").await;
    assert_eq!(msg_id, "social:23456789012345678");
    assert_eq!(c.external_id, "23456789012345678");
    assert_eq!(c.body, "账单多扣了 50 元");
    assert_eq!(c.received_at.map(|t| t.seconds), Some(1_700_000_123));
    assert_eq!(
        c.customer.and_then(|c| c.social.get("wechat").cloned()),
        Some("oUser42".to_owned())
    );
    assert_eq!(h.count().await, 1);

    // Bad signature, malformed XML, encrypted: refused; an image: acknowledged, ignored.
    let r = post(bad, xml.into()).await.expect("post");
    assert_eq!(r.status().as_u16(), 401);
    let r = post(q.clone(), "<xml><MsgType>text</MsgType".into())
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let r = post(
        q.clone(),
        "<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[xyz]]></Encrypt></xml>".into(),
    )
    .await
    .expect("post");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("safe mode"),
        "{body}"
    );
    let image = xml
        .replace("[text]", "[image]")
        .replace("23456789012345678", "999");
    let r = post(q.clone(), image).await.expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("text"), "success");
    assert_eq!(h.count().await, 1);

    h.stop().await;
}

#[tokio::test]
async fn nats_down_is_503() {
    let mut h = Harness::start().await;
    h.nats.stop();
    let body = json!({"id": "late", "text": "x"}).to_string();
    let (status, reply) = wait_until("a 503 while NATS is down", Duration::from_secs(20), || {
        let h = &h;
        let body = body.clone();
        async move {
            let (status, reply) = h
                .post_signed("weibo", "weibo-secret", body.as_bytes())
                .await;
            if status == 503 {
                Ok((status, reply))
            } else {
                Err(format!("status {status}"))
            }
        }
    })
    .await;
    assert_eq!((status, field(&reply)), (503, "nats"), "{reply}");
    h.token.cancel();
    // Draining a connection whose server is gone may wait; stopping is not under test here.
    let _ = tokio::time::timeout(Duration::from_secs(10), h.task).await;
}

#[test]
fn a_bad_sources_file_stops_start_up_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        SOURCES.replace("auth = \"token\"", "auth = \"basic\""),
    )
    .expect("write");
    let cfg = Config::from_pairs(
        "webhook",
        [("OMBUDS_WEBHOOK_SOURCES", path.display().to_string())],
    );
    let e = Settings::from_config(&cfg)
        .expect_err("must fail")
        .to_string();
    assert!(
        e.contains("bad.toml") && e.contains("line 18") && e.contains("basic"),
        "{e}"
    );
    let cfg = Config::from_pairs("webhook", Vec::<(String, String)>::new());
    let e = Settings::from_config(&cfg)
        .expect_err("must fail")
        .to_string();
    assert!(e.contains("OMBUDS_WEBHOOK_SOURCES"), "{e}");
}
