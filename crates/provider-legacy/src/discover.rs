//! Finds the legacy store's configs and session files in every on-disk encoding.

use std::path::{Component, Path, PathBuf};

use hindcast_core::model::{SourceFile, SourceUnit};
use hindcast_core::provider::{Discovery, Environment, ParseReport, Root, SkipLocation};
use hindcast_core::time_window::TimeWindow;
use hindcast_core::walk::{found_file, walk_files};

use crate::parse::{LOCAL_SETTINGS_KIND, local_settings_files, read_yaml};

const MAX_DEPTH: usize = 5;

/// What a file in the legacy store is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `config.yaml`, the project registry.
    Config,
    /// `portfolio/preferences.json` or `portfolio/registered.json`.
    Portfolio,
    /// `projects/{id}/sessions/{sessionId}.json` (V2).
    SessionV2,
    /// `{12hex}-{id}/sessions/{sessionId}` (V1 key=value, possibly `.json`).
    SessionV1,
    /// `{12hex}-{id}/sessions/archive/{sessionId}_{ts}` (V1 archive copy).
    SessionArchive,
    /// `projects/{id}/orchestrator.json`, the pre-V2 standalone orchestrator record.
    OrchestratorFallback,
    /// A 0-byte session file: an id reservation, not a session.
    Reservation,
    /// `*.corrupt-*`: a file the legacy tool set aside as unparseable.
    Corrupt,
    /// Anything inside a `*.migrated` V1 dir: a rollback copy of data already in V2.
    MigratedCopy,
    /// Locks, temp files, worktrees, prompts, databases, ...
    NotSession,
}

impl FileKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Config => "config",
            FileKind::Portfolio => "portfolio",
            FileKind::SessionV2 => "session_v2",
            FileKind::SessionV1 => "session_v1",
            FileKind::SessionArchive => "session_archive",
            FileKind::OrchestratorFallback => "orchestrator_fallback",
            FileKind::Reservation => "reservation",
            FileKind::Corrupt => "corrupt",
            FileKind::MigratedCopy => "migrated_copy",
            FileKind::NotSession => "not_session",
        }
    }

    /// Why a file of this kind is skipped, when it is a session-like file that is not imported.
    fn skip_reason(self) -> Option<&'static str> {
        match self {
            FileKind::Reservation => Some("0-byte session id reservation"),
            FileKind::Corrupt => Some("set aside as corrupt by agent-orchestrator"),
            FileKind::MigratedCopy => Some("V1 rollback copy of data already migrated (.migrated)"),
            _ => None,
        }
    }
}

fn is_transient(name: &str) -> bool {
    name.ends_with(".lock") || name.contains(".tmp.")
}

fn is_v1_dir(name: &str) -> bool {
    name.len() >= 12 && name.as_bytes()[..12].iter().all(u8::is_ascii_hexdigit) && !name.ends_with(".migrated")
}

/// Classifies a file by its path relative to the store root and its size.
pub fn classify(relative: &Path, size: u64) -> FileKind {
    let parts: Vec<&str> = relative
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => name.to_str(),
            _ => None,
        })
        .collect();
    let kind = match parts.as_slice() {
        ["config.yaml"] => FileKind::Config,
        ["portfolio", "preferences.json" | "registered.json"] => FileKind::Portfolio,
        [dir, ..] if dir.ends_with(".migrated") => FileKind::MigratedCopy,
        ["projects", _, "orchestrator.json"] => FileKind::OrchestratorFallback,
        ["projects", _, "sessions", name] if name.contains(".corrupt-") => FileKind::Corrupt,
        ["projects", _, "sessions", name] if name.ends_with(".json") => FileKind::SessionV2,
        [dir, "sessions", name] if is_v1_dir(dir) && name.contains(".corrupt-") => FileKind::Corrupt,
        [dir, "sessions", name] if is_v1_dir(dir) && !is_transient(name) => FileKind::SessionV1,
        [dir, "sessions", "archive", name] if is_v1_dir(dir) && !is_transient(name) => FileKind::SessionArchive,
        _ => FileKind::NotSession,
    };
    let is_session = matches!(kind, FileKind::SessionV2 | FileKind::SessionV1 | FileKind::SessionArchive);
    if is_session && size == 0 { FileKind::Reservation } else { kind }
}

/// The store root: `--from DIR`, else `$HINDCAST_LEGACY_DIR`, else `~/.agent-orchestrator`.
pub fn roots(env: &Environment) -> Vec<Root> {
    if let Some(path) = env.root_override(crate::NAME) {
        return vec![Root::new(path.to_path_buf(), "--from")];
    }
    match (env.var("HINDCAST_LEGACY_DIR"), env.home()) {
        (Some(dir), _) => vec![Root::new(PathBuf::from(dir), "HINDCAST_LEGACY_DIR")],
        (None, Some(home)) => vec![Root::new(home.join(".agent-orchestrator"), "default")],
        (None, None) => Vec::new(),
    }
}

