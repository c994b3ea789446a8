//! Proofs for every object (docs/reliability.md): copies of SSE-KMS objects, whose
//! ETags are not MD5s on S3, and of objects with additional checksums. Garage and moto
//! give SSE-KMS objects plain MD5 ETags, so S3's behaviour is modelled at the wire by
//! the test proxy's KMS mode ([`FaultPlan::kms`]) in front of moto (the proxy rewrites
//! requests, which only a server that does not check signatures takes). moto stores a
//! PutObject's checksum (without checking it) and gives it back with `ChecksumMode:
//! ENABLED`; Garage 2.5 checks and stores it, so the checksums a copy writes are tested
//! there.
//!
//! Multipart checksums, as the servers were found to handle them (probed with the
//! uploads these tests make): Garage 2.5 takes an upload's checksum algorithm and type
//! (COMPOSITE for every algorithm, FULL_OBJECT for the CRCs; it refuses FULL_OBJECT
//! with SHA256), checks every part's checksum on UploadPart (`InvalidDigest`), gives it
//! back on UploadPart and ListParts, checks the parts' checksums and a FULL_OBJECT value
//! on CompleteMultipartUpload, and answers HEAD in checksum mode with `<value>-N` and
//! the type (a `partNumber` HEAD gives the object's value too). Its UploadPartCopy
//! gives no checksum. moto 5 takes the algorithm and type but checks nothing: it
//! ignores the parts' checksums, gives none back (UploadPart, ListParts, completion),
//! and computes the object's value itself, a composite without its `-N`, with CRC32
//! in place of CRC32C and CRC64NVME (no `awscrt`), and without a type for those; so the
//! moto tests use CRC32 and SHA256, which it computes right.

use crate::common::*;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use campanile_testkit::S3Server;
use campanile_testkit::faults::{FaultKind, FaultPlan, FaultProxy};
use campanile_testkit::fixtures::{self, FixtureObject};
use std::sync::{Arc, Mutex};

/// Source and destination buckets on moto, the source holding `objects` (and
/// `checksummed`, uploaded with a CRC32 checksum), and a proxy with `plan` built from
/// the bucket names.
struct Kms {
    server: &'static S3Server,
    client: aws_sdk_s3::Client,
    src: String,
    dst: String,
    proxy: FaultProxy,
    work: tempfile::TempDir,
}

impl Kms {
    async fn new(
        tag: &str,
        objects: &[FixtureObject],
        checksummed: &[FixtureObject],
        plan: impl FnOnce(&str, &str) -> FaultPlan,
    ) -> Kms {
        Kms::on(campanile_testkit::moto(), tag, objects, checksummed, plan).await
    }

    /// [`Kms::new`] on `server`; `objects` are uploaded without a checksum.
    async fn on(
        server: &'static S3Server,
        tag: &str,
        objects: &[FixtureObject],
        checksummed: &[FixtureObject],
        plan: impl FnOnce(&str, &str) -> FaultPlan,
    ) -> Kms {
        let client = server.client().await;
        // The SDK would add a CRC32 to every PutObject of the fixtures.
        let client = aws_sdk_s3::Client::from_conf(
            client
                .config()
                .to_builder()
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .build(),
        );
        let src = campanile_testkit::unique_bucket(&format!("{tag}-src"));
        let dst = campanile_testkit::unique_bucket(&format!("{tag}-dst"));
        server.create_bucket(&client, &src).await;
        server.create_bucket(&client, &dst).await;
        fixtures::upload_all(&client, &src, objects).await;
        for object in checksummed {
            // Given as a header (the SDK would otherwise send it in a trailer).
            let bytes = object.bytes();
            client
                .put_object()
                .bucket(&src)
                .key(&object.key)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .checksum_crc32(crc32_base64(&bytes))
                .body(ByteStream::from(bytes))
                .send()
                .await
                .expect("PUT with a checksum");
        }
        let proxy = FaultProxy::start(&server.endpoint, plan(&src, &dst))
            .await
            .expect("start proxy");
        Kms {
            server,
            client,
            src,
            dst,
            proxy,
            work: tempfile::tempdir().expect("tempdir"),
        }
    }

    async fn rsync(&self) -> Run {
        self.rsync_with(&[]).await
    }

