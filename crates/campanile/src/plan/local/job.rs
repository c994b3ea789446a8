//! One Hadoop Streaming job on this machine: NLine splits of the input, map tasks in
//! parallel with retries ([`super::pool`]), the shuffle to the reducers
//! ([`super::shuffle`]), and the output committed as `part-NNNNN` (`.gz` when
//! compressed) plus `_SUCCESS` ([`super::commit`]), only once every task has
//! succeeded. The job's settings are the plan's typed [`JobSettings`]; the tasks see
//! them as Hadoop exports them, as environment variables. See docs/streaming.md.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::counters::Counters;
use crate::error::Error;
use crate::hadoop_input::input_files;
use crate::interrupt::Interrupt;
use crate::plan::local::commit::{check_output, commit};
use crate::plan::local::pool::{Phase, TaskSpec};
use crate::plan::local::shuffle::shuffle;
use crate::plan::local::split::{Split, count_lines, nline_splits};
use crate::plan::local::task::TaskInput;
use crate::plan::{DEFAULT_ATTEMPTS, JobSettings, StreamingStep};
use crate::stream::NLINE_INPUT_FORMAT;

/// How the local runner runs jobs.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Task processes at once.
    pub parallel: usize,
    /// Overrides every step's `linespermap`. Without it, a step whose splits would
    /// make more than [`MAP_WAVES`] waves of `parallel` map tasks gets longer splits
    /// (see [`local_lines_per_map`]).
    pub lines_per_map: Option<u64>,
    /// Bytes of shuffle records sorted in memory before spilling a run to disk.
    pub sort_memory: usize,
    /// Files of `-files` that may be missing locally (credentials, config).
    pub optional_files: Vec<String>,
    /// Raised by SIGINT/SIGTERM (see [`crate::interrupt`]): the running attempts are
    /// killed, no task or step is started, and the step fails with
    /// [`Error::Interrupted`]. The default is never raised.
    pub interrupt: Interrupt,
}

/// Waves of map tasks a step may take on this machine before its splits are made longer.
/// Each task costs a process, fresh connections and a tail where its copies drain: two
/// waves copied 10,000 small objects 10-15% faster than four (docs/benchmarks.md),
/// and still leave a slot work to take while the other finishes a slow task.
pub const MAP_WAVES: u64 = 2;

/// Lines per map task on this machine: the plan's value, unless `total` input lines
/// would then make more than [`MAP_WAVES`] × `parallel` tasks. The plan's values are
/// sized for a cluster (10 objects per copy task); one machine runs `parallel` tasks
/// at once, so a longer split saves a process start, a client set-up and a connection
/// pool per 10 objects, while a task's own concurrency keeps the copies overlapping.
pub fn local_lines_per_map(planned: u64, total: u64, parallel: usize) -> u64 {
    let planned = planned.max(1);
    let most_tasks = MAP_WAVES * u64::try_from(parallel.max(1)).unwrap_or(1);
    if total.div_ceil(planned) <= most_tasks {
        planned
    } else {
        total.div_ceil(most_tasks)
    }
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            // One task per core, as Hadoop's slots: a task keeps its own copies in
            // flight, and more processes only add starts and switches (measured in
            // docs/benchmarks.md).
            parallel: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            lines_per_map: None,
            sort_memory: 64 * 1024 * 1024,
            optional_files: vec![
                crate::plan::CREDENTIALS_FILE.to_string(),
                crate::plan::CONFIG_FILE.to_string(),
            ],
            interrupt: Interrupt::default(),
        }
    }
}

/// What a finished step reports.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// Step name.
    pub name: String,
    /// Map tasks run.
    pub map_tasks: usize,
    /// Reduce tasks run.
    pub reduce_tasks: usize,
    /// Attempts that failed and were retried.
    pub failed_attempts: usize,
    /// Counters of the successful attempts.
    pub counters: Counters,
    /// The last status reported.
    pub status: Option<String>,
    /// Wall time.
    pub seconds: f64,
}

/// Progress of a running step, for the progress display.
#[derive(Debug, Clone, Default)]
pub struct StepProgress {
    /// Phase: `map`, `reduce`.
    pub phase: &'static str,
    /// Tasks finished in this phase.
    pub done: usize,
    /// Tasks in this phase.
    pub total: usize,
    /// Counters so far (successful attempts).
    pub counters: Counters,
}

static JOBS: AtomicUsize = AtomicUsize::new(0);

/// A streaming job as the local runner executes it: a plan step's fields, with the
/// mapper and reducer as the command lines that start them.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// Step name.
    pub name: &'a str,
    /// `-files`.
    pub files: &'a [String],
    /// How the tasks run.
    pub settings: &'a JobSettings,
    /// `-cmdenv` entries.
    pub env: &'a [(String, String)],
    /// Input path.
    pub input: &'a str,
    /// Output directory.
    pub output: &'a str,
    /// The map command line.
    pub mapper: Vec<String>,
    /// The reduce command line, if any.
    pub reducer: Option<Vec<String>>,
}

impl<'a> Job<'a> {
    /// The job of a plan's streaming step.
    pub fn of(step: &'a StreamingStep) -> Self {
        Job {
            name: &step.name,
            files: &step.files,
            settings: &step.settings,
            env: &step.env,
            input: &step.input,
            output: &step.output,
            mapper: step.mapper.argv(),
            reducer: step.reducer.as_ref().map(|reducer| reducer.argv()),
        }
    }
}

/// Runs a plan's streaming step with its working files under `step_dir`.
pub fn run_streaming(
    step: &StreamingStep,
    step_dir: &Path,
    settings: &LocalSettings,
    progress: &(dyn Fn(&StepProgress) + Sync),
) -> Result<StepReport, Error> {
    run_job(&Job::of(step), step_dir, settings, progress)
}

