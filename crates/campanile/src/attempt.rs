//! Which attempt of its task a process is, and the pause a retried attempt makes
//! before it starts.
//!
//! Hadoop Streaming exports the job configuration to the task's environment with
//! every non-alphanumeric character of a key turned into `_`, so the attempt id
//! (`mapreduce.task.attempt.id`, e.g. `attempt_1700000000000_0001_m_000003_1`)
//! arrives as `mapreduce_task_attempt_id` (older Hadoop: `mapred_task_id`); its last
//! field counts the attempts from 0. The local runner exports the same variables
//! (`plan/local/pool.rs`), so both runners behave alike. A process started by hand has
//! neither and is a first attempt.
//!
//! Whether an attempt is its task's last: the job's `mapreduce.map.maxattempts` arrives
//! the same way, as `mapreduce_map_maxattempts` (old name `mapred_map_max_attempts`;
//! the local runner exports both, as Hadoop does), and an attempt whose number is at
//! least that maximum less one gets no successor ([`TaskAttempt::is_last`]). A task that
//! would fail an object for good on its last attempt can report it instead (objectmap
//! writes a skip row: [`crate::task::objectmap`]). A process started by hand has no
//! attempt id: nobody retries it, so it is its own last attempt. An attempt id without
//! a maximum is not taken for the last: the task fails as it always did, and Hadoop
//! decides. YARN does not count an attempt that was killed (a lost node, preemption)
//! against the maximum, so a later attempt's number can exceed it: such an attempt is
//! taken for the last as well, which at worst reports an object one retry early.
//!
//! A retried attempt (number 1 and up) first waits: full-jitter exponential backoff on
//! its number ([`Tuning::task_attempt_backoff`](crate::tuning::Tuning)), so a task that
//! failed because the server was overloaded is not run again at full rate, and the
//! tasks of a step that failed together do not come back together. Then it may skip
//! what an earlier attempt finished (objectcopy does: see
//! [`crate::task::objectcopy`]).

use std::time::Duration;

use crate::retry::Backoff;

/// The attempt id as Hadoop Streaming exports it.
pub const ATTEMPT_ID_ENV: &str = "mapreduce_task_attempt_id";
/// The same under its deprecated name.
pub const OLD_ATTEMPT_ID_ENV: &str = "mapred_task_id";
/// The map tasks' maximum attempts as Hadoop Streaming exports it.
pub const MAX_ATTEMPTS_ENV: &str = "mapreduce_map_maxattempts";
/// The same under its deprecated name.
pub const OLD_MAX_ATTEMPTS_ENV: &str = "mapred_map_max_attempts";
/// Lowers the cap of the pause before a retried attempt (seconds; `0`: no pause).
pub const PAUSE_MAX_ENV: &str = "CAMPANILE_ATTEMPT_PAUSE_MAX";

/// One attempt of a task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskAttempt {
    /// The attempt id, when the process runs as a Hadoop (or local runner) task.
    pub id: Option<String>,
    /// The attempt's number, from 0 (the first attempt).
    pub number: u32,
    /// Attempts the task gets in all (`mapreduce.map.maxattempts`), when known.
    pub max_attempts: Option<u32>,
}

impl TaskAttempt {
    /// The attempt this process is, from its environment.
    pub fn from_env() -> Self {
        TaskAttempt::from_vars(|name| std::env::var(name).ok())
    }

    /// The attempt that the environment variables `var` gives stand for (an empty
    /// value counts as none).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))
        };
        let attempt = match first([ATTEMPT_ID_ENV, OLD_ATTEMPT_ID_ENV]) {
            Some(id) => TaskAttempt::from_id(&id),
            None => TaskAttempt::default(),
        };
        TaskAttempt {
            max_attempts: first([MAX_ATTEMPTS_ENV, OLD_MAX_ATTEMPTS_ENV])
                .and_then(|v| v.trim().parse::<u32>().ok()),
            ..attempt
        }
    }

    /// The attempt named by `id` (`attempt_<cluster>_<job>_<m|r>_<task>_<n>`); an id
    /// without a number is taken for a first attempt.
    pub fn from_id(id: &str) -> Self {
        let number = id
            .rsplit('_')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        TaskAttempt {
            id: Some(id.to_string()),
            number,
            max_attempts: None,
        }
    }

    /// True when no attempt follows this one if it fails: a process started by hand
    /// (no attempt id), or an attempt numbered at least the task's maximum less one.
    /// False when the maximum is unknown (see the module's documentation).
    pub fn is_last(&self) -> bool {
        match (&self.id, self.max_attempts) {
            (None, _) => true,
            (Some(_), Some(max)) => self.number.saturating_add(1) >= max,
            (Some(_), None) => false,
        }
    }

    /// True for the second attempt and later: an earlier one may have done some of
    /// the work.
    pub fn is_retry(&self) -> bool {
        self.number > 0
    }

    /// The pause before this attempt starts, drawn at random: none for a first
    /// attempt, else up to `backoff.ceiling(number)`, at most `cap` when given.
    pub fn pause(&self, backoff: &Backoff, cap: Option<Duration>) -> Duration {
        if !self.is_retry() {
            return Duration::ZERO;
        }
        let backoff = match cap {
            Some(cap) => Backoff {
                first: backoff.first.min(cap),
                max: backoff.max.min(cap),
                factor: backoff.factor,
            },
            None => *backoff,
        };
        backoff.delay(self.number)
    }
}

