//! Objects a task leaves out on purpose, and why. Exit 0 of a run means every listed
//! object is at the destination as promised, so nothing may be left out in silence:
//! each skipped object is counted (a counter per reason, group = the bucket it was
//! read from), announced on the task's status line, and described by a [`Skipped`]
//! row that the run gathers into its skip report (JSON lines: key, size, ETag, reason,
//! detail).
//!
//! How a row reaches the report: through the records, as a *skip row* on the task's
//! stdout ([`report`]). A skip row has the listing's shape, `key etag size
//! skipped:<reason>:<detail>`, so that it survives every later step on every runner:
//! the diff (Hive's or the native one) joins it by key and ETag like any listed
//! object (an archived source object that the destination already holds with the
//! same ETag is not reported again), and multipartlist, objectcopy and
//! multipartcomplete pass it on unchanged ([`Line`], [`or_passed`], [`is_row`]). The
//! rows therefore end in the job output, which only committed task attempts write
//! (Hadoop's commit, emulated by the local runner): a failed attempt's rows are
//! dropped with its output, and a retried attempt writes its own. rsync reads the
//! rows from the last step's output and writes the report. The fourth field can never
//! be a listing's mtime (`YYYY-MM-DD HH:MM:SS`), and no other record has four fields,
//! so a skip row is never mistaken for a record, nor a record for a skip row.
//!
//! Archive tiers: GLACIER and DEEP_ARCHIVE show in the listing (bucketlist skips them);
//! the Intelligent-Tiering archive tiers do not. They show in a HEAD
//! (`x-amz-archive-status`, [`archive_detail`], which multipartlist's HEAD of a
//! multipart object can use at no extra cost) and make a GET fail with 403
//! `InvalidObjectState` ([`archived_on_get`], one HEAD per such object, for its detail).

use std::io::{BufRead, Write};

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{ArchiveStatus, StorageClass};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::record::{RecordError, escape_key, unescape_key};
use crate::reporter::Reporter;
use crate::s3::Client;

/// What starts the fourth field of a skip row.
pub const ROW_MARK: &str = "skipped:";

/// Why an object was not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Its data must be restored before it can be read (GLACIER, DEEP_ARCHIVE, the
    /// Intelligent-Tiering archive tiers).
    Archived,
    /// Gone from the source since the listing (404).
    Vanished,
    /// Changed at the source since the listing (412 on the ETag pin, or another ETag).
    Changed,
    /// Its multipart layout could not be told, so its ETag could not be kept.
    UnknownLayout,
    /// Written at the destination by someone else during the run (`rsync --diff`: the
    /// conditional write or completion got 412), so not overwritten.
    DestinationChanged,
    /// Copied, but not proven: its source offers neither an MD5 ETag (SSE-KMS, SSE-C)
    /// nor a checksum to compare the bytes read with. Its writes were checked by
    /// Content-MD5 (the bytes sent are the bytes stored), not the read: reported so
    /// that exit 0 keeps meaning "every object proven".
    UnverifiableAtSource,
    /// `campanile map`: the user's command exited non-zero (or was killed) on the
    /// object's last task attempt, so no attempt is left to retry it; the detail has
    /// its exit status and the end of its stderr.
    CommandFailed,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 7] = [
        SkipReason::Archived,
        SkipReason::Vanished,
        SkipReason::Changed,
        SkipReason::UnknownLayout,
        SkipReason::DestinationChanged,
        SkipReason::UnverifiableAtSource,
        SkipReason::CommandFailed,
    ];

    /// The counter that counts objects skipped for this reason.
    pub const fn counter(self) -> &'static str {
        match self {
            SkipReason::Archived => crate::reporter::counters::SKIPPED_ARCHIVED,
            SkipReason::Vanished => crate::reporter::counters::SOURCE_VANISHED,
            SkipReason::Changed => crate::reporter::counters::SOURCE_CHANGED,
            SkipReason::UnknownLayout => crate::reporter::counters::UNKNOWN_PART_LAYOUT,
            SkipReason::DestinationChanged => crate::reporter::counters::DESTINATION_CHANGED,
            SkipReason::UnverifiableAtSource => crate::reporter::counters::UNVERIFIABLE_AT_SOURCE,
            SkipReason::CommandFailed => crate::reporter::counters::COMMAND_FAILED,
        }
    }

    /// The reason as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Archived => "archived",
            SkipReason::Vanished => "vanished",
            SkipReason::Changed => "changed",
            SkipReason::UnknownLayout => "unknown_layout",
            SkipReason::DestinationChanged => "destination_changed",
            SkipReason::UnverifiableAtSource => "unverifiable_at_source",
            SkipReason::CommandFailed => "command_failed",
        }
    }

    /// True for a reason seen at the destination: its counter's group is the
    /// destination bucket, not the source.
    pub fn at_destination(self) -> bool {
        self == SkipReason::DestinationChanged
    }

    /// True for an object that is at the destination all the same (copied, reported
    /// for what could not be proven), false for one that was left out.
    pub fn copied(self) -> bool {
        self == SkipReason::UnverifiableAtSource
    }
}

