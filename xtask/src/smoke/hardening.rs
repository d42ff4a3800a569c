//! Hardening suites: private files under an ordinary umask (and another user who cannot read
//! them), upgrades of a store the previous release wrote, bounded `query` output, and terminal
//! escapes in transcripts shown visibly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use hindcast_testing::{CONTENT_TABLES, digests_of};

use hindcast_core::failpoint;

use super::{Binaries, PausedRun, Run, Sandbox};
use crate::workspace_root;

pub const SUITES: &[(&str, super::Suite)] =
    &[("privacy", privacy), ("upgrade", upgrade), ("bounded_query", bounded_query), ("escapes", escapes)];

/// A prompt with a planted secret, the kind people paste into their agents.
const SECRET: &str = "sk-ant-MKSECRETzq";

fn mode(path: &Path) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::symlink_metadata(path).with_context(|| path.display().to_string())?.permissions().mode() & 0o777)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?)
}

fn is_root() -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/self")?.uid() == 0)
}

/// The binary run under umask 022, the Debian default.
fn under_umask(sandbox: &Sandbox, binary: &Path, args: &[&str]) -> Result<Run> {
    let mut shell = vec!["-c", "umask 022 && exec \"$0\" \"$@\""];
    let binary = binary.to_str().context("a UTF-8 binary path")?;
    shell.push(binary);
    shell.extend_from_slice(args);
    sandbox.run(Path::new("/bin/sh"), &shell)
}

/// Every file and directory under `root`.
fn tree(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root) {
        found.push(entry?.path().to_path_buf());
    }
    Ok(found)
}

