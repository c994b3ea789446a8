//! rsync: build the Campanile step plan (list, diff, multipartlist, copy) and run it on
//! this machine with the embedded Hadoop Streaming runner (default), or submit it to an
//! EMR cluster (`--job`), print it (`--dry-run`) or follow it (`--wait`).

use clap::Parser;

use campanile_cli::rsync::RsyncCli;

fn main() -> std::process::ExitCode {
    let cli = RsyncCli::parse();
    let request = cli.request();
    let local = cli.local_request();
    campanile::cli::run_task("rsync", |mut streams| async move {
        let request = request?;
        let mut stderr = std::io::stderr();
        match local {
            Some(local) => {
                campanile::rsync_local::run(&request, &local, &mut streams.output, &mut stderr)
                    .await
            }
            None => campanile::rsync::run(&request, &mut streams.output, &mut stderr).await,
        }
    })
}
