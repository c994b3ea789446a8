//! Reliability, end to end: whole copies through a fault-injecting proxy in front of
//! the real server (Garage), flipped bytes that must be caught, and task processes
//! killed at random points (SIGKILL) on moto, whose ListMultipartUploads shows that no
//! upload is left behind. See docs/reliability.md.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use campanile_testkit::S3Server;
use campanile_testkit::faults::{FaultKind, FaultPlan, FaultProxy, FaultStats};
use campanile_testkit::fixtures::{self, FixtureObject};
use tokio::sync::OnceCell;

/// Client read timeout of the tasks in these tests, and the hold of a `Delay` fault.
const READ_TIMEOUT: &str = "1";
const DELAY: Duration = Duration::from_millis(1500);

fn task_env() -> Vec<(&'static str, &'static str)> {
    vec![("CAMPANILE_S3_READ_TIMEOUT", READ_TIMEOUT)]
}

/// The chaos source: the article's bucket plus multipart objects of other layouts
/// (a 1-byte last part, an exact multiple, a short last part).
fn chaos_objects() -> Vec<FixtureObject> {
    let mib = 1024 * 1024;
    let mut objects = fixtures::article_objects();
    for (key, size) in [
        ("f-multi-a", 12 * mib),
        ("f-multi-b", 5 * mib + 1),
        ("f-multi-c", 10 * mib),
    ] {
        objects.push(FixtureObject::multipart(key, size, 5 * mib));
    }
    objects
}

async fn chaos_source() -> &'static str {
    static BUCKET: OnceCell<String> = OnceCell::const_new();
    BUCKET
        .get_or_init(|| async {
            let server = campanile_testkit::s3();
            let client = server.client().await;
            let bucket = campanile_testkit::unique_bucket("chaos-src");
            server.create_bucket(&client, &bucket).await;
            fixtures::upload_all(&client, &bucket, &chaos_objects()).await;
            bucket
        })
        .await
}

fn part_file() -> std::path::PathBuf {
    repo_root().join("var/input/srcbucket/part.all")
}

/// The counters of every step, with the destination bucket's name replaced by `DST`
/// so that runs into different buckets compare. The `Requests` group is left out: it
/// counts every attempt, and faults add retried requests by design.
fn normalised_counters(run: &Run, dst: &str) -> BTreeMap<String, i64> {
    let mut all = BTreeMap::new();
    for report in reports(run) {
        let step = report["step"].as_str().unwrap_or("").to_string();
        let step = step.split('.').next().unwrap_or("").to_string();
        if let Some(groups) = report["counters"].as_object() {
            for (group, counters) in groups {
                if group == campanile::requests::GROUP {
                    continue;
                }
                let group = if group == dst { "DST" } else { group.as_str() };
                for (name, value) in counters.as_object().into_iter().flatten() {
                    all.insert(
                        format!("{step}/{group}/{name}"),
                        value.as_i64().unwrap_or(0),
                    );
                }
            }
        }
    }
    all
}

/// A copy of the chaos source through a proxy running `plan`; asserts the destination
/// is identical and no upload is left; returns the counters, the proxy's statistics and
/// the run.
async fn copy_through(plan: FaultPlan, tag: &str) -> (BTreeMap<String, i64>, FaultStats, Run) {
    let server = campanile_testkit::s3();
    let src = chaos_source().await;
    let client = server.client().await;
    let dst = campanile_testkit::unique_bucket(tag);
    server.create_bucket(&client, &dst).await;
    let proxy = FaultProxy::start(&server.endpoint, plan)
        .await
        .expect("start proxy");
    let work = tempfile::tempdir().expect("tempdir");
    let endpoint = proxy.endpoint();
    let result = tokio::task::spawn_blocking({
        let work = work.path().to_path_buf();
        let (src, dst) = (src.to_string(), dst.clone());
        move || {
            rsync_local_at(
                campanile_testkit::s3(),
                &endpoint,
                &work,
                &part_file(),
                (&src, &dst),
                &["--quiet", "--no-server-side-copy"],
                &task_env(),
            )
        }
    })
    .await
    .expect("rsync thread");
    let stats = proxy.stats();
    drop(proxy);
    assert_eq!(
        result.code, 0,
        "copy through {stats:?} failed:\n{}",
        result.stderr
    );
    let expected: Vec<String> = {
        let mut keys: Vec<String> = chaos_objects().into_iter().map(|o| o.key).collect();
        keys.sort();
        keys
    };
    let mut copied = keys(&client, &dst).await;
    copied.sort();
    assert_eq!(
        copied, expected,
        "the destination holds exactly the source's keys"
    );
    for key in &expected {
        assert_same_object(&client, src, &dst, key).await;
    }
    assert_eq!(uploads_in_progress(&client, &dst).await, 0);
    (normalised_counters(&result, &dst), stats, result)
}

