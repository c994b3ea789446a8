//! `bucketlist --inventory` (mapper): the source listing read from an S3 Inventory
//! report instead of the bucket, one data file per input line
//! ([`crate::inventory::DataFile`], as `rsync --inventory` writes them): each current
//! object becomes a listing record, with no ListObjectsV2 request. The report says
//! nothing of restores, so archived objects are listed like the others and the copy
//! reports those it cannot read (403 `InvalidObjectState`) as skipped. An object
//! deleted or changed since the report was written is reported by the copy as
//! vanished or changed; one created since is not in the report, and not copied.
//! Counters, group = bucket: `Bytes`, `Objects`.

use std::io::{BufRead, Write};

use crate::error::Error;
use crate::input::checked_part_file;
use crate::inventory::{DataFile, InventoryObject};
use crate::record::{ListingRecord, format_mtime};
use crate::reporter::{Reporter, counters};
use crate::s3::Client;

use super::{BucketListOptions, BucketListSummary};

/// Runs `bucketlist --inventory` over `input`, writing listing records to `output`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &BucketListOptions,
) -> Result<BucketListSummary, Error> {
    let files = checked_part_file(input, options.stream_index, DataFile::parse)?;
    let mut summary = BucketListSummary::default();
    for file in files {
        let Some(file) = file? else { continue };
        let data = file.open(client).await?;
        let bucket = &options.bucket;
        let mut row = 0;
        file.read(data, |object| {
            row += 1;
            let mut record = listing_record(object, bucket)
                .map_err(|m| Error::Usage(format!("{}: object {row}: {m}", file.location)))?;
            // The prefix and the filters select among the report's rows as among a
            // listing's objects.
            let mtime = crate::record::mtime_seconds(&record.mtime).unwrap_or_default();
            let Some(key) =
                options.admit(&record.key, record.size, mtime, reporter, &mut summary)?
            else {
                return Ok(());
            };
            record.key = key;
            writeln!(output, "{}", record.to_line()).map_err(|e| Error::io("writing stdout", e))?;
            summary.objects += 1;
            summary.bytes += record.size;
            reporter.counter(
                bucket,
                counters::BYTES,
                i64::try_from(record.size).unwrap_or(i64::MAX),
            )?;
            reporter.counter(bucket, counters::OBJECTS, 1)?;
            if summary.objects.is_multiple_of(100_000) {
                reporter.status(&format!(
                    "reading {}: {} objects so far",
                    file.location, summary.objects
                ))?;
            }
            Ok(())
        })?;
        summary.prefixes += 1;
    }
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    reporter.finish()?;
    Ok(summary)
}

/// The listing record of one object of the report of `bucket`.
fn listing_record(object: InventoryObject, bucket: &str) -> Result<ListingRecord, String> {
    if let Some(other) = object.bucket.as_deref().filter(|b| *b != bucket) {
        return Err(format!(
            "key {:?} is in bucket {other:?}, not {bucket:?}: the report is another bucket's",
            object.key
        ));
    }
    let missing = |field: &str| {
        format!(
            "key {:?} has no {field} (the report must hold Size, ETag and LastModifiedDate)",
            object.key
        )
    };
    let etag = object.etag.ok_or_else(|| missing("ETag"))?;
    if !crate::record::is_valid_etag(&etag) {
        return Err(format!(
            "key {:?}: ETag {etag:?} is not an S3 ETag",
            object.key
        ));
    }
    Ok(ListingRecord {
        size: object.size.ok_or_else(|| missing("Size"))?,
        mtime: format_mtime(
            object
                .last_modified
                .ok_or_else(|| missing("LastModifiedDate"))?,
        ),
        etag,
        key: object.key,
        destination: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(bucket: Option<&str>, etag: Option<&str>) -> InventoryObject {
        InventoryObject {
            bucket: bucket.map(str::to_string),
            key: "a\tb".into(),
            size: Some(5),
            etag: etag.map(str::to_string),
            last_modified: Some(60),
        }
    }

    #[test]
    fn objects_become_listing_records() {
        let record = listing_record(
            object(Some("src"), Some("0cc175b9c0f1b6a831c399e269772661")),
            "src",
        )
        .expect("record");
        assert_eq!(
            record.to_line(),
            "a\\tb\t0cc175b9c0f1b6a831c399e269772661\t5\t1970-01-01 00:01:00"
        );
    }

    #[test]
    fn an_object_without_what_a_listing_needs_is_refused() {
        let error = listing_record(object(None, None), "src").expect_err("no etag");
        assert!(error.contains("has no ETag"), "{error}");
        let error =
            listing_record(object(Some("other"), Some("abc")), "src").expect_err("another bucket");
        assert!(error.contains("bucket \"other\""), "{error}");
    }
}
