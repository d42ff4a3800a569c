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

/// Walks `root` up to `max_depth` levels and returns regular files sorted by path. Symlinks are
/// followed, also out of the root (history moved to another disk stays importable); a file reached
/// by a second path (symlink alias, hard link) is returned once. A symlink loop, a dangling symlink,
/// an entry that is neither file nor directory (FIFO, socket, device) and an unreadable entry are
/// skipped and counted in `skipped` — never opened.
pub fn walk_files(root: &Path, max_depth: usize, skipped: &mut SkipTally) -> Vec<FoundFile> {
    let mut files = Vec::new();
    let mut first_path_of_inode: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let walker = walkdir::WalkDir::new(root).follow_links(true).max_depth(max_depth).sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                let path = error.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                let reason = if error.loop_ancestor().is_some() {
                    "symlink loop".to_string()
                } else {
                    error.io_error().map_or_else(|| error.to_string(), |io| io.to_string())
                };
                skipped.record(SkipLocation { path, line: 0, reason });
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        if !entry.file_type().is_file() {
            let reason = "not a regular file (FIFO, socket or device)".to_string();
            skipped.record(SkipLocation { path: entry.path().to_path_buf(), line: 0, reason });
            continue;
        }
        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            Err(error) => {
                skipped.record(SkipLocation { path: entry.path().to_path_buf(), line: 0, reason: error.to_string() });
                continue;
            }
        };
        if let Some(first) = first_path_of_inode.get(&file_identity(&metadata)) {
            let reason = format!("the same file as {} (symlink or hard link)", first.display());
            skipped.record(SkipLocation { path: entry.path().to_path_buf(), line: 0, reason });
            continue;
        }
        first_path_of_inode.insert(file_identity(&metadata), entry.path().to_path_buf());
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path()).to_path_buf();
        files.push(FoundFile::with_metadata(entry.path().to_path_buf(), relative, &metadata));
    }
    files
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
    fn roots_resolving_to_the_same_directory_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("alias")).unwrap();
        let roots = vec![dir.path().to_path_buf(), dir.path().join("alias"), dir.path().join("missing")];
        let deduped = dedupe_roots(roots, |root| root.as_path());
        assert_eq!(deduped, [dir.path().to_path_buf(), dir.path().join("missing")]);
    }
}
