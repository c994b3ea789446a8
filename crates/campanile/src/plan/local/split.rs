//! Hadoop's input side for the local runner: which files a step reads
//! (`FileInputFormat`: a file, or the non-hidden files of a directory), how
//! `LineRecordReader` cuts them into lines (`\n`, `\r\n` or `\r`; a UTF-8 BOM at offset
//! 0 is dropped; a last line without terminator counts), and how `NLineInputFormat`
//! groups every N lines of one file into a split. See docs/streaming.md §1.

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

/// Cuts every file into splits of `lines_per_map` lines (NLineInputFormat).
pub fn nline_splits(files: &[PathBuf], lines_per_map: u64) -> Result<Vec<Split>, Error> {
    let lines_per_map = lines_per_map.max(1);
    let mut splits = Vec::new();
    let mut line = Vec::new();
    for file in files {
        let handle =
            File::open(file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        let mut reader = BufReader::new(handle);
        let mut offset = 0;
        let mut current: Option<Split> = None;
        loop {
            let consumed = read_line(&mut reader, &mut line)
                .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
            if consumed == 0 {
                break;
            }
            let split = current.get_or_insert_with(|| Split {
                file: file.clone(),
                start: offset,
                length: 0,
                lines: 0,
            });
            split.length += consumed;
            split.lines += 1;
            offset += consumed;
            if split.lines == lines_per_map {
                splits.extend(current.take());
            }
        }
        splits.extend(current.take());
    }
    Ok(splits)
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
        let splits = nline_splits(&[file], 1).expect("splits");
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
        let splits = nline_splits(&[a, b], 2).expect("splits");
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
        let splits = nline_splits(&[file], 10).expect("splits");
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
}
