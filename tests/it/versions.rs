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

/// An upload in progress at the destination, as a task killed mid-version (SIGKILL, a
/// task timeout) leaves it: created, one part sent, never completed nor aborted.
async fn leave_an_upload(client: &Client, bucket: &str, key: &str) -> String {
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create upload");
    let upload_id = created.upload_id().expect("upload id").to_string();
    client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .part_number(1)
        .body(aws_sdk_s3::primitives::ByteStream::from(fixture_bytes(
            "killed", 1000,
        )))
        .send()
        .await
        .expect("upload part");
    upload_id
}

/// The keys of the uploads in progress in `bucket`, sorted.
async fn upload_keys(client: &Client, bucket: &str) -> Vec<String> {
    let mut keys: Vec<String> = client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .iter()
        .filter_map(|u| u.key().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

/// The versions copy task, retried after an attempt killed while it uploaded `doc`'s
/// multipart version: right after creating its own upload of the key it aborts the
/// killed attempt's (counter `AbortedUploads`), so nothing stays in progress, and the
/// history is exact. The clean-up step of a cluster run (`multipartlist --abort-run`)
/// over the same versions listing aborts an upload of a key with a multipart version
/// (never completing one), and leaves the uploads of other keys alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_attempts_upload_is_aborted_by_the_retry() {
    let server = campanile_testkit::moto();
    let src = source(server, "versions-orphan").await;
    let dst = bucket(server, &src, "versions-orphan-dst", true).await;
    leave_an_upload(&src.client, &dst, "doc").await;
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
    let copy_args = [
        "--src-bucket",
        &src.bucket,
        "--src-endpoint",
        &server.endpoint,
        "--dst-bucket",
        &dst,
        "--dst-endpoint",
        &server.endpoint,
        "--versions",
        "history",
    ];
    let copied = run(OBJECTCOPY, &copy_args, &listed.stdout, server, &[]);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    assert_eq!(
        copied.counter(&dst, "AbortedUploads"),
        1,
        "{}",
        copied.stderr
    );
    assert_eq!(upload_keys(&src.client, &dst).await, Vec::<String>::new());
    for key in ["doc", "keep"] {
        assert_eq!(
            history(&src.client, &dst, key).await,
            history(&src.client, &src.bucket, key).await,
            "{key}"
        );
    }

    // The cluster's clean-up step over the versions listing: `doc` has a multipart
    // version, `keep` has not, `elsewhere` is no key of the run.
    for key in ["doc", "keep", "elsewhere"] {
        leave_an_upload(&src.client, &dst, key).await;
    }
    let cleaned = run(
        MULTIPARTLIST,
        &[
            "--src-bucket",
            &src.bucket,
            "--src-endpoint",
            &server.endpoint,
            "--dst-bucket",
            &dst,
            "--dst-endpoint",
            &server.endpoint,
            "--abort-run",
        ],
        &listed.stdout,
        server,
        &[],
    );
    assert_eq!(cleaned.code, 0, "{}", cleaned.stderr);
    assert_eq!(
        cleaned.counter(&dst, "AbortedUploads"),
        1,
        "{}",
        cleaned.stderr
    );
    assert_eq!(upload_keys(&src.client, &dst).await, ["elsewhere", "keep"]);
    // Nothing was completed: the history is the same.
    assert_eq!(
        history(&src.client, &dst, "doc").await,
        history(&src.client, &src.bucket, "doc").await
    );
}

/// A run whose copy step fails (every part-number HEAD refused, so `doc`'s multipart
/// version cannot be laid out: its task fails before it creates an upload, in every
/// attempt) leaves no upload in progress for the run's keys: the run's clean-up reads
/// the versions listing and aborts the upload a killed earlier attempt left for `doc`.
/// An upload of a key the run does not copy stays. What was written stays: `doc`'s
/// first version, and `keep`.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_versions_run_leaves_no_upload_in_progress() {
    use campanile_testkit::faults::{FaultPlan, FaultProxy};
    let server = campanile_testkit::moto();
    let src = source(server, "versions-failed").await;
    let dst = bucket(server, &src, "versions-failed-dst", true).await;
    leave_an_upload(&src.client, &dst, "doc").await;
    leave_an_upload(&src.client, &dst, "elsewhere").await;
    let proxy = FaultProxy::start(
        &server.endpoint,
        FaultPlan {
            deny: Some(("HEAD", "partNumber=")),
            ..FaultPlan::none()
        },
    )
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
                &["--all-versions"],
                &[],
            )
        }
    })
    .await
    .expect("rsync thread");
    assert_ne!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_ne!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("aborted 1 multipart upload(s)"),
        "{}",
        ran.stderr
    );
    assert_eq!(upload_keys(&src.client, &dst).await, ["elsewhere"]);
    let wanted = history(&src.client, &src.bucket, "doc").await;
    assert_eq!(history(&src.client, &dst, "doc").await, wanted[..1]);
    assert_eq!(
        history(&src.client, &dst, "keep").await,
        history(&src.client, &src.bucket, "keep").await
    );
}

