//! The search index (schema 11): two external-content FTS5 tables over the stored parts.
//! `search_words` (`unicode61`, `_` a token character, so `parse_rollout_name` is one word) covers
//! every text and thinking, and the head and tail of every tool call (name and input) and tool
//! result; `search_grams` (`trigram`, no positions) covers what people and models wrote in prose —
//! user and assistant text — for substrings and CJK text. The writer indexes each part it inserts
//! (`INDEX_WORDS`, `INDEX_GRAMS`, in the import's transaction; schema 13), and a trigger removes
//! a deleted part. Which parts each covers depends only on columns that never change, so a delete
//! always removes what the insert added. Queries: `views::search`.

use std::borrow::Cow;

use rusqlite::params;

use crate::{Store, StoreError};

/// The `meta` key that says the index must be built from the rows (a store upgraded to 11 with
/// rows in it; `hindcast search` builds it once).
pub const PENDING_KEY: &str = "search_index_pending";

/// A long tool input or result as indexed: its first 1,536 and last 512 characters, where a
/// command prints what it ran and what went wrong (the whole text stays in the row).
macro_rules! clipped {
    ($x:expr) => {
        concat!(
            "CASE WHEN length(",
            $x,
            ") <= 2048 THEN ",
            $x,
            " ELSE substr(",
            $x,
            ", 1, 1536) || ' … ' || substr(",
            $x,
            ", -512) END"
        )
    };
}

/// What `search_words` indexes of a part `p`: a text or thinking whole; a tool call's name and
/// input, and a tool result, clipped. The view the index is built from and the delete trigger use
/// it; the writer computes the same with `words_body` (`tests::clipping_equals_sql`).
macro_rules! words_body {
    ($p:literal) => {
        concat!(
            "CASE ",
            $p,
            ".kind WHEN 3 THEN ",
            clipped!(concat!("(coalesce(", $p, ".tool_name, '') || ' ' || coalesce(", $p, ".tool_input, ''))")),
            " WHEN 4 THEN ",
            clipped!(concat!($p, ".text")),
            " ELSE ",
            $p,
            ".text END"
        )
    };
}

/// Schema 11.
pub(crate) const MIGRATION: &str = concat!(
    "CREATE VIEW search_words_source AS SELECT p.part AS part, ",
    words_body!("p"),
    r#" AS body FROM part p WHERE p.kind IN (1, 2, 3, 4);
CREATE VIEW search_grams_source AS SELECT p.part AS part, p.text AS body
FROM part p JOIN message m ON m.message = p.message WHERE p.kind = 1 AND m.role IN (1, 2);
CREATE VIRTUAL TABLE search_words USING fts5(body, content = 'search_words_source', content_rowid = 'part',
    tokenize = "unicode61 tokenchars '_'");
CREATE VIRTUAL TABLE search_grams USING fts5(body, content = 'search_grams_source', content_rowid = 'part',
    tokenize = 'trigram', detail = none, columnsize = 0);
CREATE VIRTUAL TABLE search_words_vocab USING fts5vocab(search_words, row);
CREATE TRIGGER search_part_insert AFTER INSERT ON part WHEN NEW.kind IN (1, 2, 3, 4) BEGIN
    INSERT INTO search_words (rowid, body) VALUES (NEW.part, "#,
    words_body!("NEW"),
    r#");
    INSERT INTO search_grams (rowid, body) SELECT NEW.part, NEW.text
    WHERE NEW.kind = 1 AND (SELECT role FROM message WHERE message = NEW.message) IN (1, 2);
END;
CREATE TRIGGER search_part_delete AFTER DELETE ON part WHEN OLD.kind IN (1, 2, 3, 4) BEGIN
    INSERT INTO search_words (search_words, rowid, body) VALUES ('delete', OLD.part, "#,
    words_body!("OLD"),
    r#");
    INSERT INTO search_grams (search_grams, rowid, body) SELECT 'delete', OLD.part, OLD.text
    WHERE OLD.kind = 1 AND (SELECT role FROM message WHERE message = OLD.message) IN (1, 2);
END;
INSERT INTO meta (key, value) SELECT 'search_index_pending', '11' WHERE EXISTS (SELECT 1 FROM part)
    ON CONFLICT (key) DO NOTHING;
"#
);

/// Schema 13: the writer indexes the parts it inserts. Through the trigger, FTS5 wrote its pending
/// terms to disk at every inserted part (the trigger's statement savepoint), and a first import
/// read every part back to build the index at its end.
pub(crate) const WRITER_INDEXES: &str = "DROP TRIGGER search_part_insert;";

/// Indexes an inserted part: `?1` its rowid, `?2` what `words_body` or the text says.
pub(crate) const INDEX_WORDS: &str = "INSERT INTO search_words (rowid, body) VALUES (?1, ?2)";

/// Indexes an inserted text part of a user or assistant message in `search_grams`.
pub(crate) const INDEX_GRAMS: &str = "INSERT INTO search_grams (rowid, body) VALUES (?1, ?2)";

/// Characters of a long tool input or result that are indexed: the whole up to this many, else
/// the head and the tail.
const CLIP_LIMIT: usize = 2048;
const CLIP_HEAD: usize = 1536;
const CLIP_TAIL: usize = 512;

/// What `search_words` indexes of a part of this kind (`compact::PART_KINDS` code), exactly as
/// `words_body!` computes it in SQL; `None` (NULL) for a kind it does not cover or a part without
/// text.
pub(crate) fn words_body<'a>(
    kind: i64,
    text: Option<&'a str>,
    tool_name: Option<&str>,
    tool_input: Option<&str>,
) -> Option<Cow<'a, str>> {
    match kind {
        1 | 2 => text.map(Cow::Borrowed),
        3 => {
            let call = format!("{} {}", tool_name.unwrap_or(""), tool_input.unwrap_or(""));
            // A short call is kept as it was put together, not copied again.
            let clipped = match clip(&call) {
                Cow::Borrowed(_) => None,
                Cow::Owned(clipped) => Some(clipped),
            };
            Some(Cow::Owned(clipped.unwrap_or(call)))
        }
        4 => text.map(clip),
        _ => None,
    }
}

