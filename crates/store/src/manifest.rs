//! The sources manifest: how each source file looked when it was last imported, so a rerun skips
//! unchanged files without reading them, continues appended files from the provider's checkpoint,
//! and re-parses rewritten, replaced or truncated files in full (idempotent writes keep that safe).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use jiff::Timestamp;
use rusqlite::params;
use serde_json::Value;

use hindcast_core::identity::sha256_hex;
use hindcast_core::model::SourceFile;
pub use hindcast_core::resume::{ResumePlan, ResumePoint};
use hindcast_core::time_window::{TimeWindow, format_timestamp};
use hindcast_core::walk::inode_of;

use crate::{Store, StoreError};

/// Bytes hashed at the start of a file and just before its checkpoint to tell an append from a rewrite.
pub const ANCHOR_BYTES: u64 = 4096;

/// How `file` differs now from what discovery saw (size, mtime, inode), e.g. the client appended
/// to it while it was being read; `None` when it looks the same. A file that changed during a run
/// is left out of the manifest so the next run reads it again. A file that is gone by now was read
/// whole (or reported unreadable by its parser); its entry can only matter if it comes back unchanged.
pub fn changed_since_discovery(file: &SourceFile) -> Option<&'static str> {
    let metadata = std::fs::metadata(&file.path).ok()?;
    let modified = metadata.modified().ok().and_then(|time| Timestamp::try_from(time).ok());
    if inode_of(&metadata) != file.inode {
        Some("replaced")
    } else if metadata.len() > file.size {
        Some("appended to")
    } else if metadata.len() < file.size {
        Some("truncated")
    } else if modified_ns(modified) != modified_ns(file.modified) {
        Some("rewritten")
    } else {
        None
    }
}

/// What the manifest remembers about one source file of one provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestEntry {
    pub path_sha256: String,
    /// Size, modification time and inode when the file was discovered for the import.
    pub size: u64,
    pub modified_ns: Option<i64>,
    pub inode: Option<u64>,
    /// Where a continuation may start, when the provider left one.
    pub checkpoint: Option<Checkpoint>,
    /// The provider and hindcast version that parsed the file; another version re-parses it.
    pub parser: String,
    /// The window of that import; a wider window later re-parses the file.
    pub window_since: Option<String>,
    pub window_until: Option<String>,
}

/// A point in a file from which the provider can continue parsing, with what it needs to do so.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Byte offset of the first line the next parse reads (the start of a line).
    pub offset: u64,
    /// sha256 of the first `ANCHOR_BYTES` bytes (fewer if the offset is smaller).
    pub prefix_sha256: String,
    /// sha256 of the `ANCHOR_BYTES` bytes that end at `offset`.
    pub anchor_sha256: String,
    /// The provider's own continuation state (opaque to the core) as JSON text: it is read back
    /// only for a file that grew, so an unchanged file's state is never parsed.
    pub state_json: String,
}

