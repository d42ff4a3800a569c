//! Turns one OpenCode session into a projected exchange: messages and parts, usage counted once
//! per model step (`step-finish` parts, else the message), the client's own cost kept in the
//! frames, sub-agents and forks linked, reverted messages marked.

use std::collections::{HashMap, HashSet};

use hindcast_core::model::{
    MessageFlags, MessageIdentity, MessagePart, PartKind, ProjectedExchange, ProjectedMessage, ProjectedSession,
    ProjectedUsage, RawFrame, Relationship, Role, SessionLink, token_count,
};
use hindcast_core::provider::ParseReport;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::records::{Catalog, MessageRecord, PartRecord, SessionRecord};

/// Session columns that have a column of their own in the store.
const SESSION_COLUMNS: &[&str] = &["title", "directory", "version", "parent_id", "time_created", "time_updated"];

/// Part types that are step bookkeeping: kept in the message's frame, not shown as parts.
const STEP_PARTS: &[&str] = &["step-start", "step-finish"];

/// Part types OpenCode writes that are neither text nor tools: kept as `other` parts.
const OTHER_PARTS: &[&str] = &["patch", "agent", "subtask", "retry", "compaction", "snapshot"];

fn millis(value: Option<&Value>) -> Option<Timestamp> {
    Timestamp::from_millisecond(value?.as_i64()?).ok()
}

/// What one `tokens` object counts, as the store counts it: input with the cached part included,
/// output with reasoning included. OpenCode's `input` leaves cache reads and writes out. Its
/// `reasoning` is apart from `output` when `total` says so (`total` = input + output + reasoning +
/// cache); without `total` (older builds passed the SDK's output through, reasoning included) it
/// is taken as part of the output unless it is larger.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

impl Tokens {
    pub fn from_value(tokens: &Value) -> Tokens {
        let field = |key: &str| tokens.get(key).map_or(0, token_count);
        let cache = |key: &str| tokens.get("cache").and_then(|cache| cache.get(key)).map_or(0, token_count);
        let (input, output, reasoning) = (field("input"), field("output"), field("reasoning"));
        let (cache_read, cache_write) = (cache("read"), cache("write"));
        let separate = match tokens.get("total").map(token_count) {
            Some(total) if total > 0 => total == input + output + reasoning + cache_read + cache_write,
            _ => reasoning > output,
        };
        Tokens {
            input: input + cache_read + cache_write,
            output: if separate { output + reasoning } else { output },
            cache_read,
            cache_write,
            reasoning,
        }
    }

    fn is_zero(&self) -> bool {
        self.input == 0 && self.output == 0
    }
}

