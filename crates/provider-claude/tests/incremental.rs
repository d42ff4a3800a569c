//! Incremental imports of Claude transcripts through a real backfill and store: unchanged files are
//! not read, appended files are parsed from their checkpoint, rewritten and truncated files in full,
//! and every path ends with the store a fresh import of the same files builds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_core::tables::Table;
use hindcast_provider_claude::ClaudeProvider;
use hindcast_testing::{backfill_into, table_digests};
use serde_json::{Value, json};

/// A resumed session (its file starts with copies of the session it continues).
const SESSION: &str = "-fx-resume/bbbbbbbb-0000-4000-8000-000000000002.jsonl";
/// A session file that also holds an inline (1.0.x) sidechain: not continued, its project is parsed again.
const SESSION_WITH_SIDECHAIN: &str = "-fx-subagents/9a9a9a9a-0000-4000-8000-000000000020.jsonl";
const SUBAGENT: &str = "-fx-subagents/9a9a9a9a-0000-4000-8000-000000000020/subagents/agent-a9f8e7d6c5b4a3921.jsonl";
const SPLIT_RESPONSE_SESSION: &str = "-fx-blocks/5e5e5e5e-0000-4000-8000-000000000010.jsonl";
const PLAIN_SESSION: &str = "-home-user-demo/7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f.jsonl";

