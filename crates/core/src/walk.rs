//! Directory walking shared by providers: files under a root with size and mtime, errors counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::model::SourceFile;
use crate::provider::{SkipLocation, SkipTally};

/// A regular file found under a root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundFile {
    pub path: PathBuf,
    /// Path relative to the walked root.
    pub relative: PathBuf,
    pub size: u64,
    pub modified: Option<Timestamp>,
    pub inode: Option<u64>,
}

impl FoundFile {
    fn with_metadata(path: PathBuf, relative: PathBuf, metadata: &std::fs::Metadata) -> Self {
        Self {
            path,
            relative,
            size: metadata.len(),
            modified: metadata.modified().ok().and_then(|time| Timestamp::try_from(time).ok()),
            inode: inode_of(metadata),
        }
    }

    /// The file as a source of `kind`.
    pub fn into_source(self, kind: &str) -> SourceFile {
        SourceFile {
            path: self.path,
            kind: kind.to_string(),
            size: self.size,
            modified: self.modified,
            inode: self.inode,
        }
    }

    /// The file name as UTF-8 (lossy).
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// Walks `root` up to `max_depth` levels and returns regular files in path order (each directory's
/// entries by name, depth first). Symlinks are followed, also out of the root (history moved to
/// another disk stays importable); a file reached by a second path (symlink alias, hard link) is
/// returned once. A symlink loop, a dangling symlink, an entry that is neither file nor directory
/// (FIFO, socket, device) and an unreadable entry are skipped and counted in `skipped` — never
/// opened.
///
/// A rerun walks every history file, so the walk costs one `stat` per file, made relative to its
/// open directory, and none per plain directory: only a symlink to a directory can close a loop,
/// and only then are the directories above it identified.
pub fn walk_files(root: &Path, max_depth: usize, skipped: &mut SkipTally) -> Vec<FoundFile> {
    let mut walk = Walk { root, max_depth, files: Vec::new(), first_path_of_inode: HashMap::new(), skipped };
    let mut ancestors = vec![Ancestor::new(root.to_path_buf())];
    walk.directory(root, Path::new(""), 1, &mut ancestors);
    walk.files
}

/// A directory on the way from the root to the one being read; its identity is looked up only
/// when a symlink to a directory needs it.
struct Ancestor {
    path: PathBuf,
    identity: Option<Option<(u64, u64)>>,
}

impl Ancestor {
    fn new(path: PathBuf) -> Self {
        Self { path, identity: None }
    }

    fn identity(&mut self) -> Option<(u64, u64)> {
        *self
            .identity
            .get_or_insert_with(|| std::fs::metadata(&self.path).ok().map(|metadata| file_identity(&metadata)))
    }
}

/// Whether `target`, the directory a symlink leads to, is one of the directories it lies in.
fn closes_a_loop(target: (u64, u64), ancestors: &mut [Ancestor]) -> bool {
    ancestors.iter_mut().any(|ancestor| ancestor.identity() == Some(target))
}

struct Walk<'a> {
    root: &'a Path,
    max_depth: usize,
    files: Vec<FoundFile>,
    first_path_of_inode: HashMap<(u64, u64), PathBuf>,
    skipped: &'a mut SkipTally,
}

impl Walk<'_> {
    fn skip(&mut self, path: PathBuf, reason: String) {
        self.skipped.record(SkipLocation { path, line: 0, reason });
    }

    /// Reads `dir` (at `relative` under the root), whose entries are `depth` levels down.
    fn directory(&mut self, dir: &Path, relative: &Path, depth: usize, ancestors: &mut Vec<Ancestor>) {
        let mut entries: Vec<std::fs::DirEntry> = match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut kept = Vec::new();
                for entry in entries {
                    match entry {
                        Ok(entry) => kept.push(entry),
                        Err(error) => self.skip(dir.to_path_buf(), error.to_string()),
                    }
                }
                kept
            }
            Err(error) => {
                let path = if depth == 1 { self.root.to_path_buf() } else { dir.to_path_buf() };
                self.skip(path, error.to_string());
                return;
            }
        };
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let relative = relative.join(entry.file_name());
            let file_type = match entry.file_type() {
                Ok(file_type) => file_type,
                Err(error) => {
                    self.skip(path, error.to_string());
                    continue;
                }
            };
            let (is_dir, metadata) = if file_type.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(target) if target.is_dir() => (true, Some(target)),
                    Ok(target) => (false, Some(target)),
                    Err(error) => {
                        self.skip(path, error.to_string());
                        continue;
                    }
                }
            } else if file_type.is_dir() {
                (true, None)
            } else if file_type.is_file() {
                match entry.metadata() {
                    Ok(metadata) => (false, Some(metadata)),
                    Err(error) => {
                        self.skip(path, error.to_string());
                        continue;
                    }
                }
            } else {
                (false, None)
            };
            if is_dir {
                let target = metadata.as_ref().map(file_identity);
                if target.is_some_and(|target| closes_a_loop(target, ancestors)) {
                    self.skip(path, "symlink loop".to_string());
                } else if depth < self.max_depth {
                    ancestors.push(Ancestor::new(path.clone()));
                    self.directory(&path, &relative, depth + 1, ancestors);
                    ancestors.pop();
                }
                continue;
            }
            match metadata {
                Some(metadata) if metadata.is_file() => self.file(path, relative, &metadata),
                _ => self.skip(path, "not a regular file (FIFO, socket or device)".to_string()),
            }
        }
    }

    fn file(&mut self, path: PathBuf, relative: PathBuf, metadata: &std::fs::Metadata) {
        let identity = file_identity(metadata);
        if let Some(first) = self.first_path_of_inode.get(&identity) {
            let reason = format!("the same file as {} (symlink or hard link)", first.display());
            self.skip(path, reason);
            return;
        }
        self.first_path_of_inode.insert(identity, path.clone());
        self.files.push(FoundFile::with_metadata(path, relative, metadata));
    }
}

