//! Turns the chat files of one Gemini CLI project folder into projected exchanges: sessions told
//! apart from sub-agents of every era, the project directory resolved, each message id counted
//! once across the folder, parts and usage from the last copy of every message.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use hindcast_core::identity::sha256_hex;
use hindcast_core::json_text;
use hindcast_core::model::{
    MessageFlags, MessageIdentity, MessagePart, PartKind, ProjectedExchange, ProjectedMessage, ProjectedSession,
    ProjectedUsage, RawFrame, Relationship, Role, SessionLink, token_count,
};
use hindcast_core::provider::{FileCheckpoint, ParseReport, SkipLocation};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::record::{ChatFile, Record};

/// Openings of user records the client writes itself rather than a person (FORMAT.md).
pub const CLIENT_WRITTEN_OPENINGS: &[&str] = &["System: Please continue."];

/// A tool result display longer than this (its JSON text) is kept as its size only: the result
/// itself is the part's text.
const DISPLAY_KEPT_BYTES: usize = 1024;

/// Whether every text of a user message is one the client wrote.
pub fn is_client_written<'a>(texts: impl IntoIterator<Item = &'a str>) -> bool {
    let mut any = false;
    for text in texts {
        if !CLIENT_WRITTEN_OPENINGS.iter().any(|opening| text.trim_start().starts_with(opening)) {
            return false;
        }
        any = true;
    }
    any
}

/// Who a chat file's session is.
#[derive(Debug, Default)]
struct Identity {
    native_id: String,
    parent: Option<SessionLink>,
    subagent: bool,
}

/// Projects every chat file of one project folder.
pub fn project(chats: Vec<ChatFile>, report: &mut ParseReport) -> Vec<ProjectedExchange> {
    let cwd = chats.first().and_then(|chat| project_directory(&chat.path, chat.meta_str("projectHash")));
    let identities = identities(&chats);
    let mut claimed: HashSet<String> = HashSet::new();
    let mut spawned = Spawned::new();
    let mut built = Vec::with_capacity(chats.len());
    for (chat, identity) in chats.into_iter().zip(identities) {
        let base = Base { identity, cwd: cwd.clone(), ..Base::default() };
        built.push(exchange(chat, base, &mut claimed, &mut spawned, report));
    }
    let mut exchanges: Vec<ProjectedExchange> = Vec::with_capacity(built.len());
    let mut pending = Vec::new();
    for session in built {
        pending.push((exchanges.len(), session.checkpoint));
        exchanges.extend(session.exchanges);
    }
    link_spawning_calls(&mut exchanges, &spawned);
    for (at, checkpoint) in pending {
        if let Some(checkpoint) = checkpoint {
            report.checkpoints.push(checkpoint.finish(&exchanges[at].session));
        }
    }
    exchanges
}

/// Projects what was appended to one chat file, continuing from its checkpoint's state.
pub fn project_continued(chat: ChatFile, base: Base, report: &mut ParseReport) -> Vec<ProjectedExchange> {
    let session = exchange(chat, base, &mut HashSet::new(), &mut Spawned::new(), report);
    if let (Some(checkpoint), Some(main)) = (session.checkpoint, session.exchanges.first()) {
        report.checkpoints.push(checkpoint.finish(&main.session));
    }
    session.exchanges
}

/// What a chat file's session was when its file was last read (the checkpoint's state), so
/// appended lines continue it as a whole read would: who the session is, its directory, where
/// each message sits, and what the session row was built from.
#[derive(Debug, Default)]
pub struct Base {
    identity: Identity,
    cwd: Option<String>,
    positions: HashMap<String, u64>,
    count: u64,
    models: Vec<String>,
    started_at: Option<Timestamp>,
    last_time: Option<Timestamp>,
}

