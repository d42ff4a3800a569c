//! The canonical, provider-independent data model: sources, projected exchanges, messages, parts and usage.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One file on disk that a provider reads. Providers never modify it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceFile {
    /// Absolute path. Shown to the local user; never stored (the store keeps its sha256).
    pub path: PathBuf,
    /// Provider-specific classification, e.g. `session`, `subagent`, `rollout`.
    pub kind: String,
    /// Size in bytes at discovery time.
    pub size: u64,
    /// Modification time at discovery time, when the file system reports it.
    pub modified: Option<Timestamp>,
    /// Inode number at discovery time (Unix), so the sources manifest notices a replaced file.
    #[serde(skip)]
    pub inode: Option<u64>,
}

/// A group of source files parsed together into one or more exchanges (a session, a session with its
/// sub-agents, a whole project directory, ...). The unit of parallelism.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceUnit {
    /// Stable, human-readable key used in reports (e.g. the project slug or thread id).
    pub key: String,
    /// The files of the unit in the order the provider wants to read them.
    pub files: Vec<SourceFile>,
}

impl SourceUnit {
    /// Total size of the unit's files in bytes.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|file| file.size).sum()
    }
}

/// One session as a provider projects it: metadata plus its ordered messages and billed usage,
/// and what the session brings along (its project, import notes, references to other clients).
/// An exchange whose session has an empty native id carries only projects and notes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProjectedExchange {
    /// Session metadata.
    pub session: ProjectedSession,
    /// Messages in the order they were written.
    pub messages: Vec<ProjectedMessage>,
    /// One entry per billed model response (SPEC §6).
    pub usage: Vec<ProjectedUsage>,
    /// Projects (workspaces) known to the client.
    pub projects: Vec<ProjectedProject>,
    /// Lossy or dropped fields of this import, one note each.
    pub notes: Vec<ImportNote>,
    /// Sessions of other clients this session points at (e.g. the Claude session a legacy worker resumes).
    pub references: Vec<SessionReference>,
    /// Rate-limit windows the vendor's server reported during the session (Codex `token_count`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<ProjectedRateLimit>,
    /// Position of `messages[0]` in the whole session: non-zero when a parse continues an appended
    /// file from its last checkpoint, so the continuation keeps the session's message order.
    #[serde(skip_serializing_if = "is_zero")]
    pub seq_base: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl ProjectedExchange {
    /// Moves the first `count` messages, with the usage they carried, into an exchange of their own
    /// for the same session, so a long session can be written while the rest is still parsed. The
    /// part keeps the session's projects, notes and references, and usage tied to no message; its
    /// `seq_base` moves past the split-off messages, so sequence numbers stay the session's own.
    pub fn split_front(&mut self, count: usize) -> ProjectedExchange {
        let count = count.min(self.messages.len());
        let messages: Vec<ProjectedMessage> = self.messages.drain(..count).collect();
        let keys: std::collections::HashSet<&str> =
            messages.iter().map(|message| message.identity.key.as_str()).collect();
        let (usage, kept): (Vec<ProjectedUsage>, Vec<ProjectedUsage>) = std::mem::take(&mut self.usage)
            .into_iter()
            .partition(|usage| usage.message_key.as_deref().is_some_and(|key| keys.contains(key)));
        self.usage = kept;
        let front = ProjectedExchange {
            session: self.session.clone(),
            messages,
            usage,
            projects: Vec::new(),
            notes: Vec::new(),
            references: Vec::new(),
            rate_limits: Vec::new(),
            seq_base: self.seq_base,
        };
        self.seq_base += count as u64;
        front
    }
}

/// A project (workspace) as a client registered it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProjectedProject {
    pub client: String,
    pub native_id: String,
    /// The file the project was read from (hashed for provenance, never stored raw).
    pub source_path: PathBuf,
    /// The project's directory (user data, not a source file path).
    pub path: Option<String>,
    pub display_name: Option<String>,
    pub session_prefix: Option<String>,
    pub default_branch: Option<String>,
    pub registered_at: Option<Timestamp>,
    /// Settings as the client stored them (lossless) and as hindcast maps them.
    pub settings: Value,
}

/// One lossy or dropped field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportNote {
    /// Native id of the project the note is about, if any.
    pub project: Option<String>,
    /// Native id of the session the note is about, if any.
    pub session: Option<String>,
    /// The field concerned (`permissions`, `codexModel`, ...).
    pub field: String,
    pub note: String,
}

/// A pointer from a session to a session of another client, resolved when both are imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionReference {
    /// `resumes`, ...
    pub kind: String,
    pub target_client: String,
    pub target_native_id: String,
}

