//! Object versions (`rsync --all-versions`, `--version-at`): the record that carries a
//! key's version history between the listing and the copy, how the two lists of a
//! ListObjectVersions answer (versions, delete markers) are merged into one history,
//! and how a destination's history is compared with the source's.
//!
//! # The versions record
//!
//! One line per key, so that a key's versions always travel together: whatever splits
//! a step's input (the part file's lines, NLineInputFormat's splits, the local
//! runner's splits), every version of a key reaches one task, which writes them in
//! order. The line is
//!
//! `key versions:N` then, for each of the N versions oldest first,
//! `versionId etag size mtime`
//!
//! (TAB-separated, `2 + 4N` fields). A delete marker has the ETag field
//! [`DELETE_MARKER`] and size 0. `mtime` is the listing's `YYYY-MM-DD HH:MM:SS`
//! (UTC); `versionId` is S3's (`null` for an object written before versioning was
//! enabled). The key is escaped as in every record ([`crate::record::escape_key`]).
//! The second field starts with `versions:`, which no ETag and no skip row does.
//! `bucketlist --all-versions` writes the whole history, `bucketlist --version-at`
//! the one version the key had at that time (N = 1).
//!
//! # Order
//!
//! ListObjectVersions lists a key's versions newest first, but the SDK hands the
//! versions and the delete markers over as two lists: [`merge_newest_first`] merges
//! them by LastModified (newest first; of equal times the one S3 marks latest first,
//! then versions before markers). Versions written within one LastModified tick (S3
//! keeps milliseconds, some servers seconds) cannot be told apart by time: their
//! order between the two lists is a guess, documented in docs/versions.md.
//!
//! # Comparing histories
//!
//! [`compare`] decides what a copy still has to write: when the destination's history
//! (oldest first) is the start of the source's, the rest; otherwise the key is
//! reported, never written. Entries are compared by [`Shape`]: delete marker or not,
//! ETag, size (version ids are the destination's own). Destination versions that share
//! one LastModified tick are compared as a set, since their order cannot be read back.
//!
//! An object written with SSE-KMS, DSSE-KMS or SSE-C (by the request or by the
//! bucket's default encryption) gets an ETag that is not the MD5 of its bytes, so a
//! faithful copy can hold other ETags than its source. When the histories differ only
//! by ETags (same count prefix, delete markers at the same places, same sizes),
//! [`compare`] names the pairs whose ETags differ ([`Remaining::EtagsDiffer`]) for the
//! caller to decide by a HEAD of both versions ([`same_bytes`]): the same when either
//! side's ETag is not an MD5 and both carry the same checksum and size; otherwise the
//! key is diverged. Pairs whose ETags are equal cost nothing.

use std::fmt;

use crate::checksum::{Algorithm, Kind};
use crate::record::{RecordError, escape_key, unescape_key};

/// The ETag field of a delete marker in a versions record.
pub const DELETE_MARKER: &str = "delete-marker";

/// What starts the second field of a versions record.
pub const MARK: &str = "versions:";

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// S3's version id (`null` for an object written before versioning).
    pub version_id: String,
    /// The ETag without quotes; `None` for a delete marker.
    pub etag: Option<String>,
    /// Size in bytes (0 for a delete marker).
    pub size: u64,
    /// Last modified, `YYYY-MM-DD HH:MM:SS` UTC.
    pub mtime: String,
}

impl Version {
    /// True for a delete marker.
    pub fn is_delete_marker(&self) -> bool {
        self.etag.is_none()
    }

    /// What a comparison of histories looks at.
    pub fn shape(&self) -> Shape {
        Shape {
            etag: self.etag.clone(),
            size: self.size,
        }
    }
}

/// A version as histories are compared: delete marker (`etag` `None`) or an object
/// with this ETag and size.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shape {
    /// The ETag without quotes; `None` for a delete marker.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.etag {
            None => f.write_str("a delete marker"),
            Some(etag) => write!(f, "{etag} ({} bytes)", self.size),
        }
    }
}

/// A key's versions, oldest first: one line of the listing with `--all-versions` or
/// `--version-at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionsRecord {
    /// The key (unescaped).
    pub key: String,
    /// Its versions, oldest first.
    pub versions: Vec<Version>,
}

