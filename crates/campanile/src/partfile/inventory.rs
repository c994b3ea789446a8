//! Part files from an S3 Inventory report instead of the bucket: the report's
//! `manifest.json` names its data files (`fileFormat` CSV: gzip-compressed CSV with the
//! columns `fileSchema` names, keys URL-encoded; `Parquet`: columns `key` and, in a
//! versioned report, `is_latest` and `is_delete_marker`, read with the `parquet`
//! crate, Snappy or gzip compressed), which list every key of the bucket
//! without a single ListObjectsV2 request. The keys are read once, streaming; a uniform
//! sample of them (reservoir sampling, at most [`SAMPLE_KEYS`]) gives the cut points,
//! so memory does not grow with the bucket: each line then holds the target number of
//! keys give or take the sampling error (about ±1/√(sample keys per line)), and
//! exactly when the whole report fits in the sample. ORC reports are refused with a
//! clear error (not supported).
//!
//! Data files are read from the manifest's destination bucket (through the same
//! client) when the manifest is an `s3://` URI, and from the manifest's directory (by
//! their file name) when it is a local path.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::generate::Generated;
use super::line::PartLine;
use crate::error::Error;
use crate::s3::{Client, url_decode};
use crate::s3_url::parse_s3_uri;

/// Keys kept in the sample at most.
pub const SAMPLE_KEYS: usize = 1_000_000;

/// An S3 Inventory `manifest.json` (the fields used).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The inventoried bucket.
    pub source_bucket: String,
    /// Where the report is: a bucket ARN (`arn:aws:s3:::name`).
    pub destination_bucket: String,
    /// `CSV`, `ORC` or `Parquet`.
    pub file_format: String,
    /// The columns, comma-separated (`Bucket, Key, Size, …`).
    pub file_schema: String,
    /// The data files.
    pub files: Vec<ManifestFile>,
}

/// One data file of a report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestFile {
    /// Its key in the destination bucket.
    pub key: String,
}

