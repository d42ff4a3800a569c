//! Schema 9: every usage row's cost (`hindcast-pricing`), and rollups fine enough for reports in
//! any time zone: activity per quarter hour (every zone's offset is a whole number of quarter
//! hours, so a quarter never straddles a local day, week, month or hour), and usage per session.
//! Rows are priced when written; a store priced with another price table is priced again when
//! opened for writing ([`reprice`]).

use hindcast_pricing::{PRICE_TABLE, Response, price};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The UTC quarter hour of an RFC 3339 timestamp column as `YYYY-MM-DDTHH:MM` (`:00`, `:15`,
/// `:30` or `:45`): the key of `quarter_rollup`.
macro_rules! quarter_of {
    ($column:literal) => {
        concat!(
            "(substr(",
            $column,
            ", 1, 14) || CASE WHEN substr(",
            $column,
            ", 15, 2) < '15' THEN '00' WHEN substr(",
            $column,
            ", 15, 2) < '30' THEN '15' WHEN substr(",
            $column,
            ", 15, 2) < '45' THEN '30' ELSE '45' END)"
        )
    };
}

/// The upsert clause both usage triggers share: one more response, its tokens and cost added.
macro_rules! add_one_response {
    () => {
        r#"
    ON CONFLICT DO UPDATE SET responses = responses + 1, input_tokens = input_tokens + excluded.input_tokens,
        cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
        cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
        cache_creation_1h_tokens = cache_creation_1h_tokens + excluded.cache_creation_1h_tokens,
        output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
        cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd,
        unpriced_responses = unpriced_responses + excluded.unpriced_responses"#
    };
}

/// Adds the usage row `NEW` to its session's rollup (a trigger statement, shared by the insert
/// and update triggers).
macro_rules! session_rollup_add_new {
    () => {
        concat!(
            r#"
    INSERT INTO session_rollup (session, model, responses, input_tokens, cache_read_tokens, cache_creation_tokens,
        cache_creation_1h_tokens, output_tokens, reasoning_tokens, cost_nano_usd, unpriced_responses)
    VALUES (NEW.session, coalesce(NEW.model, 'unknown'), 1, NEW.input_tokens, NEW.cache_read_tokens, NEW.cache_creation_tokens,
        coalesce(NEW.cache_creation_1h_tokens, 0), NEW.output_tokens, NEW.reasoning_tokens, coalesce(NEW.cost_nano_usd, 0),
        NEW.cost_nano_usd IS NULL)
"#,
            add_one_response!(),
            ";\n"
        )
    };
}

/// The `rollup_*` triggers of schema 9: what each row adds to the rollups when written, and
/// what a merge changes.
macro_rules! rollup_triggers {
    () => {
        concat!(
            r#"
CREATE TRIGGER rollup_session_insert AFTER INSERT ON session WHEN NEW.started_at >= '2024-01-01' BEGIN
    INSERT INTO quarter_rollup (quarter, client, model, sessions) VALUES ("#,
            quarter_of!("NEW.started_at"),
            r#", NEW.client, '', 1)
    ON CONFLICT DO UPDATE SET sessions = sessions + 1;
    INSERT OR IGNORE INTO quarter_projects (quarter, project, client)
    SELECT "#,
            quarter_of!("NEW.started_at"),
            r#", NEW.project_key, NEW.client WHERE NEW.project_key IS NOT NULL;
END;

CREATE TRIGGER rollup_session_start_moved AFTER UPDATE OF started_at ON session
WHEN OLD.started_at IS NOT NEW.started_at BEGIN
    UPDATE quarter_rollup SET sessions = sessions - 1
    WHERE OLD.started_at >= '2024-01-01' AND quarter = "#,
            quarter_of!("OLD.started_at"),
            r#" AND client = OLD.client AND model = '';
    INSERT INTO quarter_rollup (quarter, client, model, sessions)
    SELECT "#,
            quarter_of!("NEW.started_at"),
            r#", NEW.client, '', 1 WHERE NEW.started_at >= '2024-01-01'
    ON CONFLICT DO UPDATE SET sessions = sessions + 1;
    INSERT OR IGNORE INTO quarter_projects (quarter, project, client)
    SELECT "#,
            quarter_of!("NEW.started_at"),
            r#", NEW.project_key, NEW.client WHERE NEW.project_key IS NOT NULL AND NEW.started_at >= '2024-01-01';
END;

CREATE TRIGGER rollup_message_insert AFTER INSERT ON message WHEN NEW.timestamp >= '2024-01-01' BEGIN
    INSERT INTO quarter_rollup (quarter, client, model, messages, user_prompts, tool_calls, subagent_messages)
    SELECT "#,
            quarter_of!("NEW.timestamp"),
            r#", s.client, '', 1, NEW.is_user_prompt, NEW.tool_calls, NEW.is_subagent
    FROM session s WHERE s.session = NEW.session
    ON CONFLICT DO UPDATE SET messages = messages + 1, user_prompts = user_prompts + excluded.user_prompts,
        tool_calls = tool_calls + excluded.tool_calls, subagent_messages = subagent_messages + excluded.subagent_messages;
    INSERT OR IGNORE INTO quarter_projects (quarter, project, client)
    SELECT "#,
            quarter_of!("NEW.timestamp"),
            r#", s.project_key, s.client FROM session s
    WHERE s.session = NEW.session AND s.project_key IS NOT NULL;
END;

CREATE TRIGGER rollup_message_tool_calls AFTER UPDATE OF tool_calls ON message
WHEN NEW.timestamp >= '2024-01-01' AND NEW.tool_calls != OLD.tool_calls BEGIN
    UPDATE quarter_rollup SET tool_calls = tool_calls + NEW.tool_calls - OLD.tool_calls
    WHERE quarter = "#,
            quarter_of!("NEW.timestamp"),
            r#" AND model = ''
      AND client = (SELECT client FROM session WHERE session = NEW.session);
END;

CREATE TRIGGER rollup_usage_insert AFTER INSERT ON token_usage BEGIN
    INSERT INTO quarter_rollup (quarter, client, model, responses, input_tokens, cache_read_tokens, cache_creation_tokens,
        cache_creation_1h_tokens, output_tokens, reasoning_tokens, cost_nano_usd, unpriced_responses, first_at, last_at)
    SELECT "#,
            quarter_of!("NEW.timestamp"),
            r#", s.client, coalesce(NEW.model, 'unknown'), 1, NEW.input_tokens, NEW.cache_read_tokens,
        NEW.cache_creation_tokens, coalesce(NEW.cache_creation_1h_tokens, 0), NEW.output_tokens, NEW.reasoning_tokens,
        coalesce(NEW.cost_nano_usd, 0), NEW.cost_nano_usd IS NULL, NEW.timestamp, NEW.timestamp
    FROM session s WHERE s.session = NEW.session AND NEW.timestamp >= '2024-01-01'
"#,
            add_one_response!(),
            r#",
        first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at);
"#,
            session_rollup_add_new!(),
            r#"END;

CREATE TRIGGER rollup_usage_update AFTER UPDATE ON token_usage BEGIN
    UPDATE quarter_rollup SET
        input_tokens = input_tokens + NEW.input_tokens - OLD.input_tokens,
        cache_read_tokens = cache_read_tokens + NEW.cache_read_tokens - OLD.cache_read_tokens,
        cache_creation_tokens = cache_creation_tokens + NEW.cache_creation_tokens - OLD.cache_creation_tokens,
        cache_creation_1h_tokens = cache_creation_1h_tokens + coalesce(NEW.cache_creation_1h_tokens, 0)
            - coalesce(OLD.cache_creation_1h_tokens, 0),
        output_tokens = output_tokens + NEW.output_tokens - OLD.output_tokens,
        reasoning_tokens = reasoning_tokens + NEW.reasoning_tokens - OLD.reasoning_tokens,
        cost_nano_usd = cost_nano_usd + coalesce(NEW.cost_nano_usd, 0) - coalesce(OLD.cost_nano_usd, 0),
        unpriced_responses = unpriced_responses + (NEW.cost_nano_usd IS NULL) - (OLD.cost_nano_usd IS NULL)
    WHERE OLD.timestamp >= '2024-01-01' AND quarter = "#,
            quarter_of!("OLD.timestamp"),
            r#" AND model = coalesce(OLD.model, 'unknown')
      AND client = (SELECT client FROM session WHERE session = OLD.session);
    UPDATE session_rollup SET responses = responses - 1,
        input_tokens = input_tokens - OLD.input_tokens, cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens,
        cache_creation_tokens = cache_creation_tokens - OLD.cache_creation_tokens,
        cache_creation_1h_tokens = cache_creation_1h_tokens - coalesce(OLD.cache_creation_1h_tokens, 0),
        output_tokens = output_tokens - OLD.output_tokens, reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens,
        cost_nano_usd = cost_nano_usd - coalesce(OLD.cost_nano_usd, 0),
        unpriced_responses = unpriced_responses - (OLD.cost_nano_usd IS NULL)
    WHERE session = OLD.session AND model = coalesce(OLD.model, 'unknown');
"#,
            session_rollup_add_new!(),
            r#"END;
"#
        )
    };
}

/// Migration 9: the cost column, the new rollups and their triggers (replacing the daily ones),
/// and the views that show cost.
pub const MIGRATION: &str = concat!(
    r#"
ALTER TABLE token_usage ADD COLUMN cost_nano_usd INTEGER;

DROP TRIGGER rollup_session_insert;
DROP TRIGGER rollup_session_start_moved;
DROP TRIGGER rollup_message_insert;
DROP TRIGGER rollup_message_tool_calls;
DROP TRIGGER rollup_usage_insert;
DROP TRIGGER rollup_usage_update;
DROP TABLE daily_rollup;
DROP TABLE daily_projects;

CREATE TABLE quarter_rollup (
    quarter                  TEXT NOT NULL,
    client                   TEXT NOT NULL,
    model                    TEXT NOT NULL,
    sessions                 INTEGER NOT NULL DEFAULT 0,
    user_prompts             INTEGER NOT NULL DEFAULT 0,
    messages                 INTEGER NOT NULL DEFAULT 0,
    tool_calls               INTEGER NOT NULL DEFAULT 0,
    subagent_messages        INTEGER NOT NULL DEFAULT 0,
    responses                INTEGER NOT NULL DEFAULT 0,
    input_tokens             INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens        INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens    INTEGER NOT NULL DEFAULT 0,
    cache_creation_1h_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens            INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens         INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd            INTEGER NOT NULL DEFAULT 0,
    unpriced_responses       INTEGER NOT NULL DEFAULT 0,
    first_at                 TEXT,
    last_at                  TEXT,
    PRIMARY KEY (quarter, client, model)
) STRICT, WITHOUT ROWID;

CREATE TABLE quarter_projects (
    quarter TEXT NOT NULL,
    project TEXT NOT NULL,
    client  TEXT NOT NULL,
    PRIMARY KEY (quarter, project, client)
) STRICT, WITHOUT ROWID;

CREATE TABLE session_rollup (
    session                  INTEGER NOT NULL REFERENCES session ON DELETE CASCADE,
    model                    TEXT NOT NULL,
    responses                INTEGER NOT NULL DEFAULT 0,
    input_tokens             INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens        INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens    INTEGER NOT NULL DEFAULT 0,
    cache_creation_1h_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens            INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens         INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd            INTEGER NOT NULL DEFAULT 0,
    unpriced_responses       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session, model)
) STRICT, WITHOUT ROWID;

CREATE TABLE rate_limit (
    rate_limit     INTEGER PRIMARY KEY,
    client         TEXT NOT NULL,
    session        INTEGER REFERENCES session ON DELETE SET NULL,
    observed_at    TEXT NOT NULL,
    window         TEXT NOT NULL,
    window_minutes INTEGER,
    used_percent   REAL NOT NULL,
    resets_at      TEXT,
    plan           TEXT,
    UNIQUE (client, window, observed_at)
) STRICT;

-- Codex rollouts are read again on the next import: the rate limits they record were not kept.
DELETE FROM sources WHERE provider = 'codex';
"#,
    rollup_triggers!(),
    r#"
DROP VIEW usage;
CREATE VIEW usage AS
SELECT lower(hex(u.usage_key)) AS usage_id, lower(hex(s.session_key)) AS session_id,
    iif(u.message_key IS NULL, NULL, lower(hex(u.message_key))) AS message_id,
    u.model, u.timestamp, u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens,
    u.reasoning_tokens, o.provider, o.path_sha256 AS source_path_sha256, u.native_id, r.run_id AS first_run_id,
    u.cache_creation_5m_tokens, u.cache_creation_1h_tokens, u.service_tier, u.speed,
    u.cost_nano_usd / 1e9 AS cost_usd
FROM token_usage u JOIN session s ON s.session = u.session JOIN origin o ON o.origin = u.origin
JOIN run r ON r.run = u.first_run;

DROP VIEW session_summary;
CREATE VIEW session_summary AS
SELECT lower(hex(s.session_key)) AS session_id, s.client, s.native_id, s.title, s.project_key AS project, s.cwd,
    s.git_branch, s.started_at, s.ended_at, s.relationship,
    iif(s.parent_session_key IS NULL, NULL, lower(hex(s.parent_session_key))) AS parent_session_id,
    (SELECT count(*) FROM message m WHERE m.session = s.session) AS messages,
    (SELECT coalesce(sum(m.is_user_prompt), 0) FROM message m WHERE m.session = s.session) AS user_prompts,
    (SELECT coalesce(sum(m.tool_calls), 0) FROM message m WHERE m.session = s.session) AS tool_calls,
    coalesce(t.responses, 0) AS responses, coalesce(t.input_tokens, 0) AS input_tokens,
    coalesce(t.cache_read_tokens, 0) AS cache_read_tokens, coalesce(t.cache_creation_tokens, 0) AS cache_creation_tokens,
    coalesce(t.output_tokens, 0) AS output_tokens, coalesce(t.reasoning_tokens, 0) AS reasoning_tokens,
    coalesce(t.cost_nano_usd, 0) / 1e9 AS cost_usd, coalesce(t.unpriced_responses, 0) AS unpriced_responses
FROM session s LEFT JOIN session_rollup t ON t.session = s.session;
"#
);

