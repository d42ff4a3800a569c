//! Copies of the store made with SQLite's backup API: `hindcast backup PATH` (a consistent copy of
//! a store in use), and the copy kept beside the store before an upgrade rewrites its tables.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::{StoreError, private};

/// A copy of the store could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path} already exists; choose a path that does not (a backup never overwrites a file)")]
    Exists { path: PathBuf },
    #[error(
        "not enough free disk space for a copy of the store {store} at {backup}: it needs about {needed} bytes and {available} are free; {consequence}"
    )]
    NoRoom { store: PathBuf, backup: PathBuf, needed: u64, available: u64, consequence: &'static str },
    #[error("cannot copy the store {store} to {backup}: {source}; {consequence}")]
    Copy {
        store: PathBuf,
        backup: PathBuf,
        #[source]
        source: Box<rusqlite::Error>,
        consequence: &'static str,
    },
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a failed backup before an upgrade means for the store.
const UPGRADE_NOT_STARTED: &str = "the store was not upgraded and is left as it was";
/// What a failed `hindcast backup` means.
const NO_COPY: &str = "no copy was made";

/// Where the copy of a store at schema `version` is kept before it is upgraded:
/// `hindcast.db.v5-backup` beside `hindcast.db`.
pub fn backup_path(db: &Path, version: u32) -> PathBuf {
    private::sidecar(db, &format!(".v{version}-backup"))
}

/// Copies the store `from` (an open connection to the store at `store`) to the new file `to`,
/// 0600, in one read transaction, so the copy is consistent while other runs write. `to` must not
/// exist; a failed copy leaves nothing there.
pub fn copy_store(from: &Connection, store: &Path, to: &Path) -> Result<(), BackupError> {
    if to.symlink_metadata().is_ok() {
        return Err(BackupError::Exists { path: to.to_path_buf() });
    }
    copy(from, store, to, NO_COPY)
}

fn copy(from: &Connection, store: &Path, to: &Path, consequence: &'static str) -> Result<(), BackupError> {
    check_room(from, store, to, consequence)?;
    private::open_options()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|source| BackupError::Create { path: to.to_path_buf(), source })?;
    let copied = (|| {
        let mut destination = Connection::open(to)?;
        let backup = Backup::new(from, &mut destination)?;
        // All pages in one step: one read transaction, so the copy is one committed state.
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        drop(backup);
        destination.execute_batch("PRAGMA journal_mode = DELETE")
    })();
    copied.map_err(|source| {
        for leftover in [to.to_path_buf(), private::sidecar(to, "-journal")] {
            let _ = std::fs::remove_file(leftover);
        }
        BackupError::Copy {
            store: store.to_path_buf(),
            backup: to.to_path_buf(),
            source: Box::new(source),
            consequence,
        }
    })
}

/// Refuses a copy the disk has no room for (with the figures), before a byte is written.
fn check_room(from: &Connection, store: &Path, to: &Path, consequence: &'static str) -> Result<(), BackupError> {
    let needed = from
        .query_row("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", [], |row| {
            row.get::<_, i64>(0)
        })
        .map_err(|source| BackupError::Copy {
            store: store.to_path_buf(),
            backup: to.to_path_buf(),
            source: Box::new(source),
            consequence,
        })? as u64;
    let directory = match to.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match rustix::fs::statvfs(directory) {
        Ok(stats) => require_room(needed, stats.f_bavail.saturating_mul(stats.f_frsize), store, to, consequence),
        // Where free space cannot be known, the copy itself reports a full disk.
        Err(_) => Ok(()),
    }
}

fn require_room(
    needed: u64,
    available: u64,
    store: &Path,
    backup: &Path,
    consequence: &'static str,
) -> Result<(), BackupError> {
    if available >= needed {
        return Ok(());
    }
    Err(BackupError::NoRoom {
        store: store.to_path_buf(),
        backup: backup.to_path_buf(),
        needed,
        available,
        consequence,
    })
}

/// Keeps a copy of the store at `version` beside it before an upgrade rewrites its tables,
/// saying so first. A copy left by an upgrade that did not finish is replaced (the store is still
/// at that version, and may have been written by that version since).
pub(crate) fn before_upgrade(
    conn: &Connection,
    path: &Path,
    version: u32,
    notify: Option<fn(&str)>,
) -> Result<(), StoreError> {
    let backup = backup_path(path, version);
    let partial = private::sidecar(&backup, "-partial");
    if let Some(notify) = notify {
        notify(&format!(
            "upgrading the store {} from schema version {version} to {}; keeping a copy of it first at {}",
            path.display(),
            crate::schema::LATEST_VERSION,
            backup.display()
        ));
    }
    let _ = std::fs::remove_file(&partial);
    copy(conn, path, &partial, UPGRADE_NOT_STARTED).map_err(|error| StoreError::Backup(Box::new(error)))?;
    std::fs::rename(&partial, &backup)
        .map_err(|source| StoreError::Backup(Box::new(BackupError::Create { path: backup.clone(), source })))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_without_room_is_refused_before_a_byte_is_written_saying_what_it_needs() {
        let (store, backup) = (Path::new("/s/hindcast.db"), Path::new("/s/hindcast.db.v6-backup"));
        assert!(require_room(100, 100, store, backup, UPGRADE_NOT_STARTED).is_ok());
        let error = require_room(742_000_000, 10_000_000, store, backup, UPGRADE_NOT_STARTED).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("needs about 742000000 bytes and 10000000 are free")
                && message.contains("the store was not upgraded"),
            "{message}"
        );
    }
}
