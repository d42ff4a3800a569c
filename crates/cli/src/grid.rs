//! Tables of typed cells, written for where they go: on a terminal, sized to its width (numbers
//! compacted, optional columns dropped, only free text cut; never a line break inside a number,
//! a date or an id), with colour and UTF-8 or ASCII rules; piped, as tab- or comma-separated
//! rows with full values and a header line. Every format shows control characters visibly.

use std::io::IsTerminal;

use unicode_width::UnicodeWidthStr;

use crate::terminal::shown_on_one_line;

/// How a table is written (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns sized to the terminal.
    Table,
    /// Tab-separated rows with a header line; tab, newline and backslash escaped as `\t`, `\n`, `\\`.
    Tsv,
    /// Comma-separated rows with a header line, quoted as RFC 4180.
    Csv,
    /// One JSON document (its `schema` names the shape: docs/json-output.md).
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set or `TERM` is `dumb`.
    #[default]
    Auto,
    Always,
    Never,
}

/// Where output goes and how it may look, decided once per run.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// The terminal's width; `None` when stdout is not one (and `COLUMNS` does not say).
    pub width: Option<usize>,
    pub terminal: bool,
    pub color: bool,
    /// Rules and ellipses in ASCII: the locale is not UTF-8, or stdout is not a terminal.
    pub ascii: bool,
    /// The locale's character set is UTF-8.
    pub utf8: bool,
}

impl Look {
    /// The look of this run's stdout.
    pub fn detect(env: &hindcast_core::provider::Environment, choice: ColorChoice) -> Look {
        let terminal = std::io::stdout().is_terminal();
        let columns = env.var("COLUMNS").and_then(|columns| columns.trim().parse::<usize>().ok()).filter(|&c| c > 0);
        // The width alone: a pty may report 0 rows and still have columns.
        let measured = if terminal {
            rustix::termios::tcgetwinsize(std::io::stdout()).ok().map(|size| usize::from(size.ws_col))
        } else {
            None
        };
        let width = measured.filter(|&cols| cols > 0).or(columns);
        let no_color = env.var("NO_COLOR").is_some_and(|value| !value.is_empty());
        let dumb = env.var("TERM").is_some_and(|term| term == "dumb");
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color && !dumb,
        };
        // Piped, a table keeps to ASCII: a log or a pager of unknown charset reads it whole.
        let utf8 = utf8_locale(env);
        Look { width, terminal, color, ascii: !terminal || !utf8, utf8 }
    }

    /// The look of a table the command line asked for by name (`--format table`): piped too,
    /// its rules follow the locale.
    pub fn asked_for(&self) -> Look {
        Look { ascii: !self.utf8, ..*self }
    }

    /// This look without colour: for a table inside text that is shown as a whole.
    pub fn plain(&self) -> Look {
        Look { color: false, ..*self }
    }

    /// The format when the command line names none: a table on a terminal, else TSV.
    pub fn format(&self, chosen: Option<Format>) -> Format {
        chosen.unwrap_or(if self.terminal { Format::Table } else { Format::Tsv })
    }

    /// `text` in bold, when colour is on.
    pub fn bold(&self, text: &str) -> String {
        self.styled(text, console::Style::new().bold())
    }

    /// `text` dimmed, when colour is on.
    pub fn dim(&self, text: &str) -> String {
        self.styled(text, console::Style::new().dim())
    }

    /// `text` in `style`, when colour is on.
    pub fn styled(&self, text: &str, style: console::Style) -> String {
        if self.color { style.force_styling(true).apply_to(text).to_string() } else { text.to_string() }
    }

    /// The ellipsis of cut text.
    pub fn ellipsis(&self) -> &'static str {
        if self.ascii { "..." } else { "…" }
    }
}

