//! Reliability suites: kill -9 at every failpoint and at timed moments, concurrent writers and
//! readers, sources that change under a run, hostile input, and store faults. Each compares the
//! store it ends with to a clean single run over the same files.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use hindcast_core::failpoint;
use hindcast_import::envelope::read_events;
use hindcast_testing::{CONTENT_TABLES, digests_of};
use serde_json::Value;

use super::{Binaries, PausedRun, Sandbox, copy_tree};
use crate::bench::generate;

/// Row count and content hash per table, run ids left out.
type Digests = BTreeMap<String, (usize, String)>;

/// Bytes of generated transcripts in the crash corpus, besides every fixture.
const CRASH_CORPUS_BYTES: u64 = 6_000_000;

/// The providers every run in these suites imports (named, so the testbed's scripted ones stay out).
const PROVIDERS: [&str; 5] = ["claude", "codex", "gemini", "legacy", "opencode"];

/// Where the testbed is killed: each failpoint, some at a later hit.
const KILL_POINTS: &[(&str, u64)] = &[
    (failpoint::UNIT_START, 3),
    (failpoint::CLAUDE_BETWEEN_PASSES, 4),
    (failpoint::ROWS_WRITTEN, 1),
    (failpoint::ROWS_WRITTEN, 25),
    (failpoint::COMMITTED, 1),
    (failpoint::MANIFEST_HALF_WRITTEN, 1),
    (failpoint::MANIFEST_HALF_WRITTEN, 9),
    (failpoint::DISCOVERED, 2),
    (failpoint::DISCOVERED, 3),
    (failpoint::BUILT_STORE_SYNCED, 1),
];

/// What a killed run starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// No store: the run is a first import, built beside the store's path and moved into place.
    NoStore,
    /// A store already holding the legacy history: the run writes into it in place.
    Existing,
}

impl Start {
    /// Empties the sandbox's data dir and, for `Existing`, imports the legacy history; returns
    /// the messages the store holds before the run.
    fn prepare(self, sandbox: &Sandbox, binaries: &Binaries) -> Result<usize> {
        reset_store(sandbox)?;
        if self == Start::Existing {
            sandbox.run(&binaries.hindcast, &["backfill", "legacy"])?.expect_code(0)?;
        }
        messages_now(sandbox)
    }

    /// What a run killed from this start may leave at the store's path. `finished_messages`: a
    /// kill at a timed moment may land after a first import moved its finished store into place
    /// (the process was still exiting); such a store must then be whole.
    fn check_after_kill(
        self,
        sandbox: &Sandbox,
        before: usize,
        in_first_transaction: bool,
        finished_messages: Option<usize>,
        what: &str,
    ) -> Result<usize> {
        let left = messages_now(sandbox)?;
        match self {
            Start::NoStore => ensure!(
                !sandbox.db().exists() || finished_messages == Some(left),
                "{what}: a killed first import left a store with {left} messages at its path (it appears only when finished)"
            ),
            Start::Existing => ensure!(
                !in_first_transaction || left == before,
                "{what}: a kill inside the first transaction changed the messages from {before} to {left} (only commits may stay)"
            ),
        }
        Ok(left)
    }
}

/// Messages in the sandbox's store (0 without a store), after checking its integrity.
fn messages_now(sandbox: &Sandbox) -> Result<usize> {
    if !sandbox.db().exists() {
        return Ok(0);
    }
    integrity_ok(sandbox)?;
    Ok(usize::try_from(sandbox.query_i64("select count(*) from messages")?)?)
}

/// Fractions of a clean run's wall time at which a plain `hindcast backfill` is killed.
const KILL_FRACTIONS: &[f64] = &[0.1, 0.3, 0.5, 0.7, 0.9];

fn backfill_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["backfill"];
    args.extend(PROVIDERS);
    args.extend(extra);
    args
}

