//! What OpenCode stores, read into one shape whichever storage held it: sessions with their
//! messages and parts, from `opencode.db` (read-only, one snapshot, while the client may be
//! writing) or from the legacy JSON tree under `storage/`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use hindcast_core::model::ImportNote;
use hindcast_core::provider::{ParseError, ParseReport, SkipLocation};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Value, json};

/// One session with everything it holds, in the order OpenCode created it.
#[derive(Debug, Default)]
pub struct SessionRecord {
    pub id: String,
    /// The session's row (database column names; a legacy file's fields mapped onto them).
    pub fields: Map<String, Value>,
    /// Where it was read from (the database file or the session's JSON file).
    pub source: PathBuf,
    /// Messages in id order (ids ascend with creation).
    pub messages: Vec<MessageRecord>,
    /// Where what was read differs from what OpenCode writes (synthetic trees).
    pub notes: Vec<ImportNote>,
}

/// One message: its `data` and its parts in id order.
#[derive(Debug, Default)]
pub struct MessageRecord {
    pub id: String,
    pub data: Map<String, Value>,
    pub parts: Vec<PartRecord>,
}

/// One part: its id and `data`.
#[derive(Debug, Default)]
pub struct PartRecord {
    pub id: String,
    pub data: Map<String, Value>,
}

/// What the whole database says across sessions: project directories, the `task` calls that
/// started sub-agents, and which session each user message belongs to (forks copy messages under
/// new ids but keep their `parentID`, which then names a message of the source session).
#[derive(Debug, Default)]
pub struct Catalog {
    pub project_worktrees: HashMap<String, String>,
    /// Child session id → (parent session id, the `task` call's id).
    pub spawned_by: HashMap<String, (String, String)>,
    /// User message id → its session id.
    pub user_message_session: HashMap<String, String>,
}

fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> ParseError + '_ {
    move |error| {
        let cannot_open =
            matches!(error.sqlite_error_code(), Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly));
        let message = if cannot_open {
            format!(
                "cannot read the database: {error} (reading a database OpenCode may be writing needs \
                 opencode.db-shm beside it, which SQLite creates or updates: is the directory writable?)"
            )
        } else {
            format!("cannot read the database: {error}")
        };
        ParseError::Format { path: path.to_path_buf(), message }
    }
}

/// A column as JSON: integers and reals as numbers, text as a string (or the JSON it holds, for
/// columns OpenCode keeps JSON in), blobs as their size.
fn column_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(number) => json!(number),
        ValueRef::Real(number) => json!(number),
        ValueRef::Text(text) => {
            let text = String::from_utf8_lossy(text);
            match text.as_bytes().first() {
                Some(b'{' | b'[') => serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned())),
                _ => Value::String(text.into_owned()),
            }
        }
        ValueRef::Blob(bytes) => json!({ "blob_bytes": bytes.len() }),
    }
}

fn object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

/// Opens `path` read-only: shared locks only, never `immutable` (which would ignore the `-wal`
/// and could read pages the client is writing). SQLite may update `-shm`, its coordination file.
pub fn open_database(path: &Path) -> Result<Connection, ParseError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sqlite_error(path))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sqlite_error(path))?;
    Ok(conn)
}

