//! `ombudsctl dlq`: the dead letters on the `DLQ` stream, for the operator who decides
//! what becomes of them (DESIGN.md: "kept until an operator replays or discards them").
//! Unlike the other commands it talks to NATS (`--nats`, `NATS_URL`), where the letters
//! are, not to a service.
//!
//! - `dlq list [--service S] [--reason R]`: one line a letter (stream sequence, service,
//!   reason, original subject, deliveries, when, the error).
//! - `dlq show SEQ`: one letter whole: headers and payload (text when it is UTF-8, else
//!   its size; a sealed payload is shown as sealed, never opened here).
//! - `dlq replay SEQ… | --all`: publishes each original message to its subject again,
//!   with its headers, a new `Nats-Msg-Id` (the old one may still be in JetStream's
//!   duplicate window) and `Ombuds-Sealed: 1` when the payload is sealed, so the owning
//!   service opens it; once the stream has acknowledged it, the letter is deleted.
//! - `dlq discard SEQ… | --all`: deletes letters.
//!
//! `--all` takes the letters that `--service` and `--reason` select.

use async_nats::jetstream::{self, stream::Stream};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use ombuds_proto::v1;
use prost::Message;
use serde_json::json;

use crate::client::CtlError;

/// The stream of dead letters and the headers a replay sets.
const STREAM: &str = "DLQ";
const HDR_MSG_ID: &str = "Nats-Msg-Id";
const HDR_SEALED: &str = "Ombuds-Sealed";

#[derive(Debug, Args)]
pub struct DlqArgs {
    /// The NATS server holding the DLQ stream.
    #[arg(
        long,
        global = true,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL"
    )]
    pub nats: String,

    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List(Select),
    /// Show one dead letter whole.
    Show {
        /// Its sequence number in the DLQ stream (as `list` shows it).
        seq: u64,
    },
    /// Send dead letters back to their subjects, then delete them.
    Replay(Pick),
    /// Delete dead letters.
    Discard(Pick),
}

/// Which letters: by service and reason.
#[derive(Debug, Clone, Default, Args)]
pub struct Select {
    /// Only this service's letters (intake, routing, …).
    #[arg(long)]
    pub service: Option<String>,
    /// Only letters with this reason (decode, invalid, retries_exhausted, …).
    #[arg(long)]
    pub reason: Option<String>,
}

/// Letters named by sequence number, or every selected one.
#[derive(Debug, Args)]
pub struct Pick {
    /// Sequence numbers in the DLQ stream.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub seqs: Vec<u64>,
    /// Every letter that --service and --reason select.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub select: Select,
}

/// One letter as read from the stream.
#[derive(Debug, Clone)]
pub struct Letter {
    pub seq: u64,
    pub letter: v1::DeadLetter,
}

impl Select {
    fn matches(&self, l: &v1::DeadLetter) -> bool {
        self.service.as_deref().is_none_or(|s| s == l.service)
            && self.reason.as_deref().is_none_or(|r| r == l.reason)
    }
}

pub async fn run(args: DlqArgs, json: bool) -> Result<String, CtlError> {
    let js = connect(&args.nats).await?;
    let mut stream = js
        .get_stream(STREAM)
        .await
        .map_err(|e| CtlError::Other(format!("no {STREAM} stream at {}: {e}", args.nats)))?;
    match args.command {
        DlqCommand::List(select) => {
            let letters = read_all(&mut stream, &select).await?;
            Ok(render_list(&letters, json))
        }
        DlqCommand::Show { seq } => {
            let letter = read_one(&stream, seq).await?;
            Ok(render_show(&letter, json))
        }
        DlqCommand::Replay(pick) => {
            let letters = picked(&mut stream, &pick).await?;
            let mut done = Vec::new();
            for l in &letters {
                replay(&js, l).await?;
                delete(&stream, l.seq).await?;
                done.push(l.seq);
            }
            Ok(render_done("replayed", &letters, json))
        }
        DlqCommand::Discard(pick) => {
            let letters = picked(&mut stream, &pick).await?;
            for l in &letters {
                delete(&stream, l.seq).await?;
            }
            Ok(render_done("discarded", &letters, json))
        }
    }
}

async fn connect(url: &str) -> Result<jetstream::Context, CtlError> {
    let client = async_nats::ConnectOptions::new()
        .name("ombudsctl")
        .retry_on_initial_connect()
        .max_reconnects(Some(1))
        .connection_timeout(std::time::Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| CtlError::Other(format!("cannot reach NATS at {url}: {e}")))?;
    Ok(jetstream::new(client))
}

async fn read_one(stream: &Stream, seq: u64) -> Result<Letter, CtlError> {
    let raw = stream
        .get_raw_message(seq)
        .await
        .map_err(|e| CtlError::Other(format!("no dead letter {seq}: {e}")))?;
    let letter = v1::DeadLetter::decode(raw.payload).map_err(|e| {
        CtlError::Other(format!(
            "message {seq} of {STREAM} is not a DeadLetter: {e}"
        ))
    })?;
    Ok(Letter { seq, letter })
}

