//! Multipart arithmetic: how many parts an ETag says an object has, which part size
//! produced them, where each part starts and ends, and what ETag an upload yields.
//!
//! S3's multipart ETag is `hex(md5(md5(part1) || ... || md5(partN)))-N`, so a copy keeps
//! the source ETag only when it is uploaded with exactly the source's part boundaries.
//! The exact boundaries come from `HeadObject?partNumber=n` (see the copy path); the
//! candidate sizes here are the fallback for servers that ignore `partNumber`: the AWS
//! CLI default rule first, then the sizes other uploaders are known to use.
//! Limits: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>.

use md5::{Digest, Md5};

/// 1 MiB.
pub const MIB: u64 = 1024 * 1024;
/// 1 MB (decimal).
pub const MB: u64 = 1_000_000;
/// Smallest part (but the last) S3 accepts.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// Largest part, and largest single PUT.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// Most parts in one upload.
pub const MAX_PARTS: u32 = 10_000;
/// The AWS CLI's default `multipart_chunksize`.
pub const AWS_CLI_DEFAULT_CHUNK: u64 = 8 * MIB;

/// Number of parts an ETag declares: `Some(N)` for `…-N`, `None` for a single PUT.
/// Quotes around the ETag are ignored.
pub fn part_count_from_etag(etag: &str) -> Option<u32> {
    let etag = etag.trim_matches('"');
    let (_, count) = etag.rsplit_once('-')?;
    count.parse().ok()
}

/// Number of parts `size` bytes make in parts of `part_size` (an empty object is one
/// part).
pub fn part_count(size: u64, part_size: u64) -> u64 {
    if size == 0 {
        1
    } else {
        size.div_ceil(part_size)
    }
}

/// The AWS CLI's chunk size for an upload of `size` bytes (s3transfer
/// `ChunksizeAdjuster`): 8 MiB, doubled while the upload would exceed 10,000 parts,
/// kept within 5 MiB..5 GiB.
pub fn aws_cli_chunk_size(size: u64) -> u64 {
    let mut chunk = AWS_CLI_DEFAULT_CHUNK;
    while part_count(size, chunk) > u64::from(MAX_PARTS) {
        chunk *= 2;
    }
    chunk.clamp(MIN_PART_SIZE, MAX_PART_SIZE)
}

/// Part sizes known to be used by uploaders, most likely first: the AWS CLI rule,
/// powers of two in MiB and MB, the s3n and Aspera sizes, then multiples of 100 MB,
/// 25 MB, 10 MB, 5 MB and 1 MB. Every candidate is a legal part size.
pub fn candidate_part_sizes(size: u64) -> Vec<u64> {
    let mut candidates = vec![aws_cli_chunk_size(size)];
    for shift in 0..=13 {
        candidates.push(MIB << shift);
        candidates.push(MB << shift);
    }
    candidates.extend([
        7 * MIB,
        67_108_536,
        134_217_696,
        268_434_144,
        268_435_392,
        536_869_740,
    ]);
    for step in [100 * MB, 25 * MB, 10 * MB, 5 * MB, MB] {
        let mut candidate = step;
        while candidate <= MAX_PART_SIZE {
            candidates.push(candidate);
            candidate += step;
        }
    }
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| (MIN_PART_SIZE..=MAX_PART_SIZE).contains(c) && seen.insert(*c));
    candidates
}

/// The first candidate part size that cuts `size` bytes into exactly `count` parts.
/// A match is a guess: another size can give the same count (20 MiB in 7 MiB parts
/// and in 8 MiB parts both make 3); the completed upload's ETag check catches that.
pub fn guess_part_size(size: u64, count: u32) -> Option<u64> {
    if count == 1 {
        return Some(size.max(1));
    }
    candidate_part_sizes(size)
        .into_iter()
        .find(|candidate| part_count(size, *candidate) == u64::from(count))
}

/// An inclusive byte range `first..=last` of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Never true: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The HTTP `Range` header value.
    pub fn header(&self) -> String {
        format!("bytes={}-{}", self.first, self.last)
    }
}

/// Byte ranges of an object of `size` bytes cut into `part_size` parts.
pub fn uniform_part_map(size: u64, part_size: u64) -> Vec<ByteRange> {
    let part_size = part_size.max(1);
    (0..size.div_ceil(part_size))
        .map(|i| ByteRange {
            first: i * part_size,
            last: ((i + 1) * part_size).min(size) - 1,
        })
        .collect()
}

/// Byte ranges of parts with the given sizes, in order.
pub fn part_map_from_sizes(sizes: &[u64]) -> Vec<ByteRange> {
    let mut first = 0;
    sizes
        .iter()
        .filter(|s| **s > 0)
        .map(|size| {
            let range = ByteRange {
                first,
                last: first + size - 1,
            };
            first += size;
            range
        })
        .collect()
}

/// MD5 digest of `data`.
pub fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// ETag of a single PUT: the hex MD5 of the body.
pub fn single_etag(data: &[u8]) -> String {
    hex(&md5(data))
}

/// ETag of a completed multipart upload, from the MD5 digest of each part in order.
pub fn multipart_etag(part_digests: &[[u8; 16]]) -> String {
    let mut hasher = Md5::new();
    for digest in part_digests {
        hasher.update(digest);
    }
    let digest: [u8; 16] = hasher.finalize().into();
    format!("{}-{}", hex(&digest), part_digests.len())
}

