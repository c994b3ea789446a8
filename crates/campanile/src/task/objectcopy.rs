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

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, S3Context};
use crate::headers::ObjectHeaders;
use crate::input::parse_all;
use crate::multipart::is_plain_md5_etag;
use crate::record::{CopiedPartRecord, PartRecord};
use crate::reporter::{Reporter, counters};
use crate::retry::{Backoff, Failure, retry};
use crate::s3::{Client, http_status, is_service_error};
use crate::spool::{Spool, SpooledBody, choose_directory};
use crate::stream::StreamIndex;
use crate::task::servercopy;
use crate::tuning::Tuning;

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
    /// The memory budget, in KiB permits.
    memory: tokio::sync::Semaphore,
}

fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
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
    let records = parse_all(input, options.stream_index, PartRecord::parse)?;
    let sinks = Sinks {
        output: RefCell::new(output),
        reporter: RefCell::new(reporter),
        memory: tokio::sync::Semaphore::new(kib(options.max_tmp_size) as usize),
    };
    let summaries: Vec<ObjectCopySummary> = futures::stream::iter(records)
        .map(|record| copy_record(record, src, dst, options, &sinks))
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
    let in_memory = size.min(options.max_tmp_size);
    // Held until the copy is written: the bytes in memory stay within the budget.
    let _memory = sinks
        .memory
        .acquire_many(kib(in_memory))
        .await
        .map_err(|e| Error::Internal(format!("the memory budget is gone: {e}")))?;
    let (body, headers) = download(&record, src, options, in_memory, sinks).await?;
    let moved = i64::try_from(body.length).unwrap_or(i64::MAX);
    let key = &record.object.key;
    let summary = match &record.part {
        None => {
            let what = format!("PUT s3://{}/{key}", options.dst_bucket);
            with_attempts(&what, options, sinks, || {
                put_whole(&record, &body, &headers, dst, options)
            })
            .await?;
            ObjectCopySummary {
                objects: 1,
                parts: 0,
                bytes: body.length,
            }
        }
        Some(part) => {
            let what = format!(
                "UploadPart {} of s3://{}/{key}",
                part.part_number, options.dst_bucket
            );
            let part_etag = with_attempts(&what, options, sinks, || {
                upload_part(&record, part, &body, &headers, dst, options)
            })
            .await?;
            write_copied_part(&record, part, part_etag, sinks)?
        }
    };
    count_copy(&record, moved, options, sinks)?;
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

/// The server-side mode (see [`crate::task::servercopy`]): same output and counters.
async fn copy_in_server<W: Write, E: Write>(
    record: PartRecord,
    dst: &Client,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    let (src_bucket, dst_bucket) = (&options.src_bucket, &options.dst_bucket);
    let summary = match &record.part {
        None => {
            servercopy::copy_whole(&record, src_bucket, dst_bucket, dst).await?;
            ObjectCopySummary {
                objects: 1,
                parts: 0,
                bytes: record.object.size,
            }
        }
        Some(part) => {
            let part_etag =
                servercopy::copy_part(&record, part, src_bucket, dst_bucket, dst).await?;
            write_copied_part(&record, part, part_etag, sinks)?
        }
    };
    let moved = i64::try_from(summary.bytes).unwrap_or(i64::MAX);
    count_copy(&record, moved, options, sinks)?;
    Ok(summary)
}

/// GETs the object or part into a spool, retrying a body that breaks off or does not
/// match its size or MD5.
async fn download<W: Write, E: Write>(
    record: &PartRecord,
    src: &Client,
    options: &ObjectCopyOptions,
    in_memory: u64,
    sinks: &Sinks<'_, W, E>,
) -> Result<(SpooledBody, ObjectHeaders), Error> {
    let what = format!("GET s3://{}/{}", options.src_bucket, record.object.key);
    with_attempts(&what, options, sinks, || {
        download_once(record, src, options, in_memory, sinks)
    })
    .await
}

/// Runs `step` until it succeeds, fails for good, or `get_attempts` attempts failed
/// in a way another attempt can mend, pausing with `options.backoff` in between.
/// The SDK already retries throttling, server errors and broken connections; these
/// attempts are for what only Campanile sees: a body cut short or damaged (its size or
/// MD5 is wrong) on the way out of the source or into the destination.
async fn with_attempts<T, F, Fut, W: Write, E: Write>(
    what: &str,
    options: &ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
    mut step: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Retry>>,
{
    retry(
        &options.backoff,
        options.get_attempts,
        |_| step(),
        |error, _, _| {
            sinks
                .reporter
                .borrow_mut()
                .status_now(&format!("retrying {what} after: {error}"))
        },
    )
    .await
}

/// How a failed attempt ended: [`Failure::Transient`] when another attempt may
/// succeed, [`Failure::Permanent`] when it would fail the same way.
type Retry = Failure<Error>;

/// A failed write of `key` (an object, or a part's label), and whether it is worth
/// another attempt: the body was damaged on the way (the server refused its
/// Content-MD5), or the request never got a service answer.
fn write_failure<E>(
    error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    operation: &'static str,
    bucket: &str,
    key: String,
) -> Retry
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let damaged = error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "BadDigest" || code == "InvalidDigest");
    let again = damaged || !is_service_error(&error);
    let wrapped = S3Context::new(operation, bucket, key).sdk(error);
    if again {
        Failure::Transient(wrapped)
    } else {
        Failure::Permanent(wrapped)
    }
}

