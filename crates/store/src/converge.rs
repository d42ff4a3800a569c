//! Bringing a store written under earlier parsing rules to what a clean import holds: rows those
//! rules produced that today's do not are removed, misattributed rows moved, from the stored rows
//! alone (the sources may be gone), and every source is read again on the next import. The rules
//! come from the providers (`Provider::is_record_frame`, `Provider::response_key`); the store
//! applies them once, after the migration that asks for it, in one transaction.

use std::sync::Arc;

use hindcast_core::provider::Provider;
use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use crate::{Store, StoreError, compact, frame, schema};

/// The `meta` key a migration sets when the stored rows must be brought to today's rules.
pub(crate) const PENDING_KEY: &str = "converge";

/// What converging changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Convergence {
    pub messages_removed: u64,
    pub sessions_removed: u64,
    pub usage_moved: u64,
    pub prompts_reclassified: u64,
}

impl std::fmt::Display for Convergence {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "brought the store to this release's import rules: removed {} messages that were not transcript records and {} sessions without records, moved {} usage records to their messages, found {} prompts the client wrote itself; every source is read again",
            self.messages_removed, self.sessions_removed, self.usage_moved, self.prompts_reclassified
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
    tx.execute_batch("CREATE TEMP TABLE converge_stale (message INTEGER PRIMARY KEY);")?;
    for provider in providers {
        let mut statement = tx.prepare(&format!(
            "SELECT m.message, {WHOLE_FRAME} FROM message m JOIN origin o ON o.origin = m.origin \
             {WHOLE_FRAME_JOINS} WHERE o.provider = ?1 AND m.role = {OTHER} AND m.identity_fallback",
            OTHER = compact::code(&compact::ROLES, "other"),
        ))?;
        let mut stale: Vec<i64> = Vec::new();
        let mut rows = statement.query([provider.name()])?;
        while let Some(row) = rows.next()? {
            if !provider.is_record_frame(&whole_frame(row, 1)?) {
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
         SELECT session, min(timestamp) AS first, max(timestamp) AS last FROM message
         WHERE message IN (SELECT message FROM converge_stale) GROUP BY session;",
    )?;
    let relinked = surviving_parents(tx)?;
    // A frame whose `parentUuid` is its parent's native id holds it again before the parent goes
    // (or before it is relinked to another).
    tx.execute_batch(&format!(
        "UPDATE message SET raw_frame = json_set(raw_frame, '$.parentUuid', \
             (SELECT p.native_id FROM message p WHERE p.message_key = message.parent_key)), \
             frame_elided = frame_elided & ~{PARENT} \
         WHERE frame_elided & {PARENT} AND parent_key IN \
             (SELECT message_key FROM message WHERE message IN (SELECT message FROM converge_stale));",
        PARENT = frame::ELIDED_PARENT,
    ))?;
    let mut changed = Convergence::default();
    tx.execute("DELETE FROM part WHERE message IN (SELECT message FROM converge_stale)", [])?;
    tx.execute(
        "DELETE FROM token_usage WHERE message_key IN \
         (SELECT message_key FROM message WHERE message IN (SELECT message FROM converge_stale))",
        [],
    )?;
    changed.messages_removed =
        tx.execute("DELETE FROM message WHERE message IN (SELECT message FROM converge_stale)", [])? as u64;
    for (message, parent) in relinked {
        tx.execute("UPDATE message SET parent_key = ?2 WHERE message_key = ?1", params![message, parent])?;
    }
    // Positions close up over what was removed, as a clean import numbers the messages it emits.
    tx.execute_batch(
        "UPDATE message SET seq = renumbered.seq FROM (
             SELECT message, row_number() OVER (PARTITION BY session ORDER BY seq) - 1 AS seq FROM message
             WHERE session IN (SELECT session FROM converge_touched)) AS renumbered
         WHERE message.message = renumbered.message AND message.seq <> renumbered.seq;",
    )?;
    changed.usage_moved = move_usage_to_messages(tx, providers)?;
    // A session whose first or last time came from a message it lost spans what it keeps (the
    // next read of a source that still exists widens it to every record's time again).
    tx.execute_batch(
        "UPDATE session SET
           started_at = CASE WHEN t.first <= session.started_at THEN coalesce(
               (SELECT min(at) FROM (SELECT timestamp AS at FROM message WHERE session = session.session
                                     UNION ALL SELECT timestamp FROM token_usage WHERE session = session.session)),
               session.started_at) ELSE session.started_at END,
           ended_at = CASE WHEN t.last >= session.ended_at THEN coalesce(
               (SELECT max(at) FROM (SELECT timestamp AS at FROM message WHERE session = session.session
                                     UNION ALL SELECT timestamp FROM token_usage WHERE session = session.session)),
               session.ended_at) ELSE session.ended_at END
         FROM converge_touched t WHERE t.session = session.session;",
    )?;
    tx.execute_batch("CREATE TEMP TABLE converge_no_empty_sessions (provider TEXT PRIMARY KEY) WITHOUT ROWID;")?;
    for provider in providers.iter().filter(|provider| !provider.writes_empty_sessions()) {
        tx.execute("INSERT OR IGNORE INTO converge_no_empty_sessions VALUES (?1)", [provider.name()])?;
    }
    tx.execute_batch(
        "CREATE TEMP TABLE converge_empty AS
         SELECT s.session, lower(hex(s.session_key)) AS session_id FROM session s JOIN origin o ON o.origin = s.origin
         WHERE NOT EXISTS (SELECT 1 FROM message m WHERE m.session = s.session)
           AND NOT EXISTS (SELECT 1 FROM token_usage u WHERE u.session = s.session)
           AND NOT EXISTS (SELECT 1 FROM session c WHERE c.parent_session_key = s.session_key)
           AND (s.session IN (SELECT session FROM converge_touched)
                OR EXISTS (SELECT 1 FROM sources f WHERE f.provider = o.provider
                           AND f.path_sha256 = o.path_sha256 AND f.size = 0)
                OR (o.provider IN (SELECT provider FROM converge_no_empty_sessions)
                    AND s.started_at IS NULL AND s.ended_at IS NULL AND s.cwd IS NULL AND s.title IS NULL
                    AND s.parent_session_key IS NULL));
         DELETE FROM session_refs WHERE session_id IN (SELECT session_id FROM converge_empty);
         DELETE FROM import_notes WHERE session_id IN (SELECT session_id FROM converge_empty);",
    )?;
    changed.sessions_removed =
        tx.execute("DELETE FROM session WHERE session IN (SELECT session FROM converge_empty)", [])? as u64;
    changed.prompts_reclassified = reclassify_prompts(tx, providers)?;
    tx.execute_batch(schema::REBUILD_ROLLUPS)?;
    tx.execute_batch(
        "DELETE FROM sources;
         DROP TABLE temp.converge_stale; DROP TABLE temp.converge_touched; DROP TABLE temp.converge_empty;
         DROP TABLE temp.converge_no_empty_sessions;",
    )?;
    tx.execute("DELETE FROM meta WHERE key = ?1", params![PENDING_KEY])?;
    Ok(changed)
}

/// The columns `whole_frame` reads, from `message m` and `frame_context c`.
const WHOLE_FRAME: &str = "m.raw_frame, c.fields, m.frame_elided, m.native_id, m.timestamp, p.native_id";

/// The joins `WHOLE_FRAME` needs, from `message m`.
const WHOLE_FRAME_JOINS: &str =
    "LEFT JOIN frame_context c ON c.context = m.frame_context LEFT JOIN message p ON p.message_key = m.parent_key";

/// The frame a message was stored with, as JSON (`Null` when it has none or it is not JSON), from
/// the [`WHOLE_FRAME`] columns starting at `at`.
fn whole_frame(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Value> {
    let Some(stored) = row.get::<_, Option<String>>(at)? else { return Ok(Value::Null) };
    let context: Option<String> = row.get(at + 1)?;
    let native_id: Option<String> = row.get(at + 3)?;
    let timestamp: Option<String> = row.get(at + 4)?;
    let parent_native_id: Option<String> = row.get(at + 5)?;
    let columns = frame::FrameColumns {
        native_id: native_id.as_deref(),
        timestamp: timestamp.as_deref(),
        parent_native_id: parent_native_id.as_deref(),
    };
    let text = frame::restore(&stored, context.as_deref(), row.get(at + 2)?, columns);
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

type Key = Vec<u8>;

/// For each message that keeps a parent about to be removed, its nearest ancestor that stays
/// (or none): a message links to the one before it that a clean import emits.
fn surviving_parents(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<Vec<(Key, Option<Key>)>> {
    let removed: std::collections::HashMap<Key, Option<Key>> = tx
        .prepare("SELECT message_key, parent_key FROM message WHERE message IN (SELECT message FROM converge_stale)")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if removed.is_empty() {
        return Ok(Vec::new());
    }
    let orphaned: Vec<(Key, Key)> = tx
        .prepare(
            "SELECT message_key, parent_key FROM message \
             WHERE parent_key IN (SELECT message_key FROM message WHERE message IN (SELECT message FROM converge_stale)) \
               AND message NOT IN (SELECT message FROM converge_stale)",
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

/// Stored prompts that the provider now judges the client wrote itself (`Provider::is_client_written`)
/// become injected messages, as a clean import flags them.
fn reclassify_prompts(tx: &rusqlite::Transaction<'_>, providers: &[Arc<dyn Provider>]) -> rusqlite::Result<u64> {
    let mut reclassified = 0;
    for provider in providers {
        let mut statement = tx.prepare(&format!(
            "SELECT m.message, p.text FROM message m JOIN origin o ON o.origin = m.origin \
             JOIN part p ON p.message = m.message AND p.kind = {TEXT} AND p.text IS NOT NULL \
             WHERE o.provider = ?1 AND m.is_user_prompt ORDER BY m.message, p.part_index",
            TEXT = compact::code(&compact::PART_KINDS, "text"),
        ))?;
        let mut texts_of: Vec<(i64, Vec<String>)> = Vec::new();
        let mut rows = statement.query([provider.name()])?;
        while let Some(row) = rows.next()? {
            let message: i64 = row.get(0)?;
            let text: String = row.get(1)?;
            match texts_of.last_mut() {
                Some((last, texts)) if *last == message => texts.push(text),
                _ => texts_of.push((message, vec![text])),
            }
        }
        for (message, texts) in texts_of {
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            if provider.is_client_written(&texts) {
                reclassified += tx
                    .execute("UPDATE message SET is_injected = 1, is_user_prompt = 0 WHERE message = ?1", [message])?
                    as u64;
            }
        }
    }
    Ok(reclassified)
}

/// Usage stored without its message (an agent file that was a warmup when first read, and later
/// grew into a conversation) moves to the session and message holding its response, when exactly
/// one message holds it: the owner a clean import gives it.
fn move_usage_to_messages(tx: &rusqlite::Transaction<'_>, providers: &[Arc<dyn Provider>]) -> rusqlite::Result<u64> {
    let mut moved = 0;
    for provider in providers {
        let orphans: Vec<String> = tx
            .prepare(
                "SELECT u.native_id FROM token_usage u JOIN origin o ON o.origin = u.origin \
                 WHERE o.provider = ?1 AND u.message_key IS NULL AND u.native_id IS NOT NULL",
            )?
            .query_map([provider.name()], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if orphans.is_empty() {
            continue;
        }
        let orphans: std::collections::HashSet<String> = orphans.into_iter().collect();
        let mut holders: std::collections::HashMap<String, Vec<(Key, i64)>> = Default::default();
        let mut statement = tx.prepare(&format!(
            "SELECT m.message_key, m.session, {WHOLE_FRAME} FROM message m JOIN origin o ON o.origin = m.origin \
             {WHOLE_FRAME_JOINS} WHERE o.provider = ?1 AND m.role = {ASSISTANT} AND m.raw_frame IS NOT NULL",
            ASSISTANT = compact::code(&compact::ROLES, "assistant"),
        ))?;
        let mut rows = statement.query([provider.name()])?;
        while let Some(row) = rows.next()? {
            let frame = whole_frame(row, 2)?;
            if let Some(key) = provider.response_key(&frame).filter(|key| orphans.contains(key)) {
                holders.entry(key).or_default().push((row.get(0)?, row.get(1)?));
            }
        }
        for (key, holders) in holders {
            let [(message, session)] = holders.as_slice() else { continue };
            // A usage row's provenance is its session's source, as the materializer writes it.
            moved += tx.execute(
                "UPDATE token_usage SET message_key = ?1, session = ?2, \
                 origin = (SELECT origin FROM session WHERE session = ?2) \
                 WHERE origin IN (SELECT origin FROM origin WHERE provider = ?3) AND native_id = ?4 AND message_key IS NULL",
                params![message, session, provider.name(), key],
            )? as u64;
        }
    }
    Ok(moved)
}