/// True when `line` is a versions record (its second field starts with `versions:`).
pub fn is_versions_line(line: &str) -> bool {
    line.split('\t')
        .nth(1)
        .is_some_and(|field| field.starts_with(MARK))
}

fn field_error(index: usize, name: &str, problem: impl fmt::Display) -> RecordError {
    RecordError(format!("field {} ({name}) {problem}", index + 1))
}

impl VersionsRecord {
    /// Parses a versions line.
    pub fn parse(line: &str) -> Result<Self, RecordError> {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 2 {
            return Err(RecordError(format!(
                "expected a versions record (key, versions:N, then 4 fields per version), \
                 found {} fields",
                fields.len()
            )));
        }
        let key = unescape_key(fields[0]).map_err(|e| field_error(0, "key", e))?;
        if key.is_empty() || key.len() > crate::record::MAX_KEY_BYTES {
            return Err(field_error(0, "key", "must be 1 to 1,024 bytes"));
        }
        let count: usize = fields[1]
            .strip_prefix(MARK)
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                field_error(
                    1,
                    "versions",
                    format!("is not `versions:N` with N >= 1: {:?}", fields[1]),
                )
            })?;
        if fields.len() != 2 + 4 * count {
            return Err(RecordError(format!(
                "`versions:{count}` needs {} TAB-separated fields (key, versions:N, then \
                 versionId, etag, size, mtime per version), found {}",
                2 + 4 * count,
                fields.len()
            )));
        }
        let mut versions = Vec::with_capacity(count);
        for n in 0..count {
            let at = 2 + 4 * n;
            let version_id = fields[at];
            if version_id.is_empty() || version_id.contains(char::is_whitespace) {
                return Err(field_error(
                    at,
                    "versionId",
                    format!("is empty or holds white space: {version_id:?}"),
                ));
            }
            let etag = match fields[at + 1] {
                DELETE_MARKER => None,
                etag if crate::record::is_valid_etag(etag) => Some(etag.to_string()),
                other => {
                    return Err(field_error(
                        at + 1,
                        "etag",
                        format!("is neither an S3 ETag nor `{DELETE_MARKER}`: {other:?}"),
                    ));
                }
            };
            let size_text = fields[at + 2];
            let size: u64 = size_text
                .parse()
                .ok()
                .filter(|_| size_text.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    field_error(at + 2, "size", format!("is not a number: {size_text:?}"))
                })?;
            let mtime = fields[at + 3];
            if crate::record::mtime_seconds(mtime).is_none() || mtime.len() != 19 {
                return Err(field_error(
                    at + 3,
                    "mtime",
                    format!("is not a time `YYYY-MM-DD HH:MM:SS`: {mtime:?}"),
                ));
            }
            versions.push(Version {
                version_id: version_id.to_string(),
                etag,
                size,
                mtime: mtime.to_string(),
            });
        }
        Ok(VersionsRecord { key, versions })
    }

    /// The record as one line (no newline).
    pub fn to_line(&self) -> String {
        let mut line = format!("{}\t{MARK}{}", escape_key(&self.key), self.versions.len());
        for version in &self.versions {
            line.push_str(&format!(
                "\t{}\t{}\t{}\t{}",
                version.version_id,
                version.etag.as_deref().unwrap_or(DELETE_MARKER),
                version.size,
                version.mtime
            ));
        }
        line
    }

    /// The newest version (the last).
    pub fn newest(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// Bytes of all its versions.
    pub fn bytes(&self) -> u64 {
        self.versions.iter().map(|v| v.size).sum()
    }

    /// Its delete markers.
    pub fn delete_markers(&self) -> u64 {
        self.versions
            .iter()
            .filter(|v| v.is_delete_marker())
            .count() as u64
    }
}

/// One entry of a ListObjectVersions page, as [`merge_newest_first`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The version.
    pub version: Version,
    /// LastModified in milliseconds since the epoch.
    pub millis: i64,
    /// S3 marks it the key's latest.
    pub is_latest: bool,
}

