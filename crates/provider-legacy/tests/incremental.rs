//! Reruns over a legacy store: a change to a project's own settings file is imported although the
//! store's files are unchanged.

use std::path::Path;
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_legacy::LegacyProvider;
use hindcast_testing::{backfill_into, table_digests};

/// A copy of the fixture home, so the test may change it.
fn copy_fixture_home(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/legacy/home");
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.expect("the fixture home can be listed");
        let target = to.join(entry.path().strip_prefix(&from).expect("entries lie under the fixture home"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("directories can be created");
        } else {
            std::fs::copy(entry.path(), &target).expect("fixture files can be copied");
        }
    }
}

#[test]
fn a_changed_project_settings_file_is_imported_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    copy_fixture_home(&home);
    let env = Environment::with_home(&home);
    let import = |db: &str| {
        let report = backfill_into(Arc::new(LegacyProvider), &env, &dir.path().join(db), false);
        assert!(report.error.is_none(), "{:?}", report.error);
        report
    };
    import("incremental.db");
    let before = table_digests(&dir.path().join("incremental.db"));

    let settings = home.join("code/shop/agent-orchestrator.yml");
    let mut text = std::fs::read_to_string(&settings).unwrap();
    text.push_str("\ndefaultBranch: trunk\n");
    std::fs::write(&settings, text).unwrap();
    let rerun = import("incremental.db");
    assert_eq!(rerun.sources_unchanged, 0, "the settings file is a source of the store's unit");

    import("clean.db");
    let after = table_digests(&dir.path().join("incremental.db"));
    assert_ne!(before["projects"], after["projects"], "the new settings reached the project");
    assert_eq!(after, table_digests(&dir.path().join("clean.db")), "the rerun equals a clean import");
}