/// Whether the locale's character set is UTF-8 (`LC_ALL`, else `LC_CTYPE`, else `LANG`).
fn utf8_locale(env: &hindcast_core::provider::Environment) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"].iter().find_map(|name| env.var(name).filter(|value| !value.is_empty())).is_some_and(
        |locale| {
            let lower = locale.to_ascii_lowercase();
            lower.contains("utf-8") || lower.contains("utf8")
        },
    )
}

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Free text (titles, projects, paths): the only kind a table cuts to fit, with an ellipsis.
    Text(String),
    /// Ids, dates, labels: shown whole or not at all.
    Exact(String),
    /// A count: thousands separators in a table, bare digits piped.
    Count(i64),
    /// A token count: like a count, compacted to K, M or B when the table would not fit.
    Tokens(i64),
    /// Dollars: cents in a table, the full value piped; `partial` marks some responses unpriced;
    /// `None` is unpriced (`unpriced` in a table, empty piped).
    Cost {
        usd: Option<f64>,
        partial: bool,
    },
    Empty,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    pub fn exact(text: impl Into<String>) -> Cell {
        Cell::Exact(text.into())
    }

    fn right_aligned(&self) -> bool {
        matches!(self, Cell::Count(_) | Cell::Tokens(_) | Cell::Cost { .. })
    }

    /// The cell in a table; `compact` shortens token counts.
    fn in_table(&self, compact: bool) -> String {
        match self {
            Cell::Text(text) | Cell::Exact(text) => shown_on_one_line(text).into_owned(),
            Cell::Count(value) => grouped(*value),
            Cell::Tokens(value) if compact => compact_count(*value),
            Cell::Tokens(value) => grouped(*value),
            Cell::Cost { usd: None, .. } => "unpriced".to_string(),
            Cell::Cost { usd: Some(usd), partial } => format!("{}{}", dollars(*usd), if *partial { "*" } else { "" }),
            Cell::Empty => String::new(),
        }
    }

    /// The cell's full value, for TSV and CSV (not yet escaped).
    fn full(&self) -> String {
        match self {
            Cell::Text(text) | Cell::Exact(text) => text.clone(),
            Cell::Count(value) | Cell::Tokens(value) => value.to_string(),
            Cell::Cost { usd: None, .. } => String::new(),
            Cell::Cost { usd: Some(usd), .. } => format!("{usd:.6}"),
            Cell::Empty => String::new(),
        }
    }
}

/// What a row is, for the rules and emphasis around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Normal,
    /// A breakdown under the row above (a model): dimmed, indented.
    Detail,
    /// A total: a rule above it, bold.
    Total,
}

/// One column: its header (`\n` splits it over two lines in a table), and whether a narrow
/// terminal may drop it.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: &'static str,
    pub optional: bool,
}

/// A table being filled.
#[derive(Debug, Clone)]
pub struct Grid {
    columns: Vec<Column>,
    rows: Vec<(RowKind, Vec<Cell>)>,
}

/// Columns between cells in a table, before it needs squeezing.
const GAP: usize = 2;
/// The narrowest a free-text column is cut to.
const MIN_TEXT: usize = 8;
/// A free-text column is cut to this width before an optional column is dropped for it.
const COMFORTABLE_TEXT: usize = 24;

