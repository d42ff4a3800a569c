//! Reads Codex rollout files of every generation (G0 JSON document, G1/G2 bare JSONL, G3/G4
//! envelope; plain or zstd-compressed) into one stream of typed items.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_core::jsonl::{LineRejection, LineStart, for_each_line_from};
use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{ParseError, ParseReport, SkipLocation, open_source};
use jiff::Timestamp;
use serde::de::IgnoredAny;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::rollout::{ThreadHead, head_from_meta, meta_of_first_record, parse_rollout_name};

/// The format generation of a rollout file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// TypeScript CLI: one JSON document `{session, items}`.
    G0,
    /// Rust CLI before the envelope: a bare session-meta line, then bare response items
    /// (G2 adds `record_type: state` lines and `git`).
    G1G2,
    /// `{timestamp, type, payload}` envelope lines (G4 adds `ordinal` and more line types).
    Envelope,
}

impl Generation {
    /// The name used in session metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Generation::G0 => "G0-json",
            Generation::G1G2 => "G1/G2-bare-jsonl",
            Generation::Envelope => "G3/G4-envelope",
        }
    }
}

/// What an item is.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    SessionMeta,
    TurnContext,
    ResponseItem,
    EventMsg,
    Compacted,
    /// `record_type: state` bookkeeping (G2).
    State,
    /// Any other top-level type (late-2026 additions and unknowns), with its name.
    Other(String),
    /// A line that is not a record (skipped and counted): it holds its place among the items,
    /// so the items after it keep the positions (and fallback identities) earlier releases gave
    /// them.
    NotARecord,
}

/// One record of a rollout. The payload is kept as the JSON text it was read as and parsed when
/// the record is projected, so a thread's records cost about their size on disk, not a tree of
/// values several times larger.
#[derive(Clone, Debug)]
pub struct Item {
    pub kind: ItemKind,
    /// The line's write time (G3+), or the session start for G0-G2 items that have none.
    pub timestamp: Option<Timestamp>,
    /// The `payload.type` of response items and events (empty when there is none).
    payload_type: Box<str>,
    /// The `payload.role` of messages.
    role: Option<Box<str>>,
    payload: Box<RawValue>,
    /// Where it came from, for reports.
    pub path: Arc<Path>,
    pub line: u64,
}

impl Item {
    fn new(kind: ItemKind, timestamp: Option<Timestamp>, payload: Box<RawValue>, path: Arc<Path>, line: u64) -> Self {
        let head = fields(payload.get()).unwrap_or_default();
        let text = |key: &str| head.get(key).and_then(|raw| string(raw)).map(|text| text.into_owned().into_boxed_str());
        Item {
            kind,
            timestamp,
            payload_type: text("type").unwrap_or_default(),
            role: text("role"),
            payload,
            path,
            line,
        }
    }

    /// The `payload.type` of response items and events.
    pub fn payload_type(&self) -> &str {
        &self.payload_type
    }

    /// The `payload.role` of messages.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// The payload as a JSON value (parsed on each call).
    pub fn payload(&self) -> Value {
        serde_json::from_str(self.payload.get()).unwrap_or(Value::Null)
    }
}

/// The top-level fields of a JSON object, each as its raw text (duplicate keys: the last wins, as
/// when parsing into a `Value`).
type Fields<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

fn fields(json: &str) -> serde_json::Result<Fields<'_>> {
    serde_json::from_str(json)
}

/// A raw value that is a JSON string, as text.
fn string<'a>(raw: &'a RawValue) -> Option<Cow<'a, str>> {
    serde_json::from_str::<Cow<'a, str>>(raw.get()).ok()
}

fn raw_of(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("serializing a serde_json::Value cannot fail")
}

/// Wraps an opened rollout, decompressing `.zst` as a stream.
fn decompressed(path: &Path, file: File) -> std::io::Result<Box<dyn Read>> {
    if path.extension().is_some_and(|extension| extension == "zst") {
        Ok(Box::new(zstd::stream::read::Decoder::new(file)?))
    } else {
        Ok(Box::new(file))
    }
}

/// Opens a rollout for sniffing, decompressing `.zst` as a stream.
pub fn open_rollout(path: &Path) -> std::io::Result<Box<dyn Read>> {
    decompressed(path, File::open(path)?)
}

fn parse_timestamp(value: Option<&Value>) -> Option<Timestamp> {
    value.and_then(Value::as_str).and_then(|text| text.parse().ok())
}

fn parse_raw_timestamp(raw: Option<&&RawValue>) -> Option<Timestamp> {
    raw.and_then(|raw| string(raw)).and_then(|text| text.parse().ok())
}

