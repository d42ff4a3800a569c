//! Smokes of what a person sees in their first hour: output that fits an 80- or 160-column
//! terminal and stays plain when piped.

use anyhow::{Context, Result, ensure};
use unicode_width::UnicodeWidthStr;

use super::{Binaries, Sandbox};

pub const SUITES: &[(&str, super::Suite)] = &[
    ("widths", widths),
    ("schedule", schedule),
    ("forget", forget),
    ("exclude", exclude),
    ("json_docs", json_docs),
    ("readme", readme),
    ("init_corpus", init_corpus),
];

/// "Now" of the report fixtures (inside their last 5-hour block).
const REPORTS_NOW: &str = "2026-03-08T19:00:00Z";

/// A sandbox holding the report fixtures and the Claude and Codex fixtures, imported.
fn imported_sandbox() -> Result<Sandbox> {
    let mut sandbox = Sandbox::new()?;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("reports/claude", ".claude-reports")?;
    sandbox.install_fixture("codex", ".codex")?;
    let claude =
        format!("{},{}", sandbox.home.join(".claude").display(), sandbox.home.join(".claude-reports").display());
    sandbox.set_env("CLAUDE_CONFIG_DIR", claude);
    sandbox.set_env("HINDCAST_NOW", REPORTS_NOW);
    sandbox.set_env("TZ", "UTC");
    sandbox.set_env("LANG", "C.UTF-8");
    sandbox.set_env("NO_COLOR", "1");
    Ok(sandbox)
}

/// Characters that belong on a terminal only.
const TERMINAL_ONLY: &[char] = &['─', '│', '┌', '┐', '└', '┘', '═', '╞', '…', '\u{1b}'];

/// At 80 and 160 columns no line is wider than the terminal and every id, date and total is
/// whole; piped, the same commands print no rules, ellipses or escapes, and data tables are
/// tab-separated with a header line.
fn widths(binaries: &Binaries) -> Result<()> {
    let mut sandbox = imported_sandbox()?;
    let hindcast = &binaries.hindcast;
    sandbox.run(hindcast, &["backfill", "--since", "all"])?.expect_code(0)?;
    let listed = sandbox.run(hindcast, &["sessions", "list", "--limit", "0"])?.expect_code(0)?.stdout.clone();
    let mut lines = listed.lines();
    let header: Vec<&str> = lines.next().context("a header line")?.split('\t').collect();
    ensure!(header[..3] == ["started", "id", "client"], "piped sessions list is TSV with a header: {header:?}");
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split('\t').collect()).collect();
    ensure!(rows.len() > 10 && rows.iter().all(|row| row.len() == header.len()), "every row has every column");
    let ids: Vec<&str> = rows.iter().map(|row| row[1]).collect();
    ensure!(ids.iter().all(|id| id.len() == 12), "short ids: {ids:?}");
    let first_id = ids[0].to_string();
    let daily = sandbox.run(hindcast, &["stats", "daily", "--json"])?.expect_code(0)?.json()?;
    let total_cost = daily["report"]["total"]["usage"]["cost_usd"].as_f64().context("a total cost")?;
    let total_text = format!("${total_cost:.2}");

    let data_commands: Vec<Vec<&str>> = vec![
        vec!["stats", "daily", "--by", "model"],
        vec!["stats", "weekly"],
        vec!["stats", "monthly"],
        vec!["stats", "sessions", "--by", "model"],
        vec!["stats", "projects"],
        vec!["stats", "blocks"],
        vec!["stats", "limits", "--history"],
        vec!["sessions", "list", "--limit", "0"],
        vec!["query", "select session_id, client, title, cwd from sessions"],
        vec!["search", "repository", "files"],
    ];
    let text_commands: Vec<Vec<&str>> = vec![
        vec!["sessions", "tree"],
        vec!["sessions", "show", &first_id, "--no-pager"],
        vec!["status"],
        vec!["backfill", "list"],
        vec!["backfill", "plan"],
        vec!["backfill"],
        vec!["prices"],
        vec!["config", "show"],
    ];
    for columns in [80u16, 160] {
        let mut seen = String::new();
        for args in data_commands.iter().chain(&text_commands) {
            let run = sandbox.run_in_pty(hindcast, args, columns)?;
            run.expect_code(0)?;
            for line in run.stdout.lines() {
                ensure!(
                    line.width() <= usize::from(columns),
                    "{}: a line of {} columns:\n{line}\n{}",
                    run.description,
                    line.width(),
                    run.stdout
                );
            }
            ensure!(!run.stdout.contains('\u{1b}'), "{}: NO_COLOR is honoured", run.description);
            seen.push_str(&run.stdout);
        }
        for id in &ids {
            ensure!(seen.contains(id), "id {id} is whole at {columns} columns");
        }
        for row in &rows {
            let day = row[0].get(..10).unwrap_or_default();
            ensure!(seen.contains(day), "date {day} is whole at {columns} columns");
        }
        ensure!(seen.contains(&total_text), "the total {total_text} is whole at {columns} columns");
    }
    for args in &data_commands {
        let run = sandbox.run(hindcast, args)?;
        run.expect_code(0)?;
        ensure!(!run.stdout.contains(TERMINAL_ONLY), "{}: piped output is plain:\n{}", run.description, run.stdout);
        let header = run.stdout.lines().next().unwrap_or_default();
        ensure!(header.contains('\t'), "{}: a TSV header line: {header:?}", run.description);
        let columns = header.split('\t').count();
        ensure!(
            run.stdout.lines().all(|line| line.split('\t').count() == columns),
            "{}: every row has the header's columns:\n{}",
            run.description,
            run.stdout
        );
    }
    for args in &text_commands {
        let run = sandbox.run(hindcast, args)?;
        run.expect_code(0)?;
        ensure!(!run.stdout.contains(TERMINAL_ONLY), "{}: piped output is plain:\n{}", run.description, run.stdout);
    }
    // In colour, search's highlights stay codes (never shown as `\e[`) and take no width.
    let coloured = sandbox.run_in_pty(hindcast, &["--color", "always", "search", "repository", "files"], 80)?;
    coloured.expect_code(0)?;
    ensure!(coloured.stdout.contains('\u{1b}') && !coloured.stdout.contains("\\e["), "{}", coloured.stdout);
    for line in coloured.stdout.lines() {
        let seen = console::strip_ansi_codes(line);
        ensure!(seen.width() <= 80, "search in colour: a line of {} columns:\n{seen}", seen.width());
    }
    let csv = sandbox.run(hindcast, &["stats", "daily", "--format", "csv"])?.expect_code(0)?.stdout.clone();
    ensure!(csv.starts_with("day,sessions,input,cache_write,cache_read,output,total,cost\r\n"), "{csv}");
    let asked = sandbox.run(hindcast, &["stats", "daily", "--format", "table"])?.expect_code(0)?.stdout.clone();
    ensure!(asked.contains('─') && asked.contains("Total"), "--format table piped is a table:\n{asked}");
    sandbox.set_env("LANG", "C");
    let run = sandbox.run_in_pty(hindcast, &["stats", "daily"], 80)?;
    ensure!(run.stdout.is_ascii() && run.stdout.contains("---"), "a C locale gets ASCII rules:\n{}", run.stdout);
    Ok(())
}