/// Session metadata (SPEC §2 `sessions`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProjectedSession {
    /// Client name (`claude`, `codex`, `legacy`).
    pub client: String,
    /// The client's own session id.
    pub native_id: String,
    /// The file the session was read from (hashed for provenance, never stored raw).
    pub source_path: PathBuf,
    pub title: Option<String>,
    pub cwd: Option<String>,
    pub git: GitInfo,
    pub client_version: Option<String>,
    /// Entry point or originator (`cli`, `claude-vscode`, `codex_exec`, ...).
    pub entrypoint: Option<String>,
    /// Distinct models used, in first-use order.
    pub models: Vec<String>,
    pub permission_mode: Option<String>,
    pub sandbox_mode: Option<String>,
    pub approval_mode: Option<String>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Link to the parent session, when this session continues, forks or was spawned by another.
    pub parent: Option<SessionLink>,
    /// Further provider-specific metadata, stored as JSON.
    pub metadata: serde_json::Map<String, Value>,
}

/// Git state of the working directory, as far as the client recorded it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GitInfo {
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub origin_url: Option<String>,
    pub dirty: Option<bool>,
}

/// How a session relates to its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Subagent,
    Continuation,
    Fork,
    Sidechain,
}

impl Relationship {
    /// The value stored in `sessions.relationship`.
    pub fn as_str(self) -> &'static str {
        match self {
            Relationship::Subagent => "subagent",
            Relationship::Continuation => "continuation",
            Relationship::Fork => "fork",
            Relationship::Sidechain => "sidechain",
        }
    }
}

/// A link from a session to its parent session (same client).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionLink {
    pub parent_native_id: String,
    pub relationship: Relationship,
    /// The tool call in the parent that spawned this session, when known.
    pub spawning_tool_call_id: Option<String>,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
    Developer,
    Tool,
    Other,
}

impl Role {
    /// The value stored in `messages.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Developer => "developer",
            Role::Tool => "tool",
            Role::Other => "other",
        }
    }
}

/// Whether a message id comes from the client or was derived by hindcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// The client wrote a stable id for the message (Claude `uuid`, Codex item id).
    Native,
    /// No native id: see [`MessageIdentity::fallback`].
    Fallback,
}

impl IdentitySource {
    /// The value stored in `messages.identity_source`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::Native => "native",
            IdentitySource::Fallback => "fallback",
        }
    }
}

/// The stable key a message id is derived from.
///
/// The provider chooses `key` so that the same message always gets the same key, and two different
/// messages never share one. The stored `message_id` is `sha256("message", client, key)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageIdentity {
    pub source: IdentitySource,
    pub key: String,
}

impl MessageIdentity {
    /// An identity built from the client's own id (optionally scoped, e.g. by session).
    pub fn native(key: impl Into<String>) -> Self {
        Self { source: IdentitySource::Native, key: key.into() }
    }

    /// The documented fallback for clients without message ids: the session's native id, the
    /// message's ordinal within the session's source (0-based, counting every projected message in
    /// file order) and a digest of the message content. Stable for append-only sources: appending
    /// never changes the ordinal or content of an earlier message.
    pub fn fallback(session_native_id: &str, ordinal: u64, content_digest: &str) -> Self {
        Self { source: IdentitySource::Fallback, key: format!("{session_native_id}#{ordinal}#{content_digest}") }
    }
}

/// Boolean facts about a message (SPEC §2 `messages` flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MessageFlags {
    /// Part of a sub-agent or side thread.
    pub sidechain: bool,
    /// Harness-written content the user did not type (Claude `isMeta`).
    pub meta: bool,
    /// Injected context (AGENTS.md, environment context, developer instructions).
    pub injected: bool,
    /// The summary written after a compaction.
    pub compact_summary: bool,
    /// The compaction boundary marker itself.
    pub compact_boundary: bool,
    /// An API error the client recorded as a message.
    pub api_error: bool,
    /// Dropped from the conversation by a later rewind, checkpoint or revert in the client: kept
    /// (its usage was billed) but not shown as part of the conversation.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rewound: bool,
}

/// A message's native envelope, kept as compact JSON text: a session of thousands of messages
/// holds its frames at about their serialized size instead of as trees of values.
#[derive(Clone, Debug)]
pub struct RawFrame(Box<serde_json::value::RawValue>);

impl RawFrame {
    /// The frame of `value`.
    pub fn new(value: &Value) -> Self {
        Self(serde_json::value::to_raw_value(value).expect("serializing a serde_json::Value cannot fail"))
    }

    /// The frame as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).expect("a frame is valid JSON")
    }

    /// Changes the frame through its JSON value.
    pub fn update(&mut self, change: impl FnOnce(&mut Value)) {
        let mut value = self.value();
        change(&mut value);
        *self = Self::new(&value);
    }

    /// The frame's JSON text, as stored.
    pub fn into_text(self) -> String {
        let text: Box<str> = self.0.into();
        text.into()
    }
}

impl From<Value> for RawFrame {
    fn from(value: Value) -> Self {
        Self::new(&value)
    }
}

