//! Hadoop's input side, as far as more than the local runner needs it: which files an
//! input path stands for (`FileInputFormat`: a file, or the non-hidden files of a
//! directory) and how `LineReader` cuts bytes into lines (`\n`, `\r\n` or `\r`).
//! The local runner's splits, the native diff and the clean-up of a run's uploads all
//! read job inputs and outputs this way. See docs/streaming.md.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The files a step reads from `path`: the file itself, or the files of a directory
/// whose names do not start with `_` or `.`, in name order. A directory inside the
/// directory is an error, as in Hadoop (`Not a file`).
pub fn input_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let metadata = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("input path {}", path.display()), e))?;
    if metadata.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path)
        .map_err(|e| Error::io(format!("listing input {}", path.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing input {}", path.display()), e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let entry_path = entry.path();
        if entry_path.is_dir() {
            return Err(Error::Usage(format!(
                "Not a file: {} (inputs are files or directories of files)",
                entry_path.display()
            )));
        }
        files.push(entry_path);
    }
    files.sort();
    Ok(files)
}

/// Reads one line (without its terminator) into `line`; returns the bytes consumed,
/// 0 at the end of the input.
pub fn read_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> std::io::Result<u64> {
    line.clear();
    let mut consumed = 0u64;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(consumed);
        }
        match buffer.iter().position(|b| *b == b'\n' || *b == b'\r') {
            Some(at) => {
                let terminator = buffer[at];
                line.extend_from_slice(&buffer[..at]);
                reader.consume(at + 1);
                consumed += at as u64 + 1;
                if terminator == b'\r' {
                    let next = reader.fill_buf()?;
                    if next.first() == Some(&b'\n') {
                        reader.consume(1);
                        consumed += 1;
                    }
                }
                return Ok(consumed);
            }
            None => {
                let length = buffer.len();
                line.extend_from_slice(buffer);
                reader.consume(length);
                consumed += length as u64;
            }
        }
    }
}
