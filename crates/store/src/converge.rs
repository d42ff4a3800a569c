//! Bringing a store written under earlier parsing rules to what a clean import holds: rows those
//! rules produced that today's do not are removed, misattributed rows moved, from the stored rows
//! alone (the sources may be gone), and every source is read again on the next import. The rules
//! come from the providers (`Provider::is_record_frame`, `Provider::response_key`); the store
//! applies them once, after the migration that asks for it, in one transaction.

use std::sync::Arc;

use hindcast_core::provider::Provider;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use crate::{Store, StoreError, schema};

/// The `meta` key a migration sets when the stored rows must be brought to today's rules.
pub(crate) const PENDING_KEY: &str = "converge";

/// What converging changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Convergence {
    pub messages_removed: u64,
    pub sessions_removed: u64,
    pub usage_moved: u64,
}

impl std::fmt::Display for Convergence {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "brought the store to this release's import rules: removed {} messages that were not transcript records and {} sessions without records, moved {} usage records to their messages; every source is read again",
            self.messages_removed, self.sessions_removed, self.usage_moved
        )
    }
}

impl Store {
    /// Whether the stored rows still wait for [`Store::converge`].
    pub fn convergence_pending(&self) -> Result<bool, StoreError> {
        let pending: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [PENDING_KEY], |row| row.get(0))
            .optional()
            .map_err(|source| self.sqlite_error(source))?;
        Ok(pending.is_some())
    }

    /// Applies the rules of `providers` (every compiled-in provider, so rows of one not selected for
    /// this run are judged too) to the stored rows when a migration asked for it (else does nothing and
    /// returns `None`): messages that are not records are removed with their parts and usage;
    /// sessions left without a message or usage record that lost messages so, came from a 0-byte
    /// file, or hold nothing at all for a provider that writes no such session, are removed with
    /// their references and notes; usage stored without its
    /// message moves to the one message holding its response; the sources manifest is emptied,
    /// so the next import reads every source again; the daily rollups are recomputed. One
    /// transaction: killed midway, the next run does it all again.
    pub fn converge(&mut self, providers: &[Arc<dyn Provider>]) -> Result<Option<Convergence>, StoreError> {
        if !self.convergence_pending()? {
            return Ok(None);
        }
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        let changed = apply(&tx, providers).and_then(|changed| tx.commit().map(|()| changed));
        changed.map(Some).map_err(|source| StoreError::Sqlite { path, source })
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, providers: &[Arc<dyn Provider>]) -> rusqlite::Result<Convergence> {
    tx.execute_batch("CREATE TEMP TABLE converge_stale (message_id TEXT PRIMARY KEY) WITHOUT ROWID;")?;
    for provider in providers {
        let mut statement = tx.prepare(
            "SELECT message_id, raw_frame FROM messages \
             WHERE provider = ?1 AND role = 'other' AND identity_source = 'fallback'",
        )?;
        let mut stale: Vec<String> = Vec::new();
        let mut rows = statement.query([provider.name()])?;
        while let Some(row) = rows.next()? {
            let frame: Option<String> = row.get(1)?;
            let frame = frame.and_then(|text| serde_json::from_str::<Value>(&text).ok()).unwrap_or(Value::Null);
            if !provider.is_record_frame(&frame) {
                stale.push(row.get(0)?);
            }
        }
        for message in stale {
            tx.execute("INSERT OR IGNORE INTO converge_stale VALUES (?1)", [message])?;
        }
    }
    // The sessions that lose messages, and the span of what they lose.
    tx.execute_batch(
        "CREATE TEMP TABLE converge_touched AS
         SELECT session_id, min(timestamp) AS first, max(timestamp) AS last FROM messages
         WHERE message_id IN (SELECT message_id FROM converge_stale) GROUP BY session_id;",
    )?;
    let relinked = surviving_parents(tx)?;
    let mut changed = Convergence::default();
    tx.execute("DELETE FROM parts WHERE message_id IN (SELECT message_id FROM converge_stale)", [])?;
    tx.execute("DELETE FROM usage WHERE message_id IN (SELECT message_id FROM converge_stale)", [])?;
    changed.messages_removed =
        tx.execute("DELETE FROM messages WHERE message_id IN (SELECT message_id FROM converge_stale)", [])? as u64;
    for (message, parent) in relinked {
        tx.execute("UPDATE messages SET parent_message_id = ?2 WHERE message_id = ?1", params![message, parent])?;
    }
    // Positions close up over what was removed, as a clean import numbers the messages it emits.
    tx.execute_batch(
        "UPDATE messages SET seq = renumbered.seq FROM (
             SELECT message_id, row_number() OVER (PARTITION BY session_id ORDER BY seq) - 1 AS seq FROM messages
             WHERE session_id IN (SELECT session_id FROM converge_touched)) AS renumbered
         WHERE messages.message_id = renumbered.message_id AND messages.seq <> renumbered.seq;",
    )?;
    changed.usage_moved = move_usage_to_messages(tx, providers)?;
    // A session whose first or last time came from a message it lost spans what it keeps (the
    // next read of a source that still exists widens it to every record's time again).
    tx.execute_batch(
        "UPDATE sessions SET
           started_at = CASE WHEN t.first <= sessions.started_at THEN coalesce(
               (SELECT min(at) FROM (SELECT timestamp AS at FROM messages WHERE session_id = sessions.session_id
                                     UNION ALL SELECT timestamp FROM usage WHERE session_id = sessions.session_id)),
               sessions.started_at) ELSE sessions.started_at END,
           ended_at = CASE WHEN t.last >= sessions.ended_at THEN coalesce(
               (SELECT max(at) FROM (SELECT timestamp AS at FROM messages WHERE session_id = sessions.session_id
                                     UNION ALL SELECT timestamp FROM usage WHERE session_id = sessions.session_id)),
               sessions.ended_at) ELSE sessions.ended_at END
         FROM converge_touched t WHERE t.session_id = sessions.session_id;",
    )?;
    tx.execute_batch("CREATE TEMP TABLE converge_no_empty_sessions (provider TEXT PRIMARY KEY) WITHOUT ROWID;")?;
    for provider in providers.iter().filter(|provider| !provider.writes_empty_sessions()) {
        tx.execute("INSERT OR IGNORE INTO converge_no_empty_sessions VALUES (?1)", [provider.name()])?;
    }
    tx.execute_batch(
        "CREATE TEMP TABLE converge_empty AS
         SELECT s.session_id FROM sessions s
         WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.session_id)
           AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.session_id = s.session_id)
           AND NOT EXISTS (SELECT 1 FROM sessions c WHERE c.parent_session_id = s.session_id)
           AND (s.session_id IN (SELECT session_id FROM converge_touched)
                OR EXISTS (SELECT 1 FROM sources f WHERE f.provider = s.provider
                           AND f.path_sha256 = s.source_path_sha256 AND f.size = 0)
                OR (s.provider IN (SELECT provider FROM converge_no_empty_sessions)
                    AND s.started_at IS NULL AND s.ended_at IS NULL AND s.cwd IS NULL AND s.title IS NULL
                    AND s.parent_session_id IS NULL));
         DELETE FROM session_refs WHERE session_id IN (SELECT session_id FROM converge_empty);
         DELETE FROM import_notes WHERE session_id IN (SELECT session_id FROM converge_empty);",
    )?;
    changed.sessions_removed =
        tx.execute("DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM converge_empty)", [])? as u64;
    tx.execute_batch(schema::REBUILD_ROLLUPS)?;
    tx.execute_batch(
        "DELETE FROM sources;
         DROP TABLE temp.converge_stale; DROP TABLE temp.converge_touched; DROP TABLE temp.converge_empty;
         DROP TABLE temp.converge_no_empty_sessions;",
    )?;
    tx.execute("DELETE FROM meta WHERE key = ?1", params![PENDING_KEY])?;
    Ok(changed)
}

