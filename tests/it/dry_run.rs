//! A local `rsync --dry-run`: it lists both sides for real and prints the objects a
//! real run then copies (no more, no fewer), writes nothing to either bucket (no
//! object, no multipart upload in progress), and its estimate of the write requests
//! is what the real run's summary then counts.

use std::collections::BTreeSet;

use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

const MIB: u64 = 1024 * 1024;

/// Two whole objects, a multipart one of 2 parts and one of 3.
fn objects() -> Vec<FixtureObject> {
    vec![
        FixtureObject::whole("a", 1000),
        FixtureObject::whole("dir/b", 2000),
        FixtureObject::multipart("multi", 6 * MIB, 5 * MIB),
        FixtureObject::multipart("three/parts", 11 * MIB, 5 * MIB),
    ]
}

/// The `{"dry_run":{…}}` line of a `--json` dry run.
fn dry_run_summary(run: &Run) -> serde_json::Value {
    let mut found: Vec<serde_json::Value> = json_lines(run)
        .into_iter()
        .filter_map(|mut line| line.get_mut("dry_run").map(serde_json::Value::take))
        .collect();
    assert_eq!(found.len(), 1, "one dry_run line:\n{}", run.stdout);
    found.remove(0)
}

/// The keys of the `{"dryrun":"copy",…}` lines.
fn copied_keys(run: &Run) -> BTreeSet<String> {
    json_lines(run)
        .iter()
        .filter(|line| line["dryrun"] == "copy")
        .map(|line| line["key"].as_str().expect("key").to_string())
        .collect()
}

