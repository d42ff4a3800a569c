//! Test support: scripted providers and synthetic exchanges (also for the failure smokes of the
//! testbed binary), a real backfill into a store, table digests, compact text of exchanges for
//! `check(input, expected)` tests, the recomputation oracle, the fuzz harness and schema-7 stores
//! for upgrade tests.

pub mod compact;
pub mod fuzz;
pub mod oracle;
pub mod schema7;

pub use compact::compact_text;

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

use hindcast_core::materialize::MESSAGES_DATASET;
use hindcast_core::model::{
    MessageFlags, MessageIdentity, MessagePart, ProjectedExchange, ProjectedMessage, ProjectedSession, ProjectedUsage,
    Role, SourceFile, SourceUnit,
};
use hindcast_core::provider::{
    Availability, DiscoverError, Discovery, Environment, ExchangeSink, ParseContext, ParseError, ParseReport, Provider,
    Root,
};
use hindcast_core::time_window::TimeWindow;

/// A deterministic exchange: `messages` alternating user/assistant messages one minute apart from
/// 2026-01-01T00:00:00Z, and one usage record.
pub fn synthetic_exchange(client: &str, session: &str, messages: usize) -> ProjectedExchange {
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().expect("valid constant timestamp");
    let at = |index: usize| start + SignedDuration::from_mins(index as i64);
    let projected: Vec<ProjectedMessage> = (0..messages)
        .map(|index| {
            let key = format!("{session}/m{index}");
            ProjectedMessage {
                identity: MessageIdentity::native(key.clone()),
                native_id: Some(key),
                parent_key: index.checked_sub(1).map(|parent| format!("{session}/m{parent}")),
                role: if index % 2 == 0 { Role::User } else { Role::Assistant },
                timestamp: Some(at(index)),
                model: (index % 2 == 1).then(|| "synthetic-model".to_string()),
                flags: MessageFlags::default(),
                raw_frame: Some(serde_json::json!({ "type": "synthetic", "index": index }).into()),
                parts: vec![MessagePart::text(format!("message {index} of {session} {}", "x".repeat(200)))],
                source_path: None,
            }
        })
        .collect();
    ProjectedExchange {
        session: ProjectedSession {
            client: client.to_string(),
            native_id: session.to_string(),
            source_path: PathBuf::from(format!("/scripted/{client}/{session}.jsonl")),
            title: Some(format!("session {session}")),
            models: vec!["synthetic-model".into()],
            started_at: Some(start),
            ended_at: messages.checked_sub(1).map(at),
            ..ProjectedSession::default()
        },
        usage: vec![ProjectedUsage {
            key: format!("{session}/usage"),
            message_key: (messages > 1).then(|| format!("{session}/m1")),
            model: Some("synthetic-model".into()),
            timestamp: Some(start),
            input_tokens: 100,
            output_tokens: 20,
            cache_read_tokens: 60,
            cache_creation_tokens: 10,
            reasoning_tokens: 5,
            ..ProjectedUsage::default()
        }],
        messages: projected,
        ..ProjectedExchange::default()
    }
}

/// How a scripted provider behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Discovers `sessions` units and emits one synthetic exchange (4 messages) per unit.
    Ok { sessions: usize },
    /// Emits exchanges tagged with another dataset than the one it declares.
    EmitsDataset { dataset: String },
    /// Fails to parse every unit.
    ParseFails,
    /// Panics while parsing.
    Panics,
    /// Emits `sessions` exchanges of `messages` messages each (for store-size tests).
    Large { sessions: usize, messages: usize },
    /// Like `Large`, but hands each session over in `parts` pieces, as a long session is.
    InParts { sessions: usize, messages: usize, parts: usize },
}

/// A provider whose discovery and parsing are scripted; it reads no files.
#[derive(Clone, Debug)]
pub struct ScriptedProvider {
    name: String,
    dataset: String,
    behavior: Behavior,
}

impl ScriptedProvider {
    /// A provider called `name` feeding `dataset`.
    pub fn new(name: &str, dataset: &str, behavior: Behavior) -> Self {
        Self { name: name.to_string(), dataset: dataset.to_string(), behavior }
    }

    /// The providers the testbed binary registers, one per failure mode.
    pub fn testbed_set() -> Vec<ScriptedProvider> {
        vec![
            Self::new("test-ok", MESSAGES_DATASET, Behavior::Ok { sessions: 3 }),
            Self::new("test-no-materializer", "tokens", Behavior::Ok { sessions: 1 }),
            Self::new("test-mismatch", MESSAGES_DATASET, Behavior::EmitsDataset { dataset: "tokens".into() }),
            Self::new("test-parse-fails", MESSAGES_DATASET, Behavior::ParseFails),
            Self::new("test-panics", MESSAGES_DATASET, Behavior::Panics),
            Self::new("test-large", MESSAGES_DATASET, Behavior::Large { sessions: 40, messages: 200 }),
        ]
    }

