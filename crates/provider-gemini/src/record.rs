//! Reads one Gemini CLI chat file — JSON Lines or a legacy single JSON document — into its
//! metadata and its messages, the last copy of each id kept, rewinds and checkpoints applied as
//! the client's own loader applies them (messages they drop are kept, marked rewound).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use hindcast_core::jsonl::{LineStart, for_each_object_from};
use hindcast_core::provider::{ParseError, ParseReport, SkipLocation, open_source};
use serde_json::{Map, Value};

/// One message record as the file last wrote it.
#[derive(Debug)]
pub struct Record {
    /// The record's `id`.
    pub id: String,
    /// The last copy of the record.
    pub value: Value,
    /// The last non-null `tokens` any copy carried (a checkpoint's copy may lack them).
    pub tokens: Option<Value>,
    /// The line of the record's first copy (1 for a legacy document).
    pub line: u64,
    /// Dropped from the conversation by a `$rewindTo` or a `$set.messages` checkpoint.
    pub rewound: bool,
}

/// A record of a kind this reader does not know, kept whole.
#[derive(Debug)]
pub struct UnknownRecord {
    pub line: u64,
    pub value: Value,
}

/// A chat file read.
#[derive(Debug, Default)]
pub struct ChatFile {
    pub path: PathBuf,
    /// The metadata line (or the legacy document's top-level fields) with every `$set` merged in.
    pub meta: Map<String, Value>,
    /// Messages in first-insertion order.
    pub records: Vec<Record>,
    pub unknown: Vec<UnknownRecord>,
    /// Whether the file is a legacy single JSON document.
    pub legacy_document: bool,
    /// Where a later read of this JSON Lines file may continue (`None` for a legacy document,
    /// which the client rewrites whole).
    pub resume_at: Option<LineStart>,
    /// When this read continued the file: messages written before the continuation point that
    /// were written again after it (last copy), with their position in the session.
    pub copies: Vec<(u64, Record)>,
}

impl ChatFile {
    /// The file's `sessionId`.
    pub fn session_id(&self) -> Option<&str> {
        self.meta.get("sessionId").and_then(Value::as_str).filter(|id| !id.is_empty())
    }

    /// The metadata's `kind` (`main`, `subagent`), written from February 2026.
    pub fn kind(&self) -> Option<&str> {
        self.meta.get("kind").and_then(Value::as_str)
    }

    /// A metadata field as text.
    pub fn meta_str(&self, key: &str) -> Option<&str> {
        self.meta.get(key).and_then(Value::as_str).filter(|value| !value.is_empty())
    }
}

/// What the client's loader does with one record, by the keys it holds (FORMAT.md, in this order).
enum RecordKind {
    Rewind(String),
    Message(String),
    MetadataUpdate,
    SessionMetadata,
    Unknown,
}

fn record_kind(value: &Value) -> RecordKind {
    if let Some(target) = value.get("$rewindTo") {
        return RecordKind::Rewind(target.as_str().unwrap_or_default().to_string());
    }
    if let Some(id) = value.get("id").and_then(Value::as_str) {
        return RecordKind::Message(id.to_string());
    }
    if value.get("$set").is_some_and(Value::is_object) {
        return RecordKind::MetadataUpdate;
    }
    if value.get("sessionId").is_some_and(Value::is_string) && value.get("projectHash").is_some_and(Value::is_string) {
        return RecordKind::SessionMetadata;
    }
    RecordKind::Unknown
}

/// Builds a chat file from its records in file order.
struct Reader<'a> {
    chat: ChatFile,
    index: HashMap<String, usize>,
    /// The conversation as the client would load it now: indexes into `chat.records`.
    live: Vec<usize>,
    report: &'a mut ParseReport,
    /// When continuing a file: the position of every message read before.
    known: Option<&'a HashMap<String, u64>>,
    copies: HashMap<String, (u64, Record)>,
    /// A continued read met what only a whole read can place (a rewind, a checkpoint, a record of
    /// unknown kind, a copy without the tokens an earlier copy had).
    needs_whole_read: bool,
}

