//! `rsync` with the embedded local runner, end to end against Garage: the article's
//! bucket copied identically, `--diff` copying only what changed, S3 inputs and
//! outputs, and a failing step stopping the plan.

use std::io::Read;
use std::path::Path;

use crate::common::*;
use campanile_testkit::{S3Server, fixtures};

fn rsync_local(server: &S3Server, work: &Path, src: &str, dst: &str, extra: &[&str]) -> Run {
    let part_file = repo_root().join("var/input/srcbucket/part.all");
    rsync_local_at(
        server,
        &server.endpoint,
        work,
        &part_file,
        (src, dst),
        extra,
        &[],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_article_bucket_is_copied_by_the_local_runner() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("local-dst");
    server.create_bucket(&client, &dst).await;
    let work = tempfile::tempdir().expect("tempdir");
    let result = rsync_local(server, work.path(), src, &dst, &["--uuid", "first"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let lines = result.lines();
    assert_eq!(
        lines[0],
        format!("RunDir: {}", work.path().join("runs/first").display())
    );
    let output = work.path().join("output/part.all.first");
    assert_eq!(lines[1], format!("Output:{}", output.display()));
    let objects = fixtures::article_objects();
    for object in &objects {
        assert_same_object(&client, src, &dst, &object.key).await;
    }
    let reports = reports(&result);
    let total: u64 = objects.iter().map(|o| o.size).sum();
    assert_eq!(counter(&reports, "list.", src, "Objects"), 257);
    assert_eq!(
        counter(&reports, "list.", src, "Bytes"),
        i64::try_from(total).expect("fits")
    );
    assert_eq!(
        counter(&reports, "copy.", &dst, "InputBytes"),
        i64::try_from(total).expect("fits")
    );
    assert_eq!(counter(&reports, "copy.", &dst, "Objects"), 255);
    assert_eq!(counter(&reports, "copy.", &dst, "Uploads"), 2);
    // The part map: gzip, one line per part of the two multipart objects.
    assert!(output.join("_SUCCESS").exists());
    let mut part_map = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(output.join("part-00000.gz")).expect("part map"),
    )
    .read_to_string(&mut part_map)
    .expect("gunzip");
    assert_eq!(part_map.lines().count(), 6);
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_copies_only_missing_or_changed_objects() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "diff").await;
    let objects: Vec<fixtures::FixtureObject> = ["00", "0a", "1b", "fe", "ff"]
        .iter()
        .map(|key| fixtures::FixtureObject::whole(*key, 1000))
        .collect();
    fixtures::upload_all(&client, &src, &objects).await;
    let work = tempfile::tempdir().expect("tempdir");
    let first = rsync_local(
        server,
        work.path(),
        &src,
        &dst,
        &["--diff", "--uuid", "one"],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(counter(&reports(&first), "copy.", &dst, "Objects"), 5);

    let again = rsync_local(
        server,
        work.path(),
        &src,
        &dst,
        &["--diff", "--uuid", "two"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(counter(&reports(&again), "hive.", "Diff", "Same"), 5);
    assert_eq!(counter(&reports(&again), "copy.", &dst, "Objects"), 0);

    // The article's change: fe overwritten, fff created.
    fixtures::put_object(&client, &src, "fe", b"new content".to_vec()).await;
    fixtures::put_object(&client, &src, "fff", b"brand new".to_vec()).await;
    let third = rsync_local(
        server,
        work.path(),
        &src,
        &dst,
        &["--diff", "--uuid", "three"],
    );
    assert_eq!(third.code, 0, "{}", third.stderr);
    let reports = reports(&third);
    assert_eq!(counter(&reports, "hive.", "Diff", "Changed"), 1);
    assert_eq!(counter(&reports, "hive.", "Diff", "Missing"), 1);
    assert_eq!(counter(&reports, "copy.", &dst, "Objects"), 2);
    let diff = std::fs::read_to_string(work.path().join("runs/three/diff.list/part-00000"))
        .expect("diff output");
    let keys: Vec<&str> = diff
        .lines()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(keys, vec!["fe", "fff"]);
    for key in ["00", "0a", "1b", "fe", "ff", "fff"] {
        assert_same_object(&client, &src, &dst, key).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn part_file_and_part_map_can_live_in_s3() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("s3io-dst");
    let code = campanile_testkit::unique_bucket("s3io-code");
    server.create_bucket(&client, &dst).await;
    server.create_bucket(&client, &code).await;
    fixtures::put_object(
        &client,
        &code,
        "input/srcbucket/part.000",
        b",000/\n".to_vec(),
    )
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let args = [
        "--input".to_string(),
        format!("s3://{code}/input/srcbucket/part.000"),
        "--output".into(),
        format!("s3://{code}/output"),
        "--src-bucket".into(),
        src.to_string(),
        "--dst-bucket".into(),
        dst.clone(),
        "--src-endpoint".into(),
        server.endpoint.clone(),
        "--dst-endpoint".into(),
        server.endpoint.clone(),
        "--run-dir".into(),
        work.path().display().to_string(),
        "--uuid".into(),
        "s3io".into(),
        // The part file lists one directory of the bucket, on purpose.
        "--no-check-part-file".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = run(RSYNC, &args, "", server, &[]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        result.lines()[1],
        format!("Output:s3://{code}/output/part.000.s3io")
    );
    assert_eq!(keys(&client, &dst).await, vec!["000/00"]);
    let mut written = keys(&client, &code).await;
    written.sort();
    assert_eq!(
        written,
        vec![
            "input/srcbucket/part.000",
            "output/part.000.s3io/_SUCCESS",
            "output/part.000.s3io/part-00000.gz"
        ]
    );
    // The same output again is refused before anything runs.
    let again = run(RSYNC, &args, "", server, &[]);
    assert_eq!(again.code, 4, "{}", again.stderr);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_stops_the_plan_and_says_why() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let work = tempfile::tempdir().expect("tempdir");
    // The destination does not exist: multipartlist cannot create the uploads.
    let result = rsync_local(
        server,
        work.path(),
        src,
        "no-such-destination-bucket",
        &["--uuid", "fails"],
    );
    assert_eq!(result.code, 1, "{}", result.stderr);
    let stderr = &result.stderr;
    assert!(stderr.contains("step mlist."), "{stderr}");
    assert!(stderr.contains("failed 4 attempt(s)"), "{stderr}");
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");
    assert!(
        stderr.contains("steps not run (CANCEL_AND_WAIT): copy."),
        "{stderr}"
    );
    assert!(!work.path().join("output/part.all.fails").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_copy_through_the_local_runner_keeps_every_etag() {
    let server = campanile_testkit::s3();
    let src = article_bucket().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket("local-server-side");
    server.create_bucket(&client, &dst).await;
    let work = tempfile::tempdir().expect("tempdir");
    let result = rsync_local(server, work.path(), src, &dst, &["--server-side-copy"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let reports = reports(&result);
    assert_eq!(counter(&reports, "copy.", &dst, "Objects"), 255);
    assert_eq!(counter(&reports, "copy.", &dst, "Uploads"), 2);
    for object in &fixtures::article_objects() {
        assert_same_object(&client, src, &dst, &object.key).await;
    }
}
