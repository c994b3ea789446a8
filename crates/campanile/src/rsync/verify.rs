//! `campanile verify` once its plan ran ([`crate::plan::verify`]): the report rows of
//! its objectverify steps gathered into `_verify.jsonl` (locally `<run dir>/_verify.jsonl`;
//! with `--hadoop` through `hadoop fs -text` into the verify output's directory; on EMR
//! by `--wait` from S3 into the same place, [`gather_s3`])
//! (one JSON object per key that is not identical, [`ReportRow`]; empty when both sides
//! are identical), the summary (on stderr, and with `--json` as one `{"verify":{…}}`
//! line on stdout), and the exit status: 0 only when every key is identical, else
//! [`Error::NotIdentical`] (exit 3, as a sync that left objects out). A dry run lists
//! what would be compared (`compare <src key> -> <dst key>`, and with the destination
//! listed, `extra <dst key>`) from the listings alone, with no HEAD.
//!
//! `sync --input-report FILE` copies the keys of a report that a copy makes identical
//! (`missing`, `changed`, `metadata_drift`): [`write_listing`] turns their rows into
//! the source listing records of the copy (key, and the source's ETag, size and
//! mtime as the verify's HEAD saw them), and the plan starts from that listing
//! ([`crate::plan::PlanOptions::listing`]). `extra` and `unverifiable` rows are left
//! out (a copy cannot fix them) and counted.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::error::Error;
use crate::hadoop_input::input_files;
use crate::plan::local::{StepReport, report_json};
use crate::plan::{Plan, Step, StreamingStep};
use crate::record::{Destination, ListingRecord};
use crate::select::KeyMap;
use crate::skip::{Skipped, is_row};
use crate::task::objectverify::{self, ReportKind, ReportRow};

/// The report's file name in the run directory.
pub const REPORT_NAME: &str = "_verify.jsonl";

/// The listing `sync --input-report` makes of a report, in its run directory.
pub const REPORT_LISTING: &str = "report.list";

/// A gathered report and the counts of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Where the report is.
    pub path: String,
    /// Rows by kind.
    pub kinds: BTreeMap<ReportKind, u64>,
    /// Keys found identical (the tasks' counters).
    pub identical: u64,
    /// Of those, proven by ETag.
    pub by_etag: u64,
    /// Of those, proven by a checksum.
    pub by_checksum: u64,
    /// Listed keys gone from both sides since the listing.
    pub gone: u64,
}

impl VerifyReport {
    /// Rows of the report (keys that are not identical).
    pub fn rows(&self) -> u64 {
        self.kinds.values().sum()
    }

    /// The summary for people.
    pub fn write_human<W: Write>(&self, out: &mut W) -> std::io::Result<()> {
        let kinds: Vec<String> = ReportKind::ALL
            .iter()
            .map(|kind| {
                format!(
                    "{} {}",
                    self.kinds.get(kind).copied().unwrap_or(0),
                    kind.as_str()
                )
            })
            .collect();
        writeln!(
            out,
            "Verify: {} identical ({} by ETag, {} by checksum), {} not: {}",
            self.identical,
            self.by_etag,
            self.by_checksum,
            self.rows(),
            kinds.join(", ")
        )?;
        if self.gone > 0 {
            writeln!(
                out,
                "Verify: {} listed key(s) gone from both sides since the listing",
                self.gone
            )?;
        }
        writeln!(out, "Verify report: {}", self.path)
    }

    /// The `--json` line.
    pub fn json(&self) -> serde_json::Value {
        let mut verify = serde_json::json!({
            "identical": self.identical,
            "proven_by_etag": self.by_etag,
            "proven_by_checksum": self.by_checksum,
            "gone_from_both": self.gone,
            "not_identical": self.rows(),
            "report": self.path,
        });
        for kind in ReportKind::ALL {
            verify[kind.as_str()] = self.kinds.get(&kind).copied().unwrap_or(0).into();
        }
        serde_json::json!({ "verify": verify })
    }

