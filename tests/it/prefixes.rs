//! rsync with locations and filters, end to end on Garage: `rsync s3://a/p/ s3://b/q/`
//! copies exactly the keys under the source prefix to mapped keys (multipart ETags
//! kept), `--diff` compares mapped keys, the filters select exactly the keys they
//! should and count the others `Filtered`, and bad values are usage errors (exit 2).

use crate::common::*;
use campanile_testkit::{S3Server, fixtures};

const MIB: usize = 1024 * 1024;

/// rsync on the local runner with the server's endpoints, run and output directories
/// under `work`, `--json`, and `args` (locations, filters, …).
fn rsync_at(server: &S3Server, work: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        "--src-endpoint".into(),
        server.endpoint.clone(),
        "--dst-endpoint".into(),
        server.endpoint.clone(),
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

/// Keys of a bucket, sorted.
async fn sorted_keys(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut found = keys(client, bucket).await;
    found.sort();
    found
}

/// HEAD's ETag of an object.
async fn etag(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("HEAD s3://{bucket}/{key}: {e:?}"))
        .e_tag()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prefix_is_copied_to_another_prefix_and_nothing_else() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "prefix").await;
    let small = [
        ("logs/2025/a.gz", 1000),
        ("logs/2025/sub/b.txt", 2000),
        ("logs/2024/c.gz", 300),
        ("logs/2025-old/d.gz", 400),
        ("other/e", 10),
        ("logs/2025", 5),
    ];
    for (key, size) in small {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, size)).await;
    }
    let big = "logs/2025/big.bin";
    let data = fixtures::fixture_bytes(big, (11 * MIB) as u64);
    let big_etag =
        fixtures::put_multipart(&client, &src, big, &data, &[5 << 20, 5 << 20, 1 << 20]).await;
    assert!(big_etag.ends_with("-3"), "{big_etag}");
    // Something already at the destination, outside the destination prefix: kept.
    fixtures::put_object(&client, &dst, "keep/me", b"x".to_vec()).await;

    let work = tempfile::tempdir().expect("work dir");
    let source = format!("s3://{src}/logs/2025/");
    let target = format!("s3://{dst}/archive/2025/");
    // A dry run names the source keys and their mapped destinations, filters applied.
    let dry = rsync_at(
        server,
        work.path(),
        &[&source, &target, "--dry-run", "--include", "*.gz"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let planned: Vec<(String, String)> = json_lines(&dry)
        .iter()
        .filter(|line| line.get("dryrun").is_some())
        .map(|line| {
            (
                line["source"].as_str().unwrap_or_default().to_string(),
                line["destination"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        planned,
        [(
            format!("s3://{src}/logs/2025/a.gz"),
            format!("s3://{dst}/archive/2025/a.gz")
        )],
        "{}",
        dry.stdout
    );
    assert_eq!(sorted_keys(&client, &dst).await, ["keep/me"]);
    let work = tempfile::tempdir().expect("work dir");
    let copied = rsync_at(server, work.path(), &[&source, &target]);
    assert_eq!(copied.code, 0, "{}\n{}", copied.stdout, copied.stderr);
    assert_eq!(
        sorted_keys(&client, &dst).await,
        [
            "archive/2025/a.gz",
            "archive/2025/big.bin",
            "archive/2025/sub/b.txt",
            "keep/me"
        ]
    );
    for (from, to) in [
        ("logs/2025/a.gz", "archive/2025/a.gz"),
        ("logs/2025/sub/b.txt", "archive/2025/sub/b.txt"),
        (big, "archive/2025/big.bin"),
    ] {
        assert_eq!(
            etag(&client, &src, from).await,
            etag(&client, &dst, to).await,
            "{from}"
        );
        assert_eq!(
            body(&client, &src, from).await,
            body(&client, &dst, to).await,
            "{from}"
        );
    }
    assert_eq!(
        etag(&client, &dst, "archive/2025/big.bin").await,
        format!("\"{big_etag}\"")
    );
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    let reports = reports(&copied);
    // The part file made covers the prefix alone: its three keys.
    let part_file = reports
        .iter()
        .find_map(|line| line.get("part_file"))
        .expect("part_file line");
    assert_eq!(part_file["estimated_keys"], 3.0, "{part_file}");
    assert_eq!(part_file["exact"], true, "{part_file}");
    assert_eq!(counter(&reports, "list.", &src, "Objects"), 3);
    assert_eq!(
        counter(&reports, "list.", &src, "Filtered"),
        0,
        "keys outside the prefix are not filtered, just not listed"
    );

    // One source object changes: a --diff run copies that one only, to its mapped key.
    let changed = b"changed".to_vec();
    fixtures::put_object(&client, &src, "logs/2025/a.gz", changed.clone()).await;
    let work = tempfile::tempdir().expect("work dir");
    let again = rsync_at(server, work.path(), &[&source, &target, "--diff"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let reports = crate::common::reports(&again);
    assert_eq!(
        counter(&reports, "copy.", &dst, "Objects"),
        1,
        "{}",
        again.stdout
    );
    assert_eq!(counter(&reports, "copy.", &dst, "Parts"), 0);
    assert_eq!(counter(&reports, "mlist.", &dst, "Uploads"), 0);
    assert_eq!(body(&client, &dst, "archive/2025/a.gz").await, changed);
    assert_eq!(
        sorted_keys(&client, &dst).await,
        [
            "archive/2025/a.gz",
            "archive/2025/big.bin",
            "archive/2025/sub/b.txt",
            "keep/me"
        ]
    );

    // Bare bucket names and the article's flags still copy a whole bucket.
    let (_, whole, _) = fresh_buckets(server, "bare").await;
    let work = tempfile::tempdir().expect("work dir");
    let bare = rsync_at(
        server,
        work.path(),
        &["--src-bucket", &dst, "--dst-bucket", &whole],
    );
    assert_eq!(bare.code, 0, "{}\n{}", bare.stdout, bare.stderr);
    assert_eq!(
        sorted_keys(&client, &whole).await,
        sorted_keys(&client, &dst).await
    );
    let (_, positional, _) = fresh_buckets(server, "bare").await;
    let work = tempfile::tempdir().expect("work dir");
    let bare = rsync_at(server, work.path(), &[&src, &positional]);
    assert_eq!(bare.code, 0, "{}\n{}", bare.stdout, bare.stderr);
    assert_eq!(
        sorted_keys(&client, &positional).await,
        sorted_keys(&client, &src).await
    );
}

/// The filter tests' source: `data/…` keys of known sizes, and one key outside.
const FILTERED_KEYS: [(&str, u64); 7] = [
    ("data/a.gz", 100),
    ("data/b.txt", 2000),
    ("data/tmp/c.gz", 300),
    ("data/x/y/d.gz", 5000),
    ("data/x/e.log", 10),
    ("data/x/a.gz", 700),
    ("top.gz", 50),
];

/// Runs rsync from `s3://<src>/data/` to a new destination bucket's root with
/// `filters`; returns the keys copied and the source listing's `Filtered` counter.
async fn copied_with(
    server: &S3Server,
    client: &aws_sdk_s3::Client,
    src: &str,
    filters: &[&str],
) -> (Vec<String>, i64) {
    let (_, _, dst) = fresh_buckets(server, "filtered").await;
    let work = tempfile::tempdir().expect("work dir");
    let source = format!("s3://{src}/data/");
    let target = format!("s3://{dst}");
    let mut args = vec![source.as_str(), target.as_str()];
    args.extend(filters);
    let result = rsync_at(server, work.path(), &args);
    assert_eq!(
        result.code, 0,
        "{filters:?}\n{}\n{}",
        result.stdout, result.stderr
    );
    let filtered = counter(&reports(&result), "list.", src, "Filtered");
    // The summary says it too, apart from the skips (none here).
    let summary = summary(&result);
    assert_eq!(summary["listed"]["filtered"], filtered, "{summary}");
    assert_eq!(
        summary["objects"], summary["listed"]["objects"],
        "{summary}"
    );
    (sorted_keys(client, &dst).await, filtered)
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_select_exactly_the_keys_they_name() {
    let server = campanile_testkit::s3();
    let (client, src, _) = fresh_buckets(server, "filters").await;
    for (key, size) in FILTERED_KEYS {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, size)).await;
    }
    let under_prefix = FILTERED_KEYS.len() as i64 - 1;
    let cases: [(&[&str], &[&str]); 7] = [
        // First match decides; the catch-all leaves out what no rule names.
        (
            &[
                "--exclude",
                "tmp/**",
                "--include",
                "*.gz",
                "--exclude",
                "**",
            ],
            &["a.gz", "x/a.gz", "x/y/d.gz"],
        ),
        // Includes only: what they do not match is left out.
        (
            &["--include", "*.gz"],
            &["a.gz", "tmp/c.gz", "x/a.gz", "x/y/d.gz"],
        ),
        // Anchored at the source prefix: x/a.gz is not /a.gz.
        (&["--include", "/a.gz"], &["a.gz"]),
        // ** crosses segments, * does not.
        (&["--include", "/x/**/*.gz"], &["x/a.gz", "x/y/d.gz"]),
        (&["--include", "/x/*.gz"], &["x/a.gz"]),
        // The include comes first, so tmp/c.gz stays; unmatched keys are kept.
        (
            &[
                "--include",
                "*.gz",
                "--exclude",
                "tmp/**",
                "--exclude",
                "*.txt",
            ],
            &["a.gz", "tmp/c.gz", "x/a.gz", "x/e.log", "x/y/d.gz"],
        ),
        // Sizes, both bounds included; K is 1024.
        (
            &["--min-size", "700", "--max-size", "2000"],
            &["b.txt", "x/a.gz"],
        ),
    ];
    for (filters, expected) in cases {
        let (copied, filtered) = copied_with(server, &client, &src, filters).await;
        assert_eq!(copied, expected, "{filters:?}");
        assert_eq!(
            filtered,
            under_prefix - expected.len() as i64,
            "{filters:?}: every key left out is counted"
        );
    }
    // `campanile sync` keeps the rules' order too (a subcommand's matches).
    let (_, _, dst) = fresh_buckets(server, "sync").await;
    let work = tempfile::tempdir().expect("work dir");
    let runs = work.path().join("runs").display().to_string();
    let output = work.path().join("output").display().to_string();
    let (source, target) = (format!("s3://{src}/data/"), format!("s3://{dst}"));
    let synced = run(
        CAMPANILE,
        &[
            "sync",
            &source,
            &target,
            "--src-endpoint",
            &server.endpoint,
            "--dst-endpoint",
            &server.endpoint,
            "--run-dir",
            &runs,
            "--output",
            &output,
            "--exclude",
            "tmp/**",
            "--include",
            "*.gz",
            "--exclude",
            "**",
        ],
        "",
        server,
        &[],
    );
    assert_eq!(synced.code, 0, "{}", synced.stderr);
    assert_eq!(
        sorted_keys(&client, &dst).await,
        ["a.gz", "x/a.gz", "x/y/d.gz"]
    );
    let (copied, filtered) = copied_with(server, &client, &src, &["--max-size", "1K"]).await;
    assert_eq!(copied, ["a.gz", "tmp/c.gz", "x/a.gz", "x/e.log"]);
    assert_eq!(filtered, 2);
    // Everything was written within the hour: all newer, none older (exit 0 all the
    // same, every key filtered).
    let (copied, filtered) = copied_with(server, &client, &src, &["--newer-than", "1h"]).await;
    assert_eq!(copied.len(), 6);
    assert_eq!(filtered, 0);
    let (copied, filtered) = copied_with(server, &client, &src, &["--older-than", "1h"]).await;
    assert!(copied.is_empty(), "{copied:?}");
    assert_eq!(filtered, under_prefix);
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_split_the_objects_at_the_time_given() {
    let server = campanile_testkit::s3();
    let (client, src, _) = fresh_buckets(server, "dates").await;
    for key in ["data/old1", "data/old2"] {
        fixtures::put_object(&client, &src, key, b"old".to_vec()).await;
    }
    // A whole second between the two batches and the time between them: S3 times are
    // whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let split = campanile::select::Timestamp::now().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for key in ["data/new1", "data/new2", "data/new3"] {
        fixtures::put_object(&client, &src, key, b"new".to_vec()).await;
    }
    let (copied, filtered) = copied_with(server, &client, &src, &["--newer-than", &split]).await;
    assert_eq!(copied, ["new1", "new2", "new3"], "{split}");
    assert_eq!(filtered, 2);
    let (copied, filtered) = copied_with(server, &client, &src, &["--older-than", &split]).await;
    assert_eq!(copied, ["old1", "old2"], "{split}");
    assert_eq!(filtered, 3);
}

#[test]
fn a_side_given_twice_and_bad_filters_are_usage_errors() {
    let server = campanile_testkit::s3();
    let work = tempfile::tempdir().expect("work dir");
    let twice = rsync_at(
        server,
        work.path(),
        &[
            "s3://srcbucket/a/",
            "s3://dstbucket/",
            "--src-bucket",
            "srcbucket",
        ],
    );
    assert_eq!(twice.code, 2, "{}", twice.stderr);
    assert!(twice.stderr.contains("--src-bucket"), "{}", twice.stderr);
    for (flag, value) in [
        ("--include", "[abc"),
        ("--exclude", "{a,b"),
        ("--min-size", "12Q"),
        ("--max-size", "1.2.3"),
        ("--newer-than", "yesterday"),
        ("--older-than", "2025-02-30T00:00:00Z"),
    ] {
        let result = rsync_at(
            server,
            work.path(),
            &["s3://srcbucket/a/", "s3://dstbucket/", flag, value],
        );
        assert_eq!(result.code, 2, "{flag} {value}: {}", result.stderr);
        assert!(
            result.stderr.contains(flag) && result.stderr.contains(value),
            "{flag} {value}: {}",
            result.stderr
        );
    }
    for bad in ["srcbucket/a", "s3://"] {
        let result = rsync_at(server, work.path(), &[bad, "dstbucket"]);
        assert_eq!(result.code, 2, "{bad}: {}", result.stderr);
        assert!(result.stderr.contains(bad), "{}", result.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_given_part_file_is_checked_only_under_the_source_prefix() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "checked").await;
    for key in ["in/a", "in/b/c", "out/d", "zzz"] {
        fixtures::put_object(&client, &src, key, key.as_bytes().to_vec()).await;
    }
    let work = tempfile::tempdir().expect("work dir");
    let source = format!("s3://{src}/in/");
    let target = format!("s3://{dst}/copied/");
    // A part file of the prefix alone leaves out out/d and zzz: not the run's keys.
    let part_file = work.path().join("part.in");
    std::fs::write(&part_file, ",in/\n").expect("part file");
    let input = part_file.display().to_string();
    let copied = rsync_at(server, work.path(), &[&source, &target, "--input", &input]);
    assert_eq!(copied.code, 0, "{}\n{}", copied.stdout, copied.stderr);
    assert_eq!(sorted_keys(&client, &dst).await, ["copied/a", "copied/b/c"]);
    // One that leaves out a key under the prefix is refused, naming it.
    let partial = work.path().join("part.partial");
    std::fs::write(&partial, ",in/a\n").expect("part file");
    let input = partial.display().to_string();
    let refused = rsync_at(server, work.path(), &[&source, &target, "--input", &input]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("in/b/c"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("zzz"), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tasks_write_resume_and_complete_at_the_mapped_keys() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "tasks").await;
    fixtures::put_object(&client, &src, "p/whole", fixtures::fixture_bytes("w", 1000)).await;
    let data = fixtures::fixture_bytes("m", (11 * MIB) as u64);
    fixtures::put_multipart(
        &client,
        &src,
        "p/multi",
        &data,
        &[5 << 20, 5 << 20, 1 << 20],
    )
    .await;
    fixtures::put_object(&client, &src, "elsewhere", b"x".to_vec()).await;
    let listing = stage(
        BUCKETLIST,
        &[
            "--bucket",
            &src,
            "--endpoint",
            &server.endpoint,
            "--prefix",
            "p/",
        ]
        .map(String::from),
        ",\n",
        server,
    );
    assert_eq!(listing.lines().len(), 2, "{}", listing.stdout);
    let mut args = src_dst_args(server, &src, &dst);
    args.extend(["--src-prefix", "p/", "--dst-prefix", "q/"].map(String::from));
    let parts = stage(MULTIPARTLIST, &args, &listing.stdout, server);
    let copied = stage(OBJECTCOPY, &args, &parts.stdout, server);
    assert_eq!(copied.counter(&dst, "Parts"), 3, "{}", copied.stderr);
    assert!(
        copied.lines().iter().all(|l| l.starts_with("p/multi\t")),
        "part lines keep the source key: {}",
        copied.stdout
    );
    assert_eq!(sorted_keys(&client, &dst).await, ["q/whole"]);
    // A retried attempt finds the whole object (HEAD) and the parts (ListParts) at the
    // mapped keys.
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let retried = run(
        OBJECTCOPY,
        &argv,
        &parts.stdout,
        server,
        &[
            (
                "mapreduce_task_attempt_id",
                "attempt_1700000000000_0001_m_000000_1",
            ),
            ("CAMPANILE_ATTEMPT_PAUSE_MAX", "0.01"),
        ],
    );
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert_eq!(
        retried.counter(&dst, "AlreadyCopied"),
        4,
        "{}",
        retried.stderr
    );
    let mut complete_args: Vec<String> = ["--bucket", &dst, "--endpoint", &server.endpoint]
        .map(String::from)
        .to_vec();
    complete_args.extend(["--src-prefix", "p/", "--dst-prefix", "q/"].map(String::from));
    let complete = stage(MULTIPARTCOMPLETE, &complete_args, &retried.stdout, server);
    assert_eq!(complete.counter(&dst, "Uploads"), 1, "{}", complete.stderr);
    assert_eq!(sorted_keys(&client, &dst).await, ["q/multi", "q/whole"]);
    for (from, to) in [("p/whole", "q/whole"), ("p/multi", "q/multi")] {
        assert_eq!(
            etag(&client, &src, from).await,
            etag(&client, &dst, to).await
        );
        assert_eq!(
            body(&client, &src, from).await,
            body(&client, &dst, to).await
        );
    }
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);

    // The server-side copies (CopyObject, UploadPartCopy) too.
    let (_, _, inside) = fresh_buckets(server, "inside").await;
    let work = tempfile::tempdir().expect("work dir");
    let source = format!("s3://{src}/p/");
    let target = format!("s3://{inside}/r/");
    let result = rsync_at(
        server,
        work.path(),
        &[&source, &target, "--server-side-copy"],
    );
    assert_eq!(result.code, 0, "{}\n{}", result.stdout, result.stderr);
    assert_eq!(sorted_keys(&client, &inside).await, ["r/multi", "r/whole"]);
    for (from, to) in [("p/whole", "r/whole"), ("p/multi", "r/multi")] {
        assert_eq!(
            etag(&client, &src, from).await,
            etag(&client, &inside, to).await
        );
    }
    assert_eq!(uploads_in_progress(&client, &inside).await, 0);
}
