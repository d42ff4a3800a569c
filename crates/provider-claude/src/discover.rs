//! Finds Claude Code transcripts: roots from `CLAUDE_CONFIG_DIR` or the defaults, and a
//! classification of every file under `projects/<slug>/`.

use std::path::{Component, Path, PathBuf};

use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{Discovery, Environment, Root, SkipLocation};
use hindcast_core::time_window::TimeWindow;
use hindcast_core::walk::{dedupe_roots, walk_files};

/// Deepest file below a project dir: `<sid>/subagents/workflows/<run>/agent-x.jsonl` is 5 levels.
const MAX_DEPTH_IN_PROJECT: usize = 6;

/// What a file under `projects/<slug>/` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `<slug>/<sessionId>.jsonl`.
    Session,
    /// `<slug>/agent-<id>.jsonl` (2.0.x subagent transcript at project level).
    ProjectAgent,
    /// `<slug>/<sessionId>/subagents/**/agent-<id>.jsonl` (2.1.x).
    Subagent,
    /// `agent-<id>.meta.json` beside a 2.1.x subagent.
    SubagentMeta,
    /// Anything else: journals, spilled tool results, indexes, memory, workflows.
    NotTranscript,
}

impl FileKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Session => "session",
            FileKind::ProjectAgent => "agent",
            FileKind::Subagent => "subagent",
            FileKind::SubagentMeta => "subagent_meta",
            FileKind::NotTranscript => "not_transcript",
        }
    }

    /// Whether the parser reads files of this kind.
    pub fn is_source(self) -> bool {
        !matches!(self, FileKind::NotTranscript)
    }
}

/// Classifies a file by its path relative to its project dir.
pub fn classify(relative: &Path) -> FileKind {
    // Names that are not UTF-8 are classified as shown (U+FFFD for the bytes that are not): the
    // lines, not the name, say which session a transcript holds.
    let owned: Vec<std::borrow::Cow<'_, str>> = relative
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy()),
            _ => None,
        })
        .collect();
    let components: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
    let Some((&name, directories)) = components.split_last() else { return FileKind::NotTranscript };
    let is_agent_name = name.starts_with("agent-");
    match directories {
        [] if name.ends_with(".jsonl") && is_agent_name => FileKind::ProjectAgent,
        [] if name.ends_with(".jsonl") => FileKind::Session,
        [_, "subagents", ..] if is_agent_name && name.ends_with(".meta.json") => FileKind::SubagentMeta,
        [_, "subagents", ..] if is_agent_name && name.ends_with(".jsonl") => FileKind::Subagent,
        _ => FileKind::NotTranscript,
    }
}

/// The `projects/` directories to read, in priority order, without duplicates.
pub fn roots(env: &Environment) -> Vec<Root> {
    let roots = match env.var("CLAUDE_CONFIG_DIR") {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| Root::new(projects_dir(Path::new(entry)), "CLAUDE_CONFIG_DIR"))
            .collect(),
        None => {
            let mut roots = Vec::new();
            if let Some(home) = env.home() {
                roots.push(Root::new(home.join(".claude/projects"), "default"));
            }
            if let Some(config) = env.xdg_config_home() {
                roots.push(Root::new(config.join("claude/projects"), "default (XDG)"));
            }
            roots
        }
    };
    dedupe_roots(roots, |root| root.path.as_path())
}

/// A `CLAUDE_CONFIG_DIR` entry names a config dir (holding `projects/`) or a projects dir itself
/// (named `projects`, or any existing dir without a `projects/` child, e.g. a copied `projects/`).
fn projects_dir(entry: &Path) -> PathBuf {
    let nested = entry.join("projects");
    if entry.file_name().is_some_and(|name| name == "projects") || (!nested.is_dir() && entry.is_dir()) {
        entry.to_path_buf()
    } else {
        nested
    }
}

/// Lists every project dir under the existing roots and groups its transcripts into one unit.
pub fn discover(roots: &[Root], window: &TimeWindow) -> Discovery {
    let mut discovery = Discovery::default();
    for root in roots.iter().filter(|root| root.exists) {
        let project_dirs = match std::fs::read_dir(&root.path) {
            Ok(entries) => {
                let mut dirs: Vec<PathBuf> =
                    entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| path.is_dir()).collect();
                dirs.sort();
                dirs
            }
            Err(error) => {
                discovery.files_skipped.record(SkipLocation {
                    path: root.path.clone(),
                    line: 0,
                    reason: error.to_string(),
                });
                continue;
            }
        };
        for project_dir in project_dirs {
            discover_project(&project_dir, window, &mut discovery);
        }
    }
    discovery
}

/// The unit of the project holding `path` (a transcript under one of `roots`), as `discover`
/// would list it: every transcript of the project, so its sub-agents and continuations come too.
pub fn unit_of(roots: &[Root], path: &Path) -> Option<SourceUnit> {
    let root = roots.iter().filter(|root| root.exists).find(|root| path.starts_with(&root.path))?;
    let project = path.strip_prefix(&root.path).ok()?.components().next()?;
    let project_dir = root.path.join(project);
    if !project_dir.is_dir() || !path.is_file() {
        return None;
    }
    let mut discovery = Discovery::default();
    discover_project(&project_dir, &TimeWindow::ALL, &mut discovery);
    discovery.units.pop()
}