/// Every fixture plus a few MB of generated Claude and Codex history.
fn corpus_sandbox(generated_bytes: u64) -> Result<Sandbox> {
    let sandbox = Sandbox::new()?;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    sandbox.install_fixture("gemini", ".gemini")?;
    sandbox.install_opencode()?;
    sandbox.install_fixture("legacy/home/.agent-orchestrator", ".agent-orchestrator")?;
    sandbox.install_fixture("legacy/home/code", "code")?;
    if generated_bytes > 0 {
        let generated = tempfile::tempdir()?;
        generate::generate(generated.path(), generated_bytes, 0xC4A5_4001)?;
        copy_tree(&generated.path().join("claude/projects"), &sandbox.home.join(".claude/projects"))?;
        copy_tree(&generated.path().join("codex/sessions"), &sandbox.home.join(".codex/sessions"))?;
    }
    Ok(sandbox)
}

fn store_digests(sandbox: &Sandbox) -> Result<Digests> {
    let mut tables = CONTENT_TABLES.to_vec();
    tables.push("sources");
    digests_of(&sandbox.db(), &tables).with_context(|| format!("reading {}", sandbox.db().display()))
}

fn expect_same_store(expected: &Digests, actual: &Digests, what: &str) -> Result<()> {
    let differing: Vec<String> = expected
        .iter()
        .filter(|(table, digest)| actual.get(*table) != Some(digest))
        .map(|(table, (rows, _))| format!("{table} ({rows} rows expected, {:?} found)", actual.get(table).map(|d| d.0)))
        .collect();
    ensure!(differing.is_empty(), "{what}: the store differs from a clean run in {}", differing.join(", "));
    Ok(())
}

fn integrity_ok(sandbox: &Sandbox) -> Result<()> {
    let conn = hindcast_store::Store::open_read_only(&sandbox.db())?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    ensure!(check == "ok", "integrity_check: {check}");
    super::search::index_matches_rows(&sandbox.db())
}

fn reset_store(sandbox: &Sandbox) -> Result<()> {
    if sandbox.data_dir().exists() {
        std::fs::remove_dir_all(sandbox.data_dir())?;
    }
    Ok(())
}

fn providers(document: &Value) -> Result<&Vec<Value>> {
    document["providers"].as_array().with_context(|| format!("a providers array in {document}"))
}

fn rows_written(document: &Value) -> Result<u64> {
    Ok(providers(document)?.iter().filter_map(|provider| provider["rows_written"]["total"].as_u64()).sum())
}

fn warnings(document: &Value) -> Result<Vec<String>> {
    Ok(providers(document)?
        .iter()
        .flat_map(|provider| provider["warnings"].as_array().cloned().unwrap_or_default())
        .filter_map(|warning| warning.as_str().map(str::to_string))
        .collect())
}

/// A clean import of the sandbox's sources into an empty store: its digests.
fn clean_run(sandbox: &Sandbox, binaries: &Binaries) -> Result<Digests> {
    reset_store(sandbox)?;
    sandbox.run(&binaries.hindcast, &backfill_args(&["--json"]))?.expect_code(0)?;
    integrity_ok(sandbox)?;
    store_digests(sandbox)
}

/// After a kill: the store (if the run got that far) is intact and readable; one rerun completes
/// the import to exactly the clean store, and a further full reparse writes nothing.
fn recover(sandbox: &Sandbox, binaries: &Binaries, expected: &Digests, what: &str) -> Result<()> {
    if sandbox.db().exists() {
        integrity_ok(sandbox).with_context(|| format!("{what}: right after the kill"))?;
        sandbox.run(&binaries.hindcast, &["query", "select count(*) from messages"])?.expect_code(0)?;
    }
    sandbox.run(&binaries.hindcast, &backfill_args(&["--json"]))?.expect_code(0)?;
    integrity_ok(sandbox).with_context(|| format!("{what}: after the rerun"))?;
    expect_same_store(expected, &store_digests(sandbox)?, what)?;
    let again = sandbox.run(&binaries.hindcast, &backfill_args(&["--reparse", "--json"]))?.expect_code(0)?.json()?;
    ensure!(rows_written(&again)? == 0, "{what}: a full reparse after recovery wrote rows");
    Ok(())
}

