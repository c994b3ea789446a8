//! The step plan: what a Campanile job does, as a typed list of steps, built once by a
//! pure function of the user's options ([`build`]). Two runners execute the same plan:
//! [`emr`] renders each step to an EMR `StepConfig` and submits it; the local runner
//! runs it on this machine with the Hadoop Streaming contract.
//!
//! Steps, in order (the article's rsync): list the source; with `--diff`, list the
//! destination and diff the two lists; unless `--list-only`, multipartlist; unless
//! `--list-only` or `--no-copy`, objectcopy with the multipartcomplete reducer, then
//! the clean-up of the run's uploads left in progress ([`Step::Cleanup`], for EMR). Paths
//! live under the run directory `<base>/<uuid>`: `<bucket>.list`, `diff.list`,
//! `<src>.multipartlist`; the copy's output (the part map) is
//! `<output>/<part file name>.<uuid>`.

pub mod delete;
pub mod emr;
pub mod index;
pub mod local;
pub mod map;
pub mod validate;
pub mod verify;

use std::time::Duration;

use serde::Serialize;

use crate::command::{
    BucketListArgs, ListingSelection, MultipartCompleteArgs, MultipartListArgs, ObjectCopyArgs,
    ObjectRestoreArgs, Persistence, Prefixes, S3Side, SrcDst, Task, TaskCommand, WriteSettings,
};
use crate::error::Error;
use crate::governor::RequestBudget;

/// Hadoop's NLineInputFormat class (old API), the input format of every step.
pub const NLINE_INPUT_FORMAT: &str = crate::stream::NLINE_INPUT_FORMAT;

/// Name of the credentials file shipped with the binaries under `--code`.
pub const CREDENTIALS_FILE: &str = ".boto";

/// Name of the configuration file shipped with the binaries under `--code`.
pub const CONFIG_FILE: &str = "campanile.cfg";

/// The files every streaming step of a `job` ships into its sandbox (`-files`), from
/// `--code`: the job's task binaries, the credentials file and the configuration.
pub fn code_files(job: &Job) -> Vec<&'static str> {
    job.tasks()
        .iter()
        .map(|task| task.program())
        .chain([CREDENTIALS_FILE, CONFIG_FILE])
        .collect()
}

/// The user's choices that shape a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// The part file (`s3://…` on EMR; a path or `s3://…` locally); with `inventory`,
    /// the list of an S3 Inventory report's data files.
    pub input: String,
    /// The source is listed from an S3 Inventory report (`input` names its data files,
    /// read by `bucketlist --inventory`) instead of the bucket.
    pub inventory: bool,
    /// The part file of the destination listing (`--diff`) when it is not `input`:
    /// required with `inventory`.
    pub dst_input: Option<String>,
    /// Reduce tasks of the listing steps, whose reducer (`bucketlist --distinct`)
    /// writes each key once, however many times it was listed.
    pub listing_reducers: u32,
    /// Where the binaries, `diff.q`, the credentials file and `campanile.cfg` live.
    pub code: String,
    /// Prefix of the job output (the part map).
    pub output: String,
    /// Source bucket.
    pub src_bucket: String,
    /// Destination bucket.
    pub dst_bucket: String,
    /// The source prefix (only keys under it are listed) and the destination prefix
    /// that replaces it in the keys written; given to every task that addresses the
    /// destination. Empty: the whole bucket, keys kept.
    pub prefixes: Prefixes,
    /// The filters of the source listing (`--filter`, sizes, times), applied by the
    /// source's bucketlist; its `prefix` and `as_prefix` are ignored (the plan sets
    /// them from `prefixes`).
    pub filters: ListingSelection,
    /// Source endpoint (host or URL) given to the tasks.
    pub src_endpoint: String,
    /// Destination endpoint given to the tasks.
    pub dst_endpoint: String,
    /// Source profile given to the tasks.
    pub src_profile: Option<String>,
    /// Destination profile given to the tasks.
    pub dst_profile: Option<String>,
    /// Also list the destination and copy only what is missing or different.
    pub diff: bool,
    /// Stop after multipartlist (its output is the later copy's input).
    pub no_copy: bool,
    /// Only list (and diff).
    pub list_only: bool,
    /// Run id: the run directory's name and the output's suffix.
    pub uuid: String,
    /// Base of the run directory: `hdfs://` on EMR, a local directory locally.
    pub run_base: RunBase,
    /// Add `-verbose` to the streaming steps.
    pub debug: bool,
    /// objectcopy lets the server copy the bytes (`--server-side`): one endpoint, and
    /// destination credentials that can read the source.
    pub server_side_copy: bool,
    /// Unless `server_side_copy`: let the server copy what the destination's
    /// credentials can read when both sides are on one endpoint (`objectcopy
    /// --server-side-if-readable`); rsync sets it unless `--no-server-side-copy`.
    /// Not with an SSE-KMS or SSE-C write, whose copies' ETags prove nothing.
    pub auto_server_side: bool,
    /// Encryption, storage class and ACL of the copies (given to multipartlist and
    /// objectcopy); unset, the source's are carried. Its `dst_sse_c_key_file` also goes
    /// to multipartcomplete.
    pub write: WriteSettings,
    /// The SSE-C key file of the source objects (`--src-sse-c-key-file`), given to
    /// multipartlist and objectcopy: an absolute path where the tasks run (the key
    /// itself never enters the plan; see [`crate::sse_c`]).
    pub src_sse_c_key_file: Option<std::path::PathBuf>,
    /// Bytes of object data each copy task may hold in memory (its `maxtmpsize`),
    /// given to the copy tasks in their environment ([`crate::config::MAX_TMP_SIZE_ENV`]);
    /// `None` leaves it to the nodes' `campanile.cfg`.
    pub copy_task_memory: Option<u64>,
    /// Input lines per map task for every streaming step, instead of the article's
    /// per-step values (`--lines-per-map` on a cluster; the local runner sizes its own
    /// splits).
    pub lines_per_map: Option<u64>,
    /// Each task's requests per second per key prefix: its share of the run's budget
    /// (see [`crate::governor`]). Given on the task command lines when it is not S3's
    /// own rates.
    pub task_budget: RequestBudget,
    /// What the plan does with the listed objects (the copy, by default).
    pub job: Job,
    /// A source listing given instead of listing the source (`sync --input-report`:
    /// the keys of a verify report): no source listing step, the job's steps read
    /// it. `input` still names the run's steps.
    pub listing: Option<String>,
    /// `--delete`: the plan also finds the destination keys the source lacks (and, on
    /// a cluster, deletes them in its last steps): see [`delete`].
    pub delete: Option<delete::DeleteJob>,
}

