//! bucketlist: list a bucket, one `<delimiter>,<prefix>` part-file line per input line.
//! A Hadoop Streaming mapper that also works in a plain shell pipeline.

use clap::Parser;

use campanile::s3;
use campanile::stream::StreamIndex;
use campanile::task::bucketlist::{self, BucketListOptions};
use campanile_cli::S3Side;

/// List a bucket: reads part-file lines (`<delimiter>,<prefix>`) on stdin, writes
/// `key<TAB>etag<TAB>size<TAB>mtime` per object on stdout.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Bucket to list.
    #[arg(long)]
    bucket: String,
    #[command(flatten)]
    s3: S3Side,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    campanile::cli::run_task("bucketlist", |mut streams| async move {
        let client = s3::client(&cli.s3.client_options()).await?;
        let options = BucketListOptions {
            bucket: cli.bucket,
            stream_index: StreamIndex::from_env(),
        };
        bucketlist::run(
            streams.input,
            &mut streams.output,
            &mut streams.reporter,
            &client,
            &options,
        )
        .await
        .map(drop)
    })
}
