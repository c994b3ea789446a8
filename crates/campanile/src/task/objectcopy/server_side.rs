//! objectcopy's server-side mode: when one set of credentials can read the source and
//! write the destination on the same endpoint, the server copies the bytes itself.
//! A whole object is copied with CopyObject (metadata and content headers copied with
//! it); a part with UploadPartCopy over exactly the source part's byte range, so the
//! completed upload has the source's multipart ETag. Both are pinned to the listed
//! ETag (`x-amz-copy-source-if-match`; a source gone or changed is skipped, as in
//! the client mode), and the ETag the server returns is checked: a
//! whole object's must equal the source's (unless the copy is stored with SSE-KMS, as
//! its answer says, or the source is, as a HEAD of it says when the ETags differ: an
//! SSE-KMS ETag is no MD5), a part's is what multipartcomplete combines and compares
//! with the source's before completing (a multipart SSE-KMS source copied server-side
//! is aborted there: nothing on its part lines says its ETag is no MD5). SSE-C: the
//! source's key goes in the `x-amz-copy-source-server-side-encryption-customer-*`
//! headers, the copies' in the `x-amz-server-side-encryption-customer-*` ones; the ETag
//! of an SSE-C source or copy is not an MD5, so a whole object's is not compared, and
//! a part's line says so. After `rsync --diff`
//! a CopyObject is also conditional on the destination (see
//! [`crate::record::Destination`]).

use super::attempts::{DESTINATION_CHANGED, source_moved};
use super::transfer::FullChecksum;
use crate::command::WriteSettings;
use crate::error::{Error, S3Context};
use crate::headers::ObjectHeaders;
use crate::multipart::is_plain_md5_etag;
use crate::record::{Destination, PartInfo, PartRecord};
use crate::s3::{Client, http_status};
use crate::skip::SkipReason;
use crate::sse_c::{CustomerKey, SseCKeys, WithCopySourceKey, WithCustomerKey};

/// What `x-amz-copy-source` escapes in a key: all but unreserved characters
/// (RFC 3986) and `/`.
const COPY_SOURCE_KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `x-amz-copy-source`: `bucket/key` with the key percent-encoded (all but unreserved
/// characters and `/`, upper-case hex).
pub fn copy_source(bucket: &str, key: &str) -> String {
    format!(
        "{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, COPY_SOURCE_KEY)
    )
}

/// A failed server-side copy in Campanile's terms: a source gone (404 `NoSuchKey`) or
/// changed (412 on the `copy-source-if-match` pin) is an [`Error::SourceMoved`], which
/// the task skips and reports; the rest names the request.
pub(super) fn copy_failure<E>(
    error: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    context: S3Context,
    etag: &str,
) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match source_moved(&error, etag) {
        Some((reason, message)) => context.source_moved(reason, message, Some(Box::new(error))),
        None => context.sdk(error),
    }
}

/// What [`probe`] found out about a record's source, read with the destination's
/// credentials.
#[derive(Debug)]
pub(crate) enum Probe {
    /// Readable, and its ETag is an MD5: the server may copy it, and the copy is
    /// proven by the ETag it returns.
    Readable(Box<Readable>),
    /// Readable, but its ETag is no MD5 (SSE-KMS, SSE-C), or archived: copied (or
    /// reported) through the task, whose proofs (the source's checksum) do not need
    /// the ETag.
    NotMd5,
    /// Refused (403): the destination's credentials may not read the source.
    Refused(String),
}

/// What the probe's HEAD showed of a readable source, for a whole object's copy.
#[derive(Debug)]
pub(crate) struct Readable {
    /// The source's headers, written onto the copy.
    pub headers: ObjectHeaders,
    /// The source's full-object checksum: the copy is asked for one of the same
    /// algorithm, which must then equal it when the server shows it.
    pub checksum: Option<FullChecksum>,
}

/// Asks, with one HEAD of the source pinned to the listed ETag and made with the
/// destination's credentials, whether the server may copy the record
/// (`objectcopy --server-side-if-readable`). A source gone (404) or changed (412) is
/// an [`Error::SourceMoved`], skipped as in the client mode.
pub(crate) async fn probe(
    record: &PartRecord,
    src_bucket: &str,
    dst: &Client,
    sse_c: &SseCKeys,
) -> Result<Probe, Error> {
    let object = &record.object;
    let head = dst
        .head_object()
        .bucket(src_bucket)
        .key(&object.key)
        .if_match(format!("\"{}\"", object.etag))
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .sse_c(sse_c.src.as_ref())
        .send()
        .await;
    match head {
        Ok(head) => {
            let headers = ObjectHeaders::from_head(&head);
            // An archived source is left to the task, whose GET reports it as the
            // copy through the task does.
            let through_the_task = headers.etag_is_not_md5()
                || crate::skip::archive_detail(&head).is_some()
                || (!is_plain_md5_etag(&object.etag) && record.part.is_none());
            Ok(if through_the_task {
                Probe::NotMd5
            } else {
                Probe::Readable(Box::new(Readable {
                    headers,
                    checksum: FullChecksum::of_head(&head),
                }))
            })
        }
        Err(error) => {
            let context = S3Context::new("HeadObject", src_bucket, &object.key);
            match http_status(&error) {
                Some(403) => Ok(Probe::Refused(format!(
                    "HeadObject s3://{src_bucket}/{}: 403",
                    object.key
                ))),
                _ => Err(context.pinned_head_failure(error, &object.etag)),
            }
        }
    }
}

