//! objectmap (mapper, `campanile map`): runs a user command once per listed object,
//! with the object's bytes on its stdin.
//!
//! Each listing record gets a GET pinned to the listed ETag (`If-Match`), streamed
//! chunk by chunk into the stdin of `sh -c COMMAND`, whose environment holds
//! `CAMPANILE_BUCKET`, `CAMPANILE_KEY`, `CAMPANILE_SIZE` and `CAMPANILE_ETAG`. The bytes
//! fed are counted against the listed size (unless the command stops reading early:
//! `head -c 10` is a fair command). The command's stdout goes to a temporary file, never
//! to memory, so memory stays bounded by `--concurrency` GET chunks whatever the sizes.
//!
//! Where the output goes:
//! - with `--output-template`, to the destination key the template names (`{key}` is
//!   the object's key), one PutObject with its Content-MD5 (S3 refuses a body that does
//!   not match it); the output line is `key<TAB>s3://bucket/dst-key<TAB>bytes`;
//! - without, to this task's output: `key<TAB>line` per line of the command's stdout
//!   (key escaped as in every record), so the job output is the map's result.
//!
//! A command that exits non-zero (or an output that cannot be written) fails its
//! record: the others are still mapped, and the task fails at its end naming every
//! failed key ([`Error::Records`]), so that Hadoop retries the attempt. Repeating one is
//! safe: an attempt's job output is discarded when it fails, and a destination key is
//! overwritten with what the command writes again. On the task's last attempt
//! ([`ObjectMapOptions::last_attempt`], from [`crate::attempt::TaskAttempt::is_last`])
//! no retry is left, and failing would make the whole run fail and drop every other
//! object's output: there a command that exits non-zero is reported instead, a skip
//! row `command_failed` whose detail has its exit status and the end of its stderr
//! (counted in `MapFailed` and `CommandFailed`), and the task succeeds, so that its
//! output and the row reach the run's skip report (exit 3). Other failures (a GET or
//! PutObject that failed after the client's retries, an I/O error) still fail the
//! task on every attempt: they are the run's, not the command's. An object gone or
//! changed since the listing is skipped with a skip row, as in the copy; skip rows of
//! the listing are passed on.

use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::process::Stdio;

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use futures::StreamExt;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, S3Context};
use crate::input::checked_records;
use crate::record::{ListingRecord, escape_key};
use crate::reporter::{Reporter, counters};
use crate::s3::Client;
use crate::skip::{self, Line, SkipReason, Skipped};
use crate::stream::StreamIndex;
use crate::task::objectcopy::attempts::source_moved;

/// What a template's `{key}` stands for.
pub const KEY_PLACEHOLDER: &str = "{key}";

/// Options of objectmap.
#[derive(Debug, Clone)]
pub struct ObjectMapOptions {
    /// Bucket of the objects.
    pub src_bucket: String,
    /// Bucket the outputs are written to (`--output-template`).
    pub dst_bucket: String,
    /// Whether input lines carry Hadoop's offset field.
    pub stream_index: StreamIndex,
    /// The command, run with `sh -c`.
    pub command: String,
    /// Destination key of each object's output, `{key}` standing for its key; `None`:
    /// the output goes to the task's output.
    pub output_template: Option<String>,
    /// Objects mapped at once.
    pub concurrency: usize,
    /// This is the task's last attempt: a failed command is reported with a skip row
    /// rather than failing the task (see the module's documentation).
    pub last_attempt: bool,
}

/// Totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMapSummary {
    /// Objects whose command succeeded.
    pub mapped: u64,
    /// Objects skipped (gone or changed since the listing).
    pub skipped: u64,
    /// Objects whose command failed on the last attempt, reported with a skip row.
    pub failed: u64,
    /// Bytes fed to the commands.
    pub input_bytes: u64,
    /// Bytes the commands wrote.
    pub output_bytes: u64,
}

/// The destination key of `key`'s output.
pub fn output_key(template: &str, key: &str) -> String {
    template.replace(KEY_PLACEHOLDER, key)
}

/// Where one command's output went.
enum Output {
    /// Still in its temporary file: the task's output gets its lines.
    Lines(std::fs::File),
    /// Written to this destination key.
    Written(String),
}

