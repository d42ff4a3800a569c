//! Privacy-preserving exports: one hashed record per session, and anonymous daily counters as a
//! PostHog historical-migration batch. No text, paths, titles or raw ids ever leave through here.

use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Value, json};

use super::ViewError;
use super::sessions::Tokens;
use super::stats::{DailyReport, StatsFilter, daily};
use hindcast_core::identity::sha256_hex;

/// Only days that ended at least this long ago are exported (late imports settle first).
pub const SETTLE_TIME: SignedDuration = SignedDuration::from_hours(60);

/// One session, anonymised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionEvent {
    /// sha256 of the per-install random id.
    pub identity_hash: String,
    /// sha256 of `client:native session id`.
    pub session_hash: String,
    pub client: String,
    pub ended_at: Option<String>,
    pub tool_calls: i64,
    pub tokens: Tokens,
    /// The first 12 characters of the git commit, when known.
    pub branch_commit: Option<String>,
    pub model_family: Option<String>,
}

/// A model's family (`claude-opus`, `gpt-5`, ...) without dates or minor versions.
pub fn model_family(model: &str) -> String {
    let model = model.to_ascii_lowercase();
    if model.starts_with("claude") {
        for tier in ["opus", "sonnet", "haiku"] {
            if model.contains(tier) {
                return format!("claude-{tier}");
            }
        }
        return "claude".into();
    }
    if let Some(rest) = model.strip_prefix("gpt-") {
        let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return if major.is_empty() { "gpt".into() } else { format!("gpt-{major}") };
    }
    if model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return "o-series".into();
    }
    "other".into()
}

/// One record per session, ordered by `session_hash`: re-exports are byte-identical.
pub fn session_events(conn: &Connection, install_id: &str) -> Result<Vec<SessionEvent>, ViewError> {
    let identity_hash = sha256_hex(install_id.as_bytes());
    let mut statement = conn.prepare(&format!(
        "SELECT s.client, s.native_id, s.ended_at, s.git_commit, s.models, {} FROM sessions s",
        super::sessions::SESSION_COUNTERS
    ))?;
    let mut events: Vec<SessionEvent> = statement
        .query_map([], |row| {
            let client: String = row.get(0)?;
            let native_id: String = row.get(1)?;
            let commit: Option<String> = row.get(3)?;
            let models: String = row.get(4)?;
            let first_model =
                serde_json::from_str::<Vec<String>>(&models).ok().and_then(|models| models.into_iter().next());
            Ok(SessionEvent {
                identity_hash: identity_hash.clone(),
                session_hash: sha256_hex(format!("{client}:{native_id}").as_bytes()),
                ended_at: row.get(2)?,
                tool_calls: row.get(5)?,
                tokens: Tokens::from_row(row, 6)?,
                branch_commit: commit
                    .filter(|commit| commit.len() >= 7)
                    .map(|commit| commit.chars().take(12).collect()),
                model_family: first_model.as_deref().map(model_family),
                client,
            })
        })?
        .collect::<Result<_, _>>()?;
    events.sort_by(|a, b| a.session_hash.cmp(&b.session_hash));
    Ok(events)
}

/// The namespace of the export's UUIDv5 event ids.
fn event_namespace() -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"hindcast:posthog:daily-activity")
}

/// Deterministic event id for `(install, event, day)`.
pub fn event_uuid(install_id: &str, event: &str, day: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&event_namespace(), format!("{install_id}\u{0}{event}\u{0}{day}").as_bytes())
}

/// The §2 daily counters as numbers.
fn counters(day: &super::stats::DayStats) -> serde_json::Map<String, Value> {
    let mut properties = serde_json::Map::new();
    for (key, value) in [
        ("sessions", day.sessions),
        ("user_prompts", day.user_prompts),
        ("messages", day.messages),
        ("tool_calls", day.tool_calls),
        ("subagent_messages", day.subagent_messages),
        ("projects", day.projects),
        ("input_tokens", day.tokens.input),
        ("cached_input_tokens", day.tokens.cached_input),
        ("cache_creation_tokens", day.tokens.cache_creation),
        ("output_tokens", day.tokens.output),
        ("reasoning_tokens", day.tokens.reasoning),
    ] {
        properties.insert(key.into(), json!(value));
    }
    properties
}

/// Anonymous per-day counters as a PostHog historical-migration batch: one `daily_activity`
/// event per whole UTC day that ended at least 60 hours before `now`, timestamped at noon UTC,
/// plus one `install_inferred` event on the first active day. Nothing is sent.
pub fn posthog_daily_activity(conn: &Connection, install_id: &str, now: Timestamp) -> Result<Value, ViewError> {
    let report: DailyReport = daily(conn, &StatsFilter::default())?;
    let identity_hash = sha256_hex(install_id.as_bytes());
    let settled = |day: &str| -> bool {
        let Ok(date) = day.parse::<jiff::civil::Date>() else { return false };
        let Ok(next) = date.tomorrow() else { return false };
        next.to_zoned(jiff::tz::TimeZone::UTC).map(|end| end.timestamp() + SETTLE_TIME <= now).unwrap_or(false)
    };
    let days: Vec<_> = report.days.iter().filter(|day| settled(&day.day)).collect();
    let event = |name: &str, day: &str, mut properties: serde_json::Map<String, Value>| {
        properties.insert("backfilled".into(), json!(true));
        json!({
            "event": name,
            "distinct_id": identity_hash,
            "timestamp": format!("{day}T12:00:00Z"),
            "uuid": event_uuid(install_id, name, day).to_string(),
            "properties": properties,
        })
    };
    let mut batch: Vec<Value> = Vec::new();
    if let Some(first) = days.first() {
        batch.push(event("install_inferred", &first.day, serde_json::Map::new()));
    }
    for day in &days {
        batch.push(event("daily_activity", &day.day, counters(day)));
    }
    Ok(json!({ "historical_migration": true, "batch": batch }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_families_drop_versions_and_dates() {
        for (model, family) in [
            ("claude-opus-4-6", "claude-opus"),
            ("claude-3-5-sonnet-20241022", "claude-sonnet"),
            ("claude-haiku-4-5", "claude-haiku"),
            ("gpt-5.1-codex-max", "gpt-5"),
            ("gpt-5-codex", "gpt-5"),
            ("o4-mini", "o-series"),
            ("llama-3", "other"),
        ] {
            assert_eq!(model_family(model), family, "{model}");
        }
    }

    #[test]
    fn event_ids_are_deterministic_per_install_event_and_day() {
        let id = event_uuid("install-1", "daily_activity", "2026-01-02");
        assert_eq!(id, event_uuid("install-1", "daily_activity", "2026-01-02"));
        assert_ne!(id, event_uuid("install-2", "daily_activity", "2026-01-02"));
        assert_ne!(id, event_uuid("install-1", "daily_activity", "2026-01-03"));
        assert_eq!(id.get_version_num(), 5);
    }
}