/// Under umask 022 and a 0755 HOME, every file hindcast creates (store, WAL, lock, envelope,
/// config, export key, exports, backups) is 0600 in 0700 directories, and another user cannot
/// read any of them (checked as `nobody`: CI runs as root, where this must not be skipped). A
/// store an earlier release left 0644 is tightened with a notice; a directory the user chose for
/// `--db` is left as it is; a reader works where the store's directory is read-only.
fn privacy(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    let project = sandbox.home.join(".claude/projects/-home-user-secret");
    std::fs::create_dir_all(&project)?;
    std::fs::write(
        project.join("5ec5ec5e-0000-4000-8000-00000000000a.jsonl"),
        format!(
            "{{\"type\":\"user\",\"sessionId\":\"5ec5ec5e-0000-4000-8000-00000000000a\",\"cwd\":\"/home/user/secret\",\"uuid\":\"5ec5ec5e-0000-4000-8000-0000000000a1\",\"timestamp\":\"2026-03-01T10:00:00.000Z\",\"message\":{{\"role\":\"user\",\"content\":\"deploy with {SECRET}\"}}}}\n"
        ),
    )?;
    for dir in [sandbox.home.parent().context("the sandbox root")?, sandbox.home.as_path()] {
        set_mode(dir, 0o755)?;
    }
    let exports = sandbox.home.join("exports");
    std::fs::create_dir_all(&exports)?;
    set_mode(&exports, 0o755)?;
    let hindcast = &binaries.hindcast;
    under_umask(&sandbox, hindcast, &["init", "--yes", "--retention-days", "all"])?.expect_code(0)?;
    under_umask(&sandbox, hindcast, &["backfill"])?.expect_code(0)?;
    under_umask(&sandbox, hindcast, &["query", "select count(*) from messages"])?.expect_code(0)?;
    let events_out = exports.join("session-events.jsonl");
    let activity_out = exports.join("daily-activity.json");
    let backup = exports.join("store-backup.db");
    for args in [
        vec!["export", "session-events", "--out", events_out.to_str().context("UTF-8")?],
        vec!["export", "daily-activity", "--format", "posthog", "--out", activity_out.to_str().context("UTF-8")?],
        vec!["backup", backup.to_str().context("UTF-8")?],
    ] {
        under_umask(&sandbox, hindcast, &args)?.expect_code(0)?;
    }

    let data_dir = sandbox.data_dir();
    let config_dir = sandbox.home.join(".config/hindcast");
    for expected in ["hindcast.db", "hindcast.db.lock", "events.jsonl", "export.key"] {
        ensure!(data_dir.join(expected).is_file(), "{expected} was not created in {}", data_dir.display());
    }
    ensure!(config_dir.join("config.toml").is_file(), "init wrote no config");
    let mut created: Vec<PathBuf> = tree(&data_dir)?;
    created.extend(tree(&config_dir)?);
    for dir in [".local", ".local/share", ".config"] {
        created.push(sandbox.home.join(dir));
    }
    created.extend([events_out.clone(), activity_out.clone(), backup.clone()]);
    for path in &created {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        ensure!(mode(path)? == expected, "{} is {:o}, expected {expected:o}", path.display(), mode(path)?);
    }
    ensure!(mode(&exports)? == 0o755, "the exports directory the user made was changed");

    // Another user on the machine reads none of it.
    if is_root()? {
        for path in created.iter().filter(|path| path.is_file()) {
            let read = std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "cat"])
                .arg(path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .output()
                .context("setpriv (util-linux)")?;
            ensure!(
                !read.status.success() && !String::from_utf8_lossy(&read.stdout).contains(SECRET),
                "nobody could read {}",
                path.display()
            );
        }
    } else if std::env::var_os("CI").is_some() {
        bail!("the other-user check needs root (setpriv to nobody); CI must run it");
    } else {
        eprintln!("smoke privacy: not root, so the read-as-nobody check is left out");
    }

    // What an earlier release left readable is tightened, with a notice.
    set_mode(&sandbox.db(), 0o644)?;
    set_mode(&data_dir, 0o755)?;
    let run = sandbox.run(hindcast, &["sessions", "list"])?;
    run.expect_code(0)?.expect_stderr("private (0644 -> 0600)")?;
    ensure!(mode(&sandbox.db())? == 0o600 && mode(&data_dir)? == 0o700, "not tightened");

    // A directory the user chose is theirs.
    let chosen = sandbox.home.join("chosen");
    std::fs::create_dir_all(&chosen)?;
    set_mode(&chosen, 0o755)?;
    let chosen_db = chosen.join("x.db");
    under_umask(&sandbox, hindcast, &["--db", chosen_db.to_str().context("UTF-8")?, "backfill", "codex"])?
        .expect_code(0)?;
    ensure!(mode(&chosen)? == 0o755, "the chosen directory was changed");
    ensure!(mode(&chosen_db)? == 0o600, "a store in a chosen directory is {:o}", mode(&chosen_db)?);

    // A reader of a store whose directory it cannot write (reliability F10).
    if is_root()? {
        let shared = sandbox.home.join("shared");
        std::fs::create_dir_all(&shared)?;
        let copy = shared.join("copy.db");
        std::fs::copy(&backup, &copy)?;
        rusqlite::Connection::open(&copy)?.pragma_update(None, "journal_mode", "WAL")?;
        set_mode(&copy, 0o644)?;
        set_mode(&shared, 0o555)?;
        let run = sandbox.run(
            Path::new("setpriv"),
            &[
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                hindcast.to_str().context("UTF-8")?,
                "--db",
                copy.to_str().context("UTF-8")?,
                "query",
                "select count(*) > 0 from sessions",
            ],
        )?;
        set_mode(&shared, 0o755)?;
        run.expect_code(0)?;
        ensure!(run.stdout.contains('1'), "the read-only reader saw no sessions: {}", run.stdout);
    }
    Ok(())
}

/// Where the upgrade corpus lives: fixed, because a store's rows name their source paths (hashed),
/// and the store the previous release built must match the files the new one reads.
pub const UPGRADE_ROOT: &str = "/tmp/hindcast-upgrade-fixture";
/// The stores earlier releases built from the upgrade corpus (`cargo xtask upgrade-fixture`),
/// named by their schema version.
const UPGRADE_STORE: &str = "fixtures/upgrade/v6-store.sqlite";
const UPGRADE_STORE_V7: &str = "fixtures/upgrade/v7-store.sqlite";
const UPGRADE_STORE_V8: &str = "fixtures/upgrade/v8-store.sqlite";
const UPGRADE_STORE_V9: &str = "fixtures/upgrade/v9-store.sqlite";

