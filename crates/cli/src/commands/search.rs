//! `hindcast search`: ranked hits across every client, the best per session, each with a
//! highlighted snippet, the command that opens the conversation there and the client's own resume
//! command; builds the search index of an upgraded store once, and again with `--rebuild`.

use std::io::IsTerminal;

use hindcast_core::time_window::TimeWindow;
use hindcast_store::Store;
use hindcast_store::views::TextWindow;
use hindcast_store::views::search::{self, Found, Hit, Matching, Ranking, RoleFilter, SearchFilter};
use hindcast_store::views::sessions;
use serde_json::json;

use super::Context;
use crate::cli::{SearchArgs, SearchRole};
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Format, Grid};
use crate::output::print_json;
use crate::terminal::shown;

pub fn run(context: &Context, args: &SearchArgs) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    let failure = |error: hindcast_store::StoreError| ExitError::failure(error.to_string());
    let pending = {
        let conn = Store::open_read_only(&paths.db).map_err(failure)?;
        let pending = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?1) OR NOT EXISTS \
             (SELECT 1 FROM sqlite_schema WHERE name = 'search_words')",
            [hindcast_store::search::PENDING_KEY],
            |row| row.get::<_, bool>(0),
        );
        pending.map_err(|error| ExitError::failure(error.to_string()))?
    };
    if pending || args.rebuild {
        build_index(context, &paths.db, args.rebuild)?;
        if args.query.is_empty() {
            return Ok(exit::OK);
        }
    }
    let query = args.query.join(" ");
    let terms = search::parse(&query).map_err(|error| ExitError::usage(format!("search \"{query}\": {error}")))?;
    let conn = Store::open_read_only(&paths.db).map_err(failure)?;
    let client = args.client.as_deref().map(|client| super::known_client(context, client)).transpose()?;
    let window = TimeWindow::new(args.since.and_then(crate::cli::Since::bound), args.until)
        .map_err(|error| ExitError::usage(error.to_string()))?;
    let session_id = match &args.session {
        Some(id) => Some(sessions::resolve(&conn, id).map_err(super::sessions::view_error)?),
        None => None,
    };
    let filter = SearchFilter {
        client,
        project: args.project.clone(),
        window: TextWindow::from_window(&window),
        role: args.role.map(|role| match role {
            SearchRole::User => RoleFilter::User,
            SearchRole::Assistant => RoleFilter::Assistant,
            SearchRole::Tool => RoleFilter::Tool,
        }),
        session_id,
        all_hits: args.all_hits,
        limit: args.limit,
    };
    let found = search::search(&conn, &terms, &filter).map_err(super::sessions::view_error)?;
    let format = context.format(&args.output);
    match format {
        Format::Json => print_json(&json!({
            "schema": "hindcast.search/v1",
            "query": query,
            "matching": found.matching,
            "ranking": found.ranking,
            "sessions": found.sessions,
            "hits": found.hits.iter().map(|hit| hit_json(context, hit)).collect::<Vec<_>>(),
        })),
        // Every transcript text in it is shown safely already; its colour codes must stay codes.
        Format::Table => crate::output::print_exact(&context.fitted(&human(context, &query, &found))),
        _ => {
            let mut grid = Grid::new(&[
                "session", "client", "started", "title", "project", "message", "at", "role", "snippet", "open",
                "resume",
            ]);
            for hit in &found.hits {
                grid.row(vec![
                    Cell::exact(&hit.session_id),
                    Cell::exact(&hit.client),
                    Cell::exact(hit.started_at.clone().unwrap_or_default()),
                    Cell::text(hit.title.clone().unwrap_or_default()),
                    Cell::text(hit.project.clone().unwrap_or_default()),
                    Cell::exact(hit.message_seq.map(|seq| seq.to_string()).unwrap_or_default()),
                    Cell::exact(hit.message_at.clone().unwrap_or_default()),
                    Cell::exact(hit.role.clone().unwrap_or_default()),
                    Cell::text(plain_snippet(&hit.marked_snippet)),
                    Cell::text(open_command(hit)),
                    Cell::text(resume_command(context, hit).unwrap_or_default()),
                ]);
            }
            context.print_grid(format, "", &grid, &footer(&found));
        }
    }
    Ok(exit::OK)
}

/// Builds the search index from the rows (once for an upgraded store, or on `--rebuild`), with a
/// progress bar on a terminal.
pub(crate) fn build_index(context: &Context, db: &std::path::Path, asked: bool) -> Result<(), ExitError> {
    let _lock = super::backfill::lock_store(db)?;
    let mut store = Store::open(db, context.store_options).map_err(|error| ExitError::failure(error.to_string()))?;
    if !asked {
        context.notice("building the search index from the stored conversations, once (later imports keep it current)");
    }
    let target = if context.quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::hidden()
    } else {
        indicatif::ProgressDrawTarget::stderr()
    };
    let bar = indicatif::ProgressBar::with_draw_target(Some(0), target);
    bar.set_style(
        indicatif::ProgressStyle::with_template("indexing {bar:30} {pos}/{len} parts ({eta})")
            .expect("a valid template"),
    );
    let started = std::time::Instant::now();
    store
        .build_search_index(&mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(|error| ExitError::failure(format!("cannot build the search index: {error}")))?;
    bar.finish_and_clear();
    context.notice(&format!(
        "search index built in {}",
        crate::output::human_millis(started.elapsed().as_millis() as u64)
    ));
    Ok(())
}

