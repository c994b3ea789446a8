//! What a copy carries besides the bytes, and the edge cases of its shape: an empty
//! multipart object, an object stored without a Content-Type, tags, storage class,
//! Expires, redirect and object lock, the flags that replace the source's settings,
//! and status lines while a slow destination takes a body. Each test says which
//! server it runs on and why (Garage lacks some S3 features, moto others; see
//! docs/records.md, "What a copy carries").

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;
use campanile_testkit::fixtures;

/// moto: Garage refuses an empty UploadPart (400 `InvalidRequest`, "Empty body"), so
/// it cannot hold an object made of one empty part; AWS and moto can.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_multipart_object_is_copied_as_one_empty_part() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "empty-mp").await;
    let etag = fixtures::put_multipart(&client, &src, "empty", &[], &[0]).await;
    // The MD5 of the empty part's MD5, one part.
    assert_eq!(etag.trim_matches('"'), "59adb24ef3cdbe0297f05b395827453f-1");
    let [_, parts, copied, complete] = copy_pipeline(server, &src, &dst, ",\n");
    let line = parts.lines()[0];
    assert!(line.ends_with("\t1\t1\t0\t0"), "one empty part: {line}");
    assert_eq!(parts.counter(&src, "UnknownPartLayout"), 0);
    assert_eq!(copied.counter(&dst, "Parts"), 1);
    assert_eq!(complete.counter(&dst, "Uploads"), 1);
    assert_same_object(&client, &src, &dst, "empty").await;
}

/// The SDK sends `Content-Type: application/octet-stream` when a PutObject names
/// none; a test source object must be stored without one.
async fn put_without_content_type(client: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(b"no type".to_vec()))
        .customize()
        .mutate_request(|request| {
            request.headers_mut().remove("content-type");
        })
        .send()
        .await
        .expect("put without Content-Type");
}

async fn content_type(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head")
        .content_type()
        .map(str::to_string)
}

/// Garage: it stores an object without a Content-Type when the PUT has none (moto
/// gives such an object `binary/octet-stream`, so it cannot show the difference).
#[tokio::test(flavor = "multi_thread")]
async fn an_object_without_content_type_arrives_without_one() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "no-type").await;
    put_without_content_type(&client, &src, "whole").await;
    let data = fixtures::fixture_bytes("parts", 6 * 1024 * 1024);
    // CreateMultipartUpload without a Content-Type: the SDK adds none there.
    fixtures::put_multipart(
        &client,
        &src,
        "parts",
        &data,
        &[5 * 1024 * 1024, 1024 * 1024],
    )
    .await;
    for key in ["whole", "parts"] {
        assert_eq!(content_type(&client, &src, key).await, None, "source {key}");
    }
    copy_pipeline(server, &src, &dst, ",\n");
    for key in ["whole", "parts"] {
        assert_eq!(
            content_type(&client, &dst, key).await,
            None,
            "copy of {key}"
        );
        assert_same_object(&client, &src, &dst, key).await;
    }
}

/// The `N of M bytes sent` status lines of `run` for `label`, as (N, M).
fn sent_lines(run: &Run, label: &str) -> Vec<(u64, u64)> {
    let prefix = format!("reporter:status:{label}: ");
    run.stderr
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix)?.strip_suffix(" bytes sent"))
        .filter_map(|rest| {
            let (n, m) = rest.split_once(" of ")?;
            Some((n.parse().ok()?, m.parse().ok()?))
        })
        .collect()
}

