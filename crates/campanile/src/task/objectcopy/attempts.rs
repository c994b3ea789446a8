//! objectcopy's own attempts: which failures of a GET or a write are worth another
//! try, and the loop that makes them (through [`crate::retry`]).
//!
//! The SDK already retries throttling, server errors and broken connections, up to the
//! client's attempts; an error that comes back from it is final as far as the request
//! goes. objectcopy tries again only what it alone sees, or what another request can
//! mend: a body cut short or damaged on the way out of the source (its size or MD5 is
//! wrong), a write whose body was damaged on the way in (the server refused its
//! Content-MD5: `BadDigest`, `InvalidDigest`) or answered with the wrong ETag, and a
//! request that never got a service answer. A service's refusal (a 412 because the
//! source changed, a 404, access denied) would be refused again: a source gone (404)
//! or changed (412) is an [`Error::SourceMoved`], which the task skips and reports;
//! any other refusal fails the record at once (the task goes on with its other
//! records and fails at its end), and Hadoop's own retry of the task is what is left.

use std::cell::RefCell;
use std::io::Write;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;

use super::ObjectCopyOptions;
use crate::error::{Error, S3Context};
use crate::reporter::Reporter;
use crate::retry::{Failure, retry};
use crate::s3::{http_status, is_service_error};
use crate::skip::SkipReason;

/// How a failed attempt ended: [`Failure::Transient`] when another attempt may
/// succeed, [`Failure::Permanent`] when it would fail the same way.
pub(super) type Retry = Failure<Error>;

/// Runs `step` until it succeeds, fails for good, or `options.get_attempts` attempts
/// failed in a way another attempt can mend, pausing with `options.backoff` in
/// between. Each retry is reported in the task status (`retrying <what> after: …`).
pub(super) async fn with_attempts<T, F, Fut, E: Write>(
    what: &str,
    options: &ObjectCopyOptions,
    reporter: &RefCell<&mut Reporter<E>>,
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
            reporter
                .borrow_mut()
                .status_now(&format!("retrying {what} after: {error}"))
        },
    )
    .await
}

/// A failed GET of `key`, pinned to `etag`: a 412 means the source changed since it
/// was listed and a 404 that it was deleted; both are [`Error::SourceMoved`], which
/// the task skips and reports. Any other service answer is final; a request that got
/// no answer may be tried again.
pub(super) fn get_failure(
    error: SdkError<GetObjectError, HttpResponse>,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Retry {
    let context = S3Context::new("GetObject", bucket, key);
    if let Some((reason, message)) = source_moved(&error, etag) {
        return Failure::Permanent(context.source_moved(reason, message, Some(Box::new(error))));
    }
    if is_service_error(&error) {
        Failure::Permanent(context.sdk(error))
    } else {
        Failure::Transient(context.sdk(error))
    }
}

/// Whether a failed read of the source (GET, or a server-side copy's source) says the
/// object is gone (404 `NoSuchKey`), changed (412 on the `If-Match` pin to `etag`) or
/// archived (403 `InvalidObjectState`: GLACIER, DEEP_ARCHIVE, or an Intelligent-Tiering
/// archive tier, which no listing shows), and how to say it.
pub(crate) fn source_moved<E>(
    error: &SdkError<E, HttpResponse>,
    etag: &str,
) -> Option<(SkipReason, String)>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    let code = error.as_service_error().and_then(|e| e.code());
    match http_status(error) {
        Some(412) => Some((
            SkipReason::Changed,
            format!(
                "the source changed since it was listed (its ETag is no longer {etag}); list it again"
            ),
        )),
        // A bucket that is gone, or a server-side copy's upload that is gone, is not
        // an object that vanished.
        Some(404) if code.is_none_or(|c| c == "NoSuchKey") => Some((
            SkipReason::Vanished,
            "the source no longer exists (deleted since it was listed)".to_string(),
        )),
        Some(403) if code == Some("InvalidObjectState") => Some((
            SkipReason::Archived,
            "the source must be restored before it can be read (403 InvalidObjectState)"
                .to_string(),
        )),
        _ => None,
    }
}

/// What a refused conditional write says (see [`write_failure`]).
pub(super) const DESTINATION_CHANGED: &str = "destination changed during the run (412 on the conditional write: another writer wrote or deleted the key since the diff, or in place since the listing); not overwritten";

