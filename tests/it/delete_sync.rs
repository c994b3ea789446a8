//! `rsync --delete` on the local runner, end to end on Garage: the destination keys
//! under the destination prefix that the source prefix lacks are deleted (and listed
//! in `_deleted.jsonl`), keys outside the prefix stay; `--max-delete N` and `N%`
//! refuse (exit 1) and delete nothing; a dry run lists the deletes and deletes
//! nothing; a run whose copy fails deletes nothing; the combinations that cannot
//! delete safely are usage errors (exit 2). With filters: a destination key the key
//! rules exclude stays, and so does one whose source the size or date filters left
//! out of the copy (it is still at the source).

use crate::common::*;
use campanile_testkit::faults::{FaultPlan, FaultProxy};
use campanile_testkit::{S3Server, fixtures};

/// rsync on the local runner through `endpoint`, run and output directories under
/// `work`, `--json`, and `args` (locations, flags).
fn rsync_at(server: &S3Server, endpoint: &str, work: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        "--src-endpoint".into(),
        endpoint.into(),
        "--dst-endpoint".into(),
        endpoint.into(),
        "--run-dir".into(),
        work.join("runs").display().to_string(),
        "--output".into(),
        work.join("output").display().to_string(),
        "--json".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(RSYNC, &all, "", server, &[])
}

async fn sorted_keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut found = keys(client, bucket).await;
    found.sort();
    found
}

/// Source `logs/` holds a, b, sub/c; destination `mirror/` holds a (same), old1,
/// sub/old2 (gone at the source), and `keep/x` and `mirrored` outside the prefix.
async fn buckets(server: &S3Server, tag: &str) -> (aws_sdk_s3::Client, String, String) {
    let (client, src, dst) = fresh_buckets(server, tag).await;
    for key in ["logs/a", "logs/b", "logs/sub/c"] {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, 100)).await;
    }
    // An object outside the source prefix: not the source of anything.
    fixtures::put_object(&client, &src, "other/old1", b"o".to_vec()).await;
    fixtures::put_object(
        &client,
        &dst,
        "mirror/a",
        fixtures::fixture_bytes("logs/a", 100),
    )
    .await;
    for key in ["mirror/old1", "mirror/sub/old2", "keep/x", "mirrored"] {
        fixtures::put_object(&client, &dst, key, b"dst only".to_vec()).await;
    }
    (client, src, dst)
}

const BEFORE: [&str; 5] = [
    "keep/x",
    "mirror/a",
    "mirror/old1",
    "mirror/sub/old2",
    "mirrored",
];