/// Every letter in the stream that `select` matches, oldest first.
async fn read_all(stream: &mut Stream, select: &Select) -> Result<Vec<Letter>, CtlError> {
    let info = stream
        .info()
        .await
        .map_err(|e| CtlError::Other(format!("reading {STREAM}: {e}")))?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in first.max(1)..=last {
        // Deleted letters leave gaps: skip them.
        let Ok(raw) = stream.get_raw_message(seq).await else {
            continue;
        };
        match v1::DeadLetter::decode(raw.payload) {
            Ok(letter) if select.matches(&letter) => out.push(Letter { seq, letter }),
            Ok(_) => {}
            Err(e) => {
                return Err(CtlError::Other(format!(
                    "message {seq} of {STREAM} is not a DeadLetter: {e}"
                )))
            }
        }
    }
    Ok(out)
}

async fn picked(stream: &mut Stream, pick: &Pick) -> Result<Vec<Letter>, CtlError> {
    if pick.all {
        return read_all(stream, &pick.select).await;
    }
    let mut out = Vec::with_capacity(pick.seqs.len());
    for &seq in &pick.seqs {
        out.push(read_one(stream, seq).await?);
    }
    Ok(out)
}

/// The original message again, as [`replay_headers`] says.
async fn replay(js: &jetstream::Context, l: &Letter) -> Result<(), CtlError> {
    let mut headers = async_nats::HeaderMap::new();
    for (k, v) in replay_headers(l) {
        headers.insert(k.as_str(), v.as_str());
    }
    let failed = |e: String| {
        CtlError::Other(format!(
            "replaying dead letter {} to {}: {e}",
            l.seq, l.letter.subject
        ))
    };
    js.publish_with_headers(
        l.letter.subject.clone(),
        headers,
        l.letter.payload.clone().into(),
    )
    .await
    .map_err(|e| failed(e.to_string()))?
    .await
    .map_err(|e| failed(e.to_string()))?;
    Ok(())
}

/// The headers a replay publishes: the original ones, a fresh message id (the original
/// may still be in the stream's duplicate window and would be dropped), and the seal
/// marker when the payload is sealed.
pub fn replay_headers(l: &Letter) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = l
        .letter
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(HDR_MSG_ID) && !k.eq_ignore_ascii_case(HDR_SEALED))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let original = l
        .letter
        .headers
        .get(HDR_MSG_ID)
        .cloned()
        .unwrap_or_default();
    out.push((
        HDR_MSG_ID.to_owned(),
        format!("replay:{}:{}:{original}", l.letter.stream, l.seq),
    ));
    if l.letter.sealed {
        out.push((HDR_SEALED.to_owned(), "1".to_owned()));
    }
    out.sort();
    out
}

async fn delete(stream: &Stream, seq: u64) -> Result<(), CtlError> {
    stream
        .delete_message(seq)
        .await
        .map(drop)
        .map_err(|e| CtlError::Other(format!("deleting dead letter {seq}: {e}")))
}

fn failed_at(l: &v1::DeadLetter) -> String {
    l.failed_at
        .as_ref()
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| "-".into())
}

/// The payload as an operator may read it: text when it is UTF-8 and not sealed.
fn payload_text(l: &v1::DeadLetter) -> Option<&str> {
    if l.sealed {
        return None;
    }
    std::str::from_utf8(&l.payload).ok()
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        flat.chars()
            .take(max.saturating_sub(1))
            .chain(['…'])
            .collect()
    }
}

fn letter_json(l: &Letter, with_payload: bool) -> serde_json::Value {
    let d = &l.letter;
    let mut v = json!({
        "seq": l.seq,
        "service": d.service,
        "reason": d.reason,
        "error": d.error,
        "subject": d.subject,
        "stream": d.stream,
        "stream_sequence": d.stream_sequence,
        "deliveries": d.deliveries,
        "failed_at": failed_at(d),
        "sealed": d.sealed,
        "payload_bytes": d.payload.len(),
    });
    if with_payload {
        v["headers"] = json!(d.headers);
        v["payload"] = match payload_text(d) {
            Some(t) => json!(t),
            None => serde_json::Value::Null,
        };
    }
    v
}

pub fn render_list(letters: &[Letter], json: bool) -> String {
    if json {
        let all: Vec<_> = letters.iter().map(|l| letter_json(l, false)).collect();
        return format!("{}\n", serde_json::Value::Array(all));
    }
    if letters.is_empty() {
        return "no dead letters\n".into();
    }
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|l| {
            let d = &l.letter;
            vec![
                l.seq.to_string(),
                d.service.clone(),
                d.reason.clone(),
                d.subject.clone(),
                d.deliveries.to_string(),
                failed_at(d),
                one_line(&d.error, 80),
            ]
        })
        .collect();
    crate::render::table(
        &[
            "SEQ",
            "SERVICE",
            "REASON",
            "SUBJECT",
            "DELIVERIES",
            "FAILED",
            "ERROR",
        ],
        &rows,
    )
}

