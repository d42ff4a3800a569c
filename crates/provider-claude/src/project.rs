//! Turns a project directory's transcript lines into projected exchanges: sessions and subagents,
//! uuid de-duplication across resumed copies, split-response merging, titles, the DAG and usage.

use std::collections::{BTreeMap, HashMap, HashSet};

use hindcast_core::model::{
    GitInfo, MessageFlags, MessageIdentity, MessagePart, PartKind, ProjectedExchange, ProjectedMessage,
    ProjectedSession, ProjectedUsage, RawFrame, Relationship, Role, SessionLink,
};
use hindcast_core::provider::{FileCheckpoint, ParseReport, SkipLocation};
use indexmap::IndexMap;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::content::{UsageCounts, raw_frame, usage_counts};
use crate::discover::FileKind;
use crate::draft::{ContinuationState, ProjectedDraft, SessionFacts};
use crate::parse::{Line, METADATA_TYPES, NON_MESSAGE_TYPES, TranscriptFile};

/// The model name Claude Code writes on locally generated (unbilled) messages.
const SYNTHETIC_MODEL: &str = "<synthetic>";

/// What a draft session is.
#[derive(Clone, Debug, PartialEq)]
enum DraftKind {
    Main,
    /// A 1.0.x inline sidechain thread inside a session file.
    InlineSidechain {
        root_prompt: Option<String>,
    },
    /// A 2.0.x project-level or 2.1.x `subagents/` agent file.
    Agent {
        agent_id: String,
    },
}

/// A session being assembled.
struct Draft<'a> {
    native_id: String,
    file: &'a TranscriptFile,
    lines: Vec<&'a Line>,
    kind: DraftKind,
    parent: Option<SessionLink>,
}

impl Draft<'_> {
    fn first_timestamp(&self) -> Option<Timestamp> {
        self.lines.iter().filter_map(|line| line.timestamp).min()
    }

    fn last_timestamp(&self) -> Option<Timestamp> {
        self.lines.iter().filter_map(|line| line.timestamp).max()
    }
}

/// The session id of a session file: the file stem when any line names it; else the id most lines
/// carry (renamed files); else the stem. A first "bridge" line may carry the previous session's id.
fn session_file_id(file: &TranscriptFile) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in file.lines.iter().filter_map(|line| line.session_id.as_deref()) {
        *counts.entry(id).or_default() += 1;
    }
    if counts.contains_key(file.stem.as_str()) || counts.is_empty() {
        return file.stem.clone();
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked[0].0.to_string()
}

fn most_common_session_id(file: &TranscriptFile) -> Option<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in file.lines.iter().filter_map(|line| line.session_id.as_deref()) {
        *counts.entry(id).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.first().map(|(id, _)| (*id).to_string())
}

fn first_user_text(lines: &[&Line]) -> Option<String> {
    lines
        .iter()
        .find(|line| line.kind == "user")
        .and_then(|line| line.message.as_ref())
        .and_then(|message| message.text.clone())
}

/// A 2.0.x "Warmup" agent: its prompt is `Warmup`, or it has no user line at all (a lone reply).
fn is_warmup_agent(file: &TranscriptFile) -> bool {
    if file.continuation.is_some() {
        return false;
    }
    let lines: Vec<&Line> = file.lines.iter().collect();
    match first_user_text(&lines) {
        Some(text) => text.trim() == "Warmup",
        None => !lines.is_empty() && lines.iter().all(|line| line.kind != "user"),
    }
}

/// Splits the project's files into draft sessions, main sessions first (ordered by time).
/// Warmup agent files (skipped as sessions; their billed usage still counts) with their parent id.
type Warmups<'a> = Vec<(String, &'a TranscriptFile)>;