    /// [`Kms::rsync`] with more rsync arguments.
    async fn rsync_with(&self, extra: &[&'static str]) -> Run {
        let extra = extra.to_vec();
        let part_file = self.work.path().join("part.all");
        std::fs::write(&part_file, ",\n").expect("part file");
        let endpoint = self.proxy.endpoint();
        let work = self.work.path().to_path_buf();
        let (src, dst) = (self.src.clone(), self.dst.clone());
        let server = self.server;
        tokio::task::spawn_blocking(move || {
            rsync_local_at(
                server,
                &endpoint,
                &work,
                &part_file,
                (&src, &dst),
                &extra,
                &[],
            )
        })
        .await
        .expect("rsync thread")
    }

    /// Every object identical at the destination (compared on the server itself, whose
    /// ETags are MD5s: bytes, ETag, Content-Type; not the encryption, which only the
    /// proxy showed) and no upload left.
    async fn assert_copied(&self, keys: &[&str], run: &Run) {
        for key in keys {
            let get = |bucket: String| {
                let client = self.client.clone();
                let key = key.to_string();
                async move {
                    let got = client
                        .get_object()
                        .bucket(&bucket)
                        .key(&key)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("GET s3://{bucket}/{key}: {e:?}"));
                    let etag = got.e_tag().map(str::to_string);
                    let kind = got.content_type().map(str::to_string);
                    let bytes = got.body.collect().await.expect("body").into_bytes();
                    (etag, kind, bytes)
                }
            };
            let (a, b) = (get(self.src.clone()).await, get(self.dst.clone()).await);
            assert_eq!(a.0, b.0, "ETag of {key:?}");
            assert_eq!(a.1, b.1, "Content-Type of {key:?}");
            assert!(a.2 == b.2, "bytes of {key:?} differ");
        }
        assert_eq!(
            uploads_in_progress(&self.client, &self.dst).await,
            0,
            "uploads left in progress:\n{}",
            run.stderr
        );
    }
}

/// CRC32 (IEEE) of `data`, base64 of its big-endian bytes, as `x-amz-checksum-crc32`.
pub(crate) fn crc32_base64(data: &[u8]) -> String {
    use base64::Engine;
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    base64::engine::general_purpose::STANDARD.encode((!crc).to_be_bytes())
}

/// The text of every `part-*` file under `dir` (the run's outputs, gzip or not).
fn part_files(dir: &std::path::Path) -> String {
    use std::io::Read;
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&part_files(&path));
        } else if entry.file_name().to_string_lossy().starts_with("part-") {
            let bytes = std::fs::read(&path).expect("read");
            if path.extension().is_some_and(|e| e == "gz") {
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_string(&mut text)
                    .expect("gunzip");
            } else {
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    text
}

/// The rows of every skip report (`_skipped.jsonl`) under `dir`, as (key, reason).
fn reported(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rows.extend(reported(&path));
        } else if entry.file_name() == "_skipped.jsonl" {
            for line in std::fs::read_to_string(&path).expect("read").lines() {
                let row: serde_json::Value = serde_json::from_str(line).expect(line);
                rows.push((
                    row["key"].as_str().expect("key").to_string(),
                    row["reason"].as_str().expect("reason").to_string(),
                ));
            }
        }
    }
    rows.sort();
    rows
}

fn mib() -> u64 {
    1024 * 1024
}

/// SSE-KMS on both sides: no ETag check can pass (none is an MD5), so an object is
/// proven by its checksum when it has one, and otherwise copied and reported as
/// unverifiable at source, whole or multipart; none is aborted.
#[tokio::test(flavor = "multi_thread")]
async fn kms_objects_are_copied_with_the_proof_each_can_have() {
    let objects = [
        FixtureObject::whole("plain-kms", 200_000),
        FixtureObject::multipart("multi-kms", 6 * mib(), 5 * mib()),
    ];
    let checksummed = [FixtureObject::whole("crc-kms", 100_000)];
    let kms = Kms::new("kms-both", &objects, &checksummed, |src, dst| {
        FaultPlan::kms(&[src, dst])
    })
    .await;
    let run = kms.rsync().await;
    // Copied, but two are not proven: exit 3 and a report row each, not silence.
    assert_eq!(run.code, 3, "{}", run.stderr);
    kms.assert_copied(&["plain-kms", "multi-kms", "crc-kms"], &run)
        .await;
    assert_eq!(
        reported(kms.work.path()),
        [
            (
                "multi-kms".to_string(),
                "unverifiable_at_source".to_string()
            ),
            (
                "plain-kms".to_string(),
                "unverifiable_at_source".to_string()
            ),
        ],
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("_skipped.jsonl"), "{}", run.stderr);
    assert_eq!(counter_total(&run, "ProvenByChecksum"), 1, "{}", run.stdout);
    assert_eq!(
        counter_total(&run, "UnverifiableAtSource"),
        2,
        "{}",
        run.stdout
    );
    assert_eq!(counter_total(&run, "ProvenByMd5"), 0, "{}", run.stdout);
    assert_eq!(counter_total(&run, "EtagMismatch"), 0, "{}", run.stdout);
}

