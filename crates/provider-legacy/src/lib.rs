//! The legacy provider: a read-only import of the flat-file `~/.agent-orchestrator` store.

mod discover;
mod parse;
mod project;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{
    DiscoverError, Discovery, Environment, ExchangeSink, ParseContext, ParseError, ParseReport, Provider, Root,
};
use hindcast_core::registry::{ProviderRegistry, RegistryError};
use hindcast_core::time_window::TimeWindow;

pub use discover::{FileKind, classify};

/// The provider's registry name and client name.
pub const NAME: &str = "legacy";

/// Reads `~/.agent-orchestrator` (or `--from DIR` / `HINDCAST_LEGACY_DIR`).
#[derive(Clone, Copy, Debug, Default)]
pub struct LegacyProvider;

/// Registers the legacy provider.
pub fn register(registry: &mut ProviderRegistry) -> Result<(), RegistryError> {
    registry.register(Arc::new(LegacyProvider))
}

impl Provider for LegacyProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn dataset(&self) -> &str {
        MESSAGES_DATASET
    }

    fn description(&self) -> &str {
        "legacy agent-orchestrator store (config.yaml, projects/*/sessions, V1 hashed dirs)"
    }

    fn roots(&self, env: &Environment) -> Vec<Root> {
        discover::roots(env)
    }

    fn discover(&self, env: &Environment, window: &TimeWindow) -> Result<Discovery, DiscoverError> {
        Ok(discover::discover(&self.roots(env), env, window))
    }

    fn parse(
        &self,
        unit: &SourceUnit,
        context: &ParseContext<'_>,
        sink: &mut dyn ExchangeSink,
    ) -> Result<ParseReport, ParseError> {
        parse_unit(unit, context, sink)
    }
}

/// Parses the whole store as one unit (projects and orchestrator detection need every session).
fn parse_unit(
    unit: &SourceUnit,
    context: &ParseContext<'_>,
    sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    let mut report = ParseReport::default();
    let store = parse::read_store(unit, context.env, &mut report)?;
    for exchange in project::project(store, &mut report) {
        sink.emit(MESSAGES_DATASET, exchange)?;
    }
    Ok(report)
}
