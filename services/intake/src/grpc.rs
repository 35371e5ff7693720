//! `ComplaintService` over gRPC: Submit, Get, List, GetCustomerContact (the only
//! way another service — notification — learns a customer's real address), and the
//! agents' lifecycle actions (Acknowledge … RecordSatisfaction), each parsed into an
//! [`actions::Request`] and applied by [`State::act`]. Errors map to gRPC codes once,
//! in [`action_status`]: bad input INVALID_ARGUMENT, an illegal transition
//! FAILED_PRECONDITION, a stale `expected_version` ABORTED.

use std::sync::Arc;

use ombuds_platform::{grpc::internal, time};
use ombuds_proto::v1::{self, complaint_service_server::ComplaintService};
use tonic::{Request, Response, Status};

use crate::{
    actions::{self, body_field, reason_field, score_field, ActionError, Command},
    contact, search,
    store::{self, customer_ref, Full, Key, ListFilter},
    State,
};

pub struct Api {
    pub state: Arc<State>,
}

/// The complaint as the API shows it: customer masked, SLA clocks included.
pub fn to_proto(f: &Full) -> v1::Complaint {
    let c = &f.complaint;
    v1::Complaint {
        complaint_id: c.complaint_id.clone(),
        ticket_no: c.ticket_no.clone(),
        status: c.status.clone(),
        channel: c.channel.clone(),
        kind: c.kind.clone(),
        category: c.category.clone(),
        priority: c.priority,
        department: c.department.clone(),
        assignee: c.assignee.clone(),
        sla: f
            .clocks
            .iter()
            .map(|k| v1::SlaClockView {
                target: k.target.clone(),
                deadline: Some(time::to_timestamp(k.deadline)),
                state: k.state.clone(),
            })
            .collect(),
        external_id: c.external_id.clone(),
        subject: c.subject.clone(),
        body: c.body.clone(),
        customer: f.customer.as_ref().map(customer_ref),
        received_at: Some(time::to_timestamp(c.received_at)),
        recorded_at: Some(time::to_timestamp(c.recorded_at)),
        version: c.version.max(0) as u64,
        entry_lag_ms: c.recorded_at - c.received_at,
        messages: f
            .messages
            .iter()
            .map(|m| v1::ComplaintMessage {
                message_id: m.message_id.clone(),
                kind: m.kind.clone(),
                author: m.author.clone(),
                visible: m.visible,
                text: m.body.clone(),
                created_at: Some(time::to_timestamp(m.created_at)),
            })
            .collect(),
        history: f
            .history
            .iter()
            .map(|h| v1::HistoryEntry {
                version: h.version.max(0) as u64,
                from_status: h.from_status.clone(),
                to_status: h.to_status.clone(),
                action: h.action.clone(),
                actor: h.actor.clone(),
                reason: h.reason.clone(),
                at: Some(time::to_timestamp(h.at)),
            })
            .collect(),
        resolution: (c.resolved_at > 0).then(|| v1::Resolution {
            result: c.resolution_result.clone(),
            cause: c.resolution_cause.clone(),
            measures: c.resolution_measures.clone(),
            first_contact: c.first_contact,
            resolved_at: Some(time::to_timestamp(c.resolved_at)),
            resolved_by: c.resolved_by.clone(),
        }),
        satisfaction: (c.satisfaction_score > 0).then(|| v1::Satisfaction {
            score: c.satisfaction_score.max(0) as u32,
            comment: c.satisfaction_comment.clone(),
            recorded_at: Some(time::to_timestamp(c.satisfaction_at)),
            unsatisfied: c.satisfaction_score <= i32::from(actions::UNSATISFIED_AT_OR_BELOW),
        }),
        sub_category: c.sub_category.clone(),
        severity: c.severity,
        urgency: c.urgency,
        tags: crate::store::tags_of(c),
        first_reply_at: (c.first_reply_at > 0).then(|| time::to_timestamp(c.first_reply_at)),
    }
}

/// The one place lifecycle errors become gRPC statuses.
pub fn action_status(e: ActionError) -> Status {
    match e {
        ActionError::Invalid(e) => Status::invalid_argument(e.to_string()),
        ActionError::NotFound(what) => Status::not_found(format!("no complaint with {what}")),
        e @ ActionError::Conflict { .. } => Status::aborted(e.to_string()),
        ActionError::Refused(r) => Status::failed_precondition(r.to_string()),
        ActionError::Store(e) => internal(e),
    }
}

