//! Argument pieces shared by the Campanile binaries. Each binary in `src/bin/` parses
//! its arguments with clap, builds clients through [`campanile::s3`] and calls its task
//! function in the library; nothing else lives here.

use clap::Args;

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
}

impl S3Side {
    /// Client options for this side.
    pub fn client_options(&self) -> campanile::s3::ClientOptions {
        campanile::s3::ClientOptions {
            endpoint: self.endpoint.clone(),
            profile: self.profile.clone(),
            region: self.region.clone(),
            ..Default::default()
        }
    }
}
