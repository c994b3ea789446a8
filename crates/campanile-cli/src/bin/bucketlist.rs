//! bucketlist: list a bucket, one part-file line (`<delimiter>,<prefix>` or a key range) per input line.
//! A Hadoop Streaming mapper that also works in a plain shell pipeline.

use clap::Parser;

use campanile::command::BucketListArgs;
use campanile::s3;
use campanile::stream::StreamIndex;
use campanile::task::bucketlist::{self, BucketListOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = BucketListArgs::parse();
    run_task("bucketlist", |mut streams| async move {
        let client = s3::client(&args.s3.client_options()).await?;
        let options = BucketListOptions {
            bucket: args.bucket,
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