impl Grid {
    /// A table with these column headers; a header starting with `?` may be dropped to fit.
    pub fn new(headers: &[&'static str]) -> Grid {
        let columns = headers
            .iter()
            .map(|header| match header.strip_prefix('?') {
                Some(header) => Column { header, optional: true },
                None => Column { header, optional: false },
            })
            .collect();
        Grid { columns, rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.push(RowKind::Normal, cells);
    }

    pub fn detail(&mut self, cells: Vec<Cell>) {
        self.push(RowKind::Detail, cells);
    }

    pub fn total(&mut self, cells: Vec<Cell>) {
        self.push(RowKind::Total, cells);
    }

    fn push(&mut self, kind: RowKind, mut cells: Vec<Cell>) {
        cells.resize(self.columns.len(), Cell::Empty);
        self.rows.push((kind, cells));
    }

    /// The table in `format` (`Json` is the caller's: it is written as TSV here).
    pub fn render(&self, format: Format, look: &Look) -> String {
        match format {
            Format::Table => self.table(look),
            Format::Tsv | Format::Json => self.separated(look, '\t', tsv_field),
            Format::Csv => self.separated(look, ',', csv_field),
        }
    }

    fn separated(&self, _look: &Look, separator: char, field: fn(&str) -> String) -> String {
        let line_end = if separator == ',' { "\r\n" } else { "\n" };
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|column| field(&machine_name(column.header))).collect();
        out.push_str(&header.join(&separator.to_string()));
        out.push_str(line_end);
        for (_, cells) in &self.rows {
            let fields: Vec<String> = cells.iter().map(|cell| field(cell.full().trim_start())).collect();
            out.push_str(&fields.join(&separator.to_string()));
            out.push_str(line_end);
        }
        out
    }

    /// The table laid out for `look.width`: token counts compacted, then optional columns
    /// dropped (last first), then the gap narrowed, then free text cut.
    fn table(&self, look: &Look) -> String {
        let limit = look.width.unwrap_or(usize::MAX);
        let mut compact = false;
        let mut shown: Vec<bool> = vec![true; self.columns.len()];
        let mut gap = GAP;
        let mut widths = self.natural_widths(compact);
        let fits = |widths: &[usize], shown: &[bool], gap: usize| total_width(widths, shown, gap) <= limit;
        if !fits(&widths, &shown, gap) {
            compact = true;
            widths = self.natural_widths(compact);
        }
        // Drop optional columns (last first) while the table would not fit even with its free
        // text cut to a comfortable width; then cut text (down to MIN_TEXT) before dropping more.
        for floor in [COMFORTABLE_TEXT, MIN_TEXT] {
            for index in (0..self.columns.len()).rev() {
                if fits(&self.cut_widths(&widths, floor), &shown, gap) {
                    break;
                }
                if self.columns[index].optional {
                    shown[index] = false;
                }
            }
        }
        if !fits(&widths, &shown, gap) && !fits(&self.cut_widths(&widths, MIN_TEXT), &shown, GAP) {
            gap = 1;
        }
        // Cut the widest free-text column a character at a time until the table fits.
        while !fits(&widths, &shown, gap) {
            let cuttable = (0..self.columns.len())
                .filter(|&index| shown[index] && self.text_column(index))
                .filter(|&index| widths[index] > self.header_width(index).max(MIN_TEXT))
                .max_by_key(|&index| widths[index]);
            let Some(index) = cuttable else { break };
            widths[index] -= 1;
        }

        let rule_char = if look.ascii { "-" } else { "─" };
        let visible: Vec<usize> = (0..self.columns.len()).filter(|&index| shown[index]).collect();
        let table_width = total_width(&widths, &shown, gap);
        let rule = look.dim(&rule_char.repeat(table_width));
        let mut out = String::new();
        let header_lines = self.columns.iter().map(|column| column.header.lines().count()).max().unwrap_or(1);
        for line in 0..header_lines {
            let cells: Vec<(String, bool)> = visible
                .iter()
                .map(|&index| {
                    let lines: Vec<&str> = self.columns[index].header.lines().collect();
                    // Headers sit on the last lines, so one-line headers align with the second line of two.
                    let offset = header_lines - lines.len();
                    let text = if line >= offset { lines[line - offset] } else { "" };
                    (text.to_string(), self.right_column(index))
                })
                .collect();
            out.push_str(&look.bold(&layout_line(&cells, &visible, &widths, gap)));
            out.push('\n');
        }
        out.push_str(&rule);
        out.push('\n');
        for (kind, cells) in &self.rows {
            if *kind == RowKind::Total {
                out.push_str(&rule);
                out.push('\n');
            }
            let laid: Vec<(String, bool)> = visible
                .iter()
                .map(|&index| {
                    let mut text = cells[index].in_table(compact);
                    if *kind == RowKind::Detail && index == 0 {
                        text = format!("  {text}");
                    }
                    let text = cut(&text, widths[index], look.ellipsis());
                    (text, cells[index].right_aligned())
                })
                .collect();
            let line = layout_line(&laid, &visible, &widths, gap);
            out.push_str(&match kind {
                RowKind::Normal => line,
                RowKind::Detail => look.dim(&line),
                RowKind::Total => look.bold(&line),
            });
            out.push('\n');
        }
        out
    }

    fn natural_widths(&self, compact: bool) -> Vec<usize> {
        (0..self.columns.len())
            .map(|index| {
                let cells = self.rows.iter().map(|(kind, cells)| {
                    let text = cells[index].in_table(compact);
                    text.width() + if *kind == RowKind::Detail && index == 0 { 2 } else { 0 }
                });
                cells.chain(std::iter::once(self.header_width(index))).max().unwrap_or(0)
            })
            .collect()
    }

    /// `widths` with every free-text column cut to `floor` (or its header).
    fn cut_widths(&self, widths: &[usize], floor: usize) -> Vec<usize> {
        (0..widths.len())
            .map(|index| {
                if self.text_column(index) {
                    widths[index].min(self.header_width(index).max(floor))
                } else {
                    widths[index]
                }
            })
            .collect()
    }

    fn header_width(&self, index: usize) -> usize {
        self.columns[index].header.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
    }

    /// A column of free text: every non-empty cell is `Text`.
    fn text_column(&self, index: usize) -> bool {
        self.rows.iter().any(|(_, cells)| matches!(cells[index], Cell::Text(_)))
            && self.rows.iter().all(|(_, cells)| matches!(cells[index], Cell::Text(_) | Cell::Empty))
    }

    /// A column of numbers: its header is right-aligned with them.
    fn right_column(&self, index: usize) -> bool {
        self.rows.iter().any(|(_, cells)| cells[index].right_aligned())
    }
}

fn total_width(widths: &[usize], shown: &[bool], gap: usize) -> usize {
    let columns: Vec<usize> = widths.iter().zip(shown).filter(|(_, shown)| **shown).map(|(width, _)| *width).collect();
    columns.iter().sum::<usize>() + gap * columns.len().saturating_sub(1)
}

fn layout_line(cells: &[(String, bool)], visible: &[usize], widths: &[usize], gap: usize) -> String {
    let mut line = String::new();
    for (position, ((text, right), &index)) in cells.iter().zip(visible).enumerate() {
        if position > 0 {
            line.push_str(&" ".repeat(gap));
        }
        let padding = " ".repeat(widths[index].saturating_sub(text.width()));
        if *right {
            line.push_str(&padding);
            line.push_str(text);
        } else {
            line.push_str(text);
            if position + 1 < cells.len() {
                line.push_str(&padding);
            }
        }
    }
    line.trim_end().to_string()
}

/// `text` cut to `width` display columns, ending in `ellipsis` when cut.
fn cut(text: &str, width: usize, ellipsis: &str) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(ellipsis.width());
    let mut out = String::new();
    for c in text.chars() {
        if out.width() + unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) > room {
            break;
        }
        out.push(c);
    }
    out.push_str(ellipsis);
    out
}