/// Reads the database at `path` in one read transaction (a consistent snapshot while the client
/// commits), calling `each` with every session in id order.
pub fn read_database(
    path: &Path,
    report: &mut ParseReport,
    mut each: impl FnMut(SessionRecord, &Catalog, &mut ParseReport) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let conn = open_database(path)?;
    let error = sqlite_error(path);
    conn.execute_batch("BEGIN").map_err(&error)?;
    let catalog = catalog(&conn).map_err(&error)?;
    let mut sessions = conn.prepare("SELECT * FROM session ORDER BY id").map_err(&error)?;
    let names: Vec<String> = sessions.column_names().map(str::to_string).collect();
    let mut messages =
        conn.prepare("SELECT id, data FROM message WHERE session_id = ?1 ORDER BY id").map_err(&error)?;
    let mut parts = conn
        .prepare("SELECT id, message_id, data FROM part WHERE session_id = ?1 ORDER BY message_id, id")
        .map_err(&error)?;
    let mut rows = sessions.query([]).map_err(&error)?;
    while let Some(row) = rows.next().map_err(&error)? {
        let mut fields = Map::new();
        for (at, name) in names.iter().enumerate() {
            fields.insert(name.clone(), column_value(row.get_ref(at).map_err(&error)?));
        }
        let Some(id) = fields.remove("id").and_then(|id| id.as_str().map(str::to_string)) else {
            report.records_skipped.record(SkipLocation {
                path: path.to_path_buf(),
                line: 0,
                reason: "a session row without an id".into(),
            });
            continue;
        };
        let mut by_message: BTreeMap<String, Vec<PartRecord>> = BTreeMap::new();
        let mut part_rows = parts.query([&id]).map_err(&error)?;
        while let Some(part) = part_rows.next().map_err(&error)? {
            let (part_id, message_id, data): (String, String, String) =
                (part.get(0).map_err(&error)?, part.get(1).map_err(&error)?, part.get(2).map_err(&error)?);
            match object(&data) {
                Some(data) => by_message.entry(message_id).or_default().push(PartRecord { id: part_id, data }),
                None => report.records_skipped.record(SkipLocation {
                    path: path.to_path_buf(),
                    line: 0,
                    reason: format!("part {part_id}: its data is not a JSON object"),
                }),
            }
        }
        let mut record =
            SessionRecord { id: id.clone(), fields, source: path.to_path_buf(), ..SessionRecord::default() };
        let mut message_rows = messages.query([&id]).map_err(&error)?;
        while let Some(message) = message_rows.next().map_err(&error)? {
            let (message_id, data): (String, String) =
                (message.get(0).map_err(&error)?, message.get(1).map_err(&error)?);
            let parts = by_message.remove(&message_id).unwrap_or_default();
            match object(&data) {
                Some(data) => record.messages.push(MessageRecord { id: message_id, data, parts }),
                None => report.records_skipped.record(SkipLocation {
                    path: path.to_path_buf(),
                    line: 0,
                    reason: format!("message {message_id}: its data is not a JSON object"),
                }),
            }
        }
        for (message_id, orphans) in by_message {
            report.records_skipped.record(SkipLocation {
                path: path.to_path_buf(),
                line: 0,
                reason: format!("{} part(s) of message {message_id}, which the session does not hold", orphans.len()),
            });
        }
        each(record, &catalog, report)?;
    }
    drop(rows);
    conn.execute_batch("COMMIT").map_err(&error)?;
    Ok(())
}

fn catalog(conn: &Connection) -> rusqlite::Result<Catalog> {
    let mut catalog = Catalog::default();
    let mut projects = conn.prepare("SELECT id, worktree FROM project")?;
    for row in projects.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)))? {
        let (id, worktree) = row?;
        if let Some(worktree) = worktree.filter(|worktree| !worktree.is_empty()) {
            catalog.project_worktrees.insert(id, worktree);
        }
    }
    let mut tasks = conn.prepare("SELECT session_id, data FROM part WHERE data LIKE '%\"tool\":\"task\"%'")?;
    for row in tasks.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))? {
        let (session, data) = row?;
        if let Some(data) = object(&data) {
            note_task_call(&mut catalog, &session, &data);
        }
    }
    let mut users = conn.prepare("SELECT id, session_id FROM message WHERE data LIKE '%\"role\":\"user\"%'")?;
    for row in users.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))? {
        let (message, session) = row?;
        catalog.user_message_session.insert(message, session);
    }
    Ok(catalog)
}

