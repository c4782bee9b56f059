//! The check endpoint's work without HTTP: parse the header and request, look the key
//! up among 100,000, decide, and take a throttle slot.
//! Run: cargo bench --bench gate

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use keybill::gate::{CheckRequest, Gate, Verdict};
use keybill::secrets;
use keybill::store::gate::GateRow;

const KEYS: usize = 100_000;

fn gate() -> Gate {
    let gate = Gate::new(None);
    let rows: Vec<GateRow> = (0..KEYS)
        .map(|i| GateRow {
            key_id: i as i64 + 1,
            key_hash: secrets::hash(&format!("benchkey{i:024}")),
            account_id: (i / 3) as i64 + 1,
            location_id: Some((i / 3) as i64 + 1),
            permissions: "ReadAll,Comm,Appointments".into(),
            status: "enabled".into(),
            version: 1,
            developer_key_hash: secrets::hash(&format!("benchdev{}", i % 20)),
        })
        .collect();
    gate.index.apply(&rows);
    gate
}

/// The local throttle never waits, so one poll finishes the check.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the in-memory check does not wait"),
    }
}

fn bench_gate(c: &mut Criterion) {
    let gate = gate();
    let headers: Vec<String> = (0..KEYS)
        .map(|i| format!("ODFHIR benchdev{}/benchkey{i:024}", i % 20))
        .collect();
    let paths = [
        "/api/v1/appointments/5/Break",
        "/api/v1/patients?Limit=100",
        "/api/v1/appointments/34",
        "/api/v1/procedurelogs/1473/GroupNote",
    ];
    let methods = ["PUT", "GET", "PUT", "PUT"];
    let mut i = 0usize;
    c.bench_function(
        "gate check (lookup among 100k + decide + throttle), remote",
        |b| {
            b.iter(|| {
                i = (i + 7919) % KEYS;
                let req = CheckRequest {
                    authorization: Some(&headers[i]),
                    method: methods[i % 4],
                    target: paths[i % 4],
                    mode: None,
                };
                let v = now(gate.check(black_box(&req)));
                black_box(matches!(v, Verdict::Allow { .. }))
            })
        },
    );
    c.bench_function("gate check (lookup among 100k + decide), local mode", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            let req = CheckRequest {
                authorization: Some(&headers[i]),
                method: methods[i % 4],
                target: paths[i % 4],
                mode: Some("local"),
            };
            black_box(now(gate.check(black_box(&req))))
        })
    });
}

criterion_group!(benches, bench_gate);
criterion_main!(benches);