/// Projects one session.
pub fn project(record: SessionRecord, catalog: &Catalog, report: &mut ParseReport) -> ProjectedExchange {
    report.sessions_seen += 1;
    let SessionRecord { id, mut fields, source, messages, notes } = record;
    let own_messages: HashSet<String> = messages.iter().map(|message| message.id.clone()).collect();
    // A fork copies messages under new ids but leaves `parentID` alone: copied answers name a
    // prompt of the source session. Their usage was billed there, so it is not counted again.
    let mut fork_source: HashMap<&str, usize> = HashMap::new();
    for message in &messages {
        if let Some(parent) = message.data.get("parentID").and_then(Value::as_str)
            && !own_messages.contains(parent)
            && let Some(source) = catalog.user_message_session.get(parent)
            && *source != id
        {
            *fork_source.entry(source.as_str()).or_default() += 1;
        }
    }
    let forked_from = fork_source.into_iter().max_by_key(|(_, count)| *count).map(|(source, _)| source.to_string());
    let reverted_from =
        fields.get("revert").and_then(|revert| revert.get("messageID")).and_then(Value::as_str).map(str::to_string);
    let parent_id =
        fields.get("parent_id").and_then(Value::as_str).filter(|parent| !parent.is_empty()).map(str::to_string);
    let parent = match (parent_id, forked_from.clone()) {
        (Some(parent), _) => Some(SessionLink {
            spawning_tool_call_id: catalog.spawned_by.get(&id).map(|(_, call)| call.clone()),
            parent_native_id: parent,
            relationship: Relationship::Subagent,
        }),
        (None, Some(source)) => Some(SessionLink {
            parent_native_id: source,
            relationship: Relationship::Fork,
            spawning_tool_call_id: None,
        }),
        (None, None) => None,
    };
    let subagent = parent.as_ref().is_some_and(|link| link.relationship == Relationship::Subagent);

    let mut projected = Vec::with_capacity(messages.len());
    let mut usage = Vec::new();
    let mut models: Vec<String> = Vec::new();
    let mut last_time: Option<Timestamp> = None;
    for message in messages {
        report.items_seen += 1;
        let copied =
            message.data.get("parentID").and_then(Value::as_str).is_some_and(|parent| {
                !own_messages.contains(parent) && catalog.user_message_session.contains_key(parent)
            });
        let rewound = reverted_from.as_deref().is_some_and(|from| message.id.as_str() >= from);
        let (message, billed) = message_of(message, subagent, rewound, report);
        if let Some(model) = &message.model
            && !models.contains(model)
        {
            models.push(model.clone());
        }
        last_time = last_time.max(message.timestamp);
        if copied {
            report.ignore("usage_copied_by_fork");
        } else {
            usage.extend(billed);
        }
        projected.push(message);
    }

    let title = fields.get("title").and_then(Value::as_str).filter(|title| !title.is_empty()).map(str::to_string);
    let cwd = fields
        .get("directory")
        .and_then(Value::as_str)
        .filter(|directory| !directory.is_empty())
        .map(str::to_string)
        .or_else(|| {
            let project = fields.get("project_id").and_then(Value::as_str)?;
            catalog.project_worktrees.get(project).cloned()
        });
    let client_version = fields.get("version").and_then(Value::as_str).map(str::to_string);
    let started_at = millis(fields.get("time_created"));
    let updated = millis(fields.get("time_updated"));
    for column in SESSION_COLUMNS {
        fields.remove(*column);
    }
    fields.retain(|_, value| !value.is_null());
    // Kept under OpenCode's own name: the store's `project_id` names a project of its projects
    // table (a legacy orchestrator project), which OpenCode's git-commit ids are not.
    if let Some(project) = fields.remove("project_id") {
        if let Some(worktree) = project.as_str().and_then(|project| catalog.project_worktrees.get(project)) {
            fields.insert("worktree".into(), json!(worktree));
        }
        fields.insert("projectID".into(), project);
    }
    ProjectedExchange {
        session: ProjectedSession {
            client: crate::NAME.into(),
            native_id: id,
            source_path: source,
            title,
            cwd,
            client_version,
            models,
            started_at,
            ended_at: updated.max(last_time),
            parent,
            metadata: fields,
            ..ProjectedSession::default()
        },
        messages: projected,
        usage,
        notes,
        ..ProjectedExchange::default()
    }
}

/// One message as a message, and its billed steps.
fn message_of(
    record: MessageRecord,
    subagent: bool,
    rewound: bool,
    report: &mut ParseReport,
) -> (ProjectedMessage, Vec<ProjectedUsage>) {
    let MessageRecord { id, mut data, parts } = record;
    let role = match data.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => {
            report.unknown_records += 1;
            Role::Other
        }
    };
    let timestamp = millis(data.get("time").and_then(|time| time.get("created")));
    // A user message names the model it asks for (`model.modelID`); the answer's `modelID` is
    // the one that ran.
    let model = data.get("modelID").and_then(Value::as_str).filter(|model| !model.is_empty()).map(str::to_string);
    let mut shown = Vec::with_capacity(parts.len());
    let mut steps = Vec::new();
    for part in parts {
        let kind = part.data.get("type").and_then(Value::as_str).unwrap_or("(missing type)").to_string();
        if STEP_PARTS.contains(&kind.as_str()) {
            steps.push(part);
        } else {
            shown.extend(parts_of(part, &kind, report));
        }
    }
    // Each step's tokens are in its `step-finish`; the message's own `tokens` are only its last
    // step's. Without steps (older builds, aborted calls) the message's are all there is.
    let mut usage = Vec::new();
    let step_finishes: Vec<&PartRecord> =
        steps.iter().filter(|step| step.data.get("type").and_then(Value::as_str) == Some("step-finish")).collect();
    if role == Role::Assistant {
        if step_finishes.is_empty() {
            if let Some(tokens) = data.get("tokens") {
                let counted = Tokens::from_value(tokens);
                if !counted.is_zero() {
                    usage.push(usage_row(id.clone(), &id, &model, timestamp, counted));
                }
            }
        } else {
            for step in &step_finishes {
                let counted = step.data.get("tokens").map(Tokens::from_value).unwrap_or_default();
                if !counted.is_zero() {
                    usage.push(usage_row(step.id.clone(), &id, &model, timestamp, counted));
                }
            }
        }
    }
    let texts: Vec<&MessagePart> = shown.iter().filter(|part| part.kind == PartKind::Text).collect();
    let synthetic_only = !texts.is_empty()
        && texts.iter().all(|part| part.metadata.as_ref().is_some_and(|metadata| metadata["synthetic"] == true));
    let error = data.get("error").and_then(|error| error.get("name")).and_then(Value::as_str);
    let flags = MessageFlags {
        sidechain: subagent,
        injected: role == Role::User && synthetic_only,
        compact_summary: data.get("summary").and_then(Value::as_bool) == Some(true),
        api_error: error.is_some_and(|name| name != "MessageAbortedError"),
        rewound,
        ..MessageFlags::default()
    };
    if !steps.is_empty() {
        let steps: Vec<Value> = steps
            .into_iter()
            .map(|step| {
                let mut fields = step.data;
                fields.insert("id".into(), json!(step.id));
                Value::Object(fields)
            })
            .collect();
        data.insert("stepParts".into(), Value::Array(steps));
    }
    let parent_key = data.get("parentID").and_then(Value::as_str).map(str::to_string);
    let message = ProjectedMessage {
        identity: MessageIdentity::native(id.clone()),
        native_id: Some(id),
        parent_key,
        role,
        timestamp,
        model,
        flags,
        raw_frame: Some(RawFrame::new(&Value::Object(data))),
        parts: shown,
        source_path: None,
    };
    (message, usage)
}

