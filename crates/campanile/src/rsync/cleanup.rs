//! The clean-up after a local run: whether the plan succeeded or not, no multipart
//! upload of the run may stay in progress (and billed). The run's uploads are those
//! of the multipart keys in the listing multipartlist read ([`crate::orphans`]).

use std::io::Write;
use std::path::Path;

use crate::error::Error;
use crate::orphans;
use crate::plan::UploadScope;
use crate::s3::ClientOptions;

/// Aborts the uploads failed attempts of this run left in progress (see
/// [`crate::orphans`]) and says how many there were.
pub async fn clean_up_uploads<E: Write>(
    scope: &UploadScope,
    region: Option<String>,
    err: &mut E,
) -> Result<(), Error> {
    let keys = orphans::multipart_keys(Path::new(&scope.objects))?;
    if keys.is_empty() {
        return Ok(());
    }
    let client = crate::s3::client(&ClientOptions {
        endpoint: Some(scope.endpoint.clone()),
        profile: scope.profile.clone(),
        region,
        ..Default::default()
    })
    .await?;
    let aborted = orphans::abort_orphans(&client, &scope.bucket, &keys).await?;
    if !aborted.is_empty() {
        writeln!(
            err,
            "aborted {} multipart upload(s) of s3://{} left in progress by failed attempts or runs",
            aborted.len(),
            scope.bucket
        )
        .map_err(|e| Error::io("writing stderr", e))?;
    }
    Ok(())
}
