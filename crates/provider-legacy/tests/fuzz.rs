//! Fuzzes the legacy parser with mutated session files of both generations (JSON and flat
//! key=value): no panic, no failed unit, every bad file counted (time-boxed by
//! `HINDCAST_FUZZ_SECONDS`; see `hindcast_testing::fuzz`).

use std::path::Path;
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_legacy::LegacyProvider;
use hindcast_testing::fuzz::{FuzzTarget, run, seeds_from};

/// The same bytes as a JSON-era session, a flat-era session and an archived one.
fn layout(home: &Path, bytes: &[u8]) -> Environment {
    let store = home.join(".agent-orchestrator");
    let json_sessions = store.join("projects/fuzz_0f0f0f0f0f/sessions");
    let flat_sessions = store.join("0f0f0f0f0f0f-fuzz/sessions/archive");
    std::fs::create_dir_all(&json_sessions).expect("json sessions dir");
    std::fs::create_dir_all(&flat_sessions).expect("flat sessions dir");
    std::fs::write(json_sessions.join("fz-1.json"), bytes).expect("json session");
    std::fs::write(flat_sessions.parent().expect("sessions").join("fz-2"), bytes).expect("flat session");
    std::fs::write(flat_sessions.join("fz-3_2026-04-10T09-15-00-000Z"), bytes).expect("archived session");
    Environment::with_home(home)
}

#[test]
fn mutated_session_files_never_panic_and_every_bad_file_is_counted() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = workspace.join("fixtures/legacy/home/.agent-orchestrator");
    let corpus = workspace.join("../shared/corpus/legacy/synthesized/home/.agent-orchestrator");
    assert!(corpus.is_dir(), "the shared corpus is expected at {}", corpus.display());
    let is_session =
        |path: &Path| path.parent().is_some_and(|dir| dir.ends_with("sessions") || dir.ends_with("archive"));
    let seeds = seeds_from(&[&fixtures, &corpus], is_session, 12_000);
    assert!(seeds.len() >= 10, "{} seed session files", seeds.len());
    let stats = run(&FuzzTarget { name: "legacy", provider: Arc::new(LegacyProvider), seeds, layout, copies: 3 });
    assert!(stats.inputs > 0 && stats.mutations >= stats.inputs);
}
