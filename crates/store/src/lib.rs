//! The SQLite store: opening with forward migrations and WAL, read-only access and transactions;
//! the first-import build (`build`), the writes (`write`), the sources manifest (`manifest`), the
//! schema and migrations, and the read-side views.

mod backup;
mod build;
mod converge;
pub mod cost;
pub mod forget;
#[macro_use]
pub mod frame;
pub mod compact;
mod keys;
mod lock;
pub mod manifest;
pub mod private;
pub mod schema;
pub mod search;
pub mod views;
mod write;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

pub use backup::{BackupError, backup_path, copy_store};
pub use build::building_path;
use build::{DeferredObject, Flusher};
pub use converge::Convergence;
use keys::BuildKeys;
pub use lock::{LockError, StoreLock, lock_path};

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "store {path} has schema version {found}, newer than this hindcast supports ({supported}); upgrade hindcast — the store is left untouched"
    )]
    NewerSchema { path: PathBuf, found: u32, supported: u32 },
    #[error(
        "cannot upgrade the store {path} to schema version {to}: {source}; it is left at schema version {at}, as it was{hint}"
    )]
    Upgrade {
        path: PathBuf,
        at: u32,
        to: u32,
        #[source]
        source: rusqlite::Error,
        /// Said only when the disk is the cause.
        hint: &'static str,
    },
    #[error(
        "cannot read the store {path}: it has a write-ahead log ({log}) and its directory {directory} is not writable for you, so SQLite cannot share that log; run `hindcast backfill` once as the store's owner (a writer folds the log into the store when it closes), then read it again"
    )]
    UnsharedLog { path: PathBuf, directory: PathBuf, log: PathBuf },
    #[error("cannot create the store file {path}: {source}")]
    CreateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Backup(Box<backup::BackupError>),
    #[error("store {path} has an unreadable schema version '{found}'")]
    BadSchemaVersion { path: PathBuf, found: String },
    #[error("no store at {path}; run `hindcast backfill` first")]
    Missing { path: PathBuf },
    #[error(
        "no store at {path} yet: a first import is building it in {building} and moves it into place when it finishes (if that import was killed, run `hindcast backfill` again)"
    )]
    StillBuilding { path: PathBuf, building: PathBuf },
    #[error(
        "the first import's store {building} could not be completed (its indexes and daily rollups): {source}; it was discarded and no store was created at {path}"
    )]
    CompleteBuild {
        path: PathBuf,
        building: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot move the newly built store {building} into place at {path}: {source}")]
    MoveIntoPlace {
        path: PathBuf,
        building: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a hindcast store ({reason}); it is left untouched — move it away or choose another --db")]
    NotAStore { path: PathBuf, reason: &'static str },
    #[error(
        "the store {path} is missing but its write-ahead log {wal} remains (it may hold the last committed imports); restore the store file, or delete {wal} and the -shm file beside it to start a fresh store"
    )]
    OrphanedWal { path: PathBuf, wal: PathBuf },
    #[error("cannot remove {path}, an empty write-ahead log left beside a deleted store: {source}")]
    RemoveLeftover {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Options for opening a writable store.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreOptions {
    /// Caps the database size in pages (`PRAGMA max_page_count`), to simulate a full disk.
    pub max_page_count: Option<u64>,
    /// Told what the store does that a person should know of before it happens (the backup
    /// before an upgrade); `None` keeps it quiet.
    pub notify: Option<fn(&str)>,
}

/// A writable store. Exactly one exists per run, owned by the writer thread.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// Where the store lives (and the path errors name, even while it is being built).
    path: PathBuf,
    options: StoreOptions,
    /// While a first import builds the store: the file it is built in (see `open_for_import`).
    building: Option<PathBuf>,
    /// While building: the thread flushing the file to disk as it grows.
    flusher: Option<Flusher>,
    /// While building: the schema objects left out until the rows are written.
    deferred: Vec<DeferredObject>,
    /// While building without the unique keys of the keyed tables: the keys written so far.
    keys: Option<BuildKeys>,
    /// The integer handles rows refer to (sessions, origins, runs, frame contexts).
    handles: write::Handles,
}

/// The page size of a new store: SQLite's 4 KiB. Schema 7 stores got 16 KiB pages (half the
/// page writes while random hex keys filled their indexes); the compact store's keys are short
/// and the end of a large part's overflow chain wastes up to a page, so 4 KiB pages make the
/// store a tenth smaller at no cost in import time (docs/performance.md).
const PAGE_SIZE: i64 = 4_096;

/// What `migrate` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Migrated {
    /// Nothing, or migrations that left no table's pages behind.
    InPlace,
    /// A migration rebuilt tables of a store that had rows: their old pages are free.
    LeftPagesFree,
}

