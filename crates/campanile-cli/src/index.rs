//! The `campanile index` command line: the buckets (or prefixes) to index, the table
//! (`--format`, `--to`), `--key-regex` and `--no-head`, and every rsync flag that makes
//! sense for a job that only reads (the runner, the part file, the filters, the run
//! directory, credentials, endpoints), taken from [`RsyncCli`] itself so that the two
//! cannot drift apart. The flags that only make sense for a copy are refused (exit 2).

use clap::Parser;

use campanile::Error;
use campanile::plan::Job;
use campanile::plan::index::IndexJob;
use campanile::rsync::RsyncRequest;
use campanile::rsync::index::{TableFormat, TableRequest};
use campanile::select::KeyRegex;

use crate::rsync::{RsyncCli, location};

/// Examples and rules shown at the end of `campanile index --help`.
const AFTER_HELP: &str = "\
Columns: bucket, key, size, etag, last_modified, storage_class, encryption
(NONE, SSE-S3, SSE-KMS, DSSE-KMS, SSE-C), kms_key_id, checksum_algorithm (CRC64NVME,
CRC32, CRC32C, SHA1, SHA256, NONE). Storage class, encryption and checksum come from
one HEAD per object; --no-head leaves them empty (NULL) and makes no HEAD.

Filters: --include/--exclude GLOB, --min-size/--max-size, --newer-than/--older-than
(applied while listing, as for sync) and --key-regex REGEX (on the whole key, applied
before the HEAD). The article's `aws s3 ls s3://bucket | awk '{ if($3 > 1024000) print
$0 }'` (size strictly greater than 1024000 bytes) is --min-size 1024001: --min-size
keeps size >= SIZE.

Several SOURCEs: one run each, one after the other, all rows in one table (--to,
default stdout). On a cluster the rows are written to the job output under --output
(one <part file>.<id> directory per bucket) and read back from there for the table:
--hadoop, and -j CLUSTER with --wait and an s3:// --output; -j without --wait
submits the steps and leaves the rows in the job output (no --to).

Examples:
  campanile index s3://logs/2025/ --to index.csv
  campanile index s3://a s3://b/data/ --format parquet --to s3://reports/index.parquet
  campanile index s3://a --min-size 1024001 --key-regex '\\.gz$' --format tsv
  campanile index s3://a --dry-run";

/// Index one or more buckets (or prefixes) into one table: key, size, ETag, last
/// modified, storage class, encryption, checksum algorithm.
#[derive(Debug, Parser)]
#[command(
    name = "index",
    after_help = AFTER_HELP,
    // rsync's SRC and DST positionals become hidden options here: SOURCE takes the
    // positionals, and an index has no destination.
    mut_arg("src", |arg| arg.long("index-src-unused").hide(true)),
    mut_arg("dst", |arg| arg.long("index-dst-unused").hide(true)),
    // A copy's flags, refused by an index (IndexCli::copy_only_flags): not shown.
    mut_arg("src_bucket", |arg| arg.hide(true)),
    mut_arg("dst_bucket", |arg| arg.hide(true)),
    mut_arg("dst_profile", |arg| arg.hide(true)),
    mut_arg("dst_endpoint", |arg| arg.hide(true)),
    mut_arg("diff", |arg| arg.hide(true)),
    mut_arg("delete", |arg| arg.hide(true)),
    mut_arg("max_delete", |arg| arg.hide(true)),
    mut_arg("no_copy", |arg| arg.hide(true)),
    mut_arg("list_only", |arg| arg.hide(true)),
    mut_arg("server_side_copy", |arg| arg.hide(true)),
    mut_arg("no_server_side_copy", |arg| arg.hide(true)),
    mut_arg("restored", |arg| arg.hide(true)),
    mut_arg("input_report", |arg| arg.hide(true)),
    mut_arg("verify", |arg| arg.hide(true)),
    mut_arg("memory_mb", |arg| arg.hide(true)),
    mut_arg("sse", |arg| arg.hide(true)),
    mut_arg("sse_kms_key_id", |arg| arg.hide(true)),
    mut_arg("storage_class", |arg| arg.hide(true)),
    mut_arg("acl", |arg| arg.hide(true)),
    mut_arg("dst_sse_c_key_file", |arg| arg.hide(true)),
    mut_arg("cleanup", |arg| arg.hide(true)),
    mut_arg("list_runs", |arg| arg.hide(true)),
    // A copy's cost estimate: an index's dry run makes none.
    mut_arg("price_per_1000_writes", |arg| arg.hide(true)),
    mut_arg("price_per_1000_reads", |arg| arg.hide(true)),
    mut_arg("price_per_gb_transfer", |arg| arg.hide(true)),
)]
pub struct IndexCli {
    /// Buckets or prefixes to index: s3://BUCKET[/PREFIX] or bucket names.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,
    /// The table's form: csv (RFC 4180, header line), parquet (typed columns), tsv
    /// (the rows as the runner writes them, docs/records.md).
    #[arg(long, value_enum, default_value_t = TableFormat::Csv)]
    pub format: TableFormat,
    /// Where the table goes: a file (refused if it exists), s3://BUCKET/KEY, or - for
    /// stdout (the default; CSV and TSV only). Local runs only.
    #[arg(long, value_name = "PATH")]
    pub to: Option<String>,
    /// Keep only the keys this regular expression matches anywhere in the whole key
    /// (anchor with ^ and $; `\w`, `\d`, `\s` are ASCII, no `\p{..}` classes).
    #[arg(long, value_name = "REGEX", allow_hyphen_values = true)]
    pub key_regex: Option<String>,
    /// Make no HEAD: storage class, encryption, KMS key and checksum algorithm empty.
    #[arg(long)]
    pub no_head: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RsyncCli,
}

