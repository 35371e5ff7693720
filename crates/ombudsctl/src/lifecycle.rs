//! The agent's lifecycle subcommands — `ack`, `note`, `reply`, `await`, `responded`,
//! `resolve`, `close`, `reopen`, `satisfaction` — each a call of one of intake's
//! ComplaintService lifecycle RPCs on `<ticket>` (a ticket number or a complaint id),
//! with `--expected-version` (refused with ABORTED when the complaint has moved on)
//! and `--actor` (`OMBUDS_ACTOR`, default `cli`). Prints the new status and version,
//! or with `--json` the whole complaint.
//!
//! Flattened into `cli::Command`, so the parsing lives here next to the calls.

use std::io::Read;

use clap::{Args, Subcommand};
use ombuds_proto::v1::{
    self, complaint_service_client::ComplaintServiceClient, get_complaint_request::Key,
};

use crate::{
    client::{CtlError, Target},
    commands::complaint_key,
    render,
};

#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Acknowledge a complaint: an agent takes it up (→ in_progress).
    Ack(On),
    /// Add an internal note (the customer never sees it).
    Note {
        #[command(flatten)]
        on: On,
        /// The note ("-" reads it from standard input).
        #[arg(long)]
        text: String,
    },
    /// Reply to the customer (→ in_progress when work had not started).
    Reply {
        #[command(flatten)]
        on: On,
        /// The reply ("-" reads it from standard input).
        #[arg(long)]
        text: String,
    },
    /// Wait for the customer (in_progress → awaiting_customer).
    Await {
        #[command(flatten)]
        on: On,
        /// What the customer is asked for.
        #[arg(long)]
        reason: String,
    },
    /// The customer answered (awaiting_customer → in_progress).
    Responded {
        #[command(flatten)]
        on: On,
        /// What the customer said ("-" reads it from standard input).
        #[arg(long)]
        text: Option<String>,
    },
    /// Resolve a complaint with its result, cause and improvement measures.
    Resolve {
        #[command(flatten)]
        on: On,
        #[arg(long)]
        result: String,
        #[arg(long)]
        cause: Option<String>,
        /// The improvement measures.
        #[arg(long)]
        measures: Option<String>,
        /// Answered and resolved on first contact (from received, triaged or assigned).
        #[arg(long)]
        first_contact: bool,
    },
    /// Close a resolved complaint.
    Close {
        #[command(flatten)]
        on: On,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reopen a resolved or closed complaint (the customer is not satisfied).
    Reopen {
        #[command(flatten)]
        on: On,
        #[arg(long)]
        reason: String,
    },
    /// Record the customer's satisfaction, 1 (very unsatisfied) to 5.
    Satisfaction {
        #[command(flatten)]
        on: On,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=5))]
        score: u32,
        #[arg(long)]
        comment: Option<String>,
    },
}

/// What every lifecycle subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct On {
    /// A ticket number, or a complaint id (UUID).
    pub ticket: String,
    /// Act only if the complaint is at this version (as `get` shows it).
    #[arg(long, value_name = "N")]
    pub expected_version: Option<u64>,
    /// Who acts: the agent's id.
    #[arg(long, env = "OMBUDS_ACTOR", default_value = "cli")]
    pub actor: String,
}

/// The request's shared fields: (ticket_no, complaint_id, expected_version, actor).
type Shared = (String, String, u64, String);

fn shared(on: &On) -> Result<Shared, CtlError> {
    let (ticket_no, complaint_id) = match complaint_key(&on.ticket)? {
        Key::TicketNo(t) => (t, String::new()),
        Key::ComplaintId(id) => (String::new(), id),
    };
    Ok((
        ticket_no,
        complaint_id,
        on.expected_version.unwrap_or(0),
        on.actor.clone(),
    ))
}

/// `-` means standard input.
fn text_arg(text: String, stdin: &mut impl Read) -> Result<String, CtlError> {
    if text != "-" {
        return Ok(text);
    }
    let mut s = String::new();
    stdin
        .read_to_string(&mut s)
        .map_err(|e| CtlError::Other(format!("cannot read the text from standard input: {e}")))?;
    Ok(s)
}

/// One lifecycle request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Ack(v1::AcknowledgeRequest),
    Note(v1::AddNoteRequest),
    Reply(v1::ReplyRequest),
    Await(v1::SetAwaitingCustomerRequest),
    Responded(v1::CustomerRespondedRequest),
    Resolve(v1::ResolveRequest),
    Close(v1::CloseRequest),
    Reopen(v1::ReopenRequest),
    Satisfaction(v1::RecordSatisfactionRequest),
}

/// Builds the request for a subcommand.
pub fn request(cmd: LifecycleCommand, stdin: &mut impl Read) -> Result<Call, CtlError> {
    use LifecycleCommand as C;
    Ok(match cmd {
        C::Ack(on) => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Ack(v1::AcknowledgeRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
            })
        }
        C::Note { on, text } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Note(v1::AddNoteRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                text: text_arg(text, stdin)?,
            })
        }
        C::Reply { on, text } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Reply(v1::ReplyRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                text: text_arg(text, stdin)?,
            })
        }
        C::Await { on, reason } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Await(v1::SetAwaitingCustomerRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                reason,
            })
        }
        C::Responded { on, text } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Responded(v1::CustomerRespondedRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                text: match text {
                    Some(t) => text_arg(t, stdin)?,
                    None => String::new(),
                },
            })
        }
        C::Resolve {
            on,
            result,
            cause,
            measures,
            first_contact,
        } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Resolve(v1::ResolveRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                result,
                cause: cause.unwrap_or_default(),
                measures: measures.unwrap_or_default(),
                first_contact,
            })
        }
        C::Close { on, reason } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Close(v1::CloseRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                reason: reason.unwrap_or_default(),
            })
        }
        C::Reopen { on, reason } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Reopen(v1::ReopenRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                reason,
            })
        }
        C::Satisfaction { on, score, comment } => {
            let (ticket_no, complaint_id, expected_version, actor) = shared(&on)?;
            Call::Satisfaction(v1::RecordSatisfactionRequest {
                ticket_no,
                complaint_id,
                expected_version,
                actor,
                score,
                comment: comment.unwrap_or_default(),
            })
        }
    })
}

