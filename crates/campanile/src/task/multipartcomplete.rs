//! multipartcomplete (reducer): completes the multipart uploads objectcopy filled.
//!
//! Every input line is echoed to stdout, so the job output is the part map of every
//! copied multipart object. Lines are grouped by (key, upload id); the number of parts
//! comes from the source ETag (`…-N`). Every line is checked before any upload is
//! completed (the lines are kept aside meanwhile, in a temporary file past 1 MiB, not in
//! memory: one reducer may get the parts of a whole bucket), so a bad line completes
//! nothing. The lines are then read in key order, as the shuffle sorts them (a shell
//! pipeline's are sorted here first, with the external sort), so that the task holds
//! the parts of one key at a time, whatever the size of its input; a group is completed
//! as soon as its last part arrives, and the uploads of a key that still miss parts
//! when the next key starts are aborted and reported. Before completing, the task
//! checks that parts 1..N are all there and cover the object without gaps, and computes the ETag
//! the upload will get from the part ETags (the MD5s objectcopy verified, or, without
//! the client's MD5, the server's MD5s of parts whose checksum it checked): when it
//! differs from the source's, the upload is aborted rather than completed, so no object
//! with a different layout ever becomes visible; the mismatch is reported (status,
//! counter `EtagMismatch`) and fails the task. CompleteMultipartUpload is tried up to 3
//! times with a random pause (a constant [`Backoff`]); `NoSuchUpload` on a retry whose object already carries the
//! source ETag counts as done (an earlier attempt completed it).
//!
//! SSE-KMS (the `etags` field of the part lines, [`crate::record::PartEtags`]): the ETag
//! is computed from the parts' MD5s, which are their ETags or, for an SSE-KMS
//! destination, the MD5s objectcopy computed (given in that field), and compared with
//! the source's before completing only when the source's is made of MD5s; the
//! completed ETag is compared only when the CompleteMultipartUpload answer does not say
//! `aws:kms` (its ETag is then not an MD5). An object proven against its source's ETag
//! counts `ProvenByMd5`; one whose source's ETag is not made of MD5s (SSE-KMS source)
//! is proven by its checksum when it has one (below), else completed from parts each
//! checked by its Content-MD5, counted `UnverifiableAtSource` and reported (a skip row
//! `unverifiable_at_source`, so the run exits 3), not aborted.
//!
//! Checksums (the `checksum` field of the part lines, [`crate::checksum`]): when every
//! part of an upload carries the source's checksum and the part's (computed by
//! objectcopy from the bytes it read), the source's value is recomputed from the parts'
//! (composite or full-object) before completing; a difference aborts the upload
//! (status, counter `ChecksumMismatch`) and fails the task, as an ETag mismatch does.
//! The completion carries the parts' checksums (S3 requires them in an upload created
//! with an algorithm) and, for a full-object checksum, the source's value and type,
//! which S3 checks; a checksum in its answer must be the source's. An object so proven
//! counts `ProvenByChecksum`, unless its ETag proved it already (`ProvenByMd5`).
//!
//! SSE-C: with `--dst-sse-c-key-file` (the key objectcopy wrote the parts with), the
//! completion and the HEADs of the destination carry the key, and the completed ETag
//! is not compared (an SSE-C object's ETag is not made of MD5s), as for SSE-KMS.
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

use crate::checksum::{Algorithm, PartChecksum, SourceChecksum};
use crate::error::{Error, S3Context, S3ResultExt};
use crate::input::{Spool, SpooledLines};
use crate::multipart::{multipart_etag, parse_md5_hex, part_count_from_etag};
use crate::plan::local::sort::ExternalSorter;
use crate::record::{CopiedPartRecord, Destination, escape_key};
use crate::reporter::{Reporter, counters};
use crate::retry::{Backoff, Failure, retry};
use crate::s3::{Client, describe_error, http_status};
use crate::skip::{SkipReason, Skipped};
use crate::sse_c::{CustomerKey, WithCustomerKey};
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
    /// The SSE-C key the copies were written with (`--dst-sse-c-key-file`).
    pub dst_key: Option<CustomerKey>,
    /// The destination key of each record's (source) key: the upload to complete.
    pub keys: crate::select::KeyMap,
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
            dst_key: None,
            keys: crate::select::KeyMap::default(),
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
    /// The most part lines held at once (those of one key: the input is read in key
    /// order).
    pub parts_held_at_most: u64,
    /// Objects completed whose ETag equals the source's, computed from the parts'
    /// MD5s: every byte proven.
    pub proven_by_md5: u64,
    /// Objects completed without that proof (SSE-KMS on either side): each part's
    /// write was checked by its Content-MD5, the bytes read were not proven.
    pub unverifiable: Vec<String>,
    /// Objects completed without an MD5 proof whose checksum, recomputed from the parts'
    /// checksums of the bytes read, equals the source's: every byte proven.
    pub proven_by_checksum: u64,
    /// Uploads aborted because the checksum recomputed from the parts differs from the
    /// source's (or completed with another checksum than the source's).
    pub checksum_mismatches: Vec<String>,
}

#[derive(Debug)]
struct Group {
    key: String,
    etag: String,
    upload_id: String,
    expected_parts: u32,
    parts: BTreeMap<u32, CopiedPartRecord>,
    first_line: u64,
    /// The condition of the completion (`rsync --diff`), from the first line.
    destination: Option<Destination>,
}

