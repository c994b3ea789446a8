//! rsync on any Hadoop 3 cluster (an EMR primary node, a self-managed cluster, or
//! the single-node one of `scripts/hadoop-cluster`): the plan's steps run one after
//! the other through the `hadoop` and `hive` commands. A streaming step is
//! `hadoop jar <hadoop-streaming jar>` with exactly the arguments the EMR renderer
//! gives `command-runner.jar` ([`crate::plan::emr::streaming_args`]); the diff is
//! `hive -f diff.q -d SRC=… -d DST=… -d DIFF=…`, as EMR's `hive-script` runs it.
//! Each job's log goes to stderr as Hadoop writes it; its counters (Campanile's
//! groups among them) are read from it and printed as a table; the first failed step
//! cancels the rest, as ActionOnFailure `CANCEL_AND_WAIT` does on EMR, and is followed
//! by the clean-up of the run's uploads in progress ([`clean_up_cluster_uploads`]).
//! A run that gets to its end closes with the same summary as a local run
//! ([`crate::rsync::summary`]), from the same counters.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::counters::{CounterParser, Counters, write_table};
use crate::error::Error;
use crate::plan::emr::{hive_args, streaming_args};
use crate::plan::local::task::STDERR_TAIL;
use crate::plan::local::{StepReport, report_json};
use crate::plan::{self, Step, UploadScope};
use crate::rsync::cleanup::clean_up_uploads_with;
use crate::rsync::report::{self, SkipReport};
use crate::rsync::summary::RunSummary;
use crate::rsync::{
    RsyncRequest, prepare_cluster_inputs, print_resolved, print_run_lines, print_summary,
    resolve_endpoints, run_paths,
};
use crate::s3::ClientOptions;
use crate::skip::extract_rows;

/// What only the Hadoop runner needs.
#[derive(Debug, Clone)]
pub struct HadoopRequest {
    /// The `hadoop` command.
    pub hadoop: PathBuf,
    /// The `hive` command.
    pub hive: PathBuf,
    /// The hadoop-streaming jar; found on the `hadoop classpath` when not given.
    pub streaming_jar: Option<PathBuf>,
    /// stdout as JSON lines only: the run's paths, each step's counters, the skip
    /// report, the summary.
    pub json: bool,
}

/// A command line of the runner, as it will be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// The commands that run the steps of `plan`, in order, with their step names.
pub fn invocations(
    plan: &plan::Plan,
    request: &HadoopRequest,
    streaming_jar: &Path,
) -> Vec<(String, Invocation)> {
    plan.steps
        .iter()
        // This runner cleans up after a failed step itself ([`clean_up_cluster_uploads`]).
        .filter(|step| !matches!(step, Step::Cleanup(_)))
        .map(|step| {
            let invocation = match step {
                Step::Streaming(streaming) => Invocation {
                    program: request.hadoop.clone(),
                    args: ["jar".to_string(), streaming_jar.display().to_string()]
                        .into_iter()
                        .chain(streaming_args(streaming))
                        .collect(),
                },
                Step::Diff(diff) => Invocation {
                    program: request.hive.clone(),
                    args: hive_args(diff),
                },
                Step::Check(check) => Invocation {
                    program: request.hadoop.clone(),
                    args: check.hadoop_args(),
                },
                Step::Cleanup(cleanup) => Invocation {
                    program: request.hadoop.clone(),
                    args: ["jar".to_string(), streaming_jar.display().to_string()]
                        .into_iter()
                        .chain(streaming_args(cleanup))
                        .collect(),
                },
            };
            (step.name().to_string(), invocation)
        })
        .collect()
}

