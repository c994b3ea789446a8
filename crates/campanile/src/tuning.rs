//! The numbers Campanile runs with, in one place, each with the reason for its value.
//!
//! Task options ([`crate::task::objectcopy::ObjectCopyOptions`] and the others) and
//! [`crate::s3::ClientOptions`] take their defaults from [`Tuning::DEFAULT`]; the
//! binaries' flags default to the same values, so a value changed here changes
//! everywhere. `Tuning::DEFAULT` is a constant so that it can also appear in attribute
//! positions (`#[arg(default_value_t = Tuning::DEFAULT.multipartlist_concurrency)]`).

use std::time::Duration;

use crate::retry::Backoff;

/// Campanile's tuning values. See each field for why it has its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// objectcopy: records copied at once by one task (64). A small object's copy
    /// mostly waits on the network; copies share `maxtmpsize` (a copy waits for its
    /// share), so large objects are copied fewer at a time. Measured on 10 KiB objects
    /// (docs/benchmarks.md): one task per core with 64 copies each beat 4 × 32 and
    /// 8 × 16 (W1x 7.4 s against 8.33 and 9.18 s), and in the server-side mode 64 per
    /// task brought the server's CPU per object down to s5cmd's, where 16 gave 0.74×.
    pub objectcopy_concurrency: usize,
    /// objectcopy: attempts of a GET whose body breaks off or fails its size or MD5
    /// check, and of a write refused for a damaged body or answered with the wrong
    /// ETag (4). The SDK has already retried throttling, server errors and broken
    /// connections; a body damaged four times in a row points at something a pause
    /// will not mend, and Hadoop retries the whole task after that (the copy step's
    /// `mapreduce.map.maxattempts`).
    pub objectcopy_get_attempts: u32,
    /// objectcopy: pauses between those attempts (ceilings 0.4, 0.8, 1.6 s, at most
    /// 5 s; full jitter). Short: the failures it covers are a damaged body, not an
    /// overloaded server, which the SDK's own backoff already handles.
    pub objectcopy_backoff: Backoff,
    /// multipartcomplete: attempts of CompleteMultipartUpload (3). Each attempt is
    /// already retried by the SDK; a retry after a lost answer is recognised
    /// (`NoSuchUpload` with the object carrying the source ETag counts as done).
    pub multipartcomplete_attempts: u32,
    /// multipartcomplete: longest random pause between those attempts (5 s). The
    /// reducers of a step complete their uploads at the same moment, at the end of the
    /// copy; a random pause spreads their retries instead of sending them together.
    pub multipartcomplete_max_pause: Duration,
    /// Every task: the pause before a retried attempt starts (ceilings 2, 6, 18, 54 s
    /// for attempts 2 to 5, at most 60 s; full jitter; the first attempt never waits;
    /// `CAMPANILE_ATTEMPT_PAUSE_MAX` lowers the cap). An attempt that failed after the
    /// SDK's retries ran dry met an overloaded or refusing server; Hadoop starts the
    /// next one at once, and every task of a step that failed together would come back
    /// together. 60 s is well inside the tasks' timeouts (300 and 600 s).
    pub task_attempt_backoff: Backoff,
    /// multipartlist: objects handled at once by one task (16). Each multipart object
    /// costs a few small requests in a row (HEADs of parts, CreateMultipartUpload,
    /// ListMultipartUploads) that mostly wait on the network; 16 overlaps them while
    /// keeping the request rate of a whole step (tasks × 16) moderate on one prefix.
    pub multipartlist_concurrency: usize,
    /// S3 client: attempts per request, the first included (10; `--max-attempts`,
    /// `CAMPANILE_S3_MAX_ATTEMPTS`). More than the SDK's default of 3, since a task
    /// that gives up costs a whole Hadoop attempt, and throttling (503 SlowDown) is
    /// expected when many tasks hit one prefix.
    pub s3_max_attempts: u32,
    /// S3 client: first backoff of the SDK's standard retries (200 ms).
    pub s3_initial_backoff: Duration,
    /// S3 client: longest backoff of the SDK's standard retries (20 s), so that ten
    /// attempts can ride out a throttled minute.
    pub s3_max_backoff: Duration,
    /// S3 client: TCP + TLS connect timeout (10 s).
    pub s3_connect_timeout: Duration,
    /// S3 client: longest wait for response bytes before a request is abandoned and
    /// retried (60 s; `--read-timeout`, `CAMPANILE_S3_READ_TIMEOUT`). Long enough for
    /// a server busy assembling a large CompleteMultipartUpload or CopyObject, short
    /// enough that a stalled connection does not hold a task until Hadoop's task
    /// timeout kills it.
    pub s3_read_timeout: Duration,
}

impl Tuning {
    /// The values Campanile runs with.
    pub const DEFAULT: Tuning = Tuning {
        objectcopy_concurrency: 64,
        objectcopy_get_attempts: 4,
        objectcopy_backoff: Backoff {
            first: Duration::from_millis(400),
            max: Duration::from_secs(5),
            factor: 2.0,
        },
        multipartcomplete_attempts: 3,
        multipartcomplete_max_pause: Duration::from_secs(5),
        task_attempt_backoff: Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(60),
            factor: 3.0,
        },
        multipartlist_concurrency: 16,
        s3_max_attempts: 10,
        s3_initial_backoff: Duration::from_millis(200),
        s3_max_backoff: Duration::from_secs(20),
        s3_connect_timeout: Duration::from_secs(10),
        s3_read_timeout: Duration::from_secs(60),
    };
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented values (README, docs/reliability.md, the binaries' --help).
    #[test]
    fn the_documented_values() {
        let tuning = Tuning::default();
        assert_eq!(tuning.objectcopy_concurrency, 64);
        assert_eq!(tuning.objectcopy_get_attempts, 4);
        assert_eq!(tuning.multipartcomplete_attempts, 3);
        assert_eq!(tuning.multipartcomplete_max_pause, Duration::from_secs(5));
        assert_eq!(tuning.multipartlist_concurrency, 16);
        assert_eq!(tuning.s3_max_attempts, 10);
        assert_eq!(tuning.s3_read_timeout, Duration::from_secs(60));
        assert_eq!(tuning.s3_connect_timeout, Duration::from_secs(10));
        let ceilings: Vec<u128> = (1..=3)
            .map(|n| tuning.objectcopy_backoff.ceiling(n).as_millis())
            .collect();
        assert_eq!(ceilings, [400, 800, 1600]);
        let ceilings: Vec<u64> = (1..=5)
            .map(|n| tuning.task_attempt_backoff.ceiling(n).as_secs())
            .collect();
        assert_eq!(ceilings, [2, 6, 18, 54, 60]);
    }
}
