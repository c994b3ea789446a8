//! rsync, the article's front end: resolves the buckets' endpoints, builds the plan
//! ([`crate::plan::build`]) and hands it to a runner: the embedded local runner
//! ([`local`], the default), an EMR cluster ([`emr`]: steps submitted, and with
//! `--wait` followed to the end), or any Hadoop cluster ([`hadoop`]: the same
//! arguments, through the `hadoop` and `hive` commands). Each prints `RunDir: …` and `Output:…` (or
//! `CopyInput:…`) as the original did (with `--json`, one JSON line of the same paths
//! instead, so that stdout holds JSON lines only), and a run that gets to its end
//! closes with a [`summary`] (on EMR with `--wait`). After a local run, [`cleanup`] completes the
//! multipart uploads whose parts were all copied and aborts the others; it also runs
//! when the run is interrupted (SIGINT, SIGTERM), and after a runner that was killed,
//! by the next run of the job or `rsync --cleanup` ([`unfinished`]). Objects the
//! run left out are listed in its skip report ([`report`]), and rsync then exits 3.

pub mod cleanup;
pub mod delete;
pub mod dry_run;
pub mod emr;
pub mod hadoop;
pub mod index;
pub mod local;
pub mod locked_file;
pub mod map;
pub mod report;
pub mod restore;
pub mod runs;
pub mod summary;
pub mod unfinished;
pub mod verify;

use std::io::Write;

use crate::error::Error;
use crate::plan::{self, PlanOptions};

/// What the user asked rsync for.
#[derive(Debug, Clone)]
pub struct RsyncRequest {
    /// The plan's options; `src_endpoint`/`dst_endpoint` may be empty (resolved here).
    pub plan: PlanOptions,
    /// Where the plan runs.
    pub runner: Runner,
    /// Print what would run; run nothing.
    pub dry_run: bool,
    /// Region of the cluster and of GetBucketLocation calls.
    pub region: Option<String>,
    /// Print what is resolved, on stderr.
    pub verbose: bool,
    /// How the part file is made (no `--input`) or checked (a given one).
    pub part_file: PartFileRequest,
    /// List the source from this S3 Inventory report (its `manifest.json`: an
    /// `s3://` URI, or locally a path with the data files beside it) instead of the
    /// bucket; the plan's input is then made from it.
    pub inventory: Option<String>,
    /// `--delete`: after the copies succeeded, delete the destination keys the source
    /// does not hold (local runner only; see [`delete`]).
    pub delete: Option<DeleteRequest>,
    /// `sync --input-report`: copy the keys a verify report names as missing, changed
    /// or drifted (local runner only), instead of listing the source (see
    /// [`verify::write_listing`]).
    pub input_report: Option<std::path::PathBuf>,
    /// `campanile index` on a cluster: a local directory the run copies its index
    /// rows into once its steps are done (the job output's part files), for the
    /// table ([`index::run`]). `None`: the rows stay in the job output.
    pub index_rows: Option<std::path::PathBuf>,
}

/// What `--delete` asks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DeleteRequest {
    /// `--max-delete`: delete nothing when more would go.
    pub max: Option<delete::MaxDelete>,
}

/// How rsync gets its part file, and how far it trusts one it is given.
#[derive(Debug, Clone)]
pub struct PartFileRequest {
    /// Options of the part file made when the plan's input is empty (no `--input`).
    pub generate: crate::partfile::GenerateOptions,
    /// Refuse a given part file that leaves out key ranges holding keys of the source
    /// bucket (a part file whose lines overlap is refused whatever this says).
    pub check_gaps: bool,
}

impl Default for PartFileRequest {
    fn default() -> Self {
        PartFileRequest {
            generate: crate::partfile::GenerateOptions::default(),
            check_gaps: true,
        }
    }
}

/// The name of the part file rsync makes when it is given none.
pub const GENERATED_PART_FILE: &str = "part.generated";

/// The name of the list of an inventory report's data files that rsync makes with
/// `--inventory` (the source listing's input).
pub const INVENTORY_FILES: &str = "inventory.files";

/// The name of the part file rsync makes for the destination listing when the source
/// is listed from an inventory report.
pub const DESTINATION_PART_FILE: &str = "part.destination";

