//! Turns a project directory's transcript lines into projected exchanges: sessions and subagents,
//! uuid de-duplication across resumed copies, split-response merging, titles, the DAG and usage.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use hindcast_core::json_text;
use hindcast_core::model::{
    GitInfo, MessageFlags, MessageIdentity, MessagePart, PartKind, ProjectedExchange, ProjectedMessage,
    ProjectedSession, ProjectedUsage, RawFrame, Relationship, Role, SessionLink,
};
use hindcast_core::provider::{FileCheckpoint, ParseReport, SkipLocation};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::discover::FileKind;
use crate::parse::{Line, TranscriptFile};

/// Line types that are understood but are not transcript messages.
pub(crate) const NON_MESSAGE_TYPES: &[&str] = &[
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

/// Line types that carry session metadata.
const METADATA_TYPES: &[&str] = &["summary", "custom-title", "ai-title", "agent-name", "permission-mode"];

/// The model name Claude Code writes on locally generated (unbilled) messages.
const SYNTHETIC_MODEL: &str = "<synthetic>";

/// What the next parse of a file needs to continue its session after the checkpoint: the session,
/// how many of its messages and lines come before the checkpoint, and what was learnt so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContinuationState {
    native_id: String,
    /// Number of the line at the checkpoint.
    pub line: u64,
    seq_base: u64,
    ordinal_base: u64,
    facts: SessionFacts,
    metadata: Map<String, Value>,
    /// Lines at or after the checkpoint that the full parse did not import under their own uuid:
    /// `None` for copies of earlier lines, else the session-scoped key they were imported under.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dispositions: BTreeMap<String, Option<String>>,
}

/// A file read from its checkpoint.
#[derive(Clone, Debug)]
pub struct Continuation {
    pub offset: u64,
    pub line: u64,
    pub state: ContinuationState,
}

/// What a draft session is.
#[derive(Clone, Debug, PartialEq)]
enum DraftKind {
    Main,
    /// A 1.0.x inline sidechain thread inside a session file.
    InlineSidechain {
        root_prompt: Option<String>,
    },
    /// A 2.0.x project-level or 2.1.x `subagents/` agent file.
    Agent {
        agent_id: String,
    },
}

/// A session being assembled.
struct Draft<'a> {
    native_id: String,
    file: &'a TranscriptFile,
    lines: Vec<&'a Line>,
    kind: DraftKind,
    parent: Option<SessionLink>,
}

impl Draft<'_> {
    fn first_timestamp(&self) -> Option<Timestamp> {
        self.lines.iter().filter_map(|line| line.timestamp).min()
    }

    fn last_timestamp(&self) -> Option<Timestamp> {
        self.lines.iter().filter_map(|line| line.timestamp).max()
    }
}

/// The session id of a session file: the file stem when any line names it; else the id most lines
/// carry (renamed files); else the stem. A first "bridge" line may carry the previous session's id.
fn session_file_id(file: &TranscriptFile) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in file.lines.iter().filter_map(|line| line.session_id.as_deref()) {
        *counts.entry(id).or_default() += 1;
    }
    if counts.contains_key(file.stem.as_str()) || counts.is_empty() {
        return file.stem.clone();
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked[0].0.to_string()
}

fn most_common_session_id(file: &TranscriptFile) -> Option<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in file.lines.iter().filter_map(|line| line.session_id.as_deref()) {
        *counts.entry(id).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.first().map(|(id, _)| (*id).to_string())
}

/// The text of a user message's content (string, or the text blocks of an array).
pub(crate) fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|block| block["type"] == "text")
                .filter_map(|block| block["text"].as_str())
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

fn first_user_text(lines: &[&Line]) -> Option<String> {
    lines
        .iter()
        .find(|line| line.kind == "user")
        .and_then(|line| line.message.as_ref())
        .and_then(|message| message.text.clone())
}

/// A 2.0.x "Warmup" agent: its prompt is `Warmup`, or it has no user line at all (a lone reply).
fn is_warmup_agent(file: &TranscriptFile) -> bool {
    if file.continuation.is_some() {
        return false;
    }
    let lines: Vec<&Line> = file.lines.iter().collect();
    match first_user_text(&lines) {
        Some(text) => text.trim() == "Warmup",
        None => !lines.is_empty() && lines.iter().all(|line| line.kind != "user"),
    }
}

/// Splits the project's files into draft sessions, main sessions first (ordered by time).
/// Warmup agent files (skipped as sessions; their billed usage still counts) with their parent id.
type Warmups<'a> = Vec<(String, &'a TranscriptFile)>;

