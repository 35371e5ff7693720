//! What each subcommand does: build the request, call the one service that answers
//! it, and hand the answer to `render`. Returns the text to print, so `main` alone
//! writes to the terminal and decides the exit code.

use std::io::Read;

use chrono::Utc;
use ombuds_proto::v1::{
    self, analytics_service_client::AnalyticsServiceClient,
    complaint_service_client::ComplaintServiceClient, get_complaint_request::Key,
    sla_service_client::SlaServiceClient,
};

use crate::{
    cli::{Cli, Command, ListArgs, SlaCommand, SubmitArgs},
    client::{CtlError, Target},
    render,
};

/// Runs the parsed command and returns what to print.
pub async fn run(cli: Cli) -> Result<String, CtlError> {
    let json = cli.json;
    let e = &cli.endpoints;
    let value_or_text = match cli.command {
        Command::Submit(args) => {
            let target = Target::new("intake", &e.intake);
            let req = submit_request(args, &mut std::io::stdin())?;
            let mut client = ComplaintServiceClient::new(target.connect().await?);
            let r = client
                .submit(req)
                .await
                .map_err(|s| target.status(s))?
                .into_inner();
            Output::new(json, render::submit_json(&r), || render::submit_text(&r))
        }
        Command::Get { key } => {
            let target = Target::new("intake", &e.intake);
            let req = v1::GetComplaintRequest {
                key: Some(complaint_key(&key)?),
            };
            let mut client = ComplaintServiceClient::new(target.connect().await?);
            let c = client
                .get(req)
                .await
                .map_err(|s| target.status(s))?
                .into_inner();
            Output::new(json, render::complaint_json(&c), || {
                render::complaint_text(&c, Utc::now())
            })
        }
        Command::List(args) => {
            let target = Target::new("intake", &e.intake);
            let req = list_request(args);
            let mut client = ComplaintServiceClient::new(target.connect().await?);
            let r = client
                .list(req)
                .await
                .map_err(|s| target.status(s))?
                .into_inner();
            Output::new(json, render::list_json(&r), || render::list_text(&r))
        }
        Command::Stats => {
            let target = Target::new("analytics", &e.analytics);
            let mut client = AnalyticsServiceClient::new(target.connect().await?);
            let c = client
                .get_counts(v1::GetCountsRequest {})
                .await
                .map_err(|s| target.status(s))?
                .into_inner();
            Output::new(json, render::counts_json(&c), || render::counts_text(&c))
        }
        Command::Sla(SlaCommand::Show { key }) => {
            let target = Target::new("sla-watchdog", &e.sla);
            let req = match complaint_key(&key)? {
                Key::TicketNo(t) => v1::ListClocksRequest {
                    ticket_no: t,
                    ..Default::default()
                },
                Key::ComplaintId(id) => v1::ListClocksRequest {
                    complaint_id: id,
                    ..Default::default()
                },
            };
            let mut client = SlaServiceClient::new(target.connect().await?);
            let r = client
                .list_clocks(req)
                .await
                .map_err(|s| target.status(s))?
                .into_inner();
            Output::new(json, render::clocks_json(&r), || {
                render::clocks_text(&r, Utc::now())
            })
        }
        Command::Transfer(args) => return crate::transfer::run(args, e, json).await,
        Command::Ping => return ping(e, json).await,
        Command::Calendar(c) => return crate::calendar::run(c, json),
        Command::Dlq(d) => return crate::dlq::run(d, json).await,
        Command::Lifecycle(c) => return crate::lifecycle::run(c, &e.intake, json).await,
    };
    value_or_text.into_string()
}

/// Connects to every service (TCP and the HTTP/2 handshake); fails if any is unreachable.
async fn ping(e: &crate::cli::Endpoints, json: bool) -> Result<String, CtlError> {
    let mut results = Vec::new();
    for (service, url) in e.all() {
        let target = Target::new(service, url);
        let outcome = target.connect().await.map(|_| ());
        results.push((service, target.url, outcome));
    }
    let failed = results.iter().filter(|r| r.2.is_err()).count();
    let out = Output::new(json, render::ping_json(&results), || {
        render::ping_text(&results)
    })
    .into_string()?;
    if failed == 0 {
        Ok(out)
    } else {
        // The table still goes to standard output; the error line says how many failed.
        Err(CtlError::Partial {
            output: out,
            message: format!("{failed} of {} services unreachable", results.len()),
        })
    }
}

/// The answer in the form asked for.
enum Output {
    Json(serde_json::Value),
    Text(String),
}

impl Output {
    fn new(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> Self {
        if json {
            Self::Json(value)
        } else {
            Self::Text(text())
        }
    }

    fn into_string(self) -> Result<String, CtlError> {
        match self {
            Self::Text(t) => Ok(t),
            Self::Json(v) => serde_json::to_string_pretty(&v)
                .map(|s| s + "\n")
                .map_err(|e| CtlError::Other(format!("cannot encode JSON: {e}"))),
        }
    }
}

/// A complaint id when the argument is a UUID, a ticket number otherwise.
pub fn complaint_key(arg: &str) -> Result<Key, CtlError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(CtlError::Other(
            "a ticket number or complaint id is required".to_owned(),
        ));
    }
    Ok(match uuid::Uuid::try_parse(arg) {
        Ok(id) => Key::ComplaintId(id.hyphenated().to_string()),
        Err(_) => Key::TicketNo(arg.to_owned()),
    })
}

