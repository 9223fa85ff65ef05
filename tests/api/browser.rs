//! The web pages in a real browser: Debian's chromium driven over
//! chromedriver (WebDriver) against the real server on port 0 with demo
//! data. One browser session walks through the flows; screenshots of every
//! page at 1280 and 375 px land in `target/screenshots/`.
//!
//! Without `/usr/bin/chromedriver` the test says so and passes, unless
//! `LINEWISE_TEST_REQUIRE_BROWSER=1` (CI), where a missing browser fails it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(15);

/// Whether the browser is installed; panics when CI requires it.
fn browser_available() -> bool {
    let ok = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !ok {
        if std::env::var("LINEWISE_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "LINEWISE_TEST_REQUIRE_BROWSER=1 but {CHROMEDRIVER} or {CHROMIUM} is missing \
                 (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "browser tests skipped: {CHROMEDRIVER} or {CHROMIUM} is missing (apt-get install chromium chromium-driver)"
        );
    }
    ok
}

/// A chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().expect("profile dir"),
    };
    let started = Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await
            && r.status().is_success()
        {
            return driver;
        }
        assert!(
            started.elapsed() < WAIT,
            "chromedriver did not start in {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                "--window-size=1280,900",
                format!("--user-data-dir={}", driver.profile.path().display()),
            ],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// A server over a fresh SQLite database with 30 days of demo traffic, in
/// the demo business's timezone.
async fn demo_app() -> TestApp {
    let (url, dir) = fresh_database(Backend::Sqlite).await.expect("database");
    let store = linewise::store::open(&url).await.expect("open store");
    linewise::demo::fill(store.as_ref(), 30, jiff::Timestamp::now())
        .await
        .expect("demo data");
    drop(store);
    let mut s = settings(&url);
    s.timezone = "Asia/Kolkata".into();
    spawn_with(s, Backend::Sqlite, dir).await
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Saves the whole page at 1280 and 375 px wide, then returns to 1280.
async fn shots(c: &Client, name: &str) {
    for width in [1280u32, 375] {
        c.set_window_size(width, 900).await.expect("resize");
        // The window is taller than the page's viewport by the browser's own chrome.
        let sizes = c
            .execute(
                "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]",
                vec![],
            )
            .await
            .expect("page height");
        let page = sizes[0].as_u64().unwrap_or(900).clamp(640, 8000);
        let chrome = sizes[1].as_u64().unwrap_or(0).min(200);
        c.set_window_size(width, (page + chrome) as u32)
            .await
            .expect("resize");
        let png = c.screenshot().await.expect("screenshot");
        std::fs::write(screenshot_dir().join(format!("{name}-{width}.png")), png)
            .expect("save screenshot");
    }
    c.set_window_size(1280, 900).await.expect("resize");
}

async fn url(c: &Client) -> String {
    c.current_url().await.expect("current url").to_string()
}

/// Waits until the URL satisfies `ok`.
async fn wait_url(c: &Client, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let u = url(c).await;
        if ok(&u) {
            return u;
        }
        assert!(
            started.elapsed() < WAIT,
            "waited {WAIT:?} for {what}; at {u}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no element {selector}: {e}"))
}