fn calls(sandbox: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sandbox.shims().join("calls.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn clear_calls(sandbox: &Sandbox) -> Result<()> {
    let _ = std::fs::remove_file(sandbox.shims().join("calls.log"));
    Ok(())
}

/// `schedule install|status|remove` against shimmed `systemctl`, `loginctl` and `crontab`: the
/// calls and the unit and crontab contents pinned; scheduled runs recorded, a failed or stale
/// one warned of by `status`; `init --yes` installs it.
fn schedule(binaries: &Binaries) -> Result<()> {
    let mut sandbox = Sandbox::new()?;
    let hindcast = &binaries.hindcast;
    sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.set_env("USER", "tester");
    sandbox.set_env("CODEX_HOME", "/nonexistent/codex home");
    let binary = hindcast.canonicalize()?;

    let installed = sandbox.run(hindcast, &["schedule", "install"])?;
    let installed = installed.expect_code(0).with_context(|| format!("calls: {:?}", calls(&sandbox)))?.stdout.clone();
    ensure!(installed.contains("systemd user timer") && installed.contains("loginctl enable-linger"), "{installed}");
    ensure!(
        calls(&sandbox)
            == [
                "systemctl --user show-environment",
                "systemctl --user daemon-reload",
                "systemctl --user enable --now hindcast-backfill.timer",
                "loginctl show-user tester --property=Linger --value",
            ],
        "{:?}",
        calls(&sandbox)
    );
    let units = sandbox.home.join(".config/systemd/user");
    let service = std::fs::read_to_string(units.join("hindcast-backfill.service"))?;
    let claude = sandbox.home.join(".claude");
    for line in [
        format!("ExecStart=\"{}\" backfill --quiet", binary.display()),
        "Environment=\"HINDCAST_SCHEDULED=1\"".to_string(),
        format!("Environment=\"CLAUDE_CONFIG_DIR={}\"", claude.display()),
        "Environment=\"CODEX_HOME=/nonexistent/codex home\"".to_string(),
        format!("Environment=\"XDG_DATA_HOME={}\"", sandbox.home.join(".local/share").display()),
    ] {
        ensure!(service.lines().any(|candidate| candidate == line), "{line} in\n{service}");
    }
    let timer = std::fs::read_to_string(units.join("hindcast-backfill.timer"))?;
    ensure!(timer.contains("OnUnitActiveSec=60min") && timer.contains("Persistent=true"), "{timer}");

    let status = sandbox.run(hindcast, &["schedule", "status", "--json"])?.expect_code(0)?.json()?;
    ensure!(status["schedule"]["installed"] == "systemd" && status["schedule"]["last_run"].is_null(), "{status}");
    // A scheduled run (as the timer starts it) records how it ended.
    sandbox.set_env("HINDCAST_SCHEDULED", "1");
    sandbox.run(hindcast, &["backfill", "--quiet"])?.expect_code(0)?;
    let status = sandbox.run(hindcast, &["status"])?.expect_code(0)?.stdout.clone();
    ensure!(status.contains("Schedule: systemd every 60 minutes, last run") && status.contains(", ok"), "{status}");
    ensure!(!status.contains("warning: the last"), "{status}");
    let config = sandbox.home.join(".config/hindcast/config.toml");
    std::fs::create_dir_all(config.parent().context("a parent")?)?;
    std::fs::write(&config, "[backfill]\nretention_dayz = 3\n")?;
    sandbox.run(hindcast, &["backfill", "--quiet"])?.expect_code(2)?;
    std::fs::remove_file(&config)?;
    let status = sandbox.run(hindcast, &["schedule", "status"])?.expect_code(0)?.stdout.clone();
    ensure!(status.contains("failed with exit 2") && status.contains("retention_dayz"), "{status}");
    sandbox.run(hindcast, &["backfill", "--quiet"])?.expect_code(0)?;
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(3)).to_string();
    sandbox.set_env("HINDCAST_NOW", later);
    let status = sandbox.run(hindcast, &["status", "--json"])?.expect_code(0)?.json()?;
    let warnings = status["warnings"].to_string();
    ensure!(warnings.contains("more than two periods ago"), "a stale timer is warned of: {status}");
    ensure!(!warnings.contains("cleanupPeriodDays"), "scheduled hourly, 30 days of cleanup is no risk: {warnings}");

    clear_calls(&sandbox)?;
    sandbox.run(hindcast, &["schedule", "remove"])?.expect_code(0)?.expect_stdout("Removed the systemd schedule")?;
    ensure!(
        calls(&sandbox) == ["systemctl --user disable --now hindcast-backfill.timer", "systemctl --user daemon-reload"],
        "{:?}",
        calls(&sandbox)
    );
    ensure!(!units.join("hindcast-backfill.timer").exists() && !units.join("hindcast-backfill.service").exists());
    let status = sandbox.run(hindcast, &["status"])?.expect_code(0)?.stdout.clone();
    ensure!(status.contains("Schedule: none") && status.contains("cleanupPeriodDays"), "{status}");

    // No user manager: cron, beside the lines already there.
    std::fs::write(sandbox.shims().join("no-systemd"), "")?;
    std::fs::write(sandbox.shims().join("crontab.table"), "0 0 * * * other-job\n")?;
    let cron = sandbox.run(hindcast, &["schedule", "install"])?;
    cron.expect_code(0).with_context(|| format!("cron calls: {:?}", calls(&sandbox)))?.expect_stdout("crontab line")?;
    let crontab = std::fs::read_to_string(sandbox.shims().join("crontab.table"))?;
    let line = crontab.lines().nth(1).context("hindcast's line")?;
    ensure!(crontab.starts_with("0 0 * * * other-job\n"), "{crontab}");
    ensure!(
        line.starts_with("17 * * * * HINDCAST_SCHEDULED='1' ")
            && line.contains("CODEX_HOME='/nonexistent/codex home'")
            && line.ends_with(&format!("'{}' backfill --quiet # hindcast-backfill", binary.display())),
        "{line}"
    );
    let status = sandbox.run(hindcast, &["schedule", "status", "--json"])?.expect_code(0)?.json()?;
    ensure!(status["schedule"]["installed"] == "cron", "{status}");
    sandbox.run(hindcast, &["schedule", "remove"])?.expect_code(0)?;
    ensure!(std::fs::read_to_string(sandbox.shims().join("crontab.table"))? == "0 0 * * * other-job\n");

    // init --yes takes the default: the schedule, after the import.
    let fresh = Sandbox::new()?;
    fresh.install_fixture("claude/projects", ".claude/projects")?;
    let init = fresh.run(hindcast, &["init", "--yes"])?.expect_code(0)?.stdout.clone();
    ensure!(init.contains("every hour") && init.contains("Installed a systemd user timer"), "{init}");
    ensure!(fresh.home.join(".config/systemd/user/hindcast-backfill.timer").exists());
    let fresh = Sandbox::new()?;
    fresh.install_fixture("claude/projects", ".claude/projects")?;
    fresh.run(hindcast, &["init", "--yes", "--no-schedule"])?.expect_code(0)?;
    ensure!(!fresh.home.join(".config/systemd/user").exists(), "--no-schedule installs nothing");
    ensure!(calls(&fresh).is_empty(), "{:?}", calls(&fresh));
    Ok(())
}

