//! Maps decoded legacy records to canonical projects and sessions: display names, registration
//! times, effective settings, the lifecycle and its 8→4 activity map, orchestrator choice,
//! permission and harness remaps, resume ids, and an import note for every lossy mapping.

use std::collections::{BTreeMap, BTreeSet};

use hindcast_core::model::{
    GitInfo, ImportNote, ProjectedExchange, ProjectedProject, ProjectedSession, SessionReference,
};
use hindcast_core::provider::ParseReport;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::parse::{Encoding, LegacyStore, SessionRecord, StoreConfig, expand_home};

/// Harness names with a canonical home (the rewrite's list); others are dropped with a note.
const KNOWN_HARNESSES: &[&str] = &[
    "claude-code",
    "codex",
    "aider",
    "opencode",
    "grok",
    "droid",
    "amp",
    "agy",
    "crush",
    "cursor",
    "qwen",
    "copilot",
    "goose",
    "auggie",
    "continue",
    "devin",
    "cline",
    "kimi",
    "kiro",
    "kilocode",
    "vibe",
    "pi",
    "autohand",
];
/// Project settings with no canonical field (kept verbatim in `settings.local`).
const UNMAPPED_SETTINGS: &[&str] =
    &["tracker", "scm", "runtime", "workspace", "reactions", "agentRules", "agentRulesFile", "orchestratorRules"];

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty()).map(str::to_string)
}

/// An instant from ISO text, epoch seconds or epoch milliseconds (numbers or numeric strings).
pub fn normalize_timestamp(value: Option<&Value>) -> Option<Timestamp> {
    let value = value?;
    let number = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => match text.trim().parse::<Timestamp>() {
            Ok(timestamp) => return Some(timestamp),
            Err(_) => text.trim().parse::<f64>().ok(),
        },
        _ => None,
    }?;
    let millis = if number.abs() >= 1e11 { number } else { number * 1000.0 };
    Timestamp::from_millisecond(millis as i64).ok()
}

/// Canonical permission for a legacy one; `None` when unset, plus a note when the mapping loses meaning.
fn map_permission(legacy: &str) -> (Option<&'static str>, Option<String>) {
    match legacy {
        "" => (None, None),
        "permissionless" | "skip" => (Some("bypass-permissions"), None),
        "auto-edit" => (Some("accept-edits"), None),
        "default" => (Some("default"), None),
        "suggest" => (Some("default"), Some("permission \"suggest\" has no equivalent; mapped to default".into())),
        other => (Some("default"), Some(format!("unknown permission \"{other}\"; mapped to default"))),
    }
}

/// Legacy `generateSessionPrefix` is not needed: importers use the first 12 characters of the id.
fn fallback_prefix(project_id: &str) -> String {
    project_id.chars().take(12).collect()
}

/// A project as assembled from the registry, the overlays and its local file.
struct ProjectFacts {
    project: ProjectedProject,
    prefix: String,
    /// Whether the registry named the prefix (else it is the 12-character fallback).
    prefix_registered: bool,
    origin_url: Option<String>,
    /// Canonical permissions per role (`worker`, `orchestrator`).
    permissions: BTreeMap<&'static str, String>,
}

fn merge_defaults(local: &Value, defaults: &Value) -> Value {
    let mut effective = local.as_object().cloned().unwrap_or_default();
    for key in ["agent", "runtime", "workspace"] {
        if !effective.contains_key(key)
            && let Some(value) = defaults.get(key)
        {
            effective.insert(key.into(), value.clone());
        }
    }
    for role in ["orchestrator", "worker"] {
        let mut merged = defaults.get(role).and_then(Value::as_object).cloned().unwrap_or_default();
        if let Some(own) = effective.get(role).and_then(Value::as_object) {
            merged.extend(own.clone());
        }
        if !merged.is_empty() {
            effective.insert(role.into(), Value::Object(merged));
        }
    }
    Value::Object(effective)
}

