//! Interrupts of a run (Ctrl-C's SIGINT, SIGTERM from a service manager or `timeout`):
//! the [`Interrupt`] flag the runner's code polls, and [`listen`], which a program
//! calls once to have the flag raised by those signals instead of dying at once.
//!
//! The local runner's task processes live in process groups of their own (a timed-out
//! task is killed with whatever it started), so a signal to the terminal's foreground
//! group reaches the runner only. Left to the default action, the runner would die and
//! its tasks copy on, their uploads left in progress. With the flag raised, the runner
//! kills every task's process group, cleans up the run's uploads and temporary files
//! and then exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as
//! a shell reports a process killed by the signal. A second signal ends the program at
//! once: the run directory keeps its "unfinished" marker, and the next run of the same
//! job, or `rsync --cleanup RUN_DIR`, finishes the clean-up (see
//! [`crate::rsync::unfinished`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crate::error::Error;

/// SIGINT's number.
pub const SIGINT: i32 = signal_hook::consts::SIGINT;
/// SIGTERM's number.
pub const SIGTERM: i32 = signal_hook::consts::SIGTERM;

/// A flag shared by everything of one run: raised once, with the signal that raised
/// it. The default flag is never raised unless [`Interrupt::raise`] is called.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicI32>);

impl Interrupt {
    /// A flag not raised.
    pub fn new() -> Self {
        Interrupt::default()
    }

    /// Raises the flag with `signal`; true if it was not raised before (the first
    /// signal wins).
    pub fn raise(&self, signal: i32) -> bool {
        self.0
            .compare_exchange(0, signal.max(1), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The signal that raised the flag, if it is raised.
    pub fn signal(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }

    /// True once the flag is raised.
    pub fn is_raised(&self) -> bool {
        self.signal().is_some()
    }

    /// [`Error::Interrupted`] if the flag is raised.
    pub fn check(&self) -> Result<(), Error> {
        match self.signal() {
            Some(signal) => Err(Error::Interrupted { signal }),
            None => Ok(()),
        }
    }

    /// Waits until the flag is raised; returns the signal. Polls (every 50 ms): the
    /// flag is set from a plain thread, and this keeps it a plain atomic.
    pub async fn raised(&self) -> i32 {
        loop {
            if let Some(signal) = self.signal() {
                return signal;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The name of a signal, for messages.
pub fn signal_name(signal: i32) -> String {
    match signal {
        SIGINT => "SIGINT".to_string(),
        SIGTERM => "SIGTERM".to_string(),
        other => format!("signal {other}"),
    }
}

/// Makes SIGINT and SIGTERM raise the returned flag instead of ending the program; a
/// second one ends it at once (exit 128 + its number), for a user who will not wait
/// for the clean-up. `program` names the program in the messages on stderr. Call it
/// once, from a program's `main` (never from a library or a test: the handlers stay
/// for the life of the process).
pub fn listen(program: &'static str) -> Result<Interrupt, Error> {
    let interrupt = Interrupt::new();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::io("installing the SIGINT and SIGTERM handlers", e))?;
    let raised = interrupt.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = signal_name(signal);
                if raised.raise(signal) {
                    eprintln!(
                        "{program}: {name}: stopping the tasks and cleaning up the run \
                         (send it again to exit at once)"
                    );
                } else {
                    eprintln!(
                        "{program}: {name} again: exiting without finishing the clean-up \
                         (the next run of this job, or rsync --cleanup RUN_DIR, finishes it)"
                    );
                    std::process::exit(128 + signal);
                }
            }
        })
        .map_err(|e| Error::io("starting the signal thread", e))?;
    Ok(interrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_wins_and_names_the_exit_code() {
        let interrupt = Interrupt::new();
        assert!(interrupt.check().is_ok());
        assert!(interrupt.clone().raise(SIGTERM));
        assert!(!interrupt.raise(SIGINT));
        assert_eq!(interrupt.signal(), Some(SIGTERM));
        let error = interrupt.check().expect_err("raised");
        assert_eq!(error.exit_code(), 143);
        assert_eq!(Error::Interrupted { signal: SIGINT }.exit_code(), 130);
        assert_eq!(signal_name(SIGINT), "SIGINT");
    }
}
