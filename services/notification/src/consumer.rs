//! The `complaint.received` consumer (stream `COMPLAINTS`, durable
//! `notification-complaints`): owes the customer an acknowledgement.
//!
//! In one transaction it records the event id in the inbox and inserts a `pending`
//! acknowledgement delivery. The row is unique per `(complaint_id, template)`, so a
//! redelivered event (caught by the inbox) and a second event about the same complaint
//! (caught by the unique pair) both leave exactly one delivery. After the commit it wakes
//! the [`crate::dispatcher`], which does the sending outside any transaction.

use std::sync::Arc;

use ombuds_platform::{
    consumer::{Delivery, Outcome},
    inbox,
    time::now_ms,
};
use ombuds_proto::v1;
use sea_orm::{sea_query::OnConflict, ActiveValue::Set, DatabaseConnection, EntityTrait};
use tokio::sync::Notify;

use crate::{
    entity::delivery::{self, Column, Entity as Deliveries},
    templates,
};

/// The durable consumer's name, shared by all replicas.
pub const DURABLE: &str = "notification-complaints";

pub struct Received {
    pub db: DatabaseConnection,
    /// Wakes the dispatcher after new rows are committed.
    pub wake: Arc<Notify>,
}

impl Received {
    pub async fn handle(&self, d: Delivery) -> Outcome {
        let ev: v1::ComplaintReceived = match d.decode() {
            Ok(e) => e,
            Err(o) => return o,
        };
        let Some(meta) = ev.meta.as_ref() else {
            return Outcome::poison("invalid", "complaint.received without meta");
        };
        for (field, value) in [
            ("meta.event_id", &meta.event_id),
            ("meta.complaint_id", &meta.complaint_id),
            ("meta.ticket_no", &meta.ticket_no),
        ] {
            if value.trim().is_empty() {
                return Outcome::poison("invalid", format!("complaint.received without {field}"));
            }
        }
        let txn = match inbox::begin_once(&self.db, DURABLE, &meta.event_id).await {
            Ok(Some(t)) => t,
            Ok(None) => return Outcome::Duplicate,
            Err(e) => return e.into(),
        };
        let now = now_ms();
        let inserted = Deliveries::insert(delivery::ActiveModel {
            delivery_id: Set(uuid::Uuid::now_v7().to_string()),
            complaint_id: Set(meta.complaint_id.clone()),
            ticket_no: Set(meta.ticket_no.clone()),
            complaint_version: Set(i64::try_from(meta.complaint_version).unwrap_or(i64::MAX)),
            template: Set(templates::ACKNOWLEDGEMENT.to_owned()),
            status: Set(delivery::PENDING.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            claimed_until: Set(None),
            claim_token: Set(None),
            medium: Set(None),
            provider: Set(None),
            recipient_masked: Set(None),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            sent_at: Set(None),
        })
        .on_conflict(
            OnConflict::columns([Column::ComplaintId, Column::Template])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await;
        let inserted = match inserted {
            Ok(n) => n,
            Err(e) => return e.into(),
        };
        if let Err(e) = txn.commit().await {
            return e.into();
        }
        if inserted == 0 {
            tracing::info!(
                complaint_id = %meta.complaint_id,
                ticket_no = %meta.ticket_no,
                "acknowledgement already owed for this complaint; nothing more to do"
            );
        } else {
            tracing::debug!(complaint_id = %meta.complaint_id, ticket_no = %meta.ticket_no, "acknowledgement queued");
            self.wake.notify_one();
        }
        Outcome::Done
    }
}
