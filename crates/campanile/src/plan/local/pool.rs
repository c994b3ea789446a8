//! The worker pool of one phase (map or reduce) of a local job: `parallel` workers
//! take the phase's tasks in order, and each task runs its attempts until one succeeds
//! or `max_attempts` have failed (Hadoop's `mapreduce.{map,reduce}.maxattempts`). The
//! first task to use up its attempts stops the workers from taking new tasks, as one
//! failed task fails a Hadoop job.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::counters::Counters;
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::plan::local::job::{StepProgress, StepReport};
use crate::plan::local::task::{
    AttemptSpec, LiveCounters, TaskInput, job_environment, run_attempt,
};

/// How often the counters of the running attempts are shown.
const PROGRESS_TICK: Duration = Duration::from_millis(250);

/// One task of a phase: its kind (`m` or `r`), index, input and job configuration.
pub(super) struct TaskSpec {
    pub kind: char,
    pub index: usize,
    pub input: TaskInput,
    pub conf: Vec<(String, String)>,
}

/// The successful attempt of a task.
pub(super) struct TaskOutcome {
    pub output: PathBuf,
    pub counters: Counters,
    pub status: Option<String>,
}

/// What made a task give up, for the step's error message.
struct TaskFailure {
    task: String,
    attempts: u32,
    reason: String,
    stderr_tail: Vec<String>,
}

/// One phase (map or reduce) of a job: its tasks on a pool of workers.
#[derive(Clone, Copy)]
pub(super) struct Phase<'a> {
    pub step_name: &'a str,
    pub step_dir: &'a Path,
    pub job_id: &'a str,
    pub command: &'a [String],
    pub files: &'a [PathBuf],
    /// Streaming's `-cmdenv` entries, exported after the job configuration.
    pub cmdenv: &'a [(String, String)],
    pub timeout: Option<Duration>,
    pub max_attempts: u32,
    pub parallel: usize,
    pub name: &'static str,
    /// Raised by SIGINT/SIGTERM: no task is started, and running attempts are killed.
    pub interrupt: &'a Interrupt,
}

