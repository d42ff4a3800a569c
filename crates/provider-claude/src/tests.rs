//! Tests of the Claude provider over the project's fixtures: one behaviour per test, plus insta
//! snapshots of the projected exchanges of every fixture project.

use std::path::{Path, PathBuf};

use hindcast_core::model::{PartKind, ProjectedExchange, Relationship, Role};
use hindcast_core::provider::{Environment, ParseReport};
use hindcast_core::time_window::TimeWindow;
use hindcast_testing::import_all;

use crate::ClaudeProvider;

fn fixture_projects() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/claude/projects")
}

/// Imports one fixture project directory (copied into a temp config dir so only it is read).
fn import(project: &str) -> (Vec<ProjectedExchange>, ParseReport) {
    let config = tempfile::tempdir().unwrap();
    let projects = config.path().join("projects");
    std::fs::create_dir_all(&projects).unwrap();
    std::os::unix::fs::symlink(fixture_projects().join(project), projects.join(project)).unwrap();
    let env = Environment::with_home(config.path()).set_var("CLAUDE_CONFIG_DIR", config.path().display().to_string());
    import_all(&ClaudeProvider, &env, &TimeWindow::ALL)
}

fn session<'a>(exchanges: &'a [ProjectedExchange], native_id: &str) -> &'a ProjectedExchange {
    exchanges.iter().find(|exchange| exchange.session.native_id == native_id).unwrap_or_else(|| {
        let ids: Vec<&str> = exchanges.iter().map(|exchange| exchange.session.native_id.as_str()).collect();
        panic!("no session {native_id} in {ids:?}")
    })
}

fn texts(exchange: &ProjectedExchange) -> Vec<String> {
    exchange.messages.iter().flat_map(|message| &message.parts).filter_map(|part| part.text.clone()).collect()
}

fn check_snapshot(project: &str) {
    let (exchanges, report) = import(project);
    insta::with_settings!({ snapshot_suffix => project.trim_start_matches('-') }, {
        insta::assert_json_snapshot!("exchanges", exchanges, {
            ".**.source_path" => "[source path]",
        });
        insta::assert_json_snapshot!("report", report, { ".**.path" => "[source path]" });
    });
}

#[test]
fn snapshots_of_every_fixture_project() {
    for project in ["-home-user-demo", "-fx-resume", "-fx-blocks", "-fx-subagents", "-fx-odd"] {
        check_snapshot(project);
    }
}

#[test]
fn split_assistant_lines_become_one_message_and_count_usage_once() {
    let (exchanges, _) = import("-fx-blocks");
    let main = session(&exchanges, "5e5e5e5e-0000-4000-8000-000000000010");
    let merged =
        main.messages.iter().find(|m| m.native_id.as_deref() == Some("00000065-0000-4000-8000-000000000065")).unwrap();
    let kinds: Vec<PartKind> = merged.parts.iter().map(|part| part.kind).collect();
    assert_eq!(kinds, [PartKind::Thinking, PartKind::Thinking, PartKind::Text, PartKind::ToolCall], "file order");
    let usage: Vec<_> = main.usage.iter().filter(|usage| usage.key == "msg_b1/req_b1").collect();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].output_tokens, 87, "the copy with the most output tokens");
    assert_eq!(usage[0].input_tokens, 50 + 1000 + 200, "cached input is part of input");
    assert_eq!(usage[0].cache_read_tokens, 1000);
    // A child of the second line of the group points at the merged message.
    let child =
        main.messages.iter().find(|m| m.native_id.as_deref() == Some("00000068-0000-4000-8000-000000000068")).unwrap();
    assert_eq!(child.parent_key.as_deref(), Some("00000065-0000-4000-8000-000000000065"));
    // message.id alone keys usage when requestId is absent; <synthetic> lines carry none.
    assert!(main.usage.iter().any(|usage| usage.key == "msg_b3"));
    assert!(!main.usage.iter().any(|usage| usage.key.starts_with("msg_b4")));
}

