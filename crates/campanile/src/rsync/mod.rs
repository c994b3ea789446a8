//! rsync, the article's front end: resolves the buckets' endpoints, builds the plan
//! ([`crate::plan::build`]) and hands it to a runner: the embedded local runner
//! ([`local`], the default), an EMR cluster ([`emr`]: steps submitted, and with
//! `--wait` followed to the end), or any Hadoop cluster ([`hadoop`]: the same
//! arguments, through the `hadoop` and `hive` commands). Each prints `RunDir: …` and `Output:…` (or
//! `CopyInput:…`) as the original did. After a local run, [`cleanup`] completes the
//! multipart uploads whose parts were all copied and aborts the others. Objects the
//! run left out are listed in its skip report ([`report`]), and rsync then exits 3.

pub mod cleanup;
pub mod emr;
pub mod hadoop;
pub mod local;
pub mod report;

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
        writeln!(
            err,
            "source s3://{} at {}; destination s3://{} at {}",
            options.src_bucket, options.src_endpoint, options.dst_bucket, options.dst_endpoint
        )
        .map_err(|e| Error::io("writing stderr", e))?;
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
            let message = format!(
                "{} (give the endpoint with --src-endpoint/--dst-endpoint to skip this)",
                crate::s3::describe_error(&e)
            );
            crate::error::S3Context::new("GetBucketLocation", bucket, "").explained(message, e)
        })?;
    Ok(endpoint_of_location(
        location.location_constraint().map_or("", |c| c.as_str()),
    ))
}

/// Prints the article's `RunDir: …` line, then `Output:…` (the job output as the user
/// will find it, which for a local run with an S3 output differs from the plan's local
/// path) or `CopyInput:…` (`--no-copy`).
pub fn print_run_lines<W: Write>(
    out: &mut W,
    plan: &crate::plan::Plan,
    output: Option<&str>,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    writeln!(out, "RunDir: {}", plan.run_dir).map_err(io)?;
    if let Some(output) = output {
        writeln!(out, "Output:{output}").map_err(io)?;
    }
    if let Some(copy_input) = &plan.copy_input {
        writeln!(out, "CopyInput:{copy_input}").map_err(io)?;
    }
    Ok(())
}

async fn resolve(
    given: &str,
    bucket: &str,
    profile: &Option<String>,
    region: &Option<String>,
) -> Result<String, Error> {
    if !given.is_empty() {
        return Ok(given.to_string());
    }
    let client = crate::s3::client(&crate::s3::ClientOptions {
        profile: profile.clone(),
        region: region.clone(),
        ..Default::default()
    })
    .await?;
    bucket_endpoint(&client, bucket).await
}

/// Validates the buckets and fills in the endpoints the user did not give.
pub async fn resolve_endpoints(request: &RsyncRequest) -> Result<PlanOptions, Error> {
    let mut options = request.plan.clone();
    plan::validate::bucket_name(&options.src_bucket).map_err(Error::Usage)?;
    plan::validate::bucket_name(&options.dst_bucket).map_err(Error::Usage)?;
    options.src_endpoint = resolve(
        &options.src_endpoint,
        &options.src_bucket,
        &options.src_profile,
        &request.region,
    )
    .await?;
    options.dst_endpoint = resolve(
        &options.dst_endpoint,
        &options.dst_bucket,
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
