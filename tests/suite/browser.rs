//! The staff's main tasks in a real headless Chromium: sign in, create a developer, a
//! practice, a location and a key, tick permissions and see the tier change, enable
//! the key, bill a past month, issue the invoice and void it. Screenshots of the main
//! pages go to target/screenshots/. Runs when .ci/run names the binaries:
//! KEYBILL_TEST_CHROMEDRIVER and KEYBILL_TEST_CHROMIUM.

use std::path::PathBuf;

use crate::helpers::TestApp;
use crate::webdriver::Browser;

fn binaries() -> Option<(String, String)> {
    let driver = std::env::var("KEYBILL_TEST_CHROMEDRIVER")
        .ok()
        .filter(|s| !s.is_empty());
    let chromium = std::env::var("KEYBILL_TEST_CHROMIUM")
        .ok()
        .filter(|s| !s.is_empty());
    match (driver, chromium) {
        (Some(d), Some(c)) => Some((d, c)),
        _ => {
            eprintln!("note: KEYBILL_TEST_CHROMEDRIVER/KEYBILL_TEST_CHROMIUM are not set; .ci/run sets them");
            None
        }
    }
}

fn shot(browser: &Browser, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    browser.screenshot(&dir.join(format!("{name}.png")));
}

#[test]
fn staff_run_the_back_office_in_a_browser() {
    let Some((driver, chromium)) = binaries() else {
        return;
    };
    let app = TestApp::start();
    let b = Browser::start(&driver, &chromium);
    let url = |p: &str| app.server.url(p);

    // Sign-in: the dashboard sends a stranger to the sign-in page.
    b.goto(&url("/admin"));
    assert!(b.url().contains("/admin/login"), "{}", b.url());
    shot(&b, "01-sign-in");
    b.type_into("input[name=email]", "root@keybill.test");
    b.type_into("input[name=password]", &app.password);
    b.submit("button[type=submit]");
    assert!(b.page_text().contains("Dashboard"));

    b.goto(&url("/admin/developers"));
    b.type_into("input[name=name]", "Browser Apps");
    b.type_into("input[name=email]", "dev@browser.test");
    b.submit("form[action='/admin/developers'] button");
    assert!(b.page_text().contains("developer key, shown this once"));

    b.goto(&url("/admin/accounts"));
    b.type_into("input[name=name]", "Browser Dental");
    b.type_into("input[name=billing_email]", "billing@browser.test");
    b.type_into("input[name=time_zone]", "America/Chicago");
    b.submit("form[method=post][action='/admin/accounts'] button");
    assert!(b.url().contains("/admin/accounts/"), "{}", b.url());
    b.type_into("form[action$='/locations'] input[name=name]", "Main Street");
    b.submit("form[action$='/locations'] button");
    assert!(b.page_text().contains("Main Street"));

    // A key created in a past month (local time in Chicago), ReadAll + Comm.
    b.select("select[name=developer_id]", "Browser Apps");
    b.type_into("form[action$='/keys'] input[name=label]", "Front desk");
    // ReadAll is ticked already on a new key.
    b.click("form[action$='/keys'] input[value=Comm]");
    b.set_value(
        "form[action$='/keys'] input[name=effective_at]",
        "2026-10-01T08:00",
    );
    b.submit("form[action$='/keys'] button[type=submit]");
    assert!(b.page_text().contains("customer key, shown this once"));
    assert!(b.text(".grid").contains("basic"));

    // Tick a permission: the preview follows live (script), and the Preview button
    // gives the same without script; nothing is saved yet.
    b.click("#permissions-form input[value=Payments]");
    b.wait_text("#preview", "full");
    b.click("#permissions-form input[value=Payments]");
    b.click("#permissions-form input[value=Appointments]");
    b.wait_text("#preview", "standard");
    b.submit("#permissions-form button[value=preview]");
    shot(&b, "02-key-preview");
    let preview = b.text("#preview");
    assert!(
        preview.contains("standard") && preview.contains("$30.00"),
        "{preview}"
    );
    assert!(b.text(".grid").contains("basic"), "not saved yet");
    shot(&b, "02-key-preview");
    b.set_value(
        "#permissions-form input[name=effective_at]",
        "2026-10-01T08:30",
    );
    b.submit("#permissions-form button[value=save]");
    assert!(b.text(".grid").contains("standard"));

    b.select(
        "form[action$='/location'] select[name=location_id]",
        "Main Street",
    );
    b.set_value(
        "form[action$='/location'] input[name=effective_at]",
        "2026-10-01T09:00",
    );
    b.submit("form[action$='/location'] button");
    b.set_value(
        "form[action$='/status'] input[name=effective_at]",
        "2026-10-16T00:00",
    );
    b.submit("form[action$='/status'] button[value=enable]");
    assert!(b.text(".grid").contains("enabled"));
    shot(&b, "03-key");

    // Bill October: 16 of 31 days at $30.00. The run's page refreshes itself until
    // the result is in.
    b.goto(&url("/admin/bill-runs"));
    b.set_value("input[name=month]", "2026-10");
    b.submit("form[action='/admin/bill-runs'] button");
    assert!(b.url().ends_with("/admin/bill-runs/current"));
    b.wait_text("#result", "new drafts");
    shot(&b, "04-bill-run");
    b.goto(&url("/admin/invoices?month=2026-10"));
    b.submit("table.data tbody a");
    let invoice = b.page_text();
    assert!(invoice.contains("16/31 × $30.00 = $15.48"), "{invoice}");
    b.submit("form[action$='/issue'] button");
    let issued = b.page_text();
    assert!(
        issued.contains("KB-") && issued.contains("issued"),
        "{issued}"
    );
    shot(&b, "05-invoice");

    // Void with confirmation.
    b.submit("a[href$='/void']");
    assert!(b
        .page_text()
        .contains("A credit note for $15.48 is written"));
    b.submit("form[action$='/void'] button");
    let voided = b.page_text();
    assert!(
        voided.contains("Credit note CN-") && voided.contains("void"),
        "{voided}"
    );

    b.goto(&url("/admin"));
    shot(&b, "06-dashboard");
    b.goto(&url(
        "/admin/policy?request=PUT+%2Fappointments%2F5%2FBreak&key=1&mode=remote",
    ));
    assert!(b.page_text().contains("Needs Comm"));
    shot(&b, "07-policy-tester");
}