impl Group {
    /// The object's size as its parts give it: the last part's last byte plus one, when
    /// that part is there (a complete group).
    fn size(&self) -> u64 {
        self.parts
            .values()
            .map(|p| p.last_byte + 1)
            .max()
            .unwrap_or(0)
    }
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

/// The field the shuffle sorts a reducer's input by: the text before the first TAB
/// (the escaped object key), compared as bytes.
fn sort_key(text: &str) -> &str {
    text.split('\t').next().unwrap_or_default()
}

/// Follows the order of the lines and checks, key by key, that every line of an upload
/// gives the ETag of its first line. Only the uploads of the current key are held: in
/// key order no line of an earlier key comes back.
struct KeyOrder {
    key: Option<String>,
    sorted: bool,
    /// Upload id → (ETag, first line), for the current key.
    uploads: HashMap<String, (String, u64)>,
}

impl KeyOrder {
    fn new() -> Self {
        KeyOrder {
            key: None,
            sorted: true,
            uploads: HashMap::new(),
        }
    }

    /// Follows the key of the line `text` (a part line or a skip row: both are sorted by
    /// their first field); false once the lines are known not to be in key order.
    fn follow(&mut self, text: &str) -> bool {
        if !self.sorted {
            return false;
        }
        let key = sort_key(text);
        match self.key.as_deref() {
            Some(previous) if key < previous => {
                // Not in key order: checked again once sorted.
                self.sorted = false;
                self.uploads = HashMap::new();
                return false;
            }
            Some(previous) if key == previous => {}
            _ => {
                self.key = Some(key.to_string());
                self.uploads.clear();
            }
        }
        true
    }

