//! The embedded local runner: executes a [`Plan`] on this machine with Hadoop
//! Streaming's contract, so that a job that works here works on EMR (see
//! docs/streaming.md). Steps run in order; a failed step stops the plan
//! (ActionOnFailure `CANCEL_AND_WAIT`) and the error names the step, the task, its
//! attempts and the last stderr lines of the failed attempt. The diff step runs
//! natively ([`diff`]) instead of Hive.

pub mod commit;
pub mod diff;
pub mod job;
mod pool;
mod shuffle;
pub mod sort;
pub mod split;
pub mod task;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::plan::{Plan, Step};

pub use crate::counters::Counters;
pub use job::{Job, LocalSettings, StepProgress, StepReport};

/// Runs every step of `plan`, with each step's working files under
/// `<run dir>/steps/<n>-<name>`; `progress` shows what is happening on stderr. When
/// `settings.interrupt` is raised, the running tasks are killed, no further step
/// starts, and the plan fails with [`Error::Interrupted`].
pub fn run_plan(
    plan: &Plan,
    settings: &LocalSettings,
    progress: &ProgressDisplay,
) -> Result<Vec<StepReport>, Error> {
    let mut reports = Vec::new();
    run_plan_into(plan, settings, progress, &mut reports)?;
    Ok(reports)
}

/// [`run_plan`], adding each step's report to `reports` as the step ends, so that a
/// plan that fails still tells what its finished steps did (rsync's summary).
pub fn run_plan_into(
    plan: &Plan,
    settings: &LocalSettings,
    progress: &ProgressDisplay,
    reports: &mut Vec<StepReport>,
) -> Result<(), Error> {
    for (index, step) in plan.steps.iter().enumerate() {
        // The runner cleans up the run's uploads itself (rsync::cleanup), after a
        // failed step too, and completes the finished ones: the cluster's clean-up
        // step is not for it.
        if matches!(step, Step::Cleanup(_)) {
            continue;
        }
        settings.interrupt.check()?;
        let step_dir =
            Path::new(&plan.run_dir)
                .join("steps")
                .join(format!("{}-{}", index + 1, step.name()));
        let result = match step {
            Step::Streaming(streaming) => {
                // The tasks of the run share the request rates they learn (503s).
                let mut streaming = streaming.clone();
                streaming.env.push((
                    crate::governor::STATE_ENV.to_string(),
                    Path::new(&plan.run_dir)
                        .join("governor.state")
                        .display()
                        .to_string(),
                ));
                job::run_streaming(&streaming, &step_dir, settings, &|p| {
                    progress.show(step.name(), p)
                })
            }
            Step::Diff(diff_step) => diff::run_diff(diff_step, &step_dir, settings.sort_memory),
            Step::Cleanup(_) => continue,
        };
        progress.end_line();
        match result {
            Ok(report) => {
                progress.report(&report);
                reports.push(report);
            }
            Err(error @ Error::Interrupted { .. }) => return Err(error),
            Err(error) => {
                // A step that failed because its tasks were killed was interrupted.
                settings.interrupt.check()?;
                let cancelled: Vec<&str> = plan.steps[index + 1..]
                    .iter()
                    .filter(|s| !matches!(s, Step::Cleanup(_)))
                    .map(Step::name)
                    .collect();
                if cancelled.is_empty() {
                    return Err(error);
                }
                return Err(Error::StepFailed {
                    step: step.name().to_string(),
                    message: format!(
                        "{error}\nsteps not run (CANCEL_AND_WAIT): {}",
                        cancelled.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// A step report as one JSON document.
pub fn report_json(report: &StepReport) -> serde_json::Value {
    serde_json::json!({
        "step": report.name,
        "seconds": (report.seconds * 1000.0).round() / 1000.0,
        "map_tasks": report.map_tasks,
        "reduce_tasks": report.reduce_tasks,
        "failed_attempts": report.failed_attempts,
        "counters": crate::counters::to_json(&report.counters),
    })
}

/// Where progress and step reports go: a redrawn line on a terminal, plain lines at
/// most every few seconds otherwise.
pub struct ProgressDisplay {
    terminal: bool,
    quiet: bool,
    state: Mutex<(Instant, Instant, bool)>,
}

impl ProgressDisplay {
    /// Progress on stderr, redrawn in place when stderr is a terminal.
    pub fn stderr(quiet: bool) -> Self {
        let now = Instant::now();
        ProgressDisplay {
            terminal: std::io::stderr().is_terminal(),
            quiet,
            state: Mutex::new((now, now, false)),
        }
    }

    fn show(&self, name: &str, progress: &StepProgress) {
        if self.quiet {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let (started, last, drawn) = &mut *state;
        if !*drawn {
            *started = Instant::now();
        }
        let interval = if self.terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        let finished = progress.done == progress.total;
        if self.terminal {
            if *drawn && last.elapsed() < interval && !finished {
                return;
            }
        } else {
            // Plain lines: only for steps long enough to need them, every few seconds.
            if !*drawn {
                *started = Instant::now();
                *last = Instant::now();
                *drawn = true;
                return;
            }
            if last.elapsed() < interval {
                return;
            }
        }
        *last = Instant::now();
        *drawn = true;
        let sum = |name: &str| -> i64 {
            progress
                .counters
                .iter()
                .filter(|((_, c), _)| c == name)
                .map(|(_, v)| v)
                .sum()
        };
        let bytes = match sum("InputBytes") {
            0 => sum("Bytes"),
            copied => copied,
        };
        let seconds = started.elapsed().as_secs_f64().max(0.001);
        let line = format!(
            "{name} {}: {}/{} tasks, {} objects, {:.1} MB, {:.1} MB/s",
            progress.phase,
            progress.done,
            progress.total,
            sum("Objects"),
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / seconds
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
    }

    fn end_line(&self) {
        if let Ok(mut state) = self.state.lock() {
            if state.2 && self.terminal && !self.quiet {
                let _ = writeln!(std::io::stderr());
            }
            state.2 = false;
        }
    }

    fn report(&self, report: &StepReport) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "step {}: {} map tasks, {} reduce tasks, {} failed attempts, {:.1} s",
            report.name,
            report.map_tasks,
            report.reduce_tasks,
            report.failed_attempts,
            report.seconds
        );
        let _ = crate::counters::write_table(&mut err, &report.counters);
    }
}

#[cfg(test)]
mod tests;