/// The canonical mapping of a project's effective settings (`mapped`) and the permission each
/// role runs with; every loss is a note.
fn map_settings(
    effective: &Value,
    local: &Value,
    note: &mut dyn FnMut(&str, String),
) -> (Map<String, Value>, BTreeMap<&'static str, String>) {
    let mut mapped = Map::new();
    let mut permissions = BTreeMap::new();
    for key in ["env", "symlinks", "postCreate"] {
        if let Some(value) = effective.get(key) {
            mapped.insert(key.into(), value.clone());
        }
    }
    fn map_agent_config(config: Option<&Value>, role: &str, note: &mut dyn FnMut(&str, String)) -> Option<Value> {
        let config = config?.as_object()?;
        let mut out = Map::new();
        if let Some(model) = config.get("model") {
            out.insert("model".into(), model.clone());
        }
        if let Some(permission) = text(config.get("permissions")) {
            let (canonical, loss) = map_permission(&permission);
            if let Some(canonical) = canonical {
                out.insert("permissions".into(), json!(canonical));
            }
            if let Some(loss) = loss {
                note(&format!("{role}.agentConfig.permissions"), loss);
            }
        }
        Some(Value::Object(out))
    }
    if let Some(config) = map_agent_config(effective.get("agentConfig"), "project", note) {
        if let Some(permission) = text(config.get("permissions")) {
            permissions.insert("worker", permission.clone());
            permissions.insert("orchestrator", permission);
        }
        mapped.insert("agentConfig".into(), config);
    }
    for role in ["worker", "orchestrator"] {
        let Some(block) = effective.get(role) else { continue };
        let mut out = Map::new();
        if let Some(agent) = text(block.get("agent")) {
            if KNOWN_HARNESSES.contains(&agent.as_str()) {
                out.insert("harness".into(), json!(agent));
            } else {
                note(&format!("{role}.agent"), format!("{role} agent \"{agent}\" has no known harness; dropped"));
            }
        }
        if let Some(config) = map_agent_config(block.get("agentConfig"), role, note) {
            if let Some(permission) = text(config.get("permissions")) {
                permissions.insert(if role == "worker" { "worker" } else { "orchestrator" }, permission);
            }
            out.insert("agentConfig".into(), config);
        }
        mapped.insert(role.into(), Value::Object(out));
    }
    let unmapped: Vec<&str> = UNMAPPED_SETTINGS.iter().copied().filter(|key| local.get(*key).is_some()).collect();
    if !unmapped.is_empty() {
        note(
            "settings",
            format!("settings with no canonical field (kept verbatim in settings.local): {}", unmapped.join(", ")),
        );
    }
    (mapped, permissions)
}

