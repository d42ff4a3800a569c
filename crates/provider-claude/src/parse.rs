//! Reads a Claude Code project directory's transcript files into typed lines, then projects them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use std::io::{Seek, SeekFrom};

use hindcast_core::json_text;
use hindcast_core::jsonl::{LineRejection, LineStart, for_each_line_from, for_each_object_from};
use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::model::{PartKind, ProjectedMessage, RawFrame, Role, SourceFile, SourceUnit};
use hindcast_core::provider::{ExchangeSink, ParseError, ParseReport, SinkError, SkipLocation, open_source};
use hindcast_core::resume::{ResumePlan, ResumePoint};
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::content::{
    OMITTED_BYTES, UsageCounts, content_parts, content_text, is_client_written, raw_frame, usage_counts,
};
use crate::discover::FileKind;
use crate::draft::{Continuation, ContinuationState, ProjectedDraft};

/// Line types that are understood but are not transcript messages.
pub const NON_MESSAGE_TYPES: &[&str] = &[
    "progress",
    "file-history-snapshot",
    "file-history-delta",
    "queue-operation",
    "attachment",
    "last-prompt",
    "mode",
    "pr-link",
    "agent-color",
    "agent-setting",
    "frame-link",
    "relocated",
    "worktree-state",
    "atis-latch",
    "saved_hook_context",
    "fork-context-ref",
];

/// Line types that name or set up a session rather than hold a message; they carry no `uuid`.
pub const METADATA_TYPES: &[&str] = &["summary", "custom-title", "ai-title", "agent-name", "permission-mode"];

/// Why a JSON object is not a transcript record, if it is not. A record has a non-empty string
/// `type` and a `uuid` (or, for an assistant line, its response's `message.id`), unless its type
/// is one of the understood types that carry none (`METADATA_TYPES`, `NON_MESSAGE_TYPES`). A line
/// of an unknown type with a `uuid` is a record (kept as an `other` message).
pub fn not_a_record(value: &Value) -> Option<String> {
    let present = |field: Option<&Value>| field.and_then(Value::as_str).is_some_and(|text| !text.is_empty());
    let Some(kind) = value.get("type").and_then(Value::as_str).filter(|kind| !kind.is_empty()) else {
        return Some("not a transcript record: no `type`".into());
    };
    if METADATA_TYPES.contains(&kind) || NON_MESSAGE_TYPES.contains(&kind) || present(value.get("uuid")) {
        return None;
    }
    if kind == "assistant" && present(value.get("message").and_then(|message| message.get("id"))) {
        return None;
    }
    Some(format!("not a transcript record: a `{}` line with no `uuid`", kind.chars().take(40).collect::<String>()))
}

/// Why a record's `timestamp` cannot be read, when it is there (absent, null or empty is no
/// timestamp, not an unreadable one).
pub fn unreadable_timestamp(timestamp: Option<&Value>) -> Option<String> {
    match timestamp? {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => text.parse::<Timestamp>().err().map(|error| {
            format!(
                "timestamp {:?} is not an RFC 3339 time jiff can hold: {error}",
                text.chars().take(40).collect::<String>()
            )
        }),
        other => Some(format!("timestamp {} is not a string", other.to_string().chars().take(40).collect::<String>())),
    }
}

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
    pub cwd: Option<String>,
    pub git_branch: Option<String>,
    pub version: Option<String>,
    pub request_id: Option<String>,
    /// The `message` object of user and assistant lines, lifted.
    pub message: Option<LineMessage>,
    /// `toolUseResult.agentId`: the agent a tool result ran.
    pub result_agent_id: Option<String>,
    /// sha256 of the whole line as read, for lines without a uuid (their fallback identity).
    pub fallback_hash: Option<String>,
    /// The line without its bulky content (see `slim`): message text, tool inputs and results,
    /// snapshots. The second pass reads the content again from the file. A user or assistant
    /// line keeps only the fields that are neither lifted nor part of its frame (see
    /// `PROJECTED_FIELDS`), a progress line and the other non-message types only what the
    /// projection reads of them (`NON_MESSAGE_FIELDS`).
    pub value: Value,
}