#[test]
fn resumed_session_is_a_continuation_and_copied_history_is_stored_once() {
    let (exchanges, report) = import("-fx-resume");
    let original = session(&exchanges, "aaaaaaaa-0000-4000-8000-000000000001");
    let resumed = session(&exchanges, "bbbbbbbb-0000-4000-8000-000000000002");
    assert_eq!(original.messages.len(), 4);
    assert_eq!(resumed.messages.len(), 2, "only the new turns; the copies and the head replay are skipped");
    let link = resumed.session.parent.as_ref().expect("linked");
    assert_eq!(
        (link.parent_native_id.as_str(), link.relationship),
        ("aaaaaaaa-0000-4000-8000-000000000001", Relationship::Continuation)
    );
    assert_eq!(
        resumed.messages[0].parent_key.as_deref(),
        Some("00000004-0000-4000-8000-000000000004"),
        "DAG crosses into the original"
    );
    assert_eq!(resumed.session.started_at.map(|t| t.to_string()).as_deref(), Some("2026-03-02T10:00:00Z"));
    assert_eq!(resumed.usage.len(), 1, "copied usage is counted once, in the original");
    assert_eq!(
        report.records_ignored.get("copied line (imported with an earlier session)"),
        Some(&7),
        "4 resumed + 3 forked copies"
    );
    assert_eq!(report.records_ignored.get("replayed line (uuid already in this session)"), Some(&2));
}

#[test]
fn forked_session_links_as_fork() {
    let (exchanges, _) = import("-fx-resume");
    let fork = session(&exchanges, "ffffffff-0000-4000-8000-000000000003");
    let link = fork.session.parent.as_ref().expect("linked");
    assert_eq!(
        (link.parent_native_id.as_str(), link.relationship),
        ("aaaaaaaa-0000-4000-8000-000000000001", Relationship::Fork)
    );
    assert_eq!(fork.messages.len(), 2);
}

#[test]
fn uuid_shared_after_clear_does_not_merge_sessions() {
    let (exchanges, _) = import("-fx-resume");
    let first = session(&exchanges, "aaaaaaaa-0000-4000-8000-0000000000a2");
    let second = session(&exchanges, "cccccccc-0000-4000-8000-000000000004");
    assert!(second.session.parent.is_none(), "unrelated sessions stay unlinked");
    assert_eq!(first.messages.len(), 4);
    assert_eq!(second.messages.len(), 3, "each keeps its copy of the shared caveat line");
    assert_ne!(first.messages[0].identity.key, second.messages[0].identity.key);
    assert!(second.messages[0].flags.meta);
    assert_eq!(first.messages[1].parent_key.as_ref(), Some(&first.messages[0].identity.key), "own copy is the parent");
    assert_eq!(
        second.messages[1].parent_key.as_ref(),
        Some(&second.messages[0].identity.key),
        "own copy is the parent"
    );
}

#[test]
fn titles_follow_custom_then_ai_then_summary() {
    let (exchanges, _) = import("-fx-blocks");
    let ai = session(&exchanges, "5e5e5e5e-0000-4000-8000-000000000010");
    assert_eq!(ai.session.title.as_deref(), Some("Second AI title (wins over the first)"));
    let custom = session(&exchanges, "5e5e5e5e-0000-4000-8000-000000000011");
    assert_eq!(custom.session.title.as_deref(), Some("Custom title (wins over everything)"));
    assert_eq!(custom.session.entrypoint.as_deref(), Some("claude-vscode"));
    let corpus_style = import("-fx-resume").0;
    assert!(session(&corpus_style, "aaaaaaaa-0000-4000-8000-000000000001").session.title.is_none());
}

#[test]
fn bad_lines_are_skipped_with_file_and_line_and_unknown_records_kept() {
    let (exchanges, report) = import("-fx-blocks");
    let locations: Vec<String> =
        report.lines_skipped.first.iter().map(|l| format!("{}:{}", l.line, l.reason)).collect();
    assert_eq!(report.lines_skipped.count, 3, "{locations:?}");
    assert!(locations[0].starts_with("20:invalid JSON"), "{locations:?}");
    assert!(locations[1].starts_with("21:invalid UTF-8"), "{locations:?}");
    assert!(locations[2].starts_with("24:truncated last line"), "{locations:?}");
    let main = session(&exchanges, "5e5e5e5e-0000-4000-8000-000000000010");
    let unknown = main.messages.iter().find(|m| m.role == Role::Other).expect("unknown type kept");
    assert_eq!(unknown.parts[0].metadata.as_ref().unwrap()["type"], "telepathy");
    assert_eq!(unknown.parent_key, None, "a dangling parent becomes a root");
    assert_eq!(report.unknown_records, 2, "the unknown line type and the unknown content block");
    assert_eq!(main.session.permission_mode.as_deref(), Some("acceptEdits"), "last permission mode wins");
}

