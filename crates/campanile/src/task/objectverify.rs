//! objectverify (mapper): compares each listed source object with its copy, for
//! `campanile verify`.
//!
//! For each record of the source listing (a skip row of an archived object too: a HEAD
//! needs no restore), both sides are asked with one HEAD each, in checksum mode: the
//! source key, and the destination key it maps to (`--src-prefix/--dst-prefix`,
//! [`crate::select::KeyMap`]). The content is compared by the strongest proof both
//! sides offer ([`compare_content`]): the sizes first; then the ETags when both are
//! MD5s of the bytes (not SSE-KMS, not SSE-C: [`ObjectHeaders::etag_is_not_md5`]) and
//! of the same shape (two single-PUT ETags, or two multipart ETags, equal only with the
//! same parts); then a checksum both sides have with the same algorithm (a full-object
//! one, or two composite ones of the same part count). What none of these can decide is
//! `unverifiable`, with its reason. The headers a copy carries over
//! ([`crate::headers`]) are compared next: Content-Type, Cache-Control,
//! Content-Encoding, Content-Disposition, Content-Language, Expires, the user metadata,
//! the website redirect, the storage class (STANDARD when S3 names none; the copies'
//! class when sync was given one, `--storage-class`) and the tags (one
//! GetObjectTagging per side, only when a side counts tags). Encryption and object-lock
//! settings are not compared: a copy may rightly differ there (another KMS key,
//! another bucket's lock).
//!
//! Each key that is not identical becomes one JSON line on stdout ([`ReportRow`]),
//! with the first kind that applies: `missing` (no destination object), `changed`
//! (the content differs), `metadata_drift` (same content, some header differs),
//! `unverifiable` (the content could not be compared), `extra` (at the destination
//! only: a source object gone since the listing, or with `--extra`). Identical keys
//! write nothing. Every key is counted (group [`GROUP`]: `Identical` or its kind, and
//! `ProvenByEtag` / `ProvenByChecksum`).
//!
//! `--extra` reads the diff of the destination listing against the source listing
//! (rows `key etag size mtime srcEtag`, keys in the source's key space): a row whose
//! `srcEtag` is `-` is a destination key the source lacks, reported `extra` without a
//! request; the others name keys both sides have, which the source's step compares. A
//! skip row there (an archived destination object) carries no `srcEtag`, so the source
//! is asked with one HEAD.
//!
//! The task writes to neither bucket: a retried attempt repeats its HEADs and writes
//! the same rows.

use std::io::{BufRead, Write};

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{ChecksumMode, StorageClass};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::checksum::{Algorithm, Kind as ChecksumKind};
use crate::error::{Error, S3Context};
use crate::headers::ObjectHeaders;
use crate::input::checked_records;
use crate::multipart::part_count_from_etag;
use crate::record::{Destination, ListingRecord, RecordError, format_mtime};
use crate::reporter::Reporter;
use crate::s3::{Client, http_status};
use crate::select::KeyMap;
use crate::skip::{self, Skipped};
use crate::sse_c::{CustomerKey, SseCKeys, WithCustomerKey};
use crate::stream::StreamIndex;
use crate::tuning::Tuning;

/// Counter group of objectverify's counters.
pub const GROUP: &str = "Verify";

/// Counter of the keys found identical.
pub const IDENTICAL: &str = "Identical";

/// Counter of the identical keys whose content the ETags proved.
pub const PROVEN_BY_ETAG: &str = "ProvenByEtag";

/// Counter of the identical keys whose content a checksum proved.
pub const PROVEN_BY_CHECKSUM: &str = "ProvenByChecksum";

/// Counter of the listed keys gone from both sides since the listing (nothing to
/// compare, nothing to report).
pub const GONE: &str = "GoneFromBoth";

