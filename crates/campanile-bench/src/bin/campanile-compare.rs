//! campanile-compare: Campanile against s5cmd, rclone, the AWS CLI and s3sync on one
//! machine and one local Garage server. `bash scripts/bench` installs the peers and
//! runs it with release binaries; docs/benchmarks.md explains the workloads and keeps
//! the results.
//!
//! Each workload runs every tool `--runs` times, the order of the tools rotating from
//! run to run; each copy goes into a fresh destination bucket, is checked against the
//! source (every key there with its size: complete; every ETag equal: ETags kept), and
//! is measured: wall time, CPU seconds and peak summed RSS of the tool's process tree,
//! and the server's CPU seconds. The report is a markdown table (median and range)
//! with Campanile's ratios to each peer, and an SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use aws_sdk_s3::Client;
use campanile_bench::measure::{Measurement, measure, median};
use campanile_bench::scale;
use campanile_testkit::fixtures::{self, FixtureObject};
use campanile_testkit::{S3Server, ServerKind, server};
use clap::Parser;

/// Compare Campanile with the peers on a local Garage server.
#[derive(Debug, Parser)]
struct Cli {
    /// Runs of each tool on each workload (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Workloads to run: w1, w1x, w2, w3, w4, w5 (w5 is not in the default set: loading
    /// its million objects alone takes minutes).
    #[arg(long, value_delimiter = ',', default_value = "w1,w1x,w2,w3,w4")]
    workloads: Vec<String>,
    /// Objects of W5 (1 KiB each).
    #[arg(long, default_value_t = 1_000_000)]
    w5_objects: u64,
    /// Objects of W1, W1x and W4 (10 KiB each).
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Keys of W3.
    #[arg(long, default_value_t = 100_000)]
    list_keys: usize,
    /// Objects of W2 (256 MiB each, in 8 MiB parts).
    #[arg(long, default_value_t = 8)]
    large: usize,
    /// Directory of Campanile's release binaries (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where the peers are: a directory holding s5cmd, aws, rclone and s3sync (each
    /// optional; PATH is searched too).
    #[arg(long)]
    peers: Option<PathBuf>,
    /// Write the report (results.md) and chart (chart.svg) here too (results-sqlite.md
    /// and chart-sqlite.svg with `--garage-db sqlite`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Have Garage log every request, and print each run's requests by operation
    /// (slows the server down: for finding out, not for the figures).
    #[arg(long)]
    log_requests: bool,
    /// Run only these tools (names as in the tables, e.g. `--tools 'campanile,s5cmd cp'`);
    /// all when absent. For profiling one tool.
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// Garage's metadata engine: lmdb (Garage's default, and its faster one) or sqlite
    /// (as in the tests; a second server set-up, to check the ranking holds).
    #[arg(long, default_value = "lmdb")]
    garage_db: String,
    /// Extra arguments for every Campanile run (e.g. `--memory-mb=200`).
    #[arg(long, allow_hyphen_values = true)]
    campanile_args: Vec<String>,
}

/// Keys of the two "accounts" of the cross-account workloads: one may only read the
/// source, the other only read and write the destination.
const SRC_KEY: (&str, &str) = (
    "GK0000000000000000000005c1",
    "5c15c15c15c15c15c15c15c15c15c15c15c15c15c15c15c15c15c15c15c15c1",
);
const DST_KEY: (&str, &str) = (
    "GK0000000000000000000005d1",
    "5d15d15d15d15d15d15d15d15d15d15d15d15d15d15d15d15d15d15d15d15d1",
);

const SMALL_SIZE: u64 = 10 * 1024;
const MIB: u64 = 1024 * 1024;

struct Bench {
    server: S3Server,
    garage: PathBuf,
    config: PathBuf,
    garage_pid: u32,
    admin: Client,
    bins: PathBuf,
    peers: Option<PathBuf>,
    work: PathBuf,
    runtime: tokio::runtime::Runtime,
    buckets: std::cell::Cell<u32>,
    runs: std::cell::Cell<u32>,
    campanile_args: Vec<String>,
    /// What a workload's set-up found worth reporting (W5: how long loading took).
    notes: std::cell::RefCell<Vec<String>>,
}