/// Copies a whole object inside the server, reading an SSE-C source and writing an
/// SSE-C copy with `sse_c`'s keys. With the source's `headers` (from [`probe`], with
/// the write settings applied) the copy is written with them (`REPLACE`: content
/// headers, metadata, storage class, encryption, redirect, object lock, as the client
/// mode carries them; the tags are copied by the server); without, CopyObject carries
/// the metadata, content headers and tags, and `write`'s encryption, storage class and
/// ACL are applied when set (the storage class is then STANDARD unless
/// `--storage-class`). With `checksum` (the source's full-object checksum) the server
/// computes one of that algorithm over the copy; a value it shows must equal the
/// source's. Returns whether the copy's ETag was compared with the source's
/// (not for SSE-KMS and SSE-C copies, whose ETags are no MD5).
pub(crate) async fn copy_whole(
    record: &PartRecord,
    src_bucket: &str,
    (dst_bucket, dst_key): (&str, &str),
    dst: &Client,
    (write, headers, checksum): (
        &WriteSettings,
        Option<&ObjectHeaders>,
        Option<&FullChecksum>,
    ),
    sse_c: &SseCKeys,
) -> Result<bool, Error> {
    let object = &record.object;
    // After `rsync --diff`: only over what the diff saw at the destination.
    let destination = object.destination.as_ref();
    let request = dst
        .copy_object()
        .bucket(dst_bucket)
        .key(dst_key)
        .copy_source(copy_source(src_bucket, &object.key))
        .copy_source_if_match(format!("\"{}\"", object.etag))
        .set_if_none_match(destination.and_then(|d| d.if_none_match()))
        .set_if_match(destination.and_then(|d| d.if_match()))
        .copy_source_sse_c(sse_c.src.as_ref())
        .sse_c(sse_c.dst.as_ref())
        .set_checksum_algorithm(checksum.map(|asked| asked.algorithm.sdk()));
    let request = match headers {
        Some(headers) => headers
            .apply_to_copy(request)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace),
        None => {
            let settings = ObjectHeaders::default().with_settings(write);
            request
                .metadata_directive(aws_sdk_s3::types::MetadataDirective::Copy)
                .set_server_side_encryption(settings.encryption)
                .set_ssekms_key_id(settings.kms_key_id)
                .set_storage_class(settings.storage_class)
                .set_acl(settings.acl)
        }
    };
    let sent = request.send().await;
    let copied = match sent {
        Ok(copied) => copied,
        Err(error) => {
            let context = S3Context::new("CopyObject", dst_bucket, dst_key);
            // A 412 refuses the source pin or the destination condition: the
            // destination tells which.
            if http_status(&error) == Some(412)
                && let Some(destination) = destination
                && !destination_holds(dst, dst_bucket, dst_key, destination, sse_c.dst.as_ref())
                    .await
            {
                return Err(context.source_moved(
                    SkipReason::DestinationChanged,
                    DESTINATION_CHANGED,
                    Some(Box::new(error)),
                ));
            }
            return Err(copy_failure(error, context, &object.etag));
        }
    };
    // Stored with SSE-KMS (asked for, or the bucket's default) or SSE-C, the copy's ETag
    // is not its MD5, nor is an SSE-C source's: nothing to compare.
    let etag_checked = !super::transfer::stored_with_kms(copied.server_side_encryption())
        && copied.sse_customer_algorithm().is_none()
        && sse_c.src.is_none()
        && sse_c.dst.is_none();
    let etag = copied
        .copy_object_result()
        .and_then(|r| r.e_tag())
        .unwrap_or_default()
        .trim_matches('"');
    if let Some(FullChecksum {
        algorithm,
        value: source,
    }) = checksum
        && let Some(result) = copied.copy_object_result()
        && let Some(copy) = algorithm.pick([
            result.checksum_crc32(),
            result.checksum_crc32_c(),
            result.checksum_crc64_nvme(),
            result.checksum_sha1(),
            result.checksum_sha256(),
        ])
        && copy != source.as_str()
    {
        return Err(Error::Integrity {
            bucket: dst_bucket.to_string(),
            key: dst_key.to_string(),
            message: format!(
                "CopyObject returned {} {copy:?}, the source's is {source:?}",
                algorithm.as_str()
            ),
        });
    }
    let compared = etag_checked && is_plain_md5_etag(&object.etag);
    if compared && etag != object.etag {
        if source_is_kms(dst, src_bucket, &object.key).await {
            return Ok(false);
        }
        return Err(Error::Integrity {
            bucket: dst_bucket.to_string(),
            key: dst_key.to_string(),
            message: format!(
                "CopyObject returned ETag {etag:?}, the source's is {} (encrypted with a KMS key? copy through the client instead)",
                object.etag
            ),
        });
    }
    Ok(compared)
}