async fn fault_free_counters() -> &'static BTreeMap<String, i64> {
    static COUNTERS: OnceCell<BTreeMap<String, i64>> = OnceCell::const_new();
    COUNTERS
        .get_or_init(|| async {
            let (counters, stats, _) = copy_through(FaultPlan::none(), "chaos-clean").await;
            assert_eq!(stats.faults(), 0);
            counters
        })
        .await
}

async fn chaos(rate: f64, seed: u64) {
    let baseline = fault_free_counters().await.clone();
    let plan = FaultPlan::mix(seed, rate, &FaultKind::ALL, DELAY);
    let (counters, stats, result) = copy_through(plan, &format!("chaos-{seed}")).await;
    let objects = chaos_objects().len();
    let failed: u64 = reports(&result)
        .iter()
        .filter_map(|r| r["failed_attempts"].as_u64())
        .sum();
    let aborted = result
        .stderr
        .lines()
        .find(|l| l.starts_with("aborted "))
        .unwrap_or("no upload left to abort");
    // The figures docs/reliability.md quotes.
    println!(
        "chaos rate {rate} seed {seed}: {} requests, {} faults {:?}, {objects} objects \
         copied, 0 lost, 0 corrupt, {failed} failed task attempts; {aborted}",
        stats.requests,
        stats.faults(),
        stats.injected
    );
    assert!(
        stats.faults() as f64 >= stats.requests as f64 * rate * 0.5,
        "too few faults were injected to mean anything: {stats:?}"
    );
    assert_eq!(counters, baseline, "counters differ from a fault-free run");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_through_5_percent_faults_is_identical_to_a_clean_one() {
    chaos(0.05, 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_through_20_percent_faults_is_identical_to_a_clean_one() {
    chaos(0.20, 20).await;
}

/// A source bucket holding `objects`, an empty destination, a proxy with `plan` in
/// front of `server`, and a work directory.
struct Scenario {
    server: &'static S3Server,
    client: aws_sdk_s3::Client,
    src: String,
    dst: String,
    proxy: FaultProxy,
    work: tempfile::TempDir,
}

impl Scenario {
    async fn new(
        server: &'static S3Server,
        tag: &str,
        objects: &[FixtureObject],
        plan: FaultPlan,
    ) -> Scenario {
        let (client, src, dst) = fresh_buckets(server, tag).await;
        fixtures::upload_all(&client, &src, objects).await;
        let proxy = FaultProxy::start(&server.endpoint, plan)
            .await
            .expect("start proxy");
        Scenario {
            server,
            client,
            src,
            dst,
            proxy,
            work: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// One rsync run through the proxy of the whole bucket (`,` part file).
    async fn rsync(&self, extra: &[&str]) -> Run {
        self.rsync_with_env(extra, &[]).await
    }

    /// [`Scenario::rsync`] with more environment for the tasks.
    async fn rsync_with_env(
        &self,
        extra: &[&str],
        more_env: &[(&'static str, &'static str)],
    ) -> Run {
        let part_file = self.work.path().join("part.all");
        std::fs::write(&part_file, ",\n").expect("part file");
        let endpoint = self.proxy.endpoint();
        let server = self.server;
        let work = self.work.path().to_path_buf();
        let (src, dst) = (self.src.clone(), self.dst.clone());
        // The faults these scenarios inject are in GET and PUT bodies: the copy goes
        // through the tasks, as it does where the destination cannot read the source.
        let extra: Vec<String> = extra
            .iter()
            .map(|s| s.to_string())
            .chain(["--no-server-side-copy".to_string()])
            .collect();
        let mut env = task_env();
        env.extend_from_slice(more_env);
        tokio::task::spawn_blocking(move || {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            rsync_local_at(
                server,
                &endpoint,
                &work,
                &part_file,
                (&src, &dst),
                &extra,
                &env,
            )
        })
        .await
        .expect("rsync thread")
    }

    /// Asserts every object is identical at the destination and no upload is left.
    async fn assert_copied(&self, objects: &[FixtureObject], run: &Run) {
        for object in objects {
            assert_same_object(&self.client, &self.src, &self.dst, &object.key).await;
        }
        assert_eq!(
            uploads_in_progress(&self.client, &self.dst).await,
            0,
            "uploads left in progress:\n{}",
            run.stderr
        );
    }
}

/// One fault of `kind`, `times` times, on every request it applies to.
fn only(kind: FaultKind, times: u64) -> FaultPlan {
    FaultPlan {
        rate: 1.0,
        kinds: vec![kind],
        limit: Some(times),
        ..FaultPlan::none()
    }
}

/// A whole object and a two-part one: one PutObject and two UploadParts to write.
fn one_put_and_two_parts() -> [FixtureObject; 2] {
    let mib = 1024 * 1024;
    [
        FixtureObject::whole("whole", 300_000),
        FixtureObject::multipart("multi", 6 * mib, 5 * mib),
    ]
}

/// Every exchange the proxy forwards, once answered.
fn record_exchanges(proxy: &FaultProxy) -> Arc<Mutex<Vec<campanile_testkit::faults::Exchange>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    proxy.set_hook(Arc::new({
        let seen = seen.clone();
        move |exchange| {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.push(exchange.clone());
        }
    }));
    seen
}

fn taken(
    seen: &Mutex<Vec<campanile_testkit::faults::Exchange>>,
) -> Vec<campanile_testkit::faults::Exchange> {
    seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_in_a_whole_object_is_caught_and_the_get_retried() {
    let objects = [FixtureObject::whole("whole", 300_000)];
    let plan = only(FaultKind::FlipResponseByte, 1);
    let scenario = Scenario::new(campanile_testkit::s3(), "flip-get", &objects, plan).await;
    let seen = record_exchanges(&scenario.proxy);
    let result = scenario.rsync(&[]).await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        scenario.proxy.stats().injected[&FaultKind::FlipResponseByte],
        1
    );
    scenario.assert_copied(&objects, &result).await;
    // The object was read again; no PUT of the damaged bytes was stored (without the
    // client's MD5, Garage refuses them for the source's ETag as their Content-MD5).
    let seen = taken(&seen);
    let of_whole = |method: &str| {
        seen.iter()
            .filter(|e| {
                e.method == method
                    && e.target
                        .split('?')
                        .next()
                        .is_some_and(|p| p.ends_with("/whole"))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(of_whole("GET").len(), 2, "{seen:#?}");
    let stored: Vec<_> = of_whole("PUT")
        .into_iter()
        .filter(|e| e.status == 200)
        .collect();
    assert_eq!(stored.len(), 1, "one PUT stored, the good one: {seen:#?}");
}

/// A whole object whose PUT body is damaged on its way to the server is refused by
/// the server (its Content-MD5 is the source's ETag), never stored and then replaced:
/// the only PUT the server accepted is the good one, and the destination shows the
/// source's object.
#[tokio::test(flavor = "multi_thread")]
async fn a_whole_object_damaged_on_its_way_in_is_refused_by_the_server_not_replaced() {
    let objects = [FixtureObject::whole("whole", 300_000)];
    let plan = only(FaultKind::FlipRequestByte, 1);
    let scenario = Scenario::new(campanile_testkit::s3(), "flip-in", &objects, plan).await;
    let seen = record_exchanges(&scenario.proxy);
    let result = scenario.rsync(&[]).await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        scenario.proxy.stats().injected[&FaultKind::FlipRequestByte],
        1
    );
    let puts: Vec<_> = taken(&seen)
        .into_iter()
        .filter(|e| e.method == "PUT" && !e.probe)
        .collect();
    assert_eq!(puts.len(), 2, "{puts:#?}");
    let damaged = &puts[0];
    assert_eq!(damaged.fault, Some(FaultKind::FlipRequestByte), "{puts:#?}");
    assert_eq!(
        damaged.status, 400,
        "the server refused the damaged body: {puts:#?}"
    );
    assert!(damaged.content_md5, "{puts:#?}");
    assert_eq!((puts[1].fault, puts[1].status), (None, 200), "{puts:#?}");
    scenario.assert_copied(&objects, &result).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_in_a_put_is_refused_by_content_md5_and_the_put_retried() {
    let objects = one_put_and_two_parts();
    // Every PutObject and UploadPart body is damaged once: three in all.
    let plan = only(FaultKind::FlipRequestByte, 3);
    let scenario = Scenario::new(campanile_testkit::s3(), "flip-put", &objects, plan).await;
    let seen = record_exchanges(&scenario.proxy);
    let result = scenario.rsync(&[]).await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        scenario.proxy.stats().injected[&FaultKind::FlipRequestByte],
        3
    );
    scenario.assert_copied(&objects, &result).await;
    // Each damaged body was refused by the server (a part for its checksum), not
    // stored: 400, then the write again.
    let flipped: Vec<_> = taken(&seen)
        .into_iter()
        .filter(|e| e.fault == Some(FaultKind::FlipRequestByte))
        .collect();
    assert_eq!(flipped.len(), 3, "{flipped:#?}");
    assert!(flipped.iter().all(|e| e.status == 400), "{flipped:#?}");
}

/// The same damage with `--client-md5` (CAMPANILE_CLIENT_MD5 for rsync's tasks): the
/// MD5 path refuses it by the Content-MD5 of the bytes read.
#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_in_a_put_is_refused_with_client_md5_too() {
    let objects = one_put_and_two_parts();
    let plan = only(FaultKind::FlipRequestByte, 3);
    let scenario = Scenario::new(campanile_testkit::s3(), "flip-put-md5", &objects, plan).await;
    let result = scenario
        .rsync_with_env(&[], &[("CAMPANILE_CLIENT_MD5", "true")])
        .await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(
        scenario.proxy.stats().injected[&FaultKind::FlipRequestByte],
        3
    );
    scenario.assert_copied(&objects, &result).await;
}

/// The writes of a copy of [`one_put_and_two_parts`] on `server` with `env`, the
/// probe's left out, and whether objectcopy probed the server.
async fn writes_of_a_copy(
    server: &'static S3Server,
    tag: &str,
    env: &[(&'static str, &'static str)],
) -> (Vec<campanile_testkit::faults::Exchange>, bool) {
    let objects = one_put_and_two_parts();
    let scenario = Scenario::new(server, tag, &objects, FaultPlan::none()).await;
    let seen = record_exchanges(&scenario.proxy);
    let result = scenario.rsync_with_env(&[], env).await;
    assert_eq!(result.code, 0, "{}", result.stderr);
    scenario.assert_copied(&objects, &result).await;
    let seen = taken(&seen);
    let probed = seen.iter().any(|e| e.probe);
    let writes = seen
        .into_iter()
        .filter(|e| e.method == "PUT" && !e.probe)
        .collect();
    (writes, probed)
}

/// With `--client-md5` (CAMPANILE_CLIENT_MD5), every object and part written carries
/// Content-MD5, and its payload is not hashed a second time for the signature:
/// Content-MD5, which the signature covers, is the body's guard (a flipped body byte is
/// refused for it, as the test above shows).
#[tokio::test(flavor = "multi_thread")]
async fn writes_carry_content_md5_and_an_unsigned_payload() {
    let (writes, probed) = writes_of_a_copy(
        campanile_testkit::s3(),
        "unsigned",
        &[("CAMPANILE_CLIENT_MD5", "true")],
    )
    .await;
    assert!(!probed, "--client-md5 does not probe the server");
    // One PutObject and two UploadParts.
    assert_eq!(writes.len(), 3, "{writes:?}");
    for write in &writes {
        assert!(write.content_md5, "a write without Content-MD5: {write:?}");
        assert_eq!(
            write.payload_hash.as_deref(),
            Some("UNSIGNED-PAYLOAD"),
            "{write:?}"
        );
    }
}

/// By default, on a server that refuses a body not matching its Content-MD5 or its
/// checksum (Garage, after the probe sees it): the PutObject carries Content-MD5 (the
/// source's ETag), each UploadPart a CRC64NVME checksum and no Content-MD5 (the client
/// computes no MD5); every payload unsigned.
#[tokio::test(flavor = "multi_thread")]
async fn a_checking_server_gets_checksums_on_parts_and_the_source_etag_as_content_md5() {
    let (writes, probed) = writes_of_a_copy(campanile_testkit::s3(), "server-checks", &[]).await;
    assert!(probed, "objectcopy probes what the server checks");
    assert_eq!(writes.len(), 3, "{writes:?}");
    for write in &writes {
        assert_eq!(
            write.payload_hash.as_deref(),
            Some("UNSIGNED-PAYLOAD"),
            "{write:?}"
        );
        if write.target.contains("partNumber=") {
            assert!(!write.content_md5, "{write:?}");
            assert_eq!(
                write.checksum.as_deref(),
                Some("x-amz-checksum-crc64nvme"),
                "{write:?}"
            );
        } else {
            assert!(write.content_md5, "{write:?}");
        }
    }
}

/// A server that checks neither Content-MD5 nor checksums (moto) is found out by the
/// probe and gets the MD5 path: every write carries the Content-MD5 of the bytes read.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_checks_nothing_gets_the_client_md5_path() {
    let (writes, probed) = writes_of_a_copy(campanile_testkit::moto(), "no-checks", &[]).await;
    assert!(probed, "objectcopy probes what the server checks");
    assert_eq!(writes.len(), 3, "{writes:?}");
    for write in &writes {
        assert!(write.content_md5, "a write without Content-MD5: {write:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_in_a_part_fails_the_job_and_never_lands() {
    let mib = 1024 * 1024;
    let objects = [FixtureObject::multipart("multi", 11 * mib, 5 * mib)];
    // A part's bytes cannot be checked until the whole object's ETag is known: the
    // damage must be caught there, and the object must not appear.
    let plan = FaultPlan {
        flip_ranged_gets: true,
        ..only(FaultKind::FlipResponseByte, 1)
    };
    let scenario = Scenario::new(campanile_testkit::s3(), "flip-part", &objects, plan).await;
    let failed = scenario.rsync(&["--uuid", "1"]).await;
    assert_ne!(failed.code, 0, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("ETag"),
        "the error names the ETag check:\n{}",
        failed.stderr
    );
    let (client, dst) = (&scenario.client, &scenario.dst);
    assert!(keys(client, dst).await.is_empty(), "nothing landed");
    assert_eq!(uploads_in_progress(client, dst).await, 0);
    // Running the job again copies it.
    scenario.proxy.set_plan(FaultPlan::none());
    let again = scenario.rsync(&["--uuid", "2", "--diff"]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    scenario.assert_copied(&objects, &again).await;
}

/// Which exchange kills which task.
struct KillPoint {
    program: &'static str,
    /// Whether an exchange counts towards the kill.
    matches: fn(&campanile_testkit::faults::Exchange) -> bool,
}

fn list_page(e: &campanile_testkit::faults::Exchange) -> bool {
    e.method == "GET" && e.target.contains("list-type")
}

fn create_upload(e: &campanile_testkit::faults::Exchange) -> bool {
    e.method == "POST" && e.target.contains("uploads") && !e.target.contains("uploadId") && !e.probe
}

fn write_data(e: &campanile_testkit::faults::Exchange) -> bool {
    e.method == "PUT" && !e.probe
}

fn complete_upload(e: &campanile_testkit::faults::Exchange) -> bool {
    e.method == "POST" && e.target.contains("uploadId")
}

/// Copies a moto bucket of small and multipart objects through a proxy whose hook
/// kills `point.program` once the server has answered the `at`-th matching request
/// (before the task gets the answer); asserts the copy is correct and no upload is
/// left in progress; returns the run.
async fn killed_at(point: KillPoint, at: u64, tag: &str) -> Run {
    let server = campanile_testkit::moto();
    let mib = 1024 * 1024;
    let mut objects: Vec<FixtureObject> = (0..8)
        .map(|i| FixtureObject::whole(format!("small/{i}"), 1000 + i))
        .collect();
    objects.extend((0..4).map(|i| {
        FixtureObject::multipart(format!("multi/{i}"), 5 * mib + 1 + i * 100_000, 5 * mib)
    }));
    let scenario = Scenario::new(server, tag, &objects, FaultPlan::none()).await;
    let seen = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(Mutex::new(0u64));
    {
        // bucketlist's arguments name the listed (source) bucket, the others the
        // destination: either tells this test's processes from other tests'.
        let marker = if point.program == "bucketlist" {
            scenario.src.clone()
        } else {
            scenario.dst.clone()
        };
        let (seen, killed) = (seen.clone(), killed.clone());
        scenario.proxy.set_hook(Arc::new(move |exchange| {
            if (point.matches)(exchange) && seen.fetch_add(1, Ordering::SeqCst) + 1 == at {
                let mut killed = killed.lock().unwrap_or_else(|p| p.into_inner());
                *killed += kill_tasks(point.program, &marker);
            }
        }));
    }
    let result = scenario.rsync(&[]).await;
    let killed = *killed.lock().unwrap_or_else(|p| p.into_inner());
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert!(killed >= 1, "no {} process was killed", point.program);
    let failed: u64 = reports(&result)
        .iter()
        .filter_map(|r| r["failed_attempts"].as_u64())
        .sum();
    assert!(failed >= 1, "the killed attempt was not counted as failed");
    scenario.assert_copied(&objects, &result).await;
    result
}

/// A seeded random point in 1..=n (the seed is printed, to replay a failure).
fn random_point(n: u64) -> u64 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let point = seed % n + 1;
    println!("kill point {point} of {n} (from seed {seed})");
    point
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_bucketlist_during_a_listing_lists_each_object_once() {
    // One part-file line: one ListObjectsV2 page for the source, one for nothing else
    // (without --diff the destination is not listed).
    killed_at(
        KillPoint {
            program: "bucketlist",
            matches: list_page,
        },
        1,
        "kill-list",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_multipartlist_after_it_created_uploads_leaves_no_orphan() {
    let at = random_point(4);
    let result = killed_at(
        KillPoint {
            program: "multipartlist",
            matches: create_upload,
        },
        at,
        "kill-mlist",
    )
    .await;
    // No upload left in progress (checked by killed_at): the retried attempt aborted
    // the killed one's uploads as it created its own.
    assert_eq!(result.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_multipartlist_aborts_the_uploads_of_the_attempt_before() {
    let server = campanile_testkit::moto();
    let mib = 1024 * 1024;
    let objects: Vec<FixtureObject> = ["m/1", "m/10"]
        .iter()
        .map(|key| FixtureObject::multipart(*key, 5 * mib + 1, 5 * mib))
        .collect();
    let scenario = Scenario::new(server, "mlist-again", &objects, FaultPlan::none()).await;
    let both = src_dst_args(server, &scenario.src, &scenario.dst);
    let listing = list_bucket(server, &scenario.src, ",\n");
    let first = stage(MULTIPARTLIST, &both, &listing.stdout, server);
    let upload_of = |run: &Run, key: &str| -> String {
        run.lines()
            .into_iter()
            .find(|l| l.starts_with(&format!("{key}\t")))
            .and_then(|l| l.split('\t').nth(4).map(str::to_string))
            .expect("an upload id")
    };
    // The attempt is retried for m/1 only: m/10's upload (a prefix match) must stay.
    let m1_line: String = listing
        .lines()
        .into_iter()
        .find(|l| l.starts_with("m/1\t"))
        .expect("m/1 listed")
        .to_string();
    let again = stage(MULTIPARTLIST, &both, &format!("{m1_line}\n"), server);
    let mut left: Vec<String> = scenario
        .client
        .list_multipart_uploads()
        .bucket(&scenario.dst)
        .send()
        .await
        .expect("list uploads")
        .uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_string))
        .collect();
    left.sort();
    let mut expected = vec![upload_of(&again, "m/1"), upload_of(&first, "m/10")];
    expected.sort();
    assert_eq!(left, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_copy_leaves_no_upload_in_progress() {
    let server = campanile_testkit::moto();
    let mib = 1024 * 1024;
    let objects: Vec<FixtureObject> = (0..3)
        .map(|i| FixtureObject::multipart(format!("multi/{i}"), 5 * mib + 1, 5 * mib))
        .collect();
    let scenario = Scenario::new(server, "failed-copy", &objects, FaultPlan::none()).await;
    // Once the first upload exists, it is aborted behind the run's back: objectcopy's
    // UploadParts to it fail (NoSuchUpload) on every attempt, and the run fails with
    // the other uploads in progress. (A source replaced mid-run no longer fails a run:
    // it is skipped and reported, see tests/it/live.rs.)
    let aborted = Arc::new(AtomicU64::new(0));
    {
        let (aborted, dst) = (aborted.clone(), scenario.dst.clone());
        scenario.proxy.set_hook(Arc::new(move |exchange| {
            if create_upload(exchange) && aborted.fetch_add(1, Ordering::SeqCst) == 0 {
                let path = exchange.target.split('?').next().unwrap_or("");
                let key = path
                    .strip_prefix(&format!("/{dst}/"))
                    .unwrap_or("")
                    .to_string();
                let dst = dst.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Runtime::new().expect("runtime");
                    runtime.block_on(async {
                        let client = server.client().await;
                        let uploads = client
                            .list_multipart_uploads()
                            .bucket(&dst)
                            .prefix(&key)
                            .send()
                            .await
                            .expect("list uploads");
                        for upload in uploads.uploads() {
                            if upload.key() == Some(key.as_str()) {
                                client
                                    .abort_multipart_upload()
                                    .bucket(&dst)
                                    .key(&key)
                                    .upload_id(upload.upload_id().unwrap_or_default())
                                    .send()
                                    .await
                                    .expect("abort");
                            }
                        }
                    });
                })
                .join()
                .expect("abort the upload");
            }
        }));
    }
    // moto answers an UploadPart to an aborted upload with a 500, which the SDK would
    // retry ten times with backoff on each of the six attempts: two are enough here.
    let result = scenario
        .rsync_with_env(&[], &[("CAMPANILE_S3_MAX_ATTEMPTS", "2")])
        .await;
    assert_ne!(result.code, 0, "{}", result.stderr);
    assert!(
        result.stderr.contains("record(s) failed: multi/")
            && result.stderr.contains("S3 UploadPart"),
        "the run names the failed parts:\n{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("aborted "),
        "the run says it cleaned up:\n{}",
        result.stderr
    );
    assert_eq!(
        uploads_in_progress(&scenario.client, &scenario.dst).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_objectcopy_at_a_random_write_gives_a_correct_copy() {
    // 8 PutObject + 8 UploadPart.
    let result = killed_at(
        KillPoint {
            program: "objectcopy",
            matches: write_data,
        },
        random_point(16),
        "kill-copy",
    )
    .await;
    // The retried attempt (the local runner exports its attempt id as Hadoop does)
    // found at least the write the killed one had made, and did not make it again.
    let found: i64 = reports(&result)
        .iter()
        .filter(|r| r["step"].as_str().is_some_and(|s| s.starts_with("copy")))
        .filter_map(|r| r["counters"].as_object())
        .flat_map(|groups| groups.values())
        .filter_map(|counters| counters["AlreadyCopied"].as_i64())
        .sum();
    assert!(found >= 1, "nothing found done:\n{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_multipartcomplete_after_the_server_completed_an_upload_is_safe() {
    killed_at(
        KillPoint {
            program: "multipartcomplete",
            matches: complete_upload,
        },
        random_point(4),
        "kill-complete",
    )
    .await;
}

/// Offered requests (forwarded + throttled) per second and the throttled share, over
/// the whole seconds of `per_second` from `from` (inclusive) to `to` (exclusive).
fn offered(
    per_second: &std::collections::BTreeMap<u64, (u64, u64)>,
    from: u64,
    to: u64,
) -> (f64, f64) {
    let (mut forwarded, mut throttled) = (0, 0);
    for (_, (f, t)) in per_second.range(from..to) {
        forwarded += f;
        throttled += t;
    }
    let seconds = (to - from).max(1) as f64;
    let offered = (forwarded + throttled) as f64;
    (offered / seconds, throttled as f64 / offered.max(1.0))
}

#[tokio::test(flavor = "multi_thread")]
async fn sustained_slow_down_settles_under_the_servers_rate_and_loses_nothing() {
    // A server that takes 40 requests a second and answers 503 SlowDown above that,
    // and a run whose two tasks may send 320 reads and 320 writes a second each, sixteen
    // times what the server takes: the governor must bring the offered rate down to
    // what the server takes, and every object must land.
    const LIMIT: u32 = 40;
    let objects: Vec<FixtureObject> = (0..160)
        .map(|i| FixtureObject::whole(format!("k{i:03}"), 512))
        .collect();
    let plan = FaultPlan::rate_limited(LIMIT);
    let scenario = Scenario::new(campanile_testkit::s3(), "slowdown", &objects, plan).await;
    let run = scenario
        .rsync(&[
            "--parallel",
            "2",
            "--prefix-reads-per-second",
            "640",
            "--prefix-writes-per-second",
            "640",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    scenario.assert_copied(&objects, &run).await;
    let stats = scenario.proxy.stats();
    assert!(
        stats.throttled >= 20,
        "the server hardly had to refuse: {stats:?}"
    );
    let last = *stats.per_second.keys().last().expect("requests seen");
    assert!(last >= 6, "the run was too short to settle: {stats:?}");
    // The first seconds offer well over the limit; the second half of the run (its last,
    // partial second left out) must offer about what the server takes, and few 503s.
    let (early_rate, _) = offered(&stats.per_second, 0, 2);
    let (late_rate, late_throttled) = offered(&stats.per_second, last / 2, last);
    eprintln!(
        "offered {early_rate:.0}/s at first, {late_rate:.0}/s later ({:.0}% throttled); {stats:?}",
        late_throttled * 100.0
    );
    assert!(
        late_rate <= f64::from(LIMIT) * 1.25,
        "the offered rate did not settle: {late_rate:.1}/s over a limit of {LIMIT}/s"
    );
    assert!(
        late_throttled < 0.2,
        "{:.0}% of requests were throttled once settled",
        late_throttled * 100.0
    );
}
