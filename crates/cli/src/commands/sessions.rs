//! `hindcast sessions list | show | tree`.

use hindcast_core::time_window::TimeWindow;
use hindcast_store::Store;
use hindcast_store::views::conversation::{self, Entry, Piece};
use hindcast_store::views::sessions::{self, SessionFilter, SessionSummary, TreeNode};
use hindcast_store::views::{TextWindow, ViewError};
use serde_json::json;

use super::Context;
use crate::cli::{SessionsAction, SessionsListArgs, ShowFormat};
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Format, Grid};
use crate::output::{print_exact, print_json};
use crate::terminal::{shown, shown_prefix};

/// Maps view errors to exit codes: an unknown or ambiguous id is a usage error.
pub fn view_error(error: ViewError) -> ExitError {
    match error {
        ViewError::NotFound(_) | ViewError::Ambiguous { .. } => ExitError::usage(error.to_string()),
        ViewError::Sqlite(_) => ExitError::failure(error.to_string()),
    }
}

pub fn run(context: &Context, action: &SessionsAction) -> anyhow::Result<u8> {
    let conn = Store::open_read_only(&context.paths()?.db).map_err(|error| ExitError::failure(error.to_string()))?;
    match action {
        SessionsAction::List(args) => list(context, &conn, args),
        SessionsAction::Show { id, full, all, no_pager, at, format, json } => {
            let session_id = sessions::resolve(&conn, id).map_err(view_error)?;
            let mut detail = sessions::show(&conn, &session_id).map_err(view_error)?;
            // An API error's cause, as the client that wrote it records it.
            if let Some(provider) = context.registry.get(&detail.summary.client) {
                for message in &mut detail.messages {
                    if let Some(frame) = message.error_frame.take() {
                        message.error_cause = provider.describe_error(&frame);
                    }
                }
            }
            let format = if *json { ShowFormat::Json } else { format.unwrap_or(ShowFormat::Text) };
            let zone = super::stats::report_zone(context, None, false)?;
            match format {
                ShowFormat::Json => print_json(&json!({ "schema": "hindcast.session/v1", "session": detail })),
                ShowFormat::Markdown => {
                    let entries = conversation::arrange(&detail, &zone.tz, *all, *at);
                    print_exact(&conversation::markdown(&detail, &entries, &zone.name, &shown));
                }
                ShowFormat::Html => {
                    let entries = conversation::arrange(&detail, &zone.tz, *all, *at);
                    let children = sessions::children_of(&conn, &detail.summary.session_id).map_err(view_error)?;
                    let spawned = conversation::Spawned::of(&children);
                    print_exact(&conversation::html(&detail, &entries, &zone.name, &shown, &spawned));
                }
                ShowFormat::Text => {
                    let text = render_detail(&detail, *full, *all, *at, &zone, context.look.ascii);
                    if *no_pager || !crate::output::through_pager(context, &context.fitted(&text)) {
                        context.print_text(&text);
                    }
                }
            }
            Ok(exit::OK)
        }
        SessionsAction::Tree { id, json } => {
            let root = match id {
                Some(id) => Some(sessions::resolve(&conn, id).map_err(view_error)?),
                None => None,
            };
            let trees = sessions::tree(&conn, root.as_deref()).map_err(view_error)?;
            if *json {
                print_json(&json!({ "schema": "hindcast.session-tree/v1", "trees": trees }));
            } else if trees.is_empty() {
                context.print_text("No session has sub-agents, continuations, forks or links.\n");
            } else {
                let mut text = String::new();
                for tree in &trees {
                    render_tree(tree, 0, context.look.ascii, &mut text);
                }
                context.print_text(&text);
            }
            Ok(exit::OK)
        }
    }
}

