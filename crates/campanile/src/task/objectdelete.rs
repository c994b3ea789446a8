//! objectdelete: the delete step of `rsync --delete` on a cluster (EMR, Hadoop), and
//! `--max-delete`, which every runner checks. The task is the single reducer of the
//! step `delete.<dst>.<part file>`: its input is every row of the destination listing
//! with a fifth field, `-` when the source listing has no such key (the rows of
//! `hive/delete.q`). It counts the destination's objects, keeps the rows to delete in a
//! spool file (memory does not grow with the bucket), refuses them all when there are
//! more than `--max-delete` allows (exit 1, nothing deleted), else deletes them with
//! DeleteObjects in batches of at most [`BATCH`] keys, after a HEAD of each key: a key
//! whose ETag is no longer the listed one was rewritten since the listing and is kept.
//! Every key deleted is written to stdout as a JSON record.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures::StreamExt;

use crate::error::{Error, S3Context, S3ResultExt};
use crate::input::{InputLine, InputLines};
use crate::record::{Destination, ListingRecord};
use crate::reporter::{Reporter, counters};
use crate::s3::Client;
use crate::select::KeyMap;
use crate::stream::StreamIndex;

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

// A percentage is parsed between 0 and 100 (never NaN): equality is total.
impl Eq for MaxDelete {}

/// The key of the count lines the mapper writes (`#objects<TAB>N`): two fields, where
/// every row to delete has four (a key's tab is escaped), so no key is mistaken for it.
pub const COUNT_KEY: &str = "#objects";

/// Keys per DeleteObjects request: S3's limit.
pub const BATCH: usize = 1000;

/// One key to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The key in the source's key space (map it with [`KeyMap::dst_key`]).
    pub key: String,
    /// Its size at the destination.
    pub size: u64,
    /// Its ETag at the destination, as listed (no quotes).
    pub etag: String,
}

/// Refuses (deleting nothing) when `count` deletions are more than `max` allows of a
/// destination listing of `dst_objects` objects.
pub fn check_limit(count: u64, dst_objects: u64, max: Option<MaxDelete>) -> Result<(), Error> {
    let Some(max) = max else { return Ok(()) };
    let limit = max.limit(dst_objects);
    if count > limit {
        return Err(Error::DeleteRefused {
            would: count,
            limit,
            max: max.to_string(),
            dst_objects,
        });
    }
    Ok(())
}

/// What the mapper (`--select`) read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selected {
    /// Destination objects (rows that are not skip rows).
    pub objects: u64,
    /// Of them, those the source lacks (written).
    pub deletions: u64,
}

/// The mapper: reads the rows of `hive/delete.q` (a destination listing row and `-`
/// when the source has no such key, else the source's ETag), writes the rows to delete
/// as listing rows and, at the end, `#objects<TAB>N`. A skip row of the destination
/// listing (an object it could not tell) is neither counted nor deleted. Under Hadoop
/// Streaming each row comes after its byte offset (NLineInputFormat): `index` says
/// whether to drop it, as for every other mapper.
pub fn select<R: BufRead, W: Write>(
    input: R,
    index: StreamIndex,
    output: &mut W,
) -> Result<Selected, Error> {
    let io = |e| Error::io("writing stdout", e);
    let mut selected = Selected::default();
    for line in InputLines::new(input, index) {
        let InputLine { number, text } = line?;
        // A destination skip row, with delete.q's fifth field after it.
        let skip_row = text
            .split('\t')
            .nth(3)
            .is_some_and(|mtime| mtime.starts_with(crate::skip::ROW_MARK));
        if text.is_empty() || skip_row {
            continue;
        }
        let mut record = ListingRecord::parse(&text)
            .map_err(|e| Error::Usage(format!("objectdelete --select: line {number}: {e}")))?;
        selected.objects += 1;
        if record.destination == Some(Destination::Absent) {
            record.destination = None;
            writeln!(output, "{}", record.to_line()).map_err(io)?;
            selected.deletions += 1;
        }
    }
    writeln!(output, "{COUNT_KEY}\t{}", selected.objects).map_err(io)?;
    Ok(selected)
}

