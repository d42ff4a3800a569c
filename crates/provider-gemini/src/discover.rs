//! Finds Gemini CLI chat files: `<root>/tmp/<project id>/chats/` and one level of sub-agent
//! folders under it, one unit per project folder (a session, its sub-agents and a legacy copy of
//! a resumed session must meet in one parse).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hindcast_core::model::{SourceFile, SourceUnit};
use hindcast_core::provider::{Discovery, Environment, Root};
use hindcast_core::time_window::TimeWindow;
use hindcast_core::walk::{FoundFile, walk_files};

/// The variable that points hindcast at a `.gemini` directory.
pub const DIR_VARIABLE: &str = "HINDCAST_GEMINI_DIR";
/// The client's own home override: it keeps its state in `$GEMINI_CLI_HOME/.gemini`.
pub const CLIENT_HOME_VARIABLE: &str = "GEMINI_CLI_HOME";

/// `chats/<file>` is depth 1, `chats/<parent session id>/<sub-agent file>` depth 2.
const CHATS_DEPTH: usize = 2;

/// The `.gemini` directory: `$HINDCAST_GEMINI_DIR`, else `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`.
pub fn roots(env: &Environment) -> Vec<Root> {
    if let Some(dir) = env.var(DIR_VARIABLE) {
        return vec![Root::new(PathBuf::from(dir), DIR_VARIABLE)];
    }
    if let Some(home) = env.var(CLIENT_HOME_VARIABLE) {
        return vec![Root::new(Path::new(home).join(".gemini"), CLIENT_HOME_VARIABLE)];
    }
    env.home().map(|home| vec![Root::new(home.join(".gemini"), "default")]).unwrap_or_default()
}

/// How a file under `chats/` is classified.
fn classify(found: &FoundFile) -> &'static str {
    let name = found.file_name();
    let nested = found.relative.components().count() > 1;
    if name.contains(".unreadable-") {
        // The client's backup of a file it could not read back, replaced by a clean rewrite.
        "unreadable_backup"
    } else if !(name.ends_with(".json") || name.ends_with(".jsonl")) {
        "other"
    } else if nested {
        "subagent"
    } else {
        "session"
    }
}

/// Discovers every project folder's chat files.
pub fn discover(roots: &[Root], window: &TimeWindow) -> Discovery {
    let mut discovery = Discovery::default();
    for root in roots.iter().filter(|root| root.exists) {
        let tmp = root.path.join("tmp");
        let Ok(projects) = std::fs::read_dir(&tmp) else { continue };
        let mut project_dirs: Vec<PathBuf> =
            projects.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| path.is_dir()).collect();
        project_dirs.sort();
        for project in project_dirs {
            if project.join("logs.json").is_file() {
                // The prompt log: prompts without responses or tokens, all of them in the chats too.
                *discovery.files_by_kind.entry("prompt_log".into()).or_default() += 1;
            }
            let chats = project.join("chats");
            if !chats.is_dir() {
                continue;
            }
            if let Some(unit) = project_unit(&project, &chats, window, &mut discovery) {
                discovery.units.push(unit);
            }
        }
    }
    discovery
}

