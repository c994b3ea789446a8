//! campanile-stage against Garage: everything the steps need lands under --code, a
//! second run uploads nothing, and the credentials never show in the output.

use crate::common::{body, keys, run};

const STAGE: &str = env!("CARGO_BIN_EXE_campanile-stage");

#[tokio::test(flavor = "multi_thread")]
async fn staging_is_complete_idempotent_and_quiet_about_secrets() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let bucket = campanile_testkit::unique_bucket("code");
    server.create_bucket(&client, &bucket).await;
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
    assert!(
        first.lines().iter().all(|l| l.starts_with("uploaded ")),
        "{}",
        first.stdout
    );
    let arch = campanile::stage::EMR_ARCH;
    let mut staged = keys(&client, &bucket).await;
    staged.sort();
    let mut expected: Vec<String> = [".boto", "bootstrap/campanile.sh", "campanile.cfg", "diff.q"]
        .iter()
        .map(|s| s.to_string())
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
    let second = run(STAGE, &args, "", server, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.lines().len(), expected.len());
    assert!(
        second.lines().iter().all(|l| l.starts_with("unchanged ")),
        "{}",
        second.stdout
    );
    for output in [&first.stdout, &first.stderr, &second.stdout, &second.stderr] {
        assert!(!output.contains(secret));
    }
}
