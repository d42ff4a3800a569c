//! Turns one Codex thread's items into a projected exchange: session facts, conversation text
//! without injected-context or event duplicates, tool calls paired with outputs, copied fork
//! history skipped, and usage from cumulative token-count deltas.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hindcast_core::json_text;
use hindcast_core::model::{
    GitInfo, MessageFlags, MessageIdentity, MessagePart, PartKind, ProjectedExchange, ProjectedMessage,
    ProjectedSession, ProjectedUsage, RawFrame, Relationship, Role, SessionLink,
};
use hindcast_core::provider::ParseReport;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::discover::{head_from_meta, subagent_source};
use crate::parse::{Generation, Item, ItemKind};

/// Text openings of harness-injected context (codex-rs `*_OPEN_TAG`s and context `START_MARKER`s).
const INJECTED_MARKERS: &[&str] = &[
    "<environment_context>",
    "# AGENTS.md instructions for ",
    "<user_instructions>",
    "<permissions instructions>",
    "<collaboration_mode>",
    "<skills_instructions>",
    "<plugins_instructions>",
    "<apps_instructions>",
    "<personality_spec>",
    "<model_switch>",
    "<user_shell_command>",
    "<turn_aborted>",
    "<subagent_notification>",
    "<skill>",
    "<realtime_conversation>",
];

/// Events that carry nothing beyond what response items and turn contexts already hold.
const KNOWN_EVENTS: &[&str] = &[
    "agent_reasoning",
    "agent_reasoning_raw_content",
    "agent_reasoning_section_break",
    "task_started",
    "turn_started",
    "task_complete",
    "turn_complete",
    "turn_aborted",
    "undo_started",
    "undo_completed",
    "context_compacted",
    "thread_rolled_back",
    "entered_review_mode",
    "exited_review_mode",
    "exec_command_end",
    "patch_apply_end",
    "mcp_tool_call_end",
    "web_search_end",
    "view_image_tool_call",
    "image_generation_end",
    "item_completed",
    "error",
    "guardian_assessment",
    "dynamic_tool_call_request",
    "dynamic_tool_call_response",
    "collab_agent_spawn_end",
    "collab_agent_interaction_end",
    "collab_waiting_end",
    "collab_close_end",
    "sub_agent_activity",
    "thread_goal_updated",
    "thread_settings_applied",
    "turn_moderation_metadata",
    "plan_update",
];

/// Late-2026 top-level line types that are metadata only.
const KNOWN_LINE_TYPES: &[&str] = &[
    "inter_agent_communication",
    "inter_agent_communication_metadata",
    "world_state",
    "retained_context",
    "security_risk_score",
    "realtime_item",
];

/// Response items that are bookkeeping, not conversation.
const BOOKKEEPING_ITEMS: &[&str] = &["ghost_snapshot", "compaction", "compaction_summary", "context_compaction"];

/// Copied parent history in a fork is written in one burst at the fork's creation.
const COPY_BURST: SignedDuration = SignedDuration::from_secs(1);

/// A thread projected, plus what the unit needs to link review sub-agents.
pub struct ProjectedThread {
    pub exchange: ProjectedExchange,
    /// Start of a `/review` sub-agent (matched against a parent's `entered_review_mode`).
    pub review_started_at: Option<Timestamp>,
    /// Times this thread entered review mode.
    pub review_entries: Vec<Timestamp>,
}

/// Cumulative token counts of a `TokenUsage` object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tokens {
    input: u64,
    cached: u64,
    output: u64,
    reasoning: u64,
    total: u64,
    cache_write: u64,
}

impl Tokens {
    fn parse(value: Option<&Value>) -> Option<Self> {
        let value = value.filter(|value| value.is_object())?;
        let field = |key: &str| value.get(key).map_or(0, hindcast_core::model::token_count);
        Some(Self {
            input: field("input_tokens"),
            cached: field("cached_input_tokens"),
            output: field("output_tokens"),
            reasoning: field("reasoning_output_tokens"),
            total: field("total_tokens"),
            cache_write: field("cache_write_input_tokens"),
        })
    }

    fn covers(&self, earlier: &Tokens) -> bool {
        self.input >= earlier.input
            && self.cached >= earlier.cached
            && self.output >= earlier.output
            && self.reasoning >= earlier.reasoning
            && self.cache_write >= earlier.cache_write
    }