/// A plain source into a bucket with default SSE-KMS: the writes' answers say aws:kms
/// and their ETags are not MD5s; the check is keyed on that answer, not on the source,
/// so nothing fails, and every object is still proven by its source's MD5 ETag (the
/// whole object at its GET, the multipart one before completing, from the parts' MD5s
/// objectcopy gives on their lines since their ETags are not MD5s).
#[tokio::test(flavor = "multi_thread")]
async fn a_destination_with_default_kms_does_not_fail_the_etag_checks() {
    let objects = [
        FixtureObject::whole("plain", 200_000),
        FixtureObject::multipart("multi", 6 * mib(), 5 * mib()),
    ];
    let kms = Kms::new("kms-dst", &objects, &[], |_, dst| FaultPlan::kms(&[dst])).await;
    // The writes of `plain` (PUTs to its key), with whether each had Content-MD5.
    let writes = Arc::new(Mutex::new(Vec::new()));
    {
        let (writes, path) = (writes.clone(), format!("/{}/plain", kms.dst));
        kms.proxy.set_hook(Arc::new(move |exchange| {
            if exchange.method == "PUT" && exchange.target.split('?').next() == Some(&path) {
                let mut writes = writes.lock().unwrap_or_else(|p| p.into_inner());
                writes.push(exchange.content_md5);
            }
        }));
    }
    let run = kms.rsync().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    kms.assert_copied(&["plain", "multi"], &run).await;
    assert!(reported(kms.work.path()).is_empty(), "{}", run.stderr);
    // The default first lets the server copy (CopyObject: no body, no Content-MD5); its
    // answer says aws:kms, so that copy proves nothing and the task copies the object
    // again, proven by its Content-MD5; nothing counts as copied by the server.
    assert_eq!(
        *writes.lock().unwrap_or_else(|p| p.into_inner()),
        vec![false, true],
        "{}",
        run.stderr
    );
    assert_eq!(counter_total(&run, "ServerSideBytes"), 0, "{}", run.stdout);
    assert_eq!(counter_total(&run, "ProvenByMd5"), 2, "{}", run.stdout);
    assert_eq!(
        counter_total(&run, "UnverifiableAtSource"),
        0,
        "{}",
        run.stdout
    );
    // The part lines say so, with the parts' MD5s.
    let part_map = part_files(kms.work.path());
    assert!(
        part_map.contains("\tdst-etag-not-md5:"),
        "part map:\n{part_map}"
    );
    assert_eq!(counter_total(&run, "EtagMismatch"), 0, "{}", run.stdout);
}

/// An SSE-KMS source with a checksum: a bit flipped in its GET body cannot be caught by
/// MD5 (its ETag is not one); the checksum catches it and the GET is tried again.
#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_in_a_kms_object_is_caught_by_its_checksum() {
    let checksummed = [FixtureObject::whole("crc-kms", 300_000)];
    let kms = Kms::new("kms-flip", &[], &checksummed, |src, _| FaultPlan {
        rate: 1.0,
        kinds: vec![FaultKind::FlipResponseByte],
        limit: Some(1),
        ..FaultPlan::kms(&[src])
    })
    .await;
    let run = kms.rsync().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(kms.proxy.stats().injected[&FaultKind::FlipResponseByte], 1);
    kms.assert_copied(&["crc-kms"], &run).await;
    assert_eq!(counter_total(&run, "ProvenByChecksum"), 1, "{}", run.stdout);
}

/// The checksums a whole object is written with through the tasks, on Garage (which
/// checks a write's checksum and stores it): the source's own when it has one (CRC32
/// here), else the CRC64NVME of the bytes read. Both objects are proven by their MD5
/// ETags too.
#[tokio::test(flavor = "multi_thread")]
async fn whole_objects_are_written_with_the_sources_checksum_or_a_crc64nvme() {
    let (server_bytes, copy) =
        whole_object_checksums("checksums", &["--no-server-side-copy"]).await;
    assert_eq!(server_bytes, 0);
    assert!(
        copy.checksum_crc64_nvme().is_some(),
        "the copy has a CRC64NVME: {copy:?}"
    );
}

/// The same objects copied in the server (the default with one key on one endpoint):
/// the copy keeps the source's CRC32, whose value CopyObject shows and the task
/// compares; a source without a checksum gets none (asking for one would make the
/// server re-read and re-write every byte, to compare with nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_in_the_server_keeps_the_sources_checksum_and_adds_none() {
    let (server_bytes, copy) = whole_object_checksums("checksums-server", &[]).await;
    assert_eq!(server_bytes, 270_000, "both objects copied in the server");
    assert_eq!(copy.checksum_crc64_nvme(), None, "{copy:?}");
    assert_eq!(copy.checksum_crc32(), None, "{copy:?}");
}

