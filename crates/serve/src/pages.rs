//! The pages, rendered on the server from the store's views: overview (cost and activity per
//! period as a chart, by model, client and project), sessions, one session's conversation (the
//! renderer `sessions show --format html` uses) and search. Links and forms: every page reads
//! without script (the one embedded script adds the copy button).

use std::collections::BTreeMap;

use hindcast_core::time_window::{TimeWindow, WindowEdge, parse_time_spec_in};
use hindcast_store::views::report::{self, Period, ReportFilter, Zone};
use hindcast_store::views::search::{self, RoleFilter, SearchFilter};
use hindcast_store::views::sessions::{self, SessionFilter, SessionOrder};
use hindcast_store::views::{TextWindow, ViewError};
use hindcast_store::views::{conversation, render};
use jiff::Timestamp;

use crate::ServeOptions;
use crate::chart::{self, Bar};

/// The stylesheet, embedded: nothing is fetched from elsewhere.
const STYLE: &str = include_str!("style.css");

/// The one script: the copy button. Every page reads the same without it.
const SCRIPT: &str = include_str!("app.js");

/// The page's icon (a browser asks for one; answering keeps its console clean).
const ICON: &str = include_str!("icon.svg");

/// Sessions per page of the list.
const PAGE_SIZE: u64 = 50;

/// Messages per page of a session.
const MESSAGES_PER_PAGE: i64 = 250;

/// Escapes text for HTML (element content and attribute values alike).
pub fn escape(text: &str) -> String {
    conversation::html_escape(text)
}

