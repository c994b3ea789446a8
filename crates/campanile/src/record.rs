//! The TSV records that flow between Campanile's tasks, Hive and the part map.
//!
//! Fields are separated by one TAB; NULL is the two characters `\N` (Hive's default);
//! ETags are written without their double quotes. Three record kinds:
//!
//! | record | fields |
//! |---|---|
//! | [`ListingRecord`] (bucketlist) | `key etag size mtime` (+ `dstEtag` after `rsync --diff`) |
//! | [`PartRecord`] (multipartlist) | listing + `uploadId partNumber partCount firstByte lastByte` (five `\N` for a single-part object) (+ `checksum`) (+ `dstEtag`) |
//! | [`CopiedPartRecord`] (objectcopy, multipartcomplete) | `key etag uploadId partEtag partNumber firstByte lastByte` (+ `etags`) (+ `checksum`) (+ `dstEtag`) |
//!
//! The optional `etags` field of a copied part ([`PartEtags`]) is written only when one
//! of the part's ETags is not an MD5 (SSE-KMS on the source or the destination); a line
//! without it is a part whose ETags are MD5s, as every line was before.
//!
//! `dstEtag` ([`Destination`]) is what the diff saw at the destination: its ETag, or
//! `-` when the destination had no such key. It is there only after `rsync --diff`,
//! as the last field of every record, and makes the copy's final write conditional
//! (no lost update: a destination object written by someone else during the run is
//! never overwritten).
//!
//! The optional `checksum` field is the source's additional checksum
//! ([`crate::checksum::SourceChecksum`], `checksum:<ALGO>:<TYPE>:<value>`) on a part
//! record, and that followed by `:<part value>` ([`crate::checksum::PartChecksum`]) on
//! a copied part; it is there only when the destination upload was created with the
//! source's checksum algorithm, and starts with `checksum:`, which no ETag does.
//!
//! A copied part thus has 7 to 10 fields: the 7 fixed ones, then `etags` if its
//! ETags are not MD5s, then `checksum`, then `dstEtag` if the line comes from `rsync
//! --diff`, always in that order; a part record has 9 to 11 (`checksum`, `dstEtag`).
//! Each optional field is told apart by its text: one of the [`PartEtags`] markers
//! (`src-etag-not-md5`, `dst-etag-not-md5[:<hex MD5>]`, `etags-not-md5`) is `etags`,
//! `checksum:…` is `checksum`, and anything else must be a `dstEtag` (`-` or an ETag,
//! which cannot be mistaken for either), the last field only.
//!
//! # Key escaping
//! S3 keys may hold TAB, LF, CR and backslash, which would break one-record-per-line
//! TSV. Every task writes keys through [`escape_key`] and reads them through
//! [`unescape_key`]: `\` becomes `\\`, TAB `\t`, LF `\n`, CR `\r`; nothing else
//! changes (unicode, spaces, `+`, `%` are written as they are). The mapping is
//! reversible, and an escaped key is never the bare `\N` NULL marker (a key that is
//! literally `\N` is written `\\N`). Hive (`hive/diff.q`) reads the fields without an
//! escape character, so it joins and writes the escaped strings unchanged; since the
//! escaping is injective, equal escaped keys are equal keys.

use std::borrow::Cow;
use std::fmt;

use crate::checksum::{PartChecksum, SourceChecksum};

/// Hive's NULL.
pub const NULL: &str = "\\N";

/// Escapes a key for a TSV field (see the module documentation).
pub fn escape_key(key: &str) -> Cow<'_, str> {
    if !key.contains(['\\', '\t', '\n', '\r']) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 8);
    for c in key.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// Reverses [`escape_key`]. Fails on a backslash that starts no known escape.
pub fn unescape_key(field: &str) -> Result<String, String> {
    if !field.contains('\\') {
        return Ok(field.to_string());
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => return Err(format!("unknown escape `\\{other}`")),
            None => return Err("ends with a lone backslash".to_string()),
        }
    }
    Ok(out)
}

/// The longest key S3 accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// A field that failed to parse: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecordError {}

fn field_error(index: usize, name: &str, problem: impl fmt::Display) -> RecordError {
    RecordError(format!("field {} ({name}) {problem}", index + 1))
}

/// Splits a line into exactly `names.len()` TAB-separated fields, or one more: the
/// optional `dstEtag` ([`Destination`]) that follows every record after `rsync --diff`.
fn split_fields<'a>(line: &'a str, names: &[&str]) -> Result<Vec<&'a str>, RecordError> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() != names.len() && fields.len() != names.len() + 1 {
        return Err(RecordError(format!(
            "expected {} TAB-separated fields ({}), or {} with dstEtag, found {}",
            names.len(),
            names.join(", "),
            names.len() + 1,
            fields.len()
        )));
    }
    Ok(fields)
}

fn parse_key(fields: &[&str], index: usize) -> Result<String, RecordError> {
    let key = unescape_key(fields[index]).map_err(|e| field_error(index, "key", e))?;
    if key.is_empty() {
        return Err(field_error(index, "key", "is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(field_error(
            index,
            "key",
            format!(
                "is {} bytes long; S3 keys are at most {MAX_KEY_BYTES}",
                key.len()
            ),
        ));
    }
    Ok(key)
}

fn parse_number<T: std::str::FromStr>(
    fields: &[&str],
    index: usize,
    name: &str,
) -> Result<T, RecordError> {
    let text = fields[index];
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field_error(
            index,
            name,
            format!("is not a number: {text:?}"),
        ));
    }
    text.parse()
        .map_err(|_| field_error(index, name, format!("is out of range: {text:?}")))
}

/// Checks an ETag field: 32 hex digits, optionally `-N` with 1 <= N <= 10,000.
fn parse_etag(fields: &[&str], index: usize, name: &str) -> Result<String, RecordError> {
    let text = fields[index];
    if !is_valid_etag(text) {
        return Err(field_error(
            index,
            name,
            format!("is not an S3 ETag (32 hex digits, optionally -N): {text:?}"),
        ));
    }
    Ok(text.to_string())
}

/// True for `[0-9a-f]{32}` optionally followed by `-N`, 1 <= N <= 10,000.
pub fn is_valid_etag(text: &str) -> bool {
    let (digest, parts) = match text.split_once('-') {
        Some((digest, parts)) => (digest, Some(parts)),
        None => (text, None),
    };
    let digest_ok = digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    let parts_ok = parts.is_none_or(|p| {
        !p.is_empty()
            && !p.starts_with('0')
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=10_000).contains(&n))
    });
    digest_ok && parts_ok
}