/// A client for one side of the run (`bucket` on `side`: messages name them).
async fn side_client(
    request: &RsyncRequest,
    (side, bucket): (crate::credentials::Side, &str),
    endpoint: &str,
    profile: &Option<String>,
) -> Result<crate::s3::Client, Error> {
    crate::s3::client(
        &crate::s3::ClientOptions {
            endpoint: Some(endpoint.to_string()),
            profile: profile.clone(),
            region: request.region.clone(),
            ..Default::default()
        }
        .for_bucket(side, bucket),
    )
    .await
}

/// Reads the `--inventory` report of the source bucket, checks that it can serve as
/// the listing, and returns its data files as the lines of the source listing's input.
pub async fn inventory_input<E: Write>(
    client: &crate::s3::Client,
    manifest: &str,
    bucket: &str,
    err: &mut E,
) -> Result<Vec<u8>, Error> {
    let (parsed, directory) = crate::inventory::load_manifest(client, manifest).await?;
    crate::inventory::check_source(&parsed, manifest, bucket)?;
    let usage = |e: String| Error::Usage(format!("{manifest}: {e}"));
    parsed.check_listing_fields().map_err(usage)?;
    let files = parsed.data_files(directory.as_deref()).map_err(usage)?;
    let mut text = Vec::new();
    for file in &files {
        writeln!(text, "{}", file.to_line()).map_err(|e| Error::io("writing memory", e))?;
    }
    writeln!(
        err,
        "Inventory: {manifest}: {} {} data files list s3://{bucket} (no ListObjectsV2 request)",
        files.len(),
        parsed.file_format
    )
    .map_err(|e| Error::io("writing stderr", e))?;
    Ok(text)
}

/// Makes the inputs a cluster run reads and puts them under `--code`
/// (`<code>/input/<bucket>/<uuid>/<name>`): a part file for the source bucket when none
/// is given, the list of the inventory report's data files with `--inventory` (and then,
/// with `--diff`, a part file for the destination bucket). With `--dry-run` only says
/// where they would go.
pub async fn prepare_cluster_inputs<E: Write>(
    request: &RsyncRequest,
    options: &mut PlanOptions,
    err: &mut E,
) -> Result<(), Error> {
    let say = |e| Error::io("writing stderr", e);
    if let Some(manifest) = &request.inventory {
        if crate::s3_url::parse_s3_uri(manifest).is_none() {
            return Err(Error::Usage(format!(
                "--inventory {manifest:?}: a cluster reads the report from S3, give its \
                 s3:// URI"
            )));
        }
        let uri = code_input_uri(options, &options.src_bucket, INVENTORY_FILES)?;
        if request.dry_run {
            writeln!(
                err,
                "Inventory: {uri} would list the data files of {manifest}"
            )
            .map_err(say)?;
        } else {
            let client = side_client(
                request,
                (crate::credentials::Side::Source, &options.src_bucket),
                &options.src_endpoint,
                &options.src_profile,
            )
            .await?;
            let text = inventory_input(&client, manifest, &options.src_bucket, err).await?;
            put_text(&client, &uri, text).await?;
        }
        options.input = uri;
        options.inventory = true;
        if options.diff {
            let bucket = options.dst_bucket.clone();
            let (endpoint, profile) = (options.dst_endpoint.clone(), options.dst_profile.clone());
            let uri = code_input_uri(options, &bucket, DESTINATION_PART_FILE)?;
            let prefixes = (
                options.prefixes.dst_prefix.clone(),
                options.prefixes.src_prefix.clone(),
            );
            let side = crate::credentials::Side::Destination;
            let target = (
                side,
                bucket.as_str(),
                (prefixes.0.as_str(), prefixes.1.as_str()),
            );
            put_part_file(request, &uri, target, &endpoint, &profile, err).await?;
            options.dst_input = Some(uri);
        }
        return Ok(());
    }
    if options.input.is_empty() {
        let bucket = options.src_bucket.clone();
        let (endpoint, profile) = (options.src_endpoint.clone(), options.src_profile.clone());
        let uri = code_input_uri(options, &bucket, GENERATED_PART_FILE)?;
        let prefix = options.prefixes.src_prefix.clone();
        let side = crate::credentials::Side::Source;
        let target = (side, bucket.as_str(), (prefix.as_str(), prefix.as_str()));
        put_part_file(request, &uri, target, &endpoint, &profile, err).await?;
        options.input = uri;
    }
    Ok(())
}

