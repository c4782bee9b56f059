//! `decide` over a mix of real routes from the permission table.
//! Run: cargo bench --bench policy

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keybill::policy::{self, Mode, PermissionSet, Table};

fn routes() -> Vec<(String, String)> {
    Table::global()
        .entries()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let resource = e.resource.to_ascii_lowercase();
            let path = match (&e.action, i % 2) {
                (None, 0) => format!("/api/v1/{resource}?Limit=100"),
                (None, _) => format!("/api/v1/{resource}/{i}"),
                (Some(a), 0) => format!("/api/v1/{resource}/{a}"),
                (Some(a), _) => format!("/api/v1/{resource}/{i}/{a}"),
            };
            (e.verb.as_str().to_owned(), path)
        })
        .collect()
}

fn bench_decide(c: &mut Criterion) {
    let routes = routes();
    let keyset: PermissionSet = "ReadAll,Comm,Appointments,Patients".parse().unwrap();
    let mut i = 0;
    c.bench_function("decide (parse + lookup + verdict), table mix", |b| {
        b.iter(|| {
            let (verb, path) = &routes[i % routes.len()];
            i += 1;
            black_box(policy::decide_raw(
                black_box(verb),
                black_box(path),
                keyset,
                Mode::Remote,
            ))
        })
    });
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);
