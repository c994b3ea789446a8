//! multipartlist (mapper): turns each listed object into copy work.
//!
//! A single-PUT object (ETag without `-N`) becomes one line: the listing record plus
//! five `\N`; objectcopy copies it whole with one GET and one PUT, so nothing is
//! requested here. A multipart object (ETag `…-N`) becomes one line per part, with the
//! destination upload id and the part's inclusive byte range, because its ETag survives
//! a copy only if the copy has exactly the source's part boundaries.
//!
//! Those boundaries come from S3 itself: `HeadObject?partNumber=1` returns part 1's
//! Content-Length and `x-amz-mp-parts-count`. A HEAD of the whole object (pinned to
//! the listed ETag, in checksum mode) gives the metadata the destination upload needs
//! and the source's checksum: when it has one that can prove the copy (see
//! [`crate::checksum`]), the upload is created with the same algorithm and type, and
//! every part record carries it (`checksum:<ALGO>:<TYPE>:<value>`). The last part is
//! asked the same way; when parts 1 and N do not add up to a uniform layout (or with
//! `--probe-every-part`), every part is asked. Only a server that ignores `partNumber`
//! makes us guess (the AWS CLI rule, then known uploader sizes); a wrong guess is caught
//! by multipartcomplete before it completes the upload. An object whose layout S3
//! cannot tell is skipped and reported ([`Reporter::skipped`]: counter
//! `UnknownPartLayout`, the status `Can't calculate partsize for <src>/<key>: skipped`,
//! a skip row) and listed in the task summary.
//!
//! Right after creating a key's upload, every other upload in progress for that key is
//! aborted (see [`crate::orphans::abort_others`]): those of a killed earlier attempt,
//! of a CreateMultipartUpload the SDK retried after its answer was lost, or of an
//! earlier failed run.
//!
//! SSE-C: with `--src-sse-c-key-file` every HEAD of the source carries its key, and
//! with `--dst-sse-c-key-file` every upload is created with the copies' key
//! ([`crate::sse_c`]).
//!
//! A live source: an object whose HEAD finds it gone (404) or showing another ETag than
//! the listing (changed since) is skipped, not retried, and reported (counter
//! `SourceVanished` or `SourceChanged` on the source bucket); no upload is created for
//! it, and the task goes on. objectcopy pins every GET to the listed ETag as well, so
//! two versions of an object are never mixed.

use std::io::{BufRead, Write};

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::ChecksumMode;
use futures::StreamExt;
use tracing::Instrument;

use crate::checksum::SourceChecksum;
use crate::command::WriteSettings;
use crate::error::{Error, S3Context, S3ResultExt};
use crate::headers::ObjectHeaders;
use crate::input::checked_records;
use crate::multipart::{
    ByteRange, guess_part_size, part_count_from_etag, part_map_from_sizes, uniform_part_map,
};
use crate::record::{ListingRecord, PartInfo, PartRecord};
use crate::reporter::{Reporter, counters};
use crate::s3::{Client, http_status};
use crate::skip::{self, Line, SkipReason, Skipped};
use crate::sse_c::{CustomerKey, SseCKeys, WithCustomerKey};
use crate::stream::StreamIndex;
use crate::tuning::Tuning;

/// Options of multipartlist.
#[derive(Debug, Clone)]
pub struct MultipartListOptions {
    /// Source bucket.
    pub src_bucket: String,
    /// Destination bucket.
    pub dst_bucket: String,
    /// Whether input lines carry Hadoop's offset field.
    pub stream_index: StreamIndex,
    /// Write nothing: random upload ids.
    pub dry_run: bool,
    /// Ask S3 for the size of every part, not only the first and the last.
    pub probe_every_part: bool,
    /// Objects handled at once ([`Tuning::multipartlist_concurrency`]).
    pub concurrency: usize,
    /// Encryption, storage class and ACL of the copies instead of the source's.
    pub write: WriteSettings,
    /// The SSE-C keys of the source objects and of the copies (read from the key files
    /// of `write` and the command line).
    pub sse_c: SseCKeys,
    /// The destination key of each record's (source) key: where the upload is made.
    pub keys: crate::select::KeyMap,
    /// Every record written carries its listed ETag as the destination's condition
    /// (`--in-place`, `campanile reencrypt`: the destination is the source).
    pub in_place: bool,
}

