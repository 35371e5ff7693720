//! Every service stops cleanly on SIGTERM even when nobody reads its output any more:
//! `run.sh | tee` after Ctrl-C, a log collector that died, a closed terminal. A write
//! to a closed stderr must neither panic the task that logged nor keep the process
//! from stopping.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use ombuds_testkit::{bin_path, free_addr, wait_ready, NatsServer, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_stop_on_sigterm_when_their_output_pipe_is_closed() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    for service in [
        "intake",
        "routing",
        "sla-watchdog",
        "notification",
        "analytics",
    ] {
        let db = TestDatabase::new(service).await;
        let http = free_addr();
        let mut child = Command::new(bin_path(&format!("ombuds-{service}")))
            .env("NATS_URL", nats.url())
            .env("DATABASE_URL", &db.url)
            .env("OMBUDS_DATA_DIR", dir.path())
            .env("OMBUDS_HTTP_ADDR", http.to_string())
            .env("OMBUDS_GRPC_ADDR", free_addr().to_string())
            .env("OMBUDS_SHUTDOWN_GRACE", "5s")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the service");
        wait_ready(service, &http.to_string(), Duration::from_secs(60)).await;
        // The reader goes away: from now on every write to stdout or stderr fails.
        drop(child.stdout.take());
        drop(child.stderr.take());
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        // Wait for the exit itself (no polling); a process still there after 30 s is
        // killed, and the test fails.
        let pid = child.id().to_string();
        let waited = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || child.wait()),
        )
        .await;
        let Ok(joined) = waited else {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("{service} ignored SIGTERM once its output pipe was closed");
        };
        let exit = joined.expect("join").expect("wait for the service");
        assert!(exit.success(), "{service} exited with {exit}");
        db.drop_pg().await;
    }
}