/// kill -9 at every failpoint (mid-parse, mid-transaction, right after a commit, mid-manifest
/// update, between providers, before a first import's store is moved into place), at timed
/// moments, and twice in a row, both during a first import and into an existing store: a killed
/// first import leaves no store, a killed import into a store keeps whole commits, and every rerun
/// ends with the clean store, integrity_check ok, no duplicate row, and an events log without a
/// torn line.
fn crash(binaries: &Binaries) -> Result<()> {
    let sandbox = corpus_sandbox(CRASH_CORPUS_BYTES)?;
    let expected = clean_run(&sandbox, binaries)?;
    reset_store(&sandbox)?;
    let started = Instant::now();
    let status = sandbox.command(&binaries.hindcast, &backfill_args(&[])).output()?.status;
    ensure!(status.success(), "a clean run failed: {status}");
    let clean_time = started.elapsed();
    let expected_messages = expected.get("messages").map_or(0, |digest| digest.0);
    let mut killed = 0;
    let mut at_failpoints = 0;
    let mut partial = 0;

    for &(point, nth) in KILL_POINTS {
        for start in [Start::NoStore, Start::Existing] {
            if point == failpoint::BUILT_STORE_SYNCED && start == Start::Existing {
                continue; // an existing store is written in place, never built
            }
            let what = format!("killed at {point}@{nth} ({start:?})");
            let before = start.prepare(&sandbox, binaries)?;
            PausedRun::start(&sandbox, &binaries.testbed, &backfill_args(&[]), point, nth)?.kill()?;
            killed += 1;
            at_failpoints += 1;
            let in_first_transaction = point == failpoint::ROWS_WRITTEN && nth == 1;
            let left = start.check_after_kill(&sandbox, before, in_first_transaction, None, &what)?;
            partial += usize::from(left < expected_messages);
            recover(&sandbox, binaries, &expected, &what)?;
        }
    }

    // Killed again while recovering from a kill, then once more after it finished.
    reset_store(&sandbox)?;
    PausedRun::start(&sandbox, &binaries.testbed, &backfill_args(&[]), failpoint::ROWS_WRITTEN, 10)?.kill()?;
    PausedRun::start(&sandbox, &binaries.testbed, &backfill_args(&[]), failpoint::MANIFEST_HALF_WRITTEN, 2)?.kill()?;
    killed += 2;
    recover(&sandbox, binaries, &expected, "killed twice in a row")?;

    for (index, fraction) in KILL_FRACTIONS.iter().enumerate() {
        let start = if index % 2 == 0 { Start::NoStore } else { Start::Existing };
        let what = format!("killed at {:.0}% of a clean run ({start:?})", fraction * 100.0);
        let before = start.prepare(&sandbox, binaries)?;
        let mut child = sandbox
            .command(&binaries.hindcast, &backfill_args(&[]))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        std::thread::sleep(clean_time.mul_f64(*fraction));
        if child.try_wait()?.is_none() {
            child.kill()?;
            killed += 1;
            child.wait()?;
            let left = start.check_after_kill(&sandbox, before, false, Some(expected_messages), &what)?;
            partial += usize::from(left < expected_messages);
        } else {
            child.wait()?;
        }
        recover(&sandbox, binaries, &expected, &what)?;
    }

    let events = read_events(&sandbox.events())?;
    ensure!(events.corrupt_lines.is_empty(), "events.jsonl has corrupt lines after kills: {:?}", events.corrupt_lines);
    eprintln!(
        "crash: {killed} runs killed ({} at failpoints, the rest at timed moments of a {clean_time:.1?} run; \
         first imports and imports into an existing store), {partial} of them leaving a partial import; \
         every rerun matched the clean store ({} tables, {expected_messages} messages)",
        at_failpoints + 2,
        expected.len(),
    );
    Ok(())
}