/// Copies a source without a checksum (`none`) and one with a CRC32 (`crc32`) with
/// rsync's `args`; checks both are proven by their ETags and the CRC32 is kept, and
/// returns the bytes the server copied and the HEAD of the copy of `none`.
async fn whole_object_checksums(
    tag: &str,
    args: &[&'static str],
) -> (i64, aws_sdk_s3::operation::head_object::HeadObjectOutput) {
    let objects = [FixtureObject::whole("none", 150_000)];
    let checksummed = [FixtureObject::whole("crc32", 120_000)];
    let kms = Kms::on(
        campanile_testkit::s3(),
        tag,
        &objects,
        &checksummed,
        |_, _| FaultPlan::none(),
    )
    .await;
    let run = kms.rsync_with(args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    kms.assert_copied(&["none", "crc32"], &run).await;
    assert_eq!(counter_total(&run, "ProvenByMd5"), 2, "{}", run.stdout);
    let head = |bucket: String, key: &'static str| {
        let client = kms.client.clone();
        async move {
            client
                .head_object()
                .bucket(&bucket)
                .key(key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .expect("HEAD")
        }
    };
    let source = head(kms.src.clone(), "crc32").await;
    let copy = head(kms.dst.clone(), "crc32").await;
    assert_eq!(
        source.checksum_crc32(),
        Some(crc32_base64(&checksummed[0].bytes()).as_str())
    );
    assert_eq!(copy.checksum_crc32(), source.checksum_crc32());
    let source = head(kms.src.clone(), "none").await;
    assert_eq!(source.checksum_crc64_nvme(), None);
    assert_eq!(source.checksum_crc32(), None);
    let server_bytes = counter_total(&run, "ServerSideBytes");
    (server_bytes, head(kms.dst.clone(), "none").await)
}

/// A server-side copy (CopyObject) of an SSE-KMS source into a plain destination: the
/// copy's ETag is an MD5 and cannot equal the source's; a HEAD of the source shows it is
/// SSE-KMS, so the copy is not failed for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_side_copy_of_a_kms_object_is_not_failed_for_its_etag() {
    let objects = [FixtureObject::whole("kms-whole", 50_000)];
    let kms = Kms::new("kms-copy", &objects, &[], |src, _| FaultPlan::kms(&[src])).await;
    let run = kms.rsync_with(&["--server-side-copy"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    kms.assert_copied(&["kms-whole"], &run).await;
}

/// SSE-KMS on both sides after `rsync --diff`: a copied part's line carries both
/// optional fields, `etags` then the diff's `dstEtag`, and multipartcomplete reads them
/// both (its completion conditional on the key being still absent); a whole object the
/// destination held with other bytes is written over its `If-Match` (the destination's
/// KMS ETag, which the proxy maps back to moto's).
#[tokio::test(flavor = "multi_thread")]
async fn kms_parts_after_a_diff_carry_etags_then_the_destination() {
    let objects = [
        FixtureObject::whole("plain-kms", 200_000),
        FixtureObject::multipart("multi-kms", 6 * mib(), 5 * mib()),
    ];
    let kms = Kms::new("kms-diff", &objects, &[], |src, dst| {
        FaultPlan::kms(&[src, dst])
    })
    .await;
    // The destination holds an older plain-kms (If-Match) and no multi-kms
    // (If-None-Match: *).
    kms.client
        .put_object()
        .bucket(&kms.dst)
        .key("plain-kms")
        .body(ByteStream::from(b"an older version".to_vec()))
        .send()
        .await
        .expect("PUT the older version");
    let run = kms.rsync_with(&["--diff"]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    kms.assert_copied(&["plain-kms", "multi-kms"], &run).await;
    let reasons: Vec<String> = reported(kms.work.path())
        .into_iter()
        .map(|(key, reason)| format!("{key}:{reason}"))
        .collect();
    assert_eq!(
        reasons,
        [
            "multi-kms:unverifiable_at_source",
            "plain-kms:unverifiable_at_source"
        ],
        "{}",
        run.stderr
    );
    let part_map = part_files(kms.work.path());
    // The copied parts' lines (the other stages' files are under the run too).
    let lines: Vec<&str> = part_map
        .lines()
        .filter(|line| line.starts_with("multi-kms\t") && line.contains("not-md5"))
        .collect();
    assert_eq!(lines.len(), 2, "part map:\n{part_map}");
    for line in lines {
        assert_eq!(line.split('\t').count(), 9, "{line}");
        assert!(line.ends_with("\tetags-not-md5\t-"), "{line}");
        let record = campanile::record::CopiedPartRecord::parse(line).expect(line);
        assert_eq!(record.etags, campanile::record::PartEtags::NeitherMd5);
        assert_eq!(
            record.destination,
            Some(campanile::record::Destination::Absent)
        );
    }
    assert_eq!(
        counter_total(&run, "UnverifiableAtSource"),
        2,
        "{}",
        run.stdout
    );
    assert_eq!(
        counter_total(&run, "DestinationChanged"),
        0,
        "{}",
        run.stdout
    );
    assert_eq!(counter_total(&run, "EtagMismatch"), 0, "{}", run.stdout);
}

/// A retry of this copy's own conditional write (`rsync --diff`), refused because the
/// first one landed (its answer lost, say), into an SSE-KMS destination: the
/// destination's ETag is not the source's, so only the checksum can tell the object
/// is the copy's own. It is done, not reported as `destination_changed`. (The
/// destination is modelled by the proxy's KMS mode over moto, which honours
/// `If-None-Match` on PutObject and stores the checksum a PUT sends.)
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_retry_of_an_own_kms_write_is_done_not_changed() {
    let checksummed = [FixtureObject::whole("own", 70_000)];
    let kms = Kms::new("kms-own", &[], &checksummed, |_, dst| {
        FaultPlan::kms(&[dst])
    })
    .await;
    let listing = list_bucket(kms.server, &kms.src, ",\n").stdout;
    // As the diff writes it for a key the destination lacked: If-None-Match: *.
    let line = format!("{}\t\\N\t\\N\t\\N\t\\N\t\\N\t-\n", listing.trim_end());
    let endpoint = kms.proxy.endpoint();
    let args: Vec<String> = [
        "--src-bucket",
        &kms.src,
        "--src-endpoint",
        &endpoint,
        "--dst-bucket",
        &kms.dst,
        "--dst-endpoint",
        &endpoint,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let first = stage(OBJECTCOPY, &args, &line, kms.server);
    assert_eq!(first.counter(&kms.dst, "Objects"), 1, "{}", first.stderr);
    // The same line again: the condition refuses the PUT (the key exists now).
    let again = stage(OBJECTCOPY, &args, &line, kms.server);
    assert_eq!(
        again.counter(&kms.dst, "AlreadyCopied"),
        1,
        "{}",
        again.stderr
    );
    assert_eq!(
        again.counter(&kms.dst, "DestinationChanged"),
        0,
        "{}",
        again.stderr
    );
    assert!(
        !again.lines().iter().any(|l| campanile::skip::is_row(l)),
        "{}",
        again.stdout
    );
    kms.assert_copied(&["own"], &again).await;
    // Someone else's bytes at the key: now the refusal stands.
    kms.client
        .put_object()
        .bucket(&kms.dst)
        .key("own")
        .body(ByteStream::from(b"another writer".to_vec()))
        .send()
        .await
        .expect("PUT another version");
    let refused = stage(OBJECTCOPY, &args, &line, kms.server);
    assert_eq!(
        refused.counter(&kms.dst, "DestinationChanged"),
        1,
        "{}",
        refused.stderr
    );
}

/// The text of every task attempt's `stderr` log under `dir` (a run directory).
fn stderr_logs(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&stderr_logs(&path));
        } else if entry.file_name() == "stderr" {
            text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    text
}

/// The parts of `data` in parts of `part_size` bytes (the last takes the rest).
fn split(data: &[u8], part_size: u64) -> Vec<&[u8]> {
    data.chunks(usize::try_from(part_size).expect("part size"))
        .collect()
}

/// The base64 SHA-256 of `data`, computed with the sha2 crate directly.
fn sha256_base64(data: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(data))
}

/// How a test source is uploaded: in parts, with a checksum of this algorithm and type.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Uploaded {
    /// SHA256, composite.
    Sha256Composite,
    /// CRC32, composite.
    Crc32Composite,
    /// CRC32, full object.
    Crc32Full,
}

impl Uploaded {
    fn checksum(self, data: &[u8]) -> String {
        match self {
            Uploaded::Sha256Composite => sha256_base64(data),
            Uploaded::Crc32Composite | Uploaded::Crc32Full => crc32_base64(data),
        }
    }

    fn decode(value: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .expect("base64")
    }

    /// The object's value S3 gives for these parts: the checksum of the concatenated
    /// binary part checksums `-N`, or the checksum of the whole.
    fn object_value(self, data: &[u8], parts: &[&[u8]]) -> String {
        match self {
            Uploaded::Crc32Full => self.checksum(data),
            _ => {
                let concatenated: Vec<u8> = parts
                    .iter()
                    .flat_map(|p| Uploaded::decode(&self.checksum(p)))
                    .collect();
                format!("{}-{}", self.checksum(&concatenated), parts.len())
            }
        }
    }

    /// This algorithm's value in a HEAD's answer.
    fn of_head(
        self,
        head: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
    ) -> Option<String> {
        match self {
            Uploaded::Sha256Composite => head.checksum_sha256(),
            _ => head.checksum_crc32(),
        }
        .map(str::to_string)
    }

    fn kind(self) -> aws_sdk_s3::types::ChecksumType {
        match self {
            Uploaded::Crc32Full => aws_sdk_s3::types::ChecksumType::FullObject,
            _ => aws_sdk_s3::types::ChecksumType::Composite,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Uploaded::Sha256Composite => "SHA256",
            _ => "CRC32",
        }
    }
}

/// Uploads `object` in its parts to `bucket` with each part's checksum and the
/// upload's algorithm and type (the whole object's value with the completion for a
/// full-object checksum); returns the object's value as S3 gives it.
pub(crate) async fn put_multipart_with_checksum(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    object: &FixtureObject,
    uploaded: Uploaded,
) -> String {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let data = object.bytes();
    let parts = split(&data, object.part_size.expect("a multipart fixture"));
    let algorithm = match uploaded {
        Uploaded::Sha256Composite => ChecksumAlgorithm::Sha256,
        _ => ChecksumAlgorithm::Crc32,
    };
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(&object.key)
        .checksum_algorithm(algorithm)
        .checksum_type(uploaded.kind())
        .send()
        .await
        .expect("create upload");
    let upload_id = created.upload_id().expect("upload id");
    let mut completed = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let number = i32::try_from(index + 1).expect("part number");
        let value = uploaded.checksum(part);
        let request = client
            .upload_part()
            .bucket(bucket)
            .key(&object.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part.to_vec()));
        let request = match uploaded {
            Uploaded::Sha256Composite => request.checksum_sha256(&value),
            _ => request.checksum_crc32(&value),
        };
        let done = request.send().await.expect("upload part");
        let part = CompletedPart::builder()
            .part_number(number)
            .e_tag(done.e_tag().expect("part ETag"));
        completed.push(
            match uploaded {
                Uploaded::Sha256Composite => part.checksum_sha256(value),
                _ => part.checksum_crc32(value),
            }
            .build(),
        );
    }
    let request = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(&object.key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        );
    let request = match uploaded {
        Uploaded::Crc32Full => request
            .checksum_type(uploaded.kind())
            .checksum_crc32(uploaded.checksum(&data)),
        _ => request,
    };
    request.send().await.expect("complete upload");
    uploaded.object_value(&data, &parts)
}