fn project_facts(id: &str, entry: &Value, store: &StoreConfig, notes: &mut Vec<ImportNote>) -> ProjectFacts {
    let note = |field: &str, text: String| ImportNote {
        project: Some(id.to_string()),
        session: None,
        field: field.into(),
        note: text,
    };
    let path = text(entry.get("path"));
    let display_name = text(
        store.preferences.get("projects").and_then(|projects| projects.get(id)).and_then(|p| p.get("displayName")),
    )
    .filter(|_| store.preferences.get("version").and_then(Value::as_u64) == Some(1))
    .or_else(|| text(entry.get("displayName")))
    .or_else(|| text(entry.get("name")).filter(|name| name != id));
    let registered = store.registered.get("projects").and_then(Value::as_array).into_iter().flatten().find(|item| {
        text(item.get("configProjectKey")).as_deref() == Some(id) || (path.is_some() && text(item.get("path")) == path)
    });
    let registered_at = normalize_timestamp(entry.get("registeredAt"))
        .or_else(|| normalize_timestamp(registered.and_then(|item| item.get("addedAt"))));
    let prefix_registered = text(entry.get("sessionPrefix")).is_some();
    let prefix = match text(entry.get("sessionPrefix")) {
        Some(prefix) => prefix,
        None => {
            let prefix = fallback_prefix(id);
            notes.push(note(
                "sessionPrefix",
                format!("no session prefix registered; using \"{prefix}\" (first 12 characters of the id)"),
            ));
            prefix
        }
    };
    // The project's own behaviour file, as discovery found it and the parse read it.
    let mut local = Value::Null;
    if let Some(path) = &path {
        match store.local_settings.get(&expand_home(path, store.home.as_deref())) {
            Some(settings) => {
                local = settings.value.clone();
                for location in &settings.unreadable {
                    notes.push(note("settings", format!("local settings unreadable: {location}")));
                }
            }
            None => notes.push(note(
                "settings",
                format!("local settings {path}/agent-orchestrator.yaml not found; behaviour settings unknown"),
            )),
        }
    }
    let defaults = store.config.get("defaults").cloned().unwrap_or(Value::Null);
    let effective = merge_defaults(&local, &defaults);

    let default_branch = text(entry.get("defaultBranch")).or_else(|| text(local.get("defaultBranch")));
    let (mapped, permissions) = map_settings(&effective, &local, &mut |field, text| notes.push(note(field, text)));
    let origin_url = text(entry.get("repo").and_then(|repo| repo.get("originUrl")))
        .or_else(|| entry.get("repo").and_then(Value::as_str).map(str::to_string))
        .or_else(|| text(entry.get("originUrl")));
    ProjectFacts {
        project: ProjectedProject {
            client: crate::NAME.to_string(),
            native_id: id.to_string(),
            source_path: store.config_path.clone().unwrap_or_else(|| store.root.join("config.yaml")),
            path,
            display_name,
            session_prefix: Some(prefix.clone()),
            default_branch: default_branch.or_else(|| Some("main".into())),
            registered_at,
            settings: json!({ "registry": entry, "local": local, "effective": effective, "mapped": mapped }),
        },
        prefix,
        prefix_registered,
        origin_url,
        permissions,
    }
}

/// The lifecycle: `lifecycle` (object or JSON text), else `statePayload` when `stateVersion` is 2,
/// else one synthesized from the pre-lifecycle `status` with legacy's own rules.
fn lifecycle(record: &SessionRecord) -> (Value, &'static str) {
    if let Some(lifecycle @ Value::Object(_)) = record.fields.get("lifecycle") {
        return (lifecycle.clone(), "lifecycle");
    }
    let version_two = matches!(record.fields.get("stateVersion"), Some(Value::String(v)) if v == "2")
        || record.fields.get("stateVersion").and_then(Value::as_u64) == Some(2);
    if version_two && let Some(payload @ Value::Object(_)) = record.fields.get("statePayload") {
        return (payload.clone(), "statePayload");
    }
    let status = text(record.fields.get("status")).unwrap_or_else(|| "spawning".into());
    let (state, reason) = match status.as_str() {
        "spawning" => ("not_started", "spawn_requested"),
        "starting" | "working" => ("working", "task_in_progress"),
        "needs_input" => ("needs_input", "awaiting_user_input"),
        "stuck" => ("stuck", "probe_failure"),
        "errored" => ("terminated", "error_in_process"),
        "killed" | "terminated" | "cleanup" => ("terminated", "manually_killed"),
        "done" => ("done", "research_complete"),
        "merged" => ("idle", "merged_waiting_decision"),
        "idle" => ("idle", "awaiting_external_review"),
        _ => ("working", "task_in_progress"),
    };
    (
        json!({ "version": 2, "session": { "state": state, "reason": reason, "startedAt": record.fields.get("createdAt") } }),
        "status",
    )
}

/// The 8 legacy states onto hindcast's 4 activity states.
pub fn activity_state(state: &str, terminal: bool) -> &'static str {
    match state {
        _ if terminal => "terminated",
        "working" => "active",
        "needs_input" => "waiting_input",
        _ => "idle",
    }
}

