//! The store schema as an ordered list of forward-only migrations.

/// The daily rollups recomputed from the rows: how migration 3 filled them for existing rows, and
/// how a first import fills them after its rows are written (see [`REBUILD_ROLLUPS`]). Statement
/// for statement what the `rollup_*` triggers add up row by row. It is part of released migration
/// 3's text: a change to the rollups goes into a new migration, not here.
macro_rules! rollups_from_rows {
    () => {
        r#"INSERT INTO daily_rollup (day, client, model, sessions)
SELECT substr(started_at, 1, 10), client, '', count(*) FROM sessions WHERE started_at >= '2024-01-01' GROUP BY 1, 2;
INSERT INTO daily_rollup (day, client, model, messages, user_prompts, tool_calls, subagent_messages)
SELECT substr(m.timestamp, 1, 10), s.client, '', count(*), sum(m.is_user_prompt), sum(m.tool_calls), sum(m.is_subagent)
FROM messages m JOIN sessions s ON s.session_id = m.session_id WHERE m.timestamp >= '2024-01-01' GROUP BY 1, 2
ON CONFLICT DO UPDATE SET messages = excluded.messages, user_prompts = excluded.user_prompts,
    tool_calls = excluded.tool_calls, subagent_messages = excluded.subagent_messages;
INSERT INTO daily_rollup (day, client, model, responses, input_tokens, cache_read_tokens, cache_creation_tokens, output_tokens, reasoning_tokens)
SELECT substr(u.timestamp, 1, 10), s.client, coalesce(u.model, 'unknown'), count(*), sum(u.input_tokens), sum(u.cache_read_tokens),
    sum(u.cache_creation_tokens), sum(u.output_tokens), sum(u.reasoning_tokens)
FROM usage u JOIN sessions s ON s.session_id = u.session_id WHERE u.timestamp >= '2024-01-01' GROUP BY 1, 2, 3
ON CONFLICT DO UPDATE SET responses = excluded.responses, input_tokens = excluded.input_tokens,
    cache_read_tokens = excluded.cache_read_tokens, cache_creation_tokens = excluded.cache_creation_tokens,
    output_tokens = excluded.output_tokens, reasoning_tokens = excluded.reasoning_tokens;
INSERT OR IGNORE INTO daily_projects (day, project, client)
SELECT substr(started_at, 1, 10), project_key, client FROM sessions WHERE started_at >= '2024-01-01' AND project_key IS NOT NULL;
INSERT OR IGNORE INTO daily_projects (day, project, client)
SELECT substr(m.timestamp, 1, 10), s.project_key, s.client FROM messages m JOIN sessions s ON s.session_id = m.session_id
WHERE m.timestamp >= '2024-01-01' AND s.project_key IS NOT NULL;
"#
    };
}

/// One step of the schema: tables recreated under a new definition (if any), then statements.
pub struct Migration {
    /// Tables recreated under a new definition, in order (see [`rebuild_table`]).
    pub rebuilt_tables: &'static [RebuiltTable],
    /// Statements run after the tables are rebuilt.
    pub sql: &'static str,
    /// Whether it asks for the stored rows to be brought to new import rules (`Store::converge`).
    pub converges: bool,
    /// Rows moved into new tables after `sql` ran (in the same transaction).
    pub convert: Option<fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>>,
}

impl Migration {
    const fn statements(sql: &'static str) -> Self {
        Self { rebuilt_tables: &[], sql, converges: false, convert: None }
    }

    /// Whether the store is copied before this migration runs: it rewrites tables or rows.
    pub fn backs_up(&self) -> bool {
        self.rewrites_tables() || self.converges
    }

    /// Whether it leaves the pages of old tables free (see `Store::reclaim_free_pages`).
    pub fn rewrites_tables(&self) -> bool {
        !self.rebuilt_tables.is_empty() || self.convert.is_some()
    }
}

/// A table recreated by a migration: `create` makes it again under the same name with the same
/// columns in the same order, without what the migration takes away (SQLite cannot drop a
/// constraint in place).
pub struct RebuiltTable {
    pub name: &'static str,
    pub create: &'static str,
}

