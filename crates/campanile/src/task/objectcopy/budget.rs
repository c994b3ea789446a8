//! The memory budget objectcopy's concurrent copies share (`maxtmpsize`).
//!
//! A copy holds its bytes until they are written. Before its GET, a copy waits for its
//! share of the budget: its size, at most the whole budget; whatever an object has
//! beyond the whole budget spills to a temporary file (see [`crate::spool`]). So the
//! copies in flight never hold more than `maxtmpsize` in memory together, however many
//! the concurrency allows: small objects are copied many at a time, large ones fewer.
//! The budget is counted in KiB, rounded up per copy, so that a task with a budget of
//! many GiB still fits a semaphore's permit count.

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::Error;

/// The bytes the copies of one task may hold in memory at once.
#[derive(Debug)]
pub(super) struct MemoryBudget {
    /// The whole budget in bytes (`maxtmpsize`).
    total: u64,
    /// The budget in KiB permits.
    permits: Semaphore,
}

/// A copy's share of the budget, given back when dropped (once the copy is written).
#[derive(Debug)]
pub(super) struct Share<'a> {
    /// Bytes this copy may hold in memory; the rest of it spills to disk.
    pub(super) in_memory: u64,
    _permit: SemaphorePermit<'a>,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub(super) fn new(total: u64) -> Self {
        MemoryBudget {
            total,
            permits: Semaphore::new(kib(total) as usize),
        }
    }

    /// Waits until a copy of `size` bytes can hold `min(size, total)` of them in
    /// memory.
    pub(super) async fn reserve(&self, size: u64) -> Result<Share<'_>, Error> {
        let in_memory = size.min(self.total);
        let permit = self
            .permits
            .acquire_many(kib(in_memory))
            .await
            .map_err(|e| Error::Internal(format!("the memory budget is gone: {e}")))?;
        Ok(Share {
            in_memory,
            _permit: permit,
        })
    }
}

/// KiB permits for `bytes`, rounded up (saturating: a budget beyond 4 TiB is as good
/// as unlimited).
fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    const KIB: u64 = 1024;

    #[test]
    fn permits_round_up_to_whole_kib() {
        assert_eq!(kib(0), 0);
        assert_eq!(kib(1), 1);
        assert_eq!(kib(1024), 1);
        assert_eq!(kib(1025), 2);
        assert_eq!(kib(u64::MAX), u32::MAX);
    }

    #[test]
    fn copies_within_the_budget_start_at_once() {
        let budget = MemoryBudget::new(100 * KIB);
        let a = budget.reserve(40 * KIB).now_or_never().expect("ready");
        let b = budget.reserve(60 * KIB).now_or_never().expect("ready");
        assert_eq!(a.expect("share").in_memory, 40 * KIB);
        assert_eq!(b.expect("share").in_memory, 60 * KIB);
    }

    #[test]
    fn a_copy_waits_until_an_earlier_one_gives_its_share_back() {
        let budget = MemoryBudget::new(100 * KIB);
        let first = budget
            .reserve(70 * KIB)
            .now_or_never()
            .expect("ready")
            .expect("share");
        let mut second = Box::pin(budget.reserve(50 * KIB));
        assert!(
            (&mut second).now_or_never().is_none(),
            "70 + 50 KiB exceed the 100 KiB budget"
        );
        drop(first);
        let second = second.now_or_never().expect("ready").expect("share");
        assert_eq!(second.in_memory, 50 * KIB);
    }

    #[test]
    fn an_object_larger_than_the_budget_takes_all_of_it_and_spills_the_rest() {
        let budget = MemoryBudget::new(100 * KIB);
        let large = budget
            .reserve(1000 * KIB)
            .now_or_never()
            .expect("ready")
            .expect("share");
        assert_eq!(large.in_memory, 100 * KIB);
        assert!(budget.reserve(1).now_or_never().is_none(), "nothing left");
        drop(large);
        assert!(budget.reserve(100 * KIB).now_or_never().is_some());
    }

    #[test]
    fn empty_objects_and_an_empty_budget_never_wait() {
        let budget = MemoryBudget::new(0);
        let share = budget
            .reserve(5 * KIB)
            .now_or_never()
            .expect("ready")
            .expect("share");
        assert_eq!(share.in_memory, 0, "everything spills");
        let budget = MemoryBudget::new(KIB);
        let _all = budget.reserve(KIB).now_or_never().expect("ready");
        assert!(budget.reserve(0).now_or_never().is_some());
    }

    #[test]
    fn shares_are_counted_in_whole_kib() {
        // Two 600-byte copies take one KiB permit each: a 1 KiB budget holds one.
        let budget = MemoryBudget::new(KIB);
        let first = budget.reserve(600).now_or_never().expect("ready");
        assert!(budget.reserve(600).now_or_never().is_none());
        drop(first);
    }
}
