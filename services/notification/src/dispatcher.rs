//! The dispatcher: the loop that turns `pending` deliveries into messages.
//!
//! It wakes when the consumer has committed new rows (a [`Notify`]) and every 500 ms,
//! takes the deliveries that are due, and for each one, with no transaction open:
//!
//! 1. claims it with a conditional UPDATE (`status = 'sending'`, `claimed_until = now +
//!    60 s`, a fresh `claim_token`, only WHERE it is still pending and due, or stuck in
//!    `sending` past its claim). Exactly one replica sees `rows_affected == 1`; the others
//!    move on. A replica that dies mid-send leaves the row `sending`, and once the claim
//!    expires any replica takes it again.
//! 2. renders the delivery's template with its stored facts ([`crate::templates`]),
//!    addresses it (a customer's message: asks intake for the address
//!    ([`crate::contacts`]) and picks the medium ([`crate::message::choose_recipient`]);
//!    a staff alert: `OMBUDS_NOTIFY_STAFF_EMAIL`, by e-mail) and hands the message to the
//!    provider ([`crate::provider`]). Every template takes this one path.
//! 3. records the outcome in one transaction, guarded by its `claim_token`:
//!    - sent: `status = 'sent'` plus `notification.sent` in the outbox;
//!    - transient failure: back to `pending`, `attempts + 1`, `next_attempt_at` after an
//!      exponential back-off ([`backoff`]: 1 s, 2 s, 4 s … at most 5 min), until
//!      `OMBUDS_NOTIFY_MAX_ATTEMPTS` attempts have been made;
//!    - permanent failure, or attempts used up: `status = 'failed'` plus
//!      `notification.failed` with the reason.
//!
//! **At-least-once at the provider edge.** The send and the record of it cannot be one
//! atomic step: if the process dies (or the store is unreachable, or the claim expires)
//! after the provider has accepted a message and before the `sent` row is committed,
//! the row is claimed again later and the customer gets the message a second time.
//! Duplicates inside the platform are impossible (the unique `dedup_key` of the row,
//! the inbox and the claim make sure of that); this window at the edge is the one
//! place a message can go out twice, and it is kept small (a short, local commit right
//! after the send).

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use ombuds_platform::{
    events,
    outbox::{self, OutboxSignal},
    pii,
    time::now_ms,
};
use ombuds_proto::v1;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use sea_orm::{
    sea_query::{Condition, Expr},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    contacts::IntakeContacts,
    entity::delivery::{self, Column, Entity as Deliveries},
    message::{choose_recipient, Medium, OutgoingMessage, Recipient, NO_CONTACT_METHOD},
    provider::{Provider, ProviderError},
    templates::{self, Audience, Content, RenderContext},
};

/// The reason a staff alert fails when the staff address was unset after it was owed.
pub const STAFF_ALERTS_OFF: &str = "staff alerts are off (OMBUDS_NOTIFY_STAFF_EMAIL is not set)";

/// How often the dispatcher looks for due deliveries when nobody wakes it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long a claim keeps other replicas off a delivery.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);
/// How long a provider may take over one message (well inside [`CLAIM_LEASE`]).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Due deliveries taken per round.
const BATCH: u64 = 32;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 8;

/// The wait before the next attempt, after `attempts` attempts have failed:
/// 1 s, 2 s, 4 s, … doubling up to [`MAX_BACKOFF`].
pub fn backoff(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

/// `ombuds_notifications_total{template,medium,outcome}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub template: String,
    /// email | sms | unknown
    pub medium: String,
    /// sent | retry | failed
    pub outcome: String,
}

pub type DeliveryCounter = Family<DeliveryLabels, Counter>;

/// Everything the loop needs.
pub struct Dispatcher<P> {
    pub db: DatabaseConnection,
    pub outbox: OutboxSignal,
    /// Notified by the consumer after it commits new deliveries.
    pub wake: Arc<Notify>,
    pub contacts: IntakeContacts,
    pub provider: P,
    /// `OMBUDS_NOTIFY_MAX_ATTEMPTS`.
    pub max_attempts: u32,
    pub counter: DeliveryCounter,
    /// `OMBUDS_NOTIFY_TIMEZONE`: the zone times in messages are shown in.
    pub render: RenderContext,
    /// `OMBUDS_NOTIFY_STAFF_EMAIL`: where staff alerts go (plaintext; logged masked only).
    pub staff_email: Option<String>,
}

