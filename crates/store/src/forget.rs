//! Forgetting sessions: a session, its sub-agents and everything stored of them (messages, parts,
//! usage, rate limits, notes, references, rollups) removed with their bytes overwritten, and a
//! tombstone kept so that later imports leave them out; undone by removing the tombstone and
//! letting the next import read their sources again.

use std::collections::HashSet;

use rusqlite::params;
use serde::Serialize;

use crate::{Store, StoreError, schema};

/// Schema 10's additions: the tombstones, and a pending convergence (prompts judged again).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE forgotten (
    session_key   BLOB PRIMARY KEY,
    client        TEXT NOT NULL,
    native_id     TEXT NOT NULL,
    cwd           TEXT,
    forgotten_at  TEXT NOT NULL,
    -- JSON array of [provider, path_sha256] of the sources its rows came from, read again on undo.
    sources       TEXT NOT NULL DEFAULT '[]'
) STRICT, WITHOUT ROWID;
INSERT INTO meta (key, value) SELECT 'converge', '10' WHERE EXISTS (SELECT 1 FROM session)
    ON CONFLICT (key) DO NOTHING;
"#;

/// A forgotten session, as its tombstone keeps it (no title, no text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tombstone {
    pub session_id: String,
    pub client: String,
    pub native_id: String,
    pub cwd: Option<String>,
    pub forgotten_at: String,
}

/// What forgetting removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// The sessions named and their sub-agents.
    pub sessions: u64,
    pub messages: u64,
    pub usage_records: u64,
}