#[test]
fn compaction_boundary_is_flagged_and_keeps_its_logical_parent() {
    let (exchanges, _) = import("-fx-blocks");
    let main = session(&exchanges, "5e5e5e5e-0000-4000-8000-000000000010");
    let boundary = main.messages.iter().find(|m| m.flags.compact_boundary).expect("boundary");
    assert_eq!(boundary.parent_key.as_deref(), Some("0000006c-0000-4000-8000-00000000006c"), "logicalParentUuid");
    assert_eq!(boundary.parts[0].metadata.as_ref().unwrap()["compact"]["preTokens"], 155000);
    let summary = main.messages.iter().find(|m| m.flags.compact_summary).expect("summary");
    assert_eq!(summary.parent_key.as_deref(), Some(boundary.identity.key.as_str()));
    assert!(main.messages.iter().any(|m| m.flags.api_error && m.role == Role::Assistant));
    assert!(main.messages.iter().any(|m| m.flags.api_error && m.role == Role::System));
}

#[test]
fn parts_cover_every_block_kind_without_storing_image_data() {
    let (exchanges, _) = import("-fx-blocks");
    let main = session(&exchanges, "5e5e5e5e-0000-4000-8000-000000000010");
    let image = main.messages[0].parts.iter().find(|part| part.kind == PartKind::Image).unwrap();
    assert_eq!(image.metadata.as_ref().unwrap()["media_type"], "image/png");
    assert_eq!(image.metadata.as_ref().unwrap()["byte_size"], 300);
    let results: Vec<_> =
        main.messages.iter().flat_map(|m| &m.parts).filter(|p| p.kind == PartKind::ToolResult).collect();
    assert_eq!(results[0].text.as_deref(), Some("line one\nline two"));
    assert_eq!(results[0].metadata.as_ref().unwrap()["images"], 1);
    assert_eq!((results[1].text.as_deref(), results[1].is_error), (Some("exit status 1"), Some(true)));
    let serialized = serde_json::to_string(&exchanges).unwrap();
    assert!(!serialized.contains("iVBORw0KGgoAAAA"), "base64 image data is never kept");
    assert!(texts(main).iter().any(|text| text == "The command failed (no request id on this line)."));
}

#[test]
fn raw_frames_keep_the_envelope_but_never_the_content() {
    let (exchanges, _) = import("-fx-blocks");
    let main = session(&exchanges, "5e5e5e5e-0000-4000-8000-000000000010");
    for message in &main.messages {
        let frame = message.raw_frame.as_ref().expect("frame").value();
        assert!(frame["message"].get("content").is_none(), "{frame}");
        assert!(frame["toolUseResult"].get("file").is_none(), "{frame}");
    }
    let merged = &main.messages[1];
    assert_eq!(merged.raw_frame.as_ref().unwrap().value()["mergedUuids"].as_array().map(Vec::len), Some(2));
}

#[test]
fn subagents_in_all_three_layouts_are_sessions_linked_to_their_parent() {
    let (exchanges, report) = import("-fx-subagents");
    let parent = "9a9a9a9a-0000-4000-8000-000000000020";
    let cases = [
        (
            format!("{parent}/sidechain-000000d2-0000-4000-8000-0000000000d2"),
            Some("toolu_task1"),
            "inline-sidechain-1.0",
        ),
        (format!("{parent}/agent-1a2b3c4d"), Some("toolu_task2"), "project-agent-2.0"),
        (format!("{parent}/agent-a9f8e7d6c5b4a3921"), Some("toolu_agent3"), "subagents-2.1"),
        (format!("{parent}/agent-acompact-77aa11"), None, "subagents-2.1"),
    ];
    for (native_id, spawning_call, layout) in cases {
        let child = session(&exchanges, &native_id);
        let link = child.session.parent.as_ref().expect("parent link");
        assert_eq!(
            (link.parent_native_id.as_str(), link.relationship),
            (parent, Relationship::Subagent),
            "{native_id}"
        );
        assert_eq!(link.spawning_tool_call_id.as_deref(), spawning_call, "{native_id}");
        assert_eq!(child.session.metadata["layout"], layout, "{native_id}");
        assert!(child.messages.iter().all(|m| m.flags.sidechain), "{native_id}");
        assert_eq!(child.messages.len(), 2, "{native_id}");
    }
    let helper = session(&exchanges, &format!("{parent}/agent-acompact-77aa11"));
    assert_eq!(helper.session.metadata["compaction_helper"], true);
    let explore = session(&exchanges, &format!("{parent}/agent-a9f8e7d6c5b4a3921"));
    assert_eq!(explore.session.metadata["agent_type"], "Explore");
    let trunk = session(&exchanges, parent);
    assert!(trunk.messages.iter().all(|m| !m.flags.sidechain), "sidechain lines leave the trunk");
    assert_eq!(exchanges.len(), 5, "the warmup agent is not a session");
    assert_eq!(report.records_skipped.count, 1);
    assert!(report.records_skipped.first[0].reason.starts_with("warmup agent"));
}