/// The snippet without its match marks.
fn plain_snippet(marked: &str) -> String {
    marked.replace([search::MATCH_START, search::MATCH_END], "")
}

/// The command that opens the conversation at the hit.
fn open_command(hit: &Hit) -> String {
    match hit.message_seq {
        Some(seq) => format!("hindcast sessions show {} --at {seq}", sessions::short_id(&hit.session_id)),
        None => format!("hindcast sessions show {}", sessions::short_id(&hit.session_id)),
    }
}

/// A word as a POSIX shell reads it back.
fn shell_word(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The client's resume command, run in the session's directory.
fn resume_command(context: &Context, hit: &Hit) -> Option<String> {
    let words = context.registry.get(&hit.client)?.resume_command(&hit.native_id)?;
    let command = words.iter().map(|word| shell_word(word)).collect::<Vec<_>>().join(" ");
    Some(match &hit.cwd {
        Some(cwd) => format!("cd {} && {command}", shell_word(cwd)),
        None => command,
    })
}

fn hit_json(context: &Context, hit: &Hit) -> serde_json::Value {
    let mut highlights = Vec::new();
    let mut offset = 0;
    for (text, matched) in search::snippet_pieces(&hit.marked_snippet) {
        let length = text.chars().count();
        if matched {
            highlights.push([offset, offset + length]);
        }
        offset += length;
    }
    let mut value = serde_json::to_value(hit).expect("a hit serializes");
    value["snippet"] = json!(plain_snippet(&hit.marked_snippet));
    value["highlights"] = json!(highlights);
    value["open"] = json!(open_command(hit));
    value["resume"] = json!(resume_command(context, hit));
    value
}

fn footer(found: &Found) -> String {
    let mut any =
        if found.matching == Matching::Any { "; no message holds every word, so any of them" } else { "" }.to_string();
    if found.ranking == Ranking::Newest {
        any.push_str("; words this common are shown newest first, among the newest messages that hold them");
    }
    let shown_hits = found.hits.len() as u64;
    if shown_hits < found.sessions {
        format!("showing {shown_hits} of {} sessions{any} (--limit N, or --limit 0 for all)\n", found.sessions)
    } else {
        format!("{} session{}{any}\n", found.sessions, if found.sessions == 1 { "" } else { "s" })
    }
}

/// Hits as a person reads them: session, where and when, the snippet with its matches
/// highlighted, and the two commands.
fn human(context: &Context, query: &str, found: &Found) -> String {
    let look = &context.look;
    let zone = super::stats::report_zone(context, None, false).ok();
    let local = |at: Option<&str>| -> String {
        let Some(at) = at else { return "-".into() };
        match (at.parse::<jiff::Timestamp>(), &zone) {
            (Ok(stamp), Some(zone)) => stamp.to_zoned(zone.tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
            _ => at.get(..16).unwrap_or(at).replace('T', " "),
        }
    };
    if found.hits.is_empty() {
        return format!("Nothing found for {}.\n", shown(query));
    }
    let mut text = format!(
        "Search {}{}\n\n",
        look.bold(&shown(query)),
        zone.as_ref().map_or_else(String::new, |zone| format!(", times in {}", zone.name))
    );
    for (index, hit) in found.hits.iter().enumerate() {
        let title = hit.title.as_deref().map(|title| shown(title).into_owned()).unwrap_or_else(|| "(untitled)".into());
        text.push_str(&format!(
            "{:>2}. {} {}  {}  {}\n",
            index + 1,
            shown(&hit.client),
            look.bold(sessions::short_id(&hit.session_id)),
            local(hit.started_at.as_deref()),
            title
        ));
        let place = [
            hit.project.as_deref().map(|project| shown(project).into_owned()),
            hit.role.clone().map(|role| match hit.kind.as_deref() {
                Some("tool_call") => "tool call".to_string(),
                Some("tool_result") => "tool result".to_string(),
                Some("thinking") => "thinking".to_string(),
                _ => role,
            }),
            hit.message_at.as_deref().map(|at| local(Some(at))),
        ];
        text.push_str(&format!("    {}\n", look.dim(&place.into_iter().flatten().collect::<Vec<_>>().join(" · "))));
        let mut flat = String::with_capacity(hit.marked_snippet.len());
        for c in hit.marked_snippet.trim().chars() {
            if !(c.is_whitespace() && (flat.ends_with(' ') || flat.is_empty())) {
                flat.push(if c.is_whitespace() { ' ' } else { c });
            }
        }
        let mut snippet = String::new();
        for (piece, matched) in search::snippet_pieces(&flat) {
            let piece = shown(&piece);
            if !matched {
                snippet.push_str(&piece);
            } else if look.color {
                snippet.push_str(&look.styled(&piece, console::Style::new().yellow().bold()));
            } else {
                snippet.push_str(&format!("[{piece}]"));
            }
        }
        text.push_str(&format!("    {snippet}\n"));
        text.push_str(&format!("    {}\n", open_command(hit)));
        if let Some(resume) = resume_command(context, hit) {
            text.push_str(&format!("    {}\n", shown(&resume)));
        }
        text.push('\n');
    }
    text.push_str(&footer(found));
    text
}