impl Base {
    /// The state a checkpoint carried, with the metadata the file had; `None` when it is not one
    /// this release wrote.
    pub fn from_state(state: &Value) -> Option<(Base, Map<String, Value>)> {
        let text = |key: &str| state.get(key).and_then(Value::as_str).map(str::to_string);
        let time = |key: &str| state.get(key).and_then(Value::as_str).and_then(|time| time.parse().ok());
        let parent = match state.get("parent") {
            Some(Value::Null) | None => None,
            Some(link) => Some(SessionLink {
                parent_native_id: link.get("parent_native_id")?.as_str()?.to_string(),
                relationship: serde_json::from_value(link.get("relationship")?.clone()).ok()?,
                spawning_tool_call_id: link.get("spawning_tool_call_id").and_then(Value::as_str).map(str::to_string),
            }),
        };
        let positions = state
            .get("positions")?
            .as_object()?
            .iter()
            .map(|(id, seq)| Some((id.clone(), seq.as_u64()?)))
            .collect::<Option<HashMap<_, _>>>()?;
        let base = Base {
            identity: Identity { native_id: text("native_id")?, parent, subagent: state.get("subagent")?.as_bool()? },
            cwd: text("cwd"),
            positions,
            count: state.get("count")?.as_u64()?,
            models: serde_json::from_value(state.get("models")?.clone()).ok()?,
            started_at: time("started_at"),
            last_time: time("last_time"),
        };
        Some((base, state.get("meta")?.as_object()?.clone()))
    }

    /// The positions of the messages read before, for the continued read.
    pub fn positions(&self) -> &HashMap<String, u64> {
        &self.positions
    }
}

/// A chat file's session projected: its exchange (then one per message written again after a
/// continuation point, each at its old position) and the checkpoint to leave.
struct Built {
    exchanges: Vec<ProjectedExchange>,
    checkpoint: Option<PendingCheckpoint>,
}

/// A checkpoint waiting for the session's final parent link (sub-agent calls are linked last).
struct PendingCheckpoint {
    path: std::path::PathBuf,
    offset: u64,
    state: Map<String, Value>,
}

impl PendingCheckpoint {
    fn finish(mut self, session: &ProjectedSession) -> FileCheckpoint {
        self.state.insert("parent".into(), serde_json::to_value(&session.parent).unwrap_or(Value::Null));
        FileCheckpoint { path: self.path, offset: self.offset, state: Value::Object(self.state) }
    }
}

/// The tool calls that ran a sub-agent: (session native id, the call's `agentId`) → the call's id.
type Spawned = HashMap<(String, String), String>;

/// The session of every chat file. A file in `chats/<parent id>/` is a sub-agent of that parent
/// (from March 2026). Before that, sub-agents were flat files carrying their parent's
/// `sessionId`: among files sharing one, the session is the one marked `main`, else the earliest
/// that is not marked `subagent`; the others are its sub-agents, named by their first message.
fn identities(chats: &[ChatFile]) -> Vec<Identity> {
    let nested_parent = |chat: &ChatFile| -> Option<String> {
        let folder = chat.path.parent()?;
        (folder.file_name()? != "chats").then(|| folder.file_name().unwrap_or_default().to_string_lossy().into_owned())
    };
    let stem = |chat: &ChatFile| chat.path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let mut flat_by_session: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (at, chat) in chats.iter().enumerate() {
        if nested_parent(chat).is_none() {
            flat_by_session.entry(chat.session_id().map_or_else(|| stem(chat), str::to_string)).or_default().push(at);
        }
    }
    let mut main_of: HashMap<usize, bool> = HashMap::new();
    for files in flat_by_session.values() {
        let main = files.iter().copied().find(|&at| chats[at].kind() == Some("main")).or_else(|| {
            files
                .iter()
                .copied()
                .filter(|&at| chats[at].kind() != Some("subagent"))
                .min_by_key(|&at| (start_time(&chats[at]), at))
        });
        for &at in files {
            main_of.insert(at, Some(at) == main);
        }
    }
    chats
        .iter()
        .enumerate()
        .map(|(at, chat)| {
            let session_id = chat.session_id().map_or_else(|| stem(chat), str::to_string);
            let subagent_link = |parent: String| {
                Some(SessionLink {
                    parent_native_id: parent,
                    relationship: Relationship::Subagent,
                    spawning_tool_call_id: None,
                })
            };
            if let Some(parent) = nested_parent(chat) {
                return Identity {
                    native_id: format!("{parent}/{session_id}"),
                    parent: subagent_link(parent),
                    subagent: true,
                };
            }
            if main_of.get(&at).copied().unwrap_or(true) {
                return Identity { native_id: session_id, parent: None, subagent: false };
            }
            let name = chat.records.first().map(|record| record.id.clone()).unwrap_or_else(|| stem(chat));
            Identity { native_id: format!("{session_id}/{name}"), parent: subagent_link(session_id), subagent: true }
        })
        .collect()
}

