//! `bucketlist --all-versions` and `--version-at TIME`: the listing of a versioned
//! bucket, one [`VersionsRecord`] per key (see [`crate::versions`]).
//!
//! Each part-file line is listed with ListObjectVersions as the default listing lists
//! it with ListObjectsV2 (its prefix and delimiter; a key range from `KeyMarker=<start>`
//! after a look at the start key itself, up to its end). A key's versions may span
//! pages: a key is written once the listing has passed it. With `--all-versions` the
//! record holds every version and delete marker of the key, oldest first; with
//! `--version-at` only the newest version whose LastModified is at or before the time,
//! and the key is left out (counted `Filtered`) when that is a delete marker or when
//! it had no version yet. Counters, group = bucket: `Objects` (keys written), `Bytes`
//! (of their versions), `Versions`, `DeleteMarkers`, `Filtered`.
//!
//! Archived versions (GLACIER, DEEP_ARCHIVE) are listed like the others: their copy
//! fails at its GET until they are restored.

use std::collections::BTreeMap;
use std::io::Write;

use aws_sdk_s3::types::EncodingType;

use super::{BucketListOptions, BucketListSummary, PartFileLine};
use crate::error::{Error, S3Context, S3ResultExt};
use crate::record::format_mtime;
use crate::reporter::{Reporter, counters};
use crate::s3::{Client, url_decode};
use crate::select::Timestamp;
use crate::versions::{Listed, Version, VersionsRecord, merge_newest_first};

/// Which versions a listing writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionListing {
    /// The current objects (ListObjectsV2): the default listing.
    #[default]
    Current,
    /// Every version and delete marker of each key (`--all-versions`).
    All,
    /// The version each key had at this time (`--version-at`).
    At(Timestamp),
}

/// Whether a listing goes on after a key.
pub(crate) enum Flow {
    /// On to the next key.
    Continue,
    /// Done.
    Stop,
}

/// A key's entries gathered over pages: its versions and its delete markers, each
/// newest first.
type Pending = BTreeMap<String, (Vec<Listed>, Vec<Listed>)>;

fn malformed(bucket: &str, prefix: &str, what: &str) -> Error {
    S3Context::new("ListObjectVersions", bucket, prefix)
        .problem(format!("the listing has a version without {what}"))
}

fn decoded(text: &str, encoded: bool, bucket: &str, prefix: &str) -> Result<String, Error> {
    if encoded {
        url_decode(text).map_err(|m| malformed(bucket, prefix, &m))
    } else {
        Ok(text.to_string())
    }
}

fn millis(
    at: Option<&aws_smithy_types::DateTime>,
    bucket: &str,
    prefix: &str,
) -> Result<(i64, i64), Error> {
    let at = at.ok_or_else(|| malformed(bucket, prefix, "LastModified"))?;
    let ms = at
        .to_millis()
        .map_err(|_| malformed(bucket, prefix, "a LastModified in range"))?;
    Ok((ms, at.secs()))
}

/// Lists the versions under `prefix` (with `delimiter`, after `key_marker`), handing
/// each key's entries, newest first, to `on_key` in key order until it says stop.
pub(crate) async fn list_versions(
    client: &Client,
    bucket: &str,
    (prefix, delimiter, key_marker): (&str, Option<&str>, Option<&str>),
    mut on_key: impl FnMut(String, Vec<Listed>) -> Result<Flow, Error>,
) -> Result<(), Error> {
    let mut pending = Pending::new();
    let mut markers: (Option<String>, Option<String>) = (key_marker.map(str::to_string), None);
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .encoding_type(EncodingType::Url)
            .set_delimiter(delimiter.map(str::to_string))
            .set_key_marker(markers.0.clone())
            .set_version_id_marker(markers.1.clone())
            .send()
            .await
            .context("ListObjectVersions", bucket, prefix)?;
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        for v in page.versions() {
            let key = decoded(
                v.key().ok_or_else(|| malformed(bucket, prefix, "Key"))?,
                encoded,
                bucket,
                prefix,
            )?;
            let (ms, secs) = millis(v.last_modified(), bucket, prefix)?;
            let entry = Listed {
                version: Version {
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    etag: Some(
                        v.e_tag()
                            .ok_or_else(|| malformed(bucket, prefix, "ETag"))?
                            .trim_matches('"')
                            .to_string(),
                    ),
                    size: v
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .ok_or_else(|| malformed(bucket, prefix, "Size"))?,
                    mtime: format_mtime(secs),
                },
                millis: ms,
                is_latest: v.is_latest() == Some(true),
            };
            pending.entry(key).or_default().0.push(entry);
        }
        for m in page.delete_markers() {
            let key = decoded(
                m.key().ok_or_else(|| malformed(bucket, prefix, "Key"))?,
                encoded,
                bucket,
                prefix,
            )?;
            let (ms, secs) = millis(m.last_modified(), bucket, prefix)?;
            let entry = Listed {
                version: Version {
                    version_id: m.version_id().unwrap_or("null").to_string(),
                    etag: None,
                    size: 0,
                    mtime: format_mtime(secs),
                },
                millis: ms,
                is_latest: m.is_latest() == Some(true),
            };
            pending.entry(key).or_default().1.push(entry);
        }
        let truncated = page.is_truncated() == Some(true);
        let next_key = match page.next_key_marker() {
            Some(next) if truncated => Some(decoded(next, encoded, bucket, prefix)?),
            _ => None,
        };
        // The keys before the next page's first key are complete.
        while let Some(entry) = pending.first_entry() {
            if next_key.as_ref().is_some_and(|next| entry.key() >= next) {
                break;
            }
            let (key, (versions, deletes)) = entry.remove_entry();
            if let Flow::Stop = on_key(key, merge_newest_first(versions, deletes))? {
                return Ok(());
            }
        }
        match next_key {
            Some(next) => {
                markers = (
                    Some(next),
                    page.next_version_id_marker().map(str::to_string),
                );
            }
            None => return Ok(()),
        }
    }
}

