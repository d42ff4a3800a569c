//! Fuzzes the Gemini CLI parser with mutated fixture and corpus chat files: no panic, no failed
//! unit, every bad line counted (time-boxed by `HINDCAST_FUZZ_SECONDS`; see `hindcast_testing::fuzz`).

use std::path::Path;
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_gemini::GeminiProvider;
use hindcast_testing::fuzz::{FuzzTarget, run, seeds_from};

/// The mutated bytes as a JSON Lines session and as a legacy `.json` session of one project.
fn layout(home: &Path, bytes: &[u8]) -> Environment {
    let chats = home.join(".gemini/tmp/project/chats");
    std::fs::create_dir_all(&chats).expect("chats dir");
    std::fs::write(chats.join("session-2026-05-01T10-00-aaaaaaaa.jsonl"), bytes).expect("JSON Lines session");
    std::fs::write(chats.join("session-2025-10-01T10-00-bbbbbbbb.json"), bytes).expect("legacy session");
    Environment::with_home(home)
}

#[test]
fn mutated_chat_files_never_panic_and_every_bad_line_is_counted() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = workspace.join("fixtures/gemini");
    let corpus = workspace.join("../shared/corpus/gemini");
    assert!(corpus.is_dir(), "the shared corpus is expected at {}", corpus.display());
    let is_chat = |path: &Path| {
        path.components().any(|component| component.as_os_str() == "chats")
            && path.extension().is_some_and(|ext| ext == "jsonl" || ext == "json")
    };
    let seeds = seeds_from(&[&fixtures, &corpus], is_chat, 12_000);
    assert!(seeds.len() >= 10, "{} seed chat files", seeds.len());
    let stats = run(&FuzzTarget { name: "gemini", provider: Arc::new(GeminiProvider), seeds, layout, copies: 2 });
    assert!(stats.inputs > 0 && stats.mutations >= stats.inputs);
}
