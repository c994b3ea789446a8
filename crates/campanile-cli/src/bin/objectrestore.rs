//! objectrestore: request the restore of each archived object of a listing
//! (`campanile restore`'s task); writes `key etag size outcome` per object.

use clap::Parser;

use campanile::command::ObjectRestoreArgs;
use campanile::credentials::Side;
use campanile::stream::StreamIndex;
use campanile::task::objectrestore::{self, ObjectRestoreOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = ObjectRestoreArgs::parse();
    let diagnostics = args.s3.diagnostics.clone();
    run_task("objectrestore", &diagnostics, |mut streams| async move {
        let client = campanile::s3::client(
            &args
                .s3
                .client_options()
                .for_bucket(Side::Only, &args.bucket),
        )
        .await?;
        let options = ObjectRestoreOptions {
            bucket: args.bucket.clone(),
            stream_index: StreamIndex::from_env(),
            tier: args.tier.as_str().into(),
            days: args.days,
            dry_run: args.dry_run,
            concurrency: args.concurrency,
        };
        objectrestore::run(
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
