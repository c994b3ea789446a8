//! multipartlist: turn bucketlist records into copy work, one line per whole object and
//! one line per part of a multipart object, creating the destination uploads.

use clap::Parser;

use campanile::stream::StreamIndex;
use campanile::task::multipartlist::{self, MultipartListOptions};
use campanile::tuning::Tuning;
use campanile_cli::SrcDst;

/// Read `key etag size mtime` records; write copy work (`… uploadId partNumber
/// partCount firstByte lastByte`, or five `\N` for a whole object).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    buckets: SrcDst,
    /// Create no upload: random upload ids, nothing written to S3.
    #[arg(long)]
    dry_run: bool,
    /// Ask S3 for the size of every part (default: the first and the last).
    #[arg(long)]
    probe_every_part: bool,
    /// Objects handled at once.
    #[arg(long, default_value_t = Tuning::DEFAULT.multipartlist_concurrency)]
    concurrency: usize,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    campanile::cli::run_task("multipartlist", |mut streams| async move {
        let (src, dst) = cli.buckets.clients().await?;
        let options = MultipartListOptions {
            src_bucket: cli.buckets.src_bucket,
            dst_bucket: cli.buckets.dst_bucket,
            stream_index: StreamIndex::from_env(),
            dry_run: cli.dry_run,
            probe_every_part: cli.probe_every_part,
            concurrency: cli.concurrency,
        };
        let input = streams.input;
        multipartlist::run(
            input,
            &mut streams.output,
            &mut streams.reporter,
            &src,
            &dst,
            &options,
        )
        .await
        .map(drop)
    })
}
