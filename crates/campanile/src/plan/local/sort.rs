//! The shuffle of the local runner: Hadoop's `HashPartitioner` to pick a reducer, and
//! an external merge sort that orders records by the raw bytes of their key (unsigned,
//! shorter prefix first, as `Text.Comparator`) with bounded memory: records are sorted
//! in memory up to a limit, spilled to disk as sorted runs, and merged, at most
//! [`MERGE_FAN_IN`] runs (open files) at a time, in passes when there are more. Records with
//! equal keys keep their arrival order (Hadoop guarantees none; tests must not depend
//! on it, but a stable order makes runs reproducible).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Java's `WritableComparator.hashBytes` over signed bytes, as `Text.hashCode`.
pub fn java_hash(bytes: &[u8]) -> i32 {
    bytes.iter().fold(1i32, |hash, b| {
        hash.wrapping_mul(31).wrapping_add(i32::from(*b as i8))
    })
}

/// `HashPartitioner.getPartition`: `(hash & Integer.MAX_VALUE) % reducers`.
pub fn partition(key: &[u8], reducers: usize) -> usize {
    (java_hash(key) & i32::MAX) as usize % reducers.max(1)
}

/// Splits a streaming output line into key and value at the first TAB; a line
/// without TAB is all key with an empty value (`TextOutputReader.splitKeyVal`).
pub fn split_key_value(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|b| *b == b'\t') {
        Some(at) => (&line[..at], &line[at + 1..]),
        None => (line, &[]),
    }
}

type Record = (Vec<u8>, Vec<u8>);

/// A run's head record in the merge: key, run index (the tie-break), value.
type Head = Reverse<(Vec<u8>, usize, Vec<u8>)>;

/// Run files merged at once, at most: each is an open file. With more runs than this,
/// runs are merged in passes (groups of this many into one longer run, until this many
/// are left), so a sort of any size keeps far below the usual limit of 1,024 open
/// files (a diff merges two sorts at once). 64 runs of the default 32 MiB each are
/// 2 GiB of records per pass level.
pub const MERGE_FAN_IN: usize = 64;

/// Sorts records by key with at most `memory_limit` bytes of records in memory.
pub struct ExternalSorter {
    memory_limit: usize,
    fan_in: usize,
    directory: PathBuf,
    buffer: Vec<Record>,
    buffered: usize,
    runs: Vec<PathBuf>,
    /// Run files written so far (their names).
    written: usize,
}

impl ExternalSorter {
    /// A sorter that spills into `directory`.
    pub fn new(memory_limit: usize, directory: &Path) -> Self {
        ExternalSorter {
            memory_limit: memory_limit.max(1),
            fan_in: MERGE_FAN_IN,
            directory: directory.to_path_buf(),
            buffer: Vec::new(),
            buffered: 0,
            runs: Vec::new(),
            written: 0,
        }
    }

    /// The same sorter merging at most `fan_in` runs at once (at least 2).
    pub fn with_fan_in(mut self, fan_in: usize) -> Self {
        self.fan_in = fan_in.max(2);
        self
    }

    /// Adds a record.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.buffered += key.len() + value.len() + 64;
        self.buffer.push((key.to_vec(), value.to_vec()));
        if self.buffered >= self.memory_limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Number of sorted runs written to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    fn next_run_path(&mut self) -> PathBuf {
        let path = self.directory.join(format!("run-{:05}", self.written));
        self.written += 1;
        path
    }

    fn spill(&mut self) -> Result<(), Error> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.buffer.sort_by(|a, b| a.0.cmp(&b.0));
        let path = self.next_run_path();
        let mut out = RunWriter::create(&path)?;
        for (key, value) in self.buffer.drain(..) {
            out.write(&key, &value)?;
        }
        out.finish()?;
        self.buffered = 0;
        self.runs.push(path);
        Ok(())
    }

    /// Ends the input and returns the records in key order.
    pub fn finish(mut self) -> Result<Sorted, Error> {
        if self.runs.is_empty() {
            self.buffer.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(Sorted::Memory(std::mem::take(&mut self.buffer).into_iter()));
        }
        self.spill()?;
        // The records are all on disk: give the buffer's memory back for the merge.
        self.buffer = Vec::new();
        let mut passes = 0;
        while self.runs.len() > self.fan_in {
            self.merge_pass()?;
            passes += 1;
        }
        Ok(Sorted::Merge {
            merge: Merge::open(&self.runs)?,
            passes,
            _runs: self.runs,
        })
    }

    /// Merges every group of `fan_in` consecutive runs into one run (consecutive, and
    /// the merged run in their place, so that equal keys keep their arrival order).
    fn merge_pass(&mut self) -> Result<(), Error> {
        let runs = std::mem::take(&mut self.runs);
        for group in runs.chunks(self.fan_in) {
            if let [single] = group {
                self.runs.push(single.clone());
                continue;
            }
            let path = self.next_run_path();
            let mut out = RunWriter::create(&path)?;
            for record in Merge::open(group)? {
                let (key, value) = record?;
                out.write(&key, &value)?;
            }
            out.finish()?;
            for merged in group {
                std::fs::remove_file(merged)
                    .map_err(|e| Error::io(format!("removing sort run {}", merged.display()), e))?;
            }
            self.runs.push(path);
        }
        Ok(())
    }
}

