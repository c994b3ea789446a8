//! objectcopy (mapper): copies each object or part of its input, byte for byte.
//!
//! For a whole object (upload id `\N`): one GET, one PUT. The PUT carries the source's
//! content headers, user metadata and encryption (taken from the GET response, so no
//! HEAD is needed) and Content-MD5, so S3 refuses a body damaged on the way in. For a
//! part: a ranged GET and an UploadPart with Content-MD5; the line
//! `key etag uploadId partEtag partNumber firstByte lastByte` goes to stdout for
//! multipartcomplete.
//!
//! Checks on every copy: every GET is pinned to the listed ETag (`If-Match`); the bytes read must number
//! exactly the expected size; a whole object's MD5 must equal its source ETag before it
//! is written (on a server that checks Content-MD5, by the server: see
//! [`server_checks`]), or, when that ETag is not an MD5 (SSE-KMS), the bytes must match the
//! source's full-object checksum if it has one (see [`transfer`]); the ETag S3 returns
//! for a PUT or a part must equal the MD5 of the bytes sent, unless the write's answer
//! says SSE-KMS (or, on a server that checks checksums, a part carries a checksum in
//! place of Content-MD5 and its ETag goes to multipartcomplete's comparison). A part whose upload has the source's checksum algorithm (see
//! [`crate::checksum`]) is sent with its checksum of that algorithm, computed from the
//! bytes read, and its line carries it for multipartcomplete, which recomputes the
//! source's checksum from the parts' before completing. Each whole object counts under the proof it got (counters
//! `ProvenByMd5`, `ProvenByChecksum`, `UnverifiableAtSource` on the source bucket); an
//! object whose source offers neither proof is still copied (its writes carry
//! Content-MD5, which S3 checks) and reported: a skip row with the reason
//! `unverifiable_at_source` (so the run exits 3). A part's line says which of its ETags are not MD5s
//! ([`crate::record::PartEtags`]), for multipartcomplete. Writes are signed without their payload (`UNSIGNED-PAYLOAD`): the body is
//! guarded by its Content-MD5, which the signature covers, so a SHA-256 of every byte
//! on both sides would add CPU and no safety. Bytes are held in memory up to `maxtmpsize`, then in a temporary file in a
//! random `ephemeral` directory (see [`crate::spool`]).
//!
//! A live source: an object gone since the listing (404 on its GET) or changed (412 on
//! the ETag pin) is skipped, not retried, and reported ([`Reporter::skipped`]: counter
//! `SourceVanished` or `SourceChanged` on the source bucket, status line, skip row);
//! another attempt would find it the same. A part of such an object is not uploaded:
//! its line for multipartcomplete carries `skipped:<reason>` in place of the part's
//! ETag, and multipartcomplete aborts the upload and reports the object once (see
//! [`crate::record::CopiedPartRecord::skip_reason`]).
//!
//! Records are copied `concurrency` at a time. Beyond the SDK's own retries
//! (throttling, server errors, broken connections), a GET whose body breaks off or
//! fails its size or MD5 check, and a PUT or part refused for a damaged body
//! (`BadDigest`) or answered with the wrong ETag, are tried again a few times. A record
//! that still fails does not stop the others: the task copies every record, then fails
//! at its end naming every failed key with its error ([`Error::Records`]), so a retried
//! attempt has only those left to do. Only losing stdout or stderr stops it at once.
//!
//! SSE-C ([`crate::sse_c`]): with `--src-sse-c-key-file` every GET (and, server-side,
//! every copy) reads the source with its key; with `--dst-sse-c-key-file` every write,
//! and every look at the destination (the HEAD and ListParts of a retried attempt),
//! carries the copies' key. An SSE-C object's ETag is not an MD5, on either side: the
//! bytes read are proven by the source's checksum or reported unverifiable at source,
//! as for SSE-KMS.
//!
//! No lost update: after `rsync --diff` each record carries what the diff saw at the
//! destination ([`crate::record::Destination`]). A whole object's PutObject (or
//! CopyObject) is conditional on it; a refusal (412) means someone else wrote the key
//! during the run, and the object is skipped and reported (`DestinationChanged` on the
//! destination bucket), never overwritten, unless the destination already holds the
//! source's ETag and size (this copy's own write, retried). A part's line passes the
//! condition on to multipartcomplete, which completes the upload under it.
//!
//! A retried attempt (see [`crate::attempt`]) skips what an earlier one finished: a
//! whole object already at the destination with the source's ETag and size, a part its
//! upload already holds (counter `AlreadyCopied`; see [`resume`]).
//!
//! The module is split by concern: this file reads the records, dispatches each copy
//! and writes the output; [`budget`] is the memory the copies share; [`attempts`]
//! says which failures are tried again; [`transfer`] makes the GETs and writes with
//! their checks; [`server_checks`] probes what the destination checks, so that the
//! client computes no MD5 the server proves; [`server_side`] is the mode where the
//! server copies the bytes; [`resume`] is what a retried attempt finds already done;
//! [`versions`] copies the versions records of `rsync --all-versions` and
//! `--version-at` instead.

