//! The whole platform for one test: a nats-server of its own, a store per service
//! (SQLite files, or fresh PostgreSQL databases when `OMBUDS_TEST_DATABASE_URL` is set),
//! and the five service binaries as separate processes on free ports.

#![allow(dead_code)]

use std::{collections::BTreeMap, time::Duration};

use ombuds_proto::v1::{
    self, analytics_service_client::AnalyticsServiceClient,
    complaint_service_client::ComplaintServiceClient,
    notification_service_client::NotificationServiceClient,
    routing_service_client::RoutingServiceClient, sla_service_client::SlaServiceClient,
};
use ombuds_testkit::{free_addr, wait_until, NatsServer, ServiceProcess, TestDatabase};
use tonic::transport::Channel;

pub const SERVICES: [&str; 5] = [
    "intake",
    "routing",
    "sla-watchdog",
    "notification",
    "analytics",
];

/// Fields drop in order: the services stop (and print their logs if the test failed)
/// before NATS stops and the temporary folder goes.
pub struct Platform {
    pub procs: BTreeMap<&'static str, ServiceProcess>,
    /// Each service's settings, so [`Platform::restart_with`] can start it again.
    pub env: BTreeMap<&'static str, Vec<(String, String)>>,
    pub http: BTreeMap<&'static str, String>,
    pub grpc: BTreeMap<&'static str, String>,
    pub dbs: Vec<TestDatabase>,
    pub notify_file: std::path::PathBuf,
    pub nats: NatsServer,
    pub dir: tempfile::TempDir,
}

impl Platform {
    /// Starts everything and waits until every service is ready. `sla` is the
    /// resolution time the watchdog's policy pack gives each complaint (e.g. "3s").
    pub async fn start(sla: &str) -> Self {
        Self::start_with_pack(&format!(
            "pack: e2e\nversion: 1\ndescription: end-to-end tests\npolicies:\n  - name: all\n    match: {{}}\n    targets:\n      - {{ target: resolution, within: {sla}, warn_at: [50] }}\n"
        ))
        .await
    }

    /// Starts everything with the watchdog on the given policy pack (YAML).
    pub async fn start_with_pack(pack_yaml: &str) -> Self {
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let pack = dir.path().join("e2e-pack.yaml");
        std::fs::write(&pack, pack_yaml).expect("policy pack");
        let notify_file = dir.path().join("notifications.jsonl");
        let mut http = BTreeMap::new();
        let mut grpc = BTreeMap::new();
        for s in SERVICES {
            http.insert(s, format!("http://{}", free_addr()));
            grpc.insert(s, format!("http://{}", free_addr()));
        }
        let mut dbs = Vec::new();
        let mut procs = BTreeMap::new();
        let mut envs = BTreeMap::new();
        for s in SERVICES {
            let db = TestDatabase::new(s).await;
            let mut env = vec![
                ("NATS_URL".to_owned(), nats.url()),
                ("DATABASE_URL".to_owned(), db.url.clone()),
                (
                    "OMBUDS_DATA_DIR".to_owned(),
                    dir.path().display().to_string(),
                ),
                (
                    "OMBUDS_HTTP_ADDR".to_owned(),
                    http[s].trim_start_matches("http://").to_owned(),
                ),
                (
                    "OMBUDS_GRPC_ADDR".to_owned(),
                    grpc[s].trim_start_matches("http://").to_owned(),
                ),
                ("OMBUDS_SHUTDOWN_GRACE".to_owned(), "5s".to_owned()),
            ];
            match s {
                "sla-watchdog" => {
                    env.push(("OMBUDS_SLA_POLICY_PACK".into(), pack.display().to_string()))
                }
                "notification" => {
                    env.push(("OMBUDS_INTAKE_GRPC_URL".into(), grpc["intake"].clone()));
                    env.push(("OMBUDS_NOTIFY_PROVIDER".into(), "file".into()));
                    env.push((
                        "OMBUDS_NOTIFY_FILE".into(),
                        notify_file.display().to_string(),
                    ));
                }
                _ => {}
            }
            procs.insert(
                s,
                ServiceProcess::start(&format!("ombuds-{s}"), dir.path(), &env),
            );
            envs.insert(s, env);
            dbs.push(db);
        }
        let platform = Self {
            nats,
            dir,
            procs,
            env: envs,
            http,
            grpc,
            dbs,
            notify_file,
        };
        for s in SERVICES {
            platform.wait_ready(s).await;
        }
        platform
    }

    async fn wait_ready(&self, service: &str) {
        ombuds_testkit::wait_ready(service, &self.http[service], Duration::from_secs(60)).await;
    }

