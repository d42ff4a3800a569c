//! Hermetic end-to-end smokes: the real binary, a temporary HOME, assertions on output, envelope and store.

mod suites;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::{run_command, workspace_root};

/// The binaries under test.
pub struct Binaries {
    pub hindcast: PathBuf,
    pub testbed: PathBuf,
}

type Suite = fn(&Binaries) -> Result<()>;

/// Builds the binaries and runs the named suites (all when none is named).
pub fn run(names: &[String], list: bool) -> Result<()> {
    if list {
        for (name, _) in suites::SUITES {
            println!("{name}");
        }
        return Ok(());
    }
    let selected: Vec<(&str, Suite)> = if names.is_empty() {
        suites::SUITES.to_vec()
    } else {
        names
            .iter()
            .map(|name| {
                suites::SUITES.iter().find(|(suite, _)| suite == name).copied().with_context(|| {
                    let known: Vec<&str> = suites::SUITES.iter().map(|(suite, _)| *suite).collect();
                    format!("unknown suite '{name}'; suites: {}", known.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    run_command("cargo", &["build", "-p", "hindcast-cli", "--features", "test-providers", "--bins"], &[])?;
    let target = workspace_root().join("target/debug");
    let binaries = Binaries { hindcast: target.join("hindcast"), testbed: target.join("hindcast-testbed") };
    let mut failures = Vec::new();
    for (name, suite) in &selected {
        let started = Instant::now();
        match suite(&binaries) {
            Ok(()) => eprintln!("smoke {name}: ok ({:.1?})", started.elapsed()),
            Err(error) => {
                eprintln!("smoke {name}: FAILED: {error:#}");
                failures.push(*name);
            }
        }
    }
    let passed = selected.len() - failures.len();
    println!("smoke: {passed} passed, {} failed", failures.len());
    if !failures.is_empty() {
        bail!("smoke suites failed: {}", failures.join(", "));
    }
    Ok(())
}

/// A temporary HOME with the XDG dirs and client roots pinned inside it.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub home: PathBuf,
    extra_env: Vec<(String, String)>,
}

/// What one invocation of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub description: String,
}

impl Run {
    /// Fails unless the exit code is `expected`.
    pub fn expect_code(&self, expected: i32) -> Result<&Self> {
        ensure!(
            self.code == expected,
            "{}: exit {} (expected {expected})\nstdout:\n{}\nstderr:\n{}",
            self.description,
            self.code,
            self.stdout,
            self.stderr
        );
        Ok(self)
    }

    /// Stdout parsed as one JSON document.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("{}: stdout is not one JSON document:\n{}", self.description, self.stdout))
    }

    /// Fails unless stderr contains `needle`.
    pub fn expect_stderr(&self, needle: &str) -> Result<&Self> {
        ensure!(self.stderr.contains(needle), "{}: stderr lacks {needle:?}:\n{}", self.description, self.stderr);
        Ok(self)
    }
}

impl Sandbox {
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        Ok(Self { _dir: dir, home, extra_env: Vec::new() })
    }

    /// Sets a variable for every later invocation.
    pub fn set_env(&mut self, key: &str, value: impl Into<String>) {
        self.extra_env.push((key.to_string(), value.into()));
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.join(".local/share/hindcast")
    }

    pub fn db(&self) -> PathBuf {
        self.data_dir().join("hindcast.db")
    }

    pub fn events(&self) -> PathBuf {
        self.data_dir().join("events.jsonl")
    }

    /// Copies a tree from `fixtures/` into the sandbox home.
    pub fn install_fixture(&self, fixture: &str, destination: &str) -> Result<PathBuf> {
        let source = workspace_root().join("fixtures").join(fixture);
        let target = self.home.join(destination);
        copy_tree(&source, &target)?;
        Ok(target)
    }

    /// The binary with the sandbox's environment, not yet started.
    pub fn command(&self, binary: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(binary);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("CODEX_HOME", self.home.join(".codex"))
            .env("CLAUDE_CONFIG_DIR", self.home.join(".claude"))
            .current_dir(&self.home);
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        command
    }

    /// Runs the binary to completion.
    pub fn run(&self, binary: &Path, args: &[&str]) -> Result<Run> {
        let output = self
            .command(binary, args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            description: format!("{} {}", binary.file_name().unwrap_or_default().to_string_lossy(), args.join(" ")),
        })
    }

    /// Runs a read-only SQL query against the sandbox store and returns the first column of the first row.
    pub fn query_i64(&self, sql: &str) -> Result<i64> {
        let conn = hindcast_core::store::Store::open_read_only(&self.db())?;
        Ok(conn.query_row(sql, [], |row| row.get(0))?)
    }
}

fn copy_tree(source: &Path, target: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(source) {
        let entry = entry?;
        let relative = entry.path().strip_prefix(source)?;
        let destination = target.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&destination)?;
        } else {
            std::fs::copy(entry.path(), &destination)?;
        }
    }
    Ok(())
}

/// Content hash and mtime of every file under `root`, to prove sources are never modified.
pub fn tree_fingerprint(root: &Path) -> Result<BTreeMap<PathBuf, (String, std::time::SystemTime)>> {
    use sha2::{Digest, Sha256};
    let mut fingerprint = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry?;
        if entry.file_type().is_file() {
            let hash = hex::encode(Sha256::digest(std::fs::read(entry.path())?));
            fingerprint.insert(entry.path().to_path_buf(), (hash, entry.metadata()?.modified()?));
        }
    }
    Ok(fingerprint)
}
