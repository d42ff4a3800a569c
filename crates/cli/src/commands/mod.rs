//! The subcommands and what they share: the environment, the registry and the resolved paths.

pub mod backfill;
pub mod backup;
pub mod export;
pub mod init;
pub mod limits;
pub mod prices;
pub mod query;
pub mod sessions;
pub mod stats;
pub mod statusline;

use std::path::PathBuf;

use hindcast_core::provider::Environment;
use hindcast_core::registry::ProviderRegistry;
use hindcast_store::StoreOptions;

use crate::config::Paths;
use crate::exit::ExitError;

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