pub fn render_show(l: &Letter, json: bool) -> String {
    if json {
        return format!("{}\n", letter_json(l, true));
    }
    let d = &l.letter;
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<12}{v}\n"));
    line("seq", &l.seq.to_string());
    line("service", &d.service);
    line("reason", &d.reason);
    line("error", &d.error);
    line("subject", &d.subject);
    line("from", &format!("{} #{}", d.stream, d.stream_sequence));
    line("deliveries", &d.deliveries.to_string());
    line("failed", &failed_at(d));
    let mut headers: Vec<_> = d.headers.iter().collect();
    headers.sort();
    for (k, v) in headers {
        line("header", &format!("{k}: {v}"));
    }
    let payload = match payload_text(d) {
        Some(t) => t.to_owned(),
        None if d.sealed => format!(
            "({} bytes, sealed by {}: it holds personal data; `dlq replay` sends it back for {} to open)",
            d.payload.len(),
            d.service,
            d.service
        ),
        None => format!("({} bytes, not UTF-8)", d.payload.len()),
    };
    out.push_str(&format!("payload\n{payload}\n"));
    out
}

pub fn render_done(verb: &str, letters: &[Letter], json: bool) -> String {
    let seqs: Vec<u64> = letters.iter().map(|l| l.seq).collect();
    if json {
        return format!("{}\n", json!({ verb: seqs }));
    }
    if seqs.is_empty() {
        return format!("nothing {verb}: no dead letter matched\n");
    }
    let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
    format!("{verb} {} dead letter(s): {}\n", seqs.len(), list.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(seq: u64, sealed: bool) -> Letter {
        Letter {
            seq,
            letter: v1::DeadLetter {
                service: "intake".into(),
                reason: "invalid".into(),
                error: "contact on intake.app: customer.phone: a phone number has 5 to 15 digits\nsecond line".into(),
                subject: "intake.app".into(),
                stream: "INTAKE".into(),
                stream_sequence: 7,
                deliveries: 1,
                headers: [
                    ("Nats-Msg-Id".to_owned(), "abc".to_owned()),
                    ("Ombuds-Type".to_owned(), "ombuds.v1.ContactSubmitted".to_owned()),
                ]
                .into(),
                payload: if sealed { b"v1:k:xyz".to_vec() } else { b"{\"body\":\"hi\"}".to_vec() },
                failed_at: Some(prost_types::Timestamp {
                    seconds: 1_764_590_400,
                    nanos: 0,
                }),
                sealed,
            },
        }
    }

    #[test]
    fn replay_gets_a_fresh_message_id_and_the_seal_marker() {
        let h = replay_headers(&letter(12, true));
        assert_eq!(
            h,
            [
                ("Nats-Msg-Id".to_owned(), "replay:INTAKE:12:abc".to_owned()),
                ("Ombuds-Sealed".to_owned(), "1".to_owned()),
                (
                    "Ombuds-Type".to_owned(),
                    "ombuds.v1.ContactSubmitted".to_owned()
                ),
            ]
        );
        let plain = replay_headers(&letter(3, false));
        assert!(!plain.iter().any(|(k, _)| k == "Ombuds-Sealed"));
    }

    #[test]
    fn selection_by_service_and_reason() {
        let l = letter(1, false).letter;
        assert!(Select::default().matches(&l));
        let by = |s: Option<&str>, r: Option<&str>| Select {
            service: s.map(str::to_owned),
            reason: r.map(str::to_owned),
        };
        assert!(by(Some("intake"), Some("invalid")).matches(&l));
        assert!(!by(Some("routing"), None).matches(&l));
        assert!(!by(None, Some("decode")).matches(&l));
    }

    #[test]
    fn list_is_one_line_a_letter_and_show_never_prints_a_sealed_payload() {
        let list = render_list(&[letter(4, false), letter(5, true)], false);
        assert_eq!(list.lines().count(), 3, "{list}");
        assert!(
            list.contains("digits second…"),
            "errors fold onto one line: {list}"
        );
        assert_eq!(render_list(&[], false), "no dead letters\n");
        let shown = render_show(&letter(5, true), false);
        assert!(shown.contains("sealed by intake"), "{shown}");
        assert!(!shown.contains("v1:k:xyz"));
        let plain = render_show(&letter(4, false), false);
        assert!(plain.contains("{\"body\":\"hi\"}"), "{plain}");
        let j: serde_json::Value =
            serde_json::from_str(&render_show(&letter(5, true), true)).expect("json");
        assert!(j["payload"].is_null());
        assert_eq!(j["sealed"], true);
    }

    #[test]
    fn done_says_what_was_done() {
        assert_eq!(
            render_done("replayed", &[letter(4, false), letter(9, false)], false),
            "replayed 2 dead letter(s): 4 9\n"
        );
        assert_eq!(
            render_done("discarded", &[], false),
            "nothing discarded: no dead letter matched\n"
        );
        assert_eq!(
            render_done("discarded", &[letter(2, false)], true),
            "{\"discarded\":[2]}\n"
        );
    }
}
