//! `hindcast query SQL`: read-only SQL over the store, streamed row by row in every output mode
//! (a table, TSV, CSV, one JSON document, JSON lines), so memory does not grow with the result; bounded by
//! `--max-rows` and `--timeout`.

use std::io::{BufWriter, IsTerminal, Read, StdoutLock, Write};
use std::time::Instant;

use hindcast_store::Store;
use rusqlite::types::ValueRef;
use unicode_width::UnicodeWidthStr;

use super::Context;
use crate::cli::QueryArgs;
use crate::exit::{self, ExitError};
use crate::grid::{Format as TableFormat, Look};
use crate::output::exit_on_write_error;
use crate::terminal::{shown_on_one_line, shown_prefix};

/// On a terminal, a table cell is cut to this many characters unless `--full` is given.
const TERMINAL_CELL_CHARS: usize = 100;
/// A table's column widths are taken from this many rows; later rows are printed as they come.
const ROWS_MEASURED: usize = 200;
/// How often (in SQLite virtual machine steps) the timeout is checked.
const STEPS_PER_TIMEOUT_CHECK: i32 = 10_000;

/// Runs one read-only statement; a statement that would write is refused (exit 2).
pub fn run(context: &Context, args: &QueryArgs) -> anyhow::Result<u8> {
    let sql = read_sql(args)?;
    let paths = context.paths()?;
    let mut conn = Store::open_read_only(&paths.db).map_err(|error| ExitError::failure(error.to_string()))?;
    if let Some(timeout) = args.timeout {
        let deadline = Instant::now() + timeout;
        conn.progress_handler(STEPS_PER_TIMEOUT_CHECK, Some(move || Instant::now() >= deadline))
            .map_err(|error| ExitError::failure(format!("cannot set the --timeout: {error}")))?;
    }
    let mut statement = conn.prepare(&sql).map_err(|error| ExitError::usage(format!("invalid SQL: {error}")))?;
    if !statement.readonly() {
        return Err(ExitError::usage("hindcast query is read-only: refusing a statement that writes".into()).into());
    }
    let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
    let mut sink = Sink::new(args, columns, &context.look);
    let mut rows = statement.query([]).map_err(|error| step_error(error, args, 0))?;
    let mut printed: u64 = 0;
    let mut more: u64 = 0;
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(error) => {
                sink.flush();
                return Err(step_error(error, args, printed).into());
            }
        };
        if args.max_rows.is_some_and(|max| printed >= max) {
            more += 1;
            continue;
        }
        let values = (0..sink.columns.len())
            .map(|index| row.get_ref(index))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ExitError::failure(format!("query failed: {error}")))?;
        sink.row(&values);
        printed += 1;
    }
    sink.finish(printed, more, args.max_rows);
    Ok(exit::OK)
}

/// The statement: the argument, `--file`, or stdin (`-`, or no argument with stdin not a terminal).
fn read_sql(args: &QueryArgs) -> Result<String, ExitError> {
    let sql = match (&args.file, args.sql.as_deref()) {
        (Some(file), _) => std::fs::read_to_string(file)
            .map_err(|error| ExitError::usage(format!("cannot read --file {}: {error}", file.display())))?,
        (None, Some(sql)) if sql != "-" => sql.to_string(),
        (None, _) => {
            let mut stdin = std::io::stdin();
            if args.sql.is_none() && stdin.is_terminal() {
                return Err(ExitError::usage(
                    "give a statement: `hindcast query \"SELECT ...\"`, --file FILE, or one on stdin".into(),
                ));
            }
            let mut sql = String::new();
            stdin
                .read_to_string(&mut sql)
                .map_err(|error| ExitError::usage(format!("cannot read the statement from stdin: {error}")))?;
            sql
        }
    };
    if sql.trim().is_empty() {
        let source = match (&args.file, args.sql.as_deref()) {
            (Some(file), _) => format!("--file {} is empty", file.display()),
            (None, Some(sql)) if sql != "-" => "the statement is empty".to_string(),
            (None, _) => "no statement on stdin".to_string(),
        };
        return Err(ExitError::usage(format!(
            "{source}: no statement to run; give one as `hindcast query \"SELECT ...\"`, with --file FILE, or on stdin"
        )));
    }
    Ok(sql)
}

