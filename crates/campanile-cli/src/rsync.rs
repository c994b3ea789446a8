//! The rsync command line (the article's options, plus `--wait` and endpoints).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;

use campanile::Error;
use campanile::plan::{PlanOptions, RunBase};
use campanile::rsync::RsyncRequest;

/// Submit a Campanile copy (list, diff, multipartlist, objectcopy + multipartcomplete)
/// to an EMR cluster as Hadoop Streaming steps.
#[derive(Debug, Parser)]
#[command(version)]
pub struct RsyncCli {
    /// EMR cluster id (j-…).
    #[arg(long, short = 'j')]
    pub job: String,
    /// Part file (`<delimiter>,<prefix>` lines), e.g. s3://codebucket/input/src/part.all.
    #[arg(long)]
    pub input: String,
    /// S3 prefix holding the binaries, diff.q, .boto and campanile.cfg.
    #[arg(long)]
    pub code: String,
    /// Prefix of the job output (the part map of the copied multipart objects).
    #[arg(long)]
    pub output: String,
    /// Source bucket.
    #[arg(long)]
    pub src_bucket: String,
    /// Destination bucket.
    #[arg(long)]
    pub dst_bucket: String,
    /// Profile of the source side, in the .boto shipped under --code.
    #[arg(long)]
    pub src_profile: Option<String>,
    /// Profile of the destination side, in the .boto shipped under --code.
    #[arg(long)]
    pub dst_profile: Option<String>,
    /// Source endpoint (default: from GetBucketLocation).
    #[arg(long)]
    pub src_endpoint: Option<String>,
    /// Destination endpoint (default: from GetBucketLocation).
    #[arg(long)]
    pub dst_endpoint: Option<String>,
    /// Print the steps as JSON; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// List the destination too and copy only missing or changed objects.
    #[arg(long)]
    pub diff: bool,
    /// Stop after multipartlist (prints CopyInput:).
    #[arg(long)]
    pub no_copy: bool,
    /// Only list (and diff).
    #[arg(long)]
    pub list_only: bool,
    /// Run id (default: the current Unix time).
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
    /// Follow the steps until they end; exit non-zero if one fails.
    #[arg(long)]
    pub wait: bool,
    /// First polling interval of --wait, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub poll_seconds: f64,
    /// Print what is resolved.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Add -verbose to the streaming steps.
    #[arg(long, short = 'd')]
    pub debug: bool,
}

impl RsyncCli {
    /// The library request.
    pub fn request(&self) -> Result<RsyncRequest, Error> {
        let uuid = match &self.uuid {
            Some(uuid) => uuid.clone(),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| Error::Usage(format!("clock before 1970: {e}")))?
                .as_secs()
                .to_string(),
        };
        if !(self.poll_seconds > 0.0 && self.poll_seconds.is_finite()) {
            return Err(Error::Usage("--poll-seconds must be positive".into()));
        }
        Ok(RsyncRequest {
            plan: PlanOptions {
                input: self.input.clone(),
                code: self.code.clone(),
                output: self.output.clone(),
                src_bucket: self.src_bucket.clone(),
                dst_bucket: self.dst_bucket.clone(),
                src_endpoint: self.src_endpoint.clone().unwrap_or_default(),
                dst_endpoint: self.dst_endpoint.clone().unwrap_or_default(),
                src_profile: self.src_profile.clone(),
                dst_profile: self.dst_profile.clone(),
                diff: self.diff,
                no_copy: self.no_copy,
                list_only: self.list_only,
                uuid,
                run_base: RunBase::Hdfs,
                debug: self.debug,
            },
            job: self.job.clone(),
            dry_run: self.dry_run,
            wait: self
                .wait
                .then(|| Duration::from_secs_f64(self.poll_seconds)),
            region: self.region.clone(),
            profile: self.profile.clone(),
            emr_endpoint: self.emr_endpoint.clone(),
            verbose: self.verbose,
        })
    }
}