fn start_time(chat: &ChatFile) -> Option<Timestamp> {
    chat.meta_str("startTime").and_then(|time| time.parse().ok())
}

/// The project's directory: the slug folder's `.project_root` marker, else the registry
/// (`<root>/projects.json`, path → folder name), else the registered path whose SHA-256 is the
/// folder's name or the chats' `projectHash` (the folder name up to February 2026).
fn project_directory(chat_path: &Path, project_hash: Option<&str>) -> Option<String> {
    let chats = chat_path.ancestors().find(|dir| dir.file_name().is_some_and(|name| name == "chats"))?;
    let project = chats.parent()?;
    if let Ok(text) = std::fs::read_to_string(project.join(".project_root")) {
        let root = text.trim();
        if !root.is_empty() {
            return Some(root.to_string());
        }
    }
    let folder = project.file_name()?.to_string_lossy().into_owned();
    let registry: Value =
        serde_json::from_str(&std::fs::read_to_string(project.parent()?.parent()?.join("projects.json")).ok()?).ok()?;
    let projects = registry.get("projects")?.as_object()?;
    projects
        .iter()
        .find(|(_, slug)| slug.as_str() == Some(folder.as_str()))
        .or_else(|| {
            projects.iter().find(|(path, _)| {
                let hash = sha256_hex(path.as_bytes());
                hash == folder || Some(hash.as_str()) == project_hash
            })
        })
        .map(|(path, _)| path.clone())
}

fn timestamp(value: Option<&Value>, path: &Path, line: u64, report: &mut ParseReport) -> Option<Timestamp> {
    let text = value?.as_str()?;
    match text.parse() {
        Ok(time) => Some(time),
        Err(_) => {
            report.timestamps_unreadable.record(SkipLocation {
                path: path.to_path_buf(),
                line,
                reason: format!("unreadable timestamp {text:?}"),
            });
            None
        }
    }
}