impl Manifest {
    /// Parses a manifest and checks that Campanile can read its data files.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Manifest = serde_json::from_str(text)
            .map_err(|e| format!("not an S3 Inventory manifest.json: {e}"))?;
        if manifest.is_parquet() {
            return Ok(manifest);
        }
        if !manifest.file_format.eq_ignore_ascii_case("CSV") {
            return Err(format!(
                "fileFormat {:?}: only CSV and Parquet inventory reports are read (ORC is \
                 not supported)",
                manifest.file_format
            ));
        }
        manifest.columns()?;
        Ok(manifest)
    }

    /// True for a Parquet report.
    pub fn is_parquet(&self) -> bool {
        self.file_format.eq_ignore_ascii_case("Parquet")
    }

    /// The destination bucket's name.
    pub fn destination_bucket_name(&self) -> &str {
        self.destination_bucket
            .strip_prefix("arn:aws:s3:::")
            .unwrap_or(&self.destination_bucket)
    }

    /// Column numbers of the key and, when the report has them, of `IsLatest` and
    /// `IsDeleteMarker` (a versioned report lists old versions and delete markers,
    /// which are no objects to copy).
    fn columns(&self) -> Result<Columns, String> {
        let names: Vec<&str> = self.file_schema.split(',').map(str::trim).collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        Ok(Columns {
            key: find("Key")
                .ok_or_else(|| format!("fileSchema {:?} has no Key column", self.file_schema))?,
            is_latest: find("IsLatest"),
            is_delete_marker: find("IsDeleteMarker"),
            count: names.len(),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Columns {
    key: usize,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
    count: usize,
}

/// A uniform sample of the keys offered (reservoir sampling), and their number.
#[derive(Debug)]
pub struct KeySample {
    keys: Vec<String>,
    seen: u64,
    capacity: usize,
    state: u64,
}

impl KeySample {
    /// An empty sample keeping at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        KeySample {
            keys: Vec::new(),
            seen: 0,
            capacity: capacity.max(1),
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Offers one key.
    pub fn offer(&mut self, key: String) {
        self.seen += 1;
        if self.keys.len() < self.capacity {
            self.keys.push(key);
            return;
        }
        // xorshift64*: a fixed seed, so that a report always gives the same part file.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let draw = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) % self.seen;
        if let Ok(slot) = usize::try_from(draw)
            && slot < self.capacity
        {
            self.keys[slot] = key;
        }
    }

    /// Keys offered.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Cuts the key space at the sample's quantiles into lines of about `target` keys
    /// (exactly, when every key is in the sample).
    pub fn cut(mut self, target: u64) -> Generated {
        self.keys.sort_unstable();
        self.keys.dedup();
        let target = target.max(1);
        let exact = self.keys.len() as u64 == self.seen;
        let lines = self.seen.div_ceil(target).max(1);
        let len = self.keys.len() as u64;
        let mut starts: Vec<String> = Vec::new();
        for j in 1..lines {
            // The first key of line j: key number j * target in the whole bucket, or
            // the same quantile of the sample.
            let index = if exact { j * target } else { j * len / lines };
            if let Some(key) = usize::try_from(index).ok().and_then(|i| self.keys.get(i))
                && starts.last().is_none_or(|last| last < key)
            {
                starts.push(key.clone());
            }
        }
        let mut result = Vec::with_capacity(starts.len() + 1);
        let mut start = String::new();
        for next in &starts {
            result.push(PartLine::Range {
                start: std::mem::replace(&mut start, next.clone()),
                end: Some(next.clone()),
            });
        }
        result.push(PartLine::Range { start, end: None });
        let estimates = if exact {
            let mut bounds: Vec<u64> = vec![0];
            for next in &starts {
                bounds.push(self.keys.partition_point(|k| k < next) as u64);
            }
            bounds.push(self.seen);
            bounds.windows(2).map(|w| (w[1] - w[0]) as f64).collect()
        } else {
            vec![self.seen as f64 / result.len() as f64; result.len()]
        };
        Generated {
            lines: result,
            estimates,
            requests: 0,
            exact,
        }
    }
}

/// Offers the keys of one gzip-compressed CSV data file to `sample`.
pub fn read_csv_gz<R: Read>(
    data: R,
    manifest: &Manifest,
    file: &str,
    sample: &mut KeySample,
) -> Result<(), Error> {
    let columns = manifest.columns().map_err(Error::Usage)?;
    let decoder = flate2::read::MultiGzDecoder::new(BufReader::new(data));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(decoder);
    let bad = |row: u64, message: String| Error::Usage(format!("{file}: row {row}: {message}"));
    for (number, row) in reader.records().enumerate() {
        let number = number as u64 + 1;
        let row = row.map_err(|e| bad(number, e.to_string()))?;
        if row.len() != columns.count {
            return Err(bad(
                number,
                format!(
                    "{} fields, the schema has {} ({})",
                    row.len(),
                    columns.count,
                    manifest.file_schema
                ),
            ));
        }
        let flag = |column: Option<usize>| column.and_then(|c| row.get(c)).map(|v| v == "true");
        if flag(columns.is_latest) == Some(false) || flag(columns.is_delete_marker) == Some(true) {
            continue;
        }
        let raw = row.get(columns.key).unwrap_or_default();
        let key = url_decode(raw).map_err(|m| bad(number, format!("key {raw:?}: {m}")))?;
        sample.offer(key);
    }
    Ok(())
}

/// Offers the keys of one Parquet data file to `sample` (the current versions only,
/// when the report has the `is_latest` and `is_delete_marker` columns).
pub fn read_parquet<R: parquet::file::reader::ChunkReader + 'static>(
    data: R,
    file: &str,
    sample: &mut KeySample,
) -> Result<(), Error> {
    use parquet::file::reader::FileReader;
    use parquet::record::Field;
    let bad = |message: String| Error::Usage(format!("{file}: {message}"));
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(data)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| bad(format!("cannot read its rows: {e}")))?;
    for (number, row) in rows.enumerate() {
        let row = row.map_err(|e| bad(format!("row {}: {e}", number + 1)))?;
        let mut key = None;
        let mut current = true;
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("key", Field::Str(text)) => key = Some(text.clone()),
                ("is_latest", Field::Bool(false)) | ("is_delete_marker", Field::Bool(true)) => {
                    current = false;
                }
                _ => {}
            }
        }
        let key = key.ok_or_else(|| bad(format!("row {}: no key column", number + 1)))?;
        if current {
            sample.offer(key);
        }
    }
    Ok(())
}

