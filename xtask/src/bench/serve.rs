//! `cargo xtask bench --serve`: the web page's answer times over the store of a synthetic corpus
//! (the overview, a page of sessions, the first and last pages of the longest session, a rare and
//! a common search), each the median of several requests after one to warm up, and the server's
//! peak memory; against the targets of the web page's issue.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use super::{BenchOptions, generate};
use crate::serve_client::{cookie_of, get, start};
use crate::{run_command, workspace_root};

/// The server's peak resident memory so far, in MB (`VmHWM`).
fn peak_rss_mb(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .context("VmHWM in /proc/PID/status")?;
    Ok(kb / 1024.0)
}

pub fn run(options: &BenchOptions) -> Result<()> {
    run_command("cargo", &["build", "--release", "-q", "-p", "hindcast-cli"], &[])?;
    let hindcast = workspace_root().join("target/release/hindcast");
    let scratch = super::Scratch::new(options)?;
    let (data, home, db) = (scratch.data.clone(), scratch.home.clone(), scratch.db.clone());
    if !db.exists() {
        let corpus = generate::generate(&data, options.size_bytes, 0x4849_4E44)?;
        generate::append_prompts(&corpus, 50, super::PLANTED_PROMPT)?;
        eprintln!("bench serve: importing {:.0} MB of transcripts ...", corpus.bytes as f64 / 1e6);
        let status = Command::new(&hindcast)
            .args(["backfill"])
            .env("HOME", &home)
            .env("CLAUDE_CONFIG_DIR", data.join("claude"))
            .env("CODEX_HOME", data.join("codex"))
            .env("HINDCAST_DB", &db)
            .env("HINDCAST_EVENTS", "off")
            .stdout(Stdio::null())
            .status()?;
        ensure!(status.success(), "the import failed");
    }
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (longest, messages): (String, i64) = conn.query_row(
        "SELECT lower(hex(s.session_key)), count(*) AS n FROM message m JOIN session s ON s.session = m.session \
         GROUP BY m.session ORDER BY n DESC LIMIT 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (near_2000, near_2000_messages): (String, i64) = conn.query_row(
        "SELECT lower(hex(s.session_key)), count(*) AS n FROM message m JOIN session s ON s.session = m.session \
         GROUP BY m.session ORDER BY abs(n - 2000) LIMIT 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let sessions: i64 = conn.query_row("SELECT count(*) FROM session", [], |row| row.get(0))?;
    let store_mb = std::fs::metadata(&db)?.len() as f64 / 1e6;
    drop(conn);
    eprintln!(
        "bench serve: store {store_mb:.0} MB, {sessions} sessions; the longest has {messages} messages, \
         the nearest to 2,000 {near_2000_messages}"
    );

    let mut command = Command::new(&hindcast);
    command.args(["serve", "--port", "0", "--timezone", "UTC"]).env("HOME", &home).env("HINDCAST_DB", &db);
    let (running, port, link) = start(command)?;
    let host = format!("127.0.0.1:{port}");
    let (status, head, _) = get(port, &format!("/{link}"), &host, None)?;
    ensure!(status == 303, "signing in: {status}");
    let cookie = cookie_of(&head).context("a cookie")?;

    let last_page = (messages - 1).max(0);
    let pages: Vec<(&str, String, f64)> = vec![
        ("overview (30 days, by day)", "/".into(), 50.0),
        ("overview (all history, by day)", "/?since=all".into(), 50.0),
        ("sessions, first page", "/sessions".into(), 50.0),
        ("sessions, sorted by tokens", "/sessions?sort=tokens".into(), 50.0),
        ("sessions, sorted by messages", "/sessions?sort=messages".into(), 50.0),
        ("sessions, filtered by text", "/sessions?q=zebrafish".into(), 50.0),
        ("~2,000-message session, 1st page", format!("/session/{near_2000}"), 200.0),
        ("~2,000-message session, last page", format!("/session/{near_2000}?at={}", near_2000_messages - 1), 200.0),
        ("longest session, first page", format!("/session/{longest}"), 200.0),
        ("longest session, last page", format!("/session/{longest}?at={last_page}"), 200.0),
        ("search, a rare word", "/search?q=zebrafish_migration".into(), 100.0),
        ("search, a common word", "/search?q=parser".into(), 100.0),
    ];
    let runs = options.runs.max(5);
    let mut figures = Vec::new();
    eprintln!("{:<36} {:>10} {:>9} {:>10}", "page", "median ms", "target", "bytes");
    for (name, target, limit_ms) in &pages {
        let (status, _, body) = get(port, target, &host, Some(&cookie))?;
        let bytes = body.len();
        ensure!(status == 200, "{target}: {status}");
        let mut times = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            get(port, target, &host, Some(&cookie))?;
            times.push(started.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2].as_secs_f64() * 1e3;
        eprintln!(
            "{name:<36} {median:>10.1} {:>9} {bytes:>10}{}",
            format!("≤ {limit_ms:.0}"),
            if median <= *limit_ms { "" } else { "  over" }
        );
        figures.push(json!({
            "page": name, "target": target, "median_ms": median, "target_ms": limit_ms, "bytes": bytes,
            "runs_ms": times.iter().map(|time| time.as_secs_f64() * 1e3).collect::<Vec<_>>(),
        }));
    }
    let rss = peak_rss_mb(running.pid())?;
    eprintln!("server peak RSS {rss:.0} MB (target ≤ 100)");
    let out = options.out.clone().unwrap_or_else(|| {
        workspace_root().join(format!("target/bench/serve-{}MB.json", options.size_bytes / 1_000_000))
    });
    std::fs::create_dir_all(out.parent().context("an output directory")?)?;
    let document: Value = json!({
        "store_mb": store_mb, "sessions": sessions, "longest_session_messages": messages,
        "near_2000_session_messages": near_2000_messages,
        "pages": figures, "server_peak_rss_mb": rss,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&document)?)?;
    eprintln!("bench serve: wrote {}", out.display());
    Ok(())
}
