//! What every binary does around its library call: a Tokio runtime, buffered stdout,
//! stderr through a [`Reporter`], and one mapping from the result to an exit status
//! ([`ExitStatus`]: 0 success, 1 failure that Hadoop retries, 2 usage or input error,
//! 3 a run that left objects out (rsync), 4 existing output; a closed stdout is a
//! success, as for any Unix filter). A retried task attempt first pauses, jittered
//! (see [`campanile::attempt`]). Diagnostics are `tracing` events on stderr
//! ([`campanile::logging`], set by `-v`/`-vv`/`-q` or `RUST_LOG`), inside a span
//! naming the step and the task attempt; a failure is printed here only, as one line
//! `<program>: <message>`, followed at `-v` by the chain of its causes.

use std::future::Future;
use std::io::{BufWriter, Stderr, StdinLock, StdoutLock};
use std::process::ExitCode;

use campanile::Error;
use campanile::command::Diagnostics;
use campanile::logging::Verbosity;
use campanile::reporter::Reporter;

/// How a Campanile program ends, as Hadoop Streaming and a shell read its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: everything asked for was done.
    Success,
    /// 1: the work failed; Hadoop retries the attempt.
    Failed,
    /// 2: bad arguments, configuration or input: a retry cannot succeed.
    Usage,
    /// 3: rsync copied what it could but left listed objects out (skip report).
    Skipped,
    /// 4: the output exists already (Hadoop Streaming's code for it).
    OutputExists,
    /// 128 + the signal: rsync stopped its run on SIGINT (130) or SIGTERM (143).
    Interrupted(u8),
}

impl ExitStatus {
    /// The status a failure ends the program with.
    pub fn of(error: &Error) -> Self {
        match error.exit_code() {
            2 => ExitStatus::Usage,
            3 => ExitStatus::Skipped,
            4 => ExitStatus::OutputExists,
            code @ 129..=255 => ExitStatus::Interrupted(u8::try_from(code).unwrap_or(1)),
            _ => ExitStatus::Failed,
        }
    }

    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Skipped => 3,
            ExitStatus::OutputExists => 4,
            ExitStatus::Interrupted(code) => code,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// The standard streams a task works over.
pub struct Streams {
    /// Buffered stdin.
    pub input: StdinLock<'static>,
    /// Buffered stdout.
    pub output: BufWriter<StdoutLock<'static>>,
    /// Counters and status on stderr.
    pub reporter: Reporter<Stderr>,
}

/// Runs a task body with the process's streams and turns its result into an exit code:
/// first the logging (`diagnostics`' verbosity, or `RUST_LOG`) and the `--boto` file.
/// Errors are printed as `<task>: <message>` on stderr.
pub fn run_task<F, Fut>(task: &str, diagnostics: &Diagnostics, body: F) -> ExitCode
where
    F: FnOnce(Streams) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let verbosity = diagnostics.verbosity();
    campanile::logging::init(verbosity);
    if let Some(boto) = &diagnostics.boto
        && let Err(error) = campanile::credentials::name_boto_file(boto)
    {
        return exit_code(task, verbosity, Err(error));
    }
    campanile::credentials::hint_unread_boto();
    let mut streams = Streams {
        input: std::io::stdin().lock(),
        output: BufWriter::with_capacity(256 * 1024, std::io::stdout().lock()),
        // Not locked: the local runner reports progress on stderr from other threads.
        reporter: Reporter::new(std::io::stderr()),
    };
    // One thread: a task is one slot of the cluster (Hadoop runs one per core), its
    // copies are I/O-bound, and with the connections polled on the thread that awaits
    // them no request or answer is handed between threads (a futex wake and a context
    // switch each, which cost more CPU than a small copy's own work).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = Error::Internal(format!("cannot start the async runtime: {error}"));
            return exit_code(task, verbosity, Err(error));
        }
    };
    // One thread polls the whole task inside block_on: entering the span here puts
    // every event of the task in it.
    let span = campanile::logging::task_span(task);
    let entered = span.enter();
    let result = runtime.block_on(async move {
        pause_if_retried(&mut streams.reporter).await?;
        body(streams).await
    });
    drop(entered);
    // A task's S3 requests by operation, as counters the runners sum (rsync's
    // summary); the front ends keep reporter lines off their users' terminals.
    if campanile::stage::TASKS.contains(&task) {
        let _ = campanile::requests::write_counters(&mut std::io::stderr().lock());
    }
    exit_code(task, verbosity, result)
}

