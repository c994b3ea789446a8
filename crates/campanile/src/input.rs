//! Reading a task's stdin the way Hadoop's `LineRecordReader` does: lines end with
//! `\n`, `\r\n` or a lone `\r` (only `\n` and `\r\n` are recognised here: a lone `\r`
//! inside a record is data, and keys holding CR are escaped by [`crate::record`]), a
//! UTF-8 byte-order mark at the very start is dropped, and a last line without a
//! newline still counts. Each line is numbered from 1 so that every error can name it.

use std::io::BufRead;

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
}

impl<R: BufRead> InputLines<R> {
    /// Reads `reader` line by line; `index` says whether to drop the offset field.
    pub fn new(reader: R, index: StreamIndex) -> Self {
        InputLines {
            reader,
            index,
            number: 0,
            buffer: Vec::new(),
            done: false,
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
        let mut bytes = self.buffer.as_slice();
        if number == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Input {
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

/// Reads every line of `input` and parses it, before any work starts: a bad line
/// fails the whole task (an input error naming the line) with nothing done.
pub fn parse_all<R: BufRead, T, E: std::fmt::Display>(
    input: R,
    index: StreamIndex,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, Error> {
    let mut records = Vec::new();
    for line in InputLines::new(input, index) {
        let line = line?;
        let record = parse(&line.text).map_err(|e| Error::Input {
            line: line.number,
            message: e.to_string(),
        })?;
        records.push(record);
    }
    Ok(records)
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
    fn bom_is_dropped_at_the_start_only() {
        assert_eq!(
            texts(b"\xEF\xBB\xBF/,0\n\xEF\xBB\xBFx\n", StreamIndex::SHELL),
            vec![(1, "/,0".to_string()), (2, "\u{feff}x".to_string())]
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
}