/// Where a run's intermediate files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunBase {
    /// HDFS of the cluster: RunDir `hdfs:///<uuid>`, paths `/<uuid>/…`.
    Hdfs,
    /// A local directory: RunDir `<dir>/<uuid>`.
    Local(String),
}

/// A whole job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The run directory, as printed (`RunDir:`).
    pub run_dir: String,
    /// The copy step's output, or `None` without a copy step.
    pub output: Option<String>,
    /// With `--no-copy`: the part list a later copy takes as input (`CopyInput:`).
    pub copy_input: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Where this run's multipart uploads are made, for the clean-up of uploads left
    /// by failed attempts (see [`crate::orphans`]); `None` without a multipartlist step.
    pub uploads: Option<UploadScope>,
    /// With `--delete`: the listings the deletions are found from ([`delete`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<delete::DeleteScope>,
}

/// The destination side of a run's multipart uploads (also recorded in a local run's
/// directory, for the clean-up after a run that was killed: see
/// [`crate::rsync::unfinished`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UploadScope {
    /// Destination bucket.
    pub bucket: String,
    /// Destination endpoint.
    pub endpoint: String,
    /// Destination profile.
    pub profile: Option<String>,
    /// The listing multipartlist reads (its multipart keys are the run's uploads).
    pub objects: String,
    /// The part list multipartlist writes (the copy's input): the layout of each of
    /// the run's uploads, which the clean-up completes when all its parts are there.
    pub parts: String,
    /// The records' (source) keys map to destination keys with these prefixes (see
    /// [`crate::select::KeyMap`]); empty in a run without prefixes (and in the records
    /// of runs made before them).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub src_prefix: String,
    /// What replaces `src_prefix` in the destination keys.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dst_prefix: String,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// A plan holds a handful of steps: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Step {
    /// A Hadoop Streaming job.
    Streaming(StreamingStep),
    /// The diff of two listings (Hive on EMR, native locally).
    Diff(DiffStep),
    /// The clean-up after the copy, for a cluster: a map-only streaming job
    /// (`multipartlist --abort-run` over the run's listing) that aborts the run's
    /// uploads left in progress. On EMR it runs whether the copy succeeded or not
    /// (ActionOnFailure CONTINUE on the copy and on it). The local and Hadoop runners
    /// skip it: they clean up themselves after a failed step
    /// ([`crate::orphans::finish_run`], which also completes finished uploads).
    Cleanup(StreamingStep),
    /// A check that a path exists, for a cluster: `hadoop fs -test -e PATH`, failing
    /// the step when it does not. The gate of `--delete`'s steps: the copy's
    /// `_SUCCESS` marker ([`delete`]). The local runner never has one.
    Check(CheckStep),
}

/// A [`Step::Check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckStep {
    /// Step name, e.g. `copied.srcbucket.part.all`.
    pub name: String,
    /// The path that must exist.
    pub path: String,
}

