//! End-to-end test of the e-mail adapter against a REAL IMAP server (Debian's dovecot, started
//! here with a throw-away configuration) and a real nats-server: messages in several charsets
//! are APPENDed to the mailbox, the adapter publishes them to `intake.email`, the broken one
//! is dead-lettered, and a restart republishes nothing.

use std::{
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use async_nats::jetstream;
use futures::StreamExt as _;
use ombuds_adapter_email::{config::SERVICE, run, Settings};
use ombuds_platform::config::Config;
use ombuds_proto::v1;
use ombuds_testkit::{free_port, wait_until, NatsServer};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

const USER: &str = "complaints";
const PASSWORD: &str = "s3cret-imap-pw";

/// A dovecot serving IMAP on 127.0.0.1:<port> from a temporary directory, stopped on drop.
struct Dovecot {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Dovecot {
    fn bin() -> Option<PathBuf> {
        ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    }

    fn start(bin: &Path) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let meta = std::fs::metadata(root).expect("stat temp dir");
        let (uid, gid) = (meta.uid(), meta.gid());
        let home = root.join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        // Dovecot refuses to run its login process as root and to give mail uid 0: as root,
        // those run as `nobody`, which must be able to reach the temp dir and own the homes.
        let (internal_user, login_user, mail_uid, mail_gid) = if uid == 0 {
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
                .expect("chmod temp dir");
            std::os::unix::fs::chown(&home, Some(65534), Some(65534)).expect("chown home");
            ("root".to_owned(), "nobody".to_owned(), 65534, 65534)
        } else {
            let me = Command::new("id")
                .arg("-un")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .expect("id -un");
            (me.clone(), me, uid, gid)
        };
        let port = free_port();
        let r = root.display();
        let conf = format!(
            r#"protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_location = maildir:{r}/home/%u/Maildir
passdb {{
  driver = passwd-file
  args = {r}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={r}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
"#,
            internal_group = if uid == 0 {
                "root".to_owned()
            } else {
                gid.to_string()
            },
        );
        std::fs::write(root.join("dovecot.conf"), conf).expect("write dovecot.conf");
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n"))
            .expect("write passwd");
        let child = Command::new(bin)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        Self { child, port, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let port = self.port;
        wait_until(
            "dovecot to accept a login",
            Duration::from_secs(20),
            || async move {
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .map_err(|e| e.to_string())?;
                let mut client = async_imap::Client::new(tcp);
                client
                    .read_response()
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("no greeting")?;
                client
                    .login(USER, PASSWORD)
                    .await
                    .map_err(|(e, _)| e.to_string())
            },
        )
        .await
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets dovecot stop its own children (auth, login, imap).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let crlf = |s: &str| s.replace('\n', "\r\n").into_bytes();
    vec![
        (
            "gbk",
            crlf(
                "From: =?GBK?B?1cXOsA==?= <zhangwei@example.cn>
To: complaints@ombuds.test
Subject: =?GBK?B?v+20+LbPzfjNtsvf?=
Message-ID: <gbk-1@example.cn>
Date: Sat, 22 Nov 2025 09:30:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=GBK
Content-Transfer-Encoding: base64

xPq6w6OsztK80rXEv+20+LTT1/LM7L+qyry2z834o6zH676hv+y0psDtoaM=
",
            ),
        ),
        (
            "big5",
            crlf(
                "From: Chen <chen@example.tw>
Subject: =?Big5?B?sWKz5rDdw0Q=?=
Message-ID: <big5-1@example.tw>
Date: Sat, 22 Nov 2025 10:00:00 +0800
MIME-Version: 1.0
Content-Type: text/plain; charset=big5
Content-Transfer-Encoding: base64

p9qqurFis+aq98NCpKOlv71UoUG90KxkqfqhQw==
",
            ),
        ),
        (
            "latin1",
            crlf(
                "From: =?ISO-8859-1?Q?Zo=EB_Durand?= <zoe@example.fr>
Subject: =?ISO-8859-1?Q?Facture_erron=E9e?=
Message-ID: <latin-1@example.fr>
Date: Sat, 22 Nov 2025 03:00:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Bonjour, la facture de d=E9cembre est erron=E9e. Merci, Zo=EB
",
            ),
        ),
        (
            "html",
            crlf(
                "From: html@example.com
Subject: HTML only
Message-ID: <html-1@example.com>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><body><p>The <b>app</b> crashes on login.</p></body></html>
",
            ),
        ),
        (
            "attachment",
            crlf(
                "From: Wang Fang <wangfang@example.com>
Subject: Photo of the damaged router
Message-ID: <att-1@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=\"XYZ\"

--XYZ
Content-Type: text/plain; charset=utf-8

See the attached photo.
--XYZ
Content-Type: image/jpeg; name=\"router.jpg\"
Content-Disposition: attachment; filename=\"router.jpg\"
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--XYZ--
",
            ),
        ),
        (
            "reply",
            crlf(
                "From: Zhang Wei <zhangwei@example.cn>
Subject: Re: [OMB-2025-000123] broadband
Message-ID: <reply-1@example.cn>
In-Reply-To: <ticket-123@ombuds.test>
References: <gbk-1@example.cn> <ticket-123@ombuds.test>
Content-Type: text/plain; charset=utf-8

Still broken.
",
            ),
        ),
        ("broken", crlf("this is not an e-mail message at all\n")),
    ]
}

fn settings(imap_port: u16, nats: &str, data: &Path) -> Settings {
    let cfg = Config::from_pairs(
        SERVICE,
        [
            ("NATS_URL", nats.to_owned()),
            ("OMBUDS_DATA_DIR", data.display().to_string()),
            ("OMBUDS_IMAP_HOST", "127.0.0.1".to_owned()),
            ("OMBUDS_IMAP_PORT", imap_port.to_string()),
            ("OMBUDS_IMAP_USER", USER.to_owned()),
            ("OMBUDS_IMAP_PASSWORD", PASSWORD.to_owned()),
            ("OMBUDS_IMAP_POLL", "1s".to_owned()),
        ],
    );
    Settings::from_config(&cfg).expect("settings")
}

async fn contacts(js: &jetstream::Context) -> Result<Vec<v1::ContactSubmitted>, String> {
    let mut stream = js.get_stream("INTAKE").await.map_err(|e| e.to_string())?;
    let info = stream
        .info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .clone();
    let mut out = Vec::new();
    for seq in info.first_sequence..=info.last_sequence {
        if let Ok(m) = stream.get_raw_message(seq).await {
            assert_eq!(m.subject.as_str(), "intake.email");
            out.push(v1::ContactSubmitted::decode(m.payload).expect("a ContactSubmitted"));
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_messages_become_contacts() {
    let Some(bin) = Dovecot::bin() else {
        println!("SKIPPED: dovecot not installed");
        return;
    };
    let nats = NatsServer::start();
    let dovecot = Dovecot::start(&bin);
    let data = tempfile::tempdir().expect("data dir");

    let mut imap = dovecot.session().await;
    for (name, raw) in fixtures() {
        imap.append("INBOX", None, None, &raw)
            .await
            .unwrap_or_else(|e| panic!("APPEND {name}: {e}\n{}", dovecot.log()));
    }

    let client = async_nats::connect(nats.url()).await.expect("nats");
    let js = jetstream::new(client.clone());

    let token = CancellationToken::new();
    let task = tokio::spawn(run(
        settings(dovecot.port, &nats.url(), data.path()),
        token.clone(),
    ));

    let got = wait_until("six contacts on INTAKE", Duration::from_secs(30), || {
        let js = js.clone();
        async move {
            let c = contacts(&js).await?;
            if c.len() >= 6 {
                Ok(c)
            } else {
                Err(format!("{} contacts so far", c.len()))
            }
        }
    })
    .await;
    assert_eq!(got.len(), 6, "{got:#?}");
    let by_id = |id: &str| {
        got.iter()
            .find(|c| c.external_id == id)
            .unwrap_or_else(|| panic!("no contact {id} in {got:#?}"))
    };
    let customer = |c: &v1::ContactSubmitted| c.customer.clone().expect("customer");

    let gbk = by_id("gbk-1@example.cn");
    assert_eq!(gbk.subject, "宽带断网投诉");
    assert_eq!(gbk.body, "您好，我家的宽带从昨天开始断网，请尽快处理。");
    assert_eq!(customer(gbk).name, "张伟");
    assert_eq!(customer(gbk).email, "zhangwei@example.cn");
    assert_eq!(gbk.received_at.expect("date").seconds, 1_763_775_000);

    let big5 = by_id("big5-1@example.tw");
    assert_eq!(big5.subject, "帳單問題");
    assert_eq!(big5.body, "我的帳單金額不正確，請查明。");

    let latin = by_id("latin-1@example.fr");
    assert_eq!(latin.subject, "Facture erronée");
    assert_eq!(customer(latin).name, "Zoë Durand");
    assert!(latin.body.contains("décembre"), "{}", latin.body);

    let html = by_id("html-1@example.com");
    assert!(html.body.contains("app crashes on login"), "{}", html.body);
    assert!(!html.body.contains('<'), "{}", html.body);
    assert_eq!(customer(html).email, "html@example.com");

    let att = by_id("att-1@example.com");
    assert_eq!(att.body, "See the attached photo.");
    assert_eq!(att.attachments.len(), 1, "{att:#?}");
    assert_eq!(att.attachments[0].name, "router.jpg");
    assert_eq!(att.attachments[0].size, 10);
    assert_eq!(att.attachments[0].content_type, "image/jpeg");

    let reply = by_id("reply-1@example.cn");
    assert_eq!(reply.in_reply_to, "ticket-123@ombuds.test");
    assert_eq!(
        reply.references,
        vec!["gbk-1@example.cn", "ticket-123@ombuds.test"]
    );

    // The broken message is dead-lettered, pointing at it in the mailbox rather than
    // copying its raw bytes (personal data) onto the stream, and did not stop the others.
    let dlq = wait_until("the dead letter", Duration::from_secs(10), || {
        let js = js.clone();
        async move {
            let stream = js.get_stream("DLQ").await.map_err(|e| e.to_string())?;
            stream
                .get_last_raw_message_by_subject("dlq.email-adapter.invalid")
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
    let letter = v1::DeadLetter::decode(dlq.payload).expect("a DeadLetter");
    assert_eq!(letter.service, "email-adapter");
    assert_eq!(letter.reason, "invalid");
    assert!(!letter.error.is_empty());
    assert!(letter.payload.is_empty(), "{letter:?}");
    assert_eq!(letter.headers["imap-mailbox"], "INBOX");
    assert!(
        letter.headers["imap-uid"].parse::<u32>().is_ok(),
        "{letter:?}"
    );

    // Restart: nothing is republished (core subscribers see every publish, even the ones
    // JetStream would drop as duplicates), but a new message still arrives.
    token.cancel();
    task.await.expect("join").expect("adapter stops cleanly");
    let state = std::fs::read_to_string(data.path().join("email-adapter.state")).expect("state");
    assert!(state.trim().ends_with(" 7"), "{state}");

    let mut seen = client.subscribe("intake.email").await.expect("subscribe");
    client.flush().await.expect("flush");
    let token = CancellationToken::new();
    let task = tokio::spawn(run(
        settings(dovecot.port, &nats.url(), data.path()),
        token.clone(),
    ));
    let late = b"From: late@example.com\r\nSubject: after the restart\r\nMessage-ID: <late-1@example.com>\r\n\r\nhello again\r\n";
    imap.append("INBOX", None, None, late)
        .await
        .expect("APPEND late");
    let first = tokio::time::timeout(Duration::from_secs(30), seen.next())
        .await
        .expect("the new message within 30s")
        .expect("subscription open");
    let first = v1::ContactSubmitted::decode(first.payload).expect("contact");
    assert_eq!(
        first.external_id, "late-1@example.com",
        "republished {first:?}"
    );
    // A second round of the mailbox (IDLE wakes it again on the flag change) still
    // publishes nothing new.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), seen.next())
            .await
            .is_err(),
        "something was republished after the restart"
    );
    assert_eq!(contacts(&js).await.expect("contacts").len(), 7);

    token.cancel();
    task.await.expect("join").expect("adapter stops cleanly");
    let _ = imap.logout().await;
}
