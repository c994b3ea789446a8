//! Multipart uploads left behind by failed attempts, and their clean-up.
//!
//! A run creates one upload per multipart object (multipartlist) and completes it
//! (multipartcomplete). Uploads can be orphaned: a multipartlist attempt killed after
//! creating some uploads is retried and creates new ones; a CreateMultipartUpload whose
//! answer was lost is retried by the SDK and creates a second; a copy step that fails
//! leaves the uploads of the objects it did not finish. Orphans are invisible but S3
//! bills their parts until they are aborted.
//!
//! Two clean-ups. multipartlist, right after creating a key's upload, aborts every
//! other upload in progress for that key ([`abort_others`]): this works on EMR too, and
//! catches the uploads of a killed earlier attempt and of a lost CreateMultipartUpload
//! answer as soon as the key is planned again. And the local runner's clean-up runs
//! when a run's copy has ended, whether it succeeded or failed: every
//! upload still in progress in the destination bucket for a multipart key this run
//! copies is aborted. A finished run has none of its own left in progress, so each is
//! an orphan: of this run, or of an earlier failed run of the same copy. The run owns
//! the keys it copies: another writer's upload to one of them, completed later, would
//! make the destination differ from the source, which is what the run is there to
//! prevent. (The upload's `Initiated` time is not used to tell runs apart: clocks
//! differ, and some servers, moto among them, report a fixed date.)

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

use crate::error::{Error, S3Context, S3ResultExt};
use crate::hadoop_input::input_files;
use crate::input::InputLines;
use crate::multipart::part_count_from_etag;
use crate::record::ListingRecord;
use crate::s3::Client;
use crate::stream::StreamIndex;

/// One in-progress upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Its key.
    pub key: String,
    /// Its upload id.
    pub upload_id: String,
}

/// The multipart keys of a listing (a file, or a directory of part files): the only
/// keys for which multipartlist creates uploads.
pub fn multipart_keys(listing: &Path) -> Result<BTreeSet<String>, Error> {
    let mut keys = BTreeSet::new();
    for file in input_files(listing)? {
        let reader = std::fs::File::open(&file)
            .map(std::io::BufReader::new)
            .map_err(|e| Error::io(format!("opening {}", file.display()), e))?;
        collect_multipart_keys(reader, &file, &mut keys)?;
    }
    Ok(keys)
}

fn collect_multipart_keys<R: BufRead>(
    reader: R,
    file: &Path,
    keys: &mut BTreeSet<String>,
) -> Result<(), Error> {
    for line in InputLines::new(reader, StreamIndex::SHELL) {
        let line = line?;
        let record = ListingRecord::parse(&line.text).map_err(|e| Error::Input {
            line: line.number,
            message: format!("{}: {e}", file.display()),
        })?;
        if part_count_from_etag(&record.etag).is_some() {
            keys.insert(record.key);
        }
    }
    Ok(())
}

/// Uploads in progress in `bucket` for one of `keys`.
pub async fn in_progress(
    client: &Client,
    bucket: &str,
    keys: &BTreeSet<String>,
) -> Result<Vec<Upload>, Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    list_uploads(client, bucket, None, |key| keys.contains(key)).await
}

/// Uploads in progress in `bucket` under `prefix` whose key `wanted` accepts.
async fn list_uploads(
    client: &Client,
    bucket: &str,
    prefix: Option<&str>,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<Upload>, Error> {
    let mut found = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    loop {
        let page = client
            .list_multipart_uploads()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_string))
            .set_key_marker(markers.0.clone())
            .set_upload_id_marker(markers.1.clone())
            .send()
            .await
            .context("ListMultipartUploads", bucket, "")?;
        for upload in page.uploads() {
            let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                continue;
            };
            if wanted(key) {
                found.push(Upload {
                    key: key.to_string(),
                    upload_id: upload_id.to_string(),
                });
            }
        }
        let next = (
            page.next_key_marker().map(str::to_string),
            page.next_upload_id_marker().map(str::to_string),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        if next == markers || next.0.is_none() {
            return Err(S3Context::new("ListMultipartUploads", bucket, "")
                .problem("a truncated page did not move the key marker on"));
        }
        markers = next;
    }
    Ok(found)
}

/// Aborts the uploads [`in_progress`] finds; returns them. An upload that is gone by
/// the time it is aborted (completed or aborted meanwhile) is not an error.
pub async fn abort_orphans(
    client: &Client,
    bucket: &str,
    keys: &BTreeSet<String>,
) -> Result<Vec<Upload>, Error> {
    let orphans = in_progress(client, bucket, keys).await?;
    abort_all(client, bucket, &orphans).await?;
    Ok(orphans)
}

/// Aborts every upload in progress for exactly `key` but `keep` (called by
/// multipartlist right after it created `keep`): uploads of earlier attempts for the
/// same key, a second upload the SDK created when it retried a CreateMultipartUpload
/// whose answer was lost, or uploads of an earlier failed run. Returns them.
pub async fn abort_others(
    client: &Client,
    bucket: &str,
    key: &str,
    keep: &str,
) -> Result<Vec<Upload>, Error> {
    let others: Vec<Upload> = list_uploads(client, bucket, Some(key), |k| k == key)
        .await?
        .into_iter()
        .filter(|u| u.upload_id != keep)
        .collect();
    abort_all(client, bucket, &others).await?;
    Ok(others)
}

async fn abort_all(client: &Client, bucket: &str, uploads: &[Upload]) -> Result<(), Error> {
    for upload in uploads {
        let aborted = client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(&upload.key)
            .upload_id(&upload.upload_id)
            .send()
            .await;
        if let Err(error) = aborted
            && error
                .as_service_error()
                .is_none_or(|e| e.meta().code() != Some("NoSuchUpload"))
        {
            let key = format!("{} (upload {})", upload.key, upload.upload_id);
            return Err(S3Context::new("AbortMultipartUpload", bucket, key).sdk(error));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_multipart_keys_are_collected() {
        let listing = "a\t0123456789abcdef0123456789abcdef\t5\t2020-01-01 00:00:00\n\
                       b\t0123456789abcdef0123456789abcdef-3\t50\t2020-01-01 00:00:00\n\
                       c\\td\t0123456789abcdef0123456789abcdef-2\t50\t2020-01-01 00:00:00\n";
        let mut keys = BTreeSet::new();
        collect_multipart_keys(listing.as_bytes(), Path::new("x"), &mut keys).expect("parse");
        assert_eq!(
            keys.into_iter().collect::<Vec<_>>(),
            vec!["b".to_string(), "c\td".to_string()]
        );
    }

    #[test]
    fn a_bad_listing_line_is_named() {
        let mut keys = BTreeSet::new();
        let error = collect_multipart_keys(
            "a\tnot-an-etag\t5\t2020-01-01 00:00:00\n".as_bytes(),
            Path::new("diff/part-00000"),
            &mut keys,
        )
        .expect_err("bad etag");
        let text = error.to_string();
        assert!(text.contains("line 1"), "{text}");
        assert!(text.contains("diff/part-00000"), "{text}");
    }
}