fn exchange(
    chat: ChatFile,
    base: Base,
    claimed: &mut HashSet<String>,
    spawned: &mut Spawned,
    report: &mut ParseReport,
) -> Built {
    report.sessions_seen += 1;
    let Base { identity, cwd, mut positions, count: seq_base, mut models, started_at: base_start, last_time } = base;
    let path = chat.path.clone();
    let mut messages: Vec<(u64, ProjectedMessage)> = Vec::with_capacity(chat.records.len());
    let mut usage = Vec::new();
    let mut last_time = last_time;
    let mut copies = Vec::with_capacity(chat.copies.len());
    for (seq, record) in chat.copies {
        let (message, billed) = message(record, identity.subagent, &path, &mut Vec::new(), report);
        last_time = last_time.max(message.timestamp);
        copies.push((seq, message, billed));
    }
    for record in chat.records {
        report.items_seen += 1;
        if !claimed.insert(record.id.clone()) {
            // The same message in another file of the folder (ids are random): counted once.
            report.ignore("message_in_another_file");
            continue;
        }
        let line = record.line;
        let mut agents = Vec::new();
        let (message, billed) = message(record, identity.subagent, &path, &mut agents, report);
        for (agent, call) in agents {
            spawned.insert((identity.native_id.clone(), agent), call);
        }
        if let Some(model) = &message.model
            && !models.contains(model)
        {
            models.push(model.clone());
        }
        last_time = last_time.max(message.timestamp);
        usage.extend(billed);
        messages.push((line, message));
    }
    for (ordinal, unknown) in chat.unknown.into_iter().enumerate() {
        let digest = json_text::text_sha256_hex(&unknown.value);
        messages.push((
            unknown.line,
            ProjectedMessage {
                identity: MessageIdentity::fallback(&identity.native_id, ordinal as u64, &digest),
                native_id: None,
                parent_key: None,
                role: Role::Other,
                timestamp: None,
                model: None,
                flags: MessageFlags { sidechain: identity.subagent, ..MessageFlags::default() },
                raw_frame: Some(RawFrame::new(&unknown.value)),
                parts: Vec::new(),
                source_path: None,
            },
        ));
    }
    // Unknown records go where the file put them; known ones keep their first-insertion order.
    messages.sort_by_key(|(line, _)| *line);

    for (at, (_, message)) in messages.iter().enumerate() {
        if let Some(id) = &message.native_id {
            positions.insert(id.clone(), seq_base + at as u64);
        }
    }
    let count = seq_base + messages.len() as u64;
    let started_at = timestamp(chat.meta.get("startTime"), &path, 1, report)
        .or(base_start)
        .or_else(|| messages.iter().filter_map(|(_, message)| message.timestamp).min());
    let checkpoint = chat.resume_at.map(|at| {
        let mut state = Map::new();
        state.insert("native_id".into(), json!(identity.native_id));
        state.insert("subagent".into(), json!(identity.subagent));
        state.insert("cwd".into(), json!(cwd));
        state.insert("meta".into(), Value::Object(chat.meta.clone()));
        state.insert("positions".into(), json!(positions));
        state.insert("count".into(), json!(count));
        state.insert("line".into(), json!(at.number));
        state.insert("models".into(), json!(models));
        state.insert("started_at".into(), json!(started_at));
        state.insert("last_time".into(), json!(last_time));
        PendingCheckpoint { path: path.clone(), offset: at.offset, state }
    });
    let mut metadata: Map<String, Value> = chat.meta;
    let updated = timestamp(metadata.get("lastUpdated"), &path, 1, report);
    let title = metadata.get("summary").and_then(Value::as_str).filter(|title| !title.is_empty()).map(str::to_string);
    for column in ["startTime", "lastUpdated", "summary"] {
        metadata.remove(column);
    }
    if metadata.get("sessionId").and_then(Value::as_str) == Some(identity.native_id.as_str()) {
        metadata.remove("sessionId");
    }
    metadata.insert("format".into(), json!(if chat.legacy_document { "json" } else { "jsonl" }));
    let session = ProjectedSession {
        client: crate::NAME.into(),
        native_id: identity.native_id,
        source_path: path,
        title,
        cwd,
        models,
        started_at,
        ended_at: updated.max(last_time),
        parent: identity.parent,
        metadata,
        ..ProjectedSession::default()
    };
    let mut exchanges = vec![ProjectedExchange {
        session: session.clone(),
        messages: messages.into_iter().map(|(_, message)| message).collect(),
        usage,
        seq_base,
        ..ProjectedExchange::default()
    }];
    // A message written again after the continuation point: the fuller copy, at its old place.
    for (seq, message, billed) in copies {
        exchanges.push(ProjectedExchange {
            session: session.clone(),
            messages: vec![message],
            usage: billed.into_iter().collect(),
            seq_base: seq,
            ..ProjectedExchange::default()
        });
    }
    Built { exchanges, checkpoint }
}

