//! The clean-up after a local run: whether the plan succeeded or not, no multipart
//! upload of the run may stay in progress (and billed). An upload whose parts were all
//! copied is completed (its ETag checked), every other one aborted; see
//! [`crate::orphans::finish_run`], which reads the run's part list (or listing) as a
//! stream rather than holding its keys.

use std::io::Write;
use std::path::Path;

use crate::error::Error;
use crate::orphans::{self, UPLOADS_PER_PASS};
use crate::plan::UploadScope;
use crate::s3::{Client, ClientOptions};
use crate::tuning::Tuning;

/// Completes or aborts the uploads of this run still in progress and says how many of
/// each there were.
pub async fn clean_up_uploads<E: Write>(
    scope: &UploadScope,
    region: Option<String>,
    err: &mut E,
) -> Result<(), Error> {
    let client = crate::s3::client(
        &ClientOptions {
            endpoint: Some(scope.endpoint.clone()),
            profile: scope.profile.clone(),
            region,
            ..Default::default()
        }
        .for_bucket(crate::credentials::Side::Destination, &scope.bucket),
    )
    .await?;
    clean_up_uploads_with(&client, scope, err).await
}

/// [`clean_up_uploads`] with a client of the destination.
pub async fn clean_up_uploads_with<E: Write>(
    client: &Client,
    scope: &UploadScope,
    err: &mut E,
) -> Result<(), Error> {
    let tuning = Tuning::DEFAULT;
    let done = orphans::finish_run(
        client,
        &scope.bucket,
        &scope.key_map(),
        Path::new(&scope.parts),
        Path::new(&scope.objects),
        (
            tuning.multipartcomplete_attempts,
            tuning.multipartcomplete_max_pause,
        ),
        UPLOADS_PER_PASS,
    )
    .await?;
    let io = |e| Error::io("writing stderr", e);
    if !done.completed.is_empty() {
        writeln!(
            err,
            "completed {} multipart upload(s) of s3://{} whose parts were all copied",
            done.completed.len(),
            scope.bucket
        )
        .map_err(io)?;
    }
    if let Some(first) = done.unlisted.first() {
        writeln!(
            err,
            "could not list the parts of {} upload(s), so they were aborted (the re-run copies them); first: {first}",
            done.unlisted.len()
        )
        .map_err(io)?;
    }
    if !done.aborted.is_empty() {
        writeln!(
            err,
            "aborted {} multipart upload(s) of s3://{} left in progress by failed attempts or runs",
            done.aborted.len(),
            scope.bucket
        )
        .map_err(io)?;
    }
    Ok(())
}