pub(crate) mod attempts;
mod budget;
mod in_place;
mod progress;
mod resume;
pub mod server_checks;
pub mod server_side;
mod transfer;
pub mod versions;

pub(crate) use transfer::stored_with_kms;

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use tracing::Instrument;

use crate::command::WriteSettings;
use crate::error::Error;
use crate::input::checked_records;
use crate::pool::BufferPool;
use crate::record::{CopiedPartRecord, PartEtags, PartRecord, escape_key};
use crate::reporter::{Reporter, counters};
use crate::retry::Backoff;
use crate::s3::Client;
use crate::skip::{self, Line, SkipReason, Skipped};
use crate::sse_c::SseCKeys;
use crate::stream::StreamIndex;
use crate::tuning::Tuning;
use budget::MemoryBudget;
use resume::Finished;

/// Options of objectcopy.
#[derive(Debug, Clone)]
pub struct ObjectCopyOptions {
    /// Source bucket.
    pub src_bucket: String,
    /// Destination bucket.
    pub dst_bucket: String,
    /// Whether input lines carry Hadoop's offset field.
    pub stream_index: StreamIndex,
    /// Bytes the task's copies may hold in memory at once (`maxtmpsize`). A copy waits
    /// for its share (its size, at most all of it) before it starts, so the copies in
    /// flight never hold more; the part of an object larger than the whole budget
    /// spills to disk.
    pub max_tmp_size: u64,
    /// Directories to spill into.
    pub ephemeral: Vec<PathBuf>,
    /// Records copied at once ([`Tuning::objectcopy_concurrency`]).
    pub concurrency: usize,
    /// Attempts of a GET whose body breaks off, or of a write refused for a damaged
    /// body ([`Tuning::objectcopy_get_attempts`]).
    pub get_attempts: u32,
    /// Pauses between those attempts ([`Tuning::objectcopy_backoff`]).
    pub backoff: Backoff,
    /// Let the server copy the bytes (CopyObject, UploadPartCopy): the destination
    /// client must be able to read the source, on the same endpoint.
    pub server_side: bool,
    /// Let the server copy the bytes of each record whose source the destination
    /// client can read and whose ETag is an MD5 (see [`server_side::probe`]); the
    /// others, and every record after the first refusal, go through the task.
    pub server_side_if_readable: bool,
    /// Rewrite each record onto itself (`campanile reencrypt`; see [`in_place`]):
    /// source and destination are one bucket and key; always in the server.
    pub in_place: bool,
    /// This is a retried attempt ([`crate::attempt::TaskAttempt::is_retry`]): look at
    /// the destination first and skip what an earlier attempt finished.
    pub retried: bool,
    /// Encryption, storage class and ACL of the copies instead of the source's.
    pub write: WriteSettings,
    /// The SSE-C keys of the source objects and of the copies.
    pub sse_c: SseCKeys,
    /// The destination key of each record's (source) key.
    pub keys: crate::select::KeyMap,
    /// `--dry-run` (with versions records only): read the destination, write nothing,
    /// say what would be written ([`versions`]).
    pub dry_run: bool,
    /// Compute the MD5 of every byte copied in the task, as before issue 19 (the
    /// `--client-md5` option), rather than let the destination server prove the writes
    /// where it can (see [`server_checks`]): no probe, every write with the Content-MD5
    /// of the bytes read.
    pub client_md5: bool,
}

impl ObjectCopyOptions {
    /// The destination key of source key `key`.
    pub fn dst_key(&self, key: &str) -> String {
        self.keys.dst_key(key)
    }
}

