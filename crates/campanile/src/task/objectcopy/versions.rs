//! `objectcopy --versions history|current`: copies the versions records of
//! `bucketlist --all-versions` / `--version-at` ([`crate::versions`]), one key per
//! line, the keys `concurrency` at a time and each key's versions one after the other,
//! oldest first, so that the destination's history of the key reads in the source's
//! order.
//!
//! Each version is written by this task alone: a whole object by a GET of that version
//! (`versionId`, pinned with `If-Match` to its ETag, in checksum mode) streamed into a
//! PutObject that carries the source's headers and, when the ETag is an MD5, the
//! Content-MD5 S3 checks the bytes against, and the source's full-object checksum
//! when it has one (checked by the SDK on the GET and by S3 on the PUT); a multipart
//! version (ETag `…-N`) by an upload made here, with the source's part layout (HEAD
//! of each part of that version), each part's bytes sent with their Content-MD5, the
//! upload completed only when the ETag its parts make is the source's (and aborted
//! otherwise); a delete marker by a DeleteObject without a version id, which in a
//! versioned bucket writes a marker.
//!
//! Proofs, as the copy's ([`super`]): a version whose ETag is not an MD5 (SSE-KMS or
//! SSE-C) is proven by its checksum when it has one: a whole version by the checksum
//! its PutObject carries; a multipart one by an upload created with the source
//! checksum's algorithm and type, each part sent with its checksum of the bytes read,
//! completed only when those make the source's value ([`crate::checksum::combine`];
//! a full-object value goes with the completion). A version with neither proof is
//! still written, and reported (skip row `unverifiable_at_source`), so the run exits 3.
//! A version whose ETag is an MD5 is proven by it, and its checksum is written onto the
//! copy all the same (the same way), for a later run to compare an SSE-KMS copy by.
//! No multipart version is left for multipartcomplete: completing in a later step
//! would write it after the key's newer versions. Right after creating a version's
//! upload the task aborts every other upload in progress for the destination key
//! ([`crate::orphans::abort_others`]; counter `AbortedUploads`): the orphan of an
//! attempt killed mid-upload goes when the retried attempt reaches the key, and the
//! run's clean-up aborts what is left after a failed run (see [`crate::orphans`]).
//!
//! Safe to repeat: before it writes, the task reads the key's history at the
//! destination (ListObjectVersions) and compares it with the source's
//! ([`crate::versions::compare`]): when it is the start of the source's, only the
//! rest is written; when it is not, the key is reported (skip row, reason
//! `destination_changed`, counter `HistoryDiverged`) and nothing is written, so the
//! run exits 3 rather than leave a wrong history. Pairs of versions that differ only
//! by their ETags (an SSE-KMS side's ETag is not an MD5) are decided by a HEAD of both:
//! the same checksum and size past SSE-KMS or SSE-C make them the same
//! ([`crate::versions::same_bytes`]). A whole version's write is checked by the
//! ETag S3 returns only when neither the request nor the answer says SSE-KMS,
//! DSSE-KMS or SSE-C (a bucket's default encryption shows only in the answer). The writes that make a version
//! (PutObject, DeleteObject, CompleteMultipartUpload) are sent without the SDK's own
//! retries: a retry of a write whose answer was lost would write the version twice.
//! A failed write is tried again (up to the task's GET attempts, after a pause) only
//! after the history has been read again. With `current` (`--version-at`) the
//! destination is not versioned history but the key's current object: a key that
//! already holds the listed version's ETag and size is left alone.
//!
//! Output (the job output): one row per version, `key versionId etag size outcome`
//! (a delete marker's etag `delete-marker`, size 0), outcome `copied`,
//! `already-there`, or with `--dry-run` `would-copy` (nothing written), and the skip
//! rows of the keys reported (and of the versions copied unproven). Counters:
//! `Versions` and `DeleteMarkers` written, `ProvenByMd5` (source bucket: a whole
//! version whose PutObject carried the source ETag as Content-MD5, a multipart
//! version whose parts made the source's ETag), `ProvenByChecksum`,
//! `UnverifiableAtSource` (source bucket), `AbortedUploads`,
//! `VersionsAlreadyThere`, `HistoryDiverged` (destination bucket), `InputBytes`,
//! `OutputBytes`, `Parts`.
//!
//! Memory: a whole version is streamed from its GET into its PutObject; a multipart
//! version's part is held in memory while it is sent, within the task's `maxtmpsize`
//! over all the keys copied at once.

use std::cell::RefCell;
use std::io::{BufRead, Write};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumMode, CompletedMultipartUpload, CompletedPart,
};
use base64::Engine;
use futures::StreamExt;

use super::ObjectCopyOptions;
use super::transfer::{FullChecksum, SourceProof, with_part_checksum};
use crate::checksum::{self, Kind, SourceChecksum};
use crate::error::{Error, S3Context, S3ResultExt};
use crate::headers::ObjectHeaders;
use crate::input::checked_records;
use crate::multipart::{
    ByteRange, guess_part_size, part_count_from_etag, part_map_from_sizes, uniform_part_map,
};
use crate::reporter::{Reporter, counters};
use crate::s3::{Client, http_status};
use crate::skip::{self, Line, SkipReason, Skipped};
use crate::versions::{DELETE_MARKER, Remaining, Shape, Version, VersionsRecord, compare};

