//! One error type for the whole library. Every variant carries enough context
//! (operation, bucket, key, line number) for the message alone to say what failed and
//! what to do; [`Error::exit_code`] maps it to the exit codes Hadoop Streaming expects.

use std::path::PathBuf;

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

    /// Credentials for a profile could not be found or loaded. Exit code 2.
    #[error("credentials: {0}")]
    Credentials(String),

    /// An S3 request failed after the client's retries. Exit code 1 (Hadoop retries
    /// the attempt).
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    S3 {
        /// The S3 API operation, e.g. `ListObjectsV2`.
        operation: &'static str,
        /// Bucket of the request.
        bucket: String,
        /// Key or prefix of the request (may be empty).
        key: String,
        /// The service's error code and message, or the transport failure.
        message: String,
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
    /// (a retry cannot succeed), 1 for everything else (Hadoop retries the attempt).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. }
            | Error::Usage(_)
            | Error::Config { .. }
            | Error::Credentials(_) => 2,
            Error::OutputExists(_) => 4,
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
        let error = Error::S3 {
            operation: "ListObjectsV2",
            bucket: "b".into(),
            key: "p/".into(),
            message: "SlowDown".into(),
        };
        assert_eq!(error.exit_code(), 1);
        assert!(error.to_string().contains("s3://b/p/"));
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
