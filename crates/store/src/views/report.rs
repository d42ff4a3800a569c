//! Cost and token reports in any time zone: days, weeks and months (`stats daily|weekly|monthly`)
//! and 5-hour blocks from the quarter-hour rollups; sessions and projects from the per-session
//! rollup. A report reads rollup rows, never the usage rows themselves, so its cost depends on the
//! span it covers, not on the size of the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::ViewError;
use super::stats::EARLIEST_VALID;

/// The zone a report is in, and the name it is shown by.
#[derive(Clone, Debug)]
pub struct Zone {
    pub tz: TimeZone,
    pub name: String,
}

impl Zone {
    pub fn utc() -> Self {
        Self { tz: TimeZone::UTC, name: "UTC".into() }
    }

    /// An IANA zone (`Asia/Kolkata`), or `UTC`.
    pub fn named(name: &str) -> Result<Self, jiff::Error> {
        Ok(Self { tz: TimeZone::get(name)?, name: name.to_string() })
    }
}

/// What every report is filtered by.
#[derive(Clone, Debug)]
pub struct ReportFilter {
    pub zone: Zone,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub client: Option<String>,
    /// Model rows under each row.
    pub by_model: bool,
}

/// Tokens as users of ccusage know them, and what they cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Usage {
    pub responses: i64,
    /// Uncached input.
    pub input: i64,
    /// Cache writes of five minutes (and of unknown lifetime) and of one hour.
    pub cache_write_5m: i64,
    pub cache_write_1h: i64,
    pub cache_read: i64,
    /// Output, reasoning included.
    pub output: i64,
    /// The part of output that was reasoning.
    pub reasoning: i64,
    /// Input, cache writes, cache reads and output.
    pub total: i64,
    /// USD of the priced responses; `null` when none of the responses could be priced.
    pub cost_usd: Option<f64>,
    /// Responses whose model has no price (their tokens are counted, their cost is unknown).
    pub unpriced_responses: i64,
    #[serde(skip)]
    pub cost_nano_usd: i64,
}

impl Default for Usage {
    /// No responses: nothing to pay.
    fn default() -> Self {
        Self {
            responses: 0,
            input: 0,
            cache_write_5m: 0,
            cache_write_1h: 0,
            cache_read: 0,
            output: 0,
            reasoning: 0,
            total: 0,
            cost_usd: Some(0.0),
            unpriced_responses: 0,
            cost_nano_usd: 0,
        }
    }
}

impl Usage {
    /// Adds the rollup columns `prompt, cache_read, cache_write, cache_write_1h, output, reasoning,
    /// cost_nano_usd, unpriced, responses` read from `row` at `first`.
    fn add_row(&mut self, row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<()> {
        let get = |offset: usize| row.get::<_, Option<i64>>(first + offset).map(Option::unwrap_or_default);
        let (prompt, cache_read, cache_write, one_hour) = (get(0)?, get(1)?, get(2)?, get(3)?);
        self.add(&Usage {
            responses: get(8)?,
            input: prompt - cache_read - cache_write,
            cache_write_5m: cache_write - one_hour,
            cache_write_1h: one_hour,
            cache_read,
            output: get(4)?,
            reasoning: get(5)?,
            cost_nano_usd: get(6)?,
            unpriced_responses: get(7)?,
            ..Usage::default()
        });
        Ok(())
    }

    pub fn add(&mut self, other: &Usage) {
        self.responses += other.responses;
        self.input += other.input;
        self.cache_write_5m += other.cache_write_5m;
        self.cache_write_1h += other.cache_write_1h;
        self.cache_read += other.cache_read;
        self.output += other.output;
        self.reasoning += other.reasoning;
        self.cost_nano_usd += other.cost_nano_usd;
        self.unpriced_responses += other.unpriced_responses;
        self.finish();
    }

    fn finish(&mut self) {
        self.total = self.input + self.cache_write_5m + self.cache_write_1h + self.cache_read + self.output;
        let all_unpriced = self.responses > 0 && self.unpriced_responses == self.responses;
        self.cost_usd = (!all_unpriced).then(|| hindcast_pricing::to_usd(self.cost_nano_usd));
    }
}

/// The rollup columns [`Usage::add_row`] reads, summed.
const USAGE_SUMS: &str = "sum(r.input_tokens), sum(r.cache_read_tokens), sum(r.cache_creation_tokens), \
    sum(r.cache_creation_1h_tokens), sum(r.output_tokens), sum(r.reasoning_tokens), sum(r.cost_nano_usd), \
    sum(r.unpriced_responses), sum(r.responses)";

/// Counters of what happened in a period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub sessions: i64,
    pub user_prompts: i64,
    pub messages: i64,
    pub tool_calls: i64,
    pub subagent_messages: i64,
    /// Distinct projects with activity.
    pub projects: i64,
}

/// Usage of one model (of one client) within a row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelUsage {
    pub client: String,
    pub model: String,
    pub usage: Usage,
}

/// A day, week or month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeriodRow {
    /// The period's first day in the report's zone (`2026-02-12`), or its month (`2026-02`).
    pub period: String,
    /// Its bounds in the report's zone (RFC 3339 with the offset), clipped to `--since/--until`.
    pub start: String,
    pub end: String,
    pub activity: Activity,
    pub usage: Usage,
    /// With `--by model`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelUsage>,
}

/// Days, weeks or months.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    /// Weeks starting on this day.
    Week(Weekday),
    /// Months starting on this day of the month (1–31: the month's last day when it has fewer).
    Month(i8),
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Week(_) => "weekly",
            Period::Month(_) => "monthly",
        }
    }

    /// The start of the period holding `date`.
    fn start_of(self, date: Date) -> Date {
        match self {
            Period::Day => date,
            Period::Week(first) => date - jiff::Span::new().days(i64::from(date.weekday().since(first))),
            Period::Month(day) => {
                let this_month = month_start(date.year(), date.month(), day);
                if date >= this_month {
                    this_month
                } else {
                    let previous = date.first_of_month() - jiff::Span::new().days(1);
                    month_start(previous.year(), previous.month(), day)
                }
            }
        }
    }

    /// The start of the period after the one starting at `start`.
    fn next(self, start: Date) -> Date {
        match self {
            Period::Day => start.tomorrow().unwrap_or(start),
            Period::Week(_) => start + jiff::Span::new().days(7),
            Period::Month(day) => {
                let next = start.first_of_month() + jiff::Span::new().months(1);
                month_start(next.year(), next.month(), day)
            }
        }
    }

    fn label(self, start: Date) -> String {
        match self {
            Period::Month(1) => start.strftime("%Y-%m").to_string(),
            _ => start.to_string(),
        }
    }
}

