//! `campanile index`: the index job's front half in the library. Each bucket (or
//! prefix) is one run of the index plan ([`crate::plan::index`]), one after the other,
//! on the runner asked; a local run ends here ([`execute`], called by the local
//! runner) with the index's own summary instead of a copy's, and its rows
//! ([`IndexRow`], TSV) are then gathered from every run into one table ([`run`]), the
//! buckets in the order given and each bucket's rows by key ([`write_table`]):
//! CSV (RFC 4180, a header line, keys quoted when they need it), Parquet (typed
//! columns: `size` INT64, `last_modified` a UTC timestamp in milliseconds) or the
//! rows themselves (TSV). On a cluster the rows are written to the job output under
//! `--output` (one `<part file>.<uuid>` directory per bucket) and the runner copies
//! them back ([`RsyncRequest::index_rows`]: `hadoop fs -text` on a Hadoop cluster, the
//! part files' GETs from S3 after an EMR run with `--wait`), so the table is the same
//! on every runner; an EMR run that does not wait leaves them there.
//!
//! A dry run lists (no HEAD) and prints the keys the run would index, then their
//! count, bytes and the HEADs the run would make.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, S3ResultExt};
use crate::plan::local::{StepReport, report_json};
use crate::plan::{Job, part_file_name};
use crate::record::{ListingRecord, mtime_seconds};
use crate::rsync::local::{LocalRequest, Prepared};
use crate::rsync::{GENERATED_PART_FILE, INVENTORY_FILES, RsyncRequest, Runner};
use crate::task::objectindex::{HEADS, IndexRow, SSE_C_WITHOUT_KEY};

/// The table a run of `campanile index` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    /// RFC 4180 CSV with a header line.
    Csv,
    /// Apache Parquet, typed columns, Snappy-compressed.
    Parquet,
    /// The index rows as the runner wrote them (docs/records.md), no header.
    Tsv,
}

impl TableFormat {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
            TableFormat::Parquet => "parquet",
            TableFormat::Tsv => "tsv",
        }
    }
}

/// Where the table goes and in which form.
#[derive(Debug, Clone)]
pub struct TableRequest {
    /// The form.
    pub format: TableFormat,
    /// A local path, an `s3://bucket/key` (uploaded with the first bucket's endpoint
    /// and profile), or `None` for stdout (CSV and TSV only).
    pub to: Option<String>,
}

/// The columns of the table, in order (CSV header, Parquet schema).
pub const COLUMNS: [&str; 9] = [
    "bucket",
    "key",
    "size",
    "etag",
    "last_modified",
    "storage_class",
    "encryption",
    "kms_key_id",
    "checksum_algorithm",
];

/// The Parquet schema of the table.
const PARQUET_SCHEMA: &str = "message campanile_index {
  REQUIRED BYTE_ARRAY bucket (UTF8);
  REQUIRED BYTE_ARRAY key (UTF8);
  REQUIRED INT64 size;
  REQUIRED BYTE_ARRAY etag (UTF8);
  REQUIRED INT64 last_modified (TIMESTAMP(MILLIS,true));
  OPTIONAL BYTE_ARRAY storage_class (UTF8);
  OPTIONAL BYTE_ARRAY encryption (UTF8);
  OPTIONAL BYTE_ARRAY kms_key_id (UTF8);
  OPTIONAL BYTE_ARRAY checksum_algorithm (UTF8);
}";

/// Rows per Parquet row group: the rows of a group are held in memory until written.
const ROW_GROUP_ROWS: usize = 65_536;

/// Writes index rows as a table, one row at a time.
pub struct TableWriter<W: Write + Send> {
    inner: Inner<W>,
    rows: u64,
}

enum Inner<W: Write + Send> {
    Csv(Box<csv::Writer<W>>),
    Tsv(W),
    Parquet {
        writer: Box<parquet::file::writer::SerializedFileWriter<W>>,
        pending: Vec<IndexRow>,
    },
}

fn parquet_error(e: parquet::errors::ParquetError) -> Error {
    Error::Internal(format!("writing the Parquet table: {e}"))
}

