//! The search index (schema 11): two external-content FTS5 tables over the stored parts, kept by
//! triggers in the same transactions as the rows. `search_words` (`unicode61`, `_` a token
//! character, so `parse_rollout_name` is one word) covers every text and thinking, and the head and
//! tail of every tool call (name and input) and tool result; `search_grams` (`trigram`, no positions) covers what people and models
//! wrote in prose — user and assistant text — for substrings and CJK text. Which parts each covers
//! depends only on columns that never change, so a trigger's delete always removes what its insert
//! added. Queries: `views::search`.

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
/// input, and a tool result, clipped.
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

/// Empties both indexes and fills them from the rows in one statement each, then merges each
/// into one segment (the first import's finish; `Store::build_search_index` does the same in
/// steps). Unmerged, the segments a rebuild leaves sit where the small ones of later imports merge
/// into them: an incremental import would now and then rewrite the whole index.
pub(crate) const REBUILD: &str = "INSERT INTO search_words (search_words) VALUES ('rebuild'); \
    INSERT INTO search_grams (search_grams) VALUES ('rebuild'); \
    INSERT INTO search_words (search_words) VALUES ('optimize'); \
    INSERT INTO search_grams (search_grams) VALUES ('optimize'); \
    DELETE FROM meta WHERE key = 'search_index_pending';";

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
        self.conn
            .execute_batch(
                "INSERT INTO search_words (search_words) VALUES ('optimize'); \
                 INSERT INTO search_grams (search_grams) VALUES ('optimize');",
            )
            .map_err(sqlite)?;
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
