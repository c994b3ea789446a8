//! `campanile-bench hadoop`: the same copy plan on the embedded local runner and on the
//! single-node Hadoop cluster of `scripts/hadoop-cluster` (real HDFS, YARN and
//! MapReduce on 127.0.0.1), in one run against one Garage server (LMDB): objects/s
//! of each runner on a bucket of small objects, and each runner's per-job overhead,
//! read as the wall time of the same job on a bucket of one object.
//!
//! Both runners get the same plan: the same part file, `--lines-per-map`, profiles
//! and the same release task binaries (staged into a code bucket for the cluster, as
//! `campanile-stage` does for EMR). Runs alternate between the runners; each copies
//! into a fresh destination bucket, which is then checked to hold every source key.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use campanile_testkit::S3Server;

use crate::measure::{measure, median};
use crate::scale;

/// Options of the benchmark.
#[derive(Debug, Clone)]
pub struct HadoopOptions {
    /// Small objects of the throughput job.
    pub objects: u64,
    /// Bytes per object.
    pub object_size: usize,
    /// Runs of each runner on each job.
    pub runs: usize,
    /// Records per map task, on both runners (`rsync --lines-per-map`).
    pub lines_per_map: u64,
    /// State directory of the cluster (`scripts/hadoop-cluster --dir`).
    pub cluster_dir: PathBuf,
}

/// The repository, for `scripts/hadoop-cluster` (the benchmark is never shipped).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One runner's measured runs of one job.
#[derive(Default)]
struct Runs {
    seconds: Vec<f64>,
    complete: bool,
}

struct Setup {
    server: S3Server,
    garage_pid: u32,
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_s3::Client,
    bin: PathBuf,
    work: tempfile::TempDir,
    cluster: Vec<(String, String)>,
    code_bucket: String,
    lines_per_map: u64,
    next: std::cell::Cell<u32>,
}

impl Setup {
    fn boto(&self) -> PathBuf {
        self.work.path().join(".boto")
    }

    fn fresh(&self, tag: &str) -> String {
        let n = self.next.get() + 1;
        self.next.set(n);
        format!("{tag}-{n}-{}", std::process::id())
    }

    /// `rsync` from `src` into a new bucket on `runner` ("local" or "hadoop"); its wall
    /// seconds and whether the destination holds every key of `src`.
    fn copy(&self, runner: &str, src: &str, objects: u64) -> (f64, bool) {
        let dst = self.fresh("bench-dst");
        self.runtime
            .block_on(self.server.create_bucket(&self.client, &dst));
        let uuid = self.fresh("run");
        let lines = self.lines_per_map.to_string();
        let mut command = Command::new(self.bin.join("rsync"));
        command
            .env("BOTO_CONFIG", self.boto())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["--src-bucket", src, "--dst-bucket", &dst])
            .args(["--src-endpoint", &self.server.endpoint])
            .args(["--dst-endpoint", &self.server.endpoint])
            .args(["--src-profile", "garage", "--dst-profile", "garage"])
            .args(["--uuid", &uuid, "--lines-per-map", &lines, "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if runner == "hadoop" {
            for (name, value) in &self.cluster {
                command.env(name, value);
            }
            command
                .arg("--hadoop")
                .args(["--input", &format!("s3://{}/input/part", self.code_bucket)])
                .args(["--code", &format!("s3://{}/campanile", self.code_bucket)])
                .args([
                    "--output",
                    &format!("s3://{}/output/{uuid}", self.code_bucket),
                ])
                .args(["--task-slots", "2"]);
        } else {
            let run_dir = self.work.path().join("runs");
            command
                .arg("--input")
                .arg(self.work.path().join("part"))
                .arg("--run-dir")
                .arg(&run_dir)
                .arg("--output")
                .arg(self.work.path().join("output").join(&uuid));
        }
        let measured = measure(command, Some(self.garage_pid)).expect("run rsync");
        let copied = self.runtime.block_on(async {
            let listed = campanile_testkit::fixtures::list_objects(&self.client, &dst)
                .await
                .len() as u64;
            scale::empty_bucket(&self.client, &dst).await;
            listed
        });
        eprintln!(
            "hadoop bench: {runner}, {objects} objects: {:.1} s, exit ok {}, {copied} copied",
            measured.seconds, measured.success
        );
        (measured.seconds, measured.success && copied == objects)
    }
}

