//! Unit tests of packs: the shipped packs, selection, validation with line numbers,
//! reloading, and deadlines on the `cn` calendar.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use ombuds_calendar::Calendars;

use super::*;

const H: u64 = 3600;

fn cals() -> Calendars {
    Calendars::builtin()
}

fn parse(text: &str) -> Result<Pack, PolicyError> {
    Pack::parse(text, "test.yaml", &cals())
}

/// The error for `text`, checked to name the file and `line`.
fn error_at(text: &str, line: usize) -> String {
    let e = parse(text).expect_err("the pack should be refused");
    assert_eq!(e.source, "test.yaml");
    assert_eq!(e.line, Some(line), "wrong line in {e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("test.yaml line {line}: ")),
        "display: {shown}"
    );
    shown
}

fn facts<'a>(kind: &'a str, category: &'a str, priority: i32) -> Facts<'a> {
    Facts {
        kind,
        category,
        priority,
        channel: "email",
        tier: "",
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a valid RFC 3339 time")
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------
// The shipped packs.

#[test]
fn every_builtin_pack_parses() {
    let cals = cals();
    assert_eq!(
        builtin_pack_names(),
        &[
            "default",
            "mobile-operator",
            "service-hotline",
            "internet-feedback",
            "inquiry-complaint"
        ]
    );
    for name in builtin_pack_names() {
        let pack = builtin_pack(name, &cals).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pack.name, *name);
        assert_eq!(pack.version_tag(), format!("{name}@1"));
        assert!(!pack.description.is_empty(), "{name} has a description");
        for policy in &pack.policies {
            for t in &policy.targets {
                assert!(cals.get(&t.calendar).is_some(), "{name}: {}", t.calendar);
                // What describe() prints reads back the same.
                assert_eq!(Within::parse(&t.within.describe()), Ok(t.within));
            }
        }
        // Every pack has an answer for any complaint.
        for kind in KINDS {
            for p in PRIORITIES {
                assert!(
                    pack.select(&facts(kind, "anything", p)).is_some(),
                    "{name}: nothing for {kind} priority {p}"
                );
            }
        }
    }
    let e = builtin_pack("nope", &cals).expect_err("unknown pack");
    assert!(e.to_string().contains("mobile-operator"), "{e}");
}

#[test]
fn mobile_operator_pack_encodes_the_design_table() {
    let pack = builtin_pack("mobile-operator", &cals()).expect("pack");

    let simple = pack
        .select(&facts("complaint", "service", 3))
        .expect("simple");
    assert_eq!(simple.name, "simple");
    let r = simple.target("resolution").expect("resolution");
    assert_eq!(r.within, Within::Hours(Duration::from_secs(24 * H)));
    assert_eq!(r.calendar, "24x7");
    assert_eq!(
        simple.target("acknowledgement").map(|t| t.within),
        Some(Within::Hours(Duration::from_secs(600)))
    );

    for (category, priority, expected) in [
        ("network", 3, "complex-network-billing"),
        ("Billing/Roaming", 4, "complex-network-billing"),
        ("service", 2, "complex-urgent"),
        ("network", 1, "complex-urgent"),
    ] {
        let complex = pack
            .select(&facts("complaint", category, priority))
            .expect("complex");
        assert_eq!(complex.name, expected, "{category} priority {priority}");
        let initial = complex.target("initial_result").expect("initial result");
        assert_eq!(initial.within, Within::Hours(Duration::from_secs(72 * H)));
        assert_eq!(
            (initial.starts_on, initial.stops_on),
            (Trigger::Received, Trigger::FirstReply)
        );
        let r = complex.target("resolution").expect("resolution");
        assert_eq!(r.within, Within::WorkingDays(15));
        assert_eq!(r.calendar, "cn");
        assert_eq!(r.warn_at, vec![50, 80]);
        let f = complex.target("feedback").expect("feedback");
        assert_eq!(f.within, Within::Hours(Duration::from_secs(24 * H)));
        assert_eq!(
            (f.starts_on, f.stops_on),
            (Trigger::Resolved, Trigger::Closed)
        );
        let rc = complex.target("recontact").expect("recontact");
        assert_eq!(rc.within, Within::Hours(Duration::from_secs(48 * H)));
        assert_eq!(
            (rc.starts_on, rc.stops_on),
            (Trigger::Unsatisfied, Trigger::Closed)
        );
    }
    // An inquiry about the network is not a complex complaint.
    assert_eq!(
        pack.select(&facts("inquiry", "network", 1))
            .map(|p| p.name.as_str()),
        Some("simple")
    );
}

#[test]
fn the_other_packs_encode_the_design_table() {
    let cals = cals();
    let name_for = |pack: &Pack, f: Facts| pack.select(&f).map(|p| p.name.clone());

    let internet = builtin_pack("internet-feedback", &cals).expect("internet-feedback");
    let urgent = internet
        .select(&facts("complaint", "product", 1))
        .expect("urgent");
    assert_eq!(
        urgent.target("resolution").map(|t| t.within),
        Some(Within::Hours(Duration::from_secs(24 * H)))
    );
    let normal = internet
        .select(&facts("suggestion", "product", 3))
        .expect("normal");
    assert_eq!(
        normal.target("resolution").map(|t| t.within),
        Some(Within::Hours(Duration::from_secs(48 * H)))
    );

    let ic = builtin_pack("inquiry-complaint", &cals).expect("inquiry-complaint");
    let inquiry = ic.select(&facts("inquiry", "billing", 1)).expect("inquiry");
    assert_eq!(inquiry.name, "inquiry");
    let transfer = inquiry.target("transfer").expect("transfer");
    assert_eq!(transfer.within, Within::Hours(Duration::from_secs(24 * H)));
    assert_eq!(
        (transfer.starts_on, transfer.stops_on),
        (Trigger::Received, Trigger::Transferred)
    );
    assert_eq!(
        inquiry.target("resolution").map(|t| t.within),
        Some(Within::WorkingDays(3))
    );
    let complaint = ic
        .select(&facts("complaint", "service", 3))
        .expect("complaint");
    assert_eq!(
        complaint.target("initial_result").map(|t| t.within),
        Some(Within::Hours(Duration::from_secs(48 * H)))
    );
    let complex = ic
        .select(&facts("complaint", "network/4g", 3))
        .expect("complex");
    assert_eq!(
        complex
            .target("resolution")
            .map(|t| (t.within, t.calendar.as_str())),
        Some((Within::WorkingDays(7), "cn"))
    );
    assert_eq!(
        name_for(&ic, facts("praise", "", 4)).as_deref(),
        Some("other")
    );
    assert_eq!(
        name_for(&ic, facts("", "billing", 2)).as_deref(),
        Some("complex-urgent-complaint")
    );

    let hotline = builtin_pack("service-hotline", &cals).expect("service-hotline");
    let urgent = hotline.select(&facts("complaint", "", 1)).expect("urgent");
    assert_eq!(urgent.name, "urgent");
    let standard = hotline
        .select(&facts("complaint", "", 2))
        .expect("standard");
    for policy in [urgent, standard] {
        let survey = policy.target("callback_survey").expect("callback survey");
        assert_eq!(survey.within, Within::WorkingDays(3));
        assert_eq!(
            (survey.starts_on, survey.stops_on),
            (Trigger::Resolved, Trigger::SatisfactionRecorded)
        );
        let form = policy.target("transfer").expect("transfer form");
        assert_eq!(
            (form.starts_on, form.stops_on),
            (Trigger::Transferred, Trigger::Resolved)
        );
    }
    // Urgent first: every clock of an urgent call is at most as long as a standard one.
    assert!(
        urgent.target("first_response").map(|t| t.within)
            == Some(Within::Hours(Duration::from_secs(H)))
    );
    assert_eq!(standard.started_by(Trigger::Transferred).count(), 1);
    assert_eq!(
        standard
            .stopped_by(Trigger::Resolved)
            .map(|t| t.target.as_str())
            .collect::<Vec<_>>(),
        ["transfer", "resolution"]
    );

    let default = builtin_pack("default", &cals).expect("default");
    let standard = default.select(&facts("inquiry", "", 3)).expect("standard");
    assert_eq!(
        standard.target("resolution").map(|t| t.within),
        Some(Within::Hours(Duration::from_secs(72 * H)))
    );
    assert_eq!(
        standard
            .target("acknowledgement")
            .map(|t| (t.within, t.stops_on)),
        Some((Within::Hours(Duration::from_secs(600)), Trigger::Assigned))
    );
}

// ---------------------------------------------------------------------------------
// Selection.

const SELECTION: &str = r#"
pack: selection
version: 3
policies:
  - name: vip
    rank: 50
    match: { tiers: [VIP] }
    targets: [{ target: resolution, within: 4h }]
  - name: hotline-urgent
    rank: 40
    match: { channels: [hotline], priorities: [1] }
    targets: [{ target: resolution, within: 8h }]
  - name: network
    rank: 30
    match: { categories: [Network] }
    targets: [{ target: resolution, within: 12h }]
  - name: inquiries
    rank: 20
    match: { kinds: [inquiry] }
    targets: [{ target: resolution, within: 16h }]
  - name: urgent
    rank: 10
    match: { priorities: [1, 2] }
    targets: [{ target: resolution, within: 20h }]
  - name: social
    rank: 10
    match: { channels: [social], priorities: [3, 4] }
    targets: [{ target: resolution, within: 22h }]
  - name: complaints
    rank: 0
    match: { kinds: [complaint] }
    targets: [{ target: resolution, within: 24h }]
"#;

#[test]
fn selection_by_kind_category_priority_channel_tier_and_rank() {
    let pack = parse(SELECTION).expect("valid pack");
    assert_eq!(pack.version_tag(), "selection@3");
    let pick = |kind: &str, category: &str, priority: i32, channel: &str, tier: &str| {
        pack.select(&Facts {
            kind,
            category,
            priority,
            channel,
            tier,
        })
        .map(|p| p.name.as_str())
    };
    // Tier, the highest rank, wins over everything else that matches.
    assert_eq!(
        pick("complaint", "network", 1, "hotline", " vip "),
        Some("vip")
    );
    // Channel and priority must both match.
    assert_eq!(
        pick("complaint", "network", 1, "hotline", ""),
        Some("hotline-urgent")
    );
    assert_eq!(
        pick("complaint", "network", 2, "hotline", ""),
        Some("network")
    );
    // Category: case-insensitive, sub-categories match, a mere prefix does not.
    assert_eq!(
        pick("complaint", "NETWORK / Coverage/4G", 3, "email", ""),
        Some("network")
    );
    assert_eq!(
        pick("complaint", "networking", 3, "email", ""),
        Some("complaints")
    );
    // Kind.
    assert_eq!(
        pick("Inquiry", "billing", 1, "email", ""),
        Some("inquiries")
    );
    // Priority.
    assert_eq!(pick("complaint", "billing", 2, "email", ""), Some("urgent"));
    assert_eq!(
        pick("complaint", "billing", 3, "social", ""),
        Some("social")
    );
    // An empty kind is a complaint.
    assert_eq!(pick("", "billing", 3, "email", ""), Some("complaints"));
    // Nothing matches a suggestion on e-mail at priority 3.
    assert_eq!(pick("suggestion", "billing", 3, "email", ""), None);
}

#[test]
fn overlap_is_every_dimension_meeting() {
    let m = |kinds: &[&str], categories: &[&str], priorities: &[i32]| Matcher {
        kinds: kinds.iter().map(|s| s.to_string()).collect(),
        categories: categories.iter().map(|s| s.to_string()).collect(),
        priorities: priorities.to_vec(),
        ..Matcher::default()
    };
    assert!(m(&[], &[], &[]).overlaps(&m(&["inquiry"], &["x"], &[1])));
    assert!(m(&["complaint"], &["network"], &[]).overlaps(&m(&[], &["network/4g"], &[2])));
    assert!(!m(&["complaint"], &[], &[]).overlaps(&m(&["inquiry"], &[], &[])));
    assert!(!m(&[], &["network"], &[]).overlaps(&m(&[], &["networking"], &[])));
    assert!(!m(&[], &[], &[1, 2]).overlaps(&m(&[], &[], &[3])));
    assert_eq!(
        m(&["complaint"], &[], &[1, 2]).describe(),
        "kinds [complaint], priorities [1, 2]"
    );
    assert_eq!(Matcher::default().describe(), "anything");
}

#[test]
fn defaults_fill_calendars_thresholds_and_triggers() {
    let pack = parse(
        r#"
pack: defaults
version: 1
defaults: { business_calendar: cn, warn_at: [25, 50, 75] }
policies:
  - name: all
    targets:
      - target: acknowledgement
        within: 10 minutes
      - { target: first_response, within: 8 business hours, warn_at: [] }
      - { target: transfer, within: 1h30m, calendar: cn, warn_at: ["90%"] }
      - { target: resolution, within: 15 working days }
      - { target: callback_survey, within: 3 working days, calendar: 24x7 }
"#,
    )
    .expect("valid pack");
    assert_eq!(pack.description, "");
    let p = &pack.policies[0];
    assert_eq!(p.rank, 0);
    assert_eq!(p.matcher, Matcher::default());
    let t = |name: &str| p.target(name).expect(name).clone();
    let ack = t("acknowledgement");
    assert_eq!(
        (
            ack.within,
            ack.calendar.as_str(),
            ack.warn_at.clone(),
            ack.starts_on,
            ack.stops_on
        ),
        (
            Within::Hours(Duration::from_secs(600)),
            "24x7",
            vec![25, 50, 75],
            Trigger::Received,
            Trigger::Assigned
        )
    );
    let first = t("first_response");
    assert_eq!(
        (first.within, first.calendar.as_str()),
        (Within::BusinessTime(Duration::from_secs(8 * H)), "cn")
    );
    assert!(first.warn_at.is_empty());
    assert_eq!(first.stops_on, Trigger::FirstReply);
    let transfer = t("transfer");
    assert_eq!(
        (
            transfer.within,
            transfer.calendar.as_str(),
            transfer.warn_at.clone()
        ),
        (Within::Hours(Duration::from_secs(5400)), "cn", vec![90])
    );
    assert_eq!(t("resolution").calendar, "cn");
    assert_eq!(t("callback_survey").calendar, "24x7");
}

// ---------------------------------------------------------------------------------
// Validation: each error names the file and the line.

#[test]
fn unknown_calendar_names_its_line() {
    let e = error_at(
        r#"pack: p
version: 1
policies:
  - name: a
    targets:
      - target: resolution
        within: 15 working days
        calendar: mars
"#,
        8,
    );
    assert!(
        e.contains("unknown calendar \"mars\"") && e.contains("cn"),
        "{e}"
    );
    // In a flow mapping, and as the pack's default.
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - { target: resolution, within: 3d, calendar: xx }\n", 6);
    assert!(e.contains("unknown calendar \"xx\""), "{e}");
    let e = error_at("pack: p\nversion: 1\ndefaults:\n  business_calendar: nope\npolicies:\n  - name: a\n    targets: [{ target: resolution, within: 3d }]\n", 4);
    assert!(e.contains("unknown calendar \"nope\""), "{e}");
}

#[test]
fn negative_and_zero_durations_name_their_line() {
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - target: resolution\n        within: -5h\n", 7);
    assert!(e.contains("negative duration \"-5h\""), "{e}");
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - { target: resolution, within: 0 working days, calendar: cn }\n", 6);
    assert!(e.contains("zero duration"), "{e}");
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - { target: resolution, within: 24 }\n", 6);
    assert!(e.contains("no unit"), "{e}");
}

#[test]
fn thresholds_out_of_range_or_order_name_their_line() {
    let text = |warn: &str| {
        format!("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - target: resolution\n        within: 3d\n        warn_at: {warn}\n")
    };
    let e = error_at(&text("[50, 120]"), 8);
    assert!(e.contains("threshold 120 is over 100%"), "{e}");
    let e = error_at(&text("[100]"), 8);
    assert!(e.contains("100% is the deadline itself"), "{e}");
    let e = error_at(&text("[0]"), 8);
    assert!(e.contains("0%"), "{e}");
    let e = error_at(&text("[80, 50]"), 8);
    assert!(e.contains("must increase"), "{e}");
    let e = error_at(&text("[50, 50]"), 8);
    assert!(e.contains("must increase"), "{e}");
    let e = error_at("pack: p\nversion: 1\ndefaults:\n  warn_at:\n    - 50\n    - 150\npolicies:\n  - name: a\n    targets: [{ target: resolution, within: 3d }]\n", 6);
    assert!(e.contains("150"), "{e}");
}

#[test]
fn overlapping_policies_of_equal_rank_name_the_later_one() {
    let e = error_at(
        r#"pack: p
version: 1
policies:
  - name: network
    rank: 5
    match: { categories: [network] }
    targets: [{ target: resolution, within: 3d }]
  - name: fine-because-higher
    rank: 6
    match: { kinds: [complaint] }
    targets: [{ target: resolution, within: 3d }]
  - name: urgent
    rank: 5
    match: { priorities: [1] }
    targets: [{ target: resolution, within: 1d }]
"#,
        12,
    );
    assert!(
        e.contains("policy \"urgent\" (priorities [1]) overlaps policy \"network\" (line 4) (categories [network]) at the same rank 5"),
        "{e}"
    );
    // Disjoint in one dimension is fine at the same rank; a sub-category is not disjoint.
    parse("pack: p\nversion: 1\npolicies:\n  - { name: a, match: { kinds: [inquiry] }, targets: [{ target: resolution, within: 3d }] }\n  - { name: b, match: { kinds: [complaint] }, targets: [{ target: resolution, within: 3d }] }\n")
        .expect("disjoint kinds");
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - { name: a, match: { categories: [network] }, targets: [{ target: resolution, within: 3d }] }\n  - { name: b, match: { categories: [Network/4G] }, targets: [{ target: resolution, within: 3d }] }\n", 5);
    assert!(e.contains("overlaps policy \"a\" (line 4)"), "{e}");
}

#[test]
fn unknown_fields_targets_and_triggers_name_their_line() {
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    match:\n      kind: [complaint]\n    targets: [{ target: resolution, within: 3d }]\n", 6);
    assert!(
        e.contains("unknown field `kind`") && e.contains("kinds"),
        "{e}"
    );
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - target: resolution\n        within: 3d\n        deadline: 4d\n", 8);
    assert!(e.contains("unknown field `deadline`"), "{e}");
    let e = error_at("pack: p\nversion: 1\nowner: me\npolicies: []\n", 3);
    assert!(e.contains("unknown field `owner`"), "{e}");
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - { target: resolve, within: 3d }\n", 6);
    assert!(
        e.contains("unknown target \"resolve\"") && e.contains("resolution"),
        "{e}"
    );
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - target: feedback\n        within: 1d\n        starts_on: fixed\n", 8);
    assert!(
        e.contains("unknown trigger \"fixed\"") && e.contains("resolved"),
        "{e}"
    );
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    match: { kinds: [complaint, rant] }\n    targets: [{ target: resolution, within: 3d }]\n", 5);
    assert!(e.contains("unknown kind \"rant\""), "{e}");
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    match: { channels: [fax] }\n    targets: [{ target: resolution, within: 3d }]\n", 5);
    assert!(
        e.contains("unknown channel \"fax\"") && e.contains("hotline"),
        "{e}"
    );
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    match:\n      priorities: [1, 7]\n    targets: [{ target: resolution, within: 3d }]\n", 6);
    assert!(e.contains("priorities run from 1"), "{e}");
}

#[test]
fn whole_pack_rules_name_their_line() {
    // A business target with no calendar anywhere.
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - { target: resolution, within: 3d }\n      - { target: callback_survey, within: 3 working days }\n", 7);
    assert!(e.contains("names no calendar"), "{e}");
    // Two policies of one name.
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    match: { kinds: [inquiry] }\n    targets: [{ target: resolution, within: 3d }]\n  - name: a\n    match: { kinds: [complaint] }\n    targets: [{ target: resolution, within: 3d }]\n", 7);
    assert!(e.contains("already named \"a\" (line 4)"), "{e}");
    // One target twice.
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - { target: resolution, within: 3d }\n      - { target: resolution, within: 4d }\n", 7);
    assert!(e.contains("twice"), "{e}");
    // Starting and stopping on the same event.
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets:\n      - { target: feedback, within: 1d, stops_on: resolved }\n", 6);
    assert!(e.contains("starts and stops on resolved"), "{e}");
    // No policies; no targets.
    let e = error_at("pack: p\nversion: 1\npolicies: []\n", 3);
    assert!(e.contains("at least one policy"), "{e}");
    let e = error_at(
        "pack: p\nversion: 1\npolicies:\n  - name: a\n    targets: []\n",
        5,
    );
    assert!(e.contains("no targets"), "{e}");
    // A bad pack name or version.
    let e = error_at("pack: my pack@2\nversion: 1\npolicies: []\n", 1);
    assert!(e.contains("pack name"), "{e}");
    let e = error_at("pack: p\nversion: 0\npolicies: []\n", 2);
    assert!(e.contains("version"), "{e}");
}

#[test]
fn syntax_and_type_errors_name_their_line() {
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    rank: high\n    targets: [{ target: resolution, within: 3d }]\n", 5);
    assert!(e.contains("rank"), "{e}");
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n    targets: [{ target: resolution, within: 3d }\n", 6);
    // The problem's position is the line; libyaml's context position stays in the text.
    assert!(!e.contains("at line 6 column"), "position given once: {e}");
    assert!(e.contains("flow sequence"), "{e}");
    let e = parse("").expect_err("empty file");
    assert_eq!(e.source, "test.yaml");
    let e = error_at("pack: p\nversion: 1\npolicies:\n  - name: a\n", 4);
    assert!(e.contains("missing field `targets`"), "{e}");
}

#[test]
fn policy_error_display() {
    let e = PolicyError {
        source: "a.yaml".into(),
        line: Some(3),
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "a.yaml line 3: bad");
    let e = PolicyError {
        source: "a.yaml".into(),
        line: None,
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "a.yaml: bad");
}

// ---------------------------------------------------------------------------------
// Within and triggers.

#[test]
fn within_reads_and_describes_every_form() {
    let hours = |s: u64| Within::Hours(Duration::from_secs(s));
    let business = |s: u64| Within::BusinessTime(Duration::from_secs(s));
    for (text, within, shown) in [
        ("24h", hours(24 * H), "24h"),
        ("90m", hours(90 * 60), "1h30m"),
        ("3d", hours(72 * H), "72h"),
        ("45s", hours(45), "45s"),
        ("1h30m", hours(90 * 60), "1h30m"),
        ("24 hours", hours(24 * H), "24h"),
        ("10 Minutes", hours(600), "10m"),
        ("2 days", hours(48 * H), "48h"),
        ("8 business hours", business(8 * H), "8 business hours"),
        ("1 business hour", business(H), "1 business hour"),
        (
            "90 business minutes",
            business(90 * 60),
            "90 business minutes",
        ),
        ("30 business seconds", business(30), "30 business seconds"),
        (
            "15 working days",
            Within::WorkingDays(15),
            "15 working days",
        ),
        (" 1  Working Day ", Within::WorkingDays(1), "1 working day"),
    ] {
        assert_eq!(Within::parse(text), Ok(within), "{text}");
        assert_eq!(within.describe(), shown, "{text}");
        assert_eq!(within.to_string(), shown);
        assert_eq!(Within::parse(shown), Ok(within), "{shown} reads back");
    }
    for (text, says) in [
        ("-5h", "negative duration"),
        ("-3 working days", "negative duration"),
        ("0h", "zero duration"),
        ("0 working days", "zero duration"),
        ("0 business hours", "zero duration"),
        ("1.5h", "whole numbers only"),
        ("24", "no unit"),
        ("", "empty"),
        ("3 business days", "ambiguous"),
        ("10 fortnights", "unknown unit"),
        ("8 business days", "ambiguous"),
        ("2 business weeks", "unknown business time unit"),
        ("1 business day", "ambiguous"),
        ("5x", "unknown unit"),
        ("99999999999999999999h", "too long"),
        ("3651d", "too long"),
        ("2001 working days", "too long"),
        ("soon", "cannot read"),
        ("within a day", "cannot read"),
    ] {
        let e = Within::parse(text).expect_err(text);
        assert!(e.contains(says), "{text}: {e}");
    }
    assert!(Within::WorkingDays(1).is_business());
    assert!(!hours(1).is_business());
}

#[test]
fn triggers_read_back_and_have_defaults_per_target() {
    for t in Trigger::ALL {
        assert_eq!(t.as_str().parse::<Trigger>(), Ok(t));
        assert_eq!(t.to_string(), t.as_str());
    }
    assert!("Resolved".parse::<Trigger>().is_err());
    let defaults: Vec<(&str, Trigger, Trigger)> = TARGETS
        .iter()
        .map(|t| {
            let (a, b) = Trigger::defaults_for(t);
            (*t, a, b)
        })
        .collect();
    use Trigger::*;
    assert_eq!(
        defaults,
        [
            ("acknowledgement", Received, Assigned),
            ("first_response", Received, FirstReply),
            ("initial_result", Received, FirstReply),
            ("transfer", Received, Transferred),
            ("resolution", Received, Resolved),
            ("feedback", Resolved, Closed),
            ("recontact", Unsatisfied, Closed),
            ("callback_survey", Resolved, SatisfactionRecorded),
        ]
    );
}

// ---------------------------------------------------------------------------------
// Deadlines on the cn calendar (Mon-Fri 09:00-18:00 Asia/Shanghai; 2025 National Day:
// 1-8 October off, Sunday 28 September and Saturday 11 October worked).

#[test]
fn deadlines_for_each_kind_of_within_on_cn() {
    let cals = cals();
    let cn = cals.get("cn").expect("cn calendar");
    // Tuesday 30 September 2025, 10:00 in Shanghai, the day before the holiday.
    let from = utc("2025-09-30T10:00:00+08:00");
    let due = |w: Within| w.deadline(&cn, from).expect("deadline");

    // Calendar time runs through the holiday.
    assert_eq!(
        due(Within::parse("72h").expect("72h")),
        utc("2025-10-03T10:00:00+08:00")
    );
    // Business time: 8 hours on the 30th, then 2 on Thursday 9 October.
    assert_eq!(
        due(Within::parse("10 business hours").expect("10bh")),
        utc("2025-10-09T11:00:00+08:00")
    );
    assert_eq!(
        due(Within::parse("8 business hours").expect("8bh")),
        utc("2025-09-30T18:00:00+08:00")
    );
    // Working days: the day of receipt does not count; 9 Oct, 10 Oct, then the
    // make-up Saturday 11 Oct.
    assert_eq!(
        due(Within::WorkingDays(3)),
        utc("2025-10-11T18:00:00+08:00")
    );
    // 15 working days (the mobile operator's complex complaints): 9-11, 13-17, 20-24, 27, 28.
    assert_eq!(
        due(Within::WorkingDays(15)),
        utc("2025-10-28T18:00:00+08:00")
    );
    // Received on a holiday: counting starts at the next working day.
    let holiday = utc("2025-10-03T12:00:00+08:00");
    assert_eq!(
        Within::WorkingDays(1)
            .deadline(&cn, holiday)
            .expect("deadline"),
        utc("2025-10-09T18:00:00+08:00")
    );

    // Through a pack: the mobile operator's complex resolution target.
    let pack = builtin_pack("mobile-operator", &cals).expect("pack");
    let target = pack
        .select(&facts("complaint", "network", 3))
        .and_then(|p| p.target("resolution"))
        .expect("resolution target");
    let cal = cals.get(&target.calendar).expect("the target's calendar");
    assert_eq!(
        target.within.deadline(&cal, from).expect("deadline"),
        utc("2025-10-28T18:00:00+08:00")
    );
}

// ---------------------------------------------------------------------------------
// The store.

const GOOD_V1: &str = "pack: site\nversion: 1\npolicies:\n  - name: all\n    targets: [{ target: resolution, within: 72h }]\n";
const GOOD_V2: &str = "pack: site\nversion: 2\npolicies:\n  - name: all\n    targets: [{ target: resolution, within: 48h }]\n";
const BAD: &str = "pack: site\nversion: 3\npolicies:\n  - name: all\n    targets:\n      - { target: resolution, within: -5h }\n";

#[test]
fn store_reload_keeps_the_old_pack_on_a_bad_file_and_takes_a_good_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("site.yaml");
    std::fs::write(&path, GOOD_V1).expect("write v1");
    let spec = path.to_str().expect("utf-8 path");
    let store = PolicyStore::load(spec, cals()).expect("load v1");
    assert_eq!(store.source(), spec);
    assert_eq!(store.current().version_tag(), "site@1");
    assert!(store.calendars().get("cn").is_some());

    // Unchanged: the same pack, the same Arc.
    let before = store.current();
    let again = store.reload().expect("unchanged file reloads");
    assert!(Arc::ptr_eq(&before, &again));

    // A bad file: the error names the file and line, and v1 stays.
    std::fs::write(&path, BAD).expect("write bad");
    let e = store.reload().expect_err("bad file refused");
    assert_eq!(e.line, Some(6));
    assert!(
        e.to_string().starts_with(&format!("{spec} line 6: ")),
        "{e}"
    );
    assert_eq!(store.current().version_tag(), "site@1");

    // Changed content under the same version: refused, v1 stays.
    std::fs::write(&path, GOOD_V1.replace("72h", "24h")).expect("write edited v1");
    let e = store.reload().expect_err("same version, new rules");
    assert!(
        e.message.contains("version is still 1") && e.line == Some(2),
        "{e}"
    );
    assert_eq!(
        store.current().policies[0].targets[0].within,
        Within::Hours(Duration::from_secs(72 * H))
    );

    // A good new version is taken.
    std::fs::write(&path, GOOD_V2).expect("write v2");
    let new = store.reload().expect("v2 loads");
    assert_eq!(new.version_tag(), "site@2");
    assert_eq!(store.current().version_tag(), "site@2");
    // The clocks that took v1 still hold it.
    assert_eq!(before.version_tag(), "site@1");

    // A file that disappears: an error, and v2 stays.
    std::fs::remove_file(&path).expect("remove");
    let e = store.reload().expect_err("missing file");
    assert!(e.message.contains("cannot read"), "{e}");
    assert_eq!(store.current().version_tag(), "site@2");
}

#[test]
fn store_loads_builtin_packs_and_refuses_bad_specs() {
    let store = PolicyStore::load("mobile-operator", cals()).expect("built-in");
    assert_eq!(store.source(), "builtin:mobile-operator");
    assert_eq!(store.current().version_tag(), "mobile-operator@1");
    let again = store.reload().expect("built-in reload is a no-op");
    assert!(Arc::ptr_eq(&again, &store.current()));

    let e = PolicyStore::load("no-such-pack", cals()).expect_err("unknown");
    assert!(
        e.message.contains("built-in pack") && e.message.contains("inquiry-complaint"),
        "{e}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, BAD).expect("write bad");
    let e = PolicyStore::load(path.to_str().expect("utf-8"), cals()).expect_err("bad file");
    assert_eq!(e.line, Some(6));
    assert!(builtin_pack_text("default").is_some_and(|t| t.contains("pack: default")));
}
