//! One error type for the whole library. Every variant carries enough context
//! (operation, bucket, key, line number) for the message alone to say what failed and
//! what to do; [`Error::exit_code`] maps it to the exit codes Hadoop Streaming expects.
//!
//! S3 failures are built in one place: [`S3ResultExt::context`] on the result of an SDK
//! call (or [`S3Context`] when the error is in hand) names the request (operation,
//! bucket, key), writes the service's code and message into the message, and keeps the
//! SDK error itself as the [`std::error::Error::source`], so a caller can still ask it
//! for its HTTP status or error kind.

use std::path::PathBuf;

use aws_sdk_s3::error::SdkError;

/// The underlying failure kept by an [`Error::S3`]: usually the SDK error itself.
pub type BoxedSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a Campanile task.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of the task's input is malformed. Exit code 2: retrying cannot help.
    #[error("line {line}: {message}")]
    Input {
        /// 1-based line number in the task's input.
        line: u64,
        /// What is wrong with the line, naming the field.
        message: String,
    },

    /// The command line or the configuration is unusable. Exit code 2.
    #[error("{0}")]
    Usage(String),

    /// A configuration file could not be read or holds a bad value. Exit code 2.
    #[error("config file {path}: {message}")]
    Config {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// Credentials could not be found or loaded: the message names the side, the
    /// profile or sources tried, and what to do. Exit code 2.
    #[error("{0}")]
    Credentials(String),

    /// An S3 request failed after the client's retries, or its answer was unusable.
    /// Exit code 1 (Hadoop retries the attempt). Built with [`S3ResultExt::context`]
    /// or [`S3Context`].
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        /// The S3 API operation, e.g. `ListObjectsV2`.
        operation: &'static str,
        /// Bucket of the request.
        bucket: String,
        /// Key or prefix of the request (may be empty).
        key: String,
        /// The service's error code and message, the transport failure, or what
        /// Campanile makes of it (e.g. a 412 means the source changed).
        message: String,
        /// The SDK error (or body read error) behind the message; `None` when
        /// Campanile itself found the answer unusable.
        #[source]
        source: Option<BoxedSource>,
    },

    /// The source object is no longer the one listed: deleted since (404,
    /// [`SkipReason::Vanished`](crate::skip::SkipReason::Vanished)) or replaced (412 on
    /// the `If-Match` ETag pin, or a HEAD showing another ETag:
    /// [`SkipReason::Changed`](crate::skip::SkipReason::Changed)). Not a failure of the
    /// copy: the tasks catch it and skip the object, reported. Exit code 1 if it ever
    /// ends a task (another listing is needed to copy the object).
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    SourceMoved {
        /// The S3 API operation that saw it.
        operation: &'static str,
        /// Source bucket.
        bucket: String,
        /// Key of the object (may name a part).
        key: String,
        /// Gone or changed.
        reason: crate::skip::SkipReason,
        /// What was seen, in Campanile's terms.
        message: String,
        /// The SDK error behind it, when there is one.
        #[source]
        source: Option<BoxedSource>,
    },

    /// Some records of a task failed (each for its own reason) while the others were
    /// copied: the task fails at its end, naming every failed key. Exit code: the
    /// highest of the failures' codes.
    #[error("{} record(s) failed: {}", .0.len(), describe_failures(.0))]
    Records(Vec<(String, Error)>),

    /// A user's command (`campanile map`) failed on one object: what it exited with
    /// and the end of what it said on stderr. Exit code 1 (Hadoop retries the attempt;
    /// on the last attempt objectmap reports the object with a skip row instead).
    #[error("the command failed ({status}){}", if .said.is_empty() { String::new() } else { format!(": {}", .said) })]
    CommandFailed {
        /// `exit code N`, or how the process ended (a signal).
        status: String,
        /// The end of its stderr, trimmed (empty when it said nothing).
        said: String,
    },

    /// An EMR API call failed. Exit code 1.
    #[error("EMR {operation} {cluster}: {message}")]
    Emr {
        /// The EMR API operation.
        operation: &'static str,
        /// The cluster id.
        cluster: String,
        /// The service's error code and message.
        message: String,
        /// The SDK's error, when the failure is one.
        #[source]
        source: Option<BoxedSource>,
    },

    /// A step's output directory exists already (Hadoop Streaming's exit code 4).
    #[error("Output directory {0} already exists (choose another --output or --uuid)")]
    OutputExists(String),

    /// A step of the local runner failed: a task used up its attempts.
    #[error("step {step} failed: {message}")]
    StepFailed {
        /// The step's name.
        step: String,
        /// Which task, how many attempts, why, and its last stderr lines.
        message: String,
    },

    /// The data read or written does not match what was expected (size, MD5, ETag).
    /// Exit code 1.
    #[error("integrity check failed for s3://{bucket}/{key}: {message}")]
    Integrity {
        /// Bucket of the object.
        bucket: String,
        /// Key of the object.
        key: String,
        /// What did not match, with both values.
        message: String,
    },

    /// Campanile itself broke: a worker thread panicked, the async runtime could not
    /// start, a semaphore was closed. Exit code 1: unlike a usage error (exit 2, which
    /// tells Hadoop not to retry), another attempt may well succeed.
    #[error("internal error: {0}")]
    Internal(String),

    /// A run copied everything it could, but left objects out (archived, vanished,
    /// changed, layout unknown, changed at the destination) or could not prove some it
    /// copied (unverifiable at source): they are listed in the skip report. Exit code 3.
    #[error(
        "{objects} listed object(s) not copied or not proven (the report gives each one's reason); skip report: {report}"
    )]
    Skipped {
        /// Objects left out or not proven.
        objects: u64,
        /// Where the report is (a path or an `s3://` URI).
        report: String,
    },

    /// `campanile verify` compared both sides and found keys that are not identical
    /// (missing, changed, extra, metadata drift, unverifiable): they are listed in the
    /// verify report. Exit code 3, as a sync that left objects out: the run itself
    /// succeeded, its report needs reading.
    #[error(
        "{keys} key(s) not identical (the report gives each one's kind and reason); verify report: {report}"
    )]
    NotIdentical {
        /// Keys in the report.
        keys: u64,
        /// Where the report is.
        report: String,
    },

    /// The run was stopped by a signal (SIGINT, SIGTERM): its tasks were killed and
    /// its uploads cleaned up. Exit code 128 + the signal (130, 143), as a shell
    /// reports a process the signal killed.
    #[error("interrupted by {}: the run's tasks were stopped", crate::interrupt::signal_name(*signal))]
    Interrupted {
        /// The signal's number.
        signal: i32,
    },

    /// `rsync --delete --max-delete`: the run would delete more keys than allowed, so
    /// it deleted none (the copies are done). Exit code 1: the listings were fine, the
    /// run refused; raise the limit or look at what changed.
    #[error(
        "--delete would delete {would} keys, more than --max-delete {max} allows ({limit} of the destination's {dst_objects} listed objects): nothing was deleted"
    )]
    DeleteRefused {
        /// Keys the run would delete.
        would: u64,
        /// Keys the limit allows.
        limit: u64,
        /// The limit as given (`N` or `N%`).
        max: String,
        /// Objects the destination listing found.
        dst_objects: u64,
    },

    /// `rsync --delete`: S3 refused to delete some keys (each is named on stderr).
    /// Exit code 1.
    #[error("--delete: {failed} key(s) could not be deleted ({deleted} were); first: {first}")]
    DeleteFailed {
        /// Keys S3 refused to delete.
        failed: u64,
        /// Keys deleted.
        deleted: u64,
        /// The first refusal.
        first: String,
    },

    /// Local I/O failed (stdin, stdout, temporary files). Exit code 1.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Exit code of a task that ends with this error: 2 for usage and input errors
    /// (a retry cannot succeed), 4 for an existing output, 3 for a run that left
    /// objects out or a verify that found differences (rsync and verify only: no task
    /// returns it), 128 + the signal for a run a
    /// signal stopped (rsync only: 130, 143), 1 for everything else (Hadoop
    /// retries the attempt).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. }
            | Error::Usage(_)
            | Error::Config { .. }
            | Error::Credentials(_) => 2,
            Error::OutputExists(_) => 4,
            Error::Records(failures) => failures
                .iter()
                .map(|(_, error)| error.exit_code())
                .max()
                .unwrap_or(1),
            Error::Skipped { .. } | Error::NotIdentical { .. } => 3,
            Error::Interrupted { signal } => 128 + signal,
            _ => 1,
        }
    }

    /// True when the error is a closed stdout (the reader went away, as `head` does):
    /// not a failure of the task.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `key: error; key: error`, for [`Error::Records`].