/// Which destination a versions copy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionsMode {
    /// Every version, in order, into the destination's version history
    /// (`--all-versions`: the destination must have versioning enabled).
    History,
    /// The one listed version into the destination's current object (`--version-at`).
    Current,
}

impl VersionsMode {
    /// The mode as the command line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionsMode::History => "history",
            VersionsMode::Current => "current",
        }
    }

    /// Reads the command line's `history` or `current`.
    pub fn parse(text: &str) -> Result<VersionsMode, String> {
        match text {
            "history" => Ok(VersionsMode::History),
            "current" => Ok(VersionsMode::Current),
            other => Err(format!("{other:?} is not a mode: history or current")),
        }
    }
}

/// The outcome field of a version row.
pub mod outcome {
    /// Written by this run.
    pub const COPIED: &str = "copied";
    /// Found in the destination's history (or current object) already.
    pub const ALREADY_THERE: &str = "already-there";
    /// `--dry-run`: would be written.
    pub const WOULD_COPY: &str = "would-copy";
}

/// One row of the output: a version and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    /// The (source) key.
    pub key: String,
    /// The source's version id.
    pub version_id: String,
    /// The ETag, `None` for a delete marker.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// [`outcome`].
    pub outcome: String,
}

impl VersionRow {
    /// The row as written.
    pub fn to_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            crate::record::escape_key(&self.key),
            self.version_id,
            self.etag.as_deref().unwrap_or(DELETE_MARKER),
            self.size,
            self.outcome
        )
    }

    /// Reads a row back; `None` for any other line (skip rows, blank lines).
    pub fn parse(line: &str) -> Option<VersionRow> {
        let fields: Vec<&str> = line.split('\t').collect();
        let [key, version_id, etag, size, outcome] = fields.as_slice() else {
            return None;
        };
        Some(VersionRow {
            key: crate::record::unescape_key(key).ok()?,
            version_id: (*version_id).to_string(),
            etag: (*etag != DELETE_MARKER).then(|| (*etag).to_string()),
            size: size.parse().ok()?,
            outcome: (*outcome).to_string(),
        })
    }
}

/// What one task did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionsSummary {
    /// Object versions written.
    pub versions: u64,
    /// Delete markers written.
    pub delete_markers: u64,
    /// Versions found at the destination already.
    pub already_there: u64,
    /// Keys reported (history diverged, source gone).
    pub reported: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl VersionsSummary {
    fn add(&mut self, other: &VersionsSummary) {
        self.versions += other.versions;
        self.delete_markers += other.delete_markers;
        self.already_there += other.already_there;
        self.reported += other.reported;
        self.bytes += other.bytes;
    }
}

struct Sinks<'a, W: Write, E: Write> {
    output: RefCell<&'a mut W>,
    reporter: RefCell<&'a mut Reporter<E>>,
    /// `maxtmpsize`: the parts of multipart versions held in memory at once, over all
    /// the keys copied concurrently.
    memory: super::budget::MemoryBudget,
}

impl<W: Write, E: Write> Sinks<'_, W, E> {
    fn write(&self, line: &str) -> Result<(), Error> {
        writeln!(self.output.borrow_mut(), "{line}").map_err(|e| Error::io("writing stdout", e))
    }

    fn count(&self, bucket: &str, name: &str, value: u64) -> Result<(), Error> {
        if value == 0 {
            return Ok(());
        }
        self.reporter
            .borrow_mut()
            .counter(bucket, name, i64::try_from(value).unwrap_or(i64::MAX))
    }
}

/// No SDK retries: a write retried after its answer was lost would write a version
/// twice. The caller reads the history again before another try.
fn once() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// Refuses a destination whose versioning is not enabled (usage error, exit 2): its
/// history could not hold the source's versions.
pub async fn check_versioning(dst: &Client, bucket: &str) -> Result<(), Error> {
    let status = match dst.get_bucket_versioning().bucket(bucket).send().await {
        Ok(answer) => answer.status().map(|s| s.as_str().to_string()),
        Err(error) => match status_in_body(&error) {
            Some(status) => status,
            None => return Err(S3Context::new("GetBucketVersioning", bucket, "").sdk(error)),
        },
    };
    if status.as_deref() == Some(BucketVersioningStatus::Enabled.as_str()) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--all-versions writes every version into the destination's history, but \
         versioning of s3://{bucket} is {}: enable it first \
         (aws s3api put-bucket-versioning --bucket {bucket} \
         --versioning-configuration Status=Enabled), or copy the bucket as it stood at a \
         time with --version-at",
        status.map_or_else(|| "not enabled".to_string(), |s| s.to_lowercase())
    )))
}