impl Reader<'_> {
    fn record(&mut self, line: u64, value: Value) {
        if self.known.is_some() && !matches!(record_kind(&value), RecordKind::Message(_) | RecordKind::MetadataUpdate) {
            self.needs_whole_read = true;
            return;
        }
        match record_kind(&value) {
            RecordKind::Rewind(target) => {
                self.report.ignore("rewind");
                self.rewind(&target);
            }
            RecordKind::Message(id) => self.message(line, id, value),
            RecordKind::MetadataUpdate => {
                let Value::Object(mut fields) = value else { return };
                let Some(Value::Object(set)) = fields.remove("$set") else { return };
                self.metadata_update(line, set);
            }
            RecordKind::SessionMetadata => {
                self.report.ignore("session_metadata");
                let Value::Object(fields) = value else { return };
                for (key, field) in fields {
                    self.chat.meta.insert(key, field);
                }
            }
            RecordKind::Unknown => {
                self.report.unknown_records += 1;
                self.chat.unknown.push(UnknownRecord { line, value });
            }
        }
    }

    fn message(&mut self, line: u64, id: String, value: Value) {
        let tokens = value.get("tokens").filter(|tokens| tokens.is_object()).cloned();
        if let Some(&seq) = self.known.and_then(|known| known.get(&id)) {
            self.report.ignore("message_copy");
            let kept = self.copies.get(&id).and_then(|(_, record)| record.tokens.clone());
            let is_gemini = value.get("type").and_then(Value::as_str) == Some("gemini");
            if tokens.is_none() && kept.is_none() && is_gemini {
                // The tokens of the earlier copy are not at hand: a whole read keeps them.
                self.needs_whole_read = true;
                return;
            }
            let mut value = value;
            if let (None, Some(kept), Value::Object(fields)) = (&tokens, &kept, &mut value) {
                fields.insert("tokens".into(), kept.clone());
            }
            let tokens = tokens.or(kept);
            self.copies.insert(id.clone(), (seq, Record { id, value, tokens, line, rewound: false }));
            return;
        }
        match self.index.get(&id) {
            Some(&at) => {
                self.report.ignore("message_copy");
                let record = &mut self.chat.records[at];
                record.value = value;
                match tokens {
                    Some(tokens) => record.tokens = Some(tokens),
                    // A copy without tokens (a checkpoint's) keeps the ones the call was billed.
                    None => {
                        if let (Some(kept), Value::Object(fields)) = (&record.tokens, &mut record.value) {
                            fields.insert("tokens".into(), kept.clone());
                        }
                    }
                }
                if record.rewound {
                    // Rewound, then written again: the client loads it as a new message.
                    record.rewound = false;
                    self.live.push(at);
                }
            }
            None => {
                self.index.insert(id.clone(), self.chat.records.len());
                self.live.push(self.chat.records.len());
                self.chat.records.push(Record { id, value, tokens, line, rewound: false });
            }
        }
    }

    /// `{"$rewindTo": id}`: that message and every one after it leave the conversation; an id
    /// the file does not hold clears it.
    fn rewind(&mut self, target: &str) {
        let from = self.live.iter().position(|&at| self.chat.records[at].id == target).unwrap_or(0);
        for at in self.live.drain(from..) {
            self.chat.records[at].rewound = true;
        }
    }

    /// `{"$set": {...}}`: metadata merged; a `messages` array is a checkpoint that replaces the
    /// conversation (messages it leaves out are rewound; its copies of known ids keep their tokens).
    fn metadata_update(&mut self, line: u64, mut set: Map<String, Value>) {
        match set.remove("messages") {
            Some(Value::Array(_)) if self.known.is_some() => self.needs_whole_read = true,
            Some(Value::Array(messages)) => {
                self.report.ignore("checkpoint");
                for at in std::mem::take(&mut self.live) {
                    self.chat.records[at].rewound = true;
                }
                for message in messages {
                    match message.get("id").and_then(Value::as_str).map(str::to_string) {
                        Some(id) => self.message(line, id, message),
                        None => {
                            self.report.unknown_records += 1;
                            self.chat.unknown.push(UnknownRecord { line, value: message });
                        }
                    }
                }
            }
            Some(other) => {
                self.report.ignore("metadata_update");
                set.insert("messages".into(), other);
            }
            None => self.report.ignore("metadata_update"),
        }
        for (key, value) in set {
            self.chat.meta.insert(key, value);
        }
    }

    /// A legacy document: its top-level fields are the metadata, `messages` the conversation.
    fn document(&mut self, value: Value) {
        self.chat.legacy_document = true;
        let Value::Object(mut fields) = value else { return };
        let messages = fields.remove("messages");
        self.chat.meta = fields;
        match messages {
            Some(Value::Array(messages)) => {
                for message in messages {
                    self.record(1, message);
                }
            }
            Some(other) => {
                self.report.unknown_records += 1;
                self.chat.unknown.push(UnknownRecord { line: 1, value: other });
            }
            None => {}
        }
    }
}