/// A copy of the fixture projects in a temporary Claude config dir.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/claude/projects");
        copy_tree(&fixtures, &dir.path().join("config/projects"));
        Self { dir }
    }

    fn env(&self) -> Environment {
        let config = self.dir.path().join("config");
        Environment::with_home(self.dir.path()).set_var("CLAUDE_CONFIG_DIR", config.display().to_string())
    }

    fn file(&self, relative: &str) -> PathBuf {
        self.dir.path().join("config/projects").join(relative)
    }

    fn db(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn import(&self, db: &str) -> hindcast_import::backfill::ProviderReport {
        let report = backfill_into(Arc::new(ClaudeProvider), &self.env(), &self.db(db), false);
        assert!(report.error.is_none(), "{:?}", report.error);
        report
    }

    /// The store a single import of the files as they are now builds.
    fn fresh_digests(&self, name: &str) -> std::collections::BTreeMap<String, (usize, String)> {
        self.import(name);
        table_digests(&self.db(name))
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The last line that is a transcript entry (fixtures also hold broken lines).
fn last_line(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    String::from_utf8_lossy(&bytes)
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line.get("uuid").is_some())
        .unwrap()
}

/// Appends one turn the way Claude Code writes it: a prompt, a response split over two lines (text,
/// then a tool call), the tool result and a final billed response. Returns the messages it adds.
fn append_turn(path: &Path, tag: u32, sidechain: bool) -> usize {
    let last = last_line(path);
    let envelope = |kind: &str, n: u32, parent: &str, minute: u32| {
        let mut line = json!({
            "type": kind,
            "uuid": format!("eeeeeeee-0000-4000-8000-{tag:06}{n:06}"),
            "parentUuid": parent,
            "sessionId": last["sessionId"],
            "isSidechain": sidechain,
            "userType": "external",
            "cwd": last["cwd"],
            "version": "2.1.114",
            "gitBranch": "main",
            "timestamp": format!("2026-05-02T10:{minute:02}:00.000Z"),
        });
        if let Some(agent) = last.get("agentId") {
            line["agentId"] = agent.clone();
        }
        line
    };
    let uuid = |n: u32| format!("eeeeeeee-0000-4000-8000-{tag:06}{n:06}");
    let usage = json!({ "input_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 50, "output_tokens": 9 });
    let mut lines = Vec::new();
    let mut prompt = envelope("user", 1, last["uuid"].as_str().unwrap(), 0);
    prompt["message"] = json!({ "role": "user", "content": format!("appended prompt {tag}") });
    lines.push(prompt);
    let mut text = envelope("assistant", 2, &uuid(1), 1);
    text["requestId"] = json!(format!("req_append_{tag}"));
    text["message"] = json!({ "id": format!("msg_append_{tag}"), "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{ "type": "text", "text": "Looking." }], "usage": usage });
    lines.push(text);
    let mut call = envelope("assistant", 3, &uuid(2), 1);
    call["requestId"] = json!(format!("req_append_{tag}"));
    call["message"] = json!({ "id": format!("msg_append_{tag}"), "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{ "type": "tool_use", "id": format!("toolu_append_{tag}"), "name": "Bash", "input": { "command": "ls" } }],
        "usage": usage });
    lines.push(call);
    let mut result = envelope("user", 4, &uuid(3), 2);
    result["message"] = json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": format!("toolu_append_{tag}"), "content": "a b c" }] });
    lines.push(result);
    let mut answer = envelope("assistant", 5, &uuid(4), 3);
    answer["requestId"] = json!(format!("req_append_final_{tag}"));
    answer["message"] = json!({ "id": format!("msg_append_final_{tag}"), "role": "assistant", "model": "claude-opus-4-5",
        "content": [{ "type": "text", "text": "Three files." }], "usage": usage });
    lines.push(answer);
    let mut file = std::fs::File::options().append(true).open(path).unwrap();
    if !std::fs::read(path).unwrap().ends_with(b"\n") {
        // The client starts a new line after a torn one.
        writeln!(file).unwrap();
    }
    for line in &lines {
        writeln!(file, "{line}").unwrap();
    }
    4
}

#[test]
fn an_unchanged_rerun_reads_no_file() {
    let sandbox = Sandbox::new();
    let first = sandbox.import("store.db");
    assert!(first.sources_seen > 10 && first.sources_unchanged == 0);

    // Same size and modification time but different bytes: only a read would notice.
    for entry in walk(&sandbox.dir.path().join("config/projects")) {
        let metadata = std::fs::metadata(&entry).unwrap();
        std::fs::write(&entry, vec![b'#'; metadata.len() as usize]).unwrap();
        std::fs::File::options().write(true).open(&entry).unwrap().set_modified(metadata.modified().unwrap()).unwrap();
    }
    let rerun = sandbox.import("store.db");
    assert_eq!(rerun.sources_unchanged, rerun.sources_seen);
    assert_eq!((rerun.sessions_seen, rerun.items_seen, rerun.lines_skipped.count), (0, 0, 0), "nothing was read");
    assert_eq!(rerun.rows_written.total() + rerun.rows_skipped.total(), 0);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn appended_files_are_parsed_from_their_checkpoint_and_match_a_fresh_import() {
    let sandbox = Sandbox::new();
    let first = sandbox.import("store.db");
    assert_eq!(first.sources_appended, 0);

    let mut added = 0;
    added += append_turn(&sandbox.file(SESSION), 1, false);
    added += append_turn(&sandbox.file(SUBAGENT), 2, true);
    added += append_turn(&sandbox.file(SPLIT_RESPONSE_SESSION), 3, false);
    let resumed = sandbox.import("store.db");
    assert_eq!(resumed.sources_appended, 3, "{resumed:?}");
    assert_eq!(resumed.sources_unchanged, resumed.sources_seen - 3);
    assert_eq!(resumed.sessions_seen, 3, "only the appended files' sessions are parsed");
    // Each file is re-read from its last response (at most one message), then the new lines.
    assert!((added as u64..=added as u64 + 3).contains(&resumed.items_seen), "{resumed:?}");
    assert_eq!(resumed.rows_written[Table::Messages], added as u64);
    assert_eq!(resumed.rows_written[Table::Usage], 6);

    // A second append continues from the new checkpoint.
    added = append_turn(&sandbox.file(SESSION), 4, false);
    let again = sandbox.import("store.db");
    assert_eq!((again.sources_appended, again.rows_written[Table::Messages]), (1, added as u64));

    // A file without a checkpoint (two sessions in one file) makes its whole project parse again.
    added = append_turn(&sandbox.file(SESSION_WITH_SIDECHAIN), 6, false);
    let full = sandbox.import("store.db");
    assert_eq!(full.sources_appended, 0);
    assert!(full.sessions_seen > 3, "{full:?}");
    assert_eq!(full.rows_written[Table::Messages], added as u64);

    let fresh = sandbox.fresh_digests("fresh.db");
    assert_eq!(table_digests(&sandbox.db("store.db")), fresh);
}

#[test]
fn rewritten_and_truncated_files_are_parsed_in_full_without_duplicates() {
    let sandbox = Sandbox::new();
    sandbox.import("store.db");
    let before = table_digests(&sandbox.db("store.db"));

    // Truncated to its first lines: parsed again, nothing new, nothing lost.
    let session = sandbox.file(PLAIN_SESSION);
    let original = std::fs::read_to_string(&session).unwrap();
    let head: String = original.lines().take(3).map(|line| format!("{line}\n")).collect();
    std::fs::write(&session, &head).unwrap();
    let truncated = sandbox.import("store.db");
    assert_eq!((truncated.sources_appended, truncated.rows_written.total()), (0, 0), "{truncated:?}");
    assert_eq!(truncated.sessions_seen, 1, "the project directory is parsed again");
    let after = table_digests(&sandbox.db("store.db"));
    for table in ["messages", "parts", "usage", "quarter_rollup"] {
        assert_eq!(after[table], before[table], "{table}: rows are never lost");
    }
    assert_eq!(after["sessions"].0, before["sessions"].0);

    // Rewritten before the checkpoint (same entries, different bytes) and grown: parsed in full;
    // only the new turn is written and the store equals a fresh import, so nothing is doubled.
    std::fs::write(&session, original.replacen('{', "{ ", 1)).unwrap();
    let added = append_turn(&session, 5, false);
    let rewritten = sandbox.import("store.db");
    assert_eq!(rewritten.sources_appended, 0);
    assert_eq!(rewritten.rows_written[Table::Messages], added as u64, "{rewritten:?}");
    let after = table_digests(&sandbox.db("store.db"));
    let fresh = sandbox.fresh_digests("fresh.db");
    for table in ["messages", "parts", "usage", "quarter_rollup"] {
        assert_eq!(after[table], fresh[table], "{table}");
    }
}

#[test]
fn a_response_that_gains_a_copy_after_its_import_takes_it_like_a_fresh_import() {
    let sandbox = Sandbox::new();
    sandbox.import("store.db");
    let path = sandbox.file(PLAIN_SESSION);
    let mut copy = last_line(&path);
    assert_eq!(copy["type"], "assistant", "the plain session ends with a response");
    copy["parentUuid"] = copy["uuid"].clone();
    copy["uuid"] = json!("0a99e4d0-0000-4000-8000-00000000a99e");
    writeln!(std::fs::OpenOptions::new().append(true).open(&path).unwrap(), "{copy}").unwrap();

    let rerun = sandbox.import("store.db");
    assert_eq!(rerun.sources_appended, 1);
    assert_eq!(
        (rerun.rows_written[Table::Messages], rerun.rows_updated[Table::Messages]),
        (0, 1),
        "{:?}",
        rerun.rows_written
    );
    assert_eq!(table_digests(&sandbox.db("store.db")), sandbox.fresh_digests("fresh.db"));
}
