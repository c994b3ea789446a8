//! What a copy carries besides the bytes, and the edge cases of its shape: an empty
//! multipart object, an object stored without a Content-Type. Each test says which
//! server it runs on and why (Garage lacks some S3 features, moto others; see
//! docs/s3.md).

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;
use campanile_testkit::{S3Server, fixtures};

async fn fresh_buckets(server: &S3Server, tag: &str) -> (aws_sdk_s3::Client, String, String) {
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket(&format!("{tag}-src"));
    let dst = campanile_testkit::unique_bucket(&format!("{tag}-dst"));
    server.create_bucket(&client, &src).await;
    server.create_bucket(&client, &dst).await;
    (client, src, dst)
}

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