/// Where a cluster run's input `name` for `bucket` goes under `--code`.
fn code_input_uri(options: &PlanOptions, bucket: &str, name: &str) -> Result<String, Error> {
    let uri = format!(
        "{}/input/{bucket}/{}/{name}",
        options.code.trim_end_matches('/'),
        options.uuid
    );
    if crate::s3_url::parse_s3_uri(&uri).is_none() {
        return Err(Error::Usage(format!(
            "--code {:?} is not an s3:// URI, where the run's {name} would go (or give \
             --input)",
            options.code
        )));
    }
    Ok(uri)
}

/// Makes a part file for `bucket` and puts it at `uri` (with `--dry-run`, only says so):
/// for its keys under `prefixes.0`, the lines naming them under `prefixes.1` (see
/// [`crate::partfile::write_generated_under`]).
async fn put_part_file<E: Write>(
    request: &RsyncRequest,
    uri: &str,
    (side, bucket, prefixes): (crate::credentials::Side, &str, (&str, &str)),
    endpoint: &str,
    profile: &Option<String>,
    err: &mut E,
) -> Result<(), Error> {
    let say = |e| Error::io("writing stderr", e);
    if request.dry_run {
        return writeln!(err, "PartFile: {uri} would be made for s3://{bucket}").map_err(say);
    }
    let client = side_client(request, (side, bucket), endpoint, profile).await?;
    let lister = crate::partfile::S3Lister {
        client: &client,
        bucket,
    };
    let mut text = Vec::new();
    let generated = crate::partfile::write_generated_under(
        &lister,
        &request.part_file.generate,
        prefixes,
        &mut text,
    )
    .await?;
    put_text(&client, uri, text).await?;
    writeln!(
        err,
        "PartFile: {uri} ({})",
        crate::partfile::describe(&generated, bucket)
    )
    .map_err(say)
}

/// Writes `text` to the `s3://` URI `uri`.
async fn put_text(client: &crate::s3::Client, uri: &str, text: Vec<u8>) -> Result<(), Error> {
    let (bucket, key) = crate::s3_url::parse_s3_uri(uri)
        .ok_or_else(|| Error::Usage(format!("{uri:?} is not an s3:// URI")))?;
    client
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(aws_sdk_s3::primitives::ByteStream::from(text))
        .send()
        .await
        .map_err(|e| {
            crate::error::S3Context::new("PutObject", &bucket, &key)
                .explained(crate::s3::describe_error(&e), e)
        })?;
    Ok(())
}

/// Makes a part file for `bucket` at `path` and says so on `err`: for its keys under
/// `prefixes.0`, the lines naming them under `prefixes.1` (see
/// [`crate::partfile::write_generated_under`]; both empty: the whole bucket).
pub async fn make_part_file<E: Write>(
    client: &crate::s3::Client,
    (bucket, prefixes): (&str, (&str, &str)),
    options: &crate::partfile::GenerateOptions,
    path: &std::path::Path,
    err: &mut E,
) -> Result<crate::partfile::Generated, Error> {
    let lister = crate::partfile::S3Lister { client, bucket };
    let mut text = Vec::new();
    let generated =
        crate::partfile::write_generated_under(&lister, options, prefixes, &mut text).await?;
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    writeln!(
        err,
        "PartFile: {} ({})",
        path.display(),
        crate::partfile::describe(&generated, bucket)
    )
    .map_err(|e| Error::io("writing stderr", e))?;
    Ok(generated)
}

/// Reads a part file, or every file of a part-file directory in name order (hidden and
/// `_` files left out, as Hadoop does), into numbered lines (numbered across the files).
fn read_part_files(
    path: &std::path::Path,
) -> Result<Vec<crate::partfile::check::NumberedLine>, Error> {
    if !path.is_dir() {
        return crate::partfile::read_file(path);
    }
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::io(format!("listing {}", path.display()), e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
        })
        .collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let part = std::fs::read_to_string(&name)
            .map_err(|e| Error::io(format!("reading the part file {}", name.display()), e))?;
        text.push_str(&part);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
    }
    crate::partfile::check::read_part_file(&text).map_err(|e| {
        Error::Usage(format!(
            "part file {} (its files' lines numbered in name order): {e}",
            path.display()
        ))
    })
}