/// Merges one key's versions and delete markers, each list newest first as S3 gives
/// them, into one list newest first: by LastModified, then the latest first, then
/// versions before markers (a stable merge: each list keeps its own order).
pub fn merge_newest_first(versions: Vec<Listed>, markers: Vec<Listed>) -> Vec<Listed> {
    let mut merged = Vec::with_capacity(versions.len() + markers.len());
    let mut versions = versions.into_iter().peekable();
    let mut markers = markers.into_iter().peekable();
    loop {
        let take_version = match (versions.peek(), markers.peek()) {
            (Some(v), Some(m)) => {
                v.millis > m.millis || (v.millis == m.millis && (v.is_latest || !m.is_latest))
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_version {
            versions.next()
        } else {
            markers.next()
        };
        merged.extend(next);
    }
    merged
}

/// What a copy still has to write for a key, given the destination's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remaining {
    /// The destination's history is the start of the source's: the versions from
    /// this index of the source's on are to be written (the length: none).
    From(usize),
    /// The destination's history is not the start of the source's: why.
    Diverged(String),
    /// The destination's history is the start of the source's but for the ETags of
    /// these pairs of objects of equal sizes (`(source index, destination index)`):
    /// the versions from `from` on are to be written when each pair is proven the same
    /// bytes ([`same_bytes`]); otherwise the key is diverged, `why`.
    EtagsDiffer {
        /// The source index from which on versions are to be written.
        from: usize,
        /// The pairs whose ETags differ, `(source index, destination index)`.
        pairs: Vec<(usize, usize)>,
        /// Why the key is diverged if a pair is not proven.
        why: String,
    },
}

/// Compares the destination's history of a key (oldest first, each with its
/// LastModified tick) with the source's (oldest first). Destination entries of equal
/// ticks are compared as a set with the source entries at their place. When the
/// histories differ only by the ETags of objects of equal sizes, the pairs are named
/// ([`Remaining::EtagsDiffer`]) for the caller to prove or not.
pub fn compare(source: &[Shape], destination: &[(Shape, i64)]) -> Remaining {
    match compare_exactly(source, destination) {
        Remaining::Diverged(why) => match etag_pairs(source, destination) {
            Some((from, pairs)) => Remaining::EtagsDiffer { from, pairs, why },
            None => Remaining::Diverged(why),
        },
        exact => exact,
    }
}

/// Matches the destination's history with the start of the source's as [`compare`]
/// does, but pairs an object of the destination with an object of the source of the
/// same size whatever their ETags (within a tick, after the exact matches): the source
/// index to write from and the pairs whose ETags differ; `None` when even that does
/// not match (a delete marker elsewhere, another size, a longer history).
fn etag_pairs(
    source: &[Shape],
    destination: &[(Shape, i64)],
) -> Option<(usize, Vec<(usize, usize)>)> {
    let mut pairs = Vec::new();
    let mut at = 0;
    let mut start = 0;
    while let Some((_, tick)) = destination.get(start).map(|(s, t)| (s, *t)) {
        let group_len = destination[start..]
            .iter()
            .take_while(|(_, t)| *t == tick)
            .count();
        if at + group_len > source.len() {
            return None;
        }
        let mut used = vec![false; group_len];
        let mut unmatched = Vec::new();
        for (d, (shape, _)) in destination.iter().enumerate().skip(start).take(group_len) {
            match (0..group_len).find(|&i| !used[i] && source[at + i] == *shape) {
                Some(i) => used[i] = true,
                None => unmatched.push(d),
            }
        }
        for d in unmatched {
            let shape = &destination[d].0;
            let i = (0..group_len).find(|&i| {
                let wanted = &source[at + i];
                !used[i]
                    && shape.etag.is_some()
                    && wanted.etag.is_some()
                    && wanted.size == shape.size
            })?;
            used[i] = true;
            pairs.push((at + i, d));
        }
        at += group_len;
        start += group_len;
    }
    Some((at, pairs))
}

/// What a HEAD (in checksum mode) of a version tells about its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag is not the MD5 of its bytes (SSE-KMS, DSSE-KMS, SSE-C).
    pub etag_is_not_md5: bool,
    /// Its checksum, when it has exactly one: algorithm, type (when the answer says),
    /// value as S3 gives it.
    pub checksum: Option<(Algorithm, Option<Kind>, String)>,
}