    /// How the run ends: `Ok` only when every key is identical.
    pub fn outcome(&self) -> Result<(), Error> {
        match self.rows() {
            0 => Ok(()),
            keys => Err(Error::NotIdentical {
                keys,
                report: self.path.clone(),
            }),
        }
    }
}

/// The objectverify steps' output directories of a plan (where its report rows are).
pub fn row_directories(plan: &Plan) -> Vec<&str> {
    plan.steps
        .iter()
        .filter_map(|step| match step {
            Step::Streaming(StreamingStep {
                output,
                mapper: crate::command::TaskCommand::ObjectVerify(_),
                ..
            }) => Some(output.as_str()),
            _ => None,
        })
        .collect()
}

/// Gathers the rows of the plan's objectverify outputs (local directories) into
/// `run_dir/_verify.jsonl`, with the steps' counters.
pub fn gather(plan: &Plan, run_dir: &Path, reports: &[StepReport]) -> Result<VerifyReport, Error> {
    let mut files = Vec::new();
    for dir in row_directories(plan) {
        files.extend(input_files(Path::new(dir))?);
    }
    let path = run_dir.join(REPORT_NAME);
    let mut report = gather_files(&files, &path, reports)?;
    report.path = path.display().to_string();
    Ok(report)
}

/// Gathers the report rows of `files` (each checked to be a row) into `to`, with the
/// counters of `reports`; the report's `path` is `to`'s, for the caller to replace
/// where it publishes it elsewhere.
pub fn gather_files(
    files: &[std::path::PathBuf],
    to: &Path,
    reports: &[StepReport],
) -> Result<VerifyReport, Error> {
    let partial = to.with_file_name(format!(".{REPORT_NAME}.tmp"));
    let context = |p: &Path| format!("writing {}", p.display());
    let mut out =
        BufWriter::new(File::create(&partial).map_err(|e| Error::io(context(&partial), e))?);
    let mut report = VerifyReport::default();
    for file in files {
        let reading = |e| Error::io(format!("reading {}", file.display()), e);
        let reader = BufReader::new(File::open(file).map_err(reading)?);
        for (number, line) in reader.lines().enumerate() {
            let line = line.map_err(reading)?;
            if line.trim().is_empty() {
                continue;
            }
            let row = ReportRow::parse(&line).map_err(|e| Error::Input {
                line: number as u64 + 1,
                message: format!("{}: {e}", file.display()),
            })?;
            *report.kinds.entry(row.kind).or_insert(0) += 1;
            writeln!(out, "{}", row.to_json_line()).map_err(|e| Error::io(context(&partial), e))?;
        }
    }
    out.flush().map_err(|e| Error::io(context(&partial), e))?;
    drop(out);
    std::fs::rename(&partial, to).map_err(|e| Error::io(context(to), e))?;
    report.path = to.display().to_string();
    let counter = |name: &str| -> u64 {
        reports
            .iter()
            .filter_map(|r| {
                r.counters
                    .get(&(objectverify::GROUP.to_string(), name.to_string()))
            })
            .map(|v| u64::try_from(*v).unwrap_or(0))
            .sum()
    };
    report.identical = counter(objectverify::IDENTICAL);
    report.by_etag = counter(objectverify::PROVEN_BY_ETAG);
    report.by_checksum = counter(objectverify::PROVEN_BY_CHECKSUM);
    report.gone = counter(objectverify::GONE);
    Ok(report)
}

/// Prints a gathered report's summary (stderr unless `quiet`; with `json` its
/// `{"verify":…}` line on stdout) and says how the run ends.
pub fn show<W: Write, E: Write>(
    report: &VerifyReport,
    (json, quiet): (bool, bool),
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    if json {
        writeln!(out, "{}", report.json()).map_err(io)?;
    }
    if !quiet {
        report
            .write_human(err)
            .map_err(|e| Error::io("writing stderr", e))?;
    }
    out.flush().map_err(io)?;
    report.outcome()
}

