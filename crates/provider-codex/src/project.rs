//! Turns one Codex thread's items into a projected exchange: session facts, conversation text
//! without injected-context or event duplicates, tool calls paired with outputs, copied fork
//! history skipped, and usage from cumulative token-count deltas.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hindcast_core::json_text;
use hindcast_core::model::{
    GitInfo, MessageFlags, MessageIdentity, MessagePart, PartKind, ProjectedExchange, ProjectedMessage,
    ProjectedRateLimit, ProjectedSession, ProjectedUsage, RawFrame, Relationship, Role, SessionLink,
};
use hindcast_core::provider::ParseReport;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::parse::{Generation, Item, ItemKind, RolloutThread};
use crate::rollout::{head_from_meta, subagent_source};

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
struct ItemFrame {
    identity: MessageIdentity,
    native_id: Option<String>,
    timestamp: Option<Timestamp>,
    raw_frame: Value,
    source_path: Option<PathBuf>,
}

impl ItemFrame {
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
            ItemKind::NotARecord => "(not a record)",
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

/// One thread being projected: what is known before its items are walked, and what they add.
struct ThreadProjection<'a> {
    thread_id: &'a str,
    source_path: PathBuf,
    /// Spawned sub-agents replay their parent's last token count when they start.
    is_spawned: bool,
    /// A rollout with `user_message` events marks user response items without one as injected.
    has_user_events: bool,
    /// Assistant response items make `agent_message` events copies.
    has_assistant_items: bool,
    /// `token_count` events make `token_usage_record` lines copies.
    has_token_counts: bool,
    paired_item: Vec<bool>,
    paired_event: Vec<bool>,
    copied: Vec<bool>,
    first_timestamp: Option<Timestamp>,
    messages: Vec<ProjectedMessage>,
    usage: Vec<ProjectedUsage>,
    rate_limits: Vec<ProjectedRateLimit>,
    tracker: UsageTracker,
    models: Vec<String>,
    model: Option<String>,
    sandbox: Option<String>,
    approval: Option<String>,
    cwd: Option<String>,
    title: Option<String>,
    /// Tool names by call id, so outputs name their tool.
    tool_names: HashMap<String, String>,
    review_entries: Vec<Timestamp>,
    started_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
}

/// Projects a family of threads, one exchange each, with its review sub-agents linked. Each
/// thread's items are dropped as soon as it is projected (its bulky text moved out).
pub fn project(threads: Vec<RolloutThread>, report: &mut ParseReport) -> Vec<ProjectedExchange> {
    let mut projected: Vec<ProjectedThread> =
        threads.into_iter().map(|thread| project_thread(thread, report)).collect();
    link_reviews(&mut projected, report);
    projected.into_iter().map(|thread| thread.exchange).collect()
}

/// Projects one thread.
fn project_thread(thread: RolloutThread, report: &mut ParseReport) -> ProjectedThread {
    let RolloutThread { id, generation, path, segments, items } = thread;
    let meta = items.iter().find(|item| item.kind == ItemKind::SessionMeta).map(Item::payload).unwrap_or(Value::Null);
    let mut projection = ThreadProjection::new(&id, path, &meta, &items);
    // Each item is parsed here, once, and dropped after its turn: its bulky text moves into parts.
    for (ordinal, item) in items.into_iter().enumerate() {
        projection.on_item(ordinal, item, report);
    }
    projection.finish(&meta, generation, segments, report)
}

impl<'a> ThreadProjection<'a> {
    fn new(thread_id: &'a str, source_path: PathBuf, meta: &Value, items: &[Item]) -> Self {
        let event =
            |kind: &str| items.iter().any(|item| item.kind == ItemKind::EventMsg && item.payload_type() == kind);
        let (paired_item, paired_event) = pair_user_prompts(items);
        Self {
            thread_id,
            source_path,
            is_spawned: subagent_source(meta).is_some_and(|source| source.get("thread_spawn").is_some()),
            has_user_events: event("user_message"),
            has_assistant_items: items.iter().any(|item| {
                item.kind == ItemKind::ResponseItem
                    && item.payload_type() == "message"
                    && item.role() == Some("assistant")
            }),
            has_token_counts: event("token_count"),
            paired_item,
            paired_event,
            copied: copied_history(items, thread_id),
            first_timestamp: items.iter().find_map(|item| item.timestamp),
            messages: Vec::new(),
            usage: Vec::new(),
            rate_limits: Vec::new(),
            tracker: UsageTracker { previous: None },
            models: Vec::new(),
            model: None,
            sandbox: None,
            approval: None,
            cwd: text_field(meta, "cwd"),
            title: None,
            tool_names: HashMap::new(),
            review_entries: Vec::new(),
            started_at: head_from_meta(meta).started_at,
            ended_at: None,
        }
    }

