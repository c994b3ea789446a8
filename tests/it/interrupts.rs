//! Interrupts leave nothing behind, end to end: `rsync --local` copying multipart
//! objects through a proxy in front of moto gets SIGINT, SIGTERM or SIGKILL once the
//! first UploadPart has reached the server (the proxy then holds that task's answer,
//! so the task is mid-copy). After SIGINT and SIGTERM the runner itself stops every
//! task process, leaves no upload in progress, no spooled file and no marker, and
//! exits 130 or 143. After SIGKILL, `rsync --cleanup RUN_DIR`, or the next run of the
//! same job, stops the tasks the dead runner left and leaves no upload. See
//! docs/reliability.md. (The clean-up after a failed step on a Hadoop cluster is
//! tested on the real cluster: tests/it/hadoop.rs.)

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use campanile_testkit::S3Server;
use campanile_testkit::faults::{Exchange, FaultPlan, FaultProxy};
use campanile_testkit::fixtures::{self, FixtureObject};

/// How long the proxy holds the answer of the UploadPart that set the signal off.
const HOLD: Duration = Duration::from_secs(60);

struct Copy {
    server: &'static S3Server,
    client: aws_sdk_s3::Client,
    src: String,
    dst: String,
    proxy: FaultProxy,
    work: tempfile::TempDir,
    objects: Vec<FixtureObject>,
    /// The runner the hook signals.
    runner: Arc<AtomicU32>,
    /// Set once the hook has sent its signal.
    fired: Arc<AtomicBool>,
    /// Set by the test to let the held answer go.
    release: Arc<AtomicBool>,
}

fn upload_part(exchange: &Exchange) -> bool {
    exchange.method == "PUT" && exchange.target.contains("uploadId") && !exchange.probe
}

impl Copy {
    /// A moto source of multipart objects, an empty destination and a proxy whose hook
    /// sends `signal` to the runner at the first UploadPart, then holds its answer.
    async fn new(tag: &str, signal: &'static str) -> Copy {
        Copy::signalled_at(tag, signal, upload_part).await
    }

    /// [`Copy::new`], signalling at the first exchange that `at` matches.
    async fn signalled_at(tag: &str, signal: &'static str, at: fn(&Exchange) -> bool) -> Copy {
        let server = campanile_testkit::moto();
        let (client, src, dst) = fresh_buckets(server, tag).await;
        let mib = 1024 * 1024;
        let mut objects: Vec<FixtureObject> = (0..4)
            .map(|i| FixtureObject::whole(format!("small/{i}"), 1000 + i))
            .collect();
        objects.extend((0..6).map(|i| {
            FixtureObject::multipart(format!("multi/{i}"), 10 * mib + 1 + i * 1000, 5 * mib)
        }));
        fixtures::upload_all(&client, &src, &objects).await;
        let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
            .await
            .expect("start proxy");
        let runner = Arc::new(AtomicU32::new(0));
        let fired = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        {
            let (runner, fired, release) = (runner.clone(), fired.clone(), release.clone());
            proxy.set_hook(Arc::new(move |exchange| {
                let pid = runner.load(Ordering::SeqCst);
                if !at(exchange) || pid == 0 || fired.swap(true, Ordering::SeqCst) {
                    return;
                }
                let sent = Command::new("kill")
                    .args(["-s", signal, &pid.to_string()])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(sent, "kill -s {signal} {pid}");
                // The task waits for this answer: it is mid-copy when the runner stops.
                // The hook runs on one of the test runtime's workers: it hands that
                // worker's other work (timers among it) to another while it waits.
                tokio::task::block_in_place(|| {
                    let held = Instant::now();
                    while !release.load(Ordering::SeqCst) && held.elapsed() < HOLD {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                });
            }));
        }
        Copy {
            server,
            client,
            src,
            dst,
            proxy,
            work: tempfile::tempdir().expect("tempdir"),
            objects,
            runner,
            fired,
            release,
        }
    }

    fn runs(&self) -> PathBuf {
        self.work.path().join("runs")
    }

    fn args(&self, uuid: &str) -> Vec<String> {
        let part_file = self.work.path().join("part.all");
        std::fs::write(&part_file, ",\n").expect("part file");
        let endpoint = self.proxy.endpoint();
        [
            "--input",
            &part_file.display().to_string(),
            "--src-bucket",
            &self.src,
            "--dst-bucket",
            &self.dst,
            "--src-endpoint",
            &endpoint,
            "--dst-endpoint",
            &endpoint,
            "--run-dir",
            &self.runs().display().to_string(),
            "--output",
            &self.work.path().join("output").display().to_string(),
            "--uuid",
            uuid,
            "--parallel",
            "2",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Starts the runner; the hook signals it.
    fn spawn(&self, uuid: &str) -> Child {
        self.spawn_with(self.args(uuid))
    }

    /// Starts the runner with `args`.
    fn spawn_with(&self, args: Vec<String>) -> Child {
        let mut command = Command::new(RSYNC);
        command
            .args(args)
            .env("CAMPANILE_ATTEMPT_PAUSE_MAX", "0.2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in self.server.command_env() {
            command.env(name, value);
        }
        let child = command.spawn().expect("start rsync");
        self.runner.store(child.id(), Ordering::SeqCst);
        child
    }

    /// One more run of the same job, to its end (the hook has fired already).
    async fn rerun(&self, uuid: &str) -> Run {
        let args = self.args(uuid);
        let server = self.server;
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(RSYNC, &args, "", server, &[])
        })
        .await
        .expect("rsync thread")
    }

    /// `rsync --cleanup RUN_DIR`.
    async fn cleanup(&self, run_dir: &Path) -> Run {
        let server = self.server;
        let run_dir = run_dir.display().to_string();
        tokio::task::spawn_blocking(move || run(RSYNC, &["--cleanup", &run_dir], "", server, &[]))
            .await
            .expect("rsync thread")
    }

    /// `rsync --list-runs --json` under this copy's run base: each run's line.
    async fn listed(&self) -> Vec<serde_json::Value> {
        let server = self.server;
        let runs = self.runs().display().to_string();
        let result = tokio::task::spawn_blocking(move || {
            run(
                RSYNC,
                &["--list-runs", "--json", "--run-dir", &runs],
                "",
                server,
                &[],
            )
        })
        .await
        .expect("rsync thread");
        assert_eq!(result.code, 0, "{}", result.stderr);
        result
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    async fn uploads(&self) -> usize {
        uploads_in_progress(&self.client, &self.dst).await
    }
}

/// Waits for the runner to end (at most `limit`), with what it wrote.
async fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String, Duration) {
    let mut stderr = child.stderr.take().expect("stderr");
    let mut stdout = child.stdout.take().expect("stdout");
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rsync still running {limit:?} after the signal");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    let stderr = tokio::task::spawn_blocking(move || drain.join().expect("drain"))
        .await
        .expect("drain thread");
    (status.code(), stderr, elapsed)
}

/// Waits until the hook has sent its signal.
async fn fired(copy: &Copy) {
    let started = Instant::now();
    while !copy.fired.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no UploadPart within two minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Processes whose working directory is under `dir` (task processes of a run there).
fn processes_under(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).expect("canonical run dir");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.parse::<u32>().is_err() {
            continue;
        }
        if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir)) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{name}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

