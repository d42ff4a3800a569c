//! Fuzzes the Claude parser with mutated fixture and corpus transcripts: no panic, no failed unit,
//! every bad line counted (time-boxed by `HINDCAST_FUZZ_SECONDS`; see `hindcast_testing::fuzz`).

use std::path::Path;
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_claude::ClaudeProvider;
use hindcast_testing::fuzz::{FuzzTarget, run, seeds_from};

fn layout(home: &Path, bytes: &[u8]) -> Environment {
    let project = home.join(".claude/projects/-home-fuzz");
    std::fs::create_dir_all(project.join("f0f0f0f0-0000-4000-8000-000000000001/subagents")).expect("project dir");
    std::fs::write(project.join("f0f0f0f0-0000-4000-8000-000000000001.jsonl"), bytes).expect("session file");
    std::fs::write(project.join("f0f0f0f0-0000-4000-8000-000000000001/subagents/agent-a0f0f0f0.jsonl"), bytes)
        .expect("subagent file");
    Environment::with_home(home)
}

#[test]
fn mutated_transcripts_never_panic_and_every_bad_line_is_counted() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = workspace.join("fixtures/claude/projects");
    let corpus = workspace.join("../shared/corpus/claude");
    assert!(corpus.is_dir(), "the shared corpus is expected at {}", corpus.display());
    let seeds = seeds_from(&[&fixtures, &corpus], |path| path.extension().is_some_and(|ext| ext == "jsonl"), 12_000);
    assert!(seeds.len() >= 20, "{} seed transcripts", seeds.len());
    let stats = run(&FuzzTarget { name: "claude", provider: Arc::new(ClaudeProvider), seeds, layout, copies: 2 });
    assert!(stats.inputs > 0 && stats.mutations >= stats.inputs);
}