/// One tool's result on one workload.
#[derive(Default)]
struct Row {
    runs: Vec<Measurement>,
    complete: bool,
    etags_kept: bool,
    note: String,
}

impl Bench {
    fn garage(&self, args: &[&str]) {
        let output = Command::new(&self.garage)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run garage");
        assert!(
            output.status.success(),
            "garage {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A new bucket the admin key owns; `readers` may read it, `writers` read and write.
    fn bucket(&self, tag: &str, readers: &[&str], writers: &[&str]) -> String {
        let n = self.buckets.get() + 1;
        self.buckets.set(n);
        let name = format!("bench-{tag}-{n}");
        self.garage(&["bucket", "create", &name]);
        self.garage(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            &name,
            "--key",
            &self.server.access_key,
        ]);
        for key in readers {
            self.garage(&["bucket", "allow", "--read", &name, "--key", key]);
        }
        for key in writers {
            self.garage(&["bucket", "allow", "--read", "--write", &name, "--key", key]);
        }
        name
    }

    fn peer(&self, name: &str) -> Option<PathBuf> {
        self.peers
            .as_ref()
            .map(|d| d.join(name))
            .filter(|p| p.is_file())
            .or_else(|| {
                std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|d| d.join(name))
                        .find(|p| p.is_file())
                })
            })
    }

    /// `(key, size, etag)` of every object of `bucket`.
    fn listing(&self, bucket: &str) -> BTreeMap<String, (i64, String)> {
        self.runtime
            .block_on(fixtures::list_objects(&self.admin, bucket))
            .iter()
            .map(|object| {
                (
                    object.key().unwrap_or_default().to_string(),
                    (
                        object.size().unwrap_or(0),
                        object.e_tag().unwrap_or_default().to_string(),
                    ),
                )
            })
            .collect()
    }

    /// A command with no inherited credentials.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            // rclone's SDK cannot load a CA bundle into its own transport, and the
            // server is plain http on loopback anyway.
            .env_remove("AWS_CA_BUNDLE")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.work.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("RCLONE_CONFIG", self.work.join("rclone.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    fn with_key(command: &mut Command, key: (&str, &str)) {
        command
            .env("AWS_ACCESS_KEY_ID", key.0)
            .env("AWS_SECRET_ACCESS_KEY", key.1);
    }

    fn rclone_remote(&self, command: &mut Command, name: &str, key: (&str, &str)) {
        let var = |field: &str| format!("RCLONE_CONFIG_{name}_{field}");
        command
            .env(var("TYPE"), "s3")
            .env(var("PROVIDER"), "Other")
            .env(var("ENDPOINT"), &self.server.endpoint)
            .env(var("REGION"), "us-east-1")
            .env(var("FORCE_PATH_STYLE"), "true")
            .env(var("ACCESS_KEY_ID"), key.0)
            .env(var("SECRET_ACCESS_KEY"), key.1);
    }

    fn admin_key(&self) -> (&str, &str) {
        (&self.server.access_key, &self.server.secret_key)
    }

    /// A new run id for Campanile.
    fn next_uuid(&self) -> String {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        format!("run{n}-{}", std::process::id())
    }

    /// Campanile's rsync on the local runner, as run `uuid`.
    fn campanile_as(
        &self,
        uuid: &str,
        src: &str,
        dst: &str,
        part_file: &Path,
        extra: &[&str],
    ) -> Command {
        let mut command = self.command(&self.bins.join("rsync"));
        command
            .arg("--input")
            .arg(part_file)
            .args(["--src-bucket", src, "--dst-bucket", dst])
            .args(["--src-endpoint", &self.server.endpoint])
            .args(["--dst-endpoint", &self.server.endpoint])
            .arg("--run-dir")
            .arg(self.work.join("runs"))
            .arg("--output")
            .arg(self.work.join("output"))
            .args(["--uuid", uuid])
            .arg("--quiet")
            .args(extra)
            .args(&self.campanile_args);
        command
    }

    /// Campanile's rsync on the local runner, as a new run.
    fn campanile(&self, src: &str, dst: &str, part_file: &Path, extra: &[&str]) -> Command {
        self.campanile_as(&self.next_uuid(), src, dst, part_file, extra)
    }

    /// Runs `command` with its stderr in `<work>/logs/<name>`; prints the log's tail
    /// when it fails.
    fn measure(&self, mut command: Command, name: &str) -> Measurement {
        let logs = self.work.join("logs");
        std::fs::create_dir_all(&logs).expect("logs dir");
        let log = logs.join(format!(
            "{}-{}.log",
            name.replace(' ', "_"),
            self.runs.get()
        ));
        command.stderr(std::fs::File::create(&log).expect("log file"));
        let measured = measure(command, Some(self.garage_pid)).expect("run the tool");
        if !measured.success {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "  {name} failed; last lines of {}:\n    {}",
                log.display(),
                lines[lines.len().saturating_sub(8)..].join("\n    ")
            );
        }
        measured
    }
}

