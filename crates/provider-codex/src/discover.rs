//! Finds Codex rollouts under `$CODEX_HOME`: every naming generation, compressed and archived
//! copies de-duplicated, paginated segments grouped by thread id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use hindcast_core::model::{SourceFile, SourceUnit};
use hindcast_core::provider::{Discovery, Environment, Root, SkipLocation};
use hindcast_core::time_window::TimeWindow;
use hindcast_core::walk::{FoundFile, walk_files};

use crate::parse::read_thread_head;
use crate::rollout::{RolloutName, ThreadHead, parse_rollout_name};

/// `sessions/YYYY/MM/DD/file` is 4 levels deep.
const MAX_DEPTH: usize = 5;

/// Desktop and browser storage we recognise but never parse (reported as `unsupported_location`).
const UNSUPPORTED_LOCATIONS: &[&str] = &[
    "Library/Application Support/Codex",
    "Library/Application Support/ChatGPT",
    "Library/Application Support/com.openai.chat",
    ".config/Codex",
    ".config/ChatGPT",
];

/// The Codex home: `$CODEX_HOME`, else `~/.codex`.
pub fn roots(env: &Environment) -> Vec<Root> {
    match (env.var("CODEX_HOME"), env.home()) {
        (Some(home), _) => vec![Root::new(PathBuf::from(home), "CODEX_HOME")],
        (None, Some(home)) => vec![Root::new(home.join(".codex"), "default")],
        (None, None) => Vec::new(),
    }
}

/// A rollout copy found on disk.
struct Candidate {
    found: FoundFile,
    name: Option<RolloutName>,
    archived: bool,
}

impl Candidate {
    /// Lower is preferred: active over archived, plain over compressed (a plain copy next to a
    /// `.zst` is the newer, materialized one).
    fn preference(&self) -> (bool, bool) {
        (self.archived, self.found.path.extension().is_some_and(|extension| extension == "zst"))
    }

    fn format(&self) -> &'static str {
        let name = self.found.file_name();
        if name.ends_with(".jsonl.zst") {
            "jsonl.zst"
        } else if name.ends_with(".jsonl") {
            "jsonl"
        } else {
            "json"
        }
    }
}

/// A file under `sessions/` that may be a rollout: `*.jsonl`, `*.jsonl.zst`, `rollout-*.json`.
fn is_candidate(name: &str) -> bool {
    name.ends_with(".jsonl")
        || name.ends_with(".jsonl.zst")
        || (name.starts_with("rollout-") && name.ends_with(".json"))
}

/// Groups threads into families: a thread with its forks, spawned and review sub-agents, so that
/// copied history and parent links resolve inside one parse unit. Returns a family key per thread.
fn families(threads: &BTreeMap<String, (ThreadHead, Option<Timestamp>)>) -> BTreeMap<String, String> {
    let mut root_of: BTreeMap<String, String> = threads.keys().map(|id| (id.clone(), id.clone())).collect();
    fn find(root_of: &BTreeMap<String, String>, id: &str) -> String {
        let mut current = id.to_string();
        for _ in 0..1_000 {
            match root_of.get(&current) {
                Some(parent) if *parent != current => current = parent.clone(),
                _ => break,
            }
        }
        current
    }
    for (id, (head, _)) in threads {
        let parent = head.parent_thread_id.clone().filter(|parent| threads.contains_key(parent)).or_else(|| {
            // A review sub-agent belongs with the latest thread in the same cwd that started before
            // it and was still being written when it started. Only review sub-agents look (a scan
            // of every thread for every thread made discovery quadratic in the threads).
            if !head.is_review {
                return None;
            }
            let started = head.started_at?;
            threads
                .iter()
                .filter(|(other, (candidate, modified))| {
                    *other != id
                        && !candidate.is_review
                        && candidate.cwd == head.cwd
                        && candidate.started_at.is_some_and(|start| start <= started)
                        && modified.is_none_or(|modified| modified >= started)
                })
                .max_by_key(|(_, (candidate, _))| candidate.started_at)
                .map(|(other, _)| other.clone())
        });
        if let Some(parent) = parent {
            let (child_root, parent_root) = (find(&root_of, id), find(&root_of, &parent));
            if child_root != parent_root {
                root_of.insert(child_root, parent_root);
            }
        }
    }
    threads.keys().map(|id| (id.clone(), find(&root_of, id))).collect()
}

