//! OpenCode writes its database while hindcast reads it: a second process commits messages (each
//! with its parts, in one transaction, checkpointing now and then) while the provider reads again
//! and again. Every read succeeds, sees whole transactions only and never fewer messages than the
//! read before, and the database is never opened for writing by the reader.

use std::process::Command;
use std::time::Duration;

use hindcast_core::provider::Environment;
use hindcast_core::time_window::TimeWindow;
use hindcast_provider_opencode::{DIR_VARIABLE, OpencodeProvider};
use hindcast_testing::{import_all, opencode_fixture};

/// Set in the child process: the database it writes to.
const WRITER: &str = "HINDCAST_OPENCODE_TEST_WRITER";
const WRITES: u32 = 300;
const PARTS_PER_MESSAGE: usize = 3;

/// The writer, run as a child process by the test below (a no-op in a normal test run).
#[test]
fn writer_process() {
    let Some(db) = std::env::var_os(WRITER) else { return };
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    for n in 0..WRITES {
        let tx = conn.transaction().unwrap();
        let id = format!("msg_live{n:05}");
        let data = format!(r#"{{"role":"user","time":{{"created":{}}}}}"#, 1_777_100_000_000_i64 + i64::from(n));
        tx.execute("INSERT INTO message VALUES (?1, 'ses_live', 1, 1, ?2)", rusqlite::params![id, data]).unwrap();
        for p in 0..PARTS_PER_MESSAGE {
            let text = format!(r#"{{"type":"text","text":"live {n} part {p}"}}"#);
            tx.execute(
                "INSERT INTO part VALUES (?1, ?2, 'ses_live', 1, 1, ?3)",
                rusqlite::params![format!("prt_live{n:05}{p}"), id, text],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        if n % 50 == 49 {
            conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn reads_while_another_process_commits_see_whole_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let data = opencode_fixture(&dir.path().join("opencode"));
    let db = data.join("opencode.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "INSERT INTO session (id, project_id, slug, directory, title, version, time_created, time_updated) \
             VALUES ('ses_live', 'p1', 'live', '/home/dev/shop', 'Live session', '1.2.15', 1777100000000, 1777100000000)",
        )
        .unwrap();
    let mut writer = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer_process", "--nocapture", "--test-threads=1"])
        .env(WRITER, &db)
        .spawn()
        .unwrap();
    let env = Environment::with_home(dir.path()).set_var(DIR_VARIABLE, data.display().to_string());
    let (mut reads, mut seen) = (0, 0);
    loop {
        let finished = writer.try_wait().unwrap().is_some();
        let (exchanges, report) = import_all(&OpencodeProvider, &env, &TimeWindow::ALL);
        assert_eq!(report.records_skipped.count, 0, "{:?}", report.records_skipped.first);
        let live =
            exchanges.iter().find(|exchange| exchange.session.native_id == "ses_live").expect("the live session");
        assert!(live.messages.iter().all(|message| message.parts.len() == PARTS_PER_MESSAGE), "a torn transaction");
        assert!(live.messages.len() >= seen, "a read saw fewer messages than the one before");
        seen = live.messages.len();
        reads += 1;
        if finished {
            break;
        }
    }
    assert!(writer.wait().unwrap().success(), "the writer failed");
    assert_eq!(seen, WRITES as usize, "the last read sees every commit");
    assert!(reads >= 3, "only {reads} reads overlapped the writer");
}
