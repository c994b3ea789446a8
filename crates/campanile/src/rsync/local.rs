//! rsync without a cluster: the same plan, run here by the embedded local runner.
//! Without a part file one is made for the source bucket into the run directory
//! ([`crate::partfile`]); a given one is checked first (overlapping lines are refused,
//! and key ranges of the bucket it leaves out unless told otherwise).
//! Inputs and outputs may be local paths or `s3://bucket/prefix` URIs, as on EMR: an
//! S3 part file is downloaded into the run directory first, and an S3 output is written
//! locally and uploaded once the job has succeeded (an existing output is refused
//! before anything runs). S3 I/O uses the source side's endpoint and profile, as the
//! article keeps the code bucket in the source account.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::error::S3ResultExt;
use crate::plan::local::{LocalSettings, ProgressDisplay, StepReport, report_json, run_plan_into};
use crate::plan::{self, RunBase, part_file_name};
use crate::record::escape_key;
use crate::rsync::cleanup::clean_up_uploads;
use crate::rsync::delete;
use crate::rsync::dry_run::{
    Action, CopyPath, DryRun, PlannedObject, Prices, Tally, read_part_list,
};
use crate::rsync::report::{self, SkipReport};
use crate::rsync::runs::{self, RunInfo, RunJournal};
use crate::rsync::summary::{Deleted, RunSummary};
use crate::rsync::unfinished::{self, RunRecord, Unfinished};
use crate::rsync::{
    DESTINATION_PART_FILE, GENERATED_PART_FILE, INVENTORY_FILES, RsyncRequest, check_part_file,
    inventory_input, make_part_file, print_resolved, print_run_lines, print_summary,
    resolve_endpoints, run_paths,
};
use crate::s3::{Client, ClientOptions};
use crate::s3_url::parse_s3_uri;

/// Local-run options beyond the plan's.
#[derive(Debug, Clone)]
pub struct LocalRequest {
    /// Base of the run directories (`<base>/<uuid>`).
    pub run_base: PathBuf,
    /// Runner settings (parallelism, split override, sort memory).
    pub settings: LocalSettings,
    /// Bytes of object data all copy tasks together may hold in memory: each of the
    /// `parallel` tasks gets its share (see [`copy_task_memory`]).
    pub memory: u64,
    /// stdout as JSON lines only: the run's paths, the part file made, each step's
    /// report, the skip report, the summary (`--dry-run`: the paths and the plan).
    pub json: bool,
    /// No progress display.
    pub quiet: bool,
    /// Prices of `--dry-run`'s cost estimate.
    pub prices: Prices,
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|e| Error::io("reading the current directory", e))
}

/// The SSE-C key files of a local run: made absolute (the tasks run in their own
/// directories) and read once here, so that a bad one stops the run before it starts
/// (exit 2, naming the file). Only their paths go to the tasks.
fn local_key_files(options: &mut plan::PlanOptions) -> Result<(), Error> {
    for path in [
        &mut options.src_sse_c_key_file,
        &mut options.write.dst_sse_c_key_file,
    ]
    .into_iter()
    .flatten()
    {
        *path = absolute(path)?;
        crate::sse_c::CustomerKey::from_file(path)?;
    }
    Ok(())
}

async fn list_keys(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.context("ListObjectsV2", bucket, prefix)?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    Ok(keys)
}

async fn download(client: &Client, bucket: &str, key: &str, to: &Path) -> Result<(), Error> {
    let mut file = std::fs::File::create(to)
        .map_err(|e| Error::io(format!("creating {}", to.display()), e))?;
    crate::s3::download_to(client, bucket, key, &mut file).await?;
    Ok(())
}

