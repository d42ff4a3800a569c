//! Schema 8, the compact store: integer keys between sessions, messages, parts and usage, the
//! sha256 identities kept once as BLOB keys, provenance in `origin` and `run`, enumerations as
//! small integers, raw frames without what a column or their session's context holds
//! (`frame.rs`); the tables of schema 7 become views of the same names and columns. `convert`
//! moves the rows of a schema-7 store into it (rowids kept: messages, parts and usage keep their
//! order).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};

use crate::frame;

/// The names of `messages.role` and `parts.kind`, by the code the tables store (its index + 1).
pub const ROLES: [&str; 6] = ["user", "assistant", "system", "developer", "tool", "other"];
pub const PART_KINDS: [&str; 6] = ["text", "thinking", "tool_call", "tool_result", "image", "other"];

/// The code stored for `name` in `list` (`ROLES`, `PART_KINDS`); 0 for a name it does not hold,
/// which the tables' references to `role` and `part_kind` refuse.
pub fn code(list: &[&str; 6], name: &str) -> i64 {
    list.iter().position(|known| *known == name).map_or(0, |at| at as i64 + 1)
}

/// Bytes of a message or usage key: the first half of its sha256 (collisions need about 2^64 rows).
pub const KEY_BYTES: usize = 16;

/// The tables of schema 8 (created beside those of schema 7, which `convert` then drops).
pub const CREATE_TABLES: &str = r#"
CREATE TABLE run (
    run          INTEGER PRIMARY KEY,
    run_id       TEXT NOT NULL UNIQUE,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL,
    providers    TEXT NOT NULL,
    since        TEXT,
    until        TEXT
) STRICT;

CREATE TABLE origin (
    origin       INTEGER PRIMARY KEY,
    provider     TEXT NOT NULL,
    path_sha256  TEXT NOT NULL,
    UNIQUE (provider, path_sha256)
) STRICT;

