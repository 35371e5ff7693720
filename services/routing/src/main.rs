//! The `ombuds-routing` binary: loads the settings and runs [`ombuds_routing::run`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load("routing")?;
    let settings = ombuds_routing::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.common.log_format);
    ombuds_routing::run(settings, ombuds_platform::shutdown::on_signal()).await
}
