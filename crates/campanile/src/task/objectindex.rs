//! objectindex (mapper): the index job's task (`campanile index`). It reads the source
//! listing's records (`key etag size mtime`) and writes one [`IndexRow`] per object:
//! `bucket key etag size mtime storageClass encryption kmsKeyId checksumAlgorithm`.
//!
//! The listing gives the key, ETag, size and date; the other columns come from one
//! HEAD per object (in checksum mode), because bucketlist's record does not carry the
//! storage class and checksum algorithm ListObjectsV2 shows, and no listing shows the
//! encryption. One HEAD gives all three, so it is made whenever any of them is wanted;
//! `--no-head` makes an index of the listing alone (those columns NULL, `\N`). A HEAD
//! only reads: a retried attempt repeats it safely.
//!
//! What a HEAD can find: the object gone since the listing (404: no row, counted
//! `SourceVanished`); another ETag (changed since the listing: the row takes the
//! HEAD's ETag, size and date, counted `SourceChanged`); an object written with SSE-C,
//! whose HEAD S3 answers 400 without the key: with `--sse-c-key-file` the HEAD is made
//! again with the key, without it the row says `SSE-C` and leaves the storage class
//! and checksum NULL (counted `SseCWithoutKey`). Keys `--key-regex` does not match are
//! left out before any request (counted `Filtered`). Skip rows of earlier steps are
//! passed on unchanged.
//!
//! Counters, group = bucket: `Objects`, `Bytes`, `Heads`, `Filtered`,
//! `SourceVanished`, `SourceChanged`, `SseCWithoutKey`.

use std::io::{BufRead, Write};

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{ChecksumMode, ServerSideEncryption};
use futures::StreamExt;

use crate::checksum::Algorithm;
use crate::error::{Error, S3Context, S3ResultExt};
use crate::input::checked_records;
use crate::record::{ListingRecord, NULL, RecordError, escape_key, format_mtime, unescape_key};
use crate::reporter::{Reporter, counters};
use crate::s3::{Client, http_status};
use crate::select::KeyRegex;
use crate::skip::{self, Line};
use crate::sse_c::{CustomerKey, WithCustomerKey};
use crate::stream::StreamIndex;

/// HEADs made (one per object, two for an SSE-C object HEADed again with its key).
pub const HEADS: &str = "Heads";
/// Objects written with SSE-C whose HEAD needed a key the task was not given.
pub const SSE_C_WITHOUT_KEY: &str = "SseCWithoutKey";

/// The `encryption` column of an object S3 stores without server-side encryption.
pub const NO_ENCRYPTION: &str = "NONE";
/// The `encryption` column of an object written with a customer-provided key.
pub const SSE_C: &str = "SSE-C";
/// The `checksumAlgorithm` column of an object without an additional checksum.
pub const NO_CHECKSUM: &str = "NONE";

/// Options of objectindex.
#[derive(Debug, Clone)]
pub struct ObjectIndexOptions {
    /// The bucket the records were listed from (each row's first field).
    pub bucket: String,
    /// Whether input lines carry Hadoop's offset field.
    pub stream_index: StreamIndex,
    /// Only keys it matches are indexed.
    pub key_regex: Option<KeyRegex>,
    /// HEAD each object (storage class, encryption, checksum algorithm).
    pub head: bool,
    /// The key of the objects written with SSE-C.
    pub sse_c: Option<CustomerKey>,
    /// Objects HEADed at once.
    pub concurrency: usize,
}

/// One row of the index: a listed object and what its HEAD says. Fields that were not
/// asked (`--no-head`) or could not be had are `None`, written `\N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// The bucket.
    pub bucket: String,
    /// The key (unescaped).
    pub key: String,
    /// The ETag, without quotes.
    pub etag: String,
    /// Bytes.
    pub size: u64,
    /// Last modified, `YYYY-MM-DD HH:MM:SS` UTC (the listing's form).
    pub mtime: String,
    /// `STANDARD`, `GLACIER`, … as S3 names it.
    pub storage_class: Option<String>,
    /// `NONE`, `SSE-S3`, `SSE-KMS`, `DSSE-KMS` or `SSE-C`.
    pub encryption: Option<String>,
    /// The KMS key of an SSE-KMS or DSSE-KMS object.
    pub kms_key_id: Option<String>,
    /// `CRC64NVME`, `CRC32`, `CRC32C`, `SHA1`, `SHA256` or `NONE`.
    pub checksum_algorithm: Option<String>,
}

