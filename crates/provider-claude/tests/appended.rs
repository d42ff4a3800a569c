//! Import-then-append equals a clean import: every transcript of the shared corpus (real files),
//! cut at random line boundaries (and mid-line, a torn last line), imported, then completed and
//! imported again, ends with the rows a single import of the whole file writes. Each file is cut
//! alone in its project directory, as a live session grows: with the project's other files
//! complete, a cut would leave states no client writes (a summary naming a line not yet written).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_core::provider::Environment;
use hindcast_provider_claude::ClaudeProvider;
use hindcast_testing::appended_and_clean_digests;
use proptest::prelude::*;

/// A project directory and one transcript in it (relative to the project).
struct Transcript {
    project: PathBuf,
    file: PathBuf,
}

fn jsonl_files(dir: &Path, under: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            jsonl_files(&path, under, found);
        } else if path.extension().is_some_and(|extension| extension == "jsonl") {
            found.push(path.strip_prefix(under).unwrap().to_path_buf());
        }
    }
}

fn transcripts() -> Vec<Transcript> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut projects: Vec<PathBuf> = Vec::new();
    for parent in ["../shared/corpus/claude/claude-code-log", "../shared/corpus/claude/claude-code-viewer"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(parent))
            .unwrap_or_else(|error| panic!("{parent}: {error}"))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_dir())
            .collect();
        found.sort();
        projects.extend(found);
    }
    // The spotter corpus is one project directory itself.
    projects.push(root.join("../shared/corpus/claude/spotter"));
    let mut transcripts = Vec::new();
    for project in projects {
        let mut files = Vec::new();
        jsonl_files(&project, &project, &mut files);
        transcripts.extend(files.into_iter().map(|file| Transcript { project: project.clone(), file }));
    }
    transcripts
}

/// Where a file of `bytes` is cut: after one of its lines, or (torn) inside the line that follows.
fn cut_of(bytes: &[u8], fraction: f64, torn: bool) -> usize {
    let ends: Vec<usize> =
        std::iter::once(0).chain(bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1)).collect();
    let index = ((ends.len() - 1) as f64 * fraction) as usize;
    let boundary = ends[index];
    match ends.get(index + 1) {
        Some(next) if torn && next - boundary > 2 => boundary + (next - boundary) / 2,
        _ => boundary,
    }
}

fn check(transcript: &Transcript, fraction: f64, torn: bool) {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config");
    let name = transcript.project.file_name().unwrap();
    let root = config.join("projects").join(name);
    let env = Environment::with_home(work.path()).set_var("CLAUDE_CONFIG_DIR", config.display().to_string());
    let bytes = std::fs::read(transcript.project.join(&transcript.file)).unwrap();
    let alone = work.path().join("alone");
    std::fs::create_dir_all(alone.join(&transcript.file).parent().unwrap()).unwrap();
    std::fs::write(alone.join(&transcript.file), &bytes).unwrap();
    let cut = cut_of(&bytes, fraction, torn);
    let (appended, clean) =
        appended_and_clean_digests(Arc::new(ClaudeProvider), &env, &alone, &root, &transcript.file, cut);
    assert_eq!(appended, clean, "{} cut at byte {cut} of {}", transcript.file.display(), bytes.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn import_then_append_equals_a_clean_import(pick in any::<prop::sample::Index>(), fraction in 0.0..1.0f64, torn in any::<bool>()) {
        let transcripts = transcripts();
        check(&transcripts[pick.index(transcripts.len())], fraction, torn);
    }
}

/// A "warmup" agent file (a 2.0.x startup probe, not a session) that later grows into a
/// conversation ends with the rows of a clean import: its usage moves from the parent session to
/// the agent's (reliability F9).
#[test]
fn a_warmup_agent_file_that_grows_ends_as_a_clean_import() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/claude/claude-code-log/-Users-dain-workspace-JSSoundRecorder");
    let work = tempfile::tempdir().unwrap();
    let grown = work.path().join("grown");
    hindcast_testing::copy_tree(&corpus, &grown);
    let agent = Path::new("agent-3430b97e.jsonl");
    let original = std::fs::read(grown.join(agent)).unwrap();
    let envelope = r#""isSidechain":true,"userType":"external","cwd":"/Users/dain/workspace/JSSoundRecorder","sessionId":"7acd37a8-2745-4b58-a8a9-46164b22ad9e","version":"2.0.42","agentId":"3430b97e""#;
    let lines = format!(
        "{{\"parentUuid\":\"b54dbaec-697a-4b5a-8815-adac200ed9f6\",{envelope},\"type\":\"user\",\"message\":{{\"role\":\"user\",\"content\":\"list the files\"}},\"uuid\":\"c0000000-0000-4000-8000-000000000001\",\"timestamp\":\"2025-11-18T10:00:00.000Z\"}}\n\
         {{\"parentUuid\":\"c0000000-0000-4000-8000-000000000001\",{envelope},\"type\":\"assistant\",\"message\":{{\"model\":\"claude-sonnet-4-5-20250929\",\"id\":\"msg_grown0001\",\"role\":\"assistant\",\"content\":[{{\"type\":\"text\",\"text\":\"index.html\"}}],\"usage\":{{\"input_tokens\":5,\"output_tokens\":3}}}},\"requestId\":\"req_grown0001\",\"uuid\":\"c0000000-0000-4000-8000-000000000002\",\"timestamp\":\"2025-11-18T10:00:01.000Z\"}}\n"
    );
    let mut whole = original.clone();
    whole.extend_from_slice(lines.as_bytes());
    std::fs::write(grown.join(agent), &whole).unwrap();
    let config = work.path().join("config");
    let env = Environment::with_home(work.path()).set_var("CLAUDE_CONFIG_DIR", config.display().to_string());
    let root = config.join("projects/-Users-dain-workspace-JSSoundRecorder");
    let (appended, clean) =
        appended_and_clean_digests(Arc::new(ClaudeProvider), &env, &grown, &root, agent, original.len());
    assert_eq!(appended, clean);
}
