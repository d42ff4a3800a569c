//! The Claude Code provider: discovers transcripts under the Claude config dirs and parses them.

mod content;
mod discover;
mod draft;
mod parse;
mod project;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_core::jsonl::LineStart;
use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{
    DiscoverError, Discovery, Environment, ExchangeSink, ParseContext, ParseError, ParseReport, Provider, Root, escaped,
};
use hindcast_core::registry::{ProviderRegistry, RegistryError};
use hindcast_core::time_window::TimeWindow;

pub use discover::{FileKind, classify};
use draft::ProjectedDraft;
use parse::{FLUSH_BYTES, Flush, fill_parts};

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

    fn unit_of(&self, env: &Environment, path: &Path) -> Option<SourceUnit> {
        discover::unit_of(&self.roots(env), path)
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
        parse_unit(unit, context, sink)
    }

    fn is_record_frame(&self, raw_frame: &serde_json::Value) -> bool {
        parse::not_a_record(raw_frame).is_none()
    }

    fn writes_empty_sessions(&self) -> bool {
        false
    }

    fn is_client_written(&self, texts: &[&str]) -> bool {
        content::is_client_written(texts.iter().copied())
    }

    fn describe_error(&self, raw_frame: &serde_json::Value) -> Option<String> {
        content::api_error_cause(raw_frame)
    }

    fn resume_command(&self, native_id: &str) -> Option<Vec<String>> {
        // A sub-agent's transcript is not a session Claude Code can resume.
        (!native_id.contains('/')).then(|| vec!["claude".into(), "--resume".into(), native_id.into()])
    }

    fn response_key(&self, raw_frame: &serde_json::Value) -> Option<String> {
        let message_id = raw_frame.get("message")?.get("id")?.as_str().filter(|id| !id.is_empty())?;
        Some(project::response_key(message_id, raw_frame.get("requestId").and_then(serde_json::Value::as_str)))
    }
}

/// Parses one project directory (all its transcripts, so resumes and summaries resolve project-wide),
/// or, when the run continues appended files, only the lines after their checkpoints.
fn parse_unit(
    unit: &SourceUnit,
    context: &ParseContext<'_>,
    sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    let mut report = ParseReport::default();
    let mut files = parse::read_project(unit, context.resume, &mut report)?;
    if context.resume.is_some() && files.iter().any(parse::TranscriptFile::gained_a_session) {
        // A continued file now holds a second session (an inline sidechain): its checkpoint
        // carried one session's state, so the project is parsed whole, as a clean import would.
        report = ParseReport::default();
        files = parse::read_project(unit, None, &mut report)?;
    }
    let starts: HashMap<PathBuf, LineStart> = files.iter().map(|file| (file.path.clone(), file.start())).collect();
    let drafts = project::project(&files, &mut report);
    drop(files);
    hindcast_core::failpoint::hit_in(hindcast_core::failpoint::CLAUDE_BETWEEN_PASSES, &unit.key);

    // Second pass: each file is read again for the content of its messages, then its sessions are
    // emitted, in projection order. Only one file's text is in memory at a time.
    let mut drafts_of_file: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (index, draft) in drafts.iter().enumerate() {
        drafts_of_file.entry(draft.file.clone()).or_default().push(index);
    }
    let mut drafts: Vec<Option<ProjectedDraft>> = drafts.into_iter().map(Some).collect();
    let mut unsettled: HashSet<PathBuf> = HashSet::new();
    let mut filled: HashSet<PathBuf> = HashSet::new();
    for index in 0..drafts.len() {
        let Some(path) = drafts[index].as_ref().map(|draft| draft.file.clone()) else { continue };
        if filled.insert(path.clone()) {
            let mut flush = Flush { sink: &mut *sink, every_bytes: FLUSH_BYTES };
            if !fill_parts(&path, starts[&path], &drafts_of_file[&path], &mut drafts, &mut report, Some(&mut flush))? {
                report.warnings.push(format!(
                    "{} changed while it was read; the next run reads it again (its sessions are completed then)",
                    escaped(&path)
                ));
                report.unsettled.push(path.clone());
                unsettled.insert(path.clone());
            }
        }
        let Some(draft) = drafts[index].take() else { continue };
        if !unsettled.contains(&path) {
            sink.emit(MESSAGES_DATASET, draft.exchange)?;
        }
    }
    Ok(report)
}