/// A GET body that broke off while it was read: another GET may get all of it.
pub(super) fn read_failure(
    error: impl std::error::Error + Send + Sync + 'static,
    bucket: &str,
    key: &str,
) -> Retry {
    Failure::Transient(
        S3Context::new("GetObject", bucket, key)
            .explained(format!("reading the body: {error}"), error),
    )
}

/// A failed write of `key` (an object, or a part's label), and whether it is worth
/// another attempt: the body was damaged on the way (the server refused its
/// Content-MD5), or the request never got a service answer. A 412 refuses a
/// conditional write (`rsync --diff`): the destination changed since the diff, an
/// [`Error::SourceMoved`] that the task checks and skips.
pub(super) fn write_failure<E>(
    error: SdkError<E, HttpResponse>,
    operation: &'static str,
    bucket: &str,
    key: String,
) -> Retry
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if http_status(&error) == Some(412) {
        return Failure::Permanent(S3Context::new(operation, bucket, key).source_moved(
            SkipReason::DestinationChanged,
            DESTINATION_CHANGED,
            Some(Box::new(error)),
        ));
    }
    let damaged = refused_for_digest(&error);
    let again = damaged || !is_service_error(&error);
    let wrapped = S3Context::new(operation, bucket, key).sdk(error);
    if again {
        Failure::Transient(wrapped)
    } else {
        Failure::Permanent(wrapped)
    }
}

