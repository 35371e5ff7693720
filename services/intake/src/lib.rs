//! intake: the system of record for complaints.
//!
//! A contact arrives three ways — `POST /v1/contacts/{channel}` ([`http`]), gRPC
//! `ComplaintService.Submit` ([`grpc`]) and a JetStream message on `intake.<channel>`
//! ([`consumers`]) — and each is parsed into a [`contact::NewContact`] and recorded by
//! [`recording`] (the consumer many contacts per transaction, HTTP and gRPC one): one
//! complaint per (channel, external id), a human ticket number, and
//! `complaint.received` through the outbox. Intake then learns the department from
//! `routing.assigned` (and `routing.transferred`) and the deadlines from `sla.*`, so
//! `Get` shows them.
//!
//! Intake owns the complaint's [`lifecycle`] (received → … → resolved → closed, with
//! reopened): agents move it through the `ComplaintService` lifecycle RPCs, applied by
//! [`actions`] with optimistic concurrency (a version number), a history row per change
//! and an event per transition.
//!
//! Before opening a complaint, [`threading`] looks for the one a contact follows up on
//! (a cited ticket number, an e-mail reply, a repeat about the same open category) and
//! appends the contact to it as a customer message instead. Complaints carry a
//! classification ([`taxonomy`]: category, sub-category, severity × urgency → priority,
//! tags) that the channel supplies and agents change with `Classify` ([`classify`]).
//!
//! Customers' personal data is encrypted at rest and linked through blind indexes
//! ([`crypto`]); so is the complaints' free text — subjects, bodies, messages,
//! resolutions, reasons — with a search index of keyed hashes ([`sealing`],
//! [`search`]). It is decrypted only inside intake.

pub mod actions;
pub mod classify;
pub mod consumers;
pub mod contact;
pub mod crypto;
pub mod entity;
pub mod grpc;
pub mod http;
pub mod lifecycle;
pub mod migration;
pub mod recording;
pub mod sealing;
pub mod search;
pub mod store;
pub mod taxonomy;
pub mod threading;

use std::sync::Arc;

use chrono::FixedOffset;
use ombuds_platform::{
    config::{CommonSettings, Config, ConfigError},
    outbox::OutboxSignal,
    shutdown::CancellationToken,
    Kit,
};
use prometheus_client::metrics::{
    counter::Counter,
    family::Family,
    histogram::{exponential_buckets, Histogram},
};
use sea_orm::{DatabaseConnection, DbErr};

use crate::{
    contact::NewContact,
    crypto::{Secret, Vault},
    store::{Recorded, TicketFormat},
};

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `OMBUDS_TICKET_PREFIX` (default `TS`).
    pub ticket_prefix: String,
    /// `OMBUDS_TICKET_UTC_OFFSET` (default `+00:00`): the date in a ticket number is
    /// the local date at this offset, e.g. `+08:00` for China.
    pub ticket_offset: FixedOffset,
    /// `OMBUDS_PII_KEYS` (no default): `<key id>:<base64 32-byte key>`, comma-separated;
    /// the first encrypts new personal data, the others still decrypt (rotation).
    pub pii_keys: Option<Secret>,
    /// `OMBUDS_PII_INDEX_KEY` (no default): base64 32 bytes, the blind-index key. With
    /// neither set, development keys are kept in `<OMBUDS_DATA_DIR>/intake.keys`.
    pub pii_index_key: Option<Secret>,
    /// `OMBUDS_DUPLICATE_WINDOW` (default `7d`; `0s` turns linking off): a repeat from
    /// the same customer about the same category within this time of an open
    /// complaint's receipt is appended to it ([`threading`]).
    pub duplicate_window: std::time::Duration,
    /// `OMBUDS_TAXONOMY` (default: none, the built-in taxonomy): a TOML file of
    /// categories and sub-categories ([`taxonomy`]).
    pub taxonomy: taxonomy::Taxonomy,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        let prefix = cfg.string("OMBUDS_TICKET_PREFIX", "TS");
        if prefix.is_empty()
            || prefix.len() > 8
            || !prefix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(ConfigError::Invalid {
                key: "OMBUDS_TICKET_PREFIX".into(),
                value: prefix,
                message: "1 to 8 letters or digits".into(),
            });
        }
        let offset_text = cfg.string("OMBUDS_TICKET_UTC_OFFSET", "+00:00");
        let ticket_offset = parse_offset(&offset_text).ok_or(ConfigError::Invalid {
            key: "OMBUDS_TICKET_UTC_OFFSET".into(),
            value: offset_text,
            message: "expected an offset like +08:00 or -05:00".into(),
        })?;
        let secret = |key: &str| {
            let v = cfg.string(key, "");
            (!v.trim().is_empty()).then_some(Secret(v))
        };
        let pii_keys = secret("OMBUDS_PII_KEYS");
        let pii_index_key = secret("OMBUDS_PII_INDEX_KEY");
        // Check the keys now, so a bad value fails at start naming the variable.
        if let (Some(k), Some(i)) = (&pii_keys, &pii_index_key) {
            crypto::Vault::parse(&k.0, &i.0).map_err(|e| ConfigError::Invalid {
                key: "OMBUDS_PII_KEYS/OMBUDS_PII_INDEX_KEY".into(),
                value: "***".into(),
                message: e.to_string(),
            })?;
        }
        let duplicate_window = cfg.duration(
            "OMBUDS_DUPLICATE_WINDOW",
            std::time::Duration::from_secs(7 * 24 * 3600),
        )?;
        let taxonomy = match cfg.string("OMBUDS_TAXONOMY", "").trim() {
            "" => taxonomy::Taxonomy::default(),
            path => std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|text| taxonomy::Taxonomy::parse(&text))
                .map_err(|message| ConfigError::Invalid {
                    key: "OMBUDS_TAXONOMY".into(),
                    value: path.to_owned(),
                    message,
                })?,
        };
        Ok(Self {
            duplicate_window,
            taxonomy,
            common: CommonSettings::from_config(cfg, 8081, 50051)?,
            ticket_prefix: prefix,
            ticket_offset,
            pii_keys,
            pii_index_key,
        })
    }
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