/// Finds the hadoop-streaming jar among the entries of `hadoop classpath --glob`.
pub fn find_streaming_jar(hadoop: &Path) -> Result<PathBuf, Error> {
    let output = Command::new(hadoop)
        .args(["classpath", "--glob"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::io(format!("running {} classpath", hadoop.display()), e))?;
    if !output.status.success() {
        return Err(Error::Usage(format!(
            "{} classpath --glob failed ({}): is Hadoop installed and HADOOP_CONF_DIR set?",
            hadoop.display(),
            output.status
        )));
    }
    let classpath = String::from_utf8_lossy(&output.stdout);
    streaming_jar_in(&classpath).ok_or_else(|| {
        Error::Usage(format!(
            "no hadoop-streaming jar on `{} classpath`: give --streaming-jar",
            hadoop.display()
        ))
    })
}

/// The hadoop-streaming jar named in a classpath, if any.
pub fn streaming_jar_in(classpath: &str) -> Option<PathBuf> {
    classpath
        .trim()
        .split(':')
        .map(Path::new)
        .find(|entry| {
            entry.file_name().is_some_and(|name| {
                let name = name.to_string_lossy();
                name.starts_with("hadoop-streaming") && name.ends_with(".jar")
            })
        })
        .map(Path::to_path_buf)
}

/// Runs the plan of `request` on the Hadoop cluster the `hadoop` command reaches.
pub async fn run<W: Write, E: Write>(
    request: &RsyncRequest,
    cluster: &HadoopRequest,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let started = Instant::now();
    let io = |e| Error::io("writing stdout", e);
    let mut options = resolve_endpoints(request).await?;
    print_resolved(request, &options, err)?;
    prepare_cluster_inputs(request, &mut options, err).await?;
    let plan = plan::build(&options)?;
    let jar = match &cluster.streaming_jar {
        Some(jar) => jar.clone(),
        None if request.dry_run => PathBuf::from("hadoop-streaming.jar"),
        None => find_streaming_jar(&cluster.hadoop)?,
    };
    let steps = invocations(&plan, cluster, &jar);
    print_run_lines(out, &plan, plan.output.as_deref(), cluster.json)?;
    if request.dry_run {
        for (name, invocation) in &steps {
            let words: Vec<String> = std::iter::once(invocation.program.display().to_string())
                .chain(invocation.args.iter().cloned())
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({ "step": name, "command": words })
            )
            .map_err(io)?;
        }
        return out.flush().map_err(io);
    }
    out.flush().map_err(io)?;
    let mut reports = Vec::new();
    for (index, (name, invocation)) in steps.iter().enumerate() {
        // Blocking is right here: the runtime has nothing else to do while a job runs.
        let report = match run_step(name, invocation) {
            Ok(report) => report,
            Err(error) => {
                let error = cancel_rest(error, &steps[index + 1..]);
                // As after a failed local run: no upload of the run stays in progress.
                if let Some(scope) = &plan.uploads {
                    let cleaned = match crate::s3::client(&ClientOptions {
                        endpoint: Some(scope.endpoint.clone()),
                        profile: scope.profile.clone(),
                        region: request.region.clone(),
                        ..Default::default()
                    })
                    .await
                    {
                        Ok(client) => {
                            clean_up_cluster_uploads(&cluster.hadoop, scope, &client, err).await
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(cleaning) = cleaned {
                        let _ =
                            writeln!(err, "cleaning up multipart uploads failed too: {cleaning}");
                    }
                }
                // What the steps that ended did, before the error is said.
                let summary = RunSummary::from_steps(
                    &reports,
                    &options.src_bucket,
                    started.elapsed().as_secs_f64(),
                )
                .failed_with(&error)
                .with_paths(run_paths(&plan, None));
                if let Err(printing) = print_summary(&summary, cluster.json, false, out, err) {
                    let _ = writeln!(err, "could not print the summary: {printing}");
                }
                return Err(error);
            }
        };
        print_report(&report, err)?;
        if cluster.json {
            writeln!(out, "{}", report_json(&report)).map_err(io)?;
        }
        reports.push(report);
    }
    if let crate::plan::Job::Index(_) = options.job {
        if let (Some(to), Some(dir)) = (&request.index_rows, plan.output.as_deref()) {
            copy_part_files(&cluster.hadoop, dir, to)?;
        }
        let seconds = started.elapsed().as_secs_f64();
        return crate::rsync::index::print_cluster_summary(
            &reports,
            &options,
            seconds,
            cluster.json,
            out,
            err,
        );
    }
    if let crate::plan::Job::Verify(_) = &options.job {
        let report = verify_report(&cluster.hadoop, &plan, &reports)?;
        return crate::rsync::verify::show(&report, (cluster.json, false), out, err);
    }
    let skipped = match report::rows_directory(&plan) {
        Some(dir) => skip_report(&cluster.hadoop, dir)?,
        None => None,
    };
    if let (true, Some(skipped)) = (cluster.json, &skipped) {
        writeln!(out, "{}", skipped.json()).map_err(io)?;
    }
    let summary = RunSummary::from_steps(
        &reports,
        &options.src_bucket,
        started.elapsed().as_secs_f64(),
    )
    .with_report(skipped.as_ref())
    .with_paths(run_paths(&plan, plan.output.as_deref()))
    .with_deleted(cluster_deleted(&plan, &reports));
    print_summary(&summary, cluster.json, false, out, err)?;
    SkipReport::outcome(skipped)
}

/// What the delete step of a cluster run did (`--delete`), from its counters: the
/// keys deleted and kept, and its output (a record per key deleted).
pub fn cluster_deleted(
    plan: &plan::Plan,
    reports: &[StepReport],
) -> Option<crate::rsync::summary::Deleted> {
    use crate::reporter::counters;
    let deleted = plan.delete.as_ref()?.deleted.clone()?;
    let sum = |name: &str| -> u64 {
        reports
            .iter()
            .flat_map(|report| report.counters.iter())
            .filter(|((_, counter), _)| counter == name)
            .map(|(_, value)| u64::try_from(*value).unwrap_or(0))
            .sum()
    };
    Some(crate::rsync::summary::Deleted {
        objects: sum(counters::DELETED),
        report: Some(deleted),
        kept: sum(counters::DELETE_KEPT),
    })
}

/// After a failed step of a cluster run: completes the run's uploads whose parts were
/// all copied and aborts the others, as after a failed local run
/// ([`crate::rsync::cleanup`]), from the run's listing and part list (`scope`, HDFS
/// paths) read with `hadoop fs -text` into a private temporary directory. Without a
/// listing (the listing step failed) there is nothing to clean up; without a part
/// list (multipartlist failed) every upload of the listing's multipart keys is aborted.
pub async fn clean_up_cluster_uploads<E: Write>(
    hadoop: &Path,
    scope: &UploadScope,
    client: &crate::s3::Client,
    err: &mut E,
) -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let listing = dir.path().join("listing");
    if !hdfs_text(hadoop, &scope.objects, &listing)? {
        return writeln!(
            err,
            "no listing at {}: no multipart upload to clean up",
            scope.objects
        )
        .map_err(|e| Error::io("writing stderr", e));
    }
    let parts = dir.path().join("parts");
    if !hdfs_text(hadoop, &scope.parts, &parts)? {
        // finish_run reads the listing when there is no part list.
        let _ = std::fs::remove_file(&parts);
    }
    let local = UploadScope {
        objects: listing.display().to_string(),
        parts: parts.display().to_string(),
        ..scope.clone()
    };
    clean_up_uploads_with(client, &local, err).await
}

/// Writes the `part-*` files of the job output `dir` (un-gzipped by `hadoop fs -text`)
/// to the local file `to`; false when they cannot be read (no such output).
fn hdfs_text(hadoop: &Path, dir: &str, to: &Path) -> Result<bool, Error> {
    let file = std::fs::File::create(to)
        .map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    let status = Command::new(hadoop)
        .args([
            "fs",
            "-text",
            &format!("{}/part-*", dir.trim_end_matches('/')),
        ])
        .stdin(Stdio::null())
        .stdout(file)
        // "No such file" for an output never written is expected, not news.
        .stderr(Stdio::null())
        .status()
        .map_err(|e| Error::io(format!("running {} fs -text", hadoop.display()), e))?;
    Ok(status.success())
}

/// Copies the part files of the job output `dir` (any file system the cluster reads:
/// HDFS, S3A) into the local directory `to` as one file, `part-all` (`hadoop fs
/// -text` un-gzips them). The output must exist (its step succeeded); one without part
/// files (a step over an empty input) leaves an empty file.
fn copy_part_files(hadoop: &Path, dir: &str, to: &Path) -> Result<(), Error> {
    let failed = |what: &str, status: std::process::ExitStatus| Error::StepFailed {
        step: "index rows".into(),
        message: format!("{} fs {what} {dir} exited with {status}", hadoop.display()),
    };
    let listed = Command::new(hadoop)
        .args(["fs", "-ls", "-C", dir])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::io(format!("running {} fs -ls", hadoop.display()), e))?;
    if !listed.status.success() {
        return Err(failed("-ls", listed.status));
    }
    let parts: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|path| {
            path.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with("part-"))
        })
        .map(str::to_string)
        .collect();
    let local = to.join("part-all");
    let file = std::fs::File::create(&local)
        .map_err(|e| Error::io(format!("creating {}", local.display()), e))?;
    if parts.is_empty() {
        return Ok(());
    }
    let status = Command::new(hadoop)
        .args(["fs", "-text"])
        .args(&parts)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| Error::io(format!("running {} fs -text", hadoop.display()), e))?;
    if !status.success() {
        return Err(failed("-text", status));
    }
    Ok(())
}

