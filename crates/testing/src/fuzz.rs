//! Property-based fuzzing of a provider's parser: seed files (fixtures and corpus transcripts) are
//! mutated at the byte, line and JSON level, laid out where the provider looks, and parsed through
//! the real pipeline; any panic, failed unit or impossible count is a failure proptest shrinks.
//!
//! Time-boxed by `HINDCAST_FUZZ_SECONDS` (as `cargo xtask ci` does); without it a short fixed
//! number of cases runs, so `cargo test` stays quick.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use hindcast_core::provider::{Environment, Provider};
use hindcast_core::time_window::TimeWindow;
use hindcast_import::backfill::{BackfillOptions, RunContext, SilentObserver, Status, run_backfill};

/// Cases per proptest round; rounds repeat (with fresh seeds) until the time box closes.
const CASES_PER_ROUND: u32 = 32;

/// Cases run when no time box is set.
const DEFAULT_CASES: u32 = 24;

/// What to fuzz: a provider, the files to start from, and where a mutated file must go.
pub struct FuzzTarget {
    pub name: &'static str,
    pub provider: Arc<dyn Provider>,
    /// Whole seed files; each case mutates one of them.
    pub seeds: Vec<Vec<u8>>,
    /// Writes `bytes` under a fresh `home` where the provider finds it (as `copies` files, to reach
    /// several of its file kinds), and returns its environment.
    pub layout: fn(home: &Path, bytes: &[u8]) -> Environment,
    pub copies: u64,
}

/// What a fuzz run did.
#[derive(Debug, Default)]
pub struct FuzzStats {
    pub inputs: u64,
    pub mutations: u64,
    pub lines_skipped: u64,
    pub elapsed: Duration,
}

/// One change to a seed file.
#[derive(Clone, Debug)]
pub enum Mutation {
    FlipBit {
        at: Index,
        bit: u8,
    },
    DeleteRange {
        at: Index,
        len: usize,
    },
    Insert {
        at: Index,
        bytes: Vec<u8>,
    },
    Splice {
        at: Index,
        token: &'static [u8],
    },
    Truncate {
        at: Index,
    },
    DuplicateLine {
        line: Index,
    },
    DropLine {
        line: Index,
    },
    SwapLines {
        first: Index,
        second: Index,
    },
    /// Replaces one JSON node of a line with a value of another shape.
    ReplaceNode {
        line: Index,
        node: Index,
        value: Shape,
    },
    /// Removes one key of one JSON object of a line.
    RemoveKey {
        line: Index,
        node: Index,
    },
    /// Inserts a whole line that is JSON but no record (`{}`, a type without an id, ...).
    InsertLine {
        line: Index,
        text: &'static [u8],
    },
}

/// Lines that parse as JSON but are not records of any client.
const NOT_RECORDS: &[&[u8]] = &[
    b"{}",
    b"{\"type\":\"weird\"}",
    b"{\"timestamp\":\"not-a-date\"}",
    b"{\"type\":\"user\"}",
    b"{\"payload\":{}}",
    b"[]",
    br#"{"type":"\u001b]0;title\u0007"}"#,
];

/// A JSON value of a chosen shape put where the parser expects something else.
#[derive(Clone, Debug)]
pub enum Shape {
    Null,
    Bool(bool),
    Number(f64),
    Huge,
    Text(String),
    EmptyArray,
    EmptyObject,
    Nested(usize),
}

