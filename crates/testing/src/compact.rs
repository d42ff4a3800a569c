//! Exchanges rendered as compact text, one line per session, message and usage record, so a
//! projection rule can be checked against a few readable lines instead of a large JSON snapshot.

use std::fmt::Write;

use hindcast_core::model::{MessagePart, PartKind, ProjectedExchange};

/// How many characters of a part's text the rendering keeps.
const TEXT_CHARS: usize = 40;

/// One block per exchange:
///
/// ```text
/// session s1 parent=p (subagent) title="Fix it"
///   0 user u1 [text "hello"]
///   1 assistant a1 parent=u1 [text "hi", tool_call Bash]
///   resumes claude:abc
///   note agent: no harness recorded
///   usage msg_1/req_1 model=m in=10 out=5 cache_read=2 cache_write=3 reasoning=0 -> a1
/// ```
/// An exchange of projects and notes alone renders as `session ` with an empty id.
pub fn compact_text(exchanges: &[ProjectedExchange]) -> String {
    let mut out = String::new();
    for exchange in exchanges {
        let session = &exchange.session;
        let _ = write!(out, "session {}", session.native_id);
        if let Some(parent) = &session.parent {
            let _ = write!(out, " parent={} ({})", parent.parent_native_id, parent.relationship.as_str());
        }
        if let Some(title) = &session.title {
            let _ = write!(out, " title={title:?}");
        }
        out.push('\n');
        for (seq, message) in exchange.messages.iter().enumerate() {
            let _ =
                write!(out, "  {} {} {}", exchange.seq_base + seq as u64, message.role.as_str(), message.identity.key);
            if let Some(parent) = &message.parent_key {
                let _ = write!(out, " parent={parent}");
            }
            let flags = &message.flags;
            for (set, name) in [
                (flags.sidechain, "sidechain"),
                (flags.meta, "meta"),
                (flags.injected, "injected"),
                (flags.compact_summary, "compact_summary"),
                (flags.compact_boundary, "compact_boundary"),
                (flags.api_error, "api_error"),
            ] {
                if set {
                    let _ = write!(out, " {name}");
                }
            }
            let parts: Vec<String> = message.parts.iter().map(part_text).collect();
            let _ = writeln!(out, " [{}]", parts.join(", "));
        }
        for reference in &exchange.references {
            let _ = writeln!(out, "  {} {}:{}", reference.kind, reference.target_client, reference.target_native_id);
        }
        for note in &exchange.notes {
            let _ = writeln!(out, "  note {}: {}", note.field, note.note);
        }
        for usage in &exchange.usage {
            let _ = write!(
                out,
                "  usage {} model={} in={} out={} cache_read={} cache_write={} reasoning={}",
                usage.key,
                usage.model.as_deref().unwrap_or("-"),
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.cache_creation_tokens,
                usage.reasoning_tokens
            );
            if let Some(message) = &usage.message_key {
                let _ = write!(out, " -> {message}");
            }
            out.push('\n');
        }
    }
    out
}

fn part_text(part: &MessagePart) -> String {
    let mut text = part.kind.as_str().to_string();
    if let Some(name) = &part.tool_name {
        text.push(' ');
        text.push_str(name);
    }
    if part.kind == PartKind::ToolResult && part.is_error == Some(true) {
        text.push_str(" error");
    }
    if let Some(body) = &part.text {
        let shown: String = body.chars().take(TEXT_CHARS).collect();
        let _ = write!(text, " {shown:?}");
    }
    text
}
