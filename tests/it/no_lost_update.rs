//! No lost update: after `rsync --diff` every write is conditional on what the diff saw
//! at the destination (`If-None-Match: *` for a key it did not hold, `If-Match` on its
//! ETag for one that differed; for a multipart object, on CompleteMultipartUpload). A
//! key someone else writes at the destination during the run is reported as skipped
//! (`destination_changed`, rsync exit 3), never overwritten. See docs/reliability.md.
//!
//! On moto only: moto refuses with 412 a PutObject with `If-None-Match: *` on an
//! existing key or a wrong `If-Match`, and a CompleteMultipartUpload with
//! `If-None-Match: *` on an existing key. Garage 2.5 ignores every conditional write
//! header, so on Garage the racing writer's object would simply be overwritten and
//! nothing here could be shown (docs/s3.md). moto ignores `If-Match` on
//! CompleteMultipartUpload, so a multipart object that the destination held with
//! another ETag is not tested here (S3 refuses it as it refuses the PutObject); and
//! moto ignores both conditions on CopyObject (objectcopy `--server-side`, which sends
//! them as S3 takes them), so that path cannot be shown either.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use campanile::skip::{SkipReason, Skipped};
use campanile_testkit::faults::{FaultPlan, FaultProxy};
use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

const MIB: u64 = 1024 * 1024;

/// What a racing writer puts at the destination.
fn racer_bytes(key: &str) -> Vec<u8> {
    format!("written at the destination by someone else during the run: {key}").into_bytes()
}

async fn put(client: &aws_sdk_s3::Client, bucket: &str, key: &str, data: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .expect("put object");
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_diff_never_overwrites_what_another_writer_wrote_during_the_run() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "race").await;
    // Raced: a key the destination lacks (If-None-Match: *), one it holds with other
    // bytes (If-Match), and a multipart one it lacks (the completion's
    // If-None-Match: *). Calm: the same without a racer, which must be copied.
    let objects = [
        FixtureObject::whole("raced-new", 1000),
        FixtureObject::whole("raced-old", 1001),
        FixtureObject::multipart("raced-big", 6 * MIB, 5 * MIB),
        FixtureObject::whole("calm-new", 1002),
        FixtureObject::whole("calm-old", 1003),
        FixtureObject::multipart("calm-big", 6 * MIB, 5 * MIB),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    for key in ["raced-old", "calm-old"] {
        put(&client, &dst, key, b"an older copy".to_vec()).await;
    }
    // The racer writes a raced key at the destination as soon as the copy reads the
    // source (first GET of the key, answered before objectcopy gets it): after the
    // diff, before the copy's write.
    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
        .await
        .expect("start proxy");
    let raced = Arc::new(AtomicU64::new(0));
    {
        let (raced, src, dst, client) = (raced.clone(), src.clone(), dst.clone(), client.clone());
        let done = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        proxy.set_hook(Arc::new(move |exchange| {
            let path = exchange.target.split('?').next().unwrap_or("");
            let Some(key) = path.strip_prefix(&format!("/{src}/")) else {
                return;
            };
            if exchange.method != "GET" || !key.starts_with("raced-") {
                return;
            }
            if !done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.to_string())
            {
                return;
            }
            // The hook runs on a worker of the test's runtime: write from there, directly
            // to the server (not through the proxy).
            let (client, dst, key) = (client.clone(), dst.clone(), key.to_string());
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    put(&client, &dst, &key, racer_bytes(&key)).await;
                });
            });
            raced.fetch_add(1, Ordering::SeqCst);
        }));
    }
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (endpoint, dir) = (proxy.endpoint(), work.path().to_path_buf());
    let (s, d) = (src.clone(), dst.clone());
    let result = tokio::task::spawn_blocking(move || {
        rsync_local_at(
            server,
            &endpoint,
            &dir,
            &part_file,
            (&s, &d),
            &["--uuid", "race", "--diff", "--no-server-side-copy"],
            &[],
        )
    })
    .await
    .expect("rsync thread");
    assert_eq!(raced.load(Ordering::SeqCst), 3, "{}", result.stderr);
    // Skipped and reported, not overwritten: exit 3 and a skip report.
    assert_eq!(result.code, 3, "{}", result.stderr);
    for key in ["raced-new", "raced-old", "raced-big"] {
        assert_eq!(
            body(&client, &dst, key).await,
            racer_bytes(key),
            "{key} was overwritten"
        );
    }
    for key in ["calm-new", "calm-old", "calm-big"] {
        assert_same_object(&client, &src, &dst, key).await;
    }
    assert_eq!(
        uploads_in_progress(&client, &dst).await,
        0,
        "raced-big aborted"
    );
    let report = work.path().join("output/part.all.race/_skipped.jsonl");
    let mut rows: Vec<Skipped> = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("reading {}: {e}", report.display()))
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON row"))
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["raced-big", "raced-new", "raced-old"], "{rows:?}");
    for (row, object) in rows.iter().zip([&objects[2], &objects[0], &objects[1]]) {
        assert_eq!(row.reason, SkipReason::DestinationChanged, "{row:?}");
        assert_eq!(row.etag, expected_etag(object));
        assert_eq!(row.size, object.size);
        assert!(
            row.detail.starts_with("destination changed during the run"),
            "{row:?}"
        );
    }
    // Counted on the destination bucket, by the copy (whole objects) and by the
    // completion (the multipart one).
    let steps = reports(&result);
    let changed: i64 = steps
        .iter()
        .filter_map(|r| r["counters"][&dst]["DestinationChanged"].as_i64())
        .sum();
    assert_eq!(changed, 3, "{}", result.stdout);
}

