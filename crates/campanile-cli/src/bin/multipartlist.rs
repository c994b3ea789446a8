//! multipartlist: turn bucketlist records into copy work, one line per whole object and
//! one line per part of a multipart object, creating the destination uploads. With
//! `--abort-run`, the clean-up step of a cluster run instead (`task::abort_run`).

use clap::Parser;

use campanile::command::MultipartListArgs;
use campanile::stream::StreamIndex;
use campanile::task::multipartlist::{self, MultipartListOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = MultipartListArgs::parse();
    let diagnostics = args.buckets.diagnostics.clone();
    run_task("multipartlist", &diagnostics, |mut streams| async move {
        args.write.check()?;
        let (src, dst) = args.buckets.clients().await?;
        if args.abort_run {
            // The clean-up step of a cluster run: plans nothing.
            return campanile::task::abort_run::run(
                streams.input,
                StreamIndex::from_env(),
                &mut streams.reporter,
                &dst,
                &args.buckets.dst_bucket,
                &args.buckets.prefixes.key_map(),
            )
            .await
            .map(drop);
        }
        // The keys are read here, from the files the command line names.
        let sse_c = campanile::sse_c::SseCKeys::load(
            args.buckets.src_sse_c_key_file.as_deref(),
            args.write.dst_sse_c_key_file.as_deref(),
        )?;
        let options = MultipartListOptions {
            src_bucket: args.buckets.src_bucket,
            dst_bucket: args.buckets.dst_bucket,
            stream_index: StreamIndex::from_env(),
            dry_run: args.dry_run,
            probe_every_part: args.probe_every_part,
            concurrency: args.concurrency,
            write: args.write,
            sse_c,
            keys: args.buckets.prefixes.key_map(),
            in_place: args.in_place,
        };
        multipartlist::run(
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