/// A retried attempt first waits a random while (see [`campanile::attempt`]), saying
/// so on its status line, so that a failing task is not run again at full rate.
async fn pause_if_retried(reporter: &mut Reporter<Stderr>) -> Result<(), Error> {
    let attempt = campanile::attempt::TaskAttempt::from_env();
    let pause = attempt.pause(
        &campanile::tuning::Tuning::DEFAULT.task_attempt_backoff,
        campanile::attempt::pause_cap_from_env(),
    );
    if attempt.is_retry() {
        reporter.status_now(&format!(
            "attempt {} of this task: waiting {:.1} s before starting",
            attempt.number + 1,
            pause.as_secs_f64()
        ))?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

/// Maps a task result to its exit code, printing the error: the one place a failure
/// is printed (one line; at `-v` and more, its causes after it).
pub fn exit_code(task: &str, verbosity: Verbosity, result: Result<(), Error>) -> ExitCode {
    let status = match result {
        Ok(()) => ExitStatus::Success,
        Err(error) if error.is_broken_pipe() => ExitStatus::Success,
        Err(error) => {
            let _ = write_error(&mut std::io::stderr().lock(), task, verbosity, &error);
            ExitStatus::of(&error)
        }
    };
    status.into()
}

/// Writes `<task>: <error>` (one line, but for the few messages that list items
/// below, such as the overlapping lines of a part file), and with `-v` each cause on
/// a line of its own (`  caused by: …`).
pub fn write_error(
    out: &mut impl std::io::Write,
    task: &str,
    verbosity: Verbosity,
    error: &Error,
) -> std::io::Result<()> {
    writeln!(out, "{task}: {error}")?;
    if verbosity.verbose() {
        let mut cause = std::error::Error::source(error);
        while let Some(source) = cause {
            writeln!(
                out,
                "  caused by: {}",
                source.to_string().replace('\n', " ")
            )?;
            cause = source.source();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line_and_its_causes_come_at_v() {
        let error = Error::io("reading the part file", std::io::Error::other("disk gone"));
        let mut quiet = Vec::new();
        write_error(&mut quiet, "bucketlist", Verbosity::default(), &error).expect("write");
        assert_eq!(
            String::from_utf8(quiet).expect("utf8"),
            "bucketlist: reading the part file: disk gone\n"
        );
        let mut verbose = Vec::new();
        let v = Verbosity {
            verbose: 1,
            quiet: false,
        };
        write_error(&mut verbose, "bucketlist", v, &error).expect("write");
        assert_eq!(
            String::from_utf8(verbose).expect("utf8"),
            "bucketlist: reading the part file: disk gone\n  caused by: disk gone\n"
        );
    }

    #[test]
    fn errors_map_to_the_statuses_hadoop_expects() {
        assert_eq!(
            ExitStatus::of(&Error::Usage("bad flag".into())),
            ExitStatus::Usage
        );
        assert_eq!(
            ExitStatus::of(&Error::OutputExists("/out".into())),
            ExitStatus::OutputExists
        );
        assert_eq!(
            ExitStatus::of(&Error::io("reading", std::io::Error::other("gone"))),
            ExitStatus::Failed
        );
        assert_eq!(
            ExitStatus::of(&Error::Skipped {
                objects: 2,
                report: "/out/_skipped.jsonl".into()
            }),
            ExitStatus::Skipped
        );
        let codes: Vec<u8> = [
            ExitStatus::Success,
            ExitStatus::Failed,
            ExitStatus::Usage,
            ExitStatus::Skipped,
            ExitStatus::OutputExists,
        ]
        .map(ExitStatus::code)
        .to_vec();
        assert_eq!(codes, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            ExitStatus::of(&Error::Interrupted { signal: 15 }).code(),
            143
        );
    }
}
