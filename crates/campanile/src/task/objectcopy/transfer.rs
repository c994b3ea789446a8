//! objectcopy's transfers through the client: a GET into a spool, then a PutObject
//! or an UploadPart, with the checks that make a copy byte for byte.
//!
//! Every GET is pinned to the listed ETag (`If-Match`); the bytes read must number
//! exactly the expected size; a whole object's MD5 must equal its source ETag (when
//! that ETag is an MD5: not for SSE-KMS, as the GET's `x-amz-server-side-encryption`
//! says) before it is written. A whole object's GET asks for the source's checksum
//! (`ChecksumMode: ENABLED`): when S3 answers with a full-object checksum (CRC64NVME,
//! CRC32C, CRC32, SHA1, SHA256), the SDK checks the bytes against it as they stream in
//! (a mismatch breaks the body, and the GET is tried again), and the PutObject sends
//! the same checksum, which S3 checks again on the way in and stores; a source without
//! one gets the CRC64NVME of the bytes read (computed as they are spooled, with their
//! MD5). A checksum in the PutObject's answer must equal the one sent. A part carries
//! Content-MD5 and, when its upload was created with the source's checksum algorithm
//! (the part record's `checksum` field), the part's checksum of that algorithm,
//! computed from the bytes read as they are spooled; a checksum in the answer must
//! equal it (multipartcomplete recomputes the source's from them). How the bytes
//! read were proven to be the source's is the copy's [`SourceProof`].
//!
//! Writes carry Content-MD5 and are signed without their payload (`UNSIGNED-PAYLOAD`:
//! the signature covers Content-MD5, which guards the body). The ETag a write returns
//! must equal the MD5 of the bytes sent, unless the write's answer says the object is
//! stored with SSE-KMS (`x-amz-server-side-encryption: aws:kms` or `aws:kms:dsse`) or
//! SSE-C (`x-amz-server-side-encryption-customer-algorithm`, or the write sent a key):
//! then its ETag is not an MD5 (a destination bucket with default SSE-KMS does that to
//! objects written without encryption headers), and the write is proven by its
//! Content-MD5 (and checksum) alone. After `rsync --diff` a PutObject is conditional
//! on what the diff saw at the destination (`If-None-Match: *` or `If-Match`; see
//! [`crate::record::Destination`]). Which failures are tried again is
//! [`super::attempts`]'s business.
//!
//! Without the client's MD5 ([`needs_client_md5`], on a server that
//! [`super::server_checks`] saw checking): a whole object's Content-MD5 is its source's
//! ETag, so the server checks the bytes against the source; a part carries its
//! checksum (its upload's algorithm, else CRC64NVME) instead of Content-MD5, and its
//! returned ETag, the server's MD5 of what it stored, is checked by multipartcomplete.

use std::cell::RefCell;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, ObjectAttributes, ServerSideEncryption};

use super::ObjectCopyOptions;
use super::attempts::{Retry, get_failure, read_failure, with_attempts, write_failure};
use super::progress;
use super::server_checks::ServerChecks;
use crate::checksum::{self, Algorithm};
use crate::error::Error;
use crate::headers::ObjectHeaders;
use crate::multipart::is_plain_md5_etag;
use crate::pool::BufferPool;
use crate::record::{PartInfo, PartRecord};
use crate::reporter::Reporter;
use crate::retry::Failure;
use crate::s3::{Client, http_status};
use crate::spool::{Spool, SpooledBody, choose_directory};
use crate::sse_c::WithCustomerKey;

/// How the bytes read were proven to be the source's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceProof {
    /// Their MD5 equals the source's ETag.
    Md5,
    /// The SDK checked them against the source's full-object checksum.
    Checksum,
    /// The source offers neither (an SSE-KMS object without a checksum; a part, whose
    /// proof is the completed upload's ETag, in multipartcomplete): only their number.
    Unverifiable,
}

/// A source's full-object checksum, as a GET returned it (base64, the header's form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FullChecksum {
    /// Its algorithm.
    pub(crate) algorithm: Algorithm,
    /// The value.
    pub(crate) value: String,
}

