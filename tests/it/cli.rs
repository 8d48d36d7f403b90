use std::process::Command;

use crate::helpers::{TestDir, binary};

fn bin(t: &TestDir) -> Command {
    let mut c = binary();
    c.current_dir(t.path());
    c
}

fn run(t: &TestDir, args: &[&str]) -> (bool, String, String) {
    let out = bin(t).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn api_key_prints_the_stored_key() {
    let t = TestDir::new();
    let (ok, _, err) = run(&t, &["demo"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&t, &["api-key"]);
    assert!(!ok && err.contains("no API key stored yet"), "{err}");
    {
        let config = audiobook_organizer::config::Config {
            db: t.path().join("data/audiobook-organizer.redb"),
            ..t.config()
        };
        let engine = audiobook_organizer::engine::Engine::start(
            config,
            audiobook_organizer::engine::StartOptions {
                resume_queued: false,
                ..Default::default()
            },
        )
        .unwrap();
        let (key, new) = audiobook_organizer::http::ensure_api_key(&engine).unwrap();
        assert!(new && key.len() == 64);
        engine.shutdown(std::time::Duration::from_secs(1));
        let (ok, out, _) = run(&t, &["api-key"]);
        assert!(ok);
        assert_eq!(out.trim(), key);
    }
}

#[test]
fn help_everywhere() {
    let t = TestDir::new();
    for args in [
        vec!["--help"],
        vec!["scan", "--help"],
        vec!["organize", "--help"],
        vec!["books", "list", "--help"],
        vec!["ops", "logs", "--help"],
        vec!["ops", "cancel", "--help"],
        vec!["import", "add", "--help"],
        vec!["backup", "--help"],
        vec!["restore", "--help"],
    ] {
        let (ok, out, _) = run(&t, &args);
        assert!(ok, "{args:?}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
        assert!(
            out.contains("--db") && out.contains("--dir") && out.contains("--config"),
            "{args:?}"
        );
    }
}

#[test]
fn errors_are_one_clear_line_and_a_failing_exit() {
    let t = TestDir::new();
    let (ok, _, err) = run(&t, &["scan", "/definitely/not/here"]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: import path /definitely/not/here"),
        "{err}"
    );

    let (ok, _, err) = run(&t, &["ops", "show", "NOPE"]);
    assert!(!ok);
    assert!(err.contains("operation NOPE not found"), "{err}");

    let (ok, _, err) = run(&t, &["organize", "--strategy", "teleport"]);
    assert!(!ok);
    assert!(err.contains("teleport"), "{err}");

    std::fs::write(t.path().join("bad.toml"), "workers = \"many\"").unwrap();
    let (ok, _, err) = run(&t, &["--config", "bad.toml", "books", "list"]);
    assert!(!ok);
    assert!(err.contains("invalid config file"), "{err}");
}

#[test]
fn flags_beat_environment_beat_config_file() {
    let t = TestDir::new();
    std::fs::write(t.path().join("c.toml"), "db = \"from-file.redb\"\n").unwrap();
    let imports = t.path().join("in");
    audiobook_organizer::sample::write_sample_tree(&imports).unwrap();
    let mut c = bin(&t);
    c.args(["--config", "c.toml", "scan"]).arg(&imports);
    assert!(c.status().unwrap().success());
    assert!(t.path().join("from-file.redb").exists());

    let mut c = bin(&t);
    c.env("AO_DB", "from-env.redb")
        .args(["--config", "c.toml", "scan"])
        .arg(&imports);
    assert!(c.status().unwrap().success());
    assert!(t.path().join("from-env.redb").exists());

    let mut c = bin(&t);
    c.env("AO_DB", "from-env.redb")
        .args(["--config", "c.toml", "--db", "from-flag.redb", "scan"])
        .arg(&imports);
    assert!(c.status().unwrap().success());
    assert!(t.path().join("from-flag.redb").exists());
}

#[test]
fn every_ao_variable_is_read_through_the_command_line_and_flags_still_win() {
    let t = TestDir::new();
    let imports = t.path().join("in");
    audiobook_organizer::sample::write_sample_tree(&imports).unwrap();
    // A bad value is refused with the variable's (or setting's) name.
    for (var, value, named) in [
        ("AO_PORT", "abc", "AO_PORT"),
        ("AO_WORKERS", "0", "workers"),
        ("AO_FOLLOW_SYMLINKS", "bogus", "follow_symlinks"),
        ("AO_LOG_RETENTION_DAYS", "soon", "AO_LOG_RETENTION_DAYS"),
        ("AO_METADATA_BASE_URL", "ftp://x", "metadata_base_url"),
    ] {
        let out = bin(&t)
            .env(var, value)
            .arg("scan")
            .arg(&imports)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value} was taken");
        assert!(err.contains(named), "{var}: {err}");
    }
    // An empty variable counts as unset; a flag beats the variable.
    let out = bin(&t)
        .env("AO_FOLLOW_SYMLINKS", "")
        .env("AO_WORKERS", "")
        .arg("scan")
        .arg(&imports)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin(&t)
        .env("AO_FOLLOW_SYMLINKS", "bogus")
        .args(["--follow-symlinks", "none", "scan"])
        .arg(&imports)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Hidden: --help shows the variables in the descriptions, not the
    // forms clap reads them through.
    let (_, help, _) = run(&t, &["--help"]);
    assert!(!help.contains("--env-"), "{help}");
}

#[test]
fn demo_scans_and_organizes_and_listings_print_json() {
    let t = TestDir::new();
    let (ok, out, err) = run(&t, &["demo"]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("5 book(s) in the store"), "{out}");
    let (ok, out, _) = run(&t, &["books", "list", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 5);
    assert_eq!(v["books"].as_array().unwrap().len(), 5);
    let (ok, out, _) = run(&t, &["ops", "list", "--json"]);
    assert!(ok);
    let ops: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0]["type"], "organize");
    assert_eq!(ops[0]["status"], "completed");
    let id = ops[1]["id"].as_str().unwrap();
    let (ok, out, _) = run(&t, &["ops", "logs", id, "--tail", "2", "--json"]);
    assert!(ok);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("scanned 10 file(s)")
    );
    let (ok, out, _) = run(&t, &["ops", "logs", id, "--follow"]);
    assert!(ok, "--follow on a finished operation prints and returns");
    assert!(out.lines().count() >= 5);
    let (ok, _, err) = run(&t, &["ops", "cancel", id]);
    assert!(!ok);
    assert!(err.contains("already ended"), "{err}");
    assert!(
        t.path()
            .join("data/library/Frank Herbert/Dune/Dune (1965)")
            .is_dir()
    );
}
