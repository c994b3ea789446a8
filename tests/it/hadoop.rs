//! The cluster path for real: `rsync --hadoop` and the jobs `campanile verify`,
//! `index` and `map` with `--hadoop` on the single-node Hadoop cluster of
//! `scripts/hadoop-cluster` (HDFS, YARN and Hive as their own processes on 127.0.0.1,
//! started once per test process, S3A pointed at this process's Garage), so that every
//! task runs as a YARN container under Hadoop Streaming, with Hadoop's own attempts,
//! and the diffs run `hive/diff.q` under the real Hive. The tasks read their
//! credentials from the staged `.boto`, as on EMR. The clean-up after a failed step
//! reads the run's lists from HDFS with the real `hadoop fs`. No stand-in for `hadoop`
//! or `hive` is used anywhere.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use campanile_testkit::S3Server;
use campanile_testkit::faults::{FaultPlan, FaultProxy};
use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

/// The environment `scripts/hadoop-cluster start` exports (PATH with `hadoop` and
/// `hive`, HADOOP_CONF_DIR, …).
fn cluster_env() -> &'static Vec<(String, String)> {
    static CLUSTER: OnceLock<Vec<(String, String)>> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        campanile_testkit::hadoop::start(
            &repo_root(),
            &repo_root().join("target/hadoop-cluster"),
            campanile_testkit::s3(),
        )
    })
}

/// Runs a program with the cluster's environment.
fn on_cluster(program: &str, args: &[String], server: &S3Server) -> Run {
    let boto = client_boto(server);
    let mut env: Vec<(&str, &str)> = cluster_env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // rsync itself reaches S3 too (the clean-up after a failed step), with the
    // profiles its user has: the `garage` one, as the staged `.boto` has it.
    env.push(("BOTO_CONFIG", boto));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(program, &args, "", server, &env)
}

/// The cluster's own `hadoop` command, for a library function that starts `hadoop`
/// itself with this process's environment (not the cluster's): a script that runs
/// `$HADOOP_HOME/bin/hadoop` with the environment `scripts/hadoop-cluster` exports.
fn cluster_hadoop() -> &'static std::path::Path {
    use std::os::unix::fs::PermissionsExt;
    static HADOOP: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    &HADOOP
        .get_or_init(|| {
            let quoted = |value: &str| format!("'{}'", value.replace('\'', r"'\''"));
            let mut script = String::from("#!/bin/sh\n");
            let mut home = None;
            for (name, value) in cluster_env() {
                script.push_str(&format!("export {name}={}\n", quoted(value)));
                if name == "HADOOP_HOME" {
                    home = Some(value.clone());
                }
            }
            let home = home.expect("HADOOP_HOME in the cluster's environment");
            script.push_str(&format!("exec {}/bin/hadoop \"$@\"\n", quoted(&home)));
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("hadoop");
            std::fs::write(&path, script).expect("write the hadoop command");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            (dir, path)
        })
        .1
}

/// A `.boto` with the `garage` profile for the rsync client (made once).
fn client_boto(server: &S3Server) -> &'static str {
    static BOTO: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    &BOTO
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(".boto");
            std::fs::write(&path, garage_profile(server)).expect("write .boto");
            let path = path.to_str().expect("utf8").to_string();
            (dir, path)
        })
        .1
}

/// A `.boto` text with the `garage` profile of `server`'s keys.
fn garage_profile(server: &S3Server) -> String {
    format!(
        "[profile garage]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        server.access_key, server.secret_key
    )
}

/// A code bucket staged by campanile-stage (the task binaries, diff.q, campanile.cfg
/// and a `.boto` with the `garage` profile), with `part_file` as its input.
#[derive(Clone)]
struct Code {
    bucket: String,
    prefix: String,
    input: String,
}

async fn stage_code(server: &S3Server, client: &aws_sdk_s3::Client, part_file: &str) -> Code {
    let bucket = campanile_testkit::unique_bucket("hadoop-code");
    server.create_bucket(client, &bucket).await;
    let work = tempfile::tempdir().expect("tempdir");
    let boto = work.path().join(".boto");
    std::fs::write(&boto, garage_profile(server)).expect("write .boto");
    // The binaries EMR nodes get (scripts/build-emr): stripped release builds, which
    // also run on this machine, staged as they would be for a real cluster.
    let bin_dir = repo_root().join("dist/bin/x86_64");
    assert!(
        bin_dir.join("objectcopy").is_file(),
        "{} has no task binaries: run scripts/build-emr (scripts/test does)",
        bin_dir.display()
    );
    let prefix = format!("s3://{bucket}/campanile");
    let staged = run(
        env!("CARGO_BIN_EXE_campanile-stage"),
        &[
            "--code",
            &prefix,
            "--credentials",
            boto.to_str().expect("utf8"),
            "--bin-dir",
            bin_dir.to_str().expect("utf8"),
            "--endpoint",
            &server.endpoint,
            // Garage has no public access block API; the tasks here use keys.
            "--no-public-access-check",
        ],
        "",
        server,
        &[],
    );
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    fixtures::put_object(
        client,
        &bucket,
        "input/part.hadoop",
        part_file.as_bytes().to_vec(),
    )
    .await;
    Code {
        input: format!("s3://{bucket}/input/part.hadoop"),
        bucket,
        prefix,
    }
}

/// The runner's flags every cluster run of these tests gives: the staged code, its
/// part file as input, the job output under `--output` in the code bucket, one map per
/// step (`--lines-per-map`, so that the test pays Hadoop's per-task cost once per
/// step), two task slots (this cluster's: the listings' reduce tasks) and the step
/// reports as JSON.
fn runner_args(code: &Code) -> Vec<String> {
    [
        "--hadoop",
        "--input",
        &code.input,
        "--code",
        &code.prefix,
        "--output",
        &format!("s3://{}/output", code.bucket),
        "--lines-per-map",
        "1000",
        "--task-slots",
        "2",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A job on the cluster: `command` (the program, then its job word, as `campanile
/// verify`), the runner's flags ([`runner_args`]), then `args` (locations, endpoints,
/// profiles, the job's own flags).
fn hadoop_job(server: &S3Server, code: &Code, command: &[&str], args: &[&str]) -> Run {
    let (program, job) = command.split_first().expect("a program");
    let all: Vec<String> = job
        .iter()
        .map(|s| s.to_string())
        .chain(runner_args(code))
        .chain(args.iter().map(|s| s.to_string()))
        .collect();
    on_cluster(program, &all, server)
}

/// [`hadoop_job`] off the async runtime (the proxy of a test runs on it).
async fn job_on_hadoop(
    server: &'static S3Server,
    code: &Code,
    command: &[&str],
    args: &[&str],
) -> Run {
    let code = code.clone();
    let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hadoop_job(server, &code, &command, &args)
    })
    .await
    .expect("the job's runner")
}

