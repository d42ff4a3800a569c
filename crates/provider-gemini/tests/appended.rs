//! A Gemini CLI session read while it grew — cut at every line, and mid-line — then read whole
//! through a real backfill ends as the store a single import of the whole file builds: re-written
//! copies of a message, rewinds and checkpoints that arrive later included.

use std::path::Path;
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_gemini::{DIR_VARIABLE, GeminiProvider};
use hindcast_testing::appended_and_clean_digests;

const SESSION: &str = "tmp/webapp/chats/session-2026-05-01T10-00-11111111.jsonl";

#[test]
fn a_session_imported_while_it_grew_equals_a_clean_import() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/gemini");
    let whole = std::fs::read(fixtures.join(SESSION)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join(".gemini");
    let env = Environment::with_home(work.path()).set_var(DIR_VARIABLE, root.display().to_string());
    let mut cuts: Vec<usize> =
        whole.iter().enumerate().filter(|(_, byte)| **byte == b'\n').map(|(at, _)| at + 1).collect();
    cuts.push(whole.len() / 2);
    for cut in cuts {
        let (appended, clean) =
            appended_and_clean_digests(Arc::new(GeminiProvider), &env, &fixtures, &root, Path::new(SESSION), cut);
        assert_eq!(appended, clean, "cut at byte {cut}");
        // The digests compare every column; the marks must be there to compare, too.
        let store = rusqlite::Connection::open(work.path().join("appended.db")).unwrap();
        let rewound: i64 =
            store.query_row("SELECT count(*) FROM message WHERE is_rewound", [], |row| row.get(0)).unwrap();
        let expected = if cut == whole.len() { 8 } else { rewound };
        assert_eq!(rewound, expected, "cut at byte {cut}");
    }
}
