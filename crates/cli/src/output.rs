//! Writing results: stdout that survives a closed pipe, human text with no raw control characters
//! (see `terminal`), exact JSON documents (tables are `grid`'s).

use std::io::Write;

use serde::Serialize;

/// Writes human-readable `text` to stdout, every control character but newline and tab shown
/// visibly. A closed pipe (`hindcast ... | head`) ends the process with exit 0.
pub fn print_stdout(text: &str) {
    print_exact(&crate::terminal::shown(text));
}

/// Writes `text` to stdout as it is (JSON, whose strings escape control characters).
pub fn print_exact(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
    if let Err(error) = result {
        exit_on_write_error(&error);
    }
}

/// Ends the process after stdout failed: exit 0 for a closed pipe, else a message and exit 1.
pub fn exit_on_write_error(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("hindcast: cannot write to stdout: {error}");
    std::process::exit(i32::from(crate::exit::FAILURE));
}

/// Shows human-readable `text` through the pager when stdout is a terminal: `$PAGER` (a
/// command and its arguments), else `less -FRX` (which exits at once when the text fits the
/// screen, and keeps what was shown). `false` when there is no terminal or no pager to run: the
/// caller prints it itself.
pub fn through_pager(context: &crate::commands::Context, text: &str) -> bool {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return false;
    }
    let pager = context.env.var("PAGER").map(str::trim).filter(|pager| !pager.is_empty()).unwrap_or("less -FRX");
    let mut words = pager.split_whitespace();
    let Some(program) = words.next() else { return false };
    let Ok(mut child) = std::process::Command::new(program).args(words).stdin(std::process::Stdio::piped()).spawn()
    else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit early closes the pipe: not an error.
        let _ = stdin.write_all(crate::terminal::shown(text).as_bytes());
    }
    let _ = child.wait();
    true
}

/// Prints one pretty JSON document followed by a newline.
pub fn print_json<T: Serialize>(document: &T) {
    let mut text = serde_json::to_string_pretty(document).expect("output documents serialize");
    text.push('\n');
    print_exact(&text);
}

/// Formats a byte count for humans.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Formats milliseconds for humans.
pub fn human_millis(millis: u64) -> String {
    if millis < 1000 { format!("{millis} ms") } else { format!("{:.1} s", millis as f64 / 1000.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizes_sizes_and_durations() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(7_100_000), "7.1 MB");
        assert_eq!(human_millis(12), "12 ms");
        assert_eq!(human_millis(1500), "1.5 s");
    }
}