/// Legacy's derived display status (for reference in metadata).
fn display_status(lifecycle: &Value, state: &str) -> String {
    let reason = lifecycle["session"]["reason"].as_str().unwrap_or("");
    let pr_state = lifecycle["pr"]["state"].as_str().unwrap_or("none");
    let pr_reason = lifecycle["pr"]["reason"].as_str().unwrap_or("");
    match state {
        "not_started" => "spawning".into(),
        "terminated" => match reason {
            "manually_killed" | "runtime_lost" => "killed".into(),
            "auto_cleanup" | "pr_merged" => "cleanup".into(),
            "error_in_process" | "probe_failure" => "errored".into(),
            _ => "terminated".into(),
        },
        "idle" | "working" if pr_state == "merged" => "merged".into(),
        "idle" | "working" if pr_state == "open" => match pr_reason {
            "ci_failing" => "ci_failed".into(),
            "changes_requested" | "review_pending" | "approved" => pr_reason.into(),
            "merge_ready" => "mergeable".into(),
            _ => "pr_open".into(),
        },
        other => other.into(),
    }
}

/// Legacy's rule: role, lifecycle kind, `{prefix}-orchestrator` or `{prefix}-orchestrator-N`; with
/// no registered prefix, any `*-orchestrator` or `*-orchestrator-N` id.
fn is_orchestrator_record(record: &SessionRecord, lifecycle: &Value, prefix: &str, prefix_registered: bool) -> bool {
    let id = record.session_id.as_str();
    let numbered = |rest: &str| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit());
    let by_name = if prefix_registered {
        id == format!("{prefix}-orchestrator")
            || id.strip_prefix(&format!("{prefix}-orchestrator-")).is_some_and(numbered)
    } else {
        id.ends_with("-orchestrator") || id.rsplit_once("-orchestrator-").is_some_and(|(_, rest)| numbered(rest))
    };
    text(record.fields.get("role")).as_deref() == Some("orchestrator")
        || lifecycle["session"]["kind"] == "orchestrator"
        || record.encoding == Encoding::OrchestratorFile
        || by_name
}

/// A session under construction with what orchestrator selection needs.
struct Mapped {
    exchange: ProjectedExchange,
    project: String,
    orchestrator: bool,
    terminal: bool,
    canonical_name: bool,
    last_activity: Option<Timestamp>,
}

/// Projects the whole store.
pub fn project(legacy: LegacyStore, report: &mut ParseReport) -> Vec<ProjectedExchange> {
    let LegacyStore { config: store, sessions: records } = legacy;
    let store = &store;
    let mut project_notes = Vec::new();
    let mut facts: BTreeMap<String, ProjectFacts> = BTreeMap::new();
    if let Some(projects) = store.config.get("projects").and_then(Value::as_object) {
        for (id, entry) in projects {
            facts.insert(id.clone(), project_facts(id, entry, store, &mut project_notes));
        }
    }
    // Projects seen only through their session files.
    let orphan_ids: BTreeSet<String> =
        records.iter().filter_map(|record| record.project_id.clone()).filter(|id| !facts.contains_key(id)).collect();
    for id in orphan_ids {
        project_notes.push(ImportNote {
            project: Some(id.clone()),
            session: None,
            field: "project".into(),
            note: "project is not in config.yaml; imported from its session files only".into(),
        });
        let entry = json!({});
        facts.insert(id.clone(), project_facts(&id, &entry, store, &mut project_notes));
    }

    let mut mapped: Vec<Mapped> = records.into_iter().map(|record| map_session(record, &facts)).collect();

    // One live orchestrator per project: `{prefix}-orchestrator` if present, else the non-terminal
    // orchestrator with the latest activity (never the first by file-name order).
    let projects: BTreeSet<String> = mapped.iter().map(|session| session.project.clone()).collect();
    for project in projects {
        let chosen = mapped
            .iter()
            .enumerate()
            .filter(|(_, session)| session.project == project && session.orchestrator)
            .max_by_key(|(_, session)| (session.canonical_name, !session.terminal, session.last_activity))
            .map(|(index, _)| index);
        if let Some(index) = chosen {
            mapped[index].exchange.session.metadata.insert("project_orchestrator".into(), json!(true));
        }
    }

    let mut exchanges: Vec<ProjectedExchange> = Vec::new();
    let mut pending_projects: Vec<ProjectedProject> = facts.into_values().map(|facts| facts.project).collect();
    let mut pending_notes = project_notes;
    for mut session in mapped.into_iter().map(|session| session.exchange) {
        report.notes.extend(session.notes.iter().map(note_line));
        if exchanges.is_empty() {
            session.projects = std::mem::take(&mut pending_projects);
            report.notes.extend(pending_notes.iter().map(note_line));
            session.notes.extend(std::mem::take(&mut pending_notes));
        }
        exchanges.push(session);
    }
    if !pending_projects.is_empty() || !pending_notes.is_empty() {
        report.notes.extend(pending_notes.iter().map(note_line));
        exchanges.push(ProjectedExchange {
            projects: pending_projects,
            notes: pending_notes,
            ..ProjectedExchange::default()
        });
    }
    report.sessions_seen += exchanges.iter().filter(|exchange| !exchange.session.native_id.is_empty()).count() as u64;
    exchanges
}

