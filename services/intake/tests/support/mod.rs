//! Intake running in-process for one test: its own nats-server, a fresh store
//! (SQLite, or PostgreSQL when OMBUDS_TEST_DATABASE_URL is set), fixed test keys, and
//! a gRPC client that answers only once the store is migrated.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use async_nats::jetstream::{self, message::StreamMessage};
use ombuds_intake::{run, Settings};
use ombuds_platform::{
    config::Config,
    events::{self, Event},
    shutdown::CancellationToken,
};
use ombuds_proto::v1::{
    self, complaint_service_client::ComplaintServiceClient, get_complaint_request::Key,
};
use ombuds_testkit::{free_addr, wait_until, NatsServer, TestDatabase};
use tonic::{transport::Channel, Code};

pub const WAIT: Duration = Duration::from_secs(30);

/// Test keys (base64 of 32 bytes); a second, older key id shows the rotation format.
pub const PII_KEYS: &str =
    "t2:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=,t1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
pub const PII_INDEX_KEY: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";

pub type Client = ComplaintServiceClient<Channel>;

/// Intake, its NATS server and its store, for one test.
pub struct Intake {
    pub _nats: NatsServer,
    pub db: TestDatabase,
    pub token: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub http: SocketAddr,
    pub js: jetstream::Context,
    pub client: Client,
}

impl Intake {
    /// Starts intake with the test keys; `extra` settings are added (and win).
    pub async fn start(name: &str, extra: &[(&str, &str)]) -> Self {
        Self::start_after(name, extra, &[]).await
    }

    /// Like [`Intake::start`], with `waiting` (subject, payload) messages already
    /// published to JetStream when intake starts, so its consumers find a backlog.
    pub async fn start_after(
        name: &str,
        extra: &[(&str, &str)],
        waiting: &[(String, Vec<u8>)],
    ) -> Self {
        let nats = NatsServer::start();
        if !waiting.is_empty() {
            let js = jetstream::new(async_nats::connect(nats.url()).await.expect("connect NATS"));
            ombuds_platform::nats::provision(&js)
                .await
                .expect("provision streams");
            for (subject, payload) in waiting {
                js.publish(subject.clone(), payload.clone().into())
                    .await
                    .expect("publish")
                    .await
                    .expect("stream ack");
            }
        }
        Self::start_on(nats, TestDatabase::new(name).await, extra).await
    }

    /// Stops intake and starts it again on the same NATS server and store, with
    /// `extra` settings (e.g. other keys).
    pub async fn restart(self, extra: &[(&str, &str)]) -> Self {
        let (nats, db) = self.stop_keeping_store().await;
        Self::start_on(nats, db, extra).await
    }

    /// Stops intake, keeping its NATS server and store.
    pub async fn stop_keeping_store(self) -> (NatsServer, TestDatabase) {
        self.token.cancel();
        self.task
            .await
            .expect("intake task")
            .expect("intake stops cleanly");
        (self._nats, self.db)
    }

    /// Starts intake on a given NATS server and store.
    pub async fn start_on(nats: NatsServer, db: TestDatabase, extra: &[(&str, &str)]) -> Self {
        let (http, grpc) = (free_addr(), free_addr());
        let mut pairs: Vec<(String, String)> = vec![
            ("NATS_URL".into(), nats.url()),
            ("DATABASE_URL".into(), db.url.clone()),
            ("OMBUDS_HTTP_ADDR".into(), http.to_string()),
            ("OMBUDS_GRPC_ADDR".into(), grpc.to_string()),
            ("OMBUDS_SHUTDOWN_GRACE".into(), "5s".into()),
            ("OMBUDS_PII_KEYS".into(), PII_KEYS.into()),
            ("OMBUDS_PII_INDEX_KEY".into(), PII_INDEX_KEY.into()),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let settings =
            Settings::from_config(&Config::from_pairs("intake", pairs)).expect("settings");
        let token = CancellationToken::new();
        let task = tokio::spawn(run(settings, token.clone()));
        let url = format!("http://{grpc}");
        // The port is bound before the store is migrated: wait for an answer, not a connection.
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
        let js = jetstream::new(async_nats::connect(nats.url()).await.expect("connect NATS"));
        wait_until("the COMPLAINTS and ROUTING streams", WAIT, || {
            let js = js.clone();
            async move {
                for s in ["COMPLAINTS", "ROUTING"] {
                    js.get_stream(s).await.map_err(|e| format!("{s}: {e}"))?;
                }
                Ok(())
            }
        })
        .await;
        Self {
            _nats: nats,
            db,
            token,
            task,
            http,
            js,
            client,
        }
    }

    /// Submits a contact over gRPC.
    pub async fn submit(&self, channel: &str, c: v1::ContactSubmitted) -> v1::SubmitResponse {
        self.client
            .clone()
            .submit(v1::SubmitRequest {
                channel: channel.into(),
                contact: Some(c),
            })
            .await
            .expect("submit")
            .into_inner()
    }

    /// The complaint with this ticket number.
    pub async fn get(&self, ticket: &str) -> v1::Complaint {
        self.client
            .clone()
            .get(v1::GetComplaintRequest {
                key: Some(Key::TicketNo(ticket.into())),
            })
            .await
            .expect("get")
            .into_inner()
    }

    /// The complaint that the contact `external_id` on `channel` became, once intake
    /// has recorded it (it may have arrived over JetStream).
    pub async fn recorded(&self, channel: &str, external_id: &str) -> v1::Complaint {
        wait_until(&format!("{external_id} to be recorded"), WAIT, || {
            let mut client = self.client.clone();
            async move {
                let page = client
                    .list(v1::ListComplaintsRequest {
                        channel: channel.into(),
                        page_size: 500,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner();
                page.complaints
                    .into_iter()
                    .find(|c| c.external_id == external_id)
                    .ok_or_else(|| "not recorded yet".to_owned())
            }
        })
        .await
    }

    pub async fn stop(self) {
        self.token.cancel();
        self.task
            .await
            .expect("intake task")
            .expect("intake stops cleanly");
        self.db.drop_pg().await;
    }
}

/// The event in a stream message, if it is an `E`.
pub fn decode<E: Event>(m: &StreamMessage) -> Option<E> {
    let ty = m
        .headers
        .get(events::HDR_TYPE)
        .map(|v| v.as_str().to_owned());
    (ty.as_deref() == Some(E::TYPE))
        .then(|| E::decode(m.payload.clone()).ok())
        .flatten()
}