    fn unit_count(&self) -> usize {
        match self.behavior {
            Behavior::Ok { sessions } | Behavior::Large { sessions, .. } | Behavior::InParts { sessions, .. } => {
                sessions
            }
            _ => 1,
        }
    }
}

impl Provider for ScriptedProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn dataset(&self) -> &str {
        &self.dataset
    }

    fn description(&self) -> &str {
        "scripted provider for tests"
    }

    fn roots(&self, _env: &Environment) -> Vec<Root> {
        vec![Root { path: PathBuf::from(format!("/scripted/{}", self.name)), origin: "scripted".into(), exists: true }]
    }

    fn availability(&self, _env: &Environment) -> Availability {
        Availability { available: true, reason: "scripted".into() }
    }

    fn discover(&self, _env: &Environment, _window: &TimeWindow) -> Result<Discovery, DiscoverError> {
        let units = (0..self.unit_count())
            .map(|index| {
                let key = format!("{}-{index}", self.name);
                SourceUnit {
                    files: vec![SourceFile {
                        path: PathBuf::from(format!("/scripted/{}/{key}.jsonl", self.name)),
                        kind: "session".into(),
                        size: 1_000,
                        modified: None,
                        inode: None,
                    }],
                    key,
                }
            })
            .collect();
        Ok(Discovery { units, ..Discovery::default() })
    }

    fn parse(
        &self,
        unit: &SourceUnit,
        _context: &ParseContext<'_>,
        sink: &mut dyn ExchangeSink,
    ) -> Result<ParseReport, ParseError> {
        let (dataset, messages) = match &self.behavior {
            Behavior::Ok { .. } => (self.dataset.as_str(), 4),
            Behavior::Large { messages, .. } => (self.dataset.as_str(), *messages),
            Behavior::EmitsDataset { dataset } => (dataset.as_str(), 4),
            Behavior::ParseFails => {
                return Err(ParseError::Format {
                    path: unit.files[0].path.clone(),
                    message: "scripted parse failure".into(),
                });
            }
            Behavior::Panics => panic!("scripted panic in {}", unit.key),
            Behavior::InParts { messages, parts, .. } => {
                let mut rest = synthetic_exchange(&self.name, &unit.key, *messages);
                for _ in 1..*parts {
                    sink.emit(&self.dataset, rest.split_front(messages.div_ceil(*parts)))?;
                }
                sink.emit(&self.dataset, rest)?;
                return Ok(ParseReport { sessions_seen: 1, items_seen: *messages as u64, ..ParseReport::default() });
            }
        };
        sink.emit(dataset, synthetic_exchange(&self.name, &unit.key, messages))?;
        Ok(ParseReport { sessions_seen: 1, items_seen: messages as u64, ..ParseReport::default() })
    }
}

/// A sink that keeps every emitted exchange with its dataset (for provider tests).
#[derive(Debug, Default)]
pub struct CollectingSink {
    pub exchanges: Vec<(String, ProjectedExchange)>,
}

impl ExchangeSink for CollectingSink {
    fn emit(&mut self, dataset: &str, exchange: ProjectedExchange) -> Result<(), hindcast_core::provider::SinkError> {
        self.exchanges.push((dataset.to_string(), exchange));
        Ok(())
    }
}

/// Discovers and parses everything `provider` finds under `env`, collecting the exchanges and the
/// merged parse report. Panics on a unit that fails to parse (tests expect none).
pub fn import_all(
    provider: &dyn Provider,
    env: &Environment,
    window: &TimeWindow,
) -> (Vec<ProjectedExchange>, ParseReport) {
    let discovery = provider.discover(env, window).expect("discovery succeeds");
    let context = ParseContext { window, env, resume: None };
    let mut report = ParseReport::default();
    let mut sink = CollectingSink::default();
    for unit in &discovery.units {
        let unit_report =
            provider.parse(unit, &context, &mut sink).unwrap_or_else(|error| panic!("{}: {error}", unit.key));
        report.merge(unit_report);
    }
    (sink.exchanges.into_iter().map(|(_, exchange)| exchange).collect(), report)
}

