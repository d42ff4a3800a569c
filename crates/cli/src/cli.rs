//! The command line, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hindcast_core::time_window::{WindowEdge, parse_time_spec};
use jiff::Timestamp;

use crate::grid::{ColorChoice, Format};

/// How a table is written: `--format`, or `--json` for short.
#[derive(Debug, Clone, Copy, Args)]
pub struct FormatArgs {
    /// How to write the result [default: table on a terminal, else tsv].
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Print one JSON document (the same as --format json; its `schema` names the shape: docs/json-output.md).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl FormatArgs {
    /// The format the command line chose, if any.
    pub fn chosen(&self) -> Option<Format> {
        if self.json { Some(Format::Json) } else { self.format }
    }

    pub fn json(&self) -> bool {
        self.chosen() == Some(Format::Json)
    }
}

/// Imports the local history of AI coding agents into one SQLite store and answers questions over it.
#[derive(Debug, Parser)]
#[command(name = "hindcast", version = VERSION, long_version = LONG_VERSION, about, long_about = None, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// The store to use [default: $XDG_DATA_HOME/hindcast/hindcast.db].
    #[arg(long, global = true, env = "HINDCAST_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Colour on a terminal: auto (unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print only results and errors: no progress, notices or hints.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more: each file read, each step's time (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// `--version`: the release and the commit it was built from (`build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HINDCAST_GIT_COMMIT"), ")");
/// `--version` in full: with the compiled-in providers.
const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("HINDCAST_GIT_COMMIT"), ")\nproviders: ", env!("HINDCAST_PROVIDERS"));

const EXIT_CODES_HELP: &str = "Exit codes: 0 ok, 1 a provider or the store failed, 2 usage error, \
3 store locked by another run, 130 cancelled.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import history from the clients' files into the store (idempotent).
    Backfill(BackfillCommand),
    /// Run read-only SQL over the store.
    Query(QueryArgs),
    /// Sessions: list, show one, or their lineage.
    Sessions(SessionsCommand),
    /// Reports: activity, tokens and cost by day, week, month, session, project or 5-hour block.
    Stats(StatsCommand),
    /// The prices used for cost: rates per model, their source and date.
    Prices(PricesArgs),
    /// Claude Code's status line: reads its JSON on stdin, prints model and costs (see docs/cost.md).
    Statusline,
    /// Print a shell completion script (e.g. `hindcast completions bash > ~/.local/share/bash-completion/completions/hindcast`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The store at a glance: where it is, its size and schema, the last run, each client's history.
    Status {
        /// Print one JSON document instead of text (its `schema` names the shape: docs/json-output.md).
        #[arg(long)]
        json: bool,
    },
    /// The config file: where it is, or what it holds.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Keep importing every hour without you: a systemd user timer, cron, or a launchd agent.
    Schedule {
        #[command(subcommand)]
        action: ScheduleAction,
    },
    /// Privacy-preserving exports (hashes and numbers only).
    Export(ExportCommand),
    /// Detect installed clients, choose what to import, write the config, and import.
    Init(InitArgs),
    /// Write a consistent copy of the store to PATH (0600), safe while other runs use it.
    Backup(BackupArgs),
    /// Remove sessions from the store for good (later imports leave them out), or take them back.
    Forget(ForgetArgs),
    /// Find conversations: words, "phrases", prefix*, -exclusions; best hit per session.
    Search(SearchArgs),
    /// A local web page of your history (overview, sessions, conversations, search), on
    /// 127.0.0.1 only, read-only; prints the link to open (its token is good for this run).
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
}

/// `hindcast serve`.
#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// Open the page in your browser (the link goes through a file only you can read, never a
    /// command line others can see).
    #[arg(long)]
    pub open: bool,
    /// Show times and reports in this IANA zone (default: the config's, else the system's).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for (docs/search.md): words (every one required; if no message holds them
    /// all, any), "a phrase", prefix*, -word to exclude (after `--`, so it is not read as a flag);
    /// CJK text and identifiers match inside words.
    #[arg(value_name = "QUERY", required_unless_present = "rebuild")]
    pub query: Vec<String>,
    /// Only this client (claude, codex, legacy).
    #[arg(long)]
    pub client: Option<String>,
    /// Only sessions whose directory or project contains this text.
    #[arg(long)]
    pub project: Option<String>,
    /// Messages at or after this time (RFC 3339, a date, a span back from now, or `all`).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<Since>,
    /// Messages before this time.
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<Timestamp>,
    /// Only prompts a person typed (user), the model's text and thinking (assistant), or tool
    /// calls and results (tool).
    #[arg(long, value_enum)]
    pub role: Option<SearchRole>,
    /// Only this session (id, native id, or a unique prefix).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Every hit, not only the best one of each session.
    #[arg(long)]
    pub all_hits: bool,
    /// At most this many hits (0 for all).
    #[arg(long, default_value_t = 20)]
    pub limit: u64,
    /// Build the search index again from the stored rows.
    #[arg(long)]
    pub rebuild: bool,
    #[command(flatten)]
    pub output: FormatArgs,
}

