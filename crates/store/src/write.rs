//! Batched idempotent writes: each row is inserted once per key (`ON CONFLICT DO NOTHING`, or
//! while a first import builds the store, recognised by `BuildKeys`) or merged into the stored
//! row by the table's rules, with exact per-table counts; and the run records.

use std::collections::HashMap;

use hindcast_pricing::Response;
use rusqlite::{Connection, OptionalExtension, params};

use hindcast_core::materialize::{
    ImportNoteRow, MessageRow, PartRow, ProjectRow, Provenance, RateLimitRow, RowBatch, SessionRefRow, SessionRow,
    UsageRow,
};
use hindcast_core::tables::{Table, WriteCounts, WriteOutcomes};

use crate::compact::{self, FrameContexts};
use crate::cost;
use crate::frame;
use crate::keys::{BuildKeys, KeyTable};
use crate::search;
use crate::{Store, StoreError};

const INSERT_SESSION: &str = "INSERT INTO session (session_key, client, native_id, title, cwd, git_branch, git_commit, \
    git_origin_url, git_dirty, client_version, entrypoint, models, permission_mode, sandbox_mode, approval_mode, \
    started_at, ended_at, parent_session_key, relationship, parent_tool_call_id, metadata, origin, first_run, \
    project_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
    ?21, ?22, ?23, ?24) ON CONFLICT DO NOTHING";

/// Merges a re-imported session into the stored one: known values fill gaps or replace, the time span
/// widens, metadata is replaced by the fresh parse (unless empty), a missing project key is filled. The WHERE clause makes an unchanged re-import a no-op (0 rows).
const MERGE_SESSION: &str = "UPDATE session SET \
    title = coalesce(?4, title), cwd = coalesce(?5, cwd), git_branch = coalesce(?6, git_branch), \
    git_commit = coalesce(?7, git_commit), git_origin_url = coalesce(?8, git_origin_url), \
    git_dirty = coalesce(?9, git_dirty), client_version = coalesce(?10, client_version), \
    entrypoint = coalesce(?11, entrypoint), models = CASE WHEN ?12 = '[]' THEN models ELSE ?12 END, \
    permission_mode = coalesce(?13, permission_mode), sandbox_mode = coalesce(?14, sandbox_mode), \
    approval_mode = coalesce(?15, approval_mode), \
    started_at = CASE WHEN started_at IS NULL OR ?16 < started_at THEN coalesce(?16, started_at) ELSE started_at END, \
    ended_at = CASE WHEN ended_at IS NULL OR ?17 > ended_at THEN coalesce(?17, ended_at) ELSE ended_at END, \
    parent_session_key = coalesce(?18, parent_session_key), relationship = coalesce(?19, relationship), \
    parent_tool_call_id = coalesce(?20, parent_tool_call_id), \
    metadata = CASE WHEN ?21 = '{}' THEN metadata ELSE ?21 END, project_key = coalesce(project_key, ?22) \
    WHERE session_key = ?1 AND ( \
    title IS NOT coalesce(?4, title) OR cwd IS NOT coalesce(?5, cwd) OR git_branch IS NOT coalesce(?6, git_branch) \
    OR git_commit IS NOT coalesce(?7, git_commit) OR git_origin_url IS NOT coalesce(?8, git_origin_url) \
    OR git_dirty IS NOT coalesce(?9, git_dirty) OR client_version IS NOT coalesce(?10, client_version) \
    OR entrypoint IS NOT coalesce(?11, entrypoint) OR (?12 != '[]' AND models IS NOT ?12) \
    OR permission_mode IS NOT coalesce(?13, permission_mode) OR sandbox_mode IS NOT coalesce(?14, sandbox_mode) \
    OR approval_mode IS NOT coalesce(?15, approval_mode) \
    OR (?16 IS NOT NULL AND (started_at IS NULL OR ?16 < started_at)) \
    OR (?17 IS NOT NULL AND (ended_at IS NULL OR ?17 > ended_at)) \
    OR parent_session_key IS NOT coalesce(?18, parent_session_key) OR relationship IS NOT coalesce(?19, relationship) \
    OR parent_tool_call_id IS NOT coalesce(?20, parent_tool_call_id) OR (?21 != '{}' AND metadata IS NOT ?21) \
    OR (project_key IS NULL AND ?22 IS NOT NULL))";

