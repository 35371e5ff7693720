//! Message templates, as plain functions for now: a template name plus the ticket
//! number give a subject and a short bilingual (English and Chinese) body. The
//! dispatcher renders a delivery's template right before it is sent, so a template
//! changed between the complaint arriving and the send is the one the customer sees.

/// The acknowledgement every complaint gets: it carries the ticket number.
pub const ACKNOWLEDGEMENT: &str = "acknowledgement";

/// A rendered message, before it is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    /// The full body (e-mail).
    pub body: String,
    /// The short form for SMS.
    pub short: String,
}

/// A template this build does not know (a row written by a newer version, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown template {0:?}")]
pub struct UnknownTemplate(pub String);

/// Renders `template` for the complaint with `ticket_no`.
pub fn render(template: &str, ticket_no: &str) -> Result<Rendered, UnknownTemplate> {
    match template {
        ACKNOWLEDGEMENT => Ok(acknowledgement(ticket_no)),
        other => Err(UnknownTemplate(other.to_owned())),
    }
}

/// "We received your complaint": the subject and body name the ticket number, so the
/// customer can cite it on any channel.
pub fn acknowledgement(ticket_no: &str) -> Rendered {
    Rendered {
        subject: format!("We received your complaint — ticket {ticket_no}"),
        body: format!(
            "Thank you for contacting us. We have received your complaint and recorded it \
             under ticket number {ticket_no}. Please quote this number whenever you contact \
             us about it; we will keep you informed of its progress.\n\
             \n\
             我们已收到您的投诉，工单号 {ticket_no}。再次联系我们时请提供此工单号，我们会及时告知您处理进展。\n"
        ),
        short: format!(
            "We received your complaint, ticket {ticket_no}. 我们已收到您的投诉，工单号 {ticket_no}。"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgement_carries_the_ticket_number_in_both_languages() {
        let r = render(ACKNOWLEDGEMENT, "TS-20261122-000001").expect("known template");
        assert_eq!(
            r.subject,
            "We received your complaint — ticket TS-20261122-000001"
        );
        assert!(
            r.body.contains("ticket number TS-20261122-000001"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("我们已收到您的投诉，工单号 TS-20261122-000001"),
            "{}",
            r.body
        );
        assert!(r.short.contains("ticket TS-20261122-000001"), "{}", r.short);
        assert!(r.short.contains("工单号 TS-20261122-000001"), "{}", r.short);
    }

    #[test]
    fn unknown_templates_are_an_error() {
        assert_eq!(
            render("no-such-template", "TS-1"),
            Err(UnknownTemplate("no-such-template".into()))
        );
    }
}
