//! The hindcast command line: argument parsing, provider composition, and the commands.

mod cli;
mod commands;
mod config;
mod exit;
mod grid;
mod output;
mod progress;
mod prompt;
mod providers;
mod terminal;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use hindcast_core::provider::{Environment, Provider};
use hindcast_store::StoreOptions;

use crate::cli::{BackfillAction, Cli, Command};
use crate::exit::ExitError;

/// What distinguishes the `hindcast` binary from the testbed: extra providers and store options.
#[derive(Default)]
pub struct EntryOptions {
    pub extra_providers: Vec<Arc<dyn Provider>>,
    pub store_options: StoreOptions,
}

/// The command line's definition (for completions and the man pages).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Parses the command line, runs the command and returns the documented exit code.
pub fn main_with(options: EntryOptions) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(error.exit_code().clamp(0, 255) as u8);
        }
    };
    let env = Environment::from_process();
    match run(cli, env, &options) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let code = error.downcast_ref::<ExitError>().map_or(exit::FAILURE, |exit| exit.code);
            eprintln!("hindcast: error: {}", terminal::shown(&format!("{error:#}")));
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli, env: Environment, options: &EntryOptions) -> anyhow::Result<u8> {
    let registry = providers::compiled_in(&options.extra_providers)
        .map_err(|error| ExitError::failure(format!("provider registration failed: {error}")))?;
    let mut store_options = options.store_options;
    store_options.notify.get_or_insert(notify);
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    let look = grid::Look::detect(&env, cli.color);
    let context = commands::Context {
        env,
        registry,
        db_flag: cli.db,
        store_options,
        look,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    if let Ok(paths) = context.paths() {
        for tightened in paths.tighten() {
            notify(&tightened.to_string());
        }
    }
    let scheduled = context.env.var(commands::schedule::SCHEDULED_VARIABLE).is_some()
        && matches!(&cli.command, Command::Backfill(backfill) if backfill.action.is_none());
    let started = jiff::Timestamp::now();
    let result = dispatch(&context, cli.command);
    if scheduled {
        let (code, error) = match &result {
            Ok(code) => (*code, None),
            Err(error) => {
                (error.downcast_ref::<ExitError>().map_or(exit::FAILURE, |exit| exit.code), Some(format!("{error:#}")))
            }
        };
        commands::schedule::record_run(&context, started, code, error);
    }
    result
}

fn dispatch(context: &commands::Context, command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Backfill(backfill) => match backfill.action {
            Some(BackfillAction::List { json }) => commands::backfill::list(context, json),
            Some(BackfillAction::Plan(selection)) => commands::backfill::plan(context, &selection),
            None => commands::backfill::run(context, &backfill.run),
        },
        Command::Query(query) => commands::query::run(context, &query),
        Command::Sessions(sessions) => commands::sessions::run(context, &sessions.action),
        Command::Stats(stats) => commands::stats::run(context, &stats.action),
        Command::Prices(prices) => commands::prices::run(context, &prices),
        Command::Statusline => commands::statusline::run(context),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "hindcast", &mut script);
            output::print_exact(&String::from_utf8_lossy(&script));
            Ok(exit::OK)
        }
        Command::Config { action } => commands::config::run(context, &action),
        Command::Status { json } => commands::status::run(context, json),
        Command::Schedule { action } => commands::schedule::run(context, &action),
        Command::Forget(args) => commands::forget::run(context, &args),
        Command::Search(args) => commands::search::run(context, &args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => commands::serve::run(context, &args),
        Command::Export(export) => commands::export::run(context, &export.action),
        Command::Init(init) => commands::init::run(context, &init),
        Command::Backup(backup) => commands::backup::run(context, &backup),
    }
}

/// `-q`: notices are not printed.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A one-line notice on stderr (what the store does that a person should know of), unless `-q`.
fn notify(notice: &str) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("hindcast: {}", terminal::shown(notice));
    }
}
