//! The policy's rules beyond the table: fallbacks, shapes, malformed requests, tiers,
//! throttles and page limits.

use std::time::Duration;

use keybill::policy::{
    self, max_limit, remote_throttle, throttle, Denied, Malformed, Mode, Permission, PermissionSet,
    Request, Rule, Tier,
};
use proptest::prelude::*;

fn set(names: &str) -> PermissionSet {
    names.parse().unwrap()
}

fn need(line: &str) -> (Permission, Rule) {
    policy::required_permission(&Request::parse_line(line).unwrap())
}

#[test]
fn unlisted_get_needs_readall_and_other_verbs_allothers() {
    assert_eq!(
        need("GET /insverifies"),
        (Permission::ReadAll, Rule::Fallback)
    );
    assert_eq!(
        need("GET /appointments/5/Frobnicate"),
        (Permission::ReadAll, Rule::Fallback)
    );
    assert_eq!(
        need("POST /insverifies"),
        (Permission::AllOthers, Rule::Fallback)
    );
    assert_eq!(
        need("DELETE /appointments/5"),
        (Permission::AllOthers, Rule::Fallback)
    );
    assert_eq!(
        need("PATCH /patients/5"),
        (Permission::AllOthers, Rule::Fallback)
    );
    assert_eq!(
        need("HEAD /patients"),
        (Permission::AllOthers, Rule::Fallback)
    );
    // An entry without an Action covers collection and item, not an unlisted Action.
    assert_eq!(
        need("PUT /appointments/5/Frobnicate"),
        (Permission::AllOthers, Rule::Fallback)
    );
    assert_eq!(need("POST /documents/Unknown").0, Permission::AllOthers);
}

#[test]
fn resource_action_and_verb_match_case_insensitively() {
    for line in [
        "PUT /appointments/5/Break",
        "PUT /Appointments/5/break",
        "put /APPOINTMENTS/5/BREAK",
        "PUT /api/v1/appointments/5/Break",
        "PUT /API/V1/appointments/5/Break",
    ] {
        assert_eq!(need(line).0, Permission::Comm, "{line}");
    }
}

#[test]
fn query_strings_do_not_change_the_route() {
    assert_eq!(
        need("PUT /appointments/5/Break?x=../..%2F&y=//").0,
        Permission::Comm
    );
    assert_eq!(
        need("GET /api/v1/patients?Limit=100&Offset=200").0,
        Permission::ReadAll
    );
    let r = Request::parse_line("GET /patients/48?Offset=0").unwrap();
    assert_eq!((r.resource, r.id, r.action), ("patients", Some("48"), None));
}