    /// Adds a message; its parent is the message before it.
    fn push_message(&mut self, frame: ItemFrame, role: Role, parts: Vec<MessagePart>, flags: MessageFlags) {
        let parent_key = self.messages.last().map(|previous| previous.identity.key.clone());
        self.messages.push(ProjectedMessage {
            identity: frame.identity,
            native_id: frame.native_id,
            parent_key,
            role,
            timestamp: frame.timestamp,
            model: (role == Role::Assistant).then(|| self.model.clone()).flatten(),
            flags,
            raw_frame: Some(RawFrame::new(&frame.raw_frame)),
            parts,
            source_path: frame.source_path,
        });
    }

    fn frame(&self, item: &Item, payload: &Value, ordinal: usize) -> ItemFrame {
        ItemFrame::of(item, payload, self.thread_id, ordinal, &self.source_path)
    }

    /// An item the thread does not understand: kept as an `other` message and counted.
    fn push_unknown(&mut self, frame: ItemFrame, metadata: Value, report: &mut ParseReport) {
        report.unknown_records += 1;
        let part = MessagePart { metadata: Some(metadata), ..MessagePart::new(PartKind::Other) };
        self.push_message(frame, Role::Other, vec![part], MessageFlags::default());
    }

    fn on_item(&mut self, ordinal: usize, item: Item, report: &mut ParseReport) {
        if item.kind == ItemKind::NotARecord {
            // Counted as a skipped line when it was read.
            return;
        }
        let payload = item.payload();
        if let Some(at) = item.timestamp {
            self.started_at = Some(self.started_at.map_or(at, |start| start.min(at)));
            self.ended_at = Some(self.ended_at.map_or(at, |end| end.max(at)));
        }
        if self.copied[ordinal] {
            if item.kind == ItemKind::EventMsg && item.payload_type() == "token_count" {
                self.tracker.seed(payload.get("info").unwrap_or(&Value::Null));
            }
            report.ignore("copied parent history (fork)");
            return;
        }
        match &item.kind {
            ItemKind::SessionMeta => {
                if ordinal > 0 && text_field(&payload, "id").as_deref() == Some(self.thread_id) {
                    report.ignore("session_meta of a later segment");
                }
            }
            ItemKind::TurnContext => self.on_turn_context(&payload),
            ItemKind::State => report.ignore("state record (G2)"),
            ItemKind::NotARecord => {}
            ItemKind::Compacted => {
                let replaced = payload.get("replacement_history").and_then(Value::as_array).map_or(0, Vec::len);
                let mut part = MessagePart::new(PartKind::Text);
                part.text = text_field(&payload, "message");
                part.metadata = Some(json!({ "replacement_history_items": replaced }));
                let flags = MessageFlags { compact_boundary: true, ..MessageFlags::default() };
                self.push_message(self.frame(&item, &payload, ordinal), Role::System, vec![part], flags);
            }
            ItemKind::ResponseItem => self.on_response_item(ordinal, &item, payload, report),
            ItemKind::EventMsg => self.on_event(ordinal, &item, &payload, report),
            ItemKind::Other(name) if name == "token_usage_record" => {
                if self.has_token_counts {
                    report.ignore("token_usage_record (counted from token_count)");
                } else if let Some(delta) = self.tracker.observe(&payload, report) {
                    self.usage.push(usage_record(self.thread_id, &item, &delta, self.model.clone()));
                }
            }
            ItemKind::Other(name) if KNOWN_LINE_TYPES.contains(&name.as_str()) => report.ignore(name),
            ItemKind::Other(name) => {
                let frame = self.frame(&item, &payload, ordinal);
                self.push_unknown(frame, json!({ "type": name }), report);
            }
        }
    }