/// Intake's metrics.
pub struct IntakeMetrics {
    /// `ombuds_intake_entry_lag_seconds`: channel receipt to recording.
    pub entry_lag: Histogram,
    /// `ombuds_intake_contacts_total{channel}` (new complaints only).
    pub contacts: Family<Vec<(String, String)>, Counter>,
    /// `ombuds_intake_actions_total{action,outcome}`: agents' lifecycle actions, by
    /// outcome (`ok`, `refused`, `conflict`, `invalid`, `not_found`, `error`).
    pub actions: Family<Vec<(String, String)>, Counter>,
}

/// What the HTTP, gRPC and JetStream entry points share.
pub struct State {
    pub db: DatabaseConnection,
    pub outbox: OutboxSignal,
    pub tickets: TicketFormat,
    /// How follow-ups and duplicates are threaded.
    pub threading: threading::Policy,
    /// The categories and sub-categories accepted.
    pub taxonomy: taxonomy::Taxonomy,
    pub metrics: IntakeMetrics,
    /// Encrypts and decrypts customers' personal data and complaints' free text.
    pub vault: Arc<Vault>,
}

impl State {
    /// Checks a contact's category and sub-category against the taxonomy.
    pub fn check(&self, c: &NewContact) -> Result<(), contact::FieldError> {
        self.taxonomy.check(&c.category, &c.sub_category)
    }

    /// Records a contact and wakes the outbox relay.
    pub async fn record(&self, contact: &NewContact) -> Result<Recorded, DbErr> {
        let r = recording::record(
            &self.db,
            &self.vault,
            &self.tickets,
            &self.threading,
            contact,
        )
        .await?;
        if r.created || r.appended {
            self.outbox.wake();
        }
        self.observe(contact, &r);
        Ok(r)
    }

    /// Records a batch of valid contacts in the caller's transaction (the consumer
    /// wakes the relay after the commit).
    pub async fn record_batch(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        contacts: &[NewContact],
    ) -> Result<Vec<Recorded>, DbErr> {
        let recorded =
            recording::record_batch(txn, &self.vault, &self.tickets, &self.threading, contacts)
                .await?;
        for (c, r) in contacts.iter().zip(&recorded) {
            self.observe(c, r);
        }
        Ok(recorded)
    }