impl std::str::FromStr for SkipReason {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        SkipReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == text)
            .ok_or_else(|| format!("unknown skip reason {text:?}"))
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skipped object: a row of the skip report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The object's key at the source.
    pub key: String,
    /// Its size as listed.
    pub size: u64,
    /// Its ETag as listed (without quotes).
    pub etag: String,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// What was seen, for a person (storage class, status code, the ETag found…).
    pub detail: String,
}

impl Skipped {
    /// The row as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        // Serializing a struct of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The row as a skip row of the records (no newline): `key etag size
    /// skipped:<reason>:<detail>`, the key escaped as in every record, line ends and
    /// TABs in the detail turned into spaces.
    pub fn to_row(&self) -> String {
        format!(
            "{}\t{}\t{}\t{ROW_MARK}{}:{}",
            escape_key(&self.key),
            self.etag,
            self.size,
            self.reason,
            self.detail.replace(['\t', '\n', '\r'], " ")
        )
    }

    /// Reads a skip row back (see [`Skipped::to_row`]).
    pub fn from_row(text: &str) -> Result<Self, RecordError> {
        let fields: Vec<&str> = text.split('\t').collect();
        let [key, etag, size, mark] = fields[..] else {
            return Err(RecordError(format!(
                "a skip row has 4 TAB-separated fields (key, etag, size, skipped:<reason>:<detail>), found {}",
                fields.len()
            )));
        };
        let field = |n: usize, name: &str, problem: String| {
            RecordError(format!("field {n} ({name}) {problem}"))
        };
        let key = unescape_key(key).map_err(|e| field(1, "key", e))?;
        let size = size
            .parse()
            .map_err(|_| field(3, "size", format!("is not a number: {size:?}")))?;
        let rest = mark
            .strip_prefix(ROW_MARK)
            .ok_or_else(|| field(4, "skip", format!("does not start with {ROW_MARK:?}")))?;
        let (reason, detail) = rest.split_once(':').unwrap_or((rest, ""));
        Ok(Skipped {
            key,
            size,
            etag: etag.to_string(),
            reason: reason.parse().map_err(|e| field(4, "skip", e))?,
            detail: detail.to_string(),
        })
    }
}

/// True when an input line is a skip row (exactly four fields, the fourth starting
/// with [`ROW_MARK`]) rather than a record.
pub fn is_row(text: &str) -> bool {
    let mut fields = text.split('\t');
    let fourth = fields.nth(3);
    fields.next().is_none() && fourth.is_some_and(|f| f.starts_with(ROW_MARK))
}

/// One line of a task's input: a record, or a skip row that an earlier step wrote and
/// that this task passes on to its output unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<T> {
    /// A record for this task.
    Record(T),
    /// A skip row, as read (no newline).
    Skipped(String),
}

/// A parser of a task's records that also accepts skip rows: wrap a record parser with
/// it where a task reads its input (`parse_all(input, index, or_passed(PartRecord::parse))`).
pub fn or_passed<T, E>(
    parse: impl Fn(&str) -> Result<T, E>,
) -> impl Fn(&str) -> Result<Line<T>, E> {
    move |text| {
        if is_row(text) {
            Ok(Line::Skipped(text.to_string()))
        } else {
            parse(text).map(Line::Record)
        }
    }
}

