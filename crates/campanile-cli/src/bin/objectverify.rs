//! objectverify: compare each listed source object with its copy (HEADs of both sides,
//! no write), writing one JSON report row per key that is not identical; with
//! `--extra`, report the destination keys the source lacks (`campanile verify`).

use clap::Parser;

use campanile::command::ObjectVerifyArgs;
use campanile::stream::StreamIndex;
use campanile::task::objectverify::{self, VerifyOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = ObjectVerifyArgs::parse();
    let diagnostics = args.buckets.diagnostics.clone();
    run_task("objectverify", &diagnostics, |mut streams| async move {
        let (src, dst) = args.buckets.clients().await?;
        // The keys are read here, from the files the command line names.
        let sse_c = campanile::sse_c::SseCKeys::load(
            args.buckets.src_sse_c_key_file.as_deref(),
            args.dst_sse_c_key_file.as_deref(),
        )?;
        let defaults = VerifyOptions::default();
        let options = VerifyOptions {
            src_bucket: args.buckets.src_bucket.clone(),
            dst_bucket: args.buckets.dst_bucket.clone(),
            stream_index: StreamIndex::from_env(),
            concurrency: args.concurrency.map_or(defaults.concurrency, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
            keys: args.buckets.prefixes.key_map(),
            extra: args.extra,
            storage_class: args.storage_class,
            sse_c,
        };
        objectverify::run(
            streams.input,
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
