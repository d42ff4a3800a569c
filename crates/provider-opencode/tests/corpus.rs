//! Imports the shared corpus's real OpenCode data directory (copied: SQLite may touch `-shm` even
//! for a read) and holds its tokens equal to ccusage 20.0.24's `ccusage opencode session`; imports
//! the synthetic legacy trees with every way they differ from OpenCode's own files noted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_core::model::ProjectedExchange;
use hindcast_core::provider::Environment;
use hindcast_core::time_window::TimeWindow;
use hindcast_provider_opencode::{DIR_VARIABLE, OpencodeProvider};
use hindcast_testing::{backfill_into, copy_tree, import_all};
use serde::Serialize;

fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/opencode");
    assert!(path.is_dir(), "the shared corpus is expected beside the repository at {}", path.display());
    path
}

fn data_dir(from: &Path, to: &Path) -> Environment {
    copy_tree(from, to);
    Environment::with_home(to.parent().unwrap()).set_var(DIR_VARIABLE, to.display().to_string())
}

/// `ccusage opencode session --json --offline` with `OPENCODE_DATA_DIR` at the real data
/// directory: per session, non-cached input, cache reads, cache writes, output, total.
const CCUSAGE: &[(&str, [u64; 5])] = &[
    ("ses_3520e0b48ffeYkk02CKdPV1gUd", [18_793, 11_136, 0, 548, 30_477]),
    ("ses_3a8ef361affe3Qr05TZvm9q4uU", [39_014, 35_648, 0, 2_241, 76_903]),
];

#[derive(Default, Serialize)]
struct SessionCounts {
    title: Option<String>,
    cwd: Option<String>,
    version: Option<String>,
    models: Vec<String>,
    messages: BTreeMap<&'static str, u64>,
    parts: BTreeMap<&'static str, u64>,
    usage_records: u64,
    notes: Vec<String>,
}

fn counts(exchange: &ProjectedExchange, work: &Path) -> SessionCounts {
    let mut counts = SessionCounts {
        title: exchange.session.title.clone(),
        cwd: exchange.session.cwd.clone(),
        version: exchange.session.client_version.clone(),
        models: exchange.session.models.clone(),
        usage_records: exchange.usage.len() as u64,
        notes: exchange.notes.iter().map(|note| note.note.replace(&work.display().to_string(), "[work]")).collect(),
        ..SessionCounts::default()
    };
    for message in &exchange.messages {
        *counts.messages.entry(message.role.as_str()).or_default() += 1;
        for part in &message.parts {
            *counts.parts.entry(part.kind.as_str()).or_default() += 1;
        }
    }
    counts
}

#[test]
fn the_real_database_imports_and_equals_ccusage() {
    let work = tempfile::tempdir().unwrap();
    let env = data_dir(&corpus().join("opencode-project-manager"), &work.path().join("opencode"));
    let (exchanges, report) = import_all(&OpencodeProvider, &env, &TimeWindow::ALL);
    assert_eq!(report.records_skipped.count, 0, "{:?}", report.records_skipped.first);
    assert_eq!(report.unknown_records, 0);
    let mut tokens: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    let mut sessions: BTreeMap<String, SessionCounts> = BTreeMap::new();
    for exchange in &exchanges {
        sessions.insert(exchange.session.native_id.clone(), counts(exchange, work.path()));
        let session = tokens.entry(exchange.session.native_id.clone()).or_default();
        for usage in &exchange.usage {
            session[0] += usage.input_tokens - usage.cache_read_tokens - usage.cache_creation_tokens;
            session[1] += usage.cache_read_tokens;
            session[2] += usage.cache_creation_tokens;
            session[3] += usage.output_tokens;
            session[4] += usage.input_tokens + usage.output_tokens;
        }
    }
    let expected: BTreeMap<String, [u64; 5]> = CCUSAGE.iter().map(|(id, counts)| (id.to_string(), *counts)).collect();
    assert_eq!(tokens, expected, "[input, cache reads, cache writes, output, total] per session");
    insta::assert_json_snapshot!("real", sessions);

    let db = work.path().join("hindcast.db");
    let first = backfill_into(Arc::new(OpencodeProvider), &env, &db, false);
    assert!(first.error.is_none() && first.rows_written.total() > 0, "{:?}", first.error);
    let again = backfill_into(Arc::new(OpencodeProvider), &env, &db, true);
    assert_eq!(again.rows_written.total() + again.rows_updated.total(), 0, "a rerun writes nothing: {again:?}");
}

#[test]
fn the_synthetic_legacy_trees_import_with_their_deviations_noted() {
    let work = tempfile::tempdir().unwrap();
    let mut all = BTreeMap::new();
    for tree in ["agent-sessions", "codemie-code"] {
        let env = data_dir(&corpus().join("synthetic").join(tree), &work.path().join(tree));
        let (exchanges, report) = import_all(&OpencodeProvider, &env, &TimeWindow::ALL);
        assert_eq!(report.lines_skipped.count, 0, "{tree}: {:?}", report.lines_skipped.first);
        for exchange in &exchanges {
            let counts = counts(exchange, work.path());
            assert!(!counts.notes.is_empty(), "{tree}: a synthetic tree differs from OpenCode's own files");
            all.insert(format!("{tree}/{}", exchange.session.native_id), counts);
        }
    }
    insta::assert_json_snapshot!("synthetic", all);
}
