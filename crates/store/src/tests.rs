//! Tests of the store: migrations, idempotent writes with exact counts, merges, faults.

use super::*;
use hindcast_core::materialize::{MESSAGES_DATASET, Materializer, MessagesMaterializer, ProvenanceContext, RowBatch};
use hindcast_core::tables::{Table, WriteOutcomes};
use hindcast_testing::synthetic_exchange;

fn rows(session: &str, messages: usize) -> RowBatch {
    let context = ProvenanceContext { provider: "test".into(), run_id: "run-a".into() };
    MessagesMaterializer
        .materialize(MESSAGES_DATASET, synthetic_exchange("test", session, messages), &context)
        .expect("synthetic exchanges materialize")
}

fn count_rows(store: &Store, table: &str) -> i64 {
    store.connection().query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0)).unwrap()
}

#[test]
fn new_store_is_migrated_to_latest_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("nested/dir/h.db"), StoreOptions::default()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST_VERSION);
    let mode: String = store.connection().query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn rerun_writes_zero_rows_and_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db"), StoreOptions::default()).unwrap();
    let batch = rows("s1", 3);
    let first = store.write_rows(&batch).unwrap();
    store.commit().unwrap();
    assert_eq!(first.written().total(), batch.len() as u64);
    assert_eq!(
        (first[Table::Sessions].written, first[Table::Messages].written, first[Table::Usage].written),
        (1, 3, 1)
    );
    let second = store.write_rows(&batch).unwrap();
    store.commit().unwrap();
    assert_eq!(
        (second.written().total(), second.updated().total(), second.skipped().total()),
        (0, 0, batch.len() as u64)
    );
    assert_eq!(count_rows(&store, "messages"), 3);
}

#[test]
fn reimport_of_a_grown_session_merges_metadata_and_adds_only_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db"), StoreOptions::default()).unwrap();
    store.write_rows(&rows("s1", 2)).unwrap();
    let grown = store.write_rows(&rows("s1", 4)).unwrap();
    store.commit().unwrap();
    assert_eq!(grown[Table::Messages], WriteOutcomes { written: 2, updated: 0, skipped: 2 });
    assert_eq!(grown[Table::Sessions], WriteOutcomes { written: 0, updated: 1, skipped: 0 }, "ended_at moved forward");
    let ended: String = store.connection().query_row("SELECT ended_at FROM sessions", [], |row| row.get(0)).unwrap();
    assert_eq!(ended, "2026-01-01T00:03:00.000Z");
    let first_run: String =
        store.connection().query_row("SELECT first_run_id FROM sessions", [], |row| row.get(0)).unwrap();
    assert_eq!(first_run, "run-a");
}

#[test]
fn usage_keeps_the_copy_with_most_output_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db"), StoreOptions::default()).unwrap();
    let mut batch = rows("s1", 1);
    batch.usage[0].output_tokens = 3;
    store.write_rows(&batch).unwrap();
    batch.usage[0].output_tokens = 120;
    assert_eq!(store.write_rows(&batch).unwrap()[Table::Usage], WriteOutcomes { written: 0, updated: 1, skipped: 0 });
    batch.usage[0].output_tokens = 7;
    assert_eq!(store.write_rows(&batch).unwrap()[Table::Usage], WriteOutcomes { written: 0, updated: 0, skipped: 1 });
    store.commit().unwrap();
    let output: i64 = store.connection().query_row("SELECT output_tokens FROM usage", [], |row| row.get(0)).unwrap();
    assert_eq!(output, 120);
}

