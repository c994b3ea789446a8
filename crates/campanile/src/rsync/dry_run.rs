//! What a local `rsync --dry-run` says: the objects a run would copy, and what that
//! would cost. The dry run runs the plan's read-only steps for real (the part file,
//! the listings, the diff, and multipartlist with `--dry-run`, which HEADs multipart
//! objects for their part layout but creates no upload; see [`crate::plan::dry_run`]),
//! so its part list holds exactly the records the copy would take. This module turns
//! that part list into one line per object, in `aws s3 sync --dryrun`'s style
//! (`(dryrun) copy: s3://src/key to s3://dst/key`, or a JSON object with `--json`),
//! and into the dry run's summary: objects and bytes that would be copied, objects
//! unchanged (`--diff`), objects that would be left out, and an estimate of the real
//! run's requests by operation, bytes moved, and their cost at list prices
//! ([`Prices`], documented in docs/cost.md).
//!
//! The estimate's write requests are exact for a run without failures: one PutObject
//! (CopyObject with `--server-side-copy`) per whole object, and per multipart object
//! one CreateMultipartUpload, one UploadPart (UploadPartCopy) per part of the
//! source's layout and one CompleteMultipartUpload. The listing's requests
//! (ListObjectsV2, multipartlist's HEADs) are the ones this dry run made, counted by
//! the tasks ([`crate::requests`]): a real run makes them again. Not estimated: the at
//! most 4 requests each copy task makes to probe what the destination checks (counted
//! as `ServerChecksProbe`; none with `--client-md5`).

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::Error;
use crate::plan::local::StepReport;
use crate::record::PartRecord;
use crate::rsync::report::SkipReport;
use crate::rsync::summary::{Listed, RunPaths, RunSummary, bytes, plural, write_aligned};
use crate::select::KeyMap;
use crate::skip::SkipReason;

/// Request and transfer prices of the estimate, in USD (S3 Standard's public list
/// prices in us-east-1; see docs/cost.md).
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct Prices {
    /// --dry-run's estimate: USD per 1,000 PUT, COPY, POST and LIST requests (S3
    /// Standard list price).
    #[arg(long, value_name = "USD", default_value_t = Prices::LIST.price_per_1000_writes,
          value_parser = price)]
    pub price_per_1000_writes: f64,
    /// --dry-run's estimate: USD per 1,000 GET, HEAD and other requests (S3 Standard
    /// list price).
    #[arg(long, value_name = "USD", default_value_t = Prices::LIST.price_per_1000_reads,
          value_parser = price)]
    pub price_per_1000_reads: f64,
    /// --dry-run's estimate: USD per GB of data transferred out of the source's
    /// region. 0 within a region; 0.02 between AWS regions, 0.09 to the internet
    /// (docs/cost.md).
    #[arg(long, value_name = "USD", default_value_t = Prices::LIST.price_per_gb_transfer,
          value_parser = price)]
    pub price_per_gb_transfer: f64,
}

/// A price option's value: a finite number of USD, zero or more.
fn price(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!(
            "{text:?} is not a price in USD (a number, 0 or more)"
        )),
    }
}

impl Prices {
    /// S3 Standard's list prices, source and destination in one region.
    pub const LIST: Prices = Prices {
        price_per_1000_writes: 0.005,
        price_per_1000_reads: 0.0004,
        price_per_gb_transfer: 0.0,
    };
}

impl Default for Prices {
    fn default() -> Self {
        Prices::LIST
    }
}

/// How S3 prices a request: PUT, COPY, POST and LIST requests in one tier, GET, HEAD
/// and the rest in the other; DELETE and AbortMultipartUpload are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceTier {
    /// PUT, COPY, POST, LIST.
    Write,
    /// GET, HEAD and every other request.
    Read,
    /// DELETE and abort: no charge.
    Free,
}