CREATE TABLE role (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
INSERT INTO role VALUES (1, 'user'), (2, 'assistant'), (3, 'system'), (4, 'developer'), (5, 'tool'), (6, 'other');
CREATE TABLE part_kind (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
INSERT INTO part_kind VALUES (1, 'text'), (2, 'thinking'), (3, 'tool_call'), (4, 'tool_result'), (5, 'image'), (6, 'other');

CREATE TABLE session (
    session             INTEGER PRIMARY KEY,
    session_key         BLOB NOT NULL UNIQUE,
    client              TEXT NOT NULL,
    native_id           TEXT NOT NULL,
    title               TEXT,
    cwd                 TEXT,
    git_branch          TEXT,
    git_commit          TEXT,
    git_origin_url      TEXT,
    git_dirty           INTEGER,
    client_version      TEXT,
    entrypoint          TEXT,
    models              TEXT NOT NULL DEFAULT '[]',
    permission_mode     TEXT,
    sandbox_mode        TEXT,
    approval_mode       TEXT,
    started_at          TEXT,
    ended_at            TEXT,
    parent_session_key  BLOB,
    relationship        TEXT CHECK (relationship IN ('subagent', 'continuation', 'fork', 'sidechain')),
    parent_tool_call_id TEXT,
    metadata            TEXT NOT NULL DEFAULT '{}',
    project_key         TEXT,
    origin              INTEGER NOT NULL REFERENCES origin,
    first_run           INTEGER NOT NULL REFERENCES run,
    UNIQUE (client, native_id)
) STRICT;

CREATE TABLE frame_context (
    context  INTEGER PRIMARY KEY,
    fields   TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE message (
    message             INTEGER PRIMARY KEY,
    message_key         BLOB NOT NULL,
    session             INTEGER NOT NULL REFERENCES session,
    parent_key          BLOB,
    seq                 INTEGER NOT NULL,
    role                INTEGER NOT NULL REFERENCES role CHECK (role BETWEEN 1 AND 6),
    timestamp           TEXT,
    model               TEXT,
    is_sidechain        INTEGER NOT NULL DEFAULT 0,
    is_meta             INTEGER NOT NULL DEFAULT 0,
    is_injected         INTEGER NOT NULL DEFAULT 0,
    is_compact_summary  INTEGER NOT NULL DEFAULT 0,
    is_compact_boundary INTEGER NOT NULL DEFAULT 0,
    is_api_error        INTEGER NOT NULL DEFAULT 0,
    is_user_prompt      INTEGER NOT NULL DEFAULT 0,
    tool_calls          INTEGER NOT NULL DEFAULT 0,
    is_subagent         INTEGER NOT NULL DEFAULT 0,
    identity_fallback   INTEGER NOT NULL DEFAULT 0,
    native_id           TEXT,
    raw_frame           TEXT,
    frame_context       INTEGER REFERENCES frame_context,
    frame_elided        INTEGER NOT NULL DEFAULT 0,
    frame_length        INTEGER NOT NULL DEFAULT 0,
    origin              INTEGER NOT NULL REFERENCES origin,
    first_run           INTEGER NOT NULL REFERENCES run
) STRICT;

CREATE TABLE part (
    part          INTEGER PRIMARY KEY,
    message       INTEGER NOT NULL REFERENCES message,
    part_index    INTEGER NOT NULL,
    kind          INTEGER NOT NULL REFERENCES part_kind CHECK (kind BETWEEN 1 AND 6),
    text          TEXT,
    tool_name     TEXT,
    tool_call_id  TEXT,
    tool_input    TEXT,
    is_error      INTEGER,
    metadata      TEXT,
    origin        INTEGER REFERENCES origin,
    native_id     TEXT,
    first_run     INTEGER REFERENCES run
) STRICT;

CREATE TABLE token_usage (
    usage                    INTEGER PRIMARY KEY,
    usage_key                BLOB NOT NULL,
    session                  INTEGER NOT NULL REFERENCES session,
    message_key              BLOB,
    model                    TEXT,
    timestamp                TEXT,
    input_tokens             INTEGER NOT NULL,
    output_tokens            INTEGER NOT NULL,
    cache_read_tokens        INTEGER NOT NULL,
    cache_creation_tokens    INTEGER NOT NULL,
    reasoning_tokens         INTEGER NOT NULL,
    cache_creation_5m_tokens INTEGER,
    cache_creation_1h_tokens INTEGER,
    service_tier             TEXT,
    speed                    TEXT,
    native_id                TEXT,
    origin                   INTEGER NOT NULL REFERENCES origin,
    first_run                INTEGER NOT NULL REFERENCES run
) STRICT;
"#;

/// A hex id of a key column, NULL for NULL.
macro_rules! hex_id {
    ($column:literal) => {
        concat!("iif(", $column, " IS NULL, NULL, lower(hex(", $column, ")))")
    };
}

/// Indexes, triggers and views of schema 8.
pub const CREATE_DEPENDENTS: &str = concat!(
    r#"
CREATE INDEX session_started_at ON session (started_at);
CREATE INDEX session_parent ON session (parent_session_key);
CREATE UNIQUE INDEX message_key ON message (message_key);
CREATE INDEX message_session ON message (session, seq);
CREATE INDEX message_timestamp ON message (timestamp);
CREATE UNIQUE INDEX part_position ON part (message, part_index);
CREATE INDEX part_tool_call ON part (tool_call_id) WHERE tool_call_id IS NOT NULL;
CREATE UNIQUE INDEX usage_key ON token_usage (usage_key);
CREATE INDEX usage_session ON token_usage (session);
CREATE INDEX usage_timestamp ON token_usage (timestamp);
CREATE INDEX usage_message ON token_usage (message_key) WHERE message_key IS NOT NULL;

CREATE TRIGGER rollup_session_insert AFTER INSERT ON session WHEN NEW.started_at >= '2024-01-01' BEGIN
    INSERT INTO daily_rollup (day, client, model, sessions) VALUES (substr(NEW.started_at, 1, 10), NEW.client, '', 1)
    ON CONFLICT DO UPDATE SET sessions = sessions + 1;
    INSERT OR IGNORE INTO daily_projects (day, project, client)
    SELECT substr(NEW.started_at, 1, 10), NEW.project_key, NEW.client WHERE NEW.project_key IS NOT NULL;
END;

CREATE TRIGGER rollup_session_start_moved AFTER UPDATE OF started_at ON session
WHEN OLD.started_at IS NOT NEW.started_at BEGIN
    UPDATE daily_rollup SET sessions = sessions - 1
    WHERE OLD.started_at >= '2024-01-01' AND day = substr(OLD.started_at, 1, 10) AND client = OLD.client AND model = '';
    INSERT INTO daily_rollup (day, client, model, sessions)
    SELECT substr(NEW.started_at, 1, 10), NEW.client, '', 1 WHERE NEW.started_at >= '2024-01-01'
    ON CONFLICT DO UPDATE SET sessions = sessions + 1;
    INSERT OR IGNORE INTO daily_projects (day, project, client)
    SELECT substr(NEW.started_at, 1, 10), NEW.project_key, NEW.client WHERE NEW.project_key IS NOT NULL AND NEW.started_at >= '2024-01-01';
END;

CREATE TRIGGER rollup_message_insert AFTER INSERT ON message WHEN NEW.timestamp >= '2024-01-01' BEGIN
    INSERT INTO daily_rollup (day, client, model, messages, user_prompts, tool_calls, subagent_messages)
    SELECT substr(NEW.timestamp, 1, 10), s.client, '', 1, NEW.is_user_prompt, NEW.tool_calls, NEW.is_subagent
    FROM session s WHERE s.session = NEW.session
    ON CONFLICT DO UPDATE SET messages = messages + 1, user_prompts = user_prompts + excluded.user_prompts,
        tool_calls = tool_calls + excluded.tool_calls, subagent_messages = subagent_messages + excluded.subagent_messages;
    INSERT OR IGNORE INTO daily_projects (day, project, client)
    SELECT substr(NEW.timestamp, 1, 10), s.project_key, s.client FROM session s
    WHERE s.session = NEW.session AND s.project_key IS NOT NULL;
END;

CREATE TRIGGER rollup_message_tool_calls AFTER UPDATE OF tool_calls ON message
WHEN NEW.timestamp >= '2024-01-01' AND NEW.tool_calls != OLD.tool_calls BEGIN
    UPDATE daily_rollup SET tool_calls = tool_calls + NEW.tool_calls - OLD.tool_calls
    WHERE day = substr(NEW.timestamp, 1, 10) AND model = ''
      AND client = (SELECT client FROM session WHERE session = NEW.session);
END;

CREATE TRIGGER rollup_usage_insert AFTER INSERT ON token_usage WHEN NEW.timestamp >= '2024-01-01' BEGIN
    INSERT INTO daily_rollup (day, client, model, responses, input_tokens, cache_read_tokens, cache_creation_tokens, output_tokens, reasoning_tokens)
    SELECT substr(NEW.timestamp, 1, 10), s.client, coalesce(NEW.model, 'unknown'), 1, NEW.input_tokens, NEW.cache_read_tokens,
        NEW.cache_creation_tokens, NEW.output_tokens, NEW.reasoning_tokens
    FROM session s WHERE s.session = NEW.session
    ON CONFLICT DO UPDATE SET responses = responses + 1, input_tokens = input_tokens + excluded.input_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
        output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens;
END;

CREATE TRIGGER rollup_usage_update AFTER UPDATE ON token_usage WHEN OLD.timestamp >= '2024-01-01' BEGIN
    UPDATE daily_rollup SET
        input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,
        cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens - OLD.cache_read_tokens,
        cache_creation_tokens = cache_creation_tokens + NEW.cache_creation_tokens - OLD.cache_creation_tokens,
        output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,
        reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens - OLD.reasoning_tokens
    WHERE day = substr(OLD.timestamp, 1, 10) AND model = coalesce(OLD.model, 'unknown')
      AND client = (SELECT client FROM session WHERE session = OLD.session);
END;

-- The tables of schema 7, as views: the same names and columns, ids in hex.
CREATE VIEW runs AS SELECT run_id, started_at, finished_at, status, providers, since, until FROM run;

CREATE VIEW sessions AS
SELECT lower(hex(s.session_key)) AS session_id, s.client, s.native_id, s.title, s.cwd, s.git_branch, s.git_commit,
    s.git_origin_url, s.git_dirty, s.client_version, s.entrypoint, s.models, s.permission_mode, s.sandbox_mode,
    s.approval_mode, s.started_at, s.ended_at, "#,
    hex_id!("s.parent_session_key"),
    r#" AS parent_session_id, s.relationship, s.parent_tool_call_id,
    s.metadata, o.provider, o.path_sha256 AS source_path_sha256, r.run_id AS first_run_id, s.project_key
FROM session s JOIN origin o ON o.origin = s.origin JOIN run r ON r.run = s.first_run;

CREATE VIEW messages AS
SELECT lower(hex(m.message_key)) AS message_id, lower(hex(s.session_key)) AS session_id, "#,
    hex_id!("m.parent_key"),
    r#" AS parent_message_id,
    m.seq, ro.name AS role, m.timestamp, m.model, m.is_sidechain, m.is_meta, m.is_injected, m.is_compact_summary,
    m.is_compact_boundary, m.is_api_error, iif(m.identity_fallback, 'fallback', 'native') AS identity_source,
    "#,
    restore_frame_sql!(),
    r#" AS raw_frame, o.provider, o.path_sha256 AS source_path_sha256, m.native_id, r.run_id AS first_run_id,
    m.is_user_prompt, m.tool_calls, m.is_subagent
FROM message m JOIN session s ON s.session = m.session JOIN role ro ON ro.code = m.role
JOIN origin o ON o.origin = m.origin JOIN run r ON r.run = m.first_run
LEFT JOIN frame_context c ON c.context = m.frame_context LEFT JOIN message p ON p.message_key = m.parent_key;

CREATE VIEW parts AS
SELECT lower(hex(m.message_key)) AS message_id, p.part_index, k.name AS kind, p.text, p.tool_name, p.tool_call_id,
    p.tool_input, p.is_error, p.metadata, o.provider, o.path_sha256 AS source_path_sha256,
    iif(p.native_id IS NULL, m.native_id, nullif(p.native_id, '')) AS native_id, r.run_id AS first_run_id
FROM part p JOIN message m ON m.message = p.message JOIN part_kind k ON k.code = p.kind
JOIN origin o ON o.origin = coalesce(p.origin, m.origin) JOIN run r ON r.run = coalesce(p.first_run, m.first_run);

CREATE VIEW usage AS
SELECT lower(hex(u.usage_key)) AS usage_id, lower(hex(s.session_key)) AS session_id, "#,
    hex_id!("u.message_key"),
    r#" AS message_id,
    u.model, u.timestamp, u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens,
    u.reasoning_tokens, o.provider, o.path_sha256 AS source_path_sha256, u.native_id, r.run_id AS first_run_id,
    u.cache_creation_5m_tokens, u.cache_creation_1h_tokens, u.service_tier, u.speed
FROM token_usage u JOIN session s ON s.session = u.session JOIN origin o ON o.origin = u.origin
JOIN run r ON r.run = u.first_run;

-- References whose target is imported, readable from either side.
CREATE VIEW session_links AS
SELECT r.session_id AS session_id, r.kind AS kind, r.target_session_id AS linked_session_id, 'outgoing' AS direction
FROM session_refs r JOIN session t ON lower(hex(t.session_key)) = r.target_session_id
UNION ALL
SELECT r.target_session_id, r.kind, r.session_id, 'incoming'
FROM session_refs r JOIN session t ON lower(hex(t.session_key)) = r.target_session_id;

-- Readable views for SQL users.
CREATE VIEW conversation AS
SELECT lower(hex(s.session_key)) AS session_id, s.client, s.native_id AS session_native_id, m.seq, m.timestamp,
    ro.name AS role, p.part_index, k.name AS kind, p.text, p.tool_name, p.tool_call_id, p.tool_input, p.is_error,
    m.is_sidechain, m.is_meta, m.is_injected, m.is_user_prompt
FROM message m JOIN session s ON s.session = m.session JOIN role ro ON ro.code = m.role
JOIN part p ON p.message = m.message JOIN part_kind k ON k.code = p.kind;

CREATE VIEW prompts AS
SELECT lower(hex(s.session_key)) AS session_id, s.client, s.native_id AS session_native_id, s.project_key AS project,
    m.seq, m.timestamp,
    (SELECT group_concat(p.text, char(10)) FROM part p WHERE p.message = m.message AND p.kind = 1) AS text
FROM message m JOIN session s ON s.session = m.session WHERE m.is_user_prompt;

CREATE VIEW tool_calls AS
SELECT lower(hex(s.session_key)) AS session_id, s.client, m.seq, m.timestamp, c.tool_name, c.tool_call_id,
    c.tool_input, r.text AS result, r.is_error, rm.timestamp AS result_timestamp
FROM part c JOIN message m ON m.message = c.message JOIN session s ON s.session = m.session
LEFT JOIN part r ON r.kind = 4 AND r.tool_call_id = c.tool_call_id
    AND r.message IN (SELECT message FROM message WHERE session = m.session)
LEFT JOIN message rm ON rm.message = r.message
WHERE c.kind = 3;

CREATE VIEW session_summary AS
SELECT lower(hex(s.session_key)) AS session_id, s.client, s.native_id, s.title, s.project_key AS project, s.cwd,
    s.git_branch, s.started_at, s.ended_at, s.relationship, "#,
    hex_id!("s.parent_session_key"),
    r#" AS parent_session_id,
    (SELECT count(*) FROM message m WHERE m.session = s.session) AS messages,
    (SELECT coalesce(sum(m.is_user_prompt), 0) FROM message m WHERE m.session = s.session) AS user_prompts,
    (SELECT coalesce(sum(m.tool_calls), 0) FROM message m WHERE m.session = s.session) AS tool_calls,
    (SELECT count(*) FROM token_usage u WHERE u.session = s.session) AS responses,
    (SELECT coalesce(sum(u.input_tokens), 0) FROM token_usage u WHERE u.session = s.session) AS input_tokens,
    (SELECT coalesce(sum(u.cache_read_tokens), 0) FROM token_usage u WHERE u.session = s.session) AS cache_read_tokens,
    (SELECT coalesce(sum(u.cache_creation_tokens), 0) FROM token_usage u WHERE u.session = s.session) AS cache_creation_tokens,
    (SELECT coalesce(sum(u.output_tokens), 0) FROM token_usage u WHERE u.session = s.session) AS output_tokens,
    (SELECT coalesce(sum(u.reasoning_tokens), 0) FROM token_usage u WHERE u.session = s.session) AS reasoning_tokens
FROM session s;
"#
);

/// A Claude usage frame's field as a token count (`hindcast_core::model::token_count`), NULL when
/// absent or null.
macro_rules! frame_count {
    ($path:literal) => {
        concat!(
            "CASE json_type(f.raw_frame, '",
            $path,
            "') WHEN 'null' THEN NULL WHEN 'integer' THEN ",
            "iif(json_extract(f.raw_frame, '",
            $path,
            "') BETWEEN 0 AND 1000000000000000, json_extract(f.raw_frame, '",
            $path,
            "'), 0) ",
            "ELSE iif(json_type(f.raw_frame, '",
            $path,
            "') IS NULL, NULL, 0) END"
        )
    };
}

/// Moves the rows of schema 7's tables into schema 8's (created by [`CREATE_TABLES`]), drops the
/// old tables and creates [`CREATE_DEPENDENTS`].
pub fn convert(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        r#"
INSERT INTO run (run_id, started_at, finished_at, status, providers, since, until)
SELECT run_id, started_at, finished_at, status, providers, since, until FROM runs ORDER BY rowid;
INSERT OR IGNORE INTO run (run_id, started_at, status, providers)
SELECT first_run_id, '', 'unrecorded', '[]' FROM (SELECT first_run_id FROM sessions UNION SELECT first_run_id FROM messages
UNION SELECT first_run_id FROM parts UNION SELECT first_run_id FROM usage) ORDER BY 1;
INSERT OR IGNORE INTO origin (provider, path_sha256)
SELECT provider, source_path_sha256 FROM sessions UNION SELECT provider, source_path_sha256 FROM messages
UNION SELECT provider, source_path_sha256 FROM parts UNION SELECT provider, source_path_sha256 FROM usage;
INSERT INTO session (session, session_key, client, native_id, title, cwd, git_branch, git_commit, git_origin_url, git_dirty,
    client_version, entrypoint, models, permission_mode, sandbox_mode, approval_mode, started_at, ended_at,
    parent_session_key, relationship, parent_tool_call_id, metadata, project_key, origin, first_run)
SELECT s.rowid, unhex(s.session_id), s.client, s.native_id, s.title, s.cwd, s.git_branch, s.git_commit, s.git_origin_url,
    s.git_dirty, s.client_version, s.entrypoint, s.models, s.permission_mode, s.sandbox_mode, s.approval_mode,
    s.started_at, s.ended_at, unhex(s.parent_session_id), s.relationship, s.parent_tool_call_id, s.metadata,
    s.project_key, o.origin, r.run
FROM sessions s JOIN origin o ON o.provider = s.provider AND o.path_sha256 = s.source_path_sha256
JOIN run r ON r.run_id = s.first_run_id ORDER BY s.rowid;
"#,
    )?;
    convert_messages(tx)?;
    tx.execute_batch(concat!(
        r#"
CREATE INDEX temp.convert_message_ids_by_id ON convert_message_ids (message_id);
INSERT INTO part (part, message, part_index, kind, text, tool_name, tool_call_id, tool_input, is_error, metadata,
    origin, native_id, first_run)
SELECT p.rowid, m.message, p.part_index, k.code, p.text, p.tool_name, p.tool_call_id, p.tool_input, p.is_error, p.metadata,
    nullif(o.origin, mm.origin), iif(p.native_id IS mm.native_id, NULL, coalesce(p.native_id, '')), nullif(r.run, mm.first_run)
FROM parts p JOIN convert_message_ids m ON m.message_id = p.message_id JOIN message mm ON mm.message = m.message
JOIN part_kind k ON k.name = p.kind
JOIN origin o ON o.provider = p.provider AND o.path_sha256 = p.source_path_sha256
JOIN run r ON r.run_id = p.first_run_id ORDER BY p.rowid;
INSERT INTO token_usage (usage, usage_key, session, message_key, model, timestamp, input_tokens, output_tokens,
    cache_read_tokens, cache_creation_tokens, reasoning_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
    service_tier, speed, native_id, origin, first_run)
SELECT u.rowid, substr(unhex(u.usage_id), 1, 16), s.session, substr(unhex(u.message_id), 1, 16), u.model, u.timestamp,
    u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens, u.reasoning_tokens, "#,
        frame_count!("$.message.usage.cache_creation.ephemeral_5m_input_tokens"),
        ", ",
        frame_count!("$.message.usage.cache_creation.ephemeral_1h_input_tokens"),
        r#",
    iif(json_type(f.raw_frame, '$.message.usage.service_tier') = 'text', json_extract(f.raw_frame, '$.message.usage.service_tier'), NULL),
    iif(json_type(f.raw_frame, '$.message.usage.speed') = 'text', json_extract(f.raw_frame, '$.message.usage.speed'), NULL),
    u.native_id, o.origin, r.run
FROM usage u JOIN session s ON s.session_key = unhex(u.session_id)
JOIN origin o ON o.provider = u.provider AND o.path_sha256 = u.source_path_sha256
JOIN run r ON r.run_id = u.first_run_id
LEFT JOIN messages f ON f.message_id = u.message_id AND json_valid(f.raw_frame) ORDER BY u.rowid;
"#
    ))?;
    // Every row found its session, message, origin and run.
    for (old, new) in [("sessions", "session"), ("messages", "message"), ("parts", "part"), ("usage", "token_usage")] {
        let count =
            |table: &str| tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get::<_, i64>(0));
        let (before, after) = (count(old)?, count(new)?);
        if before != after {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                Some(format!(
                    "{old}: {before} rows, {after} after the conversion (a row without its session or message)"
                )),
            ));
        }
    }
    tx.execute_batch(
        "DROP VIEW session_links; DROP TABLE parts; DROP TABLE usage; DROP TABLE messages; DROP TABLE sessions; \
         DROP TABLE runs; DROP TABLE temp.convert_message_ids;",
    )?;
    tx.execute_batch(CREATE_DEPENDENTS)?;
    hindcast_core::failpoint::hit(hindcast_core::failpoint::UPGRADE_CONVERTED);
    Ok(())
}