/// Garage behind the fault proxy reading request bodies at 4 MiB/s: a 40 MiB PUT and a
/// 40 MiB part take about 10 s each, and Hadoop must keep hearing from the task. (The
/// count is of bytes the connection took: the first few MiB fill the socket buffers
/// at once, so a body must be larger than those to be seen on its way.)
#[tokio::test(flavor = "multi_thread")]
async fn status_lines_flow_while_a_slow_destination_takes_a_body() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "slow-put").await;
    let size = 40 * 1024 * 1024;
    let data = fixtures::fixture_bytes("whole", size);
    client
        .put_object()
        .bucket(&src)
        .key("whole")
        .body(ByteStream::from(data))
        .send()
        .await
        .expect("put whole");
    let data = fixtures::fixture_bytes("parts", size + 1024);
    fixtures::put_multipart(&client, &src, "parts", &data, &[size, 1024]).await;
    let proxy = campanile_testkit::faults::FaultProxy::start(
        &server.endpoint,
        campanile_testkit::faults::FaultPlan::slow_uploads(4 * 1024 * 1024),
    )
    .await
    .expect("start proxy");
    let mut args = src_dst_args(server, &src, &dst);
    let at = args
        .iter()
        .position(|a| a == "--dst-endpoint")
        .expect("flag")
        + 1;
    args[at] = proxy.endpoint();
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &args, &list.stdout, server);
    // One record at a time, so that each write has the reporter to itself.
    let mut part_map = String::new();
    for (line, label) in parts.lines().iter().zip([
        format!("{dst}/parts part 1"),
        format!("{dst}/parts part 2"),
        format!("{dst}/whole"),
    ]) {
        let (program, input) = (OBJECTCOPY, format!("{line}\n"));
        let args = args.clone();
        let copied = tokio::task::spawn_blocking(move || stage(program, &args, &input, server))
            .await
            .expect("objectcopy thread");
        part_map.push_str(&copied.stdout);
        if label.ends_with("part 2") {
            continue; // 1 KiB: no time to report
        }
        let sent = sent_lines(&copied, &label);
        assert!(
            sent.len() >= 2,
            "{label}: status lines while sending:\n{}",
            copied.stderr
        );
        assert!(
            sent.iter().all(|&(n, m)| n <= m && m == size),
            "{label}: {sent:?}"
        );
        assert!(
            sent.iter().any(|&(n, _)| n < size),
            "{label}: reported during the body: {sent:?}"
        );
    }
    drop(proxy);
    complete_uploads(server, &dst, &part_map);
    for key in ["whole", "parts"] {
        assert_same_object(&client, &src, &dst, key).await;
    }
}

/// Everything a copy carries besides bytes and content headers, as HEAD and
/// GetObjectTagging show it.
#[derive(Debug, PartialEq)]
struct Carried {
    storage_class: Option<String>,
    expires: Option<String>,
    redirect: Option<String>,
    tags: Vec<(String, String)>,
    lock: (Option<String>, Option<i64>, Option<String>),
}