impl FullChecksum {
    /// The full-object checksum of a GET's answer, if it has one (a composite checksum
    /// of a multipart object, `…-N`, is not one: the SDK cannot check it either).
    pub(crate) fn of_get(get: &GetObjectOutput) -> Option<FullChecksum> {
        if get.checksum_type() == Some(&ChecksumType::Composite) {
            return None;
        }
        let values = [
            get.checksum_crc32(),
            get.checksum_crc32_c(),
            get.checksum_crc64_nvme(),
            get.checksum_sha1(),
            get.checksum_sha256(),
        ];
        // The SDK's order: the one it checks when there are several.
        Algorithm::ALL.into_iter().find_map(|algorithm| {
            let value = algorithm.pick(values)?;
            (!value.contains('-')).then(|| FullChecksum {
                algorithm,
                value: value.to_string(),
            })
        })
    }

    /// The full-object checksum of a HEAD's answer (in checksum mode), if it has one.
    pub(crate) fn of_head(
        head: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
    ) -> Option<FullChecksum> {
        if head.checksum_type() == Some(&ChecksumType::Composite) {
            return None;
        }
        let values = crate::checksum::head_values(head);
        Algorithm::ALL.into_iter().find_map(|algorithm| {
            let value = algorithm.pick(values)?;
            (!value.contains('-')).then(|| FullChecksum {
                algorithm,
                value: value.to_string(),
            })
        })
    }

    /// A PutObject that carries this checksum (S3 checks the body against it). The
    /// algorithm goes with it (`x-amz-sdk-checksum-algorithm`), as the SDKs send it:
    /// some servers store a checksum only when it is named.
    pub(super) fn apply(&self, request: PutObjectFluentBuilder) -> PutObjectFluentBuilder {
        let value = self.value.clone();
        let request = request.checksum_algorithm(self.algorithm.sdk());
        match self.algorithm {
            Algorithm::Crc64Nvme => request.checksum_crc64_nvme(value),
            Algorithm::Crc32c => request.checksum_crc32_c(value),
            Algorithm::Crc32 => request.checksum_crc32(value),
            Algorithm::Sha1 => request.checksum_sha1(value),
            Algorithm::Sha256 => request.checksum_sha256(value),
        }
    }

    /// The same algorithm's checksum in a HEAD's answer (a full-object one only).
    fn in_head(
        &self,
        head: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
    ) -> Option<String> {
        self.algorithm
            .pick(crate::checksum::head_values(head))
            .map(str::to_string)
    }

    /// The same algorithm's full-object checksum in a GetObjectAttributes answer.
    async fn in_attributes(&self, dst: &Client, bucket: &str, key: &str) -> Option<String> {
        let attributes = dst
            .get_object_attributes()
            .bucket(bucket)
            .key(key)
            .object_attributes(ObjectAttributes::Checksum)
            .send()
            .await
            .ok()?;
        let checksum = attributes.checksum()?;
        self.algorithm
            .pick([
                checksum.checksum_crc32(),
                checksum.checksum_crc32_c(),
                checksum.checksum_crc64_nvme(),
                checksum.checksum_sha1(),
                checksum.checksum_sha256(),
            ])
            .map(str::to_string)
    }

    /// The same algorithm's checksum in a PutObject's answer.
    pub(super) fn in_put(
        &self,
        put: &aws_sdk_s3::operation::put_object::PutObjectOutput,
    ) -> Option<String> {
        self.algorithm
            .pick([
                put.checksum_crc32(),
                put.checksum_crc32_c(),
                put.checksum_crc64_nvme(),
                put.checksum_sha1(),
                put.checksum_sha256(),
            ])
            .map(str::to_string)
    }
}

/// What a GET proved about the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Source {
    /// How the bytes read were proven.
    pub(super) proof: SourceProof,
    /// The full-object checksum the bytes were checked against, to send with the write.
    pub(super) checksum: Option<FullChecksum>,
}

/// True when a write's answer says the object is stored with SSE-KMS, whose ETags are
/// not MD5s (SSE-C, whose ETags are not either, shows in other headers).
pub(crate) fn stored_with_kms(sse: Option<&ServerSideEncryption>) -> bool {
    matches!(
        sse,
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
    )
}

/// True when a write stored the object with SSE-C: its answer names the customer
/// algorithm, or it sent a key (S3 documents that an SSE-C object's ETag is not an MD5,
/// whether or not a server echoes the header).
fn stored_with_customer_key(algorithm: Option<&str>, options: &ObjectCopyOptions) -> bool {
    algorithm.is_some() || options.sse_c.dst.is_some()
}