/// How a workload's result is checked.
enum Check {
    /// The destination must hold the source's objects.
    Copy { src: String, dst: String },
    /// The tool's listing must hold this many keys.
    List { count: usize, output: PathBuf },
}

fn hex_keys(count: usize, prefix: &str) -> Vec<FixtureObject> {
    (0..count)
        .map(|i| FixtureObject::whole(format!("{prefix}{:x}{i:07}", i % 16), SMALL_SIZE))
        .collect()
}

/// The part file of the hex keys: one line per first hex digit.
fn hex_part_file(path: &Path) {
    let text: String = (0..16).map(|d| format!(",{d:x}\n")).collect();
    std::fs::write(path, text).expect("part file");
}

/// One tool of a workload: its name, and what makes a run's command and its check.
type Tool = (
    &'static str,
    Box<dyn Fn(&Bench, &str) -> Option<(Command, Check)>>,
);

/// The tools of a workload, in the order of the first run.
type Tools = Vec<Tool>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bins = cli.bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    });
    let (server, mut child) = server::launch_with(
        ServerKind::Garage,
        &server::GarageSettings {
            log_requests: cli.log_requests,
            db_engine: Some(cli.garage_db.clone()),
            ..Default::default()
        },
    )
    .expect("start Garage");
    let request_log = server.dir.clone().map(|d| d.join("garage.log"));
    let config = server.dir.clone().expect("garage dir").join("garage.toml");
    let garage = std::env::var_os("CAMPANILE_GARAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("garage"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let admin = runtime.block_on(server.client());
    let work = tempfile::tempdir().expect("work dir");
    std::fs::write(
        work.path().join("aws-config"),
        "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n",
    )
    .expect("aws config");
    std::fs::write(work.path().join("rclone.conf"), "").expect("rclone config");
    let boto = work.path().join("boto.cfg");
    std::fs::write(
        &boto,
        format!(
            "[profile src]\naws_access_key_id = {}\naws_secret_access_key = {}\n\
             [profile dst]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            SRC_KEY.0, SRC_KEY.1, DST_KEY.0, DST_KEY.1
        ),
    )
    .expect("boto");
    std::fs::set_permissions(&boto, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod boto");
    let bench = Bench {
        garage_pid: child.id(),
        server,
        garage,
        config,
        admin,
        bins,
        peers: cli.peers.clone(),
        work: work.path().to_path_buf(),
        runtime,
        buckets: std::cell::Cell::new(0),
        runs: std::cell::Cell::new(0),
        campanile_args: cli.campanile_args.clone(),
        notes: std::cell::RefCell::new(Vec::new()),
    };
    hex_part_file(&part_file_of(&bench));
    for (name, key) in [("bench-src", SRC_KEY), ("bench-dst", DST_KEY)] {
        bench.garage(&["key", "import", "--yes", "-n", name, key.0, key.1]);
    }
    let mut report = String::new();
    let _ = writeln!(
        report,
        "Garage 2.5.0 ({} metadata engine) on 127.0.0.1, {} run(s) per tool, median (min–max).\n",
        cli.garage_db, cli.runs
    );
    let mut chart: Vec<(String, Vec<(String, f64)>)> = Vec::new();
    for workload in &cli.workloads {
        let (title, unit, tools, amount) = match workload.as_str() {
            "w1" => w1(&bench, cli.objects),
            "w1x" => w1x(&bench, cli.objects),
            "w2" => w2(&bench, cli.large),
            "w3" => w3(&bench, cli.list_keys),
            "w4" => w4(&bench, cli.objects),
            "w5" => w5(&bench, cli.w5_objects),
            other => {
                eprintln!("unknown workload {other}");
                return ExitCode::from(2);
            }
        };
        eprintln!("{title}");
        let tools: Tools = tools
            .into_iter()
            .filter(|(name, _)| cli.tools.is_empty() || cli.tools.iter().any(|t| t == name))
            .collect();
        let mut rows: Vec<(&str, Row)> = tools
            .iter()
            .map(|(name, _)| {
                (
                    *name,
                    Row {
                        complete: true,
                        etags_kept: true,
                        ..Row::default()
                    },
                )
            })
            .collect();
        for run in 0..cli.runs {
            for i in 0..tools.len() {
                let at = (i + run) % tools.len();
                let (name, make) = &tools[at];
                let Some((command, check)) = make(&bench, name) else {
                    rows[at].1.note = "not installed".into();
                    continue;
                };
                let mut command = command;
                command.env("BOTO_CONFIG", &boto);
                let log_start = request_log
                    .as_ref()
                    .and_then(|l| std::fs::metadata(l).ok())
                    .map_or(0, |m| m.len());
                let measured = bench.measure(command, name);
                if cli.log_requests
                    && let Some(log) = &request_log
                {
                    eprintln!("    requests: {:?}", operations_since(log, log_start));
                }
                let (complete, etags) = verify(&bench, &check);
                eprintln!(
                    "  {name}: {:.2} s, ok={} complete={complete} etags={etags}",
                    measured.seconds, measured.success
                );
                let row = &mut rows[at].1;
                row.complete &= complete && measured.success;
                row.etags_kept &= etags;
                row.runs.push(measured);
                // The big workloads would fill the disk with a copy per run.
                if let Check::Copy { dst, .. } = &check
                    && (workload == "w2" || workload == "w5")
                {
                    bench
                        .runtime
                        .block_on(scale::empty_bucket(&bench.admin, dst));
                }
            }
        }
        let _ = writeln!(report, "### {title}\n");
        for note in bench.notes.borrow_mut().drain(..) {
            let _ = writeln!(report, "{note}\n");
        }
        let _ = writeln!(
            report,
            "| tool | wall s | {unit} | client CPU s | client peak RSS MiB | server CPU s | complete | ETags kept |\n|---|---|---|---|---|---|---|---|"
        );
        let mut rates = Vec::new();
        for (name, row) in &rows {
            if row.runs.is_empty() {
                let _ = writeln!(report, "| {name} | {} | | | | | | |", row.note);
                continue;
            }
            let (wall, low, high) = median(row.runs.iter().map(|m| m.seconds));
            let (cpu, _, _) = median(row.runs.iter().map(|m| m.cpu_seconds));
            let (rss, _, _) = median(row.runs.iter().map(|m| m.peak_rss_kib as f64 / 1024.0));
            let (server_cpu, _, _) = median(row.runs.iter().map(|m| m.server_cpu_seconds));
            let rate = amount / wall;
            rates.push((name.to_string(), rate));
            let yes = |b: bool| if b { "yes" } else { "**no**" };
            let _ = writeln!(
                report,
                "| {name} | {wall:.2} ({low:.2}–{high:.2}) | {rate:.0} | {cpu:.2} | {rss:.0} | {server_cpu:.2} | {} | {} |",
                yes(row.complete),
                yes(row.etags_kept)
            );
        }
        if workload == "w5" {
            let per_thousand: Vec<String> = rows
                .iter()
                .filter(|(_, row)| !row.runs.is_empty())
                .map(|(name, row)| {
                    let (cpu, _, _) = median(row.runs.iter().map(|m| m.cpu_seconds));
                    format!("{name} {:.2} s", cpu * 1000.0 / amount)
                })
                .collect();
            let _ = writeln!(
                report,
                "\nClient CPU per 1,000 objects: {}.",
                per_thousand.join(", ")
            );
        }
        let ours: Vec<&(String, f64)> = rates
            .iter()
            .filter(|(n, _)| n.starts_with("campanile"))
            .collect();
        let theirs: Vec<&(String, f64)> = rates
            .iter()
            .filter(|(n, _)| !n.starts_with("campanile"))
            .collect();
        if let Some(best) = ours.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
            let ratios: Vec<String> = theirs
                .iter()
                .map(|(n, r)| format!("{:.2}× {n}", best.1 / r))
                .collect();
            let _ = writeln!(report, "\n{} ({}): {}\n", best.0, unit, ratios.join(", "));
        }
        chart.push((title.to_string(), rates));
    }
    let svg = svg_chart(&chart);
    println!("{report}");
    if let Some(out) = &cli.out {
        std::fs::create_dir_all(out).expect("out dir");
        // The default set-up writes results.md; another engine gets its own files.
        let suffix = if cli.garage_db == "lmdb" {
            String::new()
        } else {
            format!("-{}", cli.garage_db)
        };
        std::fs::write(out.join(format!("results{suffix}.md")), &report).expect("write results");
        std::fs::write(out.join(format!("chart{suffix}.svg")), svg).expect("write chart");
    }
    let _ = child.kill();
    let _ = child.wait();
    ExitCode::SUCCESS
}