/// Empties the rollups and fills them from the rows, as the `rollup_*` triggers would have.
pub const REBUILD_ROLLUPS: &str = concat!(
    r#"
DELETE FROM quarter_rollup;
DELETE FROM quarter_projects;
DELETE FROM session_rollup;
INSERT INTO quarter_rollup (quarter, client, model, sessions)
SELECT "#,
    quarter_of!("started_at"),
    r#", client, '', count(*) FROM session WHERE started_at >= '2024-01-01' GROUP BY 1, 2;
INSERT INTO quarter_rollup (quarter, client, model, messages, user_prompts, tool_calls, subagent_messages)
SELECT "#,
    quarter_of!("m.timestamp"),
    r#", s.client, '', count(*), sum(m.is_user_prompt), sum(m.tool_calls), sum(m.is_subagent)
FROM message m JOIN session s ON s.session = m.session WHERE m.timestamp >= '2024-01-01' GROUP BY 1, 2
ON CONFLICT DO UPDATE SET messages = excluded.messages, user_prompts = excluded.user_prompts,
    tool_calls = excluded.tool_calls, subagent_messages = excluded.subagent_messages;
INSERT INTO quarter_rollup (quarter, client, model, responses, input_tokens, cache_read_tokens, cache_creation_tokens,
    cache_creation_1h_tokens, output_tokens, reasoning_tokens, cost_nano_usd, unpriced_responses, first_at, last_at)
SELECT "#,
    quarter_of!("u.timestamp"),
    r#", s.client, coalesce(u.model, 'unknown'), count(*), sum(u.input_tokens), sum(u.cache_read_tokens),
    sum(u.cache_creation_tokens), coalesce(sum(u.cache_creation_1h_tokens), 0), sum(u.output_tokens),
    sum(u.reasoning_tokens), coalesce(sum(u.cost_nano_usd), 0), sum(u.cost_nano_usd IS NULL), min(u.timestamp), max(u.timestamp)
FROM token_usage u JOIN session s ON s.session = u.session WHERE u.timestamp >= '2024-01-01' GROUP BY 1, 2, 3
ON CONFLICT DO UPDATE SET responses = excluded.responses, input_tokens = excluded.input_tokens,
    cache_read_tokens = excluded.cache_read_tokens, cache_creation_tokens = excluded.cache_creation_tokens,
    cache_creation_1h_tokens = excluded.cache_creation_1h_tokens, output_tokens = excluded.output_tokens,
    reasoning_tokens = excluded.reasoning_tokens, cost_nano_usd = excluded.cost_nano_usd,
    unpriced_responses = excluded.unpriced_responses, first_at = excluded.first_at, last_at = excluded.last_at;
INSERT INTO session_rollup (session, model, responses, input_tokens, cache_read_tokens, cache_creation_tokens,
    cache_creation_1h_tokens, output_tokens, reasoning_tokens, cost_nano_usd, unpriced_responses)
SELECT u.session, coalesce(u.model, 'unknown'), count(*), sum(u.input_tokens), sum(u.cache_read_tokens), sum(u.cache_creation_tokens),
    coalesce(sum(u.cache_creation_1h_tokens), 0), sum(u.output_tokens), sum(u.reasoning_tokens),
    coalesce(sum(u.cost_nano_usd), 0), sum(u.cost_nano_usd IS NULL)
FROM token_usage u GROUP BY 1, 2;
INSERT OR IGNORE INTO quarter_projects (quarter, project, client)
SELECT "#,
    quarter_of!("started_at"),
    r#", project_key, client FROM session WHERE started_at >= '2024-01-01' AND project_key IS NOT NULL;
INSERT OR IGNORE INTO quarter_projects (quarter, project, client)
SELECT "#,
    quarter_of!("m.timestamp"),
    r#", s.project_key, s.client FROM message m JOIN session s ON s.session = m.session
WHERE m.timestamp >= '2024-01-01' AND s.project_key IS NOT NULL;
"#
);

