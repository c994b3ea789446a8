//! `campanile verify` on the local runner, end to end: a copy made by `campanile sync`
//! verifies clean (exit 0, empty report); each kind of report row comes from a real
//! difference made at the destination afterwards (a key deleted: `missing`; other
//! bytes: `changed`; another Content-Type or user metadata: `metadata_drift`; a key the
//! source lacks: `extra`), with the prefixes mapped and the summary's counts equal to
//! the report's rows (exit 3); a dry run lists what would be compared without a HEAD;
//! tags and storage class are compared on moto (Garage has no object tagging);
//! `sync --input-report` copies just the reported keys, after which the report holds
//! only the extra key; the copy-only flags are refused (exit 2).

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;
use campanile_testkit::{S3Server, fixtures};

/// `campanile JOB` on the local runner with both endpoints `server`'s, run and output
/// directories under `work`, `--json`, and `args` (locations, flags).
fn campanile_at(server: &S3Server, work: &Path, job: &str, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec![
        job.into(),
        "--src-endpoint".into(),
        server.endpoint.clone(),
        "--dst-endpoint".into(),
        server.endpoint.clone(),
        "--run-dir".into(),
        work.join("runs").display().to_string(),
        "--output".into(),
        work.join("output").display().to_string(),
        "--json".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    run(CAMPANILE, &all, "", server, &[])
}

/// The `{"verify":{…}}` line of a verify run.
fn verify_line(run: &Run) -> serde_json::Value {
    json_lines(run)
        .into_iter()
        .find_map(|mut line| line.get_mut("verify").map(serde_json::Value::take))
        .unwrap_or_else(|| panic!("no verify line:\n{}\n{}", run.stdout, run.stderr))
}

/// The report's rows, by source key.
fn report_rows(summary: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    let path = summary["report"].as_str().expect("report path");
    assert!(path.ends_with("/_verify.jsonl"), "{path}");
    std::fs::read_to_string(path)
        .expect("report")
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("JSON row");
            (row["key"].as_str().expect("key").to_string(), row)
        })
        .collect()
}

const KEYS: [&str; 4] = ["logs/a", "logs/b", "logs/c", "logs/sub/d"];

/// The multipart object of the tests: 6 MiB in a 5 MiB and a 1 MiB part.
const BIG: u64 = 6 << 20;

/// Source `logs/` holds a, b, c, sub/d and big (multipart, 2 parts); copied to the
/// destination's `mirror/` by `campanile sync`. The destination also holds `keep/x`,
/// outside the prefix.
async fn copied(server: &S3Server, tag: &str, work: &Path) -> (aws_sdk_s3::Client, String, String) {
    let (client, src, dst) = fresh_buckets(server, tag).await;
    for key in KEYS {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, 1000)).await;
    }
    let big = fixtures::fixture_bytes("logs/big", BIG);
    fixtures::put_multipart(&client, &src, "logs/big", &big, &[5 << 20, 1 << 20]).await;
    fixtures::put_object(&client, &dst, "keep/x", b"outside".to_vec()).await;
    let synced = campanile_at(
        server,
        work,
        "sync",
        &[&format!("s3://{src}/logs/"), &format!("s3://{dst}/mirror/")],
    );
    assert_eq!(synced.code, 0, "{}\n{}", synced.stdout, synced.stderr);
    (client, src, dst)
}

