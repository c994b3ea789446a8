//! Server-side copy where it can be (`rsync`'s default; `--no-server-side-copy` turns
//! it off): on one endpoint, `rsync` lets the server copy what the destination's credentials can read (CopyObject after one HEAD,
//! UploadPartCopy over the source's part ranges) and copies through its tasks what
//! they cannot; the summary says which way the bytes went. On Garage with two keys:
//! the destination's key is first refused the source, then granted it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use campanile_testkit::S3Server;
use campanile_testkit::fixtures::{self, FixtureObject};

const MIB: u64 = 1024 * 1024;

/// rsync's flag that turns the mode under test off.
const CLIENT_ONLY: &str = "--no-server-side-copy";

/// Three whole objects and one of 3 parts.
fn objects() -> Vec<FixtureObject> {
    vec![
        FixtureObject::whole("a", 1000),
        FixtureObject::whole("dir/b", 20_000),
        FixtureObject::whole("c", 0),
        FixtureObject::multipart("big", 11 * MIB, 5 * MIB),
    ]
}

async fn loaded(server: &S3Server, tag: &str) -> (aws_sdk_s3::Client, String, String) {
    let (client, src, dst) = fresh_buckets(server, tag).await;
    fixtures::upload_all(&client, &src, &objects()).await;
    (client, src, dst)
}

/// rsync of the whole `src` to `dst` on the local runner, in `work`, with `extra`.
async fn copy(
    server: &'static S3Server,
    work: &Path,
    (src, dst): (&str, &str),
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    std::fs::create_dir_all(work).expect("work dir");
    let part_file = work.join("part.all");
    std::fs::write(&part_file, ",\n").expect("part file");
    let (endpoint, dir) = (server.endpoint.clone(), work.to_path_buf());
    let (src, dst) = (src.to_string(), dst.to_string());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        rsync_local_at(
            server,
            &endpoint,
            &dir,
            &part_file,
            (&src, &dst),
            &extra,
            &env,
        )
    })
    .await
    .expect("rsync")
}

async fn assert_all_copied(client: &aws_sdk_s3::Client, src: &str, dst: &str) {
    for object in objects() {
        assert_same_object(client, src, dst, &object.key).await;
    }
}

fn total_bytes() -> u64 {
    objects().iter().map(|o| o.size).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_endpoint_and_one_key_copy_in_the_server_unless_told_not_to() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = loaded(server, "ssc").await;
    let work = tempfile::tempdir().expect("work");
    let ran = copy(server, work.path(), (&src, &dst), &[], &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_all_copied(&client, &src, &dst).await;
    let said = summary(&ran);
    assert_eq!(said["bytes"], total_bytes(), "{said}");
    assert_eq!(
        said["server_side_bytes"],
        total_bytes(),
        "every byte in the server: {said}"
    );
    let requests = &said["requests"];
    assert!(requests.get("GetObject").is_none(), "no GET: {requests}");
    assert_eq!(requests["CopyObject"], 3, "{requests}");
    assert_eq!(requests["UploadPartCopy"], 3, "{requests}");
    assert_eq!(said["proofs"]["md5"], 4, "{said}");

    // Told not to: every byte through the tasks.
    let (_, _, other) = fresh_buckets(server, "nossc").await;
    let work = tempfile::tempdir().expect("work");
    let ran = copy(server, work.path(), (&src, &other), &[CLIENT_ONLY], &[]).await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_all_copied(&client, &src, &other).await;
    let said = summary(&ran);
    assert_eq!(said["server_side_bytes"], 0, "{said}");
    assert!(said["requests"].get("CopyObject").is_none(), "{said}");
    assert!(
        said["requests"]["GetObject"].as_u64().unwrap_or(0) >= 4,
        "{said}"
    );
}

/// Runs the test Garage's command line (its configuration is in the server's data
/// directory).
fn garage(server: &S3Server, args: &[&str]) {
    let program =
        std::env::var_os("CAMPANILE_GARAGE").map_or_else(|| PathBuf::from("garage"), PathBuf::from);
    let config = server
        .dir
        .as_ref()
        .expect("a Garage we started")
        .join("garage.toml");
    let output = Command::new(program)
        .arg("-c")
        .arg(&config)
        .args(args)
        .output()
        .expect("run garage");
    assert!(
        output.status.success(),
        "garage {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A second Garage key, allowed to read and write `dst` only, as the profile `dst`;
/// the server's own key as the profile `src`. Returns the environment naming the
/// files.
fn two_keys(server: &S3Server, dir: &Path, dst: &str, name: &str) -> Vec<(String, String)> {
    let id = format!(
        "GK{:024x}",
        u128::from(std::process::id()) << 32 | name.len() as u128
    );
    let secret = format!("{:064x}", u128::from(std::process::id()) * 7 + 1);
    garage(
        server,
        &["key", "import", "--yes", "-n", name, &id, &secret],
    );
    garage(
        server,
        &["bucket", "allow", "--read", "--write", dst, "--key", &id],
    );
    let credentials = dir.join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[src]\naws_access_key_id = {}\naws_secret_access_key = {}\n\
             [dst]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n",
            server.access_key, server.secret_key
        ),
    )
    .expect("credentials");
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile src]\nregion = {0}\n[profile dst]\nregion = {0}\n",
            server.region
        ),
    )
    .expect("config");
    vec![
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            credentials.display().to_string(),
        ),
        ("AWS_CONFIG_FILE".into(), config.display().to_string()),
    ]
}