async fn carried(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Carried {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head");
    let tags = client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("tagging");
    let mut tags: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    Carried {
        storage_class: head.storage_class().map(|c| c.as_str().to_string()),
        expires: head.expires_string().map(str::to_string),
        redirect: head.website_redirect_location().map(str::to_string),
        tags,
        lock: (
            head.object_lock_mode().map(|m| m.as_str().to_string()),
            head.object_lock_retain_until_date().map(|d| d.secs()),
            head.object_lock_legal_hold_status()
                .map(|s| s.as_str().to_string()),
        ),
    }
}

const TAGGING: &str = "team=data&note=a%20b%2Bc%3Ad%2Fe%3Df";
const EXPIRES: i64 = 2_000_000_000;

/// A whole object and a two-part object with tags, a storage class, Expires and a
/// website redirect (and, in a bucket with object lock, a retention and legal hold).
async fn put_decorated(client: &aws_sdk_s3::Client, bucket: &str, locked: bool) {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{
        CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus, ObjectLockMode,
        StorageClass,
    };
    let until = DateTime::from_secs(EXPIRES + 1000);
    let whole = b"decorated".to_vec();
    let md5 = |data: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(campanile::multipart::md5(data))
    };
    let mut put = client
        .put_object()
        .bucket(bucket)
        .key("whole")
        .content_md5(md5(&whole))
        .body(ByteStream::from(whole))
        .tagging(TAGGING)
        .storage_class(StorageClass::StandardIa)
        .expires(DateTime::from_secs(EXPIRES))
        .website_redirect_location("/elsewhere");
    if locked {
        put = put
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(until)
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
    }
    put.send().await.expect("put whole");
    let mut create = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("parts")
        .tagging(TAGGING)
        .storage_class(StorageClass::StandardIa)
        .expires(DateTime::from_secs(EXPIRES))
        .website_redirect_location("/elsewhere");
    if locked {
        create = create
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(until)
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
    }
    let upload = create.send().await.expect("create");
    let id = upload.upload_id().expect("upload id").to_string();
    let data = fixtures::fixture_bytes("parts", 5 * 1024 * 1024 + 1024);
    let mut completed = CompletedMultipartUpload::builder();
    for (number, chunk) in [(1, &data[..5 * 1024 * 1024]), (2, &data[5 * 1024 * 1024..])] {
        let part = client
            .upload_part()
            .bucket(bucket)
            .key("parts")
            .upload_id(&id)
            .part_number(number)
            .content_md5(md5(chunk))
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .expect("part");
        completed = completed.parts(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().expect("etag"))
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key("parts")
        .upload_id(&id)
        .multipart_upload(completed.build())
        .send()
        .await
        .expect("complete");
}

/// moto: Garage keeps Expires and the redirect but has no tags (GetObjectTagging is
/// 501 NotImplemented), no storage classes, no object lock and no SSE echo.
#[tokio::test(flavor = "multi_thread")]
async fn tags_storage_class_expires_and_redirect_are_carried() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "carried").await;
    put_decorated(&client, &src, false).await;
    copy_pipeline(server, &src, &dst, ",\n");
    for key in ["whole", "parts"] {
        let source = carried(&client, &src, key).await;
        assert_eq!(
            source.storage_class.as_deref(),
            Some("STANDARD_IA"),
            "{key}"
        );
        assert_eq!(source.tags.len(), 2, "{key}");
        assert_eq!(source.tags[0].1, "a b+c:d/e=f", "{key}: escaped on the way");
        assert!(
            source.expires.is_some() && source.redirect.is_some(),
            "{key}"
        );
        assert_eq!(carried(&client, &dst, key).await, source, "{key}");
        assert_same_object(&client, &src, &dst, key).await;
    }
}

/// moto: `rsync` (by default) on one endpoint with one set of credentials
/// copies in the server (CopyObject after a HEAD of the source), and still carries the storage
/// class, Expires, redirect, tags and content headers, as the copy through the tasks
/// does (a plain CopyObject would leave the storage class and redirect behind).
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_in_the_server_carries_what_a_copy_through_the_tasks_carries() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "carried-ssc").await;
    put_decorated(&client, &src, false).await;
    let work = tempfile::tempdir().expect("work");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (endpoint, dir) = (server.endpoint.clone(), work.path().to_path_buf());
    let (s, d) = (src.clone(), dst.clone());
    let ran = tokio::task::spawn_blocking(move || {
        rsync_local_at(server, &endpoint, &dir, &part_file, (&s, &d), &[], &[])
    })
    .await
    .expect("rsync");
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let said = summary(&ran);
    assert_eq!(said["server_side_bytes"], said["bytes"], "{said}");
    assert!(said["requests"].get("GetObject").is_none(), "{said}");
    for key in ["whole", "parts"] {
        let source = carried(&client, &src, key).await;
        assert_eq!(
            source.storage_class.as_deref(),
            Some("STANDARD_IA"),
            "{key}"
        );
        assert_eq!(carried(&client, &dst, key).await, source, "{key}");
        assert_same_object(&client, &src, &dst, key).await;
    }
}

