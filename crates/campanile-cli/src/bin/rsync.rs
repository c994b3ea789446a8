//! rsync: build the Campanile step plan (list, diff, multipartlist, copy) and run it on
//! this machine with the embedded Hadoop Streaming runner (default), or submit it to an
//! EMR cluster (`--job`), print it (`--dry-run`) or follow it (`--wait`). SIGINT and
//! SIGTERM stop a local run and clean it up (exit 130, 143); `--cleanup RUN_DIR`
//! cleans up after one that was killed; `--list-runs` lists the local runs.

use clap::Parser;

use campanile::rsync::Runner;
use campanile_cli::process::run_task;
use campanile_cli::rsync::RsyncCli;

fn main() -> std::process::ExitCode {
    let cli = RsyncCli::parse();
    let diagnostics = cli.diagnostics();
    if let Some(given) = &cli.cleanup {
        let run_dir = cli.cleanup_dir(given);
        return run_task("rsync", &diagnostics, |_| async move {
            campanile::rsync::unfinished::clean_up_run_dir(&run_dir?, &mut std::io::stderr()).await
        });
    }
    if cli.list_runs {
        let base = cli.run_base();
        let json = cli.json;
        return run_task("rsync", &diagnostics, |mut streams| async move {
            let runs = campanile::rsync::runs::list_runs(&base?)?;
            campanile::rsync::runs::print_runs(&runs, json, &mut streams.output)
        });
    }
    let request = cli.request();
    run_task("rsync", &diagnostics, |mut streams| async move {
        let mut request = request?;
        if let Runner::Local(local) = &mut request.runner
            && !request.dry_run
        {
            local.settings.interrupt = campanile::interrupt::listen("rsync")?;
        }
        campanile::rsync::run(&request, &mut streams.output, &mut std::io::stderr()).await
    })
}
