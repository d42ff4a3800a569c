//! A store written by schema 7 — the shared corpora, and a synthetic corpus — upgraded to today's
//! schema holds what it held (every row of every schema-7 table, read through the view of that
//! name, raw frames JSON-equal to the clients' own) and what a clean import holds.

use std::sync::Arc;

use hindcast_core::materialize::{MESSAGES_DATASET, Materializer, MessagesMaterializer, ProvenanceContext, RowBatch};
use hindcast_core::provider::Provider;
use hindcast_core::time_window::TimeWindow;
use hindcast_store::{Store, StoreOptions};
use hindcast_testing::schema7::{COMPARED_COLUMNS, comparable_rows, store_at_version_5};
use rusqlite::Connection;

fn providers() -> Vec<Arc<dyn Provider>> {
    vec![Arc::new(hindcast_provider_claude::ClaudeProvider), Arc::new(hindcast_provider_codex::CodexProvider)]
}

/// Every table's rows as [`comparable_rows`] reads them.
fn contents(conn: &Connection) -> Vec<(&'static str, Vec<String>)> {
    COMPARED_COLUMNS.iter().map(|(table, _)| (*table, comparable_rows(conn, table))).collect()
}

/// The rows the materializer makes of the shared corpora and of a synthetic corpus.
fn batches() -> Vec<RowBatch> {
    let home = tempfile::tempdir().unwrap();
    let env = hindcast_testing::shared_corpora_environment(home.path());
    let materialize = |provider: &str, exchange| {
        let context = ProvenanceContext { provider: provider.to_string(), run_id: "run-a".into() };
        MessagesMaterializer.materialize(MESSAGES_DATASET, exchange, &context).unwrap()
    };
    let mut batches = Vec::new();
    for provider in providers() {
        let (exchanges, _) = hindcast_testing::import_all(provider.as_ref(), &env, &TimeWindow::ALL);
        assert!(!exchanges.is_empty(), "{} finds the shared corpus", provider.name());
        batches.extend(exchanges.into_iter().map(|exchange| materialize(provider.name(), exchange)));
    }
    for session in 0..300 {
        let exchange = hindcast_testing::synthetic_exchange("claude", &format!("synthetic-{session}"), 1 + session % 9);
        batches.push(materialize("synthetic", exchange));
    }
    batches
}

#[test]
fn a_schema_7_store_upgrades_to_what_it_held_and_what_a_clean_import_holds() {
    let dir = tempfile::tempdir().unwrap();
    let batches = batches();

    let older = dir.path().join("older.db");
    let conn = store_at_version_5(&older, &batches);
    let before = contents(&conn);
    let frames: i64 = conn.query_row("SELECT count(raw_frame) FROM messages", [], |row| row.get(0)).unwrap();
    assert!(frames > 3000, "the corpora's frames are compared ({frames})");
    drop(conn);

    let mut upgraded = Store::open(&older, StoreOptions::default()).unwrap();
    upgraded.converge(&providers()).unwrap();
    let page_size: i64 = upgraded.connection().query_row("PRAGMA page_size", [], |row| row.get(0)).unwrap();
    assert_eq!(page_size, 4096, "an upgraded store is copied at today's page size");
    for ((table, expected), (_, found)) in before.iter().zip(contents(upgraded.connection())) {
        assert!(!expected.is_empty(), "{table} has rows to compare");
        assert!(expected == &found, "{table}: the upgraded store's rows differ from the schema-7 store's");
    }

    let fresh_path = dir.path().join("fresh.db");
    let mut fresh = Store::open_for_import(&fresh_path, StoreOptions::default()).unwrap();
    for batch in &batches {
        fresh.write_rows(batch).unwrap();
        fresh.commit().unwrap();
    }
    fresh.finish_import().unwrap();
    for ((table, expected), (_, found)) in before.iter().zip(contents(fresh.connection())) {
        assert!(expected == &found, "{table}: a clean import's rows differ from the schema-7 store's");
    }

    // The columns schema 7 did not have: an upgrade fills them from the stored frame, a clean
    // import from the response's fullest copy; what the upgrade fills is what the import has.
    let new_columns = |conn: &Connection| -> Vec<(String, [Option<String>; 4])> {
        let mut statement = conn
            .prepare(
                "SELECT usage_id, cast(cache_creation_5m_tokens AS TEXT), cast(cache_creation_1h_tokens AS TEXT), \
                 service_tier, speed FROM usage ORDER BY usage_id",
            )
            .unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?])))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let (upgraded_rows, fresh_rows) = (new_columns(upgraded.connection()), new_columns(fresh.connection()));
    assert_eq!(upgraded_rows.len(), fresh_rows.len());
    let mut filled = 0;
    for ((id, upgraded_values), (_, fresh_values)) in upgraded_rows.iter().zip(&fresh_rows) {
        for (upgraded_value, fresh_value) in upgraded_values.iter().zip(fresh_values) {
            assert!(
                upgraded_value.is_none() || upgraded_value == fresh_value,
                "usage {id}: {upgraded_values:?} {fresh_values:?}"
            );
            filled += usize::from(upgraded_value.is_some());
        }
    }
    assert!(filled > 1000, "the upgrade fills the new columns from the frames ({filled} values)");
}
