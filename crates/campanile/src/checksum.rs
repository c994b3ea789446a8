//! S3's additional checksums of multipart objects, and how a copy proves itself by
//! them.
//!
//! S3 stores, besides the ETag, a checksum of one of five algorithms (CRC32, CRC32C,
//! CRC64NVME, SHA1, SHA256) for an object written with one, which every object written
//! since 2025 is. For a multipart object it is of one of two types: `COMPOSITE`, the
//! checksum (same algorithm) of the concatenated binary checksums of the parts,
//! written `<base64>-N` for N parts; or `FULL_OBJECT` (CRCs only), the CRC of the
//! whole object, which S3 computes by combining the parts' CRCs. Both are made of the
//! parts' checksums, so a copy with the source's part boundaries can recompute the
//! source's value from the checksums of the bytes it read, before it completes the
//! upload: that proves every byte read, whatever the ETag (an SSE-KMS object's ETag is
//! not an MD5 and cannot prove anything).
//!
//! multipartlist reads the source's checksum ([`SourceChecksum`], with a HEAD in
//! checksum mode) and creates the destination upload with the same algorithm and type;
//! objectcopy computes each part's checksum from the bytes it read, sends it with the
//! UploadPart (S3 checks it) and writes it on the part's line ([`PartChecksum`]);
//! multipartcomplete recomputes the object's value from the parts' ([`combine`]),
//! compares it with the source's before completing, sends the parts' checksums (and,
//! for `FULL_OBJECT`, the whole-object value, which S3 checks again) with the
//! completion, and compares the completed object's value with the source's.

use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// base64 as S3's checksum headers write it (standard alphabet, padded).
fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// One of S3's checksum algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// CRC-32 (ISO-HDLC, zlib's), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli, iSCSI), 4 bytes.
    Crc32c,
    /// CRC-64/NVME, 8 bytes (S3's default).
    Crc64Nvme,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
}

impl Algorithm {
    /// Every algorithm, in the order the SDK checks them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc64Nvme,
        Algorithm::Crc32c,
        Algorithm::Crc32,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// The name S3 gives it (`x-amz-checksum-algorithm`): `CRC32`, `CRC32C`,
    /// `CRC64NVME`, `SHA1`, `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// The algorithm of a name (as [`Algorithm::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The CRC parameters of crc-fast, for the CRCs.
    fn crc(self) -> Option<(crc_fast::CrcAlgorithm, usize)> {
        match self {
            Algorithm::Crc32 => Some((crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4)),
            Algorithm::Crc32c => Some((crc_fast::CrcAlgorithm::Crc32Iscsi, 4)),
            Algorithm::Crc64Nvme => Some((crc_fast::CrcAlgorithm::Crc64Nvme, 8)),
            Algorithm::Sha1 | Algorithm::Sha256 => None,
        }
    }

    /// Whether S3 can combine it into a full-object checksum (the CRCs).
    pub fn combinable(self) -> bool {
        self.crc().is_some()
    }

    /// The SDK's enum.
    pub fn sdk(self) -> aws_sdk_s3::types::ChecksumAlgorithm {
        use aws_sdk_s3::types::ChecksumAlgorithm as Sdk;
        match self {
            Algorithm::Crc32 => Sdk::Crc32,
            Algorithm::Crc32c => Sdk::Crc32C,
            Algorithm::Crc64Nvme => Sdk::Crc64Nvme,
            Algorithm::Sha1 => Sdk::Sha1,
            Algorithm::Sha256 => Sdk::Sha256,
        }
    }

    /// This algorithm's value among the five an SDK answer has (in the order CRC32,
    /// CRC32C, CRC64NVME, SHA1, SHA256), when present and not empty.
    pub fn pick(self, values: [Option<&str>; 5]) -> Option<&str> {
        let index = match self {
            Algorithm::Crc32 => 0,
            Algorithm::Crc32c => 1,
            Algorithm::Crc64Nvme => 2,
            Algorithm::Sha1 => 3,
            Algorithm::Sha256 => 4,
        };
        values[index].filter(|v| !v.is_empty())
    }

    /// The checksum of `data` (the binary digest: big-endian for the CRCs).
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut hasher = Hasher::new(self);
        hasher.update(data);
        hasher.finish()
    }
}