/// A single regular file outside any walked root (e.g. a settings file a store's config names),
/// relative to its own directory; `None` when it is missing or not a regular file.
pub fn found_file(path: &Path) -> Option<FoundFile> {
    let metadata = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
    let relative = PathBuf::from(path.file_name()?);
    Some(FoundFile::with_metadata(path.to_path_buf(), relative, &metadata))
}

/// The device and inode of a file: equal for every path that reaches it.
fn file_identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

/// De-duplicates roots that resolve to the same directory (keeping the first), e.g.
/// `~/.claude` listed twice or a symlinked `~/.config/claude`.
pub fn dedupe_roots<T>(roots: Vec<T>, path_of: impl Fn(&T) -> &Path) -> Vec<T> {
    let mut seen: Vec<PathBuf> = Vec::new();
    roots
        .into_iter()
        .filter(|root| {
            let path = path_of(root);
            let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            if seen.contains(&key) {
                false
            } else {
                seen.push(key);
                true
            }
        })
        .collect()
}

/// The file's inode, so a file replaced under the same name is not mistaken for an unchanged one.
pub fn inode_of(metadata: &std::fs::Metadata) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(metadata.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_files_and_counts_symlink_loops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        std::fs::write(dir.path().join("b/c/2.jsonl"), b"{}\n").unwrap();
        std::fs::write(dir.path().join("a.jsonl"), b"{}").unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("b/loop")).unwrap();
        let mut skipped = SkipTally::default();
        let files = walk_files(dir.path(), 10, &mut skipped);
        let relative: Vec<_> = files.iter().map(|file| file.relative.to_string_lossy().into_owned()).collect();
        assert_eq!(relative, ["a.jsonl", "b/c/2.jsonl"]);
        assert_eq!(files[1].size, 3);
        assert_eq!(skipped.count, 1);
        assert_eq!(skipped.first[0].reason, "symlink loop");
    }

    #[test]
    fn symlinks_are_followed_out_of_the_root_and_each_file_is_found_once() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("elsewhere")).unwrap();
        std::fs::write(outside.path().join("elsewhere/moved.jsonl"), b"{}\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("inner")).unwrap();
        std::fs::write(root.join("inner/kept.jsonl"), b"{}\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("elsewhere"), root.join("linked-dir")).unwrap();
        std::os::unix::fs::symlink(root.join("inner/kept.jsonl"), root.join("z-alias.jsonl")).unwrap();
        std::os::unix::fs::symlink(root.join("missing.jsonl"), root.join("dangling.jsonl")).unwrap();
        let fifo = std::process::Command::new("mkfifo").arg(root.join("pipe.jsonl")).status().unwrap();
        assert!(fifo.success());
        let mut skipped = SkipTally::default();
        let files = walk_files(&root, 10, &mut skipped);
        let relative: Vec<_> = files.iter().map(|file| file.relative.to_string_lossy().into_owned()).collect();
        assert_eq!(relative, ["inner/kept.jsonl", "linked-dir/moved.jsonl"]);
        let reasons: Vec<String> = skipped.first.iter().map(ToString::to_string).collect();
        assert_eq!(skipped.count, 3, "{reasons:?}");
        assert!(reasons[0].contains("dangling.jsonl: No such file"), "{reasons:?}");
        assert!(reasons[1].contains("pipe.jsonl: not a regular file"), "{reasons:?}");
        assert!(reasons[2].contains("z-alias.jsonl: the same file as"), "{reasons:?}");
    }

    #[test]
    fn a_symlink_to_a_directory_above_it_is_a_loop_and_depth_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c/d")).unwrap();
        std::fs::write(dir.path().join("b/c/1.jsonl"), b"{}").unwrap();
        std::fs::write(dir.path().join("b/c/d/deep.jsonl"), b"{}").unwrap();
        std::os::unix::fs::symlink(dir.path().join("b"), dir.path().join("b/c/up")).unwrap();
        let mut skipped = SkipTally::default();
        let files = walk_files(dir.path(), 3, &mut skipped);
        let relative: Vec<_> = files.iter().map(|file| file.relative.to_string_lossy().into_owned()).collect();
        assert_eq!(relative, ["b/c/1.jsonl"], "deep.jsonl is 4 levels down");
        assert_eq!(skipped.count, 1);
        assert!(skipped.first[0].to_string().contains("b/c/up: symlink loop"), "{:?}", skipped.first);
        let files = walk_files(dir.path(), 4, &mut SkipTally::default());
        assert_eq!(files.len(), 2);
    }

    #[test]
    fn a_missing_root_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut skipped = SkipTally::default();
        assert!(walk_files(&dir.path().join("gone"), 3, &mut skipped).is_empty());
        assert_eq!(skipped.count, 1);
        assert!(skipped.first[0].to_string().contains("gone: No such file"), "{:?}", skipped.first);
    }

    #[test]
    fn roots_resolving_to_the_same_directory_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("alias")).unwrap();
        let roots = vec![dir.path().to_path_buf(), dir.path().join("alias"), dir.path().join("missing")];
        let deduped = dedupe_roots(roots, |root| root.as_path());
        assert_eq!(deduped, [dir.path().to_path_buf(), dir.path().join("missing")]);
    }
}
