//! `hindcast backfill`, `backfill list` and `backfill plan`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hindcast_core::provider::{Environment, Provider, Root};
use hindcast_core::registry::MaterializerRegistry;
use hindcast_core::time_window::TimeWindow;
use hindcast_import::backfill::{BackfillOptions, BackfillReport, ProviderReport, RunContext, Status, run_backfill};
use hindcast_import::envelope::EventLog;
use hindcast_import::keep_out::{ExcludePattern, KeepOut};
use hindcast_import::preview::{PlanReport, plan_backfill};
use hindcast_store::{LockError, Store, StoreLock};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::Context;
use crate::cli::{RunArgs, SelectionArgs};
use crate::config::Config;
use crate::exit::{self, ExitError};
use crate::grid::{Cell, Format, Grid, Look};
use crate::output::{human_bytes, human_millis, print_json};
use crate::progress::ProgressObserver;
use crate::providers::missing_feature;
use crate::terminal;

/// A provider left out of a run, and why.
#[derive(Clone, Debug, Serialize)]
pub struct NotSelected {
    pub provider: String,
    pub reason: String,
}

/// The providers, window and environment a run or plan uses.
struct Selection {
    providers: Vec<Arc<dyn Provider>>,
    not_selected: Vec<NotSelected>,
    window: TimeWindow,
    env: Environment,
}

fn valid_names(context: &Context) -> String {
    context.registry.names().join(", ")
}

/// Resolves one provider name, with a usage error that names the valid ones.
fn lookup(context: &Context, name: &str, origin: &str) -> Result<Arc<dyn Provider>, ExitError> {
    if let Some(provider) = context.registry.get(name) {
        return Ok(Arc::clone(provider));
    }
    let message = match missing_feature(name, &context.registry) {
        Some(feature) => format!(
            "provider '{name}'{origin} is not compiled into this build (rebuild with the {feature} feature); valid providers: {}",
            valid_names(context)
        ),
        None => format!("unknown provider '{name}'{origin}; valid providers: {}", valid_names(context)),
    };
    Err(ExitError::usage(message))
}

/// Chooses providers and the window; every usage error surfaces here, before any work.
fn select(context: &Context, args: &SelectionArgs, config: &Config, config_path: &str) -> Result<Selection, ExitError> {
    let mut env = context.env.clone();
    if let Some(from) = &args.from {
        if context.registry.get("legacy").is_none() {
            return Err(ExitError::usage(
                "--from applies to the legacy provider, which this build does not include".into(),
            ));
        }
        if !from.is_dir() {
            return Err(ExitError::usage(format!("--from {}: no such directory", from.display())));
        }
        env.set_root_override("legacy", from.clone());
    }

    let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
    let mut not_selected = Vec::new();
    if args.providers.is_empty() {
        let enabled: Vec<Arc<dyn Provider>> = match &config.backfill.providers {
            Some(names) => names
                .iter()
                .map(|name| lookup(context, name, &format!(" (in {config_path})")))
                .collect::<Result<_, _>>()?,
            None => context.registry.list().to_vec(),
        };
        for provider in context.registry.list() {
            if !enabled.iter().any(|enabled| enabled.name() == provider.name()) {
                not_selected
                    .push(NotSelected { provider: provider.name().into(), reason: "disabled in the config".into() });
                continue;
            }
            let availability = provider.availability(&env);
            if availability.available {
                providers.push(Arc::clone(provider));
            } else {
                not_selected.push(NotSelected {
                    provider: provider.name().into(),
                    reason: format!("not available: {}", availability.reason),
                });
            }
        }
    } else {
        for name in &args.providers {
            let provider = lookup(context, name, "")?;
            if !providers.iter().any(|chosen| chosen.name() == provider.name()) {
                providers.push(provider);
            }
        }
    }

    let since = match (args.since, config.backfill.retention_days) {
        (Some(since), _) => since.bound(),
        (None, Some(days)) => {
            // Earlier releases wrote `retention_days = 90` by default: say so every run, since
            // what it leaves out is history the clients may delete.
            if let Some(notify) = context.store_options.notify {
                notify(&format!(
                    "importing only the last {days} days (retention_days = {days} in {config_path}); \
                     delete that line, or pass --since all, to keep all your history"
                ));
            }
            Timestamp::now().checked_sub(SignedDuration::from_hours(24 * i64::from(days))).ok()
        }
        (None, None) => None,
    };
    let window = TimeWindow::new(since, args.until).map_err(|error| ExitError::usage(error.to_string()))?;
    Ok(Selection { providers, not_selected, window, env })
}

