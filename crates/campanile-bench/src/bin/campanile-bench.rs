//! campanile-bench: the copy-path benchmark. Run with release binaries:
//!
//! ```sh
//! cargo build --release -p campanile-cli -p campanile-bench && target/release/campanile-bench copy
//! ```
//!
//! On a local Garage server it measures (1) objects/s of the article's shell pipeline
//! on many small objects, against a baseline of the same pipeline with objectcopy
//! copying one object at a time; (2) MB/s and objectcopy's peak RSS on one large
//! multipart object with `maxtmpsize` 128 MiB; (3) the S3 requests the pipeline makes
//! per small object, counted from Garage's request log. Results go to stdout as a
//! markdown table; docs/benchmarks.md records them with the machine. `local` measures
//! the embedded local runner, `memory` the peak RSS of the tasks and the runner at
//! growing input sizes ([`campanile_bench::memory`]), `scale` an `rsync --local` of
//! many tiny objects ([`campanile_bench::scale`]).

#![allow(unsafe_code)] // wait4(2), to read the peak RSS of a finished child

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use campanile_bench::measure::median;
use campanile_testkit::{S3Server, ServerKind, fixtures, server};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// The copy path: small objects, one large object, requests per object.
    Copy {
        /// Number of small objects.
        #[arg(long, default_value_t = 2000)]
        objects: usize,
        /// Size of each small object.
        #[arg(long, default_value_t = 10 * 1024)]
        object_size: u64,
        /// Size of the large object, in MiB.
        #[arg(long, default_value_t = 1024)]
        large_mib: u64,
        /// Part size of the large object, in MiB.
        #[arg(long, default_value_t = 8)]
        part_mib: u64,
        /// Runs of each measurement (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Directory of the task binaries (default: next to this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// objectcopy's CPU and page faults per GiB of one large object: by default (the
    /// server proves the writes, no client MD5), with `--client-md5`
    /// (`CAMPANILE_CLIENT_MD5`), and with the MD5 and no buffer pool
    /// (`CAMPANILE_BUFFER_POOL=off`), in turns; and this machine's MD5 and CRC64NVME
    /// seconds per GiB.
    Pool {
        /// Size of the large object, in MiB.
        #[arg(long, default_value_t = 1024)]
        large_mib: u64,
        /// Part size of the large object, in MiB.
        #[arg(long, default_value_t = 8)]
        part_mib: u64,
        /// Runs of each variant (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Directory of the task binaries (default: next to this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// rsync --local: many small objects, a few large ones, per-task overhead.
    Local {
        /// Number of small objects.
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        /// Number of large objects (256 MiB in 8 MiB parts).
        #[arg(long, default_value_t = 4)]
        large: u64,
        /// Runs of each measurement (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Directory of the task binaries (default: next to this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// Peak RSS of each task and of the local runner at growing input sizes, on
    /// synthetic inputs (no S3 server).
    Memory {
        /// Input records, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [100_000u64, 1_000_000, 10_000_000])]
        sizes: Vec<u64>,
        /// The local runner's sort memory in MiB (rsync --sort-memory-mb).
        #[arg(long, default_value_t = 64)]
        sort_memory_mb: usize,
        /// Directory of the task binaries (default: next to this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// rsync --local of many tiny objects on Garage: objects/s and peak RSS.
    Scale {
        /// Objects to load and copy.
        #[arg(long, default_value_t = 1_000_000)]
        objects: u64,
        /// Bytes per object.
        #[arg(long, default_value_t = 100)]
        object_size: usize,
        /// PUTs in flight while loading.
        #[arg(long, default_value_t = 128)]
        load_concurrency: usize,
        /// More rsync arguments (e.g. --rsync-arg=--parallel=4).
        #[arg(long = "rsync-arg", allow_hyphen_values = true)]
        rsync_args: Vec<String>,
        /// Directory of the task binaries (default: next to this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// The same copy plan on the local runner and on the Hadoop cluster of
    /// scripts/hadoop-cluster: objects/s and per-job overhead of each.
    Hadoop {
        /// Small objects of the throughput job.
        #[arg(long, default_value_t = 10_000)]
        objects: u64,
        /// Bytes per object.
        #[arg(long, default_value_t = 10_240)]
        object_size: usize,
        /// Runs of each runner on each job.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Records per map task on both runners (rsync --lines-per-map).
        #[arg(long, default_value_t = 2_500)]
        lines_per_map: u64,
        /// The cluster's state directory (scripts/hadoop-cluster --dir).
        #[arg(long, default_value = "target/hadoop-cluster")]
        cluster_dir: PathBuf,
        /// Directory of the task binaries (default: next to this one).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
    },
    /// Internal: one part of the local runner in this process, for `memory`.
    #[command(hide = true)]
    Probe {
        /// What and its arguments.
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

struct Pipeline<'a> {
    bin: &'a Path,
    server: &'a S3Server,
    config: &'a Path,
    /// Environment for objectcopy alone.
    copy_env: Vec<(&'static str, &'static str)>,
}

/// What one pipeline run measured.
struct Measured {
    seconds: f64,
    objectcopy_peak_rss_kib: i64,
    /// objectcopy's user + system CPU seconds.
    objectcopy_cpu_seconds: f64,
    /// objectcopy's minor page faults.
    objectcopy_minor_faults: i64,
}

impl Pipeline<'_> {
    fn command(&self, name: &str) -> Command {
        let mut command = Command::new(self.bin.join(name));
        for (key, value) in self.server.command_env() {
            command.env(key, value);
        }
        command.stderr(Stdio::null());
        command
    }

    /// bucketlist | multipartlist | objectcopy | multipartcomplete, as real pipes.
    fn run(&self, src: &str, dst: &str, part_file: &Path, copy_concurrency: usize) -> Measured {
        let endpoint = &self.server.endpoint;
        let sides = [
            "--src-bucket",
            src,
            "--src-endpoint",
            endpoint,
            "--dst-bucket",
            dst,
            "--dst-endpoint",
            endpoint,
        ];
        let started = Instant::now();
        let mut list = self
            .command("bucketlist")
            .args(["--bucket", src, "--endpoint", endpoint])
            .stdin(std::fs::File::open(part_file).expect("part file"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("bucketlist");
        let mut plan = self
            .command("multipartlist")
            .args(sides)
            .stdin(Stdio::from(list.stdout.take().expect("pipe")))
            .stdout(Stdio::piped())
            .spawn()
            .expect("multipartlist");
        let mut copy = self
            .command("objectcopy")
            .args(sides)
            .args(["--config", &self.config.display().to_string()])
            .args(["--concurrency", &copy_concurrency.to_string()])
            .envs(self.copy_env.iter().copied())
            .stdin(Stdio::from(plan.stdout.take().expect("pipe")))
            .stdout(Stdio::piped())
            .spawn()
            .expect("objectcopy");
        let mut complete = self
            .command("multipartcomplete")
            .args(["--bucket", dst, "--endpoint", endpoint])
            .stdin(Stdio::from(copy.stdout.take().expect("pipe")))
            .stdout(Stdio::null())
            .spawn()
            .expect("multipartcomplete");
        let mut usage = None;
        for (name, child) in [
            ("bucketlist", &mut list),
            ("multipartlist", &mut plan),
            ("objectcopy", &mut copy),
            ("multipartcomplete", &mut complete),
        ] {
            let (ok, used) = wait_with_rusage(child);
            assert!(ok, "{name} failed");
            if name == "objectcopy" {
                usage = Some(used);
            }
        }
        let usage = usage.expect("objectcopy waited for");
        let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Measured {
            seconds: started.elapsed().as_secs_f64(),
            objectcopy_peak_rss_kib: usage.ru_maxrss,
            objectcopy_cpu_seconds: cpu(usage.ru_utime) + cpu(usage.ru_stime),
            objectcopy_minor_faults: usage.ru_minflt,
        }
    }
}

/// Waits for a child and returns (success, its resource usage).
fn wait_with_rusage(child: &mut Child) -> (bool, libc::rusage) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: rusage is plain data, zero is a valid value; wait4 writes into both.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, usage)
}

/// A campanile.cfg in `dir`: maxtmpsize 128 MiB, spilling into `dir`.
fn write_config(dir: &Path) -> PathBuf {
    let config = dir.join("campanile.cfg");
    std::fs::write(
        &config,
        format!(
            "[DEFAULT]\nmaxtmpsize={}\nephemeral={}\n",
            128 * 1024 * 1024,
            dir.display()
        ),
    )
    .expect("config");
    config
}

fn binaries(bin_dir: Option<PathBuf>) -> PathBuf {
    bin_dir.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    })
}

fn main() -> ExitCode {
    let (objects, object_size, large_mib, part_mib, runs, bin_dir) = match Cli::parse().command {
        Bench::Copy {
            objects,
            object_size,
            large_mib,
            part_mib,
            runs,
            bin_dir,
        } => (objects, object_size, large_mib, part_mib, runs, bin_dir),
        Bench::Local {
            objects,
            large,
            runs,
            bin_dir,
        } => return local_bench(objects, large, runs, &binaries(bin_dir)),
        Bench::Memory {
            sizes,
            sort_memory_mb,
            bin_dir,
        } => {
            campanile_bench::memory::run(&binaries(bin_dir), &sizes, sort_memory_mb);
            return ExitCode::SUCCESS;
        }
        Bench::Scale {
            objects,
            object_size,
            load_concurrency,
            rsync_args,
            bin_dir,
        } => {
            let options = campanile_bench::scale::ScaleOptions {
                objects,
                object_size,
                load_concurrency,
                rsync_args,
            };
            campanile_bench::scale::run(&binaries(bin_dir), &options);
            return ExitCode::SUCCESS;
        }
        Bench::Pool {
            large_mib,
            part_mib,
            runs,
            bin_dir,
        } => {
            pool_bench(large_mib, part_mib, runs, &binaries(bin_dir));
            return ExitCode::SUCCESS;
        }
        Bench::Hadoop {
            objects,
            object_size,
            runs,
            lines_per_map,
            cluster_dir,
            bin_dir,
        } => {
            let options = campanile_bench::hadoop::HadoopOptions {
                objects,
                object_size,
                runs,
                lines_per_map,
                cluster_dir,
            };
            campanile_bench::hadoop::run(&binaries(bin_dir), &options);
            return ExitCode::SUCCESS;
        }
        Bench::Probe { args } => {
            return match campanile_bench::memory::probe(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("probe: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    let bin = binaries(bin_dir);
    let work = tempfile::tempdir().expect("tempdir");
    let config = write_config(work.path());
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // 1 and 2: timing on a quiet server.
    let (server, _garage) = server::launch(ServerKind::Garage).expect("start Garage");
    let pipeline = Pipeline {
        bin: &bin,
        server: &server,
        config: &config,
        copy_env: Vec::new(),
    };
    let small_src = "bench-small";
    let large_src = "bench-large";
    runtime.block_on(async {
        let client = server.client().await;
        server.create_bucket(&client, small_src).await;
        let small: Vec<fixtures::FixtureObject> = (0..objects)
            .map(|i| fixtures::FixtureObject::whole(format!("{:02x}/{i:06}", i % 256), object_size))
            .collect();
        fixtures::upload_all(&client, small_src, &small).await;
        server.create_bucket(&client, large_src).await;
        upload_large_as(&client, large_src, "large", large_mib, part_mib).await;
    });
    let mut small_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    let mut large_runs = Vec::new();
    let mut large_rss = 0;
    for run in 0..runs {
        // Alternate the configurations so that drift affects both alike.
        for (concurrency, out) in [(16, &mut small_runs), (1, &mut baseline_runs)] {
            let dst = format!("bench-small-dst-{run}-{concurrency}");
            runtime.block_on(async {
                let client = server.client().await;
                server.create_bucket(&client, &dst).await;
            });
            out.push(
                pipeline
                    .run(small_src, &dst, &part_file, concurrency)
                    .seconds,
            );
        }
        let dst = format!("bench-large-dst-{run}");
        runtime.block_on(async {
            let client = server.client().await;
            server.create_bucket(&client, &dst).await;
        });
        let measured = pipeline.run(large_src, &dst, &part_file, 16);
        large_rss = large_rss.max(measured.objectcopy_peak_rss_kib);
        large_runs.push(measured.seconds);
    }

    // 3: requests per small object, on a server that logs every request.
    let (logged, _logged_garage) = server::launch_with(
        ServerKind::Garage,
        &server::GarageSettings {
            log_requests: true,
            ..Default::default()
        },
    )
    .expect("start Garage");
    let counted = 200;
    runtime.block_on(async {
        let client = logged.client().await;
        server_setup(&logged, &client, counted, object_size).await;
    });
    let log = logged.dir.clone().expect("dir").join("garage.log");
    let before = count_endpoints(&log);
    Pipeline {
        bin: &bin,
        server: &logged,
        config: &config,
        copy_env: Vec::new(),
    }
    .run("count-src", "count-dst", &part_file, 16);
    std::thread::sleep(Duration::from_millis(200)); // let the log reach the file
    let after = count_endpoints(&log);
    let per_object = |op: &str| {
        (after.get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0)) as f64
            / counted as f64
    };

    let (small, small_min, small_max) = median(small_runs);
    let (base, base_min, base_max) = median(baseline_runs);
    let (large, large_min, large_max) = median(large_runs);
    let large_mb = (large_mib * 1024 * 1024) as f64 / 1e6;
    println!("| measurement | median | range ({runs} runs) |");
    println!("|---|---|---|");
    println!(
        "| {objects} x {} KiB objects, pipeline, objectcopy --concurrency 16 | {:.0} objects/s | {:.0}-{:.0} |",
        object_size / 1024,
        objects as f64 / small,
        objects as f64 / small_max,
        objects as f64 / small_min
    );
    println!(
        "| same, baseline objectcopy --concurrency 1 | {:.0} objects/s | {:.0}-{:.0} |",
        objects as f64 / base,
        objects as f64 / base_max,
        objects as f64 / base_min
    );
    println!(
        "| ratio concurrency 16 / baseline | {:.2}x | |",
        base / small
    );
    println!(
        "| one {large_mib} MiB object in {part_mib} MiB parts | {:.0} MB/s | {:.0}-{:.0} |",
        large_mb / large,
        large_mb / large_max,
        large_mb / large_min
    );
    println!(
        "| objectcopy peak RSS on it (maxtmpsize 128 MiB) | {:.1} MiB | max of runs |",
        large_rss as f64 / 1024.0
    );
    for op in ["GetObject", "PutObject", "HeadObject"] {
        println!(
            "| {op} requests per small object ({counted} objects) | {:.2} | |",
            per_object(op)
        );
    }
    ExitCode::SUCCESS
}

async fn server_setup(server: &S3Server, client: &aws_sdk_s3::Client, count: usize, size: u64) {
    server.create_bucket(client, "count-src").await;
    server.create_bucket(client, "count-dst").await;
    let objects: Vec<fixtures::FixtureObject> = (0..count)
        .map(|i| fixtures::FixtureObject::whole(format!("c/{i:05}"), size))
        .collect();
    fixtures::upload_all(client, "count-src", &objects).await;
}

fn count_endpoints(log: &Path) -> std::collections::HashMap<String, i64> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((_, op)) = line.split_once("Endpoint: ") {
            *counts.entry(op.trim().to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// rsync --local against the shell pipeline, on the same server and data.
fn local_bench(objects: usize, large: u64, runs: usize, bin: &Path) -> ExitCode {
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let config = write_config(work.path());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (server, _garage) = server::launch(ServerKind::Garage).expect("start Garage");
    runtime.block_on(async {
        let client = server.client().await;
        server.create_bucket(&client, "local-small").await;
        let small: Vec<fixtures::FixtureObject> = (0..objects)
            .map(|i| fixtures::FixtureObject::whole(format!("{:02x}/{i:06}", i % 256), 10 * 1024))
            .collect();
        fixtures::upload_all(&client, "local-small", &small).await;
        server.create_bucket(&client, "local-large").await;
        for n in 0..large {
            upload_large_as(&client, "local-large", &format!("large-{n}"), 256, 8).await;
        }
    });
    let rsync = |src: &str, dst: &str, uuid: &str, extra: &[&str]| -> f64 {
        runtime.block_on(async {
            let client = server.client().await;
            server.create_bucket(&client, dst).await;
        });
        let mut command = Command::new(bin.join("rsync"));
        for (key, value) in server.command_env() {
            command.env(key, value);
        }
        command
            .args(["--input", &part_file.display().to_string()])
            .args(["--src-bucket", src, "--dst-bucket", dst])
            .args([
                "--src-endpoint",
                &server.endpoint,
                "--dst-endpoint",
                &server.endpoint,
            ])
            .args(["--run-dir", &work.path().join("runs").display().to_string()])
            .args(["--output", &work.path().join("out").display().to_string()])
            .args(["--uuid", uuid, "--quiet"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let status = command.status().expect("rsync");
        assert!(status.success(), "rsync {uuid} failed");
        started.elapsed().as_secs_f64()
    };
    let pipeline = Pipeline {
        bin,
        server: &server,
        config: &config,
        copy_env: Vec::new(),
    };
    let (mut local_small, mut local_big_splits, mut piped, mut local_large) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        local_small.push(rsync(
            "local-small",
            &format!("ls-{run}"),
            &format!("s{run}"),
            &[],
        ));
        local_big_splits.push(rsync(
            "local-small",
            &format!("lb-{run}"),
            &format!("b{run}"),
            &["--lines-per-map", "1000"],
        ));
        let dst = format!("lp-{run}");
        runtime.block_on(async {
            let client = server.client().await;
            server.create_bucket(&client, &dst).await;
        });
        piped.push(pipeline.run("local-small", &dst, &part_file, 16).seconds);
        local_large.push(rsync(
            "local-large",
            &format!("ll-{run}"),
            &format!("l{run}"),
            &[],
        ));
    }
    // Per-task overhead: a task binary on empty input (process start, argument parsing,
    // client set-up, runtime), timed alone.
    let mut overhead = Vec::new();
    for _ in 0..20 {
        let mut command = Command::new(bin.join("objectcopy"));
        for (key, value) in server.command_env() {
            command.env(key, value);
        }
        command
            .args(["--src-bucket", "local-small", "--dst-bucket", "ls-0"])
            .args([
                "--src-endpoint",
                &server.endpoint,
                "--dst-endpoint",
                &server.endpoint,
            ])
            .args(["--config", &config.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        assert!(command.status().expect("objectcopy").success());
        overhead.push(started.elapsed().as_secs_f64());
    }
    let (small, small_min, small_max) = median(local_small);
    let (big, big_min, big_max) = median(local_big_splits);
    let (pipe, pipe_min, pipe_max) = median(piped);
    let (largest, large_min, large_max) = median(local_large);
    let (task, _, _) = median(overhead);
    let n = objects as f64;
    let bytes = (large * 256 * 1024 * 1024) as f64 / 1e6;
    // The copy tasks rsync --local makes by default: the plan's 10 records per task,
    // merged into at most MAP_WAVES waves of the default parallelism.
    let parallel = campanile::plan::local::LocalSettings::default().parallel;
    let copy_lines = campanile::plan::local::job::local_lines_per_map(10, objects as u64, parallel);
    let copy_tasks = (objects as u64).div_ceil(copy_lines);
    println!("| measurement | median | range ({runs} runs) |");
    println!("|---|---|---|");
    println!(
        "| rsync --local, {objects} x 10 KiB (default splits: {copy_tasks} copy tasks of {copy_lines}) | {:.0} objects/s | {:.0}-{:.0} |",
        n / small,
        n / small_max,
        n / small_min
    );
    println!(
        "| rsync --local --lines-per-map 1000 | {:.0} objects/s | {:.0}-{:.0} |",
        n / big,
        n / big_max,
        n / big_min
    );
    println!(
        "| baseline: the shell pipeline, objectcopy --concurrency 16 | {:.0} objects/s | {:.0}-{:.0} |",
        n / pipe,
        n / pipe_max,
        n / pipe_min
    );
    println!(
        "| ratio rsync --local / pipeline | {:.2}x (with --lines-per-map 1000: {:.2}x) | |",
        pipe / small,
        pipe / big
    );
    println!(
        "| rsync --local, {large} x 256 MiB (8 MiB parts) | {:.0} MB/s | {:.0}-{:.0} |",
        bytes / largest,
        bytes / large_max,
        bytes / large_min
    );
    println!(
        "| per-task overhead (objectcopy on empty input: start, client set-up) | {:.1} ms | median of 20 |",
        task * 1000.0
    );
    println!(
        "| share of the small-object run spent on task overhead ({copy_tasks} copy tasks / {parallel} at once) | {:.1}% | estimate |",
        100.0 * copy_tasks as f64 * task / parallel as f64 / small
    );
    ExitCode::SUCCESS
}

/// Seconds this machine takes to hash one GiB with `hash` (on one core): the median
/// of 3 passes over 16 x 64 MiB of fixture bytes.
fn seconds_per_gib(hash: impl Fn(&[u8]) -> Vec<u8>) -> f64 {
    let block = fixtures::fixture_bytes("hash-speed", 64 * 1024 * 1024);
    let mut passes = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..16 {
            std::hint::black_box(hash(std::hint::black_box(&block)));
        }
        passes.push(started.elapsed().as_secs_f64());
    }
    median(passes).0
}

/// `campanile-bench pool`: one large object copied by the shell pipeline, objectcopy
/// by default (the server proves the writes), with `--client-md5` (the MD5 path) and
/// with the MD5 path and no buffer pool (`CAMPANILE_BUFFER_POOL=off`), in turns (which
/// goes first rotates); objectcopy's own CPU seconds and minor page faults per GiB
/// (wait4); then this machine's MD5 and CRC64NVME speed on one core.
fn pool_bench(large_mib: u64, part_mib: u64, runs: usize, bin: &Path) {
    let work = tempfile::tempdir().expect("tempdir");
    let config = write_config(work.path());
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (server, _garage) = server::launch(ServerKind::Garage).expect("start Garage");
    let src = "pool-src";
    runtime.block_on(async {
        let client = server.client().await;
        server.create_bucket(&client, src).await;
        upload_large_as(&client, src, "large", large_mib, part_mib).await;
    });
    let variants: [(&str, Vec<(&'static str, &'static str)>); 3] = [
        ("default (server checks)", Vec::new()),
        ("--client-md5", vec![("CAMPANILE_CLIENT_MD5", "true")]),
        (
            "--client-md5, no pool",
            vec![
                ("CAMPANILE_CLIENT_MD5", "true"),
                ("CAMPANILE_BUFFER_POOL", "off"),
            ],
        ),
    ];
    let count = variants.len();
    let mut results: Vec<Vec<Measured>> = (0..count).map(|_| Vec::new()).collect();
    for run in 0..runs {
        for step in 0..count {
            let which = (run + step) % count;
            let (name, env) = &variants[which];
            let dst = format!("pool-dst-{run}-{which}");
            runtime.block_on(async {
                let client = server.client().await;
                server.create_bucket(&client, &dst).await;
            });
            let pipeline = Pipeline {
                bin,
                server: &server,
                config: &config,
                copy_env: env.clone(),
            };
            let measured = pipeline.run(src, &dst, &part_file, 16);
            eprintln!(
                "run {run} {name}: {:.2} s, objectcopy {:.2} CPU-s, {} minor faults, peak RSS {:.1} MiB",
                measured.seconds,
                measured.objectcopy_cpu_seconds,
                measured.objectcopy_minor_faults,
                measured.objectcopy_peak_rss_kib as f64 / 1024.0
            );
            results[which].push(measured);
        }
    }
    let gib = large_mib as f64 / 1024.0;
    let names: Vec<String> = variants
        .iter()
        .map(|(name, _)| format!("{name}: median (range)"))
        .collect();
    println!(
        "| objectcopy, {large_mib} MiB object in {part_mib} MiB parts | {} |",
        names.join(" | ")
    );
    println!("|---|{}", "---|".repeat(count));
    type Metric = (&'static str, fn(&Measured) -> f64, usize);
    let metrics: [Metric; 3] = [
        ("CPU seconds per GiB", |m| m.objectcopy_cpu_seconds, 2),
        (
            "minor page faults per GiB",
            |m| m.objectcopy_minor_faults as f64,
            0,
        ),
        ("wall seconds per GiB", |m| m.seconds, 2),
    ];
    for (label, value, digits) in metrics {
        let cells: Vec<String> = results
            .iter()
            .map(|runs| {
                let (median, min, max) = median(runs.iter().map(|m| value(m) / gib));
                format!("{median:.digits$} ({min:.digits$}-{max:.digits$})")
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    let rss: Vec<String> = results
        .iter()
        .map(|runs| {
            let peak = runs
                .iter()
                .map(|m| m.objectcopy_peak_rss_kib)
                .max()
                .unwrap_or(0);
            format!("{:.1} MiB", peak as f64 / 1024.0)
        })
        .collect();
    println!(
        "| objectcopy peak RSS (wait4, max of runs) | {} |",
        rss.join(" | ")
    );
    let md5 = seconds_per_gib(|data| campanile::multipart::md5(data).to_vec());
    let crc = seconds_per_gib(|data| campanile::checksum::Algorithm::Crc64Nvme.digest(data));
    println!();
    println!("| this machine, one core | seconds per GiB |");
    println!("|---|---|");
    println!("| MD5 (md-5, as objectcopy computes it) | {md5:.2} |");
    println!("| CRC64NVME (crc-fast, as objectcopy computes it) | {crc:.3} |");
}

/// Uploads a large multipart object under `key`, part by part (no whole copy in
/// memory).
async fn upload_large_as(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    mib: u64,
    part_mib: u64,
) {
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create");
    let upload_id = upload.upload_id().expect("id").to_string();
    let mut parts = Vec::new();
    for number in 1..=mib.div_ceil(part_mib) {
        let size = (part_mib.min(mib - (number - 1) * part_mib)) * 1024 * 1024;
        let data = fixtures::fixture_bytes(&format!("{key}-{number}"), size);
        let part = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .part_number(i32::try_from(number).expect("fits"))
            .body(aws_sdk_s3::primitives::ByteStream::from(data))
            .send()
            .await
            .expect("part");
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(i32::try_from(number).expect("fits"))
                .set_e_tag(part.e_tag().map(str::to_string))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
}
