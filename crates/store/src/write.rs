//! Batched idempotent writes: each row is inserted once per key (`ON CONFLICT DO NOTHING`, or
//! while a first import builds the store, recognised by `BuildKeys`) or merged into the stored
//! row by the table's rules, with exact per-table counts; and the run records.

use rusqlite::{Connection, params};

use hindcast_core::materialize::{
    ImportNoteRow, MessageRow, PartRow, ProjectRow, RowBatch, SessionRefRow, SessionRow, UsageRow,
};
use hindcast_core::tables::{Table, WriteCounts, WriteOutcomes};

use crate::keys::{BuildKeys, KeyTable};
use crate::{Store, StoreError};

const INSERT_SESSION: &str = "INSERT INTO sessions (session_id, client, native_id, title, cwd, git_branch, git_commit, \
    git_origin_url, git_dirty, client_version, entrypoint, models, permission_mode, sandbox_mode, approval_mode, \
    started_at, ended_at, parent_session_id, relationship, parent_tool_call_id, metadata, provider, \
    source_path_sha256, first_run_id, project_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
    ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) ON CONFLICT DO NOTHING";

/// Merges a re-imported session into the stored one: known values fill gaps or replace, the time span
/// widens, metadata is replaced by the fresh parse (unless empty), a missing project key is filled. The WHERE clause makes an unchanged re-import a no-op (0 rows).
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
    metadata = CASE WHEN ?21 = '{}' THEN metadata ELSE ?21 END, project_key = coalesce(project_key, ?22) \
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
    OR parent_tool_call_id IS NOT coalesce(?20, parent_tool_call_id) OR (?21 != '{}' AND metadata IS NOT ?21) \
    OR (project_key IS NULL AND ?22 IS NOT NULL))";

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

/// The copy of a billed response with the most output tokens is the final one (SPEC §6). A row
/// stored without its message (its transcript was not a session then: a warmup agent file, which
/// later grew into a conversation) moves to the session and message of a copy that has one, as a
/// clean import would have written it; a row never loses its message. `?1` picks the row as in
/// `merge_message!`.
macro_rules! merge_usage {
    ($row:literal) => {
        concat!(
            "UPDATE usage SET \
             input_tokens = iif(output_tokens < ?3, ?2, input_tokens), \
             cache_read_tokens = iif(output_tokens < ?3, ?4, cache_read_tokens), \
             cache_creation_tokens = iif(output_tokens < ?3, ?5, cache_creation_tokens), \
             reasoning_tokens = iif(output_tokens < ?3, ?6, reasoning_tokens), \
             output_tokens = max(output_tokens, ?3), \
             session_id = iif(message_id IS NULL AND ?7 IS NOT NULL, ?8, session_id), \
             source_path_sha256 = iif(message_id IS NULL AND ?7 IS NOT NULL, ?9, source_path_sha256), \
             message_id = coalesce(message_id, ?7) WHERE ",
            $row,
            " AND (output_tokens < ?3 OR (message_id IS NULL AND ?7 IS NOT NULL))"
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
            for row in &batch.messages {
                count(&mut counts[Table::Messages], self.write_message(row)?);
            }
            for row in &batch.parts {
                count(&mut counts[Table::Parts], self.write_part(row)?);
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
            if self.keys.as_ref().is_some_and(BuildKeys::is_full) {
                self.create_deferred_keys()?;
            }
            Ok(())
        })();
        result.map_err(|source| self.sqlite_error(source))?;
        Ok(counts)
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
        // The merge's parameters: the first 21, then the project key (a session first seen before
        // any line named its directory gets it when one does).
        let mut merge: Vec<&dyn rusqlite::ToSql> = values[..21].to_vec();
        merge.push(values[24]);
        let merged = self.conn.prepare_cached(MERGE_SESSION)?.execute(&merge[..])?;
        Ok(if merged == 1 { Outcome::Updated } else { Outcome::Skipped })
    }

    fn write_message(&mut self, row: &MessageRow) -> rusqlite::Result<Outcome> {
        let merge = |conn: &Connection, statement: &str, target: &dyn rusqlite::ToSql| {
            conn.prepare_cached(statement)?.execute(params![target, row.raw_frame, row.tool_calls])
        };
        let insert = |conn: &Connection| {
            conn.prepare_cached(INSERT_MESSAGE)?.execute(params![
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
            ])
        };
        let statements = KeyedStatements { merge: MERGE_MESSAGE, merge_at_rowid: MERGE_MESSAGE_AT_ROWID };
        self.write_keyed(&row.message_id, |keys| &mut keys.messages, statements, insert, merge)
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
        let merge = |conn: &Connection, statement: &str, target: &dyn rusqlite::ToSql| {
            conn.prepare_cached(statement)?.execute(params![
                target,
                row.input_tokens,
                row.output_tokens,
                row.cache_read_tokens,
                row.cache_creation_tokens,
                row.reasoning_tokens,
                row.message_id,
                row.session_id,
                row.provenance.source_path_sha256,
            ])
        };
        let insert = |conn: &Connection| {
            conn.prepare_cached(INSERT_USAGE)?.execute(params![
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
            ])
        };
        let statements = KeyedStatements { merge: MERGE_USAGE, merge_at_rowid: MERGE_USAGE_AT_ROWID };
        self.write_keyed(&row.usage_id, |keys| &mut keys.usage, statements, insert, merge)
    }

    /// Writes a row of a table whose rows merge when seen again (messages, usage): a row the
    /// build already wrote (while its unique keys are deferred) is merged by rowid; else it is
    /// inserted, its key recorded for the build, and a row the unique key already holds is merged
    /// by key.
    fn write_keyed(
        &mut self,
        key: &str,
        table: fn(&mut BuildKeys) -> &mut KeyTable,
        statements: KeyedStatements,
        insert: impl FnOnce(&Connection) -> rusqlite::Result<usize>,
        merge: impl Fn(&Connection, &str, &dyn rusqlite::ToSql) -> rusqlite::Result<usize>,
    ) -> rusqlite::Result<Outcome> {
        let merged = |changed: usize| if changed == 1 { Outcome::Updated } else { Outcome::Skipped };
        if let Some(keys) = &mut self.keys
            && let Some(rowid) = table(keys).find(&self.conn, key)?
        {
            return Ok(merged(merge(&self.conn, statements.merge_at_rowid, &rowid)?));
        }
        if insert(&self.conn)? == 1 {
            if let Some(keys) = &mut self.keys {
                table(keys).record(key, self.conn.last_insert_rowid());
            }
            return Ok(Outcome::Written);
        }
        Ok(merged(merge(&self.conn, statements.merge, &key)?))
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

/// How a keyed table merges a row seen again: by its key, or by rowid while a first import builds
/// the store without its unique keys.
struct KeyedStatements {
    merge: &'static str,
    merge_at_rowid: &'static str,
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