/// One message record as a message, and its usage when it carries tokens.
fn message(
    record: Record,
    subagent: bool,
    path: &Path,
    agents: &mut Vec<(String, String)>,
    report: &mut ParseReport,
) -> (ProjectedMessage, Option<ProjectedUsage>) {
    let Record { id, value, tokens, line, rewound } = record;
    let Value::Object(mut fields) = value else { unreachable!("a message record is an object") };
    let record_type = fields.get("type").and_then(Value::as_str).unwrap_or("(missing type)").to_string();
    let time = timestamp(fields.get("timestamp"), path, line, report);
    let model = fields.get("model").and_then(Value::as_str).filter(|model| !model.is_empty()).map(str::to_string);
    let mut parts = Vec::new();
    for thought in take_array(&mut fields, "thoughts") {
        parts.push(thought_part(thought));
    }
    parts.extend(content_parts(fields.remove("content").unwrap_or(Value::Null), report));
    if let Some(Value::Array(calls)) = fields.get_mut("toolCalls") {
        for call in calls.iter_mut() {
            if let (Some(agent), Some(id)) =
                (call.get("agentId").and_then(Value::as_str), call.get("id").and_then(Value::as_str))
            {
                agents.push((agent.to_string(), id.to_string()));
            }
            parts.extend(tool_call_parts(call));
        }
    }
    let mut flags = MessageFlags { sidechain: subagent, rewound, ..MessageFlags::default() };
    let role = match record_type.as_str() {
        "user" => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|part| part.kind == PartKind::Text)
                .filter_map(|part| part.text.as_deref())
                .collect();
            flags.injected = is_client_written(texts);
            Role::User
        }
        "gemini" => Role::Assistant,
        "info" | "warning" => {
            flags.meta = true;
            Role::System
        }
        "error" => {
            flags.meta = true;
            flags.api_error = true;
            Role::System
        }
        _ => {
            report.unknown_records += 1;
            Role::Other
        }
    };
    let usage = tokens.map(|tokens| {
        let field = |key: &str| tokens.get(key).map_or(0, token_count);
        let input = field("input") + field("tool");
        ProjectedUsage {
            key: id.clone(),
            message_key: Some(id.clone()),
            model: model.clone(),
            timestamp: time,
            input_tokens: input,
            output_tokens: field("output") + field("thoughts"),
            cache_read_tokens: field("cached").min(input),
            reasoning_tokens: field("thoughts"),
            ..ProjectedUsage::default()
        }
    });
    let message = ProjectedMessage {
        identity: MessageIdentity::native(id.clone()),
        native_id: Some(id),
        parent_key: None,
        role,
        timestamp: time,
        model,
        flags,
        raw_frame: Some(RawFrame::new(&Value::Object(fields))),
        parts,
        source_path: None,
    };
    (message, usage)
}

fn take_array(fields: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match fields.remove(key) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            // Not the list the client writes: kept in the frame as it is.
            fields.insert(key.to_string(), other);
            Vec::new()
        }
    }
}

/// A thought (`{subject, description, timestamp}`): its description is the text.
fn thought_part(mut thought: Value) -> MessagePart {
    let text = match thought.get_mut("description").map(Value::take) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    };
    let metadata = match thought {
        Value::Object(mut rest) => {
            rest.remove("description");
            (!rest.is_empty()).then_some(Value::Object(rest))
        }
        other => Some(json!({ "thought": other })),
    };
    MessagePart { text, metadata, ..MessagePart::new(PartKind::Thinking) }
}

/// A message's `content`: a string, or a list of API parts.
fn content_parts(content: Value, report: &mut ParseReport) -> Vec<MessagePart> {
    match content {
        Value::Null => Vec::new(),
        Value::String(text) if text.is_empty() => Vec::new(),
        Value::String(text) => vec![MessagePart::text(text)],
        Value::Array(items) => items.into_iter().map(|item| api_part(item, report)).collect(),
        object @ Value::Object(_) => vec![api_part(object, report)],
        other => vec![MessagePart { metadata: Some(json!({ "content": other })), ..MessagePart::new(PartKind::Other) }],
    }
}