/// What the projection reads from a line's `message` object.
#[derive(Clone, Debug)]
pub struct LineMessage {
    pub id: Option<String>,
    pub model: Option<String>,
    /// The token counts of its `usage` object (see `usage_counts`), if it has one.
    pub usage: Option<UsageCounts>,
    /// The text of its content (a string, or its text blocks joined), on user lines only: a
    /// user's prompt (titles, sidechain roots). Other lines' text comes with the second pass.
    pub text: Option<String>,
    /// What its content blocks say about tool calls, when the content is an array of blocks.
    pub blocks: Option<ToolBlocks>,
}

/// The tool calls and results among a message's content blocks.
#[derive(Clone, Debug, Default)]
pub struct ToolBlocks {
    /// The `tool_use_id` of the first block that has one (a tool result).
    pub first_result_call: Option<String>,
    /// `(input.prompt, id)` of each `tool_use` block that has both (a call that spawns an agent).
    pub prompted_calls: Vec<(String, String)>,
}

impl ToolBlocks {
    fn of(blocks: &[Value]) -> Self {
        Self {
            first_result_call: blocks.iter().find_map(|block| block["tool_use_id"].as_str()).map(str::to_string),
            prompted_calls: blocks
                .iter()
                .filter(|block| block["type"] == "tool_use")
                .filter_map(|block| {
                    Some((block["input"]["prompt"].as_str()?.to_string(), block["id"].as_str()?.to_string()))
                })
                .collect(),
        }
    }
}

impl LineMessage {
    /// The lifted fields of a `message` value (of a user line: `user`); `None` unless it is an object.
    pub fn of(message: Value, user: bool) -> Option<Self> {
        let Value::Object(message) = message else { return None };
        let text = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_string);
        let content = message.get("content").unwrap_or(&Value::Null);
        Some(Self {
            id: text("id"),
            model: text("model"),
            usage: message.get("usage").and_then(usage_counts),
            text: if user { content_text(content) } else { None },
            blocks: content.as_array().map(|blocks| ToolBlocks::of(blocks)),
        })
    }
}

impl Line {
    fn from_value(start: LineStart, mut value: Value) -> Self {
        let fallback_hash = match value.get("uuid").and_then(Value::as_str) {
            Some(uuid) if !uuid.is_empty() => None,
            _ => Some(json_text::text_sha256_hex(&value)),
        };
        slim(&mut value);
        let is_message = matches!(value.get("type").and_then(Value::as_str), Some("user" | "assistant"));
        let text =
            |key: &str| value.get(key).and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_string);
        let flag = |key: &str| value.get(key).and_then(Value::as_bool).unwrap_or(false);
        let mut line = Self {
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
            cwd: text("cwd"),
            git_branch: text("gitBranch"),
            version: text("version"),
            request_id: text("requestId"),
            message: None,
            result_agent_id: value
                .get("toolUseResult")
                .and_then(|result| result.get("agentId"))
                .and_then(Value::as_str)
                .map(str::to_string),
            fallback_hash,
            value: Value::Null,
        };
        line.message = if is_message {
            keep_projected_fields(&mut value);
            let user = line.kind == "user";
            value
                .as_object_mut()
                .and_then(|fields| fields.remove("message"))
                .and_then(|message| LineMessage::of(message, user))
        } else {
            let message = value.get("message").cloned().and_then(|message| LineMessage::of(message, false));
            if NON_MESSAGE_TYPES.contains(&line.kind.as_str()) {
                keep_non_message_fields(&mut value);
            }
            message
        };
        line.value = value;
        line
    }

    /// A string field of the line that is not lifted.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str).filter(|text| !text.is_empty())
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