/// moto, with object lock enabled on both buckets (Garage has no object lock). moto
/// ignores the lock headers of CreateMultipartUpload (its multipart objects have no
/// lock, as the source check shows), so only the PUT path can be checked; multipartlist
/// sends the same headers on the upload it creates.
#[tokio::test(flavor = "multi_thread")]
async fn object_lock_settings_are_carried() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let [src, dst] = ["lock-src", "lock-dst"].map(campanile_testkit::unique_bucket);
    for bucket in [&src, &dst] {
        client
            .create_bucket()
            .bucket(bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .expect("lock bucket");
    }
    put_decorated(&client, &src, true).await;
    copy_pipeline(server, &src, &dst, ",\n");
    assert_eq!(
        carried(&client, &src, "parts").await.lock,
        (None, None, None),
        "moto learned object lock on multipart uploads: check the parts path too"
    );
    for key in ["whole"] {
        let source = carried(&client, &src, key).await;
        assert_eq!(
            source.lock,
            (
                Some("GOVERNANCE".into()),
                Some(EXPIRES + 1000),
                Some("ON".into())
            ),
            "{key}"
        );
        assert_eq!(carried(&client, &dst, key).await, source, "{key}");
    }
}

/// moto: it echoes SSE (with the KMS key id) and storage classes; an ACL of the same
/// owner shows no difference there, so `--acl` is only checked to be accepted.
#[tokio::test(flavor = "multi_thread")]
async fn write_flags_replace_the_sources_settings() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "flags").await;
    put_decorated(&client, &src, false).await;
    let key_id = "arn:aws:kms:us-east-1:123456789012:key/copies";
    let mut args = src_dst_args(server, &src, &dst);
    args.extend(
        [
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            key_id,
            "--storage-class",
            "GLACIER_IR",
            "--acl",
            "bucket-owner-full-control",
        ]
        .map(String::from),
    );
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &args, &list.stdout, server);
    let copied = stage(OBJECTCOPY, &args, &parts.stdout, server);
    complete_uploads(server, &dst, &copied.stdout);
    for key in ["whole", "parts"] {
        let head = client
            .head_object()
            .bucket(&dst)
            .key(key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.storage_class(),
            Some(&aws_sdk_s3::types::StorageClass::GlacierIr),
            "{key}"
        );
        assert_eq!(
            head.server_side_encryption(),
            Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms),
            "{key}"
        );
        assert_eq!(head.ssekms_key_id(), Some(key_id), "{key}");
        // The rest is still the source's.
        let (s, d) = (
            carried(&client, &src, key).await,
            carried(&client, &dst, key).await,
        );
        assert_eq!(
            (s.tags, s.expires, s.redirect),
            (d.tags, d.expires, d.redirect)
        );
        assert_eq!(
            body(&client, &src, key).await,
            body(&client, &dst, key).await
        );
    }
    // A KMS key with AES256 is refused before any request.
    let mut bad = src_dst_args(server, &src, &dst);
    bad.extend(["--sse", "AES256", "--sse-kms-key-id", "k"].map(String::from));
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let refused = run(OBJECTCOPY, &bad, "", server, &[]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--sse-kms-key-id"),
        "{}",
        refused.stderr
    );
}

/// moto (storage classes): rsync gives `--storage-class` to multipartlist and
/// objectcopy, so both a whole object and a multipart one get it.
#[tokio::test(flavor = "multi_thread")]
async fn rsync_passes_the_write_flags_to_the_copy_tasks() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "rsync-flags").await;
    put_decorated(&client, &src, false).await;
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let run = {
        let (work, src, dst) = (work.path().to_path_buf(), src.clone(), dst.clone());
        tokio::task::spawn_blocking(move || {
            rsync_local_at(
                server,
                &server.endpoint,
                &work,
                &part_file,
                (&src, &dst),
                &["--storage-class", "ONEZONE_IA", "--quiet"],
                &[],
            )
        })
        .await
        .expect("rsync thread")
    };
    assert_eq!(run.code, 0, "{}", run.stderr);
    for key in ["whole", "parts"] {
        let copy = carried(&client, &dst, key).await;
        assert_eq!(copy.storage_class.as_deref(), Some("ONEZONE_IA"), "{key}");
        assert_eq!(copy.tags, carried(&client, &src, key).await.tags, "{key}");
    }
}
