//! `campanile reencrypt` on the local runner, end to end on moto (Garage has no
//! storage classes and no SSE-KMS): a bucket with a whole object and a two-part object,
//! both with content headers, metadata and tags, is rewritten in place with a new
//! storage class and SSE-S3; the bytes, ETags (whole and multipart), part count,
//! headers, metadata and tags stay, the storage class and encryption change. A dry run
//! lists the keys and writes nothing; a prefix limits the rewrite; a reencrypt asking
//! for no change, or given a destination, is refused (exit 2).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, StorageClass,
};

use crate::common::*;
use campanile_testkit::S3Server;
use campanile_testkit::fixtures;

const MIB: usize = 1024 * 1024;

/// `campanile reencrypt` with `args`, run and output directories under `work`,
/// `--json`, through the server's endpoint.
fn reencrypt(server: &S3Server, work: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        "reencrypt".into(),
        "--src-endpoint".into(),
        server.endpoint.clone(),
        "--run-dir".into(),
        work.join("runs").display().to_string(),
        "--output".into(),
        work.join("output").display().to_string(),
        "--json".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(CAMPANILE, &all, "", server, &[])
}

/// `data/whole` (one PUT) and `data/parts` (two parts, 5 MiB + 1 KiB), both with a
/// content type, cache control, metadata and two tags; `other/x` outside the prefix.
async fn decorated(client: &aws_sdk_s3::Client, bucket: &str) {
    client
        .put_object()
        .bucket(bucket)
        .key("data/whole")
        .body(ByteStream::from(b"whole object".to_vec()))
        .content_type("text/plain")
        .cache_control("max-age=60")
        .metadata("owner", "ops")
        .tagging("team=ops&tier=hot")
        .send()
        .await
        .expect("put whole");
    client
        .put_object()
        .bucket(bucket)
        .key("other/x")
        .body(ByteStream::from(b"left alone".to_vec()))
        .send()
        .await
        .expect("put other");
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("data/parts")
        .content_type("application/octet-stream")
        .cache_control("no-cache")
        .metadata("owner", "ops")
        .tagging("team=ops&tier=hot")
        .send()
        .await
        .expect("create");
    let id = upload.upload_id().expect("upload id").to_string();
    let data = fixtures::fixture_bytes("parts", (5 * MIB + 1024) as u64);
    let mut completed = CompletedMultipartUpload::builder();
    for (number, chunk) in [(1, &data[..5 * MIB]), (2, &data[5 * MIB..])] {
        let part = client
            .upload_part()
            .bucket(bucket)
            .key("data/parts")
            .upload_id(&id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .expect("part");
        completed = completed.parts(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap_or_default())
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key("data/parts")
        .upload_id(&id)
        .multipart_upload(completed.build())
        .send()
        .await
        .expect("complete");
}

/// What a rewrite must keep and what it changes, for one key.
#[derive(Debug, PartialEq)]
struct Seen {
    etag: String,
    size: i64,
    parts: Option<i32>,
    content_type: Option<String>,
    cache_control: Option<String>,
    metadata: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    storage_class: Option<StorageClass>,
    encryption: Option<ServerSideEncryption>,
    bytes: Vec<u8>,
}

async fn seen(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Seen {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .part_number(1)
        .send()
        .await
        .expect("head");
    let mut metadata: Vec<(String, String)> = head
        .metadata()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    metadata.sort();
    let mut tags: Vec<(String, String)> = client
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("tags")
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tags.sort();
    let bytes = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get")
        .body
        .collect()
        .await
        .expect("body")
        .to_vec();
    let whole = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head");
    Seen {
        etag: whole.e_tag().unwrap_or_default().to_string(),
        size: whole.content_length().unwrap_or_default(),
        parts: head.parts_count(),
        content_type: whole.content_type().map(str::to_string),
        cache_control: whole.cache_control().map(str::to_string),
        metadata,
        tags,
        storage_class: whole.storage_class().cloned(),
        encryption: whole.server_side_encryption().cloned(),
        bytes,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reencrypt_rewrites_in_place_keeping_content_headers_tags_and_parts() {
    let server = campanile_testkit::moto();
    let (client, bucket, _) = fresh_buckets(server, "reenc").await;
    decorated(&client, &bucket).await;
    let keys = ["data/whole", "data/parts"];
    let mut before = Vec::new();
    for key in keys {
        before.push(seen(&client, &bucket, key).await);
    }
    let other = seen(&client, &bucket, "other/x").await;
    assert_eq!(before[1].parts, Some(2), "a two-part fixture");
    let work = tempfile::tempdir().expect("work dir");
    let prefix = format!("s3://{bucket}/data/");

    // Refused: no change, or a destination.
    let none = reencrypt(server, &work.path().join("none"), &[&prefix]);
    assert_eq!(none.code, 2, "{}\n{}", none.stdout, none.stderr);
    assert!(none.stderr.contains("needs a change"), "{}", none.stderr);
    let acl_only = reencrypt(
        server,
        &work.path().join("acl"),
        &[&prefix, "--acl", "private"],
    );
    assert_eq!(acl_only.code, 2, "{}", acl_only.stderr);
    let two = reencrypt(
        server,
        &work.path().join("two"),
        &[
            &prefix,
            &format!("s3://{bucket}/elsewhere/"),
            "--sse",
            "AES256",
        ],
    );
    assert_eq!(two.code, 2, "{}", two.stderr);
    assert!(two.stderr.contains("DST"), "{}", two.stderr);

    // The dry run lists the two keys under the prefix and writes nothing.
    let dry = reencrypt(
        server,
        &work.path().join("dry"),
        &[&prefix, "--storage-class", "STANDARD_IA", "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let mut listed: Vec<String> = json_lines(&dry)
        .iter()
        .filter(|line| line["dryrun"] == "rewrite")
        .map(|line| line["key"].as_str().expect("key").to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["data/parts", "data/whole"], "{}", dry.stdout);
    let planned = json_lines(&dry)
        .into_iter()
        .find_map(|mut line| line.get_mut("dry_run").map(serde_json::Value::take))
        .expect("a dry_run line");
    assert_eq!(planned["objects"], 2, "{planned}");
    assert_eq!(planned["multipart_objects"], 1, "{planned}");
    // Without --json: one `(dryrun) rewrite:` line per key.
    let human = run(
        CAMPANILE,
        &[
            "reencrypt",
            &prefix,
            "--src-endpoint",
            &server.endpoint,
            "--run-dir",
            &work.path().join("dryh/runs").display().to_string(),
            "--storage-class",
            "STANDARD_IA",
            "--dry-run",
        ],
        "",
        server,
        &[],
    );
    assert_eq!(human.code, 0, "{}", human.stderr);
    let mut lines = human.lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("(dryrun) rewrite: s3://{bucket}/data/parts"),
            format!("(dryrun) rewrite: s3://{bucket}/data/whole"),
        ],
        "{}",
        human.stderr
    );
    for (key, was) in keys.iter().zip(&before) {
        assert_eq!(
            &seen(&client, &bucket, key).await,
            was,
            "dry run wrote {key}"
        );
    }
    let uploads = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .expect("uploads");
    assert!(uploads.uploads().is_empty(), "dry run made an upload");

    // The rewrite: new storage class and SSE-S3; all else kept.
    let ran = reencrypt(
        server,
        &work.path().join("real"),
        &[&prefix, "--storage-class", "STANDARD_IA", "--sse", "AES256"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let done = summary(&ran);
    assert_eq!(done["objects"], 2, "{done}");
    assert_eq!(done["multipart_objects"], 1, "{done}");
    assert_eq!(done["parts"], 2, "{done}");
    assert_eq!(done["reported"]["unverifiable_at_source"], 0, "{done}");
    assert_eq!(done["proofs"]["md5"], 2, "{done}");
    for (key, was) in keys.iter().zip(&before) {
        let now = seen(&client, &bucket, key).await;
        assert_eq!(now.storage_class, Some(StorageClass::StandardIa), "{key}");
        assert_eq!(now.encryption, Some(ServerSideEncryption::Aes256), "{key}");
        assert_eq!(
            Seen {
                storage_class: was.storage_class.clone(),
                encryption: was.encryption.clone(),
                ..now
            },
            *was,
            "{key}: content, ETag, parts, headers, metadata and tags kept"
        );
    }
    // Outside the prefix: untouched.
    assert_eq!(seen(&client, &bucket, "other/x").await, other);
    let uploads = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .expect("uploads");
    assert!(uploads.uploads().is_empty(), "an upload was left");

    // Back to STANDARD for the whole bucket: `other/x` too.
    let back = reencrypt(
        server,
        &work.path().join("back"),
        &[&format!("s3://{bucket}"), "--storage-class", "STANDARD"],
    );
    assert_eq!(back.code, 0, "{}\n{}", back.stdout, back.stderr);
    assert_eq!(summary(&back)["objects"], 3, "{}", back.stdout);
    for key in ["data/whole", "data/parts", "other/x"] {
        let now = seen(&client, &bucket, key).await;
        assert!(
            matches!(now.storage_class, None | Some(StorageClass::Standard)),
            "{key}: {:?}",
            now.storage_class
        );
    }
    let whole = seen(&client, &bucket, "data/whole").await;
    assert_eq!(whole.etag, before[0].etag);
    assert_eq!(whole.tags, before[0].tags);
}

/// SSE-KMS: the rewrite happens (each key is stored with the KMS key, its bytes,
/// headers, metadata, tags and parts kept), but an SSE-KMS ETag is no MD5, so nothing
/// is passed as proven: each object is in the skip report as `unverifiable_at_source`
/// and the run exits 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_kms_rewrite_is_done_but_reported_as_not_proven() {
    let server = campanile_testkit::moto();
    let (client, bucket, _) = fresh_buckets(server, "reenckms").await;
    decorated(&client, &bucket).await;
    let keys = ["data/whole", "data/parts"];
    let mut before = Vec::new();
    for key in keys {
        before.push(seen(&client, &bucket, key).await);
    }
    let work = tempfile::tempdir().expect("work dir");
    let ran = reencrypt(
        server,
        work.path(),
        &[
            &format!("s3://{bucket}/data/"),
            "--sse-kms-key-id",
            "alias/archive",
        ],
    );
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let done = summary(&ran);
    assert_eq!(done["reported"]["unverifiable_at_source"], 2, "{done}");
    assert_eq!(done["proofs"]["md5"], 0, "{done}");
    for (key, was) in keys.iter().zip(&before) {
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(*key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms),
            "{key}"
        );
        assert!(
            head.ssekms_key_id().is_some_and(|k| k.contains("archive")),
            "{key}: {:?}",
            head.ssekms_key_id()
        );
        let now = seen(&client, &bucket, key).await;
        assert_eq!(now.bytes, was.bytes, "{key}");
        assert_eq!(now.parts, was.parts, "{key}");
        assert_eq!(now.metadata, was.metadata, "{key}");
        assert_eq!(now.tags, was.tags, "{key}");
        assert_eq!(now.content_type, was.content_type, "{key}");
    }
}
