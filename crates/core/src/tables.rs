//! The tables a materializer fills, and one count vocabulary over them: rows a batch holds,
//! rows a write inserted, merged or skipped, and a run's totals are all a `PerTable`.

use std::ops::{AddAssign, Index, IndexMut};

use serde::Serialize;
use serde::ser::SerializeMap;

/// A table the `messages` materializer writes rows into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Sessions,
    Messages,
    Parts,
    Usage,
    Projects,
    ImportNotes,
    SessionRefs,
    RateLimits,
}

impl Table {
    /// Every table, in the order rows are written (sessions before the messages that name them).
    pub const ALL: [Table; 8] = [
        Table::Sessions,
        Table::Messages,
        Table::Parts,
        Table::Usage,
        Table::Projects,
        Table::ImportNotes,
        Table::SessionRefs,
        Table::RateLimits,
    ];

    /// The SQL name of the table (also its key in `--json` documents).
    pub fn name(self) -> &'static str {
        match self {
            Table::Sessions => "sessions",
            Table::Messages => "messages",
            Table::Parts => "parts",
            Table::Usage => "usage",
            Table::Projects => "projects",
            Table::ImportNotes => "import_notes",
            Table::SessionRefs => "session_refs",
            Table::RateLimits => "rate_limits",
        }
    }
}

/// One value per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerTable<T>([T; 8]);

impl<T> PerTable<T> {
    /// Builds the values table by table.
    pub fn from_fn(mut value: impl FnMut(Table) -> T) -> Self {
        Self(Table::ALL.map(&mut value))
    }

    /// Each table with its value, in `Table::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = (Table, &T)> {
        Table::ALL.into_iter().zip(self.0.iter())
    }

    /// The same tables with `pick` applied to each value.
    pub fn map<U>(&self, mut pick: impl FnMut(&T) -> U) -> PerTable<U> {
        PerTable::from_fn(|table| pick(&self[table]))
    }
}

impl<T> Index<Table> for PerTable<T> {
    type Output = T;

    fn index(&self, table: Table) -> &T {
        &self.0[table as usize]
    }
}

impl<T> IndexMut<Table> for PerTable<T> {
    fn index_mut(&mut self, table: Table) -> &mut T {
        &mut self.0[table as usize]
    }
}

impl<T: AddAssign + Copy> AddAssign<&PerTable<T>> for PerTable<T> {
    fn add_assign(&mut self, other: &PerTable<T>) {
        for table in Table::ALL {
            self[table] += other[table];
        }
    }
}

impl PerTable<u64> {
    /// The sum over all tables.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Row counts serialize as `{"total": …, "sessions": …, …}`, the shape of the run report's
/// `rows_*` documents.
impl Serialize for PerTable<u64> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Table::ALL.len() + 1))?;
        map.serialize_entry("total", &self.total())?;
        for (table, count) in self.iter() {
            map.serialize_entry(table.name(), count)?;
        }
        map.end()
    }
}

/// What writing rows into one table did: inserted, merged into a stored row, or left as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WriteOutcomes {
    pub written: u64,
    pub updated: u64,
    pub skipped: u64,
}

impl AddAssign for WriteOutcomes {
    fn add_assign(&mut self, other: WriteOutcomes) {
        self.written += other.written;
        self.updated += other.updated;
        self.skipped += other.skipped;
    }
}

/// Per-table write outcomes of a batch or a run.
pub type WriteCounts = PerTable<WriteOutcomes>;

impl PerTable<WriteOutcomes> {
    /// Rows inserted, per table.
    pub fn written(&self) -> PerTable<u64> {
        self.map(|outcomes| outcomes.written)
    }

    /// Rows merged into stored rows, per table.
    pub fn updated(&self) -> PerTable<u64> {
        self.map(|outcomes| outcomes.updated)
    }

    /// Rows already stored and unchanged, per table.
    pub fn skipped(&self) -> PerTable<u64> {
        self.map(|outcomes| outcomes.skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_table_and_serialize_with_their_total_first() {
        let mut run = PerTable::<u64>::default();
        run[Table::Messages] += 3;
        let batch = PerTable::from_fn(|table| if table == Table::Parts { 5 } else { 1 });
        run += &batch;
        assert_eq!((run[Table::Messages], run[Table::Parts], run.total()), (4, 5, 3 + 5 + 7));
        let json = serde_json::to_string(&run).unwrap();
        assert_eq!(
            json,
            r#"{"total":15,"sessions":1,"messages":4,"parts":5,"usage":1,"projects":1,"import_notes":1,"session_refs":1,"rate_limits":1}"#
        );
    }

    #[test]
    fn write_outcomes_split_into_per_table_counts() {
        let mut counts = WriteCounts::default();
        counts[Table::Usage] += WriteOutcomes { written: 2, updated: 1, skipped: 0 };
        counts[Table::Sessions] += WriteOutcomes { written: 0, updated: 0, skipped: 7 };
        assert_eq!((counts.written().total(), counts.updated().total(), counts.skipped().total()), (2, 1, 7));
        assert_eq!(counts.skipped()[Table::Sessions], 7);
    }
}