/// Messages one by one: each frame split as `frame::store` does on import.
fn convert_messages(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("CREATE TEMP TABLE convert_message_ids (message_id TEXT NOT NULL, message INTEGER NOT NULL)")?;
    let mut contexts = FrameContexts::default();
    let mut select = tx.prepare(
        "SELECT m.rowid, m.message_id, s.session, m.parent_message_id, m.seq, ro.code, m.timestamp, m.model, m.is_sidechain, \
         m.is_meta, m.is_injected, m.is_compact_summary, m.is_compact_boundary, m.is_api_error, m.is_user_prompt, \
         m.tool_calls, m.is_subagent, m.identity_source = 'fallback', m.native_id, m.raw_frame, o.origin, r.run \
         FROM messages m JOIN session s ON s.session_key = unhex(m.session_id) JOIN role ro ON ro.name = m.role \
         JOIN origin o ON o.provider = m.provider AND o.path_sha256 = m.source_path_sha256 \
         JOIN run r ON r.run_id = m.first_run_id ORDER BY m.rowid",
    )?;
    let mut insert = tx.prepare(INSERT_MESSAGE)?;
    let mut remember = tx.prepare("INSERT INTO convert_message_ids VALUES (?1, ?2)")?;
    let mut parent_native = tx.prepare("SELECT native_id FROM messages WHERE message_id = ?1")?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let message_id: String = row.get(1)?;
        let parent: Option<String> = row.get(3)?;
        let timestamp: Option<String> = row.get(6)?;
        let native_id: Option<String> = row.get(18)?;
        let raw_frame: Option<String> = row.get(19)?;
        let parent_native_id: Option<String> = match parent.as_deref() {
            Some(parent) => parent_native.query_row([parent], |row| row.get(0)).optional()?.flatten(),
            None => None,
        };
        let columns = frame::FrameColumns {
            native_id: native_id.as_deref(),
            timestamp: timestamp.as_deref(),
            parent_native_id: parent_native_id.as_deref(),
        };
        let stored = raw_frame.as_deref().map(|text| frame::store(text, columns));
        let context = match stored.as_ref().and_then(|stored| stored.context.as_deref()) {
            Some(fields) => Some(contexts.id(tx, fields)?),
            None => None,
        };
        let rowid: i64 = row.get(0)?;
        insert.execute(params![
            rowid,
            key_bytes(&message_id),
            row.get::<_, i64>(2)?,
            parent.as_deref().map(key_bytes),
            row.get::<_, i64>(4)?,
            row.get::<_, i64>(5)?,
            timestamp,
            row.get::<_, Option<String>>(7)?,
            row.get::<_, i64>(8)?,
            row.get::<_, i64>(9)?,
            row.get::<_, i64>(10)?,
            row.get::<_, i64>(11)?,
            row.get::<_, i64>(12)?,
            row.get::<_, i64>(13)?,
            row.get::<_, i64>(14)?,
            row.get::<_, i64>(15)?,
            row.get::<_, i64>(16)?,
            row.get::<_, bool>(17)?,
            native_id,
            stored.as_ref().map(|stored| stored.frame.as_str()),
            context,
            stored.as_ref().map_or(0, |stored| stored.elided),
            raw_frame.as_deref().map_or(0, frame_length),
            row.get::<_, i64>(20)?,
            row.get::<_, i64>(21)?,
        ])?;
        remember.execute(params![message_id, rowid])?;
    }
    Ok(())
}

