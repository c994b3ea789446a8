//! Run ids, where local runs keep their run directories, and the record each run
//! leaves there, which `rsync --list-runs` reads.
//!
//! A run id is the run's start time in UTC and 24 random bits,
//! `20261130T161500Z-7f3a9c` ([`new_run_id`]): ids sort by start time, and two runs
//! started in the same second (two users, a script that starts several jobs) get
//! different ids, hence different run directories, HDFS run directories, outputs and
//! part-file locations. A run directory is also created atomically, so that two runs
//! given the same `--uuid` cannot share one: the second is refused (exit 4).
//!
//! Local run directories live under one base, so that the next run of a job finds a
//! dead run of the same job wherever the user stands ([`crate::rsync::unfinished`]):
//! `--run-dir`, else `$CAMPANILE_RUN_DIR`, else `$XDG_STATE_HOME/campanile/runs`, else
//! `~/.local/state/campanile/runs` ([`default_run_base`], the XDG base directory
//! specification's place for state that outlives a process but is not worth a
//! backup).
//!
//! Each local run writes [`RECORD`] in its run directory when it creates it, and
//! rewrites it when it ends: what it copies, when it started and ended, how it ended
//! (exit code, error), where its output and skip report are. The runner holds an
//! exclusive lock (`flock`) on the record while it lives, as on the unfinished-run
//! marker, so a record that says `running` but that nobody holds is a run whose runner
//! died ([`RunState::Unfinished`]).

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::rsync::locked_file::{LockedFile, write_json};

/// The record of a run, in its run directory.
pub const RECORD: &str = "run.json";

/// The environment variable that sets the base of the local run directories when
/// `--run-dir` is not given.
pub const RUN_DIR_ENV: &str = "CAMPANILE_RUN_DIR";

/// A new run id: now, in UTC, and 24 random bits (see the module documentation).
pub fn new_run_id() -> String {
    run_id_at(time::OffsetDateTime::now_utc(), rand::random::<u32>())
}

/// The run id of a run started at `at` with `random` (its low 24 bits are used).
pub fn run_id_at(at: time::OffsetDateTime, random: u32) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{:06x}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        random & 0x00ff_ffff
    )
}

/// `at` as RFC 3339 in UTC, to the second (`2026-11-30T16:15:00Z`).
fn rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Checks a run id given with `--uuid` for a local run: it names a directory under
/// the run base, so it must be one path component.
pub fn check_local_run_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') {
        return Err(Error::Usage(format!(
            "--uuid {id:?}: a local run's id names its directory under --run-dir; give one \
             without '/' (and not '.' or '..')"
        )));
    }
    Ok(())
}

/// The base of the local run directories when `--run-dir` is not given, from the
/// process environment (see [`run_base_from`]).
pub fn default_run_base() -> Result<PathBuf, Error> {
    run_base_from(|name| std::env::var_os(name))
}

/// The base of the local run directories from the environment `env`:
/// `$CAMPANILE_RUN_DIR`, else `$XDG_STATE_HOME/campanile/runs`, else
/// `$HOME/.local/state/campanile/runs`. Empty or relative values are ignored, as the
/// XDG specification says of its variables.
pub fn run_base_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, Error> {
    let absolute = |name: &str| {
        env(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if let Some(dir) = absolute(RUN_DIR_ENV) {
        return Ok(dir);
    }
    if let Some(state) = absolute("XDG_STATE_HOME") {
        return Ok(state.join("campanile").join("runs"));
    }
    if let Some(home) = absolute("HOME") {
        return Ok(home.join(".local/state/campanile/runs"));
    }
    Err(Error::Usage(format!(
        "no place for the run directories: neither {RUN_DIR_ENV}, XDG_STATE_HOME nor HOME \
         is set to an absolute path; give --run-dir"
    )))
}

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Its runner is alive.
    Running,
    /// It ended with exit code 0, or 3 (it copied everything it could, and its skip
    /// report lists what it left out).
    Finished,
    /// It ended with an error (its exit code and message are recorded), or was
    /// interrupted (SIGINT, SIGTERM) and cleaned up after itself.
    Failed,
    /// Its runner died without ending the run (SIGKILL, the OOM killer, a lost
    /// machine). Its tasks and uploads are cleaned up by `rsync --cleanup RUN_DIR` or
    /// by the next run of the same job.
    Unfinished,
}

impl RunState {
    /// The state's name, as in the record.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Unfinished => "unfinished",
        }
    }
}