/// The `Status` of a GetBucketVersioning answer (200) that the SDK could not read:
/// some servers (moto) name its root element `GetBucketVersioningResponse` rather than
/// `VersioningConfiguration`. `Some(None)`: an answer without a status (never enabled).
fn status_in_body<E>(
    error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<Option<String>> {
    let raw = error.raw_response()?;
    if raw.status().as_u16() != 200 {
        return None;
    }
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    let status = body.split_once("<Status>").and_then(|(_, rest)| {
        rest.split_once("</Status>")
            .map(|(status, _)| status.trim().to_string())
    });
    Some(status)
}

/// Runs objectcopy over versions records.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    (src, dst): (&Client, &Client),
    options: &ObjectCopyOptions,
    mode: VersionsMode,
) -> Result<VersionsSummary, Error> {
    let records = checked_records(
        input,
        options.stream_index,
        skip::or_passed(VersionsRecord::parse),
    )?;
    if mode == VersionsMode::History {
        check_versioning(dst, &options.dst_bucket).await?;
    }
    let sinks = Sinks {
        output: RefCell::new(output),
        reporter: RefCell::new(reporter),
        memory: super::budget::MemoryBudget::new(options.max_tmp_size),
    };
    let mut total = VersionsSummary::default();
    let mut failed: Vec<(String, Error)> = Vec::new();
    {
        let mut keys = futures::stream::iter(records)
            .map(|item| {
                let sinks = &sinks;
                async move {
                    match item.map_err(|e| (String::new(), e))? {
                        Line::Record(record) => copy_key(&record, (src, dst), options, mode, sinks)
                            .await
                            .map_err(|e| (crate::record::escape_key(&record.key).into_owned(), e)),
                        Line::Skipped(row) => {
                            skip::pass_on(&mut **sinks.output.borrow_mut(), &row)
                                .map_err(|e| (row.clone(), e))?;
                            Ok(VersionsSummary::default())
                        }
                    }
                }
            })
            .buffer_unordered(options.concurrency.max(1));
        while let Some(result) = keys.next().await {
            match result {
                Ok(one) => total.add(&one),
                Err((label, error)) if label.is_empty() || super::stops_the_task(&error) => {
                    return Err(error);
                }
                Err((label, error)) => {
                    sinks
                        .reporter
                        .borrow_mut()
                        .status_now(&format!("{}/{label}:FAIL {error}", options.dst_bucket))?;
                    failed.push((label, error));
                }
            }
        }
    }
    let Sinks {
        output, reporter, ..
    } = sinks;
    super::finish_task(output.into_inner(), reporter.into_inner(), total, failed)
}

/// What the destination holds of a key, as a [`compare`] of histories sees it; the
/// pairs of versions whose ETags alone differ decided by a HEAD of both
/// ([`crate::versions::same_bytes`]).
async fn remaining(
    record: &VersionsRecord,
    (src, dst): (&Client, &Client),
    (src_bucket, bucket, dst_key): (&str, &str, &str),
    mode: VersionsMode,
) -> Result<Remaining, Error> {
    let source: Vec<Shape> = record.versions.iter().map(Version::shape).collect();
    match mode {
        VersionsMode::History => {
            let history = destination_history(dst, bucket, dst_key).await?;
            let shapes: Vec<(Shape, i64)> = history
                .iter()
                .map(|(version, tick)| (version.shape(), *tick))
                .collect();
            match compare(&source, &shapes) {
                Remaining::EtagsDiffer { from, pairs, why } => {
                    for (ours, theirs) in pairs {
                        let source_version = &record.versions[ours];
                        let destination_version = &history[theirs].0;
                        // The two HEADs are independent: one round trip, not two.
                        let (source_head, destination_head) = futures::try_join!(
                            stored(
                                src,
                                (src_bucket, &record.key),
                                &source_version.version_id,
                                true,
                            ),
                            stored(
                                dst,
                                (bucket, dst_key),
                                &destination_version.version_id,
                                false,
                            ),
                        )?;
                        if let Err(because) =
                            crate::versions::same_bytes(&source_head, &destination_head)
                        {
                            return Ok(Remaining::Diverged(format!(
                                "{why}; version {} of the destination ({}) is not proven the \
                                 source's {}: {because}",
                                theirs + 1,
                                destination_version.version_id,
                                source_version.version_id
                            )));
                        }
                    }
                    Ok(Remaining::From(from))
                }
                other => Ok(other),
            }
        }
        VersionsMode::Current => {
            let head = dst.head_object().bucket(bucket).key(dst_key).send().await;
            let there = match head {
                Ok(head) => Some(Shape {
                    etag: head.e_tag().map(|e| e.trim_matches('"').to_string()),
                    size: head
                        .content_length()
                        .and_then(|l| u64::try_from(l).ok())
                        .unwrap_or(0),
                }),
                Err(e) if http_status(&e) == Some(404) => None,
                Err(e) => return Err(S3Context::new("HeadObject", bucket, dst_key).sdk(e)),
            };
            // The current object is overwritten whatever it is, unless it is this one.
            Ok(Remaining::From(usize::from(
                there.as_ref() == source.last(),
            )))
        }
    }
}

