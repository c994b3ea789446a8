//! objectcopy (mapper): copies each object or part of its input, byte for byte.
//!
//! For a whole object (upload id `\N`): one GET, one PUT. The PUT carries the source's
//! content headers, user metadata and encryption (taken from the GET response, so no
//! HEAD is needed) and Content-MD5, so S3 refuses a body damaged on the way in. For a
//! part: a ranged GET and an UploadPart with Content-MD5; the line
//! `key etag uploadId partEtag partNumber firstByte lastByte` goes to stdout for
//! multipartcomplete.
//!
//! Checks on every copy: every GET is pinned to the listed ETag (`If-Match`), so a
//! source that changed since the listing fails loudly; the bytes read must number
//! exactly the expected size; a whole object's MD5 must equal its source ETag before it
//! is written; the ETag S3 returns for a PUT or a part must equal the MD5 of the bytes
//! sent. Writes are signed without their payload (`UNSIGNED-PAYLOAD`): the body is
//! guarded by its Content-MD5, which the signature covers, so a SHA-256 of every byte
//! on both sides would add CPU and no safety. Bytes are held in memory up to `maxtmpsize`, then in a temporary file in a
//! random `ephemeral` directory (see [`crate::spool`]).
//!
//! Records are copied `concurrency` at a time. The task succeeds only when every record
//! of its input was copied and every output line written: it is the unit of retry.
//! Beyond the SDK's own retries (throttling, server errors, broken connections), a GET
//! whose body breaks off or fails its size or MD5 check, and a PUT or part refused for
//! a damaged body (`BadDigest`) or answered with the wrong ETag, are tried again a few
//! times before the task gives up.
//!
//! The module is split by concern: this file reads the records, dispatches each copy
//! and writes the output; [`budget`] is the memory the copies share; [`attempts`]
//! says which failures are tried again; [`transfer`] makes the GETs and writes with
//! their checks; [`server_side`] is the mode where the server copies the bytes.

mod attempts;
mod budget;
pub mod server_side;
mod transfer;

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use futures::{StreamExt, TryFutureExt, TryStreamExt, future};

use crate::error::Error;
use crate::input::checked_records;
use crate::record::{CopiedPartRecord, PartRecord};
use crate::reporter::{Reporter, counters};
use crate::retry::Backoff;
use crate::s3::Client;
use crate::stream::StreamIndex;
use crate::tuning::Tuning;
use budget::MemoryBudget;

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
}

/// The shared sinks of the concurrent copies: all copies run on one task, so a
/// `RefCell` is enough and no lock is held across an await.
struct Sinks<'a, W: Write, E: Write> {
    output: RefCell<&'a mut W>,
    reporter: RefCell<&'a mut Reporter<E>>,
    /// The memory budget (`maxtmpsize`).
    memory: MemoryBudget,
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
    let records = checked_records(input, options.stream_index, PartRecord::parse)?;
    let sinks = Sinks {
        output: RefCell::new(output),
        reporter: RefCell::new(reporter),
        memory: MemoryBudget::new(options.max_tmp_size),
    };
    let summaries: Vec<ObjectCopySummary> = futures::stream::iter(records)
        .map(|record| {
            future::ready(record).and_then(|record| copy_record(record, src, dst, options, &sinks))
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect()
        .await?;
    let Sinks {
        output, reporter, ..
    } = sinks;
    output
        .into_inner()
        .flush()
        .map_err(|e| Error::io("writing stdout", e))?;
    reporter.into_inner().finish()?;
    Ok(summaries
        .into_iter()
        .fold(ObjectCopySummary::default(), |total, one| {
            ObjectCopySummary {
                objects: total.objects + one.objects,
                parts: total.parts + one.parts,
                bytes: total.bytes + one.bytes,
            }
        }))
}

async fn copy_record<W: Write, E: Write>(
    record: PartRecord,
    src: &Client,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    if options.server_side {
        return copy_in_server(record, dst, options, sinks).await;
    }
    let size = match &record.part {
        Some(part) => part.range().len(),
        None => record.object.size,
    };
    // Held until the copy is written: the bytes in memory stay within the budget.
    let share = sinks.memory.reserve(size).await?;
    let reporter = &sinks.reporter;
    let (body, headers) =
        transfer::download(&record, src, options, share.in_memory, reporter).await?;
    let moved = i64::try_from(body.length).unwrap_or(i64::MAX);
    let summary = match &record.part {
        None => {
            transfer::put(&record, &body, &headers, dst, options, reporter).await?;
            ObjectCopySummary {
                objects: 1,
                parts: 0,
                bytes: body.length,
            }
        }
        Some(part) => {
            let part_etag =
                transfer::put_part(&record, part, &body, &headers, dst, options, reporter).await?;
            write_copied_part(&record, part, part_etag, sinks)?
        }
    };
    count_copy(&record, moved, options, sinks)?;
    drop(share);
    Ok(summary)
}

/// Writes the line multipartcomplete needs for a copied part.
fn write_copied_part<W: Write, E: Write>(
    record: &PartRecord,
    part: &crate::record::PartInfo,
    part_etag: String,
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
    };
    writeln!(sinks.output.borrow_mut(), "{}", line.to_line())
        .map_err(|e| Error::io("writing stdout", e))?;
    Ok(ObjectCopySummary {
        objects: 0,
        parts: 1,
        bytes: part.range().len(),
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

/// The server-side mode (see [`server_side`]): same output and counters.
async fn copy_in_server<W: Write, E: Write>(
    record: PartRecord,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    let (src_bucket, dst_bucket) = (&options.src_bucket, &options.dst_bucket);
    let summary = match &record.part {
        None => {
            server_side::copy_whole(&record, src_bucket, dst_bucket, dst).await?;
            ObjectCopySummary {
                objects: 1,
                parts: 0,
                bytes: record.object.size,
            }
        }
        Some(part) => {
            let part_etag =
                server_side::copy_part(&record, part, src_bucket, dst_bucket, dst).await?;
            write_copied_part(&record, part, part_etag, sinks)?
        }
    };
    let moved = i64::try_from(summary.bytes).unwrap_or(i64::MAX);
    count_copy(&record, moved, options, sinks)?;
    Ok(summary)
}