#[test]
fn usage_stored_without_its_message_moves_to_a_copy_that_has_one_and_never_back() {
    let check = |first_has_message: bool, into_build: bool| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut store = if into_build {
            Store::open_for_import(&path, StoreOptions::default()).unwrap()
        } else {
            Store::open(&path, StoreOptions::default()).unwrap()
        };
        // The parent session holds the response's usage without a message (a warmup agent file);
        // the agent's session, once it is one, holds the message.
        let mut parent = rows("parent", 1);
        let mut agent = rows("agent", 1);
        agent.usage[0].message_id = Some(agent.messages[0].message_id.clone());
        parent.usage = agent.usage.clone();
        parent.usage[0].session_id = parent.sessions[0].session_id.clone();
        parent.usage[0].message_id = None;
        let (first, second) = if first_has_message { (&agent, &parent) } else { (&parent, &agent) };
        store.write_rows(first).unwrap();
        store.write_rows(second).unwrap();
        if into_build {
            store.finish_import().unwrap();
        } else {
            store.commit().unwrap();
        }
        let owner: (String, Option<String>) = store
            .connection()
            .query_row("SELECT session_id, message_id FROM usage", [], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap();
        let message_id = agent.usage[0].message_id.as_deref().map(|id| id[..32].to_string());
        assert_eq!(owner, (agent.usage[0].session_id.clone(), message_id));
        let responses: i64 =
            store.connection().query_row("SELECT sum(responses) FROM quarter_rollup", [], |row| row.get(0)).unwrap();
        assert_eq!(responses, 1, "counted once");
    };
    for (first_has_message, into_build) in [(false, false), (true, false), (false, true), (true, true)] {
        check(first_has_message, into_build);
    }
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(Store::open(&path, StoreOptions::default()).unwrap());
    let conn = Connection::open(&path).unwrap();
    // In rollback-journal mode, which the writer's switch to WAL would change (header bytes 18-19).
    conn.execute_batch("PRAGMA journal_mode = DELETE; UPDATE meta SET value = '999' WHERE key = 'schema_version'")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let error = Store::open(&path, StoreOptions::default()).unwrap_err();
    assert!(std::fs::read(&path).unwrap() == before, "the store is byte-identical");
    let error_for_import = Store::open_for_import(&path, StoreOptions::default()).unwrap_err();
    assert!(matches!(error_for_import, StoreError::NewerSchema { .. }));
    assert!(std::fs::read(&path).unwrap() == before, "the store is byte-identical");
    assert!(matches!(error, StoreError::NewerSchema { found: 999, .. }), "{error}");
    assert!(error.to_string().contains("newer than this hindcast supports"));
    let error = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(error, StoreError::NewerSchema { found: 999, .. }));
}

/// Commits one small session, then writes large ones into the open batch until the capped store
/// refuses one, and rolls that batch back.
fn commit_one_then_fill_until_refused(store: &mut Store) {
    store.write_rows(&rows("small", 1)).unwrap();
    store.commit().unwrap();
    let refused = (0..200).any(|index| store.write_rows(&rows(&format!("big-{index}"), 50)).is_err());
    assert!(refused, "a capped store must eventually refuse writes");
    store.rollback().unwrap();
}

#[test]
fn full_disk_fails_the_batch_and_keeps_committed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(Store::open(&path, StoreOptions::default()).unwrap());
    let pages: u64 = Connection::open(&path).unwrap().query_row("PRAGMA page_count", [], |row| row.get(0)).unwrap();
    let mut store =
        Store::open(&path, StoreOptions { max_page_count: Some(pages + 4), ..StoreOptions::default() }).unwrap();
    commit_one_then_fill_until_refused(&mut store);
    let check: String = store.connection().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert_eq!(count_rows(&store, "sessions"), 1, "only the committed batch remains");
}

#[test]
fn read_only_connection_refuses_writes_and_missing_store_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    assert!(matches!(Store::open_read_only(&path), Err(StoreError::Missing { .. })));
    assert!(!path.exists(), "a read-only open never creates the store");
    drop(Store::open(&path, StoreOptions::default()).unwrap());
    let conn = Store::open_read_only(&path).unwrap();
    assert!(conn.execute("DELETE FROM sessions", []).is_err());
}

#[test]
fn session_metadata_with_nulls_reimports_as_zero_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db"), StoreOptions::default()).unwrap();
    let mut batch = rows("s1", 1);
    batch.sessions[0].metadata = r#"{"resume_id":null,"nested":{"at":null}}"#.into();
    store.write_rows(&batch).unwrap();
    let again = store.write_rows(&batch).unwrap();
    assert_eq!(again[Table::Sessions], WriteOutcomes { written: 0, updated: 0, skipped: 1 });
    batch.sessions[0].metadata = r#"{"resume_id":"r-1"}"#.into();
    assert_eq!(
        store.write_rows(&batch).unwrap()[Table::Sessions],
        WriteOutcomes { written: 0, updated: 1, skipped: 0 }
    );
    store.commit().unwrap();
}

