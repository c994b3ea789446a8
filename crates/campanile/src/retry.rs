//! One backoff policy for the retries Campanile makes itself, on top of the SDK's.
//!
//! The SDK already retries every S3 request (throttling, server errors, broken
//! connections; see [`crate::s3`]). Campanile retries a few things only it can see: a
//! GET body cut short or failing its size or MD5 check, a write answered with the
//! wrong ETag, a CompleteMultipartUpload whose answer may have been lost. Each of those
//! loops pauses with a [`Backoff`] between attempts and runs through [`retry`], so
//! there is one place that says how long Campanile waits.
//!
//! The pause is "full jitter" (AWS Architecture Blog, *Exponential Backoff And
//! Jitter*): uniform between zero and a ceiling that starts at [`Backoff::first`],
//! grows by [`Backoff::factor`] per failure and stops at [`Backoff::max`]. Jitter
//! matters because Campanile's failures come in crowds: the tasks of a step start
//! together and a throttled prefix fails them together; equal pauses would bring them
//! back together too.
//!
//! Use:
//! - a retry loop: `retry(&backoff, attempts, |n| attempt(n), |error, failures, pause| report(...))`,
//!   where the attempt returns [`Failure::Transient`] for what another attempt may mend
//!   and [`Failure::Permanent`] for what it would not;
//! - a polling loop (wait for a state, reset when it changes): keep a failure count
//!   `n` and sleep [`Backoff::ceiling`]`(n)` (no jitter) or [`Backoff::delay`]`(n)`;
//! - a fixed number of attempts: [`Backoff::delays`] yields the pauses between them.

use std::future::Future;
use std::time::Duration;

/// Exponential backoff with full jitter. The pause after the `n`-th failed attempt
/// (`n` from 1) is drawn uniformly from `0..=min(max, first * factor^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Ceiling of the pause after the first failed attempt.
    pub first: Duration,
    /// No pause is longer than this.
    pub max: Duration,
    /// Growth of the ceiling per failed attempt (1.0: the same ceiling every time).
    pub factor: f64,
}

impl Backoff {
    /// A ceiling that does not grow: every pause is drawn from `0..=max`.
    pub const fn constant(max: Duration) -> Self {
        Backoff {
            first: max,
            max,
            factor: 1.0,
        }
    }

    /// Ceiling of the pause after the `failures`-th failed attempt (1-based; 0 is
    /// treated as 1): `first * factor^(failures-1)`, at most `max`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let seconds = self.first.as_secs_f64() * self.factor.powi(exponent);
        if !seconds.is_finite() || seconds >= self.max.as_secs_f64() {
            return self.max;
        }
        Duration::from_secs_f64(seconds.max(0.0)).min(self.max)
    }

    /// The pause for a draw `unit` in `0.0..=1.0` (clamped): `ceiling * unit`. The
    /// jitter without the randomness, for tests and for callers that bring their own.
    pub fn jittered(&self, failures: u32, unit: f64) -> Duration {
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        self.ceiling(failures).mul_f64(unit)
    }

    /// The pause after the `failures`-th failed attempt, drawn at random.
    pub fn delay(&self, failures: u32) -> Duration {
        self.jittered(failures, rand::random::<f64>())
    }

    /// The pauses between `attempts` attempts: `attempts - 1` of them, drawn at random.
    pub fn delays(&self, attempts: u32) -> impl Iterator<Item = Duration> + '_ {
        (1..attempts.max(1)).map(|failures| self.delay(failures))
    }
}

/// How a failed attempt ended.
#[derive(Debug)]
pub enum Failure<E> {
    /// Another attempt may succeed: a body cut short or damaged on the way, a request
    /// that got no answer.
    Transient(E),
    /// Another attempt would fail the same way: the service refused the request.
    Permanent(E),
}

impl<E> Failure<E> {
    /// The error, whichever way the attempt failed.
    pub fn into_inner(self) -> E {
        match self {
            Failure::Transient(error) | Failure::Permanent(error) => error,
        }
    }
}

