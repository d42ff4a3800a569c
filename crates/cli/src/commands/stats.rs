//! `hindcast stats daily|weekly|monthly|sessions|projects|blocks|limits`: the reports, as tables
//! with a legend and a Total row, or as JSON documents naming their time zone.

use hindcast_core::time_window::{TimeWindow, WindowEdge, parse_time_spec_in};
use hindcast_store::Store;
use hindcast_store::views::report::{self, ModelUsage, Period, ReportFilter, Usage, Zone};
use hindcast_store::views::stats;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde_json::json;

use super::Context;
use super::sessions::view_error;
use crate::cli::{ReportWindowArgs, StatsAction, StatsBy, StatsReportArgs, WeekStart};
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Grid};
use crate::output::print_json;

pub fn run(context: &Context, action: &StatsAction) -> anyhow::Result<u8> {
    match action {
        StatsAction::Daily(args) => periods(context, args, Period::Day),
        StatsAction::Weekly { report, start_of_week } => {
            periods(context, report, Period::Week(weekday(*start_of_week)))
        }
        StatsAction::Monthly { report, month_start_day } => periods(context, report, Period::Month(*month_start_day)),
        StatsAction::Sessions(args) => sessions(context, args),
        StatsAction::Projects(args) => projects(context, args),
        StatsAction::Blocks(args) => blocks(context, args),
        StatsAction::Limits(args) => super::limits::run(context, args),
    }
}

fn weekday(start: WeekStart) -> Weekday {
    match start {
        WeekStart::Monday => Weekday::Monday,
        WeekStart::Tuesday => Weekday::Tuesday,
        WeekStart::Wednesday => Weekday::Wednesday,
        WeekStart::Thursday => Weekday::Thursday,
        WeekStart::Friday => Weekday::Friday,
        WeekStart::Saturday => Weekday::Saturday,
        WeekStart::Sunday => Weekday::Sunday,
    }
}

/// The zone of a report: `--utc`, `--timezone`, else `TZ`, else the system's.
pub fn report_zone(context: &Context, timezone: Option<&str>, utc: bool) -> Result<Zone, ExitError> {
    if utc {
        return Ok(Zone::utc());
    }
    if let Some(name) = timezone {
        return Zone::named(name).map_err(|error| {
            ExitError::usage(format!("--timezone {name}: not a time zone this system knows (an IANA name such as Asia/Kolkata, or UTC): {error}"))
        });
    }
    if let Some(tz) = context.env.var("TZ").map(|tz| tz.trim_start_matches(':')).filter(|tz| !tz.is_empty()) {
        if let Ok(zone) = Zone::named(tz) {
            return Ok(zone);
        }
        if let Ok(posix) = TimeZone::posix(tz) {
            return Ok(Zone { tz: posix, name: tz.to_string() });
        }
    }
    let system = TimeZone::try_system().unwrap_or(TimeZone::UTC);
    let name = system.iana_name().map_or_else(|| "the system's zone".to_string(), str::to_string);
    Ok(Zone { tz: system, name })
}

/// The filter of a report's flags.
pub fn report_filter(
    context: &Context,
    args: &ReportWindowArgs,
    by: Option<StatsBy>,
) -> Result<ReportFilter, ExitError> {
    let zone = report_zone(context, args.timezone.as_deref(), args.utc)?;
    let now = context.now();
    let parse = |flag: &str, value: Option<&str>, edge| {
        value
            .filter(|value| !(edge == WindowEdge::Since && value.trim().eq_ignore_ascii_case("all")))
            .map(|value| parse_time_spec_in(value, edge, now, &zone.tz))
            .transpose()
            .map_err(|error| ExitError::usage(format!("{flag}: {error}")))
    };
    let since = parse("--since", args.since.as_deref(), WindowEdge::Since)?;
    let until = parse("--until", args.until.as_deref(), WindowEdge::Until)?;
    TimeWindow::new(since, until).map_err(|error| ExitError::usage(error.to_string()))?;
    let client = args.client.as_deref().map(|client| super::known_client(context, client)).transpose()?;
    Ok(ReportFilter { zone, since, until, client, by_model: by == Some(StatsBy::Model) })
}