/// `rsync --hadoop` from `src` to `dst` (tasks reaching the destination through
/// `dst_endpoint`), with the `garage` profile on both sides.
async fn rsync_on_hadoop(
    server: &'static S3Server,
    code: &Code,
    (src, dst): (&str, &str),
    dst_endpoint: &str,
    extra: &[&str],
) -> Run {
    let mut args = vec![
        "--src-bucket",
        src,
        "--dst-bucket",
        dst,
        "--src-endpoint",
        &server.endpoint,
        "--dst-endpoint",
        dst_endpoint,
        "--src-profile",
        "garage",
        "--dst-profile",
        "garage",
    ];
    args.extend_from_slice(extra);
    job_on_hadoop(server, code, &[RSYNC], &args).await
}

/// A run id no earlier test run used: the run directory lives in the cluster's HDFS,
/// which outlives a test process.
fn fresh_uuid(tag: &str) -> String {
    campanile_testkit::unique_bucket(tag)
}

#[tokio::test(flavor = "multi_thread")]
async fn rsync_on_hadoop_copies_the_bucket_identically_and_diff_recopies_only_the_change() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "hadoop").await;
    let objects = fixtures::article_objects();
    fixtures::upload_all(&client, &src, &objects).await;
    // The article's layout in two lines: every key at the root (deeper ones are rolled
    // up by the delimiter), then everything under 000/; and a third line that lists
    // the 16 keys 10..1f again (no check on a cluster): the listing's reducer keeps
    // each key once, so the multipart "10" gets one upload and the copy succeeds.
    let code = stage_code(server, &client, "/,\n,000/\n,1\n").await;

    let first_uuid = fresh_uuid("first");
    let first = rsync_on_hadoop(
        server,
        &code,
        (&src, &dst),
        &server.endpoint,
        &["--diff", "--uuid", &first_uuid],
    )
    .await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    // Hadoop's counters for the jobs, the Campanile groups among them, equal the bucket.
    let first_reports = reports(&first);
    let total = i64::try_from(objects.iter().map(|o| o.size).sum::<u64>()).expect("fits");
    let twice: Vec<&FixtureObject> = objects
        .iter()
        .filter(|o| o.key.starts_with('1') && !o.key.contains('/'))
        .collect();
    let twice_bytes = i64::try_from(twice.iter().map(|o| o.size).sum::<u64>()).expect("fits");
    assert_eq!(twice.len(), 16);
    assert_eq!(
        counter(&first_reports, &format!("list.{src}."), &src, "Objects"),
        257 + 16
    );
    assert_eq!(
        counter(&first_reports, &format!("list.{src}."), &src, "Bytes"),
        total + twice_bytes
    );
    assert_eq!(
        counter(
            &first_reports,
            &format!("list.{src}."),
            &src,
            "DuplicateKeys"
        ),
        16
    );
    // Every step of the --diff plan ran on the cluster, in order.
    let steps: Vec<&str> = first_reports
        .iter()
        .filter_map(|r| r["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            format!("list.{src}.part.hadoop"),
            format!("list.{dst}.part.hadoop"),
            format!("hive.{src}.part.hadoop"),
            format!("mlist.{src}.part.hadoop"),
            format!("copy.{src}.part.hadoop"),
        ]
    );
    assert_eq!(counter(&first_reports, "copy.", &dst, "InputBytes"), total);
    assert_eq!(counter(&first_reports, "copy.", &dst, "Objects"), 255);
    assert_eq!(counter(&first_reports, "copy.", &dst, "Uploads"), 2);
    // The summary, from the same counters as on the local runner; the paths as JSON.
    let summary = summary(&first);
    assert_eq!(summary["objects"], 257);
    assert_eq!(summary["multipart_objects"], 2);
    assert_eq!(summary["bytes"], total);
    assert_eq!(summary["listed"]["objects"], 257 + 16);
    assert_eq!(summary["skipped"]["archived"], 0);
    let output = format!("s3://{}/output/part.hadoop.{first_uuid}", code.bucket);
    assert_eq!(run_paths(&first)["output"], output.as_str());
    assert_eq!(summary["paths"]["output"], output.as_str());
    assert!(
        first.stderr.contains("summary: 257 objects copied"),
        "{}",
        first.stderr
    );
    // The job output (the part map) is on S3, gzip, one line per copied part.
    let part_map = format!("output/part.hadoop.{first_uuid}/part-00000.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body(&client, &code.bucket, &part_map).await[..])
        .read_to_string(&mut text)
        .expect("gunzip the part map");
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        keys(&client, &code.bucket)
            .await
            .contains(&format!("output/part.hadoop.{first_uuid}/_SUCCESS"))
    );

    // The article's change: fe overwritten, fff created; the diff copies those two.
    fixtures::put_object(&client, &src, "fe", b"changed fe".to_vec()).await;
    fixtures::put_object(&client, &src, "fff", b"new fff".to_vec()).await;
    let second = rsync_on_hadoop(
        server,
        &code,
        (&src, &dst),
        &server.endpoint,
        &["--diff", "--uuid", &fresh_uuid("second")],
    )
    .await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let second_reports = reports(&second);
    assert_eq!(counter(&second_reports, "copy.", &dst, "Objects"), 2);
    assert_eq!(counter(&second_reports, "copy.", &dst, "Uploads"), 0);
    for key in ["fe", "fff"] {
        assert_same_object(&client, &src, &dst, key).await;
    }
    assert_eq!(keys(&client, &dst).await.len(), 258);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_objectcopy_attempt_killed_mid_copy_is_retried_by_hadoop() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "hkill").await;
    let mib = 1024 * 1024;
    let mut objects: Vec<FixtureObject> = (0..6)
        .map(|i| FixtureObject::whole(format!("small/{i}"), 1000 + i))
        .collect();
    objects.push(FixtureObject::multipart("multi", 11 * mib, 5 * mib));
    fixtures::upload_all(&client, &src, &objects).await;
    let code = stage_code(server, &client, ",\n").await;
    // The tasks reach the destination through a proxy whose hook kills every objectcopy
    // process of this test once the server has answered its third write.
    let proxy = FaultProxy::start(&server.endpoint, FaultPlan::none())
        .await
        .expect("proxy");
    let writes = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(Mutex::new(0u64));
    proxy.set_hook(Arc::new({
        let (writes, killed, marker) = (writes.clone(), killed.clone(), dst.clone());
        move |exchange| {
            if exchange.method == "PUT"
                && !exchange.probe
                && writes.fetch_add(1, Ordering::SeqCst) + 1 == 3
            {
                let mut killed = killed.lock().unwrap_or_else(|p| p.into_inner());
                *killed += kill_tasks("objectcopy", &marker);
            }
        }
    }));
    let endpoint = proxy.endpoint();
    let result = rsync_on_hadoop(
        server,
        &code,
        (&src, &dst),
        &endpoint,
        &["--uuid", &fresh_uuid("kill")],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(
        *killed.lock().unwrap_or_else(|p| p.into_inner()) >= 1,
        "no objectcopy process was killed"
    );
    let reports = reports(&result);
    assert!(
        counter(&reports, "copy.", "Job Counters", "Failed map tasks") >= 1,
        "Hadoop counted no failed attempt: {reports:?}"
    );
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
}

