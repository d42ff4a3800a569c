//! The recomputation oracle: the reports' counters computed again from the raw rows, each
//! timestamp placed in its day by the zone itself, the reference the trigger-maintained rollups
//! (quarter hours, sessions) are checked against.

use std::collections::BTreeMap;

use hindcast_store::views::ViewError;
use hindcast_store::views::report::{Activity, ReportFilter, Usage};
use hindcast_store::views::stats::{EARLIEST_VALID, PROJECT_KEY, SUBAGENT_MESSAGE, USER_PROMPT};
use rusqlite::Connection;

/// Activity and usage of one day.
pub type Day = (Activity, Usage);

/// Per day in the filter's zone, from the rows: sessions by their start, messages (prompts,
/// sub-agent messages, tool calls) and usage by their timestamp, distinct projects of either.
pub fn daily_recomputed(conn: &Connection, filter: &ReportFilter) -> Result<BTreeMap<String, Day>, ViewError> {
    let zone = filter.zone.tz.clone();
    let since = filter.since.map(hindcast_core::time_window::format_timestamp);
    let until = filter.until.map(hindcast_core::time_window::format_timestamp);
    let day_of = |timestamp: &str| -> Option<String> {
        let in_window = timestamp >= EARLIEST_VALID
            && since.as_deref().is_none_or(|since| timestamp >= since)
            && until.as_deref().is_none_or(|until| timestamp < until);
        let instant: jiff::Timestamp = timestamp.parse().ok()?;
        in_window.then(|| instant.to_zoned(zone.clone()).date().to_string())
    };
    let client = filter.client.as_deref();
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let mut projects: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();

    let mut statement = conn.prepare(&format!(
        "SELECT s.started_at, {PROJECT_KEY} FROM session s WHERE s.started_at IS NOT NULL AND (?1 IS NULL OR s.client = ?1)"
    ))?;
    let mut rows = statement.query([client])?;
    while let Some(row) = rows.next()? {
        let Some(day) = day_of(&row.get::<_, String>(0)?) else { continue };
        days.entry(day.clone()).or_default().0.sessions += 1;
        if let Some(project) = row.get::<_, Option<String>>(1)? {
            projects.entry(day).or_default().insert(project);
        }
    }

    let mut statement = conn.prepare(&format!(
        "SELECT m.timestamp, {SUBAGENT_MESSAGE}, {USER_PROMPT}, \
         (SELECT count(*) FROM part p WHERE p.message = m.message AND p.kind = 3), {PROJECT_KEY} \
         FROM message m JOIN session s ON s.session = m.session WHERE m.timestamp IS NOT NULL AND (?1 IS NULL OR s.client = ?1)"
    ))?;
    let mut rows = statement.query([client])?;
    while let Some(row) = rows.next()? {
        let Some(day) = day_of(&row.get::<_, String>(0)?) else { continue };
        let activity = &mut days.entry(day.clone()).or_default().0;
        activity.messages += 1;
        activity.subagent_messages += row.get::<_, i64>(1)?;
        activity.user_prompts += row.get::<_, i64>(2)?;
        activity.tool_calls += row.get::<_, i64>(3)?;
        if let Some(project) = row.get::<_, Option<String>>(4)? {
            projects.entry(day).or_default().insert(project);
        }
    }

    let mut statement = conn.prepare(
        "SELECT u.timestamp, u.input_tokens, u.cache_read_tokens, u.cache_creation_tokens, \
         coalesce(u.cache_creation_1h_tokens, 0), u.output_tokens, u.reasoning_tokens, u.cost_nano_usd \
         FROM token_usage u JOIN session s ON s.session = u.session WHERE u.timestamp IS NOT NULL AND (?1 IS NULL OR s.client = ?1)",
    )?;
    let mut rows = statement.query([client])?;
    while let Some(row) = rows.next()? {
        let Some(day) = day_of(&row.get::<_, String>(0)?) else { continue };
        let usage = usage_of_row(row)?;
        days.entry(day).or_default().1.add(&usage);
    }
    for (day, set) in projects {
        days.entry(day).or_default().0.projects = set.len() as i64;
    }
    Ok(days)
}

/// A usage row's tokens as reports show them, from the columns `_, prompt, cache read, cache
/// write, 1-hour write, output, reasoning, cost`.
fn usage_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Usage> {
    let (prompt, cache_read, cache_write, one_hour): (i64, i64, i64, i64) =
        (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
    let cost: Option<i64> = row.get(7)?;
    let mut usage = Usage {
        responses: 1,
        input: prompt - cache_read - cache_write,
        cache_write_5m: cache_write - one_hour,
        cache_write_1h: one_hour,
        cache_read,
        output: row.get(5)?,
        reasoning: row.get(6)?,
        cost_nano_usd: cost.unwrap_or(0),
        unpriced_responses: i64::from(cost.is_none()),
        ..Usage::default()
    };
    // `add` computes the derived fields.
    let mut total = Usage::default();
    total.add(&usage);
    usage = total;
    Ok(usage)
}

/// Per session, from the rows: every usage row of the session (no sub-agents rolled in).
pub fn session_usage_recomputed(conn: &Connection) -> Result<BTreeMap<String, Usage>, ViewError> {
    let mut sessions: BTreeMap<String, Usage> = BTreeMap::new();
    let mut statement = conn.prepare(
        "SELECT lower(hex(s.session_key)), u.input_tokens, u.cache_read_tokens, u.cache_creation_tokens, \
         coalesce(u.cache_creation_1h_tokens, 0), u.output_tokens, u.reasoning_tokens, u.cost_nano_usd \
         FROM token_usage u JOIN session s ON s.session = u.session",
    )?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let usage = usage_of_row(row)?;
        sessions.entry(row.get(0)?).or_default().add(&usage);
    }
    Ok(sessions)
}