/// A client of `server` that sends a checksum only when one is asked for (the SDK
/// would add a CRC32 to every PutObject and UploadPart otherwise, and moto keeps it).
async fn without_default_checksums(server: &S3Server) -> Client {
    let client = server.client().await;
    Client::from_conf(
        client
            .config()
            .to_builder()
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build(),
    )
}

/// A version written with its CRC32 (a header, which moto keeps).
async fn put_with_crc32(client: &Client, bucket: &str, key: &str, bytes: Vec<u8>) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .checksum_crc32(crate::proofs::crc32_base64(&bytes))
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
        .send()
        .await
        .expect("PUT with a CRC32");
}

/// Versions of an SSE-KMS source, whose ETags are not MD5s (S3's behaviour modelled at
/// the wire by the test proxy's KMS mode in front of moto, as in tests/it/proofs.rs:
/// moto itself gives SSE-KMS objects MD5 ETags). `crc` has a whole version with a
/// CRC32, then multipart versions with a composite and a full-object CRC32: the whole
/// one is written with the source's checksum, the multipart ones from parts whose
/// CRC32s make the source's value (which moto computes itself, the composite without
/// its `-N`) before they are completed: all proven by checksum, exit 0. moto checks
/// no checksum a write carries (S3 does: the PutObject's, each part's, a full-object
/// completion's), so what the test can show of those is that they were sent (the
/// headers the proxy saw); the proof itself, parts made again into the source's
/// value, is the task's and is exercised. Then `plain` gets a version without any checksum: copied, and
/// reported `unverifiable_at_source` (exit 3), not passed in silence; so is
/// `plain-multi`, a multipart version without a checksum (its parts cannot make its
/// KMS ETag either).
#[tokio::test(flavor = "multi_thread")]
async fn kms_versions_are_proven_by_checksum_or_reported() {
    use crate::proofs::{Uploaded, put_multipart_with_checksum};
    use campanile_testkit::faults::{FaultPlan, FaultProxy};
    use campanile_testkit::fixtures::FixtureObject;
    use std::sync::{Arc, Mutex};
    let server = campanile_testkit::moto();
    let client = without_default_checksums(server).await;
    let src = campanile_testkit::unique_bucket("versions-kms-src");
    let dst = campanile_testkit::unique_bucket("versions-kms-dst");
    for bucket in [&src, &dst] {
        server.create_bucket(&client, bucket).await;
        enable_versioning(&client, bucket).await;
    }
    let whole = fixture_bytes("crc-1", 100_000);
    put_with_crc32(&client, &src, "crc", whole).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (size, uploaded) in [
        (6 * MIB + 5, Uploaded::Crc32Composite),
        (6 * MIB + 7, Uploaded::Crc32Full),
    ] {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let object = FixtureObject::multipart("crc", size, 5 * MIB);
        put_multipart_with_checksum(&client, &src, &object, uploaded).await;
    }
    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::kms(&[&src, &dst]))
        .await
        .expect("start proxy");
    // The writes of `crc` as the destination got them: the checksum header of each.
    let writes = Arc::new(Mutex::new(Vec::new()));
    {
        let (writes, path) = (writes.clone(), format!("/{dst}/crc"));
        proxy.set_hook(Arc::new(move |exchange| {
            if exchange.method == "PUT" && exchange.target.split('?').next() == Some(&path) {
                let mut writes = writes.lock().unwrap_or_else(|p| p.into_inner());
                writes.push(exchange.checksum.clone());
            }
        }));
    }
    let work = tempfile::tempdir().expect("work");
    let rsync_through = |name: &'static str| {
        let work = work.path().join(name);
        let endpoint = proxy.endpoint();
        let (from, to) = (src.clone(), dst.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&work).expect("work dir");
            let part_file = work.join("part.all");
            std::fs::write(&part_file, "range\t\t\n").expect("part file");
            rsync_local_at(
                campanile_testkit::moto(),
                &endpoint,
                &work,
                &part_file,
                (&from, &to),
                &["--all-versions"],
                &[],
            )
        })
    };
    let ran = rsync_through("proven").await.expect("rsync thread");
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(counter_total(&ran, "ProvenByChecksum"), 3, "{}", ran.stdout);
    assert_eq!(counter_total(&ran, "ProvenByMd5"), 0, "{}", ran.stdout);
    assert_eq!(
        counter_total(&ran, "UnverifiableAtSource"),
        0,
        "{}",
        ran.stdout
    );
    assert_eq!(summary(&ran)["proofs"]["checksum"], 3, "{}", ran.stdout);
    // Compared on moto itself, whose ETags are MD5s of the bytes.
    assert_eq!(
        history(&client, &dst, "crc").await,
        history(&client, &src, "crc").await
    );
    {
        let writes = writes.lock().unwrap_or_else(|p| p.into_inner());
        // The whole version's PutObject, then the multipart ones' two UploadParts
        // each: each with a CRC32 (the source's value, then each part's). (A write
        // tried again after a lost answer would be seen twice: at least five.)
        assert!(writes.len() >= 5, "{writes:?}\n{}", ran.stderr);
        assert!(
            writes
                .iter()
                .all(|w| w.as_deref() == Some("x-amz-checksum-crc32")),
            "{writes:?}\n{}",
            ran.stderr
        );
    }

    // A version without a checksum: copied and reported, exit 3.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put_object(&client, &src, "plain", fixture_bytes("plain", 50_000)).await;
    let parts = fixture_bytes("plain-multi", 6 * MIB);
    put_multipart(&client, &src, "plain-multi", &parts, &[5 * MIB, MIB]).await;
    let reported = rsync_through("reported").await.expect("rsync thread");
    assert_eq!(reported.code, 3, "{}\n{}", reported.stdout, reported.stderr);
    assert_eq!(
        counter_total(&reported, "UnverifiableAtSource"),
        2,
        "{}",
        reported.stdout
    );
    assert_eq!(
        counter_total(&reported, "ProvenByChecksum"),
        0,
        "{}",
        reported.stdout
    );
    let report = summary(&reported)["paths"]["skip_report"]
        .as_str()
        .expect("skip report")
        .to_string();
    let rows = std::fs::read_to_string(&report).expect("report");
    assert_eq!(rows.lines().count(), 2, "{rows}");
    assert_eq!(rows.matches("unverifiable_at_source").count(), 2, "{rows}");
    assert!(
        rows.contains("\"plain\"") && rows.contains("\"plain-multi\""),
        "{rows}"
    );
    for key in ["plain", "plain-multi"] {
        assert_eq!(
            history(&client, &dst, key).await,
            history(&client, &src, key).await,
            "{key}"
        );
    }
    assert_eq!(
        versions_summary(&reported)["already_there"],
        3,
        "{}",
        reported.stdout
    );
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

