//! `campanile map` on the local runner, end to end on Garage: `wc -c` over a prefix
//! gives one job-output line per key with its byte count; `--output-template` writes
//! each object's `tr a-z A-Z` to its own key; the command sees the object's key, size,
//! ETag and bucket in its environment; a command failing for one key is retried, then
//! reported in the skip report (exit 3) while the others are mapped; a dry run lists
//! the keys and runs nothing; a command may stop reading early; an object changed
//! since the listing is a skip row (the GET is pinned to its ETag); the copy's flags
//! are refused; on EMR with `--wait` the `command_failed` rows of the job output make
//! the skip report.

use crate::common::*;
use campanile_testkit::{S3Server, fixtures};

/// `campanile map` with `args`, run and output directories under `work`, `--json`,
/// through the server's endpoint.
fn map(server: &S3Server, work: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        "map".into(),
        "--src-endpoint".into(),
        server.endpoint.clone(),
        "--run-dir".into(),
        work.join("runs").display().to_string(),
        "--output".into(),
        work.join("output").display().to_string(),
        "--json".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(CAMPANILE, &all, "", server, &[])
}

/// `logs/a` (100 bytes), `logs/b` (2500), `logs/sub/c d` (0: an empty object, a key
/// with a space), and `other/x` outside the prefix.
async fn objects(server: &S3Server, tag: &str) -> (aws_sdk_s3::Client, String, String) {
    let (client, src, dst) = fresh_buckets(server, tag).await;
    for (key, size) in [("logs/a", 100), ("logs/b", 2500), ("logs/sub/c d", 0)] {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, size)).await;
    }
    fixtures::put_object(&client, &src, "other/x", b"not mapped".to_vec()).await;
    (client, src, dst)
}