/// How a file differs from what the manifest remembers.
#[derive(Clone, Debug, PartialEq)]
pub enum FileChange {
    /// Never imported (or imported before the manifest existed).
    New,
    /// Same size, modification time and inode: nothing to read.
    Unchanged,
    /// Grown past its checkpoint with the bytes before it intact: continue from the checkpoint.
    Appended(ResumePoint),
    /// Anything else: parse the whole file again.
    Changed(&'static str),
}

/// The parser key stored with every entry: a new hindcast version re-parses everything once.
pub fn parser_key(provider: &str) -> String {
    format!("{provider}/{}", env!("CARGO_PKG_VERSION"))
}

/// Nanoseconds since the epoch of a modification time, as stored.
pub fn modified_ns(modified: Option<Timestamp>) -> Option<i64> {
    modified.and_then(|time| i64::try_from(time.as_nanosecond()).ok())
}

/// The entry to record for `file` after a successful parse in `window`.
pub fn entry_for(
    file: &SourceFile,
    checkpoint: Option<Checkpoint>,
    provider: &str,
    window: &TimeWindow,
) -> ManifestEntry {
    ManifestEntry {
        path_sha256: hindcast_core::identity::source_path_sha256(&file.path),
        size: file.size,
        modified_ns: modified_ns(file.modified),
        inode: file.inode,
        checkpoint,
        parser: parser_key(provider),
        window_since: window.since.map(format_timestamp),
        window_until: window.until.map(format_timestamp),
    }
}

/// Compares `file` (as discovered now) with its manifest entry. Reads at most two small ranges of
/// the file, and only when its size or modification time moved; an unchanged file is not opened.
pub fn classify(entry: Option<&ManifestEntry>, file: &SourceFile, provider: &str, window: &TimeWindow) -> FileChange {
    let Some(entry) = entry else { return FileChange::New };
    if entry.parser != parser_key(provider) {
        return FileChange::Changed("imported by another hindcast version");
    }
    if !window_covers(entry, window) {
        return FileChange::Changed("imported with a narrower window");
    }
    if entry.inode.is_some() && file.inode.is_some() && entry.inode != file.inode {
        return FileChange::Changed("replaced");
    }
    if entry.size == file.size && entry.modified_ns == modified_ns(file.modified) {
        return FileChange::Unchanged;
    }
    if file.size < entry.size {
        return FileChange::Changed("truncated");
    }
    let Some(checkpoint) = &entry.checkpoint else { return FileChange::Changed("modified") };
    match anchor_hashes(&file.path, checkpoint.offset) {
        Ok(Some((prefix, anchor))) if prefix == checkpoint.prefix_sha256 && anchor == checkpoint.anchor_sha256 => {
            match serde_json::from_str(&checkpoint.state_json) {
                Ok(state) => FileChange::Appended(ResumePoint { offset: checkpoint.offset, state }),
                Err(_) => FileChange::Changed("modified (its continuation state is unreadable)"),
            }
        }
        Ok(_) => FileChange::Changed("rewritten"),
        Err(_) => FileChange::Changed("unreadable"),
    }
}

fn window_covers(entry: &ManifestEntry, window: &TimeWindow) -> bool {
    let bound = |text: &Option<String>| text.as_deref().map(str::parse::<Timestamp>);
    let since_ok = match bound(&entry.window_since) {
        None => true,
        Some(Ok(since)) => window.since.is_some_and(|now| now >= since),
        Some(Err(_)) => false,
    };
    let until_ok = match bound(&entry.window_until) {
        None => true,
        Some(Ok(until)) => window.until.is_some_and(|now| now <= until),
        Some(Err(_)) => false,
    };
    since_ok && until_ok
}

/// The prefix and anchor hashes of `path` for a checkpoint at `offset`, or `None` when the file is
/// now shorter than `offset`.
pub fn anchor_hashes(path: &Path, offset: u64) -> std::io::Result<Option<(String, String)>> {
    let mut file = std::fs::File::open(path)?;
    let read_range = |file: &mut std::fs::File, start: u64, length: u64| -> std::io::Result<Option<Vec<u8>>> {
        file.seek(SeekFrom::Start(start))?;
        let mut buffer = Vec::with_capacity(length as usize);
        file.take(length).read_to_end(&mut buffer)?;
        Ok((buffer.len() as u64 == length).then_some(buffer))
    };
    let prefix_length = offset.min(ANCHOR_BYTES);
    let Some(prefix) = read_range(&mut file, 0, prefix_length)? else { return Ok(None) };
    let Some(anchor) = read_range(&mut file, offset - prefix_length, prefix_length)? else { return Ok(None) };
    Ok(Some((sha256_hex(&prefix), sha256_hex(&anchor))))
}

/// A checkpoint at `offset` of `path` with the provider's `state`, hashed from the file as it is now;
/// `None` when the file no longer reaches `offset` (the next run then re-parses it in full).
pub fn checkpoint_at(path: &Path, offset: u64, state: Value) -> Option<Checkpoint> {
    let (prefix_sha256, anchor_sha256) = anchor_hashes(path, offset).ok()??;
    Some(Checkpoint { offset, prefix_sha256, anchor_sha256, state_json: state.to_string() })
}

const UPSERT_SOURCE: &str = "INSERT INTO sources (provider, path_sha256, size, modified_ns, inode, bytes_consumed, \
    prefix_sha256, anchor_sha256, resume_state, parser, window_since, window_until, run_id) VALUES (?1, ?2, ?3, ?4, \
    ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (provider, path_sha256) DO UPDATE SET size = excluded.size, \
    modified_ns = excluded.modified_ns, inode = excluded.inode, bytes_consumed = excluded.bytes_consumed, \
    prefix_sha256 = excluded.prefix_sha256, anchor_sha256 = excluded.anchor_sha256, \
    resume_state = excluded.resume_state, parser = excluded.parser, window_since = excluded.window_since, \
    window_until = excluded.window_until, run_id = excluded.run_id";

impl Store {
    /// The sources manifest of `provider`, keyed by `path_sha256`.
    pub fn load_manifest(&self, provider: &str) -> Result<HashMap<String, ManifestEntry>, StoreError> {
        self.read_manifest(provider, None)
    }