/// Lists the keys of `line` through `narrowed` (as [`super::list_prefix`] does) with
/// their versions.
pub(super) async fn list_line<W: Write, E: Write>(
    line: &PartFileLine,
    narrowed: &PartFileLine,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &BucketListOptions,
    summary: &mut BucketListSummary,
) -> Result<(), Error> {
    let bucket = &options.bucket;
    let plan = narrowed.listing();
    if let Some(first) = &plan.probe_first {
        // KeyMarker leaves the range's first key out: its versions are listed alone.
        list_versions(client, bucket, (first, None, None), |key, entries| {
            if key == *first {
                write_key(line, key, entries, output, reporter, options, summary)?;
            }
            Ok(Flow::Stop)
        })
        .await?;
    }
    let stop_at = plan.stop_at.clone();
    list_versions(
        client,
        bucket,
        (
            &plan.prefix,
            plan.delimiter.as_deref(),
            plan.start_after.as_deref(),
        ),
        |key, entries| {
            if stop_at.as_ref().is_some_and(|stop| key >= *stop) {
                return Ok(Flow::Stop);
            }
            // KeyMarker is exclusive on S3; moto lists the marker key's older versions
            // after it all the same (and, when the marker is no key, drops the first
            // version after it: a test server's bug this cannot see): the probe above
            // wrote that key.
            if plan.start_after.as_ref() == Some(&key) {
                return Ok(Flow::Continue);
            }
            write_key(line, key, entries, output, reporter, options, summary)?;
            Ok(Flow::Continue)
        },
    )
    .await
}

/// Writes one key's record (all its versions, or the one at the time), unless the line
/// does not list the key, the selection leaves it out, or it had no version then.
fn write_key<W: Write, E: Write>(
    line: &PartFileLine,
    key: String,
    newest_first: Vec<Listed>,
    output: &mut W,
    reporter: &mut Reporter<E>,
    options: &BucketListOptions,
    summary: &mut BucketListSummary,
) -> Result<(), Error> {
    if !line.contains(&key) {
        return Ok(());
    }
    let bucket = &options.bucket;
    let newest = newest_first.first();
    let (size, secs) = newest.map_or((0, 0), |n| {
        (
            n.version.size,
            crate::record::mtime_seconds(&n.version.mtime).unwrap_or(0),
        )
    });
    let Some(key) = options.admit(&key, size, secs, reporter, summary)? else {
        return Ok(());
    };
    let versions: Vec<Version> = match options.versions {
        VersionListing::At(Timestamp(at)) => {
            let limit = at.saturating_mul(1000);
            match newest_first.into_iter().find(|l| l.millis <= limit) {
                Some(then) if !then.version.is_delete_marker() => vec![then.version],
                // Deleted at that time, or not written yet: not in the bucket then.
                _ => {
                    summary.filtered += 1;
                    return reporter.counter(bucket, counters::FILTERED, 1);
                }
            }
        }
        _ => newest_first.into_iter().rev().map(|l| l.version).collect(),
    };
    let record = VersionsRecord { key, versions };
    writeln!(output, "{}", record.to_line()).map_err(|e| Error::io("writing stdout", e))?;
    let bytes = record.bytes();
    let markers = record.delete_markers();
    let versions = record.versions.len() as u64 - markers;
    summary.objects += 1;
    summary.bytes += bytes;
    reporter.counter(bucket, counters::OBJECTS, 1)?;
    reporter.counter(
        bucket,
        counters::BYTES,
        i64::try_from(bytes).unwrap_or(i64::MAX),
    )?;
    reporter.counter(
        bucket,
        counters::VERSIONS,
        i64::try_from(versions).unwrap_or(i64::MAX),
    )?;
    if markers > 0 {
        reporter.counter(
            bucket,
            counters::DELETE_MARKERS,
            i64::try_from(markers).unwrap_or(i64::MAX),
        )?;
    }
    Ok(())
}