/// Brings an `s3://` input into `dir` (one object, or every non-hidden object under a
/// prefix); returns the local path to read.
async fn fetch_input(client: &Client, uri: &str, dir: &Path) -> Result<PathBuf, Error> {
    let (bucket, key) = parse_s3_uri(uri)
        .ok_or_else(|| Error::Usage(format!("--input {uri:?} is not an s3://bucket/key URI")))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let prefix = if key.is_empty() || key.ends_with('/') {
        key.clone()
    } else {
        format!("{key}/")
    };
    let under = list_keys(client, &bucket, &prefix).await?;
    if under.is_empty() {
        let local = dir.join(part_file_name(&key));
        download(client, &bucket, &key, &local).await?;
        return Ok(local);
    }
    let local = dir.join(part_file_name(&key));
    std::fs::create_dir_all(&local)
        .map_err(|e| Error::io(format!("creating {}", local.display()), e))?;
    for object in under {
        let name = part_file_name(&object);
        if name.starts_with('_') || name.starts_with('.') || object[prefix.len()..].contains('/') {
            continue;
        }
        download(client, &bucket, &object, &local.join(name)).await?;
    }
    Ok(local)
}

/// Uploads a committed output directory's files to `s3://bucket/prefix/`.
pub(crate) async fn upload_output(client: &Client, dir: &Path, uri: &str) -> Result<(), Error> {
    let (bucket, prefix) = parse_s3_uri(uri)
        .ok_or_else(|| Error::Usage(format!("--output {uri:?} is not an s3:// URI")))?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    // _SUCCESS last: it tells readers the output is complete.
    names.sort_by_key(|p| p.file_name().is_some_and(|n| n == "_SUCCESS"));
    for path in names {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let key = format!("{}/{name}", prefix.trim_end_matches('/'));
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&path)
            .await
            .map_err(|e| {
                Error::io(
                    format!("reading {}", path.display()),
                    std::io::Error::other(e.to_string()),
                )
            })?;
        client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .context("PutObject", &bucket, &key)?;
    }
    Ok(())
}

/// Each copy task's share of the run's memory budget: the tasks that run at once
/// split it evenly.
pub fn copy_task_memory(memory: u64, parallel: usize) -> u64 {
    memory / u64::try_from(parallel.max(1)).unwrap_or(1)
}

/// A run ready to start its plan: what [`prepare`] made.
pub(crate) struct Prepared {
    pub(crate) options: crate::plan::PlanOptions,
    pub(crate) plan: crate::plan::Plan,
    pub(crate) run_dir: PathBuf,
    pub(crate) made: Option<crate::partfile::Generated>,
    pub(crate) s3_output: Option<String>,
    pub(crate) io_client: Option<Client>,
    /// The job output as printed (`Output:`), when the plan copies.
    pub(crate) printed_output: Option<String>,
}

/// Runs the plan of `request` on this machine. When `local.settings.interrupt` is
/// raised (SIGINT, SIGTERM), the run stops: before the plan starts at once, and once
/// it has started after killing its tasks and cleaning up its uploads and temporary
/// files; it then fails with [`Error::Interrupted`].
pub async fn run<W: Write, E: Write>(
    request: &RsyncRequest,
    local: &LocalRequest,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let interrupt = local.settings.interrupt.clone();
    // The run's record, from the moment its run directory exists: however the run
    // ends from then on, the record says how.
    let mut journal = None;
    // Before the plan starts no task runs and no upload exists: stopping is dropping.
    let prepared = tokio::select! {
        prepared = prepare(request, local, out, err, &mut journal) => prepared,
        signal = interrupt.raised() => Err(Error::Interrupted { signal }),
    };
    let result = match prepared {
        Ok(Some(prepared)) => execute(request, local, prepared, started, out, err).await,
        Ok(None) => Ok(()),
        Err(error) => Err(error),
    };
    if let Some(journal) = journal
        && let Err(recording) = journal.end(&result)
    {
        // The run's own outcome matters more than its record's.
        let _ = writeln!(err, "could not record how the run ended: {recording}");
    }
    result
}