/// Byte sequences parsers trip on.
const TOKENS: &[&[u8]] = &[
    b"\0",
    b"\xEF\xBB\xBF",
    b"\r\n",
    b"\n",
    b"\xFF\xFE",
    b"\xC3\x28",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"[]",
    b"{}",
    b"\"",
    b"\\",
    b"1e999",
    b"-0",
    b"18446744073709551616",
    b"\"2026-13-45T99:99:99Z\"",
    // Terminal escapes, JSON-escaped (valid text) and raw (invalid inside a JSON string).
    b"\\u001b[31m",
    b"\\u001b]0;pwned\\u0007",
    b"\\u009b2J",
    b"\\u202e",
    b"\x1b[2J",
];

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Null),
        any::<bool>().prop_map(Shape::Bool),
        prop_oneof![Just(-1.0), Just(0.5), Just(1e300), Just(-9.2e18)].prop_map(Shape::Number),
        Just(Shape::Huge),
        prop_oneof![
            Just(String::new()),
            Just("\u{0}".to_string()),
            Just("é🙂\u{202e}".to_string()),
            Just("\u{1b}[31mred\u{1b}]0;title\u{7}\u{1b}[2J".to_string()),
            "[a-z]{1,12}"
        ]
        .prop_map(Shape::Text),
        Just(Shape::EmptyArray),
        Just(Shape::EmptyObject),
        (1usize..400).prop_map(Shape::Nested),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::DeleteRange { at, len }),
        (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<Index>(), proptest::sample::select(TOKENS)).prop_map(|(at, token)| Mutation::Splice { at, token }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        any::<Index>().prop_map(|line| Mutation::DuplicateLine { line }),
        any::<Index>().prop_map(|line| Mutation::DropLine { line }),
        (any::<Index>(), any::<Index>()).prop_map(|(first, second)| Mutation::SwapLines { first, second }),
        (any::<Index>(), any::<Index>(), shape()).prop_map(|(line, node, value)| Mutation::ReplaceNode {
            line,
            node,
            value
        }),
        (any::<Index>(), any::<Index>()).prop_map(|(line, node)| Mutation::RemoveKey { line, node }),
        (any::<Index>(), proptest::sample::select(NOT_RECORDS))
            .prop_map(|(line, text)| Mutation::InsertLine { line, text }),
    ]
}

/// A seed (by index) and the mutations applied to it in order.
pub fn mutated_input(seeds: usize) -> impl Strategy<Value = (Index, Vec<Mutation>)> {
    assert!(seeds > 0, "a fuzz target needs seed files");
    (any::<Index>(), proptest::collection::vec(mutation(), 1..6))
}

/// Applies `mutations` to `seed`.
pub fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for mutation in mutations {
        let position = |at: &Index, bytes: &Vec<u8>| at.index(bytes.len() + 1);
        match mutation {
            Mutation::FlipBit { at, bit } if !bytes.is_empty() => {
                let at = at.index(bytes.len());
                bytes[at] ^= 1 << bit;
            }
            Mutation::FlipBit { .. } => {}
            Mutation::DeleteRange { at, len } => {
                let start = position(at, &bytes);
                let end = (start + len).min(bytes.len());
                bytes.drain(start..end);
            }
            Mutation::Insert { at, bytes: inserted } => {
                let at = position(at, &bytes);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Splice { at, token } => {
                let at = position(at, &bytes);
                bytes.splice(at..at, token.iter().copied());
            }
            Mutation::Truncate { at } => {
                let at = position(at, &bytes);
                bytes.truncate(at);
            }
            Mutation::DuplicateLine { line } => edit_lines(&mut bytes, |lines| {
                let at = line.index(lines.len());
                lines.insert(at, lines[at].clone());
            }),
            Mutation::DropLine { line } => edit_lines(&mut bytes, |lines| {
                lines.remove(line.index(lines.len()));
            }),
            Mutation::SwapLines { first, second } => edit_lines(&mut bytes, |lines| {
                let (first, second) = (first.index(lines.len()), second.index(lines.len()));
                lines.swap(first, second);
            }),
            Mutation::ReplaceNode { line, node, value } => edit_json(&mut bytes, line, |json| {
                if let Some(target) = nth_node(json, node) {
                    *target = value.to_json();
                }
            }),
            Mutation::InsertLine { line, text } => edit_lines(&mut bytes, |lines| {
                let at = line.index(lines.len() + 1);
                lines.insert(at, text.to_vec());
            }),
            Mutation::RemoveKey { line, node } => edit_json(&mut bytes, line, |json| {
                if let Some(Value::Object(object)) = nth_node(json, node)
                    && let Some(key) = object.keys().next().cloned()
                {
                    object.remove(&key);
                }
            }),
        }
    }
    bytes
}