/// One Gemini API part (`text`, `functionCall`, `functionResponse`, `inlineData`, ...).
fn api_part(mut item: Value, report: &mut ParseReport) -> MessagePart {
    if let Some(Value::String(text)) = item.get_mut("text").map(Value::take) {
        let kind = if item.get("thought").and_then(Value::as_bool) == Some(true) {
            PartKind::Thinking
        } else {
            PartKind::Text
        };
        return MessagePart { text: Some(text), ..MessagePart::new(kind) };
    }
    if let Some(mut call) = item.get_mut("functionCall").map(Value::take) {
        return MessagePart {
            tool_name: take_string(&mut call, "name"),
            tool_call_id: take_string(&mut call, "id"),
            tool_input: call.get_mut("args").map(Value::take),
            ..MessagePart::new(PartKind::ToolCall)
        };
    }
    if let Some(mut response) = item.get_mut("functionResponse").map(Value::take) {
        let (text, is_error) = response_text(response.get("response"));
        return MessagePart {
            text,
            tool_name: take_string(&mut response, "name"),
            tool_call_id: take_string(&mut response, "id"),
            is_error: is_error.then_some(true),
            ..MessagePart::new(PartKind::ToolResult)
        };
    }
    if let Some(data) = item.get("inlineData") {
        let encoded = data.get("data").and_then(Value::as_str).map_or(0, str::len);
        return MessagePart {
            metadata: Some(json!({ "media_type": data.get("mimeType"), "byte_size": encoded / 4 * 3 })),
            ..MessagePart::new(PartKind::Image)
        };
    }
    let known = ["fileData", "executableCode", "codeExecutionResult"].iter().any(|key| item.get(key).is_some());
    if !known {
        report.unknown_records += 1;
    }
    MessagePart { metadata: Some(item), ..MessagePart::new(PartKind::Other) }
}

