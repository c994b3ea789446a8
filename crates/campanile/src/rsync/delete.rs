//! Delete sync (`rsync --delete`, local runner only): the destination keys (listed
//! under the destination prefix and rewritten into the source's key space by
//! `bucketlist --as-prefix`) that the source listing does not hold are deleted, as
//! destination keys (`<dst prefix><rest>`, [`KeyMap::dst_key`]). They are found by a
//! sort-merge of the two listings with the diff's external sorter (memory does not
//! grow with the buckets: the keys go to a file in the run directory), counted
//! against `--max-delete` ([`MaxDelete`]), and deleted with DeleteObjects in batches
//! of at most [`BATCH`] keys, each answer's per-key errors checked. The caller runs
//! this only once the plan (listings, diff, copies) has succeeded: a failed run
//! deletes nothing. Every key deleted is written to `_deleted.jsonl` in the run
//! directory ([`DELETED_REPORT`]).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, S3ResultExt};
use crate::plan::local::diff::sorted_listing;
use crate::record::ListingRecord;
use crate::s3::Client;
use crate::select::KeyMap;

/// Keys per DeleteObjects request: S3's limit.
pub const BATCH: usize = 1000;

/// The file of a run directory that lists the keys a `--delete` run deleted.
pub const DELETED_REPORT: &str = "_deleted.jsonl";

/// `--max-delete`: the most deletions a run may make, as a count or as a percentage
/// of the objects the destination listing found. A run that would delete more
/// deletes nothing ([`Error::DeleteRefused`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// At most this many keys.
    Count(u64),
    /// At most this percentage (0 to 100) of the destination listing's objects,
    /// rounded down.
    Percent(f64),
}

impl std::str::FromStr for MaxDelete {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            let percent: f64 = number
                .trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a percentage (N% with 0 <= N <= 100)"))?;
            if !(0.0..=100.0).contains(&percent) {
                return Err(format!("{text:?}: a percentage is between 0% and 100%"));
            }
            return Ok(MaxDelete::Percent(percent));
        }
        text.parse()
            .map(MaxDelete::Count)
            .map_err(|_| format!("{text:?} is neither a count of keys (N) nor a percentage (N%)"))
    }
}

impl std::fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxDelete::Count(n) => write!(f, "{n}"),
            MaxDelete::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl MaxDelete {
    /// The number of keys allowed when the destination listing found `dst_objects`.
    pub fn limit(&self, dst_objects: u64) -> u64 {
        match self {
            MaxDelete::Count(n) => *n,
            // Exact for any bucket below 2^53 objects; rounded down so that the
            // limit is never above what the user allowed.
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            #[allow(clippy::cast_sign_loss)]
            MaxDelete::Percent(p) => ((dst_objects as f64) * p / 100.0).floor() as u64,
        }
    }
}

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

/// One key to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The key in the source's key space (map it with [`KeyMap::dst_key`]).
    pub key: String,
    /// Its size at the destination.
    pub size: u64,
    /// Its ETag at the destination.
    pub etag: String,
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
        let Some(max) = max else { return Ok(()) };
        let limit = max.limit(self.dst_objects);
        if self.count > limit {
            return Err(Error::DeleteRefused {
                would: self.count,
                limit,
                max: max.to_string(),
                dst_objects: self.dst_objects,
            });
        }
        Ok(())
    }
}

/// Deletes `deletions` from `bucket` (keys mapped by `keys`) in batches of [`BATCH`],
/// writing each key deleted to `report` as a JSON line. Returns how many were
/// deleted; a key S3 refused is named on `err`, and the run then fails
/// ([`Error::DeleteFailed`]) once every batch was tried.
pub async fn delete<E: Write>(
    client: &Client,
    bucket: &str,
    keys: &KeyMap,
    deletions: &Deletions,
    report: &Path,
    err: &mut E,
) -> Result<u64, Error> {
    let context = || format!("writing {}", report.display());
    let mut written = BufWriter::new(File::create(report).map_err(|e| Error::io(context(), e))?);
    let (mut deleted, mut failed, mut first_failure) = (0u64, 0u64, None);
    // One batch in memory at a time: memory does not grow with the deletions.
    let mut reading = deletions.iter()?.peekable();
    while reading.peek().is_some() {
        let batch = reading
            .by_ref()
            .take(BATCH)
            .collect::<Result<Vec<Deletion>, Error>>()?;
        let objects = batch
            .iter()
            .map(|d| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(keys.dst_key(&d.key))
                    .build()
                    .map_err(|e| Error::Internal(format!("DeleteObjects key: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::Internal(format!("DeleteObjects request: {e}")))?;
        let first_key = batch
            .first()
            .map(|d| keys.dst_key(&d.key))
            .unwrap_or_default();
        let answer = client
            .delete_objects()
            .bucket(bucket)
            .delete(request)
            .send()
            .await
            .context("DeleteObjects", bucket, &first_key)?;
        let refused: std::collections::BTreeMap<String, String> = answer
            .errors()
            .iter()
            .map(|e| {
                (
                    e.key().unwrap_or_default().to_string(),
                    format!(
                        "{}: {}",
                        e.code().unwrap_or("error"),
                        e.message().unwrap_or_default()
                    ),
                )
            })
            .collect();
        for deletion in &batch {
            let dst_key = keys.dst_key(&deletion.key);
            if let Some(why) = refused.get(&dst_key) {
                failed += 1;
                let message = format!("DeleteObjects s3://{bucket}/{dst_key}: {why}");
                writeln!(err, "{message}").map_err(|e| Error::io("writing stderr", e))?;
                first_failure.get_or_insert(message);
                continue;
            }
            deleted += 1;
            let line = serde_json::json!({
                "deleted": format!("s3://{bucket}/{dst_key}"),
                "key": dst_key,
                "size": deletion.size,
                "etag": deletion.etag,
            });
            writeln!(written, "{line}").map_err(|e| Error::io(context(), e))?;
        }
    }
    written.flush().map_err(|e| Error::io(context(), e))?;
    if let Some(first) = first_failure {
        return Err(Error::DeleteFailed {
            failed,
            deleted,
            first,
        });
    }
    Ok(deleted)
}

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
