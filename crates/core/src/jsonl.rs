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
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut number = 0u64;
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            return Ok(());
        }
        number += 1;
        let terminated = buffer.last() == Some(&b'\n');
        let mut line = buffer.as_slice();
        if number == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let mut skip = |reason: String| skipped.record(SkipLocation { path: path.to_path_buf(), line: number, reason });
        if std::str::from_utf8(line).is_err() {
            skip("invalid UTF-8".into());
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value @ Value::Object(_)) => on_line(number, value),
            Ok(_) => skip("not a JSON object".into()),
            Err(_) if !terminated => skip("truncated last line (no newline; the writer was interrupted)".into()),
            Err(error) => skip(format!("invalid JSON: {error}")),
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