/// The job output's lines (its `part-*` files), sorted.
fn output_lines(ran: &Run) -> Vec<String> {
    let dir = run_paths(ran)["output"]
        .as_str()
        .expect("an output path")
        .to_string();
    let mut lines: Vec<String> = files_under(std::path::Path::new(&dir))
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
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn wc_gives_one_line_per_key_with_its_byte_count() {
    let server = campanile_testkit::s3();
    let (_, src, _) = objects(server, "map-wc").await;
    let work = tempfile::tempdir().expect("work dir");
    let ran = map(
        server,
        work.path(),
        &[
            &format!("s3://{src}/logs/"),
            "--command",
            "wc -c | tr -d ' '",
        ],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        output_lines(&ran),
        ["logs/a\t100", "logs/b\t2500", "logs/sub/c d\t0"]
    );
    assert_eq!(counter_total(&ran, "Mapped"), 3, "{}", ran.stdout);
    assert_eq!(counter_total(&ran, "MapInputBytes"), 2600, "{}", ran.stdout);
    assert_eq!(counter_total(&ran, "MapFailed"), 0, "{}", ran.stdout);
    let done = summary(&ran);
    assert_eq!(done["map"]["mapped"], 3, "{done}");
    assert_eq!(done["map"]["input_bytes"], 2600, "{done}");
    // "100\n", "2500\n", "0\n"
    assert_eq!(done["map"]["output_bytes"], 11, "{done}");
    assert_eq!(done["map"]["failed"], 0, "{done}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_output_template_writes_each_objects_output_to_its_key() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = objects(server, "map-tpl").await;
    let work = tempfile::tempdir().expect("work dir");
    let ran = map(
        server,
        work.path(),
        &[
            &format!("s3://{src}/logs/"),
            "--command",
            "tr a-z A-Z",
            "--output-template",
            &format!("s3://{dst}/upper/{{key}}.txt"),
        ],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let mut written = keys(&client, &dst).await;
    written.sort();
    assert_eq!(
        written,
        [
            "upper/logs/a.txt",
            "upper/logs/b.txt",
            "upper/logs/sub/c d.txt"
        ]
    );
    for (key, size) in [("logs/a", 100), ("logs/b", 2500), ("logs/sub/c d", 0)] {
        let expected = fixtures::fixture_bytes(key, size).to_ascii_uppercase();
        let got = body(&client, &dst, &format!("upper/{key}.txt")).await;
        assert_eq!(got, expected, "{key}");
    }
    // The job output says where each went.
    assert_eq!(
        output_lines(&ran),
        [
            format!("logs/a\ts3://{dst}/upper/logs/a.txt\t100"),
            format!("logs/b\ts3://{dst}/upper/logs/b.txt\t2500"),
            format!("logs/sub/c d\ts3://{dst}/upper/logs/sub/c d.txt\t0"),
        ]
    );
    // Again: the same outputs, overwritten with the same bytes (a retry is safe).
    let again = map(
        server,
        &work.path().join("again"),
        &[
            &format!("s3://{src}/logs/"),
            "--command",
            "tr a-z A-Z",
            "--output-template",
            &format!("s3://{dst}/upper/{{key}}.txt"),
        ],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let expected = fixtures::fixture_bytes("logs/b", 2500).to_ascii_uppercase();
    assert_eq!(body(&client, &dst, "upper/logs/b.txt").await, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_sees_the_objects_key_size_etag_and_bucket() {
    let server = campanile_testkit::s3();
    let (client, src, _) = objects(server, "map-env").await;
    let work = tempfile::tempdir().expect("work dir");
    let ran = map(
        server,
        work.path(),
        &[
            &format!("s3://{src}/logs/a"),
            "--command",
            r#"cat >/dev/null; printf '%s|%s|%s|%s\n' "$CAMPANILE_BUCKET" "$CAMPANILE_KEY" "$CAMPANILE_SIZE" "$CAMPANILE_ETAG""#,
        ],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let etag = client
        .head_object()
        .bucket(&src)
        .key("logs/a")
        .send()
        .await
        .expect("head")
        .e_tag()
        .expect("etag")
        .trim_matches('"')
        .to_string();
    assert_eq!(
        output_lines(&ran),
        [format!("logs/a\t{src}|logs/a|100|{etag}")]
    );
}

/// A command failing on one key: the task maps the others and fails, the runner
/// retries it (each attempt runs the command on that key again), and the last attempt
/// reports the key in the skip report (`command_failed`, the exit code and the end of
/// the command's stderr) and succeeds, so the other keys' outputs and the job output
/// stay; the run exits 3 and its summary counts the failure.
#[tokio::test(flavor = "multi_thread")]
async fn a_command_failing_on_one_key_is_retried_then_reported_and_the_run_exits_3() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = objects(server, "map-fail").await;
    let work = tempfile::tempdir().expect("work dir");
    // One line per run of the command on logs/b: one per attempt of its task.
    let tries = work.path().join("tries");
    let command = format!(
        r#"if [ "$CAMPANILE_KEY" = logs/b ]; then echo "$mapreduce_task_attempt_id" >> '{}'; echo "no b for me" >&2; exit 7; fi; cat"#,
        tries.display()
    );
    let ran = map(
        server,
        work.path(),
        &[
            &format!("s3://{src}/logs/"),
            "--command",
            &command,
            "--output-template",
            &format!("s3://{dst}/out/{{key}}"),
        ],
    );
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    // The map step's 4 attempts ran the command on logs/b, each a new attempt.
    let attempts: Vec<String> = std::fs::read_to_string(&tries)
        .expect("the command ran on logs/b")
        .lines()
        .map(|l| l.rsplit('_').next().expect("attempt number").to_string())
        .collect();
    assert_eq!(attempts, ["0", "1", "2", "3"], "{}", ran.stderr);
    let mut written = keys(&client, &dst).await;
    written.sort();
    assert_eq!(written, ["out/logs/a", "out/logs/sub/c d"]);
    // The committed (last) attempt's job output: the mapped keys and the skip row.
    let lines = output_lines(&ran);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("logs/a\ts3://")),
        "{lines:?}"
    );
    let done = summary(&ran);
    assert_eq!(done["map"]["mapped"], 2, "{done}");
    assert_eq!(done["map"]["failed"], 1, "{done}");
    assert_eq!(done["skipped"]["command_failed"], 1, "{done}");
    assert_eq!(
        done["failed"]["attempts"], 3,
        "retried before the report: {done}"
    );
    assert_eq!(counter_total(&ran, "CommandFailed"), 1, "{}", ran.stdout);
    let report = done["paths"]["skip_report"]
        .as_str()
        .expect("a skip report");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(report)
        .expect("read the skip report")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["key"], "logs/b");
    assert_eq!(rows[0]["size"], 2500);
    assert_eq!(rows[0]["reason"], "command_failed");
    assert_eq!(rows[0]["detail"], "exit code 7: no b for me", "{rows:?}");
    let said = json_lines(&ran)
        .into_iter()
        .find(|l| l.get("skip_report").is_some())
        .expect("a skip_report line");
    assert_eq!(said["skipped"], 1, "{said}");
    assert!(
        ran.stderr.contains("command_failed 1"),
        "the summary names the reason:\n{}",
        ran.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_lists_the_keys_and_runs_nothing() {
    let server = campanile_testkit::s3();
    let (_, src, _) = objects(server, "map-dry").await;
    let work = tempfile::tempdir().expect("work dir");
    let marker = work.path().join("ran");
    let command = format!("touch {}", marker.display());
    let dry = map(
        server,
        work.path(),
        &[
            &format!("s3://{src}/logs/"),
            "--command",
            &command,
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let lines = json_lines(&dry);
    let mut would: Vec<String> = lines
        .iter()
        .filter(|line| line["action"] == "map")
        .map(|line| line["key"].as_str().expect("key").to_string())
        .collect();
    would.sort();
    assert_eq!(
        would,
        ["logs/a", "logs/b", "logs/sub/c d"],
        "{}",
        dry.stdout
    );
    let total = lines
        .iter()
        .find_map(|line| line.get("dry_run"))
        .expect("a dry_run line");
    assert_eq!(total["map"], 3, "{total}");
    assert_eq!(total["bytes"], 2600, "{total}");
    assert!(!marker.exists(), "the dry run ran the command");
}

#[test]
fn the_copy_flags_and_a_template_without_key_are_refused() {
    let server = campanile_testkit::s3();
    let work = tempfile::tempdir().expect("work dir");
    for (args, said) in [
        (vec!["s3://a/logs/", "s3://b/", "--command", "cat"], "DST"),
        (
            vec!["s3://a/logs/", "--command", "cat", "--delete"],
            "--delete",
        ),
        (
            vec![
                "s3://a/logs/",
                "--command",
                "cat",
                "--output-template",
                "s3://b/fixed",
            ],
            "{key}",
        ),
    ] {
        let refused = map(server, work.path(), &args);
        assert_eq!(refused.code, 2, "{args:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(said),
            "{args:?}: {}",
            refused.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_may_stop_reading_early() {
    let server = campanile_testkit::s3();
    let (client, src, _) = fresh_buckets(server, "map-head").await;
    // Larger than a pipe's buffer: the command closes its stdin while the task writes.
    let big = fixtures::fixture_bytes("big", 4 << 20);
    fixtures::put_object(&client, &src, "big", big.clone()).await;
    let work = tempfile::tempdir().expect("work dir");
    let ran = map(
        server,
        work.path(),
        &[
            &format!("s3://{src}/"),
            "--command",
            "head -c 5 | od -An -tx1 | tr -d ' '",
        ],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let hex: String = big[..5].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(output_lines(&ran), [format!("big\t{hex}")]);
}

/// The task alone: a listed ETag the object no longer has is a skip row (the GET is
/// pinned to it, and the command never runs), the others are mapped.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_changed_since_the_listing_is_skipped_and_not_mapped() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = objects(server, "map-pin").await;
    let etag = |key: &'static str| {
        let client = client.clone();
        let src = src.clone();
        async move {
            client
                .head_object()
                .bucket(&src)
                .key(key)
                .send()
                .await
                .expect("head")
                .e_tag()
                .expect("etag")
                .trim_matches('"')
                .to_string()
        }
    };
    let listing = format!(
        "logs/a\t{}\t100\t2026-01-01 00:00:00\nlogs/b\t0123456789abcdef0123456789abcdef\t2500\t2026-01-01 00:00:00\n",
        etag("logs/a").await
    );
    let endpoint = server.endpoint.clone();
    let ran = run(
        OBJECTMAP,
        &[
            "--src-bucket",
            &src,
            "--dst-bucket",
            &dst,
            "--src-endpoint",
            &endpoint,
            "--dst-endpoint",
            &endpoint,
            "--command",
            "wc%20%2Dc",
        ],
        &listing,
        server,
        &[],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let lines = ran.lines();
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
    assert!(lines.contains(&"logs/a\t100"), "{}", ran.stdout);
    assert!(
        lines
            .iter()
            .any(|l| campanile::skip::is_row(l) && l.starts_with("logs/b\t")),
        "{}",
        ran.stdout
    );
    assert_eq!(ran.counter(&src, "Mapped"), 1, "{}", ran.stderr);
}

/// On EMR with `--wait` (moto, whose steps run nothing): the map step's job output on
/// S3 holds what a last attempt writes for a failed command, a `command_failed` skip
/// row; once the steps completed, rsync gathers it into the skip report next to the
/// output (with the step logs' S3 client) and exits 3.
#[tokio::test(flavor = "multi_thread")]
async fn on_emr_wait_gathers_the_command_failed_rows_and_exits_3() {
    let server = campanile_testkit::moto_emr_steps();
    let client = server.client().await;
    let logs = campanile_testkit::unique_bucket("map-emr-logs");
    server.create_bucket(&client, &logs).await;
    let cluster = server
        .create_cluster_logging("campanile-map", Some(&format!("s3n://{logs}/jobflow/")))
        .await;
    // The map step's job output, as the committed last attempt leaves it.
    let failed = campanile::skip::Skipped {
        key: "logs/b".into(),
        size: 2500,
        etag: "0123456789abcdef0123456789abcdef".into(),
        reason: campanile::skip::SkipReason::CommandFailed,
        detail: "exit code 7: no b for me".into(),
    };
    let job_output = "output/srcbucket/part.all.1451507458";
    fixtures::put_object(
        &client,
        &logs,
        &format!("{job_output}/part-00000"),
        format!("logs/a\t100\n{}\n", failed.to_row()).into_bytes(),
    )
    .await;
    let args: Vec<String> = [
        "map",
        "s3://srcbucket/logs/",
        "--command",
        "wc -c",
        "-j",
        &cluster,
        "--input",
        "s3://codebucket/input/srcbucket/part.all",
        "--code",
        "s3://codebucket",
        "--output",
        &format!("s3://{logs}/output/srcbucket"),
        "--src-endpoint",
        "s3.us-west-2.amazonaws.com",
        "--uuid",
        "1451507458",
        "--emr-endpoint",
        &server.endpoint,
        "--wait",
        "--poll-seconds",
        "0.05",
        "--log-endpoint",
        &server.endpoint,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = run(CAMPANILE, &args, "", server, &[]);
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let report = format!("s3://{logs}/{job_output}/_skipped.jsonl");
    assert!(ran.stderr.contains(&report), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("command_failed 1"),
        "the summary names the reason:\n{}",
        ran.stderr
    );
    let written = body(&client, &logs, &format!("{job_output}/_skipped.jsonl")).await;
    let rows: Vec<campanile::skip::Skipped> = String::from_utf8_lossy(&written)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows, vec![failed]);
}