const INSERT_PART: &str = "INSERT INTO part (message, part_index, kind, text, tool_name, tool_call_id, tool_input, \
    is_error, metadata, origin, native_id, first_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
    ON CONFLICT DO NOTHING";

const INSERT_USAGE: &str = "INSERT INTO token_usage (usage_key, session, message_key, model, timestamp, input_tokens, \
    output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens, cache_creation_5m_tokens, \
    cache_creation_1h_tokens, service_tier, speed, native_id, origin, first_run, cost_nano_usd) VALUES (?1, ?2, ?3, ?4, \
    ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) ON CONFLICT DO NOTHING";

/// A response imported before all its copies were written (the client was still streaming it, or a
/// run read the file while it grew) takes the fuller frame and tool-call count when seen again;
/// neither ever shrinks (a truncated file read later cannot take information away). Frames are
/// compared by the length of the whole frame (`frame_length`), not of what is stored of it.
/// `?1` picks the row: its key (`MERGE_MESSAGE`) or, while a first import builds the store
/// without its unique keys, its rowid (`MERGE_MESSAGE_AT_ROWID`).
macro_rules! merge_message {
    ($row:literal) => {
        concat!(
            "UPDATE message SET raw_frame = ?2, frame_context = ?4, frame_elided = ?5, frame_length = ?6, \
             tool_calls = max(tool_calls, ?3) WHERE ",
            $row,
            " AND tool_calls <= ?3 AND frame_length < ?6"
        )
    };
}
const MERGE_MESSAGE: &str = merge_message!("message_key = ?1");
const MERGE_MESSAGE_AT_ROWID: &str = merge_message!("message = ?1");

/// The copy of a billed response with the most output tokens is the final one (SPEC §6). A row
/// stored without its message (its transcript was not a session then: a warmup agent file, which
/// later grew into a conversation) moves to the session and message of a copy that has one, as a
/// clean import would have written it; a row never loses its message. `?1` picks the row as in
/// `merge_message!`.
macro_rules! merge_usage {
    ($row:literal) => {
        concat!(
            "UPDATE token_usage SET \
             input_tokens = iif(output_tokens < ?3, ?2, input_tokens), \
             cache_read_tokens = iif(output_tokens < ?3, ?4, cache_read_tokens), \
             cache_creation_tokens = iif(output_tokens < ?3, ?5, cache_creation_tokens), \
             reasoning_tokens = iif(output_tokens < ?3, ?6, reasoning_tokens), \
             cache_creation_5m_tokens = iif(output_tokens < ?3, ?10, cache_creation_5m_tokens), \
             cache_creation_1h_tokens = iif(output_tokens < ?3, ?11, cache_creation_1h_tokens), \
             service_tier = iif(output_tokens < ?3, ?12, service_tier), \
             speed = iif(output_tokens < ?3, ?13, speed), \
             cost_nano_usd = iif(output_tokens < ?3, ?14, cost_nano_usd), \
             output_tokens = max(output_tokens, ?3), \
             session = iif(message_key IS NULL AND ?7 IS NOT NULL, ?8, session), \
             origin = iif(message_key IS NULL AND ?7 IS NOT NULL, ?9, origin), \
             message_key = coalesce(message_key, ?7) WHERE ",
            $row,
            " AND (output_tokens < ?3 OR (message_key IS NULL AND ?7 IS NOT NULL))"
        )
    };
}
const MERGE_USAGE: &str = merge_usage!("usage_key = ?1");
const MERGE_USAGE_AT_ROWID: &str = merge_usage!("usage = ?1");

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