fn list(context: &Context, conn: &rusqlite::Connection, args: &SessionsListArgs) -> anyhow::Result<u8> {
    let client = args.client.as_deref().map(|client| super::known_client(context, client)).transpose()?;
    let window = TimeWindow::new(args.since.and_then(crate::cli::Since::bound), args.until)
        .map_err(|error| ExitError::usage(error.to_string()))?;
    let filter = SessionFilter {
        client,
        window: TextWindow::from_window(&window),
        project: args.project.clone(),
        limit: (args.limit > 0).then_some(args.limit),
        ..SessionFilter::default()
    };
    let rows = sessions::list(conn, &filter).map_err(view_error)?;
    let format = context.format(&args.output);
    if format == Format::Json {
        print_json(&json!({ "schema": "hindcast.sessions/v1", "sessions": rows }));
        return Ok(exit::OK);
    }
    let zone = super::stats::report_zone(context, None, false)?;
    let mut rendered = Grid::new(&[
        "started",
        "id",
        "client",
        "title",
        "?project",
        "msgs",
        "?tools",
        "?tokens",
        "?duration",
        "?models",
    ]);
    for row in &rows {
        let started = match format {
            Format::Table => local_minute(row.started_at.as_deref(), &zone),
            _ => row.started_at.clone().unwrap_or_default(),
        };
        let one_line = |text: Option<&str>| text.unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
        rendered.row(vec![
            Cell::exact(started),
            Cell::exact(sessions::short_id(&row.session_id)),
            Cell::exact(&row.client),
            Cell::text(one_line(row.title.as_deref())),
            Cell::text(one_line(row.project.as_deref())),
            Cell::Count(row.messages),
            Cell::Count(row.tool_calls),
            Cell::Tokens(row.tokens.input + row.tokens.output),
            Cell::exact(row.duration_seconds.map(duration).unwrap_or_default()),
            Cell::text(row.models.join(", ")),
        ]);
    }
    let total = sessions::count(conn, &filter).map_err(view_error)?;
    let shown_count = rows.len() as u64;
    let footer = if shown_count < total {
        format!("showing {shown_count} of {total} sessions, newest first (--limit N, or --limit 0 for all)")
    } else {
        format!("{total} session{}", if total == 1 { "" } else { "s" })
    };
    let before = if format == Format::Table { format!("Sessions, times in {}\n", zone.name) } else { String::new() };
    context.print_grid(format, &before, &rendered, &format!("{footer}\n"));
    Ok(exit::OK)
}

fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Shortens `text` to `limit` characters on one line, counted on what is shown.
fn trim(text: &str, limit: usize, ascii: bool) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let ellipsis = if ascii { "..." } else { "…" };
    match shown_prefix(&flat, limit.saturating_sub(ellipsis.chars().count())) {
        Some((kept, _)) if shown(&flat).chars().count() > limit => format!("{kept}{ellipsis}"),
        _ => shown(&flat).into_owned(),
    }
}

