//! The clean-up step of a cluster run (`multipartlist --abort-run`, the last EMR step,
//! which runs after a failed copy too): over the run's listing, each task aborts every
//! upload in progress in the destination for the multipart keys of its split, and
//! leaves every other upload alone. See docs/reliability.md.

use campanile_testkit::fixtures::{self, FixtureObject};

use crate::common::*;

const MIB: u64 = 1024 * 1024;

async fn uploads(client: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let listed = client
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .expect("ListMultipartUploads");
    let mut keys: Vec<String> = listed
        .uploads()
        .iter()
        .filter_map(|u| u.key().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn abort_run_aborts_the_uploads_of_the_runs_multipart_keys_only() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = (
        server.client().await,
        campanile_testkit::unique_bucket("abort-src"),
        campanile_testkit::unique_bucket("abort-dst"),
    );
    server.create_bucket(&client, &src).await;
    server.create_bucket(&client, &dst).await;
    let objects = [
        FixtureObject::multipart("big", 6 * MIB, 5 * MIB),
        FixtureObject::whole("small", 1000),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    // What a failed copy leaves: the run's upload of big and an orphan of a killed
    // attempt; and another writer's upload of a key the run does not copy.
    for key in ["big", "big", "not-in-the-run"] {
        client
            .create_multipart_upload()
            .bucket(&dst)
            .key(key)
            .send()
            .await
            .expect("CreateMultipartUpload");
    }
    assert_eq!(
        uploads(&client, &dst).await,
        ["big", "big", "not-in-the-run"]
    );
    let listing = list_bucket(server, &src, ",\n");
    let mut args = src_dst_args(server, &src, &dst);
    args.push("--abort-run".into());
    let cleaned = stage(MULTIPARTLIST, &args, &listing.stdout, server);
    assert_eq!(cleaned.stdout, "", "plans nothing");
    assert_eq!(
        cleaned.counter(&dst, "AbortedUploads"),
        2,
        "{}",
        cleaned.stderr
    );
    assert!(
        cleaned.stderr.contains("aborted 2 multipart upload(s)"),
        "{}",
        cleaned.stderr
    );
    assert_eq!(uploads(&client, &dst).await, ["not-in-the-run"]);
    // After a successful copy nothing is in progress: nothing to do.
    let again = stage(MULTIPARTLIST, &args, &listing.stdout, server);
    assert_eq!(again.counter(&dst, "AbortedUploads"), 0, "{}", again.stderr);
    assert_eq!(uploads(&client, &dst).await, ["not-in-the-run"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_of_a_run_with_prefixes_are_made_and_cleaned_at_the_mapped_keys() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "mapped").await;
    let objects = [
        FixtureObject::multipart("logs/big", 6 * MIB, 5 * MIB),
        FixtureObject::multipart("logs/huge", 6 * MIB, 5 * MIB),
    ];
    fixtures::upload_all(&client, &src, &objects).await;
    // The same key unmapped, at the destination: another writer's, left alone.
    client
        .create_multipart_upload()
        .bucket(&dst)
        .key("logs/big")
        .send()
        .await
        .expect("CreateMultipartUpload");
    let listing = stage(
        BUCKETLIST,
        &[
            "--bucket".into(),
            src.clone(),
            "--endpoint".into(),
            server.endpoint.clone(),
            "--prefix".into(),
            "logs/".into(),
        ],
        ",\n",
        server,
    );
    let mut args = src_dst_args(server, &src, &dst);
    args.extend(["--src-prefix", "logs/", "--dst-prefix", "copies/"].map(String::from));
    let parts = stage(MULTIPARTLIST, &args, &listing.stdout, server);
    // The records keep the source keys; the uploads are the mapped keys'.
    assert!(
        parts.lines().iter().all(|l| l.starts_with("logs/")),
        "{}",
        parts.stdout
    );
    assert_eq!(
        uploads(&client, &dst).await,
        ["copies/big", "copies/huge", "logs/big"]
    );
    // The local runner's clean-up: from the run's part list, the mapped uploads.
    let work = tempfile::tempdir().expect("work dir");
    let part_list = work.path().join("parts");
    std::fs::create_dir(&part_list).expect("mkdir");
    std::fs::write(part_list.join("part-00000"), &parts.stdout).expect("write");
    let scope = campanile::plan::UploadScope {
        bucket: dst.clone(),
        endpoint: server.endpoint.clone(),
        profile: None,
        objects: work.path().join("no-listing").display().to_string(),
        parts: part_list.display().to_string(),
        src_prefix: "logs/".into(),
        dst_prefix: "copies/".into(),
    };
    // One of them again, as a killed attempt would leave it: an orphan of the run.
    client
        .create_multipart_upload()
        .bucket(&dst)
        .key("copies/huge")
        .send()
        .await
        .expect("CreateMultipartUpload");
    let mut err = Vec::new();
    campanile::rsync::cleanup::clean_up_uploads_with(&client, &scope, &mut err)
        .await
        .expect("clean-up");
    let said = String::from_utf8_lossy(&err);
    assert!(said.contains("aborted 3 multipart upload(s)"), "{said}");
    assert_eq!(uploads(&client, &dst).await, ["logs/big"]);

    // The cluster's clean-up step, over the listing, with the same mapping.
    let parts = stage(MULTIPARTLIST, &args, &listing.stdout, server);
    assert_eq!(parts.counter(&dst, "Uploads"), 2, "{}", parts.stderr);
    args.push("--abort-run".into());
    let cleaned = stage(MULTIPARTLIST, &args, &listing.stdout, server);
    assert_eq!(
        cleaned.counter(&dst, "AbortedUploads"),
        2,
        "{}",
        cleaned.stderr
    );
    assert_eq!(uploads(&client, &dst).await, ["logs/big"]);
}
