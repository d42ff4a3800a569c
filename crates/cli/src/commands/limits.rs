//! `hindcast stats limits`: the rate limits the servers reported, latest per window, and with
//! `--history` every observation.

use hindcast_store::Store;
use hindcast_store::views::report::{self, RateLimit};
use serde_json::json;

use super::Context;
use super::sessions::view_error;
use super::stats::report_filter;
use crate::cli::StatsLimitsArgs;
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Format, Grid};
use crate::output::print_json;

pub fn run(context: &Context, args: &StatsLimitsArgs) -> anyhow::Result<u8> {
    let filter = report_filter(context, &args.window, None)?;
    let conn = Store::open_read_only(&context.paths()?.db).map_err(|error| ExitError::failure(error.to_string()))?;
    let history = if args.history { report::LimitHistory::All } else { report::LimitHistory::Omitted };
    let report = report::rate_limits(&conn, &filter, history).map_err(view_error)?;
    let format = context.format(&args.window.output);
    if format == Format::Json {
        print_json(&json!({ "schema": "hindcast.stats.limits/v1", "report": report }));
        return Ok(exit::OK);
    }
    let render = |limits: &[RateLimit]| {
        let mut rendered = Grid::new(&["client", "window", "used", "resets", "observed"]);
        for limit in limits {
            rendered.row(vec![
                Cell::exact(&limit.client),
                Cell::exact(window_name(limit)),
                Cell::exact(format!("{:.0}%", limit.used_percent)),
                Cell::exact(limit.resets_at.as_deref().map_or_else(|| "-".to_string(), shown_time)),
                Cell::exact(shown_time(&limit.observed_at)),
            ]);
        }
        rendered
    };
    if format != Format::Table {
        // Piped: one table of rows, every observation with --history.
        let rows = report.history.as_deref().unwrap_or(&report.latest);
        context.print_grid(format, "", &render(rows), "");
        return Ok(exit::OK);
    }
    let mut text = if report.latest.is_empty() {
        format!(
            "No rate limits recorded ({}). Codex records them in its rollouts; Claude's reach the store through `hindcast statusline`.\n",
            report.zone
        )
    } else {
        format!(
            "Rate limits the servers reported, latest per window, {}\n{}",
            report.zone,
            render(&report.latest).render(format, &context.look)
        )
    };
    if let Some(history) = &report.history {
        text.push_str(&format!(
            "History ({} observations)\n{}",
            history.len(),
            render(history).render(format, &context.look)
        ));
    }
    crate::output::print_exact(&context.fitted(&text));
    Ok(exit::OK)
}

/// `primary (5h)`, `seven_day`, ...
fn window_name(limit: &RateLimit) -> String {
    match limit.window_minutes {
        Some(minutes) if minutes % 1440 == 0 => format!("{} ({}d)", limit.window, minutes / 1440),
        Some(minutes) if minutes % 60 == 0 => format!("{} ({}h)", limit.window, minutes / 60),
        Some(minutes) => format!("{} ({minutes}m)", limit.window),
        None => limit.window.clone(),
    }
}

fn shown_time(text: &str) -> String {
    text.get(..16).unwrap_or(text).replace('T', " ")
}
