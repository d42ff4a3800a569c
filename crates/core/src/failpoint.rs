//! Named points in a backfill where a test harness may stop or kill the process (crash, race and
//! changing-source tests). Every point is a no-op unless a hook is installed, which only the
//! `hindcast-testbed` binary does; the `hindcast` binary never installs one.

use std::sync::OnceLock;

/// A provider's files were discovered; nothing has been parsed yet.
pub const DISCOVERED: &str = "backfill.discovered";
/// A parse thread starts on a unit (other units may be parsing or being written).
pub const UNIT_START: &str = "parse.unit_start";
/// A batch of rows is in the writer's open transaction, not yet committed.
pub const ROWS_WRITTEN: &str = "write.rows";
/// The writer committed a transaction.
pub const COMMITTED: &str = "write.committed";
/// Half of a unit's sources-manifest entries are written inside the open transaction.
pub const MANIFEST_HALF_WRITTEN: &str = "write.manifest";
/// A Claude project was read once for its structure; its files are about to be read again for content.
pub const CLAUDE_BETWEEN_PASSES: &str = "claude.between_passes";

/// A first import's store is built and synced beside its path, not yet moved into place.
pub const BUILT_STORE_SYNCED: &str = "store.built";
/// An upgrade moved the rows into the compact store's tables, not yet committed.
pub const UPGRADE_CONVERTED: &str = "store.upgrade_converted";
/// An upgraded store's compacted copy is synced beside it, not yet moved into place.
pub const UPGRADE_COMPACTED: &str = "store.upgrade_compacted";

/// Every point, for harnesses and documentation.
pub const POINTS: &[&str] = &[
    DISCOVERED,
    UNIT_START,
    ROWS_WRITTEN,
    COMMITTED,
    MANIFEST_HALF_WRITTEN,
    CLAUDE_BETWEEN_PASSES,
    BUILT_STORE_SYNCED,
    UPGRADE_CONVERTED,
    UPGRADE_COMPACTED,
];

/// Called with the point and the key of the unit it concerns ("" for run-wide points).
type Hook = Box<dyn Fn(&'static str, &str) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the process-wide hook called at every point; returns false if one was already installed.
pub fn install(hook: Hook) -> bool {
    HOOK.set(hook).is_ok()
}

/// Marks that the run reached `point`.
#[inline]
pub fn hit(point: &'static str) {
    hit_in(point, "");
}

/// Marks that the run reached `point` in the unit with key `unit`.
#[inline]
pub fn hit_in(point: &'static str, unit: &str) {
    if let Some(hook) = HOOK.get() {
        hook(point, unit);
    }
}