/// The tier of an S3 operation, by its SDK name (`PutObject`, `HeadObject`, …).
pub fn tier(operation: &str) -> PriceTier {
    match operation {
        "DeleteObject" | "DeleteObjects" | "AbortMultipartUpload" => PriceTier::Free,
        op if op.starts_with("Put")
            || op.starts_with("List")
            || op.starts_with("Copy")
            || op.starts_with("Create")
            || op.starts_with("Complete")
            || op.starts_with("UploadPart")
            || op == "RestoreObject"
            || op == "SelectObjectContent" =>
        {
            PriceTier::Write
        }
        _ => PriceTier::Read,
    }
}

/// What an object line of the dry run says would happen to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Copied from the source to the destination.
    Copy,
    /// Rewritten onto itself with new settings (`campanile reencrypt`): counted as a
    /// copy, shown as `(dryrun) rewrite: s3://bucket/key`.
    Rewrite,
    /// Deleted from the destination because the source does not have it
    /// (`--delete`): the dry run lists each destination key it would delete, and
    /// [`Tally::deleted`] counts them.
    Delete,
}

/// One object of the dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedObject {
    /// What would happen.
    pub action: Action,
    /// The key (the same at the source and the destination).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The source's ETag (without quotes).
    pub etag: String,
    /// Parts of its multipart upload; 0 for an object copied whole.
    pub parts: u64,
}

impl PlannedObject {
    /// The `aws s3 sync --dryrun` line; `keys` maps the (source) key to the
    /// destination's (a run with prefixes).
    pub fn line(&self, src_bucket: &str, dst_bucket: &str, keys: &KeyMap) -> String {
        let dst_key = keys.dst_key(&self.key);
        match self.action {
            Action::Copy => format!(
                "(dryrun) copy: s3://{src_bucket}/{} to s3://{dst_bucket}/{dst_key}",
                self.key
            ),
            Action::Delete => format!("(dryrun) delete: s3://{dst_bucket}/{dst_key}"),
            Action::Rewrite => format!("(dryrun) rewrite: s3://{dst_bucket}/{dst_key}"),
        }
    }

    /// The `--json` line: `{"dryrun":"copy","key":…,"size":…,"etag":…,"parts":…,
    /// "source":…,"destination":…}`.
    pub fn json(&self, src_bucket: &str, dst_bucket: &str, keys: &KeyMap) -> serde_json::Value {
        let mut line = serde_json::json!({
            "dryrun": self.action,
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "parts": self.parts,
            "destination": format!("s3://{dst_bucket}/{}", keys.dst_key(&self.key)),
        });
        if self.action == Action::Copy {
            line["source"] = format!("s3://{src_bucket}/{}", self.key).into();
        }
        line
    }
}

/// Reads a part list (multipartlist's output: files, or a directory of them) and
/// calls `each` with every object it would copy, one call per object however many
/// parts it has (a multipart object's part lines are consecutive: multipartlist
/// writes them together). Skip rows are passed over: the skip report counts them.
/// Memory does not grow with the list.
pub fn read_part_list(
    path: &Path,
    mut each: impl FnMut(PlannedObject) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut current: Option<PlannedObject> = None;
    for file in crate::hadoop_input::input_files(path)? {
        let context = || format!("reading {}", file.display());
        let opened = std::fs::File::open(&file).map_err(|e| Error::io(context(), e))?;
        let reader: Box<dyn Read> = if file.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(opened))
        } else {
            Box::new(opened)
        };
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        let mut number = 0u64;
        while crate::hadoop_input::read_line(&mut reader, &mut line)
            .map_err(|e| Error::io(context(), e))?
            > 0
        {
            number += 1;
            let text = String::from_utf8_lossy(&line);
            if text.is_empty() || crate::skip::is_row(&text) {
                continue;
            }
            let record = PartRecord::parse(&text)
                .map_err(|e| Error::Usage(format!("{} line {number}: {e}", file.display())))?;
            let parts = u64::from(record.part.is_some());
            match &mut current {
                Some(object)
                    if parts > 0 && object.parts > 0 && object.key == record.object.key =>
                {
                    object.parts += 1;
                }
                _ => {
                    if let Some(done) = current.take() {
                        each(done)?;
                    }
                    current = Some(PlannedObject {
                        action: Action::Copy,
                        key: record.object.key,
                        size: record.object.size,
                        etag: record.object.etag,
                        parts,
                    });
                }
            }
        }
    }
    if let Some(done) = current {
        each(done)?;
    }
    Ok(())
}

