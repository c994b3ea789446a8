//! rsync: build the Campanile step plan (list, diff, multipartlist, copy) and submit it
//! to an EMR cluster, print it (`--dry-run`), or follow it (`--wait`).

use clap::Parser;

use campanile_cli::rsync::RsyncCli;

fn main() -> std::process::ExitCode {
    let cli = RsyncCli::parse();
    let request = cli.request();
    campanile::cli::run_task("rsync", |mut streams| async move {
        let request = request?;
        campanile::rsync::run(&request, &mut streams.output, &mut std::io::stderr()).await
    })
}
