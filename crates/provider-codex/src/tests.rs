//! Tests of the Codex provider over the project's fixtures (every generation and quirk), plus
//! insta snapshots of the projected exchanges.

use std::path::{Path, PathBuf};

use hindcast_core::model::{PartKind, ProjectedExchange, Relationship, Role};
use hindcast_core::provider::{Environment, ParseReport, Provider};
use hindcast_core::time_window::TimeWindow;
use hindcast_testing::import_all;

use crate::CodexProvider;

fn fixture_home() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/codex")
}

fn import_home(home: &Path) -> (Vec<ProjectedExchange>, ParseReport) {
    let env = Environment::with_home("/nonexistent-home").set_var("CODEX_HOME", home.display().to_string());
    import_all(&CodexProvider, &env, &TimeWindow::ALL)
}

fn import() -> (Vec<ProjectedExchange>, ParseReport) {
    import_home(&fixture_home())
}

fn thread<'a>(exchanges: &'a [ProjectedExchange], id: &str) -> &'a ProjectedExchange {
    exchanges.iter().find(|exchange| exchange.session.native_id == id).unwrap_or_else(|| panic!("no thread {id}"))
}

const PARENT: &str = "019c0000-0000-7000-8000-0000000000a1";

#[test]
fn snapshot_of_every_fixture_thread() {
    let (mut exchanges, report) = import();
    exchanges.sort_by(|a, b| a.session.native_id.cmp(&b.session.native_id));
    insta::assert_json_snapshot!("exchanges", exchanges, { ".**.source_path" => "[source path]" });
    insta::assert_json_snapshot!("report", report, { ".**.path" => "[source path]" });
}

#[test]
fn every_generation_imports() {
    let (exchanges, _) = import();
    for (id, format, messages) in [
        ("0a0a0a0a-0000-4000-8000-00000000000a", "G0-json", 5),
        ("0b0b0b0b-0000-4000-8000-00000000000b", "G1/G2-bare-jsonl", 4),
        ("0c0c0c0c-0000-4000-8000-00000000000c", "G1/G2-bare-jsonl", 4),
        (PARENT, "G3/G4-envelope", 14),
        ("019d0000-0000-7000-8000-0000000000e5", "G3/G4-envelope", 7),
    ] {
        let exchange = thread(&exchanges, id);
        assert_eq!(exchange.session.metadata["format"], format, "{id}");
        assert_eq!(exchange.messages.len(), messages, "{id}");
    }
    let g0 = thread(&exchanges, "0a0a0a0a-0000-4000-8000-00000000000a");
    assert!(
        g0.messages
            .iter()
            .all(|m| m.identity.source == hindcast_core::model::IdentitySource::Native || m.role == Role::Tool)
    );
    assert_eq!(g0.messages[0].native_id.as_deref(), Some("msg_g0_1"), "native ids when present");
    let g2 = thread(&exchanges, "0c0c0c0c-0000-4000-8000-00000000000c");
    assert_eq!(g2.session.git.branch.as_deref(), Some("dev"));
    assert_eq!(g2.session.git.commit.as_deref(), Some("feedface00000000000000000000000000000000"));
}

#[test]
fn tool_calls_pair_with_outputs_by_call_id() {
    let (exchanges, _) = import();
    let parts: Vec<_> = thread(&exchanges, PARENT).messages.iter().flat_map(|m| &m.parts).collect();
    let call =
        parts.iter().find(|p| p.tool_call_id.as_deref() == Some("call_p1") && p.kind == PartKind::ToolCall).unwrap();
    assert_eq!(call.tool_input.as_ref().unwrap()["command"], "rg TODO", "arguments JSON is parsed");
    let result =
        parts.iter().find(|p| p.tool_call_id.as_deref() == Some("call_p1") && p.kind == PartKind::ToolResult).unwrap();
    assert_eq!((result.tool_name.as_deref(), result.is_error), (Some("shell_command"), Some(false)));
    let raw =
        parts.iter().find(|p| p.tool_call_id.as_deref() == Some("call_p2") && p.kind == PartKind::ToolCall).unwrap();
    assert_eq!(raw.tool_input.as_ref().unwrap(), "not json {", "invalid arguments are kept verbatim");
    let array =
        parts.iter().find(|p| p.tool_call_id.as_deref() == Some("call_p2") && p.kind == PartKind::ToolResult).unwrap();
    assert_eq!(array.text.as_deref(), Some("no docs"));
    assert_eq!(array.metadata.as_ref().unwrap()["images"], 1);
    let g0 = thread(&exchanges, "0a0a0a0a-0000-4000-8000-00000000000a");
    let failed = g0.messages.iter().flat_map(|m| &m.parts).find(|p| p.kind == PartKind::ToolResult).unwrap();
    assert_eq!(failed.is_error, Some(true), "legacy shell output with exit_code 127");
    let serialized = serde_json::to_string(&exchanges).unwrap();
    assert!(!serialized.contains("AAAAAAAAAAAAAAAA"), "image data is never kept");
}

