//! Imports `../shared/corpus/legacy/synthesized` and checks the outcomes its README recommends.

use std::path::{Path, PathBuf};

use hindcast_core::provider::Environment;
use hindcast_core::time_window::TimeWindow;
use hindcast_provider_legacy::LegacyProvider;
use hindcast_testing::import_all;
use serde::Serialize;

fn synthesized_home() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/legacy/synthesized/home");
    assert!(path.is_dir(), "the shared corpus is expected beside the repository at {}", path.display());
    path
}

/// Copies the tree into a temp home and points the registry's `/home/user` paths at it, as the
/// fixture's README asks, so the project-local settings file is found.
fn copy_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let source = synthesized_home();
    for entry in walkdir::WalkDir::new(&source) {
        let entry = entry.unwrap();
        let target = home.path().join(entry.path().strip_prefix(&source).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    let config = home.path().join(".agent-orchestrator/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap().replace("/home/user", &home.path().display().to_string());
    std::fs::write(config, text).unwrap();
    home
}

#[derive(Serialize)]
struct SessionOutcome {
    id: String,
    role: String,
    activity_state: String,
    project_orchestrator: bool,
    resume_id: Option<String>,
    encoding: String,
    permission_mode: Option<String>,
}

#[test]
fn synthesized_tree_imports_with_the_recommended_outcomes() {
    let home = copy_home();
    let (exchanges, report) = import_all(&LegacyProvider, &Environment::with_home(home.path()), &TimeWindow::ALL);
    let outcomes: Vec<SessionOutcome> = exchanges
        .iter()
        .filter(|exchange| !exchange.session.native_id.is_empty())
        .map(|exchange| {
            let meta = &exchange.session.metadata;
            SessionOutcome {
                id: exchange.session.native_id.clone(),
                role: meta["role"].as_str().unwrap_or_default().into(),
                activity_state: meta["activity_state"].as_str().unwrap_or_default().into(),
                project_orchestrator: meta.get("project_orchestrator").is_some(),
                resume_id: meta["resume_id"].as_str().map(str::to_string),
                encoding: meta["encoding"].as_str().unwrap_or_default().into(),
                permission_mode: exchange.session.permission_mode.clone(),
            }
        })
        .collect();
    let find = |id: &str| outcomes.iter().find(|outcome| outcome.id == id).unwrap_or_else(|| panic!("{id} missing"));

    let orchestrator = find("demo_0a1b2c3d4e/dm-orchestrator");
    assert!(orchestrator.project_orchestrator && orchestrator.activity_state == "active");
    assert_eq!(orchestrator.resume_id.as_deref(), Some("3f2a9c1e-0b7d-4e5a-9c2f-1a2b3c4d5e6f"));
    let old = find("demo_0a1b2c3d4e/dm-orchestrator-1");
    assert!(!old.project_orchestrator && old.activity_state == "terminated");
    for (id, state) in [
        ("demo_0a1b2c3d4e/dm-1", "idle"),
        ("demo_0a1b2c3d4e/dm-2", "waiting_input"),
        ("demo_0a1b2c3d4e/dm-3", "terminated"),
        ("demo_0a1b2c3d4e/dm-6", "active"),
        ("demo_0a1b2c3d4e/dm-7", "terminated"),
        ("legacyproj/lp-1", "active"),
        ("legacyproj/lp-2", "terminated"),
        ("legacyproj/lp-orchestrator-1", "active"),
    ] {
        assert_eq!(find(id).activity_state, state, "{id}");
    }
    assert!(find("legacyproj/lp-orchestrator-1").project_orchestrator);
    assert!(outcomes.iter().all(|outcome| !outcome.id.contains("dm-4") && !outcome.id.contains("dm-5")));
    let skipped = hindcast_core::provider::Provider::discover(
        &LegacyProvider,
        &Environment::with_home(home.path()),
        &TimeWindow::ALL,
    )
    .unwrap()
    .files_skipped;
    assert_eq!(skipped.count, 2, "dm-4 (reservation) and dm-5 (corrupt) are skipped and counted");

    let projects: Vec<_> = exchanges.iter().flat_map(|exchange| &exchange.projects).collect();
    let name = |id: &str| projects.iter().find(|p| p.native_id == id).and_then(|p| p.display_name.clone());
    assert_eq!(name("demo_0a1b2c3d4e").as_deref(), Some("Demo (pinned)"), "the preferences overlay");
    assert_eq!(name("legacyproj").as_deref(), Some("Legacy Project"), "config.yaml displayName");
    let notes = report.notes.join("\n");
    for expected in [
        "worker.agentConfig.permissions: permission \"suggest\" has no equivalent",
        "codexModel \"gpt-5-codex\"",
        "restoreFallbackReason \"claude-code.getRestoreCommand returned null\"",
        "settings with no canonical field (kept verbatim in settings.local): tracker, runtime, workspace, reactions",
        "demo_0a1b2c3d4e/dm-7: agent: aider",
        "legacyproj/lp-2: agent: aider",
    ] {
        assert!(notes.contains(expected), "missing note {expected:?} in\n{notes}");
    }
    insta::assert_json_snapshot!("outcomes", outcomes);
    let home_text = home.path().display().to_string();
    let notes: Vec<String> = report.notes.iter().map(|note| note.replace(&home_text, "[home]")).collect();
    insta::assert_json_snapshot!("notes", notes);
}
