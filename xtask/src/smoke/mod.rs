//! Hermetic end-to-end smokes: the real binary, a temporary HOME, assertions on output, envelope and store.

mod browser;
mod first_hour;
mod hardening;
mod reliability;
mod search;
mod serve;
mod suites;

pub use browser::screenshots;
pub use hardening::build_upgrade_fixture;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::{run_command, workspace_root};

/// Scheduler stand-ins: each appends its call to `calls.log`; `systemctl --user show-environment`
/// fails when `no-systemd` exists (a machine without a user manager); `crontab` keeps its table
/// in `crontab.table`; `loginctl` reports linger off.
fn write_shims(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let here = dir.display();
    let scripts = [
        (
            "systemctl",
            format!(
                "#!/bin/sh\necho \"systemctl $*\" >> '{here}/calls.log'\nif [ \"$2\" = show-environment ] && [ -e '{here}/no-systemd' ]; then exit 1; fi\nexit 0\n"
            ),
        ),
        ("loginctl", format!("#!/bin/sh\necho \"loginctl $*\" >> '{here}/calls.log'\necho no\n")),
        (
            "crontab",
            format!(
                "#!/bin/sh\necho \"crontab $*\" >> '{here}/calls.log'\nif [ \"$1\" = -l ]; then\n  if [ -e '{here}/crontab.table' ]; then cat '{here}/crontab.table'; exit 0; fi\n  echo 'no crontab for user' >&2; exit 1\nfi\ncat > '{here}/crontab.table'\n"
            ),
        ),
    ];
    for (name, script) in scripts {
        let path = dir.join(name);
        std::fs::write(&path, script)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The binaries under test.
pub struct Binaries {
    pub hindcast: PathBuf,
    pub testbed: PathBuf,
}

type Suite = fn(&Binaries) -> Result<()>;

/// Builds the binaries under test.
fn build_binaries() -> Result<Binaries> {
    run_command("cargo", &["build", "-p", "hindcast-cli", "--features", "test-providers", "--bins"], &[])?;
    let target = workspace_root().join("target/debug");
    Ok(Binaries { hindcast: target.join("hindcast"), testbed: target.join("hindcast-testbed") })
}

/// Builds the binaries and runs the named suites (all when none is named).
pub fn run(names: &[String], list: bool) -> Result<()> {
    if list {
        for (name, _) in suites::SUITES
            .iter()
            .chain(reliability::SUITES)
            .chain(hardening::SUITES)
            .chain(first_hour::SUITES)
            .chain(search::SUITES)
            .chain(serve::SUITES)
            .chain(browser::SUITES)
        {
            println!("{name}");
        }
        return Ok(());
    }
    let all: Vec<(&str, Suite)> = suites::SUITES
        .iter()
        .chain(reliability::SUITES)
        .chain(hardening::SUITES)
        .chain(first_hour::SUITES)
        .chain(search::SUITES)
        .chain(serve::SUITES)
        .chain(browser::SUITES)
        .copied()
        .collect();
    let selected: Vec<(&str, Suite)> = if names.is_empty() {
        all.clone()
    } else {
        names
            .iter()
            .map(|name| {
                all.iter().find(|(suite, _)| suite == name).copied().with_context(|| {
                    let known: Vec<&str> = all.iter().map(|(suite, _)| *suite).collect();
                    format!("unknown suite '{name}'; suites: {}", known.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    let binaries = build_binaries()?;
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
    dir: tempfile::TempDir,
    pub home: PathBuf,
    extra_env: Vec<(String, String)>,
    /// Runs the binary as `nobody` (when the harness is root, for whom no file is unreadable).
    unprivileged: bool,
}

/// The directories under a sandbox home that hold client history: hindcast must never change them.
const SOURCE_DIRS: &[&str] =
    &[".claude", ".codex", ".gemini", ".local/share/opencode", ".agent-orchestrator", "code", "sources"];

/// Every file under a set of roots: content hash, mtime and permissions.
pub type Fingerprint = BTreeMap<PathBuf, (String, std::time::SystemTime, u32)>;

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

    pub fn expect_stdout(&self, needle: &str) -> Result<&Self> {
        ensure!(self.stdout.contains(needle), "{}: stdout lacks {needle:?}:\n{}", self.description, self.stdout);
        Ok(self)
    }
}

impl Sandbox {
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home)?;
        write_shims(&dir.path().join("shims"))?;
        Ok(Self { dir, home, extra_env: Vec::new(), unprivileged: false })
    }

    /// A sandbox whose HOME is `home` (a fixed place, for stores whose rows name their paths).
    pub fn at(home: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&home)?;
        let dir = tempfile::tempdir()?;
        write_shims(&dir.path().join("shims"))?;
        Ok(Self { dir, home, extra_env: Vec::new(), unprivileged: false })
    }

    /// The directory of the scheduler shims (`systemctl`, `loginctl`, `crontab`): first on every
    /// run's PATH, so no suite touches the machine's own; `calls.log` lists their calls.
    pub fn shims(&self) -> PathBuf {
        self.dir.path().join("shims")
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
    /// Builds the OpenCode fixture data directory (its database from `fixtures/opencode/opencode.sql`)
    /// where OpenCode keeps it, `~/.local/share/opencode`.
    pub fn install_opencode(&self) -> Result<PathBuf> {
        Ok(hindcast_testing::opencode_fixture(&self.home.join(".local/share/opencode")))
    }

    pub fn install_fixture(&self, fixture: &str, destination: &str) -> Result<PathBuf> {
        let source = workspace_root().join("fixtures").join(fixture);
        let target = self.home.join(destination);
        copy_tree(&source, &target)?;
        Ok(target)
    }

    /// Makes later runs unable to read a file whose permissions deny it: as root (who reads
    /// everything) the binary then runs as `nobody`, with the sandbox opened up to it.
    pub fn run_unprivileged(&mut self) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if std::fs::metadata("/proc/self")?.uid() != 0 {
            return Ok(());
        }
        self.unprivileged = true;
        for dir in [self.dir.path(), self.home.as_path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
        let data_home = self.home.join(".local/share");
        std::fs::create_dir_all(&data_home)?;
        std::fs::set_permissions(&data_home, std::fs::Permissions::from_mode(0o777))?;
        // Reading OpenCode's database while it may be written needs its `-shm`: the data
        // directory is OpenCode's user's, here opened up to the reader as the store's is.
        let opencode = data_home.join("opencode");
        if opencode.is_dir() {
            std::fs::set_permissions(&opencode, std::fs::Permissions::from_mode(0o777))?;
            for entry in std::fs::read_dir(&opencode)? {
                let entry = entry?;
                if entry.file_type()?.is_file() {
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o666))?;
                }
            }
        }
        Ok(())
    }

    /// The binary with the sandbox's environment, not yet started.
    pub fn command(&self, binary: &Path, args: &[&str]) -> Command {
        let mut command = if self.unprivileged {
            let mut setpriv = Command::new("setpriv");
            setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(binary);
            setpriv
        } else {
            Command::new(binary)
        };
        command
            .args(args)
            .env_clear()
            .env("PATH", {
                let mut path = std::ffi::OsString::from(self.shims());
                path.push(":");
                path.push(std::env::var_os("PATH").unwrap_or_default());
                path
            })
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

    /// Runs the binary in a pseudo-terminal `columns` wide (util-linux `script`), as a person at
    /// a terminal would; stdout and stderr arrive together, `\r\n` read as `\n`.
    pub fn run_in_pty(&self, binary: &Path, args: &[&str], columns: u16) -> Result<Run> {
        let quoted: Vec<String> = std::iter::once(binary.display().to_string())
            .chain(args.iter().map(|arg| arg.to_string()))
            .map(|word| format!("'{}'", word.replace('\'', "'\\''")))
            .collect();
        let shell = format!("stty cols {columns} rows 50; exec {}", quoted.join(" "));
        let output = self
            .command(Path::new("script"), &["-qec", &shell, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .context("starting `script` (util-linux) for a pseudo-terminal")?;
        Ok(Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            description: format!("(pty {columns} columns) hindcast {}", args.join(" ")),
        })
    }

    /// The source trees of this sandbox (client roots and any other history placed under `sources/`).
    pub fn source_roots(&self) -> Vec<PathBuf> {
        SOURCE_DIRS.iter().map(|dir| self.home.join(dir)).filter(|dir| dir.exists()).collect()
    }

    /// A fingerprint of every source tree, to prove a run left them byte-identical.
    pub fn sources_fingerprint(&self) -> Result<Fingerprint> {
        let mut fingerprint = Fingerprint::new();
        for root in self.source_roots() {
            fingerprint.extend(tree_fingerprint(&root)?);
        }
        Ok(fingerprint)
    }

    /// Runs the binary to completion and fails if it changed any source file (content, mtime or
    /// permissions) — the read-only guarantee every suite checks on every run.
    pub fn run(&self, binary: &Path, args: &[&str]) -> Result<Run> {
        let before = self.sources_fingerprint()?;
        let run = self.run_while_sources_change(binary, args)?;
        expect_unchanged(&before, &self.sources_fingerprint()?, &run.description)?;
        Ok(run)
    }

    /// Runs the binary to completion without the read-only check, for runs whose sources the
    /// harness itself changes while they run.
    pub fn run_while_sources_change(&self, binary: &Path, args: &[&str]) -> Result<Run> {
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

    /// Runs the binary to completion with `input` on its stdin (read-only check included).
    pub fn run_with_stdin(&self, binary: &Path, args: &[&str], input: &[u8]) -> Result<Run> {
        use std::io::Write as _;
        let before = self.sources_fingerprint()?;
        let mut child = self
            .command(binary, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        // A binary that exits without reading all of it closes the pipe: not an error here.
        let _ = child.stdin.take().context("stdin")?.write_all(input);
        let output = child.wait_with_output()?;
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            description: format!("{} {}", binary.file_name().unwrap_or_default().to_string_lossy(), args.join(" ")),
        };
        expect_unchanged(&before, &self.sources_fingerprint()?, &run.description)?;
        Ok(run)
    }

    /// Runs the binary to completion under `/usr/bin/time`; also returns its peak RSS in KB.
    pub fn run_measured(&self, binary: &Path, args: &[&str]) -> Result<(Run, u64)> {
        let before = self.sources_fingerprint()?;
        let rss_file = tempfile::NamedTempFile::new()?;
        let output = crate::with_peak_rss(&self.command(binary, args), rss_file.path())
            .stdin(Stdio::null())
            .output()
            .context("starting /usr/bin/time (package `time`)")?;
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            description: format!("{} {}", binary.file_name().unwrap_or_default().to_string_lossy(), args.join(" ")),
        };
        expect_unchanged(&before, &self.sources_fingerprint()?, &run.description)?;
        Ok((run, crate::read_peak_rss_kb(rss_file.path())?))
    }

    /// Runs a read-only SQL query against the sandbox store and returns the first column of the first row.
    pub fn query_i64(&self, sql: &str) -> Result<i64> {
        let conn = hindcast_store::Store::open_read_only(&self.db())?;
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

/// Content hash, mtime and permissions of every file under `root` (symlinks not followed), to
/// prove sources are never modified.
pub fn tree_fingerprint(root: &Path) -> Result<Fingerprint> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::PermissionsExt;
    let mut fingerprint = Fingerprint::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry?;
        if entry.file_type().is_file() && !is_sqlite_coordination_file(entry.path()) {
            let hash = hex::encode(Sha256::digest(std::fs::read(entry.path())?));
            let metadata = entry.metadata()?;
            fingerprint.insert(entry.path().to_path_buf(), (hash, metadata.modified()?, metadata.permissions().mode()));
        }
    }
    Ok(fingerprint)
}

/// OpenCode's `opencode*.db-shm`: SQLite's shared-memory index of the write-ahead log, which any
/// reader of the database may update (SPEC §9's one exception to sources never changing); the
/// database and its `-wal` are still compared.
fn is_sqlite_coordination_file(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.starts_with("opencode") && name.ends_with(".db-shm")
}

/// Fails naming the first source file a run added, removed or changed.
pub fn expect_unchanged(before: &Fingerprint, after: &Fingerprint, description: &str) -> Result<()> {
    if before == after {
        return Ok(());
    }
    let changed = before
        .iter()
        .find(|(path, state)| after.get(*path) != Some(state))
        .map(|(path, _)| path.clone())
        .or_else(|| after.keys().find(|path| !before.contains_key(*path)).cloned())
        .unwrap_or_default();
    bail!(
        "{description}: changed source file {} (sources must stay byte-identical; before {:?}, after {:?})",
        changed.display(),
        before.get(&changed),
        after.get(&changed)
    )
}

/// A backfill stopped at a failpoint of the testbed binary, waiting to be killed or resumed.
pub struct PausedRun {
    child: std::process::Child,
    control: tempfile::TempDir,
    pub description: String,
}

impl PausedRun {
    /// Starts `binary args` (the testbed) paused at the `nth` hit of `point`, and waits until it is there.
    pub fn start(sandbox: &Sandbox, binary: &Path, args: &[&str], point: &str, nth: u64) -> Result<Self> {
        Self::start_in(sandbox, binary, args, point, nth, "")
    }

    /// Like `start`, counting only hits in units whose key contains `unit`.
    pub fn start_in(
        sandbox: &Sandbox,
        binary: &Path,
        args: &[&str],
        point: &str,
        nth: u64,
        unit: &str,
    ) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let control = tempfile::tempdir()?;
        std::fs::set_permissions(control.path(), std::fs::Permissions::from_mode(0o777))?;
        let child = sandbox
            .command(binary, args)
            .env("HINDCAST_TESTBED_PAUSE_AT", format!("{point}@{nth}"))
            .env("HINDCAST_TESTBED_PAUSE_DIR", control.path())
            .env("HINDCAST_TESTBED_PAUSE_UNIT", unit)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let description = format!("{} paused at {point}@{nth} {unit}", args.join(" "));
        let mut paused = Self { child, control, description };
        let deadline = Instant::now() + std::time::Duration::from_secs(120);
        while !paused.control.path().join("paused").exists() {
            if let Some(status) = paused.child.try_wait()? {
                let output = paused.child.wait_with_output()?;
                bail!(
                    "{}: the run ended ({status}) before reaching the point\nstdout:\n{}\nstderr:\n{}",
                    paused.description,
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            ensure!(Instant::now() < deadline, "{}: not reached within 120 s", paused.description);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(paused)
    }

    /// The paused process's pid.
    pub fn pid(&self) -> u32 {
        std::fs::read_to_string(self.control.path().join("paused"))
            .ok()
            .and_then(|marker| marker.split_whitespace().nth(1).and_then(|pid| pid.parse().ok()))
            .unwrap_or_else(|| self.child.id())
    }

    /// SIGKILLs the process where it stands (as `kill -9` would) and reaps it.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill()?;
        let status = self.child.wait()?;
        ensure!(status.code().is_none(), "{}: expected death by signal, got {status}", self.description);
        Ok(())
    }

    /// Lets the run continue and waits for it to finish.
    pub fn resume(self) -> Result<Run> {
        std::fs::write(self.control.path().join("resume"), b"")?;
        let output = self.child.wait_with_output()?;
        Ok(Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            description: self.description,
        })
    }
}