/// One mapped object.
struct Mapped {
    object: ListingRecord,
    output: Output,
    input_bytes: u64,
    output_bytes: u64,
}

/// What one input line became.
enum Handled {
    Done(Mapped),
    Failed(ListingRecord, Error),
    Skipped(Skipped),
    PassedOn(String),
}

/// Runs objectmap over `input`: `src` reads the objects, `dst` writes the outputs.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    (src, dst): (&Client, &Client),
    options: &ObjectMapOptions,
) -> Result<ObjectMapSummary, Error> {
    let records = checked_records(
        input,
        options.stream_index,
        skip::or_passed(ListingRecord::parse),
    )?;
    let mut summary = ObjectMapSummary::default();
    let mut failures = Vec::new();
    let io = |e| Error::io("writing stdout", e);
    let mut handled = futures::stream::iter(records)
        .map(|item| async move {
            match item? {
                Line::Record(object) => Ok(map_one(object, src, dst, options).await),
                Line::Skipped(row) => Ok(Handled::PassedOn(row)),
            }
        })
        .buffered(options.concurrency.max(1));
    while let Some(result) = handled.next().await {
        let group = options.src_bucket.as_str();
        match result? {
            Handled::Done(mapped) => {
                let key = escape_key(&mapped.object.key);
                match mapped.output {
                    Output::Lines(file) => {
                        for line in BufReader::new(file).split(b'\n') {
                            let line =
                                line.map_err(|e| Error::io("reading the command's output", e))?;
                            output.write_all(key.as_bytes()).map_err(io)?;
                            output.write_all(b"\t").map_err(io)?;
                            output.write_all(&line).map_err(io)?;
                            output.write_all(b"\n").map_err(io)?;
                        }
                    }
                    Output::Written(dst_key) => {
                        writeln!(
                            output,
                            "{key}\ts3://{}/{}\t{}",
                            options.dst_bucket,
                            escape_key(&dst_key),
                            mapped.output_bytes
                        )
                        .map_err(io)?;
                    }
                }
                summary.mapped += 1;
                summary.input_bytes += mapped.input_bytes;
                summary.output_bytes += mapped.output_bytes;
                reporter.counter(group, counters::MAPPED, 1)?;
                reporter.counter(group, counters::OBJECTS, 1)?;
                reporter.counter(group, counters::MAP_INPUT_BYTES, as_i64(mapped.input_bytes))?;
                reporter.counter(
                    group,
                    counters::MAP_OUTPUT_BYTES,
                    as_i64(mapped.output_bytes),
                )?;
                reporter.status(&format!("{group}/{}: mapped", mapped.object.key))?;
            }
            Handled::Failed(object, error) => {
                reporter.counter(group, counters::MAP_FAILED, 1)?;
                reporter.counter(group, counters::OBJECTS, 1)?;
                match command_failure(&object, error, options.last_attempt) {
                    Ok(row) => {
                        summary.failed += 1;
                        skip::report(output, reporter, group, &row)?;
                    }
                    Err(error) => {
                        reporter.status_now(&format!("{group}/{}: failed: {error}", object.key))?;
                        failures.push((object.key, error));
                    }
                }
            }
            Handled::Skipped(row) => {
                summary.skipped += 1;
                skip::report(output, reporter, group, &row)?;
            }
            Handled::PassedOn(row) => skip::pass_on(output, &row)?,
        }
    }
    drop(handled);
    output.flush().map_err(io)?;
    reporter.finish()?;
    if !failures.is_empty() {
        return Err(Error::Records(failures));
    }
    Ok(summary)
}