/// Runs a job with its working files under `step_dir`.
pub fn run_job(
    job: &Job,
    step_dir: &Path,
    settings: &LocalSettings,
    progress: &(dyn Fn(&StepProgress) + Sync),
) -> Result<StepReport, Error> {
    let started = Instant::now();
    let output = PathBuf::from(job.output);
    check_output(&output)?;
    std::fs::create_dir_all(step_dir)
        .map_err(|e| Error::io(format!("creating {}", step_dir.display()), e))?;
    let files = shipped_files(job.files, settings);
    let (lines_per_map, splits) = map_splits(job, settings)?;
    let reducers = if job.reducer.is_some() {
        job.settings.reducers
    } else {
        0
    };
    // What runs here: the plan's settings with this machine's split size and the
    // reducers that really run; the tasks see these values.
    let effective = JobSettings {
        lines_per_map,
        reducers,
        ..job.settings.clone()
    };
    let job_id = next_job_id();
    let conf = job_conf(&effective, &job_id);
    let mut report = StepReport {
        name: job.name.to_string(),
        ..Default::default()
    };
    let maps = map_tasks(splits, &conf);
    report.map_tasks = maps.len();
    let phase = Phase {
        step_name: job.name,
        step_dir,
        job_id: &job_id,
        command: &job.mapper,
        files: &files,
        cmdenv: job.env,
        timeout: Some(effective.timeout).filter(|timeout| !timeout.is_zero()),
        max_attempts: effective.map_attempts,
        parallel: settings.parallel,
        name: "map",
        interrupt: &settings.interrupt,
    };
    let map_outcomes = phase.run(maps, &mut report, progress)?;
    let final_outputs = match &job.reducer {
        Some(reducer) if reducers > 0 => {
            let reducers = usize::try_from(reducers).unwrap_or(1);
            let inputs = shuffle(&map_outcomes, reducers, step_dir, settings.sort_memory)?;
            let reduces: Vec<TaskSpec> = inputs
                .into_iter()
                .enumerate()
                .map(|(index, input)| TaskSpec {
                    kind: 'r',
                    index,
                    input: TaskInput::File(input),
                    conf: conf.clone(),
                })
                .collect();
            report.reduce_tasks = reduces.len();
            let phase = Phase {
                command: reducer,
                max_attempts: DEFAULT_ATTEMPTS,
                name: "reduce",
                ..phase
            };
            phase.run(reduces, &mut report, progress)?
        }
        _ => map_outcomes,
    };
    commit(&final_outputs, &output, effective.compress)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The `-files` that exist here; a missing one is an error later unless it is one
/// that may be missing locally (credentials, configuration).
fn shipped_files(files: &[String], settings: &LocalSettings) -> Vec<PathBuf> {
    files
        .iter()
        .map(PathBuf::from)
        .filter(|f| {
            f.exists()
                || !settings
                    .optional_files
                    .iter()
                    .any(|o| f.file_name().is_some_and(|n| n == o.as_str()))
        })
        .collect()
}

/// The map splits, in Hadoop's task order, and the lines per map they were cut with.
/// Without `--lines-per-map` the lines are counted first and the splits cut once, at
/// this machine's size: at most [`MAP_WAVES`] × `parallel` of them (plus one per input
/// file, as splits never span files), never one per plan-sized split.
fn map_splits(job: &Job, settings: &LocalSettings) -> Result<(u64, Vec<Split>), Error> {
    let inputs = input_files(Path::new(job.input))?;
    let lines_per_map = match settings.lines_per_map {
        Some(n) => n,
        None => {
            let total = count_lines(&inputs)?;
            local_lines_per_map(job.settings.lines_per_map, total, settings.parallel)
        }
    };
    let mut splits: Vec<Split> = nline_splits(&inputs, lines_per_map).collect::<Result<_, _>>()?;
    // JobSubmitter sorts splits by length, largest first (stable): map i is split i.
    splits.sort_by_key(|split| std::cmp::Reverse(split.length));
    Ok((lines_per_map, splits))
}

fn next_job_id() -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{stamp}_{:04}", JOBS.fetch_add(1, Ordering::Relaxed) + 1)
}

/// The job configuration the tasks see: the settings' Hadoop properties, the input
/// format (which the stream index reads) and the job id.
fn job_conf(settings: &JobSettings, job_id: &str) -> Vec<(String, String)> {
    let mut conf: Vec<(String, String)> = settings
        .properties()
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect();
    conf.extend([
        (
            "mapred.input.format.class".to_string(),
            NLINE_INPUT_FORMAT.to_string(),
        ),
        ("mapreduce.job.id".to_string(), format!("job_{job_id}")),
    ]);
    conf
}

/// One map task per split, with the split's place in the configuration.
fn map_tasks(splits: Vec<Split>, conf: &[(String, String)]) -> Vec<TaskSpec> {
    splits
        .into_iter()
        .enumerate()
        .map(|(index, split)| {
            let mut task_conf = conf.to_vec();
            task_conf.extend([
                (
                    "mapreduce.map.input.file".to_string(),
                    format!("file:{}", split.file.display()),
                ),
                (
                    "mapreduce.map.input.start".to_string(),
                    split.start.to_string(),
                ),
                (
                    "mapreduce.map.input.length".to_string(),
                    split.length.to_string(),
                ),
            ]);
            TaskSpec {
                kind: 'm',
                index,
                input: TaskInput::Split(split),
                conf: task_conf,
            }
        })
        .collect()
}