/// Options of objectverify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Source bucket.
    pub src_bucket: String,
    /// Destination bucket.
    pub dst_bucket: String,
    /// Whether input lines carry Hadoop's offset field.
    pub stream_index: StreamIndex,
    /// Objects compared at once.
    pub concurrency: usize,
    /// The destination key of each record's (source) key.
    pub keys: KeyMap,
    /// Read the destination-side diff and report the keys the source lacks.
    pub extra: bool,
    /// The storage class the copies were written with, instead of the source's.
    pub storage_class: Option<String>,
    /// The SSE-C keys of the source objects and of the copies.
    pub sse_c: SseCKeys,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            src_bucket: String::new(),
            dst_bucket: String::new(),
            stream_index: StreamIndex::SHELL,
            concurrency: Tuning::DEFAULT.multipartlist_concurrency,
            keys: KeyMap::default(),
            extra: false,
            storage_class: None,
            sse_c: SseCKeys::default(),
        }
    }
}

/// What a report row says of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// At the source, not at the destination.
    Missing,
    /// On both sides, with another content (size, ETag or checksum).
    Changed,
    /// Same content, but a content header, the user metadata, the storage class or
    /// the tags differ.
    MetadataDrift,
    /// On both sides, but no proof both sides offer can tell whether the content is the
    /// same (the reason says why).
    Unverifiable,
    /// At the destination, not at the source.
    Extra,
}

impl ReportKind {
    /// Every kind, in report order.
    pub const ALL: [ReportKind; 5] = [
        ReportKind::Missing,
        ReportKind::Changed,
        ReportKind::MetadataDrift,
        ReportKind::Unverifiable,
        ReportKind::Extra,
    ];

    /// The name the report writes.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Missing => "missing",
            ReportKind::Changed => "changed",
            ReportKind::MetadataDrift => "metadata_drift",
            ReportKind::Unverifiable => "unverifiable",
            ReportKind::Extra => "extra",
        }
    }

    /// The counter of its keys (group [`GROUP`]).
    pub fn counter(self) -> &'static str {
        match self {
            ReportKind::Missing => "Missing",
            ReportKind::Changed => "Changed",
            ReportKind::MetadataDrift => "MetadataDrift",
            ReportKind::Unverifiable => "Unverifiable",
            ReportKind::Extra => "Extra",
        }
    }

    /// Whether `sync --input-report` copies the key (the copy makes it identical).
    pub fn copied_by_sync(self) -> bool {
        matches!(
            self,
            ReportKind::Missing | ReportKind::Changed | ReportKind::MetadataDrift
        )
    }
}

/// One side's object, as its HEAD (or the listing) showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectState {
    /// The ETag, without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modified, `YYYY-MM-DD HH:MM:SS` UTC (the listing's format).
    pub mtime: String,
}

/// One row of the verify report: a key that is not identical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The source key (for `extra`, the source key the destination key stands for).
    pub key: String,
    /// The destination key it maps to.
    pub dst_key: String,
    /// What differs.
    pub kind: ReportKind,
    /// Why, for a person.
    pub reason: String,
    /// For `metadata_drift`: the fields that differ (`content_type`, `metadata`,
    /// `storage_class`, `tags`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The source object (absent for `extra`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<ObjectState>,
    /// The destination object (absent for `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<ObjectState>,
}

impl ReportRow {
    /// The row as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a row back. Hadoop Streaming may end a map-only output line that holds no
    /// TAB with one: whitespace around the JSON is ignored.
    pub fn parse(line: &str) -> Result<ReportRow, RecordError> {
        serde_json::from_str(line.trim())
            .map_err(|e| RecordError(format!("not a verify report row: {e}")))
    }