/// While one backfill holds an open write transaction: a second backfill exits 3 naming its pid,
/// `query`, `sessions list` and `stats daily` answer from the committed state (or, during a first
/// import, say the store is still being built); a killed holder's lock is taken over; eight runs
/// appending to one events.jsonl never interleave a line.
fn concurrency(binaries: &Binaries) -> Result<()> {
    let sandbox = corpus_sandbox(1_000_000)?;
    Start::Existing.prepare(&sandbox, binaries)?;
    let holder =
        PausedRun::start(&sandbox, &binaries.testbed, &backfill_args(&["--json"]), failpoint::ROWS_WRITTEN, 5)?;
    sandbox
        .run(&binaries.hindcast, &["backfill"])?
        .expect_code(3)?
        .expect_stderr(&format!("locked by another hindcast run (pid {})", holder.pid()))?;
    let during = sandbox
        .run(&binaries.hindcast, &["query", "select count(*) from messages", "--json"])?
        .expect_code(0)?
        .json()?["rows"][0][0]
        .as_i64()
        .context("a count")?;
    sandbox.run(&binaries.hindcast, &["sessions", "list", "--json"])?.expect_code(0)?.json()?;
    sandbox.run(&binaries.hindcast, &["stats", "daily", "--json"])?.expect_code(0)?.json()?;
    holder.resume()?.expect_code(0)?;
    let after = sandbox.query_i64("select count(*) from messages")?;
    ensure!(after > during, "readers saw {during} committed messages during the write and {after} after");

    // The holder dies with the lock: the next run takes it over (the kernel released the advisory
    // lock; the pid left in the lock file is only a name).
    reset_store(&sandbox)?;
    let holder = PausedRun::start(&sandbox, &binaries.testbed, &backfill_args(&[]), failpoint::ROWS_WRITTEN, 2)?;
    sandbox
        .run(&binaries.hindcast, &["query", "select count(*) from messages"])?
        .expect_code(1)?
        .expect_stderr("a first import is building it")?;
    let dead_pid = holder.pid();
    holder.kill()?;
    let lock_file = hindcast_store::lock_path(&sandbox.db());
    ensure!(std::fs::read_to_string(&lock_file)?.trim() == dead_pid.to_string(), "the dead holder's pid stays behind");
    sandbox.run(&binaries.hindcast, &backfill_args(&[]))?.expect_code(0)?;
    ensure!(std::fs::read_to_string(&lock_file)?.is_empty(), "the lock file is emptied on release");
    let db_dir = sandbox.db().parent().context("the store's directory")?.to_path_buf();
    let leftovers: Vec<String> = std::fs::read_dir(&db_dir)?
        .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|name| name.contains("-building"))
        .collect();
    ensure!(leftovers.is_empty(), "the killed build and its journal are gone: {leftovers:?}");

    // Concurrent appenders: dry runs take no lock, so all eight write events at once.
    let events_before = read_events(&sandbox.events())?.events.len();
    let children = (0..8)
        .map(|_| {
            sandbox
                .command(&binaries.hindcast, &backfill_args(&["--dry-run"]))
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for mut child in children {
        ensure!(child.wait()?.success(), "a concurrent dry run failed");
    }
    let events = read_events(&sandbox.events())?;
    ensure!(
        events.corrupt_lines.is_empty() && !events.torn_last_line,
        "interleaved events: {:?}",
        events.corrupt_lines
    );
    let starts = events.events[events_before..].iter().filter(|event| event["event"] == "backfill.start").count();
    ensure!(starts == 8, "{starts} of 8 concurrent runs logged their start");
    Ok(())
}

/// How a source file is changed while a run has it.
#[derive(Clone, Copy, Debug)]
enum Change {
    Append,
    Truncate,
    Replace,
    Delete,
    Unreadable,
}

impl Change {
    fn apply(self, path: &Path) -> Result<()> {
        match self {
            Change::Append => {
                let text = std::fs::read_to_string(path)?;
                let last = text.lines().last().context("a last line")?;
                let mut line: Value = serde_json::from_str(last)?;
                if let Some(uuid) = line.get("uuid").cloned() {
                    line["parentUuid"] = uuid;
                    line["uuid"] = Value::from("0a99e4d0-0000-4000-8000-00000000a99e");
                }
                use std::io::Write as _;
                let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
                writeln!(file, "{line}")?;
            }
            Change::Truncate => {
                let size = std::fs::metadata(path)?.len();
                std::fs::OpenOptions::new().write(true).open(path)?.set_len(size / 2)?;
            }
            Change::Replace => {
                let text = std::fs::read_to_string(path)?;
                let kept: Vec<&str> = text.lines().collect();
                let replacement = path.with_extension("replacement");
                std::fs::write(&replacement, format!("{}\n", kept[..kept.len() - 1].join("\n")))?;
                std::fs::rename(&replacement, path)?;
            }
            Change::Delete => std::fs::remove_file(path)?,
            Change::Unreadable => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000))?;
            }
        }
        Ok(())
    }

    /// What the warning of the run that saw the change may say about the file: between the two
    /// reads of a Claude project, either the second read notices (lines changed) or the manifest
    /// check after it does (the lines it needed were intact).
    fn warnings(self, point: &str) -> Vec<&'static str> {
        let after_the_read = match self {
            Change::Append => "was appended to while this run read it",
            Change::Truncate => "was truncated while this run read it",
            Change::Replace => "was replaced while this run read it",
            Change::Delete => "disappeared before it could be read",
            Change::Unreadable => "cannot be read",
        };
        if point == failpoint::CLAUDE_BETWEEN_PASSES {
            vec![after_the_read, "changed while it was read"]
        } else {
            vec![after_the_read]
        }
    }
}

