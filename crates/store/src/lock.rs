//! The store lock: one writer at a time, with the holder's pid for the error message.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the store {db} is locked by another hindcast run (pid {})", pid.map_or_else(|| "unknown".to_string(), |pid| pid.to_string()))]
    Held { db: PathBuf, pid: Option<u32> },
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive advisory lock on `<db>.lock`, released when dropped or when the process dies
/// (so a lock left by a killed run is never stale).
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
}

/// The lock file that guards `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".lock");
    db.with_file_name(name)
}

impl StoreLock {
    /// Takes the lock without waiting; `LockError::Held` names the holder's pid.
    pub fn acquire(db: &Path) -> Result<Self, LockError> {
        let path = lock_path(db);
        let io_error = |source| LockError::Io { path: path.clone(), source };
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            crate::private::create_dir_all(parent).map_err(io_error)?;
        }
        let mut file = crate::private::open_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held { db: db.to_path_buf(), pid: read_holder_pid(&mut file) });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io_error(source)),
        }
        file.set_len(0).map_err(io_error)?;
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io_error)?;
        file.sync_data().map_err(io_error)?;
        Ok(Self { file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the pid the holder wrote; retries briefly because the holder writes it right after locking.
fn read_holder_pid(file: &mut File) -> Option<u32> {
    for _ in 0..50 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok()
            && file.read_to_string(&mut text).is_ok()
            && let Ok(pid) = text.trim().parse()
        {
            return Some(pid);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    None
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        // Empty the pid so a reader never names a process that no longer holds the lock.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let held = StoreLock::acquire(&db).unwrap();
        assert_eq!(held.path(), dir.path().join("store.db.lock"));
        match StoreLock::acquire(&db) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        StoreLock::acquire(&db).expect("free again after drop");
    }
}