/// Everything before the plan runs: endpoints, the run directory, the part file (or
/// inventory input), the plan (a dry run's: [`plan::dry_run`]).
async fn prepare<W: Write, E: Write>(
    request: &RsyncRequest,
    local: &LocalRequest,
    out: &mut W,
    err: &mut E,
    journal: &mut Option<RunJournal>,
) -> Result<Option<Prepared>, Error> {
    let io = |e| Error::io("writing stdout", e);
    runs::check_local_run_id(&request.plan.uuid)?;
    let mut options = resolve_endpoints(request).await?;
    print_resolved(request, &options, err)?;
    local_key_files(&mut options)?;
    if let plan::Job::Versions(job) = &options.job {
        // Refused before the run directory exists: nothing to clean up after.
        plan::validate::versions(&options)?;
        if job.at.is_none() {
            let dst = crate::s3::client(
                &ClientOptions {
                    endpoint: Some(options.dst_endpoint.clone()),
                    profile: options.dst_profile.clone(),
                    region: request.region.clone(),
                    ..Default::default()
                }
                .for_bucket(crate::credentials::Side::Destination, &options.dst_bucket),
            )
            .await?;
            crate::task::objectcopy::versions::check_versioning(&dst, &options.dst_bucket).await?;
        }
    }
    options.copy_task_memory = Some(copy_task_memory(local.memory, local.settings.parallel));
    let run_base = absolute(&local.run_base)?;
    let run_dir = run_base.join(&options.uuid);
    options.run_base = RunBase::Local(run_base.display().to_string());
    // No part file given: one is made for the source bucket, in the run directory;
    // with an inventory report, the list of its data files instead (and a part file
    // for the destination listing of --diff).
    let make =
        options.input.is_empty() && request.inventory.is_none() && request.input_report.is_none();
    if make {
        options.input = run_dir.join(GENERATED_PART_FILE).display().to_string();
    }
    if request.input_report.is_some() {
        // The report's keys are the listing: no part file, no source listing step.
        let listing = run_dir.join(crate::rsync::verify::REPORT_LISTING);
        options.input = listing.display().to_string();
        options.listing = Some(options.input.clone());
    }
    if request.inventory.is_some() {
        options.input = run_dir.join(INVENTORY_FILES).display().to_string();
        options.inventory = true;
        if options.diff {
            let part_file = run_dir.join(DESTINATION_PART_FILE);
            options.dst_input = Some(part_file.display().to_string());
        }
    }
    let s3_io = options.input.starts_with("s3://") || options.output.starts_with("s3://");
    let io_client = if s3_io {
        Some(
            crate::s3::client(&ClientOptions {
                endpoint: Some(options.src_endpoint.clone()),
                profile: options.src_profile.clone(),
                region: request.region.clone(),
                ..Default::default()
            })
            .await?,
        )
    } else {
        None
    };
    if !options.output.starts_with("s3://") {
        options.output = absolute(Path::new(&options.output))?.display().to_string();
    }
    let printed_output = format!(
        "{}/{}.{}",
        options.output.trim_end_matches('/'),
        part_file_name(&options.input),
        options.uuid
    );
    let s3_output = options
        .output
        .starts_with("s3://")
        .then(|| printed_output.clone());
    if let (Some(uri), Some(client)) = (&s3_output, &io_client) {
        let (bucket, prefix) = parse_s3_uri(uri)
            .ok_or_else(|| Error::Usage(format!("--output {uri:?} is not an s3:// URI")))?;
        if !list_keys(client, &bucket, &format!("{prefix}/"))
            .await?
            .is_empty()
        {
            return Err(Error::OutputExists(uri.clone()));
        }
        options.output = run_dir.join("output").display().to_string();
    }
    if run_dir.exists() {
        return Err(Error::OutputExists(run_dir.display().to_string()));
    }
    // Runs of this job that died (SIGKILL) left tasks, uploads and spooled data. A dry
    // run writes nothing to the buckets: it leaves them to the next real run.
    if !request.dry_run {
        unfinished::clean_up_earlier_runs(&run_base, &run_record(request, &options, None), err)
            .await?;
    }
    create_private_dir(&run_base)?;
    create_run_dir(&run_dir)?;
    let copies = !options.no_copy && !options.list_only && !request.dry_run && options.job.copies();
    *journal = Some(RunJournal::start(
        &run_dir,
        RunInfo::starting(
            &options.uuid,
            (&options.src_bucket, &options.src_endpoint),
            (&options.dst_bucket, &options.dst_endpoint),
            copies.then(|| printed_output.clone()),
        ),
    )?);
    if let (true, Some(client)) = (options.input.starts_with("s3://"), &io_client) {
        let fetched = fetch_input(client, &options.input, &run_dir.join("input")).await?;
        options.input = fetched.display().to_string();
    } else {
        options.input = absolute(Path::new(&options.input))?.display().to_string();
    }
    let src_client = crate::s3::client(
        &ClientOptions {
            endpoint: Some(options.src_endpoint.clone()),
            profile: options.src_profile.clone(),
            region: request.region.clone(),
            ..Default::default()
        }
        .for_bucket(crate::credentials::Side::Source, &options.src_bucket),
    )
    .await?;
    // The tasks run here with the same credentials: the destination's are resolved
    // now (a named profile checked, its source named with -v) rather than by the
    // first copy task.
    let dst_client = crate::s3::client(
        &ClientOptions {
            endpoint: Some(options.dst_endpoint.clone()),
            profile: options.dst_profile.clone(),
            region: request.region.clone(),
            ..Default::default()
        }
        .for_bucket(crate::credentials::Side::Destination, &options.dst_bucket),
    )
    .await?;
    let made = if let Some(manifest) = &request.inventory {
        let text = inventory_input(&src_client, manifest, &options.src_bucket, err).await?;
        std::fs::write(&options.input, text)
            .map_err(|e| Error::io(format!("writing {}", options.input), e))?;
        if let Some(dst_input) = &options.dst_input {
            make_part_file(
                &dst_client,
                (
                    &options.dst_bucket,
                    (&options.prefixes.dst_prefix, &options.prefixes.src_prefix),
                ),
                &request.part_file.generate,
                Path::new(dst_input),
                err,
            )
            .await?;
        }
        None
    } else if let Some(report) = &request.input_report {
        crate::rsync::verify::write_listing(
            report,
            Path::new(&options.input),
            &options.prefixes.key_map(),
            err,
        )?;
        None
    } else if make {
        Some(
            make_part_file(
                &src_client,
                (
                    &options.src_bucket,
                    (&options.prefixes.src_prefix, &options.prefixes.src_prefix),
                ),
                &request.part_file.generate,
                Path::new(&options.input),
                err,
            )
            .await?,
        )
    } else {
        check_part_file(
            &src_client,
            (&options.src_bucket, &options.prefixes.src_prefix),
            Path::new(&options.input),
            request.part_file.check_gaps,
        )
        .await?;
        None
    };
    let plan = if request.dry_run {
        plan::dry_run(&options)?
    } else {
        plan::build(&options)?
    };
    let printed_output = plan.output.as_ref().map(|_| printed_output);
    if !request.dry_run {
        print_run_lines(out, &plan, printed_output.as_deref(), local.json)?;
    } else if local.json {
        // JSON lines only: the run directory, the plan it runs, then the objects. Its
        // part list is no copy input (made-up upload ids): not among the paths.
        let cannot = |e| Error::Usage(format!("cannot render the plan as JSON: {e}"));
        let paths = serde_json::json!({ "run_dir": plan.run_dir });
        writeln!(out, "{paths}").map_err(io)?;
        let line = serde_json::to_string(&serde_json::json!({ "plan": &plan })).map_err(cannot)?;
        writeln!(out, "{line}").map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(Some(Prepared {
        options,
        plan,
        run_dir,
        made,
        s3_output,
        io_client,
        printed_output,
    }))
}

/// What a run's marker records (see [`unfinished`]).
fn run_record(
    request: &RsyncRequest,
    options: &crate::plan::PlanOptions,
    uploads: Option<crate::plan::UploadScope>,
) -> RunRecord {
    RunRecord {
        src_bucket: options.src_bucket.clone(),
        dst_bucket: options.dst_bucket.clone(),
        dst_endpoint: options.dst_endpoint.clone(),
        region: request.region.clone(),
        uploads,
    }
}

/// Creates a run directory readable by its owner only (0700): it holds listings of
/// the buckets, spooled object data and the run's records. Missing parents are made
/// the same way.
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Creates the run directory itself (0700), refusing one that exists: two runs given
/// the same id cannot share it, even when they start at the same moment (exit 4).
fn create_run_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::OutputExists(dir.display().to_string()))
        }
        Err(e) => Err(Error::io(format!("creating {}", dir.display()), e)),
    }
}

