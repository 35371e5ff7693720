//! The sla-watchdog binary: configuration, telemetry, signals; the logic is in the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load("sla-watchdog")?;
    let settings = ombuds_sla_watchdog::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.common.log_format);
    ombuds_sla_watchdog::run(settings, ombuds_platform::shutdown::on_signal()).await
}
