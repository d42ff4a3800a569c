//! The SQLite store: opening with migrations and WAL, a first import built beside the store and
//! moved into place, batched idempotent writes, read-only access.

mod keys;
mod lock;
pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use keys::BuildKeys;
pub use lock::{LockError, StoreLock, lock_path};

use crate::manifest::{Checkpoint, ManifestEntry};
use crate::materialize::{
    ImportNoteRow, MessageRow, PartRow, ProjectRow, RowBatch, SessionRefRow, SessionRow, UsageRow,
};

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
        "cannot upgrade the store {path} to schema version {to}: {source}; it is left at schema version {at}, as it was (an upgrade that copies tables needs free disk space about the size of the store)"
    )]
    Upgrade {
        path: PathBuf,
        at: u32,
        to: u32,
        #[source]
        source: rusqlite::Error,
    },
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
}

/// Rows written, updated (merged into an existing row) and skipped (already present) for one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableCounts {
    pub written: u64,
    pub updated: u64,
    pub skipped: u64,
}

impl TableCounts {
    fn add(&mut self, other: TableCounts) {
        self.written += other.written;
        self.updated += other.updated;
        self.skipped += other.skipped;
    }
}

/// Per-table write counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WriteCounts {
    pub sessions: TableCounts,
    pub messages: TableCounts,
    pub parts: TableCounts,
    pub usage: TableCounts,
    pub projects: TableCounts,
    pub import_notes: TableCounts,
    pub session_refs: TableCounts,
}

impl WriteCounts {
    /// Adds another set of counts into this one.
    pub fn add(&mut self, other: &WriteCounts) {
        self.sessions.add(other.sessions);
        self.messages.add(other.messages);
        self.parts.add(other.parts);
        self.usage.add(other.usage);
        self.projects.add(other.projects);
        self.import_notes.add(other.import_notes);
        self.session_refs.add(other.session_refs);
    }