/// `clipped!` in Rust. SQLite's `length` and `substr` read a text up to its first NUL, so the
/// characters are counted there; a text at most `CLIP_LIMIT` characters long before it is kept
/// whole, NUL and all.
fn clip(x: &str) -> Cow<'_, str> {
    let counted = &x[..x.find('\0').unwrap_or(x.len())];
    // Each character is at least a byte: a short text needs no counting.
    if counted.len() <= CLIP_LIMIT || counted.chars().count() <= CLIP_LIMIT {
        return Cow::Borrowed(x);
    }
    let head_end = counted.char_indices().nth(CLIP_HEAD).map_or(counted.len(), |(at, _)| at);
    let tail_start = counted.char_indices().rev().nth(CLIP_TAIL - 1).map_or(0, |(at, _)| at);
    Cow::Owned(format!("{} … {}", &counted[..head_end], &counted[tail_start..]))
}

/// Whether `search_words` covers a part of this kind (`compact::PART_KINDS` code).
pub(crate) fn words_cover(kind: i64) -> bool {
    (1..=4).contains(&kind)
}

/// Whether `search_grams` covers a part of this kind in a message of this role (codes).
pub(crate) fn grams_cover(kind: i64, role: i64) -> bool {
    kind == 1 && (role == 1 || role == 2)
}

/// Merges each index into one segment: the end of a first import. Unmerged, the segments the
/// import left sit where the small ones of later imports merge into them: an incremental import
/// would now and then rewrite the whole index.
pub(crate) const OPTIMIZE: &str = "INSERT INTO search_words (search_words) VALUES ('optimize'); \
    INSERT INTO search_grams (search_grams) VALUES ('optimize');";

/// Parts indexed per transaction by `build_search_index`.
const BUILD_STEP: i64 = 20_000;

impl Store {
    /// Whether the search index waits to be built from the rows.
    pub fn search_index_pending(&self) -> Result<bool, StoreError> {
        Ok(self.meta_value(PENDING_KEY)?.is_some())
    }

