//! Reads the legacy store's files (YAML config, portfolio JSON, the projects' local settings,
//! session records in every encoding) into decoded records. Never writes, renames or locks anything.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use hindcast_core::model::SourceUnit;
use hindcast_core::provider::{Environment, ParseError, ParseReport, SkipLocation, open_source};
use serde_json::{Map, Value};

/// Fields that legacy stores as JSON text inside a string and that are decoded again.
const NESTED_FIELDS: &[&str] =
    &["runtimeHandle", "lifecycle", "statePayload", "dashboard", "agentReport", "reportWatcher", "lifecycleEvidence"];
/// Fields whose names start with these prefixes hold JSON text as well.
const NESTED_PREFIXES: &[&str] = &["prEnrichment", "prReviewComments"];

/// How a session record was stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `projects/{id}/sessions/{sid}.json` holding JSON.
    V2Json,
    /// A `.json` file holding key=value lines (issue #1720).
    KeyValueInJson,
    /// `{12hex}-{id}/sessions/{sid}`: key=value.
    V1KeyValue,
    /// `{12hex}-{id}/sessions/archive/{sid}_{timestamp}`: key=value of a terminated session.
    V1Archive,
    /// `projects/{id}/orchestrator.json`, the pre-V2 standalone orchestrator.
    OrchestratorFile,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::V2Json => "v2-json",
            Encoding::KeyValueInJson => "key-value-in-json",
            Encoding::V1KeyValue => "v1-key-value",
            Encoding::V1Archive => "v1-archive",
            Encoding::OrchestratorFile => "orchestrator-json",
        }
    }
}

/// A decoded session record.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub session_id: String,
    /// The project the file's location names.
    pub project_id: Option<String>,
    pub encoding: Encoding,
    pub path: PathBuf,
    /// Every field, with stringified nested fields decoded.
    pub fields: Map<String, Value>,
    /// Which fields were JSON text and had to be decoded (reported in metadata).
    pub decoded_fields: Vec<String>,
}

/// The configs read from the store root.
#[derive(Clone, Debug, Default)]
pub struct StoreConfig {
    pub root: PathBuf,
    pub config_path: Option<PathBuf>,
    pub config: Value,
    pub preferences: Value,
    pub registered: Value,
    /// Each registered project's own `agent-orchestrator.yaml`, by the project's directory.
    pub local_settings: BTreeMap<PathBuf, LocalSettings>,
    /// The home directory `~/` in registered project paths stands for.
    pub home: Option<PathBuf>,
}

/// Everything a legacy store holds, as read: its configs and its session records.
#[derive(Clone, Debug, Default)]
pub struct LegacyStore {
    pub config: StoreConfig,
    pub sessions: Vec<SessionRecord>,
}

/// A project's local settings file as read: its value (`Null` when unreadable) and where it could
/// not be read (reported as import notes of the project).
#[derive(Clone, Debug, Default)]
pub struct LocalSettings {
    pub value: Value,
    pub unreadable: Vec<SkipLocation>,
}

/// The source kind of a project's local settings file in the unit.
pub const LOCAL_SETTINGS_KIND: &str = "local_settings";

/// A registered project path with `~/` taken as the home directory.
pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// The local settings files of the projects `config` registers: `agent-orchestrator.yaml` (or
/// `.yml`) in each project's directory, where one exists.
pub fn local_settings_files(config: &Value, env: &Environment) -> Vec<PathBuf> {
    let projects = config.get("projects").and_then(Value::as_object);
    projects
        .into_iter()
        .flat_map(|projects| projects.values())
        .filter_map(|entry| entry.get("path").and_then(Value::as_str).filter(|path| !path.is_empty()))
        .filter_map(|path| {
            let dir = expand_home(path, env.home());
            [dir.join("agent-orchestrator.yaml"), dir.join("agent-orchestrator.yml")]
                .into_iter()
                .find(|candidate| candidate.is_file())
        })
        // Two projects registered at one directory share its settings file: it is one source.
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// Parses `key=value` lines: blank and `#` lines skipped, split on the first `=`, trimmed.
pub fn parse_key_value(text: &str) -> Map<String, Value> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), Value::String(value.trim().to_string())))
        .collect()
}

