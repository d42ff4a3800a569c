//! Tests of the Gemini CLI provider over the project's fixtures (`fixtures/gemini`, a `.gemini`
//! directory with every era and record kind), plus insta snapshots of the projected exchanges.

use std::path::{Path, PathBuf};

use hindcast_core::model::{PartKind, ProjectedExchange, Relationship, Role};
use hindcast_core::provider::{Environment, ParseReport, Provider};
use hindcast_core::time_window::TimeWindow;
use hindcast_testing::{import_all, message_line};

use crate::GeminiProvider;

const MAIN: &str = "11111111-1111-4111-8111-111111111111";
const RESUMED: &str = "22222222-2222-4222-8222-222222222222";
const FLAT: &str = "33333333-3333-4333-8333-333333333333";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/gemini")
}

fn import() -> (Vec<ProjectedExchange>, ParseReport) {
    let env =
        Environment::with_home("/nonexistent-home").set_var(crate::DIR_VARIABLE, fixture_dir().display().to_string());
    let (mut exchanges, report) = import_all(&GeminiProvider, &env, &TimeWindow::ALL);
    exchanges.sort_by(|a, b| a.session.native_id.cmp(&b.session.native_id));
    (exchanges, report)
}

fn session<'a>(exchanges: &'a [ProjectedExchange], id: &str) -> &'a ProjectedExchange {
    exchanges.iter().find(|exchange| exchange.session.native_id == id).unwrap_or_else(|| panic!("no session {id}"))
}

/// A session in a few lines: its facts, one line per message (role, id, flags, part kinds) and
/// one per billed response.
fn outline(exchange: &ProjectedExchange) -> serde_json::Value {
    let session = &exchange.session;
    let messages: Vec<String> = exchange.messages.iter().map(message_line).collect();
    let usage: Vec<String> = exchange
        .usage
        .iter()
        .map(|usage| {
            format!(
                "{} {} in {} cached {} out {} reasoning {}",
                usage.key,
                usage.model.as_deref().unwrap_or("-"),
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.output_tokens,
                usage.reasoning_tokens
            )
        })
        .collect();
    serde_json::json!({
        "session": session.native_id,
        "parent": session.parent,
        "title": session.title,
        "cwd": session.cwd,
        "models": session.models,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "metadata": session.metadata,
        "messages": messages,
        "usage": usage,
    })
}

#[test]
fn snapshot_of_every_fixture_session() {
    let (exchanges, report) = import();
    let outlines: Vec<serde_json::Value> = exchanges.iter().map(outline).collect();
    insta::assert_json_snapshot!("sessions", outlines);
    insta::assert_json_snapshot!("report", report, { ".**.path" => "[source path]" });
}

#[test]
fn sessions_sub_agents_of_both_eras_and_the_resumed_legacy_session() {
    let (exchanges, _) = import();
    let ids: Vec<&str> = exchanges.iter().map(|exchange| exchange.session.native_id.as_str()).collect();
    assert_eq!(
        ids,
        [MAIN.to_string(), format!("{MAIN}/agent-77aa"), RESUMED.into(), FLAT.into(), format!("{FLAT}/s-u1")]
    );

    let nested = session(&exchanges, &format!("{MAIN}/agent-77aa"));
    let link = nested.session.parent.as_ref().unwrap();
    assert_eq!((link.parent_native_id.as_str(), link.relationship), (MAIN, Relationship::Subagent));
    assert_eq!(link.spawning_tool_call_id.as_deref(), Some("call-2"), "the parent's call names the agent");
    assert!(nested.messages.iter().all(|message| message.flags.sidechain));

    // Before March 2026 a sub-agent carried its parent's session id: the earlier file is the session.
    let flat = session(&exchanges, &format!("{FLAT}/s-u1"));
    assert_eq!(flat.session.parent.as_ref().unwrap().parent_native_id, FLAT);
    assert!(session(&exchanges, FLAT).session.parent.is_none());

    // The legacy .json of a resumed session is superseded by the .jsonl it was copied into.
    let resumed = session(&exchanges, RESUMED);
    assert_eq!(resumed.messages.len(), 4);
    assert_eq!(resumed.session.metadata["format"], "jsonl");
    assert_eq!(resumed.usage.len(), 2);
}