async fn put_with(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    data: Vec<u8>,
    content_type: Option<&str>,
    metadata: Option<(&str, &str)>,
) {
    let mut request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data));
    if let Some(content_type) = content_type {
        request = request.content_type(content_type);
    }
    if let Some((name, value)) = metadata {
        request = request.metadata(name, value);
    }
    request.send().await.expect("put");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_is_clean_after_a_sync_and_reports_each_difference_by_kind() {
    let server = campanile_testkit::s3();
    let work = tempfile::tempdir().expect("work dir");
    let (client, src, dst) = copied(server, "verify", work.path()).await;
    let (source, target) = (format!("s3://{src}/logs/"), format!("s3://{dst}/mirror/"));

    let clean = campanile_at(server, work.path(), "verify", &[&source, &target]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    let summary = verify_line(&clean);
    // The multipart copy kept the source's parts: its ETag proves it too.
    assert_eq!(summary["identical"], 5, "{summary}");
    assert_eq!(summary["proven_by_etag"], 5, "{summary}");
    assert_eq!(summary["not_identical"], 0, "{summary}");
    assert!(report_rows(&summary).is_empty());
    assert!(
        clean.stderr.contains("Verify: 5 identical"),
        "{}",
        clean.stderr
    );

    // One real difference of each kind at the destination.
    client
        .delete_object()
        .bucket(&dst)
        .key("mirror/a")
        .send()
        .await
        .expect("delete");
    fixtures::put_object(&client, &dst, "mirror/b", b"other bytes".to_vec()).await;
    let c = fixtures::fixture_bytes("logs/c", 1000);
    put_with(&client, &dst, "mirror/c", c, Some("text/html"), None).await;
    let d = fixtures::fixture_bytes("logs/sub/d", 1000);
    put_with(&client, &dst, "mirror/sub/d", d, None, Some(("owner", "x"))).await;
    fixtures::put_object(&client, &dst, "mirror/x", b"dst only".to_vec()).await;
    // The same bytes in one PUT: its MD5 ETag and the source's 2-part one cannot be
    // compared, and the source has no checksum.
    // (Without a Content-Type, as the source has none: the SDK would send one.)
    client
        .put_object()
        .bucket(&dst)
        .key("mirror/big")
        .body(ByteStream::from(fixtures::fixture_bytes("logs/big", BIG)))
        .customize()
        .mutate_request(|request| {
            request.headers_mut().remove("content-type");
        })
        .send()
        .await
        .expect("put without Content-Type");

    let ran = campanile_at(server, work.path(), "verify", &[&source, &target]);
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("6 key(s) not identical"),
        "{}",
        ran.stderr
    );
    let summary = verify_line(&ran);
    let rows = report_rows(&summary);
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|(key, row)| (key.as_str(), row["kind"].as_str().expect("kind")))
        .collect();
    assert_eq!(
        kinds,
        [
            ("logs/a", "missing"),
            ("logs/b", "changed"),
            ("logs/big", "unverifiable"),
            ("logs/c", "metadata_drift"),
            ("logs/sub/d", "metadata_drift"),
            ("logs/x", "extra"),
        ]
    );
    // The counts are the rows'.
    for (kind, count) in [
        ("missing", 1),
        ("changed", 1),
        ("metadata_drift", 2),
        ("unverifiable", 1),
        ("extra", 1),
    ] {
        assert_eq!(summary[kind], count, "{kind}: {summary}");
    }
    assert_eq!(summary["not_identical"], rows.len(), "{summary}");
    assert_eq!(summary["identical"], 0, "{summary}");
    // The run ran to its end: `campanile runs` says finished, exit 3.
    let runs = run(
        CAMPANILE,
        &[
            "runs",
            "--json",
            "--run-dir",
            &work.path().join("runs").display().to_string(),
        ],
        "",
        server,
        &[],
    );
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    let dir = run_paths(&ran)["run_dir"].clone();
    let last: serde_json::Value = json_lines(&runs)
        .into_iter()
        .find(|r| r["run_dir"] == dir)
        .unwrap_or_else(|| panic!("no run {dir} in:\n{}", runs.stdout));
    assert_eq!(last["state"], "finished", "{last}");
    assert_eq!(last["exit_code"], 3, "{last}");
    // The prefixes are mapped, and each row says what it saw.
    let a = &rows["logs/a"];
    assert_eq!(a["dst_key"], "mirror/a");
    assert_eq!(a["src"]["size"], 1000);
    assert!(a.get("dst").is_none(), "{a}");
    let b = &rows["logs/b"];
    assert_eq!(b["dst"]["size"], 11);
    assert!(
        b["reason"].as_str().expect("reason").contains("size"),
        "{b}"
    );
    let big = &rows["logs/big"];
    assert!(
        big["reason"]
            .as_str()
            .expect("reason")
            .contains("part layout"),
        "{big}"
    );
    assert!(
        big["src"]["etag"].as_str().expect("etag").ends_with("-2"),
        "{big}"
    );
    assert_eq!(
        rows["logs/c"]["fields"],
        serde_json::json!(["content_type"])
    );
    assert_eq!(
        rows["logs/sub/d"]["fields"],
        serde_json::json!(["metadata"])
    );
    let x = &rows["logs/x"];
    assert_eq!(x["dst_key"], "mirror/x");
    assert!(x.get("src").is_none(), "{x}");
    // The counters of the tasks say the same.
    let steps = reports(&ran);
    assert_eq!(counter(&steps, "verify.", "Verify", "Missing"), 1);
    assert_eq!(counter(&steps, "verify.", "Verify", "MetadataDrift"), 2);
    assert_eq!(counter(&steps, "extra.", "Verify", "Extra"), 1);

    // A dry run lists what would be compared, and the extra key, with no HEAD.
    let dry = campanile_at(
        server,
        work.path(),
        "verify",
        &[&source, &target, "--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}\n{}", dry.stdout, dry.stderr);
    let lines = json_lines(&dry);
    let mut compared: Vec<&str> = lines
        .iter()
        .filter(|l| l["action"] == "compare")
        .filter_map(|l| l["dst_key"].as_str())
        .collect();
    // In the listing's order, which follows the part file's lines.
    compared.sort_unstable();
    assert_eq!(
        compared,
        [
            "mirror/a",
            "mirror/b",
            "mirror/big",
            "mirror/c",
            "mirror/sub/d"
        ]
    );
    let extra: Vec<&str> = lines
        .iter()
        .filter(|l| l["action"] == "extra")
        .filter_map(|l| l["dst_key"].as_str())
        .collect();
    assert_eq!(extra, ["mirror/x"]);
    let totals = lines
        .iter()
        .find_map(|l| l.get("dry_run"))
        .expect("dry run totals");
    assert_eq!(totals["compare"], 5);
    assert_eq!(totals["extra"], 1);
    assert_eq!(totals["bytes"], 4000 + BIG);

    // Without the destination listing: no extra row.
    let ran = campanile_at(
        server,
        work.path(),
        "verify",
        &[&source, &target, "--no-extra"],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let summary = verify_line(&ran);
    assert_eq!(summary["extra"], 0, "{summary}");
    assert_eq!(summary["not_identical"], 5, "{summary}");

    // The report drives a copy of just its missing, changed and drifted keys.
    let report = summary["report"].as_str().expect("report").to_string();
    let fixed = campanile_at(
        server,
        work.path(),
        "sync",
        &[&source, &target, "--input-report", &report],
    );
    assert_eq!(fixed.code, 0, "{}\n{}", fixed.stdout, fixed.stderr);
    assert!(
        fixed
            .stderr
            .contains("4 key(s) to copy (missing, changed, metadata drift), 1 left out"),
        "{}",
        fixed.stderr
    );
    let copied = crate::common::summary(&fixed);
    assert_eq!(copied["objects"], 4, "{copied}");
    // No source listing step: the report was the listing.
    let steps = reports(&fixed);
    assert!(
        steps
            .iter()
            .filter_map(|s| s["step"].as_str())
            .all(|name| !name.starts_with("list.")),
        "{steps:?}"
    );
    // Only the extra key (which a copy does not remove) and the unverifiable one (which
    // it was not asked to copy) are left.
    let again = campanile_at(server, work.path(), "verify", &[&source, &target]);
    assert_eq!(again.code, 3, "{}\n{}", again.stdout, again.stderr);
    let summary = verify_line(&again);
    assert_eq!(summary["identical"], 4, "{summary}");
    let rows = report_rows(&summary);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["logs/big", "logs/x"]);
    // Extra and unverifiable rows are not copied; a report made for other locations
    // is refused.
    let report = summary["report"].as_str().expect("report").to_string();
    let nothing = campanile_at(
        server,
        work.path(),
        "sync",
        &[&source, &target, "--input-report", &report],
    );
    assert_eq!(nothing.code, 0, "{}", nothing.stderr);
    assert!(
        nothing.stderr.contains("0 key(s) to copy"),
        "{}",
        nothing.stderr
    );
    let elsewhere = format!("s3://{dst}/elsewhere/");
    let first = campanile_at(server, work.path(), "verify", &[&source, &elsewhere]);
    assert_eq!(first.code, 3, "{}", first.stderr);
    let report = verify_line(&first)["report"]
        .as_str()
        .expect("report")
        .to_string();
    let refused = campanile_at(
        server,
        work.path(),
        "sync",
        &[&source, &target, "--input-report", &report],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("other locations"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_verify_compares_both_sides_after_the_copy() {
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "syncverify").await;
    let work = tempfile::tempdir().expect("work dir");
    for key in KEYS {
        fixtures::put_object(&client, &src, key, fixtures::fixture_bytes(key, 300)).await;
    }
    let (source, target) = (format!("s3://{src}"), format!("s3://{dst}"));
    let ran = campanile_at(server, work.path(), "sync", &[&source, &target, "--verify"]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(crate::common::summary(&ran)["objects"], 4);
    assert_eq!(verify_line(&ran)["identical"], 4);
    // A key only the destination has is found by the verify after the copy.
    fixtures::put_object(&client, &dst, "stray", b"x".to_vec()).await;
    let ran = campanile_at(
        server,
        work.path(),
        "sync",
        &[&source, &target, "--verify", "--diff"],
    );
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let summary = verify_line(&ran);
    assert_eq!(summary["extra"], 1, "{summary}");
    assert_eq!(summary["identical"], 4, "{summary}");
}

/// moto: Garage has no object tagging. Tags (read only when a side counts them) and
/// the storage class (STANDARD when S3 names none; the copies' class with
/// `--storage-class`) are compared.
#[tokio::test(flavor = "multi_thread")]
async fn tags_and_storage_class_drift_are_reported() {
    let server = campanile_testkit::moto();
    let (client, src, dst) = fresh_buckets(server, "verify-tags").await;
    let work = tempfile::tempdir().expect("work dir");
    for key in ["tagged", "plain"] {
        client
            .put_object()
            .bucket(&src)
            .key(key)
            .body(ByteStream::from(fixtures::fixture_bytes(key, 100)))
            .tagging("team=a&tier=1")
            .send()
            .await
            .expect("put");
    }
    let (source, target) = (format!("s3://{src}"), format!("s3://{dst}"));
    let synced = campanile_at(server, work.path(), "sync", &[&source, &target]);
    assert_eq!(synced.code, 0, "{}", synced.stderr);
    let clean = campanile_at(server, work.path(), "verify", &[&source, &target]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert_eq!(verify_line(&clean)["identical"], 2);

    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key("team")
                .value("b")
                .build()
                .expect("tag"),
        )
        .build()
        .expect("tagging");
    client
        .put_object_tagging()
        .bucket(&dst)
        .key("tagged")
        .tagging(tagging)
        .send()
        .await
        .expect("retag");
    client
        .copy_object()
        .bucket(&dst)
        .key("plain")
        .copy_source(format!("{dst}/plain"))
        .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
        .send()
        .await
        .expect("change the class");
    let ran = campanile_at(server, work.path(), "verify", &[&source, &target]);
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let rows = report_rows(&verify_line(&ran));
    assert_eq!(rows["tagged"]["kind"], "metadata_drift");
    assert_eq!(rows["tagged"]["fields"], serde_json::json!(["tags"]));
    assert_eq!(rows["plain"]["kind"], "metadata_drift");
    assert_eq!(
        rows["plain"]["fields"],
        serde_json::json!(["storage_class"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_only_flags_and_unfiltered_extra_keys_are_refused() {
    let server = campanile_testkit::s3();
    let work = tempfile::tempdir().expect("work dir");
    for flag in [
        "--delete",
        "--no-copy",
        "--server-side-copy",
        "--diff",
        "--verify",
    ] {
        let ran = campanile_at(server, work.path(), "verify", &["s3://a", "s3://b", flag]);
        assert_eq!(ran.code, 2, "{flag}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(flag) && ran.stderr.contains("only make(s) sense for a copy"),
            "{flag}: {}",
            ran.stderr
        );
    }
    let ran = campanile_at(
        server,
        work.path(),
        "verify",
        &["s3://a", "s3://b", "--include", "*.gz"],
    );
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("--no-extra"), "{}", ran.stderr);
}

/// On EMR (moto's EMR API, whose steps run nothing) the verify's steps are submitted
/// in order, and `--wait` gathers the rows its steps wrote to S3 (put there by the
/// test while rsync waits) into `<output>/<partfile>.<uuid>.verify/_verify.jsonl`, read
/// and written with the step logs' S3 client, and exits 3 on them.
#[tokio::test(flavor = "multi_thread")]
async fn on_emr_wait_gathers_the_report_from_the_step_outputs_on_s3() {
    use std::io::{BufRead, BufReader, Read};
    let server = campanile_testkit::moto_emr_steps();
    let client = server.client().await;
    let logs = campanile_testkit::unique_bucket("verify-emr");
    server.create_bucket(&client, &logs).await;
    let cluster = server
        .create_cluster_logging("campanile-verify", Some(&format!("s3n://{logs}/jobflow/")))
        .await;
    let args: Vec<String> = [
        "verify",
        "-j",
        &cluster,
        "--input",
        "s3://codebucket/input/srcbucket/part.all",
        "--code",
        "s3://codebucket",
        "--output",
        &format!("s3://{logs}/output"),
        "s3://srcbucket/logs/",
        "s3://dstbucket/mirror/",
        "--src-endpoint",
        "s3.us-west-2.amazonaws.com",
        "--dst-endpoint",
        "s3.us-west-2.amazonaws.com",
        "--uuid",
        "1451507458",
        "--emr-endpoint",
        &server.endpoint,
        "--wait",
        "--poll-seconds",
        "4",
        "--log-endpoint",
        &server.endpoint,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = std::process::Command::new(CAMPANILE)
        .args(&args)
        .envs(server.command_env())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start campanile verify");
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut added = 0;
    let mut line = String::new();
    // Both listings, the swapped diff, the extra keys and the comparison.
    while added < 5 && stdout.read_line(&mut line).expect("read stdout") > 0 {
        if line.starts_with("Added step ") {
            added += 1;
        }
        line.clear();
    }
    assert_eq!(added, 5, "campanile verify added no steps");
    let missing = r#"{"key":"logs/a","dst_key":"mirror/a","kind":"missing","reason":"the destination has no such key","src":{"etag":"5b19f22219f806ac76668afa30063916","size":3,"mtime":"2026-11-25 04:03:18"}}"#;
    let extra = r#"{"key":"logs/x","dst_key":"mirror/x","kind":"extra","reason":"at the destination only","dst":{"etag":"5b19f22219f806ac76668afa30063916","size":3,"mtime":"2026-11-25 04:03:18"}}"#;
    let base = "output/part.all.1451507458";
    // Hadoop Streaming ends a map-only line without a TAB with one.
    for (dir, row) in [("verify", missing), ("extra", extra)] {
        fixtures::put_object(
            &client,
            &logs,
            &format!("{base}.{dir}/part-00000"),
            format!("{row}\t\n").into_bytes(),
        )
        .await;
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    let stderr = stderr_reader.join().expect("stderr");
    assert_eq!(status.code(), Some(3), "{stderr}");
    let report = format!("s3://{logs}/{base}.verify/_verify.jsonl");
    assert!(stderr.contains(&report), "{stderr}");
    assert!(
        stderr.contains("1 missing, 0 changed, 0 metadata_drift, 0 unverifiable, 1 extra"),
        "{stderr}"
    );
    let written = client
        .get_object()
        .bucket(&logs)
        .key(format!("{base}.verify/_verify.jsonl"))
        .send()
        .await
        .expect("the report")
        .body
        .collect()
        .await
        .expect("read")
        .into_bytes();
    let kinds: Vec<String> = String::from_utf8_lossy(&written)
        .lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).expect("json");
            row["kind"].as_str().expect("kind").to_string()
        })
        .collect();
    // The extra keys' step runs first.
    assert_eq!(kinds, ["extra", "missing"]);
}

/// The CRC32 of `data` as S3's headers write it.
fn crc32(data: &[u8]) -> String {
    use campanile::checksum::Algorithm;
    campanile::checksum::encode(&Algorithm::Crc32.digest(data))
}

/// Garage (which stores full-object CRC32 checksums of multipart objects): a 2-part
/// source with a full-object CRC32 and a copy made of one PUT with the bytes' CRC32
/// have ETags of other shapes, but the same checksum proves them identical; a copy of
/// the same size with other bytes is `changed` by it.
#[tokio::test(flavor = "multi_thread")]
async fn a_common_full_object_checksum_proves_what_the_etags_cannot() {
    use aws_sdk_s3::types::{
        ChecksumAlgorithm, ChecksumType, CompletedMultipartUpload, CompletedPart,
    };
    let server = campanile_testkit::s3();
    let (client, src, dst) = fresh_buckets(server, "verify-crc").await;
    let work = tempfile::tempdir().expect("work dir");
    let data = fixtures::fixture_bytes("sums", BIG);
    let parts = [&data[..5 << 20], &data[5 << 20..]];
    for key in ["same", "other"] {
        let created = client
            .create_multipart_upload()
            .bucket(&src)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await
            .expect("create upload");
        let upload_id = created.upload_id().expect("upload id");
        let mut completed = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            let number = i32::try_from(index + 1).expect("part number");
            let done = client
                .upload_part()
                .bucket(&src)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_crc32(crc32(part))
                .body(ByteStream::from(part.to_vec()))
                .send()
                .await
                .expect("upload part");
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(done.e_tag().expect("part ETag"))
                    .checksum_crc32(crc32(part))
                    .build(),
            );
        }
        client
            .complete_multipart_upload()
            .bucket(&src)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(completed))
                    .build(),
            )
            .checksum_type(ChecksumType::FullObject)
            .checksum_crc32(crc32(&data))
            .send()
            .await
            .expect("complete upload");
    }
    // The copies: one PUT each, with the CRC32 of the bytes (the same for `same`).
    let mut other = data.clone();
    other[0] ^= 1;
    for (key, bytes) in [("same", data.clone()), ("other", other)] {
        client
            .put_object()
            .bucket(&dst)
            .key(key)
            .checksum_crc32(crc32(&bytes))
            .body(ByteStream::from(bytes))
            .customize()
            .mutate_request(|request| {
                request.headers_mut().remove("content-type");
            })
            .send()
            .await
            .expect("put");
    }
    let (source, target) = (format!("s3://{src}"), format!("s3://{dst}"));
    let ran = campanile_at(server, work.path(), "verify", &[&source, &target]);
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    let summary = verify_line(&ran);
    assert_eq!(summary["identical"], 1, "{summary}");
    assert_eq!(summary["proven_by_checksum"], 1, "{summary}");
    let rows = report_rows(&summary);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["other"]);
    let other = &rows["other"];
    assert_eq!(other["kind"], "changed");
    assert!(
        other["reason"]
            .as_str()
            .expect("reason")
            .contains("CRC32 FULL_OBJECT checksum differs"),
        "{other}"
    );
}