/// A query string's parameters.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[at], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                at += 1;
            }
            (byte, None) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Params {
    pub fn parse(query: &str) -> Self {
        Self(
            query
                .split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(key), percent_decode(value))
                })
                .collect(),
        )
    }

    /// A parameter's value, when it is not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|value| !value.is_empty())
    }

    /// The query string without `key`.
    pub fn without(&self, key: &str) -> String {
        self.with(key, None)
    }

    /// The query string with `key` set to `value` (or removed).
    fn with(&self, key: &str, value: Option<&str>) -> String {
        let mut pairs: BTreeMap<&str, &str> = self
            .0
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        match value {
            Some(value) => pairs.insert(key, value),
            None => pairs.remove(key),
        };
        pairs
            .iter()
            .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// What a route answers.
pub enum Page {
    Html(String),
    /// An embedded file and its content type.
    Asset(&'static str, String),
    NotFound(String),
}

/// A request's view of the store and the options.
pub struct Context<'a> {
    pub conn: &'a rusqlite::Connection,
    pub options: &'a ServeOptions,
}

/// The page around every view: title, navigation, stylesheet.
fn layout(title: &str, current: &str, body: &str) -> String {
    let nav: String = [("/", "Overview"), ("/sessions", "Sessions"), ("/search", "Search")]
        .iter()
        .map(|(href, name)| {
            let here = if *href == current { " aria-current=\"page\"" } else { "" };
            format!("<a href=\"{href}\"{here}>{name}</a>")
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{} · hindcast</title>\n\
         <link rel=\"stylesheet\" href=\"/static/style.css\">\n<link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">\n\
         <script src=\"/static/app.js\" defer></script>\n</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header><b>hindcast</b> <nav>{nav}</nav></header>\n\
         <main id=\"main\">\n<h1>{}</h1>\n{body}</main>\n</body>\n</html>\n",
        escape(title),
        escape(title)
    )
}

/// A page saying what went wrong.
pub fn error_page(message: &str) -> String {
    layout("Something went wrong", "", &format!("<p class=\"error\">{}</p>", escape(message)))
}

fn money(cost: Option<f64>) -> String {
    cost.map_or_else(|| "unpriced".to_string(), |cost| format!("${cost:.2}"))
}

fn tokens(count: i64) -> String {
    match count {
        count if count >= 1_000_000_000 => format!("{:.1}B", count as f64 / 1e9),
        count if count >= 1_000_000 => format!("{:.1}M", count as f64 / 1e6),
        count if count >= 1_000 => format!("{:.1}K", count as f64 / 1e3),
        count => count.to_string(),
    }
}

/// `since`/`until` (`30d`, `2026-01-01`; `all` for no bound) as a window in `zone`.
fn window(params: &Params, zone: &Zone, default_since: Option<&str>) -> Result<TimeWindow, String> {
    let now = Timestamp::now();
    let bound = |key: &str, default: Option<&str>, edge: WindowEdge| match params.get(key).or(default) {
        None | Some("all") => Ok(None),
        Some(spec) => {
            parse_time_spec_in(spec, edge, now, &zone.tz).map(Some).map_err(|error| format!("{key}: {error}"))
        }
    };
    let since = bound("since", default_since, WindowEdge::Since)?;
    let until = bound("until", None, WindowEdge::Until)?;
    TimeWindow::new(since, until).map_err(|error| error.to_string())
}

impl Context<'_> {
    pub fn route(&self, path: &str, params: &Params) -> Result<Page, ViewError> {
        match path {
            "/" => self.overview(params).map(Page::Html),
            "/sessions" => self.sessions(params).map(Page::Html),
            "/search" => self.search(params).map(Page::Html),
            "/static/style.css" => {
                Ok(Page::Asset("text/css; charset=utf-8", format!("{STYLE}\n{}", render::highlight_css())))
            }
            "/static/app.js" => Ok(Page::Asset("text/javascript; charset=utf-8", SCRIPT.to_string())),
            "/static/icon.svg" | "/favicon.ico" => Ok(Page::Asset("image/svg+xml", ICON.to_string())),
            _ => match path.strip_prefix("/session/") {
                Some(id) => self.session(id, params),
                None => Ok(Page::NotFound(layout("Not found", "", "<p>No such page.</p>"))),
            },
        }
    }

    /// The zone `tz` names, else the server's; a name that is no zone is an error to show.
    fn zone(&self, params: &Params) -> Result<Zone, String> {
        match params.get("tz") {
            Some(name) => Zone::named(name).map_err(|error| format!("tz: {error}")),
            None => Ok(self.options.zone.clone()),
        }
    }

    fn text(&self, value: &str) -> String {
        escape(&(self.options.shown)(value))
    }

    fn overview(&self, params: &Params) -> Result<String, ViewError> {
        let zone = match self.zone(params) {
            Ok(zone) => zone,
            Err(message) => return Ok(error_page(&message)),
        };
        let (period, period_name) = match params.get("period") {
            Some("week") => (Period::Week(jiff::civil::Weekday::Monday), "week"),
            Some("month") => (Period::Month(1), "month"),
            _ => (Period::Day, "day"),
        };
        let window = match window(params, &zone, Some("30d")) {
            Ok(window) => window,
            Err(message) => return Ok(error_page(&message)),
        };
        let filter = ReportFilter {
            zone: zone.clone(),
            since: window.since,
            until: window.until,
            client: params.get("client").map(str::to_string),
            by_model: true,
        };
        let report = report::periods(self.conn, &filter, period)?;
        let mut body = String::new();
        body.push_str(&format!(
            "<form method=\"get\" action=\"/\" class=\"filters\">\
             <label>Period <select name=\"period\">{}</select></label> \
             <label>Since <input name=\"since\" value=\"{}\" size=\"10\"></label> \
             <label>Time zone <input name=\"tz\" value=\"{}\" size=\"16\"></label> \
             <label>Client <input name=\"client\" value=\"{}\" size=\"8\"></label> <button>Show</button></form>",
            ["day", "week", "month"]
                .iter()
                .map(|name| format!("<option{}>{name}</option>", if *name == period_name { " selected" } else { "" }))
                .collect::<String>(),
            escape(params.get("since").unwrap_or("30d")),
            escape(&zone.name),
            escape(params.get("client").unwrap_or("")),
        ));
        let bars: Vec<Bar> = report
            .rows
            .iter()
            .map(|row| Bar {
                label: row.period.clone(),
                value: row.usage.cost_usd.unwrap_or(0.0),
                shown: money(row.usage.cost_usd),
            })
            .collect();
        body.push_str(&format!("<h2>Cost per {period_name} ({})</h2>\n", escape(&zone.name)));
        body.push_str(&chart::bars(&format!("cost per {period_name}"), &bars));
        let token_bars: Vec<Bar> = report
            .rows
            .iter()
            .map(|row| Bar { label: row.period.clone(), value: row.usage.total as f64, shown: tokens(row.usage.total) })
            .collect();
        body.push_str(&format!("<h2>Tokens per {period_name}</h2>\n"));
        body.push_str(&chart::bars(&format!("tokens per {period_name}"), &token_bars));
        let session_bars: Vec<Bar> = report
            .rows
            .iter()
            .map(|row| Bar {
                label: row.period.clone(),
                value: row.activity.sessions as f64,
                shown: row.activity.sessions.to_string(),
            })
            .collect();
        body.push_str(&format!("<h2>Sessions per {period_name}</h2>\n"));
        body.push_str(&chart::bars(&format!("sessions per {period_name}"), &session_bars));
        body.push_str(&format!(
            "<p class=\"total\">Total: {} · {} tokens · {} sessions · {} prompts</p>\n",
            money(report.total.usage.cost_usd),
            tokens(report.total.usage.total),
            report.total.activity.sessions,
            report.total.activity.user_prompts
        ));
        // By model and by client, summed over the periods.
        let mut by_model: BTreeMap<(String, String), (i64, f64, bool)> = BTreeMap::new();
        for model in report.rows.iter().flat_map(|row| &row.models) {
            let entry = by_model.entry((model.client.clone(), model.model.clone())).or_default();
            entry.0 += model.usage.total;
            entry.1 += model.usage.cost_usd.unwrap_or(0.0);
            entry.2 |= model.usage.unpriced_responses > 0;
        }
        let mut by_client: BTreeMap<String, (i64, f64)> = BTreeMap::new();
        let mut rows = String::new();
        for ((client, model), (total, cost, unpriced)) in &by_model {
            let client_entry = by_client.entry(client.clone()).or_default();
            client_entry.0 += total;
            client_entry.1 += cost;
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">${cost:.2}{}</td></tr>",
                self.text(client),
                self.text(model),
                tokens(*total),
                if *unpriced { " + unpriced" } else { "" }
            ));
        }
        body.push_str(&format!(
            "<h2>By model</h2>\n<table><thead><tr><th>client</th><th>model</th><th>tokens</th><th>cost</th></tr></thead><tbody>{rows}</tbody></table>\n"
        ));
        let rows: String = by_client
            .iter()
            .map(|(client, (total, cost))| {
                format!(
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">${cost:.2}</td></tr>",
                    self.text(client),
                    tokens(*total)
                )
            })
            .collect();
        body.push_str(&format!(
            "<h2>By client</h2>\n<table><thead><tr><th>client</th><th>tokens</th><th>cost</th></tr></thead><tbody>{rows}</tbody></table>\n"
        ));
        let projects = report::projects(self.conn, &filter)?;
        let rows: String = projects
            .projects
            .iter()
            .take(20)
            .map(|row| {
                format!(
                    "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    self.text(&row.project),
                    row.sessions,
                    tokens(row.usage.total),
                    money(row.usage.cost_usd)
                )
            })
            .collect();
        body.push_str(&format!(
            "<h2>By project</h2>\n<table><thead><tr><th>project</th><th>sessions</th><th>tokens</th><th>cost</th></tr></thead><tbody>{rows}</tbody></table>\n"
        ));
        let blocks = report::blocks(self.conn, &filter, Timestamp::now())?;
        for active in blocks.blocks.iter().filter(|block| block.active) {
            body.push_str(&format!(
                "<h2>Active 5-hour block ({})</h2>\n<p>{} to {}: {} · {} tokens</p>\n",
                self.text(&active.client),
                self.text(&active.start),
                self.text(&active.end),
                money(active.usage.cost_usd),
                tokens(active.usage.total)
            ));
        }
        let limits = report::rate_limits(self.conn, &filter, report::LimitHistory::Newest(20))?;
        let history = limits.history.unwrap_or_default();
        if !history.is_empty() {
            let rows: String = history
                .iter()
                .rev()
                .take(20)
                .map(|limit| {
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.0}%</td></tr>",
                        self.text(&limit.observed_at),
                        self.text(&limit.client),
                        self.text(&limit.window),
                        limit.used_percent
                    )
                })
                .collect();
            body.push_str(&format!(
                "<h2>Rate limits</h2>\n<table><thead><tr><th>seen</th><th>client</th><th>window</th><th>used</th></tr></thead><tbody>{rows}</tbody></table>\n"
            ));
        }
        Ok(layout("Overview", "/", &body))
    }

    fn sessions(&self, params: &Params) -> Result<String, ViewError> {
        let page: u64 = params.get("page").and_then(|page| page.parse().ok()).unwrap_or(1).max(1);
        let zone = match self.zone(params) {
            Ok(zone) => zone,
            Err(message) => return Ok(error_page(&message)),
        };
        let window = match window(params, &zone, None) {
            Ok(window) => window,
            Err(message) => return Ok(error_page(&message)),
        };
        let mut filter = SessionFilter {
            client: params.get("client").map(str::to_string),
            project: params.get("project").map(str::to_string),
            text: params.get("q").map(str::to_string),
            window: TextWindow::from_window(&window),
            order: match params.get("sort") {
                Some("oldest") => SessionOrder::Oldest,
                Some("tokens") => SessionOrder::Tokens,
                Some("messages") => SessionOrder::Messages,
                _ => SessionOrder::Newest,
            },
            limit: None,
            offset: 0,
        };
        // One page read from the store, in the order asked for.
        let total = sessions::count(self.conn, &filter)?;
        filter.limit = Some(PAGE_SIZE);
        filter.offset = (page - 1) * PAGE_SIZE;
        let shown = sessions::list(self.conn, &filter)?;
        let mut body = format!(
            "<form method=\"get\" action=\"/sessions\" class=\"filters\">\
             <label>Text <input name=\"q\" value=\"{}\"></label> <label>Client <input name=\"client\" value=\"{}\" size=\"8\"></label> \
             <label>Project <input name=\"project\" value=\"{}\"></label> <label>Since <input name=\"since\" value=\"{}\" size=\"10\"></label> \
             <label>Until <input name=\"until\" value=\"{}\" size=\"10\"></label> \
             <label>Sort <select name=\"sort\">{}</select></label> <button>Show</button></form>\n<p>{}</p>\n",
            escape(params.get("q").unwrap_or("")),
            escape(params.get("client").unwrap_or("")),
            escape(params.get("project").unwrap_or("")),
            escape(params.get("since").unwrap_or("")),
            escape(params.get("until").unwrap_or("")),
            ["newest", "oldest", "tokens", "messages"]
                .iter()
                .map(|name| format!(
                    "<option{}>{name}</option>",
                    if params.get("sort") == Some(*name) { " selected" } else { "" }
                ))
                .collect::<String>(),
            count_of(total, "session")
        );
        // Column heads sort (a link each, so no script is needed); the current order is marked.
        let current = params.get("sort").unwrap_or("newest");
        let head = |label: &str, sort: &str, reverse: Option<&str>| {
            // (where the link goes, the arrow and ARIA order shown)
            let (target, order) = match reverse {
                Some(reverse) if current == sort => (reverse, Some(("↓", "descending"))),
                Some(reverse) if current == reverse => (sort, Some(("↑", "ascending"))),
                _ if current == sort => (sort, Some(("↓", "descending"))),
                _ => (sort, None),
            };
            let mut query = Params(params.0.clone());
            query.0.remove("page");
            let href = escape(&query.with("sort", Some(target)));
            match order {
                Some((arrow, aria)) => {
                    format!("<th aria-sort=\"{aria}\"><a href=\"/sessions?{href}\">{label} {arrow}</a></th>")
                }
                None => format!("<th><a href=\"/sessions?{href}\">{label}</a></th>"),
            }
        };
        body.push_str(&format!(
            "<table class=\"sessions\"><thead><tr>{}<th>client</th><th>title</th><th>project</th>{}{}</tr></thead><tbody>\n",
            head("started", "newest", Some("oldest")),
            head("messages", "messages", None),
            head("tokens", "tokens", None)
        ));
        for session in &shown {
            let started = session.started_at.as_deref().map(|at| local_time(at, &zone)).unwrap_or_default();
            let marker = if session.parent_session_id.is_some() { " <span class=\"tag\">sub-agent</span>" } else { "" };
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td><a href=\"/session/{}\">{}</a>{marker}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                escape(&started),
                self.text(&session.client),
                escape(&session.session_id),
                self.text(session.title.as_deref().unwrap_or("(untitled)")),
                self.text(session.project.as_deref().unwrap_or("")),
                session.messages,
                tokens(session.tokens.input + session.tokens.output),
            ));
        }
        body.push_str("</tbody></table>\n");
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        if pages > 1 {
            body.push_str("<nav class=\"pages\">");
            if page > 1 {
                body.push_str(&format!(
                    "<a href=\"/sessions?{}\">← newer</a> ",
                    escape(&params.with("page", Some(&(page - 1).to_string())))
                ));
            }
            body.push_str(&format!("page {page} of {pages}"));
            if page < pages {
                body.push_str(&format!(
                    " <a href=\"/sessions?{}\">older →</a>",
                    escape(&params.with("page", Some(&(page + 1).to_string())))
                ));
            }
            body.push_str("</nav>\n");
        }
        Ok(layout("Sessions", "/sessions", &body))
    }

    fn session(&self, id: &str, params: &Params) -> Result<Page, ViewError> {
        let id = match sessions::resolve(self.conn, id) {
            Ok(id) => id,
            Err(ViewError::NotFound(_)) => {
                return Ok(Page::NotFound(layout("Not found", "", "<p>No such session.</p>")));
            }
            Err(error) => return Err(error),
        };
        // A long session is read and shown a page of messages at a time; `at` picks the page
        // holding that message. Every message of the page is shown, so each search hit's anchor
        // is there; what the client wrote itself or rewound is marked (and dimmed).
        let at: i64 = params.get("at").and_then(|at| at.parse().ok()).unwrap_or(0).max(0);
        let from = at - at % MESSAGES_PER_PAGE;
        let detail = sessions::show_messages(self.conn, &id, Some((from, from + MESSAGES_PER_PAGE)))?;
        let zone = &self.options.zone;
        let entries = conversation::arrange(&detail, &zone.tz, true, None);
        let later = (detail.summary.messages - (from + MESSAGES_PER_PAGE)).max(0);
        let shown = self.options.shown;
        let summary = &detail.summary;
        let mut body = String::new();
        // The lineage, root first: each ancestor one click away.
        let mut ancestors = Vec::new();
        let mut parent = summary.parent_session_id.clone();
        while let Some(parent_id) = parent.take() {
            if ancestors.len() >= 20
                || ancestors.iter().any(|known: &sessions::SessionSummary| known.session_id == parent_id)
            {
                break;
            }
            if let Some(found) = sessions::summaries_of(self.conn, std::slice::from_ref(&parent_id))?.pop() {
                parent = found.parent_session_id.clone();
                ancestors.push(found);
            }
        }
        if !ancestors.is_empty() {
            body.push_str("<nav class=\"lineage\" aria-label=\"lineage\">");
            for ancestor in ancestors.iter().rev() {
                body.push_str(&format!(
                    "<a href=\"/session/{}\">{}</a> › ",
                    escape(&ancestor.session_id),
                    self.text(ancestor.title.as_deref().unwrap_or(sessions::short_id(&ancestor.session_id)))
                ));
            }
            body.push_str(&format!(
                "<span>{}</span> <span class=\"tag\">{}</span></nav>\n",
                self.text(summary.title.as_deref().unwrap_or(sessions::short_id(&summary.session_id))),
                self.text(summary.relationship.as_deref().unwrap_or("child"))
            ));
        }
        let children = sessions::children_of(self.conn, &id)?;
        if !children.is_empty() {
            body.push_str("<p class=\"lineage\">Spawned: ");
            for child in &children {
                body.push_str(&format!(
                    "<a href=\"/session/{}\">{}</a> <span class=\"tag\">{}</span> ",
                    escape(&child.session_id),
                    self.text(child.title.as_deref().unwrap_or(sessions::short_id(&child.session_id))),
                    self.text(child.relationship.as_deref().unwrap_or("child"))
                ));
            }
            body.push_str("</p>\n");
        }
        if let Some(words) = (self.options.resume_command)(&summary.client, &summary.native_id) {
            let command = words.join(" ");
            let command = match &summary.cwd {
                Some(cwd) => format!("cd {cwd} && {command}"),
                None => command,
            };
            // The button needs script (the clipboard); without it the command is there to select.
            body.push_str(&format!(
                "<p class=\"resume\">Resume: <code>{shown_command}</code> \
                 <button type=\"button\" class=\"copy\" data-copy=\"{shown_command}\" hidden>Copy resume command</button></p>\n",
                shown_command = self.text(&command)
            ));
        }
        let spawned = conversation::Spawned::of(&children);
        body.push_str(&conversation::html_body(&detail, &entries, &zone.name, &shown, &spawned, Some("/session/")));
        if from > 0 || later > 0 {
            body.push_str("<nav class=\"pages\">");
            if from > 0 {
                body.push_str(&format!(
                    "<a href=\"/session/{}?at={}\">← earlier messages</a> ",
                    escape(&id),
                    from - MESSAGES_PER_PAGE
                ));
            }
            if later > 0 {
                body.push_str(&format!(
                    "<a href=\"/session/{}?at={}\">{later} later messages →</a>",
                    escape(&id),
                    from + MESSAGES_PER_PAGE
                ));
            }
            body.push_str("</nav>\n");
        }
        let title = summary.title.clone().unwrap_or_else(|| "(untitled session)".into());
        Ok(Page::Html(layout(&(self.options.shown)(&title), "/sessions", &body)))
    }

    fn search(&self, params: &Params) -> Result<String, ViewError> {
        let query = params.get("q").unwrap_or("");
        let role = params.get("role");
        let mut body = format!(
            "<form method=\"get\" action=\"/search\" class=\"filters\" role=\"search\">\
             <label>Find <input name=\"q\" value=\"{}\" autofocus></label> \
             <label>Client <input name=\"client\" value=\"{}\" size=\"8\"></label> \
             <label>Project <input name=\"project\" value=\"{}\"></label> \
             <label>Since <input name=\"since\" value=\"{}\" size=\"10\"></label> \
             <label>Until <input name=\"until\" value=\"{}\" size=\"10\"></label> \
             <label>In <select name=\"role\">{}</select></label> <button>Search</button></form>\n",
            escape(query),
            escape(params.get("client").unwrap_or("")),
            escape(params.get("project").unwrap_or("")),
            escape(params.get("since").unwrap_or("")),
            escape(params.get("until").unwrap_or("")),
            [("", "everything"), ("user", "prompts"), ("assistant", "the model's text"), ("tool", "tool calls")]
                .iter()
                .map(|(value, label)| format!(
                    "<option value=\"{value}\"{}>{label}</option>",
                    if role.unwrap_or("") == *value { " selected" } else { "" }
                ))
                .collect::<String>(),
        );
        if query.is_empty() {
            return Ok(layout("Search", "/search", &body));
        }
        let terms = match search::parse(query) {
            Ok(terms) => terms,
            Err(error) => {
                body.push_str(&format!("<p class=\"error\">{}</p>", escape(&error.to_string())));
                return Ok(layout("Search", "/search", &body));
            }
        };
        let zoned = self.zone(params).and_then(|zone| window(params, &zone, None).map(|window| (zone, window)));
        let (zone, window) = match zoned {
            Ok(zoned) => zoned,
            Err(message) => {
                body.push_str(&format!("<p class=\"error\">{}</p>", escape(&message)));
                return Ok(layout("Search", "/search", &body));
            }
        };
        let filter = SearchFilter {
            client: params.get("client").map(str::to_string),
            project: params.get("project").map(str::to_string),
            window: TextWindow::from_window(&window),
            role: match role {
                Some("user") => Some(RoleFilter::User),
                Some("assistant") => Some(RoleFilter::Assistant),
                Some("tool") => Some(RoleFilter::Tool),
                _ => None,
            },
            limit: 50,
            ..SearchFilter::default()
        };
        let found = search::search(self.conn, &terms, &filter)?;
        body.push_str(&format!("<p>{}</p>\n<ol class=\"hits\">\n", count_of(found.sessions, "session")));
        for hit in &found.hits {
            let anchor = hit.message_seq.map(|seq| format!("?at={seq}#m-{seq}")).unwrap_or_default();
            let snippet: String = search::snippet_pieces(&hit.marked_snippet)
                .into_iter()
                .map(
                    |(text, marked)| {
                        if marked { format!("<mark>{}</mark>", self.text(&text)) } else { self.text(&text) }
                    },
                )
                .collect();
            body.push_str(&format!(
                "<li><a href=\"/session/{}{anchor}\">{}</a> <span class=\"meta\">{} · {} · {}{}</span><div class=\"snippet\">{snippet}</div></li>\n",
                escape(&hit.session_id),
                self.text(hit.title.as_deref().unwrap_or("(untitled)")),
                self.text(&hit.client),
                self.text(hit.project.as_deref().or(hit.cwd.as_deref()).unwrap_or("")),
                escape(&hit.message_at.as_deref().or(hit.started_at.as_deref()).map(|at| local_time(at, &zone)).unwrap_or_default()),
                hit.role.as_deref().map(|role| format!(" · {}", self.text(role))).unwrap_or_default(),
            ));
        }
        body.push_str("</ol>\n");
        Ok(layout("Search", "/search", &body))
    }
}

/// `1 session`, `2 sessions`.
fn count_of(count: u64, noun: &str) -> String {
    format!("{count} {noun}{}", if count == 1 { "" } else { "s" })
}

/// A stored UTC time in `zone`, to the minute.
fn local_time(at: &str, zone: &Zone) -> String {
    at.parse::<Timestamp>()
        .map(|at| at.to_zoned(zone.tz.clone()).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_and_encode() {
        let params = Params::parse("q=port+8080&client=&token=ab%2Fc&bad=%zz&end=%4");
        assert_eq!(params.get("q"), Some("port 8080"));
        assert_eq!(params.get("client"), None);
        assert_eq!(params.get("token"), Some("ab/c"));
        assert_eq!(params.get("bad"), Some("%zz"));
        assert_eq!(params.get("end"), Some("%4"));
        assert_eq!(params.without("token"), "bad=%25zz&end=%254&q=port%208080");
    }
}