/// Whether a write was refused because its body did not match its Content-MD5 or
/// checksum (`BadDigest`, `InvalidDigest`).
pub(super) fn refused_for_digest<E>(error: &SdkError<E, HttpResponse>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "BadDigest" || code == "InvalidDigest")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::Backoff;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use aws_sdk_s3::operation::upload_part::UploadPartError;
    use aws_sdk_s3::primitives::SdkBody;
    use std::time::Duration;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().expect("status"), SdkBody::empty())
    }

    fn metadata(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message("said the server")
            .build()
    }

    fn put_refused(code: &str, status: u16) -> SdkError<PutObjectError, HttpResponse> {
        SdkError::service_error(PutObjectError::generic(metadata(code)), response(status))
    }

    fn get_refused(code: &str, status: u16) -> SdkError<GetObjectError, HttpResponse> {
        SdkError::service_error(GetObjectError::generic(metadata(code)), response(status))
    }

    fn transient(retry: &Retry) -> bool {
        matches!(retry, Failure::Transient(_))
    }

    fn message(retry: Retry) -> String {
        retry.into_inner().to_string()
    }

    #[test]
    fn a_write_damaged_on_the_way_is_tried_again() {
        for code in ["BadDigest", "InvalidDigest"] {
            let failure = write_failure(put_refused(code, 400), "PutObject", "dst", "k".into());
            assert!(transient(&failure), "{code}");
            assert_eq!(
                message(failure),
                format!("S3 PutObject s3://dst/k: {code}: said the server")
            );
        }
        let part = SdkError::service_error(
            UploadPartError::generic(metadata("BadDigest")),
            response(400),
        );
        let failure = write_failure(part, "UploadPart", "dst", "k (part 2)".into());
        assert!(transient(&failure));
    }

    #[test]
    fn a_write_the_service_refused_is_final() {
        for (code, status) in [
            ("AccessDenied", 403),
            ("NoSuchUpload", 404),
            ("SlowDown", 503),
        ] {
            let failure = write_failure(put_refused(code, status), "PutObject", "d", "k".into());
            assert!(!transient(&failure), "{code}");
            assert!(message(failure).contains(code));
        }
    }

    #[test]
    fn a_refused_conditional_write_is_a_changed_destination() {
        let failure = write_failure(
            put_refused("PreconditionFailed", 412),
            "PutObject",
            "dst",
            "k".into(),
        );
        assert!(!transient(&failure));
        match failure.into_inner() {
            Error::SourceMoved {
                reason,
                bucket,
                message,
                ..
            } => {
                assert_eq!(reason, SkipReason::DestinationChanged);
                assert_eq!(bucket, "dst");
                assert!(
                    message.starts_with("destination changed during the run"),
                    "{message}"
                );
            }
            other => panic!("not a skip: {other}"),
        }
    }

    #[test]
    fn a_request_without_an_answer_is_tried_again() {
        let timeout: SdkError<PutObjectError, HttpResponse> =
            SdkError::timeout_error("read timed out");
        assert!(transient(&write_failure(
            timeout,
            "PutObject",
            "d",
            "k".into()
        )));
        let timeout: SdkError<GetObjectError, HttpResponse> =
            SdkError::timeout_error("read timed out");
        assert!(transient(&get_failure(timeout, "s", "k", "e")));
    }

    #[test]
    fn a_changed_or_deleted_source_is_said_so_and_final() {
        let changed = get_failure(get_refused("PreconditionFailed", 412), "s", "k", "abc");
        assert!(!transient(&changed));
        assert_eq!(
            message(changed),
            "S3 GetObject s3://s/k: the source changed since it was listed (its ETag is no \
             longer abc); list it again"
        );
        assert!(matches!(
            changed_kind(get_refused("PreconditionFailed", 412)),
            Some(SkipReason::Changed)
        ));
        let deleted = get_failure(get_refused("NoSuchKey", 404), "s", "k", "abc");
        assert!(!transient(&deleted));
        assert!(message(deleted).contains("no longer exists"));
        assert!(matches!(
            changed_kind(get_refused("NoSuchKey", 404)),
            Some(SkipReason::Vanished)
        ));
        assert!(changed_kind(get_refused("NoSuchBucket", 404)).is_none());
        assert!(changed_kind(get_refused("AccessDenied", 403)).is_none());
        let denied = get_failure(get_refused("AccessDenied", 403), "s", "k", "abc");
        assert!(!transient(&denied));
        assert_eq!(
            message(denied),
            "S3 GetObject s3://s/k: AccessDenied: said the server; these credentials need \
             s3:GetObject on arn:aws:s3:::s/k (see docs/iam.md)"
        );
    }

    /// The skip reason of a failed GET, if it is one.
    fn changed_kind(error: SdkError<GetObjectError, HttpResponse>) -> Option<SkipReason> {
        match get_failure(error, "s", "k", "abc").into_inner() {
            Error::SourceMoved { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn a_body_that_breaks_off_is_tried_again() {
        let failure = read_failure(std::io::Error::other("connection reset"), "s", "k");
        assert!(transient(&failure));
        assert_eq!(
            message(failure),
            "S3 GetObject s3://s/k: reading the body: connection reset"
        );
    }

    fn options(attempts: u32) -> ObjectCopyOptions {
        ObjectCopyOptions {
            get_attempts: attempts,
            backoff: Backoff::constant(Duration::ZERO),
            ..ObjectCopyOptions::default()
        }
    }

    fn damaged(n: u32) -> Error {
        Error::Integrity {
            bucket: "s".into(),
            key: "k".into(),
            message: format!("read {n} bytes, expected 10"),
        }
    }

    #[tokio::test]
    async fn retries_are_reported_in_the_status() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::ZERO);
        let cell = RefCell::new(&mut reporter);
        let mut made = 0;
        let result = with_attempts("GET s3://s/k", &options(4), &cell, || {
            made += 1;
            let n = made;
            async move {
                if n < 3 {
                    Err(Failure::Transient(damaged(n)))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.expect("third attempt"), 3);
        let stderr = String::from_utf8(reporter.get_ref().clone()).expect("utf-8");
        assert_eq!(
            stderr,
            "reporter:status:retrying GET s3://s/k after: integrity check failed for s3://s/k: read 1 bytes, expected 10\n\
             reporter:status:retrying GET s3://s/k after: integrity check failed for s3://s/k: read 2 bytes, expected 10\n"
        );
    }

    #[tokio::test]
    async fn attempts_run_out_and_permanent_failures_stop_at_once() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::ZERO);
        let cell = RefCell::new(&mut reporter);
        let mut made = 0;
        let result: Result<(), Error> = with_attempts("PUT", &options(4), &cell, || {
            made += 1;
            let n = made;
            async move { Err(Failure::Transient(damaged(n))) }
        })
        .await;
        assert!(
            result
                .expect_err("failed")
                .to_string()
                .contains("read 4 bytes")
        );
        assert_eq!(made, 4);

        made = 0;
        let result: Result<(), Error> = with_attempts("PUT", &options(4), &cell, || {
            made += 1;
            async { Err(Failure::Permanent(Error::Usage("refused".into()))) }
        })
        .await;
        assert_eq!(result.expect_err("failed").to_string(), "refused");
        assert_eq!(made, 1);
    }
}