/// `search --role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SearchRole {
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").args(["sessions", "projects", "undo", "list"]).multiple(true).required(true)))]
pub struct ForgetArgs {
    /// Sessions to forget (ids as `sessions list` shows them, native ids, or unique prefixes);
    /// with --undo, the forgotten sessions to take back (all of them when none is named).
    #[arg(value_name = "SESSION")]
    pub sessions: Vec<String>,
    /// Forget every stored session whose project directory matches GLOB (`~/clients/acme/**`;
    /// repeatable).
    #[arg(long = "project", value_name = "GLOB")]
    pub projects: Vec<String>,
    /// Take forgotten sessions back: their tombstones go, and the next `hindcast backfill`
    /// imports them again from their sources (where the client still keeps them).
    #[arg(long, conflicts_with_all = ["projects", "list"])]
    pub undo: bool,
    /// List the forgotten sessions.
    #[arg(long, conflicts_with_all = ["sessions", "projects"])]
    pub list: bool,
    /// Forget without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print one JSON document instead of text (its `schema` names the shape: docs/json-output.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Install (or replace) the hourly job, pinning this binary and the overrides set now.
    Install,
    /// What is installed, how its last run ended, and what needs attention.
    Status {
        /// Print one JSON document instead of text (its `schema` names the shape: docs/json-output.md).
        #[arg(long)]
        json: bool,
    },
    /// Remove the job; history is then imported only when you run `hindcast backfill`.
    Remove,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the config file's path ($HINDCAST_CONFIG, else $XDG_CONFIG_HOME/hindcast/config.toml).
    Path,
    /// Print the settings in effect: the file's, and the defaults it leaves.
    Show,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy; must not exist.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Answer every prompt with its default (every client with history, all of it unless configured).
    #[arg(long)]
    pub yes: bool,
    /// Scan and show what would happen; writes no config and no store.
    #[arg(long)]
    pub dry_run: bool,
    /// Set up only this client (repeatable).
    #[arg(long = "provider", value_name = "PROVIDER")]
    pub providers: Vec<String>,
    /// Do not offer the hourly schedule (`hindcast schedule install` adds it later).
    #[arg(long)]
    pub no_schedule: bool,
    /// How much history to import: a number of days, or `all` [default: all].
    #[arg(long, value_name = "DAYS", value_parser = crate::prompt::Retention::parse)]
    pub retention_days: Option<crate::prompt::Retention>,
    /// Leave out sessions whose project directory matches GLOB, and keep the pattern in the
    /// config's `exclude` (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SessionsCommand {
    #[command(subcommand)]
    pub action: SessionsAction,
}

#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// Sessions newest first, with counts, tokens and models.
    List(SessionsListArgs),
    /// One session's metadata and conversation, tool calls with their results.
    Show {
        /// A session id, native id, or a unique prefix of either.
        id: String,
        /// Print every part in full instead of trimming for a terminal.
        #[arg(long)]
        full: bool,
        /// Also show the messages the client wrote itself (meta lines, injected context, command
        /// output), which are folded into one line by default.
        #[arg(long)]
        all: bool,
        /// Print to the terminal instead of through the pager ($PAGER, else `less -FRX`).
        #[arg(long)]
        no_pager: bool,
        /// Start at this message (its position, as `hindcast search` shows it).
        #[arg(long, value_name = "MESSAGE")]
        at: Option<i64>,
        /// How to write it [default: text]: markdown and html are readable exports (html renders
        /// the model's Markdown, highlights code and shows edits as diffs, the page's own way:
        /// everything escaped, nothing loaded, no script); json holds every message.
        #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
        format: Option<ShowFormat>,
        /// Print one JSON document instead of text (`--format json`; docs/json-output.md).
        #[arg(long)]
        json: bool,
    },
    /// Lineage trees: sub-agents, continuations, forks and cross-client links.
    Tree {
        /// Show the tree holding this session (id or unique prefix); default: every tree.
        id: Option<String>,
        /// Print one JSON document instead of text (its `schema` names the shape: docs/json-output.md).
        #[arg(long)]
        json: bool,
    },
}

