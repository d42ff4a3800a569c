//! The Gemini CLI provider: discovers chat recordings under `~/.gemini/tmp/*/chats` and parses
//! both the JSON Lines format and the legacy single-document one.

mod discover;
mod project;
mod record;
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

pub use discover::{CLIENT_HOME_VARIABLE, DIR_VARIABLE};

/// The provider's registry name and client name.
pub const NAME: &str = "gemini";

/// Reads `~/.gemini/tmp/<project>/chats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GeminiProvider;

/// Registers the Gemini CLI provider.
pub fn register(registry: &mut ProviderRegistry) -> Result<(), RegistryError> {
    registry.register(Arc::new(GeminiProvider))
}

impl Provider for GeminiProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn dataset(&self) -> &str {
        MESSAGES_DATASET
    }

    fn description(&self) -> &str {
        "Gemini CLI chat recordings (tmp/<project>/chats; .jsonl and legacy .json)"
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
        if let Some(plan) = context.resume
            && let Some(report) = continue_unit(unit, plan, sink)?
        {
            return Ok(report);
        }
        let mut report = ParseReport::default();
        let mut chats = Vec::with_capacity(unit.files.len());
        for file in &unit.files {
            chats.extend(record::read_chat(&file.path, &mut report)?);
        }
        for exchange in project::project(chats, &mut report) {
            sink.emit(MESSAGES_DATASET, exchange)?;
        }
        Ok(report)
    }

    fn is_client_written(&self, texts: &[&str]) -> bool {
        project::is_client_written(texts.iter().copied())
    }

    fn resume_command(&self, native_id: &str) -> Option<Vec<String>> {
        // A sub-agent's chat is not a session Gemini CLI can resume.
        (!native_id.contains('/')).then(|| vec!["gemini".into(), "--resume".into(), native_id.into()])
    }

    fn response_key(&self, raw_frame: &serde_json::Value) -> Option<String> {
        raw_frame.get("id").and_then(serde_json::Value::as_str).map(str::to_string)
    }
}

/// Continues the appended files of a unit from their checkpoints; `None` when one of them holds
/// what only a whole read of the folder places (a rewind, a checkpoint, an unknown record...) or
/// a state this release cannot read: nothing is emitted then, and the unit is read whole.
fn continue_unit(
    unit: &SourceUnit,
    plan: &hindcast_core::resume::ResumePlan,
    sink: &mut dyn ExchangeSink,
) -> Result<Option<ParseReport>, ParseError> {
    let mut report = ParseReport::default();
    let mut continued = Vec::new();
    for file in &unit.files {
        let Some(point) = plan.points.get(&file.path) else { continue };
        let Some((base, meta)) = project::Base::from_state(&point.state) else { return Ok(None) };
        let Some(line) = point.state.get("line").and_then(serde_json::Value::as_u64) else { return Ok(None) };
        let start = hindcast_core::jsonl::LineStart { number: line, offset: point.offset };
        match record::continue_chat(&file.path, start, meta, base.positions(), &mut report)? {
            None => {}
            Some(None) => return Ok(None),
            Some(Some(chat)) => continued.push((chat, base)),
        }
    }
    for (chat, base) in continued {
        for exchange in project::project_continued(chat, base, &mut report) {
            sink.emit(MESSAGES_DATASET, exchange)?;
        }
    }
    Ok(Some(report))
}