const INSERT_RATE_LIMIT: &str = "INSERT INTO rate_limit (client, session, observed_at, window, window_minutes, \
    used_percent, resets_at, plan) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING";

/// Inserts a rate-limit reading (of `session`, when known); the number of rows written.
fn insert_rate_limit(conn: &Connection, row: &RateLimitRow, session: Option<i64>) -> rusqlite::Result<usize> {
    conn.prepare_cached(INSERT_RATE_LIMIT)?.execute(params![
        row.client,
        session,
        row.observed_at,
        row.window,
        row.window_minutes,
        row.used_percent,
        row.resets_at,
        row.plan,
    ])
}

impl Store {
    /// Writes a batch of rows inside the current transaction (starting one if needed) and returns
    /// exact per-table counts. Existing rows are skipped (sessions and usage may be merged).
    pub fn write_rows(&mut self, batch: &RowBatch) -> Result<WriteCounts, StoreError> {
        self.begin()?;
        let mut counts = WriteCounts::default();
        let result = (|| -> rusqlite::Result<()> {
            for row in &batch.sessions {
                count(&mut counts[Table::Sessions], self.write_session(row)?);
            }
            let mut messages = HashMap::with_capacity(batch.messages.len());
            let mut native_ids: HashMap<&str, Option<&str>> = HashMap::with_capacity(batch.messages.len());
            for row in &batch.messages {
                // A parent in the same batch is stored (before its children) with its native id.
                let parent_native_id =
                    row.parent_message_id.as_deref().and_then(|parent| native_ids.get(parent).copied().flatten());
                native_ids.insert(row.message_id.as_str(), row.provenance.native_id.as_deref());
                let (outcome, rowid) = self.write_message(row, parent_native_id)?;
                let role = compact::code(&compact::ROLES, row.role);
                messages.insert(
                    row.message_id.as_str(),
                    StoredMessage { rowid, written: outcome == Outcome::Written, role },
                );
                count(&mut counts[Table::Messages], outcome);
            }
            let mut stored = StoredMessages { batch: messages, provenance: HashMap::new() };
            for row in &batch.parts {
                count(&mut counts[Table::Parts], self.write_part(row, &mut stored)?);
            }
            for row in &batch.usage {
                count(&mut counts[Table::Usage], self.write_usage(row)?);
            }
            for row in &batch.projects {
                count(&mut counts[Table::Projects], self.write_project(row)?);
            }
            for row in &batch.import_notes {
                count(&mut counts[Table::ImportNotes], self.write_note(row)?);
            }
            for row in &batch.session_refs {
                count(&mut counts[Table::SessionRefs], self.write_session_ref(row)?);
            }
            for row in &batch.rate_limits {
                count(&mut counts[Table::RateLimits], self.write_rate_limit(row)?);
            }
            if self.keys.as_ref().is_some_and(BuildKeys::is_full) {
                self.create_deferred_keys()?;
            }
            Ok(())
        })();
        result.map_err(|source| self.sqlite_error(source))?;
        Ok(counts)
    }

    fn write_session(&mut self, row: &SessionRow) -> rusqlite::Result<Outcome> {
        let origin = self.handles.origin(&self.conn, &row.provenance)?;
        let run = self.handles.run(&self.conn, &row.provenance.run_id)?;
        let key = compact::session_key(&row.session_id);
        let parent = row.parent_session_id.as_deref().map(compact::session_key);
        let values = params![
            key,
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
            parent,
            row.relationship,
            row.parent_tool_call_id,
            row.metadata,
            origin,
            run,
            row.project_key,
        ];
        if self.conn.prepare_cached(INSERT_SESSION)?.execute(values)? == 1 {
            self.handles.sessions.insert(row.session_id.clone(), self.conn.last_insert_rowid());
            return Ok(Outcome::Written);
        }
        // The merge's parameters: the first 21, then the project key (a session first seen before
        // any line named its directory gets it when one does).
        let mut merge: Vec<&dyn rusqlite::ToSql> = values[..21].to_vec();
        merge.push(values[23]);
        let merged = self.conn.prepare_cached(MERGE_SESSION)?.execute(&merge[..])?;
        Ok(if merged == 1 { Outcome::Updated } else { Outcome::Skipped })
    }

