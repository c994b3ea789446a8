//! Reading a task's stdin the way Hadoop's `LineRecordReader` does: lines end with
//! `\n`, `\r\n` or a lone `\r` (only `\n` and `\r\n` are recognised here: a lone `\r`
//! inside a record is data, and keys holding CR are escaped by [`crate::record`]), and
//! a last line without a newline still counts. Each line is numbered from 1 so that
//! every error can name it. A UTF-8 byte-order mark is dropped from the first line of a
//! part file only ([`InputLines::part_file`]: an editor may write one there); a record
//! is data, and a key may start with U+FEFF.
//!
//! A task checks its whole input before it does anything (a bad line must fail it with
//! nothing done) without holding the input in memory: [`checked_records`] checks every
//! line while keeping it in a [`Spool`], then hands the records out one at a time.

use std::io::{BufRead, Read, Write};

use crate::error::Error;
use crate::stream::StreamIndex;

/// Lines longer than this are refused rather than buffered without bound.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// One input line with its 1-based number, the Hadoop offset field already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLine {
    /// 1-based line number in this task's stdin.
    pub number: u64,
    /// The record text, without terminator or offset field.
    pub text: String,
}

/// Iterates over the lines of `reader`, applying the stream index.
pub struct InputLines<R> {
    reader: R,
    index: StreamIndex,
    number: u64,
    buffer: Vec<u8>,
    done: bool,
    /// A part file: drop a byte-order mark from the file's first line.
    part_file: bool,
}

impl<R: BufRead> InputLines<R> {
    /// Reads records from `reader` line by line; `index` says whether to drop the offset
    /// field. Every byte of a record is kept.
    pub fn new(reader: R, index: StreamIndex) -> Self {
        InputLines {
            reader,
            index,
            number: 0,
            buffer: Vec::new(),
            done: false,
            part_file: false,
        }
    }

    /// Reads the lines of a part file: as [`InputLines::new`], but a U+FEFF that starts
    /// the file's first line (line 1 of a shell pipe, or the line at byte offset 0 of a
    /// Hadoop split) is a byte-order mark, and dropped.
    pub fn part_file(reader: R, index: StreamIndex) -> Self {
        InputLines {
            part_file: true,
            ..InputLines::new(reader, index)
        }
    }

    fn next_line(&mut self) -> Result<Option<InputLine>, Error> {
        self.buffer.clear();
        let mut limited = std::io::Read::take(&mut self.reader, MAX_LINE_BYTES as u64 + 2);
        let read = limited
            .read_until(b'\n', &mut self.buffer)
            .map_err(|e| Error::io("reading stdin", e))?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        let number = self.number;
        if self.buffer.last() == Some(&b'\n') {
            self.buffer.pop();
            if self.buffer.last() == Some(&b'\r') {
                self.buffer.pop();
            }
        } else if self.buffer.len() > MAX_LINE_BYTES {
            return Err(Error::Input {
                line: number,
                message: format!("line is longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        let text = std::str::from_utf8(&self.buffer).map_err(|e| Error::Input {
            line: number,
            message: format!(
                "not valid UTF-8 (invalid byte at column {})",
                e.valid_up_to() + 1
            ),
        })?;
        let record = self.index.strip(text).ok_or_else(|| Error::Input {
            line: number,
            message:
                "expected `<byte offset>\\t<record>` from Hadoop's NLineInputFormat, found no TAB"
                    .to_string(),
        })?;
        let file_start = if self.index == StreamIndex::SHELL {
            number == 1
        } else {
            text.split('\t').next() == Some("0")
        };
        let record = if self.part_file && file_start {
            record.strip_prefix('\u{feff}').unwrap_or(record)
        } else {
            record
        };
        Ok(Some(InputLine {
            number,
            text: record.to_string(),
        }))
    }
}

impl<R: BufRead> Iterator for InputLines<R> {
    type Item = Result<InputLine, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_line().transpose();
        if matches!(item, None | Some(Err(_))) {
            self.done = true;
        }
        item
    }
}

/// Bytes of checked input kept in memory before the spool moves to a temporary file:
/// a split of a few thousand records never touches the disk, a split of millions costs
/// this much memory and no more.
pub const SPOOL_IN_MEMORY: usize = 1024 * 1024;

/// A task's input, every line of it checked, kept aside (in memory up to
/// [`SPOOL_IN_MEMORY`] bytes, then in a private temporary file that disappears with
/// the process) so that it can be read again, line by line, once it is known to be
/// good: a bad line fails the task with nothing done, and memory does not grow with
/// the split.
///
/// Each entry is the line number (u64), the text length (u32) and the text (already
/// UTF-8-checked, without terminator or offset field), little-endian: a length rather
/// than a terminator, because a record may end with a `\r` that is data.
pub struct Spool {
    file: tempfile::SpooledTempFile,
    lines: u64,
}

impl Spool {
    /// An empty spool.
    pub fn new() -> Self {
        Spool {
            file: tempfile::spooled_tempfile(SPOOL_IN_MEMORY),
            lines: 0,
        }
    }