/// A Claude session, a Codex rollout and (Claude only) a file between the two reads of its project
/// are appended to, truncated, replaced, deleted or made unreadable mid-run: the run finishes with a
/// warning naming the file, the next run converges to a clean import of the files as they are now.
fn changing_sources(binaries: &Binaries) -> Result<()> {
    const CLAUDE_FILE: &str = ".claude/projects/-home-user-demo/7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f.jsonl";
    const CODEX_FILE: &str =
        ".codex/sessions/2026/02/02/rollout-2026-02-02T09-00-00-019c0000-0000-7000-8000-0000000000f1.jsonl";
    let changes = [Change::Append, Change::Truncate, Change::Replace, Change::Delete, Change::Unreadable];
    let mut cases = Vec::new();
    // Providers run in order (claude, codex, legacy): the n-th discovery is the n-th provider's.
    for change in changes {
        cases.push((change, CLAUDE_FILE, failpoint::DISCOVERED, 1));
        cases.push((change, CODEX_FILE, failpoint::DISCOVERED, 2));
        if !matches!(change, Change::Unreadable) {
            cases.push((change, CLAUDE_FILE, failpoint::CLAUDE_BETWEEN_PASSES, 1));
        }
    }
    for &(change, file, point, nth) in &cases {
        let what = format!("{change:?} {file} at {point}");
        let mut sandbox = corpus_sandbox(0)?;
        if matches!(change, Change::Unreadable) {
            sandbox.run_unprivileged()?;
        }
        let path = sandbox.home.join(file);
        let unit = if point == failpoint::CLAUDE_BETWEEN_PASSES { "-home-user-demo" } else { "" };
        let args = backfill_args(&["--json"]);
        let paused = PausedRun::start_in(&sandbox, &binaries.testbed, &args, point, nth, unit)?;
        change.apply(&path)?;
        let run = paused.resume()?;
        let document = run.expect_code(0).with_context(|| what.clone())?.json()?;
        let file_name = path.file_name().context("a file name")?.to_string_lossy().into_owned();
        let warned = warnings(&document)?
            .iter()
            .any(|warning| warning.contains(&file_name) && change.warnings(point).iter().any(|w| warning.contains(w)));
        ensure!(warned, "{what}: no warning naming the file; warnings: {:?}", warnings(&document)?);

        let rerun = sandbox.run(&binaries.hindcast, &backfill_args(&["--json"]))?.expect_code(0)?.json()?;
        if matches!(change, Change::Unreadable) {
            ensure!(
                warnings(&rerun)?.iter().any(|warning| warning.contains("cannot be read")),
                "{what}: still unreadable"
            );
        }
        integrity_ok(&sandbox)?;
        let converged = store_digests(&sandbox)?;
        let clean = clean_run(&sandbox, binaries)?;
        expect_same_store(&clean, &converged, &what)?;
    }
    eprintln!("changing_sources: {} mid-run changes, each warned and converged", cases.len());
    Ok(())
}