/// Migrations in order; `MIGRATIONS[i]` moves the schema from version `i` to `i + 1`.
/// Never edit a released migration: append a new one.
pub const MIGRATIONS: &[Migration] = &[
    // 1: the messages dataset, runs, provenance on every row.
    Migration::statements(
        r#"
CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL,
    providers    TEXT NOT NULL,
    since        TEXT,
    until        TEXT
) STRICT;

CREATE TABLE sessions (
    session_id          TEXT PRIMARY KEY,
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
    parent_session_id   TEXT,
    relationship        TEXT CHECK (relationship IN ('subagent', 'continuation', 'fork', 'sidechain')),
    parent_tool_call_id TEXT,
    metadata            TEXT NOT NULL DEFAULT '{}',
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    first_run_id        TEXT NOT NULL,
    UNIQUE (client, native_id)
) STRICT;
CREATE INDEX sessions_started_at ON sessions (started_at);
CREATE INDEX sessions_parent ON sessions (parent_session_id);

CREATE TABLE messages (
    message_id          TEXT PRIMARY KEY,
    session_id          TEXT NOT NULL,
    parent_message_id   TEXT,
    seq                 INTEGER NOT NULL,
    role                TEXT NOT NULL,
    timestamp           TEXT,
    model               TEXT,
    is_sidechain        INTEGER NOT NULL DEFAULT 0,
    is_meta             INTEGER NOT NULL DEFAULT 0,
    is_injected         INTEGER NOT NULL DEFAULT 0,
    is_compact_summary  INTEGER NOT NULL DEFAULT 0,
    is_compact_boundary INTEGER NOT NULL DEFAULT 0,
    is_api_error        INTEGER NOT NULL DEFAULT 0,
    identity_source     TEXT NOT NULL CHECK (identity_source IN ('native', 'fallback')),
    raw_frame           TEXT,
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    native_id           TEXT,
    first_run_id        TEXT NOT NULL
) STRICT;
CREATE INDEX messages_session ON messages (session_id, seq);
CREATE INDEX messages_timestamp ON messages (timestamp);

CREATE TABLE parts (
    part_id             TEXT PRIMARY KEY,
    message_id          TEXT NOT NULL,
    part_index          INTEGER NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('text', 'thinking', 'tool_call', 'tool_result', 'image', 'other')),
    text                TEXT,
    tool_name           TEXT,
    tool_call_id        TEXT,
    tool_input          TEXT,
    is_error            INTEGER,
    metadata            TEXT,
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    native_id           TEXT,
    first_run_id        TEXT NOT NULL,
    UNIQUE (message_id, part_index)
) STRICT;
CREATE INDEX parts_tool_call ON parts (tool_call_id) WHERE tool_call_id IS NOT NULL;

