//! Reads a Claude Code project directory's transcript files into typed lines, then projects them.

use std::path::PathBuf;

use hindcast_core::jsonl::for_each_object;
use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::model::{SourceFile, SourceUnit};
use hindcast_core::provider::{ExchangeSink, ParseContext, ParseError, ParseReport, SkipLocation, open_source};
use jiff::Timestamp;
use serde_json::Value;

use crate::discover::FileKind;

/// One JSON line of a transcript with its envelope fields lifted out.
#[derive(Clone, Debug)]
pub struct Line {
    /// 1-based line number in its file.
    pub number: u64,
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
    fn from_value(number: u64, value: Value) -> Self {
        let text =
            |key: &str| value.get(key).and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_string);
        let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
        Self {
            number,
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

/// Reads one transcript file. Bad lines are skipped and counted in `report`.
pub fn read_transcript(source: &SourceFile, report: &mut ParseReport) -> Result<Option<TranscriptFile>, ParseError> {
    let Some(file) = open_source(&source.path, report)? else { return Ok(None) };
    let mut lines = Vec::new();
    for_each_object(file, &source.path, &mut report.lines_skipped, |number, value| {
        lines.push(Line::from_value(number, value));
    })
    .map_err(|error| ParseError::Io { path: source.path.clone(), source: error })?;
    let name = source.path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Some(TranscriptFile {
        path: source.path.clone(),
        kind: kind_of(source),
        stem: name.strip_suffix(".jsonl").unwrap_or(&name).to_string(),
        lines,
        sidecar: None,
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

/// Parses one project directory (all its transcripts, so resumes and summaries resolve project-wide).
pub fn parse_unit(
    unit: &SourceUnit,
    _context: &ParseContext<'_>,
    sink: &mut dyn ExchangeSink,
) -> Result<ParseReport, ParseError> {
    let mut report = ParseReport::default();
    let mut files = Vec::new();
    let mut sidecars = Vec::new();
    for source in &unit.files {
        if kind_of(source) == FileKind::SubagentMeta {
            sidecars.extend(read_sidecar(source, &mut report));
        } else if let Some(file) = read_transcript(source, &mut report)? {
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