/// A copy step that fails for good on the cluster (every UploadPart refused, so every
/// objectcopy attempt fails and Hadoop gives the job up) is followed by rsync's
/// clean-up: the upload multipartlist created is aborted, nothing stays in progress,
/// and the run exits 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_copy_on_hadoop_leaves_no_upload_in_progress() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "hfail").await;
    let mib = 1024 * 1024;
    let objects = [
        FixtureObject::whole("small", 1000),
        FixtureObject::multipart("multi", 11 * mib, 5 * mib),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    let code = stage_code(server, &client, ",\n").await;
    // The destination refuses every UploadPart (403, permanent): CreateMultipartUpload
    // goes through, so the failed copy leaves the upload behind unless cleaned up.
    let proxy = FaultProxy::start(
        &server.endpoint,
        FaultPlan {
            deny: Some(("PUT", "partNumber=")),
            ..FaultPlan::none()
        },
    )
    .await
    .expect("proxy");
    let denied = Arc::new(AtomicU64::new(0));
    proxy.set_hook(Arc::new({
        let denied = denied.clone();
        move |exchange| {
            if exchange.method == "PUT" && exchange.target.contains("partNumber=") {
                denied.fetch_add(1, Ordering::SeqCst);
            }
        }
    }));
    let endpoint = proxy.endpoint();
    let result = rsync_on_hadoop(
        server,
        &code,
        (&src, &dst),
        &endpoint,
        &["--uuid", &fresh_uuid("fail")],
    )
    .await;
    assert_eq!(result.code, 1, "{}", result.stderr);
    // Hadoop tried every attempt (each refused at its first part).
    assert!(
        denied.load(Ordering::SeqCst) >= 2,
        "UploadParts refused: {}",
        denied.load(Ordering::SeqCst)
    );
    // rsync's own lines (not Hadoop's log lines, which start with a date).
    let said: Vec<&str> = result
        .stderr
        .lines()
        .filter(|line| !line.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(uploads_in_progress(&client, &dst).await, 0, "{said:#?}");
    assert!(
        said.iter()
            .any(|line| line.contains("aborted 1 multipart upload(s)")),
        "{said:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_q_under_hive_gives_the_native_diffs_rows() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("hive-diff");
    server.create_bucket(&client, &bucket).await;
    // Listing rows as bucketlist writes them: keys with a space, unicode, a literal
    // `\N` (escaped `\\N`), an escaped TAB; ETags changed, missing and equal.
    let src = "a key with spaces\te1\t1\t2026-11-30 07:00:00\n\
               ünï/cødé\te2\t2\t2026-11-30 07:00:00\n\
               \\\\N\te3\t3\t2026-11-30 07:00:00\n\
               x\\ty\te4\t4\t2026-11-30 07:00:00\n\
               same\te5\t5\t2026-11-30 07:00:00\n\
               changed\te6\t6\t2026-11-30 07:00:00\n\
               frozen\te8\t8\tskipped:archived:storage class DEEP_ARCHIVE needs a restore\n\
               cold-but-copied\te9\t9\tskipped:archived:storage class GLACIER needs a restore\n";
    // Skip rows (objects bucketlist left out) go through the same join: reported
    // unless the destination holds the object with the same ETag; the destination's
    // own are never output.
    let dst = "\\\\N\te3\t3\t2026-11-30 07:00:00\n\
               same\te5\t5\t2026-11-30 07:00:00\n\
               changed\tother\t6\t2026-11-30 07:00:00\n\
               only-in-dst\te7\t7\t2026-11-30 07:00:00\n\
               cold-but-copied\te9\t9\t2026-11-30 07:00:00\n\
               frozen-in-dst\te10\t10\tskipped:archived:storage class GLACIER needs a restore\n";
    fixtures::put_object(&client, &bucket, "src/part-00000", src.as_bytes().to_vec()).await;
    fixtures::put_object(&client, &bucket, "dst/part-00000", dst.as_bytes().to_vec()).await;
    let hive = tokio::task::spawn_blocking({
        let bucket = bucket.clone();
        move || {
            let script = repo_root().join("hive/diff.q");
            on_cluster(
                "hive",
                &[
                    "-f".to_string(),
                    script.display().to_string(),
                    "-d".to_string(),
                    format!("SRC=s3://{bucket}/src/"),
                    "-d".to_string(),
                    format!("DST=s3://{bucket}/dst/"),
                    "-d".to_string(),
                    format!("DIFF=s3://{bucket}/diff/"),
                ],
                server,
            )
        }
    })
    .await
    .expect("hive");
    assert_eq!(hive.code, 0, "{}", hive.stderr);
    let mut hive_rows = Vec::new();
    for key in keys(&client, &bucket).await {
        let name = key.rsplit('/').next().unwrap_or_default();
        if key.starts_with("diff/") && !name.starts_with(['_', '.']) {
            let text = String::from_utf8(body(&client, &bucket, &key).await).expect("utf8");
            hive_rows.extend(text.lines().map(str::to_string));
        }
    }
    hive_rows.sort();

    let work = tempfile::tempdir().expect("tempdir");
    for (name, text) in [("src", src), ("dst", dst)] {
        std::fs::create_dir(work.path().join(name)).expect("mkdir");
        std::fs::write(work.path().join(name).join("part-00000"), text).expect("write");
    }
    let step = campanile::plan::DiffStep {
        name: "diff".into(),
        script: String::new(),
        src: work.path().join("src").display().to_string(),
        dst: work.path().join("dst").display().to_string(),
        diff: work.path().join("diff").display().to_string(),
    };
    campanile::plan::local::diff::run_diff(&step, &work.path().join("step"), 1 << 20)
        .expect("native diff");
    let native = std::fs::read_to_string(work.path().join("diff/part-00000")).expect("read");
    let mut native_rows: Vec<String> = native.lines().map(str::to_string).collect();
    native_rows.sort();

    assert_eq!(hive_rows, native_rows);
    assert_eq!(
        native_rows,
        // Each row but the skip row ends with dstEtag: the destination's ETag, or `-`.
        vec![
            "a key with spaces\te1\t1\t2026-11-30 07:00:00\t-",
            "changed\te6\t6\t2026-11-30 07:00:00\tother",
            "frozen\te8\t8\tskipped:archived:storage class DEEP_ARCHIVE needs a restore",
            "x\\ty\te4\t4\t2026-11-30 07:00:00\t-",
            "ünï/cødé\te2\t2\t2026-11-30 07:00:00\t-",
        ]
    );
}

/// The JSON line of a run whose one key is `name` (`{"verify":{…}}`, …).
fn line_named(run: &Run, name: &str) -> serde_json::Value {
    json_lines(run)
        .into_iter()
        .find_map(|mut line| line.get_mut(name).map(serde_json::Value::take))
        .unwrap_or_else(|| panic!("no {name} line:\n{}\n{}", run.stdout, run.stderr))
}

/// The text of the `part-*` files under `prefix` in `bucket`, in name order.
async fn part_files(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> String {
    let mut names: Vec<String> = keys(client, bucket)
        .await
        .into_iter()
        .filter(|key| {
            key.strip_prefix(prefix)
                .is_some_and(|name| name.starts_with("part-"))
        })
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no part file under s3://{bucket}/{prefix}"
    );
    let mut text = String::new();
    for name in names {
        let bytes = body(client, bucket, &name).await;
        if name.ends_with(".gz") {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .expect("gunzip");
        } else {
            text.push_str(&String::from_utf8(bytes).expect("utf8"));
        }
    }
    text
}

/// `campanile verify --hadoop`: the source holds a, b and c; the destination a (the
/// same bytes), b (other bytes) and d (which the source lacks); c is missing there.
/// Every step of the plan runs on the cluster (both listings, the swapped diff under
/// Hive, objectverify --extra, objectverify), the rows of both objectverify outputs
/// are gathered from S3A into `<output>/<part file>.<uuid>.verify/_verify.jsonl`, the
/// summary counts each kind and the run exits 3.
#[tokio::test(flavor = "multi_thread")]
async fn verify_on_hadoop_reports_each_difference_and_exits_3() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "hverify").await;
    for key in ["a", "b", "c"] {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, 700)).await;
    }
    fixtures::put_object(&client, &dst, "a", fixtures::fixture_bytes("a", 700)).await;
    fixtures::put_object(&client, &dst, "b", b"other bytes".to_vec()).await;
    fixtures::put_object(&client, &dst, "d", b"at the destination only".to_vec()).await;
    let code = stage_code(server, &client, ",\n").await;
    let uuid = fresh_uuid("verify");
    let (source, target) = (format!("s3://{src}"), format!("s3://{dst}"));
    let ran = job_on_hadoop(
        server,
        &code,
        &[CAMPANILE, "verify"],
        &[
            &source,
            &target,
            "--src-endpoint",
            &server.endpoint,
            "--dst-endpoint",
            &server.endpoint,
            "--src-profile",
            "garage",
            "--dst-profile",
            "garage",
            "--uuid",
            &uuid,
        ],
    )
    .await;
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let steps = reports(&ran);
    let names: Vec<&str> = steps.iter().filter_map(|r| r["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            format!("list.{src}.part.hadoop"),
            format!("list.{dst}.part.hadoop"),
            format!("hive.extra.{dst}.part.hadoop"),
            format!("extra.{src}.part.hadoop"),
            format!("verify.{src}.part.hadoop"),
        ]
    );
    // Hadoop's counters of the tasks.
    assert_eq!(counter(&steps, "verify.", "Verify", "Identical"), 1);
    assert_eq!(counter(&steps, "verify.", "Verify", "Changed"), 1);
    assert_eq!(counter(&steps, "verify.", "Verify", "Missing"), 1);
    assert_eq!(counter(&steps, "extra.", "Verify", "Extra"), 1);
    let summary = line_named(&ran, "verify");
    for (kind, count) in [
        ("identical", 1),
        ("changed", 1),
        ("missing", 1),
        ("extra", 1),
        ("metadata_drift", 0),
        ("unverifiable", 0),
        ("not_identical", 3),
    ] {
        assert_eq!(summary[kind], count, "{kind}: {summary}");
    }
    let base = format!("output/part.hadoop.{uuid}.verify");
    let report = format!("s3://{}/{base}/_verify.jsonl", code.bucket);
    assert_eq!(summary["report"], report.as_str(), "{summary}");
    assert!(ran.stderr.contains(&report), "{}", ran.stderr);
    // The report, read from S3: the extra keys' step ran first, then the comparison
    // (its rows in the order its concurrent HEADs ended).
    let written =
        String::from_utf8(body(&client, &code.bucket, &format!("{base}/_verify.jsonl")).await)
            .expect("utf8");
    let rows: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    let kind = |r: &serde_json::Value| {
        (
            r["key"].as_str().expect("key").to_string(),
            r["kind"].as_str().expect("kind").to_string(),
        )
    };
    assert_eq!(rows.len(), 3, "{written}");
    assert_eq!(kind(&rows[0]), ("d".into(), "extra".into()), "{written}");
    let mut compared: Vec<(String, String)> = rows[1..].iter().map(kind).collect();
    compared.sort();
    assert_eq!(
        compared,
        [
            ("b".to_string(), "changed".to_string()),
            ("c".to_string(), "missing".to_string())
        ]
    );
    let row = |key: &str| {
        rows.iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no row {key}: {written}"))
    };
    assert_eq!(row("b")["dst"]["size"], 11, "{}", row("b"));
    assert_eq!(row("c")["src"]["size"], 700, "{}", row("c"));
    assert!(row("c").get("dst").is_none(), "{}", row("c"));
}