fn load_config(context: &Context) -> Result<(Config, String), ExitError> {
    let paths = context.paths()?;
    Ok((Config::load(&paths.config)?, paths.config.display().to_string()))
}

/// The `backfill list --json` document.
#[derive(Serialize)]
struct ListDocument {
    schema: &'static str,
    providers: Vec<ListedProvider>,
    locations: Locations,
}

/// Where this invocation keeps its data.
#[derive(Serialize)]
struct Locations {
    data_dir: String,
    db: String,
    events: Option<String>,
    config: String,
}

#[derive(Serialize)]
struct ListedProvider {
    name: String,
    dataset: String,
    description: String,
    available: bool,
    reason: String,
    enabled: bool,
    materializer: Option<String>,
    roots: Vec<Root>,
}

/// `hindcast backfill list`.
pub fn list(context: &Context, json: bool) -> anyhow::Result<u8> {
    let (config, _) = load_config(context)?;
    let paths = context.paths()?;
    let locations = Locations {
        data_dir: paths.data_dir.display().to_string(),
        db: paths.db.display().to_string(),
        events: paths.events.as_ref().map(|path| path.display().to_string()),
        config: paths.config.display().to_string(),
    };
    let materializers = MaterializerRegistry::builtin();
    let providers: Vec<ListedProvider> = context
        .registry
        .list()
        .iter()
        .map(|provider| {
            let availability = provider.availability(&context.env);
            ListedProvider {
                name: provider.name().into(),
                dataset: provider.dataset().into(),
                description: provider.description().into(),
                available: availability.available,
                reason: availability.reason,
                enabled: config
                    .backfill
                    .providers
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n == provider.name())),
                materializer: materializers.for_dataset(provider.dataset()).map(|m| m.name().to_string()),
                roots: provider.roots(&context.env),
            }
        })
        .collect();
    if json {
        print_json(&ListDocument { schema: "hindcast.providers/v1", providers, locations });
        return Ok(exit::OK);
    }
    if providers.is_empty() {
        context.print_text("No providers are compiled into this build.\n");
        return Ok(exit::OK);
    }
    let mut rows = Grid::new(&["provider", "available", "enabled", "dataset", "roots"]);
    for provider in &providers {
        let dataset = match &provider.materializer {
            Some(_) => provider.dataset.clone(),
            None => format!("{} (no materializer!)", provider.dataset),
        };
        let yes = |on: bool| Cell::exact(if on { "yes" } else { "no" });
        let mut cells =
            vec![Cell::exact(&provider.name), yes(provider.available), yes(provider.enabled), Cell::exact(dataset)];
        // One row per root; the first beside the provider.
        for (index, root) in provider.roots.iter().enumerate() {
            let shown =
                format!("{}{} [{}]", root.path.display(), if root.exists { "" } else { " (missing)" }, root.origin);
            if index > 0 {
                cells = vec![Cell::Empty; 4];
            }
            cells.push(Cell::text(shown));
            rows.row(std::mem::take(&mut cells));
        }
        if !cells.is_empty() {
            rows.row(cells);
        }
    }
    let after = format!(
        "Store: {}\nEvents: {}\nConfig: {}\n",
        locations.db,
        locations.events.as_deref().unwrap_or("off"),
        locations.config
    );
    context.print_report(&context.look, "", &rows, &after);
    Ok(exit::OK)
}

/// The `backfill plan --json` document.
#[derive(Serialize)]
struct PlanDocument {
    schema: &'static str,
    #[serde(flatten)]
    plan: PlanReport,
    not_selected: Vec<NotSelected>,
}

