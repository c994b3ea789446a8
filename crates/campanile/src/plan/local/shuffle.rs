//! The shuffle of a local job: every map output line is split into key and value
//! (`TextOutputReader`), sent to reducer `hash(key) % R` (`HashPartitioner`), and each
//! reducer's records are sorted by key bytes with an external sort, so that a
//! reducer reads every record of a key together, as `PipeReducer` feeds them.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::hadoop_input::read_line;
use crate::plan::local::pool::TaskOutcome;
use crate::plan::local::sort::{ExternalSorter, partition, split_key_value};

/// Partitions and sorts the map outputs; returns one reducer input file per reducer,
/// `key\tvalue\n` per record (the TAB even for an empty value, as `PipeReducer`).
pub(super) fn shuffle(
    maps: &[TaskOutcome],
    reducers: usize,
    step_dir: &Path,
    sort_memory: usize,
) -> Result<Vec<PathBuf>, Error> {
    let shuffle_dir = step_dir.join("shuffle");
    let mut sorters = Vec::new();
    for index in 0..reducers {
        let dir = shuffle_dir.join(format!("partition-{index:05}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        sorters.push(ExternalSorter::new(sort_memory / reducers.max(1), &dir));
    }
    let mut line = Vec::new();
    for map in maps {
        let file = File::open(&map.output)
            .map_err(|e| Error::io(format!("reading {}", map.output.display()), e))?;
        let mut reader = BufReader::new(file);
        while read_map_line(&mut reader, &mut line)? {
            let (key, value) = split_key_value(&line);
            sorters[partition(key, reducers)].push(key, value)?;
        }
    }
    let mut inputs = Vec::new();
    for (index, sorter) in sorters.into_iter().enumerate() {
        let path = shuffle_dir.join(format!("reduce-{index:05}.in"));
        let context = || format!("writing {}", path.display());
        let mut out = BufWriter::new(File::create(&path).map_err(|e| Error::io(context(), e))?);
        for record in sorter.finish()? {
            let (key, value) = record?;
            out.write_all(&key)
                .and_then(|()| out.write_all(b"\t"))
                .and_then(|()| out.write_all(&value))
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io(context(), e))?;
        }
        out.flush().map_err(|e| Error::io(context(), e))?;
        inputs.push(path);
    }
    Ok(inputs)
}

/// Reads one output line of a task (`\n`-terminated; `TextOutputReader` uses
/// `LineReader`, so `\r\n` and `\r` end lines too).
fn read_map_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> Result<bool, Error> {
    read_line(reader, line)
        .map(|consumed| consumed > 0)
        .map_err(|e| Error::io("reading task output", e))
}