/// Makes a part file from the S3 Inventory report whose `manifest.json` is at
/// `manifest` (an `s3://` URI, read through `client`, or a local path), for `bucket`.
pub async fn generate(
    client: &Client,
    manifest: &str,
    bucket: &str,
    target: u64,
) -> Result<Generated, Error> {
    let (text, location) = match parse_s3_uri(manifest) {
        Some((manifest_bucket, key)) => {
            let bytes = get(client, &manifest_bucket, &key).await?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::Usage(format!("{manifest}: not UTF-8")))?;
            (text, None)
        }
        None => {
            let path = PathBuf::from(manifest);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {manifest}"), e))?;
            (text, path.parent().map(Path::to_path_buf))
        }
    };
    let parsed = Manifest::parse(&text).map_err(|e| Error::Usage(format!("{manifest}: {e}")))?;
    if parsed.source_bucket != bucket {
        return Err(Error::Usage(format!(
            "{manifest} inventories s3://{}, not s3://{bucket}",
            parsed.source_bucket
        )));
    }
    let mut sample = KeySample::new(SAMPLE_KEYS);
    for file in &parsed.files {
        match &location {
            Some(dir) => {
                let name = file.key.rsplit('/').next().unwrap_or(&file.key);
                let path = dir.join(name);
                let data = std::fs::File::open(&path)
                    .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                read_data_file(data, &parsed, &path.display().to_string(), &mut sample)?;
            }
            None => {
                // Spooled to disk: a data file may be far larger than memory should hold.
                let spool = download(client, parsed.destination_bucket_name(), &file.key).await?;
                let uri = format!("s3://{}/{}", parsed.destination_bucket_name(), file.key);
                read_data_file(spool, &parsed, &uri, &mut sample)?;
            }
        }
    }
    Ok(sample.cut(target))
}

fn read_data_file(
    data: std::fs::File,
    manifest: &Manifest,
    file: &str,
    sample: &mut KeySample,
) -> Result<(), Error> {
    if manifest.is_parquet() {
        read_parquet(data, file, sample)
    } else {
        read_csv_gz(data, manifest, file, sample)
    }
}

async fn get(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    crate::s3::download_to(client, bucket, key, &mut bytes).await?;
    Ok(bytes)
}