/// Runs the plan, then cleans up whatever happened, then publishes the output.
/// Runs `plan` on the local runner, off the async thread, with the progress display
/// `local` asks for; returns the reports of the steps that ended and how the run ended.
pub(crate) async fn run_plan_blocking(
    plan: &plan::Plan,
    local: &LocalRequest,
) -> Result<(Vec<StepReport>, Result<(), Error>), Error> {
    let settings = local.settings.clone();
    let (quiet, json) = (local.quiet, local.json);
    let runnable = plan.clone();
    tokio::task::spawn_blocking(move || {
        let mut finished = Vec::new();
        let display = ProgressDisplay::stderr(quiet).without_bars(json);
        let ran = run_plan_into(&runnable, &settings, &display, &mut finished);
        (finished, ran)
    })
    .await
    .map_err(|e| Error::Internal(format!("the local runner stopped: {e}")))
}

async fn execute<W: Write, E: Write>(
    request: &RsyncRequest,
    local: &LocalRequest,
    prepared: Prepared,
    started: std::time::Instant,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    if let plan::Job::Index(_) = prepared.options.job {
        // An index copies nothing: its own end (summary, dry run).
        return crate::rsync::index::execute(request, local, prepared, started, out, err).await;
    }
    if request.dry_run {
        return dry_run(request, local, prepared, started, out, err).await;
    }
    let io = |e| Error::io("writing stdout", e);
    let Prepared {
        options,
        plan,
        run_dir,
        made,
        s3_output,
        io_client,
        printed_output,
    } = prepared;
    // Until the clean-up below has run, the marker tells a later run (or
    // `rsync --cleanup`) that this one may have left tasks and uploads behind.
    let marker = Unfinished::start(
        &run_dir,
        &run_record(request, &options, plan.uploads.clone()),
    )?;
    let (finished, ran) = run_plan_blocking(&plan, local).await?;
    if let Err(Error::Interrupted { signal }) = &ran {
        let _ = writeln!(
            err,
            "interrupted by {}: every task was stopped; cleaning up the run's uploads",
            crate::interrupt::signal_name(*signal)
        );
    }
    // Each attempt removed its own temporary files; this catches any that could not.
    unfinished::remove_attempt_files(&run_dir);
    // Whether the plan succeeded or not, no upload of this run may stay in progress.
    let cleaned = match &plan.uploads {
        Some(scope) if Path::new(&scope.objects).exists() => {
            clean_up_uploads(scope, request.region.clone(), err).await
        }
        _ => Ok(()),
    };
    let cleaned = cleaned.and_then(|()| marker.finish());
    let failed = match (ran, cleaned) {
        (Ok(()), Ok(())) => None,
        (Err(error), Ok(())) | (Ok(()), Err(error)) => Some(error),
        (Err(error), Err(cleaning)) => {
            let _ = writeln!(err, "cleaning up multipart uploads failed too: {cleaning}");
            Some(error)
        }
    };
    if let Some(error) = failed {
        // What the steps that ended did, before the error is said.
        let summary = RunSummary::from_steps(
            &finished,
            &options.src_bucket,
            started.elapsed().as_secs_f64(),
        )
        .failed_with(&error)
        .with_paths(run_paths(&plan, None));
        if let Err(printing) = print_summary(&summary, local.json, local.quiet, out, err) {
            let _ = writeln!(err, "could not print the summary: {printing}");
        }
        return Err(error);
    }
    let reports = finished;
    if let plan::Job::Verify(_) = &options.job {
        let shown = (local.json, local.quiet);
        return crate::rsync::verify::finish(&plan, &run_dir, &reports, shown, out, err);
    }
    // Delete sync: only now, once every step (listings, diff, copies) succeeded.
    let deleted = match &request.delete {
        Some(delete) => {
            match delete_sync(request, delete, &options, &plan, &run_dir, local, err).await {
                Ok(deleted) => Some(deleted),
                Err(error) => {
                    let summary = RunSummary::from_steps(
                        &reports,
                        &options.src_bucket,
                        started.elapsed().as_secs_f64(),
                    )
                    .failed_with(&error)
                    .with_paths(run_paths(&plan, printed_output.as_deref()));
                    if let Err(printing) =
                        print_summary(&summary, local.json, local.quiet, out, err)
                    {
                        let _ = writeln!(err, "could not print the summary: {printing}");
                    }
                    return Err(error);
                }
            }
        }
        None => None,
    };
    // Before the upload: the report travels with the output.
    let skipped = match report::rows_directory(&plan) {
        Some(dir) => report::write_local(Path::new(dir))?,
        None => None,
    };
    if let (Some(uri), Some(client), Some(local_output)) = (&s3_output, &io_client, &plan.output) {
        upload_output(client, Path::new(local_output), uri).await?;
    }
    let skipped = skipped.map(|written| SkipReport {
        path: report::published_path(&written, s3_output.as_deref()),
        ..written
    });
    if local.json {
        if let Some(made) = &made {
            writeln!(out, "{}", part_file_json(made, &options.input)).map_err(io)?;
        }
        for report in &reports {
            writeln!(out, "{}", report_json(report)).map_err(io)?;
        }
        if let Some(skipped) = &skipped {
            writeln!(out, "{}", skipped.json()).map_err(io)?;
        }
    }
    let summary = RunSummary::from_steps(
        &reports,
        &options.src_bucket,
        started.elapsed().as_secs_f64(),
    )
    .with_report(skipped.as_ref())
    .with_paths(run_paths(&plan, printed_output.as_deref()))
    .with_deleted(deleted);
    print_summary(&summary, local.json, local.quiet, out, err)?;
    SkipReport::outcome(skipped)
}

