//! `campanile map`: runs a command once per object of a bucket (or a prefix), with the
//! object's bytes on its stdin, through the same plan machinery as a copy (part file,
//! runners, filters, dry run, summary). Its output goes to the job output
//! (`key<TAB>line`), or with `--output-template s3://BUCKET/…{key}…` to one object per
//! source object. It takes sync's listing and runner flags (and `--dst-endpoint`,
//! `--dst-profile` for the template's bucket); the copy's own flags are refused (exit 2).

use clap::Args;

use campanile::Error;
use campanile::plan::Job;
use campanile::plan::map::MapJob;
use campanile::rsync::RsyncRequest;

use crate::rsync::RsyncCli;

/// Examples printed after `campanile map --help`.
pub const AFTER_HELP: &str = "\
Examples:
  # the objects the command would run on (nothing runs)
  campanile map s3://a/logs/ --command 'wc -c' --dry-run
  # the byte count of each object, in the job output as key<TAB>count
  campanile map s3://a/logs/ --command 'wc -c'
  # an upper-case copy of each object, written to s3://b/upper/<key>
  campanile map s3://a/logs/ --command 'tr a-z A-Z' --output-template 's3://b/upper/{key}'

The command runs with sh -c; its environment holds CAMPANILE_BUCKET, CAMPANILE_KEY,
CAMPANILE_SIZE and CAMPANILE_ETAG. A command that exits non-zero fails its object: the
others are still mapped and the task is retried; on its last attempt the object goes to
the skip report (reason command_failed, with the exit code and the end of the command's
stderr) and the run exits 3.";

/// Run a command once per object of a bucket or prefix, with the object's bytes on its
/// stdin; write its stdout to the job output (`key<TAB>line`) or to a key per object.
#[derive(Debug, Args)]
pub struct MapCli {
    /// The command, run with `sh -c` once per object (bytes on stdin; CAMPANILE_KEY,
    /// CAMPANILE_SIZE, CAMPANILE_ETAG, CAMPANILE_BUCKET in its environment).
    #[arg(long, value_name = "CMD")]
    pub command: String,
    /// Where each object's output goes: s3://BUCKET/TEMPLATE, `{key}` standing for the
    /// object's key (`s3://b/out/{key}.gz`). Default: the job output, `key<TAB>line`
    /// per line of the command's stdout.
    #[arg(long, value_name = "S3_URL")]
    pub output_template: Option<String>,
    /// Objects mapped at once by each task (one command process each; default 8).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub map_concurrency: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub sync: RsyncCli,
}

impl MapCli {
    /// The library request: sync's, with the map job; the destination is the
    /// template's bucket (the source when there is no template: nothing is written).
    pub fn request(&self) -> Result<RsyncRequest, Error> {
        self.refuse_copy_flags()?;
        if self.command.trim().is_empty() {
            return Err(Error::Usage("--command must not be empty".into()));
        }
        let template = self
            .output_template
            .as_deref()
            .map(split_template)
            .transpose()?;
        let sync = match &template {
            Some((bucket, _)) => RsyncCli {
                dst: Some(format!("s3://{bucket}")),
                dst_endpoint: self
                    .sync
                    .dst_endpoint
                    .clone()
                    .or_else(|| self.sync.src_endpoint.clone()),
                dst_profile: self
                    .sync
                    .dst_profile
                    .clone()
                    .or_else(|| self.sync.src_profile.clone()),
                ..self.sync.clone()
            },
            None => RsyncCli {
                dst: self.sync.src.clone(),
                dst_bucket: self.sync.src_bucket.clone(),
                dst_endpoint: self.sync.src_endpoint.clone(),
                dst_profile: self.sync.src_profile.clone(),
                ..self.sync.clone()
            },
        };
        let mut request = sync.request()?;
        crate::rsync::RsyncCli::refuse_versions(&request, "campanile map")?;
        request.plan.job = Job::Map(MapJob {
            command: self.command.clone(),
            output_template: template.map(|(_, key)| key),
            concurrency: self.map_concurrency.map(|n| n as usize),
        });
        Ok(request)
    }

    fn refuse_copy_flags(&self) -> Result<(), Error> {
        let s = &self.sync;
        let without_template = self.output_template.is_none();
        let given: Vec<&str> = [
            (s.dst.is_some(), "DST"),
            (s.dst_bucket.is_some(), "--dst-bucket"),
            (
                without_template && s.dst_endpoint.is_some(),
                "--dst-endpoint (without --output-template)",
            ),
            (
                without_template && s.dst_profile.is_some(),
                "--dst-profile (without --output-template)",
            ),
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
            "campanile map takes one location (SRC) and no copy flags; given: {}",
            given.join(", ")
        )))
    }
}

/// `s3://BUCKET/TEMPLATE` → (bucket, key template); the template must name `{key}`,
/// else every object's output would overwrite the last one's.
fn split_template(url: &str) -> Result<(String, String), Error> {
    let bad = |why: &str| Error::Usage(format!("--output-template {url:?}: {why}"));
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("must be s3://BUCKET/KEY-TEMPLATE"))?;
    let (bucket, key) = rest
        .split_once('/')
        .ok_or_else(|| bad("must be s3://BUCKET/KEY-TEMPLATE"))?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad("must be s3://BUCKET/KEY-TEMPLATE"));
    }
    if !key.contains(campanile::task::objectmap::KEY_PLACEHOLDER) {
        return Err(bad(
            "must hold {key} (each object's output needs a key of its own)",
        ));
    }
    Ok((bucket.to_string(), key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_a_bucket_and_a_key_with_the_key_in_it() {
        assert_eq!(
            split_template("s3://b/out/{key}.gz").expect("template"),
            ("b".to_string(), "out/{key}.gz".to_string())
        );
        for bad in [
            "b/out/{key}",
            "s3://b",
            "s3://b/",
            "s3:///{key}",
            "s3://b/fixed",
        ] {
            assert!(split_template(bad).is_err(), "{bad}");
        }
    }
}