    /// The tables in a fixed order with their counts.
    pub fn tables(&self) -> [(&'static str, TableCounts); 7] {
        [
            ("sessions", self.sessions),
            ("messages", self.messages),
            ("parts", self.parts),
            ("usage", self.usage),
            ("projects", self.projects),
            ("import_notes", self.import_notes),
            ("session_refs", self.session_refs),
        ]
    }

    /// Rows inserted across tables.
    pub fn written(&self) -> u64 {
        self.tables().iter().map(|(_, counts)| counts.written).sum()
    }

    /// Rows merged into existing rows across tables.
    pub fn updated(&self) -> u64 {
        self.tables().iter().map(|(_, counts)| counts.updated).sum()
    }

    /// Rows already present and unchanged across tables.
    pub fn skipped(&self) -> u64 {
        self.tables().iter().map(|(_, counts)| counts.skipped).sum()
    }
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
}

/// A schema object a first import creates only after its rows are written
/// (see [`schema::DEFERRED_OBJECTS`]).
#[derive(Debug)]
struct DeferredObject {
    /// `index` or `trigger`.
    kind: String,
    name: String,
    /// The statement that creates it, as the migrations wrote it.
    sql: String,
}

/// Flushes a file being built to disk every half second on its own thread, so the writes reach
/// the disk while the import goes on and the sync before the store is moved into place is short.
#[derive(Debug)]
struct Flusher {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Flusher {
    /// Starts flushing `path`; `None` if it cannot be opened or no thread can be started (the
    /// final sync then writes everything).
    fn start(path: &Path) -> Option<Self> {
        let file = std::fs::File::open(path).ok()?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("hindcast-flush".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(std::time::Duration::from_millis(500))
                {
                    // A failed flush is not an error here: the final sync reports it.
                    let _ = file.sync_data();
                }
            })
            .ok()?;
        Some(Self { stop, thread })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// The page size of a new store. Larger pages than SQLite's 4 KiB mean fewer overflow pages per
/// part text and half the page writes of a first import (with 100,000-row transactions, a cold
/// import about a quarter faster at 1 GB; 32 and 64 KiB were slower again, see
/// docs/performance.md).
const PAGE_SIZE: i64 = 16_384;

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

const INSERT_SESSION: &str = "INSERT INTO sessions (session_id, client, native_id, title, cwd, git_branch, git_commit, \
    git_origin_url, git_dirty, client_version, entrypoint, models, permission_mode, sandbox_mode, approval_mode, \
    started_at, ended_at, parent_session_id, relationship, parent_tool_call_id, metadata, provider, \
    source_path_sha256, first_run_id, project_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
    ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) ON CONFLICT DO NOTHING";

/// Merges a re-imported session into the stored one: known values fill gaps or replace, the time span
/// widens, metadata is replaced by the fresh parse (unless empty). The WHERE clause makes an unchanged re-import a no-op (0 rows).
const MERGE_SESSION: &str = "UPDATE sessions SET \
    title = coalesce(?4, title), cwd = coalesce(?5, cwd), git_branch = coalesce(?6, git_branch), \
    git_commit = coalesce(?7, git_commit), git_origin_url = coalesce(?8, git_origin_url), \
    git_dirty = coalesce(?9, git_dirty), client_version = coalesce(?10, client_version), \
    entrypoint = coalesce(?11, entrypoint), models = CASE WHEN ?12 = '[]' THEN models ELSE ?12 END, \
    permission_mode = coalesce(?13, permission_mode), sandbox_mode = coalesce(?14, sandbox_mode), \
    approval_mode = coalesce(?15, approval_mode), \
    started_at = CASE WHEN started_at IS NULL OR ?16 < started_at THEN coalesce(?16, started_at) ELSE started_at END, \
    ended_at = CASE WHEN ended_at IS NULL OR ?17 > ended_at THEN coalesce(?17, ended_at) ELSE ended_at END, \
    parent_session_id = coalesce(?18, parent_session_id), relationship = coalesce(?19, relationship), \
    parent_tool_call_id = coalesce(?20, parent_tool_call_id), \
    metadata = CASE WHEN ?21 = '{}' THEN metadata ELSE ?21 END \
    WHERE session_id = ?1 AND ( \
    title IS NOT coalesce(?4, title) OR cwd IS NOT coalesce(?5, cwd) OR git_branch IS NOT coalesce(?6, git_branch) \
    OR git_commit IS NOT coalesce(?7, git_commit) OR git_origin_url IS NOT coalesce(?8, git_origin_url) \
    OR git_dirty IS NOT coalesce(?9, git_dirty) OR client_version IS NOT coalesce(?10, client_version) \
    OR entrypoint IS NOT coalesce(?11, entrypoint) OR (?12 != '[]' AND models IS NOT ?12) \
    OR permission_mode IS NOT coalesce(?13, permission_mode) OR sandbox_mode IS NOT coalesce(?14, sandbox_mode) \
    OR approval_mode IS NOT coalesce(?15, approval_mode) \
    OR (?16 IS NOT NULL AND (started_at IS NULL OR ?16 < started_at)) \
    OR (?17 IS NOT NULL AND (ended_at IS NULL OR ?17 > ended_at)) \
    OR parent_session_id IS NOT coalesce(?18, parent_session_id) OR relationship IS NOT coalesce(?19, relationship) \
    OR parent_tool_call_id IS NOT coalesce(?20, parent_tool_call_id) OR (?21 != '{}' AND metadata IS NOT ?21))";

const INSERT_MESSAGE: &str = "INSERT INTO messages (message_id, session_id, parent_message_id, seq, role, timestamp, \
    model, is_sidechain, is_meta, is_injected, is_compact_summary, is_compact_boundary, is_api_error, \
    identity_source, raw_frame, provider, source_path_sha256, native_id, first_run_id, is_user_prompt, tool_calls, \
    is_subagent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
    ?21, ?22) ON CONFLICT DO NOTHING";

const INSERT_PART: &str = "INSERT INTO parts (part_id, message_id, part_index, kind, text, tool_name, tool_call_id, \
    tool_input, is_error, metadata, provider, source_path_sha256, native_id, first_run_id) VALUES (?1, ?2, ?3, ?4, \
    ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT DO NOTHING";

const INSERT_USAGE: &str = "INSERT INTO usage (usage_id, session_id, message_id, model, timestamp, input_tokens, \
    output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, provider, source_path_sha256, \
    native_id, first_run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
    ON CONFLICT DO NOTHING";

/// A response imported before all its copies were written (the client was still streaming it, or a
/// run read the file while it grew) takes the fuller frame and tool-call count when seen again;
/// neither ever shrinks (a truncated file read later cannot take information away).
/// `?1` picks the row: its key (`MERGE_MESSAGE`) or, while a first import builds the store
/// without its unique keys, its rowid (`MERGE_MESSAGE_AT_ROWID`).
macro_rules! merge_message {
    ($row:literal) => {
        concat!(
            "UPDATE messages SET raw_frame = ?2, tool_calls = max(tool_calls, ?3) WHERE ",
            $row,
            " AND tool_calls <= ?3 AND length(coalesce(raw_frame, '')) < length(coalesce(?2, ''))"
        )
    };
}
const MERGE_MESSAGE: &str = merge_message!("message_id = ?1");
const MERGE_MESSAGE_AT_ROWID: &str = merge_message!("rowid = ?1");

/// The copy of a billed response with the most output tokens is the final one (SPEC §6). `?1`
/// picks the row as in `merge_message!`.
macro_rules! merge_usage {
    ($row:literal) => {
        concat!(
            "UPDATE usage SET input_tokens = ?2, output_tokens = ?3, cache_read_tokens = ?4, \
             cache_creation_tokens = ?5, reasoning_tokens = ?6 WHERE ",
            $row,
            " AND output_tokens < ?3"
        )
    };
}
const MERGE_USAGE: &str = merge_usage!("usage_id = ?1");
const MERGE_USAGE_AT_ROWID: &str = merge_usage!("rowid = ?1");

const INSERT_PROJECT: &str = "INSERT INTO projects (project_id, client, native_id, path, display_name, session_prefix, \
    default_branch, registered_at, settings, provider, source_path_sha256, first_run_id) VALUES (?1, ?2, ?3, ?4, ?5, \
    ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT DO NOTHING";

/// A re-imported project takes the values the source holds now (settings may have changed).
const MERGE_PROJECT: &str = "UPDATE projects SET path = coalesce(?2, path), display_name = coalesce(?3, display_name), \
    session_prefix = coalesce(?4, session_prefix), default_branch = coalesce(?5, default_branch), \
    registered_at = coalesce(?6, registered_at), settings = ?7 WHERE project_id = ?1 AND ( \
    path IS NOT coalesce(?2, path) OR display_name IS NOT coalesce(?3, display_name) \
    OR session_prefix IS NOT coalesce(?4, session_prefix) OR default_branch IS NOT coalesce(?5, default_branch) \
    OR registered_at IS NOT coalesce(?6, registered_at) OR settings IS NOT ?7)";

const INSERT_NOTE: &str = "INSERT INTO import_notes (note_id, client, project_id, session_id, field, note, provider, \
    source_path_sha256, native_id, first_run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING";

const INSERT_SESSION_REF: &str = "INSERT INTO session_refs (ref_id, session_id, kind, target_client, target_native_id, \
    target_session_id, provider, source_path_sha256, native_id, first_run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
    ?9, ?10) ON CONFLICT DO NOTHING";

