//! What every task binary does around its task function: a Tokio runtime, buffered
//! stdout, stderr through a [`Reporter`], and one mapping from the result to an exit
//! code (0 success, 1 task failure that Hadoop retries, 2 usage or input error; a
//! closed stdout is a success, as for any Unix filter).

use std::future::Future;
use std::io::{BufWriter, Stderr, StdinLock, StdoutLock};
use std::process::ExitCode;

use crate::error::Error;
use crate::reporter::Reporter;

/// The standard streams a task works over.
pub struct Streams {
    /// Buffered stdin.
    pub input: StdinLock<'static>,
    /// Buffered stdout.
    pub output: BufWriter<StdoutLock<'static>>,
    /// Counters and status on stderr.
    pub reporter: Reporter<Stderr>,
}

/// Runs a task body with the process's streams and turns its result into an exit code.
/// Errors are printed as `<task>: <message>` on stderr.
pub fn run_task<F, Fut>(task: &str, body: F) -> ExitCode
where
    F: FnOnce(Streams) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let streams = Streams {
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
            eprintln!("{task}: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    exit_code(task, runtime.block_on(body(streams)))
}

/// Maps a task result to its exit code, printing the error.
pub fn exit_code(task: &str, result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{task}: {error}");
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(1))
        }
    }
}
