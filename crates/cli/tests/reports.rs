//! Every report as a person reads it, from the real binary over `fixtures/reports` (a session
//! that crosses midnight, one over Los Angeles' change to daylight time, a sub-agent, 1-hour
//! cache writes, a long prompt, an unpriced model, a Codex session with rate limits), in three
//! zones, at a fixed "now"; and the known answers behind the figures.
#![cfg(feature = "providers")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// "Now" for every run: 19:00 UTC on the fixtures' busiest day, inside its last 5-hour block.
const NOW: &str = "2026-03-08T19:00:00Z";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/reports")
}

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Self { dir: tempfile::tempdir().unwrap() };
        let output = home.run(&["backfill"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        home
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_hindcast"))
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("CLAUDE_CONFIG_DIR", fixtures().join("claude"))
            .env("CODEX_HOME", fixtures().join("codex"))
            .env("HINDCAST_LEGACY_DIR", self.dir.path().join("no-legacy"))
            .env("HINDCAST_EVENTS", "off")
            .env("HINDCAST_NOW", NOW)
            .env("COLUMNS", "80")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap()
    }

    fn stdout(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.stdout(&args)).unwrap()
    }
}

/// Every report in one zone, as printed.
fn reports_in(home: &Home, zone: &str) -> String {
    let mut text = String::new();
    for report in [
        &["daily", "--by", "model"][..],
        &["weekly", "--start-of-week", "sunday"],
        &["monthly", "--month-start-day", "8"],
        &["sessions"],
        &["projects"],
        &["blocks"],
        &["limits"],
    ] {
        let mut args = vec!["stats"];
        args.extend_from_slice(report);
        args.extend_from_slice(&["--timezone", zone, "--format", "table"]);
        text.push_str(&format!("$ hindcast {}\n{}\n", args.join(" "), home.stdout(&args)));
    }
    text
}

#[test]
fn every_report_in_three_zones() {
    let home = Home::new();
    insta::assert_snapshot!("reports_utc", reports_in(&home, "UTC"));
    insta::assert_snapshot!("reports_los_angeles", reports_in(&home, "America/Los_Angeles"));
    insta::assert_snapshot!("reports_kolkata", reports_in(&home, "Asia/Kolkata"));
}

