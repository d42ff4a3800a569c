//! The smoke suites: each runs the real binary in a fresh sandbox and fails when a promise breaks.

use anyhow::{Context, Result, ensure};
use hindcast_import::envelope::{EVENT_NAMES, MAX_LINE_BYTES, read_events};
use hindcast_store::StoreLock;
use serde_json::Value;

use super::{Binaries, Sandbox, tree_fingerprint};

pub const SUITES: &[(&str, super::Suite)] = &[
    ("list", list),
    ("plan", plan),
    ("flags", flags),
    ("dry_run", dry_run),
    ("lock", lock),
    ("failures", failures),
    ("envelope", envelope),
    ("query", query),
    ("idempotent", idempotent),
    ("backfill_claude_fixture", backfill_claude_fixture),
    ("backfill_codex_fixture", backfill_codex_fixture),
    ("backfill_legacy_fixture", backfill_legacy_fixture),
    ("views", views),
    ("statusline", statusline),
    ("conventions", conventions),
    ("walkthrough_backfill_client_history", walkthrough_backfill_client_history),
];

fn provider<'a>(document: &'a Value, name: &str) -> Result<&'a Value> {
    document["providers"]
        .as_array()
        .context("a providers array")?
        .iter()
        .find(|entry| entry["name"] == name || entry["provider"] == name)
        .with_context(|| format!("provider {name} in {document}"))
}

/// `backfill list --json` lists every compiled-in provider with availability and roots.
fn list(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let document = sandbox.run(&binaries.hindcast, &["backfill", "list", "--json"])?.expect_code(0)?.json()?;
    ensure!(document["schema"] == "hindcast.providers/v1");
    let names: Vec<&str> =
        document["providers"].as_array().context("providers")?.iter().filter_map(|p| p["name"].as_str()).collect();
    ensure!(names == ["claude", "codex", "gemini", "legacy", "opencode"], "listed {names:?}");
    for name in ["claude", "codex", "gemini", "legacy", "opencode"] {
        let entry = provider(&document, name)?;
        ensure!(entry["available"] == false, "{name} must be unavailable in an empty home: {entry}");
        ensure!(!entry["roots"].as_array().context("roots")?.is_empty(), "{name} has roots");
    }
    ensure!(document["locations"]["db"].as_str().is_some_and(|db| db.ends_with("hindcast/hindcast.db")));

    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    let document = sandbox.run(&binaries.hindcast, &["backfill", "list", "--json"])?.expect_code(0)?.json()?;
    ensure!(provider(&document, "claude")?["available"] == true);
    ensure!(provider(&document, "codex")?["available"] == true);
    let root = &provider(&document, "claude")?["roots"][0];
    ensure!(root["origin"] == "CLAUDE_CONFIG_DIR" && root["exists"] == true, "claude root {root}");
    let human = sandbox.run(&binaries.hindcast, &["backfill", "list"])?.expect_code(0)?.stdout.clone();
    ensure!(human.contains("claude") && human.contains("Store:"), "human list:\n{human}");
    ensure!(!sandbox.db().exists(), "list never creates the store");
    Ok(())
}

/// `backfill plan` shows what a run would scan and writes nothing.
fn plan(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let claude = sandbox.install_fixture("claude/projects", ".claude/projects")?;
    let codex = sandbox.install_fixture("codex", ".codex")?;
    let before = (tree_fingerprint(&claude)?, tree_fingerprint(&codex)?);
    let document = sandbox.run(&binaries.hindcast, &["backfill", "plan", "--json"])?.expect_code(0)?.json()?;
    ensure!(document["schema"] == "hindcast.plan/v1");
    let claude_plan = provider(&document, "claude")?;
    ensure!(claude_plan["units"] == 5 && claude_plan["sources"] == 16, "one unit per project dir: {claude_plan}");
    let kinds = &claude_plan["files_by_kind"];
    ensure!(kinds["session"] == 11 && kinds["agent"] == 2 && kinds["subagent"] == 2, "classified: {claude_plan}");
    ensure!(kinds["not_transcript"] == 4, "notes, journal, tool-results and index are not transcripts: {claude_plan}");
    let codex_plan = provider(&document, "codex")?;
    let codex_kinds = &codex_plan["files_by_kind"];
    ensure!(codex_plan["units"] == 7 && codex_plan["sources"] == 11, "one unit per thread family: {codex_plan}");
    ensure!(
        codex_kinds["rollout_jsonl"] == 9 && codex_kinds["rollout_jsonl_zst"] == 1 && codex_kinds["rollout_json"] == 1,
        "{codex_plan}"
    );
    ensure!(codex_kinds["diagnostics"] == 2 && codex_plan["files_skipped"]["count"] == 1, "{codex_plan}");
    let not_selected = document["not_selected"].as_array().context("not_selected")?;
    ensure!(not_selected.iter().any(|entry| entry["provider"] == "legacy"), "legacy is reported as not selected");

    let windowed = sandbox.run(&binaries.hindcast, &["backfill", "plan", "claude", "--since", "1d", "--json"])?;
    let windowed = windowed.expect_code(0)?.json()?;
    ensure!(windowed["since"].is_string() && windowed["providers"].as_array().map(Vec::len) == Some(1));
    ensure!(!sandbox.db().exists() && !sandbox.events().exists(), "plan writes nothing");
    ensure!(before == (tree_fingerprint(&claude)?, tree_fingerprint(&codex)?), "sources unchanged");
    Ok(())
}

/// Invalid flags and names exit 2 with a message naming the problem, before creating anything.
fn flags(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let cases: &[(&[&str], &str)] = &[
        (&["backfill", "--since", "yesterday-ish"], "--since"),
        (&["backfill", "--until", "soon"], "--until"),
        (&["backfill", "--since", "2026-02-01", "--until", "2026-01-01"], "--since"),
        (
            &["backfill", "nosuch"],
            "unknown provider 'nosuch'; valid providers: claude, codex, gemini, legacy, opencode",
        ),
        (&["backfill", "plan", "nosuch"], "unknown provider 'nosuch'"),
        (&["backfill", "--from", "/definitely/not/here"], "--from /definitely/not/here"),
        (&["backfill", "--bogus-flag"], "--bogus-flag"),
        (&["query"], "no statement"),
    ];
    for (args, needle) in cases {
        sandbox.run(&binaries.hindcast, args)?.expect_code(2)?.expect_stderr(needle)?;
    }
    ensure!(!sandbox.data_dir().exists(), "usage errors create nothing");

    let config_dir = sandbox.home.join(".config/hindcast");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::write(config_dir.join("config.toml"), "[backfill]\nproviders = [\"claude\", \"nosuch\"]\n")?;
    sandbox.run(&binaries.hindcast, &["backfill"])?.expect_code(2)?.expect_stderr("unknown provider 'nosuch' (in ")?;
    std::fs::write(config_dir.join("config.toml"), "[backfill]\nretention_dayz = 3\n")?;
    sandbox.run(&binaries.hindcast, &["backfill"])?.expect_code(2)?.expect_stderr("invalid config")?;
    ensure!(!sandbox.data_dir().exists(), "config errors create nothing");
    Ok(())
}