    /// Reads every line of `input`, hands it to `check` (whose error fails the whole
    /// read) and keeps it.
    pub fn check_all<R: BufRead>(
        input: R,
        index: StreamIndex,
        check: impl FnMut(&InputLine) -> Result<(), Error>,
    ) -> Result<Spool, Error> {
        Spool::check_lines(InputLines::new(input, index), check)
    }

    /// [`Spool::check_all`] over lines already opened (a part file's, say).
    pub fn check_lines<R: BufRead>(
        lines: InputLines<R>,
        mut check: impl FnMut(&InputLine) -> Result<(), Error>,
    ) -> Result<Spool, Error> {
        let mut spool = Spool::new();
        {
            let mut writer = spool.writer();
            for line in lines {
                let line = line?;
                check(&line)?;
                writer.push(line.number, &line.text)?;
            }
            writer.finish()?;
        }
        Ok(spool)
    }

    /// Appends lines.
    pub fn writer(&mut self) -> SpoolWriter<'_> {
        SpoolWriter {
            out: std::io::BufWriter::new(&mut self.file),
            lines: &mut self.lines,
        }
    }

    /// Number of lines kept.
    pub fn len(&self) -> u64 {
        self.lines
    }

    /// True when no line was kept.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Whether the spool moved to a temporary file (more than [`SPOOL_IN_MEMORY`]).
    pub fn on_disk(&self) -> bool {
        self.file.is_rolled()
    }

    /// The lines, from the first, with their original numbers.
    pub fn into_lines(mut self) -> Result<SpooledLines, Error> {
        std::io::Seek::rewind(&mut self.file)
            .map_err(|e| Error::io("reading the task's spooled input", e))?;
        Ok(SpooledLines {
            reader: std::io::BufReader::new(self.file),
            remaining: self.lines,
        })
    }
}

impl Default for Spool {
    fn default() -> Self {
        Spool::new()
    }
}

/// Appends lines to a [`Spool`]; [`SpoolWriter::finish`] flushes them.
pub struct SpoolWriter<'a> {
    out: std::io::BufWriter<&'a mut tempfile::SpooledTempFile>,
    lines: &'a mut u64,
}

impl SpoolWriter<'_> {
    /// Keeps one line.
    pub fn push(&mut self, number: u64, text: &str) -> Result<(), Error> {
        let length = u32::try_from(text.len()).map_err(|_| Error::Input {
            line: number,
            message: format!("line is longer than {MAX_LINE_BYTES} bytes"),
        })?;
        self.out
            .write_all(&number.to_le_bytes())
            .and_then(|()| self.out.write_all(&length.to_le_bytes()))
            .and_then(|()| self.out.write_all(text.as_bytes()))
            .map_err(|e| Error::io("keeping the task's input in a temporary file", e))?;
        *self.lines += 1;
        Ok(())
    }

    /// Writes out what is buffered.
    pub fn finish(mut self) -> Result<(), Error> {
        self.out
            .flush()
            .map_err(|e| Error::io("keeping the task's input in a temporary file", e))
    }
}

/// The lines of a [`Spool`], read back one at a time.
pub struct SpooledLines {
    reader: std::io::BufReader<tempfile::SpooledTempFile>,
    remaining: u64,
}