/// A checksum computed as bytes arrive.
pub enum Hasher {
    /// A CRC, and its width in bytes.
    Crc(crc_fast::Digest, usize),
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256.
    Sha256(Sha256),
}

impl Hasher {
    /// A hasher of `algorithm`.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match (algorithm.crc(), algorithm) {
            (Some((crc, width)), _) => Hasher::Crc(crc_fast::Digest::new(crc), width),
            (None, Algorithm::Sha1) => Hasher::Sha1(Sha1::new()),
            (None, _) => Hasher::Sha256(Sha256::new()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(digest, _) => digest.update(data),
            Hasher::Sha1(sha) => sha.update(data),
            Hasher::Sha256(sha) => sha.update(data),
        }
    }

    /// The binary checksum (big-endian for the CRCs, as S3 encodes them).
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc(digest, width) => crc_bytes(digest.finalize(), width),
            Hasher::Sha1(sha) => sha.finalize().to_vec(),
            Hasher::Sha256(sha) => sha.finalize().to_vec(),
        }
    }
}

/// The last `width` bytes of a CRC, big-endian.
fn crc_bytes(crc: u64, width: usize) -> Vec<u8> {
    crc.to_be_bytes()[8 - width..].to_vec()
}

/// The type of a multipart object's checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The checksum of the parts' checksums, `<base64>-N`.
    Composite,
    /// The checksum of the whole object (CRCs only).
    FullObject,
}

impl Kind {
    /// S3's name: `COMPOSITE` or `FULL_OBJECT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Composite => "COMPOSITE",
            Kind::FullObject => "FULL_OBJECT",
        }
    }

    /// The kind of a name (as [`Kind::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Composite, Kind::FullObject]
            .into_iter()
            .find(|k| k.as_str() == name)
    }

    /// The SDK's enum.
    pub fn sdk(self) -> aws_sdk_s3::types::ChecksumType {
        match self {
            Kind::Composite => aws_sdk_s3::types::ChecksumType::Composite,
            Kind::FullObject => aws_sdk_s3::types::ChecksumType::FullObject,
        }
    }

    /// The type an answer names (`None` for one this crate does not know).
    pub fn of_sdk(kind: &aws_sdk_s3::types::ChecksumType) -> Option<Kind> {
        match kind {
            aws_sdk_s3::types::ChecksumType::Composite => Some(Kind::Composite),
            aws_sdk_s3::types::ChecksumType::FullObject => Some(Kind::FullObject),
            _ => None,
        }
    }
}

/// A multipart source object's checksum: its algorithm, type and value as S3 gives it
/// (base64, `-N` after a composite value when the server writes it). The record field
/// `checksum:<ALGO>:<TYPE>:<value>` of a part record ([`crate::record::PartInfo`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceChecksum {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Composite or full-object.
    pub kind: Kind,
    /// The value, as S3 gives it.
    pub value: String,
}

/// What a record field of a checksum starts with.
pub const FIELD_PREFIX: &str = "checksum:";

/// The five checksum values of a HEAD's answer, in the order [`Algorithm::pick`]
/// takes them.
pub fn head_values(
    head: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
) -> [Option<&str>; 5] {
    [
        head.checksum_crc32(),
        head.checksum_crc32_c(),
        head.checksum_crc64_nvme(),
        head.checksum_sha1(),
        head.checksum_sha256(),
    ]
}

