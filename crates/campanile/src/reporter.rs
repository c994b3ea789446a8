//! Hadoop Streaming's stderr control protocol: `reporter:counter:<group>,<counter>,<amount>`
//! and `reporter:status:<message>`, as Hadoop's `PipeMapRed.MRErrorThread` reads them
//! (the prefix is `stream.stderr.reporter.prefix`; any other stderr line goes to the
//! task log).
//!
//! [`Reporter`] writes these lines for the tasks. A listing of a billion keys must not
//! write a billion stderr lines, so counter increments are summed in memory and flushed
//! at most every [`Reporter::DEFAULT_FLUSH_INTERVAL`] and at the end; status lines are
//! throttled the same way (the latest one wins), except [`Reporter::status_now`] for
//! messages that must not be lost (errors, skips). [`parse_line`] reads the same lines
//! back with Hadoop's exact rules, for the local runner.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::error::Error;

/// Counter names used by the tasks. Groups are bucket names, as in the original.
pub mod counters {
    /// Bytes of objects listed (bucketlist).
    pub const BYTES: &str = "Bytes";
    /// Objects listed (bucketlist), planned (multipartlist) or copied whole (objectcopy).
    pub const OBJECTS: &str = "Objects";
    /// objectmap: objects whose command succeeded (and whose output was written).
    pub const MAPPED: &str = "Mapped";
    /// objectmap: objects whose command failed (or whose output could not be written).
    pub const MAP_FAILED: &str = "MapFailed";
    /// objectmap: objects whose command failed on the task's last attempt, reported
    /// with a skip row (`command_failed`) rather than failing the task; also counted
    /// in `MapFailed`.
    pub const COMMAND_FAILED: &str = "CommandFailed";
    /// objectmap: bytes the commands read (the objects' bytes on their stdin).
    pub const MAP_INPUT_BYTES: &str = "MapInputBytes";
    /// objectmap: bytes the commands wrote (their stdout).
    pub const MAP_OUTPUT_BYTES: &str = "MapOutputBytes";
    /// Objects under the source prefix that a filter of the run left out (bucketlist:
    /// `--filter`, sizes, times). Not a skip: the run leaves them out on purpose.
    pub const FILTERED: &str = "Filtered";
    /// objectdelete (`rsync --delete` on a cluster): destination keys deleted.
    pub const DELETED: &str = "Deleted";
    /// objectdelete: keys to delete kept because they were rewritten since the
    /// listing (their ETag is no longer the listed one).
    pub const DELETE_KEPT: &str = "DeleteKept";
    /// objectdelete: keys to delete already gone when HEADed.
    pub const DELETE_GONE: &str = "DeleteGone";
    /// Objects skipped because they must be restored before they can be read.
    pub const SKIPPED_ARCHIVED: &str = "SkippedArchived";
    /// objectrestore: restores requested (RestoreObject answered 202 Accepted).
    pub const RESTORE_REQUESTED: &str = "RestoreRequested";
    /// objectrestore: objects whose restore was already in progress.
    pub const RESTORE_IN_PROGRESS: &str = "RestoreInProgress";
    /// objectrestore: objects already restored (a readable copy exists).
    pub const ALREADY_RESTORED: &str = "AlreadyRestored";
    /// objectrestore: listed objects that need no restore (an Intelligent-Tiering
    /// object in a tier a GET reads).
    pub const NOT_ARCHIVED: &str = "NotArchived";
    /// Bytes the server copied itself (CopyObject, UploadPartCopy), counted on the
    /// destination bucket besides `InputBytes`: bytes that never went through a task.
    pub const SERVER_SIDE_BYTES: &str = "ServerSideBytes";
    /// Bytes read from the source (objectcopy, counted on the source bucket).
    pub const OUTPUT_BYTES: &str = "OutputBytes";
    /// Bytes written to the destination (objectcopy, counted on the destination bucket).
    pub const INPUT_BYTES: &str = "InputBytes";
    /// Parts (multipartlist: planned; objectcopy: copied).
    pub const PARTS: &str = "Parts";
    /// Multipart uploads created (multipartlist) or completed (multipartcomplete).
    pub const UPLOADS: &str = "Uploads";
    /// Objects whose multipart layout S3 could not tell (multipartlist).
    pub const UNKNOWN_PART_LAYOUT: &str = "UnknownPartLayout";
    /// Completed uploads whose ETag differs from the source's (multipartcomplete).
    pub const ETAG_MISMATCH: &str = "EtagMismatch";
    /// Uploads not completed because the checksum made of their parts' checksums
    /// differs from the source's, or completed with another (multipartcomplete).
    pub const CHECKSUM_MISMATCH: &str = "ChecksumMismatch";
    /// Objects whose bytes were proven by MD5 (source ETag, or the completed upload's
    /// ETag computed from the parts' MD5s).
    pub const PROVEN_BY_MD5: &str = "ProvenByMd5";
    /// Objects whose bytes were proven by the source's checksum.
    pub const PROVEN_BY_CHECKSUM: &str = "ProvenByChecksum";
    /// Objects whose source offered neither an MD5 ETag nor a checksum: copied, each
    /// write checked by Content-MD5, but the bytes read not proven to be the source's.
    pub const UNVERIFIABLE_AT_SOURCE: &str = "UnverifiableAtSource";
    /// Objects gone from the source between the listing and the copy (404).
    pub const SOURCE_VANISHED: &str = "SourceVanished";
    /// Objects changed at the source between the listing and the copy (412, new ETag).
    pub const SOURCE_CHANGED: &str = "SourceChanged";
    /// Objects written at the destination by someone else during the run, so not
    /// overwritten (`rsync --diff`: 412 on the conditional write; destination bucket).
    pub const DESTINATION_CHANGED: &str = "DestinationChanged";
    /// Multipart uploads in progress aborted by a cluster run's clean-up step
    /// (`multipartlist --abort-run`), or by objectcopy `--versions` as orphans of the
    /// key it creates an upload for (destination bucket).
    pub const ABORTED_UPLOADS: &str = "AbortedUploads";
    /// Objects or parts a retried objectcopy attempt found already at the destination
    /// (counted on the destination bucket), so not copied again.
    pub const ALREADY_COPIED: &str = "AlreadyCopied";
    /// Listing lines dropped because their key was listed already (bucketlist
    /// `--distinct`, the reducer of the listing steps).
    pub const DUPLICATE_KEYS: &str = "DuplicateKeys";
    /// Object versions listed (bucketlist `--all-versions`, `--version-at`; delete
    /// markers not among them) or written (objectcopy `--versions`).
    pub const VERSIONS: &str = "Versions";
    /// Delete markers listed (bucketlist `--all-versions`) or written at the
    /// destination (objectcopy `--versions`).
    pub const DELETE_MARKERS: &str = "DeleteMarkers";
    /// Versions (and delete markers) objectcopy `--versions` found already at the
    /// destination, in the key's history, so not written again (destination bucket).
    pub const VERSIONS_ALREADY_THERE: &str = "VersionsAlreadyThere";
    /// Keys whose destination history is not the start of the source's, reported and
    /// not written (objectcopy `--versions`; destination bucket).
    pub const HISTORY_DIVERGED: &str = "HistoryDiverged";
}

