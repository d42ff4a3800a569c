//! Private files and directories: everything hindcast writes is readable by its owner only
//! (files 0600, directories 0700) whatever the umask, and what an older release left readable by
//! others is tightened — never a directory the user chose.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of every file hindcast creates.
pub const FILE_MODE: u32 = 0o600;
/// The mode of every directory hindcast creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents with mode 0700; directories that exist are left as
/// they are (one of them may be `/tmp` or another directory the user chose).
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Options that create a file with mode 0600 (an existing file keeps its mode: see [`tighten`]).
pub fn open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates `path` empty with mode 0600 if nothing is there, so that SQLite (which gives the
/// `-wal`, `-shm` and journal files the mode of the database) keeps the whole store private.
pub fn create_file_if_missing(path: &Path) -> std::io::Result<()> {
    match open_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Writes `bytes` to `path` as a 0600 file, replacing what was there (a file that existed with a
/// wider mode is narrowed first, so its new contents are never readable by others).
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        tighten(path)?;
    }
    let mut file = open_options().write(true).create(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// A file or directory whose mode was narrowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tightened {
    pub path: PathBuf,
    pub from: u32,
    pub to: u32,
}

impl std::fmt::Display for Tightened {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "made {} private ({:04o} -> {:04o}): hindcast's files hold what was typed into your agents",
            self.path.display(),
            self.from,
            self.to
        )
    }
}

/// Narrows `path` to 0600 (a file) or 0700 (a directory) when its group or others have any
/// access; `None` when it is already private or does not exist. Symlinks are not followed (a
/// link's target may be anything).
pub fn tighten(path: &Path) -> std::io::Result<Option<Tightened>> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let from = metadata.permissions().mode() & 0o7777;
    let to = if metadata.is_dir() {
        from & !0o077 | DIR_MODE
    } else if metadata.is_file() {
        from & !0o077 | FILE_MODE
    } else {
        return Ok(None);
    };
    if from & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, Permissions::from_mode(to))?;
    Ok(Some(Tightened { path: path.to_path_buf(), from, to }))
}

/// `<path><suffix>`, e.g. the `-wal` file beside the store.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Tightens the store file and the files SQLite and hindcast keep beside it (write-ahead log,
/// shared memory, lock). Files another user owns cannot be changed and are left out.
pub fn tighten_store(db: &Path) -> Vec<Tightened> {
    let files = [db.to_path_buf(), sidecar(db, "-wal"), sidecar(db, "-shm"), crate::lock_path(db)];
    files.iter().filter_map(|file| tighten(file).ok().flatten()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_files_and_directories_are_private_whatever_the_umask_allowed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_dir_all(&dir).unwrap();
        assert_eq!((mode(&root.path().join("a")), mode(&dir)), (0o700, 0o700));
        let file = dir.join("f");
        create_file_if_missing(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        write_file(&dir.join("g"), b"x").unwrap();
        assert_eq!(mode(&dir.join("g")), 0o600);
    }

    #[test]
    fn existing_directories_are_left_and_wide_files_narrowed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), Permissions::from_mode(0o755)).unwrap();
        create_dir_all(root.path()).unwrap();
        assert_eq!(mode(root.path()), 0o755);
        let file = root.path().join("store.db");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        let tightened = tighten(&file).unwrap().unwrap();
        assert_eq!((tightened.from, tightened.to, mode(&file)), (0o644, 0o600, 0o600));
        assert_eq!(tighten(&file).unwrap(), None);
        write_file(&root.path().join("missing/x"), b"").unwrap_err();
        std::fs::set_permissions(&file, Permissions::from_mode(0o664)).unwrap();
        write_file(&file, b"secret").unwrap();
        assert_eq!(mode(&file), 0o600);
    }
}
