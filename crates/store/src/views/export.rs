//! Privacy-preserving exports: one hashed record per session, and anonymous daily counters as a
//! PostHog historical-migration batch. No text, paths, titles or raw ids ever leave through here:
//! every identifier is an HMAC-SHA256 under the install's secret export key, so exports are stable
//! per install and cannot be matched to a session id, a file name or a commit without the key.

use std::path::Path;

use hmac::{KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Value, json};

use super::ViewError;
use super::report::{self, Period, PeriodRow, ReportFilter, Zone};
use super::sessions::Tokens;

/// The install's secret export key: 32 random bytes, kept hex-encoded in a 0600 file in the data
/// directory (not the config, which people keep in dotfiles repositories). Never exported, never
/// printed (`Debug` shows no byte of it).
#[derive(Clone)]
pub struct ExportKey([u8; 32]);

impl std::fmt::Debug for ExportKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ExportKey(..)")
    }
}

/// The export key file could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum ExportKeyError {
    #[error("cannot read the export key {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the export key {path} is not 64 hex digits; move it away and a new key is made (exports made before then will not match later ones)"
    )]
    Malformed { path: std::path::PathBuf },
    #[error("cannot create the export key {path}: {source}")]
    Create {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ExportKey {
    /// A key from its bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key in `path`, made from the system's random source on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, ExportKeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let malformed = || ExportKeyError::Malformed { path: path.to_path_buf() };
                let bytes = hex::decode(text.trim()).map_err(|_| malformed())?;
                return bytes.try_into().map(Self).map_err(|_| malformed());
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ExportKeyError::Read { path: path.to_path_buf(), source }),
        }
        let create = |source| ExportKeyError::Create { path: path.to_path_buf(), source };
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| create(std::io::Error::other(error.to_string())))?;
        if let Some(parent) = path.parent() {
            crate::private::create_dir_all(parent).map_err(create)?;
        }
        // Written under a temporary name and linked into place, so two exports started together
        // agree on one key (the second finds the first's).
        let partial = crate::private::sidecar(path, &format!(".{}", std::process::id()));
        crate::private::write_file(&partial, format!("{}\n", hex::encode(bytes)).as_bytes()).map_err(create)?;
        let linked = std::fs::hard_link(&partial, path);
        let _ = std::fs::remove_file(&partial);
        match linked {
            Ok(()) => Ok(Self(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(error) => Err(create(error)),
        }
    }

    /// HMAC-SHA256 of `value` in the domain `purpose` (so equal values of different kinds, a
    /// session id and a commit, never share a hash), hex.
    pub fn hash(&self, purpose: &str, value: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The install's identity in exports.
    pub fn identity_hash(&self) -> String {
        self.hash("identity", "")
    }
}

/// Only days that ended at least this long ago are exported (late imports settle first).
pub const SETTLE_TIME: SignedDuration = SignedDuration::from_hours(60);

/// One session, anonymised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionEvent {
    /// The install's identity: a keyed hash of nothing else.
    pub identity_hash: String,
    /// Keyed hash of `client:native session id`.
    pub session_hash: String,
    pub client: String,
    pub ended_at: Option<String>,
    pub tool_calls: i64,
    pub tokens: Tokens,
    /// Keyed hash of the git commit, when known (sessions on one commit share it).
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
    if let Some(rest) = model.strip_prefix("gemini-") {
        // `gemini-2.5-pro`, `gemini-3-flash-preview`: the generation and the tier.
        let generation: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let tier = ["pro", "flash", "ultra"].into_iter().find(|tier| rest.contains(tier));
        return match (generation.is_empty(), tier) {
            (false, Some(tier)) => format!("gemini-{generation}-{tier}"),
            (false, None) => format!("gemini-{generation}"),
            _ => "gemini".into(),
        };
    }
    if model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit()) {
        return "o-series".into();
    }
    "other".into()
}

