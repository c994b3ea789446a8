//! `campanile reencrypt` on the local runner, end to end on moto (Garage has no
//! storage classes and no SSE-KMS): a bucket with a whole object and a two-part object,
//! both with content headers, metadata and tags, is rewritten in place with a new
//! storage class and SSE-S3; the bytes, ETags (whole and multipart), part count,
//! headers, metadata and tags stay, the storage class and encryption change. A dry run
//! lists the keys and writes nothing; a prefix limits the rewrite; a reencrypt asking
//! for no change, or given a destination, is refused (exit 2). Each object's ACL
//! grants are kept (given on the write), a default ACL gets no grant header, a refused
//! GetObjectAcl stops the run, and `--acl` replaces the ACLs. A key another writer
//! overwrites during the run, after the listing or right before its write, whole or
//! multipart, is reported and never overwritten (exit 3).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Grant, Grantee, ObjectCannedAcl, Permission,
    ServerSideEncryption, StorageClass, Type,
};

use crate::common::*;
use campanile_testkit::S3Server;
use campanile_testkit::faults::{FaultPlan, FaultProxy};
use campanile_testkit::fixtures;

const MIB: usize = 1024 * 1024;

/// `campanile reencrypt` with `args`, run and output directories under `work`,
/// `--json`, through the server's endpoint.
fn reencrypt(server: &S3Server, work: &std::path::Path, args: &[&str]) -> Run {
    reencrypt_at(server, &server.endpoint, work, args)
}

/// [`reencrypt`] through `endpoint` (a proxy in front of the server).
fn reencrypt_at(server: &S3Server, endpoint: &str, work: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        "reencrypt".into(),
        "--src-endpoint".into(),
        endpoint.to_string(),
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
    default_acl(client, bucket, "data/parts").await;
}

/// Gives a multipart object the default ACL (the owner's FULL_CONTROL), which S3
/// gives every object: moto 5.2 leaves an object completed from an upload created
/// without ACL headers with no ACL at all, and answers its GetObjectAcl with 500 (its
/// `_acl_to_dict` reads the grants of `None`), which the rewrite (reading every
/// object's ACL) would take as the server's failure.
async fn default_acl(client: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    client
        .put_object_acl()
        .bucket(bucket)
        .key(key)
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .expect("put acl");
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

    // Back to STANDARD for the whole bucket: `other/x` too. (The multipart object, now
    // completed from an upload without ACL headers, has no ACL on moto: see
    // `default_acl`.)
    default_acl(&client, &bucket, "data/parts").await;
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

/// Another account's canonical user id (the example of S3's documentation).
const OTHER: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// A two-part object (5 MiB + 1 KiB) with nothing but its bytes.
async fn two_parts(client: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create");
    let id = upload.upload_id().expect("upload id").to_string();
    let data = fixtures::fixture_bytes(key, (5 * MIB + 1024) as u64);
    let mut completed = CompletedMultipartUpload::builder();
    for (number, chunk) in [(1, &data[..5 * MIB]), (2, &data[5 * MIB..])] {
        let part = client
            .upload_part()
            .bucket(bucket)
            .key(key)
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
        .key(key)
        .upload_id(&id)
        .multipart_upload(completed.build())
        .send()
        .await
        .expect("complete");
    default_acl(client, bucket, key).await;
}

fn user(id: &str, permission: Permission) -> Grant {
    Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id(id)
                .build()
                .expect("grantee"),
        )
        .permission(permission)
        .build()
}

fn group(uri: &str, permission: Permission) -> Grant {
    Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::Group)
                .uri(uri)
                .build()
                .expect("grantee"),
        )
        .permission(permission)
        .build()
}

/// Sets `key`'s ACL to `grants` (PutObjectAcl with grant headers: moto 5.2 takes an
/// object's ACL from headers only, not from an AccessControlPolicy body).
async fn set_acl(client: &aws_sdk_s3::Client, bucket: &str, key: &str, grants: Vec<Grant>) {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for grant in &grants {
        let who = grant.grantee().expect("a grantee");
        let named = match (who.id(), who.uri()) {
            (Some(id), _) => format!("id=\"{id}\""),
            (None, Some(uri)) => format!("uri=\"{uri}\""),
            (None, None) => panic!("a grantee without id or uri"),
        };
        headers
            .entry(grant.permission().expect("permission").as_str().to_string())
            .or_default()
            .push(named);
    }
    let header = |permission: &str| headers.get(permission).map(|list| list.join(", "));
    client
        .put_object_acl()
        .bucket(bucket)
        .key(key)
        .set_grant_full_control(header("FULL_CONTROL"))
        .set_grant_read(header("READ"))
        .set_grant_read_acp(header("READ_ACP"))
        .set_grant_write_acp(header("WRITE_ACP"))
        .send()
        .await
        .expect("put acl");
}

