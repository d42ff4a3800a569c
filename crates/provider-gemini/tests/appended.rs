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

/// A session that only grows the usual way — prompts, answers written first with their tokens and
/// again with their tool calls, `$set` updates — is continued from its checkpoint, never re-read:
/// at every cut, the second run reports the file appended and the store equals a clean import.
#[test]
fn a_growing_session_continues_from_its_checkpoint() {
    use hindcast_testing::{backfill_into, table_digests};
    let meta = r#"{"sessionId":"44444444-4444-4444-8444-444444444444","projectHash":"h","startTime":"2026-06-01T09:00:00.000Z","lastUpdated":"2026-06-01T09:00:00.000Z","kind":"main"}"#;
    let mut lines = vec![meta.to_string()];
    for turn in 0..4 {
        let at = |second: u32| format!("2026-06-01T09:{turn:02}:{second:02}.000Z");
        lines.push(format!(
            r#"{{"id":"u{turn}","timestamp":"{}","type":"user","content":[{{"text":"step {turn}"}}]}}"#,
            at(1)
        ));
        let answer = format!(
            r#""id":"g{turn}","timestamp":"{}","type":"gemini","content":"done {turn}","thoughts":[],"tokens":{{"input":{},"output":9,"cached":5,"thoughts":2,"tool":0,"total":{}}},"model":"gemini-2.5-pro""#,
            at(5),
            100 + turn,
            111 + turn
        );
        lines.push(format!("{{{answer}}}"));
        lines.push(format!(r#"{{"$set":{{"lastUpdated":"{}","summary":"Steps up to {turn}"}}}}"#, at(5)));
        lines.push(format!(
            r#"{{{answer},"toolCalls":[{{"id":"c{turn}","name":"read_file","args":{{"path":"f{turn}"}},"result":[{{"functionResponse":{{"id":"c{turn}","name":"read_file","response":{{"output":"text {turn}"}}}}}}],"status":"success"}}]}}"#
        ));
    }
    let whole = lines.iter().map(|line| format!("{line}\n")).collect::<String>();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join(".gemini");
    let file = root.join("tmp/growing/chats/session-2026-06-01T09-00-44444444.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let env = Environment::with_home(work.path()).set_var(DIR_VARIABLE, root.display().to_string());
    let cuts: Vec<usize> = whole.match_indices('\n').map(|(at, _)| at + 1).filter(|at| *at < whole.len()).collect();
    for cut in cuts {
        for db in ["grown.db", "clean.db"] {
            for suffix in ["", "-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(work.path().join(format!("{db}{suffix}")));
            }
        }
        std::fs::write(&file, &whole[..cut]).unwrap();
        backfill_into(Arc::new(GeminiProvider), &env, &work.path().join("grown.db"), false);
        std::fs::write(&file, &whole).unwrap();
        let second = backfill_into(Arc::new(GeminiProvider), &env, &work.path().join("grown.db"), false);
        assert_eq!(second.sources_appended, 1, "cut at byte {cut}");
        // A whole read meets the metadata line again; a continued one starts after it.
        assert_eq!(second.records_ignored.get("session_metadata"), None, "cut at byte {cut}: continued, not re-read");
        backfill_into(Arc::new(GeminiProvider), &env, &work.path().join("clean.db"), false);
        assert_eq!(
            table_digests(&work.path().join("grown.db")),
            table_digests(&work.path().join("clean.db")),
            "cut at byte {cut}"
        );
    }
}