/// Whether `value` is a whole legacy document (the loader also accepts one on a single line).
fn is_document(value: &Value) -> bool {
    value.get("messages").is_some_and(Value::is_array) && value.get("sessionId").is_some()
}

/// Reads the chat file at `path`; `None` when it could not be opened (counted by `open_source`).
/// The start of the line after the last whole line of `bytes`, read from `start`.
fn after_last_whole_line(bytes: &[u8], start: LineStart) -> LineStart {
    let whole = bytes.iter().rposition(|byte| *byte == b'\n').map_or(0, |at| at + 1);
    let lines = bytes[..whole].iter().filter(|byte| **byte == b'\n').count() as u64;
    LineStart { number: start.number + lines, offset: start.offset + whole as u64 }
}

pub fn read_chat(path: &Path, report: &mut ParseReport) -> Result<Option<ChatFile>, ParseError> {
    let Some(mut file) = open_source(path, report)? else { return Ok(None) };
    let io_error = |source| ParseError::Io { path: path.to_path_buf(), source };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_error)?;
    let mut reader = Reader {
        chat: ChatFile { path: path.to_path_buf(), ..ChatFile::default() },
        index: HashMap::new(),
        live: Vec::new(),
        report,
        known: None,
        copies: HashMap::new(),
        needs_whole_read: false,
    };
    // A legacy file is one pretty-printed document; the current loader falls back to that
    // reading whenever the file is not JSON Lines.
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if let Ok(value) = serde_json::from_slice::<Value>(text)
        && is_document(&value)
    {
        reader.document(value);
        return Ok(Some(reader.chat));
    }
    let mut skipped = std::mem::take(&mut reader.report.lines_skipped);
    let read = for_each_object_from(bytes.as_slice(), LineStart::FILE_START, path, &mut skipped, |start, value| {
        if is_document(&value) {
            reader.document(value);
        } else {
            reader.record(start.number, value);
        }
        Ok(())
    });
    reader.report.lines_skipped = skipped;
    read.map_err(io_error)?;
    if !reader.chat.legacy_document {
        reader.chat.resume_at = Some(after_last_whole_line(&bytes, LineStart::FILE_START));
    }
    if reader.chat.meta.is_empty() && reader.chat.records.is_empty() && reader.chat.unknown.is_empty() {
        reader.report.records_skipped.record(SkipLocation {
            path: path.to_path_buf(),
            line: 0,
            reason: "no Gemini CLI chat record in the file".into(),
        });
    }
    Ok(Some(reader.chat))
}