#[test]
fn prompts_are_stored_once_and_injected_context_is_flagged() {
    let (exchanges, _) = import();
    let parent = thread(&exchanges, PARENT);
    let prompts: Vec<String> = parent
        .messages
        .iter()
        .filter(|m| m.role == Role::User && !m.flags.injected)
        .filter_map(|m| m.parts[0].text.clone())
        .collect();
    assert_eq!(prompts, ["Find the TODOs.", "Fix it."]);
    let injected: Vec<Role> = parent.messages.iter().filter(|m| m.flags.injected).map(|m| m.role).collect();
    assert_eq!(injected, [Role::Developer, Role::User, Role::User], "permissions, AGENTS.md, environment context");
    let assistant: Vec<_> =
        parent.messages.iter().filter(|m| m.role == Role::Assistant && m.parts[0].kind == PartKind::Text).collect();
    assert_eq!(assistant.len(), 2, "agent_message events are not stored again");
    assert_eq!(parent.session.title.as_deref(), Some("Find the TODOs"));
    let review = thread(&exchanges, "019c0000-0000-7000-8000-0000000000c3");
    assert_eq!(review.messages[0].role, Role::User, "a prompt only in an event is kept");
}

#[test]
fn fork_history_is_not_imported_twice_and_its_usage_continues_from_the_parent() {
    let (exchanges, report) = import();
    let fork = thread(&exchanges, "019c0000-0000-7000-8000-0000000000f1");
    let link = fork.session.parent.as_ref().unwrap();
    assert_eq!((link.parent_native_id.as_str(), link.relationship), (PARENT, Relationship::Fork));
    let texts: Vec<_> = fork.messages.iter().filter_map(|m| m.parts.first()?.text.clone()).collect();
    assert_eq!(texts, ["Instead, list the FIXMEs.", "No FIXMEs."]);
    assert_eq!(report.records_ignored.get("copied parent history (fork)"), Some(&19));
    assert_eq!(fork.usage.len(), 1);
    assert_eq!((fork.usage[0].input_tokens, fork.usage[0].output_tokens), (700, 20), "delta over the copied totals");
    assert_eq!(fork.usage[0].model.as_deref(), Some("gpt-5.1-codex"), "model from the latest turn_context");
}

#[test]
fn sub_agents_link_to_their_parent() {
    let (exchanges, report) = import();
    let spawned = thread(&exchanges, "019c0000-0000-7000-8000-0000000000b2");
    assert_eq!(spawned.session.parent.as_ref().unwrap().parent_native_id, PARENT);
    assert_eq!(spawned.usage.len(), 1, "the replayed parent token_count is not counted");
    assert_eq!(spawned.usage[0].input_tokens, 300);
    let review = thread(&exchanges, "019c0000-0000-7000-8000-0000000000c3");
    assert_eq!(review.session.parent.as_ref().unwrap().parent_native_id, PARENT);
    assert_eq!(review.session.metadata["linked_by"], "review timestamp (exact)");
    let compact = thread(&exchanges, "019c0000-0000-7000-8000-0000000000d4");
    assert!(compact.session.parent.is_none());
    assert!(report.warnings.iter().any(|w| w.contains("0000000000d4") && w.contains("unlinked")));
}