#[test]
fn rollups_count_each_row_once_and_follow_usage_merges() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db"), StoreOptions::default()).unwrap();
    let mut batch = rows("s1", 4);
    store.write_rows(&batch).unwrap();
    store.write_rows(&batch).unwrap();
    batch.usage[0].output_tokens = 500;
    store.write_rows(&batch).unwrap();
    store.commit().unwrap();
    let (sessions, messages, responses, output): (i64, i64, i64, i64) = store
        .connection()
        .query_row(
            "SELECT sum(sessions), sum(messages), sum(responses), sum(output_tokens) FROM quarter_rollup",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (sessions, messages, responses, output),
        (1, 4, 1, 500),
        "a rerun adds nothing; the merge adds its delta"
    );
}

#[test]
fn files_that_are_not_hindcast_stores_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database\n".repeat(300)).unwrap();
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign).unwrap().execute_batch("CREATE TABLE notes (body TEXT)").unwrap();
    for (path, reason) in [(&garbage, "not an SQLite database"), (&foreign, "an SQLite database of another program")] {
        let before = std::fs::read(path).unwrap();
        for result in [Store::open(path, StoreOptions::default()).map(|_| ()), Store::open_read_only(path).map(|_| ())]
        {
            match result {
                Err(StoreError::NotAStore { reason: found, .. }) => assert_eq!(found, reason),
                other => panic!("{}: expected NotAStore, got {other:?}", path.display()),
            }
        }
        assert_eq!(std::fs::read(path).unwrap(), before, "{} untouched", path.display());
    }
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(Store::open(&empty, StoreOptions::default()).unwrap().schema_version().unwrap(), schema::LATEST_VERSION);
}

#[test]
fn a_store_missing_beside_its_write_ahead_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hindcast.db");
    std::fs::write(dir.path().join("hindcast.db-wal"), [7u8; 4096]).unwrap();
    match Store::open(&db, StoreOptions::default()) {
        Err(error @ StoreError::OrphanedWal { .. }) => assert!(error.to_string().contains("hindcast.db-wal remains")),
        other => panic!("expected OrphanedWal, got {other:?}"),
    }
    assert!(!db.exists(), "no fresh store is created over the orphaned log");

    // An empty log (a reader's leftover) holds nothing: it is cleared and a fresh store created.
    std::fs::write(dir.path().join("hindcast.db-wal"), b"").unwrap();
    std::fs::write(dir.path().join("hindcast.db-shm"), [0u8; 64]).unwrap();
    let store = Store::open(&db, StoreOptions::default()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST_VERSION);
}

#[test]
fn a_first_open_interrupted_before_its_first_migration_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hindcast.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT")
        .unwrap();
    assert_eq!(Store::open(&db, StoreOptions::default()).unwrap().schema_version().unwrap(), schema::LATEST_VERSION);
}

