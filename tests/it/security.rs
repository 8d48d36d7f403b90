//! What a hostile web page, a DNS-rebound name, a greedy WebSocket client,
//! a slow client or a torrent's symlinks can do to a running server: real
//! HTTP requests with hostile headers, a real WebSocket client, real
//! symlinks and a real store on disk.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use audiobook_organizer::config::{AuthMode, FollowSymlinks};

use crate::helpers::{
    TestDir, all_books, binary, logs, mp3, organize, run_op, scan, start, tagged,
};
use crate::server_helpers::{next_ws_json, spawn_app_with, test_config};

/// One raw HTTP/1.1 exchange: the request exactly as written, the
/// response's status, lowercase headers and body.
async fn raw(addr: std::net::SocketAddr, request: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// A request with `Connection: close` and a body, if any.
fn request(method: &str, path: &str, host: &str, extra: &[(&str, &str)], body: &str) -> String {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

fn error_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("a JSON error body, not {body:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_page_cannot_drive_a_keyless_server() {
    let dir = TestDir::new();
    let c = test_config(&dir);
    let app = spawn_app_with(dir, c).await;
    assert!(app.key.is_none(), "loopback: no key");
    let own = format!("127.0.0.1:{}", app.addr.port());
    let imports = app.dir.imports();
    std::fs::create_dir_all(&imports).unwrap();
    let body = json!({"path": imports}).to_string();

    // A cross-site form or fetch without preflight: text/plain, form.
    for ct in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, _, b) = raw(
            app.addr,
            &request(
                "POST",
                "/api/v1/import-paths",
                &own,
                &[("Content-Type", ct)],
                &body,
            ),
        )
        .await;
        assert_eq!(status, 415, "{ct}: {b}");
        assert!(error_of(&b).contains("application/json"));
    }
    // A body without any Content-Type.
    let (status, _, _) = raw(
        app.addr,
        &request("POST", "/api/v1/import-paths", &own, &[], &body),
    )
    .await;
    assert_eq!(status, 415);
    // JSON from another origin (a page that got a preflight wrong, or
    // any cross-site request): refused.
    let (status, _, b) = raw(
        app.addr,
        &request(
            "POST",
            "/api/v1/import-paths",
            &own,
            &[
                ("Content-Type", "application/json"),
                ("Origin", "http://evil.example"),
            ],
            &body,
        ),
    )
    .await;
    assert_eq!(status, 403, "{b}");
    assert!(error_of(&b).contains("evil.example"));
    for origin in [
        "null",
        "http://127.0.0.1:1",
        "https://127.0.0.1.evil.example",
    ] {
        let (status, _, _) = raw(
            app.addr,
            &request(
                "POST",
                "/api/v1/queue/pause",
                &own,
                &[("Origin", origin)],
                "",
            ),
        )
        .await;
        assert_eq!(status, 403, "{origin}");
    }
    let (status, _, _) = raw(
        app.addr,
        &request(
            "DELETE",
            "/api/v1/import-paths/x",
            &own,
            &[("Origin", "http://evil.example")],
            "",
        ),
    )
    .await;
    assert_eq!(status, 403);
    // Nothing of that reached the store.
    let (_, list) = app.get("/api/v1/import-paths").await;
    assert_eq!(list["import_paths"].as_array().unwrap().len(), 0, "{list}");
    let (_, q) = app.get("/api/v1/queue").await;
    assert_eq!(q["paused"], false, "{q}");

    // The dashboard's own requests: same origin, JSON; and a bodiless POST.
    let (status, _, b) = raw(
        app.addr,
        &request(
            "POST",
            "/api/v1/import-paths",
            &own,
            &[
                ("Content-Type", "application/json; charset=utf-8"),
                ("Origin", &format!("http://{own}")),
            ],
            &body,
        ),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let (status, _, b) = raw(
        app.addr,
        &request(
            "POST",
            "/api/v1/queue/pause",
            &own,
            &[("Origin", &format!("http://{own}"))],
            "",
        ),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    // A client with no Origin at all (curl, scripts) is not a browser page.
    let (status, _, _) = raw(
        app.addr,
        &request("POST", "/api/v1/queue/resume", &own, &[], ""),
    )
    .await;
    assert_eq!(status, 200);

    // DNS rebinding: the page's own name resolving to 127.0.0.1. Every
    // route, the page itself included, refuses the name.
    for path in ["/api/v1/queue", "/", "/api/v1/books"] {
        let (status, _, b) = raw(app.addr, &request("GET", path, "evil.example", &[], "")).await;
        assert_eq!(status, 403, "{path}: {b}");
        assert!(error_of(&b).contains("allowed_hosts"));
    }
    let (status, _, _) = raw(
        app.addr,
        &request(
            "POST",
            "/api/v1/queue/pause",
            &format!("evil.example:{}", app.addr.port()),
            &[(
                "Origin",
                &format!("http://evil.example:{}", app.addr.port()),
            )],
            "",
        ),
    )
    .await;
    assert_eq!(status, 403);
    for host in [
        own.as_str(),
        "localhost",
        "[::1]:9",
        "LOCALHOST:80",
        "10.1.2.3",
    ] {
        let (status, _, _) = raw(app.addr, &request("GET", "/api/v1/queue", host, &[], "")).await;
        assert_eq!(status, 200, "{host}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_and_origins_let_a_reverse_proxy_through() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.auth = AuthMode::None;
    c.server.allowed_hosts = vec!["books.lan".into()];
    c.server.allowed_origins = vec!["https://books.example.com".into()];
    let app = spawn_app_with(dir, c).await;
    let (status, _, _) = raw(
        app.addr,
        &request("GET", "/api/v1/queue", "books.lan:8484", &[], ""),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = raw(
        app.addr,
        &request("GET", "/api/v1/queue", "other.lan", &[], ""),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, b) = raw(
        app.addr,
        &request(
            "POST",
            "/api/v1/queue/pause",
            "books.lan",
            &[("Origin", "https://books.example.com")],
            "",
        ),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_bearer_in_any_case_www_authenticate_and_no_key_in_urls_that_change_state() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.auth = AuthMode::Key;
    let app = spawn_app_with(dir, c).await;
    let key = app.key.clone().expect("a key");
    let host = format!("127.0.0.1:{}", app.addr.port());
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} {key}");
        let (status, _, _) = raw(
            app.addr,
            &request(
                "GET",
                "/api/v1/queue",
                &host,
                &[("Authorization", &auth)],
                "",
            ),
        )
        .await;
        assert_eq!(status, 200, "{scheme}");
    }
    let (status, headers, b) =
        raw(app.addr, &request("GET", "/api/v1/queue", &host, &[], "")).await;
    assert_eq!(status, 401, "{b}");
    let www = headers
        .iter()
        .find(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| v.as_str());
    assert!(www.is_some_and(|v| v.starts_with("Bearer")), "{headers:?}");
    // With a key, Host is not checked (a LAN name is fine), Origin still is.
    let (status, _, _) = raw(
        app.addr,
        &request(
            "GET",
            "/api/v1/queue",
            "nas.lan",
            &[("X-Api-Key", &key)],
            "",
        ),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = raw(
        app.addr,
        &request(
            "POST",
            "/api/v1/queue/pause",
            &host,
            &[("X-Api-Key", &key), ("Origin", "http://evil.example")],
            "",
        ),
    )
    .await;
    assert_eq!(status, 403);
    // ?apikey= only where browsers cannot send headers: GET of the streams.
    for (method, path) in [
        ("POST", "/api/v1/queue/pause"),
        ("DELETE", "/api/v1/import-paths/x"),
        ("GET", "/api/v1/queue"),
    ] {
        let (status, _, _) = raw(
            app.addr,
            &request(method, &format!("{path}?apikey={key}"), &host, &[], ""),
        )
        .await;
        assert_eq!(status, 401, "{method} {path}");
    }
    let r = app
        .http
        .get(app.url(&format!("/api/events?apikey={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    drop(r);
    let (_ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/ws?apikey={key}", app.addr))
            .await
            .expect("the WebSocket takes ?apikey=");
    app.stop().await;
}

#[test]
fn short_or_empty_keys_are_refused_at_start() {
    let t = TestDir::new();
    for key in ["", "1", "short-key", "0123456789012345678901234567890"] {
        std::fs::write(t.path().join("c.toml"), format!("api_key = {key:?}\n")).unwrap();
        let out = binary()
            .current_dir(t.path())
            .args([
                "--config",
                "c.toml",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{key:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("api_key") && err.contains("32"),
            "{key:?}: {err}"
        );
    }
    // The server never got as far as creating a store.
    assert!(!t.path().join("data").exists());
}

async fn ws_connect(
    addr: std::net::SocketAddr,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
> {
    let mut req = format!("ws://{addr}/api/ws").into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_from_other_origins_are_refused_and_clients_are_bounded() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.client_queue_bytes = 64 * 1024;
    c.server.event_ring = 2000;
    let app = spawn_app_with(dir, c).await;
    assert_eq!(
        ws_connect(app.addr, Some("http://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert_eq!(ws_connect(app.addr, Some("null")).await.err(), Some(403));

    // 1,000 events of ~300 bytes: a replay of all of them does not fit in
    // a 64 KiB queue; the client is told where it lost the thread instead.
    let filler = "x".repeat(250);
    for i in 0..1000 {
        app.state.hub.publish(std::sync::Arc::new(
            audiobook_organizer::ops::events::Event::new(
                "test.filler",
                "",
                json!({"i": i, "pad": filler}),
            ),
        ));
    }
    let own = format!("http://127.0.0.1:{}", app.addr.port());
    let mut ws = ws_connect(app.addr, Some(&own)).await.expect("own origin");
    ws.send(Message::Text(r#"{"action":"resume","since":0}"#.into()))
        .await
        .unwrap();
    let mut replayed = 0;
    let lagged = loop {
        let v = next_ws_json(&mut ws).await;
        match v["type"].as_str() {
            Some("stream.lagged") => break v,
            Some("test.filler") => replayed += 1,
            _ => {}
        }
    };
    assert_eq!(
        replayed, 0,
        "nothing of a replay that does not fit is queued"
    );
    assert!(
        lagged["data"]["first_missed_id"].as_u64().unwrap() >= 1,
        "{lagged}"
    );
    // A replay that fits is sent as usual.
    let since = app.state.hub.last_seq() - 3;
    ws.send(Message::Text(
        json!({"action":"resume","since":since}).to_string().into(),
    ))
    .await
    .unwrap();
    loop {
        let v = next_ws_json(&mut ws).await;
        assert_ne!(v["type"], "stream.lagged", "{v}");
        if v["type"] == "test.filler" {
            break;
        }
    }
    // Resumes are rate-limited: 10 per 10 s (two used above).
    for _ in 0..12 {
        ws.send(Message::Text(
            r#"{"action":"resume","since":999999}"#.into(),
        ))
        .await
        .unwrap();
    }
    let mut limited = 0;
    while limited == 0 {
        let v = next_ws_json(&mut ws).await;
        if v["type"] == "error" && v["data"]["error"].as_str().unwrap_or("").contains("resume") {
            limited += 1;
        }
    }
    // Filters hold at most 1,000 entries.
    let many: Vec<String> = (0..1001).map(|i| format!("op{i}")).collect();
    ws.send(Message::Text(
        json!({"action":"subscribe","operations": many})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    loop {
        let v = next_ws_json(&mut ws).await;
        let error = v["data"]["error"].as_str().unwrap_or("");
        if v["type"] == "error" && !error.contains("resume") {
            assert!(error.contains("1000"), "{v}");
            break;
        }
        assert_ne!(v["type"], "subscribed", "{v}");
    }
    // A message over 64 KiB closes the socket with 1009.
    ws.send(Message::Text("y".repeat(70 * 1024).into()))
        .await
        .unwrap();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server answers within 10 s")
        {
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 1009);
    // The SSE filter has the same cap.
    let ops = (0..1001)
        .map(|i| format!("o{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let (status, body) = app.get(&format!("/api/events?operations={ops}")).await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_off_and_connections_are_capped() {
    let dir = TestDir::new();
    let mut c = test_config(&dir);
    c.server.header_read_timeout = Duration::from_secs(1);
    c.server.max_connections = 4;
    let app = spawn_app_with(dir, c).await;
    // Part of the headers, then silence: the server hangs up.
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /api/v1/queue HTTP/1.1\r\nHost: 127.0")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut buf))
        .await
        .expect("the server cut off a client that stopped mid-headers")
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Four connections fill the cap; a fifth gets a 503 with a JSON body.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /api/v1/queue HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        // Read the answer: the connection is then open and idle (keep-alive).
        let mut first = [0u8; 12];
        s.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        held.push(s);
    }
    let host = format!("127.0.0.1:{}", app.addr.port());
    let (status, headers, body) =
        raw(app.addr, &request("GET", "/api/v1/queue", &host, &[], "")).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body).contains("too many"));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    );
    // Closing them frees their places.
    drop(held);
    let mut ok = false;
    for _ in 0..200 {
        let (status, _, _) = raw(app.addr, &request("GET", "/api/v1/queue", &host, &[], "")).await;
        if status == 200 {
            ok = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(ok, "closed connections gave their places back");
    app.stop().await;
}

fn mode_of(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_store_and_its_folder_are_private_to_the_user() {
    let t = TestDir::new();
    let mut c = t.config();
    c.db = t.path().join("state/db/store.redb");
    let e = start(c.clone());
    drop(e);
    assert_eq!(mode_of(&c.db), 0o600);
    assert_eq!(mode_of(&t.path().join("state/db")), 0o700);
    assert_eq!(mode_of(&t.path().join("state")), 0o700);
    // Configurable, through the config file.
    let t2 = TestDir::new();
    std::fs::write(t2.path().join("c.toml"), "store_mode = \"0640\"\n").unwrap();
    let out = binary()
        .current_dir(t2.path())
        .args(["--config", "c.toml", "--db", "d/s.redb", "scan", "."])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode_of(&t2.path().join("d/s.redb")), 0o640);
    assert_eq!(mode_of(&t2.path().join("d")), 0o750);
    std::fs::write(t2.path().join("c.toml"), "store_mode = \"0644x\"\n").unwrap();
    let out = binary()
        .current_dir(t2.path())
        .args(["--config", "c.toml", "books", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("store_mode"));
}

/// An import folder with a link inside it to a file inside it, a link to
/// a file outside it (a torrent's `passwd.mp3 -> /etc/passwd`), and a
/// link to a folder outside it.
fn hostile_tree(t: &TestDir) -> std::path::PathBuf {
    let imports = t.imports();
    t.write(
        "Inside Author/Inside Book/01.mp3",
        &mp3(&tagged("Inside Book", "Inside Author"), 1.0, 1),
    );
    let outside = t.path().join("outside");
    std::fs::create_dir_all(outside.join("dir/Hidden Book")).unwrap();
    std::fs::write(
        outside.join("secret.mp3"),
        mp3(&tagged("Secret", "Outsider"), 1.0, 2),
    )
    .unwrap();
    std::fs::write(
        outside.join("dir/Hidden Book/01.mp3"),
        mp3(&tagged("Hidden Book", "Outsider"), 1.0, 3),
    )
    .unwrap();
    std::fs::create_dir_all(imports.join("Links")).unwrap();
    std::os::unix::fs::symlink(
        t.path().join("outside/secret.mp3"),
        imports.join("Links/passwd.mp3"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        t.path().join("outside/dir"),
        imports.join("Links/elsewhere"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../Inside Author/Inside Book/01.mp3",
        imports.join("Links/alias.mp3"),
    )
    .unwrap();
    imports
}

fn titles(engine: &audiobook_organizer::engine::Engine) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = all_books(engine)
        .into_iter()
        .map(|b| (b.title, format!("{:?}", b.status).to_lowercase()))
        .collect();
    v.sort();
    v
}

#[test]
fn symlinks_leading_out_of_an_import_folder_are_not_followed() {
    let t = TestDir::new();
    let imports = hostile_tree(&t);
    let e = start(t.config());
    let op = scan(&e, &imports);
    assert_eq!(format!("{:?}", op.status).to_lowercase(), "completed");
    // Only what lies inside: the link to a file inside is followed (and
    // is the same content as the file it names, so a duplicate).
    assert_eq!(
        titles(&e),
        [("Inside Book".to_string(), "imported".to_string())]
    );
    let summary = op.message.clone();
    assert!(summary.contains("2 symlink(s) not followed"), "{summary}");
    let lines: Vec<String> = logs(&e, &op.id).into_iter().map(|l| l.message).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not followed") && l.contains("passwd.mp3")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not followed") && l.contains("elsewhere")),
        "{lines:?}"
    );
    // Organize copies nothing from outside into the library.
    organize(&e, "copy");
    let lib = crate::helpers::tree(&t.config().library);
    assert!(
        lib.iter()
            .all(|p| !p.contains("Secret") && !p.contains("Hidden")),
        "{lib:?}"
    );
    drop(e);

    // `all` follows every link; switching back to `inside` stops following
    // them at once (no kept folder listing still holds the old links) and
    // the books they gave are missing.
    let mut c = t.config();
    c.follow_symlinks = FollowSymlinks::All;
    let e = start(c);
    scan(&e, &imports);
    let got = titles(&e);
    assert!(got.iter().any(|(t, _)| t == "Secret"), "{got:?}");
    assert!(got.iter().any(|(t, _)| t == "Hidden Book"), "{got:?}");
    drop(e);
    let e = start(t.config());
    let op = scan(&e, &imports);
    let got = titles(&e);
    assert!(
        got.contains(&("Secret".into(), "missing".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("Hidden Book".into(), "missing".into())),
        "{got:?}"
    );
    assert!(op.message.contains("2 symlink(s) not followed"));
    drop(e);

    // `none` follows no link at all, not even one that stays inside.
    let mut c = t.config();
    c.follow_symlinks = FollowSymlinks::None;
    let e = start(c);
    let op = scan(&e, &imports);
    assert!(op.message.contains("3 symlink(s) not followed"));
}

#[test]
fn organize_never_writes_through_a_symlink_in_the_library() {
    let t = TestDir::new();
    let imports = t.imports();
    t.write(
        "Mallory/Book One/01.mp3",
        &mp3(&tagged("Book One", "Mallory"), 1.0, 7),
    );
    t.write(
        "Alice/Book Two/01.mp3",
        &mp3(&tagged("Book Two", "Alice"), 1.0, 8),
    );
    let c = t.config();
    let outside = t.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&c.library).unwrap();
    // The author's folder in the library is a link to somewhere else.
    std::os::unix::fs::symlink(&outside, c.library.join("Mallory")).unwrap();
    let e = start(c.clone());
    scan(&e, &imports);
    let op = organize(&e, "copy");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
    let got = titles(&e);
    assert!(
        got.contains(&("Book One".into(), "imported".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("Book Two".into(), "organized".into())),
        "{got:?}"
    );
    let lines: Vec<String> = logs(&e, &op.id).into_iter().map(|l| l.message).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Book One") && l.contains("symlink")),
        "{lines:?}"
    );
    // No /proc path leaks into what the user is shown.
    assert!(
        lines.iter().all(|l| !l.contains("/proc/self/fd")),
        "{lines:?}"
    );
}

#[test]
fn a_scan_that_cannot_start_its_walk_threads_fails_and_marks_nothing_missing() {
    // RLIMIT_NPROC binds only unprivileged users: run the binary as nobody.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run the scan as an unprivileged user");
        return;
    }
    let t = TestDir::new();
    for i in 0..6 {
        t.write(
            &format!("Author {i}/Book {i}/01.mp3"),
            &mp3(
                &tagged(&format!("Book {i}"), &format!("Author {i}")),
                1.0,
                100 + i,
            ),
        );
    }
    // Everything readable and writable by nobody.
    let chown = |p: &std::path::Path| {
        std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(p)
            .status()
            .unwrap()
    };
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |nproc: Option<u64>| {
        let mut cmd = binary();
        cmd.current_dir(t.path())
            .env("AO_SCAN_THREADS", "64")
            .args(["scan", "imports"])
            .uid(65534)
            .gid(65534);
        if let Some(n) = nproc {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NPROC, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.output().unwrap()
    };
    use std::os::unix::process::CommandExt;
    chown(t.path());
    let first = run(None);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // Scans under tighter and tighter limits: each one either completes or
    // fails with a message, and none marks a book missing. At least one
    // fails exactly where the walk starts its threads.
    let mut walk_failures = 0;
    for n in (2..=48).rev() {
        let out = run(Some(n));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("cannot start a walk thread") {
            walk_failures += 1;
            assert!(!out.status.success(), "{text}");
            assert!(text.contains("nothing was marked missing"), "{text}");
        }
        chown(t.path());
        let e = start(t.config());
        let books = all_books(&e);
        assert_eq!(books.len(), 6, "limit {n}: {text}");
        assert!(
            books
                .iter()
                .all(|b| format!("{:?}", b.status).to_lowercase() == "imported"),
            "limit {n}: {text}"
        );
        drop(e);
        chown(t.path());
    }
    assert!(
        walk_failures > 0,
        "no limit made the walk's threads fail to start"
    );
    let _ = run_op;
}