/// `campanile index --hadoop` over a small bucket: the listing and objectindex run on
/// the cluster, the rows stay in the job output on S3 (`<output>/<part file>.<uuid>`),
/// one per object with its key, size and ETag, and the index summary counts them.
#[tokio::test(flavor = "multi_thread")]
async fn index_on_hadoop_writes_one_row_per_object_to_the_job_output() {
    let server = campanile_testkit::s3();
    let (client, src, _) = fresh_buckets(server, "hindex").await;
    let objects = [("a", 10u64), ("dir/b c", 2000), ("empty", 0)];
    for (key, size) in objects {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, size)).await;
    }
    let code = stage_code(server, &client, ",\n").await;
    let uuid = fresh_uuid("index");
    let work = tempfile::tempdir().expect("tempdir");
    let table = work.path().join("index.csv");
    let ran = job_on_hadoop(
        server,
        &code,
        &[CAMPANILE, "index"],
        &[
            &format!("s3://{src}"),
            "--src-endpoint",
            &server.endpoint,
            "--src-profile",
            "garage",
            "--uuid",
            &uuid,
            "--to",
            table.to_str().expect("utf-8 path"),
        ],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    // The table, made from the rows read back from the cluster's job output: one row
    // per object, in key order, as a local run writes it.
    let csv_text = std::fs::read_to_string(&table).expect("the table");
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        campanile::rsync::index::COLUMNS
    );
    let table_rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("a CSV record");
            (r[0].to_string(), r[1].to_string(), r[2].to_string())
        })
        .collect();
    let expected: Vec<(String, String, String)> = objects
        .iter()
        .map(|(key, size)| (src.clone(), key.to_string(), size.to_string()))
        .collect();
    assert_eq!(table_rows, expected, "{csv_text}");
    let names: Vec<String> = reports(&ran)
        .iter()
        .filter_map(|r| r["step"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        names,
        [
            format!("list.{src}.part.hadoop"),
            format!("index.{src}.part.hadoop"),
        ]
    );
    let summary = line_named(&ran, "index_summary");
    assert_eq!(summary["objects"], 3, "{summary}");
    assert_eq!(summary["heads"], 3, "{summary}");
    assert_eq!(summary["bytes"], 2010, "{summary}");
    let output = format!("output/part.hadoop.{uuid}/");
    assert_eq!(
        run_paths(&ran)["output"],
        format!("s3://{}/{}", code.bucket, output.trim_end_matches('/')).as_str()
    );
    let text = part_files(&client, &code.bucket, &output).await;
    let mut rows: Vec<campanile::task::objectindex::IndexRow> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            campanile::task::objectindex::IndexRow::parse(line)
                .unwrap_or_else(|e| panic!("{line:?}: {e}"))
        })
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(rows.len(), objects.len(), "{text}");
    for (row, (key, size)) in rows.iter().zip(objects) {
        let etag = client
            .head_object()
            .bucket(&src)
            .key(key)
            .send()
            .await
            .expect("head")
            .e_tag()
            .expect("etag")
            .trim_matches('"')
            .to_string();
        assert_eq!(
            (
                row.bucket.as_str(),
                row.key.as_str(),
                row.size,
                row.etag.as_str()
            ),
            (src.as_str(), key, size, etag.as_str())
        );
    }
}

