//! The summary that ends an rsync run: with `--json` stdout holds JSON lines only (the
//! run's paths, the step reports, the skip report, the summary), and the summary's
//! numbers are those of what was copied and left out; without `--json` the article's
//! `RunDir:`/`Output:` lines stay as they were and the summary is read on stderr
//! (a snapshot, its times and rates redacted).

use aws_sdk_s3::types::StorageClass;
use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

/// Two whole objects and a multipart one.
fn warm_objects() -> Vec<FixtureObject> {
    let mib = 1024 * 1024;
    vec![
        FixtureObject::whole("a", 1000),
        FixtureObject::whole("dir/b", 2000),
        FixtureObject::multipart("multi", 6 * mib, 5 * mib),
    ]
}

/// The summary lines of a run's stderr: from `summary:` on, while indented.
fn human_summary(stderr: &str) -> String {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with("summary: "));
    let Some(first) = lines.next() else {
        panic!("no summary on stderr:\n{stderr}");
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The summary with its wall-clock numbers and its request counts (a retried request
/// counts twice) replaced.
fn redact_times(summary: &str) -> String {
    summary
        .lines()
        .map(|line| {
            let name = line.trim_start();
            if name.starts_with("elapsed ") || name.starts_with("throughput ") {
                let label: String = line.chars().take_while(|c| !c.is_ascii_digit()).collect();
                format!("{label}[time]\n")
            } else if name.starts_with("requests ") {
                let label = &line[..line.len() - name.len() + "requests".len()];
                let pad =
                    name["requests".len()..].len() - name["requests".len()..].trim_start().len();
                format!("{label}{}[requests]\n", " ".repeat(pad))
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_stdout_is_json_lines_only_and_the_summary_counts_what_was_copied() {
    // moto keeps storage classes: a GLACIER object is one the run must leave out.
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "summary").await;
    let warm = warm_objects();
    fixtures::upload_all(&client, &src, &warm).await;
    client
        .put_object()
        .bucket(&src)
        .key("cold")
        .storage_class(StorageClass::Glacier)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"archived"))
        .send()
        .await
        .expect("put archived object");
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (endpoint, dir) = (server.endpoint.clone(), work.path().to_path_buf());
    let (s, d) = (src.clone(), dst.clone());
    let result = tokio::task::spawn_blocking(move || {
        rsync_local_at(
            server,
            &endpoint,
            &dir,
            &part_file,
            (&s, &d),
            &["--uuid", "sum", "-q"],
            &[],
        )
    })
    .await
    .expect("rsync thread");
    assert_eq!(result.code, 3, "one object left out: {}", result.stderr);
    for object in &warm {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }

    // Every line is JSON: the paths first, the summary last.
    let lines = json_lines(&result);
    let run_dir = work.path().join("runs/sum").display().to_string();
    let output = work.path().join("output/part.all.sum");
    assert_eq!(
        lines.first(),
        Some(&serde_json::json!({
            "run_dir": run_dir,
            "output": output.display().to_string(),
        }))
    );
    assert!(
        lines.last().is_some_and(|l| l.get("summary").is_some()),
        "{}",
        result.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l["step"].as_str().is_some_and(|s| s.starts_with("copy."))),
        "the step reports are among them: {}",
        result.stdout
    );

    // The numbers: what was copied, what was left out and why.
    let summary = summary(&result);
    let bytes: u64 = warm.iter().map(|o| o.size).sum();
    assert_eq!(summary["objects"], 3, "{summary}");
    assert_eq!(summary["multipart_objects"], 1);
    assert_eq!(summary["parts"], 2);
    assert_eq!(summary["bytes"], bytes);
    assert_eq!(
        summary["listed"]["objects"], 3,
        "the archived one is not listed"
    );
    assert_eq!(summary["listed"]["bytes"], bytes);
    assert_eq!(summary["skipped"]["archived"], 1);
    for reason in [
        "vanished",
        "changed",
        "unknown_layout",
        "destination_changed",
    ] {
        assert_eq!(summary["skipped"][reason], 0, "{reason}");
    }
    assert_eq!(summary["reported"]["unverifiable_at_source"], 0);
    assert_eq!(summary["failed"]["objects"], 0);
    let proven = summary["proofs"]["md5"].as_u64().expect("md5")
        + summary["proofs"]["checksum"].as_u64().expect("checksum");
    assert_eq!(proven, 3, "every copied object is proven: {summary}");
    // The tasks' requests by operation: the listing's, and one multipart upload.
    let requests = &summary["requests"];
    let count = |operation: &str| requests[operation].as_u64().unwrap_or(0);
    assert!(count("ListObjectsV2") >= 1, "{requests}");
    assert!(count("CreateMultipartUpload") >= 1, "{requests}");
    assert!(count("CompleteMultipartUpload") >= 1, "{requests}");
    assert!(
        count("UploadPart") + count("UploadPartCopy") >= 2,
        "two parts: {requests}"
    );
    let seconds = summary["seconds"].as_f64().expect("seconds");
    assert!(seconds > 0.0, "{summary}");
    let rate = summary["bytes_per_second"].as_f64().expect("rate");
    let expected = bytes as f64 / seconds;
    assert!(
        (rate - expected).abs() <= expected * 0.01 + 1.0,
        "{rate} vs {expected}"
    );
    assert_eq!(summary["paths"]["run_dir"], run_dir);
    assert_eq!(summary["paths"]["output"], output.display().to_string());
    let report = output.join("_skipped.jsonl");
    assert_eq!(
        summary["paths"]["skip_report"],
        report.display().to_string()
    );
    assert!(report.exists());
    // -q: no progress, no step tables, no human summary.
    assert!(!result.stderr.contains("summary: "), "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_json_the_article_lines_stay_and_the_summary_is_on_stderr() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "human").await;
    let warm = warm_objects();
    fixtures::upload_all(&client, &src, &warm).await;
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
        "human",
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
    assert_eq!(
        result.lines(),
        vec![
            format!("RunDir: {}", work.path().join("runs/human").display()),
            format!(
                "Output:{}",
                work.path().join("output/part.all.human").display()
            ),
        ],
        "the article's lines, and nothing else on stdout"
    );
    // After the step tables.
    let tables = result.stderr.rfind("step copy.").expect("copy step table");
    let at = result.stderr.rfind("summary: ").expect("summary");
    assert!(tables < at, "{}", result.stderr);
    let requests = result
        .stderr
        .lines()
        .find(|l| l.starts_with("  requests "))
        .expect("a requests line");
    assert!(
        requests.contains("CreateMultipartUpload 1") && requests.contains("ListObjectsV2 "),
        "{requests}"
    );
    let work_dir = work.path().display().to_string();
    insta::assert_snapshot!(redact(
        &redact_times(&human_summary(&result.stderr)),
        &[(&work_dir, "[work]"), (&src, "[src]"), (&dst, "[dst]")]
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_dry_run_prints_the_paths_and_the_plan_as_json_lines() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "dryjson").await;
    let dst_bucket = dst.clone();
    let work = tempfile::tempdir().expect("tempdir");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (endpoint, dir) = (server.endpoint.clone(), work.path().to_path_buf());
    let result = tokio::task::spawn_blocking(move || {
        rsync_local_at(
            server,
            &endpoint,
            &dir,
            &part_file,
            (&src, &dst),
            &["--uuid", "dry", "--dry-run"],
            &[],
        )
    })
    .await
    .expect("rsync thread");
    assert_eq!(result.code, 0, "{}", result.stderr);
    let lines = json_lines(&result);
    assert_eq!(
        lines[0],
        serde_json::json!({"run_dir": work.path().join("runs/dry").display().to_string()})
    );
    assert!(
        lines[1]["plan"]["steps"]
            .as_array()
            .is_some_and(|steps| !steps.is_empty()),
        "{}",
        result.stdout
    );
    // A local dry run runs the listing (tests/it/dry_run.rs): it ends with its
    // summary, and copies nothing.
    assert!(
        lines.last().is_some_and(|l| l["dry_run"]["objects"] == 0),
        "{}",
        result.stdout
    );
    assert!(
        keys(&client, &dst_bucket).await.is_empty(),
        "a dry run writes nothing"
    );
}