/// A `task` tool part names the sub-agent session it ran in `state.metadata.sessionId`.
fn note_task_call(catalog: &mut Catalog, session: &str, data: &Map<String, Value>) {
    if data.get("tool").and_then(Value::as_str) != Some("task") {
        return;
    }
    let child =
        data.get("state").and_then(|state| state.get("metadata")).and_then(|metadata| metadata.get("sessionId"));
    if let (Some(child), Some(call)) = (child.and_then(Value::as_str), data.get("callID").and_then(Value::as_str)) {
        catalog.spawned_by.entry(child.to_string()).or_insert_with(|| (session.to_string(), call.to_string()));
    }
}

/// The files of a legacy `storage/` tree, by what they hold.
#[derive(Debug, Default)]
pub struct LegacyTree {
    pub sessions: Vec<PathBuf>,
    pub messages: Vec<PathBuf>,
    pub parts: Vec<PathBuf>,
    pub projects: Vec<PathBuf>,
}

fn read_object(path: &Path, report: &mut ParseReport) -> Option<Map<String, Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            report
                .warnings
                .push(format!("{} cannot be read: {error}; skipped", hindcast_core::provider::escaped(path)));
            report.files_skipped.record(SkipLocation { path: path.to_path_buf(), line: 0, reason: error.to_string() });
            report.unsettled.push(path.to_path_buf());
            return None;
        }
    };
    match object(&text) {
        Some(fields) => Some(fields),
        None => {
            report.lines_skipped.record(SkipLocation {
                path: path.to_path_buf(),
                line: 1,
                reason: "not a JSON object".into(),
            });
            None
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap_or_default().to_string_lossy().into_owned()
}

fn parent_name(path: &Path) -> String {
    path.parent().and_then(Path::file_name).unwrap_or_default().to_string_lossy().into_owned()
}

/// The id of a legacy record: OpenCode names each file by its id (and its migration takes the
/// id from the path); a file whose `id` says otherwise is not OpenCode's own, and its `id` is used
/// (the tree's other paths follow it), with a note.
fn record_id(path: &Path, fields: &mut Map<String, Value>, notes: &mut Vec<String>) -> String {
    let from_path = stem(path);
    match fields.remove("id").and_then(|id| id.as_str().map(str::to_string)) {
        Some(id) if id != from_path => {
            notes.push(format!(
                "{} is named {from_path} but holds id {id} (OpenCode names a file by its id)",
                path.display()
            ));
            id
        }
        Some(id) => id,
        None => from_path,
    }
}

/// Reads a legacy tree's sessions (those `skip` does not name), calling `each` with each.
pub fn read_legacy(
    tree: &LegacyTree,
    skip: &std::collections::HashSet<String>,
    report: &mut ParseReport,
    mut each: impl FnMut(SessionRecord, &Catalog, &mut ParseReport) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut catalog = Catalog::default();
    let mut deviations: Vec<String> = Vec::new();
    for path in &tree.projects {
        let Some(mut fields) = read_object(path, report) else { continue };
        let id = record_id(path, &mut fields, &mut deviations);
        if let Some(worktree) = fields.get("worktree").and_then(Value::as_str) {
            catalog.project_worktrees.insert(id, worktree.to_string());
        }
    }
    let mut parts_of: HashMap<String, Vec<PartRecord>> = HashMap::new();
    for path in &tree.parts {
        let Some(mut data) = read_object(path, report) else { continue };
        let id = record_id(path, &mut data, &mut deviations);
        let message = data
            .remove("messageID")
            .and_then(|id| id.as_str().map(str::to_string))
            .unwrap_or_else(|| parent_name(path));
        data.remove("sessionID");
        parts_of.entry(message).or_default().push(PartRecord { id, data });
    }
    let mut messages_of: HashMap<String, Vec<MessageRecord>> = HashMap::new();
    for path in &tree.messages {
        let Some(mut data) = read_object(path, report) else { continue };
        let id = record_id(path, &mut data, &mut deviations);
        let session = data
            .remove("sessionID")
            .and_then(|id| id.as_str().map(str::to_string))
            .unwrap_or_else(|| parent_name(path));
        if data.remove("parts").is_some() {
            deviations.push(format!("{} lists its parts (OpenCode keeps them only under part/)", path.display()));
        }
        if data.get("cost").is_some_and(|cost| !cost.is_number()) {
            deviations.push(format!("{} has a cost that is not a number of dollars", path.display()));
        }
        if data.get("role").and_then(Value::as_str) == Some("user") {
            catalog.user_message_session.insert(id.clone(), session.clone());
        }
        messages_of.entry(session).or_default().push(MessageRecord { id, data, parts: Vec::new() });
    }
    for parts in parts_of.values() {
        for part in parts {
            note_task_call(&mut catalog, "", &part.data);
        }
    }
    let mut sessions = Vec::new();
    for path in &tree.sessions {
        let Some(mut info) = read_object(path, report) else { continue };
        let id = record_id(path, &mut info, &mut deviations);
        if skip.contains(&id) {
            report.ignore("legacy_session_in_database");
            continue;
        }
        if info.remove("messages").is_some() {
            deviations.push(format!("{} lists its messages (OpenCode keeps them only under message/)", path.display()));
        }
        let mut fields = Map::new();
        let project = info.remove("projectID").unwrap_or_else(|| {
            deviations.push(format!("{} has no projectID (OpenCode's migration skips such a session)", path.display()));
            Value::String(parent_name(path))
        });
        fields.insert("project_id".into(), project);
        fields.insert("parent_id".into(), info.remove("parentID").unwrap_or(Value::Null));
        if let Some(Value::Object(mut time)) = info.remove("time") {
            for (from, to) in [
                ("created", "time_created"),
                ("updated", "time_updated"),
                ("compacting", "time_compacting"),
                ("archived", "time_archived"),
            ] {
                if let Some(value) = time.remove(from) {
                    fields.insert(to.into(), value);
                }
            }
        }
        if let Some(Value::Object(share)) = info.remove("share") {
            fields.insert("share_url".into(), share.get("url").cloned().unwrap_or(Value::Null));
        }
        for (key, value) in info {
            fields.insert(key, value);
        }
        sessions.push(SessionRecord { id, fields, source: path.clone(), ..SessionRecord::default() });
    }
    // A note belongs to the session whose files it is about; notes about shared files (projects,
    // parts of messages no session holds) go to every session, which is where a reader looks.
    for mut session in sessions {
        let mut messages = messages_of.remove(&session.id).unwrap_or_default();
        messages.sort_by(|a, b| a.id.cmp(&b.id));
        for message in &mut messages {
            let mut parts = parts_of.remove(&message.id).unwrap_or_default();
            parts.sort_by(|a, b| a.id.cmp(&b.id));
            message.parts = parts;
        }
        session.messages = messages;
        let own = session_paths(&session);
        for deviation in &deviations {
            if own.iter().any(|prefix| deviation.contains(prefix.as_str())) {
                session.notes.push(ImportNote {
                    project: None,
                    session: Some(session.id.clone()),
                    field: "storage".into(),
                    note: deviation.clone(),
                });
            }
        }
        if !session.notes.is_empty() {
            report.ignore("nonstandard_legacy_file");
        }
        each(session, &catalog, report)?;
    }
    for (session, messages) in messages_of {
        if !skip.contains(&session) {
            report.records_skipped.record(SkipLocation {
                path: PathBuf::from(format!("storage/message/{session}")),
                line: 0,
                reason: format!("{} message(s) of session {session}, whose session file is missing", messages.len()),
            });
        }
    }
    Ok(())
}

/// The path fragments that belong to a legacy session: its own file, its messages' folder and
/// its messages' part folders.
fn session_paths(session: &SessionRecord) -> Vec<String> {
    let mut paths = vec![session.source.display().to_string(), format!("/message/{}/", session.id)];
    paths.extend(session.messages.iter().map(|message| format!("/part/{}/", message.id)));
    paths
}