fn verify(bench: &Bench, check: &Check) -> (bool, bool) {
    match check {
        Check::Copy { src, dst } => {
            let (source, copied) = (bench.listing(src), bench.listing(dst));
            let complete = source
                .iter()
                .all(|(k, (size, _))| copied.get(k).is_some_and(|(s, _)| s == size));
            let etags = source
                .iter()
                .all(|(k, (_, etag))| copied.get(k).is_some_and(|(_, e)| e == etag));
            (complete, etags)
        }
        Check::List { count, output } => {
            let lines = line_count(output);
            (lines == *count, true)
        }
    }
}

/// Requests by operation in Garage's log after byte `start`.
fn operations_since(log: &Path, start: u64) -> BTreeMap<String, u64> {
    let bytes = std::fs::read(log).unwrap_or_default();
    let text =
        String::from_utf8_lossy(&bytes[usize::try_from(start).unwrap_or(0).min(bytes.len())..]);
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if let Some((_, operation)) = line.split_once("Endpoint: ") {
            *counts.entry(operation.trim().to_string()).or_insert(0) += 1;
        }
    }
    counts
}

fn line_count(path: &Path) -> usize {
    if path.is_dir() {
        return std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with(['_', '.']))
                    .map(|e| line_count(&e.path()))
                    .sum()
            })
            .unwrap_or(0);
    }
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn load(bench: &Bench, bucket: &str, objects: &[FixtureObject]) {
    eprintln!("loading {} objects into {bucket}", objects.len());
    bench
        .runtime
        .block_on(fixtures::upload_all(&bench.admin, bucket, objects));
}