/// Hostile files and trees: BOM and CRLF, invalid UTF-8, NUL bytes, deep nesting, a torn last line,
/// a 100 MB line, a file name with a newline, symlink loops, aliases and links out of the root, a
/// FIFO, and a directory of 20,000 sessions. Every bad line is counted with file:line, every good
/// line imported, and memory stays bounded.
fn hostile_input(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let projects = sandbox.home.join(".claude/projects");
    let project = projects.join("-home-hostile");
    std::fs::create_dir_all(&project)?;
    let mut rng = generate::Rng::new(0x0405_711E);
    let session = |rng: &mut generate::Rng| {
        let id = rng.uuid();
        let text = generate::claude_session(rng, &id, 6_000, 0, false);
        (id, text)
    };

    let (_, text) = session(&mut rng);
    let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
    std::fs::write(project.join(format!("{}.jsonl", rng.uuid())), crlf)?;

    let (broken_id, text) = session(&mut rng);
    let good: Vec<&str> = text.lines().collect();
    let mut broken = Vec::new();
    broken.extend_from_slice(good[0].as_bytes());
    broken.extend_from_slice(b"\n{\"type\":\"user\",\"message\":\"\xff\xfe\"}\n");
    broken.extend_from_slice(b"{\"type\":\"user\",\0\"uuid\":\"x\"}\n");
    broken.extend_from_slice(format!("{}{}\n", "[".repeat(200_000), "]".repeat(200_000)).as_bytes());
    broken.extend_from_slice(b"[\"not an object\"]\n");
    for line in &good[1..] {
        broken.extend_from_slice(line.as_bytes());
        broken.push(b'\n');
    }
    broken.extend_from_slice(b"{\"type\":\"assistant\",\"torn");
    let broken_name = format!("{broken_id}.jsonl");
    std::fs::write(project.join(&broken_name), &broken)?;

    let (huge_id, text) = session(&mut rng);
    let first: Value = serde_json::from_str(text.lines().next().context("a first line")?)?;
    let mut huge_line = first.clone();
    huge_line["uuid"] = Value::from(rng.uuid());
    huge_line["parentUuid"] = first["uuid"].clone();
    huge_line["message"] = serde_json::json!({"role": "user", "content": "y".repeat(100 * 1024 * 1024)});
    std::fs::write(project.join(format!("{huge_id}.jsonl")), format!("{text}{huge_line}\n"))?;

    let (newline_id, text) = session(&mut rng);
    let newline_name = "line\nbreak.jsonl";
    std::fs::write(project.join(newline_name), format!("{text}{{not json}}\n"))?;

    let outside = sandbox.home.join("moved-to-another-disk");
    std::fs::create_dir_all(&outside)?;
    let (moved_id, text) = session(&mut rng);
    std::fs::write(outside.join(format!("{moved_id}.jsonl")), text)?;
    std::os::unix::fs::symlink(&outside, projects.join("-home-moved"))?;
    std::os::unix::fs::symlink(&project, project.join("loop"))?;
    std::os::unix::fs::symlink(project.join(&broken_name), project.join("zz-alias.jsonl"))?;
    ensure!(std::process::Command::new("mkfifo").arg(project.join("pipe.jsonl")).status()?.success(), "mkfifo");

    let many = projects.join("-home-many");
    std::fs::create_dir_all(&many)?;
    const MANY: usize = 20_000;
    for _ in 0..MANY {
        let id = rng.uuid();
        let line = format!(
            r#"{{"type":"user","sessionId":"{id}","uuid":"{}","parentUuid":null,"timestamp":"2026-03-01T10:00:00.000Z","cwd":"/home/many","message":{{"role":"user","content":"hello"}}}}"#,
            rng.uuid()
        );
        std::fs::write(many.join(format!("{id}.jsonl")), format!("{line}\n"))?;
    }

    let codex_day = sandbox.home.join(".codex/sessions/2026/03/01");
    std::fs::create_dir_all(&codex_day)?;
    let thread = rng.uuid();
    let rollout = generate::codex_rollout(&mut rng, &thread, 8_000, 0);
    let mut hostile_rollout = format!("\u{feff}{}", rollout.replace('\n', "\r\n")).into_bytes();
    hostile_rollout.extend_from_slice(b"{\"type\":\"response_item\",\"payload\":\xc3\x28}\r\n");
    hostile_rollout.extend_from_slice(format!("{}\n", "{\"a\":".repeat(50_000)).as_bytes());
    std::fs::write(codex_day.join(format!("rollout-2026-03-01T10-00-00-{thread}.jsonl")), hostile_rollout)?;

    let (run, peak_rss_kb) = sandbox.run_measured(&binaries.hindcast, &["backfill", "claude", "codex", "--json"])?;
    let document = run.expect_code(0)?.json()?;
    let claude = providers(&document)?.iter().find(|p| p["provider"] == "claude").context("claude")?;
    let codex = providers(&document)?.iter().find(|p| p["provider"] == "codex").context("codex")?;

    let skipped: Vec<String> = claude["lines_skipped"]["first"]
        .as_array()
        .context("skip locations")?
        .iter()
        .map(|location| format!("{}:{}", location["path"].as_str().unwrap_or(""), location["line"]))
        .collect();
    ensure!(claude["lines_skipped"]["count"] == 6, "claude lines_skipped: {}", claude["lines_skipped"]);
    for line in [2, 3, 4, 5, good.len() + 5] {
        let location = format!("{}:{line}", project.join(&broken_name).display());
        ensure!(skipped.contains(&location), "{location} not reported in {skipped:?}");
    }
    ensure!(codex["lines_skipped"]["count"] == 2, "codex lines_skipped: {}", codex["lines_skipped"]);

    let files_skipped = claude["files_skipped"]["first"].to_string();
    for needle in ["symlink loop", "not a regular file", "the same file as"] {
        ensure!(files_skipped.contains(needle), "files_skipped lacks {needle:?}: {files_skipped}");
    }
    let sessions =
        |native: &str| sandbox.query_i64(&format!("select count(*) from sessions where native_id = '{native}'"));
    ensure!(sessions(&moved_id)? == 1, "a session behind a symlink out of the root is imported");
    ensure!(sessions(&huge_id)? == 1 && sessions(&broken_id)? == 1, "the huge and the broken sessions are imported");
    let longest = sandbox.query_i64("select max(length(text)) from parts")?;
    ensure!(longest == 100 * 1024 * 1024, "the 100 MB line's text is stored whole ({longest} bytes)");
    ensure!(
        sandbox.query_i64("select count(*) from sessions where cwd = '/home/many'")? == MANY as i64,
        "all {MANY} sessions of the enormous directory are imported"
    );
    ensure!(sessions(&newline_id)? == 1, "the session in a file named with a newline is imported");
    ensure!(peak_rss_kb < 1536 * 1024, "peak RSS {} MB with a 100 MB line (bound: 1.5 GiB)", peak_rss_kb / 1024);

    let human = sandbox.run(&binaries.hindcast, &["backfill", "claude", "--reparse"])?;
    let printed = format!("{}{}", human.expect_code(0)?.stdout, human.stderr);
    ensure!(printed.contains("line\\nbreak.jsonl:"), "the file named with a newline is reported escaped:\n{printed}");
    ensure!(!printed.contains("line\nbreak"), "a newline in a file name is never printed raw");
    eprintln!(
        "hostile_input: 8 bad lines located, 3 bad entries counted, {MANY} files in one directory, \
         100 MB line stored, peak RSS {} MB",
        peak_rss_kb / 1024
    );
    Ok(())
}