/// `campanile map --hadoop` with `--output-template`: objectmap runs `tr a-z A-Z` on
/// the cluster once per object, each object's output is written to its key in the
/// destination bucket, the job output names where each went, and the summary counts
/// the objects mapped. The command fails on `bad`: Hadoop retries the task (its
/// `mapreduce.map.maxattempts`, exported to the task), and the last attempt reports
/// `bad` in the skip report instead of failing, so the run exits 3 with every other
/// object mapped.
#[tokio::test(flavor = "multi_thread")]
async fn map_on_hadoop_writes_each_objects_output_to_its_key() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "hmap").await;
    let objects = [("a", 100u64), ("dir/b c", 2500), ("empty", 0)];
    for (key, size) in objects.iter().copied().chain([("bad", 10)]) {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, size)).await;
    }
    let code = stage_code(server, &client, ",\n").await;
    let uuid = fresh_uuid("map");
    let ran = job_on_hadoop(
        server,
        &code,
        &[CAMPANILE, "map"],
        &[
            &format!("s3://{src}"),
            "--command",
            r#"if [ "$CAMPANILE_KEY" = bad ]; then echo "bad is $mapreduce_task_attempt_id" >&2; exit 5; fi; tr a-z A-Z"#,
            "--output-template",
            &format!("s3://{dst}/upper/{{key}}.txt"),
            "--src-endpoint",
            &server.endpoint,
            "--dst-endpoint",
            &server.endpoint,
            "--src-profile",
            "garage",
            "--dst-profile",
            "garage",
            "--uuid",
            &uuid,
        ],
    )
    .await;
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let steps = reports(&ran);
    let names: Vec<&str> = steps.iter().filter_map(|r| r["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            format!("list.{src}.part.hadoop"),
            format!("map.{src}.part.hadoop"),
        ]
    );
    let mut written = keys(&client, &dst).await;
    written.sort();
    assert_eq!(
        written,
        ["upper/a.txt", "upper/dir/b c.txt", "upper/empty.txt"]
    );
    for (key, size) in objects {
        let expected = fixtures::fixture_bytes(key, size).to_ascii_uppercase();
        assert_eq!(
            body(&client, &dst, &format!("upper/{key}.txt")).await,
            expected,
            "{key}"
        );
    }
    let done = summary(&ran);
    assert_eq!(done["map"]["mapped"], 3, "{done}");
    assert_eq!(done["map"]["failed"], 1, "{done}");
    assert_eq!(done["map"]["input_bytes"], 2600, "{done}");
    assert_eq!(done["skipped"]["command_failed"], 1, "{done}");
    // Hadoop ran the task's 4 attempts: 3 failed, the last one committed.
    assert_eq!(
        counter(&steps, "map.", "Job Counters", "Failed map tasks"),
        3,
        "{}",
        ran.stdout
    );
    assert_eq!(done["failed"]["attempts"], 3, "{done}");
    // The skip report, next to the job output on S3: `bad`, the exit code and what
    // the command said on its last attempt (number 3).
    let report = done["paths"]["skip_report"]
        .as_str()
        .expect("a skip report")
        .to_string();
    let report_key = report
        .strip_prefix(&format!("s3://{}/", code.bucket))
        .unwrap_or_else(|| panic!("{report} is not in the code bucket"));
    let text = String::from_utf8(body(&client, &code.bucket, report_key).await).expect("utf-8");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON row"))
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0]["key"], "bad");
    assert_eq!(rows[0]["reason"], "command_failed");
    let detail = rows[0]["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("exit code 5: bad is attempt_") && detail.ends_with("_3"),
        "{detail}"
    );
    // The job output on S3: one line per object mapped, where its output went, and
    // the skip row of `bad`.
    let mut lines: Vec<String> = part_files(
        &client,
        &code.bucket,
        &format!("output/part.hadoop.{uuid}/"),
    )
    .await
    .lines()
    .map(str::to_string)
    .collect();
    lines.sort();
    let (skip_rows, lines): (Vec<String>, Vec<String>) =
        lines.into_iter().partition(|l| campanile::skip::is_row(l));
    assert_eq!(skip_rows.len(), 1, "{skip_rows:?}");
    assert!(skip_rows[0].starts_with("bad\t"), "{skip_rows:?}");
    assert_eq!(
        lines,
        [
            format!("a\ts3://{dst}/upper/a.txt\t100"),
            format!("dir/b c\ts3://{dst}/upper/dir/b c.txt\t2500"),
            format!("empty\ts3://{dst}/upper/empty.txt\t0"),
        ]
    );
}