/// The mtime layout: `YYYY-MM-DD HH:MM:SS`, UTC.
const MTIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// An mtime field: a real date and time in the `YYYY-MM-DD HH:MM:SS` layout (exactly
/// 19 characters: no sign before the year), kept as written.
fn parse_mtime(fields: &[&str], index: usize) -> Result<String, RecordError> {
    let text = fields[index];
    let valid = text.len() == 19
        && text.starts_with(|c: char| c.is_ascii_digit())
        && time::PrimitiveDateTime::parse(text, MTIME_FORMAT).is_ok();
    if !valid {
        return Err(field_error(
            index,
            "mtime",
            format!("is not a time `YYYY-MM-DD HH:MM:SS`: {text:?}"),
        ));
    }
    Ok(text.to_string())
}

/// Seconds since the Unix epoch of an mtime field (`YYYY-MM-DD HH:MM:SS`, UTC), as the
/// date filters compare them; `None` when it is not one.
pub fn mtime_seconds(text: &str) -> Option<i64> {
    time::PrimitiveDateTime::parse(text, MTIME_FORMAT)
        .ok()
        .map(|at| at.assume_utc().unix_timestamp())
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS` (UTC), the mtime
/// format of the original Campanile listing. Times beyond the years -9999..=9999 are
/// clamped to their ends (S3 has none).
pub fn format_mtime(epoch_seconds: i64) -> String {
    let first = time::PrimitiveDateTime::MIN.assume_utc().unix_timestamp();
    let last = time::PrimitiveDateTime::MAX.assume_utc().unix_timestamp();
    let at = time::OffsetDateTime::from_unix_timestamp(epoch_seconds.clamp(first, last))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (year, month, day) = at.to_calendar_date();
    let (hour, minute, second) = at.to_hms();
    format!(
        "{year:04}-{:02}-{day:02} {hour:02}:{minute:02}:{second:02}",
        u8::from(month)
    )
}

/// What `rsync --diff` saw at the destination for a key (the `dstEtag` field): the
/// condition of the copy's final write, so that an object someone else writes at the
/// destination during the run is never overwritten (a 412 skips it instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The destination listing had no such key (`-`): write only if it is still
    /// absent (`If-None-Match: *`).
    Absent,
    /// The destination held the key with this ETag (no quotes): write only if it
    /// still does (`If-Match`).
    Etag(String),
}

impl Destination {
    /// The field of [`Destination::Absent`].
    pub const ABSENT: &'static str = "-";

    /// Reads the `dstEtag` field at `index`.
    fn parse(fields: &[&str], index: usize) -> Result<Self, RecordError> {
        if fields[index] == Self::ABSENT {
            return Ok(Destination::Absent);
        }
        parse_etag(fields, index, "dstEtag").map(Destination::Etag)
    }

    /// Reads the optional last field at `index` (none when the line ends before it).
    fn parse_optional(fields: &[&str], index: usize) -> Result<Option<Self>, RecordError> {
        if fields.len() > index {
            Self::parse(fields, index).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The field as records write it: the ETag, or `-`.
    pub fn as_field(&self) -> &str {
        match self {
            Destination::Absent => Self::ABSENT,
            Destination::Etag(etag) => etag,
        }
    }

    /// The `If-None-Match` header of the write: `*` when the key must still be absent.
    pub fn if_none_match(&self) -> Option<String> {
        matches!(self, Destination::Absent).then(|| "*".to_string())
    }

    /// The `If-Match` header of the write: the quoted ETag the destination must still have.
    pub fn if_match(&self) -> Option<String> {
        match self {
            Destination::Absent => None,
            Destination::Etag(etag) => Some(format!("\"{etag}\"")),
        }
    }
}

/// Reads a part record's `checksum` field at `index`.
fn parse_source_checksum(fields: &[&str], index: usize) -> Result<SourceChecksum, RecordError> {
    SourceChecksum::parse_field(fields[index]).map_err(|e| field_error(index, "checksum", e))
}

/// `\t<dstEtag>` when there is one, for the end of a record's line.
fn destination_suffix(destination: Option<&Destination>) -> String {
    destination.map_or_else(String::new, |d| format!("\t{}", d.as_field()))
}

/// One object of a bucket listing: `key etag size mtime`, and after `rsync --diff`
/// what the destination held (`dstEtag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingRecord {
    /// The object key (unescaped).
    pub key: String,
    /// The ETag without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modified, `YYYY-MM-DD HH:MM:SS` UTC.
    pub mtime: String,
    /// What the diff saw at the destination (`rsync --diff` only): the condition of
    /// the copy's write.
    pub destination: Option<Destination>,
}

const LISTING_FIELDS: [&str; 4] = ["key", "etag", "size", "mtime"];

impl ListingRecord {
    /// Parses a listing line.
    pub fn parse(line: &str) -> Result<Self, RecordError> {
        let fields = split_fields(line, &LISTING_FIELDS)?;
        let mut record = Self::from_fields(&fields)?;
        record.destination = Destination::parse_optional(&fields, LISTING_FIELDS.len())?;
        Ok(record)
    }

    /// The four listing fields (no `dstEtag`).
    fn from_fields(fields: &[&str]) -> Result<Self, RecordError> {
        Ok(ListingRecord {
            key: parse_key(fields, 0)?,
            etag: parse_etag(fields, 1, "etag")?,
            size: parse_number(fields, 2, "size")?,
            mtime: parse_mtime(fields, 3)?,
            destination: None,
        })
    }

    /// The record as a line, without its newline.
    pub fn to_line(&self) -> String {
        format!(
            "{}{}",
            self.base_line(),
            destination_suffix(self.destination.as_ref())
        )
    }

    /// The four listing fields, without `dstEtag`.
    fn base_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            escape_key(&self.key),
            self.etag,
            self.size,
            self.mtime
        )
    }
}

/// The multipart fields of a [`PartRecord`]: one part of the destination upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Destination upload id (a random UUID with `--dry-run`).
    pub upload_id: String,
    /// Part number, from 1.
    pub part_number: u32,
    /// Number of parts of the object.
    pub part_count: u32,
    /// First byte of the part in the object.
    pub first_byte: u64,
    /// Last byte of the part (inclusive).
    pub last_byte: u64,
    /// The source object's checksum, when it has one that can prove the copy (the
    /// optional field after `lastByte`, `checksum:<ALGO>:<TYPE>:<value>`): the
    /// destination upload was created with its algorithm and type.
    pub checksum: Option<SourceChecksum>,
}

impl PartInfo {
    /// The part's bytes in the object.
    pub fn range(&self) -> crate::multipart::ByteRange {
        crate::multipart::ByteRange {
            first: self.first_byte,
            last: self.last_byte,
        }
    }

    /// The part of `key` this is, for messages: `key (part N of upload U)`.
    pub fn label(&self, key: &str) -> String {
        format!(
            "{key} (part {} of upload {})",
            self.part_number, self.upload_id
        )
    }
}