/// The first non-blank line of a rollout as JSON (for sniffing); `None` when unreadable.
pub fn first_object(path: &Path) -> Option<Value> {
    if path.extension().is_some_and(|extension| extension == "json") {
        let mut text = String::new();
        open_rollout(path).ok()?.read_to_string(&mut text).ok()?;
        return serde_json::from_str(&text).ok();
    }
    let mut reader = BufReader::new(open_rollout(path).ok()?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        if !line.trim_ascii().is_empty() {
            return serde_json::from_slice(line.trim_ascii()).ok();
        }
    }
}

/// Reads the head facts out of a rollout's first record (one line per file).
pub fn read_thread_head(path: &Path) -> ThreadHead {
    first_object(path).map(|first| head_from_meta(&meta_of_first_record(first))).unwrap_or_default()
}

/// A rollout line is a record when it has one of these: every envelope line has a `type`, a G2
/// state line a `record_type`, a G1/G2 session header an `id`. Any other object (`{}`, say) is
/// skipped and counted.
const RECORD_FIELDS: &[&str] = &["type", "record_type", "id"];

/// Whether a rollout line's fields make it a record (see [`RECORD_FIELDS`]).
pub fn is_record(fields: &serde_json::Map<String, Value>) -> bool {
    RECORD_FIELDS.iter().any(|field| fields.contains_key(*field))
}

/// Reads one rollout file into items (`None` when it vanished). Bad lines are skipped and counted.
pub fn read_rollout(path: &Path, report: &mut ParseReport) -> Result<Option<(Generation, Vec<Item>)>, ParseError> {
    let io_error = |source| ParseError::Io { path: path.to_path_buf(), source };
    let Some(file) = open_source(path, report)? else { return Ok(None) };
    let reader = decompressed(path, file).map_err(io_error)?;
    if path.extension().is_some_and(|extension| extension == "json") {
        return read_document(path, reader, report).map(|items| Some((Generation::G0, items)));
    }
    let path_shared: Arc<Path> = Arc::from(path);
    let mut generation = None;
    let mut session_start = None;
    let mut items = Vec::new();
    let mut not_records = Vec::new();
    for_each_line_from(reader, LineStart::FILE_START, path, &mut report.lines_skipped, |start, text| {
        let line = start.number;
        if !text.starts_with('{') {
            return Err(match serde_json::from_str::<IgnoredAny>(text) {
                Ok(_) => LineRejection::NotObject,
                Err(error) => LineRejection::Json(error),
            });
        }
        let fields = fields(text).map_err(LineRejection::Json)?;
        if !RECORD_FIELDS.iter().any(|field| fields.contains_key(*field)) {
            not_records.push(line);
            items.push(Item::new(ItemKind::NotARecord, None, raw_of(&Value::Null), path_shared.clone(), line));
            return Ok(());
        }
        let timestamp = parse_raw_timestamp(fields.get("timestamp"));
        if let Some(raw) = fields.get("timestamp")
            && raw.get() != "null"
            && timestamp.is_none()
        {
            let shown: String = raw.get().chars().take(40).collect();
            report.timestamps_unreadable.record(SkipLocation {
                path: path.to_path_buf(),
                line,
                reason: format!("timestamp {shown} is not an RFC 3339 time jiff can hold"),
            });
        }
        let generation = *generation.get_or_insert_with(|| {
            if !fields.contains_key("payload") && !fields.contains_key("type") && fields.contains_key("id") {
                Generation::G1G2
            } else {
                Generation::Envelope
            }
        });
        let item = match generation {
            Generation::Envelope => envelope_item(text, &fields, timestamp, &path_shared, line),
            _ => {
                let item = bare_item(text, &fields, timestamp, &path_shared, line, session_start);
                if item.kind == ItemKind::SessionMeta && session_start.is_none() {
                    session_start = item.timestamp;
                }
                item
            }
        };
        items.push(item);
        Ok(())
    })
    .map_err(io_error)?;
    for line in not_records {
        report.lines_skipped.record(SkipLocation {
            path: path.to_path_buf(),
            line,
            reason: "not a rollout record: no `type`, `record_type` or `id`".into(),
        });
    }
    Ok(Some((generation.unwrap_or(Generation::Envelope), items)))
}

fn whole_line(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_string()).expect("the line was parsed as a JSON object")
}