#[test]
fn a_message_seen_again_with_more_copies_takes_the_fuller_frame_and_never_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db"), StoreOptions::default()).unwrap();
    let mut batch = rows("s1", 2);
    batch.messages[1].raw_frame = Some(r#"{"uuid":"a"}"#.into());
    store.write_rows(&batch).unwrap();
    let tool_calls_rollup = |store: &Store| -> i64 {
        store.connection().query_row("SELECT sum(tool_calls) FROM quarter_rollup", [], |row| row.get(0)).unwrap()
    };
    let before = tool_calls_rollup(&store);

    let mut grown = batch.clone();
    grown.messages[1].raw_frame = Some(r#"{"mergedUuids":["b"],"uuid":"a"}"#.into());
    grown.messages[1].tool_calls += 1;
    let counts = store.write_rows(&grown).unwrap();
    assert_eq!((counts[Table::Messages].written, counts[Table::Messages].updated), (0, 1));
    assert_eq!(tool_calls_rollup(&store), before + 1, "the rollup follows the merged tool calls");

    let counts = store.write_rows(&batch).unwrap();
    assert_eq!(
        (counts[Table::Messages].updated, counts[Table::Messages].skipped),
        (0, 2),
        "a shorter view never replaces a fuller one"
    );
    let frame: String = store
        .connection()
        .query_row(
            "SELECT raw_frame FROM messages WHERE message_id = ?1",
            [&batch.messages[1].message_id[..32]],
            |row| row.get(0),
        )
        .unwrap();
    assert!(frame.contains("mergedUuids"));
}

#[test]
fn a_first_import_is_built_beside_the_store_and_moved_into_place_when_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/h.db");
    let building = building_path(&path);
    let mut store = Store::open_for_import(&path, StoreOptions::default()).unwrap();
    assert!(store.is_building());
    store.write_rows(&rows("s1", 3)).unwrap();
    store.commit().unwrap();
    assert!(!path.exists() && building.is_file(), "nothing appears at the store's path while it is built");
    let mode: String = store.connection().query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "truncate");
    let refused = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(refused, StoreError::StillBuilding { .. }), "{refused}");
    assert!(refused.to_string().contains("a first import is building it"), "{refused}");

    store.write_rows(&rows("s2", 2)).unwrap();
    store.finish_import().unwrap();
    assert!(!store.is_building() && path.is_file() && !building.exists());
    assert!(!dir.path().join("nested/h.db-building-journal").exists(), "the build's journal goes with it");
    let mode: String = store.connection().query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");
    // The same store goes on writing in place after the move.
    store.write_rows(&rows("s3", 1)).unwrap();
    store.commit().unwrap();
    drop(store);
    let reader = Store::open_read_only(&path).unwrap();
    let messages: i64 = reader.query_row("SELECT count(*) FROM messages", [], |row| row.get(0)).unwrap();
    assert_eq!(messages, 6, "every batch, including the one open at the finish, is in the moved store");
    let check: String = reader.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn an_existing_store_is_written_in_place_and_a_killed_build_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let building = building_path(&path);
    // A build a killed run left behind: half a file, never moved into place, and its journal.
    std::fs::write(&building, b"SQLite format 3\0 torn").unwrap();
    let journal = dir.path().join("h.db-building-journal");
    std::fs::write(&journal, b"a hot journal of the torn build").unwrap();
    let mut store = Store::open_for_import(&path, StoreOptions::default()).unwrap();
    assert!(store.is_building(), "without a store the import builds one, discarding the leftover");
    let journal_bytes = std::fs::metadata(&journal).map_or(0, |metadata| metadata.len());
    assert_eq!(journal_bytes, 0, "the killed build's journal is discarded with it");
    store.write_rows(&rows("s1", 2)).unwrap();
    store.finish_import().unwrap();
    drop(store);

    std::fs::write(&building, b"leftover").unwrap();
    let mut store = Store::open_for_import(&path, StoreOptions::default()).unwrap();
    assert!(!store.is_building() && !building.exists(), "a store that exists is written in place");
    let mode: String = store.connection().query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");
    store.write_rows(&rows("s2", 1)).unwrap();
    store.finish_import().unwrap();
    assert_eq!(count_rows(&store, "messages"), 3);
}

#[test]
fn a_full_disk_during_a_first_import_rolls_back_the_batch_and_keeps_committed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut store =
        Store::open_for_import(&path, StoreOptions { max_page_count: Some(90), ..StoreOptions::default() }).unwrap();
    commit_one_then_fill_until_refused(&mut store);
    store.finish_import().unwrap();
    let check: String = store.connection().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
    assert_eq!(count_rows(&store, "sessions"), 1, "only the committed batch remains");
}

