//! Every service stops cleanly on SIGTERM even when nobody reads its output any more:
//! `run.sh | tee` after Ctrl-C, a log collector that died, a closed terminal. A write
//! to a closed stderr must neither panic the task that logged nor keep the process
//! from stopping.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
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
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let exit = exit
            .unwrap_or_else(|| panic!("{service} ignored SIGTERM once its output pipe was closed"));
        assert!(exit.success(), "{service} exited with {exit}");
        db.drop_pg().await;
    }
}