fn step_error(error: rusqlite::Error, args: &QueryArgs, printed: u64) -> ExitError {
    match (error.sqlite_error_code(), args.timeout) {
        (Some(rusqlite::ErrorCode::OperationInterrupted), Some(timeout)) => ExitError::failure(format!(
            "the query was stopped by --timeout after {:.1} s ({printed} row{} printed)",
            timeout.as_secs_f64(),
            if printed == 1 { "" } else { "s" }
        )),
        _ => ExitError::failure(format!("query failed: {error}")),
    }
}

/// Where rows go: stdout, in the chosen format.
struct Sink {
    out: BufWriter<StdoutLock<'static>>,
    columns: Vec<String>,
    format: Format,
}

enum Format {
    Json {
        first: bool,
    },
    JsonLines {
        keys: Vec<String>,
    },
    /// TSV (`csv: false`) or CSV rows with a header line, values whole.
    Separated {
        csv: bool,
    },
    Table(TableState),
}

struct TableState {
    /// Cells are cut to this many characters shown (on a terminal, without `--full`).
    cut_to: Option<usize>,
    /// The terminal's width, which the columns are narrowed to fit (without `--full`).
    fit_to: Option<usize>,
    any_cut: bool,
    /// Rows held until the column widths are known.
    measured: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    /// Rules and ellipses in ASCII (the locale is not UTF-8, or stdout is not a terminal).
    ascii: bool,
}

impl Sink {
    fn new(args: &QueryArgs, columns: Vec<String>, look: &Look) -> Self {
        let stdout = std::io::stdout();
        let on_terminal = stdout.is_terminal();
        let out = BufWriter::with_capacity(64 * 1024, stdout.lock());
        let chosen = if args.json { Some(TableFormat::Json) } else { args.format };
        let format = match (args.jsonl, look.format(chosen)) {
            (true, _) => Format::JsonLines { keys: distinct_keys(&columns) },
            (false, TableFormat::Json) => Format::Json { first: true },
            (false, TableFormat::Tsv) => Format::Separated { csv: false },
            (false, TableFormat::Csv) => Format::Separated { csv: true },
            (false, TableFormat::Table) => Format::Table(TableState {
                cut_to: (on_terminal && !args.full).then_some(TERMINAL_CELL_CHARS),
                fit_to: if on_terminal && !args.full { look.width.filter(|width| *width >= 20) } else { None },
                any_cut: false,
                measured: Vec::new(),
                widths: None,
                ascii: look.ascii,
            }),
        };
        let mut sink = Self { out, columns, format };
        match sink.format {
            Format::Json { .. } => {
                let header = serde_json::to_string(&sink.columns).expect("names serialize");
                sink.write(format!("{{\"schema\":\"hindcast.query/v1\",\"columns\":{header},\"rows\":[").as_bytes());
            }
            Format::Separated { csv } => {
                let header: Vec<String> = sink.columns.iter().map(|name| separated_field(name, csv)).collect();
                let line = format!("{}{}", header.join(if csv { "," } else { "\t" }), if csv { "\r\n" } else { "\n" });
                sink.write(line.as_bytes());
            }
            _ => {}
        }
        sink
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Err(error) = self.out.write_all(bytes) {
            exit_on_write_error(&error);
        }
    }

    fn flush(&mut self) {
        if let Err(error) = self.out.flush() {
            exit_on_write_error(&error);
        }
    }