/// The clean-up `rsync --hadoop` runs after a failed step reads the run's listing and
/// part list from the cluster's HDFS with the real `hadoop fs -text`: an upload
/// multipartlist created for each multipart object of the listing (a whole object
/// has none) is finished (aborted: none of its parts was copied); a run whose listing
/// was never written (its listing step failed) has no upload to clean up. The whole
/// failed run, a step failing on the cluster and then this clean-up, is
/// `a_failed_copy_on_hadoop_leaves_no_upload_in_progress`.
#[tokio::test(flavor = "multi_thread")]
async fn the_clean_up_after_a_failed_step_reads_the_runs_lists_from_hdfs() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "hclean").await;
    let mib = 1024 * 1024;
    let objects = [
        FixtureObject::whole("whole", 1000),
        FixtureObject::multipart("multi/1", 5 * mib + 1, 5 * mib),
        FixtureObject::multipart("multi/2", 5 * mib + 2, 5 * mib),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    let listing = list_bucket(server, &src, ",\n");
    let parts = stage(
        MULTIPARTLIST,
        &src_dst_args(server, &src, &dst),
        &listing.stdout,
        server,
    );
    assert_eq!(parts.code, 0, "{}", parts.stderr);
    assert_eq!(uploads_in_progress(&client, &dst).await, 2);
    // The run's lists in HDFS, as the listing and multipartlist steps leave them.
    let work = tempfile::tempdir().expect("tempdir");
    for (dir, text) in [
        ("src.list", &listing.stdout),
        ("src.multipartlist", &parts.stdout),
    ] {
        let dir = work.path().join("run").join(dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("part-00000"), text).expect("write part");
    }
    let run_dir = format!("/{}", fresh_uuid("hclean"));
    let hadoop = cluster_hadoop();
    let put = tokio::task::spawn_blocking({
        let (local, run_dir) = (work.path().join("run"), run_dir.clone());
        move || {
            std::process::Command::new(hadoop)
                .args(["fs", "-put"])
                .arg(local)
                .arg(run_dir)
                .output()
                .expect("hadoop fs -put")
        }
    })
    .await
    .expect("put");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let scope = campanile::plan::UploadScope {
        bucket: dst.clone(),
        endpoint: server.endpoint.clone(),
        profile: None,
        objects: format!("{run_dir}/src.list"),
        parts: format!("{run_dir}/src.multipartlist"),
        src_prefix: String::new(),
        dst_prefix: String::new(),
    };
    let mut err = Vec::new();
    let missing = campanile::plan::UploadScope {
        objects: format!("{run_dir}/nothing.list"),
        ..scope.clone()
    };
    campanile::rsync::hadoop::clean_up_cluster_uploads(hadoop, &missing, &client, &mut err)
        .await
        .expect("nothing to clean up");
    assert_eq!(uploads_in_progress(&client, &dst).await, 2);
    campanile::rsync::hadoop::clean_up_cluster_uploads(hadoop, &scope, &client, &mut err)
        .await
        .expect("clean up");
    let said = String::from_utf8_lossy(&err);
    assert!(said.contains("no multipart upload to clean up"), "{said}");
    assert!(said.contains("aborted 2 multipart upload(s)"), "{said}");
    assert_eq!(uploads_in_progress(&client, &dst).await, 0, "{said}");
}

