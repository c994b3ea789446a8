//! multipartcomplete: the reducer that completes the multipart uploads of the copy,
//! after checking that each will carry its source's ETag; echoes the part map.

use clap::Parser;

use campanile::command::MultipartCompleteArgs;
use campanile::credentials::Side;
use campanile::s3;
use campanile::stream::StreamIndex;
use campanile::task::multipartcomplete::{self, MultipartCompleteOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = MultipartCompleteArgs::parse();
    let flags = args.s3.diagnostics.clone();
    run_task("multipartcomplete", &flags, |mut streams| async move {
        let dst_key = campanile::sse_c::CustomerKey::load(args.dst_sse_c_key_file.as_deref())?;
        let client_options = args.s3.client_options();
        let client =
            s3::client(&client_options.for_bucket(Side::Destination, &args.bucket)).await?;
        let options = MultipartCompleteOptions {
            bucket: args.bucket,
            src_bucket: args.src_bucket,
            stream_index: StreamIndex::from_env(),
            dry_run: args.dry_run,
            dst_key,
            keys: args.prefixes.key_map(),
            ..MultipartCompleteOptions::default()
        };
        multipartcomplete::run(
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