fn open(context: &Context) -> Result<rusqlite::Connection, ExitError> {
    Store::open_read_only(&context.paths()?.db).map_err(|error| ExitError::failure(error.to_string()))
}

/// One line under every token table.
pub const LEGEND: &str = "input: uncached; cache write: 5-minute and 1-hour; cache read: from the cache;\n\
output: with reasoning; total: all four. K, M, B: thousand, million, billion.";

fn periods(context: &Context, args: &StatsReportArgs, period: Period) -> anyhow::Result<u8> {
    let filter = report_filter(context, &args.window, args.by)?;
    let format = context.format(&args.window.output);
    let conn = open(context)?;
    let report = report::periods(&conn, &filter, period).map_err(view_error)?;
    let left_out = stats::left_out(&conn, filter.client.as_deref()).map_err(view_error)?;
    if args.window.output.json() {
        print_json(&json!({
            "schema": format!("hindcast.stats.{}/v2", period.name()),
            "report": report,
            "corrupt_timestamps": left_out.corrupt,
            "without_timestamp": left_out.undated,
        }));
        return Ok(exit::OK);
    }
    let label = match period {
        Period::Day => "day",
        Period::Week(_) => "week of",
        Period::Month(1) => "month",
        Period::Month(_) => "cycle from",
    };
    // Prompts, messages and tool calls are in `--json`: with them the table would not fit 80 columns.
    let mut rendered =
        Grid::new(&[label, "sessions", "input", "cache\nwrite", "cache\nread", "output", "total", "cost"]);
    for row in &report.rows {
        usage_rows(
            &mut rendered,
            vec![Cell::exact(&row.period), Cell::Count(row.activity.sessions)],
            &row.usage,
            &row.models,
        );
    }
    let total = &report.total;
    let mut cells = vec![Cell::exact("Total"), Cell::Count(total.activity.sessions)];
    cells.extend(usage_cells(&total.usage));
    rendered.total(cells);
    let before = format!(
        "{} report, {}, {}\n",
        capitalized(period.name()),
        report.zone,
        window_text(&report.since, &report.until)
    );
    let mut text = format!("{LEGEND}\n");
    text.push_str(&unpriced_note(&report.unpriced_models));
    if left_out.corrupt.sessions + left_out.corrupt.messages + left_out.corrupt.usage > 0 {
        text.push_str(&format!(
            "Left out as corrupt (timestamps before {}): {} sessions, {} messages, {} usage records\n",
            stats::EARLIEST_VALID,
            left_out.corrupt.sessions,
            left_out.corrupt.messages,
            left_out.corrupt.usage
        ));
    }
    if left_out.undated.messages + left_out.undated.usage > 0 {
        text.push_str(&format!(
            "Left out, no readable timestamp (absent, or unreadable in the source): {} messages, {} usage records\n",
            left_out.undated.messages, left_out.undated.usage
        ));
    }
    context.print_grid(format, &before, &rendered, &text);
    Ok(exit::OK)
}