/// Discovers rollouts and groups them into one unit per thread family.
pub fn discover(env: &Environment, roots: &[Root], window: &TimeWindow) -> Discovery {
    let mut discovery = Discovery::default();
    report_unsupported_locations(env, &mut discovery);
    let mut copies: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for root in roots.iter().filter(|root| root.exists) {
        for (subdir, archived) in [("sessions", false), ("archived_sessions", true)] {
            let dir = root.path.join(subdir);
            if !dir.is_dir() {
                continue;
            }
            for found in walk_files(&dir, MAX_DEPTH, &mut discovery.files_skipped) {
                let file_name = found.file_name();
                if !is_candidate(&file_name) {
                    *discovery.files_by_kind.entry("not_rollout".into()).or_default() += 1;
                    continue;
                }
                let name = parse_rollout_name(&file_name);
                let key = match &name {
                    Some(name) => format!(
                        "{}{}",
                        name.thread_id,
                        name.segment.as_deref().map(|s| format!("_{s}")).unwrap_or_default()
                    ),
                    None => file_name
                        .trim_end_matches(".zst")
                        .trim_end_matches(".jsonl")
                        .trim_end_matches(".json")
                        .to_string(),
                };
                copies.entry(key).or_default().push(Candidate { found, name, archived });
            }
        }
        count_diagnostics(&root.path, &mut discovery);
    }

    // Keep one copy per file; read its first record to learn the thread and its parent.
    let mut chosen_copies = Vec::with_capacity(copies.len());
    for (key, mut candidates) in copies {
        candidates.sort_by_key(Candidate::preference);
        let mut candidates = candidates.into_iter();
        let Some(chosen) = candidates.next() else { continue };
        for duplicate in candidates {
            discovery.files_skipped.record(SkipLocation {
                path: duplicate.found.path,
                line: 0,
                reason: format!("duplicate copy of {}", chosen.found.path.display()),
            });
        }
        chosen_copies.push((key, chosen));
    }
    let heads: Vec<ThreadHead> = chosen_copies.iter().map(|(_, chosen)| read_thread_head(&chosen.found.path)).collect();
    let mut threads: BTreeMap<String, (ThreadHead, Option<Timestamp>)> = BTreeMap::new();
    let mut files_of: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
    for ((key, chosen), head) in chosen_copies.into_iter().zip(heads) {
        let kind = format!("rollout_{}", chosen.format().replace('.', "_"));
        *discovery.files_by_kind.entry(kind.clone()).or_default() += 1;
        let thread_id =
            head.thread_id.clone().or_else(|| chosen.name.as_ref().map(|name| name.thread_id.clone())).unwrap_or(key);
        let modified = chosen.found.modified;
        let entry = threads.entry(thread_id.clone()).or_insert_with(|| (head.clone(), modified));
        if head.started_at.is_some() && (entry.0.started_at.is_none() || head.started_at < entry.0.started_at) {
            entry.0 = head;
        }
        entry.1 = entry.1.max(modified);
        files_of.entry(thread_id).or_default().push(chosen.found.into_source(&kind));
    }

    let mut units: BTreeMap<String, Vec<SourceFile>> = BTreeMap::new();
    for (thread_id, family) in families(&threads) {
        let files = files_of.remove(&thread_id).unwrap_or_default();
        units.entry(family).or_default().extend(files);
    }
    for (family, mut files) in units {
        if !files.iter().any(|file| window.may_contain_file_modified_at(file.modified)) {
            discovery.files_outside_window += files.len() as u64;
            continue;
        }
        files.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
        discovery.units.push(SourceUnit { key: family, files });
    }
    discovery
}