    /// The source listing record a copy of this key takes (`sync --input-report`),
    /// when the row has the source object.
    pub fn listing_record(&self) -> Option<ListingRecord> {
        let src = self.src.as_ref()?;
        Some(ListingRecord {
            key: self.key.clone(),
            etag: src.etag.clone(),
            size: src.size,
            mtime: src.mtime.clone(),
            destination: None,
        })
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifySummary {
    /// Keys found identical.
    pub identical: u64,
    /// Report rows written.
    pub rows: u64,
}

/// One input line: a listing record, or a skip row (an archived object, which a HEAD
/// can still compare).
enum Line {
    Record(ListingRecord),
    Skipped(Skipped),
}

/// What one input line became.
enum Verdict {
    Identical(Proof),
    Row(ReportRow),
    /// Nothing to say: a key gone from both sides, or (`--extra`) a key the source has.
    Nothing(Option<&'static str>),
}

/// What proved a content identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    Etag,
    Checksum,
}

/// Runs objectverify over `input`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    src: &Client,
    dst: &Client,
    options: &VerifyOptions,
) -> Result<VerifySummary, Error> {
    let extra = options.extra;
    let records = checked_records(input, options.stream_index, move |line: &str| {
        if skip::is_row(line) {
            return Skipped::from_row(line).map(Line::Skipped);
        }
        let record = ListingRecord::parse(line)?;
        if extra && record.destination.is_none() {
            return Err(RecordError(
                "field 5 (srcEtag) is missing: objectverify --extra reads the diff of the destination listing against the source's".to_string(),
            ));
        }
        Ok(Line::Record(record))
    })?;
    let mut summary = VerifySummary::default();
    let mut verdicts = futures::stream::iter(records)
        .map(|item| async move {
            let line = item?;
            let key = match &line {
                Line::Record(record) => record.key.clone(),
                Line::Skipped(row) => row.key.clone(),
            };
            let span = crate::logging::record_span(&key, None);
            async {
                match (line, options.extra) {
                    (Line::Record(record), false) => {
                        verify_object(&record, src, dst, options).await
                    }
                    (Line::Skipped(row), false) => {
                        verify_object(&skipped_record(&row), src, dst, options).await
                    }
                    (Line::Record(record), true) => Ok(extra_row(&record, options)),
                    (Line::Skipped(row), true) => extra_skip_row(&row, src, options).await,
                }
            }
            .instrument(span)
            .await
        })
        .buffered(options.concurrency.max(1));
    while let Some(verdict) = verdicts.next().await {
        match verdict? {
            Verdict::Identical(proof) => {
                summary.identical += 1;
                reporter.counter(GROUP, IDENTICAL, 1)?;
                let proof = match proof {
                    Proof::Etag => PROVEN_BY_ETAG,
                    Proof::Checksum => PROVEN_BY_CHECKSUM,
                };
                reporter.counter(GROUP, proof, 1)?;
            }
            Verdict::Row(row) => {
                writeln!(output, "{}", row.to_json_line())
                    .map_err(|e| Error::io("writing stdout", e))?;
                summary.rows += 1;
                reporter.counter(GROUP, row.kind.counter(), 1)?;
            }
            Verdict::Nothing(counter) => {
                if let Some(counter) = counter {
                    reporter.counter(GROUP, counter, 1)?;
                }
                continue;
            }
        }
        reporter.counter(GROUP, crate::reporter::counters::OBJECTS, 1)?;
    }
    drop(verdicts);
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    reporter.finish()?;
    Ok(summary)
}

/// The listing record of a skip row (an archived object: a HEAD still answers).
fn skipped_record(row: &Skipped) -> ListingRecord {
    ListingRecord {
        key: row.key.clone(),
        etag: row.etag.clone(),
        size: row.size,
        mtime: String::new(),
        destination: None,
    }
}

/// The state of a listing record.
fn listed_state(record: &ListingRecord) -> ObjectState {
    ObjectState {
        etag: record.etag.clone(),
        size: record.size,
        mtime: record.mtime.clone(),
    }
}

/// `--extra`: a destination row the source lacks is an extra key.
fn extra_row(record: &ListingRecord, options: &VerifyOptions) -> Verdict {
    match record.destination {
        Some(Destination::Absent) => Verdict::Row(ReportRow {
            key: record.key.clone(),
            dst_key: options.keys.dst_key(&record.key),
            kind: ReportKind::Extra,
            reason: "at the destination only: the source listing has no such key".to_string(),
            fields: Vec::new(),
            src: None,
            dst: Some(listed_state(record)),
        }),
        // Both sides have it: the source listing's step compares it.
        _ => Verdict::Nothing(None),
    }
}

/// `--extra`: an archived destination object, whose skip row tells nothing of the
/// source: extra when the source has no such key.
async fn extra_skip_row(
    row: &Skipped,
    src: &Client,
    options: &VerifyOptions,
) -> Result<Verdict, Error> {
    let head = head(
        src,
        &options.src_bucket,
        &row.key,
        options.sse_c.src.as_ref(),
    )
    .await?;
    if head.is_some() {
        return Ok(Verdict::Nothing(None));
    }
    Ok(Verdict::Row(ReportRow {
        key: row.key.clone(),
        dst_key: options.keys.dst_key(&row.key),
        kind: ReportKind::Extra,
        reason: format!(
            "at the destination only ({}: {}): the source has no such key",
            row.reason, row.detail
        ),
        fields: Vec::new(),
        src: None,
        dst: Some(ObjectState {
            etag: row.etag.clone(),
            size: row.size,
            mtime: String::new(),
        }),
    }))
}

/// HEAD in checksum mode; `None` when there is no such key (404).
async fn head(
    client: &Client,
    bucket: &str,
    key: &str,
    customer_key: Option<&CustomerKey>,
) -> Result<Option<HeadObjectOutput>, Error> {
    let result = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .sse_c(customer_key)
        .send()
        .await;
    match result {
        Ok(head) => Ok(Some(head)),
        Err(e) if http_status(&e) == Some(404) => Ok(None),
        Err(e) => Err(S3Context::new("HeadObject", bucket, key).sdk(e)),
    }
}

/// The state a HEAD shows.
fn head_state(head: &HeadObjectOutput) -> ObjectState {
    ObjectState {
        etag: head
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_string(),
        size: head
            .content_length()
            .and_then(|l| u64::try_from(l).ok())
            .unwrap_or(0),
        mtime: head
            .last_modified()
            .map(|at| format_mtime(at.secs()))
            .unwrap_or_default(),
    }
}

/// Compares one listed source object with its copy.
async fn verify_object(
    record: &ListingRecord,
    src: &Client,
    dst: &Client,
    options: &VerifyOptions,
) -> Result<Verdict, Error> {
    let dst_key = options.keys.dst_key(&record.key);
    let (src_head, dst_head) = futures::try_join!(
        head(
            src,
            &options.src_bucket,
            &record.key,
            options.sse_c.src.as_ref()
        ),
        head(
            dst,
            &options.dst_bucket,
            &dst_key,
            options.sse_c.dst.as_ref()
        ),
    )?;
    let row = |kind,
               reason: String,
               fields,
               src: Option<&HeadObjectOutput>,
               dst: Option<&HeadObjectOutput>| ReportRow {
        key: record.key.clone(),
        dst_key: dst_key.clone(),
        kind,
        reason,
        fields,
        src: src.map(head_state),
        dst: dst.map(head_state),
    };
    let (src_head, dst_head) = match (src_head, dst_head) {
        (None, None) => return Ok(Verdict::Nothing(Some(GONE))),
        (None, Some(dst_head)) => {
            return Ok(Verdict::Row(row(
                ReportKind::Extra,
                "at the destination only: the source object is gone since it was listed"
                    .to_string(),
                Vec::new(),
                None,
                Some(&dst_head),
            )));
        }
        (Some(src_head), None) => {
            return Ok(Verdict::Row(row(
                ReportKind::Missing,
                "the destination has no such key".to_string(),
                Vec::new(),
                Some(&src_head),
                None,
            )));
        }
        (Some(s), Some(d)) => (s, d),
    };
    let content = compare_content(&Content::of(&src_head), &Content::of(&dst_head));
    if let Compared::Differs(reason) = content {
        return Ok(Verdict::Row(row(
            ReportKind::Changed,
            reason,
            Vec::new(),
            Some(&src_head),
            Some(&dst_head),
        )));
    }
    let mut src_headers = ObjectHeaders::from_head(&src_head);
    let mut dst_headers = ObjectHeaders::from_head(&dst_head);
    if src_headers.tag_count > 0 || dst_headers.tag_count > 0 {
        src_headers
            .read_tags(src, &options.src_bucket, &record.key)
            .await?;
        dst_headers
            .read_tags(dst, &options.dst_bucket, &dst_key)
            .await?;
    }
    let fields = drifted_fields(&src_headers, &dst_headers, options.storage_class.as_deref());
    let verdict = match (content, fields.is_empty()) {
        (Compared::Proven(proof), true) => Verdict::Identical(proof),
        (Compared::Undecided(why), true) => Verdict::Row(row(
            ReportKind::Unverifiable,
            why,
            Vec::new(),
            Some(&src_head),
            Some(&dst_head),
        )),
        (content, false) => {
            let reason = match content {
                Compared::Undecided(why) => format!(
                    "differs in {}; the content is unverifiable: {why}",
                    fields.join(", ")
                ),
                _ => format!("same content; differs in {}", fields.join(", ")),
            };
            Verdict::Row(row(
                ReportKind::MetadataDrift,
                reason,
                fields,
                Some(&src_head),
                Some(&dst_head),
            ))
        }
        // Returned above.
        (Compared::Differs(reason), true) => Verdict::Row(row(
            ReportKind::Changed,
            reason,
            Vec::new(),
            Some(&src_head),
            Some(&dst_head),
        )),
    };
    Ok(verdict)
}

/// What a side's HEAD tells of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Content {
    /// The ETag, without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag is made of MD5s of the bytes (not SSE-KMS, not SSE-C).
    pub md5_etag: bool,
    /// The checksums the HEAD shows: algorithm, type and value.
    pub checksums: Vec<(Algorithm, ChecksumKind, String)>,
}