/// `<file>-compacting`: where a migrated store is copied without its free pages.
fn compacting_path(file: &Path) -> PathBuf {
    private::sidecar(file, "-compacting")
}

/// Renames the compacted `copy` over the closed store at `file` (whose write-ahead log the close
/// emptied into it) and syncs the directory.
fn move_into_place(copy: &Path, file: &Path) -> std::io::Result<()> {
    std::fs::rename(copy, file)?;
    if let Some(parent) = file.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// How a connection journals its writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Journal {
    /// The store's own mode: write-ahead log, synced at checkpoints.
    Wal,
    /// A store being built that nobody else can see: a rollback journal beside it (so a failed
    /// batch still rolls back; in a file rather than in memory, where it held a copy of every index
    /// page a batch touched), no syncs until the file is moved into place.
    Building,
}

impl Store {
    /// Opens (creating if needed) the store at `path`, applies pending migrations and enables WAL.
    /// Refuses a store written by a newer hindcast.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        prepare_location(path)?;
        Self::connect(path, path, options, Journal::Wal)
    }

    /// Opens `file` for writing the store at `path` (they differ while a first import builds it).
    fn connect(file: &Path, path: &Path, options: StoreOptions, journal: Journal) -> Result<Self, StoreError> {
        let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
        // A copy a killed upgrade left (the store itself is whole: see `compact_copy`).
        let _ = std::fs::remove_file(compacting_path(file));
        private::create_file_if_missing(file)
            .map_err(|source| StoreError::CreateFile { path: file.to_path_buf(), source })?;
        let conn = Connection::open(file).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite)?;
        // Nothing is written (not even the journal mode) before the file is known to be a
        // hindcast store of a version this hindcast supports, or empty.
        let version = read_schema_version(&conn, path)?;
        if version > schema::LATEST_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: schema::LATEST_VERSION,
            });
        }
        if version == 0 {
            // Before the first table: a new store's page size (existing stores keep theirs).
            conn.pragma_update(None, "page_size", PAGE_SIZE).map_err(sqlite)?;
        } else if schema::MIGRATIONS[version as usize..].iter().any(schema::Migration::backs_up) {
            backup::before_upgrade(&conn, path, version, options.notify)?;
        }
        let (journal_mode, synchronous) = match journal {
            Journal::Wal => ("WAL", "NORMAL"),
            Journal::Building => ("TRUNCATE", "OFF"),
        };
        conn.pragma_update(None, "journal_mode", journal_mode).map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", synchronous).map_err(sqlite)?;
        // A first import writes every row together with what it refers to, in order; checking each
        // reference costs a lookup per row and column (a tenth of the writer's time), so only
        // later writes into an existing store check them.
        let foreign_keys = if journal == Journal::Building { "OFF" } else { "ON" };
        conn.pragma_update(None, "foreign_keys", foreign_keys).map_err(sqlite)?;
        // The writer's page cache (16 MiB: a larger one bought no speed in `cargo xtask bench` and
        // cost its size in peak memory), and the WAL is checkpointed every 64 MiB instead of every
        // 4 MiB (fewer, larger copies into the store).
        conn.pragma_update(None, "cache_size", -16_384).map_err(sqlite)?;
        conn.pragma_update(None, "wal_autocheckpoint", 16_384).map_err(sqlite)?;
        if let Some(pages) = options.max_page_count {
            conn.pragma_update(None, "max_page_count", pages).map_err(sqlite)?;
        }
        conn.set_prepared_statement_cache_capacity(32);
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            options,
            building: None,
            flusher: None,
            deferred: Vec::new(),
            keys: None,
            handles: write::Handles::default(),
        };
        if store.migrate()? == Migrated::LeftPagesFree
            && let Some(copy) = store.compact_copy(file)
        {
            // Closed first: the copy takes the store's place, and the store is opened afresh.
            drop(store);
            hindcast_core::failpoint::hit(hindcast_core::failpoint::UPGRADE_COMPACTED);
            if move_into_place(&copy, file).is_err() {
                let _ = std::fs::remove_file(&copy);
            }
            return Self::connect(file, path, options, journal);
        }
        // Costs follow this build's price table: a store priced with another (or before costs
        // existed) is priced again, once.
        cost::reprice(&mut store.conn).map_err(|source| store.sqlite_error(source))?;
        Ok(store)
    }

    /// Whether the store at `path` can be written as it is: it exists, is at this build's schema,
    /// has no rows waiting to be brought to this release's rules, and is priced with this build's
    /// price table. A caller that must not wait (the status line) writes only into such a store
    /// and leaves the upgrade to the next `backfill`.
    pub fn is_current(path: &Path) -> bool {
        let Ok(conn) = Self::open_read_only(path) else { return false };
        let meta = |key: &str| -> Option<String> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).ok()
        };
        meta("schema_version").as_deref() == Some(schema::LATEST_VERSION.to_string().as_str())
            && meta(converge::PENDING_KEY).is_none()
            && meta("price_table").as_deref() == Some(hindcast_pricing::PRICE_TABLE)
    }

    /// Records a run that many short imports share (the status line's), once.
    pub fn record_shared_run(&mut self, run_id: &str, started_at: &str, providers: &[&str]) -> Result<(), StoreError> {
        let providers = serde_json::to_string(providers).expect("a list of strings serializes");
        self.conn
            .execute(
                "INSERT INTO run (run_id, started_at, status, providers) VALUES (?1, ?2, 'shared', ?3) \
                 ON CONFLICT DO NOTHING",
                params![run_id, started_at, providers],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
    }

    /// Opens an existing store for reading only; never creates or migrates it.
    pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
        if !path.is_file() {
            let building = building_path(path);
            if building.is_file() {
                return Err(StoreError::StillBuilding { path: path.to_path_buf(), building });
            }
            return Err(StoreError::Missing { path: path.to_path_buf() });
        }
        let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let directory_writable = rustix::fs::access(directory, rustix::fs::Access::WRITE_OK).is_ok();
        let log = sidecar_path(path, "-wal");
        // SQLite's readers create the -wal and -shm files of a WAL store. Where the directory is
        // not writable and no log exists, no writer can be active (a writer keeps its log while
        // open), so the file is read as immutable, without them.
        let immutable = !directory_writable && !log.exists();
        let uri = file_uri(path, immutable);
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite)?;
        conn.pragma_update(None, "query_only", true).map_err(sqlite)?;
        let version = read_schema_version(&conn, path).map_err(|error| match error {
            StoreError::Sqlite { source, .. }
                if !directory_writable && source.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) =>
            {
                StoreError::UnsharedLog { path: path.to_path_buf(), directory: directory.to_path_buf(), log }
            }
            other => other,
        })?;
        if version > schema::LATEST_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: schema::LATEST_VERSION,
            });
        }
        Ok(conn)
    }

    /// The store's file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in `meta`.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        read_schema_version(&self.conn, &self.path)
    }

    /// A value recorded in `meta` under `key`.
    pub fn meta_value(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0))
            .optional()
            .map_err(|source| self.sqlite_error(source))
    }

    /// Records `value` in `meta` under `key`.
    pub fn set_meta_value(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
    }

    /// The underlying connection, for queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn sqlite_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }

    fn migrate(&mut self) -> Result<Migrated, StoreError> {
        self.conn
            .execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT")
            .map_err(|source| self.sqlite_error(source))?;
        let current = self.schema_version()?;
        if current > schema::LATEST_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: current,
                supported: schema::LATEST_VERSION,
            });
        }
        let mut rebuilt_tables = false;
        for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
            rebuilt_tables |= migration.rewrites_tables() && current > 0;
            let version = index as u32 + 1;
            let tx =
                self.conn.transaction().map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })?;
            migration
                .rebuilt_tables
                .iter()
                .try_for_each(|table| schema::rebuild_table(&tx, table))
                .and_then(|()| tx.execute_batch(migration.sql))
                .and_then(|()| migration.convert.map_or(Ok(()), |convert| convert(&tx)))
                .and_then(|()| {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        params![version.to_string()],
                    )
                })
                .and_then(|_| tx.commit())
                .map_err(|source| match version - 1 {
                    // A new store: there is nothing to keep.
                    0 => StoreError::Sqlite { path: self.path.clone(), source },
                    at => StoreError::Upgrade {
                        path: self.path.clone(),
                        at,
                        to: version,
                        hint: if is_disk_full(&source) {
                            " (an upgrade that copies tables needs free disk space about the size of the store)"
                        } else {
                            ""
                        },
                        source,
                    },
                })?;
        }
        Ok(if rebuilt_tables { Migrated::LeftPagesFree } else { Migrated::InPlace })
    }

    /// After a migration that rebuilt tables (their old pages are left free, as many as the
    /// tables had): when the free pages are over a tenth of the store, or its pages are not the
    /// size a new store gets, the store is copied without them at today's page size (`VACUUM
    /// INTO`) to `<file>-compacting`, synced, and its path returned for the caller to move into
    /// place. Killed midway, the store is the migrated one and the copy is discarded on the next
    /// open; a store that cannot be copied (no room) stays as it is: later imports reuse its pages.
    fn compact_copy(&self, file: &Path) -> Option<PathBuf> {
        let pragma = |name: &str| self.conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0));
        let (free, pages, page_size) =
            (pragma("freelist_count").ok()?, pragma("page_count").ok()?, pragma("page_size").ok()?);
        if free * 10 <= pages && page_size == PAGE_SIZE {
            return None;
        }
        let copy = compacting_path(file);
        let copied = (|| -> Result<(), Box<dyn std::error::Error>> {
            // The conversion's write-ahead log (about the size of the new tables) is emptied into
            // the store and truncated first, so the copy does not need room beside it too.
            self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            private::create_file_if_missing(&copy)?;
            self.conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            self.conn.execute("VACUUM INTO ?1", [copy.to_str().ok_or("a store path that is not UTF-8")?])?;
            std::fs::File::open(&copy)?.sync_all()?;
            Ok(())
        })();
        if copied.is_err() {
            let _ = std::fs::remove_file(&copy);
            return None;
        }
        Some(copy)
    }

    /// Starts a write transaction (a batch). Idempotent.
    pub fn begin(&mut self) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            self.conn.execute_batch("BEGIN IMMEDIATE").map_err(|source| self.sqlite_error(source))?;
        }
        Ok(())
    }

    /// Commits the current batch, if any.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("COMMIT").map_err(|source| self.sqlite_error(source))?;
        }
        Ok(())
    }

    /// Abandons the current batch, if any (SQLite may already have rolled it back, e.g. on a full disk).
    pub fn rollback(&mut self) -> Result<(), StoreError> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").map_err(|source| self.sqlite_error(source))?;
        }
        self.handles.clear();
        if let Some(keys) = &mut self.keys {
            keys.forget_rolled_back(&self.conn)
                .map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })?;
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // An unfinished batch is abandoned, never half-committed.
        let _ = self.rollback();
        if let Some(flusher) = self.flusher.take() {
            flusher.stop();
        }
    }
}