/// `timestamp`: the line's own, parsed once by the reader.
fn envelope_item(text: &str, fields: &Fields<'_>, timestamp: Option<Timestamp>, path: &Arc<Path>, line: u64) -> Item {
    let kind = match fields.get("type").and_then(|raw| string(raw)) {
        Some(kind) => match kind.as_ref() {
            "session_meta" => ItemKind::SessionMeta,
            "turn_context" => ItemKind::TurnContext,
            "response_item" => ItemKind::ResponseItem,
            "event_msg" => ItemKind::EventMsg,
            "compacted" => ItemKind::Compacted,
            other => ItemKind::Other(other.to_string()),
        },
        None if fields.contains_key("record_type") => ItemKind::State,
        None => ItemKind::Other("(missing type)".into()),
    };
    let payload = match &kind {
        ItemKind::Other(_) | ItemKind::State => whole_line(text),
        _ => fields.get("payload").map(|raw| (*raw).to_owned()).unwrap_or_else(|| raw_of(&Value::Null)),
    };
    Item::new(kind, timestamp, payload, path.clone(), line)
}

fn bare_item(
    text: &str,
    fields: &Fields<'_>,
    timestamp: Option<Timestamp>,
    path: &Arc<Path>,
    line: u64,
    session_start: Option<Timestamp>,
) -> Item {
    let (kind, timestamp) = if fields.contains_key("record_type") {
        (ItemKind::State, session_start)
    } else if line == 1
        || (!fields.contains_key("type") && fields.contains_key("id") && fields.contains_key("timestamp"))
    {
        (ItemKind::SessionMeta, timestamp)
    } else if fields.contains_key("type") {
        (ItemKind::ResponseItem, session_start)
    } else {
        (ItemKind::Other("(untyped line)".into()), session_start)
    };
    Item::new(kind, timestamp, whole_line(text), path.clone(), line)
}

/// G0: `{session: {timestamp, id, instructions}, items: [...]}` in one (pretty-printed) document.
fn read_document(path: &Path, mut reader: Box<dyn Read>, report: &mut ParseReport) -> Result<Vec<Item>, ParseError> {
    let mut text = String::new();
    if let Err(error) = reader.read_to_string(&mut text) {
        report.lines_skipped.record(SkipLocation {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("unreadable: {error}"),
        });
        return Ok(Vec::new());
    }
    let document: Value = match serde_json::from_str(&text) {
        Ok(document) => document,
        Err(error) => {
            report.lines_skipped.record(SkipLocation {
                path: path.to_path_buf(),
                line: error.line() as u64,
                reason: format!("invalid JSON document (a save may have been interrupted): {error}"),
            });
            return Ok(Vec::new());
        }
    };
    let Some(session) = document.get("session").filter(|session| session.is_object()) else {
        report.lines_skipped.record(SkipLocation {
            path: path.to_path_buf(),
            line: 1,
            reason: "not a Codex rollout document (no `session` object)".into(),
        });
        return Ok(Vec::new());
    };
    let start = parse_timestamp(session.get("timestamp"));
    let path: Arc<Path> = Arc::from(path);
    let mut items = vec![Item::new(ItemKind::SessionMeta, start, raw_of(session), path.clone(), 1)];
    for item in document.get("items").and_then(Value::as_array).into_iter().flatten() {
        items.push(Item::new(ItemKind::ResponseItem, start, raw_of(item), path.clone(), 0));
    }
    Ok(items)
}

/// The thread a file belongs to: its first session meta's id, else the file-name UUID, else the stem.
fn thread_of(items: &[Item], path: &Path) -> String {
    items
        .iter()
        .find(|item| item.kind == ItemKind::SessionMeta)
        .and_then(|item| fields(item.payload.get()).ok()?.get("id").and_then(|raw| string(raw)).map(Cow::into_owned))
        .filter(|id| !id.trim().is_empty())
        .or_else(|| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            parse_rollout_name(&name).map(|name| name.thread_id)
        })
        .unwrap_or_else(|| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default())
}

/// The records of one thread: its segments' items in file-name order, concatenated.
pub struct RolloutThread {
    pub id: String,
    pub generation: Generation,
    /// The thread's first file.
    pub path: PathBuf,
    pub segments: usize,
    pub items: Vec<Item>,
}

/// Reads every rollout of a unit (a family of threads) and groups the items by thread.
pub fn read_threads(unit: &SourceUnit, report: &mut ParseReport) -> Result<Vec<RolloutThread>, ParseError> {
    let mut threads: Vec<RolloutThread> = Vec::new();
    for file in &unit.files {
        let Some((generation, items)) = read_rollout(&file.path, report)? else { continue };
        if items.iter().all(|item| item.kind == ItemKind::NotARecord) {
            report.ignore("empty rollout file");
            continue;
        }
        let id = thread_of(&items, &file.path);
        match threads.iter_mut().find(|thread| thread.id == id) {
            Some(thread) => {
                thread.segments += 1;
                thread.items.extend(items);
            }
            None => threads.push(RolloutThread { id, generation, path: file.path.clone(), segments: 1, items }),
        }
    }
    Ok(threads)
}