/// What a run records about itself ([`RECORD`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run id (`--uuid`), its run directory's name.
    pub id: String,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// When it ended, if it did.
    #[serde(default)]
    pub ended: Option<String>,
    /// How it stands (as written by the runner; [`list_runs`] corrects `running` for a
    /// runner that died).
    pub state: RunState,
    /// Source bucket.
    pub src_bucket: String,
    /// Destination bucket.
    pub dst_bucket: String,
    /// Source endpoint.
    pub src_endpoint: String,
    /// Destination endpoint.
    pub dst_endpoint: String,
    /// The runner's process id.
    pub pid: u32,
    /// The job output as the user finds it (a path or an `s3://` URI), if the plan has
    /// a copy step.
    #[serde(default)]
    pub output: Option<String>,
    /// Where the skip report is, if the run left objects out.
    #[serde(default)]
    pub skip_report: Option<String>,
    /// Objects the skip report lists.
    #[serde(default)]
    pub skipped: Option<u64>,
    /// The exit code rsync ended with.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The error it ended with.
    #[serde(default)]
    pub error: Option<String>,
    /// A run that died was cleaned up since (by `rsync --cleanup` or a later run).
    #[serde(default)]
    pub cleaned_up: bool,
}

impl RunInfo {
    /// The record of a run starting now, from `src` to `dst` (each a bucket and its
    /// endpoint).
    pub fn starting(
        id: &str,
        src: (&str, &str),
        dst: (&str, &str),
        output: Option<String>,
    ) -> RunInfo {
        RunInfo {
            id: id.to_string(),
            started: rfc3339(time::OffsetDateTime::now_utc()),
            ended: None,
            state: RunState::Running,
            src_bucket: src.0.to_string(),
            dst_bucket: dst.0.to_string(),
            src_endpoint: src.1.to_string(),
            dst_endpoint: dst.1.to_string(),
            pid: std::process::id(),
            output,
            skip_report: None,
            skipped: None,
            exit_code: None,
            error: None,
            cleaned_up: false,
        }
    }
}

/// Reads a run directory's record, if it has one.
pub fn read_record(dir: &Path) -> Result<Option<RunInfo>, Error> {
    let path = dir.join(RECORD);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| Error::Usage(format!("{}: not a run record: {e}", path.display())))
}

/// The record of the running run, locked for as long as this value lives.
#[derive(Debug)]
pub struct RunJournal {
    // The open, locked record: dropping it (or the process dying) releases the lock.
    _lock: Option<LockedFile>,
    dir: PathBuf,
    info: RunInfo,
}

impl RunJournal {
    /// Writes `info` as `dir`'s record and locks it for the life of the run.
    pub fn start(dir: &Path, info: RunInfo) -> Result<RunJournal, Error> {
        let lock = write_json(dir, RECORD, &info, true)?;
        Ok(RunJournal {
            _lock: lock,
            dir: dir.to_path_buf(),
            info,
        })
    }

    /// The run ended with `result`: records how, and releases the lock.
    pub fn end(mut self, result: &Result<(), Error>) -> Result<(), Error> {
        let info = &mut self.info;
        info.ended = Some(rfc3339(time::OffsetDateTime::now_utc()));
        match result {
            Ok(()) => {
                info.state = RunState::Finished;
                info.exit_code = Some(0);
            }
            Err(error) => {
                if let Error::Skipped { objects, report } = error {
                    info.state = RunState::Finished;
                    info.skipped = Some(*objects);
                    info.skip_report = Some(report.clone());
                } else if let Error::NotIdentical { .. } = error {
                    // A verify that found differences ran to its end; the error names
                    // its report.
                    info.state = RunState::Finished;
                } else {
                    info.state = RunState::Failed;
                }
                info.exit_code = Some(error.exit_code());
                info.error = Some(error.to_string());
            }
        }
        // The new record replaces the locked one; the lock goes with the old file.
        write_json(&self.dir, RECORD, &self.info, false).map(drop)
    }
}

/// After the clean-up of a run whose runner died: records it in the run's record (a
/// run directory without one, from an older version, is left as it is).
pub fn record_cleaned_up(dir: &Path) -> Result<(), Error> {
    let Some(mut info) = read_record(dir)? else {
        return Ok(());
    };
    info.state = RunState::Unfinished;
    info.cleaned_up = true;
    if info.ended.is_none() {
        info.ended = Some(rfc3339(time::OffsetDateTime::now_utc()));
    }
    write_json(dir, RECORD, &info, false).map(drop)
}

