//! Transcript text made into HTML for reading, safely: Markdown without raw HTML, links only to
//! `http(s):` and `mailto:`, images named rather than loaded; code blocks highlighted by class
//! (syntect, so a stylesheet picks the light or dark colours); edits shown as diffs. Shared by
//! `sessions show --format html` and the web page.

use std::fmt::Write as _;
use std::sync::OnceLock;

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd};
use serde_json::Value;
use syntect::html::{ClassStyle, ClassedHTMLGenerator, css_for_theme_with_class_style};
use syntect::parsing::{SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

use super::conversation::html_escape;

/// Code longer than this is shown without colours: highlighting costs time per byte and a page
/// must stay quick.
const HIGHLIGHT_LIMIT: usize = 64 * 1024;

/// The class prefix of highlighted tokens (`hl-keyword`), so they cannot clash with the page's.
const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// The stylesheet of highlighted code: a light theme, and a dark one for dark systems.
pub fn highlight_css() -> &'static str {
    static CSS: OnceLock<String> = OnceLock::new();
    CSS.get_or_init(|| {
        let themes = syntect::highlighting::ThemeSet::load_defaults();
        let css = |name: &str| {
            themes.themes.get(name).and_then(|theme| css_for_theme_with_class_style(theme, CLASS_STYLE).ok())
        };
        let mut out = String::new();
        if let Some(light) = css("InspiredGitHub") {
            out.push_str(&light);
        }
        if let Some(dark) = css("base16-ocean.dark") {
            let _ = write!(out, "\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n");
        }
        // The themes' own backgrounds would fight the page's panels.
        out.push_str("\n.hl-code { background-color: transparent; }\n");
        out
    })
}

/// The syntax a fence's language or a file's extension names (a few common names the default
/// set lacks are mapped to their nearest relative).
fn syntax_for(name: &str) -> Option<&'static SyntaxReference> {
    let name = name.trim().to_ascii_lowercase();
    let name = match name.as_str() {
        "ts" | "tsx" | "typescript" | "jsx" | "mjs" | "cjs" => "js",
        "shell" | "zsh" | "console" | "sh-session" | "bash" | "fish" => "sh",
        "jsonc" | "json5" | "jsonl" => "json",
        "toml" | "ini" | "cfg" => "ini",
        "yml" => "yaml",
        "patch" => "diff",
        other => other,
    };
    if name.is_empty() || name == "text" || name == "plain" || name == "txt" {
        return None;
    }
    let set = syntaxes();
    set.find_syntax_by_token(name).or_else(|| set.find_syntax_by_extension(name))
}

/// `code` as a `<pre>` block, highlighted when `language` names a known syntax and the code is
/// not too long. Everything is escaped either way.
pub fn code_html(code: &str, language: Option<&str>) -> String {
    let syntax = language.filter(|_| code.len() <= HIGHLIGHT_LIMIT).and_then(syntax_for);
    let label = language.map(str::trim).filter(|name| !name.is_empty());
    let data = label.map_or_else(String::new, |name| format!(" data-language=\"{}\"", html_escape(name)));
    match syntax.and_then(|syntax| highlighted(code, syntax)) {
        Some(inner) => format!("<pre class=\"code\"{data}><code>{inner}</code></pre>\n"),
        None => format!("<pre class=\"code\"{data}><code>{}</code></pre>\n", html_escape(code)),
    }
}

fn highlighted(code: &str, syntax: &SyntaxReference) -> Option<String> {
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, syntaxes(), CLASS_STYLE);
    for line in LinesWithEndings::from(code) {
        generator.parse_html_for_line_which_includes_newline(line).ok()?;
    }
    Some(generator.finalize())
}

/// The language of a file, from its name's extension.
fn language_of_path(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let (_, extension) = name.rsplit_once('.')?;
    syntax_for(extension).map(|_| extension)
}

/// Whether a link in a transcript may stay a link: only to the web or to mail. Anything else
/// (`javascript:`, `data:`, `file:`, paths relative to the page) is shown as text.
fn is_safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["http://", "https://", "mailto:"].iter().any(|scheme| lower.starts_with(scheme))
}

/// Markdown (as a model writes it) as HTML: raw HTML shown as text, unsafe links reduced to
/// their text and address, images named and never loaded, fenced code highlighted.
pub fn markdown_html(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut events: Vec<Event<'_>> = Vec::new();
    let mut code: Option<(Option<String>, String)> = None;
    // For each open link: the address when it was reduced to text.
    let mut links: Vec<Option<String>> = Vec::new();
    for event in Parser::new_ext(text, options) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split(|c: char| c.is_whitespace() || c == ',' || c == '{').next().map(str::to_string)
                    }
                    CodeBlockKind::Indented => None,
                };
                code = Some((language.filter(|name| !name.is_empty()), String::new()));
            }
            Event::Text(piece) if code.is_some() => {
                if let Some((_, body)) = code.as_mut() {
                    body.push_str(&piece);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((language, body)) = code.take() {
                    let body = body.strip_suffix('\n').unwrap_or(&body);
                    events.push(Event::Html(CowStr::from(code_html(body, language.as_deref()))));
                }
            }
            Event::Html(raw) | Event::InlineHtml(raw) => events.push(Event::Text(raw)),
            Event::Start(Tag::Link { dest_url, .. }) if !is_safe_link(&dest_url) => {
                links.push(Some(dest_url.to_string()));
            }
            Event::Start(Tag::Link { .. }) => {
                links.push(None);
                events.push(event);
            }
            Event::End(TagEnd::Link) => match links.pop().flatten() {
                Some(address) => events.push(Event::Text(CowStr::from(format!(" ({address})")))),
                None => events.push(event),
            },
            Event::Start(Tag::Image { .. }) => events.push(Event::Text(CowStr::from("[image: "))),
            Event::End(TagEnd::Image) => events.push(Event::Text(CowStr::from("]"))),
            other => events.push(other),
        }
    }
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    pulldown_cmark::html::push_html(&mut out, events.into_iter());
    out
}

