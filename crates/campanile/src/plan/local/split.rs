//! Hadoop's input side for the local runner: which files a step reads
//! (`FileInputFormat`: a file, or the non-hidden files of a directory), how
//! `LineRecordReader` cuts them into lines (`\n`, `\r\n` or `\r`; a UTF-8 BOM at offset
//! 0 is dropped; a last line without terminator counts), and how `NLineInputFormat`
//! groups every N lines of one file into a split. See docs/streaming.md §1.
//!
//! Nothing here holds a value per line or per split: the runner counts the lines
//! ([`count_lines`]) to size its splits and then cuts them one at a time
//! ([`nline_splits`]), so the plan's small splits of a billion-line input are never
//! built only to be counted.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::error::Error;
use crate::hadoop_input::read_line;

/// N consecutive lines of one file: what one map task reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The file.
    pub file: PathBuf,
    /// Offset of the first line.
    pub start: u64,
    /// Bytes from `start` to the end of the last line (terminator included).
    pub length: u64,
    /// Number of lines.
    pub lines: u64,
}

/// Counts the lines of every file (as `LineRecordReader` cuts them), holding nothing
/// per line or per split: what the local runner needs to size its splits.
pub fn count_lines(files: &[PathBuf]) -> Result<u64, Error> {
    let mut total = 0;
    let mut line = Vec::new();
    for file in files {
        let handle =
            File::open(file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        let mut reader = BufReader::with_capacity(256 * 1024, handle);
        while read_line(&mut reader, &mut line)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?
            > 0
        {
            total += 1;
        }
    }
    Ok(total)
}

/// Cuts every file into splits of `lines_per_map` lines (NLineInputFormat), one split
/// at a time as the iterator is read.
pub fn nline_splits(files: &[PathBuf], lines_per_map: u64) -> NLineSplits {
    NLineSplits {
        files: files.to_vec(),
        next_file: 0,
        lines_per_map: lines_per_map.max(1),
        current: None,
        line: Vec::new(),
    }
}

/// The splits of [`nline_splits`], read lazily: it holds one open file and one line.
pub struct NLineSplits {
    files: Vec<PathBuf>,
    next_file: usize,
    lines_per_map: u64,
    /// The file being cut, its reader and the offset reached.
    current: Option<(PathBuf, BufReader<File>, u64)>,
    line: Vec<u8>,
}

impl NLineSplits {
    fn next_split(&mut self) -> Result<Option<Split>, Error> {
        loop {
            let Some((file, reader, offset)) = self.current.as_mut() else {
                let Some(file) = self.files.get(self.next_file).cloned() else {
                    return Ok(None);
                };
                self.next_file += 1;
                let handle = File::open(&file)
                    .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
                self.current = Some((file, BufReader::with_capacity(256 * 1024, handle), 0));
                continue;
            };
            let mut split = Split {
                file: file.clone(),
                start: *offset,
                length: 0,
                lines: 0,
            };
            while split.lines < self.lines_per_map {
                let consumed = read_line(reader, &mut self.line)
                    .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
                if consumed == 0 {
                    break;
                }
                split.length += consumed;
                split.lines += 1;
                *offset += consumed;
            }
            if split.lines < self.lines_per_map {
                // The end of this file: splits never span files.
                self.current = None;
            }
            if split.lines > 0 {
                return Ok(Some(split));
            }
        }
    }
}

impl Iterator for NLineSplits {
    type Item = Result<Split, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let split = self.next_split().transpose();
        if matches!(split, Some(Err(_))) {
            self.current = None;
            self.next_file = self.files.len();
        }
        split
    }
}