#[test]
fn project_directories_come_from_the_marker_or_the_registry() {
    let (exchanges, _) = import();
    assert_eq!(session(&exchanges, MAIN).session.cwd.as_deref(), Some("/home/dev/webapp"), ".project_root");
    assert_eq!(
        session(&exchanges, FLAT).session.cwd.as_deref(),
        Some("/home/dev/old-tool"),
        "sha256 of a registered path"
    );
}

#[test]
fn rewound_messages_stay_flagged_and_their_usage_counts_once() {
    let (exchanges, report) = import();
    let main = session(&exchanges, MAIN);
    let shown: Vec<&str> = main
        .messages
        .iter()
        .filter(|message| !message.flags.rewound)
        .filter_map(|message| message.native_id.as_deref())
        .collect();
    assert_eq!(shown, ["m-u3", "m-g4", "m-g5"], "the checkpoint kept two, one came after it");
    let rewound = main.messages.iter().filter(|message| message.flags.rewound).count();
    assert_eq!(rewound, 8);
    let usage_keys: Vec<&str> = main.usage.iter().map(|usage| usage.key.as_str()).collect();
    assert_eq!(usage_keys, ["m-g1", "m-g2", "m-g3", "m-g4", "m-g5"], "billed calls count, rewound or not, once each");
    let g4 = main.usage.iter().find(|usage| usage.key == "m-g4").unwrap();
    assert_eq!(g4.input_tokens, 15_000, "the checkpoint's copy without tokens keeps the earlier ones");

    let g1 = main.messages.iter().find(|message| message.native_id.as_deref() == Some("m-g1")).unwrap();
    let kinds: Vec<PartKind> = g1.parts.iter().map(|part| part.kind).collect();
    assert_eq!(
        kinds,
        [PartKind::Thinking, PartKind::ToolCall, PartKind::ToolResult],
        "the last copy, with its tool call"
    );
    let frame = g1.raw_frame.as_ref().unwrap().value();
    assert_eq!(frame["toolCalls"][0]["displayName"], "ReadFile", "what the parts do not hold stays in the frame");
    assert!(frame["toolCalls"][0].get("args").is_none() && frame.get("thoughts").is_none());

    let by_id = |id: &str| main.messages.iter().find(|message| message.native_id.as_deref() == Some(id)).unwrap();
    assert!(by_id("m-u4").flags.injected, "the client's own continue prompt");
    assert!(!by_id("m-u3").flags.injected);
    assert_eq!((by_id("m-info").role, by_id("m-info").flags.meta), (Role::System, true));
    assert!(by_id("m-err").flags.api_error);
    let other = main.messages.iter().find(|message| message.role == Role::Other).expect("the unknown record, kept");
    assert!(other.raw_frame.as_ref().unwrap().value().get("$patch").is_some());

    assert_eq!(report.unknown_records, 1);
    assert_eq!(report.lines_skipped.count, 1, "the torn line");
    assert_eq!(report.records_ignored["rewind"], 1);
    assert_eq!(report.records_ignored["checkpoint"], 1);
    assert_eq!(main.session.title.as_deref(), Some("Port 8080 in the web app config"));
    assert_eq!(main.session.models, ["gemini-2.5-pro", "gemini-2.5-flash"]);
}

#[test]
fn discovery_counts_what_it_does_not_import() {
    let env =
        Environment::with_home("/nonexistent-home").set_var(crate::DIR_VARIABLE, fixture_dir().display().to_string());
    let discovery = GeminiProvider.discover(&env, &TimeWindow::ALL).unwrap();
    assert_eq!(discovery.units.len(), 2);
    let kinds = &discovery.files_by_kind;
    assert_eq!((kinds["legacy_copy_superseded"], kinds["unreadable_backup"], kinds["prompt_log"]), (1, 1, 1));
}

#[test]
fn resume_commands_for_sessions_only() {
    assert_eq!(GeminiProvider.resume_command(MAIN).unwrap(), ["gemini", "--resume", MAIN]);
    assert!(GeminiProvider.resume_command(&format!("{MAIN}/agent-77aa")).is_none());
}