/// How `sessions show` writes a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    Text,
    Markdown,
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct SessionsListArgs {
    /// Only this client (claude, codex, legacy).
    #[arg(long)]
    pub client: Option<String>,
    /// Sessions active at or after this time (RFC 3339, a date, a span back from now, or `all`).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<Since>,
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<Timestamp>,
    /// Sessions whose cwd, project id or project name contains this text.
    #[arg(long)]
    pub project: Option<String>,
    /// At most this many sessions (0 for all).
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct StatsCommand {
    #[command(subcommand)]
    pub action: StatsAction,
}

#[derive(Debug, Subcommand)]
pub enum StatsAction {
    /// Per day: sessions, prompts, messages, tools, tokens and cost.
    Daily(StatsReportArgs),
    /// Per week: sessions, prompts, messages, tools, tokens and cost.
    Weekly {
        #[command(flatten)]
        report: StatsReportArgs,
        /// The day weeks start on.
        #[arg(long, value_enum, default_value_t = WeekStart::Monday)]
        start_of_week: WeekStart,
    },
    /// Per month (or billing cycle): sessions, prompts, messages, tools, tokens and cost.
    Monthly {
        #[command(flatten)]
        report: StatsReportArgs,
        /// The day of the month a cycle starts on (1-31; the month's last day when it is shorter).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i8).range(1..=31))]
        month_start_day: i8,
    },
    /// Per session, sub-agents rolled into their parent: tokens and cost.
    Sessions(StatsReportArgs),
    /// Per project (git remote, else directory; worktrees with their repository): tokens and cost.
    Projects(StatsReportArgs),
    /// 5-hour blocks: cost, and the active block's burn rate, time left and projection.
    Blocks(StatsReportArgs),
    /// The rate limits the servers reported (Codex rollouts, Claude's status line): latest and history.
    Limits(StatsLimitsArgs),
}

/// The day weeks start on.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum WeekStart {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

/// The window, client and zone every report (and `stats limits`) takes.
#[derive(Debug, Args)]
pub struct ReportWindowArgs {
    /// From this time: RFC 3339, a date (midnight in the report's zone), a span back from now (30d, 12h) or `all`.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Until this time (a date: through the end of that day in the report's zone).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this client (claude, codex, legacy).
    #[arg(long)]
    pub client: Option<String>,
    /// The report's time zone (IANA name, e.g. Asia/Kolkata) [default: the system's].
    #[arg(long, value_name = "ZONE", conflicts_with = "utc")]
    pub timezone: Option<String>,
    /// Report in UTC.
    #[arg(long)]
    pub utc: bool,
    #[command(flatten)]
    pub output: FormatArgs,
}

/// What every token report takes.
#[derive(Debug, Args)]
pub struct StatsReportArgs {
    #[command(flatten)]
    pub window: ReportWindowArgs,
    /// Add a row per model under each row.
    #[arg(long, value_enum)]
    pub by: Option<StatsBy>,
}

/// What `stats daily|weekly|monthly|sessions|projects|blocks --by` breaks down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsBy {
    Model,
}

#[derive(Debug, Args)]
pub struct StatsLimitsArgs {
    #[command(flatten)]
    pub window: ReportWindowArgs,
    /// Every observation, not only the latest per window.
    #[arg(long)]
    pub history: bool,
}

#[derive(Debug, Args)]
pub struct PricesArgs {
    /// A model id as the clients record it (e.g. claude-sonnet-4-5-20250929); default: every model in the store.
    pub model: Option<String>,
    /// The rates in force at this time (RFC 3339 or a date) [default: now].
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The client whose vendor's list to look in (claude: Anthropic, codex: OpenAI).
    #[arg(long)]
    pub client: Option<String>,
    /// Print one JSON document instead of text (its `schema` names the shape: docs/json-output.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportCommand {
    #[command(subcommand)]
    pub action: ExportAction,
}

/// Export formats of `daily-activity`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ActivityFormat {
    Posthog,
}