fn note_line(note: &ImportNote) -> String {
    let subject = note.session.as_deref().or(note.project.as_deref()).unwrap_or("store");
    format!("{subject}: {}: {}", note.field, note.note)
}

/// Harnesses whose sessions can be resumed: the record field holding the harness's own session id,
/// and the client that id belongs to (the target of the session's `resumes` reference).
const RESUMABLE: &[(&str, &str, &str)] = &[
    ("claude-code", "claudeSessionUuid", "claude"),
    ("codex", "codexThreadId", "codex"),
    ("opencode", "opencodeSessionId", "opencode"),
];

/// Where a session's lifecycle stands: its state and reason, and whether it ended.
struct LifecycleState {
    state: String,
    reason: String,
    terminal: bool,
}

impl LifecycleState {
    /// From the lifecycle's session block; an archived (v1) record is terminated by migration.
    fn of(record: &SessionRecord, lifecycle: &Value) -> Self {
        let session_state = &lifecycle["session"];
        let mut state = session_state["state"].as_str().unwrap_or("not_started").to_string();
        let mut reason = session_state["reason"].as_str().unwrap_or("").to_string();
        let mut terminal = matches!(state.as_str(), "done" | "terminated")
            || !session_state["terminatedAt"].is_null() && session_state.get("terminatedAt").is_some();
        if record.encoding == Encoding::V1Archive && !terminal {
            (state, reason, terminal) = ("terminated".into(), "migrated_from_archive".into(), true);
        }
        Self { state, reason, terminal }
    }
}

/// Start, last activity and end of a session.
struct SessionTimes {
    started_at: Option<Timestamp>,
    last_activity: Option<Timestamp>,
    ended_at: Option<Timestamp>,
}

impl SessionTimes {
    fn of(record: &SessionRecord, lifecycle: &Value, terminal: bool) -> Self {
        let session_state = &lifecycle["session"];
        let started_at = normalize_timestamp(record.fields.get("createdAt"))
            .or_else(|| normalize_timestamp(session_state.get("startedAt")))
            .or_else(|| {
                normalize_timestamp(
                    record
                        .fields
                        .get("runtimeHandle")
                        .and_then(|handle| handle.get("data"))
                        .and_then(|data| data.get("createdAt")),
                )
            });
        let last_activity = normalize_timestamp(session_state.get("lastTransitionAt"))
            .or_else(|| normalize_timestamp(lifecycle["runtime"].get("lastObservedAt")))
            .or(started_at);
        let ended_at = if terminal {
            normalize_timestamp(session_state.get("terminatedAt"))
                .or_else(|| normalize_timestamp(session_state.get("completedAt")))
                .or(last_activity)
        } else {
            last_activity
        };
        Self { started_at, last_activity, ended_at }
    }
}