/// `text` with every line wider than `width` broken at spaces, continuations indented like
/// the line they continue (plus two); only a word wider than the line itself is broken inside
/// (never one holding a colour code). Widths are what is seen: colour codes take none.
pub fn wrap(text: &str, width: usize) -> String {
    let seen = console::measure_text_width;
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        if seen(line) <= width {
            out.push_str(line);
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let continuation = " ".repeat((indent + 2).min(width / 2));
        let mut current = line[..indent].to_string();
        let mut current_width = indent;
        let mut fresh = true;
        for word in line[indent..].split(' ') {
            let word_width = seen(word);
            if !fresh && current_width + 1 + word_width > width {
                out.push_str(current.trim_end());
                out.push('\n');
                current = continuation.clone();
                current_width = continuation.len();
                fresh = true;
            }
            if !fresh {
                current.push(' ');
                current_width += 1;
            }
            // A word wider than a whole line is broken where the line ends.
            let mut rest = word;
            while current_width + rest.width() > width && current_width < width && !rest.contains('\u{1b}') {
                let room = width - current_width;
                let split = rest
                    .char_indices()
                    .scan(0, |used, (at, c)| {
                        *used += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                        Some((at + c.len_utf8(), *used))
                    })
                    .take_while(|(_, used)| *used <= room)
                    .last()
                    .map_or(0, |(at, _)| at);
                if split == 0 {
                    break;
                }
                current.push_str(&rest[..split]);
                out.push_str(&current);
                out.push('\n');
                current = continuation.clone();
                current_width = continuation.len();
                rest = &rest[split..];
            }
            current.push_str(rest);
            current_width += seen(rest);
            fresh = false;
        }
        out.push_str(current.trim_end());
    }
    out
}

/// A header as a TSV/CSV column name: `cache\nwrite` is `cache_write`.
fn machine_name(header: &str) -> String {
    header.split_whitespace().collect::<Vec<_>>().join("_")
}

/// A TSV field: backslash, tab, newline and carriage return escaped; other controls shown.
pub fn tsv_field(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n").replace('\r', "\\r");
    crate::terminal::shown(&escaped).into_owned()
}

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break; quotes doubled;
/// other controls shown.
pub fn csv_field(value: &str) -> String {
    let shown = crate::terminal::shown(value);
    if shown.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", shown.replace('"', "\"\""))
    } else {
        shown.into_owned()
    }
}

