//! Materializers turn projected exchanges into canonical rows; `messages` is the first dataset.

use serde::Serialize;
use serde_json::Value;

use crate::identity;
use crate::model::{
    PartKind, ProjectedExchange, ProjectedMessage, ProjectedProject, ProjectedSession, ProjectedUsage, RawFrame,
    Relationship, Role, SessionReference,
};
use crate::tables::{PerTable, Table};
use crate::time_window::format_timestamp;

/// The dataset of sessions, messages, parts and usage.
pub const MESSAGES_DATASET: &str = "messages";

/// Why an exchange could not be turned into rows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaterializeError {
    #[error("dataset mismatch: the {materializer} materializer produces '{expected}' but was given '{actual}'")]
    DatasetMismatch { materializer: String, expected: String, actual: String },
    #[error("session {native_id}: {message}")]
    Invalid { native_id: String, message: String },
}

/// Who is writing: stamped on every row as provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenanceContext {
    pub provider: String,
    pub run_id: String,
}

/// Provenance columns shared by every row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub provider: String,
    pub source_path_sha256: String,
    pub native_id: Option<String>,
    pub run_id: String,
}

/// A row of `sessions`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionRow {
    pub session_id: String,
    pub client: String,
    pub native_id: String,
    pub title: Option<String>,
    pub cwd: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub git_origin_url: Option<String>,
    pub git_dirty: Option<bool>,
    pub client_version: Option<String>,
    pub entrypoint: Option<String>,
    /// JSON array of model names.
    pub models: String,
    pub permission_mode: Option<String>,
    pub sandbox_mode: Option<String>,
    pub approval_mode: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub parent_session_id: Option<String>,
    pub relationship: Option<String>,
    pub parent_tool_call_id: Option<String>,
    /// JSON object of provider-specific metadata.
    pub metadata: String,
    /// What the daily rollups count as the session's project: `metadata.project_path`, else the cwd.
    pub project_key: Option<String>,
    pub provenance: Provenance,
}

/// A row of `messages`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageRow {
    pub message_id: String,
    pub session_id: String,
    pub parent_message_id: Option<String>,
    /// Position within the exchange, for a stable file order.
    pub seq: u64,
    pub role: &'static str,
    pub timestamp: Option<String>,
    pub model: Option<String>,
    pub is_sidechain: bool,
    pub is_meta: bool,
    pub is_injected: bool,
    pub is_compact_summary: bool,
    pub is_compact_boundary: bool,
    pub is_api_error: bool,
    /// Dropped from the conversation by a rewind in the client (its usage still counts).
    pub is_rewound: bool,
    /// A prompt a human typed: a user message with text that is not a tool result, harness meta,
    /// injected context, a compaction summary or sub-agent traffic.
    pub is_user_prompt: bool,
    /// Tool-call parts of the message.
    pub tool_calls: u64,
    /// Part of a sub-agent session or a side thread.
    pub is_subagent: bool,
    pub identity_source: &'static str,
    pub raw_frame: Option<String>,
    pub provenance: Provenance,
}

/// A row of `parts`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartRow {
    pub part_id: String,
    pub message_id: String,
    pub part_index: u64,
    pub kind: &'static str,
    pub text: Option<String>,
    pub tool_name: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_input: Option<String>,
    pub is_error: Option<bool>,
    pub metadata: Option<String>,
    pub provenance: Provenance,
}

/// A row of `usage`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsageRow {
    pub usage_id: String,
    pub session_id: String,
    pub message_id: Option<String>,
    pub model: Option<String>,
    pub timestamp: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub reasoning_tokens: u64,
    pub cache_creation_5m_tokens: Option<u64>,
    pub cache_creation_1h_tokens: Option<u64>,
    pub service_tier: Option<String>,
    pub speed: Option<String>,
    pub provenance: Provenance,
}

/// A row of `projects`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProjectRow {
    pub project_id: String,
    pub client: String,
    pub native_id: String,
    pub path: Option<String>,
    pub display_name: Option<String>,
    pub session_prefix: Option<String>,
    pub default_branch: Option<String>,
    pub registered_at: Option<String>,
    /// JSON.
    pub settings: String,
    pub provenance: Provenance,
}