/// `hindcast backfill plan`: discovery only; writes nothing.
pub fn plan(context: &Context, args: &SelectionArgs) -> anyhow::Result<u8> {
    let (config, config_path) = load_config(context)?;
    let selection = select(context, args, &config, &config_path)?;
    let report =
        plan_backfill(&selection.providers, &MaterializerRegistry::builtin(), &selection.env, &selection.window);
    if args.json {
        print_json(&PlanDocument { schema: "hindcast.plan/v1", plan: report, not_selected: selection.not_selected });
        return Ok(exit::OK);
    }
    let mut rows = Grid::new(&["provider", "available", "units", "sources", "size", "files by kind", "skipped"]);
    for plan in &report.providers {
        let kinds =
            plan.files_by_kind.iter().map(|(kind, count)| format!("{kind}: {count}")).collect::<Vec<_>>().join(", ");
        rows.row(vec![
            Cell::exact(&plan.provider),
            Cell::exact(if plan.available { "yes" } else { "no" }),
            Cell::Count(plan.units as i64),
            Cell::Count(plan.sources as i64),
            Cell::exact(human_bytes(plan.bytes)),
            Cell::text(kinds),
            Cell::Count(plan.files_skipped.count as i64),
        ]);
    }
    let mut text = format!("{}\n", window_line(&selection.window));
    if report.providers.is_empty() {
        text.push_str("No provider has history on this machine.\n");
    } else {
        text.push_str(&rows.render(Format::Table, &context.look.plain()));
    }
    for plan in &report.providers {
        for root in &plan.roots {
            text.push_str(&format!(
                "  {} root: {}{}\n",
                plan.provider,
                root.path.display(),
                if root.exists { "" } else { " (missing)" }
            ));
        }
        for location in &plan.files_skipped.first {
            text.push_str(&format!("  {} skipped: {location}\n", plan.provider));
        }
        for warning in &plan.warnings {
            text.push_str(&format!("  {} warning: {warning}\n", plan.provider));
        }
        if let Some(error) = &plan.error {
            text.push_str(&format!("  {} error: {error}\n", plan.provider));
        }
    }
    for left_out in &selection.not_selected {
        text.push_str(&format!("  {} not selected: {}\n", left_out.provider, left_out.reason));
    }
    context.print_text(&text);
    Ok(exit::OK)
}

fn window_line(window: &TimeWindow) -> String {
    let edge = |instant: Option<Timestamp>, open: &str| {
        instant.map_or_else(|| open.to_string(), hindcast_core::time_window::format_timestamp)
    };
    format!("Window: {} .. {}", edge(window.since, "beginning"), edge(window.until, "now"))
}

/// The `backfill --json` document.
#[derive(Serialize)]
struct RunDocument<'a> {
    schema: &'static str,
    exit_code: u8,
    db: Option<String>,
    #[serde(flatten)]
    report: &'a BackfillReport,
    not_selected: Vec<NotSelected>,
}

/// `hindcast backfill [PROVIDER...]`.
pub fn run(context: &Context, args: &RunArgs) -> anyhow::Result<u8> {
    let (config, config_path) = load_config(context)?;
    let selection = select(context, &args.selection, &config, &config_path)?;
    let paths = context.paths()?;
    let mode = ImportMode { dry_run: args.dry_run, reparse: args.reparse, record_events: true, exclude: &args.exclude };
    let report = execute(context, &selection.providers, &selection.env, selection.window, mode)?;

    let exit_code = exit_code_of(&report);
    if args.selection.json {
        print_json(&RunDocument {
            schema: "hindcast.backfill/v1",
            exit_code,
            db: (!args.dry_run).then(|| paths.db.display().to_string()),
            report: &report,
            not_selected: selection.not_selected,
        });
    } else {
        context.print_text(&human_report(
            &report,
            &selection.not_selected,
            &paths.db,
            &selection.window,
            &context.look,
        ));
    }
    Ok(exit_code)
}

/// Source files, with how many the manifest let the run skip or continue.
pub fn sources_cell(provider: &ProviderReport) -> String {
    let mut cell = provider.sources_seen.to_string();
    let mut notes = Vec::new();
    if provider.sources_unchanged > 0 {
        notes.push(format!("{} unchanged", provider.sources_unchanged));
    }
    if provider.sources_appended > 0 {
        notes.push(format!("{} appended", provider.sources_appended));
    }
    if !notes.is_empty() {
        cell.push_str(&format!(" ({})", notes.join(", ")));
    }
    cell
}

