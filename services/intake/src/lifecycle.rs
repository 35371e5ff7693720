//! The complaint lifecycle: which action may move a complaint from which status to
//! which. Pure (no store, no clock), so every status × action pair is unit-tested here;
//! [`crate::actions`] (agents over gRPC) and [`crate::store::apply_assignment`]
//! (`routing.assigned`) ask [`next`] before they change anything.
//!
//! ```text
//! received → triaged → assigned → in_progress ⇄ awaiting_customer → resolved → closed
//!                                      ▲                                │         │
//!                                      └──────────── reopened ◀─────────┴─────────┘
//! ```
//!
//! A simple inquiry can be answered and resolved on first contact: `received`,
//! `triaged` or `assigned` → `resolved` when the resolution says `first_contact`.
//! A refused action answers [`Refused`], whose text names the action and the status
//! ("cannot close a complaint that is in_progress").

use std::fmt;

/// Where a complaint is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Received,
    Triaged,
    Assigned,
    InProgress,
    AwaitingCustomer,
    Resolved,
    Closed,
    Reopened,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Received,
        Status::Triaged,
        Status::Assigned,
        Status::InProgress,
        Status::AwaitingCustomer,
        Status::Resolved,
        Status::Closed,
        Status::Reopened,
    ];

    /// The name stored and sent in events (`in_progress`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Triaged => "triaged",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::AwaitingCustomer => "awaiting_customer",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Resolved or closed: the work is done (until a reopen).
    pub fn is_done(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an agent (or routing) does to a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Classified and ready for routing (received → triaged).
    Triage,
    /// `routing.assigned` (received | triaged → assigned).
    Assign,
    /// An agent takes it up (received | triaged | assigned | reopened → in_progress).
    Acknowledge,
    /// An internal note; any status but closed; no status change.
    AddNote,
    /// A customer-visible reply; starts the work when it has not started yet.
    Reply,
    /// in_progress → awaiting_customer.
    SetAwaitingCustomer,
    /// The customer answered (awaiting_customer → in_progress); while the complaint is
    /// open and not waiting, the message is recorded without a status change.
    CustomerResponded,
    /// in_progress | awaiting_customer → resolved.
    Resolve,
    /// Resolved on first contact: received | triaged | assigned → resolved.
    ResolveOnFirstContact,
    /// resolved → closed.
    Close,
    /// resolved | closed → reopened (the customer is unsatisfied).
    Reopen,
    /// The customer's score; resolved | closed; no status change.
    RecordSatisfaction,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::Triage,
        Action::Assign,
        Action::Acknowledge,
        Action::AddNote,
        Action::Reply,
        Action::SetAwaitingCustomer,
        Action::CustomerResponded,
        Action::Resolve,
        Action::ResolveOnFirstContact,
        Action::Close,
        Action::Reopen,
        Action::RecordSatisfaction,
    ];

    /// The name kept in the history and sent in `complaint.status_changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Triage => "triage",
            Action::Assign => "assign",
            Action::Acknowledge => "acknowledge",
            Action::AddNote => "add_note",
            Action::Reply => "reply",
            Action::SetAwaitingCustomer => "set_awaiting_customer",
            Action::CustomerResponded => "customer_responded",
            Action::Resolve => "resolve",
            Action::ResolveOnFirstContact => "resolve_first_contact",
            Action::Close => "close",
            Action::Reopen => "reopen",
            Action::RecordSatisfaction => "record_satisfaction",
        }
    }

    /// The verb in "cannot <verb> a complaint that is <status>".
    fn verb(self) -> &'static str {
        match self {
            Action::Triage => "triage",
            Action::Assign => "assign",
            Action::Acknowledge => "acknowledge",
            Action::AddNote => "add a note to",
            Action::Reply => "reply to",
            Action::SetAwaitingCustomer => "set awaiting_customer on",
            Action::CustomerResponded => "record a customer response on",
            Action::Resolve => "resolve",
            Action::ResolveOnFirstContact => "resolve on first contact",
            Action::Close => "close",
            Action::Reopen => "reopen",
            Action::RecordSatisfaction => "record satisfaction on",
        }
    }

    /// What to do instead, where there is an obvious answer.
    fn hint(self, from: Status) -> Option<&'static str> {
        use Status::*;
        match (self, from) {
            (Action::Resolve, Received | Triaged | Assigned | Reopened) => {
                Some("acknowledge it first, or resolve it on first contact")
            }
            (Action::ResolveOnFirstContact, InProgress | AwaitingCustomer) => {
                Some("work on it has started: resolve it without first_contact")
            }
            (Action::CustomerResponded | Action::Reply | Action::AddNote, Closed) => {
                Some("reopen it first")
            }
            (Action::CustomerResponded, Resolved) => {
                Some("reopen it if the customer is not satisfied")
            }
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action the lifecycle does not allow from a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct Refused {
    pub action: Action,
    pub from: Status,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} a complaint that is {}",
            self.action.verb(),
            self.from
        )?;
        if let Some(hint) = self.action.hint(self.from) {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// The status after `action` on a complaint that is `from` (the same status when the
/// action changes none), or why the action is refused.
pub fn next(from: Status, action: Action) -> Result<Status, Refused> {
    use Action as A;
    use Status::*;
    let to = match (action, from) {
        (A::Triage, Received) => Triaged,
        (A::Assign, Received | Triaged) => Assigned,
        (A::Acknowledge, Received | Triaged | Assigned | Reopened) => InProgress,
        (A::AddNote, s) if s != Closed => s,
        (A::Reply, Received | Triaged | Assigned | Reopened | InProgress) => InProgress,
        // A reminder while waiting, or the outcome told after resolution.
        (A::Reply, AwaitingCustomer | Resolved) => from,
        (A::SetAwaitingCustomer, InProgress) => AwaitingCustomer,
        (A::CustomerResponded, AwaitingCustomer) => InProgress,
        (A::CustomerResponded, Received | Triaged | Assigned | InProgress | Reopened) => from,
        (A::Resolve, InProgress | AwaitingCustomer) => Resolved,
        (A::ResolveOnFirstContact, Received | Triaged | Assigned) => Resolved,
        (A::Close, Resolved) => Closed,
        (A::Reopen, Resolved | Closed) => Reopened,
        (A::RecordSatisfaction, Resolved | Closed) => from,
        _ => return Err(Refused { action, from }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use Status::*;

    /// Every status × action: `Some(to)` when allowed, `None` when refused.
    fn expected(from: Status, action: Action) -> Option<Status> {
        let row: [(Action, Option<Status>); 12] = match from {
            Received => [
                (A::Triage, Some(Triaged)),
                (A::Assign, Some(Assigned)),
                (A::Acknowledge, Some(InProgress)),
                (A::AddNote, Some(Received)),
                (A::Reply, Some(InProgress)),
                (A::SetAwaitingCustomer, None),
                (A::CustomerResponded, Some(Received)),
                (A::Resolve, None),
                (A::ResolveOnFirstContact, Some(Resolved)),
                (A::Close, None),
                (A::Reopen, None),
                (A::RecordSatisfaction, None),
            ],
            Triaged => [
                (A::Triage, None),
                (A::Assign, Some(Assigned)),
                (A::Acknowledge, Some(InProgress)),
                (A::AddNote, Some(Triaged)),
                (A::Reply, Some(InProgress)),
                (A::SetAwaitingCustomer, None),
                (A::CustomerResponded, Some(Triaged)),
                (A::Resolve, None),
                (A::ResolveOnFirstContact, Some(Resolved)),
                (A::Close, None),
                (A::Reopen, None),
                (A::RecordSatisfaction, None),
            ],
            Assigned => [
                (A::Triage, None),
                (A::Assign, None),
                (A::Acknowledge, Some(InProgress)),
                (A::AddNote, Some(Assigned)),
                (A::Reply, Some(InProgress)),
                (A::SetAwaitingCustomer, None),
                (A::CustomerResponded, Some(Assigned)),
                (A::Resolve, None),
                (A::ResolveOnFirstContact, Some(Resolved)),
                (A::Close, None),
                (A::Reopen, None),
                (A::RecordSatisfaction, None),
            ],
            InProgress => [
                (A::Triage, None),
                (A::Assign, None),
                (A::Acknowledge, None),
                (A::AddNote, Some(InProgress)),
                (A::Reply, Some(InProgress)),
                (A::SetAwaitingCustomer, Some(AwaitingCustomer)),
                (A::CustomerResponded, Some(InProgress)),
                (A::Resolve, Some(Resolved)),
                (A::ResolveOnFirstContact, None),
                (A::Close, None),
                (A::Reopen, None),
                (A::RecordSatisfaction, None),
            ],
            AwaitingCustomer => [
                (A::Triage, None),
                (A::Assign, None),
                (A::Acknowledge, None),
                (A::AddNote, Some(AwaitingCustomer)),
                (A::Reply, Some(AwaitingCustomer)),
                (A::SetAwaitingCustomer, None),
                (A::CustomerResponded, Some(InProgress)),
                (A::Resolve, Some(Resolved)),
                (A::ResolveOnFirstContact, None),
                (A::Close, None),
                (A::Reopen, None),
                (A::RecordSatisfaction, None),
            ],
            Resolved => [
                (A::Triage, None),
                (A::Assign, None),
                (A::Acknowledge, None),
                (A::AddNote, Some(Resolved)),
                (A::Reply, Some(Resolved)),
                (A::SetAwaitingCustomer, None),
                (A::CustomerResponded, None),
                (A::Resolve, None),
                (A::ResolveOnFirstContact, None),
                (A::Close, Some(Closed)),
                (A::Reopen, Some(Reopened)),
                (A::RecordSatisfaction, Some(Resolved)),
            ],
            Closed => [
                (A::Triage, None),
                (A::Assign, None),
                (A::Acknowledge, None),
                (A::AddNote, None),
                (A::Reply, None),
                (A::SetAwaitingCustomer, None),
                (A::CustomerResponded, None),
                (A::Resolve, None),
                (A::ResolveOnFirstContact, None),
                (A::Close, None),
                (A::Reopen, Some(Reopened)),
                (A::RecordSatisfaction, Some(Closed)),
            ],
            Reopened => [
                (A::Triage, None),
                (A::Assign, None),
                (A::Acknowledge, Some(InProgress)),
                (A::AddNote, Some(Reopened)),
                (A::Reply, Some(InProgress)),
                (A::SetAwaitingCustomer, None),
                (A::CustomerResponded, Some(Reopened)),
                (A::Resolve, None),
                (A::ResolveOnFirstContact, None),
                (A::Close, None),
                (A::Reopen, None),
                (A::RecordSatisfaction, None),
            ],
        };
        row.iter()
            .find(|(a, _)| *a == action)
            .map(|(_, to)| *to)
            .unwrap_or_else(|| panic!("the table has no row for {from} × {action}"))
    }

    #[test]
    fn every_status_and_action_pair() {
        let mut allowed = 0;
        for from in Status::ALL {
            for action in Action::ALL {
                let got = next(from, action);
                match expected(from, action) {
                    Some(to) => {
                        assert_eq!(got, Ok(to), "{from} × {action}");
                        allowed += 1;
                    }
                    None => assert_eq!(got, Err(Refused { action, from }), "{from} × {action}"),
                }
            }
        }
        assert_eq!(allowed, 38, "the number of legal pairs changed");
    }

    #[test]
    fn the_main_path_walks_from_received_to_closed() {
        let mut s = Received;
        for (action, to) in [
            (A::Triage, Triaged),
            (A::Assign, Assigned),
            (A::Acknowledge, InProgress),
            (A::SetAwaitingCustomer, AwaitingCustomer),
            (A::CustomerResponded, InProgress),
            (A::Resolve, Resolved),
            (A::Reopen, Reopened),
            (A::Reply, InProgress),
            (A::Resolve, Resolved),
            (A::Close, Closed),
            (A::Reopen, Reopened),
        ] {
            s = next(s, action).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s, to);
        }
    }

    #[test]
    fn refusals_name_the_action_and_the_status() {
        let e = next(InProgress, A::Close).expect_err("illegal");
        assert_eq!(
            e.to_string(),
            "cannot close a complaint that is in_progress"
        );
        let e = next(Assigned, A::Resolve).expect_err("illegal");
        assert_eq!(
            e.to_string(),
            "cannot resolve a complaint that is assigned (acknowledge it first, or resolve it on first contact)"
        );
        let e = next(Closed, A::AddNote).expect_err("illegal");
        assert!(
            e.to_string()
                .starts_with("cannot add a note to a complaint that is closed"),
            "{e}"
        );
        let e = next(Received, A::SetAwaitingCustomer).expect_err("illegal");
        assert_eq!(
            e.to_string(),
            "cannot set awaiting_customer on a complaint that is received"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("in progress"), None);
        let mut names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
    }
}
