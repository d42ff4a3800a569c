//! The subcommands and what they share: the environment, the registry and the resolved paths.

pub mod backfill;
pub mod backup;
pub mod export;
pub mod init;
pub mod query;
pub mod sessions;
pub mod stats;

use std::path::PathBuf;

use hindcast_core::provider::Environment;
use hindcast_core::registry::ProviderRegistry;
use hindcast_store::StoreOptions;

use crate::config::Paths;
use crate::exit::ExitError;

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
}
