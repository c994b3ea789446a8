//! campanile-stage: everything the steps need lands under --code with the binaries'
//! SHA-256 sums, a second run uploads nothing, the credentials file is encrypted at
//! rest and never shows in the output, and long-lived keys go only to a bucket that
//! blocks public access (moto: Garage has no public access block API), with a warning.

use crate::common::{body, keys, run};

const STAGE: &str = env!("CARGO_BIN_EXE_campanile-stage");

#[tokio::test(flavor = "multi_thread")]
async fn staging_is_complete_idempotent_and_quiet_about_secrets() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("code");
    server.create_bucket(&client, &bucket).await;
    block_public_access(&client, &bucket).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
    let credentials = dir.path().join("boto");
    std::fs::write(
        &credentials,
        format!("[profile jeff]\naws_access_key_id = AKIAJEFF\naws_secret_access_key = {secret}\n"),
    )
    .expect("write");
    // Small stand-ins for the binaries: debug builds are hundreds of MB each, and the
    // staging logic does not depend on what the files hold.
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).expect("mkdir");
    for task in campanile::stage::TASKS {
        std::fs::write(bin_dir.join(task), format!("#!/bin/sh\necho {task}\n")).expect("write");
    }
    let code = format!("s3://{bucket}/campanile");
    let args = [
        "--bin-dir",
        bin_dir.to_str().expect("utf8"),
        "--code",
        &code,
        "--credentials",
        credentials.to_str().expect("utf8"),
        "--endpoint",
        &server.endpoint,
    ];
    let first = run(STAGE, &args, "", server, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let (digest, uploads) = first
        .lines()
        .split_last()
        .map(|(d, u)| (d.to_string(), u.to_vec()))
        .expect("output");
    assert!(digest.starts_with("SHA256SUMS "), "{}", first.stdout);
    assert!(
        uploads.iter().all(|l| l.starts_with("uploaded ")),
        "{}",
        first.stdout
    );
    let arch = campanile::stage::EMR_ARCH;
    let mut staged = keys(&client, &bucket).await;
    staged.sort();
    let mut expected: Vec<String> = [
        ".boto".to_string(),
        "bootstrap/campanile.sh".to_string(),
        "campanile.cfg".to_string(),
        "diff.q".to_string(),
        "delete.q".to_string(),
        format!("bin/{arch}/SHA256SUMS"),
    ]
    .into_iter()
    .chain(
        campanile::stage::TASKS
            .iter()
            .flat_map(|t| [t.to_string(), format!("bin/{arch}/{t}")]),
    )
    .map(|k| format!("campanile/{k}"))
    .collect();
    expected.sort();
    assert_eq!(staged, expected);
    assert_eq!(
        body(&client, &bucket, "campanile/diff.q").await,
        std::fs::read(crate::common::repo_root().join("hive/diff.q")).expect("diff.q")
    );
    assert_eq!(
        body(&client, &bucket, "campanile/delete.q").await,
        std::fs::read(crate::common::repo_root().join("hive/delete.q")).expect("delete.q")
    );
    // The sums the bootstrap action checks, and the digest printed for its -s.
    let sums = body(
        &client,
        &bucket,
        &format!("campanile/bin/{arch}/SHA256SUMS"),
    )
    .await;
    let sums = String::from_utf8(sums).expect("utf8");
    for task in campanile::stage::TASKS {
        let bytes = std::fs::read(bin_dir.join(task)).expect("binary");
        let line = format!("{}  {task}", campanile::stage::sha256_hex(&bytes));
        assert!(sums.lines().any(|l| l == line), "{sums}");
    }
    let digest_line = format!(
        "SHA256SUMS {}",
        campanile::stage::sha256_hex(sums.as_bytes())
    );
    assert!(
        first.lines().contains(&digest_line.as_str()),
        "{}",
        first.stdout
    );
    // Encrypted at rest, and the keys are warned about.
    let head = client
        .head_object()
        .bucket(&bucket)
        .key("campanile/.boto")
        .send()
        .await
        .expect("head .boto");
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
    assert!(first.stderr.contains("long-lived keys"), "{}", first.stderr);
    let second = run(STAGE, &args, "", server, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.lines().len(), expected.len() + 1);
    assert!(
        second.lines()[..expected.len()]
            .iter()
            .all(|l| l.starts_with("unchanged ")),
        "{}",
        second.stdout
    );
    for output in [&first.stdout, &first.stderr, &second.stdout, &second.stderr] {
        assert!(!output.contains(secret));
    }
}

async fn block_public_access(client: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::PublicAccessBlockConfiguration;
    client
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .expect("put public access block");
}

/// Small stand-ins for the binaries in `dir/bin`.
fn stand_in_binaries(dir: &std::path::Path) -> std::path::PathBuf {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).expect("mkdir");
    for task in campanile::stage::TASKS {
        std::fs::write(bin_dir.join(task), format!("#!/bin/sh\necho {task}\n")).expect("write");
    }
    bin_dir
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_refused_for_a_bucket_that_does_not_block_public_access_roles_are_not() {
    let server = campanile_testkit::moto();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("open-code");
    server.create_bucket(&client, &bucket).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bin_dir = stand_in_binaries(dir.path());
    let keys_file = dir.path().join("keys.boto");
    std::fs::write(
        &keys_file,
        "[profile jeff]\naws_access_key_id = AKIAJEFF\naws_secret_access_key = wJalrXUtnFEMI\n",
    )
    .expect("write");
    let roles = dir.path().join("roles.boto");
    std::fs::write(
        &roles,
        "[profile dst]\nrole_arn = arn:aws:iam::222222222222:role/campanile-destination\n\
         credential_source = Ec2InstanceMetadata\n",
    )
    .expect("write");
    let code = format!("s3://{bucket}/campanile");
    let stage = |credentials: &std::path::Path| {
        run(
            STAGE,
            &[
                "--bin-dir",
                bin_dir.to_str().expect("utf8"),
                "--code",
                &code,
                "--credentials",
                credentials.to_str().expect("utf8"),
                "--endpoint",
                &server.endpoint,
            ],
            "",
            server,
            &[],
        )
    };
    let refused = stage(&keys_file);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("does not block every kind of public access"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("wJalrXUtnFEMI"));
    assert!(keys(&client, &bucket).await.is_empty(), "nothing staged");
    // Role profiles hold no secret: staged as they are, without a warning.
    let staged = stage(&roles);
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    assert!(
        !staged.stderr.contains("long-lived keys"),
        "{}",
        staged.stderr
    );
    assert!(
        keys(&client, &bucket)
            .await
            .contains(&"campanile/.boto".to_string())
    );
}
