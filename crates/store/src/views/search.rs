//! `hindcast search`: a query of words, "phrases", prefix* and -exclusions answered from the
//! search index (`crate::search`): words through `search_words` (BM25), CJK text and substrings
//! through `search_grams`; every word required, and when no part holds them all, any of them; the
//! best hit per session (or every hit), newer first on ties, with a snippet.

use rusqlite::{Connection, params_from_iter, types::Value};
use serde::Serialize;

use super::sessions::{TITLE, one_line_title};
use super::{TextWindow, ViewError};

/// Marks around a matched term in a snippet (private-use characters, so no transcript text is
/// taken for one; callers turn them into highlighting).
pub const MATCH_START: char = '\u{e000}';
pub const MATCH_END: char = '\u{e001}';

/// One term of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// A word; `prefix` when written `word*`.
    Word { text: String, prefix: bool },
    /// Words in this order, written `"like this"`.
    Phrase(String),
    /// A word or phrase no hit may hold, written `-word` or `-"some words"`.
    Exclude(String),
}

/// Why a query cannot be run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("the query has no word to look for (only exclusions, or nothing)")]
    Empty,
    #[error("a quote opened at character {0} is never closed")]
    UnclosedQuote(usize),
}

/// Reads `query`: whitespace separates terms; `"…"` is a phrase, `word*` a prefix, `-` excludes.
pub fn parse(query: &str) -> Result<Vec<Term>, QueryError> {
    let mut terms = Vec::new();
    let chars: Vec<char> = query.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        if chars[at].is_whitespace() {
            at += 1;
            continue;
        }
        let exclude = chars[at] == '-' && at + 1 < chars.len() && !chars[at + 1].is_whitespace();
        if exclude {
            at += 1;
        }
        let (text, phrase) = if chars[at] == '"' {
            let close = chars[at + 1..].iter().position(|&c| c == '"').ok_or(QueryError::UnclosedQuote(at + 1))?;
            let text: String = chars[at + 1..at + 1 + close].iter().collect();
            at += close + 2;
            (text, true)
        } else {
            let end = chars[at..].iter().position(|c| c.is_whitespace()).map_or(chars.len(), |end| at + end);
            let text: String = chars[at..end].iter().collect();
            at = end;
            (text, false)
        };
        let text = text.trim().to_string();
        if text.is_empty() || text == "*" {
            continue;
        }
        terms.push(match (exclude, phrase) {
            (true, _) => Term::Exclude(text),
            (false, true) => Term::Phrase(text),
            (false, false) => match text.strip_suffix('*') {
                Some(stem) => Term::Word { text: stem.to_string(), prefix: true },
                None => Term::Word { text, prefix: false },
            },
        });
    }
    if !terms.iter().any(|term| !matches!(term, Term::Exclude(_))) {
        return Err(QueryError::Empty);
    }
    Ok(terms)
}

/// Whether `text` holds CJK characters, which `unicode61` cannot split into words (a run of them is
/// one token), so they are looked up as substrings.
pub fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c as u32,
            0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff
            | 0xac00..=0xd7af | 0x1100..=0x11ff | 0x3130..=0x318f | 0xff66..=0xff9f | 0x20000..=0x2fa1f)
    })
}

/// Which parts a search looks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleFilter {
    /// Prompts a person typed.
    User,
    /// The model's text and thinking.
    Assistant,
    /// Tool calls and their results.
    Tool,
}

/// Filters of a search.
#[derive(Clone, Debug, Default)]
pub struct SearchFilter {
    pub client: Option<String>,
    /// Text the session's directory or project contains.
    pub project: Option<String>,
    pub window: TextWindow,
    pub role: Option<RoleFilter>,
    pub session_id: Option<String>,
    /// Every hit, not only the best of each session.
    pub all_hits: bool,
    pub limit: u64,
}

/// Messages above which a word is common: ranking every hit of it by BM25 would cost seconds on a
/// large store for little (a word in that many messages tells them apart poorly), so its hits are
/// read newest first, as many as needed.
const COMMON_DOCS: i64 = 5_000;

/// Hits read newest first on the first try, for a common word; multiplied by 8 while too few
/// sessions come out of them.
const NEWEST_FIRST_HITS: i64 = 4_000;

/// How hits were ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ranking {
    /// BM25 over every hit, newer first on ties.
    Bm25,
    /// Every word is common: the newest hits, best per session (`Found::sessions` then counts the
    /// sessions among the hits read).
    Newest,
}