#[test]
fn warmup_and_streamed_subagent_usage_is_counted_once() {
    let (exchanges, _) = import("-fx-subagents");
    let all: Vec<_> = exchanges.iter().flat_map(|exchange| exchange.usage.iter().map(move |u| (exchange, u))).collect();
    let keys: Vec<&str> = all.iter().map(|(_, usage)| usage.key.as_str()).collect();
    for key in ["msg_w1/req_w1", "msg_stream1/req_stream1", "msg_d2/req_d2"] {
        assert_eq!(keys.iter().filter(|k| **k == key).count(), 1, "{key} in {keys:?}");
    }
    let owner = |key: &str| {
        all.iter().find(|(_, usage)| usage.key == key).map(|(exchange, _)| exchange.session.native_id.clone())
    };
    let parent = "9a9a9a9a-0000-4000-8000-000000000020".to_string();
    assert_eq!(owner("msg_w1/req_w1"), Some(parent.clone()), "warmup usage goes to the parent session");
    assert_eq!(owner("msg_stream1/req_stream1"), Some(parent), "a streamed copy without its own transcript");
    assert_eq!(
        owner("msg_d2/req_d2").as_deref(),
        Some("9a9a9a9a-0000-4000-8000-000000000020/agent-a9f8e7d6c5b4a3921"),
        "the subagent's own file wins"
    );
}

#[test]
fn renamed_and_degenerate_files_import() {
    let (exchanges, report) = import("-fx-odd");
    let renamed = session(&exchanges, "55555555-0000-4000-8000-000000000030");
    assert_eq!(renamed.messages.len(), 2, "the session id comes from the lines, not the renamed file");
    // A snapshot-only file names no session and holds no message (a live session's first line):
    // not a session yet, counted.
    assert!(exchanges.iter().all(|exchange| exchange.session.native_id != "66666666-0000-4000-8000-000000000031"));
    assert!(
        report
            .records_skipped
            .first
            .iter()
            .any(|location| location.path.ends_with("66666666-0000-4000-8000-000000000031.jsonl")
                && location.reason.contains("no line naming a session")),
        "{:?}",
        report.records_skipped
    );
    assert_eq!(report.records_ignored.get("file-history-snapshot"), Some(&1));
    assert_eq!(report.lines_skipped.count, 0);
}

#[test]
fn window_prefilter_skips_files_untouched_since_before_since() {
    let provider = ClaudeProvider;
    let config = tempfile::tempdir().unwrap();
    let env =
        Environment::with_home(config.path()).set_var("CLAUDE_CONFIG_DIR", fixture_projects().display().to_string());
    let future = TimeWindow::new(Some(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)), None).unwrap();
    let discovery = hindcast_core::provider::Provider::discover(&provider, &env, &future).unwrap();
    assert!(discovery.units.is_empty());
    assert!(discovery.files_outside_window > 0);
}

/// A copy of the demo session file in `dir`, read by the first pass.
fn demo_transcript(dir: &Path) -> (PathBuf, crate::parse::TranscriptFile) {
    transcript_copy(dir, "-home-user-demo/7f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f.jsonl")
}