impl Default for ObjectCopyOptions {
    /// No buckets (to be set), shell input, the default `maxtmpsize` and temporary
    /// directory, and [`Tuning::DEFAULT`]'s concurrency and attempts.
    fn default() -> Self {
        let tuning = Tuning::DEFAULT;
        ObjectCopyOptions {
            src_bucket: String::new(),
            dst_bucket: String::new(),
            stream_index: StreamIndex::SHELL,
            max_tmp_size: crate::config::DEFAULT_MAX_TMP_SIZE,
            ephemeral: vec![std::env::temp_dir()],
            concurrency: tuning.objectcopy_concurrency,
            get_attempts: tuning.objectcopy_get_attempts,
            backoff: tuning.objectcopy_backoff,
            server_side: false,
            server_side_if_readable: false,
            in_place: false,
            retried: false,
            write: WriteSettings::default(),
            sse_c: SseCKeys::default(),
            keys: crate::select::KeyMap::default(),
            dry_run: false,
            client_md5: false,
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectCopySummary {
    /// Whole objects copied.
    pub objects: u64,
    /// Parts copied.
    pub parts: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Records (objects or parts) a retried attempt found already copied.
    pub already_copied: u64,
    /// Records skipped because their source is gone or changed since the listing.
    pub skipped: u64,
    /// Whole objects whose bytes read were proven by their MD5 (the source ETag).
    pub proven_by_md5: u64,
    /// Whole objects whose bytes read were proven by the source's checksum.
    pub proven_by_checksum: u64,
    /// Whole objects whose source offered neither proof (SSE-KMS without a checksum).
    pub unverifiable: u64,
}

impl ObjectCopySummary {
    fn add(&mut self, one: &ObjectCopySummary) {
        self.objects += one.objects;
        self.parts += one.parts;
        self.bytes += one.bytes;
        self.already_copied += one.already_copied;
        self.skipped += one.skipped;
        self.proven_by_md5 += one.proven_by_md5;
        self.proven_by_checksum += one.proven_by_checksum;
        self.unverifiable += one.unverifiable;
    }
}

/// The shared sinks of the concurrent copies: all copies run on one task, so a
/// `RefCell` is enough and no lock is held across an await.
struct Sinks<'a, W: Write, E: Write> {
    output: RefCell<&'a mut W>,
    reporter: RefCell<&'a mut Reporter<E>>,
    /// The memory budget (`maxtmpsize`).
    memory: MemoryBudget,
    /// The spools' reused buffers, within the same budget.
    buffers: Arc<BufferPool>,
    /// What a retried attempt finds done.
    finished: Finished,
    /// `server_side_if_readable`: the destination's credentials were refused the
    /// source once, so every later record goes through the task without asking again.
    client_only: std::cell::Cell<bool>,
    /// What the destination server checks, probed once, when the first record that
    /// could do without the client's MD5 comes ([`server_checks`]).
    server_checks: tokio::sync::OnceCell<server_checks::ServerChecks>,
}

/// The bound of the buffer pool: the memory budget, so that pooled buffers (lent and
/// idle) never take more than the copies may hold; 0 (no pool) when the environment
/// has `CAMPANILE_BUFFER_POOL=off`, which is there to measure the pool against no pool
/// with one binary (docs/benchmarks.md, "Buffer pool").
fn pool_bound(max_tmp_size: u64) -> u64 {
    match std::env::var_os("CAMPANILE_BUFFER_POOL") {
        Some(value) if value == "off" => 0,
        _ => max_tmp_size,
    }
}

/// Runs objectcopy over `input`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    src: &Client,
    dst: &Client,
    options: &ObjectCopyOptions,
) -> Result<ObjectCopySummary, Error> {
    let records = checked_records(
        input,
        options.stream_index,
        skip::or_passed(PartRecord::parse),
    )?;
    let concurrency = options.concurrency.max(1);
    let sinks = Sinks {
        output: RefCell::new(output),
        reporter: RefCell::new(reporter),
        memory: MemoryBudget::new(options.max_tmp_size),
        buffers: BufferPool::new(pool_bound(options.max_tmp_size)),
        finished: Finished::new(concurrency * 2),
        client_only: std::cell::Cell::new(false),
        server_checks: tokio::sync::OnceCell::new(),
    };
    let mut total = ObjectCopySummary::default();
    let mut failed: Vec<(String, Error)> = Vec::new();
    {
        let mut copies = futures::stream::iter(records)
            .map(|item| {
                let sinks = &sinks;
                async move {
                    // The checked input read back: failing to read it stops the task.
                    let line = item.map_err(|error| (String::new(), error))?;
                    match line {
                        // The label is made only for a failure: most records succeed.
                        Line::Record(record) => {
                            let span = crate::logging::record_span(
                                &record.object.key,
                                record.part.as_ref().map(|part| part.part_number),
                            );
                            async {
                                tracing::debug!(size = record.object.size, "copying");
                                let copied = copy_or_skip(&record, src, dst, options, sinks).await;
                                match &copied {
                                    Ok(_) => tracing::debug!("copied"),
                                    Err(error) => tracing::warn!("not copied: {error}"),
                                }
                                copied.map_err(|error| (label(&record), error))
                            }
                            .instrument(span)
                            .await
                        }
                        // An earlier step's skip row goes on towards the run's report.
                        Line::Skipped(row) => {
                            skip::pass_on(&mut **sinks.output.borrow_mut(), &row)
                                .map_err(|error| (row.clone(), error))?;
                            Ok(ObjectCopySummary::default())
                        }
                    }
                }
            })
            .buffer_unordered(concurrency);
        while let Some(result) = copies.next().await {
            match result {
                Ok(one) => total.add(&one),
                Err((label, error)) if label.is_empty() || stops_the_task(&error) => {
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
    finish_task(output.into_inner(), reporter.into_inner(), total, failed)
}

/// The end of a task, whichever records it copied: stdout flushed, the reporter's
/// last lines written, and the task's total, or every record that failed with why.
fn finish_task<W: Write, E: Write, T>(
    output: &mut W,
    reporter: &mut Reporter<E>,
    total: T,
    failed: Vec<(String, Error)>,
) -> Result<T, Error> {
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    reporter.finish()?;
    if failed.is_empty() {
        Ok(total)
    } else {
        Err(Error::Records(failed))
    }
}

/// The record as messages name it: its key, and the part if it is one.
fn label(record: &PartRecord) -> String {
    let key = escape_key(&record.object.key);
    match &record.part {
        Some(part) => part.label(&key),
        None => key.into_owned(),
    }
}

/// An error that ends the task at once rather than failing one record: stdout or
/// stderr is gone (nothing more can be reported), or Campanile itself broke.
fn stops_the_task(error: &Error) -> bool {
    match error {
        Error::Io { context, .. } => context.starts_with("writing std"),
        Error::Internal(_) => true,
        _ => false,
    }
}

/// Copies one record, unless a retried attempt finds it done; a source gone or changed
/// since the listing is skipped and reported.
async fn copy_or_skip<W: Write, E: Write>(
    record: &PartRecord,
    src: &Client,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    // In place, a whole object at its listed ETag is the one to rewrite, not a copy an
    // earlier attempt finished: the rewrite is pinned to that ETag, so doing it again
    // is safe.
    if options.retried
        && !(options.in_place && record.part.is_none())
        && let Some(done) = already_copied(record, dst, options, sinks).await?
    {
        return Ok(done);
    }
    match copy_record(record, src, dst, options, sinks).await {
        Err(Error::SourceMoved {
            reason: SkipReason::Archived,
            message,
            ..
        }) => {
            // The storage class and archive tier, for the report.
            let detail = skip::archive_detail_of(src, &options.src_bucket, &record.object.key)
                .await
                .unwrap_or(message);
            skip(record, SkipReason::Archived, detail, options, sinks)
        }
        Err(Error::SourceMoved {
            reason: SkipReason::DestinationChanged,
            message,
            ..
        }) => destination_changed(record, message, dst, options, sinks).await,
        Err(Error::SourceMoved {
            reason, message, ..
        }) => skip(record, reason, message, options, sinks),
        other => other,
    }
}

/// A conditional write refused (412, `rsync --diff`): skipped and reported, unless the
/// destination already holds the source's object (ETag and size). That is this
/// copy's own write, whose answer was lost and whose retry the condition refused (or
/// someone wrote the same bytes): the object is where it must be, so it is done.
async fn destination_changed<W: Write, E: Write>(
    record: &PartRecord,
    message: String,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    if sinks
        .finished
        .whole_object(
            record,
            dst,
            &options.dst_bucket,
            &options.dst_key(&record.object.key),
            options.sse_c.dst.as_ref(),
        )
        .await
    {
        return found_written(record, options, sinks);
    }
    skip(
        record,
        SkipReason::DestinationChanged,
        message,
        options,
        sinks,
    )
}

/// A whole object found at the destination, as the copy would have written it: counted
/// `AlreadyCopied`, not copied again.
fn found_written<W: Write, E: Write>(
    record: &PartRecord,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    let mut reporter = sinks.reporter.borrow_mut();
    reporter.counter(&options.dst_bucket, counters::ALREADY_COPIED, 1)?;
    reporter.status(&format!(
        "{}/{}:already copied",
        options.dst_bucket,
        label(record)
    ))?;
    Ok(ObjectCopySummary {
        already_copied: 1,
        ..ObjectCopySummary::default()
    })
}

/// What a retried attempt finds done at the destination: the record's summary (and,
/// for a part, its line for multipartcomplete written), or `None` to copy it.
async fn already_copied<W: Write, E: Write>(
    record: &PartRecord,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<Option<ObjectCopySummary>, Error> {
    let dst_bucket = &options.dst_bucket;
    let dst_key = options.dst_key(&record.object.key);
    match &record.part {
        None => {
            let key = options.sse_c.dst.as_ref();
            if !sinks
                .finished
                .whole_object(record, dst, dst_bucket, &dst_key, key)
                .await
            {
                return Ok(None);
            }
        }
        Some(part) => {
            let key = options.sse_c.dst.as_ref();
            let Some(found) = sinks
                .finished
                .part(record, part, dst, dst_bucket, &dst_key, key)
                .await
            else {
                return Ok(None);
            };
            // A part found already uploaded is taken as MD5s both sides, as before; its
            // checksum is the one ListParts gives.
            let checksum = part_checksum(part, found.checksum);
            write_copied_part(record, part, found.etag, PartEtags::Md5, checksum, sinks)?;
        }
    }
    let mut reporter = sinks.reporter.borrow_mut();
    reporter.counter(dst_bucket, counters::ALREADY_COPIED, 1)?;
    reporter.status(&format!("{dst_bucket}/{}:already copied", label(record)))?;
    Ok(Some(ObjectCopySummary {
        already_copied: 1,
        ..ObjectCopySummary::default()
    }))
}

/// Skips a record whose source is gone or changed: a whole object is reported as
/// skipped; a part's line tells multipartcomplete, which aborts the upload and reports
/// the object once (not once per part).
fn skip<W: Write, E: Write>(
    record: &PartRecord,
    reason: SkipReason,
    detail: String,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    let object = &record.object;
    match &record.part {
        None => {
            let row = Skipped {
                key: object.key.clone(),
                size: object.size,
                etag: object.etag.clone(),
                reason,
                detail,
            };
            // Counted where it was seen: the destination for a refused write.
            let bucket = if reason.at_destination() {
                &options.dst_bucket
            } else {
                &options.src_bucket
            };
            skip::report(
                &mut **sinks.output.borrow_mut(),
                &mut **sinks.reporter.borrow_mut(),
                bucket,
                &row,
            )?;
        }
        Some(part) => {
            let line = CopiedPartRecord {
                key: object.key.clone(),
                etag: object.etag.clone(),
                upload_id: part.upload_id.clone(),
                part_etag: CopiedPartRecord::skipped_part_etag(reason),
                part_number: part.part_number,
                first_byte: part.first_byte,
                last_byte: part.last_byte,
                etags: PartEtags::Md5,
                checksum: None,
                destination: record.object.destination.clone(),
            };
            writeln!(sinks.output.borrow_mut(), "{}", line.to_line())
                .map_err(|e| Error::io("writing stdout", e))?;
            sinks.reporter.borrow_mut().status_now(&format!(
                "{}/{}: not copied, {reason} ({detail}); multipartcomplete aborts its upload",
                options.src_bucket,
                label(record)
            ))?;
        }
    }
    Ok(ObjectCopySummary {
        skipped: 1,
        ..ObjectCopySummary::default()
    })
}

async fn copy_record<W: Write, E: Write>(
    record: &PartRecord,
    src: &Client,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    if options.in_place {
        return in_place::rewrite(record, dst, options, sinks).await;
    }
    if options.server_side {
        let copied = copy_in_server(record, dst, options, None, sinks).await?;
        return Ok(copied.unwrap_or_default());
    }
    if options.server_side_if_readable && !sinks.client_only.get() {
        match server_side::probe(record, &options.src_bucket, dst, &options.sse_c).await? {
            server_side::Probe::Readable(readable) => {
                if let Some(summary) =
                    copy_in_server(record, dst, options, Some(*readable), sinks).await?
                {
                    return Ok(summary);
                }
                // The server's copy is not the task's: stored with SSE-KMS (the
                // bucket's default encryption), its ETag proves nothing; or a part
                // lacks the checksum its upload carries. This record is copied again
                // through the task, whose proofs hold, and so is every later one.
                sinks.client_only.set(true);
                sinks.reporter.borrow_mut().status_now(&format!(
                    "{}/{}: the server's copy is not proven as this task's is (stored with \
                     SSE-KMS, whose ETag proves nothing, or a part without its checksum): \
                     copying through this task",
                    options.dst_bucket,
                    label(record)
                ))?;
            }
            server_side::Probe::NotMd5 => {}
            server_side::Probe::Refused(detail) => {
                // Said once per task: the rest of its records go through it.
                sinks.client_only.set(true);
                sinks.reporter.borrow_mut().status_now(&format!(
                    "{}: the destination's credentials cannot read s3://{} ({detail}): \
                     copying through this task",
                    options.dst_bucket, options.src_bucket
                ))?;
            }
        }
    }
    let size = record.len();
    let server = server_checks(record, dst, options, sinks).await?;
    // Held until the copy is written: the bytes in memory stay within the budget.
    let share = sinks.memory.reserve(size).await?;
    let reporter = &sinks.reporter;
    // A whole object the destination refused because the bytes read were not the
    // source's (without the client's MD5, only the server's check of the source's
    // ETag sees it) is read again, as a GET that fails its MD5 check is.
    let mut reads = 1;
    let (body, headers, source) = loop {
        let (body, headers, source) = transfer::download(
            record,
            src,
            options,
            (share.in_memory, server),
            &sinks.buffers,
            reporter,
        )
        .await?;
        if record.part.is_some() {
            break (body, headers, source);
        }
        let mut headers = headers;
        headers
            .read_tags(src, &options.src_bucket, &record.object.key)
            .await?;
        let written = headers.clone().with_settings(&options.write);
        match transfer::put(record, &body, &written, &source, dst, options, reporter).await? {
            transfer::Put::Written => break (body, headers, source),
            transfer::Put::AlreadyThere => return found_written(record, options, sinks),
            transfer::Put::ReadAgain(error) if reads < options.get_attempts.max(1) => {
                reads += 1;
                reporter.borrow_mut().status_now(&format!(
                    "retrying GET s3://{}/{} after: {error}",
                    options.src_bucket, record.object.key
                ))?;
            }
            transfer::Put::ReadAgain(error) => return Err(error),
        }
    };
    // Read before the settings replace the source's encryption. (A part's upload got
    // the object's headers and tags from multipartlist; a whole object is written.)
    let source_md5 = !headers.etag_is_not_md5();
    let moved = i64::try_from(body.length).unwrap_or(i64::MAX);
    let summary = match &record.part {
        None => count_proof(record, source.proof, options, sinks)?,
        Some(part) => {
            let uploaded = transfer::put_part(record, part, &body, dst, options, reporter).await?;
            // A destination ETag that is not an MD5: the part's own MD5 goes with it
            // (computed now when the spool did not: a bucket's default SSE-KMS).
            let destination = if uploaded.md5 {
                Ok(())
            } else {
                Err(Some(body.md5()?))
            };
            let etags = PartEtags::of(source_md5, destination);
            let checksum = part_checksum(part, uploaded.checksum);
            write_copied_part(record, part, uploaded.etag, etags, checksum, sinks)?
        }
    };
    count_copy(record, moved, options, sinks)?;
    drop(share);
    Ok(summary)
}

/// What the destination checks, for `record`'s copy: nothing with `--client-md5` or
/// SSE-C copies (their ETags are no MD5s: every MD5 is the client's), else the probe's
/// answer, probed once per task ([`server_checks::probe`]), its message in the task
/// status.
async fn server_checks<W: Write, E: Write>(
    record: &PartRecord,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<server_checks::ServerChecks, Error> {
    // Only a record that could do without the client's MD5 probes: a whole object
    // whose listed ETag is a plain MD5, a part whose copy's ETag will be one.
    let could = match &record.part {
        None => crate::multipart::is_plain_md5_etag(&record.object.etag),
        Some(_) => {
            options
                .write
                .sse
                .as_deref()
                .is_none_or(|sse| sse == "AES256")
                && options.write.sse_kms_key_id.is_none()
        }
    };
    if options.client_md5 || options.sse_c.dst.is_some() || !could {
        return Ok(server_checks::ServerChecks::default());
    }
    let checks = sinks
        .server_checks
        .get_or_try_init(|| async {
            let near = options.dst_key(&record.object.key);
            let (checks, message) = server_checks::probe(dst, &options.dst_bucket, &near).await;
            if let Some(message) = message {
                sinks.reporter.borrow_mut().status_now(&message)?;
            }
            tracing::debug!(?checks, "destination server checks");
            Ok::<_, Error>(checks)
        })
        .await?;
    Ok(*checks)
}

/// Counts the proof a whole object's bytes got, and names an object whose source
/// offered none in the task status (never passed in silence).
fn count_proof<W: Write, E: Write>(
    record: &PartRecord,
    proof: transfer::SourceProof,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    let mut summary = ObjectCopySummary {
        objects: 1,
        bytes: record.len(),
        ..ObjectCopySummary::default()
    };
    let mut reporter = sinks.reporter.borrow_mut();
    let counter = match proof {
        transfer::SourceProof::Md5 => {
            summary.proven_by_md5 = 1;
            counters::PROVEN_BY_MD5
        }
        transfer::SourceProof::Checksum => {
            summary.proven_by_checksum = 1;
            counters::PROVEN_BY_CHECKSUM
        }
        transfer::SourceProof::Unverifiable => {
            summary.unverifiable = 1;
            // Copied, but exit 0 means proven: the object goes to the report (its row
            // counts it under UnverifiableAtSource).
            let row = Skipped {
                key: record.object.key.clone(),
                size: record.object.size,
                etag: record.object.etag.clone(),
                reason: SkipReason::UnverifiableAtSource,
                detail: "copied, not proven: its source ETag is not an MD5 (SSE-KMS or SSE-C) \
                         and it has no checksum; its write was checked by Content-MD5"
                    .to_string(),
            };
            let mut output = sinks.output.borrow_mut();
            return skip::report(&mut **output, &mut **reporter, &options.src_bucket, &row)
                .map(|()| summary);
        }
    };
    reporter.counter(&options.src_bucket, counter, 1)?;
    Ok(summary)
}

/// The `checksum` field of a copied part's line: the source's checksum (from the part
/// record) and the part's own value, when both are known.
fn part_checksum(
    part: &crate::record::PartInfo,
    value: Option<String>,
) -> Option<crate::checksum::PartChecksum> {
    Some(crate::checksum::PartChecksum {
        source: part.checksum.clone()?,
        part: value?,
    })
}

/// Writes the line multipartcomplete needs for a copied part.
fn write_copied_part<W: Write, E: Write>(
    record: &PartRecord,
    part: &crate::record::PartInfo,
    part_etag: String,
    etags: PartEtags,
    checksum: Option<crate::checksum::PartChecksum>,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    let line = CopiedPartRecord {
        key: record.object.key.clone(),
        etag: record.object.etag.clone(),
        upload_id: part.upload_id.clone(),
        part_etag,
        part_number: part.part_number,
        first_byte: part.first_byte,
        last_byte: part.last_byte,
        etags,
        checksum,
        destination: record.object.destination.clone(),
    };
    writeln!(sinks.output.borrow_mut(), "{}", line.to_line())
        .map_err(|e| Error::io("writing stdout", e))?;
    Ok(ObjectCopySummary {
        parts: 1,
        bytes: record.len(),
        ..ObjectCopySummary::default()
    })
}

/// Counters and status of one copied record.
fn count_copy<W: Write, E: Write>(
    record: &PartRecord,
    moved: i64,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<(), Error> {
    let key = &record.object.key;
    let mut reporter = sinks.reporter.borrow_mut();
    reporter.counter(&options.src_bucket, counters::OUTPUT_BYTES, moved)?;
    reporter.counter(&options.dst_bucket, counters::INPUT_BYTES, moved)?;
    let counter = if record.part.is_some() {
        counters::PARTS
    } else {
        counters::OBJECTS
    };
    reporter.counter(&options.dst_bucket, counter, 1)?;
    reporter.status(&format!("{}/{key}:OK", options.dst_bucket))
}

/// The server-side mode (see [`server_side`]): same output and counters, and the
/// bytes counted `ServerSideBytes`. `headers`, from [`server_side::probe`], are the
/// source's, written onto a whole object's copy (`server_side_if_readable`); without
/// them (`--server-side`) the copy takes what CopyObject carries itself.
///
/// `None` (only for `server_side_if_readable`, nothing counted or written): the
/// server's copy would not be what the task's is — stored with SSE-KMS, so its ETag
/// cannot prove it, or a part whose checksum the server does not give — and the
/// caller copies the record again through the task. `--server-side` and `--in-place`
/// asked for the server's copy and take it as it is (an unproven one counted and
/// reported so).
async fn copy_in_server<W: Write, E: Write>(
    record: &PartRecord,
    dst: &Client,
    options: &ObjectCopyOptions,
    readable: Option<server_side::Readable>,
    sinks: &Sinks<'_, W, E>,
) -> Result<Option<ObjectCopySummary>, Error> {
    let (src_bucket, dst_bucket) = (&options.src_bucket, &options.dst_bucket);
    let dst_key = options.dst_key(&record.object.key);
    let proof_required =
        options.server_side_if_readable && !options.server_side && !options.in_place;
    let summary = match &record.part {
        None => {
            // The source's checksum, when it has one: the server computes it over the
            // copy and the value it shows is compared with the source's. None is asked
            // for a source without one (the copy is then as the source): with no value
            // to compare it would prove nothing, and a server asked for an algorithm the
            // source lacks re-reads and re-writes every byte (Garage: 2.5 times the
            // time of W1's copies) where it would otherwise copy the block references.
            let checksum = readable
                .as_ref()
                .filter(|_| proof_required)
                .and_then(|r| r.checksum.as_ref());
            let headers = readable
                .as_ref()
                .map(|r| r.headers.clone().with_settings(&options.write));
            let compared = server_side::copy_whole(
                record,
                src_bucket,
                (dst_bucket, &dst_key),
                dst,
                (&options.write, headers.as_ref(), checksum),
                &options.sse_c,
            )
            .await?;
            if proof_required && !compared {
                return Ok(None);
            }
            if compared {
                sinks
                    .reporter
                    .borrow_mut()
                    .counter(src_bucket, counters::PROVEN_BY_MD5, 1)?;
            } else if options.in_place {
                in_place::report_unproven(record, options, sinks)?;
            }
            ObjectCopySummary {
                objects: 1,
                bytes: record.object.size,
                proven_by_md5: u64::from(compared),
                unverifiable: u64::from(!compared && options.in_place),
                ..ObjectCopySummary::default()
            }
        }
        Some(part) => {
            let (part_etag, dst_md5, checksum) = server_side::copy_part(
                record,
                part,
                src_bucket,
                (dst_bucket, &dst_key),
                dst,
                &options.sse_c,
            )
            .await?;
            if proof_required && (!dst_md5 || (part.checksum.is_some() && checksum.is_none())) {
                // Copied again through the task, over the same part number.
                return Ok(None);
            }
            // The server copied without showing the source: its ETag is taken as an MD5,
            // unless it is SSE-C (read with a key). The part's checksum is the one the
            // server computed, when it gives one.
            let source_md5 = options.sse_c.src.is_none();
            write_copied_part(
                record,
                part,
                part_etag,
                PartEtags::of(source_md5, if dst_md5 { Ok(()) } else { Err(None) }),
                part_checksum(part, checksum),
                sinks,
            )?
        }
    };
    let moved = i64::try_from(summary.bytes).unwrap_or(i64::MAX);
    count_copy(record, moved, options, sinks)?;
    sinks
        .reporter
        .borrow_mut()
        .counter(dst_bucket, counters::SERVER_SIDE_BYTES, moved)?;
    Ok(Some(summary))
}
