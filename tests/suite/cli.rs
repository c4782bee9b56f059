//! The command line: quote, usage errors, exit statuses.

use crate::helpers::{keybill, TempDir};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn quote_prints_tier_price_and_throttle() {
    let dir = TempDir::new("quote");
    let cases = [
        (vec!["ReadAll"], "free  0.00 USD/location/month  1 request per 5 s"),
        (vec!["ReadAll", "Comm"], "basic  15.00 USD/location/month  1 request per 1 s"),
        (vec!["ReadAll,Appointments"], "standard  30.00 USD/location/month  1 request per 1 s"),
        (vec!["Payments"], "full  35.00 USD/location/month  1 request per 1 s"),
        (
            vec!["Enterprise"],
            "free  0.00 USD/location/month  1 request per 500 ms  add-ons: enterprise (price agreed per account)",
        ),
        (
            vec!["ReadAll", "TextingASAP"],
            "free  0.00 USD/location/month  1 request per 1 s  add-ons: texting_asap (price agreed per account)",
        ),
    ];
    for (args, expected) in cases {
        let mut argv = vec!["quote"];
        argv.extend(args.iter().copied());
        let out = keybill(&dir, &argv, &[]);
        assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
        assert_eq!(stdout(&out).trim_end(), expected, "{argv:?}");
    }
}

#[test]
fn quote_refuses_an_unknown_permission_naming_it() {
    let dir = TempDir::new("quote-bad");
    let out = keybill(&dir, &["quote", "ReadAll", "Teleport"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("Teleport"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one-line reason: {err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn bad_usage_exits_2() {
    let dir = TempDir::new("usage");
    assert_eq!(keybill(&dir, &["quote"], &[]).status.code(), Some(2));
    assert_eq!(
        keybill(&dir, &["no-such-command"], &[]).status.code(),
        Some(2)
    );
    assert_eq!(
        keybill(&dir, &["serve", "--bind", "not-an-address"], &[])
            .status
            .code(),
        Some(2)
    );
    let out = keybill(&dir, &["serve"], &[("KEYBILL_BIND", "nonsense")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
