//! Argument pieces shared by the Campanile binaries. Each binary in `src/bin/` parses
//! its arguments with clap, builds clients through [`campanile::s3`] and calls its task
//! function in the library; nothing else lives here.

pub mod rsync;

use std::time::Duration;

use clap::Args;

/// How hard the S3 client tries: read timeout and attempts per request. Also read from
/// the environment, so a whole local run (every task it starts) can be tuned at once.
#[derive(Debug, Clone, Args)]
pub struct Persistence {
    /// Seconds without a byte from S3 before a request is abandoned and retried.
    #[arg(long, env = "CAMPANILE_S3_READ_TIMEOUT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout: u64,
    /// Attempts per S3 request (the SDK's standard retries, with backoff).
    #[arg(long, env = "CAMPANILE_S3_MAX_ATTEMPTS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
}

impl Persistence {
    fn apply(&self, options: campanile::s3::ClientOptions) -> campanile::s3::ClientOptions {
        campanile::s3::ClientOptions {
            read_timeout: Duration::from_secs(self.read_timeout),
            max_attempts: self.max_attempts,
            ..options
        }
    }
}

/// Endpoint, profile and region of one S3 side.
#[derive(Debug, Clone, Args)]
pub struct S3Side {
    /// S3 host (`s3-us-west-2.amazonaws.com`) or URL (`http://127.0.0.1:3900`).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Profile in ./.boto, ~/.boto, /etc/boto.cfg or the AWS config files.
    #[arg(long)]
    pub profile: Option<String>,
    /// Region (default: from the endpoint host, the environment, or us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub persistence: Persistence,
}

impl S3Side {
    /// Client options for this side.
    pub fn client_options(&self) -> campanile::s3::ClientOptions {
        self.persistence.apply(campanile::s3::ClientOptions {
            endpoint: self.endpoint.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
            ..Default::default()
        })
    }
}

/// Source and destination buckets with their endpoints, profiles and regions, as the
/// copy tasks take them (`--src-bucket`, `--src-endpoint`, `--src-profile`, …).
#[derive(Debug, Clone, Args)]
pub struct SrcDst {
    /// Source bucket.
    #[arg(long)]
    pub src_bucket: String,
    /// Source S3 host or URL.
    #[arg(long)]
    pub src_endpoint: Option<String>,
    /// Source profile (read access to the source bucket is enough).
    #[arg(long)]
    pub src_profile: Option<String>,
    /// Source region.
    #[arg(long)]
    pub src_region: Option<String>,
    /// Destination bucket.
    #[arg(long)]
    pub dst_bucket: String,
    /// Destination S3 host or URL.
    #[arg(long)]
    pub dst_endpoint: Option<String>,
    /// Destination profile (write access to the destination bucket is enough).
    #[arg(long)]
    pub dst_profile: Option<String>,
    /// Destination region.
    #[arg(long)]
    pub dst_region: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub persistence: Persistence,
}

impl SrcDst {
    /// Builds the source and destination clients.
    pub async fn clients(
        &self,
    ) -> Result<(campanile::s3::Client, campanile::s3::Client), campanile::Error> {
        let side =
            |endpoint: &Option<String>, profile: &Option<String>, region: &Option<String>| {
                self.persistence.apply(campanile::s3::ClientOptions {
                    endpoint: endpoint.clone(),
                    profile: profile.clone(),
                    region: region.clone(),
                    ..Default::default()
                })
            };
        let src = campanile::s3::client(&side(
            &self.src_endpoint,
            &self.src_profile,
            &self.src_region,
        ))
        .await?;
        let dst = campanile::s3::client(&side(
            &self.dst_endpoint,
            &self.dst_profile,
            &self.dst_region,
        ))
        .await?;
        Ok((src, dst))
    }
}