/// The prefix Hadoop looks for (`stream.stderr.reporter.prefix`).
pub const PREFIX: &str = "reporter:";

/// Writes counter and status lines to a task's stderr, batching and throttling them.
pub struct Reporter<E: Write> {
    out: E,
    counters: BTreeMap<(String, String), i64>,
    flush_interval: Duration,
    last_flush: Instant,
    pending_status: Option<String>,
    last_status: Option<Instant>,
}

impl<E: Write> Reporter<E> {
    /// How often summed counters and the latest status are written at most.
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(3);

    /// A reporter with the default interval.
    pub fn new(out: E) -> Self {
        Self::with_interval(out, Self::DEFAULT_FLUSH_INTERVAL)
    }

    /// A reporter that writes at most every `flush_interval` (zero: write every call).
    pub fn with_interval(out: E, flush_interval: Duration) -> Self {
        Reporter {
            out,
            counters: BTreeMap::new(),
            flush_interval,
            last_flush: Instant::now(),
            pending_status: None,
            last_status: None,
        }
    }

    /// Adds `amount` to `group`/`counter`. Commas and line ends in the names would break
    /// the protocol, so they are replaced by `_`.
    pub fn counter(&mut self, group: &str, counter: &str, amount: i64) -> Result<(), Error> {
        *self
            .counters
            .entry((sanitize(group), sanitize(counter)))
            .or_insert(0) += amount;
        if self.last_flush.elapsed() >= self.flush_interval {
            self.flush_counters()?;
        }
        Ok(())
    }

    /// Sets the task status. Written at once if the last status is older than the
    /// interval, otherwise kept and written by a later call or by [`Reporter::finish`].
    /// A status line also tells Hadoop the task is alive.
    pub fn status(&mut self, message: &str) -> Result<(), Error> {
        let due = self
            .last_status
            .is_none_or(|at| at.elapsed() >= self.flush_interval);
        if due {
            self.write_status(message)
        } else {
            self.pending_status = Some(message.to_string());
            Ok(())
        }
    }

