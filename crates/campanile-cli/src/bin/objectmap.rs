//! objectmap: run a command once per object of a listing, the object's bytes on its
//! stdin (`campanile map`'s task); writes `key<TAB>line` per line of its stdout, or
//! puts it to `--output-template`'s key.

use clap::Parser;

use campanile::command::ObjectMapArgs;
use campanile::stream::StreamIndex;
use campanile::task::objectmap::{self, ObjectMapOptions};
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = ObjectMapArgs::parse();
    let diagnostics = args.buckets.diagnostics.clone();
    run_task("objectmap", &diagnostics, |mut streams| async move {
        let buckets = &args.buckets;
        let (src, dst) = buckets.clients().await?;
        let options = ObjectMapOptions {
            src_bucket: buckets.src_bucket.clone(),
            dst_bucket: buckets.dst_bucket.clone(),
            stream_index: StreamIndex::from_env(),
            command: args.command.as_str().to_string(),
            output_template: args
                .output_template
                .as_ref()
                .map(|t| t.as_str().to_string()),
            concurrency: args.concurrency,
            // The last attempt reports a failed command instead of failing the task.
            last_attempt: campanile::attempt::TaskAttempt::from_env().is_last(),
        };
        objectmap::run(
            streams.input,
            &mut streams.output,
            &mut streams.reporter,
            (&src, &dst),
            &options,
        )
        .await
        .map(drop)
    })
}