/// Writes a skip row that a task read to its output (passing it on).
pub fn pass_on<W: Write>(output: &mut W, row: &str) -> Result<(), Error> {
    writeln!(output, "{row}").map_err(|e| Error::io("writing stdout", e))
}

/// Skips an object: its row goes to the task's output (towards the run's report),
/// and the reporter counts it and says so (see [`Reporter::skipped`]). `bucket` is
/// the bucket the object was read from.
pub fn report<W: Write, E: Write>(
    output: &mut W,
    reporter: &mut Reporter<E>,
    bucket: &str,
    row: &Skipped,
) -> Result<(), Error> {
    pass_on(output, &row.to_row())?;
    reporter.skipped(bucket, row)
}

/// Copies the skip rows of `records` (any job output, read as text) to `report` as
/// JSON lines; returns how many. A line that carries the mark but cannot be read is an
/// error naming its line.
pub fn extract_rows<R: BufRead, W: Write>(records: R, report: &mut W) -> Result<u64, Error> {
    let mut rows = 0;
    for line in crate::input::InputLines::new(records, crate::stream::StreamIndex::SHELL) {
        let line = line?;
        // The job output of a reducer has `key\tvalue` lines; skip rows are whole.
        if !is_row(&line.text) {
            continue;
        }
        let row = Skipped::from_row(&line.text).map_err(|e| Error::Input {
            line: line.number,
            message: e.to_string(),
        })?;
        writeln!(report, "{}", row.to_json_line())
            .map_err(|e| Error::io("writing the skip report", e))?;
        rows += 1;
    }
    Ok(rows)
}

/// What a HEAD says about an object that must be restored before it can be read:
/// `Some(detail)` for GLACIER and DEEP_ARCHIVE without a restored copy, and for
/// INTELLIGENT_TIERING objects in the Archive Access or Deep Archive Access tier
/// (`x-amz-archive-status`) without one; `None` for an object a GET can read.
pub fn archive_detail(head: &HeadObjectOutput) -> Option<String> {
    // `x-amz-restore: ongoing-request="false", expiry-date="…"`: a readable copy.
    let restored = head
        .restore()
        .is_some_and(|r| r.contains("ongoing-request=\"false\""));
    if restored {
        return None;
    }
    let class = head.storage_class().map_or("STANDARD", |c| c.as_str());
    if head
        .restore()
        .is_some_and(|r| r.contains("ongoing-request=\"true\""))
    {
        return Some(format!(
            "storage class {class}: its restore is in progress, copy it once it is done"
        ));
    }
    match (head.storage_class(), head.archive_status()) {
        (_, Some(status @ (ArchiveStatus::ArchiveAccess | ArchiveStatus::DeepArchiveAccess))) => {
            Some(format!(
                "storage class {class}, archive status {}: needs a restore",
                status.as_str()
            ))
        }
        (Some(StorageClass::Glacier | StorageClass::DeepArchive), _) => {
            Some(format!("storage class {class} needs a restore"))
        }
        _ => None,
    }
}