    /// Writes a status line now (for messages that must not be dropped).
    pub fn status_now(&mut self, message: &str) -> Result<(), Error> {
        self.write_status(message)
    }

    /// Counts a skipped object under its reason's counter (group = `bucket`, the bucket
    /// it was read from) and says so at once on the status line. Tasks call it through
    /// [`crate::skip::report`], which also writes the row to the task's output: that is
    /// how it reaches the run's skip report (a row only counted here never does).
    pub fn skipped(&mut self, bucket: &str, row: &crate::skip::Skipped) -> Result<(), Error> {
        self.counter(bucket, row.reason.counter(), 1)?;
        // A reported object is not always a left-out one: say which.
        let what = if row.reason.copied() {
            "reported"
        } else {
            "skipped"
        };
        self.status_now(&format!(
            "{what} {bucket}/{}: {} ({})",
            row.key, row.reason, row.detail
        ))
    }

    /// Writes a diagnostic line (not a reporter line: Hadoop copies it to the log).
    pub fn log(&mut self, message: &str) -> Result<(), Error> {
        writeln!(self.out, "{message}").map_err(|e| Error::io("writing stderr", e))
    }

    /// Writes the summed counters and any pending status. Call at the end of a task.
    pub fn finish(&mut self) -> Result<(), Error> {
        self.flush_counters()?;
        if let Some(message) = self.pending_status.take() {
            self.write_status(&message)?;
        }
        self.out.flush().map_err(|e| Error::io("writing stderr", e))
    }

    /// The wrapped writer (tests read what was written).
    pub fn get_ref(&self) -> &E {
        &self.out
    }

    fn write_status(&mut self, message: &str) -> Result<(), Error> {
        self.pending_status = None;
        self.last_status = Some(Instant::now());
        let line = format_status(message);
        self.out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| Error::io("writing stderr", e))
    }

    fn flush_counters(&mut self) -> Result<(), Error> {
        self.last_flush = Instant::now();
        for ((group, counter), amount) in std::mem::take(&mut self.counters) {
            if amount != 0 {
                self.out
                    .write_all(format_counter(&group, &counter, amount).as_bytes())
                    .map_err(|e| Error::io("writing stderr", e))?;
            }
        }
        self.out.flush().map_err(|e| Error::io("writing stderr", e))
    }
}

fn sanitize(name: &str) -> String {
    name.replace([',', '\n', '\r'], "_")
}

/// One counter line, with its newline.
pub fn format_counter(group: &str, counter: &str, amount: i64) -> String {
    format!("{PREFIX}counter:{group},{counter},{amount}\n")
}

/// One status line, with its newline; line ends inside the message become spaces.
pub fn format_status(message: &str) -> String {
    format!("{PREFIX}status:{}\n", message.replace(['\n', '\r'], " "))
}

/// What a stderr line means to Hadoop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReporterLine {
    /// Add `amount` to the counter.
    Counter {
        /// Counter group.
        group: String,
        /// Counter name.
        counter: String,
        /// Increment (may be negative).
        amount: i64,
    },
    /// New task status.
    Status(String),
    /// A `reporter:` line Hadoop warns about and ignores.
    Malformed(String),
    /// Not a reporter line: copied to the attempt's stderr log.
    Log,
}

/// Parses a stderr line (without its terminator) exactly as `PipeMapRed` does: the text
/// after `reporter:counter:` is trimmed and split on `,` with trailing empty fields
/// dropped (Java's `String.split`); exactly three fields with a valid `long` make a
/// counter, anything else is ignored with a warning. Status text is trimmed.
pub fn parse_line(line: &str) -> ReporterLine {
    let Some(rest) = line.strip_prefix(PREFIX) else {
        return ReporterLine::Log;
    };
    if let Some(spec) = rest.strip_prefix("counter:") {
        let mut fields: Vec<&str> = java_trim(spec).split(',').collect();
        while fields.len() > 1 && fields.last() == Some(&"") {
            fields.pop();
        }
        if fields.len() != 3 {
            return ReporterLine::Malformed(format!("Cannot parse counter line: {line}"));
        }
        match fields[2].parse::<i64>() {
            // Java's Long.parseLong and Rust's i64 parser accept the same text.
            Ok(amount) => ReporterLine::Counter {
                group: fields[0].to_string(),
                counter: fields[1].to_string(),
                amount,
            },
            Err(_) => ReporterLine::Malformed(format!("Cannot parse counter increment: {line}")),
        }
    } else if let Some(status) = rest.strip_prefix("status:") {
        ReporterLine::Status(java_trim(status).to_string())
    } else {
        ReporterLine::Malformed(format!("Cannot parse reporter line: {line}"))
    }
}