/// Every schema object of a store, as `(type, name, sql)`.
fn schema_objects(conn: &Connection) -> Vec<(String, String, Option<String>)> {
    let mut statement = conn.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name").unwrap();
    statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// Writes batches with merges into a store written in place and into one a first import builds
/// (after `adjust` has been applied to the build), and asserts the two stores are the same.
fn assert_built_store_equals_one_written_in_place(adjust: impl Fn(&mut Store)) {
    let dir = tempfile::tempdir().unwrap();
    let mut grown = rows("s1", 5);
    grown.usage[0].output_tokens += 40;
    let mut other_day = rows("s3", 2);
    for message in &mut other_day.messages {
        message.timestamp = message.timestamp.as_ref().map(|stamp| stamp.replace("2026-01-01", "2026-01-02"));
    }
    // Batches with merges: a session that grows (ended_at moves, usage keeps the larger copy).
    let mut batches = [rows("s1", 3), rows("s2", 2), grown, other_day];
    for batch in &mut batches[..3] {
        batch.sessions[0].project_key = Some("/work/app".into());
    }
    let write_all = |store: &mut Store| {
        for batch in &batches {
            store.write_rows(batch).unwrap();
            store.commit().unwrap();
        }
    };

    let mut in_place = Store::open(&dir.path().join("in-place.db"), StoreOptions::default()).unwrap();
    write_all(&mut in_place);

    let built_path = dir.path().join("built.db");
    let mut built = Store::open_for_import(&built_path, StoreOptions::default()).unwrap();
    adjust(&mut built);
    let objects_while_building = schema_objects(built.connection());
    for left_out in ["message_session", "rollup_message_insert", "message_key", "usage_key"] {
        assert!(
            !objects_while_building.iter().any(|(_, name, _)| name == left_out),
            "{left_out}: secondary indexes, the keyed tables' unique keys and rollup triggers are left out while rows are written"
        );
    }
    assert!(
        ["sqlite_autoindex_session_1", "part_position"]
            .iter()
            .all(|kept| objects_while_building.iter().any(|(_, name, _)| name == kept)),
        "the other tables' unique keys stay"
    );
    write_all(&mut built);
    built.finish_import().unwrap();

    assert_eq!(schema_objects(built.connection()), schema_objects(in_place.connection()));
    let expected = hindcast_testing::table_digests(&dir.path().join("in-place.db"));
    let built_digests = hindcast_testing::table_digests(&built_path);
    for table in ["quarter_rollup", "quarter_projects", "messages", "usage", "sessions"] {
        assert!(expected[table].0 > 0, "{table} has rows to compare");
        assert_eq!(built_digests[table], expected[table], "{table}");
    }
    let check: String = built.connection().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
    // After the move the store goes on counting with its triggers.
    built.write_rows(&rows("s4", 1)).unwrap();
    built.commit().unwrap();
    let sessions: i64 =
        built.connection().query_row("SELECT sum(sessions) FROM quarter_rollup", [], |row| row.get(0)).unwrap();
    assert_eq!(sessions, 4);
    let again = built.write_rows(&rows("s1", 3)).unwrap();
    assert_eq!((again.written().total(), again.updated().total()), (0, 0), "the unique keys hold after the move");
}

#[test]
fn a_first_import_creates_its_indexes_and_rollups_after_its_rows_as_a_store_written_in_place_has_them() {
    assert_built_store_equals_one_written_in_place(|_| {});
}

#[test]
fn a_first_import_recognises_rows_it_wrote_when_keys_share_fingerprints() {
    // Two fingerprints for all keys: nearly every key is confirmed against the stored one or
    // kept whole.
    assert_built_store_equals_one_written_in_place(|store| store.keys.as_mut().unwrap().narrow_fingerprints(1));
}

#[test]
fn a_first_import_with_more_keys_than_it_may_hold_creates_its_unique_keys_midway() {
    assert_built_store_equals_one_written_in_place(|store| store.keys.as_mut().unwrap().limit = 6);
}

#[test]
fn a_first_import_forgets_the_keys_of_a_rolled_back_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut store = Store::open_for_import(&path, StoreOptions::default()).unwrap();
    store.keys.as_mut().unwrap().narrow_fingerprints(0);
    store.write_rows(&rows("s1", 2)).unwrap();
    store.commit().unwrap();
    store.write_rows(&rows("s2", 2)).unwrap();
    store.rollback().unwrap();
    // Written again after the rollback, the rolled-back rows are new rows, not merges.
    let again = store.write_rows(&rows("s2", 2)).unwrap();
    assert_eq!((again[Table::Messages].written, again[Table::Parts].written, again[Table::Usage].written), (2, 2, 1));
    store.finish_import().unwrap();
    assert_eq!(count_rows(&store, "messages"), 4);
}

#[test]
fn a_first_import_that_cannot_be_completed_is_discarded_and_no_store_appears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut store =
        Store::open_for_import(&path, StoreOptions { max_page_count: Some(90), ..StoreOptions::default() }).unwrap();
    // Committed one small session at a time until the capped store is full: no room is left for
    // the indexes.
    let mut committed = 0;
    while store.write_rows(&rows(&format!("s{committed}"), 1)).and_then(|_| store.commit()).is_ok() {
        committed += 1;
    }
    store.rollback().unwrap();
    assert!(committed > 0);
    let error = store.finish_import().unwrap_err();
    assert!(matches!(error, StoreError::CompleteBuild { .. }), "{error}");
    assert!(error.to_string().contains("no store was created"), "{error}");
    assert!(!path.exists() && !building_path(&path).exists(), "nothing is left behind");
    assert!(matches!(Store::open_read_only(&path), Err(StoreError::Missing { .. })));
}