/// How the words were combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Matching {
    /// Every term in one part.
    All,
    /// No part held every word, so parts with any of them.
    Any,
}

/// One hit.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    pub session_id: String,
    pub client: String,
    pub native_id: String,
    pub title: Option<String>,
    pub cwd: Option<String>,
    pub project: Option<String>,
    pub started_at: Option<String>,
    /// The message's position in the session (what `sessions show --at` takes); `None` for a
    /// title match.
    pub message_seq: Option<i64>,
    pub message_at: Option<String>,
    pub role: Option<String>,
    pub kind: Option<String>,
    /// The text around the match, with [`MATCH_START`]/[`MATCH_END`] around each matched term.
    #[serde(skip)]
    pub marked_snippet: String,
    /// BM25 (lower is better; 0 for substring and title matches).
    pub rank: f64,
}

/// What a search found.
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    pub matching: Matching,
    pub ranking: Ranking,
    pub hits: Vec<Hit>,
    /// Sessions with a hit, the limit aside.
    pub sessions: u64,
    /// Whether every hit was read (always, unless ranked newest first).
    #[serde(skip)]
    pub read_all: bool,
}

/// An FTS5 string literal.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A LIKE pattern that matches wherever `text` occurs, and some other places: `_` stays a
/// wildcard and `%` becomes one, because FTS5's trigram index serves `LIKE` only without an
/// `ESCAPE` clause (with one, every row is read); [`holds`] then keeps the exact matches.
fn like_anywhere(text: &str) -> String {
    format!("%{}%", text.replace('%', "_"))
}

/// The SQL condition that `column` holds `text` (bound as `placeholder`) exactly, ignoring ASCII case.
fn holds(column: &str, placeholder: &str) -> String {
    format!("instr(lower({column}), lower({placeholder})) > 0")
}

/// The FTS5 expression of the word terms, joined by `joiner`, or `None` when there are none.
fn words_expression(terms: &[&Term], joiner: &str) -> Option<String> {
    let words: Vec<String> = terms
        .iter()
        .filter_map(|term| match term {
            Term::Word { text, prefix: true } => Some(format!("{}*", quoted(text))),
            Term::Word { text, prefix: false } | Term::Phrase(text) => Some(quoted(text)),
            Term::Exclude(_) => None,
        })
        .collect();
    (!words.is_empty()).then(|| words.join(joiner))
}

/// In how many parts the rarest of the word terms occurs (`None` without word terms), from the
/// index's vocabulary: a phrase counts its rarest word, a prefix every word it starts.
fn rarest_docs(conn: &Connection, terms: &[&Term]) -> Result<Option<i64>, ViewError> {
    let tokens = |text: &str| -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|token| !token.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut rarest: Option<i64> = None;
    for term in terms {
        let docs = match term {
            Term::Word { text, prefix: true } => {
                let Some(stem) = tokens(text).pop() else { continue };
                conn.query_row(
                    "SELECT coalesce(sum(doc), 0) FROM search_words_vocab WHERE term >= ?1 AND term < ?1 || char(1114111)",
                    [stem],
                    |row| row.get::<_, i64>(0),
                )?
            }
            Term::Word { text, .. } | Term::Phrase(text) => {
                let mut fewest = i64::MAX;
                for token in tokens(text) {
                    let docs = conn
                        .query_row("SELECT doc FROM search_words_vocab WHERE term = ?1", [token], |row| {
                            row.get::<_, i64>(0)
                        })
                        .unwrap_or(0);
                    fewest = fewest.min(docs);
                }
                if fewest == i64::MAX { continue } else { fewest }
            }
            Term::Exclude(_) => continue,
        };
        rarest = Some(rarest.map_or(docs, |rarest| rarest.min(docs)));
    }
    Ok(rarest)
}