/// What a HEAD of an object that a GET refused with 403 `InvalidObjectState` says
/// about its archive state (see [`archive_detail`]), for the report; `None` when the
/// HEAD fails or shows nothing archived.
pub async fn archive_detail_of(client: &Client, bucket: &str, key: &str) -> Option<String> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    archive_detail(&head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_from_its_json_line() {
        let row = Skipped {
            key: "a\tb/\u{feff}c".into(),
            size: 7,
            etag: "0123-2".into(),
            reason: SkipReason::Changed,
            detail: "412 on If-Match".into(),
        };
        let line = row.to_json_line();
        assert!(line.contains("\"reason\":\"changed\""), "{line}");
        assert!(!line.contains('\n'));
        let back: Skipped = serde_json::from_str(&line).expect("parse");
        assert_eq!(back, row);
    }

    #[test]
    fn every_reason_has_its_own_counter() {
        let mut names: Vec<&str> = SkipReason::ALL.iter().map(|r| r.counter()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SkipReason::ALL.len());
        // The report's words are serde's.
        for reason in SkipReason::ALL {
            let json = serde_json::to_string(&reason).expect("json");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(reason.as_str().parse::<SkipReason>(), Ok(reason));
        }
    }

    fn row() -> Skipped {
        Skipped {
            key: "dir/a\tb\\c".into(),
            size: 10240,
            etag: "0123456789abcdef0123456789abcdef-2".into(),
            reason: SkipReason::Archived,
            detail: "storage class GLACIER\tneeds\na restore".into(),
        }
    }

    #[test]
    fn a_skip_row_reads_back_and_is_never_a_record() {
        let line = row().to_row();
        assert_eq!(line.matches('\t').count(), 3, "{line}");
        assert!(is_row(&line));
        let back = Skipped::from_row(&line).expect("row");
        assert_eq!(back.key, "dir/a\tb\\c");
        assert_eq!(back.detail, "storage class GLACIER needs a restore");
        assert_eq!(back.reason, SkipReason::Archived);
        // A listing record, a part record, a copied part: none is a skip row.
        let listing = "k\t0123456789abcdef0123456789abcdef\t5\t2020-01-01 00:00:00";
        assert!(!is_row(listing));
        assert!(!is_row(&format!("{listing}\t\\N\t\\N\t\\N\t\\N\t\\N")));
        assert!(!is_row(&format!("{line}\textra")));
        // Nor does a row parse as a listing record.
        assert!(crate::record::ListingRecord::parse(&line).is_err());
    }

    #[test]
    fn skip_rows_are_passed_on_and_extracted() {
        let parse = or_passed(crate::record::ListingRecord::parse);
        let listing = "k\t0123456789abcdef0123456789abcdef\t5\t2020-01-01 00:00:00";
        assert!(matches!(parse(listing), Ok(Line::Record(_))));
        let line = row().to_row();
        assert_eq!(parse(&line).ok(), Some(Line::Skipped(line.clone())));
        // A job output: part lines and skip rows mixed; the report gets the rows.
        let output = format!("{listing}\n{line}\nx\ty\n");
        let mut report = Vec::new();
        assert_eq!(
            extract_rows(output.as_bytes(), &mut report).expect("extract"),
            1
        );
        let json = String::from_utf8(report).expect("utf8");
        let read: Skipped = serde_json::from_str(json.trim_end()).expect("json");
        assert_eq!(read.key, row().key);
        assert!(json.contains("\"reason\":\"archived\""), "{json}");
        // A damaged row is named by its line.
        let error = extract_rows("a\tb\tc\tskipped:frozen:x\n".as_bytes(), &mut Vec::new())
            .expect_err("bad reason");
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[test]
    fn intelligent_tiering_archive_tiers_need_a_restore() {
        let head = |class: StorageClass, status: Option<ArchiveStatus>, restore: Option<&str>| {
            HeadObjectOutput::builder()
                .storage_class(class)
                .set_archive_status(status)
                .set_restore(restore.map(str::to_string))
                .build()
        };
        let deep = head(
            StorageClass::IntelligentTiering,
            Some(ArchiveStatus::DeepArchiveAccess),
            None,
        );
        let detail = archive_detail(&deep).expect("archived");
        assert!(detail.contains("DEEP_ARCHIVE_ACCESS"), "{detail}");
        assert!(archive_detail(&head(StorageClass::IntelligentTiering, None, None)).is_none());
        assert!(archive_detail(&head(StorageClass::DeepArchive, None, None)).is_some());
        assert!(archive_detail(&head(StorageClass::Standard, None, None)).is_none());
        let restored = head(
            StorageClass::IntelligentTiering,
            Some(ArchiveStatus::ArchiveAccess),
            Some("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""),
        );
        assert!(archive_detail(&restored).is_none());
        let restoring = head(
            StorageClass::Glacier,
            None,
            Some("ongoing-request=\"true\""),
        );
        assert!(archive_detail(&restoring).is_some());
    }
}
