//! `hindcast statusline`: Claude Code's status line. Reads the JSON Claude Code pipes in
//! (session id, transcript path, model, rate limits), imports what the session's transcripts
//! appended since the last call, and prints one line: model, this session's cost, today's cost,
//! the active 5-hour block's cost and time left, and Claude's own rate limits when it sent them.
//!
//! It never holds Claude Code up: the import runs beside a deadline, and whatever happens (no
//! store, a store being upgraded or locked by a backfill, a huge append, any error) a line is
//! printed and the exit code is 0. Calls share one run record and write no envelope lines.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hindcast_core::materialize::RateLimitRow;
use hindcast_core::provider::{Environment, Provider};
use hindcast_core::registry::MaterializerRegistry;
use hindcast_core::time_window::{TimeWindow, format_timestamp};
use hindcast_import::backfill::{BackfillOptions, RunContext, SilentObserver, import_unit};
use hindcast_import::envelope::EventLog;
use hindcast_import::keep_out::ExcludePattern;
use hindcast_store::views::report::{self, StatusFigures, Zone};
use hindcast_store::{Store, StoreLock, StoreOptions};
use jiff::Timestamp;
use serde_json::Value;

use super::Context;
use super::stats::{cost, report_zone};
use crate::exit;
use crate::output::print_stdout;

/// The run every status-line import names: one record for all of them.
pub const STATUSLINE_RUN: &str = "statusline";

/// How long the import may take before the line is printed from what the store holds; the line
/// itself takes a few milliseconds more (Claude Code's budget for the whole call is ours: 200 ms).
const IMPORT_DEADLINE: Duration = Duration::from_millis(120);

/// The most of stdin read: a status-line payload is a few kilobytes.
const MAX_INPUT_BYTES: u64 = 1 << 20;

/// What the status line was given.
#[derive(Debug, Default)]
struct Payload {
    session_id: Option<String>,
    transcript_path: Option<PathBuf>,
    model: Option<String>,
    rate_limits: Vec<(String, i64, f64, Option<Timestamp>)>,
}

fn payload_of(value: &Value) -> Payload {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).filter(|text| !text.is_empty());
    let mut rate_limits = Vec::new();
    for (window, minutes) in [("five_hour", 300), ("seven_day", 10_080)] {
        let Some(limit) = value.pointer(&format!("/rate_limits/{window}")) else { continue };
        let Some(used) = limit.get("used_percentage").and_then(Value::as_f64).filter(|used| used.is_finite()) else {
            continue;
        };
        let resets_at = limit.get("resets_at").and_then(Value::as_i64).and_then(|at| Timestamp::from_second(at).ok());
        rate_limits.push((window.to_string(), minutes, used, resets_at));
    }
    Payload {
        session_id: text("/session_id").map(str::to_string),
        transcript_path: text("/transcript_path").map(PathBuf::from),
        model: text("/model/display_name").or_else(|| text("/model/id")).map(str::to_string),
        rate_limits,
    }
}

pub fn run(context: &Context) -> anyhow::Result<u8> {
    let started = Instant::now();
    let payload = read_payload();
    let line = match status_line(context, &payload, started) {
        Ok(line) => line,
        Err(reason) => fallback(&payload, &reason),
    };
    print_stdout(&format!("{line}\n"));
    Ok(exit::OK)
}

/// The payload on stdin; none when stdin is a terminal (run by hand) or unreadable.
fn read_payload() -> Payload {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Payload::default();
    }
    let mut text = String::new();
    if stdin.lock().take(MAX_INPUT_BYTES).read_to_string(&mut text).is_err() {
        return Payload::default();
    }
    serde_json::from_str::<Value>(&text).map(|value| payload_of(&value)).unwrap_or_default()
}

/// The line when the store cannot answer.
fn fallback(payload: &Payload, reason: &str) -> String {
    match &payload.model {
        Some(model) => format!("{model} | hindcast: {reason}"),
        None => format!("hindcast: {reason}"),
    }
}

fn status_line(context: &Context, payload: &Payload, started: Instant) -> Result<String, String> {
    let paths = context.paths().map_err(|error| error.message)?;
    if !paths.db.is_file() {
        return Err("no store yet (run `hindcast init`)".to_string());
    }
    let now = context.now();
    let imported = import_in_time(context, payload, &paths.db, now, started);
    let zone = report_zone(context, None, false).unwrap_or_else(|_| Zone::utc());
    let conn = Store::open_read_only(&paths.db).map_err(|_| "the store cannot be read".to_string())?;
    let figures = report::status_figures(&conn, &zone, "claude", payload.session_id.as_deref(), now)
        .map_err(|_| "the store cannot be read".to_string())?;
    Ok(render(payload, &figures, imported))
}

/// How the import went, as the line mentions it.
#[derive(Debug, PartialEq, Eq)]
enum Imported {
    Done,
    /// Still running at the deadline (a long append): the line shows what is committed.
    CatchingUp,
    /// Not attempted: another run holds the store.
    Busy,
    /// Not attempted: the store waits for an upgrade, which `backfill` does.
    NeedsUpgrade,
}

