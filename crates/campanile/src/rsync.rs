//! rsync: the article's EMR wrapper. Resolves the buckets' endpoints, builds the plan,
//! and either prints it (`--dry-run`) or submits it to a cluster and, with `--wait`,
//! follows it to the end. Prints `RunDir: …`, `Output:…` (or `CopyInput:…`) and
//! `Added step s-…` per step, as the original did.

use std::io::Write;
use std::time::Duration;

use aws_config::BehaviorVersion;

use crate::error::Error;
use crate::plan::emr::{self, DryRun};
use crate::plan::{self, PlanOptions};

/// What the user asked rsync for.
#[derive(Debug, Clone)]
pub struct RsyncRequest {
    /// The plan's options; `src_endpoint`/`dst_endpoint` may be empty (resolved here).
    pub plan: PlanOptions,
    /// Cluster id.
    pub job: String,
    /// Print the steps as JSON; submit nothing.
    pub dry_run: bool,
    /// Follow the steps to the end, polling from this interval up.
    pub wait: Option<Duration>,
    /// Region of the cluster (and of GetBucketLocation calls).
    pub region: Option<String>,
    /// Profile for the EMR calls.
    pub profile: Option<String>,
    /// EMR API endpoint URL (default: AWS).
    pub emr_endpoint: Option<String>,
    /// Print what is resolved, on stderr.
    pub verbose: bool,
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

/// Runs rsync against EMR. `out` gets the article's lines; `err` the progress.
pub async fn run<W: Write, E: Write>(
    request: &RsyncRequest,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    plan::validate::job_id(&request.job).map_err(Error::Usage)?;
    let options = resolve_endpoints(request).await?;
    let io = |e| Error::io("writing stdout", e);
    if request.verbose {
        writeln!(
            err,
            "source s3://{} at {}; destination s3://{} at {}",
            options.src_bucket, options.src_endpoint, options.dst_bucket, options.dst_endpoint
        )
        .map_err(io)?;
    }
    let plan = plan::build(&options)?;
    let steps = emr::render(&plan)?;
    print_run_lines(out, &plan, plan.output.as_deref())?;
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
    let client = emr_client(
        request.region.as_deref(),
        request.profile.as_deref(),
        request.emr_endpoint.as_deref(),
    )
    .await;
    emr::check_cluster(&client, &request.job, steps.len()).await?;
    let ids = emr::submit(&client, &request.job, &steps).await?;
    for id in &ids {
        writeln!(out, "Added step {id}").map_err(io)?;
    }
    out.flush().map_err(io)?;
    let Some(first_poll) = request.wait else {
        return Ok(());
    };
    let outcomes = emr::wait(&client, &request.job, &ids, first_poll, |line| {
        let _ = writeln!(err, "{line}");
    })
    .await?;
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
        Ok(())
    } else {
        Err(Error::Emr {
            operation: "DescribeStep",
            cluster: request.job.clone(),
            message: format!("steps did not complete: {}", failed.join("; ")),
        })
    }
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