#[test]
fn the_bundled_sqlite_is_built_with_the_workspace_compile_options() {
    let conn = Connection::open_in_memory().unwrap();
    let mut statement = conn.prepare("PRAGMA compile_options").unwrap();
    let options: Vec<String> = statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(options.iter().any(|option| option == "DEFAULT_MEMSTATUS=0"), "see .cargo/config.toml: {options:?}");
}

#[test]
fn new_stores_get_4_kib_pages_and_an_existing_store_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let page_size = |conn: &Connection| -> i64 { conn.query_row("PRAGMA page_size", [], |row| row.get(0)).unwrap() };
    let in_place = Store::open(&dir.path().join("in-place.db"), StoreOptions::default()).unwrap();
    assert_eq!(page_size(in_place.connection()), 4_096);
    let mut built = Store::open_for_import(&dir.path().join("built.db"), StoreOptions::default()).unwrap();
    built.write_rows(&rows("s1", 2)).unwrap();
    built.finish_import().unwrap();
    assert_eq!(page_size(built.connection()), 4_096);

    // A store that already has pages (here: only its `meta` table, from a first open that stopped
    // before its first migration) keeps their size and is migrated as it is.
    let older = dir.path().join("older.db");
    let conn = Connection::open(&older).unwrap();
    conn.execute_batch(
        "PRAGMA page_size = 16384; CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;",
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(&older, StoreOptions::default()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::LATEST_VERSION);
    assert_eq!(page_size(store.connection()), 16_384);
    store.write_rows(&rows("s1", 2)).unwrap();
    store.commit().unwrap();
    assert_eq!(count_rows(&store, "messages"), 2);
}

/// A store at schema version 5 (before the keyed tables were rebuilt) at `path`, holding
/// `batches` as that release wrote them.
fn store_at_version_5_with(path: &Path, batches: &[RowBatch]) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT").unwrap();
    for migration in &schema::MIGRATIONS[..5] {
        assert!(migration.rebuilt_tables.is_empty());
        conn.execute_batch(migration.sql).unwrap();
    }
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '5')", []).unwrap();
    // (Its triggers fill the rollups as the rows go in.)
    for batch in batches {
        hindcast_testing::schema7::write_rows(&conn, batch);
    }
    conn
}

