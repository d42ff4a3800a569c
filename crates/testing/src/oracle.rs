//! The recomputation oracle: the daily counters computed again from the raw rows, the reference
//! the trigger-maintained rollups are checked against.

use std::collections::BTreeMap;

use hindcast_store::views::ViewError;
use hindcast_store::views::sessions::Tokens;
use hindcast_store::views::stats::{
    DailyReport, DayStats, PROJECT_KEY, SUBAGENT_MESSAGE, StatsFilter, TOKEN_SUMS, USER_PROMPT, add_tokens,
    corrupt_timestamps, day_entry, day_filter, without_timestamp,
};
use rusqlite::{Connection, params};

/// The same counters recomputed from the raw rows (the reference the rollups are checked against).
pub fn daily_recomputed(conn: &Connection, filter: &StatsFilter) -> Result<DailyReport, ViewError> {
    let args = params![filter.client, filter.since_day, filter.until_day];
    let mut days: BTreeMap<String, DayStats> = BTreeMap::new();

    let sql = format!(
        "SELECT substr(s.started_at, 1, 10), s.client, count(*) FROM session s WHERE {} GROUP BY 1, 2",
        day_filter("s.started_at")
    );
    for row in conn
        .prepare(&sql)?
        .query_map(args, |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?)))?
    {
        let (key, client, count) = row?;
        let stats = day_entry(&mut days, key);
        stats.sessions += count;
        stats.clients.entry(client).or_default().sessions += count;
    }

    let sql = format!(
        "SELECT substr(m.timestamp, 1, 10), s.client, count(*), sum({SUBAGENT_MESSAGE}), sum({USER_PROMPT}) \
         FROM message m JOIN session s ON s.session = m.session WHERE {} GROUP BY 1, 2",
        day_filter("m.timestamp")
    );
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(args)?;
    while let Some(row) = rows.next()? {
        let stats = day_entry(&mut days, row.get(0)?);
        let messages: i64 = row.get(2)?;
        stats.messages += messages;
        stats.subagent_messages += row.get::<_, i64>(3)?;
        stats.user_prompts += row.get::<_, i64>(4)?;
        stats.clients.entry(row.get(1)?).or_default().messages += messages;
    }

    let sql = format!(
        "SELECT substr(m.timestamp, 1, 10), count(*) FROM part p JOIN message m ON m.message = p.message \
         JOIN session s ON s.session = m.session WHERE p.kind = 3 AND {} GROUP BY 1",
        day_filter("m.timestamp")
    );
    for row in conn.prepare(&sql)?.query_map(args, |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))? {
        let (key, count) = row?;
        day_entry(&mut days, key).tool_calls += count;
    }

    let sql = format!(
        "SELECT substr(u.timestamp, 1, 10), coalesce(u.model, 'unknown'), count(*), {TOKEN_SUMS} \
         FROM token_usage u JOIN session s ON s.session = u.session WHERE {} GROUP BY 1, 2",
        day_filter("u.timestamp")
    );
    let mut totals = Tokens::default();
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query(args)?;
    while let Some(row) = rows.next()? {
        let stats = day_entry(&mut days, row.get(0)?);
        add_tokens(&mut stats.tokens, row, 3)?;
        add_tokens(&mut totals, row, 3)?;
        let model = stats.models.entry(row.get(1)?).or_default();
        model.responses += row.get::<_, i64>(2)?;
        add_tokens(&mut model.tokens, row, 3)?;
    }

    let sql = format!(
        "SELECT day, count(DISTINCT project) FROM ( \
           SELECT substr(m.timestamp, 1, 10) AS day, {PROJECT_KEY} AS project \
             FROM message m JOIN session s ON s.session = m.session WHERE {} \
           UNION SELECT substr(s.started_at, 1, 10), {PROJECT_KEY} FROM session s WHERE {} \
         ) WHERE project IS NOT NULL GROUP BY day",
        day_filter("m.timestamp"),
        day_filter("s.started_at")
    );
    for row in conn.prepare(&sql)?.query_map(args, |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))? {
        let (key, count) = row?;
        day_entry(&mut days, key).projects = count;
    }

    let corrupt_timestamps = corrupt_timestamps(conn, filter)?;
    Ok(DailyReport {
        since_day: filter.since_day.clone(),
        until_day: filter.until_day.clone(),
        days: days.into_values().collect(),
        totals,
        corrupt_timestamps,
        without_timestamp: without_timestamp(conn, filter)?,
    })
}
