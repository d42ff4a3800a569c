//! The OpenAI Codex provider: discovers rollout files under `$CODEX_HOME` and parses them.

mod discover;
mod parse;
mod project;
mod rollout;
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

pub use rollout::{RolloutName, parse_rollout_name};

/// The provider's registry name and client name.
pub const NAME: &str = "codex";

/// Reads `$CODEX_HOME/sessions` and `$CODEX_HOME/archived_sessions`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodexProvider;

/// Registers the Codex provider.
pub fn register(registry: &mut ProviderRegistry) -> Result<(), RegistryError> {
    registry.register(Arc::new(CodexProvider))
}

impl Provider for CodexProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn dataset(&self) -> &str {
        MESSAGES_DATASET
    }

    fn description(&self) -> &str {
        "OpenAI Codex rollouts (sessions/, archived_sessions/; .json, .jsonl, .jsonl.zst)"
    }

    fn roots(&self, env: &Environment) -> Vec<Root> {
        discover::roots(env)
    }

    fn discover(&self, env: &Environment, window: &TimeWindow) -> Result<Discovery, DiscoverError> {
        Ok(discover::discover(env, &self.roots(env), window))
    }

    fn parse(
        &self,
        unit: &SourceUnit,
        context: &ParseContext<'_>,
        sink: &mut dyn ExchangeSink,
    ) -> Result<ParseReport, ParseError> {
        parse_unit(unit, context, sink)
    }

    fn is_record_frame(&self, raw_frame: &serde_json::Value) -> bool {
        // An item the thread did not understand keeps its whole line as the frame's payload.
        raw_frame.get("payload").and_then(serde_json::Value::as_object).is_none_or(parse::is_record)
    }

    fn resume_command(&self, native_id: &str) -> Option<Vec<String>> {
        Some(vec!["codex".into(), "resume".into(), native_id.into()])
    }
}

/// Parses one family of threads (a thread with its forks and sub-agents).
fn parse_unit(
    unit: &SourceUnit,
    _context: &ParseContext<'_>,
    sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    let mut report = ParseReport::default();
    let threads = parse::read_threads(unit, &mut report)?;
    for exchange in project::project(threads, &mut report) {
        sink.emit(MESSAGES_DATASET, exchange)?;
    }
    Ok(report)
}
