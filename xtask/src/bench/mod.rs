//! `cargo xtask bench`: generates a synthetic corpus (or amplifies the shared corpora) and measures
//! hindcast against the parse-only ceiling and peers (ccusage, agentsview) in one run; prints a
//! table and writes JSON.

pub mod amplify;
pub mod generate;
pub mod serve;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::{run_command, workspace_root};

/// The prompt the search figures look for, appended to every 50th Claude session.
pub const PLANTED_PROMPT: &str = "why does zebrafish_migration fail with ERR_QUOTA_7731 in 最新の状態";

/// Which corpus a bench run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CorpusKind {
    /// Generated transcripts with the size profile of real histories.
    Synthetic,
    /// The shared corpora's real files, copied with fresh ids and shifted times.
    Real,
}

/// Options of one bench run.
pub struct BenchOptions {
    pub corpus: CorpusKind,
    pub size_bytes: u64,
    pub runs: usize,
    pub peers: bool,
    pub out: Option<PathBuf>,
    /// Keep the corpus and store here (for profiling) instead of a temporary directory.
    pub keep: Option<PathBuf>,
    /// A git revision whose hindcast's imports are measured beside this one's.
    pub baseline: Option<String>,
}

/// Builds the hindcast of git revision `rev` (release) in a worktree under `target/bench`.
fn build_baseline(rev: &str) -> Result<PathBuf> {
    let commit = String::from_utf8(
        Command::new("git").args(["rev-parse", "--short=12", rev]).current_dir(workspace_root()).output()?.stdout,
    )?
    .trim()
    .to_string();
    anyhow::ensure!(!commit.is_empty(), "no git revision {rev}");
    let dir = workspace_root().join(format!("target/bench/baseline-{commit}"));
    if !dir.exists() {
        run_command("git", &["worktree", "add", "--detach", &dir.display().to_string(), &commit], &[])?;
    }
    let manifest = dir.join("Cargo.toml");
    run_command(
        "cargo",
        &["build", "--release", "-q", "-p", "hindcast-cli", "--manifest-path", &manifest.display().to_string()],
        &[],
    )?;
    Ok(dir.join("target/release/hindcast"))
}

/// Parses `500MB`, `1GB`, `100mb`, `2.5GB`.
pub fn parse_size(text: &str) -> Result<u64> {
    let upper = text.trim().to_ascii_uppercase();
    let (number, unit) = upper.split_at(upper.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(upper.len()));
    let value: f64 = number.trim().parse().with_context(|| format!("'{text}' is not a size like 500MB"))?;
    let factor = match unit {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => bail!("'{text}': unknown unit (use KB, MB or GB)"),
    };
    Ok((value * factor) as u64)
}

/// One measured command.
struct Measure {
    name: String,
    wall: Vec<Duration>,
    peak_rss_kb: Vec<u64>,
    bytes: Option<u64>,
}

impl Measure {
    fn median(&self) -> Duration {
        let mut sorted = self.wall.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    }

    fn peak_rss_mb(&self) -> f64 {
        self.peak_rss_kb.iter().copied().max().unwrap_or(0) as f64 / 1024.0
    }

    fn throughput(&self) -> Option<f64> {
        self.bytes.map(|bytes| bytes as f64 / 1e6 / self.median().as_secs_f64())
    }
}

/// Runs `command` once under `/usr/bin/time` in a clean environment (PATH plus the command's own
/// variables); returns its wall time and peak RSS in KB.
fn timed(command: Command) -> Result<(Duration, u64)> {
    timed_with_stdin(command, None)
}

