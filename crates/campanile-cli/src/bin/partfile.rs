//! partfile: make a part file for a bucket (key ranges of about `--keys-per-line` keys,
//! on stdout), or check one with `--check FILE` (overlapping lines and key ranges no
//! line lists, named on stdout; exit 2 when there are any), or make one from an S3
//! Inventory report with `--inventory MANIFEST`. Runs where the job is submitted, not
//! on the cluster. The same job as `campanile partfile`.

use clap::Parser;

use campanile::command::PartFileArgs;

fn main() -> std::process::ExitCode {
    campanile_cli::jobs::partfile("partfile", PartFileArgs::parse())
}
