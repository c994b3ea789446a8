//! SSE-C end to end: objects encrypted with a customer key at the source are copied
//! into objects encrypted with another key (`--src-sse-c-key-file`,
//! `--dst-sse-c-key-file`), and no key, in any form, reaches an output, a log, a run
//! directory or an EMR step.
//!
//! Server support, probed by hand with the SDK (PUT, HEAD, GET, CopyObject,
//! CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts, Complete with and
//! without keys):
//! - Garage 2.x implements SSE-C as S3 documents it: every read and write of an SSE-C
//!   object needs its key (without one: 400 `Object is encrypted`; a wrong key: 400);
//!   answers carry `x-amz-server-side-encryption-customer-algorithm`; the ETags of
//!   SSE-C objects and parts are not the MD5s of their bytes (as on S3); ListParts and
//!   CompleteMultipartUpload need no key; a checksum sent as a header is stored and
//!   given back with `ChecksumMode: ENABLED`. The tests run there, with no model.
//! - moto ignores the SSE-C headers: it stores the bytes, answers with plain MD5 ETags
//!   and serves the object without a key. It cannot tell a copy that forgot the key
//!   from one that sent it, so no test runs there (except the EMR step arguments).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use campanile_testkit::fixtures::fixture_bytes;

use crate::common::*;

/// A 256-bit key, its file, and every form it could leak in.
struct Key {
    raw: [u8; 32],
    file: PathBuf,
}

impl Key {
    /// A key whose bytes are derived from `seed`, written to `dir/name` as base64 text
    /// with a newline (`text`) or as 32 raw bytes, mode 600.
    fn new(dir: &Path, name: &str, seed: u8, text: bool) -> Key {
        let mut raw = [0u8; 32];
        for (i, byte) in raw.iter_mut().enumerate() {
            *byte = seed
                .wrapping_mul(31)
                .wrapping_add((i as u8).wrapping_mul(97))
                ^ 0x5c;
        }
        let file = dir.join(name);
        let contents = if text {
            format!("{}\n", STANDARD.encode(raw)).into_bytes()
        } else {
            raw.to_vec()
        };
        write_private(&file, &contents);
        Key { raw, file }
    }

    fn base64(&self) -> String {
        STANDARD.encode(self.raw)
    }

    fn md5_base64(&self) -> String {
        STANDARD.encode(campanile::multipart::md5(&self.raw))
    }

    /// The texts a leak could show: base64, hex (either case), and the MD5's base64
    /// and hex.
    fn forms(&self) -> Vec<String> {
        let hex = campanile::multipart::hex(&self.raw);
        let md5 = campanile::multipart::md5(&self.raw);
        vec![
            self.base64(),
            hex.to_uppercase(),
            hex,
            self.md5_base64(),
            campanile::multipart::hex(&md5),
        ]
    }

    fn path(&self) -> String {
        self.file.display().to_string()
    }
}

/// Writes `bytes` to `path` readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write key file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// The SSE-C headers of `key` on any request builder.
macro_rules! with_key {
    ($request:expr, $key:expr) => {
        $request
            .sse_customer_algorithm("AES256")
            .sse_customer_key($key.base64())
            .sse_customer_key_md5($key.md5_base64())
    };
}

/// Asserts that no form of any key is in `bytes` (`what` names it).
fn assert_key_free(what: &str, bytes: &[u8], keys: &[&Key]) {
    let text = String::from_utf8_lossy(bytes);
    for key in keys {
        for form in key.forms() {
            assert!(
                !text.contains(&form),
                "{what} holds a key ({form}):\n{text}"
            );
        }
        assert!(
            !bytes.windows(key.raw.len()).any(|w| w == key.raw),
            "{what} holds a raw key"
        );
    }
}

const MIB: usize = 1024 * 1024;

/// CRC32 (IEEE) of `data`, base64 of its big-endian bytes, as `x-amz-checksum-crc32`.
fn crc32_base64(data: &[u8]) -> String {
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
    STANDARD.encode((!crc).to_be_bytes())
}

/// GET of `bucket/key` with `key` (or none): the bytes, or the error's text.
async fn get(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    object: &str,
    key: Option<&Key>,
) -> Result<Vec<u8>, String> {
    let request = client.get_object().bucket(bucket).key(object);
    let request = match key {
        Some(key) => with_key!(request, key),
        None => request,
    };
    let got = request
        .send()
        .await
        .map_err(|e| campanile::s3::describe_error(&e))?;
    Ok(got
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec())
}