/// Drops what the first pass does not need from a line, keeping what it reads: user prompt texts
/// (root prompts, warmup probes), tool call ids and `input.prompt` (spawning calls), tool result
/// ids, `toolUseResult.agentId`, usage. Dropped objects keep their serialized size for raw frames.
fn slim(line: &mut Value) {
    let Some(fields) = line.as_object_mut() else { return };
    for key in ["toolUseResult", "snapshot"] {
        if let Some(value) = fields.get_mut(key) {
            let mut kept = Map::new();
            kept.insert(OMITTED_BYTES.into(), Value::from(json_text::text_len(value)));
            if let Some(agent) = value.get("agentId").filter(|agent| agent.is_string()) {
                kept.insert("agentId".into(), agent.clone());
            }
            *value = Value::Object(kept);
        }
    }
    if let Some(streamed) = fields.get_mut("data").and_then(Value::as_object_mut) {
        streamed.remove("normalizedMessages");
        if let Some(message) =
            streamed.get_mut("message").and_then(|message| message.get_mut("message")).and_then(Value::as_object_mut)
        {
            message.remove("content");
        }
    }
    let is_user = fields.get("type").and_then(Value::as_str) == Some("user");
    let Some(content) = fields.get_mut("message").and_then(|message| message.get_mut("content")) else { return };
    match content {
        Value::String(text) if !is_user => text.clear(),
        Value::Array(blocks) => {
            for block in blocks.iter_mut() {
                let Some(block) = block.as_object_mut() else { continue };
                let kind = block.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                let keep: &[&str] = match kind.as_str() {
                    "text" if is_user => &["type", "text"],
                    "tool_use" => &["type", "id", "input"],
                    "tool_result" => &["type", "tool_use_id"],
                    _ => &["type"],
                };
                block.retain(|key, _| keep.contains(&key.as_str()));
                if let Some(input) = block.get_mut("input").and_then(Value::as_object_mut) {
                    input.retain(|key, _| key == "prompt");
                }
            }
        }
        _ => {}
    }
}

/// The fields of a user or assistant line the projection reads besides the lifted ones (and its
/// `message`, lifted next). The rest of the envelope (its frame) is taken when the second pass
/// reads the line again, so a project's lines hold only these while it is projected.
const PROJECTED_FIELDS: &[&str] = &[
    "entrypoint",
    "permissionMode",
    "slug",
    "teamName",
    "message",
    "isCompactSummary",
    "isApiErrorMessage",
    "forkedFrom",
];

/// Reduces a slimmed user or assistant line to `PROJECTED_FIELDS`.
fn keep_projected_fields(line: &mut Value) {
    if let Some(fields) = line.as_object_mut() {
        fields.retain(|key, _| PROJECTED_FIELDS.contains(&key.as_str()));
    }
}

/// The fields of a line of a type that is not a message (`project::NON_MESSAGE_TYPES`, progress
/// lines above all) the projection reads besides the lifted ones: session facts, a fork's origin
/// and, of `data`, only the message an agent streamed (its usage).
const NON_MESSAGE_FIELDS: &[&str] = &["entrypoint", "permissionMode", "slug", "teamName", "forkedFrom"];

/// Reduces a slimmed line of a non-message type to `NON_MESSAGE_FIELDS` and `data.message`.
fn keep_non_message_fields(line: &mut Value) {
    let Some(fields) = line.as_object_mut() else { return };
    let streamed = fields.get_mut("data").and_then(Value::as_object_mut).and_then(|data| data.remove("message"));
    fields.retain(|key, _| NON_MESSAGE_FIELDS.contains(&key.as_str()));
    if let Some(message) = streamed {
        fields.insert("data".into(), Value::Object(Map::from_iter([("message".to_string(), message)])));
    }
}

impl TranscriptFile {
    /// Whether a session file read from its checkpoint (which carries one session's state) now
    /// holds lines of another: an inline (1.0.x) sidechain.
    pub fn gained_a_session(&self) -> bool {
        self.continuation.is_some() && self.kind == FileKind::Session && self.lines.iter().any(|line| line.is_sidechain)
    }