    /// Writes a message; returns what happened and the message's rowid.
    fn write_message(&mut self, row: &MessageRow, parent_native_id: Option<&str>) -> rusqlite::Result<(Outcome, i64)> {
        let session = self.handles.session(&self.conn, &row.session_id)?;
        let origin = self.handles.origin(&self.conn, &row.provenance)?;
        let run = self.handles.run(&self.conn, &row.provenance.run_id)?;
        let stored = row.raw_frame.as_deref().map(|text| {
            let columns = frame::FrameColumns {
                native_id: row.provenance.native_id.as_deref(),
                timestamp: row.timestamp.as_deref(),
                parent_native_id,
            };
            frame::store(text, columns)
        });
        let context = match stored.as_ref().and_then(|stored| stored.context.as_deref()) {
            Some(fields) => Some(self.handles.contexts.id(&self.conn, fields)?),
            None => None,
        };
        let frame_text = stored.as_ref().map(|stored| stored.frame.as_str());
        let elided = stored.as_ref().map_or(0, |stored| stored.elided);
        let length = row.raw_frame.as_deref().map_or(0, compact::frame_length);
        let key = compact::key_bytes(&row.message_id);
        let merge = |conn: &Connection, statement: &str, target: &dyn rusqlite::ToSql| {
            conn.prepare_cached(statement)?.execute(params![
                target,
                frame_text,
                row.tool_calls,
                context,
                elided,
                length
            ])
        };
        let insert = |conn: &Connection| {
            conn.prepare_cached(compact::INSERT_MESSAGE)?.execute(params![
                None::<i64>,
                key,
                session,
                row.parent_message_id.as_deref().map(compact::key_bytes),
                row.seq,
                compact::code(&compact::ROLES, row.role),
                row.timestamp,
                row.model,
                row.is_sidechain,
                row.is_meta,
                row.is_injected,
                row.is_compact_summary,
                row.is_compact_boundary,
                row.is_api_error,
                row.is_user_prompt,
                row.tool_calls,
                row.is_subagent,
                row.identity_source == "fallback",
                row.provenance.native_id,
                frame_text,
                context,
                elided,
                length,
                origin,
                run,
            ])
        };
        let statements = KeyedStatements {
            merge: MERGE_MESSAGE,
            merge_at_rowid: MERGE_MESSAGE_AT_ROWID,
            rowid_of_key: "SELECT message FROM message WHERE message_key = ?1",
        };
        let (outcome, message) = self.write_keyed(&key, |keys| &mut keys.messages, statements, insert, merge)?;
        // A rewind seen later marks the message; nothing un-marks it (the client never shows it again).
        if row.is_rewound {
            let marked = self
                .conn
                .prepare_cached("UPDATE message SET is_rewound = 1 WHERE message = ?1 AND is_rewound = 0")?
                .execute([message])?;
            if marked == 1 && outcome == Outcome::Skipped {
                return Ok((Outcome::Updated, message));
            }
        }
        Ok((outcome, message))
    }

