//! The `Provider` contract: what a client's importer must tell and yield, and the environment it sees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use serde_json::Value;

use crate::model::{ProjectedExchange, SourceUnit};
use crate::resume::ResumePlan;
use crate::time_window::TimeWindow;

/// The process environment a provider sees: home directory, variables and per-provider root
/// overrides. Injected so tests never read the real home directory.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    home: Option<PathBuf>,
    vars: BTreeMap<String, String>,
    root_overrides: BTreeMap<String, PathBuf>,
}

impl Environment {
    /// The environment of the running process.
    pub fn from_process() -> Self {
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        let home = vars.get("HOME").filter(|home| !home.is_empty()).map(PathBuf::from);
        Self { home, vars, root_overrides: BTreeMap::new() }
    }

    /// An environment with only a home directory (for tests).
    pub fn with_home(home: impl Into<PathBuf>) -> Self {
        Self { home: Some(home.into()), ..Self::default() }
    }

    /// Sets a variable (builder style).
    pub fn set_var(mut self, key: &str, value: impl Into<String>) -> Self {
        self.vars.insert(key.to_string(), value.into());
        self
    }

    /// Points `provider` at `root` instead of its usual location (e.g. `--from DIR` for legacy).
    pub fn set_root_override(&mut self, provider: &str, root: PathBuf) {
        self.root_overrides.insert(provider.to_string(), root);
    }

    /// A variable's value; empty values count as unset.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str).filter(|value| !value.is_empty())
    }

    /// The home directory, when known.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// A root override set for `provider`.
    pub fn root_override(&self, provider: &str) -> Option<&Path> {
        self.root_overrides.get(provider).map(PathBuf::as_path)
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    pub fn xdg_config_home(&self) -> Option<PathBuf> {
        self.var("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| self.home().map(|home| home.join(".config")))
    }

    /// `$XDG_DATA_HOME`, else `~/.local/share`.
    pub fn xdg_data_home(&self) -> Option<PathBuf> {
        self.var("XDG_DATA_HOME").map(PathBuf::from).or_else(|| self.home().map(|home| home.join(".local/share")))
    }
}

/// A directory a provider reads from, and where that choice came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Root {
    pub path: PathBuf,
    /// `default`, or the variable/flag that chose it (`CLAUDE_CONFIG_DIR`, `--from`, ...).
    pub origin: String,
    pub exists: bool,
}

impl Root {
    /// A root chosen by `origin`, checking whether it exists now.
    pub fn new(path: PathBuf, origin: impl Into<String>) -> Self {
        let exists = path.is_dir();
        Self { path, origin: origin.into(), exists }
    }
}

/// Whether a provider has anything to read on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Availability {
    pub available: bool,
    pub reason: String,
}

impl Availability {
    /// Available when at least one root exists.
    pub fn from_roots(roots: &[Root]) -> Self {
        match roots.iter().find(|root| root.exists) {
            Some(root) => Self { available: true, reason: format!("found {}", root.path.display()) },
            None if roots.is_empty() => Self { available: false, reason: "no root directory configured".into() },
            None => Self {
                available: false,
                reason: format!(
                    "none of {} exists",
                    roots.iter().map(|root| root.path.display().to_string()).collect::<Vec<_>>().join(", ")
                ),
            },
        }
    }
}

/// Where something was skipped: `file:line` (line 1-based; 0 when the whole file was skipped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkipLocation {
    pub path: PathBuf,
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for SkipLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", escaped(&self.path), self.reason)
        } else {
            write!(f, "{}:{}: {}", escaped(&self.path), self.line, self.reason)
        }
    }
}

/// A count of skipped things with the first few locations kept for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SkipTally {
    pub count: u64,
    pub first: Vec<SkipLocation>,
}

impl SkipTally {
    /// How many locations a tally keeps.
    pub const KEPT_LOCATIONS: usize = 10;

    /// Nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records one skipped thing.
    pub fn record(&mut self, location: SkipLocation) {
        self.count += 1;
        if self.first.len() < Self::KEPT_LOCATIONS {
            self.first.push(location);
        }
    }

    /// Adds another tally into this one.
    pub fn merge(&mut self, other: SkipTally) {
        self.count += other.count;
        for location in other.first {
            if self.first.len() >= Self::KEPT_LOCATIONS {
                break;
            }
            self.first.push(location);
        }
    }
}

/// What discovery found within the window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    pub units: Vec<SourceUnit>,
    /// Files seen but not imported: not transcripts, outside the window, unreadable.
    pub files_skipped: SkipTally,
    /// Number of files per classification, including skipped ones (`session`, `subagent`, `other`, ...).
    pub files_by_kind: BTreeMap<String, u64>,
    /// Source files left out because they were last modified before `--since`.
    pub files_outside_window: u64,
    pub warnings: Vec<String>,
}

impl Discovery {
    /// Number of source files across all units.
    pub fn source_count(&self) -> usize {
        self.units.iter().map(|unit| unit.files.len()).sum()
    }

