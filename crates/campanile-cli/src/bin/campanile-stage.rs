//! campanile-stage: upload to the `--code` prefix everything the EMR steps and the
//! bootstrap action need (task binaries and their SHA-256 sums, diff.q,
//! campanile.cfg, the credentials file, bootstrap/). Idempotent; prints one line per
//! object and the digest the bootstrap action's `-s` takes, never a file's content.

use std::path::PathBuf;

use clap::Parser;

use campanile::command::S3Side;
use campanile::s3_url::parse_s3_uri;
use campanile::stage::{self, Outcome};
use campanile_cli::process::run_task;

/// Stage the code prefix for `rsync --job`.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// The code prefix, s3://codebucket[/prefix].
    #[arg(long)]
    code: String,
    /// The credentials file with the [profile NAME] sections the tasks use: role
    /// profiles (role_arn, credential_source = Ec2InstanceMetadata; no secret), or the
    /// article's long-lived keys (staged only to a bucket that blocks public access).
    #[arg(long)]
    credentials: PathBuf,
    /// Stage long-lived keys without checking that the code bucket blocks public access:
    /// for S3-compatible servers that have no public access block API (Garage, MinIO).
    /// Never for AWS, where the check is what keeps the keys private.
    #[arg(long)]
    no_public_access_check: bool,
    /// campanile.cfg to stage (default: the sample etc/campanile.cfg).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory of the task binaries (default: this program's; use dist/bin/x86_64
    /// from scripts/build-emr for EMR nodes).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    #[command(flatten)]
    s3: S3Side,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let diagnostics = cli.s3.diagnostics.clone();
    run_task("campanile-stage", &diagnostics, |_streams| async move {
        let (bucket, prefix) = parse_s3_uri(&cli.code).ok_or_else(|| {
            campanile::Error::Usage(format!("--code {:?} is not an s3:// URI", cli.code))
        })?;
        let bin_dir = match cli.bin_dir {
            Some(dir) => dir,
            None => std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(PathBuf::from))
                .ok_or_else(|| campanile::Error::Usage("give --bin-dir".into()))?,
        };
        let client = campanile::s3::client(&cli.s3.client_options()).await?;
        let set = stage::standard_set(&bin_dir, cli.config.as_deref(), &cli.credentials)?;
        let kind = stage::check_credentials(
            &client,
            &bucket,
            &cli.credentials,
            !cli.no_public_access_check,
        )
        .await?;
        if kind == stage::CredentialsKind::Keys {
            eprintln!("{}", stage::KEYS_WARNING);
        }
        for (key, outcome) in stage::stage(&client, &bucket, &prefix, &set).await? {
            let word = if outcome == Outcome::Uploaded {
                "uploaded"
            } else {
                "unchanged"
            };
            println!("{word} s3://{bucket}/{key}");
        }
        if let Some(digest) = stage::sums_digest(&set) {
            // The bootstrap action's -s: nodes then install only binaries whose sums
            // are these.
            println!("{} {digest}", stage::SHA256SUMS);
        }
        Ok(())
    })
}