    fn minus(&self, earlier: &Tokens) -> Tokens {
        Tokens {
            input: self.input - earlier.input,
            cached: self.cached - earlier.cached,
            output: self.output - earlier.output,
            reasoning: self.reasoning - earlier.reasoning,
            total: self.total.saturating_sub(earlier.total),
            cache_write: self.cache_write - earlier.cache_write,
        }
    }

    fn billable(&self) -> bool {
        self.input + self.output > 0
    }
}

/// Usage from cumulative totals: deltas of `total_token_usage`; unchanged re-emits, `info: null`
/// and context estimates skipped; a drop (reset) falls back to `last_token_usage`.
struct UsageTracker {
    previous: Option<Tokens>,
}

impl UsageTracker {
    /// The new tokens a token-count record adds, if any (and moves the baseline).
    fn observe(&mut self, info: &Value, report: &mut ParseReport) -> Option<Tokens> {
        if info.is_null() {
            report.ignore("token_count without info");
            return None;
        }
        let total = Tokens::parse(info.get("total_token_usage"));
        let last = Tokens::parse(info.get("last_token_usage"));
        if total.is_some() && total == self.previous {
            report.ignore("token_count re-emit (unchanged totals)");
            return None;
        }
        let delta = match (total, self.previous, last) {
            (Some(total), Some(previous), _) if total.covers(&previous) => Some(total.minus(&previous)),
            (Some(total), None, last) => Some(last.filter(Tokens::billable).unwrap_or(total)),
            (_, _, last) => last,
        };
        if total.is_some() {
            self.previous = total;
        }
        match delta.filter(Tokens::billable) {
            Some(delta) => Some(delta),
            None => {
                report.ignore("token_count without new tokens (context estimate)");
                None
            }
        }
    }

    /// Takes a copied record's totals as the baseline without counting them.
    fn seed(&mut self, info: &Value) {
        if let Some(total) = Tokens::parse(info.get("total_token_usage")) {
            self.previous = Some(total);
        }
    }
}

fn text_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_string)
}

