//! `rsync --all-versions` and `--version-at` on the local runner, end to end on moto
//! (Garage has no versioning). The source key `doc` has three versions: a small
//! object, a multipart object, then a delete marker (each a second apart: moto's
//! LastModified has whole seconds); `keep` has one version. `--all-versions` copies
//! them in order (the destination's ListObjectVersions reads the same ETags, sizes and
//! markers oldest first), a second run writes nothing, a destination version the
//! source lacks is reported (exit 3) and nothing is written over it, a dry run lists
//! what it would write and writes nothing, and an unversioned destination is refused
//! (exit 2). `--version-at` copies each key's version of that time into the current
//! objects of an unversioned bucket, and no key that was deleted then.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

use crate::common::*;
use campanile_testkit::S3Server;
use campanile_testkit::fixtures::{fixture_bytes, put_multipart, put_object};

pub(crate) const MIB: u64 = 1 << 20;

/// One entry of a key's history, as compared: ETag (`None`: delete marker) and size.
pub(crate) type Entry = (Option<String>, i64);

pub(crate) async fn enable_versioning(client: &Client, bucket: &str) {
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
}

/// A key's history oldest first: versions and delete markers merged by LastModified,
/// of equal times the latest last (moto keeps whole seconds; S3 marks the latest).
pub(crate) async fn history(client: &Client, bucket: &str, key: &str) -> Vec<Entry> {
    let listed = client
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    let mut entries: Vec<(i64, bool, usize, Entry)> = Vec::new();
    for (n, v) in listed.versions().iter().enumerate() {
        if v.key() == Some(key) {
            let etag = v.e_tag().map(|e| e.trim_matches('"').to_string());
            let at = v.last_modified().map_or(0, |t| t.secs());
            // Listed newest first: a larger n is older.
            entries.push((
                at,
                v.is_latest() == Some(true),
                usize::MAX - n,
                (etag, v.size().unwrap_or(0)),
            ));
        }
    }
    for (n, m) in listed.delete_markers().iter().enumerate() {
        if m.key() == Some(key) {
            let at = m.last_modified().map_or(0, |t| t.secs());
            entries.push((at, m.is_latest() == Some(true), usize::MAX - n, (None, 0)));
        }
    }
    entries.sort_by_key(|(at, latest, order, _)| (*at, *latest, *order));
    entries.into_iter().map(|(_, _, _, entry)| entry).collect()
}

/// The RFC 3339 form of now, to the second.
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let text = campanile::record::format_mtime(i64::try_from(secs).expect("secs"));
    format!("{}Z", text.replace(' ', "T"))
}

/// The source: `doc` (small, multipart, delete marker), `keep` (one version); the
/// times between them (`after_first`: after doc's first version; `after_all`: after
/// its delete marker).
struct Source {
    client: Client,
    bucket: String,
    doc_first: Vec<u8>,
    after_first: String,
    after_all: String,
}

