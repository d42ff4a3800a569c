//! Stores as schema 7 held them: the writer of schemas 5 to 7, and a schema-7 store's rows read
//! back in a form the views of later schemas can be compared with.

use hindcast_core::materialize::RowBatch;
use rusqlite::Connection;

/// The merges of that writer: a session seen again fills gaps and widens its span; a message
/// takes the fuller frame; a billed response takes the copy with the most output tokens.
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

const MERGE_MESSAGE: &str = "UPDATE messages SET raw_frame = ?2, tool_calls = max(tool_calls, ?3) WHERE message_id = ?1 \
    AND tool_calls <= ?3 AND length(coalesce(raw_frame, '')) < length(coalesce(?2, ''))";
const MERGE_USAGE: &str = "UPDATE usage SET \
    input_tokens = iif(output_tokens < ?3, ?2, input_tokens), \
    cache_read_tokens = iif(output_tokens < ?3, ?4, cache_read_tokens), \
    cache_creation_tokens = iif(output_tokens < ?3, ?5, cache_creation_tokens), \
    reasoning_tokens = iif(output_tokens < ?3, ?6, reasoning_tokens), \
    output_tokens = max(output_tokens, ?3), \
    session_id = iif(message_id IS NULL AND ?7 IS NOT NULL, ?8, session_id), \
    source_path_sha256 = iif(message_id IS NULL AND ?7 IS NOT NULL, ?9, source_path_sha256), \
    message_id = coalesce(message_id, ?7) WHERE usage_id = ?1 \
    AND (output_tokens < ?3 OR (message_id IS NULL AND ?7 IS NOT NULL))";

/// Writes `batch` as the writer of schemas 5 to 7 did (its statements and merges), into the
/// tables those versions had.
pub fn write_rows(conn: &Connection, batch: &RowBatch) {
    for row in &batch.sessions {
        let values = rusqlite::params![
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
        let inserted = conn
            .execute(
                "INSERT INTO sessions (session_id, client, native_id, title, cwd, git_branch, git_commit, \
                 git_origin_url, git_dirty, client_version, entrypoint, models, permission_mode, sandbox_mode, \
                 approval_mode, started_at, ended_at, parent_session_id, relationship, parent_tool_call_id, metadata, \
                 provider, source_path_sha256, first_run_id, project_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
                 ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) ON CONFLICT DO NOTHING",
                values,
            )
            .unwrap();
        if inserted == 0 {
            let mut merge: Vec<&dyn rusqlite::ToSql> = values[..21].to_vec();
            merge.push(values[24]);
            conn.execute(MERGE_SESSION, &merge[..]).unwrap();
        }
    }
    for row in &batch.messages {
        let inserted = conn
            .execute(
                "INSERT INTO messages (message_id, session_id, parent_message_id, seq, role, timestamp, model, \
                 is_sidechain, is_meta, is_injected, is_compact_summary, is_compact_boundary, is_api_error, \
                 identity_source, raw_frame, provider, source_path_sha256, native_id, first_run_id, is_user_prompt, \
                 tool_calls, is_subagent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
                 ?16, ?17, ?18, ?19, ?20, ?21, ?22) ON CONFLICT DO NOTHING",
                rusqlite::params![
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
                ],
            )
            .unwrap();
        if inserted == 0 {
            conn.execute(MERGE_MESSAGE, rusqlite::params![row.message_id, row.raw_frame, row.tool_calls]).unwrap();
        }
    }
    for row in &batch.parts {
        conn.execute(
            "INSERT INTO parts (part_id, message_id, part_index, kind, text, tool_name, tool_call_id, tool_input, \
             is_error, metadata, provider, source_path_sha256, native_id, first_run_id) VALUES (?1, ?2, ?3, ?4, ?5, \
             ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT DO NOTHING",
            rusqlite::params![
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
            ],
        )
        .unwrap();
    }
    for row in &batch.usage {
        let inserted = conn
            .execute(
                "INSERT INTO usage (usage_id, session_id, message_id, model, timestamp, input_tokens, output_tokens, \
                 cache_read_tokens, cache_creation_tokens, reasoning_tokens, provider, source_path_sha256, native_id, \
                 first_run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                 ON CONFLICT DO NOTHING",
                rusqlite::params![
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
                ],
            )
            .unwrap();
        if inserted == 0 {
            conn.execute(
                MERGE_USAGE,
                rusqlite::params![
                    row.usage_id,
                    row.input_tokens,
                    row.output_tokens,
                    row.cache_read_tokens,
                    row.cache_creation_tokens,
                    row.reasoning_tokens,
                    row.message_id,
                    row.session_id,
                    row.provenance.source_path_sha256,
                ],
            )
            .unwrap();
        }
    }
}