/// A bucket made with Garage's command line (a global name the command line can
/// grant keys on; a bucket made through S3 is named for its creator's key only),
/// owned by the server's key.
fn global_bucket(server: &S3Server, tag: &str) -> String {
    let name = campanile_testkit::unique_bucket(tag);
    garage(server, &["bucket", "create", &name]);
    garage(
        server,
        &[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            &name,
            "--key",
            &server.access_key,
        ],
    );
    name
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_key_refused_the_source_copies_through_the_tasks() {
    let server = campanile_testkit::s3();
    let client = server.client().await;
    let (src, dst) = (
        global_bucket(server, "sscdeny-src"),
        global_bucket(server, "sscdeny-dst"),
    );
    fixtures::upload_all(&client, &src, &objects()).await;
    let work = tempfile::tempdir().expect("work");
    let env = two_keys(server, work.path(), &dst, "ssc-deny");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let profiles = ["--src-profile", "src", "--dst-profile", "dst"];
    let ran = copy(
        server,
        &work.path().join("refused"),
        (&src, &dst),
        &profiles,
        &env,
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_all_copied(&client, &src, &dst).await;
    let said = summary(&ran);
    assert_eq!(said["server_side_bytes"], 0, "{said}");
    assert_eq!(said["bytes"], total_bytes(), "{said}");
    assert!(
        said["requests"]["GetObject"].as_u64().unwrap_or(0) >= 4,
        "{said}"
    );
    // Refused by the HEAD: no copy was even tried in the server.
    assert!(said["requests"].get("CopyObject").is_none(), "{said}");
    assert!(said["requests"].get("UploadPartCopy").is_none(), "{said}");

    // Granted the source: the same profiles now copy in the server.
    let granted = global_bucket(server, "sscgrant-dst");
    let keys_dir = work.path().join("k2");
    std::fs::create_dir_all(&keys_dir).expect("dir");
    let key_env = two_keys(server, &keys_dir, &granted, "ssc-grant");
    let key_id = std::fs::read_to_string(&key_env[0].1).expect("credentials");
    let id = key_id
        .lines()
        .filter(|l| l.starts_with("aws_access_key_id"))
        .nth(1)
        .and_then(|l| l.split(" = ").nth(1))
        .expect("dst key id")
        .to_string();
    garage(server, &["bucket", "allow", "--read", &src, "--key", &id]);
    let env: Vec<(&str, &str)> = key_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let ran = copy(
        server,
        &work.path().join("granted"),
        (&src, &granted),
        &profiles,
        &env,
    )
    .await;
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_all_copied(&client, &src, &granted).await;
    let said = summary(&ran);
    assert_eq!(said["server_side_bytes"], total_bytes(), "{said}");
}