    fn check(&mut self, text: &str, record: &CopiedPartRecord, number: u64) -> Result<(), Error> {
        if !self.follow(text) {
            return Ok(());
        }
        let (etag, first_line) = self
            .uploads
            .entry(record.upload_id.clone())
            .or_insert_with(|| (record.etag.clone(), number));
        if *etag != record.etag {
            return Err(Error::Input {
                line: number,
                message: format!(
                    "field 2 (etag) {} differs from {etag} given for the same upload on line {first_line}",
                    record.etag
                ),
            });
        }
        Ok(())
    }
}

/// Memory of the sort of an input that is not in key order.
const SORT_MEMORY: usize = 16 * 1024 * 1024;

/// Checks every line of `input` (each on its own, and the ETag of each upload against
/// its first line) and keeps the lines aside ([`Spool`]: memory, then a temporary
/// file), so that a bad line fails the task before any upload is completed; returns
/// the lines in key order. The shuffle delivers them sorted by key; a shell pipeline
/// (objectcopy's copies end in any order) does not, and its lines are sorted here with
/// the external sort, so that in both cases only one key's parts are held at a time.
fn check_all<R: BufRead>(input: R, index: StreamIndex) -> Result<SpooledLines, Error> {
    let mut order = KeyOrder::new();
    let spool = Spool::check_all(input, index, |line| {
        if crate::skip::is_row(&line.text) {
            // A skip row on its way to the run's report: read back, echoed once. It takes
            // part in the key order like any line (the run groups lines by key).
            order.follow(&line.text);
            return crate::skip::Skipped::from_row(&line.text)
                .map(|_| ())
                .map_err(|e| Error::Input {
                    line: line.number,
                    message: e.to_string(),
                });
        }
        let checked = check_line(&line.text, line.number)?;
        order.check(&line.text, &checked.record, line.number)
    })?;
    if order.sorted {
        return spool.into_lines();
    }
    let work = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    let mut sorter = ExternalSorter::new(SORT_MEMORY, work.path());
    let mut value = Vec::new();
    for line in spool.into_lines()? {
        let line = line?;
        value.clear();
        value.extend_from_slice(&line.number.to_le_bytes());
        value.extend_from_slice(line.text.as_bytes());
        sorter.push(sort_key(&line.text).as_bytes(), &value)?;
    }
    let mut sorted = Spool::new();
    let mut order = KeyOrder::new();
    let mut writer = sorted.writer();
    for record in sorter.finish()? {
        let (_, value) = record?;
        let (number, text) = value.split_at(8.min(value.len()));
        let number = u64::from_le_bytes(number.try_into().unwrap_or_default());
        let text = std::str::from_utf8(text)
            .map_err(|_| Error::Internal(format!("line {number} changed in the sort")))?;
        if crate::skip::is_row(text) {
            order.follow(text);
        } else {
            let checked = check_line(text, number)?;
            order.check(text, &checked.record, number)?;
        }
        writer.push(number, text)?;
    }
    writer.finish()?;
    sorted.into_lines()
}

/// Runs multipartcomplete over `input`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &MultipartCompleteOptions,
) -> Result<MultipartCompleteSummary, Error> {
    let lines = check_all(input, options.stream_index)?;
    // The uploads of the current key only (by upload id): the lines come in key order.
    let mut current_key: Option<String> = None;
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut summary = MultipartCompleteSummary::default();
    let mut problems = Vec::new();
    // The ETags of the objects of the current key already in the skip report: a skip
    // row is echoed once, and their uploads are aborted, not failed.
    let mut skipped_here: HashSet<String> = HashSet::new();
    for line in lines {
        let line = line?;
        let key = sort_key(&line.text);
        if current_key.as_deref() != Some(key) {
            // In key order, no part of the previous key is still to come.
            for group in by_first_line(&mut groups) {
                give_up(
                    group,
                    output,
                    reporter,
                    client,
                    options,
                    &skipped_here,
                    &mut summary,
                    &mut problems,
                )
                .await?;
            }
            skipped_here.clear();
            current_key = Some(key.to_string());
        }
        if crate::skip::is_row(&line.text) {
            // A row of an object copied all the same (unverifiable) is echoed, but does
            // not make this key's uploads skipped ones.
            let first = crate::skip::Skipped::from_row(&line.text).map_or(true, |row| {
                row.reason.copied() || skipped_here.insert(row.etag)
            });
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
        let upload_id = record.upload_id.clone();
        let group = groups.entry(upload_id.clone()).or_insert_with(|| Group {
            key: record.key.clone(),
            etag: record.etag.clone(),
            upload_id: record.upload_id.clone(),
            expected_parts,
            parts: BTreeMap::new(),
            first_line: line.number,
            destination: record.destination.clone(),
        });
        group.parts.insert(record.part_number, record);
        let held: usize = groups.values().map(|g| g.parts.len()).sum();
        summary.parts_held_at_most = summary.parts_held_at_most.max(held as u64);
        if let Some(group) = groups.get(&upload_id)
            && group.parts.len() == group.expected_parts as usize
            && let Some(group) = groups.remove(&upload_id)
        {
            finish_group(group, output, reporter, client, options, &mut summary).await?;
        }
    }
    for group in by_first_line(&mut groups) {
        give_up(
            group,
            output,
            reporter,
            client,
            options,
            &skipped_here,
            &mut summary,
            &mut problems,
        )
        .await?;
    }
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    for key in &summary.etag_mismatches {
        problems.push(format!(
            "{key}: the completed ETag would differ from the source's; upload aborted"
        ));
    }
    for key in &summary.checksum_mismatches {
        problems.push(format!(
            "{key}: the checksum made of the parts differs from the source's; upload aborted"
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

/// Takes every group out, in the order of their first lines.
fn by_first_line(groups: &mut HashMap<String, Group>) -> Vec<Group> {
    let mut taken: Vec<Group> = groups.drain().map(|(_, group)| group).collect();
    taken.sort_by_key(|g| g.first_line);
    taken
}

/// An upload whose parts are not all there: aborted, and named in the task's failure,
/// unless its object was skipped (a skip row of its key and ETag came, or objectcopy
/// marked one of its parts skipped): then aborted and reported once, not a failure.
// The run's sinks, client, options and tallies, as the other steps of a group take them.
#[allow(clippy::too_many_arguments)]
async fn give_up<W: Write, E: Write>(
    group: Group,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &MultipartCompleteOptions,
    skipped_here: &HashSet<String>,
    summary: &mut MultipartCompleteSummary,
    problems: &mut Vec<String>,
) -> Result<(), Error> {
    if skipped_here.contains(&group.etag) {
        if !options.dry_run {
            abort(client, options, &group).await?;
        }
        return Ok(());
    }
    if skip_group(&group, output, reporter, client, options, summary).await? {
        return Ok(());
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
        abort(client, options, &group).await?;
    }
    reporter.status_now(&format!("{}:FAIL", group.upload_id))
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
    // SSE-KMS on either side (the `etags` field of the part lines): the source's ETag
    // cannot be computed from the parts, or the part ETags are not MD5s.
    let source_md5 = group.parts.values().all(|p| p.etags.source_md5());
    // The parts' MD5s: their ETags, or, from an SSE-KMS destination, the MD5s
    // objectcopy computed from the bytes it read (the `etags` field).
    // One part from an SSE-KMS destination says so for the whole upload: a part a
    // retried attempt found already uploaded (ListParts) has a line without the field,
    // and its ETag is no MD5 either.
    let destination_kms = group.parts.values().any(|p| !p.etags.destination_md5());
    let digests: Option<Vec<[u8; 16]>> = group
        .parts
        .values()
        .map(|p| {
            if !destination_kms {
                parse_md5_hex(&p.part_etag)
            } else {
                p.etags.part_md5()
            }
        })
        .collect();
    // The ETag the source has when it is made of the parts' MD5s (and the completed
    // upload's, unless stored with SSE-KMS).
    let computed = digests.map(|digests| multipart_etag(&digests));
    if source_md5
        && let Some(expected) = &computed
        && *expected != group.etag
    {
        reporter.counter(&options.bucket, counters::ETAG_MISMATCH, 1)?;
        reporter.status_now(&format!(
            "{}:FAIL ETag would be {expected}, source is {}",
            group.upload_id, group.etag
        ))?;
        if !options.dry_run {
            abort(client, options, &group).await?;
        }
        summary
            .etag_mismatches
            .push(escape_key(&group.key).into_owned());
        return Ok(());
    }
    // The source's checksum, recomputed from the checksums of the parts' bytes: it
    // must be the source's before anything is completed.
    let checksum = group_checksum(&group);
    if let Some(check) = &checksum
        && !check.matches
    {
        reporter.counter(&options.bucket, counters::CHECKSUM_MISMATCH, 1)?;
        reporter.status_now(&format!(
            "{}:FAIL {} checksum of the parts' bytes would be {}, source's is {}",
            group.upload_id,
            check.source.algorithm.as_str(),
            check.computed.as_deref().unwrap_or("not computable"),
            check.source.value
        ))?;
        if !options.dry_run {
            abort(client, options, &group).await?;
        }
        summary
            .checksum_mismatches
            .push(escape_key(&group.key).into_owned());
        return Ok(());
    }
    // Whether the completed object's ETag proved every byte against the source's.
    let mut proven = source_md5 && computed.is_some();
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
        let (etag, stored_with_kms, stored_checksum) =
            match complete(client, options, &group, checksum.as_ref()).await {
                Err(Error::SourceMoved {
                    reason: SkipReason::DestinationChanged,
                    message,
                    ..
                }) => {
                    return refused(&group, message, output, reporter, client, options, summary)
                        .await;
                }
                other => other?,
            };
        // The completed object's checksum (S3 gives it; moto does not) must be the
        // source's.
        if let (Some(check), Some(stored)) = (&checksum, &stored_checksum)
            && !check.source.matches(stored)
        {
            reporter.counter(&options.bucket, counters::CHECKSUM_MISMATCH, 1)?;
            reporter.status_now(&format!(
                "{}:FAIL completed with {} {stored}, source's is {}",
                group.upload_id,
                check.source.algorithm.as_str(),
                check.source.value
            ))?;
            summary
                .checksum_mismatches
                .push(escape_key(&group.key).into_owned());
            return Ok(());
        }
        // What the completed ETag must be: the source's when it is made of MD5s, else
        // the one computed from the parts; nothing when the answer says SSE-KMS (its
        // ETag is not an MD5: the parts were proven one by one by their Content-MD5).
        let expected = if stored_with_kms {
            None
        } else if source_md5 {
            Some(group.etag.clone())
        } else {
            computed
        };
        proven = proven || (source_md5 && !stored_with_kms);
        if let Some(expected) = expected
            && etag != expected
        {
            reporter.counter(&options.bucket, counters::ETAG_MISMATCH, 1)?;
            reporter.status_now(&format!(
                "{}:FAIL completed with ETag {etag}, expected {expected} (source is {})",
                group.upload_id, group.etag
            ))?;
            summary
                .etag_mismatches
                .push(escape_key(&group.key).into_owned());
            return Ok(());
        }
    }
    let src_bucket = options.src_bucket.as_deref().unwrap_or(&options.bucket);
    if proven {
        // A checksum, when there is one, was checked too.
        reporter.counter(src_bucket, counters::PROVEN_BY_MD5, 1)?;
        summary.proven_by_md5 += 1;
    } else if checksum.is_some() {
        // Every part's bytes make the source's checksum (an SSE-KMS source included,
        // whose ETag is no MD5).
        reporter.counter(src_bucket, counters::PROVEN_BY_CHECKSUM, 1)?;
        summary.proven_by_checksum += 1;
    } else {
        // Completed, but exit 0 means proven: the object goes to the report.
        let row = Skipped {
            key: group.key.clone(),
            size: group.size(),
            etag: group.etag.clone(),
            reason: SkipReason::UnverifiableAtSource,
            detail: format!(
                "copied as upload {}, not proven: its source ETag is not an MD5 (SSE-KMS or \
                 SSE-C) and it has no checksum; each part's write was checked by Content-MD5",
                group.upload_id
            ),
        };
        crate::skip::report(output, reporter, src_bucket, &row)?;
        summary
            .unverifiable
            .push(escape_key(&group.key).into_owned());
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
        abort(client, options, group).await?;
    }
    let numbers: Vec<String> = skipped.iter().map(|(n, _)| n.to_string()).collect();
    let row = Skipped {
        key: group.key.clone(),
        size: group.size(),
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

/// A completion the destination refused (412 on its condition, `rsync --diff`):
/// someone else wrote the key during the run. The upload is aborted and the object
/// reported as skipped, counted on the destination bucket; not a failure of the task.
async fn refused<W: Write, E: Write>(
    group: &Group,
    message: String,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &MultipartCompleteOptions,
    summary: &mut MultipartCompleteSummary,
) -> Result<(), Error> {
    abort(client, options, group).await?;
    let row = Skipped {
        key: group.key.clone(),
        size: group.size(),
        etag: group.etag.clone(),
        reason: SkipReason::DestinationChanged,
        detail: format!("{message}; upload {} aborted", group.upload_id),
    };
    crate::skip::report(output, reporter, &options.bucket, &row)?;
    summary.skipped.push(escape_key(&group.key).into_owned());
    Ok(())
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

/// The source's checksum of a group whose every part carries one (its upload was
/// created with the source's algorithm), recomputed from the parts'.
#[derive(Debug)]
struct ChecksumCheck {
    /// The source's checksum.
    source: SourceChecksum,
    /// The parts' checksums, in part-number order.
    parts: Vec<String>,
    /// The object's checksum made of the parts' ([`crate::checksum::combine`]).
    computed: Option<String>,
    /// Whether it is the source's (and every part names the same source checksum).
    matches: bool,
}

/// The checksum check of a group: `None` unless every part has the `checksum` field (a
/// line without it, as every line was before it existed, leaves the proof to the
/// ETags).
fn group_checksum(group: &Group) -> Option<ChecksumCheck> {
    let checksums: Vec<(&PartChecksum, u64)> = group
        .parts
        .values()
        .map(|p| {
            let length = if group.parts.len() == 1 && p.first_byte == p.last_byte {
                // The one part of an empty object is written `0 0`; a full-object CRC
                // of one part is the part's whatever its length.
                0
            } else {
                p.last_byte - p.first_byte + 1
            };
            p.checksum.as_ref().map(|c| (c, length))
        })
        .collect::<Option<_>>()?;
    let source = checksums.first()?.0.source.clone();
    let same_source = checksums.iter().all(|(c, _)| c.source == source);
    let values: Vec<(&str, u64)> = checksums
        .iter()
        .map(|(c, length)| (c.part.as_str(), *length))
        .collect();
    let computed = crate::checksum::combine(source.algorithm, source.kind, &values);
    let matches = same_source && computed.as_deref().is_some_and(|c| source.matches(c));
    Some(ChecksumCheck {
        parts: checksums.iter().map(|(c, _)| c.part.clone()).collect(),
        source,
        computed,
        matches,
    })
}

/// The CompleteMultipartUpload request body, as `--dry-run` shows it.
fn completion_xml(group: &Group) -> String {
    let checksum = group_checksum(group);
    let element = checksum
        .as_ref()
        .map(|c| format!("Checksum{}", c.source.algorithm.as_str()));
    let mut xml = String::from("<CompleteMultipartUpload>\n");
    for (index, (number, part)) in group.parts.iter().enumerate() {
        let part_checksum = match (&element, &checksum) {
            (Some(element), Some(check)) => {
                format!("<{element}>{}</{element}>", check.parts[index])
            }
            _ => String::new(),
        };
        xml.push_str(&format!(
            "  <Part><PartNumber>{number}</PartNumber><ETag>\"{}\"</ETag>{part_checksum}</Part>\n",
            part.part_etag
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// Completes the group's upload (with the parts' checksums when it has the source's
/// algorithm); returns its ETag, whether the answer says SSE-KMS, and the checksum
/// the answer gives for that algorithm.
async fn complete(
    client: &Client,
    options: &MultipartCompleteOptions,
    group: &Group,
    checksum: Option<&ChecksumCheck>,
) -> Result<(String, bool, Option<String>), Error> {
    let parts: Vec<(u32, String)> = group
        .parts
        .iter()
        .map(|(number, part)| (*number, part.part_etag.clone()))
        .collect();
    complete_upload_with_sse(
        client,
        &options.bucket,
        &options.keys.dst_key(&group.key),
        &group.upload_id,
        &group.etag,
        &parts,
        checksum.map(|c| (&c.source, c.parts.as_slice())),
        group.destination.as_ref(),
        (options.attempts, options.max_pause),
        options.dst_key.as_ref(),
    )
    .await
}

/// Completes upload `upload_id` of `key` with `parts` (part number and part ETag, in
/// order), trying CompleteMultipartUpload `attempts.0` times with random pauses of up
/// to `attempts.1`; `NoSuchUpload` when the object already carries `source_etag`
/// counts as done (an earlier attempt completed it and its answer was lost). Returns
/// the ETag the object got. Shared with the clean-up after a failed run
/// ([`crate::orphans`]). `checksums` are the source's checksum and the parts' (in
/// order) of an upload created with the source's algorithm (see
/// [`complete_upload_with_sse`]).
///
/// With a `destination` (`rsync --diff`) the completion is conditional on it
/// (`If-None-Match: *` or `If-Match`); a refusal (412) is final, and an
/// [`Error::SourceMoved`] with [`SkipReason::DestinationChanged`] unless the object
/// already carries `source_etag` (this completion's own retry).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn complete_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    source_etag: &str,
    parts: &[(u32, String)],
    checksums: Option<(&SourceChecksum, &[String])>,
    destination: Option<&Destination>,
    attempts: (u32, Duration),
) -> Result<String, Error> {
    complete_upload_with_sse(
        client,
        bucket,
        key,
        upload_id,
        source_etag,
        parts,
        checksums,
        destination,
        attempts,
        None,
    )
    .await
    .map(|(etag, _, _)| etag)
}

/// A completed part with its checksum of `algorithm`.
pub(crate) fn with_checksum(
    part: aws_sdk_s3::types::builders::CompletedPartBuilder,
    algorithm: Algorithm,
    value: String,
) -> aws_sdk_s3::types::builders::CompletedPartBuilder {
    match algorithm {
        Algorithm::Crc32 => part.checksum_crc32(value),
        Algorithm::Crc32c => part.checksum_crc32_c(value),
        Algorithm::Crc64Nvme => part.checksum_crc64_nvme(value),
        Algorithm::Sha1 => part.checksum_sha1(value),
        Algorithm::Sha256 => part.checksum_sha256(value),
    }
}

/// [`complete_upload`] of an upload written with the SSE-C key `sse_c`, if any, with
/// the parts' checksums when the upload has the source's algorithm (`checksums`: the
/// source's checksum and the parts', in order; S3 requires them then, and for a
/// `FULL_OBJECT` type takes the source's whole-object value and checks the object
/// against it); returns also whether the object is stored with SSE-KMS (as the answer
/// says) or SSE-C, its ETag then not made of MD5s, and the answer's checksum of the
/// source's algorithm.
#[allow(clippy::too_many_arguments)]
async fn complete_upload_with_sse(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    source_etag: &str,
    parts: &[(u32, String)],
    checksums: Option<(&SourceChecksum, &[String])>,
    destination: Option<&Destination>,
    attempts: (u32, Duration),
    sse_c: Option<&CustomerKey>,
) -> Result<(String, bool, Option<String>), Error> {
    // A rewrite onto itself (`campanile reencrypt`: the condition is the source's own
    // ETag): the key held that ETag before the rewrite too, so a `NoSuchUpload` on a
    // key holding it cannot tell an earlier completion from an upload someone aborted,
    // and is not taken as done (the object fails; a rerun rewrites it).
    let in_place = matches!(destination, Some(Destination::Etag(etag)) if etag == source_etag);
    let parts: Vec<CompletedPart> = parts
        .iter()
        .enumerate()
        .map(|(index, (number, part_etag))| {
            let part = CompletedPart::builder()
                .part_number(i32::try_from(*number).unwrap_or(i32::MAX))
                .e_tag(format!("\"{part_etag}\""));
            match checksums.and_then(|(s, values)| Some((s.algorithm, values.get(index)?))) {
                Some((algorithm, value)) => with_checksum(part, algorithm, value.clone()),
                None => part,
            }
            .build()
        })
        .collect();
    // A full-object checksum goes with the completion, which S3 checks.
    let full = checksums
        .map(|(s, _)| s)
        .filter(|s| s.kind == crate::checksum::Kind::FullObject);
    let algorithm = checksums.map(|(s, _)| s.algorithm);
    let parts = &parts;
    // Every failure is tried again: the pauses spread the reducers' completions, which
    // arrive together at the end of a step.
    let completed = retry(
        &Backoff::constant(attempts.1),
        attempts.0,
        |_| async move {
            let request = client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts.clone()))
                        .build(),
                )
                .set_if_none_match(destination.and_then(|d| d.if_none_match()))
                .set_if_match(destination.and_then(|d| d.if_match()))
                // S3 asks for the key when the upload has a checksum algorithm.
                .sse_c(sse_c);
            let request = match full {
                Some(source) => source.on_completion(request),
                None => request,
            };
            let result = request.send().await;
            match result {
                Ok(done) => Ok((
                    done.e_tag()
                        .unwrap_or_default()
                        .trim_matches('"')
                        .to_string(),
                    // The answer has no SSE-C header: the key sent says it.
                    crate::task::objectcopy::stored_with_kms(done.server_side_encryption())
                        || sse_c.is_some(),
                    algorithm.and_then(|a| {
                        a.pick([
                            done.checksum_crc32(),
                            done.checksum_crc32_c(),
                            done.checksum_crc64_nvme(),
                            done.checksum_sha1(),
                            done.checksum_sha256(),
                        ])
                        .map(str::to_string)
                    }),
                )),
                Err(error) => {
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.meta().code() == Some("NoSuchUpload"))
                        && !in_place
                        && let Some(etag) = current_etag(client, bucket, key, sse_c).await
                        && etag == source_etag
                    {
                        // Completed by an earlier attempt whose answer was lost.
                        return Ok((etag, false, None));
                    }
                    if http_status(&error) == Some(412) {
                        // The condition refused it: only this completion's own
                        // earlier attempt can have given the key the source's ETag.
                        if current_etag(client, bucket, key, sse_c).await.as_deref()
                            == Some(source_etag)
                        {
                            return Ok((source_etag.to_string(), false, None));
                        }
                        return Err(Failure::Permanent(Box::new(error)));
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
        if http_status(&error) == Some(412) {
            return S3Context::new("CompleteMultipartUpload", bucket, key).source_moved(
                SkipReason::DestinationChanged,
                format!(
                    "destination changed during the run (412 on the conditional completion of upload {upload_id}: another writer wrote or deleted the key since the diff, or in place since the listing); not overwritten"
                ),
                Some(error),
            );
        }
        let message = format!(
            "upload {upload_id}: {} (after {} attempts)",
            describe_error(&error),
            attempts.0
        );
        S3Context::new("CompleteMultipartUpload", bucket, key).explained(message, *error)
    })
}

async fn current_etag(
    client: &Client,
    bucket: &str,
    key: &str,
    sse_c: Option<&CustomerKey>,
) -> Option<String> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .sse_c(sse_c)
        .send()
        .await
        .ok()?;
    head.e_tag().map(|e| e.trim_matches('"').to_string())
}

/// Aborts the group's upload (of its destination key).
async fn abort(
    client: &Client,
    options: &MultipartCompleteOptions,
    group: &Group,
) -> Result<(), Error> {
    let (bucket, key) = (&options.bucket, options.keys.dst_key(&group.key));
    match client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(&key)
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
        Err(error) => Err(error).context("AbortMultipartUpload", bucket, &key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multipart::multipart_etag;
    use crate::record::PartEtags;

    /// The part lines of an object of `parts` parts of 10 bytes, with ETags that add
    /// up.
    fn object_lines(key: &str, upload: &str, parts: u32) -> Vec<String> {
        let digests: Vec<[u8; 16]> = (1..=parts)
            .map(|n| crate::multipart::md5(format!("{key}/{n}").as_bytes()))
            .collect();
        let etag = multipart_etag(&digests);
        (1..=parts)
            .map(|n| {
                CopiedPartRecord {
                    key: key.to_string(),
                    etag: etag.clone(),
                    upload_id: upload.to_string(),
                    part_etag: crate::multipart::hex(&digests[n as usize - 1]),
                    part_number: n,
                    first_byte: u64::from(n - 1) * 10,
                    last_byte: u64::from(n) * 10 - 1,
                    etags: Default::default(),
                    checksum: None,
                    destination: None,
                }
                .to_line()
            })
            .collect()
    }

    /// The lines of [`object_lines`] as an SSE-KMS destination gives them: part ETags
    /// that are not MD5s, each part's MD5 in the `etags` field.
    fn kms_destination_lines(key: &str, upload: &str, parts: u32) -> Vec<String> {
        object_lines(key, upload, parts)
            .iter()
            .map(|line| {
                let mut record = CopiedPartRecord::parse(line).expect("line");
                let md5 = parse_md5_hex(&record.part_etag).expect("md5");
                record.part_etag = crate::multipart::hex(&crate::multipart::md5(&md5));
                record.etags = PartEtags::DestinationNotMd5(Some(md5));
                record.to_line()
            })
            .collect()
    }

    /// The lines of an SSE-KMS source of `parts` parts of 10 bytes (its ETag no MD5)
    /// whose upload has the source's checksum: each part's checksum of `algorithm`
    /// (computed here with the sha2 crate or a bitwise CRC-32, not the code under test),
    /// and the source's value made of them as S3 makes it.
    fn checksum_lines(key: &str, kind: crate::checksum::Kind, sha256: bool) -> Vec<String> {
        use base64::Engine;
        use sha2::Digest;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let crc32 = |data: &[u8]| {
            let mut crc = !0u32;
            for byte in data {
                crc ^= u32::from(*byte);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            (!crc).to_be_bytes().to_vec()
        };
        let digest = |data: &[u8]| {
            if sha256 {
                sha2::Sha256::digest(data).to_vec()
            } else {
                crc32(data)
            }
        };
        let datas: Vec<Vec<u8>> = (1..=3u8).map(|n| vec![n; 10]).collect();
        let value = match kind {
            crate::checksum::Kind::Composite => {
                let concatenated: Vec<u8> = datas.iter().flat_map(|d| digest(d)).collect();
                format!("{}-3", b64(&digest(&concatenated)))
            }
            crate::checksum::Kind::FullObject => b64(&digest(&datas.concat())),
        };
        let source = crate::checksum::SourceChecksum {
            algorithm: if sha256 {
                crate::checksum::Algorithm::Sha256
            } else {
                crate::checksum::Algorithm::Crc32
            },
            kind,
            value,
        };
        object_lines(key, "u", 3)
            .iter()
            .zip(&datas)
            .map(|(line, data)| {
                let mut record = CopiedPartRecord::parse(line).expect("line");
                record.etag = format!(
                    "{}-3",
                    crate::multipart::hex(&crate::multipart::md5(b"kms"))
                );
                record.etags = PartEtags::SourceNotMd5;
                record.checksum = Some(crate::checksum::PartChecksum {
                    source: source.clone(),
                    part: b64(&digest(data)),
                });
                record.to_line()
            })
            .collect()
    }

    #[tokio::test]
    async fn kms_sources_are_proven_by_the_checksum_made_of_their_parts() {
        use crate::checksum::Kind;
        for (kind, sha256) in [
            (Kind::Composite, true),
            (Kind::Composite, false),
            (Kind::FullObject, false),
        ] {
            let lines = checksum_lines("k", kind, sha256);
            let (result, output) = dry_run(&joined(&lines)).await;
            let summary = result.expect("proven");
            assert_eq!(summary.proven_by_checksum, 1, "{kind:?} {sha256}");
            assert!(summary.unverifiable.is_empty());
            assert!(summary.checksum_mismatches.is_empty());
            // The completion carries each part's checksum.
            let element = if sha256 {
                "ChecksumSHA256"
            } else {
                "ChecksumCRC32"
            };
            assert_eq!(
                output.matches(&format!("<{element}>")).count(),
                3,
                "{output}"
            );
            // One part's checksum of other bytes: caught before completing.
            let mut bad = lines.clone();
            let mut record = CopiedPartRecord::parse(&bad[1]).expect("line");
            if let Some(checksum) = record.checksum.as_mut() {
                checksum.part = checksum_lines("k", kind, sha256)[0]
                    .rsplit_once(':')
                    .expect("value")
                    .1
                    .to_string();
            }
            bad[1] = record.to_line();
            let (result, output) = dry_run(&joined(&bad)).await;
            assert!(result.is_err(), "{kind:?}: {output}");
            assert!(!output.contains("Complete k"), "{output}");
        }
        // A server that writes a composite without its `-N` (moto): the digest is
        // compared.
        let lines: Vec<String> = checksum_lines("m", Kind::Composite, false)
            .iter()
            .map(|line| {
                let mut record = CopiedPartRecord::parse(line).expect("line");
                if let Some(checksum) = record.checksum.as_mut() {
                    let value = checksum.source.value.clone();
                    checksum.source.value = value.split_once('-').expect("-N").0.to_string();
                }
                record.to_line()
            })
            .collect();
        let (result, _) = dry_run(&joined(&lines)).await;
        assert_eq!(result.expect("proven").proven_by_checksum, 1);
        // Parts that disagree on the source's checksum are not proven.
        let mut mixed = checksum_lines("x", Kind::Composite, false);
        mixed[2] = checksum_lines("x", Kind::Composite, true)[2].clone();
        let (result, _) = dry_run(&joined(&mixed)).await;
        assert!(result.is_err());
        // A part without the field: no checksum proof, unverifiable as before.
        let mut partial = checksum_lines("y", Kind::Composite, true);
        let mut record = CopiedPartRecord::parse(&partial[0]).expect("line");
        record.checksum = None;
        partial[0] = record.to_line();
        let (result, _) = dry_run(&joined(&partial)).await;
        let summary = result.expect("completed");
        assert_eq!(summary.proven_by_checksum, 0);
        assert_eq!(summary.unverifiable, vec!["y".to_string()]);
    }

    #[tokio::test]
    async fn kms_etags_are_proven_by_the_parts_md5s_or_not_compared() {
        // An SSE-KMS destination: the parts' MD5s still make the source's ETag.
        let lines = kms_destination_lines("k", "u", 3).join("\n");
        let (result, _) = dry_run(&lines).await;
        let summary = result.expect("proven");
        assert_eq!(summary.proven_by_md5, 1);
        assert!(summary.etag_mismatches.is_empty());
        // A wrong part MD5 is still a mismatch, caught before completing.
        let mut bad = kms_destination_lines("k", "u", 3);
        let wrong = format!(
            "dst-etag-not-md5:{}",
            crate::multipart::hex(&crate::multipart::md5(b"other"))
        );
        let last = bad[2].rsplit_once('\t').expect("field").0.to_string();
        bad[2] = format!("{last}\t{wrong}");
        let (result, _) = dry_run(&bad.join("\n")).await;
        assert!(result.is_err());
        // An SSE-KMS source: its ETag is not made of MD5s, so it is not compared and the
        // object is completed as unverifiable at source.
        let lines: Vec<String> = object_lines("s", "v", 2)
            .iter()
            .map(|line| {
                let mut record = CopiedPartRecord::parse(line).expect("line");
                record.etag = format!(
                    "{}-2",
                    crate::multipart::hex(&crate::multipart::md5(b"kms"))
                );
                record.etags = PartEtags::SourceNotMd5;
                record.to_line()
            })
            .collect();
        let (result, output) = dry_run(&lines.join("\n")).await;
        let summary = result.expect("completed");
        assert_eq!(summary.unverifiable, vec!["s".to_string()]);
        assert_eq!(summary.proven_by_md5, 0);
        // Completed, and reported: one row towards the run's report (exit 3).
        let rows: Vec<Skipped> = output
            .lines()
            .filter(|line| crate::skip::is_row(line))
            .map(|line| Skipped::from_row(line).expect("row"))
            .collect();
        assert_eq!(rows.len(), 1, "{output}");
        assert_eq!(rows[0].key, "s");
        assert_eq!(rows[0].reason, SkipReason::UnverifiableAtSource);
        assert!(rows[0].detail.contains("upload v"), "{}", rows[0].detail);
        // A part a retried attempt found (no field, an ETag that is no MD5) among parts
        // that say the destination is SSE-KMS: not compared, completed as unverifiable.
        let mut resumed = kms_destination_lines("r", "w", 3);
        resumed[1] = resumed[1].rsplit_once('\t').expect("field").0.to_string();
        let (result, _) = dry_run(&resumed.join("\n")).await;
        let summary = result.expect("completed");
        assert_eq!(summary.unverifiable, vec!["r".to_string()]);
        // The same lines without the field: a mismatch, as before.
        let plain: Vec<String> = lines
            .iter()
            .map(|l| l.rsplit_once('\t').expect("field").0.to_string())
            .collect();
        let (result, _) = dry_run(&plain.join("\n")).await;
        assert!(result.is_err());
    }

    async fn dry_run(input: &str) -> (Result<MultipartCompleteSummary, Error>, String) {
        // A dry run sends no request: the endpoint is never contacted.
        let client = crate::s3::client(&crate::s3::ClientOptions {
            endpoint: Some("http://127.0.0.1:9".into()),
            credentials: Some(aws_sdk_s3::config::Credentials::new(
                "key", "secret", None, None, "test",
            )),
            region: Some("us-east-1".into()),
            ..Default::default()
        })
        .await
        .expect("client");
        let options = MultipartCompleteOptions {
            bucket: "dst".into(),
            dry_run: true,
            ..Default::default()
        };
        let mut output = Vec::new();
        let mut reporter = Reporter::new(Vec::new());
        let result = run(
            input.as_bytes(),
            &mut output,
            &mut reporter,
            &client,
            &options,
        )
        .await;
        (result, String::from_utf8(output).expect("utf8"))
    }

    fn joined(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[tokio::test]
    async fn sorted_input_holds_one_key_at_a_time() {
        let mut lines = Vec::new();
        for n in 0..50 {
            let mut object = object_lines(&format!("k{n:03}"), &format!("u{n}"), 4);
            // Within a key the shuffle gives the parts in any order.
            object.reverse();
            lines.extend(object);
        }
        let (result, output) = dry_run(&joined(&lines)).await;
        let summary = result.expect("run");
        assert_eq!(summary.completed, 50);
        assert_eq!(summary.parts, 200);
        assert_eq!(summary.parts_held_at_most, 4);
        assert_eq!(output.matches("Complete k").count(), 50);
    }

    #[tokio::test]
    async fn an_unsorted_pipeline_is_sorted_first_and_still_completes_everything() {
        let objects: Vec<Vec<String>> = (0..30)
            .map(|n| object_lines(&format!("k{n:02}"), &format!("u{n}"), 3))
            .collect();
        // Part i of every object, then part i+1 of every object: fully interleaved,
        // and the keys in reverse order.
        let mut lines = Vec::new();
        for part in 0..3 {
            for object in objects.iter().rev() {
                lines.push(object[part].clone());
            }
        }
        let (result, _) = dry_run(&joined(&lines)).await;
        let summary = result.expect("run");
        assert_eq!(summary.completed, 30);
        assert_eq!(summary.parts_held_at_most, 3);
    }

    #[tokio::test]
    async fn a_skip_row_of_another_key_between_parts_sorts_the_input_first() {
        // objectcopy's output in a shell pipe: a skip row of a whole object written
        // between the two parts of a multipart object. Taken as in key order, the row
        // would cut the object's group in two (given up twice, never completed).
        let object = object_lines("m", "um", 2);
        let row = crate::skip::Skipped {
            key: "a-whole".into(),
            size: 3,
            etag: "0123456789abcdef0123456789abcdef".into(),
            reason: crate::skip::SkipReason::Vanished,
            detail: "gone".into(),
        }
        .to_row();
        let lines = vec![object[0].clone(), row.clone(), object[1].clone()];
        let (result, output) = dry_run(&joined(&lines)).await;
        let summary = result.expect("run");
        assert_eq!(summary.completed, 1, "{output}");
        assert!(output.contains("Complete m:um"), "{output}");
        assert_eq!(output.matches(&row).count(), 1, "{output}");
    }

    #[tokio::test]
    async fn a_key_missing_a_part_is_given_up_when_the_next_key_starts() {
        let mut lines = object_lines("a", "ua", 3);
        lines.remove(1);
        lines.extend(object_lines("b", "ub", 2));
        let (result, output) = dry_run(&joined(&lines)).await;
        match result {
            Err(Error::Integrity { message, .. }) => {
                assert!(
                    message.contains("a (upload ua): missing part(s) 2 of 3"),
                    "{message}"
                );
                assert!(message.starts_with("1 upload(s)"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(output.contains("Complete b:ub"), "{output}");
        assert!(!output.contains("Complete a:"), "{output}");
    }

    #[tokio::test]
    async fn unsorted_lines_that_disagree_on_an_upload_etag_fail_before_anything() {
        let mut lines = object_lines("b", "ub", 2);
        lines.extend(object_lines("a", "ua", 2));
        // A third line for upload `ub` with another object's ETag, after key `a`:
        // only the sorted check can compare it with the first.
        let other = object_lines("c", "uc", 2);
        let bad = CopiedPartRecord::parse(&other[0]).expect("parse");
        let bad = CopiedPartRecord {
            key: "b".into(),
            upload_id: "ub".into(),
            ..bad
        };
        lines.push(bad.to_line());
        let (result, output) = dry_run(&joined(&lines)).await;
        match result {
            Err(Error::Input { line, message }) => {
                assert_eq!(line, 5);
                assert!(
                    message.contains("given for the same upload on line 1"),
                    "{message}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(output.is_empty(), "nothing done: {output}");
    }
}