/// A row of `import_notes`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportNoteRow {
    pub note_id: String,
    pub client: String,
    pub project_id: Option<String>,
    pub session_id: Option<String>,
    pub field: String,
    pub note: String,
    pub provenance: Provenance,
}

/// A row of `session_refs`: a session pointing at another client's session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionRefRow {
    pub ref_id: String,
    pub session_id: String,
    pub kind: String,
    pub target_client: String,
    pub target_native_id: String,
    /// The id the target session has (or will have) once imported.
    pub target_session_id: String,
    pub provenance: Provenance,
}

/// A row of `rate_limit`: one window's use as the server reported it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateLimitRow {
    pub client: String,
    pub session_id: String,
    pub observed_at: String,
    pub window: String,
    pub window_minutes: Option<i64>,
    pub used_percent: f64,
    pub resets_at: Option<String>,
    pub plan: Option<String>,
}

/// The rows one exchange materializes into.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RowBatch {
    pub sessions: Vec<SessionRow>,
    pub messages: Vec<MessageRow>,
    pub parts: Vec<PartRow>,
    pub usage: Vec<UsageRow>,
    pub projects: Vec<ProjectRow>,
    pub import_notes: Vec<ImportNoteRow>,
    pub session_refs: Vec<SessionRefRow>,
    pub rate_limits: Vec<RateLimitRow>,
}

impl RowBatch {
    /// Rows per table.
    pub fn lengths(&self) -> PerTable<u64> {
        PerTable::from_fn(|table| {
            (match table {
                Table::Sessions => self.sessions.len(),
                Table::Messages => self.messages.len(),
                Table::Parts => self.parts.len(),
                Table::Usage => self.usage.len(),
                Table::Projects => self.projects.len(),
                Table::ImportNotes => self.import_notes.len(),
                Table::SessionRefs => self.session_refs.len(),
                Table::RateLimits => self.rate_limits.len(),
            }) as u64
        })
    }

    /// Total number of rows.
    pub fn len(&self) -> usize {
        self.lengths().total() as usize
    }

    /// True when the batch holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Turns exchanges of one dataset into rows.
pub trait Materializer: Send + Sync {
    /// Registry name.
    fn name(&self) -> &str;

    /// The dataset this materializer produces.
    fn dataset(&self) -> &str;

    /// Materializes one exchange that a provider emitted for `dataset`. The exchange is consumed:
    /// its text moves into the rows instead of being copied, so a large session is held once.
    fn materialize(
        &self,
        dataset: &str,
        exchange: ProjectedExchange,
        context: &ProvenanceContext,
    ) -> Result<RowBatch, MaterializeError>;
}

/// The `messages` materializer: sessions, messages, parts and usage with deterministic ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct MessagesMaterializer;

fn json_text(value: &Value) -> String {
    serde_json::to_string(value).expect("serializing a serde_json::Value cannot fail")
}

impl Materializer for MessagesMaterializer {
    fn name(&self) -> &str {
        MESSAGES_DATASET
    }

    fn dataset(&self) -> &str {
        MESSAGES_DATASET
    }