fn describe_failures(failures: &[(String, Error)]) -> String {
    failures
        .iter()
        .map(|(key, error)| format!("{key}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The S3 request a failure is about: the context every [`Error::S3`] carries.
///
/// ```
/// # use campanile::error::S3Context;
/// let error = S3Context::new("HeadObject", "b", "k").problem("the response has no ETag");
/// assert_eq!(error.to_string(), "S3 HeadObject s3://b/k: the response has no ETag");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Context {
    /// The S3 API operation, e.g. `GetObject`.
    pub operation: &'static str,
    /// Bucket of the request.
    pub bucket: String,
    /// Key or prefix of the request (may be empty, or name a part).
    pub key: String,
}

impl S3Context {
    /// Names a request.
    pub fn new(operation: &'static str, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        S3Context {
            operation,
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// The request failed with `error`: the message is the service's code and message
    /// (or the transport failure, see [`crate::s3::describe_error`]; Campanile's own
    /// for an AccessDenied or an endpoint out of reach, [`crate::s3::explain_failure`]),
    /// the error its source. A request that found no credentials is an
    /// [`Error::Credentials`] instead ([`crate::s3::credentials_failure`]).
    pub fn sdk<E, R>(self, error: SdkError<E, R>) -> Error
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        if let Some(message) = crate::s3::credentials_failure(&error, &self.bucket) {
            return Error::Credentials(message);
        }
        let message = crate::s3::explain_failure(self.operation, &self.bucket, &self.key, &error)
            .unwrap_or_else(|| crate::s3::describe_error(&error));
        self.explained(message, error)
    }

    /// The request failed with `source`, which `message` explains in Campanile's terms
    /// (a 412 means the source changed since it was listed).
    pub fn explained(
        self,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::S3 {
            operation: self.operation,
            bucket: self.bucket,
            key: self.key,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The object is gone or changed since it was listed ([`Error::SourceMoved`]);
    /// `source` is the SDK error that said so, if any.
    pub fn source_moved(
        self,
        reason: crate::skip::SkipReason,
        message: impl Into<String>,
        source: Option<BoxedSource>,
    ) -> Error {
        Error::SourceMoved {
            operation: self.operation,
            bucket: self.bucket,
            key: self.key,
            reason,
            message: message.into(),
            source,
        }
    }

    /// A HEAD pinned to the listed ETag (`If-Match`) failed: 404 (a HEAD's answer has
    /// no body, so no error code) is a key deleted since it was listed, 412 a key
    /// changed since (both [`Error::SourceMoved`], skipped and reported by the task);
    /// anything else is [`S3Context::sdk`]'s.
    pub fn pinned_head_failure<E>(
        self,
        error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
        etag: &str,
    ) -> Error
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match crate::s3::http_status(&error) {
            Some(404) => self.source_moved(
                crate::skip::SkipReason::Vanished,
                "the object no longer exists (deleted since it was listed)",
                Some(Box::new(error)),
            ),
            Some(412) => self.source_moved(
                crate::skip::SkipReason::Changed,
                format!(
                    "the object changed since it was listed (its ETag is no longer {etag}); list it again"
                ),
                Some(Box::new(error)),
            ),
            _ => self.sdk(error),
        }
    }

    /// The request succeeded but its answer is unusable (a field missing, a layout
    /// that does not add up): no underlying error.
    pub fn problem(self, message: impl Into<String>) -> Error {
        Error::S3 {
            operation: self.operation,
            bucket: self.bucket,
            key: self.key,
            message: message.into(),
            source: None,
        }
    }
}

/// Turns the result of an SDK call into a [`Result`] with an [`Error::S3`] naming the
/// request: `client.head_object()….send().await.context("HeadObject", bucket, key)?`.
pub trait S3ResultExt<T, E, R> {
    /// Names the request; the message is the service's code and message.
    fn context(
        self,
        operation: &'static str,
        bucket: impl Into<String>,
        key: impl Into<String>,
    ) -> Result<T, Error>;

    /// Names the request; `explain` may give a message of Campanile's own for the
    /// failure (`None`: the service's code and message). The SDK error stays the source.
    fn context_with(
        self,
        operation: &'static str,
        bucket: impl Into<String>,
        key: impl Into<String>,
        explain: impl FnOnce(&SdkError<E, R>) -> Option<String>,
    ) -> Result<T, Error>;
}

impl<T, E, R> S3ResultExt<T, E, R> for Result<T, SdkError<E, R>>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn context(
        self,
        operation: &'static str,
        bucket: impl Into<String>,
        key: impl Into<String>,
    ) -> Result<T, Error> {
        self.map_err(|error| S3Context::new(operation, bucket, key).sdk(error))
    }

    fn context_with(
        self,
        operation: &'static str,
        bucket: impl Into<String>,
        key: impl Into<String>,
        explain: impl FnOnce(&SdkError<E, R>) -> Option<String>,
    ) -> Result<T, Error> {
        self.map_err(|error| {
            let context = S3Context::new(operation, bucket, key);
            match explain(&error) {
                Some(message) => context.explained(message, error),
                None => context.sdk(error),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_exit_2_and_name_the_line() {
        let error = Error::Input {
            line: 3,
            message: "field 3 (size) is not a number: \"12a\"".into(),
        };
        assert_eq!(error.exit_code(), 2);
        assert_eq!(
            error.to_string(),
            "line 3: field 3 (size) is not a number: \"12a\""
        );
    }

    #[test]
    fn s3_errors_exit_1_so_hadoop_retries() {
        let error = S3Context::new("ListObjectsV2", "b", "p/").problem("SlowDown");
        assert_eq!(error.exit_code(), 1);
        assert!(error.to_string().contains("s3://b/p/"));
    }

    #[test]
    fn internal_errors_exit_1_so_hadoop_retries() {
        let error = Error::Internal("a worker thread panicked".into());
        assert_eq!(error.exit_code(), 1);
        assert_eq!(
            error.to_string(),
            "internal error: a worker thread panicked"
        );
    }

    /// A service error as the SDK hands it over: code and message in the display, the
    /// SDK error kept as the source, whose HTTP status can still be read.
    #[test]
    fn sdk_errors_keep_their_source() {
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_sdk_s3::operation::get_object::GetObjectError;
        use aws_sdk_s3::primitives::SdkBody;
        use std::error::Error as _;

        let service = GetObjectError::generic(
            ErrorMetadata::builder()
                .code("SlowDown")
                .message("Please reduce your request rate.")
                .build(),
        );
        let response = HttpResponse::new(503u16.try_into().expect("status"), SdkBody::empty());
        let result: Result<(), _> = Err(SdkError::service_error(service, response));
        let error = result
            .context("GetObject", "src", "a/b")
            .expect_err("failed");
        assert_eq!(
            error.to_string(),
            "S3 GetObject s3://src/a/b: SlowDown: Please reduce your request rate."
        );
        assert_eq!(error.exit_code(), 1);
        let source = error.source().expect("the SDK error is kept");
        let sdk = source
            .downcast_ref::<SdkError<GetObjectError, HttpResponse>>()
            .expect("an SdkError");
        assert_eq!(crate::s3::http_status(sdk), Some(503));
    }

    #[test]
    fn explained_errors_keep_the_sdk_error_too() {
        use aws_sdk_s3::config::http::HttpResponse;
        use aws_sdk_s3::operation::head_object::HeadObjectError;
        use aws_sdk_s3::primitives::SdkBody;
        use std::error::Error as _;

        let response = HttpResponse::new(412u16.try_into().expect("status"), SdkBody::empty());
        let result: Result<(), _> = Err(SdkError::service_error(
            HeadObjectError::generic(
                aws_sdk_s3::error::ErrorMetadata::builder()
                    .code("PreconditionFailed")
                    .build(),
            ),
            response,
        ));
        let error = result
            .context_with("HeadObject", "b", "k", |e| {
                (crate::s3::http_status(e) == Some(412)).then(|| "the source changed".to_string())
            })
            .expect_err("failed");
        assert_eq!(
            error.to_string(),
            "S3 HeadObject s3://b/k: the source changed"
        );
        assert!(error.source().is_some());
    }

    #[test]
    fn failed_records_are_all_named_and_exit_with_the_highest_code() {
        let error = Error::Records(vec![
            (
                "a".into(),
                S3Context::new("GetObject", "s", "a").problem("AccessDenied"),
            ),
            (
                "b (part 2)".into(),
                Error::Input {
                    line: 3,
                    message: "bad".into(),
                },
            ),
        ]);
        assert_eq!(
            error.to_string(),
            "2 record(s) failed: a: S3 GetObject s3://s/a: AccessDenied; b (part 2): line 3: bad"
        );
        assert_eq!(error.exit_code(), 2);
        let one = Error::Records(vec![(
            "a".into(),
            S3Context::new("PutObject", "d", "a").problem("x"),
        )]);
        assert_eq!(one.exit_code(), 1);
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let error = Error::io(
            "writing stdout",
            std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        );
        assert!(error.is_broken_pipe());
        assert!(!Error::Usage("x".into()).is_broken_pipe());
    }
}