/// `old` → `new` as a unified diff (three lines of context), `-` and `+` lines marked.
pub fn diff_html(old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut out = String::from("<pre class=\"diff\"><code>");
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        // Block spans, one per line: a newline between them would show as an empty line.
        let _ = write!(out, "<span class=\"hunk\">{}</span>", html_escape(&hunk.header().to_string()));
        for change in hunk.iter_changes() {
            let (class, sign) = match change.tag() {
                similar::ChangeTag::Delete => ("del", '-'),
                similar::ChangeTag::Insert => ("add", '+'),
                similar::ChangeTag::Equal => ("same", ' '),
            };
            let line = change.value().strip_suffix('\n').unwrap_or(change.value());
            let _ = write!(out, "<span class=\"{class}\">{sign}{}</span>", html_escape(line));
        }
    }
    out.push_str("</code></pre>\n");
    out
}

/// A patch as the model wrote it (`*** Begin Patch`, or a unified diff), its lines marked.
pub fn patch_html(patch: &str) -> String {
    let mut out = String::from("<pre class=\"diff\"><code>");
    for line in patch.lines() {
        let class = match line.as_bytes().first() {
            _ if line.starts_with("+++") || line.starts_with("---") || line.starts_with("***") => "file",
            Some(b'+') => "add",
            Some(b'-') => "del",
            Some(b'@') => "hunk",
            _ => "same",
        };
        let _ = write!(out, "<span class=\"{class}\">{}</span>", html_escape(line));
    }
    out.push_str("</code></pre>\n");
    out
}

/// Whether `text` is a patch: `*** Begin Patch`, or a unified diff (`diff --git`, `--- a`).
pub fn is_patch(text: &str) -> bool {
    let start = text.trim_start();
    start.starts_with("*** Begin Patch") || start.starts_with("diff --git") || start.starts_with("--- ")
}

fn field<'v>(input: &'v Value, names: &[&str]) -> Option<&'v str> {
    names.iter().find_map(|name| input.get(*name).and_then(Value::as_str))
}

/// The path a tool call works on, when its input names one.
fn path_of(input: &Value) -> Option<&str> {
    field(input, &["file_path", "filePath", "path", "absolute_path", "notebook_path"])
}

/// A tool call's input in one short line for its folded summary: the command, the path, the
/// pattern or the query it was given.
pub fn tool_input_summary(input: Option<&Value>) -> Option<String> {
    let input = input?;
    let text = match input {
        Value::String(text) => text.lines().next().map(str::to_string),
        _ => command_of(input)
            .or_else(|| {
                field(input, &["file_path", "filePath", "path", "pattern", "query", "url", "description", "prompt"])
                    .map(str::to_string)
            })
            .map(|text| text.lines().next().unwrap_or_default().to_string()),
    }?;
    let mut short: String = text.chars().take(100).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    Some(short)
}

/// A shell command, whether given as one text or as words (`["bash", "-lc", "…"]`).
fn command_of(input: &Value) -> Option<String> {
    match input.get("command").or_else(|| input.get("cmd"))? {
        Value::String(command) => Some(command.clone()),
        Value::Array(words) => {
            let words: Vec<&str> = words.iter().filter_map(Value::as_str).collect();
            match words.as_slice() {
                [shell, flag, script] if flag.starts_with('-') && flag.ends_with('c') && shell.ends_with("sh") => {
                    Some((*script).to_string())
                }
                _ => Some(words.join(" ")),
            }
        }
        _ => None,
    }
}