/// Checks a given part file before anything runs: lines that overlap are refused (their
/// keys would be copied twice, and a multipart key's second upload would abort the
/// first), and so, when `check_gaps`, are key ranges of the source bucket that no line
/// lists. Both are usage errors (exit 2) naming the lines or the ranges. Only the keys
/// under `prefix` (the run's source prefix) are asked about.
pub async fn check_part_file(
    client: &crate::s3::Client,
    (bucket, prefix): (&str, &str),
    path: &std::path::Path,
    check_gaps: bool,
) -> Result<(), Error> {
    let lines = read_part_files(path)?;
    let overlaps = crate::partfile::check::overlaps(&lines, crate::partfile::MAX_OVERLAPS);
    if !overlaps.is_empty() {
        let listed: Vec<String> = overlaps.iter().map(|o| format!("  {o}")).collect();
        return Err(Error::Usage(format!(
            "part file {}: lines overlap, so their keys would be copied twice:\n{}",
            path.display(),
            listed.join("\n")
        )));
    }
    if !check_gaps {
        return Ok(());
    }
    let lister = crate::partfile::S3Lister { client, bucket };
    let through = crate::partfile::PrefixLister {
        inner: &lister,
        prefix,
    };
    let gaps = crate::partfile::check::gaps(&through, &lines).await?;
    if gaps.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = gaps.iter().map(|g| format!("  {g}")).collect();
    Err(Error::Usage(format!(
        "part file {} leaves out keys of s3://{bucket}, which would not be copied:\n{}\n\
         (give --no-check-part-file to copy only what it lists, or leave out --input to \
         have a part file made)",
        path.display(),
        listed.join("\n")
    )))
}

/// The runner of a plan, with what only it needs.
#[derive(Debug, Clone)]
pub enum Runner {
    /// The embedded local runner.
    Local(local::LocalRequest),
    /// An EMR cluster.
    Emr(emr::EmrRequest),
    /// A Hadoop cluster reached by the `hadoop` and `hive` commands.
    Hadoop(hadoop::HadoopRequest),
}

/// Runs rsync: `out` gets the article's lines (and JSON with `--json`), `err` the
/// progress and the reports.
pub async fn run<W: Write, E: Write>(
    request: &RsyncRequest,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    match &request.runner {
        Runner::Local(local) => local::run(request, local, out, err).await,
        Runner::Emr(emr) => emr::run(request, emr, out, err).await,
        Runner::Hadoop(hadoop) => hadoop::run(request, hadoop, out, err).await,
    }
}

/// Says, with `-v`, which endpoint each side resolved to.
pub(crate) fn print_resolved<E: Write>(
    request: &RsyncRequest,
    options: &PlanOptions,
    err: &mut E,
) -> Result<(), Error> {
    if request.verbose {
        let at = |bucket: &str, prefix: &str| match prefix {
            "" => format!("s3://{bucket}"),
            prefix => format!("s3://{bucket}/{prefix}"),
        };
        writeln!(
            err,
            "source {} at {}; destination {} at {}",
            at(&options.src_bucket, &options.prefixes.src_prefix),
            options.src_endpoint,
            at(&options.dst_bucket, &options.prefixes.dst_prefix),
            options.dst_endpoint
        )
        .map_err(|e| Error::io("writing stderr", e))?;
        let filters = &options.filters;
        let mut said: Vec<String> = filters
            .filters
            .iter()
            .map(|rule| {
                let flag = if rule.include {
                    "--include"
                } else {
                    "--exclude"
                };
                format!("{flag} {}", rule.glob)
            })
            .collect();
        said.extend(filters.min_size.map(|n| format!("--min-size {n}")));
        said.extend(filters.max_size.map(|n| format!("--max-size {n}")));
        said.extend(filters.newer_than.map(|t| format!("--newer-than {t}")));
        said.extend(filters.older_than.map(|t| format!("--older-than {t}")));
        if !said.is_empty() {
            writeln!(err, "filters: {}", said.join(" "))
                .map_err(|e| Error::io("writing stderr", e))?;
        }
    }
    Ok(())
}

/// The S3 host of a region, as GetBucketLocation's answer names it: an empty location
/// is us-east-1, `EU` is eu-west-1 (the legacy name).
pub fn endpoint_of_location(location: &str) -> String {
    let region = match location {
        "" | "US" => "us-east-1",
        "EU" => "eu-west-1",
        other => other,
    };
    format!("s3.{region}.amazonaws.com")
}