impl Shape {
    fn to_json(&self) -> Value {
        match self {
            Shape::Null => Value::Null,
            Shape::Bool(value) => Value::Bool(*value),
            Shape::Number(value) => serde_json::Number::from_f64(*value).map_or(Value::Null, Value::Number),
            Shape::Huge => Value::from(u64::MAX),
            Shape::Text(text) => Value::from(text.clone()),
            Shape::EmptyArray => Value::Array(Vec::new()),
            Shape::EmptyObject => Value::Object(serde_json::Map::new()),
            Shape::Nested(depth) => (0..*depth).fold(Value::Null, |inner, _| Value::Array(vec![inner])),
        }
    }
}

fn edit_lines(bytes: &mut Vec<u8>, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let mut lines: Vec<Vec<u8>> = bytes.split(|byte| *byte == b'\n').map(<[u8]>::to_vec).collect();
    if lines.is_empty() {
        return;
    }
    edit(&mut lines);
    *bytes = lines.join(&b'\n');
}

/// Edits line `line` as JSON when it parses (a whole-file JSON document is one "line" too).
fn edit_json(bytes: &mut Vec<u8>, line: &Index, edit: impl FnOnce(&mut Value)) {
    let single_document = serde_json::from_slice::<Value>(bytes).is_ok() && bytes.contains(&b'\n');
    if single_document {
        let mut json: Value = serde_json::from_slice(bytes).expect("checked above");
        edit(&mut json);
        *bytes = serde_json::to_vec_pretty(&json).expect("a value serializes");
        return;
    }
    edit_lines(bytes, |lines| {
        let at = line.index(lines.len());
        if let Ok(mut json) = serde_json::from_slice::<Value>(&lines[at]) {
            edit(&mut json);
            lines[at] = serde_json::to_vec(&json).expect("a value serializes");
        }
    });
}

/// The `index`-th node of `json` in pre-order (the root when the index wraps to it).
fn nth_node<'a>(json: &'a mut Value, index: &Index) -> Option<&'a mut Value> {
    fn count(value: &Value) -> usize {
        1 + match value {
            Value::Array(items) => items.iter().map(count).sum(),
            Value::Object(object) => object.values().map(count).sum(),
            _ => 0,
        }
    }
    fn find(value: &mut Value, mut target: usize) -> Result<&mut Value, usize> {
        if target == 0 {
            return Ok(value);
        }
        target -= 1;
        let children: Vec<&mut Value> = match value {
            Value::Array(items) => items.iter_mut().collect(),
            Value::Object(object) => object.values_mut().collect(),
            _ => Vec::new(),
        };
        for child in children {
            match find(child, target) {
                Ok(found) => return Ok(found),
                Err(rest) => target = rest,
            }
        }
        Err(target)
    }
    let total = count(json);
    find(json, index.index(total)).ok()
}