#[test]
fn every_malformed_form_is_rejected_with_its_reason() {
    let cases: &[(&str, &str, Malformed)] = &[
        ("GET", "", Malformed::NoResource),
        ("", "", Malformed::Empty),
        ("GET", "/", Malformed::NoResource),
        ("GET", "/api/v1", Malformed::NoResource),
        ("GET", "/api/v1/", Malformed::EmptySegment),
        ("GET", "patients", Malformed::NotAbsolute),
        ("GET", "//patients", Malformed::EmptySegment),
        ("GET", "/patients//5", Malformed::EmptySegment),
        ("GET", "/patients/", Malformed::EmptySegment),
        ("GET", "/patients/../payments", Malformed::DotSegment),
        ("GET", "/api/v1/../v2/patients", Malformed::DotSegment),
        ("GET", "/patients/./5", Malformed::DotSegment),
        ("GET", "/patients%2F5", Malformed::PercentEncoded),
        ("GET", "/patients/5%2fBreak", Malformed::PercentEncoded),
        ("GET", "/patients/%2e%2e/x", Malformed::PercentEncoded),
        ("GET", "/patients/%2E%2E", Malformed::PercentEncoded),
        ("GET", "/api/v2/patients", Malformed::Version),
        ("GET", "/api/patients", Malformed::Version),
        ("GET", "/patients/5/Simple/7", Malformed::Shape),
        ("GET", "/patients/Simple/5", Malformed::Shape),
        ("GET", "/patients/5/6", Malformed::Shape),
        ("GET", "/patients/Simple/Other", Malformed::Shape),
        ("GET", "/5", Malformed::Shape),
        ("GET", "/api/v1/patients/1/Simple/x/y", Malformed::Shape),
        ("GET", "/patients\\5", Malformed::Character),
        ("GET", "/pat-ients", Malformed::Character),
        ("GET", "/patients;x=1", Malformed::Character),
        ("GET", "/patients#frag", Malformed::Character),
        ("FETCH", "/patients", Malformed::Verb),
        ("G ET", "/patients", Malformed::Verb),
    ];
    for (verb, target, expected) in cases {
        assert_eq!(
            Request::parse(verb, target),
            Err(*expected),
            "{verb} {target:?}"
        );
        let all: PermissionSet = Permission::ALL.into_iter().collect();
        assert_eq!(
            policy::decide_raw(verb, target, all, Mode::Local),
            Err(Denied::Malformed(*expected)),
            "{verb} {target:?}"
        );
    }
    let long = format!("/patients?{}", "a".repeat(policy::MAX_REQUEST_LEN));
    assert_eq!(Request::parse("GET", &long), Err(Malformed::TooLong));
    assert_eq!(Request::parse_line("GET"), Err(Malformed::Shape));
    assert_eq!(Request::parse_line("   "), Err(Malformed::Empty));
}

#[test]
fn tiers_at_every_boundary() {
    let cases = [
        ("", Tier::Free),
        ("ReadAll", Tier::Free),
        ("ReadAll,TextingASAP", Tier::Free),
        ("Enterprise", Tier::Free),
        ("TextingASAP,Enterprise", Tier::Free),
        ("Comm", Tier::Basic),
        ("ReadAll,Comm,Documents,InsuranceSimple,Setup,Queries", Tier::Basic),
        ("ReadAll,Comm,Documents,InsuranceSimple,Setup,Queries,Enterprise", Tier::Basic),
        ("AllOthers", Tier::Standard),
        ("ReadAll,Comm,Appointments", Tier::Standard),
        ("Insurance", Tier::Standard),
        ("Patients", Tier::Standard),
        ("ProcedureLogs", Tier::Standard),
        (
            "ReadAll,AllOthers,Comm,Documents,Queries,Appointments,InsuranceSimple,Insurance,Patients,ProcedureLogs,Setup",
            Tier::Standard,
        ),
        ("Payments", Tier::Full),
        ("PayPlans", Tier::Full),
        ("ReadAll,PayPlans", Tier::Full),
    ];
    for (names, tier) in cases {
        assert_eq!(Tier::of(set(names)), tier, "{names}");
    }
    let prices: Vec<String> = Tier::ALL
        .iter()
        .map(|t| t.default_list_price().to_string())
        .collect();
    assert_eq!(prices, ["0.00", "15.00", "30.00", "35.00"]);
}