CREATE TABLE usage (
    usage_id              TEXT PRIMARY KEY,
    session_id            TEXT NOT NULL,
    message_id            TEXT,
    model                 TEXT,
    timestamp             TEXT,
    input_tokens          INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    cache_read_tokens     INTEGER NOT NULL,
    cache_creation_tokens INTEGER NOT NULL,
    reasoning_tokens      INTEGER NOT NULL,
    provider              TEXT NOT NULL,
    source_path_sha256    TEXT NOT NULL,
    native_id             TEXT,
    first_run_id          TEXT NOT NULL
) STRICT;
CREATE INDEX usage_session ON usage (session_id);
CREATE INDEX usage_timestamp ON usage (timestamp);
"#,
    ),
    // 2: projects, import notes, and references between sessions of different clients.
    Migration::statements(
        r#"
CREATE TABLE projects (
    project_id          TEXT PRIMARY KEY,
    client              TEXT NOT NULL,
    native_id           TEXT NOT NULL,
    path                TEXT,
    display_name        TEXT,
    session_prefix      TEXT,
    default_branch      TEXT,
    registered_at       TEXT,
    settings            TEXT NOT NULL DEFAULT '{}',
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    first_run_id        TEXT NOT NULL,
    UNIQUE (client, native_id)
) STRICT;

CREATE TABLE import_notes (
    note_id             TEXT PRIMARY KEY,
    client              TEXT NOT NULL,
    project_id          TEXT,
    session_id          TEXT,
    field               TEXT NOT NULL,
    note                TEXT NOT NULL,
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    native_id           TEXT,
    first_run_id        TEXT NOT NULL
) STRICT;
CREATE INDEX import_notes_session ON import_notes (session_id);

CREATE TABLE session_refs (
    ref_id              TEXT PRIMARY KEY,
    session_id          TEXT NOT NULL,
    kind                TEXT NOT NULL,
    target_client       TEXT NOT NULL,
    target_native_id    TEXT NOT NULL,
    target_session_id   TEXT NOT NULL,
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    native_id           TEXT,
    first_run_id        TEXT NOT NULL
) STRICT;
CREATE INDEX session_refs_target ON session_refs (target_session_id);

-- References whose target is imported, readable from either side: whichever client was
-- imported first, the link appears as soon as both sessions are in the store.
CREATE VIEW session_links AS
SELECT r.session_id AS session_id, r.kind AS kind, r.target_session_id AS linked_session_id, 'outgoing' AS direction
FROM session_refs r JOIN sessions t ON t.session_id = r.target_session_id
UNION ALL
SELECT r.target_session_id, r.kind, r.session_id, 'incoming'
FROM session_refs r JOIN sessions t ON t.session_id = r.target_session_id;
"#,
    ),
    // 3: daily rollups kept by triggers, so `stats daily` reads days, not rows. Only real inserts
    // fire the triggers, so idempotent reruns never count twice; a usage merge adjusts by its delta.
    Migration::statements(concat!(
        r#"
ALTER TABLE messages ADD COLUMN is_user_prompt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN tool_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN is_subagent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN project_key TEXT;

UPDATE sessions SET project_key = coalesce(json_extract(metadata, '$.project_path'), cwd);
UPDATE messages SET
    tool_calls = (SELECT count(*) FROM parts p WHERE p.message_id = messages.message_id AND p.kind = 'tool_call'),
    is_subagent = (is_sidechain OR coalesce((SELECT relationship FROM sessions s WHERE s.session_id = messages.session_id), '') = 'subagent');
UPDATE messages SET is_user_prompt = (role = 'user' AND NOT is_meta AND NOT is_injected AND NOT is_compact_summary AND NOT is_subagent
    AND EXISTS (SELECT 1 FROM parts p WHERE p.message_id = messages.message_id AND p.kind = 'text')
    AND NOT EXISTS (SELECT 1 FROM parts p WHERE p.message_id = messages.message_id AND p.kind = 'tool_result'));

CREATE TABLE daily_rollup (
    day                   TEXT NOT NULL,
    client                TEXT NOT NULL,
    model                 TEXT NOT NULL,
    sessions              INTEGER NOT NULL DEFAULT 0,
    user_prompts          INTEGER NOT NULL DEFAULT 0,
    messages              INTEGER NOT NULL DEFAULT 0,
    tool_calls            INTEGER NOT NULL DEFAULT 0,
    subagent_messages     INTEGER NOT NULL DEFAULT 0,
    responses             INTEGER NOT NULL DEFAULT 0,
    input_tokens          INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens     INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens         INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, client, model)
) STRICT, WITHOUT ROWID;

CREATE TABLE daily_projects (
    day     TEXT NOT NULL,
    project TEXT NOT NULL,
    client  TEXT NOT NULL,
    PRIMARY KEY (day, project, client)
) STRICT, WITHOUT ROWID;

"#,
        rollups_from_rows!(),
        r#"
CREATE TRIGGER rollup_session_insert AFTER INSERT ON sessions WHEN NEW.started_at >= '2024-01-01' BEGIN
    INSERT INTO daily_rollup (day, client, model, sessions) VALUES (substr(NEW.started_at, 1, 10), NEW.client, '', 1)
    ON CONFLICT DO UPDATE SET sessions = sessions + 1;
    INSERT OR IGNORE INTO daily_projects (day, project, client)
    SELECT substr(NEW.started_at, 1, 10), NEW.project_key, NEW.client WHERE NEW.project_key IS NOT NULL;
END;

CREATE TRIGGER rollup_session_start_moved AFTER UPDATE OF started_at ON sessions
WHEN OLD.started_at IS NOT NEW.started_at BEGIN
    UPDATE daily_rollup SET sessions = sessions - 1
    WHERE OLD.started_at >= '2024-01-01' AND day = substr(OLD.started_at, 1, 10) AND client = OLD.client AND model = '';
    INSERT INTO daily_rollup (day, client, model, sessions)
    SELECT substr(NEW.started_at, 1, 10), NEW.client, '', 1 WHERE NEW.started_at >= '2024-01-01'
    ON CONFLICT DO UPDATE SET sessions = sessions + 1;
    INSERT OR IGNORE INTO daily_projects (day, project, client)
    SELECT substr(NEW.started_at, 1, 10), NEW.project_key, NEW.client WHERE NEW.project_key IS NOT NULL AND NEW.started_at >= '2024-01-01';
END;

CREATE TRIGGER rollup_message_insert AFTER INSERT ON messages WHEN NEW.timestamp >= '2024-01-01' BEGIN
    INSERT INTO daily_rollup (day, client, model, messages, user_prompts, tool_calls, subagent_messages)
    SELECT substr(NEW.timestamp, 1, 10), s.client, '', 1, NEW.is_user_prompt, NEW.tool_calls, NEW.is_subagent
    FROM sessions s WHERE s.session_id = NEW.session_id
    ON CONFLICT DO UPDATE SET messages = messages + 1, user_prompts = user_prompts + excluded.user_prompts,
        tool_calls = tool_calls + excluded.tool_calls, subagent_messages = subagent_messages + excluded.subagent_messages;
    INSERT OR IGNORE INTO daily_projects (day, project, client)
    SELECT substr(NEW.timestamp, 1, 10), s.project_key, s.client FROM sessions s
    WHERE s.session_id = NEW.session_id AND s.project_key IS NOT NULL;
END;

CREATE TRIGGER rollup_usage_insert AFTER INSERT ON usage WHEN NEW.timestamp >= '2024-01-01' BEGIN
    INSERT INTO daily_rollup (day, client, model, responses, input_tokens, cache_read_tokens, cache_creation_tokens, output_tokens, reasoning_tokens)
    SELECT substr(NEW.timestamp, 1, 10), s.client, coalesce(NEW.model, 'unknown'), 1, NEW.input_tokens, NEW.cache_read_tokens,
        NEW.cache_creation_tokens, NEW.output_tokens, NEW.reasoning_tokens
    FROM sessions s WHERE s.session_id = NEW.session_id
    ON CONFLICT DO UPDATE SET responses = responses + 1, input_tokens = input_tokens + excluded.input_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
        output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens;
END;

CREATE TRIGGER rollup_usage_update AFTER UPDATE ON usage WHEN OLD.timestamp >= '2024-01-01' BEGIN
    UPDATE daily_rollup SET
        input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,
        cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens - OLD.cache_read_tokens,
        cache_creation_tokens = cache_creation_tokens + NEW.cache_creation_tokens - OLD.cache_creation_tokens,
        output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,
        reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens - OLD.reasoning_tokens
    WHERE day = substr(OLD.timestamp, 1, 10) AND model = coalesce(OLD.model, 'unknown')
      AND client = (SELECT client FROM sessions WHERE session_id = OLD.session_id);
END;
"#
    )),
    // 4: the sources manifest, so reruns skip unchanged files unread and continue appended ones.
    Migration::statements(
        r#"
CREATE TABLE sources (
    provider        TEXT NOT NULL,
    path_sha256     TEXT NOT NULL,
    size            INTEGER NOT NULL,
    modified_ns     INTEGER,
    inode           INTEGER,
    bytes_consumed  INTEGER NOT NULL,
    prefix_sha256   TEXT,
    anchor_sha256   TEXT,
    resume_state    TEXT,
    parser          TEXT NOT NULL,
    window_since    TEXT,
    window_until    TEXT,
    run_id          TEXT NOT NULL,
    PRIMARY KEY (provider, path_sha256)
) STRICT, WITHOUT ROWID;
"#,
    ),
    // 5: a message merged with copies seen later keeps the daily tool-call rollup in step.
    Migration::statements(
        r#"
CREATE TRIGGER rollup_message_tool_calls AFTER UPDATE OF tool_calls ON messages
WHEN NEW.timestamp >= '2024-01-01' AND NEW.tool_calls != OLD.tool_calls BEGIN
    UPDATE daily_rollup SET tool_calls = tool_calls + NEW.tool_calls - OLD.tool_calls
    WHERE day = substr(NEW.timestamp, 1, 10) AND model = ''
      AND client = (SELECT client FROM sessions WHERE session_id = NEW.session_id);
END;
"#,
    ),
    // 6: the keys of messages, parts and usage become named unique indexes instead of inline
    // constraints, so that a first import can create them after its rows (one sort each) like
    // the secondary indexes. Same columns, same rows, same rowids.
    Migration {
        rebuilt_tables: &[
            RebuiltTable {
                name: "messages",
                create: r#"
CREATE TABLE messages (
    message_id          TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    parent_message_id   TEXT,
    seq                 INTEGER NOT NULL,
    role                TEXT NOT NULL,
    timestamp           TEXT,
    model               TEXT,
    is_sidechain        INTEGER NOT NULL DEFAULT 0,
    is_meta             INTEGER NOT NULL DEFAULT 0,
    is_injected         INTEGER NOT NULL DEFAULT 0,
    is_compact_summary  INTEGER NOT NULL DEFAULT 0,
    is_compact_boundary INTEGER NOT NULL DEFAULT 0,
    is_api_error        INTEGER NOT NULL DEFAULT 0,
    identity_source     TEXT NOT NULL CHECK (identity_source IN ('native', 'fallback')),
    raw_frame           TEXT,
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    native_id           TEXT,
    first_run_id        TEXT NOT NULL,
    is_user_prompt      INTEGER NOT NULL DEFAULT 0,
    tool_calls          INTEGER NOT NULL DEFAULT 0,
    is_subagent         INTEGER NOT NULL DEFAULT 0
) STRICT;
"#,
            },
            RebuiltTable {
                name: "parts",
                create: r#"
CREATE TABLE parts (
    part_id             TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    part_index          INTEGER NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('text', 'thinking', 'tool_call', 'tool_result', 'image', 'other')),
    text                TEXT,
    tool_name           TEXT,
    tool_call_id        TEXT,
    tool_input          TEXT,
    is_error            INTEGER,
    metadata            TEXT,
    provider            TEXT NOT NULL,
    source_path_sha256  TEXT NOT NULL,
    native_id           TEXT,
    first_run_id        TEXT NOT NULL
) STRICT;
"#,
            },
            RebuiltTable {
                name: "usage",
                create: r#"
CREATE TABLE usage (
    usage_id              TEXT NOT NULL,
    session_id            TEXT NOT NULL,
    message_id            TEXT,
    model                 TEXT,
    timestamp             TEXT,
    input_tokens          INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    cache_read_tokens     INTEGER NOT NULL,
    cache_creation_tokens INTEGER NOT NULL,
    reasoning_tokens      INTEGER NOT NULL,
    provider              TEXT NOT NULL,
    source_path_sha256    TEXT NOT NULL,
    native_id             TEXT,
    first_run_id          TEXT NOT NULL
) STRICT;
"#,
            },
        ],
        sql: r#"
