//! The jobs the front ends run, each from its parsed arguments to an exit status:
//! shared by the article's binaries (`rsync`, `partfile`) and by `campanile JOB …`,
//! so that `campanile sync` and `rsync` are one code path with one set of flags.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use campanile::command::{Diagnostics, PartFileArgs};
use campanile::credentials::Side;
use campanile::partfile::{self, S3Lister};
use campanile::rsync::{RsyncRequest, Runner};
use campanile::s3;

use crate::index::IndexCli;
use crate::process::run_task;
use crate::rsync::RsyncCli;

/// rsync (`campanile sync`): a copy run, `--cleanup` of a killed one, or `--list-runs`.
pub fn sync(task: &'static str, cli: RsyncCli) -> ExitCode {
    let diagnostics = cli.diagnostics();
    if let Some(given) = &cli.cleanup {
        return cleanup(task, &diagnostics, cli.cleanup_dir(given));
    }
    if cli.list_runs {
        return runs(task, &diagnostics, cli.run_base(), cli.json);
    }
    let request = cli.request();
    let verify = cli.verify;
    run_task(task, &diagnostics, |mut streams| async move {
        let request = listening(task, request?)?;
        let copied =
            campanile::rsync::run(&request, &mut streams.output, &mut std::io::stderr()).await;
        // --verify: once the copy ended with every object copied, or some left out
        // (which the verify then reports), compare both sides.
        let verify_now = matches!(copied, Ok(()) | Err(campanile::Error::Skipped { .. }));
        if !(verify && verify_now) {
            return copied;
        }
        let verify = crate::verify::after_sync(&request);
        campanile::rsync::run(&verify, &mut streams.output, &mut std::io::stderr())
            .await
            .and(copied)
    })
}

/// A job's request with, for a real local run, the signal handler that stops its
/// tasks (SIGINT, SIGTERM).
fn listening(
    task: &'static str,
    mut request: RsyncRequest,
) -> Result<RsyncRequest, campanile::Error> {
    if let Runner::Local(local) = &mut request.runner
        && !request.dry_run
    {
        local.settings.interrupt = campanile::interrupt::listen(task)?;
    }
    Ok(request)
}

/// Runs one job's request on its runner (restore, verify, map, reencrypt).
fn run_job(
    task: &'static str,
    diagnostics: &Diagnostics,
    request: Result<RsyncRequest, campanile::Error>,
) -> ExitCode {
    run_task(task, diagnostics, |mut streams| async move {
        let request = listening(task, request?)?;
        campanile::rsync::run(&request, &mut streams.output, &mut std::io::stderr()).await
    })
}

/// `campanile verify`: compares both sides (see [`crate::verify::VerifyCli`]).
pub fn verify(task: &'static str, cli: crate::verify::VerifyCli) -> ExitCode {
    run_job(task, &cli.sync.diagnostics(), cli.request())
}

/// `campanile map`: the map job on the chosen runner.
pub fn map(task: &'static str, cli: crate::map::MapCli) -> ExitCode {
    run_job(task, &cli.sync.diagnostics(), cli.request())
}

/// `campanile restore`: the restore job on the chosen runner.
pub fn restore(task: &'static str, cli: crate::restore::RestoreCli) -> ExitCode {
    run_job(task, &cli.sync.diagnostics(), cli.request())
}

/// `campanile reencrypt`: the in-place rewrite on the chosen runner.
pub fn reencrypt(task: &'static str, cli: crate::reencrypt::ReencryptCli) -> ExitCode {
    run_job(task, &cli.sync.diagnostics(), cli.request())
}

/// `campanile index`: one index run per bucket, in order, then their rows as one table.
pub fn index(task: &'static str, cli: IndexCli) -> ExitCode {
    let diagnostics = cli.run.diagnostics();
    let prepared = cli.requests();
    run_task(task, &diagnostics, |mut streams| async move {
        let (mut requests, table) = prepared?;
        let any_local = requests
            .iter()
            .any(|r| matches!(r.runner, Runner::Local(_)));
        if any_local && !requests.iter().any(|r| r.dry_run) {
            // One handler for every run: SIGINT or SIGTERM stops the one running.
            let interrupt = campanile::interrupt::listen(task)?;
            for request in &mut requests {
                if let Runner::Local(local) = &mut request.runner {
                    local.settings.interrupt = interrupt.clone();
                }
            }
        }
        campanile::rsync::index::run(
            &requests,
            &table,
            &mut streams.output,
            &mut std::io::stderr(),
        )
        .await
    })
}

/// Cleans up after a local run whose runner was killed (see `rsync --cleanup`).
pub fn cleanup(
    task: &'static str,
    diagnostics: &Diagnostics,
    run_dir: Result<PathBuf, campanile::Error>,
) -> ExitCode {
    run_task(task, diagnostics, |_| async move {
        campanile::rsync::unfinished::clean_up_run_dir(&run_dir?, &mut std::io::stderr()).await
    })
}

/// Lists the local runs under `base` (see `rsync --list-runs`).
pub fn runs(
    task: &'static str,
    diagnostics: &Diagnostics,
    base: Result<PathBuf, campanile::Error>,
    json: bool,
) -> ExitCode {
    run_task(task, diagnostics, |mut streams| async move {
        let runs = campanile::rsync::runs::list_runs(&base?)?;
        campanile::rsync::runs::print_runs(&runs, json, &mut streams.output)
    })
}

/// partfile: makes a part file for a bucket, or checks one (`--check`), or makes one
/// from an S3 Inventory report (`--inventory`).
pub fn partfile(task: &'static str, args: PartFileArgs) -> ExitCode {
    let diagnostics = args.s3.diagnostics.clone();
    run_task(task, &diagnostics, |mut streams| async move {
        let options = args
            .s3
            .client_options()
            .for_bucket(Side::Source, &args.bucket);
        let client = s3::client(&options).await?;
        let lister = S3Lister {
            client: &client,
            bucket: &args.bucket,
        };
        if let Some(path) = &args.check {
            let report = partfile::check_file(&lister, path, &mut streams.output).await?;
            let _ = writeln!(
                std::io::stderr(),
                "{task}: {}: {} lines, no overlap, every key listed",
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
            "{task}: {}",
            partfile::describe(&generated, &args.bucket)
        );
        Ok(())
    })
}