/// The size of a write-ahead log's header; a longer log may hold committed frames.
const WAL_HEADER_BYTES: u64 = 32;

use private::sidecar as sidecar_path;

/// A `file:` URI naming `path` for SQLite (every byte but unreserved ones and `/` percent-encoded),
/// read as immutable when asked.
fn file_uri(path: &Path, immutable: bool) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    if immutable {
        uri.push_str("?immutable=1");
    }
    uri
}

/// Whether SQLite failed because the disk (or `max_page_count`) is full.
fn is_disk_full(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Creates the store's directory and refuses a store whose file is gone but whose write-ahead
/// log may still hold committed imports (an empty log is removed).
fn prepare_location(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        private::create_dir_all(parent)
            .map_err(|source| StoreError::CreateDir { path: parent.to_path_buf(), source })?;
    }
    let wal = sidecar_path(path, "-wal");
    if !path.exists()
        && let Ok(metadata) = std::fs::metadata(&wal)
    {
        // A log without frames (a reader leaves an empty one behind) holds nothing to lose.
        if metadata.len() > WAL_HEADER_BYTES {
            return Err(StoreError::OrphanedWal { path: path.to_path_buf(), wal });
        }
        for leftover in [wal.clone(), sidecar_path(path, "-shm")] {
            remove_if_present(&leftover)?;
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    std::fs::remove_file(path)
        .or_else(|error| if error.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(error) })
        .map_err(|source| StoreError::RemoveLeftover { path: path.to_path_buf(), source })
}

/// The schema version of a hindcast store (0 for an empty database). A file that is not an SQLite
/// database, or a database of another program (tables, but no hindcast `meta`), is `NotAStore`.
fn read_schema_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
    let tables = conn.query_row(
        "SELECT count(*), count(*) FILTER (WHERE name = 'meta') FROM sqlite_master WHERE type = 'table'",
        [],
        |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)? > 0)),
    );
    let (table_count, has_meta) = match tables {
        Ok(counts) => counts,
        Err(rusqlite::Error::SqliteFailure(error, _)) if error.code == rusqlite::ErrorCode::NotADatabase => {
            return Err(StoreError::NotAStore { path: path.to_path_buf(), reason: "not an SQLite database" });
        }
        Err(source) => return Err(sqlite(source)),
    };
    if table_count == 0 {
        return Ok(0);
    }
    let not_ours = StoreError::NotAStore { path: path.to_path_buf(), reason: "an SQLite database of another program" };
    if !has_meta {
        return Err(not_ours);
    }
    let value: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| row.get(0))
        .optional()
        .map_err(sqlite)?;
    match value {
        // Only the `meta` table: a first open that stopped before its first migration committed.
        None if table_count == 1 => Ok(0),
        None => Err(not_ours),
        Some(text) => {
            text.parse().map_err(|_| StoreError::BadSchemaVersion { path: path.to_path_buf(), found: text.clone() })
        }
    }
}

#[cfg(test)]
mod tests;