fn render_detail(
    detail: &sessions::SessionDetail,
    full: bool,
    all: bool,
    at: Option<i64>,
    zone: &hindcast_store::views::report::Zone,
    ascii: bool,
) -> String {
    let summary: &SessionSummary = &detail.summary;
    let mut text = format!(
        "{} session {}\n  id:       {}\n  native:   {}\n  title:    {}\n  project:  {}\n  started:  {}\n  ended:    {}\n  models:   {}\n  tokens:   input {} (cached {}), output {} (reasoning {})\n",
        summary.client,
        sessions::short_id(&summary.session_id),
        summary.session_id,
        shown(&summary.native_id),
        summary.title.as_deref().unwrap_or("-"),
        summary.project.as_deref().unwrap_or("-"),
        local_time(summary.started_at.as_deref(), zone),
        local_time(summary.ended_at.as_deref(), zone),
        summary.models.join(", "),
        summary.tokens.input,
        summary.tokens.cached_input,
        summary.tokens.output,
        summary.tokens.reasoning,
    );
    if let (Some(parent), Some(relationship)) = (&summary.parent_session_id, &summary.relationship) {
        text.push_str(&format!("  parent:   {relationship} of {parent}\n"));
    }
    text.push_str(&format!("  times:    {}\n", zone.name));
    text.push('\n');
    let limit = if full { usize::MAX } else { 400 };
    let (call_arrow, result_arrow, rule) = if ascii { ("->", "<-", "--") } else { ("→", "←", "──") };
    let result_line = |result: &sessions::PartView, indent: &str| {
        format!(
            "{indent}{result_arrow} {}{}\n",
            if result.is_error == Some(true) { "error: " } else { "" },
            clip(result.text.as_deref().unwrap_or(""), limit, ascii).replace("\n  ", &format!("\n{indent}  "))
        )
    };
    for entry in conversation::arrange(detail, &zone.tz, all, at) {
        match entry {
            // A date line whenever the day changes, in the reader's zone.
            Entry::Day(date) => text.push_str(&format!("{rule} {} {rule}\n", date.strftime("%A %Y-%m-%d"))),
            Entry::Folded(count) => text.push_str(&format!("  ({})\n", conversation::folded_text(count))),
            Entry::Rewound(count) => text.push_str(&format!("  ({})\n", conversation::rewound_text(count))),
            Entry::Earlier(count) => text.push_str(&format!("  ({})\n", conversation::earlier_text(count))),
            Entry::Message(turn) => {
                let stamp = turn.clock().unwrap_or_else(|| "--:--:--".to_string());
                let flags = turn.flags().map_or_else(String::new, |flags| format!(" [{flags}]"));
                text.push_str(&format!("{stamp} {}{flags}\n", turn.message.role));
                if let Some(cause) = &turn.message.error_cause {
                    text.push_str(&format!("  error: {}\n", shown(cause)));
                }
                for piece in &turn.parts {
                    match piece {
                        Piece::Call { call, result } => {
                            text.push_str(&format!(
                                "  {call_arrow} {}({})\n",
                                shown(call.tool_name.as_deref().unwrap_or("tool")),
                                trim(&conversation::tool_input_text(call), limit.min(200), ascii)
                            ));
                            if let Some(result) = result {
                                text.push_str(&result_line(result, "    "));
                            }
                        }
                        Piece::Result(result) => text.push_str(&result_line(result, "  ")),
                        Piece::Thinking(thinking) => {
                            text.push_str(&format!("  (thinking) {}\n", clip(thinking, limit, ascii)))
                        }
                        Piece::Image => text.push_str("  [image]\n"),
                        Piece::Other => text.push_str("  [other content]\n"),
                        Piece::Text(body) => text.push_str(&format!("  {}\n", clip(body, limit, ascii))),
                    }
                }
            }
        }
    }
    text
}

/// A stored time in the reader's zone (`2026-03-08 15:00:00 +05:30`), `-` when there is none.
fn local_time(at: Option<&str>, zone: &hindcast_store::views::report::Zone) -> String {
    at.and_then(|at| at.parse::<jiff::Timestamp>().ok()).map_or_else(
        || at.unwrap_or("-").to_string(),
        |at| at.to_zoned(zone.tz.clone()).strftime("%Y-%m-%d %H:%M:%S %:z").to_string(),
    )
}

/// A time to the minute in `zone`, for a table.
fn local_minute(at: Option<&str>, zone: &hindcast_store::views::report::Zone) -> String {
    at.and_then(|at| at.parse::<jiff::Timestamp>().ok()).map_or_else(
        || at.unwrap_or("-").to_string(),
        |at| at.to_zoned(zone.tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
    )
}

/// Keeps line breaks but stops after `limit` characters shown.
fn clip(text: &str, limit: usize, ascii: bool) -> String {
    match shown_prefix(text, limit) {
        None => shown(text).replace('\n', "\n  "),
        Some((kept, left)) => {
            let ellipsis = if ascii { "..." } else { "…" };
            format!("{}{ellipsis} ({left} more characters; --full shows all)", kept.replace('\n', "\n  "))
        }
    }
}

fn render_tree(node: &TreeNode, depth: usize, ascii: bool, text: &mut String) {
    let indent = "    ".repeat(depth);
    let branch = if ascii { "`- " } else { "└─ " };
    let label = node.relationship.as_deref().map(|relationship| format!("{relationship}: ")).unwrap_or_default();
    text.push_str(&format!(
        "{indent}{}{label}{} {} {}  {}\n",
        if depth == 0 { "" } else { branch },
        node.client,
        sessions::short_id(&node.session_id),
        node.started_at.as_deref().map(|at| at.get(..16).unwrap_or(at).replace('T', " ")).unwrap_or_default(),
        trim(node.title.as_deref().unwrap_or(""), 50, ascii),
    ));
    for child in &node.children {
        render_tree(child, depth + 1, ascii, text);
    }
}