/// One unit of copy work: a whole object (`part` is `None`) or one part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    /// The source object.
    pub object: ListingRecord,
    /// The part, for multipart objects.
    pub part: Option<PartInfo>,
}

const PART_FIELDS: [&str; 9] = [
    "key",
    "etag",
    "size",
    "mtime",
    "uploadId",
    "partNumber",
    "partCount",
    "firstByte",
    "lastByte",
];

impl PartRecord {
    /// True for the only part of an empty multipart object (size 0, ETag `…-1`): a part
    /// of no bytes, written with the range `0 0` because an inclusive range cannot name
    /// zero bytes; the size 0 tells it from a one-byte part.
    pub fn is_empty_part(&self) -> bool {
        self.part.is_some() && self.object.size == 0
    }

    /// The bytes this record copies: the object's for a whole object, the part's for a
    /// part (0 for the empty part).
    pub fn len(&self) -> u64 {
        match &self.part {
            None => self.object.size,
            Some(_) if self.is_empty_part() => 0,
            Some(part) => part.range().len(),
        }
    }

    /// True when the record copies no bytes (an empty object or the empty part).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The source bytes to read with a `Range`: `None` for a whole object and for the
    /// empty part (read whole: it has no bytes).
    pub fn source_range(&self) -> Option<crate::multipart::ByteRange> {
        match &self.part {
            Some(part) if !self.is_empty_part() => Some(part.range()),
            _ => None,
        }
    }

    /// Parses a multipartlist line and checks that its part lies inside the object.
    /// After the nine fields come, both optional and in this order, the source's
    /// `checksum` (a part only; told by its `checksum:` prefix, which no ETag has) and
    /// `dstEtag`.
    pub fn parse(line: &str) -> Result<Self, RecordError> {
        let fields: Vec<&str> = line.split('\t').collect();
        let fixed = PART_FIELDS.len();
        if !(fixed..=fixed + 2).contains(&fields.len()) {
            return Err(RecordError(format!(
                "expected {fixed} TAB-separated fields ({}), or {} or {} with the optional \
                 checksum and dstEtag, found {}",
                PART_FIELDS.join(", "),
                fixed + 1,
                fixed + 2,
                fields.len()
            )));
        }
        let mut object = ListingRecord::from_fields(&fields[..4])?;
        let (checksum, destination) = match &fields[fixed..] {
            [] => (None, None),
            [first, ..] if first.starts_with(crate::checksum::FIELD_PREFIX) => (
                Some(parse_source_checksum(&fields, fixed)?),
                Destination::parse_optional(&fields, fixed + 1)?,
            ),
            [_] => (None, Some(Destination::parse(&fields, fixed)?)),
            _ => {
                return Err(field_error(
                    fixed,
                    "checksum",
                    format!(
                        "must start with {:?} when two fields follow lastByte: {:?}",
                        crate::checksum::FIELD_PREFIX,
                        fields[fixed]
                    ),
                ));
            }
        };
        object.destination = destination;
        let fields = &fields[..fixed];
        let nulls = fields[4..].iter().filter(|f| **f == NULL).count();
        if nulls == 5 {
            if checksum.is_some() {
                return Err(field_error(
                    fixed,
                    "checksum",
                    "is only for a part of a multipart object, not a whole object",
                ));
            }
            return Ok(PartRecord { object, part: None });
        }
        if nulls != 0 {
            return Err(RecordError(
                "fields 5-9 must be all \\N (whole object) or all set (one part)".to_string(),
            ));
        }
        let upload_id = fields[4].to_string();
        if upload_id.is_empty() {
            return Err(field_error(4, "uploadId", "is empty"));
        }
        let part = PartInfo {
            upload_id,
            part_number: parse_number(fields, 5, "partNumber")?,
            part_count: parse_number(fields, 6, "partCount")?,
            first_byte: parse_number(fields, 7, "firstByte")?,
            last_byte: parse_number(fields, 8, "lastByte")?,
            checksum,
        };
        if part.part_count == 0 || part.part_count > crate::multipart::MAX_PARTS {
            return Err(field_error(6, "partCount", "must be 1 to 10000"));
        }
        if part.part_number == 0 || part.part_number > part.part_count {
            return Err(field_error(
                5,
                "partNumber",
                format!("must be 1 to partCount ({})", part.part_count),
            ));
        }
        // The empty part of an empty object is `0 0`, part 1 of 1 (see is_empty_part).
        let empty_part =
            object.size == 0 && part.part_count == 1 && part.first_byte == 0 && part.last_byte == 0;
        if !empty_part && (part.first_byte > part.last_byte || part.last_byte >= object.size) {
            return Err(field_error(
                8,
                "lastByte",
                format!(
                    "byte range {}-{} does not fit in an object of {} bytes",
                    part.first_byte, part.last_byte, object.size
                ),
            ));
        }
        Ok(PartRecord {
            object,
            part: Some(part),
        })
    }

    /// The record as a line, without its newline.
    pub fn to_line(&self) -> String {
        let suffix = destination_suffix(self.object.destination.as_ref());
        match &self.part {
            None => format!(
                "{}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{NULL}{suffix}",
                self.object.base_line()
            ),
            Some(p) => format!(
                "{}\t{}\t{}\t{}\t{}\t{}{}{suffix}",
                self.object.base_line(),
                p.upload_id,
                p.part_number,
                p.part_count,
                p.first_byte,
                p.last_byte,
                p.checksum
                    .as_ref()
                    .map_or_else(String::new, |c| format!("\t{}", c.to_field()))
            ),
        }
    }
}

/// One copied part, the line objectcopy gives multipartcomplete (and the part map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedPartRecord {
    /// The object key (unescaped).
    pub key: String,
    /// The source ETag (what the completed upload must reproduce).
    pub etag: String,
    /// Destination upload id.
    pub upload_id: String,
    /// ETag the destination returned for the part.
    pub part_etag: String,
    /// Part number, from 1.
    pub part_number: u32,
    /// First byte of the part.
    pub first_byte: u64,
    /// Last byte of the part (inclusive).
    pub last_byte: u64,
    /// Which of the part's ETags are MD5s (the optional field after `lastByte`).
    pub etags: PartEtags,
    /// The source's checksum and the part's (the optional field after `etags`), when
    /// the upload was created with the source's checksum algorithm.
    pub checksum: Option<PartChecksum>,
    /// What the diff saw at the destination (`rsync --diff` only): the condition of
    /// the upload's completion.
    pub destination: Option<Destination>,
}

