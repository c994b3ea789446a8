//! bucketlist (mapper): lists a bucket, one line of the *part file* per input line.
//!
//! Input lines are the article's `<delimiter>,<prefix>` (split on the first comma, so a
//! prefix may hold commas; either side may be empty) or key ranges
//! `range<TAB><start><TAB><end>` (keys `start <= k < end`, bounds escaped as keys are;
//! an empty end is the end of the key space); `#` comments and blank lines are skipped
//! ([`PartLine`]). With a delimiter, keys below the next delimiter are rolled up into
//! common prefixes and skipped, so `/,0` lists only the top-level keys starting with
//! `0` while `,000/` lists everything under `000/`: every key is listed by exactly one
//! line of a well-made part file. A range is listed from the common prefix of its
//! bounds with `StartAfter=<start>`, after one `MaxKeys=1` request for the start key
//! itself (which `StartAfter` leaves out), and stops at the first key at or after its
//! end. Output: one [`ListingRecord`] per object. Objects that cannot
//! be read before a restore (GLACIER, DEEP_ARCHIVE, not restored) are skipped,
//! counted, and written as skip rows for the run's report ([`crate::skip`]), unless
//! `--keep-archived` (the index job's listing, which reads no data) lists them too.
//! Counters, group = bucket: `Bytes`, `Objects`, `SkippedArchived`, `Filtered`.
//!
//! With `--prefix`, each line is narrowed to the keys under it
//! ([`crate::partfile::PartLine::narrowed`]) and keys outside it are dropped; the
//! filters (`--filter`, `--min-size`, `--max-size`, `--newer-than`, `--older-than`,
//! [`crate::select::Selection`]) leave out the keys they reject before anything is
//! written, counting them `Filtered` (they are not skips). `--as-prefix` writes each key
//! with the prefix replaced (the destination listing of `rsync --diff`, in the
//! source's key space).
//!
//! The whole part file is checked before the first request, so a bad line fails the
//! task (exit 2) without a partial listing.
//!
//! Three more modes: [`inventory`] lists from an S3 Inventory report instead of the
//! bucket, [`distinct`], the listing steps' reducer, writes each key once, and
//! [`versions`] (`--all-versions`, `--version-at`) lists each key's versions.

pub mod distinct;
pub mod inventory;
pub mod versions;

use std::io::{BufRead, Write};
use tracing::Instrument;

use aws_sdk_s3::types::{EncodingType, ObjectStorageClass, OptionalObjectAttributes};

use crate::error::{Error, S3Context, S3ResultExt};
use crate::input::checked_part_file;
use crate::record::{ListingRecord, format_mtime};
use crate::reporter::{Reporter, counters};
use crate::s3::{Client, url_decode};
use crate::select::{KeyMap, Selection, Timestamp, Verdict};
use crate::skip::{SkipReason, Skipped};
use crate::stream::StreamIndex;

/// What bucketlist needs besides its streams and client.
#[derive(Debug, Clone)]
pub struct BucketListOptions {
    /// The bucket to list.
    pub bucket: String,
    /// Whether input lines carry Hadoop's offset field.
    pub stream_index: StreamIndex,
    /// The keys kept: under its prefix and through its filters (default: all).
    pub select: Selection,
    /// The key written for a listed key ([`KeyMap::src_key`] of the listed key; the
    /// identity but for the destination listing of `rsync --diff`, whose part-file
    /// lines name source keys: `src_prefix` is the source's prefix, `dst_prefix` the
    /// listing's, `select.prefix`).
    pub keys: KeyMap,
    /// `--archived`: keep only the objects of the storage classes a restore deals
    /// with ([`is_archive_class`]), restored or not; the others are counted `Filtered`.
    pub archived: bool,
    /// Archived objects are written as records, not skipped (`--keep-archived`).
    pub keep_archived: bool,
    /// Which versions are listed: the current objects (default), or with
    /// `--all-versions`/`--version-at` one versions record per key ([`versions`]).
    pub versions: versions::VersionListing,
}

impl BucketListOptions {
    /// Options that list every key of `bucket`, keys kept.
    pub fn new(bucket: &str, stream_index: StreamIndex) -> BucketListOptions {
        BucketListOptions {
            bucket: bucket.to_string(),
            stream_index,
            select: Selection::default(),
            keys: KeyMap::default(),
            archived: false,
            keep_archived: false,
            versions: versions::VersionListing::Current,
        }
    }