impl Api {
    /// Validates the shared fields, applies the command, answers the complaint.
    /// Runs an agent's action named by any of the action requests (they share their
    /// first four fields: ticket_no, complaint_id, expected_version, actor).
    async fn act(
        &self,
        target: &impl ActionTarget,
        command: Result<Command, contact::FieldError>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let (ticket_no, complaint_id, expected_version, actor) = target.target();
        let req = command
            .and_then(|cmd| {
                actions::Request::new(ticket_no, complaint_id, expected_version, actor, cmd)
            })
            .map_err(invalid)?;
        let full = self.state.act(&req).await.map_err(action_status)?;
        Ok(Response::new(to_proto(&full)))
    }
}

/// The complaint and actor an action request names.
trait ActionTarget {
    fn target(&self) -> (&str, &str, u64, &str);
}

macro_rules! action_target {
    ($($ty:ident),* $(,)?) => {$(
        impl ActionTarget for v1::$ty {
            fn target(&self) -> (&str, &str, u64, &str) {
                (&self.ticket_no, &self.complaint_id, self.expected_version, &self.actor)
            }
        }
    )*};
}

action_target!(
    AcknowledgeRequest,
    AddNoteRequest,
    ReplyRequest,
    SetAwaitingCustomerRequest,
    CustomerRespondedRequest,
    ResolveRequest,
    CloseRequest,
    ReopenRequest,
    RecordSatisfactionRequest,
);