/// The dry run's human summary on stderr: from `dry run:` on, while indented.
fn human_dry_run(stderr: &str) -> String {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with("dry run: "));
    let Some(first) = lines.next() else {
        panic!("no dry-run summary on stderr:\n{stderr}");
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .map(|line| {
            let name = line.trim_start();
            // Wall time, and the requests made (a retried request counts twice).
            for label in ["elapsed", "requests made", "cost"] {
                if name.starts_with(&format!("{label} ")) {
                    let at = line.len() - name.len() + label.len();
                    let rest = &line[at..];
                    let value = at + rest.len() - rest.trim_start().len();
                    return format!("{}[{label}]\n", &line[..value]);
                }
            }
            format!("{line}\n")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_lists_what_the_real_run_copies_and_writes_nothing() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "dryrun").await;
    let objects = objects();
    fixtures::upload_all(&client, &src, &objects).await;
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let start = |extra: &'static [&'static str]| {
        let (endpoint, dir, part_file) = (
            server.endpoint.clone(),
            work.path().to_path_buf(),
            part_file.clone(),
        );
        let (s, d) = (src.clone(), dst.clone());
        tokio::task::spawn_blocking(move || {
            rsync_local_at(server, &endpoint, &dir, &part_file, (&s, &d), extra, &[])
        })
    };
    let dry = start(&["--uuid", "dry", "--dry-run", "--no-server-side-copy"])
        .await
        .expect("rsync thread");
    assert_eq!(dry.code, 0, "{}", dry.stderr);

    // Nothing written: no object, no upload in progress.
    assert!(keys(&client, &dst).await.is_empty());
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    assert!(keys(&client, &src).await.len() == objects.len());

    // Every stdout line is JSON: the paths, the plan, the step reports, the objects
    // and the summary; each object line names its source and destination.
    let lines = json_lines(&dry);
    assert_eq!(
        lines[0]["run_dir"],
        work.path().join("runs/dry").display().to_string()
    );
    let expected: BTreeSet<String> = objects.iter().map(|o| o.key.clone()).collect();
    assert_eq!(copied_keys(&dry), expected);
    for line in lines.iter().filter(|l| l["dryrun"] == "copy") {
        let key = line["key"].as_str().expect("key");
        let object = objects.iter().find(|o| o.key == key).expect("fixture");
        assert_eq!(line["size"], object.size, "{line}");
        assert_eq!(line["etag"], expected_etag(object), "{line}");
        assert_eq!(line["source"], format!("s3://{src}/{key}"));
        assert_eq!(line["destination"], format!("s3://{dst}/{key}"));
        let parts = object.part_size.map_or(0, |p| object.size.div_ceil(p));
        assert_eq!(line["parts"], parts, "{line}");
    }
    let estimate = dry_run_summary(&dry);
    let bytes: u64 = objects.iter().map(|o| o.size).sum();
    assert_eq!(estimate["objects"], 4, "{estimate}");
    assert_eq!(estimate["multipart_objects"], 2);
    assert_eq!(estimate["parts"], 5);
    assert_eq!(estimate["bytes"], bytes);
    assert_eq!(estimate["listed"]["objects"], 4);
    assert_eq!(estimate["listed"]["bytes"], bytes);
    assert_eq!(estimate["moved"]["read"], bytes);
    assert_eq!(estimate["moved"]["written"], bytes);
    assert!(
        estimate["requests_made"]["ListObjectsV2"].as_u64() >= Some(1),
        "{estimate}"
    );
    assert!(
        estimate["requests_made"].get("PutObject").is_none()
            && estimate["requests_made"]
                .get("CreateMultipartUpload")
                .is_none(),
        "a dry run writes nothing: {estimate}"
    );
    let cost = estimate["cost"]["total_usd"].as_f64().expect("cost");
    assert!(cost > 0.0, "{estimate}");
    // The run directory stays, with the part list a real run would copy.
    let part_list = estimate["part_list"].as_str().expect("part list");
    assert!(std::path::Path::new(part_list).exists(), "{part_list}");

    // The real run copies exactly those keys, with exactly the estimated writes.
    let real = start(&["--uuid", "real", "--no-server-side-copy"])
        .await
        .expect("rsync thread");
    assert_eq!(real.code, 0, "{}", real.stderr);
    let copied: BTreeSet<String> = keys(&client, &dst).await.into_iter().collect();
    assert_eq!(copied, copied_keys(&dry));
    let counted = summary(&real);
    for operation in [
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    ] {
        assert_eq!(
            counted["requests"][operation], estimate["requests"][operation],
            "{operation}: real {} vs estimate {}",
            counted["requests"], estimate["requests"]
        );
    }
    assert_eq!(counted["objects"], estimate["objects"]);
    assert_eq!(counted["bytes"], estimate["bytes"]);
    assert_eq!(counted["parts"], estimate["parts"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_diff_a_dry_run_lists_only_the_missing_and_changed_keys() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "drydiff").await;
    let objects = objects();
    fixtures::upload_all(&client, &src, &objects).await;
    // At the destination: "a" and "multi" as they are, "dir/b" changed; the 3-part
    // object is missing.
    let same: Vec<FixtureObject> = objects
        .iter()
        .filter(|o| o.key == "a" || o.key == "multi")
        .cloned()
        .collect();
    fixtures::upload_all(&client, &dst, &same).await;
    fixtures::put_object(&client, &dst, "dir/b", b"older".to_vec()).await;
    let before: BTreeSet<String> = keys(&client, &dst).await.into_iter().collect();
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let args: Vec<String> = [
        "--input",
        &part_file.display().to_string(),
        "--src-bucket",
        &src,
        "--dst-bucket",
        &dst,
        "--src-endpoint",
        &server.endpoint,
        "--dst-endpoint",
        &server.endpoint,
        "--run-dir",
        &work.path().join("runs").display().to_string(),
        "--output",
        &work.path().join("output").display().to_string(),
        "--uuid",
        "drydiff",
        "--diff",
        "--dry-run",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let result = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(RSYNC, &args, "", server, &[])
    })
    .await
    .expect("rsync thread");
    assert_eq!(result.code, 0, "{}", result.stderr);
    // stdout: one aws-style line per object to copy, and nothing else.
    assert_eq!(
        result.lines(),
        vec![
            format!("(dryrun) copy: s3://{src}/dir/b to s3://{dst}/dir/b"),
            format!("(dryrun) copy: s3://{src}/three/parts to s3://{dst}/three/parts"),
        ]
    );
    let after: BTreeSet<String> = keys(&client, &dst).await.into_iter().collect();
    assert_eq!(before, after, "the destination is unchanged");
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    let work_dir = work.path().display().to_string();
    insta::assert_snapshot!(redact(
        &human_dry_run(&result.stderr),
        &[(&work_dir, "[work]"), (&src, "[src]"), (&dst, "[dst]")]
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_side_dry_run_estimates_the_copies_s3_then_makes() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "dryserver").await;
    let objects = objects();
    fixtures::upload_all(&client, &src, &objects).await;
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let start = |extra: &'static [&'static str]| {
        let (endpoint, dir, part_file) = (
            server.endpoint.clone(),
            work.path().to_path_buf(),
            part_file.clone(),
        );
        let (s, d) = (src.clone(), dst.clone());
        tokio::task::spawn_blocking(move || {
            rsync_local_at(server, &endpoint, &dir, &part_file, (&s, &d), extra, &[])
        })
    };
    let dry = start(&["--uuid", "dry", "--dry-run", "--server-side-copy"])
        .await
        .expect("rsync thread");
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(keys(&client, &dst).await.is_empty());
    let estimate = dry_run_summary(&dry);
    // S3 copies the bytes: the tasks move none, and send no GET or PUT.
    assert_eq!(estimate["moved"]["read"], 0, "{estimate}");
    assert_eq!(estimate["moved"]["transferred"], estimate["bytes"]);
    for absent in ["GetObject", "PutObject", "UploadPart"] {
        assert!(
            estimate["copy_requests"].get(absent).is_none(),
            "{absent}: {estimate}"
        );
    }
    let real = start(&["--uuid", "real", "--server-side-copy"])
        .await
        .expect("rsync thread");
    assert_eq!(real.code, 0, "{}", real.stderr);
    let counted = summary(&real);
    for operation in [
        "CopyObject",
        "UploadPartCopy",
        "CreateMultipartUpload",
        "CompleteMultipartUpload",
    ] {
        assert_eq!(
            counted["requests"][operation], estimate["requests"][operation],
            "{operation}: real {} vs estimate {}",
            counted["requests"], estimate["requests"]
        );
    }
    assert_eq!(estimate["requests"]["CopyObject"], 2);
    assert_eq!(estimate["requests"]["UploadPartCopy"], 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_that_would_leave_objects_out_exits_3_with_its_skip_report() {
    // moto keeps storage classes: a GLACIER object is one a run must leave out.
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "dryskip").await;
    fixtures::upload_all(&client, &src, &[FixtureObject::whole("warm", 100)]).await;
    client
        .put_object()
        .bucket(&src)
        .key("cold")
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"archived"))
        .send()
        .await
        .expect("put archived object");
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (endpoint, dir) = (server.endpoint.clone(), work.path().to_path_buf());
    let (s, d) = (src.clone(), dst.clone());
    let dry = tokio::task::spawn_blocking(move || {
        rsync_local_at(
            server,
            &endpoint,
            &dir,
            &part_file,
            (&s, &d),
            &["--uuid", "dryskip", "--dry-run"],
            &[],
        )
    })
    .await
    .expect("rsync thread");
    assert_eq!(dry.code, 3, "as the real run would: {}", dry.stderr);
    assert_eq!(copied_keys(&dry), BTreeSet::from(["warm".to_string()]));
    let estimate = dry_run_summary(&dry);
    assert_eq!(estimate["skipped"]["archived"], 1, "{estimate}");
    let report = estimate["paths"]["skip_report"]
        .as_str()
        .expect("skip report");
    let rows = std::fs::read_to_string(report).expect("skip report");
    assert!(rows.contains("\"cold\""), "{rows}");
    assert!(keys(&client, &dst).await.is_empty());
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_input_a_dry_run_makes_its_part_file_and_names_it() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "drymade").await;
    fixtures::upload_all(
        &client,
        &src,
        &[
            FixtureObject::whole("x", 10),
            FixtureObject::whole("y/z", 20),
        ],
    )
    .await;
    let work = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = [
        "--src-bucket",
        &src,
        "--dst-bucket",
        &dst,
        "--src-endpoint",
        &server.endpoint,
        "--dst-endpoint",
        &server.endpoint,
        "--run-dir",
        &work.path().join("runs").display().to_string(),
        "--output",
        &work.path().join("output").display().to_string(),
        "--uuid",
        "made",
        "--dry-run",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let result = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(RSYNC, &args, "", server, &[])
    })
    .await
    .expect("rsync thread");
    assert_eq!(result.code, 0, "{}", result.stderr);
    let made = work.path().join("runs/made/part.generated");
    assert!(made.exists(), "{}", result.stderr);
    let lines = json_lines(&result);
    assert!(
        lines
            .iter()
            .any(|l| l["part_file"]["path"] == made.display().to_string()),
        "{}",
        result.stdout
    );
    assert_eq!(
        copied_keys(&result),
        BTreeSet::from(["x".to_string(), "y/z".to_string()])
    );
    assert_eq!(dry_run_summary(&result)["bytes"], 30);
    assert!(keys(&client, &dst).await.is_empty());
}