    fn materialize(
        &self,
        dataset: &str,
        exchange: ProjectedExchange,
        context: &ProvenanceContext,
    ) -> Result<RowBatch, MaterializeError> {
        if dataset != MESSAGES_DATASET {
            return Err(MaterializeError::DatasetMismatch {
                materializer: self.name().to_string(),
                expected: MESSAGES_DATASET.to_string(),
                actual: dataset.to_string(),
            });
        }
        let session = &exchange.session;
        let mut batch = RowBatch {
            projects: project_rows(&exchange.projects, context),
            import_notes: note_rows(&exchange, context),
            ..RowBatch::default()
        };
        if session.native_id.is_empty() {
            if exchange.messages.is_empty()
                && exchange.usage.is_empty()
                && exchange.references.is_empty()
                && exchange.rate_limits.is_empty()
            {
                return Ok(batch);
            }
            return Err(MaterializeError::Invalid {
                native_id: String::new(),
                message: "messages, usage, references or rate limits need a session with a client and a native id"
                    .into(),
            });
        }
        if session.client.is_empty() {
            return Err(MaterializeError::Invalid {
                native_id: session.native_id.clone(),
                message: "a session needs a client and a native id".into(),
            });
        }
        let scope = SessionScope::of(session, context);
        batch.session_refs = session_ref_rows(&exchange.references, &scope);
        batch.sessions.push(session_row(session, &scope));
        batch.usage = usage_rows(&exchange.usage, &scope);
        batch.rate_limits = exchange
            .rate_limits
            .iter()
            .map(|limit| RateLimitRow {
                client: scope.client.to_string(),
                session_id: scope.session_id.clone(),
                observed_at: format_timestamp(limit.observed_at),
                window: limit.window.clone(),
                window_minutes: limit.window_minutes,
                used_percent: limit.used_percent,
                resets_at: limit.resets_at.map(format_timestamp),
                plan: limit.plan.clone(),
            })
            .collect();
        message_rows(exchange.messages, exchange.seq_base, &scope, &mut batch);
        Ok(batch)
    }
}

/// The provenance of a row: the run and provider that wrote it and the source it came from.
fn provenance(context: &ProvenanceContext, source_hash: &str, native_id: Option<&str>) -> Provenance {
    Provenance {
        provider: context.provider.clone(),
        source_path_sha256: source_hash.to_string(),
        native_id: native_id.map(str::to_string),
        run_id: context.run_id.clone(),
    }
}

/// What every row of one session shares: its client, id, source and whether it is a sub-agent.
struct SessionScope<'a> {
    context: &'a ProvenanceContext,
    client: &'a str,
    session_id: String,
    source_hash: String,
    subagent: bool,
}

impl<'a> SessionScope<'a> {
    fn of(session: &'a ProjectedSession, context: &'a ProvenanceContext) -> Self {
        Self {
            context,
            client: &session.client,
            session_id: identity::session_id(&session.client, &session.native_id),
            source_hash: identity::source_path_sha256(&session.source_path),
            subagent: session.parent.as_ref().is_some_and(|link| link.relationship == Relationship::Subagent),
        }
    }

    fn provenance(&self, source_hash: &str, native_id: Option<&str>) -> Provenance {
        provenance(self.context, source_hash, native_id)
    }
}

fn project_rows(projects: &[ProjectedProject], context: &ProvenanceContext) -> Vec<ProjectRow> {
    projects
        .iter()
        .map(|project| ProjectRow {
            project_id: identity::project_id(&project.client, &project.native_id),
            client: project.client.clone(),
            native_id: project.native_id.clone(),
            path: project.path.clone(),
            display_name: project.display_name.clone(),
            session_prefix: project.session_prefix.clone(),
            default_branch: project.default_branch.clone(),
            registered_at: project.registered_at.map(format_timestamp),
            settings: json_text(&project.settings),
            provenance: provenance(
                context,
                &identity::source_path_sha256(&project.source_path),
                Some(&project.native_id),
            ),
        })
        .collect()
}

/// Notes belong to the client and source of the exchange's first project, else of its session.
fn note_rows(exchange: &ProjectedExchange, context: &ProvenanceContext) -> Vec<ImportNoteRow> {
    let first_project = exchange.projects.first();
    let client = first_project.map_or(exchange.session.client.as_str(), |project| project.client.as_str());
    let source_hash = identity::source_path_sha256(
        first_project.map_or(exchange.session.source_path.as_path(), |project| project.source_path.as_path()),
    );
    exchange
        .notes
        .iter()
        .map(|note| ImportNoteRow {
            note_id: identity::note_id(client, note),
            client: client.to_string(),
            project_id: note.project.as_deref().map(|id| identity::project_id(client, id)),
            session_id: note.session.as_deref().map(|id| identity::session_id(client, id)),
            field: note.field.clone(),
            note: note.note.clone(),
            provenance: provenance(context, &source_hash, note.session.as_deref().or(note.project.as_deref())),
        })
        .collect()
}

