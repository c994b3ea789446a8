//! A pool of the large buffers objectcopy's in-memory spools fill, so that a copy of
//! many parts reuses the buffers of the parts before it instead of allocating (and
//! page-faulting in) a fresh part-sized buffer for each: with 8 MiB parts every fresh
//! buffer costs 2,048 page faults, about 2% of objectcopy's CPU in a copy of large
//! objects.
//!
//! The pool is bounded: the buffers it lends plus the buffers it keeps idle never
//! exceed its bound (objectcopy gives it its memory budget, `maxtmpsize`), so keeping
//! buffers for later never adds to what the copies may hold. When a buffer of a size
//! the pool does not keep is asked for, idle buffers are freed first to make room.
//! A buffer comes back when the last owner of its bytes is dropped — the spool that
//! fills it, or the [`Bytes`] a request body was made of, once the SDK lets go of the
//! last clone — on success and on every error path alike. Buffers under
//! [`MIN_POOLED`] bytes are not pooled: the allocator serves them from its heap without
//! fresh pages.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

/// Buffers smaller than this are allocated and freed as usual (glibc's allocator
/// serves them from its heap; only larger ones are fresh mappings).
pub const MIN_POOLED: usize = 256 * 1024;

/// Idle buffers, kept for reuse within a bound.
#[derive(Debug)]
pub struct BufferPool {
    /// Bytes the pool's buffers (lent and idle) may take together.
    bound: u64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Buffers waiting for reuse, each empty.
    idle: Vec<Vec<u8>>,
    /// Capacity of the idle buffers.
    idle_bytes: u64,
    /// Capacity of the buffers lent out (as lent).
    lent_bytes: u64,
}

impl BufferPool {
    /// A pool whose buffers take at most `bound` bytes together; a bound of 0 pools
    /// nothing.
    pub fn new(bound: u64) -> Arc<Self> {
        Arc::new(BufferPool {
            bound,
            state: Mutex::new(State::default()),
        })
    }

    /// The state; a panic elsewhere while it was held leaves it consistent (every
    /// update is a few additions), so a poisoned lock is taken as it is.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer of at least `capacity` bytes: an idle one of at most twice
    /// that if there is one, else a fresh one.
    pub fn take(self: &Arc<Self>, capacity: usize) -> PooledVec {
        if self.bound == 0 || capacity < MIN_POOLED {
            return PooledVec::plain(Vec::with_capacity(capacity));
        }
        let wanted = capacity as u64;
        let mut freed = Vec::new();
        let mut state = self.state();
        // The smallest idle buffer that fits (a 3 MiB last part does not take a
        // 64 MiB buffer).
        let best = state
            .idle
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= capacity && v.capacity() / 2 <= capacity)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        let vec = match best {
            Some(i) => {
                let vec = state.idle.swap_remove(i);
                state.idle_bytes -= vec.capacity() as u64;
                vec
            }
            None => {
                // Room for the fresh buffer: idle ones go first, largest first.
                state.idle.sort_by_key(Vec::capacity);
                while state.idle_bytes + state.lent_bytes + wanted > self.bound {
                    let Some(old) = state.idle.pop() else { break };
                    state.idle_bytes -= old.capacity() as u64;
                    freed.push(old);
                }
                Vec::new()
            }
        };
        let lent = if vec.capacity() > 0 {
            vec.capacity() as u64
        } else {
            wanted
        };
        state.lent_bytes += lent;
        drop(state);
        // Freed and allocated outside the lock (unmapping 8 MiB is not free).
        drop(freed);
        let vec = if vec.capacity() == 0 {
            Vec::with_capacity(capacity)
        } else {
            vec
        };
        PooledVec {
            vec,
            lent,
            pool: Some(self.clone()),
        }
    }

    /// Takes back a buffer lent as `lent` bytes; keeps it if it is large enough and
    /// fits the bound.
    fn give_back(&self, mut vec: Vec<u8>, lent: u64) {
        let mut state = self.state();
        state.lent_bytes = state.lent_bytes.saturating_sub(lent);
        let capacity = vec.capacity() as u64;
        if vec.capacity() >= MIN_POOLED
            && state.idle_bytes + state.lent_bytes + capacity <= self.bound
        {
            vec.clear();
            state.idle.push(vec);
            state.idle_bytes += capacity;
            return;
        }
        drop(state);
        drop(vec);
    }

    /// Bytes held by idle buffers.
    pub fn idle_bytes(&self) -> u64 {
        self.state().idle_bytes
    }

    /// Bytes lent out, as counted when lent.
    pub fn lent_bytes(&self) -> u64 {
        self.state().lent_bytes
    }

    /// Idle buffers.
    pub fn idle_buffers(&self) -> usize {
        self.state().idle.len()
    }
}

