//! `ombuds-adapter-hotline`: call events from the telephony system to `telephony.call.*`,
//! and complaints recorded on calls to `intake.hotline`. Settings: see [`ombuds_adapter_hotline::Settings`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = ombuds_platform::config::Config::load(ombuds_adapter_hotline::config::SERVICE)?;
    let settings = ombuds_adapter_hotline::Settings::from_config(&cfg)?;
    ombuds_platform::telemetry::init(settings.log_format);
    ombuds_adapter_hotline::run(settings, ombuds_platform::shutdown::on_signal()).await
}
