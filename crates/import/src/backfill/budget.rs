//! The parse budget: how many source bytes may be parsed at once, so that two large units never
//! hold their parse state at the same time (peak memory follows the largest unit, not the two largest).

use std::sync::{Condvar, Mutex};

/// Source bytes the parse threads may work on at once. A unit at least this large is parsed alone.
/// 96 MiB lets small units go on beside the generator's largest (83–87 MB) instead of leaving a
/// parse thread idle: 5–10 % faster than 64 MiB, for up to 30 MB more peak memory at 1 GB
/// (docs/performance.md).
pub(super) const PARSE_BUDGET_BYTES: u64 = 96 << 20;

/// A budget of source bytes shared by the parse threads.
pub(super) struct ParseBudget {
    limit: u64,
    reserved: Mutex<u64>,
    released: Condvar,
}

/// Bytes reserved for one unit's parse; returned to the budget when dropped.
pub(super) struct Reservation<'a> {
    budget: &'a ParseBudget,
    bytes: u64,
}

impl ParseBudget {
    pub(super) fn new(limit: u64) -> Self {
        Self { limit, reserved: Mutex::new(0), released: Condvar::new() }
    }

    /// Waits until `bytes` (at most the whole budget) fit, then reserves them. Never waits while
    /// nothing is reserved, so every unit, however large, is parsed eventually.
    pub(super) fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let bytes = bytes.min(self.limit);
        let mut reserved = self.reserved.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *reserved > 0 && *reserved + bytes > self.limit {
            reserved = self.released.wait(reserved).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *reserved += bytes;
        Reservation { budget: self, bytes }
    }

    #[cfg(test)]
    fn reserved(&self) -> u64 {
        *self.reserved.lock().unwrap()
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut reserved = self.budget.reserved.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *reserved -= self.bytes;
        self.budget.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn small_units_share_the_budget_and_a_large_one_waits_until_it_is_alone() {
        let budget = ParseBudget::new(100);
        let first = budget.reserve(30);
        let second = budget.reserve(60);
        assert_eq!(budget.reserved(), 90);
        let large_started = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let large = budget.reserve(500);
                large_started.store(true, Ordering::SeqCst);
                assert_eq!(budget.reserved(), 100, "a unit over the budget takes all of it");
                drop(large);
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!large_started.load(Ordering::SeqCst), "the large unit waits while others parse");
            drop(first);
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!large_started.load(Ordering::SeqCst), "and waits until every other unit is done");
            drop(second);
            waiter.join().unwrap();
        });
        assert!(large_started.load(Ordering::SeqCst));
        assert_eq!(budget.reserved(), 0);
    }

    #[test]
    fn a_unit_larger_than_the_budget_never_waits_on_an_idle_budget() {
        let budget = ParseBudget::new(10);
        let alone = budget.reserve(1_000);
        assert_eq!(budget.reserved(), 10);
        drop(alone);
        assert_eq!(budget.reserved(), 0);
    }
}