impl CheckStep {
    /// The `hadoop` arguments of the check (after the `hadoop` command).
    pub fn hadoop_args(&self) -> Vec<String> {
        ["fs", "-test", "-e", &self.path]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

impl UploadScope {
    /// The destination key of each record key.
    pub fn key_map(&self) -> crate::select::KeyMap {
        crate::select::KeyMap::new(&self.src_prefix, &self.dst_prefix)
    }
}

impl Step {
    /// The step's name.
    pub fn name(&self) -> &str {
        match self {
            Step::Streaming(step) | Step::Cleanup(step) => &step.name,
            Step::Diff(step) => &step.name,
            Step::Check(step) => &step.name,
        }
    }
}

/// A Hadoop Streaming job of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamingStep {
    /// Step name, e.g. `list.srcbucket.part.all`.
    pub name: String,
    /// Files shipped into each task's working directory (`-files`).
    pub files: Vec<String>,
    /// How Hadoop runs the job's tasks.
    pub settings: JobSettings,
    /// Environment of every task (streaming's `-cmdenv`), in order.
    pub env: Vec<(String, String)>,
    /// Input path.
    pub input: String,
    /// Output directory (must not exist).
    pub output: String,
    /// The map task.
    pub mapper: TaskCommand,
    /// The reduce task; `None` for a map-only step.
    pub reducer: Option<TaskCommand>,
    /// Add `-verbose`.
    pub verbose: bool,
}

/// How Hadoop runs one streaming job's tasks (the article's table of settings). The
/// EMR renderer writes them as `-D` properties ([`JobSettings::properties`]); the
/// local runner reads the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobSettings {
    /// Attempts per task before the job fails (`mapreduce.map.maxattempts`); reduce
    /// tasks get Hadoop's default, [`DEFAULT_ATTEMPTS`].
    pub map_attempts: u32,
    /// A task that neither reads, writes nor reports for this long is killed
    /// (`mapreduce.task.timeout`).
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Input lines per map task (`mapreduce.input.lineinputformat.linespermap`).
    pub lines_per_map: u64,
    /// Reduce tasks (`mapreduce.job.reduces`); 0 for a map-only job.
    pub reducers: u32,
    /// Gzip the job output (`mapreduce.output.fileoutputformat.compress`).
    pub compress: bool,
    /// Speculative attempts (`mapreduce.{map,reduce}.speculative`): off in every
    /// Campanile step, since two attempts copying the same object would race.
    pub speculative: bool,
}

/// Hadoop's default attempts per task (`mapred-default.xml`).
pub const DEFAULT_ATTEMPTS: u32 = 4;

mod millis {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u128(value.as_millis())
    }
}

impl JobSettings {
    /// bucketlist: one part-file line per task (a line may list millions of keys),
    /// expected to report often; `reducers` reduce tasks write each key once.
    pub fn listing(reducers: u32) -> Self {
        JobSettings {
            reducers,
            ..JobSettings::map_only()
        }
    }

    /// The settings shared by the map-only steps.
    fn map_only() -> Self {
        JobSettings {
            map_attempts: DEFAULT_ATTEMPTS,
            timeout: Duration::from_secs(300),
            lines_per_map: 1,
            reducers: 0,
            compress: false,
            speculative: false,
        }
    }

    /// multipartlist: a HEAD and an upload creation per object, rarely failing, so
    /// many lines per task.
    pub fn multipart_list() -> Self {
        JobSettings {
            lines_per_map: 1000,
            ..JobSettings::map_only()
        }
    }

    /// objectverify: two HEADs (and rarely two GetObjectTagging) per object, nothing
    /// written, so many lines per task, as multipartlist.
    pub fn verify() -> Self {
        JobSettings::multipart_list()
    }

    /// objectmap: a GET and a command per object (a task fails if one of its commands
    /// does), so few objects per task, as the copy; map-only, plain output (the job
    /// output is the map's result).
    pub fn map() -> Self {
        JobSettings {
            timeout: Duration::from_secs(600),
            lines_per_map: 10,
            ..JobSettings::map_only()
        }
    }

    /// objectcopy with the multipartcomplete reducer: few objects per task (a task
    /// succeeds only if all its copies do), more attempts and time, one reducer (one
    /// part-map file), gzip output.
    pub fn copy() -> Self {
        JobSettings {
            map_attempts: 6,
            timeout: Duration::from_secs(600),
            lines_per_map: 10,
            reducers: 1,
            compress: true,
            speculative: false,
        }
    }

    /// objectdelete: the mapper only selects rows (no request), so many lines per
    /// task; one reducer sees every row, counts them against `--max-delete`, then
    /// deletes (a HEAD and a thousandth of a DeleteObjects per key).
    pub fn delete() -> Self {
        JobSettings {
            lines_per_map: 100_000,
            timeout: Duration::from_secs(600),
            reducers: 1,
            ..JobSettings::map_only()
        }
    }

