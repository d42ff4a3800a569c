//! Questions `hindcast init` asks: numbered line prompts (simple terminals, pipes, tests) or
//! arrow-key pickers on a real terminal. EOF or Ctrl-C at any prompt cancels.

use std::io::{BufRead, Write};

/// The user cancelled a prompt (EOF, Ctrl-C, Esc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// How much history to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Days(u32),
    All,
}

impl Retention {
    /// Parses `90` or `all`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(Retention::All);
        }
        match text.parse::<u32>() {
            Ok(days) if days > 0 => Ok(Retention::Days(days)),
            _ => Err(format!("'{text}' is not a number of days (1 or more) or 'all'")),
        }
    }

    /// The config value: days, or none for all history.
    pub fn days(self) -> Option<u32> {
        match self {
            Retention::Days(days) => Some(days),
            Retention::All => None,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Retention::Days(days) => format!("the last {days} days"),
            Retention::All => "all history".into(),
        }
    }
}

/// The questions of `init`.
pub trait Prompter {
    /// Which of `options` to use; returns their indices. `defaults` marks the preselected ones.
    fn choose(&mut self, question: &str, options: &[String], defaults: &[bool]) -> Result<Vec<usize>, Cancelled>;
    /// How much history to import.
    fn retention(&mut self, default: Retention) -> Result<Retention, Cancelled>;
    /// A yes/no question.
    fn confirm(&mut self, question: &str, default: bool) -> Result<bool, Cancelled>;
}

/// Numbered prompts over any reader and writer.
pub struct LinePrompter<R, W> {
    input: R,
    output: W,
}

impl<R: BufRead, W: Write> LinePrompter<R, W> {
    pub fn new(input: R, output: W) -> Self {
        Self { input, output }
    }

    /// The writer, with everything the prompts wrote.
    #[cfg(test)]
    pub fn into_output(self) -> W {
        self.output
    }

    fn ask(&mut self, prompt: &str) -> Result<String, Cancelled> {
        let _ = write!(self.output, "{prompt}");
        let _ = self.output.flush();
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = writeln!(self.output);
                Err(Cancelled)
            }
            Ok(_) => Ok(line.trim().to_string()),
        }
    }
}

const ATTEMPTS: usize = 5;

impl<R: BufRead, W: Write> Prompter for LinePrompter<R, W> {
    fn choose(&mut self, question: &str, options: &[String], defaults: &[bool]) -> Result<Vec<usize>, Cancelled> {
        let _ = writeln!(self.output, "{question}");
        for (index, option) in options.iter().enumerate() {
            let mark = if defaults.get(index).copied().unwrap_or(false) { "x" } else { " " };
            let _ = writeln!(self.output, "  {}. [{mark}] {option}", index + 1);
        }
        for _ in 0..ATTEMPTS {
            let answer = self.ask("Numbers separated by commas (Enter keeps the marked ones): ")?;
            if answer.is_empty() {
                return Ok((0..options.len()).filter(|index| defaults.get(*index).copied().unwrap_or(false)).collect());
            }
            let chosen: Result<Vec<usize>, ()> = answer
                .split([',', ' '])
                .filter(|part| !part.is_empty())
                .map(|part| {
                    part.parse::<usize>().ok().filter(|n| (1..=options.len()).contains(n)).map(|n| n - 1).ok_or(())
                })
                .collect();
            match chosen {
                Ok(mut chosen) if !chosen.is_empty() => {
                    chosen.sort_unstable();
                    chosen.dedup();
                    return Ok(chosen);
                }
                _ => {
                    let _ = writeln!(self.output, "Please answer with numbers from 1 to {}.", options.len());
                }
            }
        }
        Err(Cancelled)
    }

    fn retention(&mut self, default: Retention) -> Result<Retention, Cancelled> {
        let shown = match default {
            Retention::Days(days) => days.to_string(),
            Retention::All => "all".into(),
        };
        for _ in 0..ATTEMPTS {
            let answer = self.ask(&format!("How much history to import, in days or 'all' [{shown}]: "))?;
            if answer.is_empty() {
                return Ok(default);
            }
            match Retention::parse(&answer) {
                Ok(retention) => return Ok(retention),
                Err(error) => {
                    let _ = writeln!(self.output, "{error}");
                }
            }
        }
        Err(Cancelled)
    }

    fn confirm(&mut self, question: &str, default: bool) -> Result<bool, Cancelled> {
        let hint = if default { "[Y/n]" } else { "[y/N]" };
        for _ in 0..ATTEMPTS {
            match self.ask(&format!("{question} {hint} "))?.to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => {
                    let _ = writeln!(self.output, "Please answer y or n.");
                }
            }
        }
        Err(Cancelled)
    }
}

/// Arrow-key and space pickers on a real terminal.
pub struct TerminalPrompter;

impl Prompter for TerminalPrompter {
    fn choose(&mut self, question: &str, options: &[String], defaults: &[bool]) -> Result<Vec<usize>, Cancelled> {
        dialoguer::MultiSelect::new()
            .with_prompt(format!("{question} (space toggles, enter accepts)"))
            .items(options)
            .defaults(defaults)
            .interact_opt()
            .ok()
            .flatten()
            .ok_or(Cancelled)
    }

    fn retention(&mut self, default: Retention) -> Result<Retention, Cancelled> {
        let shown = match default {
            Retention::Days(days) => days.to_string(),
            Retention::All => "all".into(),
        };
        let answer: String = dialoguer::Input::new()
            .with_prompt("How much history to import, in days or 'all'")
            .default(shown)
            .validate_with(|text: &String| Retention::parse(text).map(|_| ()))
            .interact_text()
            .map_err(|_| Cancelled)?;
        Retention::parse(&answer).map_err(|_| Cancelled)
    }

    fn confirm(&mut self, question: &str, default: bool) -> Result<bool, Cancelled> {
        dialoguer::Confirm::new().with_prompt(question).default(default).interact_opt().ok().flatten().ok_or(Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripted(input: &str) -> LinePrompter<&[u8], Vec<u8>> {
        LinePrompter::new(input.as_bytes(), Vec::new())
    }

    #[test]
    fn numbered_choices_defaults_and_retries() {
        let options = ["claude".to_string(), "codex".to_string(), "legacy".to_string()];
        assert_eq!(scripted("1, 3\n").choose("Pick", &options, &[true, true, false]), Ok(vec![0, 2]));
        assert_eq!(scripted("\n").choose("Pick", &options, &[true, false, true]), Ok(vec![0, 2]));
        assert_eq!(scripted("7\nx\n2\n").choose("Pick", &options, &[false; 3]), Ok(vec![1]));
        assert_eq!(scripted("").choose("Pick", &options, &[true; 3]), Err(Cancelled), "EOF cancels");
    }

    #[test]
    fn retention_and_confirmation() {
        assert_eq!(scripted("\n").retention(Retention::Days(90)), Ok(Retention::Days(90)));
        assert_eq!(scripted("all\n").retention(Retention::Days(90)), Ok(Retention::All));
        assert_eq!(scripted("0\n30\n").retention(Retention::All), Ok(Retention::Days(30)));
        assert_eq!(scripted("\n").confirm("Go?", true), Ok(true));
        assert_eq!(scripted("maybe\nn\n").confirm("Go?", true), Ok(false));
        assert_eq!(scripted("").confirm("Go?", true), Err(Cancelled));
    }
}