/// The upgrade corpus's Claude project, its main session, and what every line of it shares.
const PROJECT: &str = ".claude/projects/-home-user-recorder";
const PARENT: &str = "7acd37a8-2745-4b58-a8a9-46164b22ad9e";
const ENVELOPE: &str = r#""userType":"external","cwd":"/home/user/recorder","sessionId":"7acd37a8-2745-4b58-a8a9-46164b22ad9e","version":"2.0.42","gitBranch":"main""#;

/// Writes the upgrade corpus at `root/home` as the previous release first read it: a Claude
/// project with a "warmup" agent file, a session with `{}` and type-only lines, a 0-byte and an
/// all-`{}` transcript, and a rollout with `{}` lines.
pub fn write_upgrade_corpus(root: &Path) -> Result<()> {
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    let home = root.join("home");
    let project = home.join(PROJECT);
    std::fs::create_dir_all(&project)?;
    let line = |fields: &str| format!("{{{ENVELOPE},{fields}}}");
    let parent = [
        line(
            r#""isSidechain":false,"parentUuid":null,"type":"user","message":{"role":"user","content":"record some audio"},"uuid":"a0000000-0000-4000-8000-000000000001","timestamp":"2025-11-17T23:50:06.000Z""#,
        ),
        line(
            r#""isSidechain":false,"parentUuid":"a0000000-0000-4000-8000-000000000001","type":"assistant","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_parent0001","role":"assistant","content":[{"type":"text","text":"Recording."}],"usage":{"input_tokens":10,"output_tokens":4}},"requestId":"req_parent0001","uuid":"a0000000-0000-4000-8000-000000000002","timestamp":"2025-11-17T23:50:09.000Z""#,
        ),
    ];
    std::fs::write(project.join(format!("{PARENT}.jsonl")), parent.join("\n") + "\n")?;
    // A 2.0.x startup probe: one assistant line, no user line.
    let warmup = line(
        r#""isSidechain":true,"agentId":"3430b97e","parentUuid":null,"type":"assistant","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_warmup0001","role":"assistant","content":[{"type":"text","text":"Ready to help."}],"usage":{"input_tokens":3,"cache_creation_input_tokens":1135,"output_tokens":166}},"requestId":"req_warmup0001","uuid":"b0000000-0000-4000-8000-000000000001","timestamp":"2025-11-17T23:50:08.000Z""#,
    );
    std::fs::write(project.join("agent-3430b97e.jsonl"), warmup + "\n")?;
    let session = "13131313-1313-4313-8313-131313131313";
    let mut lines = vec![format!(
        "{{\"type\":\"user\",\"sessionId\":\"{session}\",\"cwd\":\"/w\",\"message\":{{\"role\":\"user\",\"content\":\"hi\"}},\"uuid\":\"11111111-aaaa-4aaa-8aaa-000000000001\",\"timestamp\":\"2026-01-10T10:00:00.000Z\"}}"
    )];
    lines.extend(std::iter::repeat_n("{}".to_string(), 50));
    lines.push("{\"type\":\"weird\",\"timestamp\":\"2026-01-10T10:00:01.000Z\"}".into());
    std::fs::write(project.join(format!("{session}.jsonl")), lines.join("\n") + "\n")?;
    std::fs::write(project.join("22222222-2222-4222-8222-222222222222.jsonl"), "")?;
    std::fs::write(project.join("33333333-3333-4333-8333-333333333333.jsonl"), "{}\n{}\n")?;
    let rollouts = home.join(".codex/sessions/2026/01/11");
    std::fs::create_dir_all(&rollouts)?;
    std::fs::write(
        rollouts.join("rollout-2026-01-11T10-00-00-019c0000-0000-7000-8000-0000000beef1.jsonl"),
        concat!(
            r#"{"timestamp":"2026-01-11T10:00:00.000Z","type":"session_meta","payload":{"id":"019c0000-0000-7000-8000-0000000beef1","timestamp":"2026-01-11T10:00:00.000Z","cwd":"/w","originator":"codex_cli_rs","cli_version":"0.99.0"}}"#,
            "\n{}\n",
            r#"{"timestamp":"2026-01-11T10:00:01.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"two"}]}}"#,
            "\n{}\n"
        ),
    )?;
    Ok(())
}