    fn write_part(&mut self, row: &PartRow, messages: &mut StoredMessages<'_>) -> rusqlite::Result<Outcome> {
        let Some(&StoredMessage { rowid: message, written, role }) = messages.batch.get(row.message_id.as_str()) else {
            // The materializer hands a part over with its message.
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "part {} of message {}: its message is not in the batch",
                row.part_index, row.message_id
            )));
        };
        let origin = self.handles.origin(&self.conn, &row.provenance)?;
        let run = self.handles.run(&self.conn, &row.provenance.run_id)?;
        // Provenance the stored message has is not repeated (NULL: the message's; a native id the
        // part lacks while its message has one is '').
        let (message_native_id, message_origin, message_run) = if written {
            (row.provenance.native_id.clone(), origin, run)
        } else {
            match messages.provenance.get(&message) {
                Some(known) => known.clone(),
                None => {
                    let known: (Option<String>, i64, i64) = self
                        .conn
                        .prepare_cached("SELECT native_id, origin, first_run FROM message WHERE message = ?1")?
                        .query_row([message], |found| Ok((found.get(0)?, found.get(1)?, found.get(2)?)))?;
                    messages.provenance.insert(message, known.clone());
                    known
                }
            }
        };
        let native_id = if row.provenance.native_id == message_native_id {
            None
        } else {
            Some(row.provenance.native_id.as_deref().unwrap_or(""))
        };
        let kind = compact::code(&compact::PART_KINDS, row.kind);
        let changed = self.conn.prepare_cached(INSERT_PART)?.execute(params![
            message,
            row.part_index,
            kind,
            row.text,
            row.tool_name,
            row.tool_call_id,
            row.tool_input,
            row.is_error,
            row.metadata,
            (origin != message_origin).then_some(origin),
            native_id,
            (run != message_run).then_some(run),
        ])?;
        if changed == 1 {
            self.index_part(self.conn.last_insert_rowid(), kind, role, row)?;
        }
        Ok(Outcome::inserted(changed))
    }

    /// Adds an inserted part to the search index (`search.rs`).
    fn index_part(&self, part: i64, kind: i64, role: i64, row: &PartRow) -> rusqlite::Result<()> {
        if search::words_cover(kind) {
            let body =
                search::words_body(kind, row.text.as_deref(), row.tool_name.as_deref(), row.tool_input.as_deref());
            self.conn.prepare_cached(search::INDEX_WORDS)?.execute(params![part, body])?;
        }
        if search::grams_cover(kind, role) {
            self.conn.prepare_cached(search::INDEX_GRAMS)?.execute(params![part, row.text])?;
        }
        Ok(())
    }

    fn write_usage(&mut self, row: &UsageRow) -> rusqlite::Result<Outcome> {
        let session = self.handles.session(&self.conn, &row.session_id)?;
        let origin = self.handles.origin(&self.conn, &row.provenance)?;
        let run = self.handles.run(&self.conn, &row.provenance.run_id)?;
        let key = compact::key_bytes(&row.usage_id);
        let message_key = row.message_id.as_deref().map(compact::key_bytes);
        let cost = cost::cost_of(&Response {
            client: &row.provenance.provider,
            model: row.model.as_deref(),
            timestamp: row.timestamp.as_deref(),
            prompt_tokens: row.input_tokens,
            cache_read_tokens: row.cache_read_tokens,
            cache_write_tokens: row.cache_creation_tokens,
            cache_write_1h_tokens: row.cache_creation_1h_tokens,
            output_tokens: row.output_tokens,
            service_tier: row.service_tier.as_deref(),
        });
        let merge = |conn: &Connection, statement: &str, target: &dyn rusqlite::ToSql| {
            conn.prepare_cached(statement)?.execute(params![
                target,
                row.input_tokens,
                row.output_tokens,
                row.cache_read_tokens,
                row.cache_creation_tokens,
                row.reasoning_tokens,
                message_key,
                session,
                origin,
                row.cache_creation_5m_tokens,
                row.cache_creation_1h_tokens,
                row.service_tier,
                row.speed,
                cost,
            ])
        };
        let insert = |conn: &Connection| {
            conn.prepare_cached(INSERT_USAGE)?.execute(params![
                key,
                session,
                message_key,
                row.model,
                row.timestamp,
                row.input_tokens,
                row.output_tokens,
                row.cache_read_tokens,
                row.cache_creation_tokens,
                row.reasoning_tokens,
                row.cache_creation_5m_tokens,
                row.cache_creation_1h_tokens,
                row.service_tier,
                row.speed,
                row.provenance.native_id,
                origin,
                run,
                cost,
            ])
        };
        let statements = KeyedStatements {
            merge: MERGE_USAGE,
            merge_at_rowid: MERGE_USAGE_AT_ROWID,
            rowid_of_key: "SELECT usage FROM token_usage WHERE usage_key = ?1",
        };
        self.write_keyed(&key, |keys| &mut keys.usage, statements, insert, merge).map(|(outcome, _)| outcome)
    }

    /// Writes a row of a table whose rows merge when seen again (messages, usage): a row the
    /// build already wrote (while its unique keys are deferred) is merged by rowid; else it is
    /// inserted, its key recorded for the build, and a row the unique key already holds is merged
    /// by key. Returns what happened and the row's rowid.
    fn write_keyed(
        &mut self,
        key: &[u8],
        table: fn(&mut BuildKeys) -> &mut KeyTable,
        statements: KeyedStatements,
        insert: impl FnOnce(&Connection) -> rusqlite::Result<usize>,
        merge: impl Fn(&Connection, &str, &dyn rusqlite::ToSql) -> rusqlite::Result<usize>,
    ) -> rusqlite::Result<(Outcome, i64)> {
        let merged = |changed: usize| if changed == 1 { Outcome::Updated } else { Outcome::Skipped };
        if let Some(keys) = &mut self.keys
            && let Some(rowid) = table(keys).find(&self.conn, key)?
        {
            return Ok((merged(merge(&self.conn, statements.merge_at_rowid, &rowid)?), rowid));
        }
        if insert(&self.conn)? == 1 {
            let rowid = self.conn.last_insert_rowid();
            if let Some(keys) = &mut self.keys {
                table(keys).record(key, rowid);
            }
            return Ok((Outcome::Written, rowid));
        }
        let outcome = merged(merge(&self.conn, statements.merge, &key)?);
        let rowid = self.conn.prepare_cached(statements.rowid_of_key)?.query_row([key], |row| row.get(0))?;
        Ok((outcome, rowid))
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

    /// A rate-limit observation; the same observation read again (a fork replays its parent's
    /// events) is kept once.
    fn write_rate_limit(&mut self, row: &RateLimitRow) -> rusqlite::Result<Outcome> {
        let session = self.handles.session(&self.conn, &row.session_id)?;
        insert_rate_limit(&self.conn, row, Some(session)).map(Outcome::inserted)
    }

    /// Records a rate-limit reading of a client's own (Claude's status line), unless the window's
    /// latest reading says the same: the status line reports many times a minute.
    pub fn record_rate_limit_reading(&mut self, row: &RateLimitRow) -> Result<bool, StoreError> {
        let write = || -> rusqlite::Result<bool> {
            let unchanged: bool = self.conn.query_row(
                "SELECT coalesce((SELECT used_percent = ?3 AND resets_at IS ?4 FROM rate_limit \
                 WHERE client = ?1 AND window = ?2 ORDER BY observed_at DESC LIMIT 1), 0)",
                params![row.client, row.window, row.used_percent, row.resets_at],
                |found| found.get(0),
            )?;
            if unchanged {
                return Ok(false);
            }
            let session: Option<i64> = self
                .conn
                .query_row(
                    "SELECT session FROM session WHERE client = ?1 AND native_id = ?2",
                    params![row.client, row.session_id],
                    |found| found.get(0),
                )
                .optional()?;
            Ok(insert_rate_limit(&self.conn, row, session)? > 0)
        };
        write().map_err(|source| self.sqlite_error(source))
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
                "INSERT INTO run (run_id, started_at, status, providers, since, until) VALUES (?1, ?2, 'running', ?3, ?4, ?5)",
                params![run_id, started_at, providers, since, until],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
    }

    /// Records how a run ended.
    pub fn record_run_finish(&mut self, run_id: &str, finished_at: &str, status: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE run SET finished_at = ?2, status = ?3 WHERE run_id = ?1",
                params![run_id, finished_at, status],
            )
            .map(|_| ())
            .map_err(|source| self.sqlite_error(source))
    }
}