/// Day `day` of a month, or its last day when it has fewer.
fn month_start(year: i16, month: i8, day: i8) -> Date {
    let first = Date::new(year, month, 1).expect("a month's first day");
    let last = first.days_in_month();
    Date::new(year, month, day.min(last)).unwrap_or(first)
}

/// A report of periods.
#[derive(Clone, Debug, Serialize)]
pub struct PeriodReport {
    pub zone: String,
    pub period: &'static str,
    pub since: Option<String>,
    pub until: Option<String>,
    pub rows: Vec<PeriodRow>,
    pub total: Total,
    /// Models that have no price, with their responses.
    pub unpriced_models: Vec<UnpricedModel>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Total {
    pub activity: Activity,
    pub usage: Usage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnpricedModel {
    pub client: String,
    pub model: String,
    pub responses: i64,
}

/// A UTC instant as a `quarter_rollup` key: `YYYY-MM-DDTHH:MM`, the quarter hour it falls in
/// (`ceil`: the next quarter hour, unless on one).
fn quarter_key(instant: Timestamp, ceil: bool) -> String {
    let seconds = instant.as_second();
    let quarter = 15 * 60;
    let mut floored = seconds.div_euclid(quarter) * quarter;
    if ceil && (floored != seconds || instant.subsec_nanosecond() != 0) {
        floored += quarter;
    }
    let at = Timestamp::from_second(floored).unwrap_or(instant);
    at.strftime("%Y-%m-%dT%H:%M").to_string()
}

fn parse_quarter(key: &str) -> Option<Timestamp> {
    format!("{key}:00Z").parse().ok()
}

/// The span of activity the rollups hold, as instants: `[first quarter, last quarter + 15 min)`.
fn stored_span(conn: &Connection, client: Option<&str>) -> Result<Option<(Timestamp, Timestamp)>, ViewError> {
    let (first, last): (Option<String>, Option<String>) = conn.query_row(
        "SELECT min(quarter), max(quarter) FROM quarter_rollup WHERE ?1 IS NULL OR client = ?1",
        [client],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let (Some(first), Some(last)) = (first.as_deref().and_then(parse_quarter), last.as_deref().and_then(parse_quarter))
    else {
        return Ok(None);
    };
    Ok(Some((first, last + SignedDuration::from_mins(15))))
}

/// A bucket of quarter hours: `[lo, hi)` as rollup keys.
struct Bucket {
    label: String,
    start: Zoned,
    end: Zoned,
    lo: String,
    hi: String,
}

fn buckets(period: Period, zone: &TimeZone, since: Timestamp, until: Timestamp) -> Vec<Bucket> {
    let mut buckets = Vec::new();
    let mut start = period.start_of(since.to_zoned(zone.clone()).date());
    let midnight = |date: Date| date.to_zoned(zone.clone()).ok();
    while let Some(zoned_start) = midnight(start) {
        if zoned_start.timestamp() >= until {
            break;
        }
        let next = period.next(start);
        let Some(zoned_end) = midnight(next) else { break };
        let lo = zoned_start.timestamp().max(since);
        let hi = zoned_end.timestamp().min(until);
        buckets.push(Bucket {
            label: period.label(start),
            start: lo.to_zoned(zone.clone()),
            end: hi.to_zoned(zone.clone()),
            lo: quarter_key(lo, false),
            hi: quarter_key(hi, true),
        });
        if next <= start {
            break;
        }
        start = next;
    }
    buckets
}

/// The `WITH b(i, lo, hi)` table of buckets, inlined: its keys are generated text, never input.
fn buckets_cte(buckets: &[Bucket]) -> String {
    let mut sql = String::from("WITH b(i, lo, hi) AS (VALUES ");
    for (index, bucket) in buckets.iter().enumerate() {
        if index > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "({index}, '{}', '{}')", bucket.lo, bucket.hi);
    }
    sql.push(')');
    sql
}

/// The window to report: the filter's, else what the store holds.
fn report_span(conn: &Connection, filter: &ReportFilter) -> Result<Option<(Timestamp, Timestamp)>, ViewError> {
    let stored = stored_span(conn, filter.client.as_deref())?;
    let earliest: Timestamp = format!("{EARLIEST_VALID}T00:00:00Z").parse().expect("a valid instant");
    let since = filter.since.or(stored.map(|(first, _)| first)).map(|since| since.max(earliest));
    let until = filter.until.or(stored.map(|(_, last)| last));
    Ok(match (since, until) {
        (Some(since), Some(until)) if since < until => Some((since, until)),
        _ => None,
    })
}

/// `stats daily`, `stats weekly`, `stats monthly`.
pub fn periods(conn: &Connection, filter: &ReportFilter, period: Period) -> Result<PeriodReport, ViewError> {
    let mut report = PeriodReport {
        zone: filter.zone.name.clone(),
        period: period.name(),
        since: filter.since.map(|since| since.to_zoned(filter.zone.tz.clone()).to_string()),
        until: filter.until.map(|until| until.to_zoned(filter.zone.tz.clone()).to_string()),
        rows: Vec::new(),
        total: Total::default(),
        unpriced_models: Vec::new(),
    };
    let Some((since, until)) = report_span(conn, filter)? else { return Ok(report) };
    let buckets = buckets(period, &filter.zone.tz, since, until);
    if buckets.is_empty() {
        return Ok(report);
    }
    let cte = buckets_cte(&buckets);
    let mut rows: Vec<PeriodRow> = buckets
        .iter()
        .map(|bucket| PeriodRow {
            period: bucket.label.clone(),
            start: bucket.start.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            end: bucket.end.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            activity: Activity::default(),
            usage: Usage::default(),
            models: Vec::new(),
        })
        .collect();
    let sql = format!(
        "{cte} SELECT b.i, r.client, r.model, sum(r.sessions), sum(r.user_prompts), sum(r.messages), sum(r.tool_calls), \
         sum(r.subagent_messages), {USAGE_SUMS} \
         FROM b JOIN quarter_rollup r ON r.quarter >= b.lo AND r.quarter < b.hi \
         WHERE ?1 IS NULL OR r.client = ?1 GROUP BY b.i, r.client, r.model ORDER BY b.i, r.client, r.model"
    );
    let mut unpriced: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut statement = conn.prepare(&sql)?;
    let mut result = statement.query(params![filter.client])?;
    while let Some(row) = result.next()? {
        let target = &mut rows[row.get::<_, usize>(0)?];
        let (client, model): (String, String) = (row.get(1)?, row.get(2)?);
        let activity = &mut target.activity;
        activity.sessions += row.get::<_, i64>(3)?;
        activity.user_prompts += row.get::<_, i64>(4)?;
        activity.messages += row.get::<_, i64>(5)?;
        activity.tool_calls += row.get::<_, i64>(6)?;
        activity.subagent_messages += row.get::<_, i64>(7)?;
        if model.is_empty() {
            continue;
        }
        let mut usage = Usage::default();
        usage.add_row(row, 8)?;
        target.usage.add(&usage);
        if usage.unpriced_responses > 0 {
            *unpriced.entry((client.clone(), model.clone())).or_default() += usage.unpriced_responses;
        }
        if filter.by_model {
            target.models.push(ModelUsage { client, model, usage });
        }
    }
    let sql = format!(
        "{cte} SELECT b.i, count(DISTINCT p.project) FROM b JOIN quarter_projects p ON p.quarter >= b.lo AND p.quarter < b.hi \
         WHERE ?1 IS NULL OR p.client = ?1 GROUP BY b.i"
    );
    let mut statement = conn.prepare(&sql)?;
    let mut result = statement.query(params![filter.client])?;
    while let Some(row) = result.next()? {
        rows[row.get::<_, usize>(0)?].activity.projects = row.get(1)?;
    }
    report.total.activity.projects = distinct_projects(conn, &cte, filter.client.as_deref())?;
    for row in &rows {
        add_activity(&mut report.total.activity, &row.activity);
        report.total.usage.add(&row.usage);
    }
    report.rows =
        rows.into_iter().filter(|row| row.activity != Activity::default() || row.usage.responses > 0).collect();
    report.unpriced_models = unpriced_models(unpriced);
    Ok(report)
}

fn add_activity(total: &mut Activity, activity: &Activity) {
    total.sessions += activity.sessions;
    total.user_prompts += activity.user_prompts;
    total.messages += activity.messages;
    total.tool_calls += activity.tool_calls;
    total.subagent_messages += activity.subagent_messages;
}

fn distinct_projects(conn: &Connection, cte: &str, client: Option<&str>) -> Result<i64, ViewError> {
    let sql = format!(
        "{cte} SELECT count(DISTINCT p.project) FROM b JOIN quarter_projects p ON p.quarter >= b.lo AND p.quarter < b.hi \
         WHERE ?1 IS NULL OR p.client = ?1"
    );
    Ok(conn.query_row(&sql, [client], |row| row.get(0))?)
}

fn unpriced_models(unpriced: BTreeMap<(String, String), i64>) -> Vec<UnpricedModel> {
    unpriced.into_iter().map(|((client, model), responses)| UnpricedModel { client, model, responses }).collect()
}

/// How long a block lasts (ccusage's session block).
pub const BLOCK_HOURS: i64 = 5;

/// A 5-hour block: it starts at the hour (in the report's zone) of the first response after five
/// hours without one, or of the first response at or after the previous block's end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Block {
    pub client: String,
    pub start: String,
    pub end: String,
    /// `server`: the window the client's server reported (Codex's primary rate-limit window);
    /// `five_hours`: found by the 5-hour rule.
    pub window: &'static str,
    pub first_response: String,
    pub last_response: String,
    pub active: bool,
    pub models: Vec<String>,
    pub usage: Usage,
    /// For the active block: how it is going.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<BlockProgress>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_model: Vec<ModelUsage>,
}

/// The active block's burn rate and where it is heading.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockProgress {
    pub minutes_left: i64,
    /// Over the span from the block's first response to now.
    pub tokens_per_minute: f64,
    pub cost_usd_per_hour: f64,
    /// At this rate until the block ends.
    pub projected_tokens: i64,
    pub projected_cost_usd: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlockReport {
    pub zone: String,
    pub now: String,
    pub blocks: Vec<Block>,
    pub total: Usage,
    pub unpriced_models: Vec<UnpricedModel>,
}

/// `stats blocks`: each client's 5-hour blocks. `now` decides which block is active.
pub fn blocks(conn: &Connection, filter: &ReportFilter, now: Timestamp) -> Result<BlockReport, ViewError> {
    let zone = &filter.zone.tz;
    let mut report = BlockReport {
        zone: filter.zone.name.clone(),
        now: now.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        blocks: Vec::new(),
        total: Usage::default(),
        unpriced_models: Vec::new(),
    };
    let Some((since, until)) = report_span(conn, filter)? else { return Ok(report) };
    // A block that starts before `--since` is read whole: blocks are found from their first
    // response, so the rows of the five hours before are read too.
    let lookback = since - SignedDuration::from_hours(BLOCK_HOURS);
    let mut statement = conn.prepare(&format!(
        "SELECT r.client, r.model, r.first_at, r.last_at, {USAGE_SUMS} FROM quarter_rollup r \
         WHERE r.quarter >= ?1 AND r.quarter < ?2 AND r.model != '' AND r.responses > 0 AND (?3 IS NULL OR r.client = ?3) \
         GROUP BY r.client, r.quarter, r.model ORDER BY r.client, r.quarter, r.model"
    ))?;
    let windows = server_windows(conn, filter.client.as_deref(), lookback, until)?;
    let mut rows = statement.query(params![quarter_key(lookback, false), quarter_key(until, true), filter.client])?;
    let mut unpriced: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut open: Option<OpenBlock> = None;
    let mut finished: Vec<OpenBlock> = Vec::new();
    let hour_of = |instant: Timestamp| -> Timestamp {
        let zoned = instant.to_zoned(zone.clone());
        zoned.with().minute(0).second(0).subsec_nanosecond(0).build().map(|hour| hour.timestamp()).unwrap_or(instant)
    };
    let shown = |instant: Timestamp| instant.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    let block_length = SignedDuration::from_hours(BLOCK_HOURS);
    while let Some(row) = rows.next()? {
        let (client, model): (String, String) = (row.get(0)?, row.get(1)?);
        let (Some(first), Some(last)) = (
            row.get::<_, Option<String>>(2)?.and_then(|text| text.parse::<Timestamp>().ok()),
            row.get::<_, Option<String>>(3)?.and_then(|text| text.parse::<Timestamp>().ok()),
        ) else {
            continue;
        };
        let mut usage = Usage::default();
        usage.add_row(row, 4)?;
        let server = windows
            .get(&client)
            .and_then(|windows| windows.iter().find(|(start, end)| *start <= first && first < *end));
        let starts_new = open.as_ref().is_none_or(|block| match server {
            Some((start, _)) => block.client != client || block.start != *start,
            None => {
                block.client != client
                    || first >= block.end
                    || (block.window == "five_hours" && first.duration_since(block.last) > block_length)
            }
        });
        if starts_new {
            finished.extend(open.take());
            let (start, end, window) = match server {
                Some((start, end)) => (*start, *end, "server"),
                None => {
                    // The 5-hour rule, ending where the next server window starts.
                    let start = hour_of(first);
                    let next = windows
                        .get(&client)
                        .and_then(|windows| windows.iter().map(|(start, _)| *start).find(|next| *next > first));
                    let end = next.map_or(start + block_length, |next| next.min(start + block_length));
                    (start, end, "five_hours")
                }
            };
            open = Some(OpenBlock {
                client: client.clone(),
                start,
                end,
                window,
                first,
                last,
                usage: Usage::default(),
                models: BTreeMap::new(),
            });
        }
        let block = open.as_mut().expect("a block is open");
        block.last = block.last.max(last);
        block.usage.add(&usage);
        block.models.entry(model.clone()).or_default().add(&usage);
        if usage.unpriced_responses > 0 {
            *unpriced.entry((client, model)).or_default() += usage.unpriced_responses;
        }
    }
    finished.extend(open.take());
    for found in finished {
        let end = found.end;
        // Blocks that ended before the window were read only to place the first one in it.
        if end <= since || found.start >= until {
            continue;
        }
        let active = found.start <= now && now < end;
        let progress = active.then(|| {
            let elapsed_minutes = (now.duration_since(found.first).as_secs_f64() / 60.0).max(1.0);
            let minutes_left = end.duration_since(now).as_secs().div_euclid(60);
            let tokens_per_minute = found.usage.total as f64 / elapsed_minutes;
            let cost = found.usage.cost_usd.unwrap_or(0.0);
            let cost_per_minute = cost / elapsed_minutes;
            BlockProgress {
                minutes_left,
                tokens_per_minute: round2(tokens_per_minute),
                cost_usd_per_hour: round2(cost_per_minute * 60.0),
                projected_tokens: found.usage.total + (tokens_per_minute * minutes_left as f64) as i64,
                projected_cost_usd: round2(cost + cost_per_minute * minutes_left as f64),
            }
        });
        let by_model = if filter.by_model {
            found
                .models
                .iter()
                .map(|(model, usage)| ModelUsage {
                    client: found.client.clone(),
                    model: model.clone(),
                    usage: usage.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        report.total.add(&found.usage);
        report.blocks.push(Block {
            client: found.client,
            start: shown(found.start),
            end: shown(end),
            window: found.window,
            first_response: shown(found.first),
            last_response: shown(found.last),
            active,
            models: found.models.into_keys().collect(),
            usage: found.usage,
            progress,
            by_model,
        });
    }
    report.blocks.sort_by(|left, right| left.start.cmp(&right.start).then(left.client.cmp(&right.client)));
    report.unpriced_models = unpriced_models(unpriced);
    Ok(report)
}

/// Readings of one window whose reset times are this close are the same window (the server
/// reports the reset to the second, and not always the same second).
const SAME_RESET: SignedDuration = SignedDuration::from_secs(120);

/// Each client's primary rate-limit windows the servers reported (`[reset - length, reset)`),
/// by start, that meet `[since, until)`.
fn server_windows(
    conn: &Connection,
    client: Option<&str>,
    since: Timestamp,
    until: Timestamp,
) -> Result<HashMap<String, Vec<(Timestamp, Timestamp)>>, ViewError> {
    // Each client's are a range of the unique index `(client, window, …)`; observations repeat
    // their window's reset many times over, and each is read once.
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT resets_at, window_minutes FROM rate_limit WHERE client = ?2 AND window = 'primary' \
         AND resets_at IS NOT NULL AND window_minutes > 0 AND resets_at > ?1 ORDER BY resets_at",
    )?;
    let since = hindcast_core::time_window::format_timestamp(since);
    let mut windows: HashMap<String, Vec<(Timestamp, Timestamp)>> = HashMap::new();
    for client in limit_clients(conn, client)? {
        let mut rows = statement.query(params![since, client])?;
        while let Some(row) = rows.next()? {
            let (reset, minutes): (String, i64) = (row.get(0)?, row.get(1)?);
            let Ok(reset) = reset.parse::<Timestamp>() else { continue };
            let start = reset - SignedDuration::from_mins(minutes);
            if start >= until {
                continue;
            }
            let list = windows.entry(client.clone()).or_default();
            match list.last().map(|(_, end)| *end) {
                Some(end) if reset.duration_since(end).abs() <= SAME_RESET => {}
                // A window that starts before the last one ended: the server moved its reset (or
                // the plan changed); the new one starts where the old one ends.
                Some(end) if start < end => list.push((end, reset)),
                _ => list.push((start, reset)),
            }
        }
    }
    Ok(windows)
}

/// A block while its responses are read.
struct OpenBlock {
    client: String,
    start: Timestamp,
    end: Timestamp,
    window: &'static str,
    first: Timestamp,
    last: Timestamp,
    usage: Usage,
    models: BTreeMap<String, Usage>,
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// One session with the usage of its sub-agents rolled in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionRow {
    pub session_id: String,
    pub client: String,
    /// The client's own id of the session.
    pub native_id: String,
    pub title: Option<String>,
    pub project: Option<String>,
    pub started_at: Option<String>,
    pub last_activity: Option<String>,
    pub models: Vec<String>,
    /// The session's own responses.
    pub own: Usage,
    /// Its sub-agent sessions (at any depth), and their usage.
    pub subagents: i64,
    pub subagent_usage: Usage,
    /// Own and sub-agents'.
    pub usage: Usage,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_model: Vec<ModelUsage>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SessionReport {
    pub zone: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub sessions: Vec<SessionRow>,
    pub total: Usage,
    pub unpriced_models: Vec<UnpricedModel>,
}

/// A stored session, as the sessions and projects reports read it.
struct StoredSession {
    id: String,
    client: String,
    native_id: String,
    title: Option<String>,
    project_key: Option<String>,
    cwd: Option<String>,
    git_origin_url: Option<String>,
    started_at: Option<String>,
    ended_at: Option<String>,
    parent: Option<i64>,
    is_subagent: bool,
    models: BTreeMap<String, Usage>,
}

/// Every session in the filter's client, with its usage per model.
fn stored_sessions(conn: &Connection, client: Option<&str>) -> Result<BTreeMap<i64, StoredSession>, ViewError> {
    let mut sessions = BTreeMap::new();
    let mut statement = conn.prepare(
        "SELECT s.session, lower(hex(s.session_key)), s.client, s.title, s.project_key, s.cwd, s.git_origin_url, \
         s.started_at, s.ended_at, p.session, coalesce(s.relationship, '') = 'subagent', s.native_id \
         FROM session s LEFT JOIN session p ON p.session_key = s.parent_session_key WHERE ?1 IS NULL OR s.client = ?1",
    )?;
    let mut rows = statement.query([client])?;
    while let Some(row) = rows.next()? {
        sessions.insert(
            row.get::<_, i64>(0)?,
            StoredSession {
                id: row.get(1)?,
                client: row.get(2)?,
                // The client's own title only: a prompt per session would cost a lookup each.
                title: super::sessions::one_line_title(row.get(3)?),
                project_key: row.get(4)?,
                cwd: row.get(5)?,
                git_origin_url: row.get(6)?,
                started_at: row.get(7)?,
                ended_at: row.get(8)?,
                parent: row.get(9)?,
                is_subagent: row.get(10)?,
                native_id: row.get(11)?,
                models: BTreeMap::new(),
            },
        );
    }
    let mut statement = conn.prepare(&format!(
        "SELECT r.session, r.model, {USAGE_SUMS} FROM session_rollup r JOIN session s ON s.session = r.session \
         WHERE ?1 IS NULL OR s.client = ?1 GROUP BY r.session, r.model"
    ))?;
    let mut rows = statement.query([client])?;
    while let Some(row) = rows.next()? {
        let Some(session) = sessions.get_mut(&row.get::<_, i64>(0)?) else { continue };
        session.models.entry(row.get(1)?).or_default().add_row(row, 2)?;
    }
    Ok(sessions)
}

/// The session a sub-agent's usage rolls into: its nearest ancestor that is not a sub-agent.
fn rolled_into(sessions: &BTreeMap<i64, StoredSession>, mut session: i64) -> i64 {
    let mut seen = BTreeSet::new();
    while let Some(stored) = sessions.get(&session) {
        match stored.parent {
            Some(parent) if stored.is_subagent && sessions.contains_key(&parent) && seen.insert(session) => {
                session = parent;
            }
            _ => break,
        }
    }
    session
}

/// Whether a session's activity (`[started_at, ended_at]`) meets the window.
fn in_window(session: &StoredSession, since: Option<&str>, until: Option<&str>) -> bool {
    let last = session.ended_at.as_deref().or(session.started_at.as_deref());
    let first = session.started_at.as_deref().or(last);
    since.is_none_or(|since| last.is_some_and(|last| last >= since))
        && until.is_none_or(|until| first.is_some_and(|first| first < until))
}

/// `stats sessions`: whole sessions active in the window, sub-agents rolled into their parent.
pub fn sessions(conn: &Connection, filter: &ReportFilter) -> Result<SessionReport, ViewError> {
    let stored = stored_sessions(conn, filter.client.as_deref())?;
    let (since, until) = window_text(filter);
    let mut rows: BTreeMap<i64, SessionRow> = BTreeMap::new();
    let mut unpriced: BTreeMap<(String, String), i64> = BTreeMap::new();
    let zone = &filter.zone.tz;
    let local = |text: &Option<String>| {
        text.as_deref()
            .and_then(|text| text.parse::<Timestamp>().ok())
            .map(|instant| instant.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
    };
    for (&key, session) in &stored {
        let root = rolled_into(&stored, key);
        let root_session = &stored[&root];
        if !in_window(root_session, since.as_deref(), until.as_deref()) {
            continue;
        }
        let row = rows.entry(root).or_insert_with(|| SessionRow {
            session_id: root_session.id.clone(),
            client: root_session.client.clone(),
            native_id: root_session.native_id.clone(),
            title: root_session.title.clone(),
            project: project_of(root_session, &HashMap::new()),
            started_at: local(&root_session.started_at),
            last_activity: local(&root_session.ended_at.clone().or(root_session.started_at.clone())),
            models: Vec::new(),
            own: Usage::default(),
            subagents: 0,
            subagent_usage: Usage::default(),
            usage: Usage::default(),
            by_model: Vec::new(),
        });
        if root != key {
            row.subagents += 1;
            // A sub-agent active after its parent's last message extends the parent's activity.
            let sub_last = local(&session.ended_at);
            if sub_last > row.last_activity {
                row.last_activity = sub_last;
            }
        }
        for (model, usage) in &session.models {
            if root == key {
                row.own.add(usage);
            } else {
                row.subagent_usage.add(usage);
            }
            row.usage.add(usage);
            if !row.models.contains(model) {
                row.models.push(model.clone());
            }
            if usage.unpriced_responses > 0 {
                *unpriced.entry((session.client.clone(), model.clone())).or_default() += usage.unpriced_responses;
            }
            if filter.by_model {
                match row.by_model.iter_mut().find(|entry| entry.model == *model) {
                    Some(entry) => entry.usage.add(usage),
                    None => row.by_model.push(ModelUsage {
                        client: session.client.clone(),
                        model: model.clone(),
                        usage: usage.clone(),
                    }),
                }
            }
        }
    }
    let mut sessions: Vec<SessionRow> = rows.into_values().collect();
    for row in &mut sessions {
        row.models.sort();
        row.by_model.sort_by(|left, right| left.model.cmp(&right.model));
    }
    sessions.sort_by(|left, right| {
        left.last_activity.cmp(&right.last_activity).then_with(|| left.session_id.cmp(&right.session_id))
    });
    let mut total = Usage::default();
    for row in &sessions {
        total.add(&row.usage);
    }
    Ok(SessionReport {
        zone: filter.zone.name.clone(),
        since: filter.since.map(|since| since.to_zoned(zone.clone()).to_string()),
        until: filter.until.map(|until| until.to_zoned(zone.clone()).to_string()),
        sessions,
        total,
        unpriced_models: unpriced_models(unpriced),
    })
}

fn window_text(filter: &ReportFilter) -> (Option<String>, Option<String>) {
    (
        filter.since.map(hindcast_core::time_window::format_timestamp),
        filter.until.map(hindcast_core::time_window::format_timestamp),
    )
}

/// A git remote as a project name: `git@github.com:org/repo.git` and
/// `https://github.com/org/repo` are both `github.com/org/repo`.
pub fn repository_name(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    let without_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let without_user = without_scheme.rsplit_once('@').map_or(without_scheme, |(_, rest)| rest);
    let path = match without_user.split_once(':') {
        // scp-like `host:org/repo`, not `host:port/org/repo`.
        Some((host, rest)) if !rest.starts_with(|c: char| c.is_ascii_digit()) => format!("{host}/{rest}"),
        Some((host, rest)) => {
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{host}{rest}")
        }
        None => without_user.to_string(),
    };
    path.trim_end_matches(".git").to_string()
}

/// A worktree's checkout as the repository it belongs to: Claude Code's
/// `<repo>/.claude/worktrees/<name>` and the common `<repo>/.worktrees/<name>`.
pub fn worktree_root(path: &str) -> &str {
    for marker in ["/.claude/worktrees/", "/.worktrees/"] {
        if let Some(at) = path.find(marker) {
            return &path[..at];
        }
    }
    path
}

/// A session's project: its git remote (its own, or one another session recorded for the same
/// directory), else its project directory with worktrees folded into their repository.
fn project_of(session: &StoredSession, remotes: &HashMap<String, String>) -> Option<String> {
    let directory = session.project_key.as_deref().or(session.cwd.as_deref()).map(worktree_root);
    let remote = session
        .git_origin_url
        .as_deref()
        .filter(|url| !url.trim().is_empty())
        .map(repository_name)
        .or_else(|| directory.and_then(|directory| remotes.get(directory).cloned()));
    remote.or_else(|| directory.map(str::to_string))
}

/// One project's usage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProjectRow {
    pub project: String,
    /// The directories its sessions ran in.
    pub directories: Vec<String>,
    pub clients: Vec<String>,
    pub sessions: i64,
    pub last_activity: Option<String>,
    pub usage: Usage,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_model: Vec<ModelUsage>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProjectReport {
    pub zone: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub projects: Vec<ProjectRow>,
    pub total: Usage,
    pub unpriced_models: Vec<UnpricedModel>,
}

/// `stats projects`: whole sessions active in the window, by project (sub-agents with their parent).
pub fn projects(conn: &Connection, filter: &ReportFilter) -> Result<ProjectReport, ViewError> {
    let stored = stored_sessions(conn, filter.client.as_deref())?;
    let (since, until) = window_text(filter);
    let mut remotes: HashMap<String, String> = HashMap::new();
    for session in stored.values() {
        if let (Some(url), Some(directory)) = (
            session.git_origin_url.as_deref().filter(|url| !url.trim().is_empty()),
            session.project_key.as_deref().or(session.cwd.as_deref()),
        ) {
            remotes.entry(worktree_root(directory).to_string()).or_insert_with(|| repository_name(url));
        }
    }
    let zone = &filter.zone.tz;
    let mut projects: BTreeMap<String, ProjectRow> = BTreeMap::new();
    let mut unpriced: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (&key, session) in &stored {
        let root = &stored[&rolled_into(&stored, key)];
        if !in_window(root, since.as_deref(), until.as_deref()) {
            continue;
        }
        let name = project_of(root, &remotes).unwrap_or_else(|| "(none)".to_string());
        let row = projects.entry(name.clone()).or_insert_with(|| ProjectRow {
            project: name,
            directories: Vec::new(),
            clients: Vec::new(),
            sessions: 0,
            last_activity: None,
            usage: Usage::default(),
            by_model: Vec::new(),
        });
        if std::ptr::eq(root, session) {
            row.sessions += 1;
        }
        if let Some(directory) = session.cwd.as_deref().or(session.project_key.as_deref())
            && !row.directories.iter().any(|known| known == directory)
        {
            row.directories.push(directory.to_string());
        }
        if !row.clients.contains(&session.client) {
            row.clients.push(session.client.clone());
        }
        let last = session.ended_at.clone().or(session.started_at.clone());
        if last > row.last_activity {
            row.last_activity = last;
        }
        for (model, usage) in &session.models {
            row.usage.add(usage);
            if usage.unpriced_responses > 0 {
                *unpriced.entry((session.client.clone(), model.clone())).or_default() += usage.unpriced_responses;
            }
            if filter.by_model {
                match row.by_model.iter_mut().find(|entry| entry.model == *model && entry.client == session.client) {
                    Some(entry) => entry.usage.add(usage),
                    None => row.by_model.push(ModelUsage {
                        client: session.client.clone(),
                        model: model.clone(),
                        usage: usage.clone(),
                    }),
                }
            }
        }
    }
    let mut projects: Vec<ProjectRow> = projects.into_values().collect();
    let mut total = Usage::default();
    for row in &mut projects {
        row.directories.sort();
        row.clients.sort();
        row.by_model.sort_by(|left, right| left.client.cmp(&right.client).then(left.model.cmp(&right.model)));
        row.last_activity = row
            .last_activity
            .as_deref()
            .and_then(|text| text.parse::<Timestamp>().ok())
            .map(|instant| instant.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
        total.add(&row.usage);
    }
    projects.sort_by(|left, right| {
        right.usage.cost_nano_usd.cmp(&left.usage.cost_nano_usd).then_with(|| left.project.cmp(&right.project))
    });
    Ok(ProjectReport {
        zone: filter.zone.name.clone(),
        since: filter.since.map(|since| since.to_zoned(zone.clone()).to_string()),
        until: filter.until.map(|until| until.to_zoned(zone.clone()).to_string()),
        projects,
        total,
        unpriced_models: unpriced_models(unpriced),
    })
}

/// One rate-limit observation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateLimit {
    pub client: String,
    /// `primary` / `secondary` (Codex), `five_hour` / `seven_day` (Claude).
    pub window: String,
    pub window_minutes: Option<i64>,
    pub used_percent: f64,
    /// In the report's zone.
    pub observed_at: String,
    pub resets_at: Option<String>,
    pub plan: Option<String>,
    pub session_id: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RateLimitReport {
    pub zone: String,
    /// The latest observation of each client's windows.
    pub latest: Vec<RateLimit>,
    /// Every observation in the window, oldest first (with `--history`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<RateLimit>>,
}

/// How much of the rate-limit history a report holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitHistory {
    /// The latest observation of each window only.
    Omitted,
    /// Every observation in the window (`--history`).
    All,
    /// The newest observations, at most this many.
    Newest(usize),
}

/// `client`, or every client with rate-limit observations, in order: a seek of the unique index
/// `(client, window, observed_at)` per client.
fn limit_clients(conn: &Connection, client: Option<&str>) -> Result<Vec<String>, ViewError> {
    if let Some(client) = client {
        return Ok(vec![client.to_string()]);
    }
    let mut clients = Vec::new();
    let mut next = conn.prepare_cached("SELECT min(client) FROM rate_limit WHERE client > ?1")?;
    let mut found: Option<String> = conn.query_row("SELECT min(client) FROM rate_limit", [], |row| row.get(0))?;
    while let Some(client) = found {
        found = next.query_row([&client], |row| row.get(0))?;
        clients.push(client);
    }
    Ok(clients)
}

/// The (client, window) pairs that have observations, in order: one seek of the unique index
/// `(client, window, observed_at)` per pair, where a `GROUP BY` would read every observation.
fn limit_windows(conn: &Connection, client: Option<&str>) -> Result<Vec<(String, String)>, ViewError> {
    let clients = limit_clients(conn, client)?;
    let mut first_window = conn.prepare_cached("SELECT min(window) FROM rate_limit WHERE client = ?1")?;
    let mut next_window =
        conn.prepare_cached("SELECT min(window) FROM rate_limit WHERE client = ?1 AND window > ?2")?;
    let mut pairs = Vec::new();
    for client in clients {
        let mut found: Option<String> = first_window.query_row([&client], |row| row.get(0))?;
        while let Some(window) = found {
            found = next_window.query_row(rusqlite::params![client, window], |row| row.get(0))?;
            pairs.push((client.clone(), window));
        }
    }
    Ok(pairs)
}

/// `stats limits`: what the servers said of their rate limits.
pub fn rate_limits(
    conn: &Connection,
    filter: &ReportFilter,
    history: LimitHistory,
) -> Result<RateLimitReport, ViewError> {
    let zone = &filter.zone.tz;
    let local = |text: Option<String>| {
        text.and_then(|text| text.parse::<Timestamp>().ok())
            .map(|instant| instant.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
    };
    let read = |sql: &str, args: &[&dyn rusqlite::ToSql]| -> Result<Vec<RateLimit>, ViewError> {
        let mut statement = conn.prepare_cached(sql)?;
        let rows = statement.query_map(args, |row| {
            Ok(RateLimit {
                client: row.get(0)?,
                window: row.get(1)?,
                window_minutes: row.get(2)?,
                used_percent: row.get(3)?,
                observed_at: local(row.get(4)?).unwrap_or_default(),
                resets_at: local(row.get(5)?),
                plan: row.get(6)?,
                session_id: row.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let columns = "r.client, r.window, r.window_minutes, r.used_percent, r.observed_at, r.resets_at, r.plan, \
        iif(s.session_key IS NULL, NULL, lower(hex(s.session_key)))";
    let (since, until) = window_text(filter);
    // Each window's observations newest first, through the unique index.
    let newest = format!(
        "SELECT {columns} FROM rate_limit r LEFT JOIN session s ON s.session = r.session \
         WHERE r.client = ?1 AND r.window = ?2 AND (?3 IS NULL OR r.observed_at >= ?3) \
         AND (?4 IS NULL OR r.observed_at < ?4) ORDER BY r.observed_at DESC LIMIT ?5"
    );
    let windows = limit_windows(conn, filter.client.as_deref())?;
    let mut latest = Vec::new();
    let mut recent = Vec::new();
    let per_window = match history {
        LimitHistory::Newest(count) => count,
        _ => 1,
    };
    for (client, window) in &windows {
        let rows = read(&newest, &[client, window, &since, &until, &(per_window as i64)])?;
        if let Some(first) = rows.first() {
            latest.push(first.clone());
        }
        recent.extend(rows);
    }
    let history = match history {
        LimitHistory::Omitted => None,
        LimitHistory::All => {
            let window = "(?1 IS NULL OR r.client = ?1) AND (?2 IS NULL OR r.observed_at >= ?2) \
                AND (?3 IS NULL OR r.observed_at < ?3)";
            Some(read(
                &format!(
                    "SELECT {columns} FROM rate_limit r LEFT JOIN session s ON s.session = r.session WHERE {window} \
                     ORDER BY r.observed_at, r.client, r.window"
                ),
                &[&filter.client, &since, &until],
            )?)
        }
        LimitHistory::Newest(count) => {
            // The newest of every window's newest, oldest first as the whole history is.
            recent.sort_by(|a, b| {
                (b.observed_at.as_str(), &b.client, &b.window).cmp(&(a.observed_at.as_str(), &a.client, &a.window))
            });
            recent.truncate(count);
            recent.reverse();
            Some(recent)
        }
    };
    Ok(RateLimitReport { zone: filter.zone.name.clone(), latest, history })
}

/// What the status line shows: one session's usage (its sub-agents in), today's, the active block.
#[derive(Clone, Debug, Serialize)]
pub struct StatusFigures {
    /// `None` when the session is not in the store (yet).
    pub session: Option<Usage>,
    pub today: Usage,
    pub block: Option<Block>,
}

/// The status line's figures for the session `native_id` of `client`, at `now` in `zone`.
pub fn status_figures(
    conn: &Connection,
    zone: &Zone,
    client: &str,
    native_id: Option<&str>,
    now: Timestamp,
) -> Result<StatusFigures, ViewError> {
    let session = match native_id {
        None => None,
        Some(native_id) => {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {USAGE_SUMS} FROM session s JOIN session_rollup r ON r.session = s.session \
                 WHERE s.client = ?1 AND (s.native_id = ?2 OR (coalesce(s.relationship, '') = 'subagent' AND s.parent_session_key = \
                 (SELECT p.session_key FROM session p WHERE p.client = ?1 AND p.native_id = ?2)))"
            ))?;
            let mut rows = statement.query(params![client, native_id])?;
            let mut usage = Usage::default();
            let row = rows.next()?.expect("an aggregate has a row");
            usage.add_row(row, 0)?;
            let known: bool = conn.query_row(
                "SELECT count(*) > 0 FROM session WHERE client = ?1 AND native_id = ?2",
                params![client, native_id],
                |row| row.get(0),
            )?;
            known.then_some(usage)
        }
    };
    let today_start =
        now.to_zoned(zone.tz.clone()).date().to_zoned(zone.tz.clone()).map(|zoned| zoned.timestamp()).unwrap_or(now);
    let tomorrow = now
        .to_zoned(zone.tz.clone())
        .date()
        .tomorrow()
        .ok()
        .and_then(|date| date.to_zoned(zone.tz.clone()).ok())
        .map_or(now, |zoned| zoned.timestamp());
    let mut today = Usage::default();
    {
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {USAGE_SUMS} FROM quarter_rollup r WHERE r.quarter >= ?1 AND r.quarter < ?2"
        ))?;
        let mut rows = statement.query(params![quarter_key(today_start, false), quarter_key(tomorrow, true)])?;
        if let Some(row) = rows.next()? {
            today.add_row(row, 0)?;
        }
    }
    let filter = ReportFilter {
        zone: zone.clone(),
        since: Some(now - SignedDuration::from_hours(BLOCK_HOURS)),
        until: Some(now + SignedDuration::from_mins(1)),
        client: Some(client.to_string()),
        by_model: false,
    };
    let block = blocks(conn, &filter, now)?.blocks.into_iter().find(|block| block.active);
    Ok(StatusFigures { session, today, block })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn periods_start_where_the_user_expects() {
        for (period, day, start, next) in [
            (Period::Day, "2026-02-12", "2026-02-12", "2026-02-13"),
            (Period::Week(Weekday::Monday), "2026-02-12", "2026-02-09", "2026-02-16"),
            (Period::Week(Weekday::Sunday), "2026-02-12", "2026-02-08", "2026-02-15"),
            (Period::Week(Weekday::Thursday), "2026-02-12", "2026-02-12", "2026-02-19"),
            (Period::Month(1), "2026-02-12", "2026-02-01", "2026-03-01"),
            (Period::Month(15), "2026-02-12", "2026-01-15", "2026-02-15"),
            (Period::Month(15), "2026-02-15", "2026-02-15", "2026-03-15"),
            // A cycle on the 31st starts on a shorter month's last day.
            (Period::Month(31), "2026-03-01", "2026-02-28", "2026-03-31"),
            (Period::Month(31), "2026-04-29", "2026-03-31", "2026-04-30"),
        ] {
            let got = period.start_of(date(day));
            assert_eq!((got, period.next(got)), (date(start), date(next)), "{period:?} {day}");
        }
    }

    #[test]
    fn each_windows_latest_and_newest_limits_are_the_whole_historys() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE session (session INTEGER PRIMARY KEY, session_key BLOB);
             CREATE TABLE rate_limit (rate_limit INTEGER PRIMARY KEY, client TEXT NOT NULL, session INTEGER,
                 observed_at TEXT NOT NULL, window TEXT NOT NULL, window_minutes INTEGER, used_percent REAL NOT NULL,
                 resets_at TEXT, plan TEXT, UNIQUE (client, window, observed_at));",
        )
        .unwrap();
        let mut insert = conn
            .prepare("INSERT INTO rate_limit (client, observed_at, window, used_percent) VALUES (?1, ?2, ?3, ?4)")
            .unwrap();
        for (index, (client, window)) in
            [("codex", "primary"), ("codex", "secondary"), ("claude", "five_hour"), ("", ""), ("codex", "")]
                .iter()
                .enumerate()
        {
            for hour in 0..6 {
                let at = format!("2026-03-0{}T{:02}:00:00Z", 1 + (hour + index) % 3, 10 + hour);
                insert.execute(params![client, at, window, (index * 10 + hour) as f64]).unwrap();
            }
        }
        let filter = ReportFilter {
            zone: Zone::utc(),
            since: Some("2026-03-01T12:00:00Z".parse().unwrap()),
            until: Some("2026-03-03T00:00:00Z".parse().unwrap()),
            client: None,
            by_model: false,
        };
        let all = rate_limits(&conn, &filter, LimitHistory::All).unwrap().history.unwrap();
        let key = |limit: &RateLimit| (limit.client.clone(), limit.window.clone());
        let mut expected: BTreeMap<(String, String), RateLimit> = BTreeMap::new();
        for limit in &all {
            expected.insert(key(limit), limit.clone());
        }
        let latest = rate_limits(&conn, &filter, LimitHistory::Omitted).unwrap();
        assert!(latest.history.is_none());
        assert_eq!(latest.latest, expected.into_values().collect::<Vec<_>>(), "the last of each window, in order");
        let newest = rate_limits(&conn, &filter, LimitHistory::Newest(4)).unwrap().history.unwrap();
        let mut by_time = all.clone();
        by_time.sort_by(|a, b| {
            (a.observed_at.as_str(), &a.client, &a.window).cmp(&(b.observed_at.as_str(), &b.client, &b.window))
        });
        assert_eq!(newest, by_time[by_time.len() - 4..], "the four newest, oldest first");
        let codex = ReportFilter { client: Some("codex".into()), ..filter };
        let windows: Vec<String> = rate_limits(&conn, &codex, LimitHistory::Omitted)
            .unwrap()
            .latest
            .into_iter()
            .map(|limit| limit.window)
            .collect();
        assert_eq!(windows, ["", "primary", "secondary"]);
    }

    #[test]
    fn quarter_keys_floor_and_ceil() {
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        assert_eq!(quarter_key(at("2026-02-12T10:14:59Z"), false), "2026-02-12T10:00");
        assert_eq!(quarter_key(at("2026-02-12T10:14:59Z"), true), "2026-02-12T10:15");
        assert_eq!(quarter_key(at("2026-02-12T10:15:00Z"), true), "2026-02-12T10:15");
        // Midnight in Kathmandu (+05:45) is a quarter hour in UTC.
        let kathmandu = Zone::named("Asia/Kathmandu").unwrap();
        let midnight = date("2026-02-12").to_zoned(kathmandu.tz).unwrap().timestamp();
        assert_eq!(quarter_key(midnight, false), "2026-02-11T18:15");
        assert_eq!(quarter_key(midnight, true), "2026-02-11T18:15");
    }

    #[test]
    fn days_follow_the_zone_through_a_dst_change() {
        let zone = Zone::named("America/Los_Angeles").unwrap();
        let since = "2026-03-07T08:00:00Z".parse().unwrap();
        let until = "2026-03-10T07:00:00Z".parse().unwrap();
        let got: Vec<(String, String, String)> =
            buckets(Period::Day, &zone.tz, since, until).into_iter().map(|b| (b.label, b.lo, b.hi)).collect();
        assert_eq!(
            got,
            [
                ("2026-03-07".into(), "2026-03-07T08:00".into(), "2026-03-08T08:00".into()),
                // 23 hours: clocks went forward at 02:00.
                ("2026-03-08".into(), "2026-03-08T08:00".into(), "2026-03-09T07:00".into()),
                ("2026-03-09".into(), "2026-03-09T07:00".into(), "2026-03-10T07:00".into()),
            ]
        );
    }

    #[test]
    fn projects_are_named_by_their_repository() {
        for (url, name) in [
            ("git@github.com:acme/widget.git", "github.com/acme/widget"),
            ("https://github.com/acme/widget", "github.com/acme/widget"),
            ("https://user:token@github.com/acme/widget.git/", "github.com/acme/widget"),
            ("ssh://git@example.com:2222/acme/widget.git", "example.com/acme/widget"),
        ] {
            assert_eq!(repository_name(url), name, "{url}");
        }
        assert_eq!(worktree_root("/src/widget/.claude/worktrees/fix-login"), "/src/widget");
        assert_eq!(worktree_root("/src/widget/.worktrees/a/b"), "/src/widget");
        assert_eq!(worktree_root("/src/widget"), "/src/widget");
    }
}
