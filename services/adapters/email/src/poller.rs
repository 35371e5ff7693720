//! The mailbox poller: logs in over IMAP (plain TCP), selects the mailbox, fetches every
//! message with a UID above the last one handled, converts it ([`crate::convert`]) and
//! publishes it to `intake.email`, or dead-letters it to `dlq.email-adapter.invalid` when it
//! cannot be used. Between rounds it waits in IDLE when the server offers it, else sleeps
//! `OMBUDS_IMAP_POLL`. A lost connection (IMAP or NATS) is retried with back-off; the
//! position only advances once a message is acknowledged by JetStream, so nothing is lost.

use std::time::Duration;

use anyhow::Context as _;
use async_imap::{extensions::idle::IdleResponse, Session};
use async_nats::jetstream;
use futures::TryStreamExt as _;
use ombuds_platform::{events, pii, time};
use ombuds_proto::v1;
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::{
    config::{ImapSettings, Settings, SERVICE},
    convert,
    state::{Position, StateFile},
};

/// The subject contacts are published on.
pub const SUBJECT: &str = "intake.email";
/// The subject unusable messages are dead-lettered to.
pub const DLQ_SUBJECT: &str = "dlq.email-adapter.invalid";
/// The protobuf type of a contact.
pub const CONTACT_TYPE: &str = "ombuds.v1.ContactSubmitted";

/// How long one IDLE lasts at most before it is renewed (RFC 2177 asks for under 29 min).
const MAX_IDLE: Duration = Duration::from_secs(25 * 60);

type Imap = Session<TcpStream>;

