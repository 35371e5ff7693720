//! A small, bounded, in-memory memory of answered calls: call id → when it was answered
//! and who called. A complaint the answering agent records for the call
//! (`POST /v1/calls/{call_id}/complaint`) takes its `received_at` (and, when the agent
//! gave none, the customer's phone) from here. The oldest entries are forgotten first
//! once `capacity` is reached; after a restart the map is empty and the complaint is
//! stamped with the time it arrives instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// What the adapter remembers about an answered call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// ms since the epoch.
    pub at: i64,
    /// The caller's number in plaintext (never logged), or empty.
    pub caller: String,
}

#[derive(Debug)]
pub struct AnsweredCalls {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Answered>,
    order: VecDeque<String>,
}

impl AnsweredCalls {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Remembers an answered call; a repeat keeps the first answer time.
    pub fn insert(&self, call_id: &str, answered: Answered) {
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if inner.map.contains_key(call_id) {
            return;
        }
        while inner.map.len() >= self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.map.remove(&old);
                }
                None => break,
            }
        }
        inner.map.insert(call_id.to_owned(), answered);
        inner.order.push_back(call_id.to_owned());
    }

    pub fn get(&self, call_id: &str) -> Option<Answered> {
        let inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        inner.map.get(call_id).cloned()
    }

    pub fn len(&self) -> usize {
        match self.inner.lock() {
            Ok(g) => g.map.len(),
            Err(poisoned) => poisoned.into_inner().map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(at: i64) -> Answered {
        Answered {
            at,
            caller: String::new(),
        }
    }

    #[test]
    fn the_oldest_calls_are_forgotten_first() {
        let m = AnsweredCalls::new(2);
        m.insert("a", a(1));
        m.insert("b", a(2));
        m.insert("a", a(9)); // a repeat keeps the first answer
        m.insert("c", a(3));
        assert_eq!(m.len(), 2);
        assert!(m.get("a").is_none());
        assert_eq!(m.get("b"), Some(a(2)));
        assert_eq!(m.get("c"), Some(a(3)));
    }
}
