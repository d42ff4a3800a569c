//! Finds OpenCode's history in its data directory: the SQLite databases (`opencode*.db`, with
//! their `-wal`, so a change only the write-ahead log holds is seen) and the legacy JSON tree
//! under `storage/`, all one unit (the tree's sessions are read only where no database holds them).

use std::path::PathBuf;

use hindcast_core::model::{SourceFile, SourceUnit};
use hindcast_core::provider::{Discovery, Environment, Root};
use hindcast_core::time_window::TimeWindow;
use hindcast_core::walk::{found_file, walk_files};

/// The variable that points hindcast at an OpenCode data directory.
pub const DIR_VARIABLE: &str = "HINDCAST_OPENCODE_DIR";

/// Kinds of the unit's files.
pub const DATABASE: &str = "database";
pub const DATABASE_WAL: &str = "database_wal";
pub const LEGACY_SESSION: &str = "legacy_session";
pub const LEGACY_MESSAGE: &str = "legacy_message";
pub const LEGACY_PART: &str = "legacy_part";
pub const LEGACY_PROJECT: &str = "legacy_project";

/// `storage/<kind>/<owner>/<id>.json` is 3 levels deep.
const STORAGE_DEPTH: usize = 3;

/// `$HINDCAST_OPENCODE_DIR`, else `$XDG_DATA_HOME/opencode` (`~/.local/share/opencode`).
pub fn roots(env: &Environment) -> Vec<Root> {
    if let Some(dir) = env.var(DIR_VARIABLE) {
        return vec![Root::new(PathBuf::from(dir), DIR_VARIABLE)];
    }
    let origin = if env.var("XDG_DATA_HOME").is_some() { "XDG_DATA_HOME" } else { "default" };
    env.xdg_data_home().map(|data| vec![Root::new(data.join("opencode"), origin)]).unwrap_or_default()
}

fn is_database(name: &str) -> bool {
    name.starts_with("opencode") && name.ends_with(".db")
}

/// Discovers each data directory as one unit.
pub fn discover(roots: &[Root], window: &TimeWindow) -> Discovery {
    let mut discovery = Discovery::default();
    for root in roots.iter().filter(|root| root.exists) {
        let mut files: Vec<SourceFile> = Vec::new();
        let mut names: Vec<String> = std::fs::read_dir(&root.path)
            .map(|entries| {
                entries.filter_map(Result::ok).map(|entry| entry.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        names.sort();
        for name in names.iter().filter(|name| is_database(name)) {
            let path = root.path.join(name);
            let Some(found) = found_file(&path) else { continue };
            *discovery.files_by_kind.entry(DATABASE.into()).or_default() += 1;
            files.push(found.into_source(DATABASE));
            if let Some(wal) = found_file(&root.path.join(format!("{name}-wal"))) {
                files.push(wal.into_source(DATABASE_WAL));
            }
        }
        let storage = root.path.join("storage");
        if storage.is_dir() {
            for found in walk_files(&storage, STORAGE_DEPTH, &mut discovery.files_skipped) {
                let top =
                    found.relative.components().next().map(|part| part.as_os_str().to_string_lossy().into_owned());
                let json = found.path.extension().is_some_and(|extension| extension == "json");
                let kind = match top.as_deref() {
                    Some("session") if json => LEGACY_SESSION,
                    Some("message") if json => LEGACY_MESSAGE,
                    Some("part") if json => LEGACY_PART,
                    Some("project") if json => LEGACY_PROJECT,
                    // Diffs, todos, shares, permissions and the migration counter: no history.
                    _ => {
                        *discovery.files_by_kind.entry("other".into()).or_default() += 1;
                        continue;
                    }
                };
                *discovery.files_by_kind.entry(kind.into()).or_default() += 1;
                files.push(found.into_source(kind));
            }
        }
        if files.is_empty() {
            continue;
        }
        if !files.iter().any(|file| window.may_contain_file_modified_at(file.modified)) {
            discovery.files_outside_window += files.len() as u64;
            continue;
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        discovery.units.push(SourceUnit { key: root.path.display().to_string(), files });
    }
    discovery
}