/// The text items of a content array (`input_text`, `output_text`, `text`, ...).
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(items) => {
            let texts: Vec<&str> = items.iter().filter_map(|item| item.get("text").and_then(Value::as_str)).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

fn is_injected_text(text: &str) -> bool {
    let trimmed = text.trim_start();
    INJECTED_MARKERS.iter().any(|marker| trimmed.starts_with(marker))
}

/// An image as metadata only: never the data URL.
fn image_part(item: &Value) -> MessagePart {
    let url = item.get("image_url").and_then(Value::as_str).unwrap_or("");
    let metadata = match url.strip_prefix("data:") {
        Some(rest) => {
            let (header, data) = rest.split_once(',').unwrap_or((rest, ""));
            json!({ "source": "data_url", "media_type": header.trim_end_matches(";base64"), "byte_size": data.len() / 4 * 3, "detail": item.get("detail") })
        }
        None => json!({ "source": "url", "detail": item.get("detail") }),
    };
    MessagePart { metadata: Some(metadata), ..MessagePart::new(PartKind::Image) }
}

fn message_parts(content: &Value) -> Vec<MessagePart> {
    let Value::Array(items) = content else {
        return content_text(content).map(MessagePart::text).into_iter().collect();
    };
    items
        .iter()
        .map(|item| match item.get("type").and_then(Value::as_str) {
            Some("input_image") => image_part(item),
            _ => match item.get("text").and_then(Value::as_str) {
                Some(text) => MessagePart::text(text),
                None => MessagePart {
                    metadata: Some(json!({ "type": item.get("type") })),
                    ..MessagePart::new(PartKind::Other)
                },
            },
        })
        .collect()
}

/// The exit status a tool output reports, when it reports one.
fn output_failed(text: &str) -> Option<bool> {
    if let Ok(Value::Object(legacy)) = serde_json::from_str::<Value>(text)
        && let Some(code) =
            legacy.get("metadata").and_then(|metadata| metadata.get("exit_code")).and_then(Value::as_i64)
    {
        return Some(code != 0);
    }
    text.lines().take(8).find_map(|line| {
        let code = line.strip_prefix("Exit code: ").or_else(|| line.strip_prefix("Process exited with code "))?;
        code.trim().parse::<i64>().ok().map(|code| code != 0)
    })
}

/// What every message takes from the item it comes from, computed before any bulky field moves out.
struct Frame {
    identity: MessageIdentity,
    native_id: Option<String>,
    timestamp: Option<Timestamp>,
    raw_frame: Value,
    source_path: Option<PathBuf>,
}

impl Frame {
    fn of(item: &Item, payload: &Value, thread_id: &str, ordinal: usize, session_path: &Path) -> Self {
        let native_id = text_field(payload, "id");
        let identity = match &native_id {
            Some(id) => MessageIdentity::native(id.clone()),
            None => MessageIdentity::fallback(thread_id, ordinal as u64, &json_text::text_sha256_hex(payload)),
        };
        Self {
            identity,
            native_id,
            timestamp: item.timestamp,
            raw_frame: raw_frame(item, payload),
            source_path: (*item.path != *session_path).then(|| item.path.to_path_buf()),
        }
    }
}

/// A response item's envelope without bulky fields (text, arguments, outputs, encrypted blobs).
fn raw_frame(item: &Item, item_payload: &Value) -> Value {
    let mut payload = Map::new();
    if let Value::Object(fields) = item_payload {
        for (key, value) in fields {
            let bulky = matches!(
                key.as_str(),
                "content"
                    | "arguments"
                    | "input"
                    | "output"
                    | "encrypted_content"
                    | "summary"
                    | "text"
                    | "message"
                    | "result"
                    | "instructions"
                    | "base_instructions"
                    | "replacement_history"
            );
            payload.insert(
                key.clone(),
                if bulky { json!({ "omitted_bytes": json_text::text_len(value) }) } else { value.clone() },
            );
        }
    }
    json!({
        "type": match &item.kind {
            ItemKind::SessionMeta => "session_meta",
            ItemKind::TurnContext => "turn_context",
            ItemKind::ResponseItem => "response_item",
            ItemKind::EventMsg => "event_msg",
            ItemKind::Compacted => "compacted",
            ItemKind::State => "state",
            ItemKind::Other(name) => name.as_str(),
        },
        "timestamp": item.timestamp.map(|stamp| stamp.to_string()),
        "line": item.line,
        "payload": payload,
    })
}

/// The sandbox policy's tag, which was `mode` until 2025-11 and `type` since.
fn sandbox_tag(policy: &Value) -> Option<String> {
    match policy {
        Value::String(text) => Some(text.clone()),
        Value::Object(fields) => {
            fields.get("type").or_else(|| fields.get("mode")).and_then(Value::as_str).map(str::to_string)
        }
        _ => None,
    }
}

fn approval_tag(policy: &Value) -> Option<String> {
    match policy {
        Value::String(text) => Some(text.clone()),
        Value::Object(fields) => fields.keys().next().cloned(),
        _ => None,
    }
}

/// Pairs each `event_msg/user_message` with the `response_item` user message Codex wrote for the
/// same prompt, so the prompt is stored once. The copy sits next to the event in the same turn
/// (usually right before it, a few milliseconds apart; redacted files even differ in text), so
/// the nearest unpaired user message within a second, with no model output in between, is taken;
/// an injected-context message only when its text equals the prompt.
fn pair_user_prompts(items: &[Item]) -> (Vec<bool>, Vec<bool>) {
    const REACH: usize = 12;
    let mut paired_item = vec![false; items.len()];
    let mut paired_event = vec![false; items.len()];
    let is_user_item = |item: &Item| {
        item.kind == ItemKind::ResponseItem && item.payload_type() == "message" && item.role() == Some("user")
    };
    // Model output or another prompt ends the search.
    let is_barrier = |item: &Item| {
        (item.kind == ItemKind::ResponseItem && !is_user_item(item) && item.payload_type() != "message")
            || (item.kind == ItemKind::ResponseItem && item.role() == Some("assistant"))
            || (item.kind == ItemKind::EventMsg && item.payload_type() == "user_message")
    };
    for (index, event) in items.iter().enumerate() {
        if event.kind != ItemKind::EventMsg || event.payload_type() != "user_message" {
            continue;
        }
        let prompt = text_field(&event.payload(), "message").unwrap_or_default();
        let close = |candidate: &Item| match (candidate.timestamp, event.timestamp) {
            (Some(a), Some(b)) => a.duration_since(b).abs() <= SignedDuration::from_secs(1),
            _ => true,
        };
        let acceptable = |candidate: &Item| {
            let text = content_text(candidate.payload().get("content").unwrap_or(&Value::Null)).unwrap_or_default();
            text == prompt || (close(candidate) && !is_injected_text(&text))
        };
        let mut partner = None;
        for candidate in (index.saturating_sub(REACH)..index).rev() {
            if is_barrier(&items[candidate]) {
                break;
            }
            if !paired_item[candidate] && is_user_item(&items[candidate]) && acceptable(&items[candidate]) {
                partner = Some(candidate);
                break;
            }
        }
        if partner.is_none() {
            for candidate in index + 1..(index + 1 + REACH).min(items.len()) {
                if is_barrier(&items[candidate]) {
                    break;
                }
                if !paired_item[candidate] && is_user_item(&items[candidate]) && acceptable(&items[candidate]) {
                    partner = Some(candidate);
                    break;
                }
            }
        }
        if let Some(partner) = partner {
            paired_item[partner] = true;
            paired_event[index] = true;
        }
    }
    (paired_item, paired_event)
}

/// Which items are copied parent history: in a fork, the burst that follows a second
/// `session_meta` naming another thread.
fn copied_history(items: &[Item], thread_id: &str) -> Vec<bool> {
    let mut copied = vec![false; items.len()];
    let mut burst_start: Option<Timestamp> = None;
    let mut first_meta_seen = false;
    for (index, item) in items.iter().enumerate() {
        if item.kind == ItemKind::SessionMeta {
            let id = text_field(&item.payload(), "id");
            if first_meta_seen && id.as_deref() != Some(thread_id) && burst_start.is_none() {
                burst_start = item.timestamp;
                copied[index] = true;
                continue;
            }
            first_meta_seen = true;
        }
        if let (Some(start), Some(at)) = (burst_start, item.timestamp) {
            if at.duration_since(start) <= COPY_BURST {
                copied[index] = true;
            } else {
                burst_start = None;
            }
        }
    }
    copied
}

/// Projects one thread.
pub fn project_thread(
    thread_id: &str,
    generation: Generation,
    source_path: PathBuf,
    segments: usize,
    items: Vec<Item>,
    report: &mut ParseReport,
) -> ProjectedThread {
    let meta = items.iter().find(|item| item.kind == ItemKind::SessionMeta).map(Item::payload).unwrap_or(Value::Null);
    let meta = &meta;
    let head = head_from_meta(meta);
    let subagent = subagent_source(meta);
    let is_spawned = subagent.is_some_and(|source| source.get("thread_spawn").is_some());
    let has_user_events =
        items.iter().any(|item| item.kind == ItemKind::EventMsg && item.payload_type() == "user_message");
    let has_assistant_items = items.iter().any(|item| {
        item.kind == ItemKind::ResponseItem && item.payload_type() == "message" && item.role() == Some("assistant")
    });
    let has_token_counts =
        items.iter().any(|item| item.kind == ItemKind::EventMsg && item.payload_type() == "token_count");
    let (paired_item, paired_event) = pair_user_prompts(&items);
    let copied = copied_history(&items, thread_id);
    let first_timestamp = items.iter().find_map(|item| item.timestamp);

    let mut messages: Vec<ProjectedMessage> = Vec::new();
    let mut usage: Vec<ProjectedUsage> = Vec::new();
    let mut tracker = UsageTracker { previous: None };
    let mut models: Vec<String> = Vec::new();
    let mut model: Option<String> = None;
    let (mut sandbox, mut approval, mut cwd, mut title) = (None, None, text_field(meta, "cwd"), None);
    let mut tool_names: HashMap<String, String> = HashMap::new();
    let mut review_entries = Vec::new();
    let (mut started_at, mut ended_at) = (head.started_at, None::<Timestamp>);

    // Each item is parsed here, once, and dropped after its turn: its bulky text moves into parts.
    for (ordinal, item) in items.into_iter().enumerate() {
        let mut payload = item.payload();
        if let Some(at) = item.timestamp {
            started_at = Some(started_at.map_or(at, |start| start.min(at)));
            ended_at = Some(ended_at.map_or(at, |end| end.max(at)));
        }
        let payload_type = item.payload_type();
        if copied[ordinal] {
            if item.kind == ItemKind::EventMsg && payload_type == "token_count" {
                tracker.seed(payload.get("info").unwrap_or(&Value::Null));
            }
            report.ignore("copied parent history (fork)");
            continue;
        }
        let mut message = |frame: Frame, role: Role, parts: Vec<MessagePart>, flags: MessageFlags| {
            let parent_key = messages.last().map(|previous: &ProjectedMessage| previous.identity.key.clone());
            messages.push(ProjectedMessage {
                identity: frame.identity,
                native_id: frame.native_id,
                parent_key,
                role,
                timestamp: frame.timestamp,
                model: (role == Role::Assistant).then(|| model.clone()).flatten(),
                flags,
                raw_frame: Some(RawFrame::new(&frame.raw_frame)),
                parts,
                source_path: frame.source_path,
            });
        };
        let frame = |item: &Item, payload: &Value| Frame::of(item, payload, thread_id, ordinal, &source_path);
        match &item.kind {
            ItemKind::SessionMeta => {
                if ordinal > 0 && text_field(&payload, "id").as_deref() == Some(thread_id) {
                    report.ignore("session_meta of a later segment");
                }
            }
            ItemKind::TurnContext => {
                if let Some(name) = text_field(&payload, "model") {
                    if !models.contains(&name) {
                        models.push(name.clone());
                    }
                    model = Some(name);
                }
                sandbox = payload.get("sandbox_policy").and_then(sandbox_tag).or(sandbox);
                approval = payload.get("approval_policy").and_then(approval_tag).or(approval);
                if cwd.is_none() {
                    cwd = text_field(&payload, "cwd");
                }
            }
            ItemKind::State => report.ignore("state record (G2)"),
            ItemKind::Compacted => {
                let replaced = payload.get("replacement_history").and_then(Value::as_array).map_or(0, Vec::len);
                let mut part = MessagePart::new(PartKind::Text);
                part.text = text_field(&payload, "message");
                part.metadata = Some(json!({ "replacement_history_items": replaced }));
                message(
                    frame(&item, &payload),
                    Role::System,
                    vec![part],
                    MessageFlags { compact_boundary: true, ..MessageFlags::default() },
                );
            }
            ItemKind::ResponseItem => match payload_type {
                "message" => {
                    let role_name = payload.get("role").and_then(Value::as_str).unwrap_or("");
                    let content = payload.get("content").unwrap_or(&Value::Null);
                    let text = content_text(content).unwrap_or_default();
                    let (role, injected) = match role_name {
                        "assistant" => (Role::Assistant, false),
                        "developer" => (Role::Developer, true),
                        "system" => (Role::System, true),
                        "user" if paired_item[ordinal] => (Role::User, false),
                        "user" => (Role::User, has_user_events || is_injected_text(&text)),
                        _ => (Role::Other, false),
                    };
                    message(
                        frame(&item, &payload),
                        role,
                        message_parts(content),
                        MessageFlags { injected, meta: injected, ..MessageFlags::default() },
                    );
                }
                "reasoning" => {
                    let mut parts: Vec<MessagePart> = Vec::new();
                    for key in ["summary", "content"] {
                        for entry in payload.get(key).and_then(Value::as_array).into_iter().flatten() {
                            let mut part = MessagePart::new(PartKind::Thinking);
                            part.text = text_field(entry, "text");
                            part.metadata = Some(json!({ "type": entry.get("type") }));
                            parts.push(part);
                        }
                    }
                    if let Some(blob) = payload.get("encrypted_content").and_then(Value::as_str) {
                        parts.push(MessagePart {
                            metadata: Some(json!({ "encrypted_bytes": blob.len() })),
                            ..MessagePart::new(PartKind::Thinking)
                        });
                    }
                    message(frame(&item, &payload), Role::Assistant, parts, MessageFlags::default());
                }
                "function_call"
                | "custom_tool_call"
                | "local_shell_call"
                | "web_search_call"
                | "tool_search_call"
                | "image_generation_call" => {
                    let call_id = text_field(&payload, "call_id").or_else(|| text_field(&payload, "id"));
                    let name = text_field(&payload, "name").unwrap_or_else(|| match payload_type {
                        "local_shell_call" => "local_shell".into(),
                        "web_search_call" => "web_search".into(),
                        "tool_search_call" => "tool_search".into(),
                        _ => "image_generation".into(),
                    });
                    let input = match payload_type {
                        "function_call" => payload.get("arguments").map(|arguments| match arguments.as_str() {
                            Some(text) => {
                                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
                            }
                            None => arguments.clone(),
                        }),
                        "custom_tool_call" => payload.get("input").cloned(),
                        "image_generation_call" => Some(json!({ "revised_prompt": payload.get("revised_prompt") })),
                        _ => payload.get("action").or_else(|| payload.get("arguments")).cloned(),
                    };
                    if let Some(id) = &call_id {
                        tool_names.insert(id.clone(), name.clone());
                    }
                    let part = MessagePart {
                        tool_name: Some(name),
                        tool_call_id: call_id,
                        tool_input: input,
                        metadata: Some(json!({ "type": payload_type, "status": payload.get("status") })),
                        ..MessagePart::new(PartKind::ToolCall)
                    };
                    message(frame(&item, &payload), Role::Assistant, vec![part], MessageFlags::default());
                }
                "function_call_output" | "custom_tool_call_output" | "tool_search_output" => {
                    let call_id = text_field(&payload, "call_id");
                    let output_frame = frame(&item, &payload);
                    // The output is the bulk of a rollout: it moves into the part instead of being copied.
                    let output = match payload.get_mut("output") {
                        Some(output) => output.take(),
                        None => payload.get("tools").cloned().unwrap_or(Value::Null),
                    };
                    let images = output.as_array().map_or(0, |items| {
                        items
                            .iter()
                            .filter(|entry| entry.get("type").and_then(Value::as_str) == Some("input_image"))
                            .count()
                    });
                    let text = match output {
                        Value::String(text) => Some(text),
                        Value::Null => None,
                        other => content_text(&other).or_else(|| Some(other.to_string())),
                    };
                    let part = MessagePart {
                        is_error: text.as_deref().and_then(output_failed),
                        text,
                        tool_name: call_id.as_ref().and_then(|id| tool_names.get(id)).cloned(),
                        tool_call_id: call_id,
                        metadata: (images > 0).then(|| json!({ "images": images })),
                        ..MessagePart::new(PartKind::ToolResult)
                    };
                    message(output_frame, Role::Tool, vec![part], MessageFlags::default());
                }
                kind if BOOKKEEPING_ITEMS.contains(&kind) => report.ignore(kind),
                other => {
                    report.unknown_records += 1;
                    let part =
                        MessagePart { metadata: Some(json!({ "type": other })), ..MessagePart::new(PartKind::Other) };
                    message(frame(&item, &payload), Role::Other, vec![part], MessageFlags::default());
                }
            },
            ItemKind::EventMsg => match payload_type {
                "user_message" if paired_event[ordinal] => {
                    report.ignore("user_message event (copy of the response item)")
                }
                "user_message" => {
                    let mut parts: Vec<MessagePart> =
                        text_field(&payload, "message").map(MessagePart::text).into_iter().collect();
                    for image in payload.get("images").and_then(Value::as_array).into_iter().flatten() {
                        parts.push(image_part(&json!({ "image_url": image })));
                    }
                    message(frame(&item, &payload), Role::User, parts, MessageFlags::default());
                }
                "agent_message" if has_assistant_items => {
                    report.ignore("agent_message event (copy of the response item)")
                }
                "agent_message" => {
                    let parts = text_field(&payload, "message").map(MessagePart::text).into_iter().collect();
                    message(frame(&item, &payload), Role::Assistant, parts, MessageFlags::default());
                }
                "token_count" => {
                    let copied_spawn_replay = is_spawned
                        && tracker.previous.is_none()
                        && matches!((first_timestamp, item.timestamp), (Some(first), Some(at)) if at.duration_since(first) <= COPY_BURST);
                    let info = payload.get("info").unwrap_or(&Value::Null);
                    if copied_spawn_replay && !info.is_null() {
                        tracker.seed(info);
                        report.ignore("replayed parent token_count (spawned sub-agent)");
                    } else if let Some(delta) = tracker.observe(info, report) {
                        usage.push(usage_record(thread_id, &item, &delta, model.clone()));
                    }
                }
                "thread_name_updated" => title = text_field(&payload, "thread_name").or(title),
                "entered_review_mode" => {
                    review_entries.extend(item.timestamp);
                    report.ignore("entered_review_mode");
                }
                known if KNOWN_EVENTS.contains(&known) => report.ignore(known),
                other => {
                    report.unknown_records += 1;
                    let part =
                        MessagePart { metadata: Some(json!({ "event": other })), ..MessagePart::new(PartKind::Other) };
                    message(frame(&item, &payload), Role::Other, vec![part], MessageFlags::default());
                }
            },
            ItemKind::Other(name) if name == "token_usage_record" => {
                if has_token_counts {
                    report.ignore("token_usage_record (counted from token_count)");
                } else if let Some(delta) = tracker.observe(&payload, report) {
                    usage.push(usage_record(thread_id, &item, &delta, model.clone()));
                }
            }
            ItemKind::Other(name) if KNOWN_LINE_TYPES.contains(&name.as_str()) => report.ignore(name),
            ItemKind::Other(name) => {
                report.unknown_records += 1;
                let part = MessagePart { metadata: Some(json!({ "type": name })), ..MessagePart::new(PartKind::Other) };
                message(frame(&item, &payload), Role::Other, vec![part], MessageFlags::default());
            }
        }
    }

    let git = meta.get("git");
    let git_text = |key: &str| git.and_then(|git| text_field(git, key));
    let mut metadata = Map::new();
    metadata.insert("vendor".into(), json!("openai"));
    metadata.insert("format".into(), json!(generation.as_str()));
    for key in [
        "model_provider",
        "source",
        "thread_source",
        "agent_nickname",
        "agent_role",
        "agent_path",
        "history_mode",
        "memory_mode",
    ] {
        if let Some(value) = meta.get(key).filter(|value| !value.is_null()) {
            metadata.insert(key.into(), value.clone());
        }
    }
    if segments > 1 {
        metadata.insert("segments".into(), json!(segments));
    }
    let relationship = if meta.get("forked_from_id").is_some() || meta.get("history_base").is_some() {
        Relationship::Fork
    } else {
        Relationship::Subagent
    };
    let parent = head.parent_thread_id.clone().map(|parent| SessionLink {
        parent_native_id: parent,
        relationship,
        spawning_tool_call_id: None,
    });
    if subagent.is_some() && parent.is_none() && !head.is_review {
        report.warnings.push(format!("codex sub-agent {thread_id} names no parent thread; it is imported unlinked"));
    }
    let session = ProjectedSession {
        client: crate::NAME.to_string(),
        native_id: thread_id.to_string(),
        source_path,
        title,
        cwd,
        git: GitInfo {
            branch: git_text("branch"),
            commit: git_text("commit_hash"),
            origin_url: git_text("repository_url"),
            dirty: git.and_then(|git| git.get("dirty")).and_then(Value::as_bool),
        },
        client_version: text_field(meta, "cli_version"),
        entrypoint: text_field(meta, "originator"),
        models,
        permission_mode: None,
        sandbox_mode: sandbox,
        approval_mode: approval,
        started_at,
        ended_at,
        parent,
        metadata,
    };
    report.sessions_seen += 1;
    report.items_seen += messages.len() as u64;
    ProjectedThread {
        review_started_at: head.is_review.then_some(head.started_at).flatten(),
        review_entries,
        exchange: ProjectedExchange { session, messages, usage, ..ProjectedExchange::default() },
    }
}

fn usage_record(thread_id: &str, item: &Item, delta: &Tokens, model: Option<String>) -> ProjectedUsage {
    let at = item.timestamp.map(|stamp| stamp.to_string()).unwrap_or_else(|| format!("line{}", item.line));
    ProjectedUsage {
        key: format!("{thread_id}@{at}#{}", delta.total),
        message_key: None,
        model,
        timestamp: item.timestamp,
        input_tokens: delta.input,
        output_tokens: delta.output,
        cache_read_tokens: delta.cached.min(delta.input),
        cache_creation_tokens: delta.cache_write,
        reasoning_tokens: delta.reasoning.min(delta.output),
    }
}
