//! objectcopy's transfers through the client: a GET into a spool, then a PutObject
//! or an UploadPart, with the checks that make a copy byte for byte.
//!
//! Every GET is pinned to the listed ETag (`If-Match`); the bytes read must number
//! exactly the expected size; a whole object's MD5 must equal its source ETag (when
//! that ETag is an MD5) before it is written. Writes carry Content-MD5 and are signed
//! without their payload (`UNSIGNED-PAYLOAD`: the signature covers Content-MD5, which
//! guards the body); the ETag a write returns must equal the MD5 of the bytes sent.
//! After `rsync --diff` a PutObject is conditional on what the diff saw at the
//! destination (`If-None-Match: *` or `If-Match`; see [`crate::record::Destination`]).
//! Which failures are tried again is [`super::attempts`]'s business.

use std::cell::RefCell;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::ObjectCopyOptions;
use super::attempts::{Retry, get_failure, read_failure, with_attempts, write_failure};
use super::progress;
use crate::error::Error;
use crate::headers::ObjectHeaders;
use crate::multipart::is_plain_md5_etag;
use crate::record::{PartInfo, PartRecord};
use crate::reporter::Reporter;
use crate::retry::Failure;
use crate::s3::Client;
use crate::spool::{Spool, SpooledBody, choose_directory};

/// GETs the object or part into a spool holding up to `in_memory` bytes in memory,
/// retrying a body that breaks off or does not match its size or MD5.
pub(super) async fn download<E: Write>(
    record: &PartRecord,
    src: &Client,
    options: &ObjectCopyOptions,
    in_memory: u64,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<(SpooledBody, ObjectHeaders), Error> {
    let what = format!("GET s3://{}/{}", options.src_bucket, record.object.key);
    with_attempts(&what, options, reporter, || {
        download_once(record, src, options, in_memory, reporter)
    })
    .await
}

/// PUTs a whole object, trying again a body damaged on the way or a wrong ETag.
pub(super) async fn put<E: Write>(
    record: &PartRecord,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<(), Error> {
    let what = format!("PUT s3://{}/{}", options.dst_bucket, record.object.key);
    with_attempts(&what, options, reporter, || {
        put_whole(record, body, headers, dst, options, reporter)
    })
    .await
}

/// Uploads one part, trying again a body damaged on the way or a wrong ETag; returns
/// the part's ETag.
pub(super) async fn put_part<E: Write>(
    record: &PartRecord,
    part: &PartInfo,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<String, Error> {
    let what = format!(
        "UploadPart {} of s3://{}/{}",
        part.part_number, options.dst_bucket, record.object.key
    );
    with_attempts(&what, options, reporter, || {
        upload_part(record, part, body, headers, dst, options, reporter)
    })
    .await
}

/// One GET of the object or part into a spool, with its size and MD5 checks.
async fn download_once<E: Write>(
    record: &PartRecord,
    src: &Client,
    options: &ObjectCopyOptions,
    in_memory: u64,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<(SpooledBody, ObjectHeaders), Retry> {
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
        .send()
        .await
        .map_err(|e| get_failure(e, bucket, &object.key, &object.etag))?;
    let headers = ObjectHeaders::from_get(&response);
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
    let mut spool = Spool::new(in_memory, expected, &directory);
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

/// One PutObject of a whole object, with the source's headers and Content-MD5.
async fn put_whole<E: Write>(
    record: &PartRecord,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<(), Retry> {
    let key = &record.object.key;
    let sent = Arc::new(AtomicU64::new(0));
    let stream = body.byte_stream().await.map_err(Failure::Permanent)?;
    let request = dst
        .put_object()
        .bucket(&options.dst_bucket)
        .key(key)
        .content_md5(body.content_md5())
        .content_length(i64::try_from(body.length).unwrap_or(i64::MAX))
        .body(progress::counted(stream, &sent));
    // After `rsync --diff`: only over what the diff saw (a 412 skips the object).
    let destination = record.object.destination.as_ref();
    let request = request
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
    let put = progress::reporting(send, &sent, body.length, &label, reporter)
        .await
        .map_err(Failure::Permanent)?
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

/// One UploadPart with Content-MD5; returns the part's ETag.
async fn upload_part<E: Write>(
    record: &PartRecord,
    part: &PartInfo,
    body: &SpooledBody,
    headers: &ObjectHeaders,
    dst: &Client,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
) -> Result<String, Retry> {
    let key = &record.object.key;
    let sent = Arc::new(AtomicU64::new(0));
    let stream = body.byte_stream().await.map_err(Failure::Permanent)?;
    let send = dst
        .upload_part()
        .bucket(&options.dst_bucket)
        .key(key)
        .upload_id(&part.upload_id)
        .part_number(i32::try_from(part.part_number).unwrap_or(i32::MAX))
        .content_md5(body.content_md5())
        .content_length(i64::try_from(body.length).unwrap_or(i64::MAX))
        .body(progress::counted(stream, &sent))
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
    written_etag(uploaded.e_tag(), &what, body, headers, key, options)
}