/// Ends a local verify run whose plan succeeded: gathers the report, prints the steps
/// (`--json`) and the summary, and says how the run ends.
pub fn finish<W: Write, E: Write>(
    plan: &Plan,
    run_dir: &Path,
    reports: &[StepReport],
    (json, quiet): (bool, bool),
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let report = gather(plan, run_dir, reports)?;
    if json {
        for step in reports {
            writeln!(out, "{}", report_json(step)).map_err(|e| Error::io("writing stdout", e))?;
        }
    }
    show(&report, (json, quiet), out, err)
}

/// The report of a verify run on EMR, read from its outputs on S3 (their `part-*`
/// objects, through a temporary directory) with `client`, and written to
/// `<output>/<partfile>.<uuid>.verify/_verify.jsonl`.
pub async fn gather_s3(
    client: &crate::s3::Client,
    plan: &Plan,
    reports: &[StepReport],
) -> Result<VerifyReport, Error> {
    use crate::error::S3ResultExt;
    let work = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let mut files = Vec::new();
    let dirs = row_directories(plan);
    for (index, dir) in dirs.iter().enumerate() {
        // One directory per output: part files of two steps share their names.
        let into = work.path().join(format!("output-{index}"));
        std::fs::create_dir(&into)
            .map_err(|e| Error::io(format!("creating {}", into.display()), e))?;
        files.extend(crate::s3::download_part_files(client, dir, &into).await?);
    }
    let local = work.path().join(REPORT_NAME);
    let mut report = gather_files(&files, &local, reports)?;
    // The comparison's output (the last step), where the report's readers look.
    let home = dirs
        .last()
        .ok_or_else(|| Error::Internal("a verify plan without its objectverify step".into()))?;
    let (bucket, prefix) = crate::s3_url::parse_s3_uri(home)
        .ok_or_else(|| Error::Usage(format!("{home:?} is not an s3://bucket/prefix URI")))?;
    let key = format!("{}/{REPORT_NAME}", prefix.trim_end_matches('/'));
    let body = aws_sdk_s3::primitives::ByteStream::from_path(&local)
        .await
        .map_err(|e| {
            Error::io(
                format!("reading {}", local.display()),
                std::io::Error::other(e.to_string()),
            )
        })?;
    client
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body)
        .send()
        .await
        .context("PutObject", &bucket, &key)?;
    report.path = format!("s3://{bucket}/{key}");
    Ok(report)
}