    /// The Hadoop properties these settings stand for, in the order the EMR steps
    /// carry them.
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let mut properties = vec![
            ("mapreduce.map.maxattempts", self.map_attempts.to_string()),
            (
                "mapreduce.input.lineinputformat.linespermap",
                self.lines_per_map.to_string(),
            ),
            ("mapreduce.map.speculative", self.speculative.to_string()),
            (
                "mapreduce.task.timeout",
                self.timeout.as_millis().to_string(),
            ),
            ("mapreduce.job.reduces", self.reducers.to_string()),
        ];
        if self.reducers > 0 {
            // Reduce speculation is on by default in Hadoop: two attempts completing
            // the same uploads would race.
            properties.push(("mapreduce.reduce.speculative", self.speculative.to_string()));
        }
        if self.compress {
            properties.extend([
                (
                    "mapreduce.output.fileoutputformat.compress",
                    "true".to_string(),
                ),
                (
                    "mapreduce.output.fileoutputformat.compress.codec",
                    GZIP_CODEC.to_string(),
                ),
            ]);
        }
        properties
    }
}

/// Hadoop's gzip codec class.
pub const GZIP_CODEC: &str = "org.apache.hadoop.io.compress.GzipCodec";

/// The diff of a source and a destination listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffStep {
    /// Step name, e.g. `hive.srcbucket.part.all`.
    pub name: String,
    /// The Hive script (`<code>/diff.q`).
    pub script: String,
    /// Source listing directory.
    pub src: String,
    /// Destination listing directory.
    pub dst: String,
    /// Output directory: source rows to copy.
    pub diff: String,
}

/// The last path component of the part file (`part.all`), used in names.
pub fn part_file_name(input: &str) -> &str {
    input
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(input)
}

fn join(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// What a plan does with the objects its listing steps select: one variant per job,
/// one branch of [`build`] per variant. Every job starts with the same steps (the
/// source listing through the part file; with `diff`, the destination listing and the
/// diff); its branch adds the steps that act on the listed objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Job {
    /// Copy (the article's rsync): multipartlist, objectcopy with the
    /// multipartcomplete reducer, the clean-up of the run's uploads.
    #[default]
    Sync,
    /// Restore (`campanile restore`): the source listing keeps only the archive
    /// storage classes (`bucketlist --archived`), then objectrestore requests the
    /// restore of each object that needs one; the job output is its outcome per object.
    Restore(RestoreJob),
    /// Index (`campanile index`): objectindex over the source listing, one row per
    /// object with its HEAD's storage class, encryption and checksum algorithm
    /// ([`index`]).
    Index(index::IndexJob),
    /// Compare both sides (`campanile verify`): objectverify over the source listing
    /// and, with `extra`, over the diff of the destination listing against it
    /// ([`verify::verify_steps`]).
    Verify(verify::VerifyJob),
    /// Map a command over the objects (`campanile map`): objectmap over the source
    /// listing ([`map::map_steps`]).
    Map(map::MapJob),
    /// Re-encrypt or re-class in place (`campanile reencrypt`): the copy's steps with
    /// the destination = the source, every record rewritten onto itself in the server
    /// with its own headers and the write settings over them (`objectcopy
    /// --in-place`); see [`validate::reencrypt`].
    Reencrypt,
    /// Copy object versions (`rsync --all-versions`, `--version-at`): the source
    /// listing writes one versions record per key (`bucketlist --all-versions` or
    /// `--version-at`, [`crate::versions`]), then one map-only step, `objectcopy
    /// --versions`, copies each key's versions in order ([`versions_steps`]), then the
    /// clean-up of the uploads left in progress. No multipartlist planning and no
    /// multipartcomplete: a multipart version is uploaded and completed in its key's
    /// task, in order.
    Versions(VersionsJob),
}

/// What a copy of versions asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionsJob {
    /// `--version-at`: the bucket as it stood at this time, into the destination's
    /// current objects; `None` (`--all-versions`): every version, into its history.
    pub at: Option<crate::select::Timestamp>,
}

impl VersionsJob {
    /// The copy's mode.
    pub fn mode(&self) -> crate::task::objectcopy::versions::VersionsMode {
        use crate::task::objectcopy::versions::VersionsMode;
        match self.at {
            None => VersionsMode::History,
            Some(_) => VersionsMode::Current,
        }
    }
}

impl Job {
    /// Whether the job writes copies (its output is the copy's part map): sync and
    /// reencrypt.
    pub fn copies(&self) -> bool {
        matches!(self, Job::Sync | Job::Reencrypt | Job::Versions(_))
    }

    /// The task binaries the job's steps run (the files they ship), in pipeline order:
    /// the copy ships the article's four.
    pub fn tasks(&self) -> &'static [Task] {
        match self {
            Job::Sync | Job::Reencrypt => &[
                Task::BucketList,
                Task::MultipartList,
                Task::ObjectCopy,
                Task::MultipartComplete,
            ],
            Job::Restore(_) => &[Task::BucketList, Task::ObjectRestore],
            Job::Index(_) => &[Task::BucketList, Task::ObjectIndex],
            Job::Verify(_) => &[Task::BucketList, Task::ObjectVerify],
            Job::Map(_) => &[Task::BucketList, Task::ObjectMap],
            // multipartlist for the clean-up step (`--abort-run`).
            Job::Versions(_) => &[Task::BucketList, Task::ObjectCopy, Task::MultipartList],
        }
    }
}

