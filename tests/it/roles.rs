//! No long-lived secret on a cluster: a task given a profile that names a role
//! (`role_arn`, `credential_source`) assumes it through STS with the source credentials
//! and reads with the session it gets (moto serves STS and S3 on loopback); when STS
//! cannot be reached the task fails at its start, naming the profile and the role.

use crate::common::*;

const ROLE: &str = "arn:aws:iam::123456789012:role/campanile-destination";

fn role_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("credentials.boto");
    std::fs::write(
        &path,
        format!(
            "[profile destination]\nrole_arn = {ROLE}\ncredential_source = Environment\n\
             role_session_name = campanile-test\n"
        ),
    )
    .expect("write");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_assumes_the_role_its_profile_names() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("role");
    server.create_bucket(&client, &bucket).await;
    campanile_testkit::fixtures::put_object(&client, &bucket, "k", b"by role".to_vec()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let boto = role_file(dir.path());
    let boto = boto.to_str().expect("utf8");
    let args = [
        "--bucket",
        bucket.as_str(),
        "--endpoint",
        &server.endpoint,
        "--profile",
        "destination",
    ];
    let listed = run(
        BUCKETLIST,
        &args,
        ",\n",
        server,
        &[
            ("BOTO_CONFIG", boto),
            ("AWS_ENDPOINT_URL_STS", &server.endpoint),
        ],
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert_eq!(listed.lines().len(), 1, "{}", listed.stdout);
    assert!(listed.lines()[0].starts_with("k\t"), "{}", listed.stdout);

    // STS unreachable: the role cannot be assumed, and the task says so before any
    // request to S3.
    let refused = run(
        BUCKETLIST,
        &args,
        ",\n",
        server,
        &[
            ("BOTO_CONFIG", boto),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("\"destination\""),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains(ROLE), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("assuming role"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(&server.secret_key));
}