/// Which ETags of a copied part are the MD5 of bytes, and so can prove them: an object
/// stored with SSE-KMS (or DSSE-KMS) has ETags that are not MD5s, on S3, whether it is
/// the source (its ETag, `…-N` included, cannot be computed from the parts) or the
/// destination (the part's ETag and the completed upload's ETag are not MD5s). The
/// `etags` field of a part line, right after `lastByte` (before any `dstEtag`); absent
/// for [`PartEtags::Md5`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartEtags {
    /// Both are MD5s: the completed upload's ETag is computed from the part ETags and
    /// must equal the source's (no `etags` field).
    #[default]
    Md5,
    /// The source's ETag is not an MD5 (SSE-KMS source): `src-etag-not-md5`.
    SourceNotMd5,
    /// The destination's ETags are not MD5s (SSE-KMS destination), with the MD5 of the
    /// part's bytes when objectcopy read them (not in a server-side copy), so that the
    /// source's ETag can still be checked: `dst-etag-not-md5:<hex MD5>` or
    /// `dst-etag-not-md5`.
    DestinationNotMd5(Option<[u8; 16]>),
    /// Neither: `etags-not-md5`.
    NeitherMd5,
}

/// The text of [`PartEtags::DestinationNotMd5`].
const DESTINATION_NOT_MD5: &str = "dst-etag-not-md5";

impl PartEtags {
    /// From whether the source's ETag is made of MD5s, and, when the destination's part
    /// ETag is not the part's MD5, `Err` with the part's MD5 if known.
    pub fn of(source_md5: bool, destination: Result<(), Option<[u8; 16]>>) -> PartEtags {
        match (source_md5, destination) {
            (true, Ok(())) => PartEtags::Md5,
            (false, Ok(())) => PartEtags::SourceNotMd5,
            (true, Err(md5)) => PartEtags::DestinationNotMd5(md5),
            (false, Err(_)) => PartEtags::NeitherMd5,
        }
    }

    /// Whether the source's ETag is derived from MD5s of the bytes.
    pub fn source_md5(self) -> bool {
        matches!(self, PartEtags::Md5 | PartEtags::DestinationNotMd5(_))
    }

    /// Whether the destination's part ETag is the MD5 of the part.
    pub fn destination_md5(self) -> bool {
        matches!(self, PartEtags::Md5 | PartEtags::SourceNotMd5)
    }

    /// The MD5 of the part, when the line gives it (with a destination ETag that is not
    /// an MD5); the caller takes the part ETag when [`PartEtags::destination_md5`].
    pub fn part_md5(self) -> Option<[u8; 16]> {
        match self {
            PartEtags::DestinationNotMd5(md5) => md5,
            _ => None,
        }
    }

    /// The field's text (empty for [`PartEtags::Md5`], which is not written).
    pub fn to_field(self) -> String {
        match self {
            PartEtags::Md5 => String::new(),
            PartEtags::SourceNotMd5 => "src-etag-not-md5".to_string(),
            PartEtags::DestinationNotMd5(None) => DESTINATION_NOT_MD5.to_string(),
            PartEtags::DestinationNotMd5(Some(md5)) => {
                format!("{DESTINATION_NOT_MD5}:{}", crate::multipart::hex(&md5))
            }
            PartEtags::NeitherMd5 => "etags-not-md5".to_string(),
        }
    }

    /// Whether a field is meant as an `etags` marker (a well-formed one or not): the
    /// markers all end in, or carry after a colon, `not-md5`, which neither `-` nor an
    /// S3 ETag (hex digits and `-N`) can contain; so a part line's optional trailing
    /// fields are told apart by their text.
    fn is_marker(field: &str) -> bool {
        field.contains("not-md5")
    }

    fn parse(field: &str) -> Option<PartEtags> {
        match field {
            "src-etag-not-md5" => Some(PartEtags::SourceNotMd5),
            "etags-not-md5" => Some(PartEtags::NeitherMd5),
            DESTINATION_NOT_MD5 => Some(PartEtags::DestinationNotMd5(None)),
            _ => {
                let hex = field.strip_prefix(DESTINATION_NOT_MD5)?.strip_prefix(':')?;
                crate::multipart::parse_md5_hex(hex)
                    .map(|md5| PartEtags::DestinationNotMd5(Some(md5)))
            }
        }
    }
}

/// What a skipped part's partEtag field starts with.
const SKIPPED_PART_PREFIX: &str = "skipped:";

/// The reason a partEtag field of the form `skipped:<reason>` names.
fn skip_reason_of(field: &str) -> Option<crate::skip::SkipReason> {
    let reason = field.strip_prefix(SKIPPED_PART_PREFIX)?;
    crate::skip::SkipReason::ALL
        .into_iter()
        .find(|r| r.as_str() == reason)
}

const COPIED_PART_FIELDS: [&str; 7] = [
    "key",
    "etag",
    "uploadId",
    "partEtag",
    "partNumber",
    "firstByte",
    "lastByte",
];

/// Reads the `etags` field at `index`, which must be one of the [`PartEtags`] markers.
fn parse_part_etags(fields: &[&str], index: usize) -> Result<PartEtags, RecordError> {
    let field = fields[index];
    PartEtags::parse(field).ok_or_else(|| {
        field_error(
            index,
            "etags",
            format!(
                "{field:?} is not src-etag-not-md5, dst-etag-not-md5[:<hex MD5>] or etags-not-md5"
            ),
        )
    })
}