/// What `campanile restore` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreJob {
    /// Retrieval tier: Standard, Bulk or Expedited.
    pub tier: String,
    /// Days a restored GLACIER or DEEP_ARCHIVE copy stays readable.
    pub days: u32,
}

/// What every job's branch builds its steps with: the options, the run's directory and
/// the files each step ships.
pub struct PlanBuilder<'a> {
    /// The user's options.
    pub options: &'a PlanOptions,
    /// The part file's name (`part.all`), used in step names.
    pub part_file: &'a str,
    /// The run directory as the steps address it (`/<uuid>` on HDFS, a local path).
    pub dir: String,
    files: Vec<String>,
    persistence: Persistence,
}

impl<'a> PlanBuilder<'a> {
    /// The builder of `options`' plan, with the run directory's two spellings (as
    /// printed, as the steps address it).
    fn new(options: &'a PlanOptions) -> (Self, String) {
        let (run_dir, dir) = match &options.run_base {
            RunBase::Hdfs => (
                format!("hdfs:///{}", options.uuid),
                format!("/{}", options.uuid),
            ),
            RunBase::Local(base) => {
                let dir = join(base, &options.uuid);
                (dir.clone(), dir)
            }
        };
        let mut files: Vec<String> = code_files(&options.job)
            .iter()
            .map(|f| join(&options.code, f))
            .collect();
        if options.delete.is_some() && options.run_base == RunBase::Hdfs {
            // Shipped only by a cluster plan that deletes: the others keep their steps.
            files.insert(
                files.len().saturating_sub(2),
                join(&options.code, Task::ObjectDelete.program()),
            );
        }
        let builder = PlanBuilder {
            options,
            part_file: part_file_name(&options.input),
            dir,
            files,
            persistence: Persistence::default().with_budget(options.task_budget),
        };
        (builder, run_dir)
    }

    /// `name` in the run directory.
    pub fn path(&self, name: &str) -> String {
        join(&self.dir, name)
    }

    /// A streaming step shipping the code files, with the user's `--lines-per-map`
    /// (if any) over the step's own and `-verbose` with `--debug`.
    pub fn streaming(
        &self,
        name: String,
        settings: JobSettings,
        (input, output): (String, String),
        mapper: TaskCommand,
        reducer: Option<TaskCommand>,
    ) -> StreamingStep {
        StreamingStep {
            name,
            files: self.files.clone(),
            settings: JobSettings {
                lines_per_map: self.options.lines_per_map.unwrap_or(settings.lines_per_map),
                ..settings
            },
            env: Vec::new(),
            input,
            output,
            mapper,
            reducer,
            verbose: self.options.debug,
        }
    }

    /// The S3 options of a task addressing `endpoint` with `profile`, with the task's
    /// share of the request budget.
    pub fn side(&self, endpoint: &str, profile: &Option<String>) -> S3Side {
        S3Side {
            endpoint: Some(endpoint.to_string()),
            profile: profile.clone(),
            persistence: self.persistence.clone(),
            ..Default::default()
        }
    }

    /// The source and destination of the tasks that address both buckets (with the
    /// source's SSE-C key file and the prefixes).
    pub fn buckets(&self) -> SrcDst {
        let options = self.options;
        SrcDst {
            src_bucket: options.src_bucket.clone(),
            src_endpoint: Some(options.src_endpoint.clone()),
            src_profile: options.src_profile.clone(),
            dst_bucket: options.dst_bucket.clone(),
            dst_endpoint: Some(options.dst_endpoint.clone()),
            dst_profile: options.dst_profile.clone(),
            src_sse_c_key_file: options.src_sse_c_key_file.clone(),
            prefixes: options.prefixes.clone(),
            persistence: self.persistence.clone(),
            ..Default::default()
        }
    }

    /// The listing of `bucket` (`<dir>/<bucket>.list`) through the part file `input`
    /// (or, with `inventory`, from the inventory data files it lists). Every listing
    /// ends in the reducer that writes each key once: a key listed twice would be
    /// acted on twice (a copy's second multipart upload aborting the first).
    pub fn list_step(
        &self,
        (bucket, endpoint, profile): (&str, &str, &Option<String>),
        input: &str,
        inventory: bool,
        select: ListingSelection,
    ) -> Step {
        let (kind, name) = if inventory {
            ("inventory", part_file_name(input))
        } else {
            ("list", self.part_file)
        };
        let lister = BucketListArgs {
            bucket: bucket.to_string(),
            s3: self.side(endpoint, profile),
            inventory,
            distinct: false,
            keep_archived: false,
            select,
        };
        let distinct = BucketListArgs {
            bucket: bucket.to_string(),
            distinct: true,
            ..Default::default()
        };
        Step::Streaming(self.streaming(
            format!("{kind}.{bucket}.{name}"),
            JobSettings::listing(self.options.listing_reducers.max(1)),
            (input.to_string(), self.path(&format!("{bucket}.list"))),
            TaskCommand::BucketList(lister),
            Some(TaskCommand::BucketList(distinct)),
        ))
    }

