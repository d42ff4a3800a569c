//! Raw frames stored without what the store holds elsewhere, and made whole again on reading.
//!
//! A message's raw frame is the only copy of its native fields once the client deletes its file,
//! so nothing is dropped from it: a frame is stored as three pieces that together are JSON-equal
//! to it.
//! - Its **context**: the fields a client repeats on every line of a session — top-level
//!   ([`CONTEXT_FIELDS`]: the session id, working directory, version, branch…) and in the
//!   line's message or payload object ([`NESTED_CONTEXT_FIELDS`]: its role, type, model) —
//!   when they are a string or a boolean, kept once per distinct combination in `frame_context`.
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

/// Objects in a frame whose listed fields are context too: the `message` of a Claude line (its
/// role, type and model), the `payload` of a Codex line (its type and role).
pub const NESTED_CONTEXT_FIELDS: &[(&str, &[&str])] = &[
    ("message", &["role", "type", "model", "stop_reason"]),
    ("payload", &["type", "role", "name", "status", "phase"]),
];

/// `frame_elided` bit: the frame's `uuid` is the message's `native_id`.
pub const ELIDED_NATIVE_ID: i64 = 1;
/// `frame_elided` bit: the frame's `timestamp` is the message's `timestamp`.
pub const ELIDED_TIMESTAMP: i64 = 2;
/// `frame_elided` bit: the frame's `parentUuid` is the `native_id` of the message its
/// `parent_key` names (which the store never removes without putting the field back first).
pub const ELIDED_PARENT: i64 = 4;

/// The columns a frame's fields may be left out for.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameColumns<'a> {
    /// The message's `native_id`.
    pub native_id: Option<&'a str>,
    /// The message's `timestamp`.
    pub timestamp: Option<&'a str>,
    /// The `native_id` of its parent message (by `parent_key`), when it is stored.
    pub parent_native_id: Option<&'a str>,
}

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

