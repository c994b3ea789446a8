//! `bucketlist --distinct` (reducer of the listing steps): every key once. A key can
//! be listed twice: by two part-file lines that overlap (a hand-made part file given
//! with `--no-check-part-file`, or on a cluster, where rsync does not probe the
//! bucket), by an inventory report, or by a listing that S3 paged while the bucket
//! changed. Copied twice, the key would get two multipart uploads, and the second
//! multipartlist would abort the first one's upload under the copy. The listing
//! steps therefore end in this reducer.
//!
//! Input: listing records (or versions records, [`crate::versions`]) and skip rows
//! sorted by key (Hadoop's reduce input; in a
//! shell, `LC_ALL=C sort`), checked before anything is written. Of the lines of one
//! key it keeps one: the record with the latest mtime (the first of equals), or, with
//! no record, the first skip row. Memory holds one line, whatever the input.
//! Counter, group = bucket: `DuplicateKeys`, the lines dropped.

use std::io::{BufRead, Write};

use crate::error::Error;
use crate::input::checked_records;
use crate::record::ListingRecord;
use crate::reporter::{Reporter, counters};
use crate::skip::is_row;
use crate::stream::StreamIndex;

/// Duplicates named on the status line at most (the counter counts them all).
const NAMED_DUPLICATES: u64 = 10;

/// One input line: its text, its key as written (escaped: equal keys are equal
/// escaped, and order is kept byte for byte), and the mtime of a record.
#[derive(Debug)]
struct Listed {
    text: String,
    key_len: usize,
    mtime: Option<String>,
}

impl Listed {
    fn parse(text: &str) -> Result<Self, String> {
        let key_len = text.find('\t').unwrap_or(text.len());
        let mtime = if is_row(text) {
            None
        } else if crate::versions::is_versions_line(text) {
            // A key's versions (`--all-versions`, `--version-at`): the line whose
            // newest version is the latest wins, as for a record.
            let record = crate::versions::VersionsRecord::parse(text).map_err(|e| e.to_string())?;
            record.newest().map(|v| v.mtime.clone())
        } else {
            let record = ListingRecord::parse(text).map_err(|e| e.to_string())?;
            Some(record.mtime)
        };
        Ok(Listed {
            text: text.to_string(),
            key_len,
            mtime,
        })
    }

    fn key(&self) -> &str {
        &self.text[..self.key_len]
    }

    /// True when this line should replace `kept` as the key's line.
    fn beats(&self, kept: &Listed) -> bool {
        match (&self.mtime, &kept.mtime) {
            (Some(mine), Some(theirs)) => mine > theirs,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Lines in and out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistinctSummary {
    /// Lines written (distinct keys).
    pub keys: u64,
    /// Lines dropped as a second listing of a key.
    pub duplicates: u64,
}

/// Writes each key of `input` once to `output` (see the module).
pub fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    bucket: &str,
) -> Result<DistinctSummary, Error> {
    let lines = checked_records(input, StreamIndex::SHELL, Listed::parse)?;
    let mut summary = DistinctSummary::default();
    let mut kept: Option<(u64, Listed)> = None;
    let mut number = 0;
    for line in lines {
        let line = line?;
        number += 1;
        let Some((kept_at, current)) = kept.take() else {
            kept = Some((number, line));
            continue;
        };
        if line.key() < current.key() {
            return Err(Error::Input {
                line: number,
                message: format!(
                    "keys must come sorted (Hadoop's reduce input, or `LC_ALL=C sort`): \
                     {:?} follows {:?} of line {kept_at}",
                    line.key(),
                    current.key()
                ),
            });
        }
        if line.key() > current.key() {
            write_line(output, &current.text)?;
            summary.keys += 1;
            kept = Some((number, line));
            continue;
        }
        summary.duplicates += 1;
        reporter.counter(bucket, counters::DUPLICATE_KEYS, 1)?;
        if summary.duplicates <= NAMED_DUPLICATES {
            reporter.status_now(&format!(
                "s3://{bucket}: key {:?} listed twice (lines {kept_at} and {number}); kept once",
                line.key()
            ))?;
        }
        kept = Some(if line.beats(&current) {
            (number, line)
        } else {
            (kept_at, current)
        });
    }
    if let Some((_, last)) = kept {
        write_line(output, &last.text)?;
        summary.keys += 1;
    }
    output.flush().map_err(|e| Error::io("writing stdout", e))?;
    reporter.finish()?;
    Ok(summary)
}

fn write_line<W: Write>(output: &mut W, text: &str) -> Result<(), Error> {
    writeln!(output, "{text}").map_err(|e| Error::io("writing stdout", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distinct(input: &str) -> (Result<DistinctSummary, Error>, String, String) {
        let mut output = Vec::new();
        let mut stderr = Vec::new();
        let result = {
            let mut reporter = Reporter::new(&mut stderr);
            run(input.as_bytes(), &mut output, &mut reporter, "src")
        };
        (
            result,
            String::from_utf8(output).expect("utf-8"),
            String::from_utf8(stderr).expect("utf-8"),
        )
    }

    #[test]
    fn each_key_is_written_once_the_latest_record_kept() {
        let (result, output, stderr) = distinct(concat!(
            "a\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
            "b\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
            "b\t22222222222222222222222222222222\t2\t2024-01-02 00:00:00\n",
            "b\t33333333333333333333333333333333\t3\t2024-01-01 12:00:00\n",
            "c\t11111111111111111111111111111111\t1\tskipped:archived:GLACIER\n",
            "c\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
            "d\t11111111111111111111111111111111\t1\tskipped:archived:GLACIER\n",
            "d\t11111111111111111111111111111111\t1\tskipped:vanished:404\n",
            "e\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
        ));
        assert_eq!(
            result.expect("distinct"),
            DistinctSummary {
                keys: 5,
                duplicates: 4
            }
        );
        assert_eq!(
            output,
            concat!(
                "a\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
                "b\t22222222222222222222222222222222\t2\t2024-01-02 00:00:00\n",
                "c\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
                "d\t11111111111111111111111111111111\t1\tskipped:archived:GLACIER\n",
                "e\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
            )
        );
        assert!(
            stderr.contains("reporter:counter:src,DuplicateKeys,"),
            "{stderr}"
        );
        assert!(
            stderr.contains("key \"b\" listed twice (lines 2 and 3)"),
            "{stderr}"
        );
    }

    #[test]
    fn unsorted_or_bad_input_fails_naming_the_line() {
        let (result, output, _) = distinct(concat!(
            "b\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
            "a\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
        ));
        let error = result.expect_err("unsorted");
        assert!(error.to_string().contains("line 2"), "{error}");
        assert!(error.to_string().contains("must come sorted"), "{error}");
        assert_eq!(output, "");
        let (result, output, _) = distinct(concat!(
            "a\t11111111111111111111111111111111\t1\t2024-01-01 00:00:00\n",
            "b\t11111111111111111111111111111111\tbig\t2024-01-01 00:00:00\n",
        ));
        let error = result.expect_err("bad size");
        assert!(error.to_string().contains("line 2"), "{error}");
        assert!(error.to_string().contains("size"), "{error}");
        assert_eq!(output, "", "nothing written before the input is checked");
    }

    #[test]
    fn an_empty_input_gives_an_empty_output() {
        let (result, output, _) = distinct("");
        assert_eq!(result.expect("empty"), DistinctSummary::default());
        assert_eq!(output, "");
    }
}
