//! Tests of the legacy provider over the project's fixture store (every encoding and pitfall).

use std::path::{Path, PathBuf};

use hindcast_core::model::ProjectedExchange;
use hindcast_core::provider::{Environment, ParseReport};
use hindcast_core::time_window::TimeWindow;
use hindcast_testing::import_all;
use serde_json::Value;

use crate::LegacyProvider;

fn fixture_home() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/legacy/home")
}

fn import_from(home: &Path) -> (Vec<ProjectedExchange>, ParseReport) {
    import_all(&LegacyProvider, &Environment::with_home(home), &TimeWindow::ALL)
}

fn import() -> (Vec<ProjectedExchange>, ParseReport) {
    import_from(&fixture_home())
}

fn session<'a>(exchanges: &'a [ProjectedExchange], id: &str) -> &'a ProjectedExchange {
    exchanges.iter().find(|exchange| exchange.session.native_id == id).unwrap_or_else(|| panic!("no session {id}"))
}

fn meta<'a>(exchange: &'a ProjectedExchange, key: &str) -> &'a Value {
    exchange.session.metadata.get(key).unwrap_or(&Value::Null)
}

#[test]
fn snapshot_of_the_fixture_store() {
    let (exchanges, report) = import();
    let sessions: Vec<_> = exchanges
        .iter()
        .map(|exchange| {
            let mut session = exchange.session.clone();
            session.metadata.remove("legacy");
            (session, &exchange.references, &exchange.notes)
        })
        .collect();
    let projects: Vec<_> = exchanges.iter().flat_map(|exchange| &exchange.projects).collect();
    insta::assert_json_snapshot!("sessions", sessions, { ".**.source_path" => "[source path]" });
    insta::assert_json_snapshot!("projects", projects, { ".**.source_path" => "[source path]" });
    insta::assert_json_snapshot!("report", report, { ".**.path" => "[source path]" });
}

#[test]
fn every_encoding_imports() {
    let (exchanges, _) = import();
    for (id, encoding, activity) in [
        ("shop_9f8e7d6c5b/sh-1", "v2-json", "idle"),
        ("shop_9f8e7d6c5b/sh-2", "v2-json", "waiting_input"),
        ("shop_9f8e7d6c5b/sh-3", "key-value-in-json", "active"),
        ("ghost/gh-orchestrator-4", "v1-key-value", "active"),
        ("ghost/gh-9", "v1-archive", "terminated"),
        ("averylongprojectid/averylongpro-orchestrator", "orchestrator-json", "idle"),
    ] {
        let exchange = session(&exchanges, id);
        assert_eq!(meta(exchange, "encoding"), encoding, "{id}");
        assert_eq!(meta(exchange, "activity_state"), activity, "{id}");
    }
    let stringified = session(&exchanges, "shop_9f8e7d6c5b/sh-1");
    assert_eq!(meta(stringified, "decoded_fields"), &serde_json::json!(["lifecycle", "lifecycle.session"]));
    assert_eq!(meta(stringified, "legacy_state"), "stuck", "the stringified session inside a stringified lifecycle");
    assert_eq!(
        meta(stringified, "pr_links"),
        &serde_json::json!(["https://example.invalid/pr/1", "https://example.invalid/pr/2"])
    );
    let numeric = session(&exchanges, "shop_9f8e7d6c5b/sh-2");
    assert_eq!(meta(numeric, "lifecycle_source"), "statePayload", "numeric stateVersion 2");
    assert_eq!(numeric.session.started_at.unwrap().to_string(), "2026-05-05T16:53:20Z", "epoch milliseconds");
    let starting = session(&exchanges, "shop_9f8e7d6c5b/sh-3");
    assert_eq!(meta(starting, "legacy_state"), "working", "status=starting reads as working");
    assert_eq!(starting.session.started_at.unwrap().to_string(), "2026-05-04T13:06:40Z", "epoch seconds");
    assert!(exchanges.iter().all(|exchange| !exchange.session.native_id.contains("migrated")));
    assert_eq!(
        exchanges.iter().filter(|e| e.session.native_id == "shop_9f8e7d6c5b/sh-1").count(),
        1,
        ".migrated copy not imported twice"
    );
}