/// The warmup agent file grows into a conversation (reliability F9).
pub fn grow_upgrade_corpus(root: &Path) -> Result<()> {
    use std::io::Write;
    let agent = root.join("home").join(PROJECT).join("agent-3430b97e.jsonl");
    let mut file = std::fs::OpenOptions::new().append(true).open(&agent)?;
    writeln!(
        file,
        "{{{ENVELOPE},\"isSidechain\":true,\"agentId\":\"3430b97e\",\"parentUuid\":\"b0000000-0000-4000-8000-000000000001\",\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":\"list the files\"}},\"uuid\":\"c0000000-0000-4000-8000-000000000001\",\"timestamp\":\"2025-11-18T10:00:00.000Z\"}}"
    )?;
    writeln!(
        file,
        "{{{ENVELOPE},\"isSidechain\":true,\"agentId\":\"3430b97e\",\"parentUuid\":\"c0000000-0000-4000-8000-000000000001\",\"type\":\"assistant\",\"message\":{{\"model\":\"claude-sonnet-4-5-20250929\",\"id\":\"msg_grown0001\",\"role\":\"assistant\",\"content\":[{{\"type\":\"text\",\"text\":\"index.html\"}}],\"usage\":{{\"input_tokens\":5,\"output_tokens\":3}}}},\"requestId\":\"req_grown0001\",\"uuid\":\"c0000000-0000-4000-8000-000000000002\",\"timestamp\":\"2025-11-18T10:00:01.000Z\"}}"
    )?;
    Ok(())
}

