//! `hindcast stats daily`.

use hindcast_core::time_window::TimeWindow;
use hindcast_store::Store;
use hindcast_store::views::stats::{self, Breakdown, StatsFilter};
use serde_json::json;

use super::Context;
use super::sessions::view_error;
use crate::cli::{StatsAction, StatsBy, StatsDailyArgs};
use crate::exit::{self, ExitError};
use crate::output::{print_json, print_stdout, table};

pub fn run(context: &Context, action: &StatsAction) -> anyhow::Result<u8> {
    let StatsAction::Daily(args) = action;
    daily(context, args)
}

fn daily(context: &Context, args: &StatsDailyArgs) -> anyhow::Result<u8> {
    let window = TimeWindow::new(args.since, args.until).map_err(|error| ExitError::usage(error.to_string()))?;
    let filter = StatsFilter::whole_days(&window, args.client.clone());
    let conn = Store::open_read_only(&context.paths()?.db).map_err(|error| ExitError::failure(error.to_string()))?;
    if let Some(by) = args.by {
        let by = match by {
            StatsBy::Model => Breakdown::Model,
            StatsBy::Project => Breakdown::Project,
        };
        let rows = stats::breakdown(&conn, &filter, by).map_err(view_error)?;
        if args.json {
            let by = if by == Breakdown::Model { "model" } else { "project" };
            print_json(
                &json!({ "schema": "hindcast.stats.breakdown/v1", "by": by, "since_day": filter.since_day, "until_day": filter.until_day, "rows": rows }),
            );
            return Ok(exit::OK);
        }
        let key = if by == Breakdown::Model { "model" } else { "project" };
        let mut rendered =
            table(&["day", key, "sessions", "msgs", "tools", "responses", "input", "cached", "output", "reasoning"]);
        for row in &rows {
            rendered.add_row([
                row.day.clone(),
                row.key.clone(),
                row.sessions.to_string(),
                row.messages.to_string(),
                row.tool_calls.to_string(),
                row.responses.to_string(),
                row.tokens.input.to_string(),
                row.tokens.cached_input.to_string(),
                row.tokens.output.to_string(),
                row.tokens.reasoning.to_string(),
            ]);
        }
        print_stdout(&format!("{rendered}\n"));
        return Ok(exit::OK);
    }
    let report = stats::daily(&conn, &filter).map_err(view_error)?;
    if args.json {
        print_json(&json!({ "schema": "hindcast.stats.daily/v1", "report": report }));
        return Ok(exit::OK);
    }
    let mut rendered = table(&[
        "day (UTC)",
        "sessions",
        "prompts",
        "msgs",
        "tools",
        "subagent msgs",
        "input",
        "cached",
        "cache write",
        "output",
        "reasoning",
        "projects",
    ]);
    for day in &report.days {
        rendered.add_row([
            day.day.clone(),
            day.sessions.to_string(),
            day.user_prompts.to_string(),
            day.messages.to_string(),
            day.tool_calls.to_string(),
            day.subagent_messages.to_string(),
            day.tokens.input.to_string(),
            day.tokens.cached_input.to_string(),
            day.tokens.cache_creation.to_string(),
            day.tokens.output.to_string(),
            day.tokens.reasoning.to_string(),
            day.projects.to_string(),
        ]);
    }
    let corrupt = &report.corrupt_timestamps;
    let mut text = format!("{rendered}\n");
    if corrupt.sessions + corrupt.messages + corrupt.usage > 0 {
        text.push_str(&format!(
            "Left out as corrupt (timestamps before {}): {} sessions, {} messages, {} usage records\n",
            stats::EARLIEST_VALID,
            corrupt.sessions,
            corrupt.messages,
            corrupt.usage
        ));
    }
    let undated = &report.without_timestamp;
    if undated.messages + undated.usage > 0 {
        text.push_str(&format!(
            "Left out, no readable timestamp (absent, or unreadable in the source): {} messages, {} usage records\n",
            undated.messages, undated.usage
        ));
    }
    print_stdout(&text);
    Ok(exit::OK)
}