/// A key pasted into a prompt, which `forget` must leave nowhere in the store's files.
const PASTED_KEY: &str = "sk-test-51HiddenKey0123456789abcdef";

/// Writes a Claude session in `/home/user/secret` whose prompt holds [`PASTED_KEY`].
fn write_secret_session(sandbox: &Sandbox) -> Result<()> {
    let project = sandbox.home.join(".claude/projects/-home-user-secret");
    std::fs::create_dir_all(&project)?;
    let session = "5ec2e700-0000-4000-8000-000000000001";
    let envelope = format!(r#""sessionId":"{session}","cwd":"/home/user/secret","version":"2.0.42""#);
    let lines = [
        format!(
            r#"{{{envelope},"type":"user","parentUuid":null,"message":{{"role":"user","content":"deploy with {PASTED_KEY}"}},"uuid":"5ec2e700-0000-4000-8000-0000000000a1","timestamp":"2026-03-08T10:00:00.000Z"}}"#
        ),
        format!(
            r#"{{{envelope},"type":"assistant","parentUuid":"5ec2e700-0000-4000-8000-0000000000a1","message":{{"model":"claude-sonnet-4-5-20250929","id":"msg_secret01","role":"assistant","content":[{{"type":"text","text":"Deployed."}}],"usage":{{"input_tokens":100,"output_tokens":7}}}},"requestId":"req_secret01","uuid":"5ec2e700-0000-4000-8000-0000000000a2","timestamp":"2026-03-08T10:00:05.000Z"}}"#
        ),
    ];
    std::fs::write(project.join(format!("{session}.jsonl")), lines.join("\n") + "\n")?;
    Ok(())
}

/// Whether any of the store's files (the database, its log) holds `needle`.
fn store_files_hold(db: &std::path::Path, needle: &str) -> Result<bool> {
    for suffix in ["", "-wal", "-journal"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|window| window == needle.as_bytes())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `forget --project` removes a session (and its bytes) from every table, rollup and export:
/// the store equals a clean import that never saw it; reruns, even re-reading every file, leave it
/// out; `--undo` and the next import bring it back, as a clean import of everything holds it.
fn forget(binaries: &Binaries) -> Result<()> {
    let sandbox = imported_sandbox()?;
    write_secret_session(&sandbox)?;
    let hindcast = &binaries.hindcast;
    let db = sandbox.db();
    let db_text = db.display().to_string();
    let other = |name: &str| sandbox.home.join(name).display().to_string();
    sandbox.run(hindcast, &["backfill"])?.expect_code(0)?;
    ensure!(store_files_hold(&db, PASTED_KEY)?, "the pasted key was imported");
    let sessions_before = sandbox.query_i64("SELECT count(*) FROM session")?;

    // Without a terminal and without --yes nothing is forgotten.
    sandbox
        .run(hindcast, &["forget", "--project", "/home/user/secret"])?
        .expect_code(2)?
        .expect_stderr("pass --yes")?;
    ensure!(sandbox.query_i64("SELECT count(*) FROM session")? == sessions_before, "forgotten without consent");
    let forgot = sandbox.run(hindcast, &["forget", "--project", "/home/user/secret", "--yes", "--json"])?;
    let document = forgot.expect_code(0)?.json()?;
    ensure!(document["schema"] == "hindcast.forget/v1" && document["sessions"] == 1, "{document}");
    ensure!(document["messages"] == 2 && document["usage_records"] == 1, "{document}");
    ensure!(!store_files_hold(&db, PASTED_KEY)?, "the pasted key is still in the store's files");

    // The same as a clean import that excluded the project, table by table and in the exports.
    let clean = other("clean.db");
    sandbox.run(hindcast, &["--db", &clean, "backfill", "--exclude", "/home/user/secret"])?.expect_code(0)?;
    let digests = |path: &std::path::Path| hindcast_testing::digests_of(path, hindcast_testing::CONTENT_TABLES);
    ensure!(digests(&db)? == digests(std::path::Path::new(&clean))?, "forgotten differs from never imported");
    for export in [&["export", "session-events"][..], &["export", "daily-activity", "--format", "posthog"]] {
        let forgotten =
            sandbox.run(hindcast, &[&["--db", &db_text][..], export].concat())?.expect_code(0)?.stdout.clone();
        let never = sandbox.run(hindcast, &[&["--db", &clean][..], export].concat())?.expect_code(0)?.stdout.clone();
        ensure!(forgotten == never, "{export:?}: the forgotten session is still exported");
    }
    for report in [&["stats", "daily", "--json"][..], &["sessions", "list", "--json"]] {
        let forgotten = sandbox.run(hindcast, &[&["--db", &db_text][..], report].concat())?.expect_code(0)?.json()?;
        let never = sandbox.run(hindcast, &[&["--db", &clean][..], report].concat())?.expect_code(0)?.json()?;
        ensure!(forgotten == never, "{report:?}: the forgotten session still counts");
    }

    // Reruns leave it out, even reading every file again.
    sandbox.run(hindcast, &["backfill"])?.expect_code(0)?;
    sandbox.run(hindcast, &["backfill", "--reparse"])?.expect_code(0)?.expect_stdout("1 forgotten session left out")?;
    ensure!(digests(&db)? == digests(std::path::Path::new(&clean))?, "a rerun brought the forgotten session back");
    ensure!(!store_files_hold(&db, PASTED_KEY)?, "a rerun brought the pasted key back");
    let listed = sandbox.run(hindcast, &["forget", "--list", "--json"])?.expect_code(0)?.json()?;
    let tombstone = &listed["forgotten"][0];
    ensure!(tombstone["native_id"] == "5ec2e700-0000-4000-8000-000000000001", "{listed}");
    ensure!(!listed.to_string().contains(PASTED_KEY), "a tombstone keeps text: {listed}");

    // Taken back: the next import holds what a clean import of everything holds.
    sandbox.run(hindcast, &["forget", "--undo"])?.expect_code(0)?.expect_stdout("1 session no longer forgotten")?;
    sandbox.run(hindcast, &["backfill"])?.expect_code(0)?;
    let everything = other("everything.db");
    sandbox.run(hindcast, &["--db", &everything, "backfill"])?.expect_code(0)?;
    ensure!(
        digests(&db)? == digests(std::path::Path::new(&everything))?,
        "undone and imported differs from a clean import"
    );
    sandbox
        .run(hindcast, &["forget", "--undo", "no-such"])?
        .expect_code(2)?
        .expect_stderr("no forgotten session matches 'no-such'")?;
    Ok(())
}

/// The config's `exclude` keeps a project out of every import (the status line's too), said in
/// the summary; dropping the pattern makes the next run read the files the manifest would skip and
/// import the project; a pattern stored sessions match is answered with how to forget them.
fn exclude(binaries: &Binaries) -> Result<()> {
    let mut sandbox = imported_sandbox()?;
    write_secret_session(&sandbox)?;
    let hindcast = &binaries.hindcast;
    let config = sandbox.home.join("hindcast.toml");
    sandbox.set_env("HINDCAST_CONFIG", config.display().to_string());
    std::fs::write(&config, "exclude = [\"/home/user/secret/**\"]\n")?;
    let secret = "SELECT count(*) FROM session WHERE cwd = '/home/user/secret'";
    let run = sandbox.run(hindcast, &["backfill"])?;
    run.expect_code(0)?.expect_stdout("1 session excluded by your config")?;
    ensure!(sandbox.query_i64(secret)? == 0, "an excluded project was imported");
    let document = sandbox.run(hindcast, &["backfill", "--json"])?.expect_code(0)?.json()?;
    let excluded: i64 = document["providers"]
        .as_array()
        .context("providers")?
        .iter()
        .filter_map(|p| p["sessions_excluded"].as_i64())
        .sum();
    ensure!(excluded == 0, "an unchanged file was read again: {document}");

    // The status line imports the live session only when it is not excluded.
    let transcript = sandbox.home.join(".claude/projects/-home-user-secret/5ec2e700-0000-4000-8000-000000000001.jsonl");
    let payload = format!(
        r#"{{"session_id":"5ec2e700-0000-4000-8000-000000000001","transcript_path":"{}","model":{{"display_name":"Sonnet"}}}}"#,
        transcript.display()
    );
    sandbox.run_with_stdin(hindcast, &["statusline"], payload.as_bytes())?.expect_code(0)?;
    ensure!(sandbox.query_i64(secret)? == 0, "the status line imported an excluded session");

    // Dropped from the config: the next run reads every file again and imports the project.
    std::fs::write(&config, "")?;
    let run = sandbox.run(hindcast, &["backfill"])?;
    run.expect_code(0)?.expect_stderr("the exclude patterns changed since the last import")?;
    ensure!(sandbox.query_i64(secret)? == 1, "a project no longer excluded was not imported");

    // Excluded again while stored: kept, and the way to forget it is said.
    std::fs::write(&config, "exclude = [\"/home/user/secret\"]\n")?;
    let run = sandbox.run(hindcast, &["backfill"])?;
    run.expect_code(0)?.expect_stderr("1 session stored before match your exclude patterns")?;
    run.expect_stderr("hindcast forget --project")?;
    std::fs::write(&config, "exclude = [\"/home/user/[secret\"]\n")?;
    sandbox.run(hindcast, &["backfill"])?.expect_code(2)?.expect_stderr("exclude pattern '/home/user/[secret'")?;
    Ok(())
}

/// Objects whose keys are data (kinds, tables, a client's own fields), not field names.
const FREE_FORM: &[&str] = &["metadata", "tool_input", "files_by_kind", "records_ignored"];

/// Every key of every object in `value`, except inside [`FREE_FORM`] objects.
fn keys_of(value: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, inner) in fields {
                keys.insert(key.clone());
                if !FREE_FORM.contains(&key.as_str()) {
                    keys_of(inner, keys);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| keys_of(item, keys)),
        _ => {}
    }
}

/// The `## ` section of `doc` whose heading names `schema` (else the first that names it), with
/// the sections of the schemas it refers to (`as in hindcast.schedule/v1`).
fn doc_section(doc: &str, schema: &str) -> Option<String> {
    let section_at = |at: usize| {
        let start = doc[..at].rfind("\n## ").map_or(0, |start| start + 1);
        let end = doc[at..].find("\n## ").map_or(doc.len(), |end| at + end);
        &doc[start..end]
    };
    let heading = doc
        .match_indices("\n## ")
        .map(|(at, _)| at + 1)
        .find(|&at| doc[at..].lines().next().is_some_and(|line| line.contains(schema)));
    let own = section_at(heading.or_else(|| doc.find(schema))?);
    let mut text = own.to_string();
    for (at, _) in own.match_indices("hindcast.") {
        let name: String = own[at..].chars().take_while(|c| !matches!(c, '`' | ' ' | ')' | ',')).collect();
        if name != schema
            && name.contains("/v")
            && let Some(other) = doc.find(&format!("`{name}`\n"))
        {
            text.push_str(section_at(other));
        }
    }
    Some(text)
}

/// Whether `section` names `key` as a field: a whole word inside a backtick span.
fn names_field(section: &str, key: &str) -> bool {
    section
        .split('`')
        .skip(1)
        .step_by(2)
        .any(|span| span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|word| word == key))
}