impl Stored {
    /// The checksum with its type told: the answer's, else composite for a value
    /// ending in `-N`, full-object for any other.
    fn checksum(&self) -> Option<(Algorithm, Kind, &str)> {
        self.checksum.as_ref().map(|(algorithm, kind, value)| {
            let kind = kind.unwrap_or(if value.contains('-') {
                Kind::Composite
            } else {
                Kind::FullObject
            });
            (*algorithm, kind, value.as_str())
        })
    }
}

/// Whether a destination version whose ETag differs from its source version's holds
/// the same bytes, by the strongest proof two HEADs give: ETags that differ prove a
/// difference unless one side's is not an MD5 (SSE-KMS, DSSE-KMS, SSE-C); then the
/// versions are the same when both carry the same checksum (algorithm, type, value:
/// the versions copy writes the source's checksum onto the copy) and the same size.
/// `Err`: why they are not taken for the same.
pub fn same_bytes(source: &Stored, destination: &Stored) -> Result<(), String> {
    if !source.etag_is_not_md5 && !destination.etag_is_not_md5 {
        return Err("both ETags are MD5s of the bytes".to_string());
    }
    if source.size != destination.size {
        return Err(format!(
            "the source has {} bytes, the destination {}",
            source.size, destination.size
        ));
    }
    match (source.checksum(), destination.checksum()) {
        (Some(ours), Some(theirs)) if ours == theirs => Ok(()),
        (Some((a, k, v)), Some((b, l, w))) => Err(format!(
            "their ETags are not MD5s (SSE-KMS or SSE-C) and their checksums differ: \
             the source's {} {} {v}, the destination's {} {} {w}",
            a.as_str(),
            k.as_str(),
            b.as_str(),
            l.as_str()
        )),
        (None, _) | (_, None) => Err(
            "their ETags are not MD5s (SSE-KMS or SSE-C) and no checksum of both can \
             compare them"
                .to_string(),
        ),
    }
}

