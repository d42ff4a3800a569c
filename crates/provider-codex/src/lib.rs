//! The OpenAI Codex provider: discovers rollout files under `$CODEX_HOME` and parses them.

mod discover;
mod parse;
mod project;
mod rollout;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
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
}

/// Parses one family of threads (a thread with its forks and sub-agents).
pub fn parse_unit(
    unit: &SourceUnit,
    _context: &ParseContext<'_>,
    sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    let mut report = ParseReport::default();
    // Segments of one thread, in file-name order, concatenated.
    let mut threads: Vec<(String, parse::Generation, PathBuf, usize, Vec<parse::Item>)> = Vec::new();
    for file in &unit.files {
        let Some((generation, items)) = parse::read_rollout(&file.path, &mut report)? else { continue };
        if items.is_empty() {
            report.ignore("empty rollout file");
            continue;
        }
        let thread = parse::thread_of(&items, &file.path);
        match threads.iter_mut().find(|(id, ..)| *id == thread) {
            Some((_, _, _, segments, existing)) => {
                *segments += 1;
                existing.extend(items);
            }
            None => threads.push((thread, generation, file.path.clone(), 1, items)),
        }
    }
    // Each thread's items are dropped as soon as it is projected (its bulky text moved out).
    let mut projected: Vec<project::ProjectedThread> = threads
        .into_iter()
        .map(|(thread, generation, path, segments, items)| {
            project::project_thread(&thread, generation, path, segments, items, &mut report)
        })
        .collect();
    project::link_reviews(&mut projected, &mut report);
    for thread in projected {
        sink.emit(MESSAGES_DATASET, thread.exchange)?;
    }
    Ok(report)
}
