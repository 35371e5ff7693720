//! The `ombuds-adapter-email` binary: configuration, logging, signals, then [`ombuds_adapter_email::run`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load(ombuds_adapter_email::config::SERVICE)?;
    let settings = ombuds_adapter_email::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.log_format);
    ombuds_adapter_email::run(settings, ombuds_platform::shutdown::on_signal()).await
}