/// `--dry-run` materializes in memory and never creates the store.
fn dry_run(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let run = sandbox.run(&binaries.testbed, &["backfill", "test-ok", "--dry-run", "--json"])?;
    let document = run.expect_code(0)?.json()?;
    ensure!(document["dry_run"] == true && document["db"].is_null());
    let ok = provider(&document, "test-ok")?;
    ensure!(ok["rows_materialized"]["total"] == 30 && ok["rows_written"]["total"] == 0, "{ok}");
    ensure!(!sandbox.db().exists(), "dry run created {}", sandbox.db().display());
    let human = sandbox.run(&binaries.hindcast, &["backfill", "--dry-run"])?.expect_code(0)?.stdout.clone();
    ensure!(human.contains("Dry run"), "human dry run:\n{human}");
    ensure!(!sandbox.db().exists(), "dry run created the store");
    Ok(())
}

/// A second writer exits 3 naming the holder's pid; a lock left by a dead process is no obstacle.
fn lock(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let held = StoreLock::acquire(&sandbox.db())?;
    let pid = std::process::id().to_string();
    sandbox
        .run(&binaries.testbed, &["backfill", "test-ok"])?
        .expect_code(3)?
        .expect_stderr(&format!("locked by another hindcast run (pid {pid})"))?;
    ensure!(!sandbox.db().exists(), "a locked-out run does not touch the store");
    sandbox.run(&binaries.testbed, &["backfill", "test-ok", "--dry-run"])?.expect_code(0)?;
    drop(held);

    // A stale lock file naming a process that died: the advisory lock went with it.
    std::fs::write(hindcast_store::lock_path(&sandbox.db()), "999999\n")?;
    sandbox.run(&binaries.testbed, &["backfill", "test-ok"])?.expect_code(0)?;

    // Two real runs at once: exactly the runs that found the lock free succeed; any other exits 3.
    let spawn = || {
        std::process::Command::new(&binaries.testbed)
            .args(["backfill", "test-large"])
            .env_clear()
            .env("HOME", &sandbox.home)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };
    let (first, second) = (spawn()?, spawn()?);
    let outputs = [first.wait_with_output()?, second.wait_with_output()?];
    for output in &outputs {
        let code = output.status.code();
        ensure!(code == Some(0) || code == Some(3), "concurrent run exited {code:?}");
        if code == Some(3) {
            ensure!(String::from_utf8_lossy(&output.stderr).contains("pid "), "exit 3 names the pid");
        }
    }
    ensure!(outputs.iter().any(|output| output.status.success()), "one of two concurrent runs succeeds");
    Ok(())
}

/// Each failure mode marks its provider failed and exits 1; other providers still write.
fn failures(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let cases = [
        ("test-no-materializer", "no materializer produces dataset 'tokens'"),
        ("test-mismatch", "dataset mismatch"),
        ("test-parse-fails", "scripted parse failure"),
        ("test-panics", "the parser panicked"),
    ];
    for (name, needle) in cases {
        let document =
            sandbox.run(&binaries.testbed, &["backfill", name, "test-ok", "--json"])?.expect_code(1)?.json()?;
        ensure!(document["status"] == "failed" && document["exit_code"] == 1);
        let failed = provider(&document, name)?;
        ensure!(failed["status"] == "failed", "{name}: {failed}");
        ensure!(failed["error"].as_str().is_some_and(|error| error.contains(needle)), "{name}: {failed}");
        ensure!(provider(&document, "test-ok")?["status"] == "ok", "the other provider still runs");
    }
    ensure!(sandbox.query_i64("SELECT count(*) FROM sessions WHERE client = 'test-ok'")? == 3);

    let human = sandbox.run(&binaries.testbed, &["backfill", "test-mismatch"])?.expect_code(1)?.stdout.clone();
    ensure!(human.contains("FAILED") && human.contains("dataset mismatch"), "human failure report:\n{human}");

    // Store write error: a size-capped store fills up mid-run.
    let mut full = Sandbox::new()?;
    full.run(&binaries.testbed, &["backfill", "test-ok"])?.expect_code(0)?;
    full.set_env("HINDCAST_TESTBED_MAX_PAGES", "110");
    let document = full.run(&binaries.testbed, &["backfill", "test-large", "--json"])?.expect_code(1)?.json()?;
    let large = provider(&document, "test-large")?;
    ensure!(large["error"].as_str().is_some_and(|error| error.contains("store write failed")), "{large}");
    let conn = hindcast_store::Store::open_read_only(&full.db())?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    ensure!(check == "ok", "integrity_check after a full disk: {check}");

    Ok(())
}

/// Every run appends the nine `backfill.*` events; `HINDCAST_EVENTS` moves or disables them.
fn envelope(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let document = sandbox.run(&binaries.testbed, &["backfill", "test-ok", "--json"])?.expect_code(0)?.json()?;
    let read = read_events(&sandbox.events())?;
    ensure!(read.corrupt_lines.is_empty() && !read.torn_last_line);
    let names: Vec<&str> = read.events.iter().filter_map(|event| event["event"].as_str()).collect();
    for name in EVENT_NAMES {
        ensure!(names.contains(&name), "{name} missing from {names:?}");
    }
    ensure!(read.events.iter().all(|event| event["run_id"] == document["run_id"]), "one run id");
    let finish = read.events.iter().find(|event| event["event"] == "backfill.provider_finish").context("finish")?;
    ensure!(finish["rows_written"] == provider(&document, "test-ok")?["rows_written"]["total"]);
    let text = std::fs::read_to_string(sandbox.events())?;
    ensure!(text.lines().all(|line| line.len() < MAX_LINE_BYTES), "every line under 4 KiB");
    ensure!(!text.contains(&sandbox.home.display().to_string()), "no paths in the envelope");

    let mut moved = Sandbox::new()?;
    let custom = moved.home.join("custom-events.jsonl");
    moved.set_env("HINDCAST_EVENTS", custom.display().to_string());
    moved.run(&binaries.testbed, &["backfill", "test-ok"])?.expect_code(0)?;
    ensure!(custom.is_file() && !moved.events().exists());
    let mut off = Sandbox::new()?;
    off.set_env("HINDCAST_EVENTS", "off");
    off.run(&binaries.testbed, &["backfill", "test-ok"])?.expect_code(0)?;
    ensure!(!off.events().exists(), "HINDCAST_EVENTS=off writes no events");
    Ok(())
}

