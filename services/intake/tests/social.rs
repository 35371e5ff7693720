//! Social handles link a person's contacts: a WeChat message, a call from the phone
//! the customer later gives, and another post from the same handle land on one
//! customer, also when two of them arrive in one batch; a handle on another platform is
//! another customer until something links them.

mod support;

use ombuds_proto::v1;
use prost::Message;
use support::{Client, Intake};

fn contact(external_id: &str, customer: v1::CustomerDetails) -> v1::ContactSubmitted {
    v1::ContactSubmitted {
        external_id: external_id.into(),
        customer: Some(customer),
        body: "账单多扣了一个月的费用".into(),
        // Distinct categories: no contact is a duplicate of another one.
        category: String::new(),
        ..Default::default()
    }
}

fn wechat(handle: &str) -> v1::CustomerDetails {
    v1::CustomerDetails {
        social: [("wechat".to_owned(), handle.to_owned())].into(),
        ..Default::default()
    }
}

async fn customer_of(client: &Client, complaint_id: &str) -> String {
    client
        .clone()
        .get_customer_contact(v1::GetCustomerContactRequest {
            complaint_id: complaint_id.into(),
        })
        .await
        .expect("customer contact")
        .into_inner()
        .customer_id
}

/// The customer of the complaint a contact became (the list shows it masked).
async fn customer_by_external(intake: &Intake, channel: &str, external_id: &str) -> String {
    let found = intake.recorded(channel, external_id).await;
    let full = intake.get(&found.ticket_no).await;
    full.customer.expect("customer").customer_id
}

#[tokio::test]
async fn social_handles_link_contacts_to_one_customer() {
    // Two contacts from one new handle wait on the stream, so they arrive in one batch.
    let waiting: Vec<(String, Vec<u8>)> = ["batch-1", "batch-2"]
        .iter()
        .map(|id| {
            (
                "intake.social".to_owned(),
                contact(id, wechat("oBatchHandle42")).encode_to_vec(),
            )
        })
        .collect();
    let intake = Intake::start_after("intake_social", &[], &waiting).await;
    let client = intake.client.clone();

    let first = intake
        .submit("social", contact("wx-1", wechat("oAbC123xyz")))
        .await
        .complaint_id;
    let with_phone = intake
        .submit(
            "social",
            contact(
                "wx-2",
                v1::CustomerDetails {
                    phone: "13700001234".into(),
                    address: "杭州市西湖区文三路".into(),
                    ..wechat("oAbC123xyz")
                },
            ),
        )
        .await;
    let call = intake
        .submit(
            "hotline",
            contact(
                "call-1",
                v1::CustomerDetails {
                    phone: "137 0000 1234".into(),
                    ..Default::default()
                },
            ),
        )
        .await;
    let other = intake
        .submit(
            "social",
            contact(
                "wb-1",
                v1::CustomerDetails {
                    social: [("weibo".to_owned(), "oAbC123xyz".to_owned())].into(),
                    ..Default::default()
                },
            ),
        )
        .await;

    let person = customer_of(&client, &first).await;
    assert_eq!(
        customer_of(&client, &with_phone.complaint_id).await,
        person,
        "same handle"
    );
    assert_eq!(
        customer_of(&client, &call.complaint_id).await,
        person,
        "the phone given with the handle links the call"
    );
    assert_ne!(
        customer_of(&client, &other.complaint_id).await,
        person,
        "the same text on another platform is another handle"
    );
    let a = customer_by_external(&intake, "social", "batch-1").await;
    let b = customer_by_external(&intake, "social", "batch-2").await;
    assert_eq!(a, b, "one new handle twice in a batch is one customer");
    assert_ne!(a, person);

    // The customer record keeps the handle and the address (encrypted at rest; the
    // at-rest test reads the raw rows).
    let details = client
        .clone()
        .get_customer_contact(v1::GetCustomerContactRequest {
            complaint_id: call.complaint_id.clone(),
        })
        .await
        .expect("contact")
        .into_inner();
    assert_eq!(details.phone, "+8613700001234");
    intake.stop().await;
}