async fn download_once<W: Write, E: Write>(
    record: &PartRecord,
    src: &Client,
    options: &ObjectCopyOptions,
    in_memory: u64,
    sinks: &Sinks<'_, W, E>,
) -> Result<(SpooledBody, ObjectHeaders), Retry> {
    let object = &record.object;
    let bucket = &options.src_bucket;
    let (range, expected) = match &record.part {
        Some(part) => (Some(part.range().header()), part.range().len()),
        None => (None, object.size),
    };
    let context = || S3Context::new("GetObject", bucket, &object.key);
    let response = src
        .get_object()
        .bucket(bucket)
        .key(&object.key)
        .set_range(range)
        .if_match(format!("\"{}\"", object.etag))
        .send()
        .await
        .map_err(|e| {
            let explained = match http_status(&e) {
                Some(412) => Some(format!(
                    "the source changed since it was listed (its ETag is no longer {}); list it again",
                    object.etag
                )),
                Some(404) => {
                    Some("the source no longer exists (deleted since it was listed)".to_string())
                }
                _ => None,
            };
            let service = is_service_error(&e);
            let error = match explained {
                Some(message) => context().explained(message, e),
                None => context().sdk(e),
            };
            if service {
                Failure::Permanent(error)
            } else {
                Failure::Transient(error)
            }
        })?;
    let headers = ObjectHeaders::from_get(&response);
    let announced = response
        .content_length()
        .and_then(|l| u64::try_from(l).ok());
    if let Some(announced) = announced
        && announced != expected
    {
        return Err(Failure::Permanent(Error::Integrity {
            bucket: bucket.clone(),
            key: object.key.clone(),
            message: format!(
                "GET announced {announced} bytes, expected {expected} (the source changed since it was listed?)"
            ),
        }));
    }
    let directory = choose_directory(&options.ephemeral);
    let mut spool = Spool::new(in_memory, expected, &directory);
    let mut body = response.body;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| Failure::Transient(context().explained(format!("reading the body: {e}"), e)))?
    {
        spool.write(&chunk).map_err(Failure::Permanent)?;
        if spool.len() > expected {
            break;
        }
        sinks
            .reporter
            .borrow_mut()
            .status(&format!(
                "{}/{}: {} of {expected} bytes read",
                options.dst_bucket,
                object.key,
                spool.len()
            ))
            .map_err(Failure::Permanent)?;
    }
    if spool.len() != expected {
        return Err(Failure::Transient(Error::Integrity {
            bucket: bucket.clone(),
            key: object.key.clone(),
            message: format!("read {} bytes, expected {expected}", spool.len()),
        }));
    }
    let spooled = spool.finish().map_err(Failure::Permanent)?;
    if record.part.is_none()
        && is_plain_md5_etag(&object.etag)
        && !headers.etag_is_not_md5()
        && spooled.md5_hex() != object.etag
    {
        return Err(Failure::Transient(Error::Integrity {
            bucket: bucket.clone(),
            key: object.key.clone(),
            message: format!(
                "the bytes read have MD5 {}, the source ETag is {}",
                spooled.md5_hex(),
                object.etag
            ),
        }));
    }
    Ok((spooled, headers))
}

async fn put_whole(
    record: &PartRecord,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    dst: &Client,
    options: &ObjectCopyOptions,
) -> Result<(), Retry> {
    let key = &record.object.key;
    let request = dst
        .put_object()
        .bucket(&options.dst_bucket)
        .key(key)
        .content_md5(body.content_md5())
        .content_length(i64::try_from(body.length).unwrap_or(i64::MAX))
        .body(body.byte_stream().await.map_err(Failure::Permanent)?);
    let put = headers
        .apply_to_put(request)
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| write_failure(e, "PutObject", &options.dst_bucket, key.clone()))?;
    // The server stored other bytes than were sent: another PUT overwrites them.
    written_etag(put.e_tag(), "PUT", body, headers, key, options)?;
    Ok(())
}

/// The ETag a write returned, checked against the MD5 of the bytes sent (unless the
/// object's ETags are not MD5s); `what` names the write in the message.
fn written_etag(
    returned: Option<&str>,
    what: &str,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    key: &str,
    options: &ObjectCopyOptions,
) -> Result<String, Retry> {
    let etag = returned.unwrap_or_default().trim_matches('"');
    if !headers.etag_is_not_md5() && etag != body.md5_hex() {
        return Err(Failure::Transient(Error::Integrity {
            bucket: options.dst_bucket.clone(),
            key: key.to_string(),
            message: format!(
                "{what} returned ETag {etag:?}, the bytes sent have MD5 {}",
                body.md5_hex()
            ),
        }));
    }
    Ok(etag.to_string())
}

async fn upload_part(
    record: &PartRecord,
    part: &crate::record::PartInfo,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    dst: &Client,
    options: &ObjectCopyOptions,
) -> Result<String, Retry> {
    let key = &record.object.key;
    let uploaded = dst
        .upload_part()
        .bucket(&options.dst_bucket)
        .key(key)
        .upload_id(&part.upload_id)
        .part_number(i32::try_from(part.part_number).unwrap_or(i32::MAX))
        .content_md5(body.content_md5())
        .content_length(i64::try_from(body.length).unwrap_or(i64::MAX))
        .body(body.byte_stream().await.map_err(Failure::Permanent)?)
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| write_failure(e, "UploadPart", &options.dst_bucket, part.label(key)))?;
    // Uploading the same part number again replaces the damaged part.
    let what = format!("part {}", part.part_number);
    written_etag(uploaded.e_tag(), &what, body, headers, key, options)
}
