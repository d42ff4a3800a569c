//! The keys a first import has written while it builds the store without the unique indexes of
//! the keyed tables: the writer recognises a row it already wrote from them, as `ON CONFLICT`
//! would from the index.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rusqlite::{Connection, OptionalExtension};

use super::schema::KEYED_TABLES;

/// Keys a build holds before it creates the unique indexes and lets them decide instead (about
/// 2.4 GB of history; about 9 bytes a key, so at most about 20 MB).
pub(super) const KEY_LIMIT: usize = 2_000_000;

/// The keys written so far to each keyed table.
#[derive(Debug)]
pub(super) struct BuildKeys {
    pub(super) messages: KeyTable,
    pub(super) usage: KeyTable,
    /// Past this many keys the build creates its unique indexes (see `KEY_LIMIT`).
    pub(super) limit: usize,
}

impl BuildKeys {
    pub(super) fn new() -> Self {
        let [messages, usage] = KEYED_TABLES.map(|(table, column)| KeyTable::new(table, column));
        Self { messages, usage, limit: KEY_LIMIT }
    }

    pub(super) fn is_full(&self) -> bool {
        self.messages.len() + self.usage.len() >= self.limit
    }

    /// Forgets the keys of rows a rollback took away. A build never deletes rows, so rowids only
    /// grow: those above a table's largest remaining rowid are gone.
    pub(super) fn forget_rolled_back(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        for keys in [&mut self.messages, &mut self.usage] {
            let largest: i64 =
                conn.query_row(&format!("SELECT coalesce(max(rowid), 0) FROM {}", keys.table), [], |row| row.get(0))?;
            keys.forget_above(largest);
        }
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn narrow_fingerprints(&mut self, mask: u32) {
        for keys in [&mut self.messages, &mut self.usage] {
            keys.fingerprint_mask = mask;
        }
    }
}

/// The keys of one table: the rowid of each key's row, found by a 32-bit fingerprint of the key
/// and confirmed by reading the key stored at that rowid. A key whose fingerprint another key
/// already has is kept whole.
#[derive(Debug)]
pub(super) struct KeyTable {
    table: &'static str,
    /// `SELECT <key column> FROM <table> WHERE rowid = ?1`.
    key_at_rowid: String,
    by_fingerprint: HashMap<u32, u32>,
    by_key: HashMap<Vec<u8>, i64>,
    fingerprint_mask: u32,
}

impl KeyTable {
    fn new(table: &'static str, column: &'static str) -> Self {
        Self {
            table,
            key_at_rowid: format!("SELECT {column} FROM {table} WHERE rowid = ?1"),
            by_fingerprint: HashMap::new(),
            by_key: HashMap::new(),
            fingerprint_mask: u32::MAX,
        }
    }

    fn len(&self) -> usize {
        self.by_fingerprint.len() + self.by_key.len()
    }

    /// The rowid of the row written with `key`, if any.
    pub(super) fn find(&self, conn: &Connection, key: &[u8]) -> rusqlite::Result<Option<i64>> {
        if let Some(&rowid) = self.by_fingerprint.get(&self.fingerprint(key)) {
            let stored: Option<Vec<u8>> =
                conn.prepare_cached(&self.key_at_rowid)?.query_row([rowid], |row| row.get(0)).optional()?;
            if stored.as_deref() == Some(key) {
                return Ok(Some(rowid.into()));
            }
        }
        if self.by_key.is_empty() {
            return Ok(None);
        }
        Ok(self.by_key.get(key).copied())
    }

    /// Records that `key` was just written at `rowid`.
    pub(super) fn record(&mut self, key: &[u8], rowid: i64) {
        let fingerprint = self.fingerprint(key);
        match (self.by_fingerprint.entry(fingerprint), u32::try_from(rowid)) {
            (Entry::Vacant(slot), Ok(rowid)) => {
                slot.insert(rowid);
            }
            _ => {
                self.by_key.insert(key.to_vec(), rowid);
            }
        }
    }

    fn forget_above(&mut self, largest: i64) {
        self.by_fingerprint.retain(|_, rowid| i64::from(*rowid) <= largest);
        self.by_key.retain(|_, rowid| *rowid <= largest);
    }

    /// Keys are sha256 bytes, so their first four are as good as a hash; a shorter key is hashed
    /// (FNV-1a).
    fn fingerprint(&self, key: &[u8]) -> u32 {
        let fingerprint = key.first_chunk::<4>().map(|bytes| u32::from_le_bytes(*bytes)).unwrap_or_else(|| {
            key.iter().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
        });
        fingerprint & self.fingerprint_mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with_rows(keys: &[&[u8]]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE token_usage (usage_key BLOB NOT NULL)").unwrap();
        for key in keys {
            conn.execute("INSERT INTO token_usage (usage_key) VALUES (?1)", [key]).unwrap();
        }
        conn
    }

    #[test]
    fn keys_are_found_by_fingerprint_and_confirmed_against_the_stored_key() {
        let keys: [&[u8]; 4] = [b"aaaa01", b"aaaa02", b"ab", b"bbbb"];
        let conn = table_with_rows(&keys);
        let mut table = KeyTable::new("token_usage", "usage_key");
        for (index, key) in keys.iter().enumerate() {
            assert_eq!(table.find(&conn, key).unwrap(), None, "{key:?} is not known before it is recorded");
            table.record(key, index as i64 + 1);
        }
        // The first two share a fingerprint: the second is kept whole.
        assert_eq!((table.by_fingerprint.len(), table.by_key.len()), (3, 1));
        for (index, key) in keys.iter().enumerate() {
            assert_eq!(table.find(&conn, key).unwrap(), Some(index as i64 + 1), "{key:?}");
        }
        assert_eq!(table.find(&conn, b"aaaa03").unwrap(), None, "a shared fingerprint is not a match");
    }

    #[test]
    fn keys_of_rolled_back_rows_are_forgotten() {
        let conn = table_with_rows(&[b"aaaa01"]);
        let mut keys = BuildKeys::new();
        keys.narrow_fingerprints(0);
        keys.usage.record(b"aaaa01", 1);
        keys.usage.record(b"aaaa02", 2);
        keys.usage.record(b"aaaa03", 3);
        conn.execute_batch("CREATE TABLE message (message_key BLOB);").unwrap();
        keys.forget_rolled_back(&conn).unwrap();
        assert_eq!(keys.usage.find(&conn, b"aaaa01").unwrap(), Some(1));
        assert_eq!(keys.usage.find(&conn, b"aaaa02").unwrap(), None);
        assert_eq!(keys.usage.len(), 1);
    }
}