/// A store at schema version 5 at `path` (the tables of schema 7 before migration 6 rebuilt
/// three of them, same columns), holding `batches` as that release wrote them; opening it with
/// `Store::open` upgrades it. Its connection is returned open.
pub fn store_at_version_5(path: &std::path::Path, batches: &[RowBatch]) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT").unwrap();
    for migration in &hindcast_store::schema::MIGRATIONS[..5] {
        assert!(migration.rebuilt_tables.is_empty());
        conn.execute_batch(migration.sql).unwrap();
    }
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '5')", []).unwrap();
    // (Its triggers fill the rollups as the rows go in.)
    for batch in batches {
        write_rows(&conn, batch);
    }
    conn
}

/// The columns of schema 7's content tables that later schemas show under the same names in the
/// views of those names (`parts.part_id`, derived from its message and position, is not stored).
pub const COMPARED_COLUMNS: &[(&str, &[&str])] = &[
    (
        "sessions",
        &[
            "session_id",
            "client",
            "native_id",
            "title",
            "cwd",
            "git_branch",
            "git_commit",
            "git_origin_url",
            "git_dirty",
            "client_version",
            "entrypoint",
            "models",
            "permission_mode",
            "sandbox_mode",
            "approval_mode",
            "started_at",
            "ended_at",
            "parent_session_id",
            "relationship",
            "parent_tool_call_id",
            "metadata",
            "provider",
            "source_path_sha256",
            "first_run_id",
            "project_key",
        ],
    ),
    (
        "messages",
        &[
            "message_id",
            "session_id",
            "parent_message_id",
            "seq",
            "role",
            "timestamp",
            "model",
            "is_sidechain",
            "is_meta",
            "is_injected",
            "is_compact_summary",
            "is_compact_boundary",
            "is_api_error",
            "identity_source",
            "raw_frame",
            "provider",
            "source_path_sha256",
            "native_id",
            "first_run_id",
            "is_user_prompt",
            "tool_calls",
            "is_subagent",
        ],
    ),
    (
        "parts",
        &[
            "message_id",
            "part_index",
            "kind",
            "text",
            "tool_name",
            "tool_call_id",
            "tool_input",
            "is_error",
            "metadata",
            "provider",
            "source_path_sha256",
            "native_id",
            "first_run_id",
        ],
    ),
    (
        "usage",
        &[
            "usage_id",
            "session_id",
            "message_id",
            "model",
            "timestamp",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "reasoning_tokens",
            "provider",
            "source_path_sha256",
            "native_id",
            "first_run_id",
        ],
    ),
    (
        "daily_rollup",
        &[
            "day",
            "client",
            "model",
            "sessions",
            "user_prompts",
            "messages",
            "tool_calls",
            "subagent_messages",
            "responses",
            "input_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "output_tokens",
            "reasoning_tokens",
        ],
    ),
    ("daily_projects", &["day", "project", "client"]),
];

/// The rows of `table` (one of [`COMPARED_COLUMNS`]) as comparable text, sorted: message and
/// usage ids cut to the 32 digits schema 8 keeps, raw frames as canonical JSON (keys sorted), so
/// a frame restored by a later schema compares equal to the one the client wrote.
pub fn comparable_rows(conn: &Connection, table: &str) -> Vec<String> {
    let (_, columns) = COMPARED_COLUMNS.iter().find(|(name, _)| *name == table).expect("a compared table");
    let exists: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE name = ?1", [table], |row| row.get(0)).unwrap();
    // Schema 9 keeps the daily rollups per quarter hour: their days are what the days held.
    let source = match table {
        "daily_rollup" if !exists => "(SELECT substr(quarter, 1, 10) AS day, client, model, sum(sessions) AS sessions, \
             sum(user_prompts) AS user_prompts, sum(messages) AS messages, sum(tool_calls) AS tool_calls, \
             sum(subagent_messages) AS subagent_messages, sum(responses) AS responses, sum(input_tokens) AS input_tokens, \
             sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, \
             sum(output_tokens) AS output_tokens, sum(reasoning_tokens) AS reasoning_tokens \
             FROM quarter_rollup GROUP BY 1, 2, 3)"
            .to_string(),
        "daily_projects" if !exists => {
            "(SELECT DISTINCT substr(quarter, 1, 10) AS day, project, client FROM quarter_projects)".to_string()
        }
        _ => table.to_string(),
    };
    let mut statement = conn.prepare(&format!("SELECT {} FROM {source}", columns.join(", "))).unwrap();
    let mut rows: Vec<String> = statement
        .query_map([], |row| {
            let mut text = String::new();
            for (index, column) in columns.iter().enumerate() {
                let mut value: rusqlite::types::Value = row.get(index)?;
                if let rusqlite::types::Value::Text(id) = &mut value
                    && matches!(
                        (table, *column),
                        ("messages" | "parts" | "usage", "message_id" | "parent_message_id" | "usage_id")
                    )
                {
                    id.truncate(32);
                }
                if let rusqlite::types::Value::Text(frame) = &mut value
                    && *column == "raw_frame"
                    && let Ok(json) = serde_json::from_str::<serde_json::Value>(frame)
                {
                    *frame = json.to_string();
                }
                text.push_str(&format!("{value:?}\u{1f}"));
            }
            Ok(text)
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}
