//! objectcopy's in-place mode (`--in-place`, the copy step of `campanile reencrypt`):
//! each record is rewritten onto itself inside the server, so that only its
//! encryption, KMS key or storage class changes. A whole object is HEADed (pinned to
//! the listed ETag) for its own headers, which go onto the CopyObject with the write
//! settings over them (`REPLACE`: S3 accepts a copy onto itself only when something
//! changes; the tags are copied by the server); a part is copied by its own byte range
//! into the upload multipartlist made with the same headers, so the layout and the
//! multipart ETag stay. The object's ACL goes with it: its grants (GetObjectAcl) are
//! given on the CopyObject or the upload's creation as grant headers, unless it is the
//! default (see [`crate::acl`]); `--acl` replaces it instead. Every write is pinned to
//! the listed ETag (`x-amz-copy-source-if-match`) and conditional on the key still
//! holding it (`If-Match`, on CopyObject and, through the part lines, on
//! CompleteMultipartUpload): a key another writer changed during the run is skipped and
//! reported, never overwritten.
//!
//! Proof: with a setting that keeps ETags MD5s (SSE-S3, a storage class) the ETag the
//! server returns must equal the listed one (checked by
//! [`super::server_side::copy_whole`], and by multipartcomplete for a multipart
//! object). An object stored with SSE-KMS (before or after) has an ETag that is no MD5:
//! it is rewritten, counted `UnverifiableAtSource` and reported (a skip row, so the run
//! exits 3), never passed as proven.
//!
//! A retried completion: multipartcomplete takes `NoSuchUpload` on a key that holds the
//! source's ETag as its own earlier completion (answer lost), except in place, where
//! the key held that ETag before the rewrite too (an upload someone aborted would pass
//! for rewritten): there the object fails instead, and a rerun rewrites it.

use std::io::Write;

use super::{ObjectCopySummary, Sinks, copy_in_server};
use crate::error::{Error, S3Context};
use crate::headers::ObjectHeaders;
use crate::record::{Destination, PartRecord};
use crate::s3::Client;
use crate::skip::{self, SkipReason, Skipped};
use crate::sse_c::WithCustomerKey;

/// Rewrites one record onto itself (see the module's documentation).
pub(super) async fn rewrite<W: Write, E: Write>(
    record: &PartRecord,
    dst: &Client,
    options: &super::ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<ObjectCopySummary, Error> {
    // The key must still hold what was listed when it is written (a condition a diff
    // would have set is kept: it says the same or more).
    let mut record = record.clone();
    if record.object.destination.is_none() {
        record.object.destination = Some(Destination::Etag(record.object.etag.clone()));
    }
    let headers = match record.part {
        // The upload of a part has its headers already (multipartlist).
        Some(_) => None,
        None => Some(source_headers(&record, &options.src_bucket, dst, options).await?),
    };
    let readable = headers.map(|headers| super::server_side::Readable {
        headers,
        checksum: None,
    });
    let copied = copy_in_server(&record, dst, options, readable, sinks).await?;
    Ok(copied.unwrap_or_default())
}

/// The object's own headers: one HEAD pinned to the listed ETag (a key gone or changed
/// since the listing is skipped and reported, as in every copy), and its ACL's grants
/// (one GetObjectAcl) unless `--acl` replaces them.
async fn source_headers(
    record: &PartRecord,
    bucket: &str,
    dst: &Client,
    options: &super::ObjectCopyOptions,
) -> Result<ObjectHeaders, Error> {
    let object = &record.object;
    let head = dst
        .head_object()
        .bucket(bucket)
        .key(&object.key)
        .if_match(format!("\"{}\"", object.etag))
        .sse_c(options.sse_c.src.as_ref())
        .send()
        .await
        .map_err(|error| {
            super::server_side::copy_failure(
                error,
                S3Context::new("HeadObject", bucket, &object.key),
                &object.etag,
            )
        })?;
    let mut headers = ObjectHeaders::from_head(&head);
    if options.write.acl.is_none() {
        headers.read_grants(dst, bucket, &object.key).await?;
    }
    Ok(headers)
}

/// A whole object rewritten whose ETag proves nothing (SSE-KMS before or after): a
/// skip row with the reason `unverifiable_at_source`, so the run exits 3.
pub(super) fn report_unproven<W: Write, E: Write>(
    record: &PartRecord,
    options: &super::ObjectCopyOptions,
    sinks: &Sinks<'_, W, E>,
) -> Result<(), Error> {
    let row = Skipped {
        key: record.object.key.clone(),
        size: record.object.size,
        etag: record.object.etag.clone(),
        reason: SkipReason::UnverifiableAtSource,
        detail: "rewritten in place, not proven: an SSE-KMS object's ETag is not an MD5 \
                 (before or after the rewrite), so the server's answer cannot be compared"
            .to_string(),
    };
    let mut output = sinks.output.borrow_mut();
    let mut reporter = sinks.reporter.borrow_mut();
    skip::report(&mut **output, &mut **reporter, &options.src_bucket, &row)
}