/// The object's owner id and its grants as `grantee permission`, sorted.
async fn grants(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (String, Vec<String>) {
    let acl = client
        .get_object_acl()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("acl");
    let mut grants: Vec<String> = acl
        .grants()
        .iter()
        .map(|grant| {
            let who = grant.grantee().expect("a grantee");
            format!(
                "{} {}",
                who.id().or(who.uri()).unwrap_or_default(),
                grant
                    .permission()
                    .map(Permission::as_str)
                    .unwrap_or_default()
            )
        })
        .collect();
    grants.sort();
    let owner = acl.owner().and_then(|o| o.id()).unwrap_or_default();
    (owner.to_string(), grants)
}

/// The rewrite keeps each object's ACL: an object with grants beyond its owner's
/// FULL_CONTROL (a canned public-read, another account's READ and READ_ACP, a group's
/// READ; whole and multipart) has exactly the same grants after it (compared with
/// GetObjectAcl before and after), given on the write itself (grant headers on the
/// CopyObject, on the CreateMultipartUpload of a multipart object); an object with the
/// default ACL is written with no ACL header at all and keeps the owner's
/// FULL_CONTROL only. moto honours the grant headers on both requests, as S3 does (it
/// builds the ACL from them alone), with two limits: its GetObjectAcl shows only the
/// first grantee of a header naming several (so each permission here has one grantee;
/// the several-grantee header is `campanile::acl`'s unit tests'), and a multipart
/// object completed from an upload without ACL headers has no ACL there (see
/// [`default_acl`]), so the default multipart object's ACL after the rewrite is shown
/// by the headers sent only.
#[tokio::test(flavor = "multi_thread")]
async fn reencrypt_keeps_each_objects_grants_and_sends_none_for_the_default() {
    let server = campanile_testkit::moto();
    let (client, bucket, _) = fresh_buckets(server, "reencacl").await;
    client
        .put_object()
        .bucket(&bucket)
        .key("acl/public")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from(b"for everyone".to_vec()))
        .send()
        .await
        .expect("put public");
    for key in ["acl/shared", "acl/default"] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .expect("put");
    }
    for key in ["acl/parts", "acl/default-parts"] {
        two_parts(&client, &bucket, key).await;
    }
    let (owner, default) = grants(&client, &bucket, "acl/default").await;
    assert_eq!(
        default,
        [format!("{owner} FULL_CONTROL")],
        "moto's default ACL"
    );
    set_acl(
        &client,
        &bucket,
        "acl/shared",
        vec![
            user(&owner, Permission::FullControl),
            user(OTHER, Permission::Read),
            user(OTHER, Permission::ReadAcp),
            group(AUTHENTICATED, Permission::WriteAcp),
        ],
    )
    .await;
    // No owner's grant at all: the rewrite must not add it back.
    set_acl(
        &client,
        &bucket,
        "acl/parts",
        vec![
            group(ALL_USERS, Permission::Read),
            user(OTHER, Permission::FullControl),
        ],
    )
    .await;
    let keys = [
        "acl/public",
        "acl/shared",
        "acl/parts",
        "acl/default",
        "acl/default-parts",
    ];
    let mut before = Vec::new();
    for key in keys {
        before.push(grants(&client, &bucket, key).await);
    }
    assert!(
        before[0].1.contains(&format!("{ALL_USERS} READ")),
        "{:?}",
        before[0]
    );
    assert_eq!(before[2].1.len(), 2, "{:?}", before[2]);

    // What each write carried, by key: the CopyObject (a PUT, not of a part) and the
    // CreateMultipartUpload (`?uploads`).
    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
        .await
        .expect("start proxy");
    let writes = Arc::new(Mutex::new(BTreeMap::<String, Vec<(String, String)>>::new()));
    {
        let (writes, bucket) = (writes.clone(), bucket.clone());
        proxy.set_hook(Arc::new(move |exchange| {
            let (path, query) = exchange
                .target
                .split_once('?')
                .unwrap_or((&exchange.target, ""));
            let Some(key) = path.strip_prefix(&format!("/{bucket}/")) else {
                return;
            };
            // (The SDK names some operations in the query: `x-id=CopyObject`.)
            let write = (exchange.method == "PUT" && !query.contains("partNumber="))
                || (exchange.method == "POST" && query.starts_with("uploads"));
            if write {
                writes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.to_string(), exchange.acl_headers.clone());
            }
        }));
    }
    let work = tempfile::tempdir().expect("work dir");
    let endpoint = proxy.endpoint();
    let (dir, prefix) = (work.path().to_path_buf(), format!("s3://{bucket}/acl/"));
    let ran = tokio::task::spawn_blocking(move || {
        reencrypt_at(
            server,
            &endpoint,
            &dir,
            &[&prefix, "--storage-class", "STANDARD_IA"],
        )
    })
    .await
    .expect("reencrypt thread");
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(summary(&ran)["objects"], 5, "{}", ran.stdout);
    for (key, was) in keys.iter().zip(&before) {
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(*key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.storage_class(),
            Some(&StorageClass::StandardIa),
            "{key} rewritten"
        );
        if *key != "acl/default-parts" {
            assert_eq!(&grants(&client, &bucket, key).await, was, "{key}: same ACL");
        }
    }
    let writes = writes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let names = |key: &str| -> Vec<String> {
        let mut names: Vec<String> = writes
            .get(key)
            .unwrap_or_else(|| panic!("no write of {key}: {writes:?}"))
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    };
    for key in ["acl/default", "acl/default-parts"] {
        assert!(names(key).is_empty(), "{key}: {writes:?}");
    }
    assert_eq!(
        names("acl/public"),
        ["x-amz-grant-full-control", "x-amz-grant-read"],
        "{writes:?}"
    );
    assert_eq!(
        names("acl/shared"),
        [
            "x-amz-grant-full-control",
            "x-amz-grant-read",
            "x-amz-grant-read-acp",
            "x-amz-grant-write-acp"
        ],
        "{writes:?}"
    );
    // The multipart object's grants went on its upload's creation.
    assert_eq!(
        names("acl/parts"),
        ["x-amz-grant-full-control", "x-amz-grant-read"],
        "{writes:?}"
    );
}

