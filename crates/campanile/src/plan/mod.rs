//! The step plan: what a Campanile job does, as a typed list of steps, built once by a
//! pure function of the user's options ([`build`]). Two runners execute the same plan:
//! [`emr`] renders each step to an EMR `StepConfig` and submits it; the local runner
//! runs it on this machine with the Hadoop Streaming contract.
//!
//! Steps, in order (the article's rsync): list the source; with `--diff`, list the
//! destination and diff the two lists; unless `--list-only`, multipartlist; unless
//! `--list-only` or `--no-copy`, objectcopy with the multipartcomplete reducer. Paths
//! live under the run directory `<base>/<uuid>`: `<bucket>.list`, `diff.list`,
//! `<src>.multipartlist`; the copy's output (the part map) is
//! `<output>/<part file name>.<uuid>`.

pub mod emr;
pub mod local;
pub mod validate;

use serde::Serialize;

use crate::error::Error;

/// Hadoop's NLineInputFormat class (old API), the input format of every step.
pub const NLINE_INPUT_FORMAT: &str = crate::stream::NLINE_INPUT_FORMAT;

/// Name of the credentials file shipped with the binaries under `--code`.
pub const CREDENTIALS_FILE: &str = ".boto";

/// The files every streaming step ships into its sandbox (`-files`), from `--code`.
pub const CODE_FILES: [&str; 6] = [
    "bucketlist",
    "multipartlist",
    "objectcopy",
    "multipartcomplete",
    CREDENTIALS_FILE,
    "campanile.cfg",
];

/// The user's choices that shape a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// The part file (`s3://…` on EMR; a path or `s3://…` locally).
    pub input: String,
    /// Where the binaries, `diff.q`, the credentials file and `campanile.cfg` live.
    pub code: String,
    /// Prefix of the job output (the part map).
    pub output: String,
    /// Source bucket.
    pub src_bucket: String,
    /// Destination bucket.
    pub dst_bucket: String,
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
}

/// The destination side of a run's multipart uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadScope {
    /// Destination bucket.
    pub bucket: String,
    /// Destination endpoint.
    pub endpoint: String,
    /// Destination profile.
    pub profile: Option<String>,
    /// The listing multipartlist reads (its multipart keys are the run's uploads).
    pub objects: String,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// A Hadoop Streaming job.
    Streaming(StreamingStep),
    /// The diff of two listings (Hive on EMR, native locally).
    Diff(DiffStep),
}

