//! Smokes of `hindcast search`: the known-answer set over the shared corpus and the project's
//! fixture (`fixtures/search/relevance.json`), and the index kept exactly in step with the rows —
//! after imports, appends, `forget`, and the lazy build of an upgraded store.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::{Binaries, Sandbox};

pub const SUITES: &[(&str, super::Suite)] = &[("search", relevance), ("search_index", index)];

/// FTS5's check that each search index holds exactly what its rows say (skipped when the store has
/// no index yet: one from before schema 11, or one waiting for its first `hindcast search`).
pub fn index_matches_rows(db: &Path) -> Result<()> {
    let conn = rusqlite::Connection::open(db)?;
    let (indexed, pending): (bool, bool) = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'search_words'), \
         EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'meta') \
         AND EXISTS (SELECT 1 FROM meta WHERE key = 'search_index_pending')",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if !indexed || pending {
        return Ok(());
    }
    conn.execute_batch(
        "INSERT INTO search_words (search_words, rank) VALUES ('integrity-check', 1); \
         INSERT INTO search_grams (search_grams, rank) VALUES ('integrity-check', 1);",
    )
    .context("the search index differs from the stored rows")
}

/// The native ids of a search's hits, best first.
fn hits(sandbox: &Sandbox, binary: &Path, args: &[&str]) -> Result<(Vec<String>, Value)> {
    let document = sandbox.run(binary, args)?.expect_code(0)?.json()?;
    let ids = document["hits"]
        .as_array()
        .with_context(|| format!("hits in {document}"))?
        .iter()
        .map(|hit| hit["native_id"].as_str().unwrap_or_default().to_string())
        .collect();
    Ok((ids, document))
}

/// The known-answer set: the expected session is the top hit for at least 18 of the 20 queries
/// and in the top 3 for all; a query marked `several_sessions` has every word in more than one
/// session (so ranking, not rarity, finds it).
fn relevance(binaries: &Binaries) -> Result<()> {
    let mut sandbox = super::first_hour::corpus_sandbox()?;
    let fixture = crate::workspace_root().join("fixtures/search/claude");
    let claude = format!("{},{}", sandbox_var(&sandbox, "CLAUDE_CONFIG_DIR")?, fixture.display());
    sandbox.set_env("CLAUDE_CONFIG_DIR", claude);
    let hindcast = &binaries.hindcast;
    sandbox.run(hindcast, &["backfill"])?.expect_code(0)?;
    index_matches_rows(&sandbox.db())?;
    let set: Value = serde_json::from_str(&std::fs::read_to_string(
        crate::workspace_root().join("fixtures/search/relevance.json"),
    )?)?;
    let queries = set["queries"].as_array().context("queries")?;
    ensure!(queries.len() == 20, "the set holds {} queries", queries.len());
    let (mut first, mut missed) = (0, Vec::new());
    for entry in queries {
        let query = entry["query"].as_str().context("a query")?;
        let expected = entry["session"].as_str().context("a session")?;
        let (ids, _) = hits(&sandbox, hindcast, &["search", "--json", "--limit", "3", query])?;
        match ids.iter().position(|id| id == expected) {
            Some(0) => first += 1,
            Some(_) => {}
            None => missed.push(format!("{query}: {expected} not in the top 3 {ids:?}")),
        }
        if entry["several_sessions"].as_bool() == Some(true) {
            for word in query.split_whitespace() {
                let (_, document) = hits(&sandbox, hindcast, &["search", "--json", "--limit", "0", word])?;
                ensure!(document["sessions"].as_u64() > Some(1), "{query}: '{word}' is in only one session");
            }
        }
    }
    ensure!(missed.is_empty(), "{}", missed.join("\n"));
    ensure!(first >= 18, "the expected session is the top hit for only {first} of 20 queries");
    eprintln!("search relevance: top hit {first}/20, top 3 20/20");
    Ok(())
}

fn sandbox_var(sandbox: &Sandbox, key: &str) -> Result<String> {
    let output = sandbox.command(Path::new("sh"), &["-c", &format!("printf %s \"${key}\"")]).output()?;
    Ok(String::from_utf8(output.stdout)?)
}

