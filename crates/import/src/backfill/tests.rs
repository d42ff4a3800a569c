//! Tests of a whole run with scripted providers: success, idempotency and every failure mode.

use super::*;
use crate::envelope::{EVENT_NAMES, read_events};
use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::tables::Table;
use hindcast_store::StoreOptions;
use hindcast_testing::{Behavior, ScriptedProvider};
use std::sync::atomic::AtomicBool;

fn scripted(name: &str, dataset: &str, behavior: Behavior) -> Arc<dyn Provider> {
    Arc::new(ScriptedProvider::new(name, dataset, behavior))
}

struct Harness {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    events: EventLog,
    events_path: std::path::PathBuf,
    env: Environment,
    materializers: MaterializerRegistry,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let events_path = dir.path().join("events.jsonl");
        Self {
            db: dir.path().join("h.db"),
            events: EventLog::to_file(events_path.clone()),
            events_path,
            env: Environment::with_home(dir.path()),
            materializers: MaterializerRegistry::builtin(),
            _dir: dir,
        }
    }

    fn run(&self, providers: &[Arc<dyn Provider>], options: StoreOptions, dry_run: bool) -> BackfillReport {
        if dry_run {
            return self.run_with(providers, options, |options| options.dry_run = true);
        }
        self.run_with(providers, options, |_| {})
    }

    fn run_with(
        &self,
        providers: &[Arc<dyn Provider>],
        options: StoreOptions,
        adjust: impl FnOnce(&mut BackfillOptions),
    ) -> BackfillReport {
        let context = RunContext {
            materializers: &self.materializers,
            env: &self.env,
            events: &self.events,
            observer: &SilentObserver,
            cancel: None,
        };
        let mut run_options =
            BackfillOptions { batch_rows: 50, building_batch_rows: 50, ..BackfillOptions::new(TimeWindow::ALL, false) };
        adjust(&mut run_options);
        if run_options.dry_run {
            return run_backfill(providers, None, &run_options, &context);
        }
        // The import path of the CLI: a first import is built beside the store and moved into place.
        let mut store = Store::open_for_import(&self.db, options).unwrap();
        run_backfill(providers, Some(&mut store), &run_options, &context)
    }

    /// A run context over this harness with `observer` and a cancel flag.
    fn context<'a>(&'a self, observer: &'a dyn RunObserver, cancel: &'a AtomicBool) -> RunContext<'a> {
        RunContext {
            materializers: &self.materializers,
            env: &self.env,
            events: &self.events,
            observer,
            cancel: Some(cancel),
        }
    }

    fn count(&self, table: &str) -> i64 {
        let conn = Store::open_read_only(&self.db).unwrap();
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0)).unwrap()
    }
}

fn report<'a>(run: &'a BackfillReport, provider: &str) -> &'a ProviderReport {
    run.providers.iter().find(|report| report.provider == provider).expect("provider in report")
}

#[test]
fn ok_provider_writes_rows_and_rerun_writes_zero() {
    let harness = Harness::new();
    let providers = [scripted("a", MESSAGES_DATASET, Behavior::Ok { sessions: 3 })];
    let first = harness.run(&providers, StoreOptions::default(), false);
    assert_eq!(first.status, Status::Ok);
    let a = report(&first, "a");
    assert_eq!((a.units_seen, a.sessions_seen, a.items_seen), (3, 3, 12));
    let expected = RowTotals::from_fn(|table| match table {
        Table::Sessions | Table::Usage => 3,
        Table::Messages | Table::Parts => 12,
        _ => 0,
    });
    assert_eq!((a.rows_written, a.rows_written.total()), (expected, 3 + 12 + 12 + 3));
    assert_eq!(a.rows_written, a.rows_materialized);
    assert_eq!(harness.count("messages"), 12);

    let second = harness.run(&providers, StoreOptions::default(), false);
    let a = report(&second, "a");
    assert_eq!((a.sources_unchanged, a.bytes_unchanged), (3, 3_000), "the manifest skips unchanged sources unread");
    assert_eq!((a.sessions_seen, a.rows_materialized.total(), a.rows_written.total()), (0, 0, 0));

    let third = harness.run_with(&providers, StoreOptions::default(), |options| options.reparse = true);
    let a = report(&third, "a");
    assert_eq!(a.sources_unchanged, 0, "--reparse ignores the manifest");
    assert_eq!(a.rows_written.total(), 0);
    assert_eq!(a.rows_updated.total(), 0);
    assert_eq!(a.rows_skipped.total(), 30);
}