impl Step {
    /// The step's name.
    pub fn name(&self) -> &str {
        match self {
            Step::Streaming(step) => &step.name,
            Step::Diff(step) => &step.name,
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
    /// Job configuration (`-D key=value`), in order.
    pub settings: Vec<(String, String)>,
    /// Input path.
    pub input: String,
    /// Output directory (must not exist).
    pub output: String,
    /// Mapper command line.
    pub mapper: Vec<String>,
    /// Reducer command line; `None` for a map-only step.
    pub reducer: Option<Vec<String>>,
    /// Add `-verbose`.
    pub verbose: bool,
}

impl StreamingStep {
    /// A setting's value.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

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

/// Hadoop settings of one streaming step (the article's table).
struct StepSettings {
    max_attempts: u32,
    timeout_ms: u64,
    lines_per_map: u32,
    copy: bool,
}

fn settings(step: &StepSettings) -> Vec<(String, String)> {
    let mut settings = vec![
        (
            "mapreduce.map.maxattempts".to_string(),
            step.max_attempts.to_string(),
        ),
        (
            "mapreduce.input.lineinputformat.linespermap".to_string(),
            step.lines_per_map.to_string(),
        ),
        ("mapreduce.map.speculative".to_string(), "false".to_string()),
        (
            "mapreduce.task.timeout".to_string(),
            step.timeout_ms.to_string(),
        ),
    ];
    if step.copy {
        settings.extend(
            [
                // One reducer: one part-map file. Reduce speculation off too: two
                // attempts completing the same uploads would race.
                ("mapreduce.job.reduces", "1"),
                ("mapreduce.reduce.speculative", "false"),
                ("mapreduce.output.fileoutputformat.compress", "true"),
                (
                    "mapreduce.output.fileoutputformat.compress.codec",
                    "org.apache.hadoop.io.compress.GzipCodec",
                ),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    } else {
        settings.push(("mapreduce.job.reduces".to_string(), "0".to_string()));
    }
    settings
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

fn with_profile(mut command: Vec<String>, flag: &str, profile: &Option<String>) -> Vec<String> {
    if let Some(profile) = profile {
        command.extend([flag.to_string(), profile.clone()]);
    }
    command
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Builds the plan of a job. Pure: no I/O; the options are validated first.
pub fn build(options: &PlanOptions) -> Result<Plan, Error> {
    validate::plan_options(options)?;
    let part_file = part_file_name(&options.input);
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
    let files: Vec<String> = CODE_FILES.iter().map(|f| join(&options.code, f)).collect();
    let streaming = |name: String,
                     step: StepSettings,
                     input: String,
                     output: String,
                     mapper: Vec<String>,
                     reducer: Option<Vec<String>>| {
        Step::Streaming(StreamingStep {
            name,
            files: files.clone(),
            settings: settings(&step),
            input,
            output,
            mapper,
            reducer,
            verbose: options.debug,
        })
    };
    let list_settings = || StepSettings {
        max_attempts: 4,
        timeout_ms: 300_000,
        lines_per_map: 1,
        copy: false,
    };
    let list_step = |bucket: &str, endpoint: &str, profile: &Option<String>| {
        streaming(
            format!("list.{bucket}.{part_file}"),
            list_settings(),
            options.input.clone(),
            join(&dir, &format!("{bucket}.list")),
            with_profile(
                args(&["bucketlist", "--bucket", bucket, "--endpoint", endpoint]),
                "--profile",
                profile,
            ),
            None,
        )
    };
    let src_list = join(&dir, &format!("{}.list", options.src_bucket));
    let mut steps = vec![list_step(
        &options.src_bucket,
        &options.src_endpoint,
        &options.src_profile,
    )];
    let mut copy_source = src_list;
    if options.diff {
        steps.push(list_step(
            &options.dst_bucket,
            &options.dst_endpoint,
            &options.dst_profile,
        ));
        let diff = join(&dir, "diff.list");
        steps.push(Step::Diff(DiffStep {
            name: format!("hive.{}.{part_file}", options.src_bucket),
            script: join(&options.code, "diff.q"),
            src: copy_source,
            dst: join(&dir, &format!("{}.list", options.dst_bucket)),
            diff: diff.clone(),
        }));
        copy_source = diff;
    }
    let mut plan = Plan {
        run_dir,
        output: None,
        copy_input: None,
        steps,
        uploads: None,
    };
    if options.list_only {
        return Ok(plan);
    }
    let both_sides = |task: &str| {
        let mut command = args(&[
            task,
            "--src-bucket",
            &options.src_bucket,
            "--src-endpoint",
            &options.src_endpoint,
            "--dst-bucket",
            &options.dst_bucket,
            "--dst-endpoint",
            &options.dst_endpoint,
        ]);
        command = with_profile(command, "--src-profile", &options.src_profile);
        with_profile(command, "--dst-profile", &options.dst_profile)
    };
    let part_list = join(&dir, &format!("{}.multipartlist", options.src_bucket));
    plan.steps.push(streaming(
        format!("mlist.{}.{part_file}", options.src_bucket),
        StepSettings {
            max_attempts: 4,
            timeout_ms: 300_000,
            lines_per_map: 1000,
            copy: false,
        },
        copy_source.clone(),
        part_list.clone(),
        both_sides("multipartlist"),
        None,
    ));
    if options.no_copy {
        plan.copy_input = Some(part_list);
        return Ok(plan);
    }
    // Only a plan that completes its uploads may clean up after itself: with
    // `--no-copy` the uploads are the input of a later copy.
    plan.uploads = Some(UploadScope {
        bucket: options.dst_bucket.clone(),
        endpoint: options.dst_endpoint.clone(),
        profile: options.dst_profile.clone(),
        objects: copy_source.clone(),
    });
    let output = join(&options.output, &format!("{part_file}.{}", options.uuid));
    plan.steps.push(streaming(
        format!("copy.{}.{part_file}", options.src_bucket),
        StepSettings {
            max_attempts: 6,
            timeout_ms: 600_000,
            lines_per_map: 10,
            copy: true,
        },
        part_list,
        output.clone(),
        {
            let mut mapper = both_sides("objectcopy");
            if options.server_side_copy {
                mapper.push("--server-side".to_string());
            }
            mapper
        },
        Some(with_profile(
            args(&[
                "multipartcomplete",
                "--bucket",
                &options.dst_bucket,
                "--endpoint",
                &options.dst_endpoint,
            ]),
            "--profile",
            &options.dst_profile,
        )),
    ));
    plan.output = Some(output);
    Ok(plan)
}

#[cfg(test)]
mod tests;