/// A tool call's input for reading (its path is in the summary line), by its shape (the same shapes recur across clients): an edit
/// (`old_string`/`new_string`, or a list of them) as a diff, a patch as a patch, a command as
/// shell, a file written as code in its language; anything else as JSON. `shown` makes control
/// characters visible first.
pub fn tool_input_html(input: Option<&Value>, shown: &dyn Fn(&str) -> String) -> String {
    let Some(input) = input else {
        return String::new();
    };
    if let Value::String(text) = input {
        let text = shown(text);
        return if is_patch(&text) { patch_html(&text) } else { code_html(&text, None) };
    }
    let old = field(input, &["old_string", "oldString"]);
    let new = field(input, &["new_string", "newString"]);
    if let (Some(old), Some(new)) = (old, new) {
        return diff_html(&shown(old), &shown(new));
    }
    if let Some(edits) = input.get("edits").and_then(Value::as_array) {
        let diffs: Vec<String> = edits
            .iter()
            .filter_map(|edit| {
                let old = field(edit, &["old_string", "oldString"])?;
                let new = field(edit, &["new_string", "newString"])?;
                Some(diff_html(&shown(old), &shown(new)))
            })
            .collect();
        if !diffs.is_empty() {
            return diffs.concat();
        }
    }
    if let Some(patch) = field(input, &["patch", "input"]).filter(|text| is_patch(text)) {
        return patch_html(&shown(patch));
    }
    if let (Some(content), Some(file)) = (field(input, &["content"]), path_of(input)) {
        return code_html(&shown(content), language_of_path(file));
    }
    if let Some(command) = command_of(input) {
        let rest: serde_json::Map<String, Value> = input
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .filter(|(key, _)| !matches!(key.as_str(), "command" | "cmd" | "description"))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = code_html(&shown(&command), Some("sh"));
        if !rest.is_empty() {
            out.push_str(&json_html(&Value::Object(rest), shown));
        }
        return out;
    }
    json_html(input, shown)
}

fn json_html(value: &Value, shown: &dyn Fn(&str) -> String) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    code_html(&shown(&text), Some("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected_fragments: &[&str], forbidden: &[&str]) {
        let html = markdown_html(input);
        for fragment in expected_fragments {
            assert!(html.contains(fragment), "{input:?} → {html:?} lacks {fragment:?}");
        }
        for fragment in forbidden {
            assert!(!html.contains(fragment), "{input:?} → {html:?} holds {fragment:?}");
        }
    }

    #[test]
    fn markdown_renders_without_raw_html_or_unsafe_links() {
        check("**bold** and `code`", &["<strong>bold</strong>", "<code>code</code>"], &[]);
        check("<script>alert(1)</script>", &["&lt;script&gt;alert(1)&lt;/script&gt;"], &["<script"]);
        check("x <img src=x onerror=alert(1)> y", &["&lt;img src=x onerror=alert(1)&gt;"], &["<img"]);
        check("[click](javascript:alert(1))", &["click (javascript:alert(1))"], &["href"]);
        check("[data](data:text/html,<b>x</b>)", &["data (data:text/html"], &["href"]);
        check("<javascript:alert(1)>", &["javascript:alert(1)"], &["href"]);
        check("[rel](../etc/passwd)", &["rel (../etc/passwd)"], &["href"]);
        check("[site](https://example.com/a?b=\"c\")", &["<a href=\"https://example.com/a?b=%22c%22\">site</a>"], &[]);
        check("![logo](https://example.com/x.png)", &["[image: logo]"], &["<img", "src="]);
        check("| a | b |\n|---|---|\n| 1 | 2 |", &["<table>", "<td>1</td>"], &[]);
    }

    #[test]
    fn fenced_code_is_highlighted_and_escaped() {
        let html = markdown_html("```rust\nfn main() { let x = \"<b>\"; }\n```\n");
        assert!(html.contains("<pre class=\"code\" data-language=\"rust\">"), "{html}");
        assert!(html.contains("hl-keyword") || html.contains("hl-storage"), "{html}");
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"), "{html}");
        let plain = markdown_html("```\n<b>x</b>\n```\n");
        assert!(plain.contains("<pre class=\"code\"><code>&lt;b&gt;x&lt;/b&gt;</code></pre>"), "{plain}");
        let hostile = code_html("x", Some("\"><script>"));
        assert!(!hostile.contains("<script>"), "{hostile}");
    }

    #[test]
    fn edits_show_as_diffs_and_commands_as_shell() {
        let plain = |text: &str| text.to_string();
        let edit = serde_json::json!({"file_path": "/a/b.rs", "old_string": "one\ntwo\n", "new_string": "one\n2\n"});
        let html = tool_input_html(Some(&edit), &plain);
        assert!(html.contains("<span class=\"del\">-two</span>") && html.contains("<span class=\"add\">+2</span>"));
        let patch = serde_json::json!("*** Begin Patch\n*** Update File: a\n@@\n-x\n+y\n*** End Patch");
        let html = tool_input_html(Some(&patch), &plain);
        assert!(html.contains("<span class=\"del\">-x</span>") && html.contains("<span class=\"file\">*** End Patch"));
        let shell = serde_json::json!({"command": ["bash", "-lc", "ls <dir>"], "timeout": 5});
        let html = tool_input_html(Some(&shell), &plain);
        assert!(html.contains("data-language=\"sh\"") && !html.contains("<dir>") && html.contains("timeout"), "{html}");
        assert_eq!(tool_input_summary(Some(&shell)).as_deref(), Some("ls <dir>"));
        let write = serde_json::json!({"filePath": "x.py", "content": "import os\n"});
        assert!(tool_input_html(Some(&write), &plain).contains("data-language=\"py\""));
    }
}