/// A buffer that goes back to its pool (if it came from one) when dropped.
#[derive(Debug, Default)]
pub struct PooledVec {
    vec: Vec<u8>,
    /// Bytes the pool counted when it lent the buffer.
    lent: u64,
    pool: Option<Arc<BufferPool>>,
}

impl PooledVec {
    /// A buffer of no pool, freed as usual.
    pub fn plain(vec: Vec<u8>) -> Self {
        PooledVec {
            vec,
            lent: 0,
            pool: None,
        }
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.vec
    }

    /// Appends bytes (growing the buffer if it must).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.vec.extend_from_slice(bytes);
    }

    /// The buffer's capacity.
    pub fn capacity(&self) -> usize {
        self.vec.capacity()
    }

    /// The bytes as [`Bytes`], which give the buffer back to the pool when the last
    /// clone of them is dropped.
    pub fn into_bytes(self) -> Bytes {
        if self.pool.is_none() {
            let mut this = self;
            return Bytes::from(std::mem::take(&mut this.vec));
        }
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledVec {
    fn as_ref(&self) -> &[u8] {
        &self.vec
    }
}

impl Drop for PooledVec {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give_back(std::mem::take(&mut self.vec), self.lent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn a_returned_buffer_is_reused() {
        let pool = BufferPool::new(64 * MIB as u64);
        let mut first = pool.take(8 * MIB);
        first.extend_from_slice(b"part one");
        let pointer = first.as_slice().as_ptr();
        let capacity = first.capacity();
        drop(first);
        assert_eq!(pool.idle_buffers(), 1);
        assert_eq!(pool.lent_bytes(), 0);
        let second = pool.take(8 * MIB);
        assert_eq!(second.as_slice().as_ptr(), pointer, "the same buffer");
        assert_eq!(second.capacity(), capacity);
        assert!(second.as_slice().is_empty(), "handed out empty");
        assert_eq!(pool.idle_buffers(), 0);
        assert_eq!(pool.lent_bytes(), capacity as u64);
    }

    #[test]
    fn bytes_give_the_buffer_back_when_the_last_clone_goes() {
        let pool = BufferPool::new(64 * MIB as u64);
        let mut buffer = pool.take(MIB);
        buffer.extend_from_slice(&[7; 1000]);
        let pointer = buffer.as_slice().as_ptr();
        let bytes = buffer.into_bytes();
        assert_eq!(bytes.as_ptr(), pointer, "no copy");
        assert_eq!(bytes.len(), 1000);
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(pool.idle_buffers(), 0, "a clone still holds it");
        drop(clone);
        assert_eq!(pool.idle_buffers(), 1);
        assert_eq!(pool.take(MIB).as_slice().as_ptr(), pointer);
    }

    #[test]
    fn the_pool_never_holds_more_than_its_bound() {
        let bound = 20 * MIB as u64;
        let pool = BufferPool::new(bound);
        // Three 8 MiB buffers at once (the memory budget is the caller's): only two
        // fit the bound when they come back.
        let lent: Vec<PooledVec> = (0..3).map(|_| pool.take(8 * MIB)).collect();
        drop(lent);
        assert_eq!(pool.idle_buffers(), 2);
        assert!(pool.idle_bytes() <= bound);
        // A size the pool does not keep: idle buffers are freed to make room.
        let other = pool.take(12 * MIB);
        assert!(pool.idle_bytes() + pool.lent_bytes() <= bound);
        assert_eq!(pool.idle_buffers(), 1);
        drop(other);
        assert!(pool.idle_bytes() <= bound);
        for size in [MIB, 3 * MIB, 8 * MIB, 19 * MIB, 300 * 1024] {
            let taken = pool.take(size);
            assert!(taken.capacity() >= size);
            assert!(pool.idle_bytes() + pool.lent_bytes() <= bound.max(size as u64));
            drop(taken);
            assert!(pool.idle_bytes() <= bound);
        }
    }

    #[test]
    fn small_buffers_and_a_zero_bound_pool_nothing() {
        let pool = BufferPool::new(64 * MIB as u64);
        drop(pool.take(MIN_POOLED - 1));
        assert_eq!(pool.idle_buffers(), 0);
        let none = BufferPool::new(0);
        drop(none.take(8 * MIB));
        assert_eq!(none.idle_buffers(), 0);
        assert_eq!(none.lent_bytes(), 0);
    }

    #[test]
    fn a_small_request_does_not_take_a_much_larger_buffer() {
        let pool = BufferPool::new(64 * MIB as u64);
        drop(pool.take(16 * MIB));
        let small = pool.take(MIB);
        assert!(small.capacity() < 2 * MIB, "a fresh 1 MiB buffer");
        assert_eq!(pool.idle_buffers(), 1, "the 16 MiB one stays idle");
    }
}