/// `campanile restore --hadoop`, the source on moto (Garage has no storage classes and
/// no RestoreObject; the code and the job output stay on the Garage S3A reads):
/// `cold/a` GLACIER and `cold/b` DEEP_ARCHIVE get their restore requested by the
/// YARN tasks, `cold/done` (restored already) is counted and not asked again,
/// `warm/c` STANDARD is left out by the listing; the job output on S3 has one outcome
/// per archived object.
#[tokio::test(flavor = "multi_thread")]
async fn restore_on_hadoop_requests_exactly_the_archived_objects_that_need_it() {
    use aws_sdk_s3::types::StorageClass;
    let garage = campanile_testkit::s3();
    let moto = campanile_testkit::moto();
    let (archive, src, _) = fresh_buckets(moto, "hrestore").await;
    for (key, class) in [
        ("cold/a", StorageClass::Glacier),
        ("cold/b", StorageClass::DeepArchive),
        ("cold/done", StorageClass::Glacier),
        ("warm/c", StorageClass::Standard),
    ] {
        archive
            .put_object()
            .bucket(&src)
            .key(key)
            .storage_class(class)
            .body(format!("bytes of {key}").into_bytes().into())
            .send()
            .await
            .expect("put");
    }
    archive
        .restore_object()
        .bucket(&src)
        .key("cold/done")
        .restore_request(aws_sdk_s3::types::RestoreRequest::builder().days(1).build())
        .send()
        .await
        .expect("restore cold/done");
    let client = garage.client().await;
    let code = stage_code(garage, &client, ",\n").await;
    let uuid = fresh_uuid("restore");
    let ran = job_on_hadoop(
        garage,
        &code,
        &[CAMPANILE, "restore"],
        &[
            &format!("s3://{src}"),
            "--src-endpoint",
            &moto.endpoint,
            "--src-profile",
            "garage",
            "--tier",
            "Bulk",
            "--days",
            "3",
            "--uuid",
            &uuid,
        ],
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let done = summary(&ran);
    assert_eq!(done["restore"]["requested"], 2, "{done}");
    assert_eq!(done["restore"]["restored"], 1, "{done}");
    for key in ["cold/a", "cold/b"] {
        let header = archive
            .head_object()
            .bucket(&src)
            .key(key)
            .send()
            .await
            .expect("head")
            .restore()
            .map(str::to_string);
        assert!(
            header
                .as_deref()
                .is_some_and(|h| h.contains("ongoing-request")),
            "{key}: {header:?}"
        );
    }
    let text = part_files(
        &client,
        &code.bucket,
        &format!("output/part.hadoop.{uuid}/"),
    )
    .await;
    let mut rows: Vec<String> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            format!("{} {}", fields[0], fields[fields.len() - 1])
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        ["cold/a requested", "cold/b requested", "cold/done restored"],
        "{text}"
    );
}

