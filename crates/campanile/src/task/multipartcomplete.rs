//! multipartcomplete (reducer): completes the multipart uploads objectcopy filled.
//!
//! Every input line is echoed to stdout, so the job output is the part map of every
//! copied multipart object. Lines are grouped by (key, upload id); the number of parts
//! comes from the source ETag (`…-N`). The shuffle delivers the parts of a key
//! together, but a group is completed as soon as its last part arrives, so the task
//! also works on an unsorted shell pipeline. Every line is checked before any upload is
//! completed (the lines are kept in a temporary file meanwhile, not in memory: one
//! reducer may get the parts of a whole bucket), so a bad line completes nothing. Before completing, the task checks that
//! parts 1..N are all there and cover the object without gaps, and computes the ETag
//! the upload will get from the part ETags (the MD5s objectcopy verified): when it
//! differs from the source's, the upload is aborted rather than completed, so no object
//! with a different layout ever becomes visible; the mismatch is reported (status,
//! counter `EtagMismatch`) and fails the task. CompleteMultipartUpload is tried up to 3
//! times with a random pause (a constant [`Backoff`]); `NoSuchUpload` on a retry whose object already carries the
//! source ETag counts as done (an earlier attempt completed it).
//!
//! A part objectcopy skipped because its source is gone or changed since the listing
//! (partEtag `skipped:<reason>`, see [`CopiedPartRecord::skip_reason`]) means the
//! object cannot be completed as listed: its upload is aborted, not completed, and the
//! object is reported as skipped once (a skip row, [`crate::skip::report`], counted
//! under the source bucket given by `--src-bucket`, else the destination), whatever
//! the number of its parts skipped. That is not a failure of the task: a new listing
//! copies the object. Skip rows of earlier steps ([`crate::skip`]) are echoed once per
//! key and ETag, and an upload of an object already in them is aborted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::time::Duration;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::error::{Error, S3Context, S3ResultExt};
use crate::input::InputLines;
use crate::multipart::{multipart_etag, parse_md5_hex, part_count_from_etag};
use crate::record::{CopiedPartRecord, escape_key};
use crate::reporter::{Reporter, counters};
use crate::retry::{Backoff, Failure, retry};
use crate::s3::{Client, describe_error};
use crate::skip::Skipped;
use crate::stream::StreamIndex;
use crate::tuning::Tuning;

/// Options of multipartcomplete.
#[derive(Debug, Clone)]
pub struct MultipartCompleteOptions {
    /// Destination bucket.
    pub bucket: String,
    /// Source bucket: the counter group of the objects skipped because their source
    /// is gone or changed (the destination bucket when not given).
    pub src_bucket: Option<String>,
    /// Whether input lines carry Hadoop's offset field (never, for a reducer).
    pub stream_index: StreamIndex,
    /// Print what would be completed; write nothing.
    pub dry_run: bool,
    /// Attempts of CompleteMultipartUpload ([`Tuning::multipartcomplete_attempts`]).
    pub attempts: u32,
    /// Longest random pause between attempts
    /// ([`Tuning::multipartcomplete_max_pause`]).
    pub max_pause: Duration,
}