/// A run found under the run base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRun {
    /// Its run directory.
    pub dir: PathBuf,
    /// Its record, with the state as it stands now; `None` for a run directory
    /// without one (made by an older version).
    pub info: Option<RunInfo>,
    /// Its runner died and its clean-up has not run yet: it holds an unlocked
    /// unfinished-run marker.
    pub needs_cleanup: bool,
}

impl ListedRun {
    /// The run's state as it stands now (`None`: unknown, no record).
    pub fn state(&self) -> Option<RunState> {
        if self.needs_cleanup {
            return Some(RunState::Unfinished);
        }
        self.info.as_ref().map(|info| info.state)
    }

    /// The `--list-runs --json` line.
    pub fn json(&self) -> serde_json::Value {
        let mut value = match &self.info {
            Some(info) => serde_json::to_value(info).unwrap_or_default(),
            None => serde_json::json!({
                "id": self.dir.file_name().map(|n| n.to_string_lossy().to_string()),
            }),
        };
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "state".into(),
                serde_json::json!(self.state().map(RunState::name)),
            );
            object.insert("run_dir".into(), serde_json::json!(self.dir));
            object.insert(
                "needs_cleanup".into(),
                serde_json::json!(self.needs_cleanup),
            );
        }
        value
    }
}

/// True when `path` is a file that nobody holds locked (its process died).
fn unlocked(path: &Path) -> Result<bool, Error> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::io(format!("locking {}", path.display()), e))
        }
    }
}

/// The runs under `base`, oldest first (by id, then name): every directory holding a
/// record or an unfinished-run marker.
pub fn list_runs(base: &Path) -> Result<Vec<ListedRun>, Error> {
    let entries = match std::fs::read_dir(base) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", base.display()), e)),
    };
    let marker = crate::rsync::unfinished::MARKER;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join(RECORD).is_file() || path.join(marker).is_file())
        .collect();
    dirs.sort();
    let mut runs = Vec::new();
    for dir in dirs {
        let needs_cleanup = unlocked(&dir.join(marker))?;
        let mut info = read_record(&dir)?;
        if info.as_ref().is_some_and(|i| i.state == RunState::Running)
            && unlocked(&dir.join(RECORD))?
        {
            // Read again once the lock is known free: the runner may have ended the
            // run (replacing the record) between the first read and the check.
            info = read_record(&dir)?;
            if let Some(info) = info.as_mut().filter(|i| i.state == RunState::Running) {
                info.state = RunState::Unfinished;
            }
        }
        runs.push(ListedRun {
            dir,
            info,
            needs_cleanup,
        });
    }
    Ok(runs)
}

