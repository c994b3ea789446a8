//! The run's skip report: every object a run left out (archived, vanished, changed,
//! layout unknown), one JSON line each (`key`, `size`, `etag`, `reason`, `detail`;
//! [`crate::skip::Skipped`]), in `_skipped.jsonl` inside the last step's output
//! directory (the job output of a copy), so that it travels with that output (a local
//! run's S3 output is uploaded with it). The rows come from the skip rows that the
//! tasks wrote into their records and that every later step passed on (see
//! [`crate::skip`]): only committed task attempts' rows count. A `_` name keeps Hadoop
//! from reading the report as data. No rows, no report.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::hadoop_input::input_files;
use crate::plan::{Plan, Step};
use crate::skip::{SkipReason, Skipped, extract_rows};

/// The report's file name inside the output directory.
pub const REPORT_NAME: &str = "_skipped.jsonl";

/// A written report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipReport {
    /// Objects it lists.
    pub objects: u64,
    /// Where it is.
    pub path: String,
    /// Its rows by reason.
    pub reasons: BTreeMap<SkipReason, u64>,
}

impl SkipReport {
    /// The error rsync ends with (exit 3), or `Ok` without rows.
    pub fn outcome(report: Option<SkipReport>) -> Result<(), Error> {
        match report {
            Some(report) => Err(Error::Skipped {
                objects: report.objects,
                report: report.path,
            }),
            None => Ok(()),
        }
    }

    /// The `--json` line that says where the report is.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "skipped": self.objects, "skip_report": self.path })
    }
}

/// The directory where the plan's skip rows end: the output of its last step but the
/// clean-up and `--delete`'s steps (the copy's job output; with `--no-copy` the part
/// list; with `--list-only` the listing or the diff).
pub fn rows_directory(plan: &Plan) -> Option<&str> {
    plan.steps.iter().rev().find_map(|step| match step {
        Step::Streaming(streaming)
            if streaming.mapper.task() == crate::command::Task::ObjectDelete =>
        {
            None
        }
        Step::Diff(diff) if crate::plan::delete::is_delete_diff(diff) => None,
        Step::Streaming(streaming) => Some(streaming.output.as_str()),
        Step::Diff(diff) => Some(diff.diff.as_str()),
        Step::Cleanup(_) | Step::Check(_) => None,
    })
}

/// Reads the skip rows of a local output directory (its part files, gzip or not) and,
/// when there are any, writes `dir/_skipped.jsonl`.
pub fn write_local(dir: &Path) -> Result<Option<SkipReport>, Error> {
    let path = dir.join(REPORT_NAME);
    let partial = dir.join(format!(".{REPORT_NAME}.tmp"));
    let context = |p: &Path| format!("writing {}", p.display());
    let mut out =
        BufWriter::new(File::create(&partial).map_err(|e| Error::io(context(&partial), e))?);
    let mut objects = 0;
    for file in input_files(dir)? {
        let handle =
            File::open(&file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        let named = |e: Error| match e {
            Error::Input { line, message } => Error::Input {
                line,
                message: format!("{}: {message}", file.display()),
            },
            other => other,
        };
        objects += if file.extension().is_some_and(|x| x == "gz") {
            let gunzip = flate2::read::MultiGzDecoder::new(handle);
            extract_rows(BufReader::new(gunzip), &mut out).map_err(named)?
        } else {
            extract_rows(BufReader::new(handle), &mut out).map_err(named)?
        };
    }
    out.flush().map_err(|e| Error::io(context(&partial), e))?;
    drop(out);
    if objects == 0 {
        let _ = std::fs::remove_file(&partial);
        return Ok(None);
    }
    let reasons = tally(&partial)?;
    std::fs::rename(&partial, &path).map_err(|e| Error::io(context(&path), e))?;
    Ok(Some(SkipReport {
        objects,
        path: path.display().to_string(),
        reasons,
    }))
}

/// Where a local report ends up once its directory is uploaded to `uri` (a local
/// run with an S3 output), or where it is.
pub fn published_path(report: &SkipReport, uploaded_to: Option<&str>) -> String {
    match uploaded_to {
        Some(uri) => format!("{}/{REPORT_NAME}", uri.trim_end_matches('/')),
        None => report.path.clone(),
    }
}

/// The skip report of an output on S3 (`s3://bucket/prefix`, an EMR run's job
/// output): its `part-*` objects are read one at a time (through a temporary file,
/// un-gzipped when their name ends in `.gz`) and, when they hold skip rows,
/// `prefix/_skipped.jsonl` is written. An output with no part yet has no report.
pub async fn write_s3(client: &crate::s3::Client, uri: &str) -> Result<Option<SkipReport>, Error> {
    use crate::error::S3ResultExt;
    let (bucket, prefix) = crate::s3_url::parse_s3_uri(uri)
        .ok_or_else(|| Error::Usage(format!("{uri:?} is not an s3://bucket/prefix URI")))?;
    let prefix = format!("{}/", prefix.trim_end_matches('/'));
    let (report, report_path) = scratch_file()?;
    let mut writer = BufWriter::new(report);
    let mut objects = 0;
    let mut pages = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    let result: Result<(), Error> = async {
        while let Some(page) = pages.next().await {
            let page = page.context("ListObjectsV2", &bucket, &prefix)?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let name = &key[prefix.len().min(key.len())..];
                if !name.starts_with("part-") || name.contains('/') {
                    continue;
                }
                let (part, part_path) = scratch_file()?;
                let fetched = fetch(client, &bucket, key, part).await;
                let read = fetched.and_then(|()| {
                    let handle = File::open(&part_path)
                        .map_err(|e| Error::io(format!("reading {}", part_path.display()), e))?;
                    if name.ends_with(".gz") {
                        let gunzip = flate2::read::MultiGzDecoder::new(handle);
                        extract_rows(BufReader::new(gunzip), &mut writer)
                    } else {
                        extract_rows(BufReader::new(handle), &mut writer)
                    }
                });
                let _ = std::fs::remove_file(&part_path);
                objects += read?;
            }
        }
        writer
            .flush()
            .map_err(|e| Error::io("writing the skip report", e))
    }
    .await;
    drop(writer);
    let published = match result.and_then(|()| tally(&report_path)) {
        Ok(reasons) if objects > 0 => {
            let key = format!("{prefix}{REPORT_NAME}");
            let body = aws_sdk_s3::primitives::ByteStream::from_path(&report_path)
                .await
                .map_err(|e| {
                    Error::io(
                        format!("reading {}", report_path.display()),
                        std::io::Error::other(e.to_string()),
                    )
                });
            match body {
                Ok(body) => client
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(body)
                    .send()
                    .await
                    .context("PutObject", &bucket, &key)
                    .map(|_| {
                        Some(SkipReport {
                            objects,
                            path: format!("s3://{bucket}/{key}"),
                            reasons,
                        })
                    }),
                Err(error) => Err(error),
            }
        }
        Ok(_) => Ok(None),
        Err(error) => Err(error),
    };
    let _ = std::fs::remove_file(&report_path);
    published
}

