//! Tracing set-up: human-readable lines by default, JSON when `OMBUDS_LOG_FORMAT=json`.
//! The filter comes from `RUST_LOG` (default `info`). Log fields never hold personal
//! data in plaintext: use the masks in [`crate::pii`].

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls are ignored (tests may call it often).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,sea_orm=warn,async_nats=warn,h2=warn,tower=warn,hyper=warn")
    });
    // The writer is stderr, so a failed write cannot be reported there: the report
    // (`eprintln!`) would panic the task that logged once stderr's reader is gone
    // (a closed pipe), and a panicking signal task would never start the shutdown.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