    /// The model, sandbox and approval policies in force from here on.
    fn on_turn_context(&mut self, payload: &Value) {
        if let Some(name) = text_field(payload, "model") {
            if !self.models.contains(&name) {
                self.models.push(name.clone());
            }
            self.model = Some(name);
        }
        self.sandbox = payload.get("sandbox_policy").and_then(sandbox_tag).or(self.sandbox.take());
        self.approval = payload.get("approval_policy").and_then(approval_tag).or(self.approval.take());
        if self.cwd.is_none() {
            self.cwd = text_field(payload, "cwd");
        }
    }

    fn on_response_item(&mut self, ordinal: usize, item: &Item, mut payload: Value, report: &mut ParseReport) {
        let payload_type = item.payload_type();
        match payload_type {
            "message" => {
                let role_name = payload.get("role").and_then(Value::as_str).unwrap_or("");
                let content = payload.get("content").unwrap_or(&Value::Null);
                let text = content_text(content).unwrap_or_default();
                let (role, injected) = match role_name {
                    "assistant" => (Role::Assistant, false),
                    "developer" => (Role::Developer, true),
                    "system" => (Role::System, true),
                    "user" if self.paired_item[ordinal] => (Role::User, false),
                    "user" => (Role::User, self.has_user_events || is_injected_text(&text)),
                    _ => (Role::Other, false),
                };
                let flags = MessageFlags { injected, meta: injected, ..MessageFlags::default() };
                self.push_message(self.frame(item, &payload, ordinal), role, message_parts(content), flags);
            }
            "reasoning" => {
                let frame = self.frame(item, &payload, ordinal);
                self.push_message(frame, Role::Assistant, reasoning_parts(&payload), MessageFlags::default());
            }
            "function_call"
            | "custom_tool_call"
            | "local_shell_call"
            | "web_search_call"
            | "tool_search_call"
            | "image_generation_call" => {
                let part = tool_call_part(payload_type, &payload);
                if let (Some(id), Some(name)) = (&part.tool_call_id, &part.tool_name) {
                    self.tool_names.insert(id.clone(), name.clone());
                }
                self.push_message(
                    self.frame(item, &payload, ordinal),
                    Role::Assistant,
                    vec![part],
                    MessageFlags::default(),
                );
            }
            "function_call_output" | "custom_tool_call_output" | "tool_search_output" => {
                let output_frame = self.frame(item, &payload, ordinal);
                let part = tool_output_part(&mut payload, &self.tool_names);
                self.push_message(output_frame, Role::Tool, vec![part], MessageFlags::default());
            }
            kind if BOOKKEEPING_ITEMS.contains(&kind) => report.ignore(kind),
            other => {
                let frame = self.frame(item, &payload, ordinal);
                self.push_unknown(frame, json!({ "type": other }), report);
            }
        }
    }

    fn on_event(&mut self, ordinal: usize, item: &Item, payload: &Value, report: &mut ParseReport) {
        match item.payload_type() {
            "user_message" if self.paired_event[ordinal] => {
                report.ignore("user_message event (copy of the response item)")
            }
            "user_message" => {
                let mut parts: Vec<MessagePart> =
                    text_field(payload, "message").map(MessagePart::text).into_iter().collect();
                for image in payload.get("images").and_then(Value::as_array).into_iter().flatten() {
                    parts.push(image_part(&json!({ "image_url": image })));
                }
                self.push_message(self.frame(item, payload, ordinal), Role::User, parts, MessageFlags::default());
            }
            "agent_message" if self.has_assistant_items => {
                report.ignore("agent_message event (copy of the response item)")
            }
            "agent_message" => {
                let parts = text_field(payload, "message").map(MessagePart::text).into_iter().collect();
                self.push_message(self.frame(item, payload, ordinal), Role::Assistant, parts, MessageFlags::default());
            }
            "token_count" => {
                let copied_spawn_replay = self.is_spawned
                    && self.tracker.previous.is_none()
                    && matches!((self.first_timestamp, item.timestamp), (Some(first), Some(at)) if at.duration_since(first) <= COPY_BURST);
                let info = payload.get("info").unwrap_or(&Value::Null);
                if copied_spawn_replay && !info.is_null() {
                    self.tracker.seed(info);
                    report.ignore("replayed parent token_count (spawned sub-agent)");
                } else {
                    if let (Some(at), Some(limits)) = (item.timestamp, payload.get("rate_limits")) {
                        self.rate_limits.extend(rate_limits(at, limits, report));
                    }
                    if let Some(delta) = self.tracker.observe(info, report) {
                        self.usage.push(usage_record(self.thread_id, item, &delta, self.model.clone()));
                    }
                }
            }
            "thread_name_updated" => self.title = text_field(payload, "thread_name").or(self.title.take()),
            "entered_review_mode" => {
                self.review_entries.extend(item.timestamp);
                report.ignore("entered_review_mode");
            }
            known if KNOWN_EVENTS.contains(&known) => report.ignore(known),
            other => {
                let frame = self.frame(item, payload, ordinal);
                self.push_unknown(frame, json!({ "event": other }), report);
            }
        }
    }