impl Content {
    /// From a HEAD in checksum mode.
    fn of(head: &HeadObjectOutput) -> Content {
        let state = head_state(head);
        let values = crate::checksum::head_values(head);
        let declared = head.checksum_type().and_then(|kind| match kind {
            aws_sdk_s3::types::ChecksumType::Composite => Some(ChecksumKind::Composite),
            aws_sdk_s3::types::ChecksumType::FullObject => Some(ChecksumKind::FullObject),
            _ => None,
        });
        let single_part = part_count_from_etag(&state.etag).is_none();
        let checksums = Algorithm::ALL
            .into_iter()
            .filter_map(|algorithm| {
                let value = algorithm.pick(values)?;
                // Without a declared type: `-N` is composite, and a single-PUT
                // object's checksum is of its whole bytes; a multipart value without
                // either (moto's composite) tells nothing comparable.
                let kind = match declared {
                    Some(kind) => kind,
                    None if value.contains('-') => ChecksumKind::Composite,
                    None if single_part => ChecksumKind::FullObject,
                    None => return None,
                };
                Some((algorithm, kind, value.to_string()))
            })
            .collect();
        Content {
            md5_etag: !ObjectHeaders::from_head(head).etag_is_not_md5(),
            etag: state.etag,
            size: state.size,
            checksums,
        }
    }
}

