//! The web dashboard in a real headless Chromium (WebDriver), against a
//! real server with a real store and a library of generated audio files.
//! Browser tests run one at a time: each starts its own browser.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use audiobook_organizer::engine::StartOptions;
use audiobook_organizer::ops::{JobError, JobFn};
use audiobook_organizer::store::{LogLevel, Priority};
use serde_json::{Value, json};

use crate::helpers::{ServeProcess, TestDir, free_port, mp3, tagged};
use crate::server_helpers::{TestApp, spawn_app_opts, test_config};
use crate::webdriver::Browser;

static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(30);

fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/screenshots")
        .join(name)
}

/// `n` single-file books by a few authors, and one file that is not audio:
/// a warning in the scan's log, and a book named from its path (n + 1).
fn library(t: &TestDir, n: u64) -> PathBuf {
    for i in 0..n {
        let author = [
            "Ursula K. Le Guin",
            "Iain M. Banks",
            "N. K. Jemisin",
            "Ted Chiang",
        ][i as usize % 4];
        t.write(
            &format!("{author}/Book {i:03}/Book {i:03}.mp3"),
            &mp3(&tagged(&format!("Book {i:03}"), author), 2.0, i),
        );
    }
    t.write(
        "Broken/Not Audio/part1.mp3",
        b"this is not an mp3 file at all",
    );
    t.imports()
}

/// Commands for the `narrate` test operation: log lines when told, end
/// when told, stop at its next check once cancelled.
enum Say {
    Lines(u64, LogLevel, Option<String>),
    Done,
}

fn narrate_job(rx: mpsc::Receiver<Say>) -> (String, JobFn) {
    let rx = std::sync::Mutex::new(rx);
    let job: JobFn = Arc::new(move |r, _params| {
        let rx = rx.lock().unwrap();
        let mut said = 0u64;
        loop {
            if r.is_cancelled() {
                return Err(JobError::Canceled);
            }
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Say::Lines(n, level, details)) => {
                    for _ in 0..n {
                        said += 1;
                        r.log(level, format!("narration line {said}"), details.clone());
                    }
                    r.update_progress(said, 0, format!("{said} lines"));
                }
                Ok(Say::Done) => return Ok(format!("said {said} lines")),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok("told to stop".into()),
            }
        }
    });
    ("narrate".to_string(), job)
}

async fn app_with_narrator() -> (TestApp, mpsc::Sender<Say>) {
    let t = TestDir::new();
    let config = test_config(&t);
    let (tx, rx) = mpsc::channel();
    let opts = StartOptions {
        extra_jobs: vec![narrate_job(rx)],
        ..StartOptions::default()
    };
    (spawn_app_opts(t, config, opts).await, tx)
}

fn start_narration(app: &TestApp) -> String {
    app.engine
        .queue
        .enqueue("narrate", Priority::Normal, json!({}), None)
        .unwrap()
        .id
}