/// The objects of a dry run, added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Objects that would be copied.
    pub objects: u64,
    /// Of those, the multipart ones.
    pub multipart_objects: u64,
    /// Parts of the multipart objects.
    pub parts: u64,
    /// Bytes of the objects that would be copied.
    pub bytes: u64,
    /// Objects that would be deleted (`--delete`).
    pub deleted: u64,
}

impl Tally {
    /// Adds one object.
    pub fn add(&mut self, object: &PlannedObject) {
        match object.action {
            Action::Copy | Action::Rewrite => {
                self.objects += 1;
                self.bytes += object.size;
                if object.parts > 0 {
                    self.multipart_objects += 1;
                    self.parts += object.parts;
                }
            }
            Action::Delete => self.deleted += 1,
        }
    }
}

/// Which way a real run's copies would move the bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyPath {
    /// Through the tasks: GET and PUT, or UploadPart (`--no-server-side-copy`, or two
    /// endpoints, or a KMS or SSE-C write).
    #[default]
    Tasks,
    /// By S3 itself: CopyObject, UploadPartCopy (`--server-side-copy`).
    Server,
    /// By S3 where the destination's credentials can read the source, after one HEAD
    /// of each record (rsync's default on one endpoint). The estimate counts every
    /// copy in the server: a source they cannot read is copied through the tasks.
    ServerIfReadable,
}

/// The requests a real run would make to copy `tally`'s objects the `path` way.
/// multipartlist's ListMultipartUploads after each CreateMultipartUpload (the orphans
/// of an earlier attempt) is among them.
pub fn copy_requests(tally: &Tally, path: CopyPath) -> BTreeMap<String, u64> {
    let whole = tally.objects - tally.multipart_objects;
    let mut requests = BTreeMap::new();
    let mut add = |operation: &str, count: u64| {
        if count > 0 {
            *requests.entry(operation.to_string()).or_insert(0) += count;
        }
    };
    if path == CopyPath::ServerIfReadable {
        add("HeadObject", whole + tally.parts);
    }
    if path != CopyPath::Tasks {
        add("CopyObject", whole);
        add("UploadPartCopy", tally.parts);
    } else {
        add("GetObject", whole + tally.parts);
        add("PutObject", whole);
        add("UploadPart", tally.parts);
    }
    add("CreateMultipartUpload", tally.multipart_objects);
    add("ListMultipartUploads", tally.multipart_objects);
    add("CompleteMultipartUpload", tally.multipart_objects);
    // --delete: one DeleteObjects per batch of at most 1000 keys.
    add(
        "DeleteObjects",
        tally.deleted.div_ceil(crate::rsync::delete::BATCH as u64),
    );
    requests
}

/// Bytes a real run would move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// Read from the source by the tasks (0 with `--server-side-copy`: S3 copies).
    pub read: u64,
    /// Written to the destination by the tasks (0 with `--server-side-copy`).
    pub written: u64,
    /// Copied from the source's region to the destination's, by the tasks or by S3:
    /// what [`Prices::price_per_gb_transfer`] applies to.
    pub transferred: u64,
}

impl Moved {
    /// The bytes of copying `bytes` of objects, through the tasks or `server_side`.
    pub fn of(bytes: u64, server_side: bool) -> Moved {
        let through = if server_side { 0 } else { bytes };
        Moved {
            read: through,
            written: through,
            transferred: bytes,
        }
    }
}

