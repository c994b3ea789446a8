//! Runs that ended without their clean-up: a local runner killed by SIGKILL (the OOM
//! killer, `kill -9`, a lost machine) cannot stop its tasks or abort its uploads.
//!
//! While a local run works, its run directory holds a marker, [`MARKER`]: what the
//! run is (source and destination bucket, destination endpoint, region) and where its
//! uploads are recorded (the plan's [`UploadScope`]: the listing and the part list
//! under the run directory). The runner holds an exclusive lock (`flock`) on the
//! marker for as long as it lives, and removes the marker once its clean-up has run,
//! whether the run succeeded, failed or was interrupted (SIGINT, SIGTERM). A marker
//! that nobody holds locked is therefore a run that died: the kernel drops the lock
//! with the process.
//!
//! Such a run is cleaned up ([`clean_up_run`]) by `rsync --cleanup RUN_DIR`, and by the
//! next run of the same job, which looks for them before it starts. *The same job*
//! means: a run directory under the same `--run-dir` base, from the same source
//! bucket to the same destination bucket at the same destination endpoint (a run of
//! another job under the same base is left alone: its destination may need other
//! credentials, and its owner may want to look at it first; `rsync --cleanup` takes
//! it). The clean-up kills the task processes the dead runner left (found by their
//! working directory, under the run directory, in `/proc`), removes the attempts'
//! temporary files (spooled object data), then completes or aborts the run's uploads
//! in progress as a failed run's clean-up does ([`crate::rsync::cleanup`]), and last
//! removes the marker (and notes the clean-up in the run's record,
//! [`crate::rsync::runs`]). It is safe to repeat: until the marker is gone, a later clean-up
//! does it all again.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::plan::UploadScope;
use crate::rsync::cleanup::clean_up_uploads;
use crate::rsync::locked_file::{LockedFile, write_json};

/// The marker of a run that has not ended its clean-up, in its run directory.
pub const MARKER: &str = "unfinished.json";

/// What a run's marker records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Source bucket.
    pub src_bucket: String,
    /// Destination bucket.
    pub dst_bucket: String,
    /// Destination endpoint.
    pub dst_endpoint: String,
    /// Region given to the run's S3 clients.
    pub region: Option<String>,
    /// The run's uploads (`None`: a plan without copy makes none to clean up).
    pub uploads: Option<UploadScope>,
}

impl RunRecord {
    /// True when both records are runs of the same job (see the module documentation).
    pub fn same_job(&self, other: &RunRecord) -> bool {
        self.src_bucket == other.src_bucket
            && self.dst_bucket == other.dst_bucket
            && self.dst_endpoint == other.dst_endpoint
    }
}

/// The marker of the running run, locked for as long as this value lives.
#[derive(Debug)]
pub struct Unfinished {
    // The open, locked marker: dropping it (or the process dying) releases the lock.
    _lock: Option<LockedFile>,
    path: PathBuf,
}

impl Unfinished {
    /// Writes `record` as `run_dir`'s marker and locks it. The marker is written and
    /// locked under a temporary name and then renamed, so that a clean-up looking for
    /// dead runs never sees it unlocked.
    pub fn start(run_dir: &Path, record: &RunRecord) -> Result<Unfinished, Error> {
        let lock = write_json(run_dir, MARKER, record, true)?;
        Ok(Unfinished {
            _lock: lock,
            path: run_dir.join(MARKER),
        })
    }

    /// The clean-up has run: removes the marker.
    pub fn finish(self) -> Result<(), Error> {
        std::fs::remove_file(&self.path)
            .map_err(|e| Error::io(format!("removing {}", self.path.display()), e))
    }
}

/// What [`clean_up_run`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// No marker: the run ended its clean-up (or never started its plan).
    Finished,
    /// The marker is locked: the run's runner is alive.
    Running,
    /// A dead run, now cleaned up.
    CleanedUp,
}

/// Reads a run directory's record, if it has a marker.
pub fn read_record(run_dir: &Path) -> Result<Option<RunRecord>, Error> {
    let path = run_dir.join(MARKER);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| Error::Usage(format!("{}: not a run record: {e}", path.display())))
}