/// Notes for a harness that is missing, unknown, or has no resumable transcript, and for record
/// fields kept in `metadata.legacy` only.
fn harness_notes(record: &SessionRecord, harness: Option<&str>, note: &mut impl FnMut(&str, String)) {
    match harness {
        Some("aider") => note("agent", "aider sessions have no resumable transcript; imported as a record only".into()),
        Some(other) if !KNOWN_HARNESSES.contains(&other) => {
            note("agent", format!("harness \"{other}\" is unknown; dropped"))
        }
        None => note("agent", "no harness recorded".into()),
        _ => {}
    }
    if let Some(model) = text(record.fields.get("codexModel")) {
        note(
            "codexModel",
            format!("codexModel \"{model}\" has no column (codex resumes by thread id); kept in metadata.legacy only"),
        );
    }
    if let Some(reason) = text(record.fields.get("restoreFallbackReason")) {
        note(
            "restoreFallbackReason",
            format!("restoreFallbackReason \"{reason}\" is forensic only; kept in metadata.legacy only"),
        );
    }
}

/// Every PR the record links, once each, in the order the fields are read.
fn pr_links(record: &SessionRecord, lifecycle: &Value) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    let mut add = |link: Option<String>| {
        if let Some(link) = link.filter(|link| !links.contains(link)) {
            links.push(link);
        }
    };
    add(text(record.fields.get("pr")));
    for link in text(record.fields.get("prs")).unwrap_or_default().split(',') {
        add(Some(link.trim().to_string()).filter(|link| !link.is_empty()));
    }
    add(text(lifecycle["pr"].get("url")));
    add(text(record.fields.get("agentReportedPrUrl")));
    links
}

/// What a session's metadata says beyond the canonical columns.
struct SessionFacts<'a> {
    project_id: &'a str,
    project_path: String,
    role: &'a str,
    harness: Option<&'a str>,
    resume_id: Option<&'a str>,
    lifecycle: &'a Value,
    lifecycle_source: &'a str,
    state: &'a LifecycleState,
}

fn session_metadata(record: &SessionRecord, facts: SessionFacts<'_>) -> Map<String, Value> {
    let SessionFacts { project_id, project_path, role, harness, resume_id, lifecycle, lifecycle_source, state } = facts;
    let mut metadata = Map::new();
    metadata.insert("vendor".into(), json!("agent-orchestrator"));
    metadata.insert("project_id".into(), json!(project_id));
    // The key daily statistics count projects by: the project's directory (else its id).
    metadata.insert("project_path".into(), json!(project_path));
    metadata.insert("session_id".into(), json!(record.session_id));
    metadata.insert("role".into(), json!(role));
    metadata.insert("harness".into(), json!(harness));
    metadata.insert("activity_state".into(), json!(activity_state(&state.state, state.terminal)));
    metadata.insert("legacy_state".into(), json!(state.state));
    metadata.insert("legacy_reason".into(), json!(state.reason));
    metadata.insert("legacy_status".into(), json!(display_status(lifecycle, &state.state)));
    metadata.insert("terminated".into(), json!(state.terminal));
    metadata.insert("lifecycle_source".into(), json!(lifecycle_source));
    metadata.insert("encoding".into(), json!(record.encoding.as_str()));
    metadata.insert("resume_id".into(), json!(resume_id));
    metadata.insert("pr_links".into(), json!(pr_links(record, lifecycle)));
    if let Some(pr_state) = lifecycle["pr"].get("state") {
        metadata.insert("pr_state".into(), pr_state.clone());
    }
    for (field, key) in
        [("issue", "issue"), ("issueTitle", "issue_title"), ("userPrompt", "prompt"), ("summary", "summary")]
    {
        if let Some(value) = text(record.fields.get(field)) {
            metadata.insert(key.into(), json!(value));
        }
    }
    if !record.decoded_fields.is_empty() {
        metadata.insert("decoded_fields".into(), json!(record.decoded_fields));
    }
    metadata.insert("legacy".into(), Value::Object(record.fields.clone()));
    metadata
}