/// The keys `--delete` would delete: the destination listing's keys the source's key
/// listing lacks ([`crate::plan::delete`]), found under `<run dir>/delete`.
fn find_deletions(
    plan: &crate::plan::Plan,
    run_dir: &Path,
    local: &LocalRequest,
) -> Result<delete::Deletions, Error> {
    let scope = plan
        .delete
        .as_ref()
        .ok_or_else(|| Error::Internal("--delete needs the plan's listings".into()))?;
    let work = run_dir.join("delete");
    create_private_dir(&work)?;
    delete::find(
        Path::new(&scope.src),
        Path::new(&scope.dst),
        &work,
        local.settings.sort_memory,
    )
}

/// `--delete` after a run whose steps all succeeded: finds the deletions, refuses
/// them all over `--max-delete`, else deletes them and lists them in
/// `<run dir>/_deleted.jsonl`.
async fn delete_sync<E: Write>(
    request: &RsyncRequest,
    delete: &crate::rsync::DeleteRequest,
    options: &crate::plan::PlanOptions,
    plan: &crate::plan::Plan,
    run_dir: &Path,
    local: &LocalRequest,
    err: &mut E,
) -> Result<Deleted, Error> {
    let deletions = find_deletions(plan, run_dir, local)?;
    deletions.check_limit(delete.max)?;
    let report = run_dir.join(delete::DELETED_REPORT);
    if deletions.count == 0 {
        return Ok(Deleted::default());
    }
    let client = crate::s3::client(
        &ClientOptions {
            endpoint: Some(options.dst_endpoint.clone()),
            profile: options.dst_profile.clone(),
            region: request.region.clone(),
            ..Default::default()
        }
        .for_bucket(crate::credentials::Side::Destination, &options.dst_bucket),
    )
    .await?;
    let keys = options.prefixes.key_map();
    let tally = delete::delete(
        &client,
        &options.dst_bucket,
        &keys,
        &deletions,
        &report,
        err,
    )
    .await?;
    Ok(Deleted {
        objects: tally.deleted,
        report: Some(report.display().to_string()),
        kept: tally.kept,
    })
}