/// The skip report of a cluster run: the skip rows of the job output `dir` (read with
/// `hadoop fs -text`, which also un-gzips) written to `dir/_skipped.jsonl` with
/// `hadoop fs -put`, when there are any.
fn skip_report(hadoop: &Path, dir: &str) -> Result<Option<SkipReport>, Error> {
    let parts = format!("{}/part-*", dir.trim_end_matches('/'));
    let mut child = Command::new(hadoop)
        .args(["fs", "-text", &parts])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::io(format!("running {} fs -text", hadoop.display()), e))?;
    let (file, local) = report::scratch_file()?;
    let mut writer = std::io::BufWriter::new(file);
    let rows = match child.stdout.take() {
        Some(stdout) => extract_rows(BufReader::new(stdout), &mut writer),
        None => Ok(0),
    };
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("waiting for {} fs -text", hadoop.display()), e))?;
    let written = writer
        .into_inner()
        .map_err(|e| Error::io("writing the skip report", e.into_error()));
    let result = (|| {
        let rows = rows?;
        written?;
        if !status.success() {
            return Err(Error::StepFailed {
                step: "skip report".into(),
                message: format!("{} fs -text {parts} exited with {status}", hadoop.display()),
            });
        }
        if rows == 0 {
            return Ok(None);
        }
        let path = format!("{}/{}", dir.trim_end_matches('/'), report::REPORT_NAME);
        let put = Command::new(hadoop)
            .args(["fs", "-put", "-f"])
            .arg(&local)
            .arg(&path)
            .stdin(Stdio::null())
            // Our stdout carries the run's lines and JSON.
            .stdout(Stdio::from(std::io::stderr()))
            .status()
            .map_err(|e| Error::io(format!("running {} fs -put", hadoop.display()), e))?;
        if !put.success() {
            return Err(Error::StepFailed {
                step: "skip report".into(),
                message: format!("{} fs -put {path} exited with {put}", hadoop.display()),
            });
        }
        Ok(Some(SkipReport {
            objects: rows,
            path,
            reasons: report::tally(&local)?,
        }))
    })();
    let _ = std::fs::remove_file(&local);
    result
}

