//! One task attempt of the local runner, as a YARN container runs it: a fresh working
//! directory with the step's `-files` linked in, the job configuration exported as
//! environment variables, the command started in that directory (its own process
//! group), stdin fed, stdout captured to a file, and stderr read line by line for the
//! `reporter:` protocol. The attempt fails on a non-zero exit, a signal, or when the
//! task neither reads, writes nor reports for longer than the task timeout, in which
//! case its whole process group is killed. See docs/streaming.md §2, §3, §6, §7.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::plan::local::split::{Split, feed_split};
use crate::reporter::{ReporterLine, parse_line};

/// Stderr lines kept for the failure message.
pub const STDERR_TAIL: usize = 20;

/// What a task reads on stdin.
#[derive(Debug, Clone)]
pub enum TaskInput {
    /// A map split, fed as `<offset>\t<line>`.
    Split(Split),
    /// A reducer's sorted input file, fed as is.
    File(PathBuf),
}

/// Everything needed to run one attempt.
#[derive(Debug, Clone)]
pub struct AttemptSpec {
    /// Command line; a relative `argv[0]` found in the working directory runs from
    /// there, as Hadoop does with `-files`.
    pub command: Vec<String>,
    /// Files linked into the working directory under their base names.
    pub files: Vec<PathBuf>,
    /// The fresh working directory (created here).
    pub workdir: PathBuf,
    /// Environment added to the runner's own.
    pub env: Vec<(String, String)>,
    /// Stdin.
    pub input: TaskInput,
    /// Where stdout goes.
    pub output: PathBuf,
    /// Kill the attempt after this long without progress (`None`: never).
    pub timeout: Option<Duration>,
    /// Kill the attempt as soon as this is raised (SIGINT or SIGTERM to the runner).
    pub interrupt: Interrupt,
    /// Counters of the attempts running now, for the progress display: this
    /// attempt's reporter lines are added here as they come (the pool takes them out
    /// again when the attempt ends). `None`: not shared.
    pub live: Option<LiveCounters>,
}

/// Counters reported so far by running attempts, shared with the pool.
pub type LiveCounters = Arc<std::sync::Mutex<BTreeMap<(String, String), i64>>>;

/// How an attempt ended.
#[derive(Debug, Clone, Default)]
pub struct AttemptResult {
    /// `None` on success, else why it failed.
    pub failure: Option<String>,
    /// Counters it reported (summed).
    pub counters: BTreeMap<(String, String), i64>,
    /// Its last status.
    pub status: Option<String>,
    /// Its last stderr lines that were not reporter lines.
    pub stderr_tail: Vec<String>,
    /// Lines the task wrote to stdout.
    pub output_lines: u64,
}

/// Shared progress clock: milliseconds since the attempt started, at the last sign of
/// life (stdin written, stdout or stderr read).
struct Progress {
    started: Instant,
    last: AtomicU64,
}