async fn download(client: &Client, bucket: &str, key: &str) -> Result<std::fs::File, Error> {
    let mut spool = tempfile::tempfile().map_err(|e| Error::io("creating a spool file", e))?;
    crate::s3::download_to(client, bucket, key, &mut spool).await?;
    use std::io::Seek;
    spool
        .rewind()
        .map_err(|e| Error::io("reading a spool file", e))?;
    Ok(spool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"{"sourceBucket":"src","destinationBucket":"arn:aws:s3:::inv",
                "version":"2016-11-30","fileFormat":"CSV",
                "fileSchema":"Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size",
                "files":[{"key":"inv/src/cfg/data/a.csv.gz","size":1,"MD5checksum":"x"}]}"#,
        )
        .expect("manifest")
    }

    fn gz(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn csv_reports_give_the_current_keys_decoded() {
        let manifest = manifest();
        assert_eq!(manifest.destination_bucket_name(), "inv");
        let data = gz(concat!(
            "\"src\",\"a%2Fb\",\"v1\",\"true\",\"false\",\"3\"\n",
            "\"src\",\"old\",\"v0\",\"false\",\"false\",\"3\"\n",
            "\"src\",\"gone\",\"v2\",\"true\",\"true\",\"0\"\n",
            "\"src\",\"tab%09key+x\",\"v1\",\"true\",\"false\",\"3\"\n",
        ));
        let mut sample = KeySample::new(10);
        read_csv_gz(data.as_slice(), &manifest, "a.csv.gz", &mut sample).expect("read");
        assert_eq!(sample.seen(), 2);
        let generated = sample.cut(1);
        assert!(generated.exact);
        assert_eq!(
            generated.lines,
            [
                PartLine::Range {
                    start: String::new(),
                    end: Some("tab\tkey x".into())
                },
                PartLine::Range {
                    start: "tab\tkey x".into(),
                    end: None
                }
            ]
        );
        let bad = gz("\"src\",\"k\"\n");
        let error = read_csv_gz(
            bad.as_slice(),
            &manifest,
            "a.csv.gz",
            &mut KeySample::new(1),
        )
        .expect_err("short row");
        assert!(error.to_string().contains("a.csv.gz: row 1"), "{error}");
    }

    #[test]
    fn orc_reports_are_refused_clearly() {
        let error = Manifest::parse(
            r#"{"sourceBucket":"s","destinationBucket":"d","fileFormat":"ORC",
                "fileSchema":"struct<bucket:string,key:string>","files":[]}"#,
        )
        .expect_err("orc");
        assert!(error.contains("ORC is not supported"), "{error}");
    }

    /// A Parquet report as S3 Inventory writes one (Snappy), in memory.
    pub fn parquet_report(rows: &[(&str, bool, bool)]) -> Vec<u8> {
        use parquet::data_type::{BoolType, ByteArray, ByteArrayType};
        use std::sync::Arc;
        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(
                "message s3.inventory { required binary bucket (STRING); \
                 required binary key (STRING); optional boolean is_latest; \
                 optional boolean is_delete_marker; }",
            )
            .expect("schema"),
        );
        let properties = Arc::new(
            parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .build(),
        );
        let mut out = Vec::new();
        let mut writer =
            parquet::file::writer::SerializedFileWriter::new(&mut out, schema, properties)
                .expect("writer");
        let mut group = writer.next_row_group().expect("row group");
        let mut index = 0;
        while let Some(mut column) = group.next_column().expect("column") {
            match index {
                0 | 1 => {
                    let values: Vec<ByteArray> = rows
                        .iter()
                        .map(|(key, _, _)| ByteArray::from(if index == 0 { "src" } else { *key }))
                        .collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&values, None, None)
                        .expect("write");
                }
                _ => {
                    let values: Vec<bool> = rows
                        .iter()
                        .map(|(_, latest, deleted)| if index == 2 { *latest } else { *deleted })
                        .collect();
                    column
                        .typed::<BoolType>()
                        .write_batch(&values, Some(&vec![1; rows.len()]), None)
                        .expect("write");
                }
            }
            column.close().expect("close column");
            index += 1;
        }
        group.close().expect("close group");
        writer.close().expect("close");
        out
    }

    #[test]
    fn parquet_reports_give_the_current_keys() {
        let data = parquet_report(&[
            ("a/b", true, false),
            ("old", false, false),
            ("gone", true, true),
            ("tab\tkey x", true, false),
        ]);
        let mut sample = KeySample::new(10);
        read_parquet(bytes::Bytes::from(data), "a.parquet", &mut sample).expect("read");
        assert_eq!(sample.seen(), 2);
        let generated = sample.cut(1);
        assert_eq!(generated.lines.len(), 2);
        assert_eq!(generated.lines[1].span().0, "tab\tkey x");
        let error = read_parquet(
            bytes::Bytes::from_static(b"nope"),
            "x.parquet",
            &mut KeySample::new(1),
        )
        .expect_err("not parquet");
        assert!(
            error
                .to_string()
                .contains("x.parquet: not a readable Parquet file"),
            "{error}"
        );
    }

    #[test]
    fn a_sample_cuts_near_the_quantiles() {
        let mut sample = KeySample::new(20_000);
        for i in 0..200_000 {
            sample.offer(format!("{i:07}"));
        }
        let generated = sample.cut(10_000);
        assert!(!generated.exact);
        assert_eq!(generated.lines.len(), 20);
        let mut previous = 0;
        for line in &generated.lines[1..] {
            let PartLine::Range { start, .. } = line else {
                unreachable!()
            };
            let at: i64 = start.parse().expect("number");
            let size = at - previous;
            assert!((7_000..=13_000).contains(&size), "{size}");
            previous = at;
        }
    }
}