/// `query` answers read-only SQL and refuses writes.
fn query(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    sandbox.run(&binaries.hindcast, &["query", "select 1"])?.expect_code(1)?.expect_stderr("no store at")?;
    ensure!(!sandbox.db().exists(), "query never creates the store");
    sandbox.run(&binaries.testbed, &["backfill", "test-ok"])?.expect_code(0)?;
    let document = sandbox
        .run(&binaries.hindcast, &["query", "select count(*) from sessions", "--json"])?
        .expect_code(0)?
        .json()?;
    ensure!(
        document["rows"][0][0] == 3
            && document["columns"][0] == "count(*)"
            && document["schema"] == "hindcast.query/v1",
        "{document}"
    );
    for statement in ["delete from session", "drop table session", "insert into meta values ('x', 'y')"] {
        sandbox.run(&binaries.hindcast, &["query", statement])?.expect_code(2)?.expect_stderr("read-only")?;
    }
    ensure!(sandbox.query_i64("select count(*) from sessions")? == 3, "writes were refused");
    let human = sandbox.run(&binaries.hindcast, &["query", "select client from sessions limit 1"])?;
    ensure!(human.expect_code(0)?.stdout.contains("test-ok"));
    Ok(())
}

/// A rerun reads nothing the sources manifest shows unchanged; a forced reparse writes zero rows;
/// provenance keeps the first run id.
fn idempotent(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let first = sandbox.run(&binaries.testbed, &["backfill", "test-ok", "--json"])?.expect_code(0)?.json()?;
    let second = sandbox.run(&binaries.testbed, &["backfill", "test-ok", "--json"])?.expect_code(0)?.json()?;
    ensure!(provider(&first, "test-ok")?["rows_written"]["total"] == 30);
    let rerun = provider(&second, "test-ok")?;
    ensure!(
        rerun["sources_unchanged"] == rerun["sources_seen"] && rerun["rows_materialized"]["total"] == 0,
        "an unchanged rerun parses nothing: {rerun}"
    );
    let third =
        sandbox.run(&binaries.testbed, &["backfill", "test-ok", "--reparse", "--json"])?.expect_code(0)?.json()?;
    let reparsed = provider(&third, "test-ok")?;
    ensure!(
        reparsed["rows_written"]["total"] == 0 && reparsed["rows_skipped"]["total"] == 30,
        "a reparse writes nothing: {reparsed}"
    );
    let conn = hindcast_store::Store::open_read_only(&sandbox.db())?;
    let first_runs: i64 = conn.query_row("SELECT count(DISTINCT first_run_id) FROM messages", [], |row| row.get(0))?;
    ensure!(first_runs == 1, "every row keeps the first run's id");
    let recorded: i64 = conn.query_row("SELECT count(*) FROM runs WHERE status = 'ok'", [], |row| row.get(0))?;
    ensure!(recorded == 3, "every run is recorded");
    Ok(())
}

/// The Claude fixtures import end to end: rows, links, usage and flags are queryable, the envelope
/// agrees with the JSON, a rerun writes nothing and the sources are untouched.
fn backfill_claude_fixture(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let projects = sandbox.install_fixture("claude/projects", ".claude/projects")?;
    let before = tree_fingerprint(&projects)?;
    let document = sandbox.run(&binaries.hindcast, &["backfill", "claude", "--json"])?.expect_code(0)?.json()?;
    let claude = provider(&document, "claude")?;
    ensure!(claude["status"] == "ok" && claude["sessions_seen"] == 14, "{claude}");
    ensure!(claude["rows_written"]["sessions"] == 14, "{claude}");
    ensure!(claude["lines_skipped"]["count"] == 3, "the fixture's three bad lines: {claude}");
    let first_bad = claude["lines_skipped"]["first"][0]["path"].as_str().unwrap_or_default();
    ensure!(first_bad.ends_with("-fx-blocks/5e5e5e5e-0000-4000-8000-000000000010.jsonl"), "{first_bad}");
    ensure!(claude["records_skipped"]["count"] == 2, "the warmup agent and the snapshot-only file: {claude}");

    let links = |relationship: &str| {
        sandbox.query_i64(&format!("SELECT count(*) FROM sessions WHERE relationship = '{relationship}'"))
    };
    ensure!(links("continuation")? == 1 && links("fork")? == 1 && links("subagent")? == 4, "session links");
    let orphans = sandbox.query_i64(
        "SELECT count(*) FROM sessions WHERE parent_session_id IS NOT NULL AND parent_session_id NOT IN (SELECT session_id FROM sessions)",
    )?;
    ensure!(orphans == 0, "every parent link points at an imported session");
    ensure!(sandbox.query_i64("SELECT count(*) FROM messages WHERE is_compact_boundary")? == 1);
    ensure!(sandbox.query_i64("SELECT count(*) FROM messages WHERE is_compact_summary")? == 1);
    ensure!(
        sandbox.query_i64("SELECT count(DISTINCT usage_id) FROM usage")?
            == sandbox.query_i64("SELECT count(*) FROM usage")?
    );
    ensure!(sandbox.query_i64("SELECT sum(output_tokens) FROM usage WHERE native_id = 'msg_b1/req_b1'")? == 87);
    let stored_paths = sandbox.query_i64(&format!(
        "SELECT count(*) FROM sessions WHERE metadata LIKE '%{0}%' OR cwd LIKE '%{0}%'",
        sandbox.home.display()
    ))?;
    ensure!(stored_paths == 0, "no source path is stored");

    let read = read_events(&sandbox.events())?;
    let finish = read
        .events
        .iter()
        .find(|event| event["event"] == "backfill.provider_finish" && event["provider"] == "claude")
        .context("provider_finish event")?;
    ensure!(finish["rows_written"] == claude["rows_written"]["total"] && finish["lines_skipped"] == 3, "{finish}");

    let rerun =
        sandbox.run(&binaries.hindcast, &["backfill", "claude", "--reparse", "--json"])?.expect_code(0)?.json()?;
    let rerun = provider(&rerun, "claude")?;
    ensure!(
        rerun["rows_written"]["total"] == 0 && rerun["rows_updated"]["total"] == 0,
        "a reparse writes nothing: {rerun}"
    );
    let rerun = sandbox.run(&binaries.hindcast, &["backfill", "claude", "--json"])?.expect_code(0)?.json()?;
    let rerun = provider(&rerun, "claude")?;
    ensure!(
        rerun["sources_unchanged"] == rerun["sources_seen"] && rerun["rows_written"]["total"] == 0,
        "an unchanged rerun reads nothing: {rerun}"
    );

    let windowed =
        sandbox.run(&binaries.hindcast, &["backfill", "claude", "--since", "2026-05-01", "--dry-run", "--json"])?;
    let windowed = windowed.expect_code(0)?.json()?;
    let windowed = provider(&windowed, "claude")?;
    ensure!(windowed["items_outside_window"].as_u64().unwrap_or(0) > 0, "the window drops older messages: {windowed}");
    ensure!(before == tree_fingerprint(&projects)?, "sources are byte-identical, mtimes unchanged");
    Ok(())
}