/// Runs a real backfill of `provider` (everything under `env`) into the store at `db`, creating it
/// if needed, and returns the provider's report. `reparse` ignores the sources manifest.
pub fn backfill_into(
    provider: std::sync::Arc<dyn Provider>,
    env: &Environment,
    db: &std::path::Path,
    reparse: bool,
) -> hindcast_import::backfill::ProviderReport {
    use hindcast_import::backfill::{BackfillOptions, RunContext, SilentObserver, run_backfill};
    let materializers = hindcast_core::registry::MaterializerRegistry::builtin();
    let events = hindcast_import::envelope::EventLog::disabled();
    let context =
        RunContext { materializers: &materializers, env, events: &events, observer: &SilentObserver, cancel: None };
    let options = BackfillOptions { reparse, ..BackfillOptions::new(TimeWindow::ALL, false) };
    let mut store =
        hindcast_store::Store::open_for_import(db, hindcast_store::StoreOptions::default()).expect("store opens");
    let mut run = run_backfill(&[provider], Some(&mut store), &options, &context);
    run.providers.pop().expect("one provider report")
}

/// Import-then-append against a clean import, for one file of a source tree: `tree` is copied to
/// `root` (a client's source directory, e.g. a Claude `projects/` dir) with the file at `file`
/// (relative to `tree`) cut to its first `cut` bytes (a line boundary, or mid-line: a torn last
/// line), imported into one store, completed and imported again; a second store imports the
/// complete copy once. Returns both stores' digests (`sources` and `runs` are not compared:
/// their checkpoints legitimately differ).
pub fn appended_and_clean_digests(
    provider: std::sync::Arc<dyn Provider>,
    env: &Environment,
    tree: &std::path::Path,
    root: &std::path::Path,
    file: &std::path::Path,
    cut: usize,
) -> (Digests, Digests) {
    let work = root.parent().expect("the root has a parent").to_path_buf();
    if root.exists() {
        std::fs::remove_dir_all(root).expect("remove the previous copy");
    }
    copy_tree(tree, root);
    let whole = std::fs::read(tree.join(file)).expect("read the file");
    std::fs::write(root.join(file), &whole[..cut.min(whole.len())]).expect("cut the file");
    let (appended, clean) = (work.join("appended.db"), work.join("clean.db"));
    for db in [&appended, &clean] {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    backfill_into(provider.clone(), env, &appended, false);
    std::fs::write(root.join(file), &whole).expect("complete the file");
    backfill_into(provider.clone(), env, &appended, false);
    backfill_into(provider, env, &clean, false);
    (table_digests(&appended), table_digests(&clean))
}

/// Row count and content hash per table.
pub type Digests = std::collections::BTreeMap<String, (usize, String)>;

/// Copies a directory tree (files and directories; the copies are writable).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("list the tree") {
        let entry = entry.expect("read an entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::write(&target, std::fs::read(entry.path()).expect("read a file")).expect("write a copy");
        }
    }
}

/// The tables whose content `table_digests` compares.
pub const CONTENT_TABLES: &[&str] = &[
    "sessions",
    "messages",
    "parts",
    "usage",
    "projects",
    "import_notes",
    "session_refs",
    "quarter_rollup",
    "quarter_projects",
    "session_rollup",
    "rate_limit",
];

/// What [`digests_of`] reads of a table: its rows, or, for a table keyed by a rowid of another,
/// the rows with the other's content key in its place.
fn digest_source(table: &str) -> String {
    match table {
        "session_rollup" => "(SELECT lower(hex(s.session_key)) AS session_id, r.* FROM session_rollup r \
            JOIN session s ON s.session = r.session)"
            .to_string(),
        "rate_limit" => "(SELECT lower(hex(s.session_key)) AS session_id, r.client, r.observed_at, r.window, \
            r.window_minutes, r.used_percent, r.resets_at, r.plan FROM rate_limit r LEFT JOIN session s ON s.session = r.session)"
            .to_string(),
        _ => table.to_string(),
    }
}

/// Row count and a sha256 over the sorted rows of every content table, run ids left out: two stores
/// that hold the same history have equal digests whatever runs built them.
pub fn table_digests(db: &std::path::Path) -> std::collections::BTreeMap<String, (usize, String)> {
    digests_of(db, CONTENT_TABLES).expect("the store's tables can be read")
}

