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
pub mod progress;
mod shuffle;
pub mod sort;
pub mod split;
pub mod task;

use std::io::BufReader;
use std::path::Path;

use crate::command::TaskCommand;
use crate::error::Error;
use crate::plan::{Plan, Step};
use crate::record::PartRecord;

pub use crate::counters::Counters;
pub use job::{Job, LocalSettings, StepProgress, StepReport};
pub use progress::{ProgressDisplay, Totals};

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
        // A check (a cluster's gate before --delete's steps) is not either: the local
        // runner stops at the first failed step itself.
        if matches!(step, Step::Cleanup(_) | Step::Check(_)) {
            continue;
        }
        settings.interrupt.check()?;
        if progress.visible() {
            progress.begin(step.name(), step_totals(step, reports));
        }
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
            Step::Cleanup(_) | Step::Check(_) => continue,
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
                    .filter(|s| !matches!(s, Step::Cleanup(_) | Step::Check(_)))
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

/// What `step` will have done, as far as the steps before it (`reports`) tell: the
/// objects multipartlist plans (the listing's, or the diff's missing and changed
/// ones), the objects and bytes the copy copies (read from its part list). `None` for
/// the listings, whose totals nobody knows before they end.
fn step_totals(step: &Step, reports: &[StepReport]) -> Option<Totals> {
    let Step::Streaming(streaming) = step else {
        return None;
    };
    let count = |report: &StepReport, group: Option<&str>, name: &str| -> u64 {
        let total: i64 = report
            .counters
            .iter()
            .filter(|((g, c), _)| c == name && group.is_none_or(|group| g == group))
            .map(|(_, v)| *v)
            .sum();
        u64::try_from(total).unwrap_or(0)
    };
    match &streaming.mapper {
        TaskCommand::MultipartList(_) => reports.last().map(|before| {
            let objects = if before.name.starts_with("hive.") {
                count(before, Some(diff::GROUP), "Missing")
                    + count(before, Some(diff::GROUP), "Changed")
            } else {
                count(before, None, crate::reporter::counters::OBJECTS)
            };
            Totals { objects, bytes: 0 }
        }),
        TaskCommand::ObjectCopy(_) => part_list_totals(Path::new(&streaming.input)).ok(),
        _ => None,
    }
}

/// The objects and bytes a part list (multipartlist's output) holds: a whole object
/// per line, a multipart object once (its part 1) with every part's bytes.
fn part_list_totals(path: &Path) -> Result<Totals, Error> {
    let mut totals = Totals::default();
    for file in crate::hadoop_input::input_files(path)? {
        let opened = std::fs::File::open(&file)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        let mut reader = BufReader::new(opened);
        let mut line = Vec::new();
        while crate::hadoop_input::read_line(&mut reader, &mut line)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?
            > 0
        {
            let Ok(record) = PartRecord::parse(&String::from_utf8_lossy(&line)) else {
                // Skip rows and anything else the copy will not copy.
                continue;
            };
            totals.bytes += record.len();
            if record.part.as_ref().is_none_or(|p| p.part_number == 1) {
                totals.objects += 1;
            }
        }
    }
    Ok(totals)
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

#[cfg(test)]
mod tests;