/// Store faults: deleted between runs (a fresh store), deleted with its WAL left behind (refused),
/// replaced by garbage or another program's database (refused, untouched), written by a newer
/// hindcast (refused, never downgraded), and a full disk (exit 1, store valid, next run completes).
fn store_faults(binaries: &Binaries) -> Result<()> {
    let sandbox = corpus_sandbox(0)?;
    let expected = clean_run(&sandbox, binaries)?;

    // Deleted between runs: the next run builds a fresh store from the sources.
    std::fs::remove_file(sandbox.db())?;
    sandbox.run(&binaries.hindcast, &backfill_args(&[]))?.expect_code(0)?;
    expect_same_store(&expected, &store_digests(&sandbox)?, "after the store was deleted")?;

    // Deleted after a crash left committed pages in the WAL: refused, nothing touched.
    Start::Existing.prepare(&sandbox, binaries)?;
    PausedRun::start(&sandbox, &binaries.testbed, &backfill_args(&[]), failpoint::COMMITTED, 1)?.kill()?;
    let wal = sandbox.data_dir().join("hindcast.db-wal");
    ensure!(wal.is_file(), "a killed run leaves its WAL");
    std::fs::remove_file(sandbox.db())?;
    let wal_before = std::fs::read(&wal)?;
    sandbox
        .run(&binaries.hindcast, &backfill_args(&[]))?
        .expect_code(1)?
        .expect_stderr("is missing but its write-ahead log")?;
    ensure!(!sandbox.db().exists() && std::fs::read(&wal)? == wal_before, "the orphaned WAL is left as it was");
    sandbox.run(&binaries.hindcast, &["query", "select 1"])?.expect_code(1)?;

    // Replaced by something that is not a hindcast store.
    for (what, content) in [("garbage", b"this is not a database at all\n".repeat(200)), ("other app", foreign_db()?)] {
        reset_store(&sandbox)?;
        std::fs::create_dir_all(sandbox.data_dir())?;
        std::fs::write(sandbox.db(), &content)?;
        let run = sandbox.run(&binaries.hindcast, &backfill_args(&[]))?;
        run.expect_code(1)?.expect_stderr("not a hindcast store")?;
        ensure!(std::fs::read(sandbox.db())? == content, "{what}: the file was changed");
        sandbox.run(&binaries.hindcast, &["stats", "daily"])?.expect_code(1)?.expect_stderr("not a hindcast store")?;
    }

    // Written by a newer hindcast: refused by writers and readers, never downgraded.
    clean_run(&sandbox, binaries)?;
    {
        let conn = rusqlite::Connection::open(sandbox.db())?;
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'", [])?;
    }
    let before = std::fs::read(sandbox.db())?;
    for args in [backfill_args(&[]), vec!["sessions", "list"]] {
        sandbox.run(&binaries.hindcast, &args)?.expect_code(1)?.expect_stderr("newer than this hindcast supports")?;
    }
    ensure!(std::fs::read(sandbox.db())? == before, "a newer store is left byte-identical");

    // A full disk mid-run: exit 1 naming the cause, the store valid; with room again the import completes.
    reset_store(&sandbox)?;
    let mut full = corpus_sandbox(2_000_000)?;
    let full_expected = clean_run(&full, binaries)?;
    reset_store(&full)?;
    full.set_env("HINDCAST_TESTBED_MAX_PAGES", "105"); // 40 pages past an empty store: full while rows are written
    let document = full.run(&binaries.testbed, &backfill_args(&["--json"]))?.expect_code(1)?.json()?;
    let failed = providers(&document)?.iter().find(|p| p["status"] == "failed").context("a failed provider")?;
    ensure!(
        failed["error"].as_str().is_some_and(|error| error.contains("database or disk is full")),
        "the disk-full error names the cause: {failed}"
    );
    integrity_ok(&full)?;
    recover(&full, binaries, &full_expected, "after a full disk")?;
    Ok(())
}

/// A valid SQLite database of some other program.
fn foreign_db() -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine');",
    )?;
    drop(conn);
    Ok(std::fs::read(path)?)
}

/// The suites of this module, in the order CI runs them.
pub const SUITES: &[(&str, super::Suite)] = &[
    ("crash", crash),
    ("concurrency", concurrency),
    ("changing_sources", changing_sources),
    ("hostile_input", hostile_input),
    ("store_faults", store_faults),
];
