//! The rsync command line (the article's options, plus `--wait` and endpoints, and
//! `aws s3 sync`-like locations and filters: `rsync s3://a/logs/ s3://b/archive/
//! --exclude '*.tmp'`).

use std::time::Duration;

use clap::Parser;

use campanile::Error;
use campanile::command::{ListingSelection, Prefixes};
use campanile::governor::RequestBudget;
use campanile::partfile::GenerateOptions;
use campanile::plan::local::LocalSettings;
use campanile::plan::{Job, PlanOptions, RunBase, VersionsJob};
use campanile::rsync::emr::EmrRequest;
use campanile::rsync::hadoop::HadoopRequest;
use campanile::rsync::local::{LocalRequest, copy_task_memory};
use campanile::rsync::{DeleteRequest, PartFileRequest, RsyncRequest, Runner};
use campanile::select::{Rule, Timestamp, parse_size};

/// Examples and rules shown at the end of `rsync --help`.
const AFTER_HELP: &str = "\
Locations: SRC and DST are s3://BUCKET[/PREFIX] or a bare bucket name (so are
--src-bucket and --dst-bucket, the article's spelling; give each side once). As with
`aws s3 sync`, source key <SRC prefix><rest> is copied to <DST prefix><rest>. A prefix
is a plain string: s3://a/logs/2025 also selects logs/2025-old/x (copied to
<DST prefix>-old/x); end prefixes with / to mean a directory.

