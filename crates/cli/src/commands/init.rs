//! `hindcast init`: detect clients with history, pick providers and a retention window, write the
//! config, then offer the first import through the same path as `hindcast backfill`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use hindcast_core::provider::Provider;
use hindcast_core::time_window::TimeWindow;
use hindcast_import::backfill::{BackfillReport, Status};
use jiff::{SignedDuration, Timestamp};

use super::Context;
use super::backfill::{ImportMode, execute, exit_code_of, interrupt_exits_now, sources_cell};
use crate::cli::InitArgs;
use crate::config::Config;
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Format, Grid, Look};
use crate::output::{human_bytes, human_millis};
use crate::prompt::{Cancelled, LinePrompter, Prompter, Retention, TerminalPrompter};
use crate::providers::missing_feature;

/// The default retention window of a first import.
pub const DEFAULT_RETENTION: Retention = Retention::All;

/// What one provider has on this machine.
struct Detected {
    provider: Arc<dyn Provider>,
    available: bool,
    files: u64,
    bytes: u64,
    oldest: Option<Timestamp>,
    newest: Option<Timestamp>,
    /// Each file's size and the time of its last record (else its modification time).
    file_ends: Vec<(u64, Option<Timestamp>)>,
}

fn detect(context: &Context, window: &TimeWindow) -> Vec<Detected> {
    context
        .registry
        .list()
        .iter()
        .map(|provider| {
            let available = provider.availability(&context.env).available;
            let discovery = if available { provider.discover(&context.env, window).ok() } else { None };
            let files: Vec<_> = discovery.iter().flat_map(|d| &d.units).flat_map(|unit| &unit.files).collect();
            let ranges: Vec<(u64, Option<Timestamp>, Option<Timestamp>)> = files
                .iter()
                .map(|file| match content_range(&file.path) {
                    Some((first, last)) => (file.size, Some(first), Some(last)),
                    None => (file.size, file.modified, file.modified),
                })
                .collect();
            Detected {
                provider: Arc::clone(provider),
                available: available && !files.is_empty(),
                files: files.len() as u64,
                bytes: files.iter().map(|file| file.size).sum(),
                oldest: ranges.iter().filter_map(|(_, first, _)| *first).min(),
                newest: ranges.iter().filter_map(|(_, _, last)| *last).max(),
                file_ends: ranges.iter().map(|(size, _, last)| (*size, *last)).collect(),
            }
        })
        .collect()
}

/// How much of each end of a file `content_range` reads.
const RANGE_PROBE_BYTES: u64 = 64 * 1024;

/// The first and last `"timestamp"` a history file holds, read from its first and last 64 KB
/// (a file's dates are its messages', not its modification time, which a copy or a sync resets);
/// `None` when neither end names one (zstd rollouts, SQLite, JSON without the field).
fn content_range(path: &std::path::Path) -> Option<(Timestamp, Timestamp)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut head = Vec::new();
    (&mut file).take(RANGE_PROBE_BYTES).read_to_end(&mut head).ok()?;
    let mut tail = Vec::new();
    if size > RANGE_PROBE_BYTES {
        file.seek(SeekFrom::Start(size - RANGE_PROBE_BYTES)).ok()?;
        file.take(RANGE_PROBE_BYTES).read_to_end(&mut tail).ok()?;
    } else {
        tail.clone_from(&head);
    }
    let first = timestamps_in(&head).min()?;
    let last = timestamps_in(&tail).max()?;
    Some((first, last.max(first)))
}

/// Every `"timestamp": "<RFC 3339>"` in `bytes`.
fn timestamps_in(bytes: &[u8]) -> impl Iterator<Item = Timestamp> + '_ {
    const KEY: &[u8] = b"\"timestamp\"";
    memchr::memmem::find_iter(bytes, KEY).filter_map(move |at| {
        let rest = &bytes[at + KEY.len()..];
        let rest = rest.iter().position(|b| !b" \t:".contains(b)).map(|skip| &rest[skip..])?;
        let value = rest.strip_prefix(b"\"")?;
        let end = value.iter().position(|&b| b == b'"')?;
        std::str::from_utf8(&value[..end]).ok()?.parse::<Timestamp>().ok()
    })
}