    /// Empties the search index and indexes every stored part again, `BUILD_STEP` parts per
    /// transaction (`progress(done, total)` after each), then marks it built. Killed midway, the
    /// mark is still there and the next build starts over.
    pub fn build_search_index(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        self.set_meta_value(PENDING_KEY, "rebuild")?;
        self.conn
            .execute_batch(
                "INSERT INTO search_words (search_words) VALUES ('delete-all'); \
                 INSERT INTO search_grams (search_grams) VALUES ('delete-all');",
            )
            .map_err(sqlite)?;
        let (first, last, total): (i64, i64, u64) = self
            .conn
            .query_row("SELECT coalesce(min(part), 0), coalesce(max(part), -1), count(*) FROM part", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(sqlite)?;
        let mut done = 0;
        let mut from = first;
        while from <= last {
            let to = from + BUILD_STEP;
            let tx = self.conn.transaction().map_err(sqlite)?;
            tx.execute(
                "INSERT INTO search_words (rowid, body) SELECT part, body FROM search_words_source \
                 WHERE part >= ?1 AND part < ?2",
                params![from, to],
            )
            .map_err(sqlite)?;
            tx.execute(
                "INSERT INTO search_grams (rowid, body) SELECT part, body FROM search_grams_source \
                 WHERE part >= ?1 AND part < ?2",
                params![from, to],
            )
            .map_err(sqlite)?;
            done += tx
                .query_row("SELECT count(*) FROM part WHERE part >= ?1 AND part < ?2", params![from, to], |row| {
                    row.get::<_, u64>(0)
                })
                .map_err(sqlite)?;
            tx.commit().map_err(sqlite)?;
            progress(done, total);
            from = to;
        }
        self.conn.execute_batch(OPTIMIZE).map_err(sqlite)?;
        self.conn.execute("DELETE FROM meta WHERE key = ?1", [PENDING_KEY]).map_err(sqlite)?;
        Ok(())
    }

    /// FTS5's own check that each index holds exactly what its rows say.
    pub fn check_search_index(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "INSERT INTO search_words (search_words, rank) VALUES ('integrity-check', 1); \
                 INSERT INTO search_grams (search_grams, rank) VALUES ('integrity-check', 1);",
            )
            .map_err(|source| self.sqlite_error(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's `words_body` equals the SQL expression the view and the delete trigger use:
    /// otherwise deleting a part would leave its tokens behind.
    #[test]
    fn clipping_equals_sql() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = concat!(
            "SELECT ",
            words_body!("p"),
            " FROM (SELECT ?1 AS kind, ?2 AS text, ?3 AS tool_name, ?4 AS tool_input) p"
        );
        let long = |unit: &str, count: usize| unit.repeat(count);
        let texts = [
            String::new(),
            "short".to_string(),
            long("a", 2047),
            long("a", 2048),
            long("a", 2049),
            long("é", 1024),
            long("é", 2048),
            long("é", 2049),
            long("最新", 1500),
            long("🦀x", 1100),
            format!("{}\0{}", long("a", 100), long("b", 5000)),
            format!("{}\0{}", long("a", 3000), long("b", 5000)),
            format!("\0{}", long("z", 9000)),
            format!("{}{}", long("h", 1536), long("t", 513)),
        ];
        for kind in 1..=6 {
            for text in &texts {
                for (tool_name, tool_input) in [(None, None), (Some("Bash"), Some(text.as_str())), (None, Some("x"))] {
                    let expected: Option<String> = conn
                        .query_row(sql, rusqlite::params![kind, text, tool_name, tool_input], |row| row.get(0))
                        .unwrap();
                    let body = words_body(kind, Some(text), tool_name, tool_input).map(Cow::into_owned);
                    let expected = if words_cover(kind) { expected } else { None };
                    assert_eq!(body, expected, "kind {kind}, text of {} bytes, tool {tool_name:?}", text.len());
                }
            }
            let expected: Option<String> = conn
                .query_row(sql, rusqlite::params![kind, None::<String>, None::<String>, None::<String>], |row| {
                    row.get(0)
                })
                .unwrap();
            let expected = if words_cover(kind) { expected } else { None };
            assert_eq!(words_body(kind, None, None, None).map(Cow::into_owned), expected, "kind {kind}, no text");
        }
    }
}