/// Searches the store. `terms` come from [`parse`].
pub fn search(conn: &Connection, terms: &[Term], filter: &SearchFilter) -> Result<Found, ViewError> {
    let text_of = |term: &Term| match term {
        Term::Word { text, .. } | Term::Phrase(text) | Term::Exclude(text) => text.clone(),
    };
    let (substring, words): (Vec<&Term>, Vec<&Term>) =
        terms.iter().filter(|term| !matches!(term, Term::Exclude(_))).partition(|term| has_cjk(&text_of(term)));
    let excluded: Vec<String> =
        terms.iter().filter(|term| matches!(term, Term::Exclude(_))).map(|term| quoted(&text_of(term))).collect();
    let substrings: Vec<String> = substring.iter().map(|term| text_of(term)).collect();
    if rarest_docs(conn, &words)?.is_some_and(|docs| docs > COMMON_DOCS) {
        return newest_first(conn, words_expression(&words, " AND ").as_deref(), &substrings, &excluded, filter);
    }
    let found = run(conn, words_expression(&words, " AND ").as_deref(), &substrings, &excluded, filter, None)?;
    if found.hits.is_empty() && words.len() + substrings.len() > 1 {
        // A question in plain words rarely has every word in one part: any of them, ranked.
        let any = words_expression(&words, " OR ");
        let mut found = run(conn, any.as_deref(), &[], &excluded, filter, None)?;
        if found.hits.is_empty() && !substrings.is_empty() {
            for substring in &substrings {
                found = run(conn, None, std::slice::from_ref(substring), &excluded, filter, None)?;
                if !found.hits.is_empty() {
                    break;
                }
            }
        }
        return Ok(Found { matching: Matching::Any, ..found });
    }
    if found.hits.is_empty() && substrings.is_empty() && words.len() == 1 {
        // An identifier or a part of one (`rollout_name`, `CONN_REF`): as a substring of prose.
        let text = text_of(words[0]);
        if text.chars().count() >= 3 {
            return run(conn, None, &[text], &excluded, filter, None);
        }
    }
    Ok(found)
}

/// A search for common words: the newest `NEWEST_FIRST_HITS` hits, then 8 times more while they
/// give fewer sessions than asked for and more hits remain.
fn newest_first(
    conn: &Connection,
    words: Option<&str>,
    substrings: &[String],
    excluded: &[String],
    filter: &SearchFilter,
) -> Result<Found, ViewError> {
    let wanted = if filter.limit == 0 { u64::MAX } else { filter.limit };
    let mut read = NEWEST_FIRST_HITS;
    loop {
        let found = run(conn, words, substrings, excluded, filter, Some(read))?;
        let enough = if filter.all_hits { found.hits.len() as u64 >= wanted } else { found.sessions >= wanted };
        if enough || found.read_all {
            return Ok(Found { ranking: Ranking::Newest, ..found });
        }
        read = read.saturating_mul(8);
    }
}

