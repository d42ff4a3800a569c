//! Views over a store built from the fixtures and the shared corpora with the real providers:
//! snapshots of their JSON, token totals against the usage table and the verified corpus totals,
//! export privacy (planted markers never leak) and determinism.
#![cfg(feature = "providers")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hindcast_core::provider::{Environment, Provider};
use hindcast_core::registry::MaterializerRegistry;
use hindcast_core::time_window::TimeWindow;
use hindcast_import::backfill::{BackfillOptions, RunContext, SilentObserver, run_backfill};
use hindcast_import::envelope::EventLog;
use hindcast_store::views::export::{ExportKey, posthog_daily_activity, session_events};
use hindcast_store::views::report::{self, Period, ReportFilter, Zone};
use hindcast_store::views::sessions::{self, SessionFilter, SessionOrder};
use hindcast_store::{Store, StoreOptions};
use rusqlite::Connection;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn providers() -> Vec<Arc<dyn Provider>> {
    vec![
        Arc::new(hindcast_provider_claude::ClaudeProvider),
        Arc::new(hindcast_provider_codex::CodexProvider),
        Arc::new(hindcast_provider_gemini::GeminiProvider),
        Arc::new(hindcast_provider_legacy::LegacyProvider),
        Arc::new(hindcast_provider_opencode::OpencodeProvider),
    ]
}

/// Imports with the real pipeline into a fresh store and opens it read-only.
fn build_store(dir: &Path, env: &Environment) -> Connection {
    let db = dir.join("h.db");
    let materializers = MaterializerRegistry::builtin();
    let events = EventLog::disabled();
    let context =
        RunContext { materializers: &materializers, env, events: &events, observer: &SilentObserver, cancel: None };
    let mut store = Store::open(&db, StoreOptions::default()).unwrap();
    let report = run_backfill(&providers(), Some(&mut store), &BackfillOptions::new(TimeWindow::ALL, false), &context);
    assert!(
        report.providers.iter().all(|p| p.error.is_none()),
        "{:?}",
        report.providers.iter().map(|p| &p.error).collect::<Vec<_>>()
    );
    drop(store);
    Store::open_read_only(&db).unwrap()
}

fn fixture_store(dir: &Path) -> Connection {
    let fixtures = workspace().join("fixtures");
    let env = Environment::with_home(fixtures.join("legacy/home"))
        .set_var("CLAUDE_CONFIG_DIR", fixtures.join("claude/projects").display().to_string())
        .set_var("CODEX_HOME", fixtures.join("codex").display().to_string());
    build_store(dir, &env)
}

#[test]
fn view_outputs_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let conn = fixture_store(dir.path());
    let listed = sessions::list(&conn, &SessionFilter::default()).unwrap();
    assert_eq!(listed.len(), 14 + 10 + 9);
    insta::assert_json_snapshot!("sessions_list", listed);
    let claude_only = sessions::list(
        &conn,
        &SessionFilter { client: Some("claude".into()), limit: Some(3), ..SessionFilter::default() },
    )
    .unwrap();
    assert_eq!(claude_only.len(), 3);
    assert!(claude_only.windows(2).all(|pair| pair[0].started_at >= pair[1].started_at), "newest first");
    let by_project =
        sessions::list(&conn, &SessionFilter { project: Some("Shop (overlay)".into()), ..SessionFilter::default() })
            .unwrap();
    assert_eq!(by_project.len(), 5, "legacy sessions by project display name");
    let ordered =
        |order: SessionOrder| sessions::list(&conn, &SessionFilter { order, ..SessionFilter::default() }).unwrap();
    let by_tokens = ordered(SessionOrder::Tokens);
    let total = |session: &sessions::SessionSummary| session.tokens.input + session.tokens.output;
    assert!(by_tokens.windows(2).all(|pair| total(&pair[0]) >= total(&pair[1])), "most tokens first");
    assert!(total(&by_tokens[0]) > total(&by_tokens[by_tokens.len() - 1]));
    let by_messages = ordered(SessionOrder::Messages);
    assert!(by_messages.windows(2).all(|pair| pair[0].messages >= pair[1].messages), "most messages first");
    let oldest = ordered(SessionOrder::Oldest);
    let dated: Vec<_> = oldest.iter().filter_map(|session| session.started_at.as_deref()).collect();
    assert!(dated.windows(2).all(|pair| pair[0] <= pair[1]), "oldest first");
    let text = |text: &str| SessionFilter { text: Some(text.into()), ..SessionFilter::default() };
    let found = sessions::list(&conn, &text("CHANGELOG")).unwrap();
    assert!(
        !found.is_empty()
            && found.iter().all(|session| session
                .title
                .as_deref()
                .is_some_and(|title| title.to_lowercase().contains("changelog")))
    );
    assert_eq!(sessions::count(&conn, &text("CHANGELOG")).unwrap(), found.len() as u64);
    assert_eq!(
        sessions::list(&conn, &text("019C0000-0000-7000-8000-0000000000A1")).unwrap().len(),
        1,
        "by native id, any case"
    );

    let id = sessions::resolve(&conn, "019c0000-0000-7000-8000-0000000000a1").unwrap();
    assert_eq!(sessions::resolve(&conn, &id[..10]).unwrap(), id, "a unique prefix resolves");
    assert!(sessions::resolve(&conn, "019c0000").is_err(), "an ambiguous prefix is refused");
    insta::assert_json_snapshot!("session_show", sessions::show(&conn, &id).unwrap(), { ".metadata" => "[metadata]" });
    insta::assert_json_snapshot!("session_trees", sessions::tree(&conn, None).unwrap());

    let by_model = ReportFilter { by_model: true, ..filter(Zone::utc(), None, None, None) };
    insta::assert_json_snapshot!("stats_daily", report::periods(&conn, &by_model, Period::Day).unwrap());
}

