//! `cargo xtask`: hermetic smoke suites, tidy checks and the CI entry point.

mod bench;
mod ci;
mod man;
mod serve_client;
mod smoke;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "hindcast developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run hermetic end-to-end suites against the real binary (all suites when none is named).
    Smoke {
        /// Suites to run; `cargo xtask smoke --list` names them.
        suites: Vec<String>,
        /// List the suites and exit.
        #[arg(long)]
        list: bool,
    },
    /// Check the repository's conventions.
    Tidy,
    /// Write the man pages (`hindcast.1` and one per subcommand) from the command line's definition.
    Man {
        /// Where to write them.
        #[arg(long, default_value = "target/man")]
        out: PathBuf,
    },
    /// Fuzz each provider's parser with mutated fixture and corpus files for a fixed time.
    Fuzz {
        /// Seconds per provider.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Everything CI runs: fmt, clippy, tests, feature matrix, tidy, smokes, 36 s of fuzzing per provider.
    Ci,
    /// Generate a synthetic corpus and measure hindcast against the parse ceiling and peers.
    Bench {
        /// Which corpus: generated, or the shared corpora amplified.
        #[arg(long, value_enum, default_value = "synthetic")]
        corpus: bench::CorpusKind,
        /// Corpus size, e.g. 100MB, 500MB, 1GB.
        #[arg(long, default_value = "500MB")]
        size: String,
        /// Runs per figure (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Do not install or run ccusage and agentsview.
        #[arg(long)]
        no_peers: bool,
        /// Where to write the JSON results [default: target/bench/bench-<size>MB[-real].json].
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Keep the generated corpus and store in this directory (for profiling).
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
        /// Also measure the imports of the hindcast built from this git revision (e.g. the commit
        /// before a change), on the same corpus in the same run.
        #[arg(long, value_name = "REV")]
        baseline: Option<String>,
        /// Instead of the usual figures, import each client's format alone (Claude, Gemini CLI)
        /// at the same size, cold, and compare their MB/s.
        #[arg(long)]
        formats: bool,
        /// Instead of the usual figures, time the pages of `hindcast serve` over the corpus's
        /// store (kept in `--keep DIR` between runs) and its peak memory.
        #[arg(long, conflicts_with = "formats")]
        serve: bool,
    },
    /// Write the README's screenshots (`docs/screenshots/`) of each page of `hindcast serve` over the
    /// project's fixtures, in headless Chromium.
    Screenshots,
    /// Rebuild `fixtures/upgrade/v<N>-store.sqlite`: the store the previous release (`--previous`, a
    /// `hindcast` binary built from it; N its schema version) writes from the upgrade smoke's corpus.
    UpgradeFixture {
        #[arg(long, value_name = "BIN")]
        previous: std::path::PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Smoke { suites, list } => smoke::run(&suites, list),
        Task::Tidy => tidy::run(),
        Task::Screenshots => smoke::screenshots(),
        Task::UpgradeFixture { previous } => smoke::build_upgrade_fixture(&previous),
        Task::Fuzz { seconds } => ci::fuzz(seconds),
        Task::Ci => ci::run(),
        Task::Man { out } => {
            let out = workspace_root().join(out);
            man::write(&out).map(|pages| eprintln!("man: {} pages in {}", pages.len(), out.display()))
        }
        Task::Bench { corpus, size, runs, no_peers, out, keep, baseline, formats, serve } => {
            let options = bench::BenchOptions {
                corpus,
                size_bytes: bench::parse_size(&size)?,
                runs,
                peers: !no_peers,
                out,
                keep,
                baseline,
            };
            if serve {
                bench::serve::run(&options)
            } else if formats {
                bench::formats(&options)
            } else {
                bench::run(&options)
            }
        }
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}

/// `../shared` beside the repository (the corpus and spec), when present.
pub fn shared_dir() -> PathBuf {
    workspace_root().join("../shared")
}

/// Runs a command in the workspace root, echoing it, and fails when it fails.
pub fn run_command(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let mut command = Command::new(program);
    command.args(args).current_dir(workspace_root());
    for (key, value) in env {
        command.env(key, value);
    }
    let status = command.status().with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// `command` run under `/usr/bin/time`, which writes its peak RSS in KB to `rss_file`; the wrapper
/// gets the command's variables over a clean environment (PATH only).
pub fn with_peak_rss(command: &Command, rss_file: &Path) -> Command {
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-f").arg("%M").arg("-o").arg(rss_file).arg(command.get_program()).args(command.get_args());
    wrapped.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// The peak RSS in KB that `/usr/bin/time` wrote to `rss_file`.
pub fn read_peak_rss_kb(rss_file: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(rss_file).with_context(|| format!("reading {}", rss_file.display()))?;
    let last = text.lines().last().unwrap_or("").trim();
    last.parse().with_context(|| format!("peak RSS from /usr/bin/time: {text:?}"))
}