/// A GetObjectAcl refused (AccessDenied, here by the proxy) stops the run before the
/// object is written, naming the key and what the job needs (s3:GetObjectAcl, or
/// --acl); with `--acl` no ACL is read, and the canned one replaces the object's.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_acl_read_stops_the_rewrite_and_acl_replaces_it() {
    let server = campanile_testkit::moto();
    let (client, bucket, _) = fresh_buckets(server, "reencaclno").await;
    client
        .put_object()
        .bucket(&bucket)
        .key("shared")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from(b"shared".to_vec()))
        .send()
        .await
        .expect("put");
    let proxy = FaultProxy::start(
        &server.endpoint,
        FaultPlan {
            deny: Some(("GET", "?acl")),
            ..FaultPlan::none()
        },
    )
    .await
    .expect("start proxy");
    let work = tempfile::tempdir().expect("work dir");
    let endpoint = proxy.endpoint();
    let (dir, location) = (work.path().to_path_buf(), format!("s3://{bucket}"));
    let refused = tokio::task::spawn_blocking({
        let (endpoint, dir, location) = (endpoint.clone(), dir.clone(), location.clone());
        move || {
            reencrypt_at(
                server,
                &endpoint,
                &dir.join("refused"),
                &[&location, "--storage-class", "STANDARD_IA"],
            )
        }
    })
    .await
    .expect("reencrypt thread");
    assert_eq!(refused.code, 1, "{}\n{}", refused.stdout, refused.stderr);
    for said in [
        "GetObjectAcl",
        &format!("s3://{bucket}/shared"),
        "s3:GetObjectAcl",
        "--acl",
    ] {
        assert!(refused.stderr.contains(said), "{said}: {}", refused.stderr);
    }
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("shared")
        .send()
        .await
        .expect("head");
    assert!(
        matches!(head.storage_class(), None | Some(StorageClass::Standard)),
        "not rewritten: {:?}",
        head.storage_class()
    );
    let (owner, was) = grants(&client, &bucket, "shared").await;
    assert!(was.contains(&format!("{ALL_USERS} READ")), "{was:?}");

    // --acl private: no ACL read (the proxy still refuses it), the canned ACL instead.
    let replaced = tokio::task::spawn_blocking(move || {
        reencrypt_at(
            server,
            &endpoint,
            &dir.join("replaced"),
            &[
                &location,
                "--storage-class",
                "STANDARD_IA",
                "--acl",
                "private",
            ],
        )
    })
    .await
    .expect("reencrypt thread");
    assert_eq!(replaced.code, 0, "{}\n{}", replaced.stdout, replaced.stderr);
    assert_eq!(
        grants(&client, &bucket, "shared").await.1,
        [format!("{owner} FULL_CONTROL")]
    );
}

