//! Raw frames stored without what the store holds elsewhere, and made whole again on reading.
//!
//! A message's raw frame is the only copy of its native fields once the client deletes its file,
//! so nothing is dropped from it: a frame is stored as three pieces that together are JSON-equal
//! to it.
//! - Its **context**: the top-level fields a client repeats on every line of a session
//!   ([`CONTEXT_FIELDS`]: the session id, working directory, version, branch…), when they are a
//!   string or a boolean, kept once per distinct combination in `frame_context`.
//! - The fields a column of the message holds, when the column holds exactly that value: the
//!   client's id (`uuid`, the `native_id` column) and the time (`timestamp`, the `timestamp`
//!   column), recorded in the message's `frame_elided` bits.
//! - Everything else, byte for byte as the client wrote it.
//!
//! A field that occurs twice in a frame stays in it. A frame that is not a JSON object is stored
//! as it is.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The top-level fields held once per session instead of on every message.
pub const CONTEXT_FIELDS: &[&str] = &[
    "type",
    "sessionId",
    "cwd",
    "version",
    "gitBranch",
    "entrypoint",
    "userType",
    "slug",
    "isSidechain",
    "agentId",
    "teamName",
];

/// `frame_elided` bit: the frame's `uuid` is the message's `native_id`.
pub const ELIDED_NATIVE_ID: i64 = 1;
/// `frame_elided` bit: the frame's `timestamp` is the message's `timestamp`.
pub const ELIDED_TIMESTAMP: i64 = 2;

/// A frame as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFrame {
    /// What remains of the frame (a JSON object, or the frame whole when it is not one).
    pub frame: String,
    /// The context fields taken out, as a JSON object, if any.
    pub context: Option<String>,
    /// Which column-held fields were taken out (`ELIDED_*` bits).
    pub elided: i64,
}

/// Splits `frame` into what the store keeps (see the module documentation). `native_id` and
/// `timestamp` are the message's columns.
pub fn store(frame: &str, native_id: Option<&str>, timestamp: Option<&str>) -> StoredFrame {
    let whole = || StoredFrame { frame: frame.to_string(), context: None, elided: 0 };
    let Ok(Fields(fields)) = serde_json::from_str::<Fields<'_>>(frame) else { return whole() };
    let once = |name: &str| fields.iter().filter(|(key, _)| key == name).count() == 1;
    let is_column = |name: &str, raw: &RawValue, column: Option<&str>| {
        column.is_some_and(|column| raw.get() == json_string(column)) && once(name)
    };
    let mut elided = 0;
    let mut context = Vec::new();
    let mut kept = Vec::with_capacity(fields.len());
    for (key, raw) in &fields {
        let scalar = raw.get().starts_with('"') || raw.get() == "true" || raw.get() == "false";
        if scalar && CONTEXT_FIELDS.contains(&key.as_ref()) && once(key) {
            context.push((key, *raw));
        } else if key == "uuid" && is_column(key, raw, native_id) {
            elided |= ELIDED_NATIVE_ID;
        } else if key == "timestamp" && is_column(key, raw, timestamp) {
            elided |= ELIDED_TIMESTAMP;
        } else {
            kept.push((key, *raw));
        }
    }
    if context.is_empty() && elided == 0 {
        return whole();
    }
    context.sort_by_key(|(key, _)| CONTEXT_FIELDS.iter().position(|field| field == key));
    StoredFrame {
        frame: object(kept.iter().map(|(key, raw)| (key.as_ref(), raw.get()))),
        context: (!context.is_empty()).then(|| object(context.iter().map(|(key, raw)| (key.as_ref(), raw.get())))),
        elided,
    }
}

/// The frame [`store`] was given, JSON-equal (the fields taken out come after the others).
pub fn restore(
    stored: &str,
    context: Option<&str>,
    elided: i64,
    native_id: Option<&str>,
    timestamp: Option<&str>,
) -> String {
    if context.is_none() && elided == 0 {
        return stored.to_string();
    }
    let kept = parse(stored);
    let context = context.map(parse).unwrap_or_default();
    let native_id = native_id.filter(|_| elided & ELIDED_NATIVE_ID != 0).map(json_string);
    let timestamp = timestamp.filter(|_| elided & ELIDED_TIMESTAMP != 0).map(json_string);
    let columns = [("uuid", native_id), ("timestamp", timestamp)];
    object(
        kept.iter()
            .chain(&context)
            .map(|(key, raw)| (key.as_ref(), raw.get()))
            .chain(columns.iter().filter_map(|(key, value)| Some((*key, value.as_deref()?)))),
    )
}

/// The SQL expression that restores a frame from the `message` row `m` and its context `c`
/// (`LEFT JOIN frame_context c ON c.context = m.frame_context`): what the `messages` view shows
/// (see [`RESTORE_SQL`]).
macro_rules! restore_frame_sql {
    () => {
        concat!(
            "CASE m.frame_elided WHEN 0 THEN ",
            restore_frame_sql!(context),
            " WHEN 1 THEN json_set(",
            restore_frame_sql!(context),
            ", '$.uuid', m.native_id) WHEN 2 THEN json_set(",
            restore_frame_sql!(context),
            ", '$.timestamp', m.timestamp) ELSE json_set(",
            restore_frame_sql!(context),
            ", '$.uuid', m.native_id, '$.timestamp', m.timestamp) END"
        )
    };
    (context) => {
        "iif(c.fields IS NULL, m.raw_frame, json_patch(m.raw_frame, c.fields))"
    };
}