/// How two contents compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Compared {
    /// The same bytes, by this proof.
    Proven(Proof),
    /// Other bytes: why.
    Differs(String),
    /// No proof both sides offer can tell: why.
    Undecided(String),
}

/// The part count of a composite checksum value (`<base64>-N`), if it has one.
fn composite_parts(value: &str) -> Option<&str> {
    value.split_once('-').map(|(_, n)| n)
}

/// Compares two contents by the strongest proof both offer: size, then MD5 ETags of
/// the same shape, then a checksum of the same algorithm (full-object, or composite of
/// the same part count).
fn compare_content(src: &Content, dst: &Content) -> Compared {
    if src.size != dst.size {
        return Compared::Differs(format!(
            "size differs (source {}, destination {})",
            src.size, dst.size
        ));
    }
    let src_parts = part_count_from_etag(&src.etag);
    let dst_parts = part_count_from_etag(&dst.etag);
    if src.md5_etag && dst.md5_etag {
        if src.etag == dst.etag {
            return Compared::Proven(Proof::Etag);
        }
        if src_parts.is_none() && dst_parts.is_none() {
            return Compared::Differs(format!(
                "ETag (MD5 of the bytes) differs (source {}, destination {})",
                src.etag, dst.etag
            ));
        }
    }
    for (algorithm, kind, value) in &src.checksums {
        let theirs = dst
            .checksums
            .iter()
            .find(|(a, k, _)| a == algorithm && k == kind);
        let Some((_, _, other)) = theirs else {
            continue;
        };
        let name = format!("{} {}", algorithm.as_str(), kind.as_str());
        match kind {
            ChecksumKind::FullObject if value == other => {
                return Compared::Proven(Proof::Checksum);
            }
            ChecksumKind::FullObject => {
                return Compared::Differs(format!(
                    "{name} checksum differs (source {value}, destination {other})"
                ));
            }
            ChecksumKind::Composite => {
                let digest = |v: &str| v.split_once('-').map_or(v, |(d, _)| d).to_string();
                let same_parts = composite_parts(value) == composite_parts(other);
                if same_parts && digest(value) == digest(other) {
                    return Compared::Proven(Proof::Checksum);
                }
            }
        }
    }
    let why = if !src.md5_etag || !dst.md5_etag {
        let side = match (src.md5_etag, dst.md5_etag) {
            (false, false) => "neither side's ETag is",
            (false, true) => "the source's ETag is not",
            _ => "the destination's ETag is not",
        };
        format!(
            "{side} an MD5 of the bytes (SSE-KMS or SSE-C), and the two sides share no comparable checksum"
        )
    } else {
        format!(
            "the ETags differ in their part layout (source {}, destination {}), and the two sides share no comparable checksum",
            src.etag, dst.etag
        )
    };
    Compared::Undecided(why)
}