CREATE UNIQUE INDEX messages_key ON messages (message_id);
CREATE UNIQUE INDEX parts_key ON parts (part_id);
CREATE UNIQUE INDEX parts_position ON parts (message_id, part_index);
CREATE UNIQUE INDEX usage_key ON usage (usage_id);
"#,
        converges: false,
        convert: None,
    },
    // 7: the import rules changed (lines without a record's fields, record-less transcripts, usage
    // of a warmup agent that grew): a store that holds rows brings them to the new rules
    // (`Store::converge`, which the import runs with the providers' rules) and reads every source
    // again.
    Migration {
        rebuilt_tables: &[],
        sql: "INSERT INTO meta (key, value) SELECT 'converge', '7' WHERE EXISTS (SELECT 1 FROM sessions);",
        converges: true,
        convert: None,
    },
    // 8: the compact store (`compact.rs`): integer keys, BLOB identities, provenance and
    // enumerations by number, frames without what columns hold; the tables of 7 become views.
    Migration {
        rebuilt_tables: &[],
        sql: crate::compact::CREATE_TABLES,
        converges: false,
        convert: Some(crate::compact::convert),
    },
    // 9: cost per usage row and rollups per quarter hour and per session (`cost.rs`); the rows
    // are priced after the migration (`cost::reprice`: no price table has priced them yet).
    Migration { rebuilt_tables: &[], sql: crate::cost::MIGRATION, converges: false, convert: None },
    // 10: what the clients write into user lines themselves is no longer a prompt (the stored
    // prompts are judged again, `Store::converge`); sessions a person told hindcast to forget
    // leave a tombstone (`forget.rs`).
    Migration { rebuilt_tables: &[], sql: crate::forget::MIGRATION, converges: true, convert: None },
    // 11: the search index (`search.rs`), built from the rows of an upgraded store by the first
    // `hindcast search`.
    Migration::statements(crate::search::MIGRATION),
    // 12: messages a client rewound (Gemini CLI `$rewindTo` and checkpoints, OpenCode reverts)
    // stay, marked, out of the conversation view; no stored row was rewound before.
    Migration::statements("ALTER TABLE message ADD COLUMN is_rewound INTEGER NOT NULL DEFAULT 0;"),
    // 13: the writer indexes the parts it inserts for search (`search.rs`); the index holds the
    // same entries as before.
    Migration::statements(crate::search::WRITER_INDEXES),
];