/// The HEAD of `key` in checksum mode.
async fn head_checksum(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap_or_else(|e| panic!("HEAD s3://{bucket}/{key}: {e:?}"))
}

/// Multipart sources with checksums on Garage (which checks part checksums and the
/// full-object value, and stores them): the copies keep the layout (same ETag), the
/// algorithm, the type and the value, composite (SHA256, CRC32) or full-object (CRC32).
/// Each part's checksum is computed from the bytes read and checked by Garage on
/// UploadPart, and multipartcomplete recomputes the source's value from the parts'
/// before completing. The sources are plain (MD5 ETags), so they keep their MD5 proof
/// (`ProvenByMd5`), their checksums checked besides. On main, the copies had no
/// checksum at all.
#[tokio::test(flavor = "multi_thread")]
async fn multipart_checksums_are_kept_composite_or_full_object_on_garage() {
    let sources = [
        (
            FixtureObject::multipart("sha256-composite", 11 * mib(), 5 * mib()),
            Uploaded::Sha256Composite,
        ),
        (
            FixtureObject::multipart("crc32-composite", 6 * mib(), 5 * mib()),
            Uploaded::Crc32Composite,
        ),
        (
            FixtureObject::multipart("crc32-full", 11 * mib(), 5 * mib()),
            Uploaded::Crc32Full,
        ),
    ];
    let kms = Kms::on(campanile_testkit::s3(), "mp-sums", &[], &[], |_, _| {
        FaultPlan::none()
    })
    .await;
    let mut values = Vec::new();
    for (object, uploaded) in &sources {
        values.push(put_multipart_with_checksum(&kms.client, &kms.src, object, *uploaded).await);
    }
    let run = kms.rsync().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let keys: Vec<&str> = sources.iter().map(|(o, _)| o.key.as_str()).collect();
    kms.assert_copied(&keys, &run).await;
    for ((object, uploaded), value) in sources.iter().zip(&values) {
        let source = head_checksum(&kms.client, &kms.src, &object.key).await;
        let copy = head_checksum(&kms.client, &kms.dst, &object.key).await;
        assert_eq!(
            uploaded.of_head(&source).as_ref(),
            Some(value),
            "{source:?}"
        );
        assert_eq!(
            uploaded.of_head(&copy).as_ref(),
            Some(value),
            "copy of {}: {copy:?}",
            object.key
        );
        assert_eq!(
            copy.checksum_type(),
            Some(&uploaded.kind()),
            "{}",
            object.key
        );
    }
    // The part map names each part's checksum after the source's.
    let part_map = part_files(kms.work.path());
    for ((object, uploaded), value) in sources.iter().zip(&values) {
        let field = format!(
            "\tchecksum:{}:{}:{value}:",
            uploaded.name(),
            uploaded.kind().as_str()
        );
        let lines = part_map
            .lines()
            .filter(|l| l.starts_with(&format!("{}\t", object.key)) && l.contains(&field))
            .count();
        assert_eq!(
            lines,
            3.min(object.size.div_ceil(5 * mib()) as usize),
            "{field}\n{part_map}"
        );
    }
    assert_eq!(counter_total(&run, "ProvenByMd5"), 3, "{}", run.stdout);
    assert_eq!(counter_total(&run, "ChecksumMismatch"), 0, "{}", run.stdout);
    assert_eq!(
        counter_total(&run, "UnverifiableAtSource"),
        0,
        "{}",
        run.stdout
    );
}