/// The `--json` line of the part file a run made.
pub(crate) fn part_file_json(made: &crate::partfile::Generated, path: &str) -> serde_json::Value {
    serde_json::json!({"part_file": {
        "path": path,
        "lines": made.lines.len(),
        "estimated_keys": made.estimated_keys().round(),
        "exact": made.exact,
        "requests": made.requests,
    }})
}

/// Runs a dry run's plan (the listings, the diff, multipartlist creating no upload),
/// then prints each object the copy would take (stdout), writes the skip report, and
/// ends with the dry run's summary and estimate ([`DryRun`]). Nothing is written to
/// either bucket; the run directory stays, with the listings and the part list. Ends
/// as the real run would: [`Error::Skipped`] (exit 3) when objects would be left out.
async fn dry_run<W: Write, E: Write>(
    request: &RsyncRequest,
    local: &LocalRequest,
    prepared: Prepared,
    started: std::time::Instant,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    let Prepared {
        options,
        plan,
        made,
        ..
    } = prepared;
    let (finished, ran) = run_plan_blocking(&plan, local).await?;
    unfinished::remove_attempt_files(Path::new(&plan.run_dir));
    ran?;
    if let (plan::Job::Restore(_), Some(output)) = (&options.job, &plan.output) {
        return restore_dry_run(
            &options,
            &plan,
            output,
            (local, started),
            (&finished, out, err),
        );
    }
    if let plan::Job::Map(job) = &options.job {
        let shown = (local.json, local.quiet);
        return crate::rsync::map::dry_run_output(
            &plan,
            &options.src_bucket,
            &job.command,
            shown,
            out,
            err,
        );
    }
    if let (plan::Job::Versions(_), Some(output)) = (&options.job, &plan.output) {
        return versions_dry_run(
            &options,
            &plan,
            output,
            (local, started),
            (&finished, out, err),
        );
    }
    if let plan::Job::Verify(_) = &options.job {
        let buckets = (options.src_bucket.as_str(), options.dst_bucket.as_str());
        let shown = (local.json, local.quiet);
        let keys = options.prefixes.key_map();
        return crate::rsync::verify::dry_run_output(&plan, buckets, &keys, shown, out, err);
    }
    if local.json {
        if let Some(made) = &made {
            writeln!(out, "{}", part_file_json(made, &options.input)).map_err(io)?;
        }
        for report in &finished {
            writeln!(out, "{}", report_json(report)).map_err(io)?;
        }
    }
    let mut tally = Tally::default();
    let keys = options.prefixes.key_map();
    let rewrites = options.job == plan::Job::Reencrypt;
    let mut print = |mut object: PlannedObject, tally: &mut Tally| {
        if rewrites && object.action == Action::Copy {
            object.action = Action::Rewrite;
        }
        tally.add(&object);
        let line = if local.json {
            object
                .json(&options.src_bucket, &options.dst_bucket, &keys)
                .to_string()
        } else {
            object.line(&options.src_bucket, &options.dst_bucket, &keys)
        };
        writeln!(out, "{line}").map_err(io)
    };
    if let Some(part_list) = &plan.copy_input {
        read_part_list(Path::new(part_list), |object| print(object, &mut tally))?;
    }
    // --delete: the keys a real run would delete (after its copies), and whether
    // --max-delete would let it.
    let mut refused = Ok(());
    if let Some(delete) = &request.delete {
        let deletions = find_deletions(&plan, Path::new(&plan.run_dir), local)?;
        deletions.each(|deletion| {
            let object = PlannedObject {
                action: Action::Delete,
                key: deletion.key,
                size: deletion.size,
                etag: deletion.etag,
                parts: 0,
            };
            print(object, &mut tally)
        })?;
        refused = deletions.check_limit(delete.max);
    }
    let skipped = match report::rows_directory(&plan) {
        Some(dir) => report::write_local(Path::new(dir))?,
        None => None,
    };
    let summary = DryRun::new(
        &finished,
        &options.src_bucket,
        tally,
        if options.server_side_copy || options.job == plan::Job::Reencrypt {
            CopyPath::Server
        } else if plan::server_side_if_readable(&options) {
            CopyPath::ServerIfReadable
        } else {
            CopyPath::Tasks
        },
        local.prices,
        started.elapsed().as_secs_f64(),
    )
    .with_report(skipped.as_ref())
    .with_paths(&plan.run_dir, plan.copy_input.as_deref());
    if !local.quiet {
        summary
            .write_human(err)
            .map_err(|e| Error::io("writing stderr", e))?;
    }
    if local.json {
        writeln!(out, "{}", summary.json()).map_err(io)?;
    }
    out.flush().map_err(io)?;
    // The real run would refuse to delete: the dry run says so the same way (exit 1).
    refused?;
    SkipReport::outcome(skipped)
}