/// Runs the target until the time box closes (or `DEFAULT_CASES` without one). Panics with the
/// shrunk failing input when a case fails.
pub fn run(target: &FuzzTarget) -> FuzzStats {
    let budget = std::env::var("HINDCAST_FUZZ_SECONDS").ok().and_then(|seconds| seconds.parse::<u64>().ok());
    let started = Instant::now();
    let mut stats = FuzzStats::default();
    loop {
        let cases = if budget.is_some() { CASES_PER_ROUND } else { DEFAULT_CASES };
        let config = Config { cases, failure_persistence: None, max_shrink_iters: 2_000, ..Config::default() };
        let mut runner = TestRunner::new(config);
        let inputs = std::cell::Cell::new(0u64);
        let mutations = std::cell::Cell::new(0u64);
        let skipped = std::cell::Cell::new(0u64);
        let result = runner.run(&mutated_input(target.seeds.len()), |(seed, changes)| {
            let bytes = apply(&target.seeds[seed.index(target.seeds.len())], &changes);
            inputs.set(inputs.get() + 1);
            mutations.set(mutations.get() + changes.len() as u64);
            skipped.set(skipped.get() + check(target, &bytes)?);
            Ok(())
        });
        stats.inputs += inputs.get();
        stats.mutations += mutations.get();
        stats.lines_skipped += skipped.get();
        if let Err(failure) = result {
            panic!("fuzz {}: {failure}", target.name);
        }
        if budget.is_none_or(|seconds| started.elapsed() >= Duration::from_secs(seconds)) {
            break;
        }
    }
    stats.elapsed = started.elapsed();
    eprintln!(
        "fuzz {}: {} inputs, {} mutations, {} lines skipped and reported, no panic ({:.1?})",
        target.name, stats.inputs, stats.mutations, stats.lines_skipped, stats.elapsed
    );
    stats
}

/// Parses one mutated file through the real pipeline (a dry run): the provider must finish ok,
/// and never report more skipped lines than the file has.
fn check(target: &FuzzTarget, bytes: &[u8]) -> Result<u64, TestCaseError> {
    let home = tempfile::tempdir().map_err(|error| TestCaseError::fail(error.to_string()))?;
    let env = (target.layout)(home.path(), bytes);
    let materializers = hindcast_core::registry::MaterializerRegistry::builtin();
    let events = hindcast_import::envelope::EventLog::disabled();
    let context = RunContext {
        materializers: &materializers,
        env: &env,
        events: &events,
        observer: &SilentObserver,
        cancel: None,
    };
    let options = BackfillOptions::new(TimeWindow::ALL, true);
    let run = run_backfill(std::slice::from_ref(&target.provider), None, &options, &context);
    let report = run.providers.first().ok_or_else(|| TestCaseError::fail("no provider report"))?;
    prop_assert_eq!(report.status, Status::Ok, "error: {:?}", report.error);
    let lines = bytes.split(|byte| *byte == b'\n').count() as u64 * target.copies;
    prop_assert!(report.lines_skipped.count <= lines, "{} skipped of {lines} lines", report.lines_skipped.count);
    Ok(report.lines_skipped.count)
}

/// Reads seed files: every regular file under `roots` whose name passes `keep`, at most
/// `max_bytes` each (cut at a line end), so cases stay small.
pub fn seeds_from(roots: &[&Path], keep: impl Fn(&Path) -> bool, max_bytes: usize) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for root in roots {
        for entry in walkdir::WalkDir::new(root).sort_by_file_name().into_iter().flatten() {
            if !entry.file_type().is_file() || !keep(entry.path()) {
                continue;
            }
            let Ok(mut bytes) = std::fs::read(entry.path()) else { continue };
            if bytes.len() > max_bytes {
                let cut = bytes[..max_bytes].iter().rposition(|byte| *byte == b'\n').map_or(max_bytes, |end| end + 1);
                bytes.truncate(cut);
            }
            seeds.push(bytes);
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_mutations_keep_lines_parseable_and_byte_mutations_stay_in_bounds() {
        use proptest::strategy::ValueTree;
        let seed = b"{\"a\":{\"b\":[1,2]},\"c\":\"x\"}\n{\"d\":true}\n";
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let index = || any::<Index>().new_tree(&mut TestRunner::deterministic()).unwrap().current();
            let value = shape().new_tree(&mut runner).unwrap().current();
            let replaced = apply(seed, &[Mutation::ReplaceNode { line: index(), node: index(), value }]);
            for line in replaced.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()) {
                serde_json::from_slice::<Value>(line).expect("a node replacement keeps the line JSON");
            }
            let mutations = proptest::collection::vec(mutation(), 1..6).new_tree(&mut runner).unwrap().current();
            let mutated = apply(seed, &mutations);
            assert!(mutated.len() <= seed.len() * 4 + 2_000, "mutations stay small");
        }
    }
}