/// How a keyed table merges a row seen again: by its key, or by rowid while a first import builds
/// the store without its unique keys.
struct KeyedStatements {
    merge: &'static str,
    merge_at_rowid: &'static str,
    /// `SELECT <rowid> FROM <table> WHERE <key> = ?1`.
    rowid_of_key: &'static str,
}

/// The messages of a batch by id: their rowid and whether the batch wrote them; and the stored
/// provenance (native id, origin, run) of those it did not write, once looked up.
struct StoredMessages<'a> {
    batch: HashMap<&'a str, StoredMessage>,
    provenance: HashMap<i64, (Option<String>, i64, i64)>,
}

/// A message of the batch as stored: its rowid, whether this batch wrote it, its role's code.
#[derive(Clone, Copy, Debug)]
struct StoredMessage {
    rowid: i64,
    written: bool,
    role: i64,
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

fn count(counts: &mut WriteOutcomes, outcome: Outcome) {
    match outcome {
        Outcome::Written => counts.written += 1,
        Outcome::Updated => counts.updated += 1,
        Outcome::Skipped => counts.skipped += 1,
    }
}

/// A run named by rows without its own record.
pub(crate) const UNRECORDED_RUN: &str = "INSERT INTO run (run_id, started_at, status, providers) VALUES (?1, '', 'unrecorded', '[]') ON CONFLICT DO NOTHING";

/// The integer handles the rows of a run refer to, looked up once: sessions by id, origins by
/// provider and path hash, runs by id, frame contexts by their fields. Forgotten on rollback.
#[derive(Debug, Default)]
pub(crate) struct Handles {
    sessions: HashMap<String, i64>,
    /// By provider, then path hash (looked up without allocating, once per row).
    origins: HashMap<String, HashMap<String, i64>>,
    runs: HashMap<String, i64>,
    contexts: FrameContexts,
}

impl Handles {
    pub(crate) fn clear(&mut self) {
        self.sessions.clear();
        self.origins.clear();
        self.runs.clear();
        self.contexts.clear();
    }

