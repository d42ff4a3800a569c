//! Reads a Claude Code project directory's transcript files into typed lines, then projects them.

use std::collections::HashMap;
use std::path::PathBuf;

use std::io::{Seek, SeekFrom};

use hindcast_core::jsonl::{LineStart, for_each_object_from};
use hindcast_core::manifest::ResumePoint;
use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::model::{SourceFile, SourceUnit};
use hindcast_core::provider::{ExchangeSink, ParseContext, ParseError, ParseReport, SkipLocation, open_source};
use jiff::Timestamp;
use serde_json::Value;

use crate::discover::FileKind;
use crate::project::{Continuation, ContinuationState};

/// One JSON line of a transcript with its envelope fields lifted out.
#[derive(Clone, Debug)]
pub struct Line {
    /// 1-based line number in its file.
    pub number: u64,
    /// Byte offset of the line in its file.
    pub offset: u64,
    pub kind: String,
    pub uuid: Option<String>,
    pub parent_uuid: Option<String>,
    pub logical_parent_uuid: Option<String>,
    pub session_id: Option<String>,
    pub timestamp: Option<Timestamp>,
    pub is_sidechain: bool,
    pub is_meta: bool,
    pub agent_id: Option<String>,
    /// The whole line.
    pub value: Value,
}

impl Line {
    fn from_value(start: LineStart, value: Value) -> Self {
        let text =
            |key: &str| value.get(key).and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_string);
        let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
        Self {
            number: start.number,
            offset: start.offset,
            kind: text("type").unwrap_or_else(|| "(missing type)".to_string()),
            uuid: text("uuid"),
            parent_uuid: text("parentUuid"),
            logical_parent_uuid: text("logicalParentUuid"),
            session_id: text("sessionId"),
            timestamp: text("timestamp").and_then(|stamp| stamp.parse().ok()),
            is_sidechain: flag("isSidechain"),
            is_meta: flag("isMeta"),
            agent_id: text("agentId"),
            value,
        }
    }

    /// A string field of the line.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str).filter(|text| !text.is_empty())
    }

    /// The `message` object of user and assistant lines.
    pub fn message(&self) -> Option<&Value> {
        self.value.get("message").filter(|message| message.is_object())
    }
}

/// A transcript file and its lines.
#[derive(Debug)]
pub struct TranscriptFile {
    pub path: PathBuf,
    pub kind: FileKind,
    /// File name without `.jsonl`.
    pub stem: String,
    pub lines: Vec<Line>,
    /// The `.meta.json` sidecar of a 2.1.x subagent.
    pub sidecar: Option<Value>,
    /// Set when only the lines after a checkpoint were read: how to continue the file's session.
    pub continuation: Option<Continuation>,
}

impl TranscriptFile {
    /// For a 2.1.x subagent, the session directory name (`<sessionId>/subagents/...`).
    pub fn session_dir_name(&self) -> Option<String> {
        let mut components = self.path.components().rev().map(|c| c.as_os_str().to_string_lossy().into_owned());
        let mut previous = components.next();
        for component in components {
            if previous.as_deref() == Some("subagents") {
                return Some(component);
            }
            previous = Some(component);
        }
        None
    }
}

fn kind_of(file: &SourceFile) -> FileKind {
    match file.kind.as_str() {
        "session" => FileKind::Session,
        "agent" => FileKind::ProjectAgent,
        "subagent" => FileKind::Subagent,
        "subagent_meta" => FileKind::SubagentMeta,
        _ => FileKind::NotTranscript,
    }
}

/// Reads one transcript file, from the start or (with a continuation) from its checkpoint. Bad
/// lines are skipped and counted in `report`.
pub fn read_transcript(
    source: &SourceFile,
    continuation: Option<Continuation>,
    report: &mut ParseReport,
) -> Result<Option<TranscriptFile>, ParseError> {
    let Some(mut file) = open_source(&source.path, report)? else { return Ok(None) };
    let io_error = |error| ParseError::Io { path: source.path.clone(), source: error };
    let start = match &continuation {
        Some(continuation) => {
            file.seek(SeekFrom::Start(continuation.offset)).map_err(io_error)?;
            LineStart { number: continuation.line, offset: continuation.offset }
        }
        None => LineStart::FILE_START,
    };
    let mut lines = Vec::new();
    for_each_object_from(file, start, &source.path, &mut report.lines_skipped, |start, value| {
        lines.push(Line::from_value(start, value));
    })
    .map_err(io_error)?;
    let name = source.path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Some(TranscriptFile {
        path: source.path.clone(),
        kind: kind_of(source),
        stem: name.strip_suffix(".jsonl").unwrap_or(&name).to_string(),
        lines,
        sidecar: None,
        continuation,
    }))
}

fn read_sidecar(source: &SourceFile, report: &mut ParseReport) -> Option<(String, Value)> {
    let text = match std::fs::read_to_string(&source.path) {
        Ok(text) => text,
        Err(error) => {
            report.warnings.push(format!("cannot read subagent sidecar {}: {error}", source.path.display()));
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(value) if value.is_object() => {
            let name = source.path.file_name()?.to_string_lossy().into_owned();
            Some((name.strip_suffix(".meta.json")?.to_string(), value))
        }
        _ => {
            report.lines_skipped.record(SkipLocation {
                path: source.path.clone(),
                line: 1,
                reason: "subagent sidecar is not a JSON object".into(),
            });
            None
        }
    }
}

/// The continuation of every appended file of the plan, or `None` (parse the whole unit) when one
/// of them does not carry a state this version understands.
fn continuations(unit: &SourceUnit, points: &HashMap<PathBuf, ResumePoint>) -> Option<HashMap<PathBuf, Continuation>> {
    unit.files
        .iter()
        .filter_map(|source| points.get(&source.path).map(|point| (source, point)))
        .map(|(source, point)| {
            let state: ContinuationState = serde_json::from_value(point.state.clone()).ok()?;
            Some((source.path.clone(), Continuation { offset: point.offset, line: state.line, state }))
        })
        .collect()
}

/// Parses one project directory (all its transcripts, so resumes and summaries resolve project-wide),
/// or, when the run continues appended files, only the lines after their checkpoints.
pub fn parse_unit(
    unit: &SourceUnit,
    context: &ParseContext<'_>,
    sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    let mut report = ParseReport::default();
    let mut files = Vec::new();
    let mut sidecars = Vec::new();
    let continuations = context.resume.and_then(|plan| continuations(unit, &plan.points));
    for source in &unit.files {
        let continuation = match &continuations {
            // Only appended files are read; the others are unchanged since the last import.
            Some(continuations) => match continuations.get(&source.path) {
                Some(continuation) => Some(continuation.clone()),
                None => continue,
            },
            None => None,
        };
        if kind_of(source) == FileKind::SubagentMeta {
            sidecars.extend(read_sidecar(source, &mut report));
        } else if let Some(file) = read_transcript(source, continuation, &mut report)? {
            files.push(file);
        }
    }
    for (stem, sidecar) in sidecars {
        if let Some(file) = files.iter_mut().find(|file| file.kind == FileKind::Subagent && file.stem == stem) {
            file.sidecar = Some(sidecar);
        }
    }
    for exchange in crate::project::project(&files, &mut report) {
        sink.emit(MESSAGES_DATASET, exchange)?;
    }
    Ok(report)
}