fn drafts<'a>(files: &'a [TranscriptFile], report: &mut ParseReport) -> (Vec<Draft<'a>>, Warmups<'a>) {
    let mut warmups = Vec::new();
    let mut main = Vec::new();
    let mut children = Vec::new();
    for file in files {
        match file.kind {
            FileKind::Session => {
                let native_id = match &file.continuation {
                    Some(continuation) => continuation.state.native_id.clone(),
                    None => session_file_id(file),
                };
                let mut trunk = Vec::new();
                let mut threads: Vec<(String, Vec<&Line>)> = Vec::new();
                let mut thread_of: HashMap<&str, usize> = HashMap::new();
                for line in &file.lines {
                    if !line.is_sidechain {
                        trunk.push(line);
                        continue;
                    }
                    let parent_thread = line.parent_uuid.as_deref().and_then(|parent| thread_of.get(parent).copied());
                    let index = match parent_thread {
                        Some(index) => index,
                        None if line.parent_uuid.is_none() || threads.is_empty() => {
                            let root = line.uuid.clone().unwrap_or_else(|| format!("line{}", line.number));
                            threads.push((root, Vec::new()));
                            threads.len() - 1
                        }
                        None => threads.len() - 1,
                    };
                    if let Some(uuid) = line.uuid.as_deref() {
                        thread_of.insert(uuid, index);
                    }
                    threads[index].1.push(line);
                }
                for (root, lines) in threads {
                    children.push(Draft {
                        native_id: format!("{native_id}/sidechain-{root}"),
                        file,
                        kind: DraftKind::InlineSidechain { root_prompt: first_user_text(&lines) },
                        lines,
                        parent: Some(SessionLink {
                            parent_native_id: native_id.clone(),
                            relationship: Relationship::Subagent,
                            spawning_tool_call_id: None,
                        }),
                    });
                }
                main.push(Draft { native_id, file, lines: trunk, kind: DraftKind::Main, parent: None });
            }
            FileKind::ProjectAgent | FileKind::Subagent => {
                if file.kind == FileKind::ProjectAgent && is_warmup_agent(file) {
                    report.records_skipped.record(SkipLocation {
                        path: file.path.clone(),
                        line: 0,
                        reason: "warmup agent (Claude Code 2.0.x startup probe, not a conversation)".into(),
                    });
                    if let Some(parent) = most_common_session_id(file) {
                        warmups.push((parent, file));
                    }
                    continue;
                }
                let agent_id = file
                    .lines
                    .iter()
                    .find_map(|line| line.agent_id.clone())
                    .unwrap_or_else(|| file.stem.strip_prefix("agent-").unwrap_or(&file.stem).to_string());
                let parent_id = match file.kind {
                    FileKind::Subagent => file.session_dir_name().or_else(|| most_common_session_id(file)),
                    _ => most_common_session_id(file),
                };
                let Some(parent_id) = parent_id else {
                    report.warnings.push(format!("{}: agent file names no parent session", file.path.display()));
                    continue;
                };
                let native_id = match &file.continuation {
                    Some(continuation) => continuation.state.native_id.clone(),
                    None => format!("{parent_id}/agent-{agent_id}"),
                };
                children.push(Draft {
                    native_id,
                    file,
                    lines: file.lines.iter().collect(),
                    kind: DraftKind::Agent { agent_id },
                    parent: Some(SessionLink {
                        parent_native_id: parent_id,
                        relationship: Relationship::Subagent,
                        spawning_tool_call_id: None,
                    }),
                });
            }
            FileKind::SubagentMeta | FileKind::NotTranscript => {}
        }
    }
    let order =
        |draft: &Draft<'_>| (draft.first_timestamp().is_none(), draft.first_timestamp(), draft.last_timestamp());
    main.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| a.native_id.cmp(&b.native_id)));
    children.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| a.native_id.cmp(&b.native_id)));
    main.extend(children);
    (main, warmups)
}

/// A user or assistant line the human or model actually wrote (not harness meta).
fn is_conversational(line: &Line) -> bool {
    (line.kind == "user" || line.kind == "assistant") && !line.is_meta
}

/// How one line of a draft is treated after de-duplication.
#[derive(Clone, Debug, PartialEq)]
enum Disposition {
    /// Imported under this identity key.
    Keep(String),
    /// A copy of a line already imported (resume/fork copy, or a replay within the file).
    Copy,
}

