//! Whether the destination server refuses a body that does not match what its write
//! says about it, which decides whether objectcopy may leave the MD5 of the bytes to
//! the server (issue 19, point 1; docs/benchmarks.md, "No client MD5 where the ETag
//! proves the body").
//!
//! Without its own MD5, objectcopy proves a copy thus: a whole object whose source ETag
//! is a plain MD5 is written with that ETag as its Content-MD5 (hex to base64), so the
//! server stores it only if the bytes it received are the source's (`BadDigest`
//! otherwise); a part is written with a checksum (its upload's algorithm, else
//! CRC64NVME) that the server checks, and the ETag the server returns is the MD5 of
//! what it stored, which multipartcomplete folds into the multipart ETag and compares
//! with the source's before completing. Both rest on the server checking what it is
//! given: S3 and Garage do (`BadDigest` for a Content-MD5, `BadDigest` on S3 and
//! `InvalidDigest` on Garage for a checksum); moto checks neither. A server that does
//! not would store a whole object damaged on the way and only the ETag it returns
//! would tell (stored, then replaced): that is what this probe rules out.
//!
//! The probe, once per task and only when a record would take the path: an upload of
//! its own (CreateMultipartUpload on `<the record's destination prefix>` +
//! [`PROBE_NAME`], never completed, so nothing becomes visible), one UploadPart whose
//! Content-MD5 is not its body's and one whose CRC64NVME is not its body's, then
//! AbortMultipartUpload. Each refusal for its digest (`BadDigest`, `InvalidDigest`)
//! proves that check; an acceptance, or any other answer (refused for another reason,
//! no answer), does not, and the task keeps computing the MD5 itself for what that
//! check would have proven. So a server that ignores checksums gets the MD5 path, and
//! says why in the task status. `--client-md5` skips the probe and keeps the MD5 path
//! everywhere.

use aws_sdk_s3::primitives::ByteStream;

use crate::s3::Client;

/// What the probe's key ends with (after the destination prefix of the first record
/// that needed it). The test kit's fault proxy never faults these requests: they are
/// refused by design, and a fault would take the place of one meant for a copy.
pub const PROBE_NAME: &str = ".campanile-checksum-probe";

/// The checks the destination server was seen to make.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ServerChecks {
    /// It refuses a body whose MD5 is not its Content-MD5.
    pub(crate) content_md5: bool,
    /// It refuses a body whose CRC64NVME is not its `x-amz-checksum-crc64nvme`.
    pub(crate) checksum: bool,
}

/// The body of the probe's parts.
const BODY: &[u8] = b"campanile: does this server refuse a body that does not match its digest?";

/// The key of the probe's upload: the directory part of `near` (a destination key the
/// task writes, so the task's credentials may write there) and [`PROBE_NAME`].
fn probe_key(near: &str) -> String {
    let prefix = near.rfind('/').map_or("", |slash| &near[..=slash]);
    format!("{prefix}{PROBE_NAME}")
}

/// Whether a probe's write was refused for its digest.
fn refused_for_digest<O, E>(
    answer: &Result<O, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    answer
        .as_ref()
        .is_err_and(|error| super::attempts::refused_for_digest(error))
}

/// Probes `bucket` (see the module documentation); the checks seen, and what the task
/// status says when one is missing.
pub(crate) async fn probe(
    dst: &Client,
    bucket: &str,
    near: &str,
) -> (ServerChecks, Option<String>) {
    let key = probe_key(near);
    let created = match dst
        .create_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(created) => created,
        Err(error) => {
            return (
                ServerChecks::default(),
                Some(format!(
                    "could not probe whether s3://{bucket} checks Content-MD5 and checksums \
                     (CreateMultipartUpload {key}: {}): the task computes every MD5 itself",
                    crate::s3::describe_error(&error)
                )),
            );
        }
    };
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    let other = b"not the body";
    let wrong_md5 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(crate::multipart::md5(other))
    };
    let md5_answer = dst
        .upload_part()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(1)
        .content_md5(wrong_md5)
        .body(ByteStream::from_static(BODY))
        .customize()
        .disable_payload_signing()
        .send()
        .await;
    let wrong_crc = {
        use base64::Engine;
        let crc = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, other);
        base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
    };
    let crc_answer = dst
        .upload_part()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(2)
        .checksum_crc64_nvme(wrong_crc)
        .body(ByteStream::from_static(BODY))
        .customize()
        .disable_payload_signing()
        .send()
        .await;
    let checks = ServerChecks {
        content_md5: refused_for_digest(&md5_answer),
        checksum: refused_for_digest(&crc_answer),
    };
    let aborted = dst
        .abort_multipart_upload()
        .bucket(bucket)
        .key(&key)
        .upload_id(&upload_id)
        .send()
        .await;
    let mut said = Vec::new();
    if !checks.content_md5 {
        said.push("a Content-MD5 that does not match the body");
    }
    if !checks.checksum {
        said.push("a CRC64NVME that does not match the body");
    }
    let mut message = (!said.is_empty()).then(|| {
        format!(
            "s3://{bucket} did not refuse {}: the task computes the MD5 of what that \
             check would have proven",
            said.join(" nor ")
        )
    });
    if let Err(error) = aborted {
        let note = format!(
            "the probe's upload {upload_id} of s3://{bucket}/{key} was not aborted ({})",
            crate::s3::describe_error(&error)
        );
        message = Some(match message {
            Some(message) => format!("{message}; {note}"),
            None => note,
        });
    }
    (checks, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_key_is_beside_the_records_key() {
        assert_eq!(probe_key("a/b/c"), "a/b/.campanile-checksum-probe");
        assert_eq!(probe_key("top"), ".campanile-checksum-probe");
        assert_eq!(probe_key("dir/"), "dir/.campanile-checksum-probe");
    }
}