/// Clicks an element once it is scrolled to the middle of the window (clear
/// of the sticky top bar).
async fn click(c: &Client, selector: &str) {
    let el = css(c, selector).await;
    c.execute(
        "arguments[0].scrollIntoView({block: 'center'})",
        vec![serde_json::to_value(&el).expect("element")],
    )
    .await
    .expect("scroll");
    el.click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

async fn count(c: &Client, selector: &str) -> usize {
    c.find_all(Locator::Css(selector))
        .await
        .expect("find_all")
        .len()
}

async fn text(c: &Client, selector: &str) -> String {
    css(c, selector).await.text().await.expect("text")
}

async fn attr(c: &Client, selector: &str, name: &str) -> String {
    css(c, selector)
        .await
        .attr(name)
        .await
        .expect("attr")
        .unwrap_or_default()
}

async fn sign_in(c: &Client, email: &str, password: &str) {
    css(c, "#email")
        .await
        .send_keys(email)
        .await
        .expect("email");
    css(c, "#password")
        .await
        .send_keys(password)
        .await
        .expect("password");
    click(c, "form button[type=submit]").await;
}

/// Checks every card on the page against `GET /api/analytics/dashboard`
/// for the same line, instants and timezone; returns the API's answer.
async fn cards_match_api(c: &Client, app: &TestApp, token: &str) -> Value {
    let from = attr(c, "#cards", "data-from").await;
    let to = attr(c, "#cards", "data-to").await;
    let tz = attr(c, "#cards", "data-tz").await;
    let line = attr(c, "#f-line option:checked", "value").await;
    let filter = match line.as_str() {
        "all" => String::new(),
        g if g.starts_with("group:") => format!("&groupId={}", &g[6..]),
        n => format!("&phoneNumber={}", enc(n)),
    };
    let q = format!(
        "/api/analytics/dashboard?from={}&to={}&tz={}{filter}",
        enc(&from),
        enc(&to),
        enc(&tz)
    );
    let (status, d) = app.send(reqwest::Method::GET, &q, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{q}: {d}");
    for metric in ["callsToday", "calls", "answered", "missed", "uniqueCallers"] {
        let shown = attr(c, &format!("[data-metric={metric}]"), "data-value").await;
        assert_eq!(
            shown.parse::<i64>().ok(),
            d[metric].as_i64(),
            "{metric} on the page vs the API ({q})"
        );
    }
    for metric in ["successRate", "avgCallDuration"] {
        let shown = attr(c, &format!("[data-metric={metric}]"), "data-value").await;
        assert_eq!(
            shown.parse::<f64>().ok(),
            d[metric].as_f64(),
            "{metric} on the page vs the API ({q})"
        );
    }
    d
}

/// Posts a form with a browser's session cookie, outside the browser.
async fn forged_post(
    app: &TestApp,
    path: &str,
    session: &str,
    form: &[(&str, &str)],
) -> StatusCode {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    client
        .post(app.url(path))
        .header("cookie", format!("lw_session={session}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_work_in_a_real_browser() {
    if !browser_available() {
        return;
    }
    let app = demo_app().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let result = walk_through(&app, &c).await;
    let _ = c.close().await;
    result
}

async fn walk_through(app: &TestApp, c: &Client) {
    let admin = app.token.clone();
    let (_, dropdown) = app.get("/api/phone-numbers/dropdown").await;
    let dropdown = dropdown.as_array().expect("dropdown").clone();
    let id_of = |number: &str| {
        dropdown
            .iter()
            .find(|l| l["number"] == number)
            .and_then(|l| l["id"].as_i64())
            .expect("demo line")
    };
    let (_, primary) = app.get("/api/phone-numbers/primary/current").await;
    let primary = primary["number"]
        .as_str()
        .expect("a primary line")
        .to_string();
    let (manager_id, _) = app
        .user(
            "manager@example.com",
            "manager",
            &[id_of("+911140845500"), id_of("+912261234500")],
        )
        .await;
    assert!(manager_id > 0);
    // Two business numbers in the call records that nobody registered.
    app.calls(json!([
        call(
            "disc-1",
            "+912240001111",
            "completed",
            &jiff::Timestamp::now().to_string(),
            30
        ),
        call(
            "disc-2",
            "+912240002222",
            "no-answer",
            &jiff::Timestamp::now().to_string(),
            0
        ),
    ]))
    .await;

    // -- signing in, and being sent back to the page asked for
    c.goto(&app.url("/calls?period=30d")).await.unwrap();
    let u = wait_url(c, "the login page", |u| u.contains("/login")).await;
    assert!(u.contains("next=%2Fcalls%3Fperiod%3D30d"), "{u}");
    shots(c, "login").await;
    sign_in(c, ADMIN_EMAIL, "not the password").await;
    css(c, ".notice-error").await;
    assert!(
        text(c, ".notice-error")
            .await
            .contains("Wrong email or password")
    );
    sign_in(c, "", ADMIN_PASSWORD).await;
    wait_url(c, "the calls page", |u| u.ends_with("/calls?period=30d")).await;
    assert!(count(c, "#calls tbody tr").await > 10, "calls are listed");

    // -- the dashboard: the dropdown and the primary line preselected
    c.goto(&app.url("/")).await.unwrap();
    let options = c.find_all(Locator::Css("#f-line option")).await.unwrap();
    assert_eq!(options[0].text().await.unwrap(), "All phone numbers");
    assert_eq!(
        options[0].attr("value").await.unwrap().as_deref(),
        Some("all")
    );
    let mut shown = Vec::new();
    for o in c
        .find_all(Locator::Css("#f-line optgroup[label=Lines] option"))
        .await
        .unwrap()
    {
        shown.push((
            o.attr("value").await.unwrap().unwrap_or_default(),
            o.text().await.unwrap().replace(" (primary)", ""),
        ));
    }
    let expected: Vec<(String, String)> = dropdown
        .iter()
        .map(|l| {
            (
                l["number"].as_str().unwrap().to_string(),
                l["label"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(shown, expected, "every active line, by label");
    assert_eq!(attr(c, "#f-line option:checked", "value").await, primary);
    let d = cards_match_api(c, app, &admin).await;
    assert!(
        d["calls"].as_i64().unwrap() > 0,
        "the primary line has calls"
    );
    assert!(count(c, ".chart-wide svg .bar").await == 7, "a bar per day");
    assert!(count(c, "#top-flows tbody tr").await > 0);
    shots(c, "dashboard").await;

    // -- choosing a line changes the URL and every figure
    css(c, "#f-line")
        .await
        .select_by_value("+911140845500")
        .await
        .unwrap();
    wait_url(c, "the chosen line in the URL", |u| {
        u.contains("phoneNumber=%2B911140845500")
    })
    .await;
    assert_eq!(
        attr(c, "#f-line option:checked", "value").await,
        "+911140845500"
    );
    let sales = cards_match_api(c, app, &admin).await;
    assert_ne!(sales["calls"], d["calls"], "another line, other figures");
    assert!(text(c, "h1").await.contains("Sales - Delhi"));

    // -- the period picker: 30 days, today (hours), custom dates
    css(c, "#f-period")
        .await
        .select_by_value("30d")
        .await
        .unwrap();
    wait_url(c, "30 days", |u| u.contains("period=30d")).await;
    assert!(
        url(c).await.contains("phoneNumber=%2B911140845500"),
        "the line stays"
    );
    cards_match_api(c, app, &admin).await;
    assert_eq!(count(c, ".chart-wide svg .bar").await, 30);
    css(c, "#f-period")
        .await
        .select_by_value("today")
        .await
        .unwrap();
    wait_url(c, "today", |u| u.contains("period=today")).await;
    let today = cards_match_api(c, app, &admin).await;
    // Just after midnight in the demo's timezone there may be no calls yet,
    // and an empty period shows the empty state instead of a chart.
    let bars = if today["calls"].as_i64() == Some(0) {
        0
    } else {
        24
    };
    assert_eq!(
        count(c, ".chart-wide svg .bar").await,
        bars,
        "hours of today"
    );
    shots(c, "dashboard-today").await;
    css(c, "#f-period")
        .await
        .select_by_value("custom")
        .await
        .unwrap();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Kolkata").unwrap())
        .date();
    let first = today.checked_sub(jiff::Span::new().days(13)).unwrap();
    let last = today.checked_sub(jiff::Span::new().days(4)).unwrap();
    c.execute(
        "document.getElementById('f-from').value = arguments[0];\
         document.getElementById('f-to').value = arguments[1];",
        vec![json!(first.to_string()), json!(last.to_string())],
    )
    .await
    .unwrap();
    click(c, ".field-apply button").await;
    wait_url(c, "custom dates", |u| u.contains("period=custom")).await;
    let u = url(c).await;
    assert!(
        u.contains(&format!("from={first}")) && u.contains(&format!("to={last}")),
        "{u}"
    );
    cards_match_api(c, app, &admin).await;
    assert_eq!(
        count(c, ".chart-wide svg .bar").await,
        10,
        "ten days, both ends included"
    );
    // "All phone numbers" explicitly, and a group.
    css(c, "#f-line")
        .await
        .select_by_value("all")
        .await
        .unwrap();
    wait_url(c, "all lines", |u| u.contains("phoneNumber=all")).await;
    cards_match_api(c, app, &admin).await;
    let group = attr(c, "#f-line optgroup[label=Groups] option", "value").await;
    css(c, "#f-line")
        .await
        .select_by_value(&group)
        .await
        .unwrap();
    wait_url(c, "a group", |u| u.contains("phoneNumber=group")).await;
    cards_match_api(c, app, &admin).await;

    // -- compare and calls
    c.goto(&app.url("/compare?period=30d")).await.unwrap();
    assert_eq!(
        count(c, "#compare tbody tr").await,
        dropdown.len(),
        "every line by default"
    );
    shots(c, "compare").await;
    c.goto(&app.url("/calls?phoneNumber=all&period=7d"))
        .await
        .unwrap();
    assert_eq!(count(c, "#calls tbody tr").await, 50, "a page of calls");
    let older = attr(c, "a[rel=next]", "href").await;
    assert!(older.contains("cursor="), "{older}");
    shots(c, "calls").await;
    let session = c
        .get_named_cookie("lw_session")
        .await
        .expect("the session cookie")
        .value()
        .to_string();
    let csv_href = attr(c, "#csv", "href").await;
    let csv = reqwest::Client::new()
        .get(app.url(&csv_href))
        .header("cookie", format!("lw_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with(linewise::http::api::analytics::EXPORT_HEADER));
    let from = attr(c, "#f-from", "value").await;
    let to = attr(c, "#f-to", "value").await;
    let next_day = to.parse::<jiff::civil::Date>().unwrap().tomorrow().unwrap();
    let (_, all7) = app
        .get(&format!(
            "/api/analytics/dashboard?from={from}&to={next_day}&tz=Asia%2FKolkata"
        ))
        .await;
    assert_eq!(
        csv.lines().count() as i64 - 1,
        all7["calls"].as_i64().unwrap(),
        "the CSV has every call of the view"
    );

    // Without JavaScript the filter form submits every field, the unused
    // custom dates included: the period still wins.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = plain
        .get(app.url(
            "/?phoneNumber=%2B911140845500&period=30d&from=2001-01-01&to=2001-01-02&tz=Asia%2FKolkata",
        ))
        .header("cookie", format!("lw_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<option value="30d" selected>"#), "{html}");
    assert!(html.contains(r#"<option value="+911140845500" selected>"#));
    let anonymous = plain.get(app.url("/calls.csv")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.headers()["location"],
        "/login?next=%2Fcalls.csv",
        "no session, no CSV"
    );

    // -- phone numbers: add (a refusal first), set primary, discover, delete
    c.goto(&app.url("/phone-numbers")).await.unwrap();
    assert_eq!(
        count(c, "#numbers tbody tr").await,
        dropdown.len(),
        "every demo line"
    );
    shots(c, "phone-numbers").await;
    css(c, "#l-number").await.send_keys("12345").await.unwrap();
    click(c, "#add button[type=submit]").await;
    let refusal = css(c, "#add .notice-error").await;
    assert_eq!(
        refusal.attr("data-field").await.unwrap().as_deref(),
        Some("number")
    );
    assert!(
        refusal.text().await.unwrap().contains("12345"),
        "the value is named"
    );
    assert_eq!(
        attr(c, "#l-number", "value").await,
        "12345",
        "the form is kept"
    );
    shots(c, "phone-numbers-refused").await;
    css(c, "#l-number").await.clear().await.unwrap();
    css(c, "#l-number")
        .await
        .send_keys("080 4718 2222")
        .await
        .unwrap();
    css(c, "#l-name")
        .await
        .send_keys("Support - Pune")
        .await
        .unwrap();
    css(c, "#m-key-0")
        .await
        .send_keys("department")
        .await
        .unwrap();
    css(c, "#m-value-0")
        .await
        .send_keys("support")
        .await
        .unwrap();
    click(c, "#add button[type=submit]").await;
    wait_url(c, "the added notice", |u| u.contains("done=added")).await;
    assert!(
        text(c, ".notice-success")
            .await
            .contains("Support - Pune was added")
    );
    let row = "#numbers tr[data-number='+918047182222']";
    assert!(text(c, row).await.contains("department"));
    click(c, &format!("{row} button[data-action=primary]")).await;
    wait_url(c, "the primary notice", |u| u.contains("done=primary")).await;
    assert!(
        text(c, ".notice-success")
            .await
            .contains("is now the primary line")
    );
    let (_, p) = app.get("/api/phone-numbers/primary/current").await;
    assert_eq!(p["number"], "+918047182222");
    c.goto(&app.url("/")).await.unwrap();
    assert_eq!(
        attr(c, "#f-line option:checked", "value").await,
        "+918047182222",
        "the dashboard preselects the new primary line"
    );
    assert!(text(c, ".empty").await.contains("No calls in this period"));
    shots(c, "dashboard-empty").await;

    c.goto(&app.url("/phone-numbers")).await.unwrap();
    click(c, "#discover").await;
    wait_url(c, "the discovery count", |u| u.contains("discovered=")).await;
    let found = text(c, ".notice-success").await;
    assert!(found.contains("Discovery found 2 new numbers"), "{found}");
    assert_eq!(
        count(c, "#numbers tr[data-number='+912240001111']").await,
        1
    );

    let id = attr(c, "#numbers tr[data-number='+912240002222']", "data-id").await;
    c.goto(&app.url(&format!("/phone-numbers/{id}/edit")))
        .await
        .unwrap();
    shots(c, "phone-number-edit").await;
    css(c, "#l-name")
        .await
        .send_keys("Found line")
        .await
        .unwrap();
    click(c, ".line-form button[type=submit]").await;
    wait_url(c, "the saved notice", |u| u.contains("done=saved")).await;
    c.goto(&app.url(&format!("/phone-numbers/{id}/delete")))
        .await
        .unwrap();
    assert!(text(c, ".confirm-card").await.contains("(1 call)"));
    shots(c, "phone-number-delete").await;
    click(c, "#confirm").await;
    click(c, ".confirm-card button[type=submit]").await;
    wait_url(c, "the deleted notice", |u| u.contains("done=deleted")).await;
    assert_eq!(
        count(c, "#numbers tr[data-number='+912240002222']").await,
        0
    );

    // -- groups: create, add a line, remove it, delete with confirmation
    css(c, "#g-name").await.send_keys("QA lines").await.unwrap();
    click(c, "#new-group button[type=submit]").await;
    wait_url(c, "the group notice", |u| u.contains("done=group-created")).await;
    let (_, groups) = app.get("/api/phone-number-groups").await;
    let qa = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "QA lines")
        .and_then(|g| g["id"].as_i64())
        .expect("the new group");
    let card = format!("article[data-group='{qa}']");
    let sales = id_of("+911140845500");
    css(c, &format!("{card} select"))
        .await
        .select_by_value(&sales.to_string())
        .await
        .unwrap();
    click(c, &format!("{card} .inline-form button")).await;
    wait_url(c, "the member notice", |u| u.contains("done=member-added")).await;
    assert_eq!(
        text(c, &format!("{card} .chip-member"))
            .await
            .trim_end_matches('×')
            .trim(),
        "Sales - Delhi"
    );
    click(c, &format!("{card} .chip-remove")).await;
    wait_url(c, "the removal notice", |u| {
        u.contains("done=member-removed")
    })
    .await;
    assert_eq!(count(c, &format!("{card} .chip-member")).await, 0);
    click(c, &format!("{card} details summary")).await;
    click(c, &format!("{card} details input[name=confirm]")).await;
    click(c, &format!("{card} details button")).await;
    wait_url(c, "the group deletion notice", |u| {
        u.contains("done=group-deleted")
    })
    .await;
    assert_eq!(count(c, &card).await, 0);

    // -- signing out ends the session
    click(c, "#sign-out").await;
    wait_url(c, "the login page", |u| u.ends_with("/login")).await;
    c.goto(&app.url("/phone-numbers")).await.unwrap();
    wait_url(c, "the login page again", |u| u.contains("/login?next=")).await;
    assert!(
        c.get_named_cookie("lw_session").await.is_err(),
        "the cookie is gone"
    );

    // -- a manager: their lines only, no controls, writes refused
    sign_in(c, "manager@example.com", "a-long-enough-password").await;
    wait_url(c, "the phone numbers page", |u| {
        u.ends_with("/phone-numbers")
    })
    .await;
    assert_eq!(count(c, "#numbers tbody tr").await, 2, "only their lines");
    for control in [
        "#discover",
        "#add",
        ".actions",
        "#groups form",
        ".chip-remove",
    ] {
        assert_eq!(count(c, control).await, 0, "a manager sees no {control}");
    }
    shots(c, "phone-numbers-manager").await;
    let session = c
        .get_named_cookie("lw_session")
        .await
        .unwrap()
        .value()
        .to_string();
    let csrf = attr(c, "form[action='/logout'] input[name=csrf]", "value").await;
    for (path, form) in [
        ("/phone-numbers/discover", vec![("csrf", csrf.as_str())]),
        (
            "/phone-numbers",
            vec![("csrf", csrf.as_str()), ("number", "+918047183333")],
        ),
        (
            &format!("/phone-numbers/{}/primary", id_of("+911140845500")),
            vec![("csrf", csrf.as_str())],
        ),
    ] {
        assert_eq!(
            forged_post(app, path, &session, &form).await,
            StatusCode::FORBIDDEN,
            "a manager's POST {path}"
        );
    }
    assert_eq!(
        forged_post(app, "/phone-numbers/discover", &session, &[]).await,
        StatusCode::FORBIDDEN,
        "a POST without the CSRF token"
    );
    let (_, lines) = app.get("/api/phone-numbers?includeInactive=true").await;
    assert!(
        !lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["number"] == "+918047183333"),
        "nothing was written"
    );
    c.goto(&app.url("/")).await.unwrap();
    let options: Vec<String> = {
        let mut v = Vec::new();
        for o in c.find_all(Locator::Css("#f-line option")).await.unwrap() {
            v.push(o.attr("value").await.unwrap().unwrap_or_default());
        }
        v
    };
    assert_eq!(options[0], "all");
    assert!(options.contains(&"+911140845500".to_string()));
    assert!(
        !options.contains(&"+918047180000".to_string()),
        "{options:?}"
    );
    let manager = app
        .login("manager@example.com", "a-long-enough-password")
        .await;
    cards_match_api(c, app, &manager).await;
    c.goto(&app.url("/?phoneNumber=%2B918047180000"))
        .await
        .unwrap();
    assert!(text(c, "h1").await.contains("don't have access"));
    shots(c, "error-403").await;
}