/// Every field each `--json` document prints is named in its section of `docs/json-output.md`,
/// every document has its `schema`, and every field of the backfill tables is printed.
fn json_docs(binaries: &Binaries) -> Result<()> {
    let doc = std::fs::read_to_string(crate::workspace_root().join("docs/json-output.md"))?;
    let mut sandbox = imported_sandbox()?;
    write_secret_session(&sandbox)?;
    sandbox.set_env("USER", "tester");
    let hindcast = &binaries.hindcast;
    let backfill = sandbox.run(hindcast, &["backfill", "--json"])?.expect_code(0)?.json()?;
    let session = sandbox
        .run(
            hindcast,
            &["query", "--format", "tsv", "SELECT session_id FROM session_summary ORDER BY tool_calls DESC LIMIT 1"],
        )?
        .expect_code(0)?
        .stdout
        .lines()
        .nth(1)
        .context("a session")?
        .to_string();
    let mut documents = vec![("backfill --json".to_string(), backfill)];
    let commands: &[&[&str]] = &[
        &["backfill", "plan", "--json"],
        &["backfill", "list", "--json"],
        &["query", "--json", "SELECT 1 AS one"],
        &["sessions", "list", "--json"],
        &["sessions", "show", &session, "--json"],
        &["sessions", "tree", "--json"],
        &["stats", "daily", "--json", "--by", "model"],
        &["stats", "weekly", "--json"],
        &["stats", "monthly", "--json"],
        &["stats", "sessions", "--json"],
        &["stats", "projects", "--json"],
        &["stats", "blocks", "--json"],
        &["stats", "limits", "--json", "--history"],
        &["prices", "--json"],
        &["status", "--json"],
        &["schedule", "status", "--json"],
        &["search", "--json", "deploy"],
        &["forget", "--project", "/home/user/secret", "--yes", "--json"],
        &["forget", "--list", "--json"],
        &["forget", "--undo", "--json"],
    ];
    for args in commands {
        let document = sandbox.run(hindcast, args)?.expect_code(0)?.json()?;
        documents.push((args.join(" "), document));
    }
    let mut missing = Vec::new();
    for (command, document) in &documents {
        let schema = document["schema"].as_str().with_context(|| format!("{command}: no schema field"))?;
        let section = doc_section(&doc, schema).with_context(|| format!("{command}: {schema} is not in the doc"))?;
        let section = section.as_str();
        let mut keys = std::collections::BTreeSet::new();
        keys_of(document, &mut keys);
        // Every document's `schema` is said once, at the top.
        for key in keys.into_iter().filter(|key| key != "schema") {
            if !names_field(section, &key) {
                missing.push(format!("{command} ({schema}): `{key}`"));
            }
        }
    }
    // The other way: what the backfill tables list is printed.
    let backfill_section = doc_section(&doc, "hindcast.backfill/v1").context("the backfill section")?;
    let backfill_section = backfill_section.as_str();
    let mut printed = std::collections::BTreeSet::new();
    keys_of(&documents[0].1, &mut printed);
    for row in backfill_section.lines().filter(|line| line.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or("");
        for name in first.split('`').skip(1).step_by(2) {
            if name != "timestamps_unreadable" && !printed.contains(name) {
                missing.push(format!("documented for backfill but not printed: `{name}`"));
            }
        }
    }
    ensure!(missing.is_empty(), "docs/json-output.md and the output differ:\n{}", missing.join("\n"));
    Ok(())
}