/// A fixture transcript (`project/file`) copied into `dir`, and its first pass.
fn transcript_copy(dir: &Path, fixture: &str) -> (PathBuf, crate::parse::TranscriptFile) {
    let path = dir.join(Path::new(fixture).file_name().unwrap());
    std::fs::copy(fixture_projects().join(fixture), &path).unwrap();
    let source = hindcast_core::model::SourceFile {
        path: path.clone(),
        kind: "session".into(),
        size: std::fs::metadata(&path).unwrap().len(),
        modified: None,
        inode: None,
    };
    let file = crate::parse::read_transcript(&source, None, &mut ParseReport::default()).unwrap().unwrap();
    (path, file)
}

#[test]
fn a_file_rewritten_between_the_two_passes_is_left_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (path, file) = demo_transcript(dir.path());
    let mut report = ParseReport::default();
    let start = file.start();
    let drafts = crate::project::project(std::slice::from_ref(&file), &mut report);
    assert!(drafts[0].exchange.messages.iter().all(|message| message.parts.is_empty()), "parts come in pass 2");

    let mut filled: Vec<_> =
        crate::project::project(std::slice::from_ref(&file), &mut report).into_iter().map(Some).collect();
    let all: Vec<usize> = (0..filled.len()).collect();
    assert!(crate::parse::fill_parts(&path, start, &all, &mut filled, &mut report, None).unwrap());
    let first = filled[0].as_ref().unwrap();
    assert!(first.exchange.messages.iter().any(|message| !message.parts.is_empty()));

    // The client rewrote the file with other lines between the passes.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"uuid\":\"", "\"uuid\":\"x")).unwrap();
    let mut stale: Vec<_> = drafts.into_iter().map(Some).collect();
    assert!(!crate::parse::fill_parts(&path, start, &all, &mut stale, &mut report, None).unwrap());
}

#[test]
fn a_split_response_whose_last_line_is_gone_keeps_the_frame_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let (path, file) = transcript_copy(dir.path(), "-fx-blocks/5e5e5e5e-0000-4000-8000-000000000010.jsonl");
    let mut report = ParseReport::default();
    let mut drafts: Vec<_> =
        crate::project::project(std::slice::from_ref(&file), &mut report).into_iter().map(Some).collect();
    // msg_b1 is lines 4-6; the file loses line 6 onwards between the passes.
    let bytes = std::fs::read(&path).unwrap();
    let kept: Vec<u8> = bytes.split_inclusive(|&byte| byte == b'\n').take(5).flatten().copied().collect();
    std::fs::write(&path, kept).unwrap();
    let all: Vec<usize> = (0..drafts.len()).collect();
    assert!(!crate::parse::fill_parts(&path, file.start(), &all, &mut drafts, &mut report, None).unwrap());
    let main = &drafts[0].as_ref().unwrap().exchange;
    let split = main
        .messages
        .iter()
        .find(|message| message.native_id.as_deref() == Some("00000065-0000-4000-8000-000000000065"));
    let frame = split.and_then(|message| message.raw_frame.as_ref()).expect("the frame read so far").value();
    assert_eq!(frame["mergedUuids"], serde_json::json!(["00000066-0000-4000-8000-000000000066"]));
}

#[test]
fn a_long_session_is_handed_over_in_parts_that_add_up_to_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (path, file) = demo_transcript(dir.path());
    let mut report = ParseReport::default();
    let projected = || -> Vec<_> {
        crate::project::project(std::slice::from_ref(&file), &mut ParseReport::default())
            .into_iter()
            .map(Some)
            .collect()
    };
    let mut whole = projected();
    let all: Vec<usize> = (0..whole.len()).collect();
    assert!(crate::parse::fill_parts(&path, file.start(), &all, &mut whole, &mut report, None).unwrap());

    // Flushing at every line hands over each message as soon as its last line was read.
    let mut remainders = projected();
    let mut sink = hindcast_testing::CollectingSink::default();
    let mut flush = crate::parse::Flush { sink: &mut sink, every_bytes: 1 };
    assert!(
        crate::parse::fill_parts(&path, file.start(), &all, &mut remainders, &mut report, Some(&mut flush)).unwrap()
    );
    assert!(sink.exchanges.len() > 1, "the session left in parts: {}", sink.exchanges.len());

    for (whole, remainder) in whole.into_iter().zip(remainders) {
        let whole = whole.unwrap().exchange;
        let mut parts: Vec<ProjectedExchange> = sink
            .exchanges
            .iter()
            .filter(|(_, part)| part.session.native_id == whole.session.native_id)
            .map(|(_, part)| part.clone())
            .collect();
        parts.push(remainder.unwrap().exchange);
        let (mut messages, mut usage, mut next_seq) = (Vec::new(), Vec::new(), whole.seq_base);
        for part in parts {
            assert_eq!(part.session, whole.session);
            assert_eq!(part.seq_base, next_seq, "the parts are consecutive");
            next_seq += part.messages.len() as u64;
            messages.extend(part.messages);
            usage.extend(part.usage);
        }
        assert_eq!(messages, whole.messages);
        let keys = |usage: &[hindcast_core::model::ProjectedUsage]| {
            let mut keys: Vec<String> = usage.iter().map(|usage| usage.key.clone()).collect();
            keys.sort();
            keys
        };
        assert_eq!(keys(&usage), keys(&whole.usage));
    }
}