    /// The manifest entries of `provider`'s files with these path hashes (those it has).
    pub fn load_manifest_of(
        &self,
        provider: &str,
        path_hashes: &[String],
    ) -> Result<HashMap<String, ManifestEntry>, StoreError> {
        self.read_manifest(provider, Some(path_hashes))
    }

    fn read_manifest(
        &self,
        provider: &str,
        only: Option<&[String]>,
    ) -> Result<HashMap<String, ManifestEntry>, StoreError> {
        let read = || -> rusqlite::Result<HashMap<String, ManifestEntry>> {
            let where_clause = if only.is_some() { "provider = ?1 AND path_sha256 = ?2" } else { "provider = ?1" };
            let mut statement = self.conn.prepare(&format!(
                "SELECT path_sha256, size, modified_ns, inode, bytes_consumed, prefix_sha256, anchor_sha256, \
                 resume_state, parser, window_since, window_until FROM sources WHERE {where_clause}"
            ))?;
            let entry_of = |row: &rusqlite::Row<'_>| {
                let state: Option<String> = row.get(7)?;
                let prefix: Option<String> = row.get(5)?;
                let anchor: Option<String> = row.get(6)?;
                let checkpoint = match (state, prefix, anchor) {
                    (Some(state_json), Some(prefix_sha256), Some(anchor_sha256)) => {
                        Some(Checkpoint { offset: row.get(4)?, prefix_sha256, anchor_sha256, state_json })
                    }
                    _ => None,
                };
                Ok(ManifestEntry {
                    path_sha256: row.get(0)?,
                    size: row.get(1)?,
                    modified_ns: row.get(2)?,
                    inode: row.get(3)?,
                    checkpoint,
                    parser: row.get(8)?,
                    window_since: row.get(9)?,
                    window_until: row.get(10)?,
                })
            };
            let mut entries = HashMap::new();
            match only {
                None => {
                    for entry in statement.query_map([provider], entry_of)? {
                        let entry = entry?;
                        entries.insert(entry.path_sha256.clone(), entry);
                    }
                }
                Some(hashes) => {
                    for hash in hashes {
                        for entry in statement.query_map([provider, hash], entry_of)? {
                            let entry = entry?;
                            entries.insert(entry.path_sha256.clone(), entry);
                        }
                    }
                }
            }
            Ok(entries)
        };
        read().map_err(|source| self.sqlite_error(source))
    }