    /// Where the file was read from: its start, or the checkpoint it was continued from.
    pub fn start(&self) -> LineStart {
        match &self.continuation {
            Some(continuation) => LineStart { number: continuation.line, offset: continuation.offset },
            None => LineStart::FILE_START,
        }
    }

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
        if let Some(reason) = not_a_record(&value) {
            return Err(LineRejection::NotARecord(reason));
        }
        // Parsed once, by `from_value`; only a timestamp it could not read is looked at again.
        let stamp = value.get("timestamp").filter(|stamp| !stamp.is_null()).cloned();
        let line = Line::from_value(start, value);
        if line.timestamp.is_none()
            && let Some(reason) = unreadable_timestamp(stamp.as_ref())
        {
            report.timestamps_unreadable.record(SkipLocation { path: source.path.clone(), line: start.number, reason });
        }
        lines.push(line);
        Ok(())
    })
    .map_err(io_error)?;
    if lines.is_empty() && continuation.is_none() {
        // A 0-byte file, or one whose every line was skipped: nothing makes it a session.
        report.records_skipped.record(SkipLocation {
            path: source.path.clone(),
            line: 0,
            reason: "no transcript records (an empty file, or every line skipped): not a session".into(),
        });
        return Ok(None);
    }
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

/// Reads a project directory's transcripts (and its sub-agents' sidecars) into typed lines: every
/// file, or when the run continues appended files, only those, from their checkpoints.
pub fn read_project(
    unit: &SourceUnit,
    resume: Option<&ResumePlan>,
    report: &mut ParseReport,
) -> Result<Vec<TranscriptFile>, ParseError> {
    let mut files = Vec::new();
    let mut sidecars = Vec::new();
    let continuations = resume.and_then(|plan| continuations(unit, &plan.points));
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
            sidecars.extend(read_sidecar(source, report));
        } else if let Some(file) = read_transcript(source, continuation, report)? {
            files.push(file);
        }
    }
    for (stem, sidecar) in sidecars {
        if let Some(file) = files.iter_mut().find(|file| file.kind == FileKind::Subagent && file.stem == stem) {
            file.sidecar = Some(sidecar);
        }
    }
    Ok(files)
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

/// How much of a file the second pass reads before it hands the messages completed so far to the
/// sink, so a long session is written while the rest of its file is still read and memory stays
/// bounded by this, not by the longest session.
pub const FLUSH_BYTES: u64 = 4 << 20;

/// Where the second pass sends the completed front of a long session, and how often.
pub struct Flush<'a> {
    pub sink: &'a mut dyn ExchangeSink,
    pub every_bytes: u64,
}

/// Lists `uuid` in the frame's `mergedUuids` (a line of a split response that joined it).
fn add_merged_uuid(frame: &mut Value, uuid: &str) {
    if let Value::Object(frame) = frame {
        let uuids = frame.entry("mergedUuids").or_insert_with(|| Value::Array(Vec::new()));
        if let Some(list) = uuids.as_array_mut() {
            list.push(Value::from(uuid));
        }
    }
}

/// Where the content of a line read again goes.
struct WantedLine {
    draft: usize,
    message: usize,
    /// The message's own (first) line, which gives the frame; later lines join a split response.
    own_line: bool,
    /// The uuid the own line must still carry (else the file changed since the first pass).
    own_uuid: Option<String>,
}

/// How far a draft's messages have left for the sink.
struct DraftProgress {
    /// The last line of each message.
    last_lines: Vec<u64>,
    /// How many of its messages were handed to the sink already.
    gone: usize,
}

/// The second read of one file: the content of every wanted line becomes parts of its message,
/// the message's own line its frame.
struct SecondPass<'d> {
    drafts: &'d mut [Option<ProjectedDraft>],
    wanted: HashMap<u64, WantedLine>,
    progress: BTreeMap<usize, DraftProgress>,
    /// (draft, message) -> the frame of a split response whose later lines are still to come: kept
    /// as a value until its last line, so each line's uuid joins it without a parse and a print.
    open_frames: HashMap<(usize, usize), Value>,
    found: usize,
    consistent: bool,
}