/// Lists the store as one unit: configs first, then sessions in path order. Session records carry
/// their own timestamps, so the window is applied when parsing, not by file time.
pub fn discover(roots: &[Root], env: &Environment, _window: &TimeWindow) -> Discovery {
    let mut discovery = Discovery::default();
    for root in roots.iter().filter(|root| root.exists) {
        let mut configs = Vec::new();
        let mut sessions = Vec::new();
        for found in walk_files(&root.path, MAX_DEPTH, &mut discovery.files_skipped) {
            let kind = classify(&found.relative, found.size);
            *discovery.files_by_kind.entry(kind.as_str().to_string()).or_default() += 1;
            if let Some(reason) = kind.skip_reason() {
                discovery.files_skipped.record(SkipLocation { path: found.path, line: 0, reason: reason.into() });
                continue;
            }
            match kind {
                FileKind::Config | FileKind::Portfolio => configs.push(found.into_source(kind.as_str())),
                FileKind::SessionV2
                | FileKind::SessionV1
                | FileKind::SessionArchive
                | FileKind::OrchestratorFallback => sessions.push(found.into_source(kind.as_str())),
                _ => {}
            }
        }
        configs.extend(local_settings_sources(&configs, env));
        if !sessions.is_empty() || !configs.is_empty() {
            configs.extend(sessions);
            discovery.units.push(SourceUnit { key: root.path.display().to_string(), files: configs });
        }
    }
    discovery
}

/// The local settings files of the projects the store's `config.yaml` registers, as sources of the
/// unit: they live in the projects' own directories, and a change to one must re-import the store
/// like a change to the store's own files.
fn local_settings_sources(configs: &[SourceFile], env: &Environment) -> Vec<SourceFile> {
    let Some(config) = configs.iter().find(|file| file.kind == FileKind::Config.as_str()) else { return Vec::new() };
    // Unreadable or invalid, the config is reported by the parse; here it only lists projects.
    let registry = read_yaml(&config.path, &mut ParseReport::default());
    local_settings_files(&registry, env)
        .iter()
        .filter_map(|path| found_file(path))
        .map(|found| found.into_source(LOCAL_SETTINGS_KIND))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_encoding_and_pitfall() {
        let cases = [
            ("config.yaml", 10, FileKind::Config),
            ("portfolio/preferences.json", 10, FileKind::Portfolio),
            ("projects/demo_0a1b2c3d4e/sessions/dm-1.json", 10, FileKind::SessionV2),
            ("projects/demo_0a1b2c3d4e/sessions/dm-4.json", 0, FileKind::Reservation),
            ("projects/demo_0a1b2c3d4e/sessions/dm-5.json.corrupt-1777700000000", 10, FileKind::Corrupt),
            ("projects/demo_0a1b2c3d4e/sessions/dm-1.json.lock", 0, FileKind::NotSession),
            ("projects/demo_0a1b2c3d4e/sessions/dm-1.json.tmp.12.34", 10, FileKind::NotSession),
            ("projects/demo_0a1b2c3d4e/orchestrator.json", 10, FileKind::OrchestratorFallback),
            ("0a1b2c3d4e5f-legacyproj/sessions/lp-1", 10, FileKind::SessionV1),
            ("0a1b2c3d4e5f-legacyproj/sessions/archive/lp-2_2026-04-10T09-15-00-000Z", 10, FileKind::SessionArchive),
            ("0a1b2c3d4e5f-legacyproj/.origin", 10, FileKind::NotSession),
            ("0a1b2c3d4e5f-legacyproj.migrated/sessions/lp-1", 10, FileKind::MigratedCopy),
            ("activity-events.db", 10, FileKind::NotSession),
        ];
        for (path, size, expected) in cases {
            assert_eq!(classify(Path::new(path), size), expected, "{path}");
        }
    }

    #[test]
    fn root_override_beats_variable_and_default() {
        let mut env = Environment::with_home("/h").set_var("HINDCAST_LEGACY_DIR", "/v");
        assert_eq!(roots(&env)[0].path, PathBuf::from("/v"));
        env.set_root_override(crate::NAME, PathBuf::from("/f"));
        assert_eq!(roots(&env)[0].origin, "--from");
        assert_eq!(roots(&Environment::with_home("/h"))[0].path, PathBuf::from("/h/.agent-orchestrator"));
    }

    #[test]
    fn synthesized_tree_skips_reservation_and_corrupt_files() {
        let store = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/legacy/synthesized/home/.agent-orchestrator");
        assert!(store.is_dir(), "the shared corpus is expected at {}", store.display());
        let discovery =
            discover(&[Root::new(store, "test")], &Environment::with_home("/nonexistent"), &TimeWindow::ALL);
        assert_eq!(discovery.units.len(), 1);
        assert_eq!(discovery.files_skipped.count, 2);
        assert_eq!(discovery.files_by_kind.get("session_v2"), Some(&7));
        assert_eq!(discovery.files_by_kind.get("session_v1"), Some(&2));
        assert_eq!(discovery.files_by_kind.get("session_archive"), Some(&1));
    }
}