/// `history.jsonl` and `log/` are diagnostics: counted, never imported. `auth.json` is never opened.
fn count_diagnostics(codex_home: &Path, discovery: &mut Discovery) {
    if codex_home.join("history.jsonl").is_file() {
        *discovery.files_by_kind.entry("diagnostics".into()).or_default() += 1;
    }
    let log_dir = codex_home.join("log");
    if log_dir.is_dir() {
        let logs = walk_files(&log_dir, 2, &mut discovery.files_skipped).len() as u64;
        *discovery.files_by_kind.entry("diagnostics".into()).or_default() += logs;
    }
}

fn report_unsupported_locations(env: &Environment, discovery: &mut Discovery) {
    let Some(home) = env.home() else { return };
    for relative in UNSUPPORTED_LOCATIONS {
        let path = home.join(relative);
        if path.is_dir() {
            discovery.warnings.push(format!(
                "unsupported_location: {} holds ChatGPT/Codex app storage, which hindcast does not read",
                path.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_rollout_name_generation() {
        let id = "019b04ae-b1c6-7c72-a134-a4c2de66058c";
        let cases = [
            (format!("rollout-2025-12-10T04-55-16-{id}.jsonl"), Some((id, None, "jsonl"))),
            (format!("rollout-2025-05-08-{id}.jsonl"), Some((id, None, "jsonl"))),
            (format!("rollout-2025-04-20-{id}.json"), Some((id, None, "json"))),
            (format!("rollout-2026-06-10T01-02-03-{id}.jsonl.zst"), Some((id, None, "jsonl.zst"))),
            (format!("rollout-2026-09-01T01-02-03-{id}_0002.jsonl"), Some((id, Some("0002"), "jsonl"))),
            ("rollout-parent-019b88e0.jsonl".to_string(), None),
            ("history.jsonl".to_string(), None),
        ];
        for (name, expected) in cases {
            let parsed = parse_rollout_name(&name);
            let parsed = parsed.as_ref().map(|n| (n.thread_id.as_str(), n.segment.as_deref(), n.format));
            assert_eq!(parsed, expected, "{name}");
        }
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"{}\n").unwrap();
    }

    #[test]
    fn dedupes_copies_groups_segments_and_counts_diagnostics() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join(".codex");
        let a = "019b04ae-b1c6-7c72-a134-a4c2de66058c";
        let b = "019c8a4c-ed82-79a1-aa28-7738fc5ab61a";
        touch(&home.join(format!("sessions/2026/01/02/rollout-2026-01-02T10-00-00-{a}.jsonl")));
        touch(&home.join(format!("sessions/2026/01/02/rollout-2026-01-02T10-00-00-{a}.jsonl.zst")));
        touch(&home.join(format!("archived_sessions/rollout-2026-01-02T10-00-00-{a}.jsonl")));
        touch(&home.join(format!("sessions/2026/09/01/rollout-2026-09-01T10-00-00-{b}_0001.jsonl")));
        touch(&home.join(format!("sessions/2026/09/02/rollout-2026-09-02T10-00-00-{b}_0002.jsonl.zst")));
        touch(&home.join("history.jsonl"));
        touch(&home.join("log/codex-tui.log"));
        touch(&home.join("auth.json"));
        std::fs::create_dir_all(dir.path().join("Library/Application Support/ChatGPT")).unwrap();
        let env = Environment::with_home(dir.path());
        let discovery = discover(&env, &roots(&env), &TimeWindow::ALL);
        let units: Vec<(String, Vec<String>)> = discovery
            .units
            .iter()
            .map(|unit| {
                (
                    unit.key.clone(),
                    unit.files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].1, [format!("rollout-2026-01-02T10-00-00-{a}.jsonl")]);
        assert!(discovery.units[0].files[0].path.starts_with(home.join("sessions")));
        assert_eq!(units[1].1.len(), 2, "both segments of thread b");
        assert_eq!(discovery.files_skipped.count, 2, "zst sibling and archived copy");
        assert_eq!(discovery.files_by_kind.get("diagnostics"), Some(&2));
        assert_eq!(discovery.warnings.len(), 1);
        assert!(discovery.warnings[0].starts_with("unsupported_location"));
    }
}
