//! rsync on EMR: the plan rendered as EMR steps ([`crate::plan::emr`]), printed
//! (`--dry-run`) or submitted to a cluster, and with `--wait` followed until every
//! step has ended. Prints `Added step s-…` per step, as the original did. Without
//! `--input`, a part file is made for the source bucket and put under `--code`
//! (`<code>/input/<src>/<uuid>/part.generated`, with the source side's endpoint and
//! profile: the article keeps the code bucket in the source account). With `--wait`
//! the run closes with the summary of [`crate::rsync::summary`], from the counters
//! read from the step logs; steps whose log is not uploaded yet are named in it.

use std::io::Write;
use std::time::Duration;

use aws_config::BehaviorVersion;

use crate::counters::{CounterParser, Counters, write_table};
use crate::error::Error;
use crate::plan::emr::{self, DryRun};
use crate::plan::{self};
use crate::rsync::report::{self, SkipReport};
use crate::rsync::summary::RunSummary;
use crate::rsync::{
    RsyncRequest, prepare_cluster_inputs, print_resolved, print_run_lines, print_summary,
    resolve_endpoints, run_paths,
};
use crate::s3::{Client, ClientOptions};

/// What only the EMR runner needs.
#[derive(Debug, Clone)]
pub struct EmrRequest {
    /// S3 endpoint of the cluster's log bucket (default: AWS), for `--wait`'s counters.
    pub log_endpoint: Option<String>,
    /// Cluster id.
    pub job: String,
    /// Follow the steps to the end, polling from this interval up.
    pub wait: Option<Duration>,
    /// Profile for the EMR calls.
    pub profile: Option<String>,
    /// EMR API endpoint URL (default: AWS).
    pub emr_endpoint: Option<String>,
}

/// Builds an EMR client.
pub async fn emr_client(
    region: Option<&str>,
    profile: Option<&str>,
    endpoint: Option<&str>,
) -> aws_sdk_emr::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_sdk_emr::config::Region::new(region.to_string()));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    let mut builder = aws_sdk_emr::config::Builder::from(&shared);
    if shared.region().is_none() {
        builder = builder.region(aws_sdk_emr::config::Region::new(crate::s3::DEFAULT_REGION));
    }
    aws_sdk_emr::Client::from_conf(builder.build())
}

