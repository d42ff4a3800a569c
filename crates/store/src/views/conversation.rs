//! A session's conversation as a person reads it: messages the client wrote itself folded (unless
//! all are wanted), each tool call paired with its result, a date line whenever the local day
//! changes; rendered as Markdown or as a self-contained HTML page that escapes everything.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::render;
use super::sessions::{self, MessageUsage, MessageView, PartView, SessionDetail};

/// One thing to show, in order.
#[derive(Debug)]
pub enum Entry<'a> {
    /// The local day changes.
    Day(jiff::civil::Date),
    Message(Turn<'a>),
    /// Messages the client wrote itself (meta, injected context), left out.
    Folded(usize),
    /// Messages the client dropped from the conversation (a rewind), left out.
    Rewound(usize),
    /// Messages before the one asked to start at, left out.
    Earlier(usize),
}

/// A message with its parts arranged.
#[derive(Debug)]
pub struct Turn<'a> {
    pub message: &'a MessageView,
    /// The message's time in the reader's zone.
    pub local: Option<jiff::Zoned>,
    pub parts: Vec<Piece<'a>>,
}

/// A part as shown.
#[derive(Debug)]
pub enum Piece<'a> {
    Text(&'a str),
    Thinking(&'a str),
    /// A tool call and the result that answered it (found anywhere later in the session).
    Call {
        call: &'a PartView,
        result: Option<&'a PartView>,
    },
    /// A result whose call is not in the session.
    Result(&'a PartView),
    Image,
    Other,
}

/// Whether `message` is one the client wrote itself rather than a person or the model.
pub fn is_client_written(message: &MessageView) -> bool {
    message.meta || message.injected
}

/// Arranges `detail`'s messages: results moved under their calls (a message left holding only
/// moved results disappears), client-written messages folded unless `all`, a day line whenever
/// the day in `zone` changes; with `from_seq`, only from that message on.
pub fn arrange<'a>(detail: &'a SessionDetail, zone: &TimeZone, all: bool, from_seq: Option<i64>) -> Vec<Entry<'a>> {
    let mut results: HashMap<&str, &PartView> = HashMap::new();
    for part in detail.messages.iter().flat_map(|message| &message.parts) {
        if part.kind == "tool_result"
            && let Some(id) = part.tool_call_id.as_deref()
        {
            results.entry(id).or_insert(part);
        }
    }
    let called: std::collections::HashSet<&str> = detail
        .messages
        .iter()
        .flat_map(|message| &message.parts)
        .filter(|part| part.kind == "tool_call")
        .filter_map(|part| part.tool_call_id.as_deref())
        .filter(|id| results.contains_key(id))
        .collect();
    let mut entries = Vec::new();
    let earlier = from_seq.map_or(0, |from| detail.messages.iter().filter(|message| message.seq < from).count());
    if earlier > 0 {
        entries.push(Entry::Earlier(earlier));
    }
    let mut day = None;
    for message in detail.messages.iter().filter(|message| from_seq.is_none_or(|from| message.seq >= from)) {
        if !all && message.rewound {
            match entries.last_mut() {
                Some(Entry::Rewound(count)) => *count += 1,
                _ => entries.push(Entry::Rewound(1)),
            }
            continue;
        }
        if !all && is_client_written(message) {
            match entries.last_mut() {
                Some(Entry::Folded(count)) => *count += 1,
                _ => entries.push(Entry::Folded(1)),
            }
            continue;
        }
        let parts: Vec<Piece<'a>> = message
            .parts
            .iter()
            .filter_map(|part| match part.kind.as_str() {
                "tool_call" => Some(Piece::Call {
                    call: part,
                    result: part.tool_call_id.as_deref().and_then(|id| results.get(id).copied()),
                }),
                "tool_result" if part.tool_call_id.as_deref().is_some_and(|id| called.contains(id)) => None,
                "tool_result" => Some(Piece::Result(part)),
                "thinking" => Some(Piece::Thinking(part.text.as_deref().unwrap_or(""))),
                "image" => Some(Piece::Image),
                "other" => Some(Piece::Other),
                _ => Some(Piece::Text(part.text.as_deref().unwrap_or(""))),
            })
            .collect();
        let only_moved_results = parts.is_empty() && message.parts.iter().any(|part| part.kind == "tool_result");
        if only_moved_results {
            continue;
        }
        let local = message
            .timestamp
            .as_deref()
            .and_then(|at| at.parse::<Timestamp>().ok())
            .map(|at| at.to_zoned(zone.clone()));
        if let Some(local) = &local
            && day != Some(local.date())
        {
            day = Some(local.date());
            entries.push(Entry::Day(local.date()));
        }
        entries.push(Entry::Message(Turn { message, local, parts }));
    }
    entries
}