impl Progress {
    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

fn prepare_workdir(spec: &AttemptSpec) -> Result<(), Error> {
    let context = || format!("preparing {}", spec.workdir.display());
    std::fs::create_dir_all(spec.workdir.join("tmp")).map_err(|e| Error::io(context(), e))?;
    for file in &spec.files {
        let Some(name) = file.file_name() else {
            continue;
        };
        let target = std::fs::canonicalize(file)
            .map_err(|e| Error::io(format!("-files entry {}", file.display()), e))?;
        std::os::unix::fs::symlink(&target, spec.workdir.join(name))
            .map_err(|e| Error::io(context(), e))?;
    }
    Ok(())
}

fn program(spec: &AttemptSpec) -> Result<PathBuf, Error> {
    let first = spec
        .command
        .first()
        .ok_or_else(|| Error::Usage("a step has an empty command".into()))?;
    let local = spec.workdir.join(first);
    if !first.contains('/') && local.is_file() {
        return Ok(local);
    }
    Ok(PathBuf::from(first))
}

/// Kills a whole process group (the task and anything it started).
pub(crate) fn kill_group(pid: u32) {
    let _ = Command::new("kill")
        // `-s KILL -- -PGID`: procps' kill reads a bare `-PGID` after `-KILL` wrongly.
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

/// Runs one attempt to its end: three threads feed stdin, collect stdout and read
/// stderr's reporter lines, while this one watches for the exit or the timeout.
pub fn run_attempt(spec: &AttemptSpec) -> Result<AttemptResult, Error> {
    prepare_workdir(spec)?;
    let program = program(spec)?;
    let mut child = match command(spec, &program).spawn() {
        Ok(child) => child,
        Err(error) => {
            return Ok(AttemptResult {
                failure: Some(format!("cannot start {}: {error}", program.display())),
                ..Default::default()
            });
        }
    };
    let progress = Arc::new(Progress {
        started: Instant::now(),
        last: AtomicU64::new(0),
    });
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        kill_group(child.id());
        return Err(Error::Internal(
            "the task's pipes could not be opened".into(),
        ));
    };
    let feeder = spawn_feeder(stdin, spec.input.clone(), Arc::clone(&progress));
    let collector = spawn_collector(stdout, spec.output.clone(), Arc::clone(&progress));
    let reporter = spawn_reporter(
        stderr,
        spec.workdir.join("stderr"),
        Arc::clone(&progress),
        spec.live.clone(),
    );
    let ending = watch(&mut child, spec.timeout, &spec.interrupt, &progress)?;
    let fed = feeder.join().unwrap_or(Ok(()));
    let collected = collector.join().unwrap_or(Ok(0));
    let stderr = reporter.join().unwrap_or_default();
    // What the attempt spooled (its TMPDIR) dies with it, as YARN removes a container's
    // directory: a killed task could not remove its files itself. Its stderr log stays.
    remove_tmp(&spec.workdir);
    let failure = match ending {
        Ending::Interrupted(signal) => return Err(Error::Interrupted { signal }),
        Ending::TimedOut(idle) => Some(format!(
            "timed out: no input read, output written or status reported for {} ms",
            idle.as_millis()
        )),
        Ending::Exited(status) if !status.success() => Some(match status.code() {
            Some(code) => format!("subprocess failed with code {code}"),
            None => format!("subprocess killed by {status}"),
        }),
        Ending::Exited(_) => match (&fed, &collected) {
            (Err(error), _) | (_, Err(error)) => Some(error.to_string()),
            _ => None,
        },
    };
    Ok(AttemptResult {
        failure,
        counters: stderr.counters,
        status: stderr.status,
        stderr_tail: stderr.tail,
        output_lines: collected.unwrap_or(0),
    })
}

/// The task process, as YARN starts it: in its working directory with the job's
/// environment, `PWD` and `TMPDIR` set, in a process group of its own (so that a
/// timeout kills whatever it started too).
fn command(spec: &AttemptSpec, program: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .args(&spec.command[1..])
        .current_dir(&spec.workdir)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        // The runner's -v/-q and --boto (crate::logging::child_env).
        .envs(crate::logging::child_env())
        .env("PWD", &spec.workdir)
        .env("TMPDIR", spec.workdir.join("tmp"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
}

/// Feeds the task's input to its stdin; a task that stops reading early ends the feed
/// (its exit status then tells whether it failed).
fn spawn_feeder(
    mut stdin: ChildStdin,
    input: TaskInput,
    progress: Arc<Progress>,
) -> JoinHandle<Result<(), Error>> {
    std::thread::spawn(move || {
        let mut sink = |bytes: &[u8]| {
            stdin.write_all(bytes)?;
            progress.touch();
            Ok(())
        };
        match input {
            TaskInput::Split(split) => feed_split(&split, &mut sink),
            TaskInput::File(path) => {
                let mut file = BufReader::new(
                    File::open(&path)
                        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
                );
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    let read = file
                        .read(&mut chunk)
                        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                    if read == 0 || sink(&chunk[..read]).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    })
}

/// Copies the task's stdout to its output file; returns the lines written.
fn spawn_collector(
    stdout: ChildStdout,
    output: PathBuf,
    progress: Arc<Progress>,
) -> JoinHandle<Result<u64, Error>> {
    std::thread::spawn(move || {
        let context = || format!("writing {}", output.display());
        let mut out = BufWriter::new(File::create(&output).map_err(|e| Error::io(context(), e))?);
        let mut reader = BufReader::new(stdout);
        let mut lines = 0;
        loop {
            let buffer = reader
                .fill_buf()
                .map_err(|e| Error::io("reading the task's stdout", e))?;
            if buffer.is_empty() {
                break;
            }
            lines += buffer.iter().filter(|b| **b == b'\n').count() as u64;
            out.write_all(buffer).map_err(|e| Error::io(context(), e))?;
            let length = buffer.len();
            reader.consume(length);
            progress.touch();
        }
        out.flush().map_err(|e| Error::io(context(), e))?;
        Ok(lines)
    })
}

/// What a task said on stderr.
#[derive(Debug, Default)]
struct StderrSummary {
    counters: BTreeMap<(String, String), i64>,
    status: Option<String>,
    tail: Vec<String>,
}

/// Reads the task's stderr: reporter lines become counters and status, every line is
/// logged to the attempt's `stderr` file, and the last other lines are kept.
fn spawn_reporter(
    stderr: ChildStderr,
    log_path: PathBuf,
    progress: Arc<Progress>,
    live: Option<LiveCounters>,
) -> JoinHandle<StderrSummary> {
    std::thread::spawn(move || {
        let mut log = File::create(&log_path).ok().map(BufWriter::new);
        let mut summary = StderrSummary::default();
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while crate::hadoop_input::read_line(&mut reader, &mut line).unwrap_or(0) > 0 {
            progress.touch();
            let text = String::from_utf8_lossy(&line).to_string();
            if let Some(log) = log.as_mut() {
                let _ = writeln!(log, "{text}");
            }
            match parse_line(&text) {
                ReporterLine::Counter {
                    group,
                    counter,
                    amount,
                } => {
                    if let Some(Ok(mut live)) = live.as_ref().map(|l| l.lock()) {
                        *live.entry((group.clone(), counter.clone())).or_insert(0) += amount;
                    }
                    *summary.counters.entry((group, counter)).or_insert(0) += amount;
                }
                ReporterLine::Status(message) => summary.status = Some(message),
                ReporterLine::Malformed(_) | ReporterLine::Log => {
                    tail.push_back(text);
                    if tail.len() > STDERR_TAIL {
                        tail.pop_front();
                    }
                }
            }
        }
        if let Some(log) = log.as_mut() {
            let _ = log.flush();
        }
        summary.tail = Vec::from(tail);
        summary
    })
}

/// Removes an attempt's temporary directory (`TMPDIR`, where its spooled object data
/// goes); one that cannot be removed is left for the run directory's owner.
pub fn remove_tmp(workdir: &Path) {
    let _ = std::fs::remove_dir_all(workdir.join("tmp"));
}

/// How the process ended.
enum Ending {
    Exited(ExitStatus),
    TimedOut(Duration),
    /// Killed because the runner was interrupted by this signal.
    Interrupted(i32),
}

/// Waits for the task to exit, killing its process group once it has been silent for
/// longer than the timeout, or at once when the runner is interrupted.
fn watch(
    child: &mut Child,
    timeout: Option<Duration>,
    interrupt: &Interrupt,
    progress: &Progress,
) -> Result<Ending, Error> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Ending::Exited(status)),
            Ok(None) => {}
            Err(error) => {
                kill_group(child.id());
                return Err(Error::io("waiting for a task", error));
            }
        }
        if let Some(timeout) = timeout
            && progress.idle() > timeout
        {
            let idle = progress.idle();
            kill_group(child.id());
            let _ = child.wait();
            return Ok(Ending::TimedOut(idle));
        }
        if let Some(signal) = interrupt.signal() {
            kill_group(child.id());
            let _ = child.wait();
            return Ok(Ending::Interrupted(signal));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The job configuration as a task's environment: every key with each character
/// outside `[A-Za-z0-9]` turned into `_` (`PipeMapRed.safeEnvVarName`), and the old
/// alias of each deprecated key next to its new name; then streaming's `-cmdenv`
/// entries, which Hadoop adds after the configuration.
pub fn job_environment(
    conf: &[(String, String)],
    cmdenv: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (key, value) in conf {
        if let Some(old) = old_alias(key) {
            env.push((safe_env_name(old), value.clone()));
        }
        env.push((safe_env_name(key), value.clone()));
    }
    env.push(("HADOOP_ROOT_LOGGER".to_string(), String::new()));
    env.extend(cmdenv.iter().cloned());
    env
}

/// `PipeMapRed.safeEnvVarName`.
pub fn safe_env_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Deprecated names Hadoop still exports (`ConfigUtil`), for the keys a task may read.
fn old_alias(key: &str) -> Option<&'static str> {
    Some(match key {
        "mapreduce.task.ismap" => "mapred.task.is.map",
        "mapreduce.task.partition" => "mapred.task.partition",
        "mapreduce.task.attempt.id" => "mapred.task.id",
        "mapreduce.task.id" => "mapred.tip.id",
        "mapreduce.map.input.file" => "map.input.file",
        "mapreduce.map.input.start" => "map.input.start",
        "mapreduce.map.input.length" => "map.input.length",
        "mapreduce.job.reduces" => "mapred.reduce.tasks",
        "mapreduce.job.id" => "mapred.job.id",
        "mapreduce.map.maxattempts" => "mapred.map.max.attempts",
        "mapreduce.reduce.maxattempts" => "mapred.reduce.max.attempts",
        "mapreduce.task.timeout" => "mapred.task.timeout",
        "mapreduce.map.speculative" => "mapred.map.tasks.speculative.execution",
        "mapreduce.reduce.speculative" => "mapred.reduce.tasks.speculative.execution",
        "mapreduce.input.lineinputformat.linespermap" => "mapred.line.input.format.linespermap",
        "mapreduce.output.fileoutputformat.compress" => "mapred.output.compress",
        "mapreduce.output.fileoutputformat.compress.codec" => "mapred.output.compression.codec",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names() {
        let env = job_environment(
            &[
                ("mapreduce.task.ismap".to_string(), "true".to_string()),
                (
                    "mapred.input.format.class".to_string(),
                    "org.apache.hadoop.mapred.lib.NLineInputFormat".to_string(),
                ),
            ],
            &[],
        );
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("mapreduce_task_ismap"), Some("true"));
        assert_eq!(get("mapred_task_is_map"), Some("true"));
        assert_eq!(
            get("mapred_input_format_class"),
            Some("org.apache.hadoop.mapred.lib.NLineInputFormat")
        );
        assert_eq!(get("HADOOP_ROOT_LOGGER"), Some(""));
        assert_eq!(safe_env_name("a.b-c/d9"), "a_b_c_d9");
    }
}