    /// What becomes of the object `key`: `None` when it is not written (outside the
    /// prefix, or filtered: then counted), else the key to write.
    pub fn admit<E: Write>(
        &self,
        key: &str,
        size: u64,
        mtime: i64,
        reporter: &mut Reporter<E>,
        summary: &mut BucketListSummary,
    ) -> Result<Option<String>, Error> {
        match self.select.judge(key, size, Timestamp(mtime)) {
            Verdict::Outside => Ok(None),
            Verdict::Filtered => {
                summary.filtered += 1;
                reporter.counter(&self.bucket, counters::FILTERED, 1)?;
                Ok(None)
            }
            Verdict::Keep => Ok(Some(
                self.keys.src_key(key).unwrap_or_else(|| key.to_string()),
            )),
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketListSummary {
    /// Part-file lines listed.
    pub prefixes: u64,
    /// Objects written.
    pub objects: u64,
    /// Bytes of the objects written.
    pub bytes: u64,
    /// Archived objects skipped.
    pub skipped_archived: u64,
    /// Objects under the prefix left out by a filter.
    pub filtered: u64,
}

/// One line of a part file (the article's form or a key range).
pub use crate::partfile::PartLine as PartFileLine;

/// Parses a part-file line: `Ok(None)` for blank lines and `#` comments.
pub fn parse_part_file_line(text: &str) -> Result<Option<PartFileLine>, String> {
    PartFileLine::parse(text)
}

/// Runs bucketlist over `input`, writing listing records to `output`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &BucketListOptions,
) -> Result<BucketListSummary, Error> {
    let lines = checked_part_file(input, options.stream_index, parse_part_file_line)?;
    let mut summary = BucketListSummary::default();
    for line in lines {
        let Some(line) = line? else { continue };
        // The lines name keys of the source; the destination listing of a run with
        // prefixes lists their mapped keys. A line with no key under the prefix costs
        // no request.
        let from = if options.keys.is_identity() {
            &options.select.prefix
        } else {
            &options.keys.src_prefix
        };
        if let Some(narrowed) = line.translated(from, &options.select.prefix) {
            let span = tracing::error_span!("line", part = ?line);
            async {
                tracing::debug!("listing");
                if options.versions != versions::VersionListing::Current {
                    return versions::list_line(
                        &line,
                        &narrowed,
                        output,
                        reporter,
                        client,
                        options,
                        &mut summary,
                    )
                    .await;
                }
                list_prefix(
                    &line,
                    &narrowed,
                    output,
                    reporter,
                    client,
                    options,
                    &mut summary,
                )
                .await
            }
            .instrument(span)
            .await?;
        }
        summary.prefixes += 1;
    }
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    reporter.finish()?;
    Ok(summary)
}

/// Lists the keys of `line` through `narrowed` (the line narrowed to the prefix and
/// moved to the listing's keys: the same keys under the prefix, maybe a few more, which
/// `line.contains` leaves out).
async fn list_prefix<W: Write, E: Write>(
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
    let mut listed = Listed {
        line,
        output,
        reporter,
        options,
        summary,
    };
    if let Some(first) = &plan.probe_first {
        // StartAfter leaves the range's first key out: one request for it alone.
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(first)
            .max_keys(1)
            .encoding_type(EncodingType::Url)
            .optional_object_attributes(OptionalObjectAttributes::RestoreStatus)
            .send()
            .await
            .context("ListObjectsV2", bucket, first)?;
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        if let Some(object) = page.contents().first() {
            let key = object_key(object, encoded, bucket, first)?;
            if key == *first {
                listed.write(object, key, first)?;
            }
        }
    }
    let mut continuation: Option<String> = None;
    loop {
        let mut request = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&plan.prefix)
            .encoding_type(EncodingType::Url)
            .optional_object_attributes(OptionalObjectAttributes::RestoreStatus)
            .set_delimiter(plan.delimiter.clone());
        request = match continuation.take() {
            Some(token) => request.continuation_token(token),
            None => request.set_start_after(plan.start_after.clone()),
        };
        let page = request
            .send()
            .await
            .context("ListObjectsV2", bucket, &plan.prefix)?;
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        for object in page.contents() {
            let key = object_key(object, encoded, bucket, &plan.prefix)?;
            if plan.stop_at.as_ref().is_some_and(|stop| key >= *stop) {
                return Ok(());
            }
            listed.write(object, key, &plan.prefix)?;
        }
        match page.next_continuation_token() {
            Some(token) if page.is_truncated() == Some(true) => {
                continuation = Some(token.to_string());
                listed.reporter.status(&format!(
                    "listing s3://{bucket}/{}: {} objects so far",
                    plan.prefix, listed.summary.objects
                ))?;
            }
            _ => return Ok(()),
        }
    }
}

fn malformed(bucket: &str, prefix: &str, what: &str) -> Error {
    S3Context::new("ListObjectsV2", bucket, prefix)
        .problem(format!("the listing has an object without {what}"))
}

/// The object's key, URL-decoded when the listing is encoded.
fn object_key(
    object: &aws_sdk_s3::types::Object,
    encoded: bool,
    bucket: &str,
    prefix: &str,
) -> Result<String, Error> {
    let raw_key = object
        .key()
        .ok_or_else(|| malformed(bucket, prefix, "Key"))?;
    if encoded {
        url_decode(raw_key).map_err(|m| malformed(bucket, prefix, &m))
    } else {
        Ok(raw_key.to_string())
    }
}

/// Where the objects of one line's listing go.
struct Listed<'a, W, E: Write> {
    line: &'a PartFileLine,
    output: &'a mut W,
    reporter: &'a mut Reporter<E>,
    options: &'a BucketListOptions,
    summary: &'a mut BucketListSummary,
}