/// [`timed`], with the file `input` on the command's stdin.
fn timed_with_stdin(command: Command, input: Option<&Path>) -> Result<(Duration, u64)> {
    let rss_file = tempfile::NamedTempFile::new()?;
    let program = command.get_program().to_os_string();
    let mut wrapped = crate::with_peak_rss(&command, rss_file.path());
    wrapped.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    if let Some(input) = input {
        wrapped.stdin(std::fs::File::open(input)?);
    }
    let started = Instant::now();
    let output = wrapped.output().with_context(|| format!("running {program:?}"))?;
    let wall = started.elapsed();
    if !output.status.success() {
        bail!("{program:?} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok((wall, crate::read_peak_rss_kb(rss_file.path())?))
}

/// Reads and JSON-parses every line of every file on all cores: the physical ceiling.
fn parse_only(root: &Path) -> Result<usize> {
    let files: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file() && entry.path().extension().is_some_and(|ext| ext == "jsonl"))
        .map(|entry| entry.into_path())
        .collect();
    let lines: usize = files
        .par_iter()
        .map(|path| {
            let mut reader =
                std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(path).expect("generated file opens"));
            let mut buffer = Vec::new();
            let mut count = 0;
            while reader.read_until(b'\n', &mut buffer).expect("generated file reads") > 0 {
                if serde_json::from_slice::<serde::de::IgnoredAny>(&buffer).is_ok() {
                    count += 1;
                }
                buffer.clear();
            }
            count
        })
        .sum();
    Ok(lines)
}

struct Peers {
    ccusage: Option<PathBuf>,
    agentsview: Option<PathBuf>,
    notes: Vec<String>,
}

/// Installs ccusage 20.0.24 (npm) and agentsview 0.46.1 (pip, in a venv) under `target/bench/peers`.
fn install_peers(enabled: bool) -> Peers {
    let mut peers = Peers { ccusage: None, agentsview: None, notes: Vec::new() };
    if !enabled {
        peers.notes.push("peers skipped (--no-peers)".into());
        return peers;
    }
    let dir = workspace_root().join("target/bench/peers");
    let _ = std::fs::create_dir_all(&dir);
    let ccusage = dir.join("node_modules/.bin/ccusage");
    if !ccusage.exists() {
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-fund", "--no-audit", "ccusage@20.0.24"])
            .current_dir(&dir)
            .status();
        if !matches!(status, Ok(status) if status.success()) {
            peers.notes.push("ccusage skipped: `npm install ccusage@20.0.24` failed".into());
        }
    }
    if ccusage.exists() {
        peers.ccusage = Some(ccusage);
    }
    let agentsview = dir.join("venv/bin/agentsview");
    if !agentsview.exists() {
        let created = Command::new("python3").args(["-m", "venv", "venv"]).current_dir(&dir).status();
        let installed = created.ok().filter(|status| status.success()).and_then(|_| {
            Command::new(dir.join("venv/bin/pip")).args(["install", "-q", "agentsview==0.46.1"]).status().ok()
        });
        if !matches!(installed, Some(status) if status.success()) {
            peers.notes.push("agentsview skipped: `pip install agentsview==0.46.1` failed".into());
        }
    }
    if agentsview.exists() {
        peers.agentsview = Some(agentsview);
    }
    peers
}

/// A bench run's working directory — `--keep DIR`, or a temporary one removed at the end — with
/// the corpus under `data`, a HOME and the store.
struct Scratch {
    _temporary: tempfile::TempDir,
    dir: PathBuf,
    data: PathBuf,
    home: PathBuf,
    db: PathBuf,
}

impl Scratch {
    fn new(options: &BenchOptions) -> Result<Self> {
        let temporary = tempfile::Builder::new().prefix("hindcast-bench-").tempdir()?;
        let dir = options.keep.clone().unwrap_or_else(|| temporary.path().to_path_buf());
        let (data, home, db) = (dir.join("data"), dir.join("home"), dir.join("hindcast.db"));
        std::fs::create_dir_all(&home)?;
        Ok(Self { _temporary: temporary, dir, data, home, db })
    }
}