/// The unit of one project folder, `None` when it holds no chat file in the window.
fn project_unit(project: &Path, chats: &Path, window: &TimeWindow, discovery: &mut Discovery) -> Option<SourceUnit> {
    let mut found: BTreeMap<PathBuf, (FoundFile, &'static str)> = BTreeMap::new();
    for file in walk_files(chats, CHATS_DEPTH, &mut discovery.files_skipped) {
        let kind = classify(&file);
        *discovery.files_by_kind.entry(kind.into()).or_default() += 1;
        if kind == "session" || kind == "subagent" {
            found.insert(file.path.clone(), (file, kind));
        }
    }
    // A legacy `X.json` resumed by a JSON Lines client was copied whole into `X.jsonl`, which
    // the client appends to from then on: the `.jsonl` is the session.
    let superseded: Vec<PathBuf> = found
        .keys()
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .filter(|path| found.contains_key(&path.with_extension("jsonl")))
        .cloned()
        .collect();
    for path in superseded {
        found.remove(&path);
        *discovery.files_by_kind.entry("legacy_copy_superseded".into()).or_default() += 1;
    }
    let files: Vec<SourceFile> = found.into_values().map(|(file, kind)| file.into_source(kind)).collect();
    if files.is_empty() {
        return None;
    }
    if !files.iter().any(|file| window.may_contain_file_modified_at(file.modified)) {
        discovery.files_outside_window += files.len() as u64;
        return None;
    }
    let key = project.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    Some(SourceUnit { key, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"{}\n").unwrap();
    }

    #[test]
    fn roots_follow_the_override_the_client_variable_and_home() {
        let env = Environment::with_home("/home/u");
        assert_eq!(roots(&env)[0].path, Path::new("/home/u/.gemini"));
        let env = Environment::with_home("/home/u").set_var(CLIENT_HOME_VARIABLE, "/profiles/work");
        assert_eq!(
            (roots(&env)[0].path.as_path(), roots(&env)[0].origin.as_str()),
            (Path::new("/profiles/work/.gemini"), "GEMINI_CLI_HOME")
        );
        let env = env.set_var(DIR_VARIABLE, "/elsewhere/.gemini");
        assert_eq!(roots(&env)[0].path, Path::new("/elsewhere/.gemini"));
    }

    #[test]
    fn one_unit_per_project_with_sub_agents_and_without_superseded_copies() {
        let dir = tempfile::tempdir().unwrap();
        let gemini = dir.path().join(".gemini");
        let chats = gemini.join("tmp/my-project/chats");
        touch(&chats.join("session-2026-01-02T10-00-aaaaaaaa.json"));
        touch(&chats.join("session-2026-01-02T10-00-aaaaaaaa.jsonl"));
        touch(&chats.join("session-2026-01-03T10-00-bbbbbbbb.json"));
        touch(&chats.join("bbbbbbbb-full-parent-id/agent-1.jsonl"));
        touch(&chats.join("session-2026-01-02T10-00-aaaaaaaa.jsonl.unreadable-1767000000000"));
        touch(&chats.join("notes.txt"));
        touch(&gemini.join("tmp/my-project/logs.json"));
        touch(&gemini.join("tmp/other/chats/session-2026-02-01T10-00-cccccccc.jsonl"));
        std::fs::create_dir_all(gemini.join("tmp/empty")).unwrap();
        let env = Environment::with_home(dir.path());
        let discovery = discover(&roots(&env), &TimeWindow::ALL);
        let units: Vec<(&str, Vec<(String, &str)>)> = discovery
            .units
            .iter()
            .map(|unit| {
                let files = unit
                    .files
                    .iter()
                    .map(|file| (file.path.strip_prefix(&gemini).unwrap().display().to_string(), file.kind.as_str()))
                    .collect();
                (unit.key.as_str(), files)
            })
            .collect();
        assert_eq!(
            units,
            [
                (
                    "my-project",
                    vec![
                        ("tmp/my-project/chats/bbbbbbbb-full-parent-id/agent-1.jsonl".to_string(), "subagent"),
                        ("tmp/my-project/chats/session-2026-01-02T10-00-aaaaaaaa.jsonl".to_string(), "session"),
                        ("tmp/my-project/chats/session-2026-01-03T10-00-bbbbbbbb.json".to_string(), "session"),
                    ]
                ),
                ("other", vec![("tmp/other/chats/session-2026-02-01T10-00-cccccccc.jsonl".to_string(), "session")]),
            ]
        );
        let kinds = &discovery.files_by_kind;
        assert_eq!(kinds["legacy_copy_superseded"], 1);
        assert_eq!(kinds["unreadable_backup"], 1);
        assert_eq!(kinds["other"], 1);
        assert_eq!(kinds["prompt_log"], 1);
    }
}