#[test]
fn broken_and_placeholder_files_are_skipped_and_counted() {
    let (_, report) = import();
    let skipped: Vec<String> = report
        .lines_skipped
        .first
        .iter()
        .map(|l| format!("{}:{}", l.path.file_name().unwrap().to_string_lossy(), l.reason))
        .collect();
    assert_eq!(report.lines_skipped.count, 2, "{skipped:?}");
    assert!(skipped[0].starts_with("sh-5.json:session record is not a JSON object"));
    assert!(skipped[1].starts_with("sh-6.json:unparseable session JSON"));
    assert_eq!(report.records_skipped.count, 1, "the whitespace-only reservation");
}

#[test]
fn the_canonical_or_latest_live_orchestrator_is_the_projects_orchestrator() {
    let (exchanges, _) = import();
    let chosen = |id: &str| meta(session(&exchanges, id), "project_orchestrator") == true;
    assert!(chosen("shop_9f8e7d6c5b/sh-orchestrator"), "{{prefix}}-orchestrator wins over a livelier numbered one");
    assert!(!chosen("shop_9f8e7d6c5b/sh-orchestrator-2"));
    assert!(chosen("ghost/gh-orchestrator-4"), "without a registered prefix, the live numbered one wins");
    assert!(!chosen("ghost/gh-orchestrator-3"));
    assert_eq!(
        meta(session(&exchanges, "ghost/gh-orchestrator-3"), "activity_state"),
        "terminated",
        "status=killed is terminal"
    );
}

#[test]
fn permissions_harnesses_and_resume_ids_are_mapped_with_notes() {
    let (exchanges, report) = import();
    let orchestrator = session(&exchanges, "shop_9f8e7d6c5b/sh-orchestrator");
    assert_eq!(orchestrator.session.permission_mode.as_deref(), Some("bypass-permissions"), "skip");
    assert_eq!(orchestrator.references[0].target_client, "codex");
    assert_eq!(orchestrator.references[0].target_native_id, "019c0000-0000-7000-8000-0000000000a1");
    let worker = session(&exchanges, "shop_9f8e7d6c5b/sh-1");
    assert_eq!(worker.session.permission_mode.as_deref(), Some("default"), "an unknown permission maps to default");
    assert_eq!(worker.references[0].target_client, "claude");
    let opencode = session(&exchanges, "averylongprojectid/averylongpro-orchestrator");
    assert_eq!(opencode.references[0].target_native_id, "ses_fixture");
    let notes = report.notes.join("\n");
    for expected in [
        "worker agent \"kimicode\" has no known harness; dropped",
        "unknown permission \"yolo\"; mapped to default",
        "settings with no canonical field (kept verbatim in settings.local): scm, agentRules",
        "codexModel \"gpt-5-codex\" has no column",
        "harness \"kimicode\" is unknown; dropped",
        "aider sessions have no resumable transcript",
        "using \"averylongpro\" (first 12 characters of the id)",
        "project is not in config.yaml",
    ] {
        assert!(notes.contains(expected), "missing note {expected:?} in\n{notes}");
    }
    let stored: usize = exchanges.iter().map(|exchange| exchange.notes.len()).sum();
    assert_eq!(stored, report.notes.len(), "every note in the report is stored");
}

#[test]
fn projects_take_overlay_names_and_normalized_registration_times() {
    let (exchanges, _) = import();
    let projects: Vec<_> = exchanges.iter().flat_map(|exchange| &exchange.projects).collect();
    let shop = projects.iter().find(|project| project.native_id == "shop_9f8e7d6c5b").unwrap();
    assert_eq!(shop.display_name.as_deref(), Some("Shop (overlay)"));
    assert_eq!(shop.registered_at.unwrap().to_string(), "2026-04-24T03:06:40Z", "epoch seconds");
    assert_eq!(shop.settings["local"]["scm"]["plugin"], "github", "local settings kept verbatim");
    assert_eq!(shop.settings["mapped"]["orchestrator"]["harness"], "codex");
    let long = projects.iter().find(|project| project.native_id == "averylongprojectid").unwrap();
    assert_eq!(long.display_name.as_deref(), Some("Very Long"), "old `name` when no displayName");
    assert_eq!(long.registered_at.unwrap().to_string(), "2026-04-24T03:06:40.123Z", "epoch milliseconds");
    assert_eq!(long.session_prefix.as_deref(), Some("averylongpro"));
}