#[test]
fn a_session_handed_over_in_parts_is_stored_as_if_whole_with_one_session_row() {
    let (whole, parted) = (Harness::new(), Harness::new());
    let run = |harness: &Harness, behavior| {
        let report = harness.run(&[scripted("long", MESSAGES_DATASET, behavior)], StoreOptions::default(), false);
        assert_eq!(report.status, Status::Ok);
        report.providers[0].clone()
    };
    let expected = run(&whole, Behavior::Large { sessions: 2, messages: 30 });
    let split = run(&parted, Behavior::InParts { sessions: 2, messages: 30, parts: 4 });
    assert_eq!(split.rows_written, expected.rows_written, "each session row is written once, not once per part");
    assert_eq!(split.rows_materialized, expected.rows_materialized);
    assert_eq!((split.rows_skipped.total(), split.rows_written[Table::Sessions]), (0, 2));
    assert_eq!(hindcast_testing::table_digests(&parted.db), hindcast_testing::table_digests(&whole.db));
}

#[test]
fn every_failure_mode_fails_its_provider_and_others_still_run() {
    let harness = Harness::new();
    let providers = [
        scripted("no-materializer", "tokens", Behavior::Ok { sessions: 1 }),
        scripted("mismatch", MESSAGES_DATASET, Behavior::EmitsDataset { dataset: "tokens".into() }),
        scripted("parse-fails", MESSAGES_DATASET, Behavior::ParseFails),
        scripted("panics", MESSAGES_DATASET, Behavior::Panics),
        scripted("good", MESSAGES_DATASET, Behavior::Ok { sessions: 2 }),
    ];
    let run = harness.run(&providers, StoreOptions::default(), false);
    assert_eq!(run.status, Status::Failed);
    let expectations = [
        ("no-materializer", "no materializer produces dataset 'tokens'"),
        ("mismatch", "dataset mismatch"),
        ("parse-fails", "scripted parse failure"),
        ("panics", "the parser panicked: scripted panic"),
    ];
    for (provider, needle) in expectations {
        let failed = report(&run, provider);
        assert_eq!(failed.status, Status::Failed, "{provider}");
        assert_eq!(failed.rows_written.total(), 0, "{provider}");
        let error = failed.error.as_deref().unwrap_or_default();
        assert!(error.contains(needle), "{provider}: {error}");
    }
    let good = report(&run, "good");
    assert_eq!(good.status, Status::Ok);
    assert_eq!(good.rows_written[Table::Sessions], 2);
    assert_eq!(harness.count("sessions"), 2);
}

#[test]
fn store_write_error_fails_the_provider_and_keeps_committed_batches_whole() {
    let harness = Harness::new();
    drop(Store::open(&harness.db, StoreOptions::default()).unwrap());
    let providers = [scripted("large", MESSAGES_DATASET, Behavior::Large { sessions: 40, messages: 200 })];
    let run = harness.run(&providers, StoreOptions { max_page_count: Some(120), ..StoreOptions::default() }, false);
    let large = report(&run, "large");
    assert_eq!(large.status, Status::Failed);
    let error = large.error.as_deref().unwrap_or_default();
    assert!(error.contains("store write failed"), "{error}");
    assert!(large.rows_written.total() < large.rows_materialized.total().max(1));
    let conn = Store::open_read_only(&harness.db).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
    let orphan_parts: i64 = conn
        .query_row("SELECT count(*) FROM parts WHERE message_id NOT IN (SELECT message_id FROM messages)", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(orphan_parts, 0, "an exchange is never half-written");
}

#[test]
fn dry_run_materializes_without_a_store() {
    let harness = Harness::new();
    let providers = [scripted("a", MESSAGES_DATASET, Behavior::Ok { sessions: 2 })];
    let run = harness.run(&providers, StoreOptions::default(), true);
    assert_eq!(run.status, Status::Ok);
    let a = report(&run, "a");
    assert_eq!(a.rows_materialized[Table::Sessions], 2);
    assert_eq!(a.rows_written.total(), 0);
    assert!(!harness.db.exists());
}

#[test]
fn a_run_emits_all_nine_envelope_events_with_counts() {
    let harness = Harness::new();
    let providers = [scripted("a", MESSAGES_DATASET, Behavior::Ok { sessions: 2 })];
    let run = harness.run(&providers, StoreOptions::default(), false);
    let read = read_events(&harness.events_path).unwrap();
    assert!(read.corrupt_lines.is_empty() && !read.torn_last_line);
    let names: Vec<&str> = read.events.iter().map(|event| event["event"].as_str().unwrap()).collect();
    for name in EVENT_NAMES {
        assert!(names.contains(&name), "missing {name} in {names:?}");
    }
    assert!(read.events.iter().all(|event| event["run_id"] == run.run_id.as_str()));
    let finish = read.events.iter().find(|event| event["event"] == "backfill.provider_finish").unwrap();
    assert_eq!(finish["rows_written"], report(&run, "a").rows_written.total());
    assert_eq!(finish["dataset"], "messages");
}

#[test]
fn window_drops_messages_outside_it() {
    let mut exchange = hindcast_testing::synthetic_exchange("c", "s", 4);
    let window = TimeWindow::new(Some("2026-01-01T00:02:00Z".parse().unwrap()), None).unwrap();
    let (kept, dropped) = retain_window(&mut exchange, &window);
    assert!(kept);
    assert_eq!(dropped, 2);
    assert_eq!(exchange.messages.len(), 2);
    let late = TimeWindow::new(Some("2027-01-01T00:00:00Z".parse().unwrap()), None).unwrap();
    let mut exchange = hindcast_testing::synthetic_exchange("c", "s", 4);
    assert_eq!(retain_window(&mut exchange, &late), (false, 4));
}

#[test]
fn cancelled_run_stops_and_fails_without_losing_committed_rows() {
    let harness = Harness::new();
    let cancel = AtomicBool::new(true);
    let context = harness.context(&SilentObserver, &cancel);
    let providers = [scripted("a", MESSAGES_DATASET, Behavior::Ok { sessions: 2 })];
    let mut store = Store::open(&harness.db, StoreOptions::default()).unwrap();
    let run = run_backfill(&providers, Some(&mut store), &BackfillOptions::new(TimeWindow::ALL, false), &context);
    assert!(run.cancelled);
    assert_eq!(run.status, Status::Failed);
    let conn = Store::open_read_only(&harness.db).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
}

/// Cancels the run as soon as the first unit is parsed (as a Ctrl-C would).
struct CancelAfterFirstUnit<'a>(&'a AtomicBool);

