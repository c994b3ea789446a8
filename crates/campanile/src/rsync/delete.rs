//! Delete sync (`rsync --delete`, local runner only): the destination keys (listed
//! under the destination prefix and rewritten into the source's key space by
//! `bucketlist --as-prefix`) that the source listing does not hold are deleted, as
//! destination keys (`<dst prefix><rest>`, [`KeyMap::dst_key`]). They are found by a
//! sort-merge of the two listings with the diff's external sorter (memory does not
//! grow with the buckets: the keys go to a file in the run directory), counted
//! against `--max-delete` ([`MaxDelete`]), and deleted with DeleteObjects in batches
//! of at most [`BATCH`] keys after a HEAD of each (a key rewritten since the listing
//! is kept), each answer's per-key errors checked. The caller runs
//! this only once the plan (listings, diff, copies) has succeeded: a failed run
//! deletes nothing. Every key deleted is written to `_deleted.jsonl` in the run
//! directory ([`DELETED_REPORT`]).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::plan::local::diff::sorted_listing;
use crate::record::ListingRecord;
use crate::s3::Client;
use crate::select::KeyMap;
pub use crate::task::objectdelete::DeleteTally;

pub use crate::task::objectdelete::{BATCH, Deletion};

/// The file of a run directory that lists the keys a `--delete` run deleted.
pub const DELETED_REPORT: &str = "_deleted.jsonl";

pub use crate::task::objectdelete::MaxDelete;

/// The deletions a run found: their listing lines (destination rows, keys in the
/// source's key space) in `file`, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletions {
    /// The listing lines of the keys to delete.
    pub file: PathBuf,
    /// How many.
    pub count: u64,
    /// Objects the destination listing found (what `N%` is a percentage of).
    pub dst_objects: u64,
}

/// Finds the keys of the destination listing (`dst_dir`) that the source listing
/// (`src_dir`) does not hold; sort runs and the result go under `work`. A source skip
/// row still names a key the source holds: its destination key stays. A destination
/// skip row is left alone (what it is cannot be told).
pub fn find(
    src_dir: &Path,
    dst_dir: &Path,
    work: &Path,
    memory: usize,
) -> Result<Deletions, Error> {
    let mut source = sorted_listing(src_dir, &work.join("src"), memory / 2)?;
    let destination = sorted_listing(dst_dir, &work.join("dst"), memory / 2)?;
    let file = work.join("deletions");
    let context = || format!("writing {}", file.display());
    let mut out = BufWriter::new(File::create(&file).map_err(|e| Error::io(context(), e))?);
    let (mut count, mut dst_objects) = (0u64, 0u64);
    let mut next_src = source.next().transpose()?;
    for record in destination {
        let (key, line) = record?;
        if crate::skip::is_row(&String::from_utf8_lossy(&line)) {
            continue;
        }
        dst_objects += 1;
        while next_src.as_ref().is_some_and(|(src_key, _)| *src_key < key) {
            next_src = source.next().transpose()?;
        }
        if next_src
            .as_ref()
            .is_some_and(|(src_key, _)| *src_key == key)
        {
            continue;
        }
        count += 1;
        out.write_all(&line).map_err(|e| Error::io(context(), e))?;
        out.write_all(b"\n").map_err(|e| Error::io(context(), e))?;
    }
    out.flush().map_err(|e| Error::io(context(), e))?;
    Ok(Deletions {
        file,
        count,
        dst_objects,
    })
}

impl Deletions {
    /// The deletions, in key order, read one at a time.
    pub fn iter(&self) -> Result<impl Iterator<Item = Result<Deletion, Error>> + '_, Error> {
        let context = move || format!("reading {}", self.file.display());
        let reader = BufReader::new(File::open(&self.file).map_err(|e| Error::io(context(), e))?);
        Ok(reader.lines().enumerate().map(move |(number, line)| {
            let line = line.map_err(|e| Error::io(context(), e))?;
            let record = ListingRecord::parse(&line).map_err(|e| {
                Error::Usage(format!("{} line {}: {e}", self.file.display(), number + 1))
            })?;
            Ok(Deletion {
                key: record.key,
                size: record.size,
                etag: record.etag,
            })
        }))
    }

    /// Calls `each` with every deletion, in key order.
    pub fn each(&self, mut each: impl FnMut(Deletion) -> Result<(), Error>) -> Result<(), Error> {
        for deletion in self.iter()? {
            each(deletion?)?;
        }
        Ok(())
    }

    /// Refuses (deleting nothing) when more keys would go than `max` allows.
    pub fn check_limit(&self, max: Option<MaxDelete>) -> Result<(), Error> {
        crate::task::objectdelete::check_limit(self.count, self.dst_objects, max)
    }
}

