//! The EMR runner: renders a [`Plan`] into EMR `StepConfig`s, submits them with
//! AddJobFlowSteps, and follows them with DescribeStep.
//!
//! Every step is a `command-runner.jar` step with ActionOnFailure `CANCEL_AND_WAIT`
//! (a failed step cancels the rest and leaves the cluster waiting), except those from
//! multipartlist's (the first to create uploads) to the clean-up (`CONTINUE`: a failed
//! multipartlist or copy step is followed by the clean-up, which aborts the run's
//! uploads left in progress). Streaming steps run
//! `hadoop-streaming` with the generic options first (`-files`, `-D`), then the
//! streaming ones; the diff runs `hive-script --run-hive-script --args -f <code>/diff.q
//! -d SRC=… -d DST=… -d DIFF=…`. Rendering is a pure function; the arguments never
//! hold a secret (credentials reach the tasks only as the `.boto` file under `--code`;
//! SSE-C keys as files already on the nodes, named by their paths: [`crate::sse_c`]).

use std::time::Duration;

use aws_sdk_emr::types::{
    ActionOnFailure, ClusterState, HadoopJarStepConfig, StepConfig, StepState,
};
use serde::Serialize;

use crate::error::Error;
use crate::plan::{DiffStep, NLINE_INPUT_FORMAT, Plan, Step, StreamingStep};
use crate::retry::Backoff;

/// The jar every step runs.
pub const COMMAND_RUNNER: &str = "command-runner.jar";
/// What a failed step does to the rest.
pub const ACTION_ON_FAILURE: &str = "CANCEL_AND_WAIT";
/// Most steps EMR keeps PENDING or RUNNING at once.
pub const MAX_ACTIVE_STEPS: usize = 256;
/// Most characters of all the strings of one HadoopJarStep.
pub const MAX_STEP_CHARACTERS: usize = 10_240;

/// An EMR step as AddJobFlowSteps takes it (and as `--dry-run` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EmrStep {
    /// Step name.
    pub name: String,
    /// `CANCEL_AND_WAIT`.
    pub action_on_failure: String,
    /// The command.
    pub hadoop_jar_step: JarStep,
}

/// The command of an [`EmrStep`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct JarStep {
    /// `command-runner.jar`.
    pub jar: String,
    /// The command line.
    pub args: Vec<String>,
}

/// The `hadoop-streaming` arguments of a streaming step: the generic options first
/// (`-files`, `-D`), then the streaming ones (`-cmdenv`, input format, commands, paths).
/// The same vector goes to EMR (after `command-runner.jar`) and to `hadoop jar` on
/// any other Hadoop cluster.
pub fn streaming_args(step: &StreamingStep) -> Vec<String> {
    let mut args = vec!["-files".to_string(), step.files.join(",")];
    for (key, value) in step.settings.properties() {
        args.extend(["-D".to_string(), format!("{key}={value}")]);
    }
    for (name, value) in &step.env {
        args.extend(["-cmdenv".to_string(), format!("{name}={value}")]);
    }
    args.extend([
        "-inputformat".to_string(),
        NLINE_INPUT_FORMAT.to_string(),
        "-mapper".to_string(),
        step.mapper.line(),
    ]);
    if let Some(reducer) = &step.reducer {
        args.extend(["-reducer".to_string(), reducer.line()]);
    }
    args.extend([
        "-input".to_string(),
        step.input.clone(),
        "-output".to_string(),
        step.output.clone(),
    ]);
    if step.verbose {
        args.push("-verbose".to_string());
    }
    args
}