/// The schema version this build writes.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

/// Empties the rollups and fills them from the rows, as the `rollup_*` triggers would have.
pub const REBUILD_ROLLUPS: &str = crate::cost::REBUILD_ROLLUPS;

/// The schema objects a first import creates only after its rows are written: the secondary
/// (non-unique) indexes; the unique keys of the [`KEYED_TABLES`], which the writer enforces
/// itself meanwhile (the store's `BuildKeys`); and the `rollup_*` triggers, whose counters
/// [`REBUILD_ROLLUPS`] then fills in one pass. Other unique keys stay (the other tables' writes
/// rely on them), and so does any trigger added later that is not named `rollup_*`.
pub const DEFERRED_OBJECTS: &str = "SELECT type, name, sql FROM sqlite_schema \
    WHERE (type = 'index' AND sql IS NOT NULL \
           AND (sql NOT LIKE 'CREATE UNIQUE %' OR tbl_name IN ('message', 'token_usage'))) \
       OR (type = 'trigger' AND name LIKE 'rollup\\_%' ESCAPE '\\') \
    ORDER BY type, name";

/// The tables whose unique keys a first import creates after its rows, and the key column of
/// each (random BLOBs, which would land on random index leaves; the other unique keys grow in
/// order or are few and stay).
pub const KEYED_TABLES: [(&str, &str); 2] = [("message", "message_key"), ("token_usage", "usage_key")];