/// The skip row that reports `object`'s failure: `Ok` for a failed command on the
/// last attempt, the error back otherwise (the task fails with it).
fn command_failure(
    object: &ListingRecord,
    error: Error,
    last_attempt: bool,
) -> Result<Skipped, Error> {
    match error {
        Error::CommandFailed { status, said } if last_attempt => Ok(Skipped {
            key: object.key.clone(),
            size: object.size,
            etag: object.etag.clone(),
            reason: SkipReason::CommandFailed,
            detail: if said.is_empty() {
                status
            } else {
                format!("{status}: {said}")
            },
        }),
        error => Err(error),
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// GETs one object, runs the command over it and puts its output where it goes. Every
/// failure is the record's ([`Handled::Failed`]) but a moved source (a skip row).
async fn map_one(
    object: ListingRecord,
    src: &Client,
    dst: &Client,
    options: &ObjectMapOptions,
) -> Handled {
    let get = src
        .get_object()
        .bucket(&options.src_bucket)
        .key(&object.key)
        .if_match(format!("\"{}\"", object.etag))
        .send()
        .await;
    let response = match get {
        Ok(response) => response,
        Err(error) => {
            if let Some((reason, detail)) = source_moved(&error, &object.etag) {
                return Handled::Skipped(Skipped {
                    key: object.key.clone(),
                    size: object.size,
                    etag: object.etag.clone(),
                    reason,
                    detail,
                });
            }
            let error = S3Context::new("GetObject", &options.src_bucket, &object.key).sdk(error);
            return Handled::Failed(object, error);
        }
    };
    match run_command(&object, response.body, options).await {
        Ok((stdout, input_bytes)) => match finish(&object, stdout, input_bytes, dst, options).await
        {
            Ok(mapped) => Handled::Done(mapped),
            Err(error) => Handled::Failed(object, error),
        },
        Err(error) => Handled::Failed(object, error),
    }
}

/// Runs the command with the object's bytes on its stdin; its stdout, in a temporary
/// file, and the bytes fed.
async fn run_command(
    object: &ListingRecord,
    mut body: ByteStream,
    options: &ObjectMapOptions,
) -> Result<(tempfile::NamedTempFile, u64), Error> {
    let temp = |e| Error::io("creating a temporary file for the command's output", e);
    let stdout = tempfile::NamedTempFile::new().map_err(temp)?;
    let mut stderr = tempfile::tempfile().map_err(temp)?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&options.command)
        .env("CAMPANILE_BUCKET", &options.src_bucket)
        .env("CAMPANILE_KEY", &object.key)
        .env("CAMPANILE_SIZE", object.size.to_string())
        .env("CAMPANILE_ETAG", &object.etag)
        .stdin(Stdio::piped())
        .stdout(stdout.as_file().try_clone().map_err(temp)?)
        .stderr(stderr.try_clone().map_err(temp)?)
        // A record abandoned (the task failing) leaves no process behind.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::io(format!("starting sh -c {:?}", options.command), e))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::Internal("the command's stdin was not piped".into()))?;
    let mut fed = 0u64;
    let mut stopped_reading = false;
    let mut read_error = None;
    loop {
        let chunk = match body.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                read_error = Some(Error::Internal(format!(
                    "reading s3://{}/{} failed after {fed} bytes: {e}",
                    options.src_bucket, object.key
                )));
                break;
            }
            None => break,
        };
        match stdin.write_all(&chunk).await {
            Ok(()) => fed += chunk.len() as u64,
            // The command closed its stdin (it read what it wanted, or it ended).
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                stopped_reading = true;
                break;
            }
            Err(e) => return Err(Error::io("writing the command's stdin", e)),
        }
    }
    // End of input: the command sees EOF.
    drop(stdin);
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("waiting for the command", e))?;
    if !status.success() {
        // Only the end is read: a command may have said gigabytes.
        let mut said = Vec::new();
        let length = stderr.metadata().map(|m| m.len()).unwrap_or(0);
        stderr
            .seek(std::io::SeekFrom::Start(length.saturating_sub(4096)))
            .ok();
        stderr.read_to_end(&mut said).ok();
        let said = String::from_utf8_lossy(&said);
        let said = said.trim();
        // The end of what it said: enough to see why, not a whole log.
        let tail: String = said
            .chars()
            .rev()
            .take(400)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let status = match status.code() {
            Some(code) => format!("exit code {code}"),
            None => status.to_string(),
        };
        return Err(Error::CommandFailed { status, said: tail });
    }
    if let Some(error) = read_error {
        return Err(error);
    }
    if !stopped_reading && fed != object.size {
        return Err(Error::Internal(format!(
            "s3://{}/{} gave {fed} bytes, listed with {}",
            options.src_bucket, object.key, object.size
        )));
    }
    Ok((stdout, fed))
}