fn csv_error(e: csv::Error) -> Error {
    Error::io(
        "writing the CSV table",
        std::io::Error::other(e.to_string()),
    )
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) as RFC 3339, `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(mtime: &str) -> String {
    format!("{}Z", mtime.replacen(' ', "T", 1))
}

impl<W: Write + Send> TableWriter<W> {
    /// A table in `format` written to `out` (the CSV header at once).
    pub fn new(format: TableFormat, out: W) -> Result<Self, Error> {
        let inner = match format {
            TableFormat::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out);
                writer.write_record(COLUMNS).map_err(csv_error)?;
                Inner::Csv(Box::new(writer))
            }
            TableFormat::Tsv => Inner::Tsv(out),
            TableFormat::Parquet => {
                let schema = parquet::schema::parser::parse_message_type(PARQUET_SCHEMA)
                    .map_err(parquet_error)?;
                let properties = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .set_created_by(format!("campanile {}", env!("CARGO_PKG_VERSION")))
                    .build();
                let writer = parquet::file::writer::SerializedFileWriter::new(
                    out,
                    Arc::new(schema),
                    Arc::new(properties),
                )
                .map_err(parquet_error)?;
                Inner::Parquet {
                    writer: Box::new(writer),
                    pending: Vec::new(),
                }
            }
        };
        Ok(TableWriter { inner, rows: 0 })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds a row.
    pub fn push(&mut self, row: IndexRow) -> Result<(), Error> {
        self.rows += 1;
        match &mut self.inner {
            Inner::Csv(writer) => {
                let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                writer
                    .write_record([
                        row.bucket.clone(),
                        row.key.clone(),
                        row.size.to_string(),
                        row.etag.clone(),
                        rfc3339(&row.mtime),
                        opt(&row.storage_class),
                        opt(&row.encryption),
                        opt(&row.kms_key_id),
                        opt(&row.checksum_algorithm),
                    ])
                    .map_err(csv_error)
            }
            Inner::Tsv(out) => writeln!(out, "{}", row.to_line())
                .map_err(|e| Error::io("writing the TSV table", e)),
            Inner::Parquet { writer, pending } => {
                pending.push(row);
                if pending.len() >= ROW_GROUP_ROWS {
                    write_row_group(writer, pending)?;
                }
                Ok(())
            }
        }
    }

    /// Writes what is pending and the format's end (Parquet's footer); returns the
    /// writer.
    pub fn finish(self) -> Result<W, Error> {
        match self.inner {
            Inner::Csv(writer) => writer.into_inner().map_err(|e| {
                Error::io(
                    "writing the CSV table",
                    std::io::Error::other(e.to_string()),
                )
            }),
            Inner::Tsv(mut out) => {
                out.flush()
                    .map_err(|e| Error::io("writing the TSV table", e))?;
                Ok(out)
            }
            Inner::Parquet {
                mut writer,
                mut pending,
            } => {
                if !pending.is_empty() {
                    write_row_group(&mut writer, &mut pending)?;
                }
                writer.into_inner().map_err(parquet_error)
            }
        }
    }
}

/// Writes `rows` as one row group, column by column, and empties it.
fn write_row_group<W: Write + Send>(
    writer: &mut parquet::file::writer::SerializedFileWriter<W>,
    rows: &mut Vec<IndexRow>,
) -> Result<(), Error> {
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    let text = |f: fn(&IndexRow) -> &str| -> Vec<ByteArray> {
        rows.iter().map(|r| ByteArray::from(f(r))).collect()
    };
    let optional = |f: fn(&IndexRow) -> &Option<String>| -> (Vec<ByteArray>, Vec<i16>) {
        let values = rows
            .iter()
            .filter_map(|r| f(r).as_deref().map(ByteArray::from))
            .collect();
        let levels = rows.iter().map(|r| i16::from(f(r).is_some())).collect();
        (values, levels)
    };
    let mut group = writer.next_row_group().map_err(parquet_error)?;
    let mut index = 0;
    while let Some(mut column) = group.next_column().map_err(parquet_error)? {
        let written = match index {
            0 => column
                .typed::<ByteArrayType>()
                .write_batch(&text(|r| &r.bucket), None, None),
            1 => column
                .typed::<ByteArrayType>()
                .write_batch(&text(|r| &r.key), None, None),
            2 => {
                let sizes: Vec<i64> = rows
                    .iter()
                    .map(|r| i64::try_from(r.size).unwrap_or(i64::MAX))
                    .collect();
                column.typed::<Int64Type>().write_batch(&sizes, None, None)
            }
            3 => column
                .typed::<ByteArrayType>()
                .write_batch(&text(|r| &r.etag), None, None),
            4 => {
                // Every row was checked when read: an mtime that is not a time is
                // refused there.
                let millis: Vec<i64> = rows
                    .iter()
                    .map(|r| mtime_seconds(&r.mtime).unwrap_or(0) * 1000)
                    .collect();
                column.typed::<Int64Type>().write_batch(&millis, None, None)
            }
            _ => {
                let (values, levels) = match index {
                    5 => optional(|r| &r.storage_class),
                    6 => optional(|r| &r.encryption),
                    7 => optional(|r| &r.kms_key_id),
                    _ => optional(|r| &r.checksum_algorithm),
                };
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(&levels), None)
            }
        };
        written.map_err(parquet_error)?;
        column.close().map_err(parquet_error)?;
        index += 1;
    }
    group.close().map_err(parquet_error)?;
    rows.clear();
    Ok(())
}

/// Reads the index rows of a job output (a directory of part files, gzip or not, or
/// one file), in part-file order; skip rows are left out.
pub fn read_rows(
    dir: &Path,
    mut each: impl FnMut(IndexRow) -> Result<(), Error>,
) -> Result<u64, Error> {
    let mut rows = 0;
    for file in crate::hadoop_input::input_files(dir)? {
        let context = || format!("reading {}", file.display());
        let opened = std::fs::File::open(&file).map_err(|e| Error::io(context(), e))?;
        let reader: Box<dyn Read> = if file.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(opened))
        } else {
            Box::new(opened)
        };
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        let mut number = 0u64;
        while crate::hadoop_input::read_line(&mut reader, &mut line)
            .map_err(|e| Error::io(context(), e))?
            > 0
        {
            number += 1;
            let text = std::str::from_utf8(&line).map_err(|_| Error::Input {
                line: number,
                message: format!("{}: not UTF-8", file.display()),
            })?;
            if text.is_empty() || crate::skip::is_row(text) {
                continue;
            }
            let row = IndexRow::parse(text).map_err(|e| Error::Input {
                line: number,
                message: format!("{}: {e}", file.display()),
            })?;
            each(row)?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// What an index run did, from its steps' counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexSummary {
    /// The bucket indexed.
    pub bucket: String,
    /// Objects the listing wrote (after its filters).
    pub listed: u64,
    /// Objects the listing's filters left out (prefix globs, sizes, dates).
    pub filtered_by_listing: u64,
    /// Keys `--key-regex` left out.
    pub filtered_by_regex: u64,
    /// Rows written.
    pub objects: u64,
    /// Bytes of the objects indexed.
    pub bytes: u64,
    /// HEADs made.
    pub heads: u64,
    /// Objects gone between the listing and their HEAD (no row).
    pub vanished: u64,
    /// Objects changed between the listing and their HEAD (the row is the HEAD's).
    pub changed: u64,
    /// SSE-C objects HEADed without their key (storage class and checksum NULL).
    pub sse_c_without_key: u64,
    /// Attempts that failed and were retried.
    pub failed_attempts: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

fn counter(step: &StepReport, name: &str) -> u64 {
    let total: i64 = step
        .counters
        .iter()
        .filter(|((_, counter), _)| counter == name)
        .map(|(_, value)| *value)
        .sum();
    u64::try_from(total).unwrap_or(0)
}

impl IndexSummary {
    /// The summary of `steps` (the listing and the index step) of `bucket`'s run.
    pub fn from_steps(steps: &[StepReport], bucket: &str, seconds: f64) -> IndexSummary {
        let kind = format!("{}.", crate::plan::index::STEP_KIND);
        let (index, listing): (Vec<&StepReport>, Vec<&StepReport>) =
            steps.iter().partition(|s| s.name.starts_with(&kind));
        let sum = |steps: &[&StepReport], name: &str| -> u64 {
            steps.iter().map(|s| counter(s, name)).sum()
        };
        use crate::reporter::counters;
        IndexSummary {
            bucket: bucket.to_string(),
            listed: sum(&listing, counters::OBJECTS),
            filtered_by_listing: sum(&listing, counters::FILTERED),
            filtered_by_regex: sum(&index, counters::FILTERED),
            objects: sum(&index, counters::OBJECTS),
            bytes: sum(&index, counters::BYTES),
            heads: sum(&index, HEADS),
            vanished: sum(&index, counters::SOURCE_VANISHED),
            changed: sum(&index, counters::SOURCE_CHANGED),
            sse_c_without_key: sum(&index, SSE_C_WITHOUT_KEY),
            failed_attempts: steps.iter().map(|s| s.failed_attempts as u64).sum(),
            seconds,
        }
    }

    /// The human summary (stderr).
    pub fn write_human<E: Write>(&self, err: &mut E) -> std::io::Result<()> {
        writeln!(
            err,
            "Indexed s3://{}: {} objects, {} bytes, {} HEADs in {:.1}s",
            self.bucket, self.objects, self.bytes, self.heads, self.seconds
        )?;
        writeln!(
            err,
            "  listed {}; left out by the filters {}, by --key-regex {}",
            self.listed, self.filtered_by_listing, self.filtered_by_regex
        )?;
        if self.vanished + self.changed + self.sse_c_without_key + self.failed_attempts > 0 {
            writeln!(
                err,
                "  gone since the listing {}, changed since (indexed as they are now) {}, \
                 SSE-C without the key {}, task attempts retried {}",
                self.vanished, self.changed, self.sse_c_without_key, self.failed_attempts
            )?;
        }
        Ok(())
    }

    /// The `--json` line: `{"index_summary":{…}}`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "index_summary": self })
    }
}

/// The local runner's end of an index run (instead of a copy's): runs the plan, then
/// prints the index summary; a dry run prints the keys the run would index instead.
pub(crate) async fn execute<W: Write, E: Write>(
    request: &RsyncRequest,
    local: &LocalRequest,
    prepared: Prepared,
    started: std::time::Instant,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    let Prepared {
        options,
        plan,
        run_dir,
        made,
        s3_output,
        io_client,
        ..
    } = prepared;
    let (finished, ran) = crate::rsync::local::run_plan_blocking(&plan, local).await?;
    crate::rsync::unfinished::remove_attempt_files(&run_dir);
    if local.json {
        if let Some(made) = &made {
            writeln!(
                out,
                "{}",
                crate::rsync::local::part_file_json(made, &options.input)
            )
            .map_err(io)?;
        }
        for report in &finished {
            writeln!(out, "{}", report_json(report)).map_err(io)?;
        }
    }
    ran?;
    if request.dry_run {
        return dry_run(&options, &plan, local, out, err);
    }
    if let (Some(uri), Some(client), Some(rows)) = (&s3_output, &io_client, &plan.output) {
        crate::rsync::local::upload_output(client, Path::new(rows), uri).await?;
    }
    let summary = IndexSummary::from_steps(
        &finished,
        &options.src_bucket,
        started.elapsed().as_secs_f64(),
    );
    if !local.quiet {
        summary
            .write_human(err)
            .map_err(|e| Error::io("writing stderr", e))?;
    }
    if local.json {
        writeln!(out, "{}", summary.json()).map_err(io)?;
    }
    out.flush().map_err(io)
}

/// The end of an index run on a cluster (EMR with `--wait`, `--hadoop`): the index
/// summary from the steps' counters instead of a copy's (the rows were copied back
/// for the table before it, when asked).
pub(crate) fn print_cluster_summary<W: Write, E: Write>(
    reports: &[StepReport],
    options: &crate::plan::PlanOptions,
    seconds: f64,
    json: bool,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let summary = IndexSummary::from_steps(reports, &options.src_bucket, seconds);
    summary
        .write_human(err)
        .map_err(|e| Error::io("writing stderr", e))?;
    if json {
        writeln!(out, "{}", summary.json()).map_err(|e| Error::io("writing stdout", e))?;
    }
    Ok(())
}

/// What a dry run says of one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexDryRun {
    /// The bucket.
    pub bucket: String,
    /// Keys the run would index.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// HEADs the run would make (one per object; none with `--no-head`).
    pub heads: u64,
    /// Keys `--key-regex` would leave out.
    pub filtered_by_regex: u64,
}

/// Prints the keys the listing found that the run would index, and the totals.
fn dry_run<W: Write, E: Write>(
    options: &crate::plan::PlanOptions,
    plan: &crate::plan::Plan,
    local: &LocalRequest,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let io = |e| Error::io("writing stdout", e);
    let Job::Index(job) = &options.job else {
        return Err(Error::Internal("an index dry run of another job".into()));
    };
    let listing = crate::rsync::report::rows_directory(plan)
        .ok_or_else(|| Error::Internal("an index plan without its listing".into()))?;
    let bucket = &options.src_bucket;
    let mut totals = IndexDryRun {
        bucket: bucket.clone(),
        ..Default::default()
    };
    for file in crate::hadoop_input::input_files(Path::new(listing))? {
        let context = || format!("reading {}", file.display());
        let mut reader =
            BufReader::new(std::fs::File::open(&file).map_err(|e| Error::io(context(), e))?);
        let mut line = Vec::new();
        while crate::hadoop_input::read_line(&mut reader, &mut line)
            .map_err(|e| Error::io(context(), e))?
            > 0
        {
            let text = String::from_utf8_lossy(&line);
            if text.is_empty() || crate::skip::is_row(&text) {
                continue;
            }
            let record = ListingRecord::parse(&text)
                .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
            if job
                .key_regex
                .as_ref()
                .is_some_and(|regex| !regex.is_match(&record.key))
            {
                totals.filtered_by_regex += 1;
                continue;
            }
            totals.objects += 1;
            totals.bytes += record.size;
            let printed = if local.json {
                serde_json::json!({"action": "index", "bucket": bucket, "key": record.key,
                    "size": record.size, "etag": record.etag})
                .to_string()
            } else {
                format!("(dryrun) index: s3://{bucket}/{}", record.key)
            };
            writeln!(out, "{printed}").map_err(io)?;
        }
    }
    totals.heads = if job.no_head { 0 } else { totals.objects };
    if !local.quiet {
        writeln!(
            err,
            "Dry run: would index {} objects ({} bytes) of s3://{bucket} with {} HEADs; \
             --key-regex would leave out {}; nothing was HEADed, nothing written to a bucket",
            totals.objects, totals.bytes, totals.heads, totals.filtered_by_regex
        )
        .map_err(|e| Error::io("writing stderr", e))?;
    }
    if local.json {
        writeln!(out, "{}", serde_json::json!({ "index_dry_run": totals })).map_err(io)?;
    }
    out.flush().map_err(io)
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .map_err(|e| Error::io("reading the current directory", e))
}

/// Where a local run of `request` leaves its index rows: the job output,
/// `<output>/<part file>.<uuid>`, or with an S3 `--output` its local copy in the run
/// directory (as [`crate::rsync::local`] lays them out).
pub fn local_rows_dir(request: &RsyncRequest, local: &LocalRequest) -> Result<PathBuf, Error> {
    let options = &request.plan;
    let run_dir = absolute(&local.run_base)?.join(&options.uuid);
    let part_file = if request.inventory.is_some() {
        INVENTORY_FILES
    } else if options.input.is_empty() {
        GENERATED_PART_FILE
    } else {
        part_file_name(&options.input)
    };
    let name = format!("{part_file}.{}", options.uuid);
    if options.output.starts_with("s3://") {
        return Ok(run_dir.join("output").join(name));
    }
    Ok(absolute(Path::new(&options.output))?.join(name))
}

/// Runs `requests` (one index plan per bucket) one after the other, then, for local
/// runs that are not dry runs, writes their rows as one table. Each run's own lines go
/// to `out` (or to `err` when a table goes to stdout).
pub async fn run<W: Write, E: Write>(
    requests: &[RsyncRequest],
    table: &TableRequest,
    out: &mut W,
    err: &mut E,
) -> Result<(), Error> {
    let mut rows = Vec::new();
    // Where the rows of cluster runs are copied to, until the table is written.
    let copies = tempfile::tempdir().map_err(|e| Error::io("creating a temporary directory", e))?;
    // A table is written only after runs that leave rows to read.
    let table_on_stdout = table.to.is_none() && requests.iter().any(makes_rows);
    for (number, request) in requests.iter().enumerate() {
        let mut request = request.clone();
        let cluster_rows = copies.path().join(number.to_string());
        if makes_rows(&request) && !matches!(request.runner, Runner::Local(_)) {
            std::fs::create_dir(&cluster_rows)
                .map_err(|e| Error::io(format!("creating {}", cluster_rows.display()), e))?;
            request.index_rows = Some(cluster_rows.clone());
        }
        if table_on_stdout {
            // The table goes to stdout: the runs speak on stderr.
            let mut said = Vec::new();
            let ran = crate::rsync::run(&request, &mut said, err).await;
            err.write_all(&said)
                .map_err(|e| Error::io("writing stderr", e))?;
            ran?;
        } else {
            crate::rsync::run(&request, out, err).await?;
        }
        match &request.runner {
            Runner::Local(local) if !request.dry_run => rows.push(local_rows_dir(&request, local)?),
            _ if request.index_rows.is_some() => rows.push(cluster_rows),
            _ => {}
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    match &table.to {
        None => {
            let stdout = std::io::BufWriter::new(std::io::stdout());
            let written = write_table(&rows, table.format, stdout)?;
            let _ = writeln!(
                err,
                "Index: {written} rows ({}) on stdout",
                table.format.name()
            );
            Ok(())
        }
        Some(to) if to.starts_with("s3://") => {
            let (bucket, key) = crate::s3_url::parse_s3_uri(to)
                .filter(|(_, key)| !key.is_empty() && !key.ends_with('/'))
                .ok_or_else(|| Error::Usage(format!("--to {to:?} names no object")))?;
            let staged = tempfile::NamedTempFile::new()
                .map_err(|e| Error::io("creating a temporary file", e))?;
            let file = staged
                .reopen()
                .map_err(|e| Error::io("opening a temporary file", e))?;
            let written = write_table(&rows, table.format, std::io::BufWriter::new(file))?;
            let first = &requests[0];
            let options = crate::rsync::resolve_endpoints(first).await?;
            let client = crate::s3::client(&crate::s3::ClientOptions {
                endpoint: Some(options.src_endpoint.clone()),
                profile: options.src_profile.clone(),
                region: first.region.clone(),
                ..Default::default()
            })
            .await?;
            let body = aws_sdk_s3::primitives::ByteStream::from_path(staged.path())
                .await
                .map_err(|e| {
                    Error::io(
                        "reading the staged table",
                        std::io::Error::other(e.to_string()),
                    )
                })?;
            client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .context("PutObject", &bucket, &key)?;
            let _ = writeln!(
                err,
                "Index: {written} rows ({}) in {to}",
                table.format.name()
            );
            Ok(())
        }
        Some(to) => {
            let path = Path::new(to);
            let partial = path.with_file_name(format!(
                ".{}.partial",
                path.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ));
            let file = std::fs::File::create(&partial)
                .map_err(|e| Error::io(format!("creating {}", partial.display()), e))?;
            let written = write_table(&rows, table.format, std::io::BufWriter::new(file))?;
            // Whole or not at all: a reader never finds half a table under the name.
            std::fs::rename(&partial, path).map_err(|e| Error::io(format!("writing {to}"), e))?;
            let _ = writeln!(
                err,
                "Index: {written} rows ({}) in {to}",
                table.format.name()
            );
            Ok(())
        }
    }
}

/// Whether a run of `request` leaves rows for the table: not a dry run, and not an EMR
/// submission that does not wait for its steps.
fn makes_rows(request: &RsyncRequest) -> bool {
    !request.dry_run
        && match &request.runner {
            Runner::Local(_) | Runner::Hadoop(_) => true,
            Runner::Emr(emr) => emr.wait.is_some(),
        }
}

/// Bytes of rows the table's sort holds in memory before it spills to disk.
const SORT_MEMORY: usize = 64 << 20;

/// Writes the rows of the job outputs `dirs` as one table, the rows of each output
/// together in the order of `dirs`, each output's by key (bytewise, as S3 lists them:
/// the runner's rows come in the order of its tasks); returns the number of rows.
/// The sort is the local runner's external sort: memory stays bounded.
pub fn write_table<W: Write + Send>(
    dirs: &[PathBuf],
    format: TableFormat,
    out: W,
) -> Result<u64, Error> {
    let spill = tempfile::tempdir().map_err(|e| Error::io("creating a sort directory", e))?;
    let mut sorter = crate::plan::local::sort::ExternalSorter::new(SORT_MEMORY, spill.path());
    for (number, dir) in dirs.iter().enumerate() {
        let prefix = u32::try_from(number).unwrap_or(u32::MAX).to_be_bytes();
        read_rows(dir, |row| {
            let mut key = prefix.to_vec();
            key.extend_from_slice(row.key.as_bytes());
            sorter.push(&key, row.to_line().as_bytes())
        })?;
    }
    let mut table = TableWriter::new(format, out)?;
    for record in sorter.finish()? {
        let (_, line) = record?;
        let text = String::from_utf8(line)
            .map_err(|_| Error::Internal("a sorted index row is not UTF-8".into()))?;
        let row = IndexRow::parse(&text)
            .map_err(|e| Error::Internal(format!("a sorted index row: {e}")))?;
        table.push(row)?;
    }
    let rows = table.rows();
    let mut out = table.finish()?;
    out.flush().map_err(|e| Error::io("writing the table", e))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<IndexRow> {
        vec![
            IndexRow {
                bucket: "b".into(),
                key: "plain.txt".into(),
                etag: "0123456789abcdef0123456789abcdef".into(),
                size: 5,
                mtime: "2025-06-01 12:00:00".into(),
                storage_class: Some("STANDARD".into()),
                encryption: Some("NONE".into()),
                kms_key_id: None,
                checksum_algorithm: Some("CRC64NVME".into()),
            },
            IndexRow {
                bucket: "b".into(),
                key: "a,b \"q\"\nnew\tline/é".into(),
                etag: "0123456789abcdef0123456789abcdef-3".into(),
                size: 3 << 40,
                mtime: "1999-12-31 23:59:59".into(),
                storage_class: None,
                encryption: None,
                kms_key_id: None,
                checksum_algorithm: None,
            },
        ]
    }

    fn table(format: TableFormat) -> Vec<u8> {
        let mut table = TableWriter::new(format, Vec::new()).expect("table");
        for row in rows() {
            table.push(row).expect("row");
        }
        assert_eq!(table.rows(), 2);
        table.finish().expect("finish")
    }

    #[test]
    fn csv_quotes_keys_and_writes_rfc3339_times() {
        let text = String::from_utf8(table(TableFormat::Csv)).expect("utf-8");
        assert!(text.starts_with(
            "bucket,key,size,etag,last_modified,storage_class,encryption,kms_key_id,checksum_algorithm\r\n"
        ), "{text}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let records: Vec<csv::StringRecord> =
            reader.records().map(|r| r.expect("record")).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].get(1), Some("a,b \"q\"\nnew\tline/é"));
        assert_eq!(records[1].get(2), Some("3298534883328"));
        assert_eq!(records[0].get(4), Some("2025-06-01T12:00:00Z"));
        assert_eq!(records[1].get(5), Some(""), "NULL is an empty field");
        assert!(text.contains("\"a,b \"\"q\"\"\nnew\tline/é\""), "{text}");
    }

    #[test]
    fn tsv_is_the_rows_and_parquet_is_typed() {
        let text = String::from_utf8(table(TableFormat::Tsv)).expect("utf-8");
        let parsed: Vec<IndexRow> = text
            .lines()
            .map(|l| IndexRow::parse(l).expect("row"))
            .collect();
        assert_eq!(parsed, rows());

        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::Field;
        let bytes = bytes::Bytes::from(table(TableFormat::Parquet));
        let reader = SerializedFileReader::new(bytes).expect("parquet");
        assert_eq!(reader.metadata().file_metadata().num_rows(), 2);
        let fields: Vec<Vec<(String, Field)>> = reader
            .get_row_iter(None)
            .expect("rows")
            .map(|row| {
                row.expect("row")
                    .get_column_iter()
                    .map(|(n, f)| (n.clone(), f.clone()))
                    .collect()
            })
            .collect();
        let names: Vec<&str> = fields[0].iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, COLUMNS);
        assert_eq!(fields[1][1].1, Field::Str("a,b \"q\"\nnew\tline/é".into()));
        assert_eq!(fields[1][2].1, Field::Long(3 << 40));
        assert_eq!(fields[0][4].1, Field::TimestampMillis(1_748_779_200_000));
        assert_eq!(fields[1][5].1, Field::Null);
        assert_eq!(fields[0][8].1, Field::Str("CRC64NVME".into()));
    }
}
