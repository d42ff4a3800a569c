//! `stats daily`: per-UTC-day activity and token counters, with model and project breakdowns.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::ViewError;
use super::sessions::Tokens;

/// Timestamps before this are corrupt (clock resets, seconds read as milliseconds, ...).
pub const EARLIEST_VALID: &str = "2024-01-01";

/// Filters of `stats daily`, as whole UTC days: `[since_day, until_day)` (`YYYY-MM-DD`).
#[derive(Clone, Debug, Default)]
pub struct StatsFilter {
    pub since_day: Option<String>,
    pub until_day: Option<String>,
    pub client: Option<String>,
}

impl StatsFilter {
    /// Widens a time window to whole UTC days: from the day of `since` through the day of `until`
    /// (that day excluded only when `until` is exactly its midnight).
    pub fn whole_days(window: &hindcast_core::time_window::TimeWindow, client: Option<String>) -> Self {
        let utc = |timestamp: jiff::Timestamp| timestamp.to_zoned(jiff::tz::TimeZone::UTC);
        let since_day = window.since.map(|since| utc(since).date().to_string());
        let until_day = window.until.map(|until| {
            let zoned = utc(until);
            let date = zoned.date();
            let end =
                if zoned.time() == jiff::civil::Time::midnight() { date } else { date.tomorrow().unwrap_or(date) };
            end.to_string()
        });
        Self { since_day, until_day, client }
    }
}

/// Per-client counters of a day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientDay {
    pub sessions: i64,
    pub messages: i64,
}

/// Per-model counters of a day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModelDay {
    pub responses: i64,
    pub tokens: Tokens,
}

/// The counters of one UTC day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayStats {
    pub day: String,
    /// Sessions started that day.
    pub sessions: i64,
    /// Prompts a human typed: user messages that are not tool results, injected context, harness
    /// meta, compaction summaries or sub-agent traffic.
    pub user_prompts: i64,
    pub messages: i64,
    pub tool_calls: i64,
    /// Messages of sub-agent sessions and side threads.
    pub subagent_messages: i64,
    pub tokens: Tokens,
    /// Distinct projects with activity, counted once across clients.
    pub projects: i64,
    pub clients: BTreeMap<String, ClientDay>,
    pub models: BTreeMap<String, ModelDay>,
}

/// Rows left out of every day: with a timestamp before [`EARLIEST_VALID`] (`corrupt_timestamps`),
/// or with none, absent or unreadable in the source (`without_timestamp`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CorruptTimestamps {
    pub sessions: i64,
    pub messages: i64,
    pub usage: i64,
}

/// A breakdown row (`--by model` or `--by project`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BreakdownRow {
    pub day: String,
    pub key: String,
    pub sessions: i64,
    pub messages: i64,
    pub tool_calls: i64,
    pub responses: i64,
    pub tokens: Tokens,
}

/// `stats daily`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DailyReport {
    pub since_day: Option<String>,
    pub until_day: Option<String>,
    pub days: Vec<DayStats>,
    pub totals: Tokens,
    pub corrupt_timestamps: CorruptTimestamps,
    pub without_timestamp: CorruptTimestamps,
}

/// The project key of a session (`metadata.project_path`, else the cwd), as the materializer stores it.
pub const PROJECT_KEY: &str = "s.project_key";

/// The WHERE fragment shared by every counter (and by the recomputation oracle in `hindcast-testing`): the client and the day window, valid times only.
pub fn day_filter(column: &str) -> String {
    format!(
        "(?1 IS NULL OR s.client = ?1) AND {column} >= '{EARLIEST_VALID}' \
         AND (?2 IS NULL OR substr({column}, 1, 10) >= ?2) AND (?3 IS NULL OR substr({column}, 1, 10) < ?3)"
    )
}

/// A user prompt, over the `message` row `m` of the `session` row `s` (codes: `compact::ROLES`,
/// `compact::PART_KINDS`).
pub const USER_PROMPT: &str = "m.role = 1 AND NOT m.is_meta AND NOT m.is_injected AND NOT m.is_compact_summary \
    AND NOT m.is_sidechain AND coalesce(s.relationship, '') <> 'subagent' \
    AND EXISTS (SELECT 1 FROM part p WHERE p.message = m.message AND p.kind = 1) \
    AND NOT EXISTS (SELECT 1 FROM part p WHERE p.message = m.message AND p.kind = 4)";

