#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load("notification")?;
    let settings = ombuds_notification::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.common.log_format);
    ombuds_notification::run(settings, ombuds_platform::shutdown::on_signal()).await
}
