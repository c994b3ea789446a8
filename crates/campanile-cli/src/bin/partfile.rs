//! partfile: make a part file for a bucket (key ranges of about `--keys-per-line` keys,
//! on stdout), or check one with `--check FILE` (overlapping lines and key ranges no
//! line lists, named on stdout; exit 2 when there are any), or make one from an S3
//! Inventory report with `--inventory MANIFEST`. Runs where the job is submitted, not
//! on the cluster.

use std::io::Write;

use clap::Parser;

use campanile::command::PartFileArgs;
use campanile::credentials::Side;
use campanile::partfile::{self, S3Lister};
use campanile::s3;
use campanile_cli::process::run_task;

fn main() -> std::process::ExitCode {
    let args = PartFileArgs::parse();
    let diagnostics = args.s3.diagnostics.clone();
    run_task("partfile", &diagnostics, |mut streams| async move {
        let client = s3::client(
            &args
                .s3
                .client_options()
                .for_bucket(Side::Source, &args.bucket),
        )
        .await?;
        let lister = S3Lister {
            client: &client,
            bucket: &args.bucket,
        };
        if let Some(path) = &args.check {
            let report = partfile::check_file(&lister, path, &mut streams.output).await?;
            eprintln!(
                "partfile: {}: {} lines, no overlap, every key listed",
                path.display(),
                report.lines
            );
            return Ok(());
        }
        let generated = match &args.inventory {
            Some(manifest) => {
                let generated = partfile::inventory::generate(
                    &client,
                    manifest,
                    &args.bucket,
                    args.keys_per_line,
                )
                .await?;
                partfile::write_lines(&generated, &mut streams.output)?;
                generated
            }
            None => {
                partfile::write_generated(&lister, &args.generate_options(), &mut streams.output)
                    .await?
            }
        };
        let _ = writeln!(
            std::io::stderr(),
            "partfile: {}",
            partfile::describe(&generated, &args.bucket)
        );
        Ok(())
    })
}