/// Imports the session's project in a thread, waiting at most until the deadline. A thread
/// still importing then is ended with the process: its open batch is rolled back, the store
/// stays as it was committed, and the next call goes on.
fn import_in_time(
    context: &Context,
    payload: &Payload,
    db: &std::path::Path,
    now: Timestamp,
    started: Instant,
) -> Imported {
    if !Store::is_current(db) {
        return Imported::NeedsUpgrade;
    }
    let Some(provider) = context.registry.list().iter().find(|provider| provider.name() == "claude").cloned() else {
        return Imported::Done;
    };
    // The config's exclude patterns hold here too; a config that cannot be read imports nothing.
    let Ok(patterns) = context
        .paths()
        .and_then(|paths| crate::config::Config::load(&paths.config))
        .and_then(|config| super::backfill::exclude_patterns(context, &config, &[]))
    else {
        return Imported::Done;
    };
    let (sender, receiver) = mpsc::channel();
    let env = context.env.clone();
    let db = db.to_path_buf();
    let transcript = payload.transcript_path.clone();
    let session = payload.session_id.clone();
    let limits = payload.rate_limits.clone();
    let options = context.store_options;
    std::thread::spawn(move || {
        let done = import(provider.as_ref(), &env, &db, options, transcript, session, &limits, now, patterns);
        let _ = sender.send(done);
    });
    let left = IMPORT_DEADLINE.saturating_sub(started.elapsed());
    match receiver.recv_timeout(left) {
        Ok(true) => Imported::Done,
        Ok(false) => Imported::Busy,
        Err(_) => Imported::CatchingUp,
    }
}

/// The import itself: `false` when the store was locked or could not be opened.
#[allow(clippy::too_many_arguments)]
fn import(
    provider: &dyn Provider,
    env: &Environment,
    db: &std::path::Path,
    options: StoreOptions,
    transcript: Option<PathBuf>,
    session: Option<String>,
    limits: &[(String, i64, f64, Option<Timestamp>)],
    now: Timestamp,
    patterns: Vec<ExcludePattern>,
) -> bool {
    let Ok(_lock) = StoreLock::acquire(db) else { return false };
    let Ok(mut store) = Store::open(db, options) else { return false };
    let observed_at = format_timestamp(now);
    for (window, minutes, used, resets_at) in limits {
        let _ = store.record_rate_limit_reading(&RateLimitRow {
            client: "claude".to_string(),
            session_id: session.clone().unwrap_or_default(),
            observed_at: observed_at.clone(),
            window: window.clone(),
            window_minutes: Some(*minutes),
            used_percent: *used,
            resets_at: resets_at.map(format_timestamp),
            plan: None,
        });
    }
    let Some(unit) = transcript.and_then(|path| provider.unit_of(env, &path)) else { return true };
    if store.record_shared_run(STATUSLINE_RUN, &observed_at, &["claude"]).is_err() {
        return false;
    }
    let materializers = MaterializerRegistry::builtin();
    let events = EventLog::disabled();
    let context =
        RunContext { materializers: &materializers, env, events: &events, observer: &SilentObserver, cancel: None };
    let Ok(keep_out) = super::backfill::keep_out(&store, patterns) else { return false };
    let options = BackfillOptions {
        run_id: STATUSLINE_RUN.to_string(),
        keep_out: std::sync::Arc::new(keep_out),
        ..BackfillOptions::new(TimeWindow::ALL, false)
    };
    let report = import_unit(provider, &mut store, unit, &options, &context);
    report.error.is_none()
}

fn render(payload: &Payload, figures: &StatusFigures, imported: Imported) -> String {
    let mut pieces = Vec::new();
    if let Some(model) = &payload.model {
        pieces.push(model.clone());
    }
    match &figures.session {
        Some(session) => pieces.push(format!("session {}", cost(session))),
        None if payload.session_id.is_some() => pieces.push("session $0.00".to_string()),
        None => {}
    }
    pieces.push(format!("today {}", cost(&figures.today)));
    if let Some(block) = &figures.block {
        let left = block.progress.as_ref().map_or(0, |progress| progress.minutes_left);
        pieces.push(format!("block {} ({}h {:02}m left)", cost(&block.usage), left / 60, left % 60));
    }
    let limits: Vec<String> = payload
        .rate_limits
        .iter()
        .map(|(window, _, used, _)| format!("{} {used:.0}%", if window == "five_hour" { "5h" } else { "7d" }))
        .collect();
    if !limits.is_empty() {
        pieces.push(limits.join(" "));
    }
    match imported {
        Imported::Done => {}
        Imported::CatchingUp => pieces.push("catching up".to_string()),
        Imported::Busy => pieces.push("store busy".to_string()),
        Imported::NeedsUpgrade => pieces.push("run `hindcast backfill` to upgrade the store".to_string()),
    }
    pieces.join(" | ")
}