    /// Stops `service` (SIGTERM, asserting a clean exit) and starts it again on the
    /// same ports and store with `extra` settings added, then waits until it is ready.
    pub async fn restart_with(&mut self, service: &'static str, extra: &[(&str, &str)]) {
        let proc = self.procs.get_mut(service).expect("a platform service");
        assert!(
            proc.stop(Duration::from_secs(15)),
            "{service} did not stop cleanly"
        );
        let env = self.env.get_mut(service).expect("its settings");
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let fresh = ServiceProcess::start(&format!("ombuds-{service}"), self.dir.path(), env);
        self.procs.insert(service, fresh);
        self.wait_ready(service).await;
    }

    pub fn is_postgres(&self) -> bool {
        self.dbs.iter().any(TestDatabase::is_postgres)
    }

    pub async fn intake(&self) -> ComplaintServiceClient<Channel> {
        ComplaintServiceClient::connect(self.grpc["intake"].clone())
            .await
            .expect("intake gRPC")
    }

    pub async fn routing(&self) -> RoutingServiceClient<Channel> {
        RoutingServiceClient::connect(self.grpc["routing"].clone())
            .await
            .expect("routing gRPC")
    }

    pub async fn sla(&self) -> SlaServiceClient<Channel> {
        SlaServiceClient::connect(self.grpc["sla-watchdog"].clone())
            .await
            .expect("sla gRPC")
    }

    pub async fn notification(&self) -> NotificationServiceClient<Channel> {
        NotificationServiceClient::connect(self.grpc["notification"].clone())
            .await
            .expect("notification gRPC")
    }

    pub async fn analytics(&self) -> AnalyticsServiceClient<Channel> {
        AnalyticsServiceClient::connect(self.grpc["analytics"].clone())
            .await
            .expect("analytics gRPC")
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let client = async_nats::connect(self.nats.url()).await.expect("nats");
        async_nats::jetstream::new(client)
    }

    /// Acknowledgements in the file provider's mailbox that carry `ticket_no`.
    pub fn acknowledgements(&self, ticket_no: &str) -> Vec<serde_json::Value> {
        self.mailbox(ticket_no, "acknowledgement")
    }

    /// The complaint that the contact `external_id` on `channel` became, once intake
    /// has recorded it (it may have arrived over JetStream).
    pub async fn recorded(&self, channel: &str, external_id: &str) -> v1::Complaint {
        let client = self.intake().await;
        wait_until(
            &format!("{channel} contact {external_id} to be recorded"),
            Duration::from_secs(30),
            || {
                let mut client = client.clone();
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
            },
        )
        .await
    }

    /// Waits until analytics' counts satisfy `ok`, and returns them.
    pub async fn counts_until(&self, what: &str, ok: fn(&v1::Counts) -> bool) -> v1::Counts {
        let analytics = self.analytics().await;
        wait_until(what, Duration::from_secs(60), || {
            let mut a = analytics.clone();
            async move {
                let c = a
                    .get_counts(v1::GetCountsRequest {})
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner();
                if ok(&c) {
                    Ok(c)
                } else {
                    Err(format!("{c:?}"))
                }
            }
        })
        .await
    }

    /// Lines of the file provider's mailbox with `ticket_no` and `template`.
    pub fn mailbox(&self, ticket_no: &str, template: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.notify_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["ticket_no"] == ticket_no && v["template"] == template)
            .collect()
    }

    /// Every service's log so far.
    pub fn logs(&self) -> String {
        self.procs
            .values()
            .map(|p| p.log())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops every service with SIGTERM and asserts each exits cleanly, then drops
    /// the PostgreSQL databases.
    pub async fn stop(mut self) {
        let mut unclean = Vec::new();
        for (name, p) in self.procs.iter_mut() {
            if !p.stop(Duration::from_secs(15)) {
                unclean.push(*name);
            }
        }
        for db in &self.dbs {
            db.drop_pg().await;
        }
        assert!(
            unclean.is_empty(),
            "services that did not stop cleanly on SIGTERM: {unclean:?}"
        );
    }
}

/// Every message payload (with headers) in every stream, as lossy text, for scans.
pub async fn all_stream_text(js: &async_nats::jetstream::Context) -> String {
    let mut out = String::new();
    for name in [
        "INTAKE",
        "COMPLAINTS",
        "ROUTING",
        "SLA",
        "NOTIFICATIONS",
        "TELEPHONY",
        "DLQ",
    ] {
        let Ok(mut stream) = js.get_stream(name).await else {
            continue;
        };
        let Ok(info) = stream.info().await else {
            continue;
        };
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        for seq in first..=last {
            if seq == 0 {
                continue;
            }
            if let Ok(m) = stream.get_raw_message(seq).await {
                out.push_str(&String::from_utf8_lossy(&m.payload));
                for (k, v) in m.headers.iter() {
                    out.push_str(&format!(" {k}={v:?}"));
                }
                out.push('\n');
            }
        }
    }
    out
}
