//! Nothing skipped in silence, and a failed run keeps what it finished: rsync's exit 3
//! and its skip report (archived objects on moto, which keeps storage classes), and the
//! clean-up after a failed copy, which completes an upload whose parts were all copied
//! and aborts a partial one, so that the `--diff` re-run sends none of the finished
//! object's bytes again (counted at the proxy). See docs/reliability.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::types::StorageClass;
use campanile::skip::{SkipReason, Skipped};
use campanile_testkit::S3Server;
use campanile_testkit::faults::{FaultPlan, FaultProxy};
use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

/// rsync through `endpoint`, the whole bucket (`,` part file), with `extra` arguments,
/// on a blocking thread.
async fn rsync_whole(
    server: &'static S3Server,
    endpoint: &str,
    work: &std::path::Path,
    buckets: (&str, &str),
    extra: &[&str],
) -> Run {
    let part_file = work.join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (endpoint, work) = (endpoint.to_string(), work.to_path_buf());
    let (src, dst) = (buckets.0.to_string(), buckets.1.to_string());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
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

fn report_rows(path: &std::path::Path) -> Vec<Skipped> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON row"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn archived_objects_give_exit_3_and_a_report_of_them() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "skip").await;
    let mib = 1024 * 1024;
    let warm = [
        FixtureObject::whole("warm/a", 1000),
        FixtureObject::multipart("warm/multi", 6 * mib, 5 * mib),
    ];
    fixtures::upload_all(&client, &src, &warm).await;
    for (key, class) in [
        ("cold\tkey", StorageClass::Glacier),
        ("frozen", StorageClass::DeepArchive),
    ] {
        client
            .put_object()
            .bucket(&src)
            .key(key)
            .storage_class(class)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"archived"))
            .send()
            .await
            .expect("put archived object");
    }
    let work = tempfile::tempdir().expect("tempdir");
    let result = rsync_whole(
        server,
        &server.endpoint,
        work.path(),
        (&src, &dst),
        &["--uuid", "skips"],
    )
    .await;
    assert_eq!(result.code, 3, "{}", result.stderr);
    for object in &warm {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
    // Where: in the job output, said on stderr and in a --json line.
    let report = work.path().join("output/part.all.skips/_skipped.jsonl");
    let shown = report.display().to_string();
    assert!(result.stderr.contains(&shown), "{}", result.stderr);
    let said: Vec<serde_json::Value> = reports(&result)
        .into_iter()
        .filter(|r| r.get("skip_report").is_some())
        .collect();
    assert_eq!(said.len(), 1, "{}", result.stdout);
    assert_eq!(said[0]["skip_report"], shown.as_str());
    assert_eq!(said[0]["skipped"], 2);
    // What: one row per archived object, as listed.
    let mut rows = report_rows(&report);
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let etag = campanile::multipart::single_etag(b"archived");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, (key, class)) in rows
        .iter()
        .zip([("cold\tkey", "GLACIER"), ("frozen", "DEEP_ARCHIVE")])
    {
        assert_eq!(row.key, key);
        assert_eq!(row.size, 8);
        assert_eq!(row.etag, etag);
        assert_eq!(row.reason, SkipReason::Archived);
        assert!(row.detail.contains(class), "{row:?}");
    }
    // The counters still show them.
    let steps = reports(&result);
    assert_eq!(counter(&steps, "list.", &src, "SkippedArchived"), 2);
    assert_eq!(counter(&steps, "list.", &src, "Objects"), 2);
    // Not copied, and no upload left.
    assert!(
        client
            .head_object()
            .bucket(&dst)
            .key("frozen")
            .send()
            .await
            .is_err()
    );
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);

    // --diff: the archived objects are still missing at the destination, so still
    // reported; the rest is not copied again.
    let again = rsync_whole(
        server,
        &server.endpoint,
        work.path(),
        (&src, &dst),
        &["--uuid", "skips-again", "--diff"],
    )
    .await;
    assert_eq!(again.code, 3, "{}", again.stderr);
    let rows = report_rows(
        &work
            .path()
            .join("output/part.all.skips-again/_skipped.jsonl"),
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let steps = reports(&again);
    assert_eq!(counter(&steps, "copy.", &dst, "InputBytes"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_without_skips_exits_0_and_writes_no_report() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "noskip").await;
    fixtures::upload_all(&client, &src, &[FixtureObject::whole("a", 10)]).await;
    let work = tempfile::tempdir().expect("tempdir");
    let result = rsync_whole(
        server,
        &server.endpoint,
        work.path(),
        (&src, &dst),
        &["--uuid", "clean"],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(
        !work
            .path()
            .join("output/part.all.clean/_skipped.jsonl")
            .exists()
    );
    assert!(
        reports(&result)
            .iter()
            .all(|r| r.get("skip_report").is_none())
    );
}

/// Writes (PUT: PutObject, UploadPart) of `key` seen at the proxy.
fn is_write_of(exchange: &campanile_testkit::faults::Exchange, bucket: &str, key: &str) -> bool {
    let path = exchange.target.split('?').next().unwrap_or("");
    exchange.method == "PUT" && path == format!("/{bucket}/{key}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_copy_completes_finished_uploads_and_the_diff_rerun_sends_them_no_more() {
    // Garage: moto's ListParts answer has a root element the SDK refuses.
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "fail").await;
    let mib = 1024 * 1024;
    // One part per map task, one task at a time, longest lines first: the long key's
    // parts are copied before any task of `bad` runs, and `bad`'s task, killed at each
    // of its GETs, fails the copy step with its upload empty. Through the tasks
    // (`--no-server-side-copy`): the kill is at a GET.
    let good = "good-object-whose-long-key-puts-its-parts-first";
    let objects = [
        FixtureObject::multipart(good, 6 * mib, 5 * mib),
        FixtureObject::multipart("bad", 6 * mib, 5 * mib),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
        .await
        .expect("start proxy");
    let writes_of_good = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(Mutex::new(0u64));
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
    {
        let (writes, killed, armed) = (writes_of_good.clone(), killed.clone(), armed.clone());
        let (src, dst) = (src.clone(), dst.clone());
        proxy.set_hook(Arc::new(move |exchange| {
            if is_write_of(exchange, &dst, good) {
                writes.fetch_add(1, Ordering::SeqCst);
            }
            let path = exchange.target.split('?').next().unwrap_or("");
            if armed.load(Ordering::SeqCst)
                && exchange.method == "GET"
                && path == format!("/{src}/bad")
            {
                let mut killed = killed.lock().unwrap_or_else(|p| p.into_inner());
                *killed += kill_tasks("objectcopy", &dst);
            }
        }));
    }
    let work = tempfile::tempdir().expect("tempdir");
    let failed = rsync_whole(
        server,
        &proxy.endpoint(),
        work.path(),
        (&src, &dst),
        &[
            "--uuid",
            "fails",
            "--parallel",
            "1",
            "--lines-per-map",
            "1",
            "--no-server-side-copy",
        ],
    )
    .await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(*killed.lock().unwrap_or_else(|p| p.into_inner()) >= 1);
    assert!(
        failed
            .stderr
            .contains("completed 1 multipart upload(s) of s3://"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("aborted 1 multipart upload(s)"),
        "{}",
        failed.stderr
    );
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    // The finished object is there, whole, with the source's ETag; the other is not.
    assert_same_object(&client, &src, &dst, good).await;
    assert!(
        client
            .head_object()
            .bucket(&dst)
            .key("bad")
            .send()
            .await
            .is_err()
    );
    assert_eq!(writes_of_good.load(Ordering::SeqCst), 2, "its two parts");

    // The --diff re-run copies `bad` and sends not one byte of `good` again.
    armed.store(false, Ordering::SeqCst);
    let rerun = rsync_whole(
        server,
        &proxy.endpoint(),
        work.path(),
        (&src, &dst),
        &["--uuid", "rerun", "--diff", "--no-server-side-copy"],
    )
    .await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
    assert_eq!(
        writes_of_good.load(Ordering::SeqCst),
        2,
        "the re-run wrote the finished object again"
    );
    let steps = reports(&rerun);
    assert_eq!(
        counter(&steps, "copy.", &dst, "InputBytes"),
        i64::try_from(6 * mib).expect("fits"),
        "only `bad` is copied"
    );
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn objectcopy_skips_an_object_whose_get_is_refused_as_archived() {
    // On moto a DEEP_ARCHIVE object's GET is refused with 403 InvalidObjectState, as
    // AWS refuses the Intelligent-Tiering archive tiers, which no listing shows: fed
    // to objectcopy as a listed object, it becomes a skip row (the detail from a HEAD),
    // the task exits 0 and the other object is copied.
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket("archived-get");
    let dst = campanile_testkit::unique_bucket("archived-get-dst");
    server.create_bucket(&client, &src).await;
    server.create_bucket(&client, &dst).await;
    client
        .put_object()
        .bucket(&src)
        .key("deep")
        .storage_class(StorageClass::DeepArchive)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"deep"))
        .send()
        .await
        .expect("put");
    fixtures::put_object(&client, &src, "warm", b"warm".to_vec()).await;
    let line = |key: &str, body: &[u8]| {
        format!(
            "{key}\t{}\t{}\t2025-01-01 00:00:00\t\\N\t\\N\t\\N\t\\N\t\\N\n",
            campanile::multipart::single_etag(body),
            body.len()
        )
    };
    let input = format!("{}{}", line("deep", b"deep"), line("warm", b"warm"));
    let args = [
        "--src-bucket",
        src.as_str(),
        "--src-endpoint",
        &server.endpoint,
        "--dst-bucket",
        dst.as_str(),
        "--dst-endpoint",
        &server.endpoint,
    ];
    let copied = run(OBJECTCOPY, &args, &input, server, &[]);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    let rows: Vec<Skipped> = copied
        .lines()
        .iter()
        .filter(|l| campanile::skip::is_row(l))
        .map(|l| Skipped::from_row(l).expect("a skip row"))
        .collect();
    assert_eq!(rows.len(), 1, "{}", copied.stdout);
    assert_eq!(rows[0].reason, SkipReason::Archived);
    assert_eq!((rows[0].key.as_str(), rows[0].size), ("deep", 4));
    assert!(rows[0].detail.contains("DEEP_ARCHIVE"), "{:?}", rows[0]);
    assert!(
        copied.stderr.contains("SkippedArchived"),
        "{}",
        copied.stderr
    );
    assert_eq!(body(&client, &dst, "warm").await, b"warm");
    assert!(!keys(&client, &dst).await.contains(&"deep".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clean_up_completes_whole_planned_uploads_and_aborts_the_rest_in_passes() {
    use campanile::multipart::{md5, multipart_etag};
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("finish");
    server.create_bucket(&client, &bucket).await;
    let mib = 1024 * 1024;
    let parts: [Vec<u8>; 2] = [vec![1; 5 * mib], vec![2; 1000]];
    let etag = multipart_etag(&[md5(&parts[0]), md5(&parts[1])]);
    let create = |key: &'static str| {
        let client = client.clone();
        let bucket = bucket.clone();
        async move {
            client
                .create_multipart_upload()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .expect("create upload")
                .upload_id()
                .expect("upload id")
                .to_string()
        }
    };
    let upload_part = |key: &'static str, id: String, number: i32| {
        let client = client.clone();
        let bucket = bucket.clone();
        let body = parts[usize::try_from(number - 1).expect("index")].clone();
        async move {
            client
                .upload_part()
                .bucket(&bucket)
                .key(key)
                .upload_id(id)
                .part_number(number)
                .body(body.into())
                .send()
                .await
                .expect("upload part");
        }
    };
    let whole = create("whole").await;
    upload_part("whole", whole.clone(), 1).await;
    upload_part("whole", whole.clone(), 2).await;
    let orphan = create("whole").await;
    let partial = create("partial").await;
    upload_part("partial", partial.clone(), 1).await;
    let foreign = create("not-of-this-run").await;
    // The run's part list, as multipartlist wrote it (and a skip row).
    let work = tempfile::tempdir().expect("tempdir");
    let part_list = work.path().join("parts");
    std::fs::create_dir(&part_list).expect("mkdir");
    let line = |key: &str, id: &str, n: u32, first: usize, last: usize| {
        format!(
            "{key}\t{etag}\t{}\t2026-11-30 07:00:00\t{id}\t{n}\t2\t{first}\t{last}\n",
            5 * mib + 1000
        )
    };
    let text = [
        line("partial", &partial, 1, 0, 5 * mib - 1),
        line("partial", &partial, 2, 5 * mib, 5 * mib + 999),
        format!(
            "{}\n",
            Skipped {
                key: "gone".into(),
                size: 1,
                etag: etag.clone(),
                reason: SkipReason::Vanished,
                detail: String::new(),
            }
            .to_row()
        ),
        line("whole", &whole, 1, 0, 5 * mib - 1),
        line("whole", &whole, 2, 5 * mib, 5 * mib + 999),
    ]
    .concat();
    std::fs::write(part_list.join("part-00000"), text).expect("write");
    // One upload in progress per pass: four passes over the part list.
    let done = campanile::orphans::finish_run(
        &client,
        &bucket,
        &Default::default(),
        &part_list,
        &work.path().join("no-listing"),
        (3, std::time::Duration::from_millis(10)),
        1,
    )
    .await
    .expect("clean-up");
    let ids = |uploads: &[campanile::orphans::Upload]| -> Vec<String> {
        let mut ids: Vec<String> = uploads.iter().map(|u| u.upload_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&done.completed), vec![whole.clone()]);
    let mut aborted = vec![orphan, partial];
    aborted.sort();
    assert_eq!(ids(&done.aborted), aborted);
    assert!(done.passes >= 4, "{done:?}");
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("whole")
        .send()
        .await
        .expect("completed object");
    assert_eq!(
        head.e_tag().map(|e| e.trim_matches('"')),
        Some(etag.as_str())
    );
    // Another writer's upload, on a key the run does not copy, stays.
    let left: Vec<String> = client
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_string))
        .collect();
    assert_eq!(left, vec![foreign]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_whose_layout_cannot_be_told_is_reported_and_the_run_exits_3() {
    // A multipart upload whose last part is empty (S3 and moto take one): no byte
    // range describes that part, so multipartlist leaves the object out; its row goes
    // through objectcopy and multipartcomplete into the job output. (An empty object
    // of one empty part is copied: see fidelity.rs.)
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "layout").await;
    let size = 5 * 1024 * 1024;
    let data = fixtures::fixture_bytes("empty-multipart", size);
    let etag = fixtures::put_multipart(&client, &src, "empty-multipart", &data, &[size, 0]).await;
    fixtures::upload_all(&client, &src, &[FixtureObject::whole("plain", 100)]).await;
    let work = tempfile::tempdir().expect("tempdir");
    let result = rsync_whole(
        server,
        &server.endpoint,
        work.path(),
        (&src, &dst),
        &["--uuid", "layout"],
    )
    .await;
    assert_eq!(result.code, 3, "{}", result.stderr);
    assert_same_object(&client, &src, &dst, "plain").await;
    let rows = report_rows(&work.path().join("output/part.all.layout/_skipped.jsonl"));
    assert_eq!(
        rows,
        vec![Skipped {
            key: "empty-multipart".into(),
            size,
            etag,
            reason: SkipReason::UnknownLayout,
            detail: "part 2 of 2 is empty: a part record cannot describe it".into(),
        }]
    );
    assert_eq!(
        counter(&reports(&result), "mlist.", &src, "UnknownPartLayout"),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn multipartlist_skips_an_archived_multipart_object_from_its_head() {
    // The HEAD multipartlist makes of every multipart object shows the archive (on AWS
    // also the Intelligent-Tiering archive tiers, `x-amz-archive-status`): no upload is
    // created, a skip row is written.
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "mlist-archive").await;
    let mib = 1024 * 1024;
    let upload = client
        .create_multipart_upload()
        .bucket(&src)
        .key("deep/multi")
        .storage_class(StorageClass::DeepArchive)
        .send()
        .await
        .expect("create");
    let id = upload.upload_id().expect("id").to_string();
    let mut parts = Vec::new();
    for (number, size) in [(1, 5 * mib), (2, 1000)] {
        let part = client
            .upload_part()
            .bucket(&src)
            .key("deep/multi")
            .upload_id(&id)
            .part_number(number)
            .body(vec![7u8; size].into())
            .send()
            .await
            .expect("part");
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_string))
                .build(),
        );
    }
    let done = client
        .complete_multipart_upload()
        .bucket(&src)
        .key("deep/multi")
        .upload_id(&id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let etag = done.e_tag().expect("etag").trim_matches('"').to_string();
    let line = format!(
        "deep/multi\t{etag}\t{}\t2026-11-30 07:00:00\n",
        5 * mib + 1000
    );
    let both = src_dst_args(server, &src, &dst);
    let planned = stage(MULTIPARTLIST, &both, &line, server);
    let row = Skipped::from_row(planned.stdout.trim_end()).expect("one skip row");
    assert_eq!(row.key, "deep/multi");
    assert_eq!(row.reason, SkipReason::Archived);
    assert!(row.detail.contains("DEEP_ARCHIVE"), "{row:?}");
    assert_eq!(planned.counter(&src, "SkippedArchived"), 1);
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    // A skip row in multipartlist's input is passed on as it is.
    let passed = stage(MULTIPARTLIST, &both, &planned.stdout, server);
    assert_eq!(passed.stdout, planned.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn multipartcomplete_keeps_one_row_per_skipped_object_and_aborts_its_upload() {
    // Two parts of a multipart object skipped by objectcopy (the source vanished after
    // part 1 was copied): one row reaches the job output, and the upload is aborted
    // instead of failing the task for its missing parts.
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("complete-skips");
    server.create_bucket(&client, &bucket).await;
    let id = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_string();
    let mib = 1024 * 1024;
    let part = vec![3u8; 5 * mib];
    client
        .upload_part()
        .bucket(&bucket)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(part.clone().into())
        .send()
        .await
        .expect("part");
    let part_etag = campanile::multipart::hex(&campanile::multipart::md5(&part));
    let etag = "0123456789abcdef0123456789abcdef-3";
    let row = |key: &str, etag: &str| {
        Skipped {
            key: key.into(),
            size: 12 * 1024 * 1024,
            etag: etag.into(),
            reason: SkipReason::Vanished,
            detail: "404 on GET".into(),
        }
        .to_row()
    };
    let copied = format!("k\t{etag}\t{id}\t{part_etag}\t1\t0\t{}", 5 * mib - 1);
    let whole = row("w", "0123456789abcdef0123456789abcdef");
    let input = format!(
        "{copied}\n{}\n{}\n{whole}\n",
        row("k", etag),
        row("k", etag)
    );
    let result = run(
        MULTIPARTCOMPLETE,
        &["--bucket", &bucket, "--endpoint", &server.endpoint],
        &input,
        server,
        &[],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        result.stdout,
        format!("{copied}\n{}\n{whole}\n", row("k", etag))
    );
    assert_eq!(uploads_in_progress(&client, &bucket).await, 0);
}
