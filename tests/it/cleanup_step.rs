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
