//! Property tests of the record formats and the multipart math: round trips for every
//! valid record, no panic and a named field for any input, and part maps that cover an
//! object exactly.

use campanile::multipart::{
    MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, aws_cli_chunk_size, guess_part_size, md5,
    multipart_etag, part_count, part_count_from_etag, part_map_from_sizes, uniform_part_map,
};
use campanile::record::{
    CopiedPartRecord, Destination, ListingRecord, MAX_KEY_BYTES, NULL, PartEtags, PartInfo,
    PartRecord, escape_key, format_mtime, is_valid_etag, unescape_key,
};
use proptest::prelude::*;

/// Keys as S3 allows them, awkward characters included.
fn key() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9/\\\\\t\n\r \\-_.é😀+%]{1,60}")
        .expect("regex")
        .prop_filter("at most 1024 bytes", |k| k.len() <= MAX_KEY_BYTES)
}

fn etag() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(any::<u8>(), 16),
        proptest::option::of(1u32..=MAX_PARTS),
    )
        .prop_map(|(digest, parts)| {
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            match parts {
                Some(n) => format!("{hex}-{n}"),
                None => hex,
            }
        })
}

/// The diff's `dstEtag`: none (no `--diff`), absent (`-`), or the destination's ETag.
fn destination() -> impl Strategy<Value = Option<Destination>> {
    prop_oneof![
        Just(None),
        Just(Some(Destination::Absent)),
        etag().prop_map(|etag| Some(Destination::Etag(etag))),
    ]
}

/// A copied part's `etags`: MD5s (not written), or one of the markers.
fn part_etags() -> impl Strategy<Value = PartEtags> {
    prop_oneof![
        Just(PartEtags::Md5),
        Just(PartEtags::SourceNotMd5),
        proptest::option::of(any::<[u8; 16]>()).prop_map(PartEtags::DestinationNotMd5),
        Just(PartEtags::NeitherMd5),
    ]
}

fn listing() -> impl Strategy<Value = ListingRecord> {
    (
        key(),
        etag(),
        any::<u64>(),
        0i64..4_102_444_800,
        destination(),
    )
        .prop_map(|(key, etag, size, secs, destination)| ListingRecord {
            key,
            etag,
            size,
            mtime: format_mtime(secs),
            destination,
        })
}

/// A part record that lies inside its object.
fn part_record() -> impl Strategy<Value = PartRecord> {
    (
        listing(),
        1u64..u64::MAX,
        1u32..=MAX_PARTS,
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|(mut object, size, count, a, b, number)| {
            object.size = size;
            let (first, last) = {
                let (x, y) = (a % size, b % size);
                (x.min(y), x.max(y))
            };
            PartRecord {
                object,
                part: Some(PartInfo {
                    upload_id: "upload-id".to_string(),
                    part_number: number % count + 1,
                    part_count: count,
                    first_byte: first,
                    last_byte: last,
                    checksum: None,
                }),
            }
        })
}

