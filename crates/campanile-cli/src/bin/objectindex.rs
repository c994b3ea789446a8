//! objectindex: the index job's task (`campanile index`): one row per listed object,
//! with what its HEAD says (storage class, encryption, checksum algorithm).

use clap::Parser;

use campanile::command::ObjectIndexArgs;
use campanile::credentials::Side;
use campanile::stream::StreamIndex;
use campanile::task::objectindex::{self, ObjectIndexOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = ObjectIndexArgs::parse();
    let diagnostics = args.s3.diagnostics.clone();
    run_task("objectindex", &diagnostics, |mut streams| async move {
        // Read here, from the file the command line names.
        let sse_c = campanile::sse_c::CustomerKey::load(args.sse_c_key_file.as_deref())?;
        let client = campanile::s3::client(
            &args
                .s3
                .client_options()
                .for_bucket(Side::Only, &args.bucket),
        )
        .await?;
        let options = ObjectIndexOptions {
            bucket: args.bucket,
            stream_index: StreamIndex::from_env(),
            key_regex: args.key_regex,
            head: !args.no_head,
            sse_c,
            concurrency: args.concurrency,
        };
        objectindex::run(
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