/// The Codex fixtures (every generation, forks, sub-agents, zstd, paginated) import end to end.
fn backfill_codex_fixture(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let home = sandbox.install_fixture("codex", ".codex")?;
    let before = tree_fingerprint(&home)?;
    let document = sandbox.run(&binaries.hindcast, &["backfill", "codex", "--json"])?.expect_code(0)?.json()?;
    let codex = provider(&document, "codex")?;
    ensure!(
        codex["status"] == "ok" && codex["sessions_seen"] == 10 && codex["rows_written"]["sessions"] == 10,
        "{codex}"
    );
    ensure!(
        codex["files_skipped"]["count"] == 1 && codex["lines_skipped"]["count"] == 1,
        "archived copy, torn tail: {codex}"
    );
    ensure!(
        codex["warnings"].as_array().is_some_and(|w| w.iter().any(|w| w.as_str().unwrap_or("").contains("unlinked")))
    );
    let query = |sql: &str| sandbox.query_i64(sql);
    ensure!(query("SELECT count(*) FROM sessions WHERE relationship = 'fork'")? == 1);
    ensure!(query("SELECT count(*) FROM sessions WHERE relationship = 'subagent'")? == 2, "spawned and review");
    ensure!(query("SELECT count(DISTINCT json_extract(metadata, '$.format')) FROM sessions")? == 3, "G0, G1/G2, G3/G4");
    ensure!(query("SELECT sum(input_tokens) FROM usage")? == 11_200, "usage from cumulative deltas");
    ensure!(query("SELECT count(*) FROM messages WHERE identity_source = 'native'")? > 0, "native ids where present");
    ensure!(
        query("SELECT count(*) FROM messages WHERE is_injected AND role = 'user'")? > 0,
        "injected context flagged"
    );
    let parts_without_call = query(
        "SELECT count(*) FROM parts r WHERE r.kind = 'tool_result' AND NOT EXISTS \
         (SELECT 1 FROM parts c WHERE c.kind = 'tool_call' AND c.tool_call_id = r.tool_call_id)",
    )?;
    ensure!(parts_without_call == 0, "every tool result pairs with its call");
    let read = read_events(&sandbox.events())?;
    let finish = read
        .events
        .iter()
        .find(|event| event["event"] == "backfill.provider_finish" && event["provider"] == "codex")
        .context("provider_finish event")?;
    ensure!(finish["rows_written"] == codex["rows_written"]["total"], "{finish}");
    let rerun =
        sandbox.run(&binaries.hindcast, &["backfill", "codex", "--reparse", "--json"])?.expect_code(0)?.json()?;
    let rerun = provider(&rerun, "codex")?;
    ensure!(
        rerun["rows_written"]["total"] == 0 && rerun["rows_updated"]["total"] == 0,
        "rerun writes nothing: {rerun}"
    );
    ensure!(before == tree_fingerprint(&home)?, "sources are byte-identical, mtimes unchanged");
    Ok(())
}

/// The legacy fixture store imports read-only with notes; its resume ids link to the Claude and
/// Codex sessions whichever provider runs first; `--from` reads another store.
fn backfill_legacy_fixture(binaries: &Binaries) -> Result<()> {
    for legacy_first in [true, false] {
        let sandbox = Sandbox::new()?;
        let store = sandbox.install_fixture("legacy/home/.agent-orchestrator", ".agent-orchestrator")?;
        sandbox.install_fixture("legacy/home/code", "code")?;
        sandbox.install_fixture("claude/projects", ".claude/projects")?;
        sandbox.install_fixture("codex", ".codex")?;
        let before = tree_fingerprint(&store)?;
        let order: &[&str] = if legacy_first { &["legacy", "claude", "codex"] } else { &["claude", "codex", "legacy"] };
        for provider_name in order {
            let document =
                sandbox.run(&binaries.hindcast, &["backfill", provider_name, "--json"])?.expect_code(0)?.json()?;
            if *provider_name == "legacy" {
                let legacy = provider(&document, "legacy")?;
                ensure!(legacy["status"] == "ok" && legacy["rows_written"]["sessions"] == 9, "{legacy}");
                ensure!(legacy["lines_skipped"]["count"] == 2 && legacy["records_skipped"]["count"] == 1, "{legacy}");
                ensure!(legacy["import_notes"].as_array().is_some_and(|notes| notes.len() == 10), "{legacy}");
            }
        }
        let query = |sql: &str| sandbox.query_i64(sql);
        ensure!(query("SELECT count(*) FROM projects WHERE client = 'legacy'")? == 3);
        ensure!(query("SELECT count(*) FROM import_notes")? == 10);
        let links = query(
            "SELECT count(*) FROM session_links l JOIN sessions s ON s.session_id = l.session_id \
             WHERE s.client = 'legacy' AND l.direction = 'outgoing'",
        )?;
        ensure!(links == 2, "legacy→claude and legacy→codex resolve (legacy first: {legacy_first}), got {links}");
        let incoming = query(
            "SELECT count(*) FROM session_links l JOIN sessions s ON s.session_id = l.session_id \
             WHERE s.client IN ('claude', 'codex') AND l.direction = 'incoming'",
        )?;
        ensure!(incoming == 2, "the links read both ways, got {incoming}");
        let orchestrator = query(
            "SELECT count(*) FROM sessions WHERE native_id = 'shop_9f8e7d6c5b/sh-orchestrator' \
             AND json_extract(metadata, '$.project_orchestrator') AND json_extract(metadata, '$.activity_state') = 'idle'",
        )?;
        ensure!(orchestrator == 1, "the canonical orchestrator is the project's");
        let rerun =
            sandbox.run(&binaries.hindcast, &["backfill", "legacy", "--reparse", "--json"])?.expect_code(0)?.json()?;
        let rerun = provider(&rerun, "legacy")?;
        ensure!(
            rerun["rows_written"]["total"] == 0 && rerun["rows_updated"]["total"] == 0,
            "rerun writes nothing: {rerun}"
        );
        ensure!(before == tree_fingerprint(&store)?, "the legacy store is byte-identical, mtimes unchanged");
    }

    // --from reads a store elsewhere.
    let sandbox = Sandbox::new()?;
    let elsewhere = sandbox.home.join("old-store");
    std::fs::create_dir_all(elsewhere.join("projects/demo/sessions"))?;
    std::fs::write(elsewhere.join("config.yaml"), "projects: {}\n")?;
    std::fs::write(
        elsewhere.join("projects/demo/sessions/d-1.json"),
        "{\"status\":\"working\",\"agent\":\"codex\"}\n",
    )?;
    let from = elsewhere.display().to_string();
    let document =
        sandbox.run(&binaries.hindcast, &["backfill", "legacy", "--from", &from, "--json"])?.expect_code(0)?.json()?;
    let legacy = provider(&document, "legacy")?;
    ensure!(legacy["rows_written"]["sessions"] == 1 && legacy["roots"][0]["origin"] == "--from", "{legacy}");
    Ok(())
}