/// The one algorithm's value among an answer's five ([`head_values`]), when exactly
/// one is present: a copy carries one checksum, so two are no value to compare with.
pub fn single_value(values: [Option<&str>; 5]) -> Option<(Algorithm, &str)> {
    let mut found = Algorithm::ALL
        .into_iter()
        .filter_map(|algorithm| algorithm.pick(values).map(|v| (algorithm, v)));
    match (found.next(), found.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

impl SourceChecksum {
    /// `request` carrying this value and type, when it is a full-object checksum: S3
    /// checks it against the object the parts make (a composite value is the parts'
    /// checksums, which the request's parts carry).
    pub fn on_completion(
        &self,
        request: aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder,
    ) -> aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder
    {
        if self.kind != Kind::FullObject {
            return request;
        }
        let value = Some(self.value.clone());
        let request = request.checksum_type(self.kind.sdk());
        match self.algorithm {
            Algorithm::Crc32 => request.set_checksum_crc32(value),
            Algorithm::Crc32c => request.set_checksum_crc32_c(value),
            Algorithm::Crc64Nvme => request.set_checksum_crc64_nvme(value),
            Algorithm::Sha1 => request.set_checksum_sha1(value),
            Algorithm::Sha256 => request.set_checksum_sha256(value),
        }
    }

    /// The checksum a HEAD (in checksum mode) shows for a multipart object, when it
    /// can prove a copy: exactly one algorithm's value, of a known type (a value
    /// ending in `-N` without a type is composite; without either, the type cannot be
    /// told); a full-object checksum only of a CRC (S3 has no other). `values` in the
    /// order of [`Algorithm::pick`].
    pub fn of_answer(
        values: [Option<&str>; 5],
        kind: Option<&aws_sdk_s3::types::ChecksumType>,
    ) -> Option<SourceChecksum> {
        let (algorithm, value) = single_value(values)?;
        let kind = match kind.and_then(Kind::of_sdk) {
            Some(kind) => kind,
            None if value.contains('-') => Kind::Composite,
            None => return None,
        };
        let checksum = SourceChecksum {
            algorithm,
            kind,
            value: value.to_string(),
        };
        (checksum.digest().is_some() && (kind == Kind::Composite || algorithm.combinable()))
            .then_some(checksum)
    }

    /// The checksum of a HEAD's answer (see [`SourceChecksum::of_answer`]).
    pub fn of_head(
        head: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
    ) -> Option<SourceChecksum> {
        SourceChecksum::of_answer(head_values(head), head.checksum_type())
    }

    /// The base64 digest, without a composite's `-N`.
    fn base64(&self) -> &str {
        self.value.split_once('-').map_or(&self.value, |(b, _)| b)
    }

    /// The composite's part count, when the value gives one.
    fn parts(&self) -> Option<&str> {
        self.value.split_once('-').map(|(_, n)| n)
    }

    /// The binary digest, if the value is well formed (base64 of the algorithm's width,
    /// and a `-N` only after a composite).
    fn digest(&self) -> Option<Vec<u8>> {
        if self.kind == Kind::FullObject && self.parts().is_some() {
            return None;
        }
        if let Some(n) = self.parts()
            && (n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let digest = base64_decode(self.base64())?;
        (digest.len() == self.algorithm.digest(b"").len()).then_some(digest)
    }

    /// The record field: `checksum:<ALGO>:<TYPE>:<value>`.
    pub fn to_field(&self) -> String {
        format!(
            "{FIELD_PREFIX}{}:{}:{}",
            self.algorithm.as_str(),
            self.kind.as_str(),
            self.value
        )
    }

    /// Reads the text after `checksum:` up to the value (`<ALGO>:<TYPE>:<value>`),
    /// returning the rest after the value's colon, if any.
    fn parse_parts(text: &str) -> Result<(SourceChecksum, Option<&str>), String> {
        let mut pieces = text.splitn(4, ':');
        let algorithm = pieces.next().unwrap_or_default();
        let algorithm = Algorithm::parse(algorithm).ok_or_else(|| {
            format!(
                "names no checksum algorithm (CRC32, CRC32C, CRC64NVME, SHA1, SHA256): {algorithm:?}"
            )
        })?;
        let kind = pieces.next().unwrap_or_default();
        let kind = Kind::parse(kind)
            .ok_or_else(|| format!("names no checksum type (COMPOSITE, FULL_OBJECT): {kind:?}"))?;
        let value = pieces.next().unwrap_or_default().to_string();
        let rest = pieces.next();
        let checksum = SourceChecksum {
            algorithm,
            kind,
            value,
        };
        if checksum.digest().is_none() {
            return Err(format!(
                "has no {} {} value (base64{}): {:?}",
                algorithm.as_str(),
                kind.as_str(),
                if kind == Kind::Composite {
                    ", optionally -N"
                } else {
                    ""
                },
                checksum.value
            ));
        }
        if kind == Kind::FullObject && !algorithm.combinable() {
            return Err(format!(
                "{} cannot be a FULL_OBJECT checksum (only the CRCs can)",
                algorithm.as_str()
            ));
        }
        Ok((checksum, rest))
    }

    /// Parses the record field `checksum:<ALGO>:<TYPE>:<value>`.
    pub fn parse_field(field: &str) -> Result<SourceChecksum, String> {
        let text = field
            .strip_prefix(FIELD_PREFIX)
            .ok_or_else(|| format!("does not start with {FIELD_PREFIX:?}"))?;
        match SourceChecksum::parse_parts(text)? {
            (checksum, None) => Ok(checksum),
            (_, Some(_)) => Err("has a field after the value".to_string()),
        }
    }

    /// Whether `computed` (a composite `<base64>-N` or a full-object base64, as
    /// [`combine`] gives it) is this source's value. A server that writes a composite
    /// value without its `-N` (moto) is compared on the digest alone.
    pub fn matches(&self, computed: &str) -> bool {
        if computed == self.value {
            return true;
        }
        let digest = computed.split_once('-').map_or(computed, |(b, _)| b);
        self.kind == Kind::Composite && self.parts().is_none() && digest == self.value
    }
}

/// One copied part's checksum: the source's (what the part belongs to) and the part's
/// own, base64, computed from the bytes objectcopy read (or given by the server for a
/// server-side copy, or by ListParts for a part an earlier attempt uploaded). The
/// record field `checksum:<ALGO>:<TYPE>:<source value>:<part value>` of a copied part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartChecksum {
    /// The source object's checksum.
    pub source: SourceChecksum,
    /// The part's checksum, base64.
    pub part: String,
}

impl PartChecksum {
    /// The record field.
    pub fn to_field(&self) -> String {
        format!("{}:{}", self.source.to_field(), self.part)
    }

    /// Parses the record field `checksum:<ALGO>:<TYPE>:<source value>:<part value>`.
    pub fn parse_field(field: &str) -> Result<PartChecksum, String> {
        let text = field
            .strip_prefix(FIELD_PREFIX)
            .ok_or_else(|| format!("does not start with {FIELD_PREFIX:?}"))?;
        let (source, part) = SourceChecksum::parse_parts(text)?;
        let part = part.ok_or("has no part value after the source's")?;
        let width = source.algorithm.digest(b"").len();
        if base64_decode(part).is_none_or(|d| d.len() != width) {
            return Err(format!(
                "has no {} part value (base64 of {width} bytes): {part:?}",
                source.algorithm.as_str()
            ));
        }
        Ok(PartChecksum {
            source,
            part: part.to_string(),
        })
    }
}

/// The base64 of a binary checksum, as S3's headers write it.
pub fn encode(digest: &[u8]) -> String {
    base64_encode(digest)
}

/// The object's checksum made of its parts' (base64, in part-number order, each with
/// the part's length in bytes), as S3 computes it: for [`Kind::Composite`] the
/// checksum of the concatenated binary part checksums, `<base64>-N`; for
/// [`Kind::FullObject`] the CRC of the whole object, from the parts' CRCs combined
/// (crc-fast's `checksum_combine`). `None` for a full-object checksum of a SHA (S3 has
/// none), no part, or a part value that is not base64 of the algorithm's width.
pub fn combine(algorithm: Algorithm, kind: Kind, parts: &[(&str, u64)]) -> Option<String> {
    let width = algorithm.digest(b"").len();
    let digests: Vec<(Vec<u8>, u64)> = parts
        .iter()
        .map(|(value, length)| {
            base64_decode(value)
                .filter(|d| d.len() == width)
                .map(|d| (d, *length))
        })
        .collect::<Option<_>>()?;
    if digests.is_empty() {
        return None;
    }
    match kind {
        Kind::Composite => {
            let mut hasher = Hasher::new(algorithm);
            for (digest, _) in &digests {
                hasher.update(digest);
            }
            Some(format!("{}-{}", encode(&hasher.finish()), digests.len()))
        }
        Kind::FullObject => {
            let (crc, width) = algorithm.crc()?;
            let mut whole: Option<u64> = None;
            for (digest, length) in &digests {
                let value = digest
                    .iter()
                    .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                whole = Some(match whole {
                    None => value,
                    Some(before) => crc_fast::checksum_combine(crc, before, value, *length),
                });
            }
            whole.map(|crc| encode(&crc_bytes(crc, width)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference CRCs written out bit by bit (reflected, as all three are), not with
    /// the crate the code uses.
    fn reference_crc(data: &[u8], poly: u64, width: u32) -> u64 {
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1 << width) - 1
        };
        let mut crc = mask;
        for byte in data {
            crc ^= u64::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ poly
                } else {
                    crc >> 1
                };
            }
        }
        !crc & mask
    }

    fn reference(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
        match algorithm {
            Algorithm::Crc32 => reference_crc(data, 0xEDB8_8320, 32).to_be_bytes()[4..].to_vec(),
            Algorithm::Crc32c => reference_crc(data, 0x82F6_3B78, 32).to_be_bytes()[4..].to_vec(),
            Algorithm::Crc64Nvme => reference_crc(data, 0x9A6C_9329_AC4B_C9B5, 64)
                .to_be_bytes()
                .to_vec(),
            Algorithm::Sha1 => Sha1::digest(data).to_vec(),
            Algorithm::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn part(source: &SourceChecksum, data: &[u8]) -> PartChecksum {
        PartChecksum {
            source: source.clone(),
            part: encode(&reference(source.algorithm, data)),
        }
    }

    #[test]
    fn digests_match_the_references() {
        for algorithm in Algorithm::ALL {
            for data in [&b""[..], b"123456789", &[0xa5; 1000][..]] {
                assert_eq!(
                    algorithm.digest(data),
                    reference(algorithm, data),
                    "{algorithm:?}"
                );
            }
        }
        // The published check values of "123456789".
        assert_eq!(
            Algorithm::Crc32.digest(b"123456789"),
            0xCBF4_3926u32.to_be_bytes()
        );
        assert_eq!(
            Algorithm::Crc32c.digest(b"123456789"),
            0xE306_9283u32.to_be_bytes()
        );
        assert_eq!(
            Algorithm::Crc64Nvme.digest(b"123456789"),
            0xAE8B_1486_0A79_9888u64.to_be_bytes()
        );
    }

    #[test]
    fn composites_and_full_objects_are_made_of_the_parts() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let pieces = [&data[..4096], &data[4096..8192], &data[8192..]];
        for algorithm in Algorithm::ALL {
            let source = SourceChecksum {
                algorithm,
                kind: Kind::Composite,
                value: String::new(),
            };
            let parts: Vec<PartChecksum> = pieces.iter().map(|p| part(&source, p)).collect();
            let with_lengths: Vec<(&str, u64)> = parts
                .iter()
                .zip(pieces)
                .map(|(p, d)| (p.part.as_str(), d.len() as u64))
                .collect();
            // Composite: the checksum of the concatenated part checksums, `-3`.
            let concatenated: Vec<u8> = pieces
                .iter()
                .flat_map(|p| reference(algorithm, p))
                .collect();
            let expected = format!("{}-3", encode(&reference(algorithm, &concatenated)));
            assert_eq!(
                combine(algorithm, Kind::Composite, &with_lengths).as_deref(),
                Some(expected.as_str()),
                "{algorithm:?}"
            );
            // Full object: the checksum of all the bytes, CRCs only.
            let full = combine(algorithm, Kind::FullObject, &with_lengths);
            if algorithm.combinable() {
                assert_eq!(
                    full,
                    Some(encode(&reference(algorithm, &data))),
                    "{algorithm:?}"
                );
            } else {
                assert_eq!(full, None, "{algorithm:?}");
            }
            // One part: a full-object CRC is the part's own.
            if algorithm.combinable() {
                assert_eq!(
                    combine(algorithm, Kind::FullObject, &with_lengths[..1]),
                    Some(parts[0].part.clone())
                );
            }
        }
        // A value S3 gave (Garage, CRC32 of three parts) is matched.
        let garage =
            SourceChecksum::parse_field("checksum:CRC32:COMPOSITE:qviTtg==-3").expect("field");
        assert!(garage.matches("qviTtg==-3"));
        assert!(!garage.matches("qviTtg==-2"));
        assert!(!garage.matches("qviTtA==-3"));
        // moto writes a composite without its `-N`: the digest is compared.
        let moto = SourceChecksum::parse_field("checksum:CRC32:COMPOSITE:Wwo1MA==").expect("field");
        assert!(moto.matches("Wwo1MA==-3"));
        assert!(!moto.matches("Wwo1MB==-3"));
        let full =
            SourceChecksum::parse_field("checksum:CRC32:FULL_OBJECT:1ChkKw==").expect("full");
        assert!(full.matches("1ChkKw=="));
        assert!(!full.matches("1ChkKw==-3"));
    }

    #[test]
    fn fields_round_trip_and_bad_ones_say_why() {
        let source = SourceChecksum {
            algorithm: Algorithm::Sha256,
            kind: Kind::Composite,
            value: "cv9mRpH8IGWfZ1pNhShNYFoAKlwbupYGvWDv7sP/uMM=-3".into(),
        };
        let field = source.to_field();
        assert_eq!(
            field,
            "checksum:SHA256:COMPOSITE:cv9mRpH8IGWfZ1pNhShNYFoAKlwbupYGvWDv7sP/uMM=-3"
        );
        assert_eq!(SourceChecksum::parse_field(&field), Ok(source.clone()));
        let copied = PartChecksum {
            source: source.clone(),
            part: "KExlZimgDvMNZHg/5D5DCmix+a2P0UVSi3H0315DKaU=".into(),
        };
        assert_eq!(
            PartChecksum::parse_field(&copied.to_field()),
            Ok(copied.clone())
        );
        // A part record's field is not a copied part's, nor the other way round.
        assert!(PartChecksum::parse_field(&field).is_err());
        assert!(SourceChecksum::parse_field(&copied.to_field()).is_err());
        for bad in [
            "checksum:MD5:COMPOSITE:AAAAAA==",
            "checksum:CRC32:MIXED:AAAAAA==",
            "checksum:CRC32:COMPOSITE:AAAA",
            "checksum:CRC32:COMPOSITE:!!!!!!==",
            "checksum:CRC32:COMPOSITE:AAAAAA==-",
            "checksum:CRC32:COMPOSITE:AAAAAA==-x",
            "checksum:CRC32:FULL_OBJECT:AAAAAA==-3",
            "checksum:SHA1:FULL_OBJECT:AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "checksum:CRC32",
            "crc:CRC32:COMPOSITE:AAAAAA==",
        ] {
            assert!(SourceChecksum::parse_field(bad).is_err(), "{bad}");
        }
        assert!(PartChecksum::parse_field("checksum:CRC32:COMPOSITE:AAAAAA==-2:AAAA").is_err());
        assert!(PartChecksum::parse_field("checksum:CRC32:COMPOSITE:AAAAAA==-2:").is_err());
    }

    #[test]
    fn answers_give_a_checksum_only_when_it_can_prove_a_copy() {
        use aws_sdk_s3::types::ChecksumType;
        let crc32 = Some("qviTtg==-3");
        let none = None;
        let answer = SourceChecksum::of_answer([crc32, none, none, none, none], None)
            .expect("composite by its -N");
        assert_eq!(
            (answer.algorithm, answer.kind),
            (Algorithm::Crc32, Kind::Composite)
        );
        // A full-object value without a type cannot be told from a part's.
        assert_eq!(
            SourceChecksum::of_answer([Some("1ChkKw=="), none, none, none, none], None),
            None
        );
        let full = SourceChecksum::of_answer(
            [Some("1ChkKw=="), none, none, none, none],
            Some(&ChecksumType::FullObject),
        )
        .expect("full");
        assert_eq!(full.kind, Kind::FullObject);
        // SHA256 full-object (moto takes it; S3 refuses it): nothing to combine.
        let sha = "T98+7awY7xT4jWJKVAqRSH7/rsJJYeCjTwJ38ZuJglQ=";
        assert_eq!(
            SourceChecksum::of_answer(
                [none, none, none, none, Some(sha)],
                Some(&ChecksumType::FullObject)
            ),
            None
        );
        // Two algorithms at once: not one checksum.
        assert_eq!(
            SourceChecksum::of_answer(
                [crc32, none, none, none, Some(sha)],
                Some(&ChecksumType::Composite)
            ),
            None
        );
        assert_eq!(SourceChecksum::of_answer([none; 5], None), None);
    }
}