/// How `execute` imports.
#[derive(Clone, Copy, Debug)]
pub struct ImportMode<'a> {
    /// Never create or change the store.
    pub dry_run: bool,
    /// Ignore the sources manifest and parse every file.
    pub reparse: bool,
    /// Append the run to `events.jsonl`.
    pub record_events: bool,
    /// Exclude patterns given on the command line (the config's apply too).
    pub exclude: &'a [String],
}

/// The `meta` key holding the exclude patterns the last complete import ran with.
const EXCLUDE_KEY: &str = "exclude_patterns";

/// The exclude patterns in effect: the config's `exclude`, then `flags`; one that is not a glob is
/// a usage error naming it.
pub fn exclude_patterns(
    context: &Context,
    config: &Config,
    flags: &[String],
) -> Result<Vec<ExcludePattern>, ExitError> {
    config
        .exclude
        .iter()
        .chain(flags)
        .map(|text| {
            ExcludePattern::parse(text, context.env.home()).map_err(|error| ExitError::usage(error.to_string()))
        })
        .collect()
}

/// What an import leaves out: `patterns`, and the sessions `store` holds tombstones of.
pub fn keep_out(store: &Store, patterns: Vec<ExcludePattern>) -> Result<KeepOut, ExitError> {
    let forgotten = store.forgotten_session_ids().map_err(|error| ExitError::failure(error.to_string()))?;
    Ok(KeepOut { patterns, forgotten })
}

/// Stored sessions (id, directory) whose project directory one of `patterns` matches.
pub fn stored_sessions_matching(
    conn: &rusqlite::Connection,
    patterns: &[ExcludePattern],
) -> Result<Vec<String>, ExitError> {
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let directories = hindcast_store::views::sessions::directories(conn).map_err(super::sessions::view_error)?;
    Ok(directories
        .into_iter()
        .filter(|(_, cwd)| patterns.iter().any(|pattern| pattern.matches(cwd)))
        .map(|(session_id, _)| session_id)
        .collect())
}

/// Runs `providers` over `window` through the one import path shared by `backfill` and `init`:
/// the store lock, the store, the envelope, the progress bar and Ctrl-C handling.
pub fn execute(
    context: &Context,
    providers: &[Arc<dyn Provider>],
    env: &Environment,
    window: TimeWindow,
    mode: ImportMode,
) -> Result<BackfillReport, ExitError> {
    let ImportMode { dry_run, mut reparse, record_events, exclude } = mode;
    let paths = context.paths()?;
    let config = Config::load(&paths.config)?;
    let patterns = exclude_patterns(context, &config, exclude)?;
    let events = match &paths.events {
        Some(path) if record_events => EventLog::to_file(path.clone()),
        _ => EventLog::disabled(),
    };
    let materializers = MaterializerRegistry::builtin();
    let observer = ProgressObserver::new(context.quiet);
    if context.verbose > 0 {
        eprintln!("hindcast: store {}", terminal::shown(&paths.db.display().to_string()));
        eprintln!("hindcast: {}", window_line(&window));
        for provider in providers {
            for root in provider.roots(env) {
                eprintln!(
                    "hindcast: {} reads {}{} [{}]",
                    provider.name(),
                    terminal::shown(&root.path.display().to_string()),
                    if root.exists { "" } else { " (missing)" },
                    root.origin
                );
            }
        }
    }
    let run_context = RunContext {
        materializers: &materializers,
        env,
        events: &events,
        observer: &observer,
        cancel: Some(cancel_flag()),
    };
    let report = if dry_run {
        let keep_out = Arc::new(KeepOut { patterns, ..KeepOut::default() });
        let options = BackfillOptions { reparse, keep_out, ..BackfillOptions::new(window, dry_run) };
        run_backfill(providers, None, &options, &run_context)
    } else {
        let _lock = lock_store(&paths.db)?;
        let mut store = Store::open_for_import(&paths.db, context.store_options)
            .map_err(|error| ExitError::failure(error.to_string()))?;
        let converged = store
            .converge(context.registry.list())
            .map_err(|error| ExitError::failure(format!("cannot bring the store to this release's rules: {error}")))?;
        if let (Some(changed), Some(notify)) = (converged, context.store_options.notify) {
            notify(&changed.to_string());
        }
        let keep_out = keep_out(&store, patterns)?;
        let fingerprint = keep_out.fingerprint();
        let last = store.meta_value(EXCLUDE_KEY).map_err(|error| ExitError::failure(error.to_string()))?;
        if last.as_deref().unwrap_or("[]") != fingerprint {
            // A session a dropped pattern kept out sits in a file the manifest calls unchanged.
            reparse = true;
            if last.is_some() {
                context.notice("the exclude patterns changed since the last import: every source is read again");
            }
        }
        let stored_matching = stored_sessions_matching(store.connection(), &keep_out.patterns)?;
        let options =
            BackfillOptions { reparse, keep_out: Arc::new(keep_out), ..BackfillOptions::new(window, dry_run) };
        let report = run_backfill(providers, Some(&mut store), &options, &run_context);
        if report.status == Status::Ok && !report.cancelled {
            store.set_meta_value(EXCLUDE_KEY, &fingerprint).map_err(|error| ExitError::failure(error.to_string()))?;
        }
        if !stored_matching.is_empty() {
            let count = stored_matching.len();
            context.notice(&format!(
                "{count} session{} stored before match your exclude patterns and stay in the store; \
                 `hindcast forget --project GLOB` removes them",
                if count == 1 { "" } else { "s" }
            ));
        }
        report
    };
    observer.finish();
    Ok(report)
}

