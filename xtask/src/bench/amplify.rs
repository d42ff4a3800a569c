//! `--corpus real`: the shared corpora's Claude and Codex files (`../shared/corpus`) copied until
//! the corpus reaches the requested size, each copy a history of its own: every UUID (session,
//! message and thread ids, in file names too), agent id and Claude message, request and
//! tool-use id made unique to the copy, and every timestamp moved a week later per copy.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use super::generate::Corpus;
use crate::workspace_root;

/// Where each client's files of the shared corpora are, and where the copies go under the
/// corpus root (`claude/projects/<project>-<copy>`, `codex/sessions/<set>-<copy>`).
fn sources() -> Result<Vec<(PathBuf, String, bool)>> {
    let corpus = workspace_root().join("../shared/corpus");
    if !corpus.is_dir() {
        bail!("--corpus real needs the shared corpus at {}", corpus.display());
    }
    let mut sources = Vec::new();
    for set in ["claude-code-log", "claude-code-viewer"] {
        for project in std::fs::read_dir(corpus.join("claude").join(set))? {
            let project = project?.path();
            if project.is_dir() {
                let name = project.file_name().context("a project name")?.to_string_lossy().into_owned();
                sources.push((project, format!("claude/projects/{name}"), true));
            }
        }
    }
    sources.push((corpus.join("claude/spotter"), "claude/projects/spotter".into(), true));
    for set in ["agent-history", "agtrace", "codemie-code", "localpush"] {
        sources.push((corpus.join("codex").join(set), format!("codex/sessions/{set}"), false));
    }
    sources.sort();
    Ok(sources)
}

/// Writes copies of the shared corpora under `root` until they hold `target_bytes`.
pub fn amplify(root: &Path, target_bytes: u64) -> Result<Corpus> {
    let sources = sources()?;
    let mut corpus = Corpus { bytes: 0, claude_files: Vec::new(), codex_files: Vec::new() };
    let mut copy = 0u64;
    while corpus.bytes < target_bytes {
        let before = corpus.bytes;
        for (source, target, claude) in &sources {
            for entry in walkdir::WalkDir::new(source).follow_links(true).sort_by_file_name() {
                let entry = entry?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let relative = entry.path().strip_prefix(source)?.to_string_lossy().into_owned();
                let text = std::fs::read_to_string(entry.path())
                    .with_context(|| format!("reading {}", entry.path().display()))?;
                let path = root.join(format!("{target}-{copy}")).join(rewrite(&relative, copy));
                std::fs::create_dir_all(path.parent().context("copies live in directories")?)?;
                let text = rewrite(&text, copy);
                std::fs::write(&path, &text)?;
                corpus.bytes += text.len() as u64;
                let transcript = path.extension().is_some_and(|extension| extension == "jsonl");
                match (transcript, *claude) {
                    // Session files (not subagents'): where the append measure adds turns.
                    (true, true) if !relative.contains('/') => corpus.claude_files.push(path),
                    (true, false) => corpus.codex_files.push(path),
                    _ => {}
                }
            }
        }
        if corpus.bytes == before {
            bail!("the shared corpora hold no files");
        }
        copy += 1;
    }
    Ok(corpus)
}