/// The Hive arguments of a diff step: `-f <script> -d SRC=… -d DST=… -d DIFF=…`, as
/// EMR's `hive-script` passes them to Hive.
pub fn hive_args(diff: &DiffStep) -> Vec<String> {
    [
        "-f",
        &diff.script,
        "-d",
        &format!("SRC={}", diff.src),
        "-d",
        &format!("DST={}", diff.dst),
        "-d",
        &format!("DIFF={}", diff.diff),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Renders one step.
pub fn render_step(step: &Step) -> EmrStep {
    let args = match step {
        Step::Streaming(streaming) | Step::Cleanup(streaming) => {
            std::iter::once("hadoop-streaming".to_string())
                .chain(streaming_args(streaming))
                .collect()
        }
        Step::Diff(diff) => ["hive-script", "--run-hive-script", "--args"]
            .iter()
            .map(|s| s.to_string())
            .chain(hive_args(diff))
            .collect(),
        Step::Check(check) => std::iter::once("hadoop".to_string())
            .chain(check.hadoop_args())
            .collect(),
    };
    EmrStep {
        name: step.name().to_string(),
        action_on_failure: ACTION_ON_FAILURE.to_string(),
        hadoop_jar_step: JarStep {
            jar: COMMAND_RUNNER.to_string(),
            args,
        },
    }
}

/// True for a step whose tasks create multipart uploads (multipartlist, not its
/// clean-up mode; objectcopy `--versions`, which uploads multipart versions itself).
fn creates_uploads(step: &Step) -> bool {
    match step {
        Step::Streaming(StreamingStep { mapper, .. }) => match mapper {
            crate::command::TaskCommand::MultipartList(args) => !args.abort_run,
            crate::command::TaskCommand::ObjectCopy(args) => args.versions.is_some(),
            _ => false,
        },
        _ => false,
    }
}

/// What a failed step does when a clean-up step must still run after it.
pub const CONTINUE: &str = "CONTINUE";

/// Renders every step of a plan, refusing a step longer than EMR accepts. Every step
/// from the first that creates uploads (multipartlist's) to the clean-up gets
/// ActionOnFailure `CONTINUE`, so that a failure of any of them is followed by the
/// clean-up rather than cancelling it (after a failed multipartlist step the copy runs
/// over what it committed, or fails at once on a missing input); the earlier steps,
/// which create no upload, keep `CANCEL_AND_WAIT`.
pub fn render(plan: &Plan) -> Result<Vec<EmrStep>, Error> {
    let mut steps: Vec<EmrStep> = plan.steps.iter().map(render_step).collect();
    for (index, step) in plan.steps.iter().enumerate() {
        if matches!(step, Step::Cleanup(_)) {
            let first = plan.steps[..index]
                .iter()
                .position(creates_uploads)
                .unwrap_or(index.saturating_sub(1));
            for step in &mut steps[first..=index] {
                step.action_on_failure = CONTINUE.to_string();
            }
        }
    }
    for step in &steps {
        let characters: usize = step.hadoop_jar_step.jar.len()
            + step
                .hadoop_jar_step
                .args
                .iter()
                .map(String::len)
                .sum::<usize>();
        if characters > MAX_STEP_CHARACTERS {
            return Err(Error::Usage(format!(
                "step {} has {characters} characters of arguments, more than EMR's {MAX_STEP_CHARACTERS}",
                step.name
            )));
        }
    }
    Ok(steps)
}

/// The `--dry-run` document: the run directory, the output and the steps.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DryRun<'a> {
    /// Run directory.
    pub run_dir: &'a str,
    /// Output of the copy step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<&'a str>,
    /// Input of a later copy (`--no-copy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_input: Option<&'a str>,
    /// The steps.
    pub steps: &'a [EmrStep],
}

impl EmrStep {
    /// The SDK's StepConfig.
    pub fn to_sdk(&self) -> StepConfig {
        let jar = HadoopJarStepConfig::builder()
            .jar(&self.hadoop_jar_step.jar)
            .set_args(Some(self.hadoop_jar_step.args.clone()))
            .build();
        StepConfig::builder()
            .name(&self.name)
            .action_on_failure(ActionOnFailure::from(self.action_on_failure.as_str()))
            .hadoop_jar_step(jar)
            .build()
    }
}

/// An EMR API failure with its context; the SDK error stays the source.
fn emr_error<E>(
    operation: &'static str,
    cluster: &str,
    error: aws_sdk_emr::error::SdkError<E, aws_sdk_emr::config::http::HttpResponse>,
) -> Error
where
    E: aws_sdk_emr::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_emr::error::ProvideErrorMetadata;
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_sdk_emr::error::DisplayErrorContext(&error).to_string(),
    };
    Error::Emr {
        operation,
        cluster: cluster.to_string(),
        message,
        source: Some(Box::new(error)),
    }
}