fn drafts<'a>(files: &'a [TranscriptFile], report: &mut ParseReport) -> (Vec<Draft<'a>>, Warmups<'a>) {
    let mut warmups = Vec::new();
    let mut main = Vec::new();
    let mut children = Vec::new();
    for file in files {
        match file.kind {
            FileKind::Session => {
                let native_id = match &file.continuation {
                    Some(continuation) => continuation.state.native_id.clone(),
                    None => session_file_id(file),
                };
                let mut trunk = Vec::new();
                let mut threads: Vec<(String, Vec<&Line>)> = Vec::new();
                let mut thread_of: HashMap<&str, usize> = HashMap::new();
                for line in &file.lines {
                    if !line.is_sidechain {
                        trunk.push(line);
                        continue;
                    }
                    let parent_thread = line.parent_uuid.as_deref().and_then(|parent| thread_of.get(parent).copied());
                    let index = match parent_thread {
                        Some(index) => index,
                        None if line.parent_uuid.is_none() || threads.is_empty() => {
                            let root = line.uuid.clone().unwrap_or_else(|| format!("line{}", line.number));
                            threads.push((root, Vec::new()));
                            threads.len() - 1
                        }
                        None => threads.len() - 1,
                    };
                    if let Some(uuid) = line.uuid.as_deref() {
                        thread_of.insert(uuid, index);
                    }
                    threads[index].1.push(line);
                }
                for (root, lines) in threads {
                    children.push(Draft {
                        native_id: format!("{native_id}/sidechain-{root}"),
                        file,
                        kind: DraftKind::InlineSidechain { root_prompt: first_user_text(&lines) },
                        lines,
                        parent: Some(SessionLink {
                            parent_native_id: native_id.clone(),
                            relationship: Relationship::Subagent,
                            spawning_tool_call_id: None,
                        }),
                    });
                }
                main.push(Draft { native_id, file, lines: trunk, kind: DraftKind::Main, parent: None });
            }
            FileKind::ProjectAgent | FileKind::Subagent => {
                if file.kind == FileKind::ProjectAgent && is_warmup_agent(file) {
                    report.records_skipped.record(SkipLocation {
                        path: file.path.clone(),
                        line: 0,
                        reason: "warmup agent (Claude Code 2.0.x startup probe, not a conversation)".into(),
                    });
                    if let Some(parent) = most_common_session_id(file) {
                        warmups.push((parent, file));
                    }
                    continue;
                }
                let agent_id = file
                    .lines
                    .iter()
                    .find_map(|line| line.agent_id.clone())
                    .unwrap_or_else(|| file.stem.strip_prefix("agent-").unwrap_or(&file.stem).to_string());
                let parent_id = match file.kind {
                    FileKind::Subagent => file.session_dir_name().or_else(|| most_common_session_id(file)),
                    _ => most_common_session_id(file),
                };
                let Some(parent_id) = parent_id else {
                    report.warnings.push(format!("{}: agent file names no parent session", file.path.display()));
                    continue;
                };
                let native_id = match &file.continuation {
                    Some(continuation) => continuation.state.native_id.clone(),
                    None => format!("{parent_id}/agent-{agent_id}"),
                };
                children.push(Draft {
                    native_id,
                    file,
                    lines: file.lines.iter().collect(),
                    kind: DraftKind::Agent { agent_id },
                    parent: Some(SessionLink {
                        parent_native_id: parent_id,
                        relationship: Relationship::Subagent,
                        spawning_tool_call_id: None,
                    }),
                });
            }
            FileKind::SubagentMeta | FileKind::NotTranscript => {}
        }
    }
    let order =
        |draft: &Draft<'_>| (draft.first_timestamp().is_none(), draft.first_timestamp(), draft.last_timestamp());
    main.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| a.native_id.cmp(&b.native_id)));
    children.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| a.native_id.cmp(&b.native_id)));
    main.extend(children);
    (main, warmups)
}

/// A user or assistant line the human or model actually wrote (not harness meta).
fn is_conversational(line: &Line) -> bool {
    (line.kind == "user" || line.kind == "assistant") && !line.is_meta
}

/// How one line of a draft is treated after de-duplication.
#[derive(Clone, Debug, PartialEq)]
enum Disposition {
    /// Imported under this identity key.
    Keep(String),
    /// A copy of a line already imported (resume/fork copy, or a replay within the file).
    Copy,
}