/// SSE-KMS multipart sources with a checksum (through the KMS proxy over moto): their
/// ETags are not MD5s, so no ETag can prove them; the checksum of each part's bytes
/// makes the source's composite (SHA256) or full-object (CRC32) value, which proves
/// every byte: `ProvenByChecksum`, where main counted them unverifiable at source.
#[tokio::test(flavor = "multi_thread")]
async fn kms_multipart_sources_are_proven_by_their_checksums() {
    let sources = [
        (
            FixtureObject::multipart("kms-sha256", 11 * mib(), 5 * mib()),
            Uploaded::Sha256Composite,
        ),
        (
            FixtureObject::multipart("kms-crc32-full", 6 * mib(), 5 * mib()),
            Uploaded::Crc32Full,
        ),
    ];
    let kms = Kms::new("kms-mp-sums", &[], &[], |src, dst| {
        FaultPlan::kms(&[src, dst])
    })
    .await;
    for (object, uploaded) in &sources {
        put_multipart_with_checksum(&kms.client, &kms.src, object, *uploaded).await;
    }
    let run = kms.rsync().await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    kms.assert_copied(&["kms-sha256", "kms-crc32-full"], &run)
        .await;
    assert_eq!(counter_total(&run, "ProvenByChecksum"), 2, "{}", run.stdout);
    assert_eq!(
        counter_total(&run, "UnverifiableAtSource"),
        0,
        "{}",
        run.stdout
    );
    assert_eq!(counter_total(&run, "ChecksumMismatch"), 0, "{}", run.stdout);
    // The copies were created with the source's algorithm and type.
    for (object, uploaded) in &sources {
        let copy = head_checksum(&kms.client, &kms.dst, &object.key).await;
        assert_eq!(copy.checksum_type(), Some(&uploaded.kind()), "{copy:?}");
        assert!(uploaded.of_head(&copy).is_some(), "{copy:?}");
    }
}