impl<'d> SecondPass<'d> {
    fn new(file_drafts: &[usize], drafts: &'d mut [Option<ProjectedDraft>]) -> Self {
        let mut wanted = HashMap::new();
        let mut progress = BTreeMap::new();
        for &draft_index in file_drafts {
            let Some(draft) = drafts[draft_index].as_ref() else { continue };
            for (message_index, lines) in draft.part_lines.iter().enumerate() {
                for (position, number) in lines.iter().enumerate() {
                    let own_uuid = (position == 0).then(|| draft.exchange.messages[message_index].native_id.clone());
                    let own_line = position == 0;
                    let line = WantedLine {
                        draft: draft_index,
                        message: message_index,
                        own_line,
                        own_uuid: own_uuid.flatten(),
                    };
                    wanted.insert(*number, line);
                }
            }
            let last_lines = draft.part_lines.iter().map(|lines| lines.iter().copied().max().unwrap_or(0)).collect();
            progress.insert(draft_index, DraftProgress { last_lines, gone: 0 });
        }
        Self { drafts, wanted, progress, open_frames: HashMap::new(), found: 0, consistent: true }
    }

    /// Hands the messages whose lines all come before line `number` to the sink.
    fn flush_completed(&mut self, number: u64, sink: &mut dyn ExchangeSink) -> Result<(), SinkError> {
        for (&draft_index, progress) in self.progress.iter_mut() {
            let Some(draft) = self.drafts[draft_index].as_mut() else { continue };
            let complete = progress.last_lines[progress.gone..].iter().take_while(|&&last| last < number).count();
            if complete == 0 {
                continue;
            }
            for (offset, message) in draft.exchange.messages[..complete].iter_mut().enumerate() {
                if let Some(frame) = self.open_frames.remove(&(draft_index, progress.gone + offset)) {
                    message.raw_frame = Some(RawFrame::new(&frame));
                }
            }
            progress.gone += complete;
            sink.emit(MESSAGES_DATASET, draft.exchange.split_front(complete))?;
        }
        Ok(())
    }

    /// The message a line's content goes to, unless it already left for the sink (which would
    /// mean the file no longer holds the lines the first pass saw).
    fn message(&mut self, draft_index: usize, message_index: usize) -> Option<&mut ProjectedMessage> {
        let gone = self.progress.get(&draft_index).map_or(0, |progress| progress.gone);
        let draft = self.drafts[draft_index].as_mut()?;
        message_index.checked_sub(gone).and_then(|index| draft.exchange.messages.get_mut(index))
    }