/// Sessions, lineage, daily stats and exports over a hermetic import of every fixture.
fn views(binaries: &Binaries) -> Result<()> {
    let mut sandbox = Sandbox::new()?;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    sandbox.install_fixture("legacy/home/.agent-orchestrator", ".agent-orchestrator")?;
    sandbox.install_fixture("legacy/home/code", "code")?;
    sandbox.run(&binaries.hindcast, &["sessions", "list"])?.expect_code(1)?.expect_stderr("no store at")?;
    sandbox.run(&binaries.hindcast, &["backfill"])?.expect_code(0)?;

    let listed =
        sandbox.run(&binaries.hindcast, &["sessions", "list", "--limit", "0", "--json"])?.expect_code(0)?.json()?;
    ensure!(
        listed["schema"] == "hindcast.sessions/v1" && listed["sessions"].as_array().map(Vec::len) == Some(33),
        "{listed}"
    );
    let claude = sandbox
        .run(&binaries.hindcast, &["sessions", "list", "--client", "claude", "--limit", "0", "--json"])?
        .json()?;
    ensure!(claude["sessions"].as_array().map(Vec::len) == Some(14));
    let human =
        sandbox.run(&binaries.hindcast, &["sessions", "list", "--format", "table"])?.expect_code(0)?.stdout.clone();
    ensure!(human.contains("Sessions, times in ") && human.contains("\n33 sessions\n"), "human list:\n{human}");
    let piped = sandbox.run(&binaries.hindcast, &["sessions", "list"])?;
    ensure!(
        piped.stdout.starts_with("started\tid\tclient\t") && piped.stderr.contains("33 sessions"),
        "{}",
        piped.stdout
    );
    let limited =
        sandbox.run(&binaries.hindcast, &["sessions", "list", "--limit", "5"])?.expect_code(0)?.stderr.clone();
    ensure!(limited.contains("showing 5 of 33 sessions"), "a limited list says how many there are:\n{limited}");

    let shown = sandbox
        .run(&binaries.hindcast, &["sessions", "show", "019c0000-0000-7000-8000-0000000000a1"])?
        .expect_code(0)?
        .stdout
        .clone();
    ensure!(shown.contains("Find the TODOs.") && shown.contains("-> shell_command"), "show:\n{shown}");
    let json = sandbox
        .run(&binaries.hindcast, &["sessions", "show", "019c0000-0000-7000-8000-0000000000a", "--json"])?
        .expect_code(0)?
        .json()?;
    ensure!(json["session"]["messages"].as_array().map(Vec::len) == Some(14), "show by unique prefix");
    // In the reader's zone, with a line for each day.
    let mut kolkata = Sandbox::at(sandbox.home.clone())?;
    kolkata.set_env("TZ", "Asia/Kolkata");
    let shown = kolkata.run(&binaries.hindcast, &["sessions", "show", "019c0000-0000-7000-8000-0000000000a"])?;
    shown.expect_code(0)?.expect_stdout("times:    Asia/Kolkata")?.expect_stdout("+05:30")?.expect_stdout("-- ")?;
    // On a terminal, through the pager ($PAGER); piped, or with --no-pager, not.
    kolkata.set_env("PAGER", "sed s/^/PAGED:/");
    let mut paged =
        Walkthrough::start(&kolkata, &binaries.hindcast, &["sessions", "show", "019c0000-0000-7000-8000-0000000000a"])?;
    paged.expect("PAGED:codex session")?;
    ensure!(paged.exit_code()? == 0);
    let mut direct = Walkthrough::start(
        &kolkata,
        &binaries.hindcast,
        &["sessions", "show", "019c0000-0000-7000-8000-0000000000a", "--no-pager"],
    )?;
    let printed = direct.session.exp_eof().context("reading the unpaged output")?;
    ensure!(printed.contains("codex session") && !printed.contains("PAGED:"), "--no-pager prints directly:\n{printed}");
    let piped = kolkata.run(&binaries.hindcast, &["sessions", "show", "019c0000-0000-7000-8000-0000000000a"])?;
    ensure!(!piped.stdout.contains("PAGED:"), "piped output is not paged");
    sandbox.run(&binaries.hindcast, &["sessions", "show", "019c0000"])?.expect_code(2)?.expect_stderr("matches")?;
    sandbox
        .run(&binaries.hindcast, &["sessions", "show", "nope"])?
        .expect_code(2)?
        .expect_stderr("no session matches 'nope'")?;

    let tree = sandbox.run(&binaries.hindcast, &["sessions", "tree"])?.expect_code(0)?.stdout.clone();
    // Every command shows a session by the same short id (12 digits of its id), which they all accept.
    for (relationship, client, native) in
        [("subagent", "claude", "9a9a9a9a"), ("continuation", "claude", "bbbbbbbb"), ("resumes", "claude", "aaaaaaaa")]
    {
        let conn = hindcast_store::Store::open_read_only(&sandbox.db())?;
        let id: String = conn
            .query_row(
                "SELECT substr(s.session_id, 1, 12) FROM sessions s WHERE s.client = ?1 AND s.native_id LIKE ?2 || '%' \
                 AND (s.relationship = ?3 OR ?3 = 'resumes') ORDER BY s.started_at LIMIT 1",
                [client, native, relationship],
                |row| row.get(0),
            )
            .with_context(|| format!("a {relationship} {client} session {native}…"))?;
        ensure!(tree.contains(&format!("{relationship}: {client} {id}")), "tree lacks {relationship} {id}:\n{tree}");
        sandbox
            .run(&binaries.hindcast, &["sessions", "show", &id])?
            .expect_code(0)?
            .expect_stdout(&format!("session {id}"))?;
        let listed = sandbox.run(&binaries.hindcast, &["sessions", "list", "--limit", "0"])?.stdout.clone();
        ensure!(listed.contains(&id), "list shows {id}");
    }
    ensure!(tree.contains("fork: codex "), "tree lacks the fork:\n{tree}");

    let daily = sandbox.run(&binaries.hindcast, &["stats", "daily", "--utc", "--json"])?.expect_code(0)?.json()?;
    ensure!(daily["report"]["zone"] == "UTC", "the zone is named: {daily}");
    let prompt_tokens = |usage: &serde_json::Value| -> i64 {
        ["input", "cache_read", "cache_write_5m", "cache_write_1h"]
            .iter()
            .map(|key| usage[key].as_i64().unwrap_or(0))
            .sum()
    };
    let total_prompt: i64 =
        daily["report"]["rows"].as_array().context("rows")?.iter().map(|row| prompt_tokens(&row["usage"])).sum();
    ensure!(total_prompt == sandbox.query_i64("SELECT sum(input_tokens) FROM usage")?, "stats equal the usage table");
    ensure!(prompt_tokens(&daily["report"]["total"]["usage"]) == total_prompt, "the Total row adds the days up");
    let window = sandbox
        .run(
            &binaries.hindcast,
            &["stats", "daily", "--utc", "--since", "2026-02-01", "--until", "2026-02-01", "--json"],
        )?
        .json()?;
    ensure!(window["report"]["rows"].as_array().map(Vec::len) == Some(1), "one whole day: {window}");
    let by_model = sandbox
        .run(&binaries.hindcast, &["stats", "daily", "--by", "model", "--timezone", "Asia/Kolkata", "--json"])?
        .expect_code(0)?
        .json()?;
    ensure!(by_model["report"]["zone"] == "Asia/Kolkata");
    ensure!(
        by_model["report"]["rows"].as_array().is_some_and(|rows| rows.iter().any(|row| row["models"]
            .as_array()
            .is_some_and(|models| models.iter().any(|model| model["model"] == "gpt-5-codex")))),
        "model rows under the days: {by_model}"
    );
    for report in [
        &["weekly", "--start-of-week", "sunday"][..],
        &["monthly", "--month-start-day", "15"],
        &["sessions"],
        &["projects"],
        &["blocks"],
    ] {
        let mut args = vec!["stats"];
        args.extend_from_slice(report);
        args.extend_from_slice(&["--format", "table"]);
        let text = sandbox.run(&binaries.hindcast, &args)?.expect_code(0)?.stdout.clone();
        ensure!(
            text.contains("Total") && text.contains("cache write: 5-minute"),
            "{report:?} has a Total row and the legend:\n{text}"
        );
    }
    sandbox
        .run(&binaries.hindcast, &["stats", "daily", "--timezone", "Mars/Olympus"])?
        .expect_code(2)?
        .expect_stderr("--timezone Mars/Olympus")?;
    sandbox
        .run(&binaries.hindcast, &["stats", "daily", "--since", "yesterday-ish"])?
        .expect_code(2)?
        .expect_stderr("--since")?;
    // A config an earlier release wrote keeps a retention window: every run names it.
    let config = sandbox.home.join(".config/hindcast/config.toml");
    std::fs::create_dir_all(config.parent().context("a config dir")?)?;
    std::fs::write(&config, "[backfill]\nretention_days = 3650\n")?;
    sandbox
        .run(&binaries.hindcast, &["backfill"])?
        .expect_code(0)?
        .expect_stderr("retention_days = 3650")?
        .expect_stderr("--since all")?;
    std::fs::remove_file(&config)?;
    let prices = sandbox.run(&binaries.hindcast, &["prices", "--json"])?.expect_code(0)?.json()?;
    ensure!(prices["price_table"].as_str().is_some_and(|table| table.starts_with("genai-prices")), "{prices}");
    sandbox.run(&binaries.hindcast, &["prices", "acme-coder-9"])?.expect_code(1)?.expect_stdout("unpriced")?;

    let out = sandbox.home.join("events.jsonl");
    let out_text = out.display().to_string();
    sandbox.run(&binaries.hindcast, &["export", "session-events", "--out", &out_text])?.expect_code(0)?;
    let first = std::fs::read(&out)?;
    sandbox.run(&binaries.hindcast, &["export", "session-events", "--out", &out_text])?.expect_code(0)?;
    ensure!(first == std::fs::read(&out)?, "re-export is byte-identical");
    ensure!(String::from_utf8_lossy(&first).lines().count() == 33);
    let key = std::fs::read_to_string(sandbox.data_dir().join("export.key"))?;
    ensure!(key.trim().len() == 64, "the export key is 32 bytes of hex in the data directory");
    ensure!(!String::from_utf8_lossy(&first).contains(key.trim()), "the key is never exported");
    ensure!(!sandbox.home.join(".config/hindcast/config.toml").exists(), "exports write no config");
    let batch = sandbox
        .run(&binaries.hindcast, &["export", "daily-activity", "--format", "posthog"])?
        .expect_code(0)?
        .json()?;
    ensure!(batch["historical_migration"] == true && batch["batch"][0]["event"] == "install_inferred", "{batch}");
    sandbox.set_env("DO_NOT_TRACK", "1");
    sandbox
        .run(&binaries.hindcast, &["export", "daily-activity", "--format", "posthog"])?
        .expect_code(2)?
        .expect_stderr("DO_NOT_TRACK")?;
    Ok(())
}