/// The estimate's cost, in USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// PUT, COPY, POST and LIST requests.
    pub write_requests: u64,
    /// GET, HEAD and other requests.
    pub read_requests: u64,
    /// Their cost, and the transfer's.
    pub requests_usd: f64,
    /// The transfer's cost.
    pub transfer_usd: f64,
    /// Both.
    pub total_usd: f64,
}

impl Cost {
    /// What `requests` and `transferred` bytes cost at `prices` (GB: 10^9 bytes, as
    /// AWS bills).
    pub fn of(requests: &BTreeMap<String, u64>, transferred: u64, prices: &Prices) -> Cost {
        let count = |wanted: PriceTier| -> u64 {
            requests
                .iter()
                .filter(|(op, _)| tier(op) == wanted)
                .map(|(_, n)| *n)
                .sum()
        };
        let (write_requests, read_requests) = (count(PriceTier::Write), count(PriceTier::Read));
        let requests_usd = write_requests as f64 / 1000.0 * prices.price_per_1000_writes
            + read_requests as f64 / 1000.0 * prices.price_per_1000_reads;
        let transfer_usd = transferred as f64 / 1e9 * prices.price_per_gb_transfer;
        Cost {
            write_requests,
            read_requests,
            requests_usd,
            transfer_usd,
            total_usd: requests_usd + transfer_usd,
        }
    }
}

/// The summary of a dry run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DryRun {
    /// What would be copied.
    #[serde(flatten)]
    pub tally: Tally,
    /// What the listing of the source found.
    pub listed: Option<Listed>,
    /// With `--diff`: objects the destination already holds as they are.
    pub unchanged: Option<u64>,
    /// Objects that would be left out, by reason (the skip report names them).
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Requests this dry run made (its listings and HEADs), by operation.
    pub requests_made: BTreeMap<String, u64>,
    /// The copy's requests by operation ([`copy_requests`]).
    pub copy_requests: BTreeMap<String, u64>,
    /// The real run's requests by operation: those of the listing (as this dry run
    /// made them) and those of the copy.
    pub requests: BTreeMap<String, u64>,
    /// Bytes the real run would move.
    pub moved: Moved,
    /// Which way the copies would move the bytes.
    pub copy_path: CopyPath,
    /// Prices of the estimate.
    #[serde(skip)]
    pub prices: Prices,
    /// The real run's request and transfer cost at [`DryRun::prices`].
    pub cost: Cost,
    /// Wall time of the dry run, in seconds.
    pub seconds: f64,
    /// The run directory and the skip report.
    pub paths: RunPaths,
    /// multipartlist's part list: what a real run would copy, as records. Its upload
    /// ids are made up, so it is no `--no-copy` copy input.
    pub part_list: Option<String>,
}

impl DryRun {
    /// The dry run's summary from its steps' reports and what it would copy.
    pub fn new(
        steps: &[StepReport],
        src_bucket: &str,
        tally: Tally,
        path: CopyPath,
        prices: Prices,
        seconds: f64,
    ) -> DryRun {
        let run = RunSummary::from_steps(steps, src_bucket, seconds);
        let requests_made = run.requests.unwrap_or_default();
        let copying = copy_requests(&tally, path);
        let mut requests = requests_made.clone();
        for (operation, count) in &copying {
            *requests.entry(operation.clone()).or_insert(0) += count;
        }
        let moved = Moved::of(tally.bytes, path != CopyPath::Tasks);
        let unchanged = steps.iter().any(|s| s.name.starts_with("hive.")).then(|| {
            let same: i64 = steps
                .iter()
                .flat_map(|s| s.counters.iter())
                .filter(|((group, counter), _)| {
                    group == crate::plan::local::diff::GROUP && counter == "Same"
                })
                .map(|(_, n)| *n)
                .sum();
            u64::try_from(same).unwrap_or(0)
        });
        DryRun {
            tally,
            listed: run.listed,
            unchanged,
            skipped: BTreeMap::new(),
            cost: Cost::of(&requests, moved.transferred, &prices),
            requests_made,
            copy_requests: copying,
            requests,
            moved,
            copy_path: path,
            prices,
            seconds,
            paths: RunPaths::default(),
            part_list: None,
        }
    }