    /// Total bytes across all units.
    pub fn bytes(&self) -> u64 {
        self.units.iter().map(SourceUnit::bytes).sum()
    }
}

/// Discovery failed as a whole (a root that exists but cannot be listed).
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Opens a source file for reading. A file that cannot be opened — it vanished since discovery (a
/// client deleted or rotated it), lost its read permission, or became something other than a file —
/// is skipped with a warning, counted in `files_skipped` and left out of the sources manifest so the
/// next run tries it again; it never fails the unit or the run.
pub fn open_source(path: &Path, report: &mut ParseReport) -> Result<Option<std::fs::File>, ParseError> {
    let reason = match std::fs::File::open(path) {
        Ok(file) => match file.metadata() {
            Ok(metadata) if metadata.is_file() => return Ok(Some(file)),
            Ok(_) => "is no longer a regular file".to_string(),
            Err(error) => format!("cannot be read: {error}"),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => "disappeared before it could be read".to_string(),
        Err(error) => format!("cannot be read: {error}"),
    };
    report.warnings.push(format!("{} {reason}; skipped, and the next run tries it again", escaped(path)));
    report.files_skipped.record(SkipLocation { path: path.to_path_buf(), line: 0, reason });
    report.unsettled.push(path.to_path_buf());
    Ok(None)
}

/// A path for one line of human output: control characters (a newline in a file name, say) are
/// shown escaped so a report line always names exactly one file.
pub fn escaped(path: &Path) -> String {
    let text = path.display().to_string();
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// What one unit's parse saw, besides the exchanges it emitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ParseReport {
    pub sessions_seen: u64,
    /// Messages seen (before window filtering).
    pub items_seen: u64,
    /// Lines that could not be read (invalid UTF-8 or JSON), with file:line.
    pub lines_skipped: SkipTally,
    /// Files that could not be opened when their turn came (vanished, unreadable).
    #[serde(skip_serializing_if = "SkipTally::is_empty")]
    pub files_skipped: SkipTally,
    /// Records deliberately not imported (e.g. warmup agents), with reasons.
    pub records_skipped: SkipTally,
    /// Records whose timestamp is there but cannot be read (not RFC 3339, out of range): they are
    /// kept without one, so no day's totals count them.
    #[serde(skip_serializing_if = "SkipTally::is_empty")]
    pub timestamps_unreadable: SkipTally,
    /// Records of unknown type kept as `other`.
    pub unknown_records: u64,
    /// Known records that are not part of the transcript, by type (progress, snapshots, copies of
    /// messages already imported, ...): read, understood, deliberately not stored as messages.
    pub records_ignored: BTreeMap<String, u64>,
    pub warnings: Vec<String>,
    /// Lossy or dropped fields (also stored as `import_notes` rows).
    pub notes: Vec<String>,
    /// Where each file's next parse may continue if it only grows (kept in the sources manifest).
    #[serde(skip)]
    pub checkpoints: Vec<FileCheckpoint>,
    /// Files that changed while they were read: left out of the sources manifest, so the next run
    /// reads them (and their unit) again.
    #[serde(skip)]
    pub unsettled: Vec<PathBuf>,
}

/// A provider's promise: if `path` later only grows, parsing it from `offset` with `state` yields
/// what a full parse would add. `offset` is the start of a line the provider had fully read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheckpoint {
    pub path: PathBuf,
    pub offset: u64,
    pub state: Value,
}

impl ParseReport {
    /// Counts one ignored record of `kind`.
    pub fn ignore(&mut self, kind: &str) {
        *self.records_ignored.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds another report into this one.
    pub fn merge(&mut self, other: ParseReport) {
        self.sessions_seen += other.sessions_seen;
        self.items_seen += other.items_seen;
        self.lines_skipped.merge(other.lines_skipped);
        self.files_skipped.merge(other.files_skipped);
        self.records_skipped.merge(other.records_skipped);
        self.timestamps_unreadable.merge(other.timestamps_unreadable);
        self.unknown_records += other.unknown_records;
        for (kind, count) in other.records_ignored {
            *self.records_ignored.entry(kind).or_default() += count;
        }
        self.warnings.extend(other.warnings);
        self.notes.extend(other.notes);
        self.checkpoints.extend(other.checkpoints);
        self.unsettled.extend(other.unsettled);
    }
}

/// Why a sink refused an exchange: the run is stopping, or the exchange could not be materialized.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the run was stopped")]
    Stopped,
    #[error(transparent)]
    Materialize(#[from] crate::materialize::MaterializeError),
}

/// Receives the exchanges a provider yields, tagged with the dataset they belong to.
pub trait ExchangeSink {
    fn emit(&mut self, dataset: &str, exchange: ProjectedExchange) -> Result<(), SinkError>;
}

/// A whole unit could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the {provider} provider cannot parse sources yet (not implemented)")]
    NotImplemented { provider: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What a parse may consult besides the unit: the window and the environment.
#[derive(Clone, Debug)]
pub struct ParseContext<'a> {
    pub window: &'a TimeWindow,
    pub env: &'a Environment,
    /// Set when only appended files of the unit need parsing (see `Provider::supports_resume`):
    /// each listed file is read from its resume point; the unit's other files are unchanged and
    /// must not be read.
    pub resume: Option<&'a ResumePlan>,
}

/// One client's importer: discovers its sources and parses them into projected exchanges.
/// A provider never writes the store.
pub trait Provider: Send + Sync {
    /// Registry name, e.g. `claude`.
    fn name(&self) -> &str;

    /// The dataset the provider feeds (`messages`).
    fn dataset(&self) -> &str;

    /// One line saying what the provider reads.
    fn description(&self) -> &str;

    /// The directories this provider reads on this machine, in priority order.
    fn roots(&self, env: &Environment) -> Vec<Root>;

    /// Whether there is anything to read.
    fn availability(&self, env: &Environment) -> Availability {
        Availability::from_roots(&self.roots(env))
    }

    /// Finds the source units within `window` (a cheap pre-filter; parse applies the exact window).
    fn discover(&self, env: &Environment, window: &TimeWindow) -> Result<Discovery, DiscoverError>;

    /// The unit holding the source file at `path` (one of this provider's roots, as discovery
    /// finds it), for importing a session as it grows without discovering every root; `None`
    /// when the file is not under a root or the provider cannot tell.
    fn unit_of(&self, _env: &Environment, _path: &Path) -> Option<SourceUnit> {
        None
    }

    /// Whether `parse` can continue appended files from the checkpoints it reports in
    /// `ParseReport::checkpoints`. Without it, any change to a unit's files re-parses the unit.
    fn supports_resume(&self) -> bool {
        false
    }

    /// Parses one unit, emitting its exchanges into `sink`.
    fn parse(
        &self,
        unit: &SourceUnit,
        context: &ParseContext<'_>,
        sink: &mut dyn ExchangeSink,
    ) -> Result<ParseReport, ParseError>;

    /// Whether a message an earlier release stored from `raw_frame` (an `other` message with a
    /// fallback identity) is a record under today's rules; `false` makes an upgraded store drop
    /// it, as a clean import never writes it (the store's sources may be gone).
    fn is_record_frame(&self, _raw_frame: &serde_json::Value) -> bool {
        true
    }

    /// Whether a session with nothing in it (no message, usage, time, directory or title) is one
    /// this provider writes; `false` makes an upgraded store drop the ones an earlier release wrote.
    fn writes_empty_sessions(&self) -> bool {
        true
    }

    /// Whether a user message holding these texts (its text parts, in order) is one the client
    /// wrote itself (command output, notifications, hook summaries) rather than a prompt a person
    /// typed; the provider flags such messages injected when it parses them, and an upgraded store
    /// asks again of the prompts an earlier release stored.
    fn is_client_written(&self, _texts: &[&str]) -> bool {
        false
    }

    /// What went wrong, in a few words, for an API error message stored with `raw_frame` (the
    /// cause a client records beside an often empty body, e.g. `ConnectionRefused`).
    fn describe_error(&self, _raw_frame: &serde_json::Value) -> Option<String> {
        None
    }

    /// The client's own command that reopens session `native_id` (run in the session's
    /// directory), as words; `None` when the client has none.
    fn resume_command(&self, _native_id: &str) -> Option<Vec<String>> {
        None
    }

    /// The key of the billed response an assistant message's raw frame belongs to (what its usage
    /// record's `native_id` holds), so an upgraded store can give usage stored without its message
    /// to that message.
    fn response_key(&self, _raw_frame: &serde_json::Value) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_that_cannot_be_opened_is_skipped_counted_and_left_unsettled() {
        let dir = tempfile::tempdir().unwrap();
        let mut report = ParseReport::default();
        let vanished = open_source(&dir.path().join("gone.jsonl"), &mut report).unwrap();
        assert!(vanished.is_none());
        assert!(report.warnings[0].contains("gone.jsonl disappeared before it could be read"), "{report:?}");
        let directory = open_source(dir.path(), &mut report).unwrap();
        assert!(directory.is_none(), "a directory where a file was is skipped");
        assert!(report.warnings[1].contains("is no longer a regular file"), "{report:?}");
        assert_eq!(report.files_skipped.count, 2);
        assert_eq!(report.unsettled, [dir.path().join("gone.jsonl"), dir.path().to_path_buf()]);
        std::fs::write(dir.path().join("ok.jsonl"), "{}\n").unwrap();
        assert!(open_source(&dir.path().join("ok.jsonl"), &mut report).unwrap().is_some());
        assert_eq!(report.files_skipped.count, 2);
    }

    #[test]
    fn control_characters_in_paths_are_escaped_in_locations() {
        let location = SkipLocation { path: PathBuf::from("/a/b\nc.jsonl"), line: 3, reason: "invalid JSON".into() };
        assert_eq!(location.to_string(), "/a/b\\nc.jsonl:3: invalid JSON");
        assert_eq!(escaped(Path::new("/plain/path")), "/plain/path");
    }
}