/// For each message that keeps a parent about to be removed, its nearest ancestor that stays
/// (or none): a message links to the one before it that a clean import emits.
fn surviving_parents(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<Vec<(String, Option<String>)>> {
    let removed: std::collections::HashMap<String, Option<String>> = tx
        .prepare(
            "SELECT message_id, parent_message_id FROM messages WHERE message_id IN (SELECT message_id FROM converge_stale)",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let orphaned: Vec<(String, String)> = tx
        .prepare(
            "SELECT message_id, parent_message_id FROM messages \
             WHERE parent_message_id IN (SELECT message_id FROM converge_stale) \
               AND message_id NOT IN (SELECT message_id FROM converge_stale)",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(orphaned
        .into_iter()
        .map(|(message, parent)| {
            let mut ancestor = Some(parent);
            // Bounded by the removed messages: a cycle among them cannot hold the walk.
            for _ in 0..=removed.len() {
                match ancestor.as_ref().and_then(|id| removed.get(id)) {
                    Some(next) => ancestor = next.clone(),
                    None => break,
                }
            }
            (message, ancestor)
        })
        .collect())
}

/// Usage stored without its message (an agent file that was a warmup when first read, and later
/// grew into a conversation) moves to the session and message holding its response, when exactly
/// one message holds it: the owner a clean import gives it.
fn move_usage_to_messages(tx: &rusqlite::Transaction<'_>, providers: &[Arc<dyn Provider>]) -> rusqlite::Result<u64> {
    let mut moved = 0;
    for provider in providers {
        let orphans: Vec<String> = tx
            .prepare(
                "SELECT native_id FROM usage WHERE provider = ?1 AND message_id IS NULL AND native_id IS NOT NULL",
            )?
            .query_map([provider.name()], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if orphans.is_empty() {
            continue;
        }
        let orphans: std::collections::HashSet<String> = orphans.into_iter().collect();
        let mut holders: std::collections::HashMap<String, Vec<(String, String)>> = Default::default();
        let mut statement = tx.prepare(
            "SELECT message_id, session_id, raw_frame FROM messages \
             WHERE provider = ?1 AND role = 'assistant' AND raw_frame IS NOT NULL",
        )?;
        let mut rows = statement.query([provider.name()])?;
        while let Some(row) = rows.next()? {
            let frame: String = row.get(2)?;
            let Ok(frame) = serde_json::from_str::<Value>(&frame) else { continue };
            if let Some(key) = provider.response_key(&frame).filter(|key| orphans.contains(key)) {
                holders.entry(key).or_default().push((row.get(0)?, row.get(1)?));
            }
        }
        for (key, holders) in holders {
            let [(message, session)] = holders.as_slice() else { continue };
            // A usage row's provenance is its session's source, as the materializer writes it.
            moved += tx.execute(
                "UPDATE usage SET message_id = ?1, session_id = ?2, \
                 source_path_sha256 = (SELECT source_path_sha256 FROM sessions WHERE session_id = ?2) \
                 WHERE provider = ?3 AND native_id = ?4 AND message_id IS NULL",
                params![message, session, provider.name(), key],
            )? as u64;
        }
    }
    Ok(moved)
}