/// Cleans up the run in `run_dir` if its runner died (see the module documentation);
/// says what it did on `err`.
pub async fn clean_up_run<E: Write>(run_dir: &Path, err: &mut E) -> Result<Found, Error> {
    let path = run_dir.join(MARKER);
    let file = match File::options().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Finished),
        Err(e) => return Err(Error::io(format!("opening {}", path.display()), e)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Found::Running),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(Error::io(format!("locking {}", path.display()), e));
        }
    }
    let Some(record) = read_record(run_dir)? else {
        // Removed between the open and the lock: its runner finished.
        return Ok(Found::Finished);
    };
    let say = |e| Error::io("writing stderr", e);
    writeln!(
        err,
        "cleaning up the unfinished run {} (s3://{} to s3://{})",
        run_dir.display(),
        record.src_bucket,
        record.dst_bucket
    )
    .map_err(say)?;
    let stopped = stop_tasks_under(run_dir)?;
    if stopped > 0 {
        writeln!(
            err,
            "stopped {stopped} task process(es) the run left running"
        )
        .map_err(say)?;
    }
    remove_attempt_files(run_dir);
    if let Some(scope) = &record.uploads
        && Path::new(&scope.objects).exists()
    {
        clean_up_uploads(scope, record.region.clone(), err).await?;
    }
    std::fs::remove_file(&path)
        .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
    drop(file);
    // `rsync --list-runs` then shows the run as cleaned up; the clean-up itself is
    // done whether or not its record can say so.
    if let Err(e) = crate::rsync::runs::record_cleaned_up(run_dir) {
        writeln!(
            err,
            "could not record the clean-up in the run's record: {e}"
        )
        .map_err(say)?;
    }
    Ok(Found::CleanedUp)
}

/// `rsync --cleanup RUN_DIR`: cleans up a run whose runner died; a run still running
/// is refused, a finished one is left as it is.
pub async fn clean_up_run_dir<E: Write>(run_dir: &Path, err: &mut E) -> Result<(), Error> {
    if !run_dir.is_dir() {
        return Err(Error::Usage(format!(
            "--cleanup {}: no such run directory",
            run_dir.display()
        )));
    }
    match clean_up_run(run_dir, err).await? {
        Found::Running => Err(Error::Usage(format!(
            "--cleanup {}: the run is still running (its runner holds {MARKER} locked); \
             stop it with SIGINT or SIGTERM, which clean up too",
            run_dir.display()
        ))),
        Found::Finished => writeln!(
            err,
            "{}: nothing to clean up (the run finished its clean-up)",
            run_dir.display()
        )
        .map_err(|e| Error::io("writing stderr", e)),
        Found::CleanedUp => Ok(()),
    }
}

/// Before a run starts: cleans up the dead runs of the same job (`record`) under
/// `run_base`; returns how many.
pub async fn clean_up_earlier_runs<E: Write>(
    run_base: &Path,
    record: &RunRecord,
    err: &mut E,
) -> Result<usize, Error> {
    let Ok(entries) = std::fs::read_dir(run_base) else {
        // No base yet: no earlier run.
        return Ok(0);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join(MARKER).is_file())
        .collect();
    dirs.sort();
    let mut cleaned = 0;
    for dir in dirs {
        // A marker that cannot be read is not this job's to judge: left alone.
        let Ok(Some(earlier)) = read_record(&dir) else {
            continue;
        };
        if earlier.same_job(record) && clean_up_run(&dir, err).await? == Found::CleanedUp {
            cleaned += 1;
        }
    }
    Ok(cleaned)
}

/// Removes the temporary directory of every attempt of the run (what killed tasks
/// spooled there).
pub fn remove_attempt_files(run_dir: &Path) {
    let Ok(steps) = std::fs::read_dir(run_dir.join("steps")) else {
        return;
    };
    for step in steps.flatten() {
        let Ok(attempts) = std::fs::read_dir(step.path().join("attempts")) else {
            continue;
        };
        for attempt in attempts.flatten() {
            crate::plan::local::task::remove_tmp(&attempt.path());
        }
    }
}