/// Prints what a verify would compare, from a dry run's listings: one line per source
/// key (`compare s3://src/key -> s3://dst/key`, or a JSON object with `--json`), one per
/// destination key the source lacks (`extra s3://dst/key`), then the counts.
pub fn dry_run_output<W: Write, E: Write>(
    plan: &Plan,
    buckets: (&str, &str),
    keys: &KeyMap,
    (json, quiet): (bool, bool),
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    let bad = |file: &Path, line: u64, e: crate::record::RecordError| Error::Input {
        line,
        message: format!("{}: {e}", file.display()),
    };
    let (src_bucket, dst_bucket) = buckets;
    // The source listing is the first step's output; the extra keys' diff, if any, the
    // plan's diff step.
    let listing = plan.steps.iter().find_map(|step| match step {
        Step::Streaming(streaming) => Some(streaming.output.clone()),
        _ => None,
    });
    let extra = plan.steps.iter().find_map(|step| match step {
        Step::Diff(diff) => Some(diff.diff.clone()),
        _ => None,
    });
    let (mut compared, mut extras, mut bytes) = (0u64, 0u64, 0u64);
    if let Some(listing) = listing {
        each_line(Path::new(&listing), |file, number, line| {
            let (key, size) = key_and_size(line).map_err(|e| bad(file, number, e))?;
            compared += 1;
            bytes += size;
            let dst_key = keys.dst_key(&key);
            let text = if json {
                serde_json::json!({"action": "compare", "key": key, "dst_key": dst_key, "size": size})
                    .to_string()
            } else {
                format!("compare s3://{src_bucket}/{key} -> s3://{dst_bucket}/{dst_key}")
            };
            writeln!(out, "{text}").map_err(io)
        })?;
    }
    if let Some(extra) = extra {
        each_line(Path::new(&extra), |file, number, line| {
            let key = if is_row(line) {
                // An archived destination object: the real run asks the source.
                Skipped::from_row(line).map(|row| row.key)
            } else {
                match ListingRecord::parse(line) {
                    Ok(record) if record.destination == Some(Destination::Absent) => Ok(record.key),
                    Ok(_) => return Ok(()),
                    Err(e) => Err(e),
                }
            }
            .map_err(|e| bad(file, number, e))?;
            extras += 1;
            let dst_key = keys.dst_key(&key);
            let text = if json {
                serde_json::json!({"action": "extra", "key": key, "dst_key": dst_key}).to_string()
            } else {
                format!("extra s3://{dst_bucket}/{dst_key}")
            };
            writeln!(out, "{text}").map_err(io)
        })?;
    }
    if json {
        let summary = serde_json::json!({"dry_run": {
            "compare": compared, "bytes": bytes, "extra": extras, "run_dir": plan.run_dir,
        }});
        writeln!(out, "{summary}").map_err(io)?;
    }
    if !quiet {
        writeln!(
            err,
            "Dry run: would compare {compared} key(s) ({bytes} bytes listed), 2 HEADs each; {extras} destination key(s) the source lacks"
        )
        .map_err(|e| Error::io("writing stderr", e))?;
    }
    out.flush().map_err(io)
}

/// The key and size of a listing line or a skip row.
fn key_and_size(line: &str) -> Result<(String, u64), crate::record::RecordError> {
    if is_row(line) {
        let row = Skipped::from_row(line)?;
        return Ok((row.key, row.size));
    }
    let record = ListingRecord::parse(line)?;
    Ok((record.key, record.size))
}

/// Calls `each` with every line of a local output directory, with its file and its
/// number (from 1).
pub(crate) fn each_line(
    dir: &Path,
    mut each: impl FnMut(&Path, u64, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    for file in input_files(dir)? {
        let reading = |e| Error::io(format!("reading {}", file.display()), e);
        let reader = BufReader::new(File::open(&file).map_err(reading)?);
        for (number, line) in reader.lines().enumerate() {
            let line = line.map_err(reading)?;
            if !line.is_empty() {
                each(&file, number as u64 + 1, &line)?;
            }
        }
    }
    Ok(())
}

/// What [`write_listing`] found in a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportListing {
    /// Rows written as listing records (to copy).
    pub copied: u64,
    /// Rows left out (`extra`, `unverifiable`).
    pub left_out: u64,
}