/// A bit flipped in one part's GET of an SSE-KMS source (its ETag is no MD5, so only its
/// checksum can tell): the part's checksum, computed from the damaged bytes, does not
/// make the source's composite value; multipartcomplete aborts the upload before
/// completing (`ChecksumMismatch`) and the run fails. Nothing is completed and no
/// upload is left. On main the object was completed with the damaged byte, counted
/// unverifiable at source, and the run exited 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_in_a_kms_part_is_caught_by_the_checksum_and_nothing_completed() {
    let object = FixtureObject::multipart("kms-flip-mp", 6 * mib(), 5 * mib());
    let kms = Kms::new("kms-mp-flip", &[], &[], |src, _| FaultPlan {
        rate: 1.0,
        kinds: vec![FaultKind::FlipResponseByte],
        flip_ranged_gets: true,
        limit: Some(1),
        ..FaultPlan::kms(&[src])
    })
    .await;
    put_multipart_with_checksum(&kms.client, &kms.src, &object, Uploaded::Crc32Composite).await;
    let run = kms.rsync().await;
    assert_ne!(
        run.code, 0,
        "the damaged copy must fail the run:\n{}",
        run.stderr
    );
    assert_eq!(kms.proxy.stats().injected[&FaultKind::FlipResponseByte], 1);
    // A failed step writes no report: its tasks' stderr logs say why.
    let logs = stderr_logs(&kms.work.path().join("runs"));
    assert!(
        logs.contains("ChecksumMismatch,1"),
        "no checksum mismatch counted:\n{logs}\n{}",
        run.stderr
    );
    assert!(
        logs.contains(":FAIL CRC32 checksum of the parts' bytes would be"),
        "{logs}"
    );
    assert!(!logs.contains("ProvenByChecksum"), "{logs}");
    assert!(
        keys(&kms.client, &kms.dst).await.is_empty(),
        "nothing may be completed:\n{}",
        run.stderr
    );
    assert_eq!(
        uploads_in_progress(&kms.client, &kms.dst).await,
        0,
        "{}",
        run.stderr
    );
}

/// The clean-up after a failed run (`campanile::orphans::finish_run`, on Garage)
/// completes an upload created with the source's checksum algorithm only when the
/// parts' checksums ListParts gives make the source's value (from the part list's
/// `checksum` field), and sends them with the completion; an upload whose parts make
/// another value is aborted, never completed.
#[tokio::test(flavor = "multi_thread")]
async fn the_clean_up_completes_a_checksum_upload_only_when_its_parts_make_the_sources() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("finish-sums");
    server.create_bucket(&client, &bucket).await;
    let parts: [Vec<u8>; 2] = [vec![1; 5 * mib() as usize], vec![2; 1000]];
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let data = parts.concat();
    let etag = campanile::multipart::multipart_etag(&[
        campanile::multipart::md5(&parts[0]),
        campanile::multipart::md5(&parts[1]),
    ]);
    let value = Uploaded::Sha256Composite.object_value(&data, &refs);
    let mut uploads = Vec::new();
    for key in ["good", "wrong"] {
        let id = client
            .create_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .expect("create upload")
            .upload_id()
            .expect("upload id")
            .to_string();
        for (number, part) in (1..).zip(&parts) {
            client
                .upload_part()
                .bucket(&bucket)
                .key(key)
                .upload_id(&id)
                .part_number(number)
                .checksum_sha256(sha256_base64(part))
                .body(ByteStream::from(part.clone()))
                .send()
                .await
                .expect("upload part");
        }
        uploads.push(id);
    }
    // The run's part list: "wrong" names a source checksum its parts do not make.
    let other = Uploaded::Sha256Composite.object_value(b"other", &[b"o", b"ther"]);
    let size = data.len();
    let line = |key: &str, id: &str, n: u32, range: (usize, usize), value: &str| {
        format!(
            "{key}\t{etag}\t{size}\t2026-11-30 07:00:00\t{id}\t{n}\t2\t{}\t{}\tchecksum:SHA256:COMPOSITE:{value}\n",
            range.0, range.1
        )
    };
    let split = parts[0].len();
    let text = [
        line("good", &uploads[0], 1, (0, split - 1), &value),
        line("good", &uploads[0], 2, (split, size - 1), &value),
        line("wrong", &uploads[1], 1, (0, split - 1), &other),
        line("wrong", &uploads[1], 2, (split, size - 1), &other),
    ]
    .concat();
    let work = tempfile::tempdir().expect("tempdir");
    let part_list = work.path().join("parts");
    std::fs::create_dir(&part_list).expect("mkdir");
    std::fs::write(part_list.join("part-00000"), text).expect("write");
    let done = campanile::orphans::finish_run(
        &client,
        &bucket,
        &Default::default(),
        &part_list,
        &work.path().join("no-listing"),
        (3, std::time::Duration::from_millis(10)),
        100,
    )
    .await
    .expect("clean-up");
    let ids = |list: &[campanile::orphans::Upload]| -> Vec<String> {
        list.iter().map(|u| u.upload_id.clone()).collect()
    };
    assert_eq!(ids(&done.completed), vec![uploads[0].clone()], "{done:?}");
    assert_eq!(ids(&done.aborted), vec![uploads[1].clone()], "{done:?}");
    let head = head_checksum(&client, &bucket, "good").await;
    assert_eq!(head.checksum_sha256(), Some(value.as_str()));
    assert_eq!(keys(&client, &bucket).await, vec!["good".to_string()]);
}