/// What the runner learns about a cluster before submitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Where EMR uploads the cluster's logs (`s3://…` or `s3n://…`), if anywhere.
    pub log_uri: Option<String>,
}

/// Checks that the cluster exists and accepts steps, and that the plan fits under
/// EMR's limit of active steps. Nothing is submitted.
pub async fn check_cluster(
    client: &aws_sdk_emr::Client,
    cluster: &str,
    new_steps: usize,
) -> Result<ClusterInfo, Error> {
    let described = client
        .describe_cluster()
        .cluster_id(cluster)
        .send()
        .await
        .map_err(|e| {
            let not_found = e
                .as_service_error()
                .is_some_and(|s| matches!(s, aws_sdk_emr::operation::describe_cluster::DescribeClusterError::InvalidRequestException(_)));
            let error = emr_error("DescribeCluster", cluster, e);
            if not_found {
                Error::Usage(format!(
                    "cluster {cluster} does not exist (or is not visible with these credentials and region): {error}"
                ))
            } else {
                error
            }
        })?;
    let log_uri = described
        .cluster()
        .and_then(|c| c.log_uri())
        .map(str::to_string);
    let state = described
        .cluster()
        .and_then(|c| c.status())
        .and_then(|s| s.state())
        .cloned();
    let accepts = matches!(
        state,
        Some(
            ClusterState::Starting
                | ClusterState::Bootstrapping
                | ClusterState::Running
                | ClusterState::Waiting
        )
    );
    if !accepts {
        return Err(Error::Usage(format!(
            "cluster {cluster} is {}: it does not accept steps (start a new cluster)",
            state.map_or("in an unknown state".to_string(), |s| s
                .as_str()
                .to_string())
        )));
    }
    let mut active = 0;
    let mut pages = client
        .list_steps()
        .cluster_id(cluster)
        .step_states(StepState::Pending)
        .step_states(StepState::Running)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| emr_error("ListSteps", cluster, e))?;
        active += page.steps().len();
    }
    if active + new_steps > MAX_ACTIVE_STEPS {
        return Err(Error::Usage(format!(
            "cluster {cluster} has {active} active steps; {new_steps} more would exceed EMR's limit of {MAX_ACTIVE_STEPS}"
        )));
    }
    Ok(ClusterInfo { log_uri })
}

/// Submits the steps; returns their ids in order.
pub async fn submit(
    client: &aws_sdk_emr::Client,
    cluster: &str,
    steps: &[EmrStep],
) -> Result<Vec<String>, Error> {
    let configs = steps.iter().map(EmrStep::to_sdk).collect();
    let added = client
        .add_job_flow_steps()
        .job_flow_id(cluster)
        .set_steps(Some(configs))
        .send()
        .await
        .map_err(|e| emr_error("AddJobFlowSteps", cluster, e))?;
    Ok(added.step_ids().to_vec())
}

/// How a followed step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// Step id.
    pub id: String,
    /// Final state.
    pub state: String,
    /// Failure reason, message and log file, when it failed.
    pub failure: Option<String>,
}