/// True for an ETag that is a plain hex MD5 (a single PUT), as opposed to `…-N`.
pub fn is_plain_md5_etag(etag: &str) -> bool {
    parse_md5_hex(etag).is_some()
}

/// Parses a 32-digit hex MD5 (as found in a single-part ETag) into bytes.
pub fn parse_md5_hex(text: &str) -> Option<[u8; 16]> {
    let text = text.trim_matches('"');
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_etags() {
        assert_eq!(
            part_count_from_etag("e5f8e641007332dda1c6cae118f7749c-3"),
            Some(3)
        );
        assert_eq!(
            part_count_from_etag("\"e5f8e641007332dda1c6cae118f7749c-10000\""),
            Some(10_000)
        );
        assert_eq!(
            part_count_from_etag("be78ac18165af5cf456453eb3f37ec9a"),
            None
        );
    }

    #[test]
    fn aws_cli_rule() {
        assert_eq!(aws_cli_chunk_size(0), 8 * MIB);
        assert_eq!(aws_cli_chunk_size(20_971_520), 8 * MIB);
        // exactly 10,000 parts of 8 MiB still fits
        assert_eq!(aws_cli_chunk_size(10_000 * 8 * MIB), 8 * MIB);
        // one byte more needs 16 MiB
        assert_eq!(aws_cli_chunk_size(10_000 * 8 * MIB + 1), 16 * MIB);
        // 5 TiB needs 1 GiB parts (5 * 1024 * 1024 MiB / 10,000 = 524.3 MiB -> 1 GiB)
        assert_eq!(aws_cli_chunk_size(5 * 1024 * 1024 * MIB), 1024 * MIB);
        // capped at 5 GiB
        assert_eq!(aws_cli_chunk_size(u64::MAX / 4), MAX_PART_SIZE);
    }

    #[test]
    fn candidates_are_legal_and_start_with_the_cli_rule() {
        let candidates = candidate_part_sizes(20_971_520);
        assert_eq!(candidates[0], 8 * MIB);
        assert!(
            candidates
                .iter()
                .all(|c| (MIN_PART_SIZE..=MAX_PART_SIZE).contains(c))
        );
        // 5 MB itself is below the 5 MiB minimum, so the 1 MB steps start at 6 MB
        for expected in [7 * MIB, 67_108_536, 15 * MB, 6 * MB, 100 * MB] {
            assert!(candidates.contains(&expected), "{expected}");
        }
        let unique: std::collections::HashSet<_> = candidates.iter().collect();
        assert_eq!(unique.len(), candidates.len());
    }

    #[test]
    fn guesses() {
        assert_eq!(guess_part_size(20_971_520, 3), Some(8 * MIB));
        // 5 MiB parts: 20 MiB in 4 parts; 8 MiB gives 3, so a later candidate is found
        let size = 20 * MIB;
        let guess = guess_part_size(size, 4).expect("a candidate");
        assert_eq!(part_count(size, guess), 4);
        // 15,000,000-byte parts of a 40 MB object: 3 parts
        let guess = guess_part_size(40 * MB, 3).expect("a candidate");
        assert_eq!(part_count(40 * MB, guess), 3);
        // no legal part size cuts 6 MiB into 10 parts
        assert_eq!(guess_part_size(6 * MIB, 10), None);
        assert_eq!(guess_part_size(100, 1), Some(100));
    }

    #[test]
    fn part_maps_are_inclusive() {
        assert_eq!(
            uniform_part_map(20_971_520, 8 * MIB),
            vec![
                ByteRange {
                    first: 0,
                    last: 8_388_607
                },
                ByteRange {
                    first: 8_388_608,
                    last: 16_777_215
                },
                ByteRange {
                    first: 16_777_216,
                    last: 20_971_519
                },
            ]
        );
        assert_eq!(uniform_part_map(10 * MIB, 5 * MIB).len(), 2);
        assert_eq!(
            part_map_from_sizes(&[5, 7, 1]),
            vec![
                ByteRange { first: 0, last: 4 },
                ByteRange { first: 5, last: 11 },
                ByteRange {
                    first: 12,
                    last: 12
                },
            ]
        );
        assert_eq!(ByteRange { first: 5, last: 11 }.len(), 7);
        assert_eq!(ByteRange { first: 5, last: 11 }.header(), "bytes=5-11");
    }

    #[test]
    fn known_answer_etags() {
        // RFC 1321 test vectors
        assert_eq!(single_etag(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(single_etag(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        // Multipart: md5 of the concatenated binary digests, then -N. Parts "abc" and
        // "" give md5(900150983cd24fb0d6963f7d28e17f72 || d41d8cd98f00b204e9800998ecf8427e).
        let etag = multipart_etag(&[md5(b"abc"), md5(b"")]);
        let mut joined = md5(b"abc").to_vec();
        joined.extend_from_slice(&md5(b""));
        assert_eq!(etag, format!("{}-2", single_etag(&joined)));
        assert_eq!(etag, "fdf1fdf1567f6942ffe1743f1e72301e-2");
    }

    #[test]
    fn md5_hex_round_trip() {
        let digest = md5(b"campanile");
        assert_eq!(parse_md5_hex(&hex(&digest)), Some(digest));
        assert_eq!(parse_md5_hex("zz"), None);
    }
}
