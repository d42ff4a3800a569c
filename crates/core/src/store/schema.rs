//! The store schema as an ordered list of forward-only migrations.

/// Migrations in order; `MIGRATIONS[i]` moves the schema from version `i` to `i + 1`.
/// Never edit a released migration: append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: the messages dataset, runs, provenance on every row.
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
    // 2: projects, import notes, and references between sessions of different clients.
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
];

/// The schema version this build writes.
pub const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;