/// `--formats`: each client's format imported alone, cold, into a fresh store — Claude (the
/// default mix's Claude part), Gemini CLI and OpenCode (as many bytes; OpenCode's measured as
/// its database file) — with the MB/s of each and their ratios to Claude's. The default figures stay comparable across commits: this mode is separate.
pub fn formats(options: &BenchOptions) -> Result<()> {
    run_command("cargo", &["build", "--release", "-q", "-p", "hindcast-cli"], &[])?;
    let hindcast = workspace_root().join("target/release/hindcast");
    let scratch = Scratch::new(options)?;
    let (data, home, db) = (scratch.data.clone(), scratch.home.clone(), scratch.db.clone());
    let corpus = generate::generate(&data, options.size_bytes, 0x4849_4E44)?;
    let claude_bytes: u64 = walkdir::WalkDir::new(data.join("claude"))
        .into_iter()
        .flatten()
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.metadata().map_or(0, |metadata| metadata.len()))
        .sum();
    let (gemini_bytes, gemini_files) = generate::generate_gemini(&data, claude_bytes, 0x4745_4D49)?;
    let (opencode_bytes, opencode_sessions) = generate::generate_opencode(&data, claude_bytes, 0x4F50_454E)?;
    eprintln!(
        "bench formats: Claude {:.1} MB ({} sessions), Gemini CLI {:.1} MB ({gemini_files} sessions), \
         OpenCode {:.1} MB database ({opencode_sessions} sessions)",
        claude_bytes as f64 / 1e6,
        corpus.claude_files.len(),
        gemini_bytes as f64 / 1e6,
        opencode_bytes as f64 / 1e6
    );
    let mut measures = Vec::new();
    for (client, bytes) in [("claude", claude_bytes), ("gemini", gemini_bytes), ("opencode", opencode_bytes)] {
        let mut measure = Measure {
            name: format!("hindcast backfill {client}, cold"),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: Some(bytes),
        };
        // Interleaved with the other format would be fairer on a noisy machine, but each run
        // needs its own fresh store; the runs of one format follow each other instead.
        for _ in 0..options.runs.max(1) {
            for suffix in ["", "-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            let mut command = Command::new(&hindcast);
            command
                .args(["backfill", client])
                .env("HOME", &home)
                .env("CLAUDE_CONFIG_DIR", data.join("claude"))
                .env("CODEX_HOME", data.join("codex"))
                .env("HINDCAST_GEMINI_DIR", data.join("gemini"))
                .env("HINDCAST_OPENCODE_DIR", data.join("opencode"))
                .env("HINDCAST_DB", &db)
                .env("HINDCAST_EVENTS", "off");
            let (wall, rss) = timed(command)?;
            measure.wall.push(wall);
            measure.peak_rss_kb.push(rss);
        }
        eprintln!(
            "{:<36} median {:>7.2} s  {:>6.1} MB/s  peak {:>6.0} MB",
            measure.name,
            measure.median().as_secs_f64(),
            measure.throughput().unwrap_or(0.0),
            measure.peak_rss_mb()
        );
        measures.push(measure);
    }
    let ratio = |at: usize| measures[at].throughput().unwrap_or(0.0) / measures[0].throughput().unwrap_or(f64::NAN);
    let (gemini_ratio, opencode_ratio) = (ratio(1), ratio(2));
    eprintln!(
        "Gemini CLI / Claude MB/s: {gemini_ratio:.2}; OpenCode / Claude MB/s: {opencode_ratio:.2} (target ≥ 1.00)"
    );
    let out = options.out.clone().unwrap_or_else(|| {
        workspace_root().join(format!("target/bench/formats-{}MB.json", options.size_bytes / 1_000_000))
    });
    std::fs::create_dir_all(out.parent().context("an output directory")?)?;
    let figures: Vec<Value> = measures
        .iter()
        .map(|measure| {
            json!({
                "name": measure.name,
                "runs_s": measure.wall.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
                "median_s": measure.median().as_secs_f64(),
                "mb_per_s": measure.throughput(),
                "peak_rss_mb": measure.peak_rss_mb(),
            })
        })
        .collect();
    let document = json!({
        "formats": figures,
        "gemini_vs_claude_mb_per_s": gemini_ratio,
        "opencode_vs_claude_mb_per_s": opencode_ratio,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&document)?)?;
    eprintln!("bench formats: wrote {}", out.display());
    Ok(())
}