/// `text` as copy `copy` holds it (the first copy as it is): UUIDs mapped to others (the same
/// one to the same one within a copy), agent ids and Claude `msg_`, `req_` and `toolu_` ids
/// marked with the copy, timestamps a week later per copy.
fn rewrite(text: &str, copy: u64) -> String {
    if copy == 0 {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    let mut copied = 0;
    while at < bytes.len() {
        if let Some(uuid) = uuid_at(bytes, at) {
            out.push_str(&text[copied..at]);
            out.push_str(&mapped_uuid(uuid, copy));
            at += 36;
            copied = at;
        } else if let Some(length) = timestamp_at(bytes, at) {
            out.push_str(&text[copied..at]);
            out.push_str(&shifted(&text[at..at + length], copy));
            at += length;
            copied = at;
        } else if let Some(prefix) = ID_PREFIXES.iter().find(|prefix| bytes[at..].starts_with(prefix.as_bytes())) {
            out.push_str(&text[copied..at + prefix.len()]);
            out.push_str(&format!("c{copy}x"));
            at += prefix.len();
            copied = at;
        } else if let Some(prefix) = AGENT_PREFIXES.iter().find(|prefix| bytes[at..].starts_with(prefix.as_bytes())) {
            // An agent id (a subagent session's own id, in its file name too) ends with the copy.
            let start = at + prefix.len();
            let end = start + bytes[start..].iter().take_while(|byte| byte.is_ascii_alphanumeric()).count();
            out.push_str(&text[copied..end]);
            if end > start {
                out.push_str(&format!("c{copy}"));
            }
            at = end;
            copied = end;
        } else {
            at += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Claude message, request and tool-use ids: prefixed with the copy.
const ID_PREFIXES: [&str; 3] = ["\"msg_", "\"req_", "\"toolu_"];
/// Where an agent id starts: suffixed with the copy.
const AGENT_PREFIXES: [&str; 2] = ["agent-", "\"agentId\":\""];

/// The UUID (8-4-4-4-12 hex digits, not inside a longer run of hex digits) starting at `at`.
fn uuid_at(bytes: &[u8], at: usize) -> Option<&str> {
    let candidate = bytes.get(at..at + 36)?;
    if at > 0 && bytes[at - 1].is_ascii_hexdigit() || bytes.get(at + 36).is_some_and(u8::is_ascii_hexdigit) {
        return None;
    }
    let shape = candidate.iter().enumerate().all(|(index, byte)| match index {
        8 | 13 | 18 | 23 => *byte == b'-',
        _ => byte.is_ascii_hexdigit(),
    });
    shape.then(|| std::str::from_utf8(candidate).ok()).flatten()
}

fn mapped_uuid(uuid: &str, copy: u64) -> String {
    let digest = hex::encode(Sha256::digest(format!("{copy}/{uuid}")));
    format!("{}-{}-4{}-8{}-{}", &digest[..8], &digest[8..12], &digest[13..16], &digest[17..20], &digest[20..32])
}

/// The length of the RFC 3339 UTC timestamp (`2026-04-18T13:37:53.028Z`, fraction optional)
/// starting at `at`.
fn timestamp_at(bytes: &[u8], at: usize) -> Option<usize> {
    let head = bytes.get(at..at + 19)?;
    let shape = head.iter().enumerate().all(|(index, byte)| match index {
        4 | 7 => *byte == b'-',
        10 => *byte == b'T',
        13 | 16 => *byte == b':',
        _ => byte.is_ascii_digit(),
    });
    if !shape {
        return None;
    }
    let mut length = 19;
    if bytes.get(at + length) == Some(&b'.') {
        length += 1;
        while bytes.get(at + length).is_some_and(u8::is_ascii_digit) {
            length += 1;
        }
    }
    (bytes.get(at + length) == Some(&b'Z')).then_some(length + 1)
}

fn shifted(timestamp: &str, copy: u64) -> String {
    let Ok(parsed) = timestamp.parse::<jiff::Timestamp>() else { return timestamp.to_string() };
    let Ok(moved) = parsed.checked_add(jiff::SignedDuration::from_hours(24 * 7 * copy as i64)) else {
        return timestamp.to_string();
    };
    let fraction = timestamp.find('.').map_or(0, |dot| timestamp.len() - dot - 2);
    let whole = moved.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if fraction == 0 {
        return format!("{whole}Z");
    }
    let nanos = format!("{:09}", moved.subsec_nanosecond());
    format!("{whole}.{}Z", &nanos[..fraction.min(9)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_get_their_own_ids_and_later_times() {
        let line = r#"{"uuid":"ef958aa1-0e93-49f0-bb71-150f63befcd1","timestamp":"2026-04-18T13:37:53.028Z","message":{"id":"msg_01K"},"requestId":"req_9","at":"2026-04-18T13:37:53Z"}"#;
        assert_eq!(rewrite(line, 0), line, "the first copy is the corpus as it is");
        let copy = rewrite(line, 2);
        assert!(!copy.contains("ef958aa1"), "{copy}");
        assert!(copy.contains(r#""timestamp":"2026-05-02T13:37:53.028Z""#), "{copy}");
        assert!(copy.contains(r#""at":"2026-05-02T13:37:53Z""#), "{copy}");
        assert!(copy.contains(r#""id":"msg_c2x01K""#) && copy.contains(r#""requestId":"req_c2x9""#), "{copy}");
        assert_eq!(
            rewrite(r#"agent-a4ca7.jsonl {"agentId":"a4ca7"}"#, 2),
            r#"agent-a4ca7c2.jsonl {"agentId":"a4ca7c2"}"#
        );
        assert_eq!(rewrite(line, 2), copy, "deterministic");
        let uuid = &copy[9..45];
        assert!(uuid_at(uuid.as_bytes(), 0).is_some(), "a UUID again: {uuid}");
        // Longer hex runs and near-misses are left alone.
        let text = "aef958aa1-0e93-49f0-bb71-150f63befcd1 2026-04-18T13:37 2026-04-18T13:37:53+02:00";
        assert_eq!(rewrite(text, 3), text);
    }
}