/// Where EMR puts a step's Hadoop log (`syslog`, gzipped once uploaded): under the
/// cluster's log URI, `<cluster>/steps/<step>/`. Returns the bucket and the key prefix.
pub fn step_log_prefix(log_uri: &str, cluster: &str, step: &str) -> Option<(String, String)> {
    let uri = log_uri
        .strip_prefix("s3n://")
        .map_or_else(|| log_uri.to_string(), |rest| format!("s3://{rest}"));
    let (bucket, prefix) = crate::s3_url::parse_s3_uri(&uri)?;
    let prefix = prefix.trim_end_matches('/');
    let key = if prefix.is_empty() {
        format!("{cluster}/steps/{step}/")
    } else {
        format!("{prefix}/{cluster}/steps/{step}/")
    };
    Some((bucket, key))
}

/// Follows one step until it has ended, calling `report` with each state change
/// (`<id> <name>: <STATE>`), polling with backoff from `first_poll` up to 30 s.
pub async fn wait(
    client: &aws_sdk_emr::Client,
    cluster: &str,
    id: &str,
    first_poll: Duration,
    mut report: impl FnMut(&str),
) -> Result<StepOutcome, Error> {
    // Polling, not retrying: the ceiling itself (no jitter), reset when the state moves.
    let backoff = Backoff {
        first: first_poll,
        max: Duration::from_secs(30).max(first_poll),
        factor: 1.5,
    };
    let mut polls_unchanged = 0;
    let mut last_state = String::new();
    loop {
        let described = client
            .describe_step()
            .cluster_id(cluster)
            .step_id(id)
            .send()
            .await
            .map_err(|e| emr_error("DescribeStep", cluster, e))?;
        let step = described.step();
        let name = step.and_then(|s| s.name()).unwrap_or_default();
        let status = step.and_then(|s| s.status());
        let state = status
            .and_then(|s| s.state())
            .map_or("UNKNOWN".to_string(), |s| s.as_str().to_string());
        if state != last_state {
            report(&format!("{id} {name}: {state}"));
            last_state = state.clone();
            polls_unchanged = 0;
        }
        let terminal = matches!(
            state.as_str(),
            "COMPLETED" | "CANCELLED" | "FAILED" | "INTERRUPTED"
        );
        if terminal {
            let failure = status.and_then(|s| s.failure_details()).map(|f| {
                format!(
                    "reason: {}; message: {}; log: {}",
                    f.reason().unwrap_or("Unknown Error"),
                    f.message().unwrap_or("-"),
                    f.log_file().unwrap_or("-")
                )
            });
            return Ok(StepOutcome {
                id: id.to_string(),
                state,
                failure,
            });
        }
        polls_unchanged += 1;
        tokio::time::sleep(backoff.ceiling(polls_unchanged)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::article_options;
    use crate::plan::{PlanOptions, build};

    fn rendered(options: PlanOptions) -> Vec<EmrStep> {
        render(&build(&options).expect("plan")).expect("render")
    }

    fn words(text: &str) -> Vec<String> {
        text.split('\n').map(str::to_string).collect()
    }

    const FILES: &str = "s3://codebucket/bucketlist,s3://codebucket/multipartlist,s3://codebucket/objectcopy,s3://codebucket/multipartcomplete,s3://codebucket/.boto,s3://codebucket/campanile.cfg";

    fn list_args(bucket: &str, profile: &str) -> Vec<String> {
        words(&format!(
            "hadoop-streaming\n-files\n{FILES}\n-D\nmapreduce.map.maxattempts=4\n-D\nmapreduce.input.lineinputformat.linespermap=1\n-D\nmapreduce.map.speculative=false\n-D\nmapreduce.task.timeout=300000\n-D\nmapreduce.job.reduces=1\n-D\nmapreduce.reduce.speculative=false\n-inputformat\norg.apache.hadoop.mapred.lib.NLineInputFormat\n-mapper\nbucketlist --bucket {bucket} --endpoint s3.us-west-2.amazonaws.com --profile {profile}\n-reducer\nbucketlist --bucket {bucket} --distinct\n-input\ns3://codebucket/input/srcbucket/part.all\n-output\n/1451507458/{bucket}.list"
        ))
    }

    fn mlist_args(input: &str) -> Vec<String> {
        words(&format!(
            "hadoop-streaming\n-files\n{FILES}\n-D\nmapreduce.map.maxattempts=4\n-D\nmapreduce.input.lineinputformat.linespermap=1000\n-D\nmapreduce.map.speculative=false\n-D\nmapreduce.task.timeout=300000\n-D\nmapreduce.job.reduces=0\n-inputformat\norg.apache.hadoop.mapred.lib.NLineInputFormat\n-mapper\nmultipartlist --src-bucket srcbucket --src-endpoint s3.us-west-2.amazonaws.com --dst-bucket dstbucket --dst-endpoint s3.us-west-2.amazonaws.com --src-profile jeff --dst-profile jassy\n-input\n{input}\n-output\n/1451507458/srcbucket.multipartlist"
        ))
    }

    fn copy_args() -> Vec<String> {
        words(&format!(
            "hadoop-streaming\n-files\n{FILES}\n-D\nmapreduce.map.maxattempts=6\n-D\nmapreduce.input.lineinputformat.linespermap=10\n-D\nmapreduce.map.speculative=false\n-D\nmapreduce.task.timeout=600000\n-D\nmapreduce.job.reduces=1\n-D\nmapreduce.reduce.speculative=false\n-D\nmapreduce.output.fileoutputformat.compress=true\n-D\nmapreduce.output.fileoutputformat.compress.codec=org.apache.hadoop.io.compress.GzipCodec\n-inputformat\norg.apache.hadoop.mapred.lib.NLineInputFormat\n-mapper\nobjectcopy --src-bucket srcbucket --src-endpoint s3.us-west-2.amazonaws.com --dst-bucket dstbucket --dst-endpoint s3.us-west-2.amazonaws.com --src-profile jeff --dst-profile jassy\n-reducer\nmultipartcomplete --bucket dstbucket --src-bucket srcbucket --endpoint s3.us-west-2.amazonaws.com --profile jassy\n-input\n/1451507458/srcbucket.multipartlist\n-output\ns3://codebucket/output/srcbucket/part.all.1451507458"
        ))
    }

    /// The clean-up step over `input`: multipartlist's job with `--abort-run`, its own
    /// output, ActionOnFailure CONTINUE.
    fn cleanup_step(input: &str) -> EmrStep {
        let mut args = mlist_args(input);
        for arg in &mut args {
            if arg.starts_with("multipartlist ") {
                arg.push_str(" --abort-run");
            }
            if arg == "/1451507458/srcbucket.multipartlist" {
                *arg = "/1451507458/cleanup".to_string();
            }
        }
        continuing(step("cleanup.srcbucket.part.all", args))
    }

    /// A step that a failure of does not cancel the next.
    fn continuing(step: EmrStep) -> EmrStep {
        EmrStep {
            action_on_failure: "CONTINUE".to_string(),
            ..step
        }
    }

    fn step(name: &str, args: Vec<String>) -> EmrStep {
        EmrStep {
            name: name.to_string(),
            action_on_failure: "CANCEL_AND_WAIT".to_string(),
            hadoop_jar_step: JarStep {
                jar: "command-runner.jar".to_string(),
                args,
            },
        }
    }

    #[test]
    fn plain_copy() {
        assert_eq!(
            rendered(article_options()),
            vec![
                step("list.srcbucket.part.all", list_args("srcbucket", "jeff")),
                continuing(step(
                    "mlist.srcbucket.part.all",
                    mlist_args("/1451507458/srcbucket.list")
                )),
                continuing(step("copy.srcbucket.part.all", copy_args())),
                cleanup_step("/1451507458/srcbucket.list"),
            ]
        );
    }

    #[test]
    fn diff() {
        let hive = words(
            "hive-script\n--run-hive-script\n--args\n-f\ns3://codebucket/diff.q\n-d\nSRC=/1451507458/srcbucket.list\n-d\nDST=/1451507458/dstbucket.list\n-d\nDIFF=/1451507458/diff.list",
        );
        assert_eq!(
            rendered(PlanOptions {
                diff: true,
                ..article_options()
            }),
            vec![
                step("list.srcbucket.part.all", list_args("srcbucket", "jeff")),
                step("list.dstbucket.part.all", list_args("dstbucket", "jassy")),
                step("hive.srcbucket.part.all", hive),
                continuing(step(
                    "mlist.srcbucket.part.all",
                    mlist_args("/1451507458/diff.list")
                )),
                continuing(step("copy.srcbucket.part.all", copy_args())),
                cleanup_step("/1451507458/diff.list"),
            ]
        );
    }

    #[test]
    fn list_only_and_no_copy() {
        assert_eq!(
            rendered(PlanOptions {
                list_only: true,
                ..article_options()
            }),
            vec![step(
                "list.srcbucket.part.all",
                list_args("srcbucket", "jeff")
            )]
        );
        assert_eq!(
            rendered(PlanOptions {
                no_copy: true,
                ..article_options()
            }),
            vec![
                step("list.srcbucket.part.all", list_args("srcbucket", "jeff")),
                // No clean-up with `--no-copy` (its uploads are a later copy's input).
                step(
                    "mlist.srcbucket.part.all",
                    mlist_args("/1451507458/srcbucket.list")
                ),
            ]
        );
    }

    #[test]
    fn debug_adds_verbose_to_streaming_steps() {
        let steps = rendered(PlanOptions {
            debug: true,
            diff: true,
            ..article_options()
        });
        for step in &steps {
            let verbose = step.hadoop_jar_step.args.last().map(String::as_str) == Some("-verbose");
            assert_eq!(
                verbose,
                step.hadoop_jar_step.args[0] == "hadoop-streaming",
                "{}",
                step.name
            );
        }
        let mut expected = list_args("srcbucket", "jeff");
        expected.push("-verbose".to_string());
        assert_eq!(steps[0].hadoop_jar_step.args, expected);
    }

    #[test]
    fn dry_run_json_has_a_stable_field_order() {
        let plan = build(&PlanOptions {
            list_only: true,
            ..article_options()
        })
        .expect("plan");
        let steps = render(&plan).expect("render");
        let json = serde_json::to_string(&DryRun {
            run_dir: &plan.run_dir,
            output: plan.output.as_deref(),
            copy_input: plan.copy_input.as_deref(),
            steps: &steps,
        })
        .expect("json");
        assert!(json.starts_with(
            "{\"RunDir\":\"hdfs:///1451507458\",\"Steps\":[{\"Name\":\"list.srcbucket.part.all\",\"ActionOnFailure\":\"CANCEL_AND_WAIT\",\"HadoopJarStep\":{\"Jar\":\"command-runner.jar\",\"Args\":[\"hadoop-streaming\","
        ), "{json}");
    }

    #[test]
    fn step_logs_live_under_the_cluster_log_uri() {
        assert_eq!(
            step_log_prefix("s3n://aws-logs-1/elasticmapreduce/", "j-1", "s-2"),
            Some((
                "aws-logs-1".to_string(),
                "elasticmapreduce/j-1/steps/s-2/".to_string()
            ))
        );
        assert_eq!(
            step_log_prefix("s3://logs", "j-1", "s-2"),
            Some(("logs".to_string(), "j-1/steps/s-2/".to_string()))
        );
        assert_eq!(step_log_prefix("hdfs:///logs", "j-1", "s-2"), None);
    }

    #[test]
    fn oversized_steps_are_refused() {
        let plan = build(&PlanOptions {
            code: format!("s3://codebucket/{}", "x".repeat(2000)),
            ..article_options()
        })
        .expect("plan");
        let error = render(&plan).expect_err("too long");
        assert!(error.to_string().contains("10240"), "{error}");
    }
}