/// Reads what was appended to the JSON Lines chat file at `path` after `start`, given its
/// metadata so far and the position of every message read before. `Ok(Some(None))`: the appended
/// part holds what only a whole read of the file can place; `Ok(None)`: the file could not be
/// opened (counted by `open_source`).
pub fn continue_chat(
    path: &Path,
    start: LineStart,
    meta: Map<String, Value>,
    known: &HashMap<String, u64>,
    report: &mut ParseReport,
) -> Result<Option<Option<ChatFile>>, ParseError> {
    use std::io::{Seek, SeekFrom};
    let Some(mut file) = open_source(path, report)? else { return Ok(None) };
    let io_error = |source| ParseError::Io { path: path.to_path_buf(), source };
    file.seek(SeekFrom::Start(start.offset)).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_error)?;
    let mut reader = Reader {
        chat: ChatFile { path: path.to_path_buf(), meta, ..ChatFile::default() },
        index: HashMap::new(),
        live: Vec::new(),
        report,
        known: Some(known),
        copies: HashMap::new(),
        needs_whole_read: false,
    };
    let mut skipped = std::mem::take(&mut reader.report.lines_skipped);
    let read = for_each_object_from(bytes.as_slice(), start, path, &mut skipped, |line, value| {
        reader.record(line.number, value);
        Ok(())
    });
    reader.report.lines_skipped = skipped;
    read.map_err(io_error)?;
    if reader.needs_whole_read {
        return Ok(Some(None));
    }
    let mut copies: Vec<(u64, Record)> = reader.copies.into_values().collect();
    copies.sort_by_key(|(seq, _)| *seq);
    let mut chat = reader.chat;
    chat.copies = copies;
    chat.resume_at = Some(after_last_whole_line(&bytes, start));
    Ok(Some(Some(chat)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `lines` as a JSONL chat file and returns `(id, rewound)` per record, in order.
    fn check(lines: &[&str], expected: &[(&str, bool)]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let mut report = ParseReport::default();
        let chat = read_chat(&path, &mut report).unwrap().unwrap();
        let got: Vec<(&str, bool)> = chat.records.iter().map(|record| (record.id.as_str(), record.rewound)).collect();
        assert_eq!(got, expected, "{lines:?}");
    }

    #[test]
    fn rewinds_and_checkpoints_mark_what_they_drop() {
        let meta = r#"{"sessionId":"s","projectHash":"h","startTime":"2026-05-01T10:00:00Z"}"#;
        check(&[meta, r#"{"id":"a","type":"user"}"#, r#"{"id":"b","type":"gemini"}"#], &[("a", false), ("b", false)]);
        // A rewind drops its target and everything after it.
        check(
            &[meta, r#"{"id":"a"}"#, r#"{"id":"b"}"#, r#"{"id":"c"}"#, r#"{"$rewindTo":"b"}"#, r#"{"id":"d"}"#],
            &[("a", false), ("b", true), ("c", true), ("d", false)],
        );
        // An unknown target clears the conversation.
        check(&[meta, r#"{"id":"a"}"#, r#"{"$rewindTo":"zz"}"#], &[("a", true)]);
        // A checkpoint replaces the conversation: what it leaves out is rewound.
        check(
            &[meta, r#"{"id":"a"}"#, r#"{"id":"b"}"#, r#"{"$set":{"messages":[{"id":"b"},{"id":"n"}]}}"#],
            &[("a", true), ("b", false), ("n", false)],
        );
        // A rewound id written again is back in the conversation.
        check(&[meta, r#"{"id":"a"}"#, r#"{"$rewindTo":"a"}"#, r#"{"id":"a"}"#], &[("a", false)]);
    }

    #[test]
    fn the_last_copy_wins_and_keeps_the_tokens_a_checkpoint_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.jsonl");
        let lines = [
            r#"{"sessionId":"s","projectHash":"h"}"#,
            r#"{"id":"g","type":"gemini","tokens":{"input":10,"output":2}}"#,
            r#"{"$set":{"lastUpdated":"2026-05-01T10:00:05Z","summary":"Fix the build"}}"#,
            r#"{"id":"g","type":"gemini","tokens":{"input":10,"output":2},"toolCalls":[{"id":"t"}]}"#,
            r#"{"$set":{"messages":[{"id":"g","type":"gemini","tokens":null}]}}"#,
            r#"{"unexpected":true}"#,
            "not json",
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let mut report = ParseReport::default();
        let chat = read_chat(&path, &mut report).unwrap().unwrap();
        assert_eq!(chat.records.len(), 1);
        assert_eq!(chat.records[0].tokens.as_ref().unwrap()["input"], 10);
        assert!(chat.records[0].value.get("toolCalls").is_none(), "the checkpoint's copy is the last");
        assert_eq!(chat.meta_str("summary"), Some("Fix the build"));
        assert_eq!(report.records_ignored["message_copy"], 2);
        assert_eq!(report.records_ignored["checkpoint"], 1);
        assert_eq!(report.unknown_records, 1);
        assert_eq!(chat.unknown[0].line, 6);
        assert_eq!(report.lines_skipped.count, 1);
        assert_eq!(report.lines_skipped.first[0].line, 7);
    }

    #[test]
    fn a_legacy_document_reads_pretty_printed_or_on_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let document = serde_json::json!({
            "sessionId": "s", "projectHash": "h", "startTime": "2025-10-05T07:11:00Z",
            "messages": [{"id": "u", "type": "user", "content": "hi"}, {"id": "g", "type": "gemini", "content": "yo"}],
            "kind": "main"
        });
        for (name, text) in [
            ("pretty.json", serde_json::to_string_pretty(&document).unwrap()),
            ("oneline.jsonl", format!("{document}\n")),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let mut report = ParseReport::default();
            let chat = read_chat(&path, &mut report).unwrap().unwrap();
            assert!(chat.legacy_document, "{name}");
            assert_eq!(chat.session_id(), Some("s"));
            assert_eq!(chat.kind(), Some("main"));
            assert_eq!(chat.records.iter().map(|record| record.id.as_str()).collect::<Vec<_>>(), ["u", "g"]);
            assert!(!chat.meta.contains_key("messages"));
        }
    }
}
