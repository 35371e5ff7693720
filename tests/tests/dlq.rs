//! Dead letters as an operator meets them: a contact intake cannot record is kept on
//! the DLQ stream sealed (it holds the customer's details), `ombudsctl dlq` lists and
//! shows it without them, and once the cause is fixed (here: the taxonomy lacked the
//! category) `ombudsctl dlq replay` sends it back and intake records it. `discard`
//! deletes what is not worth keeping.

mod support;

use std::{process::Command, time::Duration};

use ombuds_testkit::{bin_path, wait_until};
use support::{all_stream_text, Platform};

const PHONE: &str = "13987654321";
const EMAIL: &str = "roaming.victim@example.org";

/// `ombudsctl --nats <url> dlq …`: its standard output, or a panic with its error.
fn dlq(p: &Platform, args: &[&str]) -> String {
    let out = Command::new(bin_path("ombudsctl"))
        .arg("dlq")
        .args(["--nats", &p.nats.url()])
        .args(args)
        .output()
        .expect("run ombudsctl");
    assert!(
        out.status.success(),
        "ombudsctl dlq {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn publish(p: &Platform, subject: &str, id: &str, payload: Vec<u8>) {
    let js = p.jetstream().await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    js.publish_with_headers(subject.to_owned(), headers, payload.into())
        .await
        .expect("publish")
        .await
        .expect("stream ack");
}

async fn letters(p: &Platform, want: usize) -> serde_json::Value {
    wait_until(
        &format!("{want} dead letter(s)"),
        Duration::from_secs(30),
        || async move {
            let v: serde_json::Value =
                serde_json::from_str(&dlq(p, &["list", "--json"])).map_err(|e| e.to_string())?;
            match v.as_array().map(Vec::len) {
                Some(n) if n == want => Ok(v),
                _ => Err(v.to_string()),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_sealed_listed_replayed_and_discarded() {
    let mut p = Platform::start("1h").await;
    let contact = serde_json::json!({
        "external_id": "roam-1",
        "customer": { "name": "王五", "phone": PHONE, "email": EMAIL },
        "body": "Charged for roaming while at home",
        "category": "roaming",
    });
    publish(
        &p,
        "intake.app",
        "roam-1",
        serde_json::to_vec(&contact).expect("json"),
    )
    .await;
    let listed = letters(&p, 1).await;
    let letter = &listed[0];
    assert_eq!(letter["service"], "intake");
    assert_eq!(letter["reason"], "invalid");
    assert_eq!(letter["sealed"], true);
    assert!(
        letter["error"]
            .as_str()
            .is_some_and(|e| e.contains("category")),
        "{letter}"
    );
    let seq = letter["seq"].as_u64().expect("seq").to_string();

    // Neither the stream nor what the operator sees holds the customer's details.
    let streams = all_stream_text(&p.jetstream().await).await;
    for secret in [PHONE, EMAIL, "王五"] {
        assert!(!streams.contains(secret), "{secret} on a stream");
    }
    let shown = dlq(&p, &["show", &seq]);
    assert!(shown.contains("sealed by intake"), "{shown}");
    assert!(!shown.contains(PHONE) && !shown.contains(EMAIL), "{shown}");
    let table = dlq(&p, &["list"]);
    assert!(
        table.contains("intake.app") && table.contains("invalid"),
        "{table}"
    );

    // The operator widens the taxonomy, restarts intake and replays the letter.
    let taxonomy = p.dir.path().join("taxonomy.toml");
    std::fs::write(&taxonomy, "free_categories = true\n[categories]\n").expect("taxonomy");
    let taxonomy = taxonomy.display().to_string();
    p.restart_with("intake", &[("OMBUDS_TAXONOMY", &taxonomy)])
        .await;
    let replayed = dlq(&p, &["replay", "--all", "--service", "intake"]);
    assert_eq!(replayed, format!("replayed 1 dead letter(s): {seq}\n"));
    let recorded = p.recorded("app", "roam-1").await;
    assert_eq!(recorded.category, "roaming");
    assert_eq!(letters(&p, 0).await, serde_json::json!([]));
    assert_eq!(dlq(&p, &["list"]), "no dead letters\n");

    // Something not worth keeping is discarded.
    publish(&p, "intake.web_form", "junk-1", b"{not json".to_vec()).await;
    let listed = letters(&p, 1).await;
    assert_eq!(listed[0]["reason"], "decode");
    let seq = listed[0]["seq"].as_u64().expect("seq").to_string();
    assert_eq!(
        dlq(&p, &["discard", &seq]),
        format!("discarded 1 dead letter(s): {seq}\n")
    );
    letters(&p, 0).await;
    p.stop().await;
}