/// `rsync --all-versions --hadoop`, both buckets versioned on moto (Garage has no
/// versioning; the code and the job output stay on the Garage S3A reads): `doc` has
/// a small version, a multipart one (two parts) and a small one again; `gone` a
/// version then a delete marker; `dir/a b` (a key with a space) two versions; `keep`
/// one. The listing and the copy run as YARN tasks, and the destination's
/// ListObjectVersions of each key reads the source's ETags, sizes and delete markers
/// in the source's order (versions a second apart: moto's LastModified has whole
/// seconds). A second run writes nothing. `--version-at` a time after the first
/// versions copies each key as it stood then into an unversioned bucket.
#[tokio::test(flavor = "multi_thread")]
async fn all_versions_on_hadoop_copy_each_keys_history_in_order_once() {
    use crate::versions::{MIB, enable_versioning, history, now_rfc3339};
    use std::time::Duration;
    let garage = campanile_testkit::s3();
    let moto = campanile_testkit::moto();
    let (versioned, src, dst) = fresh_buckets(moto, "hversions").await;
    enable_versioning(&versioned, &src).await;
    enable_versioning(&versioned, &dst).await;
    let first =
        |key: &str| fixtures::fixture_bytes(&format!("{key}-1"), 100 + key.len() as u64 * 50);
    let keys = ["doc", "gone", "dir/a b", "keep"];
    for key in keys {
        fixtures::put_object(&versioned, &src, key, first(key)).await;
    }
    let tick = || tokio::time::sleep(Duration::from_millis(1100));
    tick().await;
    let after_first = now_rfc3339();
    tick().await;
    let big = fixtures::fixture_bytes("doc-2", 6 * MIB + 123);
    fixtures::put_multipart(&versioned, &src, "doc", &big, &[5 * MIB, MIB]).await;
    fixtures::put_object(&versioned, &src, "dir/a b", b"second".to_vec()).await;
    tick().await;
    fixtures::put_object(
        &versioned,
        &src,
        "doc",
        fixtures::fixture_bytes("doc-3", 500),
    )
    .await;
    versioned
        .delete_object()
        .bucket(&src)
        .key("gone")
        .send()
        .await
        .expect("delete marker");
    tick().await;
    let mut wanted = Vec::new();
    for key in keys {
        wanted.push((key, history(&versioned, &src, key).await));
    }
    let shapes: Vec<usize> = wanted.iter().map(|(_, h)| h.len()).collect();
    assert_eq!(shapes, [3, 2, 2, 1], "{wanted:?}");
    assert!(
        wanted[0].1[1]
            .0
            .as_deref()
            .is_some_and(|e| e.ends_with("-2")),
        "{wanted:?}"
    );
    assert_eq!(wanted[1].1[1], (None, 0), "{wanted:?}");

    let client = garage.client().await;
    let code = stage_code(garage, &client, ",\n").await;
    let versions_on_hadoop = |to: String, flag: &'static str, value: Option<String>| {
        let (code, src, endpoint) = (code.clone(), src.clone(), moto.endpoint.clone());
        async move {
            let uuid = fresh_uuid("versions");
            let mut args = vec![
                "--src-bucket".to_string(),
                src,
                "--dst-bucket".to_string(),
                to,
                "--src-endpoint".to_string(),
                endpoint.clone(),
                "--dst-endpoint".to_string(),
                endpoint,
                "--src-profile".to_string(),
                "garage".to_string(),
                "--dst-profile".to_string(),
                "garage".to_string(),
                "--uuid".to_string(),
                uuid,
                flag.to_string(),
            ];
            args.extend(value);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            job_on_hadoop(garage, &code, &[RSYNC], &args).await
        }
    };

    let ran = versions_on_hadoop(dst.clone(), "--all-versions", None).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let steps = reports(&ran);
    let names: Vec<&str> = steps.iter().filter_map(|r| r["step"].as_str()).collect();
    assert_eq!(
        names,
        [
            format!("list.{src}.part.hadoop"),
            format!("copy.{src}.part.hadoop"),
        ]
    );
    for (key, history_at_src) in &wanted {
        assert_eq!(
            &history(&versioned, &dst, key).await,
            history_at_src,
            "{key}"
        );
    }
    let done = summary(&ran);
    let did = &done["versions"];
    assert_eq!(did["keys"], 4, "{did}");
    assert_eq!(did["listed_versions"], 7, "{did}");
    assert_eq!(did["listed_delete_markers"], 1, "{did}");
    assert_eq!(did["versions"], 7, "{did}");
    assert_eq!(did["delete_markers"], 1, "{did}");
    assert_eq!(did["already_there"], 0, "{did}");
    assert_eq!(did["diverged"], 0, "{did}");
    assert_eq!(done["multipart_objects"], 1, "{done}");
    assert_eq!(done["proofs"]["md5"], 7, "{done}");
    assert_eq!(
        done["paths"]["skip_report"],
        serde_json::Value::Null,
        "{done}"
    );

    // Again: every version and the marker are there already; nothing is written.
    let again = versions_on_hadoop(dst.clone(), "--all-versions", None).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let did = summary(&again)["versions"].clone();
    assert_eq!(did["versions"], 0, "{did}");
    assert_eq!(did["delete_markers"], 0, "{did}");
    assert_eq!(did["already_there"], 8, "{did}");
    for (key, history_at_src) in &wanted {
        assert_eq!(
            &history(&versioned, &dst, key).await,
            history_at_src,
            "{key}"
        );
    }

    // As the bucket stood after the first versions: each key's first version, as the
    // current object of an unversioned bucket.
    let then = campanile_testkit::unique_bucket("hversions-at");
    moto.create_bucket(&versioned, &then).await;
    let at = versions_on_hadoop(then.clone(), "--version-at", Some(after_first)).await;
    assert_eq!(at.code, 0, "{}\n{}", at.stdout, at.stderr);
    assert_eq!(summary(&at)["versions"]["versions"], 4, "{}", at.stdout);
    let mut copied = crate::common::keys(&versioned, &then).await;
    copied.sort();
    assert_eq!(copied, ["dir/a b", "doc", "gone", "keep"]);
    for key in keys {
        assert_eq!(body(&versioned, &then, key).await, first(key), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_on_hadoop_refuses_over_the_limit_then_deletes_what_the_source_lacks() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "hadoopdel").await;
    for key in ["a", "b", "small"] {
        let size = if key == "small" { 1 } else { 100 };
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, size)).await;
    }
    // a and small copied before; old1 and old2 gone at the source; x.tmp excluded.
    for key in ["a", "small"] {
        let size = if key == "small" { 1 } else { 100 };
        fixtures::put_object(&client, &dst, key, fixtures::fixture_bytes(key, size)).await;
    }
    for key in ["old1", "old2", "x.tmp"] {
        fixtures::put_object(&client, &dst, key, b"dst only".to_vec()).await;
    }
    let code = stage_code(server, &client, "/,\n").await;
    // --min-size leaves small out of the copy: it is still at the source, so stays.
    let filters = ["--delete", "--exclude", "*.tmp", "--min-size", "10"];

    // Two deletions of the four objects listed within the rules: 20% allows none.
    let refused_uuid = fresh_uuid("delrefused");
    let refused = rsync_on_hadoop(
        server,
        &code,
        (&src, &dst),
        &server.endpoint,
        &[
            &filters[..],
            &["--max-delete", "20%", "--uuid", &refused_uuid],
        ]
        .concat(),
    )
    .await;
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    // It failed in the delete step itself (the copy's marker was there).
    assert!(
        refused.stderr.contains(&format!("step delete.{dst}.")),
        "{}\n{:?}",
        refused.stderr,
        keys(&client, &code.bucket).await
    );
    let mut found = keys(&client, &dst).await;
    found.sort();
    // The copy ran (b), the delete step refused: nothing deleted.
    assert_eq!(found, ["a", "b", "old1", "old2", "small", "x.tmp"]);

    let uuid = fresh_uuid("delete");
    let ran = rsync_on_hadoop(
        server,
        &code,
        (&src, &dst),
        &server.endpoint,
        &[&filters[..], &["--max-delete", "40%", "--uuid", &uuid]].concat(),
    )
    .await;
    assert_eq!(
        ran.code,
        0,
        "{}\n{:?}",
        ran.stderr,
        keys(&client, &code.bucket).await
    );
    let mut found = keys(&client, &dst).await;
    found.sort();
    assert_eq!(found, ["a", "b", "small", "x.tmp"]);
    let steps: Vec<String> = reports(&ran)
        .iter()
        .filter_map(|r| r["step"].as_str().map(String::from))
        .collect();
    assert_eq!(
        steps[steps.len() - 3..],
        [
            format!("copied.{src}.part.hadoop"),
            format!("hive.delete.{dst}.part.hadoop"),
            format!("delete.{dst}.part.hadoop")
        ]
    );
    assert_eq!(
        counter(&reports(&ran), "delete.", &dst, "Deleted"),
        2,
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
    let summary = summary(&ran);
    assert_eq!(summary["deleted"]["objects"], 2, "{summary}");
    // The delete step's output: a JSON record per key deleted, beside the job output.
    let deleted = format!("output/part.hadoop.{uuid}.deleted/part-00000");
    let text = String::from_utf8(body(&client, &code.bucket, &deleted).await).expect("utf8");
    let keys_deleted: Vec<String> = text
        .lines()
        .map(|l| {
            let record: serde_json::Value = serde_json::from_str(l).expect("JSON record");
            record["key"].as_str().expect("key").to_string()
        })
        .collect();
    assert_eq!(keys_deleted, ["old1", "old2"]);
}