/// One record per session, ordered by `session_hash`: re-exports are byte-identical.
pub fn session_events(conn: &Connection, key: &ExportKey) -> Result<Vec<SessionEvent>, ViewError> {
    let identity_hash = key.identity_hash();
    let mut statement = conn.prepare(&format!(
        "SELECT s.client, s.native_id, s.ended_at, s.git_commit, s.models, {} FROM session s",
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
                session_hash: key.hash("session", &format!("{client}:{native_id}")),
                ended_at: row.get(2)?,
                tool_calls: row.get(5)?,
                tokens: Tokens::from_row(row, 6)?,
                branch_commit: commit
                    .filter(|commit| commit.len() >= 7)
                    .map(|commit| key.hash("commit", &commit.to_ascii_lowercase())),
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

/// Deterministic event id for `(install identity, event, day)`.
pub fn event_uuid(identity_hash: &str, event: &str, day: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&event_namespace(), format!("{identity_hash}\u{0}{event}\u{0}{day}").as_bytes())
}

/// The §2 daily counters as numbers (tokens as the store counts them: input is the whole prompt).
fn counters(day: &PeriodRow) -> serde_json::Map<String, Value> {
    let mut properties = serde_json::Map::new();
    let (activity, usage) = (&day.activity, &day.usage);
    let cache_writes = usage.cache_write_5m + usage.cache_write_1h;
    for (key, value) in [
        ("sessions", activity.sessions),
        ("user_prompts", activity.user_prompts),
        ("messages", activity.messages),
        ("tool_calls", activity.tool_calls),
        ("subagent_messages", activity.subagent_messages),
        ("projects", activity.projects),
        ("input_tokens", usage.input + usage.cache_read + cache_writes),
        ("cached_input_tokens", usage.cache_read),
        ("cache_creation_tokens", cache_writes),
        ("output_tokens", usage.output),
        ("reasoning_tokens", usage.reasoning),
    ] {
        properties.insert(key.into(), json!(value));
    }
    properties
}

/// Anonymous per-day counters as a PostHog historical-migration batch: one `daily_activity`
/// event per whole UTC day that ended at least 60 hours before `now`, timestamped at noon UTC,
/// plus one `install_inferred` event on the first active day. Nothing is sent.
pub fn posthog_daily_activity(conn: &Connection, key: &ExportKey, now: Timestamp) -> Result<Value, ViewError> {
    let filter = ReportFilter { zone: Zone::utc(), since: None, until: None, client: None, by_model: false };
    let report = report::periods(conn, &filter, Period::Day)?;
    let identity_hash = key.identity_hash();
    let settled = |day: &str| -> bool {
        let Ok(date) = day.parse::<jiff::civil::Date>() else { return false };
        let Ok(next) = date.tomorrow() else { return false };
        next.to_zoned(jiff::tz::TimeZone::UTC).map(|end| end.timestamp() + SETTLE_TIME <= now).unwrap_or(false)
    };
    let days: Vec<_> = report.rows.iter().filter(|day| settled(&day.period)).collect();
    let event = |name: &str, day: &str, mut properties: serde_json::Map<String, Value>| {
        properties.insert("backfilled".into(), json!(true));
        json!({
            "event": name,
            "distinct_id": identity_hash,
            "timestamp": format!("{day}T12:00:00Z"),
            "uuid": event_uuid(&identity_hash, name, day).to_string(),
            "properties": properties,
        })
    };
    let mut batch: Vec<Value> = Vec::new();
    if let Some(first) = days.first() {
        batch.push(event("install_inferred", &first.period, serde_json::Map::new()));
    }
    for day in &days {
        batch.push(event("daily_activity", &day.period, counters(day)));
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
            ("gemini-2.5-pro", "gemini-2-pro"),
            ("gemini-3.1-pro-preview-customtools", "gemini-3-pro"),
            ("gemini-3-flash-preview", "gemini-3-flash"),
            ("gemini-exp", "gemini"),
            ("llama-3", "other"),
        ] {
            assert_eq!(model_family(model), family, "{model}");
        }
    }

    #[test]
    fn keyed_hashes_depend_on_the_key_and_the_purpose_and_the_key_is_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hindcast/export.key");
        let key = ExportKey::load_or_create(&path).unwrap();
        let again = ExportKey::load_or_create(&path).unwrap();
        assert_eq!(key.hash("session", "claude:x"), again.hash("session", "claude:x"));
        assert_ne!(key.hash("session", "x"), key.hash("commit", "x"));
        let other = ExportKey::from_bytes([7; 32]);
        assert_ne!(key.hash("session", "x"), other.hash("session", "x"));
        assert_eq!(key.hash("session", "x").len(), 64);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(format!("{key:?}"), "ExportKey(..)");
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(ExportKey::load_or_create(&path), Err(ExportKeyError::Malformed { .. })));
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
