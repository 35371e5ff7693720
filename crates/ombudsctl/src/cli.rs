//! The command line: global service URLs (each with an environment fallback), the
//! output switch, and one subcommand per question an operator asks. Parsing only;
//! `commands` does the work and `render` prints the answers.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ombudsctl",
    version,
    about = "Command-line client for Ombuds over gRPC",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub endpoints: Endpoints,

    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Where each service's gRPC API listens.
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    /// Intake (ComplaintService).
    #[arg(
        long,
        global = true,
        env = "OMBUDS_INTAKE_GRPC_URL",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL"
    )]
    pub intake: String,

    /// Routing (RoutingService).
    #[arg(
        long,
        global = true,
        env = "OMBUDS_ROUTING_GRPC_URL",
        default_value = "http://127.0.0.1:50052",
        value_name = "URL"
    )]
    pub routing: String,

    /// SLA watchdog (SlaService).
    #[arg(
        long,
        global = true,
        env = "OMBUDS_SLA_GRPC_URL",
        default_value = "http://127.0.0.1:50053",
        value_name = "URL"
    )]
    pub sla: String,

    /// Notification (NotificationService).
    #[arg(
        long,
        global = true,
        env = "OMBUDS_NOTIFICATION_GRPC_URL",
        default_value = "http://127.0.0.1:50054",
        value_name = "URL"
    )]
    pub notification: String,

    /// Analytics (AnalyticsService).
    #[arg(
        long,
        global = true,
        env = "OMBUDS_ANALYTICS_GRPC_URL",
        default_value = "http://127.0.0.1:50055",
        value_name = "URL"
    )]
    pub analytics: String,
}