/// `--server-side-copy` of multipart sources with checksums, on Garage: the upload is
/// created with the source's algorithm and type, and the server computes each copied
/// part's checksum itself (Garage's UploadPartCopy answer gives none, so the part lines
/// carry no `checksum` field and the objects keep their ETag proof); the copies get
/// the source's checksum. On main the copies had none.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_side_copy_keeps_the_multipart_checksum() {
    let sources = [
        (
            FixtureObject::multipart("ss-sha256", 6 * mib(), 5 * mib()),
            Uploaded::Sha256Composite,
        ),
        (
            FixtureObject::multipart("ss-crc32-full", 6 * mib(), 5 * mib()),
            Uploaded::Crc32Full,
        ),
    ];
    let kms = Kms::on(campanile_testkit::s3(), "ss-sums", &[], &[], |_, _| {
        FaultPlan::none()
    })
    .await;
    let mut values = Vec::new();
    for (object, uploaded) in &sources {
        values.push(put_multipart_with_checksum(&kms.client, &kms.src, object, *uploaded).await);
    }
    let run = kms.rsync_with(&["--server-side-copy"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    kms.assert_copied(&["ss-sha256", "ss-crc32-full"], &run)
        .await;
    for ((object, uploaded), value) in sources.iter().zip(&values) {
        let copy = head_checksum(&kms.client, &kms.dst, &object.key).await;
        assert_eq!(uploaded.of_head(&copy).as_ref(), Some(value), "{copy:?}");
        assert_eq!(copy.checksum_type(), Some(&uploaded.kind()), "{copy:?}");
    }
    assert_eq!(counter_total(&run, "ChecksumMismatch"), 0, "{}", run.stdout);
}

/// A retried objectcopy attempt (on Garage, which lists part checksums) finds every
/// part of a checksum upload already uploaded and writes each part's line with the
/// checksum ListParts gives: the same lines as the first attempt's, so that
/// multipartcomplete recomputes the source's checksum and completes the copy with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_attempt_takes_the_part_checksums_from_list_parts() {
    let object = FixtureObject::multipart("resumed", 11 * mib(), 5 * mib());
    let kms = Kms::on(campanile_testkit::s3(), "mp-resume", &[], &[], |_, _| {
        FaultPlan::none()
    })
    .await;
    let value =
        put_multipart_with_checksum(&kms.client, &kms.src, &object, Uploaded::Sha256Composite)
            .await;
    let server = kms.server;
    let both = src_dst_args(server, &kms.src, &kms.dst);
    let list = list_bucket(server, &kms.src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    let field = format!("\tchecksum:SHA256:COMPOSITE:{value}");
    assert_eq!(parts.stdout.matches(&field).count(), 3, "{}", parts.stdout);
    let first = stage(OBJECTCOPY, &both, &parts.stdout, server);
    let args: Vec<&str> = both.iter().map(String::as_str).collect();
    let again = run(
        OBJECTCOPY,
        &args,
        &parts.stdout,
        server,
        &[(
            "mapreduce_task_attempt_id",
            "attempt_1700000000000_0001_m_000000_1",
        )],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.counter(&kms.dst, "AlreadyCopied"),
        3,
        "{}",
        again.stderr
    );
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let lines = sorted(&again.stdout);
    assert_eq!(lines, sorted(&first.stdout));
    assert!(
        lines.iter().all(|l| l.contains(&format!("{field}:"))),
        "{lines:?}"
    );
    let complete = complete_uploads(server, &kms.dst, &again.stdout);
    // Without --src-bucket the proof is counted under the destination; the source is
    // plain, so its ETag proves it, and the checksum was checked besides.
    assert_eq!(
        complete.counter(&kms.dst, "ProvenByMd5"),
        1,
        "{}",
        complete.stderr
    );
    assert_eq!(
        complete.counter(&kms.dst, "ChecksumMismatch"),
        0,
        "{}",
        complete.stderr
    );
    let copy = head_checksum(&kms.client, &kms.dst, "resumed").await;
    assert_eq!(copy.checksum_sha256(), Some(value.as_str()));
    assert_same_object(&kms.client, &kms.src, &kms.dst, "resumed").await;
}