fn take_string(value: &mut Value, key: &str) -> Option<String> {
    match value.get_mut(key).map(Value::take) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// What a function response says: its `output`, else its `error`, else its JSON.
fn response_text(response: Option<&Value>) -> (Option<String>, bool) {
    let Some(response) = response.filter(|response| !response.is_null()) else { return (None, false) };
    if let Some(output) = response.get("output") {
        return (Some(output.as_str().map_or_else(|| output.to_string(), str::to_string)), false);
    }
    if let Some(error) = response.get("error") {
        return (Some(error.as_str().map_or_else(|| error.to_string(), str::to_string)), true);
    }
    (Some(response.as_str().map_or_else(|| response.to_string(), str::to_string)), false)
}

/// A recorded tool call as a call part and, once it ran, a result part. The call's arguments and
/// result move into the parts; its other fields (status, display name, `agentId`...) stay in the
/// frame, with a long result display kept as its size.
fn tool_call_parts(call: &mut Value) -> Vec<MessagePart> {
    let id = call.get("id").and_then(Value::as_str).map(str::to_string);
    let name = call.get("name").and_then(Value::as_str).map(str::to_string);
    let status = call.get("status").and_then(Value::as_str).map(str::to_string);
    let mut parts = vec![MessagePart {
        tool_name: name.clone(),
        tool_call_id: id.clone(),
        tool_input: call.as_object_mut().and_then(|call| call.remove("args")),
        ..MessagePart::new(PartKind::ToolCall)
    }];
    if let Some(display) = call.get_mut("resultDisplay")
        && json_text::text_len(display) > DISPLAY_KEPT_BYTES
    {
        *display = json!({ "omitted_bytes": json_text::text_len(display) });
    }
    let Some(result) = call.as_object_mut().and_then(|call| call.remove("result")).filter(|result| !result.is_null())
    else {
        return parts;
    };
    let mut texts = Vec::new();
    let mut failed = status.as_deref() == Some("error");
    let mut images = 0;
    let items = match result {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut unusual = Vec::new();
    for item in items {
        if let Some(response) = item.get("functionResponse") {
            let (text, is_error) = response_text(response.get("response"));
            texts.extend(text);
            failed |= is_error;
        } else if item.get("inlineData").is_some() {
            images += 1;
        } else if let Some(text) = item.get("text").and_then(Value::as_str) {
            texts.push(text.to_string());
        } else {
            unusual.push(item);
        }
    }
    let mut metadata = Map::new();
    if images > 0 {
        metadata.insert("images".into(), json!(images));
    }
    if !unusual.is_empty() {
        metadata.insert("result".into(), Value::Array(unusual));
    }
    parts.push(MessagePart {
        text: (!texts.is_empty()).then(|| texts.join("\n")),
        tool_name: name,
        tool_call_id: id,
        is_error: Some(failed),
        metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
        ..MessagePart::new(PartKind::ToolResult)
    });
    parts
}

/// The spawning call of each nested sub-agent: the parent's tool call whose `agentId` is the
/// sub-agent's session id (the one link written on the parent's side).
fn link_spawning_calls(exchanges: &mut [ProjectedExchange], spawned: &Spawned) {
    for exchange in exchanges.iter_mut() {
        let agent = exchange.session.native_id.rsplit('/').next().unwrap_or_default().to_string();
        let Some(link) = exchange.session.parent.as_mut() else { continue };
        link.spawning_tool_call_id = spawned.get(&(link.parent_native_id.clone(), agent)).cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part as `(kind, text, tool call id, is_error)`.
    type PartOutline<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<bool>);

    /// The parts of one message record.
    fn check(record: Value, expected: &[PartOutline<'_>]) {
        let id = record["id"].as_str().unwrap().to_string();
        let record = Record { id, tokens: record.get("tokens").cloned(), value: record, line: 1, rewound: false };
        let mut report = ParseReport::default();
        let (message, _) = message(record, false, Path::new("/x.jsonl"), &mut Vec::new(), &mut report);
        let got: Vec<_> = message
            .parts
            .iter()
            .map(|part| (part.kind.as_str(), part.text.as_deref(), part.tool_call_id.as_deref(), part.is_error))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn parts_come_from_thoughts_content_and_tool_calls_in_that_order() {
        check(
            json!({"id": "g", "type": "gemini", "content": "Done.",
                   "thoughts": [{"subject": "Plan", "description": "Read the file", "timestamp": "2026-01-01T00:00:00Z"}],
                   "toolCalls": [{"id": "c1", "name": "read_file", "args": {"path": "a"}, "status": "success",
                                  "result": [{"functionResponse": {"id": "c1", "name": "read_file", "response": {"output": "text of a"}}}]},
                                 {"id": "c2", "name": "run_shell_command", "args": {}, "status": "error",
                                  "result": [{"functionResponse": {"id": "c2", "name": "run_shell_command", "response": {"error": "exit 1"}}}]},
                                 {"id": "c3", "name": "write_file", "args": {}, "status": "scheduled"}]}),
            &[
                ("thinking", Some("Read the file"), None, None),
                ("text", Some("Done."), None, None),
                ("tool_call", None, Some("c1"), None),
                ("tool_result", Some("text of a"), Some("c1"), Some(false)),
                ("tool_call", None, Some("c2"), None),
                ("tool_result", Some("exit 1"), Some("c2"), Some(true)),
                ("tool_call", None, Some("c3"), None),
            ],
        );
        check(
            json!({"id": "u", "type": "user", "content": [{"text": "look"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                   {"functionResponse": {"id": "f", "name": "x", "response": {"output": "ok"}}}]}),
            &[
                ("text", Some("look"), None, None),
                ("image", None, None, None),
                ("tool_result", Some("ok"), Some("f"), None),
            ],
        );
        check(json!({"id": "g", "type": "gemini", "content": ""}), &[]);
    }

    #[test]
    fn tokens_map_to_the_usage_columns() {
        let value = json!({"id": "g", "type": "gemini", "model": "gemini-2.5-pro", "timestamp": "2026-01-01T00:00:00Z",
                           "tokens": {"input": 1000, "output": 50, "cached": 600, "thoughts": 30, "tool": 7, "total": 1087}});
        let record = Record { id: "g".into(), tokens: value.get("tokens").cloned(), value, line: 1, rewound: false };
        let (_, usage) = message(record, false, Path::new("/x.jsonl"), &mut Vec::new(), &mut ParseReport::default());
        let usage = usage.unwrap();
        assert_eq!(
            (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens),
            (1007, 600, 80, 30),
            "tool prompt tokens are input; thoughts are output and reported as reasoning"
        );
        assert_eq!(usage.input_tokens + usage.output_tokens, 1087, "the client's total");
    }

    #[test]
    fn client_written_user_records_are_recognised() {
        assert!(is_client_written(["System: Please continue."]));
        assert!(!is_client_written(["Please continue with the tests"]));
        assert!(!is_client_written(Vec::<&str>::new()));
    }
}