/// Row count and a sha256 over the sorted rows of each of `tables` (columns `first_run_id` and
/// `run_id` left out, raw frames as canonical JSON).
pub fn digests_of(
    db: &std::path::Path,
    tables: &[&str],
) -> Result<std::collections::BTreeMap<String, (usize, String)>, hindcast_store::StoreError> {
    let conn = hindcast_store::Store::open_read_only(db)?;
    let sqlite = |source| hindcast_store::StoreError::Sqlite { path: db.to_path_buf(), source };
    let mut digests = std::collections::BTreeMap::new();
    for table in tables {
        // A table a store of an older schema does not have yet.
        let exists: bool = conn
            .query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE name = ?1", [table], |row| row.get(0))
            .map_err(sqlite)?;
        if !exists {
            digests.insert(table.to_string(), (0, "absent".to_string()));
            continue;
        }
        let mut statement = conn.prepare(&format!("SELECT * FROM {}", digest_source(table))).map_err(sqlite)?;
        let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
        let mut rows: Vec<String> = statement
            .query_map([], |row| {
                let mut text = String::new();
                for (index, column) in columns.iter().enumerate() {
                    // Run ids and rowids differ between stores built differently.
                    if column != "first_run_id"
                        && column != "run_id"
                        && !(table == &"session_rollup" && column == "session")
                    {
                        let mut value: rusqlite::types::Value = row.get(index)?;
                        // A frame is its JSON value: the store may restore the fields it keeps
                        // elsewhere in another order (`hindcast_store::frame`).
                        if let rusqlite::types::Value::Text(frame) = &mut value
                            && column == "raw_frame"
                            && let Ok(json) = serde_json::from_str::<serde_json::Value>(frame)
                        {
                            *frame = json.to_string();
                        }
                        text.push_str(&format!("{value:?}\u{1f}"));
                    }
                }
                Ok(text)
            })
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(sqlite)?;
        rows.sort();
        digests
            .insert(table.to_string(), (rows.len(), hindcast_core::identity::sha256_hex(rows.join("\n").as_bytes())));
    }
    Ok(digests)
}

/// The shared corpora (`../shared/corpus`, beside the repository) as Claude and Codex find them:
/// every Claude project root and every Codex session set linked under `home`. The environment
/// names them; `home` must outlive its use.
pub fn shared_corpora_environment(home: &std::path::Path) -> hindcast_core::provider::Environment {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(corpus.is_dir(), "the shared corpus is expected at {}", corpus.display());
    let corpus = corpus.canonicalize().expect("the corpus path resolves");
    std::fs::create_dir_all(home.join("spotter/projects")).expect("a temporary home");
    std::os::unix::fs::symlink(corpus.join("claude/spotter"), home.join("spotter/projects/spotter"))
        .expect("a temporary home");
    std::fs::create_dir_all(home.join("codex/sessions")).expect("a temporary home");
    for source in ["agent-history", "agtrace", "codemie-code", "localpush"] {
        std::os::unix::fs::symlink(corpus.join("codex").join(source), home.join("codex/sessions").join(source))
            .expect("a temporary home");
    }
    let claude_roots = format!(
        "{},{},{}",
        corpus.join("claude/claude-code-log").display(),
        corpus.join("claude/claude-code-viewer").display(),
        home.join("spotter").display()
    );
    hindcast_core::provider::Environment::with_home(home)
        .set_var("CLAUDE_CONFIG_DIR", claude_roots)
        .set_var("CODEX_HOME", home.join("codex").display().to_string())
}

/// Builds the OpenCode fixture data directory in `dir`: `opencode.db` (WAL mode, with its empty
/// `-wal`) from `fixtures/opencode/opencode.sql` and a copy of the legacy `storage/` tree beside
/// it (a database is fixture text, not a binary file in the repository). Returns `dir`.
pub fn opencode_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/opencode");
    std::fs::create_dir_all(dir).expect("create the data directory");
    copy_tree(&fixtures.join("storage"), &dir.join("storage"));
    let sql = std::fs::read_to_string(fixtures.join("opencode.sql")).expect("read opencode.sql");
    let conn = rusqlite::Connection::open(dir.join("opencode.db")).expect("create opencode.db");
    conn.execute_batch(&sql).expect("opencode.sql runs");
    drop(conn);
    // As OpenCode leaves its directory (the shared corpus's real one too): an empty write-ahead
    // log beside the checkpointed database, which SQLite removed when this connection closed.
    std::fs::write(dir.join("opencode.db-wal"), b"").expect("create opencode.db-wal");
    // OpenCode's files are 0644; hindcast's SQLite creates 0600 ones, and SQLite gives an empty
    // `-wal` the mode of its database when it opens it.
    for name in ["opencode.db", "opencode.db-wal"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    dir.to_path_buf()
}

/// A projected message as one line for snapshots: role, native id, the flags set, part kinds
/// (`assistant g1 [sidechain,rewound] thinking tool_call tool_result`).
pub fn message_line(message: &hindcast_core::model::ProjectedMessage) -> String {
    let flags = &message.flags;
    let set: Vec<&str> = [
        ("sidechain", flags.sidechain),
        ("meta", flags.meta),
        ("injected", flags.injected),
        ("compact_summary", flags.compact_summary),
        ("compact_boundary", flags.compact_boundary),
        ("api_error", flags.api_error),
        ("rewound", flags.rewound),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect();
    let parts: Vec<&str> = message.parts.iter().map(|part| part.kind.as_str()).collect();
    format!(
        "{} {} [{}] {}",
        message.role.as_str(),
        message.native_id.as_deref().unwrap_or("-"),
        set.join(","),
        parts.join(" ")
    )
}