impl Store {
    /// Removes the sessions `session_ids` (lowercase hex) and their sub-agent sessions, in one
    /// transaction with SQLite's secure delete, recomputes the rollups, leaves a tombstone for
    /// each, and rewrites the store (`VACUUM`) so that no byte of their text stays in its files.
    /// Ids not in the store are ignored.
    pub fn forget_sessions(&mut self, session_ids: &[String], at: &str) -> Result<Forgotten, StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        self.conn.pragma_update(None, "secure_delete", true).map_err(sqlite)?;
        let tx = self.conn.transaction().map_err(sqlite)?;
        let removed = forget_in(&tx, session_ids, at).and_then(|removed| tx.commit().map(|()| removed));
        let removed = removed.map_err(sqlite)?;
        // Secure delete zeroes what this transaction freed, but earlier writes (a row moved to
        // another page, a first import's index builds) leave stale copies in free space: the store
        // is rewritten, and the write-ahead log, which holds the old pages until a checkpoint, is
        // emptied.
        self.conn.execute_batch("VACUUM").map_err(sqlite)?;
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(sqlite)?;
        Ok(removed)
    }

    /// The tombstones, newest first.
    pub fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT lower(hex(session_key)), client, native_id, cwd, forgotten_at FROM forgotten \
                 ORDER BY forgotten_at DESC, native_id",
            )
            .map_err(|source| self.sqlite_error(source))?;
        statement
            .query_map([], |row| {
                Ok(Tombstone {
                    session_id: row.get(0)?,
                    client: row.get(1)?,
                    native_id: row.get(2)?,
                    cwd: row.get(3)?,
                    forgotten_at: row.get(4)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|source| self.sqlite_error(source))
    }

    /// The ids of the forgotten sessions, which an import leaves out.
    pub fn forgotten_session_ids(&self) -> Result<HashSet<String>, StoreError> {
        Ok(self.tombstones()?.into_iter().map(|tombstone| tombstone.session_id).collect())
    }

    /// Removes the tombstones of `session_ids` (all of them when `None`) and the manifest entries
    /// of their sources, so the next import reads those sources again and brings the sessions
    /// back (where the sources still exist). Returns the tombstones removed.
    pub fn unforget(&mut self, session_ids: Option<&[String]>) -> Result<Vec<Tombstone>, StoreError> {
        let chosen: Vec<Tombstone> = self
            .tombstones()?
            .into_iter()
            .filter(|tombstone| session_ids.is_none_or(|ids| ids.contains(&tombstone.session_id)))
            .collect();
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(sqlite)?;
        for tombstone in &chosen {
            tx.execute(
                "DELETE FROM sources WHERE (provider, path_sha256) IN \
                 (SELECT s.value ->> 0, s.value ->> 1 FROM forgotten f, json_each(f.sources) s \
                  WHERE f.session_key = unhex(?1))",
                [&tombstone.session_id],
            )
            .map_err(sqlite)?;
            tx.execute("DELETE FROM forgotten WHERE session_key = unhex(?1)", [&tombstone.session_id])
                .map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)?;
        Ok(chosen)
    }
}

fn forget_in(tx: &rusqlite::Transaction<'_>, session_ids: &[String], at: &str) -> rusqlite::Result<Forgotten> {
    tx.execute_batch("CREATE TEMP TABLE forget_named (session_key BLOB PRIMARY KEY) WITHOUT ROWID;")?;
    for id in session_ids {
        tx.execute("INSERT OR IGNORE INTO forget_named VALUES (unhex(?1))", [id])?;
    }
    tx.execute_batch(
        "CREATE TEMP TABLE forget_set AS
         WITH RECURSIVE chosen(session, session_key) AS (
             SELECT session, session_key FROM session WHERE session_key IN (SELECT session_key FROM forget_named)
             UNION
             SELECT s.session, s.session_key FROM session s JOIN chosen c ON s.parent_session_key = c.session_key)
         SELECT c.session, c.session_key, lower(hex(c.session_key)) AS session_id, s.project_key
         FROM chosen c JOIN session s ON s.session = c.session;",
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO forgotten (session_key, client, native_id, cwd, forgotten_at, sources)
         SELECT s.session_key, s.client, s.native_id, s.cwd, ?1,
             (SELECT json_group_array(json_array(provider, path_sha256)) FROM (
                 SELECT DISTINCT o.provider, o.path_sha256 FROM origin o
                 WHERE o.origin = s.origin
                    OR o.origin IN (SELECT origin FROM message WHERE session = s.session)
                    OR o.origin IN (SELECT origin FROM token_usage WHERE session = s.session)))
         FROM session s WHERE s.session IN (SELECT session FROM forget_set)",
        params![at],
    )?;
    let mut removed = Forgotten::default();
    tx.execute(
        "DELETE FROM part WHERE message IN (SELECT message FROM message WHERE session IN (SELECT session FROM forget_set))",
        [],
    )?;
    removed.usage_records =
        tx.execute("DELETE FROM token_usage WHERE session IN (SELECT session FROM forget_set)", [])? as u64;
    removed.messages = tx.execute("DELETE FROM message WHERE session IN (SELECT session FROM forget_set)", [])? as u64;
    tx.execute_batch(
        "DELETE FROM rate_limit WHERE session IN (SELECT session FROM forget_set);
         DELETE FROM session_rollup WHERE session IN (SELECT session FROM forget_set);
         DELETE FROM import_notes WHERE session_id IN (SELECT session_id FROM forget_set);
         DELETE FROM session_refs WHERE session_id IN (SELECT session_id FROM forget_set);",
    )?;
    removed.sessions = tx.execute("DELETE FROM session WHERE session IN (SELECT session FROM forget_set)", [])? as u64;
    // Their projects, unless a session that stays belongs to one (an import of only the sessions
    // that stay writes no other).
    tx.execute_batch(
        "DELETE FROM projects WHERE project_id IN (SELECT project_key FROM forget_set)
           AND project_id NOT IN (SELECT project_key FROM session WHERE project_key IS NOT NULL);",
    )?;
    // Session-level frame fields (directory, branch, version) that only these sessions used.
    tx.execute_batch(
        "DELETE FROM frame_context WHERE context NOT IN
             (SELECT frame_context FROM message WHERE frame_context IS NOT NULL);",
    )?;
    tx.execute_batch(schema::REBUILD_ROLLUPS)?;
    tx.execute_batch("DROP TABLE temp.forget_named; DROP TABLE temp.forget_set;")?;
    Ok(removed)
}