impl CopiedPartRecord {
    /// Parses an objectcopy part line: the 7 fixed fields, then, each optional and
    /// in this order, `etags` (only when the part's ETags are not MD5s), `checksum`
    /// (only when the upload has the source's checksum algorithm) and `dstEtag`
    /// (after `rsync --diff`). Each optional field is told by its text: one of the
    /// [`PartEtags`] markers (they all contain `not-md5`) is `etags`, a field starting
    /// with `checksum:` is `checksum`, anything else must be a `dstEtag` (`-` or an
    /// ETag, which can be mistaken for neither).
    pub fn parse(line: &str) -> Result<Self, RecordError> {
        let fields: Vec<&str> = line.split('\t').collect();
        let fixed = COPIED_PART_FIELDS.len();
        if !(fixed..=fixed + 3).contains(&fields.len()) {
            return Err(RecordError(format!(
                "expected {fixed} TAB-separated fields ({}), or {} to {} with the optional \
                 etags, checksum and dstEtag, found {}",
                COPIED_PART_FIELDS.join(", "),
                fixed + 1,
                fixed + 3,
                fields.len()
            )));
        }
        let mut etags = PartEtags::Md5;
        let mut checksum = None;
        let mut destination = None;
        // The rank of the last optional field read (1 etags, 2 checksum, 3 dstEtag):
        // each comes at most once, in that order.
        let mut seen = 0;
        let out_of_order = |index: usize, name: &str, field: &str| {
            field_error(
                index,
                name,
                format!(
                    "comes after a field that follows it (the order is etags, checksum, \
                     dstEtag, each at most once): {field:?}"
                ),
            )
        };
        for (index, field) in fields.iter().enumerate().skip(fixed) {
            let last = index + 1 == fields.len();
            if PartEtags::is_marker(field) {
                if seen >= 1 {
                    return Err(out_of_order(index, "etags", field));
                }
                seen = 1;
                etags = parse_part_etags(&fields, index)?;
            } else if field.starts_with(crate::checksum::FIELD_PREFIX) {
                if seen >= 2 {
                    return Err(out_of_order(index, "checksum", field));
                }
                seen = 2;
                checksum = Some(
                    PartChecksum::parse_field(field)
                        .map_err(|e| field_error(index, "checksum", e))?,
                );
            } else if !last {
                // Only the last field can be a dstEtag.
                return Err(field_error(
                    index,
                    if seen == 0 { "etags" } else { "checksum" },
                    format!(
                        "is neither an etags marker (src-etag-not-md5, \
                         dst-etag-not-md5[:<hex MD5>], etags-not-md5) nor checksum:…, and \
                         only the last field may be a dstEtag: {field:?}"
                    ),
                ));
            } else if fields.len() == fixed + 1 {
                destination = Some(Destination::parse(&fields, index).map_err(|_| {
                    field_error(
                        index,
                        "etags or dstEtag",
                        format!(
                            "is neither src-etag-not-md5, dst-etag-not-md5[:<hex MD5>], \
                             etags-not-md5, checksum:…, `-` nor an S3 ETag: {field:?}"
                        ),
                    )
                })?);
            } else {
                destination = Some(Destination::parse(&fields, index)?);
            }
        }
        let record = CopiedPartRecord {
            key: parse_key(&fields, 0)?,
            etag: parse_etag(&fields, 1, "etag")?,
            upload_id: fields[2].to_string(),
            part_etag: if skip_reason_of(fields[3]).is_some() {
                fields[3].to_string()
            } else {
                parse_etag(&fields, 3, "partEtag")?
            },
            part_number: parse_number(&fields, 4, "partNumber")?,
            first_byte: parse_number(&fields, 5, "firstByte")?,
            last_byte: parse_number(&fields, 6, "lastByte")?,
            etags,
            checksum,
            destination,
        };
        if record.upload_id.is_empty() || record.upload_id == NULL {
            return Err(field_error(2, "uploadId", "is empty"));
        }
        if record.part_number == 0 || record.part_number > crate::multipart::MAX_PARTS {
            return Err(field_error(4, "partNumber", "must be 1 to 10000"));
        }
        if record.first_byte > record.last_byte {
            return Err(field_error(
                6,
                "lastByte",
                format!(
                    "is before firstByte ({} > {})",
                    record.first_byte, record.last_byte
                ),
            ));
        }
        Ok(record)
    }

    /// The partEtag field of a part objectcopy did not copy because its source is
    /// gone or changed since the listing: `skipped:<reason>` (`skipped:vanished`,
    /// `skipped:changed`). multipartcomplete aborts the upload of such a part's object.
    pub fn skipped_part_etag(reason: crate::skip::SkipReason) -> String {
        format!("{SKIPPED_PART_PREFIX}{reason}")
    }

    /// Why the part was not copied, when its partEtag field says so (see
    /// [`CopiedPartRecord::skipped_part_etag`]).
    pub fn skip_reason(&self) -> Option<crate::skip::SkipReason> {
        skip_reason_of(&self.part_etag)
    }

    /// The record as a line, without its newline.
    pub fn to_line(&self) -> String {
        let etags = match self.etags {
            PartEtags::Md5 => String::new(),
            other => format!("\t{}", other.to_field()),
        };
        let checksum = self
            .checksum
            .as_ref()
            .map_or_else(String::new, |c| format!("\t{}", c.to_field()));
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}{}{}{}",
            escape_key(&self.key),
            self.etag,
            self.upload_id,
            self.part_etag,
            self.part_number,
            self.first_byte,
            self.last_byte,
            etags,
            checksum,
            destination_suffix(self.destination.as_ref())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWKWARD_KEYS: [&str; 10] = [
        "plain",
        "with space",
        "tab\there",
        "line\nfeed",
        "carriage\rreturn",
        "back\\slash",
        "\\N",
        "ünïcödé/日本語/🚀",
        "plus+percent%20and,comma",
        "trailing\\",
    ];

    #[test]
    fn escaping_round_trips() {
        for key in AWKWARD_KEYS {
            let escaped = escape_key(key);
            assert!(!escaped.contains(['\t', '\n', '\r']), "{escaped:?}");
            assert_ne!(escaped, NULL);
            assert_eq!(unescape_key(&escaped).expect("unescape"), key);
        }
    }

    #[test]
    fn plain_keys_are_not_copied() {
        assert!(matches!(escape_key("a/b c+d"), Cow::Borrowed(_)));
    }

    #[test]
    fn bad_escapes_are_refused() {
        assert!(unescape_key("a\\x").is_err());
        assert!(unescape_key("a\\").is_err());
    }

    #[test]
    fn listing_round_trips_with_awkward_keys() {
        for key in AWKWARD_KEYS {
            let record = ListingRecord {
                key: key.to_string(),
                etag: "e5f8e641007332dda1c6cae118f7749c-3".into(),
                size: 20_971_520,
                mtime: "2015-12-24 05:35:21".into(),
                destination: None,
            };
            let line = record.to_line();
            assert_eq!(line.split('\t').count(), 4);
            assert_eq!(ListingRecord::parse(&line).expect("parse"), record);
        }
    }

    #[test]
    fn listing_errors_name_the_field() {
        let error = |line: &str| ListingRecord::parse(line).expect_err("must fail").0;
        assert_eq!(
            error("00\tbe78ac18165af5cf456453eb3f37ec9a\t12a\t2015-12-24 05:26:19"),
            "field 3 (size) is not a number: \"12a\""
        );
        assert_eq!(
            error("00\tbe78ac18165af5cf456453eb3f37ec9a\t10240"),
            "expected 4 TAB-separated fields (key, etag, size, mtime), or 5 with dstEtag, found 3"
        );
        assert!(error("00\tnot-an-etag\t1\t2015-12-24 05:26:19").starts_with("field 2 (etag)"));
        assert!(
            error("00\tbe78ac18165af5cf456453eb3f37ec9a-0\t1\t2015-12-24 05:26:19")
                .starts_with("field 2 (etag)")
        );
        assert!(
            error("00\tbe78ac18165af5cf456453eb3f37ec9a\t1\t2015-12-24T05:26:19Z")
                .starts_with("field 4 (mtime)")
        );
        assert!(
            error("\tbe78ac18165af5cf456453eb3f37ec9a\t1\t2015-12-24 05:26:19")
                .starts_with("field 1 (key) is empty")
        );
        assert!(
            error("-5\tbe78ac18165af5cf456453eb3f37ec9a\t-1\t2015-12-24 05:26:19")
                .starts_with("field 3 (size)")
        );
    }