impl Phase<'_> {
    pub(super) fn run(
        &self,
        tasks: Vec<TaskSpec>,
        report: &mut StepReport,
        progress: &(dyn Fn(&StepProgress) + Sync),
    ) -> Result<Vec<TaskOutcome>, Error> {
        let total = tasks.len();
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let outcomes: Mutex<Vec<Option<TaskOutcome>>> =
            Mutex::new((0..total).map(|_| None).collect());
        let failure: Mutex<Option<TaskFailure>> = Mutex::new(None);
        let error: Mutex<Option<Error>> = Mutex::new(None);
        let failed_attempts = AtomicUsize::new(0);
        let state = Mutex::new(StepProgress {
            phase: self.name,
            done: 0,
            total,
            counters: report.counters.clone(),
        });
        progress(&state.lock().map(|s| s.clone()).unwrap_or_default());
        // What the running attempts have reported so far, shown with the finished
        // tasks' counters every PROGRESS_TICK.
        let running: LiveCounters = LiveCounters::default();
        std::thread::scope(|scope| {
            let (stop, stopped) = std::sync::mpsc::channel::<()>();
            let (shared, live) = (&state, &running);
            scope.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(PROGRESS_TICK)
                {
                    let Ok(state) = shared.lock() else {
                        return;
                    };
                    let mut shown = state.clone();
                    if let Ok(running) = live.lock() {
                        for (key, value) in running.iter() {
                            *shown.counters.entry(key.clone()).or_insert(0) += value;
                        }
                    }
                    progress(&shown);
                }
            });
            let workers: Vec<_> = (0..self.parallel.max(1).min(total.max(1)))
                .map(|_| {
                    scope.spawn(|| {
                        loop {
                            if failed.load(Ordering::Relaxed) || self.interrupt.is_raised() {
                                return;
                            }
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(task) = tasks.get(index) else {
                                return;
                            };
                            match self.run_task(task, &failed_attempts, &running) {
                                Ok(Ok(outcome)) => {
                                    if let Ok(mut state) = state.lock() {
                                        state.done += 1;
                                        // From the running attempts' counters to the
                                        // finished tasks', under one lock: the display
                                        // never sees them twice or not at all.
                                        let mut running =
                                            running.lock().unwrap_or_else(|e| e.into_inner());
                                        for (key, value) in &outcome.counters {
                                            *state.counters.entry(key.clone()).or_insert(0) +=
                                                value;
                                            *running.entry(key.clone()).or_insert(0) -= value;
                                        }
                                        drop(running);
                                        progress(&state);
                                    }
                                    if let Ok(mut outcomes) = outcomes.lock() {
                                        outcomes[index] = Some(outcome);
                                    }
                                }
                                Ok(Err(task_failure)) => {
                                    failed.store(true, Ordering::Relaxed);
                                    if let Ok(mut slot) = failure.lock() {
                                        slot.get_or_insert(task_failure);
                                    }
                                }
                                Err(e) => {
                                    failed.store(true, Ordering::Relaxed);
                                    if let Ok(mut slot) = error.lock() {
                                        slot.get_or_insert(e);
                                    }
                                }
                            }
                        }
                    })
                })
                .collect();
            for worker in workers {
                let _ = worker.join();
            }
            drop(stop);
        });
        report.failed_attempts += failed_attempts.load(Ordering::Relaxed);
        // Interrupted: the tasks not taken have no outcome, so nothing may be committed.
        self.interrupt.check()?;
        if let Some(e) = error.into_inner().ok().flatten() {
            return Err(e);
        }
        if let Some(f) = failure.into_inner().ok().flatten() {
            return Err(Error::StepFailed {
                step: self.step_name.to_string(),
                message: format!(
                    "task {} failed {} attempt(s); last: {}{}",
                    f.task,
                    f.attempts,
                    f.reason,
                    if f.stderr_tail.is_empty() {
                        String::new()
                    } else {
                        format!("; last stderr lines:\n  {}", f.stderr_tail.join("\n  "))
                    }
                ),
            });
        }
        let outcomes: Vec<TaskOutcome> = outcomes
            .into_inner()
            .map_err(|_| Error::Internal("a worker thread of the local runner panicked".into()))?
            .into_iter()
            .flatten()
            .collect();
        for outcome in &outcomes {
            for (key, value) in &outcome.counters {
                *report.counters.entry(key.clone()).or_insert(0) += value;
            }
            if outcome.status.is_some() {
                report.status.clone_from(&outcome.status);
            }
        }
        Ok(outcomes)
    }

    /// Runs a task's attempts until one succeeds or `max_attempts` have failed.
    /// The successful attempt's counters stay in `running`: the caller moves them to
    /// the finished tasks'; a failed attempt's are taken out here (Hadoop drops them).
    fn run_task(
        &self,
        task: &TaskSpec,
        failed_attempts: &AtomicUsize,
        running: &LiveCounters,
    ) -> Result<Result<TaskOutcome, TaskFailure>, Error> {
        let task_id = format!("task_{}_{}_{:06}", self.job_id, task.kind, task.index);
        let mut last = TaskFailure {
            task: task_id.clone(),
            attempts: 0,
            reason: String::new(),
            stderr_tail: Vec::new(),
        };
        for attempt in 0..self.max_attempts.max(1) {
            self.interrupt.check()?;
            let attempt_id = format!(
                "attempt_{}_{}_{:06}_{attempt}",
                self.job_id, task.kind, task.index
            );
            let mut conf = task.conf.clone();
            conf.extend([
                ("mapreduce.task.id".to_string(), task_id.clone()),
                ("mapreduce.task.attempt.id".to_string(), attempt_id.clone()),
                (
                    "mapreduce.task.ismap".to_string(),
                    (task.kind == 'm').to_string(),
                ),
                (
                    "mapreduce.task.partition".to_string(),
                    task.index.to_string(),
                ),
            ]);
            let spec = AttemptSpec {
                command: self.command.to_vec(),
                files: self.files.to_vec(),
                workdir: self.step_dir.join("attempts").join(&attempt_id),
                env: job_environment(&conf, self.cmdenv),
                input: task.input.clone(),
                output: self
                    .step_dir
                    .join("attempts")
                    .join(format!("{attempt_id}.out")),
                timeout: self.timeout,
                interrupt: self.interrupt.clone(),
                live: Some(running.clone()),
            };
            std::fs::create_dir_all(self.step_dir.join("attempts"))
                .map_err(|e| Error::io("creating the attempts directory", e))?;
            let result = run_attempt(&spec)?;
            match result.failure {
                None => {
                    return Ok(Ok(TaskOutcome {
                        output: spec.output,
                        counters: result.counters,
                        status: result.status,
                    }));
                }
                Some(reason) => {
                    if let Ok(mut running) = running.lock() {
                        for (key, value) in &result.counters {
                            *running.entry(key.clone()).or_insert(0) -= value;
                        }
                    }
                    failed_attempts.fetch_add(1, Ordering::Relaxed);
                    last = TaskFailure {
                        task: task_id.clone(),
                        attempts: attempt + 1,
                        reason: format!("{attempt_id}: {reason}"),
                        stderr_tail: result.stderr_tail,
                    };
                }
            }
        }
        Ok(Err(last))
    }
}