impl SpooledLines {
    fn next_line(&mut self) -> Result<InputLine, Error> {
        let context = "reading the task's input back from its temporary file";
        let mut header = [0u8; 12];
        self.reader
            .read_exact(&mut header)
            .map_err(|e| Error::io(context, e))?;
        let (number, length) = header.split_at(8);
        let number = u64::from_le_bytes(number.try_into().unwrap_or_default());
        let length = u32::from_le_bytes(length.try_into().unwrap_or_default());
        let mut text = vec![0u8; usize::try_from(length).unwrap_or(usize::MAX)];
        self.reader
            .read_exact(&mut text)
            .map_err(|e| Error::io(context, e))?;
        let text = String::from_utf8(text).map_err(|_| {
            Error::Internal(format!(
                "line {number} changed in the task's temporary file"
            ))
        })?;
        Ok(InputLine { number, text })
    }
}

impl Iterator for SpooledLines {
    type Item = Result<InputLine, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let line = self.next_line();
        // An error ends the lines: what follows it cannot be trusted.
        self.remaining = if line.is_ok() { self.remaining - 1 } else { 0 };
        Some(line)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (remaining, Some(remaining))
    }
}

/// Every record of a task's input, each line parsed and checked before the first record
/// is handed out (a bad line fails the task, naming the line, with nothing done), then
/// parsed again one at a time from the [`Spool`] as the task takes them: the task's
/// memory stays the same whatever the length of its split, and a
/// `futures::stream::iter(records).buffered(n)` reads only `n` records ahead.
///
/// An item is an error only if the spooled copy cannot be read back (a failing disk):
/// the task then fails rather than stop short.
pub fn checked_records<R, T, E, P>(
    input: R,
    index: StreamIndex,
    parse: P,
) -> Result<Records<T, P>, Error>
where
    R: BufRead,
    E: std::fmt::Display,
    P: Fn(&str) -> Result<T, E>,
{
    checked_lines(InputLines::new(input, index), parse)
}

/// [`checked_records`] of a part file ([`InputLines::part_file`]).
pub fn checked_part_file<R, T, E, P>(
    input: R,
    index: StreamIndex,
    parse: P,
) -> Result<Records<T, P>, Error>
where
    R: BufRead,
    E: std::fmt::Display,
    P: Fn(&str) -> Result<T, E>,
{
    checked_lines(InputLines::part_file(input, index), parse)
}

fn checked_lines<R, T, E, P>(lines: InputLines<R>, parse: P) -> Result<Records<T, P>, Error>
where
    R: BufRead,
    E: std::fmt::Display,
    P: Fn(&str) -> Result<T, E>,
{
    let spool = Spool::check_lines(lines, |line| {
        parse(&line.text).map(drop).map_err(|e| Error::Input {
            line: line.number,
            message: e.to_string(),
        })
    })?;
    Ok(Records {
        lines: spool.into_lines()?,
        parse,
        _record: std::marker::PhantomData,
    })
}

/// The records of [`checked_records`], in input order.
pub struct Records<T, P> {
    lines: SpooledLines,
    parse: P,
    _record: std::marker::PhantomData<fn() -> T>,
}