pub fn run(options: &BenchOptions) -> Result<()> {
    run_command("cargo", &["build", "--release", "-q", "-p", "hindcast-cli"], &[])?;
    let hindcast = workspace_root().join("target/release/hindcast");
    let scratch_dir = Scratch::new(options)?;
    let scratch = scratch_dir.dir.as_path();
    let (data, home) = (scratch_dir.data.clone(), scratch_dir.home.clone());

    eprintln!("bench: writing {} MB of {:?} transcripts ...", options.size_bytes / 1_000_000, options.corpus);
    let started = Instant::now();
    let corpus = match options.corpus {
        CorpusKind::Synthetic => generate::generate(&data, options.size_bytes, 0x4849_4E44)?,
        CorpusKind::Real => amplify::amplify(&data, options.size_bytes)?,
    };
    eprintln!(
        "bench: {} Claude + {} Codex files, {:.1} MB in {:.1?}",
        corpus.claude_files.len(),
        corpus.codex_files.len(),
        corpus.bytes as f64 / 1e6,
        started.elapsed()
    );
    let peers = install_peers(options.peers);
    let db = scratch_dir.db.clone();
    let hindcast_command = |args: &[&str]| {
        let mut command = Command::new(&hindcast);
        command
            .args(args)
            .env("HOME", &home)
            .env("CLAUDE_CONFIG_DIR", data.join("claude"))
            .env("CODEX_HOME", data.join("codex"))
            .env("HINDCAST_DB", &db)
            .env("HINDCAST_EVENTS", "off");
        command
    };
    let mut measures: Vec<Measure> = Vec::new();
    let runs = options.runs.max(1);

    // The baseline's imports first, on the corpus as generated (its store is thrown away).
    if let Some(rev) = &options.baseline {
        let baseline = build_baseline(rev)?;
        let baseline_db = scratch.join("baseline.db");
        let command = |args: &[&str]| {
            let mut command = Command::new(&baseline);
            command
                .args(args)
                .env("HOME", &home)
                .env("CLAUDE_CONFIG_DIR", data.join("claude"))
                .env("CODEX_HOME", data.join("codex"))
                .env("HINDCAST_DB", &baseline_db)
                .env("HINDCAST_EVENTS", "off");
            command
        };
        let mut cold = Measure {
            name: format!("baseline {rev}: backfill, cold"),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: Some(corpus.bytes),
        };
        for _ in 0..runs {
            for suffix in ["", "-wal", "-shm", ".lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", baseline_db.display()));
            }
            let (wall, rss) = timed(command(&["backfill", "claude", "codex"]))?;
            cold.wall.push(wall);
            cold.peak_rss_kb.push(rss);
        }
        measures.push(cold);
        let mut append = Measure {
            name: format!("baseline {rev}: backfill after appending to 10 files"),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: None,
        };
        for round in 0..runs {
            generate::append_turns(&corpus, 10, 500 + round as u64)?;
            let (wall, rss) = timed(command(&["backfill", "claude", "codex"]))?;
            append.wall.push(wall);
            append.peak_rss_kb.push(rss);
        }
        measures.push(append);
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", baseline_db.display()));
        }
    }

    let mut measure = Measure {
        name: "parse-only ceiling (read + JSON-parse every line, all cores)".into(),
        wall: vec![],
        peak_rss_kb: vec![],
        bytes: Some(corpus.bytes),
    };
    for _ in 0..runs {
        let started = Instant::now();
        parse_only(&data)?;
        measure.wall.push(started.elapsed());
    }
    measures.push(measure);

    let mut cold = Measure {
        name: "hindcast backfill, cold (empty store)".into(),
        wall: vec![],
        peak_rss_kb: vec![],
        bytes: Some(corpus.bytes),
    };
    for _ in 0..runs {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let (wall, rss) = timed(hindcast_command(&["backfill", "claude", "codex"]))?;
        cold.wall.push(wall);
        cold.peak_rss_kb.push(rss);
    }
    measures.push(cold);
    let store_mb = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;

    let mut warm = Measure {
        name: "hindcast backfill, warm rerun (unchanged)".into(),
        wall: vec![],
        peak_rss_kb: vec![],
        bytes: Some(corpus.bytes),
    };
    for _ in 0..runs {
        let (wall, rss) = timed(hindcast_command(&["backfill", "claude", "codex"]))?;
        warm.wall.push(wall);
        warm.peak_rss_kb.push(rss);
    }
    measures.push(warm);

    let mut append = Measure {
        name: "hindcast backfill after appending a turn to 10 files".into(),
        wall: vec![],
        peak_rss_kb: vec![],
        bytes: None,
    };
    for round in 0..runs {
        generate::append_turns(&corpus, 10, round as u64)?;
        let (wall, rss) = timed(hindcast_command(&["backfill", "claude", "codex"]))?;
        append.wall.push(wall);
        append.peak_rss_kb.push(rss);
    }
    measures.push(append);

    // Search: a rare word, a common one, an identifier's substring, CJK text, a filtered query.
    let planted = generate::append_prompts(&corpus, 50, PLANTED_PROMPT)?;
    hindcast_command(&["backfill", "claude", "codex"]).output()?;
    let index = search_index_size(&db)?;
    for (label, args) in [
        ("a rare word", &["search", "--json", "zebrafish_migration"][..]),
        ("a common word", &["search", "--json", "parser"]),
        ("a phrase of common words", &["search", "--json", "\"the parser returns\""]),
        ("an identifier's substring", &["search", "--json", "QUOTA_77"]),
        ("CJK text", &["search", "--json", "最新の状態"]),
        (
            "filtered (client, since, role)",
            &[
                "search",
                "--json",
                "--client",
                "claude",
                "--since",
                "2026-08-01",
                "--role",
                "user",
                "zebrafish_migration",
            ],
        ),
    ] {
        let mut measure =
            Measure { name: format!("hindcast search, {label}"), wall: vec![], peak_rss_kb: vec![], bytes: None };
        for _ in 0..runs.max(5) {
            let (wall, rss) = timed(hindcast_command(args))?;
            measure.wall.push(wall);
            measure.peak_rss_kb.push(rss);
        }
        measures.push(measure);
    }

    // Every report, in three zones (a whole-hour, a DST-changing and a quarter-hour offset).
    for report in ["daily", "weekly", "monthly", "sessions", "projects", "blocks", "limits"] {
        let mut measure = Measure {
            name: format!("hindcast stats {report} --json (UTC, Los Angeles, Kathmandu)"),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: None,
        };
        for zone in ["UTC", "America/Los_Angeles", "Asia/Kathmandu"] {
            for _ in 0..runs {
                let (wall, rss) = timed(hindcast_command(&["stats", report, "--timezone", zone, "--json"]))?;
                measure.wall.push(wall);
                measure.peak_rss_kb.push(rss);
            }
        }
        measures.push(measure);
    }

    // The status line of a live session: a turn appended before every call.
    let live = corpus.claude_files.first().context("a Claude transcript")?;
    let payload = scratch.join("statusline.json");
    std::fs::write(
        &payload,
        json!({
            "session_id": live.file_stem().map(|stem| stem.to_string_lossy().into_owned()),
            "transcript_path": live,
            "cwd": home,
            "model": { "id": "claude-sonnet-4-5-20250929", "display_name": "Sonnet 4.5" },
            "workspace": { "current_dir": home, "project_dir": home },
        })
        .to_string(),
    )?;
    let statusline_runs = runs.max(10);
    let mut statusline = Measure {
        name: "hindcast statusline, live session (a turn appended per call)".into(),
        wall: vec![],
        peak_rss_kb: vec![],
        bytes: None,
    };
    for round in 0..statusline_runs {
        generate::append_turns(&corpus, 1, 1_000 + round as u64)?;
        let (wall, rss) = timed_with_stdin(hindcast_command(&["statusline"]), Some(&payload))?;
        statusline.wall.push(wall);
        statusline.peak_rss_kb.push(rss);
    }
    measures.push(statusline);

    let mut notes = peers.notes.clone();
    if let Some(ccusage) = &peers.ccusage {
        let mut measure = Measure {
            name: "ccusage 20.0.24 statusline --offline, same session".into(),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: None,
        };
        for round in 0..statusline_runs {
            generate::append_turns(&corpus, 1, 2_000 + round as u64)?;
            let mut command = Command::new(ccusage);
            command
                .args(["statusline", "--offline"])
                .env("HOME", &home)
                .env("CLAUDE_CONFIG_DIR", data.join("claude"))
                .env("LOG_LEVEL", "0")
                .env("NO_COLOR", "1")
                .env("TZ", "UTC");
            match timed_with_stdin(command, Some(&payload)) {
                Ok((wall, rss)) => {
                    measure.wall.push(wall);
                    measure.peak_rss_kb.push(rss);
                }
                Err(error) => {
                    notes.push(format!("ccusage statusline failed: {error:#}"));
                    break;
                }
            }
        }
        if !measure.wall.is_empty() {
            measures.push(measure);
        }
    }
    if let Some(ccusage) = &peers.ccusage {
        let mut measure = Measure {
            name: "ccusage 20.0.24 daily --offline --json".into(),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: Some(corpus.bytes),
        };
        for _ in 0..runs {
            let mut command = Command::new(ccusage);
            command
                .args(["daily", "--offline", "--json"])
                .env("HOME", &home)
                .env("CLAUDE_CONFIG_DIR", data.join("claude"))
                .env("CODEX_HOME", data.join("codex"))
                .env("LOG_LEVEL", "0")
                .env("NO_COLOR", "1")
                .env("TZ", "UTC");
            match timed(command) {
                Ok((wall, rss)) => {
                    measure.wall.push(wall);
                    measure.peak_rss_kb.push(rss);
                }
                Err(error) => {
                    notes.push(format!("ccusage failed: {error:#}"));
                    break;
                }
            }
        }
        if !measure.wall.is_empty() {
            measures.push(measure);
        }
    }
    if let Some(agentsview) = &peers.agentsview {
        let av_data = scratch.join("avdata");
        let command = || {
            let mut command = Command::new(agentsview);
            command
                .arg("sync")
                .env("HOME", &home)
                .env("AGENTSVIEW_DATA_DIR", &av_data)
                .env("CLAUDE_PROJECTS_DIR", data.join("claude/projects"))
                .env("CODEX_SESSIONS_DIR", data.join("codex/sessions"))
                .env("AGENTSVIEW_NO_DAEMON", "1")
                .env("AGENTSVIEW_TELEMETRY_ENABLED", "0")
                .env("AGENTSVIEW_DISABLE_UPDATE_CHECK", "1");
            command
        };
        let mut cold = Measure {
            name: "agentsview 0.46.1 sync, cold".into(),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: Some(corpus.bytes),
        };
        let mut warm = Measure {
            name: "agentsview 0.46.1 sync, warm".into(),
            wall: vec![],
            peak_rss_kb: vec![],
            bytes: Some(corpus.bytes),
        };
        for _ in 0..runs {
            let _ = std::fs::remove_dir_all(&av_data);
            match timed(command()) {
                Ok((wall, rss)) => {
                    cold.wall.push(wall);
                    cold.peak_rss_kb.push(rss);
                }
                Err(error) => {
                    notes.push(format!("agentsview failed: {error:#}"));
                    break;
                }
            }
        }
        for _ in 0..runs.min(cold.wall.len()) {
            if let Ok((wall, rss)) = timed(command()) {
                warm.wall.push(wall);
                warm.peak_rss_kb.push(rss);
            }
        }
        if !cold.wall.is_empty() {
            measures.push(cold);
        }
        if !warm.wall.is_empty() {
            measures.push(warm);
        }
    }

    let find = |prefix: &str| measures.iter().find(|measure| measure.name.starts_with(prefix)).map(Measure::median);
    let ratio = |ours: Option<Duration>, theirs: Option<Duration>| match (ours, theirs) {
        (Some(ours), Some(theirs)) => Some(theirs.as_secs_f64() / ours.as_secs_f64()),
        _ => None,
    };
    let cold_median = find("hindcast backfill, cold");
    let warm_median = find("hindcast backfill, warm");
    let comparisons = json!({
        "cold_vs_ccusage_daily": ratio(cold_median, find("ccusage 20.0.24 daily")),
        "statusline_vs_ccusage_statusline": ratio(find("hindcast statusline"), find("ccusage 20.0.24 statusline")),
        "daily_report_vs_ccusage_daily": ratio(find("hindcast stats daily"), find("ccusage 20.0.24 daily")),
        "cold_vs_agentsview_cold_sync": ratio(cold_median, find("agentsview 0.46.1 sync, cold")),
        "cold_vs_parse_only_ceiling": ratio(find("parse-only"), cold_median).map(|ratio| 1.0 / ratio),
        "warm_vs_agentsview_warm_sync": ratio(warm_median, find("agentsview 0.46.1 sync, warm")),
        "cold_vs_baseline_cold": ratio(cold_median, find("baseline ").filter(|_| options.baseline.is_some())),
        "append_vs_baseline_append": ratio(
            find("hindcast backfill after appending"),
            measures.iter().find(|measure| measure.name.contains(": backfill after appending")).map(Measure::median)
        ),
    });

    let store_to_source = store_mb * 1e6 / corpus.bytes as f64;
    println!(
        "\nsearch index: {:.1} MB over {:.1} MB of indexed text ({:.2}x; words {:.1} MB, grams {:.1} MB over {:.1} MB); \
         {planted} sessions hold the planted rare terms",
        index.index_bytes() as f64 / 1e6,
        index.text_bytes as f64 / 1e6,
        index.index_bytes() as f64 / index.text_bytes.max(1) as f64,
        index.words_bytes as f64 / 1e6,
        index.grams_bytes as f64 / 1e6,
        index.grams_text_bytes as f64 / 1e6,
    );
    println!(
        "\ncorpus ({:?}): {:.1} MB ({} Claude files, {} Codex files); store after import: {:.1} MB \
         ({store_to_source:.2}x the source); runs per figure: {runs}\n",
        options.corpus,
        corpus.bytes as f64 / 1e6,
        corpus.claude_files.len(),
        corpus.codex_files.len(),
        store_mb
    );
    println!("{:<62} {:>10} {:>10} {:>10}", "what", "median s", "MB/s", "peak RSS MB");
    for measure in &measures {
        println!(
            "{:<62} {:>10.3} {:>10} {:>10.1}",
            measure.name,
            measure.median().as_secs_f64(),
            measure.throughput().map(|mbps| format!("{mbps:.0}")).unwrap_or_else(|| "-".into()),
            measure.peak_rss_mb()
        );
    }
    println!("\nratios (how many times faster hindcast is; <1 means slower): {comparisons}");
    for note in &notes {
        println!("note: {note}");
    }
    let document = json!({
        "corpus": format!("{:?}", options.corpus).to_lowercase(),
        "corpus_bytes": corpus.bytes,
        "claude_files": corpus.claude_files.len(),
        "codex_files": corpus.codex_files.len(),
        "store_bytes": (store_mb * 1e6) as u64,
        "store_to_source": store_to_source,
        "search_index": {
            "index_bytes": index.index_bytes(),
            "words_bytes": index.words_bytes,
            "grams_bytes": index.grams_bytes,
            "indexed_text_bytes": index.text_bytes,
            "grams_text_bytes": index.grams_text_bytes,
            "index_to_text": index.index_bytes() as f64 / index.text_bytes.max(1) as f64,
        },
        "runs": runs,
        "measures": measures.iter().map(|m| json!({
            "name": m.name,
            "median_seconds": m.median().as_secs_f64(),
            "all_seconds": m.wall.iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "mb_per_second": m.throughput(),
            "peak_rss_mb": m.peak_rss_mb(),
        })).collect::<Vec<Value>>(),
        "comparisons": comparisons,
        "notes": notes,
    });
    let out = options.out.clone().unwrap_or_else(|| {
        let kind = match options.corpus {
            CorpusKind::Synthetic => "",
            CorpusKind::Real => "-real",
        };
        workspace_root().join(format!("target/bench/bench-{}MB{kind}.json", options.size_bytes / 1_000_000))
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&document)? + "\n")?;
    println!("written: {}", out.display());
    Ok(())
}

/// The search index's size (its FTS5 shadow tables' pages) and the text it covers.
struct SearchIndexSize {
    words_bytes: u64,
    grams_bytes: u64,
    text_bytes: u64,
    grams_text_bytes: u64,
}

impl SearchIndexSize {
    fn index_bytes(&self) -> u64 {
        self.words_bytes + self.grams_bytes
    }
}

fn search_index_size(db: &Path) -> Result<SearchIndexSize> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let pages = |prefix: &str| -> Result<u64> {
        Ok(conn.query_row("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE ?1 || '%'", [prefix], |row| {
            row.get::<_, i64>(0)
        })? as u64)
    };
    let text = |view: &str| -> Result<u64> {
        Ok(conn.query_row(&format!("SELECT coalesce(sum(length(CAST(body AS BLOB))), 0) FROM {view}"), [], |row| {
            row.get::<_, i64>(0)
        })? as u64)
    };
    Ok(SearchIndexSize {
        words_bytes: pages("search_words_")?,
        grams_bytes: pages("search_grams_")?,
        text_bytes: text("search_words_source")?,
        grams_text_bytes: text("search_grams_source")?,
    })
}