    fn session(&mut self, conn: &Connection, session_id: &str) -> rusqlite::Result<i64> {
        if let Some(session) = self.sessions.get(session_id) {
            return Ok(*session);
        }
        let session = conn
            .prepare_cached("SELECT session FROM session WHERE session_key = ?1")?
            .query_row([compact::session_key(session_id)], |row| row.get(0))
            .optional()?
            .ok_or_else(|| {
                rusqlite::Error::InvalidParameterName(format!(
                    "session {session_id}: a row refers to it before it is written"
                ))
            })?;
        self.sessions.insert(session_id.to_string(), session);
        Ok(session)
    }

    fn origin(&mut self, conn: &Connection, provenance: &Provenance) -> rusqlite::Result<i64> {
        let (provider, path) = (provenance.provider.as_str(), provenance.source_path_sha256.as_str());
        if let Some(origin) = self.origins.get(provider).and_then(|paths| paths.get(path)) {
            return Ok(*origin);
        }
        conn.prepare_cached("INSERT INTO origin (provider, path_sha256) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
            .execute(params![provider, path])?;
        let origin = conn
            .prepare_cached("SELECT origin FROM origin WHERE provider = ?1 AND path_sha256 = ?2")?
            .query_row(params![provider, path], |row| row.get(0))?;
        self.origins.entry(provider.to_string()).or_default().insert(path.to_string(), origin);
        Ok(origin)
    }

    fn run(&mut self, conn: &Connection, run_id: &str) -> rusqlite::Result<i64> {
        if let Some(run) = self.runs.get(run_id) {
            return Ok(*run);
        }
        // A run is recorded before its rows; rows naming one that is not (written by a caller that
        // records no runs) get a row saying so, as schema 8 converts such rows.
        conn.prepare_cached(UNRECORDED_RUN)?.execute([run_id])?;
        let run =
            conn.prepare_cached("SELECT run FROM run WHERE run_id = ?1")?.query_row([run_id], |row| row.get(0))?;
        self.runs.insert(run_id.to_string(), run);
        Ok(run)
    }
}