/// Writes a split as a mapper's stdin: `<byte offset>\t<line>\n` per line.
pub fn feed_split(
    split: &Split,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), Error> {
    let context = || format!("reading {}", split.file.display());
    let mut handle = File::open(&split.file).map_err(|e| Error::io(context(), e))?;
    handle
        .seek(SeekFrom::Start(split.start))
        .map_err(|e| Error::io(context(), e))?;
    let mut reader = BufReader::new(handle.take(split.length));
    let mut line = Vec::new();
    let mut offset = split.start;
    let mut record = Vec::new();
    loop {
        let consumed = read_line(&mut reader, &mut line).map_err(|e| Error::io(context(), e))?;
        if consumed == 0 {
            return Ok(());
        }
        let text = if offset == 0 {
            line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line)
        } else {
            &line[..]
        };
        record.clear();
        record.extend_from_slice(offset.to_string().as_bytes());
        record.push(b'\t');
        record.extend_from_slice(text);
        record.push(b'\n');
        if sink(&record).is_err() {
            // The task stopped reading (it exited): its exit status tells the rest.
            return Ok(());
        }
        offset += consumed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hadoop_input::input_files;

    fn fed(split: &Split) -> String {
        let mut out = Vec::new();
        feed_split(split, &mut |bytes| {
            out.extend_from_slice(bytes);
            Ok(())
        })
        .expect("feed");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn the_spec_vector_one_line_per_map() {
        // streaming.md §9 vector 1
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("input");
        std::fs::write(&file, b"a\nbb\r\n\nccc").expect("write");
        let splits: Vec<Split> = nline_splits(&[file], 1)
            .collect::<Result<_, _>>()
            .expect("splits");
        let stdins: Vec<String> = splits.iter().map(fed).collect();
        assert_eq!(stdins, vec!["0\ta\n", "2\tbb\n", "6\t\n", "7\tccc\n"]);
    }

    #[test]
    fn splits_never_span_files_and_keep_n_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "1\n2\n3\n4\n5\n").expect("write");
        std::fs::write(&b, "x\ry\n").expect("write");
        let splits: Vec<Split> = nline_splits(&[a, b], 2)
            .collect::<Result<_, _>>()
            .expect("splits");
        let lines: Vec<u64> = splits.iter().map(|s| s.lines).collect();
        assert_eq!(lines, vec![2, 2, 1, 2]);
        assert_eq!(fed(&splits[1]), "4\t3\n6\t4\n");
        assert_eq!(fed(&splits[3]), "0\tx\n2\ty\n");
    }

    #[test]
    fn a_bom_at_the_start_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bom");
        std::fs::write(&file, b"\xEF\xBB\xBF/,0\n,1\n").expect("write");
        let splits: Vec<Split> = nline_splits(&[file], 10)
            .collect::<Result<_, _>>()
            .expect("splits");
        assert_eq!(fed(&splits[0]), "0\t/,0\n7\t,1\n");
    }

    #[test]
    fn directories_skip_hidden_files_and_refuse_subdirectories() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("part-00001"), "b\n").expect("write");
        std::fs::write(dir.path().join("part-00000"), "a\n").expect("write");
        std::fs::write(dir.path().join("_SUCCESS"), "").expect("write");
        std::fs::write(dir.path().join(".crc"), "").expect("write");
        let files = input_files(dir.path()).expect("files");
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().expect("name").to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["part-00000", "part-00001"]);
        std::fs::create_dir(dir.path().join("nested")).expect("mkdir");
        assert!(input_files(dir.path()).is_err());
    }

    #[test]
    fn lines_are_counted_and_splits_cut_lazily() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let text: String = (0..100_000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&a, &text).expect("write");
        std::fs::write(&b, "x\r\ny\rz").expect("write");
        assert_eq!(
            count_lines(&[a.clone(), b.clone()]).expect("count"),
            100_003
        );
        // The first split comes without cutting the rest.
        let mut splits = nline_splits(&[a.clone(), b.clone()], 10);
        let first = splits.next().expect("a split").expect("split");
        assert_eq!((first.start, first.lines, first.length), (0, 10, 20));
        let rest: Vec<Split> = splits.collect::<Result<_, _>>().expect("splits");
        assert_eq!(rest.len(), 9_999 + 1);
        assert_eq!(rest.iter().map(|s| s.lines).sum::<u64>(), 100_003 - 10);
        // A file whose length is a multiple of N ends without an empty split.
        let exact: Vec<Split> = nline_splits(&[a], 50_000)
            .collect::<Result<_, _>>()
            .expect("splits");
        assert_eq!(exact.len(), 2);
        let last = rest.last().expect("last");
        assert_eq!((last.file.clone(), last.lines), (b, 3));
    }

    #[test]
    fn a_missing_file_is_an_error_and_ends_the_splits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut splits = nline_splits(&[dir.path().join("gone")], 1);
        assert!(matches!(splits.next(), Some(Err(_))));
        assert!(splits.next().is_none());
        assert!(count_lines(&[dir.path().join("gone")]).is_err());
    }
}