/// Source objects encrypted with key A: `whole` (one PUT, with a CRC32 checksum that
/// proves its copy), `multi` (two parts, 5 MiB and 1 MiB). Copied with `rsync` on the
/// local runner into a destination written with key B, then again with
/// `--server-side-copy`: each copy reads back with key B only, and no key shows
/// anywhere.
#[tokio::test(flavor = "multi_thread")]
async fn sse_c_objects_are_copied_from_one_key_to_another() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    // The SDK would add a trailing CRC32 to every PutObject.
    let client = aws_sdk_s3::Client::from_conf(
        client
            .config()
            .to_builder()
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build(),
    );
    let src = campanile_testkit::unique_bucket("ssec-src");
    let dst = campanile_testkit::unique_bucket("ssec-dst");
    let dst_server_side = campanile_testkit::unique_bucket("ssec-dst-ss");
    for bucket in [&src, &dst, &dst_server_side] {
        server.create_bucket(&client, bucket).await;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let keys = tempfile::tempdir().expect("key dir");
    let a = Key::new(keys.path(), "a.key", 1, true);
    let b = Key::new(keys.path(), "b.key", 2, false);

    let whole = fixture_bytes("whole", 300_000);
    let crc = crc32_base64(&whole);
    with_key!(client.put_object(), a)
        .bucket(&src)
        .key("whole")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_crc32(crc)
        .body(ByteStream::from(whole.clone()))
        .send()
        .await
        .expect("PUT whole with key A");
    let multi = fixture_bytes("multi", 6 * MIB as u64);
    let created = with_key!(client.create_multipart_upload(), a)
        .bucket(&src)
        .key("multi")
        .send()
        .await
        .expect("create upload");
    let upload_id = created.upload_id().expect("upload id").to_string();
    let mut parts = Vec::new();
    for (number, chunk) in (1..).zip(multi.chunks(5 * MIB)) {
        let part = with_key!(client.upload_part(), a)
            .bucket(&src)
            .key("multi")
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().expect("part ETag"))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(&src)
        .key("multi")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    // Garage, like S3, gives SSE-C objects ETags that are not MD5s.
    let listed = campanile_testkit::fixtures::list_objects(&client, &src).await;
    let whole_etag = listed
        .iter()
        .find(|o| o.key() == Some("whole"))
        .and_then(|o| o.e_tag())
        .expect("listed whole");
    assert_ne!(
        whole_etag.trim_matches('"'),
        campanile::multipart::single_etag(&whole),
        "the server gives SSE-C objects MD5 ETags: this test expects S3's behaviour"
    );

    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (a_path, b_path) = (a.path(), b.path());
    let rsync = |dst: &str, uuid: &str, extra: &[&str]| {
        let mut args = vec![
            "--src-sse-c-key-file",
            a_path.as_str(),
            "--dst-sse-c-key-file",
            b_path.as_str(),
            "--uuid",
            uuid,
            "-v",
            "--debug",
        ];
        args.extend(extra);
        rsync_local_at(
            server,
            &server.endpoint,
            work.path(),
            &part_file,
            (&src, dst),
            &args,
            &[],
        )
    };
    let copied = rsync(&dst, "1", &[]);
    // Exit 3: the unverifiable object (below) is in the report.
    assert_eq!(copied.code, 3, "{}", copied.stderr);
    assert!(
        copied.stderr.contains("not copied or not proven"),
        "{}",
        copied.stderr
    );
    // The whole object is proven by its checksum; the multipart one has neither an
    // MD5 ETag nor a checksum: copied, its parts checked by Content-MD5, and reported.
    assert_eq!(
        counter_total(&copied, "ProvenByChecksum"),
        1,
        "{}",
        copied.stdout
    );
    assert_eq!(
        counter_total(&copied, "ProvenByMd5"),
        0,
        "{}",
        copied.stdout
    );
    assert_eq!(
        counter_total(&copied, "UnverifiableAtSource"),
        1,
        "{}",
        copied.stdout
    );
    assert_eq!(
        counter_total(&copied, "EtagMismatch"),
        0,
        "{}",
        copied.stdout
    );
    let server_side = rsync(&dst_server_side, "2", &["--server-side-copy"]);
    // The multipart object copied by the server is no better proven (its completed
    // ETag cannot be compared): reported, exit 3.
    assert_eq!(server_side.code, 3, "{}", server_side.stderr);
    assert_eq!(
        counter_total(&server_side, "UnverifiableAtSource"),
        1,
        "{}",
        server_side.stdout
    );

    for bucket in [&dst, &dst_server_side] {
        for (object, bytes) in [("whole", &whole), ("multi", &multi)] {
            let read = get(&client, bucket, object, Some(&b)).await;
            assert!(
                read.as_ref().is_ok_and(|read| read == bytes),
                "{bucket}/{object} with key B: {:?}",
                read.map(|r| r.len())
            );
            for wrong in [None, Some(&a)] {
                assert!(
                    get(&client, bucket, object, wrong).await.is_err(),
                    "{bucket}/{object} reads without key B"
                );
            }
        }
        assert_eq!(uploads_in_progress(&client, bucket).await, 0);
    }

    let keys = [&a, &b];
    for (name, run) in [("copy", &copied), ("server-side copy", &server_side)] {
        assert_key_free(&format!("{name} stdout"), run.stdout.as_bytes(), &keys);
        assert_key_free(&format!("{name} stderr"), run.stderr.as_bytes(), &keys);
    }
    let files = files_under(work.path());
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("attempt_")),
        "no attempt files under {}",
        work.path().display()
    );
    for (path, bytes) in files {
        assert_key_free(&path.display().to_string(), &bytes, &keys);
    }
}