/// Attempts' temporary directories (spooled object data) left under `run_dir`.
fn attempt_tmp_dirs(run_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for step in std::fs::read_dir(run_dir.join("steps"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for attempt in std::fs::read_dir(step.path().join("attempts"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if attempt.path().join("tmp").exists() {
                found.push(attempt.path().join("tmp"));
            }
        }
    }
    found
}

/// SIGINT or SIGTERM: the runner stops its tasks, cleans up and exits 128 + signal.
async fn interrupted(signal: &'static str, code: i32, tag: &str) {
    let copy = Copy::new(tag, signal).await;
    let child = copy.spawn("1");
    fired(&copy).await;
    let (status, stderr, took) = finish(child, Duration::from_secs(60)).await;
    // Every task process is gone by the time the runner exits: none may be left to
    // copy on (checked before the held answer is let go).
    let left = processes_under(&copy.runs());
    copy.release.store(true, Ordering::SeqCst);
    println!("SIG{signal}: the runner stopped and cleaned up in {took:?}");
    assert_eq!(status, Some(code), "{stderr}");
    assert!(left.is_empty(), "task processes left: {left:?}\n{stderr}");
    assert!(
        took < Duration::from_secs(30),
        "the runner took {took:?} to stop and clean up:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("interrupted by SIG{signal}")),
        "the runner says why it stopped:\n{stderr}"
    );
    assert_eq!(
        copy.uploads().await,
        0,
        "uploads left in progress:\n{stderr}"
    );
    let run_dir = copy.runs().join("1");
    assert_eq!(attempt_tmp_dirs(&run_dir), Vec::<PathBuf>::new());
    assert!(
        !run_dir.join("unfinished.json").exists(),
        "the run's clean-up ran to its end"
    );
    let mode = std::fs::metadata(&run_dir)
        .expect("run dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the run directory is private");
    // The run's record says how it ended.
    let listed = copy.listed().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "failed", "{}", listed[0]);
    assert_eq!(listed[0]["exit_code"], code, "{}", listed[0]);
    assert_eq!(listed[0]["needs_cleanup"], false, "{}", listed[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_stops_the_tasks_cleans_up_and_exits_130() {
    interrupted("INT", 130, "sigint").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_the_tasks_cleans_up_and_exits_143() {
    interrupted("TERM", 143, "sigterm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_before_the_plan_starts_stops_the_run_at_once() {
    // Without --input, rsync lists the source for a part file (ListObjectsV2) before
    // the plan is built: the signal comes while that listing's answer is held.
    let list = |e: &Exchange| e.method == "GET" && e.target.contains("list-type");
    let copy = Copy::signalled_at("sigint-early", "INT", list).await;
    let mut args = copy.args("1");
    let input = args.iter().position(|a| a == "--input").expect("--input");
    args.drain(input..input + 2);
    let child = copy.spawn_with(args);
    let started = Instant::now();
    fired(&copy).await;
    println!("signalled {:?} after the start", started.elapsed());
    let (status, stderr, took) = finish(child, Duration::from_secs(30)).await;
    copy.release.store(true, Ordering::SeqCst);
    assert_eq!(status, Some(130), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}:\n{stderr}");
    assert!(
        !copy.runs().join("1").join("steps").exists(),
        "no step started:\n{stderr}"
    );
    assert!(!copy.runs().join("1").join("unfinished.json").exists());
    assert_eq!(copy.uploads().await, 0);
    println!(
        "stopped in {took:?}, test done {:?} after the start",
        started.elapsed()
    );
}

/// SIGKILL: the runner leaves its tasks and uploads; returns the copy, its run
/// directory and the processes left.
async fn killed(tag: &str) -> (Copy, PathBuf, Vec<String>) {
    let copy = Copy::new(tag, "KILL").await;
    let child = copy.spawn("1");
    fired(&copy).await;
    let (status, stderr, _) = finish(child, Duration::from_secs(30)).await;
    assert_eq!(status, None, "killed by the signal:\n{stderr}");
    let run_dir = copy.runs().join("1");
    assert!(
        run_dir.join("unfinished.json").exists(),
        "the dead run's marker stays"
    );
    // The held task is still waiting for its answer: the dead runner could not stop it.
    let left = processes_under(&run_dir);
    assert!(!left.is_empty(), "no task outlived the runner");
    (copy, run_dir, left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_sigkill_rsync_cleanup_stops_the_tasks_and_leaves_no_upload() {
    let (copy, run_dir, _) = killed("sigkill-cleanup").await;
    // The dead run is listed as unfinished, with its clean-up still to do.
    let listed = copy.listed().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "unfinished", "{}", listed[0]);
    assert_eq!(listed[0]["needs_cleanup"], true, "{}", listed[0]);
    let cleaned = copy.cleanup(&run_dir).await;
    let left = processes_under(&copy.runs());
    copy.release.store(true, Ordering::SeqCst);
    assert_eq!(cleaned.code, 0, "{}", cleaned.stderr);
    assert!(left.is_empty(), "task processes left: {left:?}");
    assert!(
        cleaned.stderr.contains("stopped ") && cleaned.stderr.contains("task process(es)"),
        "{}",
        cleaned.stderr
    );
    assert_eq!(copy.uploads().await, 0, "{}", cleaned.stderr);
    assert_eq!(attempt_tmp_dirs(&run_dir), Vec::<PathBuf>::new());
    assert!(!run_dir.join("unfinished.json").exists());
    let listed = copy.listed().await;
    assert_eq!(listed[0]["state"], "unfinished", "{}", listed[0]);
    assert_eq!(listed[0]["needs_cleanup"], false, "{}", listed[0]);
    assert_eq!(listed[0]["cleaned_up"], true, "{}", listed[0]);
    // Done is done: a second clean-up finds nothing to do.
    let again = copy.cleanup(&run_dir).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("nothing to clean up"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_sigkill_the_next_run_of_the_job_cleans_up_and_copies_everything() {
    let (copy, run_dir, _) = killed("sigkill-rerun").await;
    let rerun = copy.rerun("2").await;
    copy.release.store(true, Ordering::SeqCst);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(
        rerun.stderr.contains("cleaning up the unfinished run"),
        "{}",
        rerun.stderr
    );
    assert!(processes_under(&copy.runs()).is_empty());
    assert!(!run_dir.join("unfinished.json").exists());
    for object in &copy.objects {
        assert_same_object(&copy.client, &copy.src, &copy.dst, &object.key).await;
    }
    assert_eq!(copy.uploads().await, 0, "{}", rerun.stderr);
    // The dead run, cleaned up by the next one, and the next one, finished.
    let listed = copy.listed().await;
    let states: Vec<(&str, &str, bool)> = listed
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default(),
                r["state"].as_str().unwrap_or_default(),
                r["cleaned_up"] == true,
            )
        })
        .collect();
    assert_eq!(
        states,
        [("1", "unfinished", true), ("2", "finished", false)],
        "{listed:?}"
    );
}