/// Runs rsync against EMR. `out` gets the article's lines; `err` the progress.
pub async fn run<W: Write, E: Write>(
    request: &RsyncRequest,
    cluster: &EmrRequest,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    plan::validate::job_id(&cluster.job).map_err(Error::Usage)?;
    let mut options = resolve_endpoints(request).await?;
    let io = |e| Error::io("writing stdout", e);
    print_resolved(request, &options, err)?;
    prepare_cluster_inputs(request, &mut options, err).await?;
    let plan = plan::build(&options)?;
    let steps = emr::render(&plan)?;
    let started = std::time::Instant::now();
    print_run_lines(out, &plan, plan.output.as_deref(), false)?;
    if request.dry_run {
        let document = DryRun {
            run_dir: &plan.run_dir,
            output: plan.output.as_deref(),
            copy_input: plan.copy_input.as_deref(),
            steps: &steps,
        };
        let json = serde_json::to_string_pretty(&document)
            .map_err(|e| Error::Usage(format!("cannot render the steps as JSON: {e}")))?;
        writeln!(out, "{json}").map_err(io)?;
        return out.flush().map_err(io);
    }
    if request.index_rows.is_some()
        && !plan
            .output
            .as_deref()
            .is_some_and(|o| o.starts_with("s3://"))
    {
        return Err(Error::Usage(
            "campanile index: the table is read back from the job output, which must be on \
             S3 (--output s3://BUCKET/PREFIX)"
                .into(),
        ));
    }
    let client = emr_client(
        request.region.as_deref(),
        cluster.profile.as_deref(),
        cluster.emr_endpoint.as_deref(),
    )
    .await;
    let info = emr::check_cluster(&client, &cluster.job, steps.len()).await?;
    let ids = emr::submit(&client, &cluster.job, &steps).await?;
    for id in &ids {
        writeln!(out, "Added step {id}").map_err(io)?;
    }
    out.flush().map_err(io)?;
    let Some(first_poll) = cluster.wait else {
        return Ok(());
    };
    let logs = match &info.log_uri {
        Some(uri) => Some((
            uri.as_str(),
            crate::s3::client(&ClientOptions {
                endpoint: cluster.log_endpoint.clone(),
                profile: cluster.profile.clone(),
                region: request.region.clone(),
                ..Default::default()
            })
            .await?,
        )),
        None => None,
    };
    let mut outcomes = Vec::new();
    // The steps' counters, for the summary; the steps whose log could not be read.
    let mut reports = Vec::new();
    let mut uncounted = Vec::new();
    for (id, step) in ids.iter().zip(&steps) {
        let outcome = emr::wait(&client, &cluster.job, id, first_poll, |line| {
            let _ = writeln!(err, "{line}");
        })
        .await?;
        let counters = match &logs {
            Some((uri, s3)) => print_step_counters(s3, uri, &cluster.job, &outcome.id, err).await?,
            None => None,
        };
        match counters {
            Some(counters) => reports.push(crate::plan::local::StepReport {
                name: step.name.clone(),
                failed_attempts: crate::counters::failed_attempts(&counters),
                counters,
                ..Default::default()
            }),
            None => uncounted.push(format!("{} ({id})", step.name)),
        }
        outcomes.push(outcome);
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.state != "COMPLETED")
        .map(|o| match &o.failure {
            Some(failure) => format!("{} {}: {failure}", o.id, o.state),
            None => format!("{} {}", o.id, o.state),
        })
        .collect();
    if failed.is_empty() {
        writeln!(err, "all {} steps COMPLETED", outcomes.len()).map_err(io)?;
        if logs.is_none() {
            writeln!(
                err,
                "counters: the cluster has no log URI, so the summary counts nothing"
            )
            .map_err(io)?;
        }
        if let crate::plan::Job::Index(_) = options.job {
            if let (Some(to), Some(dir)) = (&request.index_rows, plan.output.as_deref()) {
                // The rows are read where the steps wrote them, with the client of the
                // step logs (`--log-endpoint`, `--profile`), as a verify's are.
                let s3 = crate::s3::client(&ClientOptions {
                    endpoint: cluster.log_endpoint.clone(),
                    profile: cluster.profile.clone(),
                    region: request.region.clone(),
                    ..Default::default()
                })
                .await?;
                crate::s3::download_part_files(&s3, dir, to).await?;
            }
            let seconds = started.elapsed().as_secs_f64();
            return crate::rsync::index::print_cluster_summary(
                &reports, &options, seconds, false, out, err,
            );
        }
        if let plan::Job::Verify(_) = &options.job {
            return verify_report(logs.as_ref().map(|(_, s3)| s3), &plan, &reports, out, err).await;
        }
        let skipped = skip_report(logs.as_ref().map(|(_, s3)| s3), &plan, err).await?;
        // The steps' own durations are EMR's: the summary's is the wait's.
        let summary = RunSummary::from_steps(
            &reports,
            &options.src_bucket,
            started.elapsed().as_secs_f64(),
        )
        .without_counters(uncounted);
        let summary = match &skipped {
            Known(report) => summary.with_report(report.as_ref()),
            Unknown => summary,
        };
        let summary = summary
            .with_paths(run_paths(&plan, plan.output.as_deref()))
            .with_deleted(crate::rsync::hadoop::cluster_deleted(&plan, &reports));
        print_summary(&summary, false, false, out, err)?;
        match skipped {
            Known(report) => SkipReport::outcome(report),
            Unknown => Ok(()),
        }
    } else {
        Err(Error::Emr {
            operation: "DescribeStep",
            cluster: cluster.job.clone(),
            message: format!("steps did not complete: {}", failed.join("; ")),
            source: None,
        })
    }
}

