//! The Claude Code provider: discovers transcripts under the Claude config dirs and parses them.

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
pub const NAME: &str = "claude";

/// Reads `~/.claude/projects` (and the other configured roots).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClaudeProvider;

/// Registers the Claude provider.
pub fn register(registry: &mut ProviderRegistry) -> Result<(), RegistryError> {
    registry.register(Arc::new(ClaudeProvider))
}

impl Provider for ClaudeProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn dataset(&self) -> &str {
        MESSAGES_DATASET
    }

    fn description(&self) -> &str {
        "Claude Code transcripts (projects/<slug>/*.jsonl, subagents)"
    }

    fn roots(&self, env: &Environment) -> Vec<Root> {
        discover::roots(env)
    }

    fn discover(&self, env: &Environment, window: &TimeWindow) -> Result<Discovery, DiscoverError> {
        Ok(discover::discover(&self.roots(env), window))
    }

    fn supports_resume(&self) -> bool {
        true
    }

    fn parse(
        &self,
        unit: &SourceUnit,
        context: &ParseContext<'_>,
        sink: &mut dyn ExchangeSink,
    ) -> Result<ParseReport, ParseError> {
        parse::parse_unit(unit, context, sink)
    }
}