#[test]
fn a_store_from_before_the_keyed_tables_were_rebuilt_keeps_its_rows_rowids_indexes_and_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current.db");
    let mut store = Store::open(&current, StoreOptions::default()).unwrap();
    // Enough rows that the pages the old tables leave free are most of the store.
    let mut batches = [rows("s1", 2), rows("s2", 3), rows("s3", 400)];
    for batch in &mut batches {
        batch.sessions[0].project_key = Some("/work/app".into());
        store.write_rows(batch).unwrap();
        store.commit().unwrap();
    }
    drop(store);

    // The same rows in a store at schema version 5, as the previous release left it.
    let older = dir.path().join("older.db");
    let conn = store_at_version_5_with(&older, &batches);
    // A gap in the rowids, which the conversion keeps.
    conn.execute_batch("UPDATE parts SET rowid = 100000 WHERE rowid = 1").unwrap();
    let rowids_before: Vec<(i64, i64)> = conn
        .prepare("SELECT p.rowid, p.part_index FROM parts p ORDER BY p.rowid")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    let rowids = |conn: &Connection| -> Vec<(i64, i64)> {
        let mut statement = conn.prepare("SELECT part, part_index FROM part ORDER BY part").unwrap();
        statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect()
    };

    let before_upgrade = hindcast_testing::table_digests(&older);
    static NOTICES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let options = StoreOptions {
        notify: Some(|notice| NOTICES.lock().unwrap().push(notice.to_string())),
        ..StoreOptions::default()
    };
    let mut migrated = Store::open(&older, options).unwrap();
    assert_eq!(migrated.schema_version().unwrap(), schema::LATEST_VERSION);
    // A copy of the store as it was is kept beside it, private, and was announced.
    let backup = crate::backup_path(&older, 5);
    assert_eq!(hindcast_testing::table_digests(&backup), before_upgrade);
    let version: String = Connection::open(&backup)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, "5");
    assert_eq!(mode_of(&backup), 0o600);
    let notices = NOTICES.lock().unwrap().clone();
    assert!(notices.len() == 1 && notices[0].contains(&backup.display().to_string()), "{notices:?}");
    let free_pages: i64 = migrated.connection().query_row("PRAGMA freelist_count", [], |row| row.get(0)).unwrap();
    assert_eq!(free_pages, 0, "the pages the old tables left are given back");
    let fresh = Store::open(&dir.path().join("fresh.db"), StoreOptions::default()).unwrap();
    assert_eq!(schema_objects(migrated.connection()), schema_objects(fresh.connection()));
    assert_eq!(rowids(migrated.connection()), rowids_before);
    let expected = hindcast_testing::table_digests(&current);
    let digests = hindcast_testing::table_digests(&older);
    for table in ["messages", "parts", "usage", "sessions", "quarter_rollup", "quarter_projects"] {
        assert!(expected[table].0 > 0, "{table} has rows to compare");
        assert_eq!(digests[table], expected[table], "{table}");
    }
    // The keys still decide, and the triggers still count.
    let again = migrated.write_rows(&rows("s2", 4)).unwrap();
    migrated.commit().unwrap();
    assert_eq!(
        (again[Table::Messages].written, again[Table::Messages].skipped, again[Table::Parts].written),
        (1, 3, 1)
    );
    let messages: i64 =
        migrated.connection().query_row("SELECT sum(messages) FROM quarter_rollup", [], |row| row.get(0)).unwrap();
    assert_eq!(messages, count_rows(&migrated, "messages"));
    let check: String = migrated.connection().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn an_upgrade_without_room_for_the_rebuilt_tables_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current.db");
    let mut store = Store::open(&current, StoreOptions::default()).unwrap();
    store.write_rows(&rows("s1", 300)).unwrap();
    store.commit().unwrap();
    drop(store);
    let older = dir.path().join("older.db");
    let conn = store_at_version_5_with(&older, &[rows("s1", 300)]);
    let pages: u64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0)).unwrap();
    drop(conn);
    let objects_before = schema_objects(&Connection::open(&older).unwrap());

    let error =
        Store::open(&older, StoreOptions { max_page_count: Some(pages + 2), ..StoreOptions::default() }).unwrap_err();
    assert!(matches!(error, StoreError::Upgrade { at: 5, to: 6, .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("full") && message.contains("left at schema version 5"), "{message}");
    let conn = Connection::open(&older).unwrap();
    let version: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0)).unwrap();
    assert_eq!(version, "5", "the store is left at its version");
    assert!(schema_objects(&conn) == objects_before, "with its schema");
    let messages: i64 = conn.query_row("SELECT count(*) FROM messages", [], |row| row.get(0)).unwrap();
    assert_eq!(messages, 300, "and its rows");
    drop(conn);

    let upgraded = Store::open(&older, StoreOptions::default()).unwrap();
    assert_eq!(upgraded.schema_version().unwrap(), schema::LATEST_VERSION);
    assert_eq!(count_rows(&upgraded, "messages"), 300);
}