/// A session whose user lines are mostly what Claude Code writes itself (a slash command, its
/// output, a stop-hook summary) around one prompt a person typed: a release before 10 counted
/// every one of them as a prompt.
pub fn add_injected_session(root: &Path) -> Result<()> {
    let project = root.join("home").join(PROJECT);
    let session = "44444444-4444-4444-8444-444444444444";
    let line = |n: u32, parent: Option<u32>, content: &str, seconds: u32| {
        let parent = parent.map_or("null".to_string(), |p| format!("\"d0000000-0000-4000-8000-00000000000{p}\""));
        format!(
            "{{\"type\":\"user\",\"sessionId\":\"{session}\",\"cwd\":\"/home/user/recorder\",\"parentUuid\":{parent},\"message\":{{\"role\":\"user\",\"content\":{content}}},\"uuid\":\"d0000000-0000-4000-8000-00000000000{n}\",\"timestamp\":\"2026-01-12T10:00:0{seconds}.000Z\"}}"
        )
    };
    let lines = [
        line(
            1,
            None,
            r#""<command-name>/model</command-name>\n<command-message>model</command-message>\n<command-args></command-args>""#,
            0,
        ),
        line(2, Some(1), r#""<local-command-stdout>Set model to opus</local-command-stdout>""#, 1),
        line(3, Some(2), r#""play it back""#, 2),
        line(4, Some(3), r#"[{"type":"text","text":"Stop hook feedback:\n[~/.claude/stop.sh]: tests failed"}]"#, 3),
        line(
            5,
            Some(4),
            r#""<task-notification><task-id>1</task-id><status>completed</status></task-notification>""#,
            4,
        ),
    ];
    std::fs::write(project.join(format!("{session}.jsonl")), lines.join("\n") + "\n")?;
    Ok(())
}

/// `cargo xtask upgrade-fixture --previous BIN`: the store `BIN` (the previous release) builds
/// from the upgrade corpus, first as written, then after the agent file grew, compacted into
/// `fixtures/upgrade/v<its schema version>-store.sqlite`.
pub fn build_upgrade_fixture(previous: &Path) -> Result<()> {
    let root = Path::new(UPGRADE_ROOT);
    write_upgrade_corpus(root)?;
    let sandbox = Sandbox::at(root.join("home"))?;
    let db = root.join("store.db");
    let db_text = db.to_str().context("UTF-8")?;
    sandbox.run(previous, &["--db", db_text, "backfill"])?;
    grow_upgrade_corpus(root)?;
    add_injected_session(root)?;
    sandbox.run(previous, &["--db", db_text, "backfill"])?;
    let conn = rusqlite::Connection::open(&db)?;
    conn.execute_batch("PRAGMA journal_mode = DELETE; PRAGMA page_size = 1024; VACUUM;")?;
    let version: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0))?;
    drop(conn);
    let target = workspace_root().join(format!("fixtures/upgrade/v{version}-store.sqlite"));
    std::fs::create_dir_all(target.parent().context("a fixtures dir")?)?;
    std::fs::copy(&db, &target)?;
    println!("wrote {} ({} bytes)", target.display(), std::fs::metadata(&target)?.len());
    Ok(())
}

/// A store the previous release built from a corpus holding `{}` lines, empty transcripts and a
/// warmup agent file that grew, upgraded (a backup announced and kept) and backfilled, equals a
/// clean import; with its sources gone, the upgrade alone brings its rows to the same; a store
/// from a newer hindcast in rollback-journal mode is refused byte-identical (reliability F1).
fn upgrade(binaries: &Binaries) -> Result<()> {
    let root = Path::new(UPGRADE_ROOT);
    write_upgrade_corpus(root)?;
    grow_upgrade_corpus(root)?;
    let sandbox = Sandbox::at(root.join("home"))?;
    let fixture = workspace_root().join(UPGRADE_STORE);
    let hindcast = &binaries.hindcast;
    let path = |name: &str| root.join(name);
    let text = |path: &Path| path.to_str().map(str::to_string).context("UTF-8");

    std::fs::copy(&fixture, path("old.db"))?;
    std::fs::copy(&fixture, path("gone.db"))?;
    let upgraded = sandbox.run(hindcast, &["--db", &text(&path("old.db"))?, "backfill"])?;
    upgraded.expect_code(0)?.expect_stderr("keeping a copy of it first")?.expect_stderr("removed 55 messages")?;
    let backup = path("old.db.v6-backup");
    ensure!(mode(&backup)? == 0o600, "the backup is {:o}", mode(&backup)?);
    sandbox.run(hindcast, &["--db", &text(&path("clean.db"))?, "backfill"])?.expect_code(0)?;
    let mut tables = CONTENT_TABLES.to_vec();
    tables.push("sources");
    let clean = digests_of(&path("clean.db"), &tables)?;
    ensure!(digests_of(&path("old.db"), &tables)? == clean, "upgraded and backfilled differs from a clean import");
    let backed_up = digests_of(&backup, CONTENT_TABLES)?;
    ensure!(backed_up != digests_of(&path("old.db"), CONTENT_TABLES)?, "the backup holds the store as it was");

    // Killed while it converts the rows, or before the compacted copy takes the store's place:
    // the store and its backup open as they were left, and the next run completes the upgrade.
    // Compacted, the later migrations are the quick ones: the store is at the latest schema.
    let latest = hindcast_store::schema::LATEST_VERSION.to_string();
    for (point, left_at) in [(failpoint::UPGRADE_CONVERTED, "7"), (failpoint::UPGRADE_COMPACTED, latest.as_str())] {
        let killed = path("killed.db");
        for suffix in ["", "-wal", "-shm", ".v6-backup", "-compacting"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", killed.display()));
        }
        std::fs::copy(&fixture, &killed)?;
        PausedRun::start(&sandbox, &binaries.testbed, &["--db", &text(&killed)?, "backfill"], point, 1)?.kill()?;
        let version = |db: &Path| -> Result<String> {
            let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
            ensure!(check == "ok", "{}: {check}", db.display());
            Ok(conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0))?)
        };
        ensure!(version(&killed)? == left_at, "killed at {point}: the store is at schema {}", version(&killed)?);
        ensure!(version(&path("killed.db.v6-backup"))? == "6", "killed at {point}: the backup is the store as it was");
        sandbox.run(hindcast, &["--db", &text(&killed)?, "backfill"])?.expect_code(0)?;
        ensure!(!path("killed.db-compacting").exists(), "killed at {point}: the unfinished copy is removed");
        ensure!(
            digests_of(&killed, &tables)? == clean,
            "killed at {point}, then run again: differs from a clean import"
        );
    }

    // The store of the release before this one (schema 7), upgraded and backfilled, too.
    let v7 = path("v7.db");
    std::fs::copy(workspace_root().join(UPGRADE_STORE_V7), &v7)?;
    sandbox
        .run(hindcast, &["--db", &text(&v7)?, "backfill"])?
        .expect_code(0)?
        .expect_stderr("keeping a copy of it first")?;
    ensure!(path("v7.db.v7-backup").is_file(), "the schema-7 store is backed up");
    ensure!(
        digests_of(&v7, &tables)? == clean,
        "the schema-7 store, upgraded and backfilled, differs from a clean import"
    );

    // The store of the previous release (schema 8: no costs, daily rollups), upgraded in place
    // (priced from its rows) and backfilled: what a clean import holds, costs and rate limits too.
    let v8 = path("v8.db");
    std::fs::copy(workspace_root().join(UPGRADE_STORE_V8), &v8)?;
    std::fs::copy(workspace_root().join(UPGRADE_STORE_V8), path("gone-v8.db"))?;
    sandbox.run(hindcast, &["--db", &text(&v8)?, "backfill"])?.expect_code(0)?;
    ensure!(
        digests_of(&v8, &tables)? == clean,
        "the schema-8 store, upgraded and backfilled, differs from a clean import"
    );
    let priced = rusqlite::Connection::open(&v8)?.query_row(
        "SELECT count(*) FROM token_usage WHERE cost_nano_usd IS NULL",
        [],
        |row| row.get::<_, i64>(0),
    )?;
    ensure!(priced == 0, "{priced} usage rows of the upgraded store have no cost");

    // The sources are gone: the stored rows alone converge.
    let away = root.join("home-away");
    std::fs::rename(root.join("home"), &away)?;
    std::fs::create_dir_all(root.join("home"))?;
    let alone = sandbox.run(hindcast, &["--db", &text(&path("gone.db"))?, "backfill"]);
    let alone_v8 = sandbox.run(hindcast, &["--db", &text(&path("gone-v8.db"))?, "backfill"]);
    std::fs::remove_dir_all(root.join("home"))?;
    std::fs::rename(&away, root.join("home"))?;
    alone?.expect_code(0)?;
    alone_v8?.expect_code(0)?;
    // Rate limits are read from the sources only (no earlier release kept them).
    let kept: Vec<&str> = CONTENT_TABLES.iter().copied().filter(|table| *table != "rate_limit").collect();
    for gone in ["gone.db", "gone-v8.db"] {
        ensure!(
            digests_of(&path(gone), &kept)? == digests_of(&path("clean.db"), &kept)?,
            "{gone}: upgraded without its sources differs from a clean import"
        );
    }

    // The store of the previous release (schema 9), which counted what Claude Code writes into
    // user lines as prompts: upgraded and backfilled, and upgraded with its sources gone, it holds
    // what a clean import holds (one prompt in that session).
    add_injected_session(root)?;
    let clean_now = path("clean-v10.db");
    sandbox.run(hindcast, &["--db", &text(&clean_now)?, "backfill"])?.expect_code(0)?;
    let prompts = "SELECT sum(is_user_prompt) FROM message m JOIN session s ON s.session = m.session \
                   WHERE s.native_id = '44444444-4444-4444-8444-444444444444'";
    let prompts_in =
        |db: &Path| -> Result<i64> { Ok(rusqlite::Connection::open(db)?.query_row(prompts, [], |row| row.get(0))?) };
    ensure!(prompts_in(&clean_now)? == 1, "a clean import counts {} prompts", prompts_in(&clean_now)?);
    let v9 = path("v9.db");
    std::fs::copy(workspace_root().join(UPGRADE_STORE_V9), &v9)?;
    std::fs::copy(workspace_root().join(UPGRADE_STORE_V9), path("gone-v9.db"))?;
    ensure!(prompts_in(&v9)? == 5, "the schema-9 fixture counts {} prompts", prompts_in(&v9)?);
    sandbox
        .run(hindcast, &["--db", &text(&v9)?, "backfill"])?
        .expect_code(0)?
        .expect_stderr("keeping a copy of it first")?
        .expect_stderr("found 4 prompts the client wrote itself")?;
    ensure!(
        digests_of(&v9, &tables)? == digests_of(&clean_now, &tables)?,
        "the schema-9 store, upgraded and backfilled, differs from a clean import"
    );
    std::fs::rename(root.join("home"), &away)?;
    std::fs::create_dir_all(root.join("home"))?;
    let alone_v9 = sandbox.run(hindcast, &["--db", &text(&path("gone-v9.db"))?, "backfill"]);
    std::fs::remove_dir_all(root.join("home"))?;
    std::fs::rename(&away, root.join("home"))?;
    alone_v9?.expect_code(0)?;
    ensure!(
        digests_of(&path("gone-v9.db"), &kept)? == digests_of(&clean_now, &kept)?,
        "the schema-9 store upgraded without its sources differs from a clean import"
    );

    // A newer store in rollback-journal mode is left byte-identical.
    let newer = path("newer.db");
    std::fs::copy(path("clean.db"), &newer)?;
    rusqlite::Connection::open(&newer)?
        .execute_batch("PRAGMA journal_mode = DELETE; UPDATE meta SET value = '99' WHERE key = 'schema_version';")?;
    let before = std::fs::read(&newer)?;
    let refused = sandbox.run(hindcast, &["--db", &text(&newer)?, "backfill"])?;
    refused.expect_code(1)?.expect_stderr("newer than this hindcast supports")?;
    ensure!(std::fs::read(&newer)? == before, "a newer store was modified before it was refused");
    Ok(())
}

