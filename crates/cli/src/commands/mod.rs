//! The subcommands and what they share: the environment, the registry and the resolved paths.

pub mod backfill;
pub mod backup;
pub mod config;
pub mod export;
pub mod init;
pub mod limits;
pub mod prices;
pub mod query;
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
}

impl Context {
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
