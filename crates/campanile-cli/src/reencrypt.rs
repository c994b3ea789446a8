//! `campanile reencrypt`: rewrites the objects of a bucket (or a prefix) onto
//! themselves with a new encryption (`--sse`, `--sse-kms-key-id`) or storage class
//! (`--storage-class`), keeping their content, headers, metadata, tags and ACL grants
//! (`--acl` replaces them); a multipart object keeps its part layout (UploadPartCopy
//! over its own ranges). It is the copy's
//! plan with the destination = the source ([`campanile::plan::Job::Reencrypt`]): the
//! same part file, runners, filters, dry run, counters and summary. It takes one
//! location and sync's listing, runner and write flags; the flags that only make sense
//! for a copy between two locations are refused (exit 2), and so is a reencrypt that
//! asks for no change.

use clap::Args;

use campanile::Error;
use campanile::plan::Job;
use campanile::rsync::RsyncRequest;

use crate::rsync::RsyncCli;

/// Examples printed after `campanile reencrypt --help`.
pub const AFTER_HELP: &str = "\
Examples:
  # what would be rewritten (keys and counts, nothing written)
  campanile reencrypt s3://a/logs/ --storage-class STANDARD_IA --dry-run
  # move the logs to Standard-IA, encrypted with SSE-S3
  campanile reencrypt s3://a/logs/ --storage-class STANDARD_IA --sse AES256
  # re-encrypt a bucket with a KMS key (SSE-KMS ETags are no MD5s: such objects are
  # reported as not proven, exit 3)
  campanile reencrypt s3://a --sse-kms-key-id alias/archive
  # each object keeps its ACL's grants (read with GetObjectAcl: s3:GetObjectAcl);
  # --acl replaces every object's ACL instead
  campanile reencrypt s3://a/site/ --sse AES256 --acl public-read";

/// Rewrite objects onto themselves with a new SSE setting, KMS key or storage class.
#[derive(Debug, Args)]
pub struct ReencryptCli {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub sync: RsyncCli,
}

impl ReencryptCli {
    /// The library request: sync's, with the reencrypt job and the source as the
    /// destination too.
    pub fn request(&self) -> Result<RsyncRequest, Error> {
        self.refuse_copy_flags()?;
        let write = &self.sync.write;
        if write.sse.is_none() && write.sse_kms_key_id.is_none() && write.storage_class.is_none() {
            return Err(Error::Usage(
                "campanile reencrypt needs a change: give --sse, --sse-kms-key-id or \
                 --storage-class"
                    .into(),
            ));
        }
        // One location: the objects are written where they are, reached the same way.
        let sync = RsyncCli {
            dst: self.sync.src.clone(),
            dst_bucket: self.sync.src_bucket.clone(),
            dst_endpoint: self.sync.src_endpoint.clone(),
            dst_profile: self.sync.src_profile.clone(),
            ..self.sync.clone()
        };
        let mut request = sync.request()?;
        crate::rsync::RsyncCli::refuse_versions(&request, "campanile reencrypt")?;
        request.plan.job = Job::Reencrypt;
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
            (s.write.dst_sse_c_key_file.is_some(), "--dst-sse-c-key-file"),
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
            "campanile reencrypt takes one location (SRC) and no flags of a copy between two; given: {}",
            given.join(", ")
        )))
    }
}