/// A key file that does not hold a 256-bit key, or that others may read, stops rsync
/// (and a task) before anything runs: exit 2, the file named, its contents not shown.
/// SSE-C and another encryption for the copies are refused too.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_key_file_is_refused_naming_the_file() {
    let server = campanile_testkit::s3();
    let (_client, src, dst) = fresh_buckets(server, "ssec-bad").await;
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    // The base64 of 24 bytes: a 192-bit key.
    let short = STANDARD.encode([0x42u8; 24]);
    let bad = work.path().join("short.key");
    write_private(&bad, format!("{short}\n").as_bytes());
    let good = Key::new(work.path(), "good.key", 3, true);
    let open = work.path().join("open.key");
    std::fs::write(&open, good.base64()).expect("write");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (bad_path, open_path) = (bad.display().to_string(), open.display().to_string());
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["--src-sse-c-key-file", &bad_path],
            &bad_path,
            "holds the base64 of 24 bytes, not of 32",
        ),
        (
            &["--dst-sse-c-key-file", &bad_path],
            &bad_path,
            "a 256-bit key",
        ),
        (
            &["--dst-sse-c-key-file", &open_path],
            &open_path,
            "chmod 600",
        ),
        (
            &["--dst-sse-c-key-file", &open_path, "--sse", "AES256"],
            "--dst-sse-c-key-file",
            "cannot be used with",
        ),
    ];
    for (extra, named, what) in cases {
        let run = rsync_local_at(
            server,
            &server.endpoint,
            work.path(),
            &part_file,
            (&src, &dst),
            extra,
            &[],
        );
        assert_eq!(run.code, 2, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains(named), "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains(what), "{extra:?}: {}", run.stderr);
        assert!(!run.stderr.contains(&short), "{}", run.stderr);
        assert_key_free("stderr", run.stderr.as_bytes(), &[&good]);
        assert!(
            !work.path().join("runs").exists()
                || std::fs::read_dir(work.path().join("runs"))
                    .expect("runs")
                    .next()
                    .is_none(),
            "{extra:?}: a run started"
        );
    }
    // A task given a bad key file fails the same way, before reading its input.
    let mut args = src_dst_args(server, &src, &dst);
    args.extend(["--src-sse-c-key-file".into(), bad_path.clone()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let task = run(OBJECTCOPY, &args, "", server, &[]);
    assert_eq!(task.code, 2, "{}", task.stderr);
    assert!(task.stderr.contains(&bad_path), "{}", task.stderr);
    assert!(!task.stderr.contains(&short), "{}", task.stderr);
}

/// On EMR the key files are paths on the nodes: the steps (and the dry run) carry the
/// paths, never a key; rsync does not read them, and refuses a relative path.
#[tokio::test(flavor = "multi_thread")]
async fn emr_steps_carry_key_file_paths_only() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-ssec").await;
    let keys = tempfile::tempdir().expect("key dir");
    let a = Key::new(keys.path(), "a.key", 4, true);
    let b = Key::new(keys.path(), "b.key", 5, false);
    let (a_path, b_path) = (a.path(), b.path());
    let args = |src_key: &str, dry: bool| {
        let mut args = vec![
            "-j",
            cluster.as_str(),
            "--input",
            "s3://codebucket/input/part.all",
            "--code",
            "s3://codebucket",
            "--output",
            "s3://codebucket/output",
            "--src-bucket",
            "srcbucket",
            "--dst-bucket",
            "dstbucket",
            "--src-endpoint",
            "s3.us-west-2.amazonaws.com",
            "--dst-endpoint",
            "s3.us-west-2.amazonaws.com",
            "--emr-endpoint",
            &server.endpoint,
            "--src-sse-c-key-file",
            src_key,
            "--dst-sse-c-key-file",
            b_path.as_str(),
            "-v",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<String>>();
        if dry {
            args.push("--dry-run".into());
        }
        args
    };
    for dry in [true, false] {
        let args = args(&a_path, dry);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let result = run(RSYNC, &args, "", server, &[]);
        assert_eq!(result.code, 0, "{}", result.stderr);
        assert_key_free("rsync stdout", result.stdout.as_bytes(), &[&a, &b]);
        assert_key_free("rsync stderr", result.stderr.as_bytes(), &[&a, &b]);
        if dry {
            assert!(result.stdout.contains(&a_path), "{}", result.stdout);
        }
    }
    let emr = server.emr_client().await;
    let steps = emr
        .list_steps()
        .cluster_id(&cluster)
        .send()
        .await
        .expect("ListSteps");
    assert_eq!(steps.steps().len(), 4, "list, mlist, copy, clean-up");
    let mut with_keys = 0;
    for step in steps.steps() {
        let arguments = step
            .config()
            .map(|c| c.args().join(" "))
            .unwrap_or_default();
        assert_key_free("step arguments", arguments.as_bytes(), &[&a, &b]);
        let name = step.name().unwrap_or_default();
        if name.starts_with("mlist.") || name.starts_with("copy.") {
            assert!(
                arguments.contains(&format!("--src-sse-c-key-file {a_path}"))
                    && arguments.contains(&format!("--dst-sse-c-key-file {b_path}")),
                "{name}: {arguments}"
            );
            with_keys += 1;
        }
        if name.starts_with("copy.") {
            // The reducer reads the completed objects back with the copies' key.
            let reducer = arguments.split(" -reducer ").nth(1).unwrap_or_default();
            assert!(
                reducer.contains(&format!("--dst-sse-c-key-file {b_path}")),
                "{arguments}"
            );
        }
    }
    assert_eq!(with_keys, 2);
    let relative = args("a.key", true);
    let relative: Vec<&str> = relative.iter().map(String::as_str).collect();
    let refused = run(RSYNC, &relative, "", server, &[]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("must be an absolute path"),
        "{}",
        refused.stderr
    );
}

/// One side SSE-C, the other not, there and back: plain objects written with key B are
/// still proven by their source's MD5 ETags (the whole one at its GET, the multipart
/// one from the parts' MD5s on the part lines, since the parts' SSE-C ETags are not
/// MD5s); read back with key B into a plain bucket, the whole object is proven by the
/// CRC64NVME the first copy was written with, and both arrive as they started.
#[tokio::test(flavor = "multi_thread")]
async fn plain_to_sse_c_and_back() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let plain = campanile_testkit::unique_bucket("ssec-plain");
    let encrypted = campanile_testkit::unique_bucket("ssec-enc");
    let back = campanile_testkit::unique_bucket("ssec-back");
    for bucket in [&plain, &encrypted, &back] {
        server.create_bucket(&client, bucket).await;
    }
    let objects = [
        campanile_testkit::fixtures::FixtureObject::whole("one", 250_000),
        campanile_testkit::fixtures::FixtureObject::multipart(
            "parts",
            11 * MIB as u64,
            5 * MIB as u64,
        ),
    ];
    campanile_testkit::fixtures::upload_all(&client, &plain, &objects).await;
    let work = tempfile::tempdir().expect("tempdir");
    let b = Key::new(work.path(), "b.key", 6, true);
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let b_path = b.path();
    let rsync = |buckets: (&str, &str), uuid: &str, flag: &str| {
        rsync_local_at(
            server,
            &server.endpoint,
            work.path(),
            &part_file,
            buckets,
            &[flag, b_path.as_str(), "--uuid", uuid],
            &[],
        )
    };
    let there = rsync((&plain, &encrypted), "1", "--dst-sse-c-key-file");
    assert_eq!(there.code, 0, "{}", there.stderr);
    assert_eq!(counter_total(&there, "ProvenByMd5"), 2, "{}", there.stdout);
    assert_eq!(
        counter_total(&there, "UnverifiableAtSource"),
        0,
        "{}",
        there.stdout
    );
    let back_run = rsync((&encrypted, &back), "2", "--src-sse-c-key-file");
    // Exit 3: the multipart object, without a checksum, is unverifiable (reported).
    assert_eq!(back_run.code, 3, "{}", back_run.stderr);
    assert_eq!(
        counter_total(&back_run, "ProvenByChecksum"),
        1,
        "{}",
        back_run.stdout
    );
    assert_eq!(
        counter_total(&back_run, "UnverifiableAtSource"),
        1,
        "{}",
        back_run.stdout
    );
    for object in &objects {
        let bytes = object.bytes();
        assert!(
            get(&client, &encrypted, &object.key, Some(&b)).await == Ok(bytes.clone()),
            "{} with key B",
            object.key
        );
        assert!(get(&client, &encrypted, &object.key, None).await.is_err());
        assert!(get(&client, &back, &object.key, None).await == Ok(bytes));
        // Plain again: the copy has the source's ETag.
        assert_same_object(&client, &plain, &back, &object.key).await;
    }
    for run in [&there, &back_run] {
        assert_key_free("stdout", run.stdout.as_bytes(), &[&b]);
        assert_key_free("stderr", run.stderr.as_bytes(), &[&b]);
    }
}
