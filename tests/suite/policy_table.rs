//! The permission table: the repository's copy against the reference page, and every
//! entry resolving to its own permission through both route shapes it covers.

use keybill::policy::{self, Mode, Permission, PermissionSet, Request, Rule, Table};

/// Entries of the reference page as `(permission, "Resource VERB [Action]")`.
fn reference_entries(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if !line.starts_with("| ") || line.starts_with("| Permission") || line.starts_with("| ---")
        {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let permission = match cells[0] {
            "Read All" => "ReadAll".to_owned(),
            other => other.trim_end_matches("\\*").to_owned(),
        };
        // Entries are separated by two or more spaces; "(single/multiple)" and similar
        // notes in parentheses are not part of an entry.
        let mut methods = String::new();
        let mut depth = 0;
        for c in cells[1].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => methods.push(c),
                _ => {}
            }
        }
        for entry in methods.split("  ").map(str::trim).filter(|e| !e.is_empty()) {
            if entry.starts_with("Applies to all methods") {
                continue;
            }
            let entry = entry.replacen("CoCats ", "CovCats ", 1);
            out.push((
                permission.clone(),
                entry.split_whitespace().collect::<Vec<_>>().join(" "),
            ));
        }
    }
    out
}

#[test]
fn repository_table_matches_the_reference_page() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/api-permissions.md"
    );
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI must have {path}: {e}"),
        Err(_) => {
            eprintln!("note: {path} is absent; the table was not compared with the reference");
            return;
        }
    };
    let reference = reference_entries(&text);
    let ours: Vec<(String, String)> = Table::global()
        .entries()
        .iter()
        .map(|e| (e.permission.to_string(), e.label()))
        .collect();
    assert_eq!(
        reference.len(),
        279,
        "the reference page lists 279 method entries"
    );
    assert_eq!(ours.len(), reference.len());
    for (i, (theirs, mine)) in reference.iter().zip(&ours).enumerate() {
        assert_eq!(theirs, mine, "entry {} differs", i + 1);
    }
}

/// The routes an entry covers: collection and single item, or an Action with and
/// without an id before it; each with and without the `/api/v1` prefix.
fn routes_of(entry: &policy::Entry) -> Vec<String> {
    let resource = entry.resource.to_ascii_lowercase();
    let shapes = match &entry.action {
        None => vec![format!("/{resource}"), format!("/{resource}/18")],
        Some(action) => vec![
            format!("/{resource}/{action}"),
            format!("/{resource}/1473/{action}"),
        ],
    };
    shapes
        .into_iter()
        .flat_map(|p| [p.clone(), format!("/api/v1{p}")])
        .collect()
}

#[test]
fn every_entry_resolves_to_its_own_permission_in_every_shape() {
    let entries = Table::global().entries();
    assert_eq!(entries.len(), 279);
    let mut checked = 0;
    for entry in entries {
        for route in routes_of(entry) {
            let request = Request::parse(entry.verb.as_str(), &route)
                .unwrap_or_else(|e| panic!("{} {route}: {e}", entry.verb));
            let (permission, rule) = policy::required_permission(&request);
            assert_eq!(
                permission,
                entry.permission,
                "{} {route} ({})",
                entry.verb,
                entry.label()
            );
            assert_eq!(rule, Rule::Entry(entry), "{} {route}", entry.verb);

            // The permission alone allows it; every other permission together does not.
            let alone = PermissionSet::EMPTY.with(entry.permission);
            assert!(policy::decide(&request, alone, Mode::Remote).is_ok());
            let others: PermissionSet = Permission::ALL
                .into_iter()
                .filter(|p| *p != entry.permission)
                .collect();
            assert_eq!(
                policy::decide(&request, others, Mode::Remote),
                Err(policy::Denied::Missing(entry.permission)),
                "{} {route}",
                entry.verb
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 279 * 4);
}

#[test]
fn table_rows_the_contract_names() {
    let need = |line: &str| {
        let request = Request::parse_line(line).unwrap();
        policy::required_permission(&request).0
    };
    assert_eq!(need("PUT /appointments/34/Break"), Permission::Comm);
    assert_eq!(need("PUT /appointments/Break"), Permission::Comm);
    assert_eq!(need("GET /appointments"), Permission::ReadAll);
    assert_eq!(need("GET /appointments/18"), Permission::ReadAll);
    assert_eq!(need("PUT /appointments/34"), Permission::Appointments);
    assert_eq!(need("PUT /covcats/3"), Permission::Setup);
    assert_eq!(need("POST /documents/Upload"), Permission::Documents);
    assert_eq!(need("POST /documents/SetByUrl"), Permission::AllOthers);
    assert_eq!(need("POST /asapcomms"), Permission::TextingAsap);
    assert_eq!(need("POST /subscriptions"), Permission::ReadAll);
    assert_eq!(need("PUT /payments/7/Partial"), Permission::Payments);
    assert_eq!(need("POST /payplans/Dynamic"), Permission::PayPlans);
    assert_eq!(need("GET /patients/Simple"), Permission::ReadAll);
}