/// Builds a tool's command from the source and destination bucket names.
type Make = fn(&Bench, &str, &str) -> Option<Command>;

/// A copying tool: each run copies `src` into a fresh destination bucket that
/// `writers` may write (besides the admin key).
fn copy_tool(
    name: &'static str,
    src: &str,
    tag: &'static str,
    writers: &'static [&'static str],
    make: Make,
) -> Tool {
    let src = src.to_string();
    let run = move |b: &Bench, _: &str| {
        let dst = b.bucket(tag, &[], writers);
        let command = make(b, &src, &dst)?;
        Some((
            command,
            Check::Copy {
                src: src.clone(),
                dst,
            },
        ))
    };
    (name, Box::new(run))
}

/// A tool run again and again from `src` into the same `dst`.
fn sync_tool(name: &'static str, src: &str, dst: &str, make: Make) -> Tool {
    let (src, dst) = (src.to_string(), dst.to_string());
    let run = move |b: &Bench, _: &str| {
        let command = make(b, &src, &dst)?;
        Some((
            command,
            Check::Copy {
                src: src.clone(),
                dst: dst.clone(),
            },
        ))
    };
    (name, Box::new(run))
}

/// The W1 source's part file (16 prefixes), for Campanile's runs.
fn part_file_of(b: &Bench) -> PathBuf {
    b.work.join("hex.part")
}

