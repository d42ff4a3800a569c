//! The OpenCode provider: reads `opencode.db` (read-only, while the client may be writing) and
//! the legacy JSON tree of older releases from OpenCode's data directory.

mod discover;
mod project;
mod records;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{
    DiscoverError, Discovery, Environment, ExchangeSink, ParseContext, ParseError, ParseReport, Provider, Root,
};
use hindcast_core::registry::{ProviderRegistry, RegistryError};
use hindcast_core::time_window::TimeWindow;

pub use discover::DIR_VARIABLE;

/// The provider's registry name and client name.
pub const NAME: &str = "opencode";

/// Reads `$XDG_DATA_HOME/opencode`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpencodeProvider;

/// Registers the OpenCode provider.
pub fn register(registry: &mut ProviderRegistry) -> Result<(), RegistryError> {
    registry.register(Arc::new(OpencodeProvider))
}

impl Provider for OpencodeProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn dataset(&self) -> &str {
        MESSAGES_DATASET
    }

    fn description(&self) -> &str {
        "OpenCode history (opencode.db, read-only; legacy storage/ JSON)"
    }

    fn roots(&self, env: &Environment) -> Vec<Root> {
        discover::roots(env)
    }

    fn discover(&self, env: &Environment, window: &TimeWindow) -> Result<Discovery, DiscoverError> {
        Ok(discover::discover(&self.roots(env), window))
    }

    fn parse(
        &self,
        unit: &SourceUnit,
        _context: &ParseContext<'_>,
        sink: &mut dyn ExchangeSink,
    ) -> Result<ParseReport, ParseError> {
        let mut report = ParseReport::default();
        let mut in_database: HashSet<String> = HashSet::new();
        let mut tree = records::LegacyTree::default();
        for file in &unit.files {
            match file.kind.as_str() {
                discover::DATABASE => {
                    records::read_database(&file.path, &mut report, |session, catalog, report| {
                        in_database.insert(session.id.clone());
                        sink.emit(MESSAGES_DATASET, project::project(session, catalog, report))?;
                        Ok(())
                    })?;
                }
                discover::LEGACY_SESSION => tree.sessions.push(file.path.clone()),
                discover::LEGACY_MESSAGE => tree.messages.push(file.path.clone()),
                discover::LEGACY_PART => tree.parts.push(file.path.clone()),
                discover::LEGACY_PROJECT => tree.projects.push(file.path.clone()),
                _ => {}
            }
        }
        records::read_legacy(&tree, &in_database, &mut report, |session, catalog, report| {
            sink.emit(MESSAGES_DATASET, project::project(session, catalog, report))?;
            Ok(())
        })?;
        Ok(report)
    }

    fn response_key(&self, raw_frame: &serde_json::Value) -> Option<String> {
        raw_frame.get("id").and_then(serde_json::Value::as_str).map(str::to_string)
    }

    fn resume_command(&self, native_id: &str) -> Option<Vec<String>> {
        Some(vec!["opencode".into(), "--session".into(), native_id.into()])
    }
}