/// Assigns every uuid to the first session (in time order) that contains it, links resumed and
/// forked sessions to their origin, and keeps uuids shared by unrelated sessions (after `/clear`)
/// in both, scoped by session.
fn deduplicate(drafts: &mut [Draft<'_>], report: &mut ParseReport) -> Vec<Vec<Disposition>> {
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut dispositions = Vec::with_capacity(drafts.len());
    for index in 0..drafts.len() {
        let draft = &drafts[index];
        // Which earlier sessions share conversational lines with this one?
        let mut related: HashSet<usize> = HashSet::new();
        let mut last_related: Option<usize> = None;
        for line in &draft.lines {
            if let Some(&earlier) = line.uuid.as_ref().and_then(|uuid| owner.get(uuid))
                && earlier != index
                && is_conversational(line)
            {
                related.insert(earlier);
                last_related = Some(earlier);
            }
        }
        let forked_from = draft.lines.iter().find_map(|line| {
            line.value
                .get("forkedFrom")
                .and_then(|fork| fork.get("sessionId"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let mut seen_here: HashSet<&str> = HashSet::new();
        let mut marks = Vec::with_capacity(draft.lines.len());
        let seeded = draft.file.continuation.as_ref().map(|continuation| &continuation.state.dispositions);
        for line in &draft.lines {
            let Some(uuid) = line.uuid.as_deref() else {
                marks.push(Disposition::Keep(String::new()));
                continue;
            };
            // A continued file treats the lines it re-reads as the full parse did.
            if let Some(disposition) = seeded.and_then(|seeded| seeded.get(uuid))
                && seen_here.insert(uuid)
            {
                marks.push(match disposition {
                    Some(key) => Disposition::Keep(key.clone()),
                    None => Disposition::Copy,
                });
                continue;
            }
            if !seen_here.insert(uuid) {
                report.ignore("replayed line (uuid already in this session)");
                marks.push(Disposition::Copy);
                continue;
            }
            match owner.get(uuid).copied() {
                Some(earlier) if related.contains(&earlier) || draft.kind != DraftKind::Main => {
                    report.ignore("copied line (imported with an earlier session)");
                    marks.push(Disposition::Copy);
                }
                Some(_) => marks.push(Disposition::Keep(format!("{}/{uuid}", draft.native_id))),
                None => {
                    owner.insert(uuid.to_string(), index);
                    marks.push(Disposition::Keep(uuid.to_string()));
                }
            }
        }
        if drafts[index].kind == DraftKind::Main {
            let parent = match (forked_from, last_related) {
                (Some(parent), _) => Some((parent, Relationship::Fork)),
                (None, Some(earlier)) => Some((drafts[earlier].native_id.clone(), Relationship::Continuation)),
                (None, None) => None,
            };
            if let Some((parent, relationship)) = parent.filter(|(parent, _)| *parent != drafts[index].native_id) {
                drafts[index].parent =
                    Some(SessionLink { parent_native_id: parent, relationship, spawning_tool_call_id: None });
            }
        }
        dispositions.push(marks);
    }
    dispositions
}

/// The native envelope of a (slimmed) line without bulky content: message content, tool result
/// bodies, snapshots and long system text are replaced by their size. Consumes the line, so
/// what the frame keeps is moved, not copied.
pub(crate) fn raw_frame(line: Value) -> Value {
    let Value::Object(fields) = line else { return Value::Null };
    let frame = fields
        .into_iter()
        .map(|(key, value)| {
            let slimmed = match key.as_str() {
                "message" => match value {
                    Value::Object(mut message) => {
                        message.remove("content");
                        Value::Object(message)
                    }
                    other => other,
                },
                "toolUseResult" | "snapshot" => {
                    let omitted = value.get(crate::parse::OMITTED_BYTES).and_then(Value::as_u64);
                    json!({ "omitted_bytes": omitted.unwrap_or(json_text::text_len(&value) as u64) })
                }
                "content" if value.as_str().is_none_or(|text| text.len() > 1024) => {
                    json!({ "omitted_bytes": json_text::text_len(&value) })
                }
                _ => value,
            };
            (key, slimmed)
        })
        .collect();
    Value::Object(frame)
}

/// Takes the string at `key` out of `block` (`None` when it is missing or not a string).
fn take_text(block: &mut Value, key: &str) -> Option<String> {
    match block.get_mut(key).map(Value::take) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// One content block as a part, its text moved into the part. Unknown block types are kept as
/// `other` and counted.
fn block_part(mut block: Value, report: &mut ParseReport) -> MessagePart {
    let block_type = block["type"].as_str().unwrap_or("(missing type)").to_owned();
    let block_type = block_type.as_str();
    match block_type {
        "text" => MessagePart { text: take_text(&mut block, "text"), ..MessagePart::new(PartKind::Text) },
        "thinking" => MessagePart { text: take_text(&mut block, "thinking"), ..MessagePart::new(PartKind::Thinking) },
        "redacted_thinking" => MessagePart {
            metadata: Some(json!({ "redacted": true, "data_bytes": block["data"].as_str().map_or(0, str::len) })),
            ..MessagePart::new(PartKind::Thinking)
        },
        "tool_use" | "server_tool_use" => MessagePart {
            tool_name: take_text(&mut block, "name"),
            tool_call_id: take_text(&mut block, "id"),
            tool_input: block.get_mut("input").map(Value::take),
            metadata: (block_type == "server_tool_use").then(|| json!({ "server": true })),
            ..MessagePart::new(PartKind::ToolCall)
        },
        "tool_result" | "web_search_tool_result" | "advisor_tool_result" => tool_result_part(&mut block, block_type),
        "image" => MessagePart { metadata: Some(image_metadata(&block)), ..MessagePart::new(PartKind::Image) },
        _ => {
            report.unknown_records += 1;
            let mut metadata = json!({ "type": block_type });
            if block_type == "document" {
                metadata["media_type"] = block["source"]["media_type"].clone();
            }
            MessagePart { metadata: Some(metadata), ..MessagePart::new(PartKind::Other) }
        }
    }
}

/// Kind, media type and decoded size of an image; the base64 data itself is not stored.
fn image_metadata(block: &Value) -> Value {
    let source = &block["source"];
    let encoded = source["data"].as_str().map_or(0, str::len);
    json!({
        "source_type": source["type"],
        "media_type": source["media_type"],
        "byte_size": encoded / 4 * 3,
    })
}

fn tool_result_part(block: &mut Value, block_type: &str) -> MessagePart {
    let content = block.get_mut("content").map_or(Value::Null, Value::take);
    let (text, images) = match content {
        Value::String(text) => (Some(text), 0),
        Value::Array(items) => {
            let texts: Vec<&str> = items.iter().filter_map(|item| item["text"].as_str()).collect();
            let images = items.iter().filter(|item| item["type"] == "image").count();
            ((!texts.is_empty()).then(|| texts.join("\n")), images)
        }
        _ => (None, 0),
    };
    let mut metadata = Map::new();
    if images > 0 {
        metadata.insert("images".into(), json!(images));
    }
    if block_type != "tool_result" {
        metadata.insert("type".into(), json!(block_type));
    }
    MessagePart {
        text,
        tool_call_id: take_text(block, "tool_use_id"),
        is_error: block["is_error"].as_bool(),
        metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
        ..MessagePart::new(PartKind::ToolResult)
    }
}

/// The parts of a user or assistant line's `message.content`, its texts moved into them.
pub fn content_parts(content: Value, report: &mut ParseReport) -> Vec<MessagePart> {
    match content {
        Value::String(text) => vec![MessagePart::text(text)],
        Value::Array(blocks) => blocks.into_iter().map(|block| block_part(block, report)).collect(),
        Value::Null => Vec::new(),
        other => vec![MessagePart { metadata: Some(json!({ "content": other })), ..MessagePart::new(PartKind::Other) }],
    }
}

/// Session metadata gathered while walking a draft's lines.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SessionFacts {
    cwd: Option<String>,
    git_branch: Option<String>,
    versions: Vec<String>,
    entrypoint: Option<String>,
    permission_mode: Option<String>,
    models: Vec<String>,
    slug: Option<String>,
    custom_title: Option<String>,
    ai_title: Option<String>,
    agent_name: Option<String>,
    team_name: Option<String>,
    started_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
}

fn push_distinct(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|known| known == value) {
        list.push(value.to_string());
    }
}

impl SessionFacts {
    fn observe(&mut self, line: &Line, counts_for_time: bool) {
        if self.cwd.is_none() {
            self.cwd = line.cwd.clone();
        }
        if self.git_branch.is_none() {
            self.git_branch = line.git_branch.clone();
        }
        if let Some(version) = line.version.as_deref() {
            push_distinct(&mut self.versions, version);
        }
        if self.entrypoint.is_none() {
            self.entrypoint = line.str_field("entrypoint").map(str::to_string);
        }
        if let Some(mode) = line.str_field("permissionMode") {
            self.permission_mode = Some(mode.to_string());
        }
        if let Some(slug) = line.str_field("slug") {
            self.slug = Some(slug.to_string());
        }
        if let Some(team) = line.str_field("teamName") {
            self.team_name = Some(team.to_string());
        }
        match line.kind.as_str() {
            "custom-title" => {
                self.custom_title = line.str_field("customTitle").map(str::to_string).or(self.custom_title.take())
            }
            "ai-title" => self.ai_title = line.str_field("aiTitle").map(str::to_string).or(self.ai_title.take()),
            "agent-name" => {
                self.agent_name = line.str_field("agentName").map(str::to_string).or(self.agent_name.take())
            }
            _ => {}
        }
        if let Some(model) = line.message.as_ref().and_then(|message| message.model.as_deref())
            && line.kind == "assistant"
            && model != SYNTHETIC_MODEL
        {
            push_distinct(&mut self.models, model);
        }
        if counts_for_time && let Some(timestamp) = line.timestamp {
            self.started_at = Some(self.started_at.map_or(timestamp, |start| start.min(timestamp)));
            self.ended_at = Some(self.ended_at.map_or(timestamp, |end| end.max(timestamp)));
        }
    }
}

/// The usage of one billed response, counted once per `(message.id, requestId)`.
struct UsageCandidate {
    draft: usize,
    usage: ProjectedUsage,
}

/// The input, output, cache-read and cache-creation token counts of a `usage` object.
pub(crate) fn usage_counts(usage: &Value) -> Option<[u64; 4]> {
    usage.is_object().then(|| {
        ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]
            .map(|key| hindcast_core::model::token_count(&usage[key]))
    })
}

/// Where a billed response was seen.
struct UsageSighting<'a> {
    message_id: Option<&'a str>,
    model: Option<&'a str>,
    usage: Option<[u64; 4]>,
    request_id: Option<&'a str>,
    timestamp: Option<Timestamp>,
}

impl<'a> UsageSighting<'a> {
    /// An assistant line's own message.
    fn of_line(line: &'a Line) -> Option<Self> {
        let message = line.message.as_ref()?;
        Some(Self {
            message_id: message.id.as_deref(),
            model: message.model.as_deref(),
            usage: message.usage,
            request_id: line.request_id.as_deref(),
            timestamp: line.timestamp,
        })
    }

    /// A subagent's assistant message streamed into its parent as an `agent_progress` line.
    fn of_progress(line: &'a Line) -> Option<Self> {
        let streamed = line.value.get("data")?.get("message")?;
        let message = streamed.get("message")?;
        let usage = message.get("usage").and_then(usage_counts)?;
        let timestamp = streamed.get("timestamp").and_then(Value::as_str).and_then(|stamp| stamp.parse().ok());
        Some(Self {
            message_id: message["id"].as_str(),
            model: message["model"].as_str(),
            usage: Some(usage),
            request_id: streamed.get("requestId").and_then(Value::as_str),
            timestamp: timestamp.or(line.timestamp),
        })
    }
}

/// Records one sighting of a billed response: one record per `(message.id, requestId)` (or
/// `message.id` alone without a request id), keeping the copy with the most output tokens.
/// `<synthetic>` messages carry no usage. The first sighting decides the session.
fn observe_usage(
    sighting: UsageSighting<'_>,
    draft: usize,
    message_key: Option<&str>,
    usage: &mut HashMap<String, UsageCandidate>,
    order: &mut Vec<String>,
) {
    let (Some(message_id), Some(model), Some(tokens)) = (sighting.message_id, sighting.model, sighting.usage) else {
        return;
    };
    if model == SYNTHETIC_MODEL {
        return;
    }
    let key = match sighting.request_id.filter(|request| !request.is_empty()) {
        Some(request) => format!("{message_id}/{request}"),
        None => message_id.to_string(),
    };
    let [input, output, cache_read, cache_creation] = tokens;
    let record = ProjectedUsage {
        key: key.clone(),
        message_key: message_key.map(str::to_string),
        model: Some(model.to_string()),
        timestamp: sighting.timestamp,
        input_tokens: input + cache_read + cache_creation,
        output_tokens: output,
        cache_read_tokens: cache_read,
        cache_creation_tokens: cache_creation,
        reasoning_tokens: 0,
    };
    match usage.get_mut(&key) {
        Some(existing) => {
            if output > existing.usage.output_tokens {
                existing.usage = ProjectedUsage {
                    message_key: existing.usage.message_key.take().or(record.message_key),
                    timestamp: existing.usage.timestamp.or(record.timestamp),
                    ..record
                };
            }
        }
        None => {
            order.push(key.clone());
            usage.insert(key, UsageCandidate { draft, usage: record });
        }
    }
}

/// A message under construction plus the raw parent uuid to resolve once every key is known.
struct PendingMessage {
    message: ProjectedMessage,
    /// Lines whose content becomes the message's parts, in order.
    part_lines: Vec<u64>,
    parent_uuid: Option<String>,
    /// The message's first line: where a continuation re-reads it from.
    first_line: (u64, u64),
    /// Its position among the draft's lines.
    ordinal: u64,
}

/// Where the next parse of a draft's file may start: the first line of its latest assistant
/// response (which may still grow by split lines), or of its last message.
fn checkpoint_of(
    draft: &Draft<'_>,
    marks: &[Disposition],
    pending: &[PendingMessage],
    latest_response: Option<usize>,
    facts: &SessionFacts,
    metadata: &Map<String, Value>,
) -> Option<FileCheckpoint> {
    let position = latest_response.or(pending.len().checked_sub(1))?;
    let seed = draft.file.continuation.as_ref().map(|continuation| &continuation.state);
    let restart = &pending[position];
    let ordinal_base = draft.file.continuation.as_ref().map_or(0, |continuation| continuation.state.ordinal_base);
    let first_reread = (restart.ordinal - ordinal_base) as usize;
    // Keyed by each uuid's first occurrence in the re-read lines; later ones are replays either way.
    let mut seen: HashSet<&str> = HashSet::new();
    let dispositions = draft.lines[first_reread..]
        .iter()
        .zip(&marks[first_reread..])
        .filter_map(|(line, mark)| {
            let uuid = line.uuid.as_deref().filter(|uuid| seen.insert(uuid))?;
            match mark {
                Disposition::Copy => Some((uuid.to_string(), None)),
                Disposition::Keep(key) if key != uuid => Some((uuid.to_string(), Some(key.clone()))),
                Disposition::Keep(_) => None,
            }
        })
        .collect();
    let state = ContinuationState {
        native_id: draft.native_id.clone(),
        line: restart.first_line.1,
        seq_base: seed.map_or(0, |seed| seed.seq_base) + position as u64,
        ordinal_base: restart.ordinal,
        facts: facts.clone(),
        metadata: metadata.clone(),
        dispositions,
    };
    Some(FileCheckpoint {
        path: draft.file.path.clone(),
        offset: restart.first_line.0,
        state: serde_json::to_value(state).ok()?,
    })
}

/// A projected session whose user and assistant messages still lack their parts: `part_lines[i]`
/// lists the lines of `file` whose content becomes the parts of message `i`.
pub struct ProjectedDraft {
    pub exchange: ProjectedExchange,
    pub file: PathBuf,
    pub part_lines: Vec<Vec<u64>>,
}

/// Turns the project's transcripts into exchanges, one per session and subagent.
pub fn project(files: &[TranscriptFile], report: &mut ParseReport) -> Vec<ProjectedDraft> {
    let (mut drafts, warmups) = drafts(files, report);
    let dispositions = deduplicate(&mut drafts, report);

    // Project-wide indexes: the DAG (uuid -> parent) and summaries by leaf uuid.
    let mut parent_of: HashMap<&str, &str> = HashMap::new();
    let mut summaries: Vec<(&str, &str)> = Vec::new();
    for line in files.iter().flat_map(|file| &file.lines) {
        if let Some(uuid) = line.uuid.as_deref()
            && let Some(parent) = line.parent_uuid.as_deref().or(line.logical_parent_uuid.as_deref())
        {
            parent_of.entry(uuid).or_insert(parent);
        }
        if line.kind == "summary"
            && let (Some(leaf), Some(text)) = (line.str_field("leafUuid"), line.str_field("summary"))
        {
            summaries.push((leaf, text));
        }
    }
    // Spawning tool calls: trunk tool results name the agent they ran (`toolUseResult.agentId`).
    let mut spawned_by_agent: HashMap<&str, &str> = HashMap::new();
    let mut task_prompts: HashMap<&str, &str> = HashMap::new();
    for line in files.iter().filter(|file| file.kind == FileKind::Session).flat_map(|file| &file.lines) {
        let Some(blocks) = line.message.as_ref().and_then(|message| message.blocks.as_ref()) else { continue };
        if let Some(agent) = line.result_agent_id.as_deref()
            && let Some(call) = blocks.first_result_call.as_deref()
        {
            spawned_by_agent.entry(agent).or_insert(call);
        }
        for (prompt, id) in &blocks.prompted_calls {
            task_prompts.entry(prompt).or_insert(id);
        }
    }

    // Billed responses seen outside a session's own assistant lines (streamed `agent_progress`
    // copies, warmup agents): counted after every transcript, so a subagent's own file wins.
    let mut late_usage: Vec<(usize, &Line)> = Vec::new();
    for (parent, file) in &warmups {
        match drafts.iter().position(|draft| draft.native_id == *parent) {
            Some(index) => late_usage.extend(file.lines.iter().map(|line| (index, line))),
            None => report.warnings.push(format!(
                "{}: usage of a warmup agent whose parent session {parent} is not in this project is not counted",
                file.path.display()
            )),
        }
    }
    let mut usage: HashMap<String, UsageCandidate> = HashMap::new();
    let mut usage_order: Vec<String> = Vec::new();
    // uuid -> identity key: per session (a session's own keys win when it resolves its parents,
    // e.g. its own copy of a line shared after `/clear`), and project-wide (first owner wins).
    let mut key_of: HashMap<String, String> = HashMap::new();
    let mut local_key_of: Vec<HashMap<String, String>> = Vec::with_capacity(drafts.len());
    let mut sessions: Vec<(ProjectedSession, Vec<PendingMessage>)> = Vec::with_capacity(drafts.len());

    // Files that hold exactly one session can be continued from a checkpoint when they grow.
    let mut drafts_per_file: HashMap<&std::path::Path, usize> = HashMap::new();
    for draft in &drafts {
        *drafts_per_file.entry(draft.file.path.as_path()).or_default() += 1;
    }
    let mut checkpoints = Vec::new();
    for (index, draft) in drafts.iter().enumerate() {
        let seed = draft.file.continuation.as_ref().map(|continuation| &continuation.state);
        let ordinal_base = seed.map_or(0, |seed| seed.ordinal_base);
        let mut facts = seed.map(|seed| seed.facts.clone()).unwrap_or_default();
        let mut latest_response: Option<usize> = None;
        let mut pending: Vec<PendingMessage> = Vec::new();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        let mut local: HashMap<String, String> = HashMap::new();
        let kept_any_timestamp = draft
            .lines
            .iter()
            .zip(&dispositions[index])
            .any(|(line, mark)| line.timestamp.is_some() && *mark != Disposition::Copy);
        for (local_ordinal, (line, mark)) in draft.lines.iter().zip(&dispositions[index]).enumerate() {
            let ordinal = ordinal_base + local_ordinal as u64;
            facts.observe(line, !kept_any_timestamp || *mark != Disposition::Copy);
            let key = match mark {
                Disposition::Copy => {
                    if line.kind == "assistant" {
                        let existing = line.uuid.as_ref().and_then(|uuid| key_of.get(uuid)).cloned();
                        if let Some(sighting) = UsageSighting::of_line(line) {
                            observe_usage(sighting, index, existing.as_deref(), &mut usage, &mut usage_order);
                        }
                    }
                    continue;
                }
                Disposition::Keep(key) if key.is_empty() => None,
                Disposition::Keep(key) => Some(key.clone()),
            };
            let kind = line.kind.as_str();
            if METADATA_TYPES.contains(&kind) {
                continue;
            }
            if NON_MESSAGE_TYPES.contains(&kind) {
                if kind == "progress" {
                    late_usage.push((index, line));
                }
                report.ignore(kind);
                continue;
            }
            let identity = match &key {
                Some(key) => MessageIdentity::native(key.clone()),
                None => {
                    MessageIdentity::fallback(&draft.native_id, ordinal, line.fallback_hash.as_deref().unwrap_or(""))
                }
            };
            if kind == "assistant" {
                let group = line
                    .message
                    .as_ref()
                    .and_then(|message| message.id.as_deref())
                    .map(|id| format!("{id}/{}", line.request_id.as_deref().unwrap_or("")));
                if let Some(group) = &group
                    && let Some(&position) = group_of.get(group)
                {
                    latest_response = Some(position);
                    // The line joins the response: its content and its uuid (in the frame's
                    // `mergedUuids`) are added in the second pass.
                    pending[position].part_lines.push(line.number);
                    let merged = &mut pending[position].message;
                    if let Some(uuid) = &line.uuid {
                        local.insert(uuid.clone(), merged.identity.key.clone());
                        key_of.entry(uuid.clone()).or_insert_with(|| merged.identity.key.clone());
                    }
                    if let Some(sighting) = UsageSighting::of_line(line) {
                        let key = merged.identity.key.clone();
                        observe_usage(sighting, index, Some(&key), &mut usage, &mut usage_order);
                    }
                    continue;
                }
                if let Some(group) = group {
                    group_of.insert(group, pending.len());
                }
                latest_response = Some(pending.len());
                if let Some(sighting) = UsageSighting::of_line(line) {
                    observe_usage(sighting, index, Some(&identity.key), &mut usage, &mut usage_order);
                }
            }
            let subtype = line.str_field("subtype");
            // The parts of user and assistant lines are read from their content in a second pass
            // (`fill_parts`), one file at a time, so a project's text is never all in memory.
            let mut part_lines = Vec::new();
            let (role, parts) = match kind {
                "user" | "assistant" => {
                    part_lines.push(line.number);
                    (if kind == "user" { Role::User } else { Role::Assistant }, Vec::new())
                }
                "system" => {
                    let mut part = MessagePart::new(PartKind::Text);
                    part.text = line.str_field("content").map(str::to_string);
                    if let Some(metadata) = line.value.get("compactMetadata") {
                        part.metadata = Some(json!({ "compact": metadata }));
                    }
                    (Role::System, vec![part])
                }
                _ => {
                    report.unknown_records += 1;
                    let part =
                        MessagePart { metadata: Some(json!({ "type": kind })), ..MessagePart::new(PartKind::Other) };
                    (Role::Other, vec![part])
                }
            };
            let flags = MessageFlags {
                sidechain: line.is_sidechain,
                meta: line.is_meta,
                injected: false,
                compact_summary: line.value.get("isCompactSummary").and_then(Value::as_bool).unwrap_or(false),
                compact_boundary: kind == "system" && subtype == Some("compact_boundary"),
                api_error: line.value.get("isApiErrorMessage").and_then(Value::as_bool).unwrap_or(false)
                    || (kind == "system" && subtype == Some("api_error")),
            };
            if let Some(uuid) = &line.uuid {
                local.insert(uuid.clone(), identity.key.clone());
                key_of.entry(uuid.clone()).or_insert_with(|| identity.key.clone());
            }
            // User and assistant frames are taken in the second pass, with their content.
            let raw_frame = part_lines.is_empty().then(|| RawFrame::new(&raw_frame(line.value.clone())));
            pending.push(PendingMessage {
                part_lines,
                first_line: (line.offset, line.number),
                ordinal,
                parent_uuid: line.parent_uuid.clone().or_else(|| line.logical_parent_uuid.clone()),
                message: ProjectedMessage {
                    native_id: line.uuid.clone(),
                    identity,
                    parent_key: None,
                    role,
                    timestamp: line.timestamp,
                    model: line.message.as_ref().and_then(|message| message.model.clone()),
                    flags,
                    raw_frame,
                    parts,
                    source_path: None,
                },
            });
        }

        let mut metadata = seed.map(|seed| seed.metadata.clone()).unwrap_or_default();
        if facts.versions.len() > 1 {
            metadata.insert("versions".into(), json!(facts.versions));
        }
        if let Some(slug) = &facts.slug {
            metadata.insert("slug".into(), json!(slug));
        }
        if let Some(team) = &facts.team_name {
            metadata.insert("team_name".into(), json!(team));
        }
        let mut parent = draft.parent.clone();
        match &draft.kind {
            DraftKind::Agent { agent_id } => {
                metadata.insert("agent_id".into(), json!(agent_id));
                let sidecar = draft.file.sidecar.as_ref();
                for (field, key) in [("agentType", "agent_type"), ("description", "description")] {
                    if let Some(value) = sidecar.and_then(|sidecar| sidecar.get(field)) {
                        metadata.insert(key.into(), value.clone());
                    }
                }
                if agent_id.starts_with("acompact") {
                    metadata.insert("compaction_helper".into(), json!(true));
                }
                let layout = if draft.file.kind == FileKind::Subagent { "subagents-2.1" } else { "project-agent-2.0" };
                metadata.insert("layout".into(), json!(layout));
                if let Some(link) = parent.as_mut() {
                    link.spawning_tool_call_id = sidecar
                        .and_then(|sidecar| sidecar.get("toolUseId"))
                        .and_then(Value::as_str)
                        .or_else(|| spawned_by_agent.get(agent_id.as_str()).copied())
                        .map(str::to_string);
                }
            }
            DraftKind::InlineSidechain { root_prompt } => {
                metadata.insert("layout".into(), json!("inline-sidechain-1.0"));
                if let Some(link) = parent.as_mut() {
                    link.spawning_tool_call_id =
                        root_prompt.as_deref().and_then(|prompt| task_prompts.get(prompt).copied()).map(str::to_string);
                }
            }
            DraftKind::Main => {}
        }
        if let Some(name) = &facts.agent_name {
            metadata.insert("agent_name".into(), json!(name));
        }
        let session = ProjectedSession {
            client: crate::NAME.to_string(),
            native_id: draft.native_id.clone(),
            source_path: draft.file.path.clone(),
            title: facts.custom_title.clone().or(facts.ai_title.clone()),
            cwd: facts.cwd.clone(),
            git: GitInfo { branch: facts.git_branch.clone(), ..GitInfo::default() },
            client_version: facts.versions.last().cloned(),
            entrypoint: facts.entrypoint.clone(),
            models: facts.models.clone(),
            permission_mode: facts.permission_mode.clone(),
            sandbox_mode: None,
            approval_mode: None,
            started_at: facts.started_at,
            ended_at: facts.ended_at,
            parent,
            metadata,
        };
        let single_session_file = drafts_per_file.get(draft.file.path.as_path()) == Some(&1);
        if single_session_file && matches!(draft.kind, DraftKind::Main | DraftKind::Agent { .. }) {
            checkpoints.extend(checkpoint_of(
                draft,
                &dispositions[index],
                &pending,
                latest_response,
                &facts,
                &session.metadata,
            ));
        }
        sessions.push((session, pending));
        local_key_of.push(local);
    }

    // Titles from `summary` lines, matched to the session that owns their leaf, project-wide.
    for (leaf, text) in summaries {
        let Some(leaf_key) = key_of.get(leaf) else { continue };
        if let Some((session, _)) = sessions
            .iter_mut()
            .find(|(_, messages)| messages.iter().any(|pending| pending.message.identity.key == *leaf_key))
            && session.title.is_none()
        {
            session.title = Some(text.to_string());
        }
    }

    // Resolve parents through lines that are not messages (progress, attachments, copies). A
    // continued file's first lines point before the checkpoint, at messages keyed by their uuid.
    let resolve = |session: usize, start: &str| -> Option<String> {
        let mut current = start;
        for _ in 0..10_000 {
            if let Some(key) = local_key_of[session].get(current).or_else(|| key_of.get(current)) {
                return Some(key.clone());
            }
            match parent_of.get(current) {
                Some(parent) => current = parent,
                None if drafts[session].file.continuation.is_some() => return Some(current.to_string()),
                None => return None,
            }
        }
        None
    };
    let mut exchanges: Vec<ProjectedDraft> = sessions
        .into_iter()
        .enumerate()
        .map(|(index, (session, pending))| {
            let mut part_lines = Vec::with_capacity(pending.len());
            let messages = pending
                .into_iter()
                .map(|PendingMessage { mut message, parent_uuid, part_lines: lines, .. }| {
                    message.parent_key = parent_uuid
                        .as_deref()
                        .and_then(|parent| resolve(index, parent))
                        .filter(|key| *key != message.identity.key);
                    part_lines.push(lines);
                    message
                })
                .collect();
            let continuation = drafts[index].file.continuation.as_ref();
            ProjectedDraft {
                exchange: ProjectedExchange {
                    seq_base: continuation.map_or(0, |continuation| continuation.state.seq_base),
                    session,
                    messages,
                    usage: Vec::new(),
                    ..ProjectedExchange::default()
                },
                file: drafts[index].file.path.clone(),
                part_lines,
            }
        })
        .collect();
    for (index, line) in late_usage {
        let sighting =
            if line.kind == "progress" { UsageSighting::of_progress(line) } else { UsageSighting::of_line(line) };
        if let Some(sighting) = sighting {
            observe_usage(sighting, index, None, &mut usage, &mut usage_order);
        }
    }
    for key in usage_order {
        if let Some(candidate) = usage.remove(&key) {
            exchanges[candidate.draft].exchange.usage.push(candidate.usage);
        }
    }
    report.checkpoints.extend(checkpoints);
    report.sessions_seen += exchanges.len() as u64;
    report.items_seen += exchanges.iter().map(|draft| draft.exchange.messages.len() as u64).sum::<u64>();
    exchanges
}