#[test]
fn gemini_sessions_lineage_and_a_rewound_conversation_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let env = Environment::with_home(dir.path())
        .set_var("HINDCAST_GEMINI_DIR", workspace().join("fixtures/gemini").display().to_string());
    let conn = build_store(dir.path(), &env);
    let listed = sessions::list(&conn, &SessionFilter::default()).unwrap();
    assert_eq!(listed.len(), 5);
    insta::assert_json_snapshot!("gemini_sessions_list", listed);
    insta::assert_json_snapshot!("gemini_session_trees", sessions::tree(&conn, None).unwrap());
    let id = sessions::resolve(&conn, "11111111-1111-4111-8111-111111111111").unwrap();
    let shown = sessions::show(&conn, &id).unwrap();
    let rewound = shown.messages.iter().filter(|message| message.rewound).count();
    assert_eq!(rewound, 8, "rewound messages are stored and marked");
    insta::assert_json_snapshot!("gemini_session_show", shown, { ".metadata" => "[metadata]" });
}

#[test]
fn opencode_sessions_lineage_and_costs_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let data = hindcast_testing::opencode_fixture(&dir.path().join("opencode"));
    let env = Environment::with_home(dir.path()).set_var("HINDCAST_OPENCODE_DIR", data.display().to_string());
    let conn = build_store(dir.path(), &env);
    let listed = sessions::list(&conn, &SessionFilter::default()).unwrap();
    assert_eq!(listed.len(), 5);
    insta::assert_json_snapshot!("opencode_sessions_list", listed);
    insta::assert_json_snapshot!("opencode_session_trees", sessions::tree(&conn, None).unwrap());
    let id = sessions::resolve(&conn, "ses_main").unwrap();
    insta::assert_json_snapshot!("opencode_session_show", sessions::show(&conn, &id).unwrap(), { ".metadata" => "[metadata]" });
    // Every usage row is priced by hindcast; the client's own figure stays in the message frame.
    let unpriced: i64 = conn
        .query_row("SELECT count(*) FROM token_usage WHERE cost_nano_usd IS NULL AND model LIKE 'claude%'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(unpriced, 0);
    let recorded: f64 = conn
        .query_row("SELECT sum(json_extract(raw_frame, '$.cost')) FROM messages WHERE role = 'assistant'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert!(recorded > 0.0, "the cost OpenCode recorded is kept");
}

fn instant(day: &str) -> jiff::Timestamp {
    format!("{day}T00:00:00Z").parse().unwrap()
}

fn filter(zone: Zone, client: Option<&str>, since: Option<&str>, until: Option<&str>) -> ReportFilter {
    ReportFilter {
        zone,
        since: since.map(instant),
        until: until.map(instant),
        client: client.map(str::to_string),
        by_model: false,
    }
}

const ZONES: [&str; 4] = ["UTC", "America/Los_Angeles", "Asia/Kolkata", "Asia/Kathmandu"];

/// The trigger-maintained rollups answer exactly what recomputing from the rows answers, day by
/// day in every zone, and per session.
fn assert_rollups_match(conn: &Connection) {
    for zone in ZONES {
        for client in [None, Some("claude"), Some("codex"), Some("legacy")] {
            for (since, until) in [(None, None), (Some("2026-02-01"), Some("2026-03-04")), (Some("2026-05-01"), None)] {
                let filter = filter(Zone::named(zone).unwrap(), client, since, until);
                let fast: std::collections::BTreeMap<String, (report::Activity, report::Usage)> =
                    report::periods(conn, &filter, Period::Day)
                        .unwrap()
                        .rows
                        .into_iter()
                        .map(|row| (row.period, (row.activity, row.usage)))
                        .collect();
                let slow = hindcast_testing::oracle::daily_recomputed(conn, &filter).unwrap();
                assert_eq!(fast, slow, "{zone} {client:?} {since:?}..{until:?}");
            }
        }
    }
    let everything = filter(Zone::utc(), None, None, None);
    let sessions = report::sessions(conn, &everything).unwrap();
    let recomputed = hindcast_testing::oracle::session_usage_recomputed(conn).unwrap();
    let mut rolled_up = report::Usage::default();
    for session in &sessions.sessions {
        rolled_up.add(&session.usage);
    }
    let mut raw = report::Usage::default();
    for usage in recomputed.values() {
        raw.add(usage);
    }
    assert_eq!(rolled_up, raw, "every session's usage, sub-agents rolled in, adds up to the rows");
    for session in &sessions.sessions {
        if session.subagents == 0 {
            assert_eq!(Some(&session.own), recomputed.get(&session.session_id).or(Some(&report::Usage::default())));
        }
    }
}

#[test]
fn rollups_equal_the_recomputed_counters() {
    let dir = tempfile::tempdir().unwrap();
    let conn = fixture_store(dir.path());
    assert_rollups_match(&conn);
    assert!(!report::periods(&conn, &filter(Zone::utc(), None, None, None), Period::Day).unwrap().rows.is_empty());
}

#[test]
fn daily_token_totals_equal_the_usage_table_for_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let conn = fixture_store(dir.path());
    for (since, until) in [(None, None), (Some("2026-02-01"), Some("2026-03-04")), (Some("2026-05-01"), None)] {
        let report = report::periods(&conn, &filter(Zone::utc(), None, since, until), Period::Day).unwrap();
        let (input, cached, output): (i64, i64, i64) = conn
            .query_row(
                "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(cache_read_tokens), 0), coalesce(sum(output_tokens), 0) FROM usage \
                 WHERE timestamp >= '2024-01-01' AND (?1 IS NULL OR substr(timestamp, 1, 10) >= ?1) AND (?2 IS NULL OR substr(timestamp, 1, 10) < ?2)",
                [since, until],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        let total = &report.total.usage;
        let prompt = total.input + total.cache_read + total.cache_write_5m + total.cache_write_1h;
        assert_eq!((prompt, total.cache_read, total.output), (input, cached, output), "{since:?}..{until:?}");
        let summed: i64 = report.rows.iter().map(|day| day.usage.input).sum();
        assert_eq!(summed, total.input);
    }
}

#[test]
fn daily_totals_on_the_shared_corpora_match_the_verified_totals() {
    let home = tempfile::tempdir().unwrap();
    let env = hindcast_testing::shared_corpora_environment(home.path());
    let conn = build_store(home.path(), &env);
    assert_rollups_match(&conn);
    // Every corpus subagent (1.0 inline, 2.0 agent file, 2.1 subagents/) sits under its parent.
    let trees = sessions::tree(&conn, None).unwrap();
    for (parent, children) in [
        ("5c0375b4-57a5-4f26-b12d-d022ee4e51b7", 2),
        ("a7da6a22-facc-4fcd-8bab-f83c87862004", 1),
        ("ae4a77f8-aedd-4bc1-888f-c94edc91af04", 1),
        ("ef958aa1-0e93-49f0-bb71-150f63befcd1", 1),
    ] {
        let tree = trees.iter().find(|tree| tree.native_id == parent).unwrap_or_else(|| panic!("{parent} is a root"));
        assert_eq!(tree.children.len(), children, "{parent}");
        assert!(tree.children.iter().all(|child| child.relationship.as_deref() == Some("subagent")));
    }
    let review = trees
        .iter()
        .find(|tree| tree.native_id == "019b88e0-0b0f-7bb0-a9ba-5cc2d8dffde9")
        .expect("codex review parent");
    assert_eq!(review.children[0].native_id, "019b88e5-a2e4-7b90-8953-38fce393c653", "the review sub-agent");
    let totals = |client: &str| {
        report::periods(&conn, &filter(Zone::utc(), Some(client), None, None), Period::Month(1)).unwrap().total.usage
    };
    // Verified against ccusage 20.0.24 in the provider issues (docs/providers/*.md); the costs
    // against `ccusage claude|codex daily --offline --json` (docs/cost.md).
    let claude = totals("claude");
    assert_eq!(claude.input, 10_197);
    assert_eq!(
        (claude.output, claude.cache_read, claude.cache_write_5m + claude.cache_write_1h),
        (154_047, 31_801_129, 1_346_161)
    );
    assert_eq!(claude.unpriced_responses, 0);
    assert_eq!(format!("{:.2}", claude.cost_usd.unwrap()), "23.84");
    let codex = totals("codex");
    assert_eq!((codex.input, codex.cache_read), (3_786_621, 43_688_320));
    assert_eq!((codex.output, codex.reasoning), (181_464, 62_771));
    assert_eq!(codex.unpriced_responses, 0);
    assert_eq!(format!("{:.2}", codex.cost_usd.unwrap()), "22.22");
}

/// A store whose prompts, paths, titles, ids and branches carry unique markers.
fn marked_store(dir: &Path) -> Connection {
    let marker_session = "0be11ca7-0000-4000-8000-00000000beef";
    let projects = dir.join("claude/projects/-home-MARKERPATH-repo");
    std::fs::create_dir_all(&projects).unwrap();
    let lines = [
        format!(r#"{{"type":"custom-title","customTitle":"MARKERTITLE secret plan","sessionId":"{marker_session}"}}"#),
        format!(
            r#"{{"parentUuid":null,"isSidechain":false,"type":"user","cwd":"/home/MARKERPATH/repo","sessionId":"{marker_session}","version":"2.1.38","gitBranch":"MARKERBRANCH","message":{{"role":"user","content":"MARKERPROMPT please"}},"uuid":"11111111-aaaa-4aaa-8aaa-MARKERUUID01","timestamp":"2026-01-10T10:00:00.000Z"}}"#
        ),
        format!(
            r#"{{"parentUuid":"11111111-aaaa-4aaa-8aaa-MARKERUUID01","isSidechain":false,"type":"assistant","cwd":"/home/MARKERPATH/repo","sessionId":"{marker_session}","version":"2.1.38","message":{{"id":"msg_MARKERMSG","model":"claude-sonnet-4-5","role":"assistant","content":[{{"type":"text","text":"MARKERREPLY"}}],"usage":{{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}},"requestId":"req_MARKERREQ","uuid":"22222222-aaaa-4aaa-8aaa-MARKERUUID02","timestamp":"2026-01-10T10:00:02.000Z"}}"#
        ),
    ];
    std::fs::write(projects.join(format!("{marker_session}.jsonl")), lines.join("\n") + "\n").unwrap();
    let codex = dir.join("codex/sessions");
    std::fs::create_dir_all(&codex).unwrap();
    std::fs::write(
        codex.join("rollout-2026-01-11T10-00-00-019c0000-0000-7000-8000-0000000beef1.jsonl"),
        concat!(
            r#"{"timestamp":"2026-01-11T10:00:00.000Z","type":"session_meta","payload":{"id":"019c0000-0000-7000-8000-0000000beef1","timestamp":"2026-01-11T10:00:00.000Z","cwd":"/home/MARKERPATH/other","originator":"codex_cli_rs","cli_version":"0.99.0","git":{"commit_hash":"abcdef0123456789","branch":"MARKERBRANCH","repository_url":"https://example.invalid/MARKERORIGIN.git"}}}"#,
            "\n",
            r#"{"timestamp":"2026-01-11T10:00:01.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"MARKERPROMPT two"}]}}"#,
            "\n"
        ),
    )
    .unwrap();
    let env = Environment::with_home(dir.join("nohome"))
        .set_var("CLAUDE_CONFIG_DIR", dir.join("claude").display().to_string())
        .set_var("CODEX_HOME", dir.join("codex").display().to_string());
    build_store(dir, &env)
}

#[test]
fn exports_never_contain_text_paths_titles_or_raw_ids() {
    let dir = tempfile::tempdir().unwrap();
    let conn = marked_store(dir.path());
    let events = serde_json::to_string(&session_events(&conn, &marker_key()).unwrap()).unwrap();
    let far_future = "2030-01-01T00:00:00Z".parse().unwrap();
    let activity = serde_json::to_string(&posthog_daily_activity(&conn, &marker_key(), far_future).unwrap()).unwrap();
    assert!(events.contains("identity_hash") && activity.contains("daily_activity"), "the exports are not empty");
    for marker in ["MARKER", "beef", "0be11ca7", "secret", "please", "req_", "msg_", "/home", "example.invalid"] {
        assert!(!events.contains(marker), "session-events leaks {marker}: {events}");
        assert!(!activity.contains(marker), "daily-activity leaks {marker}: {activity}");
    }
    // No plain sha256 of a raw id, of `client:id`, or of any prefix of the commit (F7): a
    // dictionary of ids or file names cannot be matched to the hashes without the install's key.
    let sha = |text: &str| hindcast_core::identity::sha256_hex(text.as_bytes());
    let commit = "abcdef0123456789";
    let mut raw: Vec<String> = Vec::new();
    for id in ["0be11ca7-0000-4000-8000-00000000beef", "019c0000-0000-7000-8000-0000000beef1"] {
        raw.extend([id.to_string(), format!("claude:{id}"), format!("codex:{id}")]);
    }
    raw.extend((1..=commit.len()).map(|length| commit[..length].to_string()));
    let natives: Vec<String> = {
        let mut statement =
            conn.prepare("SELECT client || ':' || native_id, native_id, session_id FROM sessions").unwrap();
        statement
            .query_map([], |row| Ok([row.get::<_, String>(0)?, row.get(1)?, row.get(2)?]))
            .unwrap()
            .flat_map(|ids| ids.unwrap())
            .collect()
    };
    assert!(natives.len() >= 6, "{natives:?}");
    raw.extend(natives);
    for value in &raw {
        assert!(
            !events.contains(&sha(value)) && !activity.contains(&sha(value)),
            "an unkeyed hash of {value} is exported"
        );
        assert!(value.len() < 7 || !events.contains(value.as_str()), "{value} is exported");
    }
    assert!(!events.contains("abcdef0"), "no commit prefix is exported");
    let with_commit: Vec<&str> = events.matches("\"branch_commit\":\"").collect();
    assert_eq!(with_commit.len(), 1, "the commit is exported as a keyed hash: {events}");
    // Another install's exports share no hash with this one's.
    let other = serde_json::to_string(&session_events(&conn, &ExportKey::from_bytes([9; 32])).unwrap()).unwrap();
    let hashes = |text: &str| -> std::collections::BTreeSet<String> {
        text.split('"')
            .filter(|piece| piece.len() == 64 && piece.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(String::from)
            .collect()
    };
    assert!(hashes(&events).len() >= 3 && hashes(&events).is_disjoint(&hashes(&other)));
}

fn marker_key() -> ExportKey {
    ExportKey::from_bytes(*b"MARKERINSTALL-MARKERINSTALL-0123")
}

#[test]
fn exports_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let conn = fixture_store(dir.path());
    let now = "2027-01-01T00:00:00Z".parse().unwrap();
    let first = (
        serde_json::to_vec(&session_events(&conn, &ExportKey::from_bytes([1; 32])).unwrap()).unwrap(),
        posthog_daily_activity(&conn, &ExportKey::from_bytes([1; 32]), now).unwrap(),
    );
    let second = (
        serde_json::to_vec(&session_events(&conn, &ExportKey::from_bytes([1; 32])).unwrap()).unwrap(),
        posthog_daily_activity(&conn, &ExportKey::from_bytes([1; 32]), now).unwrap(),
    );
    assert_eq!(first.0, second.0);
    assert_eq!(serde_json::to_vec(&first.1).unwrap(), serde_json::to_vec(&second.1).unwrap());
    let batch = first.1["batch"].as_array().unwrap();
    assert_eq!(batch[0]["event"], "install_inferred");
    assert!(batch.iter().all(|event| event["timestamp"].as_str().unwrap().ends_with("T12:00:00Z")));
    assert!(batch.iter().all(|event| event["properties"]["backfilled"] == true));
    let recent =
        posthog_daily_activity(&conn, &ExportKey::from_bytes([1; 32]), "2026-09-03T10:00:00Z".parse().unwrap())
            .unwrap();
    let days: Vec<&str> =
        recent["batch"].as_array().unwrap().iter().map(|e| e["timestamp"].as_str().unwrap()).collect();
    assert!(
        !days.iter().any(|day| day.starts_with("2026-09-02") || day.starts_with("2026-09-01")),
        "days less than 60 hours old are held back"
    );
    assert!(days.iter().any(|day| day.starts_with("2026-05-12")));
}