/// Takes the single-writer lock of the store at `db` (exit 3 while another run holds it).
pub fn lock_store(db: &std::path::Path) -> Result<StoreLock, ExitError> {
    StoreLock::acquire(db).map_err(|error| match error {
        LockError::Held { .. } => ExitError { code: exit::LOCKED, message: error.to_string() },
        LockError::Io { .. } => ExitError::failure(error.to_string()),
    })
}

/// The exit code of a finished run.
pub fn exit_code_of(report: &BackfillReport) -> u8 {
    match report.status {
        _ if report.cancelled => exit::CANCELLED,
        Status::Ok => exit::OK,
        Status::Failed => exit::FAILURE,
    }
}

/// While prompts are open, Ctrl-C exits 130 at once (nothing has been written yet).
static EXIT_ON_INTERRUPT: AtomicBool = AtomicBool::new(false);
/// Set by the first Ctrl-C during an import: the run stops after the current batch.
static CANCEL: AtomicBool = AtomicBool::new(false);

/// Installs the one Ctrl-C handler of the process (later calls are no-ops).
fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if EXIT_ON_INTERRUPT.load(Ordering::SeqCst) {
            eprintln!("\nhindcast: cancelled; nothing was written");
            std::process::exit(i32::from(exit::CANCELLED));
        }
        if CANCEL.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(exit::CANCELLED));
        }
        eprintln!("hindcast: stopping after the current batch (Ctrl-C again to quit now)");
    });
}

/// Ctrl-C now cancels without writing anything (used while `init` asks its questions).
pub fn interrupt_exits_now() {
    EXIT_ON_INTERRUPT.store(true, Ordering::SeqCst);
    install_interrupt_handler();
}

/// The flag the import checks; from now on Ctrl-C stops after the current batch (the store stays
/// consistent either way: only whole transactions are ever committed), a second one quits at once.
fn cancel_flag() -> &'static AtomicBool {
    EXIT_ON_INTERRUPT.store(false, Ordering::SeqCst);
    install_interrupt_handler();
    &CANCEL
}