impl Turn<'_> {
    /// The message's local time of day (`14:03:07`), when it has a time.
    pub fn clock(&self) -> Option<String> {
        self.local.as_ref().map(|local| local.strftime("%H:%M:%S").to_string())
    }

    /// The message's flags joined (`meta, api error`), when it has any.
    pub fn flags(&self) -> Option<String> {
        let names = flag_names(self.message);
        (!names.is_empty()).then(|| names.join(", "))
    }
}

/// The labels of a message's flags (`meta`, `api error`, …).
pub fn flag_names(message: &MessageView) -> Vec<&'static str> {
    [
        (message.sidechain, "sidechain"),
        (message.meta, "meta"),
        (message.injected, "injected"),
        (message.compact_summary, "compact summary"),
        (message.compact_boundary, "compaction"),
        (message.api_error, "api error"),
        (message.rewound, "rewound"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

/// A tool call's input as one compact JSON text.
pub fn tool_input_text(part: &PartView) -> String {
    part.tool_input.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// What the line for the messages before `--at` says.
pub fn earlier_text(count: usize) -> String {
    format!("{count} earlier message{} (without --at they are shown)", if count == 1 { "" } else { "s" })
}

/// What the folded line says.
pub fn folded_text(count: usize) -> String {
    format!("{count} message{} the client wrote itself (--all shows them)", if count == 1 { "" } else { "s" })
}

/// What the line in place of rewound messages says.
pub fn rewound_text(count: usize) -> String {
    format!("{count} message{} rewound in the client (--all shows them)", if count == 1 { "" } else { "s" })
}

/// Text for a document: controls, escapes and bidi overrides made visible by `shown`.
pub type Shown<'f> = &'f dyn Fn(&str) -> Cow<'_, str>;

/// The conversation as Markdown. Transcript text is untrusted: `<`, `>` and `&` become entities
/// (a Markdown viewer passes raw HTML through), code goes into fences longer than any backtick
/// run it holds, and `shown` makes controls visible.
pub fn markdown(detail: &SessionDetail, entries: &[Entry<'_>], zone_name: &str, shown: Shown<'_>) -> String {
    let summary = &detail.summary;
    let inline = |text: &str| markdown_text(&shown(text));
    let mut out = format!(
        "# {}\n\n- client: {}\n- session: `{}` (native id `{}`)\n- project: {}\n- times: {zone_name}\n\n",
        inline(summary.title.as_deref().unwrap_or("(untitled session)")),
        inline(&summary.client),
        summary.session_id,
        inline(&summary.native_id).replace('`', "'"),
        inline(summary.cwd.as_deref().or(summary.project.as_deref()).unwrap_or("-")),
    );
    for entry in entries {
        match entry {
            Entry::Day(date) => out.push_str(&format!("## {}\n\n", date.strftime("%A %Y-%m-%d"))),
            Entry::Folded(count) => out.push_str(&format!("*{}*\n\n", folded_text(*count))),
            Entry::Rewound(count) => out.push_str(&format!("*{}*\n\n", rewound_text(*count))),
            Entry::Earlier(count) => out.push_str(&format!("*{}*\n\n", earlier_text(*count))),
            Entry::Message(turn) => {
                let stamp = turn.clock().map_or_else(String::new, |clock| format!("{clock} "));
                let flags = turn.flags().map_or_else(String::new, |flags| format!(" *({flags})*"));
                out.push_str(&format!("### {stamp}{}{flags}\n\n", turn.message.role));
                if let Some(cause) = &turn.message.error_cause {
                    out.push_str(&format!("**error:** {}\n\n", inline(cause)));
                }
                for piece in &turn.parts {
                    match piece {
                        Piece::Text(text) => out.push_str(&format!("{}\n\n", inline(text))),
                        Piece::Thinking(text) => {
                            out.push_str(&format!("> *thinking:* {}\n\n", inline(text).replace('\n', "\n> ")))
                        }
                        Piece::Call { call, result } => {
                            out.push_str(&format!(
                                "**→ {}**\n\n{}",
                                inline(call.tool_name.as_deref().unwrap_or("tool")),
                                fenced("json", &shown(&tool_input_text(call)))
                            ));
                            if let Some(result) = result {
                                out.push_str(&result_markdown(result, shown));
                            }
                        }
                        Piece::Result(result) => out.push_str(&result_markdown(result, shown)),
                        Piece::Image => out.push_str("*[image]*\n\n"),
                        Piece::Other => out.push_str("*[other content]*\n\n"),
                    }
                }
            }
        }
    }
    out
}

fn result_markdown(result: &PartView, shown: Shown<'_>) -> String {
    let label = if result.is_error == Some(true) { "**← error**" } else { "**←**" };
    format!("{label}\n\n{}", fenced("", &shown(result.text.as_deref().unwrap_or(""))))
}

/// `text` with the characters Markdown or HTML would act on escaped: no raw HTML, and no link
/// (a `[..](javascript:..)` in a transcript stays text).
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            _ => out.push(c),
        }
    }
    out
}

/// A fenced code block that `text` cannot close early.
fn fenced(language: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{language}\n{text}\n{fence}\n\n")
}

/// `text` escaped for HTML text and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The style of the HTML page (no scripts, no external resources); the code colours follow.
const PAGE_STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;color:#555}dd{margin:0}\
.day{margin-top:2rem;font-weight:600;border-bottom:1px solid #ddd}.message{margin:1rem 0}\
.head{color:#666;font-size:.85rem}.role{font-weight:600;color:#222}.flags{font-style:italic}\
.plain{white-space:pre-wrap}.user .text{background:#f2f6ff;padding:.4rem .6rem;border-radius:4px}\
.thinking{color:#666;font-style:italic}.thinking div{white-space:pre-wrap}pre{white-space:pre-wrap;background:#f6f6f6;\
padding:.4rem .6rem;border-radius:4px;overflow-x:auto}.error{color:#a00}.folded{color:#888;font-style:italic}\
.diff .add{color:#11632a;background:#e6ffec}.diff .del{color:#8c1b24;background:#ffebe9}.diff .hunk,.diff .file{color:#555}\
.diff span{display:block}.marker{border-top:1px dashed #999;color:#666;margin:1.2rem 0;padding-top:.3rem}\
.usage{margin-left:.5rem}.usage .detail{display:none}.message:hover .usage .detail,.usage:focus .detail{display:inline}\
.head a.anchor{color:inherit;text-decoration:none}";

/// The conversation as one self-contained HTML page: every transcript text escaped, no links,
/// no scripts, a Content-Security-Policy that forbids loading anything.
pub fn html(
    detail: &SessionDetail,
    entries: &[Entry<'_>],
    zone_name: &str,
    shown: Shown<'_>,
    spawned: &[Spawned],
) -> String {
    let title = html_escape(&shown(detail.summary.title.as_deref().unwrap_or("(untitled session)")));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{title}</title>\n<style>{PAGE_STYLE}\n{}</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n{}</body>\n</html>\n",
        render::highlight_css(),
        html_body(detail, entries, zone_name, shown, spawned, None)
    )
}

/// A sub-agent session a call of the conversation may have spawned.
#[derive(Clone, Debug)]
pub struct Spawned {
    pub session_id: String,
    pub title: Option<String>,
    pub started_at: Option<String>,
}

impl Spawned {
    /// The sub-agents among a session's children (`sessions::children_of`).
    pub fn of(children: &[sessions::SessionSummary]) -> Vec<Spawned> {
        children
            .iter()
            .filter(|child| child.relationship.as_deref() == Some("subagent"))
            .map(|child| Spawned {
                session_id: child.session_id.clone(),
                title: child.title.clone(),
                started_at: child.started_at.clone(),
            })
            .collect()
    }
}

/// Whether a tool call starts a sub-agent, by its name or its input's shape.
fn spawns_agent(call: &PartView) -> bool {
    let name = call.tool_name.as_deref().unwrap_or_default();
    matches!(name, "Task" | "Agent" | "task" | "spawn_agent" | "delegate_to_agent")
        || call.tool_input.as_ref().is_some_and(|input| input.get("subagent_type").is_some())
}

/// Pairs each spawned session with the latest spawning call made before it started (sessions and
/// calls in time order; a session no call precedes stays unpaired).
fn pair_spawns<'s>(entries: &[Entry<'_>], spawned: &'s [Spawned]) -> HashMap<(i64, usize), &'s Spawned> {
    let calls: Vec<((i64, usize), Option<&str>)> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Message(turn) => Some(turn),
            _ => None,
        })
        .flat_map(|turn| {
            turn.parts.iter().enumerate().filter_map(move |(index, piece)| match piece {
                Piece::Call { call, .. } if spawns_agent(call) => {
                    Some(((turn.message.seq, index), turn.message.timestamp.as_deref()))
                }
                _ => None,
            })
        })
        .collect();
    let mut pairs = HashMap::new();
    let mut children: Vec<&Spawned> = spawned.iter().collect();
    children.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    for child in children {
        let started = child.started_at.as_deref().unwrap_or_default();
        let call = calls.iter().rev().find(|(key, at)| !pairs.contains_key(key) && at.is_some_and(|at| at <= started));
        if let Some((key, _)) = call {
            pairs.insert(*key, child);
        }
    }
    pairs
}

fn usage_html(usage: &MessageUsage) -> String {
    let tokens = &usage.tokens;
    let cost = usage.cost_usd.map_or_else(|| "unpriced".to_string(), |cost| format!("${cost:.4}"));
    let detail = format!(
        "{} input ({} cache read, {} cache write) · {} output{} · {cost}",
        tokens.input,
        tokens.cached_input,
        tokens.cache_creation,
        tokens.output,
        if tokens.reasoning > 0 { format!(" ({} reasoning)", tokens.reasoning) } else { String::new() },
    );
    format!(
        " <span class=\"usage\" tabindex=\"0\" title=\"{detail}\"><span class=\"sum\">{} tokens</span><span class=\"detail\"> {detail}</span></span>",
        usage.total()
    )
}

/// The conversation as HTML without the page around it (what `html` and the web page show): the
/// session's facts, then each message with an anchor (`m-<position>`) and its tokens and cost;
/// the model's text as Markdown (no raw HTML, only web links), a person's as typed; thinking and
/// tool calls folded in `<details>` (open without script), calls with their results, edits as
/// diffs; compactions and sub-agent spawns as markers (linked under `session_href` when given).
/// Every transcript text is escaped.
pub fn html_body(
    detail: &SessionDetail,
    entries: &[Entry<'_>],
    zone_name: &str,
    shown: Shown<'_>,
    spawned: &[Spawned],
    session_href: Option<&str>,
) -> String {
    let summary = &detail.summary;
    let text = |value: &str| html_escape(&shown(value));
    let owned = |value: &str| shown(value).into_owned();
    let pairs = pair_spawns(entries, spawned);
    let mut out = format!(
        "<dl><dt>client</dt><dd>{}</dd><dt>session</dt><dd>{}</dd><dt>native id</dt><dd>{}</dd>\
         <dt>project</dt><dd>{}</dd><dt>times</dt><dd>{}</dd></dl>\n",
        text(&summary.client),
        html_escape(&summary.session_id),
        text(&summary.native_id),
        text(summary.cwd.as_deref().or(summary.project.as_deref()).unwrap_or("-")),
        text(zone_name),
    );
    for entry in entries {
        match entry {
            Entry::Day(date) => out.push_str(&format!("<div class=\"day\">{}</div>\n", date.strftime("%A %Y-%m-%d"))),
            Entry::Folded(count) => {
                out.push_str(&format!("<p class=\"folded\">{}</p>\n", html_escape(&folded_text(*count))))
            }
            Entry::Rewound(count) => {
                out.push_str(&format!("<p class=\"folded\">{}</p>\n", html_escape(&rewound_text(*count))))
            }
            Entry::Earlier(count) => {
                out.push_str(&format!("<p class=\"folded\">{}</p>\n", html_escape(&earlier_text(*count))))
            }
            Entry::Message(turn) => {
                let message = turn.message;
                if message.compact_boundary {
                    out.push_str("<div class=\"marker compaction\" role=\"separator\">conversation compacted here: the model saw only a summary of what came before</div>\n");
                }
                let role = html_escape(&message.role);
                let stamp = turn.clock().unwrap_or_default();
                let flags =
                    turn.flags().map_or_else(String::new, |flags| format!(" <span class=\"flags\">({flags})</span>"));
                let usage = message.usage.as_ref().map(usage_html).unwrap_or_default();
                // Shown with `--all`: marked, so a stylesheet can set them apart.
                let marks = match (message.rewound, is_client_written(message)) {
                    (true, _) => " rewound",
                    (false, true) => " client",
                    (false, false) => "",
                };
                out.push_str(&format!(
                    "<div class=\"message {role}{marks}\" id=\"m-{seq}\">\n<div class=\"head\"><a class=\"anchor\" href=\"#m-{seq}\">{stamp}</a> <span class=\"role\">{role}</span>{flags}{usage}</div>\n",
                    seq = message.seq
                ));
                if let Some(cause) = &message.error_cause {
                    out.push_str(&format!("<p class=\"error\">error: {}</p>\n", text(cause)));
                }
                let prose = message.role == "assistant" && !message.compact_summary;
                for (index, piece) in turn.parts.iter().enumerate() {
                    match piece {
                        Piece::Text(value) if prose => out.push_str(&format!(
                            "<div class=\"text markdown\">{}</div>\n",
                            render::markdown_html(&shown(value))
                        )),
                        Piece::Text(value) => {
                            out.push_str(&format!("<div class=\"text plain\">{}</div>\n", text(value)))
                        }
                        Piece::Thinking(value) => out.push_str(&format!(
                            "<details class=\"thinking\"><summary>thinking</summary><div>{}</div></details>\n",
                            text(value)
                        )),
                        Piece::Call { call, result } => {
                            let failed = result.is_some_and(|result| result.is_error == Some(true));
                            let brief = render::tool_input_summary(call.tool_input.as_ref())
                                .map(|brief| format!(" <code>{}</code>", text(&brief)))
                                .unwrap_or_default();
                            out.push_str(&format!(
                                "<details class=\"call\"><summary>→ <b>{}</b>{brief}{}</summary>\n{}{}</details>\n",
                                text(call.tool_name.as_deref().unwrap_or("tool")),
                                if failed { " <span class=\"error\">failed</span>" } else { "" },
                                render::tool_input_html(call.tool_input.as_ref(), &owned),
                                result.map(|result| result_html(result, shown)).unwrap_or_default()
                            ));
                            if let Some(child) = pairs.get(&(message.seq, index)) {
                                let label =
                                    text(child.title.as_deref().unwrap_or(sessions::short_id(&child.session_id)));
                                out.push_str(&match session_href {
                                    Some(base) => format!(
                                        "<div class=\"marker spawn\">sub-agent: <a href=\"{base}{}\">{label}</a></div>\n",
                                        html_escape(&child.session_id)
                                    ),
                                    None if child.title.is_some() => format!(
                                        "<div class=\"marker spawn\">sub-agent: {label} ({})</div>\n",
                                        html_escape(sessions::short_id(&child.session_id))
                                    ),
                                    None => format!("<div class=\"marker spawn\">sub-agent: {label}</div>\n"),
                                });
                            }
                        }
                        Piece::Result(result) => out.push_str(&result_html(result, shown)),
                        Piece::Image => out.push_str("<p class=\"folded\">[image]</p>\n"),
                        Piece::Other => out.push_str("<p class=\"folded\">[other content]</p>\n"),
                    }
                }
                out.push_str("</div>\n");
            }
        }
    }
    out
}

fn result_html(result: &PartView, shown: Shown<'_>) -> String {
    let class = if result.is_error == Some(true) { "result error" } else { "result" };
    let label = if result.is_error == Some(true) { "← error" } else { "←" };
    let text = shown(result.text.as_deref().unwrap_or(""));
    // A command's output that is a diff (`git diff`) reads as one.
    let body =
        if render::is_patch(&text) { render::patch_html(&text) } else { format!("<pre>{}</pre>", html_escape(&text)) };
    format!("<div class=\"{class}\">{label}{body}</div>\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::sessions::{MessageUsage, SessionSummary, Tokens};

    fn part(kind: &str, text: &str, call_id: Option<&str>) -> PartView {
        PartView {
            kind: kind.into(),
            text: Some(text.into()),
            tool_name: (kind == "tool_call").then(|| "Bash".into()),
            tool_call_id: call_id.map(Into::into),
            tool_input: (kind == "tool_call").then(|| serde_json::json!({"command": text})),
            is_error: None,
        }
    }

    fn message(role: &str, at: &str, parts: Vec<PartView>, injected: bool) -> MessageView {
        MessageView {
            seq: 0,
            role: role.into(),
            timestamp: Some(at.into()),
            model: None,
            sidechain: false,
            meta: false,
            injected,
            compact_summary: false,
            compact_boundary: false,
            api_error: false,
            rewound: false,
            error_cause: None,
            error_frame: None,
            usage: None,
            parts,
        }
    }

    fn detail(messages: Vec<MessageView>) -> SessionDetail {
        SessionDetail {
            summary: SessionSummary {
                session_id: "ab".repeat(32),
                client: "claude".into(),
                native_id: "n-1".into(),
                title: Some("<script>alert(1)</script>".into()),
                cwd: Some("/w".into()),
                project: None,
                started_at: None,
                ended_at: None,
                duration_seconds: None,
                messages: 0,
                tool_calls: 0,
                tokens: Tokens::default(),
                models: Vec::new(),
                parent_session_id: None,
                relationship: None,
            },
            git_branch: None,
            git_commit: None,
            client_version: None,
            entrypoint: None,
            permission_mode: None,
            sandbox_mode: None,
            approval_mode: None,
            metadata: serde_json::Value::Null,
            messages,
        }
    }

    /// Entries as one short line each.
    fn outline(entries: &[Entry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|entry| match entry {
                Entry::Day(date) => format!("day {date}"),
                Entry::Folded(count) => format!("folded {count}"),
                Entry::Rewound(count) => format!("rewound {count}"),
                Entry::Earlier(count) => format!("earlier {count}"),
                Entry::Message(turn) => {
                    let parts: Vec<String> = turn
                        .parts
                        .iter()
                        .map(|piece| match piece {
                            Piece::Text(text) => format!("text {text}"),
                            Piece::Call { call, result } => format!(
                                "call {} -> {}",
                                call.tool_call_id.as_deref().unwrap_or("?"),
                                result.and_then(|result| result.text.as_deref()).unwrap_or("none")
                            ),
                            Piece::Result(result) => format!("result {}", result.text.as_deref().unwrap_or("")),
                            Piece::Thinking(_) => "thinking".into(),
                            Piece::Image => "image".into(),
                            Piece::Other => "other".into(),
                        })
                        .collect();
                    format!("{}: {}", turn.message.role, parts.join("; "))
                }
            })
            .collect()
    }

    fn session() -> SessionDetail {
        let mut detail = detail(vec![
            message("user", "2026-03-07T23:59:00Z", vec![part("text", "<local-command-stdout>x", None)], true),
            message("user", "2026-03-07T23:59:30Z", vec![part("text", "run the tests", None)], false),
            message("assistant", "2026-03-07T23:59:40Z", vec![part("tool_call", "make test", Some("t1"))], false),
            message("user", "2026-03-08T00:00:10Z", vec![part("tool_result", "ok", Some("t1"))], false),
            message("user", "2026-03-08T00:00:20Z", vec![part("tool_result", "orphan", Some("t9"))], false),
            message("assistant", "2026-03-08T00:00:30Z", vec![part("text", "All green.", None)], false),
        ]);
        for (seq, message) in detail.messages.iter_mut().enumerate() {
            message.seq = seq as i64;
        }
        detail
    }

    #[test]
    fn calls_hold_their_results_and_client_lines_fold() {
        let detail = session();
        let entries = arrange(&detail, &TimeZone::UTC, false, None);
        assert_eq!(
            outline(&entries),
            [
                "folded 1",
                "day 2026-03-07",
                "user: text run the tests",
                "assistant: call t1 -> ok",
                "day 2026-03-08",
                "user: result orphan",
                "assistant: text All green.",
            ]
        );
        let all = arrange(&detail, &TimeZone::UTC, true, None);
        assert_eq!(outline(&all)[..2], ["day 2026-03-07", "user: text <local-command-stdout>x"]);
        let from = arrange(&detail, &TimeZone::UTC, false, Some(4));
        assert_eq!(
            outline(&from),
            ["earlier 4", "day 2026-03-08", "user: result orphan", "assistant: text All green."]
        );
    }

    #[test]
    fn rewound_messages_are_left_out_unless_all_are_wanted() {
        let mut detail = session();
        detail.messages[1].rewound = true;
        detail.messages[2].rewound = true;
        let entries = arrange(&detail, &TimeZone::UTC, false, None);
        assert_eq!(outline(&entries)[..3], ["folded 1", "rewound 2", "day 2026-03-08"]);
        let all = arrange(&detail, &TimeZone::UTC, true, None);
        assert_eq!(outline(&all).len(), 7, "{:?}", outline(&all));
        assert!(matches!(&all[2], Entry::Message(turn) if turn.flags().as_deref() == Some("rewound")));
    }

    #[test]
    fn html_escapes_every_transcript_text_and_loads_nothing() {
        let mut detail = session();
        detail.messages[1].parts[0].text =
            Some("<img src=x onerror=alert(1)> [a](javascript:alert(1)) \u{1b}[31m".into());
        let entries = arrange(&detail, &TimeZone::UTC, false, None);
        fn shown(text: &str) -> Cow<'_, str> {
            Cow::Owned(text.replace('\u{1b}', "\\e"))
        }
        let page = html(&detail, &entries, "UTC", &shown, &[]);
        assert!(!page.contains("<script>") && !page.contains("<img"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"), "{page}");
        let targets: Vec<&str> = page.split("href=\"").skip(1).collect();
        assert!(targets.iter().all(|target| target.starts_with("#m-")), "only anchors link: {page}");
        assert!(page.contains("default-src 'none'") && !page.contains('\u{1b}'), "{page}");
        let text = markdown(&detail, &entries, "UTC", &shown);
        assert!(text.contains("# &lt;script&gt;alert(1)&lt;/script&gt;"), "{text}");
        assert!(!text.contains("<img") && text.contains("\\[a\\](javascript:"), "a link: {text}");
    }

    #[test]
    fn spawns_link_their_sub_agents_and_markers_show_compactions_and_usage() {
        let mut detail = session();
        let mut task = part("tool_call", "look around", Some("t5"));
        task.tool_name = Some("Task".into());
        task.tool_input = Some(serde_json::json!({"subagent_type": "explore", "prompt": "look around"}));
        let mut spawning = message("assistant", "2026-03-08T00:00:40Z", vec![task], false);
        spawning.seq = 6;
        spawning.usage = Some(MessageUsage {
            tokens: Tokens { input: 1200, cached_input: 1000, cache_creation: 100, output: 30, reasoning: 0 },
            cost_usd: Some(0.0123),
        });
        detail.messages.push(spawning);
        detail.messages[5].compact_boundary = true;
        detail.messages[5].parts[0].text = Some("**Done** with `make`, see [x](javascript:alert(1))".into());
        let entries = arrange(&detail, &TimeZone::UTC, false, None);
        let child = |id: char, at: &str| Spawned {
            session_id: id.to_string().repeat(64),
            title: Some("<b>explore</b>".into()),
            started_at: Some(at.into()),
        };
        // The one that started after the call is its; the one that started before has no call.
        let spawned = [child('c', "2026-03-08T00:00:41Z"), child('d', "2026-03-07T00:00:00Z")];
        fn plain(text: &str) -> Cow<'_, str> {
            Cow::Borrowed(text)
        }
        let linked = html_body(&detail, &entries, "UTC", &plain, &spawned, Some("/session/"));
        let marker = format!("<a href=\"/session/{}\">&lt;b&gt;explore&lt;/b&gt;</a>", "c".repeat(64));
        assert!(linked.contains(&marker), "{linked}");
        assert!(!linked.contains(&"d".repeat(64)), "a session no call precedes is not a spawn: {linked}");
        let unlinked = html_body(&detail, &entries, "UTC", &plain, &spawned, None);
        assert!(unlinked.contains("sub-agent: &lt;b&gt;explore&lt;/b&gt; (cccccccccccc)"), "{unlinked}");
        assert!(linked.contains("class=\"marker compaction\""), "{linked}");
        assert!(
            linked.contains("<strong>Done</strong> with <code>make</code>, see x (javascript:alert(1))"),
            "{linked}"
        );
        assert!(linked.contains("<span class=\"sum\">1230 tokens</span>"), "{linked}");
        assert!(linked.contains("1200 input (1000 cache read, 100 cache write) · 30 output · $0.0123"), "{linked}");
        assert!(linked.contains("<div class=\"text plain\">run the tests</div>"), "a person's text as typed");
        detail.messages[3].parts[0].text =
            Some("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-<old>\n+new".into());
        let entries = arrange(&detail, &TimeZone::UTC, false, None);
        let page = html_body(&detail, &entries, "UTC", &plain, &[], None);
        assert!(page.contains("<span class=\"del\">-&lt;old&gt;</span><span class=\"add\">+new</span>"), "{page}");
    }

    #[test]
    fn a_fence_outlasts_the_backticks_it_holds() {
        assert_eq!(fenced("", "a ```` b"), "`````\na ```` b\n`````\n\n");
        assert_eq!(fenced("json", "{}"), "```json\n{}\n```\n\n");
    }
}