/// `query` streams: a never-ending row-returning CTE to /dev/null stays under 100 MB until its
/// `--timeout` stops it (exit 1, said); a 200 MB value prints in seconds; `--max-rows` says what
/// it left out; `--file` reads the statement.
fn bounded_query(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    sandbox.install_fixture("codex", ".codex")?;
    sandbox.run(&binaries.hindcast, &["backfill", "codex"])?.expect_code(0)?;
    let endless =
        "with recursive c(x) as (select 1 union all select x + 1 from c) select x, 'padding-padding-padding' from c";
    for mode in [None, Some("--json"), Some("--jsonl")] {
        let mut args = vec!["query", "--timeout", "3s"];
        args.extend(mode);
        args.push(endless);
        let rss_file = tempfile::NamedTempFile::new()?;
        let output = crate::with_peak_rss(&sandbox.command(&binaries.hindcast, &args), rss_file.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("starting /usr/bin/time (package `time`)")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(output.status.code() == Some(1), "{args:?}: exit {:?}: {stderr}", output.status.code());
        ensure!(stderr.contains("stopped by --timeout"), "{args:?}: {stderr}");
        let peak_kb = crate::read_peak_rss_kb(rss_file.path())?;
        ensure!(peak_kb < 100 * 1024, "{args:?}: peak RSS {peak_kb} KB (over 100 MB)");
        eprintln!("smoke bounded_query: {mode:?} stopped at 3 s, peak RSS {} MB", peak_kb / 1024);
    }

    // Rendering is linear in the cell's size (it was quadratic: a 200 MB cell took minutes). Two
    // sizes four times apart take about four times as long (a debug build; the release figure for
    // 200 MB is in docs/reliability.md).
    let mut seconds = Vec::new();
    for megabytes in [8, 32] {
        let started = Instant::now();
        let sql = format!("select printf('%.*c', {}, 'x') as cell", megabytes * 1_000_000);
        let output = sandbox
            .command(&binaries.hindcast, &["query", &sql])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output()?;
        ensure!(output.status.success(), "a {megabytes} MB cell: {}", String::from_utf8_lossy(&output.stderr));
        seconds.push(started.elapsed().as_secs_f64());
    }
    eprintln!("smoke bounded_query: an 8 MB cell printed in {:.1} s, a 32 MB cell in {:.1} s", seconds[0], seconds[1]);
    ensure!(seconds[1] < 8.0 * seconds[0].max(0.05), "rendering grows faster than the cell: {seconds:?}");

    let capped = sandbox.run(
        &binaries.hindcast,
        &["query", "--format", "table", "--max-rows", "2", "select value from json_each('[1,2,3,4,5]')"],
    )?;
    capped.expect_code(0)?;
    ensure!(capped.stdout.contains("(2 rows, and 3 more rows not printed"), "{}", capped.stdout);
    let statement = sandbox.home.join("q.sql");
    std::fs::write(&statement, "select count(*) as sessions from sessions")?;
    let from_file = sandbox.run(&binaries.hindcast, &["query", "--file", statement.to_str().context("UTF-8")?])?;
    from_file.expect_code(0)?;
    ensure!(from_file.stdout.starts_with("sessions"), "{}", from_file.stdout);
    let mut piped = sandbox
        .command(&binaries.hindcast, &["query", "-", "--jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        piped.stdin.take().context("stdin")?.write_all(b"select 42 as answer")?;
    }
    let output = piped.wait_with_output()?;
    ensure!(output.status.success(), "query - exited {:?}", output.status.code());
    ensure!(String::from_utf8_lossy(&output.stdout) == "{\"answer\":42}\n", "query - printed {:?}", output.stdout);
    Ok(())
}

/// Escape sequences in transcripts (a title change, a screen clear, colours; reliability F5) reach
/// no terminal: `sessions list`, `sessions show` and `query` show them visibly, `--json` exactly.
fn escapes(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let project = sandbox.home.join(".claude/projects/-home-user-x");
    std::fs::create_dir_all(&project)?;
    std::fs::write(
        project.join("55555555-5555-4555-8555-555555555555.jsonl"),
        "{\"type\":\"user\",\"cwd\":\"/home/user/\\u001b[31mRED\\u001b[0m\\u001b]0;pwned-title\\u0007/x\",\"sessionId\":\"55555555-5555-4555-8555-555555555555\",\"message\":{\"role\":\"user\",\"content\":\"title with \\u001b[2J clear-screen \\u202eevil\"},\"uuid\":\"11111111-aaaa-4aaa-8aaa-000000000001\",\"timestamp\":\"2026-01-10T10:00:00.000Z\"}\n",
    )?;
    sandbox.run(&binaries.hindcast, &["backfill", "claude"])?.expect_code(0)?;
    for args in [
        vec!["sessions", "list"],
        vec!["sessions", "show", "55555555"],
        vec!["query", "select text from parts"],
        vec!["query", "select cwd from sessions"],
    ] {
        let run = sandbox.run(&binaries.hindcast, &args)?;
        run.expect_code(0)?;
        ensure!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'), "{args:?} printed a raw escape");
        ensure!(!run.stdout.contains('\u{202e}'), "{args:?} printed a raw bidi override");
        ensure!(run.stdout.contains("\\e["), "{args:?} does not show the escape: {}", run.stdout);
    }
    let json = sandbox.run(&binaries.hindcast, &["query", "--json", "select text from parts"])?;
    json.expect_code(0)?;
    let document: serde_json::Value = json.json()?;
    ensure!(
        document["rows"][0][0].as_str() == Some("title with \u{1b}[2J clear-screen \u{202e}evil"),
        "--json is exact: {}",
        json.stdout
    );
    Ok(())
}