fn session_ref_rows(references: &[SessionReference], scope: &SessionScope<'_>) -> Vec<SessionRefRow> {
    references
        .iter()
        .map(|reference| SessionRefRow {
            ref_id: identity::session_ref_id(&scope.session_id, reference),
            session_id: scope.session_id.clone(),
            kind: reference.kind.clone(),
            target_client: reference.target_client.clone(),
            target_native_id: reference.target_native_id.clone(),
            target_session_id: identity::session_id(&reference.target_client, &reference.target_native_id),
            provenance: scope.provenance(&scope.source_hash, Some(&reference.target_native_id)),
        })
        .collect()
}

fn session_row(session: &ProjectedSession, scope: &SessionScope<'_>) -> SessionRow {
    SessionRow {
        session_id: scope.session_id.clone(),
        client: scope.client.to_string(),
        native_id: session.native_id.clone(),
        title: session.title.clone(),
        cwd: session.cwd.clone(),
        git_branch: session.git.branch.clone(),
        git_commit: session.git.commit.clone(),
        git_origin_url: session.git.origin_url.clone(),
        git_dirty: session.git.dirty,
        client_version: session.client_version.clone(),
        entrypoint: session.entrypoint.clone(),
        models: json_text(&Value::from(session.models.clone())),
        permission_mode: session.permission_mode.clone(),
        sandbox_mode: session.sandbox_mode.clone(),
        approval_mode: session.approval_mode.clone(),
        started_at: session.started_at.map(format_timestamp),
        ended_at: session.ended_at.map(format_timestamp),
        parent_session_id: session
            .parent
            .as_ref()
            .map(|link| identity::session_id(scope.client, &link.parent_native_id)),
        relationship: session.parent.as_ref().map(|link| link.relationship.as_str().to_string()),
        parent_tool_call_id: session.parent.as_ref().and_then(|link| link.spawning_tool_call_id.clone()),
        metadata: json_text(&Value::Object(session.metadata.clone())),
        project_key: session
            .metadata
            .get("project_path")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| session.cwd.clone()),
        provenance: scope.provenance(&scope.source_hash, Some(&session.native_id)),
    }
}

/// The message rows and their part rows, in order; texts move from the exchange into the rows.
fn message_rows(messages: Vec<ProjectedMessage>, seq_base: u64, scope: &SessionScope<'_>, batch: &mut RowBatch) {
    // Sized up front: a long session has tens of thousands of rows, and a doubling vector
    // would hold up to twice their size while it grows.
    batch.messages.reserve_exact(messages.len());
    batch.parts.reserve_exact(messages.iter().map(|message| message.parts.len()).sum());
    for (seq, message) in messages.into_iter().enumerate() {
        let message_id = identity::message_id(scope.client, &message.identity.key);
        let source_hash = message
            .source_path
            .as_deref()
            .map(identity::source_path_sha256)
            .unwrap_or_else(|| scope.source_hash.clone());
        let native_id = message.native_id.as_deref();
        let is_user_prompt = message.role == Role::User
            && !(message.flags.meta
                || message.flags.injected
                || message.flags.compact_summary
                || message.flags.sidechain
                || scope.subagent)
            && message.parts.iter().any(|part| part.kind == PartKind::Text)
            && !message.parts.iter().any(|part| part.kind == PartKind::ToolResult);
        let tool_calls = message.parts.iter().filter(|part| part.kind == PartKind::ToolCall).count() as u64;
        for (part_index, part) in message.parts.into_iter().enumerate() {
            batch.parts.push(PartRow {
                part_id: identity::part_id(&message_id, part_index),
                message_id: message_id.clone(),
                part_index: part_index as u64,
                kind: part.kind.as_str(),
                text: part.text,
                tool_name: part.tool_name,
                tool_call_id: part.tool_call_id,
                tool_input: part.tool_input.as_ref().map(json_text),
                is_error: part.is_error,
                metadata: part.metadata.as_ref().map(json_text),
                provenance: scope.provenance(&source_hash, native_id),
            });
        }
        batch.messages.push(MessageRow {
            message_id,
            session_id: scope.session_id.clone(),
            parent_message_id: message.parent_key.as_deref().map(|key| identity::message_id(scope.client, key)),
            seq: seq_base + seq as u64,
            role: message.role.as_str(),
            timestamp: message.timestamp.map(format_timestamp),
            model: message.model,
            is_sidechain: message.flags.sidechain,
            is_meta: message.flags.meta,
            is_injected: message.flags.injected,
            is_compact_summary: message.flags.compact_summary,
            is_compact_boundary: message.flags.compact_boundary,
            is_api_error: message.flags.api_error,
            is_rewound: message.flags.rewound,
            is_user_prompt,
            tool_calls,
            is_subagent: message.flags.sidechain || scope.subagent,
            identity_source: message.identity.source.as_str(),
            raw_frame: message.raw_frame.map(RawFrame::into_text),
            provenance: scope.provenance(&source_hash, native_id),
        });
    }
}

