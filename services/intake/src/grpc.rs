//! `ComplaintService` over gRPC: Submit, Get, List, and GetCustomerContact (the only
//! way another service — notification — learns a customer's real address).

use std::sync::Arc;

use ombuds_platform::{grpc::internal, time};
use ombuds_proto::v1::{self, complaint_service_server::ComplaintService};
use tonic::{Request, Response, Status};

use crate::{
    contact,
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
    }
}

fn invalid(e: contact::FieldError) -> Status {
    Status::invalid_argument(e.to_string())
}

#[tonic::async_trait]
impl ComplaintService for Api {
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
        let r = self.state.record(&c).await.map_err(internal)?;
        Ok(Response::new(v1::SubmitResponse {
            ticket_no: r.ticket_no,
            complaint_id: r.complaint_id,
            status: r.status,
            created: r.created,
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
        match store::get(&self.state.db, key).await.map_err(internal)? {
            Some(f) => Ok(Response::new(to_proto(&f))),
            None => Err(Status::not_found(format!("no complaint with {what}"))),
        }
    }

    async fn list(
        &self,
        request: Request<v1::ListComplaintsRequest>,
    ) -> Result<Response<v1::ListComplaintsResponse>, Status> {
        let r = request.into_inner();
        if !r.channel.is_empty() {
            contact::parse_channel(&r.channel).map_err(invalid)?;
        }
        let filter = ListFilter {
            status: r.status,
            channel: r.channel.to_ascii_lowercase(),
            department: r.department,
            page_size: if r.page_size == 0 {
                50
            } else {
                u64::from(r.page_size)
            },
            after: r.page_token,
        };
        let (rows, next) = store::list(&self.state.db, &filter)
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
        let f = store::get(&self.state.db, Key::Id(&id))
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
}