fn usage_row(
    key: String,
    message: &str,
    model: &Option<String>,
    timestamp: Option<Timestamp>,
    tokens: Tokens,
) -> ProjectedUsage {
    ProjectedUsage {
        key,
        message_key: Some(message.to_string()),
        model: model.clone(),
        timestamp,
        input_tokens: tokens.input,
        output_tokens: tokens.output,
        cache_read_tokens: tokens.cache_read,
        cache_creation_tokens: tokens.cache_write,
        reasoning_tokens: tokens.reasoning,
        ..ProjectedUsage::default()
    }
}

fn take_text(fields: &mut Map<String, Value>, key: &str) -> Option<String> {
    match fields.remove(key) {
        Some(Value::String(text)) => Some(text),
        Some(other) => {
            fields.insert(key.to_string(), other);
            None
        }
        None => None,
    }
}

/// The metadata of a part: what is left of its data once the part's columns took theirs, with
/// its id (parts are stored by position) and type.
fn metadata(id: String, kind: &str, mut rest: Map<String, Value>) -> Option<Value> {
    rest.remove("type");
    rest.insert("id".into(), json!(id));
    if !matches!(kind, "text" | "reasoning" | "tool") {
        rest.insert("type".into(), json!(kind));
    }
    Some(Value::Object(rest))
}

