//! `campanile restore` and `sync --restored` on the local runner, end to end on moto
//! (Garage has no storage classes and no RestoreObject): a dry run lists the objects
//! that need a restore and requests nothing; a run requests exactly those (GLACIER and
//! DEEP_ARCHIVE without a restore), counts the restored and the not archived, leaves
//! STANDARD objects out; a second run requests nothing again; `sync --restored` copies
//! the restored objects, keeping their storage class, and reports the others.

use aws_sdk_s3::types::StorageClass;

use crate::common::*;
use campanile_testkit::S3Server;

/// `campanile restore|sync` with `args`, run and output directories under `work`,
/// `--json`, through the server's endpoint.
fn campanile(server: &S3Server, work: &std::path::Path, job: &str, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        job.into(),
        "--src-endpoint".into(),
        server.endpoint.clone(),
        "--run-dir".into(),
        work.join("runs").display().to_string(),
        "--output".into(),
        work.join("output").display().to_string(),
        "--json".into(),
    ];
    if job == "sync" {
        all.extend(["--dst-endpoint".into(), server.endpoint.clone()]);
    }
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(CAMPANILE, &all, "", server, &[])
}

async fn put_in(client: &aws_sdk_s3::Client, bucket: &str, key: &str, class: StorageClass) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .storage_class(class)
        .body(aws_sdk_s3::primitives::ByteStream::from(
            format!("bytes of {key}").into_bytes(),
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)));
}

async fn restore_header(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head")
        .restore()
        .map(str::to_string)
}

/// `cold/a` GLACIER, `cold/b` DEEP_ARCHIVE, `cold/done` GLACIER already restored,
/// `tiered/d` INTELLIGENT_TIERING in a tier a GET reads, `warm/c` STANDARD.
async fn archive(server: &S3Server, tag: &str) -> (aws_sdk_s3::Client, String, String) {
    let (client, src, dst) = fresh_buckets(server, tag).await;
    put_in(&client, &src, "cold/a", StorageClass::Glacier).await;
    put_in(&client, &src, "cold/b", StorageClass::DeepArchive).await;
    put_in(&client, &src, "cold/done", StorageClass::Glacier).await;
    put_in(&client, &src, "tiered/d", StorageClass::IntelligentTiering).await;
    put_in(&client, &src, "warm/c", StorageClass::Standard).await;
    client
        .restore_object()
        .bucket(&src)
        .key("cold/done")
        .restore_request(aws_sdk_s3::types::RestoreRequest::builder().days(1).build())
        .send()
        .await
        .expect("restore cold/done");
    (client, src, dst)
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_requests_exactly_the_archived_objects_that_need_it() {
    let server = campanile_testkit::moto();
    let (client, src, _) = archive(server, "restore").await;
    let work = tempfile::tempdir().expect("work dir");
    let location = format!("s3://{src}/");

    let dry = campanile(
        server,
        &work.path().join("dry"),
        "restore",
        &[&location, "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let mut would: Vec<String> = json_lines(&dry)
        .iter()
        .filter(|line| line["action"] == "restore")
        .map(|line| line["key"].as_str().expect("key").to_string())
        .collect();
    would.sort();
    assert_eq!(would, ["cold/a", "cold/b"], "{}", dry.stdout);
    let planned = summary(&dry);
    assert_eq!(planned["restore"]["requested"], 2, "{planned}");
    assert_eq!(planned["restore"]["restored"], 1, "{planned}");
    assert_eq!(planned["restore"]["not_archived"], 1, "{planned}");
    assert_eq!(
        planned["listed"]["filtered"], 1,
        "warm/c is no archive: {planned}"
    );
    for key in ["cold/a", "cold/b"] {
        assert_eq!(
            restore_header(&client, &src, key).await,
            None,
            "dry run asked for {key}"
        );
    }

    let ran = campanile(
        server,
        &work.path().join("real"),
        "restore",
        &[&location, "--tier", "Bulk", "--days", "3"],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let done = summary(&ran);
    assert_eq!(done["restore"]["requested"], 2, "{done}");
    assert_eq!(done["restore"]["restored"], 1, "{done}");
    assert_eq!(done["restore"]["not_archived"], 1, "{done}");
    for key in ["cold/a", "cold/b"] {
        let header = restore_header(&client, &src, key).await;
        assert!(
            header
                .as_deref()
                .is_some_and(|h| h.contains("ongoing-request")),
            "{key}: {header:?}"
        );
    }
    assert_eq!(restore_header(&client, &src, "warm/c").await, None);
    // The job output names each object's outcome.
    let output = run_paths(&ran)["output"]
        .as_str()
        .expect("output")
        .to_string();
    let mut rows: Vec<String> = campanile_testkit_rows(&output);
    rows.sort();
    assert_eq!(
        rows,
        [
            "cold/a requested",
            "cold/b requested",
            "cold/done restored",
            "tiered/d not-archived"
        ]
    );

    // Again: nothing is requested twice.
    let again = campanile(server, &work.path().join("again"), "restore", &[&location]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let twice = summary(&again);
    assert_eq!(twice["restore"]["requested"], 0, "{twice}");
    assert_eq!(
        twice["restore"]["in_progress"].as_u64().expect("count")
            + twice["restore"]["restored"].as_u64().expect("count"),
        3,
        "{twice}"
    );
}

/// The `key outcome` of every row of a local job output directory.
fn campanile_testkit_rows(dir: &str) -> Vec<String> {
    files_under(std::path::Path::new(dir))
        .into_iter()
        .filter(|(path, _)| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-"))
        })
        .flat_map(|(_, bytes)| {
            String::from_utf8(bytes)
                .expect("utf-8")
                .lines()
                .map(|line| {
                    let fields: Vec<&str> = line.split('\t').collect();
                    format!("{} {}", fields[0], fields[3])
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_restored_copies_the_restored_objects_and_reports_the_others() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = archive(server, "restored").await;
    let work = tempfile::tempdir().expect("work dir");
    let location = format!("s3://{src}/");
    let ran = campanile(
        server,
        &work.path().join("restore"),
        "restore",
        &[&location],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    // Archived after the restore: still to be restored when the copy runs.
    put_in(&client, &src, "cold/later", StorageClass::Glacier).await;

    let target = format!("s3://{dst}/");
    let copied = campanile(
        server,
        &work.path().join("sync"),
        "sync",
        &[&location, &target, "--restored"],
    );
    assert_eq!(
        copied.code, 3,
        "the unrestored object is reported:\n{}\n{}",
        copied.stdout, copied.stderr
    );
    let mut found = keys(&client, &dst).await;
    found.sort();
    assert_eq!(
        found,
        ["cold/a", "cold/b", "cold/done", "tiered/d"],
        "warm/c is filtered, cold/later not restored"
    );
    for (key, class) in [
        ("cold/a", StorageClass::Glacier),
        ("cold/b", StorageClass::DeepArchive),
        ("tiered/d", StorageClass::IntelligentTiering),
    ] {
        let head = client
            .head_object()
            .bucket(&dst)
            .key(key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.storage_class(),
            Some(&class),
            "{key} keeps its storage class"
        );
    }
    let said = summary(&copied);
    assert_eq!(said["skipped"]["archived"], 1, "{said}");
    let report =
        std::fs::read_to_string(said["paths"]["skip_report"].as_str().expect("skip report"))
            .expect("report");
    assert!(report.contains("cold/later"), "{report}");
    assert_eq!(report.lines().count(), 1, "{report}");
}