#[test]
fn days_are_the_zones_days() {
    let home = Home::new();
    let days = |zone: &str| -> Vec<(String, i64)> {
        home.json(&["stats", "daily", "--timezone", zone])["report"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| (row["period"].as_str().unwrap().to_string(), row["usage"]["responses"].as_i64().unwrap()))
            .collect()
    };
    // Session A's responses: 23:50:05 and 00:20:05 UTC (its sub-agent's 00:21:30); B's 09:30,
    // 10:30 and 18:45; Codex's 12:00.
    assert_eq!(days("UTC"), [("2026-03-07".into(), 1), ("2026-03-08".into(), 6)]);
    // Los Angeles (-08:00 until 10:00 UTC, then -07:00): session A and its sub-agent on the 7th
    // (15:50, 16:20, 16:21 PST); B's 01:30 PST, 03:30 PDT and 11:45 PDT and Codex's 05:00 PDT
    // on the 8th, a day of 23 hours.
    assert_eq!(days("America/Los_Angeles"), [("2026-03-07".into(), 3), ("2026-03-08".into(), 4)]);
    // Kolkata (+05:30): 23:50 UTC is 05:20 on the 8th; 18:45 UTC is 00:15 on the 9th.
    assert_eq!(days("Asia/Kolkata"), [("2026-03-08".into(), 6), ("2026-03-09".into(), 1)]);
    // A date-only window is that day in the report's zone.
    let kolkata_8th =
        home.json(&["stats", "daily", "--timezone", "Asia/Kolkata", "--since", "2026-03-08", "--until", "2026-03-08"]);
    assert_eq!(kolkata_8th["report"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(kolkata_8th["report"]["zone"], "Asia/Kolkata");
    assert_eq!(kolkata_8th["report"]["since"], "2026-03-08T00:00:00+05:30[Asia/Kolkata]");
}

#[test]
fn costs_are_the_hand_computed_ones() {
    let home = Home::new();
    let sessions = home.json(&["stats", "sessions", "--utc"]);
    let session = |native_id: &str| -> serde_json::Value {
        sessions["report"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["native_id"] == native_id)
            .cloned()
            .unwrap_or_else(|| panic!("session {native_id}: {sessions}"))
    };
    let cart = session("a0a0a0a0-0000-4000-8000-00000000000a");
    // Sonnet 4.5: (2,000 × $3 + 3,000 × $0.30 + 4,000 × $3.75 + 1,000 × $6 + 1,000 × $15) / 1M
    // = $0.0429, then (500 × $3 + 9,000 × $0.30 + 2,000 × $15) / 1M = $0.0342;
    // its sub-agent on Haiku 4.5: (1,000 × $1 + 200 × $5) / 1M = $0.002.
    assert_eq!(cart["own"]["cost_usd"].as_f64().unwrap(), 0.0771);
    assert_eq!(cart["subagent_usage"]["cost_usd"].as_f64().unwrap(), 0.002);
    assert_eq!(cart["subagents"], 1);
    assert_eq!(
        (cart["usage"]["cache_write_5m"].as_i64(), cart["usage"]["cache_write_1h"].as_i64()),
        (Some(4_000), Some(1_000))
    );
    let ship = session("b0b0b0b0-0000-4000-8000-00000000000b");
    // Opus 4.6 before 2026-03-13 prices a prompt over 200,000 tokens at the long-context rate
    // throughout: (1,000 × $5 + 20,000 × $0.50 + 500 × $25) / 1M = $0.0275, then
    // (250,000 × $10 + 1,000 × $37.50) / 1M = $2.5375; acme-coder-9 has no price.
    assert_eq!(ship["usage"]["cost_usd"].as_f64().unwrap(), 2.565);
    assert_eq!(ship["usage"]["unpriced_responses"], 1);
    assert_eq!(sessions["report"]["unpriced_models"][0]["model"], "acme-coder-9");
    let text = home.stdout(&["stats", "daily", "--utc", "--format", "table"]);
    assert!(text.contains("$2.61*") && text.contains("Unpriced") && text.contains("acme-coder-9"), "{text}");
    // gpt-5-codex: (2,000 × $1.25 + 8,000 × $0.125 + 500 × $10) / 1M = $0.0085.
    let projects = home.json(&["stats", "projects", "--client", "codex", "--utc"]);
    assert_eq!(projects["report"]["projects"][0]["usage"]["cost_usd"].as_f64().unwrap(), 0.0085);
    // The Codex session named the remote; the Claude sessions in the same directory join it.
    let all = home.json(&["stats", "projects", "--utc"]);
    let names: Vec<&str> =
        all["report"]["projects"].as_array().unwrap().iter().map(|row| row["project"].as_str().unwrap()).collect();
    assert_eq!(names, ["github.com/acme/shop"]);
}

#[test]
fn the_active_block_and_the_rate_limits() {
    let home = Home::new();
    let blocks = home.json(&["stats", "blocks", "--utc"]);
    let blocks = blocks["report"]["blocks"].as_array().unwrap();
    // Claude: 23:00 (A, and B's 09:30 is more than 5 hours later), 09:00 (B until 10:30), and
    // 18:00 (18:45: more than 5 hours after 10:30), which is active at 19:00. Codex: the window
    // its server reported (resets at 16:00, 300 minutes long), not the hour of its response.
    let starts: Vec<(&str, &str, bool)> = blocks
        .iter()
        .map(|block| {
            (block["client"].as_str().unwrap(), block["start"].as_str().unwrap(), block["active"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        starts,
        [
            ("claude", "2026-03-07T23:00:00+00:00", false),
            ("claude", "2026-03-08T09:00:00+00:00", false),
            ("codex", "2026-03-08T11:00:00+00:00", false),
            ("claude", "2026-03-08T18:00:00+00:00", true),
        ]
    );
    assert_eq!(blocks[3]["progress"]["minutes_left"], 240);
    assert_eq!(
        (blocks[2]["window"].as_str(), blocks[2]["end"].as_str()),
        (Some("server"), Some("2026-03-08T16:00:00+00:00"))
    );
    assert_eq!(blocks[3]["window"], "five_hours");
    let limits = home.json(&["stats", "limits", "--utc"]);
    let latest = limits["report"]["latest"].as_array().unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!((latest[0]["window"].as_str(), latest[0]["used_percent"].as_f64()), (Some("primary"), Some(12.0)));
    assert_eq!(latest[1]["plan"], "plus");
}
