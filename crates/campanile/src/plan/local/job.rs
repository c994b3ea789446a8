//! One Hadoop Streaming job on this machine: NLine splits of the input, map tasks in
//! parallel with retries, the shuffle (hash partition, external sort) to the reducers,
//! and the output committed as `part-NNNNN` (`.gz` when compressed) plus `_SUCCESS`,
//! only once every task has succeeded. An existing output directory is refused
//! before any task runs. See `shared/spec/streaming.md` §4-§6.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::plan::StreamingStep;
use crate::plan::local::sort::{ExternalSorter, partition, split_key_value};
use crate::plan::local::split::{input_files, nline_splits, read_line};
use crate::plan::local::task::{AttemptSpec, TaskInput, job_environment, run_attempt};
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
    /// Environment variables for every task (streaming's `-cmdenv`).
    pub task_env: Vec<(String, String)>,
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
                "campanile.cfg".to_string(),
            ],
            task_env: Vec::new(),
        }
    }
}

/// Counters of a step: (group, counter) -> value.
pub type Counters = BTreeMap<(String, String), i64>;

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

struct TaskSpec {
    kind: char,
    index: usize,
    input: TaskInput,
    conf: Vec<(String, String)>,
}

struct TaskOutcome {
    output: PathBuf,
    counters: Counters,
    status: Option<String>,
}

/// What made a task give up, for the step's error message.
struct TaskFailure {
    task: String,
    attempts: u32,
    reason: String,
    stderr_tail: Vec<String>,
}

fn setting<'a>(step: &'a StreamingStep, key: &str) -> Option<&'a str> {
    step.setting(key)
}

