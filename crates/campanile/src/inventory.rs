//! S3 Inventory reports, read as listings: a report's `manifest.json` names its data
//! files (`fileFormat` CSV: gzip-compressed CSV with the columns `fileSchema` names,
//! keys URL-encoded; `Parquet`: named columns, read with the `parquet` crate, Snappy or
//! gzip compressed), which list every object of the bucket without a single
//! ListObjectsV2 request. ORC reports are refused with a clear error.
//!
//! Two readers use them: `partfile --inventory` samples the keys to cut the key space
//! ([`crate::partfile::inventory`]), and `bucketlist --inventory` turns each current
//! object into a listing record, so that the report *is* the source listing of a run
//! (`rsync --inventory`). For the second, the report must hold `Size`, `ETag` and
//! `LastModifiedDate` (optional fields of an inventory configuration): the copy pins
//! and proves the ETag it lists.
//!
//! A versioned report (`IsLatest`, `IsDeleteMarker`) lists old versions and delete
//! markers, which are no objects to copy: only current versions are read.
//!
//! The input of `bucketlist --inventory` names one data file per line
//! ([`DataFile`]): `<format><TAB><location><TAB><fileSchema>`, the location an
//! `s3://bucket/key` URI or a local path, location and schema escaped as keys are.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::record::{escape_key, unescape_key};
use crate::s3::{Client, url_decode};
use crate::s3_url::parse_s3_uri;

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
    /// The columns: comma-separated names (`Bucket, Key, Size, …`) for CSV, a Parquet
    /// message type for Parquet.
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

/// How a data file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Gzip-compressed CSV, no header, keys URL-encoded.
    Csv,
    /// Parquet with S3 Inventory's column names.
    Parquet,
}

impl Format {
    /// The name a manifest gives the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Parquet => "Parquet",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("CSV") {
            Ok(Format::Csv)
        } else if text.eq_ignore_ascii_case("Parquet") {
            Ok(Format::Parquet)
        } else if text.eq_ignore_ascii_case("ORC") {
            Err(format!(
                "fileFormat {text:?}: only CSV and Parquet inventory reports are read (ORC is \
                 not supported)"
            ))
        } else {
            Err(format!("fileFormat {text:?} is not an S3 Inventory format"))
        }
    }
}

/// The inventory fields a listing record needs, as CSV schemas and Parquet columns
/// name them.
const LISTING_FIELDS: [(&str, &str); 3] = [
    ("Size", "size"),
    ("ETag", "e_tag"),
    ("LastModifiedDate", "last_modified_date"),
];

impl Manifest {
    /// Parses a manifest and checks that Campanile can read its data files.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Manifest = serde_json::from_str(text)
            .map_err(|e| format!("not an S3 Inventory manifest.json: {e}"))?;
        if manifest.format()? == Format::Csv {
            CsvColumns::of(&manifest.file_schema)?;
        }
        Ok(manifest)
    }

    /// The data files' format.
    pub fn format(&self) -> Result<Format, String> {
        Format::parse(&self.file_format)
    }

    /// The destination bucket's name.
    pub fn destination_bucket_name(&self) -> &str {
        self.destination_bucket
            .strip_prefix("arn:aws:s3:::")
            .unwrap_or(&self.destination_bucket)
    }

    /// Checks that the report can serve as a listing: it holds the size, ETag and last
    /// modified time of each object.
    pub fn check_listing_fields(&self) -> Result<(), String> {
        let missing: Vec<&str> = match self.format()? {
            Format::Csv => {
                let columns = CsvColumns::of(&self.file_schema)?;
                LISTING_FIELDS
                    .iter()
                    .zip([columns.size, columns.etag, columns.last_modified])
                    .filter(|(_, column)| column.is_none())
                    .map(|((name, _), _)| *name)
                    .collect()
            }
            Format::Parquet => LISTING_FIELDS
                .iter()
                .filter(|(_, column)| !parquet_schema_has(&self.file_schema, column))
                .map(|(name, _)| *name)
                .collect(),
        };
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the report has no {} of its objects (fileSchema {:?}): add {} to the inventory \
             configuration's optional fields, or give a part file instead",
            missing.join(", "),
            self.file_schema,
            missing.join(", ")
        ))
    }

    /// The data files as lines of `bucketlist --inventory`'s input: in the report's
    /// destination bucket, or, for a manifest read from the local `directory`, beside it
    /// (by file name).
    pub fn data_files(&self, directory: Option<&Path>) -> Result<Vec<DataFile>, String> {
        let format = self.format()?;
        Ok(self
            .files
            .iter()
            .map(|file| DataFile {
                format,
                location: match directory {
                    Some(dir) => {
                        let name = file.key.rsplit('/').next().unwrap_or(&file.key);
                        dir.join(name).display().to_string()
                    }
                    None => format!("s3://{}/{}", self.destination_bucket_name(), file.key),
                },
                schema: self.file_schema.clone(),
            })
            .collect())
    }
}