/// bucketlist of `src` with a `dstEtag` field appended to every line, as the diff
/// writes it: `-` (absent) unless `held` names the key's destination ETag.
fn diff_lines(server: &campanile_testkit::S3Server, src: &str, held: &[(&str, &str)]) -> String {
    list_bucket(server, src, ",\n")
        .stdout
        .lines()
        .map(|line| {
            let key = line.split('\t').next().unwrap_or_default();
            let dst = held
                .iter()
                .find(|(k, _)| *k == key)
                .map_or("-", |(_, etag)| etag);
            format!("{line}\t{dst}\n")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tasks_skip_a_changed_destination_and_not_their_own_finished_write() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "cond").await;
    let objects = [
        FixtureObject::whole("absent", 2000),
        FixtureObject::whole("held", 2001),
        FixtureObject::multipart("big", 6 * MIB, 5 * MIB),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    put(&client, &dst, "held", b"the copy the diff saw".to_vec()).await;
    let seen = campanile::multipart::single_etag(b"the copy the diff saw");
    let both = src_dst_args(server, &src, &dst);
    let listing = diff_lines(server, &src, &[("held", &seen)]);
    let parts = stage(MULTIPARTLIST, &both, &listing, server);
    // The condition goes on in every part line (its last field).
    for line in parts.lines() {
        let dst_etag = line.rsplit('\t').next().unwrap_or_default();
        let expected = if line.starts_with("held\t") {
            &seen[..]
        } else {
            "-"
        };
        assert_eq!(dst_etag, expected, "{line}");
    }

    // First, nobody else writes: everything is copied under its condition, and the
    // part lines carry it to multipartcomplete.
    let copied = stage(OBJECTCOPY, &both, &parts.stdout, server);
    assert_eq!(copied.counter(&dst, "Objects"), 2, "{}", copied.stderr);
    for line in copied.lines() {
        assert!(line.ends_with("\t-"), "{line}");
    }
    let complete = complete_uploads(server, &dst, &copied.stdout);
    assert_eq!(complete.counter(&dst, "Uploads"), 1, "{}", complete.stderr);
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
    // The whole objects' lines again (an attempt whose answers were lost, say): the
    // conditions refuse the writes, but the destination holds the source's objects:
    // done, not changed. (big's parts are not sent again: its upload is completed.)
    let whole: String = parts
        .lines()
        .into_iter()
        .filter(|l| l.split('\t').nth(4) == Some("\\N"))
        .map(|l| format!("{l}\n"))
        .collect();
    let again = stage(OBJECTCOPY, &both, &whole, server);
    assert_eq!(again.counter(&dst, "AlreadyCopied"), 2, "{}", again.stderr);
    assert_eq!(
        again.counter(&dst, "DestinationChanged"),
        0,
        "{}",
        again.stderr
    );
    assert!(!again.lines().iter().any(|l| campanile::skip::is_row(l)));

    // Now someone writes every key at the destination after the diff.
    for object in &objects {
        put(&client, &dst, &object.key, racer_bytes(&object.key)).await;
    }
    let parts = stage(MULTIPARTLIST, &both, &listing, server);
    let copied = stage(OBJECTCOPY, &both, &parts.stdout, server);
    assert_eq!(
        copied.counter(&dst, "DestinationChanged"),
        2,
        "{}",
        copied.stderr
    );
    assert_eq!(copied.counter(&dst, "Objects"), 0);
    let rows: Vec<Skipped> = copied
        .lines()
        .into_iter()
        .filter(|l| campanile::skip::is_row(l))
        .map(|l| Skipped::from_row(l).expect("skip row"))
        .collect();
    let mut keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["absent", "held"]);
    assert!(
        rows.iter()
            .all(|r| r.reason == SkipReason::DestinationChanged),
        "{rows:?}"
    );
    // big's parts are uploaded; its completion (If-None-Match: *) is refused, the
    // upload aborted and the object reported once.
    let complete = run(
        MULTIPARTCOMPLETE,
        &["--bucket", &dst, "--endpoint", &server.endpoint],
        &copied.stdout,
        server,
        &[],
    );
    assert_eq!(complete.code, 0, "{}", complete.stderr);
    assert_eq!(
        complete.counter(&dst, "DestinationChanged"),
        1,
        "{}",
        complete.stderr
    );
    assert_eq!(complete.counter(&dst, "Uploads"), 0);
    let big_rows: Vec<Skipped> = complete
        .lines()
        .into_iter()
        .filter(|l| campanile::skip::is_row(l))
        .map(|l| Skipped::from_row(l).expect("skip row"))
        .filter(|r| r.key == "big")
        .collect();
    assert_eq!(big_rows.len(), 1, "{}", complete.stdout);
    assert_eq!(big_rows[0].reason, SkipReason::DestinationChanged);
    assert_eq!(big_rows[0].size, 6 * MIB);
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    for object in &objects {
        assert_eq!(
            body(&client, &dst, &object.key).await,
            racer_bytes(&object.key),
            "{} was overwritten",
            object.key
        );
    }
}