/// A part as the store's parts: a tool part is a call and, once it finished, its result.
fn parts_of(part: PartRecord, kind: &str, report: &mut ParseReport) -> Vec<MessagePart> {
    let PartRecord { id, mut data } = part;
    match kind {
        "text" => {
            let text = take_text(&mut data, "text");
            vec![MessagePart { text, metadata: metadata(id, kind, data), ..MessagePart::new(PartKind::Text) }]
        }
        "reasoning" => {
            let text = take_text(&mut data, "text");
            vec![MessagePart { text, metadata: metadata(id, kind, data), ..MessagePart::new(PartKind::Thinking) }]
        }
        "tool" => {
            let name = take_text(&mut data, "tool");
            let call_id = take_text(&mut data, "callID");
            let mut state = match data.remove("state") {
                Some(Value::Object(state)) => state,
                _ => Map::new(),
            };
            let status = state.get("status").and_then(Value::as_str).unwrap_or_default().to_string();
            let input = state.remove("input");
            let output = take_text(&mut state, "output");
            let error = take_text(&mut state, "error");
            data.insert("state".into(), Value::Object(state));
            let mut parts = vec![MessagePart {
                tool_name: name.clone(),
                tool_call_id: call_id.clone(),
                tool_input: input,
                metadata: metadata(id, kind, data),
                ..MessagePart::new(PartKind::ToolCall)
            }];
            if matches!(status.as_str(), "completed" | "error") {
                parts.push(MessagePart {
                    text: output.or(error),
                    tool_name: name,
                    tool_call_id: call_id,
                    is_error: Some(status == "error"),
                    ..MessagePart::new(PartKind::ToolResult)
                });
            }
            parts
        }
        "file" => {
            let is_image = data.get("mime").and_then(Value::as_str).is_some_and(|mime| mime.starts_with("image/"));
            // A file part's `url` may be a data: URL holding the whole file: kept as its size.
            if let Some(Value::String(url)) = data.get("url")
                && url.starts_with("data:")
            {
                let bytes = url.len();
                data.insert("url".into(), json!({ "omitted_bytes": bytes }));
            }
            let kind_of = if is_image { PartKind::Image } else { PartKind::Other };
            vec![MessagePart { metadata: metadata(id, kind, data), ..MessagePart::new(kind_of) }]
        }
        _ => {
            if !OTHER_PARTS.contains(&kind) {
                report.unknown_records += 1;
            }
            let text = take_text(&mut data, "text");
            vec![MessagePart { text, metadata: metadata(id, kind, data), ..MessagePart::new(PartKind::Other) }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tokens` → (input, output, cache read, cache write, reasoning) as the store counts them.
    fn check(tokens: Value, expected: (u64, u64, u64, u64, u64)) {
        let counted = Tokens::from_value(&tokens);
        assert_eq!(
            (counted.input, counted.output, counted.cache_read, counted.cache_write, counted.reasoning),
            expected,
            "{tokens}"
        );
    }

    #[test]
    fn tokens_count_cache_into_input_and_reasoning_once() {
        check(
            json!({"total": 11330, "input": 10806, "output": 76, "reasoning": 0, "cache": {"read": 448, "write": 0}}),
            (11254, 76, 448, 0, 0),
        );
        // `total` counts reasoning apart from output: added to output.
        check(
            json!({"total": 160, "input": 100, "output": 40, "reasoning": 20, "cache": {"read": 0, "write": 0}}),
            (100, 60, 0, 0, 20),
        );
        // `total` shows reasoning inside output: not added again.
        check(
            json!({"total": 140, "input": 100, "output": 40, "reasoning": 20, "cache": {"read": 0, "write": 0}}),
            (100, 40, 0, 0, 20),
        );
        // No total (older builds): reasoning within output unless larger.
        check(json!({"input": 1000, "output": 500, "cache": {"read": 200, "write": 100}}), (1300, 500, 200, 100, 0));
        check(json!({"input": 10, "output": 5, "reasoning": 9}), (10, 14, 0, 0, 9));
    }

    fn part(id: &str, data: Value) -> PartRecord {
        let Value::Object(data) = data else { panic!() };
        PartRecord { id: id.into(), data }
    }

    fn assistant(parts: Vec<PartRecord>) -> MessageRecord {
        let Value::Object(data) = json!({"role": "assistant", "parentID": "msg_u", "modelID": "glm-5", "time": {"created": 1770987256576_i64},
            "cost": 0.03, "tokens": {"input": 5, "output": 1, "reasoning": 0, "cache": {"read": 0, "write": 0}}})
        else {
            panic!()
        };
        MessageRecord { id: "msg_a".into(), data, parts }
    }

    #[test]
    fn steps_are_counted_once_and_kept_in_the_frame() {
        let step = |id: &str, input: u64| {
            part(
                id,
                json!({"type": "step-finish", "cost": 0.01, "tokens": {"input": input, "output": 1, "reasoning": 0, "cache": {"read": 0, "write": 0}}}),
            )
        };
        let message = assistant(vec![
            part("prt_1", json!({"type": "step-start", "snapshot": "ab"})),
            step("prt_2", 7),
            step("prt_3", 5),
        ]);
        let (message, usage) = message_of(message, false, false, &mut ParseReport::default());
        let counted: Vec<(&str, u64)> = usage.iter().map(|usage| (usage.key.as_str(), usage.input_tokens)).collect();
        assert_eq!(
            counted,
            [("prt_2", 7), ("prt_3", 5)],
            "each step once; the message's tokens (its last step) not again"
        );
        assert!(message.parts.is_empty());
        let frame = message.raw_frame.unwrap().value();
        assert_eq!(frame["stepParts"].as_array().map(Vec::len), Some(3));
        assert_eq!(frame["cost"], 0.03, "the client's own cost stays");

        let (_, usage) = message_of(assistant(Vec::new()), false, false, &mut ParseReport::default());
        assert_eq!(
            usage.iter().map(|usage| usage.key.as_str()).collect::<Vec<_>>(),
            ["msg_a"],
            "no steps: the message's"
        );
    }

    #[test]
    fn tool_parts_are_a_call_and_a_result() {
        let tool = part(
            "prt_t",
            json!({"type": "tool", "callID": "call_1", "tool": "bash", "state": {"status": "error", "input": {"command": "ls"}, "error": "exit 2", "time": {"start": 1, "end": 2}}}),
        );
        let (message, _) = message_of(assistant(vec![tool]), false, false, &mut ParseReport::default());
        let parts: Vec<(PartKind, Option<&str>, Option<bool>)> =
            message.parts.iter().map(|part| (part.kind, part.text.as_deref(), part.is_error)).collect();
        assert_eq!(parts, [(PartKind::ToolCall, None, None), (PartKind::ToolResult, Some("exit 2"), Some(true))]);
        assert_eq!(message.parts[0].tool_input, Some(json!({"command": "ls"})));
        assert_eq!(message.parts[0].metadata.as_ref().unwrap()["state"]["status"], "error");
    }
}
