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