    /// Takes the objects left out from the skip report (none without one).
    pub fn with_report(mut self, report: Option<&SkipReport>) -> DryRun {
        self.skipped = report.map(|r| r.reasons.clone()).unwrap_or_default();
        self.paths.skip_report = report.map(|r| r.path.clone());
        self
    }

    /// Sets the run directory and the part list (the skip report's path is kept).
    pub fn with_paths(mut self, run_dir: &str, part_list: Option<&str>) -> DryRun {
        self.paths.run_dir = run_dir.to_string();
        self.part_list = part_list.map(str::to_string);
        self
    }

    /// The `--json` line: `{"dry_run":{…}}`, with the prices, money rounded to a
    /// millionth of a dollar and times to the millisecond.
    pub fn json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let micro = |x: f64| (x * 1e6).round() / 1e6;
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "seconds".into(),
                ((self.seconds * 1000.0).round() / 1000.0).into(),
            );
            map.insert(
                "prices".into(),
                serde_json::json!({
                    "per_1000_writes": self.prices.price_per_1000_writes,
                    "per_1000_reads": self.prices.price_per_1000_reads,
                    "per_gb_transfer": self.prices.price_per_gb_transfer,
                }),
            );
            if let Some(cost) = map.get_mut("cost").and_then(|c| c.as_object_mut()) {
                for (name, x) in [
                    ("requests_usd", self.cost.requests_usd),
                    ("transfer_usd", self.cost.transfer_usd),
                    ("total_usd", self.cost.total_usd),
                ] {
                    cost.insert(name.into(), micro(x).into());
                }
            }
        }
        serde_json::json!({ "dry_run": value })
    }

    /// The summary for people: a heading line, then one aligned line per subject, as
    /// [`RunSummary::write_human`].
    pub fn write_human<W: Write>(&self, out: &mut W) -> std::io::Result<()> {
        let ops = |map: &BTreeMap<String, u64>| -> String {
            if map.is_empty() {
                return "none".to_string();
            }
            map.iter()
                .map(|(op, n)| format!("{op} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "dry run: {} would be copied ({} multipart, {} parts), {}",
            plural(self.tally.objects, "object"),
            self.tally.multipart_objects,
            self.tally.parts,
            bytes(self.tally.bytes)
        )?;
        let mut lines: Vec<(&str, String)> = Vec::new();
        if let Some(listed) = &self.listed {
            lines.push((
                "listed",
                format!(
                    "{}, {} at the source",
                    plural(listed.objects, "object"),
                    bytes(listed.bytes)
                ),
            ));
        }
        if let Some(unchanged) = self.unchanged {
            lines.push((
                "unchanged",
                format!(
                    "{} (already at the destination)",
                    plural(unchanged, "object")
                ),
            ));
        }
        lines.push((
            "deleted",
            if self.tally.deleted > 0 {
                format!(
                    "{} (--delete: at the destination, not at the source)",
                    plural(self.tally.deleted, "object")
                )
            } else {
                "0 (deletes only with --delete)".to_string()
            },
        ));
        let skipped: Vec<String> = self
            .skipped
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let skipped_total: u64 = self.skipped.values().sum();
        lines.push((
            "skipped",
            if skipped.is_empty() {
                skipped_total.to_string()
            } else {
                format!("{skipped_total} ({})", skipped.join(", "))
            },
        ));
        lines.push((
            "requests made",
            format!("{} (a real run makes them again)", ops(&self.requests_made)),
        ));
        lines.push(("to copy", ops(&self.copy_requests)));
        lines.push((
            "moved",
            match self.copy_path {
                CopyPath::Tasks => format!(
                    "{} read from the source and written to the destination",
                    bytes(self.moved.transferred)
                ),
                CopyPath::Server => format!(
                    "{} copied by S3 (--server-side-copy), none through the tasks",
                    bytes(self.moved.transferred)
                ),
                CopyPath::ServerIfReadable => format!(
                    "{} copied by S3 where the destination's credentials can read the \
                     source (one HEAD of each first), the rest through the tasks",
                    bytes(self.moved.transferred)
                ),
            },
        ));
        lines.push((
            "cost",
            format!(
                "{:.6} USD: {} writes at {} and {} reads at {} per 1000, {:.3} GB at {} per GB",
                self.cost.total_usd,
                self.cost.write_requests,
                self.prices.price_per_1000_writes,
                self.cost.read_requests,
                self.prices.price_per_1000_reads,
                self.moved.transferred as f64 / 1e9,
                self.prices.price_per_gb_transfer
            ),
        ));
        lines.push(("elapsed", format!("{:.1} s", self.seconds)));
        lines.push(("run dir", self.paths.run_dir.clone()));
        if let Some(part_list) = &self.part_list {
            lines.push((
                "part list",
                format!("{part_list} (what would be copied; upload ids made up)"),
            ));
        }
        lines.push((
            "skip report",
            self.paths
                .skip_report
                .clone()
                .unwrap_or_else(|| "none (nothing would be left out)".to_string()),
        ));
        write_aligned(out, &lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally() -> Tally {
        // 3 whole objects, 2 multipart objects of 2 and 3 parts.
        Tally {
            objects: 5,
            multipart_objects: 2,
            parts: 5,
            bytes: 2_000_000_000,
            deleted: 0,
        }
    }

    #[test]
    fn the_copy_makes_one_write_per_whole_object_and_part_and_two_per_upload() {
        let client = copy_requests(&tally(), CopyPath::Tasks);
        let expected: BTreeMap<String, u64> = [
            ("CompleteMultipartUpload", 2),
            ("CreateMultipartUpload", 2),
            ("GetObject", 8),
            ("ListMultipartUploads", 2),
            ("PutObject", 3),
            ("UploadPart", 5),
        ]
        .into_iter()
        .map(|(op, n)| (op.to_string(), n))
        .collect();
        assert_eq!(client, expected);
        let server = copy_requests(&tally(), CopyPath::Server);
        assert_eq!(server["CopyObject"], 3);
        assert_eq!(server["UploadPartCopy"], 5);
        assert!(!server.contains_key("GetObject") && !server.contains_key("PutObject"));
        assert!(!server.contains_key("HeadObject"));
        // The default on one endpoint: one HEAD of each record first.
        let probed = copy_requests(&tally(), CopyPath::ServerIfReadable);
        assert_eq!(probed["HeadObject"], 8);
        assert_eq!(probed["CopyObject"], 3);
        assert_eq!(probed["UploadPartCopy"], 5);
        assert_eq!(
            copy_requests(&Tally::default(), CopyPath::Tasks),
            BTreeMap::new()
        );
    }

    #[test]
    fn operations_are_priced_by_their_tier() {
        for op in [
            "PutObject",
            "CopyObject",
            "UploadPart",
            "UploadPartCopy",
            "CreateMultipartUpload",
            "CompleteMultipartUpload",
            "ListObjectsV2",
            "ListMultipartUploads",
            "ListParts",
        ] {
            assert_eq!(tier(op), PriceTier::Write, "{op}");
        }
        for op in [
            "GetObject",
            "HeadObject",
            "GetObjectTagging",
            "GetObjectAttributes",
        ] {
            assert_eq!(tier(op), PriceTier::Read, "{op}");
        }
        assert_eq!(tier("AbortMultipartUpload"), PriceTier::Free);
        assert_eq!(tier("DeleteObject"), PriceTier::Free);
    }

    #[test]
    fn the_cost_is_requests_per_thousand_plus_gigabytes() {
        let requests: BTreeMap<String, u64> = [
            ("PutObject", 1500),
            ("ListObjectsV2", 500),
            ("GetObject", 10_000),
            ("HeadObject", 2_500),
            ("AbortMultipartUpload", 7),
        ]
        .into_iter()
        .map(|(op, n)| (op.to_string(), n))
        .collect();
        let cost = Cost::of(&requests, 2_000_000_000, &Prices::LIST);
        assert_eq!((cost.write_requests, cost.read_requests), (2000, 12_500));
        // 2 × 0.005 + 12.5 × 0.0004 = 0.015; same region: no transfer charge.
        assert!((cost.requests_usd - 0.015).abs() < 1e-12, "{cost:?}");
        assert_eq!(cost.transfer_usd, 0.0);
        let internet = Prices {
            price_per_gb_transfer: 0.09,
            ..Prices::LIST
        };
        let cost = Cost::of(&requests, 2_000_000_000, &internet);
        assert!((cost.transfer_usd - 0.18).abs() < 1e-12, "{cost:?}");
        assert!((cost.total_usd - 0.195).abs() < 1e-12, "{cost:?}");
    }

    #[test]
    fn prices_are_finite_and_not_negative() {
        assert_eq!(price("0.02"), Ok(0.02));
        assert_eq!(price("0"), Ok(0.0));
        for bad in ["-1", "NaN", "inf", "cheap", ""] {
            assert!(price(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_side_copies_move_no_bytes_through_the_tasks() {
        assert_eq!(
            Moved::of(7, false),
            Moved {
                read: 7,
                written: 7,
                transferred: 7
            }
        );
        assert_eq!(
            Moved::of(7, true),
            Moved {
                read: 0,
                written: 0,
                transferred: 7
            }
        );
    }

    #[test]
    fn a_part_list_gives_one_object_per_key_however_many_parts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let whole =
            "a\t0123456789abcdef0123456789abcdef\t5\t2020-01-01 00:00:00\t\\N\t\\N\t\\N\t\\N\t\\N";
        let part = |n: u32, first: u64, last: u64| {
            format!(
                "big\t82f06cf999000ddd187a73ed924d3301-2\t10000000\t2020-01-01 00:00:00\tupload-1\t{n}\t2\t{first}\t{last}"
            )
        };
        let skip = "gone\tabc\t3\tskipped:vanished:deleted since listed";
        std::fs::write(
            dir.path().join("part-00000"),
            format!(
                "{whole}\n{}\n{}\n{skip}\n",
                part(1, 0, 8_388_607),
                part(2, 8_388_608, 9_999_999)
            ),
        )
        .expect("write");
        let mut objects = Vec::new();
        read_part_list(dir.path(), |o| {
            objects.push(o);
            Ok(())
        })
        .expect("read");
        assert_eq!(objects.len(), 2, "{objects:?}");
        assert_eq!(
            (objects[0].key.as_str(), objects[0].parts, objects[0].size),
            ("a", 0, 5)
        );
        assert_eq!(
            (objects[1].key.as_str(), objects[1].parts, objects[1].size),
            ("big", 2, 10_000_000)
        );
        let mut tally = Tally::default();
        objects.iter().for_each(|o| tally.add(o));
        assert_eq!(
            tally,
            Tally {
                objects: 2,
                multipart_objects: 1,
                parts: 2,
                bytes: 10_000_005,
                deleted: 0
            }
        );
        let same = KeyMap::default();
        assert_eq!(
            objects[0].line("s", "d", &same),
            "(dryrun) copy: s3://s/a to s3://d/a"
        );
        let json = objects[1].json("s", "d", &same);
        assert_eq!(json["dryrun"], "copy");
        assert_eq!(json["destination"], "s3://d/big");
        assert_eq!(json["parts"], 2);
        // With prefixes, the destination is the mapped key; the key, the source's.
        let mapped = KeyMap::new("", "copies/");
        assert_eq!(
            objects[0].line("s", "d", &mapped),
            "(dryrun) copy: s3://s/a to s3://d/copies/a"
        );
        let json = objects[1].json("s", "d", &mapped);
        assert_eq!(json["key"], "big");
        assert_eq!(json["source"], "s3://s/big");
        assert_eq!(json["destination"], "s3://d/copies/big");
    }
}