/// The names of the row's fields, in order (also the CSV header and Parquet columns,
/// with `mtime` as `last_modified`).
pub const FIELDS: [&str; 9] = [
    "bucket",
    "key",
    "etag",
    "size",
    "mtime",
    "storageClass",
    "encryption",
    "kmsKeyId",
    "checksumAlgorithm",
];

impl IndexRow {
    /// The TSV line (key escaped as in every record, `\N` for `None`).
    pub fn to_line(&self) -> String {
        let opt = |value: &Option<String>| value.clone().unwrap_or_else(|| NULL.to_string());
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.bucket,
            escape_key(&self.key),
            self.etag,
            self.size,
            self.mtime,
            opt(&self.storage_class),
            opt(&self.encryption),
            opt(&self.kms_key_id),
            opt(&self.checksum_algorithm),
        )
    }

    /// Reads a line [`IndexRow::to_line`] wrote; the error names the field.
    pub fn parse(line: &str) -> Result<IndexRow, RecordError> {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != FIELDS.len() {
            return Err(RecordError(format!(
                "expected {} TAB-separated fields ({}), found {}",
                FIELDS.len(),
                FIELDS.join(", "),
                fields.len()
            )));
        }
        let problem = |index: usize, what: String| {
            RecordError(format!("field {} ({}) {what}", index + 1, FIELDS[index]))
        };
        let key = unescape_key(fields[1]).map_err(|e| problem(1, e))?;
        if fields[0].is_empty() || key.is_empty() {
            return Err(problem(
                if fields[0].is_empty() { 0 } else { 1 },
                "is empty".into(),
            ));
        }
        let size = fields[3]
            .parse()
            .map_err(|_| problem(3, format!("is not a number: {:?}", fields[3])))?;
        if crate::record::mtime_seconds(fields[4]).is_none() {
            return Err(problem(
                4,
                format!("is not a time `YYYY-MM-DD HH:MM:SS`: {:?}", fields[4]),
            ));
        }
        let opt = |text: &str| (text != NULL).then(|| text.to_string());
        Ok(IndexRow {
            bucket: fields[0].to_string(),
            key,
            etag: fields[2].to_string(),
            size,
            mtime: fields[4].to_string(),
            storage_class: opt(fields[5]),
            encryption: opt(fields[6]),
            kms_key_id: opt(fields[7]),
            checksum_algorithm: opt(fields[8]),
        })
    }

    /// The row of a listed object, without what a HEAD tells.
    fn listed(bucket: &str, record: ListingRecord) -> IndexRow {
        IndexRow {
            bucket: bucket.to_string(),
            key: record.key,
            etag: record.etag,
            size: record.size,
            mtime: record.mtime,
            storage_class: None,
            encryption: None,
            kms_key_id: None,
            checksum_algorithm: None,
        }
    }
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectIndexSummary {
    /// Rows written.
    pub objects: u64,
    /// Bytes of the objects written.
    pub bytes: u64,
    /// Keys `--key-regex` left out.
    pub filtered: u64,
    /// Objects gone since the listing (no row).
    pub vanished: u64,
    /// Objects changed since the listing (the row is the HEAD's).
    pub changed: u64,
}

/// What became of one input line.
enum Indexed {
    Row {
        row: IndexRow,
        heads: i64,
        changed: bool,
        sse_c_without_key: bool,
    },
    Filtered,
    Vanished,
    PassedOn(String),
}