    /// Line `number` read again: its content becomes parts, its frame the message's frame (or its
    /// uuid joins the frame's `mergedUuids`).
    fn on_line(&mut self, number: u64, line: &str, report: &mut ParseReport) -> Result<(), LineRejection> {
        let Some(wanted) = self.wanted.get(&number) else { return Ok(()) };
        let (draft_index, message_index, own_line) = (wanted.draft, wanted.message, wanted.own_line);
        let mut value: Value = serde_json::from_str(line).map_err(LineRejection::Json)?;
        if !value.is_object()
            || (wanted.own_uuid.is_some() && value.get("uuid").and_then(Value::as_str) != wanted.own_uuid.as_deref())
        {
            self.consistent = false;
            return Ok(());
        }
        self.found += 1;
        // The content moves into the parts; the frame leaves it out anyway.
        let content = value
            .get_mut("message")
            .and_then(Value::as_object_mut)
            .and_then(|message| message.get_mut("content"))
            .map_or(Value::Null, Value::take);
        let parts = content_parts(content, report);
        if self.drafts[draft_index].is_none() {
            return Ok(());
        }
        let last_line = self
            .progress
            .get(&draft_index)
            .and_then(|progress| progress.last_lines.get(message_index).copied())
            .unwrap_or(0);
        let key = (draft_index, message_index);
        // A flushed message's lines all came before the flush.
        let Some(message) = self.message(draft_index, message_index) else {
            self.consistent = false;
            return Ok(());
        };
        message.parts.extend(parts);
        if message.role == Role::User {
            message.flags.injected = is_client_written(
                message.parts.iter().filter(|part| part.kind == PartKind::Text).filter_map(|part| part.text.as_deref()),
            );
        }
        // The frame is the message's own line; the lines of a split response that joined it are
        // listed in its `mergedUuids` (own lines come first: part lines are in file order).
        if own_line {
            slim(&mut value);
            self.open_frames.insert(key, raw_frame(value));
        } else if let Some(uuid) = value.get("uuid").and_then(Value::as_str).filter(|uuid| !uuid.is_empty()) {
            if let Some(frame) = self.open_frames.get_mut(&key) {
                add_merged_uuid(frame, uuid);
            } else if let Some(message) = self.message(draft_index, message_index)
                && let Some(frame) = message.raw_frame.as_mut()
            {
                frame.update(|frame| add_merged_uuid(frame, uuid));
            }
        }
        if number >= last_line
            && let Some(frame) = self.open_frames.remove(&key)
            && let Some(message) = self.message(draft_index, message_index)
        {
            message.raw_frame = Some(RawFrame::new(&frame));
        }
        Ok(())
    }

    /// Whether every wanted line was found as the first pass saw it. Frames whose last lines never
    /// came (the file changed or ended early) keep what they have.
    fn finish(mut self) -> bool {
        for ((draft_index, message_index), frame) in std::mem::take(&mut self.open_frames) {
            if let Some(message) = self.message(draft_index, message_index) {
                message.raw_frame = Some(RawFrame::new(&frame));
            }
        }
        self.consistent && self.found == self.wanted.len()
    }
}

/// Reads `path` again from `start` and gives the messages of its drafts (`file_drafts`, indexes
/// into `drafts`) the parts of their lines. With `flush`, every `every_bytes` of file the messages
/// completed so far leave their drafts for the sink (`ProjectedExchange::split_front`); the drafts
/// keep the rest. Returns false when the file no longer holds the lines the first pass saw (it
/// stops there; what was flushed before holds only lines that were checked).
pub fn fill_parts(
    path: &Path,
    start: LineStart,
    file_drafts: &[usize],
    drafts: &mut [Option<ProjectedDraft>],
    report: &mut ParseReport,
    mut flush: Option<&mut Flush<'_>>,
) -> Result<bool, SinkError> {
    let mut pass = SecondPass::new(file_drafts, drafts);
    if pass.wanted.is_empty() {
        return Ok(true);
    }
    let Ok(mut file) = std::fs::File::open(path) else { return Ok(false) };
    if file.seek(SeekFrom::Start(start.offset)).is_err() {
        return Ok(false);
    }
    let mut sink_error: Option<SinkError> = None;
    let mut flushed_at = start.offset;
    // Bad lines were counted by the first pass; only the wanted lines are parsed again.
    let mut already_counted = hindcast_core::provider::SkipTally::default();
    let read = for_each_line_from(file, start, path, &mut already_counted, |at, line| {
        if !pass.consistent || sink_error.is_some() {
            return Ok(());
        }
        if let Some(flush) = flush.as_deref_mut()
            && at.offset - flushed_at >= flush.every_bytes
        {
            flushed_at = at.offset;
            if let Err(error) = pass.flush_completed(at.number, &mut *flush.sink) {
                sink_error = Some(error);
                return Ok(());
            }
        }
        pass.on_line(at.number, line, report)
    });
    let complete = pass.finish();
    if let Some(error) = sink_error {
        return Err(error);
    }
    Ok(read.is_ok() && complete)
}
