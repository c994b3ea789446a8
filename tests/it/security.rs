//! Security hygiene, end to end: the secret key never appears in anything a run
//! writes (stdout, stderr, the run directory with every task attempt's logs, the job
//! output, dry runs, EMR step arguments), whether the run succeeds or fails on bad
//! credentials; and an https endpoint whose certificate cannot be verified is refused
//! before any request is sent.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::*;
use campanile_testkit::fixtures::{self, FixtureObject};

/// A wrong secret for the `bad` profile: distinctive, so that a leak is found.
const WRONG_SECRET: &str = "WRONGsecretWRONGsecretWRONGsecret0123456";

fn contains(haystack: &[u8], needle: &str) -> bool {
    // The standard library's substring search (compiled optimised, unlike this test).
    String::from_utf8_lossy(haystack).contains(needle)
}

fn assert_secret_free(what: &str, text: &[u8], secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !contains(text, secret),
            "{what} holds a secret key:\n{}",
            String::from_utf8_lossy(text)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_output_of_a_run_holds_a_secret_key() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "secret").await;
    let mib = 1024 * 1024;
    let objects = [
        FixtureObject::whole("a", 100),
        FixtureObject::multipart("b", 5 * mib + 7, 5 * mib),
    ];
    fixtures::upload_all(&client, &src, &objects).await;

    let work = tempfile::tempdir().expect("tempdir");
    let boto = work.path().join("boto.cfg");
    std::fs::write(
        &boto,
        format!(
            "[profile good]\naws_access_key_id = {}\naws_secret_access_key = {}\n\
             [profile bad]\naws_access_key_id = {}\naws_secret_access_key = {WRONG_SECRET}\n",
            server.access_key, server.secret_key, server.access_key
        ),
    )
    .expect("boto file");
    std::fs::set_permissions(&boto, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod 644");
    let part_file = work.path().join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let boto_env = boto.display().to_string();
    let env = [("BOTO_CONFIG", boto_env.as_str())];
    let rsync = |profile: &str, uuid: &str, extra: &[&str]| {
        let mut args = vec![
            "--src-profile",
            profile,
            "--dst-profile",
            profile,
            "--uuid",
            uuid,
            "-v",
            "--debug",
        ];
        args.extend(extra);
        rsync_local_at(
            server,
            &server.endpoint,
            work.path(),
            &part_file,
            (&src, &dst),
            &args,
            &env,
        )
    };
    let copied = rsync("good", "1", &[]);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    assert_same_object(&client, &src, &dst, "b").await;
    let refused = rsync("bad", "2", &["--diff"]);
    assert_ne!(refused.code, 0, "a wrong secret must fail");
    assert!(
        refused.stderr.contains("Signature") || refused.stderr.contains("signature"),
        "the run failed on the signature:\n{}",
        refused.stderr
    );
    // The boto file was written with the default mode: the tasks warn about it.
    assert!(
        refused.stderr.contains("is readable by other users"),
        "{}",
        refused.stderr
    );
    let dry = rsync("good", "3", &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);

    let secrets = [server.secret_key.as_str(), WRONG_SECRET];
    for (name, run) in [("copy", &copied), ("refused", &refused), ("dry run", &dry)] {
        assert_secret_free(&format!("{name} stdout"), run.stdout.as_bytes(), &secrets);
        assert_secret_free(&format!("{name} stderr"), run.stderr.as_bytes(), &secrets);
    }
    let files: Vec<(PathBuf, Vec<u8>)> = files_under(work.path())
        .into_iter()
        .filter(|(path, _)| path != &boto)
        .collect();
    // The run directories hold every attempt's stderr: make sure they were looked at.
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("attempt_")),
        "no attempt files found under {}",
        work.path().display()
    );
    for (path, bytes) in files {
        assert_secret_free(&path.display().to_string(), &bytes, &secrets);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn emr_steps_and_dry_runs_hold_profile_names_only() {
    let server = campanile_testkit::moto();
    let cluster = server.create_cluster("campanile-secrets").await;
    let work = tempfile::tempdir().expect("tempdir");
    let boto = work.path().join("boto.cfg");
    std::fs::write(
        &boto,
        format!(
            "[profile emr]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            server.access_key, server.secret_key
        ),
    )
    .expect("boto file");
    let boto_env = boto.display().to_string();
    let args = |dry: bool| {
        let mut args = vec![
            "-j",
            cluster.as_str(),
            "--input",
            "s3://codebucket/input/part.all",
            "--code",
            "s3://codebucket",
            "--output",
            "s3://codebucket/output",
            "--src-bucket",
            "srcbucket",
            "--dst-bucket",
            "dstbucket",
            "--src-profile",
            "emr",
            "--dst-profile",
            "emr",
            "--src-endpoint",
            "s3.us-west-2.amazonaws.com",
            "--dst-endpoint",
            "s3.us-west-2.amazonaws.com",
            "--profile",
            "emr",
            "--emr-endpoint",
            &server.endpoint,
            "-v",
            "--debug",
        ];
        if dry {
            args.push("--dry-run");
        }
        args
    };
    let env = [("BOTO_CONFIG", boto_env.as_str())];
    for dry in [true, false] {
        let result = run(RSYNC, &args(dry), "", server, &env);
        assert_eq!(result.code, 0, "{}", result.stderr);
        let secrets = [server.secret_key.as_str()];
        assert_secret_free("rsync stdout", result.stdout.as_bytes(), &secrets);
        assert_secret_free("rsync stderr", result.stderr.as_bytes(), &secrets);
    }
    let emr = server.emr_client().await;
    let steps = emr
        .list_steps()
        .cluster_id(&cluster)
        .send()
        .await
        .expect("ListSteps");
    // list, mlist, copy and the clean-up.
    assert_eq!(steps.steps().len(), 4, "the real run submitted its steps");
    for step in steps.steps() {
        let arguments = step
            .config()
            .map(|c| c.args().join(" "))
            .unwrap_or_default();
        assert!(arguments.contains("-profile emr"), "{arguments}");
        assert_secret_free(
            "step arguments",
            arguments.as_bytes(),
            &[&server.secret_key],
        );
    }
}

#[test]
fn an_https_endpoint_whose_certificate_cannot_be_verified_is_refused() {
    let script = repo_root().join("tests/tls_server.py");
    let mut tls = Command::new(campanile_testkit::tools_python())
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the TLS server");
    let mut lines = BufReader::new(tls.stdout.take().expect("stdout")).lines();
    let port = lines
        .next()
        .expect("a port line")
        .expect("read the port")
        .trim()
        .to_string();
    let endpoint = format!("https://127.0.0.1:{port}");
    let server = campanile_testkit::s3();
    let result = run(
        BUCKETLIST,
        &["--bucket", "anybucket", "--endpoint", &endpoint],
        ",\n",
        server,
        &[("CAMPANILE_S3_MAX_ATTEMPTS", "1")],
    );
    let _ = tls.kill();
    let _ = tls.wait();
    let requests: Vec<String> = lines.map_while(Result::ok).collect();
    assert_ne!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stderr.to_lowercase().contains("certificate"),
        "the error names the certificate:\n{}",
        result.stderr
    );
    assert!(
        requests.is_empty(),
        "requests got past the handshake: {requests:?}"
    );
}