/// Runs objectindex over `input`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &ObjectIndexOptions,
) -> Result<ObjectIndexSummary, Error> {
    let records = checked_records(
        input,
        options.stream_index,
        skip::or_passed(ListingRecord::parse),
    )?;
    let bucket = options.bucket.as_str();
    let mut summary = ObjectIndexSummary::default();
    let mut indexed = futures::stream::iter(records)
        .map(|item| async move {
            match item? {
                Line::Record(record) => index_object(record, client, options).await,
                Line::Skipped(row) => Ok(Indexed::PassedOn(row)),
            }
        })
        .buffered(options.concurrency.max(1));
    while let Some(result) = indexed.next().await {
        match result? {
            Indexed::Row {
                row,
                heads,
                changed,
                sse_c_without_key,
            } => {
                writeln!(output, "{}", row.to_line())
                    .map_err(|e| Error::io("writing stdout", e))?;
                summary.objects += 1;
                summary.bytes += row.size;
                reporter.counter(bucket, counters::OBJECTS, 1)?;
                reporter.counter(
                    bucket,
                    counters::BYTES,
                    i64::try_from(row.size).unwrap_or(i64::MAX),
                )?;
                if heads > 0 {
                    reporter.counter(bucket, HEADS, heads)?;
                }
                if changed {
                    summary.changed += 1;
                    reporter.counter(bucket, counters::SOURCE_CHANGED, 1)?;
                }
                if sse_c_without_key {
                    reporter.counter(bucket, SSE_C_WITHOUT_KEY, 1)?;
                }
            }
            Indexed::Filtered => {
                summary.filtered += 1;
                reporter.counter(bucket, counters::FILTERED, 1)?;
            }
            Indexed::Vanished => {
                summary.vanished += 1;
                reporter.counter(bucket, HEADS, 1)?;
                reporter.counter(bucket, counters::SOURCE_VANISHED, 1)?;
            }
            Indexed::PassedOn(row) => skip::pass_on(output, &row)?,
        }
    }
    drop(indexed);
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    reporter.finish()?;
    Ok(summary)
}

/// Indexes one listed object.
async fn index_object(
    record: ListingRecord,
    client: &Client,
    options: &ObjectIndexOptions,
) -> Result<Indexed, Error> {
    if options
        .key_regex
        .as_ref()
        .is_some_and(|regex| !regex.is_match(&record.key))
    {
        return Ok(Indexed::Filtered);
    }
    let mut row = IndexRow::listed(&options.bucket, record);
    if !options.head {
        return Ok(Indexed::Row {
            row,
            heads: 0,
            changed: false,
            sse_c_without_key: false,
        });
    }
    let mut heads = 1;
    let mut answer = head(client, &options.bucket, &row.key, options.sse_c.as_ref()).await?;
    if matches!(answer, Head::BadRequest) && options.sse_c.is_some() {
        // The key was refused: an object not written with SSE-C is HEADed without one.
        heads += 1;
        answer = head(client, &options.bucket, &row.key, None).await?;
    }
    let head = match answer {
        Head::Found(head) => head,
        Head::Gone => return Ok(Indexed::Vanished),
        Head::BadRequest if options.sse_c.is_none() => {
            // S3 answers a HEAD of an SSE-C object without its key 400 (a HEAD has no
            // body to say more); the key would tell the rest.
            row.encryption = Some(SSE_C.to_string());
            return Ok(Indexed::Row {
                row,
                heads,
                changed: false,
                sse_c_without_key: true,
            });
        }
        Head::BadRequest => {
            return Err(
                S3Context::new("HeadObject", &options.bucket, &row.key).problem(
                    "400 Bad Request with the SSE-C key and without it: the key file is not \
                 the object's key"
                        .to_string(),
                ),
            );
        }
    };
    let etag = head.e_tag().unwrap_or_default().trim_matches('"');
    let changed = !etag.is_empty() && etag != row.etag;
    if changed {
        // The object was written again since the listing: the row describes what is
        // there now.
        row.etag = etag.to_string();
        if let Some(size) = head.content_length().and_then(|l| u64::try_from(l).ok()) {
            row.size = size;
        }
        if let Some(at) = head.last_modified() {
            row.mtime = format_mtime(at.secs());
        }
    }
    describe(&mut row, &head);
    Ok(Indexed::Row {
        row,
        heads,
        changed,
        sse_c_without_key: false,
    })
}