fn human_report(
    report: &BackfillReport,
    not_selected: &[NotSelected],
    db: &std::path::Path,
    window: &TimeWindow,
    look: &Look,
) -> String {
    let mut text = String::new();
    if report.cancelled {
        text.push_str("Cancelled: committed batches are kept; run the same command again to finish the import.\n");
    }
    if report.dry_run {
        text.push_str("Dry run: nothing was written; counts are what the materializer produced.\n");
    }
    text.push_str(&format!("{}\n", window_line(window)));
    if report.providers.is_empty() {
        text.push_str("No provider has history on this machine.\n");
    } else {
        let mut rows = Grid::new(&[
            "provider",
            "status",
            "sources",
            "sessions",
            "messages",
            "rows\nwritten",
            "rows\nskipped",
            "lines\nskipped",
            "elapsed",
        ]);
        for provider in &report.providers {
            let written = if report.dry_run {
                format!("({} materialized)", provider.rows_materialized.total())
            } else if provider.rows_updated.total() > 0 {
                format!("{} (+{} updated)", provider.rows_written.total(), provider.rows_updated.total())
            } else {
                provider.rows_written.total().to_string()
            };
            rows.row(vec![
                Cell::exact(&provider.provider),
                Cell::exact(match provider.status {
                    Status::Ok => "ok",
                    Status::Failed => "FAILED",
                }),
                Cell::exact(sources_cell(provider)),
                Cell::Count(provider.sessions_seen as i64),
                Cell::Count(provider.items_seen as i64),
                Cell::exact(written),
                Cell::Count(provider.rows_skipped.total() as i64),
                Cell::Count(provider.lines_skipped.count as i64),
                Cell::exact(human_millis(provider.elapsed_ms)),
            ]);
        }
        text.push_str(&rows.render(Format::Table, &look.plain()));
    }
    for provider in &report.providers {
        if provider.items_outside_window + provider.files_outside_window > 0 {
            let files = match provider.files_outside_window {
                0 => String::new(),
                1 => ", and 1 file last changed before it".to_string(),
                count => format!(", and {count} files last changed before it"),
            };
            text.push_str(&format!(
                "  {}: {} messages outside the window were left out{files} (--since all imports everything)\n",
                provider.provider, provider.items_outside_window
            ));
        }
        append_details(&mut text, provider);
    }
    let excluded: u64 = report.providers.iter().map(|provider| provider.sessions_excluded).sum();
    if excluded > 0 {
        text.push_str(&format!(
            "  {excluded} session{} excluded by your config or --exclude\n",
            if excluded == 1 { "" } else { "s" }
        ));
    }
    let forgotten: u64 = report.providers.iter().map(|provider| provider.sessions_forgotten).sum();
    if forgotten > 0 {
        text.push_str(&format!(
            "  {forgotten} forgotten session{} left out (hindcast forget --undo takes them back)\n",
            if forgotten == 1 { "" } else { "s" }
        ));
    }
    for left_out in not_selected {
        text.push_str(&format!("  {} not run: {}\n", left_out.provider, left_out.reason));
    }
    if !report.dry_run {
        text.push_str(&format!("Store: {}  (run {})\n", db.display(), report.run_id));
    }
    text
}

fn append_details(text: &mut String, provider: &ProviderReport) {
    let name = &provider.provider;
    if let Some(error) = &provider.error {
        text.push_str(&format!("  {name} error: {error}\n"));
    }
    for location in &provider.lines_skipped.first {
        text.push_str(&format!("  {name} skipped line: {location}\n"));
    }
    if provider.lines_skipped.count > provider.lines_skipped.first.len() as u64 {
        text.push_str(&format!(
            "  {name} ... and {} more skipped lines\n",
            provider.lines_skipped.count - provider.lines_skipped.first.len() as u64
        ));
    }
    for location in &provider.files_skipped.first {
        text.push_str(&format!("  {name} skipped file: {location}\n"));
    }
    for location in &provider.records_skipped.first {
        text.push_str(&format!("  {name} skipped record: {location}\n"));
    }
    let unreadable = &provider.timestamps_unreadable;
    for location in &unreadable.first {
        text.push_str(&format!("  {name} timestamp not read (kept without one, in no day): {location}\n"));
    }
    if unreadable.count > unreadable.first.len() as u64 {
        text.push_str(&format!(
            "  {name} ... and {} more timestamps not read\n",
            unreadable.count - unreadable.first.len() as u64
        ));
    }
    for warning in &provider.warnings {
        text.push_str(&format!("  {name} warning: {warning}\n"));
    }
}