/// Inserts a message of schema 8 with its rowid (`?1`; NULL lets SQLite choose).
pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO message (message, message_key, session, parent_key, seq, role, \
    timestamp, model, is_sidechain, is_meta, is_injected, is_compact_summary, is_compact_boundary, is_api_error, \
    is_user_prompt, tool_calls, is_subagent, identity_fallback, native_id, raw_frame, frame_context, frame_elided, \
    frame_length, origin, first_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
    ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) ON CONFLICT DO NOTHING";

/// The stored key of a hex id: its first [`KEY_BYTES`] bytes (a session keeps all 32: see
/// [`session_key`]).
pub fn key_bytes(hex_id: &str) -> Vec<u8> {
    let mut bytes = hex::decode(hex_id).unwrap_or_else(|_| hex_id.as_bytes().to_vec());
    bytes.truncate(KEY_BYTES);
    bytes
}

/// The stored key of a session id: its sha256 bytes, whole (session ids are shown and typed).
pub fn session_key(hex_id: &str) -> Vec<u8> {
    hex::decode(hex_id).unwrap_or_else(|_| hex_id.as_bytes().to_vec())
}

/// A frame's length as SQLite's `length()` counts it (characters), which the merge of a
/// message seen again compares.
pub fn frame_length(frame: &str) -> i64 {
    frame.chars().count() as i64
}

/// The `frame_context` rows known so far, by their fields.
#[derive(Debug, Default)]
pub(crate) struct FrameContexts {
    ids: HashMap<String, i64>,
}

impl FrameContexts {
    /// The id of the context holding `fields`, inserted the first time it is seen.
    pub(crate) fn id(&mut self, conn: &rusqlite::Connection, fields: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.ids.get(fields) {
            return Ok(*id);
        }
        conn.prepare_cached("INSERT INTO frame_context (fields) VALUES (?1) ON CONFLICT DO NOTHING")?
            .execute([fields])?;
        let id = conn
            .prepare_cached("SELECT context FROM frame_context WHERE fields = ?1")?
            .query_row([fields], |row| row.get(0))?;
        self.ids.insert(fields.to_string(), id);
        Ok(id)
    }

    /// Forgets what a rollback may have taken away.
    pub(crate) fn clear(&mut self) {
        self.ids.clear();
    }
}