    fn row(&mut self, values: &[ValueRef<'_>]) {
        let mut line = Vec::new();
        match &mut self.format {
            Format::Json { first } => {
                line.extend_from_slice(if *first { b"\n[" } else { b",\n[" });
                *first = false;
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        line.push(b',');
                    }
                    write_json_value(&mut line, *value);
                }
                line.push(b']');
            }
            Format::JsonLines { keys } => {
                line.push(b'{');
                for (index, (key, value)) in keys.iter().zip(values).enumerate() {
                    if index > 0 {
                        line.push(b',');
                    }
                    serde_json::to_writer(&mut line, key).expect("names serialize");
                    line.push(b':');
                    write_json_value(&mut line, *value);
                }
                line.extend_from_slice(b"}\n");
            }
            Format::Separated { csv } => {
                let csv = *csv;
                let fields: Vec<String> =
                    values.iter().map(|value| separated_field(&whole_value(*value), csv)).collect();
                line = format!("{}{}", fields.join(if csv { "," } else { "\t" }), if csv { "\r\n" } else { "\n" })
                    .into_bytes();
            }
            Format::Table(table) => {
                let cells: Vec<String> = values.iter().map(|value| table.cell(*value)).collect();
                if table.widths.is_none() {
                    table.measured.push(cells);
                    if table.measured.len() >= ROWS_MEASURED {
                        self.start_table();
                    }
                    return;
                }
                line = table.render(&cells).into_bytes();
            }
        }
        self.write(&line);
    }

    /// Prints the header and the rows held to measure the columns.
    fn start_table(&mut self) {
        let Format::Table(table) = &mut self.format else { return };
        let mut widths: Vec<usize> = self.columns.iter().map(|name| shown_on_one_line(name).width()).collect();
        for cells in &table.measured {
            for (width, cell) in widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.width().min(TERMINAL_CELL_CHARS));
            }
        }
        if let Some(columns) = table.fit_to {
            fit_widths(&mut widths, columns);
        }
        table.widths = Some(widths.clone());
        let header: Vec<String> = self.columns.iter().map(|name| shown_on_one_line(name).into_owned()).collect();
        let rule_char = if table.ascii { "-" } else { "─" };
        let rule: Vec<String> = widths.iter().map(|width| rule_char.repeat(*width)).collect();
        let mut text = table.render(&header);
        text.push_str(&table.render(&rule));
        for cells in std::mem::take(&mut table.measured) {
            text.push_str(&table.render(&cells));
        }
        self.write(text.as_bytes());
    }

    fn finish(mut self, printed: u64, more: u64, max_rows: Option<u64>) {
        let plural = |count: u64| if count == 1 { "" } else { "s" };
        let footer = match &self.format {
            Format::Json { first } => {
                let close = if *first { "]" } else { "\n]" };
                match max_rows {
                    Some(_) => format!("{close},\"more_rows\":{more}}}\n"),
                    None => format!("{close}}}\n"),
                }
            }
            Format::JsonLines { .. } | Format::Separated { .. } => {
                if more > 0 {
                    eprintln!("hindcast: {more} more row{} not printed (--max-rows)", plural(more));
                }
                String::new()
            }
            Format::Table(_) => {
                self.start_table();
                let Format::Table(table) = &self.format else { unreachable!("a table stays a table") };
                let mut footer = format!("({printed} row{}", plural(printed));
                if more > 0 {
                    footer.push_str(&format!(", and {more} more row{} not printed: --max-rows", plural(more)));
                }
                footer.push_str(")\n");
                if table.any_cut {
                    footer.push_str(&format!(
                        "(long values were cut to fit the terminal, and to {TERMINAL_CELL_CHARS} characters;\n --full prints them whole)\n"
                    ));
                }
                footer
            }
        };
        self.write(footer.as_bytes());
        self.flush();
    }
}

impl TableState {
    /// A value as one line of a table, control characters shown visibly, cut on a terminal.
    fn cell(&mut self, value: ValueRef<'_>) -> String {
        let text = match value {
            ValueRef::Null => return String::new(),
            ValueRef::Integer(integer) => return integer.to_string(),
            ValueRef::Real(real) => return real.to_string(),
            ValueRef::Text(text) => String::from_utf8_lossy(text),
            ValueRef::Blob(blob) => return format!("x'{}'", hex::encode(blob)),
        };
        let one_line = shown_on_one_line(&text);
        if let Some(limit) = self.cut_to
            && let Some((kept, _)) = shown_prefix(&one_line, limit.saturating_sub(1))
            && one_line.chars().nth(limit).is_some()
        {
            self.any_cut = true;
            return format!("{kept}…");
        }
        one_line.into_owned()
    }

    /// One table line: cells padded to their column's width, two spaces apart; on a terminal,
    /// a cell wider than its column is cut to it.
    fn render(&mut self, cells: &[String]) -> String {
        let widths = self.widths.clone().unwrap_or_default();
        let mut line = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            let fitted = match (self.fit_to, widths.get(index)) {
                (Some(_), Some(&width)) if cell.width() > width => {
                    self.any_cut = true;
                    cut_to_width(cell, width, self.ascii)
                }
                _ => cell.clone(),
            };
            let cell = &fitted;
            line.push_str(cell);
            if index + 1 < cells.len()
                && let Some(width) = widths.get(index)
            {
                line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.width())));
            }
        }
        line.push('\n');
        line
    }
}