/// True when a Parquet message type (as a manifest gives it) declares `column`.
fn parquet_schema_has(schema: &str, column: &str) -> bool {
    schema
        .split([';', '{', '}'])
        .any(|declaration| declaration.split_whitespace().nth(2) == Some(column))
}

/// Column numbers of a CSV report's fields.
#[derive(Debug, Clone, Copy)]
struct CsvColumns {
    bucket: Option<usize>,
    key: usize,
    size: Option<usize>,
    etag: Option<usize>,
    last_modified: Option<usize>,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
    count: usize,
}

impl CsvColumns {
    fn of(schema: &str) -> Result<Self, String> {
        let names: Vec<&str> = schema.split(',').map(str::trim).collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        Ok(CsvColumns {
            bucket: find("Bucket"),
            key: find("Key").ok_or_else(|| format!("fileSchema {schema:?} has no Key column"))?,
            size: find("Size"),
            etag: find("ETag"),
            last_modified: find("LastModifiedDate"),
            is_latest: find("IsLatest"),
            is_delete_marker: find("IsDeleteMarker"),
            count: names.len(),
        })
    }
}

/// One current object of a report, with what the report says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryObject {
    /// The bucket, when the report names it.
    pub bucket: Option<String>,
    /// The key, decoded.
    pub key: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// ETag, without quotes.
    pub etag: Option<String>,
    /// Last modified, seconds since the epoch.
    pub last_modified: Option<i64>,
}

/// One data file of a report, as a line of `bucketlist --inventory`'s input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Its format.
    pub format: Format,
    /// `s3://bucket/key`, or a local path.
    pub location: String,
    /// The manifest's `fileSchema`.
    pub schema: String,
}

impl DataFile {
    /// Parses a line: `Ok(None)` for blank lines and `#` comments.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        if text.trim().is_empty() || text.starts_with('#') {
            return Ok(None);
        }
        let fields: Vec<&str> = text.split('\t').collect();
        let [format, location, schema] = fields[..] else {
            return Err(format!(
                "expected `<format><TAB><location><TAB><fileSchema>` (3 TAB-separated \
                 fields), found {}",
                fields.len()
            ));
        };
        let format = Format::parse(format).map_err(|e| format!("field 1 (format): {e}"))?;
        let location = unescape_key(location).map_err(|e| format!("field 2 (location) {e}"))?;
        if location.is_empty() {
            return Err("field 2 (location) is empty".into());
        }
        let schema = unescape_key(schema).map_err(|e| format!("field 3 (fileSchema) {e}"))?;
        if format == Format::Csv {
            CsvColumns::of(&schema).map_err(|e| format!("field 3 (fileSchema): {e}"))?;
        }
        Ok(Some(DataFile {
            format,
            location,
            schema,
        }))
    }

    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        format!(
            "{}\t{}\t{}",
            self.format.as_str(),
            escape_key(&self.location),
            escape_key(&self.schema)
        )
    }

    /// Opens the data file: a local file, or an `s3://` one spooled to a temporary
    /// file through `client` (a data file may be far larger than memory should hold).
    pub async fn open(&self, client: &Client) -> Result<std::fs::File, Error> {
        match parse_s3_uri(&self.location) {
            Some((bucket, key)) => download(client, &bucket, &key).await,
            None => std::fs::File::open(&self.location)
                .map_err(|e| Error::io(format!("reading {}", self.location), e)),
        }
    }

    /// Offers each current object of the (opened) data file to `each`, in the file's
    /// order; returns how many there were.
    pub fn read(
        &self,
        data: std::fs::File,
        each: impl FnMut(InventoryObject) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        match self.format {
            Format::Csv => read_csv_gz(data, &self.schema, &self.location, each),
            Format::Parquet => read_parquet(data, &self.location, each),
        }
    }
}

/// Reads a manifest from an `s3://` URI (through `client`) or a local path; returns
/// it with the directory of a local one (where its data files are).
pub async fn load_manifest(
    client: &Client,
    manifest: &str,
) -> Result<(Manifest, Option<PathBuf>), Error> {
    let (text, directory) = match parse_s3_uri(manifest) {
        Some((bucket, key)) => {
            let mut bytes = Vec::new();
            crate::s3::download_to(client, &bucket, &key, &mut bytes).await?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::Usage(format!("{manifest}: not UTF-8")))?;
            (text, None)
        }
        None => {
            let path = PathBuf::from(manifest);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {manifest}"), e))?;
            let directory = std::path::absolute(&path)
                .map_err(|e| Error::io(format!("resolving {manifest}"), e))?
                .parent()
                .map(Path::to_path_buf);
            (text, directory)
        }
    };
    let parsed = Manifest::parse(&text).map_err(|e| Error::Usage(format!("{manifest}: {e}")))?;
    Ok((parsed, directory))
}