#[test]
fn usage_is_counted_from_cumulative_deltas() {
    let (exchanges, report) = import();
    let usage = &thread(&exchanges, PARENT).usage;
    let inputs: Vec<u64> = usage.iter().map(|u| u.input_tokens).collect();
    assert_eq!(inputs, [1000, 1500, 300, 400], "first, delta, reset fallback to last, delta after reset");
    let totals = usage.iter().fold((0, 0, 0, 0), |t, u| {
        (t.0 + u.input_tokens, t.1 + u.cache_read_tokens, t.2 + u.output_tokens, t.3 + u.reasoning_tokens)
    });
    assert_eq!(totals, (3200, 2400, 150, 43));
    assert!(usage.iter().all(|u| u.cache_read_tokens <= u.input_tokens && u.reasoning_tokens <= u.output_tokens));
    assert!(usage.iter().all(|u| u.input_tokens < 940_499), "the compaction estimate is not usage");
    assert_eq!(report.records_ignored.get("token_count re-emit (unchanged totals)"), Some(&2));
    assert_eq!(report.records_ignored.get("token_count without info"), Some(&1));
    assert_eq!(report.records_ignored.get("token_usage_record (counted from token_count)"), Some(&1));
}

#[test]
fn paginated_segments_form_one_thread_and_unknowns_are_kept() {
    let (exchanges, report) = import();
    let paginated = thread(&exchanges, "019d0000-0000-7000-8000-0000000000e5");
    assert_eq!(paginated.session.metadata["segments"], 2);
    assert_eq!(paginated.session.sandbox_mode.as_deref(), Some("read-only"), "the `mode` tag");
    assert_eq!(paginated.session.approval_mode.as_deref(), Some("granular"));
    let others: Vec<_> = paginated.messages.iter().filter(|m| m.role == Role::Other).collect();
    assert_eq!(others.len(), 3, "unknown response item, event and line type are kept as other");
    assert_eq!(report.unknown_records, 3);
    assert_eq!(report.lines_skipped.count, 1);
    assert!(report.lines_skipped.first[0].path.to_string_lossy().ends_with("_0002.jsonl.zst"));
    assert!(report.lines_skipped.first[0].reason.starts_with("truncated last line"));
}

#[test]
fn discovery_skips_copies_counts_diagnostics_and_never_lists_auth() {
    let discovery = CodexProvider
        .discover(
            &Environment::with_home("/nonexistent-home").set_var("CODEX_HOME", fixture_home().display().to_string()),
            &TimeWindow::ALL,
        )
        .unwrap();
    assert_eq!(discovery.files_skipped.count, 1, "the archived copy");
    assert_eq!(discovery.files_by_kind.get("diagnostics"), Some(&2));
    let sources: Vec<_> = discovery.units.iter().flat_map(|unit| &unit.files).map(|file| file.path.clone()).collect();
    assert!(sources.iter().all(|path| !path.ends_with("auth.json") && !path.ends_with("history.jsonl")));
    let family = discovery.units.iter().find(|unit| unit.key == PARENT).unwrap();
    assert_eq!(family.files.len(), 4, "parent, fork, spawned and review sub-agent parse together");
}

#[test]
fn a_zstd_copy_imports_to_exactly_the_same_rows() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/codex/localpush");
    let name = "rollout-2026-02-23T12-40-23-019c8a4c-ed82-79a1-aa28-7738fc5ab61a.jsonl";
    let plain_home = tempfile::tempdir().unwrap();
    let zst_home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(plain_home.path().join("sessions")).unwrap();
    std::fs::create_dir_all(zst_home.path().join("sessions")).unwrap();
    let bytes = std::fs::read(corpus.join(name)).expect("corpus file");
    std::fs::write(plain_home.path().join("sessions").join(name), &bytes).unwrap();
    let compressed = zstd::encode_all(bytes.as_slice(), 3).unwrap();
    std::fs::write(zst_home.path().join("sessions").join(format!("{name}.zst")), compressed).unwrap();
    let rows = |home: &Path| {
        let (exchanges, report) = import_home(home);
        let context = hindcast_core::materialize::ProvenanceContext { provider: "codex".into(), run_id: "r".into() };
        use hindcast_core::materialize::Materializer;
        let mut batch = hindcast_core::materialize::MessagesMaterializer
            .materialize("messages", exchanges[0].clone(), &context)
            .unwrap();
        for row in &mut batch.sessions {
            row.provenance.source_path_sha256.clear();
        }
        for row in &mut batch.messages {
            row.provenance.source_path_sha256.clear();
        }
        for row in &mut batch.parts {
            row.provenance.source_path_sha256.clear();
        }
        for row in &mut batch.usage {
            row.provenance.source_path_sha256.clear();
        }
        (serde_json::to_string(&batch).unwrap(), report)
    };
    let (plain, plain_report) = rows(plain_home.path());
    let (zst, zst_report) = rows(zst_home.path());
    assert_eq!(plain_report, zst_report);
    assert!(plain == zst, "the .zst copy materializes to different rows");
    assert!(plain.len() > 100_000);
}

