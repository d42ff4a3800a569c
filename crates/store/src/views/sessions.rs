//! Sessions: a newest-first list with counts, one session with its conversation, and lineage trees.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::{TextWindow, ViewError};
use crate::compact;

/// Filters of `sessions list`.
#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    pub client: Option<String>,
    pub window: TextWindow,
    /// Substring of the cwd, the project id or the project's display name.
    pub project: Option<String>,
    /// Substring (any case) of the title, the cwd or the client's id.
    pub text: Option<String>,
    pub order: SessionOrder,
    pub limit: Option<u64>,
    /// Sessions skipped before the first listed (a page further down the list).
    pub offset: u64,
}

/// The order of a session list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionOrder {
    #[default]
    Newest,
    Oldest,
    /// Most tokens (input and output) first.
    Tokens,
    /// Most messages first.
    Messages,
}

impl SessionOrder {
    fn sql(self) -> &'static str {
        match self {
            Self::Newest => "s.started_at IS NULL, s.started_at DESC, s.session_key",
            Self::Oldest => "s.started_at IS NULL, s.started_at, s.session_key",
            // The rollup has a row per session and model: far fewer rows than the usage.
            Self::Tokens => {
                "(SELECT coalesce(sum(r.input_tokens + r.output_tokens), 0) FROM session_rollup r \
                 WHERE r.session = s.session) DESC, s.started_at DESC, s.session_key"
            }
            Self::Messages => {
                "(SELECT count(*) FROM message m WHERE m.session = s.session) DESC, s.started_at DESC, s.session_key"
            }
        }
    }
}

/// Token totals of a session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub input: i64,
    pub cached_input: i64,
    pub cache_creation: i64,
    pub output: i64,
    pub reasoning: i64,
}

/// One row of `sessions list`.
#[derive(Clone, Debug, Serialize)]
pub struct SessionSummary {
    pub session_id: String,
    pub client: String,
    pub native_id: String,
    pub title: Option<String>,
    pub cwd: Option<String>,
    pub project: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_seconds: Option<i64>,
    pub messages: i64,
    pub tool_calls: i64,
    pub tokens: Tokens,
    pub models: Vec<String>,
    pub parent_session_id: Option<String>,
    pub relationship: Option<String>,
}

/// Per-session counters as subqueries over the `session` row `s`: tool calls, then input, cached input,
/// cache creation, output and reasoning tokens (read back with [`Tokens::from_row`]). They read
/// each message's tool-call count and the session rollup (a row per model), not every part and
/// usage row: a long session's row costs a few lookups.
pub(crate) const SESSION_COUNTERS: &str = "(SELECT coalesce(sum(m.tool_calls), 0) FROM message m WHERE m.session = s.session), \
    (SELECT coalesce(sum(input_tokens), 0) FROM session_rollup r WHERE r.session = s.session), \
    (SELECT coalesce(sum(cache_read_tokens), 0) FROM session_rollup r WHERE r.session = s.session), \
    (SELECT coalesce(sum(cache_creation_tokens), 0) FROM session_rollup r WHERE r.session = s.session), \
    (SELECT coalesce(sum(output_tokens), 0) FROM session_rollup r WHERE r.session = s.session), \
    (SELECT coalesce(sum(reasoning_tokens), 0) FROM session_rollup r WHERE r.session = s.session)";

impl Tokens {
    /// The five token sums starting at column `first`.
    pub(crate) fn from_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            input: row.get(first)?,
            cached_input: row.get(first + 1)?,
            cache_creation: row.get(first + 2)?,
            output: row.get(first + 3)?,
            reasoning: row.get(first + 4)?,
        })
    }
}

/// [`TITLE`] as a literal, for statements built with `concat!`.
macro_rules! title_sql {
    () => {
        "coalesce(s.title, (SELECT p.text FROM message m JOIN part p ON p.message = m.message AND p.kind = 1 \
    WHERE m.session = s.session AND m.is_user_prompt AND ltrim(p.text) NOT LIKE '<%' AND trim(p.text) <> '' \
    ORDER BY m.seq, p.part_index LIMIT 1))"
    };
}