/// Whether the source is stored with SSE-KMS (its ETag is then not an MD5 and no copy
/// can have it): one HEAD, made only when a copy's ETag differs from the source's.
async fn source_is_kms(dst: &Client, src_bucket: &str, key: &str) -> bool {
    dst.head_object()
        .bucket(src_bucket)
        .key(key)
        .send()
        .await
        .is_ok_and(|head| super::transfer::stored_with_kms(head.server_side_encryption()))
}

/// Whether the destination still is what the diff saw (absent, or this ETag); a HEAD
/// that fails otherwise says yes, and the 412 is then the source's.
async fn destination_holds(
    dst: &Client,
    bucket: &str,
    key: &str,
    destination: &Destination,
    sse_c: Option<&CustomerKey>,
) -> bool {
    let head = dst
        .head_object()
        .bucket(bucket)
        .key(key)
        .sse_c(sse_c)
        .send()
        .await;
    match (head, destination) {
        (Ok(head), Destination::Etag(etag)) => {
            head.e_tag().unwrap_or_default().trim_matches('"') == etag
        }
        (Ok(_), Destination::Absent) => false,
        (Err(error), Destination::Absent) => http_status(&error) == Some(404),
        (Err(error), Destination::Etag(_)) => http_status(&error) != Some(404),
    }
}

/// Copies one part inside the server (with `sse_c`'s keys for an SSE-C source and
/// copy); returns the part's ETag, whether it is an MD5 (false when the answer says
/// SSE-KMS or SSE-C), and, when the upload has the source's checksum algorithm, the
/// part's checksum the server gives (S3 computes it; Garage and moto give none).
pub async fn copy_part(
    record: &PartRecord,
    part: &PartInfo,
    src_bucket: &str,
    (dst_bucket, dst_key): (&str, &str),
    dst: &Client,
    sse_c: &SseCKeys,
) -> Result<(String, bool, Option<String>), Error> {
    let object = &record.object;
    let copied = dst
        .upload_part_copy()
        .bucket(dst_bucket)
        .key(dst_key)
        .upload_id(&part.upload_id)
        .part_number(i32::try_from(part.part_number).unwrap_or(i32::MAX))
        .copy_source(copy_source(src_bucket, &object.key))
        // None for the empty part of an empty object: the whole (empty) source.
        .set_copy_source_range(record.source_range().map(|r| r.header()))
        .copy_source_if_match(format!("\"{}\"", object.etag))
        .copy_source_sse_c(sse_c.src.as_ref())
        .sse_c(sse_c.dst.as_ref())
        .send()
        .await
        .map_err(|e| {
            copy_failure(
                e,
                S3Context::new("UploadPartCopy", dst_bucket, part.label(dst_key)),
                &object.etag,
            )
        })?;
    let etag = copied
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    if etag.is_empty() {
        return Err(Error::Integrity {
            bucket: dst_bucket.to_string(),
            key: dst_key.to_string(),
            message: format!(
                "UploadPartCopy of part {} returned no ETag",
                part.part_number
            ),
        });
    }
    let checksum = part.checksum.as_ref().and_then(|source| {
        let result = copied.copy_part_result()?;
        source
            .algorithm
            .pick([
                result.checksum_crc32(),
                result.checksum_crc32_c(),
                result.checksum_crc64_nvme(),
                result.checksum_sha1(),
                result.checksum_sha256(),
            ])
            .map(str::to_string)
    });
    let md5 = !super::transfer::stored_with_kms(copied.server_side_encryption())
        && copied.sse_customer_algorithm().is_none()
        && sse_c.dst.is_none();
    Ok((etag, md5, checksum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_encode_the_key() {
        assert_eq!(copy_source("b", "a/b c+d"), "b/a/b%20c%2Bd");
        assert_eq!(copy_source("b", "é?\t"), "b/%C3%A9%3F%09");
        assert_eq!(copy_source("b", "x-_.~"), "b/x-_.~");
        assert_eq!(copy_source("b", "%41!*'()"), "b/%2541%21%2A%27%28%29");
        assert_eq!(copy_source("b", "日/🚀"), "b/%E6%97%A5/%F0%9F%9A%80");
    }
}
