//! objectdelete: the delete step of `rsync --delete` on a cluster. As the mapper
//! (`--select`) it keeps the destination rows the source lacks and counts the
//! destination's objects; as the single reducer it refuses over `--max-delete` or
//! deletes the keys, writing a JSON record per key deleted.

use clap::Parser;

use campanile::command::ObjectDeleteArgs;
use campanile::credentials::Side;
use campanile::stream::StreamIndex;
use campanile::task::objectdelete::{self, ObjectDeleteOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = ObjectDeleteArgs::parse();
    let diagnostics = args.s3.diagnostics.clone();
    run_task("objectdelete", &diagnostics, |mut streams| async move {
        if args.select {
            return objectdelete::select(
                streams.input,
                StreamIndex::from_env(),
                &mut streams.output,
            )
            .map(drop);
        }
        let client = campanile::s3::client(
            &args
                .s3
                .client_options()
                .for_bucket(Side::Destination, &args.bucket),
        )
        .await?;
        let options = ObjectDeleteOptions {
            bucket: args.bucket.clone(),
            keys: args.prefixes.key_map(),
            max: args.max_delete,
            dry_run: args.dry_run,
            concurrency: args.concurrency,
        };
        objectdelete::run(
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