/// A count with thousands separators.
pub fn grouped(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// Dollars with cents and thousands separators.
pub fn dollars(value: f64) -> String {
    let cents = (value * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}${}.{:02}", grouped((cents / 100).abs()), (cents % 100).abs())
}

/// A count in at most five characters: exact below 1,000, else K, M or B.
pub fn compact_count(value: i64) -> String {
    let magnitude = value.unsigned_abs() as f64;
    let sign = if value < 0 { "-" } else { "" };
    let scaled = |divisor: f64, unit: &str| {
        let scaled = magnitude / divisor;
        if scaled < 9.995 {
            format!("{sign}{scaled:.2}{unit}")
        } else if scaled < 99.95 {
            format!("{sign}{scaled:.1}{unit}")
        } else {
            format!("{sign}{scaled:.0}{unit}")
        }
    };
    match magnitude {
        m if m < 1e3 => value.to_string(),
        m if m < 999.5e3 => scaled(1e3, "K"),
        m if m < 999.5e6 => scaled(1e6, "M"),
        _ => scaled(1e9, "B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(width: Option<usize>, ascii: bool) -> Look {
        Look { width, terminal: true, color: false, ascii, utf8: !ascii }
    }

    fn sample() -> Grid {
        let mut grid = Grid::new(&["session", "?title", "input", "cost"]);
        grid.row(vec![
            Cell::exact("claude 0123456789ab"),
            Cell::text("Refactor the\tparser and fix every failing test in the workspace"),
            Cell::Tokens(2_558_990_905),
            Cell::Cost { usd: Some(1234.567), partial: false },
        ]);
        grid.detail(vec![
            Cell::exact("sonnet-4-5"),
            Cell::Empty,
            Cell::Tokens(12_345),
            Cell::Cost { usd: None, partial: false },
        ]);
        grid.total(vec![
            Cell::exact("Total"),
            Cell::Empty,
            Cell::Tokens(2_559_003_250),
            Cell::Cost { usd: Some(1234.567), partial: true },
        ]);
        grid
    }

    #[test]
    fn a_wide_terminal_shows_every_value_whole() {
        let text = sample().render(Format::Table, &look(Some(200), false));
        assert!(text.contains("2,558,990,905") && text.contains("$1,234.57*") && text.contains("unpriced"), "{text}");
        assert!(text.contains("Refactor the\\tparser"), "{text}");
        assert!(!text.contains('…'), "{text}");
    }

    #[test]
    fn a_narrow_terminal_compacts_numbers_then_cuts_text_never_ids() {
        for width in [60, 50, 40] {
            let text = sample().render(Format::Table, &look(Some(width), false));
            for line in text.lines() {
                assert!(line.width() <= width, "{width}: {line:?}\n{text}");
            }
            assert!(text.contains("claude 0123456789ab"), "the id is whole at {width}:\n{text}");
            assert!(text.contains("2.56B"), "{text}");
        }
        let narrowest = sample().render(Format::Table, &look(Some(40), false));
        assert!(!narrowest.contains("title"), "the optional column goes first:\n{narrowest}");
    }

    #[test]
    fn ascii_locales_get_ascii_rules_and_ellipses() {
        let text = sample().render(Format::Table, &look(Some(70), true));
        assert!(text.is_ascii(), "{text}");
        assert!(text.contains("---") && text.contains("..."), "{text}");
    }

    #[test]
    fn piped_rows_hold_full_values_escaped() {
        let tsv = sample().render(Format::Tsv, &look(None, false));
        let lines: Vec<&str> = tsv.lines().collect();
        assert_eq!(lines[0], "session\ttitle\tinput\tcost");
        assert_eq!(
            lines[1],
            "claude 0123456789ab\tRefactor the\\tparser and fix every failing test in the workspace\t2558990905\t1234.567000"
        );
        assert_eq!(lines[2], "sonnet-4-5\t\t12345\t");
        let csv = sample().render(Format::Csv, &look(None, false));
        assert!(csv.starts_with("session,title,input,cost\r\n"), "{csv}");
        assert_eq!(csv_field("a \"quoted\", field"), "\"a \"\"quoted\"\", field\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(tsv_field("back\\slash\u{1b}[2J"), "back\\\\slash\\e[2J");
        assert!(!tsv.contains('…') && !tsv.contains('─'));
    }

    #[test]
    fn long_lines_wrap_at_spaces_and_keep_their_indent() {
        assert_eq!(wrap("short\n", 10), "short\n");
        assert_eq!(wrap("* one two three four", 10), "* one two\n  three\n  four");
        assert_eq!(wrap("  indented words here", 12), "  indented\n    words\n    here");
        let url = format!("see {}", "x".repeat(25));
        for line in wrap(&url, 10).lines() {
            assert!(line.width() <= 10, "{line:?}");
        }
    }

    #[test]
    fn numbers_have_separators_or_fit_five_characters() {
        for (value, shown) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1.00K"),
            (12_345, "12.3K"),
            (123_456, "123K"),
            (999_499, "999K"),
            (999_500, "1.00M"),
            (16_962_128, "17.0M"),
            (1_234_567_890, "1.23B"),
        ] {
            assert_eq!(compact_count(value), shown, "{value}");
        }
        assert_eq!(grouped(2_558_990_905), "2,558,990,905");
        assert_eq!(dollars(23.8449), "$23.84");
        assert_eq!(dollars(1234.5), "$1,234.50");
        assert_eq!(dollars(0.004), "$0.00");
    }
}
