//! objectcopy: copy each object or part of its input (multipartlist records), checking
//! every byte; write the copied parts for multipartcomplete. With `--versions`, copy
//! the versions records of `bucketlist --all-versions` / `--version-at` instead.

use clap::Parser;

use campanile::command::ObjectCopyArgs;
use campanile::config::Config;
use campanile::stream::StreamIndex;
use campanile::task::objectcopy::{self, ObjectCopyOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = ObjectCopyArgs::parse();
    let diagnostics = args.buckets.diagnostics.clone();
    run_task("objectcopy", &diagnostics, |mut streams| async move {
        let config = Config::load(args.config.as_deref())?;
        if args.debug {
            streams.reporter.log(&config.describe())?;
        }
        args.write.check()?;
        if (args.server_side || args.server_side_if_readable || args.in_place)
            && args.buckets.src_endpoint != args.buckets.dst_endpoint
        {
            return Err(campanile::Error::Usage(
                "--server-side, --server-side-if-readable and --in-place copy inside one server: \
                 --src-endpoint and --dst-endpoint must be the same"
                    .to_string(),
            ));
        }
        if args.in_place
            && (args.buckets.src_bucket != args.buckets.dst_bucket
                || !args.buckets.prefixes.key_map().is_identity())
        {
            return Err(campanile::Error::Usage(
                "--in-place rewrites objects onto themselves: --src-bucket and --dst-bucket \
                 must be the same, with no prefix change"
                    .to_string(),
            ));
        }
        // The keys are read here, from the files the command line names.
        let sse_c = campanile::sse_c::SseCKeys::load(
            args.buckets.src_sse_c_key_file.as_deref(),
            args.write.dst_sse_c_key_file.as_deref(),
        )?;
        let (src, dst) = args.buckets.clients().await?;
        let defaults = ObjectCopyOptions::default();
        let options = ObjectCopyOptions {
            src_bucket: args.buckets.src_bucket,
            dst_bucket: args.buckets.dst_bucket,
            stream_index: StreamIndex::from_env(),
            max_tmp_size: config.max_tmp_size,
            ephemeral: config.ephemeral,
            concurrency: args.concurrency.unwrap_or(defaults.concurrency).max(1),
            server_side: args.server_side,
            server_side_if_readable: args.server_side_if_readable,
            in_place: args.in_place,
            client_md5: args.client_md5,
            write: args.write,
            sse_c,
            retried: campanile::attempt::TaskAttempt::from_env().is_retry(),
            keys: args.buckets.prefixes.key_map(),
            dry_run: args.dry_run,
            ..defaults
        };
        if let Some(mode) = args.versions {
            if options.sse_c.src.is_some() || options.sse_c.dst.is_some() {
                return Err(campanile::Error::Usage(
                    "--versions copies without SSE-C keys (docs/versions.md)".into(),
                ));
            }
            return objectcopy::versions::run(
                streams.input,
                &mut streams.output,
                &mut streams.reporter,
                (&src, &dst),
                &options,
                mode,
            )
            .await
            .map(drop);
        }
        objectcopy::run(
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