/// A delivery this dispatcher holds the claim on.
struct Claim {
    row: delivery::Model,
    token: String,
}

/// The provider accepted the message.
struct Sent {
    medium: Medium,
    recipient_masked: String,
}

/// It did not go out on this attempt.
struct Failure {
    transient: bool,
    /// Already redacted.
    reason: String,
    medium: Option<Medium>,
    recipient_masked: Option<String>,
}

impl Failure {
    fn new(transient: bool, reason: impl AsRef<str>) -> Self {
        Self {
            transient,
            reason: pii::redact_text(reason.as_ref()),
            medium: None,
            recipient_masked: None,
        }
    }
}

/// Rows that may be claimed at `now`: pending and due, or stuck in `sending` past the claim.
fn claimable(now: i64) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(Column::Status.eq(delivery::PENDING))
                .add(Column::NextAttemptAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(Column::Status.eq(delivery::SENDING))
                .add(Column::ClaimedUntil.lt(now)),
        )
}

impl<P: Provider> Dispatcher<P> {
    /// Runs until `shutdown`; a delivery in hand is finished first.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        tracing::info!(
            provider = self.provider.name(),
            intake = %self.contacts.url(),
            max_attempts = self.max_attempts,
            time_zone = %self.render.time_zone,
            "notification dispatcher started"
        );
        while !shutdown.is_cancelled() {
            match self.dispatch_due(&shutdown).await {
                // A full batch: more may be due at once.
                Ok(n) if n as u64 >= BATCH => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "dispatcher: reading due deliveries failed; will retry")
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::debug!("notification dispatcher stopped");
    }

    /// Handles one batch of due deliveries, up to [`CONCURRENCY`] at a time; returns how
    /// many were due. Each row is claimed right before work on it starts, so the claim's
    /// lease covers the attempt itself (intake lookup at most 13 s, send at most 30 s,
    /// inside the 60 s lease) however long the batch takes.
    pub async fn dispatch_due(&self, shutdown: &CancellationToken) -> Result<usize, DbErr> {
        let due = Deliveries::find()
            .filter(claimable(now_ms()))
            .order_by_asc(Column::NextAttemptAt)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let n = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(CONCURRENCY, |row| async move {
                if shutdown.is_cancelled() {
                    return;
                }
                let id = row.delivery_id.clone();
                match self.claim(row).await {
                    Ok(Some(claim)) => self.attempt(claim).await,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(delivery_id = %id, error = %e, "claiming a delivery failed; will retry"),
                }
            })
            .await;
        Ok(n)
    }

    /// The conditional UPDATE that makes this dispatcher the only one working on `row`.
    async fn claim(&self, row: delivery::Model) -> Result<Option<Claim>, DbErr> {
        let now = now_ms();
        let token = uuid::Uuid::now_v7().to_string();
        let result = Deliveries::update_many()
            .col_expr(Column::Status, Expr::value(delivery::SENDING))
            .col_expr(
                Column::ClaimedUntil,
                Expr::value(now + CLAIM_LEASE.as_millis() as i64),
            )
            .col_expr(Column::ClaimToken, Expr::value(token.clone()))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::DeliveryId.eq(row.delivery_id.clone()))
            .filter(claimable(now))
            .exec(&self.db)
            .await?;
        if result.rows_affected != 1 {
            // Another replica was quicker.
            return Ok(None);
        }
        if row.status == delivery::SENDING {
            tracing::warn!(
                delivery_id = %row.delivery_id,
                ticket_no = %row.ticket_no,
                "taking over a delivery whose claim expired; the message may go out twice"
            );
        }
        Ok(Some(Claim { row, token }))
    }

    /// One attempt at one delivery, and the record of its outcome.
    async fn attempt(&self, claim: Claim) {
        let outcome = self.try_send(&claim.row).await;
        let mut delay = Duration::from_millis(100);
        for tries in 1..=5 {
            match self.record(&claim, &outcome).await {
                Ok(()) => return,
                Err(e) if tries < 5 => {
                    tracing::warn!(delivery_id = %claim.row.delivery_id, error = %e, "recording the outcome failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => tracing::error!(
                    delivery_id = %claim.row.delivery_id,
                    error = %e,
                    "cannot record the outcome; the delivery is attempted again when its claim expires"
                ),
            }
        }
    }

    /// Looks up the recipient, renders the message and sends it. No transaction is open.
    async fn try_send(&self, row: &delivery::Model) -> Result<Sent, Failure> {
        let content = Content::from_row(&row.template, row.params.as_deref())
            .map_err(|e| Failure::new(false, e.to_string()))?;
        let rendered = templates::render(&content, &row.ticket_no, &self.render);
        let recipient = match content.audience() {
            Audience::Customer => {
                let contact = self
                    .contacts
                    .get(&row.complaint_id)
                    .await
                    .map_err(|e| Failure::new(e.is_transient(), e.to_string()))?;
                choose_recipient(&contact.email, &contact.phone)
                    .ok_or_else(|| Failure::new(false, NO_CONTACT_METHOD))?
            }
            Audience::Staff => Recipient {
                medium: Medium::Email,
                address: self
                    .staff_email
                    .clone()
                    .ok_or_else(|| Failure::new(false, STAFF_ALERTS_OFF))?,
            },
        };
        let recipient_masked = recipient.masked();
        let body = match recipient.medium {
            Medium::Email => rendered.body,
            Medium::Sms => rendered.short,
        };
        let msg = OutgoingMessage {
            delivery_id: row.delivery_id.clone(),
            complaint_id: row.complaint_id.clone(),
            ticket_no: row.ticket_no.clone(),
            template: row.template.clone(),
            medium: recipient.medium,
            to: recipient.address,
            subject: rendered.subject,
            body,
        };
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.provider.send(&msg)).await;
        let failure = |transient: bool, reason: String| Failure {
            medium: Some(msg.medium),
            recipient_masked: Some(recipient_masked.clone()),
            ..Failure::new(transient, format!("{}: {reason}", self.provider.name()))
        };
        match sent {
            Ok(Ok(receipt)) => {
                tracing::debug!(delivery_id = %row.delivery_id, reference = ?receipt.reference, "provider accepted the message");
                Ok(Sent {
                    medium: msg.medium,
                    recipient_masked,
                })
            }
            Ok(Err(e @ ProviderError::Transient(_))) => Err(failure(true, e.to_string())),
            Ok(Err(e @ ProviderError::Permanent(_))) => Err(failure(false, e.to_string())),
            Err(_) => Err(failure(
                true,
                format!("no answer within {}s", SEND_TIMEOUT.as_secs()),
            )),
        }
    }

    /// Writes the outcome (and the event it owes) in one transaction, if the claim still holds.
    async fn record(&self, claim: &Claim, outcome: &Result<Sent, Failure>) -> Result<(), DbErr> {
        let row = &claim.row;
        let attempts = row.attempts.saturating_add(1);
        let now = now_ms();
        let provider = self.provider.name();
        let meta = || {
            Some(events::meta(
                "notification",
                &row.complaint_id,
                &row.ticket_no,
                u64::try_from(row.complaint_version).unwrap_or(0),
            ))
        };
        let update = Deliveries::update_many()
            .col_expr(Column::Attempts, Expr::value(attempts))
            .col_expr(Column::Provider, Expr::value(provider))
            .col_expr(Column::ClaimedUntil, Expr::value(Option::<i64>::None))
            .col_expr(Column::ClaimToken, Expr::value(Option::<String>::None))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::DeliveryId.eq(row.delivery_id.clone()))
            .filter(Column::Status.eq(delivery::SENDING))
            .filter(Column::ClaimToken.eq(claim.token.clone()));
        let (labels_medium, outcome_label);
        let txn = self.db.begin().await?;
        match outcome {
            Ok(sent) => {
                let updated = update
                    .col_expr(Column::Status, Expr::value(delivery::SENT))
                    .col_expr(Column::Medium, Expr::value(sent.medium.as_str()))
                    .col_expr(
                        Column::RecipientMasked,
                        Expr::value(sent.recipient_masked.clone()),
                    )
                    .col_expr(Column::LastError, Expr::value(Option::<String>::None))
                    .col_expr(Column::SentAt, Expr::value(now))
                    .exec(&txn)
                    .await?;
                if updated.rows_affected != 1 {
                    txn.rollback().await?;
                    self.claim_lost(row, "sent");
                    return Ok(());
                }
                outbox::enqueue(
                    &txn,
                    &v1::NotificationSent {
                        meta: meta(),
                        delivery_id: row.delivery_id.clone(),
                        template: row.template.clone(),
                        medium: sent.medium.as_str().to_owned(),
                        provider: provider.to_owned(),
                        recipient_masked: sent.recipient_masked.clone(),
                        attempts: u32::try_from(attempts).unwrap_or(0),
                    },
                )
                .await?;
                txn.commit().await?;
                self.outbox.wake();
                tracing::info!(
                    delivery_id = %row.delivery_id,
                    complaint_id = %row.complaint_id,
                    ticket_no = %row.ticket_no,
                    template = %row.template,
                    medium = sent.medium.as_str(),
                    to = %sent.recipient_masked,
                    provider,
                    attempts,
                    "notification sent"
                );
                labels_medium = sent.medium.as_str();
                outcome_label = "sent";
            }
            Err(f) if f.transient && i64::from(attempts) < i64::from(self.max_attempts) => {
                let wait = backoff(u32::try_from(attempts).unwrap_or(u32::MAX));
                let updated = update
                    .col_expr(Column::Status, Expr::value(delivery::PENDING))
                    .col_expr(
                        Column::NextAttemptAt,
                        Expr::value(now + wait.as_millis() as i64),
                    )
                    .col_expr(Column::LastError, Expr::value(f.reason.clone()))
                    .col_expr(Column::Medium, Expr::value(f.medium.map(Medium::as_str)))
                    .col_expr(
                        Column::RecipientMasked,
                        Expr::value(f.recipient_masked.clone()),
                    )
                    .exec(&txn)
                    .await?;
                if updated.rows_affected != 1 {
                    txn.rollback().await?;
                    self.claim_lost(row, "retry");
                    return Ok(());
                }
                txn.commit().await?;
                tracing::warn!(
                    delivery_id = %row.delivery_id,
                    ticket_no = %row.ticket_no,
                    attempts,
                    retry_in = ?wait,
                    reason = %f.reason,
                    "notification not sent; will retry"
                );
                labels_medium = f.medium.map_or("unknown", Medium::as_str);
                outcome_label = "retry";
            }
            Err(f) => {
                let reason = if f.transient {
                    format!("gave up after {attempts} attempts: {}", f.reason)
                } else {
                    f.reason.clone()
                };
                let updated = update
                    .col_expr(Column::Status, Expr::value(delivery::FAILED))
                    .col_expr(Column::LastError, Expr::value(reason.clone()))
                    .col_expr(Column::Medium, Expr::value(f.medium.map(Medium::as_str)))
                    .col_expr(
                        Column::RecipientMasked,
                        Expr::value(f.recipient_masked.clone()),
                    )
                    .exec(&txn)
                    .await?;
                if updated.rows_affected != 1 {
                    txn.rollback().await?;
                    self.claim_lost(row, "failed");
                    return Ok(());
                }
                outbox::enqueue(
                    &txn,
                    &v1::NotificationFailed {
                        meta: meta(),
                        delivery_id: row.delivery_id.clone(),
                        template: row.template.clone(),
                        medium: f.medium.map(Medium::as_str).unwrap_or_default().to_owned(),
                        provider: provider.to_owned(),
                        recipient_masked: f.recipient_masked.clone().unwrap_or_default(),
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        reason: reason.clone(),
                    },
                )
                .await?;
                txn.commit().await?;
                self.outbox.wake();
                tracing::error!(
                    delivery_id = %row.delivery_id,
                    complaint_id = %row.complaint_id,
                    ticket_no = %row.ticket_no,
                    template = %row.template,
                    attempts,
                    %reason,
                    "notification failed"
                );
                labels_medium = f.medium.map_or("unknown", Medium::as_str);
                outcome_label = "failed";
            }
        }
        self.counter
            .get_or_create(&DeliveryLabels {
                template: row.template.clone(),
                medium: labels_medium.to_owned(),
                outcome: outcome_label.to_owned(),
            })
            .inc();
        Ok(())
    }

    fn claim_lost(&self, row: &delivery::Model, outcome: &str) {
        tracing::warn!(
            delivery_id = %row.delivery_id,
            ticket_no = %row.ticket_no,
            outcome,
            "the claim on this delivery expired and another dispatcher took it; this outcome is not recorded (the message may go out twice)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let secs: Vec<u64> = (1..=10).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
