//! Task functions called in process, against Garage: the same work as a binary run,
//! but the records, the summary and the reporter lines are read straight from the
//! writers and the returned values, with no process, environment or exit code in
//! between. Kept few and simple (the binaries are tested end to end elsewhere).

use std::time::Duration;

use campanile::record::ListingRecord;
use campanile::reporter::Reporter;
use campanile::stream::StreamIndex;
use campanile::task::bucketlist::{self, BucketListOptions, BucketListSummary};
use campanile_testkit::fixtures;

use crate::common::{article_bucket, expected_etag};

/// A reporter that writes its counters only at `finish`, so that what it wrote does not
/// depend on how long the listing took.
fn quiet_reporter() -> Reporter<Vec<u8>> {
    Reporter::with_interval(Vec::new(), Duration::from_secs(24 * 3600))
}

#[tokio::test(flavor = "multi_thread")]
async fn bucketlist_run_writes_the_exact_records_and_counters() {
    let bucket = article_bucket().await;
    let client = campanile_testkit::s3().client().await;
    let options = BucketListOptions::new(bucket, StreamIndex::SHELL);
    // A comment, a blank line and three prefixes: `/,00` lists the top-level 00 only
    // (000/00 is below the delimiter), `,000/` lists 000/00, `,10` the multipart 10.
    let input: &[u8] = b"# head of the article's bucket\n\n/,00\n,000/\n,10\n";
    let mut output = Vec::new();
    let mut reporter = quiet_reporter();
    let summary = bucketlist::run(input, &mut output, &mut reporter, &client, &options)
        .await
        .expect("bucketlist::run");

    let output = String::from_utf8(output).expect("UTF-8 records");
    let records: Vec<ListingRecord> = output
        .lines()
        .map(|line| ListingRecord::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    let objects = fixtures::article_objects();
    let expected: Vec<(String, String, u64)> = ["00", "000/00", "10"]
        .iter()
        .map(|key| {
            let object = objects.iter().find(|o| o.key == *key).expect("fixture");
            (object.key.clone(), expected_etag(object), object.size)
        })
        .collect();
    let listed: Vec<(String, String, u64)> = records
        .iter()
        .map(|r| (r.key.clone(), r.etag.clone(), r.size))
        .collect();
    assert_eq!(listed, expected, "keys, ETags and sizes, in listing order");
    for record in &records {
        // `YYYY-MM-DD HH:MM:SS`, UTC: the format Hive's diff compares as text.
        let bytes = record.mtime.as_bytes();
        assert_eq!(record.mtime.len(), 19, "{:?}", record.mtime);
        assert_eq!((bytes[4], bytes[7], bytes[10]), (b'-', b'-', b' '));
        assert_eq!((bytes[13], bytes[16]), (b':', b':'));
    }
    let lines: String = records.iter().map(|r| r.to_line() + "\n").collect();
    assert_eq!(output, lines, "one line per record, nothing else on stdout");

    let bytes: u64 = expected.iter().map(|(_, _, size)| size).sum();
    assert_eq!(
        summary,
        BucketListSummary {
            prefixes: 3,
            objects: 3,
            bytes,
            skipped_archived: 0,
            filtered: 0,
        }
    );
    assert_eq!(
        String::from_utf8_lossy(reporter.get_ref()),
        format!("reporter:counter:{bucket},Bytes,{bytes}\nreporter:counter:{bucket},Objects,3\n"),
        "counters summed once, at the end"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bucketlist_run_refuses_a_bad_line_before_listing_anything() {
    let bucket = article_bucket().await;
    let client = campanile_testkit::s3().client().await;
    let options = BucketListOptions::new(bucket, StreamIndex::SHELL);
    let input: &[u8] = b",00\nno comma here\n,01\n";
    let mut output = Vec::new();
    let mut reporter = quiet_reporter();
    let error = bucketlist::run(input, &mut output, &mut reporter, &client, &options)
        .await
        .expect_err("a line without a comma");
    let message = error.to_string();
    assert!(message.contains("line 2"), "{message}");
    assert!(message.contains("no comma"), "{message}");
    assert!(
        output.is_empty(),
        "no record before the whole input is checked"
    );
    assert!(reporter.get_ref().is_empty(), "no counter either");
}