#[tokio::test(flavor = "multi_thread")]
async fn delete_removes_exactly_the_keys_the_source_lacks_within_the_prefix() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = buckets(server, "delete").await;
    let work = tempfile::tempdir().expect("work dir");
    let (source, target) = (format!("s3://{src}/logs/"), format!("s3://{dst}/mirror/"));
    let ran = rsync_at(
        server,
        &server.endpoint,
        work.path(),
        &[&source, &target, "--delete"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        sorted_keys(&client, &dst).await,
        ["keep/x", "mirror/a", "mirror/b", "mirror/sub/c", "mirrored"]
    );
    let summary = summary(&ran);
    assert_eq!(summary["deleted"]["objects"], 2, "{summary}");
    // --delete implies --diff: a was there already, b and sub/c copied.
    assert_eq!(summary["objects"], 2, "{summary}");
    let report = summary["deleted"]["report"].as_str().expect("report path");
    assert!(report.ends_with("/_deleted.jsonl"), "{report}");
    let listed: Vec<serde_json::Value> = std::fs::read_to_string(report)
        .expect("deleted report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let deleted: Vec<&str> = listed.iter().filter_map(|l| l["key"].as_str()).collect();
    assert_eq!(deleted, ["mirror/old1", "mirror/sub/old2"]);
    assert_eq!(listed[0]["deleted"], format!("s3://{dst}/mirror/old1"));

    // A second run finds nothing to delete.
    let again = rsync_at(
        server,
        &server.endpoint,
        work.path(),
        &[&source, &target, "--delete"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(crate::common::summary(&again)["deleted"]["objects"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_delete_refuses_and_deletes_nothing_when_exceeded() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = buckets(server, "maxdel").await;
    let work = tempfile::tempdir().expect("work dir");
    let (source, target) = (format!("s3://{src}/logs/"), format!("s3://{dst}/mirror/"));
    // 2 deletions: 1 is too few. The refused run still copied b and sub/c, so the
    // destination listing then finds 5 objects: 39% of them (1.95, rounded down to 1)
    // is too few as well.
    for max in ["1", "39%"] {
        let ran = rsync_at(
            server,
            &server.endpoint,
            work.path(),
            &[&source, &target, "--delete", "--max-delete", max],
        );
        assert_eq!(ran.code, 1, "{max}: {}\n{}", ran.stdout, ran.stderr);
        assert!(
            ran.stderr.contains("would delete 2 keys")
                && ran.stderr.contains(&format!("--max-delete {max}"))
                && ran.stderr.contains("nothing was deleted"),
            "{}",
            ran.stderr
        );
        let keys = sorted_keys(&client, &dst).await;
        for kept in ["mirror/old1", "mirror/sub/old2", "keep/x", "mirrored"] {
            assert!(keys.contains(&kept.to_string()), "{max}: {keys:?}");
        }
    }
    // Within the limit (40% of 5: 2): deleted.
    let ran = rsync_at(
        server,
        &server.endpoint,
        work.path(),
        &[&source, &target, "--delete", "--max-delete", "40%"],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(summary(&ran)["deleted"]["objects"], 2);
    assert!(
        !sorted_keys(&client, &dst)
            .await
            .contains(&"mirror/old1".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_lists_the_deletes_and_deletes_nothing() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = buckets(server, "deldry").await;
    let work = tempfile::tempdir().expect("work dir");
    let (source, target) = (format!("s3://{src}/logs/"), format!("s3://{dst}/mirror/"));
    let mut args = vec![
        "--src-endpoint".to_string(),
        server.endpoint.clone(),
        "--dst-endpoint".into(),
        server.endpoint.clone(),
        "--run-dir".into(),
        work.path().join("runs").display().to_string(),
        "--output".into(),
        work.path().join("output").display().to_string(),
    ];
    args.extend([source, target, "--delete".into(), "--dry-run".into()].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = run(RSYNC, &args, "", server, &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let deletes: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.contains("delete:"))
        .collect();
    assert_eq!(
        deletes,
        [
            format!("(dryrun) delete: s3://{dst}/mirror/old1"),
            format!("(dryrun) delete: s3://{dst}/mirror/sub/old2"),
        ]
    );
    assert_eq!(
        ran.stdout.lines().filter(|l| l.contains("copy:")).count(),
        2,
        "{}",
        ran.stdout
    );
    assert!(ran.stderr.contains("2 objects (--delete"), "{}", ran.stderr);
    assert!(ran.stderr.contains("DeleteObjects 1"), "{}", ran.stderr);
    assert_eq!(sorted_keys(&client, &dst).await, BEFORE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_copy_fails_deletes_nothing() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = buckets(server, "delfail").await;
    // Every PutObject into the destination is refused: the copies fail.
    let deny: &'static str = Box::leak(format!("/{dst}/mirror/").into_boxed_str());
    let proxy = FaultProxy::start(
        &server.endpoint,
        FaultPlan {
            deny: Some(("PUT", deny)),
            ..FaultPlan::none()
        },
    )
    .await
    .expect("proxy");
    let work = tempfile::tempdir().expect("work dir");
    let (source, target) = (format!("s3://{src}/logs/"), format!("s3://{dst}/mirror/"));
    let ran = rsync_at(
        server,
        &proxy.endpoint(),
        work.path(),
        &[&source, &target, "--delete"],
    );
    assert_ne!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(sorted_keys(&client, &dst).await, BEFORE);
}

#[test]
fn delete_is_refused_where_it_cannot_delete_safely() {
    let server = campanile_testkit::s3();
    let work = tempfile::tempdir().expect("work dir");
    for (extra, says) in [
        (&["--list-only"][..], "--list-only"),
        (&["--no-check-part-file"][..], "--no-check-part-file"),
    ] {
        let mut args = vec!["s3://a/p/", "s3://b/q/", "--delete"];
        args.extend_from_slice(extra);
        let ran = rsync_at(server, &server.endpoint, work.path(), &args);
        assert_eq!(ran.code, 2, "{extra:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(says) && ran.stderr.contains("whole source prefix"),
            "{extra:?}: {}",
            ran.stderr
        );
    }
    // --max-delete needs --delete, and a count or a percentage.
    for args in [
        &["s3://a/p/", "s3://b/q/", "--max-delete", "3"][..],
        &["s3://a/p/", "s3://b/q/", "--delete", "--max-delete", "lots"][..],
    ] {
        let ran = rsync_at(server, &server.endpoint, work.path(), args);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_1000_deletions_go_in_batches_of_1000() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "delbatch").await;
    fixtures::put_object(&client, &src, "k/keep", b"k".to_vec()).await;
    let mut puts = tokio::task::JoinSet::new();
    for i in 0..1001 {
        let (client, dst) = (client.clone(), dst.clone());
        puts.spawn(async move {
            fixtures::put_object(&client, &dst, &format!("k/old{i:04}"), b"o".to_vec()).await
        });
    }
    while let Some(done) = puts.join_next().await {
        done.expect("put");
    }
    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
        .await
        .expect("proxy");
    let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    proxy.set_hook(std::sync::Arc::new({
        let batches = batches.clone();
        move |exchange: &campanile_testkit::faults::Exchange| {
            if exchange.method == "POST"
                && exchange.target.contains("delete")
                && let Ok(mut seen) = batches.lock()
            {
                seen.push(exchange.status);
            }
        }
    }));
    let work = tempfile::tempdir().expect("work dir");
    let ran = rsync_at(
        server,
        &proxy.endpoint(),
        work.path(),
        &[
            &format!("s3://{src}/k/"),
            &format!("s3://{dst}/k/"),
            "--delete",
        ],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(summary(&ran)["deleted"]["objects"], 1001);
    assert_eq!(sorted_keys(&client, &dst).await, ["k/keep"]);
    let seen = batches.lock().map(|b| b.clone()).unwrap_or_default();
    assert_eq!(seen, [200, 200], "two DeleteObjects: 1000 keys, then 1");
}

/// rsync on the local runner, without --json (the dry run's lines), as [`rsync_at`].
fn rsync_lines(server: &S3Server, work: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        "--src-endpoint".into(),
        server.endpoint.clone(),
        "--dst-endpoint".into(),
        server.endpoint.clone(),
        "--run-dir".into(),
        work.join("runs").display().to_string(),
        "--output".into(),
        work.join("output").display().to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(RSYNC, &all, "", server, &[])
}

fn dry_run_deletes(ran: &Run) -> Vec<String> {
    ran.stdout
        .lines()
        .filter(|l| l.contains("delete:"))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_key_the_key_rules_exclude_is_never_deleted() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "delrules").await;
    for key in ["logs/a.log", "logs/b.gz", "logs/c.tmp"] {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, 50)).await;
    }
    // Gone at the source: old.log, old.gz (within the rules), x.tmp and sub/y.tmp
    // (excluded: the run does not own them, whatever the source holds).
    for key in [
        "mirror/old.log",
        "mirror/old.gz",
        "mirror/x.tmp",
        "mirror/sub/y.tmp",
    ] {
        fixtures::put_object(&client, &dst, key, b"dst only".to_vec()).await;
    }
    let work = tempfile::tempdir().expect("work dir");
    let (source, target) = (format!("s3://{src}/logs/"), format!("s3://{dst}/mirror/"));
    let args = [source.as_str(), &target, "--delete", "--exclude", "**.tmp"];
    let dry = rsync_lines(server, work.path(), &[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert_eq!(
        dry_run_deletes(&dry),
        [
            format!("(dryrun) delete: s3://{dst}/mirror/old.gz"),
            format!("(dryrun) delete: s3://{dst}/mirror/old.log"),
        ]
    );
    let ran = rsync_at(server, &server.endpoint, work.path(), &args);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        sorted_keys(&client, &dst).await,
        [
            "mirror/a.log",
            "mirror/b.gz",
            "mirror/sub/y.tmp",
            "mirror/x.tmp"
        ]
    );
    assert_eq!(summary(&ran)["deleted"]["objects"], 2);

    // Only includes: every key no rule matches is excluded, so it stays too.
    fixtures::put_object(&client, &dst, "mirror/old2.log", b"dst only".to_vec()).await;
    fixtures::put_object(&client, &dst, "mirror/old2.gz", b"dst only".to_vec()).await;
    let ran = rsync_at(
        server,
        &server.endpoint,
        work.path(),
        &[&source, &target, "--delete", "--include", "*.log"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        sorted_keys(&client, &dst).await,
        [
            "mirror/a.log",
            "mirror/b.gz",
            "mirror/old2.gz",
            "mirror/sub/y.tmp",
            "mirror/x.tmp"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_the_size_or_date_filters_leave_out_is_still_at_the_source_and_stays() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "delbounds").await;
    fixtures::put_object(&client, &src, "logs/small", b"s".to_vec()).await;
    fixtures::put_object(
        &client,
        &src,
        "logs/big",
        fixtures::fixture_bytes("big", 200),
    )
    .await;
    // small was copied by an earlier run; gone is no longer at the source.
    fixtures::put_object(&client, &dst, "mirror/small", b"s".to_vec()).await;
    fixtures::put_object(&client, &dst, "mirror/gone", b"dst only".to_vec()).await;
    let work = tempfile::tempdir().expect("work dir");
    let (source, target) = (format!("s3://{src}/logs/"), format!("s3://{dst}/mirror/"));
    let args = [source.as_str(), &target, "--delete", "--min-size", "100"];
    let dry = rsync_lines(server, work.path(), &[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    assert_eq!(
        dry_run_deletes(&dry),
        [format!("(dryrun) delete: s3://{dst}/mirror/gone")]
    );
    let ran = rsync_at(server, &server.endpoint, work.path(), &args);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    // big copied, small (left out of the copy, still at the source) kept, gone deleted.
    assert_eq!(
        sorted_keys(&client, &dst).await,
        ["mirror/big", "mirror/small"]
    );
    let summary = summary(&ran);
    assert_eq!(summary["deleted"]["objects"], 1, "{summary}");
    assert_eq!(summary["objects"], 1, "{summary}");

    // A date filter that leaves every source key out: nothing is copied, and no copy
    // the source still has is deleted.
    fixtures::put_object(&client, &dst, "mirror/gone2", b"dst only".to_vec()).await;
    let ran = rsync_at(
        server,
        &server.endpoint,
        work.path(),
        &[&source, &target, "--delete", "--older-than", "1d"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        sorted_keys(&client, &dst).await,
        ["mirror/big", "mirror/small"]
    );
    assert_eq!(crate::common::summary(&ran)["objects"], 0);
}