    #[test]
    fn etag_validation() {
        assert!(is_valid_etag("be78ac18165af5cf456453eb3f37ec9a"));
        assert!(is_valid_etag("e5f8e641007332dda1c6cae118f7749c-3"));
        assert!(is_valid_etag("e5f8e641007332dda1c6cae118f7749c-10000"));
        assert!(!is_valid_etag("e5f8e641007332dda1c6cae118f7749c-10001"));
        assert!(!is_valid_etag("e5f8e641007332dda1c6cae118f7749c-"));
        assert!(!is_valid_etag("e5f8e641007332dda1c6cae118f7749c-03"));
        assert!(!is_valid_etag("\"be78ac18165af5cf456453eb3f37ec9a\""));
        assert!(!is_valid_etag("be78ac18165af5cf456453eb3f37ec9"));
    }

    #[test]
    fn part_records_match_the_article() {
        let single = "00\tbe78ac18165af5cf456453eb3f37ec9a\t10240\t2015-12-24 05:26:19\t\\N\t\\N\t\\N\t\\N\t\\N";
        let record = PartRecord::parse(single).expect("single");
        assert_eq!(record.part, None);
        assert_eq!(record.to_line(), single);

        let part = "000/00\te5f8e641007332dda1c6cae118f7749c-3\t20971520\t2015-12-24 05:35:21\t381e5a11-aa65-11e5-806d-600308952818\t3\t3\t16777216\t20971519";
        let record = PartRecord::parse(part).expect("part");
        assert_eq!(
            record.part,
            Some(PartInfo {
                upload_id: "381e5a11-aa65-11e5-806d-600308952818".into(),
                part_number: 3,
                part_count: 3,
                first_byte: 16_777_216,
                last_byte: 20_971_519,
                checksum: None,
            })
        );
        assert_eq!(record.to_line(), part);
    }

    #[test]
    fn part_records_are_checked() {
        let base = "k\te5f8e641007332dda1c6cae118f7749c-3\t20971520\t2015-12-24 05:35:21";
        let error = |tail: &str| {
            PartRecord::parse(&format!("{base}\t{tail}"))
                .expect_err("must fail")
                .0
        };
        assert!(error("u\t4\t3\t0\t1").starts_with("field 6 (partNumber)"));
        assert!(error("u\t0\t3\t0\t1").starts_with("field 6 (partNumber)"));
        assert!(error("u\t1\t3\t0\t20971520").contains("does not fit"));
        assert!(error("u\t1\t3\t10\t9").contains("does not fit"));
        assert!(error("u\t1\t\\N\t0\t1").contains("all \\N"));
        assert!(error("u\t1\t10001\t0\t1").starts_with("field 7 (partCount)"));
    }

    #[test]
    fn the_empty_part_of_an_empty_object_is_0_0() {
        let etag = "59adb24ef3cdbe0297f05b395827453f-1";
        let line = format!("e\t{etag}\t0\t2026-11-30 12:00:00\tu\t1\t1\t0\t0");
        let record = PartRecord::parse(&line).expect("empty part");
        assert!(record.is_empty_part());
        assert_eq!(record.len(), 0);
        assert_eq!(record.source_range(), None);
        assert_eq!(record.to_line(), line);
        // A one-byte part of a one-byte object is not empty.
        let one = format!("e\t{etag}\t1\t2026-11-30 12:00:00\tu\t1\t1\t0\t0");
        let one = PartRecord::parse(&one).expect("one byte");
        assert!(!one.is_empty_part());
        assert_eq!(one.len(), 1);
        assert!(one.source_range().is_some());
        // No other range fits an empty object, nor 0 0 as one of several parts.
        for tail in ["u\t1\t1\t0\t1", "u\t1\t2\t0\t0", "u\t1\t1\t1\t0"] {
            let bad = format!("e\t{etag}\t0\t2026-11-30 12:00:00\t{tail}");
            let error = PartRecord::parse(&bad).expect_err("must fail").0;
            assert!(error.contains("does not fit"), "{tail}: {error}");
        }
    }

    #[test]
    fn copied_part_round_trips() {
        let record = CopiedPartRecord {
            key: "dir/tab\tkey".into(),
            etag: "e5f8e641007332dda1c6cae118f7749c-3".into(),
            upload_id: "7TiS9GhL59.Ej19ACMh".into(),
            part_etag: "96995b58d4cbf6aaa9041b4f00c7f6ae".into(),
            part_number: 1,
            first_byte: 0,
            last_byte: 8_388_607,
            etags: PartEtags::Md5,
            checksum: None,
            destination: None,
        };
        let line = record.to_line();
        assert_eq!(line.split('\t').count(), 7);
        let md5 = crate::multipart::md5(b"part");
        for etags in [
            PartEtags::SourceNotMd5,
            PartEtags::DestinationNotMd5(None),
            PartEtags::DestinationNotMd5(Some(md5)),
            PartEtags::NeitherMd5,
        ] {
            let kms = CopiedPartRecord {
                etags,
                ..record.clone()
            };
            let line = kms.to_line();
            assert_eq!(line.split('\t').count(), 8);
            assert_eq!(CopiedPartRecord::parse(&line).expect("parse"), kms);
        }
        let bad = CopiedPartRecord::parse(&format!("{line}\tsha1")).expect_err("bad etags");
        assert!(bad.0.contains("etags"), "{}", bad.0);
        assert!(PartEtags::SourceNotMd5.destination_md5());
        assert!(!PartEtags::SourceNotMd5.source_md5());
        assert!(!PartEtags::DestinationNotMd5(None).destination_md5());
        let with_md5 = CopiedPartRecord {
            etags: PartEtags::DestinationNotMd5(Some(md5)),
            ..record.clone()
        };
        assert!(with_md5.to_line().ends_with(&format!(
            "\tdst-etag-not-md5:{}",
            crate::multipart::hex(&md5)
        )));
        assert_eq!(
            CopiedPartRecord::parse(&with_md5.to_line())
                .expect("parse")
                .etags
                .part_md5(),
            Some(md5)
        );
        let short = format!("{line}\tdst-etag-not-md5:abc");
        assert!(CopiedPartRecord::parse(&short).is_err());
        assert_eq!(CopiedPartRecord::parse(&line).expect("parse"), record);
        assert!(CopiedPartRecord::parse("k\tx\tu\tp\t1\t0\t1").is_err());
        let skipped = CopiedPartRecord {
            part_etag: CopiedPartRecord::skipped_part_etag(crate::skip::SkipReason::Vanished),
            ..record.clone()
        };
        assert!(skipped.to_line().contains("\tskipped:vanished\t"));
        let back = CopiedPartRecord::parse(&skipped.to_line()).expect("parse");
        assert_eq!(back.skip_reason(), Some(crate::skip::SkipReason::Vanished));
        assert_eq!(record.skip_reason(), None);
        let unknown = record.to_line().replace(&record.part_etag, "skipped:bored");
        assert!(CopiedPartRecord::parse(&unknown).is_err());
    }