/// After every step completed: the run's skip report, from the job output on S3,
/// read with the S3 client of the step logs (`--log-endpoint`, `--profile`), when the
/// cluster has a log URI; exit 3 when it lists objects. Otherwise, and for a plan
/// without a copy (its last output is on the cluster's HDFS), where the skip rows are
/// is said instead.
async fn skip_report<E: Write>(
    s3: Option<&Client>,
    plan: &plan::Plan,
    err: &mut E,
) -> Result<Skips, Error> {
    let Some(dir) = report::rows_directory(plan) else {
        return Ok(Known(None));
    };
    match s3 {
        Some(s3) if dir.starts_with("s3://") => Ok(Known(report::write_s3(s3, dir).await?)),
        _ => writeln!(
            err,
            "objects left out, if any, are the skip rows (4th field `skipped:…`) of {dir}"
        )
        .map(|()| Unknown)
        .map_err(|e| Error::io("writing stderr", e)),
    }
}

/// After every step of a verify completed: its report, gathered from its outputs on S3
/// with the S3 client of the step logs when the cluster has a log URI (the exit status
/// then follows it, as locally); otherwise where the rows are is said.
async fn verify_report<W: Write, E: Write>(
    s3: Option<&Client>,
    plan: &plan::Plan,
    reports: &[crate::plan::local::StepReport],
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let dirs = crate::rsync::verify::row_directories(plan);
    match s3 {
        Some(s3) if dirs.iter().all(|dir| dir.starts_with("s3://")) => {
            let report = crate::rsync::verify::gather_s3(s3, plan, reports).await?;
            crate::rsync::verify::show(&report, (false, false), out, err)
        }
        _ => writeln!(
            err,
            "the keys that are not identical are the JSON rows of {}",
            dirs.join(" and ")
        )
        .map_err(|e| Error::io("writing stderr", e)),
    }
}

/// What an EMR run knows of the objects it left out.
enum Skips {
    /// The report was read (`None`: no rows).
    Known(Option<SkipReport>),
    /// The rows could not be read: the summary takes the counters' word.
    Unknown,
}
use Skips::{Known, Unknown};

/// Prints a finished step's counters, read from its Hadoop log (`syslog.gz`, or
/// `syslog`) under the cluster's log URI, and returns them. EMR uploads step logs
/// every few minutes: a log not there yet is said, not an error (`None`).
async fn print_step_counters<E: Write>(
    s3: &Client,
    log_uri: &str,
    cluster: &str,
    step: &str,
    err: &mut E,
) -> Result<Option<Counters>, Error> {
    let io = |e| Error::io("writing stderr", e);
    let Some((bucket, prefix)) = emr::step_log_prefix(log_uri, cluster, step) else {
        return writeln!(err, "{step}: counters: the log URI {log_uri} is not on S3")
            .map(|()| None)
            .map_err(io);
    };
    let mut log = None;
    for (name, gzipped) in [("syslog.gz", true), ("syslog", false)] {
        let key = format!("{prefix}{name}");
        if let Ok(object) = s3.get_object().bucket(&bucket).key(&key).send().await {
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| {
                    Error::io(
                        format!("reading s3://{bucket}/{key}"),
                        std::io::Error::other(e),
                    )
                })?
                .into_bytes();
            log = Some(if gzipped {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
                    &mut text,
                )
                .map_err(|e| Error::io(format!("gunzipping s3://{bucket}/{key}"), e))?;
                text
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            });
            break;
        }
    }
    let Some(log) = log else {
        return writeln!(
            err,
            "{step}: counters: no log at s3://{bucket}/{prefix}syslog.gz yet (EMR uploads step logs every few minutes)"
        )
        .map(|()| None)
        .map_err(io);
    };
    let mut counters = Counters::new();
    let mut parser = CounterParser::default();
    for line in log.lines() {
        parser.feed(line, &mut counters);
    }
    writeln!(err, "{step} counters:")
        .and_then(|()| write_table(err, &counters))
        .map_err(io)?;
    Ok(Some(counters))
}