/// Runs `attempt` (given its 1-based number) until it succeeds, fails with
/// [`Failure::Permanent`], or `attempts` attempts (at least one) have failed; returns
/// the last error then. Before each pause, `on_retry(error, failures, pause)` is told
/// what failed (to report it); an error from it ends the retries with that error.
pub async fn retry<T, E, F, Fut>(
    backoff: &Backoff,
    attempts: u32,
    mut attempt: F,
    mut on_retry: impl FnMut(&E, u32, Duration) -> Result<(), E>,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let attempts = attempts.max(1);
    let mut failures = 0;
    loop {
        match attempt(failures + 1).await {
            Ok(done) => return Ok(done),
            Err(Failure::Transient(error)) if failures + 1 < attempts => {
                failures += 1;
                let pause = backoff.delay(failures);
                on_retry(&error, failures, pause)?;
                tokio::time::sleep(pause).await;
            }
            Err(failure) => return Err(failure.into_inner()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> Backoff {
        Backoff {
            first: 400 * MS,
            max: 5000 * MS,
            factor: 2.0,
        }
    }

    #[test]
    fn ceilings_grow_by_the_factor_up_to_the_cap() {
        let ceilings: Vec<Duration> = (1..=6).map(|n| policy().ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [
                400 * MS,
                800 * MS,
                1600 * MS,
                3200 * MS,
                5000 * MS,
                5000 * MS
            ]
        );
        assert_eq!(
            policy().ceiling(0),
            400 * MS,
            "0 counts as the first failure"
        );
        assert_eq!(policy().ceiling(u32::MAX), 5000 * MS, "no overflow");
    }

    #[test]
    fn a_constant_backoff_keeps_its_ceiling() {
        let constant = Backoff::constant(Duration::from_secs(5));
        for n in 1..10 {
            assert_eq!(constant.ceiling(n), Duration::from_secs(5));
        }
    }

    #[test]
    fn jitter_stays_within_zero_and_the_ceiling() {
        let backoff = policy();
        assert_eq!(backoff.jittered(2, 0.0), Duration::ZERO);
        assert_eq!(backoff.jittered(2, 0.5), 400 * MS);
        assert_eq!(backoff.jittered(2, 1.0), 800 * MS);
        assert_eq!(backoff.jittered(2, 7.0), 800 * MS, "clamped");
        assert_eq!(backoff.jittered(2, -1.0), Duration::ZERO, "clamped");
        assert_eq!(backoff.jittered(2, f64::NAN), Duration::ZERO);
        for n in 1..8 {
            for _ in 0..50 {
                assert!(backoff.delay(n) <= backoff.ceiling(n));
            }
        }
    }

    #[test]
    fn attempts_have_one_pause_fewer() {
        assert_eq!(policy().delays(4).count(), 3);
        assert_eq!(policy().delays(1).count(), 0);
        assert_eq!(policy().delays(0).count(), 0);
    }

    #[test]
    fn odd_policies_do_not_panic() {
        let shrinking = Backoff {
            factor: 0.5,
            ..policy()
        };
        assert_eq!(shrinking.ceiling(2), 200 * MS);
        let negative = Backoff {
            factor: -2.0,
            ..policy()
        };
        assert_eq!(negative.ceiling(2), Duration::ZERO);
        let infinite = Backoff {
            factor: f64::INFINITY,
            ..policy()
        };
        assert_eq!(infinite.ceiling(3), 5000 * MS);
    }

    /// No pause: the loop's control flow, without sleeping.
    const NO_PAUSE: Backoff = Backoff::constant(Duration::ZERO);

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_attempts_run_out() {
        let mut made = Vec::new();
        let mut reported = Vec::new();
        let result: Result<(), String> = retry(
            &NO_PAUSE,
            4,
            |n| {
                made.push(n);
                async move { Err(Failure::Transient(format!("cut short {n}"))) }
            },
            |error, failures, _| {
                reported.push((error.clone(), failures));
                Ok(())
            },
        )
        .await;
        assert_eq!(result, Err("cut short 4".to_string()));
        assert_eq!(made, [1, 2, 3, 4]);
        assert_eq!(
            reported,
            [
                ("cut short 1".to_string(), 1),
                ("cut short 2".to_string(), 2),
                ("cut short 3".to_string(), 3)
            ]
        );
    }

    #[tokio::test]
    async fn permanent_failures_and_successes_end_at_once() {
        let mut made = 0;
        let result: Result<u32, &str> = retry(
            &NO_PAUSE,
            4,
            |n| {
                made += 1;
                async move {
                    if n == 1 {
                        Err(Failure::Transient("again"))
                    } else {
                        Err(Failure::Permanent("refused"))
                    }
                }
            },
            |_, _, _| Ok(()),
        )
        .await;
        assert_eq!((result, made), (Err("refused"), 2));

        let result: Result<u32, &str> = retry(
            &NO_PAUSE,
            4,
            |n| async move {
                if n < 3 {
                    Err(Failure::Transient("again"))
                } else {
                    Ok(n)
                }
            },
            |_, _, _| Ok(()),
        )
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test]
    async fn a_failing_report_stops_the_retries_and_zero_attempts_make_one() {
        let result: Result<(), &str> = retry(
            &NO_PAUSE,
            5,
            |_| async { Err(Failure::Transient("again")) },
            |_, _, _| Err("stderr is gone"),
        )
        .await;
        assert_eq!(result, Err("stderr is gone"));

        let mut made = 0;
        let result: Result<(), &str> = retry(
            &NO_PAUSE,
            0,
            |_| {
                made += 1;
                async { Err(Failure::Transient("again")) }
            },
            |_, _, _| Ok(()),
        )
        .await;
        assert_eq!((result, made), (Err("again"), 1));
    }
}