/// The lines a report prints after its table, which the README shows once, under its first report.
const README_LEGEND: usize = 4;

/// Every command of the README's usage block runs as written, exit 0, in a sandbox holding the
/// fixtures; every `$ hindcast …` block is what the binary prints at 80 columns on the report
/// fixtures (the legend and unpriced note, shown once, left out after the first report).
fn readme(binaries: &Binaries) -> Result<()> {
    let readme = std::fs::read_to_string(crate::workspace_root().join("README.md"))?;
    let hindcast = binaries.hindcast.canonicalize()?;

    // The usage block, each line through a shell as a person would paste it.
    let mut sandbox = imported_sandbox()?;
    sandbox.install_fixture("legacy/home/.agent-orchestrator", "old/.agent-orchestrator")?;
    std::os::unix::fs::symlink(&hindcast, sandbox.shims().join("hindcast"))?;
    std::fs::create_dir_all(sandbox.home.join(".local/share/bash-completion/completions"))?;
    std::fs::write(sandbox.home.join("report.sql"), "SELECT client, count(*) FROM sessions GROUP BY client")?;
    sandbox.set_env("USER", "tester");
    let usage = readme.split("## Usage").nth(1).context("a Usage section")?;
    let block = usage.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).context("a usage block")?;
    let mut failures = Vec::new();
    let mut ran = 0;
    for line in block.lines().filter(|line| line.starts_with("hindcast ")) {
        let command = line.split("  # ").next().unwrap_or(line).trim();
        let output = sandbox
            .command(std::path::Path::new("sh"), &["-c", command])
            .stdin(std::process::Stdio::null())
            .output()?;
        ran += 1;
        if !output.status.success() {
            failures.push(format!(
                "{command}: exit {:?}: {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
        } else if output.stdout.is_empty() && !command.contains('>') && !command.contains("--out") {
            failures.push(format!("{command}: printed nothing"));
        }
    }
    ensure!(ran >= 25, "only {ran} usage lines found");
    ensure!(failures.is_empty(), "README usage lines that fail:\n{}", failures.join("\n"));

    // The report blocks, byte for byte.
    let mut sandbox = Sandbox::new()?;
    sandbox.install_fixture("reports/claude", ".claude")?;
    sandbox.install_fixture("reports/codex", ".codex")?;
    for (key, value) in [("HINDCAST_NOW", REPORTS_NOW), ("TZ", "UTC"), ("LANG", "C.UTF-8"), ("NO_COLOR", "1")] {
        sandbox.set_env(key, value);
    }
    sandbox.run(&binaries.hindcast, &["backfill"])?.expect_code(0)?;
    let mut legend: Option<Vec<String>> = None;
    let mut compared = 0;
    for block in readme.split("```\n$ hindcast ").skip(1) {
        let block = block.split("\n```").next().unwrap_or(block);
        for command in format!("$ hindcast {block}").split("\n$ ").map(|text| text.trim_start_matches("$ ")) {
            let (line, shown) = command.split_once('\n').unwrap_or((command, ""));
            let args: Vec<&str> = line.split_whitespace().skip(1).collect();
            let printed = sandbox.run_in_pty(&binaries.hindcast, &args, 80)?;
            printed.expect_code(0)?;
            let mut lines: Vec<String> = printed.stdout.trim_end().lines().map(str::to_string).collect();
            match &legend {
                None => legend = Some(lines[lines.len().saturating_sub(README_LEGEND)..].to_vec()),
                Some(legend) => lines.retain(|line| !legend.contains(line)),
            }
            let expected: Vec<&str> = shown.trim_end().lines().collect();
            ensure!(
                lines == expected,
                "README block `{line}` differs from the output:\n--- README\n{}\n--- output\n{}",
                expected.join("\n"),
                lines.join("\n")
            );
            compared += 1;
        }
    }
    ensure!(compared >= 8, "only {compared} README output blocks found");
    Ok(())
}

/// A sandbox whose Claude and Codex roots are the shared corpus's (read in place, by path).
pub(super) fn corpus_sandbox() -> Result<Sandbox> {
    let corpus = crate::workspace_root().join("../shared/corpus").canonicalize().context("../shared/corpus")?;
    let mut sandbox = Sandbox::new()?;
    let mut claude: Vec<String> = std::fs::read_dir(corpus.join("claude"))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .map(|path| path.display().to_string())
        .collect();
    claude.sort();
    sandbox.set_env("CLAUDE_CONFIG_DIR", claude.join(","));
    let codex = sandbox.home.join("codex-home");
    std::fs::create_dir_all(&codex)?;
    std::os::unix::fs::symlink(corpus.join("codex"), codex.join("sessions"))?;
    sandbox.set_env("CODEX_HOME", codex.display().to_string());
    sandbox.set_env("TZ", "UTC");
    Ok(sandbox)
}

/// `init --yes` on the shared corpus imports what `backfill --since all` does; with a 90-day
/// window over history older than that, it says how much it leaves out before it imports.
fn init_corpus(binaries: &Binaries) -> Result<()> {
    let sandbox = corpus_sandbox()?;
    let hindcast = &binaries.hindcast;
    let initialized = sandbox.run(hindcast, &["init", "--yes", "--no-schedule"])?;
    initialized.expect_code(0)?.expect_stdout("all history")?;
    let all = sandbox.home.join("all.db");
    let all_text = all.display().to_string();
    sandbox.run(hindcast, &["--db", &all_text, "backfill", "--since", "all"])?.expect_code(0)?;
    let digests = |path: &std::path::Path| hindcast_testing::digests_of(path, hindcast_testing::CONTENT_TABLES);
    let (from_init, from_backfill) = (digests(&sandbox.db())?, digests(&all)?);
    ensure!(from_init["sessions"].0 > 20, "the corpus imported {} sessions", from_init["sessions"].0);
    ensure!(
        from_init == from_backfill,
        "init --yes and backfill --since all differ:\n{from_init:?}\n{from_backfill:?}"
    );

    let windowed = sandbox.home.join("windowed.db");
    let windowed_text = windowed.display().to_string();
    let run =
        sandbox.run(hindcast, &["--db", &windowed_text, "init", "--yes", "--no-schedule", "--retention-days", "90"])?;
    let stdout = &run.expect_code(0)?.stdout;
    let said = stdout
        .find("hold only history from before")
        .context(format!("no word of what the window leaves out:\n{stdout}"))?;
    let asked = stdout.find("yes (--yes)").context(format!("no import question:\n{stdout}"))?;
    ensure!(said < asked, "what the window leaves out is said only after the import:\n{stdout}");
    Ok(())
}