/// Imports `lines` as the one transcript `s1.jsonl` of a project and compares the exchanges, as
/// compact text, with `expected`.
fn check(lines: &[&str], expected: &str) {
    let config = tempfile::tempdir().unwrap();
    let project = config.path().join("projects/-p");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("s1.jsonl"), lines.join("\n") + "\n").unwrap();
    let env = Environment::with_home(config.path()).set_var("CLAUDE_CONFIG_DIR", config.path().display().to_string());
    let (exchanges, _) = import_all(&ClaudeProvider, &env, &TimeWindow::ALL);
    assert_eq!(hindcast_testing::compact_text(&exchanges).trim_end(), expected.trim());
}

const USER_LINE: &str = r#"{"type":"user","uuid":"u1","sessionId":"s1","timestamp":"2026-01-01T10:00:00Z","message":{"role":"user","content":"list the files"}}"#;

#[test]
fn split_response_lines_become_one_message_and_count_their_usage_once() {
    check(
        &[
            USER_LINE,
            r#"{"type":"assistant","uuid":"a1","parentUuid":"u1","sessionId":"s1","requestId":"r1","timestamp":"2026-01-01T10:00:01Z","message":{"id":"m1","model":"claude-x","role":"assistant","content":[{"type":"text","text":"Listing."}],"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2,"cache_creation_input_tokens":3}}}"#,
            r#"{"type":"assistant","uuid":"a2","parentUuid":"a1","sessionId":"s1","requestId":"r1","timestamp":"2026-01-01T10:00:02Z","message":{"id":"m1","model":"claude-x","role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}],"usage":{"input_tokens":10,"output_tokens":9,"cache_read_input_tokens":2,"cache_creation_input_tokens":3}}}"#,
        ],
        r#"
session s1
  0 user u1 [text "list the files"]
  1 assistant a1 parent=u1 [text "Listing.", tool_call Bash]
  usage m1/r1 model=claude-x in=15 out=9 cache_read=2 cache_write=3 reasoning=0 -> a1
"#,
    );
}

#[test]
fn synthetic_responses_carry_no_usage() {
    check(
        &[
            USER_LINE,
            r#"{"type":"assistant","uuid":"a1","parentUuid":"u1","sessionId":"s1","timestamp":"2026-01-01T10:00:01Z","message":{"id":"m1","model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"No response requested."}],"usage":{"input_tokens":0,"output_tokens":0}}}"#,
        ],
        r#"
session s1
  0 user u1 [text "list the files"]
  1 assistant a1 parent=u1 [text "No response requested."]
"#,
    );
}

#[test]
fn a_copied_line_is_imported_once_and_parents_resolve_through_progress_lines() {
    check(
        &[
            USER_LINE,
            USER_LINE,
            r#"{"type":"progress","uuid":"p1","parentUuid":"u1","sessionId":"s1","timestamp":"2026-01-01T10:00:01Z","data":{"type":"hook_progress"}}"#,
            r#"{"type":"assistant","uuid":"a1","parentUuid":"p1","sessionId":"s1","timestamp":"2026-01-01T10:00:02Z","message":{"id":"m1","model":"claude-x","role":"assistant","content":[{"type":"text","text":"Done."}]}}"#,
        ],
        r#"
session s1
  0 user u1 [text "list the files"]
  1 assistant a1 parent=u1 [text "Done."]
"#,
    );
}