impl<T, E: std::fmt::Display, P: Fn(&str) -> Result<T, E>> Iterator for Records<T, P> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let line = match self.lines.next()? {
            Ok(line) => line,
            Err(error) => return Some(Err(error)),
        };
        Some((self.parse)(&line.text).map_err(|e| Error::Input {
            line: line.number,
            message: e.to_string(),
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.lines.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], index: StreamIndex) -> Vec<Result<InputLine, Error>> {
        InputLines::new(input, index).collect()
    }

    fn texts(input: &[u8], index: StreamIndex) -> Vec<(u64, String)> {
        lines(input, index)
            .into_iter()
            .map(|r| r.map(|l| (l.number, l.text)).expect("line"))
            .collect()
    }

    #[test]
    fn crlf_lf_and_missing_final_newline() {
        assert_eq!(
            texts(b"a\nbb\r\n\nccc", StreamIndex::SHELL),
            vec![
                (1, "a".to_string()),
                (2, "bb".to_string()),
                (3, String::new()),
                (4, "ccc".to_string())
            ]
        );
    }

    #[test]
    fn a_bom_is_dropped_from_a_part_file_s_first_line_only_never_from_a_record() {
        let part_file = |input: &[u8], index| -> Vec<(u64, String)> {
            InputLines::part_file(input, index)
                .map(|r| r.map(|l| (l.number, l.text)).expect("line"))
                .collect()
        };
        assert_eq!(
            part_file(b"\xEF\xBB\xBF/,0\n\xEF\xBB\xBFx\n", StreamIndex::SHELL),
            vec![(1, "/,0".to_string()), (2, "\u{feff}x".to_string())]
        );
        // In a Hadoop split the file's first line is the one at byte offset 0.
        assert_eq!(
            part_file(
                b"0\t\xEF\xBB\xBF/,0\n7\t\xEF\xBB\xBF,1\n",
                StreamIndex::NLINE_MAPPER
            ),
            vec![(1, "/,0".to_string()), (2, "\u{feff},1".to_string())]
        );
        assert_eq!(
            part_file(b"7\t\xEF\xBB\xBF,1\n", StreamIndex::NLINE_MAPPER),
            vec![(1, "\u{feff},1".to_string())]
        );
        // A record keeps every byte: a key may start with U+FEFF.
        assert_eq!(
            texts(b"\xEF\xBB\xBFkey\tetag\n", StreamIndex::SHELL),
            vec![(1, "\u{feff}key\tetag".to_string())]
        );
    }

    #[test]
    fn offsets_are_dropped_in_a_stream() {
        assert_eq!(
            texts(b"0\t/,0\n4\t,000/\n", StreamIndex::NLINE_MAPPER),
            vec![(1, "/,0".to_string()), (2, ",000/".to_string())]
        );
    }

    #[test]
    fn a_stream_line_without_offset_is_an_input_error() {
        let result = lines(b"/,0\n", StreamIndex::NLINE_MAPPER);
        assert!(
            matches!(&result[0], Err(Error::Input { line: 1, message }) if message.contains("offset"))
        );
    }

    #[test]
    fn invalid_utf8_names_the_line_and_stops() {
        let result = lines(b"ok\nbad\xff\nnever\n", StreamIndex::SHELL);
        assert_eq!(result.len(), 2);
        assert!(
            matches!(&result[1], Err(Error::Input { line: 2, message }) if message.contains("UTF-8"))
        );
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(lines(b"", StreamIndex::SHELL).is_empty());
    }

    fn number(text: &str) -> Result<u64, String> {
        text.parse::<u64>()
            .map_err(|e| format!("field 1 (n) {text:?}: {e}"))
    }

    #[test]
    fn records_come_back_in_order_from_a_spool_on_disk() {
        let count = 300_000u64;
        let input: String = (1..=count).map(|n| format!("{n}\n")).collect();
        let records =
            checked_records(input.as_bytes(), StreamIndex::SHELL, number).expect("records");
        assert!(
            records.lines.reader.get_ref().is_rolled(),
            "spooled to a file"
        );
        assert_eq!(records.size_hint(), (300_000, Some(300_000)));
        let mut expected = 1;
        for record in records {
            assert_eq!(record.expect("record"), expected);
            expected += 1;
        }
        assert_eq!(expected, count + 1);
    }

    #[test]
    fn a_bad_last_line_fails_before_any_record_is_handed_out() {
        let mut input: String = (1..=200_000u64).map(|n| format!("{n}\n")).collect();
        input.push_str("12x\n");
        let parsed = std::cell::Cell::new(0u64);
        let counting = |text: &str| {
            parsed.set(parsed.get() + 1);
            number(text)
        };
        match checked_records(input.as_bytes(), StreamIndex::SHELL, counting) {
            Err(Error::Input { line, message }) => {
                assert_eq!(line, 200_001);
                assert!(message.contains("field 1 (n)"), "{message}");
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a bad line was accepted"),
        }
        // Every line was checked once, none handed to the task.
        assert_eq!(parsed.get(), 200_001);
    }

    #[test]
    fn a_record_ending_with_cr_and_line_numbers_survive_the_spool() {
        let mut spool =
            Spool::check_all(&b"0\ta\r\r\n7\tb\n"[..], StreamIndex::NLINE_MAPPER, |_| {
                Ok(())
            })
            .expect("spool");
        assert_eq!(spool.len(), 2);
        assert!(!spool.on_disk());
        {
            let mut writer = spool.writer();
            writer.push(9, "c").expect("push");
            writer.finish().expect("finish");
        }
        let lines: Vec<(u64, String)> = spool
            .into_lines()
            .expect("lines")
            .map(|l| l.map(|l| (l.number, l.text)).expect("line"))
            .collect();
        assert_eq!(
            lines,
            vec![
                (1, "a\r".to_string()),
                (2, "b".to_string()),
                (9, "c".to_string())
            ]
        );
    }
}
