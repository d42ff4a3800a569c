//! The subcommands and what they share: the environment, the registry and the resolved paths.

pub mod backfill;
pub mod backup;
pub mod config;
pub mod export;
pub mod forget;
pub mod init;
pub mod limits;
pub mod prices;
pub mod query;
pub mod schedule;
pub mod search;
#[cfg(feature = "serve")]
pub mod serve;
pub mod sessions;
pub mod stats;
pub mod status;
pub mod statusline;

use std::path::PathBuf;

use hindcast_core::provider::Environment;
use hindcast_core::registry::ProviderRegistry;
use hindcast_store::StoreOptions;

use crate::config::Paths;
use crate::exit::ExitError;

/// A `--client` value checked against the compiled-in clients: a misspelt one is a usage error
/// naming the closest (`--client claud` → did you mean claude?), not an empty answer.
pub fn known_client(context: &Context, name: &str) -> Result<String, ExitError> {
    let known: Vec<&str> = context.registry.list().iter().map(|provider| provider.name()).collect();
    if known.contains(&name) {
        return Ok(name.to_string());
    }
    let closest = known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|left, right| left.0.total_cmp(&right.0))
        .map(|(_, candidate)| format!("; did you mean {candidate}?"))
        .unwrap_or_default();
    Err(ExitError::usage(format!(
        "--client {name}: no such client (this hindcast knows {}){closest}",
        known.join(", ")
    )))
}

/// The clock override (see [`Context::now`]).
pub const NOW_VARIABLE: &str = "HINDCAST_NOW";

/// What every command gets.
pub struct Context {
    pub env: Environment,
    pub registry: ProviderRegistry,
    pub db_flag: Option<PathBuf>,
    pub store_options: StoreOptions,
    /// Where stdout goes and how it may look.
    pub look: crate::grid::Look,
    /// `-q`: results and errors only.
    pub quiet: bool,
    /// `-v`, repeated.
    pub verbose: u8,
}

impl Context {
    /// Prints a notice (a hint, a warning that is not an error) to stderr, unless `-q`.
    pub fn notice(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", crate::terminal::shown(text));
        }
    }

    /// Writes a report (`before`, a table, `after`) as text, in `look`.
    pub fn print_report(&self, look: &crate::grid::Look, before: &str, grid: &crate::grid::Grid, after: &str) {
        // The grid's cells are shown safely already; its colour codes must stay codes.
        let (before, after) =
            (self.fitted(&crate::terminal::shown(before)), self.fitted(&crate::terminal::shown(after)));
        crate::output::print_exact(&format!("{before}{}{after}", grid.render(crate::grid::Format::Table, look)));
    }

    /// Human-readable text to stdout: control characters shown visibly, and on a terminal long
    /// lines wrapped at spaces to its width.
    pub fn print_text(&self, text: &str) {
        crate::output::print_exact(&self.fitted(&crate::terminal::shown(text)));
    }

    /// `text` wrapped to the terminal's width, when stdout is one.
    pub fn fitted(&self, text: &str) -> String {
        match self.look.width {
            Some(width) if self.look.terminal && width >= 20 => crate::grid::wrap(text, width),
            _ => text.to_string(),
        }
    }

    /// The format to write a table in: the command line's, else a table on a terminal and TSV piped.
    pub fn format(&self, output: &crate::cli::FormatArgs) -> crate::grid::Format {
        self.look.format(output.chosen())
    }

    /// Writes a data table in `format`, with `before` and `after` (title, legend, notes) around
    /// it as a table; as rows (TSV, CSV), only the rows, the notes going to stderr.
    pub fn print_grid(&self, format: crate::grid::Format, before: &str, grid: &crate::grid::Grid, after: &str) {
        use crate::grid::Format;
        match format {
            Format::Table => self.print_report(&self.look.asked_for(), before, grid, after),
            _ => {
                crate::output::print_exact(&grid.render(format, &self.look));
                if !after.trim().is_empty() {
                    self.notice(after.trim_end());
                }
            }
        }
    }

    /// The paths of this invocation.
    pub fn paths(&self) -> Result<Paths, ExitError> {
        Paths::resolve(&self.env, self.db_flag.as_deref())
    }

    /// The current time: `HINDCAST_NOW` (RFC 3339) when set, so tests and documented examples
    /// of "today", blocks and the status line are repeatable; else the system clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.env.var(NOW_VARIABLE).and_then(|now| now.parse().ok()).unwrap_or_else(jiff::Timestamp::now)
    }
}