/// objectverify `--extra` as a pipeline stage: the diff rows whose source ETag is `-`
/// become `extra` rows (no request), in the destination's key space; the others are
/// the comparison step's; a row without the field is an input error naming its line.
#[tokio::test(flavor = "multi_thread")]
async fn objectverify_extra_reads_the_swapped_diff() {
    let server = campanile_testkit::s3();
    let (_client, src, dst) = fresh_buckets(server, "verify-task").await;
    let mut args = src_dst_args(server, &src, &dst);
    args.extend(
        [
            "--src-prefix",
            "logs/",
            "--dst-prefix",
            "mirror/",
            "--extra",
        ]
        .map(String::from),
    );
    let etag = "5b19f22219f806ac76668afa30063916";
    let rows = format!(
        "logs/x\t{etag}\t3\t2026-11-25 04:03:18\t-\nlogs/y\t{etag}\t3\t2026-11-25 04:03:18\t82f06cf999000ddd187a73ed924d3301\n"
    );
    let ran = stage(OBJECTVERIFY, &args, &rows, server);
    let lines = ran.lines();
    assert_eq!(lines.len(), 1, "{}", ran.stdout);
    let row: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON row");
    assert_eq!(row["kind"], "extra");
    assert_eq!(row["key"], "logs/x");
    assert_eq!(row["dst_key"], "mirror/x");
    assert_eq!(row["dst"]["etag"], etag);
    assert_eq!(ran.counter("Verify", "Extra"), 1);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bad = run(
        OBJECTVERIFY,
        &args,
        &format!("logs/x\t{etag}\t3\t2026-11-25 04:03:18\n"),
        server,
        &[],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("line 1") && bad.stderr.contains("srcEtag"),
        "{}",
        bad.stderr
    );
}

#[test]
fn verify_help_names_its_report_its_exit_status_and_its_own_flag() {
    let help = std::process::Command::new(CAMPANILE)
        .args(["verify", "--help"])
        .output()
        .expect("campanile verify --help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for needed in [
        "Usage: campanile verify",
        "--no-extra",
        "_verify.jsonl",
        "Exit status: 0 identical, 3 the report has rows",
        "--input-report",
    ] {
        assert!(text.contains(needed), "no {needed:?} in:\n{text}");
    }
    // Sync's examples are not verify's.
    assert!(!text.contains("the article's form"), "{text}");
}