/// Deletes `deletions` from `bucket` (keys mapped by `keys`) as a cluster's
/// objectdelete does ([`crate::task::objectdelete::delete_keys`]: batches of
/// [`BATCH`], a key rewritten since the listing kept), writing each key deleted to
/// `report` as a JSON line and each key kept or refused to `err`. Returns what was
/// done; a key S3 refused fails the run ([`Error::DeleteFailed`]) once every batch was
/// tried.
pub async fn delete<E: Write>(
    client: &Client,
    bucket: &str,
    keys: &KeyMap,
    deletions: &Deletions,
    report: &Path,
    err: &mut E,
) -> Result<DeleteTally, Error> {
    let context = || format!("writing {}", report.display());
    let mut written = BufWriter::new(File::create(report).map_err(|e| Error::io(context(), e))?);
    let tally = crate::task::objectdelete::delete_keys(
        client,
        (bucket, keys),
        deletions.iter()?,
        CONCURRENCY,
        &mut written,
        |note| writeln!(err, "{note}").map_err(|e| Error::io("writing stderr", e)),
    )
    .await?;
    written.flush().map_err(|e| Error::io(context(), e))?;
    Ok(tally)
}

/// Keys HEADed at once before their DeleteObjects on the local runner.
const CONCURRENCY: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_delete_is_a_count_or_a_percentage() {
        assert_eq!("25".parse(), Ok(MaxDelete::Count(25)));
        assert_eq!("0".parse(), Ok(MaxDelete::Count(0)));
        assert_eq!("10%".parse(), Ok(MaxDelete::Percent(10.0)));
        assert_eq!("2.5%".parse(), Ok(MaxDelete::Percent(2.5)));
        for bad in ["", "-1", "ten", "101%", "-5%", "%", "1e3x", "NaN%"] {
            assert!(bad.parse::<MaxDelete>().is_err(), "{bad}");
        }
        assert_eq!(MaxDelete::Count(7).limit(1000), 7);
        assert_eq!(MaxDelete::Percent(10.0).limit(1000), 100);
        // Rounded down: 10% of 15 objects allows 1, never 2.
        assert_eq!(MaxDelete::Percent(10.0).limit(15), 1);
        assert_eq!(MaxDelete::Percent(100.0).limit(3), 3);
        assert_eq!(MaxDelete::Percent(10.0).to_string(), "10%");
    }

    fn write(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
        let at = dir.join(name);
        std::fs::create_dir_all(&at).expect("mkdir");
        let text: String = rows
            .iter()
            .map(|k| format!("{k}\taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\t3\t2026-11-30 07:00:00\n"))
            .collect();
        std::fs::write(at.join("part-00000"), text).expect("write");
        at
    }

    #[test]
    fn the_destination_keys_the_source_lacks_are_found_and_limited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = write(dir.path(), "src", &["b", "d", "a"]);
        let dst = write(dir.path(), "dst", &["e", "a", "c", "b", "0"]);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        // A tiny memory limit: every row goes through a spilled run.
        let found = find(&src, &dst, &work, 1).expect("find");
        assert_eq!((found.count, found.dst_objects), (3, 5));
        let mut keys = Vec::new();
        found
            .each(|d| {
                keys.push(d.key);
                Ok(())
            })
            .expect("read");
        assert_eq!(keys, ["0", "c", "e"]);
        assert!(found.check_limit(None).is_ok());
        assert!(found.check_limit(Some(MaxDelete::Count(3))).is_ok());
        assert!(found.check_limit(Some(MaxDelete::Percent(60.0))).is_ok());
        for max in [MaxDelete::Count(2), MaxDelete::Percent(59.0)] {
            let error = found.check_limit(Some(max)).expect_err("over the limit");
            assert_eq!(error.exit_code(), 1);
            assert!(error.to_string().contains("3 keys"), "{error}");
        }
    }

    #[test]
    fn a_source_skip_row_keeps_its_destination_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).expect("mkdir");
        // An archived source object is still at the source: its copy must stay.
        std::fs::write(
            src.join("part-00000"),
            "cold\taaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\t9\tskipped:archived:GLACIER\n",
        )
        .expect("write");
        let dst = write(dir.path(), "dst", &["cold", "gone"]);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir");
        let found = find(&src, &dst, &work, 1 << 20).expect("find");
        assert_eq!((found.count, found.dst_objects), (1, 2));
        let mut keys = Vec::new();
        found
            .each(|d| {
                keys.push(d.key);
                Ok(())
            })
            .expect("read");
        assert_eq!(keys, ["gone"]);
    }
}