/// Runs a lifecycle subcommand against intake at `intake_url`.
pub async fn run(cmd: LifecycleCommand, intake_url: &str, json: bool) -> Result<String, CtlError> {
    let call = request(cmd, &mut std::io::stdin())?;
    let target = Target::new("intake", intake_url);
    let mut client = ComplaintServiceClient::new(target.connect().await?);
    let answer = match call {
        Call::Ack(r) => client.acknowledge(r).await,
        Call::Note(r) => client.add_note(r).await,
        Call::Reply(r) => client.reply(r).await,
        Call::Await(r) => client.set_awaiting_customer(r).await,
        Call::Responded(r) => client.customer_responded(r).await,
        Call::Resolve(r) => client.resolve(r).await,
        Call::Close(r) => client.close(r).await,
        Call::Reopen(r) => client.reopen(r).await,
        Call::Satisfaction(r) => client.record_satisfaction(r).await,
    };
    let c = answer.map_err(|s| target.status(s))?.into_inner();
    if json {
        serde_json::to_string_pretty(&render::complaint_json(&c))
            .map(|s| s + "\n")
            .map_err(|e| CtlError::Other(format!("cannot encode JSON: {e}")))
    } else {
        Ok(outcome_text(&c))
    }
}

/// `TS-20261122-000001  in_progress  version 4`
pub fn outcome_text(c: &v1::Complaint) -> String {
    format!("{}  {}  version {}\n", c.ticket_no, c.status, c.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<LifecycleCommand, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("ombudsctl").chain(args.iter().copied()))?;
        match cli.command {
            Command::Lifecycle(c) => Ok(c),
            other => panic!("expected a lifecycle command, got {other:?}"),
        }
    }

    fn build(args: &[&str]) -> Call {
        request(parse(args).expect("valid"), &mut std::io::empty()).expect("request")
    }

    #[test]
    fn ack_takes_a_ticket_version_and_actor() {
        let call = build(&[
            "ack",
            "TS-20261122-000001",
            "--expected-version",
            "3",
            "--actor",
            "agent-7",
        ]);
        assert_eq!(
            call,
            Call::Ack(v1::AcknowledgeRequest {
                ticket_no: "TS-20261122-000001".into(),
                complaint_id: String::new(),
                expected_version: 3,
                actor: "agent-7".into(),
            })
        );
    }

    #[test]
    fn the_actor_defaults_to_cli_and_a_uuid_is_a_complaint_id() {
        let id = "0193a3c2-7b1e-7c3d-9f00-123456789abc";
        let Call::Close(r) = build(&["close", id]) else {
            panic!("expected close")
        };
        assert_eq!(r.complaint_id, id);
        assert_eq!(r.ticket_no, "");
        assert_eq!(r.expected_version, 0);
        if std::env::var_os("OMBUDS_ACTOR").is_none() {
            assert_eq!(r.actor, "cli");
        }
    }

    #[test]
    fn resolve_carries_the_resolution() {
        let Call::Resolve(r) = build(&[
            "resolve",
            "TS-1",
            "--result",
            "refunded",
            "--cause",
            "double charge",
            "--measures",
            "batch guard",
            "--first-contact",
        ]) else {
            panic!("expected resolve")
        };
        assert_eq!(
            (
                r.result.as_str(),
                r.cause.as_str(),
                r.measures.as_str(),
                r.first_contact
            ),
            ("refunded", "double charge", "batch guard", true)
        );
        assert!(parse(&["resolve", "TS-1"]).is_err(), "--result is required");
    }

    #[test]
    fn reopen_and_await_need_a_reason() {
        assert!(parse(&["reopen", "TS-1"]).is_err());
        assert!(parse(&["await", "TS-1"]).is_err());
        let Call::Await(r) = build(&["await", "TS-1", "--reason", "invoice number"]) else {
            panic!("expected await")
        };
        assert_eq!(r.reason, "invoice number");
    }

    #[test]
    fn satisfaction_scores_are_one_to_five() {
        for bad in ["0", "6", "x"] {
            let err = parse(&["satisfaction", "TS-1", "--score", bad]).expect_err("out of range");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
        let Call::Satisfaction(r) =
            build(&["satisfaction", "TS-1", "--score", "2", "--comment", "slow"])
        else {
            panic!("expected satisfaction")
        };
        assert_eq!((r.score, r.comment.as_str()), (2, "slow"));
    }

    #[test]
    fn note_text_dash_reads_standard_input() {
        let cmd = parse(&["note", "TS-1", "--text", "-"]).expect("valid");
        let mut input: &[u8] = b"line one\nline two\n";
        let Call::Note(r) = request(cmd, &mut input).expect("request") else {
            panic!("expected note")
        };
        assert_eq!(r.text, "line one\nline two\n");
        let Call::Responded(r) = build(&["responded", "TS-1"]) else {
            panic!("expected responded")
        };
        assert_eq!(r.text, "");
    }

    #[test]
    fn the_outcome_is_the_status_and_version() {
        let c = v1::Complaint {
            ticket_no: "TS-1".into(),
            status: "in_progress".into(),
            version: 4,
            ..Default::default()
        };
        assert_eq!(outcome_text(&c), "TS-1  in_progress  version 4\n");
    }
}
