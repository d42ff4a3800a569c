//! Deterministic ids: sha256 over a namespace and length-prefixed stable keys.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::model::{ImportNote, SessionReference};

/// `sha256(namespace, parts...)` as lowercase hex. Each component is length-prefixed so that
/// `("ab", "c")` and `("a", "bc")` never collide.
pub fn stable_id(namespace: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for component in std::iter::once(namespace).chain(parts.iter().copied()) {
        hasher.update((component.len() as u64).to_le_bytes());
        hasher.update(component.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// sha256 of arbitrary bytes as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The provenance hash of a source path: sha256 of the absolute path's bytes. Raw paths are never stored.
pub fn source_path_sha256(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    sha256_hex(absolute.as_os_str().as_encoded_bytes())
}

/// The stored id of a session.
pub fn session_id(client: &str, native_session_id: &str) -> String {
    stable_id("hindcast/session/v1", &[client, native_session_id])
}

/// The stored id of a message, from its identity key.
pub fn message_id(client: &str, identity_key: &str) -> String {
    stable_id("hindcast/message/v1", &[client, identity_key])
}

/// The stored id of a part: its message and position.
pub fn part_id(message_id: &str, part_index: usize) -> String {
    stable_id("hindcast/part/v1", &[message_id, &part_index.to_string()])
}

/// The stored id of a usage record, from its billed-response key.
pub fn usage_id(client: &str, usage_key: &str) -> String {
    stable_id("hindcast/usage/v1", &[client, usage_key])
}

/// The stored id of a project.
pub fn project_id(client: &str, native_project_id: &str) -> String {
    stable_id("hindcast/project/v1", &[client, native_project_id])
}

/// The stored id of an import note: everything it says.
pub fn note_id(client: &str, note: &ImportNote) -> String {
    stable_id(
        "hindcast/note/v1",
        &[
            client,
            note.project.as_deref().unwrap_or(""),
            note.session.as_deref().unwrap_or(""),
            &note.field,
            &note.note,
        ],
    )
}

/// The stored id of a session's reference to another client's session.
pub fn session_ref_id(session_id: &str, reference: &SessionReference) -> String {
    stable_id(
        "hindcast/session-ref/v1",
        &[session_id, &reference.kind, &reference.target_client, &reference.target_native_id],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_component_boundaries_matter() {
        assert_eq!(stable_id("ns", &["ab", "c"]), stable_id("ns", &["ab", "c"]));
        assert_ne!(stable_id("ns", &["ab", "c"]), stable_id("ns", &["a", "bc"]));
        assert_ne!(session_id("claude", "x"), session_id("codex", "x"));
        assert_eq!(session_id("claude", "x").len(), 64);
        // Pinned (computed independently): changing the scheme would orphan every existing store.
        assert_eq!(session_id("claude", "3f0c2a"), "82540b24e5c867dd75df23681a405d83aeb45bcab4c72db160704c4144609037");
    }

    #[test]
    fn source_path_hash_is_of_the_absolute_path() {
        assert_eq!(source_path_sha256(Path::new("/a/b.jsonl")), sha256_hex(b"/a/b.jsonl"));
    }
}