/// Narrows the widest columns, a character at a time, until a line of them (two spaces apart)
/// fits `columns`; no column goes below 4.
fn fit_widths(widths: &mut [usize], columns: usize) {
    let gaps = 2 * widths.len().saturating_sub(1);
    while widths.iter().sum::<usize>() + gaps > columns {
        let Some(widest) = widths.iter_mut().max() else { return };
        if *widest <= 4 {
            return;
        }
        *widest -= 1;
    }
}

/// `text` (already as shown) cut to `width` display columns, ending in an ellipsis.
fn cut_to_width(text: &str, width: usize, ascii: bool) -> String {
    let ellipsis = if ascii { "..." } else { "…" };
    let mut kept = String::new();
    let mut used = 0;
    for c in text.chars() {
        let wide = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + wide + ellipsis.width() > width {
            break;
        }
        used += wide;
        kept.push(c);
    }
    kept.push_str(ellipsis);
    kept
}

/// A value whole, as TSV and CSV carry it (before escaping).
fn whole_value(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Integer(integer) => integer.to_string(),
        ValueRef::Real(real) => real.to_string(),
        ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned(),
        ValueRef::Blob(blob) => format!("x'{}'", hex::encode(blob)),
    }
}

fn separated_field(value: &str, csv: bool) -> String {
    if csv { crate::grid::csv_field(value) } else { crate::grid::tsv_field(value) }
}

/// Column names as JSON object keys, a repeated name numbered (`a`, `a:2`).
fn distinct_keys(columns: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::with_capacity(columns.len());
    for name in columns {
        let mut key = name.clone();
        let mut number = 1;
        while keys.contains(&key) {
            number += 1;
            key = format!("{name}:{number}");
        }
        keys.push(key);
    }
    keys
}

fn write_json_value(out: &mut Vec<u8>, value: ValueRef<'_>) {
    let written = match value {
        ValueRef::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        ValueRef::Integer(integer) => serde_json::to_writer(&mut *out, &integer),
        ValueRef::Real(real) => serde_json::to_writer(&mut *out, &real),
        ValueRef::Text(text) => serde_json::to_writer(&mut *out, &String::from_utf8_lossy(text)),
        ValueRef::Blob(blob) => serde_json::to_writer(&mut *out, &serde_json::json!({ "blob_hex": hex::encode(blob) })),
    };
    written.expect("values serialize into memory");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_a_terminal_the_widest_columns_narrow_to_fit_and_cells_are_cut_to_them() {
        let mut widths = vec![60, 55, 5, 24];
        fit_widths(&mut widths, 80);
        assert_eq!(widths.iter().sum::<usize>() + 6, 80);
        assert_eq!(widths[2], 5, "a narrow column keeps its width");
        let mut table = TableState {
            cut_to: None,
            fit_to: Some(20),
            any_cut: false,
            measured: Vec::new(),
            widths: Some(vec![5, 3]),
            ascii: false,
        };
        assert_eq!(table.render(&["abcdefgh".into(), "xy".into()]), "abcd…  xy\n");
        assert!(table.any_cut);
        assert_eq!(cut_to_width("日本語テキスト", 5, false), "日本…");
        assert_eq!(cut_to_width("abcdefgh", 6, true), "abc...");
    }

    #[test]
    fn repeated_column_names_get_numbered_keys() {
        let columns: Vec<String> = ["a", "b", "a", "a"].map(String::from).to_vec();
        assert_eq!(distinct_keys(&columns), ["a", "b", "a:2", "a:3"]);
    }

    #[test]
    fn cells_are_one_line_shown_visibly_and_cut_only_when_asked() {
        let mut table = TableState {
            cut_to: Some(10),
            fit_to: None,
            any_cut: false,
            measured: Vec::new(),
            widths: None,
            ascii: false,
        };
        assert_eq!(table.cell(ValueRef::Text(b"a\nb\x1b[2J")), "a\\nb\\e[2J");
        assert!(!table.any_cut);
        assert_eq!(table.cell(ValueRef::Text(b"0123456789abc")), "012345678…");
        assert!(table.any_cut);
        let mut whole =
            TableState { cut_to: None, fit_to: None, any_cut: false, measured: Vec::new(), widths: None, ascii: false };
        assert_eq!(whole.cell(ValueRef::Text(b"0123456789abc")), "0123456789abc");
        assert_eq!(whole.cell(ValueRef::Null), "");
        assert_eq!(whole.cell(ValueRef::Blob(&[1, 255])), "x'01ff'");
        whole.widths = Some(vec![3, 2]);
        assert_eq!(whole.render(&["a".into(), "bb".into()]), "a    bb\n");
    }
}