/// The headers that differ between a source and its copy, by their report names.
/// `storage_class`: the class the copies were written with, if not the source's.
fn drifted_fields(
    src: &ObjectHeaders,
    dst: &ObjectHeaders,
    storage_class: Option<&str>,
) -> Vec<String> {
    let mut fields = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            fields.push(name.to_string());
        }
    };
    check("content_type", src.content_type != dst.content_type);
    check("cache_control", src.cache_control != dst.cache_control);
    check(
        "content_encoding",
        src.content_encoding != dst.content_encoding,
    );
    check(
        "content_disposition",
        src.content_disposition != dst.content_disposition,
    );
    check(
        "content_language",
        src.content_language != dst.content_language,
    );
    check("expires", src.expires != dst.expires);
    check("metadata", src.metadata != dst.metadata);
    check(
        "website_redirect_location",
        src.website_redirect_location != dst.website_redirect_location,
    );
    // S3 names the class only when it is not STANDARD.
    let class =
        |c: Option<&StorageClass>| c.map_or("STANDARD".to_string(), |c| c.as_str().to_string());
    let expected = storage_class.map_or_else(|| class(src.storage_class.as_ref()), str::to_string);
    check(
        "storage_class",
        expected != class(dst.storage_class.as_ref()),
    );
    check("tags", tag_set(src) != tag_set(dst));
    fields
}