    /// The metrics and log lines of a recorded contact.
    fn observe(&self, contact: &NewContact, r: &Recorded) {
        if r.threaded {
            tracing::info!(ticket = %r.ticket_no, complaint_id = %r.complaint_id, channel = %contact.channel,
                reason = %r.linked_reason, "contact threaded into an existing complaint");
        }
        if r.created {
            self.metrics
                .entry_lag
                .observe(r.entry_lag_ms.max(0) as f64 / 1000.0);
            self.metrics
                .contacts
                .get_or_create(&vec![("channel".to_owned(), contact.channel.clone())])
                .inc();
            tracing::info!(ticket = %r.ticket_no, complaint_id = %r.complaint_id, channel = %contact.channel, entry_lag_ms = r.entry_lag_ms, "complaint recorded");
        }
    }

    /// Applies an agent's lifecycle action, wakes the outbox relay, and answers the
    /// complaint as it is now.
    pub async fn act(&self, req: &actions::Request) -> Result<store::Full, actions::ActionError> {
        let action = req.command.action();
        let result = actions::apply(&self.db, &self.vault, req).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(actions::ActionError::Refused(_)) => "refused",
            Err(actions::ActionError::Conflict { .. }) => "conflict",
            Err(actions::ActionError::Invalid(_)) => "invalid",
            Err(actions::ActionError::NotFound(_)) => "not_found",
            Err(actions::ActionError::Store(_)) => "error",
        };
        self.metrics
            .actions
            .get_or_create(&vec![
                ("action".to_owned(), action.as_str().to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
        let done = result?;
        self.outbox.wake();
        tracing::info!(ticket = %done.ticket_no, complaint_id = %done.complaint_id, action = %action,
            from = %done.from, to = %done.to, version = done.version, actor = %req.actor, "complaint changed");
        Ok(done.complaint)
    }
}

/// Runs intake until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let vault = Vault::load(
        settings.pii_keys.as_ref(),
        settings.pii_index_key.as_ref(),
        &settings.common.data_dir,
    )?;
    let duplicate_window = settings.duplicate_window;
    let vault = Arc::new(vault);
    let mut kit = Kit::start::<migration::Migrator>(settings.common, shutdown).await?;
    // A contact that cannot be recorded is dead-lettered as the channel sent it, personal
    // data and all: sealed with the customer-data key until an operator replays it.
    kit.seal_dead_letters(vault.clone());
    let metrics = IntakeMetrics {
        entry_lag: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
        contacts: Family::default(),
        actions: Family::default(),
    };
    kit.metrics.register(
        "intake_entry_lag_seconds",
        "Time from the channel receiving a contact to intake recording it",
        metrics.entry_lag.clone(),
    );
    kit.metrics.register(
        "intake_contacts",
        "Contacts recorded as new complaints, by channel",
        metrics.contacts.clone(),
    );
    kit.metrics.register(
        "intake_actions",
        "Agents' lifecycle actions on complaints, by action and outcome",
        metrics.actions.clone(),
    );
    let state = Arc::new(State {
        db: kit.db.clone(),
        outbox: kit.outbox.clone(),
        tickets: TicketFormat {
            prefix: settings.ticket_prefix,
            offset: settings.ticket_offset,
        },
        taxonomy: settings.taxonomy,
        threading: threading::Policy {
            duplicate_window_ms: i64::try_from(duplicate_window.as_millis()).unwrap_or(i64::MAX),
        },
        metrics,
        vault,
    });
    // Before anything is served or consumed: a store of an earlier version gets its
    // free text encrypted and its search index hashed (quick when there is nothing to do).
    sealing::migrate_logged(&state.db, &state.vault).await;
    consumers::start(&kit, state.clone());
    let routes = tonic::service::Routes::new(
        ombuds_proto::v1::complaint_service_server::ComplaintServiceServer::new(grpc::Api {
            state: state.clone(),
        }),
    );
    kit.run(http::router(state), routes, &["ombuds.v1.ComplaintService"])
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+08:00"), FixedOffset::east_opt(8 * 3600));
        assert_eq!(
            parse_offset("-05:30"),
            FixedOffset::east_opt(-(5 * 3600 + 1800))
        );
        assert_eq!(parse_offset("UTC"), FixedOffset::east_opt(0));
        assert_eq!(parse_offset("8"), None);
    }

    #[test]
    fn bad_prefix_is_refused() {
        let cfg = Config::from_pairs("intake", [("OMBUDS_TICKET_PREFIX", "T-S")]);
        let err = Settings::from_config(&cfg).expect_err("invalid");
        assert!(err.to_string().contains("OMBUDS_TICKET_PREFIX"));
    }
}