fn campanile_same_account(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    let mut command = b.campanile(src, dst, &part_file_of(b), &[]);
    Bench::with_key(&mut command, b.admin_key());
    Some(command)
}

fn campanile_server_side(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    let mut command = b.campanile(src, dst, &part_file_of(b), &["--server-side-copy"]);
    Bench::with_key(&mut command, b.admin_key());
    Some(command)
}

fn campanile_client_only(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    let mut command = b.campanile(src, dst, &part_file_of(b), &["--no-server-side-copy"]);
    Bench::with_key(&mut command, b.admin_key());
    Some(command)
}

fn campanile_cross(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    let profiles = ["--src-profile", "src", "--dst-profile", "dst"];
    Some(b.campanile(src, dst, &part_file_of(b), &profiles))
}

fn campanile_diff(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    let mut command = b.campanile(src, dst, &part_file_of(b), &["--diff"]);
    Bench::with_key(&mut command, b.admin_key());
    Some(command)
}

fn s5cmd(b: &Bench, verb: &str, src: &str, dst: &str) -> Option<Command> {
    let mut command = b.command(&b.peer("s5cmd")?);
    command
        .args(["--endpoint-url", &b.server.endpoint, verb])
        .args([format!("s3://{src}/*"), format!("s3://{dst}/")]);
    Bench::with_key(&mut command, b.admin_key());
    Some(command)
}

fn aws_sync(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    let mut command = b.command(&b.peer("aws")?);
    command
        .args(["--endpoint-url", &b.server.endpoint, "s3", "sync"])
        .args([format!("s3://{src}"), format!("s3://{dst}")])
        .arg("--only-show-errors");
    Bench::with_key(&mut command, b.admin_key());
    Some(command)
}

fn rclone(b: &Bench, remotes: [(&str, (&str, &str)); 2], src: &str, dst: &str) -> Option<Command> {
    let mut command = b.command(&b.peer("rclone")?);
    for (name, key) in remotes {
        b.rclone_remote(&mut command, name, key);
    }
    command
        .args([
            "copy",
            &format!("{}:{src}", remotes[0].0),
            &format!("{}:{dst}", remotes[1].0),
        ])
        .args(["--transfers", "64", "--checkers", "64"]);
    Some(command)
}

fn s3sync(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    s3sync_with(b, [SRC_KEY, DST_KEY], src, dst)
}

/// s3sync with one set of credentials, copying server-side as the other tools of W5 do.
fn s3sync_same_account(b: &Bench, src: &str, dst: &str) -> Option<Command> {
    let admin = b.admin_key();
    let mut command = s3sync_with(b, [admin, admin], src, dst)?;
    command.arg("--server-side-copy");
    Some(command)
}

fn s3sync_with(
    b: &Bench,
    [source, target]: [(&str, &str); 2],
    src: &str,
    dst: &str,
) -> Option<Command> {
    let mut command = b.command(&b.peer("s3sync")?);
    command
        .args(["--source-access-key", source.0])
        .args(["--source-secret-access-key", source.1])
        .args(["--source-endpoint-url", &b.server.endpoint])
        .args(["--source-region", "us-east-1", "--source-force-path-style"])
        .args(["--target-access-key", target.0])
        .args(["--target-secret-access-key", target.1])
        .args(["--target-endpoint-url", &b.server.endpoint])
        .args(["--target-region", "us-east-1", "--target-force-path-style"])
        .arg("--auto-chunksize")
        .args([format!("s3://{src}"), format!("s3://{dst}")]);
    Some(command)
}

/// W1: 10,000 objects of 10 KiB, one set of credentials (server-side copies allowed).
fn w1(bench: &Bench, count: usize) -> (&'static str, &'static str, Tools, f64) {
    let src = bench.bucket("w1-src", &[], &[]);
    load(bench, &src, &hex_keys(count, ""));
    let tools: Tools = vec![
        copy_tool("campanile", &src, "w1-dst", &[], campanile_same_account),
        copy_tool(
            "campanile --no-server-side-copy",
            &src,
            "w1-dst",
            &[],
            campanile_client_only,
        ),
        copy_tool(
            "campanile --server-side-copy",
            &src,
            "w1-dst",
            &[],
            campanile_server_side,
        ),
        copy_tool("s5cmd cp", &src, "w1-dst", &[], |b, s, d| {
            s5cmd(b, "cp", s, d)
        }),
        copy_tool("rclone copy", &src, "w1-dst", &[], |b, s, d| {
            let admin = b.admin_key();
            rclone(b, [("GA", admin), ("GA", admin)], s, d)
        }),
        copy_tool("aws s3 sync", &src, "w1-dst", &[], aws_sync),
    ];
    (
        "W1: 10 KiB objects, same credentials",
        "objects/s",
        tools,
        count as f64,
    )
}