fn day(timestamp: Option<Timestamp>) -> String {
    timestamp.map(|at| at.strftime("%Y-%m-%d").to_string()).unwrap_or_else(|| "-".into())
}

fn cancelled(_: Cancelled) -> ExitError {
    ExitError { code: exit::CANCELLED, message: "cancelled; nothing was written".into() }
}

/// `hindcast init` on the real terminal.
pub fn run(context: &Context, args: &InitArgs) -> anyhow::Result<u8> {
    let interactive = std::io::stdin().is_terminal();
    interrupt_exits_now();
    let simple = context.env.var("TERM").is_none_or(|term| term == "dumb") || !std::io::stderr().is_terminal();
    let mut stdout = std::io::stdout();
    if interactive && !simple {
        run_with(context, args, interactive, &mut TerminalPrompter, &mut stdout)
    } else {
        let stdin = std::io::stdin();
        let mut prompter = LinePrompter::new(stdin.lock(), std::io::stdout());
        run_with(context, args, interactive, &mut prompter, &mut stdout)
    }
}

/// The steps of `init`, with the prompter and output injected (tests script them).
pub fn run_with(
    context: &Context,
    args: &InitArgs,
    interactive: bool,
    prompter: &mut dyn Prompter,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let paths = context.paths()?;
    let existing = if paths.config.is_file() { Some(Config::load(&paths.config)?) } else { None };
    check_requested_providers(context, &args.providers)?;

    // 1. What is on this machine.
    let detected = detect(context, &TimeWindow::ALL);
    print_detected(context, &detected, out)?;
    if let Some(config) = &existing {
        print_existing_config(config, &paths.config, out)?;
    }
    let candidates: Vec<&Detected> = if args.providers.is_empty() {
        detected.iter().filter(|found| found.available).collect()
    } else {
        detected.iter().filter(|found| args.providers.iter().any(|name| name == found.provider.name())).collect()
    };
    if candidates.is_empty() {
        writeln!(
            out,
            "No client history found; nothing to set up. `hindcast backfill list` shows where hindcast looks."
        )?;
        return Ok(exit::OK);
    }

    // 2. Without a terminal and without --yes: say what would happen, change nothing.
    if !interactive && !args.yes {
        writeln!(
            out,
            "Not a terminal, so nothing was changed. To import {} ({}), run:\n  hindcast init --yes{}",
            names(&candidates),
            args.retention_days.unwrap_or(DEFAULT_RETENTION).describe(),
            if args.dry_run { " --dry-run" } else { "" }
        )?;
        return Ok(exit::OK);
    }

    // 3. Providers and retention: flags, else the existing config, else ask (or defaults with --yes).
    let (chosen, retention) = choose(args, existing.as_ref(), &candidates, prompter)?;
    if chosen.is_empty() {
        writeln!(out, "No client chosen; nothing was changed.")?;
        return Ok(exit::OK);
    }

    // 4. The first import, bounded by the retention window and an `until` fixed now, if wanted.
    let window = retention_window(retention)?;
    let chosen_names: Vec<&str> = chosen.iter().map(|found| found.provider.name()).collect();
    if let Some(since) = window.since {
        let ends = chosen.iter().flat_map(|found| &found.file_ends);
        let (total, older, older_bytes) = ends.fold((0, 0, 0), |(total, older, bytes), (size, last)| match last {
            Some(last) if *last < since => (total + 1, older + 1, bytes + size),
            _ => (total + 1, older, bytes),
        });
        if older > 0 {
            writeln!(
                out,
                "{older} of {total} session files ({}) hold only history from before {}: importing {} leaves them out \
                 (--retention-days all keeps everything).",
                human_bytes(older_bytes),
                day(Some(since)),
                retention.describe()
            )?;
        }
    }
    let question = import_question(context, &window, &chosen_names, retention);
    let consent = args.yes || prompter.confirm(&question, true).map_err(cancelled)?;

    // 5. The config, written only once every question is answered (never in a dry run).
    write_config(out, args, &paths.config, existing.as_ref(), &chosen_names, retention)?;
    if !consent {
        writeln!(out, "Nothing imported. Run `hindcast backfill` whenever you like.")?;
        return Ok(exit::OK);
    }
    if args.yes {
        writeln!(out, "{question} yes (--yes)")?;
    }

    // 6. The import.
    let providers: Vec<Arc<dyn Provider>> = chosen.iter().map(|found| Arc::clone(&found.provider)).collect();
    // A dry run of init writes nothing at all, not even the run envelope.
    let mode =
        ImportMode { dry_run: args.dry_run, reparse: false, record_events: !args.dry_run, exclude: &args.exclude };
    let report = execute(context, &providers, &context.env, window, mode)?;
    write_summary(out, &report, &context.look)?;

    // 7. Keep importing: offered (the default with --yes), never installed without consent.
    if !args.dry_run && !args.no_schedule {
        offer_schedule(context, args, &chosen_names, prompter, out)?;
    }
    Ok(exit_code_of(&report))
}