/// Loads the buckets, starts the cluster, runs both runners and prints the table.
pub fn run(bin: &Path, options: &HadoopOptions) {
    let (server, garage) = scale::garage_lmdb();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = runtime.block_on(server.client());
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        work.path().join(".boto"),
        format!(
            "[profile garage]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            server.access_key, server.secret_key
        ),
    )
    .expect("write .boto");
    let part: String = (0..16).map(|d| format!(",{d:x}\n")).collect();
    std::fs::write(work.path().join("part"), &part).expect("part file");
    let (many, one, code_bucket) = ("bench-many", "bench-one", "bench-code");
    runtime.block_on(async {
        for bucket in [many, one, code_bucket] {
            server.create_bucket(&client, bucket).await;
        }
        scale::load_tiny(&client, many, options.objects, options.object_size, 128).await;
        scale::load_tiny(&client, one, 1, options.object_size, 1).await;
        campanile_testkit::fixtures::put_object(
            &client,
            code_bucket,
            "input/part",
            part.into_bytes(),
        )
        .await;
    });
    eprintln!(
        "hadoop bench: starting the cluster in {}",
        options.cluster_dir.display()
    );
    let cluster = campanile_testkit::hadoop::start(&repo_root(), &options.cluster_dir, &server);
    let staged = Command::new(bin.join("campanile-stage"))
        .envs(server.command_env())
        .args(["--code", &format!("s3://{code_bucket}/campanile")])
        .arg("--credentials")
        .arg(work.path().join(".boto"))
        .arg("--bin-dir")
        .arg(bin)
        .args(["--endpoint", &server.endpoint, "--no-public-access-check"])
        .stdout(Stdio::null())
        .status()
        .expect("run campanile-stage");
    assert!(staged.success(), "campanile-stage failed");
    let mut garage = garage;
    let setup = Setup {
        garage_pid: garage.id(),
        server,
        runtime,
        client,
        bin: bin.to_path_buf(),
        work,
        cluster,
        code_bucket: code_bucket.to_string(),
        lines_per_map: options.lines_per_map,
        next: std::cell::Cell::new(0),
    };
    let runners = ["local", "hadoop"];
    let jobs = [(many, options.objects), (one, 1)];
    let mut results: Vec<Vec<Runs>> = jobs
        .iter()
        .map(|_| {
            runners
                .iter()
                .map(|_| Runs {
                    complete: true,
                    ..Runs::default()
                })
                .collect()
        })
        .collect();
    for run in 0..options.runs {
        for (j, (bucket, objects)) in jobs.iter().enumerate() {
            for i in 0..runners.len() {
                // Alternate which runner goes first, so that neither always meets a
                // server fresh from the other's run.
                let r = (i + run) % runners.len();
                let (seconds, complete) = setup.copy(runners[r], bucket, *objects);
                results[j][r].seconds.push(seconds);
                results[j][r].complete &= complete;
            }
        }
    }
    let n = options.objects as f64;
    println!(
        "Garage 2.5.0 (LMDB) on 127.0.0.1; {} objects of {} B; {} run(s) per runner, median (min–max); --lines-per-map {} on both runners.\n",
        options.objects, options.object_size, options.runs, options.lines_per_map
    );
    println!(
        "| runner | {} objects: wall s | objects/s | one object: wall s (per-job overhead) | complete |",
        options.objects
    );
    println!("|---|---|---|---|---|");
    for (r, runner) in runners.iter().enumerate() {
        let (wall, low, high) = median(results[0][r].seconds.iter().copied());
        let (one, one_low, one_high) = median(results[1][r].seconds.iter().copied());
        let complete = results[0][r].complete && results[1][r].complete;
        println!(
            "| {} | {wall:.1} ({low:.1}–{high:.1}) | {:.0} | {one:.1} ({one_low:.1}–{one_high:.1}) | {} |",
            if *runner == "local" {
                "embedded local runner"
            } else {
                "Hadoop (single node: HDFS, YARN, MapReduce)"
            },
            n / wall,
            if complete { "yes" } else { "**no**" }
        );
    }
    let (local, _, _) = median(results[0][0].seconds.iter().copied());
    let (hadoop, _, _) = median(results[0][1].seconds.iter().copied());
    let (local_one, _, _) = median(results[1][0].seconds.iter().copied());
    let (hadoop_one, _, _) = median(results[1][1].seconds.iter().copied());
    println!(
        "\nlocal / Hadoop objects/s: {:.2}×; Hadoop's overhead over the local runner's per job: {:.1} s; Hadoop with its one-object time taken off: {:.0} objects/s",
        hadoop / local,
        hadoop_one - local_one,
        n / (hadoop - hadoop_one).max(1e-9)
    );
    let stopped = Command::new("bash")
        .arg(repo_root().join("scripts/hadoop-cluster"))
        .args(["stop", "--dir"])
        .arg(&options.cluster_dir)
        .status();
    if !stopped.is_ok_and(|s| s.success()) {
        eprintln!("hadoop bench: scripts/hadoop-cluster stop failed; stop it by hand");
    }
    let _ = garage.kill();
    let _ = garage.wait();
}