impl Endpoints {
    /// Every service with its URL, in the order of the default ports.
    pub fn all(&self) -> [(&'static str, &str); 5] {
        [
            ("intake", &self.intake),
            ("routing", &self.routing),
            ("sla-watchdog", &self.sla),
            ("notification", &self.notification),
            ("analytics", &self.analytics),
        ]
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a contact with intake and print its ticket number.
    Submit(SubmitArgs),
    /// Show one complaint, by ticket number or complaint id.
    Get {
        /// A ticket number, or a complaint id (UUID).
        key: String,
    },
    /// List complaints, newest first.
    List(ListArgs),
    /// Counts and KPIs from analytics.
    Stats,
    /// SLA clocks.
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Transfer a complaint to another department with a transfer form (routing).
    Transfer(crate::transfer::TransferArgs),
    /// Check that every service's gRPC port answers.
    Ping,
    /// Dead letters on the DLQ stream: list, show, replay, discard (talks to NATS).
    Dlq(crate::dlq::DlqArgs),
    /// Deadline arithmetic on a business calendar (local; talks to no service).
    #[command(subcommand)]
    Calendar(crate::calendar::CalendarCommand),
    /// The lifecycle (agents): ack, note, reply, await, responded, resolve, close,
    /// reopen, satisfaction.
    #[command(flatten)]
    Lifecycle(crate::lifecycle::LifecycleCommand),
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// hotline | online_chat | app | email | social | store | web_form | sms | api
    #[arg(long)]
    pub channel: String,
    /// What the customer said ("-" reads it from standard input).
    #[arg(long)]
    pub body: String,
    /// The channel's own id for this contact (idempotency key); default: cli-<UUIDv7>.
    #[arg(long)]
    pub external_id: Option<String>,
    #[arg(long)]
    pub subject: Option<String>,
    /// complaint | inquiry | suggestion | praise
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    /// An earlier ticket number the customer cites.
    #[arg(long)]
    pub reference: Option<String>,
    /// The customer's name.
    #[arg(long)]
    pub name: Option<String>,
    /// The customer's phone number.
    #[arg(long)]
    pub phone: Option<String>,
    /// The customer's e-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// The customer's account id.
    #[arg(long)]
    pub account_id: Option<String>,
    /// A social-media handle as platform:handle (wechat:oAbC123); repeatable.
    #[arg(long = "social", value_name = "PLATFORM:HANDLE")]
    pub social: Vec<String>,
    /// The customer's postal address.
    #[arg(long)]
    pub address: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub channel: Option<String>,
    #[arg(long)]
    pub department: Option<String>,
    /// Complaints per page (the service caps it).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// The token printed after the previous page.
    #[arg(long)]
    pub page_token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SlaCommand {
    /// The clocks of one complaint.
    Show {
        /// A ticket number, or a complaint id (UUID).
        key: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ombudsctl").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn submit_takes_channel_body_and_customer() {
        let cli = parse(&[
            "submit",
            "--channel",
            "email",
            "--body",
            "My bill is wrong",
            "--name",
            "Ann",
            "--phone",
            "13812345678",
            "--account-id",
            "A-1",
        ])
        .expect("valid submit");
        let Command::Submit(a) = cli.command else {
            panic!("expected submit, got {:?}", cli.command)
        };
        assert_eq!(a.channel, "email");
        assert_eq!(a.body, "My bill is wrong");
        assert_eq!(a.name.as_deref(), Some("Ann"));
        assert_eq!(a.phone.as_deref(), Some("13812345678"));
        assert_eq!(a.account_id.as_deref(), Some("A-1"));
        assert_eq!(a.external_id, None);
        assert!(!cli.json);
    }

    #[test]
    fn submit_requires_channel_and_body() {
        let err = parse(&["submit", "--body", "x"]).expect_err("channel is required");
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&["submit", "--channel", "app"]).expect_err("body is required");
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let cli = parse(&["--intake", "http://intake:1", "get", "TS-1", "--json"])
            .expect("global flags anywhere");
        assert!(cli.json);
        assert_eq!(cli.endpoints.intake, "http://intake:1");
        assert!(matches!(cli.command, Command::Get { ref key } if key == "TS-1"));
        let cli = parse(&["get", "TS-1", "--sla", "http://sla:2"]).expect("after the command");
        assert_eq!(cli.endpoints.sla, "http://sla:2");
    }

    #[test]
    fn defaults_are_the_local_ports() {
        let cli = parse(&["stats"]).expect("stats");
        let expect = [
            (
                "OMBUDS_INTAKE_GRPC_URL",
                &cli.endpoints.intake,
                "http://127.0.0.1:50051",
            ),
            (
                "OMBUDS_ROUTING_GRPC_URL",
                &cli.endpoints.routing,
                "http://127.0.0.1:50052",
            ),
            (
                "OMBUDS_SLA_GRPC_URL",
                &cli.endpoints.sla,
                "http://127.0.0.1:50053",
            ),
            (
                "OMBUDS_NOTIFICATION_GRPC_URL",
                &cli.endpoints.notification,
                "http://127.0.0.1:50054",
            ),
            (
                "OMBUDS_ANALYTICS_GRPC_URL",
                &cli.endpoints.analytics,
                "http://127.0.0.1:50055",
            ),
        ];
        for (var, got, default) in expect {
            // The environment wins over the default; only check what the caller left unset.
            if std::env::var_os(var).is_none() {
                assert_eq!(got, default, "{var}");
            }
        }
    }

    #[test]
    fn ping_lists_every_service() {
        let cli = parse(&["ping", "--routing", "http://r:1"]).expect("ping");
        assert!(matches!(cli.command, Command::Ping));
        let all = cli.endpoints.all();
        assert_eq!(all[1], ("routing", "http://r:1"));
        assert_eq!(
            all.map(|(name, _)| name),
            [
                "intake",
                "routing",
                "sla-watchdog",
                "notification",
                "analytics"
            ]
        );
    }

    #[test]
    fn list_takes_filters_and_paging() {
        let cli = parse(&[
            "list",
            "--status",
            "received",
            "--channel",
            "web_form",
            "--department",
            "billing",
            "--limit",
            "20",
            "--page-token",
            "abc",
        ])
        .expect("valid list");
        let Command::List(a) = cli.command else {
            panic!("expected list")
        };
        assert_eq!(a.status.as_deref(), Some("received"));
        assert_eq!(a.channel.as_deref(), Some("web_form"));
        assert_eq!(a.department.as_deref(), Some("billing"));
        assert_eq!(a.limit, Some(20));
        assert_eq!(a.page_token.as_deref(), Some("abc"));
    }

    #[test]
    fn list_limit_must_be_a_number() {
        let err = parse(&["list", "--limit", "many"]).expect_err("not a number");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        let err = parse(&["list", "--limit", "-1"]).expect_err("negative");
        assert!(matches!(
            err.kind(),
            clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::UnknownArgument
        ));
    }

    #[test]
    fn sla_show_takes_a_ticket() {
        let cli = parse(&["sla", "show", "TS-20261122-0001"]).expect("sla show");
        assert!(
            matches!(cli.command, Command::Sla(SlaCommand::Show { ref key }) if key == "TS-20261122-0001")
        );
        assert!(parse(&["sla", "show"]).is_err());
        assert!(parse(&["sla"]).is_err());
    }

    #[test]
    fn unknown_commands_and_missing_command_are_errors() {
        assert_eq!(
            parse(&["frobnicate"]).expect_err("unknown").kind(),
            clap::error::ErrorKind::InvalidSubcommand
        );
        assert!(parse(&[]).is_err());
    }
}