fn map_session(record: SessionRecord, facts: &BTreeMap<String, ProjectFacts>) -> Mapped {
    let project_id = record.project_id.clone().unwrap_or_else(|| "(unknown project)".into());
    let project = facts.get(&project_id);
    let prefix = project.map(|facts| facts.prefix.clone()).unwrap_or_else(|| fallback_prefix(&project_id));
    let prefix_registered = project.is_some_and(|facts| facts.prefix_registered);
    let native_id = format!("{project_id}/{}", record.session_id);
    let mut notes = Vec::new();
    let mut note = |field: &str, text: String| {
        notes.push(ImportNote {
            project: Some(project_id.clone()),
            session: Some(native_id.clone()),
            field: field.into(),
            note: text,
        })
    };

    let (lifecycle, lifecycle_source) = lifecycle(&record);
    let state = LifecycleState::of(&record, &lifecycle);
    let orchestrator = is_orchestrator_record(&record, &lifecycle, &prefix, prefix_registered);
    let role = if orchestrator { "orchestrator" } else { "worker" };
    let harness = text(record.fields.get("agent"));
    harness_notes(&record, harness.as_deref(), &mut note);
    let resumable = RESUMABLE.iter().find(|(name, ..)| Some(*name) == harness.as_deref());
    let resume_id = resumable.and_then(|(_, field, _)| text(record.fields.get(*field)));
    let references = match (resumable, &resume_id) {
        (Some((_, _, client)), Some(id)) => vec![SessionReference {
            kind: "resumes".into(),
            target_client: (*client).into(),
            target_native_id: id.clone(),
        }],
        _ => Vec::new(),
    };
    let times = SessionTimes::of(&record, &lifecycle, state.terminal);
    let metadata = session_metadata(
        &record,
        SessionFacts {
            project_id: &project_id,
            project_path: project.and_then(|facts| facts.project.path.clone()).unwrap_or_else(|| project_id.clone()),
            role,
            harness: harness.as_deref(),
            resume_id: resume_id.as_deref(),
            lifecycle: &lifecycle,
            lifecycle_source,
            state: &state,
        },
    );
    let session = ProjectedSession {
        client: crate::NAME.to_string(),
        native_id,
        source_path: record.path.clone(),
        title: text(record.fields.get("displayName"))
            .or_else(|| text(record.fields.get("issueTitle")))
            .or_else(|| text(record.fields.get("summary"))),
        cwd: text(record.fields.get("worktree")),
        git: GitInfo {
            branch: text(record.fields.get("branch")),
            origin_url: project.and_then(|facts| facts.origin_url.clone()),
            ..GitInfo::default()
        },
        client_version: None,
        entrypoint: text(record.fields.get("runtimeHandle").and_then(|handle| handle.get("runtimeName"))),
        models: Vec::new(),
        permission_mode: project.and_then(|facts| facts.permissions.get(role)).cloned(),
        sandbox_mode: None,
        approval_mode: None,
        started_at: times.started_at,
        ended_at: times.ended_at,
        parent: None,
        metadata,
    };
    Mapped {
        canonical_name: record.session_id == format!("{prefix}-orchestrator")
            || record.session_id.ends_with("-orchestrator") && !prefix_registered,
        exchange: ProjectedExchange { session, notes, references, ..ProjectedExchange::default() },
        project: project_id,
        orchestrator,
        terminal: state.terminal,
        last_activity: times.last_activity,
    }
}
