//! `ombudsctl transfer <ticket|id> --to <dept> --requirement <text> --deadline <RFC 3339>`:
//! fills in a transfer form with routing (`RoutingService.Transfer`). A ticket number
//! is first resolved to the complaint id with intake's `ComplaintService.Get`; a
//! complaint id (UUID) is used as it is. Prints the form (`--json`: as JSON).

use std::io::Read;

use chrono::{DateTime, FixedOffset};
use clap::Args;
use ombuds_proto::v1::{
    self, complaint_service_client::ComplaintServiceClient, get_complaint_request::Key,
    routing_service_client::RoutingServiceClient,
};
use prost_types::Timestamp;
use serde_json::{json, Value};

use crate::{
    cli::Endpoints,
    client::{CtlError, Target},
    commands::complaint_key,
    render,
};

#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// A ticket number, or a complaint id (UUID).
    pub ticket: String,
    /// The receiving department.
    #[arg(long, value_name = "DEPARTMENT")]
    pub to: String,
    /// What the receiving department must do ("-" reads it from standard input).
    #[arg(long)]
    pub requirement: String,
    /// By when, in RFC 3339 (e.g. 2026-11-25T18:00:00+08:00); must be in the future.
    #[arg(long, value_parser = parse_deadline)]
    pub deadline: DateTime<FixedOffset>,
    /// Who transfers it: the agent's id.
    #[arg(long, env = "OMBUDS_ACTOR", default_value = "cli")]
    pub actor: String,
}

fn parse_deadline(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map_err(|e| format!("expected RFC 3339, e.g. 2026-11-25T18:00:00+08:00 ({e})"))
}

/// The request, with the complaint id still to fill in when the key is a ticket.
pub fn request(
    args: TransferArgs,
    stdin: &mut impl Read,
) -> Result<(Key, v1::TransferRequest), CtlError> {
    let key = complaint_key(&args.ticket)?;
    let requirement = if args.requirement == "-" {
        let mut s = String::new();
        stdin.read_to_string(&mut s).map_err(|e| {
            CtlError::Other(format!(
                "cannot read the requirement from standard input: {e}"
            ))
        })?;
        s
    } else {
        args.requirement
    };
    let deadline = Timestamp {
        seconds: args.deadline.timestamp(),
        nanos: i32::try_from(args.deadline.timestamp_subsec_nanos()).unwrap_or(0),
    };
    let complaint_id = match &key {
        Key::ComplaintId(id) => id.clone(),
        Key::TicketNo(_) => String::new(),
    };
    Ok((
        key,
        v1::TransferRequest {
            complaint_id,
            to_department: args.to,
            requirement,
            deadline: Some(deadline),
            actor: args.actor,
        },
    ))
}

/// Runs `transfer`.
pub async fn run(args: TransferArgs, e: &Endpoints, json: bool) -> Result<String, CtlError> {
    let (key, mut req) = request(args, &mut std::io::stdin())?;
    if let Key::TicketNo(_) = key {
        let intake = Target::new("intake", &e.intake);
        let mut client = ComplaintServiceClient::new(intake.connect().await?);
        let c = client
            .get(v1::GetComplaintRequest { key: Some(key) })
            .await
            .map_err(|s| intake.status(s))?
            .into_inner();
        req.complaint_id = c.complaint_id;
    }
    let routing = Target::new("routing", &e.routing);
    let mut client = RoutingServiceClient::new(routing.connect().await?);
    let form = client
        .transfer(req)
        .await
        .map_err(|s| routing.status(s))?
        .into_inner();
    if json {
        serde_json::to_string_pretty(&form_json(&form))
            .map(|s| s + "\n")
            .map_err(|e| CtlError::Other(format!("cannot encode JSON: {e}")))
    } else {
        Ok(form_text(&form))
    }
}

/// `TS-20261122-000001  billing -> technical  due 2026-11-25T10:00:00Z  transfer <id>`
pub fn form_text(f: &v1::TransferForm) -> String {
    format!(
        "{}  {} -> {}  due {}  transfer {}\n",
        f.ticket_no,
        f.from_department,
        f.to_department,
        render::fmt_ts(f.deadline.as_ref()),
        f.transfer_id
    )
}