impl Default for MultipartCompleteOptions {
    /// No bucket (to be set), shell input, for real, and [`Tuning::DEFAULT`]'s
    /// attempts and pause.
    fn default() -> Self {
        let tuning = Tuning::DEFAULT;
        MultipartCompleteOptions {
            bucket: String::new(),
            src_bucket: None,
            stream_index: StreamIndex::SHELL,
            dry_run: false,
            attempts: tuning.multipartcomplete_attempts,
            max_pause: tuning.multipartcomplete_max_pause,
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultipartCompleteSummary {
    /// Uploads completed.
    pub completed: u64,
    /// Parts in them.
    pub parts: u64,
    /// Uploads aborted because their ETag would differ from the source's.
    pub etag_mismatches: Vec<String>,
    /// Objects not completed (their uploads aborted) because objectcopy skipped a part
    /// whose source is gone or changed.
    pub skipped: Vec<String>,
}

#[derive(Debug)]
struct Group {
    key: String,
    etag: String,
    upload_id: String,
    expected_parts: u32,
    parts: BTreeMap<u32, CopiedPartRecord>,
    first_line: u64,
}

/// One line, checked: its record and the number of parts its ETag announces.
struct CheckedLine {
    record: CopiedPartRecord,
    expected_parts: u32,
}

/// Parses and checks one line on its own.
fn check_line(text: &str, number: u64) -> Result<CheckedLine, Error> {
    let record = CopiedPartRecord::parse(text).map_err(|e| Error::Input {
        line: number,
        message: e.to_string(),
    })?;
    let expected_parts = part_count_from_etag(&record.etag).ok_or_else(|| Error::Input {
        line: number,
        message: format!(
            "field 2 (etag) {:?} is not a multipart ETag (…-N)",
            record.etag
        ),
    })?;
    if record.part_number > expected_parts {
        return Err(Error::Input {
            line: number,
            message: format!(
                "field 5 (partNumber) {} is above the {expected_parts} parts of the ETag",
                record.part_number
            ),
        });
    }
    Ok(CheckedLine {
        record,
        expected_parts,
    })
}

/// Checks every line of `input` (each on its own, and the ETag of each upload against
/// its first line) and copies the lines into a temporary file, so that a bad line fails
/// the task before any upload is completed; returns the file, rewound.
fn check_all<R: BufRead>(input: R, index: StreamIndex) -> Result<std::fs::File, Error> {
    let file = tempfile::tempfile().map_err(|e| Error::io("creating a temporary file", e))?;
    let mut spool = std::io::BufWriter::new(file);
    let mut first_seen: HashMap<(String, String), (String, u64)> = HashMap::new();
    for line in InputLines::new(input, index) {
        let line = line?;
        if crate::skip::is_row(&line.text) {
            // A skip row on its way to the run's report: echoed as it is.
            writeln!(spool, "{}", line.text)
                .map_err(|e| Error::io("writing a temporary file", e))?;
            continue;
        }
        let checked = check_line(&line.text, line.number)?;
        let record = checked.record;
        let (etag, first_line) = first_seen
            .entry((record.key, record.upload_id))
            .or_insert_with(|| (record.etag.clone(), line.number));
        if *etag != record.etag {
            return Err(Error::Input {
                line: line.number,
                message: format!(
                    "field 2 (etag) {} differs from {etag} given for the same upload on line {first_line}",
                    record.etag
                ),
            });
        }
        writeln!(spool, "{}", line.text).map_err(|e| Error::io("writing a temporary file", e))?;
    }
    let mut file = spool
        .into_inner()
        .map_err(|e| Error::io("writing a temporary file", e.into_error()))?;
    std::io::Seek::rewind(&mut file).map_err(|e| Error::io("reading a temporary file", e))?;
    Ok(file)
}

/// Runs multipartcomplete over `input`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &MultipartCompleteOptions,
) -> Result<MultipartCompleteSummary, Error> {
    let checked = std::io::BufReader::new(check_all(input, options.stream_index)?);
    let mut groups: HashMap<(String, String), Group> = HashMap::new();
    let mut summary = MultipartCompleteSummary::default();
    // Line numbers of the checked copy are those of the input: one line each.
    // Objects left out by objectcopy (a part of one may be skipped by several tasks):
    // one row each reaches the report, and their uploads are aborted, not failed.
    let mut skipped: HashSet<(String, String)> = HashSet::new();
    for line in InputLines::new(checked, StreamIndex::SHELL) {
        let line = line?;
        if crate::skip::is_row(&line.text) {
            let first = crate::skip::Skipped::from_row(&line.text)
                .map_or(true, |row| skipped.insert((row.key, row.etag)));
            if first {
                crate::skip::pass_on(output, &line.text)?;
            }
            continue;
        }
        let CheckedLine {
            record,
            expected_parts,
        } = check_line(&line.text, line.number)?;
        writeln!(output, "{}", line.text).map_err(|e| Error::io("writing stdout", e))?;
        let id = (record.key.clone(), record.upload_id.clone());
        let group = groups.entry(id.clone()).or_insert_with(|| Group {
            key: record.key.clone(),
            etag: record.etag.clone(),
            upload_id: record.upload_id.clone(),
            expected_parts,
            parts: BTreeMap::new(),
            first_line: line.number,
        });
        group.parts.insert(record.part_number, record);
        if group.parts.len() == group.expected_parts as usize
            && let Some(group) = groups.remove(&id)
        {
            finish_group(group, output, reporter, client, options, &mut summary).await?;
        }
    }
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    let mut incomplete: Vec<Group> = groups.into_values().collect();
    incomplete.sort_by_key(|g| g.first_line);
    let mut problems = Vec::new();
    for group in incomplete {
        if skipped.contains(&(group.key.clone(), group.etag.clone())) {
            // The object is already in the skip report (a skip row came before): its
            // upload cannot complete.
            if !options.dry_run {
                abort(client, &options.bucket, &group).await?;
            }
            continue;
        }
        if skip_group(&group, output, reporter, client, options, &mut summary).await? {
            continue;
        }
        let missing: Vec<String> = (1..=group.expected_parts)
            .filter(|n| !group.parts.contains_key(n))
            .map(|n| n.to_string())
            .collect();
        problems.push(format!(
            "{} (upload {}): missing part(s) {} of {}",
            escape_key(&group.key),
            group.upload_id,
            missing.join(","),
            group.expected_parts
        ));
        if !options.dry_run {
            abort(client, &options.bucket, &group).await?;
        }
        reporter.status_now(&format!("{}:FAIL", group.upload_id))?;
    }
    for key in &summary.etag_mismatches {
        problems.push(format!(
            "{key}: the completed ETag would differ from the source's; upload aborted"
        ));
    }
    reporter.finish()?;
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(Error::Integrity {
            bucket: options.bucket.clone(),
            key: String::new(),
            message: format!(
                "{} upload(s) not completed: {}",
                problems.len(),
                problems.join("; ")
            ),
        })
    }
}

/// Checks a group with all its parts and completes (or aborts) its upload.
async fn finish_group<W: Write, E: Write>(
    group: Group,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &MultipartCompleteOptions,
    summary: &mut MultipartCompleteSummary,
) -> Result<(), Error> {
    if skip_group(&group, output, reporter, client, options, summary).await? {
        return Ok(());
    }
    check_contiguous(&group)?;
    let digests: Option<Vec<[u8; 16]>> = group
        .parts
        .values()
        .map(|p| parse_md5_hex(&p.part_etag))
        .collect();
    if let Some(digests) = digests {
        let expected = multipart_etag(&digests);
        if expected != group.etag {
            reporter.counter(&options.bucket, counters::ETAG_MISMATCH, 1)?;
            reporter.status_now(&format!(
                "{}:FAIL ETag would be {expected}, source is {}",
                group.upload_id, group.etag
            ))?;
            if !options.dry_run {
                abort(client, &options.bucket, &group).await?;
            }
            summary
                .etag_mismatches
                .push(escape_key(&group.key).into_owned());
            return Ok(());
        }
    }
    if options.dry_run {
        writeln!(
            output,
            "Complete {}:{}\n{}",
            escape_key(&group.key),
            group.upload_id,
            completion_xml(&group)
        )
        .map_err(|e| Error::io("writing stdout", e))?;
    } else {
        let etag = complete(client, options, &group).await?;
        if etag != group.etag {
            reporter.counter(&options.bucket, counters::ETAG_MISMATCH, 1)?;
            reporter.status_now(&format!(
                "{}:FAIL completed with ETag {etag}, source is {}",
                group.upload_id, group.etag
            ))?;
            summary
                .etag_mismatches
                .push(escape_key(&group.key).into_owned());
            return Ok(());
        }
    }
    summary.completed += 1;
    summary.parts += group.parts.len() as u64;
    reporter.counter(&options.bucket, counters::UPLOADS, 1)?;
    reporter.status(&format!("{}:OK", group.upload_id))?;
    Ok(())
}

/// When objectcopy skipped a part of the group (its source is gone or changed),
/// aborts the upload and reports the object as skipped, once; true then.
async fn skip_group<W: Write, E: Write>(
    group: &Group,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &MultipartCompleteOptions,
    summary: &mut MultipartCompleteSummary,
) -> Result<bool, Error> {
    let skipped: Vec<(u32, crate::skip::SkipReason)> = group
        .parts
        .iter()
        .filter_map(|(number, part)| part.skip_reason().map(|r| (*number, r)))
        .collect();
    let Some(&(_, reason)) = skipped.first() else {
        return Ok(false);
    };
    if !options.dry_run {
        abort(client, &options.bucket, group).await?;
    }
    let numbers: Vec<String> = skipped.iter().map(|(n, _)| n.to_string()).collect();
    let row = Skipped {
        key: group.key.clone(),
        // The last part's last byte, when it is there (a complete group).
        size: group
            .parts
            .values()
            .map(|p| p.last_byte + 1)
            .max()
            .unwrap_or(0),
        etag: group.etag.clone(),
        reason,
        detail: format!(
            "part(s) {} of {} not copied ({reason} since the listing); upload {} aborted",
            numbers.join(","),
            group.expected_parts,
            group.upload_id
        ),
    };
    let bucket = options.src_bucket.as_deref().unwrap_or(&options.bucket);
    crate::skip::report(output, reporter, bucket, &row)?;
    summary.skipped.push(escape_key(&group.key).into_owned());
    Ok(true)
}

fn check_contiguous(group: &Group) -> Result<(), Error> {
    let mut next = 0;
    for (number, part) in &group.parts {
        if part.first_byte != next {
            return Err(Error::Integrity {
                bucket: String::new(),
                key: group.key.clone(),
                message: format!(
                    "part {number} of upload {} starts at byte {}, expected {next}",
                    group.upload_id, part.first_byte
                ),
            });
        }
        next = part.last_byte + 1;
    }
    Ok(())
}

/// The CompleteMultipartUpload request body, as `--dry-run` shows it.
fn completion_xml(group: &Group) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>\n");
    for (number, part) in &group.parts {
        xml.push_str(&format!(
            "  <Part><PartNumber>{number}</PartNumber><ETag>\"{}\"</ETag></Part>\n",
            part.part_etag
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

async fn complete(
    client: &Client,
    options: &MultipartCompleteOptions,
    group: &Group,
) -> Result<String, Error> {
    let parts: Vec<(u32, String)> = group
        .parts
        .iter()
        .map(|(number, part)| (*number, part.part_etag.clone()))
        .collect();
    complete_upload(
        client,
        &options.bucket,
        &group.key,
        &group.upload_id,
        &group.etag,
        &parts,
        (options.attempts, options.max_pause),
    )
    .await
}

/// Completes upload `upload_id` of `key` with `parts` (part number and part ETag, in
/// order), trying CompleteMultipartUpload `attempts.0` times with random pauses of up
/// to `attempts.1`; `NoSuchUpload` when the object already carries `source_etag`
/// counts as done (an earlier attempt completed it and its answer was lost). Returns
/// the ETag the object got. Shared with the clean-up after a failed run
/// ([`crate::orphans`]).
pub(crate) async fn complete_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    source_etag: &str,
    parts: &[(u32, String)],
    attempts: (u32, Duration),
) -> Result<String, Error> {
    let parts: Vec<CompletedPart> = parts
        .iter()
        .map(|(number, part_etag)| {
            CompletedPart::builder()
                .part_number(i32::try_from(*number).unwrap_or(i32::MAX))
                .e_tag(format!("\"{part_etag}\""))
                .build()
        })
        .collect();
    let parts = &parts;
    // Every failure is tried again: the pauses spread the reducers' completions, which
    // arrive together at the end of a step.
    let completed = retry(
        &Backoff::constant(attempts.1),
        attempts.0,
        |_| async move {
            let result = client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts.clone()))
                        .build(),
                )
                .send()
                .await;
            match result {
                Ok(done) => Ok(done
                    .e_tag()
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string()),
                Err(error) => {
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.meta().code() == Some("NoSuchUpload"))
                        && let Some(etag) = current_etag(client, bucket, key).await
                        && etag == source_etag
                    {
                        // Completed by an earlier attempt whose answer was lost.
                        return Ok(etag);
                    }
                    // Boxed: the SDK error is large, and only the last one is kept.
                    Err(Failure::Transient(Box::new(error)))
                }
            }
        },
        |_, _, _| Ok(()),
    )
    .await;
    completed.map_err(|error| {
        let message = format!(
            "upload {upload_id}: {} (after {} attempts)",
            describe_error(&error),
            attempts.0
        );
        S3Context::new("CompleteMultipartUpload", bucket, key).explained(message, *error)
    })
}

async fn current_etag(client: &Client, bucket: &str, key: &str) -> Option<String> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    head.e_tag().map(|e| e.trim_matches('"').to_string())
}

async fn abort(client: &Client, bucket: &str, group: &Group) -> Result<(), Error> {
    match client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(&group.key)
        .upload_id(&group.upload_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.meta().code() == Some("NoSuchUpload")) =>
        {
            Ok(())
        }
        Err(error) => Err(error).context("AbortMultipartUpload", bucket, &group.key),
    }
}