impl Default for MultipartListOptions {
    /// No buckets (to be set), shell input, for real, first and last parts probed, and
    /// [`Tuning::DEFAULT`]'s concurrency.
    fn default() -> Self {
        MultipartListOptions {
            src_bucket: String::new(),
            dst_bucket: String::new(),
            stream_index: StreamIndex::SHELL,
            dry_run: false,
            probe_every_part: false,
            concurrency: Tuning::DEFAULT.multipartlist_concurrency,
            write: WriteSettings::default(),
            sse_c: SseCKeys::default(),
            keys: crate::select::KeyMap::default(),
            in_place: false,
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultipartListSummary {
    /// Single-PUT objects passed through.
    pub whole_objects: u64,
    /// Multipart objects split into parts.
    pub multipart_objects: u64,
    /// Part lines written.
    pub parts: u64,
    /// Keys skipped because S3 could not tell their part layout.
    pub unknown_layout: Vec<String>,
    /// Keys skipped because they are gone or changed since the listing.
    pub source_moved: Vec<String>,
}

/// What one listed object became.
enum Planned {
    Whole(PartRecord),
    Parts(Vec<PartRecord>),
    /// Left out (gone, changed, archived, layout unknown): its skip row goes on to the
    /// report.
    Skipped(Skipped),
    /// A skip row of an earlier step, passed on unchanged.
    PassedOn(String),
}

/// Runs multipartlist over `input`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    src: &Client,
    dst: &Client,
    options: &MultipartListOptions,
) -> Result<MultipartListSummary, Error> {
    let records = checked_records(
        input,
        options.stream_index,
        skip::or_passed(ListingRecord::parse),
    )?;
    let mut summary = MultipartListSummary::default();
    let mut planned = futures::stream::iter(records)
        .map(|item| async move {
            match item? {
                Line::Record(record) => {
                    let span = crate::logging::record_span(&record.key, None);
                    async {
                        tracing::debug!(size = record.size, "planning");
                        plan_object(record, src, dst, options).await
                    }
                    .instrument(span)
                    .await
                }
                Line::Skipped(row) => Ok(Planned::PassedOn(row)),
            }
        })
        .buffered(options.concurrency.max(1));
    while let Some(result) = planned.next().await {
        match result? {
            Planned::Whole(record) => {
                write_line(output, &record)?;
                summary.whole_objects += 1;
            }
            Planned::Parts(parts) => {
                for part in &parts {
                    write_line(output, part)?;
                }
                summary.multipart_objects += 1;
                summary.parts += parts.len() as u64;
                reporter.counter(&options.dst_bucket, counters::UPLOADS, 1)?;
                reporter.counter(&options.dst_bucket, counters::PARTS, parts.len() as i64)?;
            }
            Planned::Skipped(row) => {
                if row.reason == SkipReason::UnknownLayout {
                    // The article's message, kept for those who look for it.
                    reporter.status_now(&format!(
                        "Can't calculate partsize for {}/{}: skipped",
                        options.src_bucket, row.key
                    ))?;
                    summary.unknown_layout.push(row.key.clone());
                } else if matches!(row.reason, SkipReason::Vanished | SkipReason::Changed) {
                    summary.source_moved.push(row.key.clone());
                }
                skip::report(output, reporter, &options.src_bucket, &row)?;
            }
            Planned::PassedOn(row) => {
                skip::pass_on(output, &row)?;
                // Not an object of this step's: not counted again.
                continue;
            }
        }
        reporter.counter(&options.src_bucket, counters::OBJECTS, 1)?;
    }
    drop(planned);
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    if !summary.unknown_layout.is_empty() {
        tracing::warn!(
            "{} object(s) skipped, part layout unknown: {}",
            summary.unknown_layout.len(),
            summary.unknown_layout.join(", ")
        );
    }
    reporter.finish()?;
    Ok(summary)
}

/// The skip row of a listed object.
fn skipped(object: &ListingRecord, reason: SkipReason, detail: String) -> Skipped {
    Skipped {
        key: object.key.clone(),
        size: object.size,
        etag: object.etag.clone(),
        reason,
        detail,
    }
}

fn write_line<W: Write>(output: &mut W, record: &PartRecord) -> Result<(), Error> {
    writeln!(output, "{}", record.to_line()).map_err(|e| Error::io("writing stdout", e))
}

/// Plans one object; an object gone or changed since the listing is skipped.
async fn plan_object(
    mut object: ListingRecord,
    src: &Client,
    dst: &Client,
    options: &MultipartListOptions,
) -> Result<Planned, Error> {
    // In place, the key must still hold what was listed when it is written (a
    // diff's condition, if any, is kept).
    if options.in_place && object.destination.is_none() {
        object.destination = Some(crate::record::Destination::Etag(object.etag.clone()));
    }
    let Some(count) = part_count_from_etag(&object.etag) else {
        return Ok(Planned::Whole(PartRecord { object, part: None }));
    };
    match plan_multipart(&object, count, src, dst, options).await {
        Err(Error::SourceMoved {
            reason, message, ..
        }) => Ok(Planned::Skipped(skipped(&object, reason, message))),
        Ok(planned) => Ok(planned),
        Err(error) => Err(error),
    }
}

/// What S3 says of an object's parts.
enum Layout {
    /// The parts' byte ranges (`0 0` for the one empty part of an empty object).
    Known(Vec<ByteRange>),
    /// Not told, or not expressible as part records: the skip row's detail.
    Unknown(String),
}

/// The detail of an object whose part layout S3 cannot tell.
const NOT_TOLD: &str = "S3 cannot tell its part layout";

/// Plans a multipart object of `count` parts: skipped when its part layout is unknown.
async fn plan_multipart(
    object: &ListingRecord,
    count: u32,
    src: &Client,
    dst: &Client,
    options: &MultipartListOptions,
) -> Result<Planned, Error> {
    let src_key = options.sse_c.src.as_ref();
    let head = head_part(src, &options.src_bucket, object, 1, src_key).await?;
    // The object's own HEAD, in checksum mode: its checksum (the one of a part HEAD
    // may be the part's), and the object's headers, which a server that answers for
    // the part alone (moto) leaves out of the part's.
    let whole = head_object(src, &options.src_bucket, object, src_key).await?;
    let checksum = SourceChecksum::of_head(&whole);
    // The Intelligent-Tiering archive tiers show in this HEAD, not in the listing.
    if let Some(detail) = skip::archive_detail(&whole) {
        return Ok(Planned::Skipped(skipped(
            object,
            SkipReason::Archived,
            detail,
        )));
    }
    let ranges = match part_layout(src, &options.src_bucket, object, count, &head, options).await? {
        Layout::Known(ranges) => ranges,
        Layout::Unknown(detail) => {
            return Ok(Planned::Skipped(skipped(
                object,
                SkipReason::UnknownLayout,
                detail,
            )));
        }
    };
    let upload_id = if options.dry_run {
        random_uuid()
    } else {
        let mut headers = ObjectHeaders::from_head(&whole);
        headers
            .read_tags(src, &options.src_bucket, &object.key)
            .await?;
        // In place (`campanile reencrypt`) the new upload replaces the object: it is
        // created with the object's grants, or it would get the default ACL. `--acl`
        // replaces them.
        if options.in_place && options.write.acl.is_none() {
            headers
                .read_grants(src, &options.src_bucket, &object.key)
                .await?;
        }
        let headers = headers.with_settings(&options.write);
        // The records keep the source key; the upload is the destination key's.
        let dst_key = options.keys.dst_key(&object.key);
        let upload_id = create_upload(
            dst,
            &options.dst_bucket,
            &dst_key,
            &headers,
            checksum.as_ref(),
            options.sse_c.dst.as_ref(),
        )
        .await?;
        // This run owns the key: any other upload of it in progress is an orphan.
        crate::orphans::abort_others(dst, &options.dst_bucket, &dst_key, &upload_id).await?;
        upload_id
    };
    let part_count = u32::try_from(ranges.len()).unwrap_or(u32::MAX);
    let parts = ranges
        .iter()
        .zip(1..)
        .map(|(range, part_number)| PartRecord {
            object: object.clone(),
            part: Some(PartInfo {
                upload_id: upload_id.clone(),
                part_number,
                part_count,
                first_byte: range.first,
                last_byte: range.last,
                checksum: checksum.clone(),
            }),
        })
        .collect();
    Ok(Planned::Parts(parts))
}

/// HEAD of one part. AWS answers with the object's ETag, which must still be the
/// listed one; some servers (moto) answer with the part's own ETag (a plain MD5), and
/// refuse `If-Match` against the object's, so the check is made here rather than with
/// a precondition. objectcopy's GETs are pinned with `If-Match` in any case.
async fn head_part(
    client: &Client,
    bucket: &str,
    object: &ListingRecord,
    part_number: u32,
    key: Option<&CustomerKey>,
) -> Result<HeadObjectOutput, Error> {
    let result = client
        .head_object()
        .bucket(bucket)
        .key(&object.key)
        .part_number(i32::try_from(part_number).unwrap_or(i32::MAX))
        .sse_c(key)
        .send()
        .await;
    let context = S3Context::new("HeadObject", bucket, &object.key);
    let head = result.map_err(|e| match http_status(&e) {
        Some(404) => context.clone().source_moved(
            SkipReason::Vanished,
            "the object no longer exists (deleted since it was listed)",
            Some(Box::new(e)),
        ),
        _ => context.clone().sdk(e),
    })?;
    let etag = head.e_tag().unwrap_or_default().trim_matches('"');
    if etag != object.etag && !describes_the_part_only(&head) {
        return Err(context.source_moved(
            SkipReason::Changed,
            format!(
                "the object changed since it was listed (its ETag is now {etag}, listed {}); list it again",
                object.etag
            ),
            None,
        ));
    }
    Ok(head)
}

/// True when a `partNumber` HEAD answered with the part's own ETag (a plain MD5, as
/// moto does) instead of the object's: its ETag cannot be compared with the listing's
/// (the HEAD of the whole object, pinned with `If-Match`, checks the object instead).
fn describes_the_part_only(head: &HeadObjectOutput) -> bool {
    !head.e_tag().unwrap_or_default().contains('-')
}

/// HEAD of the whole object, pinned to the listed ETag.
async fn head_object(
    client: &Client,
    bucket: &str,
    object: &ListingRecord,
    key: Option<&CustomerKey>,
) -> Result<HeadObjectOutput, Error> {
    client
        .head_object()
        .bucket(bucket)
        .key(&object.key)
        .if_match(format!("\"{}\"", object.etag))
        // The object's checksum (algorithm, type, value), which the copy reproduces.
        .checksum_mode(ChecksumMode::Enabled)
        .sse_c(key)
        .send()
        .await
        .map_err(|e| {
            S3Context::new("HeadObject", bucket, &object.key).pinned_head_failure(e, &object.etag)
        })
}

fn part_length(head: &HeadObjectOutput) -> u64 {
    head.content_length()
        .and_then(|l| u64::try_from(l).ok())
        .unwrap_or(0)
}

/// The byte ranges of the source's parts, or why they cannot be had.
async fn part_layout(
    client: &Client,
    bucket: &str,
    object: &ListingRecord,
    count: u32,
    first: &HeadObjectOutput,
    options: &MultipartListOptions,
) -> Result<Layout, Error> {
    let unknown = || Layout::Unknown(NOT_TOLD.to_string());
    let size = object.size;
    if size == 0 {
        // An upload of one empty part (ETag `…-1`, size 0): copied as one empty part,
        // written `0 0` (see PartRecord::is_empty_part). Several parts that are all
        // empty cannot be told from one another by a range: left out.
        let one_empty_part =
            count == 1 && first.parts_count().is_none_or(|n| n == 1) && part_length(first) == 0;
        return Ok(if one_empty_part {
            Layout::Known(vec![ByteRange { first: 0, last: 0 }])
        } else {
            Layout::Unknown(format!(
                "{count} empty parts: part records cannot tell them apart"
            ))
        });
    }
    let Some(reported) = first.parts_count() else {
        // The server ignored partNumber (the HEAD describes the whole object): guess.
        return Ok(guess_part_size(size, count)
            .map_or_else(unknown, |p| Layout::Known(uniform_part_map(size, p))));
    };
    if u32::try_from(reported).ok() != Some(count) {
        return Err(
            S3Context::new("HeadObject", bucket, &object.key).problem(format!(
                "S3 reports {reported} parts, the ETag {} says {count}",
                object.etag
            )),
        );
    }
    let first_size = part_length(first);
    if count == 1 {
        return Ok(if first_size == size {
            Layout::Known(uniform_part_map(size, size))
        } else {
            unknown()
        });
    }
    if !options.probe_every_part {
        let last = head_part(client, bucket, object, count, options.sse_c.src.as_ref()).await?;
        let last_size = part_length(&last);
        let uniform_total = first_size * u64::from(count - 1) + last_size;
        if uniform_total == size && last_size <= first_size && last_size > 0 {
            return Ok(Layout::Known(uniform_part_map(size, first_size)));
        }
    }
    let mut sizes = vec![first_size];
    for part_number in 2..=count {
        sizes.push(part_length(
            &head_part(
                client,
                bucket,
                object,
                part_number,
                options.sse_c.src.as_ref(),
            )
            .await?,
        ));
    }
    let total: u64 = sizes.iter().sum();
    // An empty part (S3 takes an empty last part) has no byte range in a part record.
    if total == size
        && let Some(empty) = sizes.iter().position(|&s| s == 0)
    {
        return Ok(Layout::Unknown(format!(
            "part {} of {count} is empty: a part record cannot describe it",
            empty + 1
        )));
    }
    if total != size {
        return Err(
            S3Context::new("HeadObject", bucket, &object.key).problem(format!(
                "the parts S3 reports add up to {total} bytes, the object has {size}"
            )),
        );
    }
    Ok(Layout::Known(part_map_from_sizes(&sizes)))
}

/// Creates the destination upload with the source's headers and, when the source has
/// a checksum that can prove the copy, its algorithm and type (S3 then takes, checks
/// and combines a checksum of that algorithm for every part).
async fn create_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    headers: &ObjectHeaders,
    checksum: Option<&SourceChecksum>,
    sse_c: Option<&CustomerKey>,
) -> Result<String, Error> {
    let request = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .set_checksum_algorithm(checksum.map(|c| c.algorithm.sdk()))
        .set_checksum_type(checksum.map(|c| c.kind.sdk()))
        .sse_c(sse_c);
    let created = headers.apply_to_create(request).send().await.context(
        "CreateMultipartUpload",
        bucket,
        key,
    )?;
    created.upload_id().map(str::to_string).ok_or_else(|| {
        S3Context::new("CreateMultipartUpload", bucket, key).problem("the response has no UploadId")
    })
}

/// A random (version 4) UUID, the upload id of a dry run.
pub fn random_uuid() -> String {
    let bits: u128 = rand::random();
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_eq!(a.matches('-').count(), 4);
    }
}