/// The end of a dry run of versions: one line per version the copy would write
/// (`(dryrun) copy version: s3://src/key (version V, ETAG, N bytes) to s3://dst/key`, a
/// delete marker `(dryrun) delete marker: …`; with `--json` one object each, action
/// `copy_version` or `delete_marker`), the skip report (keys whose destination
/// history diverges), the summary (its `versions` counts what would be written).
fn versions_dry_run<W: Write, E: Write>(
    options: &plan::PlanOptions,
    plan: &plan::Plan,
    output: &str,
    (local, started): (&LocalRequest, std::time::Instant),
    (finished, out, err): (&[StepReport], &mut W, &mut E),
) -> Result<(), Error> {
    use crate::task::objectcopy::versions::{VersionRow, outcome};
    let io = |e| Error::io("writing stdout", e);
    let mut rows = Vec::new();
    for file in crate::hadoop_input::input_files(Path::new(output))? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        rows.extend(
            text.lines()
                .filter_map(VersionRow::parse)
                .filter(|row| row.outcome == outcome::WOULD_COPY),
        );
    }
    // Keys in order, each key's versions oldest first as the task wrote them.
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let keys = options.prefixes.key_map();
    let (mut versions, mut markers) = (0u64, 0u64);
    for row in &rows {
        let (action, what) = match &row.etag {
            Some(etag) => {
                versions += 1;
                (
                    "copy_version",
                    format!("version {}, {etag}, {} bytes", row.version_id, row.size),
                )
            }
            None => {
                markers += 1;
                ("delete_marker", format!("over version {}", row.version_id))
            }
        };
        let dst_key = keys.dst_key(&row.key);
        let line = if local.json {
            serde_json::json!({
                "action": action,
                "key": row.key,
                "dst_key": dst_key,
                "version_id": row.version_id,
                "etag": row.etag,
                "size": row.size,
            })
            .to_string()
        } else {
            let verb = if row.etag.is_some() {
                "copy version"
            } else {
                "delete marker"
            };
            format!(
                "(dryrun) {verb}: s3://{}/{} ({what}) to s3://{}/{dst_key}",
                options.src_bucket,
                escape_key(&row.key),
                options.dst_bucket
            )
        };
        writeln!(out, "{line}").map_err(io)?;
    }
    let skipped = report::write_local(Path::new(output))?;
    let mut summary = RunSummary::from_steps(
        finished,
        &options.src_bucket,
        started.elapsed().as_secs_f64(),
    )
    .with_report(skipped.as_ref())
    .with_paths(run_paths(plan, None));
    let mut counted = summary.versions.unwrap_or_default();
    counted.versions = versions;
    counted.delete_markers = markers;
    counted.dry_run = true;
    summary.versions = Some(counted);
    print_summary(&summary, local.json, local.quiet, out, err)?;
    SkipReport::outcome(skipped)
}

/// The end of a restore's dry run: the objects a real run would ask to restore, the
/// skip report, the summary (its `requested` are those it would request).
fn restore_dry_run<W: Write, E: Write>(
    options: &plan::PlanOptions,
    plan: &plan::Plan,
    output: &str,
    (local, started): (&LocalRequest, std::time::Instant),
    (finished, out, err): (&[StepReport], &mut W, &mut E),
) -> Result<(), Error> {
    crate::rsync::restore::print_dry_run(Path::new(output), &options.src_bucket, local.json, out)?;
    let skipped = report::write_local(Path::new(output))?;
    let summary = RunSummary::from_steps(
        finished,
        &options.src_bucket,
        started.elapsed().as_secs_f64(),
    )
    .with_report(skipped.as_ref())
    .with_paths(run_paths(plan, None));
    print_summary(&summary, local.json, local.quiet, out, err)?;
    SkipReport::outcome(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_copy_task_gets_its_share_of_the_memory() {
        assert_eq!(copy_task_memory(96 << 20, 2), 48 << 20);
        assert_eq!(copy_task_memory(96 << 20, 0), 96 << 20);
        assert_eq!(copy_task_memory(1 << 20, 4), 256 << 10);
    }
}
