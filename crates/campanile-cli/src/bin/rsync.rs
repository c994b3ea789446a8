//! rsync: build the Campanile step plan (list, diff, multipartlist, copy) and run it on
//! this machine with the embedded Hadoop Streaming runner (default), or submit it to an
//! EMR cluster (`--job`), print it (`--dry-run`) or follow it (`--wait`).

use clap::Parser;

use campanile_cli::process::run_task;
use campanile_cli::rsync::RsyncCli;

fn main() -> std::process::ExitCode {
    let request = RsyncCli::parse().request();
    run_task("rsync", |mut streams| async move {
        let request = request?;
        campanile::rsync::run(&request, &mut streams.output, &mut std::io::stderr()).await
    })
}
