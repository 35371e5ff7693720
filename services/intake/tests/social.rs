//! Social handles link a person's contacts: a WeChat message, a call from the phone
//! the customer later gives, and another post from the same handle land on one
//! customer, also when two of them arrive in one batch; a handle on another platform is
//! another customer until something links them.

mod support;

use ombuds_proto::v1::{self, get_complaint_request::Key};
use prost::Message;
use support::{Client, Intake, WAIT};

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

async fn submit(client: &Client, channel: &str, c: v1::ContactSubmitted) -> String {
    client
        .clone()
        .submit(v1::SubmitRequest {
            channel: channel.into(),
            contact: Some(c),
        })
        .await
        .expect("submit")
        .into_inner()
        .complaint_id
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

async fn customer_by_external(client: &Client, channel: &str, external_id: &str) -> String {
    let found = ombuds_testkit::wait_until(&format!("{external_id} recorded"), WAIT, || {
        let mut client = client.clone();
        async move {
            let page = client
                .list(v1::ListComplaintsRequest {
                    channel: channel.into(),
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            page.complaints
                .into_iter()
                .find(|c| c.external_id == external_id)
                .ok_or_else(|| "not yet".to_owned())
        }
    })
    .await;
    let full = client
        .clone()
        .get(v1::GetComplaintRequest {
            key: Some(Key::TicketNo(found.ticket_no)),
        })
        .await
        .expect("get")
        .into_inner();
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

    let first = submit(&client, "social", contact("wx-1", wechat("oAbC123xyz"))).await;
    let with_phone = submit(
        &client,
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
    let call = submit(
        &client,
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
    let other = submit(
        &client,
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
        customer_of(&client, &with_phone).await,
        person,
        "same handle"
    );
    assert_eq!(
        customer_of(&client, &call).await,
        person,
        "the phone given with the handle links the call"
    );
    assert_ne!(
        customer_of(&client, &other).await,
        person,
        "the same text on another platform is another handle"
    );
    let a = customer_by_external(&client, "social", "batch-1").await;
    let b = customer_by_external(&client, "social", "batch-2").await;
    assert_eq!(a, b, "one new handle twice in a batch is one customer");
    assert_ne!(a, person);

    // The customer record keeps the handle and the address (encrypted at rest; the
    // at-rest test reads the raw rows).
    let details = client
        .clone()
        .get_customer_contact(v1::GetCustomerContactRequest {
            complaint_id: call.clone(),
        })
        .await
        .expect("contact")
        .into_inner();
    assert_eq!(details.phone, "+8613700001234");
    intake.stop().await;
}