#[test]
fn a_blank_session_meta_id_falls_back_to_the_file_name_thread() {
    // Found by fuzzing: an empty id made a session without a native id, and its unit failed.
    let home = tempfile::tempdir().unwrap();
    let day = home.path().join("sessions/2026/01/01");
    std::fs::create_dir_all(&day).unwrap();
    let thread = "019c0000-0000-7000-8000-0000000000f0";
    let meta = r#"{"timestamp":"2026-01-01T10:00:00.000Z","type":"session_meta","payload":{"id":"  ","timestamp":"2026-01-01T10:00:00.000Z","cwd":"/w","originator":"codex_cli_rs","cli_version":"0.150.0"}}"#;
    let prompt = r#"{"timestamp":"2026-01-01T10:00:01.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}"#;
    std::fs::write(day.join(format!("rollout-2026-01-01T10-00-00-{thread}.jsonl")), format!("{meta}\n{prompt}\n"))
        .unwrap();
    let (exchanges, _) = import_home(home.path());
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].session.native_id, thread);
}

const THREAD: &str = "0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001";

/// Imports `lines` as one rollout of thread `THREAD` and compares the exchanges, as compact text,
/// with `expected`.
fn check(lines: &[&str], expected: &str) {
    let home = tempfile::tempdir().unwrap();
    let day = home.path().join("sessions/2026/01/01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join(format!("rollout-2026-01-01T10-00-00-{THREAD}.jsonl")), lines.join("\n") + "\n").unwrap();
    let (exchanges, _) = import_home(home.path());
    assert_eq!(hindcast_testing::compact_text(&exchanges).trim_end(), expected.trim());
}

const META: &str = r#"{"timestamp":"2026-01-01T10:00:00.000Z","type":"session_meta","payload":{"id":"0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001","timestamp":"2026-01-01T10:00:00.000Z","cwd":"/w","originator":"codex_cli_rs","cli_version":"0.50.0"}}"#;

#[test]
fn cumulative_token_counts_become_deltas_and_unchanged_re_emits_are_skipped() {
    check(
        &[
            META,
            r#"{"timestamp":"2026-01-01T10:00:01.000Z","type":"turn_context","payload":{"model":"gpt-x","cwd":"/w"}}"#,
            r#"{"timestamp":"2026-01-01T10:00:02.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":100,"cached_input_tokens":40,"output_tokens":10,"reasoning_output_tokens":4,"total_tokens":110}}}}"#,
            r#"{"timestamp":"2026-01-01T10:00:03.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":100,"cached_input_tokens":40,"output_tokens":10,"reasoning_output_tokens":4,"total_tokens":110}}}}"#,
            r#"{"timestamp":"2026-01-01T10:00:04.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":250,"cached_input_tokens":140,"output_tokens":30,"reasoning_output_tokens":4,"total_tokens":280}}}}"#,
        ],
        r#"
session 0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001
  usage 0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001@2026-01-01T10:00:02Z#110 model=gpt-x in=100 out=10 cache_read=40 cache_write=0 reasoning=4
  usage 0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001@2026-01-01T10:00:04Z#170 model=gpt-x in=150 out=20 cache_read=100 cache_write=0 reasoning=0
"#,
    );
}

#[test]
fn rate_limits_are_kept_per_window_from_every_token_count() {
    let (exchanges, report) = import_lines(&[
        META,
        // Before any usage (`info: null`), with the reset as an instant.
        r#"{"timestamp":"2026-01-01T10:00:01.000Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"primary":{"used_percent":12.5,"window_minutes":300,"resets_at":1767265200},"secondary":{"used_percent":3.0,"window_minutes":10080,"resets_at":1767810000},"plan_type":"plus"}}}"#,
        // An older rollout: the reset in seconds from the event; a null window is none.
        r#"{"timestamp":"2026-01-01T10:05:00.000Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"primary":{"used_percent":14,"window_minutes":300,"resets_in_seconds":600},"secondary":null}}}"#,
        // A custom provider: every limit null.
        r#"{"timestamp":"2026-01-01T10:06:00.000Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"primary":null,"secondary":null}}}"#,
        r#"{"timestamp":"2026-01-01T10:07:00.000Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"primary":{"window_minutes":300}}}}"#,
    ]);
    let got: Vec<String> = exchanges
        .iter()
        .flat_map(|exchange| &exchange.rate_limits)
        .map(|limit| {
            format!(
                "{} {} {:?} {} {:?} {:?}",
                limit.observed_at,
                limit.window,
                limit.window_minutes,
                limit.used_percent,
                limit.resets_at.map(|at| at.to_string()),
                limit.plan
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            r#"2026-01-01T10:00:01Z primary Some(300) 12.5 Some("2026-01-01T11:00:00Z") Some("plus")"#,
            r#"2026-01-01T10:00:01Z secondary Some(10080) 3 Some("2026-01-07T18:20:00Z") Some("plus")"#,
            r#"2026-01-01T10:05:00Z primary Some(300) 14 Some("2026-01-01T10:15:00Z") None"#,
        ]
    );
    assert_eq!(report.records_ignored.get("rate limit window without used_percent"), Some(&1));
}

#[test]
fn a_prompt_recorded_as_item_and_event_is_one_message_and_outputs_name_their_tool() {
    check(
        &[
            META,
            r#"{"timestamp":"2026-01-01T10:00:01.000Z","type":"response_item","payload":{"type":"message","id":"i1","role":"user","content":[{"type":"input_text","text":"run the tests"}]}}"#,
            r#"{"timestamp":"2026-01-01T10:00:01.000Z","type":"event_msg","payload":{"type":"user_message","message":"run the tests"}}"#,
            r#"{"timestamp":"2026-01-01T10:00:02.000Z","type":"response_item","payload":{"type":"function_call","id":"i2","name":"shell","call_id":"c1","arguments":"{\"command\":[\"cargo\",\"test\"]}"}}"#,
            r#"{"timestamp":"2026-01-01T10:00:03.000Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c1","output":"Exit code: 101\nfailed"}}"#,
        ],
        r#"
session 0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001
  0 user i1 [text "run the tests"]
  1 assistant i2 parent=i1 [tool_call shell]
  2 tool 0199aaaa-bbbb-7ccc-8ddd-eeeeffff0001#4#dd8287b9059e4de84d46d6dca2a1806fbbfb5c69cd5cb96f4f925347ab1b6464 parent=i2 [tool_result shell error "Exit code: 101\nfailed"]
"#,
    );
}

/// Imports one rollout of `lines`: the exchanges and the report.
fn import_lines(lines: &[&str]) -> (Vec<ProjectedExchange>, ParseReport) {
    let home = tempfile::tempdir().unwrap();
    let day = home.path().join("sessions/2026/01/01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join(format!("rollout-2026-01-01T10-00-00-{THREAD}.jsonl")), lines.join("\n") + "\n").unwrap();
    import_home(home.path())
}

const USER_ITEM: &str = r#"{"timestamp":"2026-01-01T10:00:01.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"two"}]}}"#;

#[test]
fn lines_without_a_records_fields_are_skipped_counted_and_keep_their_place() {
    let (with_garbage, report) = import_lines(&[META, "{}", r#"{"payload":{}}"#, USER_ITEM, "{}"]);
    assert_eq!(report.lines_skipped.count, 3);
    assert!(report.lines_skipped.first[0].to_string().contains(":2: not a rollout record"));
    let messages = &with_garbage[0].messages;
    assert_eq!(messages.len(), 1, "only the user message is stored");
    assert_eq!(messages[0].role, Role::User);
    // The message after the skipped lines keeps the identity an earlier release gave it (its
    // fallback key counts items, the skipped ones included), so upgraded stores match.
    let (plain, _) = import_lines(&[META, USER_ITEM]);
    assert_ne!(messages[0].identity.key, plain[0].messages[0].identity.key);
    let (all_garbage, report) = import_lines(&["{}", "{}"]);
    assert!(all_garbage.is_empty(), "a rollout with no record is no thread");
    assert_eq!(report.records_ignored.get("empty rollout file"), Some(&1));
}

#[test]
fn unreadable_timestamps_are_counted() {
    let bad = USER_ITEM.replace("2026-01-01T10:00:01.000Z", "2026-13-45T99:99:99Z");
    let (_, report) = import_lines(&[META, &bad]);
    assert_eq!(report.timestamps_unreadable.count, 1);
    assert!(report.timestamps_unreadable.first[0].to_string().contains(":2: timestamp \"2026-13-45T99:99:99Z\""));
}