/// Fills the columns a HEAD tells.
fn describe(row: &mut IndexRow, head: &HeadObjectOutput) {
    // S3 leaves x-amz-storage-class out for STANDARD.
    row.storage_class = Some(
        head.storage_class()
            .map_or("STANDARD", |class| class.as_str())
            .to_string(),
    );
    row.encryption = Some(encryption(head).to_string());
    row.kms_key_id = head.ssekms_key_id().map(str::to_string);
    let values = crate::checksum::head_values(head);
    row.checksum_algorithm = Some(
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.pick(values).is_some())
            .map_or(NO_CHECKSUM, Algorithm::as_str)
            .to_string(),
    );
}

/// The `encryption` column of a HEAD's answer.
fn encryption(head: &HeadObjectOutput) -> &str {
    if head.sse_customer_algorithm().is_some() {
        return SSE_C;
    }
    match head.server_side_encryption() {
        None => NO_ENCRYPTION,
        Some(ServerSideEncryption::Aes256) => "SSE-S3",
        Some(ServerSideEncryption::AwsKms) => "SSE-KMS",
        Some(ServerSideEncryption::AwsKmsDsse) => "DSSE-KMS",
        Some(other) => other.as_str(),
    }
}

/// What a HEAD found.
enum Head {
    Found(Box<HeadObjectOutput>),
    /// 404: deleted since the listing.
    Gone,
    /// 400: an SSE-C object HEADed without its key (or with another object's).
    BadRequest,
}

async fn head(
    client: &Client,
    bucket: &str,
    key: &str,
    sse_c: Option<&CustomerKey>,
) -> Result<Head, Error> {
    let answer = client
        .head_object()
        .bucket(bucket)
        .key(key)
        // The object's additional checksum, whose algorithm the index shows.
        .checksum_mode(ChecksumMode::Enabled)
        .sse_c(sse_c)
        .send()
        .await;
    match answer {
        Ok(head) => Ok(Head::Found(Box::new(head))),
        Err(e) => match http_status(&e) {
            Some(404) => Ok(Head::Gone),
            Some(400) => Ok(Head::BadRequest),
            _ => Err(e).context("HeadObject", bucket, key),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> IndexRow {
        IndexRow {
            bucket: "b".into(),
            key: "a,b\t\"c\"\nd\\é".into(),
            etag: "0123456789abcdef0123456789abcdef-2".into(),
            size: 12,
            mtime: "2025-06-01 12:00:00".into(),
            storage_class: Some("STANDARD".into()),
            encryption: Some("SSE-KMS".into()),
            kms_key_id: Some("arn:aws:kms:eu-west-1:1:key/k".into()),
            checksum_algorithm: None,
        }
    }

    #[test]
    fn rows_round_trip_with_escaped_keys_and_nulls() {
        let row = row();
        let line = row.to_line();
        assert_eq!(line.split('\t').count(), 9, "{line}");
        assert!(!line.contains('\n'));
        assert!(line.ends_with("\t\\N"), "{line}");
        assert_eq!(IndexRow::parse(&line), Ok(row));
    }

    #[test]
    fn bad_rows_name_the_field() {
        let line = row().to_line();
        let short: Vec<&str> = line.split('\t').take(8).collect();
        let error = IndexRow::parse(&short.join("\t")).expect_err("8 fields");
        assert!(error.0.contains("expected 9"), "{error}");
        let bad_size = line.replacen("\t12\t", "\ttwelve\t", 1);
        let error = IndexRow::parse(&bad_size).expect_err("size");
        assert!(error.0.contains("field 4 (size)"), "{error}");
        let bad_time = line.replacen("2025-06-01 12:00:00", "yesterday", 1);
        let error = IndexRow::parse(&bad_time).expect_err("mtime");
        assert!(error.0.contains("field 5 (mtime)"), "{error}");
    }
}