/// A plain source (MD5 ETags, each version with a CRC32) into a destination the test
/// proxy shows as SSE-KMS (as a bucket with default SSE-KMS encryption: the writes'
/// answers say `aws:kms` and give ETags that are not MD5s, though the requests do not
/// ask for it). `doc`: a whole version, a multipart one (composite CRC32), a delete
/// marker, a whole one; `other`: one whole version. The first run judges each write by
/// its answer: exit 0, the histories alike (compared on moto itself). The second run
/// finds the destination's ETags all different from the source's, HEADs each pair and
/// finds the same checksums and sizes past SSE-KMS: nothing written, exit 0. Then
/// `other`'s copy is replaced by another writer's bytes of the same size (with their
/// own CRC32): its ETag differs as before, but its checksum does too, so it is
/// reported diverged (exit 3), nothing written over it.
#[tokio::test(flavor = "multi_thread")]
async fn copies_into_a_kms_destination_are_found_again_by_checksum() {
    use crate::proofs::{Uploaded, put_multipart_with_checksum};
    use campanile_testkit::faults::{FaultPlan, FaultProxy};
    use campanile_testkit::fixtures::FixtureObject;
    use std::sync::{Arc, Mutex};
    let server = campanile_testkit::moto();
    let client = without_default_checksums(server).await;
    let src = campanile_testkit::unique_bucket("versions-tokms-src");
    let dst = campanile_testkit::unique_bucket("versions-tokms-dst");
    for bucket in [&src, &dst] {
        server.create_bucket(&client, bucket).await;
        enable_versioning(&client, bucket).await;
    }
    put_with_crc32(&client, &src, "doc", fixture_bytes("doc-1", 100_000)).await;
    put_with_crc32(&client, &src, "other", fixture_bytes("other", 5_000)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let object = FixtureObject::multipart("doc", 6 * MIB + 5, 5 * MIB);
    put_multipart_with_checksum(&client, &src, &object, Uploaded::Crc32Composite).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .delete_object()
        .bucket(&src)
        .key("doc")
        .send()
        .await
        .expect("delete marker");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put_with_crc32(&client, &src, "doc", fixture_bytes("doc-4", 2_000)).await;
    let wanted = history(&client, &src, "doc").await;
    assert_eq!(wanted.len(), 4, "{wanted:?}");
    assert!(
        wanted[1].0.as_deref().is_some_and(|e| e.ends_with("-2")),
        "{wanted:?}"
    );

    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::kms(&[&dst]))
        .await
        .expect("start proxy");
    // The HEADs of one version (`versionId`) the runs send, per bucket.
    let heads = Arc::new(Mutex::new(Vec::new()));
    {
        let heads = heads.clone();
        proxy.set_hook(Arc::new(move |exchange| {
            if exchange.method == "HEAD" && exchange.target.contains("versionId=") {
                let bucket = exchange.target.trim_start_matches('/');
                let bucket = bucket.split('/').next().unwrap_or_default().to_string();
                heads.lock().unwrap_or_else(|p| p.into_inner()).push(bucket);
            }
        }));
    }
    let take_heads = || std::mem::take(&mut *heads.lock().unwrap_or_else(|p| p.into_inner()));
    let work = tempfile::tempdir().expect("work");
    let rsync_through = |name: &'static str| {
        let work = work.path().join(name);
        let endpoint = proxy.endpoint();
        let (from, to) = (src.clone(), dst.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&work).expect("work dir");
            let part_file = work.join("part.all");
            std::fs::write(&part_file, "range\t\t\n").expect("part file");
            rsync_local_at(
                campanile_testkit::moto(),
                &endpoint,
                &work,
                &part_file,
                (&from, &to),
                &["--all-versions"],
                &[],
            )
        })
    };

    let first = rsync_through("first").await.expect("rsync thread");
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let did = versions_summary(&first);
    assert_eq!(did["versions"], 4, "{did}");
    assert_eq!(did["delete_markers"], 1, "{did}");
    assert_eq!(summary(&first)["proofs"]["md5"], 4, "{}", first.stdout);
    // Compared on moto itself, whose ETags are MD5s of the bytes.
    assert_eq!(history(&client, &dst, "doc").await, wanted);
    assert_eq!(
        history(&client, &dst, "other").await,
        history(&client, &src, "other").await
    );
    take_heads();

    let second = rsync_through("second").await.expect("rsync thread");
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let did = versions_summary(&second);
    assert_eq!(did["versions"], 0, "{did}");
    assert_eq!(did["delete_markers"], 0, "{did}");
    assert_eq!(did["already_there"], 5, "{did}");
    assert_eq!(did["diverged"], 0, "{did}");
    assert_eq!(history(&client, &dst, "doc").await, wanted);
    // One HEAD of each side per object version (4), none for the delete marker. (The
    // multipart version's copy also reads its layout with partNumber HEADs, only when
    // written: none here.)
    let mut seen = take_heads();
    seen.sort();
    let mut expected = vec![src.clone(); 4];
    expected.extend(vec![dst.clone(); 4]);
    expected.sort();
    assert_eq!(seen, expected, "{}", second.stderr);

    // Another writer's bytes of the same size in place of `other`'s copy.
    let listed = client
        .list_object_versions()
        .bucket(&dst)
        .prefix("other")
        .send()
        .await
        .expect("list versions");
    for version in listed.versions() {
        client
            .delete_object()
            .bucket(&dst)
            .key("other")
            .set_version_id(version.version_id().map(str::to_string))
            .send()
            .await
            .expect("delete the copy");
    }
    put_with_crc32(&client, &dst, "other", fixture_bytes("someone else", 5_000)).await;
    let diverged = history(&client, &dst, "other").await;
    assert_eq!(diverged.len(), 1);
    assert_ne!(diverged, history(&client, &src, "other").await);
    let third = rsync_through("third").await.expect("rsync thread");
    assert_eq!(third.code, 3, "{}\n{}", third.stdout, third.stderr);
    let did = versions_summary(&third);
    assert_eq!(did["diverged"], 1, "{did}");
    assert_eq!(did["already_there"], 4, "{did}");
    let report = summary(&third)["paths"]["skip_report"]
        .as_str()
        .expect("skip report")
        .to_string();
    let rows = std::fs::read_to_string(&report).expect("report");
    assert_eq!(rows.lines().count(), 1, "{rows}");
    assert!(
        rows.contains("\"other\"")
            && rows.contains("destination_changed")
            && rows.contains("checksums differ"),
        "{rows}"
    );
    assert_eq!(history(&client, &dst, "other").await, diverged);
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}