/// One search: parts matching the FTS5 expression `words` (if any), holding every one of
/// `substrings` (if any; prose parts only) and none of `excluded`, filtered, ranked, grouped;
/// with `newest`, only that many of the newest word hits, unranked.
fn run(
    conn: &Connection,
    words: Option<&str>,
    substrings: &[String],
    excluded: &[String],
    filter: &SearchFilter,
    newest: Option<i64>,
) -> Result<Found, ViewError> {
    let mut values: Vec<Value> = Vec::new();
    let mut snippet_expression = None;
    let exclusion = (!excluded.is_empty()).then(|| excluded.join(" OR "));
    let hit_sql = match words {
        Some(expression) => {
            let expression = match &exclusion {
                Some(excluded) => format!("({expression}) NOT ({excluded})"),
                None => expression.to_string(),
            };
            snippet_expression = Some(expression.clone());
            let matched = bind(&mut values, Value::Text(expression));
            let rank = if newest.is_some() { "0.0" } else { "bm25(search_words)" };
            let mut sql =
                format!("SELECT rowid AS part, {rank} AS rank FROM search_words WHERE search_words MATCH {matched}");
            for substring in substrings {
                let pattern = bind(&mut values, Value::Text(like_anywhere(substring)));
                let exact = bind(&mut values, Value::Text(substring.clone()));
                sql.push_str(&format!(
                    " AND rowid IN (SELECT rowid FROM search_grams WHERE body LIKE {pattern} AND {})",
                    holds("body", &exact)
                ));
            }
            if let Some(newest) = newest {
                sql.push_str(&format!(" ORDER BY rowid DESC LIMIT {newest}"));
            }
            sql
        }
        None => {
            let mut conditions = Vec::new();
            for substring in substrings {
                let pattern = bind(&mut values, Value::Text(like_anywhere(substring)));
                let exact = bind(&mut values, Value::Text(substring.clone()));
                conditions.push(format!("body LIKE {pattern} AND {}", holds("body", &exact)));
            }
            if let Some(excluded) = &exclusion {
                let matched = bind(&mut values, Value::Text(excluded.clone()));
                conditions
                    .push(format!("rowid NOT IN (SELECT rowid FROM search_words WHERE search_words MATCH {matched})"));
            }
            format!("SELECT rowid AS part, 0.0 AS rank FROM search_grams WHERE {}", conditions.join(" AND "))
        }
    };
    let hit_values = values.len();
    let mut conditions = vec!["1".to_string()];
    if let Some(client) = &filter.client {
        conditions.push(format!("s.client = {}", bind(&mut values, Value::Text(client.clone()))));
    }
    if let Some(project) = &filter.project {
        let project = bind(&mut values, Value::Text(project.to_lowercase()));
        conditions.push(format!(
            "(instr(lower(coalesce(s.cwd, '')), {project}) > 0 \
              OR instr(lower(coalesce(json_extract(s.metadata, '$.project_id'), '')), {project}) > 0)"
        ));
    }
    if let Some(since) = &filter.window.since {
        conditions.push(format!("m.timestamp >= {}", bind(&mut values, Value::Text(since.clone()))));
    }
    if let Some(until) = &filter.window.until {
        conditions.push(format!("m.timestamp < {}", bind(&mut values, Value::Text(until.clone()))));
    }
    match filter.role {
        Some(RoleFilter::User) => conditions.push("m.is_user_prompt AND p.kind = 1".into()),
        Some(RoleFilter::Assistant) => conditions.push("m.role = 2 AND p.kind IN (1, 2)".into()),
        Some(RoleFilter::Tool) => conditions.push("p.kind IN (3, 4)".into()),
        None => {}
    }
    if let Some(session) = &filter.session_id {
        conditions.push(format!("s.session_key = unhex({})", bind(&mut values, Value::Text(session.clone()))));
    }
    let best = if filter.all_hits { "1" } else { "best = 1" };
    // CROSS JOIN keeps the hits the outer loop: a filter on sessions or messages must not make the
    // planner walk every message of a client to find the few that match.
    let limit = bind(&mut values, Value::Integer(if filter.limit == 0 { -1 } else { filter.limit as i64 }));
    let sql = format!(
        "WITH hit AS MATERIALIZED ({hit_sql}), \
         placed AS MATERIALIZED (SELECT h.part, h.rank, p.kind, m.seq, m.timestamp, m.role, s.session, \
             row_number() OVER (PARTITION BY s.session ORDER BY h.rank, m.timestamp DESC, m.seq DESC) AS best \
             FROM hit h CROSS JOIN part p ON p.part = h.part CROSS JOIN message m ON m.message = p.message \
             CROSS JOIN session s ON s.session = m.session WHERE {conditions}) \
         SELECT lower(hex(s.session_key)), s.client, s.native_id, {TITLE}, s.cwd, \
             coalesce(json_extract(s.metadata, '$.project_id'), s.cwd), s.started_at, x.seq, x.timestamp, \
             ro.name, k.name, x.part, (SELECT text FROM part WHERE part = x.part), x.rank, \
             (SELECT count(DISTINCT session) FROM placed) \
         FROM placed x JOIN session s ON s.session = x.session JOIN role ro ON ro.code = x.role \
         JOIN part_kind k ON k.code = x.kind WHERE {best} \
         ORDER BY x.rank, x.timestamp DESC, x.seq DESC LIMIT {limit}",
        conditions = conditions.join(" AND "),
    );
    let mut statement = conn.prepare(&sql)?;
    // Snippets of the hits shown only: FTS5 makes one by reading and tokenizing the part again.
    let mut snippet_statement = match &snippet_expression {
        Some(_) => Some(conn.prepare(&format!(
            "SELECT snippet(search_words, 0, '{MATCH_START}', '{MATCH_END}', '…', 24) FROM search_words \
             WHERE search_words MATCH ?1 AND rowid = ?2"
        ))?),
        None => None,
    };
    let mut sessions = 0;
    let mut hits = Vec::new();
    let mut rows = statement.query(params_from_iter(values.iter()))?;
    while let Some(row) = rows.next()? {
        let part: i64 = row.get(11)?;
        let text: Option<String> = row.get(12)?;
        let snippet = match (&mut snippet_statement, &snippet_expression) {
            (Some(statement), Some(expression)) => statement
                .query_row(rusqlite::params![expression, part], |row| row.get::<_, Option<String>>(0))
                .ok()
                .flatten(),
            _ => None,
        };
        let marked_snippet = snippet.unwrap_or_else(|| substring_snippet(text.as_deref().unwrap_or(""), substrings));
        sessions = row.get::<_, i64>(14)? as u64;
        hits.push(Hit {
            session_id: row.get(0)?,
            client: row.get(1)?,
            native_id: row.get(2)?,
            title: one_line_title(row.get(3)?),
            cwd: row.get(4)?,
            project: row.get(5)?,
            started_at: row.get(6)?,
            message_seq: row.get(7)?,
            message_at: row.get(8)?,
            role: row.get(9)?,
            kind: row.get(10)?,
            marked_snippet,
            rank: row.get(13)?,
        });
    }
    let read_all = match newest {
        None => true,
        Some(newest) => {
            let hits_read: i64 = conn.query_row(
                &format!("SELECT count(*) FROM ({hit_sql})"),
                params_from_iter(values[..hit_values].iter()),
                |row| row.get(0),
            )?;
            hits_read < newest
        }
    };
    Ok(Found { matching: Matching::All, ranking: Ranking::Bm25, hits, sessions, read_all })
}