/// A session's title over its `session` row `s`: the client's own, else the text of its first
/// prompt a person typed (made one line by [`one_line_title`]), passing over the wrappers a
/// client writes as a prompt (`<command-name>/clear</command-name>`, `<local-command-stdout>`).
pub const TITLE: &str = title_sql!();

/// How many hex digits of a session id every command shows (and accepts as a prefix).
pub const SHORT_ID_DIGITS: usize = 12;

/// The short id `sessions list`, `tree`, `show` and `stats sessions` all show for a session.
pub fn short_id(session_id: &str) -> &str {
    session_id.get(..SHORT_ID_DIGITS).unwrap_or(session_id)
}

/// The longest title shown, in characters.
pub const TITLE_CHARS: usize = 80;

/// A title as one line: its first line with text, whitespace collapsed, cut at a word before
/// [`TITLE_CHARS`] characters.
pub fn one_line_title(text: Option<String>) -> Option<String> {
    let text = text?;
    let line = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut title = String::new();
    for word in words {
        let needed = if title.is_empty() { word.chars().count() } else { word.chars().count() + 1 };
        if title.chars().count() + needed > TITLE_CHARS {
            if title.is_empty() {
                title = word.chars().take(TITLE_CHARS).collect();
            }
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    Some(title)
}

/// The columns of a [`SessionSummary`], in the order `summary_from_row` reads them.
fn summary_columns() -> String {
    format!(
        "lower(hex(s.session_key)), s.client, s.native_id, {TITLE}, s.cwd, \
         coalesce(json_extract(s.metadata, '$.project_id'), s.cwd) AS project, s.started_at, s.ended_at, \
         CAST(round((julianday(s.ended_at) - julianday(s.started_at)) * 86400) AS INTEGER), \
         (SELECT count(*) FROM message m WHERE m.session = s.session), {SESSION_COUNTERS}, \
         s.models, iif(s.parent_session_key IS NULL, NULL, lower(hex(s.parent_session_key))), s.relationship"
    )
}

fn summary_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionSummary> {
    let models: String = row.get(16)?;
    Ok(SessionSummary {
        session_id: row.get(0)?,
        client: row.get(1)?,
        native_id: row.get(2)?,
        title: one_line_title(row.get(3)?),
        cwd: row.get(4)?,
        project: row.get(5)?,
        started_at: row.get(6)?,
        ended_at: row.get(7)?,
        duration_seconds: row.get(8)?,
        messages: row.get(9)?,
        tool_calls: row.get(10)?,
        tokens: Tokens::from_row(row, 11)?,
        models: serde_json::from_str(&models).unwrap_or_default(),
        parent_session_id: row.get(17)?,
        relationship: row.get(18)?,
    })
}

/// The sessions a [`SessionFilter`] selects: `?1` client, `?2`/`?3` window, `?4` project text,
/// `?5` text of the title, cwd or native id.
const FILTERED_SESSIONS: &str = concat!(
    "FROM session s \
    LEFT JOIN projects pr ON pr.client = s.client AND pr.native_id = json_extract(s.metadata, '$.project_id') \
    WHERE (?1 IS NULL OR s.client = ?1) \
      AND (?2 IS NULL OR coalesce(s.ended_at, s.started_at) >= ?2) \
      AND (?3 IS NULL OR s.started_at < ?3) \
      AND (?4 IS NULL OR instr(lower(coalesce(s.cwd, '')), lower(?4)) > 0 \
           OR instr(lower(coalesce(json_extract(s.metadata, '$.project_id'), '')), lower(?4)) > 0 \
           OR instr(lower(coalesce(pr.display_name, '')), lower(?4)) > 0) \
      AND (?5 IS NULL OR instr(lower(s.native_id), lower(?5)) > 0 OR instr(lower(coalesce(s.cwd, '')), lower(?5)) > 0 \
           OR instr(lower(coalesce(",
    title_sql!(),
    ", '')), lower(?5)) > 0)"
);

/// How many sessions the filter selects, its limit aside.
pub fn count(conn: &Connection, filter: &SessionFilter) -> Result<u64, ViewError> {
    Ok(conn.query_row(
        &format!("SELECT count(*) {FILTERED_SESSIONS}"),
        params![filter.client, filter.window.since, filter.window.until, filter.project, filter.text],
        |row| row.get(0),
    )?)
}

/// Sessions, in the filter's order (newest first unless it says otherwise).
pub fn list(conn: &Connection, filter: &SessionFilter) -> Result<Vec<SessionSummary>, ViewError> {
    // The page's sessions first, by key alone: a sorter would otherwise compute every column of
    // every selected session (their counts walk all their messages) to keep only a page of them.
    let sql = format!(
        "SELECT lower(hex(s.session_key)) {FILTERED_SESSIONS} ORDER BY {} LIMIT ?6 OFFSET ?7",
        filter.order.sql()
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let limit = filter.limit.map_or(-1, |limit| limit as i64);
    let ids = statement.query_map(
        params![
            filter.client,
            filter.window.since,
            filter.window.until,
            filter.project,
            filter.text,
            limit,
            filter.offset as i64
        ],
        |row| row.get::<_, String>(0),
    )?;
    let ids: Vec<String> = ids.collect::<Result<_, _>>()?;
    summaries_of(conn, &ids)
}

/// The list rows of the sessions `session_ids` (lowercase hex), in that order; unknown ids are skipped.
pub fn summaries_of(conn: &Connection, session_ids: &[String]) -> Result<Vec<SessionSummary>, ViewError> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {} FROM session s WHERE s.session_key = ?1", summary_columns()))?;
    let mut summaries = Vec::with_capacity(session_ids.len());
    for id in session_ids {
        summaries.extend(statement.query_row([compact::session_key(id)], summary_from_row).optional()?);
    }
    Ok(summaries)
}

/// The sessions whose parent is `session_id` (sub-agents, continuations, forks), oldest first.
pub fn children_of(conn: &Connection, session_id: &str) -> Result<Vec<SessionSummary>, ViewError> {
    let mut statement = conn.prepare_cached(
        "SELECT lower(hex(session_key)) FROM session WHERE parent_session_key = ?1 ORDER BY started_at, session_key",
    )?;
    let ids = statement.query_map([compact::session_key(session_id)], |row| row.get::<_, String>(0))?;
    let ids: Vec<String> = ids.collect::<Result<_, _>>()?;
    summaries_of(conn, &ids)
}

/// Every stored session that has a project directory, as (session id, directory).
pub fn directories(conn: &Connection) -> Result<Vec<(String, String)>, ViewError> {
    let mut statement =
        conn.prepare("SELECT lower(hex(session_key)), cwd FROM session WHERE cwd IS NOT NULL ORDER BY started_at")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Resolves a session id or a unique prefix of a session id or native id.
pub fn resolve(conn: &Connection, prefix: &str) -> Result<String, ViewError> {
    let mut statement = conn.prepare(
        "SELECT session_id, native_id FROM sessions WHERE session_id = ?1 OR native_id = ?1 \
         UNION SELECT session_id, native_id FROM sessions \
         WHERE substr(session_id, 1, length(?1)) = ?1 OR substr(native_id, 1, length(?1)) = ?1 LIMIT 6",
    )?;
    let exact: Option<String> = conn
        .query_row("SELECT session_id FROM sessions WHERE session_id = ?1 OR native_id = ?1 LIMIT 1", [prefix], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(id) = exact {
        return Ok(id);
    }
    let matches: Vec<(String, String)> =
        statement.query_map([prefix], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?;
    match matches.len() {
        0 => Err(ViewError::NotFound(prefix.to_string())),
        1 => Ok(matches[0].0.clone()),
        count => Err(ViewError::Ambiguous {
            prefix: prefix.to_string(),
            count,
            examples: matches.iter().take(3).map(|(_, native)| native.clone()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// One part of a message in `sessions show`.
#[derive(Clone, Debug, Serialize)]
pub struct PartView {
    pub kind: String,
    pub text: Option<String>,
    pub tool_name: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_input: Option<Value>,
    pub is_error: Option<bool>,
}

/// One message in `sessions show`.
#[derive(Clone, Debug, Serialize)]
pub struct MessageView {
    /// The message's position in the session (`sessions show --at`).
    pub seq: i64,
    pub role: String,
    pub timestamp: Option<String>,
    pub model: Option<String>,
    pub sidechain: bool,
    pub meta: bool,
    pub injected: bool,
    pub compact_summary: bool,
    pub compact_boundary: bool,
    pub api_error: bool,
    /// Dropped from the conversation by a rewind in the client.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rewound: bool,
    /// What an API error message says went wrong, from its frame (`Provider::describe_error`;
    /// filled by the caller, which knows the providers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_cause: Option<String>,
    /// The restored frame of an API error message (for `error_cause`).
    #[serde(skip)]
    pub error_frame: Option<Value>,
    /// The tokens and cost of the responses this message records (none for a message without).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<MessageUsage>,
    pub parts: Vec<PartView>,
}

/// What the responses one message records used and cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MessageUsage {
    #[serde(flatten)]
    pub tokens: Tokens,
    /// USD at the prices of the response's day; `None` when a response has no price.
    pub cost_usd: Option<f64>,
}

impl MessageUsage {
    /// Every token counted once, as the reports count them: input (cache reads and writes are
    /// part of it) and output (reasoning is part of it).
    pub fn total(&self) -> i64 {
        self.tokens.input + self.tokens.output
    }
}

/// Each message's usage in a session, by message key.
fn usage_by_message(
    conn: &Connection,
    session_id: &str,
) -> Result<std::collections::HashMap<Vec<u8>, MessageUsage>, ViewError> {
    let mut statement = conn.prepare_cached(
        "SELECT message_key, sum(input_tokens), sum(cache_read_tokens), sum(cache_creation_tokens), sum(output_tokens), \
         sum(reasoning_tokens), sum(cost_nano_usd), sum(cost_nano_usd IS NULL) FROM token_usage \
         WHERE session = (SELECT session FROM session WHERE session_key = ?1) AND message_key IS NOT NULL \
         GROUP BY message_key",
    )?;
    let rows = statement.query_map([compact::session_key(session_id)], |row| {
        let unpriced: i64 = row.get(7)?;
        let cost: Option<i64> = row.get(6)?;
        Ok((
            row.get::<_, Vec<u8>>(0)?,
            MessageUsage {
                tokens: Tokens {
                    input: row.get(1)?,
                    cached_input: row.get(2)?,
                    cache_creation: row.get(3)?,
                    output: row.get(4)?,
                    reasoning: row.get(5)?,
                },
                cost_usd: (unpriced == 0).then(|| hindcast_pricing::to_usd(cost.unwrap_or(0))),
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `sessions show`: the summary, stored metadata and the conversation in order.
#[derive(Clone, Debug, Serialize)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub summary: SessionSummary,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub client_version: Option<String>,
    pub entrypoint: Option<String>,
    pub permission_mode: Option<String>,
    pub sandbox_mode: Option<String>,
    pub approval_mode: Option<String>,
    pub metadata: Value,
    pub messages: Vec<MessageView>,
}

/// One session with its conversation.
pub fn show(conn: &Connection, session_id: &str) -> Result<SessionDetail, ViewError> {
    show_messages(conn, session_id, None)
}

/// [`show`], with only the messages at positions `from..until` (a page of a long session).
pub fn show_messages(
    conn: &Connection,
    session_id: &str,
    range: Option<(i64, i64)>,
) -> Result<SessionDetail, ViewError> {
    let summary = conn
        .query_row(
            &format!("SELECT {} FROM session s WHERE s.session_key = ?1", summary_columns()),
            [compact::session_key(session_id)],
            summary_from_row,
        )
        .optional()?
        .ok_or_else(|| ViewError::NotFound(session_id.to_string()))?;
    let (git_branch, git_commit, client_version, entrypoint, permission_mode, sandbox_mode, approval_mode, metadata) = conn
        .query_row(
            "SELECT git_branch, git_commit, client_version, entrypoint, permission_mode, sandbox_mode, approval_mode, metadata \
             FROM sessions WHERE session_id = ?1",
            [session_id],
            |row| {
                let metadata: String = row.get(7)?;
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?, metadata))
            },
        )?;
    let mut parts_statement = conn.prepare_cached(
        "SELECT k.name, p.text, p.tool_name, p.tool_call_id, p.tool_input, p.is_error \
         FROM part p JOIN part_kind k ON k.code = p.kind WHERE p.message = ?1 ORDER BY p.part_index",
    )?;
    let mut statement = conn.prepare(&format!(
        "SELECT m.message, ro.name, m.timestamp, m.model, m.is_sidechain, m.is_meta, m.is_injected, m.is_compact_summary, \
         m.is_compact_boundary, m.is_api_error, iif(m.is_api_error, {}, NULL), m.seq, m.is_rewound, m.message_key FROM message m JOIN role ro ON ro.code = m.role \
         LEFT JOIN frame_context c ON c.context = m.frame_context LEFT JOIN message p ON p.message_key = m.parent_key \
         WHERE m.session = (SELECT session FROM session WHERE session_key = ?1) AND m.seq >= ?2 AND m.seq < ?3 \
         ORDER BY m.seq",
        crate::frame::RESTORE_SQL
    ))?;
    let mut usage = usage_by_message(conn, session_id)?;
    let mut messages = Vec::new();
    let (from, until) = range.unwrap_or((0, i64::MAX));
    let mut rows = statement.query(rusqlite::params![compact::session_key(session_id), from, until])?;
    while let Some(row) = rows.next()? {
        let message: i64 = row.get(0)?;
        let parts = parts_statement
            .query_map([message], |part| {
                let input: Option<String> = part.get(4)?;
                Ok(PartView {
                    kind: part.get(0)?,
                    text: part.get(1)?,
                    tool_name: part.get(2)?,
                    tool_call_id: part.get(3)?,
                    tool_input: input.and_then(|text| serde_json::from_str(&text).ok()),
                    is_error: part.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        messages.push(MessageView {
            seq: row.get(11)?,
            role: row.get(1)?,
            timestamp: row.get(2)?,
            model: row.get(3)?,
            sidechain: row.get(4)?,
            meta: row.get(5)?,
            injected: row.get(6)?,
            compact_summary: row.get(7)?,
            compact_boundary: row.get(8)?,
            api_error: row.get(9)?,
            rewound: row.get(12)?,
            error_cause: None,
            error_frame: row.get::<_, Option<String>>(10)?.and_then(|text| serde_json::from_str(&text).ok()),
            usage: usage.remove(&row.get::<_, Vec<u8>>(13)?),
            parts,
        });
    }
    Ok(SessionDetail {
        summary,
        git_branch,
        git_commit,
        client_version,
        entrypoint,
        permission_mode,
        sandbox_mode,
        approval_mode,
        metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
        messages,
    })
}

/// A node of a lineage tree.
#[derive(Clone, Debug, Serialize)]
pub struct TreeNode {
    pub session_id: String,
    pub client: String,
    pub native_id: String,
    pub title: Option<String>,
    pub started_at: Option<String>,
    /// How this node relates to its parent (`subagent`, `continuation`, `fork`, `resumes`, `resumed by`).
    pub relationship: Option<String>,
    pub children: Vec<TreeNode>,
}

type NodeRow = (String, String, String, Option<String>, Option<String>);

fn node_row(conn: &Connection, session_id: &str) -> Result<Option<NodeRow>, ViewError> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT lower(hex(s.session_key)), s.client, s.native_id, {TITLE}, s.started_at FROM session s \
                 WHERE s.session_key = ?1"
            ),
            [compact::session_key(session_id)],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, one_line_title(row.get(3)?), row.get(4)?)),
        )
        .optional()?)
}

/// Children: sessions naming this one as parent, plus cross-client links (a legacy orchestrator
/// session and the Claude/Codex session it resumes).
fn children(conn: &Connection, session_id: &str) -> Result<Vec<(String, String)>, ViewError> {
    let mut statement = conn.prepare_cached(
        "SELECT lower(hex(session_key)), relationship FROM session WHERE parent_session_key = ?1 \
         UNION ALL SELECT r.target_session_id, r.kind FROM session_refs r \
         JOIN session t ON t.session_key = unhex(r.target_session_id) WHERE r.session_id = ?2 \
         ORDER BY 1",
    )?;
    let rows = statement
        .query_map(params![compact::session_key(session_id), session_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn build(
    conn: &Connection,
    session_id: &str,
    relationship: Option<String>,
    depth: usize,
) -> Result<Option<TreeNode>, ViewError> {
    let Some((session_id, client, native_id, title, started_at)) = node_row(conn, session_id)? else { return Ok(None) };
    let mut node = TreeNode {
        session_id: session_id.clone(),
        client,
        native_id,
        title,
        started_at,
        relationship,
        children: Vec::new(),
    };
    if depth < 64 {
        let mut kids = Vec::new();
        for (child, kind) in children(conn, &session_id)? {
            if let Some(child) = build(conn, &child, Some(kind), depth + 1)? {
                kids.push(child);
            }
        }
        kids.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.session_id.cmp(&b.session_id)));
        node.children = kids;
    }
    Ok(Some(node))
}

/// Lineage: the tree holding `session_id` (from its root), or every tree with at least one child.
pub fn tree(conn: &Connection, session_id: Option<&str>) -> Result<Vec<TreeNode>, ViewError> {
    let roots: Vec<String> = match session_id {
        Some(id) => {
            let mut current = id.to_string();
            for _ in 0..64 {
                let parent: Option<String> = conn
                    .query_row(
                        "SELECT iif(parent_session_key IS NULL, NULL, lower(hex(parent_session_key))) FROM session \
                         WHERE session_key = ?1",
                        [compact::session_key(&current)],
                        |row| row.get(0),
                    )
                    .optional()?
                    .flatten()
                    .filter(|parent: &String| node_row(conn, parent).ok().flatten().is_some());
                match parent {
                    Some(parent) => current = parent,
                    None => break,
                }
            }
            vec![current]
        }
        None => {
            let mut statement = conn.prepare(
                "SELECT lower(hex(s.session_key)) FROM session s WHERE (s.parent_session_key IS NULL \
                   OR NOT EXISTS (SELECT 1 FROM session p WHERE p.session_key = s.parent_session_key)) \
                 AND (EXISTS (SELECT 1 FROM session c WHERE c.parent_session_key = s.session_key) \
                   OR EXISTS (SELECT 1 FROM session_refs r JOIN session t ON t.session_key = unhex(r.target_session_id) \
                              WHERE r.session_id = lower(hex(s.session_key)))) \
                 ORDER BY s.started_at, s.session_key",
            )?;
            statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?
        }
    };
    let mut trees = Vec::new();
    for root in roots {
        trees.extend(build(conn, &root, None, 0)?);
    }
    Ok(trees)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_one_line_of_at_most_80_characters() {
        let long = "word ".repeat(30);
        for (text, expected) in [
            (Some("\n\n  Fix the   login\tbug  \nand the tests"), Some("Fix the login bug")),
            (Some(long.as_str()), Some("word ".repeat(16).trim_end())),
            (Some(&"x".repeat(100)[..]), Some(&"x".repeat(80)[..])),
            (Some("  \n \n"), None),
            (None, None),
        ] {
            assert_eq!(one_line_title(text.map(str::to_string)).as_deref(), expected, "{text:?}");
        }
    }
}