proptest! {
    #[test]
    fn keys_escape_to_one_field_and_back(key in key()) {
        let escaped = escape_key(&key);
        prop_assert!(!escaped.contains(['\t', '\n', '\r']));
        prop_assert_ne!(escaped.as_ref(), NULL);
        prop_assert_eq!(unescape_key(&escaped).expect("unescape"), key);
    }

    #[test]
    fn listing_records_round_trip(record in listing()) {
        let line = record.to_line();
        // Four fields, and the diff's dstEtag last when there is one.
        let fields = 4 + usize::from(record.destination.is_some());
        prop_assert_eq!(line.split('\t').count(), fields);
        prop_assert_eq!(ListingRecord::parse(&line).expect("parse"), record);
    }

    #[test]
    fn part_records_round_trip(record in part_record()) {
        let line = record.to_line();
        prop_assert_eq!(PartRecord::parse(&line).expect("parse"), record.clone());
        let whole = PartRecord { part: None, ..record };
        prop_assert_eq!(PartRecord::parse(&whole.to_line()).expect("parse"), whole);
    }

    #[test]
    fn copied_parts_round_trip(
        key in key(), etag in etag(), part in etag(), number in 1u32..=MAX_PARTS,
        a in any::<u64>(), b in any::<u64>(), etags in part_etags(),
        destination in destination(), with_checksum in any::<bool>(),
    ) {
        let checksum = with_checksum.then(|| {
            campanile::checksum::PartChecksum::parse_field(
                "checksum:CRC64NVME:FULL_OBJECT:rosUhgp5mIg=:AAAAAAAAAAA=",
            )
            .expect("checksum field")
        });
        let record = CopiedPartRecord {
            key,
            etag,
            upload_id: "u".into(),
            part_etag: part,
            part_number: number,
            first_byte: a.min(b),
            last_byte: a.max(b),
            etags,
            checksum,
            destination,
        };
        // Seven fields, then `etags` when the ETags are not MD5s, then the checksum,
        // then the diff's dstEtag.
        let line = record.to_line();
        let fields = 7
            + usize::from(record.etags != PartEtags::Md5)
            + usize::from(record.checksum.is_some())
            + usize::from(record.destination.is_some());
        prop_assert_eq!(line.split('\t').count(), fields);
        prop_assert_eq!(CopiedPartRecord::parse(&line).expect("parse"), record);
    }

    /// Any line: a parse either succeeds with a record that prints back to a line that
    /// parses the same, or fails naming a field or the field count; it never panics.
    #[test]
    fn any_line_parses_or_names_the_problem(line in "[a-f0-9\t\\\\N \\-:.x]{0,200}") {
        match ListingRecord::parse(&line) {
            Ok(record) => prop_assert_eq!(ListingRecord::parse(&record.to_line()).expect("again"), record),
            Err(e) => prop_assert!(e.0.starts_with("field ") || e.0.starts_with("expected 4")),
        }
        match PartRecord::parse(&line) {
            Ok(record) => {
                if let Some(part) = &record.part {
                    prop_assert!(part.last_byte < record.object.size);
                    prop_assert!(part.first_byte <= part.last_byte);
                    prop_assert!((1..=part.part_count).contains(&part.part_number));
                }
                prop_assert_eq!(PartRecord::parse(&record.to_line()).expect("again"), record);
            }
            Err(e) => prop_assert!(!e.0.is_empty()),
        }
        if let Ok(record) = CopiedPartRecord::parse(&line) {
            prop_assert_eq!(CopiedPartRecord::parse(&record.to_line()).expect("again"), record);
        }
    }

    #[test]
    fn uniform_part_maps_cover_the_object_exactly(
        size in 1u64..(1u64 << 42), part_size in MIN_PART_SIZE..=MAX_PART_SIZE,
    ) {
        let map = uniform_part_map(size, part_size);
        prop_assert_eq!(map.len() as u64, part_count(size, part_size));
        prop_assert_eq!(map[0].first, 0);
        prop_assert_eq!(map[map.len() - 1].last, size - 1);
        for pair in map.windows(2) {
            prop_assert_eq!(pair[0].last + 1, pair[1].first);
            prop_assert_eq!(pair[0].len(), part_size);
        }
        prop_assert!(map[map.len() - 1].len() <= part_size);
    }

    #[test]
    fn part_maps_from_sizes_are_contiguous(sizes in proptest::collection::vec(1u64..1_000_000, 1..50)) {
        let map = part_map_from_sizes(&sizes);
        prop_assert_eq!(map.len(), sizes.len());
        prop_assert_eq!(map.iter().map(|r| r.len()).sum::<u64>(), sizes.iter().sum::<u64>());
        for (range, size) in map.iter().zip(&sizes) {
            prop_assert_eq!(range.len(), *size);
        }
        for pair in map.windows(2) {
            prop_assert_eq!(pair[0].last + 1, pair[1].first);
        }
    }

    /// The AWS CLI rule always gives a legal part size and at most 10,000 parts up to
    /// the 5 TiB object limit.
    #[test]
    fn aws_cli_chunk_sizes_are_legal(size in 0u64..=(5u64 << 40)) {
        let chunk = aws_cli_chunk_size(size);
        prop_assert!((MIN_PART_SIZE..=MAX_PART_SIZE).contains(&chunk));
        prop_assert!(part_count(size, chunk) <= u64::from(MAX_PARTS));
    }

    /// A guessed part size, when there is one, cuts the object into exactly the parts
    /// the ETag announces.
    #[test]
    fn guessed_part_sizes_give_the_announced_count(
        size in 1u64..(1u64 << 40), count in 2u32..=MAX_PARTS,
    ) {
        if let Some(guess) = guess_part_size(size, count) {
            prop_assert_eq!(part_count(size, guess), u64::from(count));
        }
    }

    #[test]
    fn multipart_etags_announce_their_part_count(parts in proptest::collection::vec(any::<u8>(), 1..300)) {
        let digests: Vec<[u8; 16]> = parts.iter().map(|b| md5(&[*b])).collect();
        let etag = multipart_etag(&digests);
        prop_assert!(is_valid_etag(&etag));
        prop_assert_eq!(part_count_from_etag(&etag), Some(parts.len() as u32));
    }
}