impl<W: Write, E: Write> Listed<'_, W, E> {
    /// Writes one listed object's record (or reports it skipped when archived), unless
    /// the line does not list it or the selection leaves it out.
    fn write(
        &mut self,
        object: &aws_sdk_s3::types::Object,
        key: String,
        prefix: &str,
    ) -> Result<(), Error> {
        if !self
            .line
            .contains(&self.options.keys.src_key(&key).unwrap_or_default())
        {
            // Listed only because the line was narrowed to the prefix: another line's.
            return Ok(());
        }
        let bucket = &self.options.bucket;
        let size = object
            .size()
            .and_then(|s| u64::try_from(s).ok())
            .ok_or_else(|| malformed(bucket, prefix, "Size"))?;
        let etag = object
            .e_tag()
            .ok_or_else(|| malformed(bucket, prefix, "ETag"))?
            .trim_matches('"')
            .to_string();
        let mtime = object
            .last_modified()
            .ok_or_else(|| malformed(bucket, prefix, "LastModified"))?
            .secs();
        let Some(key) =
            self.options
                .admit(&key, size, mtime, &mut *self.reporter, &mut *self.summary)?
        else {
            return Ok(());
        };
        let (output, reporter, summary) =
            (&mut *self.output, &mut *self.reporter, &mut *self.summary);
        if self.options.archived && !is_archive_class(object.storage_class()) {
            summary.filtered += 1;
            return reporter.counter(bucket, counters::FILTERED, 1);
        }
        if !self.options.archived && !self.options.keep_archived && needs_restore(object) {
            summary.skipped_archived += 1;
            let row = Skipped {
                key,
                size,
                etag,
                reason: SkipReason::Archived,
                detail: format!(
                    "storage class {} needs a restore",
                    object.storage_class().map_or("", |c| c.as_str())
                ),
            };
            crate::skip::report(output, reporter, bucket, &row)?;
            return Ok(());
        }
        let record = ListingRecord {
            etag,
            size,
            mtime: format_mtime(mtime),
            key,
            destination: None,
        };
        writeln!(output, "{}", record.to_line()).map_err(|e| Error::io("writing stdout", e))?;
        summary.objects += 1;
        summary.bytes += size;
        reporter.counter(
            bucket,
            counters::BYTES,
            i64::try_from(size).unwrap_or(i64::MAX),
        )?;
        reporter.counter(bucket, counters::OBJECTS, 1)
    }
}

/// The storage classes whose objects may need a restore: GLACIER, DEEP_ARCHIVE, and
/// INTELLIGENT_TIERING (whose archive tiers only a HEAD shows).
pub fn is_archive_class(class: Option<&ObjectStorageClass>) -> bool {
    matches!(
        class,
        Some(
            ObjectStorageClass::Glacier
                | ObjectStorageClass::DeepArchive
                | ObjectStorageClass::IntelligentTiering
        )
    )
}

/// True for objects whose data cannot be read until restored.
fn needs_restore(object: &aws_sdk_s3::types::Object) -> bool {
    let archived = matches!(
        object.storage_class(),
        Some(ObjectStorageClass::Glacier | ObjectStorageClass::DeepArchive)
    );
    let restored = object.restore_status().is_some_and(|status| {
        status.is_restore_in_progress() != Some(true) && status.restore_expiry_date().is_some()
    });
    archived && !restored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_file_lines_split_on_the_first_comma() {
        assert_eq!(
            parse_part_file_line("/,0").expect("ok"),
            Some(PartFileLine::Prefix {
                delimiter: "/".into(),
                prefix: "0".into()
            })
        );
        assert_eq!(
            parse_part_file_line(",000/").expect("ok"),
            Some(PartFileLine::Prefix {
                delimiter: String::new(),
                prefix: "000/".into()
            })
        );
        assert_eq!(
            parse_part_file_line("/,a,b").expect("ok"),
            Some(PartFileLine::Prefix {
                delimiter: "/".into(),
                prefix: "a,b".into()
            })
        );
        assert_eq!(
            parse_part_file_line(",").expect("ok"),
            Some(PartFileLine::Prefix {
                delimiter: String::new(),
                prefix: String::new()
            })
        );
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        assert_eq!(parse_part_file_line("# all keys").expect("ok"), None);
        assert_eq!(parse_part_file_line("").expect("ok"), None);
        assert_eq!(parse_part_file_line("   ").expect("ok"), None);
    }

    #[test]
    fn key_ranges_are_a_line_form_of_their_own() {
        assert_eq!(
            parse_part_file_line("range\ta\\tb\t").expect("ok"),
            Some(PartFileLine::Range {
                start: "a\tb".into(),
                end: None
            })
        );
        assert!(
            parse_part_file_line("range\tb\ta")
                .expect_err("end before start")
                .contains("field 3 (end)")
        );
    }

    #[test]
    fn a_line_without_comma_is_refused() {
        let error = parse_part_file_line("00").expect_err("no comma");
        assert!(error.contains("no comma"), "{error}");
        assert!(error.contains("\"00\""), "{error}");
    }
}