/// Drives `hindcast init` in a pseudo-terminal (numbered prompts, as on a simple terminal).
struct Walkthrough {
    session: rexpect::session::PtySession,
}

impl Walkthrough {
    fn start(sandbox: &Sandbox, binary: &std::path::Path, args: &[&str]) -> Result<Self> {
        let mut command = sandbox.command(binary, args);
        command.env("TERM", "dumb");
        let session = rexpect::session::spawn_command(command, Some(20_000)).context("starting init in a pty")?;
        Ok(Self { session })
    }

    fn expect(&mut self, text: &str) -> Result<()> {
        self.session.exp_string(text).map(|_| ()).with_context(|| format!("waiting for {text:?}"))
    }

    fn answer(&mut self, text: &str) -> Result<()> {
        self.session.send_line(text).map(|_| ()).context("answering")
    }

    fn exit_code(self) -> Result<i32> {
        match self.session.process().wait().context("waiting for init")? {
            rexpect::process::WaitStatus::Exited(_, code) => Ok(code),
            other => anyhow::bail!("init ended with {other:?}"),
        }
    }
}

/// `statusline`: Claude Code's payload in, one line out, exit 0 whatever the store's state; a
/// session's appended response is imported by the call; calls share one run record and write
/// no envelope lines; Claude's rate limits are kept once per change.
fn statusline(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let hindcast = &binaries.hindcast;
    let session = "7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
    let payload = |transcript: &std::path::Path| {
        serde_json::json!({
            "session_id": session,
            "transcript_path": transcript,
            "model": { "id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5\u{1b}[31m" },
            "rate_limits": { "five_hour": { "used_percentage": 23.5, "resets_at": 1767268800 },
                             "seven_day": { "used_percentage": 41.0, "resets_at": 1767700800 } }
        })
        .to_string()
    };
    // No store yet: the fallback line, exit 0.
    let project = sandbox.install_fixture("claude/projects/-home-user-demo", ".claude/projects/-home-user-demo")?;
    let transcript = project.join(format!("{session}.jsonl"));
    let line = sandbox.run_with_stdin(hindcast, &["statusline"], payload(&transcript).as_bytes())?;
    line.expect_code(0)?.expect_stdout("no store yet")?;
    ensure!(!line.stdout.contains('\u{1b}'), "the model name reaches the terminal escaped: {:?}", line.stdout);
    // Garbage in: still a line.
    sandbox.run_with_stdin(hindcast, &["statusline"], b"\x00not json")?.expect_code(0)?.expect_stdout("hindcast")?;

    sandbox.run(hindcast, &["backfill"])?.expect_code(0)?;
    let runs = sandbox.query_i64("SELECT count(*) FROM runs")?;
    let events = std::fs::read(sandbox.events()).unwrap_or_default();
    let usage_before = sandbox.query_i64("SELECT count(*) FROM usage")?;
    // The session appends a response (a new message id).
    let appended = r#"{"parentUuid":null,"isSidechain":false,"type":"assistant","cwd":"/home/user/demo","sessionId":"7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f","version":"2.1.38","message":{"id":"msg_statusline_1","model":"claude-sonnet-4-5-20250929","role":"assistant","content":[{"type":"text","text":"done"}],"usage":{"input_tokens":1000,"output_tokens":1000,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}},"requestId":"req_statusline_1","uuid":"99999999-1111-4111-8111-111111111111","timestamp":"2026-01-02T10:30:00.000Z"}"#;
    let mut text = std::fs::read_to_string(&transcript)?;
    text.push_str(appended);
    text.push('\n');
    std::fs::write(&transcript, text)?;
    for _ in 0..3 {
        let line = sandbox.run_with_stdin(hindcast, &["statusline"], payload(&transcript).as_bytes())?;
        line.expect_code(0)?.expect_stdout("session $")?.expect_stdout("5h 24% 7d 41%")?;
        ensure!(line.stdout.lines().count() == 1, "one line: {:?}", line.stdout);
    }
    ensure!(sandbox.query_i64("SELECT count(*) FROM usage")? == usage_before + 1, "the appended response is imported");
    // 1,000 input and 1,000 output tokens of Sonnet 4.5 in January 2026: $0.003 + $0.015.
    ensure!(
        sandbox.query_i64(
            "SELECT CAST(round(cost_usd * 1000) AS INTEGER) FROM usage WHERE native_id LIKE 'msg_statusline_1%'"
        )? == 18
    );
    ensure!(sandbox.query_i64("SELECT count(*) FROM runs")? == runs + 1, "one shared run record for every call");
    ensure!(std::fs::read(sandbox.events()).unwrap_or_default() == events, "no envelope lines");
    ensure!(sandbox.query_i64("SELECT count(*) FROM rate_limit WHERE client = 'claude'")? == 2, "a reading per change");

    // The store held by a backfill: the line from what is committed, "store busy".
    let lock = StoreLock::acquire(&sandbox.db())?;
    sandbox
        .run_with_stdin(hindcast, &["statusline"], payload(&transcript).as_bytes())?
        .expect_code(0)?
        .expect_stdout("store busy")?;
    drop(lock);
    // Run by hand (no payload): today's cost.
    sandbox.run(hindcast, &["statusline"])?.expect_code(0)?.expect_stdout("today $")?;
    Ok(())
}

