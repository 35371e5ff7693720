//! The webhook adapter binary: configuration, telemetry, signals; the logic is in the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load("webhook")?;
    let settings = ombuds_adapter_webhook::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.log_format);
    ombuds_adapter_webhook::run(settings, ombuds_platform::shutdown::on_signal()).await
}
