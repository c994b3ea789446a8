//! What the binaries say on stderr, and what they read credentials from: log lines
//! (`RUST_LOG`, `-v`, `-q`) naming the step, the task attempt and the key, with the
//! record stream on stdout and Hadoop's reporter lines left whole; errors on one line
//! that name the cause and the fix (missing credentials and profiles exit 2; an
//! AccessDenied names the bucket, the operation and the IAM action; an unreachable
//! endpoint names itself and its flag), kept as snapshots; a profile's region used for
//! signing; no secret in any log line.

use std::collections::BTreeMap;

use campanile::reporter::{ReporterLine, parse_line};
use campanile_testkit::faults::{FaultPlan, FaultProxy};
use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

/// Runs `program` with only `env` (and PATH) in its environment, in `dir`: no test
/// server credentials unless given, no user AWS files.
fn run_clean(
    program: &str,
    args: &[&str],
    stdin: &str,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Run {
    use std::io::Write;
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CAMPANILE_ATTEMPT_PAUSE_MAX", "0.2")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("wait");
    writer.join().expect("stdin writer");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

/// A boto file with `profile`'s keys (mode 600 unless `mode` says otherwise).
fn boto_file(dir: &std::path::Path, profile: &str, access: &str, secret: &str) -> String {
    let path = dir.join(format!("{profile}.boto"));
    std::fs::write(
        &path,
        format!(
            "[profile {profile}]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"
        ),
    )
    .expect("write boto");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    path.display().to_string()
}

/// The reporter lines of a task's stderr, each checked whole: every line that starts
/// with `reporter:` parses as a counter or a status (a log line written into one would
/// make it malformed), and no other line holds `reporter:`. Returns the counters.
fn reporter_counters(stderr: &str) -> BTreeMap<(String, String), i64> {
    let mut counters = BTreeMap::new();
    for line in stderr.lines() {
        match parse_line(line) {
            ReporterLine::Counter {
                group,
                counter,
                amount,
            } => *counters.entry((group, counter)).or_insert(0) += amount,
            ReporterLine::Status(_) => {}
            ReporterLine::Malformed(why) => panic!("a reporter line was broken: {why}"),
            ReporterLine::Log => assert!(
                !line.contains("reporter:"),
                "a reporter line inside a log line: {line:?}"
            ),
        }
    }
    counters
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_log_debug_names_step_attempt_and_key_and_leaves_records_and_reporter_lines_whole() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "logs").await;
    let mib = 1024 * 1024;
    let objects = [
        FixtureObject::whole("whole-1", 1000),
        FixtureObject::whole("dir/whole 2", 2000),
        FixtureObject::multipart("multi", 11 * mib, 5 * mib),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    let both = src_dst_args(server, &src, &dst);
    let list = list_bucket(server, &src, ",\n");
    let parts = stage(MULTIPARTLIST, &both, &list.stdout, server);
    let args: Vec<&str> = both.iter().map(String::as_str).collect();
    let attempt = "attempt_1700000000000_0001_m_000007_0";
    let copied = run(
        OBJECTCOPY,
        &args,
        &parts.stdout,
        server,
        &[
            ("RUST_LOG", "debug"),
            ("mapreduce_task_attempt_id", attempt),
        ],
    );
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    // stdout: the part lines of the multipart object, and nothing else.
    let lines = copied.lines();
    assert_eq!(lines.len(), 3, "{}", copied.stdout);
    for line in &lines {
        assert_eq!(line.split('\t').count(), 7, "not a part line: {line:?}");
        assert!(line.starts_with("multi\t"), "{line:?}");
    }
    // stderr: debug lines naming the step, the attempt and each key.
    let named = |key: &str| {
        copied.stderr.lines().any(|line| {
            line.contains("DEBUG")
                && line.contains("step=objectcopy")
                && line.contains(&format!("attempt={attempt}"))
                && line.contains(&format!("key=\"{key}"))
        })
    };
    for key in ["whole-1", "dir/whole 2", "multi"] {
        assert!(
            named(key),
            "no debug line names {key:?}:\n{}",
            copied.stderr
        );
    }
    // Reporter lines whole, with the counts a run without logs gives.
    let counters = reporter_counters(&copied.stderr);
    assert_eq!(
        counters.get(&(src.clone(), "OutputBytes".to_string())),
        Some(&(3000 + 11 * mib as i64)),
        "{counters:?}"
    );
    assert!(
        !copied.stderr.contains(&server.secret_key),
        "the secret key is in the log"
    );
    let complete = complete_uploads(server, &dst, &copied.stdout);
    assert_eq!(complete.code, 0);
    for object in &objects {
        assert_same_object(&client, &src, &dst, &object.key).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_silences_warnings_and_v_names_the_credentials_source() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let dir = tempfile::tempdir().expect("tempdir");
    let boto = boto_file(dir.path(), "reader", &server.access_key, &server.secret_key);
    // Readable by others: a warning, by default.
    std::fs::set_permissions(&boto, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let list = |extra: &[&str]| {
        let mut args = vec![
            "--bucket",
            bucket,
            "--endpoint",
            &server.endpoint,
            "--profile",
            "reader",
            "--boto",
            &boto,
        ];
        args.extend(extra);
        run_clean(BUCKETLIST, &args, ",00\n", dir.path(), &[])
    };
    let default = list(&[]);
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert!(
        default.stderr.contains("WARN") && default.stderr.contains("readable by other users"),
        "{}",
        default.stderr
    );
    assert!(!default.stderr.contains("INFO"), "{}", default.stderr);
    let quiet = list(&["-q"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(quiet.stdout, default.stdout);
    assert!(
        !quiet.stderr.contains("readable by other users"),
        "{}",
        quiet.stderr
    );
    // Reporter lines are not log lines: -q keeps them.
    assert_eq!(
        reporter_counters(&quiet.stderr),
        reporter_counters(&default.stderr)
    );
    let verbose = list(&["-vv"]);
    assert_eq!(verbose.code, 0, "{}", verbose.stderr);
    assert!(
        verbose.stderr.contains(
            "S3 credentials: profile \"reader\" in ~/reader.boto (keys), region us-east-1"
        ),
        "{}",
        verbose.stderr
    );
    assert!(verbose.stderr.contains("DEBUG"), "{}", verbose.stderr);
    assert!(!verbose.stderr.contains(&server.secret_key));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_credentials_exit_2_naming_the_sources_tried() {
    let server = campanile_testkit::s3();
    let dir = tempfile::tempdir().expect("tempdir");
    let task = run_clean(
        BUCKETLIST,
        &["--bucket", "any", "--endpoint", &server.endpoint],
        ",\n",
        dir.path(),
        &[],
    );
    assert_eq!(task.code, 2, "{}", task.stderr);
    assert_eq!(task.stdout, "");
    let profile = run_clean(
        OBJECTCOPY,
        &[
            "--src-bucket",
            "src",
            "--dst-bucket",
            "dst",
            "--src-endpoint",
            &server.endpoint,
            "--dst-endpoint",
            &server.endpoint,
            "--src-profile",
            "nobody",
        ],
        "",
        dir.path(),
        &[],
    );
    assert_eq!(profile.code, 2, "{}", profile.stderr);
    // rsync without endpoints asks where the buckets are first: it says the same, not
    // "give the endpoint".
    let rsync = run_clean(
        RSYNC,
        &["--src-bucket", "src", "--dst-bucket", "dst", "--dry-run"],
        "",
        dir.path(),
        &[],
    );
    assert_eq!(rsync.code, 2, "{}", rsync.stderr);
    assert!(
        !rsync.stderr.contains("give the endpoint"),
        "{}",
        rsync.stderr
    );
    let messages = [task.stderr, profile.stderr, rsync.stderr].concat();
    for line in messages.lines() {
        assert!(!line.contains("Credentials {"), "an SDK dump: {line}");
    }
    insta::assert_snapshot!(redact(&messages, &[(&server.endpoint, "[endpoint]")]));
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_names_the_bucket_the_operation_and_the_permission() {
    let bucket = article_bucket().await;
    let server = campanile_testkit::s3();
    let proxy = FaultProxy::start(
        &server.endpoint,
        FaultPlan {
            deny: Some(("GET", "list-type=2")),
            ..FaultPlan::none()
        },
    )
    .await
    .expect("proxy");
    let endpoint = proxy.endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let boto = boto_file(dir.path(), "reader", &server.access_key, &server.secret_key);
    let denied = run_clean(
        BUCKETLIST,
        &[
            "--bucket",
            bucket,
            "--endpoint",
            &endpoint,
            "--profile",
            "reader",
            "--boto",
            &boto,
        ],
        ",00\n",
        dir.path(),
        &[],
    );
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    let errors: Vec<&str> = denied
        .stderr
        .lines()
        .filter(|line| line.starts_with("bucketlist: "))
        .collect();
    assert_eq!(errors.len(), 1, "one line:\n{}", denied.stderr);

    // A copy task names the side: the source refuses the HEAD of a part.
    let (client, src, dst) = fresh_buckets(server, "denied").await;
    let mib = 1024 * 1024;
    let object = FixtureObject::multipart("big", 11 * mib, 5 * mib);
    fixtures::upload(&client, &src, &object).await;
    let listing = list_bucket(server, &src, ",\n");
    proxy.set_plan(FaultPlan {
        deny: Some(("HEAD", "partNumber=")),
        ..FaultPlan::none()
    });
    let planned = run_clean(
        MULTIPARTLIST,
        &[
            "--src-bucket",
            &src,
            "--src-endpoint",
            &endpoint,
            "--src-profile",
            "reader",
            "--dst-bucket",
            &dst,
            "--dst-endpoint",
            &server.endpoint,
            "--dst-profile",
            "reader",
            "--boto",
            &boto,
        ],
        &listing.stdout,
        dir.path(),
        &[],
    );
    assert_eq!(planned.code, 1, "{}", planned.stderr);
    let side_errors: Vec<&str> = planned
        .stderr
        .lines()
        .filter(|line| line.starts_with("multipartlist: "))
        .collect();
    assert_eq!(side_errors.len(), 1, "one line:\n{}", planned.stderr);
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    let lines = format!("{}\n{}", errors[0], side_errors[0]);
    insta::assert_snapshot!(redact(
        &lines,
        &[
            (bucket, "[bucket]"),
            (&src, "[src]"),
            (&dir.path().display().to_string(), "[dir]")
        ]
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_is_named_with_its_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 1 of the loopback: connection refused at once.
    let closed = "http://127.0.0.1:1";
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
    ];
    let task = run_clean(
        BUCKETLIST,
        &["--bucket", "b", "--endpoint", closed, "--max-attempts", "1"],
        ",\n",
        dir.path(),
        &env,
    );
    assert_eq!(task.code, 1, "{}", task.stderr);
    let copy = run_clean(
        MULTIPARTLIST,
        &[
            "--src-bucket",
            "src",
            "--src-endpoint",
            closed,
            "--dst-bucket",
            "dst",
            "--dst-endpoint",
            closed,
            "--max-attempts",
            "1",
        ],
        "k\t0123456789abcdef0123456789abcdef-20\t104857600\t2026-01-01 00:00:00\n",
        dir.path(),
        &env,
    );
    assert_eq!(copy.code, 1, "{}", copy.stderr);
    // One line each (the reporter lines around them are the requests' counters).
    let messages: Vec<&str> = [task.stderr.as_str(), copy.stderr.as_str()]
        .into_iter()
        .flat_map(str::lines)
        .filter(|line| !line.starts_with("reporter:"))
        .collect();
    insta::assert_snapshot!(messages.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_s_region_signs_the_requests() {
    // A Garage of its own that serves one region only: a request signed for another
    // is refused, so a listing that succeeds was signed with the profile's region.
    let (server, mut garage) = campanile_testkit::server::launch_with(
        campanile_testkit::ServerKind::Garage,
        &campanile_testkit::server::GarageSettings {
            region: Some("eu-central-9".into()),
            ..Default::default()
        },
    )
    .expect("start Garage");
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("region");
    server.create_bucket(&client, &bucket).await;
    fixtures::put_object(&client, &bucket, "k", b"far away".to_vec()).await;
    let home = tempfile::tempdir().expect("tempdir");
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).expect("mkdir .aws");
    std::fs::write(
        aws.join("config"),
        "[default]\nregion = us-west-2\n[profile far]\nregion = eu-central-9\n\
         [profile near]\nregion = us-east-1\n",
    )
    .expect("config");
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[far]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\
             [near]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n",
            key = server.access_key,
            secret = server.secret_key
        ),
    )
    .expect("credentials");
    let list = |profile: &str| {
        run_clean(
            BUCKETLIST,
            &[
                "--bucket",
                &bucket,
                "--endpoint",
                &server.endpoint,
                "--profile",
                profile,
                "--max-attempts",
                "1",
                "-v",
            ],
            ",\n",
            home.path(),
            &[],
        )
    };
    let far = list("far");
    assert_eq!(far.code, 0, "{}", far.stderr);
    assert_eq!(far.lines().len(), 1, "{}", far.stdout);
    assert!(
        far.stderr.contains(
            "S3 credentials: profile \"far\" in ~/.aws/config and ~/.aws/credentials, region \
             eu-central-9"
        ),
        "{}",
        far.stderr
    );
    let near = list("near");
    assert_ne!(near.code, 0, "signed for us-east-1, Garage must refuse");
    assert!(near.stderr.contains("us-east-1"), "{}", near.stderr);
    let _ = garage.kill();
    let _ = garage.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verbose_local_run_names_each_side_s_credentials_and_logs_no_secret() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "vv").await;
    fixtures::upload_all(&client, &src, &[FixtureObject::whole("a", 100)]).await;
    let work = tempfile::tempdir().expect("tempdir");
    let reader = boto_file(
        work.path(),
        "reader",
        &server.access_key,
        &server.secret_key,
    );
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let run = rsync_local_at(
        server,
        &server.endpoint,
        work.path(),
        &part_file,
        (&src, &dst),
        &[
            "--src-profile",
            "reader",
            "--dst-profile",
            "reader",
            "--boto",
            &reader,
            "-vv",
        ],
        &[("AWS_SECRET_ACCESS_KEY", "ignored-env-secret")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same_object(&client, &src, &dst, "a").await;
    for side in ["source", "destination"] {
        assert!(
            run.stderr.contains(&format!(
                "{side} credentials: profile \"reader\" in {reader} (keys), region us-east-1"
            )),
            "{side}:\n{}",
            run.stderr
        );
    }
    // The tasks logged at debug too (rsync passed -vv on), each line naming its step.
    let logs: Vec<(std::path::PathBuf, Vec<u8>)> = files_under(&work.path().join("runs"))
        .into_iter()
        .filter(|(path, _)| path.ends_with("stderr"))
        .collect();
    assert!(!logs.is_empty(), "no task stderr kept");
    let copy_logged = logs.iter().any(|(_, text)| {
        let text = String::from_utf8_lossy(text);
        text.contains("DEBUG") && text.contains("step=objectcopy") && text.contains("key=\"a\"")
    });
    assert!(
        copy_logged,
        "objectcopy logged no debug line naming its key"
    );
    for (path, text) in &logs {
        let text = String::from_utf8_lossy(text);
        assert!(
            !text.contains(&server.secret_key),
            "{} holds the secret",
            path.display()
        );
    }
    assert!(!run.stderr.contains(&server.secret_key));
    assert!(!run.stdout.contains(&server.secret_key));
    json_lines(&run);
}