#[test]
fn throttle_intervals_and_page_limits() {
    let s = Duration::from_secs;
    assert_eq!(remote_throttle(set("")), s(5));
    assert_eq!(remote_throttle(set("ReadAll")), s(5));
    assert_eq!(remote_throttle(set("ReadAll,TextingASAP")), s(1));
    assert_eq!(remote_throttle(set("Comm")), s(1));
    assert_eq!(remote_throttle(set("ReadAll,Payments")), s(1));
    assert_eq!(
        remote_throttle(set("Enterprise")),
        Duration::from_millis(500)
    );
    assert_eq!(
        remote_throttle(set("ReadAll,Enterprise")),
        Duration::from_millis(500)
    );
    assert_eq!(throttle(set("ReadAll"), Mode::Local), None);
    assert_eq!(throttle(set("ReadAll"), Mode::Service), None);
    assert_eq!(throttle(set("Comm"), Mode::Remote), Some(s(1)));

    assert_eq!(max_limit(set("ReadAll"), Mode::Remote), 100);
    assert_eq!(max_limit(set("ReadAll"), Mode::Local), 1_000);
    assert_eq!(max_limit(set("ReadAll"), Mode::Service), 1_000);
    assert_eq!(max_limit(set("ReadAll,Enterprise"), Mode::Remote), 1_000);
    assert_eq!(max_limit(set("ReadAll,Enterprise"), Mode::Local), 10_000);
    assert_eq!(max_limit(set("ReadAll,Enterprise"), Mode::Service), 10_000);

    let allowed =
        policy::decide_raw("GET", "/patients", set("ReadAll,Enterprise"), Mode::Remote).unwrap();
    assert_eq!(
        (allowed.permission, allowed.max_limit),
        (Permission::ReadAll, 1_000)
    );
}

#[test]
fn there_is_no_hierarchy_between_permissions() {
    // Full-tier keys without ReadAll cannot read; Enterprise grants no method.
    let everything_but_readall: PermissionSet = Permission::ALL
        .into_iter()
        .filter(|p| *p != Permission::ReadAll)
        .collect();
    assert_eq!(
        policy::decide_raw("GET", "/patients", everything_but_readall, Mode::Remote),
        Err(Denied::Missing(Permission::ReadAll))
    );
    assert_eq!(
        policy::decide_raw(
            "POST",
            "/asapcomms",
            set("Enterprise,ReadAll,AllOthers"),
            Mode::Remote
        ),
        Err(Denied::Missing(Permission::TextingAsap))
    );
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z]{1,12}",
        "[0-9]{1,6}",
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("".to_owned()),
        Just("%2F".to_owned()),
        Just("%2f".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("api".to_owned()),
        Just("v1".to_owned()),
        "[ -~]{0,6}",
    ]
}

proptest! {
    #[test]
    fn the_parser_never_panics(verb in "[ -~]{0,8}", target in "\\PC{0,80}") {
        let _ = Request::parse(&verb, &target);
        let _ = Request::parse_line(&format!("{verb} {target}"));
    }

    #[test]
    fn accepted_paths_never_hold_traversal_or_encoded_slashes(
        segs in proptest::collection::vec(segment(), 0..7),
        query in "[ -~]{0,10}",
    ) {
        let joined = format!("/{}", segs.join("/"));
        let target = if query.is_empty() { joined } else { format!("{joined}?{query}") };
        // The route is what comes before the first `?`, wherever it came from.
        let path = target.split('?').next().unwrap_or_default().to_owned();
        if let Ok(r) = Request::parse("GET", &target) {
            let lowered = path.to_ascii_lowercase();
            prop_assert!(!lowered.contains(".."), "{target}");
            prop_assert!(!lowered.contains("//"), "{target}");
            prop_assert!(!lowered.contains("%2f") && !lowered.contains("%2e"), "{target}");
            prop_assert!(!path.ends_with('/'), "{target}");
            prop_assert!(r.resource.bytes().all(|b| b.is_ascii_alphanumeric()));
            prop_assert!(r.id.is_none_or(|id| id.bytes().all(|b| b.is_ascii_digit())));
        }
    }

    #[test]
    fn decide_agrees_with_required_permission(
        segs in proptest::collection::vec("[a-zA-Z]{1,10}|[0-9]{1,4}", 1..4),
        bits in 0u16..(1 << 15),
        verb in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
    ) {
        let target = format!("/{}", segs.join("/"));
        let keyset = PermissionSet::from_bits_truncate(bits);
        if let Ok(request) = Request::parse(verb, &target) {
            let (needed, _) = policy::required_permission(&request);
            let decision = policy::decide(&request, keyset, Mode::Remote);
            prop_assert_eq!(decision.is_ok(), keyset.contains(needed));
        }
    }
}