/// Splits `frame` into what the store keeps (see the module documentation).
pub fn store(frame: &str, columns: FrameColumns<'_>) -> StoredFrame {
    let whole = || StoredFrame { frame: frame.to_string(), context: None, elided: 0 };
    let Ok(Fields(fields)) = serde_json::from_str::<Fields<'_>>(frame) else { return whole() };
    let is_column = |name: &str, raw: &RawValue, column: Option<&str>| {
        column.is_some_and(|column| raw.get() == json_string(column)) && occurs_once(&fields, name)
    };
    let mut elided = 0;
    let mut context: Vec<(&str, Cow<'_, str>)> = Vec::new();
    let mut nested_context: Vec<(&str, String)> = Vec::new();
    let mut kept: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(fields.len());
    for (key, raw) in &fields {
        let key = key.as_ref();
        let nested = NESTED_CONTEXT_FIELDS.iter().find(|(name, _)| *name == key);
        if is_scalar(raw) && CONTEXT_FIELDS.contains(&key) && occurs_once(&fields, key) {
            context.push((key, Cow::Borrowed(raw.get())));
        } else if key == "uuid" && is_column(key, raw, columns.native_id) {
            elided |= ELIDED_NATIVE_ID;
        } else if key == "timestamp" && is_column(key, raw, columns.timestamp) {
            elided |= ELIDED_TIMESTAMP;
        } else if key == "parentUuid" && is_column(key, raw, columns.parent_native_id) {
            elided |= ELIDED_PARENT;
        } else if let Some((_, names)) = nested
            && occurs_once(&fields, key)
            && let Some((rest, taken)) = split_nested(raw.get(), names)
        {
            kept.push((key, Cow::Owned(rest)));
            nested_context.push((key, taken));
        } else {
            kept.push((key, Cow::Borrowed(raw.get())));
        }
    }
    if context.is_empty() && nested_context.is_empty() && elided == 0 {
        return whole();
    }
    context.sort_by_key(|(key, _)| CONTEXT_FIELDS.iter().position(|field| field == key));
    nested_context.sort_by_key(|(key, _)| NESTED_CONTEXT_FIELDS.iter().position(|(field, _)| field == key));
    let context: Vec<(&str, &str)> = context
        .iter()
        .map(|(key, raw)| (*key, raw.as_ref()))
        .chain(nested_context.iter().map(|(key, raw)| (*key, raw.as_str())))
        .collect();
    StoredFrame {
        frame: object(kept.iter().map(|(key, raw)| (*key, raw.as_ref()))),
        context: (!context.is_empty()).then(|| object(context.into_iter())),
        elided,
    }
}

/// An object's context fields (`names`, string or boolean, occurring once) taken out: what
/// remains of it and what was taken, or `None` when nothing is taken.
fn split_nested(object_text: &str, names: &[&str]) -> Option<(String, String)> {
    if !object_text.starts_with('{') {
        return None;
    }
    let Ok(Fields(fields)) = serde_json::from_str::<Fields<'_>>(object_text) else { return None };
    let taken = |key: &str, raw: &RawValue| names.contains(&key) && is_scalar(raw) && occurs_once(&fields, key);
    let context: Vec<(&str, &str)> = names
        .iter()
        .filter_map(|name| fields.iter().find(|(key, raw)| key == name && taken(key, raw)))
        .map(|(key, raw)| (key.as_ref(), raw.get()))
        .collect();
    if context.is_empty() {
        return None;
    }
    let rest = object(fields.iter().filter(|(key, raw)| !taken(key, raw)).map(|(key, raw)| (key.as_ref(), raw.get())));
    Some((rest, object(context.into_iter())))
}

fn is_scalar(raw: &RawValue) -> bool {
    raw.get().starts_with('"') || raw.get() == "true" || raw.get() == "false"
}

fn occurs_once(fields: &[(Cow<'_, str>, &RawValue)], name: &str) -> bool {
    fields.iter().filter(|(key, _)| key == name).count() == 1
}

/// The frame [`store`] was given, JSON-equal (the fields taken out come after the others).
pub fn restore(stored: &str, context: Option<&str>, elided: i64, columns: FrameColumns<'_>) -> String {
    if context.is_none() && elided == 0 {
        return stored.to_string();
    }
    let mut kept: Vec<(Cow<'_, str>, Cow<'_, str>)> =
        parse(stored).into_iter().map(|(key, raw)| (key, Cow::Borrowed(raw.get()))).collect();
    let context = context.map(parse).unwrap_or_default();
    let mut added: Vec<(&str, &str)> = Vec::new();
    for (key, raw) in &context {
        let nested = NESTED_CONTEXT_FIELDS.iter().any(|(name, _)| name == key) && raw.get().starts_with('{');
        match kept.iter_mut().find(|(name, value)| nested && name == key && value.starts_with('{')) {
            Some((_, value)) => {
                let inner =
                    parse(value).into_iter().chain(parse(raw.get())).map(|(key, raw)| (key, raw.get().to_string()));
                let inner: Vec<(Cow<'_, str>, String)> = inner.collect();
                *value = Cow::Owned(object(inner.iter().map(|(key, raw)| (key.as_ref(), raw.as_str()))));
            }
            None => added.push((key.as_ref(), raw.get())),
        }
    }
    let column = |bit: i64, value: Option<&str>| value.filter(|_| elided & bit != 0).map(json_string);
    let columns = [
        ("uuid", column(ELIDED_NATIVE_ID, columns.native_id)),
        ("timestamp", column(ELIDED_TIMESTAMP, columns.timestamp)),
        ("parentUuid", column(ELIDED_PARENT, columns.parent_native_id)),
    ];
    object(
        kept.iter()
            .map(|(key, raw)| (key.as_ref(), raw.as_ref()))
            .chain(added)
            .chain(columns.iter().filter_map(|(key, value)| Some((*key, value.as_deref()?)))),
    )
}

/// The SQL expression that restores a frame from the `message` row `m`, its context `c` and its
/// parent `p` (`LEFT JOIN frame_context c ON c.context = m.frame_context LEFT JOIN message p ON
/// p.message_key = m.parent_key`): what the `messages` view shows (see [`RESTORE_SQL`]).
macro_rules! restore_frame_sql {
    () => {
        "CASE WHEN m.frame_context IS NULL AND m.frame_elided = 0 THEN m.raw_frame ELSE \
         json_patch(json_patch(m.raw_frame, coalesce(c.fields, '{}')), '{' || rtrim( \
         iif(m.frame_elided & 1, '\"uuid\":' || json_quote(m.native_id) || ',', '') || \
         iif(m.frame_elided & 2, '\"timestamp\":' || json_quote(m.timestamp) || ',', '') || \
         iif(m.frame_elided & 4, '\"parentUuid\":' || json_quote(p.native_id) || ',', ''), ',') || '}') END"
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
        let columns = FrameColumns { native_id, timestamp, parent_native_id: Some("p0") };
        let stored = store(frame, columns);
        assert_eq!(stored.frame, kept, "kept of {frame}");
        assert_eq!(stored.context.as_deref(), context, "context of {frame}");
        let restored = restore(&stored.frame, stored.context.as_deref(), stored.elided, columns);
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
        // The role, type and model of a line's message are context too; the rest of it stays.
        check(
            r#"{"type":"assistant","message":{"id":"m1","model":"claude-x","role":"assistant","usage":{"n":1}}}"#,
            None,
            None,
            r#"{"message":{"id":"m1","usage":{"n":1}}}"#,
            Some(r#"{"type":"assistant","message":{"role":"assistant","model":"claude-x"}}"#),
        );
        check(
            r#"{"payload":{"type":"message","role":"user","content":[]},"line":3}"#,
            None,
            None,
            r#"{"payload":{"content":[]},"line":3}"#,
            Some(r#"{"payload":{"type":"message","role":"user"}}"#),
        );
        // A message that is not an object, or whose fields are not strings, stays as it is.
        check(r#"{"message":"text","x":1}"#, None, None, r#"{"message":"text","x":1}"#, None);
        check(
            r#"{"message":{"role":null,"model":3},"x":1}"#,
            None,
            None,
            r#"{"message":{"role":null,"model":3},"x":1}"#,
            None,
        );
        check(
            r#"{"message":{"role":"user"}}"#,
            None,
            None,
            r#"{"message":{}}"#,
            Some(r#"{"message":{"role":"user"}}"#),
        );
        check("not json", None, None, "not json", None);
    }

    #[test]
    fn the_sql_restoration_agrees() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE message (message_key BLOB, parent_key BLOB, raw_frame TEXT, frame_context INTEGER,
                 frame_elided INTEGER, native_id TEXT, timestamp TEXT);
             CREATE TABLE frame_context (context INTEGER PRIMARY KEY, fields TEXT);",
        )
        .unwrap();
        let frames = [
            r#"{"type":"user","uuid":"u1","timestamp":"T","cwd":"/p","parentUuid":"p0","message":{"content":null}}"#,
            r#"{"uuid":"u1","x":[1,{"y":null}],"parentUuid":"other"}"#,
            r#"{"timestamp":"T","parentUuid":"p0"}"#,
            r#"{"a":1}"#,
            r#"{"type":"assistant","uuid":"u1","message":{"id":"m","role":"assistant","model":"c","x":[null]}}"#,
            r#"{"message":{"role":"user"},"payload":{"type":"t","v":{"w":null}}}"#,
        ];
        let columns = FrameColumns { native_id: Some("u1"), timestamp: Some("T"), parent_native_id: Some("p0") };
        for frame in frames {
            let stored = store(frame, columns);
            conn.execute_batch(
                "DELETE FROM message; DELETE FROM frame_context;
                 INSERT INTO message (message_key, native_id, frame_elided) VALUES (x'01', 'p0', 0);",
            )
            .unwrap();
            conn.execute("INSERT INTO frame_context VALUES (1, ?1)", [&stored.context]).unwrap();
            conn.execute(
                "INSERT INTO message VALUES (x'02', x'01', ?1, iif(?2 IS NULL, NULL, 1), ?3, 'u1', 'T')",
                rusqlite::params![stored.frame, stored.context, stored.elided],
            )
            .unwrap();
            let restored: String = conn
                .query_row(
                    &format!(
                        "SELECT {RESTORE_SQL} FROM message m LEFT JOIN frame_context c ON c.context = m.frame_context \
                         LEFT JOIN message p ON p.message_key = m.parent_key WHERE m.message_key = x'02'"
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