/// What a HEAD (in checksum mode) of a version of `key` tells about its bytes.
async fn stored(
    client: &Client,
    (bucket, key): (&str, &str),
    version_id: &str,
    is_source: bool,
) -> Result<crate::versions::Stored, Error> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| {
            if is_source {
                source_error(e, "HeadObject", (bucket, key, version_id))
            } else {
                S3Context::new("HeadObject", bucket, key).sdk(e)
            }
        })?;
    let checksum =
        checksum::single_value(checksum::head_values(&head)).map(|(algorithm, value)| {
            (
                algorithm,
                head.checksum_type().and_then(Kind::of_sdk),
                value.to_string(),
            )
        });
    Ok(crate::versions::Stored {
        size: head
            .content_length()
            .and_then(|l| u64::try_from(l).ok())
            .unwrap_or(0),
        etag_is_not_md5: ObjectHeaders::from_head(&head).etag_is_not_md5(),
        checksum,
    })
}

/// The destination's history of `key`, oldest first, each with its LastModified in
/// milliseconds.
async fn destination_history(
    dst: &Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<(Version, i64)>, Error> {
    let mut found = Vec::new();
    crate::task::bucketlist::versions::list_versions(
        dst,
        bucket,
        (key, None, None),
        |listed, entries| {
            if listed == key {
                found = entries;
            }
            // The key itself sorts first under its own prefix: nothing after it matters.
            Ok(crate::task::bucketlist::versions::Flow::Stop)
        },
    )
    .await?;
    Ok(found
        .into_iter()
        .rev()
        .map(|l| (l.version, l.millis))
        .collect())
}

/// Copies one key's versions (see the module).
async fn copy_key<W: Write, E: Write>(
    record: &VersionsRecord,
    (src, dst): (&Client, &Client),
    options: &ObjectCopyOptions,
    mode: VersionsMode,
    sinks: &Sinks<'_, W, E>,
) -> Result<VersionsSummary, Error> {
    let dst_bucket = options.dst_bucket.as_str();
    let dst_key = options.dst_key(&record.key);
    let mut summary = VersionsSummary::default();
    let mut first_look = None;
    let mut failures = 0;
    loop {
        let from = match remaining(
            record,
            (src, dst),
            (&options.src_bucket, dst_bucket, &dst_key),
            mode,
        )
        .await?
        {
            Remaining::From(from) => from,
            Remaining::Diverged(why) | Remaining::EtagsDiffer { why, .. } => {
                let newest = record.newest();
                let row = Skipped {
                    key: record.key.clone(),
                    size: newest.map_or(0, |v| v.size),
                    etag: newest
                        .and_then(|v| v.etag.clone())
                        .unwrap_or_else(|| "-".to_string()),
                    reason: SkipReason::DestinationChanged,
                    detail: format!(
                        "its version history at the destination is not the start of the \
                         source's ({why}): nothing written"
                    ),
                };
                skip::report(
                    &mut **sinks.output.borrow_mut(),
                    &mut **sinks.reporter.borrow_mut(),
                    dst_bucket,
                    &row,
                )?;
                sinks.count(dst_bucket, counters::HISTORY_DIVERGED, 1)?;
                summary.reported += 1;
                return Ok(summary);
            }
        };
        let first = *first_look.get_or_insert(from);
        if from >= record.versions.len() || options.dry_run {
            return finish(record, first, from, options, sinks, summary);
        }
        let mut written = from;
        let mut error = None;
        for version in &record.versions[from..] {
            match write_version(record, version, (src, dst), options, &dst_key, sinks).await {
                Ok(bytes) => {
                    summary.bytes += bytes;
                    written += 1;
                }
                Err(Error::SourceMoved {
                    reason, message, ..
                }) => {
                    let row = Skipped {
                        key: record.key.clone(),
                        size: version.size,
                        etag: version.etag.clone().unwrap_or_else(|| "-".to_string()),
                        reason,
                        detail: format!(
                            "version {} of the key: {message}; its {} older versions are \
                             written, the newer ones not",
                            version.version_id, written
                        ),
                    };
                    skip::report(
                        &mut **sinks.output.borrow_mut(),
                        &mut **sinks.reporter.borrow_mut(),
                        &options.src_bucket,
                        &row,
                    )?;
                    summary.reported += 1;
                    return Ok(summary);
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let Some(error) = error else {
            return finish(record, first, written, options, sinks, summary);
        };
        failures += 1;
        if failures >= options.get_attempts.max(1) || super::stops_the_task(&error) {
            return Err(error);
        }
        sinks.reporter.borrow_mut().status_now(&format!(
            "{dst_bucket}/{dst_key}: {error}; reading its history again before another try"
        ))?;
        tokio::time::sleep(options.backoff.delay(failures)).await;
    }
}

/// Writes a key's rows and counters once its versions up to `done` are at the
/// destination (`first` of them were there before this task).
fn finish<W: Write, E: Write>(
    record: &VersionsRecord,
    first: usize,
    done: usize,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
    mut summary: VersionsSummary,
) -> Result<VersionsSummary, Error> {
    let dst_bucket = &options.dst_bucket;
    for (index, version) in record.versions.iter().enumerate() {
        let outcome = if index < first {
            summary.already_there += 1;
            outcome::ALREADY_THERE
        } else if options.dry_run {
            outcome::WOULD_COPY
        } else if index < done {
            if version.is_delete_marker() {
                summary.delete_markers += 1;
            } else {
                summary.versions += 1;
            }
            outcome::COPIED
        } else {
            continue;
        };
        let row = VersionRow {
            key: record.key.clone(),
            version_id: version.version_id.clone(),
            etag: version.etag.clone(),
            size: version.size,
            outcome: outcome.to_string(),
        };
        sinks.write(&row.to_line())?;
    }
    sinks.count(dst_bucket, counters::VERSIONS, summary.versions)?;
    sinks.count(dst_bucket, counters::DELETE_MARKERS, summary.delete_markers)?;
    sinks.count(
        dst_bucket,
        counters::VERSIONS_ALREADY_THERE,
        summary.already_there,
    )?;
    sinks.count(dst_bucket, counters::INPUT_BYTES, summary.bytes)?;
    sinks.count(&options.src_bucket, counters::OUTPUT_BYTES, summary.bytes)?;
    sinks.reporter.borrow_mut().status(&format!(
        "{dst_bucket}/{}:OK ({} versions, {} delete markers written, {} there already)",
        options.dst_key(&record.key),
        summary.versions,
        summary.delete_markers,
        summary.already_there
    ))?;
    Ok(summary)
}

/// A source GET failure: a version gone (404) or changed (412) is a skip, anything
/// else an error.
fn source_error<E2>(
    error: aws_sdk_s3::error::SdkError<E2, aws_sdk_s3::config::http::HttpResponse>,
    operation: &'static str,
    (bucket, key, version): (&str, &str, &str),
) -> Error
where
    E2: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = S3Context::new(operation, bucket, key);
    match http_status(&error) {
        Some(404) => context.source_moved(
            SkipReason::Vanished,
            format!("version {version} no longer exists"),
            Some(Box::new(error)),
        ),
        Some(412) => context.source_moved(
            SkipReason::Changed,
            format!("version {version} no longer has the listed ETag"),
            Some(Box::new(error)),
        ),
        _ => context.sdk(error),
    }
}

/// Writes one version at the destination; returns the bytes written.
async fn write_version<W: Write, E: Write>(
    record: &VersionsRecord,
    version: &Version,
    (src, dst): (&Client, &Client),
    options: &ObjectCopyOptions,
    dst_key: &str,
    sinks: &Sinks<'_, W, E>,
) -> Result<u64, Error> {
    let Some(etag) = &version.etag else {
        dst.delete_object()
            .bucket(&options.dst_bucket)
            .key(dst_key)
            .customize()
            .config_override(once())
            .send()
            .await
            .context("DeleteObject", &options.dst_bucket, dst_key)?;
        return Ok(0);
    };
    if part_count_from_etag(etag).is_some() {
        return copy_multipart(record, version, etag, (src, dst), options, dst_key, sinks).await;
    }
    let bucket = &options.src_bucket;
    let get = src
        .get_object()
        .bucket(bucket)
        .key(&record.key)
        .version_id(&version.version_id)
        .if_match(format!("\"{etag}\""))
        // The version's full-object checksum, if it has one: the SDK checks the bytes
        // against it as they stream, and the PutObject carries it (S3 checks it again).
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| source_error(e, "GetObject", (bucket, &record.key, &version.version_id)))?;
    let source_headers = ObjectHeaders::from_get(&get);
    let checksum = FullChecksum::of_get(&get);
    // The bytes' MD5 is the ETag only when the source is not SSE-KMS or SSE-C.
    let content_md5 = (!source_headers.etag_is_not_md5())
        .then(|| crate::multipart::parse_md5_hex(etag))
        .flatten()
        .map(|md5| base64::engine::general_purpose::STANDARD.encode(md5));
    let proof = match (&content_md5, &checksum) {
        (Some(_), _) => SourceProof::Md5,
        (None, Some(_)) => SourceProof::Checksum,
        (None, None) => SourceProof::Unverifiable,
    };
    let mut headers = source_headers.with_settings(&options.write);
    headers.tagging = version_tags(src, bucket, record, version, headers.tag_count).await?;
    let no_content_type = headers.content_type.is_none();
    let request = dst
        .put_object()
        .bucket(&options.dst_bucket)
        .key(dst_key)
        .content_length(i64::try_from(version.size).unwrap_or(i64::MAX))
        .set_content_md5(content_md5.clone())
        .body(get.body);
    let request = match &checksum {
        Some(checksum) => checksum.apply(request),
        None => request,
    };
    let put = headers
        .apply_to_put(request)
        .customize()
        .config_override(once())
        .disable_payload_signing()
        .mutate_request(move |request| {
            if no_content_type {
                request.headers_mut().remove("content-type");
            }
        })
        .send()
        .await
        .context("PutObject", &options.dst_bucket, dst_key)?;
    let written = put.e_tag().unwrap_or_default().trim_matches('"');
    // The ETag is the MD5 of the bytes only when neither the request nor the answer
    // says SSE-KMS, DSSE-KMS or SSE-C: a bucket's default SSE-KMS shows only in the
    // answer. Otherwise the proof is the Content-MD5 (and checksum) S3 checked.
    let etag_is_md5 = !headers.etag_is_not_md5()
        && !super::transfer::stored_with_kms(put.server_side_encryption())
        && put.sse_customer_algorithm().is_none();
    if content_md5.is_some() && etag_is_md5 && written != etag {
        return Err(Error::Integrity {
            bucket: options.dst_bucket.clone(),
            key: dst_key.to_string(),
            message: format!(
                "the copy of version {} has ETag {written}, the source's is {etag}",
                version.version_id
            ),
        });
    }
    if let Some(sent) = &checksum
        && let Some(stored) = sent.in_put(&put)
        && stored != sent.value
    {
        return Err(Error::Integrity {
            bucket: options.dst_bucket.clone(),
            key: dst_key.to_string(),
            message: format!(
                "the copy of version {} has {} {stored}, the source's is {}",
                version.version_id,
                sent.algorithm.as_str(),
                sent.value
            ),
        });
    }
    sinks.count(&options.dst_bucket, counters::OBJECTS, 1)?;
    // Md5: S3 checked the bytes against the source's MD5 (Content-MD5); Checksum:
    // against the source's checksum.
    count_proof(record, version, proof, options, sinks)?;
    Ok(version.size)
}

/// Counts how a version written was proven to be the source's (counters
/// `ProvenByMd5`, `ProvenByChecksum` on the source bucket), as the copy does; a
/// version with neither proof (an SSE-KMS or SSE-C source without a checksum) was
/// still written, and is reported: a skip row `unverifiable_at_source` (counter
/// `UnverifiableAtSource`), so the run exits 3 rather than pass it in silence.
fn count_proof<W: Write, E: Write>(
    record: &VersionsRecord,
    version: &Version,
    proof: SourceProof,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<(), Error> {
    let counter = match proof {
        SourceProof::Md5 => counters::PROVEN_BY_MD5,
        SourceProof::Checksum => counters::PROVEN_BY_CHECKSUM,
        SourceProof::Unverifiable => {
            let row = Skipped {
                key: record.key.clone(),
                size: version.size,
                etag: version.etag.clone().unwrap_or_else(|| "-".to_string()),
                reason: SkipReason::UnverifiableAtSource,
                detail: format!(
                    "version {} copied, not proven: its source ETag is not an MD5 (SSE-KMS \
                     or SSE-C) and it has no checksum",
                    version.version_id
                ),
            };
            return skip::report(
                &mut **sinks.output.borrow_mut(),
                &mut **sinks.reporter.borrow_mut(),
                &options.src_bucket,
                &row,
            );
        }
    };
    sinks.count(&options.src_bucket, counter, 1)
}

/// The version's tags, as the `x-amz-tagging` header takes them, when it has any.
async fn version_tags(
    src: &Client,
    bucket: &str,
    record: &VersionsRecord,
    version: &Version,
    count: i32,
) -> Result<Option<String>, Error> {
    if count <= 0 {
        return Ok(None);
    }
    let tags = src
        .get_object_tagging()
        .bucket(bucket)
        .key(&record.key)
        .version_id(&version.version_id)
        .send()
        .await
        .context("GetObjectTagging", bucket, &record.key)?;
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let pairs: Vec<String> = tags
        .tag_set()
        .iter()
        .map(|tag| format!("{}={}", encode(tag.key()), encode(tag.value())))
        .collect();
    Ok((!pairs.is_empty()).then(|| pairs.join("&")))
}

/// The byte ranges of a multipart version's parts: from a HEAD of its first and last
/// parts when they make a uniform layout, else of every part.
async fn layout(
    src: &Client,
    bucket: &str,
    key: &str,
    version: &Version,
    count: u32,
) -> Result<Vec<ByteRange>, Error> {
    let head_part = |n: u32| async move {
        src.head_object()
            .bucket(bucket)
            .key(key)
            .version_id(&version.version_id)
            .part_number(i32::try_from(n).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| source_error(e, "HeadObject", (bucket, key, &version.version_id)))
    };
    let length = |h: &aws_sdk_s3::operation::head_object::HeadObjectOutput| {
        h.content_length()
            .and_then(|l| u64::try_from(l).ok())
            .unwrap_or(0)
    };
    let size = version.size;
    if size == 0 && count == 1 {
        // One empty part (ETag `…-1`, size 0): sent as one empty part, nothing read.
        return Ok(vec![ByteRange { first: 0, last: 0 }]);
    }
    let first = head_part(1).await?;
    let unknown = || {
        S3Context::new("HeadObject", bucket, key).source_moved(
            SkipReason::UnknownLayout,
            format!(
                "the part layout of version {} cannot be told, so its ETag could not be kept",
                version.version_id
            ),
            None,
        )
    };
    if first.parts_count().is_none() {
        // The server ignored partNumber: guess, the completion's ETag check decides.
        return guess_part_size(size, count)
            .map(|p| uniform_part_map(size, p))
            .ok_or_else(unknown);
    }
    let first_size = length(&first);
    if count == 1 {
        return Ok(uniform_part_map(size, size.max(1)));
    }
    let last_size = length(&head_part(count).await?);
    if first_size * u64::from(count - 1) + last_size == size
        && last_size <= first_size
        && last_size > 0
    {
        return Ok(uniform_part_map(size, first_size));
    }
    let mut sizes = vec![first_size];
    for n in 2..=count {
        sizes.push(length(&head_part(n).await?));
    }
    if sizes.iter().sum::<u64>() != size || sizes.contains(&0) {
        return Err(unknown());
    }
    Ok(part_map_from_sizes(&sizes))
}

/// Copies a multipart version by an upload of its own, completed here (see the
/// module); returns the bytes written.
async fn copy_multipart<W: Write, E: Write>(
    record: &VersionsRecord,
    version: &Version,
    etag: &str,
    (src, dst): (&Client, &Client),
    options: &ObjectCopyOptions,
    dst_key: &str,
    sinks: &Sinks<'_, W, E>,
) -> Result<u64, Error> {
    let (bucket, key) = (options.src_bucket.as_str(), record.key.as_str());
    let count = part_count_from_etag(etag).unwrap_or(1);
    let ranges = layout(src, bucket, key, version, count).await?;
    let head = src
        .head_object()
        .bucket(bucket)
        .key(key)
        .version_id(&version.version_id)
        // The version's checksum (algorithm, type, value), which proves the parts
        // when its ETag cannot.
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| source_error(e, "HeadObject", (bucket, key, &version.version_id)))?;
    let source_headers = ObjectHeaders::from_head(&head);
    let source_md5 = !source_headers.etag_is_not_md5();
    // An SSE-KMS or SSE-C version's ETag is not made of MD5s: its checksum, when it has
    // one that can prove a copy, is made again from the parts' (as the copy's
    // multipartlist and multipartcomplete do), with the upload of its algorithm and
    // type, so that S3 checks every part and the completion against it. A version
    // whose ETag is an MD5 carries its checksum too: a destination that encrypts with
    // SSE-KMS gives the copy another ETag, and a later run proves the copy the same by
    // that checksum (see `remaining`).
    let checksum = SourceChecksum::of_head(&head);
    let mut headers = source_headers.with_settings(&options.write);
    headers.tagging = version_tags(src, bucket, record, version, headers.tag_count).await?;
    let dst_bucket = options.dst_bucket.as_str();
    let created = headers
        .apply_to_create(
            dst.create_multipart_upload()
                .bucket(dst_bucket)
                .key(dst_key)
                .set_checksum_algorithm(checksum.as_ref().map(|c| c.algorithm.sdk()))
                .set_checksum_type(checksum.as_ref().map(|c| c.kind.sdk())),
        )
        .send()
        .await
        .context("CreateMultipartUpload", dst_bucket, dst_key)?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| {
            S3Context::new("CreateMultipartUpload", dst_bucket, dst_key)
                .problem("the answer has no UploadId")
        })?
        .to_string();
    // The run owns the key: any other upload of it in progress is an orphan (of an
    // attempt killed while it wrote this version, or of an earlier failed run), which
    // nothing would complete. A failure to remove them fails the version (its upload
    // is aborted below); the next try reads the history again.
    let uploaded = match crate::orphans::abort_others(dst, dst_bucket, dst_key, &upload_id).await {
        Ok(orphans) => {
            sinks.count(
                dst_bucket,
                counters::ABORTED_UPLOADS,
                u64::try_from(orphans.len()).unwrap_or(u64::MAX),
            )?;
            upload_parts(
                (record, version, etag),
                &ranges,
                (src, dst),
                options,
                (dst_key, &upload_id),
                (source_md5, checksum.as_ref()),
                sinks,
            )
            .await
        }
        Err(error) => Err(error),
    };
    let completed = match uploaded {
        Ok(parts) => {
            let request = dst
                .complete_multipart_upload()
                .bucket(dst_bucket)
                .key(dst_key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                );
            // A full-object checksum goes with the completion, which S3 checks.
            let request = match &checksum {
                Some(source) => source.on_completion(request),
                None => request,
            };
            request
                .customize()
                .config_override(once())
                .send()
                .await
                .context("CompleteMultipartUpload", dst_bucket, dst_key)
        }
        Err(error) => Err(error),
    };
    match completed {
        Ok(_) => {
            sinks.count(dst_bucket, counters::UPLOADS, 1)?;
            // Md5: the parts read made the source's ETag before the completion;
            // Checksum: their checksums made the source's.
            let proof = match (source_md5, &checksum) {
                (true, _) => SourceProof::Md5,
                (false, Some(_)) => SourceProof::Checksum,
                (false, None) => SourceProof::Unverifiable,
            };
            count_proof(record, version, proof, options, sinks)?;
            Ok(version.size)
        }
        Err(error) => {
            // Nothing of the version is visible: its upload goes (best effort; a lost
            // completion's upload is gone already).
            let _ = dst
                .abort_multipart_upload()
                .bucket(dst_bucket)
                .key(dst_key)
                .upload_id(&upload_id)
                .send()
                .await;
            Err(error)
        }
    }
}

/// Reads part `number` (`range`) of a version: a ranged GET of that version, pinned to
/// its ETag, which must give exactly the range's bytes.
async fn read_part(
    src: &Client,
    (bucket, key): (&str, &str),
    version: &Version,
    etag: &str,
    (range, number): (ByteRange, i32),
) -> Result<Vec<u8>, Error> {
    let get = src
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(&version.version_id)
        .if_match(format!("\"{etag}\""))
        .range(range.header())
        .send()
        .await
        .map_err(|e| source_error(e, "GetObject", (bucket, key, &version.version_id)))?;
    let bytes = get
        .body
        .collect()
        .await
        .map_err(|e| {
            S3Context::new("GetObject", bucket, key).explained(
                format!("reading part {number} of version {}", version.version_id),
                e,
            )
        })?
        .to_vec();
    if bytes.len() as u64 != range.len() {
        return Err(Error::Integrity {
            bucket: bucket.to_string(),
            key: key.to_string(),
            message: format!(
                "part {number} of version {}: read {} bytes, expected {}",
                version.version_id,
                bytes.len(),
                range.len()
            ),
        });
    }
    Ok(bytes)
}

/// Uploads a multipart version's parts, each read by a ranged GET of the version and
/// sent with its Content-MD5 and, with the source's `checksum`, its checksum of that
/// algorithm; checks that they make the source's ETag (`source_md5`) or checksum.
async fn upload_parts<W: Write, E: Write>(
    (record, version, etag): (&VersionsRecord, &Version, &str),
    ranges: &[ByteRange],
    (src, dst): (&Client, &Client),
    options: &ObjectCopyOptions,
    (dst_key, upload_id): (&str, &str),
    (source_md5, checksum): (bool, Option<&SourceChecksum>),
    sinks: &Sinks<'_, W, E>,
) -> Result<Vec<CompletedPart>, Error> {
    let (bucket, key) = (options.src_bucket.as_str(), record.key.as_str());
    let mut parts = Vec::with_capacity(ranges.len());
    let mut digests = Vec::with_capacity(ranges.len());
    // Each part's checksum (base64) and length, when the source has a checksum.
    let mut checksums: Vec<(String, u64)> = Vec::new();
    for (index, range) in ranges.iter().enumerate() {
        let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
        // Held until the part is sent: the parts in memory stay within maxtmpsize (a
        // part larger than all of it waits for all of it).
        let share = sinks.memory.reserve(range.len()).await?;
        // The one empty part of an empty upload has no byte to read.
        let bytes = if version.size == 0 {
            Vec::new()
        } else {
            read_part(src, (bucket, key), version, etag, (*range, number)).await?
        };
        let md5 = crate::multipart::md5(&bytes);
        let length = bytes.len() as u64;
        let part_checksum =
            checksum.map(|c| (c.algorithm, checksum::encode(&c.algorithm.digest(&bytes))));
        let request = dst
            .upload_part()
            .bucket(&options.dst_bucket)
            .key(dst_key)
            .upload_id(upload_id)
            .part_number(number)
            .content_md5(base64::engine::general_purpose::STANDARD.encode(md5))
            .content_length(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
            .body(ByteStream::from(bytes));
        // S3 checks the part against its checksum and keeps it for the completion.
        let request = match &part_checksum {
            Some((algorithm, value)) => with_part_checksum(request, *algorithm, value.clone()),
            None => request,
        };
        let part = request
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .context("UploadPart", &options.dst_bucket, dst_key)?;
        drop(share);
        sinks.count(&options.dst_bucket, counters::PARTS, 1)?;
        let completed = CompletedPart::builder()
            .part_number(number)
            .set_e_tag(part.e_tag().map(str::to_string));
        // S3 requires every part's checksum in an upload created with an algorithm.
        let completed = match part_checksum {
            Some((algorithm, value)) => {
                checksums.push((value.clone(), length));
                crate::task::multipartcomplete::with_checksum(completed, algorithm, value)
            }
            None => completed,
        };
        parts.push(completed.build());
        digests.push(md5);
    }
    if let Some(source) = checksum {
        let values: Vec<(&str, u64)> = checksums.iter().map(|(v, l)| (v.as_str(), *l)).collect();
        let made = checksum::combine(source.algorithm, source.kind, &values);
        if !made.as_deref().is_some_and(|made| source.matches(made)) {
            let message = format!(
                "the parts read make {} {}, version {}'s is {}",
                source.algorithm.as_str(),
                made.as_deref().unwrap_or("nothing"),
                version.version_id,
                source.value
            );
            // A composite is made of the parts as they were uploaded: a layout told
            // wrong makes another value. A full-object CRC does not depend on the
            // layout: the bytes read were not the source's.
            return Err(match source.kind {
                Kind::Composite => S3Context::new("GetObject", bucket, key).source_moved(
                    SkipReason::UnknownLayout,
                    format!("{message}: its part layout was not told right"),
                    None,
                ),
                Kind::FullObject => Error::Integrity {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    message,
                },
            });
        }
    }
    let made = crate::multipart::multipart_etag(&digests);
    if source_md5 && made != etag {
        return Err(S3Context::new("GetObject", bucket, key).source_moved(
            SkipReason::UnknownLayout,
            format!(
                "the parts read make ETag {made}, version {}'s is {etag}: its part layout \
                 was not told right",
                version.version_id
            ),
            None,
        ));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rows_round_trip_and_other_lines_are_not_rows() {
        let row = VersionRow {
            key: "a\tb".into(),
            version_id: "v/1+x".into(),
            etag: None,
            size: 0,
            outcome: outcome::COPIED.into(),
        };
        assert_eq!(VersionRow::parse(&row.to_line()), Some(row));
        assert_eq!(
            VersionRow::parse("k\tetag\t1\tskipped:vanished:gone"),
            None,
            "a skip row is no version row"
        );
    }
}