fn sessions(context: &Context, args: &StatsReportArgs) -> anyhow::Result<u8> {
    let filter = report_filter(context, &args.window, args.by)?;
    let format = context.format(&args.window.output);
    let conn = open(context)?;
    let report = report::sessions(&conn, &filter).map_err(view_error)?;
    if args.window.output.json() {
        print_json(&json!({ "schema": "hindcast.stats.sessions/v1", "report": report }));
        return Ok(exit::OK);
    }
    let mut rendered =
        Grid::new(&["session", "last active", "input", "cache\nwrite", "cache\nread", "output", "?total", "cost"]);
    for row in &report.sessions {
        let agents = if row.subagents > 0 { format!(" +{}", row.subagents) } else { String::new() };
        let last = row
            .last_activity
            .as_deref()
            .map_or_else(|| "-".to_string(), |at| at.get(5..16).unwrap_or(at).replace('T', " "));
        let cells = vec![
            Cell::exact(format!(
                "{} {}{agents}",
                row.client,
                hindcast_store::views::sessions::short_id(&row.session_id)
            )),
            Cell::exact(last),
        ];
        usage_rows(&mut rendered, cells, &row.usage, &row.by_model);
    }
    let mut cells = vec![Cell::exact("Total"), Cell::Empty];
    cells.extend(usage_cells(&report.total));
    rendered.total(cells);
    let before = format!(
        "Sessions, {}, {}\n(whole sessions, sub-agents in their parent: +N)\n",
        report.zone,
        window_text(&report.since, &report.until)
    );
    let text = format!("{LEGEND}\n{}", unpriced_note(&report.unpriced_models));
    context.print_grid(format, &before, &rendered, &text);
    Ok(exit::OK)
}

fn projects(context: &Context, args: &StatsReportArgs) -> anyhow::Result<u8> {
    let filter = report_filter(context, &args.window, args.by)?;
    let format = context.format(&args.window.output);
    let conn = open(context)?;
    let report = report::projects(&conn, &filter).map_err(view_error)?;
    if args.window.output.json() {
        print_json(&json!({ "schema": "hindcast.stats.projects/v1", "report": report }));
        return Ok(exit::OK);
    }
    let mut rendered =
        Grid::new(&["project", "sessions", "input", "cache\nwrite", "cache\nread", "output", "?total", "cost"]);
    for row in &report.projects {
        usage_rows(&mut rendered, vec![Cell::text(&row.project), Cell::Count(row.sessions)], &row.usage, &row.by_model);
    }
    let sessions: i64 = report.projects.iter().map(|row| row.sessions).sum();
    let mut cells = vec![Cell::exact("Total"), Cell::Count(sessions)];
    cells.extend(usage_cells(&report.total));
    rendered.total(cells);
    let before = format!(
        "Projects, {}, {}\n(whole sessions; most expensive first)\n",
        report.zone,
        window_text(&report.since, &report.until)
    );
    let text = format!("{LEGEND}\n{}", unpriced_note(&report.unpriced_models));
    context.print_grid(format, &before, &rendered, &text);
    Ok(exit::OK)
}

fn blocks(context: &Context, args: &StatsReportArgs) -> anyhow::Result<u8> {
    let filter = report_filter(context, &args.window, args.by)?;
    let format = context.format(&args.window.output);
    let conn = open(context)?;
    let report = report::blocks(&conn, &filter, context.now()).map_err(view_error)?;
    if args.window.output.json() {
        print_json(&json!({ "schema": "hindcast.stats.blocks/v1", "report": report }));
        return Ok(exit::OK);
    }
    let mut rendered =
        Grid::new(&["block start", "client", "input", "cache\nwrite", "cache\nread", "output", "?total", "cost"]);
    for block in &report.blocks {
        let start = block.start.get(..16).unwrap_or(&block.start).replace('T', " ");
        let server = if block.window == "server" { "†" } else { "" };
        let cells = vec![
            Cell::exact(if block.active { format!("{start}{server} now") } else { format!("{start}{server}") }),
            Cell::exact(&block.client),
        ];
        usage_rows(&mut rendered, cells, &block.usage, &block.by_model);
    }
    let mut cells = vec![Cell::exact("Total"), Cell::Empty];
    cells.extend(usage_cells(&report.total));
    rendered.total(cells);
    let before = format!(
        "5-hour blocks, {}\n(a block starts at the hour of the first response after 5 quiet hours;\n†: the server's own window, where Codex's rollouts recorded it)\n",
        report.zone
    );
    let mut text = format!("{LEGEND}\n");
    for block in report.blocks.iter().filter(|block| block.active) {
        if let Some(progress) = &block.progress {
            let ends = block.end.get(11..16).unwrap_or(&block.end);
            text.push_str(&format!(
                "Active {} block: {} so far, {} left (ends {ends}), {} tokens/minute",
                block.client,
                cost(&block.usage),
                minutes(progress.minutes_left),
                compact(progress.tokens_per_minute as i64),
            ));
            if block.usage.cost_usd.is_some() {
                text.push_str(&format!(
                    ", {}/hour: {} by its end",
                    dollars(progress.cost_usd_per_hour),
                    dollars(progress.projected_cost_usd)
                ));
            }
            text.push('\n');
        }
    }
    text.push_str(&unpriced_note(&report.unpriced_models));
    context.print_grid(format, &before, &rendered, &text);
    Ok(exit::OK)
}