    /// The session from the thread's meta and what its items said.
    fn finish(
        self,
        meta: &Value,
        generation: Generation,
        segments: usize,
        report: &mut ParseReport,
    ) -> ProjectedThread {
        let head = head_from_meta(meta);
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
        if subagent_source(meta).is_some() && parent.is_none() && !head.is_review {
            report
                .warnings
                .push(format!("codex sub-agent {} names no parent thread; it is imported unlinked", self.thread_id));
        }
        let session = ProjectedSession {
            client: crate::NAME.to_string(),
            native_id: self.thread_id.to_string(),
            source_path: self.source_path,
            title: self.title,
            cwd: self.cwd,
            git: GitInfo {
                branch: git_text("branch"),
                commit: git_text("commit_hash"),
                origin_url: git_text("repository_url"),
                dirty: git.and_then(|git| git.get("dirty")).and_then(Value::as_bool),
            },
            client_version: text_field(meta, "cli_version"),
            entrypoint: text_field(meta, "originator"),
            models: self.models,
            permission_mode: None,
            sandbox_mode: self.sandbox,
            approval_mode: self.approval,
            started_at: self.started_at,
            ended_at: self.ended_at,
            parent,
            metadata,
        };
        report.sessions_seen += 1;
        report.items_seen += self.messages.len() as u64;
        ProjectedThread {
            review_started_at: head.is_review.then_some(head.started_at).flatten(),
            review_entries: self.review_entries,
            exchange: ProjectedExchange {
                session,
                messages: self.messages,
                usage: self.usage,
                rate_limits: self.rate_limits,
                ..ProjectedExchange::default()
            },
        }
    }
}

/// The windows of a `token_count`'s `rate_limits` (`primary`, `secondary`: `used_percent`,
/// `window_minutes`, `resets_at` in Unix seconds or, in older rollouts, `resets_in_seconds`).
/// `null` windows (custom providers send all-null limits) are none; a window without a readable
/// `used_percent` is counted and left out.
fn rate_limits(at: Timestamp, limits: &Value, report: &mut ParseReport) -> Vec<ProjectedRateLimit> {
    let plan = text_field(limits, "plan_type");
    let mut windows = Vec::new();
    for window in ["primary", "secondary"] {
        let Some(value) = limits.get(window).filter(|value| !value.is_null()) else { continue };
        let Some(used_percent) = value.get("used_percent").and_then(Value::as_f64).filter(|used| used.is_finite())
        else {
            report.ignore("rate limit window without used_percent");
            continue;
        };
        let resets_at = value
            .get("resets_at")
            .and_then(Value::as_i64)
            .and_then(|seconds| Timestamp::from_second(seconds).ok())
            .or_else(|| {
                let seconds = value.get("resets_in_seconds").and_then(Value::as_i64)?;
                at.checked_add(SignedDuration::from_secs(seconds)).ok()
            });
        windows.push(ProjectedRateLimit {
            observed_at: at,
            window: window.to_string(),
            window_minutes: value.get("window_minutes").and_then(Value::as_i64),
            used_percent,
            resets_at,
            plan: plan.clone(),
        });
    }
    windows
}

