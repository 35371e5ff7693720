//! The `ombuds-analytics` binary: loads the settings and runs [`ombuds_analytics::run`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load("analytics")?;
    let settings = ombuds_analytics::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.common.log_format);
    ombuds_analytics::run(settings, ombuds_platform::shutdown::on_signal()).await
}