/// [`compare`] without pairing ETags that differ.
fn compare_exactly(source: &[Shape], destination: &[(Shape, i64)]) -> Remaining {
    let mut at = 0;
    let mut rest = destination;
    while let Some((_, tick)) = rest.first() {
        let group_len = rest.iter().take_while(|(_, t)| t == tick).count();
        let (group, after) = rest.split_at(group_len);
        if at + group_len > source.len() {
            return Remaining::Diverged(format!(
                "the destination holds {} versions, the source {}",
                destination.len(),
                source.len()
            ));
        }
        let mut theirs: Vec<&Shape> = group.iter().map(|(shape, _)| shape).collect();
        let mut ours: Vec<&Shape> = source[at..at + group_len].iter().collect();
        theirs.sort();
        ours.sort();
        if theirs != ours {
            // Name the first difference in order (exact when the tick holds one version).
            let (position, found, wanted) = group
                .iter()
                .zip(&source[at..])
                .enumerate()
                .find(|(_, ((found, _), wanted))| found != *wanted)
                .map_or(
                    (at, &group[0].0, &source[at]),
                    |(i, ((found, _), wanted))| (at + i, found, wanted),
                );
            return Remaining::Diverged(format!(
                "version {} of the destination is {found}, the source's is {wanted}",
                position + 1
            ));
        }
        at += group_len;
        rest = after;
    }
    Remaining::From(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(id: &str, etag: &str, size: u64) -> Version {
        Version {
            version_id: id.into(),
            etag: Some(etag.into()),
            size,
            mtime: "2026-11-30 10:00:00".into(),
        }
    }

    fn marker(id: &str) -> Version {
        Version {
            version_id: id.into(),
            etag: None,
            size: 0,
            mtime: "2026-11-30 10:00:01".into(),
        }
    }

    const A: &str = "0cc175b9c0f1b6a831c399e269772661";
    const B: &str = "92eb5ffee6ae2fec3ad71c777531578f-2";

    #[test]
    fn records_round_trip_and_bad_fields_are_named() {
        let record = VersionsRecord {
            key: "a\tkey".into(),
            versions: vec![object("v1", A, 1), marker("v/2+x"), object("null", B, 9)],
        };
        let line = record.to_line();
        assert!(line.starts_with("a\\tkey\tversions:3\tv1\t"), "{line}");
        assert!(is_versions_line(&line));
        assert_eq!(VersionsRecord::parse(&line).expect("parses"), record);
        assert_eq!(record.delete_markers(), 1);
        assert_eq!(record.bytes(), 10);
        let short = line.rsplit_once('\t').expect("tab").0;
        let error = VersionsRecord::parse(short).expect_err("a field short");
        assert!(error.0.contains("needs 14"), "{error}");
        let bad_etag = line.replace(A, "xyz");
        let error = VersionsRecord::parse(&bad_etag).expect_err("bad etag");
        assert!(error.0.contains("field 4 (etag)"), "{error}");
        let error = VersionsRecord::parse("k\tversions:0").expect_err("none");
        assert!(error.0.contains("field 2 (versions)"), "{error}");
        assert!(!is_versions_line(&format!(
            "k\t{A}\t1\t2026-11-30 10:00:00"
        )));
    }

    fn listed(id: &str, millis: i64, latest: bool, is_marker: bool) -> Listed {
        Listed {
            version: if is_marker {
                marker(id)
            } else {
                object(id, A, 1)
            },
            millis,
            is_latest: latest,
        }
    }

    #[test]
    fn versions_and_markers_merge_by_time_newest_first() {
        let versions = vec![
            listed("v4", 40, true, false),
            listed("v1", 10, false, false),
        ];
        let markers = vec![listed("m3", 30, false, true), listed("m2", 20, false, true)];
        let ids: Vec<String> = merge_newest_first(versions, markers)
            .into_iter()
            .map(|l| l.version.version_id)
            .collect();
        assert_eq!(ids, ["v4", "m3", "m2", "v1"]);
        // Equal times: the latest first.
        let versions = vec![listed("v2", 10, false, false)];
        let markers = vec![listed("m3", 10, true, true)];
        let ids: Vec<String> = merge_newest_first(versions, markers)
            .into_iter()
            .map(|l| l.version.version_id)
            .collect();
        assert_eq!(ids, ["m3", "v2"]);
    }

    fn shapes(versions: &[Version]) -> Vec<Shape> {
        versions.iter().map(Version::shape).collect()
    }

    #[test]
    fn a_prefix_of_the_history_leaves_the_rest_and_a_divergence_is_named() {
        let source = shapes(&[object("1", A, 1), marker("2"), object("3", B, 9)]);
        let dst = |items: &[(Version, i64)]| -> Vec<(Shape, i64)> {
            items.iter().map(|(v, t)| (v.shape(), *t)).collect()
        };
        assert_eq!(compare(&source, &[]), Remaining::From(0));
        assert_eq!(
            compare(&source, &dst(&[(object("x", A, 1), 1), (marker("y"), 2)])),
            Remaining::From(2)
        );
        assert_eq!(
            compare(
                &source,
                &dst(&[
                    (object("x", A, 1), 1),
                    (marker("y"), 2),
                    (object("z", B, 9), 3)
                ])
            ),
            Remaining::From(3)
        );
        // Written within one tick: their order is not asked.
        assert_eq!(
            compare(&source, &dst(&[(marker("y"), 5), (object("x", A, 1), 5)])),
            Remaining::From(2)
        );
        let Remaining::Diverged(why) = compare(&source, &dst(&[(object("x", B, 9), 1)])) else {
            panic!("another first version diverges");
        };
        assert!(why.contains("version 1"), "{why}");
        let longer = dst(&[
            (object("x", A, 1), 1),
            (marker("y"), 2),
            (object("z", B, 9), 3),
            (marker("w"), 4),
        ]);
        let Remaining::Diverged(why) = compare(&source, &longer) else {
            panic!("a longer history diverges");
        };
        assert!(why.contains("holds 4 versions"), "{why}");
    }

    const K1: &str = "4a0e3a5f7a2c4a8b9e1b2c3d4e5f6a7b";
    const K2: &str = "5b1f4b6a8b3d5b9cae2c3d4e5f6a7b8c-2";

    #[test]
    fn histories_that_differ_only_by_etags_name_the_pairs() {
        let source = shapes(&[object("1", A, 1), marker("2"), object("3", B, 9)]);
        let dst = |items: &[(Version, i64)]| -> Vec<(Shape, i64)> {
            items.iter().map(|(v, t)| (v.shape(), *t)).collect()
        };
        // One version of another ETag, the rest alike: only that pair.
        let Remaining::EtagsDiffer { from, pairs, why } =
            compare(&source, &dst(&[(object("x", K1, 1), 1), (marker("y"), 2)]))
        else {
            panic!("differs by an ETag only");
        };
        assert_eq!((from, pairs), (2, vec![(0, 0)]));
        assert!(why.contains("version 1"), "{why}");
        // All three written within one tick, listed in another order: paired by size.
        let Remaining::EtagsDiffer {
            from, mut pairs, ..
        } = compare(
            &source,
            &dst(&[
                (object("z", K2, 9), 5),
                (marker("y"), 5),
                (object("x", K1, 1), 5),
            ]),
        )
        else {
            panic!("differs by ETags only");
        };
        pairs.sort();
        assert_eq!((from, pairs), (3, vec![(0, 2), (2, 0)]));
        // Another size, a marker elsewhere, a longer history: diverged.
        for other in [
            dst(&[(object("x", K1, 2), 1)]),
            dst(&[(marker("x"), 1)]),
            dst(&[(object("x", K1, 1), 1), (object("y", K1, 0), 2)]),
            dst(&[
                (object("x", K1, 1), 1),
                (marker("y"), 2),
                (object("z", K2, 9), 3),
                (marker("w"), 4),
            ]),
        ] {
            assert!(
                matches!(compare(&source, &other), Remaining::Diverged(_)),
                "{other:?}"
            );
        }
    }

    fn stored(kms: bool, size: u64, checksum: Option<(Algorithm, Option<Kind>, &str)>) -> Stored {
        Stored {
            size,
            etag_is_not_md5: kms,
            checksum: checksum.map(|(a, k, v)| (a, k, v.to_string())),
        }
    }

    #[test]
    fn an_etag_pair_is_the_same_only_by_a_checksum_past_kms() {
        let crc = Some((Algorithm::Crc32, Some(Kind::FullObject), "AAAAAA=="));
        let untyped = Some((Algorithm::Crc32, None, "AAAAAA=="));
        let composite = Some((Algorithm::Crc32, None, "AAAAAA==-2"));
        // A plain source, a KMS copy with the same checksum and size: the same.
        assert_eq!(
            same_bytes(&stored(false, 5, crc), &stored(true, 5, untyped)),
            Ok(())
        );
        assert_eq!(
            same_bytes(&stored(true, 5, composite), &stored(true, 5, composite)),
            Ok(())
        );
        // Two MD5 ETags that differ: other bytes, whatever the checksums say.
        let why =
            same_bytes(&stored(false, 5, crc), &stored(false, 5, crc)).expect_err("MD5s differ");
        assert!(why.contains("MD5s"), "{why}");
        // No checksum on one side: nothing proves them.
        let why =
            same_bytes(&stored(false, 5, None), &stored(true, 5, crc)).expect_err("no checksum");
        assert!(why.contains("no checksum"), "{why}");
        // Another value, algorithm or type; another size.
        for other in [
            Some((Algorithm::Crc32, Some(Kind::FullObject), "AAAAAQ==")),
            Some((Algorithm::Crc32c, Some(Kind::FullObject), "AAAAAA==")),
            composite,
        ] {
            let why = same_bytes(&stored(false, 5, crc), &stored(true, 5, other))
                .expect_err("another checksum");
            assert!(why.contains("checksums differ"), "{why}");
        }
        let why =
            same_bytes(&stored(false, 5, crc), &stored(true, 6, crc)).expect_err("another size");
        assert!(why.contains("6"), "{why}");
    }
}