fn invalid(e: contact::FieldError) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl ComplaintService for Api {
    async fn classify(
        &self,
        request: Request<v1::ClassifyRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let req = crate::classify::Request::parse(&request.into_inner()).map_err(invalid)?;
        let full = crate::classify::apply(
            &self.state.db,
            &self.state.vault,
            &self.state.taxonomy,
            &req,
        )
        .await
        .map_err(action_status)?;
        self.state.outbox.wake();
        tracing::info!(ticket = %full.complaint.ticket_no, complaint_id = %full.complaint.complaint_id,
            version = full.complaint.version, actor = %req.actor, "complaint classified");
        Ok(Response::new(to_proto(&full)))
    }

    async fn submit(
        &self,
        request: Request<v1::SubmitRequest>,
    ) -> Result<Response<v1::SubmitResponse>, Status> {
        let req = request.into_inner();
        let proto = req
            .contact
            .ok_or_else(|| Status::invalid_argument("contact: required"))?;
        let channel = if req.channel.is_empty() {
            proto.channel.clone()
        } else {
            req.channel
        };
        let c = contact::from_proto(&channel, proto).map_err(invalid)?;
        self.state.check(&c).map_err(invalid)?;
        let r = self.state.record(&c).await.map_err(internal)?;
        Ok(Response::new(v1::SubmitResponse {
            ticket_no: r.ticket_no,
            complaint_id: r.complaint_id,
            status: r.status,
            created: r.created,
            threaded: r.threaded,
            linked_reason: r.linked_reason,
        }))
    }

    async fn get(
        &self,
        request: Request<v1::GetComplaintRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        use v1::get_complaint_request::Key as K;
        let key = request.into_inner().key;
        let (key, what) = match &key {
            Some(K::TicketNo(t)) if !t.trim().is_empty() => (Key::Ticket(t), format!("ticket {t}")),
            Some(K::ComplaintId(id)) if !id.trim().is_empty() => (Key::Id(id), format!("id {id}")),
            _ => {
                return Err(Status::invalid_argument(
                    "ticket_no or complaint_id: required",
                ))
            }
        };
        match store::get(&self.state.db, &self.state.vault, key)
            .await
            .map_err(internal)?
        {
            Some(f) => Ok(Response::new(to_proto(&f))),
            None => Err(Status::not_found(format!("no complaint with {what}"))),
        }
    }

    async fn list(
        &self,
        request: Request<v1::ListComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        let r = request.into_inner();
        let filter = search::validate_list(ListFilter {
            status: r.status,
            channel: r.channel,
            department: r.department,
            kind: r.kind,
            category: r.category,
            priority: r.priority,
            received_from: r.received_from.as_ref().map(time::from_timestamp),
            received_to: r.received_to.as_ref().map(time::from_timestamp),
            page_size: u64::from(r.page_size),
            after: r.page_token,
        })
        .map_err(invalid)?;
        let (rows, next) = store::list(&self.state.db, &self.state.vault, &filter)
            .await
            .map_err(internal)?;
        Ok(Response::new(v1::ListComplaintsResponse {
            complaints: rows.iter().map(to_proto).collect(),
            next_page_token: next,
        }))
    }

    async fn search(
        &self,
        request: Request<v1::SearchComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        let r = request.into_inner();
        let q =
            search::SearchQuery::parse(&r.query, &r.status, u64::from(r.page_size), &r.page_token)
                .map_err(invalid)?;
        let (rows, next) = search::search(&self.state.db, &self.state.vault, &q)
            .await
            .map_err(internal)?;
        Ok(Response::new(v1::ListComplaintsResponse {
            complaints: rows.iter().map(to_proto).collect(),
            next_page_token: next,
        }))
    }

    async fn get_customer_contact(
        &self,
        request: Request<v1::GetCustomerContactRequest>,
    ) -> Result<Response<v1::CustomerContact>, Status> {
        let id = request.into_inner().complaint_id;
        if id.trim().is_empty() {
            return Err(Status::invalid_argument("complaint_id: required"));
        }
        let f = store::get(&self.state.db, &self.state.vault, Key::Id(&id))
            .await
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("no complaint with id {id}")))?;
        let c = f
            .customer
            .ok_or_else(|| Status::not_found(format!("complaint {id} has no customer record")))?;
        Ok(Response::new(v1::CustomerContact {
            customer_id: c.customer_id,
            name: c.name,
            phone: c.phone,
            email: c.email,
            channel: f.complaint.channel,
            ticket_no: f.complaint.ticket_no,
        }))
    }

    async fn acknowledge(
        &self,
        request: Request<v1::AcknowledgeRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        self.act(&r, Ok(Command::Acknowledge)).await
    }

    async fn add_note(
        &self,
        request: Request<v1::AddNoteRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd = body_field("text", &r.text, true).map(|text| Command::AddNote { text });
        self.act(&r, cmd).await
    }

    async fn reply(
        &self,
        request: Request<v1::ReplyRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd = body_field("text", &r.text, true).map(|text| Command::Reply { text });
        self.act(&r, cmd).await
    }

    async fn set_awaiting_customer(
        &self,
        request: Request<v1::SetAwaitingCustomerRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd = reason_field("reason", &r.reason, true)
            .map(|reason| Command::SetAwaitingCustomer { reason });
        self.act(&r, cmd).await
    }

    async fn customer_responded(
        &self,
        request: Request<v1::CustomerRespondedRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd =
            body_field("text", &r.text, false).map(|text| Command::CustomerResponded { text });
        self.act(&r, cmd).await
    }

    async fn resolve(
        &self,
        request: Request<v1::ResolveRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd = (|| {
            Ok(Command::Resolve {
                result: body_field("result", &r.result, true)?,
                cause: body_field("cause", &r.cause, false)?,
                measures: body_field("measures", &r.measures, false)?,
                first_contact: r.first_contact,
            })
        })();
        self.act(&r, cmd).await
    }

    async fn close(
        &self,
        request: Request<v1::CloseRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd = reason_field("reason", &r.reason, false).map(|reason| Command::Close { reason });
        self.act(&r, cmd).await
    }

    async fn reopen(
        &self,
        request: Request<v1::ReopenRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd = reason_field("reason", &r.reason, true).map(|reason| Command::Reopen { reason });
        self.act(&r, cmd).await
    }

    async fn record_satisfaction(
        &self,
        request: Request<v1::RecordSatisfactionRequest>,
    ) -> Result<Response<v1::Complaint>, Status> {
        let r = request.into_inner();
        let cmd = (|| {
            Ok(Command::RecordSatisfaction {
                score: score_field(r.score)?,
                comment: body_field("comment", &r.comment, false)?,
            })
        })();
        self.act(&r, cmd).await
    }
}