impl IndexCli {
    /// The copy flags an index refuses, each with whether it was given.
    fn copy_only_flags(&self) -> Vec<(&'static str, bool)> {
        let run = &self.run;
        let write = &run.write;
        vec![
            ("--src-bucket (give SOURCE)", run.src_bucket.is_some()),
            ("--dst-bucket", run.dst_bucket.is_some()),
            ("SRC/DST", run.src.is_some() || run.dst.is_some()),
            ("--dst-profile", run.dst_profile.is_some()),
            ("--dst-endpoint", run.dst_endpoint.is_some()),
            ("--diff", run.diff),
            ("--delete", run.delete),
            ("--no-copy", run.no_copy),
            ("--list-only", run.list_only),
            ("--server-side-copy", run.server_side_copy),
            ("--no-server-side-copy", run.no_server_side_copy),
            ("--restored", run.restored),
            ("--input-report", run.input_report.is_some()),
            ("--verify", run.verify),
            ("--memory-mb", run.memory_mb.is_some()),
            ("--sse", write.sse.is_some()),
            ("--sse-kms-key-id", write.sse_kms_key_id.is_some()),
            ("--storage-class", write.storage_class.is_some()),
            ("--acl", write.acl.is_some()),
            ("--dst-sse-c-key-file", write.dst_sse_c_key_file.is_some()),
            ("--cleanup", run.cleanup.is_some()),
            ("--list-runs", run.list_runs),
        ]
    }