/// `--version` names the commit and the providers; completions for every shell; `config
/// path|show`, and `HINDCAST_CONFIG` choosing the file (its directory left as the user has it).
fn conventions(binaries: &Binaries) -> Result<()> {
    let mut sandbox = Sandbox::new()?;
    let hindcast = &binaries.hindcast;
    let version = sandbox.run(hindcast, &["--version"])?.expect_code(0)?.stdout.clone();
    ensure!(
        version.starts_with("hindcast ") && version.contains("providers: claude, codex, gemini, legacy, opencode"),
        "{version}"
    );
    let commit = version.split(['(', ')']).nth(1).unwrap_or_default();
    ensure!(commit.len() == 12 || commit == "unknown", "the commit in {version:?}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = sandbox.run(hindcast, &["completions", shell])?.expect_code(0)?.stdout.clone();
        ensure!(script.contains("statusline") && script.contains("backfill"), "{shell} completions name the commands");
    }
    sandbox.run(hindcast, &["completions", "tcsh"])?.expect_code(2)?;
    let path = sandbox.run(hindcast, &["config", "path"])?.expect_code(0)?.stdout.clone();
    ensure!(path.trim().ends_with(".config/hindcast/config.toml"), "{path}");
    sandbox
        .run(hindcast, &["config", "show"])?
        .expect_code(0)?
        .expect_stdout("the defaults apply")?
        .expect_stdout("all history")?;
    let dotfiles = sandbox.home.join("dotfiles");
    std::fs::create_dir_all(&dotfiles)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dotfiles, std::fs::Permissions::from_mode(0o755))?;
    let chosen = dotfiles.join("hindcast.toml");
    std::fs::write(&chosen, "[backfill]\nretention_days = 30\n")?;
    sandbox.set_env("HINDCAST_CONFIG", chosen.display().to_string());
    let path = sandbox.run(hindcast, &["config", "path"])?.expect_code(0)?.stdout.clone();
    ensure!(path.trim() == chosen.display().to_string(), "{path}");
    sandbox.run(hindcast, &["config", "show"])?.expect_code(0)?.expect_stdout("the last 30 days")?;
    sandbox.run(hindcast, &["status"])?.expect_code(1)?.expect_stderr("no store")?;
    sandbox.install_fixture("codex", ".codex")?;
    sandbox.run(hindcast, &["backfill", "--since", "all"])?.expect_code(0)?;
    let status = sandbox.run(hindcast, &["status", "--json"])?.expect_code(0)?.json()?;
    ensure!(status["schema"] == "hindcast.status/v1" && status["last_run"]["status"] == "ok", "{status}");
    ensure!(
        status["clients"][0]["client"] == "codex" && status["clients"][0]["sessions"].as_i64() > Some(0),
        "{status}"
    );
    sandbox.run(hindcast, &["status"])?.expect_code(0)?.expect_stdout("Last import")?;
    // The fixtures are older than 30 days: the summary says what the window left out.
    sandbox
        .run(hindcast, &["backfill", "--reparse"])?
        .expect_code(0)?
        .expect_stderr("retention_days = 30")?
        .expect_stdout("outside the window were left out")?;
    let mode = std::fs::metadata(&dotfiles)?.permissions().mode() & 0o777;
    ensure!(mode == 0o755, "the directory of a config the user chose is left as it is ({mode:o})");
    Ok(())
}

