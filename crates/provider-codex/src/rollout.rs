//! What Codex rollouts say about themselves: the file-name pattern, and the head facts of a
//! thread's first record (id, cwd, start, parent, review sub-agent). Pure: discovery, parsing and
//! projection all read these, none of them opens a file here.

use jiff::Timestamp;
use serde_json::Value;

/// What a rollout file name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutName {
    /// The logical thread id (UUID).
    pub thread_id: String,
    /// The `_<segment>` suffix of a paginated thread, if any.
    pub segment: Option<String>,
    /// `json` (G0 document), `jsonl`, or `jsonl.zst`.
    pub format: &'static str,
}

/// Parses `rollout-<timestamp>-<uuid>[_<segment>].{json,jsonl,jsonl.zst}`.
pub fn parse_rollout_name(file_name: &str) -> Option<RolloutName> {
    let rest = file_name.strip_prefix("rollout-")?;
    let (stem, format) = if let Some(stem) = rest.strip_suffix(".jsonl.zst") {
        (stem, "jsonl.zst")
    } else if let Some(stem) = rest.strip_suffix(".jsonl") {
        (stem, "jsonl")
    } else {
        (rest.strip_suffix(".json")?, "json")
    };
    let (with_uuid, segment) = match stem.rfind('_') {
        Some(index) if index + 1 < stem.len() => (&stem[..index], Some(stem[index + 1..].to_string())),
        _ => (stem, None),
    };
    let thread_id = with_uuid.get(with_uuid.len().checked_sub(36)?..)?;
    is_uuid(thread_id).then(|| RolloutName { thread_id: thread_id.to_ascii_lowercase(), segment, format })
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(index, c)| match index {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// What a thread's first record says about it (read during discovery: one line per file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadHead {
    pub thread_id: Option<String>,
    pub cwd: Option<String>,
    pub started_at: Option<Timestamp>,
    /// The parent named by the record: spawn parent, `parent_thread_id`, `forked_from_id` or `history_base`.
    pub parent_thread_id: Option<String>,
    /// A `/review` sub-agent, which names no parent (linked by time in the parse).
    pub is_review: bool,
}

/// The head facts of a `session_meta` payload.
pub fn head_from_meta(meta: &Value) -> ThreadHead {
    let text =
        |value: Option<&Value>| value.and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_string);
    let subagent = subagent_source(meta);
    let spawn_parent =
        subagent.and_then(|source| source.get("thread_spawn")).and_then(|spawn| spawn.get("parent_thread_id"));
    let parent = text(spawn_parent)
        .or_else(|| text(meta.get("parent_thread_id")))
        .or_else(|| text(meta.get("forked_from_id")))
        .or_else(|| text(meta.get("history_base").and_then(|base| base.get("thread_id"))));
    let id = text(meta.get("id"));
    ThreadHead {
        parent_thread_id: parent.filter(|parent| Some(parent) != id.as_ref()),
        thread_id: id,
        cwd: text(meta.get("cwd")),
        started_at: text(meta.get("timestamp")).and_then(|stamp| stamp.parse().ok()),
        is_review: subagent.is_some_and(|source| {
            source.as_str().is_some_and(|kind| kind.eq_ignore_ascii_case("review"))
                || source.get("review").is_some()
                || source.get("Review").is_some()
        }),
    }
}

/// `source.subagent` (or the 2025-10-29 `SubAgent` spelling), when the thread is a sub-agent.
pub fn subagent_source(meta: &Value) -> Option<&Value> {
    let source = meta.get("source")?;
    source.get("subagent").or_else(|| source.get("SubAgent")).or_else(|| source.get("Subagent"))
}

/// The session meta of a rollout's first record, in any generation: a `session_meta` line's
/// payload, a G0 document's `session`, or the record itself.
pub fn meta_of_first_record(first: Value) -> Value {
    if first.get("type").and_then(Value::as_str) == Some("session_meta") {
        first.get("payload").cloned().unwrap_or(Value::Null)
    } else if let Some(session) = first.get("session") {
        session.clone()
    } else {
        first
    }
}