const UPSERT_SOURCE: &str = "INSERT INTO sources (provider, path_sha256, size, modified_ns, inode, bytes_consumed, \
    prefix_sha256, anchor_sha256, resume_state, parser, window_since, window_until, run_id) VALUES (?1, ?2, ?3, ?4, \
    ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (provider, path_sha256) DO UPDATE SET size = excluded.size, \
    modified_ns = excluded.modified_ns, inode = excluded.inode, bytes_consumed = excluded.bytes_consumed, \
    prefix_sha256 = excluded.prefix_sha256, anchor_sha256 = excluded.anchor_sha256, \
    resume_state = excluded.resume_state, parser = excluded.parser, window_since = excluded.window_since, \
    window_until = excluded.window_until, run_id = excluded.run_id";

impl Store {
    /// Opens (creating if needed) the store at `path`, applies pending migrations and enables WAL.
    /// Refuses a store written by a newer hindcast.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        prepare_location(path)?;
        Self::connect(path, path, options, Journal::Wal)
    }

    /// Opens the store for an import. When no store exists yet, the first import builds it in
    /// `<db>-building` beside it, with a rollback journal and no syncs (a cold import about a
    /// third faster than into a WAL store) and without its secondary indexes and rollup triggers;
    /// `finish_import` creates those, syncs the file, moves it into place and switches it to WAL.
    /// Readers see no store until then; a build left by a killed run (and its journal) is
    /// discarded here, so the next run starts the first import again. The caller holds the store
    /// lock.
    pub fn open_for_import(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        prepare_location(path)?;
        let building = building_path(path);
        remove_if_present(&rollback_journal_path(&building))?;
        remove_if_present(&building)?;
        if path.exists() {
            return Self::connect(path, path, options, Journal::Wal);
        }
        let mut store = Self::connect(&building, path, options, Journal::Building)?;
        store.defer_secondary_objects()?;
        store.keys = Some(BuildKeys::new());
        store.flusher = Flusher::start(&building);
        store.building = Some(building);
        Ok(store)
    }

    /// Drops the secondary indexes and rollup triggers from a store being built, remembering how to
    /// create them: rows go in faster without them, and `finish_import` creates them in one pass
    /// each (a sort per index, one aggregate per rollup) instead of row by row.
    fn defer_secondary_objects(&mut self) -> Result<(), StoreError> {
        let sqlite = |source| StoreError::Sqlite { path: self.path.clone(), source };
        let tx = self.conn.transaction().map_err(sqlite)?;
        let deferred = tx
            .prepare(schema::DEFERRED_OBJECTS)
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok(DeferredObject { kind: row.get(0)?, name: row.get(1)?, sql: row.get(2)? }))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(sqlite)?;
        for object in &deferred {
            tx.execute_batch(&format!("DROP {} \"{}\"", object.kind.to_uppercase(), object.name)).map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)?;
        self.deferred = deferred;
        Ok(())
    }

    /// Creates the unique keys `defer_secondary_objects` left out and commits them with the open
    /// transaction, leaving recognising rows already written to them from then on: when the build
    /// holds as many keys in memory as it may (`keys::KEY_LIMIT`).
    fn create_deferred_keys(&mut self) -> rusqlite::Result<()> {
        let is_key = |object: &DeferredObject| object.sql.starts_with("CREATE UNIQUE ");
        // They stay deferred (and their keys in memory) until committed: a failure rolls them
        // back with the batch.
        for object in self.deferred.iter().filter(|object| is_key(object)) {
            self.conn.execute_batch(&object.sql)?;
        }
        self.conn.execute_batch("COMMIT")?;
        self.deferred.retain(|object| !is_key(object));
        self.keys = None;
        Ok(())
    }

    /// Creates what `defer_secondary_objects` left out: the rollups from the rows, then the
    /// indexes and triggers, in one transaction.
    fn create_deferred_objects(&mut self) -> rusqlite::Result<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        tx.execute_batch(schema::REBUILD_ROLLUPS)?;
        for object in &self.deferred {
            tx.execute_batch(&object.sql)?;
        }
        tx.commit()?;
        self.deferred.clear();
        self.keys = None;
        Ok(())
    }

    /// Ends an import. A store built by `open_for_import` is committed, gets its secondary indexes
    /// and rollups, is synced to disk, moved into place and reopened as a WAL store; one that
    /// cannot get them (a full disk) is discarded, so no store appears. An existing store is left
    /// as it is.
    pub fn finish_import(&mut self) -> Result<(), StoreError> {
        let Some(building) = self.building.clone() else {
            return Ok(());
        };
        // The writer commits or rolls back its batches; whatever is still open here is not part of
        // one, and a store that cannot take it is still moved into place with its commits.
        self.commit().or_else(|_| self.rollback())?;
        let completed = self.create_deferred_objects();
        if let Some(flusher) = self.flusher.take() {
            flusher.stop();
        }
        let placeholder = Connection::open_in_memory().map_err(|source| self.sqlite_error(source))?;
        let built = std::mem::replace(&mut self.conn, placeholder);
        if let Err(source) = completed {
            // A store without its indexes and rollups never appears at the store's path.
            drop(built);
            self.building = None;
            self.deferred.clear();
            self.keys = None;
            let _ = std::fs::remove_file(&building);
            let _ = std::fs::remove_file(rollback_journal_path(&building));
            return Err(StoreError::CompleteBuild { path: self.path.clone(), building, source });
        }
        built.close().map_err(|(_, source)| self.sqlite_error(source))?;
        // Emptied at every commit; nothing in it once the store is closed.
        remove_if_present(&rollback_journal_path(&building))?;
        let move_error =
            |source| StoreError::MoveIntoPlace { path: self.path.clone(), building: building.clone(), source };
        std::fs::File::open(&building).and_then(|file| file.sync_all()).map_err(move_error)?;
        crate::failpoint::hit(crate::failpoint::BUILT_STORE_SYNCED);
        std::fs::rename(&building, &self.path).map_err(move_error)?;
        if let Some(parent) = self.path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::File::open(parent).and_then(|dir| dir.sync_all()).map_err(move_error)?;
        }
        self.building = None;
        let mut reopened = Self::connect(&self.path, &self.path, self.options, Journal::Wal)?;
        std::mem::swap(&mut self.conn, &mut reopened.conn);
        Ok(())
    }

    /// Whether this store is being built by a first import (not yet visible at its path).
    pub fn is_building(&self) -> bool {
        self.building.is_some()
    }

    /// Opens `file` for writing the store at `path` (they differ while a first import builds it).
    fn connect(file: &Path, path: &Path, options: StoreOptions, journal: Journal) -> Result<Self, StoreError> {
        let sqlite = |source| StoreError::Sqlite { path: path.to_path_buf(), source };
        let conn = Connection::open(file).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite)?;
        // Nothing is written before the file is known to be a hindcast store (or empty).
        if read_schema_version(&conn, path)? == 0 {
            // Before the first table: a new store's page size (existing stores keep theirs).
            conn.pragma_update(None, "page_size", PAGE_SIZE).map_err(sqlite)?;
        }
        let (journal_mode, synchronous) = match journal {
            Journal::Wal => ("WAL", "NORMAL"),
            Journal::Building => ("TRUNCATE", "OFF"),
        };
        conn.pragma_update(None, "journal_mode", journal_mode).map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", synchronous).map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
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
        };
        store.migrate()?;
        Ok(store)
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
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite)?;
        conn.pragma_update(None, "query_only", true).map_err(sqlite)?;
        let version = read_schema_version(&conn, path)?;
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

    /// The underlying connection, for queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn sqlite_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
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
            rebuilt_tables |= !migration.rebuilt_tables.is_empty();
            let version = index as u32 + 1;
            let tx =
                self.conn.transaction().map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })?;
            migration
                .rebuilt_tables
                .iter()
                .try_for_each(|table| schema::rebuild_table(&tx, table))
                .and_then(|()| tx.execute_batch(migration.sql))
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
                    at => StoreError::Upgrade { path: self.path.clone(), at, to: version, source },
                })?;
        }
        if rebuilt_tables {
            self.reclaim_free_pages();
        }
        Ok(())
    }

    /// A table rebuilt by a migration leaves its old pages free (as many as the table had); when
    /// they are over a tenth of the store, the store is rewritten without them. A store that
    /// cannot be rewritten (no room for the copy) stays as it is: later imports reuse the pages.
    fn reclaim_free_pages(&self) {
        let pragma = |name: &str| self.conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0));
        if let (Ok(free), Ok(pages)) = (pragma("freelist_count"), pragma("page_count"))
            && free * 10 > pages
        {
            let _ = self.conn.execute_batch("VACUUM");
        }
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
        if let Some(keys) = &mut self.keys {
            keys.forget_rolled_back(&self.conn)
                .map_err(|source| StoreError::Sqlite { path: self.path.clone(), source })?;
        }
        Ok(())
    }

    /// Writes a batch of rows inside the current transaction (starting one if needed) and returns
    /// exact per-table counts. Existing rows are skipped (sessions and usage may be merged).
    pub fn write_rows(&mut self, batch: &RowBatch) -> Result<WriteCounts, StoreError> {
        self.begin()?;
        let mut counts = WriteCounts::default();
        let result = (|| -> rusqlite::Result<()> {
            for row in &batch.sessions {
                count(&mut counts.sessions, self.write_session(row)?);
            }
            for row in &batch.messages {
                count(&mut counts.messages, self.write_message(row)?);
            }
            for row in &batch.parts {
                count(&mut counts.parts, self.write_part(row)?);
            }
            for row in &batch.usage {
                count(&mut counts.usage, self.write_usage(row)?);
            }
            for row in &batch.projects {
                count(&mut counts.projects, self.write_project(row)?);
            }
            for row in &batch.import_notes {
                count(&mut counts.import_notes, self.write_note(row)?);
            }
            for row in &batch.session_refs {
                count(&mut counts.session_refs, self.write_session_ref(row)?);
            }
            if self.keys.as_ref().is_some_and(BuildKeys::is_full) {
                self.create_deferred_keys()?;
            }
            Ok(())
        })();
        result.map_err(|source| self.sqlite_error(source))?;
        Ok(counts)
    }

    /// The sources manifest of `provider`, keyed by `path_sha256`.
    pub fn load_manifest(&self, provider: &str) -> Result<HashMap<String, ManifestEntry>, StoreError> {
        let read = || -> rusqlite::Result<HashMap<String, ManifestEntry>> {
            let mut statement = self.conn.prepare(
                "SELECT path_sha256, size, modified_ns, inode, bytes_consumed, prefix_sha256, anchor_sha256, \
                 resume_state, parser, window_since, window_until FROM sources WHERE provider = ?1",
            )?;
            let rows = statement.query_map([provider], |row| {
                let state: Option<String> = row.get(7)?;
                let prefix: Option<String> = row.get(5)?;
                let anchor: Option<String> = row.get(6)?;
                let checkpoint = match (state.and_then(|text| serde_json::from_str(&text).ok()), prefix, anchor) {
                    (Some(state), Some(prefix_sha256), Some(anchor_sha256)) => {
                        Some(Checkpoint { offset: row.get(4)?, prefix_sha256, anchor_sha256, state })
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
            })?;
            rows.map(|entry| entry.map(|entry| (entry.path_sha256.clone(), entry))).collect()
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
                    crate::failpoint::hit(crate::failpoint::MANIFEST_HALF_WRITTEN);
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
                    checkpoint.map(|checkpoint| checkpoint.state.to_string()),
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

    fn write_session(&self, row: &SessionRow) -> rusqlite::Result<Outcome> {
        let values = params![
            row.session_id,
            row.client,
            row.native_id,
            row.title,
            row.cwd,
            row.git_branch,
            row.git_commit,
            row.git_origin_url,
            row.git_dirty,
            row.client_version,
            row.entrypoint,
            row.models,
            row.permission_mode,
            row.sandbox_mode,
            row.approval_mode,
            row.started_at,
            row.ended_at,
            row.parent_session_id,
            row.relationship,
            row.parent_tool_call_id,
            row.metadata,
            row.provenance.provider,
            row.provenance.source_path_sha256,
            row.provenance.run_id,
            row.project_key,
        ];
        if self.conn.prepare_cached(INSERT_SESSION)?.execute(values)? == 1 {
            return Ok(Outcome::Written);
        }
        let merged = self.conn.prepare_cached(MERGE_SESSION)?.execute(&values[..21])?;
        Ok(if merged == 1 { Outcome::Updated } else { Outcome::Skipped })
    }

    fn write_message(&mut self, row: &MessageRow) -> rusqlite::Result<Outcome> {
        let merge = |statement: &str, target: &dyn rusqlite::ToSql| -> rusqlite::Result<Outcome> {
            let merged =
                self.conn.prepare_cached(statement)?.execute(params![target, row.raw_frame, row.tool_calls])?;
            Ok(if merged == 1 { Outcome::Updated } else { Outcome::Skipped })
        };
        if let Some(keys) = &self.keys
            && let Some(rowid) = keys.messages.find(&self.conn, &row.message_id)?
        {
            return merge(MERGE_MESSAGE_AT_ROWID, &rowid);
        }
        let changed = self.conn.prepare_cached(INSERT_MESSAGE)?.execute(params![
            row.message_id,
            row.session_id,
            row.parent_message_id,
            row.seq,
            row.role,
            row.timestamp,
            row.model,
            row.is_sidechain,
            row.is_meta,
            row.is_injected,
            row.is_compact_summary,
            row.is_compact_boundary,
            row.is_api_error,
            row.identity_source,
            row.raw_frame,
            row.provenance.provider,
            row.provenance.source_path_sha256,
            row.provenance.native_id,
            row.provenance.run_id,
            row.is_user_prompt,
            row.tool_calls,
            row.is_subagent,
        ])?;
        if changed == 1 {
            if let Some(keys) = &mut self.keys {
                keys.messages.record(&row.message_id, self.conn.last_insert_rowid());
            }
            return Ok(Outcome::Written);
        }
        merge(MERGE_MESSAGE, &row.message_id)
    }

    fn write_part(&mut self, row: &PartRow) -> rusqlite::Result<Outcome> {
        if let Some(keys) = &self.keys
            && keys.parts.find(&self.conn, &row.part_id)?.is_some()
        {
            return Ok(Outcome::Skipped);
        }
        let changed = self.conn.prepare_cached(INSERT_PART)?.execute(params![
            row.part_id,
            row.message_id,
            row.part_index,
            row.kind,
            row.text,
            row.tool_name,
            row.tool_call_id,
            row.tool_input,
            row.is_error,
            row.metadata,
            row.provenance.provider,
            row.provenance.source_path_sha256,
            row.provenance.native_id,
            row.provenance.run_id,
        ])?;
        if changed == 1
            && let Some(keys) = &mut self.keys
        {
            keys.parts.record(&row.part_id, self.conn.last_insert_rowid());
        }
        Ok(Outcome::inserted(changed))
    }

    fn write_usage(&mut self, row: &UsageRow) -> rusqlite::Result<Outcome> {
        let merge = |statement: &str, target: &dyn rusqlite::ToSql| -> rusqlite::Result<Outcome> {
            let merged = self.conn.prepare_cached(statement)?.execute(params![
                target,
                row.input_tokens,
                row.output_tokens,
                row.cache_read_tokens,
                row.cache_creation_tokens,
                row.reasoning_tokens,
            ])?;
            Ok(if merged == 1 { Outcome::Updated } else { Outcome::Skipped })
        };
        if let Some(keys) = &self.keys
            && let Some(rowid) = keys.usage.find(&self.conn, &row.usage_id)?
        {
            return merge(MERGE_USAGE_AT_ROWID, &rowid);
        }
        let inserted = self.conn.prepare_cached(INSERT_USAGE)?.execute(params![
            row.usage_id,
            row.session_id,
            row.message_id,
            row.model,
            row.timestamp,
            row.input_tokens,
            row.output_tokens,
            row.cache_read_tokens,
            row.cache_creation_tokens,
            row.reasoning_tokens,
            row.provenance.provider,
            row.provenance.source_path_sha256,
            row.provenance.native_id,
            row.provenance.run_id,
        ])?;
        if inserted == 1 {
            if let Some(keys) = &mut self.keys {
                keys.usage.record(&row.usage_id, self.conn.last_insert_rowid());
            }
            return Ok(Outcome::Written);
        }
        merge(MERGE_USAGE, &row.usage_id)
    }

    fn write_project(&self, row: &ProjectRow) -> rusqlite::Result<Outcome> {
        let changed = self.conn.prepare_cached(INSERT_PROJECT)?.execute(params![
            row.project_id,
            row.client,
            row.native_id,
            row.path,
            row.display_name,
            row.session_prefix,
            row.default_branch,
            row.registered_at,
            row.settings,
            row.provenance.provider,
            row.provenance.source_path_sha256,
            row.provenance.run_id,
        ])?;
        if changed == 1 {
            return Ok(Outcome::Written);
        }
        let merged = self.conn.prepare_cached(MERGE_PROJECT)?.execute(params![
            row.project_id,
            row.path,
            row.display_name,
            row.session_prefix,
            row.default_branch,
            row.registered_at,
            row.settings,
        ])?;
        Ok(if merged == 1 { Outcome::Updated } else { Outcome::Skipped })
    }

    fn write_note(&self, row: &ImportNoteRow) -> rusqlite::Result<Outcome> {
        let changed = self.conn.prepare_cached(INSERT_NOTE)?.execute(params![
            row.note_id,
            row.client,
            row.project_id,
            row.session_id,
            row.field,
            row.note,
            row.provenance.provider,
            row.provenance.source_path_sha256,
            row.provenance.native_id,
            row.provenance.run_id,
        ])?;
        Ok(Outcome::inserted(changed))
    }

    fn write_session_ref(&self, row: &SessionRefRow) -> rusqlite::Result<Outcome> {
        let changed = self.conn.prepare_cached(INSERT_SESSION_REF)?.execute(params![
            row.ref_id,
            row.session_id,
            row.kind,
            row.target_client,
            row.target_native_id,
            row.target_session_id,
            row.provenance.provider,
            row.provenance.source_path_sha256,
            row.provenance.native_id,
            row.provenance.run_id,
        ])?;
        Ok(Outcome::inserted(changed))
    }

    /// Records the start of a run.
    pub fn record_run_start(
        &mut self,
        run_id: &str,
        started_at: &str,
        providers: &[&str],
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<(), StoreError> {
        let providers = serde_json::to_string(providers).expect("a list of strings serializes");
        self.conn
            .execute(
                "INSERT INTO runs (run_id, started_at, status, providers, since, until) VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
                params![run_id, started_at, providers, since, until],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
    }

    /// Records how a run ended.
    pub fn record_run_finish(&mut self, run_id: &str, finished_at: &str, status: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2, status = ?3 WHERE run_id = ?1",
                params![run_id, finished_at, status],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Written,
    Updated,
    Skipped,
}

impl Outcome {
    fn inserted(changed: usize) -> Self {
        if changed == 1 { Outcome::Written } else { Outcome::Skipped }
    }
}

fn count(counts: &mut TableCounts, outcome: Outcome) {
    match outcome {
        Outcome::Written => counts.written += 1,
        Outcome::Updated => counts.updated += 1,
        Outcome::Skipped => counts.skipped += 1,
    }
}

/// The size of a write-ahead log's header; a longer log may hold committed frames.
const WAL_HEADER_BYTES: u64 = 32;

/// `<db><suffix>`, e.g. the `-wal` file beside the store.
fn sidecar_path(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates the store's directory and refuses a store whose file is gone but whose write-ahead
/// log may still hold committed imports (an empty log is removed).
fn prepare_location(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
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

/// `<db>-building`: where a first import builds the store before moving it into place.
pub fn building_path(db: &Path) -> PathBuf {
    sidecar_path(db, "-building")
}

/// `<file>-journal`: SQLite's rollback journal of a database file.
fn rollback_journal_path(file: &Path) -> PathBuf {
    sidecar_path(file, "-journal")
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