    #[test]
    fn the_destination_field_is_optional_and_last() {
        let etag = "e5f8e641007332dda1c6cae118f7749c-3";
        let dst = "be78ac18165af5cf456453eb3f37ec9a";
        let listing = format!("k\t{etag}\t20971520\t2015-12-24 05:35:21");
        // Listing: absent (`-`) or an ETag, written back as read.
        for (field, expected) in [
            ("-", Destination::Absent),
            (dst, Destination::Etag(dst.to_string())),
        ] {
            let line = format!("{listing}\t{field}");
            let record = ListingRecord::parse(&line).expect("listing");
            assert_eq!(record.destination, Some(expected));
            assert_eq!(record.to_line(), line);
        }
        assert_eq!(
            ListingRecord::parse(&listing).expect("plain").destination,
            None
        );
        let error = ListingRecord::parse(&format!("{listing}\tnope"))
            .expect_err("bad dstEtag")
            .0;
        assert!(error.starts_with("field 5 (dstEtag)"), "{error}");
        assert!(ListingRecord::parse(&format!("{listing}\t-\t-")).is_err());
        // Part records: after the five part fields, for a part and a whole object.
        for tail in ["u\t1\t3\t0\t8388607", "\\N\t\\N\t\\N\t\\N\t\\N"] {
            let line = format!("{listing}\t{tail}\t{dst}");
            let record = PartRecord::parse(&line).expect("part");
            assert_eq!(
                record.object.destination,
                Some(Destination::Etag(dst.to_string()))
            );
            assert_eq!(record.to_line(), line);
            let plain = format!("{listing}\t{tail}");
            assert_eq!(PartRecord::parse(&plain).expect("plain").to_line(), plain);
        }
        let error = PartRecord::parse(&format!("{listing}\tu\t1\t3\t0\t8388607\tx"))
            .expect_err("bad dstEtag")
            .0;
        assert!(error.starts_with("field 10 (dstEtag)"), "{error}");
        // Copied parts: without `etags`, `dstEtag` is the eighth field.
        let copied = format!("k\t{etag}\tu\t{dst}\t1\t0\t8388607");
        let record = CopiedPartRecord::parse(&format!("{copied}\t-")).expect("copied");
        assert_eq!(record.destination, Some(Destination::Absent));
        assert_eq!(record.to_line(), format!("{copied}\t-"));
        assert_eq!(
            CopiedPartRecord::parse(&copied).expect("plain").destination,
            None
        );
        // With `etags` too: `etags` first, `dstEtag` last, and never the other way round.
        let md5 = crate::multipart::md5(b"part");
        for etags in [
            PartEtags::SourceNotMd5,
            PartEtags::DestinationNotMd5(None),
            PartEtags::DestinationNotMd5(Some(md5)),
            PartEtags::NeitherMd5,
        ] {
            for destination in [Destination::Absent, Destination::Etag(dst.to_string())] {
                let both = CopiedPartRecord {
                    etags,
                    destination: Some(destination.clone()),
                    ..record.clone()
                };
                let line = both.to_line();
                assert_eq!(
                    line,
                    format!("{copied}\t{}\t{}", etags.to_field(), destination.as_field())
                );
                assert_eq!(CopiedPartRecord::parse(&line).expect("both"), both);
                let swapped = format!("{copied}\t{}\t{}", destination.as_field(), etags.to_field());
                let error = CopiedPartRecord::parse(&swapped).expect_err("swapped").0;
                assert!(error.starts_with("field 8 (etags)"), "{error}");
            }
            // A lone marker is `etags`, with no destination.
            let alone = CopiedPartRecord::parse(&format!("{copied}\t{}", etags.to_field()))
                .expect("etags alone");
            assert_eq!((alone.etags, alone.destination), (etags, None));
        }
        let error = CopiedPartRecord::parse(&format!("{copied}\tsrc-etag-not-md5\tnope"))
            .expect_err("bad dstEtag after etags")
            .0;
        assert!(error.starts_with("field 9 (dstEtag)"), "{error}");
        let error = CopiedPartRecord::parse(&format!("{copied}\tnope"))
            .expect_err("neither")
            .0;
        assert!(error.starts_with("field 8 (etags or dstEtag)"), "{error}");
        // Ten fields are etags, checksum and dstEtag now; two dstEtags are not.
        let error = CopiedPartRecord::parse(&format!("{copied}\tetags-not-md5\t-\t-"))
            .expect_err("two dstEtags")
            .0;
        assert!(error.starts_with("field 9 (checksum)"), "{error}");
        let error = CopiedPartRecord::parse(&format!("{copied}\tetags-not-md5\t-\t-\t-"))
            .expect_err("eleven fields")
            .0;
        assert_eq!(
            error,
            "expected 7 TAB-separated fields (key, etag, uploadId, partEtag, partNumber, \
             firstByte, lastByte), or 8 to 10 with the optional etags, checksum and dstEtag, \
             found 11"
        );
        // The write conditions.
        assert_eq!(Destination::Absent.if_none_match().as_deref(), Some("*"));
        assert_eq!(Destination::Absent.if_match(), None);
        let held = Destination::Etag(dst.to_string());
        assert_eq!(held.if_none_match(), None);
        assert_eq!(held.if_match(), Some(format!("\"{dst}\"")));
    }