/// The lines of one project file `name`, imported: exchanges and report.
fn import_lines(files: &[(&str, &[u8])]) -> (Vec<ProjectedExchange>, ParseReport) {
    let config = tempfile::tempdir().unwrap();
    let project = config.path().join("projects/-p");
    std::fs::create_dir_all(&project).unwrap();
    for (name, bytes) in files {
        std::fs::write(project.join(name), bytes).unwrap();
    }
    let env = Environment::with_home(config.path()).set_var("CLAUDE_CONFIG_DIR", config.path().display().to_string());
    import_all(&ClaudeProvider, &env, &TimeWindow::ALL)
}

#[test]
fn lines_without_a_records_fields_are_skipped_and_counted_never_stored() {
    for (line, reason) in [
        ("{}", "no `type`"),
        (r#"{"type":""}"#, "no `type`"),
        (r#"{"type":"weird","timestamp":"2026-01-01T10:00:05Z"}"#, "a `weird` line with no `uuid`"),
        (r#"{"type":"user","message":{"role":"user","content":"no uuid"}}"#, "a `user` line with no `uuid`"),
    ] {
        let file = format!("{USER_LINE}\n{line}\n{line}\n");
        let (exchanges, report) = import_lines(&[("s1.jsonl", file.as_bytes())]);
        assert_eq!(exchanges.len(), 1, "{line}");
        assert_eq!(exchanges[0].messages.len(), 1, "{line} was stored");
        assert_eq!(report.lines_skipped.count, 2, "{line}");
        let location = report.lines_skipped.first[0].to_string();
        assert!(location.contains("s1.jsonl:2: not a transcript record") && location.contains(reason), "{location}");
    }
    // Known types that carry no uuid, an unknown type with one, and a response id are records.
    check(
        &[
            USER_LINE,
            r#"{"type":"summary","summary":"Files","leafUuid":"u1"}"#,
            r#"{"type":"telepathy","uuid":"x1","parentUuid":"u1","sessionId":"s1","timestamp":"2026-01-01T10:00:03Z"}"#,
        ],
        r#"
session s1 title="Files"
  0 user u1 [text "list the files"]
  1 other x1 parent=u1 [other]
"#,
    );
}

#[test]
fn a_transcript_without_records_is_counted_not_made_a_session() {
    let (exchanges, report) = import_lines(&[
        ("empty.jsonl", b""),
        ("garbage.jsonl", b"{}\n{}\nnot json\n"),
        ("s1.jsonl", USER_LINE.as_bytes()),
    ]);
    let ids: Vec<&str> = exchanges.iter().map(|exchange| exchange.session.native_id.as_str()).collect();
    assert_eq!(ids, ["s1"]);
    let skipped: Vec<String> = report.records_skipped.first.iter().map(ToString::to_string).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.iter().all(|location| location.contains("no transcript records")), "{skipped:?}");
    assert_eq!(report.lines_skipped.count, 3);
}

#[test]
fn unreadable_timestamps_are_counted_and_the_record_kept_without_one() {
    let lines: Vec<String> = ["not-a-date", "2026-13-45T10:00:00Z", "9999-12-31T23:59:59.999Z"]
        .iter()
        .enumerate()
        .map(|(index, stamp)| {
            format!(r#"{{"type":"user","uuid":"u{index}","sessionId":"s1","timestamp":"{stamp}","message":{{"role":"user","content":"hi"}}}}"#)
        })
        .chain([r#"{"type":"user","uuid":"n1","sessionId":"s1","timestamp":12345,"message":{"role":"user","content":"hi"}}"#.to_string()])
        .chain([r#"{"type":"user","uuid":"n2","sessionId":"s1","timestamp":null,"message":{"role":"user","content":"hi"}}"#.to_string()])
        .collect();
    let (exchanges, report) = import_lines(&[("s1.jsonl", (lines.join("\n") + "\n").as_bytes())]);
    assert_eq!(exchanges[0].messages.len(), 5);
    assert!(exchanges[0].messages.iter().all(|message| message.timestamp.is_none()));
    assert_eq!(report.timestamps_unreadable.count, 4, "null is no timestamp, not an unreadable one");
    assert!(report.timestamps_unreadable.first[0].to_string().contains("s1.jsonl:1: timestamp \"not-a-date\""));
}
