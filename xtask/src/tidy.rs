//! `cargo xtask tidy`: conventions that keep the repository navigable and clean.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{shared_dir, workspace_root};

pub fn run() -> Result<()> {
    let mut problems = Vec::new();
    check_purpose_headers(&mut problems)?;
    check_provider_features(&mut problems)?;
    check_crate_descriptions(&mut problems)?;
    check_no_corpus_copies(&mut problems)?;
    check_provider_contract_dependencies(&mut problems)?;
    if problems.is_empty() {
        eprintln!("tidy: ok");
        return Ok(());
    }
    for problem in &problems {
        eprintln!("tidy: {problem}");
    }
    bail!("{} tidy problem(s)", problems.len())
}

fn tracked_files() -> Result<Vec<String>> {
    let output = std::process::Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(workspace_root())
        .output()
        .context("running git ls-files")?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect())
}

/// Every Rust file opens with a `//!` line saying what it is for.
fn check_purpose_headers(problems: &mut Vec<String>) -> Result<()> {
    for file in tracked_files()?.iter().filter(|file| file.ends_with(".rs")) {
        let text = std::fs::read_to_string(workspace_root().join(file)).unwrap_or_default();
        if !text.trim_start().starts_with("//!") {
            problems.push(format!("{file}: does not open with a `//!` purpose line"));
        }
    }
    Ok(())
}

/// Every `crates/provider-*` crate is an optional dependency of the CLI behind `provider-<name>`,
/// part of the `providers` bundle, registered under that feature in `providers.rs`, and named by
/// the build script that writes the `--version` line.
fn check_provider_features(problems: &mut Vec<String>) -> Result<()> {
    let root = workspace_root();
    let cli_manifest = std::fs::read_to_string(root.join("crates/cli/Cargo.toml"))?;
    let build_script = std::fs::read_to_string(root.join("crates/cli/build.rs"))?;
    let registry_code = std::fs::read_to_string(root.join("crates/cli/src/providers.rs"))?;
    let bundle_line = cli_manifest.lines().find(|line| line.starts_with("providers =")).unwrap_or_default().to_string();
    for entry in std::fs::read_dir(root.join("crates"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(provider) = name.strip_prefix("provider-") else { continue };
        let feature = format!("provider-{provider}");
        let dependency = format!("hindcast-provider-{provider}");
        if !cli_manifest.contains(&format!("{feature} = [\"dep:{dependency}\"]")) {
            problems.push(format!("crates/cli/Cargo.toml: no feature `{feature} = [\"dep:{dependency}\"]`"));
        }
        if !bundle_line.contains(&format!("\"{feature}\"")) {
            problems.push(format!("crates/cli/Cargo.toml: the `providers` bundle lacks `{feature}`"));
        }
        let gate = format!("#[cfg(feature = \"{feature}\")]\n    hindcast_provider_{provider}::register");
        if !registry_code.contains(&gate) {
            problems.push(format!("crates/cli/src/providers.rs: `{provider}` is not registered under its feature"));
        }
        if !registry_code.contains(&format!("(\"{provider}\", \"{feature}\")")) {
            problems.push(format!("crates/cli/src/providers.rs: `{provider}` missing from KNOWN_PROVIDERS"));
        }
        if !build_script.contains(&format!("\"{provider}\"")) {
            problems.push(format!("crates/cli/build.rs: `{provider}` missing from the --version line's providers"));
        }
    }
    Ok(())
}

/// Every crate's manifest says what it is in one clause.
fn check_crate_descriptions(problems: &mut Vec<String>) -> Result<()> {
    for file in tracked_files()?.iter().filter(|file| file.ends_with("Cargo.toml") && file.as_str() != "Cargo.toml") {
        let text = std::fs::read_to_string(workspace_root().join(file))?;
        if !text.lines().any(|line| line.starts_with("description = ")) {
            problems.push(format!("{file}: no `description`"));
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    Ok(hex::encode(Sha256::digest(std::fs::read(path)?)))
}

/// No third-party corpus file is committed (compared by content hash).
fn check_no_corpus_copies(problems: &mut Vec<String>) -> Result<()> {
    let corpus = shared_dir().join("corpus");
    if !corpus.is_dir() {
        eprintln!("tidy: {} not found; skipping the corpus-copy check", corpus.display());
        return Ok(());
    }
    let mut corpus_hashes = BTreeSet::new();
    for entry in walkdir::WalkDir::new(&corpus).into_iter().filter_map(Result::ok) {
        if entry.file_type().is_file() && entry.metadata().map(|m| m.len() > 64).unwrap_or(false) {
            corpus_hashes.insert(sha256_file(entry.path())?);
        }
    }
    for file in tracked_files()? {
        let path = workspace_root().join(&file);
        if path.is_file() && corpus_hashes.contains(&sha256_file(&path)?) {
            problems
                .push(format!("{file}: a copy of a third-party file from ../shared/corpus; read it by path instead"));
        }
    }
    Ok(())
}

/// Packages the provider contract and the providers must never link: hindcast's store, pipeline
/// and test support, SQLite and the thread pool. "Providers never open the store" is a fact of the
/// build, not a convention.
const FORBIDDEN_FOR_PROVIDERS: &[&str] =
    &["hindcast-store", "hindcast-import", "hindcast-testing", "rusqlite", "libsqlite3-sys", "rayon"];

/// Providers whose client keeps its history in SQLite may read it with rusqlite (never hindcast's
/// store): OpenCode's `opencode.db`.
const READS_SQLITE_SOURCES: &[&str] = &["hindcast-provider-opencode"];

/// `cargo tree -e normal` of `hindcast-core` and of every `crates/provider-*` crate holds none of
/// `FORBIDDEN_FOR_PROVIDERS`.
fn check_provider_contract_dependencies(problems: &mut Vec<String>) -> Result<()> {
    let root = workspace_root();
    let mut packages = vec!["hindcast-core".to_string()];
    for entry in std::fs::read_dir(root.join("crates"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(provider) = name.strip_prefix("provider-") {
            packages.push(format!("hindcast-provider-{provider}"));
        }
    }
    packages.sort();
    for package in &packages {
        let output = std::process::Command::new("cargo")
            .args(["tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
            .current_dir(&root)
            .output()
            .with_context(|| format!("running cargo tree -p {package}"))?;
        if !output.status.success() {
            bail!("cargo tree -p {package} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let linked: BTreeSet<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
        for forbidden in FORBIDDEN_FOR_PROVIDERS {
            let allowed =
                READS_SQLITE_SOURCES.contains(&package.as_str()) && matches!(*forbidden, "rusqlite" | "libsqlite3-sys");
            if linked.contains(forbidden) && !allowed {
                problems.push(format!("{package}: depends on {forbidden} (the provider contract must not)"));
            }
        }
    }
    Ok(())
}
