//! The run envelope: `backfill.*` events appended to `events.jsonl`, one O_APPEND write per line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};

/// The longest line the envelope writes, newline included.
pub const MAX_LINE_BYTES: usize = 4096;

/// The nine event names, in the order a run emits them.
pub const EVENT_NAMES: [&str; 9] = [
    "backfill.start",
    "backfill.plan",
    "backfill.provider_start",
    "backfill.scan",
    "backfill.materialize",
    "backfill.write",
    "backfill.flush",
    "backfill.provider_finish",
    "backfill.finish",
];

/// Where events go: a file, or nowhere (`HINDCAST_EVENTS=off`).
#[derive(Debug)]
pub struct EventLog {
    path: Option<PathBuf>,
    failed: AtomicBool,
}

/// One event. `fields` carries counts and other event-specific values; never paths or content.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub event: &'static str,
    pub ts: String,
    pub run_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl EventLog {
    /// Events are dropped.
    pub fn disabled() -> Self {
        Self { path: None, failed: AtomicBool::new(false) }
    }

    /// Events are appended to `path` (created with its directory on first write).
    pub fn to_file(path: PathBuf) -> Self {
        Self { path: Some(path), failed: AtomicBool::new(false) }
    }

    /// The file events go to, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// True once a write has failed (the run carries on; the caller reports a warning).
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Appends one event as a single write of at most [`MAX_LINE_BYTES`]. A line that would be
    /// longer is replaced by the event's identity plus `"truncated": true`.
    pub fn emit(&self, event: &Event) {
        let Some(path) = &self.path else { return };
        if self.append_line(path, &encode_line(event)).is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
    }

    fn append_line(&self, path: &Path, line: &[u8]) -> std::io::Result<()> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            hindcast_store::private::create_dir_all(parent)?;
        }
        let mut file = hindcast_store::private::open_options().append(true).create(true).open(path)?;
        let written = file.write(line)?;
        if written != line.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short append to events file"));
        }
        Ok(())
    }
}

/// Serializes an event as one newline-terminated line of at most [`MAX_LINE_BYTES`].
pub fn encode_line(event: &Event) -> Vec<u8> {
    let mut line = serde_json::to_vec(event).expect("events serialize");
    if line.len() + 1 > MAX_LINE_BYTES {
        let mut truncated = event.clone();
        truncated.fields = Map::new();
        truncated.fields.insert("truncated".into(), Value::Bool(true));
        line = serde_json::to_vec(&truncated).expect("events serialize");
    }
    line.push(b'\n');
    line
}

/// What reading an events file found.
#[derive(Debug, Default, PartialEq)]
pub struct EventsRead {
    pub events: Vec<Value>,
    /// The last line had no newline and did not parse: a writer was interrupted mid-line.
    pub torn_last_line: bool,
    /// 1-based numbers of lines in the middle of the file that are not JSON objects.
    pub corrupt_lines: Vec<u64>,
}

/// Reads an events file, tolerating a torn last line and reporting corrupt middle lines by number.
pub fn read_events(path: &Path) -> std::io::Result<EventsRead> {
    let mut reader = BufReader::new(std::fs::File::open(path)?);
    let mut result = EventsRead::default();
    let mut buffer = Vec::new();
    let mut line_number = 0u64;
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        line_number += 1;
        let terminated = buffer.last() == Some(&b'\n');
        let text = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(value) if value.is_object() => result.events.push(value),
            _ if !terminated => result.torn_last_line = true,
            _ => result.corrupt_lines.push(line_number),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn event(fields: Map<String, Value>) -> Event {
        Event {
            event: "backfill.scan",
            ts: "2026-01-01T00:00:00.000Z".into(),
            run_id: "r".into(),
            provider: Some("claude".into()),
            dataset: None,
            fields,
        }
    }

    #[test]
    fn lines_never_exceed_four_kib() {
        let mut fields = Map::new();
        fields.insert("big".into(), Value::String("x".repeat(10_000)));
        let line = encode_line(&event(fields));
        assert!(line.len() <= MAX_LINE_BYTES);
        let value: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["truncated"], Value::Bool(true));
        assert_eq!(value["event"], "backfill.scan");
    }

    #[test]
    fn reader_tolerates_torn_tail_and_numbers_corrupt_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = EventLog::to_file(path.clone());
        log.emit(&event(Map::new()));
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"not json\n\n").unwrap();
        drop(file);
        log.emit(&event(Map::new()));
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"event\":\"backf").unwrap();
        let read = read_events(&path).unwrap();
        assert_eq!(read.events.len(), 2);
        assert_eq!(read.corrupt_lines, [2]);
        assert!(read.torn_last_line);
        assert!(!log.has_failed());
    }

    #[test]
    fn concurrent_appenders_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::thread::scope(|scope| {
            for writer in 0..4 {
                let path = path.clone();
                scope.spawn(move || {
                    let log = EventLog::to_file(path);
                    for _ in 0..200 {
                        let mut fields = Map::new();
                        fields.insert("writer".into(), Value::from(writer));
                        fields.insert("pad".into(), Value::String("p".repeat(3000)));
                        log.emit(&event(fields));
                    }
                });
            }
        });
        let read = read_events(&path).unwrap();
        assert_eq!(read.events.len(), 800);
        assert!(read.corrupt_lines.is_empty() && !read.torn_last_line);
    }
}
