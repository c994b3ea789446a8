//! multipartcomplete: the reducer that completes the multipart uploads of the copy,
//! after checking that each will carry its source's ETag; echoes the part map.

use clap::Parser;

use campanile::s3;
use campanile::stream::StreamIndex;
use campanile::task::multipartcomplete::{self, MultipartCompleteOptions};
use campanile_cli::S3Side;

/// Read objectcopy part lines; complete every upload whose parts are all there.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Destination bucket.
    #[arg(long)]
    bucket: String,
    #[command(flatten)]
    s3: S3Side,
    /// Print `Complete <key>:<uploadId>` and the request XML; complete nothing.
    #[arg(long)]
    dry_run: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    campanile::cli::run_task("multipartcomplete", |mut streams| async move {
        let client = s3::client(&cli.s3.client_options()).await?;
        let options = MultipartCompleteOptions {
            bucket: cli.bucket,
            stream_index: StreamIndex::from_env(),
            dry_run: cli.dry_run,
            ..MultipartCompleteOptions::default()
        };
        let input = streams.input;
        multipartcomplete::run(
            input,
            &mut streams.output,
            &mut streams.reporter,
            &client,
            &options,
        )
        .await
        .map(drop)
    })
}
