//! Imports every real rollout of `../shared/corpus/codex` and pins per-file counts and usage totals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hindcast_core::model::PartKind;
use hindcast_core::provider::Environment;
use hindcast_core::time_window::TimeWindow;
use hindcast_provider_codex::CodexProvider;
use hindcast_testing::import_all;
use serde::Serialize;

fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/codex");
    assert!(path.is_dir(), "the shared corpus is expected beside the repository at {}", path.display());
    path.canonicalize().expect("corpus path resolves")
}

#[derive(Default, Serialize)]
struct FileCounts {
    sessions: u64,
    messages: u64,
    injected: u64,
    parts: BTreeMap<&'static str, u64>,
    tool_calls: u64,
    usage_records: u64,
    /// Non-cached input, as ccusage reports it.
    input_tokens: u64,
    cached_input_tokens: u64,
    output_tokens: u64,
    reasoning_tokens: u64,
    parent: Option<String>,
}

#[derive(Serialize)]
struct CorpusCounts {
    files: BTreeMap<String, FileCounts>,
    lines_skipped: u64,
    unknown_records: u64,
    records_ignored: BTreeMap<String, u64>,
    warnings: Vec<String>,
    totals: BTreeMap<&'static str, u64>,
}

#[test]
fn every_corpus_rollout_imports_and_counts_are_pinned() {
    let corpus = corpus();
    let home = tempfile::tempdir().unwrap();
    let sessions = home.path().join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    for source in ["agent-history", "agtrace", "codemie-code", "localpush"] {
        std::os::unix::fs::symlink(corpus.join(source), sessions.join(source)).unwrap();
    }
    let env = Environment::with_home(home.path()).set_var("CODEX_HOME", home.path().display().to_string());
    let (exchanges, report) = import_all(&CodexProvider, &env, &TimeWindow::ALL);

    let mut files: BTreeMap<String, FileCounts> = BTreeMap::new();
    for exchange in &exchanges {
        let path = exchange.session.source_path.to_string_lossy().into_owned();
        let relative = path.split("/sessions/").last().unwrap_or(&path).to_string();
        let counts = files.entry(relative).or_default();
        counts.sessions += 1;
        counts.messages += exchange.messages.len() as u64;
        counts.injected += exchange.messages.iter().filter(|message| message.flags.injected).count() as u64;
        counts.parent = exchange
            .session
            .parent
            .as_ref()
            .map(|link| format!("{} {}", link.relationship.as_str(), link.parent_native_id));
        for part in exchange.messages.iter().flat_map(|message| &message.parts) {
            *counts.parts.entry(part.kind.as_str()).or_default() += 1;
            counts.tool_calls += u64::from(part.kind == PartKind::ToolCall);
        }
        for usage in &exchange.usage {
            counts.usage_records += 1;
            counts.input_tokens += usage.input_tokens - usage.cache_read_tokens;
            counts.cached_input_tokens += usage.cache_read_tokens;
            counts.output_tokens += usage.output_tokens;
            counts.reasoning_tokens += usage.reasoning_tokens;
        }
    }
    let mut totals = BTreeMap::new();
    for counts in files.values() {
        *totals.entry("input_tokens").or_default() += counts.input_tokens;
        *totals.entry("cached_input_tokens").or_default() += counts.cached_input_tokens;
        *totals.entry("output_tokens").or_default() += counts.output_tokens;
        *totals.entry("reasoning_tokens").or_default() += counts.reasoning_tokens;
        *totals.entry("usage_records").or_default() += counts.usage_records;
    }
    assert_eq!(report.lines_skipped.count, 0, "{:?}", report.lines_skipped.first);
    assert_eq!(files.values().map(|counts| counts.sessions).sum::<u64>(), 10);

    // The localpush compaction session: the 940,499-token context estimate is not usage, and its
    // re-emitted token_count lines are counted once.
    let compaction = exchanges.iter().find(|e| e.session.native_id == "019c8a59-e9dd-71f0-9ae3-4079fe9726a9").unwrap();
    assert!(compaction.usage.iter().all(|usage| usage.input_tokens + usage.output_tokens < 940_499));
    let mut keys: Vec<&str> = compaction.usage.iter().map(|usage| usage.key.as_str()).collect();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before);
    assert!(compaction.messages.iter().any(|message| message.flags.compact_boundary));

    let counts = CorpusCounts {
        files,
        lines_skipped: report.lines_skipped.count,
        unknown_records: report.unknown_records,
        records_ignored: report.records_ignored,
        warnings: report.warnings,
        totals,
    };
    insta::assert_json_snapshot!(counts);
}
