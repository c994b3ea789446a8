//! bucketlist: list a bucket, one part-file line (`<delimiter>,<prefix>` or a key range) per input line;
//! with `--inventory`, read an S3 Inventory report's data files instead; with
//! `--distinct`, the listing steps' reducer: each key once.
//! A Hadoop Streaming task that also works in a plain shell pipeline.

use clap::Parser;

use campanile::command::BucketListArgs;
use campanile::credentials::Side;
use campanile::s3;
use campanile::stream::StreamIndex;
use campanile::task::bucketlist::{self, BucketListOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = BucketListArgs::parse();
    let diagnostics = args.s3.diagnostics.clone();
    run_task("bucketlist", &diagnostics, |mut streams| async move {
        if args.distinct {
            return bucketlist::distinct::run(
                streams.input,
                &mut streams.output,
                &mut streams.reporter,
                &args.bucket,
            )
            .map(drop);
        }
        let client = s3::client(
            &args
                .s3
                .client_options()
                .for_bucket(Side::Only, &args.bucket),
        )
        .await?;
        let options = BucketListOptions {
            select: args.select.selection()?,
            keys: args.select.key_map(),
            archived: args.select.archived,
            keep_archived: args.keep_archived,
            versions: args.select.version_listing(),
            ..BucketListOptions::new(&args.bucket, StreamIndex::from_env())
        };
        if args.inventory && args.select.archived {
            return Err(campanile::Error::Usage(
                "--archived lists the bucket: it does not read inventory reports".into(),
            ));
        }
        if args.inventory && (args.select.all_versions || args.select.version_at.is_some()) {
            return Err(campanile::Error::Usage(
                "--all-versions and --version-at list the bucket's versions: an inventory \
                 report is not read with them"
                    .into(),
            ));
        }
        let listed = if args.inventory {
            bucketlist::inventory::run(
                streams.input,
                &mut streams.output,
                &mut streams.reporter,
                &client,
                &options,
            )
            .await
        } else {
            bucketlist::run(
                streams.input,
                &mut streams.output,
                &mut streams.reporter,
                &client,
                &options,
            )
            .await
        };
        listed.map(drop)
    })
}
