//! The intake binary: configuration, telemetry, signals; the logic is in the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load("intake")?;
    let settings = ombuds_intake::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.common.log_format);
    ombuds_intake::run(settings, ombuds_platform::shutdown::on_signal()).await
}
