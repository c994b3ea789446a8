//! Diagnostics: `tracing` events on stderr, filtered by `-v`/`-vv`/`-q` or `RUST_LOG`.
//!
//! Every binary calls [`init`] once, first thing: the default shows Campanile's
//! warnings, `-v` adds its info events, `-vv` its debug events, `-q` errors only (see
//! [`Verbosity::directives`]); a non-empty `RUST_LOG` replaces all of that (the
//! `tracing-subscriber` `EnvFilter` syntax, e.g. `RUST_LOG=campanile=debug`).
//!
//! Logs go to stderr, never stdout: a task's stdout is its record stream. A task's
//! stderr also carries Hadoop's reporter lines (`reporter:counter:…`), which are not
//! log events: [`crate::reporter::Reporter`] writes each of them with one
//! `write_all` on the process's `Stderr`, and the subscriber formats each event into
//! one buffer written with one `write_all` on the same `Stderr`, whose lock each of
//! those calls holds for the whole line. So a log line never lands inside a reporter
//! line, and Hadoop reads every reporter line whole and unchanged.
//!
//! The events of a task run inside [`task_span`], which names the step (the binary)
//! and the task attempt (Hadoop's `mapreduce_task_attempt_id`, which the local runner
//! sets too); a task's per-record work runs inside a `record` span naming the key, so
//! a line reads `… WARN task{step=objectcopy attempt=attempt_…_m_000003_0}:
//! record{key="a/b" part=2}: …`. The spans are created at `ERROR` level so that they are shown
//! with a warning even when info events are filtered out.
//!
//! A local run's tasks inherit the runner's environment; when the verbosity came from
//! the command line rather than `RUST_LOG`, [`child_env`] gives the `RUST_LOG` that
//! makes the tasks log at the same level (and `BOTO_CONFIG`, when `--boto` named a
//! file, see [`crate::credentials`]).

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// The environment variable that overrides the verbosity flags.
pub const RUST_LOG: &str = "RUST_LOG";

/// How much a program says on stderr: the count of `-v` and `-q`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verbosity {
    /// `-v` given this many times.
    pub verbose: u8,
    /// `-q`: errors only.
    pub quiet: bool,
}

impl Verbosity {
    /// The `EnvFilter` directives of this verbosity: `error` with `-q`; by default
    /// Campanile's warnings and the other crates' errors (the SDK warns about
    /// configuration it does without, such as an `AWS_CONFIG_FILE` that does not
    /// exist, which a task would repeat for every client); with `-v` Campanile's info
    /// events and the SDK's warnings; with `-vv` Campanile's debug events and the
    /// SDK's info events (the SDK's own debug lines take `RUST_LOG=debug`).
    pub fn directives(self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "error,campanile=warn,campanile_cli=warn",
            (false, 1) => "warn,campanile=info,campanile_cli=info",
            (false, _) => "info,campanile=debug,campanile_cli=debug",
        }
    }

    /// True when `-v` or more was given and `-q` was not: rsync then prints what it
    /// resolved (endpoints, credential sources).
    pub fn verbose(self) -> bool {
        !self.quiet && self.verbose > 0
    }
}

/// The filter in effect, kept for the local runner's tasks ([`child_env`]): `None`
/// when `RUST_LOG` decided (the tasks inherit it) or the default applies.
static CHILD_FILTER: OnceLock<Option<String>> = OnceLock::new();

/// Installs the stderr subscriber of this process; later calls do nothing. `RUST_LOG`,
/// when set and not empty, replaces the filter `verbosity` gives.
pub fn init(verbosity: Verbosity) {
    let from_env = std::env::var(RUST_LOG)
        .ok()
        .filter(|value| !value.trim().is_empty());
    let (filter, child) = match &from_env {
        Some(value) => (
            EnvFilter::try_new(value).unwrap_or_else(|_| EnvFilter::new(verbosity.directives())),
            None,
        ),
        None => (
            EnvFilter::new(verbosity.directives()),
            (verbosity != Verbosity::default()).then(|| verbosity.directives().to_string()),
        ),
    };
    let _ = CHILD_FILTER.set(child);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // `std::io::stderr` as the writer: one locked write_all per event (see above).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// The span a task's work runs in: its step (the program) and, in a Hadoop or local
/// runner task, its attempt id.
pub fn task_span(step: &str) -> tracing::Span {
    let attempt = crate::attempt::TaskAttempt::from_env().id;
    match attempt {
        Some(attempt) => tracing::error_span!("task", step = %step, attempt = %attempt),
        None => tracing::error_span!("task", step = %step),
    }
}

/// The span of one record's work: its key (quoted, as keys may hold spaces), and its
/// part number when it is a part.
pub fn record_span(key: &str, part: Option<u32>) -> tracing::Span {
    match part {
        Some(part) => tracing::error_span!("record", key, part),
        None => tracing::error_span!("record", key),
    }
}

/// Environment for the tasks a local run starts: `RUST_LOG` when the verbosity came
/// from `-v`/`-q` (with `RUST_LOG` set, the tasks inherit it), and `BOTO_CONFIG` when
/// `--boto` named the credentials file.
pub fn child_env() -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(Some(filter)) = CHILD_FILTER.get() {
        env.push((RUST_LOG.to_string(), filter.clone()));
    }
    if let Some(boto) = crate::credentials::named_boto_file() {
        env.push((
            crate::credentials::BOTO_CONFIG.to_string(),
            boto.display().to_string(),
        ));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        let at = |verbose, quiet| Verbosity { verbose, quiet }.directives();
        assert!(at(0, false).contains("campanile=warn"));
        assert_eq!(at(0, true), "error");
        assert_eq!(at(3, true), "error", "-q wins");
        assert!(at(1, false).contains("campanile=info"));
        assert!(at(2, false).contains("campanile=debug"));
        for (verbose, quiet) in [(0, false), (0, true), (1, false), (2, false)] {
            assert!(EnvFilter::try_new(at(verbose, quiet)).is_ok());
        }
        assert!(!Verbosity::default().verbose());
        assert!(
            Verbosity {
                verbose: 1,
                quiet: false
            }
            .verbose()
        );
    }
}