/// Writes a sorted run: per record, key and value, each as a little-endian u64 length
/// and the bytes.
struct RunWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RunWriter {
    fn create(path: &Path) -> Result<Self, Error> {
        let file = File::create(path)
            .map_err(|e| Error::io(format!("writing sort run {}", path.display()), e))?;
        Ok(RunWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        for field in [key, value] {
            self.out
                .write_all(&(field.len() as u64).to_le_bytes())
                .and_then(|()| self.out.write_all(field))
                .map_err(|e| Error::io(format!("writing sort run {}", self.path.display()), e))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), Error> {
        self.out
            .flush()
            .map_err(|e| Error::io(format!("writing sort run {}", self.path.display()), e))
    }
}

fn read_record<R: Read>(reader: &mut R) -> Result<Option<Record>, Error> {
    let mut fields = Vec::with_capacity(2);
    for index in 0..2 {
        let mut length = [0u8; 8];
        match reader.read_exact(&mut length) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && index == 0 => {
                return Ok(None);
            }
            Err(e) => return Err(Error::io("reading a sort run", e)),
        }
        let mut field = vec![0u8; usize::try_from(u64::from_le_bytes(length)).unwrap_or(0)];
        reader
            .read_exact(&mut field)
            .map_err(|e| Error::io("reading a sort run", e))?;
        fields.push(field);
    }
    let value = fields.pop().unwrap_or_default();
    let key = fields.pop().unwrap_or_default();
    Ok(Some((key, value)))
}

/// A k-way merge of sorted runs, one open file each; ties go to the earlier run, so
/// the merge is stable.
pub struct Merge {
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Head>,
}

impl Merge {
    fn open(runs: &[PathBuf]) -> Result<Merge, Error> {
        let mut readers = Vec::with_capacity(runs.len());
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (index, path) in runs.iter().enumerate() {
            let file = File::open(path)
                .map_err(|e| Error::io(format!("reading sort run {}", path.display()), e))?;
            let mut reader = BufReader::new(file);
            if let Some((key, value)) = read_record(&mut reader)? {
                heap.push(Reverse((key, index, value)));
            }
            readers.push(reader);
        }
        Ok(Merge { readers, heap })
    }

    /// Runs open in this merge.
    pub fn width(&self) -> usize {
        self.readers.len()
    }
}

impl Iterator for Merge {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((key, index, value)) = self.heap.pop()?;
        match read_record(&mut self.readers[index]) {
            Ok(Some((next_key, next_value))) => {
                self.heap.push(Reverse((next_key, index, next_value)));
            }
            Ok(None) => {}
            Err(error) => return Some(Err(error)),
        }
        Some(Ok((key, value)))
    }
}

/// Records in key order.
pub enum Sorted {
    /// Everything fit in memory.
    Memory(std::vec::IntoIter<Record>),
    /// The merge of the last (at most [`MERGE_FAN_IN`]) runs.
    Merge {
        /// The merge.
        merge: Merge,
        /// Merge passes made before it (0 when the runs fit one merge).
        passes: usize,
        /// Kept so the run files outlive the merge.
        _runs: Vec<PathBuf>,
    },
}

impl Iterator for Sorted {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Sorted::Memory(records) => records.next().map(Ok),
            Sorted::Merge { merge, .. } => merge.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_text_hash_code() {
        // new Text("a").hashCode() == 31 + 97 == 128; "" hashes to 1.
        assert_eq!(java_hash(b""), 1);
        assert_eq!(java_hash(b"a"), 128);
        assert_eq!(java_hash(b"ab"), 128 * 31 + 98);
        // signed bytes: 0xff is -1
        assert_eq!(java_hash(&[0xff]), 31 - 1);
        assert_eq!(partition(b"anything", 1), 0);
        assert!(partition(b"key", 7) < 7);
    }

    #[test]
    fn keys_and_values() {
        assert_eq!(split_key_value(b"k\tv\tw"), (&b"k"[..], &b"v\tw"[..]));
        assert_eq!(split_key_value(b"k"), (&b"k"[..], &b""[..]));
        assert_eq!(split_key_value(b""), (&b""[..], &b""[..]));
    }