/// GETs the object or part into a spool holding up to `in_memory` bytes in memory,
/// retrying a body that breaks off or does not match its size, MD5 or checksum.
/// `server` is what the destination was seen to check (nothing with `--client-md5`):
/// it decides whether the spool computes the MD5 of the bytes (see
/// [`needs_client_md5`]).
pub(super) async fn download<E: Write>(
    record: &PartRecord,
    src: &Client,
    options: &ObjectCopyOptions,
    (in_memory, server): (u64, ServerChecks),
    pool: &Arc<BufferPool>,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<(SpooledBody, ObjectHeaders, Source), Error> {
    let what = format!("GET s3://{}/{}", options.src_bucket, record.object.key);
    with_attempts(&what, options, reporter, || {
        download_once(record, src, options, (in_memory, server), pool, reporter)
    })
    .await
}

/// Whether the copy of `record` needs the MD5 of the bytes read, computed by the
/// client as they are spooled; `headers` are the source's (its GET's). Not when the
/// destination server proves the write without it ([`super::server_checks`]): a whole
/// object whose source ETag is a plain MD5, on a server that checks Content-MD5 (the
/// PutObject's Content-MD5 is that ETag); a part whose copy's ETag is an MD5 (no
/// SSE-C, no SSE-KMS by the write settings or carried from the source), on a server
/// that checks checksums (the UploadPart carries one, and the part ETag the server
/// returns, the MD5 of what it stored, goes into multipartcomplete's comparison with
/// the source's ETag before the upload is completed). Everything else keeps it.
pub(super) fn needs_client_md5(
    record: &PartRecord,
    headers: &ObjectHeaders,
    options: &ObjectCopyOptions,
    server: ServerChecks,
) -> bool {
    match &record.part {
        None => {
            !(server.content_md5
                && is_plain_md5_etag(&record.object.etag)
                && !headers.etag_is_not_md5())
        }
        Some(_) => !(server.checksum && destination_etag_is_md5(headers, options)),
    }
}

/// Whether the copy's ETags will be MD5s, as far as the settings tell before the
/// write (a bucket's default SSE-KMS shows only in the write's answer): no SSE-C, and
/// no SSE-KMS, whether set for the copies or carried from the source (`headers`).
fn destination_etag_is_md5(headers: &ObjectHeaders, options: &ObjectCopyOptions) -> bool {
    let write = &options.write;
    let sse_c = write.dst_sse_c_key_file.is_some() || options.sse_c.dst.is_some();
    let kms = match (write.sse.as_deref(), &write.sse_kms_key_id) {
        (Some("AES256"), _) => false,
        (Some(_), _) | (None, Some(_)) => true,
        (None, None) => stored_with_kms(headers.encryption.as_ref()),
    };
    !sse_c && !kms
}

/// The Content-MD5 (base64) of bytes whose MD5 is the hex `etag` (a plain MD5 ETag).
fn content_md5_of_etag(etag: &str) -> Option<String> {
    use base64::Engine;
    let md5 = crate::multipart::parse_md5_hex(etag)?;
    Some(base64::engine::general_purpose::STANDARD.encode(md5))
}

/// What a PutObject of a whole object did.
#[derive(Debug)]
pub(super) enum Put {
    /// The object was written (and its write checked).
    Written,
    /// The conditional write was refused, but the destination holds these very bytes:
    /// a retry of this copy's own write whose answer was lost (or the same bytes
    /// written by someone else). Nothing to do.
    AlreadyThere,
    /// The server refused the body for its Content-MD5, which was the source's ETag,
    /// and the bytes read do not have that MD5: they were damaged on the way out of the
    /// source, so the object must be read again (nothing was written).
    ReadAgain(Error),
}

/// PUTs a whole object, trying again a body damaged on the way or a wrong ETag.
pub(super) async fn put<E: Write>(
    record: &PartRecord,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    source: &Source,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<Put, Error> {
    let what = format!(
        "PUT s3://{}/{}",
        options.dst_bucket,
        options.dst_key(&record.object.key)
    );
    with_attempts(&what, options, reporter, || {
        put_whole(record, body, headers, source, dst, options, reporter)
    })
    .await
}

/// What an UploadPart gave.
pub(super) struct UploadedPart {
    /// The part's ETag.
    pub(super) etag: String,
    /// Whether it is the MD5 of the part (false when the answer says SSE-KMS).
    pub(super) md5: bool,
    /// The part's checksum (base64) of its upload's algorithm, computed from the bytes
    /// read and sent with the part, when the upload has the source's algorithm.
    pub(super) checksum: Option<String>,
}

/// Uploads one part, trying again a body damaged on the way, a wrong ETag or a wrong
/// checksum.
pub(super) async fn put_part<E: Write>(
    record: &PartRecord,
    part: &PartInfo,
    body: &SpooledBody,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<UploadedPart, Error> {
    let what = format!(
        "UploadPart {} of s3://{}/{}",
        part.part_number,
        options.dst_bucket,
        options.dst_key(&record.object.key)
    );
    with_attempts(&what, options, reporter, || {
        upload_part(record, part, body, dst, options, reporter)
    })
    .await
}

/// One GET of the object or part into a spool, with its size, MD5 and checksum checks.
async fn download_once<E: Write>(
    record: &PartRecord,
    src: &Client,
    options: &ObjectCopyOptions,
    (in_memory, server): (u64, ServerChecks),
    pool: &Arc<BufferPool>,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<(SpooledBody, ObjectHeaders, Source), Retry> {
    let object = &record.object;
    let bucket = &options.src_bucket;
    // The empty part of an empty object is read whole: a Range cannot name no bytes.
    let range = record.source_range().map(|r| r.header());
    let expected = record.len();
    let response = src
        .get_object()
        .bucket(bucket)
        .key(&object.key)
        .set_range(range)
        .if_match(format!("\"{}\"", object.etag))
        // A whole object's stored checksum, which the SDK then checks the body against
        // (S3 gives none for a byte range).
        .set_checksum_mode(record.part.is_none().then_some(ChecksumMode::Enabled))
        .sse_c(options.sse_c.src.as_ref())
        .send()
        .await
        .map_err(|e| get_failure(e, bucket, &object.key, &object.etag))?;
    let mut headers = ObjectHeaders::from_get(&response);
    // Read with a key, the object is SSE-C, whether or not the server says so.
    headers.sse_customer |= options.sse_c.src.is_some();
    let checksum = if record.part.is_none() {
        FullChecksum::of_get(&response)
    } else {
        None
    };
    let announced = response
        .content_length()
        .and_then(|l| u64::try_from(l).ok());
    // Another GET of the same ETag would announce the same: final.
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
    // A part of an upload with the source's checksum algorithm: its checksum too.
    let algorithm = record
        .part
        .as_ref()
        .and_then(|p| p.checksum.as_ref())
        .map(|c| c.algorithm);
    let mut spool =
        Spool::pooled(Some(pool), in_memory, expected, &directory).with_checksum(algorithm);
    if !needs_client_md5(record, &headers, options, server) {
        spool = spool.without_md5();
    }
    let mut body = response.body;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| read_failure(e, bucket, &object.key))?
    {
        spool.write(&chunk).map_err(Failure::Permanent)?;
        if spool.len() > expected {
            break;
        }
        reporter
            .borrow_mut()
            .status(&format!(
                "{}/{}: {} of {expected} bytes read",
                options.dst_bucket,
                object.key,
                spool.len()
            ))
            .map_err(Failure::Permanent)?;
    }
    // A body cut short (or longer than announced) on the way: another GET may be whole.
    if spool.len() != expected {
        return Err(Failure::Transient(Error::Integrity {
            bucket: bucket.clone(),
            key: object.key.clone(),
            message: format!("read {} bytes, expected {expected}", spool.len()),
        }));
    }
    let spooled = spool.finish().map_err(Failure::Permanent)?;
    let md5_etag =
        record.part.is_none() && is_plain_md5_etag(&object.etag) && !headers.etag_is_not_md5();
    // Without the client's MD5 (`spooled.md5` is `None`), the server checks the bytes
    // against the source's ETag when they are written (the PutObject's Content-MD5).
    if md5_etag
        && let Some(md5) = spooled.md5
        && crate::multipart::hex(&md5) != object.etag
    {
        return Err(Failure::Transient(Error::Integrity {
            bucket: bucket.clone(),
            key: object.key.clone(),
            message: format!(
                "the bytes read have MD5 {}, the source ETag is {}",
                crate::multipart::hex(&md5),
                object.etag
            ),
        }));
    }
    // The body read to its end: the SDK has checked it against `checksum`.
    let proof = match (md5_etag, &checksum) {
        (true, _) => SourceProof::Md5,
        (false, Some(_)) => SourceProof::Checksum,
        (false, None) => SourceProof::Unverifiable,
    };
    Ok((spooled, headers, Source { proof, checksum }))
}

/// One PutObject of a whole object, with the source's headers, Content-MD5 (of the
/// bytes, or without the client's MD5 the source's ETag, which the server checks the
/// bytes against) and the source's full-object checksum if it has one (else the bytes'
/// CRC64NVME).
async fn put_whole<E: Write>(
    record: &PartRecord,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    source: &Source,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<Put, Retry> {
    // The records carry source keys; the copy is written under the mapped one.
    let key = &options.dst_key(&record.object.key);
    let sent = Arc::new(AtomicU64::new(0));
    let stream = body.byte_stream().await.map_err(Failure::Permanent)?;
    // Without the client's MD5, the body is proven by the server against the source's
    // ETag (download_once chose so only for a plain MD5 ETag).
    let etag_md5 = if body.md5.is_none() {
        content_md5_of_etag(&record.object.etag)
    } else {
        None
    };
    let from_source = etag_md5.is_some();
    let content_md5 = match etag_md5 {
        Some(md5) => md5,
        None => body.content_md5().map_err(Failure::Permanent)?,
    };
    let request = dst
        .put_object()
        .bucket(&options.dst_bucket)
        .key(key)
        .content_md5(content_md5)
        .content_length(i64::try_from(body.length).unwrap_or(i64::MAX))
        .body(progress::counted(stream, &sent))
        .sse_c(options.sse_c.dst.as_ref());
    // The source's checksum, which S3 checks the body against end to end; else the
    // CRC64NVME of the bytes read, so that the copy has a checksum of its own.
    let checksum = source.checksum.clone().unwrap_or_else(|| FullChecksum {
        algorithm: Algorithm::Crc64Nvme,
        value: body.checksum_crc64nvme(),
    });
    // After `rsync --diff`: only over what the diff saw (a 412 skips the object).
    let destination = record.object.destination.as_ref();
    let request = checksum
        .apply(request)
        .set_if_none_match(destination.and_then(|d| d.if_none_match()))
        .set_if_match(destination.and_then(|d| d.if_match()));
    // The SDK gives a PutObject without a Content-Type `application/octet-stream`; a
    // source stored without one must arrive without one.
    let no_content_type = headers.content_type.is_none();
    let send = headers
        .apply_to_put(request)
        .customize()
        .disable_payload_signing()
        .mutate_request(move |request| {
            if no_content_type {
                request.headers_mut().remove("content-type");
            }
        })
        .send();
    let label = format!("{}/{key}", options.dst_bucket);
    let put = match progress::reporting(send, &sent, body.length, &label, reporter)
        .await
        .map_err(Failure::Permanent)?
    {
        Ok(put) => put,
        Err(error) if http_status(&error) == Some(412) => {
            // A refused condition (`rsync --diff`). When the destination holds these very
            // bytes, the write refused was a retry of this copy's own (its answer lost):
            // done. Told by the checksum, which unlike an SSE-KMS ETag is the same on
            // both sides.
            if holds_these_bytes(dst, &options.dst_bucket, key, body, &checksum).await {
                return Ok(Put::AlreadyThere);
            }
            return Err(write_failure(
                error,
                "PutObject",
                &options.dst_bucket,
                key.clone(),
            ));
        }
        Err(error) => {
            let digest = super::attempts::refused_for_digest(&error);
            let failure = write_failure(error, "PutObject", &options.dst_bucket, key.clone());
            // Refused for a Content-MD5 that was the source's ETag: either the body was
            // damaged on its way to the server (the PUT is tried again) or the bytes
            // read are not the source's (read again). Only their MD5 tells, computed
            // now, on this rare path.
            if from_source && digest {
                let read = body.md5_hex().map_err(Failure::Permanent)?;
                if read != record.object.etag {
                    return Ok(Put::ReadAgain(Error::Integrity {
                        bucket: options.src_bucket.clone(),
                        key: record.object.key.clone(),
                        message: format!(
                            "the bytes read have MD5 {read}, the source ETag is {} (the \
                             destination refused them for it)",
                            record.object.etag
                        ),
                    }));
                }
            }
            return Err(failure);
        }
    };
    // The server stored other bytes than were sent: another PUT overwrites them.
    let md5 = !stored_with_kms(put.server_side_encryption())
        && !stored_with_customer_key(put.sse_customer_algorithm(), options);
    // The bytes sent: the source's when the server checked them against its ETag.
    let sent_md5 = if from_source {
        record.object.etag.clone()
    } else {
        body.md5_hex().map_err(Failure::Permanent)?
    };
    written_etag(put.e_tag(), "PUT", &sent_md5, md5, key, options)?;
    if let Some(stored) = checksum.in_put(&put)
        && stored != checksum.value
    {
        return Err(Failure::Transient(Error::Integrity {
            bucket: options.dst_bucket.clone(),
            key: key.to_string(),
            message: format!(
                "PUT returned {} {stored}, the source's is {}",
                checksum.algorithm.as_str(),
                checksum.value
            ),
        }));
    }
    Ok(Put::Written)
}

/// True when `bucket/key` holds an object of the body's size whose stored checksum of
/// `checksum`'s algorithm is `checksum`'s value (a HEAD in checksum mode, else
/// GetObjectAttributes); false when it does not, or neither tells (the refusal then
/// stands).
async fn holds_these_bytes(
    dst: &Client,
    bucket: &str,
    key: &str,
    body: &SpooledBody,
    checksum: &FullChecksum,
) -> bool {
    stored_checksum(dst, bucket, key, checksum)
        .await
        .is_some_and(|(size, stored)| size == Some(body.length) && stored == checksum.value)
}

/// The size and stored checksum (of `checksum`'s algorithm) of `bucket/key`.
async fn stored_checksum(
    dst: &Client,
    bucket: &str,
    key: &str,
    checksum: &FullChecksum,
) -> Option<(Option<u64>, String)> {
    let head = dst
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .ok()?;
    let size = head.content_length().and_then(|l| u64::try_from(l).ok());
    let stored = match checksum.in_head(&head) {
        Some(stored) => stored,
        // A server whose HEAD leaves checksums out (moto) may give it here.
        None => checksum.in_attributes(dst, bucket, key).await?,
    };
    Some((size, stored))
}

/// The ETag a write returned, checked against `sent_md5`, the hex MD5 of the bytes
/// sent, when it is one (`md5`: the write's answer did not say SSE-KMS); `what` names
/// the write in the message.
fn written_etag(
    returned: Option<&str>,
    what: &str,
    sent_md5: &str,
    md5: bool,
    key: &str,
    options: &ObjectCopyOptions,
) -> Result<String, Retry> {
    let etag = returned.unwrap_or_default().trim_matches('"');
    if md5 && etag != sent_md5 {
        return Err(Failure::Transient(Error::Integrity {
            bucket: options.dst_bucket.clone(),
            key: key.to_string(),
            message: format!("{what} returned ETag {etag:?}, the bytes sent have MD5 {sent_md5}"),
        }));
    }
    Ok(etag.to_string())
}

/// The checksum of a part's bytes for its upload (the source's algorithm), base64;
/// else, without the client's MD5, the bytes' CRC64NVME, which guards the body on its
/// way in its place (not written on the part's line: the upload has no algorithm).
fn part_checksum(part: &PartInfo, body: &SpooledBody) -> Option<(Algorithm, String)> {
    match &part.checksum {
        Some(source) => Some((
            source.algorithm,
            checksum::encode(body.checksum.as_deref()?),
        )),
        None if body.md5.is_none() => Some((Algorithm::Crc64Nvme, body.checksum_crc64nvme())),
        None => None,
    }
}

/// An UploadPart that carries `value`, the part's checksum of `algorithm`, which S3
/// checks the body against and keeps for the completion.
pub(super) fn with_part_checksum(
    request: UploadPartFluentBuilder,
    algorithm: Algorithm,
    value: String,
) -> UploadPartFluentBuilder {
    match algorithm {
        Algorithm::Crc32 => request.checksum_crc32(value),
        Algorithm::Crc32c => request.checksum_crc32_c(value),
        Algorithm::Crc64Nvme => request.checksum_crc64_nvme(value),
        Algorithm::Sha1 => request.checksum_sha1(value),
        Algorithm::Sha256 => request.checksum_sha256(value),
    }
}

/// One UploadPart with Content-MD5 and the part's checksum when its upload has the
/// source's algorithm; or, without the client's MD5, with the checksum alone (the
/// upload's algorithm, else CRC64NVME), which the server checks.
async fn upload_part<E: Write>(
    record: &PartRecord,
    part: &PartInfo,
    body: &SpooledBody,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<UploadedPart, Retry> {
    // The records carry source keys; the copy is written under the mapped one.
    let key = &options.dst_key(&record.object.key);
    let sent = Arc::new(AtomicU64::new(0));
    let stream = body.byte_stream().await.map_err(Failure::Permanent)?;
    let checksum = part_checksum(part, body);
    let request = dst.upload_part();
    let request = match &checksum {
        Some((algorithm, value)) => with_part_checksum(request, *algorithm, value.clone()),
        None => request,
    };
    let content_md5 = match body.md5 {
        Some(_) => Some(body.content_md5().map_err(Failure::Permanent)?),
        None => None,
    };
    let send = request
        .bucket(&options.dst_bucket)
        .key(key)
        .upload_id(&part.upload_id)
        .part_number(i32::try_from(part.part_number).unwrap_or(i32::MAX))
        .set_content_md5(content_md5)
        .content_length(i64::try_from(body.length).unwrap_or(i64::MAX))
        .body(progress::counted(stream, &sent))
        .sse_c(options.sse_c.dst.as_ref())
        .customize()
        .disable_payload_signing()
        .send();
    let label = format!("{}/{key} part {}", options.dst_bucket, part.part_number);
    let uploaded = progress::reporting(send, &sent, body.length, &label, reporter)
        .await
        .map_err(Failure::Permanent)?
        .map_err(|e| write_failure(e, "UploadPart", &options.dst_bucket, part.label(key)))?;
    // Uploading the same part number again replaces the damaged part.
    let what = format!("part {}", part.part_number);
    let md5 = !stored_with_kms(uploaded.server_side_encryption())
        && !stored_with_customer_key(uploaded.sse_customer_algorithm(), options);
    let returned = uploaded.e_tag().unwrap_or_default().trim_matches('"');
    let etag = if body.md5.is_none() && md5 && is_plain_md5_etag(returned) {
        // Without the client's MD5: the MD5 of what the server stored, whose bytes it
        // checked against the checksum; multipartcomplete compares the ETag these
        // make with the source's before it completes the upload.
        returned.to_string()
    } else if md5 {
        // An ETag that does not even look like an MD5 is checked as before (without
        // the client's MD5, its MD5 is computed now, on this rare path).
        let sent_md5 = body.md5_hex().map_err(Failure::Permanent)?;
        written_etag(uploaded.e_tag(), &what, &sent_md5, md5, key, options)?
    } else {
        // Not an MD5 (SSE-KMS, SSE-C): the part's MD5 goes on its line instead.
        returned.to_string()
    };
    // The server stored another checksum than was sent (some servers, moto, give
    // none back): the part is uploaded again.
    if let Some((algorithm, value)) = &checksum
        && let Some(stored) = algorithm.pick([
            uploaded.checksum_crc32(),
            uploaded.checksum_crc32_c(),
            uploaded.checksum_crc64_nvme(),
            uploaded.checksum_sha1(),
            uploaded.checksum_sha256(),
        ])
        && stored != value
    {
        return Err(Failure::Transient(Error::Integrity {
            bucket: options.dst_bucket.clone(),
            key: key.to_string(),
            message: format!(
                "{what} returned {} {stored}, the bytes sent have {value}",
                algorithm.as_str()
            ),
        }));
    }
    Ok(UploadedPart {
        etag,
        md5,
        checksum: checksum.map(|(_, value)| value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_md5_etag_is_its_content_md5() {
        // The MD5 of "abcdef", as hex (its ETag) and base64 (its Content-MD5).
        assert_eq!(
            content_md5_of_etag("e80b5017098950fc58aad83c8c14978e").as_deref(),
            Some("6AtQFwmJUPxYqtg8jBSXjg==")
        );
        assert_eq!(
            content_md5_of_etag("e80b5017098950fc58aad83c8c14978e-2"),
            None
        );
        assert_eq!(content_md5_of_etag("not hex"), None);
    }
}