/// Prints `runs` for `rsync --list-runs`: a block per run, or with `json` one JSON
/// object per line.
pub fn print_runs<W: Write>(runs: &[ListedRun], json: bool, out: &mut W) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    for run in runs {
        if json {
            writeln!(out, "{}", run.json()).map_err(io)?;
            continue;
        }
        let state = run.state().map_or("unknown (no run.json)", RunState::name);
        let Some(info) = &run.info else {
            let name = run.dir.file_name().unwrap_or_default().to_string_lossy();
            writeln!(out, "{name}  {state}").map_err(io)?;
            writeln!(out, "  run dir:     {}", run.dir.display()).map_err(io)?;
            continue;
        };
        let mut state = state.to_string();
        if let Some(code) = info.exit_code.filter(|code| *code != 0) {
            state.push_str(&format!(" (exit {code})"));
        }
        if info.cleaned_up {
            state.push_str(" (cleaned up)");
        }
        writeln!(
            out,
            "{}  {}  {}  s3://{} -> s3://{}",
            info.id, info.started, state, info.src_bucket, info.dst_bucket
        )
        .map_err(io)?;
        writeln!(out, "  run dir:     {}", run.dir.display()).map_err(io)?;
        // A run that failed or is still going has no output (yet) to point at.
        if let Some(output) = info
            .output
            .as_ref()
            .filter(|_| info.state == RunState::Finished)
        {
            writeln!(out, "  output:      {output}").map_err(io)?;
        }
        if let Some(report) = &info.skip_report {
            let objects = info.skipped.unwrap_or(0);
            writeln!(out, "  skip report: {report} ({objects} object(s))").map_err(io)?;
        }
        if let Some(error) = info.error.as_ref().filter(|_| info.skip_report.is_none()) {
            writeln!(out, "  error:       {error}").map_err(io)?;
        }
        if run.needs_cleanup {
            writeln!(
                out,
                "  clean-up:    rsync --cleanup {} (or start the job again)",
                run.dir.display()
            )
            .map_err(io)?;
        }
    }
    if runs.is_empty() && !json {
        writeln!(out, "no runs").map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_differ_within_a_second() {
        let at = time::macros::datetime!(2026-11-30 16:15:00 UTC);
        assert_eq!(run_id_at(at, 0x7f3a9c), "20261130T161500Z-7f3a9c");
        assert_eq!(run_id_at(at, 0xff00_0001), "20261130T161500Z-000001");
        let later = time::macros::datetime!(2026-11-30 16:15:01 UTC);
        assert!(run_id_at(later, 0) > run_id_at(at, 0xffffff));
        let ids: std::collections::HashSet<String> = (0..64).map(|_| new_run_id()).collect();
        assert_eq!(ids.len(), 64);
        for id in &ids {
            crate::plan::validate::word("--uuid", id).expect("a valid step argument");
            check_local_run_id(id).expect("a valid directory name");
        }
    }

    #[test]
    fn the_run_base_follows_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        static ALL: [(&str, &str); 3] = [
            (RUN_DIR_ENV, "/runs"),
            ("XDG_STATE_HOME", "/state"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(run_base_from(env(&ALL)).ok(), Some("/runs".into()));
        assert_eq!(
            run_base_from(env(&ALL[1..])).ok(),
            Some("/state/campanile/runs".into())
        );
        assert_eq!(
            run_base_from(env(&[("XDG_STATE_HOME", "relative"), ("HOME", "/home/u")])).ok(),
            Some("/home/u/.local/state/campanile/runs".into())
        );
        let error = run_base_from(env(&[])).expect_err("nowhere");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--run-dir"), "{error}");
    }

    #[test]
    fn local_run_ids_are_one_path_component() {
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert_eq!(check_local_run_id(bad).map_err(|e| e.exit_code()), Err(2));
        }
        check_local_run_id("1451507458").expect("the article's form");
    }

    fn starting(id: &str, output: Option<String>) -> RunInfo {
        RunInfo::starting(id, ("src", "http://s"), ("dst", "http://d"), output)
    }

    #[test]
    fn records_tell_running_finished_failed_and_dead_runs_apart() {
        let base = tempfile::tempdir().expect("tempdir");
        let dir = |name: &str| {
            let dir = base.path().join(name);
            std::fs::create_dir(&dir).expect("dir");
            dir
        };
        let (a, b, c, d) = (dir("a"), dir("b"), dir("c"), dir("d"));
        std::fs::create_dir(base.path().join("not-a-run")).expect("dir");
        let running = RunJournal::start(&a, starting("a", None)).expect("a");
        RunJournal::start(&b, starting("b", Some("/out".into())))
            .expect("b")
            .end(&Ok(()))
            .expect("end b");
        RunJournal::start(&c, starting("c", None))
            .expect("c")
            .end(&Err(Error::Skipped {
                objects: 2,
                report: "/out/skipped".into(),
            }))
            .expect("end c");
        // A runner that dies drops its lock with the file.
        drop(RunJournal::start(&d, starting("d", None)).expect("d"));
        let runs = list_runs(base.path()).expect("list");
        let states: Vec<_> = runs.iter().map(|r| r.state()).collect();
        assert_eq!(
            states,
            [
                Some(RunState::Running),
                Some(RunState::Finished),
                Some(RunState::Finished),
                Some(RunState::Unfinished)
            ]
        );
        assert_eq!(runs[2].info.as_ref().and_then(|i| i.skipped), Some(2));
        running
            .end(&Err(Error::Usage("bad".into())))
            .expect("end a");
        let a_now = &list_runs(base.path()).expect("list")[0];
        assert_eq!(a_now.state(), Some(RunState::Failed));
        assert_eq!(a_now.info.as_ref().and_then(|i| i.exit_code), Some(2));
        record_cleaned_up(&d).expect("cleaned");
        let d_now = read_record(&d).expect("read").expect("record");
        assert!(d_now.cleaned_up && d_now.state == RunState::Unfinished);
        let mut text = Vec::new();
        print_runs(&list_runs(base.path()).expect("list"), false, &mut text).expect("print");
        let text = String::from_utf8(text).expect("utf8");
        assert!(text.contains("finished (exit 3)"), "{text}");
        assert!(
            text.contains("skip report: /out/skipped (2 object(s))"),
            "{text}"
        );
        assert!(text.contains("failed (exit 2)"), "{text}");
        assert!(text.contains("unfinished (cleaned up)"), "{text}");
    }
}