/// Checks that `manifest` inventories `bucket`.
pub fn check_source(manifest: &Manifest, name: &str, bucket: &str) -> Result<(), Error> {
    if manifest.source_bucket == bucket {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{name} inventories s3://{}, not s3://{bucket}",
        manifest.source_bucket
    )))
}

/// Offers each current object of a gzip-compressed CSV data file to `each`.
pub fn read_csv_gz<R: Read>(
    data: R,
    schema: &str,
    file: &str,
    mut each: impl FnMut(InventoryObject) -> Result<(), Error>,
) -> Result<u64, Error> {
    let columns = CsvColumns::of(schema).map_err(Error::Usage)?;
    let decoder = flate2::read::MultiGzDecoder::new(BufReader::new(data));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(decoder);
    let bad = |row: u64, message: String| Error::Usage(format!("{file}: row {row}: {message}"));
    let mut objects = 0;
    for (number, row) in reader.records().enumerate() {
        let number = number as u64 + 1;
        let row = row.map_err(|e| bad(number, e.to_string()))?;
        if row.len() != columns.count {
            return Err(bad(
                number,
                format!(
                    "{} fields, the schema has {} ({schema})",
                    row.len(),
                    columns.count
                ),
            ));
        }
        let text =
            |column: Option<usize>| column.and_then(|c| row.get(c)).filter(|v| !v.is_empty());
        if text(columns.is_latest) == Some("false")
            || text(columns.is_delete_marker) == Some("true")
        {
            continue;
        }
        let raw = row.get(columns.key).unwrap_or_default();
        let key = url_decode(raw).map_err(|m| bad(number, format!("Key {raw:?}: {m}")))?;
        let size = text(columns.size)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(number, format!("Size {v:?} is not a number")))
            })
            .transpose()?;
        let last_modified = text(columns.last_modified)
            .map(|v| {
                time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                    .map(|t| t.unix_timestamp())
                    .map_err(|e| bad(number, format!("LastModifiedDate {v:?}: {e}")))
            })
            .transpose()?;
        each(InventoryObject {
            bucket: text(columns.bucket).map(str::to_string),
            key,
            size,
            etag: text(columns.etag).map(|v| v.trim_matches('"').to_string()),
            last_modified,
        })?;
        objects += 1;
    }
    Ok(objects)
}

/// Offers each current object of a Parquet data file to `each` (the current versions
/// only, when the report has the `is_latest` and `is_delete_marker` columns).
pub fn read_parquet<R: parquet::file::reader::ChunkReader + 'static>(
    data: R,
    file: &str,
    mut each: impl FnMut(InventoryObject) -> Result<(), Error>,
) -> Result<u64, Error> {
    use parquet::file::reader::FileReader;
    use parquet::record::Field;
    let bad = |message: String| Error::Usage(format!("{file}: {message}"));
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(data)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| bad(format!("cannot read its rows: {e}")))?;
    let mut objects = 0;
    for (number, row) in rows.enumerate() {
        let number = number + 1;
        let row = row.map_err(|e| bad(format!("row {number}: {e}")))?;
        let mut object = InventoryObject {
            bucket: None,
            key: String::new(),
            size: None,
            etag: None,
            last_modified: None,
        };
        let mut has_key = false;
        let mut current = true;
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("bucket", Field::Str(text)) => object.bucket = Some(text.clone()),
                ("key", Field::Str(text)) => {
                    object.key = text.clone();
                    has_key = true;
                }
                ("size", Field::Long(size)) => {
                    object.size = Some(u64::try_from(*size).map_err(|_| {
                        bad(format!("row {number}: size {size} is not a byte count"))
                    })?);
                }
                ("e_tag", Field::Str(text)) => {
                    object.etag = Some(text.trim_matches('"').to_string());
                }
                ("last_modified_date", Field::TimestampMillis(ms) | Field::Long(ms)) => {
                    object.last_modified = Some(ms.div_euclid(1000));
                }
                ("last_modified_date", Field::TimestampMicros(us)) => {
                    object.last_modified = Some(us.div_euclid(1_000_000));
                }
                ("is_latest", Field::Bool(false)) | ("is_delete_marker", Field::Bool(true)) => {
                    current = false;
                }
                _ => {}
            }
        }
        if !has_key {
            return Err(bad(format!("row {number}: no key column")));
        }
        if current {
            each(object)?;
            objects += 1;
        }
    }
    Ok(objects)
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
pub(crate) mod tests;