/// Assigns every uuid to the first session (in time order) that contains it, links resumed and
/// forked sessions to their origin, and keeps uuids shared by unrelated sessions (after `/clear`)
/// in both, scoped by session.
fn deduplicate(drafts: &mut [Draft<'_>], report: &mut ParseReport) -> Vec<Vec<Disposition>> {
    let mut owner: HashMap<String, usize> = HashMap::new();
    let mut dispositions = Vec::with_capacity(drafts.len());
    for index in 0..drafts.len() {
        let draft = &drafts[index];
        // Which earlier sessions share conversational lines with this one?
        let mut related: HashSet<usize> = HashSet::new();
        let mut last_related: Option<usize> = None;
        for line in &draft.lines {
            if let Some(&earlier) = line.uuid.as_ref().and_then(|uuid| owner.get(uuid))
                && earlier != index
                && is_conversational(line)
            {
                related.insert(earlier);
                last_related = Some(earlier);
            }
        }
        let forked_from = draft.lines.iter().find_map(|line| {
            line.value
                .get("forkedFrom")
                .and_then(|fork| fork.get("sessionId"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let mut seen_here: HashSet<&str> = HashSet::new();
        let mut marks = Vec::with_capacity(draft.lines.len());
        let seeded = draft.file.continuation.as_ref().map(|continuation| &continuation.state.dispositions);
        for line in &draft.lines {
            let Some(uuid) = line.uuid.as_deref() else {
                marks.push(Disposition::Keep(String::new()));
                continue;
            };
            // A continued file treats the lines it re-reads as the full parse did.
            if let Some(disposition) = seeded.and_then(|seeded| seeded.get(uuid))
                && seen_here.insert(uuid)
            {
                marks.push(match disposition {
                    Some(key) => Disposition::Keep(key.clone()),
                    None => Disposition::Copy,
                });
                continue;
            }
            if !seen_here.insert(uuid) {
                report.ignore("replayed line (uuid already in this session)");
                marks.push(Disposition::Copy);
                continue;
            }
            match owner.get(uuid).copied() {
                Some(earlier) if related.contains(&earlier) || draft.kind != DraftKind::Main => {
                    report.ignore("copied line (imported with an earlier session)");
                    marks.push(Disposition::Copy);
                }
                Some(_) => marks.push(Disposition::Keep(format!("{}/{uuid}", draft.native_id))),
                None => {
                    owner.insert(uuid.to_string(), index);
                    marks.push(Disposition::Keep(uuid.to_string()));
                }
            }
        }
        if drafts[index].kind == DraftKind::Main {
            let parent = match (forked_from, last_related) {
                (Some(parent), _) => Some((parent, Relationship::Fork)),
                (None, Some(earlier)) => Some((drafts[earlier].native_id.clone(), Relationship::Continuation)),
                (None, None) => None,
            };
            if let Some((parent, relationship)) = parent.filter(|(parent, _)| *parent != drafts[index].native_id) {
                drafts[index].parent =
                    Some(SessionLink { parent_native_id: parent, relationship, spawning_tool_call_id: None });
            }
        }
        dispositions.push(marks);
    }
    dispositions
}

fn push_distinct(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|known| known == value) {
        list.push(value.to_string());
    }
}

impl SessionFacts {
    fn observe(&mut self, line: &Line, counts_for_time: bool) {
        if self.cwd.is_none() {
            self.cwd = line.cwd.clone();
        }
        if self.git_branch.is_none() {
            self.git_branch = line.git_branch.clone();
        }
        if let Some(version) = line.version.as_deref() {
            push_distinct(&mut self.versions, version);
        }
        if self.entrypoint.is_none() {
            self.entrypoint = line.str_field("entrypoint").map(str::to_string);
        }
        if let Some(mode) = line.str_field("permissionMode") {
            self.permission_mode = Some(mode.to_string());
        }
        if let Some(slug) = line.str_field("slug") {
            self.slug = Some(slug.to_string());
        }
        if let Some(team) = line.str_field("teamName") {
            self.team_name = Some(team.to_string());
        }
        match line.kind.as_str() {
            "custom-title" => {
                self.custom_title = line.str_field("customTitle").map(str::to_string).or(self.custom_title.take())
            }
            "ai-title" => self.ai_title = line.str_field("aiTitle").map(str::to_string).or(self.ai_title.take()),
            "agent-name" => {
                self.agent_name = line.str_field("agentName").map(str::to_string).or(self.agent_name.take())
            }
            _ => {}
        }
        if let Some(model) = line.message.as_ref().and_then(|message| message.model.as_deref())
            && line.kind == "assistant"
            && model != SYNTHETIC_MODEL
        {
            push_distinct(&mut self.models, model);
        }
        if counts_for_time && let Some(timestamp) = line.timestamp {
            self.started_at = Some(self.started_at.map_or(timestamp, |start| start.min(timestamp)));
            self.ended_at = Some(self.ended_at.map_or(timestamp, |end| end.max(timestamp)));
        }
    }
}

/// The usage of one billed response, counted once per `(message.id, requestId)`.
struct UsageCandidate {
    draft: usize,
    usage: ProjectedUsage,
}

/// A billed response's key: `message.id/requestId`, or `message.id` alone without a request id
/// (the `native_id` of its usage record).
pub fn response_key(message_id: &str, request_id: Option<&str>) -> String {
    match request_id.filter(|request| !request.is_empty()) {
        Some(request) => format!("{message_id}/{request}"),
        None => message_id.to_string(),
    }
}

/// Where a billed response was seen.
struct UsageSighting<'a> {
    message_id: Option<&'a str>,
    model: Option<&'a str>,
    usage: Option<UsageCounts>,
    request_id: Option<&'a str>,
    timestamp: Option<Timestamp>,
}

impl<'a> UsageSighting<'a> {
    /// An assistant line's own message.
    fn of_line(line: &'a Line) -> Option<Self> {
        let message = line.message.as_ref()?;
        Some(Self {
            message_id: message.id.as_deref(),
            model: message.model.as_deref(),
            usage: message.usage.clone(),
            request_id: line.request_id.as_deref(),
            timestamp: line.timestamp,
        })
    }

    /// A subagent's assistant message streamed into its parent as an `agent_progress` line.
    fn of_progress(line: &'a Line) -> Option<Self> {
        let streamed = line.value.get("data")?.get("message")?;
        let message = streamed.get("message")?;
        let usage = message.get("usage").and_then(usage_counts)?;
        let timestamp = streamed.get("timestamp").and_then(Value::as_str).and_then(|stamp| stamp.parse().ok());
        Some(Self {
            message_id: message["id"].as_str(),
            model: message["model"].as_str(),
            usage: Some(usage),
            request_id: streamed.get("requestId").and_then(Value::as_str),
            timestamp: timestamp.or(line.timestamp),
        })
    }
}

/// The project's billed responses, one record per `(message.id, requestId)` (or `message.id` alone
/// without a request id), in the order they were first seen.
#[derive(Default)]
struct UsageLedger {
    records: IndexMap<String, UsageCandidate>,
}

impl UsageLedger {
    /// Records one sighting of a billed response, keeping the copy with the most output tokens.
    /// `<synthetic>` messages carry no usage. The first sighting decides the session.
    fn observe(&mut self, sighting: UsageSighting<'_>, draft: usize, message_key: Option<&str>) {
        let (Some(message_id), Some(model), Some(tokens)) = (sighting.message_id, sighting.model, sighting.usage)
        else {
            return;
        };
        if model == SYNTHETIC_MODEL {
            return;
        }
        let key = response_key(message_id, sighting.request_id);
        let [input, output, cache_read, cache_creation] = tokens.tokens;
        let record = ProjectedUsage {
            key: key.clone(),
            message_key: message_key.map(str::to_string),
            model: Some(model.to_string()),
            timestamp: sighting.timestamp,
            input_tokens: input + cache_read + cache_creation,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_creation_tokens: cache_creation,
            reasoning_tokens: 0,
            cache_creation_5m_tokens: tokens.cache_creation_5m,
            cache_creation_1h_tokens: tokens.cache_creation_1h,
            service_tier: tokens.service_tier,
            speed: tokens.speed,
        };
        match self.records.get_mut(&key) {
            Some(existing) => {
                if output > existing.usage.output_tokens {
                    existing.usage = ProjectedUsage {
                        message_key: existing.usage.message_key.take().or(record.message_key),
                        timestamp: existing.usage.timestamp.or(record.timestamp),
                        ..record
                    };
                }
            }
            None => {
                self.records.insert(key, UsageCandidate { draft, usage: record });
            }
        }
    }

    /// Hands each record to the exchange of the draft that first saw it.
    fn attribute(self, exchanges: &mut [ProjectedDraft]) {
        for candidate in self.records.into_values() {
            exchanges[candidate.draft].exchange.usage.push(candidate.usage);
        }
    }
}

/// A message under construction plus the raw parent uuid to resolve once every key is known.
struct PendingMessage {
    message: ProjectedMessage,
    /// Lines whose content becomes the message's parts, in order.
    part_lines: Vec<u64>,
    parent_uuid: Option<String>,
    /// The message's first line: where a continuation re-reads it from.
    first_line: (u64, u64),
    /// Its position among the draft's lines.
    ordinal: u64,
}

/// Where the next parse of a draft's file may start: the first line of its latest assistant
/// response (which may still grow by split lines), or of its last message.
fn checkpoint_of(
    draft: &Draft<'_>,
    marks: &[Disposition],
    pending: &[PendingMessage],
    latest_response: Option<usize>,
    facts: &SessionFacts,
    metadata: &Map<String, Value>,
    keys_before: BTreeMap<String, String>,
) -> Option<FileCheckpoint> {
    let position = latest_response.or(pending.len().checked_sub(1))?;
    let seed = draft.file.continuation.as_ref().map(|continuation| &continuation.state);
    let restart = &pending[position];
    let ordinal_base = draft.file.continuation.as_ref().map_or(0, |continuation| continuation.state.ordinal_base);
    let first_reread = (restart.ordinal - ordinal_base) as usize;
    // Keyed by each uuid's first occurrence in the re-read lines; later ones are replays either way.
    let mut seen: HashSet<&str> = HashSet::new();
    let dispositions = draft.lines[first_reread..]
        .iter()
        .zip(&marks[first_reread..])
        .filter_map(|(line, mark)| {
            let uuid = line.uuid.as_deref().filter(|uuid| seen.insert(uuid))?;
            match mark {
                Disposition::Copy => Some((uuid.to_string(), None)),
                Disposition::Keep(key) if key != uuid => Some((uuid.to_string(), Some(key.clone()))),
                Disposition::Keep(_) => None,
            }
        })
        .collect();
    let state = ContinuationState {
        native_id: draft.native_id.clone(),
        line: restart.first_line.1,
        seq_base: seed.map_or(0, |seed| seed.seq_base) + position as u64,
        ordinal_base: restart.ordinal,
        facts: facts.clone(),
        metadata: metadata.clone(),
        dispositions,
        keys_before,
    };
    Some(FileCheckpoint {
        path: draft.file.path.clone(),
        offset: restart.first_line.0,
        state: serde_json::to_value(state).ok()?,
    })
}

/// Project-wide indexes built before any session is projected: the DAG (uuid -> parent),
/// summaries by leaf uuid, and the tool calls that spawned agents.
struct ProjectIndex<'a> {
    parent_of: HashMap<&'a str, &'a str>,
    summaries: Vec<(&'a str, &'a str)>,
    /// Trunk tool results name the agent they ran (`toolUseResult.agentId`).
    spawned_by_agent: HashMap<&'a str, &'a str>,
    /// Task prompts of inline sidechains, to the call that sent them.
    task_prompts: HashMap<&'a str, &'a str>,
}

impl<'a> ProjectIndex<'a> {
    fn build(files: &'a [TranscriptFile]) -> Self {
        let mut index = Self {
            parent_of: HashMap::new(),
            summaries: Vec::new(),
            spawned_by_agent: HashMap::new(),
            task_prompts: HashMap::new(),
        };
        for line in files.iter().flat_map(|file| &file.lines) {
            if let Some(uuid) = line.uuid.as_deref()
                && let Some(parent) = line.parent_uuid.as_deref().or(line.logical_parent_uuid.as_deref())
            {
                index.parent_of.entry(uuid).or_insert(parent);
            }
            if line.kind == "summary"
                && let (Some(leaf), Some(text)) = (line.str_field("leafUuid"), line.str_field("summary"))
            {
                index.summaries.push((leaf, text));
            }
        }
        for line in files.iter().filter(|file| file.kind == FileKind::Session).flat_map(|file| &file.lines) {
            let Some(blocks) = line.message.as_ref().and_then(|message| message.blocks.as_ref()) else { continue };
            if let Some(agent) = line.result_agent_id.as_deref()
                && let Some(call) = blocks.first_result_call.as_deref()
            {
                index.spawned_by_agent.entry(agent).or_insert(call);
            }
            for (prompt, id) in &blocks.prompted_calls {
                index.task_prompts.entry(prompt).or_insert(id);
            }
        }
        index
    }
}

/// The messages of one draft as its lines were walked.
struct DraftMessages {
    pending: Vec<PendingMessage>,
    facts: SessionFacts,
    /// The latest assistant response (a continuation restarts there: it may still grow).
    latest_response: Option<usize>,
    /// uuid -> identity key within this session.
    local: HashMap<String, String>,
}

/// A project being projected: its drafts and what is learnt across them.
struct Projection<'a> {
    drafts: Vec<Draft<'a>>,
    dispositions: Vec<Vec<Disposition>>,
    index: ProjectIndex<'a>,
    usage: UsageLedger,
    /// Billed responses seen outside a session's own assistant lines (streamed `agent_progress`
    /// copies, warmup agents): counted after every transcript, so a subagent's own file wins.
    late_usage: Vec<(usize, &'a Line)>,
    /// uuid -> identity key project-wide (first owner wins).
    key_of: HashMap<String, String>,
    /// uuid -> identity key per session (a session's own keys win when it resolves its parents,
    /// e.g. its own copy of a line shared after `/clear`).
    local_key_of: Vec<HashMap<String, String>>,
    sessions: Vec<(ProjectedSession, Vec<PendingMessage>)>,
    /// Files that hold exactly one session can be continued from a checkpoint when they grow.
    single_session_file: Vec<bool>,
    checkpoints: Vec<FileCheckpoint>,
}

/// Turns the project's transcripts into exchanges, one per session and subagent.
pub fn project(files: &[TranscriptFile], report: &mut ParseReport) -> Vec<ProjectedDraft> {
    let mut projection = Projection::new(files, report);
    for index in 0..projection.drafts.len() {
        projection.project_draft(index, report);
    }
    projection.apply_summary_titles();
    projection.finish(report)
}

impl<'a> Projection<'a> {
    fn new(files: &'a [TranscriptFile], report: &mut ParseReport) -> Self {
        let (mut drafts, warmups) = drafts(files, report);
        let dispositions = deduplicate(&mut drafts, report);
        let mut late_usage = Vec::new();
        for (parent, file) in &warmups {
            match drafts.iter().position(|draft| draft.native_id == *parent) {
                Some(index) => late_usage.extend(file.lines.iter().map(|line| (index, line))),
                None => report.warnings.push(format!(
                    "{}: usage of a warmup agent whose parent session {parent} is not in this project is not counted",
                    file.path.display()
                )),
            }
        }
        let count = drafts.len();
        let mut drafts_per_file: HashMap<&std::path::Path, usize> = HashMap::new();
        for draft in &drafts {
            *drafts_per_file.entry(draft.file.path.as_path()).or_default() += 1;
        }
        let single_session_file =
            drafts.iter().map(|draft| drafts_per_file.get(draft.file.path.as_path()) == Some(&1)).collect();
        Self {
            drafts,
            dispositions,
            index: ProjectIndex::build(files),
            usage: UsageLedger::default(),
            late_usage,
            key_of: HashMap::new(),
            local_key_of: Vec::with_capacity(count),
            sessions: Vec::with_capacity(count),
            single_session_file,
            checkpoints: Vec::new(),
        }
    }

    /// Projects draft `index`: its messages, its session row and, for a file that holds only this
    /// session, the checkpoint a later run continues from.
    fn project_draft(&mut self, index: usize, report: &mut ParseReport) {
        let messages = self.assemble_messages(index, report);
        let session = self.session(index, &messages.facts);
        let draft = &self.drafts[index];
        if self.single_session_file[index] && matches!(draft.kind, DraftKind::Main | DraftKind::Agent { .. }) {
            // Lines kept under a session-scoped key, and copies of such lines: few (uuids shared
            // with an unrelated session), unlike the later lines of split responses, which a
            // continued file's lines point at only after a rewind (they would make the state as
            // large as the session).
            let mut keys_before: BTreeMap<String, String> = draft
                .file
                .continuation
                .as_ref()
                .map(|continuation| continuation.state.keys_before.clone())
                .unwrap_or_default();
            for (line, mark) in draft.lines.iter().zip(&self.dispositions[index]) {
                let Some(uuid) = &line.uuid else { continue };
                let key = match mark {
                    Disposition::Keep(key) if !key.is_empty() && key != uuid => Some(key),
                    Disposition::Copy => self.key_of.get(uuid).filter(|key| *key != uuid),
                    Disposition::Keep(_) => None,
                };
                if let Some(key) = key {
                    keys_before.entry(uuid.clone()).or_insert_with(|| key.clone());
                }
            }
            self.checkpoints.extend(checkpoint_of(
                draft,
                &self.dispositions[index],
                &messages.pending,
                messages.latest_response,
                &messages.facts,
                &session.metadata,
                keys_before,
            ));
        }
        self.sessions.push((session, messages.pending));
        self.local_key_of.push(messages.local);
    }

    /// Walks a draft's lines into messages: copies only count their usage, metadata lines feed
    /// the facts, split responses join their first line, the rest become messages.
    fn assemble_messages(&mut self, index: usize, report: &mut ParseReport) -> DraftMessages {
        let draft = &self.drafts[index];
        let marks = &self.dispositions[index];
        let seed = draft.file.continuation.as_ref().map(|continuation| &continuation.state);
        let ordinal_base = seed.map_or(0, |seed| seed.ordinal_base);
        let mut assembled = DraftMessages {
            pending: Vec::new(),
            facts: seed.map(|seed| seed.facts.clone()).unwrap_or_default(),
            latest_response: None,
            // A continued file's lines may point before the checkpoint (see `keys_before`).
            local: seed.map(|seed| seed.keys_before.clone().into_iter().collect()).unwrap_or_default(),
        };
        let mut group_of: HashMap<String, usize> = HashMap::new();
        let kept_any_timestamp =
            draft.lines.iter().zip(marks).any(|(line, mark)| line.timestamp.is_some() && *mark != Disposition::Copy);
        for (local_ordinal, (&line, mark)) in draft.lines.iter().zip(marks).enumerate() {
            let ordinal = ordinal_base + local_ordinal as u64;
            assembled.facts.observe(line, !kept_any_timestamp || *mark != Disposition::Copy);
            let key = match mark {
                Disposition::Copy => {
                    if line.kind == "assistant" {
                        let existing = line.uuid.as_ref().and_then(|uuid| self.key_of.get(uuid)).cloned();
                        if let Some(sighting) = UsageSighting::of_line(line) {
                            self.usage.observe(sighting, index, existing.as_deref());
                        }
                    }
                    continue;
                }
                Disposition::Keep(key) if key.is_empty() => None,
                Disposition::Keep(key) => Some(key.clone()),
            };
            let kind = line.kind.as_str();
            if METADATA_TYPES.contains(&kind) {
                continue;
            }
            if NON_MESSAGE_TYPES.contains(&kind) {
                if kind == "progress" {
                    self.late_usage.push((index, line));
                }
                report.ignore(kind);
                continue;
            }
            let identity = match &key {
                Some(key) => MessageIdentity::native(key.clone()),
                None => {
                    MessageIdentity::fallback(&draft.native_id, ordinal, line.fallback_hash.as_deref().unwrap_or(""))
                }
            };
            if kind == "assistant" {
                let group = line
                    .message
                    .as_ref()
                    .and_then(|message| message.id.as_deref())
                    .map(|id| format!("{id}/{}", line.request_id.as_deref().unwrap_or("")));
                if let Some(group) = &group
                    && let Some(&position) = group_of.get(group)
                {
                    assembled.latest_response = Some(position);
                    // The line joins the response: its content and its uuid (in the frame's
                    // `mergedUuids`) are added in the second pass.
                    let joined = &mut assembled.pending[position];
                    joined.part_lines.push(line.number);
                    let joined_key = joined.message.identity.key.clone();
                    if let Some(uuid) = &line.uuid {
                        assembled.local.insert(uuid.clone(), joined_key.clone());
                        self.key_of.entry(uuid.clone()).or_insert_with(|| joined_key.clone());
                    }
                    if let Some(sighting) = UsageSighting::of_line(line) {
                        self.usage.observe(sighting, index, Some(&joined_key));
                    }
                    continue;
                }
                if let Some(group) = group {
                    group_of.insert(group, assembled.pending.len());
                }
                assembled.latest_response = Some(assembled.pending.len());
                if let Some(sighting) = UsageSighting::of_line(line) {
                    self.usage.observe(sighting, index, Some(&identity.key));
                }
            }
            if let Some(uuid) = &line.uuid {
                assembled.local.insert(uuid.clone(), identity.key.clone());
                self.key_of.entry(uuid.clone()).or_insert_with(|| identity.key.clone());
            }
            assembled.pending.push(pending_message(line, identity, ordinal, report));
        }
        assembled
    }

    /// The session row of draft `index` from what its lines said.
    fn session(&self, index: usize, facts: &SessionFacts) -> ProjectedSession {
        let draft = &self.drafts[index];
        let seed = draft.file.continuation.as_ref().map(|continuation| &continuation.state);
        let mut metadata = seed.map(|seed| seed.metadata.clone()).unwrap_or_default();
        if facts.versions.len() > 1 {
            metadata.insert("versions".into(), json!(facts.versions));
        }
        if let Some(slug) = &facts.slug {
            metadata.insert("slug".into(), json!(slug));
        }
        if let Some(team) = &facts.team_name {
            metadata.insert("team_name".into(), json!(team));
        }
        let mut parent = draft.parent.clone();
        match &draft.kind {
            DraftKind::Agent { agent_id } => {
                metadata.insert("agent_id".into(), json!(agent_id));
                let sidecar = draft.file.sidecar.as_ref();
                for (field, key) in [("agentType", "agent_type"), ("description", "description")] {
                    if let Some(value) = sidecar.and_then(|sidecar| sidecar.get(field)) {
                        metadata.insert(key.into(), value.clone());
                    }
                }
                if agent_id.starts_with("acompact") {
                    metadata.insert("compaction_helper".into(), json!(true));
                }
                let layout = if draft.file.kind == FileKind::Subagent { "subagents-2.1" } else { "project-agent-2.0" };
                metadata.insert("layout".into(), json!(layout));
                if let Some(link) = parent.as_mut() {
                    link.spawning_tool_call_id = sidecar
                        .and_then(|sidecar| sidecar.get("toolUseId"))
                        .and_then(Value::as_str)
                        .or_else(|| self.index.spawned_by_agent.get(agent_id.as_str()).copied())
                        .map(str::to_string);
                }
            }
            DraftKind::InlineSidechain { root_prompt } => {
                metadata.insert("layout".into(), json!("inline-sidechain-1.0"));
                if let Some(link) = parent.as_mut() {
                    link.spawning_tool_call_id = root_prompt
                        .as_deref()
                        .and_then(|prompt| self.index.task_prompts.get(prompt).copied())
                        .map(str::to_string);
                }
            }
            DraftKind::Main => {}
        }
        if let Some(name) = &facts.agent_name {
            metadata.insert("agent_name".into(), json!(name));
        }
        ProjectedSession {
            client: crate::NAME.to_string(),
            native_id: draft.native_id.clone(),
            source_path: draft.file.path.clone(),
            title: facts.custom_title.clone().or(facts.ai_title.clone()),
            cwd: facts.cwd.clone(),
            git: GitInfo { branch: facts.git_branch.clone(), ..GitInfo::default() },
            client_version: facts.versions.last().cloned(),
            entrypoint: facts.entrypoint.clone(),
            models: facts.models.clone(),
            permission_mode: facts.permission_mode.clone(),
            sandbox_mode: None,
            approval_mode: None,
            started_at: facts.started_at,
            ended_at: facts.ended_at,
            parent,
            metadata,
        }
    }

    /// Titles from `summary` lines, matched to the session that owns their leaf, project-wide.
    fn apply_summary_titles(&mut self) {
        for &(leaf, text) in &self.index.summaries {
            let Some(leaf_key) = self.key_of.get(leaf) else { continue };
            if let Some((session, _)) = self
                .sessions
                .iter_mut()
                .find(|(_, messages)| messages.iter().any(|pending| pending.message.identity.key == *leaf_key))
                && session.title.is_none()
            {
                session.title = Some(text.to_string());
            }
        }
    }

    /// The identity key `start` resolves to for session `session`, through lines that are not
    /// messages (progress, attachments, copies). A continued file's first lines point before the
    /// checkpoint, at messages keyed by their uuid.
    fn resolve_parent(&self, session: usize, start: &str) -> Option<String> {
        let mut current = start;
        for _ in 0..10_000 {
            if let Some(key) = self.local_key_of[session].get(current).or_else(|| self.key_of.get(current)) {
                return Some(key.clone());
            }
            match self.index.parent_of.get(current) {
                Some(parent) => current = parent,
                None if self.drafts[session].file.continuation.is_some() => return Some(current.to_string()),
                None => return None,
            }
        }
        None
    }

    /// Resolves every message's parent, attributes the usage and reports what was projected.
    fn finish(mut self, report: &mut ParseReport) -> Vec<ProjectedDraft> {
        let sessions = std::mem::take(&mut self.sessions);
        let mut exchanges: Vec<ProjectedDraft> = sessions
            .into_iter()
            .enumerate()
            .map(|(index, (session, pending))| {
                let mut part_lines = Vec::with_capacity(pending.len());
                let messages = pending
                    .into_iter()
                    .map(|PendingMessage { mut message, parent_uuid, part_lines: lines, .. }| {
                        message.parent_key = parent_uuid
                            .as_deref()
                            .and_then(|parent| self.resolve_parent(index, parent))
                            .filter(|key| *key != message.identity.key);
                        part_lines.push(lines);
                        message
                    })
                    .collect();
                let draft = &self.drafts[index];
                let continuation = draft.file.continuation.as_ref();
                ProjectedDraft {
                    exchange: ProjectedExchange {
                        seq_base: continuation.map_or(0, |continuation| continuation.state.seq_base),
                        session,
                        messages,
                        usage: Vec::new(),
                        ..ProjectedExchange::default()
                    },
                    file: draft.file.path.clone(),
                    part_lines,
                }
            })
            .collect();
        for (index, line) in std::mem::take(&mut self.late_usage) {
            let sighting =
                if line.kind == "progress" { UsageSighting::of_progress(line) } else { UsageSighting::of_line(line) };
            if let Some(sighting) = sighting {
                self.usage.observe(sighting, index, None);
            }
        }
        self.usage.attribute(&mut exchanges);
        // A session file whose lines so far name no session and hold no message (a live
        // session's first snapshot, a file of summaries) is not a session yet: stored, it would
        // stay under the file's name after the lines that name the session arrive.
        let mut kept = Vec::with_capacity(exchanges.len());
        for (draft, exchange) in self.drafts.iter().zip(exchanges) {
            let nameless = draft.kind == DraftKind::Main
                && draft.file.continuation.is_none()
                && draft.lines.iter().all(|line| line.session_id.is_none());
            if nameless && exchange.exchange.messages.is_empty() && exchange.exchange.usage.is_empty() {
                report.records_skipped.record(SkipLocation {
                    path: draft.file.path.clone(),
                    line: 0,
                    reason: "no message and no line naming a session yet: not a session".into(),
                });
                continue;
            }
            kept.push(exchange);
        }
        let exchanges = kept;
        report.checkpoints.extend(self.checkpoints);
        report.sessions_seen += exchanges.len() as u64;
        report.items_seen += exchanges.iter().map(|draft| draft.exchange.messages.len() as u64).sum::<u64>();
        exchanges
    }
}

/// The message a kept line becomes. User and assistant lines get their parts and frames in the
/// second pass (`fill_parts`), one file at a time, so a project's text is never all in memory.
fn pending_message(line: &Line, identity: MessageIdentity, ordinal: u64, report: &mut ParseReport) -> PendingMessage {
    let kind = line.kind.as_str();
    let subtype = line.str_field("subtype");
    let mut part_lines = Vec::new();
    let (role, parts) = match kind {
        "user" | "assistant" => {
            part_lines.push(line.number);
            (if kind == "user" { Role::User } else { Role::Assistant }, Vec::new())
        }
        "system" => {
            let mut part = MessagePart::new(PartKind::Text);
            part.text = line.str_field("content").map(str::to_string);
            if let Some(metadata) = line.value.get("compactMetadata") {
                part.metadata = Some(json!({ "compact": metadata }));
            }
            (Role::System, vec![part])
        }
        _ => {
            report.unknown_records += 1;
            let part = MessagePart { metadata: Some(json!({ "type": kind })), ..MessagePart::new(PartKind::Other) };
            (Role::Other, vec![part])
        }
    };
    let flags = MessageFlags {
        sidechain: line.is_sidechain,
        meta: line.is_meta,
        injected: false,
        compact_summary: line.value.get("isCompactSummary").and_then(Value::as_bool).unwrap_or(false),
        compact_boundary: kind == "system" && subtype == Some("compact_boundary"),
        api_error: line.value.get("isApiErrorMessage").and_then(Value::as_bool).unwrap_or(false)
            || (kind == "system" && subtype == Some("api_error")),
        rewound: false,
    };
    let raw_frame = part_lines.is_empty().then(|| RawFrame::new(&raw_frame(line.value.clone())));
    PendingMessage {
        part_lines,
        first_line: (line.offset, line.number),
        ordinal,
        parent_uuid: line.parent_uuid.clone().or_else(|| line.logical_parent_uuid.clone()),
        message: ProjectedMessage {
            native_id: line.uuid.clone(),
            identity,
            parent_key: None,
            role,
            timestamp: line.timestamp,
            model: line.message.as_ref().and_then(|message| message.model.clone()),
            flags,
            raw_frame,
            parts,
            source_path: None,
        },
    }
}