/// Asks S3 where a bucket lives and returns its endpoint host.
pub async fn bucket_endpoint(client: &crate::s3::Client, bucket: &str) -> Result<String, Error> {
    let location = client
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| {
            // Only a refusal is worth skipping the request for; a transport failure
            // (the credentials, the network) would fail the run's next requests too.
            let refused = crate::s3::is_service_error(&e);
            let mut error = crate::error::S3Context::new("GetBucketLocation", bucket, "").sdk(e);
            if let (true, Error::S3 { message, .. }) = (refused, &mut error) {
                let flag = crate::s3::side_of(bucket).map_or_else(
                    || "--src-endpoint/--dst-endpoint".to_string(),
                    |info| info.side.flag("endpoint"),
                );
                message.push_str(&format!(
                    " (or give the endpoint with {flag} to skip this request)"
                ));
            }
            error
        })?;
    Ok(endpoint_of_location(
        location.location_constraint().map_or("", |c| c.as_str()),
    ))
}

/// The run's paths: its directory, the job output as the user will find it (which for
/// a local run with an S3 output differs from the plan's local path), the copy's input
/// (`--no-copy`).
pub fn run_paths(plan: &crate::plan::Plan, output: Option<&str>) -> summary::RunPaths {
    summary::RunPaths {
        run_dir: plan.run_dir.clone(),
        output: output.map(str::to_string),
        copy_input: plan.copy_input.clone(),
        skip_report: None,
    }
}

/// Prints the article's `RunDir: …` line, then `Output:…` (the job output as the user
/// will find it, which for a local run with an S3 output differs from the plan's local
/// path) or `CopyInput:…` (`--no-copy`); with `json`, the same paths as one JSON line
/// instead (`{"run_dir":…,"output":…}`), so that stdout holds JSON lines only.
pub fn print_run_lines<W: Write>(
    out: &mut W,
    plan: &crate::plan::Plan,
    output: Option<&str>,
    json: bool,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    if json {
        return writeln!(out, "{}", run_paths(plan, output).json()).map_err(io);
    }
    writeln!(out, "RunDir: {}", plan.run_dir).map_err(io)?;
    if let Some(output) = output {
        writeln!(out, "Output:{output}").map_err(io)?;
    }
    if let Some(copy_input) = &plan.copy_input {
        writeln!(out, "CopyInput:{copy_input}").map_err(io)?;
    }
    Ok(())
}

/// Ends a run that got to its end: the summary for people on `err` (unless `quiet`,
/// after the step tables), and with `json` as one `{"summary":{…}}` line on `out`.
pub fn print_summary<W: Write, E: Write>(
    summary: &summary::RunSummary,
    json: bool,
    quiet: bool,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    if !quiet {
        summary
            .write_human(err)
            .map_err(|e| Error::io("writing stderr", e))?;
    }
    let io = |e| Error::io("writing stdout", e);
    if json {
        writeln!(out, "{}", summary.json()).map_err(io)?;
    }
    out.flush().map_err(io)
}

async fn resolve(
    given: &str,
    bucket: &str,
    side: crate::credentials::Side,
    profile: &Option<String>,
    region: &Option<String>,
) -> Result<String, Error> {
    if !given.is_empty() {
        return Ok(given.to_string());
    }
    let client = crate::s3::client(
        &crate::s3::ClientOptions {
            profile: profile.clone(),
            region: region.clone(),
            ..Default::default()
        }
        .for_bucket(side, bucket),
    )
    .await?;
    bucket_endpoint(&client, bucket).await
}

/// Validates the buckets and fills in the endpoints the user did not give.
pub async fn resolve_endpoints(request: &RsyncRequest) -> Result<PlanOptions, Error> {
    use crate::credentials::Side;
    let mut options = request.plan.clone();
    plan::validate::bucket_name(&options.src_bucket).map_err(Error::Usage)?;
    plan::validate::bucket_name(&options.dst_bucket).map_err(Error::Usage)?;
    options.src_endpoint = resolve(
        &options.src_endpoint,
        &options.src_bucket,
        Side::Source,
        &options.src_profile,
        &request.region,
    )
    .await?;
    options.dst_endpoint = resolve(
        &options.dst_endpoint,
        &options.dst_bucket,
        Side::Destination,
        &options.dst_profile,
        &request.region,
    )
    .await?;
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_map_to_today_s_endpoints() {
        assert_eq!(endpoint_of_location(""), "s3.us-east-1.amazonaws.com");
        assert_eq!(endpoint_of_location("EU"), "s3.eu-west-1.amazonaws.com");
        assert_eq!(
            endpoint_of_location("us-west-2"),
            "s3.us-west-2.amazonaws.com"
        );
    }
}