/// A reasoning item's summary and content texts as thinking parts, and the size of its encrypted blob.
fn reasoning_parts(payload: &Value) -> Vec<MessagePart> {
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
    parts
}

/// A tool call of any kind as a part: its name (named after the kind where the item has none),
/// call id and input (function arguments parsed when they are JSON).
fn tool_call_part(payload_type: &str, payload: &Value) -> MessagePart {
    let call_id = text_field(payload, "call_id").or_else(|| text_field(payload, "id"));
    let name = text_field(payload, "name").unwrap_or_else(|| match payload_type {
        "local_shell_call" => "local_shell".into(),
        "web_search_call" => "web_search".into(),
        "tool_search_call" => "tool_search".into(),
        _ => "image_generation".into(),
    });
    let input = match payload_type {
        "function_call" => payload.get("arguments").map(|arguments| match arguments.as_str() {
            Some(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
            None => arguments.clone(),
        }),
        "custom_tool_call" => payload.get("input").cloned(),
        "image_generation_call" => Some(json!({ "revised_prompt": payload.get("revised_prompt") })),
        _ => payload.get("action").or_else(|| payload.get("arguments")).cloned(),
    };
    MessagePart {
        tool_name: Some(name),
        tool_call_id: call_id,
        tool_input: input,
        metadata: Some(json!({ "type": payload_type, "status": payload.get("status") })),
        ..MessagePart::new(PartKind::ToolCall)
    }
}

/// A tool output as a part, named after its call's tool. The output is the bulk of a rollout: it
/// moves out of `payload` into the part instead of being copied.
fn tool_output_part(payload: &mut Value, tool_names: &HashMap<String, String>) -> MessagePart {
    let call_id = text_field(payload, "call_id");
    let output = match payload.get_mut("output") {
        Some(output) => output.take(),
        None => payload.get("tools").cloned().unwrap_or(Value::Null),
    };
    let images = output.as_array().map_or(0, |items| {
        items.iter().filter(|entry| entry.get("type").and_then(Value::as_str) == Some("input_image")).count()
    });
    let text = match output {
        Value::String(text) => Some(text),
        Value::Null => None,
        other => content_text(&other).or_else(|| Some(other.to_string())),
    };
    MessagePart {
        is_error: text.as_deref().and_then(output_failed),
        text,
        tool_name: call_id.as_ref().and_then(|id| tool_names.get(id)).cloned(),
        tool_call_id: call_id,
        metadata: (images > 0).then(|| json!({ "images": images })),
        ..MessagePart::new(PartKind::ToolResult)
    }
}

/// Links `/review` sub-agents (which name no parent) to the thread whose `entered_review_mode`
/// was written at the sub-agent's start: the same millisecond, else within one second.
fn link_reviews(threads: &mut [ProjectedThread], report: &mut ParseReport) {
    for index in 0..threads.len() {
        let Some(started) = threads[index].review_started_at else { continue };
        if threads[index].exchange.session.parent.is_some() {
            continue;
        }
        let distance = |entry: &Timestamp| entry.duration_since(started).abs();
        let best = threads
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .flat_map(|(other, thread)| thread.review_entries.iter().map(move |entry| (other, distance(entry))))
            .filter(|(_, gap)| *gap <= jiff::SignedDuration::from_secs(1))
            .min_by_key(|(_, gap)| *gap);
        let native_id = threads[index].exchange.session.native_id.clone();
        match best {
            Some((parent, gap)) => {
                let parent_id = threads[parent].exchange.session.native_id.clone();
                let session = &mut threads[index].exchange.session;
                session.parent = Some(SessionLink {
                    parent_native_id: parent_id,
                    relationship: Relationship::Subagent,
                    spawning_tool_call_id: None,
                });
                session.metadata.insert(
                    "linked_by".into(),
                    serde_json::json!(if gap.is_zero() {
                        "review timestamp (exact)"
                    } else {
                        "review timestamp (within 1 s)"
                    }),
                );
            }
            None => report.warnings.push(format!(
                "codex review sub-agent {native_id} is unlinked: no thread entered review mode at {started}"
            )),
        }
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
        ..ProjectedUsage::default()
    }
}