    /// Records manifest entries of `provider` inside the current transaction (starting one if needed),
    /// after the rows of the files they describe.
    pub fn write_manifest(
        &mut self,
        provider: &str,
        run_id: &str,
        entries: &[ManifestEntry],
    ) -> Result<(), StoreError> {
        self.begin()?;
        let write = || -> rusqlite::Result<()> {
            let mut statement = self.conn.prepare_cached(UPSERT_SOURCE)?;
            for (index, entry) in entries.iter().enumerate() {
                if index == entries.len() / 2 {
                    hindcast_core::failpoint::hit(hindcast_core::failpoint::MANIFEST_HALF_WRITTEN);
                }
                let checkpoint = entry.checkpoint.as_ref();
                statement.execute(params![
                    provider,
                    entry.path_sha256,
                    entry.size,
                    entry.modified_ns,
                    entry.inode,
                    checkpoint.map_or(entry.size, |checkpoint| checkpoint.offset),
                    checkpoint.map(|checkpoint| checkpoint.prefix_sha256.as_str()),
                    checkpoint.map(|checkpoint| checkpoint.anchor_sha256.as_str()),
                    checkpoint.map(|checkpoint| checkpoint.state_json.as_str()),
                    entry.parser,
                    entry.window_since,
                    entry.window_until,
                    run_id,
                ])?;
            }
            Ok(())
        };
        write().map_err(|source| self.sqlite_error(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn discovered(path: &Path) -> SourceFile {
        let metadata = std::fs::metadata(path).unwrap();
        SourceFile {
            path: path.to_path_buf(),
            kind: "session".into(),
            size: metadata.len(),
            modified: metadata.modified().ok().and_then(|time| Timestamp::try_from(time).ok()),
            inode: inode_of(&metadata),
        }
    }

    fn recorded(path: &Path, offset: u64) -> ManifestEntry {
        let file = discovered(path);
        let checkpoint = checkpoint_at(path, offset, serde_json::json!({ "seq": 3 }));
        entry_for(&file, checkpoint, "claude", &TimeWindow::ALL)
    }

    fn bump_mtime(path: &Path) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        file.set_modified(later).unwrap();
    }

    #[test]
    fn tells_unchanged_appended_rewritten_truncated_and_replaced_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let body: String = (0..500).map(|n| format!("{{\"n\":{n}}}\n")).collect();
        std::fs::write(&path, &body).unwrap();
        let offset = body.len() as u64 - 9;
        let entry = recorded(&path, offset);
        let change =
            |entry: &ManifestEntry, window: &TimeWindow| classify(Some(entry), &discovered(&path), "claude", window);

        assert_eq!(classify(None, &discovered(&path), "claude", &TimeWindow::ALL), FileChange::New);
        assert_eq!(change(&entry, &TimeWindow::ALL), FileChange::Unchanged);
        assert_eq!(
            classify(Some(&entry), &discovered(&path), "codex", &TimeWindow::ALL),
            FileChange::Changed("imported by another hindcast version")
        );

        std::fs::File::options().append(true).open(&path).unwrap().write_all(b"{\"n\":500}\n").unwrap();
        bump_mtime(&path);
        assert_eq!(
            change(&entry, &TimeWindow::ALL),
            FileChange::Appended(ResumePoint { offset, state: serde_json::json!({ "seq": 3 }) })
        );

        let mut rewritten = body.clone().into_bytes();
        rewritten[offset as usize - 3] = b'7';
        rewritten.extend_from_slice(b"{\"n\":500}\n");
        std::fs::write(&path, &rewritten).unwrap();
        bump_mtime(&path);
        assert_eq!(change(&entry, &TimeWindow::ALL), FileChange::Changed("rewritten"));

        std::fs::write(&path, &body.as_bytes()[..100]).unwrap();
        assert_eq!(change(&entry, &TimeWindow::ALL), FileChange::Changed("truncated"));

        std::fs::write(&path, &body).unwrap();
        let replacement = dir.path().join("b.jsonl");
        std::fs::write(&replacement, format!("{body}{{\"n\":500}}\n")).unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        assert_eq!(change(&entry, &TimeWindow::ALL), FileChange::Changed("replaced"));
    }

    #[test]
    fn a_file_imported_with_a_narrower_window_is_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{}\n").unwrap();
        let since: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let narrow = TimeWindow { since: Some(since), until: None };
        let entry = entry_for(&discovered(&path), None, "claude", &narrow);
        assert_eq!(classify(Some(&entry), &discovered(&path), "claude", &narrow), FileChange::Unchanged);
        let narrower = TimeWindow { since: Some("2026-02-01T00:00:00Z".parse().unwrap()), until: None };
        assert_eq!(classify(Some(&entry), &discovered(&path), "claude", &narrower), FileChange::Unchanged);
        assert_eq!(
            classify(Some(&entry), &discovered(&path), "claude", &TimeWindow::ALL),
            FileChange::Changed("imported with a narrower window")
        );
    }

    #[test]
    fn a_modified_file_without_a_checkpoint_is_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{}\n").unwrap();
        let entry = entry_for(&discovered(&path), None, "legacy", &TimeWindow::ALL);
        std::fs::write(&path, "{}\n{}\n").unwrap();
        assert_eq!(
            classify(Some(&entry), &discovered(&path), "legacy", &TimeWindow::ALL),
            FileChange::Changed("modified")
        );
    }
}
