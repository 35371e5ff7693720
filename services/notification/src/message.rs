//! What a provider is handed: an [`OutgoingMessage`] on a [`Medium`] to one recipient,
//! and the rule that picks the medium from the customer's contact details
//! ([`choose_recipient`]): e-mail when there is an address, else SMS when there is a
//! phone number, else nothing ("no contact method").
//!
//! The recipient's address is plaintext here: it lives only in memory between the
//! contact lookup at intake and the provider. `Debug` prints it masked, so a message
//! that ends up in a log line does not leak it.

use std::fmt;

use ombuds_platform::pii;

/// How a message reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Email,
    Sms,
}

impl Medium {
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Email => "email",
            Medium::Sms => "sms",
        }
    }

    /// The masked form of an address on this medium, safe for events, logs and the store.
    pub fn mask(self, address: &str) -> String {
        match self {
            Medium::Email => pii::mask_email(address),
            Medium::Sms => pii::mask_phone(address),
        }
    }
}

impl fmt::Display for Medium {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one message goes.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    pub medium: Medium,
    /// Plaintext address (e-mail address or phone number).
    pub address: String,
}

impl Recipient {
    pub fn masked(&self) -> String {
        self.medium.mask(&self.address)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recipient")
            .field("medium", &self.medium)
            .field("address", &self.masked())
            .finish()
    }
}

/// The reason a delivery fails when the customer left neither address nor number.
pub const NO_CONTACT_METHOD: &str = "no contact method";

/// E-mail when the customer has an address, else SMS when a phone number, else `None`.
pub fn choose_recipient(email: &str, phone: &str) -> Option<Recipient> {
    let (email, phone) = (email.trim(), phone.trim());
    if !email.is_empty() {
        Some(Recipient {
            medium: Medium::Email,
            address: email.to_owned(),
        })
    } else if !phone.is_empty() {
        Some(Recipient {
            medium: Medium::Sms,
            address: phone.to_owned(),
        })
    } else {
        None
    }
}

/// One rendered, addressed message, as handed to a [`crate::provider::Provider`].
#[derive(Clone)]
pub struct OutgoingMessage {
    pub delivery_id: String,
    pub complaint_id: String,
    pub ticket_no: String,
    pub template: String,
    pub medium: Medium,
    /// Plaintext address: only a provider may use it.
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl fmt::Debug for OutgoingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMessage")
            .field("delivery_id", &self.delivery_id)
            .field("complaint_id", &self.complaint_id)
            .field("ticket_no", &self.ticket_no)
            .field("template", &self.template)
            .field("medium", &self.medium)
            .field("to", &self.medium.mask(&self.to))
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_wins_then_sms_then_nothing() {
        let r = choose_recipient("zhang@example.com", "13812345678").expect("email");
        assert_eq!(r.medium, Medium::Email);
        assert_eq!(r.address, "zhang@example.com");

        let r = choose_recipient("  ", "13812345678").expect("phone");
        assert_eq!(r.medium, Medium::Sms);
        assert_eq!(r.address, "13812345678");

        assert!(choose_recipient("", "").is_none());
        assert!(choose_recipient(" ", "\t").is_none());
    }

    #[test]
    fn debug_output_masks_the_address() {
        let r = choose_recipient("zhang@example.com", "").expect("email");
        let shown = format!("{r:?}");
        assert!(!shown.contains("zhang@example.com"), "{shown}");
        assert!(shown.contains("z***@example.com"), "{shown}");
        let msg = OutgoingMessage {
            delivery_id: "d".into(),
            complaint_id: "c".into(),
            ticket_no: "TS-1".into(),
            template: "acknowledgement".into(),
            medium: Medium::Sms,
            to: "13812345678".into(),
            subject: "s".into(),
            body: "b".into(),
        };
        let shown = format!("{msg:?}");
        assert!(!shown.contains("13812345678"), "{shown}");
        assert!(shown.contains("138****5678"), "{shown}");
    }
}