/// Java's `String.trim`: strips every char <= U+0020 at both ends.
fn java_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(reporter: &Reporter<Vec<u8>>) -> String {
        String::from_utf8(reporter.get_ref().clone()).expect("utf8")
    }

    #[test]
    fn counters_are_summed_until_the_interval() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::from_secs(3600));
        for _ in 0..1000 {
            reporter
                .counter("srcbucket", "Bytes", 10240)
                .expect("counter");
        }
        reporter
            .counter("srcbucket", "Objects", 1000)
            .expect("counter");
        assert_eq!(written(&reporter), "");
        reporter.finish().expect("finish");
        assert_eq!(
            written(&reporter),
            "reporter:counter:srcbucket,Bytes,10240000\nreporter:counter:srcbucket,Objects,1000\n"
        );
    }

    #[test]
    fn zero_interval_writes_every_increment() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::ZERO);
        reporter.counter("b", "Bytes", 1).expect("counter");
        reporter.counter("b", "Bytes", 2).expect("counter");
        assert_eq!(
            written(&reporter),
            "reporter:counter:b,Bytes,1\nreporter:counter:b,Bytes,2\n"
        );
    }

    #[test]
    fn status_is_throttled_and_the_latest_is_kept() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::from_secs(3600));
        reporter.status("dst/a:OK").expect("status");
        reporter.status("dst/b:OK").expect("status");
        reporter.status("dst/c:OK").expect("status");
        assert_eq!(written(&reporter), "reporter:status:dst/a:OK\n");
        reporter.status_now("error on d").expect("status");
        reporter.finish().expect("finish");
        assert_eq!(
            written(&reporter),
            "reporter:status:dst/a:OK\nreporter:status:error on d\n"
        );
    }

    #[test]
    fn pending_status_is_written_at_finish() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::from_secs(3600));
        reporter.status("first").expect("status");
        reporter.status("last").expect("status");
        reporter.finish().expect("finish");
        assert_eq!(
            written(&reporter),
            "reporter:status:first\nreporter:status:last\n"
        );
    }

    #[test]
    fn names_cannot_break_the_protocol() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::ZERO);
        reporter.counter("a,b", "c\nd", 1).expect("counter");
        reporter.status_now("two\nlines").expect("status");
        assert_eq!(
            written(&reporter),
            "reporter:counter:a_b,c_d,1\nreporter:status:two lines\n"
        );
    }

    #[test]
    fn written_lines_parse_back() {
        let mut reporter = Reporter::with_interval(Vec::new(), Duration::ZERO);
        reporter.counter("bucket.x", "Bytes", -5).expect("counter");
        reporter.status_now("dst/key:OK").expect("status");
        let parsed: Vec<ReporterLine> = written(&reporter).lines().map(parse_line).collect();
        assert_eq!(
            parsed,
            vec![
                ReporterLine::Counter {
                    group: "bucket.x".into(),
                    counter: "Bytes".into(),
                    amount: -5
                },
                ReporterLine::Status("dst/key:OK".into())
            ]
        );
    }

    #[test]
    fn hadoop_parsing_rules() {
        // streaming.md section 9, vector 2
        assert_eq!(
            parse_line("reporter:counter:g,c,5"),
            ReporterLine::Counter {
                group: "g".into(),
                counter: "c".into(),
                amount: 5
            }
        );
        assert!(matches!(
            parse_line("reporter:counter:g,c,x"),
            ReporterLine::Malformed(_)
        ));
        assert!(matches!(
            parse_line("reporter:counter:g,c"),
            ReporterLine::Malformed(_)
        ));
        assert!(matches!(
            parse_line("reporter:foo"),
            ReporterLine::Malformed(_)
        ));
        assert_eq!(
            parse_line("reporter:status: hi "),
            ReporterLine::Status("hi".into())
        );
        // only the outer trim: the counter name keeps its inner space
        assert_eq!(
            parse_line("reporter:counter: g, c,1 "),
            ReporterLine::Counter {
                group: "g".into(),
                counter: " c".into(),
                amount: 1
            }
        );
        // trailing empty fields are dropped by Java's split
        assert_eq!(
            parse_line("reporter:counter:g,c,7,,"),
            ReporterLine::Counter {
                group: "g".into(),
                counter: "c".into(),
                amount: 7
            }
        );
        assert_eq!(parse_line("plain diagnostic"), ReporterLine::Log);
    }
}