/// Decodes JSON-in-a-string fields (the "stringified nested fields" quirk), recursively for the
/// lifecycle's own sub-objects.
fn decode_nested(fields: &mut Map<String, Value>, decoded: &mut Vec<String>) {
    for (key, value) in fields.iter_mut() {
        let nested =
            NESTED_FIELDS.contains(&key.as_str()) || NESTED_PREFIXES.iter().any(|prefix| key.starts_with(prefix));
        if !nested {
            continue;
        }
        if let Some(text) = value.as_str().map(str::trim)
            && (text.starts_with('{') || text.starts_with('['))
            && let Ok(parsed) = serde_json::from_str::<Value>(text)
        {
            *value = parsed;
            decoded.push(key.clone());
        }
    }
    for lifecycle_key in ["lifecycle", "statePayload"] {
        if let Some(Value::Object(lifecycle)) = fields.get_mut(lifecycle_key) {
            for part in ["session", "pr", "runtime"] {
                if let Some(text) = lifecycle.get(part).and_then(Value::as_str).map(str::to_string)
                    && let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(&text)
                {
                    lifecycle.insert(part.to_string(), parsed);
                    decoded.push(format!("{lifecycle_key}.{part}"));
                }
            }
        }
    }
}

/// The session id of an archive file `{sid}_{timestamp}[.json]`.
fn archive_session_id(name: &str) -> String {
    let name = name.strip_suffix(".json").unwrap_or(name);
    match name.rfind('_') {
        Some(index) if name[index + 1..].chars().next().is_some_and(|c| c.is_ascii_digit()) => {
            name[..index].to_string()
        }
        _ => name.to_string(),
    }
}

/// Reads one session file. `Ok(None)` means the file was skipped and counted.
fn read_session(root: &Path, path: &Path, report: &mut ParseReport) -> Result<Option<SessionRecord>, ParseError> {
    let Some(mut file) = open_source(path, report)? else { return Ok(None) };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes)
        .map_err(|source| ParseError::Io { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let relative = components(path.strip_prefix(root).unwrap_or(path));
    let name = relative.last().cloned().unwrap_or_default();
    let (session_id, project_id, mut encoding) =
        match relative.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["projects", project, "orchestrator.json"] => {
                (String::new(), Some((*project).to_string()), Encoding::OrchestratorFile)
            }
            ["projects", project, "sessions", _] => (
                name.strip_suffix(".json").unwrap_or(&name).to_string(),
                Some((*project).to_string()),
                Encoding::V2Json,
            ),
            [dir, "sessions", "archive", _] => {
                (archive_session_id(&name), dir.get(13..).map(str::to_string), Encoding::V1Archive)
            }
            [dir, "sessions", _] => (
                name.strip_suffix(".json").unwrap_or(&name).to_string(),
                dir.get(13..).map(str::to_string),
                Encoding::V1KeyValue,
            ),
            _ => (name.clone(), None, Encoding::V2Json),
        };
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        report.records_skipped.record(SkipLocation {
            path: path.to_path_buf(),
            line: 0,
            reason: "empty session file (a reservation)".into(),
        });
        return Ok(None);
    }
    let mut fields = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => {
                report.lines_skipped.record(SkipLocation {
                    path: path.to_path_buf(),
                    line: 1,
                    reason: "session record is not a JSON object".into(),
                });
                return Ok(None);
            }
            Err(error) => {
                report.lines_skipped.record(SkipLocation {
                    path: path.to_path_buf(),
                    line: error.line() as u64,
                    reason: format!("unparseable session JSON: {error}"),
                });
                return Ok(None);
            }
        }
    } else {
        if encoding == Encoding::V2Json {
            encoding = Encoding::KeyValueInJson;
        }
        parse_key_value(&text)
    };
    if fields.is_empty() {
        // `{}` or a file of blank and comment lines: no field makes it a session.
        report.records_skipped.record(SkipLocation {
            path: path.to_path_buf(),
            line: 0,
            reason: "session record with no fields: not a session".into(),
        });
        return Ok(None);
    }
    let mut decoded_fields = Vec::new();
    decode_nested(&mut fields, &mut decoded_fields);
    let session_id = if encoding == Encoding::OrchestratorFile {
        fields.get("tmuxName").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| "orchestrator".to_string())
    } else {
        session_id
    };
    let project_id = fields.get("project").and_then(Value::as_str).map(str::to_string).or(project_id);
    Ok(Some(SessionRecord { session_id, project_id, encoding, path: path.to_path_buf(), fields, decoded_fields }))
}

