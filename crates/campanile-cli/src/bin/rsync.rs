//! rsync: build the Campanile step plan (list, diff, multipartlist, copy) and run it on
//! this machine with the embedded Hadoop Streaming runner (default), or submit it to an
//! EMR cluster (`--job`), print it (`--dry-run`) or follow it (`--wait`). SIGINT and
//! SIGTERM stop a local run and clean it up (exit 130, 143); `--cleanup RUN_DIR`
//! cleans up after one that was killed; `--list-runs` lists the local runs. The same
//! job as `campanile sync`.

use campanile_cli::rsync::RsyncCli;

fn main() -> std::process::ExitCode {
    // Parsed with the order of --include and --exclude kept.
    campanile_cli::jobs::sync("rsync", RsyncCli::parse_ordered(std::env::args_os()))
}