impl RunObserver for CancelAfterFirstUnit<'_> {
    fn unit_finished(&self, _provider: &str, _bytes: u64) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_cancelled_first_import_moves_its_committed_batches_into_place_and_the_next_run_completes_it() {
    let harness = Harness::new();
    let cancel = AtomicBool::new(false);
    let observer = CancelAfterFirstUnit(&cancel);
    let context = harness.context(&observer, &cancel);
    let providers = [scripted("a", MESSAGES_DATASET, Behavior::Ok { sessions: 30 })];
    let mut store = Store::open_for_import(&harness.db, StoreOptions::default()).unwrap();
    assert!(store.is_building());
    let options =
        BackfillOptions { batch_rows: 5, building_batch_rows: 5, ..BackfillOptions::new(TimeWindow::ALL, false) };
    let run = run_backfill(&providers, Some(&mut store), &options, &context);
    assert!(run.cancelled && !store.is_building(), "a cancelled first import is still moved into place");
    drop(store);
    assert!(!hindcast_store::building_path(&harness.db).exists());
    let kept = harness.count("sessions");
    assert!((1..30).contains(&kept), "the committed part of the import is kept ({kept} of 30 sessions)");

    let rerun = harness.run(&providers, StoreOptions::default(), false);
    assert_eq!(rerun.status, Status::Ok);
    assert_eq!(harness.count("sessions"), 30);
    assert_eq!(report(&rerun, "a").rows_written[Table::Sessions], (30 - kept) as u64);
}

#[test]
fn a_first_import_commits_in_building_sized_transactions_and_a_later_run_in_smaller_ones() {
    let harness = Harness::new();
    let commits = |harness: &Harness| -> Vec<u64> {
        let events = read_events(&harness.events_path).unwrap().events;
        events
            .iter()
            .filter(|event| event["event"] == "backfill.flush")
            .map(|event| event["commits"].as_u64().unwrap())
            .collect()
    };
    let sized = |options: &mut BackfillOptions| {
        options.batch_rows = 10;
        options.building_batch_rows = 1_000_000;
    };
    let first = [scripted("a", MESSAGES_DATASET, Behavior::Ok { sessions: 12 })];
    assert_eq!(harness.run_with(&first, StoreOptions::default(), sized).status, Status::Ok);
    assert_eq!(commits(&harness), [1], "the whole first import in one transaction");
    let second = [scripted("b", MESSAGES_DATASET, Behavior::Ok { sessions: 12 })];
    assert_eq!(harness.run_with(&second, StoreOptions::default(), sized).status, Status::Ok);
    let later = commits(&harness)[1];
    assert!(later > 1, "into the existing store: {later} commits of about 10 rows");
    assert_eq!(harness.count("sessions"), 24);
}

#[test]
fn errors_that_contain_semicolons_are_each_kept_and_counted_once() {
    let provider = ScriptedProvider::new("a", MESSAGES_DATASET, Behavior::Ok { sessions: 1 });
    let mut report = ProviderReport::new(&provider, &Environment::with_home("/nonexistent"));
    for index in 0..KEPT_ERRORS {
        report.fail(format!("error {index}; its cause; its remedy"));
    }
    let shown = report.error.clone().unwrap_or_default();
    assert!(shown.contains(&format!("error {}", KEPT_ERRORS - 1)), "{shown}");
    assert!(!shown.contains("omitted"), "{shown}");
    report.fail("one more".into());
    assert_eq!(report.errors.len(), KEPT_ERRORS + 1);
    assert!(report.error.unwrap_or_default().ends_with("; (further errors omitted)"));
}