/// The Submit request; `--body -` reads the body from `stdin`.
pub fn submit_request(a: SubmitArgs, stdin: &mut impl Read) -> Result<v1::SubmitRequest, CtlError> {
    let body = if a.body == "-" {
        let mut s = String::new();
        stdin.read_to_string(&mut s).map_err(|e| {
            CtlError::Other(format!("cannot read the body from standard input: {e}"))
        })?;
        s
    } else {
        a.body
    };
    let external_id = a
        .external_id
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("cli-{}", uuid::Uuid::now_v7()));
    let mut social = std::collections::HashMap::new();
    for s in &a.social {
        let Some((platform, handle)) = s.split_once(':') else {
            return Err(CtlError::Other(format!(
                "--social takes platform:handle (wechat:oAbC123), not {s:?}"
            )));
        };
        social.insert(platform.to_owned(), handle.to_owned());
    }
    let customer = v1::CustomerDetails {
        name: a.name.unwrap_or_default(),
        phone: a.phone.unwrap_or_default(),
        email: a.email.unwrap_or_default(),
        account_id: a.account_id.unwrap_or_default(),
        social,
        address: a.address.unwrap_or_default(),
    };
    let has_customer = customer != v1::CustomerDetails::default();
    Ok(v1::SubmitRequest {
        channel: a.channel.clone(),
        contact: Some(v1::ContactSubmitted {
            external_id,
            received_at: None,
            customer: has_customer.then_some(customer),
            subject: a.subject.unwrap_or_default(),
            body,
            kind: a.kind.unwrap_or_default(),
            category: a.category.unwrap_or_default(),
            reference: a.reference.unwrap_or_default(),
            channel: a.channel,
            ..Default::default()
        }),
    })
}

pub fn list_request(a: ListArgs) -> v1::ListComplaintsRequest {
    v1::ListComplaintsRequest {
        status: a.status.unwrap_or_default(),
        channel: a.channel.unwrap_or_default(),
        department: a.department.unwrap_or_default(),
        page_size: a.limit.unwrap_or(0),
        page_token: a.page_token.unwrap_or_default(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn submit_args(args: &[&str]) -> SubmitArgs {
        let cli = Cli::try_parse_from(
            ["ombudsctl", "submit"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .expect("valid submit");
        match cli.command {
            Command::Submit(a) => a,
            other => panic!("expected submit, got {other:?}"),
        }
    }

    #[test]
    fn uuids_are_complaint_ids_and_anything_else_a_ticket() {
        let id = "0193a3c2-7b1e-7c3d-9f00-123456789abc";
        assert_eq!(complaint_key(id).expect("key"), Key::ComplaintId(id.into()));
        assert_eq!(
            complaint_key(" TS-20261122-0001 ").expect("key"),
            Key::TicketNo("TS-20261122-0001".into())
        );
        assert!(complaint_key("  ").is_err());
    }

    #[test]
    fn submit_fills_the_contact_and_a_fresh_external_id() {
        let req = submit_request(
            submit_args(&[
                "--channel",
                "web_form",
                "--body",
                "hi",
                "--email",
                "a@example.com",
                "--kind",
                "inquiry",
            ]),
            &mut std::io::empty(),
        )
        .expect("request");
        assert_eq!(req.channel, "web_form");
        let c = req.contact.expect("contact");
        assert_eq!(c.channel, "web_form");
        assert_eq!(c.body, "hi");
        assert_eq!(c.kind, "inquiry");
        let id = c.external_id.strip_prefix("cli-").expect("cli- prefix");
        let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 7);
        assert_eq!(c.customer.expect("customer").email, "a@example.com");
    }

    #[test]
    fn submit_keeps_a_given_external_id_and_omits_an_empty_customer() {
        let req = submit_request(
            submit_args(&[
                "--channel",
                "api",
                "--body",
                "x",
                "--external-id",
                "call-42",
            ]),
            &mut std::io::empty(),
        )
        .expect("request");
        let c = req.contact.expect("contact");
        assert_eq!(c.external_id, "call-42");
        assert_eq!(c.customer, None);
    }

    #[test]
    fn submit_body_dash_reads_standard_input() {
        let mut input: &[u8] = b"line one\nline two\n";
        let req = submit_request(
            submit_args(&["--channel", "email", "--body", "-"]),
            &mut input,
        )
        .expect("request");
        assert_eq!(req.contact.expect("contact").body, "line one\nline two\n");
    }

    #[test]
    fn list_maps_filters_and_paging() {
        let cli =
            Cli::try_parse_from(["ombudsctl", "list", "--status", "received", "--limit", "5"])
                .expect("valid list");
        let Command::List(a) = cli.command else {
            panic!("expected list")
        };
        let req = list_request(a);
        assert_eq!(req.status, "received");
        assert_eq!(req.page_size, 5);
        assert_eq!(req.channel, "");
        assert_eq!(req.page_token, "");
    }
}