    /// The runs (one request per SOURCE, in order) and the table they make. Usage
    /// errors (exit 2) for copy-only flags and for combinations an index cannot take.
    pub fn requests(mut self) -> Result<(Vec<RsyncRequest>, TableRequest), Error> {
        if let Some((flag, _)) = self.copy_only_flags().into_iter().find(|(_, given)| *given) {
            return Err(Error::Usage(format!(
                "campanile index: {flag} is a copy's; an index reads the sources and writes \
                 only its table"
            )));
        }
        let several = self.sources.len() > 1;
        if several && (self.run.input.is_some() || self.run.inventory.is_some()) {
            return Err(Error::Usage(
                "campanile index: --input and --inventory describe one bucket; give one \
                 SOURCE with them"
                    .into(),
            ));
        }
        let cluster = self.run.job.is_some() || self.run.hadoop;
        let to = match self.to.as_deref() {
            Some("-") | None => None,
            Some(to) => Some(to.to_string()),
        };
        // An EMR run that does not wait ends at the submission: no rows to make a
        // table of yet.
        let submit_only = self.run.job.is_some() && !self.run.wait;
        if submit_only && self.to.is_some() {
            return Err(Error::Usage(
                "campanile index: --to with -j needs --wait (the table is made from the job \
                 output once the steps are done); without it the rows stay in the job \
                 output under --output (docs/records.md, \"Index rows\")"
                    .into(),
            ));
        }
        if self.run.job.is_some()
            && self.run.wait
            && !self.run.dry_run
            && !self
                .run
                .output
                .as_deref()
                .is_some_and(|o| o.starts_with("s3://"))
        {
            return Err(Error::Usage(
                "campanile index: -j with --wait reads the rows back for the table from the \
                 job output: give --output s3://BUCKET/PREFIX (the cluster's HDFS cannot be \
                 read from here)"
                    .into(),
            ));
        }
        if !submit_only && to.is_none() && self.format == TableFormat::Parquet && !self.run.dry_run
        {
            return Err(Error::Usage(
                "campanile index: a Parquet table needs --to FILE or --to s3://BUCKET/KEY".into(),
            ));
        }
        if let Some(path) = to.as_deref().filter(|to| !to.starts_with("s3://"))
            && std::path::Path::new(path).exists()
        {
            return Err(Error::OutputExists(path.to_string()));
        }
        let key_regex = self
            .key_regex
            .as_deref()
            .map(KeyRegex::new)
            .transpose()
            .map_err(|e| Error::Usage(format!("--key-regex: {e}")))?;
        let job = IndexJob {
            key_regex,
            no_head: self.no_head,
        };
        let given_uuid = self.run.uuid.clone();
        let given_output = self.run.output.clone();
        let mut requests = Vec::new();
        for (number, source) in self.sources.clone().iter().enumerate() {
            location("SOURCE", source)?;
            // One run id per bucket: `<id>-<n>` from a given one.
            let uuid = match &given_uuid {
                Some(id) if several => format!("{id}-{}", number + 1),
                Some(id) => id.clone(),
                None => campanile::rsync::runs::new_run_id(),
            };
            self.run.uuid = Some(uuid.clone());
            if !cluster && given_output.is_none() {
                // The rows are the table's raw material: kept in the run directory.
                let base = self.run.run_base()?;
                self.run.output = Some(base.join(&uuid).join("output").display().to_string());
            }
            self.run.src = Some(source.clone());
            // No destination: the plan's destination is the source, which no step of
            // an index addresses (plan::index).
            self.run.dst = Some(source.clone());
            let mut request = self.run.request()?;
            request.plan.dst_endpoint = request.plan.src_endpoint.clone();
            request.plan.dst_profile = request.plan.src_profile.clone();
            crate::rsync::RsyncCli::refuse_versions(&request, "campanile index")?;
            request.plan.job = Job::Index(job.clone());
            requests.push(request);
        }
        self.run.src = None;
        self.run.dst = None;
        Ok((
            requests,
            TableRequest {
                format: self.format,
                to,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> IndexCli {
        IndexCli::try_parse_from(
            ["index", "--code", "/tmp", "--run-dir", "/tmp/never-written"]
                .iter()
                .chain(args),
        )
        .expect("parse")
    }

    #[test]
    fn several_sources_make_one_run_each_with_their_own_ids() {
        let (requests, table) = parsed(&["s3://a/logs/", "b", "--uuid", "x", "--to", "/tmp/t.csv"])
            .requests()
            .expect("requests");
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].plan.src_bucket, "a");
        assert_eq!(requests[0].plan.prefixes.src_prefix, "logs/");
        assert_eq!(
            requests[0].plan.dst_bucket, "a",
            "no destination: the source"
        );
        assert_eq!(requests[1].plan.src_bucket, "b");
        assert_eq!(
            (
                requests[0].plan.uuid.as_str(),
                requests[1].plan.uuid.as_str()
            ),
            ("x-1", "x-2")
        );
        assert_eq!(requests[1].plan.output, "/tmp/never-written/x-2/output");
        assert!(matches!(requests[0].plan.job, Job::Index(_)));
        assert_eq!(table.format, TableFormat::Csv);
        assert_eq!(table.to.as_deref(), Some("/tmp/t.csv"));
    }

    #[test]
    fn copy_flags_and_bad_combinations_are_usage_errors() {
        for extra in [
            &["--diff"][..],
            &["--delete"],
            &["--sse", "AES256"],
            &["--dst-profile", "p"],
            &["--no-copy"],
            &["--server-side-copy"],
            &["--src-bucket", "c"],
        ] {
            let mut args = vec!["a"];
            args.extend_from_slice(extra);
            let error = parsed(&args).requests().expect_err("refused");
            assert_eq!(error.exit_code(), 2, "{extra:?}: {error}");
        }
        let error = parsed(&["a", "b", "--input", "/tmp/part.all"])
            .requests()
            .expect_err("one part file for two buckets");
        assert_eq!(error.exit_code(), 2);
        let error = parsed(&["a", "--format", "parquet"])
            .requests()
            .expect_err("parquet on stdout");
        assert!(error.to_string().contains("--to"), "{error}");
        let error = parsed(&["a", "--key-regex", "a(b"])
            .requests()
            .expect_err("bad regex");
        assert!(error.to_string().contains("--key-regex"), "{error}");
        let error = parsed(&["a", "-j", "j-ABC", "--to", "x.csv", "--output", "s3://o/p"])
            .requests()
            .expect_err("--to on EMR without --wait");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("--wait"), "{error}");
        let error = parsed(&["a", "-j", "j-ABC", "--wait", "--output", "/hdfs/out"])
            .requests()
            .expect_err("rows on the cluster's HDFS");
        assert!(error.to_string().contains("--output s3://"), "{error}");
        let (requests, table) = parsed(&[
            "a",
            "--hadoop",
            "--to",
            "/tmp/never-written/x.csv",
            "--output",
            "s3://o/p",
        ])
        .requests()
        .expect("--to with --hadoop");
        assert_eq!(requests.len(), 1);
        assert_eq!(table.to.as_deref(), Some("/tmp/never-written/x.csv"));
        assert!(
            IndexCli::try_parse_from(["index"]).is_err(),
            "SOURCE is required"
        );
    }
}
