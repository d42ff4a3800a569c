//! What every report shares: the rules of a valid timestamp and of a user prompt, and the rows
//! no report counts (timestamps before 2024, or none).

use rusqlite::Connection;
use serde::Serialize;

use super::ViewError;

/// Timestamps before this are corrupt (clock resets, seconds read as milliseconds, ...).
pub const EARLIEST_VALID: &str = "2024-01-01";

/// The project key of a session (`metadata.project_path`, else the cwd), as the materializer stores it.
pub const PROJECT_KEY: &str = "s.project_key";

/// A user prompt, over the `message` row `m` of the `session` row `s` (codes: `compact::ROLES`,
/// `compact::PART_KINDS`).
pub const USER_PROMPT: &str = "m.role = 1 AND NOT m.is_meta AND NOT m.is_injected AND NOT m.is_compact_summary \
    AND NOT m.is_sidechain AND coalesce(s.relationship, '') <> 'subagent' \
    AND EXISTS (SELECT 1 FROM part p WHERE p.message = m.message AND p.kind = 1) \
    AND NOT EXISTS (SELECT 1 FROM part p WHERE p.message = m.message AND p.kind = 4)";

pub const SUBAGENT_MESSAGE: &str = "(m.is_sidechain OR coalesce(s.relationship, '') = 'subagent')";

/// Rows of one kind left out of every report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LeftOutRows {
    pub sessions: i64,
    pub messages: i64,
    pub usage: i64,
}

/// Rows no report counts: with a timestamp before [`EARLIEST_VALID`] (`corrupt`), or with none,
/// absent or unreadable in the source (`undated`), of one client or all. No window holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub corrupt: LeftOutRows,
    pub undated: LeftOutRows,
}

pub fn left_out(conn: &Connection, client: Option<&str>) -> Result<LeftOut, ViewError> {
    Ok(LeftOut {
        corrupt: left_out_where(conn, client, &format!("< '{EARLIEST_VALID}'"))?,
        undated: left_out_where(conn, client, "IS NULL")?,
    })
}

fn left_out_where(conn: &Connection, client: Option<&str>, condition: &str) -> Result<LeftOutRows, ViewError> {
    let count = |table: &str, alias: &str, column: &str| -> Result<i64, ViewError> {
        let join = if alias == "s" { String::new() } else { format!(" JOIN session s ON s.session = {alias}.session") };
        Ok(conn.query_row(
            &format!("SELECT count(*) FROM {table} {alias}{join} WHERE {column} {condition} AND (?1 IS NULL OR s.client = ?1)"),
            [client],
            |row| row.get(0),
        )?)
    };
    Ok(LeftOutRows {
        sessions: count("session", "s", "s.started_at")?,
        messages: count("message", "m", "m.timestamp")?,
        usage: count("token_usage", "u", "u.timestamp")?,
    })
}