async fn source(server: &S3Server, tag: &str) -> Source {
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket(&format!("{tag}-src"));
    server.create_bucket(&client, &bucket).await;
    enable_versioning(&client, &bucket).await;
    let doc_first = fixture_bytes("doc-1", 1000);
    put_object(&client, &bucket, "doc", doc_first.clone()).await;
    put_object(&client, &bucket, "keep", fixture_bytes("keep", 300)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after_first = now_rfc3339();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let big = fixture_bytes("doc-2", 6 * MIB + 123);
    put_multipart(&client, &bucket, "doc", &big, &[5 * MIB, MIB]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .delete_object()
        .bucket(&bucket)
        .key("doc")
        .send()
        .await
        .expect("delete marker");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after_all = now_rfc3339();
    Source {
        client,
        bucket,
        doc_first,
        after_first,
        after_all,
    }
}

async fn bucket(server: &S3Server, source: &Source, tag: &str, versioned: bool) -> String {
    let name = campanile_testkit::unique_bucket(tag);
    server.create_bucket(&source.client, &name).await;
    if versioned {
        enable_versioning(&source.client, &name).await;
    }
    name
}

/// rsync on the local runner, `--json`, with a part file of two key ranges, the
/// second starting at `doc` (whose versions its first request lists alone).
fn rsync(server: &S3Server, work: &std::path::Path, buckets: (&str, &str), extra: &[&str]) -> Run {
    std::fs::create_dir_all(work).expect("work dir");
    let part_file = work.join("part.all");
    std::fs::write(&part_file, "range\t\tdoc\nrange\tdoc\t\n").expect("part file");
    rsync_local_at(
        server,
        &server.endpoint,
        work,
        &part_file,
        buckets,
        extra,
        &[],
    )
}

fn versions_summary(run: &Run) -> serde_json::Value {
    summary(run)["versions"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn all_versions_copy_in_order_once_and_report_a_diverged_history() {
    let server = campanile_testkit::moto();
    let src = source(server, "versions").await;
    let dst = bucket(server, &src, "versions-dst", true).await;
    let work = tempfile::tempdir().expect("work");
    let wanted = history(&src.client, &src.bucket, "doc").await;
    assert_eq!(wanted.len(), 3, "{wanted:?}");
    assert!(
        wanted[1].0.as_deref().is_some_and(|e| e.ends_with("-2")),
        "{wanted:?}"
    );
    assert_eq!(wanted[2], (None, 0), "{wanted:?}");

    // The listing task alone: one versions record per key, oldest first.
    let listed = run(
        BUCKETLIST,
        &[
            "--bucket",
            &src.bucket,
            "--endpoint",
            &server.endpoint,
            "--all-versions",
        ],
        "range\t\t\n",
        server,
        &[],
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let records: Vec<campanile::versions::VersionsRecord> = listed
        .stdout
        .lines()
        .map(|l| campanile::versions::VersionsRecord::parse(l).expect("a versions record"))
        .collect();
    assert_eq!(records.len(), 2, "{}", listed.stdout);
    assert_eq!(records[0].key, "doc");
    let shapes: Vec<Entry> = records[0]
        .versions
        .iter()
        .map(|v| (v.etag.clone(), i64::try_from(v.size).expect("size")))
        .collect();
    assert_eq!(shapes, wanted, "{}", listed.stdout);
    assert_eq!(records[1].key, "keep");
    assert_eq!(records[1].versions.len(), 1);

    // Dry run: every version and the marker, nothing written.
    let dry = rsync(
        server,
        &work.path().join("dry"),
        (&src.bucket, &dst),
        &["--all-versions", "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let planned: Vec<(String, String)> = json_lines(&dry)
        .iter()
        .filter(|l| l.get("action").is_some())
        .map(|l| {
            (
                l["key"].as_str().expect("key").to_string(),
                l["action"].as_str().expect("action").to_string(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [
            ("doc".to_string(), "copy_version".to_string()),
            ("doc".to_string(), "copy_version".to_string()),
            ("doc".to_string(), "delete_marker".to_string()),
            ("keep".to_string(), "copy_version".to_string()),
        ],
        "{}",
        dry.stdout
    );
    let would = versions_summary(&dry);
    assert_eq!(would["versions"], 3, "{would}");
    assert_eq!(would["delete_markers"], 1, "{would}");
    assert!(
        history(&src.client, &dst, "doc").await.is_empty(),
        "the dry run wrote"
    );

    // The copy: the same history, oldest first.
    let ran = rsync(
        server,
        &work.path().join("run"),
        (&src.bucket, &dst),
        &["--all-versions"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(history(&src.client, &dst, "doc").await, wanted);
    assert_eq!(
        history(&src.client, &dst, "keep").await,
        history(&src.client, &src.bucket, "keep").await
    );
    let did = versions_summary(&ran);
    assert_eq!(did["versions"], 3, "{did}");
    assert_eq!(did["delete_markers"], 1, "{did}");
    assert_eq!(did["listed_versions"], 3, "{did}");
    assert_eq!(did["listed_delete_markers"], 1, "{did}");
    assert_eq!(did["keys"], 2, "{did}");
    assert_eq!(summary(&ran)["multipart_objects"], 1, "{}", ran.stdout);
    assert_eq!(summary(&ran)["proofs"]["md5"], 3, "{}", ran.stdout);

    // Again: nothing new is written.
    let again = rsync(
        server,
        &work.path().join("again"),
        (&src.bucket, &dst),
        &["--all-versions"],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let did = versions_summary(&again);
    assert_eq!(did["versions"], 0, "{did}");
    assert_eq!(did["delete_markers"], 0, "{did}");
    assert_eq!(did["already_there"], 4, "{did}");
    assert_eq!(history(&src.client, &dst, "doc").await, wanted);

    // A version the source lacks: reported, nothing written over it.
    put_object(&src.client, &dst, "doc", b"someone else's".to_vec()).await;
    let diverged = history(&src.client, &dst, "doc").await;
    let after = rsync(
        server,
        &work.path().join("diverged"),
        (&src.bucket, &dst),
        &["--all-versions"],
    );
    assert_eq!(after.code, 3, "{}\n{}", after.stdout, after.stderr);
    assert_eq!(versions_summary(&after)["diverged"], 1, "{}", after.stdout);
    let report = summary(&after)["paths"]["skip_report"]
        .as_str()
        .expect("skip report")
        .to_string();
    let rows = std::fs::read_to_string(&report).expect("report");
    assert!(
        rows.contains("\"doc\"") && rows.contains("destination_changed"),
        "{rows}"
    );
    assert_eq!(history(&src.client, &dst, "doc").await, diverged);
}

#[tokio::test(flavor = "multi_thread")]
async fn all_versions_refuse_an_unversioned_destination() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket("versions-refused-src");
    let dst = campanile_testkit::unique_bucket("versions-refused-dst");
    server.create_bucket(&client, &src).await;
    server.create_bucket(&client, &dst).await;
    enable_versioning(&client, &src).await;
    put_object(&client, &src, "a", b"a".to_vec()).await;
    let work = tempfile::tempdir().expect("work");
    let ran = rsync(server, work.path(), (&src, &dst), &["--all-versions"]);
    assert_eq!(ran.code, 2, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("versioning"), "{}", ran.stderr);
    assert!(
        client
            .list_objects_v2()
            .bucket(&dst)
            .send()
            .await
            .expect("list")
            .contents()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn version_at_copies_the_bucket_as_it_stood_then() {
    let server = campanile_testkit::moto();
    let src = source(server, "version-at").await;
    let work = tempfile::tempdir().expect("work");

    // After doc's first version: doc is that version.
    let early = bucket(server, &src, "version-at-early", false).await;
    let ran = rsync(
        server,
        &work.path().join("early"),
        (&src.bucket, &early),
        &["--version-at", &src.after_first],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let doc = src
        .client
        .get_object()
        .bucket(&early)
        .key("doc")
        .send()
        .await
        .expect("doc copied")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(doc.as_ref(), src.doc_first.as_slice());
    assert_eq!(versions_summary(&ran)["versions"], 2, "{}", ran.stdout);

    // After doc's delete marker: doc was deleted then, keep is there.
    let late = bucket(server, &src, "version-at-late", false).await;
    let dry = rsync(
        server,
        &work.path().join("late-dry"),
        (&src.bucket, &late),
        &["--version-at", &src.after_all, "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let keys: Vec<String> = json_lines(&dry)
        .iter()
        .filter(|l| l["action"] == "copy_version")
        .filter_map(|l| l["key"].as_str().map(str::to_string))
        .collect();
    assert_eq!(keys, ["keep"], "{}", dry.stdout);
    let ran = rsync(
        server,
        &work.path().join("late"),
        (&src.bucket, &late),
        &["--version-at", &src.after_all],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let listed: Vec<String> = src
        .client
        .list_objects_v2()
        .bucket(&late)
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(listed, ["keep"]);
    // Again: the current object is the listed version already.
    let again = rsync(
        server,
        &work.path().join("late-again"),
        (&src.bucket, &late),
        &["--version-at", &src.after_all],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(versions_summary(&again)["versions"], 0, "{}", again.stdout);
    assert_eq!(
        versions_summary(&again)["already_there"],
        1,
        "{}",
        again.stdout
    );
}

/// Answers lost on the way back (the server wrote, the client saw a reset) are where a
/// retried write would add a version twice: through a proxy that loses 10% of the
/// answers, the destination's history still reads exactly the source's.
#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_add_no_version_twice() {
    use campanile_testkit::faults::{FaultKind, FaultPlan, FaultProxy};
    let server = campanile_testkit::moto();
    let src = source(server, "versions-lost").await;
    let dst = bucket(server, &src, "versions-lost-dst", true).await;
    let plan = FaultPlan::mix(17, 0.1, &[FaultKind::ResetBeforeResponse], Duration::ZERO);
    let proxy = FaultProxy::start(&server.endpoint, plan)
        .await
        .expect("start proxy");
    let endpoint = proxy.endpoint();
    let work = tempfile::tempdir().expect("work");
    let ran = tokio::task::spawn_blocking({
        let work = work.path().to_path_buf();
        let (from, to) = (src.bucket.clone(), dst.clone());
        move || {
            std::fs::create_dir_all(&work).expect("work dir");
            let part_file = work.join("part.all");
            std::fs::write(&part_file, "range\t\t\n").expect("part file");
            rsync_local_at(
                campanile_testkit::moto(),
                &endpoint,
                &work,
                &part_file,
                (&from, &to),
                &["--all-versions", "--quiet"],
                &[],
            )
        }
    })
    .await
    .expect("rsync thread");
    let stats = proxy.stats();
    drop(proxy);
    assert_eq!(ran.code, 0, "{stats:?}\n{}\n{}", ran.stdout, ran.stderr);
    assert!(stats.injected.values().sum::<u64>() > 0, "{stats:?}");
    for key in ["doc", "keep"] {
        assert_eq!(
            history(&src.client, &dst, key).await,
            history(&src.client, &src.bucket, key).await,
            "{key} through {stats:?}"
        );
    }
}

/// A key whose versions span two pages of ListObjectVersions (moto answers 1,000
/// entries a page): 998 keys of one version, then `m` with five, so that the first
/// page ends inside `m`'s history. The listing writes `m` once, all five versions,
/// oldest first.
#[tokio::test(flavor = "multi_thread")]
async fn a_history_across_pages_is_listed_whole_and_in_order() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("versions-pages");
    server.create_bucket(&client, &bucket).await;
    enable_versioning(&client, &bucket).await;
    let objects: Vec<campanile_testkit::fixtures::FixtureObject> = (0..998)
        .map(|i| campanile_testkit::fixtures::FixtureObject::whole(format!("k{i:04}"), 1))
        .collect();
    campanile_testkit::fixtures::upload_all(&client, &bucket, &objects).await;
    for size in 1..=5 {
        put_object(&client, &bucket, "m", vec![b'm'; size]).await;
        // Distinct times, in order (moto orders by milliseconds).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let listed = run(
        BUCKETLIST,
        &[
            "--bucket",
            &bucket,
            "--endpoint",
            &server.endpoint,
            "--all-versions",
        ],
        "range\t\t\n",
        server,
        &[],
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let records: Vec<campanile::versions::VersionsRecord> = listed
        .stdout
        .lines()
        .map(|l| campanile::versions::VersionsRecord::parse(l).expect("a versions record"))
        .collect();
    assert_eq!(records.len(), 999, "every key once");
    assert!(
        listed.counter("Requests", "ListObjectVersions") >= 2,
        "more than one page: {}",
        listed.stderr
    );
    let m = records.last().expect("m");
    assert_eq!(m.key, "m");
    let sizes: Vec<u64> = m.versions.iter().map(|v| v.size).collect();
    assert_eq!(sizes, [1, 2, 3, 4, 5], "{}", m.to_line());
    assert!(records[..998].iter().all(|r| r.versions.len() == 1));
}

/// An empty multipart version (one empty part, ETag `…-1`) is copied as one: nothing
/// to read, the same ETag. (The key is `doc`, the start of the part file's second
/// range: moto, unlike S3, also drops the first version after a KeyMarker that is no
/// key.)
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_multipart_version_keeps_its_etag() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let src = campanile_testkit::unique_bucket("versions-empty-src");
    let dst = campanile_testkit::unique_bucket("versions-empty-dst");
    server.create_bucket(&client, &src).await;
    server.create_bucket(&client, &dst).await;
    enable_versioning(&client, &src).await;
    enable_versioning(&client, &dst).await;
    put_object(&client, &src, "doc", b"before".to_vec()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let etag = put_multipart(&client, &src, "doc", &[], &[0]).await;
    assert!(etag.ends_with("-1"), "{etag}");
    let work = tempfile::tempdir().expect("work");
    let ran = rsync(server, work.path(), (&src, &dst), &["--all-versions"]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let wanted = history(&client, &src, "doc").await;
    assert_eq!(wanted.len(), 2, "{wanted:?}");
    assert_eq!(
        history(&client, &dst, "doc").await,
        wanted,
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
}