fn number(step: &StreamingStep, key: &str, default: u64) -> u64 {
    setting(step, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Refuses an existing output directory (Hadoop's `FileAlreadyExistsException`).
pub fn check_output(output: &Path) -> Result<(), Error> {
    if output.exists() {
        return Err(Error::OutputExists(output.display().to_string()));
    }
    Ok(())
}

/// Runs a streaming step with its working files under `step_dir`.
pub fn run_streaming(
    step: &StreamingStep,
    step_dir: &Path,
    settings: &LocalSettings,
    progress: &(dyn Fn(&StepProgress) + Sync),
) -> Result<StepReport, Error> {
    let started = Instant::now();
    let output = PathBuf::from(&step.output);
    check_output(&output)?;
    std::fs::create_dir_all(step_dir)
        .map_err(|e| Error::io(format!("creating {}", step_dir.display()), e))?;
    let files: Vec<PathBuf> = step
        .files
        .iter()
        .map(PathBuf::from)
        .filter(|f| {
            f.exists()
                || !settings
                    .optional_files
                    .iter()
                    .any(|o| f.file_name().is_some_and(|n| n == o.as_str()))
        })
        .collect();
    let inputs = input_files(Path::new(&step.input))?;
    let planned = number(step, "mapreduce.input.lineinputformat.linespermap", 1);
    let (lines_per_map, mut splits) = match settings.lines_per_map {
        Some(n) => (n, nline_splits(&inputs, n)?),
        None => {
            let splits = nline_splits(&inputs, planned)?;
            let total: u64 = splits.iter().map(|s| s.lines).sum();
            let n = local_lines_per_map(planned, total, settings.parallel);
            if n == planned {
                (n, splits)
            } else {
                (n, nline_splits(&inputs, n)?)
            }
        }
    };
    // JobSubmitter sorts splits by length, largest first (stable): map i is split i.
    splits.sort_by_key(|split| std::cmp::Reverse(split.length));
    let reducers = if step.reducer.is_some() {
        usize::try_from(number(step, "mapreduce.job.reduces", 1)).unwrap_or(1)
    } else {
        0
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let job_id = format!("{stamp}_{:04}", JOBS.fetch_add(1, Ordering::Relaxed) + 1);
    let mut conf: Vec<(String, String)> = step.settings.clone();
    conf.retain(|(k, _)| {
        k != "mapreduce.job.reduces" && k != "mapreduce.input.lineinputformat.linespermap"
    });
    conf.extend([
        (
            "mapreduce.input.lineinputformat.linespermap".to_string(),
            lines_per_map.to_string(),
        ),
        ("mapreduce.job.reduces".to_string(), reducers.to_string()),
        (
            "mapred.input.format.class".to_string(),
            NLINE_INPUT_FORMAT.to_string(),
        ),
        ("mapreduce.job.id".to_string(), format!("job_{job_id}")),
    ]);
    conf.extend(settings.task_env.iter().cloned());
    let timeout = Some(number(step, "mapreduce.task.timeout", 600_000))
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    let mut report = StepReport {
        name: step.name.clone(),
        ..Default::default()
    };

    let maps: Vec<TaskSpec> = splits
        .into_iter()
        .enumerate()
        .map(|(index, split)| {
            let mut task_conf = conf.clone();
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
        .collect();
    report.map_tasks = maps.len();
    let map_attempts = u32::try_from(number(step, "mapreduce.map.maxattempts", 4)).unwrap_or(4);
    let phase = Phase {
        step,
        step_dir,
        job_id: &job_id,
        command: &step.mapper,
        files: &files,
        timeout,
        max_attempts: map_attempts,
        parallel: settings.parallel,
        name: "map",
    };
    let map_outcomes = phase.run(maps, &mut report, progress)?;

    let final_outputs = if reducers == 0 {
        map_outcomes
    } else {
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
        let reducer = step.reducer.clone().unwrap_or_default();
        let phase = Phase {
            command: &reducer,
            max_attempts: u32::try_from(number(step, "mapreduce.reduce.maxattempts", 4))
                .unwrap_or(4),
            name: "reduce",
            ..phase
        };
        phase.run(reduces, &mut report, progress)?
    };
    let compress = setting(step, "mapreduce.output.fileoutputformat.compress") == Some("true");
    commit(&final_outputs, &output, compress)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One phase (map or reduce) of a job: its tasks on a pool of workers.
#[derive(Clone, Copy)]
struct Phase<'a> {
    step: &'a StreamingStep,
    step_dir: &'a Path,
    job_id: &'a str,
    command: &'a [String],
    files: &'a [PathBuf],
    timeout: Option<Duration>,
    max_attempts: u32,
    parallel: usize,
    name: &'static str,
}

impl Phase<'_> {
    fn run(
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
        std::thread::scope(|scope| {
            for _ in 0..self.parallel.max(1).min(total.max(1)) {
                scope.spawn(|| {
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return;
                        }
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(task) = tasks.get(index) else {
                            return;
                        };
                        match self.run_task(task, &failed_attempts) {
                            Ok(Ok(outcome)) => {
                                if let Ok(mut state) = state.lock() {
                                    state.done += 1;
                                    for (key, value) in &outcome.counters {
                                        *state.counters.entry(key.clone()).or_insert(0) += value;
                                    }
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
                });
            }
        });
        report.failed_attempts += failed_attempts.load(Ordering::Relaxed);
        if let Some(e) = error.into_inner().ok().flatten() {
            return Err(e);
        }
        if let Some(f) = failure.into_inner().ok().flatten() {
            return Err(Error::StepFailed {
                step: self.step.name.clone(),
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
            .map_err(|_| Error::Usage("a worker thread panicked".into()))?
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
    fn run_task(
        &self,
        task: &TaskSpec,
        failed_attempts: &AtomicUsize,
    ) -> Result<Result<TaskOutcome, TaskFailure>, Error> {
        let task_id = format!("task_{}_{}_{:06}", self.job_id, task.kind, task.index);
        let mut last = TaskFailure {
            task: task_id.clone(),
            attempts: 0,
            reason: String::new(),
            stderr_tail: Vec::new(),
        };
        for attempt in 0..self.max_attempts.max(1) {
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
                env: job_environment(&conf),
                input: task.input.clone(),
                output: self
                    .step_dir
                    .join("attempts")
                    .join(format!("{attempt_id}.out")),
                timeout: self.timeout,
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

/// Partitions and sorts the map outputs; returns one reducer input file per reducer,
/// `key\tvalue\n` per record (the TAB even for an empty value, as `PipeReducer`).
fn shuffle(
    maps: &[TaskOutcome],
    reducers: usize,
    step_dir: &Path,
    sort_memory: usize,
) -> Result<Vec<PathBuf>, Error> {
    let shuffle_dir = step_dir.join("shuffle");
    let mut sorters = Vec::new();
    for index in 0..reducers {
        let dir = shuffle_dir.join(format!("partition-{index:05}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        sorters.push(ExternalSorter::new(sort_memory / reducers.max(1), &dir));
    }
    let mut line = Vec::new();
    for map in maps {
        let file = File::open(&map.output)
            .map_err(|e| Error::io(format!("reading {}", map.output.display()), e))?;
        let mut reader = BufReader::new(file);
        while read_map_line(&mut reader, &mut line)? {
            let (key, value) = split_key_value(&line);
            sorters[partition(key, reducers)].push(key, value)?;
        }
    }
    let mut inputs = Vec::new();
    for (index, sorter) in sorters.into_iter().enumerate() {
        let path = shuffle_dir.join(format!("reduce-{index:05}.in"));
        let context = || format!("writing {}", path.display());
        let mut out = BufWriter::new(File::create(&path).map_err(|e| Error::io(context(), e))?);
        for record in sorter.finish()? {
            let (key, value) = record?;
            out.write_all(&key)
                .and_then(|()| out.write_all(b"\t"))
                .and_then(|()| out.write_all(&value))
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io(context(), e))?;
        }
        out.flush().map_err(|e| Error::io(context(), e))?;
        inputs.push(path);
    }
    Ok(inputs)
}

/// Reads one output line of a task (`\n`-terminated; `TextOutputReader` uses
/// `LineReader`, so `\r\n` and `\r` end lines too).
fn read_map_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> Result<bool, Error> {
    read_line(reader, line)
        .map(|consumed| consumed > 0)
        .map_err(|e| Error::io("reading task output", e))
}

/// Writes the job output: `part-NNNNN[.gz]` per task, every line as `key\tvalue`
/// (`TextOutputFormat`: a line without TAB gets one), then `_SUCCESS`.
fn commit(outputs: &[TaskOutcome], output: &Path, compress: bool) -> Result<(), Error> {
    std::fs::create_dir_all(output)
        .map_err(|e| Error::io(format!("creating {}", output.display()), e))?;
    for (index, task) in outputs.iter().enumerate() {
        let name = if compress {
            format!("part-{index:05}.gz")
        } else {
            format!("part-{index:05}")
        };
        let path = output.join(name);
        let context = || format!("writing {}", path.display());
        let file = File::create(&path).map_err(|e| Error::io(context(), e))?;
        let input = File::open(&task.output)
            .map_err(|e| Error::io(format!("reading {}", task.output.display()), e))?;
        let mut reader = BufReader::new(input);
        if compress {
            let mut encoder =
                flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::default());
            write_output_lines(&mut reader, &mut encoder).map_err(|e| Error::io(context(), e))?;
            encoder
                .finish()
                .and_then(|mut inner| inner.flush())
                .map_err(|e| Error::io(context(), e))?;
        } else {
            let mut out = BufWriter::new(file);
            write_output_lines(&mut reader, &mut out).map_err(|e| Error::io(context(), e))?;
            out.flush().map_err(|e| Error::io(context(), e))?;
        }
    }
    File::create(output.join("_SUCCESS"))
        .map_err(|e| Error::io(format!("writing {}/_SUCCESS", output.display()), e))?;
    Ok(())
}

fn write_output_lines<R: BufRead, W: Write>(reader: &mut R, out: &mut W) -> std::io::Result<()> {
    let mut line = Vec::new();
    while read_line(reader, &mut line)? > 0 {
        out.write_all(&line)?;
        if line.contains(&b'\t') {
            out.write_all(b"\n")?;
        } else {
            out.write_all(b"\t\n")?;
        }
    }
    Ok(())
}
