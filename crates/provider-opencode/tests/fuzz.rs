//! Fuzzes the OpenCode legacy-tree reader with mutated fixture and corpus JSON: the bytes become
//! a session's file, one of its messages and one of its parts. No panic, no failed unit, every
//! unreadable file counted (time-boxed by `HINDCAST_FUZZ_SECONDS`; see `hindcast_testing::fuzz`).
//! The database side reads rows with SQLite and each row's JSON with the same code.

use std::path::Path;
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_opencode::{DIR_VARIABLE, OpencodeProvider};
use hindcast_testing::fuzz::{FuzzTarget, run, seeds_from};

fn layout(home: &Path, bytes: &[u8]) -> Environment {
    let storage = home.join("opencode/storage");
    for (dir, name) in
        [("session/p1", "ses_fuzz.json"), ("message/ses_fuzz", "msg_fuzz.json"), ("part/msg_fuzz", "prt_fuzz.json")]
    {
        std::fs::create_dir_all(storage.join(dir)).expect("storage dir");
        std::fs::write(storage.join(dir).join(name), bytes).expect("legacy file");
    }
    Environment::with_home(home).set_var(DIR_VARIABLE, home.join("opencode").display().to_string())
}

#[test]
fn mutated_legacy_files_never_panic_and_every_bad_file_is_counted() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fixtures = workspace.join("fixtures/opencode/storage");
    let corpus = workspace.join("../shared/corpus/opencode/synthetic");
    assert!(corpus.is_dir(), "the shared corpus is expected at {}", corpus.display());
    let is_record = |path: &Path| path.extension().is_some_and(|ext| ext == "json");
    let seeds = seeds_from(&[&fixtures, &corpus], is_record, 12_000);
    assert!(seeds.len() >= 10, "{} seed files", seeds.len());
    let stats = run(&FuzzTarget { name: "opencode", provider: Arc::new(OpencodeProvider), seeds, layout, copies: 3 });
    assert!(stats.inputs > 0 && stats.mutations >= stats.inputs);
}