Filters (applied while the source is listed; what they leave out is counted
`Filtered`, not a skip):
  --include GLOB / --exclude GLOB  repeatable; the first rule that matches decides; a
      key no rule matches is copied unless every rule is an --include. Globs match the
      key after the source prefix: * stays within a /-segment, ** as a whole segment
      (**/x, a/**) crosses segments, ? is one character but /, [a-z] a class, {a,b}
      alternatives. A glob starting with / is anchored at the source prefix; any other
      matches the key's last segments (*.gz matches a.gz and x/y/a.gz).
  --min-size/--max-size SIZE  bytes, or with K M G T (powers of 1024) or KB MB GB TB
      (powers of 1000); both bounds included.
  --newer-than/--older-than TIME  RFC 3339 (2025-06-01T00:00:00Z) or a duration before
      the start of the run (7d, 12h, 30m, 1d12h); newer: at or after, older: before.

Examples:
  # copy one prefix to another (like aws s3 sync s3://a/logs/2025/ s3://b/archive/2025/)
  rsync s3://a/logs/2025/ s3://b/archive/2025/
  # only the .gz files (--include alone leaves out every other key)
  rsync s3://a/logs/ s3://b/logs/ --include '*.gz'
  # the .gz files but those under any tmp/ (first match decides; the last rule
  # leaves out the rest, since the rules are not all --include)
  rsync s3://a/logs/ s3://b/logs/ --exclude 'tmp/**' --include '*.gz' --exclude '**'
  # objects of 1 MiB or more changed in the last 7 days
  rsync s3://a/ s3://b/ --min-size 1M --newer-than 7d
  # copy only what is missing or different at the destination
  rsync s3://a/logs/ s3://b/archive/ --diff
  # every version of every key, delete markers too, in order (b must be versioned)
  rsync s3://a/ s3://b/ --all-versions
  # the bucket as it stood at a time, into b's current objects
  rsync s3://a/ s3://b/ --version-at 2026-11-01T00:00:00Z
  # the article's form
  rsync --src-bucket a --dst-bucket b --input s3://code/input/a/part.all -j j-XXXX --code s3://code --output s3://code/output";

/// Copy a bucket, or a prefix of it, with Campanile's plan (list, diff, multipartlist,
/// objectcopy + multipartcomplete): on this machine with the embedded Hadoop Streaming
/// runner (the default), or on an EMR cluster as steps (`--job`).
#[derive(Debug, Clone, Parser)]
#[command(version, after_help = AFTER_HELP)]
pub struct RsyncCli {
    /// Source: s3://BUCKET[/PREFIX] or a bucket name (instead of --src-bucket).
    #[arg(value_name = "SRC", conflicts_with = "src_bucket")]
    pub src: Option<String>,
    /// Destination: s3://BUCKET[/PREFIX] or a bucket name (instead of --dst-bucket).
    #[arg(value_name = "DST", conflicts_with = "dst_bucket")]
    pub dst: Option<String>,
    /// EMR cluster id (j-…): submit the steps there. Without it the plan runs here.
    #[arg(long, short = 'j', conflicts_with_all = ["local", "hadoop"])]
    pub job: Option<String>,
    /// Run the plan on this machine (the default without --job or --hadoop).
    #[arg(long, conflicts_with = "hadoop")]
    pub local: bool,
    /// Run the plan on the Hadoop cluster the `hadoop` and `hive` commands reach (an
    /// EMR primary node, a self-managed cluster, scripts/hadoop-cluster): the same
    /// steps as on EMR, one after the other, followed to their end.
    #[arg(long)]
    pub hadoop: bool,
    /// With --hadoop: the hadoop command.
    #[arg(long, default_value = "hadoop", requires = "hadoop")]
    pub hadoop_command: std::path::PathBuf,
    /// With --hadoop: the hive command.
    #[arg(long, default_value = "hive", requires = "hadoop")]
    pub hive_command: std::path::PathBuf,
    /// With --hadoop: the hadoop-streaming jar (default: found on `hadoop classpath`).
    #[arg(long, env = "HADOOP_STREAMING_JAR", requires = "hadoop")]
    pub streaming_jar: Option<std::path::PathBuf>,
    /// Part file (`<delimiter>,<prefix>` or key-range lines), e.g.
    /// s3://codebucket/input/src/part.all. Without it, one is made for the source
    /// bucket (as `partfile` makes them): into the run directory (local runs) or under
    /// --code (EMR, --hadoop: <code>/input/<src>/<uuid>/part.generated). Local runs refuse a
    /// given part file whose lines overlap (exit 2).
    #[arg(long, conflicts_with = "inventory")]
    pub input: Option<String>,
    /// List the source from this S3 Inventory report instead of the bucket: its
    /// manifest.json (an s3:// URI; locally also a path, the data files beside it).
    /// CSV or Parquet, with Size, ETag and LastModifiedDate among its fields. No
    /// ListObjectsV2 request for the source; objects created after the report are not
    /// copied. With --diff, a part file is made for the destination listing.
    #[arg(long, value_name = "MANIFEST")]
    pub inventory: Option<String>,
    /// Local runs: use a part file that leaves out keys of the source bucket (it is
    /// checked against the bucket first, and refused with the ranges named, without it).
    #[arg(long)]
    pub no_check_part_file: bool,
    /// Without --input: keys per line of the part file made.
    #[arg(long, default_value_t = campanile::partfile::generate::DEFAULT_TARGET_KEYS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub part_file_keys_per_line: u64,
    /// Where the binaries, diff.q, .boto and campanile.cfg are: an S3 prefix on EMR
    /// (required there); locally, default: the directory of this program.
    #[arg(long)]
    pub code: Option<String>,
    /// Prefix of the job output (the part map of the copied multipart objects); a
    /// path or s3:// URI (local default: ./campanile-output).
    #[arg(long)]
    pub output: Option<String>,
    /// Source bucket, or s3://BUCKET[/PREFIX] (or give SRC).
    #[arg(long, value_name = "BUCKET")]
    pub src_bucket: Option<String>,
    /// Destination bucket, or s3://BUCKET[/PREFIX] (or give DST).
    #[arg(long, value_name = "BUCKET")]
    pub dst_bucket: Option<String>,
    /// Copy only the keys this glob matches (repeatable; see the filter rules below).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out the keys this glob matches (repeatable; the first matching
    /// --include/--exclude decides).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// The --include and --exclude rules in the order given (set from the command line
    /// by [`RsyncCli::parse_ordered`]).
    #[arg(skip)]
    pub rules: Vec<(bool, String)>,
    /// Copy only objects of at least SIZE (bytes; K, M, G, T: powers of 1024; KB, MB,
    /// GB, TB: of 1000).
    #[arg(long, value_name = "SIZE")]
    pub min_size: Option<String>,
    /// Copy only objects of at most SIZE.
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<String>,
    /// Copy only objects last modified at or after TIME: RFC 3339
    /// (2025-06-01T00:00:00Z) or a duration before the start of the run (7d, 12h, 30m).
    #[arg(long, value_name = "TIME")]
    pub newer_than: Option<String>,
    /// Copy only objects last modified before TIME (RFC 3339 or a duration before now).
    #[arg(long, value_name = "TIME")]
    pub older_than: Option<String>,
    /// Clean up after a local run whose runner was killed (SIGKILL, the OOM killer):
    /// stop the task processes it left, remove their temporary files, and complete or
    /// abort its multipart uploads in progress, from what RUN_DIR (<run-dir>/<uuid>, or
    /// just the run id, found under the run directories' base) recorded. Runs nothing
    /// else. (SIGINT and SIGTERM make a run clean up itself.)
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["job", "hadoop", "dry_run"])]
    pub cleanup: Option<std::path::PathBuf>,
    /// List the local runs under the run directories' base (see --run-dir), oldest
    /// first: id, start time, state (running, finished, failed, unfinished: its runner
    /// died), buckets, run directory, output and skip report. With --json, one JSON
    /// object per run. Runs nothing else.
    #[arg(long, conflicts_with_all = ["job", "hadoop", "dry_run", "cleanup"])]
    pub list_runs: bool,
    /// Profile of the source side: here, of the AWS config files (with its region) or
    /// of the --boto file; in the tasks on a cluster, of the .boto shipped under --code.
    #[arg(long)]
    pub src_profile: Option<String>,
    /// Profile of the destination side (as --src-profile).
    #[arg(long)]
    pub dst_profile: Option<String>,
    /// A boto-style credentials file whose [profile NAME] sections are read before the
    /// AWS files (also BOTO_CONFIG); a local run's tasks read it too. (On a cluster the
    /// tasks read the .boto shipped under --code.)
    #[arg(long, value_name = "FILE")]
    pub boto: Option<std::path::PathBuf>,
    /// Source endpoint (default: from GetBucketLocation).
    #[arg(long)]
    pub src_endpoint: Option<String>,
    /// Destination endpoint (default: from GetBucketLocation).
    #[arg(long)]
    pub dst_endpoint: Option<String>,
    /// On EMR and Hadoop: print the steps as JSON and submit nothing. Locally: list
    /// both sides (and diff), then print what would be copied, one
    /// `(dryrun) copy: s3://src/key to s3://dst/key` line per object (--json: a JSON
    /// object per object), and a summary with the requests, bytes and cost a real run
    /// would have (docs/cost.md); nothing is written to either bucket.
    #[arg(long)]
    pub dry_run: bool,
    /// List the destination too and copy only missing or changed objects.
    #[arg(long)]
    pub diff: bool,
    /// Delete sync: once every copy succeeded, delete the destination keys (under the
    /// destination prefix) that the source (under the source prefix) has no key for.
    /// Implies --diff (both sides are listed). Nothing is deleted when the run fails.
    /// A destination key --include/--exclude leave out is never deleted; a key the
    /// size, date or --restored filters leave out of the copy is still at the source
    /// and stays (the source's keys are listed again without them). Refused with
    /// --inventory (a report can be older than the bucket), --no-check-part-file (a
    /// partial listing), --no-copy and --list-only. Locally the keys deleted go to
    /// <run-dir>/_deleted.jsonl, and --dry-run prints `(dryrun) delete: s3://dst/key`
    /// for each; with --job or --hadoop the plan ends in a delete step (hive delete.q,
    /// then objectdelete) writing them to <output>/<part file>.<uuid>.deleted.
    #[arg(long)]
    pub delete: bool,
    /// Copy the keys a `campanile verify` report names as missing, changed or with
    /// metadata drift (its `_verify.jsonl`), instead of listing the source: give the
    /// SRC and DST the verify was given. Extra and unverifiable keys are not copied.
    /// Local runner only; not with --input, --inventory, --diff or --delete.
    #[arg(long, value_name = "FILE",
          conflicts_with_all = ["input", "inventory", "diff", "delete", "job", "hadoop"])]
    pub input_report: Option<std::path::PathBuf>,
    /// After the copy (local runner), verify it: `campanile verify` with the same
    /// locations and flags, as a second run; the exit status is the verify's when it
    /// finds a difference (3), else the copy's.
    #[arg(long, conflicts_with_all = ["job", "hadoop", "dry_run", "no_copy", "list_only"])]
    pub verify: bool,
    /// With --delete: when more than N keys (or N% of the objects the destination
    /// listing found, rounded down) would be deleted, delete none and exit 1.
    #[arg(long, value_name = "N|N%", requires = "delete")]
    pub max_delete: Option<campanile::rsync::delete::MaxDelete>,
    /// Stop after multipartlist (prints CopyInput:).
    #[arg(long)]
    pub no_copy: bool,
    /// Only list (and diff).
    #[arg(long)]
    pub list_only: bool,
    /// Copy every version of each key, delete markers included, oldest first, so that
    /// the destination's history of the key reads in the source's order (its version
    /// ids are its own). The destination must have versioning enabled (else exit 2).
    /// A key whose destination history is not the start of the source's is reported
    /// (exit 3), not written; what it holds already is not written again
    /// (docs/versions.md).
    #[arg(long, conflicts_with_all = ["version_at", "delete", "input_report", "inventory",
                                      "no_copy", "restored"])]
    pub all_versions: bool,
    /// Copy the bucket as it stood at TIME (RFC 3339, or a duration ago such as 7d):
    /// each key's newest version last modified at or before it, into the destination's
    /// current objects; a key deleted then, or not yet written, is not copied.
    #[arg(long, value_name = "TIME",
          conflicts_with_all = ["delete", "input_report", "inventory", "no_copy", "restored"])]
    pub version_at: Option<String>,
    /// Copy only the archived objects (GLACIER, DEEP_ARCHIVE, INTELLIGENT_TIERING) whose
    /// restore finished (and Intelligent-Tiering ones that need none); the others are
    /// reported as archived, with whether a restore is in progress. The copies keep
    /// the source's storage class unless --storage-class says otherwise. Request the
    /// restores first with `campanile restore`.
    #[arg(long)]
    pub restored: bool,
    /// Always let S3 copy the bytes (CopyObject with the metadata CopyObject carries,
    /// UploadPartCopy with the source's part ranges: ETags kept), failing where the
    /// destination profile cannot read the source.
    #[arg(long, conflicts_with = "no_server_side_copy")]
    pub server_side_copy: bool,
    /// Copy every byte through the tasks (GET+PUT). Without it, on one endpoint, S3
    /// copies what the destination profile can read (one HEAD of each object, with
    /// that profile, asks; the copy keeps the source's headers and storage class, and
    /// its ETag is checked against the source's) and the tasks copy the rest: a
    /// refusal (403), SSE-KMS or SSE-C, archived objects, a KMS or SSE-C write.
    #[arg(long)]
    pub no_server_side_copy: bool,
    /// Run id: names the run directory (locally, on HDFS), the output
    /// (<output>/<part file>.<id>) and the part file made under --code. Default: the
    /// start time in UTC and 24 random bits (20261130T161500Z-7f3a9c), so that runs
    /// started together never collide and ids sort by start time. A run whose id is
    /// taken is refused (exit 4).
    #[arg(long)]
    pub uuid: Option<String>,
    /// Region of the cluster.
    #[arg(long)]
    pub region: Option<String>,
    /// Profile for the EMR API calls.
    #[arg(long)]
    pub profile: Option<String>,
    /// EMR API endpoint URL (default: AWS).
    #[arg(long)]
    pub emr_endpoint: Option<String>,
    /// With --wait: S3 endpoint of the cluster's log bucket (default: AWS), where each
    /// step's counters are read from its log.
    #[arg(long)]
    pub log_endpoint: Option<String>,
    /// Follow the steps until they end; exit non-zero if one fails.
    #[arg(long)]
    pub wait: bool,
    /// First polling interval of --wait, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub poll_seconds: f64,
    /// Print what is resolved (endpoints, each side's credential source) and info
    /// events; -vv debug events. RUST_LOG, when set, decides the events instead. A
    /// local run's tasks log at the same level.
    #[arg(long, short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Add -verbose to the streaming steps.
    #[arg(long, short = 'd')]
    pub debug: bool,
    /// Local runs: base of the run directories (<run-dir>/<id>), where a run also
    /// finds the dead runs of its job to clean up and --list-runs looks. Default:
    /// $XDG_STATE_HOME/campanile/runs, or ~/.local/state/campanile/runs.
    #[arg(long, env = campanile::rsync::runs::RUN_DIR_ENV)]
    pub run_dir: Option<std::path::PathBuf>,
    /// Task processes at once on one machine (local default: the cores). On a cluster
    /// it only divides --memory-mb: the copy tasks one node runs at once.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Lines per map task for every step (default: the plan's, which a local run
    /// makes longer when they would give more than two waves of tasks).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub lines_per_map: Option<u64>,
    /// Local runs: MiB of shuffle records sorted in memory before spilling.
    #[arg(long, default_value_t = 64)]
    pub sort_memory_mb: usize,
    /// MiB of object data the copy tasks of one machine together hold in memory: each
    /// of the --parallel tasks gets its share as maxtmpsize (a copy waits for memory,
    /// and only what is larger than a task's share spills to disk). Local default: 96.
    /// On a cluster, without it each node's campanile.cfg decides; with it, give
    /// --parallel too.
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Local and Hadoop runs: stdout holds JSON lines only: the run's paths
    /// ({"run_dir":…,"output":…}, instead of the RunDir:/Output: lines), each step's
    /// counters, the skip report's path, and the closing {"summary":{…}}.
    #[arg(long)]
    pub json: bool,
    /// Local runs: no progress display; errors only on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// GET and HEAD requests per second per key prefix for the whole run (S3 serves
    /// 5,500 per partitioned prefix): each of the --task-slots tasks gets its share,
    /// halves it on each 503 SlowDown and raises it again gradually.
    #[arg(long, default_value_t = RequestBudget::S3.reads,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub prefix_reads_per_second: u32,
    /// PUT, POST and DELETE requests per second per key prefix for the whole run (S3:
    /// 3,500), shared like --prefix-reads-per-second.
    #[arg(long, default_value_t = RequestBudget::S3.writes,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub prefix_writes_per_second: u32,
    /// Tasks that run at once, among which the request budgets are divided (local
    /// default: --parallel; cluster default: 64, i.e. 16 nodes of 4 map slots: give
    /// your cluster's count).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub task_slots: Option<u64>,
    /// SSE-C key of every source object: a file holding the 256-bit key (32 bytes, or
    /// their base64), mode 600. Local runs read it here first; on a cluster (--job,
    /// --hadoop) it is the absolute path of the file on every node. Only the path goes
    /// on the task command lines.
    #[arg(long, value_name = "PATH")]
    pub src_sse_c_key_file: Option<std::path::PathBuf>,
    /// --sse, --sse-kms-key-id, --storage-class, --acl, --dst-sse-c-key-file: set on
    /// every copy (given to multipartlist and objectcopy; the SSE-C key file also to
    /// multipartcomplete, and, like --src-sse-c-key-file, a path on every node on a
    /// cluster).
    #[command(flatten)]
    pub write: campanile::command::WriteSettings,
    /// --price-per-1000-writes, --price-per-1000-reads, --price-per-gb-transfer: the
    /// prices of a local --dry-run's cost estimate.
    #[command(flatten)]
    pub prices: campanile::rsync::dry_run::Prices,
}

/// The run directory `given` names: a run id under `base` when there is one of that
/// name, else the path as it is.
pub fn run_dir_of(base: &std::path::Path, given: &std::path::Path) -> std::path::PathBuf {
    let bare_id = given.components().count() == 1 && !given.is_dir();
    let under_base = base.join(given);
    if bare_id && under_base.is_dir() {
        return under_base;
    }
    given.to_path_buf()
}

/// Tasks a cluster is assumed to run at once when --task-slots is not given.
pub const CLUSTER_TASK_SLOTS: u64 = 64;

/// MiB the copy tasks of a local run hold in memory together, unless --memory-mb.
pub const LOCAL_MEMORY_MB: u64 = 96;

/// A bucket and a key prefix (empty: the whole bucket).
pub type Location = (String, String);

/// A location as SRC, DST, --src-bucket or --dst-bucket take it: `s3://bucket[/prefix]`
/// or a bare bucket name; `(bucket, prefix)`.
pub fn location(flag: &str, text: &str) -> Result<Location, Error> {
    if text.starts_with("s3://") {
        return campanile::s3_url::parse_s3_uri(text).ok_or_else(|| {
            Error::Usage(format!(
                "{flag} {text:?} names no bucket: expected s3://BUCKET[/PREFIX]"
            ))
        });
    }
    if text.contains('/') || text.contains(':') {
        return Err(Error::Usage(format!(
            "{flag} {text:?} is neither a bucket name nor an s3://BUCKET[/PREFIX] URI \
             (local paths are not supported)"
        )));
    }
    Ok((text.to_string(), String::new()))
}

impl RsyncCli {
    /// Parses a command line, keeping the order of --include and --exclude (which
    /// clap's derive loses): exits with clap's message on a bad one.
    pub fn parse_ordered<I, T>(args: I) -> RsyncCli
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        RsyncCli::try_parse_ordered(args).unwrap_or_else(|e| e.exit())
    }

    /// [`RsyncCli::parse_ordered`] returning the error.
    pub fn try_parse_ordered<I, T>(args: I) -> Result<RsyncCli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = RsyncCli::command().try_get_matches_from(args)?;
        let mut cli = RsyncCli::from_arg_matches(&matches)?;
        cli.order_rules(&matches);
        Ok(cli)
    }

    /// Sets [`RsyncCli::rules`] from the matches this was parsed from (its own, or a
    /// subcommand's, as `campanile sync`): --include and --exclude in command-line
    /// order.
    pub fn order_rules(&mut self, matches: &clap::ArgMatches) {
        let mut rules: Vec<(usize, bool, String)> = Vec::new();
        for (id, include) in [("include", true), ("exclude", false)] {
            if let (Some(indices), Some(values)) =
                (matches.indices_of(id), matches.get_many::<String>(id))
            {
                rules.extend(
                    indices
                        .zip(values)
                        .map(|(at, glob)| (at, include, glob.clone())),
                );
            }
        }
        rules.sort_by_key(|(at, ..)| *at);
        self.rules = rules
            .into_iter()
            .map(|(_, include, glob)| (include, glob))
            .collect();
    }

    /// The source and destination: bucket and prefix each, from SRC/DST or the flags.
    pub fn locations(&self) -> Result<(Location, Location), Error> {
        let side = |positional: &Option<String>, flag: &Option<String>, name: &str, what| match (
            positional, flag,
        ) {
            (Some(text), None) => location(name, text),
            (None, Some(text)) => location(what, text),
            (Some(_), Some(_)) => Err(Error::Usage(format!(
                "give the {name} once: as {name} or as {what}"
            ))),
            (None, None) => Err(Error::Usage(format!(
                "no {name}: give SRC and DST (s3://BUCKET[/PREFIX] or bucket names), or \
                     --src-bucket and --dst-bucket"
            ))),
        };
        Ok((
            side(&self.src, &self.src_bucket, "SRC", "--src-bucket")?,
            side(&self.dst, &self.dst_bucket, "DST", "--dst-bucket")?,
        ))
    }

    /// The filters of the source listing, with durations resolved against `now` (once
    /// for the run: every task gets the same absolute times). Bad values are usage
    /// errors naming the flag.
    pub fn filters(&self, now: Timestamp) -> Result<ListingSelection, Error> {
        let rules = self
            .rules
            .iter()
            .map(|(include, glob)| {
                let flag = if *include { "--include" } else { "--exclude" };
                Rule::checked(*include, glob).map_err(|e| Error::Usage(format!("{flag}: {e}")))
            })
            .collect::<Result<Vec<Rule>, Error>>()?;
        let size = |flag: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| parse_size(v).map_err(|e| Error::Usage(format!("{flag}: {e}"))))
                .transpose()
        };
        let time = |flag: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    Timestamp::parse_relative(v, now)
                        .map_err(|e| Error::Usage(format!("{flag}: {e}")))
                })
                .transpose()
        };
        Ok(ListingSelection {
            filters: rules,
            min_size: size("--min-size", &self.min_size)?,
            max_size: size("--max-size", &self.max_size)?,
            newer_than: time("--newer-than", &self.newer_than)?,
            older_than: time("--older-than", &self.older_than)?,
            archived: self.restored,
            ..Default::default()
        })
    }

    /// Refuses `--all-versions` and `--version-at` to a job other than the copy
    /// (`name`: `campanile index` and the others that take rsync's flags).
    pub fn refuse_versions(request: &RsyncRequest, name: &str) -> Result<(), Error> {
        if let Job::Versions(_) = request.plan.job {
            return Err(Error::Usage(format!(
                "--all-versions and --version-at copy versions (rsync, campanile sync): \
                 not with {name}"
            )));
        }
        Ok(())
    }

    /// The library request.
    pub fn request(&self) -> Result<RsyncRequest, Error> {
        let ((src_bucket, src_prefix), (dst_bucket, dst_prefix)) = self.locations()?;
        let filters = self.filters(Timestamp::now())?;
        let uuid = match &self.uuid {
            Some(uuid) => uuid.clone(),
            None => campanile::rsync::runs::new_run_id(),
        };
        if !(self.poll_seconds > 0.0 && self.poll_seconds.is_finite()) {
            return Err(Error::Usage("--poll-seconds must be positive".into()));
        }
        let local = self.job.is_none() && !self.hadoop;
        let delete = self.delete_request()?;
        let code = match (&self.code, local) {
            (Some(code), _) => code.clone(),
            (None, true) => std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.display().to_string()))
                .ok_or_else(|| {
                    Error::Usage("cannot find this program's directory: give --code".into())
                })?,
            (None, false) => {
                return Err(Error::Usage(
                    "--code is required with --job and --hadoop".into(),
                ));
            }
        };
        // Empty: made by the runner (a part file, or the inventory's data files).
        let input = self.input.clone().unwrap_or_default();
        let output = match (&self.output, local) {
            (Some(output), _) => output.clone(),
            (None, true) => "campanile-output".to_string(),
            (None, false) => {
                return Err(Error::Usage(
                    "--output is required with --job and --hadoop".into(),
                ));
            }
        };
        let task_slots = match (self.task_slots, local) {
            (Some(slots), _) => usize::try_from(slots).unwrap_or(usize::MAX),
            (None, true) => self.local_settings().parallel,
            (None, false) => CLUSTER_TASK_SLOTS as usize,
        };
        let run_budget = RequestBudget {
            reads: self.prefix_reads_per_second,
            writes: self.prefix_writes_per_second,
        };
        let job = match (self.all_versions, &self.version_at) {
            (true, _) => Job::Versions(VersionsJob { at: None }),
            (false, Some(at)) => Job::Versions(VersionsJob {
                at: Some(
                    Timestamp::parse_relative(at, Timestamp::now())
                        .map_err(|e| Error::Usage(format!("--version-at: {e}")))?,
                ),
            }),
            (false, None) => Job::default(),
        };
        let runner = match &self.job {
            None if self.hadoop => Runner::Hadoop(HadoopRequest {
                hadoop: self.hadoop_command.clone(),
                hive: self.hive_command.clone(),
                streaming_jar: self.streaming_jar.clone(),
                json: self.json,
            }),
            None => Runner::Local(self.local_request()?),
            Some(job) => Runner::Emr(EmrRequest {
                job: job.clone(),
                wait: self
                    .wait
                    .then(|| Duration::from_secs_f64(self.poll_seconds)),
                profile: self.profile.clone(),
                emr_endpoint: self.emr_endpoint.clone(),
                log_endpoint: self.log_endpoint.clone(),
            }),
        };
        Ok(RsyncRequest {
            plan: PlanOptions {
                input,
                inventory: false,
                dst_input: None,
                listing_reducers: u32::try_from(task_slots).unwrap_or(u32::MAX),
                code,
                output,
                src_bucket,
                dst_bucket,
                prefixes: Prefixes {
                    src_prefix,
                    dst_prefix,
                },
                filters,
                src_endpoint: self.src_endpoint.clone().unwrap_or_default(),
                dst_endpoint: self.dst_endpoint.clone().unwrap_or_default(),
                src_profile: self.src_profile.clone(),
                dst_profile: self.dst_profile.clone(),
                diff: self.diff || delete.is_some(),
                no_copy: self.no_copy,
                list_only: self.list_only,
                uuid,
                run_base: RunBase::Hdfs,
                debug: self.debug,
                server_side_copy: self.server_side_copy,
                auto_server_side: !self.no_server_side_copy,
                write: self.write.clone(),
                src_sse_c_key_file: self.src_sse_c_key_file.clone(),
                copy_task_memory: self.cluster_copy_task_memory()?,
                // The local runner takes it as its own split size (see local_request).
                lines_per_map: self.lines_per_map.filter(|_| !local),
                task_budget: run_budget.share(task_slots),
                job,
                // Set by the local runner from --input-report.
                listing: None,
                delete: delete
                    .as_ref()
                    .map(|d| campanile::plan::delete::DeleteJob { max: d.max }),
            },
            runner,
            dry_run: self.dry_run,
            region: self.region.clone(),
            verbose: self.diagnostics().verbosity().verbose(),
            part_file: PartFileRequest {
                generate: GenerateOptions {
                    target_keys: self.part_file_keys_per_line,
                    ..Default::default()
                },
                check_gaps: !self.no_check_part_file,
            },
            inventory: self.inventory.clone(),
            delete,
            input_report: self.input_report.clone(),
            index_rows: None,
        })
    }

    /// `--delete` and `--max-delete`, or the usage error of a combination that cannot
    /// delete safely: an inventory report or an unchecked part file can miss keys. The
    /// filters are no reason: the plan
    /// lists the destination within the key rules and, with the size, date or
    /// --restored filters, lists the source's keys without them
    /// ([`campanile::plan::delete`]).
    fn delete_request(&self) -> Result<Option<DeleteRequest>, Error> {
        if !self.delete {
            return Ok(None);
        }
        let refused = |why: &str| {
            Err(Error::Usage(format!(
                "--delete {why}; it deletes only what a listing of the whole source prefix, from the bucket itself, lacks"
            )))
        };
        if self.inventory.is_some() {
            return refused(
                "cannot be combined with --inventory (a report can be older than the bucket: keys written since would be deleted)",
            );
        }
        if self.no_check_part_file {
            return refused(
                "cannot be combined with --no-check-part-file (a part file that leaves out keys lists the source partially)",
            );
        }
        if self.no_copy || self.list_only {
            return refused("deletes after the copies: not with --no-copy or --list-only");
        }
        Ok(Some(DeleteRequest {
            max: self.max_delete,
        }))
    }

    /// The verbosity and credentials file flags, as the tasks take them.
    pub fn diagnostics(&self) -> campanile::command::Diagnostics {
        campanile::command::Diagnostics {
            verbose: self.verbose,
            quiet: self.quiet,
            boto: self.boto.clone(),
        }
    }

    /// On a cluster, each copy task's share of --memory-mb, when it is given.
    fn cluster_copy_task_memory(&self) -> Result<Option<u64>, Error> {
        if self.job.is_none() && !self.hadoop {
            // The local runner sets it from its own --parallel (see local_request).
            return Ok(None);
        }
        match (self.memory_mb, self.parallel) {
            (None, _) => Ok(None),
            (Some(mb), Some(parallel)) => Ok(Some(copy_task_memory(mb.max(1) << 20, parallel))),
            (Some(_), None) => Err(Error::Usage(
                "--memory-mb on a cluster needs --parallel, the copy tasks one node runs at \
                 once (or leave both out: each node's campanile.cfg then decides)"
                    .into(),
            )),
        }
    }

    /// The base of the local run directories: --run-dir (or its environment
    /// variable), else the state directory ([`campanile::rsync::runs::default_run_base`]).
    pub fn run_base(&self) -> Result<std::path::PathBuf, Error> {
        match &self.run_dir {
            Some(dir) => Ok(dir.clone()),
            None => campanile::rsync::runs::default_run_base(),
        }
    }

    /// The run directory `--cleanup` names: a path, or a run id under the base.
    pub fn cleanup_dir(&self, given: &std::path::Path) -> Result<std::path::PathBuf, Error> {
        let bare_id = given.components().count() == 1 && !given.is_dir();
        if bare_id {
            return Ok(run_dir_of(&self.run_base()?, given));
        }
        Ok(given.to_path_buf())
    }

    /// The local runner's settings.
    fn local_settings(&self) -> LocalSettings {
        let mut settings = LocalSettings {
            lines_per_map: self.lines_per_map,
            sort_memory: self.sort_memory_mb.max(1) * 1024 * 1024,
            ..Default::default()
        };
        if let Some(parallel) = self.parallel {
            settings.parallel = parallel.max(1);
        }
        settings
    }

    /// The local runner's options.
    fn local_request(&self) -> Result<LocalRequest, Error> {
        Ok(LocalRequest {
            run_base: self.run_base()?,
            settings: self.local_settings(),
            memory: self.memory_mb.unwrap_or(LOCAL_MEMORY_MB).max(1) * 1024 * 1024,
            json: self.json,
            quiet: self.quiet,
            prices: self.prices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_takes_a_run_directory_or_a_run_id_under_the_base() {
        let base = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(base.path().join("20261130T161500Z-7f3a9c")).expect("run dir");
        let runs = base.path().display().to_string();
        let cli = RsyncCli::try_parse_from([
            "rsync",
            "--cleanup",
            "20261130T161500Z-7f3a9c",
            "--run-dir",
            &runs,
        ])
        .expect("parse");
        let given = cli.cleanup.clone().expect("--cleanup");
        assert_eq!(
            cli.cleanup_dir(&given).expect("dir"),
            base.path().join("20261130T161500Z-7f3a9c")
        );
        // A path is taken as it is, and so is an id that names no run.
        let path = base.path().join("20261130T161500Z-7f3a9c");
        assert_eq!(cli.cleanup_dir(&path).expect("dir"), path);
        let unknown = std::path::Path::new("no-such-run");
        assert_eq!(cli.cleanup_dir(unknown).expect("dir"), unknown);
    }

    #[test]
    fn v_counts_and_q_and_boto_reach_the_tasks_flags() {
        let cli = RsyncCli::try_parse_from([
            "rsync",
            "--src-bucket",
            "s",
            "--dst-bucket",
            "d",
            "-vv",
            "--boto",
            "/etc/campanile/credentials.boto",
        ])
        .expect("parse");
        let diagnostics = cli.diagnostics();
        assert_eq!(diagnostics.verbose, 2);
        assert!(!diagnostics.quiet);
        assert_eq!(
            diagnostics.boto.as_deref(),
            Some(std::path::Path::new("/etc/campanile/credentials.boto"))
        );
        assert!(diagnostics.verbosity().verbose());
        let quiet = RsyncCli::try_parse_from(["rsync", "--list-runs", "-q", "-v"]).expect("parse");
        assert!(!quiet.diagnostics().verbosity().verbose(), "-q wins");
    }

    #[test]
    fn list_runs_needs_no_buckets_and_the_default_id_is_the_new_form() {
        let cli = RsyncCli::try_parse_from(["rsync", "--list-runs"]).expect("parse");
        assert!(cli.list_runs);
        let cli = RsyncCli::try_parse_from([
            "rsync",
            "--src-bucket",
            "src",
            "--dst-bucket",
            "dst",
            "--run-dir",
            "/tmp/never-written",
            "--code",
            "/tmp",
        ])
        .expect("parse");
        let request = cli.request().expect("request");
        let id = request.plan.uuid;
        assert_eq!(id.len(), 23, "{id}");
        assert_eq!(&id[15..17], "Z-", "{id}");
        assert!(
            RsyncCli::try_parse_from(["rsync", "--list-runs", "-j", "j-X"]).is_err(),
            "--list-runs lists local runs only"
        );
    }

    fn parsed(args: &[&str]) -> RsyncCli {
        RsyncCli::try_parse_ordered(
            ["rsync", "--code", "/tmp", "--run-dir", "/tmp/never-written"]
                .iter()
                .chain(args),
        )
        .expect("parse")
    }

    #[test]
    fn locations_are_urls_or_bucket_names_on_either_spelling() {
        let request = parsed(&["s3://a/logs/2025/", "s3://b/archive/2025/"])
            .request()
            .expect("request");
        assert_eq!(
            (
                request.plan.src_bucket.as_str(),
                request.plan.dst_bucket.as_str()
            ),
            ("a", "b")
        );
        assert_eq!(request.plan.prefixes.src_prefix, "logs/2025/");
        assert_eq!(request.plan.prefixes.dst_prefix, "archive/2025/");
        let request = parsed(&["--src-bucket", "s3://a/x", "--dst-bucket", "b"])
            .request()
            .expect("request");
        assert_eq!(
            (
                request.plan.src_bucket.as_str(),
                request.plan.dst_bucket.as_str()
            ),
            ("a", "b")
        );
        assert_eq!(request.plan.prefixes.src_prefix, "x");
        assert_eq!(request.plan.prefixes.dst_prefix, "");
        let request = parsed(&["srcbucket", "dstbucket"])
            .request()
            .expect("request");
        assert_eq!(request.plan.prefixes, Prefixes::default());
        for bad in [&["a/logs", "b"][..], &["s3:///x", "b"], &["a"]] {
            let error = parsed(bad).request().expect_err("refused");
            assert!(matches!(error, Error::Usage(_)), "{error}");
        }
        // A side given twice is refused by the parser (exit 2).
        let twice = RsyncCli::try_parse_ordered(["rsync", "s3://a/", "b", "--src-bucket", "a"]);
        let error = twice.expect_err("SRC and --src-bucket");
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn include_and_exclude_keep_their_order_and_durations_become_times() {
        let cli = parsed(&[
            "a",
            "b",
            "--exclude",
            "tmp/**",
            "--include",
            "*.gz",
            "--exclude",
            "**",
            "--min-size",
            "1M",
            "--newer-than",
            "7d",
            "--older-than",
            "2025-06-01T00:00:00Z",
        ]);
        let now = Timestamp(1_750_000_000);
        let filters = cli.filters(now).expect("filters");
        let rules: Vec<String> = filters.filters.iter().map(Rule::to_filter).collect();
        assert_eq!(rules, ["exclude:tmp/**", "include:*.gz", "exclude:**"]);
        assert_eq!(filters.min_size, Some(1 << 20));
        assert_eq!(filters.newer_than, Some(Timestamp(now.0 - 7 * 86_400)));
        assert_eq!(filters.older_than, Some(Timestamp(1_748_736_000)));
        for (flag, value) in [
            ("--include", "[x"),
            ("--exclude", "{a"),
            ("--min-size", "12Q"),
            ("--max-size", "1.5.2"),
            ("--newer-than", "yesterday"),
            ("--older-than", "2025-13-01T00:00:00Z"),
        ] {
            let cli = parsed(&["a", "b", flag, value]);
            let error = cli.request().expect_err("refused");
            let text = error.to_string();
            assert!(matches!(error, Error::Usage(_)), "{text}");
            assert!(text.contains(flag) && text.contains(value), "{text}");
        }
    }
}