/// The SQL expression of [`restore`] (the `messages` view's `raw_frame`).
pub const RESTORE_SQL: &str = restore_frame_sql!();

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

fn parse(text: &str) -> Vec<(Cow<'_, str>, &RawValue)> {
    serde_json::from_str::<Fields<'_>>(text).map(|fields| fields.0).unwrap_or_default()
}

/// A JSON object of the given keys and raw values.
fn object<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut text = String::from("{");
    for (index, (key, raw)) in fields.enumerate() {
        if index > 0 {
            text.push(',');
        }
        text.push_str(&json_string(key));
        text.push(':');
        text.push_str(raw);
    }
    text.push('}');
    text
}

/// The top-level fields of a JSON object in order, their values unparsed.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::new();
        while let Some((Key(key), value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            fields.push((key, value));
        }
        Ok(Fields(fields))
    }
}

/// A key, borrowed from the text unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(text.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// `frame` stored with these columns keeps `kept` and `context`, and restores JSON-equal.
    fn check(frame: &str, native_id: Option<&str>, timestamp: Option<&str>, kept: &str, context: Option<&str>) {
        let stored = store(frame, native_id, timestamp);
        assert_eq!(stored.frame, kept, "kept of {frame}");
        assert_eq!(stored.context.as_deref(), context, "context of {frame}");
        let restored = restore(&stored.frame, stored.context.as_deref(), stored.elided, native_id, timestamp);
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::String(text.to_string()));
        assert_eq!(parse(&restored), parse(frame), "restored {restored}");
    }

    #[test]
    fn frames_keep_what_no_column_holds() {
        let ts = Some("2026-01-01T10:00:00.000Z");
        check(
            r#"{"type":"user","uuid":"u1","timestamp":"2026-01-01T10:00:00.000Z","cwd":"/p","n":1.50,"message":{"a":[1]}}"#,
            Some("u1"),
            ts,
            r#"{"n":1.50,"message":{"a":[1]}}"#,
            Some(r#"{"type":"user","cwd":"/p"}"#),
        );
        // A value that differs from its column stays.
        check(
            r#"{"uuid":"u2","timestamp":"2026-01-01T10:00:00Z"}"#,
            Some("u1"),
            ts,
            r#"{"uuid":"u2","timestamp":"2026-01-01T10:00:00Z"}"#,
            None,
        );
        // Context fields that are not a string or a boolean stay, and so does a field written twice.
        check(
            r#"{"cwd":null,"version":1,"gitBranch":"a","gitBranch":"b"}"#,
            None,
            None,
            r#"{"cwd":null,"version":1,"gitBranch":"a","gitBranch":"b"}"#,
            None,
        );
        check(
            r#"{"isSidechain":false,"k":"v\u0001"}"#,
            None,
            None,
            r#"{"k":"v\u0001"}"#,
            Some(r#"{"isSidechain":false}"#),
        );
        // Escaped keys and values stay as written; frames that are not objects are kept whole.
        check(r#"{"c\u0077d":"/p","x":"\u00e9"}"#, None, None, r#"{"x":"\u00e9"}"#, Some(r#"{"cwd":"/p"}"#));
        check("[1,2]", None, None, "[1,2]", None);
        check("not json", None, None, "not json", None);
    }

    #[test]
    fn the_sql_restoration_agrees() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE message (raw_frame TEXT, frame_context INTEGER, frame_elided INTEGER, native_id TEXT, timestamp TEXT);
             CREATE TABLE frame_context (context INTEGER PRIMARY KEY, fields TEXT);",
        )
        .unwrap();
        let frames = [
            r#"{"type":"user","uuid":"u1","timestamp":"T","cwd":"/p","message":{"content":null}}"#,
            r#"{"uuid":"u1","x":[1,{"y":null}]}"#,
            r#"{"timestamp":"T"}"#,
            r#"{"a":1}"#,
        ];
        for frame in frames {
            let stored = store(frame, Some("u1"), Some("T"));
            conn.execute_batch("DELETE FROM message; DELETE FROM frame_context;").unwrap();
            conn.execute("INSERT INTO frame_context VALUES (1, ?1)", [&stored.context]).unwrap();
            conn.execute(
                "INSERT INTO message VALUES (?1, iif(?2 IS NULL, NULL, 1), ?3, 'u1', 'T')",
                rusqlite::params![stored.frame, stored.context, stored.elided],
            )
            .unwrap();
            let restored: String = conn
                .query_row(
                    &format!(
                        "SELECT {RESTORE_SQL} FROM message m LEFT JOIN frame_context c ON c.context = m.frame_context"
                    ),
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
            assert_eq!(parse(&restored), parse(frame), "{frame} restored as {restored}");
        }
    }
}