    fn sorted(limit: usize, records: &[(&str, &str)]) -> (Vec<(String, String)>, usize) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = ExternalSorter::new(limit, dir.path());
        for (key, value) in records {
            sorter.push(key.as_bytes(), value.as_bytes()).expect("push");
        }
        let runs = sorter.spilled_runs();
        let out = sorter
            .finish()
            .expect("finish")
            .map(|r| {
                let (k, v) = r.expect("record");
                (
                    String::from_utf8(k).expect("utf8"),
                    String::from_utf8(v).expect("utf8"),
                )
            })
            .collect();
        (out, runs)
    }

    #[test]
    fn byte_order_shorter_prefix_first_and_stable() {
        let records = [
            ("b", "1"),
            ("a", "2"),
            ("b", ""),
            ("ab", "3"),
            ("é", "4"),
            ("B", "5"),
        ];
        let expected: Vec<(String, String)> = [
            ("B", "5"),
            ("a", "2"),
            ("ab", "3"),
            ("b", "1"),
            ("b", ""),
            ("é", "4"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (in_memory, runs) = sorted(1 << 20, &records);
        assert_eq!(runs, 0);
        assert_eq!(in_memory, expected);
        // A limit of one record per run: everything goes through the merge.
        let (merged, runs) = sorted(1, &records);
        assert!(runs >= 5, "{runs} runs");
        assert_eq!(merged, expected);
    }

    #[test]
    fn many_records_through_small_runs() {
        let records: Vec<(String, String)> = (0..5000)
            .map(|i| (format!("{:05}", (i * 7919) % 5000), i.to_string()))
            .collect();
        let borrowed: Vec<(&str, &str)> = records
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (out, runs) = sorted(4096, &borrowed);
        assert!(runs > 10);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        let mut expected: Vec<&str> = borrowed.iter().map(|(k, _)| *k).collect();
        expected.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn many_runs_merge_in_passes_within_the_fan_in() {
        // 50 keys in 1-record runs, merged 3 at a time: 50 → 17 → 6 → 2 runs, then
        // the last merge; equal keys (every key 5 times) keep their arrival order.
        let records: Vec<(String, String)> = (0..50)
            .map(|i| (format!("k{:02}", (i * 7) % 10), format!("{i:02}")))
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = ExternalSorter::new(1, dir.path()).with_fan_in(3);
        for (key, value) in &records {
            sorter.push(key.as_bytes(), value.as_bytes()).expect("push");
        }
        assert_eq!(sorter.spilled_runs(), 50);
        let sorted = sorter.finish().expect("finish");
        let Sorted::Merge { merge, passes, .. } = &sorted else {
            panic!("spilled runs are merged");
        };
        assert_eq!(*passes, 3);
        assert!(merge.width() <= 3, "{} runs open", merge.width());
        // The merged-away runs are gone: only the last merge's are left on disk.
        let left = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(left, merge.width());
        let out: Vec<(String, String)> = sorted
            .map(|r| {
                let (k, v) = r.expect("record");
                (
                    String::from_utf8(k).expect("utf8"),
                    String::from_utf8(v).expect("utf8"),
                )
            })
            .collect();
        let mut expected = records.clone();
        expected.sort_by(|a, b| a.0.cmp(&b.0)); // stable: arrival order within a key
        assert_eq!(out, expected);
    }

    #[test]
    fn the_default_fan_in_bounds_a_large_sort() {
        let records: Vec<(String, String)> = (0..20_000)
            .map(|i| (format!("{:05}", (i * 7919) % 20_000), i.to_string()))
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        // About 100 records per run: 200 runs, more than MERGE_FAN_IN.
        let mut sorter = ExternalSorter::new(100 * 75, dir.path());
        for (key, value) in &records {
            sorter.push(key.as_bytes(), value.as_bytes()).expect("push");
        }
        assert!(
            sorter.spilled_runs() > MERGE_FAN_IN,
            "{}",
            sorter.spilled_runs()
        );
        let sorted = sorter.finish().expect("finish");
        let Sorted::Merge { merge, passes, .. } = &sorted else {
            panic!("spilled runs are merged");
        };
        assert_eq!(*passes, 1);
        assert!(merge.width() <= MERGE_FAN_IN);
        let keys: Vec<Vec<u8>> = sorted.map(|r| r.expect("record").0).collect();
        let mut expected: Vec<Vec<u8>> = records
            .iter()
            .map(|(k, _)| k.clone().into_bytes())
            .collect();
        expected.sort();
        assert_eq!(keys, expected);
    }
}