async fn add_import_path(app: &TestApp, path: &std::path::Path) {
    let (status, body) = app
        .post(
            "/api/v1/import-paths",
            json!({"path": path, "name": "imports"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A server (with its background tasks) whose one import path holds
/// `library(n)`.
async fn app_with_library(n: u64) -> TestApp {
    let t = TestDir::new();
    let imports = library(&t, n);
    let config = test_config(&t);
    let app = spawn_app_opts(t, config, StartOptions::default()).await;
    add_import_path(&app, &imports).await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_follows_the_book_count_live_during_a_scan() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let app = app_with_library(24).await;
    let b = Browser::start().await;
    b.goto(&app.url("/")).await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        WAIT,
        "the stream",
    )
    .await;
    b.wait_for(
        "document.querySelector('#stat-books').textContent === '0'",
        WAIT,
        "0 books",
    )
    .await;
    b.wait_for(
        "document.querySelector('#stat-folders').textContent === '1'",
        WAIT,
        "1 import path",
    )
    .await;
    // A marker that a reload would lose.
    b.eval("(window.__sameDocument = true)").await;

    let (_, started) = app.post("/api/v1/operations/scan", json!({})).await;
    let id = started["operation_id"].as_str().unwrap().to_string();
    b.wait_for(
        "document.querySelector('#stat-books').textContent === '25'",
        WAIT,
        "25 books",
    )
    .await;
    assert_eq!(
        b.eval("window.__sameDocument === true").await,
        json!(true),
        "the page reloaded"
    );
    let op = app.wait_op(&id).await;
    assert_eq!(op["status"], "completed");
    // The warning of the scan shows among the top errors, and the growth
    // chart has today's point.
    b.wait_for(
        "document.querySelector('#top-errors table') !== null",
        WAIT,
        "top errors",
    )
    .await;
    b.wait_for(
        "document.querySelectorAll('#growth svg circle').length >= 2",
        WAIT,
        "growth points",
    )
    .await;
    b.wait_for(
        "document.querySelectorAll('#queue .bar').length >= 4",
        WAIT,
        "queue bars",
    )
    .await;
    b.screenshot(&screenshot_path("dashboard.png")).await;

    // The keyboard reaches the pages: skip link, brand, then the nav links.
    b.press("\u{E004}\u{E004}\u{E004}\u{E004}").await;
    assert_eq!(
        b.eval("document.activeElement.dataset.nav ?? document.activeElement.textContent")
            .await,
        json!("operations")
    );
    b.press("\u{E007}").await;
    b.wait_for(
        "location.hash === '#/operations'",
        WAIT,
        "Enter follows the link",
    )
    .await;
    b.goto(&app.url("/")).await;
    b.wait_for(
        "document.querySelector('#stat-books').textContent === '25'",
        WAIT,
        "back",
    )
    .await;

    // Dark when the system is dark.
    let background = "getComputedStyle(document.body).backgroundColor";
    let light = b.eval(background).await;
    b.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    )
    .await;
    let dark = b.eval(background).await;
    assert_eq!(light, json!("rgb(247, 247, 248)"));
    assert_eq!(dark, json!("rgb(17, 19, 22)"));
    b.screenshot(&screenshot_path("dashboard-dark.png")).await;

    // Phone-sized: nothing wider than the screen.
    b.set_size(390, 844).await;
    let overflow = b
        .wait_for(
            "document.documentElement.scrollWidth <= window.innerWidth + 1 ? 'fits' : null",
            Duration::from_secs(5),
            "no horizontal overflow at 390 px",
        )
        .await;
    assert_eq!(overflow, "fits");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_started_from_the_page_shows_progress_and_live_coloured_log_lines() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let app = app_with_library(12).await;
    let b = Browser::start().await;
    b.goto(&app.url("/#/operations")).await;
    b.wait_for(
        "document.querySelector('#queue-toggle')?.dataset.paused === 'false'",
        WAIT,
        "queue state",
    )
    .await;
    // Pause from the page, so the scan waits while the log view opens.
    b.click("#queue-toggle").await;
    b.wait_for(
        "document.querySelector('#queue-toggle').dataset.paused === 'true'",
        WAIT,
        "paused",
    )
    .await;
    assert_eq!(app.get("/api/v1/queue").await.1["paused"], true);
    b.click("#start-scan").await;
    b.wait_for(
        "location.hash.startsWith('#/operations/') && location.hash.length > 20",
        WAIT,
        "detail page",
    )
    .await;
    b.wait_for(
        "document.querySelector('#op-status')?.dataset.status === 'queued'",
        WAIT,
        "queued",
    )
    .await;
    b.wait_for(
        "document.querySelector('#log-count')?.textContent.startsWith('0 ')",
        WAIT,
        "empty log",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelectorAll('.log-line').length")
            .await,
        json!(0)
    );

    // Everything from here arrives over the stream.
    app.post("/api/v1/queue/resume", json!({})).await;
    b.wait_for(
        "document.querySelector('#op-progress').dataset.percent === '100'",
        WAIT,
        "100%",
    )
    .await;
    b.wait_for(
        "document.querySelector('#op-status').dataset.status === 'completed'",
        WAIT,
        "completed",
    )
    .await;
    b.wait_for(
        "document.querySelector('.log-line.level-warn') !== null",
        WAIT,
        "a warning line",
    )
    .await;
    let lines = b
        .eval("document.querySelectorAll('.log-line').length")
        .await;
    assert!(lines.as_u64().unwrap() >= 4, "{lines} lines");
    let listed = b
        .eval("[...document.querySelectorAll('.log-line')].some((e) => e.textContent.includes(' new books: '))")
        .await;
    assert_eq!(listed, json!(true), "the new books are listed");
    let colours = b
        .eval(
            "['info', 'warn'].map((l) => getComputedStyle(document.querySelector(`.log-line.level-${l} .lv`)).color)",
        )
        .await;
    assert_ne!(
        colours[0], colours[1],
        "info and warn look the same: {colours}"
    );
    // The level filter hides info lines.
    b.click("#lv-info").await;
    let visible = b
        .eval("[...document.querySelectorAll('.log-line')].filter((e) => e.offsetParent !== null).every((e) => !e.classList.contains('level-info'))")
        .await;
    assert_eq!(visible, json!(true));
    b.click("#lv-info").await;
    // Timing summary once it ended.
    b.wait_for("!document.querySelector('#op-timing').hidden && document.querySelector('#op-timing').textContent.includes('Wall time')", WAIT, "timing")
        .await;

    // The summary line's details: collapsed, then open, then closed again.
    let toggle = ".log-line .toggle";
    b.wait_for(
        &format!("document.querySelector('{toggle}') !== null"),
        WAIT,
        "a line with details",
    )
    .await;
    let hidden = "document.querySelector('.log-line pre.details').hidden";
    assert_eq!(b.eval(hidden).await, json!(true));
    b.click(toggle).await;
    assert_eq!(b.eval(hidden).await, json!(false));
    assert_eq!(
        b.eval(&format!(
            "document.querySelector('{toggle}').getAttribute('aria-expanded')"
        ))
        .await,
        json!("true")
    );
    b.click(toggle).await;
    assert_eq!(b.eval(hidden).await, json!(true));
    b.click(toggle).await;
    b.set_size(1280, 1000).await;
    b.eval("(window.scrollTo(0, document.querySelector('#op-timing').offsetTop - 8), true)")
        .await;
    b.screenshot(&screenshot_path("log-view.png")).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_up_stops_following_and_jump_to_latest_resumes() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let (app, say) = app_with_narrator().await;
    let id = start_narration(&app);
    let b = Browser::start().await;
    b.goto(&app.url(&format!("/#/operations/{id}"))).await;
    b.wait_for(
        "document.querySelector('#op-status')?.dataset.status === 'running'",
        WAIT,
        "running",
    )
    .await;
    say.send(Say::Lines(300, LogLevel::Info, None)).unwrap();
    b.wait_for(
        "document.querySelectorAll('.log-line').length === 300",
        WAIT,
        "300 lines",
    )
    .await;
    let at_bottom = "(() => { const l = document.querySelector('#log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 8; })()";
    b.wait_for(at_bottom, WAIT, "following the tail").await;
    assert_eq!(
        b.eval("document.querySelector('#log-jump').hidden").await,
        json!(true)
    );

    // The reader scrolls up: new lines no longer move the view.
    b.eval("(document.querySelector('#log').scrollTop = 0, true)")
        .await;
    b.wait_for(
        "!document.querySelector('#log-jump').hidden",
        WAIT,
        "jump to latest",
    )
    .await;
    say.send(Say::Lines(100, LogLevel::Warn, None)).unwrap();
    b.wait_for(
        "document.querySelectorAll('.log-line').length === 400",
        WAIT,
        "400 lines",
    )
    .await;
    // Two frames painted after the last line: a scroll would have run.
    b.js(
        "window.__painted = false; \
         requestAnimationFrame(() => requestAnimationFrame(() => { window.__painted = true; }));",
        json!([]),
    )
    .await;
    b.wait_for("window.__painted === true", WAIT, "two frames")
        .await;
    assert_eq!(
        b.eval("document.querySelector('#log').scrollTop").await,
        json!(0),
        "the view moved"
    );
    assert_eq!(b.eval(at_bottom).await, json!(false));

    // Jump to latest: back at the bottom, and following again.
    b.click("#log-jump").await;
    b.wait_for(at_bottom, WAIT, "at the bottom").await;
    assert_eq!(
        b.eval("document.querySelector('#log-jump').hidden").await,
        json!(true)
    );
    say.send(Say::Lines(100, LogLevel::Error, None)).unwrap();
    b.wait_for(
        "document.querySelectorAll('.log-line').length === 500",
        WAIT,
        "500 lines",
    )
    .await;
    b.wait_for(at_bottom, WAIT, "following again").await;
    say.send(Say::Done).unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_lines_keep_at_most_the_configured_number_in_the_page() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let (app, say) = app_with_narrator().await;
    let id = start_narration(&app);
    let b = Browser::start().await;
    b.goto(&app.url(&format!("/#/operations/{id}"))).await;
    b.wait_for(
        "document.querySelector('#op-status')?.dataset.status === 'running'",
        WAIT,
        "running",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#log-max').value").await,
        json!("5000"),
        "default limit"
    );
    let count = "document.querySelectorAll('#log-lines .log-line').length";
    let mut max_seen = 0u64;
    for _ in 0..20 {
        say.send(Say::Lines(1000, LogLevel::Info, Some("a detail".into())))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        max_seen = max_seen.max(b.eval(count).await.as_u64().unwrap());
    }
    say.send(Say::Done).unwrap();
    b.wait_for(
        "document.querySelector('#op-status').dataset.status === 'completed'",
        WAIT,
        "completed",
    )
    .await;
    b.wait_for(
        "document.querySelector('#log-lines .log-line:last-child .msg')?.textContent === 'narration line 20000'",
        WAIT,
        "the last line",
    )
    .await;
    assert_eq!(b.eval(count).await, json!(5000));
    assert!(max_seen <= 5000, "{max_seen} line elements at once");
    // The marker says what was dropped; older lines load again on demand.
    b.wait_for(
        "document.querySelector('#log-older .count').textContent.startsWith('15,000 earlier')",
        WAIT,
        "the dropped-lines marker",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#log-lines .log-line .msg').textContent")
            .await,
        json!("narration line 15001")
    );
    b.click("#log-load-older").await;
    b.wait_for(
        "document.querySelector('#log-lines .log-line .msg').textContent === 'narration line 14001'",
        WAIT,
        "older lines loaded",
    )
    .await;
    assert_eq!(b.eval(count).await, json!(5000), "still at most the limit");
    assert_eq!(
        b.eval("document.querySelector('#log-newer .count').textContent")
            .await,
        json!("1,000 newer line(s) not shown.")
    );
    // A smaller limit, set in the page, applies at once and is kept.
    b.js(
        "const i = document.querySelector('#log-max'); i.value = '200'; i.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    assert_eq!(b.eval(count).await, json!(200));
    assert_eq!(
        b.eval("localStorage.getItem('ao.logMaxLines')").await,
        json!("200")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_from_the_page_ends_the_operation_canceled() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let (app, say) = app_with_narrator().await;
    let id = start_narration(&app);
    let b = Browser::start().await;
    b.goto(&app.url("/#/operations")).await;
    let row = format!("#ops-body tr[data-id='{id}']");
    b.wait_for(
        &format!("document.querySelector(\"{row} .badge\")?.textContent === 'running'"),
        WAIT,
        "running row",
    )
    .await;
    b.click(&format!("{row} button.cancel")).await;
    b.wait_for(
        &format!("document.querySelector(\"{row} .badge\")?.textContent === 'canceled'"),
        WAIT,
        "canceled row",
    )
    .await;
    let op = app.wait_op(&id).await;
    assert_eq!(op["status"], "canceled");
    assert!(op["completed_at"].is_string());
    assert_eq!(
        b.eval(&format!(
            "document.querySelector(\"{row} button.cancel\") === null"
        ))
        .await,
        json!(true),
        "a canceled operation offers no cancel"
    );
    drop(say);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_by_itself_after_the_server_is_killed_and_restarted() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let t = TestDir::new();
    let imports = library(&t, 6);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = ServeProcess::start(t.path(), port, "");
    let b = Browser::start().await;
    b.goto(&format!("{base}/")).await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        WAIT,
        "live",
    )
    .await;
    b.wait_for(
        "document.querySelector('#stat-books').textContent === '0'",
        WAIT,
        "0 books",
    )
    .await;
    b.eval("(window.__sameDocument = true)").await;

    server.kill9();
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'reconnecting'",
        WAIT,
        "reconnecting",
    )
    .await;
    let server = ServeProcess::start(t.path(), port, "");
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        WAIT,
        "live again",
    )
    .await;
    // The new stream carries events: a scan's books show up without a reload.
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{base}/api/v1/operations/scan"))
        .json(&json!({"paths": [imports]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["operation_id"].is_string(), "{r}");
    b.wait_for(
        "document.querySelector('#stat-books').textContent === '7'",
        WAIT,
        "7 books",
    )
    .await;
    assert_eq!(
        b.eval("window.__sameDocument === true").await,
        json!(true),
        "the page reloaded"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_key_required_the_page_asks_once_and_keeps_it() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let t = TestDir::new();
    let mut config = test_config(&t);
    config.server.auth = audiobook_organizer::config::AuthMode::Key;
    let app = spawn_app_opts(t, config, StartOptions::default()).await;
    let key = app.key.clone().expect("a key");
    let b = Browser::start().await;
    b.goto(&app.url("/")).await;
    b.wait_for(
        "document.querySelector('#key-dialog').open",
        WAIT,
        "the key dialog",
    )
    .await;
    b.type_into("#key-input", "wrong").await;
    b.click("#key-form button[type=submit]").await;
    b.wait_for(
        "!document.querySelector('#key-error').hidden",
        WAIT,
        "a refusal",
    )
    .await;
    b.js(
        "document.querySelector('#key-input').value = '';",
        json!([]),
    )
    .await;
    b.type_into("#key-input", &key).await;
    b.click("#key-form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#conn').dataset.state === 'live'",
        WAIT,
        "live with the key",
    )
    .await;
    b.wait_for(
        "document.querySelector('#stat-books').textContent === '0'",
        WAIT,
        "status loaded",
    )
    .await;
    // Kept: a reload asks no more.
    b.goto(&app.url("/#/library")).await;
    b.eval("location.reload(), true").await;
    b.wait_for(
        "document.querySelector('#books-info')?.textContent.includes('0 book')",
        WAIT,
        "library loaded",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#key-dialog').open").await,
        json!(false)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_book_page_shows_the_cover_from_its_tags_with_a_key_required() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let t = TestDir::new();
    let mut tags = audiobook_organizer::sample::SampleTags::book("Kindred", "Octavia E. Butler");
    tags.cover = Some(include_bytes!("../fixtures/cover.jpg").to_vec());
    t.write(
        "Octavia E. Butler/Kindred/01.mp3",
        &audiobook_organizer::sample::mp3_bytes(Some(&tags), 1.0, 1),
    );
    let imports = t.imports();
    let mut config = test_config(&t);
    config.server.auth = audiobook_organizer::config::AuthMode::Key;
    let app = spawn_app_opts(t, config, StartOptions::default()).await;
    let key = app.key.clone().expect("a key");
    let (_, op) = app
        .post("/api/v1/operations/scan", json!({ "paths": [imports] }))
        .await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    let (_, page) = app.get("/api/v1/books").await;
    let id = page["books"][0]["id"].as_str().unwrap().to_string();
    let b = Browser::start().await;
    b.goto(&app.url("/")).await;
    b.js(
        "localStorage.setItem('ao.apiKey', arguments[0]);",
        json!([key]),
    )
    .await;
    b.goto(&app.url(&format!("/#/library/{id}"))).await;
    // Decoded by the browser under the page's CSP: the image is 120x160.
    let width = b
        .wait_for(
            "(() => { const i = document.querySelector('#book-cover'); \
               return i && !i.hidden && i.complete && i.naturalWidth; })()",
            WAIT,
            "the cover shown",
        )
        .await;
    assert_eq!(width, json!(120));
    b.screenshot(&screenshot_path("book-cover.png")).await;
    app.stop().await;
}

/// A second local server on another port: any request gets `page`.
async fn serve_other_site(page: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_site_cannot_drive_the_server_while_the_dashboard_can() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let (app, say) = app_with_narrator().await;
    assert!(
        app.key.is_none(),
        "a keyless loopback server, the riskiest mode"
    );
    let id = start_narration(&app);
    let (port, other) =
        serve_other_site("<!doctype html><title>cat pictures</title><iframe name=sink></iframe>")
            .await;
    let b = Browser::start().await;
    // localhost, not 127.0.0.1: another origin on another port, as a
    // hostile site (or a local dev server) would be.
    b.goto(&format!("http://localhost:{port}/")).await;
    let attack = r#"
        const [target, op] = arguments;
        const wsTarget = target.replace('http:', 'ws:');
        window.results = {};
        const note = (k, v) => { window.results[k] = v; };
        const body = JSON.stringify({ path: '/etc' });
        fetch(target + '/api/v1/import-paths', { method: 'POST', mode: 'no-cors',
            headers: { 'Content-Type': 'text/plain' }, body })
          .then(() => note('plain', 'sent'), () => note('plain', 'failed'));
        fetch(target + '/api/v1/queue/pause', { method: 'POST', mode: 'no-cors' })
          .then(() => note('pause', 'sent'), () => note('pause', 'failed'));
        fetch(target + '/api/v1/import-paths', { method: 'POST',
            headers: { 'Content-Type': 'application/json' }, body })
          .then(r => note('json', 'status ' + r.status), () => note('json', 'blocked'));
        fetch(target + '/api/v1/operations/' + op, { method: 'DELETE' })
          .then(r => note('delete', 'status ' + r.status), () => note('delete', 'blocked'));
        const form = document.createElement('form');
        form.method = 'POST'; form.enctype = 'text/plain'; form.target = 'sink';
        form.action = target + '/api/v1/import-paths';
        const input = document.createElement('input');
        input.name = '{"path":"/etc","x":"'; input.value = '"}';
        form.appendChild(input); document.body.appendChild(form); form.submit();
        const ws = new WebSocket(wsTarget + '/api/ws');
        ws.onopen = () => {
          note('ws', 'open');
          ws.send(JSON.stringify({ action: 'cancel', operation_id: op }));
        };
        ws.onmessage = (e) => note('ws_message', e.data);
        ws.onerror = () => { if (!window.results.ws) note('ws', 'refused'); };
        document.querySelector('iframe').onload = () => note('form', 'loaded');
    "#;
    b.js(attack, json!([app.base, id])).await;
    let results = b
        .wait_for(
            "window.results && ['plain','pause','json','delete','ws','form'].every(k => k in window.results) && window.results",
            WAIT,
            "every attack to have settled",
        )
        .await;
    assert_eq!(results["ws"], "refused", "{results}");
    assert_eq!(results["json"], "blocked", "{results}");
    assert_eq!(results["delete"], "blocked", "{results}");
    assert!(results.get("ws_message").is_none(), "{results}");
    // Nothing reached the store or the queue.
    let (_, paths) = app.get("/api/v1/import-paths").await;
    assert_eq!(
        paths["import_paths"].as_array().unwrap().len(),
        0,
        "{paths}"
    );
    let (_, q) = app.get("/api/v1/queue").await;
    assert_eq!(q["paused"], false, "{q}");
    let (_, op) = app.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(op["status"], "running", "{op}");

    // The dashboard, served by the server itself, still works: it pauses
    // the queue and cancels the operation.
    b.goto(&app.url("/#/operations")).await;
    b.wait_for(
        "document.querySelector('#queue-toggle')?.textContent === 'Pause queue'",
        WAIT,
        "the pause button",
    )
    .await;
    b.click("#queue-toggle").await;
    b.wait_for(
        "document.querySelector('#queue-toggle')?.textContent === 'Resume queue'",
        WAIT,
        "the queue paused from the page",
    )
    .await;
    let (_, q) = app.get("/api/v1/queue").await;
    assert_eq!(q["paused"], true, "{q}");
    let row = format!("#ops-body tr[data-id='{id}']");
    b.wait_for(
        &format!("document.querySelector(\"{row} button.cancel\")"),
        WAIT,
        "the running row",
    )
    .await;
    b.click(&format!("{row} button.cancel")).await;
    let op = app.wait_op(&id).await;
    assert_eq!(op["status"], "canceled");
    drop(say);
    other.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_page_sorts_and_searches_through_the_indexes() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let app = app_with_library(60).await;
    let (_, op) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    let b = Browser::start().await;
    b.goto(&app.url("/#/library")).await;
    b.wait_for(
        "document.querySelector('#books-info')?.textContent === '1–50 of 61'",
        WAIT,
        "the first page",
    )
    .await;
    let first_title = "document.querySelector('#books-body tr td a')?.textContent";
    b.js(
        "const s = document.querySelector('#book-sort'); s.value = 'title'; s.dispatchEvent(new Event('change'));\
         const o = document.querySelector('#book-order'); o.value = 'desc'; o.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    b.wait_for(
        &format!("{first_title} === 'Not Audio'"),
        WAIT,
        "title, descending",
    )
    .await;
    // The next page by position: the 51st to 61st titles (Book 010 to 000).
    b.click("#books-next").await;
    b.wait_for(
        &format!("{first_title} === 'Book 010' && document.querySelector('#books-info').textContent === '51–61 of 61'"),
        WAIT,
        "the second page",
    )
    .await;
    // A search by the start of a word, in any case: Ted Chiang's books.
    b.type_into("#book-search", "CHIA").await;
    b.click("#book-search + button").await;
    b.wait_for(
        &format!("{first_title} === 'Book 059' && document.querySelector('#books-info').textContent === '1–15 of 15'"),
        WAIT,
        "the search",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#books-next').disabled")
            .await,
        json!(true)
    );
    b.screenshot(&screenshot_path("library-sorted.png")).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_book_is_edited_from_its_page_with_provenance_beside_each_field() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let app = app_with_library(2).await;
    let (_, op) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    let (_, page) = app.get("/api/v1/books?q=Book%20001").await;
    let id = page["books"][0]["id"].as_str().unwrap().to_string();
    let b = Browser::start().await;
    b.goto(&app.url(&format!("/#/library/{id}"))).await;
    b.wait_for(
        "document.querySelector('#book-title')?.textContent === 'Book 001'",
        WAIT,
        "the book page",
    )
    .await;
    b.click("#book-edit-open").await;
    // Each field says where its value came from.
    let prov = |field: &str| {
        format!("document.querySelector('#book-edit .prov[data-field=\"{field}\"]')?.textContent")
    };
    assert_eq!(b.eval(&prov("title")).await, json!("from the tags"));
    assert_eq!(b.eval(&prov("authors")).await, json!("from the tags"));
    assert_eq!(b.eval(&prov("publisher")).await, json!(""));
    // A new title, a second author, a series; a bad ISBN first.
    b.js(
        "const set = (id, v) => { const el = document.getElementById(id); el.value = v; };\
         set('edit-title', 'The Dispossessed'); set('edit-authors', 'Iain M. Banks\\nUrsula K. Le Guin');\
         set('edit-series', 'Hainish Cycle'); set('edit-series_index', '5'); set('edit-isbn', '978-0-06-051275-1');",
        json!([]),
    )
    .await;
    b.click("#book-edit-save").await;
    let error = b
        .wait_for(
            "(() => { const e = document.querySelector('#book-edit-error'); return e && !e.hidden && e.textContent; })()",
            WAIT,
            "the refusal shown",
        )
        .await;
    assert!(error.as_str().unwrap().contains("ISBN"), "{error}");
    let (_, unchanged) = app.get(&format!("/api/v1/books/{id}")).await;
    assert_eq!(unchanged["title"], "Book 001");
    b.js(
        "document.getElementById('edit-isbn').value = '978-0-06-051275-0';",
        json!([]),
    )
    .await;
    b.click("#book-edit-save").await;
    b.wait_for(
        "document.querySelector('#book-title')?.textContent === 'The Dispossessed'",
        WAIT,
        "the saved title",
    )
    .await;
    let (_, saved) = app.get(&format!("/api/v1/books/{id}")).await;
    assert_eq!(saved["author"], "Iain M. Banks, Ursula K. Le Guin");
    assert_eq!(saved["series"], "Hainish Cycle");
    assert_eq!(saved["series_index"], "5");
    assert_eq!(saved["isbn"], "9780060512750");
    assert_eq!(saved["provenance"]["title"], "user");
    assert_eq!(
        saved["locked"],
        json!(["title", "authors", "series", "series_index", "isbn"])
    );
    // The page shows the edit in its history and the provenance beside
    // the values; the form offers to unlock what was edited.
    b.wait_for(
        "document.querySelector('#book-history li')?.textContent.includes('title: Book 001 → The Dispossessed')",
        WAIT,
        "the edit in the history",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('.grid .prov[data-field=\"series\"]')?.textContent")
            .await,
        json!("edited")
    );
    b.click("#book-edit-open").await;
    assert_eq!(b.eval(&prov("title")).await, json!("edited · locked"));
    b.click("#book-edit .unlock[data-field=\"title\"]").await;
    b.wait_for(
        &format!("{} === 'edited'", prov("title")),
        WAIT,
        "the title unlocked",
    )
    .await;
    let (_, unlocked) = app.get(&format!("/api/v1/books/{id}")).await;
    assert!(
        !unlocked["locked"]
            .as_array()
            .unwrap()
            .contains(&json!("title"))
    );
    assert_eq!(unlocked["title"], "The Dispossessed");
    b.screenshot(&screenshot_path("book-edit.png")).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authors_and_series_pages_list_names_and_their_books() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let app = app_with_library(8).await;
    let (_, op) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    // Two books of one author become a series through a bulk edit.
    let (_, chiang) = app.get("/api/v1/authors/Ted%20Chiang/books").await;
    let ids: Vec<&str> = chiang["books"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{chiang}");
    let (code, _) = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/books",
            Some(json!({ "ids": ids, "series": "Stories" })),
        )
        .await;
    assert_eq!(code, 200);
    let (_, authors) = app.get("/api/v1/authors").await;
    let total = authors["total"].as_u64().unwrap();
    let b = Browser::start().await;
    b.goto(&app.url("/#/authors")).await;
    b.wait_for(
        &format!("document.querySelector('#names-info')?.textContent === '1–{total} of {total}'"),
        WAIT,
        "the authors",
    )
    .await;
    b.type_into("#names-search", "jemi").await;
    b.click("#names-search + button").await;
    b.wait_for(
        "document.querySelector('#names-body tr td a')?.textContent === 'N. K. Jemisin' \
         && document.querySelector('#names-info').textContent === '1–1 of 1'",
        WAIT,
        "the search",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelector('#names-body tr td.num').textContent")
            .await,
        json!("2")
    );
    b.click("#names-body tr td a").await;
    b.wait_for(
        "document.querySelector('#named-title')?.textContent === 'N. K. Jemisin' \
         && document.querySelectorAll('#named-books tbody tr').length === 2",
        WAIT,
        "the author's books",
    )
    .await;
    b.goto(&app.url("/#/series")).await;
    b.wait_for(
        "document.querySelector('#names-body tr td a')?.textContent === 'Stories'",
        WAIT,
        "the series",
    )
    .await;
    b.click("#names-body tr td a").await;
    b.wait_for(
        "document.querySelectorAll('#named-books tbody tr').length === 2",
        WAIT,
        "the series' books",
    )
    .await;
    b.screenshot(&screenshot_path("series.png")).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organize_preview_shows_the_plan_and_starts_the_real_run() {
    let _one = ONE_BROWSER_AT_A_TIME.lock().await;
    let app = app_with_library(4).await;
    let (_, op) = app.post("/api/v1/operations/scan", json!({})).await;
    app.wait_op(op["operation_id"].as_str().unwrap()).await;
    let library = app.engine.config.library.clone();
    let b = Browser::start().await;
    b.goto(&app.url("/#/operations")).await;
    b.wait_for(
        "!!document.querySelector('#start-organize-preview')",
        WAIT,
        "the operations page",
    )
    .await;
    b.js(
        "const s = document.querySelector('#strategy'); s.value = 'copy'; s.dispatchEvent(new Event('change'));",
        json!([]),
    )
    .await;
    b.click("#start-organize-preview").await;
    // The plan: its note, a line per book, the run button once complete.
    b.wait_for(
        "!document.querySelector('#op-plan')?.hidden && document.querySelector('#op-run-plan') && !document.querySelector('#op-run-plan').disabled",
        WAIT,
        "the finished plan",
    )
    .await;
    b.wait_for(
        "[...document.querySelectorAll('#log-lines > *')].some((l) => l.textContent.includes('plan: \"Book 002\"') && l.textContent.includes('(copy, 1 file(s))'))",
        WAIT,
        "a book's plan in the log",
    )
    .await;
    assert!(
        b.eval("document.querySelector('#op-message').textContent")
            .await
            .as_str()
            .unwrap()
            .starts_with("organize plan (nothing changed): 5 book(s) to place")
    );
    assert!(!library.exists(), "a preview makes nothing");
    b.screenshot(&screenshot_path("organize-preview.png")).await;
    let preview = b.eval("location.hash").await;
    b.click("#op-run-plan").await;
    let real = b
        .wait_for(
            &format!(
                "location.hash !== {preview} && document.querySelector('#op-plan')?.hidden \
                 && document.querySelector('#op-status')?.dataset.status === 'completed' ? location.hash : null"
            ),
            WAIT,
            "the real organize, completed",
        )
        .await;
    let real_id = real
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let done = app.wait_op(&real_id).await;
    assert_eq!(done["params"]["strategy"], "copy", "{done}");
    assert!(done["params"].get("dry_run").is_none(), "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .starts_with("organized 5 book(s)"),
        "{done}"
    );
    assert!(library.join("Ted Chiang").is_dir());
    app.stop().await;
}