pub fn form_json(f: &v1::TransferForm) -> Value {
    json!({
        "transfer_id": f.transfer_id,
        "complaint_id": f.complaint_id,
        "ticket_no": f.ticket_no,
        "from_department": f.from_department,
        "to_department": f.to_department,
        "requirement": f.requirement,
        "deadline": render::ts_json(f.deadline.as_ref()),
        "actor": f.actor,
        "transferred_at": render::ts_json(f.transferred_at.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<TransferArgs, clap::Error> {
        let cli = Cli::try_parse_from(
            ["ombudsctl", "transfer"]
                .into_iter()
                .chain(args.iter().copied()),
        )?;
        match cli.command {
            Command::Transfer(a) => Ok(a),
            other => panic!("expected transfer, got {other:?}"),
        }
    }

    #[test]
    fn a_ticket_is_resolved_later_and_the_deadline_keeps_its_instant() {
        let args = parse(&[
            "TS-20261122-0001",
            "--to",
            "technical",
            "--requirement",
            "check the base station",
            "--deadline",
            "2026-11-25T18:00:00+08:00",
            "--actor",
            "agent-7",
        ])
        .expect("valid");
        let (key, req) = request(args, &mut std::io::empty()).expect("request");
        assert_eq!(key, Key::TicketNo("TS-20261122-0001".into()));
        assert_eq!(req.complaint_id, "");
        assert_eq!(req.to_department, "technical");
        assert_eq!(req.requirement, "check the base station");
        assert_eq!(req.actor, "agent-7");
        // 2026-11-25T10:00:00Z
        assert_eq!(
            req.deadline,
            Some(Timestamp {
                seconds: 1_795_600_800,
                nanos: 0
            })
        );
    }

    #[test]
    fn a_uuid_is_the_complaint_id_and_dash_reads_standard_input() {
        let id = "0193a3c2-7b1e-7c3d-9f00-123456789abc";
        let args = parse(&[
            id,
            "--to",
            "quality",
            "--requirement",
            "-",
            "--deadline",
            "2026-11-25T10:00:00.5Z",
        ])
        .expect("valid");
        let mut input: &[u8] = b"call the customer\n";
        let (key, req) = request(args, &mut input).expect("request");
        assert_eq!(key, Key::ComplaintId(id.into()));
        assert_eq!(req.complaint_id, id);
        assert_eq!(req.requirement, "call the customer\n");
        assert_eq!(req.deadline.expect("deadline").nanos, 500_000_000);
    }

    #[test]
    fn every_part_of_the_form_is_required_and_the_deadline_is_rfc3339() {
        let full = [
            "TS-1",
            "--to",
            "technical",
            "--requirement",
            "x",
            "--deadline",
            "2026-11-25T10:00:00Z",
        ];
        assert!(parse(&full).is_ok());
        for drop in ["--to", "--requirement", "--deadline"] {
            let i = full.iter().position(|a| *a == drop).expect("flag");
            let args: Vec<&str> = full
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i && *j != i + 1)
                .map(|(_, a)| *a)
                .collect();
            let err = parse(&args).expect_err(drop);
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::MissingRequiredArgument,
                "{drop}"
            );
        }
        let mut bad = full;
        bad[6] = "next tuesday";
        let err = parse(&bad).expect_err("not RFC 3339");
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn the_form_prints_on_one_line_or_as_json() {
        let f = v1::TransferForm {
            transfer_id: "tr-1".into(),
            complaint_id: "c-1".into(),
            ticket_no: "TS-1".into(),
            from_department: "billing".into(),
            to_department: "technical".into(),
            requirement: "check".into(),
            deadline: Some(Timestamp {
                seconds: 1_795_600_800,
                nanos: 0,
            }),
            actor: "agent-7".into(),
            transferred_at: None,
        };
        assert_eq!(
            form_text(&f),
            "TS-1  billing -> technical  due 2026-11-25T10:00:00Z  transfer tr-1\n"
        );
        let j = form_json(&f);
        assert_eq!(j["deadline"], json!("2026-11-25T10:00:00Z"));
        assert_eq!(j["transferred_at"], Value::Null);
        assert_eq!(j["to_department"], json!("technical"));
    }
}