fn walkthrough_sandbox() -> Result<Sandbox> {
    let sandbox = Sandbox::new()?;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    Ok(sandbox)
}

/// `hindcast init`: pick claude+codex, consent, summary; consent no; EOF at the first prompt;
/// `--yes` and `--dry-run` without a terminal.
fn walkthrough_backfill_client_history(binaries: &Binaries) -> Result<()> {
    let config = |sandbox: &Sandbox| sandbox.home.join(".config/hindcast/config.toml");

    // Pick both clients, all history, accept the import.
    let sandbox = walkthrough_sandbox()?;
    let mut walk = Walkthrough::start(&sandbox, &binaries.hindcast, &["init"])?;
    walk.expect("Which clients should hindcast import?")?;
    walk.expect("Numbers separated by commas")?;
    walk.answer("1,2")?;
    walk.expect("How much history to import")?;
    walk.answer("all")?;
    walk.expect("from claude, codex (all history) now? [Y/n]")?;
    walk.answer("")?;
    walk.expect("Next: `hindcast sessions list`")?;
    walk.expect("Keep importing automatically every hour")?;
    walk.answer("n")?;
    walk.expect("No schedule: history is imported when you run")?;
    ensure!(walk.exit_code()? == 0);
    ensure!(sandbox.query_i64("SELECT count(*) FROM sessions WHERE client = 'claude'")? == 14);
    ensure!(sandbox.query_i64("SELECT count(*) FROM sessions WHERE client = 'codex'")? == 10);
    let written = std::fs::read_to_string(config(&sandbox))?;
    ensure!(
        written.contains("\"claude\"") && written.contains("\"codex\"") && !written.contains("retention_days"),
        "{written}"
    );

    // Rerunning init shows the existing config and keeps it; the import is idempotent.
    let mut walk = Walkthrough::start(&sandbox, &binaries.hindcast, &["init"])?;
    walk.expect("Existing config")?;
    walk.expect("Change this configuration? [y/N]")?;
    walk.answer("")?;
    walk.expect("now? [Y/n]")?;
    walk.answer("y")?;
    walk.expect("Next:")?;
    walk.expect("Keep importing automatically every hour")?;
    walk.answer("y")?;
    walk.expect("Installed a systemd user timer")?;
    ensure!(walk.exit_code()? == 0);
    ensure!(sandbox.query_i64("SELECT count(*) FROM sessions")? == 24, "a rerun imports nothing twice");

    // Consent no: the config is written, nothing is imported.
    let sandbox = walkthrough_sandbox()?;
    let mut walk = Walkthrough::start(&sandbox, &binaries.hindcast, &["init"])?;
    walk.expect("Numbers separated by commas")?;
    walk.answer("2")?;
    walk.expect("How much history to import")?;
    walk.answer("30")?;
    walk.expect("now? [Y/n]")?;
    walk.answer("n")?;
    walk.expect("Nothing imported")?;
    ensure!(walk.exit_code()? == 0);
    ensure!(!sandbox.db().exists(), "consent no imports nothing");
    ensure!(std::fs::read_to_string(config(&sandbox))?.contains("retention_days = 30"));

    // EOF at the first prompt: exit 130, nothing written.
    let sandbox = walkthrough_sandbox()?;
    let mut walk = Walkthrough::start(&sandbox, &binaries.hindcast, &["init"])?;
    walk.expect("Numbers separated by commas")?;
    walk.session.send_control('d').context("sending EOF")?;
    ensure!(walk.exit_code()? == 130, "EOF cancels with 130");
    ensure!(!config(&sandbox).exists() && !sandbox.db().exists() && !sandbox.data_dir().exists(), "nothing written");

    // Ctrl-C at a prompt: exit 130, nothing written.
    let sandbox = walkthrough_sandbox()?;
    let mut walk = Walkthrough::start(&sandbox, &binaries.hindcast, &["init"])?;
    walk.expect("Numbers separated by commas")?;
    walk.answer("1,2")?;
    walk.expect("How much history to import")?;
    walk.session.send_control('c').context("sending Ctrl-C")?;
    ensure!(walk.exit_code()? == 130, "Ctrl-C cancels with 130");
    ensure!(!config(&sandbox).exists() && !sandbox.data_dir().exists(), "nothing written after Ctrl-C");

    // Without a terminal and without --yes: say what to run, change nothing.
    let sandbox = walkthrough_sandbox()?;
    let run = sandbox.run(&binaries.hindcast, &["init"])?;
    ensure!(run.expect_code(0)?.stdout.contains("hindcast init --yes"));
    ensure!(!config(&sandbox).exists() && !sandbox.data_dir().exists());

    // --dry-run --yes: no config, no store.
    sandbox.run(&binaries.hindcast, &["init", "--dry-run", "--yes", "--retention-days", "all"])?.expect_code(0)?;
    ensure!(!config(&sandbox).exists() && !sandbox.data_dir().exists(), "a dry run leaves nothing");

    // --yes imports both, and the summary matches `backfill --json` for the same window.
    let summary =
        sandbox.run(&binaries.hindcast, &["init", "--yes", "--retention-days", "all"])?.expect_code(0)?.stdout.clone();
    let twin = walkthrough_sandbox()?;
    let document = twin.run(&binaries.hindcast, &["backfill", "claude", "codex", "--json"])?.expect_code(0)?.json()?;
    for name in ["claude", "codex"] {
        let written = provider(&document, name)?["rows_written"]["total"].as_u64().context("rows written")?;
        let sources = provider(&document, name)?["sources_seen"].as_u64().context("sources")?;
        let row = summary
            .lines()
            .rev()
            .find(|line| line.starts_with(&format!("{name} ")))
            .with_context(|| format!("{name} row in\n{summary}"))?;
        let cells: Vec<String> = row.split_whitespace().map(|cell| cell.replace(',', "")).collect();
        ensure!(
            cells.contains(&written.to_string()) && cells.contains(&sources.to_string()),
            "{name}: {row} vs {written}/{sources}"
        );
    }
    ensure!(sandbox.query_i64("SELECT count(*) FROM sessions")? == twin.query_i64("SELECT count(*) FROM sessions")?);
    Ok(())
}