#[derive(Debug, Subcommand)]
pub enum ExportAction {
    /// One JSON line per session: hashed identity and session, end time, tool calls, tokens.
    SessionEvents {
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Anonymous daily counters as a historical-migration batch (written, never sent).
    DailyActivity {
        #[arg(long, value_enum)]
        format: ActivityFormat,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackfillCommand {
    #[command(subcommand)]
    pub action: Option<BackfillAction>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackfillAction {
    /// List the compiled-in providers, their availability and source directories.
    List {
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show what a run would scan; reads directory listings only and writes nothing.
    Plan(SelectionArgs),
}

/// Which providers and which time window.
#[derive(Debug, Args, Clone)]
pub struct SelectionArgs {
    /// Providers to use [default: those enabled in the config, else every available one].
    #[arg(value_name = "PROVIDER")]
    pub providers: Vec<String>,

    /// Only history at or after this time: RFC 3339, a date (2026-01-31), a span back from now (30d, 12h),
    /// or `all` (everything, whatever the config's retention_days says).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<Since>,

    /// Only history before this time (a date means the end of that UTC day).
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<Timestamp>,

    /// Read the legacy store from DIR instead of ~/.agent-orchestrator.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,

    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Scan and materialize in memory, report counts, and never create or change the store.
    #[arg(long)]
    pub dry_run: bool,

    /// Parse every source file again, even those the sources manifest shows unchanged since the
    /// last import (rows already stored are still skipped).
    #[arg(long)]
    pub reparse: bool,

    /// Leave out sessions whose project directory matches GLOB, like the config's `exclude`
    /// (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// A read-only SQL statement; `-` (or none, with --file absent) reads it from stdin.
    #[arg(value_name = "SQL", conflicts_with = "file")]
    pub sql: Option<String>,

    /// Read the statement from FILE.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// How to write the rows [default: table on a terminal, else tsv].
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["json", "jsonl"])]
    pub format: Option<Format>,

    /// Print {"columns": [...], "rows": [[...]]} (the same as --format json; streamed, row by row).
    #[arg(long, conflicts_with = "jsonl")]
    pub json: bool,

    /// Print one JSON object per row, keyed by column name.
    #[arg(long)]
    pub jsonl: bool,

    /// Print long values whole in a table on a terminal (there they are cut to fit its width, and to 100 characters).
    #[arg(long)]
    pub full: bool,

    /// Print at most N rows, then say how many more there are.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,

    /// Stop the statement after this long: `30s`, `500ms`, `2m` (a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
}

fn parse_timeout(value: &str) -> Result<std::time::Duration, String> {
    let value = value.trim();
    let (number, scale) = if let Some(number) = value.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = value.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = value.strip_suffix('m') {
        (number, 60.0)
    } else if let Some(number) = value.strip_suffix('h') {
        (number, 3600.0)
    } else {
        (value, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(amount) if amount > 0.0 && (amount * scale).is_finite() => {
            Ok(std::time::Duration::from_secs_f64(amount * scale))
        }
        _ => Err(format!("'{value}' is not a duration such as 30s, 500ms or 2m")),
    }
}

/// A `--since`: a time, or `all` (no lower bound, whatever the config's retention says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    All,
    At(Timestamp),
}

impl Since {
    /// The lower bound: none for `all`.
    pub fn bound(self) -> Option<Timestamp> {
        match self {
            Since::All => None,
            Since::At(at) => Some(at),
        }
    }
}

fn parse_since(value: &str) -> Result<Since, String> {
    if value.trim().eq_ignore_ascii_case("all") {
        return Ok(Since::All);
    }
    parse_time_spec(value, WindowEdge::Since, Timestamp::now()).map(Since::At).map_err(|error| error.to_string())
}

fn parse_until(value: &str) -> Result<Timestamp, String> {
    parse_time_spec(value, WindowEdge::Until, Timestamp::now()).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn list_and_plan_are_subcommands_and_names_are_providers() {
        let cli = Cli::try_parse_from(["hindcast", "backfill", "list", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Backfill(BackfillCommand { action: Some(BackfillAction::List { json: true }), .. })
        ));
        let cli = Cli::try_parse_from(["hindcast", "backfill", "claude", "codex", "--dry-run"]).unwrap();
        let Command::Backfill(backfill) = cli.command else { panic!("backfill expected") };
        assert_eq!(backfill.run.selection.providers, ["claude", "codex"]);
        assert!(backfill.run.dry_run);
    }

    #[test]
    fn timeouts_read_units_and_refuse_nonsense() {
        assert_eq!(parse_timeout("500ms").unwrap(), std::time::Duration::from_millis(500));
        assert_eq!(parse_timeout("2m").unwrap(), std::time::Duration::from_secs(120));
        assert_eq!(parse_timeout("1.5").unwrap(), std::time::Duration::from_millis(1500));
        for bad in ["", "0", "-1s", "soon", "1e999s"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        let error = Cli::try_parse_from(["hindcast", "query", "select 1", "--file", "q.sql"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn bad_time_names_the_flag_and_exits_2() {
        let all = Cli::try_parse_from(["hindcast", "backfill", "--since", "ALL"]).unwrap();
        let Command::Backfill(backfill) = all.command else { panic!("a backfill") };
        assert_eq!(backfill.run.selection.since, Some(Since::All), "`all` is no lower bound, not a time");
        let error = Cli::try_parse_from(["hindcast", "backfill", "--since", "yesterday-ish"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let text = error.to_string();
        assert!(text.contains("--since") && text.contains("yesterday-ish"), "{text}");
    }
}
