//! `cargo xtask ci`: the one command CI runs.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::{run_command, workspace_root};

/// Feature sets the CLI must build, lint and list correctly with: none, each provider alone, all.
const FEATURE_MATRIX: &[(&str, &[&str])] = &[
    ("", &[]),
    ("provider-claude", &["claude"]),
    ("provider-codex", &["codex"]),
    ("provider-gemini", &["gemini"]),
    ("provider-legacy", &["legacy"]),
    ("provider-opencode", &["opencode"]),
    ("providers", &["claude", "codex", "gemini", "legacy", "opencode"]),
];

/// The time box of each provider's fuzz target in CI.
/// Five providers share the three minutes three had, so CI stays within its budget.
const FUZZ_SECONDS_PER_PROVIDER: u64 = 36;

/// System programs the smokes drive, by the Debian package that has them: `/usr/bin/time`
/// (peak memory) and `setpriv` (dropping privileges) for the reliability suites, Chromium and
/// ChromeDriver for the browser suite.
const SYSTEM_PROGRAMS: &[(&str, &str)] = &[
    ("/usr/bin/time", "time"),
    ("setpriv", "util-linux"),
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
];

fn has_program(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Installs the missing [`SYSTEM_PROGRAMS`] with apt-get (through sudo unless root), so `cargo
/// xtask ci` runs on a fresh machine; where that is not possible, names what to install.
fn system_programs() -> Result<()> {
    let missing: Vec<&str> =
        SYSTEM_PROGRAMS.iter().filter(|(program, _)| !has_program(program)).map(|(_, package)| *package).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0");
    if has_program("apt-get") && (root || has_program("sudo")) {
        eprintln!("ci: installing {} (apt-get), which the smokes drive", missing.join(" "));
        let apt = |args: &[&str]| {
            let mut command = if root { Command::new("apt-get") } else { Command::new("sudo") };
            if !root {
                command.arg("apt-get");
            }
            command.args(args).stdout(std::process::Stdio::null()).status().is_ok_and(|status| status.success())
        };
        let install: Vec<&str> = ["install", "-y", "-qq"].into_iter().chain(missing.iter().copied()).collect();
        // The package lists may be fresh enough already; they are updated only when that fails.
        let _ = apt(&install) || (apt(&["update", "-qq"]) && apt(&install));
    }
    let still: Vec<&str> =
        SYSTEM_PROGRAMS.iter().filter(|(program, _)| !has_program(program)).map(|(_, package)| *package).collect();
    ensure!(still.is_empty(), "the smokes need the Debian packages {}; install them and rerun", still.join(" "));
    Ok(())
}

pub fn run() -> Result<()> {
    let started = Instant::now();
    step("system programs", system_programs)?;
    step("format", || run_command("cargo", &["fmt", "--all", "--", "--check"], &[]))?;
    step("clippy", || {
        run_command("cargo", &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"], &[])
    })?;
    step("tests", || {
        run_command(
            "cargo",
            &["test", "--workspace", "--all-features", "--no-fail-fast"],
            &[("INSTA_UPDATE", "no"), ("CI", "true")],
        )
    })?;
    step("feature matrix", feature_matrix)?;
    step("readme command", readme_command)?;
    step("tidy", crate::tidy::run)?;
    step("smoke", || crate::smoke::run(&[], false))?;
    step("fuzz", || fuzz(FUZZ_SECONDS_PER_PROVIDER))?;
    eprintln!("ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

fn step(name: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
    eprintln!("==> {name}");
    let started = Instant::now();
    let outcome = body().with_context(|| format!("ci step '{name}' failed"));
    // Disk is the resource a CI machine runs out of first; every step says what it left.
    eprintln!(
        "<== {name} {} ({:.1?}; {})",
        if outcome.is_ok() { "ok" } else { "FAILED" },
        started.elapsed(),
        free_disk()
    );
    outcome
}

/// "N MB free" on the filesystem of the target dir, as `df` reports it.
fn free_disk() -> String {
    let output = std::process::Command::new("df").arg("-Pk").arg(workspace_root().join("target")).output();
    let free_kb = output.ok().and_then(|output| {
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines().nth(1)?.split_whitespace().nth(3)?.parse::<u64>().ok()
    });
    match free_kb {
        Some(kb) => format!("{} MB free", kb / 1024),
        None => "free disk unknown".to_owned(),
    }
}

/// Builds and lints the CLI with each feature set and checks `backfill list` shows exactly the
/// compiled-in providers.
fn feature_matrix() -> Result<()> {
    for (features, expected) in FEATURE_MATRIX {
        let mut args = vec!["-p", "hindcast-cli", "--no-default-features"];
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        let mut clippy = vec!["clippy"];
        clippy.extend(&args);
        clippy.extend(["--", "-D", "warnings"]);
        run_command("cargo", &clippy, &[])?;
        let mut build = vec!["build"];
        build.extend(&args);
        run_command("cargo", &build, &[])?;
        let sandbox = tempfile::tempdir()?;
        let output = std::process::Command::new(workspace_root().join("target/debug/hindcast"))
            .args(["backfill", "list", "--json"])
            .env_clear()
            .env("HOME", sandbox.path())
            .output()
            .context("running hindcast backfill list")?;
        ensure!(output.status.success(), "list failed: {}", String::from_utf8_lossy(&output.stderr));
        let document: Value = serde_json::from_slice(&output.stdout)?;
        let names: Vec<&str> = document["providers"]
            .as_array()
            .context("providers array")?
            .iter()
            .filter_map(|provider| provider["name"].as_str())
            .collect();
        ensure!(names == *expected, "features '{features}': list shows {names:?}, expected {expected:?}");
        eprintln!("features '{features}': list shows {names:?}");
    }
    Ok(())
}

/// The README's first command, `cargo run --release -- backfill`, resolves and runs the binary
/// (checked with the dev profile, in a sandbox HOME so no real history is read).
fn readme_command() -> Result<()> {
    let sandbox = tempfile::tempdir()?;
    let real_home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let toolchain_dir =
        |variable: &str, default: &str| std::env::var_os(variable).unwrap_or_else(|| real_home.join(default).into());
    let output = std::process::Command::new("cargo")
        .args(["run", "-q", "--", "backfill"])
        .current_dir(workspace_root())
        .env("HOME", sandbox.path())
        .env("RUSTUP_HOME", toolchain_dir("RUSTUP_HOME", ".rustup"))
        .env("CARGO_HOME", toolchain_dir("CARGO_HOME", ".cargo"))
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("CODEX_HOME")
        .env_remove("HINDCAST_DB")
        .output()
        .context("running cargo run -- backfill")?;
    ensure!(output.status.success(), "`cargo run -- backfill` failed: {}", String::from_utf8_lossy(&output.stderr));
    let db = sandbox.path().join(".local/share/hindcast/hindcast.db");
    ensure!(db.is_file(), "`cargo run -- backfill` did not create {}", db.display());
    Ok(())
}

/// Runs every provider's fuzz target for `seconds` each; a panic, failed unit or impossible count
/// fails with the shrunk input.
pub fn fuzz(seconds: u64) -> Result<()> {
    // The same features as the test step, so nothing is rebuilt; `--test fuzz` selects the target
    // in every provider crate that has one.
    run_command(
        "cargo",
        &["test", "--workspace", "--all-features", "--test", "fuzz", "--", "--nocapture"],
        &[("HINDCAST_FUZZ_SECONDS", &seconds.to_string())],
    )
}