/// The cap set by [`PAUSE_MAX_ENV`], if it holds a number of seconds.
pub fn pause_cap_from_env() -> Option<Duration> {
    std::env::var(PAUSE_MAX_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_numbers_come_from_the_last_field() {
        let first = TaskAttempt::from_id("attempt_1700000000000_0001_m_000003_0");
        assert_eq!(first.number, 0);
        assert!(!first.is_retry());
        let second = TaskAttempt::from_id("attempt_local_0001_m_000003_1");
        assert_eq!(second.number, 1);
        assert!(second.is_retry());
        assert_eq!(TaskAttempt::from_id("attempt_x_r_000000_5").number, 5);
        assert_eq!(TaskAttempt::from_id("garbage").number, 0);
        assert_eq!(TaskAttempt::default().number, 0);
    }

    #[test]
    fn only_retries_pause_within_the_ceiling_of_their_number() {
        let backoff = crate::tuning::Tuning::DEFAULT.task_attempt_backoff;
        assert_eq!(
            TaskAttempt::from_id("attempt_a_m_000000_0").pause(&backoff, None),
            Duration::ZERO
        );
        for number in 1..6 {
            let attempt = TaskAttempt {
                id: None,
                number,
                max_attempts: None,
            };
            for _ in 0..50 {
                assert!(attempt.pause(&backoff, None) <= backoff.ceiling(number));
                assert!(
                    attempt.pause(&backoff, Some(Duration::from_millis(10)))
                        <= Duration::from_millis(10)
                );
            }
            assert_eq!(
                attempt.pause(&backoff, Some(Duration::ZERO)),
                Duration::ZERO
            );
        }
        // Jittered: not every draw is the ceiling.
        let third = TaskAttempt {
            id: None,
            number: 3,
            max_attempts: None,
        };
        let draws: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| third.pause(&backoff, None)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn the_last_attempt_is_the_one_numbered_the_maximum_less_one() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            TaskAttempt::from_vars(move |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        let id = "attempt_1700000000000_0001_m_000003_";
        for (number, last) in [(0, false), (2, false), (3, true), (4, true)] {
            let attempt = TaskAttempt {
                max_attempts: Some(4),
                ..TaskAttempt::from_id(&format!("{id}{number}"))
            };
            assert_eq!(attempt.is_last(), last, "attempt {number} of 4");
        }
        // From the environment, under either name.
        let third = env(&[
            (ATTEMPT_ID_ENV, "attempt_1_0001_m_000000_2"),
            (MAX_ATTEMPTS_ENV, "3"),
        ]);
        assert_eq!((third.number, third.max_attempts), (2, Some(3)));
        assert!(third.is_last());
        let old = env(&[
            (OLD_ATTEMPT_ID_ENV, "attempt_1_0001_m_000000_0"),
            (OLD_MAX_ATTEMPTS_ENV, "1"),
        ]);
        assert!(old.is_last());
        assert!(
            !env(&[
                (ATTEMPT_ID_ENV, "attempt_1_0001_m_000000_0"),
                (OLD_MAX_ATTEMPTS_ENV, "2")
            ])
            .is_last()
        );
        // An attempt id without a maximum: Hadoop decides, so never the last.
        assert!(!env(&[(ATTEMPT_ID_ENV, "attempt_1_0001_m_000000_9")]).is_last());
        assert!(
            !env(&[
                (ATTEMPT_ID_ENV, "attempt_1_0001_m_000000_0"),
                (MAX_ATTEMPTS_ENV, "many")
            ])
            .is_last()
        );
        // By hand: nobody retries it.
        assert!(env(&[]).is_last());
        assert!(env(&[(ATTEMPT_ID_ENV, ""), (MAX_ATTEMPTS_ENV, "4")]).is_last());
    }
}
