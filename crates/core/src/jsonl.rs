//! Streaming JSONL reading shared by providers: no line-length cap, bad lines skipped and counted.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use crate::provider::{SkipLocation, SkipTally};

/// Reads `reader` line by line and calls `on_line(line_number, object)` for every line that is a
/// JSON object. Blank lines are ignored; a UTF-8 BOM and CRLF endings are tolerated. Lines that are
/// not UTF-8, not JSON or not an object are skipped and recorded in `skipped` with `path:line` (a
/// torn last line — no trailing newline — is reported as truncated). Only I/O errors are returned.
pub fn for_each_object(
    reader: impl Read,
    path: &Path,
    skipped: &mut SkipTally,
    mut on_line: impl FnMut(u64, Value),
) -> std::io::Result<()> {
    for_each_object_from(reader, LineStart::FILE_START, path, skipped, |start, value| {
        on_line(start.number, value);
        Ok(())
    })
}

/// Where a line begins: its 1-based number and its byte offset in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineStart {
    pub number: u64,
    pub offset: u64,
}

impl LineStart {
    /// The first line of a file.
    pub const FILE_START: LineStart = LineStart { number: 1, offset: 0 };
}

/// Like `for_each_object`, for a reader positioned at `start` (e.g. a checkpoint inside the file):
/// line numbers and offsets passed to `on_line` are the file's own. `on_line` may turn an object
/// down (`LineRejection::NotARecord`): it is skipped and counted like a malformed line.
pub fn for_each_object_from(
    reader: impl Read,
    start: LineStart,
    path: &Path,
    skipped: &mut SkipTally,
    mut on_line: impl FnMut(LineStart, Value) -> Result<(), LineRejection>,
) -> std::io::Result<()> {
    for_each_line_from(reader, start, path, skipped, |line_start, line| {
        match serde_json::from_str::<Value>(line).map_err(LineRejection::Json)? {
            value @ Value::Object(_) => on_line(line_start, value),
            _ => Err(LineRejection::NotObject),
        }
    })
}

/// Why a line's reader turned it down; the line is skipped and counted with this reason.
#[derive(Debug)]
pub enum LineRejection {
    /// Not JSON (or not the shape the reader deserializes).
    Json(serde_json::Error),
    /// JSON, but not an object.
    NotObject,
    /// An object without the fields that make a line a record of its client (`{}`, say): the
    /// reason names what is missing.
    NotARecord(String),
}

/// The streaming core of the readers: calls `on_line` with every non-blank line as UTF-8 text
/// (BOM and CRLF removed), so a provider can deserialize it into borrowed types instead of a
/// `Value`. A line `on_line` rejects is skipped and recorded like a malformed line.
pub fn for_each_line_from(
    reader: impl Read,
    start: LineStart,
    path: &Path,
    skipped: &mut SkipTally,
    mut on_line: impl FnMut(LineStart, &str) -> Result<(), LineRejection>,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut number = start.number.saturating_sub(1);
    let mut offset = start.offset;
    loop {
        buffer.clear();
        let length = reader.read_until(b'\n', &mut buffer)? as u64;
        if length == 0 {
            return Ok(());
        }
        number += 1;
        let line_start = LineStart { number, offset };
        offset += length;
        let terminated = buffer.last() == Some(&b'\n');
        let mut line = buffer.as_slice();
        if line_start.offset == 0 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let mut skip = |reason: String| skipped.record(SkipLocation { path: path.to_path_buf(), line: number, reason });
        let Ok(text) = std::str::from_utf8(line) else {
            skip("invalid UTF-8".into());
            continue;
        };
        match on_line(line_start, text) {
            Ok(()) => {}
            Err(LineRejection::NotObject) => skip("not a JSON object".into()),
            Err(LineRejection::NotARecord(reason)) => skip(reason),
            Err(LineRejection::Json(_)) if !terminated => {
                skip("truncated last line (no newline; the writer was interrupted)".into())
            }
            Err(LineRejection::Json(error)) => skip(format!("invalid JSON: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> (Vec<(u64, Value)>, SkipTally) {
        let mut skipped = SkipTally::default();
        let mut lines = Vec::new();
        for_each_object(bytes, Path::new("f.jsonl"), &mut skipped, |number, value| lines.push((number, value)))
            .unwrap();
        (lines, skipped)
    }

    #[test]
    fn skips_and_locates_every_kind_of_bad_line() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n   \n{\"b\":\xFF}\n[1,2]\n{not json}\n{\"c\":[[[[]]]]}\n{\"torn\":";
        let (lines, skipped) = read(input);
        let numbers: Vec<u64> = lines.iter().map(|(number, _)| *number).collect();
        assert_eq!(numbers, [1, 7]);
        let reasons: Vec<String> = skipped.first.iter().map(ToString::to_string).collect();
        assert_eq!(skipped.count, 4);
        assert!(reasons[0].starts_with("f.jsonl:4: invalid UTF-8"), "{reasons:?}");
        assert!(reasons[1].starts_with("f.jsonl:5: not a JSON object"));
        assert!(reasons[2].starts_with("f.jsonl:6: invalid JSON"));
        assert!(reasons[3].starts_with("f.jsonl:8: truncated last line"));
    }

    #[test]
    fn an_object_the_reader_turns_down_is_skipped_with_its_reason() {
        let mut skipped = SkipTally::default();
        let mut kept = Vec::new();
        for_each_object_from(
            &b"{}\n{\"a\":1}\n"[..],
            LineStart::FILE_START,
            Path::new("f"),
            &mut skipped,
            |at, value| {
                if value.as_object().is_some_and(serde_json::Map::is_empty) {
                    return Err(LineRejection::NotARecord("no fields".into()));
                }
                kept.push(at.number);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(kept, [2]);
        assert_eq!(skipped.first.iter().map(ToString::to_string).collect::<Vec<_>>(), ["f:1: no fields"]);
    }

    #[test]
    fn reading_from_a_line_start_numbers_lines_as_the_whole_file_does() {
        let input = b"{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}\n";
        let mut whole = Vec::new();
        for_each_object_from(&input[..], LineStart::FILE_START, Path::new("f"), &mut SkipTally::default(), |at, _| {
            whole.push(at);
            Ok(())
        })
        .unwrap();
        assert_eq!(whole.iter().map(|at| (at.number, at.offset)).collect::<Vec<_>>(), [(1, 0), (3, 10), (4, 18)]);
        let mut tail = Vec::new();
        for_each_object_from(&input[10..], whole[1], Path::new("f"), &mut SkipTally::default(), |at, value| {
            tail.push((at, value));
            Ok(())
        })
        .unwrap();
        assert_eq!(tail.iter().map(|(at, _)| *at).collect::<Vec<_>>(), whole[1..]);
        assert_eq!(tail[1].1["c"], 3);
    }

    #[test]
    fn long_lines_and_deep_nesting_do_not_break_the_reader() {
        let long = format!("{{\"text\":\"{}\"}}\n", "x".repeat(3_000_000));
        let deep = format!("{}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let input = format!("{long}{deep}{{\"ok\":true}}\n");
        let (lines, skipped) = read(input.as_bytes());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].1["text"].as_str().map(str::len), Some(3_000_000));
        assert_eq!(skipped.count, 1, "the over-deep line is skipped, not a stack overflow");
    }
}
