//! Tests of the OpenCode provider over the project's fixture data directory (`opencode.db` built
//! from `fixtures/opencode/opencode.sql`, plus a legacy `storage/` tree), with a small snapshot.

use hindcast_core::model::{ProjectedExchange, Relationship, Role};
use hindcast_core::provider::{Environment, ParseReport, Provider};
use hindcast_core::time_window::TimeWindow;
use hindcast_testing::{import_all, message_line, opencode_fixture};

use crate::OpencodeProvider;

fn import() -> (Vec<ProjectedExchange>, ParseReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = opencode_fixture(&dir.path().join("opencode"));
    let env = Environment::with_home(dir.path()).set_var(crate::DIR_VARIABLE, data.display().to_string());
    let (mut exchanges, report) = import_all(&OpencodeProvider, &env, &TimeWindow::ALL);
    exchanges.sort_by(|a, b| a.session.native_id.cmp(&b.session.native_id));
    (exchanges, report, dir)
}

fn session<'a>(exchanges: &'a [ProjectedExchange], id: &str) -> &'a ProjectedExchange {
    exchanges.iter().find(|exchange| exchange.session.native_id == id).unwrap_or_else(|| panic!("no session {id}"))
}

/// A session in a few lines: one per message (role, id, flags, part kinds), one per billed step.
fn outline(exchange: &ProjectedExchange) -> serde_json::Value {
    let messages: Vec<String> = exchange.messages.iter().map(message_line).collect();
    let usage: Vec<String> = exchange
        .usage
        .iter()
        .map(|usage| {
            format!(
                "{} {} in {} cache_read {} cache_write {} out {} reasoning {}",
                usage.key,
                usage.model.as_deref().unwrap_or("-"),
                usage.input_tokens,
                usage.cache_read_tokens,
                usage.cache_creation_tokens,
                usage.output_tokens,
                usage.reasoning_tokens
            )
        })
        .collect();
    serde_json::json!({
        "session": exchange.session.native_id,
        "parent": exchange.session.parent,
        "title": exchange.session.title,
        "cwd": exchange.session.cwd,
        "version": exchange.session.client_version,
        "models": exchange.session.models,
        "messages": messages,
        "usage": usage,
        "notes": exchange.notes.iter().map(|note| note.note.clone()).collect::<Vec<_>>(),
    })
}

#[test]
fn snapshot_of_every_fixture_session() {
    let (exchanges, report, _dir) = import();
    let outlines: Vec<serde_json::Value> = exchanges.iter().map(outline).collect();
    insta::assert_json_snapshot!("sessions", outlines);
    insta::assert_json_snapshot!("report", report, { ".**.path" => "[source path]" });
}

#[test]
fn steps_forks_sub_agents_and_reverts() {
    let (exchanges, report, _dir) = import();
    let ids: Vec<&str> = exchanges.iter().map(|exchange| exchange.session.native_id.as_str()).collect();
    assert_eq!(
        ids,
        ["ses_child", "ses_fork", "ses_legacy", "ses_main", "ses_old"],
        "the database's copy of ses_main only"
    );
    assert_eq!(report.records_ignored["legacy_session_in_database"], 1);

    let main = session(&exchanges, "ses_main");
    let keys: Vec<&str> = main.usage.iter().map(|usage| usage.key.as_str()).collect();
    assert_eq!(keys.len(), 4, "two steps of msg_02, one each of msg_04 and msg_06: {keys:?}");
    let msg_02: u64 = main
        .usage
        .iter()
        .filter(|usage| usage.message_key.as_deref() == Some("msg_02"))
        .map(|usage| usage.input_tokens)
        .sum();
    assert_eq!(msg_02, 120 + 800 + 200 + 40 + 900 + 100, "both steps' tokens, not the message's (its last step)");
    let rewound: Vec<&str> = main
        .messages
        .iter()
        .filter(|message| message.flags.rewound)
        .filter_map(|message| message.native_id.as_deref())
        .collect();
    assert_eq!(rewound, ["msg_05", "msg_06"], "reverted from msg_05 on");
    assert!(
        main.messages[0].parts.len() == 3 && !main.messages[0].flags.injected,
        "a typed prompt with a synthetic part"
    );

    let child = session(&exchanges, "ses_child");
    let link = child.session.parent.as_ref().unwrap();
    assert_eq!((link.parent_native_id.as_str(), link.relationship), ("ses_main", Relationship::Subagent));
    assert_eq!(link.spawning_tool_call_id.as_deref(), Some("call_task"));
    assert_eq!(
        (child.usage[0].output_tokens, child.usage[0].reasoning_tokens),
        (65, 25),
        "total counts reasoning apart"
    );

    let fork = session(&exchanges, "ses_fork");
    let link = fork.session.parent.as_ref().unwrap();
    assert_eq!((link.parent_native_id.as_str(), link.relationship), ("ses_main", Relationship::Fork));
    assert_eq!(fork.messages.len(), 4, "the copied history stays the fork's conversation");
    assert_eq!(
        fork.usage.iter().map(|usage| usage.key.as_str()).collect::<Vec<_>>().len(),
        1,
        "copied usage counted once, in the source"
    );
    assert_eq!(report.records_ignored["usage_copied_by_fork"], 1);

    let old = session(&exchanges, "ses_old");
    assert_eq!(
        old.session.cwd.as_deref(),
        Some("/home/dev/shop"),
        "the project's worktree when the session has no directory"
    );
    let by_id = |id: &str| old.messages.iter().find(|message| message.native_id.as_deref() == Some(id)).unwrap();
    assert!(!by_id("msg_33").flags.api_error, "an abort is not an API error");
    assert!(by_id("msg_34").flags.api_error);
    assert!(by_id("msg_35").flags.compact_summary);
    assert_eq!(old.usage.len(), 2, "messages without steps count their own tokens; zero-token aborts none");
    assert_eq!(report.unknown_records, 1, "the unknown part type");

    let legacy = session(&exchanges, "ses_legacy");
    assert_eq!(legacy.session.cwd.as_deref(), Some("/home/dev/tool"));
    assert_eq!(legacy.messages.iter().map(|message| message.role).collect::<Vec<_>>(), [Role::User, Role::Assistant]);
    assert_eq!(
        (legacy.usage[0].input_tokens, legacy.usage[0].output_tokens),
        (1200, 120),
        "no total: reasoning within output"
    );
}

#[test]
fn the_database_is_opened_read_only_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = opencode_fixture(&dir.path().join("opencode"));
    let before = std::fs::read(data.join("opencode.db")).unwrap();
    let env = Environment::with_home(dir.path()).set_var(crate::DIR_VARIABLE, data.display().to_string());
    import_all(&OpencodeProvider, &env, &TimeWindow::ALL);
    assert_eq!(std::fs::read(data.join("opencode.db")).unwrap(), before);
    let discovery = OpencodeProvider.discover(&env, &TimeWindow::ALL).unwrap();
    let kinds: Vec<&str> = discovery.units[0].files.iter().map(|file| file.kind.as_str()).collect();
    assert!(kinds.contains(&"database") && kinds.contains(&"database_wal"), "{kinds:?}");
    assert!(
        !discovery.units[0].files.iter().any(|file| file.path.to_string_lossy().ends_with("-shm")),
        "-shm is no source"
    );
}