/// The report of a verify run: the rows of its objectverify outputs (read with
/// `hadoop fs -text`; an output with no part file, as a step over an empty input
/// leaves, has no row) written to `<verify output>/_verify.jsonl` with
/// `hadoop fs -put`.
fn verify_report(
    hadoop: &Path,
    plan: &crate::plan::Plan,
    reports: &[StepReport],
) -> Result<crate::rsync::verify::VerifyReport, Error> {
    let work = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let dirs = crate::rsync::verify::row_directories(plan);
    let mut files = Vec::new();
    for (index, dir) in dirs.iter().enumerate() {
        let local = work.path().join(index.to_string());
        if hdfs_text(hadoop, dir, &local)? {
            files.push(local);
        }
    }
    let local = work.path().join(crate::rsync::verify::REPORT_NAME);
    let mut report = crate::rsync::verify::gather_files(&files, &local, reports)?;
    // The comparison's output (the last step), where the report's readers look.
    let home = dirs
        .last()
        .ok_or_else(|| Error::Internal("a verify plan without its objectverify step".into()))?;
    let path = format!(
        "{}/{}",
        home.trim_end_matches('/'),
        crate::rsync::verify::REPORT_NAME
    );
    let put = Command::new(hadoop)
        .args(["fs", "-put", "-f"])
        .arg(&local)
        .arg(&path)
        .stdin(Stdio::null())
        // Our stdout carries the run's lines and JSON.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| Error::io(format!("running {} fs -put", hadoop.display()), e))?;
    if !put.success() {
        return Err(Error::StepFailed {
            step: "verify report".into(),
            message: format!("{} fs -put {path} exited with {put}", hadoop.display()),
        });
    }
    report.path = path;
    Ok(report)
}

