//! bucketlist end to end: the built binary against a real S3 server on loopback.

use std::collections::HashMap;

use crate::common::{article_bucket, expected_etag, list_bucket, redact_mtimes, run};
use aws_sdk_s3::types::StorageClass;
use campanile::record::ListingRecord;
use campanile_testkit::fixtures;

use crate::common::BUCKETLIST;

fn listing(stdout: &str) -> Vec<ListingRecord> {
    stdout
        .lines()
        .map(|line| ListingRecord::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_article_pipeline_head_lists_00_and_000_00() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let result = run(
        BUCKETLIST,
        &["--bucket", bucket, "--endpoint", &server.endpoint],
        ",00\n",
        server,
        &[],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    let records = listing(&result.stdout);
    let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, vec!["00", "000/00"]);
    assert!(records[0].etag.len() == 32 && !records[0].etag.contains('-'));
    assert!(records[1].etag.ends_with("-3"));
    assert_eq!(records[0].size, 10_240);
    assert_eq!(records[1].size, 20_971_520);
    assert_eq!(result.counter(bucket, "Bytes"), 10_240 + 20_971_520);
    // The records as written: key, ETag, size, mtime (which changes with every upload).
    insta::assert_snapshot!(redact_mtimes(&result.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn part_all_lists_every_object_exactly_once() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let part_file =
        std::fs::read_to_string(crate::common::repo_root().join("var/input/srcbucket/part.all"))
            .expect("read part.all");
    assert_eq!(part_file, fixtures::article_part_file());
    let result = run(
        BUCKETLIST,
        &["--bucket", bucket, "--endpoint", &server.endpoint],
        &part_file,
        server,
        &[],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    let records = listing(&result.stdout);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for record in &records {
        *seen.entry(record.key.as_str()).or_default() += 1;
    }
    let objects = fixtures::article_objects();
    assert_eq!(records.len(), objects.len(), "one line per object");
    let mut total = 0;
    for object in &objects {
        assert_eq!(seen.get(object.key.as_str()), Some(&1), "{}", object.key);
        let record = records
            .iter()
            .find(|r| r.key == object.key)
            .expect("listed");
        assert_eq!(record.size, object.size, "{}", object.key);
        assert_eq!(record.etag, expected_etag(object), "{}", object.key);
        total += object.size;
    }
    // mtime is `YYYY-MM-DD HH:MM:SS`, UTC, and recent
    let year = records[0].mtime[..4].parse::<u32>().expect("year");
    assert!(year >= 2025, "{}", records[0].mtime);
    assert_eq!(
        result.counter(bucket, "Bytes"),
        i64::try_from(total).expect("fits")
    );
    assert_eq!(result.counter(bucket, "Objects"), 257);
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_crosses_pages() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("pages");
    server.create_bucket(&client, &bucket).await;
    let keys: Vec<String> = (0..2_600).map(|i| format!("many/{i:05}")).collect();
    let objects: Vec<fixtures::FixtureObject> = keys
        .iter()
        .map(|key| fixtures::FixtureObject::whole(key.clone(), 1))
        .collect();
    fixtures::upload_all(&client, &bucket, &objects).await;
    fixtures::put_object(&client, &bucket, "other", b"x".to_vec()).await;
    let result = run(
        BUCKETLIST,
        &["--bucket", &bucket, "--endpoint", &server.endpoint],
        ",many/\n",
        server,
        &[],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    let listed: Vec<String> = listing(&result.stdout).into_iter().map(|r| r.key).collect();
    assert_eq!(listed, keys, "every key, once, in order");
    assert_eq!(result.counter(&bucket, "Objects"), 2_600);
}

#[tokio::test(flavor = "multi_thread")]
async fn awkward_keys_survive_the_listing() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("keys");
    server.create_bucket(&client, &bucket).await;
    let keys = [
        "k/with space",
        "k/ünïcödé 日本語 🚀",
        "k/plus+sign",
        "k/percent%20sign%",
        "k/tab\there",
        "k/line\nfeed",
        "k/back\\slash",
        "k/comma,and&amp;<xml>",
    ];
    for key in keys {
        fixtures::put_object(&client, &bucket, key, key.as_bytes().to_vec()).await;
    }
    let result = run(
        BUCKETLIST,
        &["--bucket", &bucket, "--endpoint", &server.endpoint],
        ",k/\n",
        server,
        &[],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.lines().len(), keys.len(), "one line per object");
    let mut listed: Vec<String> = listing(&result.stdout).into_iter().map(|r| r.key).collect();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    // The records as written, in the listing's order: tabs, line feeds and backslashes
    // in keys escaped, everything else as it is.
    insta::assert_snapshot!(redact_mtimes(&result.stdout));
    for record in listing(&result.stdout) {
        assert_eq!(record.size, record.key.len() as u64, "{:?}", record.key);
        assert_eq!(
            record.etag,
            campanile::multipart::single_etag(record.key.as_bytes())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_offset_field_is_dropped_only_in_a_stream() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let args = ["--bucket", bucket, "--endpoint", &server.endpoint];
    // Under NLineInputFormat the line is `<offset>\t/,0`: only top-level keys under 0.
    let streamed = run(
        BUCKETLIST,
        &args,
        "5\t/,0\n",
        server,
        &[
            (
                "mapred_input_format_class",
                "org.apache.hadoop.mapred.lib.NLineInputFormat",
            ),
            ("mapreduce_task_ismap", "true"),
        ],
    );
    assert_eq!(streamed.code, 0, "{}", streamed.stderr);
    let keys: Vec<String> = listing(&streamed.stdout)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys.len(), 16);
    assert!(!keys.contains(&"000/00".to_string()));
    // In a reducer (ismap=false) or a shell the same line is taken as is: delimiter
    // `5\t/`, prefix `0`, so 000/00 is listed too.
    for env in [
        vec![
            (
                "mapred_input_format_class",
                "org.apache.hadoop.mapred.lib.NLineInputFormat",
            ),
            ("mapreduce_task_ismap", "false"),
        ],
        vec![],
    ] {
        let plain = run(BUCKETLIST, &args, "5\t/,0\n", server, &env);
        assert_eq!(plain.code, 0, "{}", plain.stderr);
        let keys: Vec<String> = listing(&plain.stdout).into_iter().map(|r| r.key).collect();
        assert_eq!(keys.len(), 17);
        assert!(keys.contains(&"000/00".to_string()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_part_file_line_exits_2_and_names_the_line() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let result = run(
        BUCKETLIST,
        &["--bucket", bucket, "--endpoint", &server.endpoint],
        "# part file\n/,0\nno-comma-here\n,1\n",
        server,
        &[],
    );
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains("line 3"), "{}", result.stderr);
    assert!(result.stderr.contains("no-comma-here"), "{}", result.stderr);
    assert_eq!(result.stdout, "", "no partial listing");
}

#[tokio::test(flavor = "multi_thread")]
async fn glacier_objects_are_skipped_and_counted() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("glacier");
    server.create_bucket(&client, &bucket).await;
    fixtures::put_object(&client, &bucket, "warm", b"warm".to_vec()).await;
    for (key, class) in [
        ("cold", StorageClass::Glacier),
        ("frozen", StorageClass::DeepArchive),
        ("instant", StorageClass::GlacierIr),
    ] {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .storage_class(class)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"cold"))
            .send()
            .await
            .expect("put archived object");
    }
    let result = run(
        BUCKETLIST,
        &["--bucket", &bucket, "--endpoint", &server.endpoint],
        ",\n",
        server,
        &[],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    // The archived objects leave skip rows (towards the run's report), not records.
    let (rows, records): (Vec<&str>, Vec<&str>) = result
        .stdout
        .lines()
        .partition(|line| campanile::skip::is_row(line));
    let keys: Vec<String> = listing(&records.join("\n"))
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["instant", "warm"]);
    let skipped: Vec<(String, campanile::skip::SkipReason)> = rows
        .iter()
        .map(|row| {
            let row = campanile::skip::Skipped::from_row(row).expect("a skip row");
            (row.key, row.reason)
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("cold".to_string(), campanile::skip::SkipReason::Archived),
            ("frozen".to_string(), campanile::skip::SkipReason::Archived)
        ]
    );
    assert_eq!(result.counter(&bucket, "SkippedArchived"), 2);
    assert!(result.stderr.contains("skipped"), "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_profile_is_a_clear_usage_error() {
    let server = campanile_testkit::s3();
    let home = tempfile::tempdir().expect("tempdir");
    let result = run(
        BUCKETLIST,
        &[
            "--bucket",
            "any",
            "--endpoint",
            &server.endpoint,
            "--profile",
            "nobody",
        ],
        ",\n",
        server,
        &[("HOME", home.path().to_str().expect("utf8"))],
    );
    assert_eq!(result.code, 2, "{}", result.stderr);
    assert!(result.stderr.contains("\"nobody\""), "{}", result.stderr);
    assert_eq!(result.stdout, "");
}

/// The article's sandbox: a task reads the `.boto` in its working directory. Outside
/// a Hadoop task (no attempt id in the environment) that file is not read unless
/// named with `--boto`.
#[tokio::test(flavor = "multi_thread")]
async fn a_boto_profile_in_the_working_directory_is_used_in_a_task_sandbox() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let sandbox = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        sandbox.path().join(".boto"),
        format!(
            "[profile jeff]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            server.access_key, server.secret_key
        ),
    )
    .expect("write .boto");
    let list = |extra: &[&str], env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(BUCKETLIST);
        command
            .args([
                "--bucket",
                bucket,
                "--endpoint",
                &server.endpoint,
                "--profile",
                "jeff",
            ])
            .args(extra)
            .current_dir(sandbox.path())
            .env("HOME", sandbox.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("BOTO_CONFIG")
            .env_remove("mapreduce_task_attempt_id")
            .env_remove("mapred_task_id")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("spawn");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b",00\n").expect("write");
        }
        let output = child.wait_with_output().expect("wait");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).expect("utf8"),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = list(
        &[],
        &[("mapreduce_task_attempt_id", "attempt_1_0001_m_000000_0")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");

    // By hand in the same directory: not read, and the message says how to use it.
    let (code, stdout, stderr) = list(&[], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("\"jeff\"") && stderr.contains("give --boto ./.boto"),
        "{stderr}"
    );

    // -v says so before anything else.
    let (code, _, stderr) = list(&["-v"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("./.boto is not read outside a Hadoop task: give --boto ./.boto"),
        "{stderr}"
    );

    // Named, it is read.
    let (code, stdout, stderr) = list(&["--boto", ".boto"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_ranges_list_every_key_exactly_once() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("ranges");
    server.create_bucket(&client, &bucket).await;
    // Keys on both sides of every bound, bounds that are keys, keys that are prefixes
    // of bounds, a bound holding a TAB, unicode, and a range that crosses pages.
    let mut keys: Vec<String> = (0..1_200).map(|i| format!("flat/{i:05}")).collect();
    keys.extend(
        [
            "!first",
            "a",
            "a\tb",
            "a\tc",
            "ab",
            "abc",
            "b",
            "b/",
            "b/0",
            "c",
            "日本",
            "日本/x",
            "\u{10FFFF}z",
        ]
        .map(String::from),
    );
    let objects: Vec<fixtures::FixtureObject> = keys
        .iter()
        .map(|key| fixtures::FixtureObject::whole(key.clone(), 1))
        .collect();
    fixtures::upload_all(&client, &bucket, &objects).await;
    let bounds = [
        "a",
        "a\\tc",
        "abc",
        "b/",
        "flat/00007",
        "flat/01100",
        "日本",
    ];
    let mut part_file = format!("range\t\t{}\n", bounds[0]);
    for pair in bounds.windows(2) {
        part_file.push_str(&format!("range\t{}\t{}\n", pair[0], pair[1]));
    }
    part_file.push_str(&format!("range\t{}\t\n", bounds[bounds.len() - 1]));
    let result = list_bucket(server, &bucket, &part_file);
    let listed: Vec<String> = listing(&result.stdout).into_iter().map(|r| r.key).collect();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(listed, expected, "every key once, in order");
    // One range alone: its start key included, its end key not.
    let one = list_bucket(server, &bucket, "range\ta\\tc\tb/0\n");
    let listed: Vec<String> = listing(&one.stdout).into_iter().map(|r| r.key).collect();
    assert_eq!(listed, ["a\tc", "ab", "abc", "b", "b/"]);
}
