//! Test support shared by every crate's tests and the end-to-end suite:
//!
//! - [`NatsServer`]: a real `nats-server -js` on a free port with a throw-away store,
//!   killed (and its store removed) on drop, with [`NatsServer::restart`] for fault tests.
//! - [`TestDatabase`]: a fresh database per test: a SQLite file in a temporary folder,
//!   or a new PostgreSQL database when `OMBUDS_TEST_DATABASE_URL` names a server.
//! - [`ServiceProcess`]: a service binary started as its own process, its output kept
//!   in a log file, stopped with SIGTERM on drop.
//! - [`wait_until`]: retry an assertion with back-off until a deadline, never a fixed sleep.

use std::{
    future::Future,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A port nobody listens on right now, for a server a test starts a moment later.
///
/// It is chosen below the kernel's ephemeral range (`ip_local_port_range`), from
/// which outgoing connections take their source ports: a port asked of the kernel
/// with `bind(0)` comes from that range, and another test's client connection can take
/// it between the check here and the server's own bind ("Address already in use").
/// Each process starts at its own pseudo-random place and walks on, so concurrent tests
/// do not pick the same ports either.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);

    const LOW: u32 = 10_000;
    let high = ephemeral_start().max(LOW + 1);
    let width = high - LOW;
    if NEXT.load(Ordering::Relaxed) == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = std::process::id()
            .wrapping_mul(2_654_435_761)
            .wrapping_add(nanos)
            | 1;
        let _ = NEXT.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..width.min(5_000) {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % width) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// The first port of the kernel's ephemeral range (Linux default 32768).
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Where `nats-server` is: `NATS_SERVER_BIN`, then `PATH`, then Debian's `/usr/sbin`.
pub fn nats_server_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/bin".into()])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// A real `nats-server` with JetStream, on a free port, with a temporary store.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts the server and waits until it accepts connections. Panics, saying how to
    /// install it, when `nats-server` is missing.
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temporary store");
        let mut server = Self {
            child: None,
            port: free_port(),
            store,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let bin = nats_server_bin().expect(
            "nats-server not found: install it (Debian: apt-get install nats-server) or set NATS_SERVER_BIN",
        );
        let log = std::fs::File::create(self.store.path().join("nats.log")).expect("nats log");
        let child = Command::new(bin)
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.store.path().join("js"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (keeping its store) without starting it again.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server and starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Retries `check` with back-off (10 ms doubling to 500 ms) until it returns `Ok` or
/// `timeout` passes; then panics with the last error.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(10);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {e}")
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// Waits until the service whose HTTP listener is `addr` (`127.0.0.1:8081` or
/// `http://127.0.0.1:8081`) answers `GET /readyz` with 200: its store and NATS are
/// reachable. Panics after `timeout` with the last answer.
pub async fn wait_ready(what: &str, addr: &str, timeout: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = addr.trim_start_matches("http://").to_owned();
    wait_until(&format!("{what} to be ready"), timeout, || {
        let addr = addr.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|e| e.to_string())?;
            s.write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                .await
                .map_err(|e| e.to_string())?;
            let mut answer = Vec::new();
            s.read_to_end(&mut answer)
                .await
                .map_err(|e| e.to_string())?;
            let status = String::from_utf8_lossy(&answer)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            if status.split_whitespace().nth(1) == Some("200") {
                Ok(())
            } else {
                Err(status)
            }
        }
    })
    .await
}

/// The environment variable naming a PostgreSQL server for tests.
pub const TEST_PG_VAR: &str = "OMBUDS_TEST_DATABASE_URL";

/// A fresh database for one test: SQLite in a temporary folder by default, or a new
/// database on the PostgreSQL server named by `OMBUDS_TEST_DATABASE_URL`
/// (e.g. `postgres://postgres@127.0.0.1:5432/test`), dropped again by [`TestDatabase::drop_pg`].
pub struct TestDatabase {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// SQLite unless `OMBUDS_TEST_DATABASE_URL` is set.
    pub async fn new(name: &str) -> Self {
        match std::env::var(TEST_PG_VAR).ok().filter(|v| !v.is_empty()) {
            Some(base) => Self::postgres(&base, name).await,
            None => Self::sqlite(name),
        }
    }

    pub fn sqlite(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/{name}.db?mode=rwc", dir.path().display());
        Self {
            url,
            pg: None,
            _dir: Some(dir),
        }
    }

    /// Creates `ombuds_t_<name>_<random>` on the server at `base`.
    pub async fn postgres(base: &str, name: &str) -> Self {
        use sea_orm::ConnectionTrait;
        let db_name = format!(
            "ombuds_t_{}_{}",
            name.replace('-', "_"),
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let admin = sea_orm::Database::connect(base)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {TEST_PG_VAR}={base}: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {db_name}"))
            .await
            .expect("create test database");
        let _ = admin.close().await;
        Self {
            url: replace_db_name(base, &db_name),
            pg: Some((base.to_owned(), db_name)),
            _dir: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Drops the PostgreSQL database (connections to it must be closed first).
    pub async fn drop_pg(&self) {
        use sea_orm::ConnectionTrait;
        if let Some((base, name)) = &self.pg {
            if let Ok(admin) = sea_orm::Database::connect(base.as_str()).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
            }
        }
    }
}

fn replace_db_name(url: &str, db: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// The folder holding the workspace's binaries (`target/<profile>`), found from the
/// running test executable (`target/<profile>/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The path of a workspace binary, or a panic that says how to build it.
pub fn bin_path(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: build the binaries first (cargo build --workspace --bins), as deploy/dev/test.sh does",
        p.display()
    );
    p
}

/// A service binary running as its own process. Its stdout and stderr go to a log
/// file (see [`ServiceProcess::log`]). Dropping it sends SIGTERM and waits.
pub struct ServiceProcess {
    pub name: String,
    child: Option<Child>,
    log_path: PathBuf,
}

impl ServiceProcess {
    pub fn start(binary: &str, log_dir: &Path, env: &[(String, String)]) -> Self {
        let log_path = log_dir.join(format!("{binary}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("service log");
        let child = Command::new(bin_path(binary))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "RUST_LOG",
                std::env::var("TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Self {
            name: binary.to_owned(),
            child: Some(child),
            log_path,
        }
    }

    /// The process's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// SIGTERM, then wait up to `grace` for a clean exit (SIGKILL after that).
    /// Returns whether it exited successfully on its own.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// SIGKILL: a crash, for fault tests.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
        if std::thread::panicking() || std::env::var("TEST_LOG").is_ok() {
            eprintln!(
                "----- {} log ({}) -----\n{}",
                self.name,
                self.log_path.display(),
                self.log()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            replace_db_name("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_db_name("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            replace_db_name("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_differ() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let start = ephemeral_start();
        assert!(
            ports.iter().all(|&p| u32::from(p) < start.max(10_001)),
            "{ports:?}"
        );
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }

    #[test]
    fn nats_server_starts_and_restarts() {
        if nats_server_bin().is_none() {
            eprintln!("SKIPPED: nats-server is not installed");
            return;
        }
        let mut s = NatsServer::start();
        assert!(TcpStream::connect(("127.0.0.1", s.port())).is_ok());
        s.restart();
        assert!(TcpStream::connect(("127.0.0.1", s.port())).is_ok());
    }
}