/// The cross-account tools: Campanile, rclone with two remotes, s3sync with source
/// and target credentials.
fn cross_tools(src: &str, tag: &'static str) -> Tools {
    const WRITERS: &[&str] = &[DST_KEY.0];
    vec![
        copy_tool("campanile", src, tag, WRITERS, campanile_cross),
        copy_tool("rclone copy", src, tag, WRITERS, |b, s, d| {
            rclone(b, [("SRC", SRC_KEY), ("DST", DST_KEY)], s, d)
        }),
        copy_tool("s3sync", src, tag, WRITERS, s3sync),
    ]
}

/// W1x: the W1 objects across accounts: every byte goes through the client.
fn w1x(bench: &Bench, count: usize) -> (&'static str, &'static str, Tools, f64) {
    let src = bench.bucket("w1x-src", &[SRC_KEY.0], &[]);
    load(bench, &src, &hex_keys(count, ""));
    (
        "W1x: 10 KiB objects across accounts (read-only source key, destination key)",
        "objects/s",
        cross_tools(&src, "w1x-dst"),
        count as f64,
    )
}

/// W2: 256 MiB objects in 8 MiB parts across accounts.
fn w2(bench: &Bench, count: usize) -> (&'static str, &'static str, Tools, f64) {
    let src = bench.bucket("w2-src", &[SRC_KEY.0], &[]);
    let objects: Vec<FixtureObject> = (0..count)
        .map(|i| FixtureObject::multipart(format!("{:x}large{i}", i % 16), 256 * MIB, 8 * MIB))
        .collect();
    for object in &objects {
        load(bench, &src, std::slice::from_ref(object));
    }
    (
        "W2: 256 MiB objects in 8 MiB parts across accounts",
        "MB/s",
        cross_tools(&src, "w2-dst"),
        (count as u64 * 256 * MIB) as f64 / 1e6,
    )
}

/// W3: listing 100,000 keys.
fn w3(bench: &Bench, count: usize) -> (&'static str, &'static str, Tools, f64) {
    let src = bench.bucket("w3-src", &[], &[]);
    let objects: Vec<FixtureObject> = hex_keys(count, "")
        .into_iter()
        .map(|o| FixtureObject { size: 1, ..o })
        .collect();
    load(bench, &src, &objects);
    let part_file = part_file_of(bench);
    let tools: Tools = vec![
        ("campanile --list-only", {
            let (src, part_file) = (src.clone(), part_file.clone());
            Box::new(move |b: &Bench, _| {
                let uuid = b.next_uuid();
                let mut command = b.campanile_as(&uuid, &src, &src, &part_file, &["--list-only"]);
                Bench::with_key(&mut command, b.admin_key());
                let output = b.work.join("runs").join(uuid).join(format!("{src}.list"));
                Some((command, Check::List { count, output }))
            })
        }),
        ("s5cmd ls", {
            let src = src.clone();
            Box::new(move |b: &Bench, _| {
                let output = b.work.join("s5cmd-ls.txt");
                let mut command = b.command(&b.peer("s5cmd")?);
                command
                    .args(["--endpoint-url", &b.server.endpoint, "ls"])
                    .arg(format!("s3://{src}/*"))
                    .stdout(std::fs::File::create(&output).ok()?);
                Bench::with_key(&mut command, b.admin_key());
                Some((command, Check::List { count, output }))
            })
        }),
        ("aws s3 ls", {
            let src = src.clone();
            Box::new(move |b: &Bench, _| {
                let output = b.work.join("aws-ls.txt");
                let mut command = b.command(&b.peer("aws")?);
                command
                    .args([
                        "--endpoint-url",
                        &b.server.endpoint,
                        "s3",
                        "ls",
                        "--recursive",
                    ])
                    .arg(format!("s3://{src}"))
                    .stdout(std::fs::File::create(&output).ok()?);
                Bench::with_key(&mut command, b.admin_key());
                Some((command, Check::List { count, output }))
            })
        }),
    ];
    ("W3: listing keys", "keys/s", tools, count as f64)
}