/// Writes the listing of the report `report` (a verify's `_verify.jsonl`) to
/// `listing`: one record per row a copy fixes, in the key space of `keys` (a row made
/// for other locations is refused, naming its line).
pub fn write_listing<E: Write>(
    report: &Path,
    listing: &Path,
    keys: &KeyMap,
    err: &mut E,
) -> Result<ReportListing, Error> {
    let reading = |e| Error::io(format!("reading {}", report.display()), e);
    let writing = |e| Error::io(format!("writing {}", listing.display()), e);
    let reader = BufReader::new(File::open(report).map_err(reading)?);
    let mut out = BufWriter::new(File::create(listing).map_err(writing)?);
    let mut found = ReportListing::default();
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(reading)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| Error::Input {
            line: number as u64 + 1,
            message: format!("{}: {message}", report.display()),
        };
        let row = ReportRow::parse(&line).map_err(|e| bad(e.to_string()))?;
        if !row.kind.copied_by_sync() {
            found.left_out += 1;
            continue;
        }
        if !row.key.starts_with(&keys.src_prefix) || keys.dst_key(&row.key) != row.dst_key {
            return Err(bad(format!(
                "the row of {:?} (destination {:?}) was made for other locations: give sync the SRC and DST the verify was given",
                row.key, row.dst_key
            )));
        }
        let record = row
            .listing_record()
            .ok_or_else(|| bad(format!("a {} row has no src object", row.kind.as_str())))?;
        writeln!(out, "{}", record.to_line()).map_err(writing)?;
        found.copied += 1;
    }
    out.flush().map_err(writing)?;
    writeln!(
        err,
        "input report {}: {} key(s) to copy (missing, changed, metadata drift), {} left out (extra, unverifiable)",
        report.display(),
        found.copied,
        found.left_out
    )
    .map_err(|e| Error::io("writing stderr", e))?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_report_ends_in_success_and_the_counts_are_the_rows() {
        let mut report = VerifyReport {
            path: "/runs/1/_verify.jsonl".into(),
            identical: 3,
            by_etag: 2,
            by_checksum: 1,
            ..Default::default()
        };
        assert!(report.outcome().is_ok());
        report.kinds.insert(ReportKind::Missing, 2);
        report.kinds.insert(ReportKind::Extra, 1);
        let error = report.outcome().expect_err("differences");
        assert_eq!(error.exit_code(), 3);
        assert!(
            error.to_string().contains("3 key(s) not identical"),
            "{error}"
        );
        let json = report.json();
        assert_eq!(json["verify"]["missing"], 2);
        assert_eq!(json["verify"]["changed"], 0);
        assert_eq!(json["verify"]["not_identical"], 3);
        let mut human = Vec::new();
        report.write_human(&mut human).expect("written");
        let human = String::from_utf8(human).expect("utf8");
        assert!(
            human.starts_with(
                "Verify: 3 identical (2 by ETag, 1 by checksum), 3 not: 2 missing, 0 changed"
            ),
            "{human}"
        );
    }

    #[test]
    fn a_reports_copyable_rows_become_the_listing_of_the_copy() {
        let dir = tempfile::tempdir().expect("dir");
        let report = dir.path().join("_verify.jsonl");
        let row = |key: &str, kind: &str| {
            format!(
                r#"{{"key":"logs/{key}","dst_key":"mirror/{key}","kind":"{kind}","reason":"r","src":{{"etag":"5b19f22219f806ac76668afa30063916","size":3,"mtime":"2026-11-25 04:03:18"}}}}"#
            )
        };
        let text = [
            row("a", "missing"),
            row("b", "extra"),
            row("c", "metadata_drift"),
            row("d", "unverifiable"),
        ]
        .join("\n");
        std::fs::write(&report, format!("{text}\n")).expect("report");
        let listing = dir.path().join("report.list");
        let keys = KeyMap::new("logs/", "mirror/");
        let mut err = Vec::new();
        let found = write_listing(&report, &listing, &keys, &mut err).expect("listing");
        assert_eq!(
            found,
            ReportListing {
                copied: 2,
                left_out: 2
            }
        );
        assert_eq!(
            std::fs::read_to_string(&listing).expect("listing"),
            "logs/a\t5b19f22219f806ac76668afa30063916\t3\t2026-11-25 04:03:18\n\
             logs/c\t5b19f22219f806ac76668afa30063916\t3\t2026-11-25 04:03:18\n"
        );
        // Other locations: refused, naming the line.
        let error = write_listing(&report, &listing, &KeyMap::new("logs/", "other/"), &mut err)
            .expect_err("other locations");
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("other locations"), "{error}");
        std::fs::write(&report, "not json\n").expect("report");
        let error = write_listing(&report, &listing, &keys, &mut err).expect_err("bad line");
        assert!(error.to_string().contains("line 1"), "{error}");
    }
}
