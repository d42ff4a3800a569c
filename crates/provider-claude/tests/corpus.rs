//! Imports every real transcript of `../shared/corpus/claude` and pins per-file counts and usage totals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hindcast_core::model::PartKind;
use hindcast_core::provider::Environment;
use hindcast_core::time_window::TimeWindow;
use hindcast_provider_claude::ClaudeProvider;
use hindcast_testing::import_all;
use serde::Serialize;

fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/claude");
    assert!(path.is_dir(), "the shared corpus is expected beside the repository at {}", path.display());
    path.canonicalize().expect("corpus path resolves")
}

#[derive(Default, Serialize)]
struct FileCounts {
    sessions: u64,
    messages: u64,
    parts: BTreeMap<&'static str, u64>,
    tool_calls: u64,
    usage_records: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_creation_tokens: u64,
}

#[derive(Serialize)]
struct CorpusCounts {
    files: BTreeMap<String, FileCounts>,
    lines_skipped: u64,
    records_skipped: Vec<String>,
    records_ignored: BTreeMap<String, u64>,
    unknown_records: u64,
    /// Non-cached input (`input_tokens` minus cache reads and writes), as ccusage reports it.
    totals: BTreeMap<&'static str, u64>,
}

#[test]
fn every_corpus_file_imports_and_counts_are_pinned() {
    let corpus = corpus();
    // spotter/ is a single project directory; give it a projects/ parent of its own.
    let spotter_home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(spotter_home.path().join("projects")).unwrap();
    std::os::unix::fs::symlink(corpus.join("spotter"), spotter_home.path().join("projects/spotter")).unwrap();
    let roots = [corpus.join("claude-code-log"), corpus.join("claude-code-viewer"), spotter_home.path().to_path_buf()];
    let list = roots.iter().map(|root| root.display().to_string()).collect::<Vec<_>>().join(",");
    let env = Environment::with_home(spotter_home.path()).set_var("CLAUDE_CONFIG_DIR", list);
    let (exchanges, report) = import_all(&ClaudeProvider, &env, &TimeWindow::ALL);

    let mut files: BTreeMap<String, FileCounts> = BTreeMap::new();
    for exchange in &exchanges {
        let path = exchange.session.source_path.to_string_lossy().into_owned();
        let relative =
            path.split("/claude/").last().unwrap_or(&path).replace(&spotter_home.path().display().to_string(), "");
        let relative = relative.trim_start_matches("/projects/").to_string();
        let counts = files.entry(relative).or_default();
        counts.sessions += 1;
        counts.messages += exchange.messages.len() as u64;
        for part in exchange.messages.iter().flat_map(|message| &message.parts) {
            *counts.parts.entry(part.kind.as_str()).or_default() += 1;
            counts.tool_calls += u64::from(part.kind == PartKind::ToolCall);
        }
        for usage in &exchange.usage {
            counts.usage_records += 1;
            counts.input_tokens += usage.input_tokens - usage.cache_read_tokens - usage.cache_creation_tokens;
            counts.output_tokens += usage.output_tokens;
            counts.cache_read_tokens += usage.cache_read_tokens;
            counts.cache_creation_tokens += usage.cache_creation_tokens;
        }
    }
    let mut totals = BTreeMap::new();
    for counts in files.values() {
        *totals.entry("input_tokens").or_default() += counts.input_tokens;
        *totals.entry("output_tokens").or_default() += counts.output_tokens;
        *totals.entry("cache_read_tokens").or_default() += counts.cache_read_tokens;
        *totals.entry("cache_creation_tokens").or_default() += counts.cache_creation_tokens;
        *totals.entry("usage_records").or_default() += counts.usage_records;
    }
    assert_eq!(report.lines_skipped.count, 0, "real files hold no bad lines: {:?}", report.lines_skipped.first);
    assert_eq!(files.values().map(|counts| counts.sessions).sum::<u64>(), 19);
    let titled = exchanges.iter().find(|e| e.session.native_id == "b25638d7-b104-4f06-a797-70ac33d069ed").unwrap();
    assert!(titled.session.title.is_some(), "a summary in another file titles this session (leafUuid, project-wide)");
    let counts = CorpusCounts {
        files,
        lines_skipped: report.lines_skipped.count,
        records_skipped: report.records_skipped.first.iter().map(|location| location.reason.clone()).collect(),
        records_ignored: report.records_ignored,
        unknown_records: report.unknown_records,
        totals,
    };
    insta::assert_json_snapshot!(counts);
}