/// Puts the output where it goes: the destination key (`--output-template`), or kept
/// for the task's output.
async fn finish(
    object: &ListingRecord,
    stdout: tempfile::NamedTempFile,
    input_bytes: u64,
    dst: &Client,
    options: &ObjectMapOptions,
) -> Result<Mapped, Error> {
    let reading = |e| Error::io("reading the command's output", e);
    let mut file = stdout.reopen().map_err(reading)?;
    let output_bytes = file.metadata().map_err(reading)?.len();
    let Some(template) = &options.output_template else {
        return Ok(Mapped {
            object: object.clone(),
            output: Output::Lines(file),
            input_bytes,
            output_bytes,
        });
    };
    let dst_key = output_key(template, &object.key);
    // Content-MD5 of the output: S3 refuses a body that does not match it.
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(reading)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let md5 = hasher.finalize();
    let body = ByteStream::from_path(stdout.path())
        .await
        .map_err(|e| Error::Internal(format!("reading the command's output: {e}")))?;
    dst.put_object()
        .bucket(&options.dst_bucket)
        .key(&dst_key)
        .content_md5(base64::engine::general_purpose::STANDARD.encode(md5))
        .content_length(as_i64(output_bytes))
        .body(body)
        .send()
        .await
        .map_err(|e| S3Context::new("PutObject", &options.dst_bucket, &dst_key).sdk(e))?;
    Ok(Mapped {
        object: object.clone(),
        output: Output::Written(dst_key),
        input_bytes,
        output_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_names_the_output_key() {
        assert_eq!(output_key("out/{key}.gz", "logs/a b"), "out/logs/a b.gz");
        assert_eq!(output_key("all/{key}/{key}", "k"), "all/k/k");
        assert_eq!(output_key("fixed", "k"), "fixed");
    }

    fn listed(key: &str) -> ListingRecord {
        ListingRecord::parse(&format!(
            "{key}\t0123456789abcdef0123456789abcdef\t2500\t2026-01-01 00:00:00"
        ))
        .expect("a listing record")
    }

    fn failed(said: &str) -> Error {
        Error::CommandFailed {
            status: "exit code 7".into(),
            said: said.into(),
        }
    }

    #[test]
    fn a_failed_command_is_reported_on_the_last_attempt_only() {
        let object = listed("logs/b c");
        // Not the last attempt: the task fails with it, so that Hadoop retries.
        let error = command_failure(&object, failed("no b"), false).expect_err("retried");
        assert_eq!(error.to_string(), "the command failed (exit code 7): no b");
        assert_eq!(error.exit_code(), 1);
        // The last: a skip row naming the key, the exit code and what it said.
        let row = command_failure(&object, failed("no b\nat all"), true).expect("reported");
        assert_eq!(row.key, "logs/b c");
        assert_eq!((row.size, row.etag.as_str()), (2500, object.etag.as_str()));
        assert_eq!(row.reason, SkipReason::CommandFailed);
        assert_eq!(row.detail, "exit code 7: no b\nat all");
        let line = row.to_row();
        assert!(skip::is_row(&line), "{line}");
        assert!(
            line.ends_with("\tskipped:command_failed:exit code 7: no b at all"),
            "{line}"
        );
        let silent = command_failure(&object, failed(""), true).expect("reported");
        assert_eq!(silent.detail, "exit code 7");
        // Any other failure is the run's, not the command's: never a skip row.
        let io = Error::Internal("s3://b/k gave 3 bytes, listed with 2500".into());
        assert!(command_failure(&object, io, true).is_err());
    }

    #[test]
    fn the_last_attempt_is_told_from_the_tasks_environment() {
        use crate::attempt::{ATTEMPT_ID_ENV, MAX_ATTEMPTS_ENV, TaskAttempt};
        let last = |vars: Vec<(&'static str, String)>| {
            TaskAttempt::from_vars(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            })
            .is_last()
        };
        // The local runner and Hadoop Streaming export both: the map step's 4 attempts.
        let attempt = |n: u32| {
            vec![
                (
                    ATTEMPT_ID_ENV,
                    format!("attempt_1700000000000_0001_m_000000_{n}"),
                ),
                (
                    MAX_ATTEMPTS_ENV,
                    crate::plan::JobSettings::map().map_attempts.to_string(),
                ),
            ]
        };
        assert!(!last(attempt(0)));
        assert!(!last(attempt(2)));
        assert!(last(attempt(3)));
        // objectmap run by hand: nobody retries it, so it reports.
        assert!(last(Vec::new()));
    }
}