fn read_json_file(path: &Path, report: &mut ParseReport) -> Value {
    match std::fs::read_to_string(path).map(|text| serde_json::from_str::<Value>(&text)) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            report.lines_skipped.record(SkipLocation {
                path: path.to_path_buf(),
                line: error.line() as u64,
                reason: format!("invalid JSON: {error}"),
            });
            Value::Null
        }
        Err(error) => {
            report.warnings.push(format!("cannot read {}: {error}", path.display()));
            Value::Null
        }
    }
}

/// Reads `config.yaml` (the project registry) as JSON values.
pub fn read_yaml(path: &Path, report: &mut ParseReport) -> Value {
    match std::fs::read_to_string(path) {
        Ok(text) => match serde_yaml_ng::from_str::<Value>(&text) {
            Ok(value) => value,
            Err(error) => {
                let line = error.location().map_or(0, |location| location.line() as u64);
                report.lines_skipped.record(SkipLocation {
                    path: path.to_path_buf(),
                    line,
                    reason: format!("invalid YAML: {error}"),
                });
                Value::Null
            }
        },
        Err(error) => {
            report.warnings.push(format!("cannot read {}: {error}", path.display()));
            Value::Null
        }
    }
}

/// Reads the whole store of a unit: configs, the projects' local settings and every session record.
pub fn read_store(unit: &SourceUnit, env: &Environment, report: &mut ParseReport) -> Result<LegacyStore, ParseError> {
    let root = PathBuf::from(&unit.key);
    let mut store =
        StoreConfig { root: root.clone(), home: env.home().map(Path::to_path_buf), ..StoreConfig::default() };
    let mut sessions = Vec::new();
    for file in &unit.files {
        match file.kind.as_str() {
            "config" => {
                store.config = read_yaml(&file.path, report);
                store.config_path = Some(file.path.clone());
            }
            "portfolio" if file.path.ends_with("preferences.json") => {
                store.preferences = read_json_file(&file.path, report)
            }
            "portfolio" => store.registered = read_json_file(&file.path, report),
            LOCAL_SETTINGS_KIND => {
                let mut scratch = ParseReport::default();
                let value = read_yaml(&file.path, &mut scratch);
                let dir = file.path.parent().map(Path::to_path_buf).unwrap_or_default();
                let settings = LocalSettings { value, unreadable: scratch.lines_skipped.first };
                store.local_settings.entry(dir).or_insert(settings);
            }
            _ => sessions.extend(read_session(&root, &file.path, report)?),
        }
    }
    warn_if_running(&root, report);
    Ok(LegacyStore { config: store, sessions })
}

/// A live legacy process may still be writing; reads are safe, and a rerun picks up changes.
fn warn_if_running(root: &Path, report: &mut ParseReport) {
    let Ok(text) = std::fs::read_to_string(root.join("running.json")) else { return };
    let pid = serde_json::from_str::<Value>(&text).ok().and_then(|running| running.get("pid").and_then(Value::as_u64));
    let alive = match pid {
        Some(pid) if Path::new("/proc").is_dir() => Path::new(&format!("/proc/{pid}")).exists(),
        Some(_) => true,
        None => false,
    };
    if alive {
        report.warnings.push(format!(
            "agent-orchestrator appears to be running (running.json names pid {}); the import read a snapshot — rerun later to pick up further changes",
            pid.unwrap_or_default()
        ));
    }
}