/// Runs the adapter until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !settings.imap.is_loopback() {
        tracing::warn!(
            host = %settings.imap.host,
            "TLS is not wired yet: the IMAP password and mail travel in plain text to a remote host"
        );
    }
    let client = ombuds_platform::nats::connect(&settings.nats_url, SERVICE, &shutdown).await?;
    let js = jetstream::new(client);
    ombuds_platform::nats::provision(&js).await?;
    let state = StateFile::new(settings.state_path());
    let mut pos = state.load()?;
    let poller = Poller {
        imap: settings.imap.clone(),
        js,
        state,
    };
    let mut delay = Duration::from_millis(200);
    loop {
        match poller.session(&mut pos, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(e) => tracing::warn!(
                host = %poller.imap.host, port = poller.imap.port, error = format!("{e:#}"),
                "mailbox session failed; reconnecting"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

struct Poller {
    imap: ImapSettings,
    js: jetstream::Context,
    state: StateFile,
}

impl Poller {
    /// One IMAP session; returns `Ok` only on shutdown.
    async fn session(
        &self,
        pos: &mut Position,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let mut session = tokio::select! {
            s = self.login() => s?,
            _ = shutdown.cancelled() => return Ok(()),
        };
        let idle = session
            .capabilities()
            .await
            .context("CAPABILITY")?
            .has_str("IDLE");
        let mailbox = session
            .select(&self.imap.mailbox)
            .await
            .with_context(|| format!("SELECT {}", self.imap.mailbox))?;
        let validity = mailbox.uid_validity.unwrap_or(0);
        if pos.uid_validity != validity {
            if pos.uid_validity != 0 {
                tracing::warn!(
                    old = pos.uid_validity, new = validity,
                    "UIDVALIDITY changed: reading the whole mailbox again (JetStream drops repeats)"
                );
            }
            *pos = Position {
                uid_validity: validity,
                last_uid: 0,
            };
        }
        tracing::info!(
            mailbox = %self.imap.mailbox, idle, last_uid = pos.last_uid,
            "watching mailbox"
        );
        loop {
            self.drain(&mut session, pos, shutdown).await?;
            if shutdown.is_cancelled() {
                return Ok(());
            }
            while session.unsolicited_responses.try_recv().is_ok() {}
            if idle {
                let mut handle = session.idle();
                handle.init().await.context("IDLE")?;
                let (wait, _stop) = handle.wait_with_timeout(self.imap.poll.max(MAX_IDLE));
                let response = tokio::select! {
                    r = wait => r.context("waiting in IDLE")?,
                    _ = shutdown.cancelled() => return Ok(()),
                };
                if let IdleResponse::NewData(_) = response {
                    tracing::debug!("mailbox changed");
                }
                session = handle.done().await.context("ending IDLE")?;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(self.imap.poll) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
                session.noop().await.context("NOOP")?;
            }
        }
    }

    async fn login(&self) -> anyhow::Result<Imap> {
        let addr = (self.imap.host.as_str(), self.imap.port);
        let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .with_context(|| {
                format!(
                    "connecting to {}:{} timed out",
                    self.imap.host, self.imap.port
                )
            })?
            .with_context(|| format!("connecting to {}:{}", self.imap.host, self.imap.port))?;
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .context("reading the IMAP greeting")?
            .context("the IMAP server closed the connection before its greeting")?;
        client
            .login(&self.imap.user, &self.imap.password)
            .await
            .map_err(|(e, _)| anyhow::anyhow!("IMAP LOGIN refused: {e}"))
    }

    /// Handles every message above `pos.last_uid`, in UID order.
    async fn drain(
        &self,
        session: &mut Imap,
        pos: &mut Position,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let query = format!("UID {}:*", pos.last_uid.saturating_add(1));
        let mut uids: Vec<u32> = session
            .uid_search(&query)
            .await
            .context("UID SEARCH")?
            .into_iter()
            .filter(|uid| *uid > pos.last_uid)
            .collect();
        uids.sort_unstable();
        for uid in uids {
            if shutdown.is_cancelled() {
                break;
            }
            let raw = self.fetch(session, uid).await?;
            match raw {
                Some(raw) => self.handle(pos.uid_validity, uid, &raw).await?,
                None => tracing::warn!(uid, "message vanished before it was fetched; skipping"),
            }
            pos.last_uid = uid;
            self.state.save(*pos)?;
        }
        Ok(())
    }

    async fn fetch(&self, session: &mut Imap, uid: u32) -> anyhow::Result<Option<Vec<u8>>> {
        let fetches: Vec<_> = session
            .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await
            .with_context(|| format!("UID FETCH {uid}"))?
            .try_collect()
            .await
            .with_context(|| format!("reading UID FETCH {uid}"))?;
        Ok(fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .or_else(|| fetches.first())
            .and_then(|f| f.body())
            .map(<[u8]>::to_vec))
    }

    /// Publishes one message, or dead-letters it. Errors are only NATS failures.
    async fn handle(&self, validity: u32, uid: u32, raw: &[u8]) -> anyhow::Result<()> {
        match convert::to_contact(raw) {
            Ok(contact) => {
                let from = contact
                    .customer
                    .as_ref()
                    .map(|c| pii::mask_email(&c.email))
                    .unwrap_or_default();
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(
                    events::HDR_MSG_ID,
                    format!("email:{}", contact.external_id).as_str(),
                );
                headers.insert(events::HDR_TYPE, CONTACT_TYPE);
                self.js
                    .publish_with_headers(SUBJECT, headers, contact.encode_to_vec().into())
                    .await
                    .context("publishing to intake.email")?
                    .await
                    .context("JetStream did not acknowledge the contact")?;
                tracing::info!(uid, %from, attachments = contact.attachments.len(), "contact published");
            }
            Err(e) => {
                tracing::warn!(uid, reason = %e, "message cannot be used; dead-lettering it");
                let letter = v1::DeadLetter {
                    service: SERVICE.to_owned(),
                    reason: "invalid".to_owned(),
                    error: e.to_string(),
                    subject: SUBJECT.to_owned(),
                    stream: String::new(),
                    stream_sequence: 0,
                    deliveries: 1,
                    headers: [
                        ("imap-mailbox".to_owned(), self.imap.mailbox.clone()),
                        ("imap-uidvalidity".to_owned(), validity.to_string()),
                        ("imap-uid".to_owned(), uid.to_string()),
                    ]
                    .into_iter()
                    .collect(),
                    // The raw mail holds the sender's address and words in plaintext, and
                    // it stays in the mailbox, which the headers above point to: the
                    // letter does not copy it onto the stream.
                    payload: Vec::new(),
                    failed_at: Some(time::to_timestamp(time::now_ms())),
                    sealed: false,
                };
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(
                    events::HDR_MSG_ID,
                    format!("dlq:email:{}:{validity}:{uid}", self.imap.mailbox).as_str(),
                );
                headers.insert(events::HDR_TYPE, "ombuds.v1.DeadLetter");
                self.js
                    .publish_with_headers(DLQ_SUBJECT, headers, letter.encode_to_vec().into())
                    .await
                    .context("publishing the dead letter")?
                    .await
                    .context("JetStream did not acknowledge the dead letter")?;
            }
        }
        Ok(())
    }
}
