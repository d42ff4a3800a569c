//! The first import's build: the store is written in `<db>-building` beside its path, without
//! its secondary indexes, unique keys and rollup triggers, which are created after the rows; the
//! file is then synced and moved into place, so a store only ever appears whole.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::keys::BuildKeys;
use crate::{Journal, Store, StoreError, StoreOptions, prepare_location, remove_if_present, schema, sidecar_path};

/// A schema object a first import creates only after its rows are written
/// (see [`schema::DEFERRED_OBJECTS`]).
#[derive(Debug)]
pub(crate) struct DeferredObject {
    /// `index` or `trigger`.
    kind: String,
    name: String,
    /// The statement that creates it, as the migrations wrote it.
    sql: String,
}

/// Flushes a file being built to disk every half second on its own thread, so the writes reach
/// the disk while the import goes on and the sync before the store is moved into place is short.
#[derive(Debug)]
pub(crate) struct Flusher {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Flusher {
    /// Starts flushing `path`; `None` if it cannot be opened or no thread can be started (the
    /// final sync then writes everything).
    pub(crate) fn start(path: &Path) -> Option<Self> {
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

    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

impl Store {
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
    pub(crate) fn create_deferred_keys(&mut self) -> rusqlite::Result<()> {
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
        // The writer indexed the parts as it wrote them.
        tx.execute_batch(crate::search::OPTIMIZE)?;
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
        hindcast_core::failpoint::hit(hindcast_core::failpoint::BUILT_STORE_SYNCED);
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
}

/// `<db>-building`: where a first import builds the store before moving it into place.
pub fn building_path(db: &Path) -> PathBuf {
    sidecar_path(db, "-building")
}

/// `<file>-journal`: SQLite's rollback journal of a database file.
pub(crate) fn rollback_journal_path(file: &Path) -> PathBuf {
    sidecar_path(file, "-journal")
}