/// The tags as a sorted list of `k=v` pairs (the order S3 gives them is not theirs).
fn tag_set(headers: &ObjectHeaders) -> Vec<String> {
    let mut pairs: Vec<String> = headers
        .tagging
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(str::to_string)
        .collect();
    pairs.sort();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(etag: &str, size: u64, md5: bool) -> Content {
        Content {
            etag: etag.into(),
            size,
            md5_etag: md5,
            checksums: Vec::new(),
        }
    }

    const A: &str = "5b19f22219f806ac76668afa30063916";
    const B: &str = "82f06cf999000ddd187a73ed924d3301";

    #[test]
    fn sizes_then_md5_etags_decide_first() {
        assert!(matches!(
            compare_content(&content(A, 1, true), &content(A, 2, true)),
            Compared::Differs(r) if r.contains("size")
        ));
        assert_eq!(
            compare_content(&content(A, 1, true), &content(A, 1, true)),
            Compared::Proven(Proof::Etag)
        );
        assert!(matches!(
            compare_content(&content(A, 1, true), &content(B, 1, true)),
            Compared::Differs(r) if r.contains("MD5")
        ));
        // Two multipart ETags that differ may be one content cut another way.
        let a3 = format!("{A}-3");
        let b2 = format!("{B}-2");
        assert!(matches!(
            compare_content(&content(&a3, 9, true), &content(&b2, 9, true)),
            Compared::Undecided(r) if r.contains("part layout")
        ));
        // SSE-KMS: equal ETags prove nothing, different ones nothing either.
        assert!(matches!(
            compare_content(&content(A, 1, false), &content(A, 1, true)),
            Compared::Undecided(r) if r.contains("source's ETag is not")
        ));
    }

    #[test]
    fn checksums_decide_where_etags_cannot() {
        let mut src = content(&format!("{A}-3"), 9, true);
        let mut dst = content(&format!("{B}-2"), 9, true);
        src.checksums = vec![(
            Algorithm::Crc64Nvme,
            ChecksumKind::FullObject,
            "AAAAAAAAAAA=".into(),
        )];
        dst.checksums = src.checksums.clone();
        assert_eq!(
            compare_content(&src, &dst),
            Compared::Proven(Proof::Checksum)
        );
        dst.checksums[0].2 = "AAAAAAAAAAE=".into();
        assert!(matches!(
            compare_content(&src, &dst),
            Compared::Differs(r) if r.contains("CRC64NVME FULL_OBJECT")
        ));
        // Composites of other part counts are not comparable.
        src.checksums = vec![(
            Algorithm::Crc32,
            ChecksumKind::Composite,
            "AAAAAA==-3".into(),
        )];
        dst.checksums = vec![(
            Algorithm::Crc32,
            ChecksumKind::Composite,
            "AAAAAA==-2".into(),
        )];
        assert!(matches!(
            compare_content(&src, &dst),
            Compared::Undecided(_)
        ));
        dst.checksums = src.checksums.clone();
        assert_eq!(
            compare_content(&src, &dst),
            Compared::Proven(Proof::Checksum)
        );
    }

    #[test]
    fn drift_names_each_field_and_the_expected_class() {
        let src = ObjectHeaders {
            content_type: Some("text/plain".into()),
            tagging: Some("b=2&a=1".into()),
            ..Default::default()
        };
        let mut dst = src.clone();
        dst.tagging = Some("a=1&b=2".into());
        assert!(drifted_fields(&src, &dst, None).is_empty());
        dst.content_type = Some("text/html".into());
        dst.metadata.insert("k".into(), "v".into());
        dst.storage_class = Some(StorageClass::StandardIa);
        assert_eq!(
            drifted_fields(&src, &dst, None),
            ["content_type", "metadata", "storage_class"]
        );
        assert_eq!(
            drifted_fields(&src, &dst, Some("STANDARD_IA")),
            ["content_type", "metadata"]
        );
    }

    #[test]
    fn rows_round_trip_and_give_the_copys_listing_record() {
        let row = ReportRow {
            key: "a\tb".into(),
            dst_key: "x/a\tb".into(),
            kind: ReportKind::MetadataDrift,
            reason: "same content; differs in content_type".into(),
            fields: vec!["content_type".into()],
            src: Some(ObjectState {
                etag: A.into(),
                size: 3,
                mtime: "2026-11-25 04:03:18".into(),
            }),
            dst: None,
        };
        let line = row.to_json_line();
        assert!(!line.contains('\t'), "{line}");
        assert_eq!(ReportRow::parse(&format!("{line}\t")).expect("row"), row);
        let record = row.listing_record().expect("record");
        assert_eq!(
            record.to_line(),
            format!("a\\tb\t{A}\t3\t2026-11-25 04:03:18")
        );
        assert!(ReportRow::parse("{}").is_err());
    }
}