/// Offers the hourly schedule, says when Claude's cleanup outruns it, and installs it on consent.
fn offer_schedule(
    context: &Context,
    args: &InitArgs,
    chosen: &[&str],
    prompter: &mut dyn Prompter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let state = super::schedule::state(context)?;
    if state.installed.is_some() {
        write!(out, "{}", super::schedule::describe(&state))?;
        return Ok(());
    }
    let question = "Keep importing automatically every hour (`hindcast schedule install`)?";
    let consent = args.yes || prompter.confirm(question, true).map_err(cancelled)?;
    if args.yes {
        writeln!(out, "{question} yes (--yes)")?;
    }
    if consent {
        match super::schedule::install(context) {
            Ok(text) => write!(out, "{text}")?,
            Err(error) => writeln!(out, "No schedule installed: {}", error.message)?,
        }
    } else {
        writeln!(out, "No schedule: history is imported when you run `hindcast backfill`.")?;
    }
    let scheduled = super::schedule::state(context)?.installed.is_some();
    if chosen.contains(&"claude")
        && let Some(warning) = super::schedule::cleanup_warning(context, scheduled, Some(Timestamp::now()))
    {
        writeln!(out, "Note: {warning}")?;
    }
    Ok(())
}

/// A provider named on the command line must be compiled in (a usage error, exit 2, otherwise).
fn check_requested_providers(context: &Context, requested: &[String]) -> anyhow::Result<()> {
    for name in requested {
        if context.registry.get(name).is_none() {
            let hint = missing_feature(name, &context.registry)
                .map(|f| format!(" (rebuild with the {f} feature)"))
                .unwrap_or_default();
            return Err(ExitError::usage(format!(
                "unknown provider '{name}'{hint}; valid providers: {}",
                context.registry.names().join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

/// The detection table and where each provider looks.
fn print_detected(context: &Context, detected: &[Detected], out: &mut dyn Write) -> anyhow::Result<()> {
    let mut rendered = Grid::new(&["client", "history", "files", "size", "oldest", "newest"]);
    for found in detected {
        rendered.row(vec![
            Cell::exact(found.provider.name()),
            Cell::exact(if found.available { "found" } else { "none" }),
            Cell::Count(found.files as i64),
            Cell::exact(human_bytes(found.bytes)),
            Cell::exact(day(found.oldest)),
            Cell::exact(day(found.newest)),
        ]);
    }
    write!(
        out,
        "Local history of AI coding agents on this machine:\n{}",
        rendered.render(Format::Table, &context.look.plain())
    )?;
    for found in detected {
        let roots: Vec<String> = found
            .provider
            .roots(&context.env)
            .iter()
            .map(|root| format!("{}{}", root.path.display(), if root.exists { "" } else { " (missing)" }))
            .collect();
        writeln!(out, "  {} looks in: {}", found.provider.name(), roots.join(", "))?;
    }
    Ok(())
}

fn print_existing_config(config: &Config, path: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "Existing config {}: providers {}, {}",
        path.display(),
        config.backfill.providers.as_ref().map_or_else(|| "all".to_string(), |names| names.join(", ")),
        config.backfill.retention_days.map_or_else(|| "all history".to_string(), |days| format!("last {days} days"))
    )?;
    Ok(())
}

fn names(chosen: &[&Detected]) -> String {
    chosen.iter().map(|found| found.provider.name()).collect::<Vec<_>>().join(", ")
}

/// The clients to import and the retention window: flags first, else the existing config, else
/// the user's answers (or the defaults with `--yes`).
fn choose<'a>(
    args: &InitArgs,
    existing: Option<&Config>,
    candidates: &[&'a Detected],
    prompter: &mut dyn Prompter,
) -> anyhow::Result<(Vec<&'a Detected>, Retention)> {
    let existing_names = existing.and_then(|config| config.backfill.providers.clone());
    let existing_retention =
        existing.map(|config| config.backfill.retention_days.map_or(Retention::All, Retention::Days));
    let change = match (existing, args.yes) {
        (Some(_), false) => prompter.confirm("Change this configuration?", false).map_err(cancelled)?,
        (None, false) => true,
        (_, true) => false,
    };
    let chosen: Vec<&Detected> = if !args.providers.is_empty() || !change {
        match (&existing_names, args.providers.is_empty()) {
            (Some(names), true) => {
                candidates.iter().copied().filter(|found| names.iter().any(|n| n == found.provider.name())).collect()
            }
            _ => candidates.to_vec(),
        }
    } else {
        let options: Vec<String> = candidates
            .iter()
            .map(|found| format!("{} ({} files, {})", found.provider.name(), found.files, human_bytes(found.bytes)))
            .collect();
        let defaults: Vec<bool> = candidates
            .iter()
            .map(|found| existing_names.as_ref().is_none_or(|names| names.iter().any(|n| n == found.provider.name())))
            .collect();
        let picked =
            prompter.choose("Which clients should hindcast import?", &options, &defaults).map_err(cancelled)?;
        picked.into_iter().map(|index| candidates[index]).collect()
    };
    let default_retention = existing_retention.unwrap_or(DEFAULT_RETENTION);
    let retention = match args.retention_days {
        Some(retention) => retention,
        None if change => prompter.retention(default_retention).map_err(cancelled)?,
        None => default_retention,
    };
    Ok((chosen, retention))
}

/// The first import's window: the retention period back from now, and an `until` fixed now.
fn retention_window(retention: Retention) -> anyhow::Result<TimeWindow> {
    let until = Timestamp::now();
    let since =
        retention.days().and_then(|days| until.checked_sub(SignedDuration::from_hours(24 * i64::from(days))).ok());
    Ok(TimeWindow::new(since, Some(until)).map_err(|error| ExitError::usage(error.to_string()))?)
}

/// "Import N session files (size) from clients (window) now?", counted within the window.
fn import_question(context: &Context, window: &TimeWindow, chosen: &[&str], retention: Retention) -> String {
    let (files, bytes) = detect(context, window)
        .iter()
        .filter(|found| chosen.contains(&found.provider.name()))
        .fold((0, 0), |(files, bytes), found| (files + found.files, bytes + found.bytes));
    format!(
        "Import {files} session files ({}) from {} ({}) now?",
        human_bytes(bytes),
        chosen.join(", "),
        retention.describe()
    )
}

fn write_config(
    out: &mut dyn Write,
    args: &InitArgs,
    path: &std::path::Path,
    existing: Option<&Config>,
    chosen: &[&str],
    retention: Retention,
) -> anyhow::Result<()> {
    if args.dry_run {
        writeln!(out, "Dry run: the config would be written to {} and nothing is stored.", path.display())?;
        return Ok(());
    }
    let mut config = existing.cloned().unwrap_or_default();
    // The install id of earlier releases is no longer used (exports are keyed by export.key).
    config.install = Default::default();
    config.backfill.providers = Some(chosen.iter().map(|name| name.to_string()).collect());
    config.backfill.retention_days = retention.days();
    for pattern in &args.exclude {
        if !config.exclude.contains(pattern) {
            config.exclude.push(pattern.clone());
        }
    }
    let text = toml::to_string_pretty(&config)
        .map_err(|error| ExitError::failure(format!("cannot encode the config: {error}")))?;
    if let Some(parent) = path.parent() {
        hindcast_store::private::create_dir_all(parent)
            .map_err(|error| ExitError::failure(format!("cannot create {}: {error}", parent.display())))?;
    }
    hindcast_store::private::write_file(
        path,
        format!("# hindcast configuration (written by `hindcast init`)\n{text}").as_bytes(),
    )
    .map_err(|error| ExitError::failure(format!("cannot write {}: {error}", path.display())))?;
    writeln!(out, "Wrote {}", path.display())?;
    Ok(())
}

fn write_summary(out: &mut dyn Write, report: &BackfillReport, look: &Look) -> std::io::Result<()> {
    let mut rendered = Grid::new(&[
        "provider",
        "dry run",
        "status",
        "sources\nscanned",
        "rows\nwritten",
        "rows\nskipped",
        "lines\nskipped",
        "elapsed",
    ]);
    for provider in &report.providers {
        rendered.row(vec![
            Cell::exact(&provider.provider),
            Cell::exact(if report.dry_run { "yes" } else { "no" }),
            Cell::exact(match provider.status {
                Status::Ok => "ok",
                Status::Failed => "FAILED",
            }),
            Cell::exact(sources_cell(provider)),
            if report.dry_run {
                Cell::exact(format!("({} materialized)", provider.rows_materialized.total()))
            } else {
                Cell::Count(provider.rows_written.total() as i64)
            },
            Cell::Count(provider.rows_skipped.total() as i64),
            Cell::Count(provider.lines_skipped.count as i64),
            Cell::exact(human_millis(provider.elapsed_ms)),
        ]);
    }
    write!(out, "{}", rendered.render(Format::Table, &look.plain()))?;
    for provider in report.providers.iter().filter(|provider| provider.error.is_some()) {
        writeln!(out, "  {} error: {}", provider.provider, provider.error.as_deref().unwrap_or_default())?;
    }
    if report.cancelled {
        writeln!(
            out,
            "Stopped after the current batch; the store is consistent. Run `hindcast backfill` to finish the import."
        )?;
    }
    writeln!(out, "Next: `hindcast sessions list` to browse, `hindcast stats daily` for activity, tokens and cost.")
}

#[cfg(all(test, feature = "providers"))]
mod tests {
    use std::path::{Path, PathBuf};

    use hindcast_core::provider::Environment;
    use hindcast_store::StoreOptions;
    use hindcast_testing::{Behavior, ScriptedProvider};

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        context: Context,
        config: PathBuf,
        db: PathBuf,
    }

    fn fixture(extra: Vec<Arc<dyn Provider>>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let env = Environment::with_home(dir.path())
            .set_var("CLAUDE_CONFIG_DIR", fixtures.join("claude/projects").display().to_string())
            .set_var("CODEX_HOME", fixtures.join("codex").display().to_string())
            .set_var("HINDCAST_EVENTS", "off");
        let db = dir.path().join("store.db");
        let context = Context {
            env,
            registry: crate::providers::compiled_in(&extra).unwrap(),
            db_flag: Some(db.clone()),
            store_options: StoreOptions::default(),
            look: crate::grid::Look { width: Some(100), terminal: true, color: false, ascii: false, utf8: true },
            quiet: false,
            verbose: 0,
        };
        let config = dir.path().join(".config/hindcast/config.toml");
        Fixture { _dir: dir, context, config, db }
    }

    fn args(yes: bool) -> InitArgs {
        InitArgs {
            yes,
            dry_run: false,
            providers: Vec::new(),
            retention_days: None,
            no_schedule: false,
            exclude: Vec::new(),
        }
    }

    fn run(fixture: &Fixture, args: &InitArgs, answers: &str) -> (Result<u8, u8>, String) {
        let mut prompter = LinePrompter::new(answers.as_bytes(), Vec::new());
        let mut out = Vec::new();
        let result = run_with(&fixture.context, args, true, &mut prompter, &mut out)
            .map_err(|error| error.downcast_ref::<ExitError>().map_or(1, |exit| exit.code));
        let prompts = String::from_utf8(prompter.into_output()).unwrap();
        (result, format!("{}{prompts}", String::from_utf8(out).unwrap()))
    }

    fn sessions(fixture: &Fixture) -> i64 {
        let conn = hindcast_store::Store::open_read_only(&fixture.db).unwrap();
        conn.query_row("SELECT count(*) FROM sessions", [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn picking_clients_and_consenting_imports_and_writes_the_config() {
        let fixture = fixture(Vec::new());
        let (result, out) = run(&fixture, &args(false), "1,2\nall\n\nn\n");
        assert_eq!(result, Ok(exit::OK), "{out}");
        assert_eq!(sessions(&fixture), 24);
        let config = Config::load(&fixture.config).unwrap();
        assert_eq!(config.backfill.providers, Some(vec!["claude".to_string(), "codex".to_string()]));
        assert_eq!(config.backfill.retention_days, None, "all history");
        assert!(out.contains("Next: `hindcast sessions list`"));
    }

    #[test]
    fn declining_the_import_writes_only_the_config() {
        let fixture = fixture(Vec::new());
        let (result, out) = run(&fixture, &args(false), "1\n30\nn\n");
        assert_eq!(result, Ok(exit::OK));
        assert!(out.contains("Nothing imported"));
        assert!(!fixture.db.exists());
        assert_eq!(Config::load(&fixture.config).unwrap().backfill.retention_days, Some(30));
    }

    #[test]
    fn eof_at_the_first_prompt_cancels_with_nothing_written() {
        let fixture = fixture(Vec::new());
        let (result, _) = run(&fixture, &args(false), "");
        assert_eq!(result, Err(exit::CANCELLED));
        assert!(!fixture.config.exists() && !fixture.db.exists());
    }

    #[test]
    fn eof_at_the_consent_prompt_leaves_no_config() {
        let fixture = fixture(Vec::new());
        let (result, out) = run(&fixture, &args(false), "1,2\nall\n");
        assert_eq!(result, Err(exit::CANCELLED), "{out}");
        assert!(!fixture.config.exists() && !fixture.db.exists(), "the config is written only after the last answer");
    }

    #[test]
    fn rerun_keeps_the_existing_config_when_asked() {
        let fixture = fixture(Vec::new());
        assert_eq!(run(&fixture, &args(false), "2\n45\nn\n").0, Ok(exit::OK));
        let (result, out) = run(&fixture, &args(false), "\ny\nn\n");
        assert_eq!(result, Ok(exit::OK), "{out}");
        assert!(out.contains("No schedule: history is imported when you run"), "{out}");
        assert!(out.contains("Existing config") && out.contains("from codex (the last 45 days)"), "{out}");
    }

    #[test]
    fn one_failing_provider_neither_aborts_the_others_nor_the_summary() {
        let extra: Vec<Arc<dyn Provider>> = vec![
            Arc::new(ScriptedProvider::new("test-ok", "messages", Behavior::Ok { sessions: 2 })),
            Arc::new(ScriptedProvider::new("test-parse-fails", "messages", Behavior::ParseFails)),
        ];
        let fixture = fixture(extra);
        let mut init = args(true);
        init.providers = vec!["test-parse-fails".into(), "test-ok".into()];
        init.retention_days = Some(Retention::All);
        let (result, out) = run(&fixture, &init, "");
        assert_eq!(result, Ok(exit::FAILURE), "{out}");
        assert!(out.contains("FAILED") && out.contains("test-ok") && out.contains("Next:"), "{out}");
        assert_eq!(sessions(&fixture), 2, "the other provider imported");
    }

    #[test]
    fn dry_run_writes_nothing() {
        let fixture = fixture(Vec::new());
        let mut init = args(true);
        init.dry_run = true;
        let (result, out) = run(&fixture, &init, "");
        assert_eq!(result, Ok(exit::OK), "{out}");
        assert!(!fixture.config.exists() && !fixture.db.exists());
    }
}
