//! The `campanile verify` command line: sync's locations, endpoints, profiles, part
//! file, prefixes and runners (`RsyncCli`, flattened), plus verify's own flags. The
//! flags that only make sense for a copy are refused (exit 2) rather than ignored.

use clap::Args;

use campanile::Error;
use campanile::plan::Job;
use campanile::plan::verify::VerifyJob;
use campanile::rsync::RsyncRequest;

use crate::rsync::RsyncCli;

/// Examples and rules shown at the end of `campanile verify --help`.
pub const AFTER_HELP: &str = "\
Locations, part file, prefixes, filters and runners are sync's (campanile sync --help).
Source key <SRC prefix><rest> is compared with <DST prefix><rest>.

Report (<run dir>/_verify.jsonl; on a cluster <output>/<partfile>.<uuid>.verify/):
one JSON object per key that is not identical: key, dst_key, kind (missing, changed,
metadata_drift, unverifiable, extra), reason, fields (metadata_drift), src, dst.
Exit status: 0 identical, 3 the report has rows, 1 the run failed, 2 bad usage.

Examples:
  # compare a prefix with its copy, on this machine
  campanile verify s3://a/logs/2025/ s3://b/archive/2025/
  # what would be compared (the listings only, no HEAD)
  campanile verify s3://a/logs/ s3://b/logs/ --dry-run
  # copy just what the report says is missing, changed or drifted, then verify again
  campanile sync s3://a/logs/ s3://b/logs/ --input-report RUN_DIR/_verify.jsonl --verify
  # copies written with another storage class: expect it at the destination
  campanile verify s3://a/ s3://b/ --storage-class STANDARD_IA";

/// Compare a bucket (or a prefix) with its copy: every source key HEADed on both
/// sides and compared by the strongest proof both offer (ETag, checksum, size), then
/// by content headers, user metadata, storage class and tags; the destination keys
/// the source lacks are listed too. Writes `<run dir>/_verify.jsonl` (one JSON row per
/// key that is not identical) and a summary; exits 0 only when both sides are
/// identical, 3 when the report has rows.
#[derive(Debug, Args)]
pub struct VerifyCli {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub sync: RsyncCli,
    /// Do not list the destination: no `extra` rows (the destination keys the source
    /// lacks), one listing less. Needed with --include/--exclude and the size and date
    /// filters (the destination listing is not filtered) and with --inventory.
    #[arg(long)]
    pub no_extra: bool,
}

impl VerifyCli {
    /// The copy-only flags given, by name.
    fn copy_flags(&self) -> Vec<&'static str> {
        let sync = &self.sync;
        [
            ("--delete", sync.delete),
            ("--no-copy", sync.no_copy),
            ("--list-only", sync.list_only),
            ("--diff", sync.diff),
            ("--server-side-copy", sync.server_side_copy),
            ("--no-server-side-copy", sync.no_server_side_copy),
            ("--restored", sync.restored),
            ("--sse", sync.write.sse.is_some()),
            ("--sse-kms-key-id", sync.write.sse_kms_key_id.is_some()),
            ("--acl", sync.write.acl.is_some()),
            ("--cleanup", sync.cleanup.is_some()),
            ("--list-runs", sync.list_runs),
            ("--input-report", sync.input_report.is_some()),
            ("--verify", sync.verify),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// The library request: sync's, with the verify job.
    pub fn request(&self) -> Result<RsyncRequest, Error> {
        let refused = self.copy_flags();
        if !refused.is_empty() {
            return Err(Error::Usage(format!(
                "verify compares and writes nothing: {} only make(s) sense for a copy",
                refused.join(", ")
            )));
        }
        let mut request = self.sync.request()?;
        if !self.no_extra {
            if request.plan.filters != Default::default() {
                return Err(Error::Usage(
                    "the destination listing is not filtered, so with --include/--exclude or the size and date filters every destination key they leave out would be `extra`: give --no-extra".into(),
                ));
            }
            if request.inventory.is_some() {
                return Err(Error::Usage(
                    "with --inventory the destination is not listed: give --no-extra".into(),
                ));
            }
        }
        crate::rsync::RsyncCli::refuse_versions(&request, "campanile verify")?;
        request.plan.job = Job::Verify(VerifyJob {
            extra: !self.no_extra,
        });
        request.plan.diff = false;
        Ok(request)
    }
}

/// The verify that `sync --verify` runs once its copy ended: the copy's locations,
/// part file, prefixes and runner, as a run of its own (`<uuid>-verify`); the
/// destination keys the source lacks are looked for unless filters or an inventory
/// report narrowed the source listing.
pub fn after_sync(sync: &RsyncRequest) -> RsyncRequest {
    let mut request = sync.clone();
    let extra = request.plan.filters == Default::default() && request.inventory.is_none();
    request.plan.job = Job::Verify(VerifyJob { extra });
    request.plan.diff = false;
    request.plan.uuid = format!("{}-verify", sync.plan.uuid);
    request.delete = None;
    request.input_report = None;
    request.dry_run = false;
    request
}