pub const SUBAGENT_MESSAGE: &str = "(m.is_sidechain OR coalesce(s.relationship, '') = 'subagent')";

pub fn add_tokens(tokens: &mut Tokens, row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<()> {
    tokens.input += row.get::<_, i64>(first)?;
    tokens.cached_input += row.get::<_, i64>(first + 1)?;
    tokens.cache_creation += row.get::<_, i64>(first + 2)?;
    tokens.output += row.get::<_, i64>(first + 3)?;
    tokens.reasoning += row.get::<_, i64>(first + 4)?;
    Ok(())
}

pub const TOKEN_SUMS: &str = "coalesce(sum(u.input_tokens), 0), coalesce(sum(u.cache_read_tokens), 0), \
    coalesce(sum(u.cache_creation_tokens), 0), coalesce(sum(u.output_tokens), 0), coalesce(sum(u.reasoning_tokens), 0)";

/// Per-day counters from the trigger-maintained rollups (`daily_rollup`, `daily_projects`): the
/// cost depends on the number of days, not on the size of the store.
pub fn daily(conn: &Connection, filter: &StatsFilter) -> Result<DailyReport, ViewError> {
    let args = params![filter.client, filter.since_day, filter.until_day];
    let window = "(?1 IS NULL OR client = ?1) AND (?2 IS NULL OR day >= ?2) AND (?3 IS NULL OR day < ?3)";
    let mut days: BTreeMap<String, DayStats> = BTreeMap::new();
    let mut totals = Tokens::default();
    let sql = format!(
        "SELECT day, client, model, sessions, user_prompts, messages, tool_calls, subagent_messages, responses, \
         input_tokens, cache_read_tokens, cache_creation_tokens, output_tokens, reasoning_tokens \
         FROM daily_rollup WHERE {window} ORDER BY day, client, model"
    );
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(args)?;
    while let Some(row) = rows.next()? {
        let stats = day_entry(&mut days, row.get(0)?);
        let client: String = row.get(1)?;
        let model: String = row.get(2)?;
        let (sessions, messages): (i64, i64) = (row.get(3)?, row.get(5)?);
        stats.sessions += sessions;
        stats.user_prompts += row.get::<_, i64>(4)?;
        stats.messages += messages;
        stats.tool_calls += row.get::<_, i64>(6)?;
        stats.subagent_messages += row.get::<_, i64>(7)?;
        add_tokens(&mut stats.tokens, row, 9)?;
        add_tokens(&mut totals, row, 9)?;
        if sessions + messages > 0 {
            let entry = stats.clients.entry(client).or_default();
            entry.sessions += sessions;
            entry.messages += messages;
        }
        let responses: i64 = row.get(8)?;
        if !model.is_empty() {
            let entry = stats.models.entry(model).or_default();
            entry.responses += responses;
            add_tokens(&mut entry.tokens, row, 9)?;
        }
    }
    let sql = format!("SELECT day, count(DISTINCT project) FROM daily_projects WHERE {window} GROUP BY day");
    for row in conn.prepare(&sql)?.query_map(args, |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))? {
        let (key, count) = row?;
        day_entry(&mut days, key).projects = count;
    }
    // Days that only hold zeroed counters (a session whose start moved) are not activity.
    days.retain(|_, day| day.sessions + day.messages + day.tokens.input + day.tokens.output + day.projects > 0);
    Ok(DailyReport {
        since_day: filter.since_day.clone(),
        until_day: filter.until_day.clone(),
        days: days.into_values().collect(),
        totals,
        corrupt_timestamps: corrupt_timestamps(conn, filter)?,
        without_timestamp: without_timestamp(conn, filter)?,
    })
}

pub fn corrupt_timestamps(conn: &Connection, filter: &StatsFilter) -> Result<CorruptTimestamps, ViewError> {
    left_out(conn, filter, &format!("< '{EARLIEST_VALID}'"))
}