fn usage_rows(usage: &[ProjectedUsage], scope: &SessionScope<'_>) -> Vec<UsageRow> {
    usage
        .iter()
        .map(|usage| UsageRow {
            usage_id: identity::usage_id(scope.client, &usage.key),
            session_id: scope.session_id.clone(),
            message_id: usage.message_key.as_deref().map(|key| identity::message_id(scope.client, key)),
            model: usage.model.clone(),
            timestamp: usage.timestamp.map(format_timestamp),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_creation_tokens: usage.cache_creation_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            cache_creation_5m_tokens: usage.cache_creation_5m_tokens,
            cache_creation_1h_tokens: usage.cache_creation_1h_tokens,
            service_tier: usage.service_tier.clone(),
            speed: usage.speed.clone(),
            provenance: scope.provenance(&scope.source_hash, Some(&usage.key)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn sample_exchange() -> ProjectedExchange {
        let mut message = ProjectedMessage {
            identity: MessageIdentity::native("uuid-1"),
            native_id: Some("uuid-1".into()),
            parent_key: None,
            role: Role::User,
            timestamp: Some("2026-01-02T03:04:05.678Z".parse().unwrap()),
            model: None,
            flags: MessageFlags::default(),
            raw_frame: Some(serde_json::json!({"type": "user", "uuid": "uuid-1"}).into()),
            parts: vec![MessagePart::text("hello")],
            source_path: None,
        };
        let mut reply = message.clone();
        reply.identity = MessageIdentity::native("uuid-2");
        reply.native_id = Some("uuid-2".into());
        reply.parent_key = Some("uuid-1".into());
        reply.role = Role::Assistant;
        reply.model = Some("model-a".into());
        reply.parts = vec![
            MessagePart::text("hi"),
            MessagePart {
                tool_name: Some("Read".into()),
                tool_call_id: Some("toolu_1".into()),
                tool_input: Some(serde_json::json!({"file_path": "/x"})),
                ..MessagePart::new(PartKind::ToolCall)
            },
        ];
        message.flags.meta = true;
        ProjectedExchange {
            session: ProjectedSession {
                client: "claude".into(),
                native_id: "s-1".into(),
                source_path: "/home/u/.claude/projects/p/s-1.jsonl".into(),
                title: Some("A title".into()),
                models: vec!["model-a".into()],
                started_at: Some("2026-01-02T03:04:05.678Z".parse().unwrap()),
                ..ProjectedSession::default()
            },
            messages: vec![message, reply],
            usage: vec![ProjectedUsage {
                key: "msg_1/req_1".into(),
                message_key: Some("uuid-2".into()),
                model: Some("model-a".into()),
                input_tokens: 10,
                output_tokens: 5,
                ..ProjectedUsage::default()
            }],
            ..ProjectedExchange::default()
        }
    }

    fn context() -> ProvenanceContext {
        ProvenanceContext { provider: "claude".into(), run_id: "run-1".into() }
    }

    #[test]
    fn materializes_deterministic_rows_with_provenance() {
        let batch = MessagesMaterializer.materialize(MESSAGES_DATASET, sample_exchange(), &context()).unwrap();
        let again = MessagesMaterializer.materialize(MESSAGES_DATASET, sample_exchange(), &context()).unwrap();
        assert_eq!(batch, again, "same input, same rows");
        assert_eq!((batch.sessions.len(), batch.messages.len(), batch.parts.len(), batch.usage.len()), (1, 2, 3, 1));
        assert_eq!(batch.messages[1].parent_message_id.as_deref(), Some(batch.messages[0].message_id.as_str()));
        assert_eq!(batch.usage[0].message_id.as_deref(), Some(batch.messages[1].message_id.as_str()));
        assert_eq!(batch.messages[0].timestamp.as_deref(), Some("2026-01-02T03:04:05.678Z"));
        let raw_path = "/home/u/.claude/projects/p/s-1.jsonl";
        let serialized = serde_json::to_string(&batch).unwrap();
        assert!(!serialized.contains(raw_path), "raw source paths are never stored");
        assert!(serialized.contains(&identity::sha256_hex(raw_path.as_bytes())));
        insta::assert_json_snapshot!(batch);
    }

    #[test]
    fn refuses_a_dataset_it_does_not_produce() {
        let error = MessagesMaterializer.materialize("tokens", sample_exchange(), &context()).unwrap_err();
        assert_eq!(
            error,
            MaterializeError::DatasetMismatch {
                materializer: "messages".into(),
                expected: "messages".into(),
                actual: "tokens".into()
            }
        );
    }

    #[test]
    fn a_session_split_into_parts_materializes_to_the_rows_of_the_whole() {
        let mut whole = sample_exchange();
        whole.seq_base = 7;
        let mut third = whole.messages[1].clone();
        third.identity = MessageIdentity::native("uuid-3");
        third.native_id = Some("uuid-3".into());
        whole.messages.push(third);
        whole.usage.push(ProjectedUsage { key: "unattributed".into(), input_tokens: 3, ..ProjectedUsage::default() });
        whole.notes.push(ImportNote {
            project: None,
            session: Some("s-1".into()),
            field: "permissions".into(),
            note: "dropped".into(),
        });

        let mut rest = whole.clone();
        let first = rest.split_front(1);
        let second = rest.split_front(1);
        assert_eq!((first.seq_base, second.seq_base, rest.seq_base), (7, 8, 9));
        assert_eq!(first.usage.len() + second.usage.len() + rest.usage.len(), 2);
        assert_eq!(second.usage[0].key, "msg_1/req_1", "usage travels with the message that carried it");
        assert!(first.notes.is_empty() && second.notes.is_empty() && rest.notes.len() == 1);

        let rows = |exchange| MessagesMaterializer.materialize(MESSAGES_DATASET, exchange, &context()).unwrap();
        let expected = rows(whole);
        let mut joined = RowBatch::default();
        for part in [first, second, rest] {
            let batch = rows(part);
            assert_eq!(batch.sessions, expected.sessions, "every part carries the session row");
            joined.messages.extend(batch.messages);
            joined.parts.extend(batch.parts);
            joined.usage.extend(batch.usage);
            joined.import_notes.extend(batch.import_notes);
        }
        assert_eq!(joined.messages, expected.messages);
        assert_eq!(joined.parts, expected.parts);
        joined.usage.sort_by(|a, b| a.usage_id.cmp(&b.usage_id));
        let mut expected_usage = expected.usage.clone();
        expected_usage.sort_by(|a, b| a.usage_id.cmp(&b.usage_id));
        assert_eq!(joined.usage, expected_usage);
        assert_eq!(joined.import_notes, expected.import_notes);
    }

    #[test]
    fn split_front_beyond_the_end_takes_what_there_is() {
        let mut exchange = sample_exchange();
        let front = exchange.split_front(5);
        assert_eq!((front.messages.len(), exchange.messages.len(), exchange.seq_base), (2, 0, 2));
        assert_eq!(exchange.session, front.session);
    }

    #[test]
    fn refuses_messages_without_a_session() {
        let mut exchange = sample_exchange();
        exchange.session.native_id.clear();
        let error = MessagesMaterializer.materialize(MESSAGES_DATASET, exchange, &context()).unwrap_err();
        assert!(matches!(error, MaterializeError::Invalid { .. }));
    }
}
