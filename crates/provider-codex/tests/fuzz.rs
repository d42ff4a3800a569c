//! Fuzzes the Codex parser with mutated fixture and corpus rollouts: no panic, no failed unit,
//! every bad line counted (time-boxed by `HINDCAST_FUZZ_SECONDS`; see `hindcast_testing::fuzz`).

use std::path::Path;
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_codex::CodexProvider;
use hindcast_testing::fuzz::{FuzzTarget, run, seeds_from};

fn layout(home: &Path, bytes: &[u8]) -> Environment {
    let day = home.join(".codex/sessions/2026/01/01");
    std::fs::create_dir_all(&day).expect("sessions dir");
    std::fs::write(day.join("rollout-2026-01-01T10-00-00-019c0000-0000-7000-8000-0000000000f0.jsonl"), bytes)
        .expect("rollout file");
    std::fs::write(home.join(".codex/sessions/rollout-2025-04-20-0a0a0a0a-0000-4000-8000-0000000000f0.json"), bytes)
        .expect("legacy JSON rollout");
    Environment::with_home(home)
}

#[test]
fn mutated_rollouts_never_panic_and_every_bad_line_is_counted() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = workspace.join("fixtures/codex/sessions");
    let corpus = workspace.join("../shared/corpus/codex");
    assert!(corpus.is_dir(), "the shared corpus is expected at {}", corpus.display());
    let is_rollout = |path: &Path| {
        path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("rollout-"))
            && path.extension().is_some_and(|ext| ext == "jsonl" || ext == "json")
    };
    let seeds = seeds_from(&[&fixtures, &corpus], is_rollout, 12_000);
    assert!(seeds.len() >= 10, "{} seed rollouts", seeds.len());
    let stats = run(&FuzzTarget { name: "codex", provider: Arc::new(CodexProvider), seeds, layout, copies: 2 });
    assert!(stats.inputs > 0 && stats.mutations >= stats.inputs);
}