/// What the reducer does.
#[derive(Debug, Clone)]
pub struct ObjectDeleteOptions {
    /// Destination bucket.
    pub bucket: String,
    /// Maps the rows' (source) keys to destination keys.
    pub keys: KeyMap,
    /// `--max-delete`.
    pub max: Option<MaxDelete>,
    /// Delete nothing; write a record per key that would go.
    pub dry_run: bool,
    /// Keys HEADed at once.
    pub concurrency: usize,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteTally {
    /// Keys deleted.
    pub deleted: u64,
    /// Keys kept because they were rewritten since the listing (another ETag).
    pub kept: u64,
    /// Keys already gone when HEADed.
    pub gone: u64,
}

/// The reducer: reads the mapper's rows and counts, refuses over `--max-delete`
/// (nothing deleted, [`Error::DeleteRefused`]), else deletes ([`delete_keys`]) and
/// writes a record per key deleted to `output`.
pub async fn run<R: BufRead, W: Write, E: Write>(
    input: R,
    output: &mut W,
    reporter: &mut Reporter<E>,
    client: &Client,
    options: &ObjectDeleteOptions,
) -> Result<DeleteTally, Error> {
    let spool_context = "writing objectdelete's spool file";
    let spool = tempfile::tempfile().map_err(|e| Error::io(spool_context, e))?;
    let mut writer = BufWriter::new(spool);
    let (mut objects, mut count) = (0u64, 0u64);
    for (number, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::io("reading stdin", e))?;
        // Streaming gives a reducer `key<TAB>value`: a line the mapper wrote whole.
        let line = line.trim_end_matches('\t');
        if line.is_empty() {
            continue;
        }
        let bad =
            |why: String| Error::Usage(format!("objectdelete: input line {}: {why}", number + 1));
        if let Some((COUNT_KEY, n)) = line.split_once('\t')
            && !n.contains('\t')
        {
            objects += n
                .parse::<u64>()
                .map_err(|_| bad(format!("{COUNT_KEY} count {n:?} is not a number")))?;
            continue;
        }
        ListingRecord::parse(line).map_err(|e| bad(e.to_string()))?;
        writeln!(writer, "{line}").map_err(|e| Error::io(spool_context, e))?;
        count += 1;
    }
    let mut spool = writer
        .into_inner()
        .map_err(|e| Error::io(spool_context, e.into_error()))?;
    check_limit(count, objects, options.max)?;
    spool
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(spool_context, e))?;
    let deletions = BufReader::new(spool).lines().map(|line| {
        let line = line.map_err(|e| Error::io("reading objectdelete's spool file", e))?;
        let record = ListingRecord::parse(&line)
            .map_err(|e| Error::Internal(format!("objectdelete's spool file: {e}")))?;
        Ok(Deletion {
            key: record.key,
            size: record.size,
            etag: record.etag,
        })
    });
    let bucket = options.bucket.clone();
    if options.dry_run {
        let mut tally = DeleteTally::default();
        for deletion in deletions {
            let deletion = deletion?;
            let key = options.keys.dst_key(&deletion.key);
            let line = record_json(&bucket, &key, &deletion, true);
            writeln!(output, "{line}").map_err(|e| Error::io("writing stdout", e))?;
            tally.deleted += 1;
        }
        reporter.finish()?;
        return Ok(tally);
    }
    let mut notes = Vec::new();
    let tally = delete_keys(
        client,
        (&options.bucket, &options.keys),
        deletions,
        options.concurrency,
        output,
        |note| {
            notes.push(note.to_string());
            Ok(())
        },
    )
    .await;
    for note in notes {
        reporter.log(&note)?;
    }
    let tally = tally?;
    for (counter, value) in [
        (counters::DELETED, tally.deleted),
        (counters::DELETE_KEPT, tally.kept),
        (counters::DELETE_GONE, tally.gone),
    ] {
        reporter.counter(&bucket, counter, i64::try_from(value).unwrap_or(i64::MAX))?;
    }
    // The reporter keeps counters until it is flushed: without this, Hadoop never saw
    // them (the first run on the real cluster counted no deletion).
    reporter.finish()?;
    Ok(tally)
}

/// The JSON record of a key deleted (or, `dry_run`, to delete).
pub fn record_json(bucket: &str, key: &str, deletion: &Deletion, dry_run: bool) -> String {
    let mut record = serde_json::json!({
        "deleted": format!("s3://{bucket}/{key}"),
        "key": key,
        "size": deletion.size,
        "etag": deletion.etag,
    });
    if dry_run {
        record["dry_run"] = serde_json::Value::Bool(true);
    }
    record.to_string()
}