#[test]
fn a_live_legacy_process_is_reported_and_the_import_still_runs() {
    let copy = tempfile::tempdir().unwrap();
    let store = copy.path().join(".agent-orchestrator");
    std::fs::create_dir_all(store.join("projects/p/sessions")).unwrap();
    std::fs::write(store.join("projects/p/sessions/p-1.json"), r#"{"status": "working", "agent": "claude-code"}"#)
        .unwrap();
    std::fs::write(store.join("running.json"), format!(r#"{{"pid": {}}}"#, std::process::id())).unwrap();
    let (exchanges, report) = import_from(copy.path());
    assert_eq!(exchanges.iter().filter(|exchange| !exchange.session.native_id.is_empty()).count(), 1);
    assert!(report.warnings.iter().any(|warning| warning.contains("appears to be running")), "{:?}", report.warnings);
}

/// Imports a store holding `config.yaml` and one v2 session file `projects/p1/sessions/<name>`,
/// and compares the exchanges, as compact text, with `expected`.
fn check(config: &str, name: &str, session: &str, expected: &str) {
    let home = tempfile::tempdir().unwrap();
    let store = home.path().join(".agent-orchestrator");
    std::fs::create_dir_all(store.join("projects/p1/sessions")).unwrap();
    std::fs::write(store.join("config.yaml"), config).unwrap();
    std::fs::write(store.join("projects/p1/sessions").join(name), session).unwrap();
    let (exchanges, _) = import_from(home.path());
    assert_eq!(hindcast_testing::compact_text(&exchanges).trim_end(), expected.trim());
}

const ONE_PROJECT: &str = "projects:\n  p1:\n    path: /nowhere/p1\n    sessionPrefix: p1\n";

#[test]
fn a_resumable_harness_links_its_session_and_a_missing_title_falls_back_to_the_issue() {
    check(
        ONE_PROJECT,
        "p1-1.json",
        r#"{"project":"p1","agent":"codex","codexThreadId":"t-1","issueTitle":"Fix the login","createdAt":"2026-05-12T10:00:00.000Z"}"#,
        r#"
session p1/p1-1 title="Fix the login"
  resumes codex:t-1
  note settings: local settings /nowhere/p1/agent-orchestrator.yaml not found; behaviour settings unknown
"#,
    );
}

#[test]
fn an_unknown_harness_is_noted_and_not_linked() {
    check(
        ONE_PROJECT,
        "p1-2.json",
        r#"{"project":"p1","agent":"mystery","claudeSessionUuid":"c-1","createdAt":"2026-05-12T10:00:00.000Z"}"#,
        r#"
session p1/p1-2
  note agent: harness "mystery" is unknown; dropped
  note settings: local settings /nowhere/p1/agent-orchestrator.yaml not found; behaviour settings unknown
"#,
    );
}

#[test]
fn projects_registered_at_one_directory_share_one_settings_source() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("code/app")).unwrap();
    std::fs::write(home.path().join("code/app/agent-orchestrator.yaml"), "defaultBranch: trunk\n").unwrap();
    let config: Value = serde_json::json!({
        "projects": { "a": { "path": "~/code/app" }, "b": { "path": "~/code/app" }, "c": { "path": "~/code/none" } }
    });
    let files = crate::parse::local_settings_files(&config, &Environment::with_home(home.path()));
    assert_eq!(files, [home.path().join("code/app/agent-orchestrator.yaml")]);
}

#[test]
fn a_session_file_without_fields_is_counted_not_made_a_session() {
    let home = tempfile::tempdir().unwrap();
    hindcast_testing::copy_tree(&fixture_home(), home.path());
    let sessions = home.path().join(".agent-orchestrator/projects/shop_9f8e7d6c5b/sessions");
    let (before, _) = import_from(home.path());
    std::fs::write(sessions.join("sh-20.json"), "{}").unwrap();
    std::fs::write(sessions.join("sh-21.json"), "\n# only a comment\n").unwrap();
    let (after, report) = import_from(home.path());
    assert_eq!(after.len(), before.len(), "no session for either file");
    let skipped: Vec<String> = report.records_skipped.first.iter().map(ToString::to_string).collect();
    assert!(
        skipped.iter().any(|location| location.contains("sh-20.json: session record with no fields")),
        "{skipped:?}"
    );
}