/// What a racing writer puts on a key during a rewrite.
fn racer_bytes(key: &str) -> Vec<u8> {
    format!("written by someone else during the rewrite: {key}").into_bytes()
}

/// When the racer writes, relative to the rewrite of its key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moment {
    /// Right after the listing (its answer held until the keys are overwritten): the
    /// HEADs pinned to the listed ETag find the key changed (objectcopy's of a whole
    /// object, multipartlist's of a multipart one).
    AfterTheListing,
    /// Right before the write: after objectcopy's pinned HEAD of a whole object (so
    /// the CopyObject's own conditions must refuse it), after the last UploadPartCopy
    /// of a multipart one (so the completion's `If-Match` must refuse it).
    BeforeTheWrite,
}

/// `campanile reencrypt --storage-class STANDARD_IA` of a bucket holding `race/whole`
/// (one PUT), `race/parts` (two parts) and `calm/whole`, through a proxy whose hook
/// overwrites both `race/` keys (directly on the server) at `moment`. Returns the
/// client, the bucket, the run, the raced keys' ETags after the racer (as HEAD gives
/// them) and the skip report's rows.
async fn raced_reencrypt(
    tag: &str,
    moment: Moment,
) -> (
    aws_sdk_s3::Client,
    String,
    Run,
    BTreeMap<String, String>,
    Vec<campanile::skip::Skipped>,
) {
    let server = campanile_testkit::moto();
    let (client, bucket, _) = fresh_buckets(server, tag).await;
    for key in ["race/whole", "calm/whole"] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(key.as_bytes().to_vec()))
            .send()
            .await
            .expect("put");
    }
    two_parts(&client, &bucket, "race/parts").await;
    // moto evaluates none of the conditions of a CopyObject or an UploadPartCopy
    // (`x-amz-copy-source-if-match`, `If-Match`) nor `If-Match` on a completion: the
    // proxy evaluates them as S3 does (FaultPlan::s3_preconditions). Without it, moto
    // would overwrite the racer's object at `BeforeTheWrite`. The HEADs' `If-Match`,
    // which `AfterTheListing` tests, moto evaluates itself.
    let proxy = FaultProxy::start(
        &server.endpoint,
        FaultPlan {
            s3_preconditions: moment == Moment::BeforeTheWrite,
            ..FaultPlan::none()
        },
    )
    .await
    .expect("start proxy");
    let raced = Arc::new(Mutex::new(BTreeMap::<String, String>::new()));
    {
        let (raced, bucket, client) = (raced.clone(), bucket.clone(), client.clone());
        let part_copies = Arc::new(Mutex::new(0u32));
        proxy.set_hook(Arc::new(move |exchange| {
            let (path, query) = exchange
                .target
                .split_once('?')
                .unwrap_or((&exchange.target, ""));
            let keys: Vec<&str> = match moment {
                Moment::AfterTheListing
                    if exchange.method == "GET"
                        && path.trim_end_matches('/') == format!("/{bucket}")
                        && query.contains("list-type=2") =>
                {
                    vec!["race/whole", "race/parts"]
                }
                Moment::BeforeTheWrite
                    if exchange.method == "HEAD"
                        && path == format!("/{bucket}/race/whole")
                        && !query.contains("partNumber=") =>
                {
                    vec!["race/whole"]
                }
                Moment::BeforeTheWrite
                    if exchange.method == "PUT"
                        && path == format!("/{bucket}/race/parts")
                        && query.contains("partNumber=") =>
                {
                    let mut copies = part_copies.lock().unwrap_or_else(|p| p.into_inner());
                    *copies += 1;
                    if *copies < 2 {
                        return;
                    }
                    vec!["race/parts"]
                }
                _ => return,
            };
            for key in keys {
                if raced
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains_key(key)
                {
                    continue;
                }
                // The hook runs on a worker of the test's runtime, before the client
                // gets the answer: write from there, directly to the server.
                let etag = tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(async {
                        client
                            .put_object()
                            .bucket(&bucket)
                            .key(key)
                            .body(ByteStream::from(racer_bytes(key)))
                            .send()
                            .await
                            .expect("racer's put")
                            .e_tag()
                            .unwrap_or_default()
                            .to_string()
                    })
                });
                raced
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.to_string(), etag);
            }
        }));
    }
    let work = tempfile::tempdir().expect("work dir");
    // One part file line, not checked: the listing is the only ListObjectsV2 of the run.
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let endpoint = proxy.endpoint();
    let (dir, location) = (work.path().to_path_buf(), format!("s3://{bucket}"));
    let ran = tokio::task::spawn_blocking(move || {
        reencrypt_at(
            server,
            &endpoint,
            &dir,
            &[
                &location,
                "--storage-class",
                "STANDARD_IA",
                "--input",
                &part_file.display().to_string(),
                "--no-check-part-file",
            ],
        )
    })
    .await
    .expect("reencrypt thread");
    let raced = raced.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(
        raced.keys().collect::<Vec<_>>(),
        ["race/parts", "race/whole"],
        "the racer wrote both keys\n{}",
        ran.stderr
    );
    let report = std::path::PathBuf::from(
        run_paths(&ran)["output"]
            .as_str()
            .expect("an output directory"),
    )
    .join("_skipped.jsonl");
    let mut rows: Vec<campanile::skip::Skipped> = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("reading {}: {e}\n{}", report.display(), ran.stderr))
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON row"))
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    drop(work);
    (client, bucket, ran, raced, rows)
}