/// Deletes `deletions` from `bucket` (keys mapped by `keys`) in batches of [`BATCH`]:
/// first a HEAD of each key of the batch (`concurrency` at once), which keeps a key
/// whose ETag is no longer the listed one (rewritten since the listing: noted, counted
/// `kept`) and passes over one already gone, then one DeleteObjects for the rest. A
/// key rewritten between its HEAD and the DeleteObjects is still deleted: S3's
/// DeleteObjects takes no condition on general purpose buckets. Each key deleted is
/// written to `records` as a JSON line; a key S3 refused is noted, and the run fails
/// ([`Error::DeleteFailed`]) once every batch was tried.
pub async fn delete_keys<W: Write>(
    client: &Client,
    (bucket, keys): (&str, &KeyMap),
    deletions: impl Iterator<Item = Result<Deletion, Error>>,
    concurrency: usize,
    records: &mut W,
    mut note: impl FnMut(&str) -> Result<(), Error>,
) -> Result<DeleteTally, Error> {
    let io = |e| Error::io("writing the deleted keys", e);
    let mut tally = DeleteTally::default();
    let (mut failed, mut first_failure) = (0u64, None);
    // One batch in memory at a time: memory does not grow with the deletions.
    let mut reading = deletions.peekable();
    while reading.peek().is_some() {
        let batch = reading
            .by_ref()
            .take(BATCH)
            .collect::<Result<Vec<Deletion>, Error>>()?;
        let heads = futures::stream::iter(batch.iter().map(|deletion| {
            let key = keys.dst_key(&deletion.key);
            async move {
                let answer = client.head_object().bucket(bucket).key(&key).send().await;
                match answer {
                    Ok(head) => Ok(Some(
                        head.e_tag()
                            .unwrap_or_default()
                            .trim_matches('"')
                            .to_string(),
                    )),
                    Err(e) if crate::s3::http_status(&e) == Some(404) => Ok(None),
                    Err(e) => Err(S3Context::new("HeadObject", bucket, &key).sdk(e)),
                }
            }
        }))
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut pinned = Vec::new();
        for (deletion, head) in batch.iter().zip(heads) {
            let key = keys.dst_key(&deletion.key);
            match head? {
                None => tally.gone += 1,
                Some(etag) if etag != deletion.etag.trim_matches('"') => {
                    tally.kept += 1;
                    note(&format!(
                        "kept s3://{bucket}/{key}: rewritten since the listing (ETag {etag}, listed {})",
                        deletion.etag
                    ))?;
                }
                Some(_) => pinned.push((deletion, key)),
            }
        }
        if pinned.is_empty() {
            continue;
        }
        let objects = pinned
            .iter()
            .map(|(_, key)| {
                ObjectIdentifier::builder()
                    .key(key.as_str())
                    .build()
                    .map_err(|e| Error::Internal(format!("DeleteObjects key: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::Internal(format!("DeleteObjects request: {e}")))?;
        let first_key = pinned
            .first()
            .map(|(_, key)| key.clone())
            .unwrap_or_default();
        let answer = client
            .delete_objects()
            .bucket(bucket)
            .delete(request)
            .send()
            .await
            .context("DeleteObjects", bucket, &first_key)?;
        let refused: BTreeMap<String, String> = answer
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
        for (deletion, key) in pinned {
            if let Some(why) = refused.get(&key) {
                failed += 1;
                let message = format!("DeleteObjects s3://{bucket}/{key}: {why}");
                note(&message)?;
                first_failure.get_or_insert(message);
                continue;
            }
            tally.deleted += 1;
            writeln!(records, "{}", record_json(bucket, &key, deletion, false)).map_err(io)?;
        }
    }
    records.flush().map_err(io)?;
    if let Some(first) = first_failure {
        return Err(Error::DeleteFailed {
            failed,
            deleted: tally.deleted,
            first,
        });
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: &str = "a\t00000000000000000000000000000001\t1\t2026-11-30 07:00:00\t00000000000000000000000000000001\n\
                        gone\t00000000000000000000000000000002\t2\t2026-11-30 07:00:00\t-\n\
                        changed\t00000000000000000000000000000003\t3\t2026-11-30 07:00:00\tffffffffffffffffffffffffffffffff\n\
                        cold\t00000000000000000000000000000004\t4\tskipped:archived:storage class GLACIER needs a restore\t-\n\
                        sub/old\t00000000000000000000000000000005\t5\t2026-11-30 07:00:00\t-\n";

    #[test]
    fn the_mapper_keeps_the_keys_the_source_lacks_and_counts_the_objects() {
        let mut out = Vec::new();
        let selected = select(ROWS.as_bytes(), StreamIndex::SHELL, &mut out).expect("select");
        assert_eq!(
            selected,
            Selected {
                objects: 4,
                deletions: 2
            }
        );
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "gone\t00000000000000000000000000000002\t2\t2026-11-30 07:00:00\n\
             sub/old\t00000000000000000000000000000005\t5\t2026-11-30 07:00:00\n\
             #objects\t4\n"
        );
        let bad = select(
            "a\tnot-a-row\n".as_bytes(),
            StreamIndex::SHELL,
            &mut Vec::new(),
        )
        .expect_err("bad row");
        assert!(bad.to_string().contains("line 1"), "{bad}");
    }

    /// Under Hadoop Streaming (NLineInputFormat) every row comes after its byte offset:
    /// the mapper drops it and selects the same rows (the first run on a real cluster
    /// failed on exactly this: six fields).
    #[test]
    fn under_hadoop_the_mapper_drops_each_rows_byte_offset() {
        let mut offset = 0;
        let mut streamed = String::new();
        for row in ROWS.lines() {
            streamed.push_str(&format!("{offset}\t{row}\n"));
            offset += row.len() + 1;
        }
        let (mut shell, mut hadoop) = (Vec::new(), Vec::new());
        let expected = select(ROWS.as_bytes(), StreamIndex::SHELL, &mut shell).expect("shell");
        let selected =
            select(streamed.as_bytes(), StreamIndex::NLINE_MAPPER, &mut hadoop).expect("hadoop");
        assert_eq!(selected, expected);
        assert_eq!(hadoop, shell);
        // Read as a shell pipe, the offset is a sixth field: refused, naming the line.
        let refused = select(streamed.as_bytes(), StreamIndex::SHELL, &mut Vec::new())
            .expect_err("offsets in a shell pipe");
        assert!(refused.to_string().contains("line 1"), "{refused}");
    }

    /// A client that is never called: the refusal and the dry run make no request.
    fn unused_client() -> Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        Client::from_conf(config)
    }

    fn options(max: Option<MaxDelete>, dry_run: bool) -> ObjectDeleteOptions {
        ObjectDeleteOptions {
            bucket: "dst".into(),
            keys: KeyMap::new("logs/", "mirror/"),
            max,
            dry_run,
            concurrency: 4,
        }
    }

    // Two mappers' output as the reducer gets it: sorted by key, a count line each.
    const REDUCER_INPUT: &str = "#objects\t3\n#objects\t2\n\
                                 logs/gone\t00000000000000000000000000000002\t2\t2026-11-30 07:00:00\n\
                                 logs/sub/old\t00000000000000000000000000000005\t5\t2026-11-30 07:00:00\n";

    #[tokio::test]
    async fn the_reducer_refuses_over_the_limit_of_all_the_mappers_objects() {
        let client = unused_client();
        let mut out = Vec::new();
        let mut reporter = Reporter::new(Vec::new());
        // 2 of 5 objects: 40% allows 2, 39% allows 1.
        let refused = run(
            REDUCER_INPUT.as_bytes(),
            &mut out,
            &mut reporter,
            &client,
            &options(Some(MaxDelete::Percent(39.0)), false),
        )
        .await
        .expect_err("over the limit");
        assert!(
            matches!(
                refused,
                Error::DeleteRefused {
                    would: 2,
                    limit: 1,
                    dst_objects: 5,
                    ..
                }
            ),
            "{refused}"
        );
        assert!(out.is_empty());
        let tally = run(
            REDUCER_INPUT.as_bytes(),
            &mut out,
            &mut reporter,
            &client,
            &options(Some(MaxDelete::Percent(40.0)), true),
        )
        .await
        .expect("dry run");
        assert_eq!(tally.deleted, 2);
        let text = String::from_utf8(out).expect("utf8");
        let keys: Vec<String> = text
            .lines()
            .map(|l| {
                let record: serde_json::Value = serde_json::from_str(l).expect("JSON");
                assert_eq!(record["dry_run"], true);
                record["deleted"].as_str().expect("deleted").to_string()
            })
            .collect();
        assert_eq!(keys, ["s3://dst/mirror/gone", "s3://dst/mirror/sub/old"]);
    }
}