#[test]
fn unique_keys_created_midway_survive_a_batch_that_fails_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut store = Store::open_for_import(&path, StoreOptions::default()).unwrap();
    store.keys.as_mut().unwrap().limit = 3;
    store.write_rows(&rows("s1", 3)).unwrap();
    assert!(store.keys.is_none(), "the keys were handed to the unique indexes");
    // The next batch fails (a part of no known kind) and is rolled back.
    let mut failing = rows("s2", 2);
    failing.parts[1].kind = "bogus";
    assert!(store.write_rows(&failing).is_err());
    store.rollback().unwrap();
    let again = store.write_rows(&rows("s1", 3)).unwrap();
    assert_eq!(
        (again[Table::Messages].skipped, again[Table::Messages].written),
        (3, 0),
        "the unique keys still decide"
    );
    store.write_rows(&rows("s2", 2)).unwrap();
    store.finish_import().unwrap();
    let objects = schema_objects(store.connection());
    assert!(objects.iter().any(|(_, name, _)| name == "message_key"));
    assert_eq!(count_rows(&store, "messages"), 5);
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn every_file_of_a_store_is_created_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/dir/h.db");
    let lock = crate::StoreLock::acquire(&path).unwrap();
    let mut store = Store::open_for_import(&path, StoreOptions::default()).unwrap();
    assert_eq!(mode_of(&crate::building_path(&path)), 0o600);
    store.write_rows(&rows("s1", 3)).unwrap();
    store.finish_import().unwrap();
    store.write_rows(&rows("s2", 3)).unwrap();
    store.commit().unwrap();
    for file in [path.clone(), crate::private::sidecar(&path, "-wal"), crate::private::sidecar(&path, "-shm")] {
        assert_eq!(mode_of(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode_of(lock.path()), 0o600);
    assert_eq!((mode_of(&dir.path().join("new")), mode_of(&dir.path().join("new/dir"))), (0o700, 0o700));
    let in_place = dir.path().join("in-place.db");
    drop(Store::open(&in_place, StoreOptions::default()).unwrap());
    assert_eq!(mode_of(&in_place), 0o600);
}

#[test]
fn a_backup_is_a_consistent_private_copy_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut store = Store::open(&path, StoreOptions::default()).unwrap();
    store.write_rows(&rows("s1", 5)).unwrap();
    store.commit().unwrap();
    // A batch still open in the writer is not in the copy.
    store.write_rows(&rows("s2", 5)).unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    let copy = dir.path().join("copy.db");
    crate::copy_store(&reader, &path, &copy).unwrap();
    assert_eq!(mode_of(&copy), 0o600);
    let copied = Store::open_read_only(&copy).unwrap();
    let messages: i64 = copied.query_row("SELECT count(*) FROM messages", [], |row| row.get(0)).unwrap();
    assert_eq!(messages, 5);
    let error = crate::copy_store(&reader, &path, &copy).unwrap_err();
    assert!(matches!(error, crate::BackupError::Exists { .. }), "{error}");
}

#[test]
fn an_upgrade_that_fails_for_another_reason_than_the_disk_does_not_blame_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    drop(Store::open(&path, StoreOptions::default()).unwrap());
    // A version-7 marker on a version-8 store: the conversion finds its tables already there.
    Connection::open(&path).unwrap().execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'", []).unwrap();
    let error = Store::open(&path, StoreOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Upgrade { at: 7, .. }), "{message}");
    assert!(message.contains("already exists") && !message.contains("disk"), "{message}");
}

#[test]
fn a_store_priced_with_another_table_is_priced_again_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let mut batch = rows("s1", 3);
    for usage in &mut batch.usage {
        usage.model = Some("claude-sonnet-4-5-20250929".into());
        usage.provenance.provider = "claude".into();
    }
    let mut store = Store::open(&db, StoreOptions::default()).unwrap();
    store.write_rows(&batch).unwrap();
    store.commit().unwrap();
    let costs = |store: &Store| -> (i64, i64, i64) {
        store
            .connection()
            .query_row(
                "SELECT (SELECT sum(cost_nano_usd) FROM token_usage), (SELECT sum(cost_nano_usd) FROM quarter_rollup), \
                 (SELECT sum(cost_nano_usd) FROM session_rollup)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap()
    };
    let priced = costs(&store);
    assert!(priced.0 > 0 && priced.0 == priced.1 && priced.0 == priced.2, "{priced:?}");
    // What an older release with another table would have left: other costs, its name.
    store
        .connection()
        .execute_batch(
            "UPDATE token_usage SET cost_nano_usd = 1; UPDATE meta SET value = 'genai-prices 0.1.0' WHERE key = 'price_table';",
        )
        .unwrap();
    drop(store);
    let store = Store::open(&db, StoreOptions::default()).unwrap();
    assert_eq!(costs(&store), priced, "every row priced again, and the rollups rebuilt");
    let table: String =
        store.connection().query_row("SELECT value FROM meta WHERE key = 'price_table'", [], |row| row.get(0)).unwrap();
    assert_eq!(table, hindcast_pricing::PRICE_TABLE);
    let trigger: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'rollup_usage_update'", [], |row| row.get(0))
        .unwrap();
    assert_eq!(trigger, 1, "the rollups' trigger is back after the pricing");
}
