//! Imports every real chat file of `../shared/corpus/gemini`, holds each session's tokens equal to
//! ccusage 20.0.24's `ccusage gemini session` over the same files, pins per-file counts, and
//! checks that a second backfill writes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_core::time_window::TimeWindow;
use hindcast_provider_gemini::{DIR_VARIABLE, GeminiProvider};
use hindcast_testing::{backfill_into, import_all};
use serde::Serialize;

fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/gemini");
    assert!(path.is_dir(), "the shared corpus is expected beside the repository at {}", path.display());
    path.canonicalize().expect("corpus path resolves")
}

/// A `.gemini` directory whose `tmp/` links every project folder of the corpus.
fn gemini_dir(home: &Path) -> PathBuf {
    let gemini = home.join(".gemini");
    let tmp = gemini.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    for source in ["agent-history", "agtrace", "codemie-code", "vibecodingtracker"] {
        for project in std::fs::read_dir(corpus().join(source).join("tmp")).unwrap() {
            let project = project.unwrap();
            std::os::unix::fs::symlink(project.path(), tmp.join(project.file_name())).unwrap();
        }
    }
    gemini
}

/// `ccusage gemini session --json --offline` with `GEMINI_DATA_DIR` at each corpus folder: per
/// session id, non-cached input, cache reads, output (without thoughts) and the total.
const CCUSAGE: &[(&str, [u64; 4])] = &[
    ("0ab84937-9fe7-4284-986a-33c832af0b6a", [153_635, 48_951, 2_152, 206_879]),
    ("2d9ea14f-1e4e-44f6-8bf5-7a7819cb1cd9", [54_874, 121_305, 851, 178_576]),
    ("8a20078e-2d5e-4f81-a640-9b879bbb7e6d", [36_522, 39_826, 9_325, 97_289]),
    ("d6f69999-62cc-4d41-8de4-9a85fc1531b8", [110_455, 278_423, 4_422, 397_943]),
    ("eefc44a3-0832-4bc0-ac33-fa668f038213", [140_022, 326_620, 3_302, 473_586]),
    ("f0a689a6-b0ac-407f-afcc-4fafa9e14e8a", [23_896, 43_377, 300, 67_950]),
    ("37b7abef-713d-4522-85f0-8ff15a4e6d17", [25_301, 62_117, 1_441, 91_773]),
    ("5b959dae-8655-4cd1-b10f-720b8c336ea2", [45_092, 56_538, 2_734, 105_857]),
    ("dcbe78d3-ea75-4786-929e-d6cff0fc00ed", [4_383, 0, 8, 4_419]),
];

#[derive(Default, Serialize)]
struct FileCounts {
    session: String,
    messages: BTreeMap<&'static str, u64>,
    injected: u64,
    parts: BTreeMap<&'static str, u64>,
    usage_records: u64,
    reasoning_tokens: u64,
    models: Vec<String>,
    cwd: Option<String>,
    title: Option<String>,
}

#[test]
fn every_corpus_session_imports_and_equals_ccusage() {
    let home = tempfile::tempdir().unwrap();
    let gemini = gemini_dir(home.path());
    let env = Environment::with_home(home.path()).set_var(DIR_VARIABLE, gemini.display().to_string());
    let (exchanges, report) = import_all(&GeminiProvider, &env, &TimeWindow::ALL);
    assert_eq!(report.lines_skipped.count, 0, "{:?}", report.lines_skipped.first);
    assert_eq!(report.records_skipped.count, 0, "{:?}", report.records_skipped.first);
    assert_eq!(report.unknown_records, 0);

    let mut tokens: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    let mut files: BTreeMap<String, FileCounts> = BTreeMap::new();
    for exchange in &exchanges {
        let path = exchange.session.source_path.to_string_lossy().into_owned();
        let name = path.rsplit('/').next().unwrap().to_string();
        let counts = files.entry(name).or_default();
        counts.session = exchange.session.native_id.clone();
        counts.models = exchange.session.models.clone();
        counts.cwd = exchange.session.cwd.clone();
        counts.title = exchange.session.title.clone();
        for message in &exchange.messages {
            *counts.messages.entry(message.role.as_str()).or_default() += 1;
            counts.injected += u64::from(message.flags.injected);
            for part in &message.parts {
                *counts.parts.entry(part.kind.as_str()).or_default() += 1;
            }
        }
        let session = tokens.entry(exchange.session.native_id.clone()).or_default();
        for usage in &exchange.usage {
            counts.usage_records += 1;
            counts.reasoning_tokens += usage.reasoning_tokens;
            session[0] += usage.input_tokens - usage.cache_read_tokens;
            session[1] += usage.cache_read_tokens;
            // ccusage leaves thoughts out of output; hindcast counts them as (reasoning) output.
            session[2] += usage.output_tokens - usage.reasoning_tokens;
            session[3] += usage.input_tokens + usage.output_tokens;
        }
    }
    let expected: BTreeMap<String, [u64; 4]> = CCUSAGE.iter().map(|(id, counts)| (id.to_string(), *counts)).collect();
    assert_eq!(tokens, expected, "[non-cached input, cache reads, output without thoughts, total] per session");
    insta::assert_json_snapshot!(files);
}

#[test]
fn a_second_backfill_of_the_corpus_writes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let gemini = gemini_dir(home.path());
    let env = Environment::with_home(home.path()).set_var(DIR_VARIABLE, gemini.display().to_string());
    let db = home.path().join("hindcast.db");
    let first = backfill_into(Arc::new(GeminiProvider), &env, &db, false);
    assert!(first.error.is_none(), "{:?}", first.error);
    assert!(first.rows_written.total() > 0);
    for reparse in [false, true] {
        let again = backfill_into(Arc::new(GeminiProvider), &env, &db, reparse);
        assert!(again.error.is_none(), "{:?}", again.error);
        assert_eq!(again.rows_written.total() + again.rows_updated.total(), 0, "reparse {reparse}: {again:?}");
    }
}