/// A row of `label` cells and `usage`, with a row per model under it (`--by model`).
fn usage_rows(grid: &mut Grid, mut label: Vec<Cell>, usage: &Usage, models: &[ModelUsage]) {
    let label_columns = label.len();
    label.extend(usage_cells(usage));
    grid.row(label);
    for model in models {
        grid.detail(model_row(model, label_columns));
    }
}

fn model_row(model: &ModelUsage, label_columns: usize) -> Vec<Cell> {
    let mut cells = vec![Cell::exact(short_model(&model.model))];
    cells.extend(std::iter::repeat_n(Cell::Empty, label_columns - 1));
    cells.extend(usage_cells(&model.usage));
    cells
}

fn usage_cells(usage: &Usage) -> Vec<Cell> {
    vec![
        Cell::Tokens(usage.input),
        Cell::Tokens(usage.cache_write_5m + usage.cache_write_1h),
        Cell::Tokens(usage.cache_read),
        Cell::Tokens(usage.output),
        Cell::Tokens(usage.total),
        Cell::Cost { usd: usage.cost_usd, partial: usage.unpriced_responses > 0 },
    ]
}

/// A model id as a table row shows it: without the vendor's `claude-` prefix and a trailing
/// release date (`claude-sonnet-4-5-20250929` is `sonnet-4-5`); `--json` has the ids as recorded.
pub fn short_model(model: &str) -> &str {
    let undated = hindcast_pricing::undated_model(model).unwrap_or(model);
    undated.strip_prefix("claude-").unwrap_or(undated)
}

/// A cost as shown: dollars, `*` when some responses are unpriced, `unpriced` when all are.
pub fn cost(usage: &Usage) -> String {
    match usage.cost_usd {
        None => "unpriced".to_string(),
        Some(value) if usage.unpriced_responses > 0 => format!("{}*", dollars(value)),
        Some(value) => dollars(value),
    }
}

pub use crate::grid::{compact_count as compact, dollars};

fn plural(count: i64, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

fn minutes(total: i64) -> String {
    if total >= 60 { format!("{}h {:02}m", total / 60, total % 60) } else { format!("{total}m") }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

fn window_text(since: &Option<String>, until: &Option<String>) -> String {
    let at = |text: &Option<String>, open: &str| {
        text.as_deref().map_or_else(|| open.to_string(), |text| text.get(..16).unwrap_or(text).replace('T', " "))
    };
    match (since, until) {
        (None, None) => "all history".to_string(),
        _ => format!("{} .. {}", at(since, "the beginning"), at(until, "now")),
    }
}

/// A warning naming each model without a price.
pub fn unpriced_note(models: &[report::UnpricedModel]) -> String {
    if models.is_empty() {
        return String::new();
    }
    let named: Vec<String> = models
        .iter()
        .map(|model| format!("{} ({}, {})", model.model, model.client, plural(model.responses, "response")))
        .collect();
    format!(
        "* Unpriced: no price in the table for {}.\n  Their tokens are counted; their cost is unknown, not $0 (`hindcast prices`).\n",
        named.join(", ")
    )
}