/// Rows without a timestamp (absent, or unreadable in the source), in no day.
pub fn without_timestamp(conn: &Connection, filter: &StatsFilter) -> Result<CorruptTimestamps, ViewError> {
    left_out(conn, filter, "IS NULL")
}

fn left_out(conn: &Connection, filter: &StatsFilter, condition: &str) -> Result<CorruptTimestamps, ViewError> {
    let corrupt = |table: &str, alias: &str, column: &str| -> Result<i64, ViewError> {
        let join = if alias == "s" { String::new() } else { format!(" JOIN session s ON s.session = {alias}.session") };
        Ok(conn.query_row(
            &format!("SELECT count(*) FROM {table} {alias}{join} WHERE {column} {condition} AND (?1 IS NULL OR s.client = ?1)"),
            [&filter.client],
            |row| row.get(0),
        )?)
    };
    Ok(CorruptTimestamps {
        sessions: corrupt("session", "s", "s.started_at")?,
        messages: corrupt("message", "m", "m.timestamp")?,
        usage: corrupt("token_usage", "u", "u.timestamp")?,
    })
}

pub fn day_entry(days: &mut BTreeMap<String, DayStats>, key: String) -> &mut DayStats {
    days.entry(key.clone()).or_insert_with(|| DayStats { day: key, ..DayStats::default() })
}

fn row_entry(rows: &mut BTreeMap<(String, String), BreakdownRow>, day: String, key: String) -> &mut BreakdownRow {
    rows.entry((day.clone(), key.clone())).or_insert_with(|| BreakdownRow { day, key, ..BreakdownRow::default() })
}

/// What a breakdown groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breakdown {
    Model,
    Project,
}

/// Per day and model (responses and tokens), or per day and project (sessions, messages, tool
/// calls, responses, tokens).
pub fn breakdown(conn: &Connection, filter: &StatsFilter, by: Breakdown) -> Result<Vec<BreakdownRow>, ViewError> {
    let args = params![filter.client, filter.since_day, filter.until_day];
    let mut rows: BTreeMap<(String, String), BreakdownRow> = BTreeMap::new();
    let usage_key = match by {
        Breakdown::Model => "coalesce(u.model, 'unknown')".to_string(),
        Breakdown::Project => format!("coalesce({PROJECT_KEY}, '(none)')"),
    };
    let sql = format!(
        "SELECT substr(u.timestamp, 1, 10), {usage_key}, count(*), {TOKEN_SUMS} \
         FROM token_usage u JOIN session s ON s.session = u.session WHERE {} GROUP BY 1, 2",
        day_filter("u.timestamp")
    );
    let mut statement = conn.prepare(&sql)?;
    let mut result = statement.query(args)?;
    while let Some(row) = result.next()? {
        let target = row_entry(&mut rows, row.get(0)?, row.get(1)?);
        target.responses += row.get::<_, i64>(2)?;
        add_tokens(&mut target.tokens, row, 3)?;
    }
    if by == Breakdown::Project {
        let sql = format!(
            "SELECT substr(m.timestamp, 1, 10), coalesce({PROJECT_KEY}, '(none)'), count(*), \
             sum((SELECT count(*) FROM part p WHERE p.message = m.message AND p.kind = 3)) \
             FROM message m JOIN session s ON s.session = m.session WHERE {} GROUP BY 1, 2",
            day_filter("m.timestamp")
        );
        let mut statement = conn.prepare(&sql)?;
        let mut result = statement.query(args)?;
        while let Some(row) = result.next()? {
            let target = row_entry(&mut rows, row.get(0)?, row.get(1)?);
            target.messages += row.get::<_, i64>(2)?;
            target.tool_calls += row.get::<_, i64>(3)?;
        }
        let sql = format!(
            "SELECT substr(s.started_at, 1, 10), coalesce({PROJECT_KEY}, '(none)'), count(*) FROM session s WHERE {} GROUP BY 1, 2",
            day_filter("s.started_at")
        );
        let mut statement = conn.prepare(&sql)?;
        let mut result = statement.query(args)?;
        while let Some(row) = result.next()? {
            row_entry(&mut rows, row.get(0)?, row.get(1)?).sessions += row.get::<_, i64>(2)?;
        }
    }
    Ok(rows.into_values().collect())
}