/// The `meta` key naming the price table the store's costs were computed with.
const PRICE_TABLE_KEY: &str = "price_table";

/// The cost of a usage row as the writer stores it: `None` when unpriced.
pub fn cost_of(response: &Response<'_>) -> Option<i64> {
    price(response).ok()
}

/// What [`reprice`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repriced {
    pub rows: u64,
    pub changed: u64,
}

/// Prices every usage row again when the store's costs were computed with another price table
/// than this build's (or none: a store from before schema 9), then rebuilds the rollups; a store
/// priced with this table is left alone. Runs in one transaction.
pub fn reprice(conn: &mut Connection) -> rusqlite::Result<Option<Repriced>> {
    let priced_with: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [PRICE_TABLE_KEY], |row| row.get(0)).optional()?;
    if priced_with.as_deref() == Some(PRICE_TABLE) {
        return Ok(None);
    }
    let tx = conn.transaction()?;
    let repriced = reprice_rows(&tx)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![PRICE_TABLE_KEY, PRICE_TABLE],
    )?;
    tx.commit()?;
    Ok(Some(repriced))
}

fn reprice_rows(tx: &Transaction<'_>) -> rusqlite::Result<Repriced> {
    let mut repriced = Repriced::default();
    // Row by row the update trigger would adjust two rollups per row; they are rebuilt once instead.
    let trigger: Option<String> = tx
        .query_row("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'rollup_usage_update'", [], |row| {
            row.get(0)
        })
        .optional()?;
    if trigger.is_some() {
        tx.execute_batch("DROP TRIGGER rollup_usage_update")?;
    }
    {
        let mut select = tx.prepare(
            "SELECT u.usage, o.provider, u.model, u.timestamp, u.input_tokens, u.cache_read_tokens, u.cache_creation_tokens, \
             u.cache_creation_1h_tokens, u.output_tokens, u.service_tier, u.cost_nano_usd \
             FROM token_usage u JOIN origin o ON o.origin = u.origin ORDER BY u.usage",
        )?;
        let mut update = tx.prepare("UPDATE token_usage SET cost_nano_usd = ?2 WHERE usage = ?1")?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            repriced.rows += 1;
            let (provider, model, timestamp, service_tier): (String, Option<String>, Option<String>, Option<String>) =
                (row.get(1)?, row.get(2)?, row.get(3)?, row.get(9)?);
            let cost = cost_of(&Response {
                client: &provider,
                model: model.as_deref(),
                timestamp: timestamp.as_deref(),
                prompt_tokens: row.get(4)?,
                cache_read_tokens: row.get(5)?,
                cache_write_tokens: row.get(6)?,
                cache_write_1h_tokens: row.get(7)?,
                output_tokens: row.get(8)?,
                service_tier: service_tier.as_deref(),
            });
            if cost != row.get::<_, Option<i64>>(10)? {
                repriced.changed += 1;
                update.execute(params![row.get::<_, i64>(0)?, cost])?;
            }
        }
    }
    if let Some(sql) = trigger {
        tx.execute_batch(&sql)?;
    }
    tx.execute_batch(REBUILD_ROLLUPS)?;
    Ok(repriced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_is_the_quarter_hour_a_timestamp_falls_in() {
        let conn = Connection::open_in_memory().unwrap();
        for (timestamp, quarter) in [
            ("2026-02-12T10:00:00.000Z", "2026-02-12T10:00"),
            ("2026-02-12T10:14:59.999Z", "2026-02-12T10:00"),
            ("2026-02-12T10:15:00.000Z", "2026-02-12T10:15"),
            ("2026-02-12T10:44:59.000Z", "2026-02-12T10:30"),
            ("2026-02-12T23:59:59.999Z", "2026-02-12T23:45"),
        ] {
            let got: String =
                conn.query_row(&format!("SELECT {}", quarter_of!("?1")), [timestamp], |row| row.get(0)).unwrap();
            assert_eq!(got, quarter, "{timestamp}");
        }
    }
}