/// How long [`stop_tasks_under`] waits for the killed processes to be gone.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Kills (SIGKILL, with their process groups) the processes whose working directory
/// is under `run_dir`, as the local runner starts its tasks, and waits until they are
/// gone; returns how many there were. Reads `/proc` (Linux); elsewhere finds none.
pub fn stop_tasks_under(run_dir: &Path) -> Result<usize, Error> {
    let run_dir = std::fs::canonicalize(run_dir)
        .map_err(|e| Error::io(format!("reading {}", run_dir.display()), e))?;
    let found = processes_under(&run_dir);
    let own_group = process_group(std::process::id());
    for (pid, group) in &found {
        // A task leads its own group; never the caller's group (a shell whose working
        // directory is in the run directory).
        match group {
            Some(group) if Some(*group) != own_group && group == pid => {
                crate::plan::local::task::kill_group(*group);
            }
            _ => kill_process(*pid),
        }
    }
    let deadline = Instant::now() + STOP_WAIT;
    while !processes_under(&run_dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(found.len())
}

/// The processes (but this one) whose working directory is `dir` or under it, with
/// their process groups.
fn processes_under(dir: &Path) -> Vec<(u32, Option<u32>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id();
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != own)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .map(|pid| (pid, process_group(pid)))
        .collect()
}

/// A process's group, from `/proc/<pid>/stat` (the 5th field; the 2nd, the command
/// name in parentheses, may hold spaces).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

fn kill_process(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-s", "KILL", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(dst: &str) -> RunRecord {
        RunRecord {
            src_bucket: "src".into(),
            dst_bucket: dst.into(),
            dst_endpoint: "http://127.0.0.1:1".into(),
            region: None,
            uploads: None,
        }
    }

    #[tokio::test]
    async fn a_live_run_is_left_alone_and_a_dead_one_cleaned_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("1");
        std::fs::create_dir_all(run.join("steps/1-copy/attempts/a/tmp")).expect("dirs");
        std::fs::write(run.join("steps/1-copy/attempts/a/tmp/spool"), b"data").expect("spool");
        let mut err = Vec::new();
        let live = Unfinished::start(&run, &record("dst")).expect("start");
        assert_eq!(read_record(&run).expect("read"), Some(record("dst")));
        assert_eq!(
            clean_up_run(&run, &mut err).await.expect("clean"),
            Found::Running
        );
        assert!(clean_up_run_dir(&run, &mut err).await.is_err());
        // The lock goes with the file, as with a killed process.
        drop(live);
        // Another job's dead run under the same base is not this job's to clean.
        let cleaned = clean_up_earlier_runs(dir.path(), &record("other"), &mut err)
            .await
            .expect("scan");
        assert_eq!(cleaned, 0);
        assert!(run.join(MARKER).exists());
        let cleaned = clean_up_earlier_runs(dir.path(), &record("dst"), &mut err)
            .await
            .expect("scan");
        assert_eq!(cleaned, 1);
        assert!(!run.join(MARKER).exists());
        assert!(!run.join("steps/1-copy/attempts/a/tmp").exists());
        assert_eq!(
            clean_up_run(&run, &mut err).await.expect("again"),
            Found::Finished
        );
    }

    #[test]
    fn a_finished_run_removes_its_marker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let unfinished = Unfinished::start(dir.path(), &record("dst")).expect("start");
        unfinished.finish().expect("finish");
        assert!(!dir.path().join(MARKER).exists());
    }

    #[test]
    fn tasks_under_a_run_directory_are_found_and_stopped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut command = std::process::Command::new("sleep");
        command.arg("30").current_dir(dir.path());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().expect("spawn sleep");
        let canonical = std::fs::canonicalize(dir.path()).expect("canonical");
        // The group is read past the command name: a task leads its own group.
        assert_eq!(
            processes_under(&canonical),
            vec![(child.id(), Some(child.id()))]
        );
        assert_eq!(stop_tasks_under(dir.path()).expect("stop"), 1);
        let status = child.wait().expect("wait");
        assert!(!status.success());
        assert!(processes_under(&canonical).is_empty());
    }
}