/// The rows of a written report (JSON lines of [`Skipped`]) counted by reason, for
/// the run's summary.
pub fn tally(path: &Path) -> Result<BTreeMap<SkipReason, u64>, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut reasons = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let row: Skipped = serde_json::from_str(line).map_err(|e| Error::Input {
            line: index as u64 + 1,
            message: format!("{}: not a skip report row: {e}", path.display()),
        })?;
        *reasons.entry(row.reason).or_insert(0) += 1;
    }
    Ok(reasons)
}

/// Streams an object's body into `file`.
async fn fetch(
    client: &crate::s3::Client,
    bucket: &str,
    key: &str,
    file: File,
) -> Result<(), Error> {
    crate::s3::download_to(client, bucket, key, &mut BufWriter::new(file)).await?;
    Ok(())
}

/// A temporary local file for a report that goes elsewhere (a cluster's output).
pub(crate) fn scratch_file() -> Result<(File, PathBuf), Error> {
    let file = tempfile::NamedTempFile::new()
        .map_err(|e| Error::io("creating a temporary file for the skip report", e))?;
    let (file, path) = file
        .keep()
        .map_err(|e| Error::io("keeping the skip report's temporary file", e.error))?;
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_gzip_and_plain_parts_make_one_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let row = |key: &str, reason| {
            Skipped {
                key: key.into(),
                size: 3,
                etag: "0123456789abcdef0123456789abcdef".into(),
                reason,
                detail: "seen".into(),
            }
            .to_row()
        };
        let part = "k\t0123456789abcdef0123456789abcdef-2\tup\tpe\t1\t0\t9\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(format!("{part}{}\n", row("a", SkipReason::Vanished)).as_bytes())
            .expect("gzip");
        std::fs::write(dir.path().join("part-00000.gz"), gz.finish().expect("gzip"))
            .expect("write");
        std::fs::write(
            dir.path().join("part-00001"),
            format!("{}\n", row("b", SkipReason::Archived)),
        )
        .expect("write");
        std::fs::write(dir.path().join("_SUCCESS"), "").expect("write");
        let report = write_local(dir.path()).expect("report").expect("rows");
        assert_eq!(report.objects, 2);
        let by_reason: BTreeMap<SkipReason, u64> =
            [(SkipReason::Archived, 1), (SkipReason::Vanished, 1)]
                .into_iter()
                .collect();
        assert_eq!(report.reasons, by_reason);
        let text = std::fs::read_to_string(&report.path).expect("read");
        let keys: Vec<Skipped> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(keys[0].key, "a");
        assert_eq!(keys[0].reason, SkipReason::Vanished);
        assert_eq!(keys[1].key, "b");
        // The report is hidden from Hadoop: read again, it adds nothing.
        assert_eq!(
            write_local(dir.path()).expect("again").map(|r| r.objects),
            Some(2)
        );
    }

    #[test]
    fn no_rows_no_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("part-00000"), "k\tv\n").expect("write");
        assert_eq!(write_local(dir.path()).expect("report"), None);
        assert!(!dir.path().join(REPORT_NAME).exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temporary file is left"
        );
    }
}