/// The index follows the rows: an appended transcript's new message is found after the
/// incremental run, a forgotten session is not, `--rebuild` keeps it exact, filters narrow it, and
/// an upgraded store without an index builds it once, saying so.
fn index(binaries: &Binaries) -> Result<()> {
    let sandbox = Sandbox::new()?;
    let hindcast = &binaries.hindcast;
    let transcripts = sandbox.install_fixture("claude/projects", ".claude/projects")?;
    sandbox.install_fixture("codex", ".codex")?;
    sandbox.run(hindcast, &["backfill"])?.expect_code(0)?;
    index_matches_rows(&sandbox.db())?;
    let (ids, document) = hits(&sandbox, hindcast, &["search", "--json", "repository"])?;
    ensure!(ids.contains(&"7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f".to_string()), "{document}");
    let hit = &document["hits"][0];
    ensure!(hit["open"].as_str().is_some_and(|open| open.starts_with("hindcast sessions show ")), "{hit}");
    ensure!(hit["snippet"].is_string() && hit["highlights"].is_array(), "{hit}");

    // An appended message is found after the incremental run.
    let transcript = transcripts.join("-home-user-demo/7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f.jsonl");
    let appended = r#"{"parentUuid":"22222222-2222-4222-8222-222222222222","isSidechain":false,"userType":"external","cwd":"/home/user/demo","sessionId":"7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f","version":"2.1.38","type":"user","message":{"role":"user","content":"also count the zanzibarquokka files"},"uuid":"99999999-9999-4999-8999-999999999999","timestamp":"2026-01-02T10:05:00.000Z"}"#;
    let mut text = std::fs::read_to_string(&transcript)?;
    text.push_str(appended);
    text.push('\n');
    std::fs::write(&transcript, text)?;
    let run = sandbox.run(hindcast, &["backfill", "claude", "--json"])?.expect_code(0)?.json()?;
    ensure!(run["providers"][0]["sources_appended"].as_u64() == Some(1), "not an incremental run: {run}");
    let (ids, document) = hits(&sandbox, hindcast, &["search", "--json", "zanzibar*", "--role", "user"])?;
    ensure!(ids == ["7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"], "{document}");
    index_matches_rows(&sandbox.db())?;
    let (ids, _) = hits(&sandbox, hindcast, &["search", "--json", "zanzibarquokka", "--role", "assistant"])?;
    ensure!(ids.is_empty(), "--role assistant found a prompt");
    let (ids, _) = hits(&sandbox, hindcast, &["search", "--json", "zanzibarquokka", "--client", "codex"])?;
    ensure!(ids.is_empty(), "--client codex found a Claude session");

    // Forgotten: not found, and the index still matches the rows.
    sandbox.run(hindcast, &["forget", "7f1c2d3e", "--yes"])?.expect_code(0)?;
    let (ids, _) = hits(&sandbox, hindcast, &["search", "--json", "zanzibarquokka"])?;
    ensure!(ids.is_empty(), "a forgotten session is still found");
    index_matches_rows(&sandbox.db())?;
    sandbox.run(hindcast, &["search", "--rebuild"])?.expect_code(0)?;
    index_matches_rows(&sandbox.db())?;

    // A store from before the index: the first search builds it, once.
    let old = sandbox.home.join("v9.db");
    std::fs::copy(crate::workspace_root().join("fixtures/upgrade/v9-store.sqlite"), &old)?;
    let old_text = old.display().to_string();
    let first = sandbox.run(hindcast, &["--db", &old_text, "search", "--json", "audio"])?;
    first.expect_code(0)?.expect_stderr("building the search index")?;
    ensure!(first.json()?["hits"].as_array().is_some_and(|hits| !hits.is_empty()), "{}", first.stdout);
    let again = sandbox.run(hindcast, &["--db", &old_text, "search", "--json", "audio"])?;
    ensure!(!again.expect_code(0)?.stderr.contains("building"), "the index was built twice: {}", again.stderr);
    index_matches_rows(&old)?;

    // The previous release's store (schema 12, whose index an insert trigger kept): upgraded by a
    // backfill that adds this corpus through the writer, the index matches the rows and finds
    // what the store held and what the writer added.
    let previous = sandbox.home.join("v12.db");
    std::fs::copy(crate::workspace_root().join("fixtures/upgrade/v12-store.sqlite"), &previous)?;
    let previous_text = previous.display().to_string();
    sandbox.run(hindcast, &["--db", &previous_text, "backfill"])?.expect_code(0)?;
    index_matches_rows(&previous)?;
    let (held, document) = hits(&sandbox, hindcast, &["--db", &previous_text, "search", "--json", "audio"])?;
    ensure!(!held.is_empty(), "the upgraded store's rows are not found: {document}");
    let (added, document) = hits(&sandbox, hindcast, &["--db", &previous_text, "search", "--json", "zanzibarquokka"])?;
    ensure!(added == ["7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"], "{document}");
    sandbox.run(hindcast, &["search", "--", "-only"])?.expect_code(2)?.expect_stderr("no word to look for")?;
    Ok(())
}
