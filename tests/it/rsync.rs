//! rsync end to end against a real EMR API on loopback (moto's server mode): steps
//! are submitted in order with the exact arguments, refusals submit nothing, and
//! `--wait` follows steps to COMPLETED or FAILED.

use crate::common::{redact, run};
use campanile_testkit::S3Server;

const RSYNC: &str = env!("CARGO_BIN_EXE_rsync");

fn article_args(server: &S3Server, job: &str) -> Vec<String> {
    [
        "-j",
        job,
        "--input",
        "s3://codebucket/input/srcbucket/part.all",
        "--code",
        "s3://codebucket",
        "--output",
        "s3://codebucket/output/srcbucket",
        "--src-bucket",
        "srcbucket",
        "--dst-bucket",
        "dstbucket",
        "--src-profile",
        "jeff",
        "--dst-profile",
        "jassy",
        "--src-endpoint",
        "s3.us-west-2.amazonaws.com",
        "--dst-endpoint",
        "s3.us-west-2.amazonaws.com",
        "--uuid",
        "1451507458",
        "--emr-endpoint",
        &server.endpoint,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn rsync(server: &S3Server, args: &[String]) -> crate::common::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(RSYNC, &args, "", server, &[])
}

pub(crate) async fn steps(server: &S3Server, cluster: &str) -> Vec<(String, String, Vec<String>)> {
    let client = server.emr_client().await;
    let mut ids: Vec<String> = Vec::new();
    let mut cleanup = false;
    let mut pages = client
        .list_steps()
        .cluster_id(cluster)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("ListSteps");
        cleanup |= page
            .steps()
            .iter()
            .any(|s| s.name().is_some_and(|n| n.starts_with("cleanup.")));
        ids.extend(
            page.steps()
                .iter()
                .filter_map(|s| s.id().map(str::to_string)),
        );
    }
    ids.reverse(); // ListSteps answers newest first
    let mut out = Vec::new();
    for id in ids {
        let step = client
            .describe_step()
            .cluster_id(cluster)
            .step_id(&id)
            .send()
            .await
            .expect("DescribeStep");
        let step = step.step().expect("step");
        let config = step.config().expect("config");
        assert_eq!(config.jar(), Some("command-runner.jar"));
        // A failed multipartlist or copy step is followed by the clean-up: these three
        // CONTINUE; the steps before them (no upload yet) cancel the rest, as every step
        // does in a plan without a clean-up (`--no-copy`).
        let name = step.name().unwrap_or_default();
        let action = if cleanup
            && ["mlist.", "copy.", "cleanup."]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        {
            "CONTINUE"
        } else {
            "CANCEL_AND_WAIT"
        };
        assert_eq!(
            step.action_on_failure().map(|a| a.as_str()),
            Some(action),
            "{name}"
        );
        out.push((
            id.clone(),
            step.name().unwrap_or_default().to_string(),
            config.args().to_vec(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_adds_the_steps_in_order_with_their_exact_arguments() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-submit").await;
    let result = rsync(server, &article_args(server, &cluster));
    assert_eq!(result.code, 0, "{}", result.stderr);
    let lines = result.lines();
    assert_eq!(lines[0], "RunDir: hdfs:///1451507458");
    assert_eq!(
        lines[1],
        "Output:s3://codebucket/output/srcbucket/part.all.1451507458"
    );
    let submitted = steps(server, &cluster).await;
    assert_eq!(lines.len(), 2 + submitted.len());
    for (line, (id, _, _)) in lines[2..].iter().zip(&submitted) {
        assert_eq!(*line, format!("Added step {id}"));
        assert!(id.starts_with("s-"));
    }
    let names: Vec<&str> = submitted.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "list.srcbucket.part.all",
            "mlist.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all"
        ]
    );
    // The list step, word for word as the article's table asks, plus the task's share
    // of the run's request budget per key prefix (S3's rates over 64 task slots) and
    // the reducer that writes each key once (one reduce task per slot).
    let expected: Vec<String> = [
        "hadoop-streaming",
        "-files",
        "s3://codebucket/bucketlist,s3://codebucket/multipartlist,s3://codebucket/objectcopy,s3://codebucket/multipartcomplete,s3://codebucket/.boto,s3://codebucket/campanile.cfg",
        "-D",
        "mapreduce.map.maxattempts=4",
        "-D",
        "mapreduce.input.lineinputformat.linespermap=1",
        "-D",
        "mapreduce.map.speculative=false",
        "-D",
        "mapreduce.task.timeout=300000",
        "-D",
        "mapreduce.job.reduces=64",
        "-D",
        "mapreduce.reduce.speculative=false",
        "-inputformat",
        "org.apache.hadoop.mapred.lib.NLineInputFormat",
        "-mapper",
        "bucketlist --bucket srcbucket --endpoint s3.us-west-2.amazonaws.com --profile jeff \
         --prefix-reads-per-second 85 --prefix-writes-per-second 54",
        "-reducer",
        "bucketlist --bucket srcbucket --distinct",
        "-input",
        "s3://codebucket/input/srcbucket/part.all",
        "-output",
        "/1451507458/srcbucket.list",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(submitted[0].2, expected);
    // The copy step has the reducer and the gzip output settings.
    let copy = &submitted[2].2;
    let reducer = copy.iter().position(|a| a == "-reducer").expect("reducer");
    assert_eq!(
        copy[reducer + 1],
        "multipartcomplete --bucket dstbucket --src-bucket srcbucket --endpoint s3.us-west-2.amazonaws.com --profile jassy --prefix-reads-per-second 85 --prefix-writes-per-second 54"
    );
    assert!(copy.contains(&"mapreduce.output.fileoutputformat.compress=true".to_string()));
    // Every step as EMR holds it: name, then one argument a line.
    let described: String = submitted
        .iter()
        .map(|(_, name, args)| format!("{name}\n  {}\n", args.join("\n  ")))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(described);
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_submits_the_hive_step() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-diff").await;
    let mut args = article_args(server, &cluster);
    args.push("--diff".into());
    let result = rsync(server, &args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.lines().len(), 2 + 6);
    let submitted = steps(server, &cluster).await;
    assert_eq!(submitted[2].1, "hive.srcbucket.part.all");
    assert_eq!(
        submitted[2].2,
        vec![
            "hive-script",
            "--run-hive-script",
            "--args",
            "-f",
            "s3://codebucket/diff.q",
            "-d",
            "SRC=/1451507458/srcbucket.list",
            "-d",
            "DST=/1451507458/dstbucket.list",
            "-d",
            "DIFF=/1451507458/diff.list"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_copy_prints_the_copy_input() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-nocopy").await;
    let mut args = article_args(server, &cluster);
    args.push("--no-copy".into());
    let result = rsync(server, &args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        result.lines()[1],
        "CopyInput:/1451507458/srcbucket.multipartlist"
    );
    assert_eq!(steps(server, &cluster).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_steps_carry_the_prefixes_and_the_filters() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-prefixes").await;
    let mut args = article_args(server, &cluster);
    for (flag, value) in [
        ("--src-bucket", "s3://srcbucket/logs/2025/"),
        ("--dst-bucket", "s3://dstbucket/archive/2025/"),
    ] {
        let at = args.iter().position(|a| a == flag).expect(flag);
        args[at + 1] = value.to_string();
    }
    args.extend(
        [
            "--diff",
            "--exclude",
            "tmp/**",
            "--include",
            "*.{gz,bz2}",
            "--min-size",
            "1K",
            "--newer-than",
            "2025-06-01T02:00:00+02:00",
        ]
        .map(String::from),
    );
    let result = rsync(server, &args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let submitted = steps(server, &cluster).await;
    let line = |name: &str, flag: &str| -> String {
        let (_, _, args) = submitted
            .iter()
            .find(|(_, n, _)| n.starts_with(name))
            .unwrap_or_else(|| panic!("no step {name}"));
        let at = args.iter().position(|a| a == flag).expect(flag);
        args[at + 1].clone()
    };
    let src_list = line("list.srcbucket.", "-mapper");
    assert!(
        src_list.ends_with(
            " --prefix logs/2025/ --filter exclude:tmp/** --filter include:*.{gz,bz2} \
             --min-size 1024 --newer-than 2025-06-01T00:00:00Z"
        ),
        "{src_list}"
    );
    assert_eq!(
        line("list.srcbucket.", "-reducer"),
        "bucketlist --bucket srcbucket --distinct"
    );
    let dst_list = line("list.dstbucket.", "-mapper");
    assert!(
        dst_list.ends_with(" --prefix archive/2025/ --as-prefix logs/2025/"),
        "{dst_list}"
    );
    let mapped = "--src-prefix logs/2025/ --dst-prefix archive/2025/";
    for (step, flag) in [
        ("mlist.", "-mapper"),
        ("copy.", "-mapper"),
        ("copy.", "-reducer"),
        ("cleanup.", "-mapper"),
    ] {
        let command = line(step, flag);
        assert!(command.contains(mapped), "{step} {flag}: {command}");
        assert!(!command.contains("--filter"), "{step} {flag}: {command}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_json_and_submits_nothing() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-dry").await;
    let mut args = article_args(server, &cluster);
    args.push("--dry-run".into());
    let result = rsync(server, &args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let json: String = result.lines()[2..].join("\n");
    let document: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(document["RunDir"], "hdfs:///1451507458");
    assert_eq!(document["Steps"].as_array().expect("steps").len(), 4);
    assert_eq!(
        document["Steps"][2]["HadoopJarStep"]["Jar"],
        "command-runner.jar"
    );
    assert!(steps(server, &cluster).await.is_empty());
    assert!(!result.stdout.contains(&server.secret_key));
    // The whole plan as printed (the cluster id changes with every run).
    insta::assert_snapshot!(redact(
        &result.stdout,
        &[
            (&cluster, "[cluster]"),
            (&server.endpoint, "[emr-endpoint]")
        ]
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_exit_2_and_submit_nothing() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-refuse").await;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (article_args(server, "cluster-1"), "^j-[A-Z0-9]+$"),
        (article_args(server, "j-NOSUCHCLUSTER"), "does not exist"),
        (
            {
                let mut args = article_args(server, &cluster);
                let at = args.iter().position(|a| a == "srcbucket").expect("bucket");
                args[at] = "Src_Bucket".into();
                args
            },
            "lower-case",
        ),
        (
            {
                let mut args = article_args(server, &cluster);
                let at = args.iter().position(|a| a == "jeff").expect("profile");
                args[at] = "jeff --dry-run".into();
                args
            },
            "would break the step's arguments",
        ),
    ];
    let mut messages = String::new();
    for (args, message) in cases {
        let result = rsync(server, &args);
        assert_eq!(result.code, 2, "{args:?}: {}", result.stderr);
        assert!(result.stderr.contains(message), "{}", result.stderr);
        messages.push_str(&result.stderr);
    }
    assert!(steps(server, &cluster).await.is_empty());
    // The messages in full, one refusal after the other.
    insta::assert_snapshot!(redact(
        &messages,
        &[
            (&cluster, "[cluster]"),
            (&server.endpoint, "[emr-endpoint]")
        ]
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminated_cluster_is_refused() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-terminated").await;
    server
        .emr_client()
        .await
        .terminate_job_flows()
        .job_flow_ids(&cluster)
        .send()
        .await
        .expect("terminate");
    let result = rsync(server, &article_args(server, &cluster));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains("TERMINATED"), "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_follows_steps_to_completed() {
    let server = campanile_testkit::moto_emr_steps();
    let cluster = server.create_cluster("campanile-wait").await;
    let mut args = article_args(server, &cluster);
    args.extend(["--wait".into(), "--poll-seconds".into(), "0.05".into()]);
    let result = rsync(server, &args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    for name in ["list", "mlist", "copy", "cleanup"] {
        assert!(
            result
                .stderr
                .contains(&format!("{name}.srcbucket.part.all: COMPLETED")),
            "{}",
            result.stderr
        );
    }
    assert!(
        result.stderr.contains("all 4 steps COMPLETED"),
        "{}",
        result.stderr
    );
    // No log URI, no counters: the summary says which steps it could not count.
    assert!(
        result.stderr.contains("summary: 0 objects copied"),
        "{}",
        result.stderr
    );
    let uncounted = result
        .stderr
        .lines()
        .find(|l| l.starts_with("  not counted "))
        .unwrap_or_else(|| panic!("no `not counted` line:\n{}", result.stderr));
    for name in ["list", "mlist", "copy", "cleanup"] {
        assert!(
            uncounted.contains(&format!("{name}.srcbucket.part.all (s-")),
            "{uncounted}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_reports_a_failed_step_and_exits_non_zero() {
    let server = campanile_testkit::moto_emr_steps();
    let cluster = server.create_cluster("campanile-wait-fail").await;
    let mut args = article_args(server, &cluster);
    let at = args
        .iter()
        .position(|a| a == "s3://codebucket/input/srcbucket/part.all")
        .expect("input");
    // Step names carry the part file's name; ".fail" makes the test server fail them.
    args[at] = "s3://codebucket/input/srcbucket/part.fail".into();
    args.extend(["--wait".into(), "--poll-seconds".into(), "0.05".into()]);
    let result = rsync(server, &args);
    assert_eq!(result.code, 1, "{}", result.stderr);
    assert!(
        result.stderr.contains("list.srcbucket.part.fail: FAILED"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("reason: Task failed"),
        "{}",
        result.stderr
    );
    assert!(result.stderr.contains("stderr.gz"), "{}", result.stderr);
    assert!(result.stderr.contains("CANCELLED"), "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_copy_is_followed_by_the_cleanup_step() {
    let server = campanile_testkit::moto_emr_steps();
    let cluster = server.create_cluster("campanile-copy-fails").await;
    let mut args = article_args(server, &cluster);
    let at = args
        .iter()
        .position(|a| a == "s3://codebucket/input/srcbucket/part.all")
        .expect("input");
    // ".copyfails" makes the test server fail the copy step only.
    args[at] = "s3://codebucket/input/srcbucket/part.copyfails".into();
    args.extend(["--wait".into(), "--poll-seconds".into(), "0.05".into()]);
    let result = rsync(server, &args);
    // The run failed (its copy did), but the clean-up ran rather than being cancelled.
    assert_eq!(result.code, 1, "{}", result.stderr);
    for (name, state) in [
        ("list", "COMPLETED"),
        ("mlist", "COMPLETED"),
        ("copy", "FAILED"),
        ("cleanup", "COMPLETED"),
    ] {
        assert!(
            result
                .stderr
                .contains(&format!("{name}.srcbucket.part.copyfails: {state}")),
            "{name}: {}",
            result.stderr
        );
    }
    assert!(!result.stderr.contains("CANCELLED"), "{}", result.stderr);
    assert!(
        result.stderr.contains("steps did not complete"),
        "{}",
        result.stderr
    );
}

/// multipartlist's step creates the uploads: when it fails, the copy (over what it
/// committed, if anything) and the clean-up still run, so no upload stays in progress.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_multipartlist_step_is_followed_by_the_cleanup_step() {
    let server = campanile_testkit::moto_emr_steps();
    let cluster = server.create_cluster("campanile-mlist-fails").await;
    let mut args = article_args(server, &cluster);
    let at = args
        .iter()
        .position(|a| a == "s3://codebucket/input/srcbucket/part.all")
        .expect("input");
    // ".mlistfails" makes the test server fail the multipartlist step only.
    args[at] = "s3://codebucket/input/srcbucket/part.mlistfails".into();
    args.extend(["--wait".into(), "--poll-seconds".into(), "0.05".into()]);
    let result = rsync(server, &args);
    assert_eq!(result.code, 1, "{}", result.stderr);
    for (name, state) in [
        ("list", "COMPLETED"),
        ("mlist", "FAILED"),
        ("cleanup", "COMPLETED"),
    ] {
        assert!(
            result
                .stderr
                .contains(&format!("{name}.srcbucket.part.mlistfails: {state}")),
            "{name}: {}",
            result.stderr
        );
    }
    assert!(!result.stderr.contains("CANCELLED"), "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_come_from_get_bucket_location() {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let east = campanile_testkit::unique_bucket("east");
    server.create_bucket(&client, &east).await;
    let west = campanile_testkit::unique_bucket("west");
    client
        .create_bucket()
        .bucket(&west)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .expect("create eu-west-1 bucket");
    assert_eq!(
        campanile::rsync::bucket_endpoint(&client, &east)
            .await
            .expect("location"),
        "s3.us-east-1.amazonaws.com"
    );
    assert_eq!(
        campanile::rsync::bucket_endpoint(&client, &west)
            .await
            .expect("location"),
        "s3.eu-west-1.amazonaws.com"
    );
    let missing = campanile::rsync::bucket_endpoint(&client, "no-such-bucket-campanile")
        .await
        .expect_err("no such bucket");
    assert!(missing.to_string().contains("--src-endpoint"), "{missing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_that_would_exceed_256_active_steps_is_refused() {
    use aws_sdk_emr::types::{HadoopJarStepConfig, StepConfig};
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-busy").await;
    let busy: Vec<StepConfig> = (0..254)
        .map(|i| {
            StepConfig::builder()
                .name(format!("other-{i}"))
                .action_on_failure(aws_sdk_emr::types::ActionOnFailure::CancelAndWait)
                .hadoop_jar_step(
                    HadoopJarStepConfig::builder()
                        .jar("command-runner.jar")
                        .args("true")
                        .build(),
                )
                .build()
        })
        .collect();
    server
        .emr_client()
        .await
        .add_job_flow_steps()
        .job_flow_id(&cluster)
        .set_steps(Some(busy))
        .send()
        .await
        .expect("add other steps");
    // 254 active + 4 would be 258.
    let result = rsync(server, &article_args(server, &cluster));
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains("256"), "{}", result.stderr);
    assert_eq!(steps(server, &cluster).await.len(), 254);
    // --list-only (1 step) still fits: 255.
    let mut args = article_args(server, &cluster);
    args.push("--list-only".into());
    let result = rsync(server, &args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(steps(server, &cluster).await.len(), 255);
}

/// `--wait` prints each step's counters, read from its Hadoop log where EMR uploads it
/// (`<LogUri>/<cluster>/steps/<step>/syslog.gz`). moto runs no step and writes no log,
/// so the test puts one log per step there as soon as rsync has said which steps it
/// added (rsync then polls each step through PENDING and RUNNING first).
#[tokio::test(flavor = "multi_thread")]
async fn wait_prints_each_steps_counters_from_its_log() {
    use std::io::{BufRead, BufReader, Read, Write};
    let server = campanile_testkit::moto_emr_steps();
    let client = server.client().await;
    let logs = campanile_testkit::unique_bucket("emr-logs");
    server.create_bucket(&client, &logs).await;
    let cluster = server
        .create_cluster_logging("campanile-logs", Some(&format!("s3n://{logs}/jobflow/")))
        .await;
    let mut args = article_args(server, &cluster);
    // The job output in the log bucket too, where the test can write it: its skip
    // rows make the skip report, read through the logs' S3 client.
    let output = args
        .iter()
        .position(|a| a == "s3://codebucket/output/srcbucket")
        .expect("output");
    args[output] = format!("s3://{logs}/output/srcbucket");
    args.extend([
        "--wait".into(),
        // Long enough for the test to put the logs before the first step completes
        // (two polls), even on a busy machine.
        "--poll-seconds".into(),
        "4".into(),
        "--log-endpoint".into(),
        server.endpoint.clone(),
    ]);
    let mut child = std::process::Command::new(RSYNC)
        .args(&args)
        .envs(server.command_env())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start rsync");
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut step_ids = Vec::new();
    let mut line = String::new();
    // list, mlist, copy and the clean-up.
    while step_ids.len() < 4 && stdout.read_line(&mut line).expect("read stdout") > 0 {
        if let Some(id) = line.trim().strip_prefix("Added step ") {
            step_ids.push(id.to_string());
        }
        line.clear();
    }
    assert_eq!(step_ids.len(), 4, "rsync added no steps");
    for (index, id) in step_ids.iter().enumerate() {
        let log = format!(
            "2026-11-30 07:00:00,000 INFO org.apache.hadoop.mapreduce.Job: Counters: 2\n\
             \tsrcbucket\n\
             \t\tBytes={}\n\
             \t\tObjects={}\n\
             2026-11-30 07:00:00,001 INFO org.apache.hadoop.streaming.StreamJob: Output directory: /x\n",
            1000 + index,
            10 + index
        );
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(log.as_bytes()).expect("gzip");
        campanile_testkit::fixtures::put_object(
            &client,
            &logs,
            &format!("jobflow/{cluster}/steps/{id}/syslog.gz"),
            gzip.finish().expect("gzip"),
        )
        .await;
    }
    // The copy's job output: a part line and one skip row.
    let skipped = campanile::skip::Skipped {
        key: "gone/key".into(),
        size: 7,
        etag: "0123456789abcdef0123456789abcdef".into(),
        reason: campanile::skip::SkipReason::Vanished,
        detail: "404 on GET".into(),
    };
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    write!(
        gzip,
        "k\t0123456789abcdef0123456789abcdef-2\tup\t0123456789abcdef0123456789abcdef\t1\t0\t9\n{}\n",
        skipped.to_row()
    )
    .expect("gzip");
    let job_output = "output/srcbucket/part.all.1451507458";
    campanile_testkit::fixtures::put_object(
        &client,
        &logs,
        &format!("{job_output}/part-00000.gz"),
        gzip.finish().expect("gzip"),
    )
    .await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    let stderr = stderr_reader.join().expect("stderr");
    // Exit 3: every step completed, and the job output lists an object left out.
    assert_eq!(status.code(), Some(3), "{stderr}");
    let report = format!("s3://{logs}/{job_output}/_skipped.jsonl");
    assert!(stderr.contains(&report), "{stderr}");
    let written = client
        .get_object()
        .bucket(&logs)
        .key(format!("{job_output}/_skipped.jsonl"))
        .send()
        .await
        .expect("the report")
        .body
        .collect()
        .await
        .expect("read")
        .into_bytes();
    let rows: Vec<campanile::skip::Skipped> = String::from_utf8_lossy(&written)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows, vec![skipped]);
    for (index, id) in step_ids.iter().enumerate() {
        // The local runner's table: names padded to the longest, values right-aligned.
        let table = format!(
            "{id} counters:\n  {:<17} {:>14}\n  {:<17} {:>14}\n",
            "srcbucket.Bytes",
            1000 + index,
            "srcbucket.Objects",
            10 + index
        );
        assert!(stderr.contains(&table), "no {table:?} in:\n{stderr}");
    }
    assert!(stderr.contains("all 4 steps COMPLETED"), "{stderr}");
    // The summary, from the counters read from the logs and the skip report's rows:
    // the copy step's Objects (12) were copied, the listing's (10) listed.
    assert!(
        stderr.contains("summary: 12 objects copied (0 multipart), 0 bytes\n"),
        "{stderr}"
    );
    let said = |name: &str| -> String {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("  {name} ")))
            .unwrap_or_else(|| panic!("no summary line {name:?} in:\n{stderr}"));
        line[2 + name.len()..].trim().to_string()
    };
    assert_eq!(said("listed"), "10 objects, 1000 bytes at the source");
    assert_eq!(said("skipped"), "1 (vanished 1)");
    assert_eq!(said("skip report"), report);
    assert_eq!(said("output"), format!("s3://{logs}/{job_output}"));
    assert!(
        !stderr.lines().any(|l| l.starts_with("  not counted ")),
        "every step was counted: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_renders_the_delete_steps_after_the_cleanup() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-delete").await;
    let mut args = article_args(server, &cluster);
    args.extend(
        [
            "--delete",
            "--max-delete",
            "5%",
            "--exclude",
            "**.tmp",
            "--newer-than",
            "2026-01-01T00:00:00Z",
            "--dry-run",
        ]
        .map(String::from),
    );
    let result = rsync(server, &args);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let json: String = result.lines()[2..].join("\n");
    let document: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    let steps = document["Steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["Name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "list.srcbucket.part.all",
            "keys.srcbucket.part.all",
            "list.dstbucket.part.all",
            "hive.srcbucket.part.all",
            "mlist.srcbucket.part.all",
            "copy.srcbucket.part.all",
            "cleanup.srcbucket.part.all",
            "copied.srcbucket.part.all",
            "hive.delete.dstbucket.part.all",
            "delete.dstbucket.part.all",
        ]
    );
    // The copy continues into the clean-up on failure; the steps after it cancel the
    // rest, the first of them failing when the copy left no _SUCCESS.
    let actions: Vec<&str> = steps
        .iter()
        .filter_map(|s| s["ActionOnFailure"].as_str())
        .collect();
    assert_eq!(
        actions[5..],
        [
            "CONTINUE",
            "CONTINUE",
            "CANCEL_AND_WAIT",
            "CANCEL_AND_WAIT",
            "CANCEL_AND_WAIT"
        ]
    );
    let check: Vec<&str> = steps[7]["HadoopJarStep"]["Args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(
        check,
        [
            "hadoop",
            "fs",
            "-test",
            "-e",
            "s3://codebucket/output/srcbucket/part.all.1451507458/_SUCCESS"
        ]
    );
    let delete_args: Vec<&str> = steps[9]["HadoopJarStep"]["Args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let at = |flag: &str| {
        let index = delete_args.iter().position(|a| *a == flag).expect(flag);
        delete_args[index + 1]
    };
    assert_eq!(at("-input"), "/1451507458/delete.list");
    assert!(
        at("-reducer").ends_with("--max-delete 5%"),
        "{}",
        at("-reducer")
    );
    assert!(self::steps(server, &cluster).await.is_empty());
    insta::assert_snapshot!(redact(
        &result.stdout,
        &[
            (&cluster, "[cluster]"),
            (&server.endpoint, "[emr-endpoint]")
        ]
    ));
}