fn cancel_rest(error: Error, rest: &[(String, Invocation)]) -> Error {
    if rest.is_empty() {
        return error;
    }
    let names: Vec<&str> = rest.iter().map(|(name, _)| name.as_str()).collect();
    Error::StepFailed {
        step: match &error {
            Error::StepFailed { step, .. } => step.clone(),
            _ => String::new(),
        },
        message: format!(
            "{error}\nsteps not run (CANCEL_AND_WAIT): {}",
            names.join(", ")
        ),
    }
}

/// Runs one step's command to its end, its log passed through to stderr, and reads
/// the job's counters from that log.
fn run_step(name: &str, invocation: &Invocation) -> Result<StepReport, Error> {
    let started = Instant::now();
    let mut child = Command::new(&invocation.program)
        .args(&invocation.args)
        .stdin(Stdio::null())
        // Our stdout carries the run's lines and JSON: the job's own output joins its log.
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("starting {}", invocation.program.display()), e))?;
    let mut counters = Counters::new();
    let mut parser = CounterParser::default();
    let mut tail = std::collections::VecDeque::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let line = line.map_err(|e| Error::io("reading the job's log", e))?;
            eprintln!("{line}");
            parser.feed(&line, &mut counters);
            tail.push_back(line);
            if tail.len() > STDERR_TAIL {
                tail.pop_front();
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("waiting for {}", invocation.program.display()), e))?;
    if !status.success() {
        return Err(Error::StepFailed {
            step: name.to_string(),
            message: format!(
                "{} exited with {status}; last log lines:\n  {}",
                invocation.program.display(),
                Vec::from(tail).join("\n  ")
            ),
        });
    }
    Ok(StepReport {
        name: name.to_string(),
        failed_attempts: crate::counters::failed_attempts(&counters),
        counters,
        seconds: started.elapsed().as_secs_f64(),
        ..Default::default()
    })
}