    #[test]
    fn part_records_carry_the_sources_checksum_before_the_destination() {
        let etag = "e5f8e641007332dda1c6cae118f7749c-3";
        let dst = "be78ac18165af5cf456453eb3f37ec9a";
        let head = format!("k\t{etag}\t20971520\t2015-12-24 05:35:21\tu\t1\t3\t0\t8388607");
        let checksum = "checksum:CRC32:COMPOSITE:qviTtg==-3";
        let expected = SourceChecksum::parse_field(checksum).expect("field");
        for (tail, destination) in [
            (format!("\t{checksum}"), None),
            (format!("\t{checksum}\t-"), Some(Destination::Absent)),
            (
                format!("\t{checksum}\t{dst}"),
                Some(Destination::Etag(dst.to_string())),
            ),
        ] {
            let line = format!("{head}{tail}");
            let record = PartRecord::parse(&line).expect(&line);
            let part = record.part.clone().expect("part");
            assert_eq!(part.checksum.as_ref(), Some(&expected));
            assert_eq!(record.object.destination, destination);
            assert_eq!(record.to_line(), line);
        }
        // Without it, as before.
        let plain = PartRecord::parse(&format!("{head}\t-")).expect("plain");
        assert_eq!(plain.part.expect("part").checksum, None);
        // Never after dstEtag, never twice, never on a whole object, never malformed.
        let error = |line: String| PartRecord::parse(&line).expect_err(&line).0;
        assert!(error(format!("{head}\t-\t{checksum}")).starts_with("field 10 (checksum)"));
        assert!(error(format!("{head}\t{checksum}\t{checksum}")).starts_with("field 11 (dstEtag)"));
        let whole =
            "k\tbe78ac18165af5cf456453eb3f37ec9a\t1\t2015-12-24 05:35:21\t\\N\t\\N\t\\N\t\\N\t\\N";
        assert!(error(format!("{whole}\t{checksum}")).contains("not a whole object"));
        assert!(
            error(format!("{head}\tchecksum:CRC32:COMPOSITE:nope"))
                .starts_with("field 10 (checksum) has no CRC32 COMPOSITE value")
        );
        assert!(error(format!("{head}\t-\t-\t-")).starts_with("expected 9"));
    }

    #[test]
    fn copied_parts_carry_every_combination_of_the_optional_fields() {
        let etag = "e5f8e641007332dda1c6cae118f7749c-3";
        let dst = "be78ac18165af5cf456453eb3f37ec9a";
        let copied = format!("k\t{etag}\tu\t{dst}\t1\t0\t8388607");
        let base = CopiedPartRecord::parse(&copied).expect("plain");
        let checksum = crate::checksum::PartChecksum::parse_field(
            "checksum:SHA256:COMPOSITE:cv9mRpH8IGWfZ1pNhShNYFoAKlwbupYGvWDv7sP/uMM=-3:\
             KExlZimgDvMNZHg/5D5DCmix+a2P0UVSi3H0315DKaU=",
        )
        .expect("checksum");
        let md5 = crate::multipart::md5(b"part");
        let all_etags = [
            PartEtags::Md5,
            PartEtags::SourceNotMd5,
            PartEtags::DestinationNotMd5(None),
            PartEtags::DestinationNotMd5(Some(md5)),
            PartEtags::NeitherMd5,
        ];
        for etags in all_etags {
            for checksum in [None, Some(checksum.clone())] {
                for destination in [
                    None,
                    Some(Destination::Absent),
                    Some(Destination::Etag(dst.to_string())),
                ] {
                    let record = CopiedPartRecord {
                        etags,
                        checksum: checksum.clone(),
                        destination: destination.clone(),
                        ..base.clone()
                    };
                    let line = record.to_line();
                    // The fields present, in order: etags, checksum, dstEtag.
                    let mut expected = copied.clone();
                    if etags != PartEtags::Md5 {
                        expected.push_str(&format!("\t{}", etags.to_field()));
                    }
                    if let Some(c) = &checksum {
                        expected.push_str(&format!("\t{}", c.to_field()));
                    }
                    if let Some(d) = &destination {
                        expected.push_str(&format!("\t{}", d.as_field()));
                    }
                    assert_eq!(line, expected);
                    assert_eq!(CopiedPartRecord::parse(&line).expect(&line), record);
                    // Any two optional fields swapped are refused.
                    let fields: Vec<&str> = line.split('\t').collect();
                    for i in 7..fields.len() {
                        for j in i + 1..fields.len() {
                            let mut swapped = fields.clone();
                            swapped.swap(i, j);
                            let swapped = swapped.join("\t");
                            assert!(
                                CopiedPartRecord::parse(&swapped).is_err(),
                                "{swapped} must be refused"
                            );
                        }
                    }
                }
            }
        }
        // A part record's checksum field (no part value) is not a copied part's.
        let error =
            CopiedPartRecord::parse(&format!("{copied}\tchecksum:CRC32:COMPOSITE:qviTtg==-3"))
                .expect_err("no part value")
                .0;
        assert!(error.starts_with("field 8 (checksum)"), "{error}");
        let error = CopiedPartRecord::parse(&format!(
            "{copied}\tetags-not-md5\tchecksum:CRC32:COMPOSITE:qviTtg==-3:AAAA\t-"
        ))
        .expect_err("bad part value")
        .0;
        assert!(error.starts_with("field 9 (checksum)"), "{error}");
    }

    #[test]
    fn mtime_formatting() {
        assert_eq!(format_mtime(0), "1970-01-01 00:00:00");
        assert_eq!(mtime_seconds("2015-12-24 05:35:21"), Some(1_450_935_321));
        assert_eq!(mtime_seconds("2015-12-24T05:35:21"), None);
        assert_eq!(format_mtime(1_450_935_321), "2015-12-24 05:35:21");
        assert_eq!(format_mtime(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_mtime(4_102_444_799), "2099-12-31 23:59:59");
        assert_eq!(format_mtime(-1), "1969-12-31 23:59:59");
        // 2100 is not a leap year; 2400 is.
        assert_eq!(format_mtime(4_107_542_399), "2100-02-28 23:59:59");
        assert_eq!(format_mtime(4_107_542_400), "2100-03-01 00:00:00");
        assert_eq!(format_mtime(13_574_563_200), "2400-02-29 00:00:00");
        assert_eq!(format_mtime(1_483_228_799), "2016-12-31 23:59:59");
        assert_eq!(format_mtime(-2_208_988_800), "1900-01-01 00:00:00");
        assert_eq!(format_mtime(i64::MAX), "9999-12-31 23:59:59");
        assert_eq!(format_mtime(i64::MIN), "-9999-01-01 00:00:00");
    }

    #[test]
    fn mtimes_must_be_real_times_in_the_listing_layout() {
        let mtime = |text: &str| parse_mtime(&[text], 0);
        for good in [
            "2015-12-24 05:35:21",
            "2000-02-29 00:00:00",
            "1970-01-01 00:00:00",
            "9999-12-31 23:59:59",
        ] {
            assert_eq!(mtime(good).expect(good), good);
        }
        for bad in [
            "2015-12-24T05:35:21",
            "2015-12-24 05:35:21Z",
            "2015-12-24 5:35:21",
            "+015-12-24 05:35:21",
            "-015-12-24 05:35:21",
            "2015-13-01 00:00:00",
            "2015-02-29 00:00:00",
            "2015-12-32 00:00:00",
            "2015-12-24 24:00:00",
            "2015-12-24 23:60:00",
            "2015-12-24 23:59:60",
            "yesterday",
            "",
        ] {
            let error = mtime(bad).expect_err(bad).0;
            assert!(
                error.starts_with("field 1 (mtime) is not a time"),
                "{bad}: {error}"
            );
        }
    }
}