/// W4: W1 again when the destination is already complete: nothing to copy.
fn w4(bench: &Bench, count: usize) -> (&'static str, &'static str, Tools, f64) {
    let src = bench.bucket("w4-src", &[], &[]);
    let dst = bench.bucket("w4-dst", &[], &[]);
    load(bench, &src, &hex_keys(count, ""));
    // The destination made complete once, by Campanile (every ETag kept).
    let first = campanile_same_account(bench, &src, &dst).expect("campanile");
    assert!(
        bench.measure(first, "w4-setup").success,
        "W4 set-up copy failed"
    );
    let tools: Tools = vec![
        sync_tool("campanile --diff", &src, &dst, campanile_diff),
        sync_tool("s5cmd sync", &src, &dst, |b, s, d| s5cmd(b, "sync", s, d)),
        sync_tool("aws s3 sync", &src, &dst, aws_sync),
    ];
    (
        "W4: re-run of W1 on a complete destination",
        "objects checked/s",
        tools,
        count as f64,
    )
}

/// W5: a million objects of 1 KiB bucket to bucket, one set of credentials.
fn w5(bench: &Bench, count: u64) -> (&'static str, &'static str, Tools, f64) {
    let src = bench.bucket("w5-src", &[], &[]);
    eprintln!("loading {count} objects of 1 KiB into {src}");
    let started = std::time::Instant::now();
    bench
        .runtime
        .block_on(scale::load_tiny(&bench.admin, &src, count, 1024, 128));
    let seconds = started.elapsed().as_secs_f64();
    bench.notes.borrow_mut().push(format!(
        "Loading the source: {count} PUTs of 1 KiB, 128 in flight, {seconds:.0} s ({:.0} objects/s).",
        count as f64 / seconds
    ));
    let tools: Tools = vec![
        copy_tool("campanile", &src, "w5-dst", &[], campanile_same_account),
        copy_tool("s5cmd cp", &src, "w5-dst", &[], |b, s, d| {
            s5cmd(b, "cp", s, d)
        }),
        copy_tool("rclone copy", &src, "w5-dst", &[], |b, s, d| {
            let admin = b.admin_key();
            rclone(b, [("GA", admin), ("GA", admin)], s, d)
        }),
        copy_tool("s3sync", &src, "w5-dst", &[], s3sync_same_account),
    ];
    (
        "W5: 1 KiB objects, many of them, same credentials",
        "objects/s",
        tools,
        count as f64,
    )
}

/// Horizontal bars, one group per workload, each bar the tool's rate as a share of
/// the best rate in its workload.
fn svg_chart(groups: &[(String, Vec<(String, f64)>)]) -> String {
    let bar = 18;
    let gap = 26;
    let label_width = 250;
    let width = 760;
    let mut y = 30;
    let mut body = String::new();
    for (title, rates) in groups {
        let _ = writeln!(
            body,
            "<text x=\"10\" y=\"{y}\" font-weight=\"bold\">{}</text>",
            escape(title)
        );
        y += 10;
        let best = rates.iter().map(|(_, r)| *r).fold(0.0, f64::max).max(1e-9);
        for (name, rate) in rates {
            let length = ((width - label_width - 90) as f64 * rate / best).round();
            let colour = if name.starts_with("campanile") {
                "#b5412b"
            } else {
                "#6b7b8c"
            };
            let _ = writeln!(
                body,
                "<text x=\"10\" y=\"{}\">{}</text><rect x=\"{label_width}\" y=\"{y}\" width=\"{length}\" height=\"{bar}\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{rate:.0}</text>",
                y + 14,
                escape(name),
                label_width as f64 + length + 6.0,
                y + 14
            );
            y += bar + 4;
        }
        y += gap;
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{y}\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