fn print_report<E: Write>(report: &StepReport, err: &mut E) -> Result<(), Error> {
    writeln!(err, "step {}: {:.1} s", report.name, report.seconds)
        .and_then(|()| write_table(err, &report.counters))
        .map_err(|e| Error::io("writing stderr", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::emr::render;
    use crate::plan::tests::article_options;
    use crate::plan::{PlanOptions, build};

    #[test]
    fn hadoop_gets_exactly_the_arguments_emr_gets() {
        let plan = build(&PlanOptions {
            diff: true,
            copy_task_memory: Some(1 << 26),
            ..article_options()
        })
        .expect("plan");
        let request = HadoopRequest {
            hadoop: "hadoop".into(),
            hive: "hive".into(),
            streaming_jar: None,
            json: false,
        };
        let jar = Path::new("/opt/hadoop/hadoop-streaming-3.4.1.jar");
        let ran = invocations(&plan, &request, jar);
        let mut emr = render(&plan).expect("render");
        // The clean-up step is EMR's: this runner cleans up itself.
        let cleanup = emr.pop().expect("steps");
        assert!(cleanup.name.starts_with("cleanup."), "{}", cleanup.name);
        assert_eq!(ran.len(), emr.len());
        for ((name, invocation), step) in ran.iter().zip(&emr) {
            assert_eq!(name, &step.name);
            let emr_args = &step.hadoop_jar_step.args;
            if emr_args[0] == "hadoop-streaming" {
                assert_eq!(invocation.program, Path::new("hadoop"));
                assert_eq!(invocation.args[..2], ["jar", jar.to_str().expect("utf8")]);
                assert_eq!(invocation.args[2..], emr_args[1..], "{name}");
            } else {
                assert_eq!(
                    emr_args[..3],
                    ["hive-script", "--run-hive-script", "--args"]
                );
                assert_eq!(invocation.program, Path::new("hive"));
                assert_eq!(invocation.args[..], emr_args[3..], "{name}");
            }
        }
    }

    #[test]
    fn a_verify_runs_on_hadoop_with_exactly_emrs_arguments() {
        let plan = build(&PlanOptions {
            job: crate::plan::Job::Verify(crate::plan::verify::VerifyJob { extra: true }),
            ..article_options()
        })
        .expect("plan");
        let request = HadoopRequest {
            hadoop: "hadoop".into(),
            hive: "hive".into(),
            streaming_jar: None,
            json: false,
        };
        let jar = Path::new("/opt/hadoop/hadoop-streaming-3.4.1.jar");
        let ran = invocations(&plan, &request, jar);
        let emr = render(&plan).expect("render");
        // No clean-up step: verify writes nothing.
        assert_eq!(ran.len(), emr.len());
        assert_eq!(ran.len(), 5);
        for ((name, invocation), step) in ran.iter().zip(&emr) {
            assert_eq!(name, &step.name);
            let emr_args = &step.hadoop_jar_step.args;
            if emr_args[0] == "hadoop-streaming" {
                assert_eq!(invocation.args[2..], emr_args[1..], "{name}");
            } else {
                assert_eq!(invocation.program, Path::new("hive"));
                assert_eq!(invocation.args[..], emr_args[3..], "{name}");
            }
        }
    }

    #[test]
    fn hadoop_steps_carry_the_prefixes_and_the_filters() {
        let plan = build(&PlanOptions {
            diff: true,
            prefixes: crate::command::Prefixes {
                src_prefix: "logs/2025/".into(),
                dst_prefix: "archive/2025/".into(),
            },
            filters: crate::command::ListingSelection {
                filters: vec![
                    crate::select::Rule::checked(false, "tmp/**").expect("glob"),
                    crate::select::Rule::checked(true, "*.{gz,bz2}").expect("glob"),
                ],
                min_size: Some(1024),
                newer_than: Some(crate::select::Timestamp(1_748_736_000)),
                ..Default::default()
            },
            ..article_options()
        })
        .expect("plan");
        let request = HadoopRequest {
            hadoop: "hadoop".into(),
            hive: "hive".into(),
            streaming_jar: None,
            json: false,
        };
        let jar = Path::new("/opt/hadoop/hadoop-streaming-3.4.1.jar");
        let ran = invocations(&plan, &request, jar);
        let mapper = |name: &str| -> String {
            let (_, invocation) = ran
                .iter()
                .find(|(n, _)| n.starts_with(name))
                .unwrap_or_else(|| panic!("no step {name}"));
            let at = invocation
                .args
                .iter()
                .position(|a| a == "-mapper")
                .expect("-mapper");
            let reducer = invocation.args.iter().position(|a| a == "-reducer");
            let mut line = invocation.args[at + 1].clone();
            if let Some(r) = reducer {
                line = format!("{line} | {}", invocation.args[r + 1]);
            }
            line
        };
        let src_list = mapper("list.srcbucket.");
        assert!(
            src_list.contains(
                "--prefix logs/2025/ --filter exclude:tmp/** --filter include:*.{gz,bz2} \
                 --min-size 1024 --newer-than 2025-06-01T00:00:00Z"
            ),
            "{src_list}"
        );
        let (lister, distinct) = src_list.split_once(" | ").expect("reducer");
        assert!(lister.starts_with("bucketlist "), "{lister}");
        assert!(
            !distinct.contains("--filter"),
            "the reducer does not filter: {distinct}"
        );
        let dst_list = mapper("list.dstbucket.");
        assert!(
            dst_list.contains("--prefix archive/2025/ --as-prefix logs/2025/"),
            "{dst_list}"
        );
        assert!(!dst_list.contains("--filter"), "{dst_list}");
        for step in ["mlist.", "copy."] {
            let line = mapper(step);
            assert_eq!(
                line.matches("--src-prefix logs/2025/ --dst-prefix archive/2025/")
                    .count(),
                if step == "copy." { 2 } else { 1 },
                "objectcopy and multipartcomplete: {line}"
            );
        }
        // Without prefixes and filters, none of these flags appears (the article's
        // lines stay as they were).
        let plain = build(&article_options()).expect("plan");
        let all: Vec<String> = invocations(&plain, &request, jar)
            .into_iter()
            .flat_map(|(_, invocation)| invocation.args)
            .collect();
        for flag in [
            "--prefix",
            "--src-prefix",
            "--as-prefix",
            "--filter",
            "--min-size",
            "--newer-than",
        ] {
            assert!(!all.iter().any(|a| a.contains(flag)), "{flag}");
        }
    }

    #[test]
    fn the_streaming_jar_is_found_on_the_classpath() {
        assert_eq!(
            streaming_jar_in(
                "/etc/hadoop:/opt/h/lib/hadoop-common-3.4.1.jar:/opt/h/lib/hadoop-streaming-3.4.1.jar\n"
            ),
            Some(PathBuf::from("/opt/h/lib/hadoop-streaming-3.4.1.jar"))
        );
        assert_eq!(streaming_jar_in("/opt/h/lib/hadoop-common.jar"), None);
    }
}