    /// The destination listing (`<dir>/<dst>.list`): every key under the destination
    /// prefix, written in the source's key space so that a diff compares like with
    /// like; no filter (a key the source listing left out is not in a diff's source
    /// side anyway).
    ///
    /// With `--delete` it takes the source's key rules (relative to the destination
    /// prefix, they select the keys the source's select): a destination key they
    /// exclude is not listed, so never deleted ([`delete`]).
    pub fn dst_list_step(&self) -> Step {
        let options = self.options;
        let dst_select = ListingSelection {
            prefix: options.prefixes.dst_prefix.clone(),
            as_prefix: (!options.prefixes.key_map().is_identity())
                .then(|| options.prefixes.src_prefix.clone()),
            filters: if options.delete.is_some() {
                options.filters.filters.clone()
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        self.list_step(
            (
                &options.dst_bucket,
                &options.dst_endpoint,
                &options.dst_profile,
            ),
            options.dst_input.as_deref().unwrap_or(&options.input),
            false,
            dst_select,
        )
    }

    /// The steps every job starts with: the source listing (the keys under the source
    /// prefix that pass the filters: nothing it leaves out reaches a later step); with
    /// `diff`, the destination listing and the diff. With a given `listing`, none. Returns them with the listing the
    /// job's own steps read (the source listing, or the diff's rows).
    ///
    /// With `--delete` and filters other than the key rules, the source key listing
    /// follows the source listing ([`delete::key_listing_step`]).
    pub fn listing_steps(&self) -> (Vec<Step>, String) {
        let options = self.options;
        if let Some(listing) = &options.listing {
            // Listed already (the plan's checks refuse a diff with it).
            return (Vec::new(), listing.clone());
        }
        let src_select = ListingSelection {
            prefix: options.prefixes.src_prefix.clone(),
            as_prefix: None,
            archived: options.filters.archived || matches!(options.job, Job::Restore(_)),
            all_versions: matches!(options.job, Job::Versions(VersionsJob { at: None })),
            version_at: match options.job {
                Job::Versions(job) => job.at,
                _ => None,
            },
            ..options.filters.clone()
        };
        let mut steps = vec![self.list_step(
            (
                &options.src_bucket,
                &options.src_endpoint,
                &options.src_profile,
            ),
            &options.input,
            options.inventory,
            src_select,
        )];
        let src_list = self.path(&format!("{}.list", options.src_bucket));
        if let Some((keys, _)) = delete::key_listing_step(self) {
            steps.push(keys);
        }
        // A copy of versions compares each key's history at the destination itself
        // (docs/versions.md): its `--diff` lists nothing more.
        if !options.diff || matches!(options.job, Job::Versions(_)) {
            return (steps, src_list);
        }
        steps.push(self.dst_list_step());
        let diff = self.path("diff.list");
        steps.push(Step::Diff(DiffStep {
            name: format!("hive.{}.{}", options.src_bucket, self.part_file),
            script: join(&options.code, "diff.q"),
            src: src_list,
            dst: self.path(&format!("{}.list", options.dst_bucket)),
            diff: diff.clone(),
        }));
        (steps, diff)
    }
}

/// Builds the plan of a job. Pure: no I/O; the options are validated first.
pub fn build(options: &PlanOptions) -> Result<Plan, Error> {
    validate::plan_options(options)?;
    let (builder, run_dir) = PlanBuilder::new(options);
    let (steps, listing) = builder.listing_steps();
    let mut plan = Plan {
        run_dir,
        output: None,
        copy_input: None,
        steps,
        uploads: None,
        delete: None,
    };
    if options.list_only {
        return Ok(plan);
    }
    match &options.job {
        Job::Sync | Job::Reencrypt => {
            sync_steps(&builder, listing, &mut plan);
            let src_keys = match delete::key_listing_step(&builder) {
                Some((_, keys)) => keys,
                None => builder.path(&format!("{}.list", options.src_bucket)),
            };
            delete::delete_steps(&builder, src_keys, &mut plan);
        }
        Job::Restore(restore) => restore_steps(&builder, restore, listing, &mut plan),
        Job::Index(job) => index::index_steps(&builder, job, listing, &mut plan),
        Job::Verify(job) => verify::verify_steps(&builder, listing, &mut plan, job),
        Job::Map(job) => map::map_steps(&builder, job, listing, &mut plan),
        Job::Versions(job) => versions_steps(&builder, job, listing, &mut plan),
    }
    Ok(plan)
}

/// The copy of versions ([`Job::Versions`]) after the listing: one map-only step,
/// `objectcopy --versions`, over the versions records (one key per line, so that a
/// key's versions stay in one task whatever splits the input); its output (a row per
/// version, and the skip rows) is the job output. Then the clean-up of the uploads a
/// killed or failed copy task left in progress, as the copy's ([`Step::Cleanup`]:
/// `multipartlist --abort-run` over the versions listing): every upload in progress
/// for a key with a multipart version is aborted ([`crate::orphans`]). The run's
/// [`UploadScope`] has no part list (`parts` names a file no step writes), so the
/// local and Hadoop runners' clean-up aborts those uploads too, never completes one.
fn versions_steps(builder: &PlanBuilder, job: &VersionsJob, listing: String, plan: &mut Plan) {
    let options = builder.options;
    let part_file = builder.part_file;
    let buckets = builder.buckets();
    // The clean-up only aborts uploads: no object is read, no key needed.
    let cleanup_buckets = SrcDst {
        src_sse_c_key_file: None,
        ..buckets.clone()
    };
    plan.uploads = Some(UploadScope {
        bucket: options.dst_bucket.clone(),
        endpoint: options.dst_endpoint.clone(),
        profile: options.dst_profile.clone(),
        objects: listing.clone(),
        parts: builder.path(NO_PART_LIST),
        src_prefix: options.prefixes.src_prefix.clone(),
        dst_prefix: options.prefixes.dst_prefix.clone(),
    });
    let output = join(&options.output, &format!("{part_file}.{}", options.uuid));
    let mut copy = builder.streaming(
        format!("copy.{}.{part_file}", options.src_bucket),
        JobSettings {
            reducers: 0,
            compress: false,
            ..JobSettings::copy()
        },
        (listing.clone(), output.clone()),
        TaskCommand::ObjectCopy(ObjectCopyArgs {
            buckets,
            versions: Some(job.mode()),
            write: options.write.clone(),
            ..Default::default()
        }),
        None,
    );
    if let Some(bytes) = options.copy_task_memory {
        copy.env.push((
            crate::config::MAX_TMP_SIZE_ENV.to_string(),
            bytes.to_string(),
        ));
    }
    plan.steps.push(Step::Streaming(copy));
    plan.output = Some(output);
    // Runs after the copy on EMR, failed or not: no upload of the run stays billed.
    plan.steps.push(Step::Cleanup(builder.streaming(
        format!("cleanup.{}.{part_file}", options.src_bucket),
        JobSettings::multipart_list(),
        (listing, builder.path("cleanup")),
        TaskCommand::MultipartList(MultipartListArgs {
            buckets: cleanup_buckets,
            abort_run: true,
            ..Default::default()
        }),
        None,
    )));
}

/// The part list of a copy of versions' [`UploadScope`], in the run directory: no step
/// writes it (the versions copy has no multipartlist), so the clean-up reads the
/// versions listing and completes nothing.
pub const NO_PART_LIST: &str = "no-part-list";

/// The restore's step ([`Job::Restore`]) after the listing: objectrestore over the
/// archived objects the listing kept; its output (each object's outcome) is the job
/// output.
fn restore_steps(builder: &PlanBuilder, restore: &RestoreJob, listing: String, plan: &mut Plan) {
    let options = builder.options;
    let output = join(
        &options.output,
        &format!("{}.{}", builder.part_file, options.uuid),
    );
    plan.steps.push(Step::Streaming(builder.streaming(
        format!("restore.{}.{}", options.src_bucket, builder.part_file),
        JobSettings::multipart_list(),
        (listing, output.clone()),
        TaskCommand::ObjectRestore(ObjectRestoreArgs {
            bucket: options.src_bucket.clone(),
            s3: builder.side(&options.src_endpoint, &options.src_profile),
            tier: restore.tier.clone(),
            days: restore.days,
            ..Default::default()
        }),
        None,
    )));
    plan.output = Some(output);
}

/// Whether the copy lets the server copy what the destination's credentials can read
/// ([`PlanOptions::auto_server_side`]): one endpoint, no forced server-side mode, and
/// copies whose ETags are MD5s (no SSE-KMS or SSE-C write).
pub fn server_side_if_readable(options: &PlanOptions) -> bool {
    let write = &options.write;
    options.job == Job::Sync
        && options.auto_server_side
        && !options.server_side_copy
        && options.src_endpoint == options.dst_endpoint
        && write.dst_sse_c_key_file.is_none()
        && write.sse_kms_key_id.is_none()
        && matches!(write.sse.as_deref(), None | Some("AES256"))
}

/// The copy's steps ([`Job::Sync`]) after the listing steps, over `listing`: the
/// multipartlist step; unless `no_copy`, the copy with the multipartcomplete reducer
/// (the job output is its part map) and the clean-up of the run's uploads.
fn sync_steps(builder: &PlanBuilder, copy_source: String, plan: &mut Plan) {
    let options = builder.options;
    let part_file = builder.part_file;
    let buckets = builder.buckets();
    // The clean-up only aborts uploads: no object is read, no key needed.
    let cleanup_buckets = SrcDst {
        src_sse_c_key_file: None,
        ..buckets.clone()
    };
    let part_list = builder.path(&format!("{}.multipartlist", options.src_bucket));
    plan.steps.push(Step::Streaming(builder.streaming(
        format!("mlist.{}.{part_file}", options.src_bucket),
        JobSettings::multipart_list(),
        (copy_source.clone(), part_list.clone()),
        TaskCommand::MultipartList(MultipartListArgs {
            buckets: buckets.clone(),
            write: options.write.clone(),
            in_place: options.job == Job::Reencrypt,
            ..Default::default()
        }),
        None,
    )));
    if options.no_copy {
        plan.copy_input = Some(part_list);
        return;
    }
    // Only a plan that completes its uploads may clean up after itself: with
    // `--no-copy` the uploads are the input of a later copy.
    plan.uploads = Some(UploadScope {
        bucket: options.dst_bucket.clone(),
        endpoint: options.dst_endpoint.clone(),
        profile: options.dst_profile.clone(),
        objects: copy_source.clone(),
        parts: part_list.clone(),
        src_prefix: options.prefixes.src_prefix.clone(),
        dst_prefix: options.prefixes.dst_prefix.clone(),
    });
    let output = join(&options.output, &format!("{part_file}.{}", options.uuid));
    let mut copy = builder.streaming(
        format!("copy.{}.{part_file}", options.src_bucket),
        JobSettings::copy(),
        (part_list, output.clone()),
        TaskCommand::ObjectCopy(ObjectCopyArgs {
            buckets,
            server_side: options.server_side_copy && options.job != Job::Reencrypt,
            server_side_if_readable: server_side_if_readable(options),
            in_place: options.job == Job::Reencrypt,
            write: options.write.clone(),
            ..Default::default()
        }),
        Some(TaskCommand::MultipartComplete(MultipartCompleteArgs {
            bucket: options.dst_bucket.clone(),
            src_bucket: Some(options.src_bucket.clone()),
            s3: builder.side(&options.dst_endpoint, &options.dst_profile),
            dst_sse_c_key_file: options.write.dst_sse_c_key_file.clone(),
            prefixes: options.prefixes.clone(),
            ..Default::default()
        })),
    );
    if let Some(bytes) = options.copy_task_memory {
        copy.env.push((
            crate::config::MAX_TMP_SIZE_ENV.to_string(),
            bytes.to_string(),
        ));
    }
    plan.steps.push(Step::Streaming(copy));
    plan.output = Some(output);
    // Runs after the copy on EMR, failed or not: no upload of the run stays billed.
    plan.steps.push(Step::Cleanup(builder.streaming(
        format!("cleanup.{}.{part_file}", options.src_bucket),
        JobSettings::multipart_list(),
        (copy_source, builder.path("cleanup")),
        TaskCommand::MultipartList(MultipartListArgs {
            buckets: cleanup_buckets,
            abort_run: true,
            ..Default::default()
        }),
        None,
    )));
}

/// The plan of a local dry run (`rsync --dry-run` without a cluster): [`build`]'s
/// listing steps and diff, then multipartlist with `--dry-run`, which HEADs the
/// multipart objects for their part layout but creates no upload; no copy step, and
/// so no upload to clean up (`uploads` is `None`). Its part list (`copy_input`) holds
/// exactly the records the copy of a real run would take. With `list_only` the plan
/// is the listing alone. An index's dry run is its listing ([`index::dry_run`]).
///
/// A verify's dry run ([`Job::Verify`]) is its listings alone: what it would compare
/// is read from them, with no HEAD ([`verify::without_comparisons`]).
pub fn dry_run(options: &PlanOptions) -> Result<Plan, Error> {
    if let Job::Index(_) = options.job {
        return build(options).map(index::dry_run);
    }
    if let Job::Verify(_) = &options.job {
        return build(options).map(verify::without_comparisons);
    }
    if let Job::Map(_) = &options.job {
        return build(options).map(map::dry_run);
    }
    if let Job::Versions(_) = &options.job {
        // The copy step itself, reading the destination and writing nothing: what it
        // would write depends on each key's history there. No clean-up: a dry run
        // creates no upload, and aborts none.
        let mut plan = build(options)?;
        plan.steps.retain(|step| !matches!(step, Step::Cleanup(_)));
        plan.uploads = None;
        for step in &mut plan.steps {
            if let Step::Streaming(StreamingStep {
                mapper: TaskCommand::ObjectCopy(args),
                ..
            }) = step
            {
                args.dry_run = true;
            }
        }
        return Ok(plan);
    }
    let mut plan = build(&PlanOptions {
        no_copy: !options.list_only,
        ..options.clone()
    })?;
    for step in &mut plan.steps {
        match step {
            Step::Streaming(StreamingStep {
                mapper: TaskCommand::MultipartList(args),
                ..
            }) => args.dry_run = true,
            Step::Streaming(StreamingStep {
                mapper: TaskCommand::ObjectRestore(args),
                ..
            }) => args.dry_run = true,
            _ => {}
        }
    }
    Ok(plan)
}

#[cfg(test)]
pub(crate) mod tests;