/// Asserts the racer's objects are as it wrote them (bytes, ETag, storage class: not
/// rewritten), `calm/whole` was rewritten, and no upload is left.
async fn assert_racer_kept(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    raced: &BTreeMap<String, String>,
) {
    for (key, etag) in raced {
        let head = client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("head");
        assert_eq!(head.e_tag(), Some(etag.as_str()), "{key}: the racer's ETag");
        assert!(
            matches!(head.storage_class(), None | Some(StorageClass::Standard)),
            "{key}: not rewritten ({:?})",
            head.storage_class()
        );
        assert_eq!(body(client, bucket, key).await, racer_bytes(key), "{key}");
    }
    let calm = client
        .head_object()
        .bucket(bucket)
        .key("calm/whole")
        .send()
        .await
        .expect("head");
    assert_eq!(calm.storage_class(), Some(&StorageClass::StandardIa));
    assert_eq!(uploads_in_progress(client, bucket).await, 0, "upload left");
}

/// A key overwritten between the listing and its rewrite (the listing's answer held
/// while the racer writes) is skipped and reported `changed`, never overwritten: the
/// rewrite's HEAD of a whole object and multipartlist's HEAD of a multipart one are
/// pinned to the listed ETag (`If-Match`, which moto evaluates). Exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_changed_after_the_listing_is_reported_not_rewritten() {
    let (client, bucket, ran, raced, rows) =
        raced_reencrypt("reencrace", Moment::AfterTheListing).await;
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    assert_racer_kept(&client, &bucket, &raced).await;
    let reasons: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| (row.key.as_str(), row.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [("race/parts", "changed"), ("race/whole", "changed")],
        "{rows:?}"
    );
    assert_eq!(summary(&ran)["objects"], 1, "{}", ran.stdout);
}

/// A key overwritten after the rewrite's last read and before its write is skipped
/// and reported `destination_changed`, never overwritten: the CopyObject of a whole
/// object carries `x-amz-copy-source-if-match` and `If-Match` on the listed ETag, the
/// completion of a multipart one `If-Match` (both refused with 412, as S3 does; here
/// evaluated by the proxy, see [`raced_reencrypt`]). The multipart upload is aborted.
/// Exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_changed_right_before_its_write_is_reported_not_overwritten() {
    let (client, bucket, ran, raced, rows) =
        raced_reencrypt("reencrace2", Moment::BeforeTheWrite).await;
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    assert_racer_kept(&client, &bucket, &raced).await;
    let reasons: Vec<(&str, &str)> = rows
        .iter()
        .map(|row| (row.key.as_str(), row.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("race/parts", "destination_changed"),
            ("race/whole", "destination_changed")
        ],
        "{rows:?}"
    );
    for row in &rows {
        assert!(
            row.detail
                .starts_with("destination changed during the run (412"),
            "{row:?}"
        );
    }
    assert_eq!(summary(&ran)["objects"], 1, "{}", ran.stdout);
}
