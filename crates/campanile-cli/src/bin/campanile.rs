//! campanile: one front end for the jobs of the engine, `campanile JOB …`. `sync` is
//! the article's rsync (same flags, same plan, same runners); `index` lists buckets into
//! a table through the same plan's listing; `restore`, `verify` and `reencrypt` (the
//! copy onto itself with new settings) are jobs of the same plan; `partfile`, `runs` and
//! `cleanup` are the helpers around a run. Each job runs the code of its own binary
//! ([`campanile_cli::jobs`]), so the two spellings cannot drift apart.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use campanile::command::{Diagnostics, PartFileArgs};
use campanile_cli::index::IndexCli;
use campanile_cli::jobs;
use campanile_cli::map::MapCli;
use campanile_cli::reencrypt::ReencryptCli;
use campanile_cli::restore::RestoreCli;
use campanile_cli::rsync::RsyncCli;
use campanile_cli::verify::VerifyCli;

/// Campanile: S3 bucket jobs split by part file over many tasks, on this machine
/// (the default), on an EMR cluster (`-j`) or on a Hadoop cluster (`--hadoop`).
#[derive(Debug, Parser)]
#[command(name = "campanile", version)]
struct Cli {
    #[command(subcommand)]
    job: Job,
}

#[derive(Debug, Subcommand)]
enum Job {
    /// Copy a bucket or a prefix to another (what `rsync` does, with its flags):
    /// `campanile sync s3://src/logs/ s3://dst/archive/`.
    Sync(Box<RsyncCli>),
    /// Request the restore of the archived objects (GLACIER, DEEP_ARCHIVE,
    /// Intelligent-Tiering archive tiers) of a bucket or prefix:
    /// `campanile restore s3://src/logs/ --tier Bulk --days 10`.
    #[command(after_help = campanile_cli::restore::AFTER_HELP)]
    Restore(Box<RestoreCli>),
    /// Re-encrypt or re-class in place: rewrite a bucket's or prefix's objects onto
    /// themselves with a new --sse, --sse-kms-key-id or --storage-class, keeping
    /// content, headers, metadata, tags, ACL grants (--acl replaces them) and part
    /// layout:
    /// `campanile reencrypt s3://src/logs/ --storage-class STANDARD_IA`.
    #[command(after_help = campanile_cli::reencrypt::AFTER_HELP)]
    Reencrypt(Box<ReencryptCli>),
    /// Index buckets or prefixes into one table (CSV, Parquet, TSV): key, size, ETag,
    /// last modified, storage class, encryption, checksum algorithm:
    /// `campanile index s3://a s3://b/logs/ --to index.csv`.
    Index(Box<IndexCli>),
    /// Compare a bucket or a prefix with its copy, key by key (content by ETag,
    /// checksum and size; headers, metadata, storage class, tags); list what is
    /// missing, changed, extra, drifted or unverifiable in `<run dir>/_verify.jsonl`;
    /// exit 0 only when identical, 3 otherwise:
    /// `campanile verify s3://src/logs/ s3://dst/archive/`.
    #[command(after_help = campanile_cli::verify::AFTER_HELP)]
    Verify(Box<VerifyCli>),
    /// Run a command once per object of a bucket or prefix, the object's bytes on its
    /// stdin; its stdout to the job output (`key<TAB>line`) or to a key per object:
    /// `campanile map s3://src/logs/ --command 'wc -c'`.
    #[command(after_help = campanile_cli::map::AFTER_HELP)]
    Map(Box<MapCli>),
    /// Make a part file for a bucket, check one, or make one from an S3 Inventory
    /// report (what `partfile` does).
    Partfile(Box<PartFileArgs>),
    /// List the local runs, oldest first: id, start, state, buckets, run directory,
    /// output and skip report (`rsync --list-runs`).
    Runs {
        /// One JSON object per run.
        #[arg(long)]
        json: bool,
        /// Base of the run directories (default: the state directory).
        #[arg(long, env = campanile::rsync::runs::RUN_DIR_ENV)]
        run_dir: Option<PathBuf>,
        #[command(flatten)]
        diagnostics: Diagnostics,
    },
    /// Clean up after a local run whose runner was killed: stop its tasks, remove
    /// their temporary files, complete or abort its uploads (`rsync --cleanup`).
    Cleanup {
        /// The run: its id (as `campanile runs` shows it) or its run directory.
        run: PathBuf,
        /// Base of the run directories (default: the state directory).
        #[arg(long, env = campanile::rsync::runs::RUN_DIR_ENV)]
        run_dir: Option<PathBuf>,
        #[command(flatten)]
        diagnostics: Diagnostics,
    },
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // clap's derive loses the order of sync's --include and --exclude: taken from the
    // subcommand's matches.
    match (&mut cli.job, matches.subcommand()) {
        (Job::Sync(sync), Some(("sync", given))) => sync.order_rules(given),
        (Job::Restore(restore), Some(("restore", given))) => restore.sync.order_rules(given),
        (Job::Map(map), Some(("map", given))) => map.sync.order_rules(given),
        (Job::Reencrypt(job), Some(("reencrypt", given))) => job.sync.order_rules(given),
        _ => {}
    }
    if let (Job::Index(index), Some(("index", given))) = (&mut cli.job, matches.subcommand()) {
        index.run.order_rules(given);
    }
    if let (Job::Verify(verify), Some(("verify", given))) = (&mut cli.job, matches.subcommand()) {
        verify.sync.order_rules(given);
    }
    match cli.job {
        Job::Sync(cli) => jobs::sync("campanile sync", *cli),
        Job::Restore(cli) => jobs::restore("campanile restore", *cli),
        Job::Reencrypt(cli) => jobs::reencrypt("campanile reencrypt", *cli),
        Job::Index(cli) => jobs::index("campanile index", *cli),
        Job::Verify(cli) => jobs::verify("campanile verify", *cli),
        Job::Map(cli) => jobs::map("campanile map", *cli),
        Job::Partfile(args) => jobs::partfile("partfile", *args),
        Job::Runs {
            json,
            run_dir,
            diagnostics,
        } => jobs::runs("campanile runs", &diagnostics, run_base(run_dir), json),
        Job::Cleanup {
            run,
            run_dir,
            diagnostics,
        } => {
            let dir = run_base(run_dir).map(|base| campanile_cli::rsync::run_dir_of(&base, &run));
            jobs::cleanup("campanile cleanup", &diagnostics, dir)
        }
    }
}

/// `--run-dir` when given, else the state directory.
fn run_base(given: Option<PathBuf>) -> Result<PathBuf, campanile::Error> {
    match given {
        Some(dir) => Ok(dir),
        None => campanile::rsync::runs::default_run_base(),
    }
}