/// Adds `value` to the statement's parameters; returns its placeholder.
fn bind(values: &mut Vec<Value>, value: Value) -> String {
    values.push(value);
    format!("?{}", values.len())
}

/// How many characters a substring snippet shows on each side of the first match.
const SNIPPET_CONTEXT: usize = 60;

/// The text around the first of `substrings` in `text` (case-insensitively), marked.
fn substring_snippet(text: &str, substrings: &[String]) -> String {
    let lower = text.to_lowercase();
    let found = substrings.iter().find_map(|needle| {
        let needle = needle.to_lowercase();
        // Lowercasing can change byte lengths; only a match whose bounds are in `text` too is marked.
        lower
            .find(&needle)
            .filter(|&at| lower.len() == text.len() && text.is_char_boundary(at + needle.len()))
            .map(|at| (at, needle.len()))
    });
    let Some((at, length)) = found else {
        return text.chars().take(2 * SNIPPET_CONTEXT).collect();
    };
    let before: String = text[..at].chars().rev().take(SNIPPET_CONTEXT).collect::<Vec<_>>().into_iter().rev().collect();
    let after: String = text[at + length..].chars().take(SNIPPET_CONTEXT).collect();
    let lead = if before.len() < at { "…" } else { "" };
    let tail = if at + length + after.len() < text.len() { "…" } else { "" };
    format!("{lead}{before}{MATCH_START}{}{MATCH_END}{after}{tail}", &text[at..at + length])
}

/// A marked snippet as pieces of (text, matched).
pub fn snippet_pieces(marked: &str) -> Vec<(String, bool)> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut matched = false;
    for c in marked.chars() {
        match c {
            MATCH_START | MATCH_END => {
                if !current.is_empty() {
                    pieces.push((std::mem::take(&mut current), matched));
                }
                matched = c == MATCH_START;
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        pieces.push((current, matched));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: Result<Vec<Term>, QueryError>) {
        assert_eq!(parse(query), expected, "{query}");
    }

    fn word(text: &str) -> Term {
        Term::Word { text: text.into(), prefix: false }
    }

    #[test]
    fn queries_are_words_phrases_prefixes_and_exclusions() {
        check("fix the build", Ok(vec![word("fix"), word("the"), word("build")]));
        check(
            "\"connection refused\" retry*",
            Ok(vec![Term::Phrase("connection refused".into()), Term::Word { text: "retry".into(), prefix: true }]),
        );
        check(
            "deploy -staging -\"dry run\"",
            Ok(vec![word("deploy"), Term::Exclude("staging".into()), Term::Exclude("dry run".into())]),
        );
        check("parse_rollout_name ERR_CONN-REFUSED", Ok(vec![word("parse_rollout_name"), word("ERR_CONN-REFUSED")]));
        check("-only", Err(QueryError::Empty));
        check("   ", Err(QueryError::Empty));
        check("\"open", Err(QueryError::UnclosedQuote(1)));
        check("a - b", Ok(vec![word("a"), word("-"), word("b")]));
    }

    #[test]
    fn cjk_text_is_looked_up_as_a_substring() {
        assert!(has_cjk("最新の状態"));
        assert!(has_cjk("안녕하세요"));
        assert!(!has_cjk("naïve café"));
    }

    #[test]
    fn a_substring_snippet_marks_the_match() {
        let snippet = substring_snippet("CLAUDE.mdファイルを最新の状態にアップデートしました", &["最新の状態".into()]);
        assert_eq!(
            snippet_pieces(&snippet),
            [
                ("CLAUDE.mdファイルを".to_string(), false),
                ("最新の状態".to_string(), true),
                ("にアップデートしました".to_string(), false),
            ]
        );
        assert_eq!(like_anywhere("50%_a\\b"), "%50__a\\b%");
    }
}