/// Recreates `table` under its new definition inside the migration's transaction: the rows are
/// copied with their rowids, and the indexes and triggers the table had are created again on
/// it (views and other tables' triggers name tables, so they keep working).
pub(super) fn rebuild_table(tx: &rusqlite::Transaction<'_>, table: &RebuiltTable) -> rusqlite::Result<()> {
    let name = table.name;
    let old = format!("{name}_before_rebuild");
    let dependents: Vec<String> = tx
        .prepare(
            "SELECT sql FROM sqlite_schema WHERE tbl_name = ?1 AND type IN ('index', 'trigger') AND sql IS NOT NULL \
             ORDER BY type, name",
        )?
        .query_map([name], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let columns: Vec<String> = tx
        .prepare(&format!("SELECT name FROM pragma_table_info('{name}') ORDER BY cid"))?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let columns = columns.iter().map(|column| format!("\"{column}\"")).collect::<Vec<_>>().join(", ");
    // Renaming in legacy mode leaves the text of views and triggers alone: they go on naming the
    // table, which exists again under that name before this transaction ends.
    tx.execute_batch(&format!(
        "PRAGMA legacy_alter_table = ON; ALTER TABLE \"{name}\" RENAME TO \"{old}\"; PRAGMA legacy_alter_table = OFF;"
    ))?;
    tx.execute_batch(table.create)?;
    tx.execute_batch(&format!(
        "INSERT INTO \"{name}\" (rowid, {columns}) SELECT rowid, {columns} FROM \"{old}\" ORDER BY rowid; DROP TABLE \"{old}\";"
    ))?;
    for sql in dependents {
        tx.execute_batch(&sql)?;
    }
    Ok(())
}