fn discover_project(project_dir: &Path, window: &TimeWindow, discovery: &mut Discovery) {
    let mut files = Vec::new();
    for found in walk_files(project_dir, MAX_DEPTH_IN_PROJECT, &mut discovery.files_skipped) {
        let kind = classify(&found.relative);
        *discovery.files_by_kind.entry(kind.as_str().to_string()).or_default() += 1;
        if !kind.is_source() {
            continue;
        }
        if found.relative.to_str().is_none() {
            discovery.warnings.push(format!(
                "{}: the file name is not UTF-8; imported (names show U+FFFD for the bytes that are not)",
                hindcast_core::provider::escaped(&found.path)
            ));
        }
        if kind != FileKind::SubagentMeta && !window.may_contain_file_modified_at(found.modified) {
            discovery.files_outside_window += 1;
            continue;
        }
        files.push(found.into_source(kind.as_str()));
    }
    // A sidecar alone (its transcript outside the window) is not worth a unit.
    if files.iter().any(|file| file.kind != FileKind::SubagentMeta.as_str()) {
        let key = project_dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        discovery.units.push(SourceUnit { key, files });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_whose_name_is_not_utf8_is_imported_with_a_warning() {
        use std::os::unix::ffi::OsStrExt;
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("-home-user-x");
        std::fs::create_dir_all(&project).unwrap();
        let name = std::ffi::OsStr::from_bytes(b"\xff\xfe-88888888-8888-4888-8888-888888888888.jsonl");
        std::fs::write(project.join(name), "{}\n").unwrap();
        let discovery = discover(&[Root::new(root.path().to_path_buf(), "test")], &TimeWindow::ALL);
        assert_eq!(discovery.source_count(), 1, "{discovery:?}");
        assert_eq!(discovery.warnings.len(), 1);
        assert!(discovery.warnings[0].contains("the file name is not UTF-8; imported"), "{:?}", discovery.warnings);
    }

    #[test]
    fn classifies_every_layout() {
        let cases = [
            ("0d3a8e6f-290f-4105-a327-a2496e5e2a83.jsonl", FileKind::Session),
            ("short.jsonl", FileKind::Session),
            ("agent-3430b97e.jsonl", FileKind::ProjectAgent),
            ("ef958aa1/subagents/agent-a4ca7529859c158c2.jsonl", FileKind::Subagent),
            ("ef958aa1/subagents/agent-a4ca7529859c158c2.meta.json", FileKind::SubagentMeta),
            ("ae4a77f8/subagents/agent-acompact-946d2b.jsonl", FileKind::Subagent),
            ("ef958aa1/subagents/workflows/run1/agent-x.jsonl", FileKind::Subagent),
            ("ef958aa1/subagents/workflows/run1/journal.jsonl", FileKind::NotTranscript),
            ("ef958aa1/tool-results/toolu_1.txt", FileKind::NotTranscript),
            ("sessions-index.json", FileKind::NotTranscript),
            ("memory/notes.md", FileKind::NotTranscript),
            ("ef958aa1/workflows/wf_1.json", FileKind::NotTranscript),
        ];
        for (path, expected) in cases {
            assert_eq!(classify(Path::new(path)), expected, "{path}");
        }
        use std::os::unix::ffi::OsStrExt;
        let not_utf8 = std::ffi::OsStr::from_bytes(b"\xff\xfe-88888888-8888-4888-8888-888888888888.jsonl");
        assert_eq!(classify(Path::new(not_utf8)), FileKind::Session);
    }

    #[test]
    fn config_dir_list_accepts_config_and_projects_dirs_and_dedupes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir_all(a.join("projects")).unwrap();
        let copied = dir.path().join("copied-projects");
        std::fs::create_dir_all(copied.join("-some-slug")).unwrap();
        let list = format!("{}, {}/projects,{}/b,{}", a.display(), a.display(), dir.path().display(), copied.display());
        let env = Environment::with_home(dir.path()).set_var("CLAUDE_CONFIG_DIR", list);
        let roots = roots(&env);
        let paths: Vec<_> = roots.iter().map(|root| root.path.clone()).collect();
        assert_eq!(paths, [a.join("projects"), dir.path().join("b/projects"), copied]);
        assert!(roots[0].exists && !roots[1].exists && roots[2].exists);
        assert!(roots.iter().all(|root| root.origin == "CLAUDE_CONFIG_DIR"));
    }

    #[test]
    fn default_roots_are_home_and_xdg_config() {
        let env = Environment::with_home("/h");
        let paths: Vec<_> = roots(&env).into_iter().map(|root| root.path).collect();
        assert_eq!(paths, [PathBuf::from("/h/.claude/projects"), PathBuf::from("/h/.config/claude/projects")]);
        let env = Environment::with_home("/h").set_var("XDG_CONFIG_HOME", "/x");
        let paths: Vec<_> = roots(&env).into_iter().map(|root| root.path).collect();
        assert_eq!(paths[1], PathBuf::from("/x/claude/projects"));
    }

    #[test]
    fn discovers_the_shared_corpus_by_project() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/claude/claude-code-log");
        if !corpus.is_dir() {
            panic!("the shared corpus is expected beside the repository at {}", corpus.display());
        }
        let discovery = discover(&[Root::new(corpus, "test")], &TimeWindow::ALL);
        let keys: Vec<_> = discovery.units.iter().map(|unit| unit.key.as_str()).collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
        assert_eq!(discovery.files_by_kind.get("session"), Some(&11));
        assert_eq!(discovery.files_by_kind.get("agent"), Some(&2));
        assert_eq!(discovery.files_by_kind.get("subagent"), Some(&1));
        assert_eq!(discovery.files_by_kind.get("subagent_meta"), Some(&1));
        assert_eq!(discovery.files_skipped.count, 0);
    }
}
