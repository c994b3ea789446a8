//! `campanile restore`: requests the restore of a bucket's (or a prefix's) archived
//! objects with the same plan machinery as a copy (part file, runners, filters, dry
//! run, summary). It takes one location and sync's listing and runner flags; the
//! flags that only make sense for a copy are refused (exit 2).

use clap::Args;

use campanile::Error;
use campanile::plan::{Job, RestoreJob};
use campanile::rsync::RsyncRequest;

use crate::rsync::RsyncCli;

/// Examples printed after `campanile restore --help`.
pub const AFTER_HELP: &str = "\
Examples:
  # what a restore of the archived logs would request (a HEAD per object, no restore)
  campanile restore s3://a/logs/ --dry-run
  # request them: Bulk retrieval, readable for 10 days
  campanile restore s3://a/logs/ --tier Bulk --days 10
  # later, copy those whose restore finished (the others are reported)
  campanile sync s3://a/logs/ s3://b/logs/ --restored";

/// Request the restore of the GLACIER, DEEP_ARCHIVE and Intelligent-Tiering archive
/// objects of a bucket or prefix (RestoreObject per object that needs one; those
/// restored or in progress are counted, not asked again).
#[derive(Debug, Args)]
pub struct RestoreCli {
    /// Retrieval tier: Standard, Bulk or Expedited (Intelligent-Tiering archive tiers
    /// take Standard or Bulk).
    #[arg(long, default_value = "Standard", value_parser = ["Standard", "Bulk", "Expedited"])]
    pub tier: String,
    /// Days a restored GLACIER or DEEP_ARCHIVE copy stays readable.
    #[arg(long, default_value_t = campanile::command::args::RESTORE_DAYS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub sync: RsyncCli,
}

impl RestoreCli {
    /// The library request: sync's, with the restore job and the source as the only
    /// bucket.
    pub fn request(&self) -> Result<RsyncRequest, Error> {
        self.refuse_copy_flags()?;
        // One location: the source is the plan's destination too (nothing is written
        // to it), reached the same way.
        let sync = RsyncCli {
            dst: self.sync.src.clone(),
            dst_bucket: self.sync.src_bucket.clone(),
            dst_endpoint: self.sync.src_endpoint.clone(),
            dst_profile: self.sync.src_profile.clone(),
            ..self.sync.clone()
        };
        let mut request = sync.request()?;
        crate::rsync::RsyncCli::refuse_versions(&request, "campanile restore")?;
        request.plan.job = Job::Restore(RestoreJob {
            tier: self.tier.clone(),
            days: self.days,
        });
        Ok(request)
    }

    fn refuse_copy_flags(&self) -> Result<(), Error> {
        let s = &self.sync;
        let given: Vec<&str> = [
            (s.dst.is_some(), "DST"),
            (s.dst_bucket.is_some(), "--dst-bucket"),
            (s.dst_endpoint.is_some(), "--dst-endpoint"),
            (s.dst_profile.is_some(), "--dst-profile"),
            (s.diff, "--diff"),
            (s.delete, "--delete"),
            (s.no_copy, "--no-copy"),
            (s.list_only, "--list-only"),
            (s.server_side_copy, "--server-side-copy"),
            (s.restored, "--restored"),
            (s.no_server_side_copy, "--no-server-side-copy"),
            (s.input_report.is_some(), "--input-report"),
            (s.verify, "--verify"),
            (s.inventory.is_some(), "--inventory"),
            (s.src_sse_c_key_file.is_some(), "--src-sse-c-key-file"),
            (
                s.write != Default::default(),
                "--sse/--sse-kms-key-id/--storage-class/--acl/--dst-sse-c-key-file",
            ),
            (s.cleanup.is_some(), "--cleanup"),
            (s.list_runs, "--list-runs"),
        ]
        .into_iter()
        .filter_map(|(set, flag)| set.then_some(flag))
        .collect();
        if given.is_empty() {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "campanile restore takes one location (SRC) and no copy flags; given: {}",
            given.join(", ")
        )))
    }
}