impl PartialEq for RawFrame {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// Serialized as the JSON value it holds, whatever the serializer.
impl Serialize for RawFrame {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

/// One message of a session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProjectedMessage {
    pub identity: MessageIdentity,
    /// The client's id for the message, when it has one.
    pub native_id: Option<String>,
    /// Identity key of the parent message in the native DAG.
    pub parent_key: Option<String>,
    pub role: Role,
    pub timestamp: Option<Timestamp>,
    pub model: Option<String>,
    pub flags: MessageFlags,
    /// The native envelope minus bulky content. Never the full transcript line.
    pub raw_frame: Option<RawFrame>,
    pub parts: Vec<MessagePart>,
    /// The file this message was read from, when it differs from the session's.
    pub source_path: Option<PathBuf>,
}

/// What a part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    Image,
    Other,
}

impl PartKind {
    /// The value stored in `parts.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Text => "text",
            PartKind::Thinking => "thinking",
            PartKind::ToolCall => "tool_call",
            PartKind::ToolResult => "tool_result",
            PartKind::Image => "image",
            PartKind::Other => "other",
        }
    }
}

/// One content block of a message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessagePart {
    pub kind: PartKind,
    pub text: Option<String>,
    pub tool_name: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_input: Option<Value>,
    pub is_error: Option<bool>,
    /// Kind-specific metadata (image media type and size, unknown block type, ...).
    pub metadata: Option<Value>,
}

impl MessagePart {
    /// A part of `kind` with every optional field empty.
    pub fn new(kind: PartKind) -> Self {
        Self { kind, text: None, tool_name: None, tool_call_id: None, tool_input: None, is_error: None, metadata: None }
    }

    /// A plain text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: Some(text.into()), ..Self::new(PartKind::Text) }
    }
}

/// Token usage of one billed model response (SPEC §6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProjectedUsage {
    /// Stable key of the billed response (Claude `message.id` + `requestId`); hashed into `usage_id`.
    pub key: String,
    /// Identity key of the message that carried the usage, when there is one.
    pub message_key: Option<String>,
    pub model: Option<String>,
    pub timestamp: Option<Timestamp>,
    /// All input tokens, cached ones included.
    pub input_tokens: u64,
    /// All output tokens, reasoning included.
    pub output_tokens: u64,
    /// Input tokens served from cache (a subset of `input_tokens`).
    pub cache_read_tokens: u64,
    /// Input tokens written to the cache.
    pub cache_creation_tokens: u64,
    /// Reasoning tokens (a subset of `output_tokens`).
    pub reasoning_tokens: u64,
    /// Of the cache writes, those kept five minutes and those kept an hour (priced differently),
    /// when the client records the split.
    pub cache_creation_5m_tokens: Option<u64>,
    pub cache_creation_1h_tokens: Option<u64>,
    /// The service tier (`standard`, `priority`, `batch`) and speed the response was served at,
    /// when the client records them.
    pub service_tier: Option<String>,
    pub speed: Option<String>,
}

/// How much of one rate-limit window was used, as the vendor's server reported it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProjectedRateLimit {
    /// When the server reported it.
    pub observed_at: Timestamp,
    /// Which window: Codex's `primary` and `secondary`, Claude's `five_hour` and `seven_day`.
    pub window: String,
    /// The window's length, when reported.
    pub window_minutes: Option<i64>,
    pub used_percent: f64,
    pub resets_at: Option<Timestamp>,
    /// The account's plan, when reported (`plus`, `pro`, ...).
    pub plan: Option<String>,
}

/// The largest token count taken at face value (a quadrillion): sums of a few such counts cannot
/// overflow, and every count fits the store's signed 64-bit integers.
pub const MAX_TOKEN_COUNT: u64 = 1_000_000_000_000_000;

/// A token count from a client's JSON: a non-negative integer up to `MAX_TOKEN_COUNT`. Anything
/// else (missing, negative, fractional, text, absurdly large — a corrupt record) counts as 0.
pub fn token_count(value: &Value) -> u64 {
    value.as_u64().filter(|count| *count <= MAX_TOKEN_COUNT).unwrap_or(0)
}

#[cfg(test)]
mod token_count_tests {
    use super::*;

    #[test]
    fn only_plausible_non_negative_integers_count() {
        let counts: Vec<u64> = [
            serde_json::json!(12),
            serde_json::json!(MAX_TOKEN_COUNT),
            serde_json::json!(MAX_TOKEN_COUNT + 1),
            serde_json::json!(u64::MAX),
            serde_json::json!(-5),
            serde_json::json!(1.5),
            serde_json::json!("7"),
            Value::Null,
        ]
        .iter()
        .map(token_count)
        .collect();
        assert_eq!(counts, [12, MAX_TOKEN_COUNT, 0, 0, 0, 0, 0, 0]);
    }
}
